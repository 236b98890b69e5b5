"""The service side of centralized sampling (spec §7.2, §7.4, §8): :class:`SamplingService`.

It holds the account's sampling rules and answers X-Ray's sampling operations, one method per
operation, each taking the request body as a dict and returning the response body as a dict —
JSON shapes exactly X-Ray's (checked against botocore's model in the tests):

=================================  ==============================  ====================================
operation                          path                            method
=================================  ==============================  ====================================
``CreateSamplingRule``             ``/CreateSamplingRule``         :meth:`~SamplingService.create_sampling_rule`
``UpdateSamplingRule``             ``/UpdateSamplingRule``         :meth:`~SamplingService.update_sampling_rule`
``DeleteSamplingRule``             ``/DeleteSamplingRule``         :meth:`~SamplingService.delete_sampling_rule`
``GetSamplingRules``               ``/GetSamplingRules``           :meth:`~SamplingService.get_sampling_rules`
``GetSamplingTargets``             ``/SamplingTargets``            :meth:`~SamplingService.get_sampling_targets`
``GetSamplingStatisticSummaries``  ``/SamplingStatisticSummaries``  :meth:`~SamplingService.get_sampling_statistic_summaries`
=================================  ==============================  ====================================

Errors raise :class:`~xrfast.sampling.SamplingRequestError` with X-Ray's error code, message and
HTTP status; its ``to_dict()`` is the body botocore reads.

Quotas (the spec's proposed algorithm; AWS does not publish its own): a client is *active* for
a rule while it reported statistics for it within the last ``active_window`` seconds (2 ×
``interval``). Each report gets ``floor(ReservoirSize / N)`` of the rule's reservoir, plus one for
the first ``ReservoirSize mod N`` active clients in ClientID order, so the quotas of a rule's
active clients add up to its ``ReservoirSize`` exactly.
"""

from __future__ import annotations

import copy
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from xrfast.sampling.errors import SamplingRequestError

__all__ = ["OPERATIONS_BY_PATH", "OPERATION_PATHS", "SamplingService"]

#: The path of each sampling operation (``POST``, rest-json) [BC].
OPERATION_PATHS: dict[str, str] = {
    "CreateSamplingRule": "/CreateSamplingRule",
    "UpdateSamplingRule": "/UpdateSamplingRule",
    "DeleteSamplingRule": "/DeleteSamplingRule",
    "GetSamplingRules": "/GetSamplingRules",
    "GetSamplingTargets": "/SamplingTargets",
    "GetSamplingStatisticSummaries": "/SamplingStatisticSummaries",
}
#: The operation of each path, with the legacy ``/GetCentralizedSamplingRules`` alias (§2.5).
OPERATIONS_BY_PATH: dict[str, str] = {
    **{path: operation for operation, path in OPERATION_PATHS.items()},
    "/GetCentralizedSamplingRules": "GetSamplingRules",
}

DEFAULT_RULE_NAME = "Default"
_DEFAULT_PRIORITY = 10000
_INVALID = "InvalidRequestException"

# Member constraints of SamplingRule [BC]: (type, required on create, min, max).
_RULE_MEMBERS: dict[str, tuple[str, bool, float | None, float | None]] = {
    "RuleName": ("string", False, 1, 32),
    "RuleARN": ("string", False, None, None),
    "ResourceARN": ("string", True, None, 500),
    "Priority": ("integer", True, 1, 9999),
    "FixedRate": ("double", True, 0, 1),
    "ReservoirSize": ("integer", True, 0, None),
    "ServiceName": ("string", True, None, 64),
    "ServiceType": ("string", True, None, 64),
    "Host": ("string", True, None, 64),
    "HTTPMethod": ("string", True, None, 10),
    "URLPath": ("string", True, None, 128),
    "Version": ("integer", True, 1, None),
    "Attributes": ("attributes", False, None, None),
    "SamplingRateBoost": ("boost", False, None, None),
}
# SamplingRuleUpdate has no required member, and no Version.
_UPDATE_MEMBERS = {
    name: (kind, False, low, high)
    for name, (kind, _, low, high) in _RULE_MEMBERS.items()
    if name != "Version"
}
_STATISTICS_MEMBERS: dict[str, tuple[str, bool, float | None, float | None]] = {
    "RuleName": ("string", True, 1, 32),
    "ClientID": ("string", True, 24, 24),
    "Timestamp": ("timestamp", True, None, None),
    "RequestCount": ("integer", True, 0, None),
    "SampledCount": ("integer", True, 0, None),
    "BorrowCount": ("integer", False, 0, None),
}
_BOOST_STATISTICS_MEMBERS: dict[str, tuple[str, bool, float | None, float | None]] = {
    "RuleName": ("string", True, 1, 32),
    "ServiceName": ("string", True, None, 64),
    "Timestamp": ("timestamp", True, None, None),
    "AnomalyCount": ("integer", True, 0, None),
    "TotalCount": ("integer", True, 0, None),
    "SampledAnomalyCount": ("integer", True, 0, None),
}
# What the Default rule lets an update change.
_DEFAULT_MUTABLE = {"FixedRate", "ReservoirSize", "SamplingRateBoost", "RuleName", "RuleARN"}


