//! Link edges of the service graph (spec §5.3, docs/links.md): an SQS queue node → the
//! consumers that link to the messages sent to it, joined across traces and partial graphs.

// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use serde_json::{json, Value};
use xrfast_core::assemble::assemble_all;
use xrfast_core::graph::{LinkCounters, ServiceGraph, DEFAULT_MAX_PENDING_LINKS};
use xrfast_core::{Format, Limits, Trace};

const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-queue";

fn trace_id(n: u64) -> String {
    format!("1-581cf771-{n:024x}")
}

/// Trace `t`: a producer segment whose subsegment `send` (id) sends to the queue at `at`
/// (taking 20 ms), with `extra` members on the subsegment.
fn producer(t: u64, send: u64, at: f64, extra: &str) -> String {
    format!(
        r#"{{"id":"{:016x}","name":"orders-api","trace_id":"{}","start_time":{},"end_time":{},"origin":"AWS::EC2::Instance","subsegments":[{{"id":"{send:016x}","name":"SQS","start_time":{at},"end_time":{},"namespace":"aws","aws":{{"operation":"SendMessage","queue_url":"{QUEUE_URL}"}}{extra}}}]}}"#,
        t * 1000 + 1,
        trace_id(t),
        at - 0.01,
        at + 0.05,
        at + 0.02,
    )
}

/// Trace `t`: a Lambda consumer segment started at `start` (ended at `end`, or in progress)
/// linking to `links` (`(trace, entity id)`), with `extra` members.
fn consumer(t: u64, start: f64, end: Option<f64>, links: &[(u64, u64)], extra: &str) -> String {
    let links: Vec<String> = links
        .iter()
        .map(|&(lt, id)| {
            format!(
                r#"{{"trace_id":"{}","id":"{id:016x}","attributes":{{"aws.xray.reserved.link_type":"sqs"}}}}"#,
                trace_id(lt)
            )
        })
        .collect();
    let end = end.map_or(r#""in_progress":true"#.to_owned(), |e| {
        format!(r#""end_time":{e}"#)
    });
    format!(
        r#"{{"id":"{:016x}","name":"orders-worker","trace_id":"{}","start_time":{start},{end},"origin":"AWS::Lambda","links":[{}]{extra}}}"#,
        t * 1000 + 2,
        trace_id(t),
        links.join(","),
    )
}

fn traces(docs: &[String]) -> Vec<Trace> {
    let input = docs.join("\n") + "\n";
    let (traces, errors, _) =
        assemble_all(input.as_bytes(), Format::Ndjson, Limits::default()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    traces
}

fn services(graph: &ServiceGraph) -> Vec<Value> {
    let mut out = Vec::new();
    graph.write_trace_graph(&mut out);
    let value: Value = serde_json::from_slice(&out).unwrap();
    value["Services"].as_array().unwrap().clone()
}

fn node<'a>(services: &'a [Value], name: &str, kind: &str) -> &'a Value {
    services
        .iter()
        .find(|s| s["Name"] == name && s["Type"] == kind)
        .unwrap_or_else(|| panic!("no node {name} {kind} in {services:#?}"))
}

/// The link edges leaving the queue node.
fn queue_links(services: &[Value]) -> Vec<Value> {
    node(services, "orders-queue", "AWS::SQS::Queue")["Edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["EdgeType"] == "link")
        .cloned()
        .collect()
}

fn statistics(ok: u64, error: u64, fault: u64, total_seconds: f64) -> Value {
    json!({"OkCount": ok, "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": error, "TotalCount": error},
           "FaultStatistics": {"OtherCount": fault, "TotalCount": fault}, "TotalCount": ok + error + fault,
           "TotalResponseTime": total_seconds})
}

