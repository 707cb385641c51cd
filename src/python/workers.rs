//! Python's side of the worker-process executor: the driver's hooks ([`PyWorkerHost`]) and the
//! partition codec the worker processes call (`encode_partition`, `decode_partition`).
//! The pool itself (processes, frames, retries) is the engine's `exec::process`.

use std::cell::RefCell;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;

use crate::engine::error::{EngineError, Result};
use crate::engine::exec::WorkerHost;
use std::sync::Arc;

use crate::engine::host::{HostCodec, Payload};
use crate::engine::wire::{self, tag};
use crate::python::conv::result_iterable;
use crate::python::errors::{user, IntoPyResult};
use crate::python::state::PyHostCodec;

/// The driver-side helpers live in `ferrostream._workers`.
fn helper<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("ferrostream._workers")?.getattr(name)
}

pub struct PyWorkerHost;

impl WorkerHost for PyWorkerHost {
    fn codec(&self) -> &dyn HostCodec {
        &PyHostCodec
    }

    fn task_error(&self, exception: &[u8], traceback: &str) -> EngineError {
        Python::attach(|py| {
            let rebuilt = helper(py, "task_error")
                .and_then(|f| f.call1((PyBytes::new(py, exception), traceback)));
            match rebuilt {
                Ok(exc) => user(PyErr::from_value(exc)),
                Err(e) => user(e),
            }
        })
    }

    fn task_effects(&self, printed: &[u8], accumulators: &[u8]) -> Result<()> {
        Python::attach(|py| {
            helper(py, "apply_task_effects")
                .and_then(|f| f.call1((PyBytes::new(py, printed), PyBytes::new(py, accumulators))))
                .map(drop)
                .map_err(user)
        })
    }
}

/// The function as a worker loads it (cloudpickled, with the broadcast variables it refers to
/// as shared values), or a `PicklingError` naming it.
pub fn pickle_function(py: Python<'_>, f: &Py<PyAny>) -> Result<Payload> {
    let (function, shared) = helper(py, "pickle_function")
        .and_then(|p| p.call1((f.bind(py),)))
        .and_then(|b| b.extract::<(Vec<u8>, Vec<(u64, Vec<u8>)>)>())
        .map_err(user)?;
    Ok(Payload {
        function,
        shared: shared
            .into_iter()
            .map(|(id, value)| (id, Arc::from(value)))
            .collect(),
    })
}

/// A Python object being encoded as the engine's `wire` format encodes the value
/// `py_to_value` would make of it (same types, same rules), without making that value.
struct PyEnc<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    hosts: &'a RefCell<Vec<Bound<'py, PyAny>>>,
}

/// The items of a list or tuple being encoded.
struct PyEncSeq<'a, 'py> {
    items: Items<'a, 'py>,
    hosts: &'a RefCell<Vec<Bound<'py, PyAny>>>,
}

enum Items<'a, 'py> {
    List(&'a Bound<'py, PyList>),
    Tuple(&'a Bound<'py, PyTuple>),
}

impl Serialize for PyEnc<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let obj = self.obj;
        let seq = |items| PyEncSeq {
            items,
            hosts: self.hosts,
        };
        if let Ok(x) = obj.cast_exact::<PyString>() {
            if let Ok(text) = x.to_cow() {
                return s.serialize_newtype_variant("V", tag::STR, "Str", text.as_ref());
            }
        } else if obj.is_exact_instance_of::<PyInt>() {
            if let Ok(i) = obj.extract::<i64>() {
                return s.serialize_newtype_variant("V", tag::INT, "Int", &i);
            }
        } else if let Ok(t) = obj.cast_exact::<PyTuple>() {
            return s.serialize_newtype_variant("V", tag::TUPLE, "Tuple", &seq(Items::Tuple(t)));
        } else if let Ok(f) = obj.cast_exact::<PyFloat>() {
            return s.serialize_newtype_variant("V", tag::FLOAT, "Float", &f.value());
        } else if let Ok(b) = obj.cast_exact::<PyBool>() {
            return s.serialize_newtype_variant("V", tag::BOOL, "Bool", &b.is_true());
        } else if obj.is_none() {
            return s.serialize_unit_variant("V", tag::NONE, "None");
        } else if let Ok(b) = obj.cast_exact::<PyBytes>() {
            let raw = wire::RawBytes(b.as_bytes());
            return s.serialize_newtype_variant("V", tag::BYTES, "Bytes", &raw);
        } else if let Ok(l) = obj.cast_exact::<PyList>() {
            return s.serialize_newtype_variant("V", tag::LIST, "List", &seq(Items::List(l)));
        }
        let mut hosts = self.hosts.borrow_mut();
        hosts.push(obj.clone());
        let i = (hosts.len() - 1) as u32;
        s.serialize_newtype_variant("V", tag::HOST, "Host", &i)
    }
}

