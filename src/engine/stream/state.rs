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

use std::sync::Arc;

use parking_lot::Mutex;
use rayon::prelude::*;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::expr::{Expr, Fallback};
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
/// of `reduceByKey(func, n)`). Keys get their hashes in bulk (host keys in one call per
/// partition).
fn bucket(ctx: &Arc<EngineContext>, rdd: &Arc<Rdd>, n: usize) -> Result<Vec<Keyed>> {
    let parts = rdd.partition_by_hash(n)?.compute_all()?;
    ctx.run(|| {
        parts
            .into_par_iter()
            .map(|part| {
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
            .collect()
    })
}

// ------------------------------------------------------------------------------------------
// updateStateByKey

/// The keyed store of an `updateStateByKey` stream.
pub struct StateStream {
    pub update: UserFn<dyn HostUpdateFn>,
    pub num_partitions: usize,
    /// The state before the first batch (`initialRDD`), bucketed when first needed.
    pub initial: Option<Arc<Rdd>>,
    /// What the user called, for error messages.
    pub description: String,
    /// The last batch time applied, with the state then (None: no state yet).
    current: Progress,
}

impl StateStream {
    pub fn new(
        update: UserFn<dyn HostUpdateFn>,
        num_partitions: usize,
        initial: Option<Arc<Rdd>>,
        description: String,
    ) -> Result<StateStream> {
        if num_partitions == 0 {
            return Err(EngineError::InvalidArgument(
                "numPartitions must be positive".into(),
            ));
        }
        Ok(StateStream {
            update,
            num_partitions,
            initial,
            description,
            current: Mutex::new(None),
        })
    }

    /// The latest state (the one the next batch builds on).
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.lock().as_ref().and_then(|(_, s)| s.clone())
    }

    /// Recovery: the state at a checkpointed batch time.
    pub fn restore(&self, snapshot: Snapshot) {
        *self.current.lock() = Some((snapshot.time, Some(Arc::new(snapshot))));
    }

    /// The state at `time`. `parent(t)` is the parent stream's RDD at `t`. Batches between
    /// the last one applied and `time` (after a recovery) are applied first, in order.
    pub fn compute(
        &self,
        ctx: &Arc<EngineContext>,
        time: i64,
        slide: i64,
        zero_time: i64,
        parent: &dyn Fn(i64) -> Result<Option<Arc<Rdd>>>,
    ) -> Result<Option<Arc<Snapshot>>> {
        catch_up(&self.current, time, slide, zero_time, |t, state| {
            let step = parent(t).and_then(|rdd| match rdd {
                // No parent RDD: the state stays as it was (none before the first batch, even
                // with an initial RDD), as Spark's StateDStream.
                None => Ok(state.map(|s| relabel(s, t))),
                Some(rdd) => self.apply(ctx, t, state.map(|s| &**s), &rdd).map(Some),
            });
            // A failed batch keeps the state as it was; the next batch goes on from it.
            step.map_err(|e| (e, state.map(|s| relabel(s, t))))
        })
    }

    fn apply(
        &self,
        ctx: &Arc<EngineContext>,
        time: i64,
        prev: Option<&Snapshot>,
        batch: &Arc<Rdd>,
    ) -> Result<Arc<Snapshot>> {
        let n = self.num_partitions;
        let batch = bucket(ctx, batch, n)?;
        let initial = match (prev, &self.initial) {
            (None, Some(rdd)) => Some(bucket(ctx, rdd, n)?),
            _ => None,
        };
        let parts: Vec<Arc<StateMap>> = ctx.run(|| {
            batch
                .into_par_iter()
                .enumerate()
                .map(|(p, records)| {
                    let from_initial;
                    let old: Option<&StateMap> = match (prev, &initial) {
                        (Some(s), _) => Some(&s.parts[p]),
                        (None, Some(init)) => {
                            from_initial = first_wins(&init[p]);
                            Some(&from_initial)
                        }
                        (None, None) => None,
                    };
                    update_partition(ctx, &self.update, old, records).map(Arc::new)
                })
                .collect::<Result<Vec<_>>>()
        })?;
        Ok(Arc::new(Snapshot { time, parts }))
    }
}

/// The last batch time a keyed stream computed, with its store then (None: no data).
type Progress = Mutex<Option<(i64, Option<Arc<Snapshot>>)>>;

/// Bring a keyed stream from its last computed batch to `time`, one slide at a time (more than
/// one only after a recovery, or when a batch did not ask for the stream). `step(t, prev)` is
/// the store at `t`; on failure it gives the error and what stands for the store at `t`.
fn catch_up(
    progress: &Progress,
    time: i64,
    slide: i64,
    zero_time: i64,
    mut step: impl FnMut(
        i64,
        Option<&Arc<Snapshot>>,
    ) -> std::result::Result<
        Option<Arc<Snapshot>>,
        (EngineError, Option<Arc<Snapshot>>),
    >,
) -> Result<Option<Arc<Snapshot>>> {
    let last = progress.lock().clone();
    let (mut t, mut store) = match last {
        Some((t, s)) if t == time => return Ok(s),
        Some((t, s)) if t < time && t >= zero_time => (t, s),
        _ => (zero_time, None),
    };
    while t < time {
        t += slide;
        match step(t, store.as_ref()) {
            Ok(next) => store = next,
            Err((e, kept)) => {
                *progress.lock() = Some((t, kept));
                return Err(e);
            }
        }
        *progress.lock() = Some((t, store.clone()));
    }
    Ok(store)
}

fn relabel(s: &Arc<Snapshot>, time: i64) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        time,
        parts: s.parts.clone(),
    })
}

