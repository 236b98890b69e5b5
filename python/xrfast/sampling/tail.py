"""Tail sampling of assembled traces, with the policies of the OpenTelemetry Collector's
``tail_sampling`` processor, decided over numpy columns from the Rust core.

>>> import xrfast
>>> from xrfast.sampling.tail import Latency, Probabilistic, StatusCode, TailSampler
>>> traces = xrfast.read("segments.ndjson")                                # doctest: +SKIP
>>> sampler = TailSampler([StatusCode(["fault", "error"]), Latency(threshold_ms=1000),
...                        Probabilistic(sampling_percentage=5)])
>>> keep = sampler.decide(traces)        # numpy bool mask, one entry per trace  # doctest: +SKIP

A decision never calls Python once per trace: :class:`TraceColumns` reads the columns the
policies need once (``TraceSet.summary_columns()``, ``TraceSet.annotation_column(key)``), string
conditions run once per distinct value of a categorical column, and every policy is a handful
of numpy operations over the whole batch. Policies combine as the OpenTelemetry processor
combines them: a trace is kept when any policy samples it, unless a policy with
``invert_match`` matched it (an inverted match vetoes; see docs/tail-sampling.md).

The hash of :class:`Probabilistic` is documented in :func:`trace_id_hash`, so every process —
and any other implementation — takes the same decision for the same trace id and percentage.
"""

from __future__ import annotations

import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from xrfast._core import Analysis, TraceSet

__all__ = [
    "POLICY_TYPES",
    "AlwaysSample",
    "And",
    "Annotation",
    "Composite",
    "Filter",
    "Latency",
    "NumericAttribute",
    "Policy",
    "Probabilistic",
    "RateLimiting",
    "StatusCode",
    "StringAttribute",
    "TailSampler",
    "TraceColumns",
    "hash_threshold",
    "trace_id_hash",
    "trace_id_hash_one",
]

Mask = npt.NDArray[np.bool_]

_M64 = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB

#: The statuses :class:`StatusCode` knows: X-Ray's root flags, and ``ok`` for none of them.
StatusName = Literal["fault", "error", "throttle", "ok"]
#: The trace strings :class:`StringAttribute` reads (the root segment's, as in the summary).
StringKey = Literal["service.name", "http.url", "http.method"]
#: The trace numbers :class:`NumericAttribute` reads.
NumericKey = Literal["http.status_code", "duration", "response_time"]
#: Where :class:`RateLimiting` and :class:`Composite` take a trace's second from.
TimeSource = Literal["event", "clock"]

_STRING_COLUMNS: dict[str, str] = {
    "service.name": "service",
    "http.url": "url",
    "http.method": "method",
}
_NUMERIC_COLUMNS: dict[str, str] = {
    "http.status_code": "http_status",
    "duration": "duration",
    "response_time": "response_time",
}


# --------------------------------------------------------------------------------------------
# The trace-id hash.


def _salt(hash_salt: str) -> int:
    """FNV-1a (64-bit) of the salt's UTF-8 bytes."""
    h = _FNV_OFFSET
    for byte in hash_salt.encode():
        h = ((h ^ byte) * _FNV_PRIME) & _M64
    return h


def _mix_int(z: int) -> int:
    z = ((z ^ (z >> 30)) * _MIX1) & _M64
    z = ((z ^ (z >> 27)) * _MIX2) & _M64
    return z ^ (z >> 31)


