//! Dataset plans as data: a whole [`Rdd`](crate::engine::rdd::Rdd) graph as a serde value
//! ([`RddPlan`]), so that worker processes, Ray and other executors can be handed a dataset,
//! not only a fused task.
//!
//! A plan is a DAG in topological order: every node refers to its inputs by their index in
//! [`RddPlan::nodes`], always an earlier one, so a dataset used by two branches is one node
//! (and, persisted, is computed once). Data is carried in the wire encoding
//! ([`crate::engine::wire`]): native values as such, host objects pickled by the host's
//! [`HostCodec`](crate::engine::host::HostCodec) once per partition. Host functions travel as
//! handles into a [`PlanFns`] table (partition functions as [`StepPlan`]s do, and key
//! partitioners); the receiving side resolves them there, e.g. after loading the functions'
//! pickled bytes ([`PlanFns::payloads`]).
//!
//! What a plan does not carry: computed data (a shuffle is a boundary, run again where the
//! plan runs; a persisted dataset keeps its flag, not its cache) and the connections of lazy
//! sources: a lazy source (`Rdd::lazy`: a Kafka range, a keyed state snapshot, receiver
//! blocks) is read when the plan is written and travels as its partitions
//! ([`PlanSource::Materialised`]), so no credentials are written and nothing is lost.
//!
//! Bytes: [`RddPlan::to_bytes`] (postcard behind a magic and the format version) or
//! [`RddPlan::to_json`]. A plan of a newer format version is refused with an error naming both
//! versions.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};
use crate::engine::host::{KeyPartitioner, Payload};
use crate::engine::ops::keyed::KeyOp;
use crate::engine::step::{HostFns, HostHandle, StepPlan};

mod read;
mod write;

/// The plan format this engine writes, and the newest it reads.
pub const PLAN_VERSION: u32 = 2;

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
        /// Its reader combines every key's records again (`reduceByKey`'s reduce side).
        recombined: bool,
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

/// One partition in the wire encoding ([`crate::engine::wire::encode_partition`]).
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
        /// The sorted ranges keep only the values (`sortBy`).
        values_only: bool,
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

/// [`SampleMode`](crate::engine::ops::sample::SampleMode), as plans spell it.
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

pub(super) fn bad_plan(what: impl std::fmt::Display) -> EngineError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::context::EngineContext;
    use crate::engine::rdd::Rdd;
    use crate::engine::value::Value;

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
