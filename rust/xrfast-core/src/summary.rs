//! X-Ray's `TraceSummary` of an assembled trace (spec §4.1–§4.3; the choices where X-Ray is
//! silent are in docs/decisions.md, "Summaries").
//!
//! Assembly decodes only what it needs. Everything else a summary reads — `http`,
//! `annotations`, `user`, `origin`, `resource_arn`, `aws.account_id`, `aws.ec2`, `cause` — is
//! read here, lazily, from the entities' document text, so parsing pays nothing for summaries
//! nobody asks for. The JSON is written here too, in the botocore shape's member order.
//!
//! ```
//! use xrfast_core::assemble::assemble_all;
//! use xrfast_core::summary::TraceSummary;
//! use xrfast_core::{Format, Limits};
//!
//! let doc = br#"{"id":"0000000000000001","name":"api","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1.0,"end_time":1.5,"user":"ana","http":{"response":{"status":200}}}"#;
//! let (traces, _, _) = assemble_all(doc, Format::Document, Limits::default()).unwrap();
//! let summary = TraceSummary::of(&traces[0]);
//! assert_eq!(summary.response_time, Some(0.5));
//! assert_eq!(summary.http.status, Some(200));
//! assert_eq!(summary.users[0].0, "ana");
//! ```

use std::borrow::{Borrow, Cow};
use std::io::Write as _;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use sonic_rs::{JsonType, JsonValueTrait, LazyValue};

use crate::document::{AwsResource, Entity, Flags, Kind, Namespace, Span};
use crate::ids::{SegmentId, TraceId};
use crate::trace::{known_origin, SegmentRef, Trace};

/// Annotation keys indexed per trace (spec §1.8); later keys are dropped.
pub const MAX_ANNOTATION_KEYS: usize = 50;

/// A child must take at least this share of its parent's duration for the response-time walk
/// to descend into it (spec §4.3).
pub const RESPONSE_TIME_SHARE: f64 = 0.5;

/// A service node as X-Ray identifies it (spec §5.2): botocore's `ServiceId`. Ordered by name,
/// then type, then account (the service graph lists its nodes in this order).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    /// `Name` (and the only entry of `Names`).
    pub name: String,
    /// `Type`: the segment's `origin`, an inferred node's AWS type, or `remote`.
    pub kind: Option<String>,
    /// `AccountId`: `aws.account_id` of the segment (or of the calling `aws` subsegment).
    pub account_id: Option<String>,
}

/// An annotation value (botocore's `AnnotationValue` union).
#[derive(Clone, Debug, PartialEq)]
pub enum AnnotationValue {
    /// `NumberValue`.
    Number(f64),
    /// `BooleanValue`.
    Boolean(bool),
    /// `StringValue`.
    String(String),
}

/// The root segment's `http` (botocore's `Http`); members the root does not have are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Http {
    /// `http.request.url`.
    pub url: Option<String>,
    /// `http.response.status` (an integer, or a string holding one).
    pub status: Option<i64>,
    /// `http.request.method`.
    pub method: Option<String>,
    /// `http.request.user_agent`.
    pub user_agent: Option<String>,
    /// `http.request.client_ip`.
    pub client_ip: Option<String>,
}

/// An exception of a root cause: botocore's `RootCauseException`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootCauseException {
    /// The exception's `type`.
    pub name: Option<String>,
    /// The exception's `message`.
    pub message: Option<String>,
}

/// One entity of a root-cause service's `EntityPath`.
#[derive(Clone, Debug, PartialEq)]
pub struct RootCauseEntity {
    /// The entity's `name`.
    pub name: String,
    /// A subsegment that calls downstream (namespace `aws` or `remote`).
    pub remote: bool,
    /// Fault and error causes: the exceptions of the culprit (the last entity of the last
    /// service); empty for every other entity.
    pub exceptions: Vec<RootCauseException>,
    /// Response-time causes: the entity's duration over the root's response time.
    pub coverage: Option<f64>,
}

/// One service of a root cause, with the path walked inside it.
#[derive(Clone, Debug, PartialEq)]
pub struct RootCauseService {
    /// Index into [`TraceSummary::service_ids`].
    pub service: usize,
    /// The service is an inferred segment.
    pub inferred: bool,
    /// From the service's segment down to where the walk left it (or stopped).
    pub entity_path: Vec<RootCauseEntity>,
}

/// A fault, error or response-time root cause: the services from the root to the culprit.
#[derive(Clone, Debug, PartialEq)]
pub struct RootCause {
    /// The services, root first.
    pub services: Vec<RootCauseService>,
    /// The root itself has the flag (for response time: always).
    pub client_impacting: bool,
}

/// Annotation key → its distinct values, each with the services (indexes into
/// [`TraceSummary::service_ids`]) that recorded it.
pub type Annotations = Vec<(String, Vec<(AnnotationValue, Vec<usize>)>)>;

