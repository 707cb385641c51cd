//! Resilient distributed datasets, local edition: an immutable plan of partitioned
//! computations, evaluated lazily by actions on the context's worker pool.
//!
//! Narrow nodes (steps) run partition by partition, so a chain of them is pipelined: one task
//! per partition carries records through every step. Shuffle nodes are stage boundaries: before
//! an action runs, [`Rdd::prepare`] materialises every shuffle it depends on (map side in
//! parallel, then buckets concatenated in source-partition order, as Spark's fetch does).

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rayon::prelude::*;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::host::{KeyPartitioner, PartitionFn};
use crate::engine::keys;
use crate::engine::ops::keyed::KeyOp;
use crate::engine::step::{NativeKind, Step};
use crate::engine::textio;
use crate::engine::value::Value;

pub type Partition = Vec<Value>;

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

enum Node {
    Source(Arc<Vec<Partition>>),
    TextFile(Vec<textio::Split>),
    Narrow {
        parent: Arc<Rdd>,
        step: Step,
    },
    /// A keyed operation over co-partitioned inputs: partition `i` of the output is computed
    /// from partition `i` of every input.
    Keyed {
        inputs: Vec<Arc<Rdd>>,
        op: KeyOp,
    },
    /// `(x, index)`: `zipWithIndex` (partition starts given) or `zipWithUniqueId` (None).
    Indexed {
        parent: Arc<Rdd>,
        starts: Option<Vec<i64>>,
    },
    /// `zip`: the i-th records of partition `p` of both, paired.
    Zip {
        left: Arc<Rdd>,
        right: Arc<Rdd>,
    },
    /// `cartesian`: partition `i * n2 + j` pairs left partition `i` with right partition `j`.
    Cartesian {
        left: Arc<Rdd>,
        right: Arc<Rdd>,
    },
    /// `sample` / `randomSplit`: records kept by a seeded generator per partition.
    Sample {
        parent: Arc<Rdd>,
        mode: crate::engine::ops::sample::SampleMode,
        seed: u64,
    },
    Shuffle {
        parent: Arc<Rdd>,
        partitioner: Partitioner,
        output: OnceLock<Vec<Partition>>,
        lock: Mutex<()>,
    },
    Union(Vec<(Arc<Rdd>, usize)>),
    Coalesce {
        parent: Arc<Rdd>,
        groups: Vec<std::ops::Range<usize>>,
    },
}

/// One node of a dataset plan.
pub struct Rdd {
    id: u64,
    ctx: Arc<EngineContext>,
    node: Node,
    num_partitions: usize,
    partitioning: Option<Partitioning>,
    cache: Mutex<Option<Vec<Option<Partition>>>>,
}

impl Rdd {
    fn new(ctx: Arc<EngineContext>, node: Node, num_partitions: usize) -> Arc<Rdd> {
        Rdd::new_partitioned(ctx, node, num_partitions, None)
    }

    fn new_partitioned(
        ctx: Arc<EngineContext>,
        node: Node,
        num_partitions: usize,
        partitioning: Option<Partitioning>,
    ) -> Arc<Rdd> {
        Arc::new(Rdd {
            id: ctx.next_rdd_id(),
            ctx,
            node,
            num_partitions,
            partitioning,
            cache: Mutex::new(None),
        })
    }

    /// A dataset of the given partitions.
    pub fn from_partitions(ctx: &Arc<EngineContext>, partitions: Vec<Partition>) -> Arc<Rdd> {
        let n = partitions.len();
        Rdd::new(ctx.clone(), Node::Source(Arc::new(partitions)), n)
    }

    /// An empty dataset with `n` (empty) partitions.
    pub fn empty(ctx: &Arc<EngineContext>, n: usize) -> Arc<Rdd> {
        Rdd::from_partitions(ctx, vec![Vec::new(); n])
    }

    /// The lines of text files (see [`textio::plan_splits`]).
    pub fn text_file(
        ctx: &Arc<EngineContext>,
        paths: &[String],
        min_partitions: usize,
    ) -> Result<Arc<Rdd>> {
        let splits = textio::plan_splits(paths, min_partitions)?;
        let n = splits.len();
        Ok(Rdd::new(ctx.clone(), Node::TextFile(splits), n))
    }

