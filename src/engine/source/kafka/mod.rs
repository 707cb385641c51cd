//! Apache Kafka: the direct stream (offset ranges decided when a batch is generated, replayed
//! exactly after a restart), the receiver stream (a consumer group whose offsets are committed
//! once the batch holding the records completed) and RDDs over given offset ranges.
//!
//! The client is librdkafka (the `rdkafka` crate, built from source and linked statically).
//! Spark 2.4's Kafka 0.8 settings are accepted and mapped to librdkafka's names
//! ([`params::KafkaParams`]); records become `(key, value)` pairs decoded as UTF-8 natively,
//! or raw bytes for decoders written in the host language ([`RecordFormat`]).

pub mod direct;
pub mod params;
pub mod reader;
pub mod receiver;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::TopicPartitionList;
use serde::{Deserialize, Serialize};

use crate::engine::block::{Data, PairsBuilder};
use crate::engine::error::{EngineError, Result};
use crate::engine::value::Value;

/// The offsets `[from, until)` of one topic partition: what one partition of a batch reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OffsetRange {
    pub topic: String,
    pub partition: i32,
    /// First offset read (inclusive).
    pub from: i64,
    /// Offset after the last one read (exclusive).
    pub until: i64,
}

impl OffsetRange {
    /// How many offsets the range spans.
    pub fn count(&self) -> i64 {
        (self.until - self.from).max(0)
    }
}

impl fmt::Display for OffsetRange {
    /// As Spark's `OffsetRange.toString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OffsetRange(topic: '{}', partition: {}, range: [{} -> {}])",
            self.topic, self.partition, self.from, self.until
        )
    }
}

/// How a Kafka record becomes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordFormat {
    /// `(key, value)`, each decoded as UTF-8 (`utf8_decoder`): a string, or None when absent.
    Utf8Pairs,
    /// `(key, value)` as bytes (or None), for decoders written in the host language.
    BytePairs,
    /// `(topic, partition, offset, key, value)`, key and value as bytes (or None), for a
    /// message handler.
    Messages,
}

impl RecordFormat {
    pub fn parse(name: &str) -> Result<RecordFormat> {
        match name {
            "utf8" => Ok(RecordFormat::Utf8Pairs),
            "bytes" => Ok(RecordFormat::BytePairs),
            "messages" => Ok(RecordFormat::Messages),
            other => Err(EngineError::InvalidArgument(format!(
                "unknown Kafka record format {other:?} (expected utf8, bytes or messages)"
            ))),
        }
    }

    /// The value of one record.
    pub fn decode<M: Message>(self, m: &M) -> Result<Value> {
        let bytes = |b: Option<&[u8]>| b.map_or(Value::None, |b| Value::Bytes(Arc::from(b)));
        match self {
            RecordFormat::Utf8Pairs => {
                let text = |s: Option<&str>| s.map_or(Value::None, Value::str);
                Ok(Value::pair(
                    text(utf8_field(m, m.key(), "key")?),
                    text(utf8_field(m, m.payload(), "value")?),
                ))
            }
            RecordFormat::BytePairs => Ok(Value::pair(bytes(m.key()), bytes(m.payload()))),
            RecordFormat::Messages => Ok(Value::Tuple(Arc::from(vec![
                Value::str(m.topic()),
                Value::Int(i64::from(m.partition())),
                Value::Int(m.offset()),
                bytes(m.key()),
                bytes(m.payload()),
            ]))),
        }
    }

    /// Whether records of this format can be read into a native block ([`Records`]).
    pub fn has_block(self) -> bool {
        matches!(self, RecordFormat::Utf8Pairs | RecordFormat::BytePairs)
    }
}

/// The key (value) of a record as UTF-8 text: None when absent, the `utf8_decoder`'s error
/// (`UnicodeDecodeError`, naming the record) when not UTF-8.
fn utf8_field<'a, M: Message>(m: &M, b: Option<&'a [u8]>, what: &str) -> Result<Option<&'a str>> {
    match b {
        None => Ok(None),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => Ok(Some(s)),
            Err(_) => Err(EngineError::Utf8 {
                context: format!(
                    "the {what} of the record at offset {} of {}-{} is not UTF-8",
                    m.offset(),
                    m.topic(),
                    m.partition()
                ),
                bytes: b.to_vec(),
            }),
        },
    }
}

/// The records of one read, as they are decoded: rows, or a native block (for the formats
/// that have one, when the reader asked for it).
pub enum Records {
    Rows(RecordFormat, Vec<Value>),
    Block(RecordFormat, PairsBuilder),
}

