//! Trace-level columns: one row per trace (or per segment, or per annotation value), for
//! decisions over whole batches — tail sampling and example reservoirs (docs/tail-sampling.md).
//!
//! Every value here is the one a trace's `TraceSummary` (or path) reports, computed without the
//! parts of a summary nobody reads in bulk (root causes, users, resources). Strings become
//! categorical columns: a code per row and the distinct values once, so a regular expression
//! runs once per distinct value rather than once per trace.
//!
//! ```
//! use xrfast_core::assemble::assemble_all;
//! use xrfast_core::columns::SummaryColumns;
//! use xrfast_core::{Format, Limits};
//!
//! let doc = br#"{"id":"0000000000000001","name":"api","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1.0,"end_time":1.5,"http":{"request":{"method":"GET"},"response":{"status":503}},"fault":true}"#;
//! let (traces, _, _) = assemble_all(doc, Format::Document, Limits::default()).unwrap();
//! let c = SummaryColumns::of(&traces);
//! assert_eq!(c.response_time, [0.5]);
//! assert_eq!((c.http_status[0], c.has_fault[0]), (503, true));
//! assert_eq!(c.method.values[c.method.codes[0] as usize], "GET");
//! assert_eq!(c.url.codes, [-1]);
//! ```

use std::borrow::{Borrow, Cow};
use std::hash::Hash;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use sonic_rs::{JsonType, JsonValueTrait, LazyValue};

use crate::document::Flags;
use crate::paths::{EntryPoint, Path, TracePath};
use crate::summary::{
    self, decode, members, read_http, AnnotationValue, ServiceId, Services, TraceSummary,
    MAX_ANNOTATION_KEYS,
};
use crate::trace::{SegmentRef, Trace};

/// Batches of at least this many traces are read in parallel.
const PARALLEL_MIN_TRACES: usize = 256;

/// A categorical column: a code per row (`-1` when the row has no value) into `values`, which
/// lists each distinct value once, in the order first met.
#[derive(Debug)]
pub struct Categories<K> {
    /// One code per row; `-1` for none.
    pub codes: Vec<i32>,
    /// The distinct values.
    pub values: Vec<K>,
    index: FxHashMap<K, i32>,
}

impl<K> Default for Categories<K> {
    fn default() -> Self {
        Self {
            codes: Vec::new(),
            values: Vec::new(),
            index: FxHashMap::default(),
        }
    }
}

impl<K: Hash + Eq + Clone> Categories<K> {
    /// Appends a row.
    pub fn push(&mut self, value: Option<K>) {
        let code = match value {
            None => -1,
            Some(value) => {
                if let Some(&code) = self.index.get(&value) {
                    code
                } else {
                    let code = i32::try_from(self.values.len()).unwrap_or(i32::MAX);
                    self.index.insert(value.clone(), code);
                    self.values.push(value);
                    code
                }
            }
        };
        self.codes.push(code);
    }
}

/// One row per trace: what tail-sampling policies read from its `TraceSummary`.
#[allow(clippy::struct_excessive_bools)] // X-Ray's own flags, one column each
#[derive(Debug, Default)]
pub struct SummaryColumns {
    /// The trace id's high 64 bits (the epoch second in the top 32).
    pub id_high: Vec<u64>,
    /// The trace id's low 64 bits.
    pub id_low: Vec<u64>,
    /// `StartTime`; NaN without segments.
    pub start: Vec<f64>,
    /// `Duration`; NaN when no segment has ended.
    pub duration: Vec<f64>,
    /// `ResponseTime`; NaN without a complete root.
    pub response_time: Vec<f64>,
    /// `HasFault`.
    pub has_fault: Vec<bool>,
    /// `HasError`.
    pub has_error: Vec<bool>,
    /// `HasThrottle`.
    pub has_throttle: Vec<bool>,
    /// `IsPartial`.
    pub is_partial: Vec<bool>,
    /// `Http.HttpStatus`; 0 when the root has none.
    pub http_status: Vec<i64>,
    /// The name of the root's service (`EntryPoint.Name`).
    pub service: Categories<String>,
    /// `Http.HttpURL`.
    pub url: Categories<String>,
    /// `Http.HttpMethod`.
    pub method: Categories<String>,
}

