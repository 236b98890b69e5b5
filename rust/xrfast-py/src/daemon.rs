//! `DaemonSocket`: the X-Ray daemon's UDP socket, read by a Rust thread, drained in batches.

use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use xrfast_core::daemon::{DaemonConfig, DaemonSocket, DaemonStats};

/// A UDP socket bound like the X-Ray daemon's (spec §2.2); see the stub for the contract.
#[pyclass(name = "DaemonSocket", module = "xrfast", frozen)]
pub struct PyDaemonSocket {
    socket: DaemonSocket,
    /// The address bound, kept for `address` and `repr`.
    host: String,
    port: u16,
}

fn stats_dict<'py>(py: Python<'py>, s: &DaemonStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("received", s.received)?;
    d.set_item("accepted", s.accepted)?;
    d.set_item("rejected", s.rejected())?;
    d.set_item("rejected_header", s.rejected_header)?;
    d.set_item("rejected_empty", s.rejected_empty)?;
    d.set_item("rejected_too_big", s.rejected_too_big)?;
    d.set_item("rejected_not_utf8", s.rejected_not_utf8)?;
    d.set_item("dropped", s.dropped)?;
    d.set_item("bytes_received", s.bytes_received)?;
    d.set_item("receive_errors", s.receive_errors)?;
    d.set_item("queued", s.queued)?;
    d.set_item("batches", s.batches)?;
    Ok(d)
}

#[pymethods]
impl PyDaemonSocket {
    #[new]
    #[pyo3(signature = (
        host = "127.0.0.1",
        port = 2000,
        *,
        max_datagram_bytes = 65536,
        queue_datagrams = 100_000,
        queue_bytes = 67_108_864,
        receive_buffer_bytes = 8_388_608,
    ))]
    fn new(
        py: Python<'_>,
        host: &str,
        port: u16,
        max_datagram_bytes: usize,
        queue_datagrams: usize,
        queue_bytes: usize,
        receive_buffer_bytes: usize,
    ) -> PyResult<Self> {
        for (name, value) in [
            ("max_datagram_bytes", max_datagram_bytes),
            ("queue_datagrams", queue_datagrams),
            ("queue_bytes", queue_bytes),
        ] {
            if value == 0 {
                return Err(PyValueError::new_err(format!("{name} must be at least 1")));
            }
        }
        let config = DaemonConfig {
            max_datagram_bytes,
            queue_datagrams,
            queue_bytes,
            receive_buffer_bytes,
        };
        let address = (host.to_owned(), port);
        let socket = py
            .detach(|| DaemonSocket::bind(address, &config))
            .map_err(|e| PyOSError::new_err(format!("cannot bind UDP {host}:{port}: {e}")))?;
        let local = socket.local_addr();
        Ok(Self {
            socket,
            host: local.ip().to_string(),
            port: local.port(),
        })
    }

    /// ``(host, port)`` bound.
    #[getter]
    fn address(&self) -> (String, u16) {
        (self.host.clone(), self.port)
    }

    /// The kernel receive buffer granted, in bytes.
    #[getter]
    fn receive_buffer_bytes(&self) -> usize {
        self.socket.receive_buffer_bytes()
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.socket.is_closed()
    }

    /// Every queued document, waiting up to `timeout` seconds for the first.
    #[pyo3(signature = (timeout = 0.1))]
    fn drain<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyList>> {
        if !(timeout.is_finite() && timeout >= 0.0) {
            return Err(PyValueError::new_err(
                "timeout must be a non-negative number of seconds",
            ));
        }
        let wait = Duration::from_secs_f64(timeout.min(86_400.0));
        let batch = py.detach(|| self.socket.drain(wait));
        PyList::new(py, batch.documents().map(|d| PyBytes::new(py, d)))
    }

    /// A snapshot of the counters.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.socket.stats();
        stats_dict(py, &stats)
    }

    /// Stops the reader thread and closes the socket.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.socket.close());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        format!(
            "DaemonSocket(host={:?}, port={}{})",
            self.host,
            self.port,
            if self.socket.is_closed() {
                ", closed"
            } else {
                ""
            }
        )
    }
}
