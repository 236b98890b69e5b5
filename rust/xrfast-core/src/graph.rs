//! X-Ray's service graph of assembled traces (spec §5; the choices where X-Ray is silent are in
//! docs/decisions.md, "Service graph").
//!
//! A [`ServiceGraph`] is built one trace at a time ([`ServiceGraph::add`]) or from a slice
//! ([`ServiceGraph::from_traces`], in parallel for large slices), and two graphs combine with
//! [`ServiceGraph::merge`]. Everything it keeps is a sum, a minimum, a maximum or a count per
//! key — statistics, millisecond histograms, latency sketches, one-minute time buckets — so a
//! merge is associative and commutative and equals one pass over the union of the traces.
//!
//! Nodes are the segments' [`crate::summary::Services`] (spec §5.2). JSON is written here, in botocore's
//! member order: `GetServiceGraph`, `GetTraceGraph` and `GetTimeSeriesServiceStatistics`.
//! Link edges (`EdgeType: "link"`, SQS → consumers of linked traces) are joined across traces
//! in `links` (docs/links.md); time series and percentiles cover call edges only.
//!
//! ```
//! use xrfast_core::assemble::assemble_all;
//! use xrfast_core::graph::ServiceGraph;
//! use xrfast_core::{Format, Limits};
//!
//! let doc = br#"{"id":"0000000000000001","name":"api","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1.0,"end_time":1.5}"#;
//! let (traces, _, _) = assemble_all(doc, Format::Document, Limits::default()).unwrap();
//! let graph = ServiceGraph::from_traces(&traces);
//! let mut json = Vec::new();
//! graph.write_trace_graph(&mut json);
//! assert!(json.starts_with(br#"{"Services":[{"ReferenceId":0,"Name":"api","Names":["api"],"Root":true"#));
//! ```

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::io::Write as _;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use sketches_ddsketch::{Config, DDSketch};

use crate::document::{Flags, Kind};
use crate::summary::{http_status, write_double, write_str, ServiceId, Services, TraceSummary};
use crate::trace::{SegmentRef, Trace};

mod links;

pub use links::{LinkCounters, LinkEdge, DEFAULT_MAX_PENDING_LINKS};

/// The `Period`s `GetTimeSeriesServiceStatistics` accepts, in seconds (spec §10 Q16).
pub const PERIODS: [u32; 3] = [60, 300, 3600];

/// Time buckets are kept at the finest period; coarser ones are sums of them.
const BUCKET_SECONDS: f64 = 60.0;

/// The latency sketches' relative accuracy: a quantile is within 1 % of a value of the data.
pub const SKETCH_RELATIVE_ACCURACY: f64 = 0.01;

/// The sketches' bin limit. Keys of values from 1 ns to about 19 years fit in 2,048 bins at 1 %,
/// so bins never collapse on real latencies and merging sketches is exact.
const SKETCH_MAX_BINS: u32 = 2048;

/// Values below this (1 ns) count as zero in the sketches.
const SKETCH_MIN_VALUE: f64 = 1e-9;

/// Slices of at least this many traces are added in parallel, as partial graphs then merged.
const PARALLEL_MIN_TRACES: usize = 64;

/// The `Type` of the node X-Ray draws for the callers of a root service.
pub const CLIENT_TYPE: &str = "client";

/// How spec §5.4 classifies one completed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Neither fault, throttle nor error.
    Ok,
    /// `throttle`, or status 429.
    Throttle,
    /// `error`, or another 4xx status.
    Error,
    /// `fault`, or a 5xx status.
    Fault,
}

impl Outcome {
    /// Classifies a request by its flags and `http.response.status`; the first rule that matches
    /// wins: fault, throttle, error, ok.
    #[must_use]
    pub fn classify(flags: Flags, status: Option<i64>) -> Self {
        let status = status.unwrap_or(0);
        if flags.has(Flags::FAULT) || (500..600).contains(&status) {
            Self::Fault
        } else if flags.has(Flags::THROTTLE) || status == 429 {
            Self::Throttle
        } else if flags.has(Flags::ERROR) || (400..500).contains(&status) {
            Self::Error
        } else {
            Self::Ok
        }
    }
}

/// A duration in whole nanoseconds, rounded half up, so that sums are exact in any order.
fn nanos(seconds: f64) -> i64 {
    (seconds * 1e9 + 0.5).floor() as i64
}

/// A duration in whole milliseconds, rounded half up: a histogram entry's `Value` (spec §5.5).
fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0 + 0.5).floor() as i64
}