def _camel(path: str) -> str:
    """X-Ray's spelling of a member path in validation messages: ``samplingRule.priority``."""
    return ".".join(part[:1].lower() + part[1:] for part in path.split("."))


class _Validator:
    """Collects X-Ray style validation errors: ``N validation error(s) detected: Value … at
    'path' failed to satisfy constraint: …``."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, value: Any, constraint: str) -> None:
        text = str(value)
        if len(text) > 64:
            text = text[:63] + "…"
        shown = "null" if value is None else f"'{text}'"
        self.problems.append(
            f"Value {shown} at '{_camel(path)}' failed to satisfy constraint: {constraint}"
        )

    def raise_if_any(self) -> None:
        if self.problems:
            count = len(self.problems)
            head = f"{count} validation error{'s' if count > 1 else ''} detected: "
            raise SamplingRequestError(_INVALID, head + "; ".join(self.problems))

    def structure(
        self,
        value: Any,
        path: str,
        members: Mapping[str, tuple[str, bool, float | None, float | None]],
    ) -> None:
        if not isinstance(value, Mapping):
            self.fail(path, value, "Member must be a structure")
            return
        for name, (kind, required, low, high) in members.items():
            member = value.get(name)
            where = f"{path}.{name}" if path else name
            if member is None:
                if required:
                    self.fail(where, None, "Member must not be null")
                continue
            self.member(member, where, kind, low, high)

    def member(
        self, value: Any, path: str, kind: str, low: float | None, high: float | None
    ) -> None:
        if kind == "string":
            if not isinstance(value, str):
                self.fail(path, value, "Member must be a string")
                return
            if low is not None and len(value) < low:
                self.fail(path, value, f"Member must have length greater than or equal to {low}")
            if high is not None and len(value) > high:
                self.fail(path, value, f"Member must have length less than or equal to {high}")
        elif kind in ("integer", "double"):
            ok = isinstance(value, int) if kind == "integer" else isinstance(value, (int, float))
            if not ok or isinstance(value, bool) or not math.isfinite(value):
                self.fail(
                    path,
                    value,
                    f"Member must be {'an integer' if kind == 'integer' else 'a number'}",
                )
                return
            if low is not None and value < low:
                self.fail(path, value, f"Member must have value greater than or equal to {low}")
            if high is not None and value > high:
                self.fail(path, value, f"Member must have value less than or equal to {high}")
        elif kind == "timestamp":
            if _timestamp(value) is None:
                self.fail(path, value, "Member must be a timestamp (epoch seconds)")
        elif kind == "attributes":
            if not isinstance(value, Mapping):
                self.fail(path, value, "Member must be a map")
                return
            if len(value) > 5:
                self.fail(path, value, "Member must have length less than or equal to 5")
            for key, item in value.items():
                self.member(key, f"{path}.key", "string", 1, 32)
                self.member(item, f"{path}.{key}", "string", 1, 32)
        elif kind == "boost":
            self.structure(
                value,
                path,
                {
                    "MaxRate": ("double", True, 0, 1),
                    "CooldownWindowMinutes": ("integer", True, 0, None),
                },
            )


def _timestamp(value: Any) -> float | None:
    """Epoch seconds from a JSON number, or an ISO-8601 string (accepted leniently, §10 Q25)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None


