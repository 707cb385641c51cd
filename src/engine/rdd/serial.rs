//! Dataset plans as data: a whole [`Rdd`] graph as a serde value ([`RddPlan`]), so that worker
//! processes, Ray and other executors can be handed a dataset, not only a fused task.
//!
//! A plan is a DAG in topological order: every node refers to its inputs by their index in
//! [`RddPlan::nodes`], always an earlier one, so a dataset used by two branches is one node
//! (and, persisted, is computed once). Data is carried in the wire encoding
//! ([`crate::engine::wire`]): native values as such, host objects pickled by the host's
//! [`HostCodec`] once per partition. Host functions travel as handles into a [`PlanFns`] table
//! (partition functions as [`StepPlan`]s do, and key partitioners); the receiving side resolves
//! them there, e.g. after loading the functions' pickled bytes ([`PlanFns::payloads`]).
//!
//! What a plan does not carry: computed data (a shuffle is a boundary, run again where the
//! plan runs; a persisted dataset keeps its flag, not its cache) and the connections of lazy
//! sources: a [`Node::Lazy`] source (a Kafka range, a keyed state snapshot, receiver blocks) is
//! read when the plan is written and travels as its partitions
//! ([`PlanSource::Materialised`]), so no credentials are written and nothing is lost.
//!
//! Bytes: [`RddPlan::to_bytes`] (postcard behind a magic and the format version) or
//! [`RddPlan::to_json`]. A plan of a newer format version is refused with an error naming both
//! versions.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{Node, Partitioner, Partitioning, RangeBounds, Rdd};
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::host::{HostCodec, KeyPartitioner, Payload};
use crate::engine::ops::keyed::KeyOp;
use crate::engine::ops::sample::{Fractions, SampleMode};
use crate::engine::step::{HostFns, HostHandle, StepPlan};
use crate::engine::textio::Split;
use crate::engine::value::Value;
use crate::engine::wire;

/// The plan format this engine writes, and the newest it reads.
pub const PLAN_VERSION: u32 = 1;

/// The first bytes of a plan written by [`RddPlan::to_bytes`].
const MAGIC: &[u8; 4] = b"FSRP";

/// A node's index in [`RddPlan::nodes`].
pub type NodeId = u32;

/// A dataset plan: its nodes, inputs before the nodes that read them, and the root.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RddPlan {
    /// The format version ([`PLAN_VERSION`] when written by this engine).
    pub version: u32,
    pub nodes: Vec<PlanNode>,
    pub root: NodeId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanNode {
    pub num_partitions: u64,
    /// How the records are known to be partitioned by key.
    pub partitioning: Option<PartitioningPlan>,
    /// The dataset is persisted (its cache is not shipped, only the flag).
    pub persist: bool,
    pub op: PlanOp,
}

/// What a node computes; inputs are earlier nodes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PlanOp {
    Source(PlanSource),
    /// Lines of byte ranges of text files, as Hadoop's splits.
    TextFile(Vec<SplitPlan>),
    Narrow {
        parent: NodeId,
        step: StepPlan,
        keeps: bool,
    },
    /// Input `i` of a plan template.
    Slot(u64),
    Keyed {
        inputs: Vec<NodeId>,
        op: KeyOpPlan,
    },
    /// `zipWithIndex` (partition starts) or `zipWithUniqueId` (None).
    Indexed {
        parent: NodeId,
        starts: Option<Vec<i64>>,
    },
    Zip {
        left: NodeId,
        right: NodeId,
    },
    Cartesian {
        left: NodeId,
        right: NodeId,
    },
    Sample {
        parent: NodeId,
        mode: SampleModePlan,
        seed: u64,
    },
    /// A shuffle boundary (its output is computed where the plan runs).
    Shuffle {
        parent: NodeId,
        partitioner: PartitionerPlan,
        keep_hashes: bool,
    },
    /// Partition `j` of node `i`, for each `(i, j)`, in order.
    Union(Vec<(NodeId, u64)>),
    /// Output partition `i` holds the parent's partitions `groups[i].0 .. groups[i].1`.
    Coalesce {
        parent: NodeId,
        groups: Vec<(u64, u64)>,
    },
}

