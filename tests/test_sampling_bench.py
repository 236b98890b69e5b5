"""The head-sampling benchmark: it measures every job and refuses decisions that differ from the
SDK's."""

from __future__ import annotations

import pytest
from rich.console import Console

from xrfast.bench import sampling
from xrfast.sampling import LocalSampler, SamplingDecision


def test_a_quick_run_measures_every_job_against_the_sdk() -> None:
    report = sampling.run(quick=True, console=Console(quiet=True))
    assert report["decisions_match_sdk"] is True
    assert set(report["us_per_request"]) == {
        "xrfast/local",
        "xrfast/local-keywords",
        "xrfast/centralized",
        "sdk/local",
    }
    assert all(value > 0 for value in report["us_per_request"].values())
    assert report["speedup_vs_sdk"] > 0 and report["goal_us"] == 2.0


def test_decisions_that_differ_from_the_sdk_void_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    always = SamplingDecision("take")
    monkeypatch.setattr(LocalSampler, "should_trace", lambda self, *a, **k: always)
    assert sampling.same_decisions(sampling.requests(200)) is False
    with pytest.raises(
        SystemExit, match="sampling/local: decisions differ from the AWS X-Ray SDK's"
    ):
        sampling.run(quick=True, console=Console(quiet=True))
