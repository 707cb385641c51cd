//! `RDD.histogram`, natively: the range of the values (for evenly spaced buckets) and the
//! bucket counts, with Python's ordering. `None` and NaN are skipped, as PySpark skips them.
//! A value native code does not order (a host object) gives `Ok(None)`: the host computes the
//! histogram instead.

use std::cmp::Ordering;

use crate::engine::error::Result;
use crate::engine::ops::actions::per_partition;
use crate::engine::ops::order::{py_cmp, CmpError};
use crate::engine::rdd::Rdd;
use crate::engine::value::Value;

/// What `histogram(n)` sees before it makes its buckets.
#[derive(Debug, Clone)]
pub enum Range {
    /// Every value is `None` or NaN (or there are none).
    Empty,
    /// The smallest and the largest value, as Python's `min`/`max` pick them (the first of
    /// equal values).
    Bounds(Value, Value),
    /// A value that is not a number: the host's arithmetic on the bounds decides what happens.
    NotNumbers,
}

fn skipped(v: &Value) -> bool {
    matches!(v, Value::None) || matches!(v, Value::Float(f) if f.is_nan())
}

fn number(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_) | Value::Bool(_))
}

/// The range of the numbers, or `Ok(None)` for a host object.
pub fn range(rdd: &Rdd) -> Result<Option<Range>> {
    let parts = per_partition(rdd, |p| {
        let mut bounds: Option<(Value, Value)> = None;
        for v in p {
            if skipped(&v) {
                continue;
            }
            if v.has_host() {
                return Ok(None);
            }
            if !number(&v) {
                return Ok(Some(Range::NotNumbers));
            }
            bounds = Some(match bounds {
                None => (v.clone(), v),
                Some((lo, hi)) => widen(lo, hi, v),
            });
        }
        Ok(Some(match bounds {
            Some((lo, hi)) => Range::Bounds(lo, hi),
            None => Range::Empty,
        }))
    })?;
    let mut total = Range::Empty;
    for part in parts {
        total = match (total, part) {
            (_, None) => return Ok(None),
            (Range::NotNumbers, _) | (_, Some(Range::NotNumbers)) => Range::NotNumbers,
            (t, Some(Range::Empty)) => t,
            (Range::Empty, Some(b)) => b,
            (Range::Bounds(lo, hi), Some(Range::Bounds(l, h))) => {
                let (lo, _) = widen(lo, hi.clone(), l);
                let (_, hi) = widen(lo.clone(), hi, h);
                Range::Bounds(lo, hi)
            }
        };
    }
    Ok(Some(total))
}

/// `(min(lo, v), max(hi, v))` as Python's `min`/`max` keep the first of equal values.
fn widen(lo: Value, hi: Value, v: Value) -> (Value, Value) {
    let less = matches!(py_cmp(&v, &lo), Ok(Ordering::Less));
    let greater = matches!(py_cmp(&v, &hi), Ok(Ordering::Greater));
    match (less, greater) {
        (true, _) => (v, hi),
        (_, true) => (lo, v),
        _ => (lo, hi),
    }
}

/// How many values fall in each bucket of `edges` (sorted, at least two): bucket `i` holds
/// `edges[i] <= x < edges[i + 1]`, the last one also its upper edge. `Ok(None)` for a host
/// object; values Python cannot compare with the edges are Python's `TypeError`.
pub fn counts(rdd: &Rdd, edges: &[Value]) -> Result<Option<Vec<u64>>> {
    if edges.len() < 2 || edges.iter().any(Value::has_host) {
        return Ok(None);
    }
    let nb = edges.len() - 1;
    let parts = per_partition(rdd, |p| {
        let mut counts = vec![0u64; nb];
        for x in &p {
            if skipped(x) {
                continue;
            }
            match bucket(x, edges) {
                Ok(Some(i)) => counts[i] += 1,
                Ok(None) => {}
                Err(CmpError::Host) => return Ok(None),
                Err(e) => return Err(e.into_engine()),
            }
        }
        Ok(Some(counts))
    })?;
    let mut total = vec![0u64; nb];
    for part in parts {
        let Some(part) = part else {
            return Ok(None);
        };
        for (t, c) in total.iter_mut().zip(part) {
            *t += c;
        }
    }
    Ok(Some(total))
}

/// The bucket of `x`, or `None` when it is outside the edges.
fn bucket(x: &Value, edges: &[Value]) -> std::result::Result<Option<usize>, CmpError> {
    let last = edges.len() - 1;
    if py_cmp(x, &edges[0])? == Ordering::Less || py_cmp(x, &edges[last])? == Ordering::Greater {
        return Ok(None);
    }
    if x.py_eq(&edges[last]) {
        return Ok(Some(last - 1));
    }
    // bisect.bisect_right(edges, x) - 1: the number of edges <= x, less one.
    let (mut lo, mut hi) = (0, edges.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if py_cmp(x, &edges[mid])? == Ordering::Less {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(Some(lo.saturating_sub(1).min(last - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_as_pyspark_counts_them() {
        let edges: Vec<Value> = [0, 5, 25, 50].into_iter().map(Value::Int).collect();
        let at = |x: Value| bucket(&x, &edges).unwrap();
        assert_eq!(at(Value::Int(0)), Some(0));
        assert_eq!(at(Value::Float(4.999)), Some(0));
        assert_eq!(at(Value::Int(5)), Some(1));
        assert_eq!(at(Value::Int(50)), Some(2));
        assert_eq!(at(Value::Float(50.0)), Some(2));
        assert_eq!(at(Value::Int(51)), None);
        assert_eq!(at(Value::Float(-0.5)), None);
        assert!(bucket(&Value::str("a"), &edges).is_err());
    }
}