/// botocore's `ServiceStatistics` / `EdgeStatistics` of completed requests (spec §5.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    /// `OkCount`.
    pub ok: u64,
    /// `ErrorStatistics.ThrottleCount`.
    pub throttle: u64,
    /// `ErrorStatistics.OtherCount`.
    pub error_other: u64,
    /// `FaultStatistics.TotalCount` (and `OtherCount`: no 5xx class is tracked apart).
    pub fault: u64,
    /// `TotalResponseTime` in nanoseconds.
    pub response_nanos: i128,
}

impl Statistics {
    /// `TotalCount`: every completed request.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.ok + self.throttle + self.error_other + self.fault
    }

    fn add(&mut self, outcome: Outcome, seconds: f64) {
        *match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::Throttle => &mut self.throttle,
            Outcome::Error => &mut self.error_other,
            Outcome::Fault => &mut self.fault,
        } += 1;
        self.response_nanos += i128::from(nanos(seconds));
    }

    fn merge(&mut self, other: &Self) {
        self.ok += other.ok;
        self.throttle += other.throttle;
        self.error_other += other.error_other;
        self.fault += other.fault;
        self.response_nanos += other.response_nanos;
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let errors = self.throttle + self.error_other;
        let _ = write!(
            out,
            "{{\"OkCount\":{},\"ErrorStatistics\":{{\"ThrottleCount\":{},\"OtherCount\":{},\
             \"TotalCount\":{errors}}},\"FaultStatistics\":{{\"OtherCount\":{},\"TotalCount\":{}}},\
             \"TotalCount\":{},\"TotalResponseTime\":",
            self.ok,
            self.throttle,
            self.error_other,
            self.fault,
            self.fault,
            self.total()
        );
        write_double(out, self.response_nanos as f64 / 1e9);
        out.push(b'}');
    }
}

/// A list of `HistogramEntry`: samples rounded to milliseconds, counted per value (spec §5.5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram(BTreeMap<i64, u64>);

impl Histogram {
    /// Counts one sample of `seconds`.
    pub fn add(&mut self, seconds: f64) {
        *self.0.entry(millis(seconds)).or_default() += 1;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Self) {
        for (&value, &count) in &other.0 {
            *self.0.entry(value).or_default() += count;
        }
    }

    /// `(milliseconds, count)`, ascending.
    pub fn entries(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.0.iter().map(|(&v, &c)| (v, c))
    }

    /// Whether no sample was counted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends `[{"Value": seconds, "Count": n}, ...]`, ascending by value.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (n, (&value, &count)) in self.0.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"Value\":");
            write_double(out, value as f64 / 1000.0);
            let _ = write!(out, ",\"Count\":{count}}}");
        }
        out.push(b']');
    }
}

/// Response times of completed requests: exact count, minimum, maximum and sum, and a `DDSketch`
/// for quantiles within [`SKETCH_RELATIVE_ACCURACY`].
#[derive(Clone)]
pub struct Latency {
    count: u64,
    min: f64,
    max: f64,
    sum_nanos: i128,
    sketch: DDSketch,
}

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latency")
            .field("count", &self.count)
            .field("min", &self.min)
            .field("max", &self.max)
            .field("sum_nanos", &self.sum_nanos)
            .finish_non_exhaustive()
    }
}

impl Default for Latency {
    fn default() -> Self {
        let alpha = SKETCH_RELATIVE_ACCURACY;
        Self {
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum_nanos: 0,
            sketch: DDSketch::new(Config::new(alpha, SKETCH_MAX_BINS, SKETCH_MIN_VALUE)),
        }
    }
}

impl Latency {
    /// Counts one response time.
    pub fn add(&mut self, seconds: f64) {
        self.count += 1;
        self.min = self.min.min(seconds);
        self.max = self.max.max(seconds);
        self.sum_nanos += i128::from(nanos(seconds));
        self.sketch.add(seconds);
    }

    /// Adds everything `other` counted.
    pub fn merge(&mut self, other: &Self) {
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum_nanos += other.sum_nanos;
        // Both sketches have the same configuration, the one condition a merge can fail on.
        let _ = self.sketch.merge(&other.sketch);
    }

    /// How many response times were counted.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The shortest; `None` when empty.
    #[must_use]
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// The longest; `None` when empty.
    #[must_use]
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// The sum in seconds (of the values rounded to nanoseconds, so it is exact in any order).
    #[must_use]
    pub fn sum(&self) -> f64 {
        self.sum_nanos as f64 / 1e9
    }

