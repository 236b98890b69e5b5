//! Table-driven tests of document validation: every error code, with its whole message.

// Tests and measuring tools fail by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    missing_docs
)]

use xrfast_core::document::{parse_document, DocumentLimits, Kind, Namespace};
use xrfast_core::{DocumentError, ErrorCode};

const TRACE: &str = "1-581cf771-a006649127e371903a2de979";

fn parse(text: &str) -> Vec<Result<usize, DocumentError>> {
    parse_bytes(text.as_bytes(), DocumentLimits::default())
}

fn parse_bytes(text: &[u8], limits: DocumentLimits) -> Vec<Result<usize, DocumentError>> {
    let mut out = Vec::new();
    parse_document(text, 7, limits, &mut |r| {
        out.push(r.map(|d| d.entities.len()));
    });
    out
}

fn error(text: &str) -> DocumentError {
    match parse(text).pop() {
        Some(Err(e)) => e,
        other => panic!("expected an error for {text}, got {other:?}"),
    }
}

fn segment(extra: &str) -> String {
    format!(
        r#"{{"id":"70de5b6f19ff9a0a","name":"api","trace_id":"{TRACE}","start_time":10.5,"end_time":11.0{extra}}}"#
    )
}

#[test]
fn a_valid_segment_flattens_nested_subsegments() {
    let text = segment(
        r#","subsegments":[{"id":"0000000000000001","name":"a","start_time":10.6,"end_time":10.7,"namespace":"aws",
            "subsegments":[{"id":"0000000000000002","name":"b","start_time":10.61,"in_progress":true}]}]"#,
    );
    let mut docs = Vec::new();
    parse_document(text.as_bytes(), 0, DocumentLimits::default(), &mut |r| {
        docs.push(r);
    });
    let doc = docs.pop().unwrap().unwrap();
    assert_eq!(doc.trace_id.to_string(), TRACE);
    let ids: Vec<String> = doc.entities.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(
        ids,
        ["70de5b6f19ff9a0a", "0000000000000001", "0000000000000002"]
    );
    assert_eq!(doc.entities[0].kind, Kind::Segment);
    assert_eq!(doc.entities[1].kind, Kind::Subsegment);
    assert_eq!(
        doc.entities[1].parent.unwrap().to_string(),
        "70de5b6f19ff9a0a"
    );
    assert_eq!(
        doc.entities[2].parent.unwrap().to_string(),
        "0000000000000001"
    );
    assert_eq!(doc.entities[1].namespace, Namespace::Aws);
    assert!(doc.entities[2].in_progress());
}