/// An initial state partition; for a key given twice the first value is kept.
fn first_wins(records: &Keyed) -> StateMap {
    let mut map = StateMap::default();
    for (k, v) in records {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
    map
}

/// One partition of `updateStateByKey`: every key with a state or new values gets
/// `update(new_values, old_state)`; a None result removes the key. Keys with a state come first,
/// in their order, then new keys in the order they first appear.
fn update_partition(
    ctx: &EngineContext,
    f: &UserFn<dyn HostUpdateFn>,
    old: Option<&StateMap>,
    records: Keyed,
) -> Result<StateMap> {
    let host_keys = records.iter().any(|(k, _)| k.value.has_host())
        || old.is_some_and(|o| o.keys().any(|k| k.value.has_host()));
    if host_keys {
        return update_by_groups(ctx, f, old, records);
    }
    let mut groups: KeyMap<Vec<Value>> =
        KeyMap::with_capacity_and_hasher(records.len(), Default::default());
    for (k, v) in records {
        groups.entry(k).or_default().push(v);
    }
    if let Some(expr) = &f.native {
        if let Ok(out) = native_update(expr, old, &groups) {
            return Ok(count_native(true, out));
        }
        count_native(false, ());
    }
    host_update(f, old, groups)
}

/// [`update_partition`] when keys are host objects: the old keys and the batch's keys are
/// matched under the host's equality in one host call for the partition, not per lookup.
fn update_by_groups(
    ctx: &EngineContext,
    f: &UserFn<dyn HostUpdateFn>,
    old: Option<&StateMap>,
    records: Keyed,
) -> Result<StateMap> {
    let empty = StateMap::default();
    let old = old.unwrap_or(&empty);
    let old_len = old.len();
    let mut refs: Vec<&Value> = old.keys().map(|k| &k.value).collect();
    let mut hashes: Vec<i64> = old.keys().map(Key::hash).collect();
    refs.extend(records.iter().map(|(k, _)| &k.value));
    hashes.extend(records.iter().map(|(k, _)| k.hash()));
    let groups = crate::engine::keys::group_hashed(ctx, &refs, hashes)?;
    drop(refs);
    // (key, new values, old state) per group: old keys first, then new keys, first seen.
    let mut items: Vec<(Key, Vec<Value>, Value)> = groups
        .firsts
        .iter()
        .map(|&i| match old.get_index(i) {
            Some((k, s)) if i < old_len => (k.clone(), Vec::new(), s.clone()),
            _ => (records[i - old_len].0.clone(), Vec::new(), Value::None),
        })
        .collect();
    for (j, (_, v)) in records.into_iter().enumerate() {
        items[groups.ids[old_len + j]].1.push(v);
    }
    let native = f.native.as_ref().and_then(|expr| {
        let empty = Value::List(Arc::from(Vec::new()));
        items
            .iter()
            .map(|(_, new, old)| {
                let values = if new.is_empty() {
                    empty.clone()
                } else {
                    Value::List(Arc::from(new.as_slice()))
                };
                expr.eval(&[&values, old])
            })
            .collect::<Result<Vec<_>, Fallback>>()
            .ok()
    });
    let states = match native {
        Some(states) => count_native(true, states),
        None => {
            let args = items
                .iter()
                .map(|(_, new, old)| (new.clone(), old.clone()))
                .collect();
            count_native(false, f.host.update(args)?)
        }
    };
    if states.len() != items.len() {
        return Err(EngineError::Internal(
            "the update function returned the wrong number of states".into(),
        ));
    }
    let mut out = StateMap::with_capacity_and_hasher(items.len(), Default::default());
    for ((k, _, _), s) in items.into_iter().zip(states) {
        if !matches!(s, Value::None) {
            out.insert(k, s);
        }
    }
    Ok(out)
}

/// The native path, in one pass over the old state and the new keys; `Fallback` when any key
/// needs the host (nothing is kept of a partial pass).
fn native_update(
    expr: &Expr,
    old: Option<&StateMap>,
    groups: &KeyMap<Vec<Value>>,
) -> Result<StateMap, Fallback> {
    let empty = Value::List(Arc::from(Vec::new()));
    let values = |new: &Vec<Value>| {
        if new.is_empty() {
            empty.clone()
        } else {
            Value::List(Arc::from(new.as_slice()))
        }
    };
    let old_len = old.map_or(0, |o| o.len());
    let mut out = StateMap::with_capacity_and_hasher(old_len + groups.len(), Default::default());
    let mut taken = vec![false; groups.len()];
    if let Some(old) = old {
        for (k, s) in old {
            let state = match groups.get_index_of(k) {
                Some(i) => {
                    taken[i] = true;
                    expr.eval(&[&values(&groups[i]), s])?
                }
                None => expr.eval(&[&empty, s])?,
            };
            if !matches!(state, Value::None) {
                out.insert(k.clone(), state);
            }
        }
    }
    for (i, (k, new)) in groups.iter().enumerate() {
        if !taken[i] {
            let state = expr.eval(&[&values(new), &Value::None])?;
            if !matches!(state, Value::None) {
                out.insert(k.clone(), state);
            }
        }
    }
    Ok(out)
}

/// The host path: one call for the whole partition.
fn host_update(
    f: &UserFn<dyn HostUpdateFn>,
    old: Option<&StateMap>,
    mut groups: KeyMap<Vec<Value>>,
) -> Result<StateMap> {
    let mut taken = vec![false; groups.len()];
    let mut keys: Vec<Key> = Vec::with_capacity(old.map_or(0, |o| o.len()) + groups.len());
    let mut args: Vec<(Vec<Value>, Value)> = Vec::with_capacity(keys.capacity());
    if let Some(old) = old {
        for (k, s) in old {
            let new = match groups.get_index_of(k) {
                Some(i) => {
                    taken[i] = true;
                    std::mem::take(&mut groups[i])
                }
                None => Vec::new(),
            };
            keys.push(k.clone());
            args.push((new, s.clone()));
        }
    }
    for (i, (k, vs)) in groups.into_iter().enumerate() {
        if !taken[i] {
            keys.push(k);
            args.push((vs, Value::None));
        }
    }
    let states = f.host.update(args)?;
    if states.len() != keys.len() {
        return Err(EngineError::Internal(
            "the update function returned the wrong number of states".into(),
        ));
    }
    let mut out = StateMap::with_capacity_and_hasher(keys.len(), Default::default());
    for (k, s) in keys.into_iter().zip(states) {
        if !matches!(s, Value::None) {
            out.insert(k, s);
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// reduceByKeyAndWindow with an inverse function

/// Below this ratio of window to slide, Spark recomputes the window from its batches instead of
/// updating the previous window ("for small window, reduce once will be better than twice").
pub const INCREMENTAL_RATIO: i64 = 5;

/// The keyed store of an incremental `reduceByKeyAndWindow` stream (Spark's
/// `PythonReducedWindowedDStream` rules). Its parent is the stream of `(key, value)` pairs.
///
/// Every slide's entering batches are reduced once per key into a *delta* (one map per store
/// partition), which is kept while it is in the window: when it leaves, the same delta is taken
/// out with the inverse function (the leaving span of a window is exactly an earlier entering
/// span, since the window is a multiple of the slide). So each batch of the parent is read and
/// bucketed once, and memory holds one reduced map per slide of the window.
pub struct WindowStream {
    pub func: UserFn<dyn HostPairFn>,
    pub inv: UserFn<dyn HostPairFn>,
    pub filter: Option<UserFn<dyn HostPredicate>>,
    pub num_partitions: usize,
    pub window_ms: i64,
    pub description: String,
    /// The last window computed (its time, and None when it had no data).
    current: Progress,
    /// The deltas of the slides still in the window, by the slide's end time.
    deltas: Mutex<std::collections::BTreeMap<i64, Arc<Delta>>>,
}

/// The parent's batches of one slide, reduced per key, per store partition.
pub struct Delta {
    /// How many parent RDDs the slide had (Spark's rules look at RDDs, not records).
    rdds: usize,
    parts: Vec<StateMap>,
}

impl WindowStream {
    pub fn new(
        func: UserFn<dyn HostPairFn>,
        inv: UserFn<dyn HostPairFn>,
        filter: Option<UserFn<dyn HostPredicate>>,
        num_partitions: usize,
        window_ms: i64,
        description: String,
    ) -> Result<WindowStream> {
        if num_partitions == 0 {
            return Err(EngineError::InvalidArgument(
                "numPartitions must be positive".into(),
            ));
        }
        Ok(WindowStream {
            func,
            inv,
            filter,
            num_partitions,
            window_ms,
            description,
            current: Mutex::new(None),
            deltas: Mutex::new(Default::default()),
        })
    }

    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.lock().as_ref().and_then(|(_, s)| s.clone())
    }

    pub fn restore(&self, snapshot: Snapshot) {
        *self.current.lock() = Some((snapshot.time, Some(Arc::new(snapshot))));
    }

    /// The delta of the slide ending at `end` (parent batches in `(end - slide, end]`).
    #[allow(clippy::too_many_arguments)]
    fn delta(
        &self,
        ctx: &Arc<EngineContext>,
        end: i64,
        slide: i64,
        parent_slide: i64,
        zero_time: i64,
        parent: &dyn Fn(i64) -> Result<Option<Arc<Rdd>>>,
    ) -> Result<Arc<Delta>> {
        if let Some(d) = self.deltas.lock().get(&end) {
            return Ok(d.clone());
        }
        let mut batches = Vec::new();
        let mut t = end - slide + parent_slide;
        while t <= end {
            if t > zero_time {
                if let Some(rdd) = parent(t)? {
                    batches.push(bucket(ctx, &rdd, self.num_partitions)?);
                }
            }
            t += parent_slide;
        }
        let rdds = batches.len();
        let parts = ctx.run(|| {
            (0..self.num_partitions)
                .into_par_iter()
                .map(|p| {
                    let records: Vec<&(Key, Value)> = batches.iter().flat_map(|b| &b[p]).collect();
                    reduce_records(&self.func, &records)
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let delta = Arc::new(Delta { rdds, parts });
        self.deltas.lock().insert(end, delta.clone());
        Ok(delta)
    }

    /// The window at `time`. Windows between the last one computed and `time` (after a
    /// recovery) are computed first, in order, so the result is what an uninterrupted run
    /// gives.
    #[allow(clippy::too_many_arguments)]
    pub fn compute(
        &self,
        ctx: &Arc<EngineContext>,
        time: i64,
        slide: i64,
        parent_slide: i64,
        zero_time: i64,
        parent: &dyn Fn(i64) -> Result<Option<Arc<Rdd>>>,
    ) -> Result<Option<Arc<Snapshot>>> {
        catch_up(&self.current, time, slide, zero_time, |t, prev| {
            let step = self.compute_one(ctx, t, slide, parent_slide, zero_time, prev, parent);
            // Deltas that no later window can need.
            let keep_after = t - self.window_ms;
            self.deltas.lock().retain(|end, _| *end > keep_after);
            // After a failure, the next batch recomputes its whole window.
            step.map_err(|e| (e, None))
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn compute_one(
        &self,
        ctx: &Arc<EngineContext>,
        time: i64,
        slide: i64,
        parent_slide: i64,
        zero_time: i64,
        prev: Option<&Arc<Snapshot>>,
        parent: &dyn Fn(i64) -> Result<Option<Arc<Rdd>>>,
    ) -> Result<Option<Arc<Snapshot>>> {
        let w = self.window_ms;
        let delta = |end| self.delta(ctx, end, slide, parent_slide, zero_time, parent);
        match prev {
            Some(prev) if w >= INCREMENTAL_RATIO * slide => {
                // The slide that leaves: (time - slide - w, time - w] (none before the start).
                let old = if time - w > zero_time {
                    Some(delta(time - w)?)
                } else {
                    None
                };
                let new = delta(time)?;
                let parts = ctx.run(|| {
                    (0..self.num_partitions)
                        .into_par_iter()
                        .map(|p| {
                            let mut map = (*prev.parts[p]).clone();
                            if let Some(old) = old.as_ref().filter(|d| d.rdds > 0) {
                                self.subtract(&mut map, &old.parts[p])?;
                            }
                            // As Spark: values are reduced in, and filtered, whenever the
                            // window gained parent RDDs (even empty ones).
                            if new.rdds > 0 {
                                merge_into(&self.func, &mut map, &new.parts[p])?;
                                if let Some(filter) = &self.filter {
                                    apply_filter(filter, &mut map)?;
                                }
                            }
                            Ok(Arc::new(map))
                        })
                        .collect::<Result<Vec<_>>>()
                })?;
                Ok(Some(Arc::new(Snapshot { time, parts })))
            }
            _ => {
                let mut deltas = Vec::new();
                let mut end = time - w + slide;
                while end <= time {
                    if end > zero_time {
                        deltas.push(delta(end)?);
                    }
                    end += slide;
                }
                if deltas.iter().all(|d| d.rdds == 0) {
                    return Ok(None);
                }
                let parts = ctx.run(|| {
                    (0..self.num_partitions)
                        .into_par_iter()
                        .map(|p| {
                            let mut map = StateMap::default();
                            for d in &deltas {
                                merge_into(&self.func, &mut map, &d.parts[p])?;
                            }
                            if let Some(filter) = &self.filter {
                                apply_filter(filter, &mut map)?;
                            }
                            Ok(Arc::new(map))
                        })
                        .collect::<Result<Vec<_>>>()
                })?;
                Ok(Some(Arc::new(Snapshot { time, parts })))
            }
        }
    }

    /// Take a leaving delta out of the keys that have it: `invFunc(current, leaving)`; keys
    /// that are not in the window are ignored (a left outer join).
    fn subtract(&self, map: &mut StateMap, leaving: &StateMap) -> Result<()> {
        let targets: Vec<(usize, &Value, &Value)> = leaving
            .iter()
            .filter_map(|(k, v)| map.get_full(k).map(|(i, _, cur)| (i, cur, v)))
            .collect();
        let results = apply_pairs(&self.inv, &targets)?;
        let slots: Vec<usize> = targets.into_iter().map(|(i, _, _)| i).collect();
        for (i, r) in slots.into_iter().zip(results) {
            map[i] = r;
        }
        Ok(())
    }
}

/// `f(a, b)` for every target, natively when possible, else in one host call.
fn apply_pairs(
    f: &UserFn<dyn HostPairFn>,
    targets: &[(usize, &Value, &Value)],
) -> Result<Vec<Value>> {
    if let Some(expr) = &f.native {
        if let Ok(r) = targets
            .iter()
            .map(|(_, a, b)| expr.eval(&[a, b]))
            .collect::<Result<Vec<_>, Fallback>>()
        {
            return Ok(count_native(true, r));
        }
    }
    let pairs = targets
        .iter()
        .map(|(_, a, b)| ((*a).clone(), (*b).clone()))
        .collect::<Vec<_>>();
    let out = count_native(false, f.host.apply(pairs)?);
    if out.len() != targets.len() {
        return Err(EngineError::Internal(
            "a window function returned the wrong number of values".into(),
        ));
    }
    Ok(out)
}

/// Reduce `records` per key with `f` into a new map (keys in first-seen order).
fn reduce_records(f: &UserFn<dyn HostPairFn>, records: &[&(Key, Value)]) -> Result<StateMap> {
    if let Some(expr) = &f.native {
        let mut map = StateMap::with_capacity_and_hasher(records.len(), Default::default());
        let mut ok = true;
        for (k, v) in records {
            match map.get_index_of(k) {
                Some(i) => match expr.eval(&[&map[i], v]) {
                    Ok(r) => map[i] = r,
                    Err(Fallback) => {
                        ok = false;
                        break;
                    }
                },
                None => {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
        if ok {
            return Ok(count_native(true, map));
        }
    }
    let mut groups: KeyMap<Vec<Value>> = KeyMap::default();
    for (k, v) in records {
        groups.entry(k.clone()).or_default().push(v.clone());
    }
    let (keys, groups): (Vec<Key>, Vec<Vec<Value>>) = groups.into_iter().unzip();
    let reduced = count_native(false, f.host.reduce(groups)?);
    if reduced.len() != keys.len() {
        return Err(EngineError::Internal(
            "a window function returned the wrong number of values".into(),
        ));
    }
    Ok(keys.into_iter().zip(reduced).collect())
}

/// `map[k] = f(map[k], d)` for the keys of `delta` in `map`; the others are appended in
/// `delta`'s order. Nothing changes if `f` fails.
fn merge_into(f: &UserFn<dyn HostPairFn>, map: &mut StateMap, delta: &StateMap) -> Result<()> {
    let targets: Vec<(usize, &Value, &Value)> = delta
        .iter()
        .filter_map(|(k, v)| map.get_full(k).map(|(i, _, cur)| (i, cur, v)))
        .collect();
    let results = apply_pairs(f, &targets)?;
    let slots: Vec<usize> = targets.into_iter().map(|(i, _, _)| i).collect();
    for (i, r) in slots.into_iter().zip(results) {
        map[i] = r;
    }
    for (k, v) in delta {
        if !map.contains_key(k) {
            map.insert(k.clone(), v.clone());
        }
    }
    Ok(())
}

fn apply_filter(f: &UserFn<dyn HostPredicate>, map: &mut StateMap) -> Result<()> {
    let pairs: Vec<Value> = map
        .iter()
        .map(|(k, v)| Value::pair(k.value.clone(), v.clone()))
        .collect();
    let keep: Vec<bool> = match &f.native {
        Some(expr) => match pairs
            .iter()
            .map(|kv| expr.eval(&[kv]).and_then(|r| r.truthy().ok_or(Fallback)))
            .collect::<Result<Vec<_>, Fallback>>()
        {
            Ok(k) => count_native(true, k),
            Err(Fallback) => count_native(false, f.host.test(pairs)?),
        },
        None => f.host.test(pairs)?,
    };
    if keep.len() != map.len() {
        return Err(EngineError::Internal(
            "the filter function returned the wrong number of results".into(),
        ));
    }
    let mut it = keep.into_iter();
    map.retain(|_, _| it.next().unwrap_or(false));
    Ok(())
}

/// Count a native update of a partition, or its hand-over to the host fallback
/// (`_native.native_stats`), and pass its result through.
fn count_native<T>(native: bool, result: T) -> T {
    crate::engine::step::count_native(native);
    result
}
