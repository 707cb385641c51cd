//! `take(n)`: partitions computed only as far as the records needed.

use super::{Node, Partition, Rdd};
use crate::engine::error::Result;
use crate::engine::step::{NativeKind, Step};
use crate::engine::value::Value;

impl Rdd {
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
            Node::Source(parts) => parts[i].head(limit),
            Node::Narrow { parent, step, .. } => match step {
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
            let parts: Vec<Partition> = self
                .ctx
                .map_tasks(indices.len(), |j| self.compute_limited(indices[j], left))?;
            for part in parts {
                let room = n - items.len();
                items.extend(part.into_iter().take(room));
            }
            scanned += to_try;
        }
        Ok(items)
    }
}
