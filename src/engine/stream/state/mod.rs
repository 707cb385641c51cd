//! Keyed state that lives in the engine across batches: `updateStateByKey` and the incremental
//! `reduceByKeyAndWindow`.
//!
//! A keyed stream owns a hash-partitioned store: partition `p` maps every key whose portable hash
//! is `p (mod n)` to its value, in insertion order (keys already there first, then new keys in
//! the order they first appear in the batch, which is the order PySpark's cogroup gives). Each
//! batch is bucketed once into that partitioning, the partitions are updated in parallel, and
//! the user's function runs natively when the facade proved it (else in one host call per
//! partition). A batch builds a new [`Snapshot`]; it becomes current only when every partition
//! succeeded, and RDDs handed out earlier keep reading the snapshot they were made from.

mod update;
mod window;

pub use update::StateStream;
pub use window::{Delta, WindowStream, INCREMENTAL_RATIO};

use std::sync::Arc;

use parking_lot::Mutex;

use crate::engine::context::EngineContext;
use crate::engine::error::Result;
use crate::engine::expr::Expr;
use crate::engine::rdd::{Partition, PartitionSource, Rdd};
use crate::engine::value::{Key, KeyMap, Value};

/// The values of one partition of a keyed store.
pub type StateMap = KeyMap<Value>;

/// The store of a keyed stream at one batch time.
pub struct Snapshot {
    pub time: i64,
    pub parts: Vec<Arc<StateMap>>,
}

impl Snapshot {
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a snapshot as `(key, value)` records, one RDD partition per store partition.
struct SnapshotReader(Arc<Snapshot>);

impl PartitionSource for SnapshotReader {
    fn num_partitions(&self) -> usize {
        self.0.parts.len()
    }

    fn compute(&self, i: usize) -> Result<Partition> {
        Ok(self.0.parts[i]
            .iter()
            .map(|(k, v)| Value::pair(k.value.clone(), v.clone()))
            .collect())
    }

