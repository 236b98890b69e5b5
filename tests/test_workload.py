"""Tests of the benchmark workload generator (xrfast.bench.workload)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from xrfast.bench import workload

WorkloadConfig = workload.WorkloadConfig

ID_RE = re.compile(r"[0-9a-f]{16}")
TRACE_ID_RE = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
SMALL = WorkloadConfig(traces=40, concurrency=8, seed=7)


def parsed(docs: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(doc) for doc in docs]


def walk(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The object and every nested subsegment, pre-order."""
    yield obj
    for child in obj.get("subsegments", ()):
        yield from walk(child)


@pytest.fixture(scope="module")
def small_docs() -> list[bytes]:
    docs: list[bytes] = workload.generate(SMALL)
    return docs


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(small_docs: list[bytes]) -> None:
    assert workload.generate(SMALL) == small_docs


def test_different_seed_gives_different_documents(small_docs: list[bytes]) -> None:
    other = workload.generate(WorkloadConfig(traces=40, concurrency=8, seed=8))
    assert other != small_docs
    assert not set(other) & set(small_docs)


def test_generate_has_no_global_state(small_docs: list[bytes]) -> None:
    import random

    random.seed(12345)
    workload.generate(WorkloadConfig(traces=5, seed=1))
    assert workload.generate(SMALL) == small_docs


# -- shape of the documents --------------------------------------------------------------------


def test_documents_are_compact_valid_json_with_required_fields(small_docs: list[bytes]) -> None:
    assert small_docs
    for doc in small_docs:
        assert b"\n" not in doc
        value = json.loads(doc)  # the stdlib agrees it is JSON
        assert orjson.dumps(value) == doc  # compact, as orjson writes it
        assert isinstance(value, dict)
        assert TRACE_ID_RE.fullmatch(value["trace_id"])
        for obj in walk(value):
            assert ID_RE.fullmatch(obj["id"])
            assert isinstance(obj["name"], str) and obj["name"]
            assert isinstance(obj["start_time"], float)
            if obj.get("in_progress") is True:
                assert "end_time" not in obj
            else:
                assert obj["end_time"] >= obj["start_time"]
            if obj is not value:
                assert obj["type"] == "subsegment"  # the SDK leaves these on nested ones
                assert obj["trace_id"] == value["trace_id"]
        if value.get("type") == "subsegment":
            assert ID_RE.fullmatch(value["parent_id"])


def test_trace_ids_encode_the_request_second() -> None:
    config = WorkloadConfig(traces=10, epoch=1_600_000_000.0)
    for value in parsed(workload.generate(config)):
        epoch = int(value["trace_id"][2:10], 16)
        assert epoch <= value["start_time"] < epoch + 60


def test_topology_and_sdk_fields(small_docs: list[bytes]) -> None:
    segments = {}
    subsegments = {}
    for value in parsed(small_docs):
        for obj in walk(value):
            if obj is value and value.get("type") != "subsegment":
                segments[obj["id"]] = obj
            else:
                subsegments[obj["id"]] = obj
    origins = {seg["name"]: seg["origin"] for seg in segments.values()}
    assert origins == {
        "api-gateway": "AWS::ApiGateway::Stage",
        "order-service": "AWS::Lambda::Function",
        "inventory-service": "AWS::ECS::Fargate",
        "notification-service": "AWS::Lambda::Function",
    }
    for seg in segments.values():
        if seg["name"] == "api-gateway":
            assert "parent_id" not in seg
            continue
        parent = subsegments[seg["parent_id"]]  # every downstream segment's caller is a subsegment
        expected = {
            "order-service": "Lambda",
            "inventory-service": "inventory-service",
            "notification-service": "SNS",
        }[seg["name"]]
        assert parent["name"] == expected
        if seg.get("in_progress") is not True:
            assert seg["aws"]["xray"] == {"sdk": "X-Ray for Python", "sdk_version": "2.15.0"}
            assert seg["service"]["runtime"] == "CPython"
            assert seg["in_progress"] is False
    names = Counter(sub["name"] for sub in subsegments.values())
    for name in ("api.stripe.com", "orders-db", "DynamoDB", "SNS", "SES", "process_payment"):
        assert names[name] > 0, name
    for sub in subsegments.values():
        if sub["name"] == "orders-db":
            assert sub["namespace"] == "remote" and sub["sql"]["database_type"] == "PostgreSQL"
        elif sub["name"] == "DynamoDB":
            assert sub["aws"]["operation"] == "UpdateItem" and sub["aws"]["table_name"]
        elif sub["name"] == "SNS":
            assert sub["aws"]["operation"] == "Publish" and sub["aws"]["topic_arn"]
        elif sub["name"] == "inventory-service":
            assert sub["http"]["request"]["traced"] is True
    annotations = [
        seg["annotations"] for seg in segments.values() if seg["name"] == "order-service"
    ]
    assert {"order_id", "customer_tier", "customer_id"} <= set(annotations[0])


