"""X-Ray's service graph in plain Python: the test oracle for ``rust/xrfast-core/src/graph.rs``.

It derives the graph from assembled traces in the ``BatchGetTraces`` shape (what
:func:`xrfast.bench.reference.assemble` or ``Trace.to_dict()`` returns), following spec §5 and the
choices written down in ``docs/decisions.md`` ("Service graph"):

* **Nodes** are the summaries' ``ServiceId`` (spec §5.2), listed by name, then type (absent
  first), then account; ``ReferenceId`` is the position. ``State`` is ``active`` with a real
  segment, else ``unknown``; a client node ``(root name, "client")`` per root name has edges only.
* **Edges.** Every segment (real or inferred) whose ``parent_id`` names a returned entity is one
  request from the node owning that entity, measured by that entity when it is a subsegment, by
  the segment itself when its parent is a segment; once per (call, callee node). Each root
  segment is one request on the client → root edge.
* **Statistics.** Completed requests only: fault (flag or 5xx), else throttle (flag or 429), else
  error (flag or 4xx), else ok. Sums in whole nanoseconds, histograms in whole milliseconds,
  both rounded half up. A root node's ``DurationHistogram`` holds the durations of the complete
  traces it is the root of; any other node's repeats its ``ResponseTimeHistogram``.
* **Time series.** One-minute buckets by the minute a request ended, summed per period.
* **Link edges** (``docs/links.md``). The inferred segment of an SQS queue call (origin
  ``AWS::SQS::Queue``) is a producer, known by (trace id, the call's subsegment id); each entry
  ``{"trace_id", "id"}`` of an entity's ``links`` is a consumer, of the node of the segment that
  holds the entity. A producer and a consumer of one key make one request on the
  ``EdgeType: "link"`` edge producer node → consumer node, counted once the consumer ended:
  classified by the consumer's outcome, its ``ReceivedEventAgeHistogram`` and
  ``TotalResponseTime`` from the age ``max(0, consumer start − producer start)``; its
  ``StartTime`` is the earliest producer start, its ``EndTime`` the latest consumer end. The
  oracle keeps everything (no bound on pending links).

Nothing here is fast; clarity wins.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import orjson

from xrfast.bench.summary_reference import _complete, _http, _pre_order, _service_id

__all__ = ["ServiceGraph", "nearest_rank"]

_Key = tuple[str, str | None, str | None]


def _key(service: dict[str, Any]) -> _Key:
    return (service["Name"], service.get("Type"), service.get("AccountId"))


def _order(key: _Key) -> tuple[Any, ...]:
    name, kind, account = key
    return (name, kind is not None, kind or "", account is not None, account or "")


def _outcome(entity: dict[str, Any]) -> str:
    status = _http(entity).get("HttpStatus", 0)
    if entity.get("fault") is True or 500 <= status < 600:
        return "fault"
    if entity.get("throttle") is True or status == 429:
        return "throttle"
    if entity.get("error") is True or 400 <= status < 500:
        return "error"
    return "ok"


def _millis(seconds: float) -> int:
    return math.floor(seconds * 1000.0 + 0.5)


def _nanos(seconds: float) -> int:
    return math.floor(seconds * 1e9 + 0.5)


class _Samples:
    def __init__(self) -> None:
        self.start = math.inf
        self.end = -math.inf
        self.counts: Counter[str] = Counter()
        self.nanos = 0
        self.histogram: Counter[int] = Counter()
        self.values: list[float] = []
        self.minutes: dict[int, tuple[Counter[str], list[int], Counter[int]]] = {}

    def add(self, entity: dict[str, Any]) -> None:
        self.start = min(self.start, entity["start_time"])
        if not _complete(entity):
            return
        end = entity["end_time"]
        self.end = max(self.end, end)
        seconds = end - entity["start_time"]
        outcome = _outcome(entity)
        self.counts[outcome] += 1
        self.nanos += _nanos(seconds)
        self.histogram[_millis(seconds)] += 1
        self.values.append(seconds)
        counts, nanos, histogram = self.minutes.setdefault(
            math.floor(end / 60.0), (Counter(), [0], Counter())
        )
        counts[outcome] += 1
        nanos[0] += _nanos(seconds)
        histogram[_millis(seconds)] += 1

    def times(self) -> dict[str, float]:
        out = {}
        if math.isfinite(self.start):
            out["StartTime"] = self.start
        if math.isfinite(self.end):
            out["EndTime"] = self.end
        return out


def _statistics(counts: Counter[str], nanos: int) -> dict[str, Any]:
    return {
        "OkCount": counts["ok"],
        "ErrorStatistics": {
            "ThrottleCount": counts["throttle"],
            "OtherCount": counts["error"],
            "TotalCount": counts["throttle"] + counts["error"],
        },
        "FaultStatistics": {"OtherCount": counts["fault"], "TotalCount": counts["fault"]},
        "TotalCount": sum(counts.values()),
        "TotalResponseTime": nanos / 1e9,
    }


def _histogram(counts: Counter[int]) -> list[dict[str, Any]]:
    return [{"Value": ms / 1000.0, "Count": counts[ms]} for ms in sorted(counts)]


def nearest_rank(values: list[float], q: float) -> float:
    """The value a DDSketch's ``q`` quantile approximates: the sorted values' element at rank
    ``floor(q * (n - 1))``."""
    return sorted(values)[int(q * (len(values) - 1))]


_TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
_ENTITY_ID = re.compile(r"[0-9a-f]{16}")


class _Link:
    """A link edge's requests."""

    def __init__(self) -> None:
        self.start = math.inf
        self.end = -math.inf
        self.counts: Counter[str] = Counter()
        self.nanos = 0
        self.ages: Counter[int] = Counter()

    def add(self, producer_start: float, consumer: tuple[float, float | None, str]) -> None:
        start, end, outcome = consumer
        self.start = min(self.start, producer_start)
        if end is None:
            return
        self.end = max(self.end, end)
        age = max(0.0, start - producer_start)
        self.counts[outcome] += 1
        self.nanos += _nanos(age)
        self.ages[_millis(age)] += 1


