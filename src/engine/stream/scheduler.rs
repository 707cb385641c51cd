//! The batch loop: wait for each batch time, run its output operations in order, report.

use std::sync::Arc;
use std::time::Duration;

use super::listener::{BatchInfo, OutputOpInfo};
use super::{RunState, StreamingEngine};
use crate::engine::error::EngineError;

impl StreamingEngine {
    pub(super) fn run_scheduler(self: Arc<Self>, first: i64) {
        let mut next = first;
        loop {
            {
                let mut shared = self.shared.lock();
                loop {
                    if shared.stop_requested {
                        drop(shared);
                        self.finish();
                        return;
                    }
                    if self.clock.now_ms() >= next {
                        break;
                    }
                    let wait = if self.clock.is_manual() {
                        Duration::from_millis(200)
                    } else {
                        let left = (next - self.clock.now_ms()).max(1) as u64;
                        Duration::from_millis(left.min(200))
                    };
                    self.wake.wait_for(&mut shared, wait);
                }
            }
            // A bug must not kill the scheduler: a panic fails the batch like any error.
            if let Err(payload) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_batch(next)))
            {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                self.report(
                    EngineError::Internal(format!("engine panicked: {what}")),
                    next,
                );
            }
            {
                let mut shared = self.shared.lock();
                shared.last_completed = next;
            }
            self.wake.notify_all();
            next += self.batch_ms;
        }
    }

    pub(super) fn finish(&self) {
        self.stop_inputs();
        let mut shared = self.shared.lock();
        shared.state = RunState::Stopped;
        drop(shared);
        self.wake.notify_all();
    }

    pub(super) fn run_batch(&self, time: i64) {
        let submitted = time.max(self.clock.now_ms().min(time));
        let mut info = BatchInfo {
            batch_time: time,
            submission_time: submitted,
            processing_start: -1,
            processing_end: -1,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        let graph = self.frozen_graph();
        let zero = self.zero_time();
        // Inputs are read when the batch is generated, as Spark's direct streams do, so
        // listeners see their record counts from submission on.
        for node in graph.streams.iter().filter(|n| n.input().is_some()) {
            if let Err(e) = graph.get_or_compute(&self.ctx, node.id, time, zero) {
                log::error!("Error generating input for batch {time} ms: {e}");
                self.report(e, time);
            }
            if let Some(n) = node.records.lock().get(&time) {
                info.inputs.push((node.id, *n));
            }
        }
        self.write_pending(&graph, time);
        self.emit("onBatchSubmitted", info.to_info());
        info.processing_start = self.clock.now_ms();
        self.emit("onBatchStarted", info.to_info());
        for (id, output) in graph.outputs.iter().enumerate() {
            let mut op = OutputOpInfo {
                id,
                name: output.description.clone(),
                description: output.description.clone(),
                start: self.clock.now_ms(),
                end: -1,
                failure: None,
            };
            self.emit("onOutputOperationStarted", op.to_info(time));
            let result = graph
                .get_or_compute(&self.ctx, output.stream, time, zero)
                .and_then(|rdd| match rdd {
                    Some(rdd) => output.func.call(time, rdd),
                    None => Ok(()),
                });
            op.end = self.clock.now_ms();
            if let Err(e) = result {
                op.failure = Some(e.to_string());
                log::error!("Error running job for batch {time} ms: {}", log_line(&e));
                self.report(e, time);
            }
            self.emit("onOutputOperationCompleted", op.to_info(time));
            info.outputs.push(op);
        }
        info.processing_end = self.clock.now_ms();
        let completed = info.outputs.iter().all(|o| o.failure.is_none())
            && self.shared.lock().error_time != Some(time);
        if completed {
            for node in graph.streams.iter() {
                if let Some(input) = node.input() {
                    input.on_batch_completed(time);
                }
            }
        }
        self.update_rates(&graph, &info);
        graph.forget_old(time);
        self.write_checkpoint(time);
        self.emit("onBatchCompleted", info.to_info());
    }

    /// Backpressure: each input's rate after this batch.
    fn update_rates(&self, graph: &super::graph::Graph, info: &BatchInfo) {
        let mut estimators = self.rate_estimators.lock();
        let Some(estimators) = estimators.as_mut() else {
            return;
        };
        let processing = info.processing_end - info.processing_start;
        let scheduling = info.processing_start - info.submission_time;
        for (id, records) in &info.inputs {
            let Some(pid) = estimators.get_mut(id) else {
                continue;
            };
            if let Some(rate) = pid.compute(info.batch_time, *records, processing, scheduling) {
                let node = &graph.streams[*id];
                *node.rate.lock() = Some(rate);
                if let Some(input) = node.input() {
                    input.set_rate(Some(rate as u64));
                }
            }
        }
    }

    pub(super) fn report(&self, e: EngineError, time: i64) {
        self.shared.lock().error_time = Some(time);
        self.shared.lock().error = Some(Arc::new(EngineError::Job {
            message: format!("Job failed for batch time {time} ms: {e}"),
            source: Box::new(e),
        }));
        self.wake.notify_all();
    }
}

/// One line for the log: the error by its last line, which names it (a user's exception says
/// "An exception was raised by Python: <the exception>"; a multi-line error ends with the
/// line naming it); the whole error, with the user's frames, is raised by `awaitTermination`.
fn log_line(e: &EngineError) -> String {
    let text = e.to_string();
    match text
        .lines()
        .map(str::trim_end)
        .rfind(|l| !l.trim().is_empty())
    {
        Some(last) => format!("{last} (the full error is raised by awaitTermination)"),
        None => text,
    }
}
