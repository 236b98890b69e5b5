"""The AWS X-Ray SDK's centralized sampler against the collector: it pulls rules from
``/GetSamplingRules`` and reports statistics to ``/SamplingTargets`` exactly as it does through
the daemon (spec §2.5, §7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_xray_sdk.core import AWSXRayRecorder
from aws_xray_sdk.core.sampling.sampler import DefaultSampler
from botocore_shapes import assert_valid_output
from test_collector_api import post

from xrfast.collector import Collector


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    with Collector(udp="127.0.0.1:0", http="127.0.0.1:0", data_dir=str(tmp_path)) as c:
        yield c


CHECKOUT = {
    "RuleName": "checkout",
    "ResourceARN": "*",
    "Priority": 1,
    "FixedRate": 1.0,
    "ReservoirSize": 0,
    "ServiceName": "shop",
    "ServiceType": "*",
    "Host": "*",
    "HTTPMethod": "POST",
    "URLPath": "/checkout",
    "Version": 1,
}


def client(collector: Collector) -> Any:
    return boto3.client(
        "xray",
        endpoint_url=collector.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_the_sdk_sampler_pulls_rules_and_targets(collector: Collector) -> None:
    xray = client(collector)
    xray.create_sampling_rule(SamplingRule=CHECKOUT)
    recorder = AWSXRayRecorder()
    sampler = DefaultSampler()
    # The SDK's own address parsing: one host:port for UDP and TCP, like the daemon's.
    recorder.configure(
        daemon_address=collector.daemon_address,
        sampling=True,
        sampler=sampler,
        context_missing="LOG_ERROR",
    )
    # What the rule poller thread does at start and every five minutes.
    sampler._rule_poller._refresh_cache()
    names = [rule.name for rule in sampler._cache.rules]
    assert names == ["checkout", "Default"]
    request = {"service": "shop", "host": "shop.example.com", "method": "POST", "path": "/checkout"}
    decisions = [sampler.should_trace(request) for _ in range(5)]
    assert all(decisions)  # FixedRate 1.0 (the reservoir is empty until targets arrive)
    # What the target poller thread does every ten seconds.
    sampler._target_poller._do_work()
    checkout = next(rule for rule in sampler._cache.rules if rule.name == "checkout")
    assert checkout.rate == 1.0
    summaries = xray.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
    reported = {s["RuleName"]: s for s in summaries}
    assert reported["checkout"]["RequestCount"] >= 5
    assert reported["checkout"]["SampledCount"] >= 5


def test_rules_survive_a_restart_and_errors_keep_their_codes(tmp_path: Path) -> None:
    with Collector(udp="127.0.0.1:0", http="127.0.0.1:0", data_dir=str(tmp_path)) as c:
        xray = client(c)
        created = xray.create_sampling_rule(SamplingRule=CHECKOUT)["SamplingRuleRecord"]
        with pytest.raises(xray.exceptions.InvalidRequestException):
            xray.create_sampling_rule(SamplingRule={**CHECKOUT, "RuleName": "x", "FixedRate": 2.0})
        status, _, body = post(c, "/SamplingTargets", {})
        assert (status, body["__type"]) == (400, "InvalidRequestException")
    with Collector(udp="127.0.0.1:0", http="127.0.0.1:0", data_dir=str(tmp_path)) as c:
        records = client(c).get_sampling_rules()["SamplingRuleRecords"]
        restored = next(r for r in records if r["SamplingRule"]["RuleName"] == "checkout")
        assert restored["SamplingRule"] == created["SamplingRule"]
        assert restored["CreatedAt"] == created["CreatedAt"]
        assert_valid_output("GetSamplingRules", post(c, "/GetSamplingRules", {})[2])
