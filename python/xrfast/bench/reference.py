"""Trace assembly in plain Python: the benchmark baseline and the test oracle.

This module implements ``docs/assembly.md`` as directly as Python allows. It is what a Python user
would write today to turn X-Ray segment documents into ``BatchGetTraces`` traces, so benchmark
figures are ratios against it, and the tests compare the Rust engine's output with it. Clear code
wins over clever code here, but nothing is deliberately slow.

What the page leaves open is decided here as follows (the Rust engine follows the same rules):

* **Validation.** A document is skipped (and reported through ``rejected``) when it is not valid
  JSON (``InvalidJson``), or when it, or an element of an array document, is not an object or is
  ``[]`` (``MissingId``). Every entity, nested ones included, needs ``id`` (16 lowercase hex
  digits), ``name`` (a string; its characters and length are *not* checked) and ``start_time`` (a
  finite number; ``true`` is not one, ``NaN`` from ``json.loads`` is not finite); a top-level
  object also needs ``trace_id`` (``1-`` + 8 + ``-`` + 24 lowercase hex digits). The code is
  ``Missing<Member>`` when the member is absent, ``Invalid<Member>`` when it has the wrong type or
  form (``MissingId``/``InvalidId``, ``MissingName``/``InvalidName``,
  ``MissingStartTime``/``InvalidStartTime``, ``MissingTraceId``/``InvalidTraceId``); a nested
  object that is not an object is ``MissingId``. One bad nested entity rejects its whole document
  (X-Ray does the same); the first failure in pre-order (trace id first) is reported. Each element
  of an array document is validated, and rejected, on its own. Nothing else is checked.
* **Complete or in progress.** An entity is *complete* when its ``end_time`` is a finite number
  and its ``in_progress`` is not ``true``; otherwise it is in progress. A document with neither
  ``end_time`` nor ``in_progress: true`` is accepted and counts as in progress.
* **Order of registration.** The entities of one document are registered in pre-order (an object,
  then its ``subsegments`` in array order, depth first); the same-id table applies to each entity
  on its own, so a stored complete entity ignores an in-progress copy while that copy's nested
  children are still registered (each through the table).
* **Parents.** ``parent_id`` is used only when it is a string; otherwise it counts as absent.
  A ``subsegments`` member that is not an array has no nested entities (and is then treated like
  any ``subsegments`` member: replaced by the rebuilt children, or removed).
* **Output documents.** Members are kept as received, nested subsegments included: nothing is
  stripped (a folded independent subsegment keeps ``type``, ``trace_id``, ``parent_id``) and
  nothing is added besides ``subsegments``. Returned documents share nested values (``http``,
  ``aws``, ...) with the parsed input; do not mutate them.
* **Inferred segments.** ``end_time`` is copied when the subsegment is complete (above), else
  ``"in_progress": true``; ``http`` and ``aws`` are copied when the member is present, whatever
  its value; ``aws.table_name`` etc. count as present when ``aws`` is an object holding that key.
* **Root.** ``parent_id`` "resolves" when any registered entity of the trace has that id,
  including an orphan subsegment and including the segment itself.
* **Sorting** compares ``start_time`` as numbers and ids as strings (the same order as their
  integer values, since ids are 16 lowercase hex digits).
* **Duration.** ``float(max end - min start)`` of the JSON values, unrounded; ``0.0`` when no
  segment is complete. A real segment counts as complete by the rule above; an inferred one when
  it has ``end_time``.
* **Traces** are returned sorted by trace id; a trace whose entities are all orphans is returned
  with no segments (it is partial). ``LimitExceeded`` is always ``False`` (no limits here).

``trace_info`` answers root and partial from a side attribute that ``assemble`` sets on each trace
it returns: the trace is a ``dict`` subclass (:class:`ReferenceTrace`) whose keys are exactly the
API keys, so comparisons with plain dicts and JSON serialisation see only the API shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from math import isfinite
from typing import Any

import orjson

__all__ = [
    "ReferenceTrace",
    "assemble",
    "digest",
    "inferred_id",
    "splitmix64",
    "to_batch_get_traces_json",
    "trace_info",
]

_MASK64 = (1 << 64) - 1
_ID_RE = re.compile(r"[0-9a-f]{16}")
_TRACE_ID_RE = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
_INFERRING_NAMESPACES = ("aws", "remote")
# Keyed by lower-cased service name: the Python SDK's boto patch names subsegments `dynamodb`.
_AWS_RESOURCE_ORIGINS = {
    "dynamodb": ("table_name", "AWS::DynamoDB::Table"),
    "sqs": ("queue_url", "AWS::SQS::Queue"),
    "lambda": ("function_name", "AWS::Lambda::Function"),
    "s3": ("bucket_name", "AWS::S3::Bucket"),
}


class ReferenceTrace(dict):  # type: ignore[type-arg]
    """A ``BatchGetTraces`` ``Trace`` (exactly its keys) that also remembers root and partial.

    Read those with :func:`trace_info`. Copying it with ``dict(trace)`` keeps the API shape and
    drops them.
    """

    __slots__ = ("partial", "root")

    root: str | None
    partial: bool


class _Entity:
    """One registered segment or subsegment: its object as received and what assembly needs."""

    __slots__ = ("complete", "is_segment", "obj", "parent")

    def __init__(self, obj: dict[str, Any], is_segment: bool, parent: str | None) -> None:
        self.obj = obj
        self.is_segment = is_segment
        self.complete = _is_complete(obj)
        self.parent = parent


def _is_time(value: Any) -> bool:
    """A JSON number that is finite (``json.loads`` accepts ``NaN``; ``bool`` is not a number)."""
    return type(value) is int or (type(value) is float and isfinite(value))


def _is_complete(obj: dict[str, Any]) -> bool:
    return _is_time(obj.get("end_time")) and obj.get("in_progress") is not True


def splitmix64(z: int) -> int:
    """SplitMix64's output function, all arithmetic modulo 2**64.

    Arguments:
        z: a 64-bit unsigned integer.

    Returns:
        The mixed 64-bit unsigned integer.
    """
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def inferred_id(trace_id: str, subsegment_id: str) -> str:
    """The id of the segment inferred from a subsegment (docs/assembly.md, inferred segments).

    Arguments:
        trace_id: ``1-EEEEEEEE-RRRRRRRRRRRRRRRRRRRRRRRR``.
        subsegment_id: 16 hex digits.

    Returns:
        ``splitmix64(sub ^ lo64(trace) ^ hi64(trace))`` as 16 lowercase hex digits.
    """
    trace = int(trace_id[2:10] + trace_id[11:], 16)
    z = int(subsegment_id, 16) ^ (trace & _MASK64) ^ (trace >> 64)
    return f"{splitmix64(z):016x}"


def _validate(top: Any) -> str | None:
    """The error code of a top-level object (segment or independent subsegment), or None.

    ``Missing*`` when the member is absent, ``Invalid*`` when it is there with a wrong type or
    form.
    """
    if type(top) is not dict:
        return "MissingId"
    if "trace_id" not in top:
        return "MissingTraceId"
    trace_id = top["trace_id"]
    if type(trace_id) is not str or not _TRACE_ID_RE.fullmatch(trace_id):
        return "InvalidTraceId"
    stack = [top]
    while stack:
        obj = stack.pop()
        if type(obj) is not dict or "id" not in obj:
            return "MissingId"
        entity_id = obj["id"]
        if type(entity_id) is not str or not _ID_RE.fullmatch(entity_id):
            return "InvalidId"
        if "name" not in obj:
            return "MissingName"
        if type(obj["name"]) is not str:
            return "InvalidName"
        if "start_time" not in obj:
            return "MissingStartTime"
        if not _is_time(obj["start_time"]):
            return "InvalidStartTime"
        nested = obj.get("subsegments")
        if type(nested) is list:
            stack.extend(reversed(nested))
    return None


def _register(entities: dict[str, _Entity], entity_id: str, new: _Entity) -> None:
    """The same-id table of docs/assembly.md."""
    old = entities.get(entity_id)
    if old is None or not old.complete or new.complete:
        entities[entity_id] = new
    # else: stored complete, new in progress: keep the stored one.


def _accept(traces: dict[str, dict[str, _Entity]], top: dict[str, Any]) -> None:
    """Flattens a validated top-level object into its trace's entity table."""
    entities = traces.get(top["trace_id"])
    if entities is None:
        entities = traces[top["trace_id"]] = {}
    parent = top.get("parent_id")
    is_segment = top.get("type") != "subsegment"
    _register(
        entities, top["id"], _Entity(top, is_segment, parent if type(parent) is str else None)
    )
    nested = top.get("subsegments")
    if type(nested) is not list:
        return
    # Pre-order, children in array order: (parent id, child object), pushed in reverse.
    stack = [(top["id"], child) for child in reversed(nested)]
    while stack:
        parent_id, obj = stack.pop()
        _register(entities, obj["id"], _Entity(obj, False, parent_id))
        nested = obj.get("subsegments")
        if type(nested) is list:
            stack.extend((obj["id"], child) for child in reversed(nested))


