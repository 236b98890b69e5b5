"""The client of centralized sampling (spec §7.3): :class:`CentralizedSampler`.

What the AWS X-Ray SDKs do with centralized rules (the Python SDK's ``DefaultSampler``,
``RuleCache``, ``RulePoller``, ``TargetPoller`` and connector), in one thread-safe object:

* **Rules** from ``GetSamplingRules`` (every page), polled every 300 s plus a jitter of up to
  5 s, the first time at once. Usable rules have ``Version`` 1, ``ResourceARN`` ``"*"``, a
  ``ServiceType`` and no ``Attributes``; they are tried by ``(Priority, RuleName)``. A refresh
  keeps each surviving rule's reservoir, quota and counters. The rules expire 3600 s after the
  last successful fetch; expired (or never fetched), the local rules decide.
* **Decisions**: the first rule whose patterns match the request's service name, service type
  (the process's ``origin`` when the request has none), host, method and path (missing or empty
  attributes match), else the ``Default`` rule. With a valid quota (``ReservoirQuotaTTL`` not
  passed) the rule TAKEs up to ``ReservoirQuota`` requests a second; without one it BORROWs one
  request a second if its ``ReservoirSize`` is not 0; the rest are sampled with ``FixedRate``.
* **Statistics and targets**: every 10 s plus a jitter of up to 0.1 s, each rule matched since
  its last report (and whose ``Interval`` has elapsed) sends a ``SamplingStatisticsDocument``
  (``RequestCount``, ``SampledCount``, ``BorrowCount``; borrowed requests count only in
  ``BorrowCount``, as in the SDKs) to ``GetSamplingTargets``, at most 25 a call; the answer's
  ``FixedRate``, ``ReservoirQuota``, ``ReservoirQuotaTTL`` and ``Interval`` are loaded, and rules
  are fetched again at once when ``LastRuleModification`` is newer than the last fetch.

The transport is any callable taking an operation name (``"GetSamplingRules"``,
``"GetSamplingTargets"``) and the request dict and returning the response dict:
:class:`HttpTransport` (the default) POSTs to the X-Ray daemon's TCP proxy;
``SamplingService.handle`` answers in-process.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from xrfast.sampling.decision import SamplingDecision, request_attributes
from xrfast.sampling.errors import SamplingRequestError
from xrfast.sampling.local import LocalSampler, RulesSource
from xrfast.sampling.reservoir import CentralizedReservoir
from xrfast.sampling.service import OPERATION_PATHS
from xrfast.sampling.wildcard import compile_wildcard

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "CentralizedSampler",
    "HttpTransport",
    "SamplingRuleState",
    "Transport",
    "daemon_tcp_address",
]

log = logging.getLogger(__name__)

#: Sends one sampling API call: ``transport(operation, request) -> response``.
Transport = Callable[[str, dict[str, Any]], Mapping[str, Any]]

_MISSING: Any = object()
_MAX_DOCUMENTS = 25


def daemon_tcp_address(value: str | None = None) -> tuple[str, int]:
    """The TCP address (host, port) of the X-Ray daemon, as the SDKs read it.

    Arguments:
        value: ``"host:port"`` (UDP and TCP alike) or ``"tcp:host:port udp:host:port"`` (either
            order); by default ``$AWS_XRAY_DAEMON_ADDRESS``, else ``127.0.0.1:2000``.

    Returns:
        ``(host, port)`` of the TCP proxy.

    Raises:
        ValueError: `value` is in neither form.
    """
    if value is None:
        value = os.environ.get("AWS_XRAY_DAEMON_ADDRESS") or "127.0.0.1:2000"
    tokens = value.split()
    address = None
    if len(tokens) == 1 and tokens[0].count(":") == 1:
        address = tokens[0]
    elif len(tokens) == 2:
        named = dict(token.split(":", 1) for token in tokens if ":" in token)
        if set(named) == {"tcp", "udp"} and named["tcp"].count(":") == 1:
            address = named["tcp"]
    if address is not None:
        host, _, port = address.rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return host, int(port)
    raise ValueError(
        f"invalid X-Ray daemon address {value!r}: expected host:port or "
        "'tcp:host:port udp:host:port'"
    )


class HttpTransport:
    """Sampling API calls over HTTP to the X-Ray daemon's TCP proxy (or any X-Ray endpoint that
    needs no signature): ``POST /GetSamplingRules``, ``POST /SamplingTargets``, JSON bodies,
    the standard library's :mod:`urllib`.

    Arguments:
        address: the daemon's address (see :func:`daemon_tcp_address`), or a base URL
            ``http://host:port``.
        timeout: seconds to connect and to read (the Java SDK uses 2 s).
    """

    def __init__(self, address: str | None = None, *, timeout: float = 2.0) -> None:
        if address is not None and address.startswith(("http://", "https://")):
            self.endpoint = address.rstrip("/")
        else:
            host, port = daemon_tcp_address(address)
            self.endpoint = f"http://{host}:{port}"
        self.timeout = timeout

    def __call__(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """Sends `request` as `operation`.

        Returns:
            The response body.

        Raises:
            SamplingRequestError: the endpoint answered with an error (its X-Ray code,
                message and status), or with a body that is not a JSON object.
            OSError: the endpoint could not be reached.
            ValueError: `operation` is not a sampling operation.
        """
        path = OPERATION_PATHS.get(operation)
        if path is None:
            raise ValueError(f"unknown sampling operation {operation!r}")
        http_request = urllib.request.Request(
            self.endpoint + path,
            data=json.dumps(request).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            raise _error_of(error) from None
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise SamplingRequestError(
                "InvalidResponse",
                f"{operation}: the response is not a JSON object",
                http_status=200,
            )
        return parsed


def _error_of(error: urllib.error.HTTPError) -> SamplingRequestError:
    """The X-Ray error in an HTTP error answer, read as botocore reads it."""
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = error.headers.get("x-amzn-ErrorType") or body.get("code") or body.get("__type") or ""
    code = code.split(":")[0].split("#")[-1] or f"HTTP{error.code}"
    message = body.get("message") or body.get("Message") or error.reason or ""
    return SamplingRequestError(code, str(message), http_status=error.code)


@dataclass(frozen=True)
class SamplingRuleState:
    """What a :class:`CentralizedSampler` knows of one rule."""

    rule_name: str
    priority: int
    fixed_rate: float
    reservoir_size: int
    #: The quota from the last target (``None`` before the first).
    reservoir_quota: int | None
    #: When the quota expires, epoch seconds (``None`` before the first target).
    reservoir_quota_ttl: float | None
    #: The reporting interval, seconds.
    interval: int
    #: Counters since the last report.
    request_count: int
    sampled_count: int
    borrow_count: int


class _Statistics:
    """A rule's counters since its last report; shared by the old and new versions of a rule
    across a refresh, so no count is lost to a decision in flight."""

    __slots__ = ("borrowed", "elapsed", "lock", "requests", "sampled")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = self.sampled = self.borrowed = 0
        # Target polls since the last report (the SDK's report interval, in 10-second ticks).
        self.elapsed = 0


class _Rule:
    __slots__ = (
        "borrow_decision",
        "host",
        "method",
        "name",
        "no_decision",
        "path",
        "priority",
        "rate",
        "rate_decision",
        "reservoir",
        "reservoir_size",
        "service",
        "service_type",
        "statistics",
        "take_decision",
    )

    def __init__(self, rule: Mapping[str, Any]) -> None:
        self.name: str = rule["RuleName"]
        self.priority: int = rule["Priority"]
        self.rate: float = rule["FixedRate"]
        self.reservoir_size: int = rule["ReservoirSize"]
        self.service = compile_wildcard(rule["ServiceName"])
        self.service_type = compile_wildcard(rule["ServiceType"])
        self.host = compile_wildcard(rule["Host"])
        self.method = compile_wildcard(rule["HTTPMethod"])
        self.path = compile_wildcard(rule["URLPath"])
        self.reservoir = CentralizedReservoir(can_borrow=self.reservoir_size != 0)
        self.statistics = _Statistics()
        (self.take_decision, self.borrow_decision, self.rate_decision, self.no_decision) = (
            SamplingDecision.for_rule(self.name)
        )

    def matches(
        self,
        service: str | None,
        service_type: str | None,
        host: str | None,
        method: str | None,
        path: str | None,
    ) -> bool:
        return (
            (not host or self.host(host))
            and (not method or self.method(method))
            and (not path or self.path(path))
            and (not service or self.service(service))
            and (not service_type or self.service_type(service_type))
        )


def _usable(rule: Any) -> bool:
    """Rules the SDKs apply: version 1, any resource, a service type, no attributes, and the
    members a decision needs, of the right types."""
    if not isinstance(rule, Mapping):
        return False
    strings = ("RuleName", "ServiceName", "ServiceType", "Host", "HTTPMethod", "URLPath")
    numbers = ("FixedRate", "ReservoirSize", "Priority")
    return (
        rule.get("Version") == 1
        and rule.get("ResourceARN") == "*"
        and bool(rule.get("ServiceType"))
        and not rule.get("Attributes")
        and all(isinstance(rule.get(key), str) for key in strings)
        and all(
            isinstance(rule.get(key), (int, float)) and not isinstance(rule.get(key), bool)
            for key in numbers
        )
    )


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


class CentralizedSampler:
    """Head sampling by centralized rules, with local rules as the fallback (module doc).

    Call :meth:`poll` from your own loop (deterministic under an injected clock), or
    :meth:`start` a background thread that does (a context manager starts and stops it).

    Arguments:
        transport: sends the API calls; an :class:`HttpTransport` to `address` when ``None``.
        address: the daemon's address for the default transport (``$AWS_XRAY_DAEMON_ADDRESS``,
            else ``127.0.0.1:2000``).
        local_rules: the fallback: a :class:`LocalSampler`, or rules for one (the SDKs' built-in
            rules when ``None``).
        clock: the wall clock, epoch seconds.
        rng: the random source of fixed rates and jitters; a fresh :class:`random.Random` when
            ``None``.
        client_id: this process's ``ClientID`` (24 hex digits; random when ``None``).
        origin: the ``ServiceType`` of requests that give none (the segment ``origin``, e.g.
            ``"AWS::EC2::Instance"``).
        rules_ttl: seconds the rules stay valid after the last successful fetch.
        rules_interval: seconds between rule fetches; `rules_jitter`: up to this much is added.
        targets_interval: seconds between statistics reports; `targets_jitter`: up to this much
            is added.
        max_pages: ``GetSamplingRules`` pages followed in one fetch.
        match_cache_size: distinct requests whose matched rule is remembered (emptied when full
            and on every rule refresh).
    """

    def __init__(
        self,
        *,
        transport: Transport | None = None,
        address: str | None = None,
        local_rules: LocalSampler | RulesSource | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        client_id: str | None = None,
        origin: str | None = None,
        rules_ttl: float = 3600.0,
        rules_interval: float = 300.0,
        rules_jitter: float = 5.0,
        targets_interval: float = 10.0,
        targets_jitter: float = 0.1,
        max_pages: int = 100,
        match_cache_size: int = 4096,
    ) -> None:
        if client_id is None:
            client_id = os.urandom(12).hex()
        if len(client_id) != 24:
            raise ValueError(f"client_id must be 24 characters, not {len(client_id)}")
        self._transport: Transport = transport if transport is not None else HttpTransport(address)
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._random = self._rng.random
        if isinstance(local_rules, LocalSampler):
            self._local = local_rules
        else:
            self._local = LocalSampler(local_rules, clock=clock, rng=self._rng)
        self._client_id = client_id
        self._origin = origin
        self._rules_ttl = rules_ttl
        self._rules_interval = rules_interval
        self._rules_jitter = rules_jitter
        self._targets_interval = targets_interval
        self._targets_jitter = targets_jitter
        self._max_pages = max_pages
        self._cache_size = match_cache_size
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._rules: tuple[_Rule, ...] = ()
        self._cache: dict[tuple[Any, ...], _Rule | None] = {}
        # When rules were last fetched: the epoch second (the SDKs' TTL arithmetic) and the time.
        self._last_fetch: int | None = None
        self._last_fetch_time: float | None = None
        self._next_rules_at: float | None = None
        self._next_targets_at: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: Polls (rule fetches or reports) that failed; the error is logged.
        self.poll_errors = 0

    # --- decisions ---------------------------------------------------------------------------

    def should_trace(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        service_name: str | None = None,
        host: str | None = None,
        method: str | None = None,
        path: str | None = None,
        service_type: str | None = None,
    ) -> SamplingDecision:
        """Decides whether to sample a request.

        Give the request as keywords or as the SDK's dict (``host``, ``method``, ``path``,
        ``service``, ``service_type``); a request without a service type gets the ``origin``
        (except an empty dict, as in the SDK). Without valid centralized rules, or when no rule
        (not even ``Default``) matches, the local rules decide.

        Returns:
            The decision; ``rule_name`` names the centralized rule (record it as the segment's
            ``aws.xray.sampling_rule_name``), ``None`` when local rules decided.

        Raises:
            TypeError: both a request dict and keywords were given.
        """
        if request is not None:
            service_name, service_type, host, method, path = request_attributes(
                request, service_name, service_type, host, method, path
            )
            # As the SDK: an empty dict is left as it is (it matches the first rule).
            if not service_type and request:
                service_type = self._origin
        elif not service_type:
            service_type = self._origin
        second = int(self._clock())
        last_fetch = self._last_fetch
        if last_fetch is None or second > last_fetch + self._rules_ttl:
            return self._local.decide(host, method, path)
        key = (service_name, service_type, host, method, path)
        rule = self._cache.get(key, _MISSING)
        if rule is _MISSING:
            rule = self._match(key)
        if rule is None:
            return self._local.decide(host, method, path)
        return self._decide(rule, second)

    def _match(self, key: tuple[Any, ...]) -> _Rule | None:
        cache = self._cache
        found = None
        for rule in self._rules:
            if rule.matches(*key) or rule.name == "Default":
                found = rule
                break
        if len(cache) >= self._cache_size:
            cache.clear()
        if self._cache_size:
            cache[key] = found
        return found

    def _decide(self, rule: _Rule, second: int) -> SamplingDecision:
        decision = rule.reservoir.borrow_or_take(second)
        statistics = rule.statistics
        if decision == "take":
            result = rule.take_decision
        elif decision == "borrow":
            result = rule.borrow_decision
        elif self._random() < rule.rate:
            result = rule.rate_decision
        else:
            result = rule.no_decision
        with statistics.lock:
            statistics.requests += 1
            if decision == "borrow":
                statistics.borrowed += 1
            elif result.sampled:
                statistics.sampled += 1
        return result

    # --- polling -----------------------------------------------------------------------------

    def refresh_rules(self) -> int:
        """Fetches the rules now (every ``GetSamplingRules`` page).

        Returns:
            The number of usable rules loaded; 0 leaves the rules as they were (as the SDKs do
            with an empty answer).

        Raises:
            SamplingRequestError, OSError: the transport's errors.
        """
        records: list[Any] = []
        token = None
        for _ in range(self._max_pages):
            response = self._transport(
                "GetSamplingRules", {} if token is None else {"NextToken": token}
            )
            records += response.get("SamplingRuleRecords") or []
            token = response.get("NextToken")
            if not token:
                break
        fresh = [
            _Rule(record["SamplingRule"])
            for record in records
            if isinstance(record, Mapping) and _usable(record.get("SamplingRule"))
        ]
        if not fresh:
            return 0
        fresh.sort(key=lambda rule: (rule.priority, rule.name))
        now = self._clock()
        with self._lock:
            old = {rule.name: rule for rule in self._rules}
            for rule in fresh:
                previous = old.get(rule.name)
                if previous is not None:
                    rule.statistics = previous.statistics
                    rule.reservoir = previous.reservoir
                    rule.reservoir.can_borrow = rule.reservoir_size != 0
            self._rules = tuple(fresh)
            self._cache = {}
            self._last_fetch = int(now)
            self._last_fetch_time = now
        return len(fresh)

    def report_statistics(self) -> int:
        """Reports the statistics of the rules due (matched since their last report, interval
        elapsed) to ``GetSamplingTargets`` and loads the targets; fetches the rules again when
        the answer says they changed since the last fetch.

        Returns:
            The number of statistics documents sent.

        Raises:
            SamplingRequestError, OSError: the transport's errors (the counters of the documents
            not delivered are kept for the next report).
        """
        now = self._clock()
        rules = self._rules
        due = []
        for rule in rules:
            statistics = rule.statistics
            with statistics.lock:
                if statistics.requests == 0:
                    continue
                if statistics.elapsed + 1 < rule.reservoir.interval / 10:
                    statistics.elapsed += 1
                    continue
                statistics.elapsed = 0
                counts = (statistics.requests, statistics.sampled, statistics.borrowed)
                statistics.requests = statistics.sampled = statistics.borrowed = 0
            due.append((rule, counts))
        refresh = False
        for start in range(0, len(due), _MAX_DOCUMENTS):
            batch = due[start : start + _MAX_DOCUMENTS]
            documents = [
                {
                    "RuleName": rule.name,
                    "ClientID": self._client_id,
                    "RequestCount": counts[0],
                    "SampledCount": counts[1],
                    "BorrowCount": counts[2],
                    "Timestamp": int(now),
                }
                for rule, counts in batch
            ]
            try:
                response = self._transport(
                    "GetSamplingTargets", {"SamplingStatisticsDocuments": documents}
                )
            except BaseException:
                for rule, counts in due[start:]:
                    with rule.statistics.lock:
                        rule.statistics.requests += counts[0]
                        rule.statistics.sampled += counts[1]
                        rule.statistics.borrowed += counts[2]
                raise
            self._load_targets(response)
            modified = _epoch(response.get("LastRuleModification"))
            last_fetch = self._last_fetch_time
            if modified is not None and (last_fetch is None or modified > last_fetch):
                refresh = True
        if refresh:
            self.refresh_rules()
        return len(due)

    def _load_targets(self, response: Mapping[str, Any]) -> None:
        by_name = {rule.name: rule for rule in self._rules}
        for target in response.get("SamplingTargetDocuments") or []:
            name = target.get("RuleName") if isinstance(target, Mapping) else None
            rule = by_name.get(name) if isinstance(name, str) else None
            if rule is None:
                continue
            rate = target.get("FixedRate")
            if isinstance(rate, (int, float)) and not isinstance(rate, bool):
                rule.rate = float(rate)
            quota = target.get("ReservoirQuota")
            interval = target.get("Interval")
            rule.reservoir.load_quota(
                quota if isinstance(quota, int) and not isinstance(quota, bool) else None,
                _epoch(target.get("ReservoirQuotaTTL")),
                interval
                if isinstance(interval, int) and not isinstance(interval, bool) and interval > 0
                else None,
            )

    def poll(self) -> None:
        """Does whatever polling is due at ``clock()``: fetch the rules (at once the first
        time, then every ``rules_interval`` + jitter) and report statistics (every
        ``targets_interval`` + jitter, starting one interval after the first poll). Errors are
        logged and counted in :attr:`poll_errors`, never raised."""
        with self._poll_lock:
            now = self._clock()
            if self._next_rules_at is None or now >= self._next_rules_at:
                self._next_rules_at = (
                    now + self._rules_interval + self._random() * self._rules_jitter
                )
                try:
                    self.refresh_rules()
                except Exception:
                    self.poll_errors += 1
                    log.warning("GetSamplingRules failed", exc_info=True)
            if self._next_targets_at is None:
                self._next_targets_at = (
                    now + self._targets_interval + self._random() * self._targets_jitter
                )
            elif now >= self._next_targets_at:
                self._next_targets_at = (
                    now + self._targets_interval + self._random() * self._targets_jitter
                )
                try:
                    self.report_statistics()
                except Exception:
                    self.poll_errors += 1
                    log.warning("GetSamplingTargets failed", exc_info=True)

    @property
    def next_poll_at(self) -> float | None:
        """When :meth:`poll` next has something to do (``None`` before the first poll)."""
        if self._next_rules_at is None or self._next_targets_at is None:
            return None
        return min(self._next_rules_at, self._next_targets_at)

    def start(self) -> None:
        """Starts a daemon thread that polls when due, until :meth:`stop`."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="xrfast-sampling", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stops the polling thread (waits up to `timeout` seconds for it)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            due = self.next_poll_at
            wait = 1.0 if due is None else due - self._clock()
            self._stop.wait(min(max(wait, 0.01), 1.0))

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- introspection -----------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """This process's ``ClientID``."""
        return self._client_id

    @property
    def local(self) -> LocalSampler:
        """The fallback local sampler."""
        return self._local

    @property
    def last_rule_fetch(self) -> float | None:
        """When rules were last fetched successfully (epoch seconds), ``None`` if never."""
        return self._last_fetch_time

    @property
    def rules(self) -> list[SamplingRuleState]:
        """The centralized rules in use, in matching order."""
        states = []
        for rule in self._rules:
            statistics = rule.statistics
            with statistics.lock:
                counts = (statistics.requests, statistics.sampled, statistics.borrowed)
            states.append(
                SamplingRuleState(
                    rule_name=rule.name,
                    priority=rule.priority,
                    fixed_rate=rule.rate,
                    reservoir_size=rule.reservoir_size,
                    reservoir_quota=rule.reservoir.quota,
                    reservoir_quota_ttl=rule.reservoir.quota_ttl,
                    interval=rule.reservoir.interval,
                    request_count=counts[0],
                    sampled_count=counts[1],
                    borrow_count=counts[2],
                )
            )
        return states
