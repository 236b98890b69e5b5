"""The ``xrfast`` command line.

``xrfast demo`` shows segments captured from the real AWS X-Ray SDK for Python (shipped in the
package, no network), then a generated checkout flow in which a few orders silently vanish after
payment; ``xrfast traces FILE...`` shows the traces in your files: a summary line, a table of
traces and the tree of one trace, or ``--json`` for the ``BatchGetTraces`` shape. ``xrfast analyze
FILE...`` shows trace summaries, the service map, problem traces and the paths traces took (rare
and truncated ones picked out), or ``--json`` for X-Ray's shapes; ``--filter EXPR`` keeps the
traces an X-Ray filter expression matches.

Exit codes: 0 success; 1 some documents were rejected (they are listed, and the rest is still
shown); 2 usage error or unreadable input (one line on stderr, no traceback).

Adding a subcommand: write ``def name(args, console) -> int`` and add one :class:`Command` to
:data:`COMMANDS`, with the option groups it takes (shared groups are the ``*_options`` functions).
The rendering lives in :mod:`xrfast.render`.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any, NoReturn, cast

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.text import Text

import xrfast
from xrfast import TraceAssembler, TraceSet, UnprocessedTraceSegment, render

if TYPE_CHECKING:
    from xrfast._core import Format, OnError

PROG = "xrfast"

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
#: What a shell reports for a program killed by SIGPIPE (``xrfast demo | head``).
EXIT_BROKEN_PIPE = 128 + 13

#: The ``format=`` names of :func:`xrfast.parse` (``tests/test_cli.py`` checks they match).
FORMATS = (
    "auto",
    "document",
    "datagram",
    "ndjson",
    "array",
    "put_trace_segments",
    "batch_get_traces",
)

#: Package data read by ``xrfast demo`` (a copy of ``tests/fixtures/sdk/stream.ndjson``).
DEMO_DATA = "data/sdk-checkout.ndjson"

#: Output width when stdout is not a terminal and ``COLUMNS`` is not set (rich would use 80).
PIPE_WIDTH = 100

#: Files larger than this are read with a progress bar (on stderr, when it is a terminal).
LARGE_INPUT_BYTES = 50 * 1024 * 1024

#: The generated checkout scenario of ``xrfast demo``: 120 orders through API Gateway, the
#: order-service Lambda, Stripe, inventory-service on Fargate (RDS, DynamoDB) and, via SNS, the
#: notification-service Lambda; a few orders vanish after payment (a fixed seed: always the same).
DEMO_CHECKOUT: dict[str, Any] = {
    "traces": 120,
    "seed": 2023,
    "vanish_rate": 0.03,
    "payload_bytes": (0, 200),
}


class UsageError(Exception):
    """A problem with the command line or its input: printed as one line, exit code 2."""


class DocumentRejected(Exception):
    """A document was rejected with ``--on-error raise``: printed as one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# --------------------------------------------------------------------------------------------
# Reading and assembling


@dataclass
class Assembled:
    """The traces read from some inputs, with what it took."""

    traces: TraceSet
    #: Rejected documents, and the input each came from (parallel lists).
    errors: list[UnprocessedTraceSegment]
    error_sources: list[str]
    documents: int
    rejected: int
    nbytes: int
    #: Time spent in the engine (framing, parsing, validation, assembly), not in reading files.
    seconds: float