class SamplingService:
    """X-Ray's sampling rules and targets, as the service keeps them for one account.

    Thread-safe: every operation holds one lock.

    Arguments:
        clock: the wall clock in epoch seconds (``CreatedAt``, quota TTLs, active clients,
            statistics windows).
        rng: the random source of ``NextToken`` values; a fresh :class:`random.Random` when
            ``None``.
        rules: ``SamplingRuleRecord`` dicts to start from (what :meth:`snapshot` returned);
            the ``Default`` rule is added when they lack it.
        region: the region in rule ARNs.
        account_id: the account in rule ARNs.
        rule_limit: rules an account may create besides ``Default`` (beyond it,
            ``RuleLimitExceededException``).
        page_size: records per ``GetSamplingRules`` / ``GetSamplingStatisticSummaries`` page.
        interval: the ``Interval`` handed to clients, seconds.
        quota_ttl: how long a ``ReservoirQuota`` is valid after the report, seconds.
        active_window: how long a client counts as active for a rule after it reported for it,
            seconds (default ``2 × interval``).
        summary_window: the width of a statistics window, seconds.
        summary_retention: how long statistics windows are kept, seconds.
        max_statistics_age: statistics documents older than this (seconds, by their
            ``Timestamp``) are returned as ``UnprocessedStatistics``.

    Raises:
        SamplingRequestError: `rules` holds an invalid record.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        rules: Iterable[Mapping[str, Any]] | None = None,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        rule_limit: int = 25,
        page_size: int = 100,
        interval: int = 10,
        quota_ttl: float = 300.0,
        active_window: float | None = None,
        summary_window: int = 10,
        summary_retention: float = 3600.0,
        max_statistics_age: float = 3600.0,
    ) -> None:
        for name, value in (
            ("rule_limit", rule_limit),
            ("page_size", page_size - 1),
            ("interval", interval - 1),
            ("summary_window", summary_window - 1),
        ):
            if value < 0:
                raise ValueError(f"{name} is too small: {value}")
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._region = region
        self._account_id = account_id
        self._rule_limit = rule_limit
        self._page_size = page_size
        self._interval = interval
        self._quota_ttl = quota_ttl
        self._active_window = 2.0 * interval if active_window is None else active_window
        self._summary_window = summary_window
        self._summary_retention = summary_retention
        self._max_statistics_age = max_statistics_age
        self._lock = threading.Lock()
        self._rules: dict[str, dict[str, Any]] = {}
        # rule name -> client id -> [when it last reported, its quota, when the quota expires]
        self._clients: dict[str, dict[str, list[float]]] = {}
        # (rule name, window start) -> [requests, borrowed, sampled]
        self._windows: dict[tuple[str, float], list[int]] = {}
        self._tokens: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self.restore(rules or [])

    # --- persistence ----------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Every rule as a ``SamplingRuleRecord`` dict (``Default`` included), in priority order;
        :meth:`restore` or ``rules=`` takes it back."""
        with self._lock:
            return [copy.deepcopy(record) for record in self._ordered()]

    def restore(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Replaces every rule by `records` (``SamplingRuleRecord`` dicts, as :meth:`snapshot`
        returns); the ``Default`` rule is added if they lack it.

        Raises:
            SamplingRequestError: a record is not a valid ``SamplingRuleRecord``.
        """
        rules: dict[str, dict[str, Any]] = {}
        for n, record in enumerate(records):
            check = _Validator()
            if not isinstance(record, Mapping):
                check.fail(f"SamplingRuleRecords.{n}", record, "Member must be a structure")
                check.raise_if_any()
            rule = record.get("SamplingRule")
            name = rule.get("RuleName") if isinstance(rule, Mapping) else None
            members = dict(_RULE_MEMBERS)
            if name == DEFAULT_RULE_NAME:
                members["Priority"] = ("integer", True, _DEFAULT_PRIORITY, _DEFAULT_PRIORITY)
            check.structure(rule, f"SamplingRuleRecords.{n}.SamplingRule", members)
            if name is None:
                check.fail(
                    f"SamplingRuleRecords.{n}.SamplingRule.RuleName",
                    None,
                    "Member must not be null",
                )
            for stamp in ("CreatedAt", "ModifiedAt"):
                if _timestamp(record.get(stamp)) is None:
                    check.fail(
                        f"SamplingRuleRecords.{n}.{stamp}",
                        record.get(stamp),
                        "Member must be a timestamp (epoch seconds)",
                    )
            check.raise_if_any()
            assert isinstance(rule, Mapping) and isinstance(name, str)
            if name in rules:
                raise SamplingRequestError(_INVALID, f"Sampling rule {name} appears twice.")
            stored = self._complete(dict(rule), name)
            rules[name] = {
                "SamplingRule": stored,
                "CreatedAt": _timestamp(record["CreatedAt"]),
                "ModifiedAt": _timestamp(record["ModifiedAt"]),
            }
        if DEFAULT_RULE_NAME not in rules:
            rules[DEFAULT_RULE_NAME] = self._default_record()
        with self._lock:
            self._rules = rules
            self._clients = {
                name: clients for name, clients in self._clients.items() if name in rules
            }

    def _default_record(self) -> dict[str, Any]:
        rule = {
            "RuleName": DEFAULT_RULE_NAME,
            "ResourceARN": "*",
            "Priority": _DEFAULT_PRIORITY,
            "FixedRate": 0.05,
            "ReservoirSize": 1,
            "ServiceName": "*",
            "ServiceType": "*",
            "Host": "*",
            "HTTPMethod": "*",
            "URLPath": "*",
            "Version": 1,
            "Attributes": {},
        }
        return {
            "SamplingRule": self._complete(rule, DEFAULT_RULE_NAME),
            "CreatedAt": 0.0,
            "ModifiedAt": 0.0,
        }

    def _arn(self, name: str) -> str:
        return f"arn:aws:xray:{self._region}:{self._account_id}:sampling-rule/{name}"

    def _complete(self, rule: dict[str, Any], name: str) -> dict[str, Any]:
        """A stored rule: ARN set, FixedRate a float, Attributes present."""
        rule["RuleName"] = name
        rule["RuleARN"] = self._arn(name)
        rule["FixedRate"] = float(rule["FixedRate"])
        rule.setdefault("Attributes", {})
        if "SamplingRateBoost" in rule:
            boost = dict(rule["SamplingRateBoost"])
            boost["MaxRate"] = float(boost["MaxRate"])
            rule["SamplingRateBoost"] = boost
        return {key: rule[key] for key in _RULE_MEMBERS if key in rule}

    def _ordered(self) -> list[dict[str, Any]]:
        return sorted(
            self._rules.values(),
            key=lambda r: (r["SamplingRule"]["Priority"], r["SamplingRule"]["RuleName"]),
        )

    # --- rule CRUD ------------------------------------------------------------------------

    def create_sampling_rule(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``CreateSamplingRule``: adds a rule (``RuleName`` required; the ARN is made here).

        Arguments:
            request: ``{"SamplingRule": {...}, "Tags": [...]}`` (tags are validated, not kept).

        Returns:
            ``{"SamplingRuleRecord": {...}}``.

        Raises:
            SamplingRequestError: ``InvalidRequestException`` for a rule that breaks the model or
                a name in use; ``RuleLimitExceededException`` past ``rule_limit`` rules.
        """
        check = _Validator()
        _body(request)
        rule = request.get("SamplingRule")
        if rule is None:
            check.fail("SamplingRule", None, "Member must not be null")
        else:
            check.structure(rule, "SamplingRule", _RULE_MEMBERS)
            if isinstance(rule, Mapping) and rule.get("RuleName") is None:
                check.fail("SamplingRule.RuleName", None, "Member must not be null")
        _check_tags(check, request.get("Tags"))
        check.raise_if_any()
        assert isinstance(rule, Mapping)
        name = rule["RuleName"]
        with self._lock:
            if name in self._rules:
                raise SamplingRequestError(_INVALID, f"Sampling rule {name} already exists.")
            if len(self._rules) - 1 >= self._rule_limit:
                raise SamplingRequestError(
                    "RuleLimitExceededException",
                    f"The account has reached its limit of {self._rule_limit} sampling rules.",
                )
            now = self._clock()
            record = {
                "SamplingRule": self._complete(dict(rule), name),
                "CreatedAt": float(now),
                "ModifiedAt": float(now),
            }
            self._rules[name] = record
            return {"SamplingRuleRecord": copy.deepcopy(record)}

    def update_sampling_rule(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``UpdateSamplingRule``: changes the members given in ``SamplingRuleUpdate``.

        The rule is named by ``RuleName`` or ``RuleARN`` (not both). Of the ``Default`` rule,
        only ``FixedRate``, ``ReservoirSize`` and ``SamplingRateBoost`` can change.

        Returns:
            ``{"SamplingRuleRecord": {...}}`` with the new ``ModifiedAt``.

        Raises:
            SamplingRequestError: ``InvalidRequestException`` for an invalid update or an
                unknown rule.
        """
        check = _Validator()
        _body(request)
        update = request.get("SamplingRuleUpdate")
        if update is None:
            check.fail("SamplingRuleUpdate", None, "Member must not be null")
        else:
            check.structure(update, "SamplingRuleUpdate", _UPDATE_MEMBERS)
        check.raise_if_any()
        assert isinstance(update, Mapping)
        with self._lock:
            name = self._find(update.get("RuleName"), update.get("RuleARN"))
            record = self._rules[name]
            changes = {
                key: value
                for key, value in update.items()
                if key in _UPDATE_MEMBERS
                and key not in ("RuleName", "RuleARN")
                and value is not None
            }
            if name == DEFAULT_RULE_NAME:
                fixed = sorted(
                    key
                    for key, value in changes.items()
                    if key not in _DEFAULT_MUTABLE and record["SamplingRule"].get(key) != value
                )
                if fixed:
                    raise SamplingRequestError(
                        _INVALID,
                        "Only FixedRate, ReservoirSize and SamplingRateBoost of the Default rule "
                        f"can be changed, not {', '.join(fixed)}.",
                    )
            rule = {**record["SamplingRule"], **changes}
            record = {
                "SamplingRule": self._complete(rule, name),
                "CreatedAt": record["CreatedAt"],
                "ModifiedAt": float(self._clock()),
            }
            self._rules[name] = record
            return {"SamplingRuleRecord": copy.deepcopy(record)}

    def delete_sampling_rule(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``DeleteSamplingRule``: removes the rule named by ``RuleName`` or ``RuleARN``.

        Returns:
            ``{"SamplingRuleRecord": {...}}``, the deleted rule.

        Raises:
            SamplingRequestError: ``InvalidRequestException`` for an unknown rule or
                ``Default``.
        """
        check = _Validator()
        _body(request)
        check.structure(
            request,
            "",
            {"RuleName": ("string", False, None, None), "RuleARN": ("string", False, None, None)},
        )
        check.raise_if_any()
        with self._lock:
            name = self._find(request.get("RuleName"), request.get("RuleARN"))
            if name == DEFAULT_RULE_NAME:
                raise SamplingRequestError(_INVALID, "The Default rule cannot be deleted.")
            record = self._rules.pop(name)
            self._clients.pop(name, None)
            return {"SamplingRuleRecord": record}

    def _find(self, name: Any, arn: Any) -> str:
        if (name is None) == (arn is None):
            raise SamplingRequestError(
                _INVALID, "Specify the sampling rule by either RuleName or RuleARN, but not both."
            )
        if name is None:
            found = next(
                (n for n, r in self._rules.items() if r["SamplingRule"]["RuleARN"] == arn), None
            )
            if found is None:
                raise SamplingRequestError(_INVALID, f"Sampling rule {arn} does not exist.")
            return found
        if name not in self._rules:
            raise SamplingRequestError(_INVALID, f"Sampling rule {name} does not exist.")
        return str(name)

    # --- reads ------------------------------------------------------------------------------

    def get_sampling_rules(self, request: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GetSamplingRules``: every rule, in priority order (then name), ``page_size`` a page.

        Arguments:
            request: ``{}`` or ``{"NextToken": ...}`` from the previous page.

        Returns:
            ``{"SamplingRuleRecords": [...], "NextToken"?: ...}``.

        Raises:
            SamplingRequestError: ``InvalidRequestException`` for an unknown ``NextToken``.
        """
        request = {} if request is None else request
        _body(request)
        with self._lock:
            start = self._page_start("GetSamplingRules", request.get("NextToken"))
            records = self._ordered()
            page = records[start : start + self._page_size]
            response: dict[str, Any] = {"SamplingRuleRecords": copy.deepcopy(page)}
            if start + self._page_size < len(records):
                response["NextToken"] = self._token("GetSamplingRules", start + self._page_size)
            return response

    def get_sampling_statistic_summaries(
        self, request: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``GetSamplingStatisticSummaries``: the statistics clients reported, added up per rule
        in ``summary_window``-second windows (by each document's ``Timestamp``), ordered by
        rule name then window. ``Timestamp`` is the window's start; counters are summed as
        sent (borrowed requests are in ``BorrowCount`` only, as the SDKs count them).

        Returns:
            ``{"SamplingStatisticSummaries": [...], "NextToken"?: ...}``.

        Raises:
            SamplingRequestError: ``InvalidRequestException`` for an unknown ``NextToken``.
        """
        request = {} if request is None else request
        _body(request)
        with self._lock:
            self._expire_windows(self._clock())
            start = self._page_start("GetSamplingStatisticSummaries", request.get("NextToken"))
            keys = sorted(self._windows)
            summaries = [
                {
                    "RuleName": name,
                    "Timestamp": float(window),
                    "RequestCount": counts[0],
                    "BorrowCount": counts[1],
                    "SampledCount": counts[2],
                }
                for name, window in keys[start : start + self._page_size]
                for counts in (self._windows[(name, window)],)
            ]
            response: dict[str, Any] = {"SamplingStatisticSummaries": summaries}
            if start + self._page_size < len(keys):
                response["NextToken"] = self._token(
                    "GetSamplingStatisticSummaries", start + self._page_size
                )
            return response

    def _page_start(self, operation: str, token: Any) -> int:
        if token is None:
            return 0
        found = self._tokens.get(token) if isinstance(token, str) else None
        if found is None or found[0] != operation:
            raise SamplingRequestError(_INVALID, "The NextToken is not valid.")
        return found[1]

    def _token(self, operation: str, start: int) -> str:
        token = f"{self._rng.getrandbits(128):032x}"
        self._tokens[token] = (operation, start)
        while len(self._tokens) > 1000:
            self._tokens.popitem(last=False)
        return token

    # --- targets ----------------------------------------------------------------------------

    def get_sampling_targets(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``GetSamplingTargets``: takes a client's statistics and answers with its targets.

        For each statistics document of a known rule: the client counts as active for the rule,
        the counters go into the rule's statistics window, and the answer holds a
        ``SamplingTargetDocument`` with the rule's ``FixedRate``, the client's share of
        ``ReservoirSize`` as ``ReservoirQuota`` (see the module's doc), ``ReservoirQuotaTTL`` =
        now + ``quota_ttl`` and ``Interval``. Unknown rules and documents older than
        ``max_statistics_age`` come back in ``UnprocessedStatistics``; boost statistics (not
        supported) in ``UnprocessedBoostStatistics``.

        Returns:
            ``{"SamplingTargetDocuments": [...], "LastRuleModification": ...,
            "UnprocessedStatistics": [...]}``.

        Raises:
            SamplingRequestError: ``InvalidRequestException`` for a request that breaks the
                model (more than 25 documents, a ClientID not 24 characters, …).
        """
        check = _Validator()
        _body(request)
        documents = request.get("SamplingStatisticsDocuments")
        boosts = request.get("SamplingBoostStatisticsDocuments")
        for name, value, members in (
            ("SamplingStatisticsDocuments", documents, _STATISTICS_MEMBERS),
            ("SamplingBoostStatisticsDocuments", boosts, _BOOST_STATISTICS_MEMBERS),
        ):
            if value is None:
                if name == "SamplingStatisticsDocuments":
                    check.fail(name, None, "Member must not be null")
            elif not isinstance(value, list):
                check.fail(name, value, "Member must be a list")
            else:
                if len(value) > 25:
                    check.fail(name, value, "Member must have length less than or equal to 25")
                for n, document in enumerate(value):
                    check.structure(document, f"{name}.{n + 1}", members)
        check.raise_if_any()
        assert isinstance(documents, list)
        with self._lock:
            now = float(self._clock())
            targets: dict[str, dict[str, Any]] = {}
            unprocessed = []
            for document in documents:
                name = document["RuleName"]
                stamp = _timestamp(document["Timestamp"])
                assert stamp is not None
                record = self._rules.get(name)
                if record is None:
                    unprocessed.append(
                        {
                            "RuleName": name,
                            "ErrorCode": "RuleNotFound",
                            "Message": f"Sampling rule {name} does not exist.",
                        }
                    )
                    continue
                if stamp < now - self._max_statistics_age:
                    unprocessed.append(
                        {
                            "RuleName": name,
                            "ErrorCode": "StatisticsTooOld",
                            "Message": f"The statistics document of {stamp:.0f} is older than "
                            f"{self._max_statistics_age:.0f} seconds.",
                        }
                    )
                    continue
                client = self._clients.setdefault(name, {}).setdefault(
                    document["ClientID"], [now, 0, 0.0]
                )
                client[0] = now
                window = float(stamp // self._summary_window * self._summary_window)
                counts = self._windows.setdefault((name, window), [0, 0, 0])
                counts[0] += document["RequestCount"]
                counts[1] += document.get("BorrowCount") or 0
                counts[2] += document["SampledCount"]
                if name not in targets:
                    rule = record["SamplingRule"]
                    targets[name] = {
                        "RuleName": name,
                        "FixedRate": rule["FixedRate"],
                        "ReservoirQuota": self._quota(
                            name, document["ClientID"], rule["ReservoirSize"], now
                        ),
                        "ReservoirQuotaTTL": now + self._quota_ttl,
                        "Interval": self._interval,
                    }
            self._expire_windows(now)
            response: dict[str, Any] = {
                "SamplingTargetDocuments": list(targets.values()),
                "LastRuleModification": max(r["ModifiedAt"] for r in self._rules.values()),
                "UnprocessedStatistics": unprocessed,
            }
            if boosts:
                response["UnprocessedBoostStatistics"] = [
                    {
                        "RuleName": boost["RuleName"],
                        "ErrorCode": "BoostNotSupported",
                        "Message": "Sampling rate boosts are not supported.",
                    }
                    for boost in boosts
                ]
            return response

    def _quota(self, name: str, client_id: str, reservoir_size: int, now: float) -> int:
        """`client_id`'s share of the rule's reservoir among the rule's active clients, capped
        so that the unexpired quotas of the active clients never add up to more than the
        reservoir (a client that joins gets what the others' last quotas leave, and its full
        share once they have reported again)."""
        clients = self._clients[name]
        horizon = now - self._active_window
        for stale in [c for c, (seen, _, _) in clients.items() if seen < horizon]:
            del clients[stale]
        order = sorted(clients)
        base, extra = divmod(reservoir_size, len(order))
        share = base + (1 if order.index(client_id) < extra else 0)
        held = sum(
            quota
            for other, (_, quota, expires) in clients.items()
            if other != client_id and expires >= now
        )
        quota = max(0, min(share, reservoir_size - int(held)))
        clients[client_id][1:] = [quota, now + self._quota_ttl]
        return quota

    def _expire_windows(self, now: float) -> None:
        horizon = now - self._summary_retention
        for key in [key for key in self._windows if key[1] < horizon]:
            del self._windows[key]

    # --- dispatch -------------------------------------------------------------------------

    def handle(self, operation: str, request: Mapping[str, Any] | None) -> dict[str, Any]:
        """Answers one operation by name (``"GetSamplingTargets"``, …; see
        :data:`OPERATIONS_BY_PATH` for the HTTP paths). A client's ``transport`` can be this
        method.

        Raises:
            SamplingRequestError: the operation's errors; ``InvalidRequestException`` for an
                operation this service does not have.
        """
        method = {
            "CreateSamplingRule": self.create_sampling_rule,
            "UpdateSamplingRule": self.update_sampling_rule,
            "DeleteSamplingRule": self.delete_sampling_rule,
            "GetSamplingRules": self.get_sampling_rules,
            "GetSamplingTargets": self.get_sampling_targets,
            "GetSamplingStatisticSummaries": self.get_sampling_statistic_summaries,
        }.get(operation)
        if method is None:
            raise SamplingRequestError(_INVALID, f"Unknown operation {operation}.")
        return method({} if request is None else request)


def _body(request: Any) -> None:
    if not isinstance(request, Mapping):
        raise SamplingRequestError(_INVALID, "The request body must be a JSON object.")


def _check_tags(check: _Validator, tags: Any) -> None:
    if tags is None:
        return
    if not isinstance(tags, list):
        check.fail("Tags", tags, "Member must be a list")
        return
    if len(tags) > 200:
        check.fail("Tags", tags, "Member must have length less than or equal to 200")
    for n, tag in enumerate(tags):
        check.structure(
            tag,
            f"Tags.{n + 1}",
            {"Key": ("string", True, 1, 128), "Value": ("string", True, 0, 256)},
        )
