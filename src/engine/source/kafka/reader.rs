//! Reading offset ranges: one RDD partition per range, read when the partition is computed,
//! by consumers taken from a pool (librdkafka clients are expensive to create: threads, broker
//! connections), assigned to the range's partition at its first offset.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::params::{config_error, KafkaParams};
use super::{kafka_err, EngineClientContext, OffsetRange, RecordFormat, Records};

/// A consumer of the engine's sources.
pub type EngineConsumer = BaseConsumer<EngineClientContext>;
use crate::engine::block::Data;
use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::{Partition, PartitionSource};

/// How long one request for metadata or watermarks may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Consumers of one source, reused across batches: idle ones for metadata and watermarks,
/// and one reader per topic partition that stays assigned where the last range ended, so the
/// next batch's range (which starts there) needs no new assignment and librdkafka fetches
/// its records ahead while the current batch is processed.
pub struct ConsumerPool {
    params: KafkaParams,
    idle: Mutex<Vec<EngineConsumer>>,
    readers: Mutex<HashMap<(String, i32), Reader>>,
    closed: std::sync::atomic::AtomicBool,
}

/// A consumer assigned to one topic partition, positioned at `next`.
struct Reader {
    consumer: EngineConsumer,
    next: i64,
}

impl ConsumerPool {
    pub fn new(params: KafkaParams) -> ConsumerPool {
        ConsumerPool {
            params,
            idle: Mutex::new(Vec::new()),
            readers: Mutex::new(HashMap::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn params(&self) -> &KafkaParams {
        &self.params
    }

    /// A consumer for assigned reads (no group, no commits).
    pub fn take(&self) -> Result<EngineConsumer> {
        if let Some(c) = self.idle.lock().pop() {
            return Ok(c);
        }
        self.create()
    }

    /// Stop reusing consumers: the idle ones are closed now, those reading when they are
    /// put back (later reads create their own).
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let idle = std::mem::take(&mut *self.idle.lock());
        drop(idle);
        let readers = std::mem::take(&mut *self.readers.lock());
        drop(readers);
    }

    /// Have a reader of `topic`-`partition` assigned at `from` before the first batch asks for
    /// it: its connection and first fetch then overlap the wait for the batch instead of
    /// delaying it. A reader already there is left alone; errors are left to the read.
    pub fn prepare(&self, topic: &str, partition: i32, from: i64) {
        let key = (topic.to_string(), partition);
        if self.closed.load(std::sync::atomic::Ordering::SeqCst)
            || self.readers.lock().contains_key(&key)
        {
            return;
        }
        let Ok(consumer) = self.create() else {
            return;
        };
        let mut assignment = TopicPartitionList::new();
        if assignment
            .add_partition_offset(topic, partition, Offset::Offset(from))
            .is_err()
            || consumer.assign(&assignment).is_err()
        {
            return;
        }
        let mut readers = self.readers.lock();
        if !self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            readers.entry(key).or_insert(Reader {
                consumer,
                next: from,
            });
        }
    }

    /// Read `range` with the partition's reader (created, or moved to `range.from`, when it
    /// is not positioned there).
    fn read(
        &self,
        range: &OffsetRange,
        format: RecordFormat,
        poll_timeout: Duration,
        block: bool,
    ) -> Result<Data> {
        let key = (range.topic.clone(), range.partition);
        let taken = self.readers.lock().remove(&key);
        let mut reader = match taken {
            Some(r) => r,
            None => Reader {
                consumer: self.create()?,
                next: -1,
            },
        };
        if reader.next != range.from {
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&range.topic, range.partition, Offset::Offset(range.from))
                .map_err(|e| kafka_err(format!("assigning {range}"), e))?;
            reader
                .consumer
                .assign(&assignment)
                .map_err(|e| kafka_err(format!("assigning {range}"), e))?;
        }
        let records = Records::new(format, block, usize::try_from(range.count()).unwrap_or(0));
        let (out, next) = read_range(&reader.consumer, range, records, poll_timeout)?;
        // Only a healthy reader goes back (a failed one may hold a broken session).
        if !self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            reader.next = next;
            self.readers.lock().insert(key, reader);
        }
        Ok(out)
    }

    pub fn put(&self, consumer: EngineConsumer) {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        // Idle consumers only ask for metadata and watermarks: they are never assigned.
        self.idle.lock().push(consumer);
    }

    fn create(&self) -> Result<EngineConsumer> {
        // A group id is required by librdkafka's consumer even when it never joins a group.
        let group = self
            .params
            .get("group.id")
            .unwrap_or("ferrostream-direct")
            .to_string();
        self.params
            .consumer_config(
                &[
                    // A range ends at a known offset: waiting up to librdkafka's default
                    // 500 ms for more data at every fetch would make each range read take
                    // half a second.
                    ("fetch.wait.max.ms", "10"),
                    // Each partition's reader fetches ahead between batches: at most 16 MiB.
                    ("queued.max.messages.kbytes", "16384"),
                ],
                &[
                    ("group.id", &group),
                    ("enable.auto.commit", "false"),
                    ("enable.auto.offset.store", "false"),
                    ("enable.partition.eof", "true"),
                    // A range that is no longer (or not yet) on the broker is an error, never a
                    // silent jump to another offset.
                    ("auto.offset.reset", "error"),
                ],
            )
            .create_with_context(EngineClientContext::default())
            .map_err(|e| match e {
                KafkaError::ClientConfig(..) => config_error(&e),
                other => kafka_err("creating a consumer", other),
            })
    }

    /// The partitions of `topic`, or an error naming the topic when the brokers do not know it.
    pub fn partitions(&self, topic: &str) -> Result<Vec<i32>> {
        self.lookup(topic)?.ok_or_else(|| self.missing(topic))
    }

    /// The partitions of `topic`; `Ok(None)` when the brokers do not know the topic, `Err`
    /// when they did not answer.
    pub fn lookup(&self, topic: &str) -> Result<Option<Vec<i32>>> {
        let consumer = self.take()?;
        let found = consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT);
        self.put(consumer);
        let metadata = found.map_err(|e| {
            self.unreachable(&format!("reading the metadata of topic {topic:?}"), e)
        })?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            .map(|t| {
                let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                ids.sort_unstable();
                ids
            }))
    }

    pub fn missing(&self, topic: &str) -> EngineError {
        EngineError::Source(format!(
            "Kafka: topic {topic:?} does not exist on the brokers at {}",
            self.brokers()
        ))
    }

    /// `(low, high)` watermarks of one topic partition.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        let consumer = self.take()?;
        let out = consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .map_err(|e| {
                self.unreachable(&format!("reading the offsets of {topic}-{partition}"), e)
            });
        self.put(consumer);
        out
    }

    fn brokers(&self) -> &str {
        self.params.bootstrap().unwrap_or("(none named)")
    }

    /// An error for a request the brokers did not answer, naming them.
    pub fn unreachable(&self, doing: &str, e: KafkaError) -> EngineError {
        EngineError::Source(format!(
            "Kafka: {doing} failed: the brokers at {} did not answer ({e}); check that they \
             run and that metadata.broker.list / bootstrap.servers names them",
            self.brokers()
        ))
    }

    /// Check that every range is within its partition's available offsets (as Spark's
    /// `KafkaUtils.createRDD` does before reading).
    pub fn check_available(&self, ranges: &[OffsetRange]) -> Result<()> {
        let mut bad = Vec::new();
        let mut known: HashMap<&str, Vec<i32>> = HashMap::new();
        for r in ranges {
            if r.from > r.until || r.from < 0 {
                return Err(EngineError::InvalidArgument(format!(
                    "Beginning offset {} is after the ending offset {} for topic {} partition {}. \
                     You either provided an invalid fromOffset, or the Kafka topic has been \
                     damaged",
                    r.from, r.until, r.topic, r.partition
                )));
            }
            if !known.contains_key(r.topic.as_str()) {
                known.insert(&r.topic, self.partitions(&r.topic)?);
            }
            if !known[r.topic.as_str()].contains(&r.partition) {
                bad.push(format!(
                    "{r} (topic {} has no partition {})",
                    r.topic, r.partition
                ));
                continue;
            }
            let (low, high) = self.watermarks(&r.topic, r.partition)?;
            if r.count() > 0 && (r.from < low || r.until > high) {
                bad.push(format!("{r} (available: [{low} -> {high}])"));
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Source(format!(
                "Offsets not available on leader: {}",
                bad.join(", ")
            )))
        }
    }
}

