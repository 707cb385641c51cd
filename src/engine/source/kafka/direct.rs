//! `KafkaUtils.createDirectStream`: no receiver. When a batch is generated, each topic
//! partition's range is decided, from where the previous batch stopped to the partition's
//! high watermark (capped by `spark.streaming.kafka.maxRatePerPartition` and backpressure, as
//! Spark's `DirectKafkaInputDStream`); the ranges are the batch's replay position, so a
//! restart from a checkpoint re-reads exactly the same records, and the next offsets are the
//! source's snapshot. The batch RDD has one partition per topic partition, read in parallel
//! when the batch runs.
//!
//! While the brokers cannot be reached, batches are empty (nothing is skipped: the next batch
//! starts where the last one that read stopped) and a warning is logged once per outage;
//! a topic that does not exist (or was deleted) is an error naming it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::params::KafkaParams;
use super::reader::{ConsumerPool, RangeReader};
use super::{OffsetRange, RecordFormat};
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::Rdd;
use crate::engine::source::Position;
use crate::engine::stream::graph::{EventSink, Input, InputBatch, RateBudget};

/// What a direct stream reads and how.
#[derive(Clone, Debug)]
pub struct DirectConfig {
    pub topics: Vec<String>,
    /// Explicit starting offsets (`fromOffsets`): `(topic, partition, offset)`.
    pub from_offsets: Vec<(String, i32, i64)>,
    pub format: RecordFormat,
    /// `spark.streaming.kafka.maxRatePerPartition` (records per second per partition).
    pub max_rate_per_partition: Option<u64>,
    /// How long reading a range may wait for records before the batch fails.
    pub poll_timeout: Duration,
}

type TopicPartition = (String, i32);

pub struct DirectKafkaInput {
    pool: Arc<ConsumerPool>,
    config: DirectConfig,
    /// Start at the earliest available offset (`auto.offset.reset` smallest/earliest) rather
    /// than the latest.
    from_earliest: bool,
    state: Mutex<DirectState>,
}

#[derive(Default)]
struct DirectState {
    /// The next offset to read of every known topic partition.
    next: BTreeMap<TopicPartition, i64>,
    /// Whether the starting offsets were decided (or restored from a checkpoint).
    started: bool,
    /// Whether the brokers were unreachable at the last attempt (warn once per outage).
    unreachable: bool,
}

impl DirectKafkaInput {
    pub fn new(params: KafkaParams, config: DirectConfig) -> Result<DirectKafkaInput> {
        if params.bootstrap().is_none() {
            return Err(EngineError::InvalidArgument(
                "Must specify metadata.broker.list or bootstrap.servers in kafkaParams".into(),
            ));
        }
        if config.topics.is_empty() {
            return Err(EngineError::InvalidArgument(
                "createDirectStream needs at least one topic".into(),
            ));
        }
        if !config.from_offsets.is_empty() {
            let mut from: Vec<&str> = config
                .from_offsets
                .iter()
                .map(|(t, _, _)| t.as_str())
                .collect();
            let mut topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
            from.sort_unstable();
            from.dedup();
            topics.sort_unstable();
            topics.dedup();
            if from != topics {
                return Err(EngineError::IllegalState(format!(
                    "The specified topics: {} do not equal to the topic from offsets: {}",
                    topics.join(" "),
                    from.join(" ")
                )));
            }
        }
        let from_earliest = matches!(
            params.get("auto.offset.reset"),
            Some("earliest" | "beginning" | "smallest")
        );
        Ok(DirectKafkaInput {
            pool: Arc::new(ConsumerPool::new(params)),
            config,
            from_earliest,
            state: Mutex::new(DirectState::default()),
        })
    }

