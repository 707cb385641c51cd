//! Records between Python and the engine, converted in bulk, one partition at a time.

use std::any::Any;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use arrow_array::{Array, LargeBinaryArray, LargeStringArray};

use crate::engine::block::{Block, Data, LinesBuilder};
use crate::engine::error::{EngineError, Result};
use crate::engine::host::HostRuntime;
use crate::engine::pyhash;
use crate::engine::value::{HostObject, Value};
use crate::python::errors::user;

/// A Python object with no native representation.
pub struct PyHost(pub Py<PyAny>);

impl std::fmt::Debug for PyHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyHost")
    }
}

/// PySpark's `portable_hash` of a Python object: None is 0, tuples element-wise, `str` and
/// `bytes` as CPython hashes them under `PYTHONHASHSEED=0`, everything else `hash(x)`.
pub fn py_portable_hash(obj: &Bound<'_, PyAny>) -> Result<i64> {
    if obj.is_none() {
        return Ok(0);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let items = t
            .iter()
            .map(|item| py_portable_hash(&item))
            .collect::<Result<Vec<_>>>()?;
        return Ok(pyhash::hash_tuple(items.into_iter()));
    }
    if obj.is_exact_instance_of::<PyString>() {
        if let Ok(text) = obj.cast::<PyString>().map_err(|e| user(e.into()))?.to_cow() {
            return Ok(pyhash::hash_str(&text));
        }
    }
    if obj.is_exact_instance_of::<PyBytes>() {
        let b = obj.cast::<PyBytes>().map_err(|e| user(e.into()))?;
        return Ok(pyhash::hash_bytes(b.as_bytes()));
    }
    obj.hash().map(|h| h as i64).map_err(user)
}

/// `portable_hash` of an engine value whose host parts are Python objects (GIL held).
fn value_portable_hash(py: Python<'_>, v: &Value) -> Result<i64> {
    match v {
        Value::Host(h) => match h.as_any().downcast_ref::<PyHost>() {
            Some(p) => py_portable_hash(p.0.bind(py)),
            None => h.portable_hash(),
        },
        Value::Tuple(items) if v.has_host() => {
            let hashes = items
                .iter()
                .map(|x| value_portable_hash(py, x))
                .collect::<Result<Vec<_>>>()?;
            Ok(pyhash::hash_tuple(hashes.into_iter()))
        }
        other => other.portable_hash(),
    }
}

impl HostObject for PyHost {
    fn portable_hash(&self) -> Result<i64> {
        Python::attach(|py| py_portable_hash(self.0.bind(py)))
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
            Ok(s) => Ok(Value::str(&s)),
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
        if t.len() == 2 {
            // Pairs, the common tuple: one allocation, not a vector copied into one.
            let k = py_to_value(&t.get_item(0).map_err(user)?)?;
            let v = py_to_value(&t.get_item(1).map_err(user)?)?;
            return Ok(Value::pair(k, v));
        }
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
        Value::Group(items) => {
            let items = items
                .iter()
                .map(|x| value_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            result_iterable(py)?.call1((PyList::new(py, items)?,))?
        }
    })
}

/// `ferrostream.resultiterable.ResultIterable`, imported once.
pub(crate) fn result_iterable(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    CLASS.import(py, "ferrostream.resultiterable", "ResultIterable")
}

/// The host runtime for Python: batch hashing, equality and ordering of keys, each in one
/// attach for the whole batch.
pub struct PyHostRuntime;

impl HostRuntime for PyHostRuntime {
    fn hash_keys(&self, keys: &[&Value]) -> Result<Vec<i64>> {
        Python::attach(|py| keys.iter().map(|k| value_portable_hash(py, k)).collect())
    }

    fn first_equal(&self, keys: &[&Value]) -> Result<Vec<usize>> {
        Python::attach(|py| {
            // `d.setdefault(k, i)`: one hash of each key.
            let seen = PyDict::new(py);
            let setdefault = seen.getattr("setdefault").map_err(user)?;
            let mut out = Vec::with_capacity(keys.len());
            for (i, k) in keys.iter().enumerate() {
                let obj = value_to_py(py, k).map_err(user)?;
                let first = setdefault.call1((obj, i)).map_err(user)?;
                out.push(first.extract::<usize>().map_err(user)?);
            }
            Ok(out)
        })
    }

    fn sort_permutation(&self, values: &[&Value], reverse: bool) -> Result<Vec<usize>> {
        Python::attach(|py| {
            let objs = values
                .iter()
                .map(|v| value_to_py(py, v))
                .collect::<PyResult<Vec<_>>>()
                .map_err(user)?;
            let list = PyList::new(py, objs).map_err(user)?;
            let builtins = py.import("builtins").map_err(user)?;
            let range = builtins
                .getattr("range")
                .and_then(|r| r.call1((values.len(),)))
                .map_err(user)?;
            let kwargs = PyDict::new(py);
            kwargs
                .set_item("key", list.getattr("__getitem__").map_err(user)?)
                .map_err(user)?;
            kwargs.set_item("reverse", reverse).map_err(user)?;
            let order = builtins
                .getattr("sorted")
                .and_then(|f| f.call((range,), Some(&kwargs)))
                .map_err(user)?;
            order.extract::<Vec<usize>>().map_err(user)
        })
    }

