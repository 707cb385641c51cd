//! Interrupting user functions that run in this interpreter (in-process Python workers):
//! Ctrl+C during an action raises `KeyboardInterrupt` inside the functions running for that
//! action, as the main thread's own code gets it, so that an endless loop in a `map` stops.
//!
//! Every call into a user function registers its thread ([`UserCall`]) with the job scope it
//! serves (see [`crate::engine::exec::scope`]); [`interrupt_scope`] cancels a scope and sets an
//! asynchronous `KeyboardInterrupt` on the threads running its functions now
//! (`ferrostream._interrupt`: CPython's `PyThreadState_SetAsyncExc`, through ctypes so that
//! this crate keeps no unsafe code). A function started later in a cancelled scope fails at
//! once.

use std::cell::OnceCell;

use parking_lot::{Mutex, MutexGuard};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::engine::error::EngineError;
use crate::engine::exec::scope;
use crate::python::errors::user;

/// A call into a user function running now.
struct Running {
    scope: u64,
    thread: u64,
    /// An interrupt was sent to its thread (to be cleared if the call returns first).
    interrupted: bool,
}

/// Every user-function call running now.
static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());

/// `ferrostream._interrupt`'s ctypes functions raising and clearing an asynchronous
/// exception; called from here they run no Python code, so the GIL is not given up while
/// [`RUNNING`] is held.
static RAISE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static CLEAR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// [`RUNNING`], locked without blocking while attached: the holder may need the GIL (an
/// interrupt being sent), so a waiting thread lets it go between tries.
fn lock_running(py: Python<'_>) -> MutexGuard<'static, Vec<Running>> {
    loop {
        if let Some(guard) = RUNNING.try_lock() {
            return guard;
        }
        py.detach(std::thread::yield_now);
    }
}

thread_local! {
    /// This thread's Python thread id (`threading.get_ident()`).
    static THREAD_ID: OnceCell<u64> = const { OnceCell::new() };
}

fn thread_id(py: Python<'_>) -> PyResult<u64> {
    if let Some(id) = THREAD_ID.with(|c| c.get().copied()) {
        return Ok(id);
    }
    let id = py
        .import("threading")?
        .getattr("get_ident")?
        .call0()?
        .extract::<u64>()?;
    THREAD_ID.with(|c| {
        let _ = c.set(id);
    });
    Ok(id)
}

/// One call into a user function on this thread, registered until dropped. Created and
/// dropped while attached to the interpreter (the `'py` token).
pub struct UserCall<'py> {
    py: Python<'py>,
    scope: u64,
    thread: u64,
}

impl<'py> UserCall<'py> {
    /// Register a call about to start, or `KeyboardInterrupt` when its job was cancelled.
    pub fn start(py: Python<'py>) -> Result<UserCall<'py>, EngineError> {
        let scope = scope::current();
        if scope::is_cancelled(scope) {
            return Err(user(PyKeyboardInterrupt::new_err(())));
        }
        let thread = thread_id(py).map_err(user)?;
        lock_running(py).push(Running {
            scope,
            thread,
            interrupted: false,
        });
        Ok(UserCall { py, scope, thread })
    }
}

impl Drop for UserCall<'_> {
    fn drop(&mut self) {
        let mut running = lock_running(self.py);
        let Some(at) = running
            .iter()
            .rposition(|r| r.scope == self.scope && r.thread == self.thread)
        else {
            return;
        };
        let call = running.remove(at);
        if call.interrupted && !running.iter().any(|r| r.thread == self.thread) {
            // The interrupt may have arrived after the function had returned: it must not
            // fire later in unrelated code of this thread (a later job's function). Sent
            // under the same lock, it is pending by now.
            if let Some(clear) = CLEAR.get(self.py) {
                if let Err(e) = clear.call1(self.py, (self.thread, self.py.None())) {
                    log::warn!("cannot clear a pending interrupt: {e}");
                }
            }
        }
    }
}

/// Cancel `scope` and raise `KeyboardInterrupt` in its user functions running now; how many
/// were interrupted. Scope 0 (work of no caller) is never interrupted.
pub fn interrupt_scope(py: Python<'_>, scope_id: u64) -> PyResult<usize> {
    if scope_id == 0 {
        return Ok(0);
    }
    scope::cancel(scope_id);
    raise_where(py, |r| r.scope == scope_id)
}

/// Raise `KeyboardInterrupt` in the thread of every running call `which` selects; how many.
fn raise_where(py: Python<'_>, which: impl Fn(&Running) -> bool) -> PyResult<usize> {
    let raise = RAISE.import(py, "ferrostream._interrupt", "raise_in")?;
    CLEAR.import(py, "ferrostream._interrupt", "clear_in")?;
    let keyboard_interrupt = py.get_type::<PyKeyboardInterrupt>();
    let mut running = lock_running(py);
    let mut interrupted = 0;
    for r in running.iter_mut().filter(|r| which(r)) {
        r.interrupted = true;
        interrupted += raise
            .call1((r.thread, &keyboard_interrupt))?
            .extract::<usize>()?;
    }
    Ok(interrupted)
}

/// Raise `KeyboardInterrupt` in every user function running now on another thread, whatever
/// job it serves (cancelling those jobs): Ctrl+C while a stream runs stops the batch busy in a
/// Python function (its output function included). How many were interrupted.
pub fn interrupt_all(py: Python<'_>) -> PyResult<usize> {
    let me = thread_id(py)?;
    let scopes: Vec<u64> = {
        let running = lock_running(py);
        let mut scopes: Vec<u64> = running.iter().map(|r| r.scope).collect();
        scopes.sort_unstable();
        scopes.dedup();
        scopes
    };
    for scope_id in scopes.iter().filter(|s| **s != 0) {
        scope::cancel(*scope_id);
    }
    raise_where(py, |r| r.thread != me && !r.interrupted)
}
