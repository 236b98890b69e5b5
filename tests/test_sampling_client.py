"""The client of centralized sampling: rule cache and TTL, polling with jitter, TAKE / BORROW /
fixed rate, statistics reports, the local fallback — against a scripted transport, against
`SamplingService` in-process and over HTTP, and the real SDK's DefaultSampler against the
service."""

from __future__ import annotations

import random
import threading
from typing import Any

import botocore.validate
import pytest
from botocore_shapes import xray_service_model
from sampling_http import sampling_endpoint

from xrfast.sampling import (
    CentralizedSampler,
    HttpTransport,
    LocalSampler,
    SamplingRequestError,
    SamplingService,
    daemon_tcp_address,
)

T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rule(name: str, **changes: Any) -> dict[str, Any]:
    return {
        "RuleName": name,
        "RuleARN": f"arn:aws:xray:us-east-1:000000000000:sampling-rule/{name}",
        "ResourceARN": "*",
        "Priority": 100,
        "FixedRate": 0.0,
        "ReservoirSize": 10,
        "ServiceName": "*",
        "ServiceType": "*",
        "Host": "*",
        "HTTPMethod": "*",
        "URLPath": "*",
        "Version": 1,
        "Attributes": {},
        **changes,
    }


def assert_valid_request(operation: str, request: dict[str, Any]) -> None:
    """`request` is what botocore itself would accept as `operation`'s input."""
    shape = xray_service_model().operation_model(operation).input_shape
    report = botocore.validate.ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


