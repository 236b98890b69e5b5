//! Filter expressions through the public core API (spec §6): every keyword of §6.2 with a
//! passing test, every example of §6.3 with the traces it matches, error messages asserted
//! whole, and properties (De Morgan, commutativity, `!!e == e`, random text never panics).

// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use proptest::prelude::*;
use xrfast_core::assemble::assemble_all;
use xrfast_core::filter::{
    self, compile, compile_with, CompileOptions, EntitySelector, FilterError, Group, TraceContext,
    MAX_DEPTH_LIMIT,
};
use xrfast_core::graph::{Selector, ServiceGraph};
use xrfast_core::summary::ServiceId;
use xrfast_core::{Format, Limits, Trace};

/// Five traces that between them give every keyword something to find (ids end in 0..4):
///
/// * T0 `api.example.com` (6.5 s, fault, 500, user alice, annotations gameid/account, EC2
///   facts) calls `backend.example.com` (a traced remote call that returned 404 after 5.5 s);
/// * T1 `api.example.com`, 1 s, 200, user alice, annotations age = 30, vip = true;
/// * T2 `data-plane` (2 s, fault 502, an "Access Denied" exception) calls the Lambda function
///   `random-name` (inferred, error) and the Lambda service `random-name` (its own segment);
/// * T3 `GetWeatherData` (behind api.example.com/v2) → `get_temperature` → `Auth`, all
///   faulted, the response time spent mostly in `Auth`;
/// * T4 `api.example.com` still in progress, user bob, whose `backend.example.com` answered
///   429 (throttle).
const DOCS: &[&str] = &[
    // T0
    r#"{"id":"0000000000000001","name":"api.example.com","trace_id":"1-581cf771-a006649127e371903a2de970","start_time":0.0,"end_time":6.5,"fault":true,"user":"alice","resource_arn":"arn:aws:ec2:us-east-1:123456789012:instance/i-0abc","annotations":{"gameid":"817DL6VO","account":"12345"},"aws":{"ec2":{"instance_id":"i-0abc","availability_zone":"us-east-1a"}},"http":{"request":{"method":"GET","url":"http://api.example.com/v2/api/game/1","user_agent":"curl/8.0","client_ip":"10.0.0.1"},"response":{"status":500}},"subsegments":[{"id":"0000000000000011","name":"backend.example.com","namespace":"remote","start_time":0.5,"end_time":6.0,"error":true,"http":{"request":{"method":"POST","url":"http://backend.example.com/games","traced":true},"response":{"status":404}}}]}"#,
    r#"{"id":"0000000000000002","name":"backend.example.com","trace_id":"1-581cf771-a006649127e371903a2de970","parent_id":"0000000000000011","start_time":0.6,"end_time":5.9,"error":true,"http":{"request":{"method":"POST","url":"http://backend.example.com/games"},"response":{"status":404}}}"#,
    // T1
    r#"{"id":"0000000000000003","name":"api.example.com","trace_id":"1-581cf771-a006649127e371903a2de971","start_time":100.0,"end_time":101.0,"user":"alice","annotations":{"age":30,"vip":true,"build.version":"1.2"},"http":{"request":{"method":"GET","url":"http://api.example.com/v1/users"},"response":{"status":200}}}"#,
    // T2
    r#"{"id":"0000000000000004","name":"data-plane","trace_id":"1-581cf771-a006649127e371903a2de972","start_time":200.0,"end_time":202.0,"fault":true,"origin":"AWS::EC2::Instance","http":{"response":{"status":502}},"cause":{"exceptions":[{"id":"00000000000000e1","type":"AccessDeniedException","message":"Access Denied for account_id: 1234567890"}]},"subsegments":[{"id":"0000000000000031","name":"Lambda","namespace":"aws","start_time":200.1,"end_time":200.3,"error":true,"aws":{"function_name":"random-name","account_id":"999"},"http":{"response":{"status":403}}},{"id":"0000000000000032","name":"random-name","namespace":"remote","start_time":200.4,"end_time":200.9,"http":{"request":{"traced":true}}}]}"#,
    r#"{"id":"0000000000000005","name":"random-name","trace_id":"1-581cf771-a006649127e371903a2de972","parent_id":"0000000000000032","origin":"AWS::Lambda","start_time":200.45,"end_time":200.85}"#,
    // T3
    r#"{"id":"0000000000000006","name":"GetWeatherData","trace_id":"1-581cf771-a006649127e371903a2de973","start_time":300.0,"end_time":301.0,"fault":true,"http":{"request":{"url":"http://api.example.com/v2/weather"},"response":{"status":500}},"subsegments":[{"id":"0000000000000051","name":"get_temperature","namespace":"remote","start_time":300.1,"end_time":300.9,"fault":true,"http":{"request":{"traced":true}}}]}"#,
    r#"{"id":"0000000000000007","name":"Auth","trace_id":"1-581cf771-a006649127e371903a2de973","parent_id":"0000000000000051","start_time":300.15,"end_time":300.85,"fault":true,"cause":{"exceptions":[{"id":"00000000000000e2","type":"AuthError","message":"token expired"}]}}"#,
    // T4
    r#"{"id":"0000000000000008","name":"api.example.com","trace_id":"1-581cf771-a006649127e371903a2de974","start_time":400.0,"in_progress":true,"user":"bob"}"#,
    r#"{"id":"0000000000000071","type":"subsegment","name":"backend.example.com","namespace":"remote","trace_id":"1-581cf771-a006649127e371903a2de974","parent_id":"0000000000000008","start_time":400.2,"end_time":407.0,"http":{"request":{"traced":true}}}"#,
    r#"{"id":"0000000000000009","name":"backend.example.com","trace_id":"1-581cf771-a006649127e371903a2de974","parent_id":"0000000000000071","start_time":400.5,"end_time":407.0,"throttle":true,"error":true,"http":{"response":{"status":429}}}"#,
];

