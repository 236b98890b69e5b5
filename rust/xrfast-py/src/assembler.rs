//! `TraceAssembler` and `parse`: documents in, traces out, with the GIL released for the work.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use xrfast_core::assemble::DEFAULT_MAX_INPUT_BYTES;
use xrfast_core::input::{frame, gunzip, Framed};
use xrfast_core::reader::ChunkReader;
use xrfast_core::{
    Assembler, Counters, DocumentError, DocumentLimits, Format, InputError, Limits, Trace,
};

use crate::errors::{self, OnError, PyUnprocessedTraceSegment};
use crate::source;
use crate::traces::{counters_dict, PyTraceSet};

/// The JSON parser recurses once per level of nesting; this keeps a hostile limit off the stack
/// (an optimised build handles several thousand levels in a 2 MiB thread stack).
const DEEPEST_ALLOWED: usize = 1_000;

#[allow(clippy::too_many_arguments)] // mirrors the keyword-only Python signature
fn limits(
    idle_timeout: f64,
    incomplete_timeout: f64,
    max_open_traces: usize,
    max_segments_per_trace: usize,
    max_trace_bytes: usize,
    max_ready_traces: usize,
    max_document_bytes: usize,
    max_depth: usize,
    max_json_depth: usize,
    max_input_bytes: usize,
) -> PyResult<Limits> {
    let positive = [
        ("max_open_traces", max_open_traces),
        ("max_segments_per_trace", max_segments_per_trace),
        ("max_trace_bytes", max_trace_bytes),
        ("max_ready_traces", max_ready_traces),
        ("max_document_bytes", max_document_bytes),
        ("max_input_bytes", max_input_bytes),
    ];
    if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
        return Err(PyValueError::new_err(format!("{name} must be at least 1")));
    }
    if max_document_bytes > u32::MAX as usize / 2 || max_trace_bytes > u32::MAX as usize / 2 {
        return Err(PyValueError::new_err(
            "max_document_bytes and max_trace_bytes must be below 2 GiB",
        ));
    }
    for (name, value) in [("max_depth", max_depth), ("max_json_depth", max_json_depth)] {
        if value > DEEPEST_ALLOWED {
            return Err(PyValueError::new_err(format!(
                "{name} must be at most {DEEPEST_ALLOWED}"
            )));
        }
    }
    for (name, value) in [
        ("idle_timeout", idle_timeout),
        ("incomplete_timeout", incomplete_timeout),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(PyValueError::new_err(format!(
                "{name} must be a non-negative number of seconds"
            )));
        }
    }
    Ok(Limits {
        document: DocumentLimits {
            max_document_bytes,
            max_depth,
            max_json_depth,
        },
        max_open_traces,
        max_segments_per_trace,
        max_trace_bytes,
        max_ready_traces,
        idle_timeout,
        incomplete_timeout: incomplete_timeout.max(idle_timeout),
        max_input_bytes,
    })
}

/// Limits for a one-shot batch (`parse`, `read`): everything stays open until the final flush.
pub(crate) fn batch_limits(
    max_segments_per_trace: usize,
    max_trace_bytes: usize,
    max_document_bytes: usize,
    max_depth: usize,
    max_json_depth: usize,
    max_input_bytes: usize,
) -> PyResult<Limits> {
    limits(
        0.0,
        0.0,
        usize::MAX,
        max_segments_per_trace,
        max_trace_bytes,
        usize::MAX,
        max_document_bytes,
        max_depth,
        max_json_depth,
        max_input_bytes,
    )
}

/// Every trace of `assembler`, with its counters (call with the GIL released).
fn flush(assembler: &Mutex<Assembler>) -> (Vec<Trace>, Counters) {
    let mut assembler = assembler.lock().unwrap_or_else(PoisonError::into_inner);
    (assembler.flush(), assembler.counters())
}

fn trace_set(
    traces: Vec<Trace>,
    errors: Vec<PyUnprocessedTraceSegment>,
    counters: Counters,
) -> PyTraceSet {
    PyTraceSet {
        traces: traces.into_iter().map(Arc::new).collect(),
        errors,
        counters,
    }
}

fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Frames and adds `chunks` (the GIL must be released by the caller). Documents are numbered from
/// `first_index`; rejections go to `errors`, and the text of the first rejected document is kept
/// for `json.JSONDecodeError.doc`. Returns how many documents were framed.
fn ingest(
    assembler: &Mutex<Assembler>,
    chunks: &[impl AsRef<[u8]>],
    format: Format,
    now: f64,
    first_index: usize,
    errors: &mut Vec<DocumentError>,
    first_rejected_text: &mut Option<String>,
) -> Result<usize, InputError> {
    let mut framed: Vec<Framed<'_>> = Vec::new();
    let limits = *assembler
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .limits();
    let depth = limits.document.max_json_depth;
    let chunks = chunks
        .iter()
        .map(|c| gunzip(c.as_ref(), limits.max_input_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    for chunk in &chunks {
        frame(
            chunk,
            format,
            first_index + framed.len(),
            depth,
            &mut framed,
        )?;
    }
    let seen = errors.len();
    assembler
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .add_framed(&framed, now, errors);
    if seen == 0 {
        if let Some(first) = errors.first() {
            let text = framed
                .iter()
                .find(|f| f.index == first.index)
                .map(|f| String::from_utf8_lossy(&f.bytes).into_owned());
            *first_rejected_text = text;
        }
    }
    Ok(framed.len())
}

/// Adds every item of `source` and applies `on_error`.
fn add_source(
    py: Python<'_>,
    assembler: &Mutex<Assembler>,
    source: &Bound<'_, PyAny>,
    format: Format,
    on_error: OnError,
    now: f64,
) -> PyResult<Vec<PyUnprocessedTraceSegment>> {
    let items = source::items(source)?;
    let chunks = items
        .iter()
        .map(source::chunk)
        .collect::<PyResult<Vec<_>>>()?;
    let (mut errors, mut text) = (Vec::new(), None);
    py.detach(|| ingest(assembler, &chunks, format, now, 0, &mut errors, &mut text))
        .map_err(|e| errors::input_error(py, e))?;
    errors::apply(py, on_error, &errors, |_| text.clone())
}

/// Assembles documents into traces as they stream in.
#[pyclass(name = "TraceAssembler", module = "xrfast", frozen)]
pub struct PyTraceAssembler {
    inner: Mutex<Assembler>,
}

#[pymethods]
impl PyTraceAssembler {
    #[new]
    #[pyo3(signature = (
        *,
        idle_timeout = 5.0,
        incomplete_timeout = 60.0,
        max_open_traces = 100_000,
        max_segments_per_trace = 10_000,
        max_trace_bytes = 512_000,
        max_ready_traces = 100_000,
        max_document_bytes = 65_536,
        max_depth = 64,
        max_json_depth = 512,
        max_input_bytes = DEFAULT_MAX_INPUT_BYTES,
    ))]
    #[allow(clippy::too_many_arguments)] // keyword-only options, each documented in _core.pyi
    fn new(
        idle_timeout: f64,
        incomplete_timeout: f64,
        max_open_traces: usize,
        max_segments_per_trace: usize,
        max_trace_bytes: usize,
        max_ready_traces: usize,
        max_document_bytes: usize,
        max_depth: usize,
        max_json_depth: usize,
        max_input_bytes: usize,
    ) -> PyResult<Self> {
        let limits = limits(
            idle_timeout,
            incomplete_timeout,
            max_open_traces,
            max_segments_per_trace,
            max_trace_bytes,
            max_ready_traces,
            max_document_bytes,
            max_depth,
            max_json_depth,
            max_input_bytes,
        )?;
        Ok(Self {
            inner: Mutex::new(Assembler::new(limits)),
        })
    }

    #[pyo3(signature = (source, *, now = None, format = "auto", on_error = "raise"))]
    fn add(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        now: Option<f64>,
        format: &str,
        on_error: &str,
    ) -> PyResult<Vec<PyUnprocessedTraceSegment>> {
        let (format, on_error) = (source::format(format)?, OnError::parse(on_error)?);
        add_source(
            py,
            &self.inner,
            source,
            format,
            on_error,
            now.unwrap_or_else(wall_clock),
        )
    }

    #[pyo3(signature = (now = None))]
    fn pop_complete(&self, py: Python<'_>, now: Option<f64>) -> PyTraceSet {
        let now = now.unwrap_or_else(wall_clock);
        let (traces, counters) = py.detach(|| {
            let mut assembler = self.lock();
            (assembler.pop_complete(now), assembler.counters())
        });
        trace_set(traces, Vec::new(), counters)
    }

    fn flush(&self, py: Python<'_>) -> PyTraceSet {
        let (traces, counters) = py.detach(|| flush(&self.inner));
        trace_set(traces, Vec::new(), counters)
    }

    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let a = self.lock();
        let d = counters_dict(py, &a.counters())?;
        d.set_item("open_traces", a.open_traces())?;
        d.set_item("buffered_segments", a.buffered_segments())?;
        d.set_item("buffered_bytes", a.buffered_bytes())?;
        d.set_item("memory_bytes", a.memory_bytes())?;
        Ok(d)
    }

    #[getter]
    fn event_time(&self) -> f64 {
        self.lock().event_time()
    }

    #[getter]
    fn open_traces(&self) -> usize {
        self.lock().open_traces()
    }

    fn __repr__(&self) -> String {
        let a = self.lock();
        format!(
            "TraceAssembler(open_traces={}, buffered_segments={})",
            a.open_traces(),
            a.buffered_segments()
        )
    }
}

