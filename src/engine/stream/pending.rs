//! Batches in flight. When a batch is generated, the positions of the inputs that can resume
//! an unfinished batch (direct sources: what they read is all in the position) are written to
//! `pending-<t>`, so that after a crash the batch after the last checkpoint runs again with
//! exactly the same input, as Spark's checkpoint at batch generation does. Only the newest
//! pending file is kept.

use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::graph::Graph;
use super::StreamingEngine;
use crate::engine::checkpoint::{self, PENDING_PREFIX};
use crate::engine::error::{EngineError, Result};
use crate::engine::source::Position;

impl StreamingEngine {
    /// After the inputs of the batch at `time` were generated.
    pub(super) fn write_pending(&self, graph: &Graph, time: i64) {
        let Some(dir) = self.checkpoint_dir.lock().clone() else {
            return;
        };
        let entries: Vec<(usize, Position)> = graph
            .streams
            .iter()
            .filter(|n| n.input().is_some_and(|i| i.resumes_pending()))
            .filter_map(|n| n.positions.lock().get(&time).map(|p| (n.id, p.clone())))
            .collect();
        if entries.is_empty() {
            return;
        }
        let written = postcard::to_allocvec(&entries)
            .map_err(|e| EngineError::Internal(format!("cannot encode pending batch: {e}")))
            .and_then(|payload| {
                checkpoint::write(&dir, &format!("{PENDING_PREFIX}{time}"), time, &payload)
            });
        if let Err(e) = written {
            log::warn!("Could not record the input of batch {time} ms in the checkpoint: {e}");
            return;
        }
        for (t, path) in checkpoint::list(&dir, PENDING_PREFIX) {
            if t < time {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// Recovery: the batch at `time` (the one after the restored checkpoint) was generated
    /// before the crash; its inputs that can resume read exactly what they read then.
    pub(super) fn resume_pending(&self, dir: &Path, graph: &Graph, time: i64) -> Result<()> {
        let name = format!("{PENDING_PREFIX}{time}");
        if !dir.join(&name).exists() {
            return Ok(());
        }
        let (_, payload) = checkpoint::read(dir, &name)?;
        let entries: Vec<(usize, Position)> = postcard::from_bytes(&payload).map_err(|e| {
            EngineError::IllegalState(format!(
                "checkpoint file {} cannot be used: {e}. {}",
                dir.join(&name).display(),
                checkpoint::ADVICE
            ))
        })?;
        for (stream, position) in entries {
            let Some(node) = graph.streams.get(stream) else {
                continue;
            };
            let Some(input) = node.input() else { continue };
            let rdd = input.resume(&self.ctx, time, &position)?;
            node.generated.lock().insert(time, Some(rdd));
            node.positions.lock().insert(time, position);
            node.last_input_time.fetch_max(time, Ordering::Relaxed);
            log::info!("Batch {time} ms of input stream {stream} runs again with the input it had");
        }
        Ok(())
    }
}