/// Where a source's records come from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PlanSource {
    /// In-memory partitions (`parallelize`, queue batches): each wire-encoded.
    Partitions(Vec<EncodedPartition>),
    /// A source read lazily in its own process (Kafka ranges, keyed state, receiver blocks,
    /// streamed files), read when the plan was written: its partitions, wire-encoded.
    Materialised(Vec<EncodedPartition>),
}

/// One partition in the wire encoding ([`wire::encode_partition`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncodedPartition(#[serde(with = "raw")] pub Vec<u8>);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SplitPlan {
    pub path: std::path::PathBuf,
    pub start: u64,
    pub end: u64,
}

/// A shuffle's partitioner.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PartitionerPlan {
    PortableHash,
    /// A user partition function, by handle in [`PlanFns`].
    Host(HostHandle),
    RoundRobin,
    RecordHash,
    /// Range bounds (wire-encoded keys, ascending), and the direction of the sort.
    Range {
        bounds: EncodedPartition,
        ascending: bool,
    },
}

/// A known partitioning. `Unique` numbers are local to the plan: nodes with the same number
/// share a partitioning (a sort's range shuffle and what keeps it), no other dataset does.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PartitioningPlan {
    Hash(u64),
    Func(u64, HostHandle),
    Unique(u64, u64),
}

/// [`KeyOp`], as plans spell it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum KeyOpPlan {
    GroupByKey,
    CoGroup,
    Join { left_outer: bool, right_outer: bool },
    SubtractByKey,
    Distinct,
    Intersection,
    Subtract,
    SortByKey { ascending: bool },
    Concat,
}

/// [`SampleMode`], as plans spell it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SampleModePlan {
    Bernoulli(f64),
    Poisson(f64),
    Range(f64, f64),
    /// `sampleByKey`: the keys (wire-encoded) and their fractions, in the same order.
    ByKey {
        keys: EncodedPartition,
        fractions: Vec<f64>,
        with_replacement: bool,
    },
}

/// Byte strings as one length-prefixed run in postcard (an array of numbers in JSON).
mod raw {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(V)
    }
}

fn bad_plan(what: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidArgument(format!("not a valid dataset plan: {what}"))
}

fn check_version(version: u32) -> Result<()> {
    if version > PLAN_VERSION {
        return Err(EngineError::Unsupported(format!(
            "this dataset plan has format version {version}, newer than this engine reads \
             (up to {PLAN_VERSION}): run the same ferrostream version on both sides"
        )));
    }
    if version == 0 {
        return Err(bad_plan("format version 0"));
    }
    Ok(())
}

impl RddPlan {
    /// The plan as bytes: `FSRP`, then the postcard encoding (format version first).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        postcard::to_extend(self, MAGIC.to_vec())
            .map_err(|e| EngineError::Internal(format!("cannot encode a dataset plan: {e}")))
    }

    /// A plan written by [`RddPlan::to_bytes`]; a newer format version is refused before the
    /// rest is read.
    pub fn from_bytes(bytes: &[u8]) -> Result<RddPlan> {
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| bad_plan("the bytes do not start with a plan's magic"))?;
        let (version, _) = postcard::take_from_bytes::<u32>(body).map_err(bad_plan)?;
        check_version(version)?;
        let (plan, rest) = postcard::take_from_bytes::<RddPlan>(body).map_err(bad_plan)?;
        if !rest.is_empty() {
            return Err(bad_plan(format!("{} bytes after the plan", rest.len())));
        }
        Ok(plan)
    }

    /// The plan as JSON (for reading and debugging; [`RddPlan::to_bytes`] is smaller).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| EngineError::Internal(format!("cannot encode a dataset plan: {e}")))
    }

    /// A plan written by [`RddPlan::to_json`]; a newer format version is refused.
    pub fn from_json(text: &str) -> Result<RddPlan> {
        #[derive(Deserialize)]
        struct Header {
            version: u32,
        }
        let header: Header = serde_json::from_str(text).map_err(bad_plan)?;
        check_version(header.version)?;
        serde_json::from_str(text).map_err(bad_plan)
    }
}

