"""One sampling configuration: head rules, tail policies and example reservoirs, from a TOML or
JSON file or a dict, validated with errors that name the key path and say why.

.. code-block:: toml

    [head]                       # the local rules document (spec §7.1), version 1 or 2
    version = 2
    default = { fixed_target = 1, rate = 0.05 }
    rules = [{ host = "*", http_method = "GET", url_path = "/health", fixed_target = 0, rate = 0.0 }]

    [[tail.policies]]
    name = "errors"
    type = "status_code"
    status_codes = ["fault", "error"]

    [[tail.policies]]
    name = "slow"
    type = "latency"
    threshold_ms = 1000

    [examples]
    k = 5
    seed = 0
    latency_buckets_ms = [100, 500, 1000, 5000]

``head`` may also be spelled ``rules``. The head document is checked here (key paths in the
errors) and by the local sampler's own parser, and :meth:`SamplingConfig.local_sampler` makes
the :class:`~xrfast.sampling.LocalSampler` of it; tail policies become
:mod:`xrfast.sampling.tail` objects; ``examples`` configures
:class:`xrfast.sampling.examples.ExampleReservoirs`. Every section is optional.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xrfast.exceptions import XRayError
from xrfast.sampling import tail
from xrfast.sampling.errors import SamplingRuleError
from xrfast.sampling.examples import DEFAULT_LATENCY_BUCKETS_MS, ExampleReservoirs
from xrfast.sampling.local import LocalSampler, load_local_rules

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

__all__ = ["SamplingConfig", "SamplingConfigError", "load_config", "loads_config", "parse_config"]


class SamplingConfigError(XRayError, ValueError):
    """A sampling configuration is invalid. ``path`` names the key (``tail.policies[1].type``;
    empty for the document itself) and the message says why."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}" if path else why)
        #: The key path, dotted, list items as ``[i]``.
        self.path = path


@dataclass
class SamplingConfig:
    """A validated sampling configuration."""

    #: The local rules document (version 1 or 2), as given; ``None`` when absent.
    head: dict[str, Any] | None = None
    #: The tail policies, in order.
    policies: list[tail.Policy] = field(default_factory=list)
    #: Example reservoirs: trace ids per reservoir.
    examples_k: int = 5
    #: Example reservoirs: seed.
    examples_seed: int = 0
    #: Example reservoirs: latency bucket bounds, milliseconds.
    latency_buckets_ms: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_MS

    def local_sampler(
        self, *, clock: Callable[[], float] = time.time, rng: random.Random | None = None
    ) -> LocalSampler:
        """The :class:`~xrfast.sampling.LocalSampler` of the head rules (the SDKs' built-in
        rules when the configuration has none)."""
        return LocalSampler(self.head, clock=clock, rng=rng)

    def tail_sampler(self, *, clock: Callable[[], float] = time.time) -> tail.TailSampler:
        """A :class:`~xrfast.sampling.tail.TailSampler` of the policies.

        Raises:
            SamplingConfigError: the configuration has no tail policies.
        """
        if not self.policies:
            raise SamplingConfigError("tail.policies", "no tail policies are configured")
        return tail.TailSampler(self.policies, clock=clock)

    def example_reservoirs(self) -> ExampleReservoirs:
        """Empty :class:`~xrfast.sampling.examples.ExampleReservoirs` as configured."""
        return ExampleReservoirs(
            self.examples_k, seed=self.examples_seed, latency_buckets_ms=self.latency_buckets_ms
        )


# --------------------------------------------------------------------------------------------
# Reading.


