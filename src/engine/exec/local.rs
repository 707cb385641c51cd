//! The in-process executor: `local[N]` threads of a rayon pool.

use rayon::prelude::*;

use super::Executor;
use crate::engine::error::{EngineError, Result};

/// Runs tasks on a pool of `N` threads named `ferrostream-worker-<i>`. A task that runs
/// nested tasks joins the same pool (work stealing), so nesting never deadlocks.
pub struct LocalExecutor {
    threads: usize,
    pool: rayon::ThreadPool,
}

impl LocalExecutor {
    pub fn new(threads: usize) -> Result<LocalExecutor> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("ferrostream-worker-{i}"))
            .build()
            .map_err(|e| EngineError::Internal(format!("cannot start worker threads: {e}")))?;
        Ok(LocalExecutor { threads, pool })
    }
}

impl Executor for LocalExecutor {
    fn parallelism(&self) -> usize {
        self.threads
    }

    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) {
        // Each task runs in its caller's job scope, on whichever thread takes it.
        let scope = super::scope::current();
        self.pool.install(|| {
            (0..n).into_par_iter().for_each(|i| {
                let _scope = super::scope::enter(scope);
                task(i)
            })
        });
    }
}
