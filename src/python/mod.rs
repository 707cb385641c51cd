//! PyO3 bindings: the `ferrostream._native` module. Only conversions, the GIL choke point and
//! error mapping live here; all behaviour is in `crate::engine`.

mod conv;
mod detach;
mod errors;
mod rdd;
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
    m.add_function(wrap_pyfunction!(rdd::portable_hash, m)?)?;
    m.add_function(wrap_pyfunction!(rdd::python_partition_calls, m)?)?;
    Ok(())
}
