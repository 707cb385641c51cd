//! The shuffle interface: the one way records move between partitionings.
//!
//! A shuffle has a write side and a read side. Each map task computes its partition, splits
//! it into one bucket per output partition with [`bucket`] (the [`Partitioner`] decides) and
//! hands the buckets to the shuffle's [`ShuffleWriter`]; when every map output is written,
//! [`ShuffleWriter::finish`] gives the [`ShuffleReader`] from which reduce partition `i` is
//! fetched: its records from every map output, in map order (as Spark's fetch concatenates
//! them). Every shuffle of the engine goes through here: keyed RDD operations,
//! `partitionBy`/`repartition`, a sort's range shuffle, and the batches of keyed streams.
//!
//! [`MemoryShuffle`] keeps the buckets in this process. A shuffle across worker processes or
//! Ray implements the same three traits (buckets written to files or the object store,
//! fetched by reduce tasks), and the plans do not change (see `docs/engine.md`).
//!
//! Hash partitioners hand the keys' portable hashes over with the records, so a reader that
//! keys a store by hash (keyed state) does not hash every key again.

mod bucket;
mod memory;

pub use bucket::{bucket, bucket_hashed, bucket_keyed};
pub use memory::MemoryShuffle;

use std::sync::Arc;

use crate::engine::error::Result;
use crate::engine::exec::Executor;
use crate::engine::rdd::Partition;
use crate::engine::value::Value;

/// One map partition split by reduce partition: `parts[r]` goes to reduce partition `r`.
pub struct Buckets {
    pub parts: Vec<Partition>,
    /// When the partitioner hashed the keys (`portable_hash(key) % n`): `hashes[r][j]` is the
    /// hash of the key of `parts[r][j]`.
    pub hashes: Option<Vec<Vec<i64>>>,
    /// Keyed columns: when set, the records are `(key, value)` pairs held apart, `parts[r][j]`
    /// the key and `values[r][j]` the value. The pairs are built only for a reader that asks
    /// for records: a map-side combine's output read by a reduce-side combine never is.
    pub values: Option<Vec<Partition>>,
}

impl Buckets {
    /// Records without keys' hashes.
    pub fn rows(parts: Vec<Partition>) -> Buckets {
        Buckets {
            parts,
            hashes: None,
            values: None,
        }
    }

    /// The same buckets with their records as rows: keyed columns zipped into pairs.
    pub fn into_rows(self) -> Buckets {
        let Some(values) = self.values else {
            return self;
        };
        let parts = self
            .parts
            .into_iter()
            .zip(values)
            .map(|(keys, values)| zip_pairs(keys, values))
            .collect();
        Buckets {
            parts,
            hashes: self.hashes,
            values: None,
        }
    }
}

/// Keys and values zipped into `(key, value)` records.
pub fn zip_pairs(keys: Partition, values: Partition) -> Partition {
    keys.into_iter()
        .zip(values)
        .map(|(k, v)| Value::pair(k, v))
        .collect()
}

/// A reduce partition as fetched: its records and, when the shuffle was by key hash, the
/// portable hash of each record's key.
pub struct Fetched {
    pub records: Partition,
    pub hashes: Option<Vec<i64>>,
}

/// A reduce partition shared with the shuffle (readers that only read it need no copy), with
/// its keys' hashes when the shuffle was by key hash and kept them.
pub struct SharedFetch {
    pub records: Arc<Partition>,
    pub hashes: Option<Vec<i64>>,
    /// Keyed columns (see [`Buckets::values`]): record `j` is the pair
    /// `(records[j], values[j])`.
    pub values: Option<Arc<Partition>>,
}

impl SharedFetch {
    /// The records as rows (keyed columns zipped into pairs), copied when still shared.
    pub fn into_rows(self) -> Partition {
        let unshare = |p: Arc<Partition>| Arc::try_unwrap(p).unwrap_or_else(|p| (*p).clone());
        match self.values {
            Some(values) => zip_pairs(unshare(self.records), unshare(values)),
            None => unshare(self.records),
        }
    }
}

/// Applied once to every reduce partition when a shuffle finishes (a sort's ranges are
/// sorted there, not by every job that reads them). It may reorder records: the hashes are
/// then dropped.
pub type Finisher<'a> = &'a (dyn Fn(usize, &mut Partition) -> Result<()> + Sync);

