//! Path analysis through the public core API: how a trace's path is found (edges, unreported
//! calls, entry point), how paths are classified against the usual one, and that the report does
//! not depend on trace order or on how the work was split and merged.

// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use serde_json::{json, Value};
use xrfast_core::assemble::assemble_all;
use xrfast_core::paths::{url_path_template, PathKind, PathReport, PathStats, TracePath};
use xrfast_core::summary::ServiceId;
use xrfast_core::{Format, Limits, Trace};

fn trace_id(n: u64) -> String {
    format!("1-581cf771-{n:024x}")
}

fn id(n: u64, which: u64) -> String {
    format!("{:016x}", n * 100 + which)
}

#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// Every service reached, 200.
    Full,
    /// Paid, then the inventory call is traced but inventory-service never reports; 200.
    Vanished,
    /// Declined by Stripe: 402, nothing after payment.
    Declined,
    /// Like `Full`, plus a call to a cache.
    Cached,
}

/// The documents of checkout `n`: api-gateway → order-service (Lambda) → Stripe, then
/// inventory-service (Fargate: orders-db, a `DynamoDB` table) and notification-service (via SNS:
/// SES).
fn checkout(n: u64, order: Order) -> Vec<String> {
    let trace = trace_id(n);
    let t = n as f64;
    let status = if order == Order::Declined { 402 } else { 200 };
    let mut docs = vec![json!({
        "id": id(n, 1), "name": "api-gateway", "trace_id": trace, "start_time": t, "end_time": t + 1.0,
        "origin": "AWS::ApiGateway::Stage",
        "http": {"request": {"method": "POST", "url": "https://shop.example.com/checkout?x=1"},
                 "response": {"status": status}},
        "error": order == Order::Declined,
        "subsegments": [{"id": id(n, 2), "name": "Lambda", "namespace": "aws",
                          "start_time": t, "end_time": t + 0.9,
                          "aws": {"function_name": "order-service"}}],
    })];
    let mut calls = vec![
        json!({"id": id(n, 4), "name": "api.stripe.com", "namespace": "remote",
                                "start_time": t + 0.1, "end_time": t + 0.2}),
    ];
    if order != Order::Declined {
        calls.push(
            json!({"id": id(n, 5), "name": "inventory-service", "namespace": "remote",
                          "start_time": t + 0.3, "end_time": t + 0.4,
                          "http": {"request": {"traced": true}}}),
        );
    }
    if matches!(order, Order::Full | Order::Cached) {
        calls.push(json!({"id": id(n, 6), "name": "SNS", "namespace": "aws",
                          "start_time": t + 0.5, "end_time": t + 0.6}));
        docs.push(json!({
            "id": id(n, 7), "name": "inventory-service", "trace_id": trace, "parent_id": id(n, 5),
            "start_time": t + 0.31, "end_time": t + 0.39, "origin": "AWS::ECS::Fargate",
            "subsegments": [
                {"id": id(n, 8), "name": "orders-db", "namespace": "remote", "start_time": t + 0.32, "end_time": t + 0.33},
                {"id": id(n, 9), "name": "DynamoDB", "namespace": "aws", "start_time": t + 0.34, "end_time": t + 0.35,
                 "aws": {"table_name": "inventory", "operation": "UpdateItem"}},
            ],
        }));
        docs.push(json!({
            "id": id(n, 10), "name": "notification-service", "trace_id": trace, "parent_id": id(n, 6),
            "start_time": t + 0.7, "end_time": t + 0.8, "origin": "AWS::Lambda::Function",
            "subsegments": [{"id": id(n, 11), "name": "SES", "namespace": "aws",
                             "start_time": t + 0.71, "end_time": t + 0.72}],
        }));
    }
    if order == Order::Cached {
        calls.push(
            json!({"id": id(n, 12), "name": "redis", "namespace": "remote",
                          "start_time": t + 0.05, "end_time": t + 0.06}),
        );
    }
    docs.push(json!({
        "id": id(n, 3), "name": "order-service", "trace_id": trace, "parent_id": id(n, 2),
        "start_time": t + 0.01, "end_time": t + 0.89, "origin": "AWS::Lambda::Function",
        "subsegments": calls,
    }));
    docs.iter().map(Value::to_string).collect()
}

