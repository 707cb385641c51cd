//! Plans built from other datasets: keyed operations over co-partitioned inputs, sorts,
//! zips, samples and partitioner-aware unions.

use std::sync::Arc;

use super::{Node, Partition, PartitionSource, Partitioner, Partitioning, RangeBounds, Rdd};
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::ops::keyed::KeyOp;
use crate::engine::value::Value;

impl Rdd {
    /// The union of datasets that all have the same partitioning (Spark's
    /// `PartitionerAwareUnionRDD`): `n` partitions, partition `i` holding partition `i` of each
    /// input in turn, and the partitioning kept. Other inputs: a plain [`Rdd::union`].
    pub fn union_partitioned(ctx: &Arc<EngineContext>, rdds: &[Arc<Rdd>]) -> Arc<Rdd> {
        let first = rdds.first().and_then(|r| r.partitioning.clone());
        match first {
            Some(p)
                if rdds.len() > 1 && rdds.iter().all(|r| r.partitioning.as_ref() == Some(&p)) =>
            {
                Rdd::new_partitioned(
                    ctx.clone(),
                    Node::Keyed {
                        inputs: rdds.to_vec(),
                        op: KeyOp::Concat,
                    },
                    p.num_partitions(),
                    Some(p),
                )
            }
            _ => Rdd::union(ctx, rdds),
        }
    }

    /// Each partition sorted stably by key with Python's ordering (no shuffle; the
    /// partitioning is kept): `repartitionAndSortWithinPartitions`' second half.
    pub fn sort_within_partitions(self: &Arc<Self>, ascending: bool) -> Arc<Rdd> {
        Rdd::new_partitioned(
            self.ctx.clone(),
            Node::Keyed {
                inputs: vec![self.clone()],
                op: KeyOp::SortByKey { ascending },
            },
            self.num_partitions,
            self.partitioning.clone(),
        )
    }

    /// The partitioning keyed operations over `inputs` use (Spark's `defaultPartitioner`):
    /// `Hash(n)` when `n` is given; otherwise the partitioning of the input with the most
    /// partitions among those that have one, so that input is not shuffled again; otherwise
    /// `Hash(default_n)`.
    pub fn default_partitioning(
        inputs: &[Arc<Rdd>],
        n: Option<usize>,
        default_n: usize,
    ) -> Partitioning {
        if let Some(n) = n {
            return Partitioning::Hash(n);
        }
        let mut best: Option<&Partitioning> = None;
        for p in inputs.iter().filter_map(|r| r.partitioning.as_ref()) {
            if p.partitioner().is_some()
                && best.is_none_or(|b| p.num_partitions() > b.num_partitions())
            {
                best = Some(p);
            }
        }
        best.cloned()
            .unwrap_or(Partitioning::Hash(default_n.max(1)))
    }

    /// A keyed operation over `(k, v)` inputs (or whole records, for the set operations),
    /// each brought into `target` partitioning by a shuffle unless it already is.
    pub fn keyed(inputs: &[Arc<Rdd>], op: KeyOp, target: &Partitioning) -> Result<Arc<Rdd>> {
        let Some(first) = inputs.first() else {
            return Err(EngineError::Internal(
                "a keyed operation needs inputs".into(),
            ));
        };
        let n = target.num_partitions();
        let by_record = op.keys_are_records();
        let mut shuffled = Vec::with_capacity(inputs.len());
        for input in inputs {
            shuffled.push(if op == KeyOp::Distinct {
                // Map side: each partition's duplicates dropped before the shuffle.
                let local = Rdd::new(
                    input.ctx.clone(),
                    Node::Keyed {
                        inputs: vec![input.clone()],
                        op: KeyOp::Distinct,
                    },
                    input.num_partitions,
                );
                local.shuffle(n, Partitioner::RecordHash)?
            } else if by_record {
                input.shuffle(n, Partitioner::RecordHash)?
            } else {
                input.partition_as(target)?.want_key_hashes()
            });
        }
        let partitioning = if op.keeps_keys() {
            Some(target.clone())
        } else {
            None
        };
        Ok(Rdd::new_partitioned(
            first.ctx.clone(),
            Node::Keyed {
                inputs: shuffled,
                op,
            },
            n,
            partitioning,
        ))
    }

    /// `zipWithIndex`: each record paired with its position; runs a job counting the
    /// partitions (all but the last) when there is more than one, unless their sizes are
    /// known without computing them (see [`Rdd::known_len`]).
    pub fn zip_with_index(self: &Arc<Self>) -> Result<Arc<Rdd>> {
        let n = self.num_partitions;
        let mut starts = vec![0i64; n];
        if n > 1 {
            let head: Vec<usize> = (0..n - 1).collect();
            self.prepare()?;
            let known: Option<Vec<usize>> = head.iter().map(|&i| self.known_len(i)).collect();
            let sizes: Vec<usize> = match known {
                Some(sizes) => sizes,
                None => self
                    .ctx
                    .map_tasks(head.len(), |j| self.compute(head[j]).map(|p| p.len()))?,
            };
            for (i, size) in sizes.into_iter().enumerate() {
                starts[i + 1] = starts[i] + size as i64;
            }
        }
        Ok(Rdd::new(
            self.ctx.clone(),
            Node::Indexed {
                parent: self.clone(),
                starts: Some(starts),
            },
            n,
        ))
    }

