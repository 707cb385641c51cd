//! The engine side of a SparkContext: its executor (the worker threads of `local[N]`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::engine::error::{EngineError, Result};
use crate::engine::exec::{Executor, LocalExecutor};
use crate::engine::host::HostRuntime;
use crate::engine::shuffle::{MemoryShuffle, Shuffle};
use crate::engine::ui::WebUi;

/// Counters of engine work, for tests and diagnostics.
#[derive(Default)]
pub struct Metrics {
    /// Calls into the [`HostRuntime`] (each one attach to the host for a whole batch of keys).
    pub host_key_calls: AtomicU64,
    /// Shuffles materialised (map side run).
    pub shuffles: AtomicU64,
}

/// Shared by every RDD and stream of one SparkContext.
pub struct EngineContext {
    executor: Arc<dyn Executor>,
    shuffle: Arc<dyn Shuffle>,
    next_rdd_id: AtomicU64,
    host: OnceLock<Arc<dyn HostRuntime>>,
    metrics: Metrics,
    stopped: AtomicBool,
    /// The live web UI, when started ([`EngineContext::start_ui`]).
    ui: OnceLock<Arc<WebUi>>,
}

impl EngineContext {
    pub fn new(parallelism: usize) -> Result<Arc<EngineContext>> {
        if parallelism == 0 {
            // Spark's message for `local[0]`.
            return Err(EngineError::InvalidArgument(
                "Asked to run locally with 0 threads".into(),
            ));
        }
        Ok(EngineContext::with_services(
            Arc::new(LocalExecutor::new(parallelism)?),
            Arc::new(MemoryShuffle),
        ))
    }

    /// A context whose tasks run on `executor` and whose shuffles go through `shuffle`
    /// (worker processes, Ray, ... instead of [`EngineContext::new`]'s in-process threads
    /// and memory).
    pub fn with_services(
        executor: Arc<dyn Executor>,
        shuffle: Arc<dyn Shuffle>,
    ) -> Arc<EngineContext> {
        Arc::new(EngineContext {
            executor,
            shuffle,
            next_rdd_id: AtomicU64::new(0),
            host: OnceLock::new(),
            metrics: Metrics::default(),
            stopped: AtomicBool::new(false),
            ui: OnceLock::new(),
        })
    }

    pub fn parallelism(&self) -> usize {
        self.executor.parallelism()
    }

    /// The executor every parallel task of this context runs on.
    pub fn executor(&self) -> &dyn Executor {
        self.executor.as_ref()
    }

    /// The shuffle every shuffle of this context goes through.
    pub fn shuffle(&self) -> &dyn Shuffle {
        self.shuffle.as_ref()
    }

    /// `f(i)` for `i` in `0..n` as parallel tasks: results in order, or the first error (see
    /// [`Executor::map_tasks`](crate::engine::exec::Executor)).
    pub fn map_tasks<R: Send>(
        &self,
        n: usize,
        f: impl Fn(usize) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        self.executor().map_tasks(n, f)
    }

    /// `f(i, item)` for every item as parallel tasks, each owning its item.
    pub fn map_items<T: Send, R: Send>(
        &self,
        items: Vec<T>,
        f: impl Fn(usize, T) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        self.executor().map_items(items, f)
    }

    /// Mark the context stopped (its SparkContext was stopped): nothing new may use it.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.executor.shutdown();
        if let Some(ui) = self.ui.get() {
            ui.stop();
        }
    }

    /// Start the web UI as the SparkConf `settings` say (`spark.ui.*`); its address, or None
    /// when it is disabled. No free port to bind is an error (see [`WebUi::start`]). Once
    /// per context.
    pub fn start_ui(&self, settings: &[(String, String)]) -> Result<Option<String>> {
        if let Some(ui) = self.ui.get() {
            return Ok(Some(ui.url().to_string()));
        }
        let Some(ui) = WebUi::start(settings)? else {
            return Ok(None);
        };
        let url = ui.url().to_string();
        let _ = self.ui.set(ui);
        Ok(Some(url))
    }

    /// The running web UI, if any.
    pub fn ui(&self) -> Option<&Arc<WebUi>> {
        self.ui.get()
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Spark's `assertNotStopped`: an IllegalStateException once the context is stopped.
    pub fn check_alive(&self) -> Result<()> {
        if self.is_stopped() {
            return Err(EngineError::IllegalState(
                "Cannot call methods on a stopped SparkContext.".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn next_rdd_id(&self) -> u64 {
        self.next_rdd_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Install the host's batch operations on keys (once; later calls are ignored).
    pub fn set_host_runtime(&self, runtime: Arc<dyn HostRuntime>) {
        let _ = self.host.set(runtime);
    }

    /// The host's batch operations, counted in [`Metrics::host_key_calls`] per use.
    pub fn host_runtime(&self) -> Option<&dyn HostRuntime> {
        let rt = self.host.get()?;
        self.metrics.host_key_calls.fetch_add(1, Ordering::Relaxed);
        Some(rt.as_ref())
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_context_refuses_new_work() {
        let ctx = EngineContext::new(1).unwrap();
        assert!(ctx.check_alive().is_ok());
        ctx.stop();
        let err = ctx.check_alive().unwrap_err();
        assert!(matches!(err, EngineError::IllegalState(_)));
        assert_eq!(
            err.to_string(),
            "Cannot call methods on a stopped SparkContext."
        );
    }
}