    /// The partitions of every topic now; `Ok(None)` when the brokers did not answer.
    fn discover(&self) -> Result<Option<Vec<TopicPartition>>> {
        let mut out = Vec::new();
        for topic in &self.config.topics {
            match self.pool.lookup(topic) {
                Ok(Some(ids)) => out.extend(ids.into_iter().map(|p| (topic.clone(), p))),
                Ok(None) => return Err(self.pool.missing(topic)),
                Err(_) => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    fn warn_unreachable(&self, state: &mut DirectState, what: &str) {
        if !state.unreachable {
            log::warn!(
                "Kafka brokers at {} cannot be reached ({what}); batches read nothing until \
                 they answer, and the stream goes on from offsets it stopped at",
                self.pool.params().bootstrap().unwrap_or_default()
            );
        }
        state.unreachable = true;
    }

    /// Decide the starting offsets (explicit ones, else the earliest or latest available).
    /// Returns false when the brokers did not answer.
    fn decide_start(&self, state: &mut DirectState) -> Result<bool> {
        let Some(partitions) = self.discover()? else {
            return Ok(false);
        };
        let explicit: BTreeMap<TopicPartition, i64> = self
            .config
            .from_offsets
            .iter()
            .map(|(t, p, o)| ((t.clone(), *p), *o))
            .collect();
        let mut next = BTreeMap::new();
        for tp in partitions {
            let offset = match explicit.get(&tp) {
                Some(o) => *o,
                None => match self.pool.watermarks(&tp.0, tp.1) {
                    Ok((low, high)) => {
                        if self.from_earliest {
                            low
                        } else {
                            high
                        }
                    }
                    Err(_) => return Ok(false),
                },
            };
            next.insert(tp, offset);
        }
        state.next = next;
        state.started = true;
        Ok(true)
    }

    /// The ranges of the next batch, or None when the brokers did not answer.
    fn plan(
        &self,
        state: &mut DirectState,
        budget: &RateBudget,
    ) -> Result<Option<Vec<OffsetRange>>> {
        if !state.started && !self.decide_start(state)? {
            return Ok(None);
        }
        let Some(partitions) = self.discover()? else {
            return Ok(None);
        };
        // Partitions added to a topic while running are read from their beginning.
        for tp in &partitions {
            if !state.next.contains_key(tp) {
                let (low, _) = match self.pool.watermarks(&tp.0, tp.1) {
                    Ok(w) => w,
                    Err(_) => return Ok(None),
                };
                log::info!(
                    "Kafka: reading the new partition {}-{} from offset {low}",
                    tp.0,
                    tp.1
                );
                state.next.insert(tp.clone(), low);
            }
        }
        let mut latest = BTreeMap::new();
        for (tp, &from) in &state.next {
            let high = match self.pool.watermarks(&tp.0, tp.1) {
                Ok((_, high)) => high,
                Err(_) => return Ok(None),
            };
            latest.insert(tp.clone(), high.max(from));
        }
        let limits = self.max_per_partition(&state.next, &latest, budget);
        let ranges = state
            .next
            .iter()
            .map(|(tp, &from)| {
                let high = latest[tp];
                let until = match limits.as_ref().and_then(|l| l.get(tp)) {
                    Some(&max) => high.min(from.saturating_add(max)),
                    None => high,
                };
                OffsetRange {
                    topic: tp.0.clone(),
                    partition: tp.1,
                    from,
                    until,
                }
            })
            .collect();
        Ok(Some(ranges))
    }

    /// Records each partition may read in one batch: Spark's `maxMessagesPerPartition`
    /// (backpressure's rate split by lag, capped by `maxRatePerPartition`, at least 1).
    fn max_per_partition(
        &self,
        next: &BTreeMap<TopicPartition, i64>,
        latest: &BTreeMap<TopicPartition, i64>,
        budget: &RateBudget,
    ) -> Option<BTreeMap<TopicPartition, i64>> {
        let per_partition = self.config.max_rate_per_partition.map_or(0.0, |r| r as f64);
        let rates: BTreeMap<TopicPartition, f64> = match budget.records_per_second {
            Some(rate) if rate > 0.0 => {
                let lags: BTreeMap<&TopicPartition, f64> = next
                    .iter()
                    .map(|(tp, from)| (tp, (latest[tp] - from).max(0) as f64))
                    .collect();
                let total: f64 = lags.values().sum();
                lags.into_iter()
                    .map(|(tp, lag)| {
                        let share = if total > 0.0 { lag / total * rate } else { 0.0 };
                        let limited = if per_partition > 0.0 {
                            share.min(per_partition)
                        } else {
                            share
                        };
                        (tp.clone(), limited)
                    })
                    .collect()
            }
            _ => next.keys().map(|tp| (tp.clone(), per_partition)).collect(),
        };
        if rates.values().sum::<f64>() <= 0.0 {
            return None;
        }
        let secs = budget.batch_ms as f64 / 1000.0;
        Some(
            rates
                .into_iter()
                .map(|(tp, r)| (tp, ((secs * r) as i64).max(1)))
                .collect(),
        )
    }

    fn rdd(&self, ctx: &Arc<EngineContext>, ranges: Vec<OffsetRange>) -> Arc<Rdd> {
        Rdd::lazy(
            ctx,
            Arc::new(RangeReader {
                pool: self.pool.clone(),
                ranges,
                format: self.config.format,
                poll_timeout: self.config.poll_timeout,
            }),
        )
    }
}

impl Input for DirectKafkaInput {
    /// At `start()`: every topic exists (when the brokers answer; when they do not, the
    /// stream starts and waits for them).
    fn validate(&self) -> Result<()> {
        let mut state = self.state.lock();
        if state.started {
            return Ok(());
        }
        if !self.decide_start(&mut state)? {
            self.warn_unreachable(&mut state, "at start");
        }
        Ok(())
    }

    /// Readers of every partition are assigned at their first offsets in the background,
    /// so the first batch does not wait for connections and first fetches.
    fn start(&self, _stream_id: usize, _events: EventSink) -> Result<()> {
        let starts: Vec<(TopicPartition, i64)> = self
            .state
            .lock()
            .next
            .iter()
            .map(|(tp, &from)| (tp.clone(), from))
            .collect();
        if starts.is_empty() {
            return Ok(());
        }
        let pool = self.pool.clone();
        let spawned = std::thread::Builder::new()
            .name("ferrostream-kafka-prepare".into())
            .spawn(move || {
                for ((topic, partition), from) in starts {
                    pool.prepare(&topic, partition, from);
                }
            });
        if let Err(e) = spawned {
            log::debug!("Kafka: readers are not prepared ahead ({e})");
        }
        Ok(())
    }

    /// Close the pooled clients: a stopped stream keeps no connections.
    fn stop(&self) {
        self.pool.close();
    }

    fn batch(
        &self,
        ctx: &Arc<EngineContext>,
        _time: i64,
        budget: &RateBudget,
    ) -> Result<InputBatch> {
        let mut state = self.state.lock();
        let ranges = match self.plan(&mut state, budget)? {
            Some(ranges) => {
                if state.unreachable {
                    log::info!("Kafka brokers answer again; the stream reads on");
                    state.unreachable = false;
                }
                ranges
            }
            None => {
                self.warn_unreachable(&mut state, "when planning a batch");
                state
                    .next
                    .iter()
                    .map(|(tp, &o)| OffsetRange {
                        topic: tp.0.clone(),
                        partition: tp.1,
                        from: o,
                        until: o,
                    })
                    .collect()
            }
        };
        for r in &ranges {
            state.next.insert((r.topic.clone(), r.partition), r.until);
        }
        drop(state);
        let records = ranges.iter().map(OffsetRange::count).sum();
        Ok(InputBatch {
            rdd: self.rdd(ctx, ranges.clone()),
            records: Some(records),
            position: Some(Position::KafkaRanges(ranges)),
        })
    }

    fn replay(
        &self,
        ctx: &Arc<EngineContext>,
        _time: i64,
        position: &Position,
    ) -> Result<Arc<Rdd>> {
        match position {
            Position::KafkaRanges(ranges) => Ok(self.rdd(ctx, ranges.clone())),
            other => Err(EngineError::IllegalState(format!(
                "a Kafka direct stream cannot replay the checkpointed position {other:?}"
            ))),
        }
    }

    fn resumes_pending(&self) -> bool {
        true
    }

    fn resume(&self, ctx: &Arc<EngineContext>, time: i64, position: &Position) -> Result<Arc<Rdd>> {
        let rdd = self.replay(ctx, time, position)?;
        if let Position::KafkaRanges(ranges) = position {
            let mut state = self.state.lock();
            for r in ranges {
                let next = state
                    .next
                    .entry((r.topic.clone(), r.partition))
                    .or_insert(r.until);
                *next = (*next).max(r.until);
            }
        }
        Ok(rdd)
    }

    fn snapshot(&self) -> Option<Position> {
        let state = self.state.lock();
        state.started.then(|| {
            Position::KafkaOffsets(
                state
                    .next
                    .iter()
                    .map(|((t, p), o)| (t.clone(), *p, *o))
                    .collect(),
            )
        })
    }

    fn restore(&self, snapshot: &Position) -> Result<()> {
        match snapshot {
            Position::KafkaOffsets(offsets) => {
                let mut state = self.state.lock();
                state.next = offsets
                    .iter()
                    .map(|(t, p, o)| ((t.clone(), *p), *o))
                    .collect();
                state.started = true;
                Ok(())
            }
            other => Err(EngineError::IllegalState(format!(
                "a Kafka direct stream cannot restore the checkpointed position {other:?}"
            ))),
        }
    }
}

/// `KafkaUtils.createRDD`: exactly `ranges`, checked against the offsets the brokers hold.
pub fn offset_range_rdd(
    ctx: &Arc<EngineContext>,
    params: KafkaParams,
    ranges: Vec<OffsetRange>,
    format: RecordFormat,
    poll_timeout: Duration,
) -> Result<Arc<Rdd>> {
    if params.bootstrap().is_none() {
        return Err(EngineError::InvalidArgument(
            "Must specify metadata.broker.list or bootstrap.servers in kafkaParams".into(),
        ));
    }
    let pool = Arc::new(ConsumerPool::new(params));
    pool.check_available(&ranges)?;
    // An RDD may live long after it was read: its reads do not keep clients (connections,
    // threads) open between computations.
    pool.close();
    Ok(Rdd::lazy(
        ctx,
        Arc::new(RangeReader {
            pool,
            ranges,
            format,
            poll_timeout,
        }),
    ))
}
