"""The SDK fixtures are what they claim to be (pure Python; does not import xrfast).

`tests/fixtures/sdk/` holds datagrams captured from the real AWS X-Ray SDK for Python and a ground
truth recorded from the SDK's objects (see `tests/fixtures/make_sdk_fixtures.py`). These tests
check the datagrams against that truth using only the wire format, so that a failure of the engine
test (`test_sdk_fixtures.py`) can be blamed on the engine, not on the fixtures.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "sdk"

# The exact header the Python SDK writes (spec §2.2); other SDKs put spaces in it.
PYTHON_SDK_HEADER = '{"format":"json","version":1}'

# The capture has 192 streamed subsegments out of 240 datagrams; far fewer would mean the SDK did
# not stream (streaming_threshold not applied).
MIN_STREAMED_SUBSEGMENTS = 100

HEX16 = re.compile(r"[0-9a-f]{16}")


@functools.cache
def datagrams() -> list[str]:
    return json.loads((FIXTURES / "datagrams.json").read_text())


@functools.cache
def documents() -> list[dict]:
    return [json.loads(datagram.split("\n", 1)[1]) for datagram in datagrams()]


@functools.cache
def truth() -> dict:
    return json.loads((FIXTURES / "truth.json").read_text())["traces"]


def flatten(document: dict, index: int) -> list[dict]:
    """Every entity of the datagram at `index` (receive order), with the parent the wire gives it.

    A nested subsegment's parent is the object containing it; a top-level object's parent is its
    own `parent_id` (None for a segment without one).
    """
    entities = []

    def visit(entity: dict, parent: str | None) -> None:
        entities.append(
            {
                "entity": entity,
                "parent": parent,
                "top_level": entity is document,
                "trace_id": document["trace_id"],
                "datagram": index,
            }
        )
        for child in entity.get("subsegments", []):
            visit(child, entity["id"])

    visit(document, document.get("parent_id"))
    return entities


@functools.cache
def wire_entities() -> list[dict]:
    return [e for index, doc in enumerate(documents()) for e in flatten(doc, index)]


def wire_by_id() -> dict[str, dict]:
    return {e["entity"]["id"]: e for e in wire_entities()}


def truth_subsegment_ids() -> set[str]:
    return {sub["id"] for trace in truth().values() for sub in trace["subsegments"]}


def test_every_datagram_is_a_python_sdk_header_and_one_json_object():
    for datagram in datagrams():
        header, body = datagram.split("\n", 1)
        assert header == PYTHON_SDK_HEADER
        assert json.loads(header) == {"format": "json", "version": 1}
        assert isinstance(json.loads(body), dict)
        assert "\n" not in body  # one document per datagram, on one line


def test_stream_ndjson_is_the_datagrams_in_receive_order():
    stream = (FIXTURES / "stream.ndjson").read_text()
    assert stream == "".join(datagram + "\n" for datagram in datagrams())


def test_subsegments_were_streamed():
    streamed = [doc for doc in documents() if doc.get("type") == "subsegment"]
    assert len(streamed) >= MIN_STREAMED_SUBSEGMENTS
    for doc in streamed:
        assert HEX16.fullmatch(doc["parent_id"])
        assert doc["trace_id"] in truth()


def test_some_streamed_subsegment_is_the_child_of_a_still_open_subsegment():
    # The parent is a subsegment whose own datagram comes later, i.e. it was still open when the
    # SDK streamed the child (spec §2.3).
    by_id = wire_by_id()
    subsegment_ids = truth_subsegment_ids()
    children_of_open_subsegments = [
        (index, doc)
        for index, doc in enumerate(documents())
        if doc.get("type") == "subsegment"
        and doc["parent_id"] in subsegment_ids
        and by_id[doc["parent_id"]]["datagram"] > index
    ]
    assert children_of_open_subsegments


def test_some_subsegments_still_arrive_nested():
    nested = [e for e in wire_entities() if not e["top_level"]]
    assert any(e["parent"] in truth_subsegment_ids() for e in nested)  # nested two levels deep
    assert any(doc.get("subsegments") and "type" not in doc for doc in documents())  # in a segment


def test_every_truth_entity_is_sent_exactly_once():
    sent = Counter(e["entity"]["id"] for e in wire_entities())
    expected = Counter(
        entity["id"]
        for trace in truth().values()
        for entity in trace["segments"] + trace["subsegments"]
    )
    assert sent == expected
    assert set(sent.values()) == {1}


def test_parent_relations_on_the_wire_equal_the_truth():
    wire_segments, wire_subsegments = {}, {}
    for e in wire_entities():
        entity = e["entity"]
        if e["top_level"] and "type" not in entity:  # a segment, not a streamed subsegment
            wire_segments[entity["id"]] = (e["trace_id"], entity["name"], e["parent"])
        else:
            wire_subsegments[entity["id"]] = (
                e["trace_id"],
                entity["name"],
                e["parent"],
                entity["namespace"],
            )

    truth_segments = {
        seg["id"]: (trace_id, seg["name"], seg["parent_id"])
        for trace_id, trace in truth().items()
        for seg in trace["segments"]
    }
    truth_subsegments = {
        sub["id"]: (trace_id, sub["name"], sub["parent"], sub["namespace"])
        for trace_id, trace in truth().items()
        for sub in trace["subsegments"]
    }
    assert wire_segments == truth_segments
    assert wire_subsegments == truth_subsegments


def test_each_trace_is_a_chain_of_three_services_called_through_subsegments():
    for trace in truth().values():
        subsegments = {sub["id"]: sub for sub in trace["subsegments"]}
        roots = [seg for seg in trace["segments"] if seg["parent_id"] is None]
        assert [seg["name"] for seg in roots] == ["checkout-api"]
        downstream = [seg for seg in trace["segments"] if seg["parent_id"] is not None]
        assert sorted(seg["name"] for seg in downstream) == ["inventory-service", "order-service"]
        for seg in downstream:
            caller = subsegments[seg["parent_id"]]  # propagated via X-Amzn-Trace-Id Parent=
            assert (caller["name"], caller["namespace"]) == (seg["name"], "remote")


def test_custom_subsegments_nest_four_levels_deep():
    def depth(entity_id: str, parents: dict[str, str]) -> int:
        return 1 + depth(parents[entity_id], parents) if entity_id in parents else 0

    for trace in truth().values():
        parents = {sub["id"]: sub["parent"] for sub in trace["subsegments"]}
        assert max(depth(sub_id, parents) for sub_id in parents) == 4


def test_every_entity_is_closed():
    for e in wire_entities():
        entity = e["entity"]
        assert entity["in_progress"] is False  # the Python SDK writes the flag on complete ones
        assert entity["end_time"] >= entity["start_time"]


def test_cause_strings_refer_to_an_exception_recorded_elsewhere_in_the_trace():
    exception_owner = {}  # exception id -> (trace id, id of the entity holding the full record)
    for e in wire_entities():
        cause = e["entity"].get("cause")
        if isinstance(cause, dict):
            for exception in cause["exceptions"]:
                exception_owner[exception["id"]] = (e["trace_id"], e["entity"]["id"])

    back_references = [e for e in wire_entities() if isinstance(e["entity"].get("cause"), str)]
    assert back_references
    for e in back_references:
        trace_id, owner = exception_owner[e["entity"]["cause"]]
        assert trace_id == e["trace_id"]
        assert owner != e["entity"]["id"]
        assert e["entity"]["fault"] is True
    # A segment points at an exception that travelled in another datagram.
    by_id = wire_by_id()
    assert any(
        "type" not in e["entity"]
        and by_id[exception_owner[e["entity"]["cause"]][1]]["datagram"] != e["datagram"]
        for e in back_references
    )


def test_errors_throttles_faults_aws_and_remote_calls_are_all_present():
    entities = [e["entity"] for e in wire_entities()]

    def status(entity: dict) -> int | None:
        return entity.get("http", {}).get("response", {}).get("status")

    throttled = [x for x in entities if status(x) == 429]
    assert throttled
    assert all(x["throttle"] is True and x["error"] is True for x in throttled)
    faults = [x for x in entities if x.get("fault")]
    assert any(status(x) == 500 for x in faults)
    assert any(isinstance(x.get("cause"), dict) for x in faults)

    aws_calls = [x for x in entities if x.get("namespace") == "aws"]
    operations = {x["aws"]["operation"] for x in aws_calls}
    assert operations >= {"PutItem", "UpdateItem", "Publish", "SendMessage"}
    assert any(x["aws"].get("table_name") == "orders" for x in aws_calls)
    assert any("queue_url" in x["aws"] for x in aws_calls)

    remote_calls = [x for x in entities if x.get("namespace") == "remote"]
    assert any(x["name"] == "api.stripe.com" and "http" in x for x in remote_calls)
    assert any("sql" in x for x in remote_calls)


def test_datagrams_of_different_traces_interleave():
    trace_ids = [doc["trace_id"] for doc in documents()]
    first = {t: trace_ids.index(t) for t in set(trace_ids)}
    last = {t: len(trace_ids) - 1 - trace_ids[::-1].index(t) for t in set(trace_ids)}
    interleaved = [
        t for t in first if any(other != t for other in trace_ids[first[t] : last[t] + 1])
    ]
    assert len(interleaved) >= 2
