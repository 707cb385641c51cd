//! The GIL choke point. Engine work runs with the GIL released; long waits poll for signals
//! so Ctrl+C (and Jupyter's interrupt) reach the user as `KeyboardInterrupt`.

use std::time::Duration;

use pyo3::prelude::*;

use crate::engine::error::EngineError;
use crate::python::errors::to_pyerr;

/// How long one detached wait lasts before signals are checked again.
pub const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Run engine work with the GIL released. Worker threads attach on their own when they run
/// user code, so this must wrap every call that may compute partitions.
pub fn run_detached<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, EngineError> + Send,
) -> PyResult<T> {
    py.detach(f).map_err(|e| to_pyerr(py, e))
}

/// Repeat `poll` (each call waits at most about [`SIGNAL_POLL`]) with the GIL released until it
/// returns `Some`, checking for signals in between.
pub fn wait_detached<T: Send>(
    py: Python<'_>,
    mut poll: impl FnMut() -> Result<Option<T>, EngineError> + Send,
) -> PyResult<T> {
    loop {
        if let Some(v) = py.detach(&mut poll).map_err(|e| to_pyerr(py, e))? {
            return Ok(v);
        }
        py.check_signals()?;
    }
}
