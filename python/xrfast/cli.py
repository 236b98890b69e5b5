"""The ``xrfast`` command line.

``xrfast demo`` shows segments captured from the real AWS X-Ray SDK for Python (shipped in the
package, no network); ``xrfast traces FILE...`` shows the traces in your files. Both print a summary
line, a table of traces and the tree of one trace, or ``--json`` for the ``BatchGetTraces`` shape.

Exit codes: 0 success; 1 some documents were rejected (they are listed, and the rest is still
shown); 2 usage error or unreadable input (one line on stderr, no traceback).

Adding a subcommand: write ``def name(args, console) -> int`` and add one :class:`Command` to
:data:`COMMANDS`, with the option groups it takes (shared groups are the ``*_options`` functions).
The rendering lives in :mod:`xrfast.render`.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, NoReturn, cast

from rich.console import Console

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


def read_input(name: str) -> bytes:
    """The bytes of file ``name`` (``-`` is stdin), decompressed when it is gzip."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read()
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
    """Assemble and show segments captured from the AWS X-Ray SDK for Python (no input needed)."""
    data = resources.files("xrfast").joinpath(DEMO_DATA).read_bytes()
    result = assemble([("demo", data)], format="ndjson", on_error="raise")
    if not args.json:
        console.print(
            "[bold]xrfast demo[/] · segments captured from the [bold]AWS X-Ray SDK for Python[/]:"
            " 16 checkout requests through checkout-api → order-service → inventory-service,"
            " streamed as the X-Ray daemon receives them."
        )
        console.print()
    return show(result, console, args, source=DEMO_DATA.rsplit("/", 1)[-1])


def traces(args: argparse.Namespace, console: Console) -> int:
    """Assemble the segment documents in FILE... into traces and show them."""
    names = ["<stdin>" if name == "-" else name for name in args.files]
    inputs = [(name, read_input(path)) for name, path in zip(names, args.files)]
    result = assemble(inputs, format=args.format, on_error=args.on_error)
    return show(
        result, console, args, source=names[0] if len(names) == 1 else f"{len(names)} files"
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
    Command("demo", demo, (view_options,)),
    Command("traces", traces, (input_options, view_options)),
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
