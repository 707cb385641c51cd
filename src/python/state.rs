//! Python functions of keyed streams (`updateStateByKey`, incremental windows), each called for
//! a whole partition inside one attach to the interpreter.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::expr::Expr;
use crate::engine::host::PartitionFn;
use crate::engine::stream::state::{HostPairFn, HostPredicate, HostUpdateFn, UserFn};
use crate::engine::value::Value;
use crate::python::conv::{py_to_value, value_to_py};
use crate::python::errors::user;
use crate::python::udf::PyPartitionFn;

/// A keyed stream's Python function, run as a partition function that the facade builds
/// around the user's (`ferrostream._workers.<adapter>(f)`), placed on the context's executor:
/// in a worker process or in this interpreter, one call per partition either way.
struct Placed(Arc<dyn PartitionFn>);

impl Placed {
    fn new(ctx: &EngineContext, adapter: &str, f: Py<PyAny>) -> Result<Placed> {
        let wrapped = Python::attach(|py| {
            py.import("ferrostream._workers")
                .and_then(|m| m.getattr(adapter))
                .and_then(|a| a.call1((f,)))
                .map(Bound::unbind)
                .map_err(user)
        })?;
        Ok(Placed(
            ctx.executor()
                .place_host_fn(Arc::new(PyPartitionFn(wrapped))),
        ))
    }

    /// The function over `records`, which must give one output per record.
    fn call(&self, records: Vec<Value>) -> Result<Vec<Value>> {
        let n = records.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let out = self.0.call(0, records)?;
        if out.len() != n {
            return Err(EngineError::Internal(format!(
                "a keyed stream's function gave {} results for {n} inputs",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// `updateFunc(new_values, old_state)`.
pub struct PyUpdateFn(Placed);

impl HostUpdateFn for PyUpdateFn {
    fn update(&self, items: Vec<(Vec<Value>, Value)>) -> Result<Vec<Value>> {
        let records = items
            .into_iter()
            .map(|(new, old)| Value::pair(Value::List(new.into()), old))
            .collect();
        self.0.call(records)
    }
}

/// A two-argument function (`func`, `invFunc`): `apply` over pairs, `reduce` over groups.
pub struct PyPairFn {
    apply: Placed,
    reduce: Placed,
}

impl HostPairFn for PyPairFn {
    fn apply(&self, pairs: Vec<(Value, Value)>) -> Result<Vec<Value>> {
        let records = pairs.into_iter().map(|(a, b)| Value::pair(a, b)).collect();
        self.apply.call(records)
    }

    fn reduce(&self, groups: Vec<Vec<Value>>) -> Result<Vec<Value>> {
        if groups.iter().any(|g| g.is_empty()) {
            return Err(EngineError::Internal("reduce of an empty group".into()));
        }
        let records = groups.into_iter().map(|g| Value::List(g.into())).collect();
        self.reduce.call(records)
    }
}

/// A one-argument predicate (`filterFunc`).
pub struct PyPredicate(Placed);

impl HostPredicate for PyPredicate {
    fn test(&self, items: Vec<Value>) -> Result<Vec<bool>> {
        self.0
            .call(items)?
            .iter()
            .map(|v| match v {
                Value::Bool(b) => Ok(*b),
                other => Err(EngineError::Internal(format!(
                    "a filter's adapter gave a {}, not a bool",
                    other.type_name()
                ))),
            })
            .collect()
    }
}

/// The proven native form of a function (see `ferrostream._analyze`), if the facade gave one.
pub fn native_expr(expr: Option<&Bound<'_, PyAny>>, nargs: usize) -> Result<Option<Arc<Expr>>> {
    let Some(expr) = expr.filter(|e| !e.is_none()) else {
        return Ok(None);
    };
    let parsed = Expr::from_value(&py_to_value(expr)?)?;
    if parsed.arity() > nargs {
        return Err(EngineError::InvalidArgument(format!(
            "invalid native expression: it takes {} arguments, the function {nargs}",
            parsed.arity()
        )));
    }
    Ok(Some(Arc::new(parsed)))
}

pub fn update_fn(
    ctx: &EngineContext,
    f: Py<PyAny>,
    expr: Option<&Bound<'_, PyAny>>,
) -> Result<UserFn<dyn HostUpdateFn>> {
    Ok(UserFn {
        native: native_expr(expr, 2)?,
        host: Arc::new(PyUpdateFn(Placed::new(ctx, "update_partition", f)?)),
    })
}

pub fn pair_fn(
    ctx: &EngineContext,
    f: Py<PyAny>,
    expr: Option<&Bound<'_, PyAny>>,
) -> Result<UserFn<dyn HostPairFn>> {
    let reduce = Python::attach(|py| f.clone_ref(py));
    Ok(UserFn {
        native: native_expr(expr, 2)?,
        host: Arc::new(PyPairFn {
            apply: Placed::new(ctx, "apply_partition", f)?,
            reduce: Placed::new(ctx, "reduce_partition", reduce)?,
        }),
    })
}

pub fn predicate(
    ctx: &EngineContext,
    f: Py<PyAny>,
    expr: Option<&Bound<'_, PyAny>>,
) -> Result<UserFn<dyn HostPredicate>> {
    Ok(UserFn {
        native: native_expr(expr, 1)?,
        host: Arc::new(PyPredicate(Placed::new(ctx, "filter_partition", f)?)),
    })
}

/// Host objects in checkpointed state, pickled with cloudpickle a partition at a time.
pub struct PyHostCodec;

impl crate::engine::stream::HostCodec for PyHostCodec {
    fn pickle(&self, values: &[&Value]) -> Result<Vec<u8>> {
        Python::attach(|py| {
            let items = values
                .iter()
                .map(|v| value_to_py(py, v))
                .collect::<PyResult<Vec<_>>>()
                .and_then(|vs| PyList::new(py, vs))
                .map_err(user)?;
            let pickled = py
                .import("cloudpickle")
                .and_then(|m| m.call_method1("dumps", (items, 5)))
                .map_err(user)?;
            pickled.extract::<Vec<u8>>().map_err(user)
        })
    }

    fn unpickle(&self, bytes: &[u8]) -> Result<Vec<Value>> {
        Python::attach(|py| {
            let data = pyo3::types::PyBytes::new(py, bytes);
            let items = py
                .import("pickle")
                .and_then(|m| m.call_method1("loads", (data,)))
                .map_err(user)?;
            crate::python::conv::py_to_partition(&items)
        })
    }
}
