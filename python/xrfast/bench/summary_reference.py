"""X-Ray's ``TraceSummary`` in plain Python: the test oracle for ``rust/xrfast-core/src/summary.rs``.

It derives a summary from an assembled trace in the ``BatchGetTraces`` shape (what
:func:`xrfast.bench.reference.assemble` or ``Trace.to_dict()`` returns), following spec §4.2 and
§4.3 and the choices written down in ``docs/decisions.md`` ("Summaries"):

* **Order.** Everything is read in output order: segments as in ``Segments`` (start time, then
  id), each segment's subsegment tree depth first. ``ServiceIds``, ``Users``, ``ResourceARNs``,
  ``InstanceIds``, ``AvailabilityZones`` and the annotation keys (the first 50 are kept) and values
  keep the first place they are met.
* **Services** (spec §5.2). A real segment is ``(name, origin, aws.account_id)``. An inferred
  segment of an ``aws`` subsegment whose origin names a resource type is named after the resource
  (``aws.table_name``; the last part of ``aws.queue_url``; ``aws.function_name``;
  ``aws.bucket_name``), else after the subsegment; its type is its origin, its account the
  subsegment's ``aws.account_id``. An inferred ``remote`` segment is ``(name, "remote")``.
* **Root causes.** The call tree joins each entity to its subsegments and to the segments (real or
  inferred) whose ``parent_id`` names it, children by (start time, id). Fault and error causes:
  a depth-first walk from the root; at each entity with the flag whose ancestors lack it, keep
  descending into the flagged child that ended last (the first of equals; in progress counts as
  ending last) until no child has the flag. Each such descent is one root cause; the path is cut
  into services at each segment, the culprit (last entity) gets the exceptions of its cause (an
  inferred segment: its subsegment's), every other entity ``[]``. Response time: from a complete
  root that took some time, into the complete child that took longest while it takes at least
  half of its parent's time; ``Coverage`` = duration / root response time.

Nothing here is fast; clarity wins.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

__all__ = ["MAX_ANNOTATION_KEYS", "summarize"]

#: Annotation keys indexed per trace (spec §1.8).
MAX_ANNOTATION_KEYS = 50
#: The share of its parent's duration a child needs for the response-time walk to enter it.
RESPONSE_TIME_SHARE = 0.5

_RESOURCE_KEYS = {
    "AWS::DynamoDB::Table": "table_name",
    "AWS::SQS::Queue": "queue_url",
    "AWS::Lambda::Function": "function_name",
    "AWS::S3::Bucket": "bucket_name",
}
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _string(value: Any) -> str | None:
    return value if type(value) is str else None


def _object(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else {}


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _complete(doc: dict[str, Any]) -> bool:
    return _is_number(doc.get("end_time")) and doc.get("in_progress") is not True


def _account_id(aws: dict[str, Any]) -> str | None:
    value = aws.get("account_id")
    if type(value) is int:
        return str(value)
    return _string(value)


def _service_id(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``ServiceId`` of a segment document, real or inferred."""
    name = doc["name"]
    aws = _object(doc.get("aws"))
    if doc.get("inferred") is not True:
        kind, account = _string(doc.get("origin")), _account_id(aws)
    elif doc.get("origin") == "remote":
        kind, account = "remote", None
    else:
        kind, account = doc["origin"], _account_id(aws)
        key = _RESOURCE_KEYS.get(kind)
        resource = _string(aws.get(key)) if key is not None else None
        if resource is not None and kind == "AWS::SQS::Queue":
            resource = resource.rsplit("/", 1)[-1]
        if resource:
            name = resource
    service: dict[str, Any] = {"Name": name, "Names": [name]}
    if account is not None:
        service["AccountId"] = account
    if kind is not None:
        service["Type"] = kind
    return service


def _annotation_value(value: Any) -> dict[str, Any] | None:
    if type(value) is str:
        return {"StringValue": value}
    if type(value) is bool:
        return {"BooleanValue": value}
    if _is_number(value):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a double
            return None
        return {"NumberValue": number} if math.isfinite(number) else None
    return None


def _pre_order(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], [doc]
    while stack:
        entity = stack.pop()
        out.append(entity)
        kids = entity.get("subsegments")
        if type(kids) is list:
            stack.extend(reversed(kids))
    return out


def _add(services: list[dict[str, Any]], service: dict[str, Any]) -> None:
    if service not in services:
        services.append(service)


def _http(doc: dict[str, Any]) -> dict[str, Any]:
    http = _object(doc.get("http"))
    request, response = _object(http.get("request")), _object(http.get("response"))
    out: dict[str, Any] = {}
    if _string(request.get("url")) is not None:
        out["HttpURL"] = request["url"]
    status = response.get("status")
    if type(status) is int:
        out["HttpStatus"] = status
    elif type(status) is str and _INTEGER.fullmatch(status):
        out["HttpStatus"] = int(status)
    for key, member in (
        ("HttpMethod", "method"),
        ("UserAgent", "user_agent"),
        ("ClientIp", "client_ip"),
    ):
        if _string(request.get(member)) is not None:
            out[key] = request[member]
    return out