/// X-Ray's `TraceSummary` (without `MatchedEventTime`, which belongs to a query).
#[allow(clippy::struct_excessive_bools)] // X-Ray's own flags, one field each
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSummary {
    /// `Id`.
    pub id: TraceId,
    /// `StartTime`: the earliest segment start; `None` without segments.
    pub start_time: Option<f64>,
    /// `Duration`: the trace's duration; `None` when no segment has ended.
    pub duration: Option<f64>,
    /// `ResponseTime`: the root's end minus its start; `None` without a complete root.
    pub response_time: Option<f64>,
    /// `HasFault`: the root segment has `fault`.
    pub has_fault: bool,
    /// `HasError`: the root segment has `error`.
    pub has_error: bool,
    /// `HasThrottle`: any segment, real or inferred, has `throttle`.
    pub has_throttle: bool,
    /// `IsPartial`.
    pub is_partial: bool,
    /// `Http`, from the root segment.
    pub http: Http,
    /// `Annotations`: key → distinct values, each with the services (indexes into
    /// [`TraceSummary::service_ids`]) that recorded it; keys and values in output order.
    pub annotations: Annotations,
    /// `Users`: each distinct `user` of a segment, with the services that carry it.
    pub users: Vec<(String, Vec<usize>)>,
    /// `ServiceIds`: every service node of the trace, in segment order.
    pub service_ids: Vec<ServiceId>,
    /// `ResourceARNs`: distinct `resource_arn` of segments.
    pub resource_arns: Vec<String>,
    /// `InstanceIds`: distinct `aws.ec2.instance_id` of segments.
    pub instance_ids: Vec<String>,
    /// `AvailabilityZones`: distinct `aws.ec2.availability_zone` of segments.
    pub availability_zones: Vec<String>,
    /// `EntryPoint`: the root's service (index into [`TraceSummary::service_ids`]).
    pub entry_point: Option<usize>,
    /// `FaultRootCauses`.
    pub fault_root_causes: Vec<RootCause>,
    /// `ErrorRootCauses`.
    pub error_root_causes: Vec<RootCause>,
    /// `ResponseTimeRootCauses`.
    pub response_time_root_causes: Vec<RootCause>,
    /// `Revision`.
    pub revision: u32,
}

/// Node `i < n` is entity `i`; node `n + i` is the inferred segment of subsegment `i`.
type Node = u32;
const NONE: u32 = u32::MAX;

/// The call tree of a trace: entities, inferred segments, and downstream segments under the
/// subsegment that called them.
struct Tree<'t> {
    trace: &'t Trace,
    n: u32,
    /// Segments (real and inferred) by the id of the entity they name as parent.
    downstream: FxHashMap<u64, Vec<Node>>,
    /// The position in `Trace::segments` of each segment node; `NONE` for subsegments.
    position: Vec<u32>,
}

impl<'t> Tree<'t> {
    fn new(trace: &'t Trace) -> Self {
        let n = trace.entities().len() as u32;
        let mut downstream: FxHashMap<u64, Vec<Node>> = FxHashMap::default();
        let mut position = vec![NONE; 2 * n as usize];
        for (pos, &segment) in trace.segments().iter().enumerate() {
            let (node, parent) = match segment {
                SegmentRef::Real(i) => (i, trace.entities()[i as usize].parent),
                SegmentRef::Inferred(i) => (n + i, Some(trace.entities()[i as usize].id)),
            };
            position[node as usize] = pos as u32;
            if let Some(parent) = parent {
                downstream.entry(parent.0).or_default().push(node);
            }
        }
        Self {
            trace,
            n,
            downstream,
            position,
        }
    }

    fn entity(&self, node: Node) -> &'t Entity {
        &self.trace.entities()[(node % self.n) as usize]
    }

    fn inferred(&self, node: Node) -> bool {
        node >= self.n
    }

    fn is_segment(&self, node: Node) -> bool {
        self.inferred(node) || self.entity(node).kind == Kind::Segment
    }

    fn id(&self, node: Node) -> SegmentId {
        let id = self.entity(node).id;
        if self.inferred(node) {
            id.inferred(self.trace.id())
        } else {
            id
        }
    }

    fn has(&self, node: Node, bit: u8) -> bool {
        self.entity(node).flags.has(bit)
    }

    fn duration(&self, node: Node) -> Option<f64> {
        let e = self.entity(node);
        e.end.map(|end| end - e.start)
    }

    /// Child subsegments and downstream segments (and, for an `aws`/`remote` subsegment, its
    /// inferred segment), by start time, then id.
    fn children(&self, node: Node) -> Vec<Node> {
        if self.inferred(node) {
            return Vec::new();
        }
        let mut kids: Vec<Node> = self.trace.children(node).to_vec();
        if let Some(called) = self.downstream.get(&self.entity(node).id.0) {
            kids.extend_from_slice(called);
        }
        kids.sort_unstable_by(|&a, &b| {
            let (ea, eb) = (self.entity(a), self.entity(b));
            ea.start
                .total_cmp(&eb.start)
                .then(self.id(a).cmp(&self.id(b)))
        });
        kids
    }
}

/// The service node of every segment of a trace (spec §5.2), with what its real segments say
/// about themselves. Summaries, the service graph and path analysis all start from it, so an
/// analysis that wants several of them reads each segment once ([`TraceSummary::with_services`],
/// [`crate::graph::ServiceGraph::add_with_services`]).
pub struct Services {
    /// The distinct services, first seen first (in `Trace::segments` order).
    pub ids: Vec<ServiceId>,
    /// The service of each segment: an index into `ids`, in `Trace::segments` order.
    pub of: Vec<usize>,
    /// Per segment, what a real segment says about itself (`None` for inferred segments).
    facts: Vec<Option<SegmentFacts>>,
}

