//! The DStream graph: nodes that produce one RDD per batch time, memoised and forgotten
//! once no operation can need them any more.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::Rdd;
use crate::engine::source::Position;
use crate::engine::stream::listener::Info;
use crate::engine::stream::state::{snapshot_rdd, StateStream, WindowStream};

/// User code that derives a batch's RDD from the parents' RDDs (`DStream.transform`).
pub trait TransformFn: Send + Sync {
    fn call(&self, time_ms: i64, parents: Vec<Option<Arc<Rdd>>>) -> Result<Option<Arc<Rdd>>>;
}

/// User code run for every batch (`foreachRDD`).
pub trait OutputFn: Send + Sync {
    fn call(&self, time_ms: i64, rdd: Arc<Rdd>) -> Result<()>;
}

/// One batch of an input stream.
pub struct InputBatch {
    pub rdd: Arc<Rdd>,
    /// Records in the batch, reported to listeners (None: the source reports none, as
    /// Spark's queue stream).
    pub records: Option<i64>,
    /// What replays this batch after a restart (e.g. the files it read).
    pub position: Option<Position>,
}

/// How much a direct source may read for one batch: `spark.streaming.kafka.maxRatePerPartition`
/// style limits and what backpressure estimates the stream keeps up with.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateBudget {
    pub batch_ms: i64,
    /// Records per second the stream should read at most (None: no limit).
    pub records_per_second: Option<f64>,
}

impl RateBudget {
    /// Records one batch may read at most, or None for no limit.
    pub fn max_records(&self) -> Option<u64> {
        self.records_per_second
            .map(|r| (r * self.batch_ms as f64 / 1000.0).floor().max(0.0) as u64)
    }
}

/// Something that emits receiver events (`onReceiverStarted`, ...) to the listeners.
pub type EventSink = Arc<dyn Fn(&str, Info) + Send + Sync>;

/// A source of input batches.
pub trait Input: Send + Sync {
    /// Checked at `start()`: e.g. the watched directory exists.
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// Start background work (receivers).
    fn start(&self, _stream_id: usize, _events: EventSink) -> Result<()> {
        Ok(())
    }
    fn stop(&self) {}
    /// The batch at `time`, decided when the batch is generated; called once per batch time,
    /// in increasing time order. A direct source reads at most what `budget` allows.
    fn batch(&self, ctx: &Arc<EngineContext>, time: i64, budget: &RateBudget)
        -> Result<InputBatch>;
    /// Rebuild a checkpointed batch from its position.
    fn replay(&self, ctx: &Arc<EngineContext>, time: i64, position: &Position) -> Result<Arc<Rdd>> {
        let _ = (ctx, time, position);
        Err(EngineError::Unsupported(
            "this input stream cannot be replayed from a checkpoint".into(),
        ))
    }
    /// Whether a batch generated before a crash can run again with exactly its input after
    /// a restart (its position says everything it read): direct sources.
    fn resumes_pending(&self) -> bool {
        false
    }
    /// Re-run the unfinished batch at `time` after a restart from its position, and go on
    /// reading after it.
    fn resume(&self, ctx: &Arc<EngineContext>, time: i64, position: &Position) -> Result<Arc<Rdd>> {
        self.replay(ctx, time, position)
    }
    /// State to keep across a restart besides per-batch positions.
    fn snapshot(&self) -> Option<Position> {
        None
    }
    fn restore(&self, _snapshot: &Position) -> Result<()> {
        Ok(())
    }
    /// After the batch at `time` completed (every output operation succeeded): commit what
    /// it read (offsets, sequence numbers).
    fn on_batch_completed(&self, _time: i64) {}
    /// Backpressure: the rate (records per second) the stream currently keeps up with, or
    /// None to go back to the configured limit.
    fn set_rate(&self, _records_per_second: Option<u64>) {}
}

/// `queueStream`: RDDs handed out one per batch (or all at once), then a default.
pub struct QueueSource {
    pub queue: Mutex<VecDeque<Arc<Rdd>>>,
    pub one_at_a_time: bool,
    pub default: Option<Arc<Rdd>>,
}

impl Input for QueueSource {
    fn batch(
        &self,
        ctx: &Arc<EngineContext>,
        _time: i64,
        _budget: &RateBudget,
    ) -> Result<InputBatch> {
        Ok(InputBatch {
            rdd: next_from_queue(ctx, self),
            records: None,
            position: None,
        })
    }
}

pub enum StreamKind {
    Input(Arc<dyn Input>),
    Transform(Arc<dyn TransformFn>),
    /// A transform planned once ([`Rdd::instantiate`]): the engine applies `plan` to each
    /// batch's parent RDDs; `fallback` (the same transform as host code) runs only when a
    /// parent has no RDD at that time.
    Template {
        plan: Arc<Rdd>,
        fallback: Arc<dyn TransformFn>,
    },
    Union,
    /// The union of the parent's RDDs in `(t - window, t]`.
    Window {
        window_ms: i64,
    },
    /// `updateStateByKey`: keyed state kept by the engine.
    State(Arc<StateStream>),
    /// `reduceByKeyAndWindow` with an inverse function: a keyed window kept by the engine.
    ReducedWindow(Arc<WindowStream>),
}

