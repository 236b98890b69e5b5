//! Path analysis: traces grouped by the path they took, per entry point, with the rare and the
//! truncated paths picked out — "orders that silently disappear".
//!
//! This is beyond X-Ray (docs/decisions.md, "Path analysis", has the rules and the JSON shape).
//! A trace's *path* is the set of edges (caller node → callee node, nodes as in spec §5.2, the
//! same [`ServiceId`]s summaries give) reached from its root segment, plus the *unreported*
//! calls: traced calls (`http.request.traced`) whose callee never sent a segment, which X-Ray
//! would show as an inferred node. Traces are grouped by entry point — the root's service with
//! its HTTP method and URL path template (`POST /checkout`) — and, within one, by path. The most
//! common path is the *usual* one; a path whose edges are a strict subset of it is *truncated*;
//! a path that misses services the usual path reaches while its traces answered 2xx is *silent*.
//!
//! [`PathStats`] is a mergeable accumulator: add traces (or build it from a slice, in parallel),
//! merge the parts in any order, then [`PathStats::report`]. The report does not depend on how
//! the traces were split or ordered.
//!
//! ```
//! use xrfast_core::assemble::assemble_all;
//! use xrfast_core::paths::{PathKind, PathStats};
//! use xrfast_core::{Format, Limits};
//!
//! let doc = br#"{"id":"0000000000000001","name":"api","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1.0,"end_time":1.5,"http":{"request":{"method":"GET","url":"https://x.example/orders/42"},"response":{"status":200}}}"#;
//! let (traces, _, _) = assemble_all(doc, Format::Document, Limits::default()).unwrap();
//! let report = PathStats::of(&traces, 5).report(0.05);
//! let entry = &report.entry_points[0];
//! assert_eq!(entry.entry_point.url_path.as_deref(), Some("/orders/{id}"));
//! assert_eq!(entry.paths[0].kind, PathKind::Usual);
//! ```

use std::borrow::Borrow;
use std::io::Write as _;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use sonic_rs::{JsonType, JsonValueTrait};

use crate::document::{Entity, Flags};
use crate::ids::TraceId;
use crate::summary::{self, write_double, write_str, ServiceId};
use crate::trace::{SegmentRef, Trace};

/// Example trace ids kept per path by default.
pub const DEFAULT_EXAMPLES: usize = 5;

/// Below this share of its entry point's traces, a path that is neither usual nor truncated is
/// rare (by default).
pub const DEFAULT_RARE_SHARE: f64 = 0.05;

/// No segment: an orphan entity, or a segment nobody called.
const NONE: u32 = u32::MAX;

/// Slices of at least this many traces are analysed in parallel.
const PARALLEL_MIN_TRACES: usize = 256;

/// Where traces enter the system: the root's service, HTTP method and URL path template.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryPoint {
    /// The root segment's service node.
    pub service: ServiceId,
    /// `http.request.method` of the root.
    pub method: Option<String>,
    /// The path of `http.request.url` of the root, as a template (see [`url_path_template`]).
    pub url_path: Option<String>,
}

/// One edge of a path: caller node → callee node.
pub type Edge = (ServiceId, ServiceId);

/// The path one trace took: its edges and its unreported calls, each sorted and distinct.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    /// Calls whose callee is in the trace (a segment, or an inferred segment of an untraced
    /// call), reached from the root.
    pub edges: Vec<Edge>,
    /// Traced calls (`http.request.traced: true`) whose callee never sent a segment.
    pub unreported: Vec<Edge>,
}

impl Path {
    /// The nodes the path reaches: `entry`, then callees in the order of [`Path::ordered_edges`].
    #[must_use]
    pub fn nodes(&self, entry: &ServiceId) -> Vec<ServiceId> {
        let mut nodes = vec![entry.clone()];
        for (_, callee) in self.ordered_edges(entry) {
            if !nodes.contains(&callee) {
                nodes.push(callee);
            }
        }
        nodes
    }

