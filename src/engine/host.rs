//! The engine's view of user code. The bindings implement these traits for Python callables;
//! the engine never sees a Python type.

use crate::engine::error::Result;
use crate::engine::value::Value;

/// A narrow step over one whole partition, e.g. a fused chain of Python `map`/`filter`s.
/// Called once per partition, never per record.
pub trait PartitionFn: Send + Sync {
    fn call(&self, split: usize, input: Vec<Value>) -> Result<Vec<Value>>;
}

/// A user partitioning function (`partitionBy(n, partitionFunc)`): for a batch of keys,
/// `partitionFunc(key)` for each (the engine takes the result modulo the partition count).
pub trait KeyPartitioner: Send + Sync {
    fn partition_ids(&self, keys: &[&Value]) -> Result<Vec<i64>>;
}