impl Records {
    /// Room for `expected` records (capped: a range may promise more than it holds).
    pub fn new(format: RecordFormat, block: bool, expected: usize) -> Records {
        let n = expected.min(1 << 20);
        match format {
            RecordFormat::Utf8Pairs if block => {
                Records::Block(format, PairsBuilder::strings(n, n * 64))
            }
            RecordFormat::BytePairs if block => {
                Records::Block(format, PairsBuilder::bytes(n, n * 64))
            }
            _ => Records::Rows(format, Vec::with_capacity(n)),
        }
    }

    /// Decode one record into the rows or the block.
    pub fn push<M: Message>(&mut self, m: &M) -> Result<()> {
        match self {
            Records::Rows(format, rows) => rows.push(format.decode(m)?),
            Records::Block(RecordFormat::Utf8Pairs, b) => b.push_str(
                utf8_field(m, m.key(), "key")?,
                utf8_field(m, m.payload(), "value")?,
            ),
            Records::Block(_, b) => b.push_bytes(m.key(), m.payload()),
        }
        Ok(())
    }

    pub fn finish(self) -> Data {
        match self {
            Records::Rows(_, rows) => Data::Rows(rows),
            Records::Block(_, b) => Data::block(b.finish()),
        }
    }
}

/// A Kafka client failure, worded with what was being done.
pub(crate) fn kafka_err(doing: impl fmt::Display, e: rdkafka::error::KafkaError) -> EngineError {
    EngineError::Source(format!("Kafka: {doing}: {e}"))
}

/// The log target of librdkafka's own messages (the Python logger
/// `ferrostream.engine.source.kafka.librdkafka`, under `ferrostream`, so `sc.setLogLevel`
/// applies).
const CLIENT_LOG: &str = "ferrostream::engine::source::kafka::librdkafka";

/// What every Kafka client of the engine runs with: librdkafka's messages go to the log at
/// levels that fit a client that retries by itself (a refused connection is a warning, not an
/// error: the sources wait and reconnect), and its error callback is not logged a second time
/// but kept for the source to report (a receiver reports it as `onReceiverError`).
#[derive(Default)]
pub struct EngineClientContext {
    errors: Option<Arc<parking_lot::Mutex<Vec<String>>>>,
    /// The last asynchronous offset commit failed (logged once per run of failures).
    commit_failing: AtomicBool,
}

impl EngineClientContext {
    /// A context that keeps the client's errors for [`EngineClientContext::take_errors`].
    pub fn keeping_errors() -> EngineClientContext {
        EngineClientContext {
            errors: Some(Arc::default()),
            commit_failing: AtomicBool::new(false),
        }
    }

    /// Whether the last offset commit failed (its outcome known).
    pub fn commit_failing(&self) -> bool {
        self.commit_failing.load(Ordering::SeqCst)
    }

    /// The errors reported by the client since the last call.
    pub fn take_errors(&self) -> Vec<String> {
        self.errors
            .as_ref()
            .map(|e| std::mem::take(&mut *e.lock()))
            .unwrap_or_default()
    }
}

impl ClientContext for EngineClientContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let level = match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => log::Level::Warn,
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => log::Level::Info,
            RDKafkaLogLevel::Debug => log::Level::Debug,
        };
        log::log!(target: CLIENT_LOG, level, "librdkafka {facility}: {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // The same event was logged by `log` above; sources report what it means to them.
        log::debug!(target: CLIENT_LOG, "librdkafka error {error}: {reason}");
        if let Some(errors) = &self.errors {
            let mut errors = errors.lock();
            // Bounded: a source that never looks keeps the most recent ones.
            if errors.len() >= 100 {
                errors.remove(0);
            }
            errors.push(format!("{error}: {reason}"));
        }
    }
}

impl ConsumerContext for EngineClientContext {
    /// The outcome of an asynchronous offset commit (the receiver's): a failure is not a loss
    /// (the records are read again after a restart), but it is never silent.
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        let Err(e) = result else {
            if self.commit_failing.swap(false, Ordering::SeqCst) {
                log::info!("Kafka: offsets are committed again");
            }
            return;
        };
        let positions: Vec<String> = offsets
            .elements()
            .iter()
            .map(|p| format!("{}-{}@{:?}", p.topic(), p.partition(), p.offset()))
            .collect();
        // Once per run of failures (every batch commits again while the brokers are away).
        let level = if self.commit_failing.swap(true, Ordering::SeqCst) {
            log::Level::Debug
        } else {
            log::Level::Warn
        };
        log::log!(
            level,
            "Kafka: committing offsets {} failed: {e}; they are committed again after later \
             batches, and a program restarted before that reads those records again",
            positions.join(", ")
        );
    }
}
