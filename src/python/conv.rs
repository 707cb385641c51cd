//! Records between Python and the engine, converted in bulk, one partition at a time.

use std::any::Any;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::engine::error::{EngineError, Result};
use crate::engine::value::{HostObject, Value};
use crate::python::errors::user;

/// A Python object with no native representation.
pub struct PyHost(pub Py<PyAny>);

impl std::fmt::Debug for PyHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyHost")
    }
}

impl HostObject for PyHost {
    fn portable_hash(&self) -> Result<i64> {
        Python::attach(|py| {
            let obj = self.0.bind(py);
            // PySpark's portable_hash: tuples element-wise, everything else hash(x).
            if let Ok(t) = obj.cast::<PyTuple>() {
                let items = t
                    .iter()
                    .map(|item| py_to_value(&item).and_then(|v| v.portable_hash()))
                    .collect::<Result<Vec<_>>>()?;
                return Ok(crate::engine::pyhash::hash_tuple(items.into_iter()));
            }
            obj.hash().map(|h| h as i64).map_err(user)
        })
    }

    fn host_eq(&self, other: &dyn HostObject) -> Result<bool> {
        let other = other
            .as_any()
            .downcast_ref::<PyHost>()
            .ok_or_else(|| EngineError::Internal("foreign host object".into()))?;
        Python::attach(|py| self.0.bind(py).eq(other.0.bind(py)).map_err(user))
    }

    fn to_str(&self) -> Result<String> {
        Python::attach(|py| {
            self.0
                .bind(py)
                .str()
                .map(|s| s.to_string_lossy().into_owned())
                .map_err(user)
        })
    }

    fn to_repr(&self) -> Result<String> {
        Python::attach(|py| {
            self.0
                .bind(py)
                .repr()
                .map(|s| s.to_string_lossy().into_owned())
                .map_err(user)
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A Python object as an engine value. Exact built-in types become native values (subclasses
/// such as namedtuples stay Python objects, so their type survives).
pub fn py_to_value(obj: &Bound<'_, PyAny>) -> Result<Value> {
    if obj.is_exact_instance_of::<PyString>() {
        let s = obj.cast::<PyString>().map_err(|e| user(e.into()))?;
        return match s.to_cow() {
            Ok(s) => Ok(Value::Str(Arc::from(s.as_ref()))),
            // Lone surrogates cannot be UTF-8: keep the Python object.
            Err(_) => Ok(host(obj)),
        };
    }
    if obj.is_exact_instance_of::<PyInt>() {
        return Ok(match obj.extract::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => host(obj),
        });
    }
    if obj.is_exact_instance_of::<PyTuple>() {
        let t = obj.cast::<PyTuple>().map_err(|e| user(e.into()))?;
        let items = t
            .iter()
            .map(|x| py_to_value(&x))
            .collect::<Result<Vec<_>>>()?;
        return Ok(Value::Tuple(Arc::from(items)));
    }
    if obj.is_exact_instance_of::<PyFloat>() {
        return Ok(Value::Float(obj.extract::<f64>().map_err(user)?));
    }
    if obj.is_exact_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.is_truthy().map_err(user)?));
    }
    if obj.is_none() {
        return Ok(Value::None);
    }
    if obj.is_exact_instance_of::<PyBytes>() {
        let b = obj.cast::<PyBytes>().map_err(|e| user(e.into()))?;
        return Ok(Value::Bytes(Arc::from(b.as_bytes())));
    }
    if obj.is_exact_instance_of::<PyList>() {
        let l = obj.cast::<PyList>().map_err(|e| user(e.into()))?;
        let items = l
            .iter()
            .map(|x| py_to_value(&x))
            .collect::<Result<Vec<_>>>()?;
        return Ok(Value::List(Arc::from(items)));
    }
    Ok(host(obj))
}

fn host(obj: &Bound<'_, PyAny>) -> Value {
    Value::Host(Arc::new(PyHost(obj.clone().unbind())))
}

/// An engine value as a Python object.
pub fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::None => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Tuple(items) => {
            let items = items
                .iter()
                .map(|x| value_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any()
        }
        Value::List(items) => {
            let items = items
                .iter()
                .map(|x| value_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Host(h) => match h.as_any().downcast_ref::<PyHost>() {
            Some(p) => p.0.bind(py).clone(),
            None => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "ferrostream internal error: foreign host object",
                ))
            }
        },
    })
}

/// A partition as a Python list.
pub fn partition_to_py<'py>(py: Python<'py>, records: &[Value]) -> PyResult<Bound<'py, PyList>> {
    let items = records
        .iter()
        .map(|x| value_to_py(py, x))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Any Python iterable as a partition.
pub fn py_to_partition(obj: &Bound<'_, PyAny>) -> Result<Vec<Value>> {
    if let Ok(list) = obj.cast::<PyList>() {
        return list.iter().map(|x| py_to_value(&x)).collect();
    }
    let mut out = Vec::new();
    for item in obj.try_iter().map_err(user)? {
        out.push(py_to_value(&item.map_err(user)?)?);
    }
    Ok(out)
}