def _start_and_id(entity: _Entity) -> tuple[Any, str]:
    return entity.obj["start_time"], entity.obj["id"]


def _inferred_document(trace_id: str, sub: dict[str, Any], complete: bool) -> dict[str, Any]:
    """The inferred segment of subsegment ``sub``, members in the documented order."""
    name = sub["name"]
    doc: dict[str, Any] = {
        "id": inferred_id(trace_id, sub["id"]),
        "name": name,
        "start_time": sub["start_time"],
    }
    if complete:
        doc["end_time"] = sub["end_time"]
    else:
        doc["in_progress"] = True
    doc["parent_id"] = sub["id"]
    doc["trace_id"] = trace_id
    doc["inferred"] = True
    aws = sub.get("aws")
    if sub["namespace"] == "remote":
        doc["origin"] = "remote"
    else:
        resource = _AWS_RESOURCE_ORIGINS.get(name.lower())
        if resource is not None and type(aws) is dict and resource[0] in aws:
            doc["origin"] = resource[1]
        else:
            doc["origin"] = "AWS::" + name
    if "http" in sub:
        doc["http"] = sub["http"]
    if "aws" in sub:
        doc["aws"] = aws
    for flag in ("error", "throttle", "fault"):
        if sub.get(flag) is True:
            doc[flag] = True
    return doc


