"""Rich renderables for assembled traces: a summary line, a table of traces, one trace as a tree.

Every function here is pure: it takes xrfast objects (or plain numbers) and returns a ``rich``
renderable without printing anything, so the command line decides where output goes and tests can
render to a string. Reading and assembling input is not done here (that is :mod:`xrfast.cli`).

The tree follows the request path: each subsegment is nested under the entity that contains it,
and a segment whose ``parent_id`` names a subsegment (a downstream service, real or inferred) is
shown under that calling subsegment, so a request reads top to bottom across services.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from xrfast import Trace, TraceSet, UnprocessedTraceSegment

__all__ = [
    "FLAG_STYLES",
    "TraceRow",
    "entry_point_title",
    "format_bytes",
    "format_ms",
    "legend",
    "path_chain",
    "paths_view",
    "pick_trace",
    "problems_table",
    "rejections_table",
    "service_map_table",
    "service_name",
    "summaries_table",
    "summary_flags",
    "summary_line",
    "trace_rows",
    "trace_table",
    "trace_tree",
]

#: ``kind`` values of :meth:`TraceSet.columns`.
_SUBSEGMENT = 1
_INFERRED = 2

#: Style of each flag, in the order flags are shown.
FLAG_STYLES = {
    "fault": "bold red",
    "error": "yellow",
    "throttle": "magenta",
    "partial": "blue",
    "limit": "bold blue",
}

_REASONS = {
    "fault": "the first trace with a fault",
    "error": "the first trace with an error",
    "throttle": "the first throttled trace",
    "partial": "the first partial trace",
}


# --------------------------------------------------------------------------------------------
# Small formatting helpers


def format_ms(seconds: float) -> str:
    """A duration in milliseconds with about three significant digits: ``0.48``, ``12.3``, ``1,204``."""
    ms = seconds * 1000.0
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 1000:
        return f"{ms:.1f}"
    return f"{ms:,.0f}"


def format_bytes(n: int) -> str:
    """``512 B``, ``127.0 KiB``, ``3.4 MiB``, ``1.2 GiB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value:.1f} TiB"


def _status_style(status: int) -> str:
    if status >= 500:
        return "bold red"
    if status == 429:
        return "magenta"
    if status >= 400:
        return "yellow"
    return "green"


def _status(status: int | None) -> Text:
    if status is None:
        return Text("—", style="dim")
    return Text(str(status), style=_status_style(status))


def _flags(flags: Iterable[str]) -> Text:
    return Text(" ").join(Text(flag, style=FLAG_STYLES[flag]) for flag in flags)


def _get(document: Any, *path: str) -> Any:
    """``document[path[0]][path[1]]…``, or ``None`` where a member is missing or not an object."""
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _http_status(document: Any) -> int | None:
    status = _get(document, "http", "response", "status")
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _entity_flags(document: dict[str, Any]) -> list[str]:
    return [flag for flag in ("fault", "error", "throttle") if document.get(flag) is True]


# --------------------------------------------------------------------------------------------
# The summary line


def summary_line(
    *,
    source: str,
    documents: int,
    traces: int,
    nbytes: int,
    seconds: float,
    rejected: int = 0,
) -> Text:
    """One line saying what was read and how fast it was assembled.

    Arguments:
        source: what was read (a file name, ``"3 files"``…).
        documents: documents received, rejected ones included.
        traces: traces assembled.
        nbytes: bytes of input (after gzip decompression).
        seconds: time spent assembling (framing, parsing, validation, assembly).
        rejected: documents rejected.
    """
    line = Text.assemble(
        (source, "bold"),
        ": ",
        (f"{documents:,}", "bold cyan"),
        f" document{'s' if documents != 1 else ''} → ",
        (f"{traces:,}", "bold cyan"),
        f" trace{'s' if traces != 1 else ''}",
    )
    if rejected:
        line.append(f" ({rejected:,} rejected)", style="bold yellow")
    line.append(f" · {format_bytes(nbytes)} assembled in ")
    line.append(f"{seconds * 1000:.1f} ms", style="bold cyan")
    if seconds > 0 and documents:
        line.append(f" ({documents / seconds:,.0f} documents/s)", style="dim")
    return line


