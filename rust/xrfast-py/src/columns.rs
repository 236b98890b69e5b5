//! Trace-level columns (`xrfast_core::columns`) as dicts of numpy arrays; categorical columns
//! as an int32 code array plus the list of distinct values.

use std::sync::Arc;

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use xrfast_core::columns::{
    write_service_ids, AnnotationColumn, PathColumn, ServiceColumns, SummaryColumns,
};
use xrfast_core::{Trace, TraceSummary};

use crate::traces::loads;

/// `TraceSet.summary_columns()`.
pub fn summary_columns<'py>(
    py: Python<'py>,
    traces: &[Arc<Trace>],
) -> PyResult<Bound<'py, PyDict>> {
    let c = py.detach(|| SummaryColumns::of(traces));
    summary_columns_dict(py, c)
}

/// `Analysis.summary_columns()`: from the summaries the analysis made with its graph.
pub fn summary_columns_of_summaries<'py>(
    py: Python<'py>,
    summaries: &[Arc<TraceSummary>],
) -> PyResult<Bound<'py, PyDict>> {
    let c = py.detach(|| SummaryColumns::from_summaries(summaries));
    summary_columns_dict(py, c)
}

fn summary_columns_dict(py: Python<'_>, c: SummaryColumns) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id_high", c.id_high.into_pyarray(py))?;
    d.set_item("id_low", c.id_low.into_pyarray(py))?;
    d.set_item("start", c.start.into_pyarray(py))?;
    d.set_item("duration", c.duration.into_pyarray(py))?;
    d.set_item("response_time", c.response_time.into_pyarray(py))?;
    d.set_item("has_fault", c.has_fault.into_pyarray(py))?;
    d.set_item("has_error", c.has_error.into_pyarray(py))?;
    d.set_item("has_throttle", c.has_throttle.into_pyarray(py))?;
    d.set_item("is_partial", c.is_partial.into_pyarray(py))?;
    d.set_item("http_status", c.http_status.into_pyarray(py))?;
    for (name, values_name, column) in [
        ("service", "service_values", c.service),
        ("url", "url_values", c.url),
        ("method", "method_values", c.method),
    ] {
        d.set_item(name, column.codes.into_pyarray(py))?;
        d.set_item(values_name, column.values)?;
    }
    Ok(d)
}

/// `TraceSet.service_columns()`.
pub fn service_columns<'py>(
    py: Python<'py>,
    traces: &[Arc<Trace>],
) -> PyResult<Bound<'py, PyDict>> {
    let (c, services) = py.detach(|| {
        let c = ServiceColumns::of(traces);
        let mut json = Vec::with_capacity(64 * c.service.values.len() + 2);
        write_service_ids(&c.service.values, &mut json);
        (c, json)
    });
    let d = PyDict::new(py);
    d.set_item("trace", c.trace.into_pyarray(py))?;
    d.set_item("service", c.service.codes.into_pyarray(py))?;
    d.set_item("service_values", loads(py, &services)?)?;
    d.set_item("root", c.root.into_pyarray(py))?;
    d.set_item("fault", c.fault.into_pyarray(py))?;
    d.set_item("error", c.error.into_pyarray(py))?;
    d.set_item("throttle", c.throttle.into_pyarray(py))?;
    d.set_item("http_status", c.http_status.into_pyarray(py))?;
    d.set_item("duration", c.duration.into_pyarray(py))?;
    Ok(d)
}

/// `TraceSet.annotation_column(key)`.
pub fn annotation_column<'py>(
    py: Python<'py>,
    traces: &[Arc<Trace>],
    key: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let c = py.detach(|| AnnotationColumn::of(traces, key));
    annotation_column_dict(py, c)
}

/// `Analysis.annotation_column(key)`: from the summaries the analysis made with its graph.
pub fn annotation_column_of_summaries<'py>(
    py: Python<'py>,
    summaries: &[Arc<TraceSummary>],
    key: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let c = py.detach(|| AnnotationColumn::from_summaries(summaries, key));
    annotation_column_dict(py, c)
}

fn annotation_column_dict(py: Python<'_>, c: AnnotationColumn) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("trace", c.trace.into_pyarray(py))?;
    d.set_item("kind", c.kind.into_pyarray(py))?;
    d.set_item("number", c.number.into_pyarray(py))?;
    d.set_item("boolean", c.boolean.into_pyarray(py))?;
    d.set_item("string", c.string.codes.into_pyarray(py))?;
    d.set_item("string_values", c.string.values)?;
    Ok(d)
}

/// `TraceSet.path_column()`.
pub fn path_column<'py>(py: Python<'py>, traces: &[Arc<Trace>]) -> PyResult<Bound<'py, PyDict>> {
    let (codes, json) = py.detach(|| {
        let c = PathColumn::of(traces);
        let mut json = Vec::with_capacity(256 * c.paths.values.len() + 2);
        c.write_json(&mut json);
        (c.paths.codes, json)
    });
    let d = PyDict::new(py);
    d.set_item("path", codes.into_pyarray(py))?;
    d.set_item("path_values", loads(py, &json)?)?;
    Ok(d)
}
