//! `KafkaUtils.createStream`: a receiver consuming as consumer group `groupId`. Offsets are
//! committed to Kafka only after the batch holding the records completed, so a restart (or a
//! crash) re-reads whatever no completed batch held: at-least-once, as Spark's reliable
//! receiver.
//!
//! Brokers come from `metadata.broker.list` / `bootstrap.servers` when given; otherwise the
//! `zkQuorum` is read as a ZooKeeper ensemble and the brokers registered there are used, as
//! the Kafka 0.8 consumer did.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::params::{config_error, KafkaParams};
use super::{EngineClientContext, RecordFormat};

type GroupConsumer = StreamConsumer<EngineClientContext>;
use crate::engine::error::{EngineError, Result};
use crate::engine::source::receiver::{
    BlockSink, Receiver, ReceiverConfig, ReceiverInput, Session,
};
use crate::engine::value::Value;

/// Records handed to the buffer at once (fewer when the topic is quiet).
const BLOCK_RECORDS: usize = 4096;
/// How long a partial block waits for more records.
const BLOCK_WAIT: Duration = Duration::from_millis(20);
/// How often a quiet receiver looks for client errors to report.
const ERROR_CHECK: Duration = Duration::from_millis(500);

/// How long `stop()` waits for the consumer to leave its group.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

type TopicPartition = (String, i32);

/// `createStream`'s input: the Kafka receiver in the receiver framework.
pub type KafkaReceiverInput = ReceiverInput<KafkaReceiver>;

pub struct KafkaReceiver {
    params: KafkaParams,
    group: String,
    topics: Vec<String>,
    format: RecordFormat,
    consumer: Mutex<Option<Arc<GroupConsumer>>>,
    /// The offset after the last record handed to the buffer, per topic partition.
    pushed: Mutex<BTreeMap<TopicPartition, i64>>,
    /// What each batch held (by batch time): the offsets to commit once it completed.
    pending: Mutex<BTreeMap<i64, BTreeMap<TopicPartition, i64>>>,
    /// A record whose key or value is not UTF-8 was buffered: the batch holding it fails.
    undecodable: Mutex<Option<EngineError>>,
    /// The offsets of the last commit issued (a batch whose offsets did not move commits
    /// nothing, unless that commit failed).
    committed: Mutex<BTreeMap<TopicPartition, i64>>,
    /// A batch failed: offsets are no longer committed.
    stalled: AtomicBool,
    /// The brokers found at start.
    resolved: Mutex<Option<String>>,
}

impl KafkaReceiver {
    pub fn input(
        params: KafkaParams,
        group: &str,
        topics: Vec<String>,
        format: RecordFormat,
        config: ReceiverConfig,
    ) -> Result<KafkaReceiverInput> {
        if topics.is_empty() {
            return Err(EngineError::InvalidArgument(
                "createStream needs at least one topic".into(),
            ));
        }
        if format == RecordFormat::Messages {
            return Err(EngineError::InvalidArgument(
                "a Kafka receiver stream yields (key, value) pairs, not messages".into(),
            ));
        }
        let receiver = KafkaReceiver {
            params,
            group: group.to_string(),
            topics,
            format,
            consumer: Mutex::new(None),
            pushed: Mutex::new(BTreeMap::new()),
            pending: Mutex::new(BTreeMap::new()),
            committed: Mutex::new(BTreeMap::new()),
            undecodable: Mutex::new(None),
            stalled: AtomicBool::new(false),
            resolved: Mutex::new(None),
        };
        Ok(ReceiverInput::new(receiver, config))
    }

    /// The brokers: named in kafkaParams, or registered in ZooKeeper.
    fn brokers(&self) -> std::result::Result<String, String> {
        if let Some(b) = self.resolved.lock().clone() {
            return Ok(b);
        }
        if let Some(b) = self.params.bootstrap() {
            return Ok(b.to_string());
        }
        let Some(zk) = self.params.zookeeper.as_deref() else {
            return Err(NO_BROKERS.to_string());
        };
        let timeout = Duration::from_millis(self.params.zookeeper_timeout_ms.unwrap_or(10_000));
        super::super::zookeeper::brokers_from_zookeeper(zk, timeout)
            .map_err(|e| format!("{e}. {NO_BROKERS}"))
    }