impl Services {
    /// Reads the services of `trace`.
    #[must_use]
    pub fn of(trace: &Trace) -> Self {
        let segments = trace.segments();
        let mut services = Self {
            ids: Vec::new(),
            of: Vec::with_capacity(segments.len()),
            facts: Vec::with_capacity(segments.len()),
        };
        for &segment in segments {
            let (service, facts) = intern_service(trace, segment, &mut services.ids);
            services.of.push(service);
            services.facts.push(facts);
        }
        services
    }
}

impl TraceSummary {
    /// Derives the summary of `trace`.
    #[must_use]
    pub fn of(trace: &Trace) -> Self {
        Self::with_services(trace, Services::of(trace))
    }

    /// Derives the summary of `trace` whose services were read already.
    #[must_use]
    pub fn with_services(trace: &Trace, services: Services) -> Self {
        let entities = trace.entities();
        let root = trace.root().map(|pos| match trace.segments()[pos] {
            SegmentRef::Real(i) | SegmentRef::Inferred(i) => i,
        });

        // What each real segment says about itself, by service.
        let Services {
            ids: service_ids,
            of: service_of,
            facts,
        } = services;
        let mut users: Vec<(String, Vec<usize>)> = Vec::new();
        let (mut resource_arns, mut instance_ids, mut availability_zones) =
            (Vec::new(), Vec::new(), Vec::new());
        for (&service, facts) in service_of.iter().zip(facts) {
            let Some(facts) = facts else { continue };
            if let Some(user) = facts.user {
                match users.iter_mut().find(|(name, _)| *name == user) {
                    Some((_, services)) => push_unique(services, service),
                    None => users.push((user, vec![service])),
                }
            }
            push_some_unique(&mut resource_arns, facts.resource_arn);
            push_some_unique(&mut instance_ids, facts.instance_id);
            push_some_unique(&mut availability_zones, facts.availability_zone);
        }

        let annotations = annotations(trace, &service_of);
        let segment_starts = trace.segments().iter().map(|&s| match s {
            SegmentRef::Real(i) | SegmentRef::Inferred(i) => entities[i as usize].start,
        });
        let any_ended = trace.segments().iter().any(|&s| match s {
            SegmentRef::Real(i) | SegmentRef::Inferred(i) => entities[i as usize].end.is_some(),
        });
        let root_entity = root.map(|i| &entities[i as usize]);
        let mut summary = Self {
            id: trace.id(),
            start_time: segment_starts.min_by(f64::total_cmp),
            duration: any_ended.then(|| trace.duration()),
            response_time: root_entity.and_then(|e| e.end.map(|end| end - e.start)),
            has_fault: root_entity.is_some_and(|e| e.flags.has(Flags::FAULT)),
            has_error: root_entity.is_some_and(|e| e.flags.has(Flags::ERROR)),
            has_throttle: trace.segments().iter().any(|&s| match s {
                SegmentRef::Real(i) | SegmentRef::Inferred(i) => {
                    entities[i as usize].flags.has(Flags::THROTTLE)
                }
            }),
            is_partial: trace.is_partial(),
            http: root_entity.map(|e| read_http(trace, e)).unwrap_or_default(),
            annotations,
            users,
            service_ids,
            resource_arns,
            instance_ids,
            availability_zones,
            entry_point: trace.root().map(|pos| service_of[pos]),
            fault_root_causes: Vec::new(),
            error_root_causes: Vec::new(),
            response_time_root_causes: Vec::new(),
            revision: trace.revision(),
        };
        if let Some(root) = root {
            summary.root_causes(trace, &Tree::new(trace), &service_of, root);
        }
        summary
    }

    /// Fault, error and response-time root causes, walked from the root entity `root`.
    fn root_causes(&mut self, trace: &Trace, tree: &Tree<'_>, service_of: &[usize], root: Node) {
        let services = |path: &[Node]| split_services(tree, service_of, path);
        for (bit, causes) in [
            (Flags::FAULT, &mut self.fault_root_causes),
            (Flags::ERROR, &mut self.error_root_causes),
        ] {
            for path in flagged_paths(tree, root, bit) {
                let mut services = services(&path);
                let culprit = tree.entity(path[path.len() - 1]);
                if let Some(last) = services.last_mut().and_then(|s| s.entity_path.last_mut()) {
                    last.exceptions = exceptions(trace, culprit);
                }
                causes.push(RootCause {
                    services,
                    client_impacting: tree.has(root, bit),
                });
            }
        }
        if let Some(path) = slow_path(tree, root) {
            let mut services = services(&path);
            let whole = tree.duration(root).unwrap_or(0.0);
            let mut nodes = path.iter();
            for entity in services.iter_mut().flat_map(|s| s.entity_path.iter_mut()) {
                let node = *nodes.next().unwrap_or(&root);
                entity.coverage = Some(tree.duration(node).unwrap_or(0.0) / whole);
            }
            self.response_time_root_causes.push(RootCause {
                services,
                client_impacting: true,
            });
        }
    }

