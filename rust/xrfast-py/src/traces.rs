//! `Trace` and `TraceSet`: assembled traces, with Python objects made only when asked for.

use std::sync::Arc;

use numpy::IntoPyArray;
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList};
use xrfast_core::paths::PathStats;
use xrfast_core::summary;
use xrfast_core::trace::Columns;
use xrfast_core::{Counters, Trace};

use crate::errors::PyUnprocessedTraceSegment;

static ORJSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// JSON produced in Rust → Python objects, through orjson (a runtime dependency). orjson refuses
/// numbers beyond a double's range (`1e999`), which are valid JSON and pass through documents
/// untouched; the standard library reads them (as `inf`), so it is the fallback.
pub fn loads<'py>(py: Python<'py>, json: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let orjson = ORJSON_LOADS.get_or_try_init(py, || {
        py.import("orjson")?.getattr("loads").map(Bound::unbind)
    })?;
    let bytes = PyBytes::new(py, json);
    orjson.bind(py).call1((&bytes,)).or_else(|_| {
        let stdlib = JSON_LOADS.get_or_try_init(py, || {
            py.import("json")?.getattr("loads").map(Bound::unbind)
        })?;
        stdlib.bind(py).call1((bytes,))
    })
}

fn columns_dict(py: Python<'_>, c: Columns) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("trace", c.trace.into_pyarray(py))?;
    d.set_item("id", c.id.into_pyarray(py))?;
    d.set_item("parent_id", c.parent_id.into_pyarray(py))?;
    d.set_item("kind", c.kind.into_pyarray(py))?;
    let duration: Vec<f64> = c.start.iter().zip(&c.end).map(|(s, e)| e - s).collect();
    d.set_item("start", c.start.into_pyarray(py))?;
    d.set_item("end", c.end.into_pyarray(py))?;
    d.set_item("duration", duration.into_pyarray(py))?;
    d.set_item("error", c.error.into_pyarray(py))?;
    d.set_item("throttle", c.throttle.into_pyarray(py))?;
    d.set_item("fault", c.fault.into_pyarray(py))?;
    Ok(d)
}

/// The counters as a dict (keys as in `xrfast_core::Counters`).
pub fn counters_dict<'py>(py: Python<'py>, c: &Counters) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("documents_received", c.documents_received)?;
    d.set_item("documents_accepted", c.documents_accepted)?;
    d.set_item("documents_rejected", c.documents_rejected)?;
    d.set_item("documents_dropped", c.documents_dropped)?;
    d.set_item("traces_evicted", c.traces_evicted)?;
    d.set_item("traces_emitted", c.traces_emitted)?;
    d.set_item("traces_dropped", c.traces_dropped)?;
    Ok(d)
}

/// One assembled trace.
#[pyclass(name = "Trace", module = "xrfast", frozen)]
pub struct PyTrace {
    pub trace: Arc<Trace>,
}

#[pymethods]
impl PyTrace {
    /// The trace id, ``1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx``.
    #[getter]
    fn id(&self) -> String {
        self.trace.id().to_string()
    }

