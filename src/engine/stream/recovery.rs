//! What the streaming engine writes to a checkpoint directory and how it puts it back.
//!
//! - `graph-<n>`: the host's description of the stream graph with its functions (for Python:
//!   the recorded graph calls, pickled once per start). Opaque to the engine.
//! - `checkpoint-<t>`, after every batch `t`: [`Metadata`] (postcard): batch interval, zero
//!   time, the graph file, every input's replay positions and own snapshot (typed
//!   [`Position`]s), and for every keyed stream its latest state file.
//! - `state-<stream>-<t>`: a keyed stream's store at `t`, written at the stream's checkpoint
//!   interval (`DStream.checkpoint(interval)`, by default the smallest multiple of the slide
//!   that is at least 10 s, as Spark's). Each partition is encoded by `engine::wire` (the
//!   codec of partitions sent to worker processes) as a partition of `(key, value)` tuples:
//!   native values as such, host values pickled by the host in one call per partition.
//!
//! Recovery puts back the latest state files and replays the input positions of the batches
//! since then, so keyed streams recompute exactly the batches that followed their state
//! checkpoint (exactly-once), and the scheduler resumes after the last checkpointed batch.
//! Nothing secret is written: sources keep credentials out of their positions.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::graph::{Graph, StreamKind, StreamNode};
use super::state::{Snapshot, StateMap};
use super::StreamingEngine;
use crate::engine::checkpoint::{self, ADVICE, GRAPH_PREFIX, METADATA_PREFIX, STATE_PREFIX};
use crate::engine::error::{EngineError, Result};
use crate::engine::host::HostCodec;
use crate::engine::source::Position;
use crate::engine::value::{Key, Value};
use crate::engine::wire::{self, RawBytes};

/// The metadata written after every batch.
#[derive(Debug, Serialize, Deserialize)]
pub struct Metadata {
    pub batch_ms: i64,
    pub zero_ms: i64,
    pub time_ms: i64,
    /// The graph file of the run that wrote this.
    pub graph: String,
    pub inputs: Vec<InputCheckpoint>,
    pub keyed: Vec<KeyedCheckpoint>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InputCheckpoint {
    pub stream: usize,
    /// Replay positions of the batches that may have to be recomputed, by batch time.
    pub positions: Vec<(i64, Position)>,
    pub snapshot: Option<Position>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyedCheckpoint {
    pub stream: usize,
    /// The state file and the batch time it holds.
    pub file: String,
    pub time: i64,
}

/// A state file: every partition of the store encoded by [`wire::encode_pairs`] (the codec of
/// partitions sent to worker processes), host values pickled once per partition.
#[derive(Serialize)]
struct StateFileRef<'a> {
    stream: usize,
    time: i64,
    partitions: Vec<RawBytes<'a>>,
}

#[derive(Deserialize)]
struct StateFile<'a> {
    stream: usize,
    time: i64,
    #[serde(borrow)]
    partitions: Vec<&'a [u8]>,
}

fn encode_err(e: postcard::Error) -> EngineError {
    EngineError::Internal(format!("cannot encode a checkpoint: {e}"))
}

fn decode_err(dir: &Path, name: &str, e: postcard::Error) -> EngineError {
    EngineError::IllegalState(format!(
        "checkpoint file {} cannot be decoded ({e}): it was written by another program or \
         version. {ADVICE}",
        dir.join(name).display()
    ))
}

/// A state partition being read back.
struct MapSink(StateMap);

impl wire::PairSink for MapSink {
    fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }
    fn push(&mut self, k: Value, v: Value) -> Result<()> {
        self.0.insert(Key::new(k)?, v);
        Ok(())
    }
}

fn damaged(dir: &Path, name: &str, e: EngineError) -> EngineError {
    match e {
        EngineError::Internal(why) => EngineError::IllegalState(format!(
            "checkpoint file {} cannot be decoded ({why}): it was written by another program or \
             version. {ADVICE}",
            dir.join(name).display()
        )),
        other => other,
    }
}

/// The checkpoint interval of a keyed stream when the program sets none (Spark's default).
pub fn default_interval(slide_ms: i64) -> i64 {
    slide_ms * ((10_000 + slide_ms - 1) / slide_ms).max(1)
}

