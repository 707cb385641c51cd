//! `ferrostream._native.Rdd` and `EngineContext`.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::engine::context::EngineContext;
use crate::engine::exec::{PoolConfig, ProcessExecutor, WorkerCommand};
use crate::engine::expr::Expr;
use crate::engine::host::PartitionFn;
use crate::engine::ops::actions;
use crate::engine::ops::keyed::KeyOp;
use crate::engine::ops::sample::{Fractions, SampleMode};
use crate::engine::rdd::{Partitioner, Partitioning, Rdd};
use crate::engine::shuffle::MemoryShuffle;
use crate::engine::step::{NativeKind, Step};
use crate::engine::value::Value;
use crate::python::conv::{
    partition_to_py, py_portable_hash, py_to_data, py_to_partition, py_to_value, value_to_py,
    PyHostRuntime,
};
use crate::python::detach::run_detached;
use crate::python::errors::IntoPyResult;
use crate::python::udf::{PyKeyPartitioner, PyPartitionFn};
use crate::python::workers::PyWorkerHost;

#[pyclass(frozen, name = "EngineContext", module = "ferrostream._native")]
pub struct PyEngineContext {
    pub inner: Arc<EngineContext>,
}

/// `(program, args, env)`: how a Python worker process is started.
type WorkerSpec = (String, Vec<String>, Vec<(String, String)>);

#[pymethods]
impl PyEngineContext {
    /// `workers`: `(program, args, env)` starting a Python worker process; given, the
    /// context's Python functions run on `parallelism` worker processes (a task whose worker
    /// dies runs up to `attempts` times), otherwise in this interpreter.
    #[new]
    #[pyo3(signature = (parallelism, workers=None, attempts=4, start_timeout_s=60.0))]
    fn new(
        py: Python<'_>,
        parallelism: usize,
        workers: Option<WorkerSpec>,
        attempts: usize,
        start_timeout_s: f64,
    ) -> PyResult<Self> {
        let inner = match workers {
            None => EngineContext::new(parallelism).py_err(py)?,
            Some((program, args, env)) => {
                if parallelism == 0 {
                    return EngineContext::new(0)
                        .py_err(py)
                        .map(|inner| PyEngineContext { inner });
                }
                let config = PoolConfig {
                    workers: parallelism,
                    attempts,
                    command: WorkerCommand {
                        program: program.into(),
                        args,
                        env,
                    },
                    start_timeout: std::time::Duration::from_secs_f64(start_timeout_s.max(0.1)),
                };
                let exec = ProcessExecutor::new(config, Arc::new(PyWorkerHost)).py_err(py)?;
                EngineContext::with_services(Arc::new(exec), Arc::new(MemoryShuffle))
            }
        };
        inner.set_host_runtime(Arc::new(PyHostRuntime));
        Ok(PyEngineContext { inner })
    }

    /// Process ids of the live Python worker processes (empty when functions run in-process).
    #[getter]
    fn worker_pids(&self) -> Vec<u32> {
        self.inner.executor().worker_pids()
    }

    #[getter]
    fn parallelism(&self) -> usize {
        self.inner.parallelism()
    }

