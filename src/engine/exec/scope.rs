//! Job scopes: the tasks started on behalf of one caller (an RDD action run by the bindings),
//! so that the caller can cancel exactly its own work.
//!
//! A scope is a number carried by a thread-local. The caller enters a new scope before it runs
//! a job; [`LocalExecutor`](super::LocalExecutor) runs every task in the scope of the thread
//! that started it (nested jobs inherit it), so code running inside a task (a host function)
//! can ask [`current`] which job it serves and whether that job was [`cancel`]led. Scope 0 is
//! the unscoped work of the engine's own threads (streaming batches).

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

thread_local! {
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Scopes cancelled and not yet finished.
static CANCELLED: Mutex<Option<HashSet<u64>>> = Mutex::new(None);

/// The scope of the work running on this thread (0: none).
pub fn current() -> u64 {
    CURRENT.with(Cell::get)
}

/// Run this thread in `scope` until the guard drops (the previous scope is restored).
pub fn enter(scope: u64) -> Entered {
    let previous = CURRENT.with(|c| c.replace(scope));
    Entered { previous }
}

/// Restores the thread's previous scope when dropped.
pub struct Entered {
    previous: u64,
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// A new scope for one caller's jobs (see [`run_in`]).
pub fn allocate() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Run `f` on this thread in `scope`; the scope's cancellation is forgotten when it returns
/// (its tasks have all returned by then).
pub fn run_in<T>(scope: u64, f: impl FnOnce() -> T) -> T {
    struct Finish(u64);
    impl Drop for Finish {
        fn drop(&mut self) {
            forget(self.0);
        }
    }
    let _finish = Finish(scope);
    let _entered = enter(scope);
    f()
}

/// Forget that `scope` was cancelled (its work has ended; [`run_in`] does this itself, a
/// caller that cancels after that does it again).
pub fn forget(scope: u64) {
    if let Some(set) = CANCELLED.lock().as_mut() {
        set.remove(&scope);
    }
}

/// Mark `scope` cancelled: its tasks that check ([`is_cancelled`]) stop early. Scope 0 is
/// never cancelled.
pub fn cancel(scope: u64) {
    if scope != 0 {
        CANCELLED
            .lock()
            .get_or_insert_with(HashSet::new)
            .insert(scope);
    }
}

/// Whether `scope` was cancelled (and its caller has not finished yet).
pub fn is_cancelled(scope: u64) -> bool {
    scope != 0
        && CANCELLED
            .lock()
            .as_ref()
            .is_some_and(|s| s.contains(&scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_cancel_and_are_forgotten_when_finished() {
        assert_eq!(current(), 0);
        let id = allocate();
        run_in(id, || {
            assert_eq!(current(), id);
            {
                let _inner = enter(7);
                assert_eq!(current(), 7);
            }
            assert_eq!(current(), id);
            assert!(!is_cancelled(id));
            cancel(id);
            assert!(is_cancelled(id));
            cancel(0);
            assert!(!is_cancelled(0));
        });
        assert!(!is_cancelled(id));
        assert_eq!(current(), 0);
    }
}