#[test]
fn a_link_joins_the_queue_node_to_its_consumer_across_traces() {
    let docs = [
        producer(1, 0xa1, 100.0, ""),
        consumer(2, 100.25, Some(100.75), &[(1, 0xa1)], ""),
    ];
    let graph = ServiceGraph::from_traces(&traces(&docs));
    let services = services(&graph);
    let worker = node(&services, "orders-worker", "AWS::Lambda");
    let links = queue_links(&services);
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0],
        json!({"ReferenceId": worker["ReferenceId"], "StartTime": 100.0, "EndTime": 100.75,
               "SummaryStatistics": statistics(1, 0, 0, 0.25), "Aliases": [],
               "EdgeType": "link", "ReceivedEventAgeHistogram": [{"Value": 0.25, "Count": 1}]})
    );
    // The synchronous edges are untouched: api → queue is a call, measured by the subsegment.
    let api = node(&services, "orders-api", "AWS::EC2::Instance");
    let call = &api["Edges"][0];
    assert!(call.get("EdgeType").is_none());
    assert_eq!(
        call["ResponseTimeHistogram"],
        json!([{"Value": 0.02, "Count": 1}])
    );
    assert_eq!(
        graph.link_counters(),
        LinkCounters {
            pending_producers: 1,
            pending_consumers: 0,
            dropped: 0,
            invalid: 0
        }
    );
    assert_eq!(graph.link_edges().len(), 1);
}

#[test]
fn either_side_may_come_first_and_parts_merge() {
    let docs = [
        consumer(2, 100.25, Some(100.75), &[(1, 0xa1)], ""),
        producer(1, 0xa1, 100.0, ""),
    ];
    let all = traces(&docs);
    let expected = services(&ServiceGraph::from_traces(&all));
    for order in [[0, 1], [1, 0]] {
        let mut one = ServiceGraph::new();
        for &n in &order {
            one.add(&all[n]);
        }
        assert_eq!(services(&one), expected);
        let (a, b) = (
            ServiceGraph::from_traces(&all[order[0]..=order[0]]),
            ServiceGraph::from_traces(&all[order[1]..=order[1]]),
        );
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(services(&merged), expected);
        assert_eq!(merged.link_counters(), one.link_counters());
    }
    // Apart, the consumer waits: no link edge, one pending consumer.
    let consumer_only = ServiceGraph::from_traces(
        &all.iter()
            .filter(|t| t.id().to_string() == trace_id(2))
            .collect::<Vec<_>>(),
    );
    assert!(consumer_only.link_edges().is_empty());
    assert_eq!(consumer_only.link_counters().pending_consumers, 1);
}

