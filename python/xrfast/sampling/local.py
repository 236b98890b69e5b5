"""Local sampling rules (spec §7.1): the rules file, its validation, and :class:`LocalSampler`.

The rules file, version 2 (version 1 says ``service_name`` where version 2 says ``host``; both
are matched against the request's host, as in every AWS X-Ray SDK)::

    {"version": 2,
     "default": {"fixed_target": 1, "rate": 0.05},
     "rules": [{"description": "checkout", "host": "*", "http_method": "POST",
                "url_path": "/checkout*", "fixed_target": 5, "rate": 0.5}]}

A request is decided by the first rule (in file order) whose patterns match its host, method
and path (an attribute the request lacks, or that is empty, matches anything); else by the
default. The rule samples the first ``fixed_target`` requests of each wall-clock second, then
each further request with probability ``rate``. Decisions equal those of the AWS X-Ray SDK for
Python 2.15.0's ``LocalSampler`` for the same rules, requests, clock and random draws (tested);
``docs/sampling.md`` lists the inputs where they deliberately differ.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from xrfast.sampling.decision import SamplingDecision, request_attributes
from xrfast.sampling.errors import SamplingRuleError
from xrfast.sampling.reservoir import Reservoir
from xrfast.sampling.wildcard import compile_wildcard

__all__ = [
    "DEFAULT_LOCAL_RULES",
    "LocalSampler",
    "LocalSamplingRule",
    "LocalSamplingRules",
    "RulesSource",
    "load_local_rules",
]

#: What a rules document can be given as: a path, JSON text (a ``str`` starting with ``{``, or
#: ``bytes``), a dict, or already-loaded rules.
RulesSource = Union["LocalSamplingRules", Mapping[str, Any], str, bytes, "os.PathLike[str]"]

#: The SDKs' built-in rules: one request per second and 5 % of the rest.
DEFAULT_LOCAL_RULES: dict[str, Any] = {
    "version": 2,
    "default": {"fixed_target": 1, "rate": 0.05},
    "rules": [],
}

_MATCHERS = ("http_method", "url_path")
_MAX_SHOWN = 60


@dataclass(frozen=True)
class LocalSamplingRule:
    """One local rule. The default rule has no patterns."""

    #: Requests sampled for sure in each second.
    fixed_target: float
    #: Probability of sampling each further request.
    rate: float
    #: Pattern for the request's host (``service_name`` in version 1 files).
    host: str | None = None
    #: Pattern for the HTTP method.
    http_method: str | None = None
    #: Pattern for the URL path.
    url_path: str | None = None
    #: Free text, ignored by matching.
    description: str | None = None

    def matches(self, host: str | None, method: str | None, path: str | None) -> bool:
        """Whether this rule applies to a request; a missing or empty attribute matches.

        Returns:
            ``True`` for the default rule (it has no patterns) and for any rule whose patterns
            match every attribute the request has.
        """
        return (
            (not host or self.host is None or compile_wildcard(self.host)(host))
            and (
                not method or self.http_method is None or compile_wildcard(self.http_method)(method)
            )
            and (not path or self.url_path is None or compile_wildcard(self.url_path)(path))
        )

    def to_dict(self) -> dict[str, Any]:
        """The rule as it is written in a version 2 rules file."""
        rule: dict[str, Any] = {}
        if self.description is not None:
            rule["description"] = self.description
        if self.host is not None:
            rule["host"] = self.host
        if self.http_method is not None:
            rule["http_method"] = self.http_method
        if self.url_path is not None:
            rule["url_path"] = self.url_path
        rule["fixed_target"] = self.fixed_target
        rule["rate"] = self.rate
        return rule


@dataclass(frozen=True)
class LocalSamplingRules:
    """A validated local rules document."""

    #: The rule for requests no other rule matches.
    default: LocalSamplingRule
    #: The rules, tried in order.
    rules: tuple[LocalSamplingRule, ...] = ()
    #: The file format version it was read from (1 or 2).
    version: int = 2

    def to_dict(self) -> dict[str, Any]:
        """The rules as a version 2 document (what :func:`load_local_rules` reads back)."""
        return {
            "version": 2,
            "default": self.default.to_dict(),
            "rules": [rule.to_dict() for rule in self.rules],
        }


def load_local_rules(source: RulesSource) -> LocalSamplingRules:
    """Reads and validates a local sampling rules document, version 1 or 2.

    Arguments:
        source: a path to a JSON file (``str`` or ``os.PathLike``), JSON text (a ``str``
            starting with ``{`` or ``[``, or ``bytes``), a dict, or :class:`LocalSamplingRules`.

    Returns:
        The validated rules.

    Raises:
        SamplingRuleError: the document is not JSON or breaks the format; the message names the
            rule (``default``, ``rules[2]``) and the field.
        OSError: the file cannot be read.
    """
    if isinstance(source, LocalSamplingRules):
        return source
    if isinstance(source, Mapping):
        return _parse(source)
    if isinstance(source, bytes):
        return _parse(_loads(source))
    if isinstance(source, str) and source.lstrip()[:1] in ("{", "["):
        return _parse(_loads(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return _parse(_loads(path.read_bytes(), where=f"sampling rules file {path}"))
    raise SamplingRuleError(
        f"sampling rules: expected a path, JSON text or a dict, not {type(source).__name__}"
    )


def _loads(text: str | bytes, where: str = "sampling rules") -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SamplingRuleError(f"{where}: not valid JSON: {error}") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _parse(document: Any) -> LocalSamplingRules:
    if not isinstance(document, Mapping):
        raise SamplingRuleError(
            f"sampling rules: must be a JSON object, not {_json_type(document)}"
        )
    version = document.get("version")
    if isinstance(version, bool) or version not in (1, 2):
        shown = "missing" if "version" not in document else _shown(version)
        raise SamplingRuleError(
            f'sampling rules: "version" must be 1 or 2, not {shown}', field="version"
        )
    host_key = "host" if version == 2 else "service_name"
    if "default" not in document:
        raise SamplingRuleError('sampling rules: "default" is required', field="default")
    default = _parse_rule(document["default"], "default", host_key, is_default=True)
    rules_value = document.get("rules", [])
    if not isinstance(rules_value, (list, tuple)):
        raise SamplingRuleError(
            f'sampling rules: "rules" must be a JSON array, not {_json_type(rules_value)}',
            field="rules",
        )
    rules = tuple(
        _parse_rule(rule, f"rules[{n}]", host_key, is_default=False)
        for n, rule in enumerate(rules_value)
    )
    return LocalSamplingRules(default=default, rules=rules, version=int(version))


def _parse_rule(value: Any, name: str, host_key: str, *, is_default: bool) -> LocalSamplingRule:
    if not isinstance(value, Mapping):
        raise SamplingRuleError(
            f"sampling rules: {name} must be a JSON object, not {_json_type(value)}", rule=name
        )
    description = value.get("description")
    where = name
    if isinstance(description, str) and description:
        where = f"{name} ({_shown(description)})"

    def fail(field: str, problem: str) -> SamplingRuleError:
        return SamplingRuleError(
            f'sampling rules: {where}: "{field}" {problem}', rule=name, field=field
        )

    numbers: dict[str, float] = {}
    for field in ("fixed_target", "rate"):
        if field not in value:
            raise fail(field, "is required")
        number = value[field]
        if not _is_number(number) or number < 0:
            raise fail(field, f"must be a number ≥ 0, not {_shown(number)}")
        numbers[field] = number
    patterns: dict[str, str | None] = {}
    for field in (host_key, *_MATCHERS):
        pattern = value.get(field)
        if is_default:
            # Like the SDK, an empty value is as good as none.
            if pattern:
                raise fail(field, "is not allowed in the default rule")
            patterns[field] = None
        elif field not in value:
            raise fail(field, 'is required (a wildcard pattern such as "*")')
        elif not isinstance(pattern, str) or not pattern:
            raise fail(
                field, f"must be a non-empty string (a wildcard pattern), not {_shown(pattern)}"
            )
        else:
            patterns[field] = pattern
    return LocalSamplingRule(
        fixed_target=numbers["fixed_target"],
        rate=numbers["rate"],
        host=patterns[host_key],
        http_method=patterns["http_method"],
        url_path=patterns["url_path"],
        description=description if isinstance(description, str) else None,
    )


class _RuleState(Reservoir):
    """A rule's matchers, reservoir and shared decisions."""

    __slots__ = ("host", "method", "no_decision", "path", "rate", "rate_decision", "take_decision")

    def __init__(self, rule: LocalSamplingRule) -> None:
        super().__init__(rule.fixed_target)
        self.rate = rule.rate
        self.host = None if rule.host is None else compile_wildcard(rule.host)
        self.method = None if rule.http_method is None else compile_wildcard(rule.http_method)
        self.path = None if rule.url_path is None else compile_wildcard(rule.url_path)
        take, _, by_rate, no = SamplingDecision.for_rule(None)
        self.take_decision, self.rate_decision, self.no_decision = take, by_rate, no


class LocalSampler:
    """Head sampling by local rules, as the AWS X-Ray SDKs do when no centralized rules apply.

    Thread-safe; allocates nothing per decision once a request's (host, method, path) has been
    seen (the matched rule is cached, up to `match_cache_size` distinct requests).

    Arguments:
        rules: the rules document (see :func:`load_local_rules`); the SDKs' built-in rules
            (:data:`DEFAULT_LOCAL_RULES`) when ``None``.
        clock: the wall clock in epoch seconds; reservoirs count per ``int(clock())``.
        rng: the random source of the fixed rate (its ``random()``); a fresh
            :class:`random.Random` when ``None``.
        match_cache_size: distinct (host, method, path) whose matched rule is remembered; the
            cache is emptied when full.

    Raises:
        SamplingRuleError: `rules` is not a valid rules document.
    """

    def __init__(
        self,
        rules: RulesSource | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        match_cache_size: int = 4096,
    ) -> None:
        if match_cache_size < 0:
            raise ValueError(f"match_cache_size must be ≥ 0, not {match_cache_size}")
        self._clock = clock
        self._random = (rng if rng is not None else random.Random()).random
        self._cache_size = match_cache_size
        self.load_local_rules(DEFAULT_LOCAL_RULES if rules is None else rules)

    def load_local_rules(self, rules: RulesSource) -> None:
        """Replaces the rules (reservoirs start afresh).

        Raises:
            SamplingRuleError: `rules` is not a valid rules document.
        """
        loaded = load_local_rules(rules)
        self._rules = loaded
        self._default = _RuleState(loaded.default)
        self._states = tuple(_RuleState(rule) for rule in loaded.rules)
        self._cache: dict[tuple[Any, Any, Any], _RuleState] = {}

    @property
    def rules(self) -> LocalSamplingRules:
        """The rules in use."""
        return self._rules

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

        Give the request either as keywords or as the dict the SDK's samplers take (keys
        ``host``, ``method``, ``path``, ``service``, ``service_type``). Local rules match only
        host, method and path. A call with no attribute at all (the SDK's ``None``) is decided
        by the default rule; a request whose host, method and path are all missing or empty
        matches the first rule, as in the SDK.

        Returns:
            The decision (truthy when sampled); ``rule_name`` is ``None`` for local rules.

        Raises:
            TypeError: both a request dict and keywords were given.
        """
        if request is not None:
            _, _, host, method, path = request_attributes(
                request, service_name, service_type, host, method, path
            )
        elif (
            host is None
            and method is None
            and path is None
            and service_name is None
            and service_type is None
        ):
            return self._decide(self._default)
        state = self._cache.get((host, method, path))
        if state is None:
            state = self._match(host, method, path)
        return self._decide(state)

    def decide(self, host: str | None, method: str | None, path: str | None) -> SamplingDecision:
        """Decides a request given by its attributes (``None`` or ``""``: missing).

        The same as ``should_trace(host=host, method=method, path=path)``, except that a request
        with no attribute at all still goes through the rules (the SDK's ``{}``).
        """
        state = self._cache.get((host, method, path))
        if state is None:
            state = self._match(host, method, path)
        return self._decide(state)

    def _match(self, host: str | None, method: str | None, path: str | None) -> _RuleState:
        found = self._default
        for state in self._states:
            if (
                (not host or state.host(host))  # type: ignore[misc]
                and (not method or state.method(method))  # type: ignore[misc]
                and (not path or state.path(path))  # type: ignore[misc]
            ):
                found = state
                break
        cache = self._cache
        if len(cache) >= self._cache_size:
            cache.clear()
        if self._cache_size:
            cache[(host, method, path)] = found
        return found

    def _decide(self, state: _RuleState) -> SamplingDecision:
        if state.take(int(self._clock())):
            return state.take_decision
        if self._random() < state.rate:
            return state.rate_decision
        return state.no_decision
