"""``xrfast bench``: every performance claim of the project, measured side by side in one run.

One corpus (the checkout-flow workload of :mod:`xrfast.bench.workload`, deterministic by seed) is
fed to every job of a stage. Each job runs ``repeat`` times and reports its median; every job that
produces traces is cross-checked against the pure-Python reference (:mod:`xrfast.bench.reference`)
— a fast wrong answer voids the run. Ratios compare jobs measured in the same run on the same bytes.

Stages and jobs:

* ``parse`` — JSON parsing alone: stdlib ``json``, ``orjson`` and ``msgspec`` (Python, one
  document at a time), and the Rust parsers sonic-rs (DOM and validate-only), simd-json and
  serde_json (single-threaded).
* ``assemble`` — the whole job, bytes to ``BatchGetTraces`` traces: the pure-Python pipeline with
  each of the three decoders (what a Python user writes today), ``xrfast.parse``, and
  ``xrfast.parse`` + ``to_json``.
* ``sampling`` — the cost of a head-sampling decision against the AWS X-Ray SDK's local sampler,
  decisions cross-checked (:mod:`xrfast.bench.sampling`).

Scaling curves (``--scaling``): throughput against document size, against the number of traces
open at once (a streaming ``TraceAssembler``), and with 1 versus 2 threads.

Results: a terminal table, ``results.json`` and ``chart.png`` (matplotlib, from ``xrfast[bench]``)
in ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

import xrfast
from xrfast import _core
from xrfast.bench import collector as collector_bench
from xrfast.bench import filter as filter_bench
from xrfast.bench import links as links_bench
from xrfast.bench import reference, sampling, workload
from xrfast.bench import tail as tail_bench

RUST_PARSERS = ("sonic-rs", "sonic-rs-lazy", "simd-json", "serde_json")
#: The Python pipeline's baseline: what the speed-up goals are measured against.
BASELINE = "assemble/orjson"


@dataclass(frozen=True)
class Corpus:
    """The bytes every job reads, in the forms the jobs take them."""

    documents: list[bytes]
    ndjson: bytes

    @property
    def lines(self) -> list[bytes]:
        return self.ndjson.splitlines()

    @classmethod
    def generate(cls, config: workload.WorkloadConfig) -> Corpus:
        documents = workload.generate(config)
        return cls(documents, workload.to_ndjson(documents))


@dataclass(frozen=True)
class Job:
    """One measured job: ``run`` does the work; ``check`` says whether its output is right
    (``None`` for parse-only jobs, which produce nothing to compare)."""

    name: str
    run: Callable[[], Any]
    check: Callable[[Any], bool] | None = None


class Expected:
    """What the pure-Python references say the corpus assembles to, computed once, on demand."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    @functools.cached_property
    def traces(self) -> list[dict[str, Any]]:
        return reference.assemble(self.corpus.lines)

    @functools.cached_property
    def digest(self) -> dict[str, Any]:
        return reference.digest({"Traces": self.traces})

    @functools.cached_property
    def flags(self) -> dict[str, tuple[Any, ...]]:
        from xrfast.bench import summary_reference

        found = {}
        for trace in self.traces:
            info = reference.trace_info(trace)
            summary = summary_reference.summarize(trace, root=info["root"], partial=info["partial"])
            found[summary["Id"]] = _flags(summary)
        return found

    @functools.cached_property
    def services(self) -> dict[tuple[str, str], Any]:
        from xrfast.bench import graph_reference

        graph = graph_reference.ServiceGraph()
        for trace in self.traces:
            graph.add(trace, root=reference.trace_info(trace)["root"])
        return _nodes(graph.services())

    def same_traces(self, batch_get_traces: dict[str, Any]) -> bool:
        return reference.digest(batch_get_traces) == self.digest

    def same_summaries(self, summaries_json: bytes) -> bool:
        summaries = orjson.loads(summaries_json)["TraceSummaries"]
        return {s["Id"]: _flags(s) for s in summaries} == self.flags

    def same_graph(self, service_graph_json: bytes) -> bool:
        return _nodes(orjson.loads(service_graph_json)["Services"]) == self.services