    /// The number of records of partition `i` (after [`Rdd::prepare`]) when it is known
    /// without computing the partition and computing it could neither fail nor do anything
    /// else, so skipping the computation cannot change a result or an error:
    /// - a finished shuffle's reduce partition: its records are already materialised;
    /// - `kv[c]` (a native map, e.g. `values()`/`keys()`, with `c` in `-2..2`) over a range
    ///   shuffle: the range partitioner took every record as a `(key, value)` pair of two
    ///   items (bucketing fails on anything else), so `kv[c]` succeeds once per record,
    ///   natively or in its Python fallback (the same `lambda kv: kv[c]`), and a map keeps
    ///   the count.
    ///
    /// Anything else (Python functions, filters, cached data still to be filled) is None: the
    /// partition is computed, as Spark's job does.
    fn known_len(&self, i: usize) -> Option<usize> {
        if self.is_cached() {
            return None;
        }
        match &self.node {
            Node::Shuffle { output, .. } => output.get()?.partition_len(i),
            Node::Narrow { parent, step, .. } => {
                let (kind, expr) = step.native()?;
                let item = expr.as_item_of_arg0()?;
                let ranged = matches!(
                    &parent.node,
                    Node::Shuffle {
                        partitioner: Partitioner::Range(_),
                        ..
                    }
                );
                if kind == crate::engine::step::NativeKind::Map && (-2..2).contains(&item) && ranged
                {
                    parent.known_len(i)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Whether computing this dataset a second time would give the same records and do
    /// nothing else that could be seen: native steps (proven lambdas, whose Python fallback
    /// is the same pure function) over source data, a cache or a shuffle (whose output is
    /// computed once). Such a dataset read by two jobs may be read once.
    fn recomputes_purely(&self) -> bool {
        if self.is_cached() {
            return true;
        }
        match &self.node {
            Node::Source(_) | Node::Shuffle { .. } => true,
            Node::Narrow { parent, step, .. } => {
                step.native().is_some() && parent.recomputes_purely()
            }
            _ => false,
        }
    }

    /// `zipWithUniqueId`: item `j` of partition `i` of `n` gets `j * n + i` (no job).
    pub fn zip_with_unique_id(self: &Arc<Self>) -> Arc<Rdd> {
        Rdd::new(
            self.ctx.clone(),
            Node::Indexed {
                parent: self.clone(),
                starts: None,
            },
            self.num_partitions,
        )
    }

    /// `zip`: the same number of partitions is required here, the same number of records in
    /// each when computed.
    pub fn zip(self: &Arc<Self>, other: &Arc<Rdd>) -> Result<Arc<Rdd>> {
        if self.num_partitions != other.num_partitions {
            return Err(EngineError::InvalidArgument(
                "Can only zip with RDD which has the same number of partitions".into(),
            ));
        }
        Ok(Rdd::new(
            self.ctx.clone(),
            Node::Zip {
                left: self.clone(),
                right: other.clone(),
            },
            self.num_partitions,
        ))
    }

    /// `sample` (and `randomSplit`'s ranges): a seeded, repeatable selection per partition.
    /// Keeps the partitioning (records keep their keys).
    pub fn sample(
        self: &Arc<Self>,
        mode: crate::engine::ops::sample::SampleMode,
        seed: u64,
    ) -> Arc<Rdd> {
        Rdd::new_partitioned(
            self.ctx.clone(),
            Node::Sample {
                parent: self.clone(),
                mode,
                seed,
            },
            self.num_partitions,
            self.partitioning.clone(),
        )
    }

    /// `cartesian`: every pair, `n1 * n2` partitions.
    pub fn cartesian(self: &Arc<Self>, other: &Arc<Rdd>) -> Arc<Rdd> {
        Rdd::new(
            self.ctx.clone(),
            Node::Cartesian {
                left: self.clone(),
                right: other.clone(),
            },
            self.num_partitions * other.num_partitions,
        )
    }

    /// `sortByKey`: `(k, v)` records range-partitioned into `n` partitions by Python's
    /// ordering of the keys (bounds from a sample, as Spark's RangePartitioner), each partition
    /// sorted stably. An empty dataset is returned as it is. Runs a job to sample the keys.
    pub fn sort_by_key(self: &Arc<Self>, ascending: bool, n: usize) -> Result<Arc<Rdd>> {
        self.sort_pairs(ascending, n, false)
    }

    /// [`Rdd::sort_by_key`] keeping only the values: `sortBy(f)` is `keyBy(f)` then this, and
    /// the sorted ranges hold the records themselves (the pairs are unpacked once, when the
    /// ranges are sorted). Not partitioned by key, as PySpark's `sortBy` result is not.
    pub fn sort_values_by_key(self: &Arc<Self>, ascending: bool, n: usize) -> Result<Arc<Rdd>> {
        self.sort_pairs(ascending, n, true)
    }

    fn sort_pairs(
        self: &Arc<Self>,
        ascending: bool,
        n: usize,
        values_only: bool,
    ) -> Result<Arc<Rdd>> {
        if n == 0 {
            return Err(EngineError::InvalidArgument(
                "numPartitions must be positive".into(),
            ));
        }
        // One pass: each partition's size and evenly spaced keys (about 60 per output
        // partition in all, as Spark's RangePartitioner samples), weighted by how many records
        // each stands for.
        let per_part = (60 * n).div_ceil(self.num_partitions.max(1)).max(1);
        let sample = |p: &Partition| -> Result<(usize, Vec<Value>)> {
            let stride = (p.len() / per_part).max(1);
            let keys = p
                .iter()
                .step_by(stride)
                .map(|r| r.as_pair().map(|(k, _)| k.clone()))
                .collect::<Result<Vec<_>>>()?;
            Ok((p.len(), keys))
        };
        // A dataset of native steps (`keyBy` with a provable function, say) is computed once:
        // its partitions are sampled, then handed to the shuffle, instead of computed again
        // by it. Computing it twice could not differ (see `recomputes_purely`); source data
        // and caches are read twice, as that costs nothing.
        let reuse = matches!(self.node, Node::Narrow { .. })
            && !self.is_cached()
            && self.recomputes_purely();
        let (parts, input) = if reuse {
            self.prepare()?;
            let computed = self.ctx.map_tasks(self.num_partitions, |i| {
                let p = self.compute(i)?;
                let s = sample(&p)?;
                Ok((s, p))
            })?;
            let (parts, kept): (Vec<_>, Vec<_>) = computed.into_iter().unzip();
            let input = Rdd::lazy(
                &self.ctx,
                Arc::new(Computed {
                    parts: parking_lot::Mutex::new(kept.into_iter().map(Some).collect()),
                    parent: self.clone(),
                }),
            );
            (parts, input)
        } else {
            let parts = crate::engine::ops::actions::per_partition(self, |p| sample(&p))?;
            (parts, self.clone())
        };
        let size: usize = parts.iter().map(|(len, _)| len).sum();
        if size == 0 && !values_only {
            return Ok(self.clone());
        }
        let mut bounds = Vec::new();
        if n > 1 {
            let mut candidates: Vec<(Value, f64)> = Vec::new();
            for (len, keys) in parts {
                if !keys.is_empty() {
                    let weight = len as f64 / keys.len() as f64;
                    candidates.extend(keys.into_iter().map(|k| (k, weight)));
                }
            }
            crate::engine::ops::order::sort_by_key(&self.ctx, &mut candidates, |c| &c.0, false)?;
            bounds = range_bounds(candidates, n);
        }
        // The shuffle sorts each range when it materialises (see `Rdd::prepare`).
        input.shuffle(
            n,
            Partitioner::Range(Arc::new(RangeBounds {
                bounds,
                ascending,
                values_only,
            })),
        )
    }
}

/// Partitions already computed for a sort's sample, moved into its shuffle when it reads them
/// (once); read again (the shuffle never does), they are computed again from `parent`.
struct Computed {
    parts: parking_lot::Mutex<Vec<Option<Partition>>>,
    parent: Arc<Rdd>,
}

impl PartitionSource for Computed {
    fn num_partitions(&self) -> usize {
        self.parent.num_partitions
    }

    fn compute(&self, i: usize) -> Result<Partition> {
        let taken = self.parts.lock().get_mut(i).and_then(Option::take);
        match taken {
            Some(p) => Ok(p),
            None => self.parent.compute(i),
        }
    }
}

impl Drop for Computed {
    fn drop(&mut self) {
        let parts = std::mem::take(self.parts.get_mut());
        crate::engine::reclaim::drop_later(parts.into_iter().flatten().collect());
    }
}

/// Spark's `RangePartitioner.determineBounds`: up to `n - 1` keys splitting the weighted,
/// sorted candidates into equal weights, skipping duplicates.
fn range_bounds(candidates: Vec<(Value, f64)>, n: usize) -> Vec<Value> {
    let total: f64 = candidates.iter().map(|c| c.1).sum();
    let step = total / n as f64;
    let mut cum = 0.0;
    let mut target = step;
    let mut bounds: Vec<Value> = Vec::new();
    for (key, weight) in candidates {
        if bounds.len() >= n - 1 {
            break;
        }
        cum += weight;
        if cum >= target {
            let greater = match bounds.last() {
                None => true,
                Some(prev) if key.has_host() || prev.has_host() => true,
                Some(prev) => matches!(
                    crate::engine::ops::order::py_cmp(&key, prev),
                    Ok(std::cmp::Ordering::Greater)
                ),
            };
            if greater {
                bounds.push(key);
                target += step;
            }
        }
    }
    bounds
}
