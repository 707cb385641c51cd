//! Bindings of the Kafka sources: `KafkaUtils.createRDD`'s RDD and the conversion of offset
//! ranges. The streams are registered through `StreamingEngine` (see `streaming.rs`).

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;

use crate::engine::source::kafka::direct::{offset_range_rdd, DirectConfig, DirectKafkaInput};
use crate::engine::source::kafka::params::KafkaParams;
use crate::engine::source::kafka::receiver::KafkaReceiver;
use crate::engine::source::kafka::{OffsetRange, RecordFormat};
use crate::engine::source::receiver::ReceiverConfig;
use crate::engine::source::Position;
use crate::engine::stream::graph::Input;
use crate::python::detach::run_detached;
use crate::python::errors::IntoPyResult;
use crate::python::rdd::{wrap, PyEngineContext, PyRdd};

/// `(topic, partition, fromOffset, untilOffset)` as Python sees an offset range.
pub type RangeTuple = (String, i32, i64, i64);

fn to_ranges(ranges: Vec<RangeTuple>) -> Vec<OffsetRange> {
    ranges
        .into_iter()
        .map(|(topic, partition, from, until)| OffsetRange {
            topic,
            partition,
            from,
            until,
        })
        .collect()
}

/// The offset ranges of a position, if it is a Kafka batch's.
pub fn position_ranges(position: &Position) -> Option<Vec<RangeTuple>> {
    match position {
        Position::KafkaRanges(ranges) => Some(
            ranges
                .iter()
                .map(|r| (r.topic.clone(), r.partition, r.from, r.until))
                .collect(),
        ),
        _ => None,
    }
}

/// The input of `KafkaUtils.createDirectStream`.
pub fn direct_input(
    py: Python<'_>,
    params: &[(String, String)],
    topics: Vec<String>,
    from_offsets: Vec<(String, i32, i64)>,
    format: &str,
    max_rate_per_partition: Option<u64>,
    poll_timeout_ms: u64,
) -> PyResult<Arc<dyn Input>> {
    let params = KafkaParams::from_spark(params).py_err(py)?;
    let config = DirectConfig {
        topics,
        from_offsets,
        format: RecordFormat::parse(format).py_err(py)?,
        max_rate_per_partition,
        poll_timeout: Duration::from_millis(poll_timeout_ms),
    };
    Ok(Arc::new(DirectKafkaInput::new(params, config).py_err(py)?))
}

/// The input of `KafkaUtils.createStream`.
pub fn receiver_input(
    py: Python<'_>,
    params: &[(String, String)],
    group: &str,
    topics: Vec<String>,
    format: &str,
    restart_delay_ms: u64,
    max_rate: Option<u64>,
) -> PyResult<Arc<dyn Input>> {
    let params = KafkaParams::from_spark(params).py_err(py)?;
    let config = ReceiverConfig {
        restart_delay: Duration::from_millis(restart_delay_ms),
        max_rate,
        ..ReceiverConfig::default()
    };
    let format = RecordFormat::parse(format).py_err(py)?;
    Ok(Arc::new(
        KafkaReceiver::input(params, group, topics, format, config).py_err(py)?,
    ))
}

/// The kafkaParams whose values are credentials (never logged, never checkpointed).
#[pyfunction]
pub fn kafka_secret_keys() -> Vec<&'static str> {
    crate::engine::source::kafka::params::SECRET_KEYS.to_vec()
}

/// `KafkaUtils.createRDD`: the records of exactly `ranges`, after checking the brokers hold
/// them.
#[pyfunction]
pub fn kafka_rdd(
    py: Python<'_>,
    ctx: &PyEngineContext,
    params: Vec<(String, String)>,
    ranges: Vec<RangeTuple>,
    format: &str,
    poll_timeout_ms: u64,
) -> PyResult<PyRdd> {
    let params = KafkaParams::from_spark(&params).py_err(py)?;
    let format = RecordFormat::parse(format).py_err(py)?;
    let ctx = ctx.inner.clone();
    let ranges = to_ranges(ranges);
    let rdd = run_detached(py, move || {
        offset_range_rdd(
            &ctx,
            params,
            ranges,
            format,
            Duration::from_millis(poll_timeout_ms),
        )
    })?;
    Ok(wrap(rdd))
}
