"""``xrfast bench`` stage ``filter``: compiled X-Ray filter expressions against a Python baseline.

The corpus is the checkout-flow workload of :mod:`xrfast.bench.workload` (same configuration as
the runner's). For each expression, two jobs select the matching traces:

* ``xrfast`` — :meth:`xrfast.Filter.select` over the assembled :class:`xrfast.TraceSet`: the
  expression compiled once, evaluated in Rust against each trace, deriving only what it reads
  (the root's flags and times cost nothing; ``http``, node names or the summary are read lazily).
* ``python`` — the equivalent Python predicate over **precomputed** ``TraceSummary`` dicts (the
  summaries are made before timing starts, so the baseline does not pay for them).

Both must select the same traces (the correctness check: a difference voids the run); figures are trace evaluations per
second, medians over repeats. Selection runs on the calling thread below
``PARALLEL_MIN_TRACES`` traces (4,096): the default corpus (3,000 traces) measures one core.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

import xrfast
from xrfast.bench import workload

#: Below this many traces ``Filter.select`` runs on the calling thread (rust/xrfast-core
#: filter/mod.rs ``PARALLEL_MIN_TRACES``).
PARALLEL_MIN_TRACES = 4096

#: The goal for simple predicates, evaluations per second on one core (issue #4).
GOAL_PER_S = 2_000_000

Summary = dict[str, Any]


def _response_time(s: Summary) -> float | None:
    value: float | None = s.get("ResponseTime")
    return value


def _has_service(s: Summary, name: str) -> bool:
    return any(service["Name"] == name for service in s["ServiceIds"])


def _annotation_is(s: Summary, key: str, text: str) -> bool:
    return any(
        v["AnnotationValue"].get("StringValue") == text for v in s["Annotations"].get(key, [])
    )


def _slow(s: Summary, seconds: float) -> bool:
    rt = _response_time(s)
    return rt is not None and rt > seconds


@dataclass(frozen=True)
class Case:
    """An expression and the Python predicate over a summary that means the same."""

    expression: str
    predicate: Callable[[Summary], bool]
    simple: bool


CASES = (
    Case("responsetime > 0.5", lambda s: _slow(s, 0.5), simple=True),
    Case("fault", lambda s: bool(s["HasFault"]), simple=True),
    Case("http.status = 502", lambda s: s["Http"].get("HttpStatus") == 502, simple=True),
    Case(
        'service("inventory-service")',
        lambda s: _has_service(s, "inventory-service"),
        simple=True,
    ),
    Case(
        '(fault OR error OR responsetime > 0.5) AND !partial AND service("inventory-service")'
        ' AND annotation.customer_tier = "enterprise" AND user BEGINSWITH "user-0"',
        lambda s: (
            (s["HasFault"] or s["HasError"] or _slow(s, 0.5))
            and not s["IsPartial"]
            and _has_service(s, "inventory-service")
            and _annotation_is(s, "customer_tier", "enterprise")
            and any(u["UserName"].startswith("user-0") for u in s["Users"])
        ),
        simple=False,
    ),
)


def _select(predicate: Callable[[Summary], bool], summaries: list[Summary]) -> list[int]:
    """The Python baseline: positions of the summaries ``predicate`` accepts."""
    return [i for i, s in enumerate(summaries) if predicate(s)]


def _median_seconds(run: Callable[[], Any], repeat: int, inner: int) -> tuple[float, Any]:
    """Median over ``repeat`` runs of the time of one call (each run times ``inner`` calls)."""
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(inner):
            result = run()
        times.append((time.perf_counter() - started) / inner)
    return statistics.median(times), result


def run(*, quick: bool, console: Console) -> dict[str, Any]:
    """Measures every case; returns the figures (``report["filter"]`` of ``xrfast bench``)."""
    traces_wanted, repeat, inner = (200, 1, 1) if quick else (3000, 5, 20)
    config = workload.WorkloadConfig(
        traces=traces_wanted, seed=1, stream_threshold=8, payload_bytes=(200, 5000)
    )
    traces = xrfast.parse(b"\n".join(workload.generate(config)))
    # What the baseline is spared: making the summaries it reads (in Rust, all cores).
    started = time.perf_counter()
    made = traces.summaries()
    summaries_seconds = time.perf_counter() - started
    # Plain dicts: the predicates read them the way any caller of orjson.loads would.
    summaries: list[Summary] = [dict(s) for s in made]
    n = len(traces)
    results = []
    for case in CASES:
        started = time.perf_counter()
        compiled = xrfast.compile_filter(case.expression)
        compile_seconds = time.perf_counter() - started
        compiled.select(traces)  # warm-up: the first call imports numpy's array machinery
        rust_s, chosen = _median_seconds(functools.partial(compiled.select, traces), repeat, inner)
        python_s, expected = _median_seconds(
            functools.partial(_select, case.predicate, summaries), repeat, inner
        )
        results.append(
            {
                "expression": case.expression,
                "simple": case.simple,
                "matches": len(expected),
                "correct": [int(i) for i in chosen] == expected,
                "compile_us": compile_seconds * 1e6,
                "xrfast_per_s": n / rust_s if rust_s > 0 else float("inf"),
                "python_per_s": n / python_s if python_s > 0 else float("inf"),
                "ns_per_trace": rust_s / n * 1e9,
                "speedup": python_s / rust_s if rust_s > 0 else float("inf"),
            }
        )
    simple = [r["xrfast_per_s"] for r in results if r["simple"]]
    report = {
        "traces": n,
        "repeat": repeat,
        "one_core": n < PARALLEL_MIN_TRACES,
        "cases": results,
        "correct": all(r["correct"] for r in results),
        "min_simple_per_s": min(simple),
        "goal_per_s": GOAL_PER_S,
        # Not part of the baseline's timing: the summaries it reads were made beforehand.
        "summaries_per_s": n / summaries_seconds if summaries_seconds > 0 else float("inf"),
    }
    console.print(table(report))
    console.print(
        f"filter: slowest simple predicate {report['min_simple_per_s']:,.0f} evaluations/s"
        f" (goal {GOAL_PER_S:,}); the Python baseline reads summaries made beforehand"
        f" ({report['summaries_per_s']:,.0f} traces/s to make them, not counted)"
    )
    for r in results:
        if not r["correct"]:
            raise SystemExit(
                f"filter {r['expression']}: xrfast and the Python predicate select different"
                " traces: the run is void"
            )
    return report


def table(report: dict[str, Any]) -> Table:
    """The figures of :func:`run` as a terminal table."""
    cores = "one core" if report["one_core"] else "all cores"
    result = Table(
        title=f"filter: trace evaluations per second ({report['traces']:,} traces, {cores},"
        " median)",
        title_justify="left",
    )
    for name in ("expression", "matches", "xrfast /s", "ns/trace", "python /s", "×", "ok"):
        result.add_column(name, justify="left" if name == "expression" else "right")
    for r in report["cases"]:
        result.add_row(
            r["expression"],
            f"{r['matches']:,}",
            f"{r['xrfast_per_s']:,.0f}",
            f"{r['ns_per_trace']:.0f}",
            f"{r['python_per_s']:,.0f}",
            f"{r['speedup']:.1f}",
            "✓" if r["correct"] else "✗",
        )
    return result


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv, console=Console())
