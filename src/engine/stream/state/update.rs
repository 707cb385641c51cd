//! `updateStateByKey`: every key with a state or new values gets `updateFunc(new, old)`.

use std::sync::Arc;

use parking_lot::Mutex;

use super::{
    bucket, catch_up, count_host, count_native, relabel, HostUpdateFn, Keyed, Progress, Snapshot,
    StateMap, UserFn,
};
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::expr::{Expr, Fallback};
use crate::engine::rdd::Rdd;
use crate::engine::value::{Key, KeyMap, Value};

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
        let parts: Vec<Arc<StateMap>> = ctx.map_items(batch, |p, records| {
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
        })?;
        Ok(Arc::new(Snapshot { time, parts }))
    }
}

/// An initial state partition; for a key given twice the first value is kept.
fn first_wins(records: &Keyed) -> StateMap {
    let mut map = StateMap::default();
    for (k, v) in records {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
    map
}

/// `(key, new values, old state)` of every key a batch updates.
type Items = Vec<(Key, Vec<Value>, Value)>;

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
        return evaluate(f, items_by_host_equality(ctx, old, records)?);
    }
    if let Some(expr) = f.native.as_ref().filter(|e| e.reads_arg0_only_as_sum()) {
        if let Some(out) = summed_update(expr, old, &records) {
            return Ok(count_native(true, out));
        }
    }
    let mut groups: KeyMap<Vec<Value>> =
        KeyMap::with_capacity_and_hasher(records.len(), Default::default());
    for (k, v) in records {
        groups.entry(k).or_default().push(v);
    }
    if let Some(expr) = &f.native {
        let lists = ValueLists::new();
        if let Ok(out) = native_update(expr, old, &groups, |new| lists.of(new)) {
            return Ok(count_native(true, out));
        }
    }
    // The items of the native one-pass path, for the host.
    let empty = StateMap::default();
    let old = old.unwrap_or(&empty);
    let mut taken = vec![false; groups.len()];
    let mut items: Items = Vec::with_capacity(old.len() + groups.len());
    for (k, s) in old {
        let new = match groups.get_index_of(k) {
            Some(i) => {
                taken[i] = true;
                std::mem::take(&mut groups[i])
            }
            None => Vec::new(),
        };
        items.push((k.clone(), new, s.clone()));
    }
    for (i, (k, vs)) in groups.into_iter().enumerate() {
        if !taken[i] {
            items.push((k, vs, Value::None));
        }
    }
    let states = count_host(f, host_states(f, &items)?);
    Ok(into_store(items, states))
}

/// The items of a partition whose keys are host objects: the old keys and the batch's keys are
/// matched under the host's equality in one host call for the partition, not per lookup.
fn items_by_host_equality(
    ctx: &EngineContext,
    old: Option<&StateMap>,
    records: Keyed,
) -> Result<Items> {
    let empty = StateMap::default();
    let old = old.unwrap_or(&empty);
    let old_len = old.len();
    let mut refs: Vec<&Value> = old.keys().map(|k| &k.value).collect();
    let mut hashes: Vec<i64> = old.keys().map(Key::hash).collect();
    refs.extend(records.iter().map(|(k, _)| &k.value));
    hashes.extend(records.iter().map(|(k, _)| k.hash()));
    let groups = crate::engine::keys::group_hashed(ctx, &refs, hashes)?;
    drop(refs);
    // One item per group: old keys first, then new keys, first seen.
    let mut items: Items = groups
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
    Ok(items)
}

/// The new states of `items`: natively when the function is proven and every item allows it,
/// else in one host call.
fn evaluate(f: &UserFn<dyn HostUpdateFn>, items: Items) -> Result<StateMap> {
    let native = f.native.as_ref().and_then(|expr| {
        let lists = ValueLists::new();
        items
            .iter()
            .map(|(_, new, old)| expr.eval(&[&lists.of(new), old]))
            .collect::<Result<Vec<_>, Fallback>>()
            .ok()
    });
    let states = match native {
        Some(states) => count_native(true, states),
        None => count_host(f, host_states(f, &items)?),
    };
    Ok(into_store(items, states))
}

