//! `RDD.histogram`, in the engine: the range of the values (for evenly spaced buckets) and the
//! bucket counts, with Python's ordering. `None` and NaN are skipped, as PySpark skips them.
//! Numbers are ordered natively; other values (strings, tuples, Python objects) are ordered by
//! the host in one call per partition ([`HostRuntime`](crate::engine::host::HostRuntime)).

use std::cmp::Ordering;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
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
    /// equal values). The host's arithmetic on them makes the buckets (or fails).
    Bounds(Value, Value),
}

fn skipped(v: &Value) -> bool {
    matches!(v, Value::None) || matches!(v, Value::Float(f) if f.is_nan())
}

fn number(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_) | Value::Bool(_))
}

fn no_runtime() -> EngineError {
    EngineError::Unsupported("ordering host values needs the host runtime".into())
}

/// The indexes of Python's `min(values)` and `max(values)` (the first of equal values), or
/// `None` for no values. Numbers natively, anything else by the host in one call.
fn min_max(ctx: &EngineContext, values: &[&Value]) -> Result<Option<(usize, usize)>> {
    if values.is_empty() {
        return Ok(None);
    }
    if !values.iter().all(|v| number(v)) {
        if let Some(rt) = ctx.host_runtime() {
            return rt.min_max(values).map(Some);
        }
        if values.iter().any(|v| v.has_host()) {
            return Err(no_runtime());
        }
    }
    // CPython's min/max: `item < min` and `item > max`, in order.
    let (mut lo, mut hi) = (0, 0);
    for (i, v) in values.iter().enumerate().skip(1) {
        if py_cmp(v, values[lo]).map_err(CmpError::into_engine)? == Ordering::Less {
            lo = i;
        }
        if py_cmp(v, values[hi]).map_err(CmpError::into_engine)? == Ordering::Greater {
            hi = i;
        }
    }
    Ok(Some((lo, hi)))
}

/// The range of the values that are not `None` or NaN.
pub fn range(rdd: &Rdd) -> Result<Range> {
    let ctx = rdd.context().clone();
    let parts = per_partition(rdd, |p| {
        let kept: Vec<&Value> = p.iter().filter(|v| !skipped(v)).collect();
        Ok(min_max(&ctx, &kept)?.map(|(lo, hi)| (kept[lo].clone(), kept[hi].clone())))
    })?;
    let (los, his): (Vec<Value>, Vec<Value>) = parts.into_iter().flatten().unzip();
    let lo = min_max(&ctx, &los.iter().collect::<Vec<_>>())?;
    let hi = min_max(&ctx, &his.iter().collect::<Vec<_>>())?;
    Ok(match (lo, hi) {
        (Some((lo, _)), Some((_, hi))) => Range::Bounds(los[lo].clone(), his[hi].clone()),
        _ => Range::Empty,
    })
}

/// How many values fall in each bucket of `edges` (sorted, at least two): bucket `i` holds
/// `edges[i] <= x < edges[i + 1]`, the last one also its upper edge. Values Python cannot
/// compare with the edges are Python's `TypeError`. A partition with a host object (or host
/// edges) is placed by the host, in one call (two when values reach the upper edge).
pub fn counts(rdd: &Rdd, edges: &[Value]) -> Result<Vec<u64>> {
    if edges.len() < 2 {
        return Err(EngineError::InvalidArgument(
            "buckets should have more than one value".into(),
        ));
    }
    let nb = edges.len() - 1;
    let ctx = rdd.context().clone();
    let host_edges = edges.iter().any(Value::has_host);
    let parts = per_partition(rdd, |p| {
        let mut counts = vec![0u64; nb];
        let kept: Vec<&Value> = p.iter().filter(|v| !skipped(v)).collect();
        if host_edges || kept.iter().any(|x| x.has_host()) {
            for i in host_buckets(&ctx, edges, &kept)?.into_iter().flatten() {
                counts[i] += 1;
            }
            return Ok(counts);
        }
        for x in kept {
            if let Some(i) = bucket(x, edges).map_err(CmpError::into_engine)? {
                counts[i] += 1;
            }
        }
        Ok(counts)
    })?;
    let mut total = vec![0u64; nb];
    for part in parts {
        for (t, c) in total.iter_mut().zip(part) {
            *t += c;
        }
    }
    Ok(total)
}

/// The bucket of each value (as [`bucket`]), ordered by the host: `bisect_right(edges, x)`,
/// and for the values at or past the upper edge whether they equal it.
fn host_buckets(ctx: &EngineContext, edges: &[Value], xs: &[&Value]) -> Result<Vec<Option<usize>>> {
    let rt = ctx.host_runtime().ok_or_else(no_runtime)?;
    let bounds: Vec<&Value> = edges.iter().collect();
    let right = rt.bisect_right(&bounds, xs)?;
    if right.len() != xs.len() {
        return Err(EngineError::Internal(
            "host returned the wrong number of places".into(),
        ));
    }
    let n = edges.len();
    let at_top: Vec<&Value> = xs
        .iter()
        .zip(&right)
        .filter(|(_, &r)| r == n)
        .map(|(x, _)| *x)
        .collect();
    // bisect_left([last], x) == 0: x <= last, so (being >= last) it is the upper edge.
    let top_is_edge = if at_top.is_empty() {
        Vec::new()
    } else {
        rt.bisect_left(&bounds[n - 1..], &at_top)?
    };
    let mut top = top_is_edge.into_iter();
    right
        .into_iter()
        .map(|r| {
            Ok(match r {
                0 => None,
                r if r == n => match top.next() {
                    Some(0) => Some(n - 2),
                    Some(_) => None,
                    None => {
                        return Err(EngineError::Internal("host returned too few places".into()))
                    }
                },
                r => Some(r - 1),
            })
        })
        .collect()
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