def read_input(name: str, *, progress: Console | None = None) -> bytes:
    """The bytes of file ``name`` (``-`` is stdin), decompressed when it is gzip.

    With ``progress`` (a console), a file larger than :data:`LARGE_INPUT_BYTES` is read in
    chunks behind a progress bar on that console.
    """
    try:
        if name == "-":
            data = sys.stdin.buffer.read()
        elif progress is not None and os.path.getsize(name) > LARGE_INPUT_BYTES:
            data = _read_with_progress(name, progress)
        else:
            with open(name, "rb") as f:
                data = f.read()
    except OSError as e:
        raise UsageError(f"cannot read {name!r}: {e.strerror or e}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise UsageError(f"cannot read {name!r}: not valid gzip ({e})") from None
    return data


def _read_with_progress(name: str, console: Console, chunk_size: int = 4 << 20) -> bytes:
    size = os.path.getsize(name)
    chunks = []
    columns = (
        TextColumn("reading [bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar, open(name, "rb") as f:
        task = bar.add_task(os.path.basename(name), total=size)
        while chunk := f.read(chunk_size):
            chunks.append(chunk)
            bar.advance(task, len(chunk))
    return b"".join(chunks)


def progress_console() -> Console | None:
    """A console on stderr for progress bars, or ``None`` when stderr is not a terminal."""
    console = Console(stderr=True)
    return console if console.is_terminal else None


def assemble(inputs: Sequence[tuple[str, bytes]], *, format: str, on_error: str) -> Assembled:
    """Assembles the documents of every input together (a trace may span several files).

    ``TraceAssembler`` rather than :func:`xrfast.parse`, because only its ``stats`` say how many
    documents were read; with limits that never evict and ``flush()``, it computes the same traces.
    """
    assembler = TraceAssembler(max_open_traces=2**63, max_ready_traces=2**63)
    errors: list[UnprocessedTraceSegment] = []
    sources: list[str] = []
    seconds = 0.0
    for name, data in inputs:
        started = time.perf_counter()
        try:
            found = assembler.add(
                data, now=0.0, format=cast("Format", format), on_error=cast("OnError", on_error)
            )
        except xrfast.InputFormatError as e:
            raise UsageError(f"cannot read {name!r}: {e}") from None
        except xrfast.XRayError as e:  # on_error="raise"
            raise DocumentRejected(f"{name}: {e.errors[0] if e.errors else e}") from None
        finally:
            seconds += time.perf_counter() - started
        errors += found
        sources += [name] * len(found)
    stats = assembler.stats
    started = time.perf_counter()
    traces = assembler.flush()
    seconds += time.perf_counter() - started
    return Assembled(
        traces=traces,
        errors=errors,
        error_sources=sources,
        documents=stats["documents_received"],
        rejected=stats["documents_rejected"],
        nbytes=sum(len(data) for _, data in inputs),
        seconds=seconds,
    )


# --------------------------------------------------------------------------------------------
# Output


def show(result: Assembled, console: Console, args: argparse.Namespace, *, source: str) -> int:
    """Prints ``result`` (``--json``, or the summary, the table and a tree); returns the exit code."""
    if args.json:
        show_json(result, args)
    else:
        show_view(result, console, args, source=source)
    return EXIT_REJECTED if result.rejected else EXIT_OK


def show_json(result: Assembled, args: argparse.Namespace) -> None:
    """The ``BatchGetTraces`` JSON on stdout; rejections, one per line, on stderr."""
    if args.trace is None:
        _write_json(result.traces.to_json())
    else:
        _write_json(b'{"Traces":[' + _find_trace(result.traces, args.trace).to_json() + b"]}")
    for name, error in zip(result.error_sources, result.errors):
        print(f"{PROG}: {name}: {error}", file=sys.stderr)
    if result.rejected > len(result.errors):
        print(
            f"{PROG}: {result.rejected - len(result.errors):,} documents rejected", file=sys.stderr
        )


def show_view(
    result: Assembled, console: Console, args: argparse.Namespace, *, source: str
) -> None:
    """The summary line, the table of traces, one trace as a tree, and the rejections."""
    limit = args.limit or None
    chosen = (
        render.pick_trace(result.traces)
        if args.trace is None
        else (_find_trace(result.traces, args.trace), "chosen with --trace")
    )
    console.print(
        render.summary_line(
            source=source,
            documents=result.documents,
            traces=len(result.traces),
            nbytes=result.nbytes,
            seconds=result.seconds,
            rejected=result.rejected,
        )
    )
    if chosen is not None:
        console.print()
        console.print(render.trace_table(result.traces, limit=limit, title="Traces"))
        console.print()
        console.print(render.trace_tree(chosen[0], note=chosen[1]))
        console.print()
        console.print(render.legend())
    if result.errors:
        sources = result.error_sources if len(set(result.error_sources)) > 1 else None
        console.print()
        console.print(render.rejections_table(result.errors, sources=sources, limit=limit))


def _find_trace(traces: TraceSet, trace_id: str) -> xrfast.Trace:
    for trace in traces:
        if trace.id == trace_id:
            return trace
    raise UsageError(f"no trace {trace_id!r} in the input")


def _write_json(data: bytes) -> None:
    stream = sys.stdout
    if hasattr(stream, "buffer"):
        stream.flush()
        stream.buffer.write(data + b"\n")
        stream.buffer.flush()
    else:  # a text-only stream (an IDE console, say)
        stream.write(data.decode() + "\n")


class _Console(Console):
    def on_broken_pipe(self) -> None:
        raise BrokenPipeError  # handled once, in main(), for rich and JSON output alike


def make_console(args: argparse.Namespace) -> Console:
    """A console on stdout; 100 columns when piped (unless ``COLUMNS`` says otherwise)."""
    plain = getattr(args, "no_color", False)
    console = _Console(color_system=None if plain else "auto", highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


# --------------------------------------------------------------------------------------------
# Option groups shared by subcommands


def view_options(parser: argparse.ArgumentParser) -> None:
    """``--json``, ``--no-color``, ``--limit``, ``--trace``."""
    parser.add_argument(
        "--json",
        action="store_true",
        help='print the traces as a BatchGetTraces response ({"Traces": [...]}) instead',
    )
    parser.add_argument("--no-color", action="store_true", help="plain text, no colors or styles")
    parser.add_argument(
        "--limit",
        type=_count,
        default=50,
        metavar="N",
        help="show at most N traces and N rejections (default 50; 0 for all)",
    )
    parser.add_argument(
        "--trace",
        metavar="ID",
        help="show the tree of this trace (default: the first with a fault, error, throttle...);"
        " with --json, print only this trace",
    )


def input_options(parser: argparse.ArgumentParser) -> None:
    """``FILE...``, ``--format``, ``--on-error``."""
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="segment documents, plain or gzip; - for stdin"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="how documents are packed (default: auto, detected from the content)",
    )
    parser.add_argument(
        "--on-error",
        choices=("raise", "skip", "collect"),
        default="collect",
        help="on a rejected document: stop (raise), drop it silently (skip), or list it after the"
        " traces (collect, the default); the exit code is 1 in every case",
    )


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, not {text!r}")
    return value


# --------------------------------------------------------------------------------------------
# Subcommands


def demo(args: argparse.Namespace, console: Console) -> int:
    """Show real AWS X-Ray SDK segments, then a checkout flow where orders vanish (no input)."""
    code = EXIT_OK
    if args.scenario in ("all", "sdk") or args.json:
        data = resources.files("xrfast").joinpath(DEMO_DATA).read_bytes()
        result = assemble([("demo", data)], format="ndjson", on_error="raise")
        if not args.json:
            console.print(
                "[bold]xrfast demo[/] · segments captured from the [bold]AWS X-Ray SDK for"
                " Python[/]: 16 checkout requests through checkout-api → order-service →"
                " inventory-service, streamed as the X-Ray daemon receives them."
            )
            console.print()
        code = show(result, console, args, source=DEMO_DATA.rsplit("/", 1)[-1])
    if args.scenario in ("all", "checkout") and not args.json:
        if args.scenario == "all":
            console.print()
            console.rule(style="dim")
        demo_checkout(console, limit=args.limit or None)
    return code


def demo_checkout(console: Console, *, limit: int | None = None) -> list[str]:
    """The generated checkout scenario: its service map and the orders that vanished after
    payment, with the services they never reached. Returns the vanished trace ids."""
    from xrfast.bench import workload  # stdlib + orjson only

    config = workload.WorkloadConfig(**DEMO_CHECKOUT)
    docs, truth = workload.generate_with_truth(config)
    result = assemble([("checkout", workload.to_ndjson(docs))], format="ndjson", on_error="raise")
    console.print(
        f"[bold]Scenario: checkout[/] · {config.traces} orders generated by"
        f" [bold]xrfast.bench.workload[/] (seed {config.seed}): API Gateway → order-service"
        " (Lambda) → Stripe → inventory-service (Fargate, with RDS and DynamoDB) →"
        " notification-service (SNS → Lambda). A few orders vanish after payment: the inventory"
        " task never reports and no notification is sent, yet the customer gets 200."
    )
    console.print()
    console.print(
        render.summary_line(
            source="checkout.ndjson",
            documents=result.documents,
            traces=len(result.traces),
            nbytes=result.nbytes,
            seconds=result.seconds,
        )
    )
    console.print()
    analysis = xrfast.analyze(result.traces)
    graph, latency = analysis.service_graph(), analysis.percentiles()
    console.print(render.service_map_table(graph, latency, title="Service map"))
    console.print()
    report = result.traces.paths(examples=len(truth.vanished) or 1)
    console.print(Text("Paths", style="bold"))
    console.print(render.paths_view(report, limit=limit))
    return list(truth.vanished)


def demo_options(parser: argparse.ArgumentParser) -> None:
    """``--scenario``."""
    parser.add_argument(
        "--scenario",
        choices=("all", "sdk", "checkout"),
        default="all",
        help="sdk: segments captured from the AWS X-Ray SDK for Python; checkout: a generated"
        " checkout flow analysed for orders that vanish; all (the default): both."
        " --json prints the SDK traces only",
    )


def traces(args: argparse.Namespace, console: Console) -> int:
    """Assemble the segment documents in FILE... into traces and show them."""
    names = ["<stdin>" if name == "-" else name for name in args.files]
    inputs = [(name, read_input(path)) for name, path in zip(names, args.files)]
    result = assemble(inputs, format=args.format, on_error=args.on_error)
    return show(
        result, console, args, source=names[0] if len(names) == 1 else f"{len(names)} files"
    )


def analyze_options(parser: argparse.ArgumentParser) -> None:
    """``--summaries``, ``--graph``, ``--paths``, ``--filter``, ``--start``, ``--end``,
    ``--json``, ``--no-color``, ``--limit``."""
    sections = parser.add_argument_group("what to show (default: everything)")
    sections.add_argument(
        "--summaries", action="store_true", help="trace summaries and the problem traces"
    )
    sections.add_argument("--graph", action="store_true", help="the service map")
    sections.add_argument(
        "--paths", action="store_true", help="the paths traces took, rare and truncated ones"
    )
    parser.add_argument(
        "--filter",
        metavar="EXPR",
        help="only traces this X-Ray filter expression matches, e.g."
        " 'service(\"api\") { fault }' or 'responsetime > 2 AND http.status >= 500'",
    )
    parser.add_argument(
        "--start",
        type=_time,
        metavar="T",
        help="only traces whose first segment starts at or after T (epoch seconds or ISO 8601;"
        " UTC unless it says otherwise)",
    )
    parser.add_argument(
        "--end", type=_time, metavar="T", help="only traces whose first segment starts before T"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print X-Ray\'s shapes instead, one JSON document per line: {"TraceSummaries": [...]},'
        ' the GetServiceGraph response ({"Services": [...]}), the path report ({"EntryPoints":'
        " [...]})",
    )
    parser.add_argument("--no-color", action="store_true", help="plain text, no colors or styles")
    parser.add_argument(
        "--limit",
        type=_count,
        default=20,
        metavar="N",
        help="show at most N rows per table (default 20; 0 for all)",
    )


def _time(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected epoch seconds or an ISO 8601 time, not {text!r}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        value = moment.timestamp()
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite time, not {text!r}")
    return value


def compile_filter_option(expression: str | None) -> xrfast.Filter | None:
    """``--filter``, compiled; a bad expression is a usage error that shows where it broke."""
    if expression is None:
        return None
    try:
        return xrfast.compile_filter(expression)
    except xrfast.FilterExpressionError as e:
        caret = "\n".join("  " + line for line in e.caret().splitlines())
        raise UsageError(f"--filter: {e}\n{caret}") from None


def analyze(args: argparse.Namespace, console: Console) -> int:
    """Analyze the traces in FILE...: summaries, the service map, problem traces and paths."""
    # Before reading anything: a typo in the filter should not cost a long read.
    trace_filter = compile_filter_option(args.filter)
    names = ["<stdin>" if name == "-" else name for name in args.files]
    progress = None if args.json else progress_console()
    inputs = [(name, read_input(path, progress=progress)) for name, path in zip(names, args.files)]
    large = sum(len(data) for _, data in inputs) > LARGE_INPUT_BYTES
    busy = progress.status("assembling…") if progress is not None and large else nullcontext()
    with busy:
        result = assemble(inputs, format=args.format, on_error=args.on_error)
        try:
            # An open-ended window: no start means from the beginning, no end means to the end.
            windowed = args.start is not None or args.end is not None
            analysis = xrfast.analyze(
                result.traces,
                start=(args.start or 0.0) if windowed else None,
                end=(sys.float_info.max if args.end is None else args.end) if windowed else None,
                filter=trace_filter,
            )
        except ValueError as e:
            raise UsageError(f"--start/--end: {e}") from None
        traces = analysis.traces
    every = not (args.summaries or args.graph or args.paths)
    show_summaries, show_graph, show_paths = (
        every or args.summaries,
        every or args.graph,
        every or args.paths,
    )
    if args.json:
        if show_summaries:
            _write_json(traces.summaries_json())
        if show_graph:
            _write_json(analysis.service_graph_json())
        if show_paths:
            _write_json(traces.paths_json())
        _report_rejections(result)
        return EXIT_REJECTED if result.rejected else EXIT_OK

    limit = args.limit or None
    source = names[0] if len(names) == 1 else f"{len(names)} files"
    console.print(
        render.summary_line(
            source=source,
            documents=result.documents,
            traces=len(result.traces),
            nbytes=result.nbytes,
            seconds=result.seconds,
            rejected=result.rejected,
        )
    )
    if len(traces) != len(result.traces) or trace_filter is not None:
        parts = ["in the window"] if args.start is not None or args.end is not None else []
        if trace_filter is not None:
            parts.append(f"matching {trace_filter.expression}")
        where = " and ".join(parts)
        console.print(Text(f"{len(traces):,} traces {where}", style="dim"))
    summaries = traces.summaries() if show_summaries else []
    if show_summaries and len(traces):
        console.print()
        console.print(render.summaries_table(summaries, limit=limit, title="Trace summaries"))
    if show_graph and len(traces):
        console.print()
        console.print(
            render.service_map_table(
                analysis.service_graph(), analysis.percentiles(), title="Service map"
            )
        )
    if show_summaries and len(traces):
        console.print()
        problems = sum(1 for s in summaries if render.summary_flags(s))
        if problems:
            console.print(
                render.problems_table(
                    summaries, limit=limit, title=f"Problem traces ({problems:,})"
                )
            )
        else:
            console.print("No problem traces: no fault, error, throttle or partial trace.")
    if show_paths and len(traces):
        console.print()
        console.print(Text("Paths", style="bold"))
        console.print(render.paths_view(traces.paths(), limit=limit))
    if result.errors:
        sources = result.error_sources if len(set(result.error_sources)) > 1 else None
        console.print()
        console.print(render.rejections_table(result.errors, sources=sources, limit=limit))
    return EXIT_REJECTED if result.rejected else EXIT_OK


def _report_rejections(result: Assembled) -> None:
    for name, error in zip(result.error_sources, result.errors):
        print(f"{PROG}: {name}: {error}", file=sys.stderr)
    if result.rejected > len(result.errors):
        print(
            f"{PROG}: {result.rejected - len(result.errors):,} documents rejected", file=sys.stderr
        )


def bench(args: argparse.Namespace, console: Console) -> int:
    """Measure xrfast against the Python and Rust baselines on one corpus (see xrfast.bench)."""
    from xrfast.bench import runner  # the runner needs xrfast[bench]; other commands do not

    return runner.run(args, console)


def bench_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``xrfast bench`` (the runner owns them)."""
    from xrfast.bench import runner

    runner.add_arguments(parser)


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, its ``run(args, console) -> exit code`` and its option groups."""

    name: str
    run: Callable[[argparse.Namespace, Console], int]
    options: tuple[Callable[[argparse.ArgumentParser], None], ...] = ()


COMMANDS = (
    Command("demo", demo, (view_options, demo_options)),
    Command("traces", traces, (input_options, view_options)),
    Command("analyze", analyze, (input_options, analyze_options)),
    Command("bench", bench, (bench_options,)),
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand in :data:`COMMANDS`."""
    parser = _Parser(
        prog=PROG, description="AWS X-Ray segment documents, assembled into traces by a Rust core."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {xrfast.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        summary = (command.run.__doc__ or "").strip().splitlines()[0]
        sub = subparsers.add_parser(command.name, help=summary, description=summary)
        for add_options in command.options:
            add_options(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xrfast`` command; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors: argparse has printed them
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    try:
        return int(args.run(args, make_console(args)))
    except UsageError as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except DocumentRejected as e:
        print(f"{PROG} {args.command}: rejected: {e}", file=sys.stderr)
        return EXIT_REJECTED
    except BrokenPipeError:  # the reader went away (`xrfast demo | head`): stop quietly
        # Python would report the failed flush of stdout at exit; point stdout at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
