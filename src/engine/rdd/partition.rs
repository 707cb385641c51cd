//! How records are spread over partitions: shuffle partitioners, the partitioning a dataset
//! is known to have, and a shuffle node run through the context's
//! [`Shuffle`](crate::engine::shuffle::Shuffle).

use std::sync::Arc;

use super::fused::MapOutput;
use super::{Node, Partition, Rdd};
use crate::engine::error::Result;
use crate::engine::host::KeyPartitioner;
use crate::engine::shuffle::{self, Fetched, ShuffleReader};
use crate::engine::value::Value;

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
    /// Each sorted range keeps only the values of its `(key, value)` records (`sortBy`: the
    /// records, sorted by the keys `keyBy` gave them), so no reader unpacks the pairs again.
    pub values_only: bool,
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

/// What a shuffle's readers take besides its records.
#[derive(Clone, Copy, Debug)]
pub(super) struct ShuffleReads {
    /// The keys' portable hashes ([`Rdd::want_key_hashes`]).
    pub hashes: bool,
    /// Keyed columns ([`Rdd::want_keyed_columns`]).
    pub keyed_columns: bool,
    /// Its only reader combines every key's records again ([`Rdd::reduce_by_key`]).
    pub recombined: bool,
}

impl Rdd {
    /// The map side as tasks (each computes a parent partition and writes its buckets), then
    /// the reduce side.
    pub(super) fn run_shuffle(
        &self,
        parent: &Arc<Rdd>,
        partitioner: &Partitioner,
        reads: ShuffleReads,
    ) -> Result<Arc<dyn ShuffleReader>> {
        let n = self.num_partitions;
        let ctx = &self.ctx;
        let keep_hashes = reads.hashes;
        let by_key = matches!(partitioner, Partitioner::PortableHash);
        let columns = by_key && (reads.recombined || reads.keyed_columns);
        let writer = ctx.shuffle().create(self.id, parent.num_partitions, n)?;
        ctx.map_tasks(parent.num_partitions, |i| {
            let buckets = match parent.compute_map_side(i, reads.recombined, columns)? {
                // A fused chain computed its keys' hashes: partitioned by them. Kept as keyed
                // columns for readers that take them (the reduce side's combine, keyed state).
                MapOutput::Hashed(out) if columns => {
                    shuffle::bucket_keyed(out.keys, out.values, out.hashes, n)
                }
                MapOutput::Hashed(out) if matches!(partitioner, Partitioner::PortableHash) => {
                    let (records, hashes) = out.into_pairs();
                    shuffle::bucket_hashed(records, hashes, n, keep_hashes)
                }
                MapOutput::Hashed(out) => {
                    let (records, _) = out.into_pairs();
                    shuffle::bucket(ctx, records, i, n, partitioner, keep_hashes)?
                }
                MapOutput::Rows(records) => {
                    shuffle::bucket(ctx, records, i, n, partitioner, keep_hashes)?
                }
            };
            writer.write(i, buckets)
        })?;
        match partitioner {
            // A sort's ranges are sorted once, here, not by every job that reads them.
            Partitioner::Range(range) => writer.finish(
                ctx.executor(),
                Some(&|_, part: &mut Partition| {
                    crate::engine::ops::order::sort_by_key(
                        ctx,
                        part,
                        |r| r.as_pair().map(|(k, _)| k).unwrap_or(r),
                        !range.ascending,
                    )?;
                    if range.values_only {
                        for record in part.iter_mut() {
                            let value = record.as_pair().map(|(_, v)| v.clone())?;
                            *record = value;
                        }
                    }
                    Ok(())
                }),
            ),
            _ => writer.finish(ctx.executor(), None),
        }
    }

    /// Ask that, if this dataset is a hash shuffle by key not yet run, its map side hands
    /// `(key, value)` pairs it builds natively over as keyed columns with the keys' hashes
    /// (see [`crate::engine::shuffle::SharedFetch::values`]), for readers that take them
    /// where they lie ([`Rdd::shuffle_output_shared`]). Every reader still gets pairs from
    /// [`Rdd::compute`]; those built again cost one allocation each, so only readers that
    /// read the columns ask. Returns itself.
    pub fn want_keyed_columns(self: Arc<Self>) -> Arc<Rdd> {
        if let Node::Shuffle {
            partitioner: Partitioner::PortableHash,
            keep_hashes,
            keyed_columns,
            ..
        } = &self.node
        {
            keep_hashes.store(true, std::sync::atomic::Ordering::Relaxed);
            keyed_columns.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self
    }

    /// Ask that, if this dataset is a hash shuffle by key not yet run, it keeps the keys'
    /// hashes for [`Rdd::compute_hashed`] (plain readers do not pay for them). Returns itself.
    pub fn want_key_hashes(self: Arc<Self>) -> Arc<Rdd> {
        if let Node::Shuffle {
            partitioner: Partitioner::PortableHash,
            keep_hashes,
            ..
        } = &self.node
        {
            keep_hashes.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self
    }

    /// Partition `i` (after [`Rdd::prepare`]) with the portable hashes of its keys when a
    /// hash shuffle produced it and kept them ([`Rdd::want_key_hashes`]; None otherwise):
    /// readers that group or key a store by hash need not hash again.
    pub fn compute_hashed(&self, i: usize) -> Result<Fetched> {
        if let Node::Shuffle { output, .. } = &self.node {
            if !self.is_cached() {
                if output.get().is_none() {
                    self.prepare()?;
                }
                if let Some(reader) = output.get() {
                    return reader.fetch_hashed(i);
                }
            }
        }
        Ok(Fetched {
            records: self.compute(i)?,
            hashes: None,
        })
    }
}
