//! Building a dataset from a plan, every node checked against its inputs.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::*;
use crate::engine::block::Data;
use crate::engine::context::EngineContext;
use crate::engine::host::HostCodec;
use crate::engine::ops::sample::{Fractions, SampleMode};
use crate::engine::rdd::{Node, Partitioner, Partitioning, RangeBounds, Rdd};
use crate::engine::textio::Split;
use crate::engine::value::Value;
use crate::engine::wire;

struct Reader<'a> {
    ctx: &'a Arc<EngineContext>,
    fns: &'a PlanFns,
    codec: Option<&'a dyn HostCodec>,
    built: Vec<Arc<Rdd>>,
    /// Unique partitioning ids of this context, by plan-local number.
    uniques: HashMap<u64, u64>,
}

fn count(n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| bad_plan(format!("{n} partitions")))
}

impl Reader<'_> {
    /// An earlier node (a later one would make a cycle).
    fn input(&self, at: usize, id: NodeId) -> Result<Arc<Rdd>> {
        ((id as usize) < at)
            .then(|| self.built.get(id as usize).cloned())
            .flatten()
            .ok_or_else(|| bad_plan(format!("node {at} reads node {id}, which is not before it")))
    }

    fn decode(&self, p: &EncodedPartition) -> Result<Vec<Value>> {
        wire::decode_partition(&p.0, self.codec)
    }

    fn node(&mut self, at: usize, plan: &PlanNode) -> Result<Arc<Rdd>> {
        let n = count(plan.num_partitions)?;
        let same = |what: &str, got: usize| -> Result<()> {
            if got != n {
                return Err(bad_plan(format!(
                    "node {at} ({what}) declares {n} partitions, its inputs give {got}"
                )));
            }
            Ok(())
        };
        let node = match &plan.op {
            PlanOp::Source(PlanSource::Partitions(parts) | PlanSource::Materialised(parts)) => {
                same("source", parts.len())?;
                let parts = parts
                    .iter()
                    .map(|p| self.decode(p))
                    .collect::<Result<Vec<_>>>()?;
                Node::Source(Arc::new(parts.into_iter().map(Data::Rows).collect()))
            }
            PlanOp::TextFile(splits) => {
                same("text file", splits.len())?;
                Node::TextFile(
                    splits
                        .iter()
                        .map(|s| Split {
                            path: s.path.clone(),
                            start: s.start,
                            end: s.end,
                        })
                        .collect(),
                )
            }
            PlanOp::Narrow {
                parent,
                step,
                keeps,
            } => {
                let parent = self.input(at, *parent)?;
                same("narrow step", parent.num_partitions)?;
                Node::Narrow {
                    parent,
                    step: step.resolve(&self.fns.steps)?,
                    keeps: *keeps,
                }
            }
            PlanOp::Slot(i) => {
                same("template input", 1)?;
                Node::Slot(count(*i)?)
            }
            PlanOp::Keyed { inputs, op } => {
                if inputs.is_empty() {
                    return Err(bad_plan(format!(
                        "node {at}: a keyed operation without inputs"
                    )));
                }
                let inputs = inputs
                    .iter()
                    .map(|&i| self.input(at, i))
                    .collect::<Result<Vec<_>>>()?;
                for input in &inputs {
                    same("keyed operation", input.num_partitions)?;
                }
                Node::Keyed {
                    inputs,
                    op: key_op(*op),
                }
            }
            PlanOp::Indexed { parent, starts } => {
                let parent = self.input(at, *parent)?;
                same("zipWithIndex", parent.num_partitions)?;
                if let Some(s) = starts {
                    same("zipWithIndex's starts", s.len())?;
                }
                Node::Indexed {
                    parent,
                    starts: starts.clone(),
                }
            }
            PlanOp::Zip { left, right } => {
                let (left, right) = (self.input(at, *left)?, self.input(at, *right)?);
                same("zip", left.num_partitions)?;
                same("zip", right.num_partitions)?;
                Node::Zip { left, right }
            }
            PlanOp::Cartesian { left, right } => {
                let (left, right) = (self.input(at, *left)?, self.input(at, *right)?);
                let product = left
                    .num_partitions
                    .checked_mul(right.num_partitions)
                    .ok_or_else(|| bad_plan(format!("node {at}: too many partitions")))?;
                same("cartesian", product)?;
                Node::Cartesian { left, right }
            }
            PlanOp::Sample { parent, mode, seed } => {
                let parent = self.input(at, *parent)?;
                same("sample", parent.num_partitions)?;
                Node::Sample {
                    parent,
                    mode: self.sample_mode(mode)?,
                    seed: *seed,
                }
            }
            PlanOp::Shuffle {
                parent,
                partitioner,
                keep_hashes,
                recombined,
            } => {
                if n == 0 {
                    return Err(bad_plan(format!("node {at}: a shuffle into 0 partitions")));
                }
                Node::Shuffle {
                    parent: self.input(at, *parent)?,
                    partitioner: match partitioner {
                        PartitionerPlan::PortableHash => Partitioner::PortableHash,
                        PartitionerPlan::Host(h) => {
                            Partitioner::Host(self.fns.resolve_partitioner(*h)?)
                        }
                        PartitionerPlan::RoundRobin => Partitioner::RoundRobin,
                        PartitionerPlan::RecordHash => Partitioner::RecordHash,
                        PartitionerPlan::Range {
                            bounds,
                            ascending,
                            values_only,
                        } => Partitioner::Range(Arc::new(RangeBounds {
                            bounds: self.decode(bounds)?,
                            ascending: *ascending,
                            values_only: *values_only,
                        })),
                    },
                    output: OnceLock::new(),
                    lock: Mutex::new(()),
                    keep_hashes: AtomicBool::new(*keep_hashes),
                    // A reader that takes keyed columns asks for them where the plan runs.
                    keyed_columns: AtomicBool::new(false),
                    recombined: *recombined,
                }
            }
            PlanOp::Union(parts) => {
                same("union", parts.len())?;
                let mut out = Vec::with_capacity(parts.len());
                for &(i, j) in parts {
                    let rdd = self.input(at, i)?;
                    let j = count(j)?;
                    if j >= rdd.num_partitions {
                        return Err(bad_plan(format!(
                            "node {at} reads partition {j} of node {i}, which has {}",
                            rdd.num_partitions
                        )));
                    }
                    out.push((rdd, j));
                }
                Node::Union(out)
            }
            PlanOp::Coalesce { parent, groups } => {
                let parent = self.input(at, *parent)?;
                same("coalesce", groups.len())?;
                let mut ranges = Vec::with_capacity(groups.len());
                for &(start, end) in groups {
                    let (start, end) = (count(start)?, count(end)?);
                    if start > end || end > parent.num_partitions {
                        return Err(bad_plan(format!(
                            "node {at} coalesces partitions {start}..{end} of {}",
                            parent.num_partitions
                        )));
                    }
                    ranges.push(start..end);
                }
                Node::Coalesce {
                    parent,
                    groups: ranges,
                }
            }
        };
        let partitioning = match &plan.partitioning {
            None => None,
            Some(p) => {
                let p = match p {
                    PartitioningPlan::Hash(k) => Partitioning::Hash(count(*k)?),
                    PartitioningPlan::Func(k, h) => {
                        Partitioning::Func(count(*k)?, self.fns.resolve_partitioner(*h)?)
                    }
                    PartitioningPlan::Unique(k, u) => {
                        let ctx = self.ctx;
                        let id = *self.uniques.entry(*u).or_insert_with(|| ctx.next_rdd_id());
                        Partitioning::Unique(count(*k)?, id)
                    }
                };
                same("partitioning", p.num_partitions())?;
                Some(p)
            }
        };
        let rdd = Rdd::new_partitioned(self.ctx.clone(), node, n, partitioning);
        if plan.persist {
            rdd.persist();
        }
        Ok(rdd)
    }

    fn sample_mode(&self, mode: &SampleModePlan) -> Result<SampleMode> {
        Ok(match mode {
            SampleModePlan::Bernoulli(f) => SampleMode::Bernoulli(*f),
            SampleModePlan::Poisson(f) => SampleMode::Poisson(*f),
            SampleModePlan::Range(lb, ub) => SampleMode::Range(*lb, *ub),
            SampleModePlan::ByKey {
                keys,
                fractions,
                with_replacement,
            } => {
                let keys = self.decode(keys)?;
                if keys.len() != fractions.len() {
                    return Err(bad_plan(format!(
                        "{} keys with {} fractions",
                        keys.len(),
                        fractions.len()
                    )));
                }
                SampleMode::ByKey {
                    fractions: Arc::new(Fractions::new(
                        keys.into_iter().zip(fractions.iter().copied()).collect(),
                    )?),
                    with_replacement: *with_replacement,
                }
            }
        })
    }
}

impl Rdd {
    /// The dataset `plan` describes, built in `ctx`, its host functions resolved in `fns` and
    /// host objects in data decoded with `codec`. Every node is checked against its inputs
    /// (partition counts, references to earlier nodes only): a malformed plan is an error.
    pub fn from_plan(
        ctx: &Arc<EngineContext>,
        plan: &RddPlan,
        fns: &PlanFns,
        codec: Option<&dyn HostCodec>,
    ) -> Result<Arc<Rdd>> {
        check_version(plan.version)?;
        let mut reader = Reader {
            ctx,
            fns,
            codec,
            built: Vec::with_capacity(plan.nodes.len()),
            uniques: HashMap::new(),
        };
        for (at, node) in plan.nodes.iter().enumerate() {
            let rdd = reader.node(at, node)?;
            reader.built.push(rdd);
        }
        reader
            .built
            .get(plan.root as usize)
            .cloned()
            .ok_or_else(|| bad_plan(format!("root {} of {} nodes", plan.root, plan.nodes.len())))
    }
}
