"""xrfast rebuilds exactly the traces the real AWS X-Ray SDK for Python sent.

The input is `tests/fixtures/sdk/` (captured by `tests/fixtures/make_sdk_fixtures.py`; the
fixtures themselves are checked by `test_sdk_fixtures_raw.py`). The expected result comes from
`truth.json`, recorded from the SDK's objects, and from the assembly rules in `docs/assembly.md`:
one document per real segment plus one inferred segment per `aws`/`remote` subsegment that no real
segment names as its parent, each subsegment nested under the entity the SDK added it to.

Each entity is sent exactly once, so the rebuilt traces must not depend on arrival order: every
input path is also fed the datagrams shuffled and reversed.
"""

from __future__ import annotations

import functools
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from botocore_shapes import assert_valid_batch_get_traces

import xrfast

FIXTURES = Path(__file__).parent / "fixtures" / "sdk"
SHUFFLE_SEED = 20160412  # any fixed seed: the order must not matter
INFERRED_NAMESPACES = ("aws", "remote")


@functools.cache
def datagrams() -> tuple[str, ...]:
    return tuple(json.loads((FIXTURES / "datagrams.json").read_text()))


@functools.cache
def truth() -> dict:
    return json.loads((FIXTURES / "truth.json").read_text())["traces"]


def ordered(order: str) -> list[str]:
    items = list(datagrams())
    if order == "shuffled":
        random.Random(SHUFFLE_SEED).shuffle(items)
    elif order == "reversed":
        items.reverse()
    return items


def parse_ndjson(items: list[str]) -> xrfast.TraceSet:
    # Daemon header lines interleaved with document lines, detected by format="auto".
    return xrfast.parse("".join(item + "\n" for item in items).encode())


def parse_datagram_list(items: list[str]) -> xrfast.TraceSet:
    return xrfast.parse(items, format="datagram")


def assemble_one_by_one(items: list[str]) -> xrfast.TraceSet:
    assembler = xrfast.TraceAssembler(idle_timeout=5.0, incomplete_timeout=60.0)
    for item in items:
        assembler.add(item, now=1000.0, format="datagram")
    # Every trace is complete, so each is emitted once idle_timeout has passed, and not before.
    assert len(assembler.pop_complete(now=1001.0)) == 0
    traces = assembler.pop_complete(now=1010.0)
    assert len(assembler.flush()) == 0
    expected_stats = {
        "documents_received": len(items),
        "documents_accepted": len(items),
        "documents_rejected": 0,
        "documents_dropped": 0,
        "traces_evicted": 0,
        "traces_emitted": len(truth()),
        "open_traces": 0,
    }
    assert {key: assembler.stats[key] for key in expected_stats} == expected_stats
    return traces


INPUT_PATHS = {
    "ndjson": parse_ndjson,
    "datagram-list": parse_datagram_list,
    "assembler": assemble_one_by_one,
}
ORDERS = ("received", "shuffled", "reversed")


def by_id(traces: xrfast.TraceSet) -> dict[str, xrfast.Trace]:
    result = {trace.id: trace for trace in traces}
    assert len(result) == len(traces), "one trace per trace id"
    return result


def nested_subsegments(segment: dict) -> list[tuple[str, str, str]]:
    """(id, name, id of the containing entity) for every subsegment nested in `segment`."""
    found = []

    def visit(entity: dict) -> None:
        for child in entity.get("subsegments", []):
            found.append((child["id"], child["name"], entity["id"]))
            visit(child)

    visit(segment)
    return found


def check_trace_against_truth(trace: xrfast.Trace, expected: dict) -> None:
    segments = trace.segments
    real = [s for s in segments if not s.get("inferred")]
    inferred = [s for s in segments if s.get("inferred")]

    # The real segments, with their own parent ids (a downstream segment names its caller).
    assert {s["id"]: (s["name"], s.get("parent_id")) for s in real} == {
        s["id"]: (s["name"], s["parent_id"]) for s in expected["segments"]
    }

    # Every subsegment nested exactly once, under the entity the SDK added it to.
    rebuilt = [sub for s in real for sub in nested_subsegments(s)]
    assert Counter(sub_id for sub_id, _, _ in rebuilt) == Counter(
        s["id"] for s in expected["subsegments"]
    )
    assert {sub_id: (name, parent) for sub_id, name, parent in rebuilt} == {
        s["id"]: (s["name"], s["parent"]) for s in expected["subsegments"]
    }

    # One inferred segment per aws/remote subsegment without a real downstream segment.
    called_by_real_segment = {s["parent_id"] for s in expected["segments"]}
    assert {s["parent_id"]: s["name"] for s in inferred} == {
        s["id"]: s["name"]
        for s in expected["subsegments"]
        if s["namespace"] in INFERRED_NAMESPACES and s["id"] not in called_by_real_segment
    }
    for segment in inferred:
        assert segment["inferred"] is True
        assert segment["trace_id"] == trace.id
        assert "subsegments" not in segment
    assert len({s["id"] for s in segments}) == len(segments)

    # The front door is the root; the SDK closed everything, so nothing is partial.
    (front,) = [s for s in expected["segments"] if s["parent_id"] is None]
    assert trace.root is not None
    assert (trace.root["id"], trace.root["name"]) == (front["id"], "checkout-api")
    assert trace.is_partial is False
    assert trace.limit_exceeded is False

    assert [(s["start_time"], s["id"]) for s in segments] == sorted(
        (s["start_time"], s["id"]) for s in segments
    )
    assert trace.duration == pytest.approx(
        max(s["end_time"] for s in segments) - min(s["start_time"] for s in segments)
    )


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("path", INPUT_PATHS)
def test_engine_rebuilds_the_traces_the_sdk_sent(path, order):
    traces = by_id(INPUT_PATHS[path](ordered(order)))
    assert set(traces) == set(truth())
    for trace_id, expected in truth().items():
        check_trace_against_truth(traces[trace_id], expected)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("path", INPUT_PATHS)
def test_result_does_not_depend_on_arrival_order_or_input_path(path, order):
    reference = by_id(parse_ndjson(ordered("received")))
    traces = by_id(INPUT_PATHS[path](ordered(order)))
    assert {i: t.to_dict() for i, t in traces.items()} == {
        i: t.to_dict() for i, t in reference.items()
    }


def test_batch_get_traces_shape_matches_the_segments():
    for trace in parse_ndjson(ordered("received")):
        as_dict = trace.to_dict()
        assert json.loads(trace.to_json()) == as_dict
        assert (as_dict["Id"], as_dict["Duration"], as_dict["LimitExceeded"]) == (
            trace.id,
            trace.duration,
            trace.limit_exceeded,
        )
        documents = [json.loads(segment["Document"]) for segment in as_dict["Segments"]]
        assert documents == trace.segments
        assert [segment["Id"] for segment in as_dict["Segments"]] == [d["id"] for d in documents]
        assert {d["trace_id"] for d in documents} == {trace.id}


def test_batch_get_traces_shape_validates_against_botocore_model():
    assert_valid_batch_get_traces([trace.to_dict() for trace in parse_ndjson(ordered("received"))])