pub struct StreamNode {
    pub id: usize,
    pub kind: StreamKind,
    pub parents: Vec<usize>,
    pub slide_ms: i64,
    /// How long generated RDDs are kept (at least one slide).
    pub remember_ms: AtomicI64,
    pub generated: Mutex<BTreeMap<i64, Option<Arc<Rdd>>>>,
    /// Input streams: the replay position of each remembered batch.
    pub positions: Mutex<BTreeMap<i64, Position>>,
    /// Input streams: the rate backpressure last estimated (records per second).
    pub rate: Mutex<Option<f64>>,
    /// Input streams: how long positions are kept (a keyed stream downstream replays the
    /// batches since its last state checkpoint after a restart).
    pub position_keep_ms: AtomicI64,
    /// Input streams: records per batch, for listeners.
    pub records: Mutex<BTreeMap<i64, i64>>,
    /// Needs a checkpoint directory (state, incremental windows).
    pub must_checkpoint: bool,
    /// Keyed streams: `DStream.checkpoint(interval)` in ms (0: the default interval).
    pub checkpoint_ms: AtomicI64,
    /// `DStream.persist`: every RDD of the stream is kept once computed.
    pub persist: AtomicBool,
    /// Input streams: the latest batch time read. A source is never asked again for a time at
    /// or before it (that would hand out data twice or out of order).
    pub last_input_time: AtomicI64,
}

impl StreamNode {
    pub fn new(id: usize, kind: StreamKind, parents: Vec<usize>, slide_ms: i64) -> StreamNode {
        StreamNode {
            id,
            parents,
            slide_ms,
            remember_ms: AtomicI64::new(slide_ms),
            generated: Mutex::new(BTreeMap::new()),
            positions: Mutex::new(BTreeMap::new()),
            position_keep_ms: AtomicI64::new(0),
            rate: Mutex::new(None),
            records: Mutex::new(BTreeMap::new()),
            must_checkpoint: kind_needs_checkpoint(&kind),
            checkpoint_ms: AtomicI64::new(0),
            last_input_time: AtomicI64::new(i64::MIN),
            persist: AtomicBool::new(false),
            kind,
        }
    }

    pub fn input(&self) -> Option<&Arc<dyn Input>> {
        match &self.kind {
            StreamKind::Input(i) => Some(i),
            _ => None,
        }
    }
}

/// An output operation.
pub struct Output {
    pub stream: usize,
    pub func: Arc<dyn OutputFn>,
    pub description: String,
}

#[derive(Default)]
pub struct Graph {
    pub streams: Vec<Arc<StreamNode>>,
    pub outputs: Vec<Output>,
    pub remember_ms: Option<i64>,
}