struct SummaryRow {
    start: f64,
    duration: f64,
    response_time: f64,
    fault: bool,
    error: bool,
    throttle: bool,
    status: i64,
    service: Option<String>,
    url: Option<String>,
    method: Option<String>,
}

fn summary_row(trace: &Trace) -> SummaryRow {
    let entities = trace.entities();
    let entity = |s: &SegmentRef| match *s {
        SegmentRef::Real(i) | SegmentRef::Inferred(i) => &entities[i as usize],
    };
    let segments = trace.segments();
    let start = segments
        .iter()
        .map(|s| entity(s).start)
        .min_by(f64::total_cmp)
        .unwrap_or(f64::NAN);
    let any_ended = segments.iter().any(|s| entity(s).end.is_some());
    let root = trace.root().map(|pos| (pos, entity(&segments[pos])));
    let http = root.map(|(_, e)| read_http(trace, e)).unwrap_or_default();
    SummaryRow {
        start,
        duration: if any_ended {
            trace.duration()
        } else {
            f64::NAN
        },
        response_time: root
            .and_then(|(_, e)| e.end.map(|end| end - e.start))
            .unwrap_or(f64::NAN),
        fault: root.is_some_and(|(_, e)| e.flags.has(Flags::FAULT)),
        error: root.is_some_and(|(_, e)| e.flags.has(Flags::ERROR)),
        throttle: segments
            .iter()
            .any(|s| entity(s).flags.has(Flags::THROTTLE)),
        status: http.status.unwrap_or(0),
        service: root.map(|(_, e)| decode(trace.text_of(e, e.name))),
        url: http.url,
        method: http.method,
    }
}

/// Maps `f` over `traces`, in parallel for large batches (the order is kept).
fn rows<T: Borrow<Trace> + Sync, R: Send>(traces: &[T], f: impl Fn(&Trace) -> R + Sync) -> Vec<R> {
    if traces.len() >= PARALLEL_MIN_TRACES {
        traces.par_iter().map(|t| f(t.borrow())).collect()
    } else {
        traces.iter().map(|t| f(t.borrow())).collect()
    }
}

impl SummaryColumns {
    /// The columns of `traces`, one row each, in order.
    #[must_use]
    pub fn of<T: Borrow<Trace> + Sync>(traces: &[T]) -> Self {
        let mut c = Self::default();
        for (trace, row) in traces.iter().zip(rows(traces, summary_row)) {
            let (low, high) = trace.borrow().id().halves();
            c.id_high.push(high);
            c.id_low.push(low);
            c.start.push(row.start);
            c.duration.push(row.duration);
            c.response_time.push(row.response_time);
            c.has_fault.push(row.fault);
            c.has_error.push(row.error);
            c.has_throttle.push(row.throttle);
            c.is_partial.push(trace.borrow().is_partial());
            c.http_status.push(row.status);
            c.service.push(row.service);
            c.url.push(row.url);
            c.method.push(row.method);
        }
        c
    }
}

impl SummaryColumns {
    /// The same columns from summaries made already (an analysis keeps them): no document is
    /// read again.
    #[must_use]
    pub fn from_summaries<S: Borrow<TraceSummary>>(summaries: &[S]) -> Self {
        let mut c = Self::default();
        for summary in summaries {
            let s: &TraceSummary = summary.borrow();
            let (low, high) = s.id.halves();
            c.id_high.push(high);
            c.id_low.push(low);
            c.start.push(s.start_time.unwrap_or(f64::NAN));
            c.duration.push(s.duration.unwrap_or(f64::NAN));
            c.response_time.push(s.response_time.unwrap_or(f64::NAN));
            c.has_fault.push(s.has_fault);
            c.has_error.push(s.has_error);
            c.has_throttle.push(s.has_throttle);
            c.is_partial.push(s.is_partial);
            c.http_status.push(s.http.status.unwrap_or(0));
            c.service
                .push(s.entry_point.map(|i| s.service_ids[i].name.clone()));
            c.url.push(s.http.url.clone());
            c.method.push(s.http.method.clone());
        }
        c
    }
}

