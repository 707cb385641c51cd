//! Actions computed by the engine: counting by value, ordering (min, max, top, takeOrdered),
//! sums, statistics and reduces with provable functions. Partitions are computed in parallel
//! and their results merged here, with Python's semantics.
//!
//! Functions returning `Result<Option<_>>` give `Ok(None)` when a value is outside what
//! native code models exactly (a host object, an int overflow) or Python would raise (values it
//! cannot order): the caller then runs the same action with Python, one call per partition,
//! which gives Python's result or raises Python's error from the job.

use std::cmp::Ordering;

use crate::engine::error::Result;
use crate::engine::expr::{Expr, Fallback};
use crate::engine::keys;
use crate::engine::ops::order::{py_cmp, sort_by_key};
use crate::engine::rdd::{Partition, Rdd};
use crate::engine::value::Value;

/// `f(partition)` of every partition, in parallel, in partition order.
pub fn per_partition<R: Send>(
    rdd: &Rdd,
    f: impl Fn(Partition) -> Result<R> + Sync + Send,
) -> Result<Vec<R>> {
    rdd.prepare()?;
    let ctx = rdd.context().clone();
    ctx.map_tasks(rdd.num_partitions(), |i| rdd.compute(i).and_then(&f))
}

/// How many times each distinct value occurs, in first-seen order (Python's equality).
///
/// Each partition is tallied in its task; the partitions' tallies are then merged in
/// parallel, split by key hash (a key's occurrences all land in one split), and put back in
/// first-seen order. Host objects are compared by the host, in one merge.
pub fn count_by_value(rdd: &Rdd) -> Result<Vec<(Value, i64)>> {
    let ctx = rdd.context().clone();
    let parts = per_partition(rdd, |p| count_local(&ctx, p))?;
    let mut values = Vec::new();
    let mut hashes = Vec::new();
    let mut counts = Vec::new();
    for part in parts {
        values.extend(part.values);
        hashes.extend(part.hashes);
        counts.extend(part.counts);
    }
    if values.iter().any(Value::has_host) {
        let refs: Vec<&Value> = values.iter().collect();
        let groups = keys::group_hashed(&ctx, &refs, hashes)?;
        let mut totals = vec![0i64; groups.count()];
        for (id, c) in groups.ids.iter().zip(counts) {
            totals[*id] += c;
        }
        return Ok(groups
            .firsts
            .iter()
            .zip(totals)
            .map(|(&i, t)| (values[i].clone(), t))
            .collect());
    }
    // Split by hash; within a split, entries stay in first-seen order.
    let splits = (ctx.parallelism() * 4).max(1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); splits];
    for (i, h) in hashes.iter().enumerate() {
        members[(h.unsigned_abs() % splits as u64) as usize].push(i);
    }
    let merged = ctx.map_items(members, |_, idx| {
        let refs: Vec<&Value> = idx.iter().map(|&i| &values[i]).collect();
        let hs: Vec<i64> = idx.iter().map(|&i| hashes[i]).collect();
        Ok(keys::tally_native(&refs, &hs, |j| counts[idx[j]])
            .into_iter()
            .map(|(j, total)| (idx[j], total))
            .collect::<Vec<_>>())
    })?;
    // The total of each distinct value at its first occurrence; 0 elsewhere.
    let mut totals = vec![0i64; values.len()];
    for (first, total) in merged.into_iter().flatten() {
        totals[first] = total;
    }
    Ok(values
        .into_iter()
        .zip(totals)
        .filter(|(_, t)| *t > 0)
        .collect())
}

/// One partition's distinct values (first-seen order) with their hashes and counts.
struct Tally {
    values: Vec<Value>,
    hashes: Vec<i64>,
    counts: Vec<i64>,
}

fn count_local(ctx: &crate::engine::context::EngineContext, p: Partition) -> Result<Tally> {
    let refs: Vec<&Value> = p.iter().collect();
    let hashes = keys::hash_keys(ctx, &refs)?;
    let firsts: Vec<(usize, i64)> = if p.iter().any(Value::has_host) {
        let groups = keys::group_hashed(ctx, &refs, hashes.clone())?;
        let mut counts = vec![0i64; groups.count()];
        for id in &groups.ids {
            counts[*id] += 1;
        }
        groups.firsts.into_iter().zip(counts).collect()
    } else {
        keys::tally_native(&refs, &hashes, |_| 1)
    };
    drop(refs);
    let mut tally = Tally {
        values: Vec::with_capacity(firsts.len()),
        hashes: Vec::with_capacity(firsts.len()),
        counts: Vec::with_capacity(firsts.len()),
    };
    for (i, count) in firsts {
        tally.values.push(p[i].clone());
        tally.hashes.push(hashes[i]);
        tally.counts.push(count);
    }
    Ok(tally)
}

fn native_order(values: &[Value]) -> bool {
    !values.iter().any(Value::has_host)
}

/// `max(...)` (or `min`) of all values as Python's builtins give it (the first of equal
/// values); `Ok(Some(None))` when there are none, `Ok(None)` for host values.
pub fn extreme(rdd: &Rdd, max: bool) -> Result<Option<Option<Value>>> {
    let pick = |values: Vec<Value>| -> Result<Option<Option<Value>>> {
        if !native_order(&values) {
            return Ok(None);
        }
        let mut best: Option<Value> = None;
        for v in values {
            best = Some(match best {
                None => v,
                Some(b) => {
                    let Ok(o) = py_cmp(&v, &b) else {
                        return Ok(None);
                    };
                    let better = if max {
                        o == Ordering::Greater
                    } else {
                        o == Ordering::Less
                    };
                    if better {
                        v
                    } else {
                        b
                    }
                }
            });
        }
        Ok(Some(best))
    };
    let parts = per_partition(rdd, pick)?;
    let mut winners = Vec::new();
    for part in parts {
        match part {
            None => return Ok(None),
            Some(Some(v)) => winners.push(v),
            Some(None) => {}
        }
    }
    pick(winners)
}