    /// The `q` quantile (0 ≤ q ≤ 1) within [`SKETCH_RELATIVE_ACCURACY`]; `None` when empty or
    /// `q` is out of range.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.sketch.quantile(q).ok().flatten()
    }

    /// Appends `{"count","min","max","sum","p50","p90","p95","p99"}`; unknowns are `null`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let _ = write!(out, "{{\"count\":{}", self.count);
        let values = [
            ("min", self.min()),
            ("max", self.max()),
            ("sum", Some(self.sum())),
            ("p50", self.quantile(0.5)),
            ("p90", self.quantile(0.9)),
            ("p95", self.quantile(0.95)),
            ("p99", self.quantile(0.99)),
        ];
        for (key, value) in values {
            let _ = write!(out, ",\"{key}\":");
            match value {
                Some(v) if v.is_finite() => write_double(out, v),
                _ => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
    }
}

/// Statistics and response-time histogram of one time bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// The bucket's statistics.
    pub statistics: Statistics,
    /// The bucket's response times.
    pub response_times: Histogram,
}

impl Bucket {
    fn merge(&mut self, other: &Self) {
        self.statistics.merge(&other.statistics);
        self.response_times.merge(&other.response_times);
    }
}

/// What a node and an edge both record about their requests.
#[derive(Clone, Debug)]
pub struct Samples {
    /// Earliest start of any request, complete or not.
    pub start: f64,
    /// Latest end of a completed request.
    pub end: f64,
    /// Statistics of completed requests.
    pub statistics: Statistics,
    /// Their response times.
    pub response_times: Histogram,
    /// Their latency sketch.
    pub latency: Latency,
    /// One-minute buckets, by the minute (epoch seconds / 60) in which each request ended.
    pub buckets: BTreeMap<i64, Bucket>,
}

impl Default for Samples {
    fn default() -> Self {
        Self {
            start: f64::INFINITY,
            end: f64::NEG_INFINITY,
            statistics: Statistics::default(),
            response_times: Histogram::default(),
            latency: Latency::default(),
            buckets: BTreeMap::new(),
        }
    }
}

impl Samples {
    /// Counts a request; `outcome` is asked only of a completed one.
    fn add(&mut self, start: f64, end: Option<f64>, outcome: impl FnOnce() -> Outcome) {
        self.start = self.start.min(start);
        let Some(end) = end else { return };
        let outcome = outcome();
        self.end = self.end.max(end);
        let seconds = end - start;
        self.statistics.add(outcome, seconds);
        self.response_times.add(seconds);
        self.latency.add(seconds);
        let bucket = self
            .buckets
            .entry((end / BUCKET_SECONDS).floor() as i64)
            .or_default();
        bucket.statistics.add(outcome, seconds);
        bucket.response_times.add(seconds);
    }

    fn merge(&mut self, other: &Self) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.statistics.merge(&other.statistics);
        self.response_times.merge(&other.response_times);
        self.latency.merge(&other.latency);
        for (&minute, bucket) in &other.buckets {
            self.buckets.entry(minute).or_default().merge(bucket);
        }
    }

    fn write_times(&self, out: &mut Vec<u8>) {
        write_times(out, self.start, self.end);
    }
}

/// A service node: its own segments' requests (for a client node, none).
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// A real segment belongs to it (`State: "active"`; else `"unknown"`).
    pub active: bool,
    /// It is the root of some trace.
    pub root: bool,
    /// It is the client node of a root service.
    pub client: bool,
    /// Its segments' requests (response time = segment end − start).
    pub samples: Samples,
    /// The durations of the complete traces it is the root of.
    pub trace_durations: Histogram,
}

impl Node {
    fn merge(&mut self, other: &Self) {
        self.active |= other.active;
        self.root |= other.root;
        self.client |= other.client;
        self.samples.merge(&other.samples);
        self.trace_durations.merge(&other.trace_durations);
    }
}

/// A caller → callee edge and its requests, as the caller measured them.
pub type EdgeKey = (ServiceId, ServiceId);

/// The service graph of a set of traces.
#[derive(Clone, Debug, Default)]
pub struct ServiceGraph {
    nodes: FxHashMap<ServiceId, Node>,
    edges: FxHashMap<EdgeKey, Samples>,
    /// Link edges, and the links waiting for their other side.
    links: links::Links,
    traces: u64,
}

/// Which requests a time series counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Every client → root edge: the requests that entered the application (the default).
    ClientEdges,
    /// One node's own requests (`ServiceSummaryStatistics`).
    Node(ServiceId),
    /// One edge's requests (`EdgeSummaryStatistics`).
    Edge(ServiceId, ServiceId),
    /// The requests of several nodes, summed (`ServiceSummaryStatistics`): what an
    /// `EntitySelectorExpression` such as `service("api")` names (every type of that name).
    Nodes(Vec<ServiceId>),
    /// The requests of several edges, summed (`EdgeSummaryStatistics`).
    Edges(Vec<EdgeKey>),
}