/// What recovery needs of the latest checkpoint in `dir`: its metadata, the graph payload it
/// refers to, its path and the damaged newer files skipped. None when there is none.
pub struct Found {
    pub metadata: Metadata,
    pub graph: Vec<u8>,
    pub path: std::path::PathBuf,
    pub skipped: Vec<String>,
}

pub fn read_latest(dir: &Path) -> Result<Option<Found>> {
    let Some(loaded) = checkpoint::read_latest(dir)? else {
        return Ok(None);
    };
    let name = loaded
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let metadata: Metadata =
        postcard::from_bytes(&loaded.payload).map_err(|e| decode_err(dir, &name, e))?;
    if metadata.time_ms != loaded.time {
        return Err(EngineError::IllegalState(format!(
            "checkpoint file {} does not hold the batch its name says. {ADVICE}",
            loaded.path.display()
        )));
    }
    let (_, graph) = checkpoint::read(dir, &metadata.graph)?;
    Ok(Some(Found {
        metadata,
        graph,
        path: loaded.path,
        skipped: loaded.skipped,
    }))
}

/// What the engine remembers of the checkpoints it wrote.
#[derive(Default)]
pub(super) struct Written {
    /// The graph file of this run.
    pub graph: Option<String>,
    /// The latest state file of every keyed stream.
    pub states: BTreeMap<usize, KeyedCheckpoint>,
    /// The files each of the newest metadata files needs, oldest first.
    pub kept: VecDeque<Vec<String>>,
}

impl StreamingEngine {
    /// `StreamingContext.checkpoint(dir)` (or `SparkContext.setCheckpointDir`).
    pub fn set_checkpoint_dir(&self, dir: Option<std::path::PathBuf>) {
        *self.checkpoint_dir.lock() = dir;
    }

    /// Enable checkpoints: the host's description of the graph, written once at start.
    pub fn set_checkpoint_graph(&self, payload: Vec<u8>) {
        *self.graph_payload.lock() = Some(payload);
    }

    /// How host objects in state are written.
    pub fn set_host_codec(&self, codec: Arc<dyn HostCodec>) {
        *self.host_codec.lock() = Some(codec);
    }

    /// `DStream.checkpoint(interval)` of a keyed stream: its state is written every
    /// `interval_ms` (a positive multiple of its slide).
    pub fn set_checkpoint_interval(&self, stream: usize, interval_ms: i64) -> Result<()> {
        self.check_can_add()?;
        self.with_graph(|graph| {
            let node = graph.streams.get(stream).ok_or_else(|| {
                EngineError::InvalidArgument(format!("no DStream with id {stream}"))
            })?;
            let slide = node.slide_ms;
            if interval_ms < slide || interval_ms % slide != 0 {
                return Err(EngineError::Requirement(format!(
                    "requirement failed: The checkpoint interval for stream {stream} has been set \
                     to {interval_ms} ms which is not a multiple of its slide time ({slide} ms). \
                     Please set it to a multiple of {slide} ms."
                )));
            }
            node.checkpoint_ms.store(interval_ms, Ordering::Relaxed);
            Ok(())
        })
    }

    /// Every input feeding a keyed stream keeps the positions of the batches since that
    /// stream's last state checkpoint (plus its window), so recovery can replay them.
    pub(super) fn keep_positions_for_replay(graph: &Graph) {
        fn mark(graph: &Graph, id: usize, keep: i64) {
            let node = &graph.streams[id];
            if node.input().is_some() {
                node.position_keep_ms.fetch_max(keep, Ordering::Relaxed);
            }
            for &p in &node.parents {
                mark(graph, p, keep);
            }
        }
        for node in &graph.streams {
            let window = match &node.kind {
                StreamKind::State(_) => node.slide_ms,
                StreamKind::ReducedWindow(w) => w.window_ms,
                _ => continue,
            };
            let keep = interval_of(node) + window + 2 * node.slide_ms;
            for &p in &node.parents {
                mark(graph, p, keep);
            }
        }
    }

    /// At start: write the graph file (`graph-<n>`, one per start).
    pub(super) fn write_graph(&self) -> Result<()> {
        let (Some(dir), Some(payload)) = (
            self.checkpoint_dir.lock().clone(),
            self.graph_payload.lock().clone(),
        ) else {
            return Ok(());
        };
        let n = checkpoint::list(&dir, GRAPH_PREFIX)
            .last()
            .map_or(1, |(n, _)| n + 1);
        let name = format!("{GRAPH_PREFIX}{n}");
        checkpoint::write(&dir, &name, self.clock.now_ms(), &payload)?;
        self.written.lock().graph = Some(name);
        Ok(())
    }