def test_errors_carry_causes_and_back_references() -> None:
    config = WorkloadConfig(traces=30, fault_rate=0.5, error_rate=0.3, throttle_rate=0.2, seed=3)
    flags: Counter[str] = Counter()
    cause_ids = set()
    back_references = []
    for value in parsed(workload.generate(config)):
        for obj in walk(value):
            for flag in ("fault", "error", "throttle"):
                flags[flag] += obj.get(flag) is True
            cause = obj.get("cause")
            if isinstance(cause, dict):
                for exception in cause["exceptions"]:
                    assert ID_RE.fullmatch(exception["id"])
                    assert exception["stack"] and {"path", "line", "label"} <= set(
                        exception["stack"][0]
                    )
                    cause_ids.add(exception["id"])
            elif isinstance(cause, str):
                back_references.append(cause)
    assert flags["fault"] and flags["error"] and flags["throttle"]
    assert back_references
    assert set(back_references) <= cause_ids


def test_annotation_cardinality_bounds_users() -> None:
    config = WorkloadConfig(traces=200, annotation_cardinality=5, seed=11)
    users = {v["user"] for v in parsed(workload.generate(config)) if "user" in v}
    assert 1 < len(users) <= 5


# -- sizes -------------------------------------------------------------------------------------


def payload_sizes(values: list[dict[str, Any]]) -> list[int]:
    return [
        len(v["metadata"]["default"]["payload"])
        for v in values
        if v.get("type") != "subsegment" and v.get("in_progress") is not True
    ]


def test_default_document_sizes() -> None:
    docs = workload.generate(WorkloadConfig(traces=150, seed=5))
    sizes = [len(doc) for doc in docs]
    assert 200 <= min(sizes) and max(sizes) <= 8 * 1024
    padding = payload_sizes(parsed(docs))
    assert padding and all(0 <= size <= 2000 for size in padding)
    assert max(padding) > 1500  # the whole range is used


def test_payload_range_is_respected() -> None:
    docs = workload.generate(WorkloadConfig(traces=20, payload_bytes=(3000, 3100), seed=5))
    padding = payload_sizes(parsed(docs))
    assert padding and all(3000 <= size <= 3100 for size in padding)


def test_huge_payloads_are_cut_to_the_document_limit() -> None:
    docs = workload.generate(WorkloadConfig(traces=5, payload_bytes=(65_536, 65_536), seed=5))
    assert max(len(doc) for doc in docs) == workload.MAX_DOCUMENT_BYTES
    padding = payload_sizes(parsed(docs))
    assert all(60_000 < size < 65_536 for size in padding)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"traces": -1},
        {"concurrency": 0},
        {"fault_rate": 1.5},
        {"fault_rate": 0.6, "error_rate": 0.6},
        {"payload_bytes": (10, 5)},
        {"payload_bytes": (0, 70_000)},
        {"annotation_cardinality": 0},
    ],
)
def test_bad_configs_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WorkloadConfig(**kwargs)


# -- streaming, in-progress, duplicates, interleaving ------------------------------------------


def test_subsegments_are_streamed(small_docs: list[bytes]) -> None:
    values = parsed(small_docs)
    independent = [v for v in values if v.get("type") == "subsegment"]
    assert independent
    subsegment_ids = {
        obj["id"]
        for v in values
        for obj in walk(v)
        if obj is not v or v.get("type") == "subsegment"
    }
    under_subsegment = [v for v in independent if v["parent_id"] in subsegment_ids]
    assert under_subsegment
    # Streamed while the parent was open: the parent is sent later (on its own or nested).
    sent_at: dict[str, int] = {}
    for index, v in enumerate(values):
        for obj in walk(v):
            sent_at.setdefault(obj["id"], index)
    assert any(sent_at[v["parent_id"]] > sent_at[v["id"]] for v in under_subsegment)


def test_no_streaming_below_the_threshold() -> None:
    config = WorkloadConfig(traces=20, stream_threshold=10_000, seed=2)
    assert not [v for v in parsed(workload.generate(config)) if v.get("type") == "subsegment"]


def test_no_subsegment_is_sent_twice_by_streaming(small_docs: list[bytes]) -> None:
    ids = Counter(
        obj["id"] for v in parsed(small_docs) if v.get("in_progress") is not True for obj in walk(v)
    )
    assert max(ids.values()) == 1


def test_in_progress_documents_are_completed_later() -> None:
    docs = parsed(workload.generate(WorkloadConfig(traces=30, in_progress_rate=0.5, seed=4)))
    pending: dict[str, int] = {}
    completed_after = 0
    for index, v in enumerate(docs):
        if v.get("in_progress") is True:
            assert "subsegments" not in v and v.get("type") != "subsegment"
            pending[v["id"]] = index
        elif v["id"] in pending:
            assert pending.pop(v["id"]) < index
            completed_after += 1
    assert completed_after > 10
    assert not pending