    /// Calls into Python for batches of host keys (hash, equality, order) so far.
    #[getter]
    fn host_key_calls(&self) -> u64 {
        self.inner
            .metrics()
            .host_key_calls
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Shuffles materialised so far.
    #[getter]
    fn shuffle_count(&self) -> u64 {
        self.inner
            .metrics()
            .shuffles
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn stop(&self) {
        self.inner.stop();
    }

    /// Start the web UI as the SparkConf's `settings` say; its address, or None when
    /// `spark.ui.enabled` is false. OSError when no port could be bound.
    fn start_ui(
        &self,
        py: Python<'_>,
        settings: Vec<(String, String)>,
    ) -> PyResult<Option<String>> {
        py.detach(|| self.inner.start_ui(&settings)).py_err(py)
    }

    /// The web UI's address, while it runs.
    #[getter]
    fn ui_url(&self) -> Option<String> {
        self.inner.ui().map(|ui| ui.url().to_string())
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

pub(crate) fn wrap(inner: Arc<Rdd>) -> PyRdd {
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

impl PyRdd {
    /// A Python partition function placed on this RDD's executor (a worker process or here).
    fn host_fn(&self, f: Py<PyAny>) -> Arc<dyn PartitionFn> {
        let f: Arc<dyn PartitionFn> = Arc::new(PyPartitionFn(f));
        self.inner.context().executor().place_host_fn(f)
    }

    /// A native step of `kind` from an encoded expression, with its host fallback.
    fn native(
        &self,
        py: Python<'_>,
        kind: NativeKind,
        expr: &Bound<'_, PyAny>,
        fallback: &Bound<'_, PyAny>,
    ) -> PyResult<Step> {
        let encoded = py_to_value(expr).py_err(py)?;
        let expr = Expr::from_value(&encoded).py_err(py)?;
        if expr.arity() > kind.arity() {
            return Err(PyValueError::new_err(format!(
                "expression takes {} arguments, the step gives {}",
                expr.arity(),
                kind.arity()
            )));
        }
        Ok(Step::Native {
            kind,
            expr: Arc::new(expr),
            fallback: self.host_fn(callable(fallback, "fallback")?),
        })
    }
}

#[pymethods]
impl PyRdd {
    /// Input `index` of a plan template (see `StreamingEngine.template`).
    #[staticmethod]
    fn slot(ctx: &PyEngineContext, index: usize) -> Self {
        wrap(Rdd::slot(&ctx.inner, index))
    }

    #[staticmethod]
    fn from_partitions(
        py: Python<'_>,
        ctx: &PyEngineContext,
        partitions: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let mut parts = Vec::new();
        for p in partitions.try_iter()? {
            parts.push(py_to_data(&p?).py_err(py)?);
        }
        Ok(wrap(Rdd::from_data(&ctx.inner, parts)))
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
    #[pyo3(signature = (ctx, rdds, keep_partitioning=false))]
    fn union(ctx: &PyEngineContext, rdds: Vec<Py<PyRdd>>, keep_partitioning: bool) -> Self {
        let parts: Vec<Arc<Rdd>> = rdds.iter().map(|r| r.get().inner.clone()).collect();
        if keep_partitioning {
            wrap(Rdd::union_partitioned(&ctx.inner, &parts))
        } else {
            wrap(Rdd::union(&ctx.inner, &parts))
        }
    }

    fn sort_within_partitions(&self, ascending: bool) -> Self {
        wrap(self.inner.sort_within_partitions(ascending))
    }

    #[getter]
    fn id(&self) -> u64 {
        self.inner.id()
    }

    fn num_partitions(&self) -> usize {
        self.inner.num_partitions()
    }

    #[pyo3(signature = (func, preserves_partitioning=false))]
    fn map_partitions(
        &self,
        func: &Bound<'_, PyAny>,
        preserves_partitioning: bool,
    ) -> PyResult<Self> {
        let f = callable(func, "func")?;
        let f = self.host_fn(f);
        Ok(wrap(
            self.inner
                .with_step_keeping(Step::Host(f), preserves_partitioning),
        ))
    }

    /// `(kind, num_partitions, func)`: kind is "hash" (func None), "func" (the user's
    /// partition function) or "range"; None when the partitioning is not known.
    #[getter]
    fn partitioner<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(p) = self.inner.partitioning() else {
            return Ok(None);
        };
        let (kind, func) = match p {
            Partitioning::Hash(_) => ("hash", py.None()),
            Partitioning::Func(_, f) => (
                "func",
                f.as_any()
                    .downcast_ref::<PyKeyPartitioner>()
                    .map(|k| k.0.clone_ref(py))
                    .unwrap_or_else(|| py.None()),
            ),
            Partitioning::Unique(..) => ("range", py.None()),
        };
        Ok(Some(PyTuple::new(
            py,
            [
                kind.into_pyobject(py)?.into_any().unbind(),
                p.num_partitions().into_pyobject(py)?.into_any().unbind(),
                func,
            ],
        )?))
    }

    /// A keyed operation with `others` (see the stub for the operations). The inputs are
    /// shuffled into the target partitioning unless they already have it: ``Hash(n)`` (or
    /// ``partition_func``'s) for an explicit ``num_partitions``, else the partitioning of an
    /// input that has one, else ``Hash(default_partitions)``.
    #[pyo3(signature = (op, others, num_partitions, default_partitions, partition_func=None))]
    fn key_op(
        &self,
        py: Python<'_>,
        op: &str,
        others: Vec<Py<PyRdd>>,
        num_partitions: Option<usize>,
        default_partitions: usize,
        partition_func: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let op = match op {
            "group_by_key" => KeyOp::GroupByKey,
            "cogroup" => KeyOp::CoGroup,
            "join" => KeyOp::Join {
                left_outer: false,
                right_outer: false,
            },
            "left_outer_join" => KeyOp::Join {
                left_outer: true,
                right_outer: false,
            },
            "right_outer_join" => KeyOp::Join {
                left_outer: false,
                right_outer: true,
            },
            "full_outer_join" => KeyOp::Join {
                left_outer: true,
                right_outer: true,
            },
            "subtract_by_key" => KeyOp::SubtractByKey,
            "distinct" => KeyOp::Distinct,
            "intersection" => KeyOp::Intersection,
            "subtract" => KeyOp::Subtract,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown keyed operation {other:?}"
                )))
            }
        };
        if num_partitions.unwrap_or(default_partitions) == 0 {
            return Err(PyValueError::new_err("numPartitions must be positive"));
        }
        let mut inputs = vec![self.inner.clone()];
        inputs.extend(others.iter().map(|r| r.get().inner.clone()));
        let target = match partition_func {
            Some(f) if !f.is_none() => Partitioning::Func(
                num_partitions.unwrap_or(default_partitions),
                Arc::new(PyKeyPartitioner(callable(f, "partitionFunc")?)),
            ),
            _ => Rdd::default_partitioning(&inputs, num_partitions, default_partitions),
        };
        Rdd::keyed(&inputs, op, &target).py_err(py).map(wrap)
    }

    #[pyo3(signature = (kind, expr, fallback, preserves_partitioning=None))]
    fn native_step(
        &self,
        py: Python<'_>,
        kind: &str,
        expr: &Bound<'_, PyAny>,
        fallback: &Bound<'_, PyAny>,
        preserves_partitioning: Option<bool>,
    ) -> PyResult<Self> {
        let kind = NativeKind::parse(kind)
            .ok_or_else(|| PyValueError::new_err(format!("unknown native step kind {kind:?}")))?;
        let step = self.native(py, kind, expr, fallback)?;
        Ok(wrap(match preserves_partitioning {
            Some(keep) => self.inner.with_step_keeping(step, keep),
            None => self.inner.with_step(step),
        }))
    }

    /// `reduceByKey` with a native reducer: combined per partition, shuffled by key hash into
    /// `num_partitions` and combined again (see `Rdd::reduce_by_key`).
    fn reduce_by_key(
        &self,
        py: Python<'_>,
        expr: &Bound<'_, PyAny>,
        fallback: &Bound<'_, PyAny>,
        num_partitions: usize,
    ) -> PyResult<Self> {
        let step = self.native(py, NativeKind::Combine, expr, fallback)?;
        self.inner
            .reduce_by_key(step, num_partitions)
            .py_err(py)
            .map(wrap)
    }

    /// `glom`: each partition as one list.
    fn glom(&self) -> Self {
        wrap(self.inner.with_step(Step::Glom))
    }

    /// Each partition's number of records, as its only record.
    fn partition_sizes(&self) -> Self {
        wrap(self.inner.with_step(Step::Count))
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

    /// The first `n` records (Spark's partition scan), computing and converting only those.
    fn take<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyList>> {
        let rdd = self.inner.clone();
        let records = run_detached(py, move || rdd.take(n))?;
        partition_to_py(py, &records)
    }

    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        let rdd = self.inner.clone();
        run_detached(py, move || rdd.count())
    }

    fn save_as_text_file(&self, py: Python<'_>, path: String) -> PyResult<()> {
        let rdd = self.inner.clone();
        run_detached(py, move || rdd.save_as_text_file(&path))
    }

    fn zip_with_index(&self, py: Python<'_>) -> PyResult<Self> {
        let rdd = self.inner.clone();
        run_detached(py, move || rdd.zip_with_index()).map(wrap)
    }

    fn zip_with_unique_id(&self) -> Self {
        wrap(self.inner.zip_with_unique_id())
    }

    fn zip(&self, py: Python<'_>, other: &PyRdd) -> PyResult<Self> {
        self.inner.zip(&other.inner).py_err(py).map(wrap)
    }

    /// `sample`: `fraction` per record (or a Poisson(`fraction`) number of copies with
    /// replacement), seeded.
    fn sample(&self, with_replacement: bool, fraction: f64, seed: u64) -> Self {
        let mode = if with_replacement {
            SampleMode::Poisson(fraction)
        } else {
            SampleMode::Bernoulli(fraction)
        };
        wrap(self.inner.sample(mode, seed))
    }

    /// `sampleByKey`: `(k, v)` records kept with `fractions[k]` each; None when a key of
    /// `fractions` holds a Python object (the facade samples in Python then).
    fn sample_by_key(
        &self,
        py: Python<'_>,
        with_replacement: bool,
        fractions: Vec<(Bound<'_, PyAny>, f64)>,
        seed: u64,
    ) -> PyResult<Self> {
        let items = fractions
            .into_iter()
            .map(|(k, f)| Ok((py_to_value(&k)?, f)))
            .collect::<crate::engine::error::Result<Vec<_>>>()
            .py_err(py)?;
        let mode = SampleMode::ByKey {
            fractions: Arc::new(Fractions::new(items).py_err(py)?),
            with_replacement,
        };
        Ok(wrap(self.inner.sample(mode, seed)))
    }

    /// The records whose seeded draw is in `[lb, ub)` (`randomSplit`).
    fn sample_range(&self, lb: f64, ub: f64, seed: u64) -> Self {
        wrap(self.inner.sample(SampleMode::Range(lb, ub), seed))
    }

    fn cartesian(&self, other: &PyRdd) -> Self {
        wrap(self.inner.cartesian(&other.inner))
    }

    #[pyo3(signature = (ascending, num_partitions, values_only=false))]
    fn sort_by_key(
        &self,
        py: Python<'_>,
        ascending: bool,
        num_partitions: usize,
        values_only: bool,
    ) -> PyResult<Self> {
        let rdd = self.inner.clone();
        run_detached(py, move || {
            if values_only {
                rdd.sort_values_by_key(ascending, num_partitions)
            } else {
                rdd.sort_by_key(ascending, num_partitions)
            }
        })
        .map(wrap)
    }

    fn count_by_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rdd = self.inner.clone();
        let counts = run_detached(py, move || actions::count_by_value(&rdd))?;
        let out = py
            .import("collections")?
            .getattr("defaultdict")?
            .call1((py.get_type::<pyo3::types::PyInt>(),))?;
        let dict = out.cast::<pyo3::types::PyDict>()?;
        for (k, c) in &counts {
            dict.set_item(value_to_py(py, k)?, c)?;
        }
        Ok(out)
    }

    /// `max` (or `min`) natively: `(value,)`, `()` when empty, None for Python values.
    fn extreme<'py>(
        &self,
        py: Python<'py>,
        largest: bool,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let rdd = self.inner.clone();
        match run_detached(py, move || actions::extreme(&rdd, largest))? {
            None => Ok(None),
            Some(None) => Ok(Some(PyTuple::empty(py))),
            Some(Some(v)) => Ok(Some(PyTuple::new(py, [value_to_py(py, &v)?])?)),
        }
    }