/// The host functions a plan refers to, by handle: partition functions ([`HostFns`], as
/// [`StepPlan`]s refer to them) and key partitioners (their own handles). The writer fills
/// it; the receiving side registers the same functions under the same handles.
#[derive(Default)]
pub struct PlanFns {
    pub steps: HostFns,
    partitioners: Vec<(HostHandle, Arc<dyn KeyPartitioner>)>,
}

/// The pickled functions of a [`PlanFns`], as a driver ships them with its plans.
pub struct PlanPayloads {
    pub steps: Vec<(HostHandle, Payload)>,
    pub partitioners: Vec<(HostHandle, Payload)>,
}

impl PlanFns {
    /// The handle of `f` (partitioners that compare equal, by [`KeyPartitioner::identity`],
    /// get the same handle, so co-partitioned datasets stay co-partitioned).
    pub fn partitioner_handle(&mut self, f: &Arc<dyn KeyPartitioner>) -> HostHandle {
        if let Some((h, _)) = self
            .partitioners
            .iter()
            .find(|(_, g)| g.identity() == f.identity())
        {
            return *h;
        }
        let h = HostHandle(self.partitioners.len() as u64);
        self.partitioners.push((h, f.clone()));
        h
    }

    /// Register `f` under `handle` (replacing what was there).
    pub fn insert_partitioner(&mut self, handle: HostHandle, f: Arc<dyn KeyPartitioner>) {
        self.partitioners.retain(|(h, _)| *h != handle);
        self.partitioners.push((handle, f));
    }

    pub fn partitioners(&self) -> impl Iterator<Item = (HostHandle, &Arc<dyn KeyPartitioner>)> {
        self.partitioners.iter().map(|(h, f)| (*h, f))
    }

    pub fn resolve_partitioner(&self, handle: HostHandle) -> Result<Arc<dyn KeyPartitioner>> {
        self.partitioners
            .iter()
            .find(|(h, _)| *h == handle)
            .map(|(_, f)| f.clone())
            .ok_or_else(|| {
                EngineError::IllegalState(format!(
                    "no host partition function for handle {}",
                    handle.0
                ))
            })
    }

    /// Every function as bytes another process of the host loads (Python: cloudpickle). A
    /// function that can only run in this process is an error naming its handle.
    pub fn payloads(&self) -> Result<PlanPayloads> {
        fn need(what: &str, h: HostHandle, p: Option<Result<Payload>>) -> Result<Payload> {
            p.unwrap_or_else(|| {
                Err(EngineError::Unsupported(format!(
                    "the {what} with handle {} can only run in this process",
                    h.0
                )))
            })
        }
        Ok(PlanPayloads {
            steps: self
                .steps
                .iter()
                .map(|(h, f)| Ok((h, need("host function", h, f.payload())?)))
                .collect::<Result<_>>()?,
            partitioners: self
                .partitioners()
                .map(|(h, f)| Ok((h, need("partition function", h, f.payload())?)))
                .collect::<Result<_>>()?,
        })
    }
}

// ------------------------------------------------------------------------------------------
// writing

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
                    .map(|p| self.encode(p))
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
                    },
                },
                keep_hashes: keep_hashes.load(std::sync::atomic::Ordering::Relaxed),
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

fn key_op_plan(op: KeyOp) -> KeyOpPlan {
    match op {
        KeyOp::GroupByKey => KeyOpPlan::GroupByKey,
        KeyOp::CoGroup => KeyOpPlan::CoGroup,
        KeyOp::Join {
            left_outer,
            right_outer,
        } => KeyOpPlan::Join {
            left_outer,
            right_outer,
        },
        KeyOp::SubtractByKey => KeyOpPlan::SubtractByKey,
        KeyOp::Distinct => KeyOpPlan::Distinct,
        KeyOp::Intersection => KeyOpPlan::Intersection,
        KeyOp::Subtract => KeyOpPlan::Subtract,
        KeyOp::SortByKey { ascending } => KeyOpPlan::SortByKey { ascending },
        KeyOp::Concat => KeyOpPlan::Concat,
    }
}

