//! `ferrostream._native.StreamingEngine`: the DStream graph and batch scheduler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::engine::source::files::{FileFormat, FileInput};
use crate::engine::source::socket::SocketReceiver;
use crate::engine::stream::state::{StateStream, WindowStream};
use crate::engine::stream::StreamingEngine;
use crate::python::detach::{run_detached, wait_detached, SIGNAL_POLL};
use crate::python::errors::IntoPyResult;
use crate::python::kafka;
use crate::python::kinesis;
use crate::python::rdd::{PyEngineContext, PyRdd};
use crate::python::state::{pair_fn, predicate, update_fn, PyHostCodec};
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

impl PyStreamingEngine {
    fn file_stream(&self, py: Python<'_>, directory: &str, format: FileFormat) -> PyResult<usize> {
        let engine = Arc::downgrade(&self.inner);
        let clock = Arc::new(move || engine.upgrade().map_or(0, |e| e.clock_ms()));
        let input = FileInput::new(directory, format, self.inner.batch_ms(), clock).py_err(py)?;
        self.inner.input_stream(Arc::new(input)).py_err(py)
    }
}

fn checkpoint_path(py: Python<'_>, dir: &str) -> PyResult<std::path::PathBuf> {
    crate::engine::paths::local_path(dir).py_err(py)
}

/// A checkpoint read back: `(time_ms, batch_ms, zero_ms, graph_payload, path, skipped)`.
type LoadedCheckpoint<'py> = (
    i64,
    i64,
    i64,
    Bound<'py, pyo3::types::PyBytes>,
    String,
    Vec<String>,
);