#[test]
fn consumers_are_classified_by_their_own_outcome_and_counted_once_ended() {
    let docs = [
        producer(1, 0xa1, 100.0, ""),
        producer(3, 0xb1, 101.0, ""),
        // A batch of two messages, handled by one invocation that failed.
        consumer(
            2,
            101.5,
            Some(102.0),
            &[(1, 0xa1), (3, 0xb1)],
            r#","fault":true"#,
        ),
        // A client error, and one still running (it opens the range, counts nowhere).
        consumer(4, 100.002, Some(100.5), &[(1, 0xa1)], r#","error":true"#),
        consumer(5, 103.0, None, &[(3, 0xb1)], ""),
    ];
    let services = services(&ServiceGraph::from_traces(&traces(&docs)));
    let links = queue_links(&services);
    assert_eq!(links.len(), 1, "one consumer node");
    let link = &links[0];
    assert_eq!(
        link["SummaryStatistics"],
        statistics(0, 1, 2, 1.5 + 0.5 + 0.002)
    );
    assert_eq!(
        link["ReceivedEventAgeHistogram"],
        json!([{"Value": 0.002, "Count": 1}, {"Value": 0.5, "Count": 1}, {"Value": 1.5, "Count": 1}])
    );
    assert_eq!(link["StartTime"], 100.0);
    assert_eq!(link["EndTime"], 102.0);
    assert!(link.get("ResponseTimeHistogram").is_none());
}

#[test]
fn a_link_within_one_trace_and_a_negative_age() {
    // The consumer in the producer's own trace, started before the send (clock skew): age 0.
    let docs = [
        producer(1, 0xa1, 100.0, ""),
        consumer(1, 99.9, Some(100.1), &[(1, 0xa1)], ""),
    ];
    let services = services(&ServiceGraph::from_traces(&traces(&docs)));
    let links = queue_links(&services);
    assert_eq!(
        links[0]["ReceivedEventAgeHistogram"],
        json!([{"Value": 0.0, "Count": 1}])
    );
    assert_eq!(links[0]["SummaryStatistics"]["TotalResponseTime"], 0.0);
}

#[test]
fn links_to_what_is_not_an_sqs_call_wait_and_malformed_links_are_counted() {
    let bad = r#"{"id":"0000000000000009","name":"w","trace_id":"1-581cf771-000000000000000000000009","start_time":1,"end_time":2,"links":[{"trace_id":"nope","id":"00000000000000a1"},{"id":"00000000000000a1"},7,{"trace_id":"1-581cf771-000000000000000000000001","id":"XYZ"}]}"#;
    let docs = [
        // A link to the producer's segment (not its SQS call) never resolves.
        producer(1, 0xa1, 100.0, ""),
        consumer(2, 100.5, Some(101.0), &[(1, 1001)], ""),
        bad.to_owned(),
    ];
    let graph = ServiceGraph::from_traces(&traces(&docs));
    assert!(graph.link_edges().is_empty());
    assert_eq!(
        graph.link_counters(),
        LinkCounters {
            pending_producers: 1,
            pending_consumers: 1,
            dropped: 0,
            invalid: 4
        }
    );
    // No link edge is written, and the call edges are unchanged.
    let services = services(&graph);
    assert!(queue_links(&services).is_empty());
}

#[test]
fn pending_links_are_bounded_and_drops_counted() {
    // 40 consumers whose producers never arrive, with a bound of 16.
    let docs: Vec<String> = (0..40)
        .map(|n| {
            consumer(
                100 + n,
                100.0 + n as f64,
                Some(101.0 + n as f64),
                &[(1, 0xa1 + n)],
                "",
            )
        })
        .collect();
    let all = traces(&docs);
    let mut graph = ServiceGraph::with_max_pending_links(16);
    for trace in &all {
        graph.add(trace);
        let c = graph.link_counters();
        assert!(c.pending_consumers + c.pending_producers <= 16, "{c:?}");
    }
    let c = graph.link_counters();
    assert_eq!(c.pending_consumers + c.dropped, 40);
    assert!(c.dropped >= 24);
    // The newest stay: the producer of the last consumer still resolves it.
    graph.add(&traces(&[producer(1, 0xa1 + 39, 139.0, "")])[0]);
    assert_eq!(graph.link_edges().len(), 1);
    // The binding's `max_pending_links` default and `_core.pyi` repeat this number.
    assert_eq!(DEFAULT_MAX_PENDING_LINKS, 100_000);
    assert_eq!(ServiceGraph::new().max_pending_links(), 100_000);
    // A bound of 0 keeps nothing waiting, and says so.
    let none = ServiceGraph::from_traces_bounded(&all, 0);
    assert_eq!(none.link_counters().dropped, 40);
    assert_eq!(none.max_pending_links(), 0);
}

#[test]
fn a_producer_serves_many_consumers_in_any_grouping() {
    // One SendMessageBatch, three consumers in three traces, split across three parts.
    let docs = [
        consumer(2, 100.1, Some(100.2), &[(1, 0xa1)], ""),
        producer(1, 0xa1, 100.0, ""),
        consumer(3, 100.3, Some(100.4), &[(1, 0xa1)], ""),
        consumer(4, 100.5, Some(100.6), &[(1, 0xa1)], ""),
    ];
    let all = traces(&docs);
    let whole = ServiceGraph::from_traces(&all);
    let parts: Vec<ServiceGraph> = all.chunks(1).map(ServiceGraph::from_traces).collect();
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]] {
        let mut merged = ServiceGraph::new();
        for n in order {
            merged.merge(&parts[n]);
        }
        assert_eq!(services(&merged), services(&whole));
        assert_eq!(merged.link_counters(), whole.link_counters());
    }
    let links = queue_links(&services(&whole));
    assert_eq!(links[0]["SummaryStatistics"]["TotalCount"], 3);
}