    fn bisect_left(&self, bounds: &[&Value], keys: &[&Value]) -> Result<Vec<usize>> {
        bisect(bounds, keys, "bisect_left")
    }

    fn bisect_right(&self, bounds: &[&Value], keys: &[&Value]) -> Result<Vec<usize>> {
        bisect(bounds, keys, "bisect_right")
    }

    fn min_max(&self, values: &[&Value]) -> Result<(usize, usize)> {
        Python::attach(|py| {
            let list = values_to_list(py, values).map_err(user)?;
            let builtins = py.import("builtins").map_err(user)?;
            let range = builtins
                .getattr("range")
                .and_then(|r| r.call1((values.len(),)))
                .map_err(user)?;
            let kwargs = PyDict::new(py);
            kwargs
                .set_item("key", list.getattr("__getitem__").map_err(user)?)
                .map_err(user)?;
            let pick = |f: &str| -> Result<usize> {
                builtins
                    .getattr(f)
                    .and_then(|f| f.call((&range,), Some(&kwargs)))
                    .and_then(|i| i.extract::<usize>())
                    .map_err(user)
            };
            Ok((pick("min")?, pick("max")?))
        })
    }
}

fn values_to_list<'py>(py: Python<'py>, vs: &[&Value]) -> PyResult<Bound<'py, PyList>> {
    let objs = vs
        .iter()
        .map(|v| value_to_py(py, v))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, objs)
}

/// `bisect.<name>(bounds, k)` for each key, in one attach.
fn bisect(bounds: &[&Value], keys: &[&Value], name: &str) -> Result<Vec<usize>> {
    Python::attach(|py| {
        let bounds = values_to_list(py, bounds).map_err(user)?;
        let bisect = py
            .import("bisect")
            .and_then(|m| m.getattr(name))
            .map_err(user)?;
        keys.iter()
            .map(|k| {
                let key = value_to_py(py, k)?;
                bisect.call1((&bounds, key))?.extract::<usize>()
            })
            .collect::<PyResult<Vec<_>>>()
            .map_err(user)
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

/// A native block as a Python list, built straight from its buffers: `str` lines, or
/// `(key, value)` tuples of `str` (`bytes`) or None, exactly what [`partition_to_py`] gives
/// for the block's rows.
pub fn block_to_py<'py>(py: Python<'py>, block: &Block) -> PyResult<Bound<'py, PyList>> {
    fn opt_str<'py>(py: Python<'py>, a: &LargeStringArray, i: usize) -> Bound<'py, PyAny> {
        if a.is_null(i) {
            py.None().into_bound(py)
        } else {
            PyString::new(py, a.value(i)).into_any()
        }
    }
    fn opt_bytes<'py>(py: Python<'py>, a: &LargeBinaryArray, i: usize) -> Bound<'py, PyAny> {
        if a.is_null(i) {
            py.None().into_bound(py)
        } else {
            PyBytes::new(py, a.value(i)).into_any()
        }
    }
    match block {
        Block::Lines(lines) => PyList::new(
            py,
            (0..lines.len()).map(|i| PyString::new(py, lines.value(i))),
        ),
        Block::StrPairs { keys, values } => {
            let items = (0..values.len())
                .map(|i| PyTuple::new(py, [opt_str(py, keys, i), opt_str(py, values, i)]))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)
        }
        Block::BytePairs { keys, values } => {
            let items = (0..values.len())
                .map(|i| PyTuple::new(py, [opt_bytes(py, keys, i), opt_bytes(py, values, i)]))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)
        }
    }
}

/// Any Python iterable as a partition.
/// A partition handed over to be held (`parallelize`, queue batches): a list of `str` only
/// becomes a block of lines, one buffer with no value per line (PySpark holds such data
/// pickled, in one buffer too); anything else, or a string that is not UTF-8 (a lone
/// surrogate stays a Python object), becomes rows ([`py_to_partition`]).
pub fn py_to_data(obj: &Bound<'_, PyAny>) -> Result<Data> {
    if let Ok(list) = obj.cast::<PyList>() {
        if let Some(chars) = str_list_chars(list) {
            // Sized for ASCII text; other text grows the buffer. Each string is encoded once.
            let mut block = LinesBuilder::with_capacity(list.len(), chars);
            let mut utf8 = true;
            for item in list.iter() {
                let s = item.cast::<PyString>().map_err(|e| user(e.into()))?;
                match s.to_cow() {
                    Ok(s) => block.push(&s),
                    Err(_) => {
                        utf8 = false;
                        break;
                    }
                }
            }
            if utf8 {
                return Ok(Data::block(block.finish()));
            }
        }
    }
    py_to_partition(obj).map(Data::Rows)
}

/// The number of characters in a non-empty list of exact `str`; None for any other list.
fn str_list_chars(list: &Bound<'_, PyList>) -> Option<usize> {
    if list.is_empty() {
        return None;
    }
    let mut chars = 0;
    for item in list.iter() {
        if !item.is_exact_instance_of::<PyString>() {
            return None;
        }
        chars += item.len().ok()?;
    }
    Some(chars)
}

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
