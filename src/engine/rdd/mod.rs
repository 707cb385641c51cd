//! Resilient distributed datasets, local edition: an immutable plan of partitioned
//! computations, evaluated lazily by actions on the context's worker pool.
//!
//! Narrow nodes (steps) run partition by partition, so a chain of them is pipelined: one task
//! per partition carries records through every step. Shuffle nodes are stage boundaries: before
//! an action runs, [`Rdd::prepare`] materialises every shuffle it depends on through the
//! context's [`Shuffle`](crate::engine::shuffle::Shuffle) (map tasks write buckets; reduce
//! partitions are fetched from every map output, in map order, as Spark's fetch does).

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::engine::block::Data;
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::host::PartitionFn;
use crate::engine::keys;
use crate::engine::ops::keyed::KeyOp;
use crate::engine::shuffle::ShuffleReader;
use crate::engine::step::{NativeKind, Step};
use crate::engine::textio;
use crate::engine::value::Value;

mod fused;
mod limit;
mod partition;
mod plans;
mod serial;
mod template;

use partition::ShuffleReads;
pub use partition::{Partitioner, Partitioning, RangeBounds};
pub use serial::{
    EncodedPartition, KeyOpPlan, NodeId, PartitionerPlan, PartitioningPlan, PlanFns, PlanNode,
    PlanOp, PlanPayloads, PlanSource, RddPlan, SampleModePlan, SplitPlan, PLAN_VERSION,
};
use template::template_input;

pub type Partition = Vec<Value>;

/// Partitions produced on demand by engine code (keyed state, sources read lazily per partition).
pub trait PartitionSource: Send + Sync {
    fn num_partitions(&self) -> usize;
    /// Partition `i` (`i < num_partitions()`).
    fn compute(&self, i: usize) -> Result<Partition>;

    /// Partition `i` in the form the source reads it: a native
    /// [`Block`](crate::engine::block::Block) for sources of
    /// lines or records that have one (see `engine::block`), else rows. Its rows form must be
    /// exactly what [`PartitionSource::compute`] returns.
    fn compute_data(&self, i: usize) -> Result<Data> {
        self.compute(i).map(Data::Rows)
    }

    /// How many records partition `i` holds, when the source knows without computing it
    /// (`count()` then builds no records).
    fn len(&self, _i: usize) -> Option<usize> {
        None
    }
}

enum Node {
    /// Partitions held in memory (`parallelize`, queue batches): rows, or native blocks.
    Source(Arc<Vec<Data>>),
    Lazy(Arc<dyn PartitionSource>),
    TextFile(Vec<textio::Split>),
    Narrow {
        parent: Arc<Rdd>,
        step: Step,
        /// The parent's partitioning is kept (PySpark's `preservesPartitioning`).
        keeps: bool,
    },
    /// Input `i` of a plan template ([`Rdd::slot`]): replaced by a batch's dataset when the
    /// template is instantiated; it has no data of its own.
    Slot(usize),
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
        output: OnceLock<Arc<dyn ShuffleReader>>,
        lock: Mutex<()>,
        /// A reader wants the keys' hashes with the records (see [`Rdd::want_key_hashes`]).
        keep_hashes: std::sync::atomic::AtomicBool,
        /// Its readers take keyed columns (see [`Rdd::want_keyed_columns`]): a map side that
        /// builds `(key, value)` pairs natively hands keys and values over as two columns.
        keyed_columns: std::sync::atomic::AtomicBool,
        /// Its only reader combines every key's records again ([`Rdd::reduce_by_key`]), so a
        /// combine feeding it may pass records on uncombined.
        recombined: bool,
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

impl Drop for Rdd {
    /// Large data this node holds alone (its source partitions, its cache) is freed off this
    /// thread (see [`crate::engine::reclaim`]).
    fn drop(&mut self) {
        if let Some(cache) = self.cache.get_mut().take() {
            crate::engine::reclaim::drop_later(cache.into_iter().flatten().collect());
        }
        if let Node::Source(parts) = &mut self.node {
            let parts = std::mem::replace(parts, Arc::new(Vec::new()));
            if let Ok(parts) = Arc::try_unwrap(parts) {
                // A block is one buffer, freed at once; rows are freed record by record.
                let rows = parts.into_iter().filter_map(|p| match p {
                    Data::Rows(rows) => Some(rows),
                    Data::Block(_) => None,
                });
                crate::engine::reclaim::drop_later(rows.collect());
            }
        }
    }
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
        Rdd::from_data(ctx, partitions.into_iter().map(Data::Rows).collect())
    }

    /// A dataset of the given partitions, each rows or a native block (lines handed over by
    /// the host as one buffer, see [`crate::engine::block`]).
    pub fn from_data(ctx: &Arc<EngineContext>, partitions: Vec<Data>) -> Arc<Rdd> {
        let n = partitions.len();
        Rdd::new(ctx.clone(), Node::Source(Arc::new(partitions)), n)
    }

    /// A dataset whose partitions `source` computes when they are needed.
    pub fn lazy(ctx: &Arc<EngineContext>, source: Arc<dyn PartitionSource>) -> Arc<Rdd> {
        let n = source.num_partitions();
        Rdd::new(ctx.clone(), Node::Lazy(source), n)
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
            Step::Glom | Step::Count => false,
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
                keeps: keeps_partitioning,
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
        self.shuffle_read_by(n, partitioner, false)
    }

