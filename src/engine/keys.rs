//! Keys of a partition, hashed and grouped in bulk.
//!
//! Native keys are hashed (PySpark's `portable_hash`) and compared (Python's `==`) here,
//! without the host. Keys that are or contain host objects are hashed in one host call for
//! the whole partition, and compared in at most one more (only those that share a hash with
//! a host key): never one call per record.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::value::{Key, KeyBuildHasher, Value};

/// PySpark's `portable_hash` of every key.
pub fn hash_keys(ctx: &EngineContext, keys: &[&Value]) -> Result<Vec<i64>> {
    let mut hashes = Vec::with_capacity(keys.len());
    let mut host_at = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if k.has_host() {
            host_at.push(i);
            hashes.push(0);
        } else {
            hashes.push(k.portable_hash()?);
        }
    }
    if !host_at.is_empty() {
        let host_keys: Vec<&Value> = host_at.iter().map(|&i| keys[i]).collect();
        let host_hashes = match ctx.host_runtime() {
            Some(rt) => rt.hash_keys(&host_keys)?,
            None => host_keys
                .iter()
                .map(|k| k.portable_hash())
                .collect::<Result<_>>()?,
        };
        if host_hashes.len() != host_at.len() {
            return Err(EngineError::Internal(
                "host returned the wrong number of hashes".into(),
            ));
        }
        for (i, h) in host_at.into_iter().zip(host_hashes) {
            hashes[i] = h;
        }
    }
    Ok(hashes)
}

/// [`Key`]s of `values`, their portable hashes computed in bulk (one host call for all the
/// host keys): for stores keyed by [`Key`] (e.g. keyed state), instead of `Key::new` per
/// record. Equality of host keys inside such a store still asks the host per comparison;
/// [`group_keys`] compares them in bulk.
pub fn to_keys(ctx: &EngineContext, values: Vec<Value>) -> Result<Vec<Key>> {
    let refs: Vec<&Value> = values.iter().collect();
    let hashes = hash_keys(ctx, &refs)?;
    drop(refs);
    Ok(values
        .into_iter()
        .zip(hashes)
        .map(|(v, h)| Key::with_hash(h, v))
        .collect())
}

/// A borrowed native key with its hash, compared with Python's `==`.
struct KRef<'a> {
    hash: i64,
    value: &'a Value,
}

impl PartialEq for KRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.value.py_eq(other.value)
    }
}

impl Eq for KRef<'_> {}

impl Hash for KRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_i64(self.hash);
    }
}

/// The keys of a partition grouped under Python's equality, groups in first-seen order.
pub struct KeyGroups {
    /// `portable_hash` of every key.
    pub hashes: Vec<i64>,
    /// The group of every key (`0..count`, numbered in order of first appearance).
    pub ids: Vec<usize>,
    /// The index of the first key of each group.
    pub firsts: Vec<usize>,
}

impl KeyGroups {
    pub fn count(&self) -> usize {
        self.firsts.len()
    }
}

/// Group `keys` by Python's equality (`1 == 1.0 == True`, host objects with their `__eq__`).
pub fn group_keys(ctx: &EngineContext, keys: &[&Value]) -> Result<KeyGroups> {
    let hashes = hash_keys(ctx, keys)?;
    group_hashed(ctx, keys, hashes)
}

/// [`group_keys`] with the hashes already computed.
pub fn group_hashed(ctx: &EngineContext, keys: &[&Value], hashes: Vec<i64>) -> Result<KeyGroups> {
    let n = keys.len();
    // Host keys, and native keys whose hash a host key shares, are compared by the host.
    let host_hashes: std::collections::HashSet<i64> = keys
        .iter()
        .zip(&hashes)
        .filter(|(k, _)| k.has_host())
        .map(|(_, &h)| h)
        .collect();
    let mut by_host: Vec<usize> = Vec::new();
    let mut host_rep: Vec<usize> = Vec::new();
    if !host_hashes.is_empty() {
        let candidates: Vec<usize> = (0..n)
            .filter(|&i| host_hashes.contains(&hashes[i]))
            .collect();
        let cand_keys: Vec<&Value> = candidates.iter().map(|&i| keys[i]).collect();
        let firsts = match ctx.host_runtime() {
            Some(rt) => rt.first_equal(&cand_keys)?,
            None => first_equal_slow(&cand_keys),
        };
        if firsts.len() != candidates.len() {
            return Err(EngineError::Internal(
                "host returned the wrong number of key classes".into(),
            ));
        }
        host_rep = vec![usize::MAX; n];
        for (pos, &i) in candidates.iter().enumerate() {
            let rep = firsts[pos];
            host_rep[i] = candidates.get(rep).copied().unwrap_or(i);
        }
        by_host = candidates;
    }
    let mut ids = vec![0usize; n];
    let mut firsts = Vec::new();
    let mut native: HashMap<KRef<'_>, usize, KeyBuildHasher> = HashMap::default();
    let mut group_of_rep: HashMap<usize, usize> = HashMap::new();
    for i in 0..n {
        let id = if !by_host.is_empty() && host_rep[i] != usize::MAX {
            let rep = host_rep[i];
            *group_of_rep.entry(rep).or_insert_with(|| {
                firsts.push(i);
                firsts.len() - 1
            })
        } else {
            let next = firsts.len();
            let id = *native
                .entry(KRef {
                    hash: hashes[i],
                    value: keys[i],
                })
                .or_insert(next);
            if id == next {
                firsts.push(i);
            }
            id
        };
        ids[i] = id;
    }
    Ok(KeyGroups {
        hashes,
        ids,
        firsts,
    })
}