impl ServiceGraph {
    /// An empty graph.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph that keeps at most `max` link entries waiting for their other side
    /// (producers plus consumers; [`DEFAULT_MAX_PENDING_LINKS`] for [`ServiceGraph::new`]).
    #[must_use]
    pub fn with_max_pending_links(max: usize) -> Self {
        let mut graph = Self::default();
        graph.links.max_pending = max;
        graph
    }

    /// The bound on link entries waiting for their other side.
    #[must_use]
    pub fn max_pending_links(&self) -> usize {
        self.links.max_pending
    }

    /// The graph of `traces`; slices of 64 traces or more are split across threads and the
    /// partial graphs merged (the result does not depend on it).
    #[must_use]
    pub fn from_traces<T: Borrow<Trace> + Sync>(traces: &[T]) -> Self {
        Self::from_traces_bounded(traces, DEFAULT_MAX_PENDING_LINKS)
    }

    /// [`ServiceGraph::from_traces`] with at most `max_pending_links` link entries waiting.
    #[must_use]
    pub fn from_traces_bounded<T: Borrow<Trace> + Sync>(
        traces: &[T],
        max_pending_links: usize,
    ) -> Self {
        let new = || Self::with_max_pending_links(max_pending_links);
        if traces.len() < PARALLEL_MIN_TRACES {
            let mut graph = new();
            for trace in traces {
                graph.add(trace.borrow());
            }
            return graph;
        }
        traces
            .par_iter()
            .fold(new, |mut graph, trace| {
                graph.add(trace.borrow());
                graph
            })
            .reduce(new, |mut a, b| {
                a.merge(&b);
                a
            })
    }

    /// The graph of `traces` and their summaries in one pass, which reads each trace's services
    /// once for both (an analysis wants both: this is what `xrfast.analyze` runs). Split across
    /// threads in chunks of at least 64 traces; the summaries are in the order of `traces`.
    #[must_use]
    pub fn with_summaries<T: Borrow<Trace> + Sync>(traces: &[T]) -> (Self, Vec<TraceSummary>) {
        Self::with_summaries_bounded(traces, DEFAULT_MAX_PENDING_LINKS)
    }

    /// [`ServiceGraph::with_summaries`] with at most `max_pending_links` link entries waiting.
    #[must_use]
    pub fn with_summaries_bounded<T: Borrow<Trace> + Sync>(
        traces: &[T],
        max_pending_links: usize,
    ) -> (Self, Vec<TraceSummary>) {
        let chunk = PARALLEL_MIN_TRACES.max(traces.len() / (4 * rayon::current_num_threads()));
        let parts: Vec<(Self, Vec<TraceSummary>)> = traces
            .par_chunks(chunk)
            .map(|chunk| {
                let mut graph = Self::with_max_pending_links(max_pending_links);
                let summaries = chunk
                    .iter()
                    .map(|trace| {
                        let trace = trace.borrow();
                        let services = Services::of(trace);
                        graph.add_with_services(trace, &services);
                        TraceSummary::with_services(trace, services)
                    })
                    .collect();
                (graph, summaries)
            })
            .collect();
        let mut graph = Self::with_max_pending_links(max_pending_links);
        let mut summaries = Vec::with_capacity(traces.len());
        for (part, part_summaries) in parts {
            graph.merge(&part);
            summaries.extend(part_summaries);
        }
        (graph, summaries)
    }

    /// How many traces were added.
    #[must_use]
    pub fn trace_count(&self) -> u64 {
        self.traces
    }

    /// Whether no trace gave a node.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The nodes, in `ReferenceId` order (by name, then type, then account).
    #[must_use]
    pub fn nodes(&self) -> Vec<(&ServiceId, &Node)> {
        let mut nodes: Vec<_> = self.nodes.iter().collect();
        nodes.sort_unstable_by(|a, b| a.0.cmp(b.0));
        nodes
    }

    /// The edges, by caller then callee.
    #[must_use]
    pub fn edges(&self) -> Vec<(&EdgeKey, &Samples)> {
        let mut edges: Vec<_> = self.edges.iter().collect();
        edges.sort_unstable_by(|a, b| a.0.cmp(b.0));
        edges
    }

    /// The link edges (`EdgeType: "link"`), by producer's node then consumer's node.
    #[must_use]
    pub fn link_edges(&self) -> Vec<(&EdgeKey, &LinkEdge)> {
        let mut edges: Vec<_> = self.links.edges.iter().collect();
        edges.sort_unstable_by(|a, b| a.0.cmp(b.0));
        edges
    }

