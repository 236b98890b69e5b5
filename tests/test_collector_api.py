"""The collector's X-Ray API through the real boto3 client, with the real AWS X-Ray SDK for Python
sending over UDP; every response is checked against botocore's model (docs/collector.md)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore_shapes import assert_valid_output

from xrfast.bench import workload
from xrfast.collector import Collector, SettingsError, load_settings

HEADER = b'{"format":"json","version":1}\n'


def client(collector: Collector) -> Any:
    return boto3.client(
        "xray",
        endpoint_url=collector.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def post(collector: Collector, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    """A raw POST: (status, headers, JSON body), for shape checks on the exact bytes."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        collector.endpoint_url + path,
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"{}")


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with Collector(
        udp="127.0.0.1:0",
        http="127.0.0.1:0",
        data_dir=str(tmp_path_factory.mktemp("collector")),
        trace_idle_timeout=0.2,
        trace_incomplete_timeout=0.5,
        flush_seconds=0.05,
        page_size=10,
        max_request_bytes=1 << 20,
        retention_seconds=1e10,  # the workload's traces are from 2024
    ) as c:
        yield c


def everything(xray: Any, **window: Any) -> list[dict[str, Any]]:
    pages = xray.get_paginator("get_trace_summaries").paginate(StartTime=0, EndTime=4e9, **window)
    return [s for page in pages for s in page["TraceSummaries"]]


@pytest.fixture(scope="module")
def sdk_trace_ids(collector: Collector) -> list[str]:
    """Two requests traced by the real SDK, sent over UDP to the collector."""
    from aws_xray_sdk.core import AWSXRayRecorder

    recorder = AWSXRayRecorder()
    recorder.configure(
        daemon_address="{}:{}".format(*collector.udp_address),
        sampling=False,
        context_missing="LOG_ERROR",
        service="shop-frontend",
    )
    ids = []
    for status in (200, 503):
        segment = recorder.begin_segment("shop-frontend")
        segment.put_http_meta("method", "GET")
        segment.put_http_meta("url", "https://shop.example.com/cart")
        segment.put_annotation("customer", "c-42")
        with recorder.in_subsegment("inventory") as sub:
            sub.namespace = "remote"
            sub.put_http_meta("method", "GET")
            sub.put_http_meta("url", "http://inventory.internal/items")
            sub.put_http_meta("status", status)
            if status >= 500:
                sub.add_fault_flag()
        segment.put_http_meta("status", status)
        if status >= 500:
            segment.add_fault_flag()
        ids.append(segment.trace_id)
        recorder.end_segment()
    xray = client(collector)
    wait_for(lambda: len(xray.batch_get_traces(TraceIds=ids)["Traces"]) == 2)
    return ids


def test_sdk_segments_over_udp_come_back_through_boto3(
    collector: Collector, sdk_trace_ids: list[str]
) -> None:
    xray = client(collector)
    summaries = {s["Id"]: s for s in everything(xray)}
    assert set(sdk_trace_ids) <= set(summaries)
    ok, failed = (summaries[i] for i in sdk_trace_ids)
    assert ok["Http"]["HttpStatus"] == 200 and not ok["HasFault"]
    assert failed["Http"]["HttpStatus"] == 503 and failed["HasFault"]
    assert ok["Annotations"]["customer"][0]["AnnotationValue"] == {"StringValue": "c-42"}
    traces = xray.batch_get_traces(TraceIds=sdk_trace_ids)["Traces"]
    assert {t["Id"] for t in traces} == set(sdk_trace_ids)
    document = json.loads(traces[0]["Segments"][0]["Document"])
    assert document["name"] in ("shop-frontend", "inventory")
    graph = xray.get_trace_graph(TraceIds=sdk_trace_ids)["Services"]
    names = {s["Name"] for s in graph}
    assert {"shop-frontend", "inventory"} <= names
    stats = collector.udp.stats if collector.udp is not None else {}
    assert stats["received"] == stats["accepted"] + stats["rejected"] + stats["dropped"]


