"""Sampling configuration: TOML, JSON and dicts give the same configuration; every invalid key
is reported with its path and a whole message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import xrfast
from xrfast.exceptions import XRayError
from xrfast.sampling import tail
from xrfast.sampling.config import (
    SamplingConfig,
    SamplingConfigError,
    load_config,
    loads_config,
    parse_config,
)

TOML = """
[head]
version = 2
default = { fixed_target = 1, rate = 0.05 }
rules = [
  { description = "health", host = "*", http_method = "GET", url_path = "/health", fixed_target = 0, rate = 0.0 },
]

[[tail.policies]]
name = "errors"
type = "status_code"
status_codes = ["fault", "error"]

[[tail.policies]]
name = "slow"
type = "latency"
threshold_ms = 1000

[[tail.policies]]
name = "budget"
type = "composite"
max_total_traces_per_second = 50
rate_allocation = [{ policy = "premium", percent = 60 }]

[[tail.policies.policies]]
name = "premium"
type = "annotation"
key = "customer_tier"
values = ["premium", "enterprise"]

[[tail.policies.policies]]
name = "rest"
type = "probabilistic"
sampling_percentage = 5
hash_salt = "shop"

[examples]
k = 3
seed = 7
latency_buckets_ms = [100, 1000]
"""

AS_DICT: dict[str, Any] = {
    "head": {
        "version": 2,
        "default": {"fixed_target": 1, "rate": 0.05},
        "rules": [
            {
                "description": "health",
                "host": "*",
                "http_method": "GET",
                "url_path": "/health",
                "fixed_target": 0,
                "rate": 0.0,
            }
        ],
    },
    "tail": {
        "policies": [
            {"name": "errors", "type": "status_code", "status_codes": ["fault", "error"]},
            {"name": "slow", "type": "latency", "threshold_ms": 1000},
            {
                "name": "budget",
                "type": "composite",
                "max_total_traces_per_second": 50,
                "rate_allocation": [{"policy": "premium", "percent": 60}],
                "policies": [
                    {
                        "name": "premium",
                        "type": "annotation",
                        "key": "customer_tier",
                        "values": ["premium", "enterprise"],
                    },
                    {
                        "name": "rest",
                        "type": "probabilistic",
                        "sampling_percentage": 5,
                        "hash_salt": "shop",
                    },
                ],
            },
        ]
    },
    "examples": {"k": 3, "seed": 7, "latency_buckets_ms": [100, 1000]},
}


def test_toml_json_and_dict_agree(tmp_path: Path):
    from_toml = loads_config(TOML, format="toml")
    from_json = loads_config(json.dumps(AS_DICT), format="json")
    from_dict = parse_config(AS_DICT)
    assert from_toml == from_json == from_dict
    (tmp_path / "sampling.toml").write_text(TOML)
    (tmp_path / "sampling.json").write_text(json.dumps(AS_DICT))
    assert load_config(tmp_path / "sampling.toml") == from_dict
    assert load_config(str(tmp_path / "sampling.json")) == from_dict


def test_the_configuration_builds_what_it_says():
    config = parse_config(AS_DICT)
    assert config.head == AS_DICT["head"]
    errors, slow, budget = config.policies
    assert errors == tail.StatusCode(["fault", "error"], name="errors")
    assert slow == tail.Latency(threshold_ms=1000.0, name="slow")
    assert isinstance(budget, tail.Composite)
    assert budget.percentages() == [60, 40]
    assert budget.policies[1] == tail.Probabilistic(5.0, hash_salt="shop", name="rest")
    sampler = config.tail_sampler(clock=lambda: 0.0)
    assert sampler.policies == config.policies
    examples = config.example_reservoirs()
    assert (examples.k, examples.seed, examples.latency_buckets_ms) == (3, 7, (100.0, 1000.0))


def test_the_configuration_samples_real_traces():
    traces = xrfast.read(Path(xrfast.__file__).parent / "data" / "sdk-checkout.ndjson")
    config = parse_config(
        {
            "tail": {
                "policies": [{"name": "faults", "type": "status_code", "status_codes": ["fault"]}]
            }
        }
    )
    mask = config.tail_sampler().decide(traces)
    assert mask.tolist() == traces.summary_columns()["has_fault"].tolist()


def test_the_head_rules_make_the_local_sampler():
    head = {
        "version": 2,
        "default": {"fixed_target": 0, "rate": 0.0},
        "rules": [
            {
                "host": "*",
                "http_method": "*",
                "url_path": "/orders/*",
                "fixed_target": 1,
                "rate": 0.0,
            }
        ],
    }
    sampler = parse_config({"head": head}).local_sampler(clock=lambda: 100.0)
    assert sampler.should_trace(host="shop", method="POST", path="/orders/7")  # the reservoir
    assert not sampler.should_trace(host="shop", method="POST", path="/orders/8")  # spent
    assert not sampler.should_trace(host="shop", method="GET", path="/health")  # default: 0
    # Without head rules: the SDKs' built-in ones (1 per second, then 5 %).
    assert parse_config({}).local_sampler(clock=lambda: 5.0).should_trace(path="/")


def test_sections_are_optional_and_rules_is_an_alias():
    assert parse_config({}) == SamplingConfig()
    v1 = {
        "version": 1,
        "default": {"fixed_target": 1, "rate": 0.1},
        "rules": [
            {
                "id": "1",  # Go's version 1 sample carries one; ignored
                "service_name": "*",
                "http_method": "*",
                "url_path": "/api/*",
                "fixed_target": 2,
                "rate": 0.5,
            }
        ],
    }
    assert parse_config({"rules": v1}).head == v1
    v2 = {**v1, "version": 2}
    with pytest.raises(SamplingConfigError) as error:
        parse_config({"rules": v2})
    assert str(error.value) == "rules.rules[0].service_name: is not a version 2 key (use 'host')"
    with pytest.raises(SamplingConfigError) as error:
        parse_config({}).tail_sampler()
    assert str(error.value) == "tail.policies: no tail policies are configured"


def test_the_error_is_an_xray_value_error():
    with pytest.raises(SamplingConfigError) as error:
        parse_config({"tail": {"policies": [{"name": "x", "type": "latency"}]}})
    assert isinstance(error.value, XRayError) and isinstance(error.value, ValueError)
    assert error.value.path == "tail.policies[0].threshold_ms"


POLICY = "tail.policies[0]"


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ([], "", "the configuration must be an object (a table)"),
        (
            {"heads": {}},
            "heads",
            "unknown key; expected one of version, head, rules, tail, examples",
        ),
        ({"version": 2}, "version", "must be 1, got 2"),
        (
            {"head": {"version": 2, "default": {"fixed_target": 1, "rate": 0}}, "rules": {}},
            "rules",
            "give the head rules as 'head' or 'rules', not both",
        ),
        # Head rules.
        ({"head": []}, "head", "must be an object (a local rules document)"),
        ({"head": {}}, "head.version", "is required (1 or 2)"),
        ({"head": {"version": 3}}, "head.version", "must be 1 or 2, got 3"),
        ({"head": {"version": 2}}, "head.default", "is required"),
        (
            {"head": {"version": 2, "default": {"fixed_target": 1, "rate": 0.1, "host": "*"}}},
            "head.default.host",
            "is not allowed in the default rule (it matches everything)",
        ),
        (
            {"head": {"version": 2, "default": {"fixed_target": -1, "rate": 0.1}}},
            "head.default.fixed_target",
            "must be at least 0, got -1",
        ),
        (
            {"head": {"version": 2, "default": {"fixed_target": 1, "rate": "all"}}},
            "head.default.rate",
            "must be a number, got a string",
        ),
        (
            {"head": {"version": 2, "default": {"fixed_target": 1}}},
            "head.default.rate",
            "is required",
        ),
        (
            {
                "head": {
                    "version": 1,
                    "default": {"fixed_target": 1, "rate": 0.1},
                    "rules": [
                        {
                            "host": "*",
                            "http_method": "*",
                            "url_path": "*",
                            "fixed_target": 1,
                            "rate": 0,
                        }
                    ],
                }
            },
            "head.rules[0].host",
            "is not a version 1 key (use 'service_name')",
        ),
        (
            {
                "head": {
                    "version": 2,
                    "default": {"fixed_target": 1, "rate": 0.1},
                    "rules": [{"host": "*", "http_method": "*", "fixed_target": 1, "rate": 0}],
                }
            },
            "head.rules[0].url_path",
            "is required",
        ),
        (
            {
                "head": {
                    "version": 2,
                    "default": {"fixed_target": 1, "rate": 0.1},
                    "rules": [
                        {
                            "host": 5,
                            "http_method": "*",
                            "url_path": "*",
                            "fixed_target": 1,
                            "rate": 0,
                        }
                    ],
                }
            },
            "head.rules[0].host",
            "must be a string, got an integer",
        ),
        # Tail policies.
        ({"tail": []}, "tail", "must be an object (a table)"),
        ({"tail": {"policy": []}}, "tail.policy", "unknown key; expected one of policies"),
        ({"tail": {"policies": {}}}, "tail.policies", "must be a list of policies, got an object"),
        ({"tail": {"policies": [5]}}, POLICY, "must be an object, got an integer"),
        ({"tail": {"policies": [{"type": "latency"}]}}, f"{POLICY}.name", "is required"),
        ({"tail": {"policies": [{"name": ""}]}}, f"{POLICY}.name", "must not be empty"),
        ({"tail": {"policies": [{"name": "a"}]}}, f"{POLICY}.type", "is required"),
        (
            {"tail": {"policies": [{"name": "a", "type": "sometimes"}]}},
            f"{POLICY}.type",
            (
                "unknown policy type 'sometimes'; expected one of always_sample, latency, "
                "status_code, string_attribute, numeric_attribute, annotation, probabilistic, "
                "rate_limiting, and, composite, filter"
            ),
        ),
        (
            {"tail": {"policies": [{"name": "a", "type": "latency", "threshold": 5}]}},
            f"{POLICY}.threshold",
            "unknown key; expected one of name, type, threshold_ms, upper_threshold_ms, measure",
        ),
        (
            {"tail": {"policies": [{"name": "a", "type": "latency", "threshold_ms": True}]}},
            f"{POLICY}.threshold_ms",
            "must be a number, got a boolean",
        ),
        (
            {"tail": {"policies": [{"name": "a", "type": "latency", "threshold_ms": -5}]}},
            f"{POLICY}.threshold_ms",
            "must be at least 0, got -5",
        ),
        (
            {
                "tail": {
                    "policies": [
                        {"name": "a", "type": "latency", "threshold_ms": 9, "upper_threshold_ms": 3}
                    ]
                }
            },
            POLICY,
            "upper_threshold_ms (3.0) is below threshold_ms (9.0)",
        ),
        (
            {"tail": {"policies": [{"name": "a", "type": "status_code", "status_codes": []}]}},
            f"{POLICY}.status_codes",
            "must not be empty",
        ),
        (
            {"tail": {"policies": [{"name": "a", "type": "status_code", "status_codes": ["5xx"]}]}},
            POLICY,
            "unknown status '5xx'; expected one of 'fault', 'error', 'throttle', 'ok'",
        ),
        (
            {
                "tail": {
                    "policies": [
                        {"name": "a", "type": "string_attribute", "key": "http.url", "values": [1]}
                    ]
                }
            },
            f"{POLICY}.values[0]",
            "must be a string, got an integer",
        ),
        (
            {
                "tail": {
                    "policies": [
                        {
                            "name": "a",
                            "type": "string_attribute",
                            "key": "http.url",
                            "values": ["[a"],
                            "enabled_regex_matching": True,
                        }
                    ]
                }
            },
            POLICY,
            "invalid regular expression: unterminated character set at position 0",
        ),
        (
            {"tail": {"policies": [{"name": "a", "type": "probabilistic"}]}},
            f"{POLICY}.sampling_percentage",
            "is required by a probabilistic policy",
        ),
        (
            {
                "tail": {
                    "policies": [{"name": "a", "type": "rate_limiting", "traces_per_second": 1.5}]
                }
            },
            f"{POLICY}.traces_per_second",
            "must be an integer, got a number",
        ),
        (
            {
                "tail": {
                    "policies": [
                        {"name": "a", "type": "always_sample"},
                        {"name": "a", "type": "always_sample"},
                    ]
                }
            },
            "tail.policies[1].name",
            "duplicate policy name 'a'",
        ),
        (
            {
                "tail": {
                    "policies": [
                        {
                            "name": "c",
                            "type": "composite",
                            "max_total_traces_per_second": 10,
                            "policies": [{"name": "x", "type": "latency", "threshold_ms": "1"}],
                        }
                    ]
                }
            },
            f"{POLICY}.policies[0].threshold_ms",
            "must be a number, got a string",
        ),
        (
            {
                "tail": {
                    "policies": [
                        {
                            "name": "c",
                            "type": "composite",
                            "max_total_traces_per_second": 10,
                            "policies": [{"name": "x", "type": "always_sample"}],
                            "rate_allocation": [{"policy": "x"}],
                        }
                    ]
                }
            },
            f"{POLICY}.rate_allocation[0].percent",
            "is required",
        ),
        (
            {
                "tail": {
                    "policies": [
                        {
                            "name": "c",
                            "type": "composite",
                            "max_total_traces_per_second": 10,
                            "policies": [{"name": "x", "type": "always_sample"}],
                            "rate_allocation": [{"policy": "y", "percent": 10}],
                        }
                    ]
                }
            },
            POLICY,
            "rate_allocation names 'y', which is no sub-policy",
        ),
        # Examples.
        ({"examples": {"k": 0}}, "examples.k", "must be at least 1, got 0"),
        (
            {"examples": {"size": 3}},
            "examples.size",
            "unknown key; expected one of k, seed, latency_buckets_ms",
        ),
        (
            {"examples": {"latency_buckets_ms": [100, 50]}},
            "examples.latency_buckets_ms[1]",
            "must be greater than the bound before it (100)",
        ),
        (
            {"examples": {"latency_buckets_ms": "fast"}},
            "examples.latency_buckets_ms",
            "must be a list of numbers, got a string",
        ),
    ],
)
def test_invalid_configurations(config: Any, path: str, message: str):
    with pytest.raises(SamplingConfigError) as error:
        parse_config(config)
    assert error.value.path == path
    assert str(error.value) == (f"{path}: {message}" if path else message)


def test_bad_files(tmp_path: Path):
    with pytest.raises(SamplingConfigError) as error:
        loads_config("[tail\n", format="toml")
    assert str(error.value).startswith("invalid TOML: ")
    assert error.value.path == ""
    with pytest.raises(SamplingConfigError) as error:
        loads_config("{", format="json")
    assert str(error.value) == (
        "invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )
    (tmp_path / "sampling.yaml").write_text("{}")
    with pytest.raises(SamplingConfigError) as error:
        load_config(tmp_path / "sampling.yaml")
    assert str(error.value) == "sampling.yaml: expected a .toml or .json file"
    with pytest.raises(ValueError, match="format must be 'toml' or 'json', got 'yaml'"):
        loads_config("{}", format="yaml")  # type: ignore[arg-type]


def test_the_documented_configuration_is_valid():
    text = (Path(__file__).parents[1] / "docs" / "tail-sampling.md").read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = loads_config(block, format="toml")
    assert [p.name for p in config.policies] == ["errors", "budget"]
    assert config.head is not None and config.head["version"] == 2
    assert config.examples_k == 5


def test_a_filter_policy_from_the_configuration():
    traces = xrfast.read(Path(xrfast.__file__).parent / "data" / "sdk-checkout.ndjson")
    config = parse_config(
        {"tail": {"policies": [{"name": "f", "type": "filter", "expression": "fault OR error"}]}}
    )
    mask = config.tail_sampler().decide(traces)
    columns = traces.summary_columns()
    assert mask.tolist() == (columns["has_fault"] | columns["has_error"]).tolist()
    with pytest.raises(SamplingConfigError) as error:
        parse_config({"tail": {"policies": [{"name": "f", "type": "filter", "expression": ""}]}})
    assert str(error.value) == "tail.policies[0]: expression must be a non-empty filter expression"
    with pytest.raises(SamplingConfigError) as error:
        parse_config(
            {"tail": {"policies": [{"name": "f", "type": "filter", "expression": "fault AND"}]}}
        )
    assert error.value.path == "tail.policies[0]"
    assert str(error.value).startswith("tail.policies[0]: Invalid filter expression: ")
