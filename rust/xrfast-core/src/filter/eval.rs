//! Evaluating a compiled expression against one trace.
//!
//! A [`TraceContext`] holds what filters read from a trace, each piece derived the first time a
//! filter asks for it and kept for the next: the root segment (always, it is free), the root's
//! `http` (or its status alone), the full `ServiceId`s, the calls (edges), the annotations, the
//! users and EC2 facts, the whole `TraceSummary` (root causes) and the root causes as JSON.
//! Node names are read in place. A filter on `fault` or `responsetime` therefore never decodes
//! anything, and many filters evaluated against one context share the work.

use std::cell::OnceCell;

use serde_json::Value;

use super::ast::{
    AnnotationTest, BoolKey, Expr, NodeRef, NumKey, RootCauseKind, RootCauseLevel, StrKey,
};
use crate::document::{Entity, Flags, Namespace};
use crate::graph::{calls, client_node, Call};
use crate::summary::{
    self, decode, inferred_service, AnnotationValue, Annotations, Facts, Http, RootCause,
    RootCauseEntity, RootCauseException, RootCauseService, ServiceId, TraceSummary,
};
use crate::trace::{known_origin, SegmentRef, Trace};

/// What filters read from one trace, derived lazily and shared by every filter evaluated
/// against it.
pub struct TraceContext<'t> {
    trace: &'t Trace,
    root: Option<&'t Entity>,
    http: OnceCell<Http>,
    status: OnceCell<Option<i64>>,
    services: OnceCell<Vec<ServiceId>>,
    calls: OnceCell<Vec<Call>>,
    annotations: OnceCell<Annotations>,
    facts: OnceCell<Facts>,
    summary: OnceCell<TraceSummary>,
    root_causes_json: OnceCell<Vec<Value>>,
}

impl<'t> TraceContext<'t> {
    /// A context for `trace`; nothing is derived until a filter needs it.
    #[must_use]
    pub fn new(trace: &'t Trace) -> Self {
        let root = trace
            .root()
            .map(|pos| entity_of(trace, trace.segments()[pos]));
        Self {
            trace,
            root,
            http: OnceCell::new(),
            status: OnceCell::new(),
            services: OnceCell::new(),
            calls: OnceCell::new(),
            annotations: OnceCell::new(),
            facts: OnceCell::new(),
            summary: OnceCell::new(),
            root_causes_json: OnceCell::new(),
        }
    }