def test_every_response_matches_the_botocore_model(
    collector: Collector, sdk_trace_ids: list[str]
) -> None:
    window = {"StartTime": 0, "EndTime": 4e9}
    calls = [
        ("GetTraceSummaries", "/TraceSummaries", window),
        ("GetTraceSummaries", "/TraceSummaries", {**window, "TimeRangeType": "Event"}),
        ("GetTraceSummaries", "/TraceSummaries", {**window, "TimeRangeType": "Service"}),
        ("GetTraceSummaries", "/TraceSummaries", {**window, "Sampling": True}),
        ("BatchGetTraces", "/Traces", {"TraceIds": [*sdk_trace_ids, "1-00000000-0"]}),
        ("GetServiceGraph", "/ServiceGraph", window),
        ("GetTraceGraph", "/TraceGraph", {"TraceIds": sdk_trace_ids}),
        ("GetTimeSeriesServiceStatistics", "/TimeSeriesServiceStatistics", window),
        (
            "GetTimeSeriesServiceStatistics",
            "/TimeSeriesServiceStatistics",
            {**window, "EntitySelectorExpression": 'service("shop-frontend")', "Period": 300},
        ),
        (
            "GetTimeSeriesServiceStatistics",
            "/TimeSeriesServiceStatistics",
            {**window, "EntitySelectorExpression": 'edge("shop-frontend", "inventory")'},
        ),
        ("GetGroups", "/Groups", {}),
        ("PutTraceSegments", "/TraceSegments", {"TraceSegmentDocuments": ["{}"]}),
    ]
    for operation, path, body in calls:
        status, _, response = post(collector, path, body)
        assert status == 200, (operation, response)
        assert_valid_output(operation, response)
    _, _, series = post(
        collector,
        "/TimeSeriesServiceStatistics",
        {**window, "EntitySelectorExpression": 'service("shop-frontend")'},
    )
    assert (
        sum(
            e["ServiceSummaryStatistics"]["TotalCount"]
            for e in series["TimeSeriesServiceStatistics"]
        )
        >= 2
    )


def test_put_trace_segments_reports_bad_documents_and_keeps_the_rest(
    collector: Collector,
) -> None:
    xray = client(collector)
    docs = workload.generate(workload.WorkloadConfig(traces=3, seed=5))
    result = xray.put_trace_segments(
        TraceSegmentDocuments=[d.decode() for d in docs] + ['{"name": "x"}', "not json"]
    )
    codes = [u["ErrorCode"] for u in result["UnprocessedTraceSegments"]]
    assert codes == ["MissingId", "InvalidJson"]
    ids = {json.loads(d)["trace_id"] for d in docs if b'"trace_id"' in d}
    found = wait_for(lambda: len(xray.batch_get_traces(TraceIds=sorted(ids))["Traces"]) == len(ids))
    assert found


def test_errors_have_the_shapes_botocore_expects(collector: Collector) -> None:
    xray = client(collector)
    with pytest.raises(xray.exceptions.InvalidRequestException, match="later than EndTime"):
        xray.get_trace_summaries(StartTime=10, EndTime=5)
    with pytest.raises(xray.exceptions.InvalidRequestException, match="1 to 5 trace ids"):
        xray.batch_get_traces(TraceIds=[f"1-5f000000-{n:024x}" for n in range(6)])
    with pytest.raises(xray.exceptions.InvalidRequestException, match="TimeRangeType"):
        xray.get_trace_summaries(StartTime=0, EndTime=1, TimeRangeType="Sometimes")
    status, headers, body = post(collector, "/TraceSegments", {"TraceSegmentDocuments": "x"})
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "InvalidRequestException"
    assert body["__type"] == "InvalidRequestException"
    assert "list of strings" in body["message"]
    status, _, body = post(
        collector, "/TraceSummaries", {"StartTime": 0, "EndTime": 1, "NextToken": "zz"}
    )
    assert (status, body["__type"]) == (400, "InvalidRequestException")
    # ISO 8601 times are accepted too (spec §10 Q25); nonsense is not.
    iso = {"StartTime": "1970-01-01T00:00:00Z", "EndTime": "2096-01-01T00:00:00"}
    assert post(collector, "/TraceSummaries", iso)[0] == 200
    status, _, body = post(collector, "/TraceSummaries", {"StartTime": "soon", "EndTime": 1})
    assert (status, body["__type"]) == (400, "InvalidRequestException")
    assert "ISO 8601" in body["message"]
    status, _, body = post(collector, "/NoSuchOperation", {})
    assert (status, body["__type"]) == (404, "UnknownOperationException")
    status, _, body = post(collector, "/TraceSegments", b"x" * (2 << 20))
    assert status == 413
    assert "max_request_bytes" in body["message"]
    # A bad request is not fatal: the collector still answers.
    assert post(collector, "/Groups", {})[0] == 200