fn assemble(docs: &[String]) -> Vec<Trace> {
    let input = docs.join("\n") + "\n";
    let (traces, errors, _) =
        assemble_all(input.as_bytes(), Format::Ndjson, Limits::default()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    traces
}

/// 20 full orders, 2 vanished, 3 declined, 1 cached, interleaved.
fn shop() -> Vec<Trace> {
    let mut docs = Vec::new();
    for n in 1..=26u64 {
        let order = match n {
            5 | 17 => Order::Vanished,
            3 | 11 | 23 => Order::Declined,
            8 => Order::Cached,
            _ => Order::Full,
        };
        docs.extend(checkout(n, order));
    }
    assemble(&docs)
}

fn svc(name: &str, kind: &str) -> ServiceId {
    ServiceId {
        name: name.to_owned(),
        kind: Some(kind.to_owned()),
        account_id: None,
    }
}

fn names(services: &[ServiceId]) -> Vec<&str> {
    services.iter().map(|s| s.name.as_str()).collect()
}

fn edge_names(edges: &[(ServiceId, ServiceId)]) -> Vec<String> {
    edges
        .iter()
        .map(|(a, b)| format!("{} -> {}", a.name, b.name))
        .collect()
}

fn json(report: &PathReport) -> Value {
    let mut out = Vec::new();
    report.write_json(&mut out);
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn a_full_checkout_reaches_every_service_through_segments_and_inferred_nodes() {
    let traces = assemble(&checkout(1, Order::Full));
    let found = TracePath::of(&traces[0]).unwrap();
    assert_eq!(
        found.entry_point.service,
        svc("api-gateway", "AWS::ApiGateway::Stage")
    );
    assert_eq!(found.entry_point.method.as_deref(), Some("POST"));
    assert_eq!(found.entry_point.url_path.as_deref(), Some("/checkout"));
    assert_eq!(found.status, Some(200));
    assert!(found.path.unreported.is_empty());
    let entry = &found.entry_point.service;
    assert_eq!(
        edge_names(&found.path.ordered_edges(entry)),
        [
            "api-gateway -> order-service",
            "order-service -> api.stripe.com",
            "order-service -> inventory-service",
            "order-service -> notification-service",
            "inventory-service -> inventory",
            "inventory-service -> orders-db",
            "notification-service -> SES",
        ]
    );
    // §5.2 identity: the DynamoDB node is the table, the Lambda-invoked service its own segment.
    assert!(found.path.edges.contains(&(
        svc("inventory-service", "AWS::ECS::Fargate"),
        svc("inventory", "AWS::DynamoDB::Table")
    )));
    assert!(found.path.edges.contains(&(
        svc("api-gateway", "AWS::ApiGateway::Stage"),
        svc("order-service", "AWS::Lambda::Function")
    )));
}

#[test]
fn a_traced_call_whose_callee_never_reported_is_unreported_not_an_edge() {
    let traces = assemble(&checkout(1, Order::Vanished));
    let found = TracePath::of(&traces[0]).unwrap();
    assert_eq!(
        edge_names(&found.path.edges),
        [
            "api-gateway -> order-service",
            "order-service -> api.stripe.com"
        ]
    );
    assert_eq!(
        found.path.unreported,
        [(
            svc("order-service", "AWS::Lambda::Function"),
            svc("inventory-service", "remote")
        )]
    );
}

#[test]
fn paths_are_classified_against_the_usual_path() {
    let report = PathStats::of(&shop(), 5).report(0.05);
    assert_eq!((report.traces, report.traces_without_root), (26, 0));
    assert_eq!(report.entry_points.len(), 1);
    let entry = &report.entry_points[0];
    assert_eq!(entry.count, 26);
    let kinds: Vec<(PathKind, u64, bool)> = entry
        .paths
        .iter()
        .map(|p| (p.kind, p.count, p.silent))
        .collect();
    // Declined (3) sorts before vanished (2); cached is 1/26 < 5 %: rare.
    assert_eq!(
        kinds,
        [
            (PathKind::Usual, 20, false),
            (PathKind::Truncated, 3, false),
            (PathKind::Truncated, 2, true),
            (PathKind::Rare, 1, false),
        ]
    );
    let [usual, declined, vanished, cached] = &entry.paths[..] else {
        panic!()
    };
    assert!(usual.missing.is_empty());
    let after_payment = [
        "inventory-service",
        "notification-service",
        "inventory",
        "orders-db",
        "SES",
    ];
    assert_eq!(names(&declined.missing), after_payment);
    assert_eq!(names(&vanished.missing), after_payment);
    assert!(cached.missing.is_empty());
    assert_eq!(declined.status_classes, [("4xx", 3)]);
    assert_eq!((declined.ok_count, declined.ok_trace_ids.len()), (0, 0));
    assert_eq!(vanished.status_classes, [("2xx", 2)]);
    let ids =
        |ids: &[xrfast_core::TraceId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(ids(&vanished.ok_trace_ids), [trace_id(5), trace_id(17)]);
    assert_eq!(
        ids(&declined.trace_ids),
        [trace_id(3), trace_id(11), trace_id(23)]
    );
    // Examples: the smallest ids, at most k.
    assert_eq!(ids(&usual.trace_ids), [1, 2, 4, 6, 7].map(trace_id));
    assert!((usual.share - 20.0 / 26.0).abs() < 1e-12);

    // A larger rare share makes the cached path rare still; a smaller one makes it common.
    let common = PathStats::of(&shop(), 5).report(0.01);
    assert_eq!(common.entry_points[0].paths[3].kind, PathKind::Common);
}

#[test]
fn entry_points_are_split_by_method_and_url_template_and_traces_without_root_are_counted() {
    let mut docs = checkout(1, Order::Full);
    let other = |n: u64, method: &str, url: &str| {
        json!({"id": id(n, 1), "name": "api-gateway", "trace_id": trace_id(n), "start_time": 1.0,
               "end_time": 2.0, "origin": "AWS::ApiGateway::Stage",
               "http": {"request": {"method": method, "url": url}}})
        .to_string()
    };
    docs.push(other(2, "GET", "https://shop.example.com/orders/42"));
    docs.push(other(3, "GET", "https://shop.example.com/orders/43?full=1"));
    docs.push(other(4, "GET", "/orders/ord_7f3a9b2c11de"));
    // An orphan subsegment alone: a trace without a root.
    docs.push(
        json!({"id": id(5, 1), "type": "subsegment", "name": "x", "trace_id": trace_id(5),
               "parent_id": id(5, 2), "start_time": 1.0, "end_time": 2.0})
        .to_string(),
    );
    let report = PathStats::of(&assemble(&docs), 5).report(0.05);
    assert_eq!((report.traces, report.traces_without_root), (5, 1));
    let entries: Vec<(Option<&str>, Option<&str>, u64)> = report
        .entry_points
        .iter()
        .map(|e| {
            (
                e.entry_point.method.as_deref(),
                e.entry_point.url_path.as_deref(),
                e.count,
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (Some("GET"), Some("/orders/{id}"), 3),
            (Some("POST"), Some("/checkout"), 1)
        ]
    );
    // A lone segment: the empty path, usual for its entry point.
    let orders = &report.entry_points[0];
    assert_eq!(orders.paths.len(), 1);
    assert!(orders.paths[0].edges.is_empty());
}

#[test]
fn url_path_templates() {
    for (url, template) in [
        ("https://shop.example.com/prod/checkout", "/prod/checkout"),
        ("https://shop.example.com", "/"),
        ("https://shop.example.com/", "/"),
        (
            "http://h:8080/v1/orders/12345/items?x=1#top",
            "/v1/orders/{id}/items",
        ),
        ("/users/550e8400-e29b-41d4-a716-446655440000", "/users/{id}"),
        ("/reports/2024-06-01", "/reports/{id}"),
        ("/api/v2/ord_7f3a9b2c11de", "/api/v2/{id}"),
        ("orders", "/orders"),
        ("", "/"),
    ] {
        assert_eq!(url_path_template(url), template, "{url}");
    }
}

#[test]
fn a_segment_called_by_a_segment_and_a_downstream_call_with_an_account_are_edges() {
    let trace = trace_id(1);
    let docs = [
        json!({"id": id(1, 1), "name": "front", "trace_id": trace, "start_time": 1.0, "end_time": 2.0}),
        // parent_id names the front segment itself, not a subsegment of it.
        json!({"id": id(1, 2), "name": "back", "trace_id": trace, "parent_id": id(1, 1),
               "start_time": 1.1, "end_time": 1.9, "aws": {"account_id": "111122223333"},
               "subsegments": [{"id": id(1, 3), "name": "SQS", "namespace": "aws",
                                "start_time": 1.2, "end_time": 1.3,
                                "aws": {"queue_url": "https://sqs/1/jobs", "account_id": "444455556666"}}]}),
        // Not reachable from the root: its parent does not resolve, and the root is earlier.
        json!({"id": id(1, 4), "name": "stray", "trace_id": trace, "parent_id": id(1, 9),
               "start_time": 1.5, "end_time": 1.6,
               "subsegments": [{"id": id(1, 5), "name": "elsewhere", "namespace": "remote",
                                "start_time": 1.51, "end_time": 1.52}]}),
    ];
    let docs: Vec<String> = docs.iter().map(Value::to_string).collect();
    let found = TracePath::of(&assemble(&docs)[0]).unwrap();
    let back = ServiceId {
        name: "back".to_owned(),
        kind: None,
        account_id: Some("111122223333".to_owned()),
    };
    let queue = ServiceId {
        name: "jobs".to_owned(),
        kind: Some("AWS::SQS::Queue".to_owned()),
        account_id: Some("444455556666".to_owned()),
    };
    let front = ServiceId {
        name: "front".to_owned(),
        kind: None,
        account_id: None,
    };
    assert_eq!(found.path.edges, [(back.clone(), queue), (front, back)]);
    assert_eq!(found.status, None);
    assert_eq!(found.entry_point.url_path, None);
}

/// A deterministic shuffle (xorshift), so the test needs no random crate.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut items = items.to_vec();
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
    items
}

fn stats_of(traces: &[&Trace], k: usize) -> PathStats {
    let mut stats = PathStats::new(k);
    for trace in traces {
        stats.add(trace);
    }
    stats
}

#[test]
fn merge_is_associative_and_commutative_and_order_does_not_matter() {
    let traces = shop();
    let all: Vec<&Trace> = traces.iter().collect();
    let whole = stats_of(&all, 3);
    let expected = whole.report(0.05);
    for seed in 1..20u64 {
        let order = shuffled(&all, seed);
        assert_eq!(stats_of(&order, 3).report(0.05), expected, "seed {seed}");
        let (cut1, cut2) = (seed as usize % 9 + 1, seed as usize % 9 + 12);
        let (first, second, third) = (
            stats_of(&order[..cut1], 3),
            stats_of(&order[cut1..cut2], 3),
            stats_of(&order[cut2..], 3),
        );
        // (a + b) + c
        let mut left = first.clone();
        left.merge(&second);
        left.merge(&third);
        // a + (b + c)
        let mut rest = second.clone();
        rest.merge(&third);
        let mut right = first.clone();
        right.merge(&rest);
        // c + b + a
        let mut reversed = third.clone();
        reversed.merge(&second);
        reversed.merge(&first);
        assert_eq!(left, whole);
        assert_eq!(right, whole);
        assert_eq!(reversed, whole);
    }
    // Merging nothing changes nothing.
    let mut same = whole.clone();
    same.merge(&PathStats::new(3));
    assert_eq!(same, whole);
}

#[test]
fn a_large_slice_is_analysed_in_parallel_with_the_same_result() {
    let mut docs = Vec::new();
    for n in 1..=700u64 {
        let order = match n % 50 {
            7 => Order::Vanished,
            9 | 19 => Order::Declined,
            _ => Order::Full,
        };
        docs.extend(checkout(n, order));
    }
    let traces = assemble(&docs);
    let refs: Vec<&Trace> = traces.iter().collect();
    let parallel = PathStats::of(&traces, 4);
    assert_eq!(parallel, stats_of(&refs, 4));
    let report = parallel.report(0.05);
    let vanished = &report.entry_points[0].paths[2];
    assert_eq!(
        (vanished.kind, vanished.count, vanished.silent),
        (PathKind::Truncated, 14, true)
    );
}

#[test]
fn the_json_names_every_member() {
    let value = json(&PathStats::of(&shop(), 2).report(0.05));
    assert_eq!(value["TracesProcessedCount"], 26);
    assert_eq!(value["TracesWithoutRoot"], 0);
    let entry = &value["EntryPoints"][0];
    assert_eq!(
        entry["EntryPoint"],
        json!({"Name": "api-gateway", "Names": ["api-gateway"], "Type": "AWS::ApiGateway::Stage"})
    );
    assert_eq!(entry["HttpMethod"], "POST");
    assert_eq!(entry["UrlPath"], "/checkout");
    assert_eq!(entry["Count"], 26);
    let vanished = &entry["Paths"][2];
    let mut keys: Vec<&str> = vanished
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "Count",
            "Edges",
            "HttpStatusClasses",
            "Kind",
            "Missing",
            "OkCount",
            "OkTraceIds",
            "Share",
            "Silent",
            "TraceIds",
            "Unreported",
        ]
    );
    assert_eq!(vanished["Kind"], "truncated");
    assert_eq!(vanished["Silent"], true);
    assert_eq!(vanished["Count"], 2);
    assert_eq!(vanished["HttpStatusClasses"], json!({"2xx": 2}));
    assert_eq!(vanished["OkTraceIds"], json!([trace_id(5), trace_id(17)]));
    assert_eq!(
        vanished["Unreported"],
        json!([{
            "Caller": {"Name": "order-service", "Names": ["order-service"], "Type": "AWS::Lambda::Function"},
            "Callee": {"Name": "inventory-service", "Names": ["inventory-service"], "Type": "remote"},
        }])
    );
    assert_eq!(vanished["Missing"][0]["Type"], "AWS::ECS::Fargate");
    assert_eq!(entry["Paths"][0]["Edges"].as_array().unwrap().len(), 7);
}
