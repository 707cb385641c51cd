//! Narrow steps: what a partition goes through between shuffles.
//!
//! A step is either host code (a fused chain of Python functions, one call per partition) or a
//! native step whose behaviour the facade proved from the function's bytecode ([`Expr`]). A
//! native step that meets a record it cannot handle exactly as Python would (a type it does not
//! model, an overflow) hands the whole partition to its host fallback, which computes the same
//! step in Python; the steps are pure, so this is always safe.
//!
//! Steps are shipped to other processes as [`StepPlan`]s (serde): native steps as their
//! expression trees, host functions as [`HostHandle`]s that the receiving process resolves
//! through its [`HostFns`] (e.g. to functions it was sent once, pickled, under those handles).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};
use crate::engine::expr::{Expr, Fallback};
use crate::engine::host::PartitionFn;
use crate::engine::rdd::{group_local, Partition};
use crate::engine::value::{Key, KeyMap, Text, Value};

mod combine;
mod fused;
mod plan;

use combine::combine_map;
pub use combine::{combine_hashed, Combined};
pub use fused::{run_fused, run_fused_block, run_fused_map_side, run_steps};
pub use plan::{HostFns, HostHandle, StepPlan};

/// What a native step does with its expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NativeKind {
    Map,
    FlatMap,
    Filter,
    MapValues,
    FlatMapValues,
    KeyBy,
    /// Per-partition reduce of `(k, v)` pairs by key with a two-argument expression.
    Combine,
}

impl NativeKind {
    pub fn parse(name: &str) -> Option<NativeKind> {
        Some(match name {
            "map" => NativeKind::Map,
            "flat_map" => NativeKind::FlatMap,
            "filter" => NativeKind::Filter,
            "map_values" => NativeKind::MapValues,
            "flat_map_values" => NativeKind::FlatMapValues,
            "key_by" => NativeKind::KeyBy,
            "combine" => NativeKind::Combine,
            _ => return None,
        })
    }

    pub fn arity(self) -> usize {
        if self == NativeKind::Combine {
            2
        } else {
            1
        }
    }
}

#[derive(Clone)]
pub enum Step {
    Host(Arc<dyn PartitionFn>),
    Native {
        kind: NativeKind,
        expr: Arc<Expr>,
        fallback: Arc<dyn PartitionFn>,
    },
    /// `(k, v)` -> `(k, [v, ...])` per partition.
    GroupLocal,
    /// The partition as one list (`glom`).
    Glom,
    /// The partition's number of records, as its only record (`DStream.count`'s first half).
    Count,
}

impl Step {
    pub fn apply(&self, split: usize, input: Partition) -> Result<Partition> {
        match self {
            Step::Host(f) => f.call(split, input),
            Step::GroupLocal => group_local(input),
            Step::Glom => {
                count_native(true);
                Ok(vec![Value::List(Arc::from(input))])
            }
            Step::Count => Step::count_of(input.len()),
            Step::Native {
                kind,
                expr,
                fallback,
            } => match run_native(*kind, expr, &input) {
                Ok(out) => {
                    count_native(true);
                    Ok(out)
                }
                Err(Fallback) => {
                    count_native(false);
                    fallback.call(split, input)
                }
            },
        }
    }
}

impl Step {
    /// What [`Step::Count`] gives for a partition of `n` records.
    pub fn count_of(n: usize) -> Result<Partition> {
        count_native(true);
        let n = i64::try_from(n)
            .map_err(|_| EngineError::Internal("a partition too large to count".into()))?;
        Ok(vec![Value::Int(n)])
    }
}

/// Partitions that native steps computed themselves, and that they handed to their host
/// fallback (process-wide; tests read them to prove which path ran).
static NATIVE_PARTITIONS: AtomicU64 = AtomicU64::new(0);
static FALLBACK_PARTITIONS: AtomicU64 = AtomicU64::new(0);
/// Records that map-side combines passed on uncombined (see [`PARTIAL_PROBE_RECORDS`]).
static PASSED_UNCOMBINED: AtomicU64 = AtomicU64::new(0);
/// Map sides that handed the pairs they built to their shuffle as keyed columns.
static KEYED_MAP_SIDES: AtomicU64 = AtomicU64::new(0);

/// Records that map-side combines passed on uncombined since the last
/// [`reset_native_stats`] (process-wide; tests read it to prove the path ran).
pub fn passed_uncombined() -> u64 {
    PASSED_UNCOMBINED.load(Ordering::Relaxed)
}