def _exceptions(cause: Any, recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{Name, Message}]`` of a cause; a cause that is an exception id is looked up first."""
    if type(cause) is str:
        cause = next(
            (
                c
                for c in recorded
                if any(_object(x).get("id") == cause for x in _list(c.get("exceptions")))
            ),
            None,
        )
    if type(cause) is not dict:
        return []
    out = []
    for exception in _list(cause.get("exceptions")):
        item = {}
        for key, member in (("Name", "type"), ("Message", "message")):
            if _string(_object(exception).get(member)) is not None:
                item[key] = exception[member]
        out.append(item)
    return out


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


class _CallTree:
    """Entities, inferred segments and downstream segments, joined as calls."""

    def __init__(self, docs: list[dict[str, Any]], services: list[dict[str, Any]]) -> None:
        self.segment_service: dict[int, dict[str, Any]] = {}
        self.segments: set[int] = set()
        self.downstream: dict[str, list[dict[str, Any]]] = {}
        self.by_id: dict[str, dict[str, Any]] = {}
        for doc, service in zip(docs, services):
            self.segment_service[id(doc)] = service
            self.segments.add(id(doc))
            parent = doc.get("parent_id")
            if type(parent) is str:
                self.downstream.setdefault(parent, []).append(doc)
            if doc.get("inferred") is not True:
                for entity in _pre_order(doc):
                    self.by_id[entity["id"]] = entity

    def children(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        if node.get("inferred") is True and id(node) in self.segments:
            return []
        kids = [k for k in _list(node.get("subsegments")) if type(k) is dict]
        kids += self.downstream.get(node["id"], [])
        return sorted(kids, key=lambda k: (k["start_time"], k["id"]))

    def is_segment(self, node: dict[str, Any]) -> bool:
        return id(node) in self.segments

    def cause_of(self, node: dict[str, Any]) -> Any:
        if self.is_segment(node) and node.get("inferred") is True:
            node = self.by_id.get(node["parent_id"], {})
        return node.get("cause")

    def services(self, path: list[dict[str, Any]], exceptions: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for node in path:
            entity: dict[str, Any] = {"Name": node["name"]}
            if exceptions:
                entity["Exceptions"] = []
            entity["Remote"] = not self.is_segment(node) and node.get("namespace") in (
                "aws",
                "remote",
            )
            if self.is_segment(node):
                service = dict(self.segment_service[id(node)])
                out.append(
                    {
                        "Name": service["Name"],
                        "Names": service["Names"],
                        **({"Type": service["Type"]} if "Type" in service else {}),
                        **({"AccountId": service["AccountId"]} if "AccountId" in service else {}),
                        "EntityPath": [entity],
                        "Inferred": node.get("inferred") is True,
                    }
                )
            else:
                out[-1]["EntityPath"].append(entity)
        return out


def _duration(node: dict[str, Any]) -> float | None:
    return node["end_time"] - node["start_time"] if _complete(node) else None


def _flagged_paths(tree: _CallTree, root: dict[str, Any], flag: str) -> list[list[dict[str, Any]]]:
    def end(node: dict[str, Any]) -> float:
        return node["end_time"] if _complete(node) else math.inf

    paths = []
    stack: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [(root, [root])]
    while stack:
        node, path = stack.pop()
        if node.get(flag) is not True:
            stack.extend((kid, [*path, kid]) for kid in reversed(tree.children(node)))
            continue
        while True:
            flagged = [kid for kid in tree.children(path[-1]) if kid.get(flag) is True]
            if not flagged:
                break
            best = flagged[0]
            for kid in flagged[1:]:
                if end(kid) > end(best):
                    best = kid
            path = [*path, best]
        paths.append(path)
    return paths


def _slow_path(tree: _CallTree, root: dict[str, Any]) -> list[dict[str, Any]] | None:
    whole = _duration(root)
    if whole is None or whole <= 0:
        return None
    path = [root]
    while True:
        timed = [(kid, _duration(kid)) for kid in tree.children(path[-1])]
        timed = [(kid, d) for kid, d in timed if d is not None]
        if not timed:
            break
        best, longest = timed[0]
        for kid, d in timed[1:]:
            if d > longest:
                best, longest = kid, d
        if longest < RESPONSE_TIME_SHARE * (_duration(path[-1]) or 0.0):
            break
        path.append(best)
    return path


def summarize(
    trace: dict[str, Any], *, root: str | None, partial: bool, revision: int = 0
) -> dict[str, Any]:
    """The ``TraceSummary`` of one assembled trace.

    Arguments:
        trace: ``{"Id", "Segments": [{"Id", "Document"}]}``, segments sorted by start time then
            id, each ``Document`` a dict or a JSON string (extra members are ignored).
        root: the root segment's id (``reference.trace_info`` or ``Trace.root_id``), or None.
        partial: whether the trace is partial (``IsPartial``).
        revision: ``Revision`` (the reference assembler does not count revisions).

    Returns:
        The summary as X-Ray returns it (every member, collections empty when there is nothing).
    """
    docs = [
        s["Document"] if isinstance(s["Document"], dict) else orjson.loads(s["Document"])
        for s in trace["Segments"]
    ]
    root_doc = next((d for d in docs if root is not None and d["id"] == root), None)
    services: list[dict[str, Any]] = []
    segment_services = []
    users: list[dict[str, Any]] = []
    arns: list[str] = []
    instances: list[str] = []
    zones: list[str] = []
    annotations: dict[str, list[dict[str, Any]]] = {}
    recorded: list[dict[str, Any]] = []
    for doc in docs:
        service = _service_id(doc)
        _add(services, service)
        segment_services.append(service)
        if doc.get("inferred") is True:
            continue
        user = _string(doc.get("user"))
        if user is not None:
            entry = next((u for u in users if u["UserName"] == user), None)
            if entry is None:
                users.append({"UserName": user, "ServiceIds": [service]})
            else:
                _add(entry["ServiceIds"], service)
        ec2 = _object(_object(doc.get("aws")).get("ec2"))
        for values, value in (
            (arns, doc.get("resource_arn")),
            (instances, ec2.get("instance_id")),
            (zones, ec2.get("availability_zone")),
        ):
            if type(value) is str and value not in values:
                values.append(value)
        for entity in _pre_order(doc):
            if type(entity.get("cause")) is dict:
                recorded.append(entity["cause"])
            for key, raw in _object(entity.get("annotations")).items():
                value = _annotation_value(raw)
                if value is None:
                    continue
                if key not in annotations:
                    if len(annotations) == MAX_ANNOTATION_KEYS:
                        continue
                    annotations[key] = []
                entry = next(
                    (
                        v
                        for v in annotations[key]
                        if v["AnnotationValue"].keys() == value.keys()
                        and list(v["AnnotationValue"].values()) == list(value.values())
                    ),
                    None,
                )
                if entry is None:
                    annotations[key].append({"AnnotationValue": value, "ServiceIds": [service]})
                else:
                    _add(entry["ServiceIds"], service)

    summary: dict[str, Any] = {"Id": trace["Id"]}
    if docs:
        summary["StartTime"] = min(d["start_time"] for d in docs)
    ends = [d["end_time"] for d in docs if _complete(d)]
    if ends:
        summary["Duration"] = float(max(ends) - min(d["start_time"] for d in docs))
    if root_doc is not None and _complete(root_doc):
        summary["ResponseTime"] = float(root_doc["end_time"] - root_doc["start_time"])
    summary["HasFault"] = root_doc is not None and root_doc.get("fault") is True
    summary["HasError"] = root_doc is not None and root_doc.get("error") is True
    summary["HasThrottle"] = any(d.get("throttle") is True for d in docs)
    summary["IsPartial"] = partial
    summary["Http"] = _http(root_doc) if root_doc is not None else {}
    summary["Annotations"] = annotations
    summary["Users"] = users
    summary["ServiceIds"] = services
    summary["ResourceARNs"] = [{"ARN": arn} for arn in arns]
    summary["InstanceIds"] = [{"Id": i} for i in instances]
    summary["AvailabilityZones"] = [{"Name": zone} for zone in zones]
    if root_doc is not None:
        summary["EntryPoint"] = segment_services[docs.index(root_doc)]

    tree = _CallTree(docs, segment_services)
    for key, flag in (("FaultRootCauses", "fault"), ("ErrorRootCauses", "error")):
        causes = []
        for path in _flagged_paths(tree, root_doc, flag) if root_doc is not None else []:
            cause_services = tree.services(path, exceptions=True)
            culprit = cause_services[-1]["EntityPath"][-1]
            culprit["Exceptions"] = _exceptions(tree.cause_of(path[-1]), recorded)
            causes.append(
                {"Services": cause_services, "ClientImpacting": root_doc.get(flag) is True}
            )
        summary[key] = causes
    slow = _slow_path(tree, root_doc) if root_doc is not None else None
    response_time_causes = []
    if slow is not None:
        whole = _duration(slow[0]) or 1.0
        cause_services = tree.services(slow, exceptions=False)
        entities = [e for s in cause_services for e in s["EntityPath"]]
        for entity, node in zip(entities, slow):
            entity["Coverage"] = (_duration(node) or 0.0) / whole
            entity["Remote"] = entity.pop("Remote")  # keep the shape's member order
        response_time_causes.append({"Services": cause_services, "ClientImpacting": True})
    summary["ResponseTimeRootCauses"] = response_time_causes
    summary["Revision"] = revision
    return summary