    /// Links still waiting for their other side, and those dropped or unreadable.
    #[must_use]
    pub fn link_counters(&self) -> LinkCounters {
        self.links.counters()
    }

    /// Adds everything `other` holds; links whose producer and consumer were in different
    /// graphs resolve now. The bound on pending links stays this graph's.
    pub fn merge(&mut self, other: &Self) {
        self.traces += other.traces;
        for (key, node) in &other.nodes {
            match self.nodes.get_mut(key) {
                Some(mine) => mine.merge(node),
                None => {
                    self.nodes.insert(key.clone(), node.clone());
                }
            }
        }
        for (key, edge) in &other.edges {
            match self.edges.get_mut(key) {
                Some(mine) => mine.merge(edge),
                None => {
                    self.edges.insert(key.clone(), edge.clone());
                }
            }
        }
        self.links.merge(&other.links);
    }

    /// Adds the nodes and edges of one trace (spec §5.2, §5.3).
    pub fn add(&mut self, trace: &Trace) {
        self.add_with_services(trace, &Services::of(trace));
    }

    /// [`ServiceGraph::add`] for a trace whose services were read already.
    pub fn add_with_services(&mut self, trace: &Trace, services: &Services) {
        self.traces += 1;
        let entities = trace.entities();
        let segments = trace.segments();
        let keys = |pos: usize| &services.ids[services.of[pos]];
        // Each entity's outcome, read once: an inferred segment's subsegment is both its node's
        // sample and its edge's, a root both its node's and its client edge's.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; entities.len()];
        let mut outcome = |i: u32| {
            *outcomes[i as usize].get_or_insert_with(|| {
                let e = &entities[i as usize];
                Outcome::classify(e.flags, http_status(trace, e))
            })
        };
        for (pos, &segment) in segments.iter().enumerate() {
            let (SegmentRef::Real(i) | SegmentRef::Inferred(i)) = segment;
            let e = &entities[i as usize];
            let inferred = matches!(segment, SegmentRef::Inferred(_));
            let node = entry(&mut self.nodes, keys(pos));
            node.active |= !inferred;
            node.samples.add(e.start, e.end, || outcome(i));
            if links::is_producer(trace, segment) {
                self.links
                    .add_producer(trace.id(), e.id, keys(pos), e.start);
            }
            if trace.root() == Some(pos) {
                node.root = true;
                if e.end.is_some() {
                    node.trace_durations.add(trace.duration());
                }
                let client = client_node(keys(pos));
                entry(&mut self.nodes, &client).client = true;
                let edge = (client, keys(pos).clone());
                entry(&mut self.edges, &edge).add(e.start, e.end, || outcome(i));
            }
        }
        for call in calls_between(trace, &services.of) {
            let edge = (keys(call.caller).clone(), keys(call.callee).clone());
            let sample = &entities[call.sample as usize];
            entry(&mut self.edges, &edge).add(sample.start, sample.end, || outcome(call.sample));
        }
        if trace.has_links() {
            self.links.add_consumers(trace, services, &mut outcome);
        }
        self.links.bound();
    }

    /// Appends the `GetServiceGraph` response: `{"StartTime", "EndTime", "Services",
    /// "ContainsOldGroupVersions": false}`. `window` is the query's; without one, the earliest
    /// start and latest end of the graph's requests (left out when there are none).
    pub fn write_service_graph(&self, out: &mut Vec<u8>, window: Option<(f64, f64)>) {
        out.push(b'{');
        let (start, end) = window.unwrap_or_else(|| self.extent());
        if start.is_finite() && end.is_finite() {
            out.extend_from_slice(b"\"StartTime\":");
            write_double(out, start);
            out.extend_from_slice(b",\"EndTime\":");
            write_double(out, end);
            out.push(b',');
        }
        out.extend_from_slice(b"\"Services\":");
        self.write_services(out);
        out.extend_from_slice(b",\"ContainsOldGroupVersions\":false}");
    }