    /// The trace.
    #[must_use]
    pub fn trace(&self) -> &'t Trace {
        self.trace
    }

    /// The trace's `TraceSummary`, derived once.
    pub fn summary(&self) -> &TraceSummary {
        self.summary.get_or_init(|| TraceSummary::of(self.trace))
    }

    /// The root's `http.response.status` (read alone unless the whole `http` was read).
    fn status(&self) -> Option<i64> {
        match self.http.get() {
            Some(http) => http.status,
            None => *self
                .status
                .get_or_init(|| self.root.and_then(|e| summary::http_status(self.trace, e))),
        }
    }

    /// The summary's annotations (its first 50 keys), without deriving the rest of it.
    fn annotations(&self) -> &Annotations {
        self.annotations.get_or_init(|| match self.summary.get() {
            Some(summary) => summary.annotations.clone(),
            None => summary::annotations(self.trace, &vec![0; self.trace.segments().len()]),
        })
    }

    /// Users and EC2 facts, without deriving the rest of the summary.
    fn facts(&self) -> &Facts {
        self.facts.get_or_init(|| summary::facts(self.trace))
    }

    fn http(&self) -> &Http {
        self.http.get_or_init(|| {
            self.root
                .map(|e| summary::read_http(self.trace, e))
                .unwrap_or_default()
        })
    }

    /// Whether the node of the segment at `pos` is named `name` (spec §5.2), read in place: a
    /// real segment's `name`, an inferred one's subsegment name, unless an AWS resource names
    /// the node (then `inferred_service` decides).
    fn node_named(&self, pos: usize, name: &str) -> bool {
        let trace = self.trace;
        match trace.segments()[pos] {
            SegmentRef::Real(i) => {
                let e = &trace.entities()[i as usize];
                raw_name_is(trace.text_of(e, e.name), name)
            }
            SegmentRef::Inferred(i) => {
                let e = &trace.entities()[i as usize];
                let raw = trace.text_of(e, e.name);
                if e.namespace == Namespace::Remote || known_origin(e, raw).is_none() {
                    raw_name_is(raw, name)
                } else {
                    inferred_service(trace, e).name == name
                }
            }
        }
    }

    /// The `ServiceId` of each segment (by position in `Trace::segments`).
    fn services(&self) -> &[ServiceId] {
        self.services.get_or_init(|| {
            self.trace
                .segments()
                .iter()
                .map(|&s| summary::service_id(self.trace, s))
                .collect()
        })
    }

    fn calls(&self) -> &[Call] {
        self.calls
            .get_or_init(|| calls(self.trace, self.services()))
    }

    fn root_causes_json(&self) -> &[Value] {
        self.root_causes_json.get_or_init(|| {
            let summary = self.summary();
            let mut out = Vec::new();
            let mut json = Vec::new();
            for cause in summary
                .fault_root_causes
                .iter()
                .chain(&summary.error_root_causes)
                .chain(&summary.response_time_root_causes)
            {
                json.clear();
                summary.write_root_cause(&mut json, cause);
                if let Ok(value) = serde_json::from_slice(&json) {
                    out.push(value);
                }
            }
            out
        })
    }

    /// Whether the node of the segment at `pos` matches `node`.
    fn node_matches(&self, pos: usize, node: &NodeRef) -> bool {
        if node.needs_identity() {
            let id = &self.services()[pos];
            node.name.as_ref().is_none_or(|n| *n == id.name)
                && node
                    .kind
                    .as_ref()
                    .is_none_or(|k| id.kind.as_ref() == Some(k))
                && node
                    .account_id
                    .as_ref()
                    .is_none_or(|a| id.account_id.as_ref() == Some(a))
        } else {
            node.name.as_ref().is_none_or(|n| self.node_named(pos, n))
        }
    }

    /// Evaluates `expr` at the top level.
    pub fn eval(&self, expr: &Expr) -> bool {
        self.eval_in(expr, &Subject::Trace)
    }

    fn eval_in(&self, expr: &Expr, subject: &Subject<'_>) -> bool {
        match expr {
            Expr::Const(value) => *value,
            Expr::And(terms) => terms.iter().all(|t| self.eval_in(t, subject)),
            Expr::Or(terms) => terms.iter().any(|t| self.eval_in(t, subject)),
            Expr::Not(inner) => !self.eval_in(inner, subject),
            Expr::Bool(key) => self.boolean(*key, subject),
            Expr::Num(key, op, literal) => self
                .number(*key, subject)
                .is_some_and(|value| op.holds(value, *literal)),
            Expr::Str(key, op) => self.string(*key, subject, &|value| op.holds(value)),
            Expr::Annotation(key, test) => self.annotation(key, test),
            Expr::Service(node, block) => self.service(node.as_ref(), block.as_deref()),
            Expr::Edge(from, to, block) => self.edge(from, to, block.as_deref()),
            Expr::RootCause(kind, level, block) => self.root_cause(*kind, *level, block),
            Expr::RootCauseJson(templates) => self
                .root_causes_json()
                .iter()
                .any(|cause| templates.iter().any(|t| json_matches(t, cause))),
        }
    }

    fn boolean(&self, key: BoolKey, subject: &Subject<'_>) -> bool {
        match subject {
            Subject::Trace => {
                let root_has = |bit| self.root.is_some_and(|e| e.flags.has(bit));
                match key {
                    BoolKey::Fault => root_has(Flags::FAULT),
                    BoolKey::Error => root_has(Flags::ERROR),
                    BoolKey::Throttle => self.has_throttle(),
                    BoolKey::Ok => {
                        !root_has(Flags::FAULT) && !root_has(Flags::ERROR) && !self.has_throttle()
                    }
                    BoolKey::Partial => self.trace.is_partial(),
                    BoolKey::Inferred => self
                        .trace
                        .segments()
                        .iter()
                        .any(|s| matches!(s, SegmentRef::Inferred(_))),
                    _ => false,
                }
            }
            Subject::Entity(view) => match key {
                BoolKey::Fault => view.fault(self.trace),
                BoolKey::Error => view.error(self.trace),
                BoolKey::Throttle => view.throttle(self.trace),
                BoolKey::Ok => {
                    !view.fault(self.trace) && !view.error(self.trace) && !view.throttle(self.trace)
                }
                BoolKey::Inferred => view.inferred,
                BoolKey::Root => view.root,
                _ => false,
            },
            Subject::Service(s, at) => match key {
                BoolKey::Inferred => s.inferred,
                _ => at.position(key),
            },
            Subject::PathEntity(e, at) => match key {
                BoolKey::Remote => e.remote,
                _ => at.position(key),
            },
            Subject::Exception(_, at) => at.position(key),
        }
    }

    /// `HasThrottle`: any segment, real or inferred, has `throttle` (as in summaries).
    fn has_throttle(&self) -> bool {
        self.trace
            .segments()
            .iter()
            .any(|&s| entity_of(self.trace, s).flags.has(Flags::THROTTLE))
    }

    fn number(&self, key: NumKey, subject: &Subject<'_>) -> Option<f64> {
        match subject {
            Subject::Trace => match key {
                NumKey::ResponseTime => self.root.and_then(|e| e.end.map(|end| end - e.start)),
                NumKey::Duration => self
                    .trace
                    .segments()
                    .iter()
                    .any(|&s| entity_of(self.trace, s).end.is_some())
                    .then(|| self.trace.duration()),
                NumKey::HttpStatus => self.status().map(|s| s as f64),
                _ => None,
            },
            Subject::Entity(view) => match key {
                NumKey::ResponseTime | NumKey::Duration => {
                    view.entity.end.map(|end| end - view.entity.start)
                }
                NumKey::HttpStatus => view.status(self.trace).map(|s| s as f64),
                _ => None,
            },
            Subject::Service(_, at) | Subject::Exception(_, at) => at.index(key),
            Subject::PathEntity(e, at) => match key {
                NumKey::Coverage => e.coverage,
                _ => at.index(key),
            },
        }
    }

    /// Whether `test` holds for some value of string keyword `key`.
    fn string(&self, key: StrKey, subject: &Subject<'_>, test: &dyn Fn(&str) -> bool) -> bool {
        fn http_member(http: &Http, key: StrKey) -> Option<&str> {
            match key {
                StrKey::HttpUrl => http.url.as_deref(),
                StrKey::HttpMethod => http.method.as_deref(),
                StrKey::HttpUserAgent => http.user_agent.as_deref(),
                StrKey::HttpClientIp => http.client_ip.as_deref(),
                _ => None,
            }
        }
        match subject {
            Subject::Trace => match key {
                StrKey::HttpUrl
                | StrKey::HttpMethod
                | StrKey::HttpUserAgent
                | StrKey::HttpClientIp => http_member(self.http(), key).is_some_and(test),
                StrKey::User => self.facts().users.iter().any(|v| test(v)),
                StrKey::AvailabilityZone => self.facts().availability_zones.iter().any(|v| test(v)),
                StrKey::InstanceId => self.facts().instance_ids.iter().any(|v| test(v)),
                StrKey::ResourceArn => self.facts().resource_arns.iter().any(|v| test(v)),
                _ => false,
            },
            Subject::Entity(view) => http_member(view.http(self.trace), key).is_some_and(test),
            Subject::Service(s, _) => {
                let id = &self.summary().service_ids[s.service];
                match key {
                    StrKey::Name => test(&id.name),
                    StrKey::Type => id.kind.as_deref().is_some_and(test),
                    _ => false,
                }
            }
            Subject::PathEntity(e, _) => key == StrKey::Name && test(&e.name),
            Subject::Exception(x, _) => match key {
                StrKey::Name => x.name.as_deref().is_some_and(test),
                StrKey::Message => x.message.as_deref().is_some_and(test),
                _ => false,
            },
        }
    }

    fn annotation(&self, key: &str, test: &AnnotationTest) -> bool {
        let Some((_, values)) = self.annotations().iter().find(|(k, _)| k == key) else {
            return false;
        };
        values.iter().any(|(value, _)| match (test, value) {
            (AnnotationTest::Present, _) => true,
            (AnnotationTest::BoolEq(want), AnnotationValue::Boolean(b)) => want == b,
            (AnnotationTest::Num(op, literal), AnnotationValue::Number(x)) => {
                op.holds(*x, *literal)
            }
            (AnnotationTest::Str(op), AnnotationValue::String(s)) => op.holds(s),
            _ => false,
        })
    }

    fn service(&self, node: Option<&NodeRef>, block: Option<&Expr>) -> bool {
        let trace = self.trace;
        let root = trace.root();
        trace.segments().iter().enumerate().any(|(pos, &segment)| {
            if node.is_some_and(|n| !self.node_matches(pos, n)) {
                return false;
            }
            let Some(block) = block else { return true };
            let view = EntityView::new(
                entity_of(trace, segment),
                matches!(segment, SegmentRef::Inferred(_)),
                root == Some(pos),
            );
            self.eval_in(block, &Subject::Entity(&view))
        })
    }

    fn edge(&self, from: &NodeRef, to: &NodeRef, block: Option<&Expr>) -> bool {
        let trace = self.trace;
        let segments = trace.segments();
        let check = |sample: &Entity, callee: usize| {
            let Some(block) = block else { return true };
            let sample_is_root = trace
                .root()
                .is_some_and(|r| std::ptr::eq(entity_of(trace, segments[r]), sample));
            let view = EntityView::new(
                sample,
                matches!(segments[callee], SegmentRef::Inferred(_)),
                sample_is_root,
            );
            self.eval_in(block, &Subject::Entity(&view))
        };
        // The client → root edge: the request that entered the application.
        if let Some(root) = trace.root() {
            if from.name.is_none() || from.kind.is_some() {
                let client = client_node(&self.services()[root]);
                let from_matches = from.name.as_ref().is_none_or(|n| *n == client.name)
                    && from
                        .kind
                        .as_ref()
                        .is_none_or(|k| client.kind.as_ref() == Some(k))
                    && from.account_id.is_none();
                if from_matches
                    && self.node_matches(root, to)
                    && check(entity_of(trace, segments[root]), root)
                {
                    return true;
                }
            }
        }
        self.calls().iter().any(|call| {
            self.node_matches(call.caller, from)
                && self.node_matches(call.callee, to)
                && check(&trace.entities()[call.sample as usize], call.callee)
        })
    }

    fn root_cause(&self, kind: RootCauseKind, level: RootCauseLevel, block: &Expr) -> bool {
        let summary = self.summary();
        let causes: &[RootCause] = match kind {
            RootCauseKind::Fault => &summary.fault_root_causes,
            RootCauseKind::Error => &summary.error_root_causes,
            RootCauseKind::ResponseTime => &summary.response_time_root_causes,
        };
        causes.iter().any(|cause| match level {
            RootCauseLevel::Service => {
                let len = cause.services.len();
                cause.services.iter().enumerate().any(|(index, s)| {
                    self.eval_in(block, &Subject::Service(s, Position { index, len }))
                })
            }
            RootCauseLevel::Entity => {
                let entities: Vec<&RootCauseEntity> =
                    cause.services.iter().flat_map(|s| &s.entity_path).collect();
                let len = entities.len();
                entities.iter().enumerate().any(|(index, e)| {
                    self.eval_in(block, &Subject::PathEntity(e, Position { index, len }))
                })
            }
            RootCauseLevel::Exception => {
                let exceptions: Vec<&RootCauseException> = cause
                    .services
                    .iter()
                    .flat_map(|s| &s.entity_path)
                    .flat_map(|e| &e.exceptions)
                    .collect();
                let len = exceptions.len();
                exceptions.iter().enumerate().any(|(index, x)| {
                    self.eval_in(block, &Subject::Exception(x, Position { index, len }))
                })
            }
        })
    }
}