def _nodes(services: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """What the graph cross-check compares: each node's request counts and its edges' counts."""
    return {
        (s["Name"], s.get("Type") or ""): (
            s.get("SummaryStatistics", {}).get("TotalCount"),
            sorted(e["SummaryStatistics"]["TotalCount"] for e in s.get("Edges", [])),
        )
        for s in services
    }


def _flags(summary: dict[str, Any]) -> tuple[Any, ...]:
    """What the summaries cross-check compares: the flags and the services touched."""
    services = sorted((s["Name"], s.get("Type") or "") for s in summary["ServiceIds"])
    keys = ("HasFault", "HasError", "HasThrottle", "IsPartial")
    return (*(summary.get(k) for k in keys), tuple(services))


@dataclass
class Result:
    name: str
    seconds: float
    documents: int
    bytes: int
    peak_memory_bytes: int | None = None
    runs: list[float] = field(default_factory=list)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6

    @property
    def documents_per_s(self) -> float:
        return self.documents / self.seconds

    @property
    def ns_per_document(self) -> float:
        return self.seconds / self.documents * 1e9


def jobs(corpus: Corpus, expected: Expected | None = None) -> list[Job]:
    """Every job of the ``parse``, ``assemble`` and ``analyze`` stages on `corpus`."""
    expected = expected or Expected(corpus)
    import msgspec  # part of xrfast[bench]: imported where it is needed

    lines = corpus.lines
    decoders: dict[str, Callable[[bytes], Any]] = {
        "json": json.loads,
        "orjson": orjson.loads,
        "msgspec": msgspec.json.decode,
    }

    def parse_python(loads: Callable[[bytes], Any]) -> int:
        return len([loads(line) for line in lines])

    def assemble_python(loads: Callable[[bytes], Any]) -> bytes:
        return reference.to_batch_get_traces_json(reference.assemble(lines, loads=loads))

    found: list[Job] = []
    for name, loads in decoders.items():
        found.append(Job(f"parse/{name}", functools.partial(parse_python, loads)))
    for parser in RUST_PARSERS:
        found.append(
            Job(f"parse/{parser}", functools.partial(_core.parse_only, corpus.ndjson, parser))
        )
    for name, loads in decoders.items():
        found.append(
            Job(
                f"assemble/{name}",
                functools.partial(assemble_python, loads),
                lambda out: expected.same_traces(orjson.loads(out)),
            )
        )
    found.append(
        Job(
            "assemble/xrfast",
            lambda: xrfast.parse(corpus.ndjson),
            lambda ts: expected.same_traces(orjson.loads(ts.to_json())),
        )
    )
    found.append(
        Job(
            "assemble/xrfast+json",
            lambda: xrfast.parse(corpus.ndjson).to_json(),
            lambda out: expected.same_traces(orjson.loads(out)),
        )
    )
    # Analysis stages, each on top of parse + assemble, so its cost shows against assemble/xrfast.
    found.append(
        Job(
            "analyze/summaries",
            lambda: xrfast.parse(corpus.ndjson).summaries_json(),
            expected.same_summaries,
        )
    )
    found.append(
        Job(
            "analyze/graph",
            lambda: xrfast.analyze(corpus.ndjson).service_graph_json(),
            expected.same_graph,
        )
    )
    # What `xrfast analyze` does: summaries and graph (with its sketches) from one reading of
    # each trace; issue #3 bounds its cost over assemble/xrfast.
    found.append(
        Job(
            "analyze/all",
            lambda: _summaries_and_graph(xrfast.analyze(corpus.ndjson)),
            lambda out: expected.same_summaries(out[0]) and expected.same_graph(out[1]),
        )
    )
    return found


def _summaries_and_graph(analysis: xrfast.Analysis) -> tuple[bytes, bytes]:
    return analysis.summaries_json(), analysis.service_graph_json()


def measure(job: Job, corpus: Corpus, repeat: int) -> tuple[Result, Any]:
    """Median wall time of `repeat` runs of `job`; the previous run's result is freed first."""
    runs, output = [], None
    for _ in range(repeat):
        output = None
        start = time.perf_counter()
        output = job.run()
        runs.append(time.perf_counter() - start)
    seconds = statistics.median(runs)
    return Result(job.name, seconds, len(corpus.documents), len(corpus.ndjson), runs=runs), output


def peak_memory(name: str, corpus_path: Path) -> int | None:
    """Bytes job `name` adds at its peak, measured in a fresh interpreter.

    A fresh process, not a fork: a forked child of a process whose Rust thread pool is running
    has no pool threads, and the first parallel call would wait for them forever.
    """
    code = f"from xrfast.bench.runner import _peak_in_child; _peak_in_child({name!r}, {str(corpus_path)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    return int(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


def _peak_in_child(name: str, corpus_path: str) -> None:
    """In the child: rebuild the corpus and job `name`, run it once, print its peak growth."""
    ndjson = Path(corpus_path).read_bytes()
    corpus = Corpus(ndjson.splitlines(), ndjson)
    job = next(j for j in jobs(corpus) if j.name == name)
    before = _resident_bytes()
    job.run()
    print(max(0, _peak_resident_bytes() - before))


def _peak_resident_bytes() -> int:
    """The peak resident set of this process image. Linux's ``VmHWM`` starts afresh at exec;
    ``ru_maxrss`` would still hold the peak of the (large) benchmark process that started it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_stages(corpus: Corpus, repeat: int, *, memory: bool, console: Console) -> list[Result]:
    """Measures and cross-checks every job; raises SystemExit if any output differs."""
    expected = Expected(corpus)
    corpus_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"xrfast-bench-{os.getpid()}.ndjson"
    if memory:
        corpus_path.write_bytes(corpus.ndjson)
    results = []
    for job in jobs(corpus, expected):
        # The pure-Python pipelines take seconds a run: three runs give a median without
        # spending the whole benchmark on them.
        times = (
            min(repeat, 3)
            if job.name in {"assemble/json", "assemble/orjson", "assemble/msgspec"}
            else repeat
        )
        console.print(f"  {job.name:<24} ", end="")
        result, output = measure(job, corpus, times)
        if job.check is not None and not job.check(output):
            raise SystemExit(f"{job.name}: output differs from the reference: the run is void")
        if memory:
            result.peak_memory_bytes = peak_memory(job.name, corpus_path)
        console.print(f"{result.seconds * 1000:9.1f} ms")
        results.append(result)
    corpus_path.unlink(missing_ok=True)
    return results


def paired_overhead(corpus: Corpus, pairs: int) -> dict[str, Any]:
    """What ``xrfast.analyze`` adds to ``xrfast.parse`` on the same bytes, timed in alternating
    pairs: a shared machine's speed drifts between jobs timed apart, much less between the two
    runs of one pair. The figure is the median of the pairs' ratios, minus one."""
    ratios_, parse_runs, analyze_runs = [], [], []
    for _ in range(pairs):
        timed = []
        for run in (lambda: xrfast.parse(corpus.ndjson), lambda: xrfast.analyze(corpus.ndjson)):
            output = None
            start = time.perf_counter()
            output = run()
            timed.append(time.perf_counter() - start)
            del output
        parse_runs.append(timed[0])
        analyze_runs.append(timed[1])
        ratios_.append(timed[1] / timed[0])
    return {
        "pairs": pairs,
        "added_time": statistics.median(ratios_) - 1,
        "parse_runs": parse_runs,
        "analyze_runs": analyze_runs,
    }


def scaling(
    config: workload.WorkloadConfig, repeat: int, console: Console
) -> dict[str, list[dict[str, float]]]:
    """Throughput of ``xrfast.parse`` against document size, open traces and threads."""
    curves: dict[str, list[dict[str, float]]] = {
        "document_size": [],
        "open_traces": [],
        "threads": [],
    }
    console.print("  document size", end="")
    for low, high in ((0, 300), (300, 1500), (1500, 6000), (6000, 20000), (20000, 60000)):
        sized = _replace(
            config, payload_bytes=(low, high), traces=max(50, config.traces * 800 // (high + 800))
        )
        corpus = Corpus.generate(sized)
        result, _ = measure(Job("xrfast", lambda c=corpus: xrfast.parse(c.ndjson)), corpus, repeat)
        parser, _ = measure(
            Job("sonic-rs", lambda c=corpus: _core.parse_only(c.ndjson, "sonic-rs")), corpus, repeat
        )
        curves["document_size"].append(
            {
                "mean_document_bytes": len(corpus.ndjson) / len(corpus.documents),
                "mb_per_s": result.mb_per_s,
                "documents_per_s": result.documents_per_s,
                "share_of_parser": parser.seconds / result.seconds,
            }
        )
        console.print(".", end="")
    console.print("\n  open traces", end="")
    for concurrency in (10, 100, 1000, 10000):
        corpus = Corpus.generate(
            _replace(config, concurrency=concurrency, traces=max(config.traces, concurrency))
        )
        result, _ = measure(Job("stream", functools.partial(_stream, corpus)), corpus, repeat)
        curves["open_traces"].append(
            {
                "open_traces": concurrency,
                "mb_per_s": result.mb_per_s,
                "documents_per_s": result.documents_per_s,
            }
        )
        console.print(".", end="")
    console.print("\n  threads", end="")
    corpus = Corpus.generate(config)
    for threads in (1, 2):
        seconds = _in_subprocess(corpus, threads, repeat)
        curves["threads"].append(
            {"threads": threads, "mb_per_s": len(corpus.ndjson) / seconds / 1e6}
        )
        console.print(".", end="")
    console.print()
    return curves


def _stream(corpus: Corpus, batch: int = 1000) -> int:
    """The collector's way: batches in, complete traces out on the stream's own clock."""
    assembler = xrfast.TraceAssembler(idle_timeout=1.0, incomplete_timeout=30.0)
    emitted = 0
    for start in range(0, len(corpus.documents), batch):
        assembler.add(
            corpus.documents[start : start + batch], now=assembler.event_time, format="document"
        )
        emitted += len(assembler.pop_complete(assembler.event_time))
    return emitted + len(assembler.flush())


def _in_subprocess(corpus: Corpus, threads: int, repeat: int) -> float:
    """Median seconds of ``xrfast.parse`` in a fresh interpreter whose thread pool has `threads`."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"xrfast-bench-{os.getpid()}.ndjson"
    path.write_bytes(corpus.ndjson)
    code = (
        "import statistics, sys, time, xrfast\n"
        f"data = open({str(path)!r}, 'rb').read()\n"
        "runs = []\n"
        f"for _ in range({repeat}):\n"
        "    start = time.perf_counter(); xrfast.parse(data); runs.append(time.perf_counter() - start)\n"
        "print(statistics.median(runs))\n"
    )
    try:
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return float(out.stdout)
    finally:
        path.unlink(missing_ok=True)


def _replace(config: workload.WorkloadConfig, **changes: Any) -> workload.WorkloadConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)


def ratios(results: Sequence[Result]) -> dict[str, float]:
    """Speed-ups of xrfast against each Python pipeline, and its share of the fastest parser."""
    by_name = {r.name: r for r in results}
    fastest = min(
        (r for r in results if r.name.removeprefix("parse/") in RUST_PARSERS),
        key=lambda r: r.seconds,
    )
    found = {}
    for job in ("assemble/xrfast", "assemble/xrfast+json"):
        for baseline in ("assemble/json", "assemble/orjson", "assemble/msgspec"):
            found[f"{job} vs {baseline} (speed-up)"] = (
                by_name[baseline].seconds / by_name[job].seconds
            )
    found[f"assemble/xrfast vs {fastest.name} (share of parser throughput)"] = (
        fastest.seconds / by_name["assemble/xrfast"].seconds
    )
    assemble = by_name["assemble/xrfast"].seconds
    for r in results:
        if r.name.startswith("analyze/"):
            found[f"{r.name} over assemble/xrfast (added time)"] = r.seconds / assemble - 1
    return found


def table(results: Sequence[Result]) -> Table:
    baseline = next(r for r in results if r.name == BASELINE)
    view = Table(title="xrfast bench: medians, same corpus, same run", title_justify="left")
    for column in (
        "job",
        "median ms",
        "MB/s",
        "documents/s",
        "ns/document",
        "peak memory",
        f"vs {BASELINE}",
    ):
        view.add_column(column, justify="left" if column == "job" else "right")
    for r in results:
        memory = "" if r.peak_memory_bytes is None else f"{r.peak_memory_bytes / 2**20:,.0f} MiB"
        versus = f"{baseline.seconds / r.seconds:.1f}×" if not r.name.startswith("parse/") else ""
        style = "bold" if r.name.startswith("assemble/xrfast") else None
        view.add_row(
            r.name,
            f"{r.seconds * 1000:,.1f}",
            f"{r.mb_per_s:,.1f}",
            f"{r.documents_per_s:,.0f}",
            f"{r.ns_per_document:,.0f}",
            memory,
            versus,
            style=style,
        )
    return view


def markdown(report: dict[str, Any]) -> str:
    """The results as a Markdown table, for the README."""
    baseline = next(r for r in report["results"] if r["name"] == BASELINE)
    rows = [
        "| job | median ms | MB/s | documents/s | peak memory | vs. orjson pipeline |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        memory = (
            "" if r["peak_memory_bytes"] is None else f"{r['peak_memory_bytes'] / 2**20:,.0f} MiB"
        )
        versus = (
            f"{baseline['median_seconds'] / r['median_seconds']:.1f}×"
            if not r["name"].startswith("parse/")
            else ""
        )
        name = f"**{r['name']}**" if r["name"].startswith("assemble/xrfast") else r["name"]
        rows.append(
            f"| {name} | {r['median_seconds'] * 1000:,.1f} | {r['mb_per_s']:,.1f} "
            f"| {r['documents_per_s']:,.0f} | {memory} | {versus} |"
        )
    return "\n".join(rows)


def chart(report: dict[str, Any], path: Path) -> bool:
    """Writes the results as a PNG; False when matplotlib (``xrfast[bench]``) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    jobs_ = report["results"]
    scaled = report.get("scaling")
    figure, axes = plt.subplots(
        1, 4 if scaled else 1, figsize=(18 if scaled else 8, 4.8), squeeze=False
    )
    bars = axes[0][0]
    names = [r["name"] for r in jobs_]
    palette = {"parse": "#7f7f7f", "assemble": "#1f77b4", "analyze": "#ff7f0e"}
    colors = [
        "#d62728" if n.startswith("assemble/xrfast") else palette[n.split("/")[0]] for n in names
    ]
    bars.barh(names, [r["mb_per_s"] for r in jobs_], color=colors)
    bars.set_xscale("log")
    bars.invert_yaxis()
    bars.set_xlabel("MB/s (log scale)")
    bars.set_title("Throughput per job (grey: parsing only; red: xrfast; orange: + analysis)")
    if scaled:
        size, open_, threads = axes[0][1], axes[0][2], axes[0][3]
        points = scaled["document_size"]
        size.plot(
            [p["mean_document_bytes"] for p in points], [p["mb_per_s"] for p in points], marker="o"
        )
        size.set_xscale("log")
        size.set_xlabel("mean document size (bytes)")
        size.set_ylabel("xrfast.parse MB/s")
        size.set_title("Document size")
        points = scaled["open_traces"]
        open_.plot(
            [p["open_traces"] for p in points], [p["documents_per_s"] for p in points], marker="o"
        )
        open_.set_xscale("log")
        open_.set_xlabel("traces open at once")
        open_.set_ylabel("TraceAssembler documents/s")
        open_.set_title("Open traces (streaming)")
        points = scaled["threads"]
        threads.bar([str(p["threads"]) for p in points], [p["mb_per_s"] for p in points])
        threads.set_xlabel("threads")
        threads.set_ylabel("xrfast.parse MB/s")
        threads.set_title("Threads")
    figure.suptitle(f"xrfast bench — {report['machine']}, {report['documents']:,} documents")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="xrfast bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv), Console())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The runner's options (shared by ``xrfast bench`` and ``python -m xrfast.bench``)."""
    parser.add_argument(
        "--traces", type=int, default=3000, help="traces in the corpus (default 3000, ~80 MB)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs per job; the median is reported"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        help="directory for results.json and chart.png",
    )
    parser.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the scaling curves",
    )
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure peak memory per job",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 100 traces, one run each, no curves"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")


def run(args: argparse.Namespace, console: Console) -> int:
    """Runs the benchmark described by `args`; returns the exit code."""
    if args.quick:
        args.traces, args.repeat, args.scaling = 100, 1, False
    config = workload.WorkloadConfig(
        traces=args.traces, seed=args.seed, stream_threshold=8, payload_bytes=(200, 5000)
    )
    corpus = Corpus.generate(config)
    sizes = sorted(len(d) for d in corpus.documents)
    console.print(
        f"[bold]corpus[/]: {len(sizes):,} documents, {len(corpus.ndjson) / 1e6:.1f} MB "
        f"(document size p10 {sizes[len(sizes) // 10]:,} B, median {sizes[len(sizes) // 2]:,} B, "
        f"p90 {sizes[9 * len(sizes) // 10]:,} B), seed {args.seed}"
    )
    # Start the Rust thread pool before anything is timed.
    xrfast.parse(b"\n".join(corpus.documents[:2000]), on_error="skip")
    results = run_stages(corpus, args.repeat, memory=args.memory, console=console)
    report: dict[str, Any] = {
        "command": "xrfast bench "
        + " ".join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "xrfast": xrfast.__version__,
        "documents": len(corpus.documents),
        "bytes": len(corpus.ndjson),
        "repeat": args.repeat,
        "results": [
            {
                "name": r.name,
                "median_seconds": r.seconds,
                "runs": r.runs,
                "mb_per_s": r.mb_per_s,
                "documents_per_s": r.documents_per_s,
                "ns_per_document": r.ns_per_document,
                "peak_memory_bytes": r.peak_memory_bytes,
            }
            for r in results
        ],
        "ratios": ratios(results),
        "analyze_over_assemble_pairs": paired_overhead(corpus, 3 * args.repeat),
        "memory_bytes_per_buffered_segment": _memory_per_segment(corpus),
    }
    report["filter"] = filter_bench.run(quick=args.quick, console=console)
    report["links"] = links_bench.run(quick=args.quick, console=console)
    if args.scaling:
        console.print("[bold]scaling[/]")
        report["scaling"] = scaling(config, args.repeat, console)
    report["collector"] = collector_bench.run(quick=args.quick, console=console)
    report["sampling"] = sampling.run(quick=args.quick, console=console)
    report["tail"] = tail_bench.run(quick=args.quick, console=console)
    console.print(table(results))
    for name, value in report["ratios"].items():
        console.print(f"{name}: [bold]{value:.2f}[/]")
    pairs = report["analyze_over_assemble_pairs"]
    console.print(
        f"xrfast.analyze over xrfast.parse, {pairs['pairs']} alternating pairs (added time): "
        f"[bold]{pairs['added_time']:.2f}[/]"
    )
    console.print(
        f"assembler memory per buffered (sub)segment: {report['memory_bytes_per_buffered_segment']:.0f} bytes"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        console.print(markdown(report), markup=False, highlight=False)
    console.print(f"results: {args.out / 'results.json'}")
    if chart(report, args.out / "chart.png"):
        console.print(f"chart: {args.out / 'chart.png'}")
    else:
        console.print("chart: skipped (install xrfast[bench] for matplotlib)")
    return 0


def _memory_per_segment(corpus: Corpus) -> float:
    """Bytes the assembler holds per buffered (sub)segment with every trace open."""
    assembler = xrfast.TraceAssembler(idle_timeout=1e9, incomplete_timeout=1e9)
    assembler.add(corpus.ndjson, now=0.0)
    stats = assembler.stats
    return stats["memory_bytes"] / stats["buffered_segments"]