    /// `takeOrdered(num)` / `top(num)` natively; None for Python values.
    fn ordered<'py>(
        &self,
        py: Python<'py>,
        num: usize,
        largest: bool,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let rdd = self.inner.clone();
        match run_detached(py, move || actions::ordered(&rdd, num, largest))? {
            None => Ok(None),
            Some(vs) => partition_to_py(py, &vs).map(Some),
        }
    }

    /// `sum()` natively: `(value,)`, or None when Python must add.
    fn sum<'py>(
        &self,
        py: Python<'py>,
        compensated: bool,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let rdd = self.inner.clone();
        match run_detached(py, move || actions::sum(&rdd, compensated))? {
            None => Ok(None),
            Some(v) => Ok(Some(PyTuple::new(py, [value_to_py(py, &v)?])?)),
        }
    }

    /// Per-partition `(n, mu, m2, max, min)` for numbers, or None.
    /// `histogram(n)`'s range of the values: `("bounds", lo, hi)` or `("empty",)` (only None
    /// and NaN).
    fn histogram_range<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        use crate::engine::ops::histogram::{range, Range};
        let rdd = self.inner.clone();
        let items = match run_detached(py, move || range(&rdd))? {
            Range::Empty => vec!["empty".into_pyobject(py)?.into_any()],
            Range::Bounds(lo, hi) => vec![
                "bounds".into_pyobject(py)?.into_any(),
                value_to_py(py, &lo)?,
                value_to_py(py, &hi)?,
            ],
        };
        PyTuple::new(py, items)
    }

    /// The bucket counts of `histogram` for sorted `edges`.
    fn histogram_counts(&self, py: Python<'_>, edges: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
        let edges = py_to_partition(edges).py_err(py)?;
        let rdd = self.inner.clone();
        run_detached(py, move || {
            crate::engine::ops::histogram::counts(&rdd, &edges)
        })
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let rdd = self.inner.clone();
        let Some(parts) = run_detached(py, move || actions::stats(&rdd))? else {
            return Ok(None);
        };
        let items = parts
            .iter()
            .map(|(n, mu, m2, max, min)| {
                let opt = |v: &Option<Value>| match v {
                    Some(v) => value_to_py(py, v),
                    None => Ok(py.None().into_bound(py)),
                };
                PyTuple::new(
                    py,
                    [
                        n.into_pyobject(py)?.into_any(),
                        mu.into_pyobject(py)?.into_any(),
                        m2.into_pyobject(py)?.into_any(),
                        opt(max)?,
                        opt(min)?,
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items).map(Some)
    }

    /// `reduce(f, partition[, zero])` of each partition for a provable two-argument `f`
    /// (the `_analyze` encoding): the results of the non-empty folds, or None when a
    /// partition needs Python.
    #[pyo3(signature = (expr, zero=None))]
    fn reduce_partitions<'py>(
        &self,
        py: Python<'py>,
        expr: &Bound<'_, PyAny>,
        zero: Option<&Bound<'_, PyTuple>>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let encoded = py_to_value(expr).py_err(py)?;
        let expr = Expr::from_value(&encoded).py_err(py)?;
        if expr.arity() > 2 {
            return Err(PyValueError::new_err(
                "expression takes more than 2 arguments",
            ));
        }
        let zero = match zero {
            Some(t) if !t.is_empty() => Some(py_to_value(&t.get_item(0)?).py_err(py)?),
            _ => None,
        };
        let rdd = self.inner.clone();
        let Some(parts) = run_detached(py, move || {
            actions::reduce_partitions(&rdd, &expr, zero.as_ref())
        })?
        else {
            return Ok(None);
        };
        let values: Vec<Value> = parts.into_iter().flatten().collect();
        partition_to_py(py, &values).map(Some)
    }

    fn __repr__(&self) -> String {
        format!(
            "Rdd(id={}, partitions={})",
            self.inner.id(),
            self.inner.num_partitions()
        )
    }
}

/// A hash of ``x`` that does not depend on the interpreter's hash seed: PySpark's
/// ``portable_hash`` (the engine's implementation, the only one).
///
/// None is 0, tuples are hashed element by element, ``str`` and ``bytes`` as CPython hashes
/// them under ``PYTHONHASHSEED=0`` (the seed PySpark's workers use), anything else is
/// ``hash(x)``: keys land in the same partitions as in Spark.
///
/// Examples
/// --------
/// >>> portable_hash(None)
/// 0
/// >>> portable_hash((None, 1)) & 0xffffffff
/// 219750521
#[pyfunction]
pub fn portable_hash(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<i64> {
    let value = py_to_value(x).and_then(|v| match v {
        Value::Host(_) => py_portable_hash(x),
        native => native.portable_hash(),
    });
    value.map_err(|e| {
        // Python's own error (`hash(x)` raised) as it is, not wrapped as a job failure.
        match e
            .user_error()
            .and_then(|u| u.0.downcast_ref::<crate::python::errors::PyUserError>())
        {
            Some(p) => p.0.clone_ref(py),
            None if matches!(e, crate::engine::error::EngineError::Unhashable(_)) => {
                pyo3::exceptions::PyTypeError::new_err(e.to_string())
            }
            None => crate::python::errors::to_pyerr(py, e),
        }
    })
}

/// How many times a Python partition function (a fused chain of Python steps, a fallback)
/// has been called in this process.
#[pyfunction]
pub fn python_partition_calls() -> u64 {
    crate::engine::host::HOST_PARTITION_CALLS.load(std::sync::atomic::Ordering::Relaxed)
}