def load_config(path: str | Path) -> SamplingConfig:
    """Reads a configuration file: TOML when it ends in ``.toml``, JSON when in ``.json``.

    Raises:
        SamplingConfigError: another suffix, unreadable content, or an invalid configuration.
        OSError: the file cannot be read.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SamplingConfigError("", f"{path.name}: expected a .toml or .json file")
    return loads_config(path.read_bytes(), format="toml" if suffix == ".toml" else "json")


def loads_config(text: str | bytes, *, format: Literal["toml", "json"]) -> SamplingConfig:
    """Parses a configuration from TOML or JSON text.

    Raises:
        SamplingConfigError: the text is not valid TOML/JSON (the message has the parser's
            reason), or the configuration is invalid.
    """
    if format not in ("toml", "json"):
        raise ValueError(f"format must be 'toml' or 'json', got {format!r}")
    try:
        if format == "toml":
            data = tomllib.loads(text.decode() if isinstance(text, bytes) else text)
        else:
            data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise SamplingConfigError("", f"invalid {format.upper()}: {error}") from None
    return parse_config(data)


def parse_config(data: Mapping[str, Any]) -> SamplingConfig:
    """Validates a configuration given as a dict.

    Raises:
        SamplingConfigError: the first problem found, with its key path.
    """
    _require(isinstance(data, Mapping), "", "the configuration must be an object (a table)")
    _known(data, "", ("version", "head", "rules", "tail", "examples"))
    if "version" in data:
        _require(data["version"] == 1, "version", f"must be 1, got {data['version']!r}")
    config = SamplingConfig()
    if "head" in data and "rules" in data:
        raise SamplingConfigError("rules", "give the head rules as 'head' or 'rules', not both")
    for key in ("head", "rules"):
        if key in data:
            config.head = _head(data[key], key)
    if "tail" in data:
        section = data["tail"]
        _require(isinstance(section, Mapping), "tail", "must be an object (a table)")
        _known(section, "tail", ("policies",))
        config.policies = _policies(section.get("policies", []), "tail.policies")
    if "examples" in data:
        _examples(data["examples"], config)
    return config


# --------------------------------------------------------------------------------------------
# Checks.


def _require(ok: bool, path: str, why: str) -> None:
    if not ok:
        raise SamplingConfigError(path, why)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _known(obj: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    for key in obj:
        if key not in allowed:
            raise SamplingConfigError(
                _join(path, str(key)), "unknown key; expected one of " + ", ".join(allowed)
            )


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _number(value: Any, path: str, *, minimum: float | None = None) -> float:
    _require(
        isinstance(value, (int, float)) and not isinstance(value, bool),
        path,
        f"must be a number, got {_type_name(value)}",
    )
    _require(math.isfinite(value), path, f"must be finite, got {value}")
    if minimum is not None:
        _require(value >= minimum, path, f"must be at least {minimum:g}, got {value}")
    return float(value)


def _integer(value: Any, path: str, *, minimum: int | None = None) -> int:
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )
    _require(ok, path, f"must be an integer, got {_type_name(value)}")
    if minimum is not None:
        _require(value >= minimum, path, f"must be at least {minimum}, got {value}")
    return int(value)


def _string(value: Any, path: str) -> str:
    _require(isinstance(value, str), path, f"must be a string, got {_type_name(value)}")
    return str(value)


def _boolean(value: Any, path: str) -> bool:
    _require(isinstance(value, bool), path, f"must be a boolean, got {_type_name(value)}")
    return bool(value)


def _strings(value: Any, path: str) -> list[str]:
    _require(isinstance(value, list), path, f"must be a list of strings, got {_type_name(value)}")
    _require(len(value) > 0, path, "must not be empty")
    return [_string(v, f"{path}[{i}]") for i, v in enumerate(value)]


# --------------------------------------------------------------------------------------------
# Head rules (spec §7.1): structure only; xrfast.sampling.local parses the document.

_MATCHERS = {1: ("service_name", "http_method", "url_path"), 2: ("host", "http_method", "url_path")}


def _head(doc: Any, path: str) -> dict[str, Any]:
    _require(isinstance(doc, Mapping), path, "must be an object (a local rules document)")
    _require("version" in doc, _join(path, "version"), "is required (1 or 2)")
    version = doc["version"]
    _require(
        version in (1, 2) and not isinstance(version, bool),
        _join(path, "version"),
        f"must be 1 or 2, got {version!r}",
    )
    matchers = _MATCHERS[version]
    other = _MATCHERS[3 - version][0]
    _known(doc, path, ("version", "default", "rules"))
    _require("default" in doc, _join(path, "default"), "is required")
    default = doc["default"]
    where = _join(path, "default")
    _require(isinstance(default, Mapping), where, "must be an object")
    for key in default:
        if key in (*matchers, other):
            raise SamplingConfigError(
                _join(where, key), "is not allowed in the default rule (it matches everything)"
            )
    _known(default, where, ("fixed_target", "rate", "description"))
    _rule_numbers(default, where)
    rules = doc.get("rules", [])
    _require(isinstance(rules, list), _join(path, "rules"), "must be a list")
    for i, rule in enumerate(rules):
        where = f"{_join(path, 'rules')}[{i}]"
        _require(isinstance(rule, Mapping), where, "must be an object")
        if other in rule:
            raise SamplingConfigError(
                _join(where, other), f"is not a version {version} key (use {matchers[0]!r})"
            )
        # Go's version 1 sample rules carry an "id" (ignored, spec §7.1).
        extra = ("id",) if version == 1 else ()
        _known(rule, where, (*matchers, "fixed_target", "rate", "description", *extra))
        for key in matchers:
            _require(key in rule, _join(where, key), "is required")
            _string(rule[key], _join(where, key))
        if "description" in rule:
            _string(rule["description"], _join(where, "description"))
        _rule_numbers(rule, where)
    try:  # what the local sampler itself refuses, in case the structure above lets it pass
        load_local_rules(dict(doc))
    except SamplingRuleError as e:
        where = ".".join(part for part in (path, e.rule, e.field) if part)
        raise SamplingConfigError(where, str(e)) from None
    return dict(doc)


def _rule_numbers(rule: Mapping[str, Any], where: str) -> None:
    for key in ("fixed_target", "rate"):
        _require(key in rule, _join(where, key), "is required")
    _integer(rule["fixed_target"], _join(where, "fixed_target"), minimum=0)
    _number(rule["rate"], _join(where, "rate"), minimum=0)


# --------------------------------------------------------------------------------------------
# Tail policies.

#: Per policy type: key → (reader, required). Readers take (value, path).
_Reader = Callable[[Any, str], Any]
_PARAMS: dict[str, dict[str, tuple[_Reader, bool]]] = {
    "always_sample": {},
    "latency": {
        "threshold_ms": (lambda v, p: _number(v, p, minimum=0), True),
        "upper_threshold_ms": (lambda v, p: _number(v, p, minimum=0), False),
        "measure": (_string, False),
    },
    "status_code": {"status_codes": (_strings, True)},
    "string_attribute": {
        "key": (_string, True),
        "values": (_strings, True),
        "enabled_regex_matching": (_boolean, False),
        "invert_match": (_boolean, False),
    },
    "numeric_attribute": {
        "key": (_string, True),
        "min_value": (_number, False),
        "max_value": (_number, False),
        "invert_match": (_boolean, False),
    },
    "annotation": {
        "key": (_string, True),
        "min_value": (_number, False),
        "max_value": (_number, False),
        "values": (_strings, False),
        "enabled_regex_matching": (_boolean, False),
        "boolean_value": (_boolean, False),
        "invert_match": (_boolean, False),
    },
    "probabilistic": {
        "sampling_percentage": (_number, True),
        "hash_salt": (_string, False),
    },
    "rate_limiting": {
        "traces_per_second": (lambda v, p: _integer(v, p, minimum=0), True),
        "time_source": (_string, False),
        "horizon": (lambda v, p: _integer(v, p, minimum=1), False),
    },
    "and": {"policies": (lambda v, p: _policies(v, p), True)},
    "composite": {
        "max_total_traces_per_second": (lambda v, p: _integer(v, p, minimum=0), True),
        "policies": (lambda v, p: _policies(v, p), True),
        "rate_allocation": (lambda v, p: _allocation(v, p), False),
        "time_source": (_string, False),
        "horizon": (lambda v, p: _integer(v, p, minimum=1), False),
    },
    "filter": {"expression": (_string, True)},
}


def _policies(value: Any, path: str) -> list[tail.Policy]:
    _require(isinstance(value, list), path, f"must be a list of policies, got {_type_name(value)}")
    out = []
    names: set[str] = set()
    for i, item in enumerate(value):
        policy = _policy(item, f"{path}[{i}]")
        if policy.name in names:
            raise SamplingConfigError(f"{path}[{i}].name", f"duplicate policy name {policy.name!r}")
        names.add(policy.name)
        out.append(policy)
    return out


def _policy(item: Any, path: str) -> tail.Policy:
    _require(isinstance(item, Mapping), path, f"must be an object, got {_type_name(item)}")
    _require("name" in item, _join(path, "name"), "is required")
    name = _string(item["name"], _join(path, "name"))
    _require(bool(name), _join(path, "name"), "must not be empty")
    _require("type" in item, _join(path, "type"), "is required")
    kind = _string(item["type"], _join(path, "type"))
    params = _PARAMS.get(kind)
    if params is None:
        raise SamplingConfigError(
            _join(path, "type"),
            f"unknown policy type {kind!r}; expected one of " + ", ".join(_PARAMS),
        )
    _known(item, path, ("name", "type", *params))
    kwargs: dict[str, Any] = {"name": name}
    for key, (read, required) in params.items():
        if key in item:
            kwargs[key] = read(item[key], _join(path, key))
        elif required:
            raise SamplingConfigError(_join(path, key), f"is required by a {kind} policy")
    try:
        return tail.POLICY_TYPES[kind](**kwargs)
    except ValueError as error:
        raise SamplingConfigError(path, str(error)) from None


def _allocation(value: Any, path: str) -> dict[str, float]:
    _require(
        isinstance(value, list),
        path,
        f"must be a list of {{policy, percent}} objects, got {_type_name(value)}",
    )
    out: dict[str, float] = {}
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        _require(isinstance(item, Mapping), where, f"must be an object, got {_type_name(item)}")
        _known(item, where, ("policy", "percent"))
        for key in ("policy", "percent"):
            _require(key in item, _join(where, key), "is required")
        name = _string(item["policy"], _join(where, "policy"))
        _require(name not in out, _join(where, "policy"), f"{name!r} is allocated twice")
        out[name] = _number(item["percent"], _join(where, "percent"), minimum=0)
    return out


# --------------------------------------------------------------------------------------------
# Examples.


def _examples(section: Any, config: SamplingConfig) -> None:
    _require(isinstance(section, Mapping), "examples", "must be an object (a table)")
    _known(section, "examples", ("k", "seed", "latency_buckets_ms"))
    if "k" in section:
        config.examples_k = _integer(section["k"], "examples.k", minimum=1)
    if "seed" in section:
        config.examples_seed = _integer(section["seed"], "examples.seed", minimum=0)
    if "latency_buckets_ms" in section:
        value = section["latency_buckets_ms"]
        path = "examples.latency_buckets_ms"
        _require(
            isinstance(value, list), path, f"must be a list of numbers, got {_type_name(value)}"
        )
        bounds = [_number(v, f"{path}[{i}]", minimum=0) for i, v in enumerate(value)]
        for i in range(1, len(bounds)):
            _require(
                bounds[i] > bounds[i - 1],
                f"{path}[{i}]",
                f"must be greater than the bound before it ({bounds[i - 1]:g})",
            )
        _require(all(b > 0 for b in bounds), f"{path}[0]", "must be greater than 0")
        config.latency_buckets_ms = tuple(bounds)
