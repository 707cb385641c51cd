//! PyO3 bindings: the `ferrostream._native` module. Only conversions, the GIL choke point and
//! error mapping live here; all behaviour is in `crate::engine`.

mod args;
mod conv;
mod detach;
mod errors;
mod rdd;
mod state;
mod streaming;
mod udf;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<rdd::PyEngineContext>()?;
    m.add_class::<rdd::PyRdd>()?;
    m.add_class::<streaming::PyStreamingEngine>()?;
    m.add_function(wrap_pyfunction!(streaming::read_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(args::duration_ms, m)?)?;
    m.add_function(wrap_pyfunction!(args::num_partitions, m)?)?;
    m.add_function(wrap_pyfunction!(args::local_path, m)?)?;
    m.add_function(wrap_pyfunction!(args::native_stats, m)?)?;
    m.add_function(wrap_pyfunction!(args::reset_native_stats, m)?)?;
    Ok(())
}