fn traces() -> Vec<Trace> {
    let input = DOCS.join("\n") + "\n";
    let (mut traces, errors, _) =
        assemble_all(input.as_bytes(), Format::Ndjson, Limits::default()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    traces.sort_by_key(Trace::id);
    assert_eq!(traces.len(), 5);
    traces
}

fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "high_response_time".into(),
            arn: Some("arn:aws:xray:us-east-1:123456789012:group/high_response_time/AB12".into()),
            filter_expression: Some("responsetime > 5".into()),
        },
        Group {
            name: "Default".into(),
            arn: None,
            filter_expression: None,
        },
        Group {
            name: "faulty_slow".into(),
            arn: None,
            filter_expression: Some(r#"fault AND group.name = "high_response_time""#.into()),
        },
        Group {
            name: "loop_a".into(),
            arn: None,
            filter_expression: Some(r#"group.name = "loop_b""#.into()),
        },
        Group {
            name: "loop_b".into(),
            arn: None,
            filter_expression: Some(r#"ok OR group.name = "loop_a""#.into()),
        },
        Group {
            name: "broken".into(),
            arn: None,
            filter_expression: Some("responsetime >".into()),
        },
    ]
}

/// Which of the five traces `expression` matches.
fn matching(traces: &[Trace], expression: &str) -> Vec<usize> {
    let filter = compile_with(expression, &groups(), &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{expression}: {e}"));
    filter.select(traces)
}

#[test]
fn every_example_of_the_spec_matches_what_it_says() {
    let traces = traces();
    #[rustfmt::skip]
    let table: &[(&str, &[usize])] = &[
        ("responsetime > 5", &[0]),
        ("duration >= 5 AND duration <= 8", &[0, 4]),
        ("ok !partial duration < 3", &[1]),
        ("http.status != 200", &[0, 2, 3, 4]),
        (r#"http.url CONTAINS "/api/game/""#, &[0]),
        (r#"user CONTAINS """#, &[0, 1, 4]),
        (r#"annotation.gameid = "817DL6VO""#, &[0]),
        ("!annotation.age", &[0, 2, 3, 4]),
        ("annotation.age > 29", &[1]),
        (r#"service("api.example.com") { fault }"#, &[0]),
        ("service() { fault }", &[0, 2, 3]),
        (r#"edge("api.example.com", "backend.example.com") { error }"#, &[0]),
        (r#"service(id(name: "random-name", type: "AWS::Lambda::Function")) { error }"#, &[2]),
        (r#"service(id(type: "AWS::Lambda::Function")) { error }"#, &[2]),
        (r#"http.url BEGINSWITH "http://api.example.com/" AND http.url CONTAINS "/v2/" AND !service("api.example.com")"#, &[3]),
        (r#"service("data-plane") { root = true and fault = true }"#, &[2]),
        (r#"rootcause.fault.service { name = "Auth" }"#, &[3]),
        // T1 and T2 have no child taking half their time: their path is the root alone (1.0).
        ("rootcause.responsetime.entity { last and coverage > 0.8 }", &[0, 1, 2]),
        (r#"rootcause.fault.exception { last and message = "Access Denied for account_id: 1234567890" }"#, &[2]),
        (r#"group.name = "high_response_time" AND user = "alice""#, &[0]),
        (r#"rootcause.json = #[{ "Services": [ { "Name": "GetWeatherData", "EntityPath": [ { "Name": "GetWeatherData" }, { "Name": "get_temperature" } ] } ] }]"#, &[3]),
        (r#"service("api.example.com") { fault = true OR responsetime > 2.5 } AND annotation.account = "12345""#, &[0]),
    ];
    for (expression, expected) in table {
        assert_eq!(&matching(&traces, expression), expected, "{expression}");
    }
}

#[test]
fn every_keyword_has_a_passing_test() {
    let traces = traces();
    #[rustfmt::skip]
    let table: &[(&str, &[usize])] = &[
        // Booleans at the top level: the root's fault/error, any segment's throttle (spec §10 Q14).
        ("ok", &[1]),
        ("error", &[]),
        ("throttle", &[4]),
        ("fault", &[0, 2, 3]),
        ("partial", &[4]),
        // Only T2's Lambda call has no segment of its own; the other callees sent theirs.
        ("inferred", &[2]),
        ("fault = false", &[1, 4]),
        ("fault != true", &[1, 4]),
        ("FAULT = TRUE", &[0, 2, 3]),
        // Inside service/edge blocks: the entity's own flags, or its status (as the graph counts).
        (r#"service("backend.example.com") { error }"#, &[0, 4]),
        (r#"service("backend.example.com") { throttle }"#, &[4]),
        (r#"service("backend.example.com") { ok }"#, &[]),
        (r#"service("api.example.com") { ok }"#, &[1, 4]),
        (r#"service("random-name") { inferred }"#, &[2]),
        (r#"service("random-name") { !inferred }"#, &[2]),
        (r#"service(id(name: "random-name", type: "AWS::Lambda")) { error }"#, &[]),
        (r#"service("api.example.com") { root }"#, &[0, 1, 4]),
        (r#"service("backend.example.com") { root }"#, &[]),
        (r#"service("backend.example.com") { http.status = 404 }"#, &[0]),
        (r#"service("backend.example.com") { responsetime > 6 }"#, &[4]),
        (r#"service("backend.example.com") { duration < 6 }"#, &[0]),
        (r#"service("backend.example.com") { http.url ENDSWITH "/games" }"#, &[0]),
        (r#"service("backend.example.com") { http.method = "POST" }"#, &[0]),
        (r#"service("api.example.com") { http.useragent BEGINSWITH "curl" }"#, &[0]),
        (r#"service("api.example.com") { http.clientip = "10.0.0.1" }"#, &[0]),
        (r#"service(id(account.id: "999")) { error }"#, &[2]),
        (r#"edge("data-plane", id(name: "random-name", type: "AWS::Lambda")) { ok }"#, &[2]),
        (r#"edge(id(type: "client"), "api.example.com") { fault }"#, &[0]),
        (r#"edge(id(type: "client"), "api.example.com") { root }"#, &[0, 1, 4]),
        (r#"edge("api.example.com", "backend.example.com")"#, &[0, 4]),
        // An edge's request is what the caller measured: T4's call has no flag of its own.
        (r#"edge("api.example.com", "backend.example.com") { throttle }"#, &[]),
        // Numbers at the top level.
        ("responsetime < 1.5", &[1, 3]),
        ("duration = 2", &[2]),
        ("http.status = 502", &[2]),
        ("http.status >= 500", &[0, 2, 3]),
        // Strings at the top level.
        (r#"http.url = "http://api.example.com/v1/users""#, &[1]),
        (r#"http.method = "GET""#, &[0, 1]),
        (r#"http.useragent CONTAINS "curl""#, &[0]),
        (r#"http.clientip BEGINSWITH "10.""#, &[0]),
        ("http.url", &[0, 1, 3]),
        (r#"user = "bob""#, &[4]),
        (r#"user != "alice""#, &[2, 3, 4]),
        (r#"availabilityzone = "us-east-1a""#, &[0]),
        (r#"instance.id = "i-0abc""#, &[0]),
        (r#"resource.arn ENDSWITH "instance/i-0abc""#, &[0]),
        // Annotations: typed comparisons, presence, the bracket form, other types are false.
        ("annotation.age", &[1]),
        ("annotation[age] = 30", &[1]),
        (r#"annotation["age"] >= 30"#, &[1]),
        ("annotation.vip = true", &[1]),
        ("annotation.vip != false", &[0, 1, 2, 3, 4]),
        (r#"annotation.age = "30""#, &[]),
        (r#"annotation.account CONTAINS "23""#, &[0]),
        (r#"annotation.account BEGINSWITH "12""#, &[0]),
        (r#"annotation.account ENDSWITH "45""#, &[0]),
        ("annotation.Age", &[]),
        // Keys with dots (spec §10 Q4): both forms.
        (r#"annotation[build.version] = "1.2""#, &[1]),
        (r#"annotation.build.version BEGINSWITH "1.""#, &[1]),
        // A bare word is a string value (`name = traces` in an AWS example).
        ("rootcause.fault.service { name = Auth }", &[3]),
        ("http.method = GET fault", &[0]),
        // Root causes: services, entities, exceptions; first, last, index, remote, type, coverage.
        (r#"rootcause.fault.service { first and name = "GetWeatherData" }"#, &[3]),
        ("rootcause.fault.service { last and inferred }", &[]),
        (r#"rootcause.fault.service { index = 1 and name = "Auth" }"#, &[3]),
        (r#"rootcause.error.service { name = "backend.example.com" }"#, &[0, 4]),
        (r#"rootcause.error.entity { remote and name = "backend.example.com" }"#, &[0, 4]),
        ("rootcause.fault.entity { index = 1 }", &[3]),
        (r#"rootcause.fault.service { type = "AWS::EC2::Instance" }"#, &[2]),
        (r#"rootcause.fault.exception { name = "AuthError" and first }"#, &[3]),
        (r#"rootcause.responsetime.service { name = "Auth" }"#, &[3]),
        ("rootcause.responsetime.entity { coverage = 1 }", &[0, 1, 2, 3]),
        ("rootcause.responsetime.entity { first and coverage < 1 }", &[]),
        // Groups, by name or ARN, nested, and a group without a filter.
        (r#"group.arn = "arn:aws:xray:us-east-1:123456789012:group/high_response_time/AB12""#, &[0]),
        (r#"group.name = "faulty_slow""#, &[0]),
        (r#"group.name != "high_response_time""#, &[1, 2, 3, 4]),
        (r#"group.name = "Default""#, &[0, 1, 2, 3, 4]),
        // JSON templates: members present must match, arrays match from the start.
        (r#"rootcause.json = #[{"ClientImpacting": false}]"#, &[0, 2, 4]),
        (r#"rootcause.json = #[{"Services": [{"Name": "backend.example.com"}]}]"#, &[]),
        (r#"rootcause.json != #[{"Services": [{"Name": "GetWeatherData"}]}]"#, &[0, 1, 2, 4]),
        // Keywords in any case, AND/OR precedence, adjacency, parentheses, negation.
        ("responseTime > 5 Or PARTIAL", &[0, 4]),
        ("ok OR fault AND responsetime > 5", &[0, 1]),
        ("(ok OR fault) AND responsetime > 5", &[0]),
        ("!(ok OR fault)", &[4]),
        ("!!fault", &[0, 2, 3]),
        ("fault responsetime < 3", &[2, 3]),
    ];
    for (expression, expected) in table {
        assert_eq!(&matching(&traces, expression), expected, "{expression}");
    }
}

#[test]
fn a_context_is_shared_by_many_filters() {
    let traces = traces();
    let filters: Vec<_> = ["fault", r#"user = "alice""#, r#"service("Auth")"#]
        .iter()
        .map(|e| compile(e).unwrap())
        .collect();
    let context = TraceContext::new(&traces[3]);
    let results: Vec<bool> = filters.iter().map(|f| f.matches_in(&context)).collect();
    assert_eq!(results, [true, false, true]);
    assert_eq!(context.summary().id, traces[3].id());
    assert_eq!(filters[0].expression(), "fault");
}

/// The whole message of the error `expression` gives.
fn error(expression: &str) -> String {
    compile_with(expression, &groups(), &CompileOptions::default())
        .map(|f| panic!("{expression} compiled: {:?}", f.expr()))
        .unwrap_err()
        .to_string()
}

#[test]
fn errors_name_the_position_what_was_expected_and_what_was_found() {
    #[rustfmt::skip]
    let table: &[(&str, &str)] = &[
        ("", "expected a filter expression at position 0, found the end of the expression"),
        ("responsetime > abc", "expected a number at position 15, found `abc`"),
        ("responsetime", "expected a comparison: `=`, `!=`, `<`, `<=`, `>` or `>=` (a numeric keyword) at position 12, found the end of the expression"),
        ("http.url > 5", "expected `=`, `!=`, `CONTAINS`, `BEGINSWITH` or `ENDSWITH` (a string keyword) at position 9, found `>`"),
        ("fault = maybe", "expected `true` or `false` at position 8, found `maybe`"),
        ("fault AND", "expected a predicate: ok, error, throttle, fault, partial, inferred, responsetime, duration, http.status, http.url, http.method, http.useragent, http.clientip, user, availabilityzone, instance.id, resource.arn, annotation.KEY, service(...), edge(...), group.name, group.arn, rootcause.KIND.LEVEL { } or rootcause.json at position 9, found the end of the expression"),
        ("faults", "expected a predicate: ok, error, throttle, fault, partial, inferred, responsetime, duration, http.status, http.url, http.method, http.useragent, http.clientip, user, availabilityzone, instance.id, resource.arn, annotation.KEY, service(...), edge(...), group.name, group.arn, rootcause.KIND.LEVEL { } or rootcause.json at position 0, found `faults`"),
        ("(fault", "expected `)` or another operand at position 6, found the end of the expression"),
        ("fault)", "expected `AND`, `OR` or the end of the expression at position 5, found `)`"),
        (r#"user = "alice"#, "expected a string closed by `\"` at position 7, found the end of the expression"),
        ("duration > 5.", "expected a digit after the decimal point at position 13, found the end of the expression"),
        ("duration > -x", "expected a digit after `-` at position 12, found `x`"),
        ("duration > 5s", "expected a number (digits, optionally `-` and a decimal point) at position 12, found `s`"),
        ("fault & ok", "expected a keyword, a value, an operator, `!`, `(` or `)` at position 6, found `&`"),
        ("partial service(\"a\") { partial }", "expected one of ok, error, throttle, fault, inferred, root, responsetime, duration, http.status, http.url, http.method, http.useragent, http.clientip inside service(...) { } or edge(...) { } at position 23, found `partial`"),
        (r#"service("a") { annotation.x }"#, "expected one of ok, error, throttle, fault, inferred, root, responsetime, duration, http.status, http.url, http.method, http.useragent, http.clientip inside service(...) { } or edge(...) { } at position 15, found `annotation.x`"),
        (r#"service("a") { service("b") }"#, "expected one of ok, error, throttle, fault, inferred, root, responsetime, duration, http.status, http.url, http.method, http.useragent, http.clientip inside service(...) { } or edge(...) { } at position 15, found `service`"),
        ("root", "expected a predicate: ok, error, throttle, fault, partial, inferred, responsetime, duration, http.status, http.url, http.method, http.useragent, http.clientip, user, availabilityzone, instance.id, resource.arn, annotation.KEY, service(...), edge(...), group.name, group.arn, rootcause.KIND.LEVEL { } or rootcause.json at the top level at position 0, found `root`"),
        (r#"service("a") { }"#, "expected one of ok, error, throttle, fault, inferred, root, responsetime, duration, http.status, http.url, http.method, http.useragent, http.clientip at position 15, found `}`"),
        ("service(a)", "expected a node: a quoted name or `id(name: \"...\", type: \"...\")` at position 8, found `a`"),
        (r#"edge("a")"#, "expected `,` between the two nodes of an edge at position 8, found `)`"),
        (r#"service(id(name: "a", name: "b"))"#, "expected each of `name:`, `type:`, `account.id:` once at position 22, found `name`"),
        (r#"service(id(kind: "a"))"#, "expected `name:`, `type:` or `account.id:` at position 11, found `kind`"),
        (r#"service(id(name "a"))"#, "expected `:` after the argument's name at position 16, found the string \"a\""),
        (r#"service(id(name: "a" "b"))"#, "expected `,` or `)` at position 21, found the string \"b\""),
        ("annotation.x CONTAINS 5", "expected a quoted string at position 22, found the number 5"),
        ("annotation.x = maybe", "expected a number, a quoted string, `true` or `false` at position 15, found `maybe`"),
        ("annotation.x > \"a\"", "expected a number at position 15, found the string \"a\""),
        ("annotation[]", "expected an annotation key (letters, digits, `_`, `.`) at position 11, found `]`"),
        ("annotation[a b]", "expected `]` after the annotation key at position 12, found a space"),
        ("annotation = 1", "expected `annotation.KEY` or `annotation[KEY]` at position 0, found `annotation`"),
        ("annotation. = 1", "expected an annotation key after `annotation.` at position 0, found `annotation.`"),
        (r#"group.name = "nope""#, "expected the name of a known group at position 13, found the string \"nope\""),
        (r#"group.arn = "arn:nope""#, "expected the ARN of a known group at position 12, found the string \"arn:nope\""),
        ("group.name = 5", "expected a quoted string at position 13, found the number 5"),
        (r#"group.name = "loop_a""#, "expected a group that does not refer back to itself at position 0, found the cycle loop_a → loop_b → loop_a"),
        (r#"ok OR group.name = "broken""#, "expected group \"broken\" to have a valid FilterExpression at position 6, found Invalid filter expression: expected a number at position 14, found the end of the expression"),
        (r#"group.name = "faulty_slow" OR group.name = "loop_b""#, "expected a group that does not refer back to itself at position 30, found the cycle loop_b → loop_a → loop_b"),
        ("rootcause.fault", "expected rootcause.fault.service, rootcause.fault.entity or rootcause.fault.exception at position 0, found `rootcause.fault`"),
        ("rootcause.latency.service { name }", "expected rootcause.fault, rootcause.error, rootcause.responsetime or rootcause.json at position 0, found `rootcause.latency.service`"),
        ("rootcause.responsetime.exception { last }", "expected rootcause.responsetime.service or rootcause.responsetime.entity (response-time root causes have no exceptions) at position 0, found `rootcause.responsetime.exception`"),
        ("rootcause.fault.service name", "expected `{` at position 24, found `name`"),
        ("rootcause.fault.entity { coverage > 0.5 }", "expected one of name, remote, first, last, index inside rootcause.fault.entity { } at position 25, found `coverage`"),
        ("rootcause.fault.service { message }", "expected one of name, type, inferred, first, last, index inside rootcause.fault.service { } at position 26, found `message`"),
        ("rootcause.json = {}", "expected a JSON array of root causes: `#[{...}]` at position 17, found `{`"),
        ("rootcause.json = #{}", "expected `[` after `#` (a JSON array: `#[{...}]`) at position 18, found `{`"),
        ("rootcause.json = #[1]", "expected a non-empty JSON array of objects (root causes) at position 17, found a JSON array"),
        ("rootcause.json = #[{\"a\": }]", "expected valid JSON in `#[...]` at position 25, found a JSON error (expected value at line 1 column 8)"),
        ("ok\u{e9} fault", "expected a keyword, a value, an operator, `!`, `(` or `)` at position 2, found `\u{e9}`"),
    ];
    for (expression, message) in table {
        assert_eq!(
            error(expression),
            format!("Invalid filter expression: {message}"),
            "{expression}"
        );
    }
}

#[test]
fn an_error_carries_its_parts_and_counts_characters_not_bytes() {
    let e: FilterError = compile(r#"user = "é" responsetime > x"#).unwrap_err();
    assert_eq!(e.position, 26);
    assert_eq!(e.offset, 27);
    assert_eq!(e.expected, "a number");
    assert_eq!(e.found, "`x`");
}

#[test]
fn nesting_is_bounded_and_never_overflows_the_stack() {
    let options = CompileOptions {
        max_depth: 3,
        ..CompileOptions::default()
    };
    assert!(compile_with("(((fault)))", &[], &options).is_ok());
    let e = compile_with("((((fault))))", &[], &options).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid filter expression: expected at most 3 levels of nesting (max_depth) at position 4, found `fault`"
    );
    // At the largest depth honoured, parsing and evaluating fit a test thread's stack.
    let deep = "(".repeat(MAX_DEPTH_LIMIT) + "fault" + &")".repeat(MAX_DEPTH_LIMIT);
    let huge = CompileOptions {
        max_depth: usize::MAX,
        ..CompileOptions::default()
    };
    let traces = traces();
    assert_eq!(
        compile_with(&deep, &[], &huge).unwrap().select(&traces),
        [0, 2, 3]
    );
    let deeper = "(".repeat(100_000) + "fault" + &")".repeat(100_000);
    assert!(compile_with(&deeper, &[], &huge).is_err());
    let length = CompileOptions {
        max_length: 10,
        ..CompileOptions::default()
    };
    assert_eq!(
        compile_with("responsetime > 5", &[], &length).unwrap_err().to_string(),
        "Invalid filter expression: expected an expression of at most 10 bytes (max_length) at position 10, found 16 bytes"
    );
}

#[test]
fn a_large_batch_is_selected_in_parallel_in_order() {
    // 5,000 one-segment traces (above the parallel threshold), every seventh faulted.
    let docs: Vec<String> = (0..5000u64)
        .map(|n| {
            let fault = if n % 7 == 0 { r#","fault":true"# } else { "" };
            format!(
                r#"{{"id":"{:016x}","name":"api","trace_id":"1-581cf771-{:024x}","start_time":{n},"end_time":{}{fault}}}"#,
                n + 1,
                n,
                n + 1
            )
        })
        .collect();
    let (traces, errors, _) = assemble_all(
        (docs.join("\n") + "\n").as_bytes(),
        Format::Ndjson,
        Limits::default(),
    )
    .unwrap();
    assert!(errors.is_empty());
    let f = compile("fault").unwrap();
    let one_by_one: Vec<usize> = (0..traces.len())
        .filter(|&i| f.matches(&traces[i]))
        .collect();
    assert_eq!(one_by_one.len(), 715);
    assert_eq!(f.select(&traces), one_by_one);
}

#[test]
fn groups_referring_to_each_other_many_times_cannot_grow_exponentially() {
    // g_n refers to g_(n-1) twice: inlined, g_40 would hold 2^40 predicates.
    let mut groups = vec![Group {
        name: "g0".into(),
        arn: None,
        filter_expression: Some("fault".into()),
    }];
    for n in 1..=40 {
        groups.push(Group {
            name: format!("g{n}"),
            arn: None,
            filter_expression: Some(format!(
                r#"group.name = "g{m}" OR group.name = "g{m}""#,
                m = n - 1
            )),
        });
    }
    let options = CompileOptions::default();
    let small = compile_with(r#"group.name = "g5""#, &groups, &options).unwrap();
    assert_eq!(small.select(&traces()), [0, 2, 3]);
    let e = compile_with(r#"group.name = "g40""#, &groups, &options).unwrap_err();
    assert_eq!(e.position, 0);
    assert_eq!(
        e.expected,
        "at most 100000 predicates, group references counted in full (max_predicates)"
    );
}

#[test]
fn entity_selectors_pick_nodes_and_edges_of_the_graph() {
    let traces = traces();
    let graph = ServiceGraph::from_traces(&traces);
    let key = |name: &str, kind: Option<&str>, account: Option<&str>| ServiceId {
        name: name.into(),
        kind: kind.map(Into::into),
        account_id: account.map(Into::into),
    };
    let select = |text: &str| EntitySelector::parse(text).unwrap().select(&graph);
    assert_eq!(
        select(r#"service("random-name")"#),
        Selector::Nodes(vec![
            key("random-name", Some("AWS::Lambda"), None),
            key("random-name", Some("AWS::Lambda::Function"), Some("999")),
        ])
    );
    assert_eq!(
        select(r#"id(name: "random-name", type: "AWS::Lambda::Function")"#),
        Selector::Nodes(vec![key(
            "random-name",
            Some("AWS::Lambda::Function"),
            Some("999")
        )])
    );
    assert_eq!(
        select(r#"service("api.example.com")"#),
        Selector::Nodes(vec![key("api.example.com", None, None)])
    );
    assert_eq!(
        select(r#"edge("api.example.com", "backend.example.com")"#),
        Selector::Edges(vec![(
            key("api.example.com", None, None),
            key("backend.example.com", None, None)
        )])
    );
    assert_eq!(
        select(r#"edge(id(type: "client"), "api.example.com")"#),
        Selector::Edges(vec![(
            key("api.example.com", Some("client"), None),
            key("api.example.com", None, None)
        )])
    );
    assert_eq!(select(r#"service("nobody")"#), Selector::Nodes(vec![]));
    let mut out = Vec::new();
    assert!(graph.write_time_series(
        &mut out,
        60,
        &select(r#"service("backend.example.com")"#),
        None
    ));
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let total: u64 = json["TimeSeriesServiceStatistics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["ServiceSummaryStatistics"]["TotalCount"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 2);

    #[rustfmt::skip]
    let errors: &[(&str, &str)] = &[
        ("fault", "expected `service(...)`, `edge(...)` or `id(...)` at position 0, found `fault`"),
        (r#"service("a") { fault }"#, "expected the end of the EntitySelectorExpression (it selects a node or an edge; a `{ ... }` block cannot select statistics) at position 13, found `{`"),
        (r#"service("a") AND service("b")"#, "expected `AND`, `OR` or the end of the expression at position 13, found `AND`"),
        ("service()", "expected a node: a quoted name or `id(name: \"...\", type: \"...\")` at position 8, found `)`"),
    ];
    for (text, message) in errors {
        assert_eq!(
            EntitySelector::parse(text).unwrap_err().to_string(),
            format!("Invalid filter expression: {message}"),
            "{text}"
        );
    }
    let long = format!(r#"service("{}")"#, "a".repeat(500));
    assert_eq!(
        EntitySelector::parse(&long).unwrap_err().to_string(),
        "Invalid filter expression: expected an EntitySelectorExpression of at most 500 characters at position 500, found 511 characters"
    );
}

#[test]
fn json_templates_match_members_present_and_arrays_from_the_start() {
    use serde_json::json;
    let actual = json!({"Services": [{"Name": "a", "EntityPath": [{"Name": "a"}, {"Name": "b"}]}], "ClientImpacting": true});
    assert!(filter::json_matches(&json!({}), &actual));
    assert!(filter::json_matches(
        &json!({"Services": [{"Name": "a"}]}),
        &actual
    ));
    assert!(filter::json_matches(
        &json!({"Services": [{"EntityPath": [{"Name": "a"}]}]}),
        &actual
    ));
    assert!(!filter::json_matches(
        &json!({"Services": [{"EntityPath": [{"Name": "b"}]}]}),
        &actual
    ));
    assert!(!filter::json_matches(
        &json!({"Services": [{}, {}]}),
        &actual
    ));
    assert!(!filter::json_matches(&json!({"Missing": 1}), &actual));
    assert!(filter::json_matches(
        &json!({"ClientImpacting": true}),
        &actual
    ));
    assert!(filter::json_matches(&json!(1.0), &json!(1)));
    // `null` (how X-Ray writes an unknown `Type`) matches a member left out.
    assert!(filter::json_matches(
        &json!({"Type": null}),
        &json!({"Name": "a"})
    ));
    assert!(!filter::json_matches(
        &json!({"Type": null}),
        &json!({"Type": "remote"})
    ));
}

/// Random expressions over the fixture traces' vocabulary.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "ok",
        "fault",
        "error",
        "throttle",
        "partial",
        "inferred",
        "responsetime > 5",
        "duration < 3",
        "http.status = 500",
        r#"user = "alice""#,
        "annotation.age",
        r#"service("api.example.com")"#,
        "service() { fault }",
        r#"edge("api.example.com", "backend.example.com") { error }"#,
        r#"rootcause.fault.service { name = "Auth" }"#,
        r#"http.url CONTAINS "/v2/""#,
    ])
    .prop_map(str::to_owned);
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| format!("!({e})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) AND ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) OR ({b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) ({b})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn de_morgan_commutativity_and_double_negation_hold(a in expression(), b in expression()) {
        let traces = traces();
        let m = |e: &str| matching(&traces, e);
        prop_assert_eq!(m(&format!("!(({a}) AND ({b}))")), m(&format!("!({a}) OR !({b})")));
        prop_assert_eq!(m(&format!("!(({a}) OR ({b}))")), m(&format!("!({a}) AND !({b})")));
        prop_assert_eq!(m(&format!("({a}) AND ({b})")), m(&format!("({b}) AND ({a})")));
        prop_assert_eq!(m(&format!("({a}) OR ({b})")), m(&format!("({b}) OR ({a})")));
        prop_assert_eq!(m(&format!("({a}) ({b})")), m(&format!("({a}) AND ({b})")));
        prop_assert_eq!(m(&format!("!!({a})")), m(&a));
        // A filter never matches a trace its negation matches.
        let (yes, no) = (m(&a), m(&format!("!({a})")));
        prop_assert!(yes.iter().all(|i| !no.contains(i)));
        prop_assert_eq!(yes.len() + no.len(), traces.len());
    }

    #[test]
    fn random_text_never_panics(text in ".{0,80}") {
        let _ = compile_with(&text, &groups(), &CompileOptions::default());
        let _ = EntitySelector::parse(&text);
    }

    #[test]
    fn mangled_expressions_never_panic(
        e in expression(),
        cut in 0usize..200,
        insert in prop::sample::select(vec!["(", ")", "{", "}", "\"", "!", "=", ",", "#[", "]", " AND", "annotation[", "-", "."]),
    ) {
        let traces = traces();
        let mut text = e.clone();
        let at = (0..=text.len()).rev().find(|&i| i <= cut && text.is_char_boundary(i)).unwrap_or(0);
        text.insert_str(at, insert);
        if let Ok(f) = compile_with(&text, &groups(), &CompileOptions::default()) {
            let _ = f.select(&traces);
        }
        let truncated = &e[..at];
        if let Ok(f) = compile(truncated) {
            let _ = f.select(&traces);
        }
    }
}
