"""`xrfast.analyze` and `Analysis`: X-Ray's service graph, time series and latency percentiles.

Three layers: the engine against the pure-Python oracle (`xrfast.bench.graph_reference`, fed by
the pure-Python assembler) on real SDK output and generated workloads, field for field; merge
properties (hypothesis: any split, merged in any order, equals one pass); and every response
checked against botocore's model of the operation's output.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore_shapes import assert_valid_output
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xray_documents import TRACE_ID, dumps, segment, subsegment, trace_id

import xrfast
from xrfast.bench import graph_reference, reference, workload

# --- the engine against the oracle -------------------------------------------------------------


def sdk_documents(path: Path) -> list[bytes]:
    return [
        line
        for line in path.read_bytes().splitlines()
        if line.strip() and not line.startswith(b'{"format"')
    ]


def oracle(docs: list[bytes]) -> graph_reference.ServiceGraph:
    graph = graph_reference.ServiceGraph()
    for trace in reference.assemble(docs):
        graph.add(trace, root=reference.trace_info(trace)["root"])
    return graph


def assert_engine_matches_oracle(docs: list[bytes], analysis: xrfast.Analysis) -> None:
    expected = oracle(docs)
    got = analysis.service_graph()
    assert len(got["Services"]) == len(expected.services())
    for mine, theirs in zip(got["Services"], expected.services()):
        for field in set(mine) | set(theirs):
            assert mine.get(field) == theirs.get(field), (mine["Name"], field)
    assert analysis.time_series(60) == {
        "TimeSeriesServiceStatistics": expected.time_series(60),
        "ContainsOldGroupVersions": False,
    }
    assert analysis.time_series(3600)["TimeSeriesServiceStatistics"] == expected.time_series(3600)
    assert_percentiles_match(analysis.percentiles(), expected.latencies())
    assert_valid_output("GetServiceGraph", got)
    assert_valid_output("GetTimeSeriesServiceStatistics", analysis.time_series(300))


def assert_percentiles_match(got: dict[str, Any], expected: dict[str, Any]) -> None:
    for kind in ("nodes", "edges"):
        assert len(got[kind]) == len(expected[kind]), kind
        for mine, theirs in zip(got[kind], expected[kind]):
            values = theirs.pop("values")
            for key, value in theirs.items():
                assert mine[key] == value, (kind, key)
            for q in (0.5, 0.9, 0.95, 0.99):
                p = mine[f"p{round(q * 100)}"]
                if not values:
                    assert p is None
                    continue
                exact = graph_reference.nearest_rank(values, q)
                # DDSketch: within its relative accuracy of the value at that rank.
                assert p == pytest.approx(exact, rel=0.0101, abs=1e-9), (kind, q, values)


def test_real_sdk_output_matches_the_reference(sdk_stream: Path) -> None:
    analysis = xrfast.analyze(xrfast.read(sdk_stream))
    assert_engine_matches_oracle(sdk_documents(sdk_stream), analysis)
    services = analysis.service_graph()["Services"]
    types = {s.get("Type") for s in services}
    assert {"client", "remote", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS"} <= types
    # The fixtures hold faults, throttles and errors on edges.
    edges = [e["SummaryStatistics"] for s in services for e in s["Edges"]]
    assert any(e["FaultStatistics"]["TotalCount"] for e in edges)
    assert any(e["ErrorStatistics"]["ThrottleCount"] for e in edges)


@pytest.mark.parametrize(
    "config",
    [
        {"traces": 12, "seed": 11},
        {"traces": 150, "seed": 5, "fault_rate": 0.2, "throttle_rate": 0.1, "vanish_rate": 0.1},
        {"traces": 120, "seed": 9, "in_progress_rate": 0.5, "error_rate": 0.3},
    ],
)
def test_generated_workloads_match_the_reference(config: dict[str, Any]) -> None:
    docs = workload.generate(workload.WorkloadConfig(**config))
    analysis = xrfast.analyze(workload.to_ndjson(docs))
    assert_engine_matches_oracle(docs, analysis)


# --- hand-made cases ----------------------------------------------------------------------------


def example_docs() -> list[str]:
    """The AWS example's shape: a root app calling a DynamoDB table and SNS."""
    calls = [
        subsegment(
            11, None, 10.01, 10.086, name="DynamoDB", namespace="aws", aws={"table_name": "scores"}
        ),
        subsegment(12, None, 10.1, 10.149, name="SNS", namespace="aws", error=True),
    ]
    root = segment(1, 10.0, 10.157, name="app", origin="AWS::EC2::Instance", subsegments=calls)
    other = segment(
        2, 20.0, 20.096, name="app", origin="AWS::EC2::Instance", trace=trace_id(2), fault=True
    )
    return [dumps(root), dumps(other)]