/// `update(new_values, old_state)` of every item, in one host call.
fn host_states(f: &UserFn<dyn HostUpdateFn>, items: &Items) -> Result<Vec<Value>> {
    let args = items
        .iter()
        .map(|(_, new, old)| (new.clone(), old.clone()))
        .collect();
    let states = f.host.update(args)?;
    if states.len() != items.len() {
        return Err(EngineError::Internal(
            "the update function returned the wrong number of states".into(),
        ));
    }
    Ok(states)
}

/// The store of the items' keys with their new states (None removes a key).
fn into_store(items: Items, states: Vec<Value>) -> StateMap {
    let mut out = StateMap::with_capacity_and_hasher(items.len(), Default::default());
    for ((k, _, _), s) in items.into_iter().zip(states) {
        if !matches!(s, Value::None) {
            out.insert(k, s);
        }
    }
    out
}

/// A key's new values as the Python list the update function gets (one shared empty list).
struct ValueLists {
    empty: Value,
}

impl ValueLists {
    fn new() -> ValueLists {
        ValueLists {
            empty: Value::List(Arc::from(Vec::new())),
        }
    }

    fn of(&self, new: &[Value]) -> Value {
        if new.is_empty() {
            self.empty.clone()
        } else {
            Value::List(Arc::from(new))
        }
    }
}

/// The native path, in one pass over the old state and the new keys (`new(group)` is the
/// list of a key's new values the function gets); `Fallback` when any key needs the host
/// (nothing is kept of a partial pass).
fn native_update<T>(
    expr: &Expr,
    old: Option<&StateMap>,
    groups: &KeyMap<T>,
    new: impl Fn(&T) -> Value,
) -> Result<StateMap, Fallback> {
    let empty = ValueLists::new().empty;
    let old_len = old.map_or(0, |o| o.len());
    let mut out = StateMap::with_capacity_and_hasher(old_len + groups.len(), Default::default());
    let mut taken = vec![false; groups.len()];
    if let Some(old) = old {
        for (k, s) in old {
            let state = match groups.get_index_of(k) {
                Some(i) => {
                    taken[i] = true;
                    expr.eval(&[&new(&groups[i]), s])?
                }
                None => expr.eval(&[&empty, s])?,
            };
            if !matches!(state, Value::None) {
                out.insert(k.clone(), state);
            }
        }
    }
    for (i, (k, group)) in groups.iter().enumerate() {
        if !taken[i] {
            let state = expr.eval(&[&new(group), &Value::None])?;
            if !matches!(state, Value::None) {
                out.insert(k.clone(), state);
            }
        }
    }
    Ok(out)
}

/// The native path for a function that reads the new values only through their sum
/// ([`Expr::reads_arg0_only_as_sum`]): each key's int (or bool) values are added up as they
/// come, with no list of them kept, and the function gets the one-item list `[sum]`, whose
/// sum is the same exact int. None (nothing kept) when a value is not an int or bool, or a
/// sum overflows: the general path then runs.
fn summed_update(expr: &Expr, old: Option<&StateMap>, records: &Keyed) -> Option<StateMap> {
    let mut sums: KeyMap<i64> = KeyMap::with_capacity_and_hasher(records.len(), Default::default());
    for (k, v) in records {
        let x = match v {
            Value::Int(i) => *i,
            Value::Bool(b) => i64::from(*b),
            _ => return None,
        };
        match sums.get_index_of(k) {
            Some(i) => sums[i] = sums[i].checked_add(x)?,
            None => {
                sums.insert(k.clone(), x);
            }
        }
    }
    native_update(expr, old, &sums, |s| {
        Value::List(Arc::from([Value::Int(*s)]))
    })
    .ok()
}
