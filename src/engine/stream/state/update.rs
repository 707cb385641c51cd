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
        catch_up(&self.current, time, slide, zero_time, |t, store| {
            match parent(t) {
                Ok(Some(rdd)) => self.apply(ctx, t, store, &rdd),
                // No parent RDD: the state stays as it was (none before the first batch, even
                // with an initial RDD), as Spark's StateDStream.
                Ok(None) => {
                    relabel_in(store, t);
                    Ok(())
                }
                // A failed batch keeps the state as it was; the next batch goes on from it.
                Err(e) => {
                    relabel_in(store, t);
                    Err(e)
                }
            }
        })
    }

    /// The store at `time`: `store` (the one before it) with the batch applied. Each partition
    /// is worked out in full first; only then are the store's partitions changed, in place
    /// where nothing else holds them (an RDD of an earlier batch still being read keeps its
    /// own). On failure `store` is left as it was, labelled `time`.
    fn apply(
        &self,
        ctx: &Arc<EngineContext>,
        time: i64,
        store: &mut Option<Arc<Snapshot>>,
        batch: &Arc<Rdd>,
    ) -> Result<()> {
        let n = self.num_partitions;
        let had_state = store.is_some();
        let parts: Vec<Arc<StateMap>> = match store.take() {
            Some(prev) => Arc::try_unwrap(prev).map_or_else(|s| s.parts.clone(), |s| s.parts),
            None => (0..n).map(|_| Arc::default()).collect(),
        };
        let changes = self.changes(ctx, had_state.then_some(&parts[..]), batch);
        let changes = match changes {
            Ok(changes) => changes,
            Err(e) => {
                *store = had_state.then(|| Arc::new(Snapshot { time, parts }));
                return Err(e);
            }
        };
        let items: Vec<_> = parts.into_iter().zip(changes).collect();
        let parts = ctx.map_items(items, |_, (mut part, change)| {
            Ok(match change {
                Change::Replace(map) => Arc::new(map),
                Change::InPlace { states, fresh } => {
                    write_in_place(Arc::make_mut(&mut part), states, fresh);
                    part
                }
            })
        })?;
        *store = Some(Arc::new(Snapshot { time, parts }));
        Ok(())
    }

    /// What the batch does to each partition of the store (`prev`: None before the first
    /// batch). Nothing is changed yet.
    fn changes(
        &self,
        ctx: &Arc<EngineContext>,
        prev: Option<&[Arc<StateMap>]>,
        batch: &Arc<Rdd>,
    ) -> Result<Vec<Change>> {
        let n = self.num_partitions;
        let batch = bucket(ctx, batch, n)?;
        let initial = match (prev, &self.initial) {
            (None, Some(rdd)) => Some(bucket(ctx, rdd, n)?),
            _ => None,
        };
        ctx.map_items(batch, |p, records| match (prev, &initial) {
            // Nothing else holds a partition the store alone refers to: it changes in place.
            (Some(parts), _) => {
                let in_place = Arc::strong_count(&parts[p]) == 1;
                update_partition(ctx, &self.update, Some(&parts[p]), records, in_place)
            }
            (None, Some(init)) => {
                let from_initial = first_wins(&init[p]);
                update_partition(ctx, &self.update, Some(&from_initial), records, false)
            }
            (None, None) => update_partition(ctx, &self.update, None, records, false),
        })
    }
}

/// `store` relabelled as the store at `time` (the same partitions).
fn relabel_in(store: &mut Option<Arc<Snapshot>>, time: i64) {
    if let Some(s) = store.take() {
        *store = Some(match Arc::try_unwrap(s) {
            Ok(mut s) => {
                s.time = time;
                Arc::new(s)
            }
            Err(shared) => relabel(&shared, time),
        });
    }
}

/// The new states of a partition's keys, in order, and its new keys with their states.
type NewStates = (Vec<Value>, Vec<(Key, Value)>);

/// What a batch does to one partition of the store.
enum Change {
    /// The partition's keys take `states`, in order (None removes a key), then the keys of
    /// `fresh` are appended.
    InPlace {
        states: Vec<Value>,
        fresh: Vec<(Key, Value)>,
    },
    /// The partition is replaced.
    Replace(StateMap),
}

impl Change {
    /// The change that gives `old`'s keys `states` (in order) and appends `fresh`: in place,
    /// or as a new partition.
    fn new(
        old: Option<&StateMap>,
        states: Vec<Value>,
        fresh: Vec<(Key, Value)>,
        in_place: bool,
    ) -> Change {
        if in_place {
            return Change::InPlace { states, fresh };
        }
        let mut out =
            StateMap::with_capacity_and_hasher(states.len() + fresh.len(), Default::default());
        if let Some(old) = old {
            for (k, s) in old.keys().zip(states) {
                if !matches!(s, Value::None) {
                    out.insert(k.clone(), s);
                }
            }
        }
        out.extend(fresh);
        Change::Replace(out)
    }
}

