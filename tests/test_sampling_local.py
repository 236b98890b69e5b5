"""Local sampling rules: the file formats, their errors, reservoirs, rates, and the AWS X-Ray SDK
for Python's LocalSampler as the oracle."""

from __future__ import annotations

import json
import math
import random
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aws_xray_sdk.core.exceptions.exceptions import InvalidSamplingManifestError
from aws_xray_sdk.core.sampling.local import reservoir as sdk_reservoir
from aws_xray_sdk.core.sampling.local.sampler import LocalSampler as SdkLocalSampler
from hypothesis import given, settings
from hypothesis import strategies as st

from xrfast.exceptions import XRayError
from xrfast.sampling import (
    LocalSampler,
    LocalSamplingRule,
    SamplingDecision,
    SamplingRuleError,
    load_local_rules,
)

RULES = {
    "version": 2,
    "default": {"fixed_target": 1, "rate": 0.05},
    "rules": [
        {
            "description": "checkout is important",
            "host": "shop.example.com",
            "http_method": "POST",
            "url_path": "/checkout*",
            "fixed_target": 5,
            "rate": 0.5,
        },
        {"host": "*", "http_method": "GET", "url_path": "/health", "fixed_target": 0, "rate": 0.0},
    ],
}


class Clock:
    """A virtual wall clock."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- the formats -------------------------------------------------------------------------


def test_version_2_from_a_dict_a_json_string_bytes_and_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULES))
    loaded = [
        load_local_rules(RULES),
        load_local_rules(json.dumps(RULES)),
        load_local_rules(json.dumps(RULES).encode()),
        load_local_rules(path),
        load_local_rules(str(path)),
    ]
    assert all(rules == loaded[0] for rules in loaded)
    rules = loaded[0]
    assert rules.version == 2
    assert rules.default == LocalSamplingRule(fixed_target=1, rate=0.05)
    assert rules.rules[0] == LocalSamplingRule(
        fixed_target=5,
        rate=0.5,
        host="shop.example.com",
        http_method="POST",
        url_path="/checkout*",
        description="checkout is important",
    )
    assert load_local_rules(rules.to_dict()) == rules
    assert load_local_rules(rules) is rules


def test_version_1_matches_service_name_against_the_host() -> None:
    rules = load_local_rules(
        {
            "version": 1,
            "default": {"fixed_target": 0, "rate": 0.0},
            "rules": [
                {
                    "id": "ignored",
                    "service_name": "*.example.com",
                    "http_method": "*",
                    "url_path": "*",
                    "fixed_target": 1,
                    "rate": 0.0,
                }
            ],
        }
    )
    assert rules.version == 1 and rules.rules[0].host == "*.example.com"
    sampler = LocalSampler(rules, clock=Clock())
    assert sampler.should_trace(host="api.example.com", method="GET", path="/")
    assert not sampler.should_trace(host="other.org", method="GET", path="/")


def test_the_built_in_rules_are_the_sdks() -> None:
    assert LocalSampler().rules == load_local_rules(
        {"version": 2, "default": {"fixed_target": 1, "rate": 0.05}, "rules": []}
    )


@pytest.mark.parametrize(
    ("document", "message", "rule", "field"),
    [
        ("[]", "sampling rules: must be a JSON object, not array", None, None),
        ([], "sampling rules: expected a path, JSON text or a dict, not list", None, None),
        (
            "{not json",
            (
                "sampling rules: not valid JSON: Expecting property name enclosed in "
                "double quotes: line 1 column 2 (char 1)"
            ),
            None,
            None,
        ),
        ({"default": {}}, 'sampling rules: "version" must be 1 or 2, not missing', None, "version"),
        ({"version": 3}, 'sampling rules: "version" must be 1 or 2, not 3', None, "version"),
        ({"version": True}, 'sampling rules: "version" must be 1 or 2, not true', None, "version"),
        ({"version": 2}, 'sampling rules: "default" is required', None, "default"),
        (
            {"version": 2, "default": [1]},
            ("sampling rules: default must be a JSON object, not array"),
            "default",
            None,
        ),
        (
            {"version": 2, "default": {"rate": 0.1}},
            'sampling rules: default: "fixed_target" is required',
            "default",
            "fixed_target",
        ),
        (
            {"version": 2, "default": {"fixed_target": -1, "rate": 0.1}},
            'sampling rules: default: "fixed_target" must be a number ≥ 0, not -1',
            "default",
            "fixed_target",
        ),
        (
            {"version": 2, "default": {"fixed_target": 1, "rate": "0.5"}},
            'sampling rules: default: "rate" must be a number ≥ 0, not "0.5"',
            "default",
            "rate",
        ),
        (
            {"version": 2, "default": {"fixed_target": 1, "rate": float("nan")}},
            'sampling rules: default: "rate" must be a number ≥ 0, not NaN',
            "default",
            "rate",
        ),
        (
            {"version": 2, "default": {"fixed_target": 1, "rate": 0.1, "url_path": "/x"}},
            'sampling rules: default: "url_path" is not allowed in the default rule',
            "default",
            "url_path",
        ),
        (
            {"version": 1, "default": {"fixed_target": 1, "rate": 0.1, "service_name": "a"}},
            'sampling rules: default: "service_name" is not allowed in the default rule',
            "default",
            "service_name",
        ),
        (
            {"version": 2, "default": {"fixed_target": 1, "rate": 0.1}, "rules": {}},
            'sampling rules: "rules" must be a JSON array, not object',
            None,
            "rules",
        ),
        (
            {"version": 2, "default": {"fixed_target": 1, "rate": 0.1}, "rules": ["x"]},
            "sampling rules: rules[0] must be a JSON object, not string",
            "rules[0]",
            None,
        ),
        (
            {
                "version": 2,
                "default": {"fixed_target": 1, "rate": 0.1},
                "rules": [
                    RULES["rules"][0],
                    {
                        "description": "health checks",
                        "host": "*",
                        "http_method": "GET",
                        "fixed_target": 0,
                        "rate": 0,
                    },
                ],
            },
            (
                'sampling rules: rules[1] ("health checks"): "url_path" is required (a wildcard pattern '
                'such as "*")'
            ),
            "rules[1]",
            "url_path",
        ),
        (
            {
                "version": 1,
                "default": {"fixed_target": 1, "rate": 0.1},
                "rules": [
                    {
                        "host": "*",
                        "http_method": "GET",
                        "url_path": "*",
                        "fixed_target": 0,
                        "rate": 0,
                    }
                ],
            },
            'sampling rules: rules[0]: "service_name" is required (a wildcard pattern such as "*")',
            "rules[0]",
            "service_name",
        ),
        (
            {
                "version": 2,
                "default": {"fixed_target": 1, "rate": 0.1},
                "rules": [
                    {
                        "host": "",
                        "http_method": "GET",
                        "url_path": "*",
                        "fixed_target": 0,
                        "rate": 0,
                    }
                ],
            },
            (
                'sampling rules: rules[0]: "host" must be a non-empty string (a wildcard pattern), '
                'not ""'
            ),
            "rules[0]",
            "host",
        ),
        (
            {
                "version": 2,
                "default": {"fixed_target": 1, "rate": 0.1},
                "rules": [
                    {"host": "*", "http_method": 7, "url_path": "*", "fixed_target": 0, "rate": 0}
                ],
            },
            (
                'sampling rules: rules[0]: "http_method" must be a non-empty string (a wildcard '
                "pattern), not 7"
            ),
            "rules[0]",
            "http_method",
        ),
    ],
)
def test_errors_name_the_rule_and_the_field(
    document: Any, message: str, rule: str | None, field: str | None
) -> None:
    with pytest.raises(SamplingRuleError) as caught:
        load_local_rules(document)
    assert str(caught.value) == message
    assert (caught.value.rule, caught.value.field) == (rule, field)
    assert isinstance(caught.value, XRayError) and isinstance(caught.value, ValueError)


def test_a_bad_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{\n  "version": 2,\n}')
    with pytest.raises(SamplingRuleError) as caught:
        LocalSampler(path)
    assert str(caught.value) == (
        f"sampling rules file {path}: not valid JSON: Expecting property name enclosed in double "
        "quotes: line 3 column 1 (char 18)"
    )
    with pytest.raises(FileNotFoundError):
        LocalSampler(tmp_path / "missing.json")


# Values chosen to hit every branch of both validators.
ANY_VALUE = st.sampled_from(
    [
        None,
        -1,
        0,
        1,
        2,
        1.5,
        0.25,
        float("nan"),
        float("inf"),
        True,
        False,
        "",
        "*",
        "/x",
        [],
        {},
        [1],
        7,
    ]
)
RULE_KEYS = ("host", "service_name", "http_method", "url_path", "fixed_target", "rate")


def deliberately_rejected(document: dict[str, Any]) -> bool:
    """The inputs the SDK accepts and xrfast refuses on purpose (docs/sampling.md)."""
    if isinstance(document.get("version"), bool):
        return True
    host_key = "host" if document.get("version") == 2 else "service_name"
    rules = [("default", document.get("default"))] + [
        ("rule", rule) for rule in document.get("rules", [])
    ]
    for kind, rule in rules:
        for key in ("fixed_target", "rate"):
            value = rule.get(key)
            if isinstance(value, bool) or (isinstance(value, float) and math.isnan(value)):
                return True
        if kind == "rule" and any(
            rule.get(key) and not isinstance(rule.get(key), str)
            for key in (host_key, "http_method", "url_path")
        ):
            return True
    return False


@settings(max_examples=400)
@given(
    st.fixed_dictionaries(
        {
            "version": st.sampled_from([1, 2, 2.0, 3, True, None, "2"]),
            "default": st.dictionaries(st.sampled_from(RULE_KEYS), ANY_VALUE),
        },
        optional={
            "rules": st.lists(st.dictionaries(st.sampled_from(RULE_KEYS), ANY_VALUE), max_size=2)
        },
    )
)
def test_what_the_sdk_accepts_is_accepted(document: dict[str, Any]) -> None:
    try:
        SdkLocalSampler(document)
        sdk_accepts = True
    except (InvalidSamplingManifestError, TypeError, AttributeError):
        sdk_accepts = False
    try:
        load_local_rules(document)
        accepted = True
    except SamplingRuleError:
        accepted = False
    if sdk_accepts and not deliberately_rejected(document):
        assert accepted
    if not sdk_accepts:
        assert not accepted


# --- decisions ---------------------------------------------------------------------------


def test_the_reservoir_takes_fixed_target_requests_in_each_wall_clock_second() -> None:
    clock = Clock(1000.0)
    sampler = LocalSampler({"version": 2, "default": {"fixed_target": 3, "rate": 0.0}}, clock=clock)
    seen = []
    for now in (1000.0, 1000.2, 1000.5, 1000.7, 1000.999, 1001.0, 1001.1, 1001.2, 1001.3, 1003.5):
        clock.now = now
        seen.append(sampler.should_trace().outcome)
    assert seen == [
        "take", "take", "take", "not_sampled", "not_sampled",
        "take", "take", "take", "not_sampled",
        "take",
    ]  # fmt: skip


@pytest.mark.parametrize(("fixed_target", "per_second"), [(0, 0), (1, 1), (1.5, 2), (7, 7)])
def test_a_fractional_fixed_target_rounds_up_as_in_the_sdk(
    fixed_target: float, per_second: int
) -> None:
    clock = Clock(50.0)
    sampler = LocalSampler(
        {"version": 2, "default": {"fixed_target": fixed_target, "rate": 0}}, clock=clock
    )
    for second in range(3):
        clock.now = 50.0 + second
        assert sum(bool(sampler.should_trace()) for _ in range(20)) == per_second


def test_decisions_are_shared_objects_that_say_why() -> None:
    sampler = LocalSampler(RULES, clock=Clock(), rng=random.Random(1))
    request = {"host": "shop.example.com", "method": "POST", "path": "/checkout/cart"}
    decisions = [sampler.should_trace(request) for _ in range(8)]
    assert [d.outcome for d in decisions[:5]] == ["take"] * 5
    assert {d.outcome for d in decisions[5:]} <= {"fixed_rate", "not_sampled"}
    assert decisions[0] is decisions[1]
    assert decisions[0] == SamplingDecision("take") and bool(decisions[0])
    assert not SamplingDecision("not_sampled")
    assert decisions[0].rule_name is None
    with pytest.raises(AttributeError):
        decisions[0].sampled = False  # type: ignore[misc]


def test_first_matching_rule_wins_then_the_default() -> None:
    clock = Clock()
    rules = {
        "version": 2,
        "default": {"fixed_target": 0, "rate": 0.0},
        "rules": [
            {"host": "*", "http_method": "*", "url_path": "/a*", "fixed_target": 1, "rate": 0},
            {"host": "*", "http_method": "*", "url_path": "/ab", "fixed_target": 100, "rate": 0},
        ],
    }
    sampler = LocalSampler(rules, clock=clock)
    # "/ab" matches both: the first rule (1 per second) decides.
    assert [bool(sampler.should_trace(path="/ab")) for _ in range(3)] == [True, False, False]
    assert not sampler.should_trace(path="/zzz")


def test_missing_attributes_follow_the_sdk() -> None:
    rules = {
        "version": 2,
        "default": {"fixed_target": 0, "rate": 0.0},
        "rules": [
            {"host": "x", "http_method": "x", "url_path": "x", "fixed_target": 1000, "rate": 0}
        ],
    }
    sampler = LocalSampler(rules, clock=Clock())
    # No attribute at all (the SDK's None): the default rule.
    assert not sampler.should_trace()
    # A service name only (what the SDK's begin_segment passes), or empty attributes: the first
    # rule, because missing and empty attributes match anything.
    assert sampler.should_trace(service_name="orders")
    assert sampler.should_trace({})
    assert sampler.should_trace(host="", method="", path="")
    assert sampler.decide(None, None, None)
    with pytest.raises(TypeError, match="not both"):
        sampler.should_trace({"host": "x"}, host="x")


def test_the_rate_is_a_bernoulli_draw_within_binomial_bounds() -> None:
    for rate, seed in ((0.05, 1), (0.3, 2), (0.9, 3)):
        sampler = LocalSampler(
            {"version": 2, "default": {"fixed_target": 0, "rate": rate}},
            clock=Clock(),
            rng=random.Random(seed),
        )
        n = 20_000
        sampled = sum(bool(sampler.should_trace(path="/")) for _ in range(n))
        sigma = math.sqrt(n * rate * (1 - rate))
        assert abs(sampled - n * rate) < 5 * sigma, (rate, sampled)


def test_the_reservoir_is_exact_under_threads() -> None:
    sampler = LocalSampler(
        {"version": 2, "default": {"fixed_target": 50, "rate": 0.0}}, clock=Clock()
    )
    counts = [0] * 8

    def work(n: int) -> None:
        counts[n] = sum(bool(sampler.should_trace(path="/p")) for _ in range(2000))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 50


def test_the_match_cache_is_bounded_and_optional() -> None:
    for size in (0, 2):
        sampler = LocalSampler(RULES, clock=Clock(), match_cache_size=size)
        for n in range(10):
            sampler.should_trace(host="h", method="GET", path=f"/health{n % 3}")
            assert len(sampler._cache) <= size
    with pytest.raises(ValueError, match="match_cache_size must be ≥ 0, not -1"):
        LocalSampler(match_cache_size=-1)


# --- the SDK as the oracle -------------------------------------------------------------------


@contextmanager
def sdk_clock(clock: Clock) -> Iterator[None]:
    """The SDK's local reservoir reads `time.time()`: make it read the virtual clock."""
    with mock.patch.object(sdk_reservoir, "time", types.SimpleNamespace(time=clock)):
        yield