/// Map sides that handed their pairs over as keyed columns since the last
/// [`reset_native_stats`] (process-wide; tests read it to prove the path ran).
pub fn keyed_map_sides() -> u64 {
    KEYED_MAP_SIDES.load(Ordering::Relaxed)
}

fn count_keyed_map_side() {
    KEYED_MAP_SIDES.fetch_add(1, Ordering::Relaxed);
}

/// Count one partition computed natively (`true`) or handed to the host fallback (`false`).
/// Every native path with a fallback calls this (steps here; state and window updates too).
pub fn count_native(native: bool) {
    let counter = if native {
        &NATIVE_PARTITIONS
    } else {
        &FALLBACK_PARTITIONS
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// `(native, fallback)` partition counts since the last [`reset_native_stats`].
pub fn native_stats() -> (u64, u64) {
    (
        NATIVE_PARTITIONS.load(Ordering::Relaxed),
        FALLBACK_PARTITIONS.load(Ordering::Relaxed),
    )
}

/// Reset the step counters and the native block counters
/// ([`block_stats`](crate::engine::block::block_stats)).
pub fn reset_native_stats() {
    NATIVE_PARTITIONS.store(0, Ordering::Relaxed);
    FALLBACK_PARTITIONS.store(0, Ordering::Relaxed);
    PASSED_UNCOMBINED.store(0, Ordering::Relaxed);
    KEYED_MAP_SIDES.store(0, Ordering::Relaxed);
    crate::engine::block::reset_block_stats();
}

fn run_native(kind: NativeKind, expr: &Expr, input: &[Value]) -> Result<Partition, Fallback> {
    let mut out = Vec::with_capacity(input.len());
    match kind {
        NativeKind::Map => {
            for x in input {
                out.push(expr.eval(&[x])?);
            }
        }
        NativeKind::FlatMap => {
            for x in input {
                extend_iterable(&mut out, expr.eval(&[x])?)?;
            }
        }
        NativeKind::Filter => {
            for x in input {
                if expr.eval(&[x])?.truthy().ok_or(Fallback)? {
                    out.push(x.clone());
                }
            }
        }
        NativeKind::MapValues => {
            for x in input {
                let (k, v) = x.as_pair().map_err(|_| Fallback)?;
                out.push(Value::pair(k.clone(), expr.eval(&[v])?));
            }
        }
        NativeKind::FlatMapValues => {
            for x in input {
                let (k, v) = x.as_pair().map_err(|_| Fallback)?;
                let mut items = Vec::new();
                extend_iterable(&mut items, expr.eval(&[v])?)?;
                out.extend(items.into_iter().map(|item| Value::pair(k.clone(), item)));
            }
        }
        NativeKind::KeyBy => {
            for x in input {
                out.push(Value::pair(expr.eval(&[x])?, x.clone()));
            }
        }
        NativeKind::Combine => {
            let mut acc: KeyMap<Value> = combine_map(input.len());
            for x in input {
                let (k, v) = x.as_pair().map_err(|_| Fallback)?;
                match acc.entry(native_key(k)?) {
                    indexmap::map::Entry::Occupied(mut slot) => {
                        let merged = expr.eval(&[slot.get(), v])?;
                        *slot.get_mut() = merged;
                    }
                    indexmap::map::Entry::Vacant(slot) => {
                        slot.insert(v.clone());
                    }
                }
            }
            out.extend(acc.into_iter().map(|(k, v)| Value::pair(k.value, v)));
        }
    }
    Ok(out)
}

/// A key hashed natively; keys with host objects (hashed and compared by the host, in bulk)
/// send the partition to the step's fallback.
fn native_key(k: &Value) -> Result<Key, Fallback> {
    if k.has_host() {
        return Err(Fallback);
    }
    Key::new(k.clone()).map_err(|_| Fallback)
}

/// Python's iteration of a value, for the types native code models.
fn extend_iterable(out: &mut Vec<Value>, v: Value) -> Result<(), Fallback> {
    match v {
        Value::Tuple(items) | Value::List(items) | Value::Group(items) => {
            out.extend(items.iter().cloned())
        }
        Value::Str(s) => out.extend(s.chars().map(|c| Value::Str(Text::from(c)))),
        Value::Bytes(b) => out.extend(b.iter().map(|&x| Value::Int(i64::from(x)))),
        _ => return Err(Fallback),
    }
    Ok(())
}

impl Step {
    /// The kind and expression of a native step.
    pub fn native(&self) -> Option<(NativeKind, &Expr)> {
        match self {
            Step::Native { kind, expr, .. } => Some((*kind, expr)),
            _ => None,
        }
    }
}