    /// Appends the `GetTraceGraph` response, `{"Services": [...]}`.
    pub fn write_trace_graph(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"Services\":");
        self.write_services(out);
        out.push(b'}');
    }

    /// The earliest start and latest end over every node.
    fn extent(&self) -> (f64, f64) {
        self.nodes
            .values()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(start, end), node| {
                (start.min(node.samples.start), end.max(node.samples.end))
            })
    }

    /// Appends the `Services` list: nodes by name, type and account, `ReferenceId`s dense from
    /// 0 in that order; each node's `Edges` by the callee's `ReferenceId`.
    pub fn write_services(&self, out: &mut Vec<u8>) {
        let nodes = self.nodes();
        let reference: FxHashMap<&ServiceId, usize> = nodes
            .iter()
            .enumerate()
            .map(|(n, (k, _))| (*k, n))
            .collect();
        let mut outgoing: Vec<Vec<(usize, EdgeRef<'_>)>> = vec![Vec::new(); nodes.len()];
        for ((from, to), edge) in &self.edges {
            if let (Some(&from), Some(&to)) = (reference.get(from), reference.get(to)) {
                outgoing[from].push((to, EdgeRef::Call(edge)));
            }
        }
        for ((from, to), edge) in &self.links.edges {
            if let (Some(&from), Some(&to)) = (reference.get(from), reference.get(to)) {
                outgoing[from].push((to, EdgeRef::Link(edge)));
            }
        }
        out.push(b'[');
        for (n, (key, node)) in nodes.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let edges = &mut outgoing[n];
            // A call edge before a link edge to the same node.
            edges.sort_unstable_by_key(|(to, edge)| (*to, matches!(edge, EdgeRef::Link(_))));
            write_node(out, n, key, node, edges);
        }
        out.push(b']');
    }

    /// The one-minute buckets of the requests `selector` picks, summed; none when it names a
    /// node or edge the graph does not have.
    #[must_use]
    pub fn buckets(&self, selector: &Selector) -> BTreeMap<i64, Bucket> {
        let mut sum: BTreeMap<i64, Bucket> = BTreeMap::new();
        let mut add = |samples: &Samples| {
            for (&minute, bucket) in &samples.buckets {
                sum.entry(minute).or_default().merge(bucket);
            }
        };
        match selector {
            Selector::ClientEdges => {
                for ((from, _), edge) in &self.edges {
                    if from.kind.as_deref() == Some(CLIENT_TYPE) {
                        add(edge);
                    }
                }
            }
            Selector::Node(key) => {
                if let Some(node) = self.nodes.get(key) {
                    add(&node.samples);
                }
            }
            Selector::Edge(from, to) => {
                if let Some(edge) = self.edges.get(&(from.clone(), to.clone())) {
                    add(edge);
                }
            }
            Selector::Nodes(keys) => {
                for node in keys.iter().filter_map(|key| self.nodes.get(key)) {
                    add(&node.samples);
                }
            }
            Selector::Edges(keys) => {
                for edge in keys.iter().filter_map(|key| self.edges.get(key)) {
                    add(edge);
                }
            }
        }
        sum
    }

    /// Appends the `GetTimeSeriesServiceStatistics` response for `period` seconds (one of
    /// [`PERIODS`]): one entry per period with requests, by `Timestamp` (the period's start),
    /// inside `window` when one is given (none when `selector` names a node or edge the graph
    /// lacks, as X-Ray answers). Returns `false`, writing nothing, when `period` is not allowed.
    pub fn write_time_series(
        &self,
        out: &mut Vec<u8>,
        period: u32,
        selector: &Selector,
        window: Option<(f64, f64)>,
    ) -> bool {
        if !PERIODS.contains(&period) {
            return false;
        }
        let minutes = self.buckets(selector);
        let per = i64::from(period) / BUCKET_SECONDS as i64;
        let mut periods: BTreeMap<i64, Bucket> = BTreeMap::new();
        for (minute, bucket) in &minutes {
            periods
                .entry(minute.div_euclid(per) * i64::from(period))
                .or_default()
                .merge(bucket);
        }
        let member = match selector {
            Selector::Node(_) | Selector::Nodes(_) => "ServiceSummaryStatistics",
            _ => "EdgeSummaryStatistics",
        };
        out.extend_from_slice(b"{\"TimeSeriesServiceStatistics\":[");
        let mut first = true;
        for (timestamp, bucket) in &periods {
            let at = *timestamp as f64;
            if window.is_some_and(|(start, end)| at < start || at >= end) {
                continue;
            }
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"Timestamp\":");
            write_double(out, at);
            let _ = write!(out, ",\"{member}\":");
            bucket.statistics.write_json(out);
            out.extend_from_slice(b",\"ResponseTimeHistogram\":");
            bucket.response_times.write_json(out);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"ContainsOldGroupVersions\":false}");
        true
    }

    /// Appends `{"nodes": [...], "edges": [...]}`: per node and per edge the latency summary of
    /// [`Latency::write_json`], nodes with `name`, `type`, `account_id`, edges with `source`
    /// and `target` nodes (each `{"name","type","account_id"}`); client nodes have no entry.
    pub fn write_percentiles(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"nodes\":[");
        let nodes = self.nodes();
        let mut first = true;
        for (key, node) in nodes.iter().filter(|(_, node)| !is_client_only(node)) {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            write_key(out, key);
            out.pop();
            out.push(b',');
            write_latency_members(out, &node.samples.latency);
        }
        out.extend_from_slice(b"],\"edges\":[");
        for (n, ((from, to), edge)) in self.edges().into_iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"source\":");
            write_key(out, from);
            out.extend_from_slice(b",\"target\":");
            write_key(out, to);
            out.push(b',');
            write_latency_members(out, &edge.latency);
        }
        out.extend_from_slice(b"]}");
    }
}