impl Serialize for PyEncSeq<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let hosts = self.hosts;
        match self.items {
            Items::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for obj in l.iter() {
                    seq.serialize_element(&PyEnc { obj: &obj, hosts })?;
                }
                seq.end()
            }
            Items::Tuple(t) => {
                let mut seq = s.serialize_seq(Some(t.len()))?;
                for obj in t.iter() {
                    seq.serialize_element(&PyEnc { obj: &obj, hosts })?;
                }
                seq.end()
            }
        }
    }
}

/// Python objects from encoded values.
struct PyBuilder<'py> {
    py: Python<'py>,
    hosts: Vec<Bound<'py, PyAny>>,
}

fn msg(e: PyErr) -> String {
    e.to_string()
}

impl<'py> wire::Builder for PyBuilder<'py> {
    type Out = Bound<'py, PyAny>;
    fn none(&self) -> std::result::Result<Self::Out, String> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn bool(&self, b: bool) -> std::result::Result<Self::Out, String> {
        Ok(PyBool::new(self.py, b).to_owned().into_any())
    }
    fn int(&self, i: i64) -> std::result::Result<Self::Out, String> {
        Ok(PyInt::new(self.py, i).into_any())
    }
    fn float(&self, f: f64) -> std::result::Result<Self::Out, String> {
        Ok(PyFloat::new(self.py, f).into_any())
    }
    fn str(&self, s: &str) -> std::result::Result<Self::Out, String> {
        Ok(PyString::new(self.py, s).into_any())
    }
    fn bytes(&self, b: &[u8]) -> std::result::Result<Self::Out, String> {
        Ok(PyBytes::new(self.py, b).into_any())
    }
    fn seq(&self, kind: u32, items: Vec<Self::Out>) -> std::result::Result<Self::Out, String> {
        let py = self.py;
        match kind {
            tag::TUPLE => PyTuple::new(py, items).map(Bound::into_any),
            tag::LIST => PyList::new(py, items).map(Bound::into_any),
            _ => PyList::new(py, items).and_then(|l| result_iterable(py)?.call1((l,))),
        }
        .map_err(msg)
    }
    fn host(&self, i: u32) -> std::result::Result<Self::Out, String> {
        self.hosts
            .get(i as usize)
            .cloned()
            .ok_or_else(|| format!("host value {i} is missing"))
    }
}

/// Records (any iterable) as one encoded partition (in a worker: a task's output). Objects the
/// engine does not model are cloudpickled together, once.
#[pyfunction]
pub fn encode_partition<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let list = match records.cast_exact::<PyList>() {
        Ok(l) => l.clone(),
        Err(_) => PyList::new(py, records.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
    };
    let hosts = RefCell::new(Vec::new());
    let encoded = postcard::to_allocvec(&PyEncSeq {
        items: Items::List(&list),
        hosts: &hosts,
    })
    .map_err(|e| PyValueError::new_err(format!("cannot encode a partition: {e}")))?;
    let hosts = hosts.into_inner();
    let host_bytes = if hosts.is_empty() {
        Vec::new()
    } else {
        py.import("cloudpickle")?
            .call_method1("dumps", (PyList::new(py, hosts)?, 5))?
            .extract::<Vec<u8>>()?
    };
    let bytes = wire::join_partition(&host_bytes, &encoded).py_err(py)?;
    Ok(PyBytes::new(py, &bytes))
}

/// An encoded partition as a list of records (in a worker: a task's input).
#[pyfunction]
pub fn decode_partition<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
    let (host_bytes, records) = wire::split_partition(data).py_err(py)?;
    let hosts = if host_bytes.is_empty() {
        Vec::new()
    } else {
        let loaded = py
            .import("pickle")?
            .call_method1("loads", (PyBytes::new(py, host_bytes),))?;
        loaded.try_iter()?.collect::<PyResult<Vec<_>>>()?
    };
    let records = wire::decode_records(records, &PyBuilder { py, hosts }).py_err(py)?;
    PyList::new(py, records)
}