/// Creates shuffles (one per shuffle node of a plan). Owned by the
/// [`EngineContext`](crate::engine::context::EngineContext).
pub trait Shuffle: Send + Sync {
    /// A new shuffle `id` (unique within the context) of `maps` map partitions into
    /// `reduces` partitions.
    fn create(&self, id: u64, maps: usize, reduces: usize) -> Result<Arc<dyn ShuffleWriter>>;
}

/// The write side of one shuffle.
pub trait ShuffleWriter: Send + Sync {
    /// The buckets of map partition `map` (`buckets.parts.len()` is the reduce count). Called
    /// once per map partition, from any task, in any order.
    fn write(&self, map: usize, buckets: Buckets) -> Result<()>;

    /// Every map output is written: the read side. `finisher` (if any) runs once per reduce
    /// partition, as tasks on `executor`.
    fn finish(
        &self,
        executor: &dyn Executor,
        finisher: Option<Finisher<'_>>,
    ) -> Result<Arc<dyn ShuffleReader>>;
}

/// The read side of one finished shuffle.
pub trait ShuffleReader: Send + Sync {
    fn num_partitions(&self) -> usize;

    /// Reduce partition `i`: its records from every map output, in map order.
    fn fetch(&self, i: usize) -> Result<Partition>;

    /// How many records reduce partition `i` holds, when known without fetching it.
    fn partition_len(&self, _i: usize) -> Option<usize> {
        None
    }

    /// [`fetch`](Self::fetch), with the keys' hashes when the partitioner computed them.
    fn fetch_hashed(&self, i: usize) -> Result<Fetched> {
        Ok(Fetched {
            records: self.fetch(i)?,
            hashes: None,
        })
    }