/// Native keys (no host objects: see [`Value::has_host`]) tallied under Python's equality:
/// for each distinct key, in first-seen order, the index of its first occurrence and the sum
/// of `weight(i)` over its occurrences. `hashes[i]` is the portable hash of `keys[i]`.
pub fn tally_native(
    keys: &[&Value],
    hashes: &[i64],
    weight: impl Fn(usize) -> i64,
) -> Vec<(usize, i64)> {
    let mut slots: HashMap<KRef<'_>, usize, KeyBuildHasher> =
        HashMap::with_capacity_and_hasher(keys.len().min(1 << 16), KeyBuildHasher::default());
    let mut out: Vec<(usize, i64)> = Vec::new();
    for (i, (key, &hash)) in keys.iter().zip(hashes).enumerate() {
        let next = out.len();
        let slot = *slots.entry(KRef { hash, value: key }).or_insert(next);
        if slot == next {
            out.push((i, weight(i)));
        } else {
            out[slot].1 += weight(i);
        }
    }
    out
}

/// Without a host runtime (pure-Rust use): compare with the host objects' own methods.
fn first_equal_slow(keys: &[&Value]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let rep = (0..i)
            .find(|&j| out[j] == j && keys[j].py_eq(k))
            .unwrap_or(i);
        out.push(rep);
    }
    out
}

/// Split `(key, value)` records.
pub fn split_pairs(records: &[Value]) -> Result<Vec<(&Value, &Value)>> {
    records.iter().map(Value::as_pair).collect()
}

/// Group `(k, v)` records by key: `(k, [v, ...])` in first-seen key order.
pub fn group_pairs(ctx: &EngineContext, records: &[Value]) -> Result<Vec<(Value, Vec<Value>)>> {
    group_pairs_hashed(ctx, records, None)
}

/// [`group_pairs`], with the keys' portable hashes when they are known (a hash shuffle
/// computed them).
pub fn group_pairs_hashed(
    ctx: &EngineContext,
    records: &[Value],
    hashes: Option<Vec<i64>>,
) -> Result<Vec<(Value, Vec<Value>)>> {
    let pairs = split_pairs(records)?;
    let keys: Vec<&Value> = pairs.iter().map(|(k, _)| *k).collect();
    let groups = match hashes {
        Some(h) if h.len() == keys.len() => group_hashed(ctx, &keys, h)?,
        _ => group_keys(ctx, &keys)?,
    };
    let mut out: Vec<(Value, Vec<Value>)> = groups
        .firsts
        .iter()
        .map(|&i| (keys[i].clone(), Vec::new()))
        .collect();
    for ((_, v), id) in pairs.iter().zip(&groups.ids) {
        out[*id].1.push((*v).clone());
    }
    Ok(out)
}

/// Group the `(k, v)` records of several inputs together: for each key (first-seen order over
/// the inputs in turn), its values in each input.
pub fn cogroup_pairs(
    ctx: &EngineContext,
    sides: &[Vec<Value>],
) -> Result<Vec<(Value, Vec<Vec<Value>>)>> {
    cogroup_pairs_hashed(ctx, sides, &[])
}

