//! `TraceSummary` through the public core API: one table row per field rule of spec §4.2 and
//! docs/decisions.md ("Summaries"), then the three root-cause walks of §4.3.

// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use serde_json::{json, Value};
use xrfast_core::assemble::assemble_all;
use xrfast_core::summary::{write_summaries, TraceSummary};
use xrfast_core::{Format, Limits, Trace};

const TRACE: &str = "1-581cf771-a006649127e371903a2de979";

/// `,"name":"<prefix><id>"`, unless `extra` starts by naming the entity itself.
fn default_name(prefix: &str, id: u64, extra: &str) -> String {
    if extra.starts_with(r#","name":"#) {
        String::new()
    } else {
        format!(r#","name":"{prefix}{id}""#)
    }
}

/// A segment `id` (a number, written as 16 hex digits) of `start`..`end` with `extra` members;
/// named `svc<id>` unless `extra` starts with a `name`.
fn seg(id: u64, start: f64, end: Option<f64>, extra: &str) -> String {
    let end = end.map_or(r#""in_progress":true"#.to_owned(), |e| {
        format!(r#""end_time":{e}"#)
    });
    let name = default_name("svc", id, extra);
    format!(r#"{{"id":"{id:016x}"{name},"trace_id":"{TRACE}","start_time":{start},{end}{extra}}}"#)
}

/// A nested subsegment object, named `sub<id>` unless `extra` starts with a `name`.
fn sub(id: u64, start: f64, end: f64, extra: &str) -> String {
    let name = default_name("sub", id, extra);
    format!(r#"{{"id":"{id:016x}"{name},"start_time":{start},"end_time":{end}{extra}}}"#)
}

fn traces(docs: &[String]) -> Vec<Trace> {
    let input = docs.join("\n") + "\n";
    let (traces, errors, _) =
        assemble_all(input.as_bytes(), Format::Ndjson, Limits::default()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    traces
}

fn summary(docs: &[String]) -> Value {
    let traces = traces(docs);
    assert_eq!(traces.len(), 1);
    let mut out = Vec::new();
    TraceSummary::of(&traces[0]).write_json(&mut out);
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
}

fn service(name: &str, kind: Option<&str>) -> Value {
    let mut s = json!({"Name": name, "Names": [name]});
    if let Some(kind) = kind {
        s["Type"] = json!(kind);
    }
    s
}

#[test]
fn each_field_follows_its_rule() {
    let nested_ddb = sub(
        10,
        1.1,
        1.2,
        r#","name":"DynamoDB","namespace":"aws","throttle":true,"aws":{"table_name":"orders"}"#,
    );
    #[rustfmt::skip]
    let table: Vec<(&str, Vec<String>, &str, Value)> = vec![
        ("Id is the trace id", vec![seg(1, 1.0, Some(2.0), "")], "/Id", json!(TRACE)),
        ("StartTime is the earliest segment start, as a double",
            vec![seg(1, 3.0, Some(4.0), ""), seg(2, 2.0, Some(2.5), r#","parent_id":"00000000000000ff""#)],
            "/StartTime", json!(2.0)),
        ("Duration runs to the last end", vec![seg(1, 1.0, Some(2.0), ""), seg(2, 1.5, Some(3.5), r#","parent_id":"00000000000000ff""#)],
            "/Duration", json!(2.5)),
        ("Duration is left out when nothing ended", vec![seg(1, 1.0, None, "")], "/Duration", Value::Null),
        ("ResponseTime is the root's", vec![seg(1, 1.0, Some(2.0), ""), seg(2, 1.5, Some(3.5), r#","parent_id":"00000000000000ff""#)],
            "/ResponseTime", json!(1.0)),
        ("ResponseTime is left out while the root is in progress", vec![seg(1, 1.0, None, "")], "/ResponseTime", Value::Null),
        ("HasFault is the root's", vec![seg(1, 1.0, Some(2.0), r#","fault":true"#)], "/HasFault", json!(true)),
        ("HasFault ignores other segments",
            vec![seg(1, 1.0, Some(2.0), ""), seg(2, 1.5, Some(1.8), r#","parent_id":"00000000000000ff","fault":true"#)],
            "/HasFault", json!(false)),
        ("HasError is the root's", vec![seg(1, 1.0, Some(2.0), r#","error":true"#)], "/HasError", json!(true)),
        ("HasThrottle is any segment's, inferred ones included",
            vec![seg(1, 1.0, Some(2.0), &format!(r#","subsegments":[{nested_ddb}]"#))], "/HasThrottle", json!(true)),
        ("HasThrottle ignores local subsegments",
            vec![seg(1, 1.0, Some(2.0), &format!(r#","subsegments":[{}]"#, sub(3, 1.1, 1.2, r#","throttle":true"#)))],
            "/HasThrottle", json!(false)),
        ("IsPartial", vec![seg(1, 1.0, None, "")], "/IsPartial", json!(true)),
        ("Http comes from the root",
            vec![seg(1, 1.0, Some(2.0), r#","http":{"request":{"method":"GET","url":"https://a/b","user_agent":"ua","client_ip":"10.0.0.1"},"response":{"status":200}}"#)],
            "/Http", json!({"HttpURL": "https://a/b", "HttpStatus": 200, "HttpMethod": "GET", "UserAgent": "ua", "ClientIp": "10.0.0.1"})),
        ("HttpStatus may be a numeric string", vec![seg(1, 1.0, Some(2.0), r#","http":{"response":{"status":"503"}}"#)],
            "/Http", json!({"HttpStatus": 503})),
        ("Http members of the wrong type are left out", vec![seg(1, 1.0, Some(2.0), r#","http":{"request":{"url":5},"response":{"status":2.5}}"#)],
            "/Http", json!({})),
        ("Annotations map each value to its services",
            vec![seg(1, 1.0, Some(2.0), r#","annotations":{"a":1,"b":true,"c":"x"}"#)],
            "/Annotations", json!({
                "a": [{"AnnotationValue": {"NumberValue": 1.0}, "ServiceIds": [service("svc1", None)]}],
                "b": [{"AnnotationValue": {"BooleanValue": true}, "ServiceIds": [service("svc1", None)]}],
                "c": [{"AnnotationValue": {"StringValue": "x"}, "ServiceIds": [service("svc1", None)]}],
            })),
        ("A number beyond a double cannot be a NumberValue",
            vec![seg(1, 1.0, Some(2.0), r#","annotations":{"a":1e999}"#)], "/Annotations", json!({})),
        ("Users", vec![seg(1, 1.0, Some(2.0), r#","user":"ana""#)],
            "/Users", json!([{"UserName": "ana", "ServiceIds": [service("svc1", None)]}])),
        ("ServiceIds: origin is the type, account_id the account",
            vec![seg(1, 1.0, Some(2.0), r#","origin":"AWS::EC2::Instance","aws":{"account_id":"123"}"#)],
            "/ServiceIds", json!([{"Name": "svc1", "Names": ["svc1"], "AccountId": "123", "Type": "AWS::EC2::Instance"}])),
        ("ServiceIds: an inferred table is named after the table",
            vec![seg(1, 1.0, Some(2.0), &format!(r#","subsegments":[{nested_ddb}]"#))],
            "/ServiceIds/1", service("orders", Some("AWS::DynamoDB::Table"))),
        ("ServiceIds: a queue after the last part of its URL",
            vec![seg(1, 1.0, Some(2.0), &format!(r#","subsegments":[{}]"#,
                sub(3, 1.1, 1.2, r#","name":"sqs","namespace":"aws","aws":{"queue_url":"https://sqs/1/jobs"}"#)))],
            "/ServiceIds/1", service("jobs", Some("AWS::SQS::Queue"))),
        ("ServiceIds: a remote call is (name, remote)",
            vec![seg(1, 1.0, Some(2.0), &format!(r#","subsegments":[{}]"#, sub(3, 1.1, 1.2, r#","name":"db.local","namespace":"remote""#)))],
            "/ServiceIds/1", service("db.local", Some("remote"))),
        ("ServiceIds: an AWS call without a resource is AWS::<name>",
            vec![seg(1, 1.0, Some(2.0), &format!(r#","subsegments":[{}]"#, sub(3, 1.1, 1.2, r#","name":"SNS","namespace":"aws""#)))],
            "/ServiceIds/1", service("SNS", Some("AWS::SNS"))),
        ("ResourceARNs", vec![seg(1, 1.0, Some(2.0), r#","resource_arn":"arn:aws:x""#)], "/ResourceARNs", json!([{"ARN": "arn:aws:x"}])),
        ("InstanceIds", vec![seg(1, 1.0, Some(2.0), r#","aws":{"ec2":{"instance_id":"i-9","availability_zone":"us-east-1a"}}"#)],
            "/InstanceIds", json!([{"Id": "i-9"}])),
        ("AvailabilityZones", vec![seg(1, 1.0, Some(2.0), r#","aws":{"ec2":{"instance_id":"i-9","availability_zone":"us-east-1a"}}"#)],
            "/AvailabilityZones", json!([{"Name": "us-east-1a"}])),
        ("EntryPoint is the root's service", vec![seg(1, 1.0, Some(2.0), r#","origin":"AWS::ECS::Container""#)],
            "/EntryPoint", service("svc1", Some("AWS::ECS::Container"))),
        ("Revision", vec![seg(1, 1.0, Some(2.0), ""), seg(1, 1.0, Some(3.0), "")], "/Revision", json!(1)),
    ];
    for (rule, docs, pointer, expected) in table {
        let got = summary(&docs);
        assert_eq!(
            got.pointer(pointer).cloned().unwrap_or(Value::Null),
            expected,
            "{rule}"
        );
    }
}

#[test]
fn empty_collections_are_written_and_unknown_scalars_left_out() {
    // A trace of one orphan: no segment, no root.
    let orphan = r#"{"type":"subsegment","id":"0000000000000002","name":"s","trace_id":"1-581cf771-a006649127e371903a2de979","parent_id":"0000000000000001","start_time":1.0,"end_time":2.0}"#;
    let got = summary(&[orphan.to_owned()]);
    let expected = [
        "Id",
        "HasFault",
        "HasError",
        "HasThrottle",
        "IsPartial",
        "Http",
        "Annotations",
        "Users",
        "ServiceIds",
        "ResourceARNs",
        "InstanceIds",
        "AvailabilityZones",
        "FaultRootCauses",
        "ErrorRootCauses",
        "ResponseTimeRootCauses",
        "Revision",
    ];
    let mut keys: Vec<&str> = got
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut sorted = expected;
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    // Members come in the model's order.
    let mut text = Vec::new();
    TraceSummary::of(&traces(&[orphan.to_owned()])[0]).write_json(&mut text);
    let text = String::from_utf8(text).unwrap();
    let at: Vec<usize> = expected
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(got["Http"], json!({}));
    assert_eq!(got["Annotations"], json!({}));
    assert_eq!(got["IsPartial"], json!(true));
}

#[test]
fn annotation_keys_stop_at_fifty_and_values_merge_across_services() {
    let keys = |range: std::ops::Range<u32>| {
        let members: Vec<String> = range.map(|n| format!(r#""k{n:02}":{n}"#)).collect();
        format!(r#","annotations":{{{}}}"#, members.join(","))
    };
    let got = summary(&[
        seg(1, 1.0, Some(2.0), &keys(0..40)),
        seg(
            2,
            1.5,
            Some(1.8),
            &(r#","parent_id":"00000000000000ff""#.to_owned() + &keys(30..70)),
        ),
    ]);
    let annotations = got["Annotations"].as_object().unwrap();
    assert_eq!(annotations.len(), 50);
    assert!(annotations.contains_key("k49") && !annotations.contains_key("k50"));
    assert_eq!(
        annotations["k35"],
        json!([{"AnnotationValue": {"NumberValue": 35.0}, "ServiceIds": [service("svc1", None), service("svc2", None)]}])
    );
}

fn path_names(cause: &Value) -> Vec<Vec<String>> {
    cause["Services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["EntityPath"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["Name"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn fault_root_cause_walks_through_services_to_the_culprit() {
    let exceptions =
        r#"{"exceptions":[{"id":"00000000000000e1","type":"Boom","message":"it broke"}]}"#;
    let call = sub(
        3,
        1.1,
        1.6,
        r#","name":"worker","namespace":"remote","fault":true,"cause":"00000000000000e1""#,
    );
    let failing = sub(
        5,
        1.3,
        1.4,
        &format!(r#","name":"query","fault":true,"cause":{exceptions}"#),
    );
    let docs = [
        seg(
            1,
            1.0,
            Some(2.0),
            &format!(r#","fault":true,"subsegments":[{call}]"#),
        ),
        seg(
            2,
            1.2,
            Some(1.5),
            &format!(
                r#","name":"worker","parent_id":"0000000000000003","fault":true,"subsegments":[{failing}]"#
            ),
        ),
    ];
    let got = summary(&docs);
    let causes = got["FaultRootCauses"].as_array().unwrap();
    assert_eq!(causes.len(), 1);
    assert_eq!(
        path_names(&causes[0]),
        [vec!["svc1", "worker"], vec!["worker", "query"]]
    );
    assert_eq!(causes[0]["ClientImpacting"], json!(true));
    assert_eq!(
        causes[0]["Services"][0]["EntityPath"][1]["Remote"],
        json!(true)
    );
    assert_eq!(causes[0]["Services"][1]["Inferred"], json!(false));
    assert_eq!(
        causes[0]["Services"][0]["EntityPath"][0]["Exceptions"],
        json!([])
    );
    assert_eq!(
        causes[0]["Services"][1]["EntityPath"][1]["Exceptions"],
        json!([{"Name": "Boom", "Message": "it broke"}])
    );
    assert_eq!(got["ErrorRootCauses"], json!([]));
}

#[test]
fn a_culprit_inferred_node_takes_its_subsegment_exceptions() {
    let ddb = sub(
        3,
        1.1,
        1.2,
        r#","name":"DynamoDB","namespace":"aws","fault":true,"aws":{"table_name":"t"},"cause":{"exceptions":[{"id":"00000000000000e1","message":"m"}]}"#,
    );
    let got = summary(&[seg(
        1,
        1.0,
        Some(2.0),
        &format!(r#","fault":true,"subsegments":[{ddb}]"#),
    )]);
    let cause = &got["FaultRootCauses"][0];
    assert_eq!(
        path_names(cause),
        [vec!["svc1", "DynamoDB"], vec!["DynamoDB"]]
    );
    let culprit_service = &cause["Services"][1];
    assert_eq!(culprit_service["Name"], json!("t"));
    assert_eq!(culprit_service["Type"], json!("AWS::DynamoDB::Table"));
    assert_eq!(culprit_service["Inferred"], json!(true));
    assert_eq!(
        culprit_service["EntityPath"][0]["Exceptions"],
        json!([{"Message": "m"}])
    );
}

#[test]
fn error_root_causes_prefer_the_latest_ending_child_and_split_when_the_root_is_fine() {
    let a = sub(3, 1.1, 1.3, r#","name":"a","error":true"#);
    let b = sub(4, 1.2, 1.5, r#","name":"b","error":true"#);
    let c = sub(5, 1.6, 1.7, r#","name":"c""#);
    let got = summary(&[seg(
        1,
        1.0,
        Some(2.0),
        &format!(r#","error":true,"subsegments":[{a},{b},{c}]"#),
    )]);
    let causes = got["ErrorRootCauses"].as_array().unwrap();
    assert_eq!(causes.len(), 1);
    assert_eq!(path_names(&causes[0]), [vec!["svc1", "b"]]);

    let got = summary(&[seg(
        1,
        1.0,
        Some(2.0),
        &format!(r#","subsegments":[{a},{b},{c}]"#),
    )]);
    let causes = got["ErrorRootCauses"].as_array().unwrap();
    assert_eq!(causes.len(), 2);
    assert_eq!(path_names(&causes[0]), [vec!["svc1", "a"]]);
    assert_eq!(path_names(&causes[1]), [vec!["svc1", "b"]]);
    assert!(causes.iter().all(|c| c["ClientImpacting"] == json!(false)));
}

#[test]
fn response_time_root_cause_descends_while_a_child_takes_half_its_parent() {
    // Root 1.0 s; `slow` 0.6 s (≥ half) → descend; inside it `inner` 0.2 s (< half of 0.6) → stop.
    let inner = sub(4, 1.1, 1.3, r#","name":"inner""#);
    let slow = sub(
        3,
        1.0,
        1.6,
        &format!(r#","name":"slow","subsegments":[{inner}]"#),
    );
    let fast = sub(5, 1.6, 1.9, r#","name":"fast""#);
    let got = summary(&[seg(
        1,
        1.0,
        Some(2.0),
        &format!(r#","subsegments":[{slow},{fast}]"#),
    )]);
    let causes = got["ResponseTimeRootCauses"].as_array().unwrap();
    assert_eq!(causes.len(), 1);
    assert_eq!(path_names(&causes[0]), [vec!["svc1", "slow"]]);
    let path = &causes[0]["Services"][0]["EntityPath"];
    assert_eq!(path[0]["Coverage"], json!(1.0));
    assert!((path[1]["Coverage"].as_f64().unwrap() - 0.6).abs() < 1e-9);
    assert_eq!(causes[0]["ClientImpacting"], json!(true));
    assert!(path[0].get("Exceptions").is_none());

    // An instant root has no response-time root cause.
    let got = summary(&[seg(1, 1.0, Some(1.0), "")]);
    assert_eq!(got["ResponseTimeRootCauses"], json!([]));
}

#[test]
fn write_summaries_is_one_summary_per_trace_in_order_whatever_the_batch_size() {
    let docs: Vec<String> = (0..100u64)
        .map(|n| {
            format!(
                r#"{{"id":"{n:016x}","name":"s","trace_id":"1-581cf771-{n:024x}","start_time":1.0,"end_time":2.0}}"#
            )
        })
        .collect();
    let all = traces(&docs);
    for count in [0, 1, 100] {
        let mut out = Vec::new();
        write_summaries(&all[..count], &mut out);
        let parsed: Vec<Value> = serde_json::from_slice(&out).unwrap();
        let ids: Vec<String> = all[..count].iter().map(|t| t.id().to_string()).collect();
        let got: Vec<String> = parsed
            .iter()
            .map(|s| s["Id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, ids);
    }
}

#[test]
fn strings_are_escaped() {
    let got = summary(&[seg(
        1,
        1.0,
        Some(2.0),
        r#","user":"a\"b\\c\nd\u0001é","annotations":{"k\"ey":"v\tw"}"#,
    )]);
    assert_eq!(got["Users"][0]["UserName"], json!("a\"b\\c\nd\u{1}é"));
    assert_eq!(
        got["Annotations"]["k\"ey"][0]["AnnotationValue"]["StringValue"],
        json!("v\tw")
    );
}

fn summary_text(docs: &[String]) -> String {
    let mut out = Vec::new();
    TraceSummary::of(&traces(docs)[0]).write_json(&mut out);
    String::from_utf8(out).unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Summaries read the trace in output order, so arrival order never changes them.
    #[test]
    fn any_arrival_order_gives_the_same_summary(seed in proptest::prelude::any::<u64>()) {
        let streamed = |id: u64, parent: u64, start: f64, extra: &str| {
            format!(
                r#"{{"type":"subsegment","id":"{id:016x}","name":"s{id}","trace_id":"{TRACE}","parent_id":"{parent:016x}","start_time":{start},"end_time":{}{extra}}}"#,
                start + 0.1
            )
        };
        let mut docs = vec![
            seg(1, 1.0, Some(2.0), r#","fault":true,"annotations":{"a":1,"b":"x"},"user":"u1""#),
            streamed(2, 1, 1.1, r#","fault":true,"annotations":{"c":true,"a":2},"cause":{"exceptions":[{"id":"00000000000000e1","type":"T"}]}"#),
            streamed(3, 2, 1.12, r#","namespace":"aws","fault":true,"annotations":{"d":0.5}"#),
            streamed(4, 1, 1.3, r#","namespace":"remote","error":true"#),
            seg(5, 1.31, Some(1.35), r#","parent_id":"0000000000000004","error":true,"annotations":{"a":1,"e":"y"},"user":"u2""#),
        ];
        let expected = summary_text(&docs);
        let mut state = seed;
        for i in (1..docs.len()).rev() {
            state = xrfast_core::ids::splitmix64(state);
            docs.swap(i, (state % (i as u64 + 1)) as usize);
        }
        proptest::prop_assert_eq!(summary_text(&docs), expected);
    }

    /// Whatever the bytes, summarising what they assemble to never panics and is valid JSON.
    #[test]
    fn arbitrary_input_summarises_to_valid_json(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        if let Ok((traces, _, _)) = assemble_all(&bytes, Format::Auto, Limits::default()) {
            let mut out = Vec::new();
            write_summaries(&traces, &mut out);
            proptest::prop_assert!(serde_json::from_slice::<Value>(&out).is_ok());
        }
    }
}

#[test]
fn doubles_are_json_floats_and_short_far_from_one() {
    let docs = [seg(
        1,
        1.0,
        Some(3.0),
        r#","annotations":{"big":1e300,"small":1e-300,"int":7,"frac":0.1}"#,
    )];
    let mut out = Vec::new();
    TraceSummary::of(&traces(&docs)[0]).write_json(&mut out);
    let text = String::from_utf8(out).unwrap();
    for expected in [
        r#""StartTime":1.0,"Duration":2.0,"ResponseTime":2.0"#,
        r#"{"NumberValue":1e300}"#,
        r#"{"NumberValue":1e-300}"#,
        r#"{"NumberValue":7.0}"#,
        r#"{"NumberValue":0.1}"#,
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
}
