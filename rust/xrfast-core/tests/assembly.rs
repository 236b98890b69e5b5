//! Assembly through the public core API: the rules of docs/assembly.md, limits and counters,
//! virtual time, and two properties (order does not matter; no input panics).

// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use proptest::prelude::*;
use xrfast_core::assemble::assemble_all;
use xrfast_core::{Assembler, Counters, Format, Limits, Trace};

const TRACE: &str = "1-581cf771-a006649127e371903a2de979";

fn segment(id: &str, start: f64, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","name":"svc-{id}","trace_id":"{TRACE}","start_time":{start},"end_time":{}{extra}}}"#,
        start + 1.0
    )
}

fn subsegment(id: &str, parent: &str, start: f64, extra: &str) -> String {
    format!(
        r#"{{"type":"subsegment","id":"{id}","name":"sub-{id}","trace_id":"{TRACE}","parent_id":"{parent}","start_time":{start},"end_time":{}{extra}}}"#,
        start + 0.1
    )
}

fn assemble(docs: &[String]) -> (Vec<Trace>, Counters) {
    let input = docs.join("\n") + "\n";
    let (traces, errors, counters) =
        assemble_all(input.as_bytes(), Format::Ndjson, Limits::default()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    (traces, counters)
}

fn documents(trace: &Trace) -> Vec<String> {
    trace
        .segments()
        .iter()
        .map(|&s| {
            let mut out = Vec::new();
            trace.write_document(s, &mut out);
            String::from_utf8(out).unwrap()
        })
        .collect()
}

#[test]
fn streamed_subsegments_are_nested_under_parents_that_arrive_later() {
    let a = "000000000000000a";
    let docs = [
        subsegment("0000000000000003", "0000000000000002", 10.3, ""), // child of a nested one
        subsegment("0000000000000004", a, 10.4, ""),
        segment(
            a,
            10.0,
            r#","subsegments":[{"id":"0000000000000002","name":"n","start_time":10.2,"end_time":10.9}],"user":"u""#,
        ),
    ];
    let (traces, counters) = assemble(&docs);
    assert_eq!(counters.documents_accepted, 3);
    let [trace] = &traces[..] else {
        panic!("one trace")
    };
    assert!(!trace.is_partial());
    assert_eq!(
        documents(trace),
        [format!(
            r#"{{"id":"{a}","name":"svc-{a}","trace_id":"{TRACE}","start_time":10,"end_time":11,"subsegments":[{{"id":"0000000000000002","name":"n","start_time":10.2,"end_time":10.9,"subsegments":[{}]}},{}],"user":"u"}}"#,
            docs[0], docs[1]
        )]
    );
}

#[test]
fn same_id_rules_replace_ignore_and_count_revisions() {
    let a = "000000000000000a";
    let in_progress = format!(
        r#"{{"id":"{a}","name":"early","trace_id":"{TRACE}","start_time":1,"in_progress":true}}"#
    );
    // in progress, then complete: replaced.
    let (traces, _) = assemble(&[in_progress.clone(), segment(a, 1.0, "")]);
    assert!(!traces[0].is_partial());
    assert!(documents(&traces[0])[0].contains("svc-"));
    // complete, then in progress: the fragment never undoes the completion.
    let (traces, _) = assemble(&[segment(a, 1.0, ""), in_progress.clone()]);
    assert!(!traces[0].is_partial());
    assert_eq!(traces[0].revision(), 0);
    // complete twice: last write wins, revision bumped.
    let (traces, _) = assemble(&[segment(a, 1.0, ""), segment(a, 1.0, r#","user":"second""#)]);
    assert_eq!(traces[0].revision(), 1);
    assert!(documents(&traces[0])[0].contains("second"));
    // only in progress: partial.
    let (traces, _) = assemble(&[in_progress]);
    assert!(traces[0].is_partial());
}

#[test]
fn orphans_are_left_out_but_make_the_trace_partial() {
    let (traces, _) = assemble(&[
        segment("000000000000000a", 1.0, ""),
        subsegment("0000000000000005", "00000000000000ff", 1.2, ""),
    ]);
    assert!(traces[0].is_partial());
    assert_eq!(documents(&traces[0]).len(), 1);
    assert!(!documents(&traces[0])[0].contains("0000000000000005"));
}

#[test]
fn aws_and_remote_subsegments_get_inferred_segments_unless_the_callee_reports() {
    let a = "000000000000000a";
    let subs = r#","subsegments":[
        {"id":"0000000000000001","name":"dynamodb","namespace":"aws","start_time":1.1,"end_time":1.2,"aws":{"table_name":"orders"},"throttle":true},
        {"id":"0000000000000002","name":"api.stripe.com","namespace":"remote","start_time":1.3,"end_time":1.4},
        {"id":"0000000000000003","name":"inventory","namespace":"remote","start_time":1.5,"end_time":1.6,"http":{"request":{"traced":true}}}]"#
        .replace('\n', "");
    let subs = subs.as_str();
    let downstream = format!(
        r#"{{"id":"000000000000000b","name":"inventory","trace_id":"{TRACE}","parent_id":"0000000000000003","start_time":1.51,"end_time":1.59}}"#
    );
    let (traces, _) = assemble(&[segment(a, 1.0, subs), downstream.clone()]);
    let trace = &traces[0];
    assert!(!trace.is_partial(), "the traced call's callee reported");
    let docs = documents(trace);
    assert_eq!(
        docs.len(),
        4,
        "two real segments and two inferred ones: {docs:#?}"
    );
    let inferred_dynamo = docs
        .iter()
        .find(|d| d.contains(r#""inferred":true"#) && d.contains("dynamodb"))
        .unwrap();
    let id = xrfast_core::SegmentId(0x1).inferred(xrfast_core::TraceId::parse(TRACE).unwrap());
    assert_eq!(
        inferred_dynamo,
        &format!(
            r#"{{"id":"{id}","name":"dynamodb","start_time":1.1,"end_time":1.2,"parent_id":"0000000000000001","trace_id":"{TRACE}","inferred":true,"origin":"AWS::DynamoDB::Table","aws":{{"table_name":"orders"}},"throttle":true}}"#
        )
    );
    assert!(docs
        .iter()
        .any(|d| d.contains(r#""name":"api.stripe.com""#) && d.contains(r#""origin":"remote""#)));
    // Without the downstream segment, the traced call leaves the trace partial and inferred.
    let (traces, _) = assemble(&[segment(a, 1.0, subs)]);
    assert!(traces[0].is_partial());
    assert_eq!(documents(&traces[0]).len(), 4);
}

#[test]
fn the_root_is_the_earliest_segment_whose_parent_is_not_in_the_trace() {
    let (traces, _) = assemble(&[
        segment(
            "000000000000000b",
            2.0,
            r#","parent_id":"00000000000000ff""#,
        ),
        segment("000000000000000a", 2.0, ""),
        segment(
            "000000000000000c",
            1.0,
            r#","parent_id":"000000000000000a""#,
        ),
    ]);
    let trace = &traces[0];
    let root = trace.segments()[trace.root().unwrap()];
    assert_eq!(
        trace.segment_id(root).to_string(),
        "000000000000000a",
        "ties go to the smaller id"
    );
    assert!((trace.duration() - 2.0).abs() < 1e-9);
}

#[test]
fn complete_traces_wait_for_idle_timeout_and_incomplete_ones_for_incomplete_timeout() {
    let limits = Limits {
        idle_timeout: 5.0,
        incomplete_timeout: 60.0,
        ..Limits::default()
    };
    let mut assembler = Assembler::new(limits);
    let mut errors = Vec::new();
    let complete = segment("000000000000000a", 1.0, "");
    let other_trace = segment("000000000000000b", 1.0, "")
        .replace("a006649127e371903a2de979", "b006649127e371903a2de979");
    let partial = other_trace.replace(r#""end_time":2"#, r#""in_progress":true"#);
    assembler
        .add_bytes(
            format!("{complete}\n{partial}").as_bytes(),
            Format::Auto,
            0,
            100.0,
            &mut errors,
        )
        .unwrap();
    assert!(assembler.pop_complete(104.9).is_empty());
    let ready = assembler.pop_complete(105.0);
    assert_eq!(ready.len(), 1);
    assert!(!ready[0].is_partial());
    assert!(assembler.pop_complete(159.0).is_empty());
    // News completes the partial trace: it is looked at again after idle_timeout, not at 160.
    assembler
        .add_bytes(
            other_trace.as_bytes(),
            Format::Document,
            0,
            150.0,
            &mut errors,
        )
        .unwrap();
    let ready = assembler.pop_complete(155.0);
    assert_eq!(ready.len(), 1);
    assert!(!ready[0].is_partial());
    assert_eq!(assembler.counters().traces_emitted, 2);
    assert_eq!(assembler.open_traces(), 0);
    assert!(errors.is_empty());
}

#[test]
fn limits_evict_and_drop_and_every_document_is_counted() {
    let limits = Limits {
        max_open_traces: 10,
        max_trace_bytes: 400,
        ..Limits::default()
    };
    let mut assembler = Assembler::new(limits);
    let mut errors = Vec::new();
    let mut input = String::new();
    for n in 0..100u32 {
        let trace = format!("1-581cf771-{n:024x}");
        input += &segment("000000000000000a", 1.0, "").replace(TRACE, &trace);
        input += "\n";
    }
    // Three documents for one trace: the third passes max_trace_bytes and is dropped.
    for n in 1..=3 {
        input += &subsegment(
            &format!("00000000000000{n:02x}"),
            "000000000000000a",
            1.1,
            "",
        );
        input += "\n";
    }
    input += "not json\n";
    assembler
        .add_bytes(input.as_bytes(), Format::Ndjson, 0, 0.0, &mut errors)
        .unwrap();
    let c = assembler.counters();
    assert!(assembler.open_traces() <= 10);
    assert_eq!(c.documents_received, 104);
    assert_eq!(c.documents_rejected, 1);
    assert!(c.documents_dropped >= 1);
    assert_eq!(
        c.documents_received,
        c.documents_accepted + c.documents_rejected + c.documents_dropped
    );
    assert!(c.traces_evicted >= 90);
    let traces = assembler.flush();
    assert!(traces.iter().any(Trace::limit_exceeded));
    assert_eq!(errors.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_order_of_a_traces_documents_assembles_to_the_same_json(seed in any::<u64>()) {
        let a = "000000000000000a";
        let mut docs = vec![
            segment(a, 1.0, r#","subsegments":[{"id":"0000000000000001","name":"n","start_time":1.1,"end_time":1.2}]"#),
            subsegment("0000000000000002", "0000000000000001", 1.11, ""),
            subsegment("0000000000000003", "0000000000000002", 1.12, r#","namespace":"aws""#),
            subsegment("0000000000000004", a, 1.3, r#","namespace":"remote""#),
            segment("000000000000000b", 1.31, r#","parent_id":"0000000000000004""#),
        ];
        let expected = documents(&assemble(&docs).0[0]);
        // A seeded shuffle (Fisher-Yates over a SplitMix64 stream).
        let mut state = seed;
        for i in (1..docs.len()).rev() {
            state = xrfast_core::ids::splitmix64(state);
            docs.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(documents(&assemble(&docs).0[0]), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_are_all_counted(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::Auto, Format::Ndjson, Format::Array, Format::Datagram, Format::PutTraceSegments, Format::BatchGetTraces] {
            if let Ok((_, errors, counters)) = assemble_all(&bytes, format, Limits::default()) {
                prop_assert_eq!(counters.documents_rejected as usize, errors.len());
                prop_assert_eq!(counters.documents_received, counters.documents_accepted + counters.documents_rejected + counters.documents_dropped);
            }
        }
    }
}
