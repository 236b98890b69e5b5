"""Path analysis in plain Python: the test oracle for ``rust/xrfast-core/src/paths.rs``.

It follows docs/decisions.md ("Path analysis") from assembled traces in the ``BatchGetTraces``
shape (``Trace.to_dict()`` or :func:`xrfast.bench.reference.assemble`) and their root ids:

* **Nodes** are the summaries' ``ServiceId`` (:mod:`xrfast.bench.summary_reference`, spec §5.2).
* **Calls.** A segment is called by the segment holding the entity its ``parent_id`` names (an
  inferred segment: by the segment holding its subsegment). The *path* of a trace is the set of
  calls reached from the root, as (caller node, callee node) *edges*, except calls to the
  inferred segment of a traced call (``http.request.traced: true``): the callee never reported,
  and the call is listed under ``Unreported`` instead.
* **Entry point**: the root's node, ``http.request.method`` and URL path template (scheme, host,
  query and fragment dropped; a path segment that holds a digit and is all digits or at least 8
  characters long becomes ``{id}``).
* **Classification**, per entry point: paths by count (most first), then more edges first, then
  by the path itself; the first is ``usual``; a path whose edges are a strict subset of the
  usual path's is ``truncated``; else ``rare`` below ``rare_share`` of the entry point's traces,
  else ``common``. ``Missing``: the usual path's nodes (the entry, then callees in call order)
  this path does not reach. ``Silent``: something is missing and some trace answered 2xx.
* **Examples**: the smallest ``examples`` trace ids of each path (and of its 2xx traces).

Nothing here is fast; clarity wins.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import orjson

from xrfast.bench.summary_reference import _http, _object, _service_id, _string

__all__ = ["STATUS_CLASSES", "paths", "trace_path", "url_path_template"]

STATUS_CLASSES = ("none", "1xx", "2xx", "3xx", "4xx", "5xx", "other")

Node = tuple[Any, ...]
Edge = tuple[Node, Node]


def _key(service: dict[str, Any]) -> Node:
    """A node as a tuple that sorts like the Rust ``ServiceId`` (name, type, account; absent
    first)."""
    kind, account = service.get("Type"), service.get("AccountId")
    return (service["Name"], kind is not None, kind or "", account is not None, account or "")


def _service(node: Node) -> dict[str, Any]:
    name, has_kind, kind, has_account, account = node
    out: dict[str, Any] = {"Name": name, "Names": [name]}
    if has_account:
        out["AccountId"] = account
    if has_kind:
        out["Type"] = kind
    return out


def url_path_template(url: str) -> str:
    """The path of ``url`` with identifier-like segments replaced by ``{id}``."""
    at = url.find("://")
    if at >= 0:
        after = url[at + 3 :]
        slash = after.find("/")
        rest = after[slash:] if slash >= 0 else ""
    else:
        rest = url
    path = rest.split("?", 1)[0].split("#", 1)[0]
    parts = []
    for part in path.split("/"):
        has_digit = any(c in "0123456789" for c in part)
        if has_digit and (all(c in "0123456789" for c in part) or len(part) >= 8):
            parts.append("{id}")
        else:
            parts.append(part)
    out = "/".join(parts)
    return out if out.startswith("/") else "/" + out


def _nested(doc: dict[str, Any]) -> list[dict[str, Any]]:
    kids = doc.get("subsegments")
    return [k for k in kids if type(k) is dict] if type(kids) is list else []


def trace_path(trace: dict[str, Any], root: str | None) -> dict[str, Any] | None:
    """The entry point, path and status of one trace; ``None`` without a root.

    Returns:
        ``{"entry": (node, method, url_path), "edges": [...], "unreported": [...], "status"}``,
        edges sorted and distinct.
    """
    docs = [
        s["Document"] if isinstance(s["Document"], dict) else orjson.loads(s["Document"])
        for s in trace["Segments"]
    ]
    positions = [i for i, d in enumerate(docs) if root is not None and d["id"] == root]
    if not positions:
        return None
    root_pos = positions[0]
    nodes = [_key(_service_id(d)) for d in docs]
    owner: dict[str, int] = {}
    for pos, doc in enumerate(docs):
        if doc.get("inferred") is True:
            continue
        stack = [doc]
        while stack:
            entity = stack.pop()
            owner[entity["id"]] = pos
            stack.extend(_nested(entity))
    callees: dict[int, list[int]] = {}
    for pos, doc in enumerate(docs):
        caller = owner.get(doc.get("parent_id"))  # type: ignore[arg-type]
        if caller is not None and caller != pos:
            callees.setdefault(caller, []).append(pos)
    edges: set[Edge] = set()
    unreported: set[Edge] = set()
    seen = {root_pos}
    queue = deque([root_pos])
    while queue:
        caller = queue.popleft()
        for callee in callees.get(caller, []):
            doc = docs[callee]
            traced = _object(_object(doc.get("http")).get("request")).get("traced") is True
            edge = (nodes[caller], nodes[callee])
            (unreported if doc.get("inferred") is True and traced else edges).add(edge)
            if callee not in seen:
                seen.add(callee)
                queue.append(callee)
    http = _http(docs[root_pos])
    request = _object(_object(docs[root_pos].get("http")).get("request"))
    url = _string(request.get("url"))
    return {
        "entry": (
            nodes[root_pos],
            _string(request.get("method")),
            url_path_template(url) if url is not None else None,
        ),
        "edges": sorted(edges),
        "unreported": sorted(unreported),
        "status": http.get("HttpStatus"),
    }


def _status_class(status: int | None) -> str:
    if status is None:
        return "none"
    return STATUS_CLASSES[status // 100] if 100 <= status <= 599 else "other"


def _ordered_edges(edges: list[Edge], entry: Node) -> list[Edge]:
    out: list[Edge] = []
    used = [False] * len(edges)
    seen = {entry}
    queue = deque([entry])
    while queue:
        node = queue.popleft()
        for at, (caller, callee) in enumerate(edges):
            if caller == node and not used[at]:
                used[at] = True
                out.append((caller, callee))
                if callee not in seen:
                    seen.add(callee)
                    queue.append(callee)
    out += [edge for at, edge in enumerate(edges) if not used[at]]
    return out


def _nodes(edges: list[Edge], entry: Node) -> list[Node]:
    out = [entry]
    for _, callee in _ordered_edges(edges, entry):
        if callee not in out:
            out.append(callee)
    return out


def _edges_json(edges: list[Edge]) -> list[dict[str, Any]]:
    return [{"Caller": _service(a), "Callee": _service(b)} for a, b in edges]


def paths(
    traces: Iterable[tuple[dict[str, Any], str | None]],
    *,
    examples: int = 5,
    rare_share: float = 0.05,
) -> dict[str, Any]:
    """The path report of ``traces``, as ``TraceSet.paths()`` returns it.

    Arguments:
        traces: ``(trace, root id)`` pairs, each trace in the ``BatchGetTraces`` shape.
        examples: trace ids kept per path (the smallest).
        rare_share: the share below which a path that is neither usual nor truncated is rare.
    """
    total = without_root = 0
    groups: dict[tuple[Any, ...], dict[tuple[Any, ...], list[tuple[str, int | None]]]] = {}
    for trace, root in traces:
        total += 1
        found = trace_path(trace, root)
        if found is None:
            without_root += 1
            continue
        key = (tuple(found["edges"]), tuple(found["unreported"]))
        groups.setdefault(found["entry"], {}).setdefault(key, []).append(
            (trace["Id"], found["status"])
        )

    def entry_key(entry: tuple[Any, ...]) -> tuple[Any, ...]:
        node, method, url = entry
        return (node, method is not None, method or "", url is not None, url or "")

    entries = []
    for entry, by_path in groups.items():
        count = sum(len(v) for v in by_path.values())
        ordered = sorted(by_path.items(), key=lambda kv: (-len(kv[1]), -len(kv[0][0]), kv[0]))
        usual = ordered[0][0]
        usual_edges = set(usual[0])
        usual_nodes = _nodes(list(usual[0]), entry[0])
        rows = []
        for n, ((edges, unreported), members) in enumerate(ordered):
            share = len(members) / count
            if n == 0:
                kind = "usual"
            elif len(edges) < len(usual_edges) and set(edges) <= usual_edges:
                kind = "truncated"
            elif share < rare_share:
                kind = "rare"
            else:
                kind = "common"
            nodes = _nodes(list(edges), entry[0])
            missing = [node for node in usual_nodes if node not in nodes]
            classes = {name: 0 for name in STATUS_CLASSES}
            for _, status in members:
                classes[_status_class(status)] += 1
            ids = sorted(trace_id for trace_id, _ in members)
            ok_ids = sorted(trace_id for trace_id, s in members if _status_class(s) == "2xx")
            rows.append(
                {
                    "Kind": kind,
                    "Count": len(members),
                    "Share": share,
                    "Silent": bool(missing) and bool(ok_ids),
                    "Edges": _edges_json(_ordered_edges(list(edges), entry[0])),
                    "Unreported": _edges_json(list(unreported)),
                    "Missing": [_service(node) for node in missing],
                    "HttpStatusClasses": {k: v for k, v in classes.items() if v},
                    "OkCount": len(ok_ids),
                    "TraceIds": ids[:examples],
                    "OkTraceIds": ok_ids[:examples],
                }
            )
        item: dict[str, Any] = {"EntryPoint": _service(entry[0])}
        if entry[1] is not None:
            item["HttpMethod"] = entry[1]
        if entry[2] is not None:
            item["UrlPath"] = entry[2]
        item["Count"] = count
        item["Paths"] = rows
        entries.append((count, entry_key(entry), item))
    entries.sort(key=lambda e: (-e[0], e[1]))
    return {
        "EntryPoints": [item for _, _, item in entries],
        "TracesProcessedCount": total,
        "TracesWithoutRoot": without_root,
    }