/// Whether the raw JSON string `raw` (quotes included) holds `name`.
fn raw_name_is(raw: &[u8], name: &str) -> bool {
    if raw.len() >= 2 && !raw.contains(&b'\\') {
        &raw[1..raw.len() - 1] == name.as_bytes()
    } else {
        decode(raw) == name
    }
}

/// The entity of a segment entry (for an inferred segment, the subsegment it is made from).
fn entity_of(trace: &Trace, segment: SegmentRef) -> &Entity {
    let (SegmentRef::Real(i) | SegmentRef::Inferred(i)) = segment;
    &trace.entities()[i as usize]
}

/// A position in an enumerated list (`first`, `last`, `index`).
#[derive(Clone, Copy)]
struct Position {
    index: usize,
    len: usize,
}

impl Position {
    fn position(self, key: BoolKey) -> bool {
        match key {
            BoolKey::First => self.index == 0,
            BoolKey::Last => self.index + 1 == self.len,
            _ => false,
        }
    }

    fn index(self, key: NumKey) -> Option<f64> {
        (key == NumKey::Index).then_some(self.index as f64)
    }
}

/// What a predicate is evaluated against.
enum Subject<'x> {
    /// The whole trace.
    Trace,
    /// A segment of a node, or the request of an edge.
    Entity(&'x EntityView<'x>),
    /// A service of a root cause.
    Service(&'x RootCauseService, Position),
    /// An entity of a root cause's path.
    PathEntity(&'x RootCauseEntity, Position),
    /// An exception of a root cause.
    Exception(&'x RootCauseException, Position),
}

/// One entity inside a `service` or `edge` block, its `http` read when first needed.
struct EntityView<'x> {
    entity: &'x Entity,
    inferred: bool,
    root: bool,
    http: OnceCell<Http>,
    status: OnceCell<Option<i64>>,
}

impl<'x> EntityView<'x> {
    fn new(entity: &'x Entity, inferred: bool, root: bool) -> Self {
        Self {
            entity,
            inferred,
            root,
            http: OnceCell::new(),
            status: OnceCell::new(),
        }
    }

    fn http(&self, trace: &Trace) -> &Http {
        self.http
            .get_or_init(|| summary::read_http(trace, self.entity))
    }

    /// `http.response.status` (read alone unless the whole `http` was read).
    fn status(&self, trace: &Trace) -> Option<i64> {
        self.entity.http?;
        match self.http.get() {
            Some(http) => http.status,
            None => *self
                .status
                .get_or_init(|| summary::http_status(trace, self.entity)),
        }
    }

    /// `fault`, or a 5xx status (spec §5.4, as the service graph counts a request).
    fn fault(&self, trace: &Trace) -> bool {
        self.entity.flags.has(Flags::FAULT)
            || self.status(trace).is_some_and(|s| (500..600).contains(&s))
    }

    /// `error`, or a 4xx status (429 included: a throttled request is a client error).
    fn error(&self, trace: &Trace) -> bool {
        self.entity.flags.has(Flags::ERROR)
            || self.status(trace).is_some_and(|s| (400..500).contains(&s))
    }

    /// `throttle`, or status 429.
    fn throttle(&self, trace: &Trace) -> bool {
        self.entity.flags.has(Flags::THROTTLE) || self.status(trace) == Some(429)
    }
}

/// Whether `actual` matches `template` (spec §6.2, `rootcause.json`): every member the template
/// has must be in `actual` and match (a `null` member also matches an absent one); arrays match
/// element by element from the start (the actual array may be longer); scalars are equal
/// (numbers by value).
#[must_use]
pub fn json_matches(template: &Value, actual: &Value) -> bool {
    match (template, actual) {
        // X-Ray writes an unknown member as `null` (`"Type": null` in its own examples) where
        // summaries leave it out: a `null` in the template matches a member that is absent.
        (Value::Object(want), Value::Object(have)) => want.iter().all(|(k, v)| match have.get(k) {
            Some(h) => json_matches(v, h),
            None => v.is_null(),
        }),
        (Value::Array(want), Value::Array(have)) => {
            want.len() <= have.len() && want.iter().zip(have).all(|(w, h)| json_matches(w, h))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}
