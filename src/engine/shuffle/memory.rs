//! The in-process shuffle: buckets kept in memory, concatenated per reduce partition once.

use std::sync::Arc;

use parking_lot::Mutex;

use super::{Buckets, Fetched, Finisher, SharedFetch, Shuffle, ShuffleReader, ShuffleWriter};
use crate::engine::error::{EngineError, Result};
use crate::engine::exec::Executor;
use crate::engine::rdd::Partition;
use crate::engine::value::Value;

/// Shuffles within this process: map outputs are held until the shuffle finishes, then
/// concatenated into the reduce partitions (records are moved, not copied). Key hashes stay in
/// their map outputs' pieces until a reader asks for them.
#[derive(Default)]
pub struct MemoryShuffle;

impl Shuffle for MemoryShuffle {
    fn create(&self, _id: u64, maps: usize, reduces: usize) -> Result<Arc<dyn ShuffleWriter>> {
        Ok(Arc::new(MemoryWriter {
            reduces,
            outputs: (0..maps).map(|_| Mutex::new(None)).collect(),
        }))
    }
}

struct MemoryWriter {
    reduces: usize,
    outputs: Vec<Mutex<Option<Buckets>>>,
}

impl ShuffleWriter for MemoryWriter {
    fn write(&self, map: usize, buckets: Buckets) -> Result<()> {
        let slot = self.outputs.get(map).ok_or_else(|| {
            EngineError::Internal(format!("shuffle map output {map} out of range"))
        })?;
        if buckets.parts.len() != self.reduces
            || buckets
                .hashes
                .as_ref()
                .is_some_and(|h| h.len() != self.reduces)
            || buckets
                .values
                .as_ref()
                .is_some_and(|v| v.len() != self.reduces)
        {
            return Err(EngineError::Internal(format!(
                "shuffle map output {map} has the wrong number of buckets"
            )));
        }
        *slot.lock() = Some(buckets);
        Ok(())
    }

    fn finish(
        &self,
        executor: &dyn Executor,
        finisher: Option<Finisher<'_>>,
    ) -> Result<Arc<dyn ShuffleReader>> {
        let n = self.reduces;
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for (map, slot) in self.outputs.iter().enumerate() {
            outputs.push(slot.lock().take().ok_or_else(|| {
                EngineError::Internal(format!("shuffle map output {map} was not written"))
            })?);
        }
        // Keyed columns only when every map output has them (a map task whose records needed
        // Python wrote rows) and no finisher reads the records.
        let keyed =
            !outputs.is_empty() && finisher.is_none() && outputs.iter().all(|o| o.values.is_some());
        if !keyed {
            outputs = outputs.into_iter().map(Buckets::into_rows).collect();
        }
        // Hashes only when every map output has them (they all used the same partitioner).
        let hashed = !outputs.is_empty() && outputs.iter().all(|o| o.hashes.is_some());
        let mut hashes: Option<Vec<Vec<Vec<i64>>>> =
            hashed.then(|| (0..n).map(|_| Vec::with_capacity(outputs.len())).collect());
        let mut parts: Vec<Partition> = (0..n).map(|_| Vec::new()).collect();
        let mut values: Option<Vec<Partition>> =
            keyed.then(|| (0..n).map(|_| Vec::new()).collect());
        for output in outputs {
            concat_into(&mut parts, output.parts);
            if let (Some(all), Some(vs)) = (values.as_mut(), output.values) {
                concat_into(all, vs);
            }
            if let (Some(all), Some(hs)) = (hashes.as_mut(), output.hashes) {
                for (pieces, h) in all.iter_mut().zip(hs) {
                    pieces.push(h);
                }
            }
        }
        if let Some(finish) = finisher {
            parts = executor.map_items(parts, |i, mut part| {
                finish(i, &mut part)?;
                Ok(part)
            })?;
            hashes = None;
        }
        let share = |parts: Vec<Partition>| parts.into_iter().map(Arc::new).collect();
        Ok(Arc::new(MemoryReader {
            parts: share(parts),
            values: values.map(share),
            hashes,
        }))
    }
}

/// Append each bucket to its reduce partition (moved, not copied).
fn concat_into(parts: &mut [Partition], buckets: Vec<Partition>) {
    for (out, bucket) in parts.iter_mut().zip(buckets) {
        if out.is_empty() {
            *out = bucket;
        } else {
            out.extend(bucket);
        }
    }
}

/// The reduce partitions of a finished in-memory shuffle.
pub struct MemoryReader {
    /// Shared with readers that only read them ([`ShuffleReader::fetch_shared`]). With
    /// `values`, the records' keys.
    parts: Vec<Arc<Partition>>,
    /// Keyed columns (see [`Buckets::values`]): the records' values.
    values: Option<Vec<Arc<Partition>>>,
    /// Per reduce partition, the hashes of each map output's piece, in map order.
    hashes: Option<Vec<Vec<Vec<i64>>>>,
}

impl Drop for MemoryReader {
    fn drop(&mut self) {
        let mut parts = std::mem::take(&mut self.parts);
        parts.extend(self.values.take().unwrap_or_default());
        crate::engine::reclaim::drop_later(
            parts
                .into_iter()
                .filter_map(|p| Arc::try_unwrap(p).ok())
                .collect(),
        );
    }
}

impl MemoryReader {
    fn part(&self, i: usize) -> Result<&Arc<Partition>> {
        self.parts
            .get(i)
            .ok_or_else(|| EngineError::Internal(format!("shuffle partition {i} out of range")))
    }

    fn hashes(&self, i: usize) -> Option<Vec<i64>> {
        self.hashes.as_ref().map(|h| h[i].concat())
    }
}

impl ShuffleReader for MemoryReader {
    fn num_partitions(&self) -> usize {
        self.parts.len()
    }

    fn partition_len(&self, i: usize) -> Option<usize> {
        self.parts.get(i).map(|p| p.len())
    }

    fn fetch(&self, i: usize) -> Result<Partition> {
        let part = self.part(i)?;
        Ok(match &self.values {
            Some(values) => part
                .iter()
                .zip(values[i].iter())
                .map(|(k, v)| Value::pair(k.clone(), v.clone()))
                .collect(),
            None => part.as_ref().clone(),
        })
    }

    fn fetch_hashed(&self, i: usize) -> Result<Fetched> {
        Ok(Fetched {
            records: self.fetch(i)?,
            hashes: self.hashes(i),
        })
    }

    fn fetch_shared(&self, i: usize) -> Result<SharedFetch> {
        Ok(SharedFetch {
            records: self.part(i)?.clone(),
            hashes: self.hashes(i),
            values: self.values.as_ref().map(|v| v[i].clone()),
        })
    }
}