    /// The partitions of all `rdds`, in order.
    pub fn union(ctx: &Arc<EngineContext>, rdds: &[Arc<Rdd>]) -> Arc<Rdd> {
        let mut parts = Vec::new();
        for rdd in rdds {
            for i in 0..rdd.num_partitions {
                parts.push((rdd.clone(), i));
            }
        }
        let n = parts.len();
        Rdd::new(ctx.clone(), Node::Union(parts), n)
    }

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

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn context(&self) -> &Arc<EngineContext> {
        &self.ctx
    }

    pub fn num_partitions(&self) -> usize {
        self.num_partitions
    }

    /// How the records are known to be partitioned by key (None: not known).
    pub fn partitioning(&self) -> Option<&Partitioning> {
        self.partitioning.as_ref()
    }

    /// A narrow step applied to every partition. Steps that keep every record's key (native
    /// `filter`, `mapValues`, `flatMapValues`, per-partition combines and groups) keep the
    /// partitioning; others lose it.
    pub fn with_step(self: &Arc<Self>, step: Step) -> Arc<Rdd> {
        let keeps = match &step {
            Step::GroupLocal => true,
            Step::Native { kind, .. } => matches!(
                kind,
                NativeKind::Filter
                    | NativeKind::MapValues
                    | NativeKind::FlatMapValues
                    | NativeKind::Combine
            ),
            Step::Host(_) => false,
        };
        self.with_step_keeping(step, keeps)
    }

    /// A narrow step; `keeps_partitioning` is PySpark's `preservesPartitioning`.
    pub fn with_step_keeping(self: &Arc<Self>, step: Step, keeps_partitioning: bool) -> Arc<Rdd> {
        let partitioning = if keeps_partitioning {
            self.partitioning.clone()
        } else {
            None
        };
        Rdd::new_partitioned(
            self.ctx.clone(),
            Node::Narrow {
                parent: self.clone(),
                step,
            },
            self.num_partitions,
            partitioning,
        )
    }

    /// A Python (host) function over whole partitions.
    pub fn map_partitions(self: &Arc<Self>, f: Arc<dyn PartitionFn>) -> Arc<Rdd> {
        self.with_step(Step::Host(f))
    }

    /// Shuffle `(key, value)` records (or any records, for round-robin) into `n` partitions.
    /// A dataset already partitioned that way is returned as it is (no shuffle), as PySpark's
    /// `partitionBy` does.
    pub fn shuffle(self: &Arc<Self>, n: usize, partitioner: Partitioner) -> Result<Arc<Rdd>> {
        if n == 0 {
            return Err(EngineError::InvalidArgument(
                "numPartitions must be positive".into(),
            ));
        }
        let partitioning = match &partitioner {
            Partitioner::PortableHash => Some(Partitioning::Hash(n)),
            Partitioner::Host(f) => Some(Partitioning::Func(n, f.clone())),
            Partitioner::Range(_) => Some(Partitioning::Unique(n, self.ctx.next_rdd_id())),
            Partitioner::RoundRobin | Partitioner::RecordHash => None,
        };
        if partitioning.is_some() && partitioning == self.partitioning {
            return Ok(self.clone());
        }
        Ok(Rdd::new_partitioned(
            self.ctx.clone(),
            Node::Shuffle {
                parent: self.clone(),
                partitioner,
                output: OnceLock::new(),
                lock: Mutex::new(()),
            },
            n,
            partitioning,
        ))
    }

    /// This dataset hash-partitioned into `n` partitions (`portable_hash(k) % n`): itself when
    /// it already is, else a shuffle.
    pub fn partition_by_hash(self: &Arc<Self>, n: usize) -> Result<Arc<Rdd>> {
        self.shuffle(n, Partitioner::PortableHash)
    }

