//! The service graph through the public core API: nodes (§5.2), edges (§5.3), statistics
//! (§5.4), histograms (§5.5), the three response shapes, percentiles, and merge properties.

// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use proptest::prelude::*;
use serde_json::{json, Value};
use xrfast_core::assemble::assemble_all;
use xrfast_core::graph::{Outcome, Selector, ServiceGraph};
use xrfast_core::summary::{ServiceId, TraceSummary};
use xrfast_core::{Format, Limits, Trace};

fn trace_id(n: u64) -> String {
    format!("1-581cf771-{n:024x}")
}

/// A segment of trace `t`: id, name, start, end (`None`: in progress), extra members.
fn seg(t: u64, id: u64, name: &str, start: f64, end: Option<f64>, extra: &str) -> String {
    let end = end.map_or(r#""in_progress":true"#.to_owned(), |e| {
        format!(r#""end_time":{e}"#)
    });
    format!(
        r#"{{"id":"{id:016x}","name":"{name}","trace_id":"{}","start_time":{start},{end}{extra}}}"#,
        trace_id(t)
    )
}

/// A nested subsegment object.
fn sub(id: u64, name: &str, start: f64, end: f64, extra: &str) -> String {
    format!(r#"{{"id":"{id:016x}","name":"{name}","start_time":{start},"end_time":{end}{extra}}}"#)
}

fn traces(docs: &[String]) -> Vec<Trace> {
    let input = docs.join("\n") + "\n";
    let (traces, errors, _) =
        assemble_all(input.as_bytes(), Format::Ndjson, Limits::default()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    traces
}

fn parse(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

fn trace_graph(graph: &ServiceGraph) -> Value {
    let mut out = Vec::new();
    graph.write_trace_graph(&mut out);
    parse(&out)
}

fn services(docs: &[String]) -> Vec<Value> {
    let graph = ServiceGraph::from_traces(&traces(docs));
    trace_graph(&graph)["Services"].as_array().unwrap().clone()
}

fn find<'a>(services: &'a [Value], name: &str, kind: Option<&str>) -> &'a Value {
    services
        .iter()
        .find(|s| s["Name"] == name && s.get("Type").and_then(Value::as_str) == kind)
        .unwrap_or_else(|| panic!("no node {name} {kind:?} in {services:#?}"))
}

fn id(name: &str, kind: Option<&str>) -> ServiceId {
    ServiceId {
        name: name.to_owned(),
        kind: kind.map(str::to_owned),
        account_id: None,
    }
}

/// The AWS example's shape (spec §5.2): a client, the root app, a `DynamoDB` table, `SNS`.
fn example() -> Vec<String> {
    let calls = [
        sub(
            11,
            "DynamoDB",
            1.01,
            1.086,
            r#","namespace":"aws","aws":{"table_name":"scorekeep-state","operation":"GetItem"}"#,
        ),
        sub(12, "SNS", 1.1, 1.149, r#","namespace":"aws""#),
    ]
    .join(",");
    vec![
        seg(
            1,
            1,
            "Scorekeep",
            1.0,
            Some(1.157),
            &format!(
                r#","origin":"AWS::EC2::Instance","http":{{"response":{{"status":200}}}},"subsegments":[{calls}]"#
            ),
        ),
        seg(
            2,
            2,
            "Scorekeep",
            2.0,
            Some(2.096),
            r#","origin":"AWS::EC2::Instance","error":true,"http":{"response":{"status":404}}"#,
        ),
    ]
}

#[test]
fn nodes_follow_the_aws_example() {
    let services = services(&example());
    let names: Vec<(&str, &str)> = services
        .iter()
        .map(|s| (s["Name"].as_str().unwrap(), s["Type"].as_str().unwrap()))
        .collect();
    // Sorted by name then type: ReferenceIds are positions.
    assert_eq!(
        names,
        [
            ("SNS", "AWS::SNS"),
            ("Scorekeep", "AWS::EC2::Instance"),
            ("Scorekeep", "client"),
            ("scorekeep-state", "AWS::DynamoDB::Table"),
        ]
    );
    for (n, s) in services.iter().enumerate() {
        assert_eq!(s["ReferenceId"], n);
        assert_eq!(s["Names"], json!([s["Name"]]));
    }
    let client = find(&services, "Scorekeep", Some("client"));
    assert_eq!(client["State"], "unknown");
    assert!(client.get("Root").is_none());
    assert!(client.get("SummaryStatistics").is_none());
    assert!(client.get("ResponseTimeHistogram").is_none());
    assert_eq!(client["Edges"].as_array().unwrap().len(), 1);
    assert_eq!(client["Edges"][0]["ReferenceId"], 1);
    assert_eq!(client["StartTime"], 1.0);
    assert_eq!(client["EndTime"], 2.096);

    let app = find(&services, "Scorekeep", Some("AWS::EC2::Instance"));
    assert_eq!(app["Root"], true);
    assert_eq!(app["State"], "active");
    let callees: Vec<&Value> = app["Edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["ReferenceId"])
        .collect();
    assert_eq!(callees, [&json!(0), &json!(3)]);
    for name in ["SNS", "scorekeep-state"] {
        let s = services.iter().find(|s| s["Name"] == name).unwrap();
        assert_eq!(s["State"], "unknown");
        assert_eq!(s["Root"], false);
        assert_eq!(s["Edges"], json!([]));
    }
}

#[test]
fn statistics_and_histograms_of_nodes_and_edges() {
    let services = services(&example());
    let app = find(&services, "Scorekeep", Some("AWS::EC2::Instance"));
    assert_eq!(
        app["SummaryStatistics"],
        json!({"OkCount": 1, "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": 1, "TotalCount": 1},
               "FaultStatistics": {"OtherCount": 0, "TotalCount": 0}, "TotalCount": 2,
               "TotalResponseTime": 0.253})
    );
    assert_eq!(
        app["ResponseTimeHistogram"],
        json!([{"Value": 0.096, "Count": 1}, {"Value": 0.157, "Count": 1}])
    );
    // The root's duration histogram holds trace durations (here equal to its response times).
    assert_eq!(app["DurationHistogram"], app["ResponseTimeHistogram"]);
    // client → root: the root segments themselves.
    let client = find(&services, "Scorekeep", Some("client"));
    assert_eq!(
        client["Edges"][0]["SummaryStatistics"],
        app["SummaryStatistics"]
    );
    assert_eq!(client["Edges"][0]["Aliases"], json!([]));
    // app → table: the caller's subsegment.
    let table = &app["Edges"][1];
    assert_eq!(table["SummaryStatistics"]["TotalCount"], 1);
    assert_eq!(
        table["ResponseTimeHistogram"],
        json!([{"Value": 0.076, "Count": 1}])
    );
    assert_eq!(table["StartTime"], 1.01);
    assert_eq!(table["EndTime"], 1.086);
}

#[test]
fn outcomes_follow_spec_5_4() {
    use xrfast_core::document::Flags;
    let none = Flags::default();
    let table = [
        (none, None, Outcome::Ok),
        (none, Some(200), Outcome::Ok),
        (none, Some(429), Outcome::Throttle),
        (none, Some(404), Outcome::Error),
        (none, Some(503), Outcome::Fault),
    ];
    for (flags, status, expected) in table {
        assert_eq!(Outcome::classify(flags, status), expected, "{status:?}");
    }
    // Flags through documents: fault beats throttle beats error.
    let docs = vec![
        seg(
            1,
            1,
            "a",
            1.0,
            Some(2.0),
            r#","fault":true,"throttle":true"#,
        ),
        seg(
            2,
            2,
            "a",
            1.0,
            Some(2.0),
            r#","throttle":true,"error":true"#,
        ),
        seg(3, 3, "a", 1.0, Some(2.0), r#","error":true"#),
        seg(4, 4, "a", 1.0, None, r#","fault":true"#),
    ];
    let services = services(&docs);
    let a = find(&services, "a", None);
    assert_eq!(
        a["SummaryStatistics"],
        json!({"OkCount": 0, "ErrorStatistics": {"ThrottleCount": 1, "OtherCount": 1, "TotalCount": 2},
               "FaultStatistics": {"OtherCount": 1, "TotalCount": 1}, "TotalCount": 3,
               "TotalResponseTime": 3.0})
    );
    // In progress: counted nowhere, but its start still opens the node's time range.
    assert_eq!(a["StartTime"], 1.0);
    assert!(a.get("Type").is_none());
}

#[test]
fn downstream_segments_are_measured_by_the_calling_subsegment() {
    let docs = vec![
        seg(
            1,
            1,
            "front",
            1.0,
            Some(2.0),
            &format!(
                r#","subsegments":[{}]"#,
                sub(
                    10,
                    "back",
                    1.1,
                    1.9,
                    r#","namespace":"remote","http":{"request":{"traced":true},"response":{"status":502}}"#
                )
            ),
        ),
        seg(
            1,
            2,
            "back",
            1.2,
            Some(1.8),
            r#","parent_id":"000000000000000a""#,
        ),
    ];
    let services = services(&docs);
    // The downstream service sends segments: no inferred `remote` node.
    assert_eq!(services.len(), 3, "{services:#?}");
    let front = find(&services, "front", None);
    let back = find(&services, "back", None);
    assert_eq!(back["Root"], false);
    assert_eq!(back["SummaryStatistics"]["OkCount"], 1);
    let edge = &front["Edges"][0];
    assert_eq!(edge["ReferenceId"], back["ReferenceId"]);
    assert_eq!(
        edge["SummaryStatistics"]["FaultStatistics"]["TotalCount"],
        1
    );
    assert_eq!(
        edge["ResponseTimeHistogram"],
        json!([{"Value": 0.8, "Count": 1}])
    );
}

#[test]
fn remote_and_aws_inferred_nodes() {
    let subs = [
        sub(10, "api.example.com", 1.1, 1.2, r#","namespace":"remote""#),
        sub(
            11,
            "SQS",
            1.2,
            1.3,
            r#","namespace":"aws","aws":{"queue_url":"https://sqs.us-east-1.amazonaws.com/1/jobs","account_id":"123"}"#,
        ),
        sub(12, "local-work", 1.3, 1.4, r#","namespace":"local""#),
    ]
    .join(",");
    let docs = vec![seg(
        1,
        1,
        "a",
        1.0,
        Some(2.0),
        &format!(r#","subsegments":[{subs}]"#),
    )];
    let services = services(&docs);
    assert_eq!(services.len(), 4, "{services:#?}");
    find(&services, "api.example.com", Some("remote"));
    let queue = find(&services, "jobs", Some("AWS::SQS::Queue"));
    assert_eq!(queue["AccountId"], "123");
}

#[test]
fn rounding_and_aggregation_of_histograms() {
    let docs: Vec<String> = [0.0004, 0.0005, 0.0015, 0.001]
        .iter()
        .enumerate()
        .map(|(n, d)| seg(n as u64 + 1, n as u64 + 1, "a", 10.0, Some(10.0 + d), ""))
        .collect();
    let services = services(&docs);
    let a = find(&services, "a", None);
    let values: Vec<(f64, u64)> = a["ResponseTimeHistogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["Value"].as_f64().unwrap(), e["Count"].as_u64().unwrap()))
        .collect();
    // Half up in milliseconds, equal values counted together, ascending.
    assert_eq!(values.iter().map(|v| v.1).sum::<u64>(), 4);
    assert!(values.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(values.iter().all(|(v, _)| (v * 1000.0).fract() == 0.0));
}

#[test]
fn service_graph_response_shape_and_window() {
    let graph = ServiceGraph::from_traces(&traces(&example()));
    let mut out = Vec::new();
    graph.write_service_graph(&mut out, None);
    // Members in botocore's order.
    let text = String::from_utf8(out.clone()).unwrap();
    let at = |member: &str| text.find(&format!("\"{member}\":")).unwrap();
    assert!(at("StartTime") < at("EndTime"));
    assert!(at("EndTime") < at("Services"));
    assert!(text.ends_with(r#"],"ContainsOldGroupVersions":false}"#));
    let value = parse(&out);
    assert_eq!(value["StartTime"], 1.0);
    assert_eq!(value["EndTime"], 2.096);
    out.clear();
    graph.write_service_graph(&mut out, Some((0.0, 60.0)));
    let value = parse(&out);
    assert_eq!(
        (value["StartTime"].clone(), value["EndTime"].clone()),
        (json!(0.0), json!(60.0))
    );

    out.clear();
    ServiceGraph::new().write_service_graph(&mut out, None);
    assert_eq!(
        parse(&out),
        json!({"Services": [], "ContainsOldGroupVersions": false})
    );
}

#[test]
fn time_series_buckets() {
    // Requests ending at 30 s, 90 s and 400 s.
    let docs = vec![
        seg(1, 1, "a", 29.9, Some(30.0), ""),
        seg(2, 2, "a", 89.0, Some(90.0), r#","fault":true"#),
        seg(3, 3, "a", 399.5, Some(400.0), ""),
    ];
    let graph = ServiceGraph::from_traces(&traces(&docs));
    let series = |period, selector: &Selector| {
        let mut out = Vec::new();
        assert!(graph.write_time_series(&mut out, period, selector, None));
        parse(&out)
    };
    let by_minute = series(60, &Selector::ClientEdges);
    let stamps: Vec<&Value> = by_minute["TimeSeriesServiceStatistics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["Timestamp"])
        .collect();
    assert_eq!(stamps, [&json!(0.0), &json!(60.0), &json!(360.0)]);
    let five = series(300, &Selector::ClientEdges);
    let buckets = five["TimeSeriesServiceStatistics"].as_array().unwrap();
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[0]["EdgeSummaryStatistics"]["TotalCount"], 2);
    assert_eq!(
        buckets[0]["EdgeSummaryStatistics"]["FaultStatistics"]["TotalCount"],
        1
    );
    assert_eq!(five["ContainsOldGroupVersions"], false);
    let node = series(3600, &Selector::Node(id("a", None)));
    let buckets = node["TimeSeriesServiceStatistics"].as_array().unwrap();
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0]["ServiceSummaryStatistics"]["TotalCount"], 3);
    assert!(buckets[0].get("EdgeSummaryStatistics").is_none());

    let mut out = Vec::new();
    assert!(!graph.write_time_series(&mut out, 120, &Selector::ClientEdges, None));
    assert!(out.is_empty());
    let unknown = series(60, &Selector::Node(id("zzz", None)));
    assert_eq!(unknown["TimeSeriesServiceStatistics"], json!([]));
}

#[test]
fn percentiles_per_node_and_edge() {
    let docs: Vec<String> = (1..=100)
        .map(|n| seg(n, n, "a", 0.0, Some(n as f64 / 100.0), ""))
        .collect();
    let graph = ServiceGraph::from_traces(&traces(&docs));
    let mut out = Vec::new();
    graph.write_percentiles(&mut out);
    let value = parse(&out);
    let node = &value["nodes"][0];
    assert_eq!(node["name"], "a");
    assert_eq!(node["type"], Value::Null);
    assert_eq!(node["count"], 100);
    assert_eq!(node["min"], 0.01);
    assert_eq!(node["max"], 1.0);
    assert!((node["sum"].as_f64().unwrap() - 50.5).abs() < 1e-9);
    for (key, exact) in [("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)] {
        let got = node[key].as_f64().unwrap();
        assert!((got - exact).abs() <= 0.02 * exact + 0.01, "{key} {got}");
    }
    assert_eq!(value["nodes"].as_array().unwrap().len(), 1, "no client row");
    let edge = &value["edges"][0];
    assert_eq!(edge["source"]["type"], "client");
    assert_eq!(edge["count"], 100);
}

/// Documents of a random set of traces: each a root calling, through subsegments, a mix of
/// services that send segments and inferred ones, with random flags, statuses and durations.
fn workload(seed: u64, count: u64) -> Vec<String> {
    let mut state = seed;
    let mut next = |bound: u64| {
        state = xrfast_core::ids::splitmix64(state);
        state % bound
    };
    let mut docs = Vec::new();
    for t in 0..count {
        let start = 1_000.0 + next(100_000) as f64 / 100.0;
        let base = t * 100 + 1;
        let flags = |n: u64| match n {
            0 => r#","fault":true"#,
            1 => r#","error":true"#,
            2 => r#","throttle":true,"error":true"#,
            3 => r#","http":{"response":{"status":503}}"#,
            _ => "",
        };
        let mut subs = Vec::new();
        let calls = next(4);
        for c in 0..calls {
            let s = start + 0.01 * (c + 1) as f64;
            let d = next(5000) as f64 / 10_000.0;
            let id = base + 10 + c;
            match next(3) {
                0 => subs.push(sub(
                    id,
                    "DynamoDB",
                    s,
                    s + d,
                    &format!(
                        r#","namespace":"aws","aws":{{"table_name":"t{}"}}{}"#,
                        next(2),
                        flags(next(8))
                    ),
                )),
                1 => subs.push(sub(
                    id,
                    "ext",
                    s,
                    s + d,
                    &format!(r#","namespace":"remote"{}"#, flags(next(8))),
                )),
                _ => {
                    subs.push(sub(
                        id,
                        "svc",
                        s,
                        s + d,
                        &format!(
                            r#","namespace":"remote","http":{{"request":{{"traced":true}}}}{}"#,
                            flags(next(3))
                        ),
                    ));
                    docs.push(seg(
                        t,
                        base + 50 + c,
                        &format!("svc{}", next(2)),
                        s + 0.001,
                        Some(s + 0.001 + d * 0.9),
                        &format!(r#","parent_id":"{id:016x}"{}"#, flags(next(8))),
                    ));
                }
            }
        }
        let end = if next(10) == 0 {
            None
        } else {
            Some(start + 0.5 + next(1000) as f64 / 1000.0)
        };
        docs.push(seg(
            t,
            base,
            &format!("front{}", next(2)),
            start,
            end,
            &format!(r#"{},"subsegments":[{}]"#, flags(next(8)), subs.join(",")),
        ));
    }
    docs
}

/// [`workload`] plus SQS producers and their consumers in other traces (`EdgeType: "link"`):
/// each producer trace sends to one of two queues, and up to three consumer traces (of two
/// Lambda functions, some failed, some in progress) link to it; some links name a send that
/// never arrives.
fn linked_workload(seed: u64, count: u64) -> Vec<String> {
    let mut docs = workload(seed, count);
    let mut state = seed ^ 0x5eed_11a2;
    let mut next = |bound: u64| {
        state = xrfast_core::ids::splitmix64(state);
        state % bound
    };
    for n in 0..=(count / 2) {
        let t = 10_000 + n;
        let at = 1_000.0 + next(100_000) as f64 / 100.0;
        let sqs_call = t * 100 + 7;
        let queue = format!(
            r#","namespace":"aws","aws":{{"operation":"SendMessageBatch","queue_url":"https://sqs.us-east-1.amazonaws.com/1/q{}"}}"#,
            next(2)
        );
        docs.push(seg(
            t,
            t * 100 + 1,
            &format!("producer{}", next(2)),
            at - 0.01,
            Some(at + 0.05),
            &format!(
                r#","subsegments":[{}]"#,
                sub(sqs_call, "SQS", at, at + 0.02, &queue)
            ),
        ));
        for c in 0..next(4) {
            let ct = 20_000 + n * 10 + c;
            let start = at + next(3000) as f64 / 1000.0;
            let end = (next(6) != 0).then(|| start + next(500) as f64 / 1000.0);
            let mut links = vec![format!(
                r#"{{"trace_id":"{}","id":"{sqs_call:016x}"}}"#,
                trace_id(t)
            )];
            if next(4) == 0 {
                links.push(format!(
                    r#"{{"trace_id":"{}","id":"{:016x}"}}"#,
                    trace_id(t + 5_000),
                    sqs_call + 1
                ));
            }
            let flags = match next(5) {
                0 => r#","fault":true"#,
                1 => r#","error":true"#,
                _ => "",
            };
            docs.push(seg(
                ct,
                ct * 100 + 1,
                &format!("worker{}", next(2)),
                start,
                end,
                &format!(
                    r#","origin":"AWS::Lambda","links":[{}]{flags}"#,
                    links.join(",")
                ),
            ));
        }
    }
    docs
}

fn json_of(graph: &ServiceGraph) -> (Value, Value, Value) {
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    graph.write_service_graph(&mut a, None);
    graph.write_percentiles(&mut b);
    assert!(graph.write_time_series(&mut c, 60, &Selector::ClientEdges, None));
    (parse(&a), parse(&b), parse(&c))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any split of the traces, merged in any grouping and order, gives exactly the graph of one
    /// pass over all of them: statistics, histograms, times, sums (kept in nanoseconds) and
    /// sketch quantiles (bins never collapse at these values, so merging sketches is exact),
    /// and link edges whose producer and consumer traces fell in different parts.
    #[test]
    fn merge_is_associative_commutative_and_equals_one_pass(
        seed in any::<u64>(), count in 1u64..40, cut1 in 0usize..100, cut2 in 0usize..100,
    ) {
        let all = traces(&linked_workload(seed, count));
        let (i, j) = {
            let (a, b) = (cut1 % (all.len() + 1), cut2 % (all.len() + 1));
            (a.min(b), a.max(b))
        };
        let whole = ServiceGraph::from_traces(&all);
        let parts = [
            ServiceGraph::from_traces(&all[..i]),
            ServiceGraph::from_traces(&all[i..j]),
            ServiceGraph::from_traces(&all[j..]),
        ];
        let mut left = parts[0].clone();
        left.merge(&parts[1]);
        left.merge(&parts[2]);
        let mut right = parts[1].clone();
        right.merge(&parts[2]);
        let mut right_first = parts[0].clone();
        right_first.merge(&right);
        let mut reversed = parts[2].clone();
        reversed.merge(&parts[1]);
        reversed.merge(&parts[0]);
        let expected = json_of(&whole);
        prop_assert_eq!(&json_of(&left), &expected);
        prop_assert_eq!(&json_of(&right_first), &expected);
        prop_assert_eq!(&json_of(&reversed), &expected);
        prop_assert_eq!(whole.trace_count(), all.len() as u64);
        // Links whose sides fell in different parts resolved in the merge.
        for merged in [&left, &right_first, &reversed] {
            prop_assert_eq!(merged.link_counters(), whole.link_counters());
            prop_assert_eq!(merged.link_edges().len(), whole.link_edges().len());
        }
    }

    /// Whatever the bytes, the graph of what they assemble to is valid JSON.
    #[test]
    fn arbitrary_input_graphs_to_valid_json(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok((traces, _, _)) = assemble_all(&bytes, Format::Auto, Limits::default()) {
            let graph = ServiceGraph::from_traces(&traces);
            let _ = json_of(&graph);
        }
    }
}

#[test]
fn parallel_and_sequential_builds_agree() {
    let all = traces(&linked_workload(7, 300));
    let parallel = ServiceGraph::from_traces(&all);
    let mut sequential = ServiceGraph::new();
    for trace in &all {
        sequential.add(trace);
    }
    assert_eq!(json_of(&parallel), json_of(&sequential));
    assert_eq!(parallel.link_counters(), sequential.link_counters());
    assert!(
        parallel.link_edges().len() >= 4,
        "both queues reach both workers"
    );
    // Totals: every completed root segment is one client-edge request.
    let complete_roots = all
        .iter()
        .filter(|t| {
            t.root().is_some_and(|pos| {
                let xrfast_core::trace::SegmentRef::Real(i) = t.segments()[pos] else {
                    return false;
                };
                t.entities()[i as usize].end.is_some()
            })
        })
        .count();
    let services = trace_graph(&parallel)["Services"]
        .as_array()
        .unwrap()
        .clone();
    let client_total: u64 = services
        .iter()
        .filter(|s| s["Type"] == "client")
        .flat_map(|s| s["Edges"].as_array().unwrap().clone())
        .map(|e| e["SummaryStatistics"]["TotalCount"].as_u64().unwrap())
        .sum();
    assert_eq!(client_total, complete_roots as u64);
}

/// One pass for both gives the graph of `from_traces` and, in order, the summaries of
/// `TraceSummary::of` (accounts and origins included, so the shared service reading is exact).
#[test]
fn graph_with_summaries_equals_both_made_apart() {
    let mut docs = workload(11, 300);
    docs.push(seg(
        9_999,
        1,
        "acct",
        5.0,
        Some(6.0),
        r#","origin":"AWS::EC2::Instance","aws":{"account_id":"123456789012","ec2":{"instance_id":"i-1","availability_zone":"us-east-1a"}}"#,
    ));
    let all = traces(&docs);
    let (graph, summaries) = ServiceGraph::with_summaries(&all);
    assert_eq!(json_of(&graph), json_of(&ServiceGraph::from_traces(&all)));
    let apart: Vec<TraceSummary> = all.iter().map(TraceSummary::of).collect();
    assert_eq!(summaries, apart);
}
