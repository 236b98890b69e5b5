//! File chunks and the parse-only baselines, for `xrfast.read` and the benchmark runner.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use xrfast_core::bench::{self, Parser};
use xrfast_core::reader::ChunkReader;

use crate::source;

/// Iterates a file (plain or gzip) as ``bytes`` chunks holding whole documents.
#[pyclass(name = "ChunkReader", module = "xrfast._core", frozen)]
pub struct PyChunkReader {
    inner: Mutex<ChunkReader>,
}

#[pymethods]
impl PyChunkReader {
    #[new]
    #[pyo3(signature = (
        path,
        *,
        format = "auto",
        chunk_size = 4 << 20,
        max_input_bytes = xrfast_core::assemble::DEFAULT_MAX_INPUT_BYTES,
    ))]
    #[allow(clippy::needless_pass_by_value)] // pyo3 converts `os.PathLike` into an owned path
    fn new(
        path: PathBuf,
        format: &str,
        chunk_size: usize,
        max_input_bytes: usize,
    ) -> PyResult<Self> {
        let reader = ChunkReader::open(
            &path,
            source::format(format)?,
            chunk_size,
            xrfast_core::DocumentLimits::default(),
            max_input_bytes,
        )?;
        Ok(Self {
            inner: Mutex::new(reader),
        })
    }

    /// The format of the file (``"auto"`` until the first chunk is read).
    #[getter]
    fn format(&self) -> &'static str {
        self.inner.lock().map_or("auto", |r| r.format().name())
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let chunk = py.detach(|| match self.inner.lock() {
            Ok(mut reader) => reader.next_chunk(),
            Err(_) => Ok(None),
        })?;
        Ok(chunk.map(|c| PyBytes::new(py, &c)))
    }
}

/// Parses every line of ``ndjson`` with ``parser`` and nothing else: the benchmark's baseline.
/// Returns ``(parsed, failed)``.
#[pyfunction]
pub fn parse_only(py: Python<'_>, ndjson: &[u8], parser: &str) -> PyResult<(usize, usize)> {
    let parser = Parser::from_name(parser).ok_or_else(|| {
        let names: Vec<&str> = Parser::ALL.iter().map(|(_, n)| *n).collect();
        PyValueError::new_err(format!("parser must be one of {names:?}, not {parser:?}"))
    })?;
    Ok(py.detach(|| bench::parse_only(ndjson, parser)))
}
