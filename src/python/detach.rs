//! The GIL choke point: the one place where bindings release the GIL ([`wait_detached`]).
//! Engine work runs with the GIL released; long waits poll for signals so Ctrl+C (and
//! Jupyter's interrupt) reach the user as `KeyboardInterrupt`.
//!
//! [`run_detached`] is not a second way of releasing the GIL: it starts the work on a thread
//! and waits for its result with [`wait_detached`].

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::engine::error::EngineError;
use crate::engine::exec::scope;
use crate::python::errors::to_pyerr;
use crate::python::interrupt;

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

/// How long an interrupted action is given to stop before the caller gets its
/// `KeyboardInterrupt` anyway (a function blocked outside Python sees the interrupt only when
/// it returns to Python).
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);

/// Run engine work with the GIL released. Worker threads attach on their own when they run
/// user code, so this must wrap every call that may compute partitions.
///
/// The work runs on a thread of its own, in a job scope of its own, while this thread waits
/// for it with [`wait_detached`]. Ctrl+C (or Jupyter's interrupt) cancels the work: its
/// Python functions get `KeyboardInterrupt` (in-process ones through an asynchronous
/// exception, see [`interrupt`](crate::python::interrupt); worker processes are killed and
/// replaced), and the caller gets `KeyboardInterrupt` once the work stopped, or after
/// [`INTERRUPT_GRACE`], or at a second interrupt, whichever comes first (the work then ends in
/// the background with its result dropped). A panic in the work becomes an error, never a
/// crash.
pub fn run_detached<T: Send + 'static>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> PyResult<T> {
    let (tx, rx) = mpsc::channel();
    let job = scope::allocate();
    thread::Builder::new()
        .name("ferrostream-action".into())
        .spawn(move || {
            let outcome = scope::run_in(job, || panic::catch_unwind(AssertUnwindSafe(f)))
                .unwrap_or_else(|payload| {
                    Err(EngineError::Internal(format!(
                        "engine panicked: {}",
                        panic_message(payload.as_ref())
                    )))
                });
            let _ = tx.send(outcome);
        })
        .map_err(|e| to_pyerr(py, EngineError::io("cannot start a worker thread", e)))?;
    // Each wait owns a `&mut` of the receiver (Send), not a `&` (the receiver is not Sync).
    let mut rx = rx;
    let waiting = &mut rx;
    let mut ended = false;
    let ended_flag = &mut ended;
    let result = wait_detached(py, move || match waiting.recv_timeout(SIGNAL_POLL) {
        Ok(outcome) => {
            *ended_flag = true;
            outcome.map(Some)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            *ended_flag = true;
            Err(EngineError::Internal(
                "engine work ended without a result".into(),
            ))
        }
    });
    if let Err(e) = &result {
        // Interrupted while the work ran (not a KeyboardInterrupt the work itself ended with).
        if !ended && e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
            // The abandoned action's Python functions stop too: those running here get
            // KeyboardInterrupt, workers running them are killed and replaced, so a function
            // that never returns does not hold a thread or a worker.
            if let Err(e) = interrupt::interrupt_scope(py, job) {
                log::warn!("cannot interrupt the action's Python functions: {e}");
            }
            crate::engine::exec::cancel_running_tasks();
            let deadline = Instant::now() + INTERRUPT_GRACE;
            // A second interrupt ends this wait at once (its KeyboardInterrupt is the one
            // raised already).
            let waiting = &mut rx;
            let stopped = wait_detached(py, move || match waiting.recv_timeout(SIGNAL_POLL) {
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => Ok(None),
                Err(mpsc::RecvTimeoutError::Timeout) => Ok(Some(false)),
                _ => Ok(Some(true)),
            });
            if let Ok(true) = stopped {
                // The work ended (maybe just before the cancel): its scope is forgotten.
                scope::forget(job);
            }
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