PATTERNS = ["*", "shop.example.com", "*.example.com", "GET", "POST", "P?T", "/api/*", "/health",
            "/a?c*", "*/*"]  # fmt: skip
HOSTS = ["shop.example.com", "api.EXAMPLE.com", "localhost", "", None]
METHODS = ["GET", "post", "PUT", "", None]
PATHS = ["/api/move/1", "/health", "/abcd", "/", "/API/x", "", None]

rule_strategy = st.fixed_dictionaries(
    {
        "host": st.sampled_from(PATTERNS),
        "http_method": st.sampled_from(PATTERNS),
        "url_path": st.sampled_from(PATTERNS),
        "fixed_target": st.sampled_from([0, 1, 2, 1.5]),
        "rate": st.sampled_from([0.0, 0.1, 0.5, 1.0, 1.5]),
    }
)
request_strategy = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "host": st.sampled_from(HOSTS),
            "method": st.sampled_from(METHODS),
            "path": st.sampled_from(PATHS),
            "service": st.sampled_from(["orders", None]),
        },
    ),
)
step_strategy = st.tuples(st.sampled_from([0.0, 0.0, 0.05, 0.3, 1.0, 2.5]), request_strategy)


@settings(max_examples=300)
@given(
    version=st.sampled_from([1, 2]),
    default=st.fixed_dictionaries(
        {"fixed_target": st.sampled_from([0, 1, 3]), "rate": st.sampled_from([0.0, 0.05, 0.5])}
    ),
    rules=st.lists(rule_strategy, max_size=4),
    steps=st.lists(step_strategy, min_size=1, max_size=60),
    seed=st.integers(0, 2**32 - 1),
    start=st.floats(1_600_000_000, 1_800_000_000),
)
def test_decisions_match_the_sdk(
    version: int,
    default: dict[str, Any],
    rules: list[dict[str, Any]],
    steps: list[tuple[float, dict[str, Any] | None]],
    seed: int,
    start: float,
) -> None:
    if version == 1:
        rules = [{**{k: v for k, v in r.items() if k != "host"}, "service_name": r["host"]}
                 for r in rules]  # fmt: skip
    document = {"version": version, "default": default, "rules": rules}
    clock = Clock(start)
    with sdk_clock(clock):
        sdk = SdkLocalSampler(document)
        sdk._random = random.Random(seed)
        ours = LocalSampler(document, clock=clock, rng=random.Random(seed))
        for advance, request in steps:
            clock.now += advance
            # The SDK's sampler may write into the request: give each its own copy.
            expected = sdk.should_trace(None if request is None else dict(request))
            got = ours.should_trace(None if request is None else dict(request))
            assert bool(got) is expected, (clock.now, request)
