//! Python callables behind the engine's user-code traits. Each attaches to the interpreter for
//! one call per partition (or per batch), never per record.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::engine::block::Block;
use crate::engine::error::{EngineError, Result};
use crate::engine::host::{KeyPartitioner, PartitionFn};
use crate::engine::rdd::Rdd;
use crate::engine::stream::graph::{OutputFn, TransformFn};
use crate::engine::stream::listener::{Info, Listener};
use crate::engine::value::Value;
use crate::python::conv::{
    block_to_py, partition_to_py, py_to_partition, py_to_value, value_to_py,
};
use crate::python::errors::user;
use crate::python::interrupt::UserCall;
use crate::python::rdd::PyRdd;

use crate::engine::host::HOST_PARTITION_CALLS as PARTITION_CALLS;

/// `func(split_index, iterator) -> iterable`.
pub struct PyPartitionFn(pub Py<PyAny>);

impl PyPartitionFn {
    /// `func(split, iter(list))` with the list `make` builds from the partition.
    fn call_with(
        &self,
        split: usize,
        make: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyList>>,
    ) -> Result<Vec<Value>> {
        PARTITION_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Python::attach(|py| {
            let _call = UserCall::start(py)?;
            let list = make(py).map_err(user)?;
            let iter = list.try_iter().map_err(user)?;
            let out = self.0.bind(py).call1((split, iter)).map_err(user)?;
            if out.is_none() {
                return Ok(Vec::new());
            }
            py_to_partition(&out)
        })
    }
}

impl PartitionFn for PyPartitionFn {
    fn call(&self, split: usize, input: Vec<Value>) -> Result<Vec<Value>> {
        self.call_with(split, move |py| partition_to_py(py, &input))
    }

    /// The input list is built straight from the block's buffers (no value per record).
    fn call_block(&self, split: usize, input: Block) -> Result<Vec<Value>> {
        crate::engine::block::count_to_host();
        self.call_with(split, move |py| block_to_py(py, &input))
    }

    fn call_limited(&self, split: usize, input: Vec<Value>, limit: usize) -> Result<Vec<Value>> {
        PARTITION_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Python::attach(|py| {
            let _call = UserCall::start(py)?;
            let list = partition_to_py(py, &input).map_err(user)?;
            drop(input);
            let iter = list.try_iter().map_err(user)?;
            let out = self.0.bind(py).call1((split, iter)).map_err(user)?;
            if out.is_none() || limit == 0 {
                return Ok(Vec::new());
            }
            // Consume the function's output only as far as needed.
            let mut records = Vec::new();
            for item in out.try_iter().map_err(user)? {
                records.push(py_to_value(&item.map_err(user)?)?);
                if records.len() >= limit {
                    break;
                }
            }
            Ok(records)
        })
    }

    fn payload(&self) -> Option<Result<crate::engine::host::Payload>> {
        Some(Python::attach(|py| {
            crate::python::workers::pickle_function(py, &self.0)
        }))
    }
}

/// `partitionFunc(key) -> int`.
pub struct PyKeyPartitioner(pub Py<PyAny>);

impl KeyPartitioner for PyKeyPartitioner {
    fn partition_ids(&self, keys: &[&Value]) -> Result<Vec<i64>> {
        Python::attach(|py| {
            let _call = UserCall::start(py)?;
            let f = self.0.bind(py);
            keys.iter()
                .map(|k| {
                    let key = value_to_py(py, k).map_err(user)?;
                    f.call1((key,))
                        .and_then(|r| r.extract::<i64>())
                        .map_err(user)
                })
                .collect()
        })
    }

    fn identity(&self) -> usize {
        self.0.as_ptr() as usize
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn payload(&self) -> Option<Result<crate::engine::host::Payload>> {
        Some(Python::attach(|py| {
            crate::python::workers::pickle_function(py, &self.0)
        }))
    }
}

/// `func(time_ms, [rdd or None, ...]) -> rdd or None`.
pub struct PyTransformFn(pub Py<PyAny>);

impl TransformFn for PyTransformFn {
    fn call(&self, time_ms: i64, parents: Vec<Option<Arc<Rdd>>>) -> Result<Option<Arc<Rdd>>> {
        Python::attach(|py| {
            let _call = UserCall::start(py)?;
            let items = parents
                .into_iter()
                .map(|p| match p {
                    Some(inner) => Py::new(py, PyRdd { inner }).map(|r| r.into_any()),
                    None => Ok(py.None()),
                })
                .collect::<PyResult<Vec<_>>>()
                .map_err(user)?;
            let args = PyList::new(py, items).map_err(user)?;
            let out = self.0.bind(py).call1((time_ms, args)).map_err(user)?;
            rdd_result(&out)
        })
    }
}

/// `func(time_ms, rdd)`.
pub struct PyOutputFn(pub Py<PyAny>);

impl OutputFn for PyOutputFn {
    fn call(&self, time_ms: i64, rdd: Arc<Rdd>) -> Result<()> {
        Python::attach(|py| {
            let _call = UserCall::start(py)?;
            let rdd = Py::new(py, PyRdd { inner: rdd }).map_err(user)?;
            self.0.bind(py).call1((time_ms, rdd)).map_err(user)?;
            Ok(())
        })
    }
}

/// `callback(event_name, info_dict)`; a failing listener is logged, never fatal.
pub struct PyListener(pub Py<PyAny>);

fn info_to_py<'py>(py: Python<'py>, info: &Info) -> PyResult<Bound<'py, PyAny>> {
    Ok(match info {
        Info::Null => py.None().into_bound(py),
        Info::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Info::Int(i) => i.into_pyobject(py)?.into_any(),
        Info::Str(s) => s.into_pyobject(py)?.into_any(),
        Info::Map(fields) => {
            let d = PyDict::new(py);
            for (k, v) in fields {
                // Numeric keys (stream and output ids) become ints, as in Spark's maps.
                match k.parse::<i64>() {
                    Ok(i) => d.set_item(i, info_to_py(py, v)?)?,
                    Err(_) => d.set_item(k, info_to_py(py, v)?)?,
                }
            }
            d.into_any()
        }
    })
}

impl Listener for PyListener {
    fn on_event(&self, name: &str, info: &Info) {
        Python::attach(|py| {
            let result = info_to_py(py, info).and_then(|d| self.0.bind(py).call1((name, d)));
            if let Err(e) = result {
                log::warn!("StreamingListener failed on {name}: {e}");
                e.print(py);
            }
        });
    }
}

fn rdd_result(out: &Bound<'_, PyAny>) -> Result<Option<Arc<Rdd>>> {
    if out.is_none() {
        return Ok(None);
    }
    let rdd = out.cast::<PyRdd>().map_err(|_| {
        EngineError::Type(format!(
            "a stream function must return an RDD or None, not {}",
            out.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    Ok(Some(rdd.get().inner.clone()))
}