    /// Appends the summary as JSON in botocore's `TraceSummary` shape, members in the model's
    /// order; times and durations are written as doubles.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let _ = write!(out, "{{\"Id\":\"{}\"", self.id);
        for (key, value) in [
            ("StartTime", self.start_time),
            ("Duration", self.duration),
            ("ResponseTime", self.response_time),
        ] {
            if let Some(value) = value {
                let _ = write!(out, ",\"{key}\":");
                write_double(out, value);
            }
        }
        let _ = write!(
            out,
            ",\"HasFault\":{},\"HasError\":{},\"HasThrottle\":{},\"IsPartial\":{},\"Http\":{{",
            self.has_fault, self.has_error, self.has_throttle, self.is_partial
        );
        write_http(out, &self.http);
        out.extend_from_slice(b"},\"Annotations\":{");
        self.write_annotations(out);
        out.extend_from_slice(b"},\"Users\":[");
        for (n, (user, services)) in self.users.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"UserName\":");
            write_str(out, user);
            out.extend_from_slice(b",\"ServiceIds\":");
            self.write_service_list(out, services);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"ServiceIds\":[");
        for (n, service) in self.service_ids.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_service_id(out, service);
        }
        out.push(b']');
        for (key, member, values) in [
            ("ResourceARNs", "ARN", &self.resource_arns),
            ("InstanceIds", "Id", &self.instance_ids),
            ("AvailabilityZones", "Name", &self.availability_zones),
        ] {
            let _ = write!(out, ",\"{key}\":[");
            for (n, value) in values.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                let _ = write!(out, "{{\"{member}\":");
                write_str(out, value);
                out.push(b'}');
            }
            out.push(b']');
        }
        if let Some(entry) = self.entry_point {
            out.extend_from_slice(b",\"EntryPoint\":");
            write_service_id(out, &self.service_ids[entry]);
        }
        for (key, causes) in [
            ("FaultRootCauses", &self.fault_root_causes),
            ("ErrorRootCauses", &self.error_root_causes),
            ("ResponseTimeRootCauses", &self.response_time_root_causes),
        ] {
            let _ = write!(out, ",\"{key}\":[");
            for (n, cause) in causes.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                self.write_root_cause(out, cause);
            }
            out.push(b']');
        }
        let _ = write!(out, ",\"Revision\":{}}}", self.revision);
    }

    fn write_annotations(&self, out: &mut Vec<u8>) {
        for (n, (key, values)) in self.annotations.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_str(out, key);
            out.extend_from_slice(b":[");
            for (m, (value, services)) in values.iter().enumerate() {
                if m > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"AnnotationValue\":{");
                match value {
                    AnnotationValue::Number(x) => {
                        out.extend_from_slice(b"\"NumberValue\":");
                        write_double(out, *x);
                    }
                    AnnotationValue::Boolean(b) => {
                        let _ = write!(out, "\"BooleanValue\":{b}");
                    }
                    AnnotationValue::String(s) => {
                        out.extend_from_slice(b"\"StringValue\":");
                        write_str(out, s);
                    }
                }
                out.extend_from_slice(b"},\"ServiceIds\":");
                self.write_service_list(out, services);
                out.push(b'}');
            }
            out.push(b']');
        }
    }

    fn write_service_list(&self, out: &mut Vec<u8>, services: &[usize]) {
        out.push(b'[');
        for (n, &service) in services.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_service_id(out, &self.service_ids[service]);
        }
        out.push(b']');
    }

    /// Appends one root cause (`FaultRootCause`, `ErrorRootCause` or `ResponseTimeRootCause`)
    /// of this summary, as `GetTraceSummaries` writes it.
    pub fn write_root_cause(&self, out: &mut Vec<u8>, cause: &RootCause) {
        out.extend_from_slice(b"{\"Services\":[");
        for (n, service) in cause.services.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let id = &self.service_ids[service.service];
            out.extend_from_slice(b"{\"Name\":");
            write_str(out, &id.name);
            out.extend_from_slice(b",\"Names\":[");
            write_str(out, &id.name);
            out.push(b']');
            if let Some(kind) = &id.kind {
                out.extend_from_slice(b",\"Type\":");
                write_str(out, kind);
            }
            if let Some(account) = &id.account_id {
                out.extend_from_slice(b",\"AccountId\":");
                write_str(out, account);
            }
            out.extend_from_slice(b",\"EntityPath\":[");
            for (m, entity) in service.entity_path.iter().enumerate() {
                if m > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"Name\":");
                write_str(out, &entity.name);
                if let Some(coverage) = entity.coverage {
                    out.extend_from_slice(b",\"Coverage\":");
                    write_double(out, coverage);
                } else {
                    out.extend_from_slice(b",\"Exceptions\":[");
                    for (k, exception) in entity.exceptions.iter().enumerate() {
                        if k > 0 {
                            out.push(b',');
                        }
                        out.push(b'{');
                        let mut sep = "";
                        for (key, value) in
                            [("Name", &exception.name), ("Message", &exception.message)]
                        {
                            if let Some(value) = value {
                                let _ = write!(out, "{sep}\"{key}\":");
                                write_str(out, value);
                                sep = ",";
                            }
                        }
                        out.push(b'}');
                    }
                    out.push(b']');
                }
                let _ = write!(out, ",\"Remote\":{}}}", entity.remote);
            }
            let _ = write!(out, "],\"Inferred\":{}}}", service.inferred);
        }
        let _ = write!(out, "],\"ClientImpacting\":{}}}", cause.client_impacting);
    }
}