/// The `num` smallest values in order (`takeOrdered`), or the largest, largest first (`top`);
/// `Ok(None)` for host values.
pub fn ordered(rdd: &Rdd, num: usize, largest: bool) -> Result<Option<Vec<Value>>> {
    let ctx = rdd.context().clone();
    let best = |mut values: Vec<Value>| -> Result<Option<Vec<Value>>> {
        if !native_order(&values) {
            return Ok(None);
        }
        if sort_by_key(&ctx, &mut values, |v| v, largest).is_err() {
            return Ok(None);
        }
        values.truncate(num);
        Ok(Some(values))
    };
    let parts = per_partition(rdd, best)?;
    let mut all = Vec::new();
    for part in parts {
        match part {
            None => return Ok(None),
            Some(vs) => all.extend(vs),
        }
    }
    best(all)
}

/// Python's `sum(values, 0)` for ints and bools (exact) or for floats (with Neumaier's
/// compensation when `compensated`, as Python 3.12+ sums floats); `Ok(None)` for anything
/// else (mixed types, overflow, host values).
pub fn sum(rdd: &Rdd, compensated: bool) -> Result<Option<Value>> {
    let parts = per_partition(rdd, |p| Ok(sum_values(&p, compensated)))?;
    let mut partials = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Some(v) => partials.push(v),
            None => return Ok(None),
        }
    }
    Ok(sum_values(&partials, compensated))
}

fn sum_values(values: &[Value], compensated: bool) -> Option<Value> {
    let mut int: i64 = 0;
    let mut floats = false;
    let (mut total, mut comp) = (0.0f64, 0.0f64);
    for v in values {
        match v {
            Value::Int(i) if !floats => int = int.checked_add(*i)?,
            Value::Bool(b) if !floats => int = int.checked_add(i64::from(*b))?,
            Value::Float(f) => {
                if !floats {
                    // Python switches to float arithmetic at the first float.
                    if int != 0 && (int.unsigned_abs() > (1u64 << 53)) {
                        return None;
                    }
                    total = int as f64;
                    floats = true;
                }
                if compensated {
                    let t = total + f;
                    if total.abs() >= f.abs() {
                        comp += (total - t) + f;
                    } else {
                        comp += (f - t) + total;
                    }
                    total = t;
                } else {
                    total += f;
                }
            }
            _ => return None,
        }
    }
    Some(if floats {
        if compensated && comp.is_finite() {
            Value::Float(total + comp)
        } else {
            Value::Float(total)
        }
    } else {
        Value::Int(int)
    })
}

/// Per-partition `StatCounter` state `(n, mu, m2, max, min)` computed exactly as
/// `StatCounter.merge` does, for partitions of ints and floats; `Ok(None)` otherwise.
pub type Stats = (i64, f64, f64, Option<Value>, Option<Value>);

pub fn stats(rdd: &Rdd) -> Result<Option<Vec<Stats>>> {
    let parts = per_partition(rdd, |p| stats_local(&p))?;
    Ok(parts.into_iter().collect())
}

fn stats_local(values: &[Value]) -> Result<Option<Stats>> {
    let (mut n, mut mu, mut m2) = (0i64, 0.0f64, 0.0f64);
    let mut max: Option<Value> = None;
    let mut min: Option<Value> = None;
    for v in values {
        let x = match v {
            Value::Int(i) => *i as f64,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Float(f) => *f,
            _ => return Ok(None),
        };
        let delta = x - mu;
        n += 1;
        mu += delta / n as f64;
        m2 += delta * (x - mu);
        // Python's max(self.maxValue, value): the new value wins only when strictly greater
        // (None stands for the initial -inf / inf, which NaN does not beat).
        let replace = |cur: &Option<Value>, want: Ordering| -> Result<bool, ()> {
            Ok(match cur {
                None => !x.is_nan(),
                Some(c) => match py_cmp(v, c) {
                    Ok(o) => o == want,
                    Err(_) => return Err(()),
                },
            })
        };
        let (Ok(hi), Ok(lo)) = (
            replace(&max, Ordering::Greater),
            replace(&min, Ordering::Less),
        ) else {
            return Ok(None);
        };
        if hi {
            max = Some(v.clone());
        }
        if lo {
            min = Some(v.clone());
        }
    }
    Ok(Some((n, mu, m2, max, min)))
}

/// `functools.reduce(f, partition)` per partition for a provable two-argument `f` (None for
/// an empty partition); `Ok(None)` when a partition needs Python.
pub fn reduce_partitions(
    rdd: &Rdd,
    f: &Expr,
    zero: Option<&Value>,
) -> Result<Option<Vec<Option<Value>>>> {
    let parts = per_partition(rdd, |p| Ok(fold(f, zero.cloned(), p.iter())))?;
    Ok(parts.into_iter().collect())
}

/// Fold `values` with `f` from `zero` (or from the first value). `Some(None)`: nothing to
/// fold; `None`: native evaluation fell back.
pub fn fold<'a>(
    f: &Expr,
    zero: Option<Value>,
    values: impl Iterator<Item = &'a Value>,
) -> Option<Option<Value>> {
    let mut acc = zero;
    for v in values {
        acc = Some(match acc {
            None => v.clone(),
            Some(a) => {
                let r: Result<Value, Fallback> = f.eval(&[&a, v]);
                r.ok()?
            }
        });
    }
    Some(acc)
}
