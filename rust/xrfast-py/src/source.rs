//! Python inputs → byte chunks, borrowed where Python guarantees they cannot change.

use std::borrow::Cow;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use xrfast_core::Format;

/// Reads a `format=` keyword.
pub fn format(name: &str) -> PyResult<Format> {
    Format::from_name(name).ok_or_else(|| {
        let names: Vec<String> = Format::ALL.iter().map(|(_, n)| format!("'{n}'")).collect();
        PyValueError::new_err(format!(
            "format must be one of {}, not {name:?}",
            names.join(", ")
        ))
    })
}

/// The items of a source: a list or tuple contributes each element, anything else itself.
/// The caller keeps the returned objects alive while it borrows their bytes.
pub fn items<'py>(source: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if source.is_instance_of::<PyList>() || source.is_instance_of::<PyTuple>() {
        source.try_iter()?.collect()
    } else {
        Ok(vec![source.clone()])
    }
}

/// The bytes of one item. `bytes` and `str` are immutable, so they are borrowed; `bytearray` and
/// buffers are copied before the GIL is released, since another thread could change them.
pub fn chunk<'a>(item: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = item.cast::<PyBytes>() {
        Ok(Cow::Borrowed(bytes.as_bytes()))
    } else if let Ok(text) = item.cast::<PyString>() {
        Ok(Cow::Borrowed(text.to_str()?.as_bytes()))
    } else if let Ok(array) = item.cast::<PyByteArray>() {
        Ok(Cow::Owned(array.to_vec()))
    } else if let Ok(view) = pyo3::buffer::PyBuffer::<u8>::get(item) {
        Ok(Cow::Owned(view.to_vec(item.py())?))
    } else {
        Err(PyTypeError::new_err(format!(
            "expected bytes, str, bytearray, memoryview or a list of them, not {}",
            item.get_type().name()?
        )))
    }
}