    /// The root segment's rebuilt document, or ``None`` when no segment qualifies.
    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.trace
            .root()
            .map(|pos| self.document(py, pos))
            .transpose()
    }

    /// The root segment's id, or ``None``.
    #[getter]
    fn root_id(&self) -> Option<String> {
        self.trace.root().map(|pos| {
            self.trace
                .segment_id(self.trace.segments()[pos])
                .to_string()
        })
    }

    /// Every segment document, real and inferred, subsegments nested, ordered by start time.
    #[getter]
    fn segments<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let docs = (0..self.trace.segments().len())
            .map(|pos| self.document(py, pos))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, docs)
    }

    /// The ids of :attr:`segments`, in the same order.
    #[getter]
    fn segment_ids(&self) -> Vec<String> {
        self.trace
            .segments()
            .iter()
            .map(|&s| self.trace.segment_id(s).to_string())
            .collect()
    }

    /// True when something is in progress, orphaned, or a traced call has no downstream segment.
    #[getter]
    fn is_partial(&self) -> bool {
        self.trace.is_partial()
    }

    /// True when documents were dropped because the trace reached a size limit.
    #[getter]
    fn limit_exceeded(&self) -> bool {
        self.trace.limit_exceeded()
    }

    /// Last segment end minus first segment start, in seconds.
    #[getter]
    fn duration(&self) -> f64 {
        self.trace.duration()
    }

    /// How many times a complete (sub)segment was replaced by another complete one.
    #[getter]
    fn revision(&self) -> u32 {
        self.trace.revision()
    }

    /// The cause object of (sub)segment ``segment_id``; a ``cause`` that names an exception
    /// recorded elsewhere in the trace is followed to the cause object that records it.
    fn cause<'py>(&self, py: Python<'py>, segment_id: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let id = xrfast_core::SegmentId::parse(segment_id).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "{segment_id:?} is not a 16-hex-digit segment id"
            ))
        })?;
        self.trace.cause(id).map(|json| loads(py, json)).transpose()
    }

    /// The ``BatchGetTraces`` ``Trace`` shape: ``{"Id", "Duration", "LimitExceeded", "Segments"}``.
    /// The text of every document the trace kept, in arrival order (see the stub).
    fn documents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.trace.documents().map(|d| PyBytes::new(py, d)))
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.json(py))
    }

    /// :meth:`to_dict` as JSON bytes, produced in Rust.
    fn to_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.json(py))
    }

    /// X-Ray's ``TraceSummary`` of the trace, made in Rust with the GIL released.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = py.detach(|| {
            let mut out = Vec::with_capacity(1024);
            self.trace.summary().write_json(&mut out);
            out
        });
        loads(py, &json)
    }

    /// One numpy array per column, one row per segment, inferred segment and subsegment.
    fn columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut c = Columns::default();
        self.trace.write_columns(0, &mut c);
        columns_dict(py, c)
    }

    fn __len__(&self) -> usize {
        self.trace.segments().len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Trace(id={:?}, segments={}, partial={}, duration={})",
            self.trace.id().to_string(),
            self.trace.segments().len(),
            if self.trace.is_partial() {
                "True"
            } else {
                "False"
            },
            self.trace.duration()
        )
    }
}

impl PyTrace {
    fn document<'py>(&self, py: Python<'py>, pos: usize) -> PyResult<Bound<'py, PyAny>> {
        let mut out = Vec::new();
        self.trace
            .write_document(self.trace.segments()[pos], &mut out);
        loads(py, &out)
    }

    fn json(&self, py: Python<'_>) -> Vec<u8> {
        py.detach(|| {
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            self.trace.write_json(&mut out, &mut scratch);
            out
        })
    }
}

/// Traces from one call, with the documents that call rejected (when ``on_error="collect"``).
#[pyclass(name = "TraceSet", module = "xrfast", frozen, sequence)]
pub struct PyTraceSet {
    pub traces: Vec<Arc<Trace>>,
    pub errors: Vec<PyUnprocessedTraceSegment>,
    /// The counters of the assembler that made the set, when it was made.
    pub counters: Counters,
}

#[pymethods]
impl PyTraceSet {
    fn __len__(&self) -> usize {
        self.traces.len()
    }

    fn __getitem__(&self, index: isize) -> PyResult<PyTrace> {
        let at = if index < 0 {
            self.traces.len().checked_sub(index.unsigned_abs())
        } else {
            Some(index.unsigned_abs())
        };
        at.and_then(|at| self.traces.get(at))
            .map(|trace| PyTrace {
                trace: Arc::clone(trace),
            })
            .ok_or_else(|| PyIndexError::new_err("TraceSet index out of range"))
    }

    fn __iter__(slf: Py<Self>) -> TraceSetIter {
        TraceSetIter { set: slf, next: 0 }
    }

    fn __repr__(&self) -> String {
        format!(
            "TraceSet(traces={}, errors={})",
            self.traces.len(),
            self.errors.len()
        )
    }

    /// Rejected documents (filled when ``on_error="collect"``).
    #[getter]
    fn errors(&self) -> Vec<PyUnprocessedTraceSegment> {
        self.errors.clone()
    }