def _is_traced(sub: dict[str, Any]) -> bool:
    http = sub.get("http")
    if type(http) is not dict:
        return False
    request = http.get("request")
    return type(request) is dict and request.get("traced") is True


def _build_trace(trace_id: str, entities: dict[str, _Entity]) -> ReferenceTrace:
    """Rebuilds one trace's segment documents from its entity table."""
    segments: list[_Entity] = []
    children: dict[str, list[_Entity]] = {}
    for entity in entities.values():
        if entity.is_segment:
            segments.append(entity)
        elif entity.parent is not None:
            children.setdefault(entity.parent, []).append(entity)
    downstream = {segment.parent for segment in segments if segment.parent is not None}

    reached: set[str] = set()
    inferred: list[dict[str, Any]] = []

    def rebuild(entity: _Entity) -> dict[str, Any]:
        obj = entity.obj
        kids = children.get(obj["id"])
        doc = dict(obj)
        if kids:
            kids.sort(key=_start_and_id)
            rebuilt = [rebuild(kid) for kid in kids]
            doc["subsegments"] = rebuilt  # replaces in place, or appends as the last member
        elif "subsegments" in doc:
            del doc["subsegments"]
        if not entity.is_segment:
            reached.add(obj["id"])
            if obj.get("namespace") in _INFERRING_NAMESPACES and obj["id"] not in downstream:
                inferred.append(_inferred_document(trace_id, obj, entity.complete))
        return doc

    out_segments: list[tuple[Any, str, dict[str, Any]]] = []
    starts: list[Any] = []
    ends: list[Any] = []
    for segment in segments:
        obj = segment.obj
        out_segments.append((obj["start_time"], obj["id"], rebuild(segment)))
        starts.append(obj["start_time"])
        if segment.complete:
            ends.append(obj["end_time"])
    for doc in inferred:
        out_segments.append((doc["start_time"], doc["id"], doc))
        starts.append(doc["start_time"])
        if "end_time" in doc:
            ends.append(doc["end_time"])
    out_segments.sort(key=lambda item: (item[0], item[1]))

    partial = False
    for entity_id, entity in entities.items():
        if not entity.complete:
            partial = True
            break
        if not entity.is_segment and (
            entity_id not in reached or (_is_traced(entity.obj) and entity_id not in downstream)
        ):
            partial = True
            break

    roots = [
        segment for segment in segments if segment.parent is None or segment.parent not in entities
    ]
    root = min(roots, key=_start_and_id).obj["id"] if roots else None

    trace = ReferenceTrace(
        Id=trace_id,
        Duration=float(max(ends) - min(starts)) if ends else 0.0,
        LimitExceeded=False,
        Segments=[{"Id": entity_id, "Document": doc} for _, entity_id, doc in out_segments],
    )
    trace.root = root
    trace.partial = partial
    return trace