/// One row per segment, real or inferred, of every trace (the service graph's nodes, §5.2).
#[derive(Debug, Default)]
pub struct ServiceColumns {
    /// Index of the row's trace in the batch.
    pub trace: Vec<u32>,
    /// The segment's service node.
    pub service: Categories<ServiceId>,
    /// The segment is its trace's root.
    pub root: Vec<bool>,
    /// `fault` flag (an inferred segment's is its subsegment's).
    pub fault: Vec<bool>,
    /// `error` flag.
    pub error: Vec<bool>,
    /// `throttle` flag.
    pub throttle: Vec<bool>,
    /// `http.response.status`; 0 when none.
    pub http_status: Vec<i64>,
    /// End minus start, seconds; NaN while in progress.
    pub duration: Vec<f64>,
}

struct ServiceRow {
    service: ServiceId,
    root: bool,
    flags: Flags,
    status: i64,
    duration: f64,
}

impl ServiceColumns {
    /// The segments of `traces`, each trace's in `Trace::segments` order.
    #[must_use]
    pub fn of<T: Borrow<Trace> + Sync>(traces: &[T]) -> Self {
        let per_trace = rows(traces, |trace| {
            let root = trace.root();
            let services = Services::of(trace);
            trace
                .segments()
                .iter()
                .enumerate()
                .map(|(pos, &s)| {
                    let (SegmentRef::Real(i) | SegmentRef::Inferred(i)) = s;
                    let e = &trace.entities()[i as usize];
                    ServiceRow {
                        service: services.ids[services.of[pos]].clone(),
                        root: root == Some(pos),
                        flags: e.flags,
                        status: summary::http_status(trace, e).unwrap_or(0),
                        duration: e.end.map_or(f64::NAN, |end| end - e.start),
                    }
                })
                .collect::<Vec<_>>()
        });
        let mut c = Self::default();
        for (t, segments) in per_trace.into_iter().enumerate() {
            for row in segments {
                c.trace.push(u32::try_from(t).unwrap_or(u32::MAX));
                c.service.push(Some(row.service));
                c.root.push(row.root);
                c.fault.push(row.flags.has(Flags::FAULT));
                c.error.push(row.flags.has(Flags::ERROR));
                c.throttle.push(row.flags.has(Flags::THROTTLE));
                c.http_status.push(row.status);
                c.duration.push(row.duration);
            }
        }
        c
    }
}

/// One row per value of one annotation key: the values a trace's summary lists for the key.
#[derive(Debug, Default)]
pub struct AnnotationColumn {
    /// Index of the row's trace in the batch.
    pub trace: Vec<u32>,
    /// 0 = number, 1 = boolean, 2 = string.
    pub kind: Vec<u8>,
    /// The number; NaN unless `kind` is 0.
    pub number: Vec<f64>,
    /// The boolean; false unless `kind` is 1.
    pub boolean: Vec<bool>,
    /// The string; code -1 unless `kind` is 2.
    pub string: Categories<String>,
}

impl AnnotationColumn {
    /// The values of annotation `key` in `traces`.
    #[must_use]
    pub fn of<T: Borrow<Trace> + Sync>(traces: &[T], key: &str) -> Self {
        Self::from_values(rows(traces, |trace| annotation_values(trace, key)))
    }

    /// The values of annotation `key` in summaries made already (an analysis keeps them).
    #[must_use]
    pub fn from_summaries<S: Borrow<TraceSummary>>(summaries: &[S], key: &str) -> Self {
        Self::from_values(summaries.iter().map(|s| {
            let annotations = &s.borrow().annotations;
            annotations
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, values)| values.iter().map(|(value, _)| value.clone()).collect())
                .unwrap_or_default()
        }))
    }

    fn from_values(per_trace: impl IntoIterator<Item = Vec<AnnotationValue>>) -> Self {
        let mut c = Self::default();
        for (t, values) in per_trace.into_iter().enumerate() {
            for value in values {
                c.trace.push(u32::try_from(t).unwrap_or(u32::MAX));
                let (kind, number, boolean, string) = match value {
                    AnnotationValue::Number(x) => (0, x, false, None),
                    AnnotationValue::Boolean(b) => (1, f64::NAN, b, None),
                    AnnotationValue::String(s) => (2, f64::NAN, false, Some(s)),
                };
                c.kind.push(kind);
                c.number.push(number);
                c.boolean.push(boolean);
                c.string.push(string);
            }
        }
        c
    }
}

/// One code per trace naming the path it took (docs/decisions.md, "Path analysis"); -1 for a
/// trace without a root.
#[derive(Debug, Default)]
pub struct PathColumn {
    /// The distinct (entry point, path) pairs, codes into them.
    pub paths: Categories<(EntryPoint, Path)>,
}