/// [`cogroup_pairs`], with the keys' portable hashes of the sides whose hashes are known
/// (`hashes[s]`; missing or None: hashed here, all such sides in one bulk call).
pub fn cogroup_pairs_hashed(
    ctx: &EngineContext,
    sides: &[Vec<Value>],
    hashes: &[Option<Vec<i64>>],
) -> Result<Vec<(Value, Vec<Vec<Value>>)>> {
    let width = sides.len();
    let mut keys: Vec<&Value> = Vec::new();
    let mut tagged: Vec<(usize, &Value)> = Vec::new();
    for (side, records) in sides.iter().enumerate() {
        for r in records {
            let (k, v) = r.as_pair()?;
            keys.push(k);
            tagged.push((side, v));
        }
    }
    let known = |side: usize| {
        hashes
            .get(side)
            .and_then(Option::as_ref)
            .filter(|h| h.len() == sides[side].len())
    };
    let groups = if (0..width).any(|s| known(s).is_some()) {
        // The sides without hashes, hashed together; then every side's hashes in order.
        let missing: Vec<&Value> = keys
            .iter()
            .zip(&tagged)
            .filter(|(_, (side, _))| known(*side).is_none())
            .map(|(k, _)| *k)
            .collect();
        let mut computed = hash_keys(ctx, &missing)?.into_iter();
        drop(missing);
        let mut all = Vec::with_capacity(keys.len());
        for (side, records) in sides.iter().enumerate() {
            match known(side) {
                Some(h) => all.extend_from_slice(h),
                None => all.extend(computed.by_ref().take(records.len())),
            }
        }
        group_hashed(ctx, &keys, all)?
    } else {
        group_keys(ctx, &keys)?
    };
    let mut out: Vec<(Value, Vec<Vec<Value>>)> = groups
        .firsts
        .iter()
        .map(|&i| (keys[i].clone(), vec![Vec::new(); width]))
        .collect();
    for ((side, v), id) in tagged.into_iter().zip(&groups.ids) {
        out[*id].1[side].push(v.clone());
    }
    Ok(out)
}

/// The distinct values of a partition (first occurrence kept, in order).
pub fn distinct_values(ctx: &EngineContext, records: Vec<Value>) -> Result<Vec<Value>> {
    let refs: Vec<&Value> = records.iter().collect();
    let groups = group_keys(ctx, &refs)?;
    let keep: Vec<usize> = groups.firsts;
    let mut records: Vec<Option<Value>> = records.into_iter().map(Some).collect();
    Ok(keep.into_iter().filter_map(|i| records[i].take()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn groups_follow_python_equality() {
        let ctx = EngineContext::new(1).unwrap();
        let keys = [
            Value::Int(1),
            Value::str("a"),
            Value::Float(1.0),
            Value::Bool(true),
            Value::str("a"),
        ];
        let refs: Vec<&Value> = keys.iter().collect();
        let g = group_keys(&ctx, &refs).unwrap();
        assert_eq!(g.ids, vec![0, 1, 0, 0, 1]);
        assert_eq!(g.firsts, vec![0, 1]);
    }

    #[test]
    fn cogroup_keeps_sides_apart() {
        let ctx = EngineContext::new(1).unwrap();
        let left = vec![Value::pair(Value::str("a"), Value::Int(1))];
        let right = vec![
            Value::pair(Value::str("b"), Value::Int(2)),
            Value::pair(Value::str("a"), Value::Int(3)),
        ];
        let out = cogroup_pairs(&ctx, &[left, right]).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[0].0.py_eq(&Value::str("a")));
        assert_eq!(out[0].1[1].len(), 1);
        assert!(out[1].1[0].is_empty());
    }

    #[test]
    fn known_hashes_are_used_and_the_others_computed() {
        let ctx = EngineContext::new(1).unwrap();
        let pair = |k: &str, v: i64| Value::pair(Value::str(k), Value::Int(v));
        let left = vec![pair("a", 1), pair("b", 2)];
        let right = vec![pair("b", 3), pair("a", 4)];
        let plain = cogroup_pairs(&ctx, &[left.clone(), right.clone()]).unwrap();
        let hash = |k: &str| Value::str(k).portable_hash().unwrap();
        let right_hashes = Some(vec![hash("b"), hash("a")]);
        let hashed =
            cogroup_pairs_hashed(&ctx, &[left.clone(), right.clone()], &[None, right_hashes])
                .unwrap();
        let show = |g: &[(Value, Vec<Vec<Value>>)]| format!("{g:?}");
        assert_eq!(show(&hashed), show(&plain));
        // The given hashes are trusted (not recomputed): a wrong one keeps equal keys apart.
        let wrong = Some(vec![hash("b") ^ 1, hash("a")]);
        let split = cogroup_pairs_hashed(&ctx, &[left, right], &[None, wrong]).unwrap();
        assert_eq!(split.len(), 3);
        let grouped = group_pairs_hashed(&ctx, &plain_pairs(), Some(vec![7, 7, 7])).unwrap();
        assert_eq!(grouped.len(), 2);
    }

    fn plain_pairs() -> Vec<Value> {
        ["x", "y", "x"]
            .iter()
            .map(|k| Value::pair(Value::str(k), Value::None))
            .collect()
    }

    #[test]
    fn unhashable_keys_are_type_errors() {
        let ctx = EngineContext::new(1).unwrap();
        let l = Value::List(Arc::from(vec![Value::Int(1)]));
        assert!(matches!(
            group_keys(&ctx, &[&l]),
            Err(EngineError::Unhashable("list"))
        ));
    }
}
