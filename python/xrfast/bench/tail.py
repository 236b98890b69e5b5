"""Benchmark: tail sampling throughput through the columnar path.

Traces come from the workload generator (checkout flow, higher fault/error rates so every
policy has work), copied with fresh trace ids to reach ``traces`` traces. Measured, as medians
over repeats:

* **extraction** — reading the columns the policies need from the core
  (``TraceSet.summary_columns()`` and one ``annotation_column``), in traces per second;
* **decision** — :meth:`TailSampler.decide` given those columns, in traces per second;
* **end to end** — ``decide`` on a ``TraceSet`` (columns read from the documents), and on an
  ``xrfast.Analysis`` of the same traces (summary columns from the summaries it made with its
  graph: the pipeline ``analyze`` → tail sampling);
* **baseline** — the per-trace pure-Python reference (:func:`decide_reference`, one call per
  trace and policy over ``TraceSet.summaries()`` dicts), given the summaries;
* **correctness** — the columnar mask equals the reference's (budgets reset before each).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Console

import xrfast
from xrfast.bench import workload
from xrfast.sampling.tail import (
    Annotation,
    Latency,
    Policy,
    Probabilistic,
    RateLimiting,
    StatusCode,
    StringAttribute,
    TailSampler,
    TraceColumns,
    decide_reference,
)

__all__ = ["policies", "run", "traces"]

_TRACE_ID = re.compile(rb'"trace_id": ?"1-([0-9a-f]{8})-([0-9a-f]{24})"')


def policies() -> list[Policy]:
    """A typical policy set: errors, slow traces, enterprise customers, refunds, 10 % of the
    rest, and a rate limit."""
    return [
        StatusCode(["fault", "error", "throttle"], name="errors"),
        Latency(threshold_ms=1500, name="slow"),
        Annotation(key="customer_tier", values=["enterprise"], name="enterprise"),
        StringAttribute(
            key="http.url", values=[r"/refunds?/"], enabled_regex_matching=True, name="refunds"
        ),
        Probabilistic(sampling_percentage=10, name="baseline-10pct"),
        RateLimiting(traces_per_second=50, name="rate-50"),
    ]


def traces(count: int, *, base: int = 5000, seed: int = 3) -> xrfast.TraceSet:
    """``count`` traces: ``base`` generated ones, copied with new trace ids."""
    config = workload.WorkloadConfig(
        traces=min(base, count),
        seed=seed,
        fault_rate=0.05,
        error_rate=0.05,
        throttle_rate=0.02,
        in_progress_rate=0.0,
        fanout=1,
        depth=1,
        payload_bytes=(0, 0),
    )
    ndjson = workload.to_ndjson(workload.generate(config))
    copies = []
    for copy in range(-(-count // config.traces)):
        prefix = b"%03x" % copy

        def renamed(m: re.Match[bytes], prefix: bytes = prefix) -> bytes:
            return b'"trace_id":"1-' + m.group(1) + b"-" + prefix + m.group(2)[3:] + b'"'

        copies.append(_TRACE_ID.sub(renamed, ndjson))
    return xrfast.parse(b"\n".join(copies))


def _median_seconds(
    runs: int, job: Callable[[], Any], before: Callable[[], Any] = lambda: None
) -> float:
    times = []
    for _ in range(runs):
        before()
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(*, quick: bool, console: Console) -> dict[str, Any]:
    """Measures tail sampling; returns the figures (also printed).

    Arguments:
        quick: a smoke run (2,000 traces, one repeat).
        console: where to print.

    Raises:
        RuntimeError: the columnar mask (or a policy's count) differs from the reference's.

    Returns:
        ``{"traces", "repeat", "extraction_traces_per_s", "decision_traces_per_s",
        "end_to_end_traces_per_s", "end_to_end_from_analysis_traces_per_s",
        "reference_traces_per_s", "speedup", "sampled",
        "policies", "same_mask"}``.
    """
    count, repeat = (2_000, 1) if quick else (200_000, 5)
    ts = traces(count, base=1000 if quick else 5000)
    n = len(ts)
    chosen = policies()
    now = 1_717_200_000.0
    sampler = TailSampler(chosen, clock=lambda: now)

    def reset() -> None:
        sampler.reset()

    extraction = _median_seconds(repeat, lambda: TraceColumns(ts).load(chosen))
    columns = TraceColumns(ts).load(chosen)
    decision = _median_seconds(repeat, lambda: sampler.decide(columns), reset)
    end_to_end = _median_seconds(repeat, lambda: sampler.decide(ts), reset)
    analysis = xrfast.analyze(ts)
    from_analysis = _median_seconds(repeat, lambda: sampler.decide(analysis), reset)

    sampler.reset()
    mask = sampler.decide(columns)
    stats = sampler.stats()
    summaries = ts.summaries()
    baseline_repeat = 1 if quick else 3
    reference_seconds = _median_seconds(
        baseline_repeat,
        lambda: decide_reference(chosen, summaries, now=now),
        reset,
    )
    sampler.reset()
    expected, counts = decide_reference(chosen, summaries, now=now)
    same = bool(np.array_equal(mask, np.asarray(expected))) and counts == stats["policies"]

    report = {
        "traces": n,
        "repeat": repeat,
        "extraction_traces_per_s": n / extraction,
        "decision_traces_per_s": n / decision,
        "end_to_end_traces_per_s": n / end_to_end,
        "end_to_end_from_analysis_traces_per_s": n / from_analysis,
        "reference_traces_per_s": n / reference_seconds,
        "speedup": reference_seconds / decision,
        "sampled": int(mask.sum()),
        "policies": stats["policies"],
        "same_mask": same,
    }
    console.print(
        f"[bold]tail sampling[/] ({n:,} traces, {len(chosen)} policies, medians of {repeat}): "
        f"decision {report['decision_traces_per_s'] / 1e6:.2f} M traces/s, "
        f"column extraction {report['extraction_traces_per_s'] / 1e6:.2f} M traces/s, "
        f"end to end {report['end_to_end_traces_per_s'] / 1e6:.2f} M traces/s "
        f"({report['end_to_end_from_analysis_traces_per_s'] / 1e6:.2f} M from an analysis); "
        f"per-trace Python reference {report['reference_traces_per_s'] / 1e3:.0f} k traces/s "
        f"(decision {report['speedup']:.0f}x faster); kept {report['sampled']:,}; "
        f"same mask: {'yes' if same else '[red]NO[/]'}"
    )
    if not same:
        raise RuntimeError(
            "tail sampling: the columnar decisions differ from the per-trace reference"
        )
    return report


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv, console=Console())