    /// The edges in call order: breadth first from `entry`, callees of one node by name, type,
    /// account; edges the walk does not reach (none, when the path came from a trace) last.
    #[must_use]
    pub fn ordered_edges(&self, entry: &ServiceId) -> Vec<Edge> {
        let mut out = Vec::with_capacity(self.edges.len());
        let mut used = vec![false; self.edges.len()];
        let mut seen: FxHashSet<&ServiceId> = FxHashSet::default();
        let mut queue = std::collections::VecDeque::from([entry]);
        seen.insert(entry);
        while let Some(node) = queue.pop_front() {
            // `edges` is sorted by caller then callee, so one node's callees come out in order.
            for (at, (caller, callee)) in self.edges.iter().enumerate() {
                if caller == node && !used[at] {
                    used[at] = true;
                    out.push((caller.clone(), callee.clone()));
                    if seen.insert(callee) {
                        queue.push_back(callee);
                    }
                }
            }
        }
        for (at, edge) in self.edges.iter().enumerate() {
            if !used[at] {
                out.push(edge.clone());
            }
        }
        out
    }

    fn is_strict_subset_of(&self, other: &Path) -> bool {
        self.edges.len() < other.edges.len()
            && self
                .edges
                .iter()
                .all(|edge| other.edges.binary_search(edge).is_ok())
    }
}

/// The path of one trace, where it entered, and what it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracePath {
    /// The trace's entry point.
    pub entry_point: EntryPoint,
    /// The path it took.
    pub path: Path,
    /// `http.response.status` of the root.
    pub status: Option<i64>,
}

impl TracePath {
    /// The path of `trace`; `None` when it has no root.
    #[must_use]
    pub fn of(trace: &Trace) -> Option<Self> {
        let root = trace.root()?;
        let entities = trace.entities();
        let segments = trace.segments();
        let services: Vec<ServiceId> = segments
            .iter()
            .map(|&s| summary::service_id(trace, s))
            .collect();

        // The segment (position in `segments`) that holds each entity; NONE for orphans.
        let mut owner = vec![NONE; entities.len()];
        let mut stack = Vec::new();
        for (pos, &segment) in segments.iter().enumerate() {
            if let SegmentRef::Real(i) = segment {
                stack.push(i);
                while let Some(e) = stack.pop() {
                    owner[e as usize] = pos as u32;
                    stack.extend_from_slice(trace.children(e));
                }
            }
        }
        let index: FxHashMap<u64, u32> = entities
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.0, i as u32))
            .collect();

        // Who called each segment: the segment holding the entity its parent_id names (for an
        // inferred segment, the one holding its subsegment).
        let mut callees: Vec<Vec<u32>> = vec![Vec::new(); segments.len()];
        for (pos, &segment) in segments.iter().enumerate() {
            let caller = match segment {
                SegmentRef::Real(i) => entities[i as usize]
                    .parent
                    .and_then(|p| index.get(&p.0))
                    .map_or(NONE, |&j| owner[j as usize]),
                SegmentRef::Inferred(i) => owner[i as usize],
            };
            if caller != NONE && caller != pos as u32 {
                callees[caller as usize].push(pos as u32);
            }
        }

        let mut path = Path::default();
        let mut seen = vec![false; segments.len()];
        seen[root] = true;
        let mut queue = std::collections::VecDeque::from([root as u32]);
        while let Some(caller) = queue.pop_front() {
            for &callee in &callees[caller as usize] {
                let edge = (
                    services[caller as usize].clone(),
                    services[callee as usize].clone(),
                );
                match segments[callee as usize] {
                    SegmentRef::Inferred(i) if entities[i as usize].flags.has(Flags::TRACED) => {
                        path.unreported.push(edge);
                    }
                    _ => path.edges.push(edge),
                }
                if !std::mem::replace(&mut seen[callee as usize], true) {
                    queue.push_back(callee);
                }
            }
        }
        for edges in [&mut path.edges, &mut path.unreported] {
            edges.sort_unstable();
            edges.dedup();
        }

        let root_entity = match segments[root] {
            SegmentRef::Real(i) | SegmentRef::Inferred(i) => &entities[i as usize],
        };
        let (method, url) = request(trace, root_entity);
        Some(Self {
            entry_point: EntryPoint {
                service: services[root].clone(),
                method,
                url_path: url.as_deref().map(url_path_template),
            },
            path,
            status: summary::http_status(trace, root_entity),
        })
    }
}

/// `http.request.method` and `http.request.url` of entity `e`.
fn request(trace: &Trace, e: &Entity) -> (Option<String>, Option<String>) {
    let (mut method, mut url) = (None, None);
    let Some(http) = e.http else {
        return (method, url);
    };
    let Ok(request) = sonic_rs::get_from_slice(trace.text_of(e, http), ["request"]) else {
        return (method, url);
    };
    if request.get_type() != JsonType::Object {
        return (method, url);
    }
    for (key, value) in sonic_rs::to_object_iter(request.as_raw_str()).flatten() {
        match &*key {
            "method" => method = value.as_str().map(str::to_owned),
            "url" => url = value.as_str().map(str::to_owned),
            _ => {}
        }
    }
    (method, url)
}

