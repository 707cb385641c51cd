//! Python's side of the worker-process executor: the driver's hooks ([`PyWorkerHost`]) and the
//! partition codec the worker processes call (`encode_partition`, `decode_partition`).
//! The pool itself (processes, frames, retries) is the engine's `exec::process`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::engine::error::{EngineError, Result};
use crate::engine::exec::WorkerHost;
use crate::engine::host::HostCodec;
use crate::engine::wire;
use crate::python::conv::{partition_to_py, py_to_partition};
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

/// The function as a worker loads it: cloudpickled, or a `PicklingError` naming it.
pub fn pickle_function(py: Python<'_>, f: &Py<PyAny>) -> Result<Vec<u8>> {
    helper(py, "pickle_function")
        .and_then(|p| p.call1((f.bind(py),)))
        .and_then(|b| b.extract::<Vec<u8>>())
        .map_err(user)
}

/// Records (any iterable) as one encoded partition (in a worker: a task's output).
#[pyfunction]
pub fn encode_partition<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let values = py_to_partition(records).py_err(py)?;
    let bytes = wire::encode_partition(&values, Some(&PyHostCodec)).py_err(py)?;
    Ok(PyBytes::new(py, &bytes))
}

/// An encoded partition as a list of records (in a worker: a task's input).
#[pyfunction]
pub fn decode_partition<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let values = wire::decode_partition(data, Some(&PyHostCodec)).py_err(py)?;
    Ok(partition_to_py(py, &values)?.into_any())
}
