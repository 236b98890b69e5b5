"""``xrfast bench`` stage ``links``: link edges (SQS → Lambda) joined across traces.

The corpus is generated here (the checkout workload has no links): producer traces whose API
segment sends a batch to one of two SQS queues, and Lambda consumer traces — one per invocation,
in the shape AWS Lambda gives an SQS-triggered function — whose ``AWS::Lambda`` segment links to
one to three sends; one link in ten names a send that is not in the corpus (it stays pending).
Three jobs, medians over repeats:

* ``links`` — :func:`xrfast.analyze` of the corpus (``keep_traces=False``), then
  ``service_graph_json()``: the graph with its link edges joined across traces.
* ``baseline`` — the same documents with their ``links`` member removed, measured in the same
  run: the graph without any consumer (the SQS sends are still kept as possible link targets,
  as for any trace). ``links / baseline`` is the price of reading and joining the links.
* ``split`` — producers and consumers analysed apart, then merged: the join across analyses.

The correctness check reads the output of ``links``: the link edges' ``TotalCount`` must add up
to the resolvable links the generator made, the unresolvable ones must be pending consumers, and
``split`` must give the same graph; ``--quick`` also compares the whole graph with the
pure-Python oracle (:mod:`xrfast.bench.graph_reference`).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

import xrfast
from xrfast.bench import graph_reference, reference

ACCOUNT = "123456789012"


def _trace_id(n: int, epoch: int) -> str:
    return f"1-{epoch:08x}-{n:024x}"


def corpus(producers: int, seed: int = 1) -> tuple[list[bytes], list[bytes], int, int]:
    """(producer documents, consumer documents, resolvable links, dangling links)."""
    rng = random.Random(seed)
    produced: list[bytes] = []
    consumed: list[bytes] = []
    sends: list[tuple[str, str, float]] = []
    resolvable = dangling = 0
    base = 1_795_000_000.0
    for n in range(producers):
        at = base + n * 0.05 + rng.random() * 0.01
        trace = _trace_id(n + 1, int(at))
        send = f"{0x5E0000000000 + n:016x}"
        queue = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/orders-{rng.randrange(2)}"
        produced.append(
            orjson.dumps(
                {
                    "id": f"{0xA00000000000 + n:016x}",
                    "name": "orders-api",
                    "start_time": at - 0.01,
                    "end_time": at + 0.04,
                    "trace_id": trace,
                    "origin": "AWS::EC2::Instance",
                    "http": {"request": {"method": "POST"}, "response": {"status": 202}},
                    "subsegments": [
                        {
                            "id": send,
                            "name": "SQS",
                            "start_time": at,
                            "end_time": at + 0.008,
                            "namespace": "aws",
                            "aws": {"operation": "SendMessageBatch", "queue_url": queue},
                            "http": {"response": {"status": 200}},
                        }
                    ],
                }
            )
        )
        sends.append((trace, send, at))
        # Every few sends, one invocation receives a batch of the latest ones.
        if n % 2 == 1:
            batch = sends[-rng.randrange(1, 4) :]
            start = batch[-1][2] + 0.02 + rng.random() * 2.0
            links = [{"trace_id": t, "id": i} for t, i, _ in batch]
            resolvable += len(links)
            if rng.randrange(10) == 0:
                links.append({"trace_id": _trace_id(10**9 + n, int(start)), "id": send})
                dangling += 1
            consumer = f"{0xC00000000000 + n:016x}"
            trace_b = _trace_id(10**8 + n, int(start))
            flags = {"fault": True} if rng.randrange(20) == 0 else {}
            consumed.append(
                orjson.dumps(
                    {
                        "id": consumer,
                        "name": f"orders-worker-{rng.randrange(2)}",
                        "start_time": start,
                        "end_time": start + 0.1 + rng.random() * 0.2,
                        "trace_id": trace_b,
                        "origin": "AWS::Lambda",
                        "links": links,
                        **flags,
                    }
                )
            )
    return produced, consumed, resolvable, dangling


def _without_links(docs: list[bytes]) -> list[bytes]:
    out = []
    for doc in docs:
        value = orjson.loads(doc)
        value.pop("links", None)
        out.append(orjson.dumps(value))
    return out


def _median(job: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    runs, output = [], None
    for _ in range(repeat):
        output = None
        started = time.perf_counter()
        output = job()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), output


def _link_total(graph: dict[str, Any]) -> int:
    return sum(
        edge["SummaryStatistics"]["TotalCount"]
        for service in graph["Services"]
        for edge in service["Edges"]
        if edge.get("EdgeType") == "link"
    )


def run(*, quick: bool, console: Console) -> dict[str, Any]:
    """Measures the three jobs; returns the figures (``report["links"]`` of ``xrfast bench``)."""
    producers, repeat = (200, 1) if quick else (20_000, 5)
    produced, consumed, resolvable, dangling = corpus(producers)
    docs = produced + consumed
    ndjson = b"\n".join(docs)
    plain = b"\n".join(_without_links(docs))
    apart = (b"\n".join(produced), b"\n".join(consumed))

    def links() -> tuple[bytes, dict[str, int]]:
        analysis = xrfast.analyze(ndjson, keep_traces=False)
        return analysis.service_graph_json(), dict(analysis.link_counters)

    def baseline() -> bytes:
        return xrfast.analyze(plain, keep_traces=False).service_graph_json()

    def split() -> bytes:
        a, b = (xrfast.analyze(part, keep_traces=False) for part in apart)
        return a.merge(b).service_graph_json()

    baseline()  # warm-up: the thread pool and allocator
    links_s, (graph_json, counters) = _median(links, repeat)
    baseline_s, _ = _median(baseline, repeat)
    split_s, split_json = _median(split, repeat)
    graph = orjson.loads(graph_json)
    checks = {
        "link_requests": _link_total(graph) == resolvable,
        "pending_consumers": counters["pending_consumers"] == dangling,
        "split_equals_whole": orjson.loads(split_json) == graph,
    }
    if quick:
        oracle = graph_reference.ServiceGraph()
        for trace in reference.assemble(docs):
            oracle.add(trace, root=reference.trace_info(trace)["root"])
        checks["oracle"] = graph["Services"] == oracle.services()
    report = {
        "traces": len(docs),
        "producers": len(produced),
        "consumers": len(consumed),
        "links": resolvable + dangling,
        "repeat": repeat,
        "links_seconds": links_s,
        "baseline_seconds": baseline_s,
        "split_seconds": split_s,
        "links_over_baseline": links_s / baseline_s if baseline_s > 0 else float("inf"),
        # What joining costs per link: the time links add over the baseline, per link.
        "added_ns_per_link": (links_s - baseline_s) / (resolvable + dangling) * 1e9,
        "checks": checks,
        "correct": all(checks.values()),
    }
    console.print(table(report))
    console.print(
        f"links: {report['links_over_baseline']:.2f}× the graph without links,"
        f" {report['added_ns_per_link']:,.0f} ns added per link"
    )
    if not report["correct"]:
        failed = ", ".join(name for name, ok in checks.items() if not ok)
        raise SystemExit(f"links: the link edges are wrong ({failed}): the run is void")
    return report


def table(report: dict[str, Any]) -> Table:
    """The figures of :func:`run` as a terminal table."""
    result = Table(
        title=f"links: {report['traces']:,} traces, {report['links']:,} links (median of"
        f" {report['repeat']})",
        title_justify="left",
    )
    for name in ("job", "seconds", "× baseline"):
        result.add_column(name, justify="left" if name == "job" else "right")
    base = report["baseline_seconds"]
    for job in ("baseline", "links", "split"):
        seconds = report[f"{job}_seconds"]
        result.add_row(job, f"{seconds:.4f}", f"{seconds / base:.2f}" if base > 0 else "-")
    return result


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv, console=Console())