    /// This dataset partitioned as `target`: itself when it already is, else a shuffle.
    pub fn partition_as(self: &Arc<Self>, target: &Partitioning) -> Result<Arc<Rdd>> {
        if self.partitioning.as_ref() == Some(target) {
            return Ok(self.clone());
        }
        match target.partitioner() {
            Some(p) => self.shuffle(target.num_partitions(), p),
            None => Err(EngineError::Internal(
                "cannot shuffle into a unique partitioning".into(),
            )),
        }
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
                input.partition_as(target)?
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
    /// partitions (all but the last) when there is more than one.
    pub fn zip_with_index(self: &Arc<Self>) -> Result<Arc<Rdd>> {
        let n = self.num_partitions;
        let mut starts = vec![0i64; n];
        if n > 1 {
            let head: Vec<usize> = (0..n - 1).collect();
            self.prepare()?;
            let sizes: Vec<usize> = self.ctx.run(|| {
                head.par_iter()
                    .map(|&i| self.compute(i).map(|p| p.len()))
                    .collect::<Result<_>>()
            })?;
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
        if n == 0 {
            return Err(EngineError::InvalidArgument(
                "numPartitions must be positive".into(),
            ));
        }
        // One pass: each partition's size and evenly spaced keys (about 60 per output
        // partition in all, as Spark's RangePartitioner samples), weighted by how many records
        // each stands for.
        let per_part = (60 * n).div_ceil(self.num_partitions.max(1)).max(1);
        let parts = crate::engine::ops::actions::per_partition(self, |p| {
            let stride = (p.len() / per_part).max(1);
            let keys = p
                .iter()
                .step_by(stride)
                .map(|r| r.as_pair().map(|(k, _)| k.clone()))
                .collect::<Result<Vec<_>>>()?;
            Ok((p.len(), keys))
        })?;
        let size: usize = parts.iter().map(|(len, _)| len).sum();
        if size == 0 {
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
        let shuffled = self.shuffle(
            n,
            Partitioner::Range(Arc::new(RangeBounds { bounds, ascending })),
        )?;
        let partitioning = shuffled.partitioning.clone();
        Ok(Rdd::new_partitioned(
            self.ctx.clone(),
            Node::Keyed {
                inputs: vec![shuffled],
                op: KeyOp::SortByKey { ascending },
            },
            n,
            partitioning,
        ))
    }

    /// Merge neighbouring partitions down to `n` (no shuffle); never increases the count.
    pub fn coalesce(self: &Arc<Self>, n: usize) -> Result<Arc<Rdd>> {
        if n == 0 {
            return Err(EngineError::InvalidArgument(
                "numPartitions must be positive".into(),
            ));
        }
        let parent_n = self.num_partitions;
        if n >= parent_n {
            return Ok(self.clone());
        }
        let groups = (0..n)
            .map(|i| (i * parent_n / n)..((i + 1) * parent_n / n))
            .collect();
        Ok(Rdd::new(
            self.ctx.clone(),
            Node::Coalesce {
                parent: self.clone(),
                groups,
            },
            n,
        ))
    }

    pub fn persist(&self) {
        let mut cache = self.cache.lock();
        if cache.is_none() {
            *cache = Some(vec![None; self.num_partitions]);
        }
    }

    pub fn unpersist(&self) {
        *self.cache.lock() = None;
    }

    pub fn is_cached(&self) -> bool {
        self.cache.lock().is_some()
    }

    /// Materialise every shuffle this dataset depends on, deepest first. Called by actions
    /// before they run partition tasks, so tasks never wait for each other.
    pub fn prepare(&self) -> Result<()> {
        if let Some(cache) = self.cache.lock().as_ref() {
            if cache.iter().all(Option::is_some) {
                return Ok(());
            }
        }
        match &self.node {
            Node::Source(_) | Node::TextFile(_) => Ok(()),
            Node::Narrow { parent, .. } | Node::Coalesce { parent, .. } => parent.prepare(),
            Node::Keyed { inputs, .. } => {
                for input in inputs {
                    input.prepare()?;
                }
                Ok(())
            }
            Node::Indexed { parent, .. } | Node::Sample { parent, .. } => parent.prepare(),
            Node::Zip { left, right } | Node::Cartesian { left, right } => {
                left.prepare()?;
                right.prepare()
            }
            Node::Union(parts) => {
                let mut seen = std::collections::HashSet::new();
                for (rdd, _) in parts {
                    if seen.insert(rdd.id) {
                        rdd.prepare()?;
                    }
                }
                Ok(())
            }
            Node::Shuffle {
                parent,
                partitioner,
                output,
                lock,
            } => {
                if output.get().is_some() {
                    return Ok(());
                }
                let _guard = lock.lock();
                if output.get().is_some() {
                    return Ok(());
                }
                parent.prepare()?;
                self.ctx
                    .metrics()
                    .shuffles
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let buckets = self.run_map_side(parent, partitioner)?;
                let mut result: Vec<Partition> = vec![Vec::new(); self.num_partitions];
                for map_output in buckets {
                    for (out, bucket) in result.iter_mut().zip(map_output) {
                        out.extend(bucket);
                    }
                }
                let _ = output.set(result);
                Ok(())
            }
        }
    }

    fn run_map_side(
        &self,
        parent: &Arc<Rdd>,
        partitioner: &Partitioner,
    ) -> Result<Vec<Vec<Partition>>> {
        let n = self.num_partitions;
        let ctx = &self.ctx;
        self.ctx.run(|| {
            (0..parent.num_partitions)
                .into_par_iter()
                .map(|i| {
                    let records = parent.compute(i)?;
                    bucket(ctx, records, i, n, partitioner)
                })
                .collect()
        })
    }

    /// Compute partition `i` (after [`Rdd::prepare`]).
    pub fn compute(&self, i: usize) -> Result<Partition> {
        if let Some(cache) = self.cache.lock().as_ref() {
            if let Some(Some(p)) = cache.get(i) {
                return Ok(p.clone());
            }
        }
        let result = self.compute_uncached(i)?;
        if let Some(cache) = self.cache.lock().as_mut() {
            if let Some(slot) = cache.get_mut(i) {
                *slot = Some(result.clone());
            }
        }
        Ok(result)
    }

    fn compute_uncached(&self, i: usize) -> Result<Partition> {
        match &self.node {
            Node::Source(parts) => Ok(parts[i].clone()),
            Node::TextFile(splits) => textio::read_split(&splits[i]),
            Node::Narrow { parent, step } => {
                if step.native().is_some() {
                    return self.compute_fused(i);
                }
                let input = parent.compute(i)?;
                if let Step::GroupLocal = step {
                    return group_local_in(&self.ctx, input);
                }
                step.apply(i, input)
            }
            Node::Keyed { inputs, op } => {
                let sides = inputs
                    .iter()
                    .map(|r| r.compute(i))
                    .collect::<Result<Vec<_>>>()?;
                op.run(&self.ctx, sides)
            }
            Node::Indexed { parent, starts } => {
                let records = parent.compute(i)?;
                let n = parent.num_partitions as i64;
                Ok(records
                    .into_iter()
                    .enumerate()
                    .map(|(j, x)| {
                        let id = match starts {
                            Some(s) => s[i] + j as i64,
                            None => j as i64 * n + i as i64,
                        };
                        Value::pair(x, Value::Int(id))
                    })
                    .collect())
            }
            Node::Zip { left, right } => {
                let xs = left.compute(i)?;
                let ys = right.compute(i)?;
                if xs.len() != ys.len() {
                    return Err(EngineError::InvalidArgument(
                        "Can only zip RDDs with same number of elements in each partition".into(),
                    ));
                }
                Ok(xs
                    .into_iter()
                    .zip(ys)
                    .map(|(x, y)| Value::pair(x, y))
                    .collect())
            }
            Node::Sample { parent, mode, seed } => {
                let records = parent.compute(i)?;
                Ok(crate::engine::ops::sample::sample(records, *mode, *seed, i))
            }
            Node::Cartesian { left, right } => {
                let n2 = right.num_partitions;
                let xs = left.compute(i / n2)?;
                let ys = right.compute(i % n2)?;
                let mut out = Vec::with_capacity(xs.len() * ys.len());
                for x in &xs {
                    for y in &ys {
                        out.push(Value::pair(x.clone(), y.clone()));
                    }
                }
                Ok(out)
            }
            Node::Shuffle { output, .. } => match output.get() {
                Some(parts) => Ok(parts[i].clone()),
                None => {
                    self.prepare()?;
                    Ok(output.get().map(|p| p[i].clone()).unwrap_or_default())
                }
            },
            Node::Union(parts) => {
                let (rdd, j) = &parts[i];
                rdd.compute(*j)
            }
            Node::Coalesce { parent, groups } => {
                let mut out = Vec::new();
                for j in groups[i].clone() {
                    out.extend(parent.compute(j)?);
                }
                Ok(out)
            }
        }
    }

    /// A native step and the native steps right above it (not cached, no combine before the
    /// last) run as one fused pass per record; if a record needs Python, the steps run one by
    /// one instead, each with its own fallback.
    fn compute_fused(&self, i: usize) -> Result<Partition> {
        let mut chain: Vec<&Rdd> = vec![self];
        let mut base: &Rdd = self;
        while let Node::Narrow { parent, .. } = &base.node {
            let next: &Rdd = parent;
            let fusable = match &next.node {
                Node::Narrow { step, .. } => matches!(
                    step.native(),
                    Some((kind, _)) if kind != NativeKind::Combine
                ),
                _ => false,
            };
            base = next;
            if !fusable || next.is_cached() {
                break;
            }
            chain.push(next);
        }
        // `base` is the first node that is not part of the chain.
        let input = base.compute(i)?;
        chain.reverse();
        let steps: Vec<(NativeKind, &crate::engine::expr::Expr)> = chain
            .iter()
            .filter_map(|r| match &r.node {
                Node::Narrow { step, .. } => step.native(),
                _ => None,
            })
            .collect();
        if let Ok(out) = crate::engine::step::run_fused(&steps, &input) {
            return Ok(out);
        }
        let mut data = input;
        for r in chain {
            if let Node::Narrow { step, .. } = &r.node {
                data = step.apply(i, data)?;
            }
        }
        Ok(data)
    }

    /// At most the first `limit` records of partition `i` (after [`Rdd::prepare`]), computing
    /// no more than needed: one-to-one native steps and sources pass the limit up, a Python
    /// step's output is consumed only that far, a coalesced partition stops at the limit.
    /// A cached dataset computes (and keeps) whole partitions.
    pub fn compute_limited(&self, i: usize, limit: usize) -> Result<Partition> {
        if self.is_cached() {
            let mut out = self.compute(i)?;
            out.truncate(limit);
            return Ok(out);
        }
        let mut out = match &self.node {
            Node::Source(parts) => parts[i].iter().take(limit).cloned().collect(),
            Node::Narrow { parent, step } => match step {
                Step::Host(f) => {
                    let input = parent.compute(i)?;
                    f.call_limited(i, input, limit)?
                }
                Step::Native {
                    kind: NativeKind::Map | NativeKind::MapValues | NativeKind::KeyBy,
                    ..
                } => {
                    let input = parent.compute_limited(i, limit)?;
                    step.apply(i, input)?
                }
                _ => self.compute(i)?,
            },
            Node::Union(parts) => {
                let (rdd, j) = &parts[i];
                rdd.compute_limited(*j, limit)?
            }
            Node::Coalesce { parent, groups } => {
                let mut out = Vec::new();
                for j in groups[i].clone() {
                    if out.len() >= limit {
                        break;
                    }
                    out.extend(parent.compute_limited(j, limit - out.len())?);
                }
                out
            }
            Node::Indexed { parent, starts } => {
                let n = parent.num_partitions as i64;
                parent
                    .compute_limited(i, limit)?
                    .into_iter()
                    .enumerate()
                    .map(|(j, x)| {
                        let id = match starts {
                            Some(s) => s[i] + j as i64,
                            None => j as i64 * n + i as i64,
                        };
                        Value::pair(x, Value::Int(id))
                    })
                    .collect()
            }
            _ => self.compute(i)?,
        };
        out.truncate(limit);
        Ok(out)
    }

    /// The first `n` records, scanning partitions as Spark's `take` does: one partition, then
    /// more at a time (up to four times as many as scanned so far) until enough were found.
    /// Each partition computes at most the records still needed.
    pub fn take(&self, n: usize) -> Result<Vec<Value>> {
        let mut items: Vec<Value> = Vec::new();
        let total = self.num_partitions;
        let mut scanned = 0usize;
        if n == 0 {
            return Ok(items);
        }
        self.prepare()?;
        while items.len() < n && scanned < total {
            let mut to_try = 1usize;
            if scanned > 0 {
                if items.is_empty() {
                    to_try = scanned * 4;
                } else {
                    let estimate = (1.5 * n as f64 * scanned as f64 / items.len() as f64) as i64
                        - scanned as i64;
                    to_try = estimate.clamp(1, (scanned * 4) as i64) as usize;
                }
            }
            let left = n - items.len();
            let indices: Vec<usize> = (scanned..(scanned + to_try).min(total)).collect();
            let parts: Vec<Partition> = self.ctx.run(|| {
                indices
                    .par_iter()
                    .map(|&i| self.compute_limited(i, left))
                    .collect::<Result<_>>()
            })?;
            for part in parts {
                let room = n - items.len();
                items.extend(part.into_iter().take(room));
            }
            scanned += to_try;
        }
        Ok(items)
    }

    /// Compute the given partitions in parallel, in the order given.
    pub fn compute_partitions(&self, indices: &[usize]) -> Result<Vec<Partition>> {
        for &i in indices {
            if i >= self.num_partitions {
                return Err(EngineError::InvalidArgument(format!(
                    "partition index {i} out of range (the dataset has {} partitions)",
                    self.num_partitions
                )));
            }
        }
        self.prepare()?;
        self.ctx
            .run(|| indices.par_iter().map(|&i| self.compute(i)).collect())
    }

    /// Every partition.
    pub fn compute_all(&self) -> Result<Vec<Partition>> {
        let all: Vec<usize> = (0..self.num_partitions).collect();
        self.compute_partitions(&all)
    }

    pub fn collect(&self) -> Result<Vec<Value>> {
        Ok(self.compute_all()?.into_iter().flatten().collect())
    }

    pub fn count(&self) -> Result<usize> {
        self.prepare()?;
        self.ctx.run(|| {
            (0..self.num_partitions)
                .into_par_iter()
                .map(|i| self.compute(i).map(|p| p.len()))
                .sum()
        })
    }

    /// Write `str(x)` per line into Hadoop's layout under `path` (see [`textio::save`]).
    pub fn save_as_text_file(&self, path: &str) -> Result<()> {
        self.prepare()?;
        textio::save(path, self.num_partitions, |i| self.compute(i), &self.ctx)
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

/// Split one map-side partition into `n` buckets.
fn bucket(
    ctx: &EngineContext,
    records: Partition,
    map_index: usize,
    n: usize,
    partitioner: &Partitioner,
) -> Result<Vec<Partition>> {
    let mut buckets: Vec<Partition> = (0..n).map(|_| Vec::new()).collect();
    match partitioner {
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

/// Group `(k, v)` records by key into `(k, [v...])`, keys in first-seen order.
/// Host keys are compared one by one here: datasets use [`group_local_in`].
pub fn group_local(records: Partition) -> Result<Partition> {
    let mut groups: crate::engine::value::KeyMap<Vec<Value>> = Default::default();
    for record in records {
        let (k, v) = record.as_pair()?;
        groups
            .entry(crate::engine::value::Key::new(k.clone())?)
            .or_default()
            .push(v.clone());
    }
    Ok(groups
        .into_iter()
        .map(|(k, vs)| Value::pair(k.value, Value::List(Arc::from(vs))))
        .collect())
}

/// [`group_local`] with the context's host runtime (host keys compared in bulk).
pub fn group_local_in(ctx: &EngineContext, records: Partition) -> Result<Partition> {
    Ok(keys::group_pairs(ctx, &records)?
        .into_iter()
        .map(|(k, vs)| Value::pair(k, Value::List(Arc::from(vs))))
        .collect())
}
