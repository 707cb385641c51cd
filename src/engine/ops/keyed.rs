//! Keyed operations computed per partition over co-partitioned inputs (`Rdd::keyed`):
//! groupByKey, cogroup, the four joins, subtractByKey and the set operations. Keys are
//! grouped with Python's equality by [`crate::engine::keys`] (host keys in bulk).

use std::sync::Arc;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::keys;
use crate::engine::ops::order;
use crate::engine::rdd::Partition;
use crate::engine::value::Value;

/// What a keyed node computes from partition `i` of each of its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOp {
    /// One input of `(k, v)`: `(k, ResultIterable[v, ...])`.
    GroupByKey,
    /// Any number of inputs of `(k, v)`: `(k, (ResultIterable, ...))`, one per input.
    CoGroup,
    /// Two inputs of `(k, v)` and `(k, w)`: `(k, (v, w))` for each pair of values; the outer
    /// sides pad a key missing from the other input with None.
    Join { left_outer: bool, right_outer: bool },
    /// Two inputs of `(k, v)`: the pairs of the first whose key is not in the second.
    SubtractByKey,
    /// One input of records: each distinct record once.
    Distinct,
    /// Two inputs of records: the distinct records present in both.
    Intersection,
    /// Two inputs of records: the records of the first that are not in the second
    /// (duplicates kept).
    Subtract,
    /// One input of `(k, v)`: sorted stably by key (Python's ordering).
    SortByKey { ascending: bool },
    /// Any number of co-partitioned inputs: their records in turn (a partitioner-aware union).
    Concat,
}

impl KeyOp {
    /// Whether the inputs are whole records (shuffled by the record's hash), not pairs.
    pub fn keys_are_records(self) -> bool {
        matches!(
            self,
            KeyOp::Distinct | KeyOp::Intersection | KeyOp::Subtract
        )
    }

    /// Whether the output is `(k, ...)` pairs partitioned as the inputs were.
    pub fn keeps_keys(self) -> bool {
        !self.keys_are_records()
    }

    fn arity(self) -> Option<usize> {
        match self {
            KeyOp::GroupByKey | KeyOp::Distinct | KeyOp::SortByKey { .. } => Some(1),
            KeyOp::CoGroup | KeyOp::Concat => None,
            _ => Some(2),
        }
    }

    /// Compute one output partition from the same partition of every input.
    pub fn run(self, ctx: &EngineContext, sides: Vec<Partition>) -> Result<Partition> {
        let hashes = vec![None; sides.len()];
        self.run_hashed(ctx, sides, hashes)
    }

    /// [`run`](Self::run), with the portable hashes of the inputs' keys where a hash shuffle
    /// handed them over (`hashes[s]` for input `s`), so they are not computed again.
    pub fn run_hashed(
        self,
        ctx: &EngineContext,
        sides: Vec<Partition>,
        hashes: Vec<Option<Vec<i64>>>,
    ) -> Result<Partition> {
        if let Some(n) = self.arity() {
            if sides.len() != n {
                return Err(EngineError::Internal(format!(
                    "{self:?} takes {n} inputs, got {}",
                    sides.len()
                )));
            }
        }
        if self.keys_are_records() {
            return self.run_records(ctx, sides);
        }
        if self == KeyOp::Concat {
            return Ok(sides.into_iter().flatten().collect());
        }
        if let KeyOp::SortByKey { ascending } = self {
            let mut sides = sides;
            let mut records = sides.pop().unwrap_or_default();
            for r in &records {
                r.as_pair()?;
            }
            order::sort_by_key(
                ctx,
                &mut records,
                |r| r.as_pair().map(|(k, _)| k).unwrap_or(r),
                !ascending,
            )?;
            return Ok(records);
        }
        if self == KeyOp::GroupByKey {
            let mut sides = sides;
            let records = sides.pop().unwrap_or_default();
            let hashes = hashes.into_iter().next().flatten();
            return Ok(keys::group_pairs_hashed(ctx, &records, hashes)?
                .into_iter()
                .map(|(k, vs)| Value::pair(k, Value::Group(Arc::from(vs))))
                .collect());
        }
        let groups = keys::cogroup_pairs_hashed(ctx, &sides, &hashes)?;
        let mut out = Vec::new();
        match self {
            KeyOp::CoGroup => {
                for (k, vals) in groups {
                    let items: Vec<Value> = vals
                        .into_iter()
                        .map(|vs| Value::Group(Arc::from(vs)))
                        .collect();
                    out.push(Value::pair(k, Value::Tuple(Arc::from(items))));
                }
            }
            KeyOp::Join {
                left_outer,
                right_outer,
            } => {
                for (k, mut vals) in groups {
                    let mut ws = vals.pop().unwrap_or_default();
                    let mut vs = vals.pop().unwrap_or_default();
                    if left_outer && ws.is_empty() {
                        ws.push(Value::None);
                    }
                    if right_outer && vs.is_empty() {
                        vs.push(Value::None);
                    }
                    for v in &vs {
                        for w in &ws {
                            out.push(Value::pair(k.clone(), Value::pair(v.clone(), w.clone())));
                        }
                    }
                }
            }
            KeyOp::SubtractByKey => {
                for (k, vals) in groups {
                    if vals[1].is_empty() {
                        for v in &vals[0] {
                            out.push(Value::pair(k.clone(), v.clone()));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(out)
    }

    fn run_records(self, ctx: &EngineContext, sides: Vec<Partition>) -> Result<Partition> {
        if self == KeyOp::Distinct {
            let mut sides = sides;
            return keys::distinct_values(ctx, sides.pop().unwrap_or_default());
        }
        let mut all: Vec<&Value> = Vec::new();
        let mut side_of: Vec<usize> = Vec::new();
        for (s, records) in sides.iter().enumerate() {
            all.extend(records.iter());
            side_of.extend(std::iter::repeat_n(s, records.len()));
        }
        let groups = keys::group_keys(ctx, &all)?;
        let mut seen = vec![[false; 2]; groups.count()];
        for (id, s) in groups.ids.iter().zip(&side_of) {
            seen[*id][*s] = true;
        }
        Ok(match self {
            KeyOp::Intersection => groups
                .firsts
                .iter()
                .enumerate()
                .filter(|(id, _)| seen[*id] == [true, true])
                .map(|(_, &i)| all[i].clone())
                .collect(),
            _ => {
                // Subtract: the first input's records of each key in key order, as PySpark's
                // cogroup-based subtract gives them.
                let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups.count()];
                for (i, (id, s)) in groups.ids.iter().zip(&side_of).enumerate() {
                    if *s == 0 {
                        members[*id].push(i);
                    }
                }
                let mut out = Vec::new();
                for (id, m) in members.into_iter().enumerate() {
                    if !seen[id][1] {
                        out.extend(m.into_iter().map(|i| all[i].clone()));
                    }
                }
                out
            }
        })
    }
}