class Scripted:
    """A transport that records every call and answers from a script."""

    def __init__(self, rules: list[dict[str, Any]], targets: list[dict[str, Any]] | None = None,
                 last_modification: float = 0.0) -> None:  # fmt: skip
        self.rules = rules
        self.targets = targets or []
        self.last_modification = last_modification
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = False

    def __call__(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        assert_valid_request(operation, request)
        self.calls.append((operation, request))
        if self.fail:
            raise ConnectionRefusedError("daemon down")
        if operation == "GetSamplingRules":
            records = [{"SamplingRule": r, "CreatedAt": 0.0, "ModifiedAt": 0.0} for r in self.rules]
            return {"SamplingRuleRecords": records}
        return {
            "SamplingTargetDocuments": self.targets,
            "LastRuleModification": self.last_modification,
            "UnprocessedStatistics": [],
        }


def sampler_for(transport: Any, clock: Clock, **options: Any) -> CentralizedSampler:
    options.setdefault("client_id", "c" * 24)
    options.setdefault("rng", random.Random(5))
    return CentralizedSampler(transport=transport, clock=clock, **options)


def outcomes(sampler: CentralizedSampler, n: int, **request: Any) -> list[str]:
    return [sampler.should_trace(**request).outcome for _ in range(n)]


# --- decisions -------------------------------------------------------------------------------


def test_before_any_rules_the_local_rules_decide() -> None:
    clock = Clock()
    local = LocalSampler({"version": 2, "default": {"fixed_target": 2, "rate": 0}}, clock=clock)
    sampler = sampler_for(Scripted([]), clock, local_rules=local)
    assert sampler.local is local and sampler.last_rule_fetch is None
    decisions = [sampler.should_trace(path="/") for _ in range(3)]
    assert [d.outcome for d in decisions] == ["take", "take", "not_sampled"]
    assert decisions[0].rule_name is None


def test_borrow_then_take_then_fixed_rate() -> None:
    clock = Clock()
    transport = Scripted([rule("checkout", ReservoirSize=5, FixedRate=0.0)])
    sampler = sampler_for(transport, clock)
    assert sampler.refresh_rules() == 1
    # No quota yet: one request a second is borrowed, the rest go to the fixed rate (0).
    assert outcomes(sampler, 3) == ["borrow", "not_sampled", "not_sampled"]
    clock.now += 1
    assert outcomes(sampler, 2) == ["borrow", "not_sampled"]
    transport.targets = [{"RuleName": "checkout", "FixedRate": 0.0, "ReservoirQuota": 3,
                          "ReservoirQuotaTTL": clock.now + 60, "Interval": 10}]  # fmt: skip
    assert sampler.report_statistics() == 1
    operation, request = transport.calls[-1]
    assert (operation, request) == (
        "GetSamplingTargets",
        {"SamplingStatisticsDocuments": [
            {"RuleName": "checkout", "ClientID": "c" * 24, "RequestCount": 5, "SampledCount": 0,
             "BorrowCount": 2, "Timestamp": int(clock.now)}]},
    )  # fmt: skip
    # A valid quota: take 3 a second, never borrow.
    clock.now += 1
    assert outcomes(sampler, 5) == ["take"] * 3 + ["not_sampled"] * 2
    clock.now += 0.5
    assert outcomes(sampler, 1) == ["not_sampled"]
    clock.now += 0.5
    assert outcomes(sampler, 4) == ["take"] * 3 + ["not_sampled"]
    # The quota expires (TTL passed): borrowing again.
    clock.now += 60
    assert outcomes(sampler, 2) == ["borrow", "not_sampled"]
    state = sampler.rules[0]
    assert (state.rule_name, state.reservoir_quota, state.interval) == ("checkout", 3, 10)
    assert (state.request_count, state.sampled_count, state.borrow_count) == (12, 6, 1)
    decision = sampler.should_trace()
    assert decision.rule_name == "checkout"


def test_a_rule_without_reservoir_never_borrows_and_a_zero_quota_never_takes() -> None:
    clock = Clock()
    transport = Scripted([rule("r", ReservoirSize=0, FixedRate=1.0)])
    sampler = sampler_for(transport, clock)
    sampler.refresh_rules()
    assert outcomes(sampler, 2) == ["fixed_rate", "fixed_rate"]
    transport.rules = [rule("r", ReservoirSize=4, FixedRate=0.0)]
    sampler.refresh_rules()
    sampler.should_trace()
    transport.targets = [{"RuleName": "r", "FixedRate": 0.0, "ReservoirQuota": 0,
                          "ReservoirQuotaTTL": clock.now + 60}]  # fmt: skip
    sampler.report_statistics()
    clock.now += 1
    assert outcomes(sampler, 2) == ["not_sampled", "not_sampled"]


def test_the_fixed_rate_is_a_bernoulli_draw_within_binomial_bounds() -> None:
    clock = Clock()
    transport = Scripted([rule("r", ReservoirSize=0, FixedRate=0.2)])
    sampler = sampler_for(transport, clock, rng=random.Random(11))
    sampler.refresh_rules()
    n = 20_000
    sampled = sum(bool(sampler.should_trace()) for _ in range(n))
    assert abs(sampled - 0.2 * n) < 5 * (n * 0.2 * 0.8) ** 0.5
    assert sampler.rules[0].sampled_count == sampled


def test_matching_order_service_type_and_the_default_rule() -> None:
    clock = Clock()
    transport = Scripted([
        rule("Default", Priority=10000, ReservoirSize=0, FixedRate=0.0),
        rule("b-api", Priority=5, ServiceName="api*", ReservoirSize=0, FixedRate=1.0),
        rule("a-ec2", Priority=5, ServiceType="AWS::EC2::*", ReservoirSize=0, FixedRate=1.0),
        rule("health", Priority=1, URLPath="/health", HTTPMethod="GET", ReservoirSize=0),
        rule("v2", Priority=1, Version=2, FixedRate=1.0),
        rule("arn", Priority=1, ResourceARN="arn:aws:lambda:x", FixedRate=1.0),
        rule("attrs", Priority=1, Attributes={"k": "v"}, FixedRate=1.0),
        rule("no-type", Priority=1, ServiceType="", FixedRate=1.0),
    ])  # fmt: skip
    sampler = sampler_for(transport, clock, origin="AWS::EC2::Instance")
    assert sampler.refresh_rules() == 4
    assert [r.rule_name for r in sampler.rules] == ["health", "a-ec2", "b-api", "Default"]
    decide = sampler.should_trace
    assert decide(method="GET", path="/health").rule_name == "health"
    # The origin stands in for a missing service type: a-ec2 (same priority, first by name).
    assert decide(service_name="api-gw", path="/x").rule_name == "a-ec2"
    assert decide({"service": "api-gw", "path": "/x", "service_type": "AWS::ECS"}).rule_name == (
        "b-api"
    )
    assert decide(service_name="web", service_type="AWS::ECS", path="/x").rule_name == "Default"
    assert not decide(service_name="web", service_type="AWS::ECS", path="/x")


def test_without_a_default_rule_unmatched_requests_go_to_the_local_rules() -> None:
    clock = Clock()
    transport = Scripted([rule("only", ServiceName="orders", ReservoirSize=0, FixedRate=1.0)])
    local = LocalSampler({"version": 2, "default": {"fixed_target": 0, "rate": 0}}, clock=clock)
    sampler = sampler_for(transport, clock, local_rules=local)
    sampler.refresh_rules()
    assert sampler.should_trace(service_name="orders").rule_name == "only"
    assert sampler.should_trace(service_name="billing").outcome == "not_sampled"
    assert sampler.should_trace(service_name="billing").rule_name is None


def test_the_rules_expire_an_hour_after_the_last_fetch() -> None:
    clock = Clock()
    transport = Scripted([rule("r", ReservoirSize=0, FixedRate=1.0)])
    local = LocalSampler({"version": 2, "default": {"fixed_target": 0, "rate": 0}}, clock=clock)
    sampler = sampler_for(transport, clock, local_rules=local)
    sampler.refresh_rules()
    clock.now += 3600
    assert sampler.should_trace().rule_name == "r"
    transport.fail = True
    with pytest.raises(ConnectionRefusedError):
        sampler.refresh_rules()
    clock.now += 1
    assert sampler.should_trace().outcome == "not_sampled"
    assert sampler.should_trace().rule_name is None


def test_a_refresh_keeps_state_and_an_empty_answer_changes_nothing() -> None:
    clock = Clock()
    transport = Scripted([rule("r", ReservoirSize=5)])
    sampler = sampler_for(transport, clock)
    sampler.refresh_rules()
    sampler.should_trace()
    transport.targets = [{"RuleName": "r", "FixedRate": 0.5, "ReservoirQuota": 2,
                          "ReservoirQuotaTTL": clock.now + 60, "Interval": 20}]  # fmt: skip
    sampler.report_statistics()
    sampler.should_trace()
    transport.rules = [rule("r", ReservoirSize=5, Priority=3), rule("new")]
    clock.now += 30
    assert sampler.refresh_rules() == 2
    state = sampler.rules[0]
    assert (state.rule_name, state.priority, state.reservoir_quota, state.interval) == (
        "r",
        3,
        2,
        20,
    )
    assert state.request_count == 1
    # The new definition's FixedRate applies until the next target.
    assert state.fixed_rate == 0.0
    transport.rules = []
    assert sampler.refresh_rules() == 0
    assert [r.rule_name for r in sampler.rules] == ["r", "new"]
    assert sampler.last_rule_fetch == T0 + 30


def test_reports_follow_the_interval_and_keep_counts_that_failed_to_go() -> None:
    clock = Clock()
    transport = Scripted([rule("a"), rule("b", Priority=200)])
    sampler = sampler_for(transport, clock)
    sampler.refresh_rules()
    transport.targets = [{"RuleName": "a", "FixedRate": 0.0, "Interval": 30}]
    sampler.should_trace(path="/")
    assert sampler.report_statistics() == 1  # "b" never matched: not reported
    # "a" now reports every third target poll.
    sent = []
    for _ in range(6):
        sampler.should_trace(path="/")
        sent.append(sampler.report_statistics())
    assert sent == [0, 0, 1, 0, 0, 1]
    transport.fail = True
    outcomes(sampler, 3, path="/")
    sampler.report_statistics()
    sampler.report_statistics()
    with pytest.raises(ConnectionRefusedError):
        sampler.report_statistics()
    assert sampler.rules[0].request_count == 3  # nothing lost
    transport.fail = False
    for _ in range(3):
        sampler.report_statistics()
    assert transport.calls[-1][1]["SamplingStatisticsDocuments"][0]["RequestCount"] == 3


def test_a_newer_rule_modification_fetches_the_rules_again() -> None:
    clock = Clock()
    transport = Scripted([rule("a")], last_modification=T0 - 5)
    sampler = sampler_for(transport, clock)
    sampler.refresh_rules()
    sampler.should_trace()
    sampler.report_statistics()
    assert [op for op, _ in transport.calls] == ["GetSamplingRules", "GetSamplingTargets"]
    transport.last_modification = T0 + 7
    clock.now += 10
    sampler.should_trace()
    sampler.report_statistics()
    assert [op for op, _ in transport.calls][2:] == ["GetSamplingTargets", "GetSamplingRules"]


def test_more_than_25_rules_report_in_several_calls() -> None:
    clock = Clock()
    transport = Scripted([rule(f"r{n:02}", Priority=n + 1, ServiceName=f"s{n}") for n in range(30)])
    sampler = sampler_for(transport, clock)
    sampler.refresh_rules()
    for n in range(30):
        sampler.should_trace(service_name=f"s{n}")
    assert sampler.report_statistics() == 30
    sizes = [
        len(r["SamplingStatisticsDocuments"])
        for op, r in transport.calls
        if op == "GetSamplingTargets"
    ]
    assert sizes == [25, 5]


def test_poll_fetches_rules_then_reports_on_a_jittered_schedule() -> None:
    clock = Clock()
    transport = Scripted([rule("a")])
    sampler = sampler_for(transport, clock, rng=random.Random(42))
    jitter = random.Random(42)
    rules_at = T0 + 300 + jitter.random() * 5
    targets_at = T0 + 10 + jitter.random() * 0.1
    sampler.poll()
    assert [op for op, _ in transport.calls] == ["GetSamplingRules"]
    assert sampler.next_poll_at == targets_at
    sampler.should_trace()
    clock.now = targets_at - 0.001
    sampler.poll()
    assert len(transport.calls) == 1
    clock.now = targets_at
    sampler.poll()
    assert [op for op, _ in transport.calls] == ["GetSamplingRules", "GetSamplingTargets"]
    assert sampler.next_poll_at == targets_at + 10 + jitter.random() * 0.1
    clock.now = rules_at
    sampler.poll()
    assert [op for op, _ in transport.calls][-1] == "GetSamplingRules"
    # Failures are counted, never raised.
    transport.fail = True
    clock.now += 400
    sampler.poll()
    assert sampler.poll_errors == 1


def test_the_background_thread_polls_and_stops() -> None:
    transport = Scripted([rule("a")])
    polled = threading.Event()

    def recording(operation: str, request: dict[str, Any]) -> dict[str, Any]:
        answer = transport(operation, request)
        polled.set()
        return answer

    with CentralizedSampler(transport=recording, client_id="d" * 24) as sampler:
        assert polled.wait(5)
    assert sampler._thread is None
    assert transport.calls[0][0] == "GetSamplingRules"
    with pytest.raises(ValueError, match="client_id must be 24 characters, not 3"):
        CentralizedSampler(transport=transport, client_id="abc")


def test_counts_stay_exact_under_threads_and_refreshes() -> None:
    clock = Clock()
    transport = Scripted([rule("a", ReservoirSize=0, FixedRate=0.5)])
    sampler = sampler_for(transport, clock)
    sampler.refresh_rules()
    sampled = [0] * 4

    def work(n: int) -> None:
        sampled[n] = sum(bool(sampler.should_trace(path=f"/{k % 7}")) for k in range(3000))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        sampler.refresh_rules()
    for thread in threads:
        thread.join()
    state = sampler.rules[0]
    assert state.request_count == 12_000 and state.sampled_count == sum(sampled)


# --- against the service ---------------------------------------------------------------------


def test_several_clients_share_the_reservoir_and_converge() -> None:
    """Four clients, 50 requests a second each, a rule with a reservoir of 10 a second and no
    fixed rate: until quotas arrive each borrows one a second; from the first report on, the
    clients together take exactly 10 a second."""
    clock = Clock()
    service = SamplingService(clock=clock)
    service.create_sampling_rule({"SamplingRule": rule("checkout", Priority=1, ReservoirSize=10)})
    clients = [
        sampler_for(service.handle, clock, client_id=f"{n:024x}", rng=random.Random(n))
        for n in range(4)
    ]
    for client in clients:
        client.poll()
    per_second = []
    for second in range(60):
        clock.now = T0 + second
        for client in clients:
            client.poll()
        sampled = 0
        for k in range(50):
            clock.now = T0 + second + k / 50
            for client in clients:
                sampled += bool(client.should_trace(service_name="shop", path="/checkout"))
        per_second.append(sampled)
    assert per_second[:10] == [4] * 10  # borrowing
    # Polls come 10 s + jitter apart: from the second after every client has reported, 10.
    assert per_second[12:] == [10] * 48
    quotas = sorted(c.rules[0].reservoir_quota for c in clients)
    assert quotas == [2, 2, 3, 3]
    summaries = service.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
    assert (
        sum(s["RequestCount"] for s in summaries) + sum(c.rules[0].request_count for c in clients)
        == 60 * 50 * 4
    )


def test_over_http_to_the_service() -> None:
    clock = Clock()
    service = SamplingService(clock=clock, page_size=1, rng=random.Random(1))
    service.create_sampling_rule({"SamplingRule": rule("a", Priority=1)})
    with sampling_endpoint(service) as (address, calls):
        sampler = CentralizedSampler(address=address, clock=clock, client_id="e" * 24)
        assert sampler.refresh_rules() == 2  # two pages
        assert [op for op, _ in calls] == ["GetSamplingRules", "GetSamplingRules"]
        sampler.should_trace()
        assert sampler.report_statistics() == 1
        assert sampler.rules[0].reservoir_quota == 10
        transport = HttpTransport(f"http://{address}/")
        with pytest.raises(SamplingRequestError) as caught:
            transport("GetSamplingTargets", {"SamplingStatisticsDocuments": [{"RuleName": "a"}]})
        assert (caught.value.code, caught.value.http_status) == ("InvalidRequestException", 400)
        assert caught.value.message.startswith("4 validation errors detected: Value null at ")
    with pytest.raises(OSError):
        HttpTransport(address, timeout=0.5)("GetSamplingRules", {})
    with pytest.raises(ValueError, match="unknown sampling operation 'PutTraceSegments'"):
        HttpTransport(address)("PutTraceSegments", {})


def test_http_errors_are_read_as_botocore_reads_them() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = [
        (429, {"x-amzn-ErrorType": "ThrottledException:http://internal.amazon.com/"},
         b'{"Message": "Rate exceeded"}'),
        (500, {}, b'{"__type": "com.amazon#InternalFailure", "message": "boom"}'),
        (502, {}, b"<html>bad gateway</html>"),
        (200, {}, b"[1, 2]"),
    ]  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, body = answers.pop(0)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        transport = HttpTransport(f"127.0.0.1:{server.server_address[1]}")
        seen = []
        for _ in range(4):
            with pytest.raises(SamplingRequestError) as caught:
                transport("GetSamplingRules", {})
            seen.append((caught.value.code, caught.value.message, caught.value.http_status))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert seen == [
        ("ThrottledException", "Rate exceeded", 429),
        ("InternalFailure", "boom", 500),
        ("HTTP502", "Bad Gateway", 502),
        ("InvalidResponse", "GetSamplingRules: the response is not a JSON object", 200),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:2000", ("127.0.0.1", 2000)),
        ("tcp:10.0.0.1:3000 udp:10.0.0.2:2000", ("10.0.0.1", 3000)),
        ("udp:10.0.0.2:2000 tcp:daemon:3000", ("daemon", 3000)),
    ],
)
def test_daemon_addresses(value: str, expected: tuple[str, int]) -> None:
    assert daemon_tcp_address(value) == expected