/// The value at `key`, inserted by default first: the key is cloned only when it is new (most
/// lookups find a node or edge that an earlier trace made).
fn entry<'m, K: Clone + Eq + std::hash::Hash, V: Default>(
    map: &'m mut FxHashMap<K, V>,
    key: &K,
) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.clone(), V::default());
    }
    map.get_mut(key)
        .unwrap_or_else(|| unreachable!("inserted above"))
}

/// The client node X-Ray draws for the callers of root service `root`.
#[must_use]
pub fn client_node(root: &ServiceId) -> ServiceId {
    ServiceId {
        name: root.name.clone(),
        kind: Some(CLIENT_TYPE.to_owned()),
        account_id: None,
    }
}

/// One request on an edge of a trace's graph (spec §5.3), other than the client → root edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The caller's segment: a position in [`Trace::segments`].
    pub caller: usize,
    /// The callee's segment: a position in [`Trace::segments`].
    pub callee: usize,
    /// The entity that measures the request (an index into [`Trace::entities`]): the
    /// caller's subsegment, or the callee's segment when its parent is a segment.
    pub sample: u32,
}

/// The calls of `trace`, in segment order; `keys` are the nodes of [`Trace::segments`].
#[must_use]
pub fn calls(trace: &Trace, keys: &[ServiceId]) -> Vec<Call> {
    // Each segment's node as a small integer: the first position holding the same key.
    let mut first: FxHashMap<&ServiceId, usize> = FxHashMap::default();
    let node_of: Vec<usize> = (0..keys.len())
        .map(|pos| *first.entry(&keys[pos]).or_insert(pos))
        .collect();
    calls_between(trace, &node_of)
}

/// The calls of `trace`, in segment order; `node_of` names each segment's node by a small
/// integer (equal for segments of one node). Every segment, real or inferred, whose
/// `parent_id` names a returned entity is called by the node that owns that entity; two
/// downstream segments of one node under one call are one request.
fn calls_between(trace: &Trace, node_of: &[usize]) -> Vec<Call> {
    let entities = trace.entities();
    let segments = trace.segments();
    // The segment (position in `segments`) each returned entity belongs to.
    let mut owner = vec![u32::MAX; entities.len()];
    let mut stack = Vec::new();
    for (pos, &segment) in segments.iter().enumerate() {
        if let SegmentRef::Real(top) = segment {
            stack.push(top);
            while let Some(i) = stack.pop() {
                owner[i as usize] = pos as u32;
                stack.extend_from_slice(trace.children(i));
            }
        }
    }
    // The returned entities that real segments name as parent (the calls into them), by id.
    let mut index: FxHashMap<u64, u32> = segments
        .iter()
        .filter_map(|&s| match s {
            SegmentRef::Real(i) => entities[i as usize].parent.map(|p| (p.0, u32::MAX)),
            SegmentRef::Inferred(_) => None,
        })
        .collect();
    if !index.is_empty() {
        for (i, e) in entities.iter().enumerate() {
            if owner[i] != u32::MAX {
                if let Some(slot) = index.get_mut(&e.id.0) {
                    *slot = i as u32;
                }
            }
        }
    }
    let mut called: FxHashSet<(u32, usize)> = FxHashSet::default();
    let mut out = Vec::new();
    for (pos, &segment) in segments.iter().enumerate() {
        let (own, parent) = match segment {
            SegmentRef::Real(i) => (
                i,
                entities[i as usize]
                    .parent
                    .and_then(|p| index.get(&p.0).copied())
                    .filter(|&p| p != u32::MAX),
            ),
            SegmentRef::Inferred(i) => (i, Some(i)),
        };
        // The edge from the caller, measured by the caller's subsegment; a segment whose
        // parent is a segment is measured by itself.
        let Some(parent) = parent else { continue };
        if !called.insert((parent, node_of[pos])) {
            continue;
        }
        let sample = if entities[parent as usize].kind == Kind::Subsegment {
            parent
        } else {
            own
        };
        out.push(Call {
            caller: owner[parent as usize] as usize,
            callee: pos,
            sample,
        });
    }
    out
}