#[test]
fn every_error_has_a_code_and_a_whole_message() {
    let cases: &[(String, ErrorCode, &str)] = &[
        (
            r#"{"name":"api","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1,"end_time":2}"#.into(),
            ErrorCode::MissingId,
            "Invalid segment. ErrorCode: MissingId: the segment has no \"id\" (at byte 0)",
        ),
        (
            segment("").replace("70de5b6f19ff9a0a", "70DE5B6F19FF9A0A"),
            ErrorCode::InvalidId,
            "Invalid segment. ErrorCode: InvalidId: id \"70DE5B6F19FF9A0A\" is not 16 lowercase hex digits (at byte 6)",
        ),
        (
            segment("").replace(r#""name":"api","#, ""),
            ErrorCode::MissingName,
            "Invalid segment. ErrorCode: MissingName: the segment has no \"name\" (at byte 0)",
        ),
        (
            segment("").replace(r#""name":"api""#, r#""name":"a?b""#),
            ErrorCode::InvalidName,
            "Invalid segment. ErrorCode: InvalidName: name \"a?b\" contains '?'; names may hold letters, digits, spaces and _ . : / % & # = + \\ - @ (at byte 32)",
        ),
        (
            segment("").replace(&format!(r#""trace_id":"{TRACE}","#), ""),
            ErrorCode::MissingTraceId,
            "Invalid segment. ErrorCode: MissingTraceId: the document has no \"trace_id\"",
        ),
        (
            segment("").replace(TRACE, "1-581cf771-a0066491"),
            ErrorCode::InvalidTraceId,
            "Invalid segment. ErrorCode: InvalidTraceId: trace_id \"1-581cf771-a0066491\" is not 1-<8 hex digits>-<24 hex digits> (at byte 49)",
        ),
        (
            segment("").replace(r#""start_time":10.5,"#, ""),
            ErrorCode::MissingStartTime,
            "Invalid segment. ErrorCode: MissingStartTime: the segment has no \"start_time\" (at byte 0)",
        ),
        (
            segment("").replace("10.5", "-1"),
            ErrorCode::InvalidStartTime,
            "Invalid segment. ErrorCode: InvalidStartTime: start_time -1 is not a non-negative number of epoch seconds (at byte 100)",
        ),
        (
            segment("").replace("11.0", "9.5"),
            ErrorCode::InvalidEndTime,
            "Invalid segment. ErrorCode: InvalidEndTime: end_time 9.5 is before start_time 10.5 (at byte 0)",
        ),
        (
            segment("").replace(r#","end_time":11.0"#, r#","in_progress":false"#),
            ErrorCode::MissingEndTimeOrInProgress,
            "Invalid segment. ErrorCode: MissingEndTimeOrInProgress: the document has neither \"end_time\" nor \"in_progress\": true (at byte 0)",
        ),
        (
            segment(r#","type":"subsegment""#),
            ErrorCode::MissingParentId,
            "Invalid segment. ErrorCode: MissingParentId: the segment has no \"parent_id\" (at byte 0)",
        ),
        (
            segment(r#","parent_id":"xyz""#),
            ErrorCode::InvalidParentId,
            "Invalid segment. ErrorCode: InvalidParentId: parent_id \"xyz\" is not 16 lowercase hex digits (at byte 133)",
        ),
        (
            segment(r#","subsegments":[{"id":"0000000000000001","name":"bad!","start_time":1,"end_time":2}]"#),
            ErrorCode::InvalidName,
            "Invalid subsegment. ErrorCode: InvalidName: name \"bad!\" contains '!'; names may hold letters, digits, spaces and _ . : / % & # = + \\ - @ (at byte 168)",
        ),
        (
            segment(r#","id":"70de5b6f19ff9a0b""#),
            ErrorCode::InvalidJson,
            "Invalid segment. ErrorCode: InvalidJson: duplicate key \"id\" (at byte 126)",
        ),
        (
            segment(r#","annotations":{"k":{"nested":1}}"#),
            ErrorCode::InvalidDocument,
            "Invalid segment. ErrorCode: InvalidDocument: annotation \"k\" is an object; annotation values are strings, numbers or booleans (at byte 140)",
        ),
        (
            segment(r#","cause":"not-an-id""#),
            ErrorCode::InvalidDocument,
            "Invalid segment. ErrorCode: InvalidDocument: cause \"not-an-id\" is neither an object nor a 16-hex-digit exception id (at byte 129)",
        ),
        (
            segment(r#","subsegments":{}"#),
            ErrorCode::InvalidDocument,
            "Invalid segment. ErrorCode: InvalidDocument: \"subsegments\" must be an array, found an object (at byte 135)",
        ),
        ("[]".into(), ErrorCode::MissingId, "Invalid segment. ErrorCode: MissingId: empty array document"),
        (
            "42".into(),
            ErrorCode::InvalidDocument,
            "Invalid segment. ErrorCode: InvalidDocument: a segment document must be a JSON object or an array of subsegments (at byte 0)",
        ),
        (
            segment(r#","metadata":{"a":[1,}}"#),
            ErrorCode::InvalidJson,
            "Invalid segment. ErrorCode: InvalidJson: Invalid JSON value (at byte 140)",
        ),
        (segment("") + "x", ErrorCode::InvalidJson, "Invalid segment. ErrorCode: InvalidJson: unexpected text after the document's closing brace (at byte 121)"),
    ];
    for (text, code, message) in cases {
        let e = error(text);
        assert_eq!(
            (e.code, e.message().as_str()),
            (*code, *message),
            "for {text}"
        );
        assert_eq!(e.index, 7);
    }
}

#[test]
fn the_id_of_a_bad_document_is_reported_when_it_can_be_read() {
    let e = error(&segment("").replace("10.5", "\"soon\""));
    assert_eq!(e.segment_id.as_deref(), Some("70de5b6f19ff9a0a"));
    // An invalid nested subsegment names itself, as X-Ray does.
    let e = error(&segment(
        r#","subsegments":[{"id":"0000000000000001","name":"b","start_time":1}]"#,
    ));
    assert_eq!(e.segment_id.as_deref(), Some("0000000000000001"));
    assert!(e.in_subsegment);
    // Even broken JSON gives up its id when one is there to find.
    let e = error(r#"{"id": "70de5b6f19ff9a0a", "name": "#);
    assert_eq!(
        (e.code, e.segment_id.as_deref()),
        (ErrorCode::InvalidJson, Some("70de5b6f19ff9a0a"))
    );
}

#[test]
fn invalid_utf8_nan_and_infinity_are_rejected_as_json_errors() {
    let mut bytes = segment("").into_bytes();
    bytes[29] = 0xff;
    let e = parse_bytes(&bytes, DocumentLimits::default())
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        e.message(),
        "Invalid segment. ErrorCode: InvalidJson: document is not valid UTF-8 (at byte 29)"
    );
    for bad in ["NaN", "Infinity", "-Infinity", "1e999"] {
        let e = error(&segment("").replace("10.5", bad));
        assert!(
            matches!(
                e.code,
                ErrorCode::InvalidJson | ErrorCode::InvalidStartTime | ErrorCode::InvalidDocument
            ),
            "{bad}: {e}"
        );
    }
}

#[test]
fn size_and_depth_limits_are_errors_not_crashes() {
    let limits = DocumentLimits {
        max_document_bytes: 100,
        ..DocumentLimits::default()
    };
    let e = parse_bytes(segment("").as_bytes(), limits)
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.message(), "Invalid segment. ErrorCode: DocumentTooLarge: document is larger than the limit of 100 bytes (121 bytes read)");

    // Subsegments nested past `max_depth`.
    let nest = |levels: usize| {
        let mut deep = segment(",\"subsegments\":[")
            .trim_end_matches('}')
            .to_owned();
        deep.push_str(
            &r#"{"id":"0000000000000001","name":"n","start_time":11,"end_time":12,"subsegments":["#
                .repeat(levels),
        );
        deep.push_str(&"]}".repeat(levels));
        deep.push_str("]}");
        deep
    };
    let limits = DocumentLimits {
        max_document_bytes: usize::MAX,
        ..DocumentLimits::default()
    };
    let e = parse_bytes(nest(100).as_bytes(), limits)
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (e.code, e.detail.as_str()),
        (
            ErrorCode::NestingTooDeep,
            "subsegments are nested deeper than the limit of 64"
        )
    );

    // 10,000 levels, of subsegments or of arrays in opaque metadata, closed or not: stopped by
    // the JSON depth check before the parser can recurse into them.
    let metadata = format!(
        r#","metadata":{{"deep":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let unclosed = format!(r#","metadata":{{"deep":{}}}"#, "[".repeat(10_000));
    for text in [nest(10_000), segment(&metadata), segment(&unclosed)] {
        let e = parse_bytes(text.as_bytes(), limits)
            .pop()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (e.code, e.detail.as_str()),
            (
                ErrorCode::NestingTooDeep,
                "JSON is nested deeper than the limit of 512 levels"
            )
        );
    }
    // Brackets inside strings do not count.
    let quoted = format!(r#","metadata":{{"text":"{}"}}"#, "[{".repeat(5_000));
    assert_eq!(
        parse_bytes(segment(&quoted).as_bytes(), limits)
            .pop()
            .unwrap()
            .unwrap(),
        1
    );
}

#[test]
fn an_array_document_reports_each_element() {
    let good = segment(r#","type":"subsegment","parent_id":"0000000000000009""#);
    let text = format!("[{good}, 5, {}]", good.replace("10.5", "-3"));
    let results = parse(&text);
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap(), &1);
    assert_eq!(
        results[1].as_ref().unwrap_err().detail,
        "array element is a number, not an object"
    );
    assert_eq!(
        results[2].as_ref().unwrap_err().code,
        ErrorCode::InvalidStartTime
    );
    // A whole segment inside an array is not what X-Ray accepts there.
    assert_eq!(
        parse(&format!("[{}]", segment("")))
            .pop()
            .unwrap()
            .unwrap_err()
            .code,
        ErrorCode::InvalidDocument
    );
}

#[test]
fn in_progress_wins_over_an_end_time_and_flags_are_read() {
    let text = segment(
        r#","in_progress":true,"fault":true,"error":false,"http":{"request":{"traced":true}},"cause":"0000000000000003""#,
    );
    let mut docs = Vec::new();
    parse_document(text.as_bytes(), 0, DocumentLimits::default(), &mut |r| {
        docs.push(r);
    });
    let e = &docs[0].as_ref().unwrap().entities[0];
    assert!(e.in_progress());
    assert_eq!(e.flags.bits(), 4 | 8 | 16);
}

#[test]
fn members_assembly_does_not_read_still_have_their_json_types_checked() {
    for (member, expected, found) in [
        (r#""user":7"#, "a string", "a number"),
        (r#""origin":{}"#, "a string", "an object"),
        (r#""resource_arn":[]"#, "a string", "an array"),
        (r#""service":"python""#, "an object", "a string"),
        (r#""sql":[]"#, "an object", "an array"),
        (r#""metadata":1"#, "an object", "a number"),
        (
            r#""precursor_ids":"0000000000000001""#,
            "an array",
            "a string",
        ),
        (r#""links":{}"#, "an array", "an object"),
    ] {
        let e = error(&segment(&format!(",{member}")));
        let key = member.split('"').nth(1).unwrap();
        assert_eq!(e.code, ErrorCode::InvalidDocument, "{member}");
        assert_eq!(
            e.detail,
            format!("\"{key}\" must be {expected}, found {found}")
        );
    }
}