impl Trace {
    /// The trace's `TraceSummary` (see [`TraceSummary::of`]).
    #[must_use]
    pub fn summary(&self) -> TraceSummary {
        TraceSummary::of(self)
    }
}

/// Batches of at least this many traces are summarised in parallel.
const PARALLEL_MIN_TRACES: usize = 64;

/// Appends `[summary, ...]`, one `TraceSummary` per trace in order (in parallel for large
/// batches; the output does not depend on it).
pub fn write_summaries<T: Borrow<Trace> + Sync>(traces: &[T], out: &mut Vec<u8>) {
    write_list(traces, out, |trace, out| {
        TraceSummary::of(trace.borrow()).write_json(out);
    });
}

/// Each trace's `TraceSummary` as its own JSON document, in order (in parallel for large
/// batches): for a store that keeps one summary per row.
#[must_use]
pub fn summaries_each<T: Borrow<Trace> + Sync>(traces: &[T]) -> Vec<Vec<u8>> {
    let one = |trace: &T| {
        let mut out = Vec::with_capacity(1024);
        TraceSummary::of(trace.borrow()).write_json(&mut out);
        out
    };
    if traces.len() >= PARALLEL_MIN_TRACES {
        traces.par_iter().map(one).collect()
    } else {
        traces.iter().map(one).collect()
    }
}

/// Appends `[summary, ...]` of summaries made already (in parallel for large lists).
pub fn write_summary_list<S: Borrow<TraceSummary> + Sync>(summaries: &[S], out: &mut Vec<u8>) {
    write_list(summaries, out, |summary, out| {
        summary.borrow().write_json(out);
    });
}

/// Appends `[item, ...]` written by `one`, in order (in parallel for large lists; the output
/// does not depend on it).
fn write_list<T: Sync>(items: &[T], out: &mut Vec<u8>, one: impl Fn(&T, &mut Vec<u8>) + Sync) {
    out.push(b'[');
    if items.len() >= PARALLEL_MIN_TRACES {
        let parts: Vec<Vec<u8>> = items
            .par_iter()
            .map(|item| {
                let mut part = Vec::with_capacity(1024);
                one(item, &mut part);
                part
            })
            .collect();
        for (n, part) in parts.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(part);
        }
    } else {
        for (n, item) in items.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            one(item, out);
        }
    }
    out.push(b']');
}

/// What a real segment says about itself, read from its members.
#[derive(Default)]
struct SegmentFacts {
    user: Option<String>,
    resource_arn: Option<String>,
    account_id: Option<String>,
    instance_id: Option<String>,
    availability_zone: Option<String>,
}

