//! `ferrostream._native.StreamingEngine`: the DStream graph and batch scheduler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::engine::stream::StreamingEngine;
use crate::python::detach::{run_detached, wait_detached, SIGNAL_POLL};
use crate::python::errors::IntoPyResult;
use crate::python::rdd::{PyEngineContext, PyRdd};
use crate::python::udf::{PyListener, PyOutputFn, PyTransformFn};

#[pyclass(frozen, name = "StreamingEngine", module = "ferrostream._native")]
pub struct PyStreamingEngine {
    inner: Arc<StreamingEngine>,
}

/// Where the user started the context: the innermost frame outside ferrostream.
fn python_callsite(py: Python<'_>) -> String {
    let found = (|| -> PyResult<String> {
        let frames = py.import("traceback")?.call_method0("extract_stack")?;
        let mut site = String::new();
        for frame in frames.try_iter()? {
            let frame = frame?;
            let file: String = frame.getattr("filename")?.extract()?;
            if !file.contains("ferrostream") {
                let line: i64 = frame.getattr("lineno")?.extract()?;
                let name: String = frame.getattr("name")?.extract()?;
                site = format!("{name} at {file}:{line}");
            }
        }
        Ok(site)
    })();
    found.unwrap_or_default()
}

#[pymethods]
impl PyStreamingEngine {
    #[new]
    fn new(
        py: Python<'_>,
        ctx: &PyEngineContext,
        batch_ms: i64,
        manual_clock: bool,
    ) -> PyResult<Self> {
        let inner = StreamingEngine::new(ctx.inner.clone(), batch_ms, manual_clock).py_err(py)?;
        Ok(PyStreamingEngine { inner })
    }

    #[pyo3(signature = (rdds, one_at_a_time, default=None))]
    fn queue_stream(
        &self,
        py: Python<'_>,
        rdds: Vec<Py<PyRdd>>,
        one_at_a_time: bool,
        default: Option<Py<PyRdd>>,
    ) -> PyResult<usize> {
        let rdds = rdds.iter().map(|r| r.get().inner.clone()).collect();
        let default = default.map(|d| d.get().inner.clone());
        self.inner
            .queue_stream(rdds, one_at_a_time, default)
            .py_err(py)
    }

    fn transform(&self, py: Python<'_>, parents: Vec<usize>, func: Py<PyAny>) -> PyResult<usize> {
        self.inner
            .transform(parents, Arc::new(PyTransformFn(func)))
            .py_err(py)
    }

    fn union(&self, py: Python<'_>, parents: Vec<usize>) -> PyResult<usize> {
        self.inner.union(parents).py_err(py)
    }

    fn foreach_rdd(
        &self,
        py: Python<'_>,
        stream: usize,
        func: Py<PyAny>,
        description: String,
    ) -> PyResult<()> {
        self.inner
            .foreach_rdd(stream, Arc::new(PyOutputFn(func)), description)
            .py_err(py)
    }

    fn remember(&self, py: Python<'_>, duration_ms: i64) -> PyResult<()> {
        self.inner.remember(duration_ms).py_err(py)
    }

    fn slide_ms(&self, py: Python<'_>, stream: usize) -> PyResult<i64> {
        self.inner.slide_ms(stream).py_err(py)
    }

    fn slice(
        &self,
        py: Python<'_>,
        stream: usize,
        begin_ms: i64,
        end_ms: i64,
    ) -> PyResult<Vec<PyRdd>> {
        let rdds = self.inner.slice(stream, begin_ms, end_ms).py_err(py)?;
        Ok(rdds.into_iter().map(|inner| PyRdd { inner }).collect())
    }

    fn set_listener(&self, callback: Py<PyAny>) {
        self.inner.set_listener(Arc::new(PyListener(callback)));
    }

    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let site = python_callsite(py);
        let engine = &self.inner;
        run_detached(py, || engine.start(&site))
    }

    fn stop(&self, py: Python<'_>, graceful: bool) -> PyResult<()> {
        let engine = &self.inner;
        run_detached(py, || {
            engine.stop(graceful);
            Ok(())
        })
    }

    fn state(&self) -> &'static str {
        self.inner.state().name()
    }

    #[pyo3(signature = (timeout_ms=None))]
    fn await_termination(&self, py: Python<'_>, timeout_ms: Option<i64>) -> PyResult<bool> {
        let deadline =
            timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms.max(0) as u64));
        let engine = &self.inner;
        wait_detached(py, || {
            let slice = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        // One last look for an error or a stop before giving up.
                        return Ok(Some(engine.await_slice(Duration::ZERO)?.unwrap_or(false)));
                    }
                    (d - now).min(SIGNAL_POLL)
                }
                None => SIGNAL_POLL,
            };
            engine.await_slice(slice)
        })
    }

    fn clock_ms(&self) -> i64 {
        self.inner.clock_ms()
    }

    fn start_time_ms(&self) -> i64 {
        self.inner.zero_time()
    }

    fn advance_clock(&self, py: Python<'_>, ms: i64) -> PyResult<()> {
        let now = self.inner.advance_clock(ms).py_err(py)?;
        let engine = &self.inner;
        wait_detached(py, || {
            Ok(engine.batches_done(now, SIGNAL_POLL).then_some(()))
        })
    }
}
