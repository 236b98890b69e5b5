"""`TraceSet.paths()` and `paths_json()`: traces grouped by the path they took, per entry point.

The engine is checked against the pure-Python oracle (`xrfast.bench.paths_reference`, fed by the
pure-Python assembler) on generated checkout workloads and random trace shapes, and against the
workload's ground truth: the orders that vanished after payment are exactly the traces of the
silent paths.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import DOCUMENTS
from test_summary import call_trees, with_summary_members

import xrfast
from xrfast.bench import paths_reference, reference, workload

#: More than any workload here has traces: every trace id is listed.
ALL = 100_000


def oracle(docs: list[bytes], **options: Any) -> dict[str, Any]:
    traces = reference.assemble(docs)
    return paths_reference.paths(
        ((trace, reference.trace_info(trace)["root"]) for trace in traces), **options
    )


WORKLOADS = [
    {"traces": 400, "seed": 1, "vanish_rate": 0.03},
    {"traces": 300, "seed": 7, "vanish_rate": 0.1, "fault_rate": 0.1, "error_rate": 0.1},
    {"traces": 200, "seed": 3, "vanish_rate": 0.05, "in_progress_rate": 0.5, "duplicate_rate": 0.2},
    {"traces": 150, "seed": 9, "vanish_rate": 0.2, "stream_threshold": 0, "concurrency": 5},
]


@pytest.mark.parametrize("config", WORKLOADS, ids=lambda c: f"seed{c['seed']}")
def test_workloads_match_the_reference_and_the_vanished_orders_are_found_exactly(
    config: dict[str, Any],
) -> None:
    docs, truth = workload.generate_with_truth(
        workload.WorkloadConfig(payload_bytes=(0, 50), **config)
    )
    engine = xrfast.parse(workload.to_ndjson(docs))
    got = engine.paths(examples=ALL)
    assert got == oracle(docs, examples=ALL)
    assert truth.vanished, "the workload should make some orders vanish"

    (entry,) = got["EntryPoints"]
    assert (entry["EntryPoint"]["Name"], entry["HttpMethod"], entry["UrlPath"]) == (
        "api-gateway",
        "POST",
        "/prod/checkout",
    )
    usual = entry["Paths"][0]
    assert usual["Kind"] == "usual" and usual["Missing"] == [] and not usual["Silent"]
    silent = [path for path in entry["Paths"] if path["Silent"]]
    found = sorted(trace_id for path in silent for trace_id in path["OkTraceIds"])
    assert found == sorted(truth.vanished)
    for path in silent:
        assert path["Kind"] == "truncated"
        assert path["HttpStatusClasses"] == {"2xx": path["Count"]}
        assert [s["Name"] for s in path["Missing"]] == [
            "inventory-service",
            "notification-service",
            "inventory",
            "orders-db",
            "SES",
        ]
        assert [(e["Caller"]["Name"], e["Callee"]["Name"], e["Callee"]["Type"]) for e in
                path["Unreported"]] == [("order-service", "inventory-service", "remote")]  # fmt: skip
    # Every trace is in exactly one path, with the status the gateway answered.
    statuses: dict[str, int] = {}
    for path in entry["Paths"]:
        assert len(path["TraceIds"]) == path["Count"]
        for trace_id in path["TraceIds"]:
            statuses[trace_id] = truth.statuses[trace_id]
        classes: dict[str, int] = {}
        for trace_id in path["TraceIds"]:
            name = f"{truth.statuses[trace_id] // 100}xx"
            classes[name] = classes.get(name, 0) + 1
        assert path["HttpStatusClasses"] == classes
    assert statuses == truth.statuses


def test_paths_do_not_depend_on_arrival_order_and_json_agrees() -> None:
    config = workload.WorkloadConfig(traces=200, seed=5, vanish_rate=0.05, payload_bytes=(0, 0))
    docs = workload.generate(config)
    engine = xrfast.parse(workload.to_ndjson(docs))
    backwards = xrfast.parse(workload.to_ndjson(reversed(docs)))
    assert backwards.paths() == engine.paths()
    assert orjson.loads(engine.paths_json(examples=2, rare_share=0.5)) == engine.paths(
        examples=2, rare_share=0.5
    )


def test_examples_and_rare_share_options() -> None:
    config = workload.WorkloadConfig(traces=300, seed=1, vanish_rate=0.05, payload_bytes=(0, 0))
    engine = xrfast.parse(workload.to_ndjson(workload.generate(config)))
    paths = engine.paths(examples=2)["EntryPoints"][0]["Paths"]
    for path in paths:
        assert len(path["TraceIds"]) == min(2, path["Count"])
        assert path["TraceIds"] == sorted(path["TraceIds"])
    assert engine.paths(examples=0)["EntryPoints"][0]["Paths"][0]["TraceIds"] == []
    with pytest.raises(ValueError, match=r"rare_share must be within \[0, 1\], got 1.5"):
        engine.paths(rare_share=1.5)
    with pytest.raises(ValueError, match="rare_share"):
        engine.paths_json(rare_share=float("nan"))
    with pytest.raises(OverflowError):
        engine.paths(examples=-1)
    with pytest.raises(TypeError):
        engine.paths(3)  # type: ignore[misc]


def test_an_empty_set_and_traces_without_root() -> None:
    assert xrfast.parse(b"").paths() == {
        "EntryPoints": [],
        "TracesProcessedCount": 0,
        "TracesWithoutRoot": 0,
    }
    orphan = {
        "id": "0000000000000002",
        "type": "subsegment",
        "name": "x",
        "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
        "parent_id": "0000000000000009",
        "start_time": 1.0,
        "end_time": 2.0,
    }
    got = xrfast.parse(orjson.dumps(orphan)).paths()
    assert (got["TracesProcessedCount"], got["TracesWithoutRoot"], got["EntryPoints"]) == (1, 1, [])


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(DOCUMENTS.flatmap(with_summary_members), min_size=1, max_size=10))
def test_the_engine_matches_the_reference_on_random_trace_shapes(docs: list[Any]) -> None:
    raw = [orjson.dumps(doc) for doc in docs]
    engine = xrfast.parse(raw, format="document", on_error="collect")
    assert engine.errors == []
    assert engine.paths(examples=3, rare_share=0.3) == oracle(raw, examples=3, rare_share=0.3)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(call_trees(), min_size=1, max_size=4), data=st.data())
def test_the_engine_matches_the_reference_on_call_trees(docs: list[Any], data: Any) -> None:
    # Several call trees of one trace id would merge into one trace: give each its own.
    raw = []
    for n, tree in enumerate(docs):
        trace_id = f"1-5759e988-{n:024x}"
        for doc in tree:
            doc["trace_id"] = trace_id
            raw.append(orjson.dumps(doc))
    engine = xrfast.parse(raw, format="document", on_error="collect")
    assert engine.errors == []
    assert engine.paths() == oracle(raw)
    shuffled = data.draw(st.permutations(raw), label="arrival order")
    assert xrfast.parse(shuffled, format="document").paths() == engine.paths()


def test_an_analysis_reports_the_same_paths_as_its_trace_set() -> None:
    docs = workload.generate(workload.WorkloadConfig(traces=60, seed=11, vanish_rate=0.1))
    traces = xrfast.parse(workload.to_ndjson(docs))
    assert xrfast.analyze(traces).paths() == traces.paths()
    assert xrfast.analyze(traces).paths(examples=2, rare_share=0.2) == traces.paths(
        examples=2, rare_share=0.2
    )
    with pytest.raises(ValueError, match=r"paths\(\) needs the traces"):
        xrfast.analyze(traces, keep_traces=False).paths()
