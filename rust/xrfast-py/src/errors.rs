//! Rejected documents as Python values, and the `on_error` policy.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use xrfast_core::{DocumentError, InputError};

/// What to do with rejected documents.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Raise,
    Skip,
    Collect,
}

impl OnError {
    pub fn parse(name: &str) -> PyResult<Self> {
        match name {
            "raise" => Ok(Self::Raise),
            "skip" => Ok(Self::Skip),
            "collect" => Ok(Self::Collect),
            _ => Err(PyValueError::new_err(format!(
                "on_error must be one of 'raise', 'skip', 'collect', not {name:?}"
            ))),
        }
    }
}

/// One rejected document, named as X-Ray's `UnprocessedTraceSegment`.
#[pyclass(name = "UnprocessedTraceSegment", module = "xrfast", frozen, get_all)]
#[derive(Clone)]
pub struct PyUnprocessedTraceSegment {
    /// Index of the document in the input.
    pub index: usize,
    /// The (sub)segment id at fault, when it could be read.
    pub id: Option<String>,
    /// X-Ray style error code, e.g. ``"InvalidTraceId"``.
    pub error_code: &'static str,
    /// The whole message.
    pub message: String,
    /// Byte offset in the document, when known.
    pub offset: Option<usize>,
}

#[pymethods]
impl PyUnprocessedTraceSegment {
    fn __repr__(&self) -> String {
        format!(
            "UnprocessedTraceSegment(index={}, id={}, error_code={:?}, message={:?})",
            self.index,
            self.id
                .as_deref()
                .map_or_else(|| "None".to_owned(), |id| format!("{id:?}")),
            self.error_code,
            self.message
        )
    }

    fn __str__(&self) -> String {
        let id = self
            .id
            .as_deref()
            .map(|id| format!(" (id {id})"))
            .unwrap_or_default();
        format!("document {}{id}: {}", self.index, self.message)
    }

    /// The X-Ray API shape: ``{"Id", "ErrorCode", "Message"}``.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let d = pyo3::types::PyDict::new(py);
        if let Some(id) = &self.id {
            d.set_item("Id", id)?;
        }
        d.set_item("ErrorCode", self.error_code)?;
        d.set_item("Message", &self.message)?;
        Ok(d)
    }
}

impl From<&DocumentError> for PyUnprocessedTraceSegment {
    fn from(e: &DocumentError) -> Self {
        Self {
            index: e.index,
            id: e.segment_id.clone(),
            error_code: e.code.as_str(),
            message: e.message(),
            offset: e.offset,
        }
    }
}

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let module =
        EXCEPTIONS.get_or_try_init(py, || py.import("xrfast.exceptions").map(Bound::unbind))?;
    module.bind(py).getattr(name)
}

/// Applies `on_error` to the documents rejected by one call: raises for the first (with all of
/// them attached), or returns them for `collect`, or nothing for `skip`.
pub fn apply(
    py: Python<'_>,
    on_error: OnError,
    errors: &[DocumentError],
    document_text: impl Fn(usize) -> Option<String>,
) -> PyResult<Vec<PyUnprocessedTraceSegment>> {
    let all: Vec<PyUnprocessedTraceSegment> = match on_error {
        OnError::Skip => return Ok(Vec::new()),
        _ => errors.iter().map(PyUnprocessedTraceSegment::from).collect(),
    };
    if on_error == OnError::Collect || errors.is_empty() {
        return Ok(all);
    }
    let first = &errors[0];
    let info = &all[0];
    let exc = if first.code.is_decode_error() {
        // json.JSONDecodeError(msg, doc, pos): the document text and the offset in it.
        let doc = document_text(first.index).unwrap_or_default();
        // json.JSONDecodeError counts characters, the core counts bytes.
        let bytes = first.offset.unwrap_or(0).min(doc.len());
        let pos = String::from_utf8_lossy(&doc.as_bytes()[..bytes])
            .chars()
            .count();
        exception_class(py, "SegmentDecodeError")?.call1((first.to_string(), doc, pos))?
    } else {
        exception_class(py, "SegmentValidationError")?.call1((first.to_string(),))?
    };
    exc.setattr("errors", all.clone())?;
    exc.setattr("index", info.index)?;
    exc.setattr("segment_id", info.id.clone())?;
    exc.setattr("error_code", info.error_code)?;
    exc.setattr("offset", info.offset)?;
    Err(PyErr::from_value(exc))
}

/// Maps a failure to read the input as a whole.
pub fn input_error(py: Python<'_>, e: InputError) -> PyErr {
    match e {
        InputError::Io(io) => PyErr::from(io),
        InputError::Format(msg) => {
            match exception_class(py, "InputFormatError").and_then(|c| c.call1((msg.clone(),))) {
                Ok(exc) => PyErr::from_value(exc),
                Err(err) => err,
            }
        }
    }
}
