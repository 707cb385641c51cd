//! The executor interface: the one way the engine runs partition tasks in parallel.
//!
//! Every parallel site of the engine (jobs over partitions, the map side of shuffles, keyed
//! state updates, checkpoint encoding, text output) hands its tasks to the context's
//! [`Executor`]. [`LocalExecutor`] runs them on `local[N]` threads (rayon) in this process;
//! an executor backed by worker processes or Ray implements the same trait, so the scheduler
//! and the operators do not change (see `docs/engine.md`).
//!
//! The trait is object safe and knows nothing of records: a task is an index. The typed
//! shapes the call sites need ([`map_tasks`](dyn Executor::map_tasks),
//! [`map_items`](dyn Executor::map_items)) are built on it without boxing per record; a task
//! stores its result in its own slot.

mod local;
pub mod process;
pub mod scope;
mod worker;

pub use local::LocalExecutor;
pub use process::{cancel_running_tasks, PoolConfig, ProcessExecutor, WorkerCommand, WorkerHost};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::engine::error::{EngineError, Result};
use crate::engine::host::PartitionFn;

/// Runs independent tasks, in parallel where it can.
pub trait Executor: Send + Sync {
    /// How many tasks run at once (`N` of `local[N]`).
    fn parallelism(&self) -> usize;

    /// Run `task(i)` for every `i` in `0..n`, each exactly once, and return when all have
    /// returned. Tasks may run on other threads and in any order; a task may itself run
    /// tasks (nested jobs, e.g. a shuffle materialised inside a task). A panic in a task is
    /// resumed on the caller once the others finished.
    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync));

    /// Where a host function runs when a task calls it: this executor's own version of `f`.
    /// In-process executors run it as it is; an executor with worker processes returns a
    /// function that ships the partition to a worker (see [`ProcessExecutor`]).
    fn place_host_fn(&self, f: Arc<dyn PartitionFn>) -> Arc<dyn PartitionFn> {
        f
    }

    /// Process ids of the executor's worker processes (none for in-process executors).
    fn worker_pids(&self) -> Vec<u32> {
        Vec::new()
    }

    /// Start the executor's workers in the background, before tasks need them (a stream is
    /// starting). In-process executors have nothing to start.
    fn warm_up(&self) {}

    /// Stop the executor's workers (the SparkContext stopped); tasks started later fail.
    fn shutdown(&self) {}
}

impl dyn Executor + '_ {
    /// `f(i)` for every `i` in `0..n`, in parallel; the results in index order, or the error
    /// of the lowest-numbered task that failed (tasks not yet started when one failed are
    /// skipped).
    pub fn map_tasks<R: Send>(
        &self,
        n: usize,
        f: impl Fn(usize) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        let slots: Vec<Mutex<Option<Result<R>>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let failed = AtomicBool::new(false);
        self.run(n, &|i| {
            if failed.load(Ordering::Relaxed) {
                return;
            }
            let r = f(i);
            if r.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            *slots[i].lock() = Some(r);
        });
        collect(slots, failed.into_inner())
    }

    /// `f(i, item)` for every item, in parallel, each task owning its item; results in order,
    /// errors as [`map_tasks`](Self::map_tasks).
    pub fn map_items<T: Send, R: Send>(
        &self,
        items: Vec<T>,
        f: impl Fn(usize, T) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        let inputs: Vec<Mutex<Option<T>>> =
            items.into_iter().map(|t| Mutex::new(Some(t))).collect();
        self.map_tasks(inputs.len(), |i| match inputs[i].lock().take() {
            Some(item) => f(i, item),
            None => Err(EngineError::Internal(format!("task {i} ran twice"))),
        })
    }
}

fn collect<R>(slots: Vec<Mutex<Option<Result<R>>>>, failed: bool) -> Result<Vec<R>> {
    if failed {
        for slot in slots {
            if let Some(Err(e)) = slot.into_inner() {
                return Err(e);
            }
        }
        return Err(EngineError::Internal(
            "a task failed without an error".into(),
        ));
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| {
            slot.into_inner()
                .unwrap_or_else(|| Err(EngineError::Internal(format!("task {i} did not run"))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn local(n: usize) -> LocalExecutor {
        LocalExecutor::new(n).unwrap()
    }

    #[test]
    fn results_come_back_in_task_order() {
        let exec = local(3);
        let exec: &dyn Executor = &exec;
        let out = exec.map_tasks(100, |i| Ok(i * 2)).unwrap();
        assert_eq!(out, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        let items: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
        let out = exec
            .map_items(items, |i, s| Ok(format!("{i}:{s}")))
            .unwrap();
        assert_eq!(out[7], "7:p7");
    }

    #[test]
    fn a_failing_task_is_the_error() {
        let exec = local(2);
        let exec: &dyn Executor = &exec;
        let ran = AtomicUsize::new(0);
        let err = exec
            .map_tasks(50, |i| {
                ran.fetch_add(1, Ordering::Relaxed);
                if i == 3 {
                    Err(EngineError::InvalidArgument(format!("task {i}")))
                } else {
                    Ok(i)
                }
            })
            .unwrap_err();
        assert!(err.to_string().contains("task 3"), "{err}");
        assert!(ran.load(Ordering::Relaxed) <= 50);
    }

    #[test]
    fn tasks_may_run_nested_jobs() {
        let exec = local(2);
        let exec: &dyn Executor = &exec;
        let out = exec
            .map_tasks(4, |i| {
                let inner = exec.map_tasks(3, |j| Ok(i * 10 + j))?;
                Ok(inner.into_iter().sum::<usize>())
            })
            .unwrap();
        assert_eq!(out, vec![3, 33, 63, 93]);
    }

    #[test]
    fn work_runs_on_n_threads() {
        let exec = local(2);
        let exec: &dyn Executor = &exec;
        assert_eq!(exec.parallelism(), 2);
        let names = exec
            .map_tasks(8, |_| {
                Ok(std::thread::current()
                    .name()
                    .unwrap_or_default()
                    .to_string())
            })
            .unwrap();
        assert!(names.iter().all(|n| n.starts_with("ferrostream-worker-")));
    }
}