    fn consumer(&self) -> std::result::Result<Arc<GroupConsumer>, String> {
        if let Some(c) = self.consumer.lock().clone() {
            return Ok(c);
        }
        let brokers = self.brokers()?;
        let reset = self
            .params
            .get("auto.offset.reset")
            .unwrap_or("latest")
            .to_string();
        let consumer: GroupConsumer = self
            .params
            .with_bootstrap(&brokers)
            .consumer_config(
                &[],
                &[
                    ("group.id", &self.group),
                    ("enable.auto.commit", "false"),
                    ("enable.auto.offset.store", "false"),
                    ("auto.offset.reset", &reset),
                ],
            )
            .create_with_context(EngineClientContext::keeping_errors())
            .map_err(|e| match e {
                KafkaError::ClientConfig(..) => config_error(&e).to_string(),
                other => format!(
                    "Kafka: creating the consumer of group {:?}: {other}",
                    self.group
                ),
            })?;
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| format!("Kafka: subscribing to {}: {e}", self.topics.join(", ")))?;
        let consumer = Arc::new(consumer);
        *self.consumer.lock() = Some(consumer.clone());
        Ok(consumer)
    }

    async fn session(&self, sink: &BlockSink) -> std::result::Result<(), String> {
        let consumer = self.consumer()?;
        let mut block: Vec<Value> = Vec::with_capacity(BLOCK_RECORDS);
        let mut offsets: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        let mut failing = false;
        loop {
            let wait = if block.is_empty() {
                ERROR_CHECK
            } else {
                BLOCK_WAIT
            };
            let received = tokio::select! {
                r = tokio::time::timeout(wait, consumer.recv()) => r.ok(),
                // Records not handed over yet are not lost: their offsets are not committed.
                _ = sink.stopping() => return Ok(()),
            };
            // The client's own errors (brokers down, ...): reported once per outage; it
            // reconnects by itself.
            let errors = consumer.context().take_errors();
            if let Some(last) = errors.last() {
                if !failing {
                    let message = format!("Kafka consumer of group {:?}: {last}", self.group);
                    log::warn!("{message}; the receiver waits for the brokers");
                    sink.report_error(&message);
                }
                failing = true;
            } else if matches!(received, Some(Ok(_))) && failing {
                log::info!("Kafka consumer of group {:?} receives again", self.group);
                failing = false;
            }
            match received {
                Some(Ok(m)) => {
                    let value = match self.format.decode(&m) {
                        Ok(v) => v,
                        Err(e) => {
                            self.undecodable.lock().get_or_insert(e);
                            RecordFormat::BytePairs
                                .decode(&m)
                                .map_err(|e| e.to_string())?
                        }
                    };
                    block.push(value);
                    offsets.insert((m.topic().to_string(), m.partition()), m.offset() + 1);
                    if block.len() < BLOCK_RECORDS {
                        continue;
                    }
                }
                Some(Err(e)) => {
                    if matches!(
                        e.rdkafka_error_code(),
                        Some(
                            RDKafkaErrorCode::UnknownTopicOrPartition
                                | RDKafkaErrorCode::UnknownTopic
                        )
                    ) {
                        // Drop the consumer: the next session subscribes again.
                        *self.consumer.lock() = None;
                        return Err(format!(
                            "Kafka: a subscribed topic ({}) does not exist: {e}",
                            self.topics.join(", ")
                        ));
                    }
                    // Reported once per outage, as the client's own errors above.
                    if !failing {
                        let message = format!("Kafka consumer of group {:?}: {e}", self.group);
                        log::warn!("{message}; the receiver waits for the brokers");
                        sink.report_error(&message);
                        failing = true;
                    }
                    if block.is_empty() {
                        continue;
                    }
                }
                None => {}
            }
            if !block.is_empty() {
                let records = std::mem::replace(&mut block, Vec::with_capacity(BLOCK_RECORDS));
                if !sink.push(records).await {
                    return Ok(());
                }
                self.pushed.lock().append(&mut offsets);
            }
        }
    }
}

