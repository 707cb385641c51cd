//! Writing a dataset as a plan.

use std::collections::HashMap;

use super::*;
use crate::engine::block::Data;
use crate::engine::host::HostCodec;
use crate::engine::ops::sample::SampleMode;
use crate::engine::rdd::{Node, Partitioner, Partitioning, Rdd};
use crate::engine::value::Value;
use crate::engine::wire;

struct Writer<'a> {
    fns: &'a mut PlanFns,
    codec: Option<&'a dyn HostCodec>,
    nodes: Vec<PlanNode>,
    /// Plan node of each dataset written, by dataset id.
    ids: HashMap<u64, NodeId>,
    /// Plan-local numbers of unique partitionings, by their id in this process.
    uniques: HashMap<u64, u64>,
}

impl Writer<'_> {
    fn encode(&self, values: &[Value]) -> Result<EncodedPartition> {
        wire::encode_partition(values, self.codec).map(EncodedPartition)
    }

    fn node(&mut self, rdd: &Rdd) -> Result<NodeId> {
        if let Some(&id) = self.ids.get(&rdd.id) {
            return Ok(id);
        }
        let op = match &rdd.node {
            Node::Source(parts) => PlanOp::Source(PlanSource::Partitions(
                parts
                    .iter()
                    .map(|p| match p {
                        Data::Rows(rows) => self.encode(rows),
                        Data::Block(block) => wire::encode_block(block).map(EncodedPartition),
                    })
                    .collect::<Result<_>>()?,
            )),
            Node::Lazy(_) => {
                let parts = rdd.compute_all()?;
                PlanOp::Source(PlanSource::Materialised(
                    parts
                        .iter()
                        .map(|p| self.encode(p))
                        .collect::<Result<_>>()?,
                ))
            }
            Node::TextFile(splits) => PlanOp::TextFile(
                splits
                    .iter()
                    .map(|s| SplitPlan {
                        path: s.path.clone(),
                        start: s.start,
                        end: s.end,
                    })
                    .collect(),
            ),
            Node::Narrow {
                parent,
                step,
                keeps,
            } => PlanOp::Narrow {
                parent: self.node(parent)?,
                step: step.to_plan(&mut self.fns.steps),
                keeps: *keeps,
            },
            Node::Slot(i) => PlanOp::Slot(*i as u64),
            Node::Keyed { inputs, op } => PlanOp::Keyed {
                inputs: inputs.iter().map(|r| self.node(r)).collect::<Result<_>>()?,
                op: key_op_plan(*op),
            },
            Node::Indexed { parent, starts } => PlanOp::Indexed {
                parent: self.node(parent)?,
                starts: starts.clone(),
            },
            Node::Zip { left, right } => PlanOp::Zip {
                left: self.node(left)?,
                right: self.node(right)?,
            },
            Node::Cartesian { left, right } => PlanOp::Cartesian {
                left: self.node(left)?,
                right: self.node(right)?,
            },
            Node::Sample { parent, mode, seed } => PlanOp::Sample {
                parent: self.node(parent)?,
                mode: self.sample_mode(mode)?,
                seed: *seed,
            },
            Node::Shuffle {
                parent,
                partitioner,
                keep_hashes,
                recombined,
                ..
            } => PlanOp::Shuffle {
                parent: self.node(parent)?,
                partitioner: match partitioner {
                    Partitioner::PortableHash => PartitionerPlan::PortableHash,
                    Partitioner::Host(f) => PartitionerPlan::Host(self.fns.partitioner_handle(f)),
                    Partitioner::RoundRobin => PartitionerPlan::RoundRobin,
                    Partitioner::RecordHash => PartitionerPlan::RecordHash,
                    Partitioner::Range(r) => PartitionerPlan::Range {
                        bounds: self.encode(&r.bounds)?,
                        ascending: r.ascending,
                        values_only: r.values_only,
                    },
                },
                keep_hashes: keep_hashes.load(std::sync::atomic::Ordering::Relaxed),
                recombined: *recombined,
            },
            Node::Union(parts) => PlanOp::Union(
                parts
                    .iter()
                    .map(|(r, j)| Ok((self.node(r)?, *j as u64)))
                    .collect::<Result<_>>()?,
            ),
            Node::Coalesce { parent, groups } => PlanOp::Coalesce {
                parent: self.node(parent)?,
                groups: groups
                    .iter()
                    .map(|g| (g.start as u64, g.end as u64))
                    .collect(),
            },
        };
        let partitioning = rdd.partitioning.as_ref().map(|p| match p {
            Partitioning::Hash(n) => PartitioningPlan::Hash(*n as u64),
            Partitioning::Func(n, f) => {
                PartitioningPlan::Func(*n as u64, self.fns.partitioner_handle(f))
            }
            Partitioning::Unique(n, id) => {
                let next = self.uniques.len() as u64;
                PartitioningPlan::Unique(*n as u64, *self.uniques.entry(*id).or_insert(next))
            }
        });
        let id = NodeId::try_from(self.nodes.len())
            .map_err(|_| EngineError::Unsupported("a dataset plan of 2^32 nodes".into()))?;
        self.nodes.push(PlanNode {
            num_partitions: rdd.num_partitions as u64,
            partitioning,
            persist: rdd.is_cached(),
            op,
        });
        self.ids.insert(rdd.id, id);
        Ok(id)
    }

    fn sample_mode(&self, mode: &SampleMode) -> Result<SampleModePlan> {
        Ok(match mode {
            SampleMode::Bernoulli(f) => SampleModePlan::Bernoulli(*f),
            SampleMode::Poisson(f) => SampleModePlan::Poisson(*f),
            SampleMode::Range(lb, ub) => SampleModePlan::Range(*lb, *ub),
            SampleMode::ByKey {
                fractions,
                with_replacement,
            } => {
                let (keys, fractions): (Vec<Value>, Vec<f64>) =
                    fractions.items().map(|(k, f)| (k.clone(), f)).unzip();
                SampleModePlan::ByKey {
                    keys: self.encode(&keys)?,
                    fractions,
                    with_replacement: *with_replacement,
                }
            }
        })
    }
}

impl Rdd {
    /// This dataset as a plan, with the host functions it refers to in a new table. Lazy
    /// sources are read now ([`PlanSource::Materialised`]); host objects in data are encoded
    /// with `codec` (an error names the need for one when there is none).
    pub fn to_plan(&self, codec: Option<&dyn HostCodec>) -> Result<(RddPlan, PlanFns)> {
        let mut fns = PlanFns::default();
        let plan = self.write_plan(&mut fns, codec)?;
        Ok((plan, fns))
    }

    /// [`Rdd::to_plan`] with the host functions added to `fns` (plans sent to the same place
    /// share one table).
    pub fn write_plan(&self, fns: &mut PlanFns, codec: Option<&dyn HostCodec>) -> Result<RddPlan> {
        let mut writer = Writer {
            fns,
            codec,
            nodes: Vec::new(),
            ids: HashMap::new(),
            uniques: HashMap::new(),
        };
        let root = writer.node(self)?;
        Ok(RddPlan {
            version: PLAN_VERSION,
            nodes: writer.nodes,
            root,
        })
    }
}