fn is_client_only(node: &Node) -> bool {
    node.client && !node.active && node.samples.start == f64::INFINITY
}

/// `{"name","type","account_id"}`, unknown members `null`.
fn write_key(out: &mut Vec<u8>, key: &ServiceId) {
    out.extend_from_slice(b"{\"name\":");
    write_str(out, &key.name);
    for (member, value) in [("type", &key.kind), ("account_id", &key.account_id)] {
        let _ = write!(out, ",\"{member}\":");
        match value {
            Some(value) => write_str(out, value),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
}

/// The members of [`Latency::write_json`] without its braces, then `}`.
fn write_latency_members(out: &mut Vec<u8>, latency: &Latency) {
    let mut json = Vec::with_capacity(160);
    latency.write_json(&mut json);
    out.extend_from_slice(&json[1..]);
}

/// Appends `,"StartTime":…,"EndTime":…`, leaving out a time not known.
fn write_times(out: &mut Vec<u8>, start: f64, end: f64) {
    for (key, value) in [("StartTime", start), ("EndTime", end)] {
        if value.is_finite() {
            let _ = write!(out, ",\"{key}\":");
            write_double(out, value);
        }
    }
}

/// An edge of a node's `Edges`: a call, or a link.
#[derive(Clone, Copy)]
enum EdgeRef<'g> {
    Call(&'g Samples),
    Link(&'g LinkEdge),
}

/// Writes one `Service`, members in botocore's order.
fn write_node(
    out: &mut Vec<u8>,
    reference: usize,
    key: &ServiceId,
    node: &Node,
    edges: &[(usize, EdgeRef<'_>)],
) {
    let client = is_client_only(node);
    let _ = write!(out, "{{\"ReferenceId\":{reference},\"Name\":");
    write_str(out, &key.name);
    out.extend_from_slice(b",\"Names\":[");
    write_str(out, &key.name);
    out.push(b']');
    if !client {
        let _ = write!(out, ",\"Root\":{}", node.root);
    }
    if let Some(account) = &key.account_id {
        out.extend_from_slice(b",\"AccountId\":");
        write_str(out, account);
    }
    if let Some(kind) = &key.kind {
        out.extend_from_slice(b",\"Type\":");
        write_str(out, kind);
    }
    let state = if node.active { "active" } else { "unknown" };
    let _ = write!(out, ",\"State\":\"{state}\"");
    if client {
        // A client node has no requests of its own: its times are those of its edges.
        let mut span = Samples::default();
        for (_, edge) in edges {
            let (start, end) = match edge {
                EdgeRef::Call(edge) => (edge.start, edge.end),
                EdgeRef::Link(edge) => (edge.start, edge.end),
            };
            span.start = span.start.min(start);
            span.end = span.end.max(end);
        }
        span.write_times(out);
    } else {
        node.samples.write_times(out);
    }
    out.extend_from_slice(b",\"Edges\":[");
    for (n, (to, edge)) in edges.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let _ = write!(out, "{{\"ReferenceId\":{to}");
        match edge {
            EdgeRef::Call(edge) => {
                edge.write_times(out);
                out.extend_from_slice(b",\"SummaryStatistics\":");
                edge.statistics.write_json(out);
                out.extend_from_slice(b",\"ResponseTimeHistogram\":");
                edge.response_times.write_json(out);
                out.extend_from_slice(b",\"Aliases\":[]}");
            }
            EdgeRef::Link(edge) => {
                // botocore: `ResponseTimeHistogram` is for synchronous edges only, and
                // `ReceivedEventAgeHistogram` only when `EdgeType` is `link`.
                write_times(out, edge.start, edge.end);
                out.extend_from_slice(b",\"SummaryStatistics\":");
                edge.statistics.write_json(out);
                out.extend_from_slice(
                    b",\"Aliases\":[],\"EdgeType\":\"link\",\"ReceivedEventAgeHistogram\":",
                );
                edge.ages.write_json(out);
                out.push(b'}');
            }
        }
    }
    out.push(b']');
    if !client {
        out.extend_from_slice(b",\"SummaryStatistics\":");
        node.samples.statistics.write_json(out);
        out.extend_from_slice(b",\"DurationHistogram\":");
        if node.trace_durations.is_empty() {
            node.samples.response_times.write_json(out);
        } else {
            node.trace_durations.write_json(out);
        }
        out.extend_from_slice(b",\"ResponseTimeHistogram\":");
        node.samples.response_times.write_json(out);
    }
    out.push(b'}');
}