def test_service_graph_of_the_example() -> None:
    analysis = xrfast.analyze(example_docs(), format="document")
    graph = analysis.service_graph()
    assert_valid_output("GetServiceGraph", graph)
    assert graph["StartTime"] == 10.0 and graph["EndTime"] == 20.096
    assert graph["ContainsOldGroupVersions"] is False
    names = [(s["ReferenceId"], s["Name"], s.get("Type")) for s in graph["Services"]]
    assert names == [
        (0, "SNS", "AWS::SNS"),
        (1, "app", "AWS::EC2::Instance"),
        (2, "app", "client"),
        (3, "scores", "AWS::DynamoDB::Table"),
    ]
    app = graph["Services"][1]
    assert app["Root"] is True and app["State"] == "active"
    assert app["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
    assert [e["ReferenceId"] for e in app["Edges"]] == [0, 3]
    assert app["Edges"][0]["SummaryStatistics"]["ErrorStatistics"]["OtherCount"] == 1
    client = graph["Services"][2]
    assert "Root" not in client and "SummaryStatistics" not in client
    assert orjson.loads(analysis.service_graph_json()) == graph


def test_window_filters_traces_and_frames_the_graph() -> None:
    analysis = xrfast.analyze(example_docs(), format="document", start=0.0, end=15.0)
    graph = analysis.service_graph()
    assert (graph["StartTime"], graph["EndTime"]) == (0.0, 15.0)
    assert len(analysis) == 1
    assert analysis.window == (0.0, 15.0)
    with pytest.raises(ValueError, match="give both start and end, or neither"):
        xrfast.analyze(example_docs(), format="document", start=0.0)
    with pytest.raises(ValueError, match="start <= end"):
        xrfast.analyze(example_docs(), format="document", start=2.0, end=1.0)


def test_trace_graph() -> None:
    analysis = xrfast.analyze(example_docs(), format="document")
    graph = analysis.trace_graph([TRACE_ID])
    assert_valid_output("GetTraceGraph", graph)
    assert set(graph) == {"Services"}
    assert len(graph["Services"]) == 4
    only_second = analysis.trace_graph([trace_id(2)])["Services"]
    assert [s["Name"] for s in only_second] == ["app", "app"]
    assert analysis.trace_graph([trace_id(99)]) == {"Services": []}
    with pytest.raises(ValueError, match="trace_graph takes 1 to 5 trace ids, not 0"):
        analysis.trace_graph([])
    with pytest.raises(ValueError, match="trace_graph takes 1 to 5 trace ids, not 6"):
        analysis.trace_graph([trace_id(n) for n in range(6)])
    with pytest.raises(ValueError, match=r'"nope" is not a trace id \(1-xxxxxxxx-x{24}\)$'):
        analysis.trace_graph(["nope"])
    with pytest.raises(TypeError):
        analysis.trace_graph(TRACE_ID)  # type: ignore[arg-type]


def test_time_series_selectors() -> None:
    analysis = xrfast.analyze(example_docs(), format="document")
    default = analysis.time_series()
    assert_valid_output("GetTimeSeriesServiceStatistics", default)
    assert [b["Timestamp"] for b in default["TimeSeriesServiceStatistics"]] == [0.0]
    (bucket,) = default["TimeSeriesServiceStatistics"]
    assert bucket["EdgeSummaryStatistics"]["TotalCount"] == 2
    services = analysis.service_graph()["Services"]
    app, table = services[1], services[3]
    node = analysis.time_series(300, service=app)["TimeSeriesServiceStatistics"]
    assert node[0]["ServiceSummaryStatistics"]["TotalCount"] == 2
    assert "EdgeSummaryStatistics" not in node[0]
    edge = analysis.time_series(3600, edge=(app, {"Name": "scores", "Type": table["Type"]}))
    assert edge["TimeSeriesServiceStatistics"][0]["EdgeSummaryStatistics"]["TotalCount"] == 1
    assert analysis.time_series(service={"Name": "nobody"})["TimeSeriesServiceStatistics"] == []
    with pytest.raises(ValueError, match="period must be one of 60, 300, 3600 seconds, not 120"):
        analysis.time_series(120)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="give a service or an edge, not both"):
        analysis.time_series(service=app, edge=(app, app))
    with pytest.raises(ValueError, match='a node needs a "Name"'):
        analysis.time_series(service={"Type": "x"})  # type: ignore[typeddict-item]


def test_percentiles() -> None:
    docs = [
        dumps(segment(n, 100.0, 100.0 + n / 100, name="a", trace=trace_id(n)))
        for n in range(1, 101)
    ]
    row = xrfast.analyze(docs, format="document").percentiles()["nodes"][0]
    assert (row["name"], row["type"], row["account_id"]) == ("a", None, None)
    assert row["count"] == 100
    assert (row["min"], row["max"]) == (pytest.approx(0.01), pytest.approx(1.0))
    assert row["sum"] == pytest.approx(50.5)
    for key, exact in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
        assert row[key] == pytest.approx(exact, rel=0.03)
    empty = xrfast.analyze(dumps(segment(1, 1.0, None)), format="document").percentiles()
    assert empty["nodes"][0]["count"] == 0
    assert empty["nodes"][0]["p50"] is None and empty["nodes"][0]["min"] is None


