//! The engine's view of user code. The bindings implement these traits for Python callables;
//! the engine never sees a Python type.

use std::any::Any;

use crate::engine::block::Block;
use crate::engine::error::Result;
use crate::engine::value::Value;

/// Calls of host partition functions so far, in this process or on worker processes (tests
/// prove native paths with it).
pub static HOST_PARTITION_CALLS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// A narrow step over one whole partition, e.g. a fused chain of Python `map`/`filter`s.
/// Called once per partition, never per record.
pub trait PartitionFn: Send + Sync {
    fn call(&self, split: usize, input: Vec<Value>) -> Result<Vec<Value>>;

    /// Like [`PartitionFn::call`], but the caller needs at most `limit` output records: the
    /// function's output is consumed only that far (`take(n)`).
    fn call_limited(&self, split: usize, input: Vec<Value>, limit: usize) -> Result<Vec<Value>> {
        let mut out = self.call(split, input)?;
        out.truncate(limit);
        Ok(out)
    }

    /// [`PartitionFn::call`] over a native block (see `engine::block`). Hosts that can build
    /// their input straight from the block's buffers override this; by default the block is
    /// converted to rows.
    fn call_block(&self, split: usize, input: Block) -> Result<Vec<Value>> {
        self.call(split, input.into_values())
    }

    /// The function as bytes a worker process of the same host can load (Python: the
    /// cloudpickled function), or `None` when it can only run in this process.
    fn payload(&self) -> Option<Result<Payload>> {
        None
    }
}

/// A host function as another process of the host loads it: its own bytes, and the shared
/// values it refers to (Python: broadcast variables), each sent to a worker once however many
/// functions refer to it.
pub struct Payload {
    pub function: Vec<u8>,
    pub shared: Vec<(u64, std::sync::Arc<[u8]>)>,
}

/// A user partitioning function (`partitionBy(n, partitionFunc)`): for a batch of keys,
/// `partitionFunc(key)` for each (the engine takes the result modulo the partition count).
pub trait KeyPartitioner: Send + Sync {
    fn partition_ids(&self, keys: &[&Value]) -> Result<Vec<i64>>;

    /// Identity of the function, as PySpark's `Partitioner.__eq__` compares functions (`is`):
    /// two partitioners with the same identity assign keys alike.
    fn identity(&self) -> usize;

    /// For the bindings to get their own type back.
    fn as_any(&self) -> &dyn Any;

    /// The function as bytes another process of the host can load (as
    /// [`PartitionFn::payload`]), or `None` when it can only run in this process.
    fn payload(&self) -> Option<Result<Payload>> {
        None
    }
}

/// Batch operations on keys and values that contain host objects. Each method attaches to the
/// host interpreter once for the whole batch (one call per partition), never per record.
/// Set on the [`EngineContext`](crate::engine::context::EngineContext) by the bindings.
pub trait HostRuntime: Send + Sync {
    /// PySpark's `portable_hash` of each key (keys containing host objects; tuples element by
    /// element). An unhashable key is the host's `TypeError`.
    fn hash_keys(&self, keys: &[&Value]) -> Result<Vec<i64>>;

    /// Equality classes under the host's `==` (and its hash): for each key, the index of the
    /// first earlier-or-same key equal to it (Python's `d.setdefault(k, i)`).
    fn first_equal(&self, keys: &[&Value]) -> Result<Vec<usize>>;

    /// The host's `a < b` order: the permutation sorting `values` (stable), descending when
    /// `reverse`. Incomparable values are the host's `TypeError`.
    fn sort_permutation(&self, values: &[&Value], reverse: bool) -> Result<Vec<usize>>;

    /// `bisect.bisect_left(bounds, k)` for each key (`bounds` sorted ascending).
    fn bisect_left(&self, bounds: &[&Value], keys: &[&Value]) -> Result<Vec<usize>>;

    /// `bisect.bisect_right(bounds, k)` for each key (`bounds` sorted ascending).
    fn bisect_right(&self, bounds: &[&Value], keys: &[&Value]) -> Result<Vec<usize>>;

    /// The indexes of `min(values)` and `max(values)` (not empty; the first of equal
    /// values, as Python's `min`/`max` pick them). Incomparable values are the host's
    /// `TypeError`.
    fn min_max(&self, values: &[&Value]) -> Result<(usize, usize)>;
}

/// Turns host objects into bytes and back (for Python: cloudpickle), a partition at a time:
/// for checkpointed state and for partitions sent to worker processes.
pub trait HostCodec: Send + Sync {
    fn pickle(&self, values: &[&Value]) -> Result<Vec<u8>>;
    fn unpickle(&self, bytes: &[u8]) -> Result<Vec<Value>>;
}
