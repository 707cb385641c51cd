//! `ferrostream._native.Rdd` and `EngineContext`.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::engine::context::EngineContext;
use crate::engine::expr::Expr;
use crate::engine::rdd::{Partitioner, Rdd};
use crate::engine::step::{NativeKind, Step};
use crate::python::conv::{partition_to_py, py_to_partition, py_to_value};
use crate::python::detach::run_detached;
use crate::python::errors::IntoPyResult;
use crate::python::udf::{PyKeyPartitioner, PyPartitionFn};

#[pyclass(frozen, name = "EngineContext", module = "ferrostream._native")]
pub struct PyEngineContext {
    pub inner: Arc<EngineContext>,
}

#[pymethods]
impl PyEngineContext {
    #[new]
    fn new(py: Python<'_>, parallelism: usize) -> PyResult<Self> {
        let inner = EngineContext::new(parallelism).py_err(py)?;
        Ok(PyEngineContext { inner })
    }

    #[getter]
    fn parallelism(&self) -> usize {
        self.inner.parallelism()
    }

    fn stop(&self) {
        self.inner.stop();
    }

    /// Raise Spark's IllegalStateException when the context is stopped.
    fn check_alive(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.check_alive().py_err(py)
    }
}

#[pyclass(frozen, name = "Rdd", module = "ferrostream._native")]
pub struct PyRdd {
    pub inner: Arc<Rdd>,
}

fn wrap(inner: Arc<Rdd>) -> PyRdd {
    PyRdd { inner }
}

fn callable(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Py<PyAny>> {
    if !obj.is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{what} must be callable, not {}",
            obj.get_type().name()?
        )));
    }
    Ok(obj.clone().unbind())
}

#[pymethods]
impl PyRdd {
    #[staticmethod]
    fn from_partitions(
        py: Python<'_>,
        ctx: &PyEngineContext,
        partitions: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let mut parts = Vec::new();
        for p in partitions.try_iter()? {
            parts.push(py_to_partition(&p?).py_err(py)?);
        }
        Ok(wrap(Rdd::from_partitions(&ctx.inner, parts)))
    }

    #[staticmethod]
    fn text_file(
        py: Python<'_>,
        ctx: &PyEngineContext,
        paths: Vec<String>,
        min_partitions: usize,
    ) -> PyResult<Self> {
        let inner = ctx.inner.clone();
        run_detached(py, move || Rdd::text_file(&inner, &paths, min_partitions)).map(wrap)
    }

    #[staticmethod]
    fn union(ctx: &PyEngineContext, rdds: Vec<Py<PyRdd>>) -> Self {
        let parts: Vec<Arc<Rdd>> = rdds.iter().map(|r| r.get().inner.clone()).collect();
        wrap(Rdd::union(&ctx.inner, &parts))
    }

    #[getter]
    fn id(&self) -> u64 {
        self.inner.id()
    }

    fn num_partitions(&self) -> usize {
        self.inner.num_partitions()
    }

    fn map_partitions(&self, func: &Bound<'_, PyAny>) -> PyResult<Self> {
        let f = callable(func, "func")?;
        Ok(wrap(self.inner.map_partitions(Arc::new(PyPartitionFn(f)))))
    }

    fn native_step(
        &self,
        py: Python<'_>,
        kind: &str,
        expr: &Bound<'_, PyAny>,
        fallback: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let kind = NativeKind::parse(kind)
            .ok_or_else(|| PyValueError::new_err(format!("unknown native step kind {kind:?}")))?;
        let encoded = py_to_value(expr).py_err(py)?;
        let expr = Expr::from_value(&encoded).py_err(py)?;
        if expr.arity() > kind.arity() {
            return Err(PyValueError::new_err(format!(
                "expression takes {} arguments, the step gives {}",
                expr.arity(),
                kind.arity()
            )));
        }
        let fallback = Arc::new(PyPartitionFn(callable(fallback, "fallback")?));
        Ok(wrap(self.inner.with_step(Step::Native {
            kind,
            expr: Arc::new(expr),
            fallback,
        })))
    }

    fn group_by_key_local(&self) -> Self {
        wrap(self.inner.with_step(Step::GroupLocal))
    }

    #[pyo3(signature = (num_partitions, partition_func=None))]
    fn partition_by(
        &self,
        py: Python<'_>,
        num_partitions: usize,
        partition_func: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let partitioner = match partition_func {
            None => Partitioner::PortableHash,
            Some(f) if f.is_none() => Partitioner::PortableHash,
            Some(f) => Partitioner::Host(Arc::new(PyKeyPartitioner(callable(f, "partitionFunc")?))),
        };
        self.inner
            .shuffle(num_partitions, partitioner)
            .py_err(py)
            .map(wrap)
    }

    fn coalesce(&self, py: Python<'_>, num_partitions: usize) -> PyResult<Self> {
        self.inner.coalesce(num_partitions).py_err(py).map(wrap)
    }

    fn rebalance(&self, py: Python<'_>, num_partitions: usize) -> PyResult<Self> {
        self.inner
            .shuffle(num_partitions, Partitioner::RoundRobin)
            .py_err(py)
            .map(wrap)
    }

    fn persist(&self) {
        self.inner.persist();
    }

    fn unpersist(&self) {
        self.inner.unpersist();
    }

    #[getter]
    fn is_cached(&self) -> bool {
        self.inner.is_cached()
    }

    fn collect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rdd = self.inner.clone();
        let records = run_detached(py, move || rdd.collect())?;
        partition_to_py(py, &records)
    }

    fn collect_partitions<'py>(
        &self,
        py: Python<'py>,
        indices: Vec<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let rdd = self.inner.clone();
        let parts = run_detached(py, move || rdd.compute_partitions(&indices))?;
        let lists = parts
            .iter()
            .map(|p| partition_to_py(py, p))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, lists)
    }

    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        let rdd = self.inner.clone();
        run_detached(py, move || rdd.count())
    }

    fn save_as_text_file(&self, py: Python<'_>, path: String) -> PyResult<()> {
        let rdd = self.inner.clone();
        run_detached(py, move || rdd.save_as_text_file(&path))
    }

    fn __repr__(&self) -> String {
        format!(
            "Rdd(id={}, partitions={})",
            self.inner.id(),
            self.inner.num_partitions()
        )
    }
}