/// The path of a URL as a template: scheme, host, query and fragment dropped, and every path
/// segment that looks like an identifier — one that holds a digit and is all digits or at least
/// 8 characters long (`42`, `ord_7f3a9b2c11de`, a UUID, a date) — replaced by `{id}`, so that
/// `/orders/42` and `/orders/43` are one entry point. A URL without a path gives `/`.
#[must_use]
pub fn url_path_template(url: &str) -> String {
    let rest = match url.find("://") {
        Some(at) => {
            let after = &url[at + 3..];
            after.find('/').map_or("", |slash| &after[slash..])
        }
        None => url,
    };
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let mut out = String::with_capacity(path.len());
    for (n, part) in path.split('/').enumerate() {
        if n > 0 {
            out.push('/');
        }
        let has_digit = part.bytes().any(|b| b.is_ascii_digit());
        if has_digit && (part.bytes().all(|b| b.is_ascii_digit()) || part.chars().count() >= 8) {
            out.push_str("{id}");
        } else {
            out.push_str(part);
        }
    }
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out
}

/// HTTP status classes: `none` (no status), `1xx` … `5xx`, `other`.
pub const STATUS_CLASSES: [&str; 7] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx", "other"];

fn status_class(status: Option<i64>) -> usize {
    match status {
        None => 0,
        Some(s @ 100..=599) => (s / 100) as usize,
        Some(_) => 6,
    }
}

/// What is counted for one path of one entry point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tally {
    count: u64,
    classes: [u64; STATUS_CLASSES.len()],
    /// The smallest trace ids, sorted, at most `examples`.
    trace_ids: Vec<TraceId>,
    /// The smallest ids of the traces that answered 2xx.
    ok_trace_ids: Vec<TraceId>,
}

/// Keeps `ids` the `k` smallest of itself and `more`, sorted.
fn keep_smallest(ids: &mut Vec<TraceId>, more: &[TraceId], k: usize) {
    ids.extend_from_slice(more);
    ids.sort_unstable();
    ids.dedup();
    ids.truncate(k);
}

impl Tally {
    fn merge(&mut self, other: &Tally, k: usize) {
        self.count += other.count;
        for (a, b) in self.classes.iter_mut().zip(other.classes) {
            *a += b;
        }
        keep_smallest(&mut self.trace_ids, &other.trace_ids, k);
        keep_smallest(&mut self.ok_trace_ids, &other.ok_trace_ids, k);
    }
}

/// A mergeable accumulator of trace paths, per entry point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStats {
    examples: usize,
    traces: u64,
    without_root: u64,
    entries: FxHashMap<EntryPoint, FxHashMap<Path, Tally>>,
}

impl PathStats {
    /// An empty accumulator that keeps `examples` trace ids per path.
    #[must_use]
    pub fn new(examples: usize) -> Self {
        Self {
            examples,
            traces: 0,
            without_root: 0,
            entries: FxHashMap::default(),
        }
    }

    /// The paths of `traces`, in parallel for large slices (the result does not depend on it).
    #[must_use]
    pub fn of<T: Borrow<Trace> + Sync>(traces: &[T], examples: usize) -> Self {
        let one = |chunk: &[T]| {
            let mut stats = Self::new(examples);
            for trace in chunk {
                stats.add(trace.borrow());
            }
            stats
        };
        if traces.len() < PARALLEL_MIN_TRACES {
            return one(traces);
        }
        traces
            .par_chunks(PARALLEL_MIN_TRACES / 2)
            .map(one)
            .reduce(|| Self::new(examples), PathStats::merged)
    }

    /// Counts one trace.
    pub fn add(&mut self, trace: &Trace) {
        self.traces += 1;
        let Some(found) = TracePath::of(trace) else {
            self.without_root += 1;
            return;
        };
        let id = trace.id();
        let class = status_class(found.status);
        let tally = self
            .entries
            .entry(found.entry_point)
            .or_default()
            .entry(found.path)
            .or_default();
        tally.count += 1;
        tally.classes[class] += 1;
        keep_smallest(&mut tally.trace_ids, &[id], self.examples);
        if class == 2 {
            keep_smallest(&mut tally.ok_trace_ids, &[id], self.examples);
        }
    }

