//! Narrow steps: what a partition goes through between shuffles.
//!
//! A step is either host code (a fused chain of Python functions, one call per partition) or a
//! native step whose behaviour the facade proved from the function's bytecode ([`Expr`]). A
//! native step that meets a record it cannot handle exactly as Python would (a type it does not
//! model, an overflow) hands the whole partition to its host fallback, which computes the same
//! step in Python; the steps are pure, so this is always safe.

use std::sync::Arc;

use crate::engine::error::Result;
use crate::engine::expr::{Expr, Fallback};
use crate::engine::host::PartitionFn;
use crate::engine::rdd::{group_local, Partition};
use crate::engine::value::{Key, KeyMap, Value};

/// What a native step does with its expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

impl Step {
    pub fn apply(&self, split: usize, input: Partition) -> Result<Partition> {
        match self {
            Step::Host(f) => f.call(split, input),
            Step::GroupLocal => group_local(input),
            Step::Native {
                kind,
                expr,
                fallback,
            } => match run_native(*kind, expr, &input) {
                Ok(out) => Ok(out),
                Err(Fallback) => fallback.call(split, input),
            },
        }
    }
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
            let mut acc: KeyMap<Value> = KeyMap::default();
            for x in input {
                let (k, v) = x.as_pair().map_err(|_| Fallback)?;
                let key = Key::new(k.clone()).map_err(|_| Fallback)?;
                match acc.get_mut(&key) {
                    Some(slot) => *slot = expr.eval(&[slot, v])?,
                    None => {
                        acc.insert(key, v.clone());
                    }
                }
            }
            out.extend(acc.into_iter().map(|(k, v)| Value::pair(k.value, v)));
        }
    }
    Ok(out)
}

/// Python's iteration of a value, for the types native code models.
fn extend_iterable(out: &mut Vec<Value>, v: Value) -> Result<(), Fallback> {
    match v {
        Value::Tuple(items) | Value::List(items) => out.extend(items.iter().cloned()),
        Value::Str(s) => out.extend(s.chars().map(|c| Value::Str(Arc::from(c.to_string())))),
        Value::Bytes(b) => out.extend(b.iter().map(|&x| Value::Int(i64::from(x)))),
        _ => return Err(Fallback),
    }
    Ok(())
}