class ServiceGraph:
    """The service graph of the traces given to :meth:`add`."""

    def __init__(self) -> None:
        self.nodes: dict[_Key, dict[str, Any]] = {}
        self.edges: dict[tuple[_Key, _Key], _Samples] = {}
        self.links: dict[tuple[_Key, _Key], _Link] = {}
        #: (trace id, SQS call id) → (queue node, start).
        self.producers: dict[tuple[str, str], tuple[_Key, float]] = {}
        #: (trace id, entity id) → consumers waiting: (node, (start, end or None, outcome)).
        self.waiting: dict[tuple[str, str], list[tuple[_Key, tuple[float, float | None, str]]]]
        self.waiting = {}
        #: ``links`` entries that name no valid trace id and entity id.
        self.invalid_links = 0

    def _consumer(
        self, target: tuple[str, str], node: _Key, consumer: tuple[float, float | None, str]
    ) -> None:
        if target in self.producers:
            queue, start = self.producers[target]
            self.links.setdefault((queue, node), _Link()).add(start, consumer)
        else:
            self.waiting.setdefault(target, []).append((node, consumer))

    def _links(self, trace_id: str, docs: list[dict[str, Any]], keys: list[_Key]) -> None:
        for pos, doc in enumerate(docs):
            if doc.get("inferred") is True and doc.get("origin") == "AWS::SQS::Queue":
                target = (trace_id, doc["parent_id"])
                known = self.producers.get(target)
                start = doc["start_time"] if known is None else min(known[1], doc["start_time"])
                self.producers[target] = (keys[pos], start)
                for node, consumer in self.waiting.pop(target, []):
                    self._consumer(target, node, consumer)
        for pos, doc in enumerate(docs):
            if doc.get("inferred") is True:
                continue
            for entity in _pre_order(doc):
                for link in entity.get("links", []):
                    target_trace = link.get("trace_id") if isinstance(link, dict) else None
                    target_id = link.get("id") if isinstance(link, dict) else None
                    if not (
                        isinstance(target_trace, str)
                        and _TRACE_ID.fullmatch(target_trace)
                        and isinstance(target_id, str)
                        and _ENTITY_ID.fullmatch(target_id)
                    ):
                        self.invalid_links += 1
                        continue
                    end = entity["end_time"] if _complete(entity) else None
                    outcome = _outcome(entity)
                    self._consumer(
                        (target_trace, target_id),
                        keys[pos],
                        (entity["start_time"], end, outcome),
                    )

    def _node(self, key: _Key) -> dict[str, Any]:
        return self.nodes.setdefault(
            key,
            {
                "active": False,
                "root": False,
                "client": False,
                "samples": _Samples(),
                "durations": Counter(),
            },
        )

    def add(self, trace: dict[str, Any], *, root: str | None) -> None:
        """Adds one trace in the ``BatchGetTraces`` shape whose root segment has id ``root``."""
        docs = [
            s["Document"] if isinstance(s["Document"], dict) else orjson.loads(s["Document"])
            for s in trace["Segments"]
        ]
        keys = [_key(_service_id(doc)) for doc in docs]
        owner: dict[str, int] = {}
        entities: dict[str, tuple[dict[str, Any], bool]] = {}
        for pos, doc in enumerate(docs):
            if doc.get("inferred") is True:
                continue
            for entity in _pre_order(doc):
                owner[entity["id"]] = pos
                entities[entity["id"]] = (entity, entity is not doc)
        called: set[tuple[str, _Key]] = set()
        for pos, doc in enumerate(docs):
            node = self._node(keys[pos])
            node["active"] |= doc.get("inferred") is not True
            node["samples"].add(doc)
            if root is not None and doc["id"] == root and doc.get("inferred") is not True:
                node["root"] = True
                if _complete(doc):
                    node["durations"][_millis(trace["Duration"])] += 1
                client = (keys[pos][0], "client", None)
                self._node(client)["client"] = True
                self.edges.setdefault((client, keys[pos]), _Samples()).add(doc)
            parent = doc.get("parent_id")
            if parent not in owner or (parent, keys[pos]) in called:
                continue
            called.add((parent, keys[pos]))
            call, is_subsegment = entities[parent]
            sample = call if is_subsegment else doc
            self.edges.setdefault((keys[owner[parent]], keys[pos]), _Samples()).add(sample)
        self._links(trace["Id"], docs, keys)

    def services(self) -> list[dict[str, Any]]:
        """The ``Services`` of ``GetServiceGraph`` / ``GetTraceGraph``."""
        order = sorted(self.nodes, key=_order)
        reference = {key: n for n, key in enumerate(order)}
        out = []
        for n, key in enumerate(order):
            node = self.nodes[key]
            samples: _Samples = node["samples"]
            client = node["client"] and not node["active"] and samples.start == math.inf
            edges = sorted(
                ((reference[to], edge) for (frm, to), edge in self.edges.items() if frm == key),
                key=lambda item: item[0],
            )
            links = sorted(
                ((reference[to], link) for (frm, to), link in self.links.items() if frm == key),
                key=lambda item: item[0],
            )
            service: dict[str, Any] = {"ReferenceId": n, "Name": key[0], "Names": [key[0]]}
            if not client:
                service["Root"] = node["root"]
            if key[2] is not None:
                service["AccountId"] = key[2]
            if key[1] is not None:
                service["Type"] = key[1]
            service["State"] = "active" if node["active"] else "unknown"
            if client:
                span = _Samples()
                for _, edge in edges:
                    span.start = min(span.start, edge.start)
                    span.end = max(span.end, edge.end)
                service.update(span.times())
            else:
                service.update(samples.times())
            written = [
                (
                    to,
                    0,
                    {
                        "ReferenceId": to,
                        **edge.times(),
                        "SummaryStatistics": _statistics(edge.counts, edge.nanos),
                        "ResponseTimeHistogram": _histogram(edge.histogram),
                        "Aliases": [],
                    },
                )
                for to, edge in edges
            ]
            for to, link in links:
                times = {}
                if math.isfinite(link.start):
                    times["StartTime"] = link.start
                if math.isfinite(link.end):
                    times["EndTime"] = link.end
                entry = {
                    "ReferenceId": to,
                    **times,
                    "SummaryStatistics": _statistics(link.counts, link.nanos),
                    "Aliases": [],
                    "EdgeType": "link",
                    "ReceivedEventAgeHistogram": _histogram(link.ages),
                }
                written.append((to, 1, entry))
            # A call edge before a link edge to the same node.
            service["Edges"] = [e for _, _, e in sorted(written, key=lambda w: (w[0], w[1]))]
            if not client:
                service["SummaryStatistics"] = _statistics(samples.counts, samples.nanos)
                service["DurationHistogram"] = _histogram(
                    node["durations"] if node["durations"] else samples.histogram
                )
                service["ResponseTimeHistogram"] = _histogram(samples.histogram)
            out.append(service)
        return out

    def latencies(self) -> dict[str, list[dict[str, Any]]]:
        """Per node (client nodes excepted) and per edge: ``name``/``type``/``account_id`` or
        ``source``/``target``, then ``count``, ``min``, ``max``, ``sum`` and the raw
        ``values`` (for quantiles)."""

        def row(samples: _Samples) -> dict[str, Any]:
            values = samples.values
            return {
                "count": len(values),
                "min": min(values) if values else None,
                "max": max(values) if values else None,
                "sum": sum(_nanos(v) for v in values) / 1e9,
                "values": values,
            }

        def ident(key: _Key) -> dict[str, Any]:
            return {"name": key[0], "type": key[1], "account_id": key[2]}

        nodes = [
            {**ident(key), **row(self.nodes[key]["samples"])}
            for key in sorted(self.nodes, key=_order)
            if not (
                self.nodes[key]["client"]
                and not self.nodes[key]["active"]
                and self.nodes[key]["samples"].start == math.inf
            )
        ]
        edge_keys = sorted(self.edges, key=lambda k: (_order(k[0]), _order(k[1])))
        edges = [
            {"source": ident(a), "target": ident(b), **row(self.edges[(a, b)])}
            for a, b in edge_keys
        ]
        return {"nodes": nodes, "edges": edges}

    def time_series(self, period: int = 60) -> list[dict[str, Any]]:
        """``TimeSeriesServiceStatistics`` over the client → root edges, ``period`` seconds."""
        per: dict[int, tuple[Counter[str], list[int], Counter[int]]] = {}
        for (frm, _), edge in self.edges.items():
            if frm[1] != "client":
                continue
            for minute, (counts, nanos, histogram) in edge.minutes.items():
                stamp = (minute // (period // 60)) * period
                total = per.setdefault(stamp, (Counter(), [0], Counter()))
                total[0].update(counts)
                total[1][0] += nanos[0]
                total[2].update(histogram)
        return [
            {
                "Timestamp": float(stamp),
                "EdgeSummaryStatistics": _statistics(per[stamp][0], per[stamp][1][0]),
                "ResponseTimeHistogram": _histogram(per[stamp][2]),
            }
            for stamp in sorted(per)
        ]
