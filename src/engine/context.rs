//! The engine side of a SparkContext: the worker pool for `local[N]`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::engine::error::{EngineError, Result};

/// Shared by every RDD and stream of one SparkContext.
pub struct EngineContext {
    parallelism: usize,
    pool: rayon::ThreadPool,
    next_rdd_id: AtomicU64,
}

impl EngineContext {
    pub fn new(parallelism: usize) -> Result<Arc<EngineContext>> {
        if parallelism == 0 {
            return Err(EngineError::InvalidArgument(
                "parallelism must be at least 1".into(),
            ));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(parallelism)
            .thread_name(|i| format!("ferrostream-worker-{i}"))
            .build()
            .map_err(|e| EngineError::Internal(format!("cannot start worker threads: {e}")))?;
        Ok(Arc::new(EngineContext {
            parallelism,
            pool,
            next_rdd_id: AtomicU64::new(0),
        }))
    }

    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// Run `f` on the worker pool (parallel iterators inside use `parallelism` threads).
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    pub(crate) fn next_rdd_id(&self) -> u64 {
        self.next_rdd_id.fetch_add(1, Ordering::Relaxed)
    }
}