const NO_BROKERS: &str = "Name the Kafka brokers with \"metadata.broker.list\" (or \
                          \"bootstrap.servers\") in kafkaParams, e.g. \
                          {\"metadata.broker.list\": \"host:9092\"}";

impl Receiver for KafkaReceiver {
    fn name(&self, stream_id: usize) -> String {
        format!("KafkaReceiver-{stream_id}")
    }

    /// The brokers must be known at `start()`: named in kafkaParams or found in ZooKeeper.
    fn validate(&self) -> Result<()> {
        let brokers = self.brokers().map_err(EngineError::Source)?;
        *self.resolved.lock() = Some(brokers);
        Ok(())
    }

    fn receive<'a>(&'a self, sink: &'a BlockSink) -> Session<'a> {
        Box::pin(self.session(sink))
    }

    fn on_batch(&self, time: i64) -> Result<()> {
        let held = self.pushed.lock().clone();
        self.pending.lock().insert(time, held);
        match self.undecodable.lock().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn on_batch_completed(&self, time: i64) {
        let commit = {
            let mut pending = self.pending.lock();
            if pending.keys().next().is_some_and(|first| *first < time) {
                // An earlier batch did not complete: committing past its records would lose
                // them, so nothing more is committed; a restart reads them again.
                if !self.stalled.swap(true, Ordering::SeqCst) {
                    log::warn!(
                        "Kafka: a batch of group {:?} failed; its offsets and later ones are not                          committed, a restarted program reads those records again",
                        self.group
                    );
                }
                return;
            }
            match pending.remove(&time) {
                Some(c) if !c.is_empty() => c,
                _ => return,
            }
        };
        let Some(consumer) = self.consumer.lock().clone() else {
            return;
        };
        {
            let mut committed = self.committed.lock();
            if *committed == commit && !consumer.context().commit_failing() {
                return;
            }
            committed.clone_from(&commit);
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &commit {
            if let Err(e) = list.add_partition_offset(topic, *partition, Offset::Offset(*offset)) {
                log::warn!("Kafka: cannot commit {topic}-{partition} at {offset}: {e}");
            }
        }
        // Asynchronous: a synchronous commit waits for the group coordinator for as long as
        // the brokers are down, which would hold the scheduler (and `stop()`) with it. The
        // outcome is logged by the client context; a commit that fails is superseded by the
        // next batch's, which carries every partition's position again.
        if let Err(e) = consumer.commit(&list, CommitMode::Async) {
            // Not lost: the records are read again after a restart (at-least-once).
            log::warn!(
                "Kafka: committing the offsets of group {:?} after batch {time} ms failed: {e}",
                self.group
            );
        }
    }

    /// Leave the consumer group at once (its partitions go to other members without waiting
    /// for the session to time out).
    ///
    /// Leaving waits for the group coordinator, for ever if the brokers are down, so the
    /// consumer is closed on a thread of its own and waited for [`CLOSE_WAIT`] at most: a
    /// stop never hangs on an unreachable cluster (the group then drops this member when its
    /// session times out, and the offsets are those of the last completed commit).
    fn on_stop(&self) {
        let Some(consumer) = self.consumer.lock().take() else {
            return;
        };
        let (closed_tx, closed) = std::sync::mpsc::channel();
        let closing = std::thread::Builder::new()
            .name("ferrostream-kafka-close".into())
            .spawn(move || {
                drop(consumer);
                let _ = closed_tx.send(());
            });
        if let Err(e) = closing {
            log::warn!(
                "Kafka: cannot start a thread to close the consumer of group {:?}: {e}",
                self.group
            );
            return;
        }
        if closed.recv_timeout(CLOSE_WAIT).is_err() {
            log::warn!(
                "Kafka: the consumer of group {:?} did not leave the group within {} s (are the \
                 brokers down?); it goes on closing in the background",
                self.group,
                CLOSE_WAIT.as_secs()
            );
        }
    }

    fn log_target(&self) -> &'static str {
        module_path!()
    }
}
