//! Bindings of the Kinesis source: the input of `KinesisUtils.createStream`, registered
//! through `StreamingEngine.kinesis_stream` (see `streaming.rs`).

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;

use crate::engine::source::kinesis::receiver::KinesisReceiver;
use crate::engine::source::kinesis::{DataFormat, KinesisConfig};
use crate::engine::source::receiver::ReceiverConfig;
use crate::engine::stream::graph::Input;
use crate::python::errors::IntoPyResult;

/// The input of `KinesisUtils.createStream` from its settings (see
/// [`KinesisConfig::from_settings`]).
pub fn receiver_input(
    py: Python<'_>,
    settings: &[(String, String)],
    format: &str,
    restart_delay_ms: u64,
    max_rate: Option<u64>,
) -> PyResult<Arc<dyn Input>> {
    let format = DataFormat::parse(format).py_err(py)?;
    let config = KinesisConfig::from_settings(settings, format).py_err(py)?;
    let receiver = ReceiverConfig {
        restart_delay: Duration::from_millis(restart_delay_ms),
        max_rate,
        ..ReceiverConfig::default()
    };
    Ok(Arc::new(KinesisReceiver::input(config, receiver)))
}