def test_pagination_returns_every_trace_once(collector: Collector) -> None:
    xray = client(collector)
    docs = workload.generate(workload.WorkloadConfig(traces=35, seed=9, in_progress_rate=0.0))
    xray.put_trace_segments(TraceSegmentDocuments=[d.decode() for d in docs])
    ids = {json.loads(d)["trace_id"] for d in docs if b'"trace_id"' in d}
    wait_for(lambda: ids <= {s["Id"] for s in everything(xray)})
    pages = list(xray.get_paginator("get_trace_summaries").paginate(StartTime=0, EndTime=4e9))
    assert len(pages) >= 4  # page_size is 10
    seen = [s["Id"] for page in pages for s in page["TraceSummaries"]]
    assert len(seen) == len(set(seen)) and ids <= set(seen)
    first = pages[0]["TraceSummaries"]
    assert [s["Id"] for s in first] == sorted(
        (s["Id"] for s in first), key=lambda i: (int(i[2:10], 16), i), reverse=True
    )
    # A window that excludes everything by trace-id time.
    assert (
        everything(xray, TimeRangeType="TraceId")
        and not xray.get_trace_summaries(StartTime=0, EndTime=1)["TraceSummaries"]
    )


def test_groups_are_stored_and_listed(collector: Collector) -> None:
    xray = client(collector)
    group = xray.create_group(GroupName="checkout")["Group"]
    assert group["GroupARN"].startswith("arn:aws:xray:us-east-1:000000000000:group/checkout/")
    assert [g["GroupName"] for g in xray.get_groups()["Groups"]] == ["Default", "checkout"]
    assert xray.get_group(GroupARN=group["GroupARN"])["Group"]["GroupName"] == "checkout"
    updated = xray.update_group(
        GroupName="checkout", InsightsConfiguration={"InsightsEnabled": True}
    )["Group"]
    assert updated["InsightsConfiguration"]["InsightsEnabled"] is True
    with pytest.raises(xray.exceptions.InvalidRequestException, match="already exists"):
        xray.create_group(GroupName="checkout")
    with pytest.raises(xray.exceptions.InvalidRequestException, match="reserved"):
        xray.create_group(GroupName="Default")
    with pytest.raises(xray.exceptions.InvalidRequestException, match="letters, digits"):
        xray.create_group(GroupName="no spaces")
    xray.delete_group(GroupName="checkout")
    assert [g["GroupName"] for g in xray.get_groups()["Groups"]] == ["Default"]