    /// Adds everything `other` counted. Associative and commutative; the example ids kept are
    /// the smallest of both, at most this accumulator's `examples`.
    pub fn merge(&mut self, other: &PathStats) {
        self.traces += other.traces;
        self.without_root += other.without_root;
        let k = self.examples;
        for (entry, paths) in &other.entries {
            let mine = self.entries.entry(entry.clone()).or_default();
            for (path, tally) in paths {
                mine.entry(path.clone()).or_default().merge(tally, k);
            }
        }
    }

    fn merged(mut self, other: PathStats) -> Self {
        if self.entries.len() < other.entries.len() && self.examples == other.examples {
            let mut other = other;
            other.merge(&self);
            return other;
        }
        self.merge(&other);
        self
    }

    /// Traces counted (with a root or not).
    #[must_use]
    pub fn traces(&self) -> u64 {
        self.traces
    }

    /// The report: entry points by traces (most first), each with its paths classified against
    /// its usual path. `rare_share`: below this share of the entry point's traces a path that is
    /// neither usual nor truncated is [`PathKind::Rare`].
    #[must_use]
    pub fn report(&self, rare_share: f64) -> PathReport {
        let mut entry_points: Vec<EntryPointReport> = self
            .entries
            .iter()
            .map(|(entry, paths)| entry_report(entry, paths, rare_share))
            .collect();
        entry_points.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.entry_point.cmp(&b.entry_point))
        });
        PathReport {
            entry_points,
            traces: self.traces,
            traces_without_root: self.without_root,
        }
    }
}

fn entry_report(
    entry: &EntryPoint,
    paths: &FxHashMap<Path, Tally>,
    rare_share: f64,
) -> EntryPointReport {
    let mut sorted: Vec<(&Path, &Tally)> = paths.iter().collect();
    // Most traces first; among equals the longer path (so the usual path is the fullest), then
    // the path itself, so the order never depends on hashing.
    sorted.sort_by(|(pa, ta), (pb, tb)| {
        tb.count
            .cmp(&ta.count)
            .then_with(|| pb.edges.len().cmp(&pa.edges.len()))
            .then_with(|| pa.cmp(pb))
    });
    let count: u64 = sorted.iter().map(|(_, t)| t.count).sum();
    let usual = sorted[0].0;
    let usual_nodes = usual.nodes(&entry.service);
    let rows = sorted
        .iter()
        .enumerate()
        .map(|(n, &(path, tally))| {
            let share = tally.count as f64 / count as f64;
            let kind = if n == 0 {
                PathKind::Usual
            } else if path.is_strict_subset_of(usual) {
                PathKind::Truncated
            } else if share < rare_share {
                PathKind::Rare
            } else {
                PathKind::Common
            };
            let nodes = path.nodes(&entry.service);
            let missing: Vec<ServiceId> = usual_nodes
                .iter()
                .filter(|node| !nodes.contains(node))
                .cloned()
                .collect();
            let ok_count = tally.classes[2];
            PathSummary {
                kind,
                count: tally.count,
                share,
                silent: !missing.is_empty() && ok_count > 0,
                edges: path.ordered_edges(&entry.service),
                unreported: path.unreported.clone(),
                missing,
                status_classes: STATUS_CLASSES
                    .iter()
                    .zip(tally.classes)
                    .filter(|(_, c)| *c > 0)
                    .map(|(&name, c)| (name, c))
                    .collect(),
                ok_count,
                trace_ids: tally.trace_ids.clone(),
                ok_trace_ids: tally.ok_trace_ids.clone(),
            }
        })
        .collect();
    EntryPointReport {
        entry_point: entry.clone(),
        count,
        paths: rows,
    }
}

/// How a path compares with its entry point's usual path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    /// The entry point's most common path.
    Usual,
    /// Its edges are a strict subset of the usual path's.
    Truncated,
    /// Neither, and taken by fewer than the rare share of the entry point's traces.
    Rare,
    /// Neither, and taken by at least the rare share.
    Common,
}

impl PathKind {
    /// The name written in JSON: `usual`, `truncated`, `rare`, `common`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usual => "usual",
            Self::Truncated => "truncated",
            Self::Rare => "rare",
            Self::Common => "common",
        }
    }
}