/// [`Change::InPlace`] applied to `map`.
fn write_in_place(map: &mut StateMap, states: Vec<Value>, fresh: Vec<(Key, Value)>) {
    let mut removed = false;
    for (slot, state) in map.values_mut().zip(states) {
        removed |= matches!(state, Value::None);
        *slot = state;
    }
    if removed {
        map.retain(|_, v| !matches!(v, Value::None));
    }
    // Grown by an eighth at least, not as `IndexMap::reserve` grows it (its entries to the
    // capacity of its index: up to twice the keys held, for a store that lives on).
    if fresh.len() > map.capacity() - map.len() {
        map.reserve_exact(fresh.len().max(map.len() / 8));
    }
    map.extend(fresh);
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
/// in their order, then new keys in the order they first appear. `in_place`: the change may
/// be written into `old` (else the partition is replaced).
fn update_partition(
    ctx: &EngineContext,
    f: &UserFn<dyn HostUpdateFn>,
    old: Option<&StateMap>,
    records: Keyed,
    in_place: bool,
) -> Result<Change> {
    let host_keys = records.iter().any(|(k, _)| k.value.has_host())
        || old.is_some_and(|o| o.keys().any(|k| k.value.has_host()));
    if host_keys {
        let items = items_by_host_equality(ctx, old, records)?;
        return evaluate(f, items).map(Change::Replace);
    }
    if let Some(expr) = f.native.as_ref().filter(|e| e.reads_arg0_only_as_sum()) {
        if let Some((states, fresh)) = summed_update(expr, old, &records) {
            return Ok(count_native(
                true,
                Change::new(old, states, fresh, in_place),
            ));
        }
    }
    let mut groups: KeyMap<Vec<Value>> =
        KeyMap::with_capacity_and_hasher(records.len(), Default::default());
    for (k, v) in records {
        groups.entry(k).or_default().push(v);
    }
    if let Some(expr) = &f.native {
        let lists = ValueLists::new();
        if let Ok((states, fresh)) = native_update(expr, old, &groups, |new| lists.of(new)) {
            return Ok(count_native(
                true,
                Change::new(old, states, fresh, in_place),
            ));
        }
    }
    // The items of the native one-pass path, for the host: the old keys in order, then the
    // new ones.
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
    let mut states = count_host(f, host_states(f, &items)?);
    let fresh = items
        .drain(old.len()..)
        .zip(states.drain(old.len()..))
        .filter(|(_, s)| !matches!(s, Value::None))
        .map(|((k, _, _), s)| (k, s))
        .collect();
    Ok(Change::new(Some(old), states, fresh, in_place))
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
/// list of a key's new values the function gets): the new state of every old key, in order,
/// and the new keys with their states (those whose state is None left out); `Fallback` when
/// any key needs the host (nothing is kept of a partial pass).
fn native_update<T>(
    expr: &Expr,
    old: Option<&StateMap>,
    groups: &KeyMap<T>,
    new: impl Fn(&T) -> Value,
) -> Result<NewStates, Fallback> {
    let empty = ValueLists::new().empty;
    let mut taken = vec![false; groups.len()];
    let mut states = Vec::with_capacity(old.map_or(0, |o| o.len()));
    for (k, s) in old.into_iter().flatten() {
        let state = match groups.get_index_of(k) {
            Some(i) => {
                taken[i] = true;
                expr.eval(&[&new(&groups[i]), s])?
            }
            None => expr.eval(&[&empty, s])?,
        };
        states.push(state);
    }
    let mut fresh = Vec::with_capacity(groups.len() - states.len().min(groups.len()));
    for (i, (k, group)) in groups.iter().enumerate() {
        if !taken[i] {
            let state = expr.eval(&[&new(group), &Value::None])?;
            if !matches!(state, Value::None) {
                fresh.push((k.clone(), state));
            }
        }
    }
    Ok((states, fresh))
}

/// The native path for a function that reads the new values only through their sum
/// ([`Expr::reads_arg0_only_as_sum`]): each key's int (or bool) values are added up as they
/// come, with no list of them kept, and the function gets the one-item list `[sum]`, whose
/// sum is the same exact int. None (nothing kept) when a value is not an int or bool, or a
/// sum overflows: the general path then runs.
fn summed_update(expr: &Expr, old: Option<&StateMap>, records: &Keyed) -> Option<NewStates> {
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
