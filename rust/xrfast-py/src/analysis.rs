//! `Analysis` and `analyze`: the service graph, time series and latency percentiles of a set of
//! traces, made in the core with the GIL released.

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use xrfast_core::filter::{EntitySelector, Filter};
use xrfast_core::graph::{Selector, ServiceGraph, PERIODS};
use xrfast_core::summary::{self, ServiceId, TraceSummary};
use xrfast_core::trace::SegmentRef;
use xrfast_core::{Trace, TraceId};

use crate::assembler;
use crate::errors::PyUnprocessedTraceSegment;
use crate::filter::{filter_error, PyFilter};
use crate::traces::{loads, PyTraceSet};

/// `GetTraceGraph` takes one to five trace ids (spec §10 Q26).
const MAX_TRACE_IDS: usize = 5;

/// A half-open time window `[start, end)`, epoch seconds.
type Window = Option<(f64, f64)>;

#[derive(Default)]
struct State {
    /// The analysed traces (empty when they are not kept).
    traces: Vec<Arc<Trace>>,
    /// Their summaries, made with the graph in one pass (empty when the traces are not kept).
    summaries: Vec<Arc<TraceSummary>>,
    /// How many traces were analysed.
    count: usize,
    graph: ServiceGraph,
    errors: Vec<PyUnprocessedTraceSegment>,
}

/// The earliest segment start of a trace; `None` without segments.
fn start_of(trace: &Trace) -> Option<f64> {
    trace
        .segments()
        .iter()
        .map(|&s| match s {
            SegmentRef::Real(i) | SegmentRef::Inferred(i) => trace.entities()[i as usize].start,
        })
        .min_by(f64::total_cmp)
}

/// The traces of `traces` inside `window` (all of them without one).
fn in_window(traces: &[Arc<Trace>], window: Window) -> Vec<Arc<Trace>> {
    traces
        .iter()
        .filter(|t| {
            window.is_none_or(|(start, end)| start_of(t).is_some_and(|at| at >= start && at < end))
        })
        .cloned()
        .collect()
}

/// The service graph, time series and latency percentiles of a set of traces.
#[pyclass(name = "Analysis", module = "xrfast", frozen)]
pub struct PyAnalysis {
    state: Mutex<State>,
    window: Window,
    /// Keep the traces (for summaries, trace graphs and `traces`); a long stream analysed
    /// without them holds only the graph.
    keep_traces: bool,
    /// Only traces this filter matches are analysed (those given later to `add` too).
    filter: Option<Arc<Filter>>,
}

impl PyAnalysis {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update completes or is skipped; a poisoned lock still holds a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn new(
        window: Window,
        keep_traces: bool,
        filter: Option<Arc<Filter>>,
        max_pending_links: usize,
    ) -> Self {
        let state = State {
            graph: ServiceGraph::with_max_pending_links(max_pending_links),
            ..State::default()
        };
        Self {
            state: Mutex::new(state),
            window,
            keep_traces,
            filter,
        }
    }

    /// The kept traces, or an error naming `what` when they were not kept.
    pub(crate) fn kept_traces(&self, what: &str) -> PyResult<Vec<Arc<Trace>>> {
        Ok(self.with_traces(what)?.traces.clone())
    }

    /// The state, or an error naming `what` when the traces were not kept.
    fn with_traces(&self, what: &str) -> PyResult<std::sync::MutexGuard<'_, State>> {
        if self.keep_traces {
            Ok(self.lock())
        } else {
            Err(PyValueError::new_err(format!(
                "{what} needs the traces, and this analysis was made with keep_traces=False"
            )))
        }
    }

    fn extend(&self, py: Python<'_>, traces: &[Arc<Trace>]) {
        let mut traces = in_window(traces, self.window);
        let max_pending_links = self.lock().graph.max_pending_links();
        // Kept traces get their summaries now, from the same reading of each trace as the graph.
        let (graph, summaries) = py.detach(|| {
            if let Some(filter) = &self.filter {
                let chosen = filter.select(&traces);
                traces = chosen.into_iter().map(|i| Arc::clone(&traces[i])).collect();
            }
            if self.keep_traces {
                ServiceGraph::with_summaries_bounded(&traces, max_pending_links)
            } else {
                (
                    ServiceGraph::from_traces_bounded(&traces, max_pending_links),
                    Vec::new(),
                )
            }
        });
        let mut state = self.lock();
        state.graph.merge(&graph);
        state.count += traces.len();
        if self.keep_traces {
            state.traces.extend(traces);
            state.summaries.extend(summaries.into_iter().map(Arc::new));
        }
    }

    /// `[summary, ...]` of the kept traces, written in Rust with the GIL released.
    fn summaries_bytes(&self, py: Python<'_>, what: &str) -> PyResult<Vec<u8>> {
        let state = self.with_traces(what)?;
        Ok(py.detach(|| {
            let mut out = Vec::with_capacity(state.summaries.len() * 1024 + 2);
            summary::write_summary_list(&state.summaries, &mut out);
            out
        }))
    }

    fn graph_json(&self, py: Python<'_>) -> Vec<u8> {
        let state = self.lock();
        py.detach(|| {
            let mut out = Vec::with_capacity(4096);
            state.graph.write_service_graph(&mut out, self.window);
            out
        })
    }
}

