//! Python functions of keyed streams (`updateStateByKey`, incremental windows), each called for
//! a whole partition inside one attach to the interpreter.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::engine::error::{EngineError, Result};
use crate::engine::expr::Expr;
use crate::engine::stream::state::{HostPairFn, HostPredicate, HostUpdateFn, UserFn};
use crate::engine::value::Value;
use crate::python::conv::{py_to_value, value_to_py};
use crate::python::errors::user;

/// `updateFunc(new_values, old_state)`.
pub struct PyUpdateFn(pub Py<PyAny>);

impl HostUpdateFn for PyUpdateFn {
    fn update(&self, items: Vec<(Vec<Value>, Value)>) -> Result<Vec<Value>> {
        Python::attach(|py| {
            let f = self.0.bind(py);
            items
                .iter()
                .map(|(new, old)| {
                    let values = new
                        .iter()
                        .map(|v| value_to_py(py, v))
                        .collect::<PyResult<Vec<_>>>()
                        .and_then(|vs| PyList::new(py, vs))
                        .map_err(user)?;
                    let old = value_to_py(py, old).map_err(user)?;
                    let out = f.call1((values, old)).map_err(user)?;
                    py_to_value(&out)
                })
                .collect()
        })
    }
}

/// A two-argument function (`func`, `invFunc`).
pub struct PyPairFn(pub Py<PyAny>);

impl HostPairFn for PyPairFn {
    fn apply(&self, pairs: Vec<(Value, Value)>) -> Result<Vec<Value>> {
        Python::attach(|py| {
            let f = self.0.bind(py);
            pairs
                .iter()
                .map(|(a, b)| {
                    let a = value_to_py(py, a).map_err(user)?;
                    let b = value_to_py(py, b).map_err(user)?;
                    py_to_value(&f.call1((a, b)).map_err(user)?)
                })
                .collect()
        })
    }

    fn reduce(&self, groups: Vec<Vec<Value>>) -> Result<Vec<Value>> {
        Python::attach(|py| {
            let f = self.0.bind(py);
            groups
                .iter()
                .map(|group| {
                    let mut values = group.iter();
                    let first = values
                        .next()
                        .ok_or_else(|| EngineError::Internal("reduce of an empty group".into()))?;
                    let mut acc = value_to_py(py, first).map_err(user)?;
                    for v in values {
                        let v = value_to_py(py, v).map_err(user)?;
                        acc = f.call1((acc, v)).map_err(user)?;
                    }
                    py_to_value(&acc)
                })
                .collect()
        })
    }
}

/// `filterFunc((key, value)) -> bool`.
pub struct PyPredicate(pub Py<PyAny>);

impl HostPredicate for PyPredicate {
    fn test(&self, items: Vec<Value>) -> Result<Vec<bool>> {
        Python::attach(|py| {
            let f = self.0.bind(py);
            items
                .iter()
                .map(|x| {
                    let x = value_to_py(py, x).map_err(user)?;
                    f.call1((x,)).and_then(|r| r.is_truthy()).map_err(user)
                })
                .collect()
        })
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
    f: Py<PyAny>,
    expr: Option<&Bound<'_, PyAny>>,
) -> Result<UserFn<dyn HostUpdateFn>> {
    Ok(UserFn {
        native: native_expr(expr, 2)?,
        host: Arc::new(PyUpdateFn(f)),
    })
}

pub fn pair_fn(f: Py<PyAny>, expr: Option<&Bound<'_, PyAny>>) -> Result<UserFn<dyn HostPairFn>> {
    Ok(UserFn {
        native: native_expr(expr, 2)?,
        host: Arc::new(PyPairFn(f)),
    })
}

pub fn predicate(
    f: Py<PyAny>,
    expr: Option<&Bound<'_, PyAny>>,
) -> Result<UserFn<dyn HostPredicate>> {
    Ok(UserFn {
        native: native_expr(expr, 1)?,
        host: Arc::new(PyPredicate(f)),
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