/// The newest intact checkpoint in `directory`, or None. `skipped` lists damaged newer files
/// that were passed over; `graph_payload` is what the program gave `set_checkpoint_graph`.
#[pyfunction]
pub fn read_checkpoint<'py>(
    py: Python<'py>,
    directory: &str,
) -> PyResult<Option<LoadedCheckpoint<'py>>> {
    let dir = checkpoint_path(py, directory)?;
    let found = run_detached(py, move || crate::engine::stream::read_latest(&dir))?;
    Ok(found.map(|f| {
        (
            f.metadata.time_ms,
            f.metadata.batch_ms,
            f.metadata.zero_ms,
            pyo3::types::PyBytes::new(py, &f.graph),
            f.path.to_string_lossy().into_owned(),
            f.skipped,
        )
    }))
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
        ctx.inner.check_alive().py_err(py)?;
        let inner = StreamingEngine::new(ctx.inner.clone(), batch_ms, manual_clock).py_err(py)?;
        inner.set_host_codec(Arc::new(PyHostCodec));
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

    /// A transform planned once: `plan` (built over `Rdd.slot(ctx, i)` for parent `i`) is
    /// instantiated by the engine for every batch; `func` is the same transform, run only
    /// when a parent has no RDD at that time.
    fn template(
        &self,
        py: Python<'_>,
        parents: Vec<usize>,
        plan: Py<PyRdd>,
        func: Py<PyAny>,
    ) -> PyResult<usize> {
        let plan = plan.get().inner.clone();
        self.inner
            .template(parents, plan, Arc::new(PyTransformFn(func)))
            .py_err(py)
    }

    /// `DStream.persist`: keep every RDD of `stream` once computed.
    fn persist_stream(&self, py: Python<'_>, stream: usize) -> PyResult<()> {
        self.inner.persist_stream(stream).py_err(py)
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

    fn window(
        &self,
        py: Python<'_>,
        parent: usize,
        window_ms: i64,
        slide_ms: i64,
    ) -> PyResult<usize> {
        self.inner.window(parent, window_ms, slide_ms).py_err(py)
    }

    /// `updateStateByKey`: `update_expr` is the proven native form of `update` (or None).
    #[pyo3(signature = (parent, update, update_expr, num_partitions, initial, description))]
    #[allow(clippy::too_many_arguments)]
    fn state_stream(
        &self,
        py: Python<'_>,
        parent: usize,
        update: Py<PyAny>,
        update_expr: Option<&Bound<'_, PyAny>>,
        num_partitions: usize,
        initial: Option<Py<PyRdd>>,
        description: String,
    ) -> PyResult<usize> {
        let ctx = self.inner.context();
        let update = update_fn(ctx, update, update_expr).py_err(py)?;
        let initial = initial.map(|r| r.get().inner.clone());
        let state = StateStream::new(update, num_partitions, initial, description).py_err(py)?;
        self.inner.state_stream(parent, state).py_err(py)
    }

    /// Incremental `reduceByKeyAndWindow` over `parent` (a stream of `(key, value)` pairs).
    #[pyo3(signature = (parent, func, func_expr, inv, inv_expr, filter, filter_expr, window_ms, slide_ms, num_partitions, description))]
    #[allow(clippy::too_many_arguments)]
    fn reduced_window_stream(
        &self,
        py: Python<'_>,
        parent: usize,
        func: Py<PyAny>,
        func_expr: Option<&Bound<'_, PyAny>>,
        inv: Py<PyAny>,
        inv_expr: Option<&Bound<'_, PyAny>>,
        filter: Option<Py<PyAny>>,
        filter_expr: Option<&Bound<'_, PyAny>>,
        window_ms: i64,
        slide_ms: i64,
        num_partitions: usize,
        description: String,
    ) -> PyResult<usize> {
        let ctx = self.inner.context();
        let func = pair_fn(ctx, func, func_expr).py_err(py)?;
        let inv = pair_fn(ctx, inv, inv_expr).py_err(py)?;
        let filter = match filter {
            Some(f) => Some(predicate(ctx, f, filter_expr).py_err(py)?),
            None => None,
        };
        let window = WindowStream::new(func, inv, filter, num_partitions, window_ms, description)
            .py_err(py)?;
        self.inner
            .reduced_window_stream(parent, window, slide_ms)
            .py_err(py)
    }

    fn text_file_stream(&self, py: Python<'_>, directory: &str) -> PyResult<usize> {
        self.file_stream(py, directory, FileFormat::Text)
    }

    fn binary_records_stream(
        &self,
        py: Python<'_>,
        directory: &str,
        record_length: i64,
    ) -> PyResult<usize> {
        let format = FileFormat::records(record_length).py_err(py)?;
        self.file_stream(py, directory, format)
    }

    #[pyo3(signature = (host, port, max_line_bytes=crate::engine::source::socket::DEFAULT_MAX_LINE, restart_delay_ms=2000, max_rate=None))]
    fn socket_text_stream(
        &self,
        py: Python<'_>,
        host: &str,
        port: i64,
        max_line_bytes: usize,
        restart_delay_ms: u64,
        max_rate: Option<u64>,
    ) -> PyResult<usize> {
        let input = SocketReceiver::input(
            host,
            port,
            max_line_bytes,
            Duration::from_millis(restart_delay_ms),
            max_rate,
        )
        .py_err(py)?;
        self.inner.input_stream(Arc::new(input)).py_err(py)
    }

    /// `KafkaUtils.createDirectStream`.
    #[allow(clippy::too_many_arguments)]
    fn kafka_direct_stream(
        &self,
        py: Python<'_>,
        params: Vec<(String, String)>,
        topics: Vec<String>,
        from_offsets: Vec<(String, i32, i64)>,
        format: &str,
        max_rate_per_partition: Option<u64>,
        poll_timeout_ms: u64,
    ) -> PyResult<usize> {
        let input = kafka::direct_input(
            py,
            &params,
            topics,
            from_offsets,
            format,
            max_rate_per_partition,
            poll_timeout_ms,
        )?;
        self.inner.input_stream(input).py_err(py)
    }

    /// `KafkaUtils.createStream`.
    #[pyo3(signature = (params, group, topics, format, restart_delay_ms=2000, max_rate=None))]
    #[allow(clippy::too_many_arguments)]
    fn kafka_receiver_stream(
        &self,
        py: Python<'_>,
        params: Vec<(String, String)>,
        group: &str,
        topics: Vec<String>,
        format: &str,
        restart_delay_ms: u64,
        max_rate: Option<u64>,
    ) -> PyResult<usize> {
        let input = kafka::receiver_input(
            py,
            &params,
            group,
            topics,
            format,
            restart_delay_ms,
            max_rate,
        )?;
        self.inner.input_stream(input).py_err(py)
    }

    /// `KinesisUtils.createStream`.
    #[pyo3(signature = (settings, format, restart_delay_ms=2000, max_rate=None))]
    fn kinesis_stream(
        &self,
        py: Python<'_>,
        settings: Vec<(String, String)>,
        format: &str,
        restart_delay_ms: u64,
        max_rate: Option<u64>,
    ) -> PyResult<usize> {
        let input = kinesis::receiver_input(py, &settings, format, restart_delay_ms, max_rate)?;
        self.inner.input_stream(input).py_err(py)
    }

    /// The Kafka offset ranges input stream `stream` read for its batch at `time_ms`, while
    /// that batch is remembered; None for other inputs or forgotten batches.
    fn kafka_offset_ranges(&self, stream: usize, time_ms: i64) -> Option<Vec<kafka::RangeTuple>> {
        self.inner
            .input_position(stream, time_ms)
            .and_then(|p| kafka::position_ranges(&p))
    }

    /// `spark.streaming.backpressure.enabled` (with `initialRate`, records per second).
    #[pyo3(signature = (initial_rate=None))]
    fn enable_backpressure(&self, initial_rate: Option<f64>) {
        self.inner.enable_backpressure(initial_rate);
    }

    fn set_checkpoint_dir(&self, py: Python<'_>, directory: Option<String>) -> PyResult<()> {
        let dir = directory.map(|d| checkpoint_path(py, &d)).transpose()?;
        self.inner.set_checkpoint_dir(dir);
        Ok(())
    }

    /// Enable checkpoints: `payload` (the pickled graph) is written once at start.
    fn set_checkpoint_graph(&self, payload: Vec<u8>) {
        self.inner.set_checkpoint_graph(payload);
    }

    /// `DStream.checkpoint(interval)` of a keyed stream.
    fn set_checkpoint_interval(
        &self,
        py: Python<'_>,
        stream: usize,
        interval_ms: i64,
    ) -> PyResult<()> {
        self.inner
            .set_checkpoint_interval(stream, interval_ms)
            .py_err(py)
    }

    /// Recovery (after the graph was rebuilt): put back the latest checkpoint of `directory`;
    /// returns its batch time.
    fn recover(&self, py: Python<'_>, directory: &str) -> PyResult<i64> {
        let dir = checkpoint_path(py, directory)?;
        let engine = self.inner.clone();
        run_detached(py, move || engine.recover(&dir))
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

    fn set_listener(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        self.inner
            .set_listener(Arc::new(PyListener(callback)))
            .py_err(py)
    }

    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let site = python_callsite(py);
        let engine = self.inner.clone();
        run_detached(py, move || engine.start(&site))
    }

    fn stop(&self, py: Python<'_>, graceful: bool) -> PyResult<()> {
        // On the calling thread, not through `run_detached`: a stop from inside a batch
        // (on the scheduler thread) must see that and not wait for the scheduler to finish.
        // The wait is polled so that Ctrl+C ends it even when a batch is blocked.
        let engine = &self.inner;
        if !py.detach(|| engine.begin_stop(graceful)) {
            return Ok(());
        }
        wait_detached(py, || Ok(engine.finish_stop(SIGNAL_POLL).then_some(())))
    }

    /// `(window_ms, slide_ms)` after checking that both are multiples of the parent's slide
    /// (PySpark's messages); no slide means the parent's.
    #[pyo3(signature = (parent, window_ms, slide_ms=None))]
    fn check_window(
        &self,
        py: Python<'_>,
        parent: usize,
        window_ms: i64,
        slide_ms: Option<i64>,
    ) -> PyResult<(i64, i64)> {
        let slide_ms = match slide_ms {
            Some(s) => s,
            None => self.inner.slide_ms(parent).py_err(py)?,
        };
        self.inner
            .check_window(parent, window_ms, slide_ms)
            .py_err(py)?;
        Ok((window_ms, slide_ms))
    }

    /// Spark's IllegalStateException once the context has started or stopped.
    fn check_can_add(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.check_can_add().py_err(py)
    }

    fn state(&self) -> &'static str {
        self.inner.state().name()
    }

    #[pyo3(signature = (timeout_ms=None))]
    fn await_termination(&self, py: Python<'_>, timeout_ms: Option<i64>) -> PyResult<bool> {
        let deadline =
            timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms.max(0) as u64));
        let engine = &self.inner;
        let waited = wait_detached(py, || {
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
        });
        if let Err(e) = &waited {
            if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                // Ctrl+C while the stream runs: a batch busy in a Python function stops too
                // (the function gets KeyboardInterrupt, workers running it are replaced).
                if let Err(e) = crate::python::interrupt::interrupt_all(py) {
                    log::warn!("cannot interrupt the running batch's Python functions: {e}");
                }
                crate::engine::exec::cancel_running_tasks();
            }
        }
        waited
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