impl PathColumn {
    /// The paths of `traces`.
    #[must_use]
    pub fn of<T: Borrow<Trace> + Sync>(traces: &[T]) -> Self {
        let mut c = Self::default();
        for found in rows(traces, TracePath::of) {
            c.paths.push(found.map(|f| (f.entry_point, f.path)));
        }
        c
    }

    /// Writes the distinct paths as a JSON array of `{"EntryPoint", "HttpMethod"?, "UrlPath"?,
    /// "Edges", "Unreported"}`, the members (and edge order) of the path report.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (n, (entry, path)) in self.paths.values.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"EntryPoint\":");
            crate::paths::write_service_id(out, &entry.service);
            for (key, value) in [("HttpMethod", &entry.method), ("UrlPath", &entry.url_path)] {
                if let Some(value) = value {
                    out.extend_from_slice(b",\"");
                    out.extend_from_slice(key.as_bytes());
                    out.extend_from_slice(b"\":");
                    summary::write_str(out, value);
                }
            }
            out.extend_from_slice(b",\"Edges\":");
            crate::paths::write_edges(out, &path.ordered_edges(&entry.service));
            out.extend_from_slice(b",\"Unreported\":");
            crate::paths::write_edges(out, &path.unreported);
            out.push(b'}');
        }
        out.push(b']');
    }
}

/// Writes service ids as a JSON array in the summaries' `ServiceId` shape.
pub fn write_service_ids(ids: &[ServiceId], out: &mut Vec<u8>) {
    out.push(b'[');
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        crate::paths::write_service_id(out, id);
    }
    out.push(b']');
}

/// The values of annotation `key` in `trace`, in the order its summary lists them; empty when
/// the trace has none or `key` is not among the first [`MAX_ANNOTATION_KEYS`] keys. Walks as
/// [`summary::TraceSummary::of`] does (segments in order, each tree depth first), but decodes
/// only `key`'s values.
#[must_use]
pub fn annotation_values(trace: &Trace, key: &str) -> Vec<AnnotationValue> {
    let mut out: Vec<AnnotationValue> = Vec::new();
    // Distinct keys met before `key` while it has not been met; `Some(admitted)` once it has.
    // A trace holds few distinct keys: a short list beats hashing each one.
    let mut before: Vec<Cow<'_, str>> = Vec::new();
    let mut admitted: Option<bool> = None;
    let entities = trace.entities();
    let mut stack = Vec::new();
    for &segment in trace.segments() {
        let SegmentRef::Real(top) = segment else {
            continue;
        };
        stack.push(top);
        while let Some(i) = stack.pop() {
            stack.extend(trace.children(i).iter().rev());
            let e = &entities[i as usize];
            let Some(span) = e.annotations else { continue };
            for (name, value) in members(trace.text_of(e, span)) {
                if *name != *key {
                    if admitted.is_none()
                        && before.len() < MAX_ANNOTATION_KEYS
                        && !before.contains(&name)
                    {
                        before.push(name);
                    }
                    continue;
                }
                if *admitted.get_or_insert(before.len() < MAX_ANNOTATION_KEYS) {
                    if let Some(value) = annotation_value(&value) {
                        if !out.contains(&value) {
                            out.push(value);
                        }
                    }
                }
            }
        }
    }
    out
}

