//! The DStream graph: nodes that produce one RDD per batch time, memoised and forgotten
//! once no operation can need them any more.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::engine::context::EngineContext;
use crate::engine::error::Result;
use crate::engine::rdd::Rdd;

/// User code that derives a batch's RDD from the parents' RDDs (`DStream.transform`).
pub trait TransformFn: Send + Sync {
    fn call(&self, time_ms: i64, parents: Vec<Option<Arc<Rdd>>>) -> Result<Option<Arc<Rdd>>>;
}

/// User code run for every batch (`foreachRDD`).
pub trait OutputFn: Send + Sync {
    fn call(&self, time_ms: i64, rdd: Arc<Rdd>) -> Result<()>;
}

/// `queueStream`: RDDs handed out one per batch (or all at once), then a default.
pub struct QueueSource {
    pub queue: Mutex<VecDeque<Arc<Rdd>>>,
    pub one_at_a_time: bool,
    pub default: Option<Arc<Rdd>>,
}

pub enum StreamKind {
    Queue(QueueSource),
    Transform(Arc<dyn TransformFn>),
    Union,
}

pub struct StreamNode {
    pub id: usize,
    pub kind: StreamKind,
    pub parents: Vec<usize>,
    pub slide_ms: i64,
    /// How long generated RDDs are kept (at least one slide).
    pub remember_ms: AtomicI64,
    pub generated: Mutex<BTreeMap<i64, Option<Arc<Rdd>>>>,
}

impl StreamNode {
    pub fn new(id: usize, kind: StreamKind, parents: Vec<usize>, slide_ms: i64) -> StreamNode {
        StreamNode {
            id,
            kind,
            parents,
            slide_ms,
            remember_ms: AtomicI64::new(slide_ms),
            generated: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn is_input(&self) -> bool {
        matches!(self.kind, StreamKind::Queue(_))
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
            StreamKind::Queue(q) => Some(next_from_queue(ctx, q)),
            StreamKind::Transform(f) => {
                let parents = node
                    .parents
                    .iter()
                    .map(|&p| self.get_or_compute(ctx, p, time, zero_time))
                    .collect::<Result<Vec<_>>>()?;
                f.call(time, parents)?
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
        };
        node.generated.lock().insert(time, rdd.clone());
        Ok(rdd)
    }

    /// Forget RDDs that no operation can ask for any more after the batch at `time`.
    pub fn forget_old(&self, time: i64) {
        let floor = self.remember_ms.unwrap_or(0);
        for node in &self.streams {
            let keep = node.remember_ms.load(Ordering::Relaxed).max(floor);
            let mut generated = node.generated.lock();
            let old: Vec<i64> = generated.range(..=time - keep).map(|(t, _)| *t).collect();
            for t in old {
                generated.remove(&t);
            }
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