def assemble(
    docs: Iterable[bytes | str | dict[str, Any] | list[Any]],
    *,
    loads: Callable[[Any], Any] = orjson.loads,
    rejected: list[tuple[int, str]] | None = None,
) -> list[ReferenceTrace]:
    """Assembles segment documents into traces, exactly as docs/assembly.md says.

    Arguments:
        docs: documents: JSON text (``bytes`` or ``str``) or already parsed values (a segment or
            independent subsegment object, or an array of them).
        loads: the JSON parser for text documents (``json.loads`` for the stdlib baseline).
        rejected: if given, ``(index in docs, error code)`` is appended for each skipped
            document or array element (codes in the module docstring).

    Returns:
        The traces, sorted by id, in the ``BatchGetTraces`` ``Trace`` shape: ``{"Id",
        "Duration", "LimitExceeded": False, "Segments": [{"Id", "Document": dict}]}`` with the
        segments sorted by (``start_time``, id). Use :func:`trace_info` for root and partial.
    """
    traces: dict[str, dict[str, _Entity]] = {}
    for index, raw in enumerate(docs):
        if isinstance(raw, (bytes, bytearray, memoryview, str)):
            try:
                value = loads(raw)
            except ValueError:  # orjson's and json's decode errors both subclass ValueError
                if rejected is not None:
                    rejected.append((index, "InvalidJson"))
                continue
        else:
            value = raw
        if type(value) is list:
            if not value and rejected is not None:
                rejected.append((index, "MissingId"))
            tops = value
        else:
            tops = [value]
        for top in tops:
            error = _validate(top)
            if error is None:
                _accept(traces, top)
            elif rejected is not None:
                rejected.append((index, error))
    return [_build_trace(trace_id, traces[trace_id]) for trace_id in sorted(traces)]


def trace_info(trace: dict[str, Any]) -> dict[str, Any]:
    """Root segment and partial flag of a trace returned by :func:`assemble`.

    Arguments:
        trace: a trace from :func:`assemble` (they are computed there, from the entities, orphans
            included, that the returned documents no longer show).

    Returns:
        ``{"root": id or None, "partial": bool}``.

    Raises:
        TypeError: ``trace`` did not come from :func:`assemble` (a plain dict, or a copy).
    """
    if not isinstance(trace, ReferenceTrace):
        raise TypeError("trace_info needs a trace returned by reference.assemble")
    return {"root": trace.root, "partial": trace.partial}


def to_batch_get_traces_json(
    traces: list[dict[str, Any]], *, dumps: Callable[[Any], Any] = orjson.dumps
) -> bytes:
    """Serialises traces as a ``BatchGetTraces`` response body.

    Arguments:
        traces: traces as :func:`assemble` returns them (``Document`` a dict).
        dumps: the JSON serialiser (``str`` results are UTF-8 encoded).

    Returns:
        ``{"Traces": [...]}`` as JSON bytes, each ``Document`` a JSON string, as the API sends it.
    """

    def text(value: Any) -> str:
        out = dumps(value)
        return out.decode() if isinstance(out, bytes) else out

    body = {
        "Traces": [
            {
                "Id": trace["Id"],
                "Duration": trace["Duration"],
                "LimitExceeded": trace["LimitExceeded"],
                "Segments": [
                    {"Id": segment["Id"], "Document": text(segment["Document"])}
                    for segment in trace["Segments"]
                ],
            }
            for trace in traces
        ]
    }
    out = dumps(body)
    return out.encode() if isinstance(out, str) else out


def _tree(doc: dict[str, Any]) -> list[Any]:
    subsegments = doc.get("subsegments")
    kids = subsegments if type(subsegments) is list else []
    return [doc["id"], [_tree(kid) for kid in kids]]


def digest(batch_get_traces: dict[str, Any]) -> dict[str, Any]:
    """A canonical summary of a ``{"Traces": [...]}`` response, to compare two assemblers.

    It keeps the structure (which segments, which subsegments nest where, in which order, which
    segments are inferred) and the duration, not the member values, so the engine's output and the
    reference's compare equal exactly when they agree on assembly.

    Arguments:
        batch_get_traces: ``{"Traces": [...]}`` with each ``Document`` a JSON string (API shape)
            or a dict (as :func:`assemble` returns it).

    Returns:
        ``{trace id: {"duration": Duration rounded to 6 decimals, "limit_exceeded": bool,
        "segment_ids": sorted segment ids, "segments": {segment id: {"inferred": bool,
        "tree": [id, [[child id, [...]], ...]]}}}}``, children in document order.
    """
    out: dict[str, Any] = {}
    for trace in batch_get_traces["Traces"]:
        segments: dict[str, Any] = {}
        for segment in trace["Segments"]:
            doc = segment["Document"]
            if not isinstance(doc, dict):
                doc = orjson.loads(doc)
            segments[segment["Id"]] = {
                "inferred": doc.get("inferred") is True,
                "tree": _tree(doc),
            }
        out[trace["Id"]] = {
            "duration": round(float(trace["Duration"]), 6),
            "limit_exceeded": bool(trace.get("LimitExceeded", False)),
            "segment_ids": sorted(segments),
            "segments": segments,
        }
    return out
