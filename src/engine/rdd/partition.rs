//! How records are spread over partitions: shuffle partitioners and the partitioning a
//! dataset is known to have.

use std::sync::Arc;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::host::KeyPartitioner;
use crate::engine::keys;
use crate::engine::value::Value;

use super::Partition;

/// How a shuffle assigns records to output partitions.
#[derive(Clone)]
pub enum Partitioner {
    /// PySpark's `portable_hash(key) % n`, computed natively.
    PortableHash,
    /// A user function of the key.
    Host(Arc<dyn KeyPartitioner>),
    /// Even spreading for `repartition`, key-less.
    RoundRobin,
    /// `portable_hash(record) % n` of whole records (not pairs): `distinct` and set operations.
    RecordHash,
    /// Sorted ranges of keys (`sortByKey`), with Python's ordering.
    Range(Arc<RangeBounds>),
}

/// The bounds of a range partitioning: key `k` goes to `bisect_left(bounds, k)` (counted from
/// the end when descending).
pub struct RangeBounds {
    pub bounds: Vec<Value>,
    pub ascending: bool,
}

/// How the `(k, v)` records of a dataset are known to be spread over its partitions (Spark's
/// `RDD.partitioner`). Two datasets with equal partitionings are co-partitioned: a key is in
/// the same partition of both, so keyed operations on them need no shuffle.
#[derive(Clone)]
pub enum Partitioning {
    /// `portable_hash(k) % n`.
    Hash(usize),
    /// `partitionFunc(k) % n` for a user function (equal when the function is the same one,
    /// as PySpark's `Partitioner.__eq__` decides).
    Func(usize, Arc<dyn KeyPartitioner>),
    /// A partitioning no other dataset shares (e.g. the ranges of one sort): `(n, node id)`.
    Unique(usize, u64),
}

impl Partitioning {
    pub fn num_partitions(&self) -> usize {
        match self {
            Partitioning::Hash(n) | Partitioning::Func(n, _) | Partitioning::Unique(n, _) => *n,
        }
    }

    /// The shuffle that produces this partitioning (None for a unique one).
    pub fn partitioner(&self) -> Option<Partitioner> {
        match self {
            Partitioning::Hash(_) => Some(Partitioner::PortableHash),
            Partitioning::Func(_, f) => Some(Partitioner::Host(f.clone())),
            Partitioning::Unique(..) => None,
        }
    }
}

impl PartialEq for Partitioning {
    fn eq(&self, other: &Partitioning) -> bool {
        match (self, other) {
            (Partitioning::Hash(a), Partitioning::Hash(b)) => a == b,
            (Partitioning::Func(a, f), Partitioning::Func(b, g)) => {
                a == b && f.identity() == g.identity()
            }
            (Partitioning::Unique(a, x), Partitioning::Unique(b, y)) => a == b && x == y,
            _ => false,
        }
    }
}

/// Split one map-side partition into `n` buckets.
pub(super) fn bucket(
    ctx: &EngineContext,
    records: Partition,
    map_index: usize,
    n: usize,
    partitioner: &Partitioner,
) -> Result<Vec<Partition>> {
    let mut buckets: Vec<Partition> = (0..n).map(|_| Vec::new()).collect();
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
            for record in records {
                let h = match partitioner {
                    Partitioner::RecordHash => record.portable_hash()?,
                    _ => record.as_pair()?.0.portable_hash()?,
                };
                buckets[h.rem_euclid(n as i64) as usize].push(record);
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
            for (record, h) in records.into_iter().zip(hashes) {
                buckets[h.rem_euclid(n as i64) as usize].push(record);
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
    Ok(buckets)
}
