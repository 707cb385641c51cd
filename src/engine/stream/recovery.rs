//! What the streaming engine writes to checkpoints and how it is put back on recovery.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::graph::{Graph, StreamKind};
use super::StreamingEngine;
use crate::engine::checkpoint;
use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::Rdd;
use crate::engine::value::Value;

/// Builds the checkpoint payload after a batch (the facade pickles the graph and the data
/// it reads back through [`StreamingEngine::checkpoint_state`]).
pub trait CheckpointHook: Send + Sync {
    fn payload(&self, time: i64) -> Result<Vec<u8>>;
}

/// What a checkpoint must hold of one stream.
pub struct StreamState {
    pub stream: usize,
    /// Materialised RDDs of recurrent streams, by batch time.
    pub rdds: Vec<(i64, Arc<Rdd>)>,
    /// Replay positions of an input stream, by batch time.
    pub positions: Vec<(i64, Value)>,
    /// An input's own state (e.g. recently selected files).
    pub snapshot: Value,
}

impl StreamingEngine {
    /// `StreamingContext.checkpoint(dir)` (or `SparkContext.setCheckpointDir`).
    pub fn set_checkpoint_dir(&self, dir: Option<std::path::PathBuf>) {
        *self.checkpoint_dir.lock() = dir;
    }

    pub fn set_checkpoint_hook(&self, hook: Arc<dyn CheckpointHook>) {
        *self.checkpoint_hook.lock() = Some(hook);
    }

    /// What a checkpoint after batch `time` must hold, stream by stream.
    pub fn checkpoint_state(&self) -> Vec<StreamState> {
        self.with_graph(Self::state_of)
    }

    fn state_of(graph: &Graph) -> Vec<StreamState> {
        graph
            .streams
            .iter()
            .filter_map(|node| match &node.kind {
                StreamKind::State(_) | StreamKind::ReducedWindow(_) => Some(StreamState {
                    stream: node.id,
                    rdds: node
                        .generated
                        .lock()
                        .iter()
                        .filter_map(|(t, r)| r.clone().map(|r| (*t, r)))
                        .collect(),
                    positions: Vec::new(),
                    snapshot: Value::None,
                }),
                StreamKind::Input(input) => Some(StreamState {
                    stream: node.id,
                    rdds: Vec::new(),
                    positions: node
                        .positions
                        .lock()
                        .iter()
                        .map(|(t, p)| (*t, p.clone()))
                        .collect(),
                    snapshot: input.snapshot(),
                }),
                _ => None,
            })
            .collect()
    }

    /// Recovery: put back a recurrent stream's RDD for batch `time`.
    pub fn restore_rdd(&self, stream: usize, time: i64, rdd: Arc<Rdd>) -> Result<()> {
        let graph = self.graph.lock();
        let node = graph
            .streams
            .get(stream)
            .ok_or_else(|| EngineError::InvalidArgument(format!("no DStream with id {stream}")))?;
        match &node.kind {
            StreamKind::State(state) => state.restore(super::state::restore_snapshot(
                &self.ctx,
                time,
                &rdd,
                state.num_partitions,
            )?),
            StreamKind::ReducedWindow(w) => w.restore(super::state::restore_snapshot(
                &self.ctx,
                time,
                &rdd,
                w.num_partitions,
            )?),
            _ => {}
        }
        node.generated.lock().insert(time, Some(rdd));
        Ok(())
    }

    /// Recovery: rebuild an input stream's batch at `time` from its checkpointed position.
    pub fn restore_position(&self, stream: usize, time: i64, position: Value) -> Result<()> {
        let graph = self.graph.lock();
        let node = graph
            .streams
            .get(stream)
            .ok_or_else(|| EngineError::InvalidArgument(format!("no DStream with id {stream}")))?;
        let input = node.input().ok_or_else(|| {
            EngineError::InvalidArgument(format!("DStream {stream} is not an input stream"))
        })?;
        let rdd = input.replay(&self.ctx, time, &position)?;
        node.generated.lock().insert(time, Some(rdd));
        node.positions.lock().insert(time, position);
        node.last_input_time.fetch_max(time, Ordering::Relaxed);
        Ok(())
    }

    /// Recovery: an input stream's own state.
    pub fn restore_snapshot(&self, stream: usize, snapshot: Value) -> Result<()> {
        let graph = self.graph.lock();
        match graph.streams.get(stream).and_then(|n| n.input()) {
            Some(input) => input.restore(&snapshot),
            None => Err(EngineError::InvalidArgument(format!(
                "DStream {stream} is not an input stream"
            ))),
        }
    }

    /// Recovery: continue after the checkpointed batch `last_completed`; batches missed while
    /// the program was down run first, back to back.
    pub fn restore_times(&self, zero_time: i64, last_completed: i64) {
        *self.restored.lock() = Some((zero_time, last_completed));
    }

    /// After a batch: write what recovery needs. A failure is reported like a failed job.
    pub(super) fn write_checkpoint(&self, time: i64) {
        let dir = self.checkpoint_dir.lock().clone();
        let hook = self.checkpoint_hook.lock().clone();
        if let (Some(dir), Some(hook)) = (dir, hook) {
            let result = hook
                .payload(time)
                .and_then(|payload| checkpoint::write(&dir, time, &payload));
            if let Err(e) = result {
                log::error!("Error writing the checkpoint of batch {time} ms: {e}");
                self.report(e, time);
            }
        }
    }
}