    /// After batch `time`: the state files that are due and the metadata. A failure is
    /// reported like a failed job.
    pub(super) fn write_checkpoint(&self, time: i64) {
        let Some(dir) = self.checkpoint_dir.lock().clone() else {
            return;
        };
        if self.written.lock().graph.is_none() {
            return;
        }
        if let Err(e) = self.write_checkpoint_files(&dir, time) {
            log::error!("Error writing the checkpoint of batch {time} ms: {e}");
            self.report(e, time);
        }
    }

    fn write_checkpoint_files(&self, dir: &Path, time: i64) -> Result<()> {
        let graph = self.frozen_graph();
        let zero = self.zero_time();
        for node in &graph.streams {
            let (current, description) = match &node.kind {
                StreamKind::State(s) => (s.current(), &s.description),
                StreamKind::ReducedWindow(w) => (w.current(), &w.description),
                _ => continue,
            };
            if (time - zero) % interval_of(node) != 0 {
                continue;
            }
            let Some(snapshot) = current.filter(|s| s.time == time) else {
                continue;
            };
            let name = format!("{STATE_PREFIX}{}-{time}", node.id);
            self.write_state(dir, &name, node.id, &snapshot)
                .map_err(|e| EngineError::Job {
                    message: format!(
                        "cannot checkpoint the state of {description} into {}: {e}",
                        dir.display()
                    ),
                    source: Box::new(e),
                })?;
            self.written.lock().states.insert(
                node.id,
                KeyedCheckpoint {
                    stream: node.id,
                    file: name,
                    time,
                },
            );
        }
        let (graph_file, keyed) = {
            let w = self.written.lock();
            (
                w.graph.clone().unwrap_or_default(),
                w.states.values().cloned().collect::<Vec<_>>(),
            )
        };
        let inputs = graph
            .streams
            .iter()
            .filter_map(|node| {
                let input = node.input()?;
                Some(InputCheckpoint {
                    stream: node.id,
                    positions: node
                        .positions
                        .lock()
                        .iter()
                        .map(|(t, p)| (*t, p.clone()))
                        .collect(),
                    snapshot: input.snapshot(),
                })
            })
            .collect();
        let metadata = Metadata {
            batch_ms: self.batch_ms,
            zero_ms: zero,
            time_ms: time,
            graph: graph_file.clone(),
            inputs,
            keyed,
        };
        let name = format!("{METADATA_PREFIX}{time}");
        let payload = postcard::to_allocvec(&metadata).map_err(encode_err)?;
        checkpoint::write(dir, &name, time, &payload)?;
        let keep: HashSet<String> = {
            let mut w = self.written.lock();
            let mut needs = vec![name, graph_file];
            needs.extend(metadata.keyed.iter().map(|k| k.file.clone()));
            w.kept.push_back(needs);
            while w.kept.len() > checkpoint::KEEP {
                w.kept.pop_front();
            }
            w.kept.iter().flatten().cloned().collect()
        };
        checkpoint::prune(dir, &keep);
        Ok(())
    }

    fn write_state(&self, dir: &Path, name: &str, stream: usize, snap: &Snapshot) -> Result<()> {
        let started = std::time::Instant::now();
        let codec = self.host_codec.lock().clone();
        let partitions = self.ctx.map_tasks(snap.parts.len(), |i| {
            let entries: Vec<_> = snap.parts[i].iter().map(|(k, v)| (&k.value, v)).collect();
            wire::encode_pairs(&entries, codec.as_deref())
        })?;
        let file = StateFileRef {
            stream,
            time: snap.time,
            partitions: partitions.iter().map(|p| RawBytes(p)).collect(),
        };
        let payload = postcard::to_allocvec(&file).map_err(encode_err)?;
        checkpoint::write(dir, name, snap.time, &payload)?;
        log::info!(
            "Checkpointed the state of stream {stream} at {} ms ({} keys, {} bytes) in {} ms",
            snap.time,
            snap.len(),
            payload.len(),
            started.elapsed().as_millis()
        );
        Ok(())
    }

