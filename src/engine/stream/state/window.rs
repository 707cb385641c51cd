//! `reduceByKeyAndWindow` with an inverse function: a keyed window kept incrementally.

use std::sync::Arc;

use parking_lot::Mutex;

use super::{
    bucket, catch_up, count_host, count_native, HostPairFn, HostPredicate, Progress, Snapshot,
    StateMap, UserFn,
};
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::expr::{Expr, Fallback};
use crate::engine::host::PartitionFn;
use crate::engine::rdd::Rdd;
use crate::engine::step::{NativeKind, Step};
use crate::engine::value::{Key, KeyMap, Value};

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
                    let rdd = combined_per_partition(ctx, &rdd, &self.func);
                    batches.push(bucket(ctx, &rdd, self.num_partitions)?);
                }
            }
            t += parent_slide;
        }
        let rdds = batches.len();
        let parts = ctx.map_tasks(self.num_partitions, |p| {
            let records: Vec<&(Key, Value)> = batches.iter().flat_map(|b| &b[p]).collect();
            reduce_records(&self.func, &records)
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
        catch_up(&self.current, time, slide, zero_time, |t, store| {
            // The previous window is handed over: its partitions are updated in place where
            // nothing else holds them.
            let prev = store.take();
            let step = self.compute_one(ctx, t, slide, parent_slide, zero_time, prev, parent);
            // Deltas that no later window can need.
            let keep_after = t - self.window_ms;
            self.deltas.lock().retain(|end, _| *end > keep_after);
            // After a failure, the next batch recomputes its whole window.
            *store = step.as_ref().ok().cloned().flatten();
            step.map(drop)
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
        prev: Option<Arc<Snapshot>>,
        parent: &dyn Fn(i64) -> Result<Option<Arc<Rdd>>>,
    ) -> Result<Option<Arc<Snapshot>>> {
        let w = self.window_ms;
        let delta = |end| self.delta(ctx, end, slide, parent_slide, zero_time, parent);
        // Incremental: the previous window, minus the slide that left it
        // `(time - slide - w, time - w]` (none before the start), plus the slide that entered.
        // Otherwise the window is reduced from all its slides.
        let (start, leaving, entering) = match prev {
            Some(prev) if w >= INCREMENTAL_RATIO * slide => {
                let leaving = if time - w > zero_time {
                    Some(delta(time - w)?)
                } else {
                    None
                };
                (Some(prev), leaving, vec![delta(time)?])
            }
            _ => {
                let mut all = Vec::new();
                let mut end = time - w + slide;
                while end <= time {
                    if end > zero_time {
                        all.push(delta(end)?);
                    }
                    end += slide;
                }
                if all.iter().all(|d| d.rdds == 0) {
                    return Ok(None);
                }
                (None, None, all)
            }
        };
        // As Spark: values are reduced in, and filtered, whenever the window gained parent
        // RDDs (even empty ones).
        let gained = entering.iter().any(|d| d.rdds > 0);
        let leaving = leaving.filter(|d| d.rdds > 0);
        let starts: Vec<Option<Arc<StateMap>>> = match start {
            Some(s) => Arc::try_unwrap(s)
                .map_or_else(|s| s.parts.clone(), |s| s.parts)
                .into_iter()
                .map(Some)
                .collect(),
            None => vec![None; self.num_partitions],
        };
        let parts = ctx.map_items(starts, |p, start| {
            let mut map = start.map(Arc::unwrap_or_clone).unwrap_or_default();
            if gained {
                // Room for every entering key: the map grows once, not key by key.
                map.reserve(entering.iter().map(|d| d.parts[p].len()).sum());
            }
            if let Some(old) = &leaving {
                apply_to_present(&self.inv, &mut map, &old.parts[p])?;
            }
            if gained {
                for d in &entering {
                    merge_into(&self.func, &mut map, &d.parts[p])?;
                }
                if let Some(filter) = &self.filter {
                    apply_filter(filter, &mut map)?;
                }
            }
            Ok(Arc::new(map))
        })?;
        Ok(Some(Arc::new(Snapshot { time, parts })))
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
    let out = count_host(f, f.host.apply(pairs)?);
    if out.len() != targets.len() {
        return Err(EngineError::Internal(
            "a window function returned the wrong number of values".into(),
        ));
    }
    Ok(out)
}

/// A batch's pairs reduced per key within each partition before they are shuffled into the
/// window's partitioning (as Spark's `reduceByKeyAndWindow` reduces each batch first): a slide
/// moves one record per key and partition, not one per input pair. Natively when `f` is
/// native; a partition the native combine cannot handle is reduced by the host function.
fn combined_per_partition(
    ctx: &Arc<EngineContext>,
    rdd: &Arc<Rdd>,
    f: &UserFn<dyn HostPairFn>,
) -> Arc<Rdd> {
    let Some(expr) = &f.native else {
        return rdd.clone();
    };
    rdd.with_step(Step::Native {
        kind: NativeKind::Combine,
        expr: expr.clone(),
        fallback: Arc::new(HostCombine {
            ctx: ctx.clone(),
            f: f.host.clone(),
        }),
    })
}

/// A partition's `(key, value)` pairs reduced per key by the host function (keys in
/// first-seen order): the fallback of [`combined_per_partition`]'s native combine.
struct HostCombine {
    ctx: Arc<EngineContext>,
    f: Arc<dyn HostPairFn>,
}

impl PartitionFn for HostCombine {
    fn call(&self, _split: usize, input: Vec<Value>) -> Result<Vec<Value>> {
        let (keys, groups): (Vec<Value>, Vec<Vec<Value>>) =
            crate::engine::keys::group_pairs(&self.ctx, &input)?
                .into_iter()
                .unzip();
        let reduced = self.f.reduce(groups)?;
        if reduced.len() != keys.len() {
            return Err(EngineError::Internal(
                "a window function returned the wrong number of values".into(),
            ));
        }
        Ok(keys
            .into_iter()
            .zip(reduced)
            .map(|(k, v)| Value::pair(k, v))
            .collect())
    }
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
    let reduced = count_host(f, f.host.reduce(groups)?);
    if reduced.len() != keys.len() {
        return Err(EngineError::Internal(
            "a window function returned the wrong number of values".into(),
        ));
    }
    Ok(keys.into_iter().zip(reduced).collect())
}

/// `map[k] = f(map[k], d)` for the keys of `delta` that are in `map`; the others are ignored
/// (for the inverse function: a left outer join). Nothing changes if `f` fails.
fn apply_to_present(
    f: &UserFn<dyn HostPairFn>,
    map: &mut StateMap,
    delta: &StateMap,
) -> Result<()> {
    let targets: Vec<(usize, &Value, &Value)> = delta
        .iter()
        .filter_map(|(k, v)| map.get_full(k).map(|(i, _, cur)| (i, cur, v)))
        .collect();
    let results = apply_pairs(f, &targets)?;
    let slots: Vec<usize> = targets.into_iter().map(|(i, _, _)| i).collect();
    for (i, r) in slots.into_iter().zip(results) {
        map[i] = r;
    }
    Ok(())
}

/// [`apply_to_present`], then the keys of `delta` not in `map` are appended in `delta`'s
/// order.
fn merge_into(f: &UserFn<dyn HostPairFn>, map: &mut StateMap, delta: &StateMap) -> Result<()> {
    // Natively: a key already in the map is looked up once, a new one twice (find, insert).
    if let Some(expr) = &f.native {
        if merge_native(expr, map, delta) {
            crate::engine::step::count_native(true);
            return Ok(());
        }
    }
    apply_to_present(f, map, delta)?;
    for (k, v) in delta {
        if !map.contains_key(k) {
            map.insert(k.clone(), v.clone());
        }
    }
    Ok(())
}

/// [`merge_into`] with a native function; false (and `map` untouched) when a value needs the
/// host.
fn merge_native(expr: &Expr, map: &mut StateMap, delta: &StateMap) -> bool {
    // Every new value is computed before anything is written.
    let mut updates: Vec<(usize, Value)> = Vec::new();
    let mut fresh: Vec<usize> = Vec::new();
    for (j, (k, v)) in delta.iter().enumerate() {
        match map.get_full(k) {
            Some((i, _, cur)) => match expr.eval(&[cur, v]) {
                Ok(r) => updates.push((i, r)),
                Err(Fallback) => return false,
            },
            None => fresh.push(j),
        }
    }
    for (i, r) in updates {
        map[i] = r;
    }
    for j in fresh {
        if let Some((k, v)) = delta.get_index(j) {
            map.insert(k.clone(), v.clone());
        }
    }
    true
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
