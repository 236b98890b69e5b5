"""Parse + assemble benchmark: xrfast against the baselines, measured in one run on the same bytes.

    python benches/assemble.py [--traces 3000] [--repeat 5] [--out bench-results/assemble.json]

The corpus is the checkout-flow workload (xrfast.bench.workload): 0.3–8 KB documents, streamed
subsegments, in-progress then complete documents, interleaved traces. Each job runs `--repeat`
times; the table shows medians. Every job's output is cross-checked against the pure-Python
reference (same traces, same segment trees, same durations): a fast wrong answer fails the run.

Jobs:
  reference/json    the pure-Python implementation with the stdlib json module
  reference/orjson  the same with orjson: what a Python user writes today
  parse-only/<p>    a JSON parser alone on every document (Rust, single-threaded):
                    sonic-rs, sonic-rs-lazy (validate only), simd-json, serde_json
  xrfast            xrfast.parse: frame, validate, assemble (GIL released, parallel parse)
  xrfast+json       the same, plus the BatchGetTraces JSON of every trace
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import orjson
import xrfast
from xrfast import _core
from xrfast.bench import reference, workload

PARSERS = ("sonic-rs", "sonic-rs-lazy", "simd-json", "serde_json")


def timed(job: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        result = None  # the previous result is freed before the clock starts, not inside it
        start = time.perf_counter()
        result = job()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def corpus(traces: int, seed: int) -> tuple[list[bytes], bytes]:
    config = workload.WorkloadConfig(
        traces=traces,
        seed=seed,
        stream_threshold=8,
        payload_bytes=(200, 5000),
        in_progress_rate=0.1,
    )
    docs = workload.generate(config)
    return docs, workload.to_ndjson(docs)


def memory_per_segment(data: bytes) -> float:
    """Bytes of memory the assembler holds per buffered (sub)segment, all traces open."""
    assembler = xrfast.TraceAssembler(idle_timeout=1e9, incomplete_timeout=1e9)
    assembler.add(data, now=0.0)
    stats = assembler.stats
    return stats["memory_bytes"] / stats["buffered_segments"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench-results/assemble.json"))
    args = parser.parse_args(argv)

    docs, data = corpus(args.traces, args.seed)
    lines = data.splitlines()
    sizes = sorted(len(d) for d in docs)
    print(
        f"corpus: {len(docs):,} documents, {len(data) / 1e6:.1f} MB, document size "
        f"p10 {sizes[len(sizes) // 10]} B, median {sizes[len(sizes) // 2]} B, p90 {sizes[9 * len(sizes) // 10]} B"
    )

    expected = reference.digest({"Traces": reference.assemble(lines)})
    results: dict[str, float] = {}

    def check(name: str, batch_get_traces: dict[str, Any]) -> None:
        if reference.digest(batch_get_traces) != expected:
            raise SystemExit(f"{name}: output differs from the reference: the run is void")

    slow_repeat = max(1, min(args.repeat, 3))
    for name, loads in (("reference/json", json.loads), ("reference/orjson", orjson.loads)):

        def pipeline(loads: Callable[[bytes], Any] = loads) -> bytes:
            return reference.to_batch_get_traces_json(reference.assemble(lines, loads=loads))

        seconds, traces = timed(pipeline, slow_repeat)
        check(name, orjson.loads(traces))
        results[name] = seconds
    for name in PARSERS:
        seconds, (ok, failed) = timed(functools.partial(_core.parse_only, data, name), args.repeat)
        if ok != len(docs) or failed:
            raise SystemExit(f"parse-only/{name}: parsed {ok} of {len(docs)} documents")
        results[f"parse-only/{name}"] = seconds
    seconds, traces = timed(lambda: xrfast.parse(data), args.repeat)
    check("xrfast", orjson.loads(traces.to_json()))
    results["xrfast"] = seconds
    seconds, body = timed(lambda: xrfast.parse(data).to_json(), args.repeat)
    check("xrfast+json", orjson.loads(body))
    results["xrfast+json"] = seconds

    fastest_parser = min(PARSERS, key=lambda p: results[f"parse-only/{p}"])
    report = {
        "command": "python benches/assemble.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "xrfast": xrfast.__version__,
        "documents": len(docs),
        "bytes": len(data),
        "repeat": args.repeat,
        "median_seconds": results,
        "ratios": {
            "xrfast / reference-orjson (speed-up)": results["reference/orjson"] / results["xrfast"],
            "xrfast+json / reference-orjson (speed-up)": results["reference/orjson"]
            / results["xrfast+json"],
            f"xrfast / parse-only {fastest_parser} (share of parser throughput)": results[
                f"parse-only/{fastest_parser}"
            ]
            / results["xrfast"],
        },
        "memory_bytes_per_buffered_segment": memory_per_segment(data),
    }

    print(f"\n{'job':<28}{'median s':>10}{'MB/s':>10}{'docs/s':>14}{'ns/doc':>10}")
    for name, seconds in results.items():
        print(
            f"{name:<28}{seconds:>10.4f}{len(data) / seconds / 1e6:>10.1f}"
            f"{len(docs) / seconds:>14,.0f}{seconds / len(docs) * 1e9:>10.0f}"
        )
    print()
    for name, ratio in report["ratios"].items():
        print(f"{name}: {ratio:.2f}")
    print(f"memory per buffered segment: {report['memory_bytes_per_buffered_segment']:.0f} bytes")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