impl PyTraceAssembler {
    fn lock(&self) -> std::sync::MutexGuard<'_, Assembler> {
        // A panic cannot leave the assembler half-updated in a way later calls would trip on
        // (every mutation completes or is skipped), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pyfunction]
#[pyo3(signature = (
    source,
    *,
    format = "auto",
    on_error = "raise",
    max_segments_per_trace = 10_000,
    max_trace_bytes = 512_000,
    max_document_bytes = 65_536,
    max_depth = 64,
    max_json_depth = 512,
    max_input_bytes = DEFAULT_MAX_INPUT_BYTES,
))]
#[allow(clippy::too_many_arguments)] // keyword-only options, each documented in _core.pyi
pub fn parse(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    format: &str,
    on_error: &str,
    max_segments_per_trace: usize,
    max_trace_bytes: usize,
    max_document_bytes: usize,
    max_depth: usize,
    max_json_depth: usize,
    max_input_bytes: usize,
) -> PyResult<PyTraceSet> {
    let (format, on_error) = (source::format(format)?, OnError::parse(on_error)?);
    let limits = batch_limits(
        max_segments_per_trace,
        max_trace_bytes,
        max_document_bytes,
        max_depth,
        max_json_depth,
        max_input_bytes,
    )?;
    let assembler = Mutex::new(Assembler::new(limits));
    let errors = add_source(py, &assembler, source, format, on_error, 0.0)?;
    let (traces, counters) = py.detach(|| flush(&assembler));
    Ok(trace_set(traces, errors, counters))
}

#[pyfunction]
#[pyo3(signature = (
    path,
    *,
    format = "auto",
    on_error = "raise",
    chunk_size = 4 << 20,
    max_segments_per_trace = 10_000,
    max_trace_bytes = 512_000,
    max_document_bytes = 65_536,
    max_depth = 64,
    max_json_depth = 512,
    max_input_bytes = DEFAULT_MAX_INPUT_BYTES,
))]
#[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)] // keyword-only options; pyo3 hands paths over owned
pub fn read(
    py: Python<'_>,
    path: PathBuf,
    format: &str,
    on_error: &str,
    chunk_size: usize,
    max_segments_per_trace: usize,
    max_trace_bytes: usize,
    max_document_bytes: usize,
    max_depth: usize,
    max_json_depth: usize,
    max_input_bytes: usize,
) -> PyResult<PyTraceSet> {
    let (format, on_error) = (source::format(format)?, OnError::parse(on_error)?);
    let limits = batch_limits(
        max_segments_per_trace,
        max_trace_bytes,
        max_document_bytes,
        max_depth,
        max_json_depth,
        max_input_bytes,
    )?;
    let assembler = Mutex::new(Assembler::new(limits));
    let (mut errors, mut text) = (Vec::new(), None);
    let traces = py
        .detach(|| {
            let mut reader = ChunkReader::open(
                &path,
                format,
                chunk_size,
                limits.document,
                limits.max_input_bytes,
            )
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let mut documents = 0;
            while let Some(chunk) = reader.next_chunk()? {
                documents += ingest(
                    &assembler,
                    &[chunk],
                    reader.format(),
                    0.0,
                    documents,
                    &mut errors,
                    &mut text,
                )?;
            }
            Ok(flush(&assembler))
        })
        .map_err(|e| errors::input_error(py, e))?;
    let (traces, counters) = traces;
    let errors = errors::apply(py, on_error, &errors, |_| text.clone())?;
    Ok(trace_set(traces, errors, counters))
}
