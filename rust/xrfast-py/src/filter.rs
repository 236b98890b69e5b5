//! `Filter` and `compile_filter`: X-Ray filter expressions compiled in the core, evaluated with
//! the GIL released.

use std::sync::Arc;

use numpy::IntoPyArray;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use xrfast_core::filter::{compile_with, CompileOptions, Filter, FilterError, Group};
use xrfast_core::Trace;

use crate::analysis::PyAnalysis;
use crate::traces::{PyTrace, PyTraceSet};

static ERROR_CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `xrfast.FilterExpressionError(message, expression, position, expected, found)`.
pub fn filter_error(py: Python<'_>, expression: &str, e: &FilterError) -> PyErr {
    let made = ERROR_CLASS
        .get_or_try_init(py, || {
            py.import("xrfast.exceptions")?
                .getattr("FilterExpressionError")
                .map(Bound::unbind)
        })
        .and_then(|class| {
            class.bind(py).call1((
                e.to_string(),
                expression,
                e.position,
                e.expected.as_str(),
                e.found.as_str(),
            ))
        });
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// Groups from an iterable of X-Ray `Group` dicts (`GroupName`, `GroupARN`, `FilterExpression`;
/// other members are ignored).
fn groups_from(groups: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Group>> {
    let Some(groups) = groups else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in groups.try_iter()? {
        let item = item?;
        let dict = item.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(
                "a group is a dict with \"GroupName\" and optional \"GroupARN\", \
                 \"FilterExpression\"",
            )
        })?;
        let get = |key: &str| -> PyResult<Option<String>> {
            match dict.get_item(key)? {
                Some(v) if !v.is_none() => Ok(Some(v.extract().map_err(|_| {
                    PyTypeError::new_err(format!("a group's {key:?} must be a string"))
                })?)),
                _ => Ok(None),
            }
        };
        out.push(Group {
            name: get("GroupName")?
                .ok_or_else(|| PyValueError::new_err("a group needs a \"GroupName\""))?,
            arn: get("GroupARN")?,
            filter_expression: get("FilterExpression")?,
        });
    }
    Ok(out)
}

/// Compiles `expression` (the Python-facing options), mapping errors to
/// `FilterExpressionError`.
pub fn compile(
    py: Python<'_>,
    expression: &str,
    groups: Option<&Bound<'_, PyAny>>,
    options: CompileOptions,
) -> PyResult<Filter> {
    let groups = groups_from(groups)?;
    compile_with(expression, &groups, &options).map_err(|e| filter_error(py, expression, &e))
}

/// A compiled X-Ray filter expression.
#[pyclass(name = "Filter", module = "xrfast", frozen)]
pub struct PyFilter {
    pub filter: Arc<Filter>,
}

/// Runs `f` over the traces of a `TraceSet` (borrowed) or an `Analysis` (its kept traces),
/// with the GIL released; `what` names the caller in errors.
pub fn with_traces<R: Send>(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    what: &str,
    f: impl FnOnce(&[Arc<Trace>]) -> R + Send,
) -> PyResult<R> {
    if let Ok(set) = source.cast::<PyTraceSet>() {
        let traces = &set.get().traces;
        return Ok(py.detach(|| f(traces)));
    }
    if let Ok(analysis) = source.cast::<PyAnalysis>() {
        let traces = analysis.get().kept_traces(what)?;
        return Ok(py.detach(|| f(&traces)));
    }
    Err(PyTypeError::new_err(format!(
        "expected a TraceSet or an Analysis, not {}",
        source.get_type().name()?
    )))
}

#[pymethods]
impl PyFilter {
    /// The expression it was compiled from.
    #[getter]
    fn expression(&self) -> &str {
        self.filter.expression()
    }

    /// Whether ``trace`` matches.
    fn matches(&self, py: Python<'_>, trace: &PyTrace) -> bool {
        let trace = &trace.trace;
        py.detach(|| self.filter.matches(trace))
    }

    /// The positions of the matching traces, ascending, as a numpy ``int64`` array.
    fn select<'py>(
        &self,
        py: Python<'py>,
        traces: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, numpy::PyArray1<i64>>> {
        let chosen: Vec<i64> = with_traces(py, traces, "Filter.select", |traces| {
            self.filter
                .select(traces)
                .into_iter()
                .map(|i| i64::try_from(i).unwrap_or(i64::MAX))
                .collect()
        })?;
        Ok(chosen.into_pyarray(py))
    }

    /// The ids of the matching traces, in order.
    fn select_ids(&self, py: Python<'_>, traces: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        with_traces(py, traces, "Filter.select_ids", |traces| {
            self.filter
                .select(traces)
                .into_iter()
                .map(|i| traces[i].id().to_string())
                .collect()
        })
    }

    /// A ``TraceSet`` of the matching traces, in order.
    fn filter(&self, py: Python<'_>, traces: &Bound<'_, PyAny>) -> PyResult<PyTraceSet> {
        let chosen = with_traces(py, traces, "Filter.filter", |traces| {
            self.filter
                .select(traces)
                .into_iter()
                .map(|i| Arc::clone(&traces[i]))
                .collect()
        })?;
        Ok(PyTraceSet {
            traces: chosen,
            errors: Vec::new(),
            counters: xrfast_core::Counters::default(),
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let text = pyo3::types::PyString::new(py, self.filter.expression());
        Ok(format!("Filter({})", text.repr()?))
    }

    fn __str__(&self) -> String {
        self.filter.expression().to_owned()
    }
}

/// Compiles an X-Ray filter expression.
#[pyfunction]
#[pyo3(signature = (
    expression,
    *,
    groups = None,
    max_depth = 64,
    max_length = 100_000,
    max_predicates = 100_000,
))]
pub fn compile_filter(
    py: Python<'_>,
    expression: &str,
    groups: Option<&Bound<'_, PyAny>>,
    max_depth: usize,
    max_length: usize,
    max_predicates: usize,
) -> PyResult<PyFilter> {
    let options = CompileOptions {
        max_depth,
        max_length,
        max_predicates,
    };
    Ok(PyFilter {
        filter: Arc::new(compile(py, expression, groups, options)?),
    })
}