def test_metrics_are_prometheus_text_with_service_graph_names(
    collector: Collector, sdk_trace_ids: list[str]
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(collector.endpoint_url + "/metrics", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    total = families["traces_service_graph_request"]
    pairs = {(s.labels["client"], s.labels["server"]) for s in total.samples}
    assert ("user", "shop-frontend") in pairs and ("shop-frontend", "inventory") in pairs
    failed = {
        (s.labels["client"], s.labels["server"]): s.value
        for s in families["traces_service_graph_request_failed"].samples
    }
    assert failed[("shop-frontend", "inventory")] >= 1
    for side in ("server", "client"):
        histogram = families[f"traces_service_graph_request_{side}_seconds"]
        assert histogram.type == "histogram"
        assert any(
            s.name.endswith("_bucket") and s.labels["le"] == "+Inf" for s in histogram.samples
        )
    datagrams = {
        s.labels["outcome"]: s.value for s in families["xrfast_collector_datagrams"].samples
    }
    rejected = sum(s.value for s in families["xrfast_collector_datagrams_rejected"].samples)
    assert datagrams["received"] == datagrams["accepted"] + rejected + datagrams["dropped"]
    assert families["xrfast_collector_store_traces"].samples[0].value >= 2


def test_health(collector: Collector) -> None:
    with urllib.request.urlopen(collector.endpoint_url + "/health", timeout=30) as response:
        health = json.loads(response.read())
    assert health["status"] == "ok"
    assert health["store"]["traces"] >= 1


def test_malformed_datagrams_are_counted_not_fatal(collector: Collector) -> None:
    assert collector.udp is not None
    before = collector.udp.stats
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bad = [b"no header", HEADER, b'{"format":"xml","version":1}\n{}', HEADER + b"\xff\xfe"]
    for datagram in bad:
        sender.sendto(datagram, collector.udp_address)
    sender.sendto(HEADER + b"not json either", collector.udp_address)
    after = wait_for(
        lambda: (s := collector.udp.stats)["received"] >= before["received"] + 5 and s  # type: ignore[union-attr]
    )
    assert after["rejected_header"] - before["rejected_header"] == 2
    assert after["rejected_empty"] - before["rejected_empty"] == 1
    assert after["rejected_not_utf8"] - before["rejected_not_utf8"] == 1
    assert after["accepted"] - before["accepted"] == 1  # the daemon forwards any body
    assembler = wait_for(
        lambda: collector.pipeline.assembler.stats["documents_rejected"] >= 1  # type: ignore[union-attr]
    )
    assert assembler
    assert post(collector, "/Groups", {})[0] == 200


def test_token_is_required_when_configured(tmp_path: Path) -> None:
    with Collector(
        udp="127.0.0.1:0", http="127.0.0.1:0", data_dir=str(tmp_path), token="s3cret"
    ) as c:
        status, _, body = post(c, "/Groups", {})
        assert (status, body["__type"]) == (403, "AccessDeniedException")
        assert post(c, "/Groups", {}, {"Authorization": "Bearer s3cret"})[0] == 200
        assert post(c, "/Groups", {}, {"X-Xrfast-Token": "s3cret"})[0] == 200
        assert post(c, "/Groups", {}, {"X-Xrfast-Token": "wrong"})[0] == 403


def test_settings_precedence_and_remote_rule(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(
        '[collector]\nudp = "127.0.0.1:3000"\npage_size = 7\nretention_seconds = 60\n'
    )
    settings = load_settings(
        config_file=config,
        environ={"XRFAST_COLLECTOR_PAGE_SIZE": "8", "XRFAST_COLLECTOR_ALLOW_REMOTE": "no"},
        overrides={"retention_seconds": "120", "http": None},
    )
    assert (settings.udp, settings.page_size, settings.retention_seconds) == (
        "127.0.0.1:3000",
        8,
        120.0,
    )
    assert settings.http == "127.0.0.1:2000"
    with pytest.raises(SettingsError, match="--allow-remote"):
        load_settings(environ={}, overrides={"http": "0.0.0.0:2000"})
    with pytest.raises(SettingsError, match="needs a token"):
        load_settings(environ={}, overrides={"http": "0.0.0.0:2000", "allow_remote": True})
    assert load_settings(
        environ={"XRFAST_COLLECTOR_TOKEN": "t"},
        overrides={"http": "0.0.0.0:2000", "allow_remote": True},
    ).allow_remote
    with pytest.raises(
        SettingsError, match="unknown setting 'XRFAST_COLLECTOR_COLOUR' in the environment"
    ):
        load_settings(environ={"XRFAST_COLLECTOR_COLOUR": "red"})
    with pytest.raises(
        SettingsError, match="page_size from the flags must be of type int, not 'many'"
    ):
        load_settings(environ={}, overrides={"page_size": "many"})


def test_filter_expressions_and_group_filters(
    collector: Collector, sdk_trace_ids: list[str]
) -> None:
    xray = client(collector)
    ok, failed = sdk_trace_ids
    found = {s["Id"] for s in everything(xray, FilterExpression='service("inventory") { fault }')}
    assert failed in found and ok not in found
    found = {s["Id"] for s in everything(xray, FilterExpression='annotation.customer = "c-42"')}
    assert {ok, failed} <= found
    with pytest.raises(xray.exceptions.InvalidRequestException, match="Invalid FilterExpression"):
        xray.get_trace_summaries(StartTime=0, EndTime=4e9, FilterExpression="service(")
    xray.create_group(GroupName="faults", FilterExpression="fault")
    try:
        found = {s["Id"] for s in everything(xray, FilterExpression='group.name = "faults"')}
        assert failed in found and ok not in found
        graph = xray.get_service_graph(StartTime=0, EndTime=4e9, GroupName="faults")["Services"]
        frontend = next(s for s in graph if s["Name"] == "shop-frontend")
        assert frontend["SummaryStatistics"]["FaultStatistics"]["TotalCount"] >= 1
        assert frontend["SummaryStatistics"]["OkCount"] == 0
        with pytest.raises(xray.exceptions.InvalidRequestException, match="not found"):
            xray.get_service_graph(StartTime=0, EndTime=4e9, GroupName="nope")
    finally:
        xray.delete_group(GroupName="faults")
    with pytest.raises(
        xray.exceptions.InvalidRequestException, match="Invalid EntitySelectorExpression"
    ):
        xray.get_time_series_service_statistics(
            StartTime=0, EndTime=4e9, EntitySelectorExpression="service("
        )


def test_a_writer_backlog_answers_throttled(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.config import Config

    xray = boto3.client(
        "xray",
        endpoint_url=collector.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    assert collector.pipeline is not None
    monkeypatch.setattr(type(collector.pipeline), "pending", property(lambda self: 10_000))
    with pytest.raises(xray.exceptions.ThrottledException, match="backlog"):
        xray.put_trace_segments(TraceSegmentDocuments=["{}"])
    monkeypatch.undo()
    assert xray.put_trace_segments(TraceSegmentDocuments=[])["UnprocessedTraceSegments"] == []