fn key_op(op: KeyOpPlan) -> KeyOp {
    match op {
        KeyOpPlan::GroupByKey => KeyOp::GroupByKey,
        KeyOpPlan::CoGroup => KeyOp::CoGroup,
        KeyOpPlan::Join {
            left_outer,
            right_outer,
        } => KeyOp::Join {
            left_outer,
            right_outer,
        },
        KeyOpPlan::SubtractByKey => KeyOp::SubtractByKey,
        KeyOpPlan::Distinct => KeyOp::Distinct,
        KeyOpPlan::Intersection => KeyOp::Intersection,
        KeyOpPlan::Subtract => KeyOp::Subtract,
        KeyOpPlan::SortByKey { ascending } => KeyOp::SortByKey { ascending },
        KeyOpPlan::Concat => KeyOp::Concat,
    }
}

// ------------------------------------------------------------------------------------------
// reading

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
                Node::Source(Arc::new(parts))
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
                        PartitionerPlan::Range { bounds, ascending } => {
                            Partitioner::Range(Arc::new(RangeBounds {
                                bounds: self.decode(bounds)?,
                                ascending: *ascending,
                            }))
                        }
                    },
                    output: OnceLock::new(),
                    lock: Mutex::new(()),
                    keep_hashes: AtomicBool::new(*keep_hashes),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> RddPlan {
        let ctx = EngineContext::new(1).unwrap();
        let rdd = Rdd::from_partitions(&ctx, vec![vec![Value::Int(1)], vec![Value::str("a")]]);
        rdd.to_plan(None).unwrap().0
    }

    #[test]
    fn a_newer_version_is_refused_by_name() {
        let mut newer = plan();
        newer.version = PLAN_VERSION + 1;
        let bytes = newer.to_bytes().unwrap();
        let err = RddPlan::from_bytes(&bytes).unwrap_err().to_string();
        assert!(
            err.contains(&format!("format version {}", PLAN_VERSION + 1)),
            "{err}"
        );
        assert!(err.contains("newer than this engine reads"), "{err}");
        let err = RddPlan::from_json(&newer.to_json().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer than this engine reads"), "{err}");
        let ctx = EngineContext::new(1).unwrap();
        let err = Rdd::from_plan(&ctx, &newer, &PlanFns::default(), None)
            .err()
            .expect("refused");
        assert!(matches!(err, EngineError::Unsupported(_)), "{err}");
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        let bytes = plan().to_bytes().unwrap();
        assert!(RddPlan::from_bytes(&bytes).is_ok());
        assert!(RddPlan::from_bytes(b"nope").is_err());
        for cut in 0..bytes.len() {
            assert!(RddPlan::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(RddPlan::from_bytes(&longer).is_err());
    }

    #[test]
    fn nodes_are_checked_against_their_inputs() {
        let ctx = EngineContext::new(1).unwrap();
        let fns = PlanFns::default();
        let mut p = plan();
        p.nodes[0].num_partitions = 3;
        let err = Rdd::from_plan(&ctx, &p, &fns, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("declares 3 partitions"), "{err}");

        let mut p = plan();
        p.nodes.push(PlanNode {
            num_partitions: 2,
            partitioning: None,
            persist: false,
            op: PlanOp::Zip { left: 0, right: 1 },
        });
        p.root = 1;
        let err = Rdd::from_plan(&ctx, &p, &fns, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("node 1 reads node 1"), "{err}");

        let mut p = plan();
        p.nodes.push(PlanNode {
            num_partitions: 1,
            partitioning: Some(PartitioningPlan::Hash(1)),
            persist: false,
            op: PlanOp::Coalesce {
                parent: 0,
                groups: vec![(0, 5)],
            },
        });
        p.root = 1;
        let err = Rdd::from_plan(&ctx, &p, &fns, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("coalesces partitions 0..5 of 2"), "{err}");
        let mut p = plan();
        p.root = 7;
        let err = Rdd::from_plan(&ctx, &p, &fns, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("root 7 of 1 nodes"), "{err}");
    }
}