impl SegmentFacts {
    fn read(trace: &Trace, e: &Entity) -> Self {
        let text = |span: Option<Span>| span.map(|span| decode(trace.text_of(e, span)));
        let mut facts = Self {
            user: text(e.user),
            resource_arn: text(e.resource_arn),
            ..Self::default()
        };
        let aws = e.aws.map_or(&b""[..], |span| trace.text_of(e, span));
        // Most segments' `aws` holds only SDK details: a scan for the keys skips the parse.
        if !may_hold(aws, &[b"\"account_id\"", b"\"ec2\""]) {
            return facts;
        }
        for (key, value) in members(aws) {
            match &*key {
                "account_id" => facts.account_id = account_id(&value),
                "ec2" => {
                    for (key, value) in members(value.as_raw_str().as_bytes()) {
                        match &*key {
                            "instance_id" => {
                                facts.instance_id = value.as_str().map(str::to_owned);
                            }
                            "availability_zone" => {
                                facts.availability_zone = value.as_str().map(str::to_owned);
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        facts
    }
}

/// Whether the JSON `text` may hold a member named by one of `keys` (quoted): false only when
/// none occurs and no escape could spell one differently.
fn may_hold(text: &[u8], keys: &[&[u8]]) -> bool {
    memchr::memchr(b'\\', text).is_some()
        || keys
            .iter()
            .any(|key| memchr::memmem::find(text, key).is_some())
}

/// Whether the raw JSON string `raw` (quotes included) holds `text`, decoding only when it has
/// an escape.
fn same_text(raw: &[u8], text: &str) -> bool {
    match raw.get(1..raw.len().saturating_sub(1)) {
        Some(inner) if memchr::memchr(b'\\', inner).is_none() => inner == text.as_bytes(),
        _ => decode(raw) == text,
    }
}

/// What the real segments of a trace say about themselves, as a summary lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// `Users`' `UserName`s.
    pub users: Vec<String>,
    /// `ResourceARNs`.
    pub resource_arns: Vec<String>,
    /// `InstanceIds`.
    pub instance_ids: Vec<String>,
    /// `AvailabilityZones`.
    pub availability_zones: Vec<String>,
}

/// The `Users`, `ResourceARNs`, `InstanceIds` and `AvailabilityZones` of `trace` (each distinct,
/// in segment order, as [`TraceSummary::of`] lists them), without the rest of its summary.
pub(crate) fn facts(trace: &Trace) -> Facts {
    let mut out = Facts::default();
    for &segment in trace.segments() {
        let SegmentRef::Real(i) = segment else {
            continue;
        };
        let facts = SegmentFacts::read(trace, &trace.entities()[i as usize]);
        push_some_unique(&mut out.users, facts.user);
        push_some_unique(&mut out.resource_arns, facts.resource_arn);
        push_some_unique(&mut out.instance_ids, facts.instance_id);
        push_some_unique(&mut out.availability_zones, facts.availability_zone);
    }
    out
}

/// The service node of a segment of `trace`, real or inferred (spec §5.2).
#[must_use]
pub fn service_id(trace: &Trace, segment: SegmentRef) -> ServiceId {
    let mut ids = Vec::new();
    intern_service(trace, segment, &mut ids);
    ids.swap_remove(0)
}

/// The index in `ids` of the node of `segment` (added when new), with what a real segment says
/// about itself. A real segment's node is matched on its raw text, so a service seen before
/// allocates nothing.
fn intern_service(
    trace: &Trace,
    segment: SegmentRef,
    ids: &mut Vec<ServiceId>,
) -> (usize, Option<SegmentFacts>) {
    let entities = trace.entities();
    match segment {
        SegmentRef::Real(i) => {
            let e = &entities[i as usize];
            let facts = SegmentFacts::read(trace, e);
            let name = trace.text_of(e, e.name);
            let origin = e.origin.map(|span| trace.text_of(e, span));
            let seen = ids.iter().position(|id| {
                same_text(name, &id.name)
                    && match (origin, &id.kind) {
                        (Some(raw), Some(kind)) => same_text(raw, kind),
                        (None, None) => true,
                        _ => false,
                    }
                    && id.account_id == facts.account_id
            });
            let service = seen.unwrap_or_else(|| {
                ids.push(ServiceId {
                    name: decode(name),
                    kind: origin.map(decode),
                    account_id: facts.account_id.clone(),
                });
                ids.len() - 1
            });
            (service, Some(facts))
        }
        SegmentRef::Inferred(i) => (
            intern(ids, inferred_service(trace, &entities[i as usize])),
            None,
        ),
    }
}

/// `http.response.status` of entity `e` (read once, when its document was parsed).
#[must_use]
pub fn http_status(_trace: &Trace, e: &Entity) -> Option<i64> {
    e.status.map(i64::from)
}

/// The node of the inferred segment of subsegment `e` (spec §5.2): an AWS resource is named
/// after the resource when its type is known, a remote call after the subsegment.
pub(crate) fn inferred_service(trace: &Trace, e: &Entity) -> ServiceId {
    let raw_name = trace.text_of(e, e.name);
    let name = decode(raw_name);
    let origin = known_origin(e, raw_name);
    if e.namespace == Namespace::Remote {
        return ServiceId {
            name,
            kind: origin.map(str::to_owned),
            account_id: None,
        };
    }
    let (mut resource, mut account) = (None, None);
    if let Some(aws) = e.aws {
        // The resource member, and the member names the scan below looks for (quoted).
        let (wanted, keys): (&str, &[&[u8]]) = match (origin, e.resource) {
            (Some(_), AwsResource::TableName) => ("table_name", &[b"\"table_name\""]),
            (Some(_), AwsResource::QueueUrl) => ("queue_url", &[b"\"queue_url\""]),
            (Some(_), AwsResource::FunctionName) => ("function_name", &[b"\"function_name\""]),
            (Some(_), AwsResource::BucketName) => ("bucket_name", &[b"\"bucket_name\""]),
            _ => ("", &[]),
        };
        let text = trace.text_of(e, aws);
        let found = may_hold(text, &[b"\"account_id\""]) || may_hold(text, keys);
        for (key, value) in members(if found { text } else { b"{}" }) {
            if &*key == "account_id" {
                account = account_id(&value);
            } else if !wanted.is_empty() && *key == *wanted {
                resource = value.as_str().map(|text| {
                    if wanted == "queue_url" {
                        // The queue's name is the last part of its URL.
                        text.rsplit('/').next().unwrap_or(text).to_owned()
                    } else {
                        text.to_owned()
                    }
                });
            }
        }
    }
    ServiceId {
        kind: Some(origin.map_or_else(|| format!("AWS::{name}"), str::to_owned)),
        name: resource.filter(|r| !r.is_empty()).unwrap_or(name),
        account_id: account,
    }
}

/// `aws.account_id`: a string, or a number taken as its text (AWS's own examples send one).
fn account_id(value: &LazyValue<'_>) -> Option<String> {
    match value.get_type() {
        JsonType::String => value.as_str().map(str::to_owned),
        JsonType::Number => Some(value.as_raw_str().trim_ascii().to_owned()),
        _ => None,
    }
}

/// Annotations of every returned entity, segments in order and each segment's tree depth
/// first, attributed to the entity's segment's service (`service_of[position in
/// Trace::segments]`, an index into `ServiceIds`; filters, which need no attribution, pass
/// zeros).
pub(crate) fn annotations(trace: &Trace, service_of: &[usize]) -> Annotations {
    let mut out: Annotations = Vec::new();
    let mut keys: FxHashMap<String, usize> = FxHashMap::default();
    let entities = trace.entities();
    if entities.iter().all(|e| e.annotations.is_none()) {
        return out;
    }
    let mut stack = Vec::new();
    for (pos, &segment) in trace.segments().iter().enumerate() {
        let SegmentRef::Real(top) = segment else {
            continue;
        };
        let service = service_of[pos];
        stack.push(top);
        while let Some(i) = stack.pop() {
            stack.extend(trace.children(i).iter().rev());
            let e = &entities[i as usize];
            let Some(span) = e.annotations else { continue };
            for (key, value) in members(trace.text_of(e, span)) {
                let value = match value.get_type() {
                    JsonType::String => {
                        AnnotationValue::String(value.as_str().unwrap_or_default().to_owned())
                    }
                    JsonType::Boolean => AnnotationValue::Boolean(value.as_bool() == Some(true)),
                    JsonType::Number => match value.as_raw_str().trim_ascii().parse::<f64>() {
                        Ok(x) if x.is_finite() => AnnotationValue::Number(x),
                        _ => continue, // beyond a double: NumberValue cannot hold it
                    },
                    _ => continue,
                };
                let slot = match keys.get(&*key) {
                    Some(&slot) => slot,
                    None if out.len() < MAX_ANNOTATION_KEYS => {
                        keys.insert(key.to_string(), out.len());
                        out.push((key.to_string(), Vec::new()));
                        out.len() - 1
                    }
                    None => continue,
                };
                let values = &mut out[slot].1;
                match values.iter_mut().find(|(v, _)| *v == value) {
                    Some((_, services)) => push_unique(services, service),
                    None => values.push((value, vec![service])),
                }
            }
        }
    }
    out
}

/// The `http` of entity `e` (botocore's `Http` members; absent ones are `None`).
#[must_use]
pub fn read_http(trace: &Trace, e: &Entity) -> Http {
    let mut http = Http {
        status: http_status(trace, e),
        ..Http::default()
    };
    let Some(span) = e.http else { return http };
    for (key, value) in members(trace.text_of(e, span)) {
        if key != "request" {
            continue;
        }
        for (key, value) in members(value.as_raw_str().as_bytes()) {
            let slot = match &*key {
                "url" => &mut http.url,
                "method" => &mut http.method,
                "user_agent" => &mut http.user_agent,
                "client_ip" => &mut http.client_ip,
                _ => continue,
            };
            *slot = value.as_str().map(str::to_owned);
        }
    }
    http
}

/// The exceptions of entity `e`'s cause (a reference followed), as `{Name, Message}`.
fn exceptions(trace: &Trace, e: &Entity) -> Vec<RootCauseException> {
    let Some(cause) = trace.cause(e.id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in members(cause) {
        if &*key != "exceptions" {
            continue;
        }
        for exception in sonic_rs::to_array_iter(value.as_raw_str()).flatten() {
            let mut found = RootCauseException::default();
            for (key, value) in members(exception.as_raw_str().as_bytes()) {
                match &*key {
                    "type" => found.name = value.as_str().map(str::to_owned),
                    "message" => found.message = value.as_str().map(str::to_owned),
                    _ => {}
                }
            }
            out.push(found);
        }
    }
    out
}

/// The paths from the root to each culprit of flag `bit` (spec §4.3): a depth-first walk from
/// the root; at each entity with the flag whose ancestors lack it, a descent that keeps
/// following the child with the flag that ended last, until none has it.
fn flagged_paths(tree: &Tree<'_>, root: Node, bit: u8) -> Vec<Vec<Node>> {
    // Most traces have no fault (or no error) anywhere: nothing to walk.
    if !tree.trace.entities().iter().any(|e| e.flags.has(bit)) {
        return Vec::new();
    }
    let size = 2 * tree.n as usize;
    let (mut from, mut seen) = (vec![NONE; size], vec![false; size]);
    let mut paths = Vec::new();
    let mut stack = vec![root];
    seen[root as usize] = true;
    let end = |node: Node| tree.entity(node).end.unwrap_or(f64::INFINITY);
    while let Some(node) = stack.pop() {
        if !tree.has(node, bit) {
            for &child in tree.children(node).iter().rev() {
                if !std::mem::replace(&mut seen[child as usize], true) {
                    from[child as usize] = node;
                    stack.push(child);
                }
            }
            continue;
        }
        let mut leaf = node;
        loop {
            let mut best: Option<Node> = None;
            for child in tree.children(leaf) {
                if tree.has(child, bit)
                    && !seen[child as usize]
                    && best.is_none_or(|b| end(child) > end(b))
                {
                    best = Some(child);
                }
            }
            let Some(next) = best else { break };
            seen[next as usize] = true;
            from[next as usize] = leaf;
            leaf = next;
        }
        let mut path = vec![leaf];
        while let Some(&up) = from
            .get(path[path.len() - 1] as usize)
            .filter(|&&p| p != NONE)
        {
            path.push(up);
        }
        path.reverse();
        paths.push(path);
    }
    paths
}

/// The response-time path (spec §4.3): from the complete root, into the child that took
/// longest, while it takes at least [`RESPONSE_TIME_SHARE`] of its parent. `None` unless the
/// root is complete and took some time.
fn slow_path(tree: &Tree<'_>, root: Node) -> Option<Vec<Node>> {
    let whole = tree.duration(root)?;
    if whole <= 0.0 {
        return None;
    }
    let mut path = vec![root];
    let mut node = root;
    // A tree has no cycles; the bound only guards the loop against a broken invariant.
    for _ in 0..2 * tree.n {
        let parent = tree.duration(node).unwrap_or(0.0);
        let mut best: Option<(Node, f64)> = None;
        for child in tree.children(node) {
            if let Some(d) = tree.duration(child) {
                if best.is_none_or(|(_, b)| d > b) {
                    best = Some((child, d));
                }
            }
        }
        match best {
            Some((child, d)) if d >= RESPONSE_TIME_SHARE * parent => {
                path.push(child);
                node = child;
            }
            _ => break,
        }
    }
    Some(path)
}

/// Cuts a path of nodes into services: a new service at each segment.
fn split_services(tree: &Tree<'_>, service_of: &[usize], path: &[Node]) -> Vec<RootCauseService> {
    let mut services: Vec<RootCauseService> = Vec::new();
    for &node in path {
        let e = tree.entity(node);
        let step = RootCauseEntity {
            name: decode(tree.trace.text_of(e, e.name)),
            remote: !tree.is_segment(node)
                && matches!(e.namespace, Namespace::Aws | Namespace::Remote),
            exceptions: Vec::new(),
            coverage: None,
        };
        let position = tree.position[node as usize];
        if tree.is_segment(node) && position != NONE {
            services.push(RootCauseService {
                service: service_of[position as usize],
                inferred: tree.inferred(node),
                entity_path: vec![step],
            });
        } else if let Some(service) = services.last_mut() {
            service.entity_path.push(step);
        }
    }
    services
}

fn intern(services: &mut Vec<ServiceId>, id: ServiceId) -> usize {
    if let Some(at) = services.iter().position(|s| *s == id) {
        return at;
    }
    services.push(id);
    services.len() - 1
}

fn push_unique(services: &mut Vec<usize>, service: usize) {
    if !services.contains(&service) {
        services.push(service);
    }
}

fn push_some_unique(values: &mut Vec<String>, value: Option<String>) {
    if let Some(value) = value {
        if !values.contains(&value) {
            values.push(value);
        }
    }
}

/// The members of the JSON object `raw` (already validated when its document was parsed);
/// nothing for any other value.
pub(crate) fn members(raw: &[u8]) -> impl Iterator<Item = (Cow<'_, str>, LazyValue<'_>)> {
    let is_object = raw.first() == Some(&b'{');
    sonic_rs::to_object_iter(if is_object { raw } else { &b"{}"[..] }).flatten()
}

/// A raw JSON string (quotes included) → its text.
pub(crate) fn decode(raw: &[u8]) -> String {
    if raw.len() >= 2 && !raw.contains(&b'\\') {
        return String::from_utf8_lossy(&raw[1..raw.len() - 1]).into_owned();
    }
    sonic_rs::from_slice::<String>(raw).unwrap_or_default()
}

/// Writes the members of an `Http` (the braces are the caller's).
fn write_http(out: &mut Vec<u8>, http: &Http) {
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, key: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        let _ = write!(out, "\"{key}\":");
    };
    if let Some(url) = &http.url {
        field(out, "HttpURL");
        write_str(out, url);
    }
    if let Some(status) = http.status {
        field(out, "HttpStatus");
        let _ = write!(out, "{status}");
    }
    for (key, value) in [
        ("HttpMethod", &http.method),
        ("UserAgent", &http.user_agent),
        ("ClientIp", &http.client_ip),
    ] {
        if let Some(value) = value {
            field(out, key);
            write_str(out, value);
        }
    }
}

/// Writes a `ServiceId`: `{"Name", "Names", "AccountId"?, "Type"?}`.
fn write_service_id(out: &mut Vec<u8>, id: &ServiceId) {
    out.extend_from_slice(b"{\"Name\":");
    write_str(out, &id.name);
    out.extend_from_slice(b",\"Names\":[");
    write_str(out, &id.name);
    out.push(b']');
    if let Some(account) = &id.account_id {
        out.extend_from_slice(b",\"AccountId\":");
        write_str(out, account);
    }
    if let Some(kind) = &id.kind {
        out.extend_from_slice(b",\"Type\":");
        write_str(out, kind);
    }
    out.push(b'}');
}

/// Writes a finite double the shortest way that reads back exactly, always as a JSON float:
/// `2.0`, `0.25`, and, far from 1, `1e300` rather than 301 digits (Rust's `Debug` form).
pub(crate) fn write_double(out: &mut Vec<u8>, value: f64) {
    let _ = write!(out, "{value:?}");
}

/// Writes `text` as a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut from = 0;
    for (at, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[from..at]);
                let _ = write!(out, "\\u{b:04x}");
                from = at + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..at]);
        out.extend_from_slice(escape);
        from = at + 1;
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}
