"""Example reservoirs: Algorithm L is uniform (chi-squared, fixed seeds), merging is uniform
over the union, batches and seeds are deterministic, and the per-node, per-edge and per-path
reservoirs see exactly the traces that went there."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xrfast
from xrfast.bench import workload
from xrfast.sampling.examples import OUTCOMES, ExampleReservoirs, Reservoir

CONFIG = workload.WorkloadConfig(
    traces=300,
    seed=9,
    fault_rate=0.1,
    error_rate=0.1,
    throttle_rate=0.05,
    vanish_rate=0.05,
    fanout=1,
    depth=1,
    payload_bytes=(0, 0),
)


@pytest.fixture(scope="module")
def traces() -> xrfast.TraceSet:
    docs = workload.to_ndjson(workload.generate(CONFIG))
    sdk = (Path(__file__).parent / "fixtures" / "sdk" / "stream.ndjson").read_bytes()
    return xrfast.parse(docs + sdk)


def chi2_critical(df: int, z: float = 3.090) -> float:
    """The chi-squared quantile at p = 0.001 (z = 3.090), Wilson–Hilferty approximation."""
    a = 2 / (9 * df)
    return df * (1 - a + z * math.sqrt(a)) ** 3


def chi2(counts: list[int], expected: float) -> float:
    return sum((c - expected) ** 2 / expected for c in counts)


def test_chi2_critical_matches_tables():
    assert chi2_critical(9) == pytest.approx(27.877, rel=0.01)
    assert chi2_critical(39) == pytest.approx(72.055, rel=0.01)


# --------------------------------------------------------------------------------------------
# One reservoir.


def test_reservoir_keeps_everything_until_full():
    r = Reservoir(5, seed=1)
    r.add_many([1, 2, 3])
    assert sorted(r.items) == [1, 2, 3] and r.count == 3
    r.add(4)
    r.add(5)
    assert sorted(r.items) == [1, 2, 3, 4, 5]
    r.add_many(list(range(6, 1000)))
    assert len(r) == 5 and r.count == 999
    assert set(r.items) <= set(range(1, 1000))
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        Reservoir(0)


def test_reservoir_does_not_depend_on_batching():
    items = list(range(5000))
    whole = Reservoir(7, seed=3)
    whole.add_many(items)
    one_by_one = Reservoir(7, seed=3)
    for item in items:
        one_by_one.add(item)
    chunked = Reservoir(7, seed=3)
    for start in range(0, 5000, 333):
        chunked.add_many(np.arange(start, min(start + 333, 5000)))
    assert whole.items == one_by_one.items == [int(x) for x in chunked.items]
    other = Reservoir(7, seed=4)
    other.add_many(items)
    assert other.items != whole.items


def test_reservoir_reads_only_what_it_keeps():
    read: list[int] = []

    class Items:
        def __len__(self) -> int:
            return 100_000

        def __getitem__(self, at: int) -> int:
            read.append(at)
            return at

    r = Reservoir(10, seed=0)
    r.add_many(Items())  # type: ignore[arg-type]
    assert r.count == 100_000
    # About k (1 + ln(n / k)) ≈ 102 items are read, not 100,000.
    assert len(read) < 400


def test_reservoir_stores_ids_of_indexes():
    r = Reservoir(2, seed=0)
    r.add_many(np.array([2, 0]), ["a", "b", "c"])
    assert sorted(r.items) == ["a", "c"]


def test_algorithm_l_is_uniform():
    # 3,000 runs over a stream of 1,000: inclusion per tenth of the stream is uniform.
    n, k, runs = 1000, 5, 3000
    bins = [0] * 10
    for seed in range(runs):
        r = Reservoir(k, seed=seed)
        r.add_many(np.arange(n))
        for item in r.items:
            bins[int(item) * 10 // n] += 1
    assert chi2(bins, runs * k / 10) < chi2_critical(9)


def test_small_stream_is_uniform_per_item():
    n, k, runs = 20, 5, 3000
    counts = Counter()
    for seed in range(runs):
        r = Reservoir(k, seed=seed)
        r.add_many(list(range(n)))
        counts.update(r.items)
    assert chi2([counts[i] for i in range(n)], runs * k / n) < chi2_critical(n - 1)


@pytest.mark.parametrize(("n1", "n2"), [(30, 10), (3, 40), (200, 200)])
def test_merged_reservoirs_are_uniform_over_the_union(n1, n2):
    k, runs = 5, 3000
    counts = Counter()
    for seed in range(runs):
        a, b = Reservoir(k, seed=2 * seed), Reservoir(k, seed=2 * seed + 1)
        a.add_many(list(range(n1)))
        b.add_many(list(range(n1, n1 + n2)))
        merged = a.merge(b)
        assert merged.count == n1 + n2 and len(merged) == min(k, n1 + n2)
        assert len(set(merged.items)) == len(merged.items)
        counts.update(merged.items)
    n = n1 + n2
    if n <= 60:
        observed = [counts[i] for i in range(n)]
        assert chi2(observed, runs * k / n) < chi2_critical(n - 1)
    else:
        tenths = [sum(counts[i] for i in range(j * n // 10, (j + 1) * n // 10)) for j in range(10)]
        assert chi2(tenths, runs * k / 10) < chi2_critical(9)


def test_a_merged_reservoir_keeps_sampling_uniformly():
    # Merge two streams, then feed a third: uniform over all 60 items.
    k, runs = 5, 3000
    counts = Counter()
    for seed in range(runs):
        a, b = Reservoir(k, seed=3 * seed), Reservoir(k, seed=3 * seed + 1)
        a.add_many(list(range(20)))
        b.add_many(list(range(20, 30)))
        merged = a.merge(b)
        merged.add_many(list(range(30, 60)))
        counts.update(merged.items)
    thirds = [sum(counts[i] for i in range(j * 20, (j + 1) * 20)) for j in range(3)]
    assert chi2(thirds, runs * k / 3) < chi2_critical(2)
    assert chi2([counts[i] for i in range(60)], runs * k / 60) < chi2_critical(59)


def test_merge_leaves_its_inputs_alone_and_is_deterministic():
    a, b = Reservoir(3, seed=1), Reservoir(3, seed=2)
    a.add_many(list(range(100)))
    b.add_many(list(range(100, 150)))
    before = (list(a.items), list(b.items), a.count, b.count)
    first, second = a.merge(b), a.merge(b)
    assert first.items == second.items
    assert (a.items, b.items, a.count, b.count) == before
    with pytest.raises(ValueError, match="cannot merge reservoirs of k=3 and k=4"):
        a.merge(Reservoir(4))


# --------------------------------------------------------------------------------------------
# Reservoirs per node, edge and path.


def _expected_service_groups(
    traces: xrfast.TraceSet, examples: ExampleReservoirs
) -> dict[tuple[Any, str, str], set[str]]:
    """Per-row Python: the traces of every (service, outcome, latency bucket)."""
    c = traces.service_columns()
    labels = examples.bucket_labels()
    bounds = examples.latency_buckets_ms
    ids = traces.ids
    groups: dict[tuple[Any, str, str], set[str]] = defaultdict(set)
    for row in range(len(c["trace"])):
        status = int(c["http_status"][row])
        if c["fault"][row] or 500 <= status < 600:
            outcome = "fault"
        elif c["throttle"][row] or status == 429:
            outcome = "throttle"
        elif c["error"][row] or 400 <= status < 500:
            outcome = "error"
        else:
            outcome = "ok"
        duration = float(c["duration"][row])
        if math.isnan(duration):
            bucket = labels[-1]
        else:
            bucket = labels[sum(1 for b in bounds if duration * 1000 >= b)]
        service = c["service_values"][c["service"][row]]
        key = (
            (service["Name"], service.get("Type"), service.get("AccountId")),
            outcome,
            bucket,
        )
        groups[key].add(ids[int(c["trace"][row])])
    return groups


def test_service_reservoirs_see_the_right_traces(traces):
    examples = ExampleReservoirs(k=3, seed=5)
    examples.add(traces)
    expected = _expected_service_groups(traces, examples)
    assert set(examples.services) == set(expected)
    assert {o for _, o, _ in expected} == set(OUTCOMES)
    for key, reservoir in examples.services.items():
        assert reservoir.count == len(expected[key])
        assert len(reservoir) == min(3, len(expected[key]))
        assert set(reservoir.items) <= expected[key]
    report = examples.report()
    assert sum(s["Count"] for s in report["Services"]) == sum(len(v) for v in expected.values())
    checkout = examples.service_examples("order-service", outcome="fault")
    assert checkout and all(k[0] == "fault" for k in checkout)


def test_path_and_edge_reservoirs_follow_the_path_report(traces):
    examples = ExampleReservoirs(k=4, seed=1)
    examples.add(traces)
    report = traces.paths(examples=1_000_000)
    paths = examples.report()["Paths"]
    by_count = sorted((p["Count"], tuple(sorted(p["TraceIds"]))) for p in paths)
    assert len(paths) == sum(len(e["Paths"]) for e in report["EntryPoints"])
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entry in report["EntryPoints"]:
        for path in entry["Paths"]:
            mine = [
                p
                for p in paths
                if p["Edges"] == path["Edges"]
                and p["EntryPoint"] == entry["EntryPoint"]
                and p.get("UrlPath") == entry.get("UrlPath")
                and p["Unreported"] == path["Unreported"]
            ]
            assert len(mine) == 1
            assert mine[0]["Count"] == path["Count"]
            assert set(mine[0]["TraceIds"]) <= set(path["TraceIds"])
            assert len(mine[0]["TraceIds"]) == min(4, path["Count"])
            for edge in path["Edges"]:
                edges[(edge["Caller"]["Name"], edge["Callee"]["Name"])] |= set(path["TraceIds"])
    assert by_count
    seen = {}
    for edge in examples.report()["Edges"]:
        key = (edge["Caller"]["Name"], edge["Callee"]["Name"])
        seen[key] = seen.get(key, 0) + edge["Count"]
        assert set(edge["TraceIds"]) <= edges[key]
    assert seen == {key: len(ids) for key, ids in edges.items()}


def test_examples_are_deterministic_and_merge_across_workers(traces):
    def fed(parts: list[xrfast.TraceSet], seed: int) -> dict[str, Any]:
        ex = ExampleReservoirs(k=2, seed=seed)
        for part in parts:
            ex.add(part)
        return ex.report()

    assert fed([traces], 1) == fed([traces], 1)
    assert fed([traces], 1) != fed([traces], 2)

    docs = workload.generate(CONFIG)
    half = len(docs) // 2
    # Two workers that saw different traces (documents split by trace id).
    ids = sorted({d.split(b'"trace_id":"')[1][:35] for d in docs if b'"trace_id":"' in d})
    first = set(ids[: len(ids) // 2])
    left = [d for d in docs if d.split(b'"trace_id":"')[1][:35] in first]
    right = [d for d in docs if d.split(b'"trace_id":"')[1][:35] not in first]
    assert half and left and right
    a, b = ExampleReservoirs(k=2, seed=1), ExampleReservoirs(k=2, seed=2)
    a.add(xrfast.parse(workload.to_ndjson(left)))
    b.add(xrfast.parse(workload.to_ndjson(right)))
    merged = a.merge(b).report()
    whole = ExampleReservoirs(k=2, seed=1)
    whole.add(xrfast.parse(workload.to_ndjson(docs)))
    expected = whole.report()

    def counts(report: dict[str, Any]) -> dict[str, list[Any]]:
        return {
            kind: sorted(
                (repr({k: v for k, v in row.items() if k != "TraceIds"}), len(row["TraceIds"]))
                for row in rows
            )
            for kind, rows in report.items()
        }

    assert counts(merged) == counts(expected)
    assert a.merge(b).report() == merged  # deterministic
    with pytest.raises(ValueError, match="different k or latency buckets"):
        a.merge(ExampleReservoirs(k=3))


def test_examples_from_an_analysis(traces):
    a, b = ExampleReservoirs(k=2, seed=0), ExampleReservoirs(k=2, seed=0)
    a.add(traces)
    b.add(xrfast.analyze(traces))
    assert a.report() == b.report()
    empty = ExampleReservoirs()
    empty.add(xrfast.parse(b""))
    assert empty.report() == {"Services": [], "Edges": [], "Paths": []}


def test_bucket_labels_and_validation():
    ex = ExampleReservoirs(latency_buckets_ms=[50, 250.5])
    assert ex.bucket_labels() == ["0-50ms", "50-250.5ms", ">=250.5ms", "in_progress"]
    with pytest.raises(ValueError, match="latency_buckets_ms must be positive and increasing"):
        ExampleReservoirs(latency_buckets_ms=[10, 10])
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        ExampleReservoirs(k=0)
