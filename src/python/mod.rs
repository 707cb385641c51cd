//! PyO3 bindings: the `ferrostream._native` module. Only conversions, the GIL choke point and
//! error mapping live here; all behaviour is in `crate::engine`.

mod args;
mod conv;
mod detach;
mod errors;
mod interrupt;
mod kafka;
mod kinesis;
mod rdd;
mod state;
mod streaming;
mod udf;
mod workers;

use std::sync::OnceLock;

use pyo3::prelude::*;

/// Clears pyo3-log's cache of Python logger levels (after `sc.setLogLevel`).
static LOG_RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

/// Send the engine's `log` records to Python's `logging`: the target
/// `ferrostream::engine::source::socket` becomes the logger `ferrostream.engine.source.socket`,
/// a child of `ferrostream`, whose level `sc.setLogLevel` sets. Levels are cached per target
/// (so a filtered-out record costs no GIL); `reset_log_cache` drops the cache.
fn install_log_bridge(py: Python<'_>) -> PyResult<()> {
    let logger = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels)?
        .filter(log::LevelFilter::Trace);
    // A logger is already installed when the module is initialised twice in one process.
    if let Ok(handle) = logger.install() {
        let _ = LOG_RESET.set(handle);
    }
    Ok(())
}

/// Forget the cached Python logger levels: the next engine record reads them again.
#[pyfunction]
fn reset_log_cache() {
    if let Some(handle) = LOG_RESET.get() {
        handle.reset();
    }
}

/// The interpreter is exiting (an `atexit` hook, before finalization): engine threads that are
/// still alive must not call into Python any more, so their log records are dropped from now
/// on (a thread attaching to a finalizing interpreter is ended by it mid-call).
#[pyfunction]
fn host_exiting() {
    log::set_max_level(log::LevelFilter::Off);
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_log_bridge(m.py())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<rdd::PyEngineContext>()?;
    m.add_class::<rdd::PyRdd>()?;
    m.add_class::<streaming::PyStreamingEngine>()?;
    m.add_function(wrap_pyfunction!(streaming::read_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(kafka::kafka_rdd, m)?)?;
    m.add_function(wrap_pyfunction!(kafka::kafka_secret_keys, m)?)?;
    m.add_function(wrap_pyfunction!(rdd::portable_hash, m)?)?;
    m.add_function(wrap_pyfunction!(rdd::python_partition_calls, m)?)?;
    m.add_function(wrap_pyfunction!(args::duration_ms, m)?)?;
    m.add_function(wrap_pyfunction!(args::num_partitions, m)?)?;
    m.add_function(wrap_pyfunction!(args::local_path, m)?)?;
    m.add_function(wrap_pyfunction!(args::native_stats, m)?)?;
    m.add_function(wrap_pyfunction!(args::reset_native_stats, m)?)?;
    m.add_function(wrap_pyfunction!(reset_log_cache, m)?)?;
    m.add_function(wrap_pyfunction!(host_exiting, m)?)?;
    m.add_function(wrap_pyfunction!(workers::encode_partition, m)?)?;
    m.add_function(wrap_pyfunction!(workers::decode_partition, m)?)?;
    Ok(())
}