def test_no_in_progress_documents_when_disabled() -> None:
    docs = parsed(workload.generate(WorkloadConfig(traces=30, in_progress_rate=0.0, seed=4)))
    assert not [v for v in docs if v.get("in_progress") is True]


def test_duplicates_resend_complete_documents() -> None:
    docs = workload.generate(WorkloadConfig(traces=20, duplicate_rate=0.3, seed=4))
    repeated = [doc for doc, count in Counter(docs).items() if count > 1]
    assert repeated
    assert all(orjson.loads(doc).get("in_progress") is not True for doc in repeated)
    assert not [c for c in Counter(workload.generate(SMALL)).values() if c > 1]


def open_traces(values: list[dict[str, Any]]) -> int:
    """The largest number of traces with documents both before and after one point."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for index, v in enumerate(values):
        first.setdefault(v["trace_id"], index)
        last[v["trace_id"]] = index
    events = sorted([(i, 1) for i in first.values()] + [(i, -1) for i in last.values()])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def test_concurrency_interleaves_traces() -> None:
    busy = parsed(workload.generate(WorkloadConfig(traces=60, concurrency=20, seed=9)))
    assert 10 <= open_traces(busy) <= 30
    serial = parsed(workload.generate(WorkloadConfig(traces=20, concurrency=1, seed=9)))
    assert open_traces(serial) == 1
    order = [v["trace_id"] for v in serial]
    assert len({tid for i, tid in enumerate(order) if i == 0 or order[i - 1] != tid}) == 20


def test_vanished_orders_stop_after_payment() -> None:
    values = parsed(
        workload.generate(
            WorkloadConfig(
                traces=10,
                vanish_rate=1.0,
                fault_rate=0.0,
                error_rate=0.0,
                throttle_rate=0.0,
                seed=1,
            )
        )
    )
    names = {v["name"] for v in values if v.get("type") != "subsegment"}
    assert names == {"api-gateway", "order-service"}
    calls = [o for v in values for o in walk(v) if o["name"] == "inventory-service"]
    assert len(calls) == 10 and all(c["http"]["request"]["traced"] for c in calls)


def test_zero_traces() -> None:
    assert workload.generate(WorkloadConfig(traces=0)) == []


# -- output formats ----------------------------------------------------------------------------


def test_ndjson_round_trips(small_docs: list[bytes]) -> None:
    body = workload.to_ndjson(small_docs)
    assert body.endswith(b"\n")
    assert body.split(b"\n")[:-1] == small_docs


def test_ndjson_with_daemon_headers_round_trips(small_docs: list[bytes]) -> None:
    lines = workload.to_ndjson(small_docs, daemon_headers=True).split(b"\n")[:-1]
    assert lines[0::2] == [workload.DAEMON_HEADER] * len(small_docs)
    assert lines[1::2] == small_docs
    assert json.loads(lines[0]) == {"format": "json", "version": 1}


def test_datagrams_round_trip(small_docs: list[bytes]) -> None:
    datagrams = workload.to_datagrams(small_docs)
    assert len(datagrams) == len(small_docs)
    for datagram, doc in zip(datagrams, small_docs):
        header, body = datagram.split(b"\n", 1)  # what the daemon does (spec §2.2)
        assert header == b'{"format":"json","version":1}'
        assert body == doc


def test_put_trace_segments_round_trips(small_docs: list[bytes]) -> None:
    body = json.loads(workload.to_put_trace_segments(small_docs))
    assert list(body) == ["TraceSegmentDocuments"]
    assert [doc.encode() for doc in body["TraceSegmentDocuments"]] == small_docs


def test_batch_get_traces_round_trips(small_docs: list[bytes]) -> None:
    body = json.loads(workload.to_batch_get_traces(small_docs))
    traces = body["Traces"]
    assert [t["Id"] for t in traces] == sorted({orjson.loads(d)["trace_id"] for d in small_docs})
    regrouped = []
    for trace in traces:
        assert set(trace) == {"Id", "Duration", "LimitExceeded", "Segments"}
        assert trace["LimitExceeded"] is False
        assert 0.1 < trace["Duration"] < 5.0
        for segment in trace["Segments"]:
            document = orjson.loads(segment["Document"])
            assert document["trace_id"] == trace["Id"]
            assert segment["Id"] == document["id"]
            regrouped.append(segment["Document"].encode())
    assert Counter(regrouped) == Counter(small_docs)
    # Send order is kept within a trace.
    first = traces[0]
    own = [d for d in small_docs if orjson.loads(d)["trace_id"] == first["Id"]]
    assert [s["Document"].encode() for s in first["Segments"]] == own