@pytest.mark.parametrize("value", ["localhost", "tcp:a:1", "a:b", "tcp:a:1 tcp:b:2", "a:0"])
def test_bad_daemon_addresses(value: str) -> None:
    with pytest.raises(ValueError, match="invalid X-Ray daemon address"):
        daemon_tcp_address(value)


def test_the_daemon_address_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "tcp:collector:2999 udp:collector:2000")
    assert HttpTransport().endpoint == "http://collector:2999"
    monkeypatch.delenv("AWS_XRAY_DAEMON_ADDRESS")
    assert HttpTransport().endpoint == "http://127.0.0.1:2000"


def test_the_sdks_default_sampler_gets_rules_and_quotas_from_the_service() -> None:
    """The AWS X-Ray SDK for Python's own centralized sampler, its botocore client pointed at an
    HTTP endpoint backed by SamplingService, alongside an xrfast client."""
    from aws_xray_sdk.core.context import Context
    from aws_xray_sdk.core.daemon_config import DaemonConfig
    from aws_xray_sdk.core.sampling.sampler import DefaultSampler

    service = SamplingService()
    service.create_sampling_rule(
        {
            "SamplingRule": rule(
                "checkout", Priority=1, ReservoirSize=7, FixedRate=0.25, URLPath="/checkout*"
            )
        }
    )
    with sampling_endpoint(service) as (address, calls):
        sdk = DefaultSampler()
        sdk.load_settings(DaemonConfig(address), Context(), origin="AWS::EC2::Instance")
        sdk._started = True  # no poller threads: poll by hand
        sdk._rule_poller._refresh_cache()
        assert [r.name for r in sdk._cache.rules] == ["checkout", "Default"]
        assert sdk.should_trace({"service": "shop", "path": "/checkout/1", "method": "POST"}) == (
            "checkout"  # borrowed: no quota yet
        )
        ours = CentralizedSampler(address=address, client_id="f" * 24)
        ours.refresh_rules()
        assert ours.should_trace(service_name="shop", path="/checkout/2").rule_name == "checkout"
        # Report, in turn: the SDK alone gets all 7; then each report gets the client's share
        # of the two (4 and 3, by ClientID) capped by what the other still holds.
        for _ in range(2):
            sdk.should_trace({"service": "shop", "path": "/checkout/1"})
            sdk._target_poller._do_work()
            ours.should_trace(service_name="shop", path="/checkout/2")
            ours.report_statistics()
        checkout = sdk._cache.rules[0]
        ours_quota = ours.rules[0].reservoir_quota
        assert ours_quota is not None and checkout.reservoir.quota + ours_quota == 7
        assert {checkout.reservoir.quota, ours_quota} == {3, 4}
        assert checkout.rate == 0.25 and checkout.reservoir._report_interval == 1
        assert checkout.reservoir.TTL >= int(service._clock()) + 290
        ops = [op for op, _ in calls]
        assert ops == ["GetSamplingRules", "GetSamplingRules"] + ["GetSamplingTargets"] * 4
        # What the SDK sent is a valid statistics document, as botocore serialised it.
        sdk_report = calls[2][1]["SamplingStatisticsDocuments"][0]
        assert sdk_report["RuleName"] == "checkout" and sdk_report["BorrowCount"] == 1
        assert isinstance(sdk_report["Timestamp"], int)


