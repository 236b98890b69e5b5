"""Tail sampling: the core's trace-level columns against the summaries, every policy's columnar
decision against its per-trace reference, rates, budgets and the combination rules."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xrfast
from xrfast.bench import workload
from xrfast.sampling import tail
from xrfast.sampling.tail import (
    AlwaysSample,
    And,
    Annotation,
    Composite,
    Filter,
    Latency,
    NumericAttribute,
    Policy,
    Probabilistic,
    RateLimiting,
    StatusCode,
    StringAttribute,
    TailSampler,
    TraceColumns,
    decide_reference,
    hash_threshold,
    trace_id_hash,
    trace_id_hash_one,
)

NOW = 1_717_200_000.5

CONFIG = workload.WorkloadConfig(
    traces=600,
    seed=5,
    fault_rate=0.1,
    error_rate=0.1,
    throttle_rate=0.05,
    vanish_rate=0.05,
    in_progress_rate=0.1,
    fanout=1,
    depth=1,
    payload_bytes=(0, 0),
    annotation_cardinality=20,
)


#: Traces the workload does not make: another entry point answering GET (with a string status),
#: one without a root (an orphan subsegment), one in progress, mixed annotation types.
EXTRA = b"""\
{"id":"00000000000000a1","name":"health-checker","trace_id":"1-665a5000-000000000000000000000001","start_time":1717200003.25,"end_time":1717200003.5,"http":{"request":{"method":"GET","url":"http://x/health"},"response":{"status":"200"}},"annotations":{"flag":true,"amount":250,"customer_tier":"premium"}}
{"id":"00000000000000a2","name":"lost","trace_id":"1-665a5000-000000000000000000000002","start_time":1717200004.0,"end_time":1717200004.5,"type":"subsegment","parent_id":"00000000000000ff","annotations":{"flag":false}}
{"id":"00000000000000a3","name":"slow-job","trace_id":"1-665a5000-000000000000000000000003","start_time":1717200004.0,"in_progress":true,"annotations":{"flag":1}}
{"id":"00000000000000a4","name":"health-checker","trace_id":"1-665a5000-000000000000000000000004","start_time":1717200003.75,"end_time":1717200006.0,"fault":true,"throttle":true,"http":{"request":{"method":"DELETE","url":"http://x/items/9"},"response":{"status":503}}}
"""


def _build() -> xrfast.TraceSet:
    docs = workload.to_ndjson(workload.generate(CONFIG))
    sdk = (Path(__file__).parent / "fixtures" / "sdk" / "stream.ndjson").read_bytes()
    return xrfast.parse(docs + EXTRA + sdk)


@pytest.fixture(scope="module")
def traces() -> xrfast.TraceSet:
    return _module_traces()


@pytest.fixture(scope="module")
def summaries(traces: xrfast.TraceSet) -> list[dict[str, Any]]:
    return traces.summaries()


@pytest.fixture(scope="module")
def sdk_traces(sdk_stream: Any) -> xrfast.TraceSet:
    return xrfast.read(sdk_stream)


def _sources(traces: xrfast.TraceSet, sdk: xrfast.TraceSet) -> list[xrfast.TraceSet]:
    checkout = xrfast.read(Path(xrfast.__file__).parent / "data" / "sdk-checkout.ndjson")
    return [traces, sdk, checkout]


# --------------------------------------------------------------------------------------------
# Columns from the core.


def _nan_or(value: float | None) -> float:
    return math.nan if value is None else value


def _check_summary_columns(ts: xrfast.TraceSet) -> None:
    c = ts.summary_columns()
    summaries = ts.summaries()
    assert len(c["id_high"]) == len(summaries) == len(ts)
    for i, s in enumerate(summaries):
        value = int(s["Id"][2:10] + s["Id"][11:], 16)
        assert (int(c["id_high"][i]), int(c["id_low"][i])) == (value >> 64, value & (2**64 - 1))
        for key, column in (
            ("StartTime", "start"),
            ("Duration", "duration"),
            ("ResponseTime", "response_time"),
        ):
            np.testing.assert_equal(c[column][i], _nan_or(s.get(key)))
        assert bool(c["has_fault"][i]) is s["HasFault"]
        assert bool(c["has_error"][i]) is s["HasError"]
        assert bool(c["has_throttle"][i]) is s["HasThrottle"]
        assert bool(c["is_partial"][i]) is s["IsPartial"]
        assert int(c["http_status"][i]) == s["Http"].get("HttpStatus", 0)
        for column, value in (
            ("service", s["EntryPoint"]["Name"] if "EntryPoint" in s else None),
            ("url", s["Http"].get("HttpURL")),
            ("method", s["Http"].get("HttpMethod")),
        ):
            code = int(c[column][i])
            assert (c[column + "_values"][code] if code >= 0 else None) == value


def test_summary_columns_equal_the_summaries(traces, sdk_traces):
    for ts in _sources(traces, sdk_traces):
        _check_summary_columns(ts)
    c = traces.summary_columns()
    assert c["id_high"].dtype == np.uint64 and c["start"].dtype == np.float64
    assert c["has_fault"].dtype == np.bool_ and c["service"].dtype == np.int32
    assert len(set(c["url_values"])) == len(c["url_values"])


def test_an_analysis_gives_the_same_summary_columns_from_its_summaries(traces, sdk_traces):
    for ts in _sources(traces, sdk_traces):
        from_traces, from_analysis = ts.summary_columns(), xrfast.analyze(ts).summary_columns()
        assert from_traces.keys() == from_analysis.keys()
        for key, column in from_traces.items():
            np.testing.assert_equal(from_analysis[key], column)
        for name in ("customer_tier", "amount", "nope"):
            from_traces, from_analysis = (
                ts.annotation_column(name),
                xrfast.analyze(ts).annotation_column(name),
            )
            for key, column in from_traces.items():
                np.testing.assert_equal(from_analysis[key], column)
    sampler = TailSampler([StatusCode(["fault", "error"])])
    analysis = xrfast.analyze(traces)
    assert sampler.decide(analysis).tolist() == sampler.decide(traces).tolist()
    with pytest.raises(ValueError, match="keep_traces=False"):
        xrfast.analyze(traces, keep_traces=False).summary_columns()


def test_summary_columns_of_an_empty_set():
    c = xrfast.parse(b"").summary_columns()
    assert len(c["id_high"]) == 0 and c["service_values"] == []


@pytest.mark.parametrize("key", ["customer_tier", "amount", "attempt", "warehouse", "nope"])
def test_annotation_column_equals_the_summaries(traces, summaries, key):
    a = traces.annotation_column(key)
    rows = []
    for t, kind, number, boolean, code in zip(
        a["trace"], a["kind"], a["number"], a["boolean"], a["string"]
    ):
        if kind == 0:
            rows.append((int(t), {"NumberValue": float(number)}))
        elif kind == 1:
            rows.append((int(t), {"BooleanValue": bool(boolean)}))
        else:
            rows.append((int(t), {"StringValue": a["string_values"][code]}))
    expected = [
        (t, v["AnnotationValue"])
        for t, s in enumerate(summaries)
        for v in s["Annotations"].get(key, [])
    ]
    assert rows == expected


def test_annotation_column_kinds():
    doc = (
        b'{"id":"0000000000000001","name":"api","trace_id":"1-581cf771-a006649127e371903a2de979",'
        b'"start_time":1,"end_time":2,"annotations":{"k":true},"subsegments":[{"id":'
        b'"0000000000000002","name":"s","start_time":1,"end_time":2,"annotations":{"k":"x"}},'
        b'{"id":"0000000000000003","name":"t","start_time":1,"end_time":2,"annotations":{"k":2}}]}'
    )
    a = xrfast.parse(doc).annotation_column("k")
    assert a["kind"].tolist() == [1, 2, 0]
    assert a["boolean"].tolist() == [True, False, False]
    assert a["string"].tolist() == [-1, 0, -1] and a["string_values"] == ["x"]
    np.testing.assert_equal(a["number"], [math.nan, math.nan, 2.0])


def test_service_columns_name_every_segment(traces):
    c = traces.service_columns()
    for t in (0, 1, 17, len(traces) - 1):
        rows = np.flatnonzero(c["trace"] == t)
        segments = [json.loads(d["Document"]) for d in traces[t].to_dict()["Segments"]]
        assert len(rows) == len(segments)
        summary = traces[t].summary()
        names = {s["Name"] for s in summary["ServiceIds"]}
        assert {c["service_values"][c["service"][r]]["Name"] for r in rows} == names
        root = [r for r in rows if c["root"][r]]
        if "EntryPoint" in summary:
            assert [c["service_values"][c["service"][r]] for r in root] == [summary["EntryPoint"]]


def test_path_column_agrees_with_the_path_report(traces):
    c = traces.path_column()
    report = traces.paths(examples=1_000_000)
    counts = Counter(int(code) for code in c["path"])
    found = 0
    for entry in report["EntryPoints"]:
        for path in entry["Paths"]:
            key = {
                "EntryPoint": entry["EntryPoint"],
                **{k: entry[k] for k in ("HttpMethod", "UrlPath") if k in entry},
                "Edges": path["Edges"],
                "Unreported": path["Unreported"],
            }
            code = c["path_values"].index(key)
            assert counts[code] == path["Count"]
            ids = sorted(traces.ids[i] for i in np.flatnonzero(c["path"] == code))
            assert ids == sorted(path["TraceIds"])
            found += 1
    assert found == len(c["path_values"])
    assert counts[-1] == report["TracesWithoutRoot"]


# --------------------------------------------------------------------------------------------
# The hash.


def test_trace_id_hash_is_pinned():
    # The documented hash: any implementation must give these numbers.
    assert trace_id_hash_one("1-581cf771-a006649127e371903a2de979") == 0x36BE7CE8B7F0ED1F
    # The same, following the docstring step by step.
    m = 2**64 - 1

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        return z ^ (z >> 31)

    salt = 0xCBF29CE484222325
    for byte in b"team":
        salt = ((salt ^ byte) * 0x100000001B3) & m
    high, low = 0x581CF771A0066491, 0x27E371903A2DE979
    assert trace_id_hash_one("1-581cf771-a006649127e371903a2de979", "team") == mix(
        high ^ mix(low ^ salt)
    )
    assert trace_id_hash_one("1-581cf771-a006649127e371903a2de979", "salt") != (
        trace_id_hash_one("1-581cf771-a006649127e371903a2de979")
    )
    with pytest.raises(ValueError, match="is not an X-Ray trace id"):
        trace_id_hash_one("581cf771a006649127e371903a2de979")


def test_trace_id_hash_vectorised_equals_the_reference(traces):
    c = traces.summary_columns()
    for salt in ("", "team-a"):
        h = trace_id_hash(c["id_high"], c["id_low"], salt)
        assert [int(x) for x in h] == [trace_id_hash_one(i, salt) for i in traces.ids]


def test_hash_threshold():
    assert hash_threshold(0) == 0
    assert hash_threshold(50) == 1 << 63
    assert hash_threshold(100) == 1 << 64
    assert hash_threshold(12.5) == 1 << 61


@pytest.mark.parametrize("percentage", [1.0, 10.0, 50.0])
def test_probabilistic_rate_is_binomial(percentage):
    # 200,000 random ids (fixed seed): the sampled count lies within 5 standard deviations.
    rng = np.random.default_rng(20240601)
    n = 200_000
    high = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    low = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    columns = TraceColumns(summary={"id_high": high, "id_low": low})
    mask = Probabilistic(sampling_percentage=percentage).decide(columns, NOW).sampled
    p = percentage / 100
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(int(mask.sum()) - n * p) < 5 * sigma


def test_probabilistic_is_nested_and_salted(traces):
    columns = TraceColumns(traces)
    low = Probabilistic(sampling_percentage=20).decide(columns, NOW).sampled
    high = Probabilistic(sampling_percentage=60).decide(columns, NOW).sampled
    assert not (low & ~high).any()  # sampled at 20 % ⇒ sampled at 60 %
    salted = Probabilistic(sampling_percentage=20, hash_salt="x").decide(columns, NOW).sampled
    assert (salted != low).any()
    assert Probabilistic(sampling_percentage=0).decide(columns, NOW).sampled.sum() == 0
    assert Probabilistic(sampling_percentage=100).decide(columns, NOW).sampled.all()


def test_probabilistic_is_the_same_in_another_process():
    import subprocess
    import sys

    code = (
        "import sys, xrfast\n"
        "from xrfast.bench import workload\n"
        "from xrfast.sampling.tail import Probabilistic, TailSampler\n"
        f"cfg = workload.{CONFIG!r}\n"
        "ts = xrfast.parse(workload.to_ndjson(workload.generate(cfg)))\n"
        "m = TailSampler([Probabilistic(sampling_percentage=30)]).decide(ts)\n"
        "sys.stdout.write(''.join('1' if x else '0' for x in m))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    ).stdout
    ts = xrfast.parse(workload.to_ndjson(workload.generate(CONFIG)))
    mine = TailSampler([Probabilistic(sampling_percentage=30)]).decide(ts)
    assert out == "".join("1" if x else "0" for x in mine)


# --------------------------------------------------------------------------------------------
# Policies: the columnar decision equals the per-trace reference.


def _policies() -> list[Policy]:
    return [
        AlwaysSample(),
        Latency(threshold_ms=800),
        Latency(threshold_ms=300, upper_threshold_ms=900, measure="response_time"),
        StatusCode(["fault"]),
        StatusCode(["error", "throttle"]),
        StatusCode(["ok"]),
        StringAttribute(key="service.name", values=["api-gateway"]),
        StringAttribute(key="http.url", values=["/prod/"], enabled_regex_matching=True),
        StringAttribute(key="http.method", values=["GET"], invert_match=True),
        NumericAttribute(key="http.status_code", min_value=400, max_value=499),
        NumericAttribute(key="duration", min_value=0.5),
        NumericAttribute(key="http.status_code", max_value=299, invert_match=True),
        Annotation(key="amount", min_value=100, max_value=300),
        Annotation(key="customer_tier", values=["premium", "enterprise"]),
        Annotation(key="warehouse", values=["^iad"], enabled_regex_matching=True),
        Annotation(key="provider", values=["stripe"], invert_match=True),
        Annotation(key="flag", boolean_value=True),
        Annotation(key="flag", min_value=0.5),
        Probabilistic(sampling_percentage=25),
        Probabilistic(sampling_percentage=25, hash_salt="s"),
        RateLimiting(traces_per_second=7),
        RateLimiting(traces_per_second=3, time_source="clock"),
        And(
            policies=[
                StatusCode(["ok"], name="a"),
                Probabilistic(sampling_percentage=50, name="b"),
            ]
        ),
        Composite(
            max_total_traces_per_second=20,
            policies=[
                StatusCode(["fault", "error"], name="bad"),
                Latency(threshold_ms=600, name="slow"),
                AlwaysSample(name="rest"),
            ],
            rate_allocation={"bad": 50, "slow": 30},
        ),
    ]


def _columnar_and_reference(
    policies: list[Policy], ts: xrfast.TraceSet, summaries: list[dict[str, Any]]
) -> tuple[np.ndarray, list[bool], TailSampler, dict[str, int]]:
    for p in policies:
        p.reset()
    sampler = TailSampler(policies, clock=lambda: NOW)
    mask = sampler.decide(ts)
    for p in policies:
        p.reset()
    reference, counts = decide_reference(policies, summaries, now=NOW)
    return mask, reference, sampler, counts


@pytest.mark.parametrize("policy", _policies(), ids=lambda p: repr(p)[:60])
def test_each_policy_equals_its_reference(policy, traces, summaries, sdk_traces):
    for ts, ss in ((traces, summaries), (sdk_traces, sdk_traces.summaries())):
        mask, reference, sampler, counts = _columnar_and_reference([policy], ts, ss)
        assert mask.tolist() == reference
        assert sampler.policy_counts == counts


def test_policies_decide_something(traces):
    # Guards the equality tests above against policies that match nothing or everything.
    columns = TraceColumns(traces)
    for policy in _policies():
        policy.reset()
        d = policy.decide(columns, NOW)
        kept = d.sampled if d.vetoed is None else d.sampled & ~d.vetoed
        if isinstance(policy, AlwaysSample):
            assert kept.all()
        else:
            assert 0 < kept.sum() < len(traces), policy


_policy_strategy = st.sampled_from(range(len(_policies())))


@given(st.lists(_policy_strategy, min_size=1, max_size=5, unique=True), st.integers(0, 5))
def test_any_combination_equals_the_reference(picks, batches):
    ts = _module_traces()
    summaries = _module_summaries()
    all_policies = _policies()
    policies = [all_policies[i] for i in picks]
    for i, p in enumerate(policies):
        p.name = f"p{i}"
    # Batches decided one after another keep budgets in both paths.
    sampler = TailSampler(policies, clock=lambda: NOW)
    columnar = []
    bounds = np.linspace(0, len(ts), batches + 2).astype(int)
    c = ts.summary_columns()
    for lo, hi in zip(bounds, bounds[1:]):
        part = {k: (v[lo:hi] if isinstance(v, np.ndarray) else v) for k, v in c.items()}
        columns = TraceColumns(summary=part)
        for key in {k for p in policies for k in p.annotation_keys()}:
            columns._annotations[key] = _slice_annotation(ts.annotation_column(key), lo, hi)
        columnar.extend(sampler.decide(columns).tolist())
    for p in policies:
        p.reset()
    reference, counts = decide_reference(policies, summaries, now=NOW)
    assert columnar == reference
    assert sampler.policy_counts == counts


def _slice_annotation(a: dict[str, Any], lo: int, hi: int) -> dict[str, Any]:
    rows = (a["trace"] >= lo) & (a["trace"] < hi)
    out = {k: v[rows] if isinstance(v, np.ndarray) else v for k, v in a.items()}
    out["trace"] = out["trace"] - lo
    return out


_CACHE: dict[str, Any] = {}


def _module_traces() -> xrfast.TraceSet:
    if "traces" not in _CACHE:
        _CACHE["traces"] = _build()
    return _CACHE["traces"]


def _module_summaries() -> list[dict[str, Any]]:
    if "summaries" not in _CACHE:
        _CACHE["summaries"] = _module_traces().summaries()
    return _CACHE["summaries"]


# --------------------------------------------------------------------------------------------
# Rates and budgets.


def test_rate_limiting_is_exact_under_a_virtual_clock(traces):
    now = [100.2]
    sampler = TailSampler(
        [RateLimiting(traces_per_second=5, time_source="clock")], clock=lambda: now[0]
    )
    assert sampler.decide(traces).tolist() == [True] * 5 + [False] * (len(traces) - 5)
    now[0] = 100.9  # same second: the budget is spent
    assert sampler.decide(traces).sum() == 0
    now[0] = 101.0  # a new second
    assert sampler.decide(traces).sum() == 5
    assert sampler.decide(traces, now=250.0).sum() == 5
    assert sampler.stats() == {
        "traces_decided": 4 * len(traces),
        "traces_sampled": 15,
        "policies": {"rate_limiting": 15},
    }
    sampler.reset()
    assert sampler.decide(traces, now=101.5).sum() == 5


def _second(summary: dict[str, Any]) -> int:
    return math.floor(summary.get("StartTime", NOW))


def test_rate_limiting_in_event_time(traces, summaries):
    mask = TailSampler([RateLimiting(traces_per_second=10)], clock=lambda: NOW).decide(traces)
    assert any("StartTime" not in s for s in summaries)  # counted in the clock's second
    per_second = Counter(_second(s) for s in summaries)
    kept = Counter(_second(s) for s, m in zip(summaries, mask) if m)
    assert kept == {sec: min(n, 10) for sec, n in per_second.items()}
    # The first traces of each second (in batch order) are the ones kept.
    seen: Counter[int] = Counter()
    for s, m in zip(summaries, mask):
        sec = _second(s)
        assert m == (seen[sec] < 10)
        seen[sec] += 1


def test_rate_limiting_budget_spans_batches(traces):
    policy = RateLimiting(traces_per_second=10)
    sampler = TailSampler([policy])
    whole = sampler.decide(traces)
    policy.reset()
    c = traces.summary_columns()
    halves = []
    for part in (slice(0, 300), slice(300, None)):
        cols = TraceColumns(
            summary={k: v[part] if isinstance(v, np.ndarray) else v for k, v in c.items()}
        )
        halves.extend(sampler.decide(cols).tolist())
    assert halves == whole.tolist()


def test_composite_budgets(traces, summaries):
    composite = Composite(
        max_total_traces_per_second=10,
        policies=[StatusCode(["fault"], name="faults"), AlwaysSample(name="rest")],
        rate_allocation={"faults": 60},
    )
    assert composite.percentages() == [60, 40]
    mask = TailSampler([composite], clock=lambda: NOW).decide(traces)
    by_second: dict[int, list[bool]] = {}
    for s, m in zip(summaries, mask):
        by_second.setdefault(_second(s), []).append(m)
    for sec, kept in by_second.items():
        rows = [s for s in summaries if _second(s) == sec]
        faults = sum(s["HasFault"] for s in rows)
        expected = min(faults, 6) + min(len(rows) - min(faults, 6), 4)
        assert sum(kept) == expected, sec
        assert sum(kept) <= 10


def test_composite_shares_what_is_left_equally():
    c = Composite(
        max_total_traces_per_second=9,
        policies=[AlwaysSample(name="a"), AlwaysSample(name="b"), AlwaysSample(name="c")],
        rate_allocation={"a": 40},
    )
    assert c.percentages() == [40, 30, 30]


def test_invert_match_vetoes_other_policies(traces, summaries):
    keep_all = AlwaysSample()
    not_premium = Annotation(key="customer_tier", values=["premium"], invert_match=True)
    mask = TailSampler([keep_all, not_premium]).decide(traces)
    premium = [
        any(
            v["AnnotationValue"].get("StringValue") == "premium"
            for v in s["Annotations"].get("customer_tier", [])
        )
        for s in summaries
    ]
    assert mask.tolist() == [not p for p in premium]
    assert any(premium)


def test_sampler_counts_sample_and_analysis(traces):
    sampler = TailSampler(
        [StatusCode(["fault"], name="faults"), Latency(threshold_ms=800, name="slow")]
    )
    mask = sampler.decide(traces)
    stats = sampler.stats()
    assert stats["traces_decided"] == len(traces)
    assert stats["traces_sampled"] == int(mask.sum())
    columns = traces.summary_columns()
    assert stats["policies"]["faults"] == int(columns["has_fault"].sum())
    assert np.array_equal(sampler.sample(traces), np.flatnonzero(mask))
    assert sampler.sample(traces).dtype == np.int64
    analysis = xrfast.analyze(traces)
    assert np.array_equal(sampler.decide(analysis), mask)
    assert np.array_equal(sampler.decide(TraceColumns(analysis)), mask)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Latency(threshold_ms=-1), "threshold_ms must be at least 0, got -1"),
        (
            lambda: Latency(threshold_ms=10, upper_threshold_ms=5),
            "upper_threshold_ms (5) is below threshold_ms (10)",
        ),
        (
            lambda: StatusCode(["boom"]),  # type: ignore[list-item]
            "unknown status 'boom'; expected one of 'fault', 'error', 'throttle', 'ok'",
        ),
        (
            lambda: StringAttribute(key="http.host", values=["x"]),  # type: ignore[arg-type]
            "unknown key 'http.host'; expected one of 'service.name', 'http.url', 'http.method'",
        ),
        (
            lambda: StringAttribute(key="http.url", values=["("], enabled_regex_matching=True),
            "invalid regular expression: missing ), unterminated subpattern at position 0",
        ),
        (
            lambda: Annotation(key="a", min_value=1, values=["x"]),
            "give exactly one condition: min_value/max_value, values or boolean_value",
        ),
        (lambda: NumericAttribute(key="duration"), "give min_value, max_value or both"),
        (
            lambda: Probabilistic(sampling_percentage=101),
            "sampling_percentage must be within [0, 100], got 101",
        ),
        (
            lambda: RateLimiting(traces_per_second=-1),
            "traces_per_second must be at least 0, got -1",
        ),
        (
            lambda: Composite(policies=[AlwaysSample()], rate_allocation={"x": 10}),
            "rate_allocation names 'x', which is no sub-policy",
        ),
        (
            lambda: Composite(
                policies=[AlwaysSample(name="a"), AlwaysSample(name="b")],
                rate_allocation={"a": 60, "b": 50},
            ),
            "rate_allocation adds up to more than 100 percent",
        ),
        (lambda: TailSampler([]), "a tail sampler needs at least one policy"),
        (
            lambda: TailSampler([AlwaysSample(), AlwaysSample()]),
            "policy names must be distinct: always_sample",
        ),
    ],
)
def test_invalid_policies(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message


def test_policy_types_are_registered():
    assert sorted(tail.POLICY_TYPES) == [
        "always_sample",
        "and",
        "annotation",
        "composite",
        "filter",
        "latency",
        "numeric_attribute",
        "probabilistic",
        "rate_limiting",
        "status_code",
        "string_attribute",
    ]


def test_filter_policy_keeps_what_the_expression_matches(traces):
    expected = np.asarray(xrfast.compile_filter("fault").select(traces), dtype=np.int64)
    mask = TailSampler([Filter(expression="fault")]).decide(traces)
    assert np.array_equal(np.flatnonzero(mask), np.sort(expected))
    assert np.array_equal(mask, traces.summary_columns()["has_fault"])


def test_filter_policy_needs_traces():
    policy = Filter(expression="fault")
    columns = TraceColumns(summary={"id_high": np.zeros(1, dtype=np.uint64)})
    with pytest.raises(ValueError, match="needs the traces"):
        policy.decide(columns, NOW)
    with pytest.raises(ValueError, match="non-empty filter expression"):
        Filter(expression=" ")


def test_the_benchmark_checks_its_answers(monkeypatch: pytest.MonkeyPatch):
    import io

    from rich.console import Console

    from xrfast.bench import tail as bench

    out = io.StringIO()
    report = bench.run(quick=True, console=Console(file=out, width=200))
    assert report["traces"] == 2000 and report["same_mask"] is True
    assert 0 < report["sampled"] < report["traces"]
    assert report["decision_traces_per_s"] > 0 and report["extraction_traces_per_s"] > 0
    assert "tail sampling (2,000 traces, 6 policies" in out.getvalue()

    def wrong(policies: Any, summaries: Any, *, now: float) -> Any:
        decisions, counts = decide_reference(policies, summaries, now=now)
        return [not d for d in decisions], counts

    monkeypatch.setattr(bench, "decide_reference", wrong)
    with pytest.raises(RuntimeError, match="differ from the per-trace reference"):
        bench.run(quick=True, console=Console(file=io.StringIO()))
