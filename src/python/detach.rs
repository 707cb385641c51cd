//! The GIL choke point: the one place where bindings release the GIL ([`wait_detached`]).
//! Engine work runs with the GIL released; long waits poll for signals so Ctrl+C (and
//! Jupyter's interrupt) reach the user as `KeyboardInterrupt`.
//!
//! [`run_detached`] is not a second way of releasing the GIL: it starts the work on a thread
//! and waits for its result with [`wait_detached`].

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use pyo3::prelude::*;

use crate::engine::error::EngineError;
use crate::python::errors::to_pyerr;

/// How long one detached wait lasts before signals are checked again.
pub const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Call `poll` with the GIL released until it returns `Some`, checking for signals between
/// calls. Each call should return within about [`SIGNAL_POLL`] so that Ctrl+C is prompt; `poll`
/// runs on the calling thread.
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

/// Run engine work with the GIL released. Worker threads attach on their own when they run
/// user code, so this must wrap every call that may compute partitions.
///
/// The work runs on a thread of its own while this thread waits for it with
/// [`wait_detached`]: Ctrl+C (or Jupyter's interrupt) raises `KeyboardInterrupt` at once, and
/// the abandoned work finishes in the background with its result dropped. A panic in the work
/// becomes an error, never a crash.
pub fn run_detached<T: Send + 'static>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> PyResult<T> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("ferrostream-action".into())
        .spawn(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
                Err(EngineError::Internal(format!(
                    "engine panicked: {}",
                    panic_message(payload.as_ref())
                )))
            });
            let _ = tx.send(outcome);
        })
        .map_err(|e| to_pyerr(py, EngineError::io("cannot start a worker thread", e)))?;
    let result = wait_detached(py, move || match rx.recv_timeout(SIGNAL_POLL) {
        Ok(outcome) => outcome.map(Some),
        Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(EngineError::Internal(
            "engine work ended without a result".into(),
        )),
    });
    if let Err(e) = &result {
        if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
            // The abandoned action's Python functions stop too (workers running them are
            // killed and replaced), so a function that never returns does not hold a worker.
            crate::engine::exec::cancel_running_tasks();
        }
    }
    result
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