    fn read_state(&self, dir: &Path, entry: &KeyedCheckpoint) -> Result<Snapshot> {
        let (_, payload) = checkpoint::read(dir, &entry.file)?;
        let file: StateFile =
            postcard::from_bytes(&payload).map_err(|e| decode_err(dir, &entry.file, e))?;
        if file.stream != entry.stream || file.time != entry.time {
            return Err(EngineError::IllegalState(format!(
                "state file {} does not hold stream {} at {} ms. {ADVICE}",
                dir.join(&entry.file).display(),
                entry.stream,
                entry.time
            )));
        }
        let codec = self.host_codec.lock().clone();
        let parts = self.ctx.map_tasks(file.partitions.len(), |i| {
            let mut map = MapSink(StateMap::default());
            wire::decode_pairs_into(file.partitions[i], codec.as_deref(), &mut map)
                .map_err(|e| damaged(dir, &entry.file, e))?;
            Ok(Arc::new(map.0))
        })?;
        Ok(Snapshot {
            time: file.time,
            parts,
        })
    }

    /// Recovery, after the host rebuilt the graph: put back the latest checkpoint of `dir`
    /// (input snapshots and replayed batches, keyed streams' state) and resume after its batch.
    /// Returns the batch time of the checkpoint.
    pub fn recover(&self, dir: &Path) -> Result<i64> {
        let found = read_latest(dir)?.ok_or_else(|| {
            EngineError::IllegalState(format!("no checkpoint to recover in {}", dir.display()))
        })?;
        let meta = found.metadata;
        if meta.batch_ms != self.batch_ms {
            return Err(EngineError::IllegalState(format!(
                "the checkpoint in {} has batches of {} ms, this context {} ms. {ADVICE}",
                dir.display(),
                meta.batch_ms,
                self.batch_ms
            )));
        }
        let mismatch = |what: String| {
            EngineError::IllegalState(format!(
                "the checkpoint in {} does not match the program's streams ({what}). {ADVICE}",
                dir.display()
            ))
        };
        let graph = self.graph.lock();
        let node_of = |id: usize| -> Result<&Arc<StreamNode>> {
            graph
                .streams
                .get(id)
                .ok_or_else(|| mismatch(format!("no stream {id}")))
        };
        for input in &meta.inputs {
            let node = node_of(input.stream)?;
            let source = node
                .input()
                .ok_or_else(|| mismatch(format!("stream {} is not an input", input.stream)))?;
            if let Some(snapshot) = &input.snapshot {
                source.restore(snapshot)?;
            }
            for (t, position) in &input.positions {
                let rdd = source.replay(&self.ctx, *t, position)?;
                node.generated.lock().insert(*t, Some(rdd));
                node.positions.lock().insert(*t, position.clone());
                node.last_input_time.fetch_max(*t, Ordering::Relaxed);
            }
        }
        for entry in &meta.keyed {
            let node = node_of(entry.stream)?;
            let started = std::time::Instant::now();
            let snapshot = self.read_state(dir, entry)?;
            log::info!(
                "Restored the state of stream {} at {} ms ({} keys) in {} ms",
                entry.stream,
                entry.time,
                snapshot.len(),
                started.elapsed().as_millis()
            );
            match &node.kind {
                StreamKind::State(s) => s.restore(snapshot),
                StreamKind::ReducedWindow(w) => w.restore(snapshot),
                _ => return Err(mismatch(format!("stream {} is not keyed", entry.stream))),
            }
            self.written
                .lock()
                .states
                .insert(entry.stream, entry.clone());
        }
        self.resume_pending(dir, &graph, meta.time_ms + self.batch_ms)?;
        // Inputs that cannot replay (receivers) give empty batches for the times before the
        // restart, with a warning (as Spark without a write-ahead log).
        for node in &graph.streams {
            if node.input().is_some() {
                node.last_input_time
                    .fetch_max(meta.time_ms, Ordering::Relaxed);
            }
        }
        drop(graph);
        *self.restored.lock() = Some((meta.zero_ms, meta.time_ms));
        Ok(meta.time_ms)
    }
}

fn interval_of(node: &StreamNode) -> i64 {
    match node.checkpoint_ms.load(Ordering::Relaxed) {
        0 => default_interval(node.slide_ms),
        ms => ms,
    }
}