/// An annotation's value; `None` for other JSON types and numbers beyond a double (as
/// summaries leave them out).
fn annotation_value(value: &LazyValue<'_>) -> Option<AnnotationValue> {
    Some(match value.get_type() {
        JsonType::String => AnnotationValue::String(value.as_str().unwrap_or_default().to_owned()),
        JsonType::Boolean => AnnotationValue::Boolean(value.as_bool() == Some(true)),
        JsonType::Number => match value.as_raw_str().trim_ascii().parse::<f64>() {
            Ok(x) if x.is_finite() => AnnotationValue::Number(x),
            _ => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::assemble::assemble_all;
    use crate::{Format, Limits};

    const DOCS: &[u8] = br#"{"id":"0000000000000001","name":"api","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1.0,"end_time":1.5,"annotations":{"tier":"gold","n":3},"http":{"request":{"url":"https://x/orders/42","method":"POST"},"response":{"status":"429"}},"throttle":true,"subsegments":[{"id":"0000000000000002","name":"db","start_time":1.1,"end_time":1.2,"namespace":"aws","annotations":{"n":4.5}}]}
{"id":"0000000000000003","name":"worker","trace_id":"1-581cf771-a006649127e371903a2de97a","start_time":2.0,"in_progress":true}
"#;

    fn traces() -> Vec<Trace> {
        assemble_all(DOCS, Format::Ndjson, Limits::default())
            .unwrap()
            .0
    }

    #[test]
    fn summary_columns_follow_the_summaries() {
        let traces = traces();
        let c = SummaryColumns::of(&traces);
        assert_eq!(c.id_high[0], 0x581c_f771_a006_6491);
        assert_eq!(c.id_low[0], 0x27e3_7190_3a2d_e979);
        assert_eq!(c.start, [1.0, 2.0]);
        assert!((c.duration[0] - 0.5).abs() < 1e-12 && c.duration[1].is_nan());
        assert!(c.response_time[1].is_nan());
        assert_eq!(c.http_status, [429, 0]);
        assert_eq!(c.has_throttle, [true, false]);
        assert_eq!(c.is_partial, [false, true]);
        assert_eq!(c.service.codes, [0, 1]);
        assert_eq!(c.service.values, ["api", "worker"]);
        assert_eq!(c.url.codes, [0, -1]);
        for (t, trace) in traces.iter().enumerate() {
            let s = trace.summary();
            assert_eq!(s.has_throttle, c.has_throttle[t]);
            assert_eq!(s.http.status.unwrap_or(0), c.http_status[t]);
        }
    }

    #[test]
    fn annotation_rows_are_the_summary_values() {
        let c = AnnotationColumn::of(&traces(), "n");
        assert_eq!(c.trace, [0, 0]);
        assert_eq!(c.kind, [0, 0]);
        assert_eq!(c.number, [3.0, 4.5]);
        let c = AnnotationColumn::of(&traces(), "tier");
        assert_eq!(
            (c.kind.as_slice(), c.string.codes.as_slice()),
            (&[2][..], &[0][..])
        );
        assert_eq!(c.string.values, ["gold"]);
        assert!(AnnotationColumn::of(&traces(), "missing").trace.is_empty());
    }

    #[test]
    fn annotation_rows_keep_the_first_fifty_keys_as_summaries_do() {
        // 60 keys over a segment and its subsegment, some repeated with equal values.
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let more: Vec<String> = (30..60)
            .map(|i| format!("\"k{i}\":\"v{}\"", i % 3))
            .collect();
        let doc = format!(
            r#"{{"id":"0000000000000001","name":"api","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1.0,"end_time":1.5,"annotations":{{{}}},"subsegments":[{{"id":"0000000000000002","name":"s","start_time":1.1,"end_time":1.2,"annotations":{{{},"k1":1,"k1":true}}}}]}}"#,
            keys.join(","),
            more.join(",")
        );
        let traces = assemble_all(doc.as_bytes(), Format::Document, Limits::default())
            .unwrap()
            .0;
        let summary = traces[0].summary();
        assert_eq!(summary.annotations.len(), MAX_ANNOTATION_KEYS);
        for i in 0..60 {
            let key = format!("k{i}");
            let expected: Vec<AnnotationValue> = summary
                .annotations
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, values)| values.iter().map(|(v, _)| v.clone()).collect())
                .unwrap_or_default();
            assert_eq!(annotation_values(&traces[0], &key), expected, "{key}");
            assert_eq!(expected.is_empty(), i >= MAX_ANNOTATION_KEYS, "{key}");
        }
    }

    #[test]
    fn service_rows_and_paths() {
        let traces = traces();
        let c = ServiceColumns::of(&traces);
        // api, its inferred db node, then worker.
        assert_eq!(c.trace, [0, 0, 1]);
        assert_eq!(c.root, [true, false, true]);
        assert_eq!(c.service.values.len(), 3);
        assert_eq!(c.service.values[1].name, "db");
        let p = PathColumn::of(&traces);
        assert_eq!(p.paths.codes, [0, 1]);
        let mut out = Vec::new();
        p.write_json(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(r#"[{"EntryPoint":{"Name":"api","Names":["api"]},"HttpMethod":"POST","UrlPath":"/orders/{id}","Edges":[{"Caller":"#), "{text}");
    }
}
