//! Steps as they travel: serialisable plans of steps, host functions by handle.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{NativeKind, Step};
use crate::engine::error::{EngineError, Result};
use crate::engine::expr::Expr;
use crate::engine::host::PartitionFn;

/// A host function in a serialisable plan: an id the receiving process resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostHandle(pub u64);

/// Host functions by handle. The driver gives each function a handle when it writes a plan
/// ([`HostFns::handle_of`]); a worker registers the functions it was sent under the same
/// handles ([`HostFns::insert`]) and resolves plans with them.
#[derive(Default)]
pub struct HostFns {
    fns: Vec<(HostHandle, Arc<dyn PartitionFn>)>,
}

impl HostFns {
    /// The handle of `f` (the same function object always gets the same handle).
    pub fn handle_of(&mut self, f: &Arc<dyn PartitionFn>) -> HostHandle {
        if let Some((h, _)) = self
            .fns
            .iter()
            .find(|(_, g)| std::ptr::addr_eq(Arc::as_ptr(g), Arc::as_ptr(f)))
        {
            return *h;
        }
        let h = HostHandle(self.fns.len() as u64);
        self.fns.push((h, f.clone()));
        h
    }

    /// Register `f` under `handle` (replacing what was there).
    pub fn insert(&mut self, handle: HostHandle, f: Arc<dyn PartitionFn>) {
        self.fns.retain(|(h, _)| *h != handle);
        self.fns.push((handle, f));
    }

    /// Every function with its handle (what a driver ships along with its plans).
    pub fn iter(&self) -> impl Iterator<Item = (HostHandle, &Arc<dyn PartitionFn>)> {
        self.fns.iter().map(|(h, f)| (*h, f))
    }

    pub fn resolve(&self, handle: HostHandle) -> Result<Arc<dyn PartitionFn>> {
        self.fns
            .iter()
            .find(|(h, _)| *h == handle)
            .map(|(_, f)| f.clone())
            .ok_or_else(|| {
                EngineError::IllegalState(format!("no host function for handle {}", handle.0))
            })
    }
}

/// A [`Step`] as it travels: serialisable, host functions by handle.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum StepPlan {
    Host(HostHandle),
    Native {
        kind: NativeKind,
        expr: Expr,
        fallback: HostHandle,
    },
    GroupLocal,
    Glom,
    Count,
}

impl Step {
    /// This step as a plan, its host functions registered in `fns`.
    pub fn to_plan(&self, fns: &mut HostFns) -> StepPlan {
        match self {
            Step::Host(f) => StepPlan::Host(fns.handle_of(f)),
            Step::Native {
                kind,
                expr,
                fallback,
            } => StepPlan::Native {
                kind: *kind,
                expr: (**expr).clone(),
                fallback: fns.handle_of(fallback),
            },
            Step::GroupLocal => StepPlan::GroupLocal,
            Step::Glom => StepPlan::Glom,
            Step::Count => StepPlan::Count,
        }
    }
}

impl StepPlan {
    /// The step, its handles resolved in `fns`.
    pub fn resolve(&self, fns: &HostFns) -> Result<Step> {
        Ok(match self {
            StepPlan::Host(h) => Step::Host(fns.resolve(*h)?),
            StepPlan::Native {
                kind,
                expr,
                fallback,
            } => {
                if expr.arity() > kind.arity() {
                    return Err(EngineError::InvalidArgument(format!(
                        "a native {kind:?} step takes {} argument(s), its expression {}",
                        kind.arity(),
                        expr.arity()
                    )));
                }
                Step::Native {
                    kind: *kind,
                    expr: Arc::new(expr.clone()),
                    fallback: fns.resolve(*fallback)?,
                }
            }
            StepPlan::GroupLocal => Step::GroupLocal,
            StepPlan::Glom => Step::Glom,
            StepPlan::Count => Step::Count,
        })
    }
}