# --- the SDK's DefaultSampler as the oracle of decisions ----------------------------------------

CENTRAL_PATTERNS = ["*", "shop*", "api", "AWS::EC2::*", "/checkout*", "GET", "P?ST", "*.com"]


def test_decisions_match_the_sdks_default_sampler() -> None:
    """Same centralized rules, same targets, same virtual clock and random draws: the SDK's
    DefaultSampler and CentralizedSampler take, borrow and sample the same requests."""
    from unittest import mock

    from aws_xray_sdk.core.sampling import sampler as sdk_sampler_module
    from aws_xray_sdk.core.sampling.connector import ServiceConnector
    from aws_xray_sdk.core.sampling.sampler import DefaultSampler
    from aws_xray_sdk.core.sampling.sampling_rule import SamplingRule as SdkRule
    from hypothesis import given, settings
    from hypothesis import strategies as st

    rule_strategy = st.fixed_dictionaries(
        {
            "ServiceName": st.sampled_from(CENTRAL_PATTERNS),
            "ServiceType": st.sampled_from(CENTRAL_PATTERNS),
            "Host": st.sampled_from(CENTRAL_PATTERNS),
            "HTTPMethod": st.sampled_from(CENTRAL_PATTERNS),
            "URLPath": st.sampled_from(CENTRAL_PATTERNS),
            "Priority": st.integers(1, 5),
            "ReservoirSize": st.sampled_from([0, 1, 5]),
            "FixedRate": st.sampled_from([0.0, 0.1, 0.5, 1.0]),
        }
    )
    target_strategy = st.fixed_dictionaries(
        {"quota": st.sampled_from([0, 1, 3]), "ttl": st.sampled_from([-1, 5, 100]),
         "rate": st.sampled_from([0.0, 0.3]), "interval": st.sampled_from([10, 20])}
    )  # fmt: skip
    request_strategy = st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {},
            optional={
                "service": st.sampled_from(["shop", "api", "billing", ""]),
                "service_type": st.sampled_from(["AWS::EC2::Instance", "AWS::ECS::Container"]),
                "host": st.sampled_from(["shop.example.com", "api"]),
                "method": st.sampled_from(["GET", "POST", "post"]),
                "path": st.sampled_from(["/checkout/1", "/", "/health"]),
            },
        ),
    )

    @settings(max_examples=150)
    @given(
        rules=st.lists(rule_strategy, max_size=4),
        default=st.fixed_dictionaries(
            {"ReservoirSize": st.sampled_from([0, 1, 2]), "FixedRate": st.sampled_from([0.0, 0.05])}
        ),
        targets=st.dictionaries(st.sampled_from(["r0", "r1", "r2", "Default"]), target_strategy),
        steps=st.lists(
            st.tuples(st.sampled_from([0.0, 0.0, 0.2, 1.0, 3.0]), request_strategy), max_size=50
        ),
        switch=st.integers(0, 50),
        seed=st.integers(0, 2**32 - 1),
    )
    def check(
        rules: list[dict[str, Any]],
        default: dict[str, Any],
        targets: dict[str, dict[str, Any]],
        steps: list[tuple[float, dict[str, Any] | None]],
        switch: int,
        seed: int,
    ) -> None:
        definitions = [rule(f"r{n}", **r) for n, r in enumerate(rules)]
        definitions.append(rule("Default", Priority=10000, **default))
        clock = Clock()
        with (
            mock.patch.object(sdk_sampler_module, "time", types_namespace(clock)),
            # No botocore client: it takes a third of a second to make, and is not used here.
            mock.patch.object(ServiceConnector, "_create_xray_client", lambda *_, **__: None),
        ):
            sdk = DefaultSampler()
            sdk._started = True
            sdk._origin = "AWS::EC2::Instance"
            sdk._random = random.Random(seed)
            sdk._cache.load_rules(
                [
                    SdkRule(name=d["RuleName"], priority=d["Priority"], rate=d["FixedRate"],
                            reservoir_size=d["ReservoirSize"], host=d["Host"],
                            method=d["HTTPMethod"], path=d["URLPath"],
                            service=d["ServiceName"], service_type=d["ServiceType"])
                    for d in definitions
                ]
            )  # fmt: skip
            sdk._cache.last_updated = int(clock.now)
            ours = sampler_for(
                Scripted(definitions), clock, rng=random.Random(seed), origin="AWS::EC2::Instance"
            )
            ours.refresh_rules()
            for n, (advance, request) in enumerate(steps):
                if n == switch:
                    now = int(clock.now)
                    sdk._cache.load_targets(
                        {name: {"quota": t["quota"], "TTL": now + t["ttl"], "rate": t["rate"],
                                "interval": t["interval"]} for name, t in targets.items()}
                    )  # fmt: skip
                    ours._load_targets(
                        {"SamplingTargetDocuments": [
                            {"RuleName": name, "FixedRate": t["rate"], "ReservoirQuota": t["quota"],
                             "ReservoirQuotaTTL": float(now + t["ttl"]), "Interval": t["interval"]}
                            for name, t in targets.items()]}
                    )  # fmt: skip
                clock.now += advance
                expected = sdk.should_trace(None if request is None else dict(request))
                got = ours.should_trace(None if request is None else dict(request))
                assert (got.rule_name if got else False) == expected, (n, request)
            sdk_counts = {
                r.name: (r.request_count, r.sampled_count, r.borrow_count) for r in sdk._cache.rules
            }
            our_counts = {
                s.rule_name: (s.request_count, s.sampled_count, s.borrow_count) for s in ours.rules
            }
            assert our_counts == sdk_counts

    check()


def types_namespace(clock: Clock) -> Any:
    import types

    return types.SimpleNamespace(time=clock)
