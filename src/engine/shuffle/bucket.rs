//! The write side's split of a map partition into buckets, by a [`Partitioner`].

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::keys;
use crate::engine::rdd::{Partition, Partitioner};
use crate::engine::value::Value;

use super::Buckets;

/// Split one map partition (number `map_index`) into `n` buckets. Hash partitioning by key
/// hands the keys' hashes over with the buckets when `keep_hashes`.
pub fn bucket(
    ctx: &EngineContext,
    records: Partition,
    map_index: usize,
    n: usize,
    partitioner: &Partitioner,
    keep_hashes: bool,
) -> Result<Buckets> {
    // Room for an even spread (what hash and round-robin partitioning give), with slack for
    // a hash's unevenness so the common case never grows a bucket.
    let even = records.len().div_ceil(n.max(1));
    let expected = even + even / 16;
    let mut buckets: Vec<Partition> = (0..n).map(|_| Vec::with_capacity(expected)).collect();
    let empty = || -> Vec<Vec<i64>> { (0..n).map(|_| Vec::with_capacity(expected)).collect() };
    match partitioner {
        Partitioner::PortableHash | Partitioner::RecordHash
            if !records.iter().any(|r| {
                let key = match partitioner {
                    Partitioner::RecordHash => Ok(r),
                    _ => r.as_pair().map(|(k, _)| k),
                };
                key.map_or(true, Value::has_host)
            }) =>
        {
            // Native keys (the common case): hashed as they come.
            if matches!(partitioner, Partitioner::RecordHash) || !keep_hashes {
                for record in records {
                    let h = match partitioner {
                        Partitioner::RecordHash => record.portable_hash()?,
                        _ => record.as_pair()?.0.portable_hash()?,
                    };
                    buckets[h.rem_euclid(n as i64) as usize].push(record);
                }
            } else {
                let mut hashes = empty();
                for record in records {
                    let h = record.as_pair()?.0.portable_hash()?;
                    let b = h.rem_euclid(n as i64) as usize;
                    buckets[b].push(record);
                    hashes[b].push(h);
                }
                return Ok(Buckets {
                    parts: buckets,
                    hashes: Some(hashes),
                    values: None,
                });
            }
        }
        Partitioner::PortableHash | Partitioner::RecordHash => {
            let keys = if matches!(partitioner, Partitioner::RecordHash) {
                records.iter().collect::<Vec<_>>()
            } else {
                records
                    .iter()
                    .map(|r| r.as_pair().map(|(k, _)| k))
                    .collect::<Result<Vec<_>>>()?
            };
            let hashes = keys::hash_keys(ctx, &keys)?;
            drop(keys);
            let by_key = keep_hashes && matches!(partitioner, Partitioner::PortableHash);
            let mut kept = if by_key { empty() } else { Vec::new() };
            for (record, h) in records.into_iter().zip(hashes) {
                let b = h.rem_euclid(n as i64) as usize;
                buckets[b].push(record);
                if by_key {
                    kept[b].push(h);
                }
            }
            if by_key {
                return Ok(Buckets {
                    parts: buckets,
                    hashes: Some(kept),
                    values: None,
                });
            }
        }
        Partitioner::Host(f) => {
            let keys = records
                .iter()
                .map(|r| r.as_pair().map(|(k, _)| k))
                .collect::<Result<Vec<_>>>()?;
            let ids = f.partition_ids(&keys)?;
            if ids.len() != records.len() {
                return Err(EngineError::Internal(
                    "partition function returned the wrong number of ids".into(),
                ));
            }
            for (record, id) in records.into_iter().zip(ids) {
                buckets[id.rem_euclid(n as i64) as usize].push(record);
            }
        }
        Partitioner::Range(range) => {
            let keys = records
                .iter()
                .map(|r| r.as_pair().map(|(k, _)| k))
                .collect::<Result<Vec<_>>>()?;
            let places = crate::engine::ops::order::bisect_left_all(ctx, &range.bounds, &keys)?;
            drop(keys);
            for (record, p) in records.into_iter().zip(places) {
                let p = p.min(n - 1);
                let p = if range.ascending { p } else { n - 1 - p };
                buckets[p].push(record);
            }
        }
        Partitioner::RoundRobin => {
            // Start each source partition at a different target so small partitions spread.
            let start = (map_index * 7919) % n;
            for (j, record) in records.into_iter().enumerate() {
                buckets[(start + j) % n].push(record);
            }
        }
    }
    Ok(Buckets::rows(buckets))
}

/// Split a map partition of `(key, value)` records whose keys' portable hashes are known
/// (`hashes[j]` for record `j`, as a fused combine computes them) into `n` buckets by
/// `hash % n`, handing the hashes over when `keep_hashes`.
pub fn bucket_hashed(records: Partition, hashes: Vec<i64>, n: usize, keep_hashes: bool) -> Buckets {
    debug_assert_eq!(records.len(), hashes.len());
    let even = records.len().div_ceil(n.max(1));
    let expected = even + even / 16;
    let mut parts: Vec<Partition> = (0..n).map(|_| Vec::with_capacity(expected)).collect();
    let mut kept: Vec<Vec<i64>> = if keep_hashes {
        (0..n).map(|_| Vec::with_capacity(expected)).collect()
    } else {
        Vec::new()
    };
    for (record, h) in records.into_iter().zip(hashes) {
        let b = h.rem_euclid(n as i64) as usize;
        parts[b].push(record);
        if keep_hashes {
            kept[b].push(h);
        }
    }
    Buckets {
        parts,
        hashes: keep_hashes.then_some(kept),
        values: None,
    }
}

/// Split a map partition of `(key, value)` records held as keyed columns (`keys[j]`,
/// `values[j]`, and `hashes[j]` the key's portable hash) into `n` buckets by `hash % n`,
/// kept as keyed columns (see [`Buckets::values`]), with the hashes.
pub fn bucket_keyed(keys: Partition, values: Partition, hashes: Vec<i64>, n: usize) -> Buckets {
    debug_assert!(keys.len() == values.len() && keys.len() == hashes.len());
    let even = keys.len().div_ceil(n.max(1));
    let expected = even + even / 16;
    let mut key_parts: Vec<Partition> = (0..n).map(|_| Vec::with_capacity(expected)).collect();
    let mut value_parts: Vec<Partition> = (0..n).map(|_| Vec::with_capacity(expected)).collect();
    let mut kept: Vec<Vec<i64>> = (0..n).map(|_| Vec::with_capacity(expected)).collect();
    for ((k, v), h) in keys.into_iter().zip(values).zip(hashes) {
        let b = h.rem_euclid(n as i64) as usize;
        key_parts[b].push(k);
        value_parts[b].push(v);
        kept[b].push(h);
    }
    Buckets {
        parts: key_parts,
        hashes: Some(kept),
        values: Some(value_parts),
    }
}