/// One path of an entry point, as reported.
#[derive(Clone, Debug, PartialEq)]
pub struct PathSummary {
    /// How it compares with the usual path.
    pub kind: PathKind,
    /// Traces that took it.
    pub count: u64,
    /// `count` over the entry point's traces.
    pub share: f64,
    /// It misses services the usual path reaches, and some of its traces answered 2xx.
    pub silent: bool,
    /// Its edges, in call order from the entry point.
    pub edges: Vec<Edge>,
    /// Its traced calls whose callee never sent a segment.
    pub unreported: Vec<Edge>,
    /// Services the usual path reaches and this one does not, in the usual path's order.
    pub missing: Vec<ServiceId>,
    /// Traces per HTTP status class of the root's response (only classes seen).
    pub status_classes: Vec<(&'static str, u64)>,
    /// Traces whose root answered 2xx.
    pub ok_count: u64,
    /// The smallest trace ids that took it.
    pub trace_ids: Vec<TraceId>,
    /// The smallest trace ids that took it and answered 2xx.
    pub ok_trace_ids: Vec<TraceId>,
}

/// The paths of one entry point.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryPointReport {
    /// Where the traces entered.
    pub entry_point: EntryPoint,
    /// Its traces.
    pub count: u64,
    /// Its paths: the usual one first, then by traces (most first).
    pub paths: Vec<PathSummary>,
}

/// The path report of a set of traces.
#[derive(Clone, Debug, PartialEq)]
pub struct PathReport {
    /// Entry points, most traces first.
    pub entry_points: Vec<EntryPointReport>,
    /// Traces counted.
    pub traces: u64,
    /// Traces without a root (they have no entry point and no path).
    pub traces_without_root: u64,
}

impl PathReport {
    /// Appends the report as JSON (the shape is in docs/decisions.md, "Path analysis").
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"EntryPoints\":[");
        for (n, entry) in self.entry_points.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_entry(out, entry);
        }
        let _ = write!(
            out,
            "],\"TracesProcessedCount\":{},\"TracesWithoutRoot\":{}}}",
            self.traces, self.traces_without_root
        );
    }
}

fn write_entry(out: &mut Vec<u8>, entry: &EntryPointReport) {
    out.extend_from_slice(b"{\"EntryPoint\":");
    write_service_id(out, &entry.entry_point.service);
    for (key, value) in [
        ("HttpMethod", &entry.entry_point.method),
        ("UrlPath", &entry.entry_point.url_path),
    ] {
        if let Some(value) = value {
            let _ = write!(out, ",\"{key}\":");
            write_str(out, value);
        }
    }
    let _ = write!(out, ",\"Count\":{},\"Paths\":[", entry.count);
    for (n, path) in entry.paths.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let _ = write!(
            out,
            "{{\"Kind\":\"{}\",\"Count\":{},\"Share\":",
            path.kind.as_str(),
            path.count
        );
        write_double(out, path.share);
        let _ = write!(out, ",\"Silent\":{},\"Edges\":", path.silent);
        write_edges(out, &path.edges);
        out.extend_from_slice(b",\"Unreported\":");
        write_edges(out, &path.unreported);
        out.extend_from_slice(b",\"Missing\":[");
        for (m, service) in path.missing.iter().enumerate() {
            if m > 0 {
                out.push(b',');
            }
            write_service_id(out, service);
        }
        out.extend_from_slice(b"],\"HttpStatusClasses\":{");
        for (m, (class, count)) in path.status_classes.iter().enumerate() {
            if m > 0 {
                out.push(b',');
            }
            let _ = write!(out, "\"{class}\":{count}");
        }
        let _ = write!(out, "}},\"OkCount\":{},\"TraceIds\":", path.ok_count);
        write_ids(out, &path.trace_ids);
        out.extend_from_slice(b",\"OkTraceIds\":");
        write_ids(out, &path.ok_trace_ids);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

pub(crate) fn write_edges(out: &mut Vec<u8>, edges: &[Edge]) {
    out.push(b'[');
    for (n, (caller, callee)) in edges.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"Caller\":");
        write_service_id(out, caller);
        out.extend_from_slice(b",\"Callee\":");
        write_service_id(out, callee);
        out.push(b'}');
    }
    out.push(b']');
}

fn write_ids(out: &mut Vec<u8>, ids: &[TraceId]) {
    out.push(b'[');
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let _ = write!(out, "\"{id}\"");
    }
    out.push(b']');
}

/// Writes a `ServiceId` as summaries do: `{"Name", "Names", "AccountId"?, "Type"?}`.
pub(crate) fn write_service_id(out: &mut Vec<u8>, id: &ServiceId) {
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