def test_summaries_and_traces_come_along() -> None:
    analysis = xrfast.analyze(example_docs(), format="document")
    assert [s["Id"] for s in analysis.summaries()] == analysis.traces.ids
    assert analysis.summaries() == analysis.traces.summaries()
    assert repr(analysis) == "Analysis(traces=2, nodes=4, edges=3)"


def test_errors_are_collected_or_raised() -> None:
    docs = [*example_docs(), "{"]
    analysis = xrfast.analyze(docs, format="document", on_error="collect")
    assert len(analysis) == 2
    assert [e.error_code for e in analysis.errors] == ["InvalidJson"]
    with pytest.raises(xrfast.SegmentDecodeError):
        xrfast.analyze(docs, format="document")


def test_incremental_use_with_an_assembler() -> None:
    docs = workload.generate(workload.WorkloadConfig(traces=60, seed=3, concurrency=5))
    whole = xrfast.analyze(workload.to_ndjson(docs))
    # Virtual time: one second per batch of 20 documents; a trace is handed over once nothing
    # arrived for it during 30 batches (its documents interleave with those of 4 others).
    assembler = xrfast.TraceAssembler(idle_timeout=30.0, incomplete_timeout=30.0)
    streamed = xrfast.analyze([])
    for second, n in enumerate(range(0, len(docs), 20)):
        assembler.add(docs[n : n + 20], format="document", now=float(second))
        streamed.add(assembler.pop_complete(now=float(second)))
    assert len(streamed) > 0
    streamed.add(assembler.flush())
    assert len(streamed) == len(whole)
    assert streamed.service_graph() == whole.service_graph()
    assert streamed.percentiles() == whole.percentiles()


# --- merge properties ---------------------------------------------------------------------------


def graph_of(analysis: xrfast.Analysis) -> tuple[Any, ...]:
    return (
        analysis.service_graph(),
        analysis.percentiles(),
        analysis.time_series(60),
        analysis.time_series(300, service={"Name": "order-service"}),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    traces=st.integers(1, 40),
    cuts=st.lists(st.floats(0, 1), min_size=2, max_size=2),
)
def test_merge_is_associative_commutative_and_equals_one_pass(
    seed: int, traces: int, cuts: list[float]
) -> None:
    docs = workload.generate(workload.WorkloadConfig(traces=traces, seed=seed, fault_rate=0.2))
    every = xrfast.parse(workload.to_ndjson(docs))
    i, j = sorted(math.floor(c * len(every)) for c in cuts)
    part_of = {tid: (0 if n < i else 1 if n < j else 2) for n, tid in enumerate(every.ids)}
    parts: list[list[bytes]] = [[], [], []]
    for doc in docs:
        value = orjson.loads(doc)
        top = value[0] if isinstance(value, list) else value
        parts[part_of[top["trace_id"]]].append(doc)
    a, b, c = (xrfast.analyze(part, format="document") for part in parts)
    whole = graph_of(xrfast.analyze(every))
    assert graph_of(a.merge(b).merge(c)) == whole
    assert graph_of(a.merge(b.merge(c))) == whole
    assert graph_of(c.merge(b).merge(a)) == whole
    assert len(a.merge(b).merge(c)) == len(every)


def test_merge_with_itself_and_windows() -> None:
    a = xrfast.analyze(example_docs(), format="document", start=0.0, end=15.0)
    b = xrfast.analyze(example_docs(), format="document", start=15.0, end=30.0)
    both = a.merge(b)
    assert both.window == (0.0, 30.0)
    assert len(both) == 2
    doubled = a.merge(a).service_graph()["Services"]
    assert doubled[1]["SummaryStatistics"]["TotalCount"] == 2
    assert xrfast.analyze(example_docs(), format="document").merge(a).window is None


def test_threads_share_an_analysis() -> None:
    sets = [
        xrfast.parse(
            workload.to_ndjson(workload.generate(workload.WorkloadConfig(traces=20, seed=s)))
        )
        for s in range(4)
    ]
    shared = xrfast.analyze([])
    threads = [threading.Thread(target=shared.add, args=(s,)) for s in sets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    one = xrfast.analyze([])
    for s in sets:
        one.add(s)
    assert shared.service_graph() == one.service_graph()


def test_an_analysis_can_keep_only_the_graph() -> None:
    light = xrfast.analyze(example_docs(), format="document", keep_traces=False)
    full = xrfast.analyze(example_docs(), format="document")
    assert (light.keep_traces, full.keep_traces) == (False, True)
    assert light.service_graph() == full.service_graph()
    assert light.percentiles() == full.percentiles()
    assert len(light) == 2 and repr(light) == repr(full)
    for call in (
        lambda: light.summaries(),
        lambda: light.traces,
        lambda: light.trace_graph([TRACE_ID]),
    ):
        with pytest.raises(ValueError, match="keep_traces=False"):
            call()
    merged = light.merge(full)
    assert not merged.keep_traces and len(merged) == 4
    with pytest.raises(
        ValueError,
        match=r"^summaries\(\) needs the traces, and this analysis was made with keep_traces=False$",
    ):
        merged.summaries()