def _mix(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    # numpy wraps uint64 array arithmetic modulo 2**64, as the integer version masks.
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
    return z ^ (z >> np.uint64(31))


def trace_id_hash_one(trace_id: str, hash_salt: str = "") -> int:
    """:func:`trace_id_hash` of one trace id given as text (the pure-Python reference).

    Arguments:
        trace_id: ``1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx``.
        hash_salt: as for :class:`Probabilistic`.

    Returns:
        The 64-bit hash as a Python int.

    Raises:
        ValueError: the id is not an X-Ray trace id.
    """
    parts = trace_id.split("-")
    if len(parts) != 3 or parts[0] != "1" or len(parts[1]) != 8 or len(parts[2]) != 24:
        raise ValueError(f"{trace_id!r} is not an X-Ray trace id")
    value = int(parts[1] + parts[2], 16)
    high, low = value >> 64, value & _M64
    return _mix_int(high ^ _mix_int(low ^ _salt(hash_salt)))


def trace_id_hash(
    id_high: npt.NDArray[np.uint64], id_low: npt.NDArray[np.uint64], hash_salt: str = ""
) -> npt.NDArray[np.uint64]:
    """The 64-bit hash of trace ids that :class:`Probabilistic` compares with its threshold.

    The id ``1-EEEEEEEE-RRRRRRRRRRRRRRRRRRRRRRRR`` is read as one 128-bit integer (hex
    ``EEEEEEEE`` followed by ``RRRR…``) split into ``high`` and ``low`` 64-bit halves;
    ``salt`` is FNV-1a 64 of ``hash_salt``'s UTF-8 bytes (its offset basis
    ``0xcbf29ce484222325`` for the empty salt); ``mix`` is SplitMix64's finaliser
    (``z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27; z *= 0x94d049bb133111eb;
    z ^= z >> 31``, modulo 2**64). The hash is ``mix(high ^ mix(low ^ salt))``.

    Arguments:
        id_high: the ids' high halves (``summary_columns()["id_high"]``).
        id_low: the ids' low halves.
        hash_salt: as for :class:`Probabilistic`.

    Returns:
        One uint64 per id.
    """
    low = np.asarray(id_low, dtype=np.uint64) ^ np.uint64(_salt(hash_salt))
    return _mix(np.asarray(id_high, dtype=np.uint64) ^ _mix(low))


def hash_threshold(sampling_percentage: float) -> int:
    """The hash threshold of a percentage: a trace is sampled when its hash is below it.

    Arguments:
        sampling_percentage: 0 to 100.

    Returns:
        ``floor(sampling_percentage / 100 × 2**64)``, computed in IEEE double arithmetic (exact
        for the multiplication by a power of two), capped at 2**64.
    """
    if sampling_percentage >= 100:
        return 1 << 64
    return min(1 << 64, math.floor(sampling_percentage / 100 * 18446744073709551616.0))


# --------------------------------------------------------------------------------------------
# Columns.


class TraceColumns:
    """The columns a batch of traces offers to policies, read from the core once and cached.

    Arguments:
        traces: a :class:`xrfast.TraceSet` or an :class:`xrfast.Analysis` (its traces).
        summary: columns already read with ``TraceSet.summary_columns()``.
    """

    def __init__(
        self, traces: TraceSet | Analysis | None = None, *, summary: dict[str, Any] | None = None
    ) -> None:
        from xrfast._core import Analysis

        self._analysis: Analysis | None = None
        if isinstance(traces, Analysis):
            # Its summaries are made already: the summary columns come from them.
            self._analysis, traces = traces, traces.traces
        self.traces: TraceSet | None = traces
        self._summary = summary
        self._annotations: dict[str, dict[str, Any]] = {}
        if traces is None and summary is None:
            raise ValueError("TraceColumns needs traces or summary columns")

    @property
    def summary(self) -> dict[str, Any]:
        """``TraceSet.summary_columns()`` of the traces."""
        if self._summary is None:
            if self._analysis is not None:
                self._summary = self._analysis.summary_columns()
            else:
                assert self.traces is not None
                self._summary = self.traces.summary_columns()
        return self._summary

    def __len__(self) -> int:
        if self._summary is None and self.traces is not None:
            return len(self.traces)
        return len(self.summary["id_high"])

    def annotation(self, key: str) -> dict[str, Any]:
        """``TraceSet.annotation_column(key)`` of the traces.

        Raises:
            ValueError: the columns were given without their traces and ``key`` was not loaded.
        """
        if key not in self._annotations:
            if self._analysis is not None:
                self._annotations[key] = self._analysis.annotation_column(key)
            elif self.traces is None:
                raise ValueError(f"annotation {key!r} was not loaded and there are no traces")
            else:
                self._annotations[key] = self.traces.annotation_column(key)
        return self._annotations[key]

    def load(self, policies: Iterable[Policy]) -> TraceColumns:
        """Reads every column ``policies`` need now (so that deciding reads nothing more).

        Returns:
            ``self``.
        """
        self.summary  # noqa: B018 - loads the summary columns
        for policy in policies:
            for key in policy.annotation_keys():
                self.annotation(key)
        return self


def _categorical_match(
    codes: npt.NDArray[np.int32], values: Sequence[str], matches: Callable[[str], bool]
) -> Mask:
    """``matches`` once per distinct value, spread to the rows by code (-1 never matches)."""
    table = np.fromiter((matches(v) for v in values), dtype=np.bool_, count=len(values))
    table = np.append(table, False)  # code -1 indexes this last entry
    return table[codes]


def _string_matcher(values: Sequence[str], regex: bool) -> Callable[[str], bool]:
    if regex:
        patterns = [re.compile(v) for v in values]
        return lambda text: any(p.search(text) for p in patterns)
    wanted = frozenset(values)
    return lambda text: text in wanted


def _seconds(columns: TraceColumns, time_source: TimeSource, now: float) -> npt.NDArray[np.int64]:
    """The second each trace counts in: its ``StartTime`` (event time; the clock's second when
    it has none), or the clock's second for all."""
    n = len(columns)
    clock_second = math.floor(now)
    if time_source == "clock":
        return np.full(n, clock_second, dtype=np.int64)
    start = columns.summary["start"]
    seconds = np.full(n, clock_second, dtype=np.int64)
    known = ~np.isnan(start)
    seconds[known] = np.floor(start[known]).astype(np.int64)
    return seconds


class _SecondBudget:
    """Traces taken per second, for a budget of ``limit`` traces a second. Seconds more than
    ``horizon`` seconds older than the newest seen are forgotten (bounded memory)."""

    def __init__(self, limit: int, horizon: int) -> None:
        self.limit = limit
        self.horizon = horizon
        self.used: dict[int, int] = {}

    def take(self, candidates: Mask, seconds: npt.NDArray[np.int64]) -> Mask:
        """The candidates kept: in batch order, the first ones of each second while it has
        budget left."""
        kept = np.zeros(len(candidates), dtype=np.bool_)
        index = np.flatnonzero(candidates)
        if len(index) == 0 or self.limit <= 0:
            return kept
        secs = seconds[index]
        order = np.argsort(secs, kind="stable")
        ordered = secs[order]
        unique, first, counts = np.unique(ordered, return_index=True, return_counts=True)
        rank = np.arange(len(ordered)) - np.repeat(first, counts)
        left = np.array([self.limit - self.used.get(int(s), 0) for s in unique], dtype=np.int64)
        take = rank < np.repeat(left, counts)
        kept[index[order[take]]] = True
        for s, c, room in zip(unique.tolist(), counts.tolist(), left.tolist()):
            self.used[s] = self.used.get(s, 0) + max(0, min(c, room))
        self._forget()
        return kept

    def take_one(self, second: int) -> bool:
        """The per-trace version of :meth:`take` (the reference)."""
        if self.limit <= 0 or self.used.get(second, 0) >= self.limit:
            return False
        self.used[second] = self.used.get(second, 0) + 1
        self._forget()
        return True

    def _forget(self) -> None:
        if len(self.used) > 2 * self.horizon:
            newest = max(self.used)
            self.used = {s: c for s, c in self.used.items() if s > newest - self.horizon}


# --------------------------------------------------------------------------------------------
# Policies.


@dataclass(frozen=True)
class Decision:
    """A policy's decision over a batch: ``sampled`` traces, and ``vetoed`` ones (an inverted
    match, which no other policy can overrule)."""

    sampled: Mask
    vetoed: Mask | None = None


class Policy(ABC):
    """A tail-sampling policy. Subclasses decide over columns (:meth:`decide`) and, for the
    tests and the benchmark's baseline, over one ``TraceSummary`` dict at a time
    (:meth:`decide_one`)."""

    #: The policy type's name in configuration files (OpenTelemetry's where it has one).
    type: str = ""
    #: The policy's name (its counts are reported under it).
    name: str = ""

    def annotation_keys(self) -> tuple[str, ...]:
        """The annotation keys the policy reads."""
        return ()

    @abstractmethod
    def decide(self, columns: TraceColumns, now: float) -> Decision:
        """The decision over every trace of ``columns``; ``now`` is the clock's time."""

    @abstractmethod
    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        """``(sampled, vetoed)`` for one trace, from its ``TraceSummary`` dict."""

    def reset(self) -> None:
        """Forgets any state (rate budgets)."""


def _inverted(matched: Mask, invert_match: bool) -> Decision:
    if invert_match:
        return Decision(~matched, matched)
    return Decision(matched)


def _inverted_one(matched: bool, invert_match: bool) -> tuple[bool, bool]:
    return (not matched, matched) if invert_match else (matched, False)


def _in_range(x: float, low: float | None, high: float | None) -> bool:
    if math.isnan(x):
        return False
    return (low is None or x >= low) and (high is None or x <= high)


def _range_mask(x: npt.NDArray[np.float64], low: float | None, high: float | None) -> Mask:
    with np.errstate(invalid="ignore"):
        mask = ~np.isnan(x)
        if low is not None:
            mask &= x >= low
        if high is not None:
            mask &= x <= high
    return mask


@dataclass
class AlwaysSample(Policy):
    """Samples every trace (OpenTelemetry ``always_sample``)."""

    name: str = "always_sample"
    type = "always_sample"

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        return Decision(np.ones(len(columns), dtype=np.bool_))

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        return True, False


@dataclass
class Latency(Policy):
    """Samples traces that took at least ``threshold_ms`` milliseconds (and at most
    ``upper_threshold_ms`` when given): OpenTelemetry ``latency``, on the trace's ``Duration``
    (first segment start to last segment end) or, with ``measure="response_time"``, on the
    root's ``ResponseTime``. Traces without the measure are not sampled.

    Raises:
        ValueError: a negative threshold, or an upper threshold below the lower one.
    """

    threshold_ms: float = 0.0
    upper_threshold_ms: float | None = None
    measure: Literal["duration", "response_time"] = "duration"
    name: str = "latency"
    type = "latency"

    def __post_init__(self) -> None:
        if self.threshold_ms < 0:
            raise ValueError(f"threshold_ms must be at least 0, got {self.threshold_ms}")
        if self.upper_threshold_ms is not None and self.upper_threshold_ms < self.threshold_ms:
            raise ValueError(
                f"upper_threshold_ms ({self.upper_threshold_ms}) is below threshold_ms "
                f"({self.threshold_ms})"
            )
        if self.measure not in ("duration", "response_time"):
            raise ValueError(f"measure must be 'duration' or 'response_time', got {self.measure!r}")

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        ms = columns.summary[self.measure] * 1000.0
        return Decision(_range_mask(ms, self.threshold_ms, self.upper_threshold_ms))

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        key = "Duration" if self.measure == "duration" else "ResponseTime"
        value = summary.get(key)
        if value is None:
            return False, False
        return _in_range(value * 1000.0, self.threshold_ms, self.upper_threshold_ms), False


@dataclass
class StatusCode(Policy):
    """Samples traces whose outcome is one of ``status_codes``: ``fault`` (``HasFault``),
    ``error`` (``HasError``), ``throttle`` (``HasThrottle``), ``ok`` (none of the three) —
    OpenTelemetry ``status_code`` with X-Ray's flags for its ``ERROR``/``OK``.

    Raises:
        ValueError: an unknown or missing status.
    """

    status_codes: Sequence[StatusName] = ("fault",)
    name: str = "status_code"
    type = "status_code"

    def __post_init__(self) -> None:
        allowed = ("fault", "error", "throttle", "ok")
        if not self.status_codes:
            raise ValueError("status_codes must name at least one of 'fault', 'error', ...")
        for status in self.status_codes:
            if status not in allowed:
                raise ValueError(
                    f"unknown status {status!r}; expected one of "
                    + ", ".join(repr(a) for a in allowed)
                )

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        c = columns.summary
        fault, error, throttle = c["has_fault"], c["has_error"], c["has_throttle"]
        mask = np.zeros(len(columns), dtype=np.bool_)
        for status in set(self.status_codes):
            if status == "fault":
                mask |= fault
            elif status == "error":
                mask |= error
            elif status == "throttle":
                mask |= throttle
            else:
                mask |= ~(fault | error | throttle)
        return Decision(mask)

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        flags = {
            "fault": summary["HasFault"],
            "error": summary["HasError"],
            "throttle": summary["HasThrottle"],
        }
        flags["ok"] = not any(flags.values())
        return any(flags[s] for s in self.status_codes), False


@dataclass
class StringAttribute(Policy):
    """Samples traces whose root ``key`` (``service.name``, ``http.url``, ``http.method``)
    equals one of ``values`` or, with ``enabled_regex_matching``, contains a match of one of
    them (Python :mod:`re` syntax, ``re.search``): OpenTelemetry ``string_attribute``. With
    ``invert_match`` the traces that do *not* match are sampled and those that match are vetoed.

    Raises:
        ValueError: an unknown key, no values, or a pattern that does not compile.
    """

    key: StringKey = "service.name"
    values: Sequence[str] = ()
    enabled_regex_matching: bool = False
    invert_match: bool = False
    name: str = "string_attribute"
    type = "string_attribute"
    _match: Callable[[str], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.key not in _STRING_COLUMNS:
            raise ValueError(
                f"unknown key {self.key!r}; expected one of "
                + ", ".join(repr(k) for k in _STRING_COLUMNS)
            )
        if isinstance(self.values, str) or not self.values:
            raise ValueError("values must be a non-empty list of strings")
        try:
            self._match = _string_matcher(self.values, self.enabled_regex_matching)
        except re.error as error:
            raise ValueError(f"invalid regular expression: {error}") from None

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        column = _STRING_COLUMNS[self.key]
        c = columns.summary
        matched = _categorical_match(c[column], c[column + "_values"], self._match)
        return _inverted(matched, self.invert_match)

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        if self.key == "service.name":
            entry = summary.get("EntryPoint")
            value = entry["Name"] if entry else None
        else:
            http = summary.get("Http", {})
            value = http.get("HttpURL" if self.key == "http.url" else "HttpMethod")
        matched = value is not None and self._match(value)
        return _inverted_one(matched, self.invert_match)


@dataclass
class NumericAttribute(Policy):
    """Samples traces whose ``key`` lies within ``[min_value, max_value]`` (either bound may be
    left out): ``http.status_code`` (the root's ``HttpStatus``; traces without one never
    match), ``duration`` or ``response_time`` (seconds). OpenTelemetry ``numeric_attribute``,
    ``invert_match`` included.

    Raises:
        ValueError: an unknown key, no bound, or ``min_value > max_value``.
    """

    key: NumericKey = "http.status_code"
    min_value: float | None = None
    max_value: float | None = None
    invert_match: bool = False
    name: str = "numeric_attribute"
    type = "numeric_attribute"

    def __post_init__(self) -> None:
        if self.key not in _NUMERIC_COLUMNS:
            raise ValueError(
                f"unknown key {self.key!r}; expected one of "
                + ", ".join(repr(k) for k in _NUMERIC_COLUMNS)
            )
        _check_bounds(self.min_value, self.max_value)

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        values = columns.summary[_NUMERIC_COLUMNS[self.key]]
        if self.key == "http.status_code":
            values = np.where(values == 0, np.nan, values.astype(np.float64))
        return _inverted(_range_mask(values, self.min_value, self.max_value), self.invert_match)

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        if self.key == "http.status_code":
            value = summary.get("Http", {}).get("HttpStatus")
        else:
            value = summary.get("Duration" if self.key == "duration" else "ResponseTime")
        matched = value is not None and _in_range(float(value), self.min_value, self.max_value)
        return _inverted_one(matched, self.invert_match)


def _check_bounds(low: float | None, high: float | None) -> None:
    if low is None and high is None:
        raise ValueError("give min_value, max_value or both")
    if low is not None and high is not None and low > high:
        raise ValueError(f"min_value ({low}) is above max_value ({high})")


@dataclass
class Annotation(Policy):
    """Samples traces with an annotation ``key`` whose value matches: a number within
    ``[min_value, max_value]`` (OpenTelemetry ``numeric_attribute``), a string among ``values``
    or matching one of them as a regular expression (``string_attribute``), or the boolean
    ``boolean_value`` (``boolean_attribute``). A trace matches when any value its summary
    lists for the key matches. Exactly one kind of condition is given.

    Raises:
        ValueError: no condition or several, bad bounds, or a pattern that does not compile.
    """

    key: str = ""
    min_value: float | None = None
    max_value: float | None = None
    values: Sequence[str] | None = None
    enabled_regex_matching: bool = False
    boolean_value: bool | None = None
    invert_match: bool = False
    name: str = "annotation"
    type = "annotation"
    _match: Callable[[str], bool] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("key must be a non-empty annotation key")
        numeric = self.min_value is not None or self.max_value is not None
        kinds = [numeric, self.values is not None, self.boolean_value is not None]
        if sum(kinds) != 1:
            raise ValueError(
                "give exactly one condition: min_value/max_value, values or boolean_value"
            )
        self._match = None
        if self.values is not None:
            if isinstance(self.values, str) or not self.values:
                raise ValueError("values must be a non-empty list of strings")
            try:
                self._match = _string_matcher(self.values, self.enabled_regex_matching)
            except re.error as error:
                raise ValueError(f"invalid regular expression: {error}") from None

    def annotation_keys(self) -> tuple[str, ...]:
        return (self.key,)

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        a = columns.annotation(self.key)
        kind = a["kind"]
        if self._match is not None:
            rows = (kind == 2) & _categorical_match(a["string"], a["string_values"], self._match)
        elif self.boolean_value is not None:
            rows = (kind == 1) & (a["boolean"] == self.boolean_value)
        else:
            rows = (kind == 0) & _range_mask(a["number"], self.min_value, self.max_value)
        matched = np.zeros(len(columns), dtype=np.bool_)
        matched[a["trace"][rows]] = True
        return _inverted(matched, self.invert_match)

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        matched = False
        for entry in summary.get("Annotations", {}).get(self.key, []):
            value = entry["AnnotationValue"]
            if self._match is not None:
                matched = "StringValue" in value and self._match(value["StringValue"])
            elif self.boolean_value is not None:
                matched = value.get("BooleanValue") is self.boolean_value
            else:
                number = value.get("NumberValue")
                matched = number is not None and _in_range(
                    float(number), self.min_value, self.max_value
                )
            if matched:
                break
        return _inverted_one(matched, self.invert_match)


@dataclass
class Probabilistic(Policy):
    """Samples ``sampling_percentage`` percent of traces by a hash of the trace id
    (:func:`trace_id_hash`, salted with ``hash_salt``): OpenTelemetry ``probabilistic``. The
    same id gives the same decision in every process, and a trace sampled at some percentage
    is sampled at every higher one.

    Raises:
        ValueError: a percentage outside [0, 100].
    """

    sampling_percentage: float = 100.0
    hash_salt: str = ""
    name: str = "probabilistic"
    type = "probabilistic"

    def __post_init__(self) -> None:
        if not 0 <= self.sampling_percentage <= 100:
            raise ValueError(
                f"sampling_percentage must be within [0, 100], got {self.sampling_percentage}"
            )

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        threshold = hash_threshold(self.sampling_percentage)
        c = columns.summary
        if threshold >= 1 << 64:
            return Decision(np.ones(len(columns), dtype=np.bool_))
        h = trace_id_hash(c["id_high"], c["id_low"], self.hash_salt)
        return Decision(h < np.uint64(threshold))

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        h = trace_id_hash_one(summary["Id"], self.hash_salt)
        return h < hash_threshold(self.sampling_percentage), False


@dataclass
class RateLimiting(Policy):
    """Samples at most ``traces_per_second`` traces a second: OpenTelemetry ``rate_limiting``
    counted in traces rather than spans. A trace's second is, with ``time_source="event"``
    (default), the second its ``StartTime`` falls in, so a recorded stream replays the same
    way; with ``"clock"`` it is the sampler clock's second at the decision. Within a second,
    traces are taken in batch order. Seconds more than ``horizon`` seconds older than the
    newest are forgotten.

    Raises:
        ValueError: a negative rate or a horizon below 1.
    """

    traces_per_second: int = 100
    time_source: TimeSource = "event"
    horizon: int = 3600
    name: str = "rate_limiting"
    type = "rate_limiting"
    _budget: _SecondBudget = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.traces_per_second < 0:
            raise ValueError(f"traces_per_second must be at least 0, got {self.traces_per_second}")
        if self.horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {self.horizon}")
        if self.time_source not in ("event", "clock"):
            raise ValueError(f"time_source must be 'event' or 'clock', got {self.time_source!r}")
        self.reset()

    def reset(self) -> None:
        self._budget = _SecondBudget(self.traces_per_second, self.horizon)

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        seconds = _seconds(columns, self.time_source, now)
        return Decision(self._budget.take(np.ones(len(columns), dtype=np.bool_), seconds))

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        return self._budget.take_one(_second_one(summary, self.time_source, now)), False


def _second_one(summary: Mapping[str, Any], time_source: TimeSource, now: float) -> int:
    start: float | None = summary.get("StartTime")
    if time_source == "clock" or start is None:
        return math.floor(now)
    return math.floor(start)


@dataclass
class And(Policy):
    """Samples traces every sub-policy samples and none vetoes (OpenTelemetry ``and``).

    Raises:
        ValueError: no sub-policies.
    """

    policies: Sequence[Policy] = ()
    name: str = "and"
    type = "and"

    def __post_init__(self) -> None:
        if not self.policies:
            raise ValueError("and needs at least one sub-policy")

    def annotation_keys(self) -> tuple[str, ...]:
        return tuple(k for p in self.policies for k in p.annotation_keys())

    def reset(self) -> None:
        for p in self.policies:
            p.reset()

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        mask = np.ones(len(columns), dtype=np.bool_)
        for p in self.policies:
            d = p.decide(columns, now)
            mask &= d.sampled if d.vetoed is None else d.sampled & ~d.vetoed
        return Decision(mask)

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        # Every sub-policy sees every trace (stateful ones count it), as in the columnar path.
        results = [p.decide_one(summary, now) for p in self.policies]
        return all(s and not v for s, v in results), False


@dataclass
class Composite(Policy):
    """Shares a budget of ``max_total_traces_per_second`` among sub-policies (OpenTelemetry
    ``composite``): sub-policy ``p`` may take ``floor(max_total × rate_allocation[p] / 100)``
    traces a second; a trace is taken by the first sub-policy, in order, that samples it and
    still has budget in the trace's second. Sub-policies without an allocation share equally
    what the allocations leave of 100 %. Seconds as for :class:`RateLimiting`.

    Raises:
        ValueError: no sub-policies, duplicate names, allocations naming no sub-policy, a
            negative allocation, or allocations above 100 % in total.
    """

    max_total_traces_per_second: int = 100
    policies: Sequence[Policy] = ()
    rate_allocation: Mapping[str, float] = field(default_factory=dict)
    time_source: TimeSource = "event"
    horizon: int = 3600
    name: str = "composite"
    type = "composite"
    _budgets: list[_SecondBudget] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.policies:
            raise ValueError("composite needs at least one sub-policy")
        if self.max_total_traces_per_second < 0:
            raise ValueError(
                "max_total_traces_per_second must be at least 0, got "
                f"{self.max_total_traces_per_second}"
            )
        names = [p.name for p in self.policies]
        if len(set(names)) != len(names):
            raise ValueError("sub-policy names must be distinct")
        for key, percent in self.rate_allocation.items():
            if key not in names:
                raise ValueError(f"rate_allocation names {key!r}, which is no sub-policy")
            if percent < 0:
                raise ValueError(f"rate_allocation[{key!r}] must be at least 0, got {percent}")
        if sum(self.rate_allocation.values()) > 100:
            raise ValueError("rate_allocation adds up to more than 100 percent")
        self.reset()

    def percentages(self) -> list[float]:
        """Each sub-policy's share of the budget, in percent."""
        left = 100.0 - sum(self.rate_allocation.values())
        unallocated = [p.name for p in self.policies if p.name not in self.rate_allocation]
        share = left / len(unallocated) if unallocated else 0.0
        return [self.rate_allocation.get(p.name, share) for p in self.policies]

    def annotation_keys(self) -> tuple[str, ...]:
        return tuple(k for p in self.policies for k in p.annotation_keys())

    def reset(self) -> None:
        total = self.max_total_traces_per_second
        self._budgets = [
            _SecondBudget(math.floor(total * percent / 100), self.horizon)
            for percent in self.percentages()
        ]
        for p in self.policies:
            p.reset()

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        seconds = _seconds(columns, self.time_source, now)
        taken = np.zeros(len(columns), dtype=np.bool_)
        for p, budget in zip(self.policies, self._budgets):
            d = p.decide(columns, now)
            wants = d.sampled if d.vetoed is None else d.sampled & ~d.vetoed
            taken |= budget.take(wants & ~taken, seconds)
        return Decision(taken)

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        second = _second_one(summary, self.time_source, now)
        taken = False
        for p, budget in zip(self.policies, self._budgets):
            sampled, vetoed = p.decide_one(summary, now)
            if not taken and sampled and not vetoed:
                taken = budget.take_one(second)
        return taken, False


@dataclass
class Filter(Policy):
    """Samples the traces an X-Ray filter expression matches (spec §6), through
    ``xrfast.compile_filter(expression).select(traces)``; the expression is compiled once, here.

    Raises:
        ValueError: an empty expression.
        xrfast.FilterExpressionError: the expression does not compile (a ``ValueError``).
    """

    expression: str = ""
    name: str = "filter"
    type = "filter"
    _compiled: Any = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if not self.expression.strip():
            raise ValueError("expression must be a non-empty filter expression")
        from xrfast import compile_filter

        # Compiled now, so a bad expression is reported where the policy is made (a
        # FilterExpressionError, which is a ValueError, naming the position).
        self._compiled = compile_filter(self.expression)

    def compiled(self) -> Any:
        """The compiled expression."""
        return self._compiled

    def decide(self, columns: TraceColumns, now: float) -> Decision:
        if columns.traces is None:
            raise ValueError("the filter policy needs the traces, not only their columns")
        mask = np.zeros(len(columns), dtype=np.bool_)
        mask[np.asarray(self.compiled().select(columns.traces), dtype=np.int64)] = True
        return Decision(mask)

    def decide_one(self, summary: Mapping[str, Any], now: float) -> tuple[bool, bool]:
        # A filter reads the trace itself (its entities, calls, root causes), which a summary
        # dict does not hold: the reference cannot decide it, by design.
        raise TypeError(
            "the filter policy decides on traces, not on summary dicts: it has no per-summary "
            "reference (its oracle is Filter.matches)"
        )


#: Policy classes by their ``type`` name in configuration.
POLICY_TYPES: dict[str, type[Policy]] = {
    cls.type: cls
    for cls in (
        AlwaysSample,
        Latency,
        StatusCode,
        StringAttribute,
        NumericAttribute,
        Annotation,
        Probabilistic,
        RateLimiting,
        And,
        Composite,
        Filter,
    )
}


# --------------------------------------------------------------------------------------------
# The sampler.

Source = Union["TraceSet", "Analysis", TraceColumns]


class TailSampler:
    """Tail sampling with OpenTelemetry's combination of policies: a trace is kept when any
    policy samples it and no policy with ``invert_match`` vetoes it.

    Counts are kept per policy (``policy_counts``: traces each policy sampled) and in total.
    Stateful policies (:class:`RateLimiting`, :class:`Composite`) keep their budgets between
    calls; :meth:`reset` forgets them. Not thread-safe: use one sampler per thread, or a lock.

    Arguments:
        policies: the policies; names must be distinct.
        clock: seconds since the epoch, for ``time_source="clock"`` budgets (and traces without
            a start). Default :func:`time.time`; inject a virtual clock in tests and replays.

    Raises:
        ValueError: no policies, or two with the same name.
    """

    def __init__(self, policies: Sequence[Policy], *, clock: Callable[[], float] = time.time):
        if not policies:
            raise ValueError("a tail sampler needs at least one policy")
        names = [p.name for p in policies]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"policy names must be distinct: {', '.join(duplicates)}")
        self.policies: list[Policy] = list(policies)
        self.clock = clock
        self.policy_counts: dict[str, int] = dict.fromkeys(names, 0)
        self.traces_decided = 0
        self.traces_sampled = 0

    def columns(self, traces: Source) -> TraceColumns:
        """The columns the policies need, read now.

        Arguments:
            traces: a TraceSet, an Analysis, or columns already read.

        Returns:
            A :class:`TraceColumns` with every column loaded.
        """
        columns = traces if isinstance(traces, TraceColumns) else TraceColumns(traces)
        return columns.load(self.policies)

    def decide(self, traces: Source, *, now: float | None = None) -> Mask:
        """Decides every trace.

        Arguments:
            traces: a TraceSet, an Analysis (its traces) or :class:`TraceColumns`.
            now: the clock's time for this batch (default: ``clock()``).

        Returns:
            A numpy bool mask, True for the traces kept.
        """
        columns = self.columns(traces)
        at = self.clock() if now is None else now
        n = len(columns)
        sampled = np.zeros(n, dtype=np.bool_)
        vetoed = np.zeros(n, dtype=np.bool_)
        for policy in self.policies:
            d = policy.decide(columns, at)
            sampled |= d.sampled
            self.policy_counts[policy.name] += int(np.count_nonzero(d.sampled))
            if d.vetoed is not None:
                vetoed |= d.vetoed
        keep = sampled & ~vetoed
        self.traces_decided += n
        self.traces_sampled += int(np.count_nonzero(keep))
        return keep

    def sample(self, traces: Source, *, now: float | None = None) -> npt.NDArray[np.int64]:
        """The indexes of the traces kept (``traces[i]`` for each is the kept trace).

        Arguments:
            traces: as for :meth:`decide`.
            now: as for :meth:`decide`.

        Returns:
            int64 indexes, ascending.
        """
        return np.flatnonzero(self.decide(traces, now=now)).astype(np.int64)

    def stats(self) -> dict[str, Any]:
        """``{"traces_decided", "traces_sampled", "policies": {name: traces sampled}}``."""
        return {
            "traces_decided": self.traces_decided,
            "traces_sampled": self.traces_sampled,
            "policies": dict(self.policy_counts),
        }

    def reset(self) -> None:
        """Forgets budgets and counts."""
        for policy in self.policies:
            policy.reset()
        self.policy_counts = dict.fromkeys(self.policy_counts, 0)
        self.traces_decided = self.traces_sampled = 0


def decide_reference(
    policies: Sequence[Policy], summaries: Sequence[Mapping[str, Any]], *, now: float
) -> tuple[list[bool], dict[str, int]]:
    """The per-trace reference of :meth:`TailSampler.decide`: one Python call per trace and
    policy over ``TraceSummary`` dicts (the tests' oracle and the benchmark's baseline).

    Arguments:
        policies: the policies (their budgets are used and updated, as by the sampler).
        summaries: ``TraceSet.summaries()``.
        now: the clock's time.

    Returns:
        The decisions and the traces each policy sampled.
    """
    counts = dict.fromkeys((p.name for p in policies), 0)
    decisions = []
    for summary in summaries:
        keep = vetoed = False
        for policy in policies:
            s, v = policy.decide_one(summary, now)
            keep |= s
            vetoed |= v
            counts[policy.name] += s
        decisions.append(keep and not vetoed)
    return decisions, counts