    fn len(&self, i: usize) -> Option<usize> {
        self.0.parts.get(i).map(|p| p.len())
    }
}

/// The RDD of a snapshot.
pub fn snapshot_rdd(ctx: &Arc<EngineContext>, snapshot: &Arc<Snapshot>) -> Arc<Rdd> {
    Rdd::lazy(ctx, Arc::new(SnapshotReader(snapshot.clone())))
}

// ------------------------------------------------------------------------------------------
// user functions

/// `updateFunc(new_values, old_state)` in the host language, over a whole partition: one call
/// returns the new state of every item (`Value::None` deletes the key).
pub trait HostUpdateFn: Send + Sync {
    fn update(&self, items: Vec<(Vec<Value>, Value)>) -> Result<Vec<Value>>;
}

/// A two-argument host function (`func`, `invFunc`) over a whole partition.
pub trait HostPairFn: Send + Sync {
    /// `f(a, b)` for every pair.
    fn apply(&self, pairs: Vec<(Value, Value)>) -> Result<Vec<Value>>;
    /// `functools.reduce(f, group)` for every (non-empty) group.
    fn reduce(&self, groups: Vec<Vec<Value>>) -> Result<Vec<Value>>;
}

/// A one-argument host predicate (`filterFunc`) over a whole partition.
pub trait HostPredicate: Send + Sync {
    fn test(&self, items: Vec<Value>) -> Result<Vec<bool>>;
}

/// A user function: native when proven (an [`Expr`]), with the host function for everything
/// native code does not model.
pub struct UserFn<H: ?Sized> {
    pub native: Option<Arc<Expr>>,
    pub host: Arc<H>,
}

impl<H: ?Sized> Clone for UserFn<H> {
    fn clone(&self) -> Self {
        UserFn {
            native: self.native.clone(),
            host: self.host.clone(),
        }
    }
}

// ------------------------------------------------------------------------------------------
// bucketing

/// A partition of `(key, value)` records with the keys' hashes computed.
type Keyed = Vec<(Key, Value)>;

/// The `(key, value)` records of `rdd` in the store's partitioning (`portable_hash(key) % n`):
/// shuffled once, or not at all when the RDD is already partitioned that way (e.g. the output
/// of `reduceByKey(func, n)`). A shuffle's output is read where it lies (not copied), with the
/// keys' hashes it handed over; keys of an RDD that needed no shuffle are hashed in bulk here
/// (host keys in one call per partition).
fn bucket(ctx: &Arc<EngineContext>, rdd: &Arc<Rdd>, n: usize) -> Result<Vec<Keyed>> {
    let rdd = rdd.partition_by_hash(n)?.want_keyed_columns();
    rdd.prepare()?;
    ctx.map_tasks(rdd.num_partitions(), |i| {
        let shared = rdd.shuffle_output_shared(i)?;
        if let Some(fetched) = &shared {
            let records = &fetched.records;
            let hashes = fetched.hashes.as_ref().filter(|h| h.len() == records.len());
            match (hashes, &fetched.values) {
                // Keyed columns: `records` are the keys.
                (Some(hashes), Some(values)) => {
                    return Ok(records
                        .iter()
                        .zip(values.iter())
                        .zip(hashes)
                        .map(|((k, v), &h)| (Key::with_hash(h, k.clone()), v.clone()))
                        .collect());
                }
                (Some(hashes), None) => {
                    return records
                        .iter()
                        .zip(hashes)
                        .map(|(record, &h)| {
                            let (k, v) = record.as_pair()?;
                            Ok((Key::with_hash(h, k.clone()), v.clone()))
                        })
                        .collect();
                }
                _ => {}
            }
        }
        let part = match shared {
            Some(fetched) => fetched.into_rows(),
            None => rdd.compute(i)?,
        };
        let mut keys = Vec::with_capacity(part.len());
        let mut values = Vec::with_capacity(part.len());
        for record in &part {
            let (k, v) = record.as_pair()?;
            keys.push(k.clone());
            values.push(v.clone());
        }
        let keys = crate::engine::keys::to_keys(ctx, keys)?;
        Ok(keys.into_iter().zip(values).collect())
    })
}

/// The last batch time a keyed stream computed, with its store then (None: no data).
type Progress = Mutex<Option<(i64, Option<Arc<Snapshot>>)>>;

/// Bring a keyed stream from its last computed batch to `time`, one slide at a time (more than
/// one only after a recovery, or when a batch did not ask for the stream).
///
/// `step(t, store)` turns the store before `t` into the store at `t`. The store is handed over,
/// not shared, so that a step can update it in place; on failure the step leaves in `store`
/// what stands for the store at `t` and returns the error. The store stays with `progress`
/// whatever happens, a panic included.
fn catch_up(
    progress: &Progress,
    time: i64,
    slide: i64,
    zero_time: i64,
    mut step: impl FnMut(i64, &mut Option<Arc<Snapshot>>) -> Result<()>,
) -> Result<Option<Arc<Snapshot>>> {
    let last = progress.lock().take();
    let mut held = Held { progress, last };
    let (mut t, mut store) = match &mut held.last {
        Some((t, s)) if *t == time => return Ok(s.clone()),
        Some((t, s)) if *t < time && *t >= zero_time => (*t, s.take()),
        _ => (zero_time, None),
    };
    while t < time {
        t += slide;
        let (_, slot) = held.last.insert((t, store.take()));
        step(t, slot)?;
        store = slot.clone();
    }
    Ok(store)
}

/// The store of a keyed stream while a batch works on it: put back into `progress` when
/// dropped, on every way out.
struct Held<'a> {
    progress: &'a Progress,
    last: Option<(i64, Option<Arc<Snapshot>>)>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *self.progress.lock() = self.last.take();
    }
}

fn relabel(s: &Arc<Snapshot>, time: i64) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        time,
        parts: s.parts.clone(),
    })
}

/// Count a native update of a partition, or its hand-over to the host fallback
/// (`_native.native_stats`), and pass its result through.
fn count_native<T>(native: bool, result: T) -> T {
    crate::engine::step::count_native(native);
    result
}

/// `result` of the host function of `f`: counted as a fallback when `f` had a native form.
fn count_host<H: ?Sized, T>(f: &UserFn<H>, result: T) -> T {
    if f.native.is_some() {
        crate::engine::step::count_native(false);
    }
    result
}