    /// [`fetch_hashed`](Self::fetch_hashed) for a reader that only reads the records: a
    /// reader that keeps them (in memory) shares them instead of copying.
    fn fetch_shared(&self, i: usize) -> Result<SharedFetch> {
        let fetched = self.fetch_hashed(i)?;
        Ok(SharedFetch {
            records: Arc::new(fetched.records),
            hashes: fetched.hashes,
            values: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::context::EngineContext;
    use crate::engine::rdd::Partitioner;
    use crate::engine::value::Value;

    fn pairs(keys: &[&str], tag: i64) -> Partition {
        keys.iter()
            .map(|k| Value::pair(Value::str(k), Value::Int(tag)))
            .collect()
    }

    #[test]
    fn reduce_partitions_hold_every_map_output_in_map_order_with_hashes() {
        let ctx = EngineContext::new(2).unwrap();
        let maps = [pairs(&["a", "b", "c", "a"], 0), pairs(&["c", "a", "d"], 1)];
        let writer = ctx.shuffle().create(0, 2, 3).unwrap();
        // Written out of order: the reduce side still reads map 0 first.
        for i in [1, 0] {
            let b = bucket(
                &ctx,
                maps[i].clone(),
                i,
                3,
                &Partitioner::PortableHash,
                true,
            )
            .unwrap();
            writer.write(i, b).unwrap();
        }
        let reader = writer.finish(ctx.executor(), None).unwrap();
        assert_eq!(reader.num_partitions(), 3);
        let mut seen = 0;
        for r in 0..3 {
            let fetched = reader.fetch_hashed(r).unwrap();
            let hashes = fetched.hashes.expect("a hash shuffle hands over hashes");
            assert_eq!(hashes.len(), fetched.records.len());
            let mut tags = Vec::new();
            for (record, h) in fetched.records.iter().zip(hashes) {
                let (k, v) = record.as_pair().unwrap();
                assert_eq!(h, k.portable_hash().unwrap());
                assert_eq!(h.rem_euclid(3) as usize, r);
                tags.push(v.to_py_str().unwrap());
            }
            let mut sorted = tags.clone();
            sorted.sort();
            assert_eq!(tags, sorted, "map 0's records come before map 1's");
            seen += fetched.records.len();
        }
        assert_eq!(seen, 7);
    }

    #[test]
    fn a_finisher_runs_once_per_reduce_partition_and_drops_hashes() {
        let ctx = EngineContext::new(2).unwrap();
        let writer = ctx.shuffle().create(1, 1, 2).unwrap();
        let b = bucket(
            &ctx,
            pairs(&["x", "y", "z"], 7),
            0,
            2,
            &Partitioner::PortableHash,
            true,
        );
        writer.write(0, b.unwrap()).unwrap();
        let reader = writer
            .finish(
                ctx.executor(),
                Some(&|i, part: &mut Partition| {
                    part.push(Value::Int(i as i64));
                    Ok(())
                }),
            )
            .unwrap();
        for r in 0..2 {
            let fetched = reader.fetch_hashed(r).unwrap();
            assert!(fetched.hashes.is_none());
            assert!(matches!(fetched.records.last(), Some(Value::Int(i)) if *i == r as i64));
        }
    }

    #[test]
    fn hashes_are_kept_only_when_asked_for() {
        let ctx = EngineContext::new(1).unwrap();
        let records = pairs(&["x", "y"], 0);
        let plain = bucket(
            &ctx,
            records.clone(),
            0,
            2,
            &Partitioner::PortableHash,
            false,
        );
        assert!(plain.unwrap().hashes.is_none());
        let kept = bucket(
            &ctx,
            records.clone(),
            0,
            2,
            &Partitioner::PortableHash,
            true,
        );
        assert!(kept.unwrap().hashes.is_some());
        // Whole-record hashes are not key hashes: never handed over.
        let by_record = bucket(&ctx, records, 0, 2, &Partitioner::RecordHash, true);
        assert!(by_record.unwrap().hashes.is_none());
    }

    #[test]
    fn keyed_columns_reach_a_shared_reader_as_columns_and_others_as_pairs() {
        let ctx = EngineContext::new(2).unwrap();
        let keys: Partition = ["a", "b", "c", "a"].iter().map(|k| Value::str(k)).collect();
        let values: Partition = (0..4).map(Value::Int).collect();
        let hashes: Vec<i64> = keys.iter().map(|k| k.portable_hash().unwrap()).collect();
        let expected = |r: usize| -> Vec<(String, i64)> {
            keys.iter()
                .zip(0..)
                .filter(|(k, _)| k.portable_hash().unwrap().rem_euclid(2) as usize == r)
                .map(|(k, v)| (k.to_py_str().unwrap(), v))
                .collect()
        };
        let as_pairs = |records: &[Value]| -> Vec<(String, i64)> {
            records
                .iter()
                .map(|r| {
                    let (k, v) = r.as_pair().unwrap();
                    let Value::Int(v) = v else {
                        panic!("value {v:?}")
                    };
                    (k.to_py_str().unwrap(), *v)
                })
                .collect()
        };
        // Both map outputs keyed: a shared fetch gets the columns, a plain fetch the pairs.
        let writer = ctx.shuffle().create(3, 2, 2).unwrap();
        for map in 0..2 {
            let (k, v, h) = if map == 0 {
                (keys.clone(), values.clone(), hashes.clone())
            } else {
                (Vec::new(), Vec::new(), Vec::new())
            };
            writer.write(map, bucket_keyed(k, v, h, 2)).unwrap();
        }
        let reader = writer.finish(ctx.executor(), None).unwrap();
        for r in 0..2 {
            let shared = reader.fetch_shared(r).unwrap();
            let column = shared.values.clone().expect("keyed columns kept");
            assert_eq!(column.len(), shared.records.len());
            assert_eq!(shared.hashes.as_ref().unwrap().len(), column.len());
            assert_eq!(as_pairs(&shared.into_rows()), expected(r));
            let fetched = reader.fetch_hashed(r).unwrap();
            assert_eq!(as_pairs(&fetched.records), expected(r));
            assert_eq!(reader.partition_len(r), Some(expected(r).len()));
        }
        // One map output as rows (a map task that fell back): every output becomes pairs.
        let writer = ctx.shuffle().create(4, 2, 2).unwrap();
        writer
            .write(0, bucket_keyed(keys.clone(), values.clone(), hashes, 2))
            .unwrap();
        let b = bucket(&ctx, Vec::new(), 1, 2, &Partitioner::PortableHash, true).unwrap();
        writer.write(1, b).unwrap();
        let reader = writer.finish(ctx.executor(), None).unwrap();
        for r in 0..2 {
            let shared = reader.fetch_shared(r).unwrap();
            assert!(shared.values.is_none());
            assert_eq!(as_pairs(&shared.records), expected(r));
        }
    }

    #[test]
    fn a_map_output_not_written_is_an_error() {
        let ctx = EngineContext::new(1).unwrap();
        let writer = ctx.shuffle().create(2, 2, 1).unwrap();
        let b = bucket(
            &ctx,
            pairs(&["x"], 0),
            0,
            1,
            &Partitioner::RoundRobin,
            false,
        )
        .unwrap();
        writer.write(0, b).unwrap();
        assert!(writer.finish(ctx.executor(), None).is_err());
    }
}