    /// Document and trace counters of the call (or, from a ``TraceAssembler``, of the assembler
    /// so far): ``documents_received``, ``documents_accepted``, ``documents_rejected``,
    /// ``documents_dropped``, ``traces_evicted``, ``traces_emitted``, ``traces_dropped``.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counters_dict(py, &self.counters)
    }

    /// The trace ids, in order.
    #[getter]
    fn ids(&self) -> Vec<String> {
        self.traces.iter().map(|t| t.id().to_string()).collect()
    }

    /// The ``BatchGetTraces`` response shape, ``{"Traces": [...]}``, as JSON bytes made in Rust.
    fn to_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let out = py.detach(|| {
            let (mut out, mut scratch) = (Vec::with_capacity(self.traces.len() * 2048), Vec::new());
            out.extend_from_slice(b"{\"Traces\":[");
            for (n, trace) in self.traces.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                trace.write_json(&mut out, &mut scratch);
            }
            out.extend_from_slice(b"]}");
            out
        });
        PyBytes::new(py, &out)
    }

    /// :meth:`to_json`, parsed: ``{"Traces": [...]}``.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.to_json(py);
        loads(py, json.as_bytes())
    }

    /// ``{"TraceSummaries": [...]}`` (``GetTraceSummaries`` without paging), as JSON bytes.
    fn summaries_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let out = py.detach(|| {
            let mut out = Vec::with_capacity(self.traces.len() * 1024 + 32);
            out.extend_from_slice(b"{\"TraceSummaries\":");
            summary::write_summaries(&self.traces, &mut out);
            out.push(b'}');
            out
        });
        PyBytes::new(py, &out)
    }

    /// Each trace's ``TraceSummary`` as its own JSON bytes, in order.
    fn summaries_json_list<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        let each = py.detach(|| summary::summaries_each(&self.traces));
        each.iter().map(|json| PyBytes::new(py, json)).collect()
    }

    /// One ``TraceSummary`` dict per trace, in order.
    fn summaries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let out = py.detach(|| {
            let mut out = Vec::with_capacity(self.traces.len() * 1024 + 2);
            summary::write_summaries(&self.traces, &mut out);
            out
        });
        loads(py, &out)
    }

    /// The path report (docs/decisions.md, "Path analysis"), as JSON bytes made in Rust.
    // Defaults as in xrfast_core::paths (DEFAULT_EXAMPLES, DEFAULT_RARE_SHARE), written out so
    // that the signature Python sees shows them.
    #[pyo3(signature = (*, examples = 5, rare_share = 0.05))]
    fn paths_json<'py>(
        &self,
        py: Python<'py>,
        examples: usize,
        rare_share: f64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let out = self.paths_bytes(py, examples, rare_share)?;
        Ok(PyBytes::new(py, &out))
    }

    /// :meth:`paths_json`, loaded.
    #[pyo3(signature = (*, examples = 5, rare_share = 0.05))]
    fn paths<'py>(
        &self,
        py: Python<'py>,
        examples: usize,
        rare_share: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let out = self.paths_bytes(py, examples, rare_share)?;
        loads(py, &out)
    }

    /// Columns over every trace; the ``trace`` column indexes this set.
    fn columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = py.detach(|| {
            let mut c = Columns::default();
            for (i, trace) in self.traces.iter().enumerate() {
                trace.write_columns(i as u32, &mut c);
            }
            c
        });
        columns_dict(py, c)
    }

    /// One row per trace: ids, times, flags, status and categorical root strings.
    fn summary_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::columns::summary_columns(py, &self.traces)
    }

    /// One row per segment, real or inferred: its trace, service node, flags, status, duration.
    fn service_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::columns::service_columns(py, &self.traces)
    }

    /// One row per value of annotation ``key`` in each trace's summary.
    fn annotation_column<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyDict>> {
        crate::columns::annotation_column(py, &self.traces, key)
    }

    /// The path each trace took, as a code into the distinct paths.
    fn path_column<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::columns::path_column(py, &self.traces)
    }
}

impl PyTraceSet {
    fn paths_bytes(&self, py: Python<'_>, examples: usize, rare_share: f64) -> PyResult<Vec<u8>> {
        paths_json(py, &self.traces, examples, rare_share)
    }
}

/// The path report of `traces` as JSON, made with the GIL released (shared by `TraceSet.paths`
/// and `Analysis.paths`, so both run the same core code).
pub fn paths_json(
    py: Python<'_>,
    traces: &[Arc<Trace>],
    examples: usize,
    rare_share: f64,
) -> PyResult<Vec<u8>> {
    if !(0.0..=1.0).contains(&rare_share) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "rare_share must be within [0, 1], got {rare_share}"
        )));
    }
    Ok(py.detach(|| {
        let mut out = Vec::with_capacity(4096);
        PathStats::of(traces, examples)
            .report(rare_share)
            .write_json(&mut out);
        out
    }))
}

/// Iterator over a `TraceSet`.
#[pyclass(module = "xrfast")]
pub struct TraceSetIter {
    set: Py<PyTraceSet>,
    next: usize,
}

#[pymethods]
impl TraceSetIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> Option<PyTrace> {
        let set = self.set.bind(py).get();
        let trace = set.traces.get(self.next)?;
        self.next += 1;
        Some(PyTrace {
            trace: Arc::clone(trace),
        })
    }
}
