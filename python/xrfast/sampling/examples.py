"""Reservoirs of example traces: ``k`` trace ids per service node, outcome and latency bucket,
per edge and per path, each a uniform sample of the traces that went there.

>>> import xrfast
>>> from xrfast.sampling.examples import ExampleReservoirs
>>> examples = ExampleReservoirs(k=5, seed=7)
>>> examples.add(xrfast.read("segments.ndjson"))                           # doctest: +SKIP
>>> examples.report()["Services"][0]["TraceIds"]                           # doctest: +SKIP

Sampling is Algorithm L (Li 1994, "Reservoir-sampling algorithms of time complexity
O(n(1 + log(N/n)))"): after the reservoir is full it draws how many items to skip, so a batch of
``m`` items costs about ``k log(m / k)`` Python steps, not ``m``. Reservoirs merge: the merge of
uniform samples of two streams of sizes ``n1`` and ``n2`` is a uniform sample of their union
(the number taken from each side follows the hypergeometric law, drawn one item at a time).
Everything draws from a :class:`numpy.random.Generator` seeded by the caller, so the same
input, seed and merge order give the same examples.

Batches are fed from the core's columns (``TraceSet.service_columns()`` and
``path_column()``): grouping is numpy work; Python touches only the ids it keeps.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from xrfast._core import Analysis, TraceSet

__all__ = [
    "DEFAULT_LATENCY_BUCKETS_MS",
    "OUTCOMES",
    "ExampleReservoirs",
    "Reservoir",
]

#: Outcomes as the service graph counts requests (docs/decisions.md, "Service graph"): fault
#: (flag or 5xx), else throttle (flag or 429), else error (flag or 4xx), else ok.
OUTCOMES: tuple[str, ...] = ("ok", "error", "fault", "throttle")
Outcome = Literal["ok", "error", "fault", "throttle"]

#: Upper bounds (milliseconds, exclusive) of the latency buckets; a last bucket holds the rest
#: and in-progress segments get a bucket of their own.
DEFAULT_LATENCY_BUCKETS_MS: tuple[float, ...] = (100.0, 500.0, 1000.0, 5000.0)


def _generator(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.Generator(np.random.PCG64(seed))


class Reservoir:
    """A uniform sample of at most ``k`` items of a stream (Algorithm L), mergeable.

    Arguments:
        k: the sample size (at least 1).
        seed: an int seed or a :class:`numpy.random.Generator` to draw from.

    Raises:
        ValueError: ``k`` below 1.
    """

    __slots__ = ("_next", "_rng", "_w", "count", "items", "k")

    def __init__(self, k: int, *, seed: int | np.random.Generator = 0) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.k = k
        #: Items seen so far.
        self.count = 0
        #: The sample (at most ``k`` items, in no meaningful order).
        self.items: list[Any] = []
        self._rng = _generator(seed)
        self._w = 0.0
        #: Stream position of the next item to enter the reservoir once it is full.
        self._next = 0

    def _skip(self) -> None:
        """Draws the next position to take (Algorithm L's step)."""
        u = self._rng.random()
        # log(1 - W) is 0 for W that rounds to 0: then nothing would ever be skipped; keep going.
        denominator = math.log1p(-self._w) if self._w < 1.0 else -math.inf
        gap = math.floor(math.log(u) / denominator) if denominator != 0.0 else 0
        self._next += gap + 1
        self._w *= math.exp(math.log(self._rng.random()) / self.k)

    def _start(self) -> None:
        """The reservoir has just filled: draw W and the first skip."""
        self._w = math.exp(math.log(self._rng.random()) / self.k)
        self._next = self.count - 1
        self._skip()

    def add(self, item: Any) -> None:
        """Adds one item."""
        self.add_many([item])

    def add_many(
        self, items: Sequence[Any] | npt.NDArray[Any], ids: Sequence[Any] | None = None
    ) -> None:
        """Adds a batch; only the items taken are read.

        Arguments:
            items: the items, in stream order (a list or a numpy array).
            ids: when given, ``items`` are indexes into ``ids`` and ``ids[item]`` is stored.
        """
        m = len(items)
        start = self.count

        def value(at: int) -> Any:
            item = items[at]
            return ids[int(item)] if ids is not None else item

        at = 0
        while at < m and len(self.items) < self.k:
            self.items.append(value(at))
            at += 1
            self.count += 1
            if len(self.items) == self.k:
                self._start()
        if at == m:
            return
        end = start + m
        while self._next < end:
            self.items[int(self._rng.integers(self.k))] = value(self._next - start)
            self._skip()
        self.count = end

    def merge(self, other: Reservoir) -> Reservoir:
        """A uniform sample of both streams, drawn with this reservoir's generator.

        Arguments:
            other: a reservoir of another stream, with the same ``k``.

        Returns:
            A new reservoir that can take more items; neither input changes. Its generator is
            seeded from a copy of this one's, so merging is deterministic.

        Raises:
            ValueError: the sizes differ.
        """
        if other.k != self.k:
            raise ValueError(f"cannot merge reservoirs of k={self.k} and k={other.k}")
        entropy = copy.deepcopy(self._rng).integers(0, 2**63, size=4)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy.tolist())))
        out = Reservoir(self.k, seed=rng)
        n1, n2 = self.count, other.count
        left = rng.permutation(len(self.items)).tolist()
        right = rng.permutation(len(other.items)).tolist()
        take = min(self.k, n1 + n2)
        r1, r2 = n1, n2
        for _ in range(take):
            # The next item of a uniform sample without replacement of the union comes from the
            # first stream with probability r1 / (r1 + r2) (exact integer draw).
            if int(rng.integers(r1 + r2)) < r1:
                out.items.append(self.items[left.pop()])
                r1 -= 1
            else:
                out.items.append(other.items[right.pop()])
                r2 -= 1
        out.count = n1 + n2
        if out.count >= out.k:
            # W is the k-th smallest of n uniform keys, independent of which items hold them.
            out._w = float(rng.beta(out.k, out.count - out.k + 1))
            out._next = out.count - 1
            out._skip()
        return out

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Reservoir(k={self.k}, count={self.count}, items={len(self.items)})"