# --------------------------------------------------------------------------------------------
# The table of traces


@dataclass(frozen=True)
class TraceRow:
    """What the table shows about one trace."""

    id: str
    #: Name of the root segment (the entry service), ``None`` when the trace has no root.
    entry: str | None
    #: Segments, inferred ones included.
    segments: int
    inferred: int
    subsegments: int
    #: Seconds.
    duration: float
    #: HTTP status of the root segment's response.
    status: int | None
    #: Among ``fault``, ``error``, ``throttle`` (set on any segment or subsegment), ``partial`` and
    #: ``limit`` (documents dropped because the trace reached a size limit), in that order.
    flags: tuple[str, ...]


@dataclass(frozen=True)
class _Counts:
    """Per-trace counts over a whole set, from one :meth:`TraceSet.columns` call (no documents
    are built, so this stays cheap for large sets)."""

    segments: Any  # numpy arrays indexed by trace position
    inferred: Any
    subsegments: Any
    flagged: dict[str, Any]  # "fault" / "error" / "throttle" → bool array

    @classmethod
    def of(cls, traces: TraceSet) -> _Counts:
        columns = traces.columns()
        owner = columns["trace"].astype(np.intp)
        kind = columns["kind"]

        def per_trace(mask: Any) -> Any:
            return np.bincount(owner[mask], minlength=len(traces))

        return cls(
            segments=per_trace(kind != _SUBSEGMENT),
            inferred=per_trace(kind == _INFERRED),
            subsegments=per_trace(kind == _SUBSEGMENT),
            flagged={flag: per_trace(columns[flag]) > 0 for flag in ("fault", "error", "throttle")},
        )


def trace_rows(traces: TraceSet, *, limit: int | None = None) -> list[TraceRow]:
    """One :class:`TraceRow` per trace, in the set's order, at most ``limit`` of them."""
    count = len(traces) if limit is None else min(limit, len(traces))
    if count == 0:
        return []
    counts = _Counts.of(traces)
    rows = []
    for i in range(count):
        trace = traces[i]
        root = trace.root
        flags = [flag for flag, on in counts.flagged.items() if on[i]]
        if trace.is_partial:
            flags.append("partial")
        if trace.limit_exceeded:
            flags.append("limit")
        rows.append(
            TraceRow(
                id=trace.id,
                entry=str(root.get("name")) if root is not None else None,
                segments=int(counts.segments[i]),
                inferred=int(counts.inferred[i]),
                subsegments=int(counts.subsegments[i]),
                duration=trace.duration,
                status=_http_status(root),
                flags=tuple(flags),
            )
        )
    return rows


def trace_table(traces: TraceSet, *, limit: int | None = None, title: str | None = None) -> Table:
    """A table of the traces in ``traces`` (the first ``limit`` of them, the rest counted)."""
    table = _table(title)
    table.add_column("trace id", no_wrap=True, style="bright_black")
    table.add_column("entry service", overflow="ellipsis", no_wrap=True, max_width=26)
    table.add_column("segs", justify="right")
    table.add_column("subsegs", justify="right")
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("HTTP", justify="right")
    table.add_column("flags")
    for row in trace_rows(traces, limit=limit):
        table.add_row(
            row.id,
            row.entry if row.entry is not None else Text("(no root)", style="dim italic"),
            str(row.segments),
            str(row.subsegments),
            Text.assemble((format_ms(row.duration), "cyan"), (" ms", "dim"))
            if row.segments
            else Text("—", style="dim"),
            _status(row.status),
            _flags(row.flags),
        )
    hidden = len(traces) - table.row_count
    if hidden > 0:
        table.caption = (
            f"… and {hidden:,} more trace{'s' if hidden != 1 else ''} (--limit 0 shows all)"
        )
    return table