/// A node from a ``{"Name", "Type"?, "AccountId"?}`` dict (what ``Services`` entries hold).
fn service_key(value: &Bound<'_, PyAny>) -> PyResult<ServiceId> {
    let dict = value.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err("a node is a dict with \"Name\" and optional \"Type\", \"AccountId\"")
    })?;
    let get = |key: &str| -> PyResult<Option<String>> {
        match dict.get_item(key)? {
            Some(v) if !v.is_none() => Ok(Some(v.extract()?)),
            _ => Ok(None),
        }
    };
    Ok(ServiceId {
        name: get("Name")?.ok_or_else(|| PyValueError::new_err("a node needs a \"Name\""))?,
        kind: get("Type")?,
        account_id: get("AccountId")?,
    })
}

#[pymethods]
impl PyAnalysis {
    /// Adds the traces of ``traces`` (those inside the window, when there is one).
    fn add(&self, py: Python<'_>, traces: &Bound<'_, PyTraceSet>) {
        self.extend(py, &traces.get().traces);
    }

    /// A new analysis of both: this one's traces, then ``other``'s (kept only when both keep
    /// them).
    fn merge(&self, py: Python<'_>, other: &PyAnalysis) -> PyAnalysis {
        let window = match (self.window, other.window) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            _ => None,
        };
        // The merged analysis filters what is added later only when both filtered alike.
        let filter = match (&self.filter, &other.filter) {
            (Some(a), Some(b)) if a.expr() == b.expr() => Some(Arc::clone(a)),
            _ => None,
        };
        let max_pending_links = self.lock().graph.max_pending_links();
        let merged = PyAnalysis::new(
            window,
            self.keep_traces && other.keep_traces,
            filter,
            max_pending_links,
        );
        {
            let mine = self.lock();
            // `a.merge(a)` must not lock the same state twice.
            let theirs = (!std::ptr::eq(self, other)).then(|| other.lock());
            let theirs = theirs.as_deref().unwrap_or(&mine);
            let graph = py.detach(|| {
                let mut graph = mine.graph.clone();
                graph.merge(&theirs.graph);
                graph
            });
            let mut state = merged.lock();
            state.graph = graph;
            state.count = mine.count + theirs.count;
            if merged.keep_traces {
                state.traces = mine.traces.iter().chain(&theirs.traces).cloned().collect();
                state.summaries = mine
                    .summaries
                    .iter()
                    .chain(&theirs.summaries)
                    .cloned()
                    .collect();
            }
            state.errors = mine.errors.iter().chain(&theirs.errors).cloned().collect();
        }
        merged
    }

    /// The analysed traces.
    #[getter]
    fn traces(&self) -> PyResult<PyTraceSet> {
        let state = self.with_traces("traces")?;
        Ok(PyTraceSet {
            traces: state.traces.clone(),
            errors: state.errors.clone(),
            counters: xrfast_core::Counters::default(),
        })
    }

    /// Documents rejected while parsing (with ``on_error="collect"``).
    #[getter]
    fn errors(&self) -> Vec<PyUnprocessedTraceSegment> {
        self.lock().errors.clone()
    }

    /// The window, ``(start, end)``, or ``None``.
    #[getter]
    fn window(&self) -> Window {
        self.window
    }

    /// The filter traces must match to be analysed, or ``None``.
    #[getter]
    fn filter(&self) -> Option<PyFilter> {
        self.filter.as_ref().map(|f| PyFilter {
            filter: Arc::clone(f),
        })
    }

    /// One ``TraceSummary`` dict per trace, in order.
    fn summaries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let out = self.summaries_bytes(py, "summaries()")?;
        loads(py, &out)
    }

    /// ``{"TraceSummaries": [...]}`` as JSON bytes made in Rust.
    fn summaries_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = b"{\"TraceSummaries\":".to_vec();
        out.extend(self.summaries_bytes(py, "summaries_json()")?);
        out.push(b'}');
        Ok(PyBytes::new(py, &out))
    }

    /// ``TraceSet.summary_columns()`` of the analysed traces, from the summaries the analysis
    /// made with its graph (no document is read again).
    fn summary_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let summaries = self.with_traces("summary_columns()")?.summaries.clone();
        crate::columns::summary_columns_of_summaries(py, &summaries)
    }

    /// ``TraceSet.annotation_column(key)`` of the analysed traces, from their summaries.
    fn annotation_column<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyDict>> {
        let summaries = self.with_traces("annotation_column()")?.summaries.clone();
        crate::columns::annotation_column_of_summaries(py, &summaries, key)
    }

    /// The path report over the analysed traces (the same as ``TraceSet.paths``).
    #[pyo3(signature = (*, examples = 5, rare_share = 0.05))]
    fn paths<'py>(
        &self,
        py: Python<'py>,
        examples: usize,
        rare_share: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let traces = self.with_traces("paths()")?.traces.clone();
        let out = crate::traces::paths_json(py, &traces, examples, rare_share)?;
        loads(py, &out)
    }

    /// The ``GetServiceGraph`` response, as a dict.
    fn service_graph<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.graph_json(py))
    }

    /// The ``GetServiceGraph`` response, as JSON bytes made in Rust.
    fn service_graph_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.graph_json(py))
    }

    /// The ``GetTraceGraph`` response for one to five trace ids.
    #[allow(clippy::needless_pass_by_value)] // pyo3 hands the list over owned
    fn trace_graph<'py>(
        &self,
        py: Python<'py>,
        trace_ids: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if trace_ids.is_empty() || trace_ids.len() > MAX_TRACE_IDS {
            return Err(PyValueError::new_err(format!(
                "trace_graph takes 1 to {MAX_TRACE_IDS} trace ids, not {}",
                trace_ids.len()
            )));
        }
        let ids = trace_ids
            .iter()
            .map(|id| {
                TraceId::parse(id).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "{id:?} is not a trace id (1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx)"
                    ))
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let state = self.with_traces("trace_graph()")?;
        let out = py.detach(|| {
            let chosen: Vec<&Trace> = state
                .traces
                .iter()
                .filter(|t| ids.contains(&t.id()))
                .map(AsRef::as_ref)
                .collect();
            let mut out = Vec::with_capacity(4096);
            ServiceGraph::from_traces(&chosen).write_trace_graph(&mut out);
            out
        });
        loads(py, &out)
    }

    /// The ``GetTimeSeriesServiceStatistics`` response.
    #[pyo3(signature = (period = 60, *, service = None, edge = None, entity_selector = None))]
    fn time_series<'py>(
        &self,
        py: Python<'py>,
        period: u32,
        service: Option<&Bound<'py, PyAny>>,
        edge: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        entity_selector: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !PERIODS.contains(&period) {
            return Err(PyValueError::new_err(format!(
                "period must be one of 60, 300, 3600 seconds, not {period}"
            )));
        }
        let entity = entity_selector
            .map(|text| EntitySelector::parse(text).map_err(|e| filter_error(py, text, &e)))
            .transpose()?;
        let selector = match (service, edge, &entity) {
            // An entity selector is resolved against the graph below, under the lock.
            (None, None, _) => Selector::ClientEdges,
            (Some(node), None, None) => Selector::Node(service_key(node)?),
            (None, Some((from, to)), None) => {
                Selector::Edge(service_key(&from)?, service_key(&to)?)
            }
            (Some(_), Some(_), None) => {
                return Err(PyValueError::new_err("give a service or an edge, not both"))
            }
            _ => {
                return Err(PyValueError::new_err(
                    "give an entity_selector, or a service or an edge, not both",
                ))
            }
        };
        let state = self.lock();
        let out = py.detach(|| {
            let selector = entity.map_or(selector, |e| e.select(&state.graph));
            let mut out = Vec::with_capacity(4096);
            state
                .graph
                .write_time_series(&mut out, period, &selector, self.window);
            out
        });
        loads(py, &out)
    }

    /// Latency per node and per edge: ``{"nodes": [...], "edges": [...]}``.
    fn percentiles<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.lock();
        let out = py.detach(|| {
            let mut out = Vec::with_capacity(4096);
            state.graph.write_percentiles(&mut out);
            out
        });
        loads(py, &out)
    }

    /// Links waiting for their other side, and those dropped or unreadable.
    #[getter]
    fn link_counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = self.lock().graph.link_counters();
        let dict = PyDict::new(py);
        dict.set_item("pending_producers", counters.pending_producers)?;
        dict.set_item("pending_consumers", counters.pending_consumers)?;
        dict.set_item("dropped", counters.dropped)?;
        dict.set_item("invalid", counters.invalid)?;
        Ok(dict)
    }

    /// Whether the traces are kept.
    #[getter]
    fn keep_traces(&self) -> bool {
        self.keep_traces
    }

    fn __len__(&self) -> usize {
        self.lock().count
    }

    fn __repr__(&self) -> String {
        let state = self.lock();
        format!(
            "Analysis(traces={}, nodes={}, edges={})",
            state.count,
            state.graph.nodes().len(),
            state.graph.edges().len()
        )
    }
}