impl Graph {
    /// The RDD of `stream` at `time`, computing (and remembering) it on first use.
    pub fn get_or_compute(
        &self,
        ctx: &Arc<EngineContext>,
        stream: usize,
        time: i64,
        zero_time: i64,
    ) -> Result<Option<Arc<Rdd>>> {
        let node = &self.streams[stream];
        if let Some(rdd) = node.generated.lock().get(&time) {
            return Ok(rdd.clone());
        }
        if time <= zero_time || (time - zero_time) % node.slide_ms != 0 {
            return Ok(None);
        }
        let rdd = match &node.kind {
            StreamKind::Input(input) => {
                if node.last_input_time.fetch_max(time, Ordering::SeqCst) >= time {
                    // As Spark's receiver streams after a restart without a write-ahead log:
                    // data of a batch that can no longer be read is an empty batch.
                    log::warn!(
                        "the batch of input stream {stream} at {time} ms is no longer \
                         available (it was received before a restart or forgotten); it is \
                         treated as empty"
                    );
                    let empty = Rdd::empty(ctx, 1);
                    node.generated.lock().insert(time, Some(empty.clone()));
                    return Ok(Some(empty));
                }
                let budget = RateBudget {
                    batch_ms: node.slide_ms,
                    records_per_second: *node.rate.lock(),
                };
                let batch = match input.batch(ctx, time, &budget) {
                    Ok(b) => b,
                    Err(e) => {
                        // The batch has no data; its jobs are skipped (the error is reported).
                        node.generated.lock().insert(time, None);
                        return Err(e);
                    }
                };
                if let Some(p) = batch.position {
                    node.positions.lock().insert(time, p);
                }
                if let Some(n) = batch.records {
                    node.records.lock().insert(time, n);
                }
                Some(batch.rdd)
            }
            StreamKind::Transform(f) => {
                let parents = node
                    .parents
                    .iter()
                    .map(|&p| self.get_or_compute(ctx, p, time, zero_time))
                    .collect::<Result<Vec<_>>>()?;
                f.call(time, parents)?
            }
            StreamKind::Template { plan, fallback } => {
                let parents = node
                    .parents
                    .iter()
                    .map(|&p| self.get_or_compute(ctx, p, time, zero_time))
                    .collect::<Result<Vec<_>>>()?;
                if parents.iter().all(Option::is_some) {
                    let inputs: Vec<Arc<Rdd>> = parents.into_iter().flatten().collect();
                    Some(plan.instantiate(&inputs)?)
                } else {
                    fallback.call(time, parents)?
                }
            }
            StreamKind::Union => {
                let parents = node
                    .parents
                    .iter()
                    .map(|&p| self.get_or_compute(ctx, p, time, zero_time))
                    .collect::<Result<Vec<_>>>()?;
                let present: Vec<Arc<Rdd>> = parents.into_iter().flatten().collect();
                if present.is_empty() {
                    None
                } else {
                    Some(Rdd::union(ctx, &present))
                }
            }
            StreamKind::Window { window_ms } => {
                let parent = node.parents[0];
                let rdds = self.parent_range(ctx, parent, time - window_ms, time, zero_time)?;
                Some(Rdd::union(ctx, &rdds))
            }
            StreamKind::State(state) => {
                // The store is updated in place when nothing else holds it: the stream's own
                // RDDs that no operation can ask for any more (the previous batch's, as a rule)
                // are let go now rather than after this batch.
                self.forget_generated(node, time);
                let parent = node.parents[0];
                let get = |t| self.get_or_compute(ctx, parent, t, zero_time);
                state
                    .compute(ctx, time, node.slide_ms, zero_time, &get)?
                    .map(|snap| snapshot_rdd(ctx, &snap))
            }
            StreamKind::ReducedWindow(window) => {
                // As for State: the previous window is updated in place when nothing else
                // holds it.
                self.forget_generated(node, time);
                let parent = node.parents[0];
                let parent_slide = self.streams[parent].slide_ms;
                let get = |t| self.get_or_compute(ctx, parent, t, zero_time);
                window
                    .compute(ctx, time, node.slide_ms, parent_slide, zero_time, &get)?
                    .map(|snap| snapshot_rdd(ctx, &snap))
            }
        };
        if let Some(r) = &rdd {
            if node.persist.load(Ordering::Relaxed) {
                r.persist();
            }
        }
        node.generated.lock().insert(time, rdd.clone());
        Ok(rdd)
    }

    /// The parent's RDDs for batch times in `(from, to]`.
    fn parent_range(
        &self,
        ctx: &Arc<EngineContext>,
        parent: usize,
        from: i64,
        to: i64,
        zero_time: i64,
    ) -> Result<Vec<Arc<Rdd>>> {
        let slide = self.streams[parent].slide_ms;
        let mut out = Vec::new();
        let mut t = from + slide;
        while t <= to {
            if t > zero_time {
                if let Some(rdd) = self.get_or_compute(ctx, parent, t, zero_time)? {
                    out.push(rdd);
                }
            }
            t += slide;
        }
        Ok(out)
    }

    /// How long `node` keeps its RDDs.
    fn keep_ms(&self, node: &StreamNode) -> i64 {
        let floor = self.remember_ms.unwrap_or(0);
        node.remember_ms.load(Ordering::Relaxed).max(floor)
    }

    /// Forget the RDDs of `node` that no operation can ask for at or after `time`.
    fn forget_generated(&self, node: &StreamNode, time: i64) {
        let keep = self.keep_ms(node);
        let mut generated = node.generated.lock();
        let old: Vec<i64> = generated.range(..=time - keep).map(|(t, _)| *t).collect();
        for t in old {
            generated.remove(&t);
        }
    }

    /// Forget RDDs that no operation can ask for any more after the batch at `time`.
    pub fn forget_old(&self, time: i64) {
        for node in &self.streams {
            let keep = self.keep_ms(node);
            self.forget_generated(node, time);
            let keep_positions = keep.max(node.position_keep_ms.load(Ordering::Relaxed));
            let mut positions = node.positions.lock();
            positions.retain(|t, _| *t > time - keep_positions);
            drop(positions);
            node.records.lock().retain(|t, _| *t > time - keep);
        }
    }
}

fn next_from_queue(ctx: &Arc<EngineContext>, q: &QueueSource) -> Arc<Rdd> {
    let mut queue = q.queue.lock();
    if !queue.is_empty() {
        if q.one_at_a_time {
            if let Some(rdd) = queue.pop_front() {
                return rdd;
            }
        } else {
            let all: Vec<Arc<Rdd>> = queue.drain(..).collect();
            return Rdd::union(ctx, &all);
        }
    }
    q.default.clone().unwrap_or_else(|| Rdd::empty(ctx, 1))
}

fn kind_needs_checkpoint(kind: &StreamKind) -> bool {
    matches!(kind, StreamKind::State(_) | StreamKind::ReducedWindow(_))
}