# --------------------------------------------------------------------------------------------
# Choosing the trace to show


def pick_trace(traces: TraceSet) -> tuple[Trace, str] | None:
    """The most telling trace to show as a tree, with a few words saying why it was chosen.

    Among traces with at least one segment: the first with a fault, else with an error, a
    throttle, or partial; else the one with the most segments and subsegments. A trace made only
    of orphan subsegments is chosen only when there is nothing else. ``None`` for an empty set.
    """
    if len(traces) == 0:
        return None
    counts = _Counts.of(traces)
    candidates = counts.segments > 0
    if not candidates.any():
        candidates[:] = True
    for flag in ("fault", "error", "throttle"):
        found = np.flatnonzero(counts.flagged[flag] & candidates)
        if found.size:
            return traces[int(found[0])], _REASONS[flag]
    for i in np.flatnonzero(candidates):
        if traces[int(i)].is_partial:
            return traces[int(i)], _REASONS["partial"]
    size = np.where(candidates, counts.segments + counts.subsegments, -1)
    return traces[int(np.argmax(size))], "the largest trace"  # argmax: the first of equals


# --------------------------------------------------------------------------------------------
# One trace as a tree


def _short_url(url: str, width: int = 40) -> str:
    """``https://api.example.com/v1/charges?x=1`` → ``api.example.com/v1/charges``, cut to width."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    text = f"{parts.netloc}{parts.path}" if parts and parts.netloc else url
    return text if len(text) <= width else text[: width - 1] + "…"


def _http_text(document: dict[str, Any]) -> Text:
    method = _get(document, "http", "request", "method")
    url = _get(document, "http", "request", "url")
    status = _http_status(document)
    text = Text()
    if isinstance(method, str):
        text.append(method + " ", style="dim")
    if isinstance(url, str):
        text.append(_short_url(url), style="dim")
    if status is not None:
        text.append(" → " if text else "→ ", style="dim")
        text.append(str(status), style=_status_style(status))
    return text


def _aws_text(document: dict[str, Any]) -> Text:
    aws = document.get("aws")
    if not isinstance(aws, dict):
        return Text()
    words = [aws.get("operation")]
    for key in ("table_name", "queue_url", "function_name", "bucket_name", "topic_arn"):
        value = aws.get(key)
        if isinstance(value, str):
            words.append(value.rsplit("/", 1)[-1].rsplit(":", 1)[-1])
            break
    return Text(" ".join(w for w in words if isinstance(w, str)), style="dim")


def _duration_text(document: dict[str, Any]) -> Text:
    start, end = document.get("start_time"), document.get("end_time")
    if document.get("in_progress") is True or not isinstance(end, (int, float)):
        return Text("in progress", style="blue")
    if not isinstance(start, (int, float)):
        return Text("?", style="dim")
    return Text.assemble((format_ms(end - start), "cyan"), (" ms", "dim"))


def _exceptions(document: dict[str, Any]) -> list[Text]:
    """The exceptions recorded on this entity (a ``cause`` that is a string only points to an
    exception recorded further down, where it is shown)."""
    found = _get(document, "cause", "exceptions")
    lines = []
    for exc in found if isinstance(found, list) else []:
        if not isinstance(exc, dict):
            continue
        kind, message = exc.get("type"), exc.get("message")
        words = ": ".join(str(w) for w in (kind, message) if isinstance(w, str) and w)
        if words:
            lines.append(Text("✖ " + words, style="red"))
    return lines


def _label(document: dict[str, Any], *, segment: bool) -> RenderableType:
    """One line about an entity (plus a line per exception recorded on it)."""
    name = str(document.get("name", "?"))
    origin = document.get("origin")
    if segment and document.get("inferred") is True:
        # Its times, http and aws are the calling subsegment's, shown just above: say what it is.
        head = Text.assemble(("◌ ", "dim"), (name, "italic"))
        kind = Text(
            f"inferred {origin}" if isinstance(origin, str) else "inferred", style="dim italic"
        )
        parts = [kind, _flags(_entity_flags(document))]
    elif segment:
        head = Text.assemble(("● ", "bold green"), (name, "bold"))
        parts = [
            _duration_text(document),
            Text(origin if isinstance(origin, str) else "", style="dim"),
        ]
        parts += [_http_text(document), _flags(_entity_flags(document))]
    else:
        namespace = document.get("namespace")
        head = Text(name)
        parts = [
            _duration_text(document),
            Text(namespace if isinstance(namespace, str) else "", style="dim italic"),
        ]
        parts += [_aws_text(document), _http_text(document), _flags(_entity_flags(document))]
    line = Text("  ").join([head, *(p for p in parts if p)])
    errors = _exceptions(document)
    return Group(line, *errors) if errors else line


def _nested(document: dict[str, Any]) -> list[dict[str, Any]]:
    children = document.get("subsegments")
    return [c for c in children if isinstance(c, dict)] if isinstance(children, list) else []


def _start(document: dict[str, Any]) -> float:
    start = document.get("start_time")
    return float(start) if isinstance(start, (int, float)) else 0.0


def trace_tree(trace: Trace, *, note: str | None = None) -> Tree:
    """``trace`` as a tree: segments (real ``●`` and inferred ``◌``) with their subsegments nested,
    and every downstream segment under the subsegment that called it.

    Arguments:
        trace: the trace.
        note: a few words appended to the heading (why this trace is shown, say).
    """
    segments = [s for s in trace.segments if isinstance(s, dict)]
    # Which segment each id belongs to (the segment itself and every subsegment nested in it).
    owner: dict[str, int] = {}
    for i, segment in enumerate(segments):
        stack = [segment]
        while stack:
            entity = stack.pop()
            if isinstance(entity.get("id"), str):
                owner.setdefault(entity["id"], i)
            stack.extend(_nested(entity))
    # A segment hangs under the entity its parent_id names, when that is in another segment.
    callers: dict[int, str] = {}
    for i, segment in enumerate(segments):
        parent = segment.get("parent_id")
        if isinstance(parent, str) and owner.get(parent, i) != i:
            callers[i] = parent
    downstream: dict[str, list[int]] = {}
    for i, parent in callers.items():
        downstream.setdefault(parent, []).append(i)

    heading = Text.assemble(("Trace ", "bold"), (trace.id, "bold"))
    heading.append(f"  {format_ms(trace.duration)} ms", style="cyan")
    inferred = sum(1 for s in segments if s.get("inferred") is True)
    heading.append(f"  {len(segments) - inferred} segments + {inferred} inferred", style="dim")
    if trace.is_partial:
        heading.append("  partial", style=FLAG_STYLES["partial"])
    if trace.limit_exceeded:
        heading.append("  limit exceeded", style=FLAG_STYLES["limit"])
    tree = Tree(
        Group(heading, Text(note, style="dim italic")) if note else heading,
        guide_style="bright_black",
    )

    placed: set[int] = set()

    def grow(under: Tree, first: int) -> None:
        # Iterative, so a long chain of services cannot exhaust Python's recursion limit.
        work: list[tuple[Tree, dict[str, Any], bool]] = [(under, segments[first], True)]
        placed.add(first)
        while work:
            node, document, is_segment = work.pop()
            branch = node.add(_label(document, segment=is_segment))
            children = [(c, False) for c in _nested(document)]
            for i in downstream.get(str(document.get("id")), []):
                if i not in placed:
                    placed.add(i)
                    children.append((segments[i], True))
            children.sort(key=lambda c: _start(c[0]))  # stable: subsegments before callees on ties
            work.extend((branch, child, seg) for child, seg in reversed(children))

    root_id = trace.root_id
    tops = [i for i in range(len(segments)) if i not in callers]
    tops.sort(key=lambda i: segments[i].get("id") != root_id)  # the root first, then in order
    for i in tops:
        grow(tree, i)
    # Segments still unplaced call each other in a cycle: show each cycle from its first segment.
    for i in range(len(segments)):
        if i not in placed:
            grow(tree, i)
    if not segments:
        tree.add(
            Text("no segments: only subsegments whose segment never arrived", style="dim italic")
        )
    return tree


def legend() -> Text:
    """The key to the markers used by :func:`trace_tree`."""
    return Text.assemble(
        ("● ", "bold green"),
        ("segment   ", "dim"),
        ("◌ ", "dim"),
        ("inferred segment   ", "dim"),
        ("✖ ", "red"),
        ("exception   ", "dim"),
        ("unmarked: subsegment", "dim"),
    )


# --------------------------------------------------------------------------------------------
# Rejected documents


def _without_code(message: str, code: str) -> str:
    """The message without the ``Invalid segment. ErrorCode: <code>: `` prefix the table shows
    in its own column."""
    return message.removeprefix(f"Invalid segment. ErrorCode: {code}: ")


def rejections_table(
    errors: Sequence[UnprocessedTraceSegment],
    *,
    sources: Sequence[str] | None = None,
    limit: int | None = None,
) -> Table:
    """The rejected documents: index in the input, (sub)segment id, X-Ray error code, message.

    Arguments:
        errors: the rejections.
        sources: the input each rejection came from, parallel to ``errors``; adds a column.
        limit: show at most this many (the rest are counted in the caption).
    """
    table = _table(f"Rejected documents ({len(errors):,})", style="bold yellow")
    if sources is not None:
        table.add_column("input", overflow="fold", max_width=24)
    table.add_column("index", justify="right")
    table.add_column("id", no_wrap=True)
    table.add_column("code", style="yellow", no_wrap=True)
    table.add_column("message", overflow="fold", ratio=1)
    shown = errors if limit is None else errors[:limit]
    for n, error in enumerate(shown):
        cells: list[RenderableType] = [] if sources is None else [sources[n]]
        cells += [
            str(error.index),
            error.id if error.id is not None else Text("—", style="dim"),
            error.error_code,
            _without_code(error.message, error.error_code),
        ]
        table.add_row(*cells)
    hidden = len(errors) - len(shown)
    if hidden > 0:
        table.caption = f"… and {hidden:,} more (--limit 0 shows all)"
    return table


# --------------------------------------------------------------------------------------------
# Analysis: trace summaries, the service map, problem traces, paths


def _table(title: str | None, *, style: str = "bold") -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style=style,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),  # with the blank column divider: two spaces between columns
        header_style="bold",
        caption_justify="left",
        caption_style="dim",
    )


def _hidden_caption(table: Table, total: int, what: str) -> None:
    hidden = total - table.row_count
    if hidden > 0:
        table.caption = f"… and {hidden:,} more {what} (--limit 0 shows all)"


def service_name(service: Mapping[str, Any]) -> str:
    """``name (type)`` of a ``ServiceId``-like dict (``Name``, ``Type``), or just the name."""
    kind = service.get("Type")
    return f"{service['Name']} ({kind})" if kind else str(service["Name"])


def summary_flags(summary: Mapping[str, Any]) -> tuple[str, ...]:
    """The flags of a ``TraceSummary``: ``fault``, ``error``, ``throttle``, ``partial``."""
    flags = [
        flag
        for flag, key in (("fault", "HasFault"), ("error", "HasError"), ("throttle", "HasThrottle"))
        if summary.get(key)
    ]
    if summary.get("IsPartial"):
        flags.append("partial")
    return tuple(flags)


def _ms_text(seconds: float | None) -> Text:
    if seconds is None:
        return Text("—", style="dim")
    return Text.assemble((format_ms(seconds), "cyan"), (" ms", "dim"))


def _request_text(http: Mapping[str, Any]) -> Text:
    """``POST /checkout``: the method and the URL's path (the host is the entry point's)."""
    method, url = http.get("HttpMethod"), http.get("HttpURL")
    text = Text()
    if isinstance(method, str):
        text.append(method + " ", style="dim")
    if isinstance(url, str):
        try:
            path = urlsplit(url).path or "/"
        except ValueError:
            path = url
        text.append(path, style="dim")
    return text


def summaries_table(
    summaries: Sequence[Mapping[str, Any]], *, limit: int | None = None, title: str | None = None
) -> Table:
    """A table of ``TraceSummary`` dicts: id, entry point, request, status, response time and
    flags (the first ``limit`` of them, the rest counted)."""
    table = _table(title)
    table.add_column("trace id", no_wrap=True, style="bright_black")
    table.add_column("entry point", overflow="ellipsis", no_wrap=True, max_width=14)
    table.add_column("request", overflow="ellipsis", no_wrap=True, max_width=16)
    table.add_column("HTTP", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("flags", no_wrap=True)
    for summary in summaries if limit is None else summaries[:limit]:
        entry = summary.get("EntryPoint")
        http = summary.get("Http", {})
        status = http.get("HttpStatus")
        table.add_row(
            summary["Id"],
            entry["Name"] if entry else Text("(no root)", style="dim italic"),
            _request_text(http),
            _status(status if isinstance(status, int) else None),
            _ms_text(summary.get("ResponseTime")),
            _flags(summary_flags(summary)),
        )
    _hidden_caption(table, len(summaries), "traces")
    return table


def _rate(part: int, total: int) -> Text:
    if total == 0:
        return Text("—", style="dim")
    share = part / total
    style = "bold red" if share >= 0.05 else "yellow" if share > 0 else "dim"
    return Text(f"{share:.1%}", style=style)


def service_map_table(
    graph: Mapping[str, Any],
    percentiles: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
) -> RenderableType:
    """The service graph (``GetServiceGraph``'s ``Services``) as a table — one row per node with
    its requests, 4xx and 5xx rates and latency percentiles (from ``Analysis.percentiles()``,
    when given) — then its edges, callees grouped by caller (a link edge, SQS → consumer, is
    marked ``(link)``). Client nodes are left out."""
    latency: dict[tuple[Any, Any, Any], Mapping[str, Any]] = {}
    for node in (percentiles or {}).get("nodes", []):
        latency[(node["name"], node["type"], node["account_id"])] = node
    # A name shared by several nodes (a service and its inferred twin) gets its type too.
    shared = Counter(s["Name"] for s in graph["Services"] if s.get("Type") != "client")
    names = {
        s["ReferenceId"]: service_name(s) if shared[s["Name"]] > 1 else s["Name"]
        for s in graph["Services"]
    }
    table = _table(title)
    table.add_column("service", overflow="ellipsis", no_wrap=True, max_width=22)
    table.add_column("type", overflow="ellipsis", no_wrap=True, max_width=21, style="dim")
    table.add_column("requests", justify="right", no_wrap=True)
    table.add_column("4xx", justify="right", no_wrap=True)
    table.add_column("5xx", justify="right", no_wrap=True)
    if percentiles is not None:
        table.add_column("p50", justify="right", no_wrap=True)
        table.add_column("p99", justify="right", no_wrap=True)
    calls = []
    for service in graph["Services"]:
        stats = service.get("SummaryStatistics")
        if stats is None:  # a client node: who called the root, nothing measured
            continue
        total = stats["TotalCount"]
        cells: list[RenderableType] = [
            Text(service["Name"], style="bold" if service.get("Root") else ""),
            service.get("Type") or "",
            f"{total:,}",
            _rate(stats["ErrorStatistics"]["TotalCount"], total),
            _rate(stats["FaultStatistics"]["TotalCount"], total),
        ]
        if percentiles is not None:
            node = latency.get((service["Name"], service.get("Type"), service.get("AccountId")))
            cells += [
                _ms_text(node["p50"] if node else None),
                _ms_text(node["p99"] if node else None),
            ]
        table.add_row(*cells)
        callees = [
            names[edge["ReferenceId"]] + (" (link)" if edge.get("EdgeType") == "link" else "")
            for edge in service.get("Edges", [])
        ]
        if callees:
            calls.append(Text.assemble((service["Name"], "bold"), " → ", ", ".join(callees)))
    if not calls:
        return table
    return Group(table, Text.assemble(("calls: ", "dim"), Text("; ").join(calls)))


def _root_cause(summary: Mapping[str, Any]) -> Text:
    """The culprit of the first fault (else error) root cause: service, entity, exception."""
    for key in ("FaultRootCauses", "ErrorRootCauses"):
        for cause in summary.get(key, []):
            services = cause.get("Services") or []
            if not services:
                continue
            last = services[-1]
            path = last.get("EntityPath") or []
            culprit = path[-1] if path else {}
            text = Text(last["Name"], style="bold")
            if culprit.get("Name") and culprit["Name"] != last["Name"]:
                text.append(f" › {culprit['Name']}")
            for exception in culprit.get("Exceptions", [])[:1]:
                words = ": ".join(
                    str(exception[k]) for k in ("Name", "Message") if exception.get(k)
                )
                if words:
                    text.append(f"  {words}", style="red")
            return text
    return Text("")


def problems_table(
    summaries: Sequence[Mapping[str, Any]], *, limit: int | None = None, title: str | None = None
) -> Table:
    """The traces with a fault, an error, a throttle, or partial, with their root cause."""
    problems = [s for s in summaries if summary_flags(s)]
    table = _table(title, style="bold yellow")
    table.add_column("trace id", no_wrap=True, style="bright_black")
    table.add_column("HTTP", justify="right")
    table.add_column("flags", no_wrap=True)
    table.add_column("root cause", overflow="fold", ratio=1)
    for summary in problems if limit is None else problems[:limit]:
        status = summary.get("Http", {}).get("HttpStatus")
        table.add_row(
            summary["Id"],
            _status(status if isinstance(status, int) else None),
            _flags(summary_flags(summary)),
            _root_cause(summary),
        )
    _hidden_caption(table, len(problems), "problem traces")
    return table


_KIND_STYLES = {"usual": "green", "common": "cyan", "rare": "magenta", "truncated": "bold red"}


def _classes_text(classes: dict[str, int]) -> Text:
    parts = []
    for name, count in classes.items():
        style = {"2xx": "green", "4xx": "yellow", "5xx": "bold red"}.get(name, "dim")
        parts.append(Text.assemble((name, style), f" {count:,}"))
    return Text(" ").join(parts)


def entry_point_title(entry: Mapping[str, Any]) -> Text:
    """``POST /prod/checkout → api-gateway (AWS::ApiGateway::Stage) · 300 traces``."""
    text = Text()
    if entry.get("HttpMethod"):
        text.append(entry["HttpMethod"] + " ", style="bold")
    if entry.get("UrlPath"):
        text.append(entry["UrlPath"] + " ", style="bold")
    text.append("→ " if len(text) else "")
    text.append(service_name(entry["EntryPoint"]), style="bold")
    text.append(f" · {entry['Count']:,} trace{'s' if entry['Count'] != 1 else ''}", style="dim")
    return text


def path_chain(path: Mapping[str, Any]) -> Text:
    """The edges of a path as ``a → b, c; b → d`` (callees grouped by caller, call order)."""
    groups: dict[str, list[str]] = {}
    for edge in path["Edges"]:
        groups.setdefault(edge["Caller"]["Name"], []).append(edge["Callee"]["Name"])
    for edge in path["Unreported"]:
        groups.setdefault(edge["Caller"]["Name"], []).append(f"{edge['Callee']['Name']} ✗")
    if not groups:
        return Text("(the entry point alone)", style="dim italic")
    return Text("; ").join(
        Text.assemble((caller, "bold"), " → ", ", ".join(callees))
        for caller, callees in groups.items()
    )


def paths_view(report: Mapping[str, Any], *, limit: int | None = None) -> RenderableType:
    """The path report of ``TraceSet.paths()``: per entry point, its usual path and a table of
    every path (kind, traces, share, statuses, services missed compared with the usual path,
    example trace ids), then the silent ones spelled out — traces that answered 2xx but never
    reached services the usual path reaches."""
    parts: list[RenderableType] = []
    entries = report["EntryPoints"]
    for entry in entries if limit is None else entries[:limit]:
        usual = entry["Paths"][0]
        parts.append(entry_point_title(entry))
        parts.append(
            Padding(Text.assemble(("usual path: ", "dim"), path_chain(usual)), (0, 0, 0, 2))
        )
        table = _table(None)
        table.add_column("path", no_wrap=True)
        table.add_column("traces", justify="right")
        table.add_column("share", justify="right")
        table.add_column("HTTP", no_wrap=True)
        table.add_column("never reached", overflow="fold", ratio=1)
        table.add_column("example trace", no_wrap=True, style="bright_black")
        paths = entry["Paths"] if limit is None else entry["Paths"][:limit]
        for path in paths:
            kind = Text(path["Kind"], style=_KIND_STYLES.get(path["Kind"], ""))
            if path["Silent"]:
                kind.append(" ⚠", style="bold red")
            missing = ", ".join(s["Name"] for s in path["Missing"])
            table.add_row(
                kind,
                f"{path['Count']:,}",
                f"{path['Share']:.1%}",
                _classes_text(path["HttpStatusClasses"]),
                Text(missing, style="red") if missing else Text("—", style="dim"),
                path["TraceIds"][0] if path["TraceIds"] else "",
            )
        _hidden_caption(table, len(entry["Paths"]), "paths")
        parts.append(table)
        for path in entry["Paths"]:
            if not path["Silent"]:
                continue
            missing = ", ".join(s["Name"] for s in path["Missing"])
            warning = Text.assemble(
                ("⚠ ", "bold red"),
                (f"{path['OkCount']:,}", "bold"),
                f" trace{'s' if path['OkCount'] != 1 else ''} answered 2xx but never reached ",
                (missing, "bold red"),
            )
            if path["Unreported"]:
                called = ", ".join(
                    f"{e['Caller']['Name']} → {e['Callee']['Name']}" for e in path["Unreported"]
                )
                warning.append(f" (called, never reported: {called})", style="dim")
            parts.append(warning)
            parts.append(Padding(Text.assemble(("took: ", "dim"), path_chain(path)), (0, 0, 0, 2)))
            for trace_id in path["OkTraceIds"]:
                parts.append(Text("  " + trace_id, style="bright_black"))
            if path["OkCount"] > len(path["OkTraceIds"]):
                more = path["OkCount"] - len(path["OkTraceIds"])
                parts.append(Text(f"  … and {more:,} more", style="dim"))
        parts.append(Text(""))
    hidden = len(entries) - (len(entries) if limit is None else min(limit, len(entries)))
    if hidden:
        parts.append(Text(f"… and {hidden:,} more entry points (--limit 0 shows all)", style="dim"))
    if report["TracesWithoutRoot"]:
        parts.append(
            Text(f"{report['TracesWithoutRoot']:,} traces without a root have no path", style="dim")
        )
    if not entries:
        parts.append(Text("no trace has a root: no paths", style="dim italic"))
    return Group(*parts)