/// The partitions of a batch (or of `createRDD`): range `i` is partition `i`.
pub struct RangeReader {
    pub pool: Arc<ConsumerPool>,
    pub ranges: Vec<OffsetRange>,
    pub format: RecordFormat,
    /// How long a read may go without receiving anything before the batch fails.
    pub poll_timeout: Duration,
}

impl PartitionSource for RangeReader {
    fn num_partitions(&self) -> usize {
        self.ranges.len()
    }

    fn compute(&self, i: usize) -> Result<Partition> {
        self.read(i, false).map(Data::into_rows)
    }

    /// `utf8` and `bytes` records are read into a native block of `(key, value)` pairs.
    fn compute_data(&self, i: usize) -> Result<Data> {
        self.read(i, self.format.has_block())
    }
}

impl RangeReader {
    fn read(&self, i: usize, block: bool) -> Result<Data> {
        let range = self
            .ranges
            .get(i)
            .ok_or_else(|| EngineError::Internal(format!("no Kafka range {i}")))?;
        if range.count() == 0 {
            return Ok(Data::Rows(Vec::new()));
        }
        self.pool.read(range, self.format, self.poll_timeout, block)
    }
}

/// Read the records of `range`, in offset order, with a consumer assigned to its partition at
/// `range.from` (or positioned there by the previous range). Returns the records and the
/// offset after the last message taken from the consumer.
fn read_range(
    consumer: &EngineConsumer,
    range: &OffsetRange,
    mut out: Records,
    poll_timeout: Duration,
) -> Result<(Data, i64)> {
    let mut next = range.from;
    let mut taken = range.from;
    // Since when nothing has been received (None while records arrive: reading the clock for
    // every record would cost more than decoding it).
    let mut idle_since: Option<Instant> = None;
    let mut last_error: Option<KafkaError> = None;
    let mut eof_seen = false;
    while next < range.until {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                // The reader is assigned this one topic partition only (see `ConsumerPool`).
                if m.partition() != range.partition {
                    continue;
                }
                let offset = m.offset();
                taken = offset + 1;
                if offset < next {
                    continue;
                }
                if offset >= range.until {
                    break;
                }
                out.push(&m)?;
                next = offset + 1;
                idle_since = None;
                continue;
            }
            // The end of what the partition holds. One that comes before any record of this
            // range can be left from the previous range's catch-up; otherwise (or when the
            // consumer's position says so) the rest of the range holds no records: transaction
            // markers, compacted offsets.
            Some(Err(KafkaError::PartitionEOF(p))) if p == range.partition => {
                let done = position(consumer, range).is_some_and(|pos| pos >= range.until);
                if done || eof_seen || next > range.from {
                    log::debug!("{range}: no records after offset {next}");
                    taken = taken.max(next);
                    if done {
                        taken = range.until;
                    }
                    break;
                }
                eof_seen = true;
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => {
                if is_offset_out_of_range(&e) {
                    return Err(EngineError::Source(format!(
                        "Offsets out of range: {range} can no longer (or not yet) be read from \
                         Kafka at offset {next} ({e})"
                    )));
                }
                log::debug!("{range}: {e}");
                last_error = Some(e);
            }
            None => {}
        }
        if idle_since.get_or_insert_with(Instant::now).elapsed() > poll_timeout {
            return Err(EngineError::Source(format!(
                "Kafka: could not read {range} within {} ms (stopped at offset {next}{})",
                poll_timeout.as_millis(),
                last_error.map_or_else(String::new, |e| format!("; last error: {e}"))
            )));
        }
    }
    Ok((out.finish(), taken.max(next)))
}

/// The consumer's fetch position in `range`'s partition, if it has one.
fn position(consumer: &EngineConsumer, range: &OffsetRange) -> Option<i64> {
    let list = consumer.position().ok()?;
    let found = list
        .find_partition(&range.topic, range.partition)
        .and_then(|e| e.offset().to_raw());
    drop(list);
    found
}

fn is_offset_out_of_range(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode;
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset)
    )
}
