"""Head sampling: the cost of one sampling decision, against the AWS X-Ray SDK for Python.

One deterministic request sequence (hosts, methods and paths drawn from a small pool with a
seed, 2,000 requests a second of virtual time) is decided by

* ``xrfast/local``: :class:`xrfast.sampling.LocalSampler`, requests as the SDK's dicts;
* ``xrfast/local-keywords``: the same, requests as keywords;
* ``xrfast/centralized``: :class:`xrfast.sampling.CentralizedSampler` with the same rules as
  centralized rules, served in-process by a :class:`~xrfast.sampling.SamplingService`;
* ``sdk/local`` (the baseline): the SDK's ``LocalSampler``
  (``aws_xray_sdk.core.sampling.local.sampler``), when the SDK is installed.

The timed runs read the real clock. Before timing, the xrfast and SDK local samplers decide the
whole sequence under the same virtual clock and the same random draws, and must agree on every
decision — a fast wrong answer voids the run. Figures are medians over the repeats, in µs per
request.
"""

from __future__ import annotations

import random
import statistics
import time
import types
from collections.abc import Callable, Sequence
from typing import Any
from unittest import mock

from rich.console import Console

from xrfast.sampling import CentralizedSampler, LocalSampler, SamplingService

#: The goal of issue 5: one local decision in at most this many µs.
GOAL_US = 2.0

RULES: dict[str, Any] = {
    "version": 2,
    "default": {"fixed_target": 1, "rate": 0.05},
    "rules": [
        {"description": "checkout", "host": "shop.example.com", "http_method": "POST",
         "url_path": "/checkout*", "fixed_target": 5, "rate": 0.5},
        {"description": "health", "host": "*", "http_method": "GET", "url_path": "/health",
         "fixed_target": 0, "rate": 0.0},
        {"description": "api", "host": "api.*", "http_method": "*", "url_path": "/v?/*",
         "fixed_target": 2, "rate": 0.1},
    ],
}  # fmt: skip

HOSTS = ("shop.example.com", "api.example.com", "admin.example.com")
METHODS = ("GET", "POST", "PUT")
PATHS = ("/checkout/cart", "/health", "/v1/orders/42", "/v2/users", "/static/app.js", "/")


def requests(n: int, seed: int = 7) -> list[dict[str, str]]:
    """`n` requests, deterministic by `seed`, as the SDK's sampling request dicts."""
    draw = random.Random(seed)
    return [
        {"host": draw.choice(HOSTS), "method": draw.choice(METHODS), "path": draw.choice(PATHS)}
        for _ in range(n)
    ]


def same_decisions(sequence: Sequence[dict[str, str]], seed: int = 3) -> bool | None:
    """Whether xrfast's and the SDK's local samplers agree on every request of `sequence` under
    one virtual clock (2,000 requests a second) and the same random draws; ``None`` without the
    SDK."""
    try:
        from aws_xray_sdk.core.sampling.local import reservoir as sdk_reservoir  # type: ignore[import-untyped]
        from aws_xray_sdk.core.sampling.local.sampler import LocalSampler as SdkLocalSampler  # type: ignore[import-untyped]
    except ImportError:
        return None
    now = [1_700_000_000.0]

    def clock() -> float:
        return now[0]

    with mock.patch.object(sdk_reservoir, "time", types.SimpleNamespace(time=clock)):
        sdk = SdkLocalSampler(RULES)
        sdk._random = random.Random(seed)
        ours = LocalSampler(RULES, clock=clock, rng=random.Random(seed))
        for request in sequence:
            now[0] += 0.0005
            if bool(ours.should_trace(request)) is not sdk.should_trace(dict(request)):
                return False
    return True


def _centralized() -> CentralizedSampler:
    """A centralized sampler holding RULES as centralized rules, from an in-process service."""
    service = SamplingService()
    for n, rule in enumerate(RULES["rules"]):
        service.create_sampling_rule(
            {
                "SamplingRule": {
                    "RuleName": rule["description"],
                    "ResourceARN": "*",
                    "Priority": n + 1,
                    "FixedRate": rule["rate"],
                    "ReservoirSize": rule["fixed_target"],
                    "ServiceName": "*",
                    "ServiceType": "*",
                    "Host": rule["host"],
                    "HTTPMethod": rule["http_method"],
                    "URLPath": rule["url_path"],
                    "Version": 1,
                }
            }
        )
    sampler = CentralizedSampler(transport=service.handle, client_id="0" * 24)
    sampler.refresh_rules()
    return sampler


def _median_us(decide: Callable[[], None], n: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        decide()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs)


def run(*, quick: bool, console: Console) -> dict[str, Any]:
    """Measures the head-sampling jobs (module doc) and prints their figures.

    Arguments:
        quick: a smoke run (2,000 requests, one repeat).
        console: where the figures go.

    Returns:
        The figures: µs per request for each job (median), the speed-up over the SDK, the goal,
        and whether the decisions matched.

    Raises:
        SystemExit: xrfast's decisions differ from the SDK's.
    """
    n, repeat = (2_000, 1) if quick else (100_000, 7)
    sequence = requests(n)
    agreed = same_decisions(sequence)
    if agreed is False:
        raise SystemExit("sampling/local: decisions differ from the AWS X-Ray SDK's")

    local = LocalSampler(RULES)
    centralized = _centralized()
    keywords = [(r["host"], r["method"], r["path"]) for r in sequence]

    def local_dicts() -> None:
        decide = local.should_trace
        for request in sequence:
            decide(request)

    def local_keywords() -> None:
        decide = local.should_trace
        for host, method, path in keywords:
            decide(host=host, method=method, path=path)

    def centralized_dicts() -> None:
        decide = centralized.should_trace
        for request in sequence:
            decide(request)

    jobs: dict[str, Callable[[], None]] = {
        "xrfast/local": local_dicts,
        "xrfast/local-keywords": local_keywords,
        "xrfast/centralized": centralized_dicts,
    }
    try:
        from aws_xray_sdk.core.sampling.local.sampler import LocalSampler as SdkLocalSampler
    except ImportError:
        pass
    else:
        sdk = SdkLocalSampler(RULES)

        def sdk_dicts() -> None:
            decide = sdk.should_trace
            for request in sequence:
                decide(request)

        jobs["sdk/local"] = sdk_dicts
    figures = {name: _median_us(job, n, repeat) for name, job in jobs.items()}
    baseline = figures.get("sdk/local")
    report: dict[str, Any] = {
        "requests": n,
        "repeat": repeat,
        "us_per_request": figures,
        "goal_us": GOAL_US,
        "decisions_match_sdk": agreed,
        "speedup_vs_sdk": None if baseline is None else baseline / figures["xrfast/local"],
    }
    console.print("[bold]head sampling[/] (µs per decision, median)")
    for name, value in figures.items():
        console.print(f"  {name}: [bold]{value:.3f}[/]")
    if baseline is not None:
        console.print(
            f"  xrfast/local vs sdk/local (speed-up): [bold]{report['speedup_vs_sdk']:.2f}[/]; "
            f"decisions match the SDK: {agreed}"
        )
    return report


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv, console=Console())
