//! Python bindings for xrfast-core, imported as `xrfast._core`.
//!
//! This crate knows nothing about X-Ray. It converts Python inputs into byte slices (borrowing
//! `bytes` and `str`, copying buffers that could change underneath), releases the GIL around
//! every call into the core, maps core errors to the exception classes of `xrfast.exceptions`,
//! and builds Python objects only at the edge.

mod analysis;
mod assembler;
mod columns;
mod errors;
mod filter;
mod reader;
mod source;
mod traces;

use pyo3::prelude::*;

/// Parsing allocates small buffers on worker threads that the ingest thread frees; glibc's
/// allocator spent a fifth of the time on that, mimalloc a fraction of it (benches/assemble.py).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<traces::PyTrace>()?;
    m.add_class::<traces::PyTraceSet>()?;
    m.add_class::<assembler::PyTraceAssembler>()?;
    m.add_class::<errors::PyUnprocessedTraceSegment>()?;
    m.add_class::<reader::PyChunkReader>()?;
    m.add_class::<analysis::PyAnalysis>()?;
    m.add_class::<filter::PyFilter>()?;
    m.add_function(wrap_pyfunction!(assembler::parse, m)?)?;
    m.add_function(wrap_pyfunction!(assembler::read, m)?)?;
    m.add_function(wrap_pyfunction!(reader::parse_only, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(filter::compile_filter, m)?)?;
    Ok(())
}
