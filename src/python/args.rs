//! Module-level functions of `_native`: the engine's argument checks and path parser
//! (`crate::engine::args`, `crate::engine::paths`), called by the facade so that each check
//! lives in one place, and the native-step counters (`native_stats`).

use pyo3::prelude::*;

use crate::engine::{args, paths};
use crate::python::errors::IntoPyResult;

/// A duration in seconds (None, or any real number) as whole milliseconds, or Spark's
/// `IllegalArgumentException`. An int too large for a float counts as infinite.
#[pyfunction]
#[pyo3(signature = (seconds, name))]
pub fn duration_ms(
    py: Python<'_>,
    seconds: Option<&Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<i64> {
    let seconds = match seconds {
        None => None,
        Some(s) if s.is_none() => None,
        Some(s) => Some(s.extract::<f64>().unwrap_or(f64::INFINITY)),
    };
    args::duration_ms(name, seconds).py_err(py)
}

/// A positive number of partitions, or Spark's `IllegalArgumentException`.
#[pyfunction]
pub fn num_partitions(py: Python<'_>, n: i64) -> PyResult<usize> {
    args::num_partitions(n).py_err(py)
}

/// The local path that a path or `file:` URL names; other schemes raise
/// `IllegalArgumentException` naming the scheme.
#[pyfunction]
pub fn local_path(py: Python<'_>, spec: &str) -> PyResult<String> {
    let path = paths::local_path(spec).py_err(py)?;
    Ok(path.to_string_lossy().into_owned())
}

/// `{"native_partitions": n, "fallback_partitions": m, "blocks_fused": ...,
/// "blocks_to_python": ..., "blocks_to_rows": ..., "keyed_map_sides": ...}`: partitions
/// native steps computed themselves and partitions they handed to their Python fallback;
/// native blocks (partitions of lines or Kafka records read into Arrow buffers) read by fused
/// native steps, turned into a Python step's input directly, and converted to rows; shuffle
/// map sides that handed the pairs they built over as keyed columns; all since the last reset.
#[pyfunction]
pub fn native_stats(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let (native, fallback) = crate::engine::step::native_stats();
    let blocks = crate::engine::block::block_stats();
    let d = pyo3::types::PyDict::new(py);
    d.set_item("native_partitions", native)?;
    d.set_item("fallback_partitions", fallback)?;
    d.set_item("blocks_fused", blocks.fused)?;
    d.set_item("blocks_to_python", blocks.to_host)?;
    d.set_item("blocks_to_rows", blocks.to_rows)?;
    d.set_item("keyed_map_sides", crate::engine::step::keyed_map_sides())?;
    Ok(d)
}

/// Set both counters of [`native_stats`] to zero.
#[pyfunction]
pub fn reset_native_stats() {
    crate::engine::step::reset_native_stats();
}
