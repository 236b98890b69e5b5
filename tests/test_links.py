"""Link edges of the service graph (`EdgeType: "link"`, spec §5.3, docs/links.md).

The producers are the real AWS X-Ray SDK for Python's `SQS SendMessage` subsegments of the
checkout fixture (`tests/fixtures/sdk/stream.ndjson`). The consumers are hand-written in the
shape AWS Lambda gives an SQS-triggered invocation (developer guide, "Tracing event-driven
applications"): a new trace whose `AWS::Lambda` segment links, with `links`, to the
`SendMessage` subsegment of each message of its batch; the SDK itself never writes `links`
(checked below), so no SDK can make these documents for us. Everything is checked against the
pure-Python oracle (`xrfast.bench.graph_reference`) and botocore's model.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore_shapes import assert_valid_output
from xray_documents import sid, trace_id

import xrfast
from xrfast.bench import graph_reference, reference

QUEUE = ("fulfilment", "AWS::SQS::Queue")
WORKER = ("fulfilment-worker", "AWS::Lambda")


def sdk_documents(path: Path) -> list[bytes]:
    return [
        line
        for line in path.read_bytes().splitlines()
        if line.strip() and not line.startswith(b'{"format"')
    ]


def sends(docs: list[bytes]) -> list[tuple[str, str, float]]:
    """(trace id, subsegment id, end) of every SQS call with a queue URL, in order."""
    found = []

    def walk(entity: dict[str, Any], trace: str) -> None:
        if entity.get("namespace") == "aws" and "queue_url" in entity.get("aws", {}):
            found.append((trace, entity["id"], entity["end_time"]))
        for child in entity.get("subsegments", []):
            walk(child, trace)

    for line in docs:
        doc = orjson.loads(line)
        walk(doc, doc["trace_id"])
    return found


def invocation(
    n: int,
    links: list[tuple[str, str]],
    start: float,
    duration: float = 0.2,
    **flags: Any,
) -> list[bytes]:
    """The documents of one SQS-triggered Lambda invocation in trace `n`: the `AWS::Lambda`
    segment carrying the batch's links, and the function segment under it, which writes to a
    DynamoDB table."""
    service = {
        "id": sid(1000 + n),
        "name": "fulfilment-worker",
        "start_time": start,
        "end_time": start + duration,
        "trace_id": trace_id(1000 + n),
        "origin": "AWS::Lambda",
        "resource_arn": "arn:aws:lambda:us-east-1:123456789012:function:fulfilment-worker",
        "links": [
            {"trace_id": t, "id": i, "attributes": {"aws.sqs.batch_size": len(links)}}
            for t, i in links
        ],
        **flags,
    }
    function = {
        "id": sid(2000 + n),
        "name": "fulfilment-worker",
        "start_time": start + 0.01,
        "end_time": start + duration - 0.01,
        "trace_id": trace_id(1000 + n),
        "parent_id": service["id"],
        "origin": "AWS::Lambda::Function",
        "subsegments": [
            {
                "id": sid(3000 + n),
                "name": "DynamoDB",
                "start_time": start + 0.02,
                "end_time": start + 0.05,
                "namespace": "aws",
                "aws": {"operation": "PutItem", "table_name": "shipments"},
            }
        ],
    }
    return [orjson.dumps(service), orjson.dumps(function)]


@pytest.fixture
def linked(sdk_stream: Path) -> tuple[list[bytes], list[bytes], list[tuple[str, str, float]]]:
    """(producer documents, consumer documents, the sends they link to)."""
    producers = sdk_documents(sdk_stream)
    calls = sends(producers)
    assert len(calls) >= 3, "the SDK fixture sends to SQS"
    (t0, i0, e0), (t1, i1, e1), (t2, i2, e2) = calls[:3]
    consumers = [
        # A batch of two messages, received 0.25 s after the later send.
        *invocation(1, [(t0, i0), (t1, i1)], max(e0, e1) + 0.25),
        # One message, handled with a fault.
        *invocation(2, [(t2, i2)], e2 + 1.5, fault=True),
        # A link to a send that was never analysed: it waits.
        *invocation(3, [(trace_id(77), sid(77))], e2 + 2.0),
    ]
    return producers, consumers, calls


def oracle(docs: list[bytes]) -> graph_reference.ServiceGraph:
    graph = graph_reference.ServiceGraph()
    for trace in reference.assemble(docs):
        graph.add(trace, root=reference.trace_info(trace)["root"])
    return graph


def node(services: list[dict[str, Any]], key: tuple[str, str]) -> dict[str, Any]:
    (found,) = [s for s in services if (s["Name"], s.get("Type")) == key]
    return found


def test_the_sdk_does_not_write_links() -> None:
    # If a later SDK writes `links`, its own output should replace the hand-written consumers.
    from aws_xray_sdk.core.models import entity

    assert "links" not in inspect.getsource(entity)


def test_link_edges_match_the_reference_and_botocore(linked: Any) -> None:
    producers, consumers, calls = linked
    docs = producers + consumers
    analysis = xrfast.analyze(b"\n".join(docs))
    got = analysis.service_graph()
    expected = oracle(docs).services()
    assert got["Services"] == expected
    assert_valid_output("GetServiceGraph", got)

    queue = node(got["Services"], QUEUE)
    worker = node(got["Services"], WORKER)
    (link,) = [e for e in queue["Edges"] if e.get("EdgeType") == "link"]
    assert link["ReferenceId"] == worker["ReferenceId"]
    assert "ResponseTimeHistogram" not in link
    stats = link["SummaryStatistics"]
    assert (stats["TotalCount"], stats["OkCount"], stats["FaultStatistics"]["TotalCount"]) == (
        3,
        2,
        1,
    )
    ages = {entry["Value"]: entry["Count"] for entry in link["ReceivedEventAgeHistogram"]}
    assert sum(ages.values()) == 3
    assert max(ages) >= 1.5  # the faulted invocation received its message 1.5 s after the send
    # The queue's synchronous edges are unchanged: an inferred node calls nothing.
    assert [e for e in queue["Edges"] if "EdgeType" not in e] == []
    assert analysis.link_counters == {
        "pending_producers": len(calls),
        "pending_consumers": 1,
        "dropped": 0,
        "invalid": 0,
    }


def test_producers_and_consumers_in_different_analyses_merge(linked: Any) -> None:
    producers, consumers, _ = linked
    whole = xrfast.analyze(b"\n".join(producers + consumers))
    apart = [xrfast.analyze(b"\n".join(producers)), xrfast.analyze(b"\n".join(consumers))]
    assert not any(
        e.get("EdgeType") == "link"
        for part in apart
        for s in part.service_graph()["Services"]
        for e in s["Edges"]
    )
    assert apart[1].link_counters["pending_consumers"] == 4
    for merged in (apart[0].merge(apart[1]), apart[1].merge(apart[0])):
        assert merged.service_graph() == whole.service_graph()
        assert merged.link_counters == whole.link_counters


def test_trace_graph_draws_a_link_when_both_traces_are_asked(linked: Any) -> None:
    producers, consumers, calls = linked
    analysis = xrfast.analyze(b"\n".join(producers + consumers))
    both = analysis.trace_graph([calls[2][0], trace_id(1002)])
    assert_valid_output("GetTraceGraph", both)
    queue = node(both["Services"], QUEUE)
    assert [e["EdgeType"] for e in queue["Edges"]] == ["link"]
    consumer_only = analysis.trace_graph([trace_id(1002)])
    assert all("EdgeType" not in e for s in consumer_only["Services"] for e in s["Edges"])


def test_pending_links_are_bounded(linked: Any) -> None:
    _, consumers, _ = linked
    # Consumers first, with room for one pending entry: the older ones are dropped, counted.
    analysis = xrfast.analyze(b"\n".join(consumers), max_pending_links=1, keep_traces=False)
    counters = analysis.link_counters
    assert counters["pending_consumers"] + counters["pending_producers"] <= 1
    assert counters["dropped"] == 3
    unbounded = xrfast.analyze(b"\n".join(consumers), keep_traces=False)
    assert unbounded.link_counters["dropped"] == 0


def test_unreadable_links_are_counted() -> None:
    doc = {
        "id": sid(1),
        "name": "worker",
        "start_time": 1.0,
        "end_time": 2.0,
        "trace_id": trace_id(1),
        "links": [{"trace_id": "1-nope", "id": sid(2)}, {"id": sid(2)}, "x", {}],
    }
    analysis = xrfast.analyze(orjson.dumps(doc))
    assert analysis.link_counters["invalid"] == 4
    assert oracle([orjson.dumps(doc)]).invalid_links == 4
    # `links` must still be an array (the parser's check).
    with pytest.raises(xrfast.XRayError):
        xrfast.analyze(orjson.dumps({**doc, "links": {}}))


def test_the_benchmark_corpus_checks_itself() -> None:
    from xrfast.bench import links as links_bench

    produced, consumed, resolvable, dangling = links_bench.corpus(40, seed=5)
    analysis = xrfast.analyze(b"\n".join(produced + consumed))
    total = sum(
        e["SummaryStatistics"]["TotalCount"]
        for s in analysis.service_graph()["Services"]
        for e in s["Edges"]
        if e.get("EdgeType") == "link"
    )
    assert total == resolvable > 0
    assert analysis.link_counters["pending_consumers"] == dangling
    assert_valid_output("GetServiceGraph", analysis.service_graph())


def test_the_service_map_marks_link_edges(linked: Any) -> None:
    from rich.console import Console

    from xrfast.render import service_map_table

    producers, consumers, _ = linked
    analysis = xrfast.analyze(b"\n".join(producers + consumers))
    console = Console(width=200, record=True)
    console.print(service_map_table(analysis.service_graph(), analysis.percentiles()))
    text = console.export_text()
    assert "fulfilment → fulfilment-worker (AWS::Lambda) (link)" in text