def _service_key(service: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    return (service["Name"], service.get("Type"), service.get("AccountId"))


def _service_dict(key: tuple[str, str | None, str | None]) -> dict[str, Any]:
    name, kind, account = key
    out: dict[str, Any] = {"Name": name, "Names": [name]}
    if account is not None:
        out["AccountId"] = account
    if kind is not None:
        out["Type"] = kind
    return out


def _edge_key(edge: Mapping[str, Any]) -> tuple[Any, Any]:
    return (_service_key(edge["Caller"]), _service_key(edge["Callee"]))


def _path_key(path: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        _service_key(path["EntryPoint"]),
        path.get("HttpMethod"),
        path.get("UrlPath"),
        tuple(_edge_key(e) for e in path["Edges"]),
        tuple(_edge_key(e) for e in path["Unreported"]),
    )


def outcomes(
    fault: npt.NDArray[np.bool_],
    error: npt.NDArray[np.bool_],
    throttle: npt.NDArray[np.bool_],
    http_status: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Index into :data:`OUTCOMES` per row, as the service graph classes a request."""
    is_fault = fault | ((http_status >= 500) & (http_status < 600))
    is_throttle = ~is_fault & (throttle | (http_status == 429))
    is_error = ~is_fault & ~is_throttle & (error | ((http_status >= 400) & (http_status < 500)))
    out = np.zeros(len(fault), dtype=np.int64)
    out[is_error] = 1
    out[is_fault] = 2
    out[is_throttle] = 3
    return out


class ExampleReservoirs:
    """Example trace ids for every service node (by outcome and latency bucket), edge and path.

    Arguments:
        k: trace ids kept per reservoir.
        seed: seeds every reservoir's generator (the generator of reservoir ``i`` created is
            seeded with ``(seed, i)`` in creation order, which depends only on the input).
        latency_buckets_ms: increasing upper bounds of the latency buckets, milliseconds.

    Raises:
        ValueError: ``k`` below 1, or bounds that are not increasing and positive.
    """

    def __init__(
        self,
        k: int = 5,
        *,
        seed: int = 0,
        latency_buckets_ms: Sequence[float] = DEFAULT_LATENCY_BUCKETS_MS,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        bounds = [float(b) for b in latency_buckets_ms]
        if any(b <= 0 for b in bounds) or any(a >= b for a, b in zip(bounds, bounds[1:])):
            raise ValueError("latency_buckets_ms must be positive and increasing")
        self.k = k
        self.seed = seed
        self.latency_buckets_ms = tuple(bounds)
        self._created = 0
        #: (service key, outcome, bucket label) → reservoir.
        self.services: dict[tuple[Any, str, str], Reservoir] = {}
        #: (caller key, callee key) → reservoir.
        self.edges: dict[tuple[Any, Any], Reservoir] = {}
        #: path key → reservoir (keys: entry service, method, URL template, edges, unreported).
        self.paths: dict[tuple[Any, ...], Reservoir] = {}

    def bucket_labels(self) -> list[str]:
        """The latency buckets' labels, then ``"in_progress"``."""
        bounds = self.latency_buckets_ms
        labels = []
        low = 0.0
        for high in bounds:
            labels.append(f"{_ms(low)}-{_ms(high)}ms")
            low = high
        labels.append(f">={_ms(low)}ms")
        labels.append("in_progress")
        return labels

    def _reservoir(self, table: dict[Any, Reservoir], key: Hashable) -> Reservoir:
        found = table.get(key)
        if found is None:
            seed = np.random.SeedSequence([self.seed, self._created])
            found = table[key] = Reservoir(self.k, seed=np.random.Generator(np.random.PCG64(seed)))
            self._created += 1
        return found

    def add(self, traces: TraceSet | Analysis) -> None:
        """Feeds every trace of a batch to the reservoirs it belongs to.

        Arguments:
            traces: a TraceSet, or an Analysis (its traces).
        """
        from xrfast._core import Analysis

        if isinstance(traces, Analysis):
            traces = traces.traces
        n = len(traces)
        if n == 0:
            return
        ids = traces.ids
        self._add_services(traces.service_columns(), ids, n)
        self._add_paths(traces.path_column(), ids)

    def _add_services(self, c: Mapping[str, Any], ids: Sequence[str], n: int) -> None:
        labels = self.bucket_labels()
        nb = len(labels)
        outcome = outcomes(c["fault"], c["error"], c["throttle"], c["http_status"])
        ms = c["duration"] * 1000.0
        bucket = np.searchsorted(np.asarray(self.latency_buckets_ms), ms, side="right")
        bucket[np.isnan(ms)] = nb - 1
        group = (c["service"].astype(np.int64) * len(OUTCOMES) + outcome) * nb + bucket
        # One row per (group, trace), traces ascending within a group.
        pairs = np.unique(group * n + c["trace"].astype(np.int64))
        groups, traces = pairs // n, pairs % n
        splits = np.flatnonzero(np.diff(groups)) + 1
        for chunk_groups, chunk in zip(np.split(groups, splits), np.split(traces, splits)):
            g = int(chunk_groups[0])
            service, rest = divmod(g, len(OUTCOMES) * nb)
            o, b = divmod(rest, nb)
            key = (_service_key(c["service_values"][service]), OUTCOMES[o], labels[b])
            self._reservoir(self.services, key).add_many(chunk, ids)

    def _add_paths(self, c: Mapping[str, Any], ids: Sequence[str]) -> None:
        codes = c["path"]
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.searchsorted(sorted_codes, np.arange(len(c["path_values"])), side="left")
        ends = np.searchsorted(sorted_codes, np.arange(len(c["path_values"])), side="right")
        by_edge: dict[tuple[Any, Any], list[npt.NDArray[np.int64]]] = {}
        for code, path in enumerate(c["path_values"]):
            members = np.sort(order[starts[code] : ends[code]])
            self._reservoir(self.paths, _path_key(path)).add_many(members, ids)
            for edge in path["Edges"]:
                by_edge.setdefault(_edge_key(edge), []).append(members)
        for key, parts in by_edge.items():
            members = np.sort(np.concatenate(parts))
            self._reservoir(self.edges, key).add_many(members, ids)

    def merge(self, other: ExampleReservoirs) -> ExampleReservoirs:
        """The reservoirs of both, each a uniform sample of the traces both saw.

        Arguments:
            other: reservoirs fed elsewhere (same ``k`` and buckets).

        Returns:
            New reservoirs.

        Raises:
            ValueError: ``k`` or the buckets differ.
        """
        if other.k != self.k or other.latency_buckets_ms != self.latency_buckets_ms:
            raise ValueError("cannot merge reservoirs with different k or latency buckets")
        out = ExampleReservoirs(self.k, seed=self.seed, latency_buckets_ms=self.latency_buckets_ms)
        for name in ("services", "edges", "paths"):
            mine, theirs, merged = getattr(self, name), getattr(other, name), getattr(out, name)
            for key in sorted(set(mine) | set(theirs), key=repr):
                a, b = mine.get(key), theirs.get(key)
                if a is None or b is None:
                    only = a if a is not None else b
                    assert only is not None
                    copy = only.merge(Reservoir(self.k, seed=0))
                    merged[key] = copy
                else:
                    merged[key] = a.merge(b)
        return out

    def report(self) -> dict[str, Any]:
        """The examples, in X-Ray's naming style, sorted so the output is deterministic.

        Returns:
            ``{"Services": [{"Service", "Outcome", "LatencyBucket", "Count", "TraceIds"}],
            "Edges": [{"Caller", "Callee", "Count", "TraceIds"}], "Paths": [{"EntryPoint",
            "HttpMethod"?, "UrlPath"?, "Edges", "Unreported", "Count", "TraceIds"}]}``; trace
            ids sorted.
        """
        labels = self.bucket_labels()
        services = [
            {
                "Service": _service_dict(key[0]),
                "Outcome": key[1],
                "LatencyBucket": key[2],
                "Count": r.count,
                "TraceIds": sorted(r.items),
            }
            for key, r in sorted(
                self.services.items(),
                key=lambda kv: (repr(kv[0][0]), OUTCOMES.index(kv[0][1]), labels.index(kv[0][2])),
            )
        ]
        edges = [
            {
                "Caller": _service_dict(key[0]),
                "Callee": _service_dict(key[1]),
                "Count": r.count,
                "TraceIds": sorted(r.items),
            }
            for key, r in sorted(self.edges.items(), key=lambda kv: repr(kv[0]))
        ]
        paths = []
        for key, r in sorted(self.paths.items(), key=lambda kv: (-kv[1].count, repr(kv[0]))):
            entry: dict[str, Any] = {"EntryPoint": _service_dict(key[0])}
            if key[1] is not None:
                entry["HttpMethod"] = key[1]
            if key[2] is not None:
                entry["UrlPath"] = key[2]
            entry["Edges"] = [
                {"Caller": _service_dict(a), "Callee": _service_dict(b)} for a, b in key[3]
            ]
            entry["Unreported"] = [
                {"Caller": _service_dict(a), "Callee": _service_dict(b)} for a, b in key[4]
            ]
            entry["Count"] = r.count
            entry["TraceIds"] = sorted(r.items)
            paths.append(entry)
        return {"Services": services, "Edges": edges, "Paths": paths}

    def service_examples(
        self, name: str, *, outcome: Outcome | None = None
    ) -> dict[tuple[str, str], list[str]]:
        """The examples of the service nodes named ``name``.

        Arguments:
            name: the node's ``Name``.
            outcome: only this outcome.

        Returns:
            ``{(outcome, latency bucket): sorted trace ids}``, merged over nodes of that name.
        """
        out: dict[tuple[str, str], list[str]] = {}
        for (service, o, bucket), r in self.services.items():
            if service[0] == name and (outcome is None or o == outcome):
                out.setdefault((o, bucket), []).extend(r.items)
        return {key: sorted(ids) for key, ids in out.items()}


def _ms(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def feed(reservoirs: ExampleReservoirs, batches: Iterable[TraceSet | Analysis]) -> None:
    """Feeds every batch, in order (a convenience for streams of ``TraceSet``)."""
    for batch in batches:
        reservoirs.add(batch)