    /// [`Rdd::shuffle`]; `recombined`: the new shuffle's only reader combines every key's
    /// records again (see [`Rdd::reduce_by_key`]).
    fn shuffle_read_by(
        self: &Arc<Self>,
        n: usize,
        partitioner: Partitioner,
        recombined: bool,
    ) -> Result<Arc<Rdd>> {
        if n == 0 {
            return Err(EngineError::InvalidArgument(
                "numPartitions must be positive".into(),
            ));
        }
        let partitioning = match &partitioner {
            Partitioner::PortableHash => Some(Partitioning::Hash(n)),
            Partitioner::Host(f) => Some(Partitioning::Func(n, f.clone())),
            Partitioner::Range(r) if r.values_only => None,
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
                keep_hashes: Default::default(),
                keyed_columns: Default::default(),
                recombined,
            },
            n,
            partitioning,
        ))
    }

    /// `reduceByKey` with a native combine step: combined per map partition, shuffled by key
    /// hash into `n` partitions (not when already partitioned so) and combined again. The
    /// shuffle between the two is this plan's own, read by the second combine only: the
    /// first may pass records on uncombined when combining does not pay, and the keys'
    /// hashes go from the first to the second with the records.
    pub fn reduce_by_key(self: &Arc<Self>, combine: Step, n: usize) -> Result<Arc<Rdd>> {
        if !matches!(combine.native(), Some((NativeKind::Combine, _))) {
            return Err(EngineError::Internal(
                "reduce_by_key takes a native combine step".into(),
            ));
        }
        let map_side = self.with_step(combine.clone());
        let shuffled = map_side.shuffle_read_by(n, Partitioner::PortableHash, true)?;
        Ok(shuffled.want_key_hashes().with_step(combine))
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
            Node::Source(_) | Node::Lazy(_) | Node::TextFile(_) | Node::Slot(_) => Ok(()),
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
                keep_hashes,
                keyed_columns,
                recombined,
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
                use std::sync::atomic::Ordering::Relaxed;
                let reads = ShuffleReads {
                    hashes: keep_hashes.load(Relaxed),
                    keyed_columns: keyed_columns.load(Relaxed),
                    recombined: *recombined,
                };
                let _ = output.set(self.run_shuffle(parent, partitioner, reads)?);
                Ok(())
            }
        }
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

    /// Partition `i` (after [`Rdd::prepare`]) as its source reads it: a native block where
    /// the dataset is a source of one (not cached), rows otherwise. Consumers that can read a
    /// block directly (fused native steps, host steps) ask for this instead of
    /// [`Rdd::compute`].
    pub fn compute_data(&self, i: usize) -> Result<Data> {
        if self.is_cached() {
            return self.compute(i).map(Data::Rows);
        }
        match &self.node {
            Node::Source(parts) => Ok(parts[i].clone()),
            Node::Lazy(source) => source.compute_data(i),
            Node::TextFile(splits) => textio::read_split_block(&splits[i]).map(Data::block),
            Node::Union(parts) => {
                let (rdd, j) = &parts[i];
                rdd.compute_data(*j)
            }
            _ => self.compute_uncached(i).map(Data::Rows),
        }
    }

    fn compute_uncached(&self, i: usize) -> Result<Partition> {
        match &self.node {
            Node::Source(parts) => Ok(parts[i].clone().into_rows()),
            Node::Lazy(source) => source.compute(i),
            Node::TextFile(splits) => textio::read_split(&splits[i]),
            Node::Slot(_) => Err(template_input()),
            Node::Narrow { parent, step, .. } => {
                if step.native().is_some() {
                    return self.compute_fused(i);
                }
                match step {
                    Step::GroupLocal => group_local_in(&self.ctx, parent.compute(i)?),
                    // A host step and a count read a native block as it is.
                    Step::Host(f) => match parent.compute_data(i)? {
                        Data::Block(block) => f.call_block(i, *block),
                        Data::Rows(rows) => f.call(i, rows),
                    },
                    Step::Count => match parent.compute_data(i)? {
                        Data::Block(block) => Step::count_of(block.len()),
                        Data::Rows(rows) => step.apply(i, rows),
                    },
                    _ => step.apply(i, parent.compute(i)?),
                }
            }
            Node::Keyed { inputs, op } => {
                if op.keys_are_records() {
                    let sides = inputs
                        .iter()
                        .map(|r| r.compute(i))
                        .collect::<Result<Vec<_>>>()?;
                    return op.run(&self.ctx, sides);
                }
                // Inputs fresh from a hash shuffle come with their keys' hashes.
                let mut sides = Vec::with_capacity(inputs.len());
                let mut hashes = Vec::with_capacity(inputs.len());
                for input in inputs {
                    let fetched = input.compute_hashed(i)?;
                    sides.push(fetched.records);
                    hashes.push(fetched.hashes);
                }
                op.run_hashed(&self.ctx, sides, hashes)
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
                crate::engine::ops::sample::sample(&self.ctx, records, mode, *seed, i)
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
            Node::Shuffle { output, .. } => {
                if output.get().is_none() {
                    self.prepare()?;
                }
                match output.get() {
                    Some(reader) => reader.fetch(i),
                    None => Err(EngineError::Internal("shuffle output missing".into())),
                }
            }
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
            .map_tasks(indices.len(), |j| self.compute(indices[j]))
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
        let sizes = self.ctx.map_tasks(self.num_partitions, |i| {
            if let (Node::Lazy(source), false) = (&self.node, self.is_cached()) {
                if let Some(n) = source.len(i) {
                    return Ok(n);
                }
            }
            self.compute_data(i).map(|p| p.len())
        })?;
        Ok(sizes.into_iter().sum())
    }

    /// Write `str(x)` per line into Hadoop's layout under `path` (see [`textio::save`]).
    pub fn save_as_text_file(&self, path: &str) -> Result<()> {
        self.prepare()?;
        textio::save(path, self.num_partitions, |i| self.compute(i), &self.ctx)
    }
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