/// Parses (or takes) traces and analyses them.
#[pyfunction]
#[pyo3(signature = (
    source,
    *,
    start = None,
    end = None,
    format = "auto",
    on_error = "raise",
    keep_traces = true,
    filter = None,
    max_segments_per_trace = 10_000,
    max_trace_bytes = 512_000,
    max_document_bytes = 65_536,
    max_depth = 64,
    max_json_depth = 512,
    max_input_bytes = xrfast_core::assemble::DEFAULT_MAX_INPUT_BYTES,
    max_pending_links = 100_000, // xrfast_core::graph::DEFAULT_MAX_PENDING_LINKS
))]
#[allow(clippy::too_many_arguments)] // keyword-only options, each documented in _core.pyi
pub fn analyze(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    start: Option<f64>,
    end: Option<f64>,
    format: &str,
    on_error: &str,
    keep_traces: bool,
    filter: Option<&Bound<'_, PyAny>>,
    max_segments_per_trace: usize,
    max_trace_bytes: usize,
    max_document_bytes: usize,
    max_depth: usize,
    max_json_depth: usize,
    max_input_bytes: usize,
    max_pending_links: usize,
) -> PyResult<PyAnalysis> {
    let window = match (start, end) {
        (None, None) => None,
        (Some(start), Some(end)) if start.is_finite() && end.is_finite() && start <= end => {
            Some((start, end))
        }
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "start and end must be finite, with start <= end",
            ))
        }
        _ => return Err(PyValueError::new_err("give both start and end, or neither")),
    };
    let filter = match filter {
        None => None,
        Some(f) if f.is_none() => None,
        Some(f) => Some(if let Ok(compiled) = f.cast::<PyFilter>() {
            Arc::clone(&compiled.get().filter)
        } else if let Ok(text) = f.extract::<&str>() {
            Arc::new(crate::filter::compile(
                py,
                text,
                None,
                xrfast_core::filter::CompileOptions::default(),
            )?)
        } else {
            return Err(PyTypeError::new_err(format!(
                "filter must be a Filter or a filter expression (str), not {}",
                f.get_type().name()?
            )));
        }),
    };
    let analysis = PyAnalysis::new(window, keep_traces, filter, max_pending_links);
    if let Ok(set) = source.cast::<PyTraceSet>() {
        let set = set.get();
        analysis.extend(py, &set.traces);
        analysis.lock().errors.clone_from(&set.errors);
        return Ok(analysis);
    }
    let set = assembler::parse(
        py,
        source,
        format,
        on_error,
        max_segments_per_trace,
        max_trace_bytes,
        max_document_bytes,
        max_depth,
        max_json_depth,
        max_input_bytes,
    )?;
    analysis.extend(py, &set.traces);
    analysis.lock().errors = set.errors;
    Ok(analysis)
}
