//! The Kinesis receiver: reads the shards whose leases this worker holds in the application's
//! DynamoDB lease table, parents before children, and records the positions of completed
//! batches there.
//!
//! A session runs the lease worker ([`super::lease_worker`]: takes, renews and balances leases
//! with the other workers of the same application, writes checkpoints) beside the reading
//! loop, which reads (in rounds, all held shards at once) with `GetRecords` and tags each record
//! with its shard's ordinal (new at every take of the lease) and sequence number, so the batch
//! that takes it knows exactly which positions it holds ([`Receiver::partition`]: one partition
//! per shard; records of a lease lost meanwhile are left out, the new owner reads them again).
//! Positions move to "completed" when their batch completed; completed positions of held
//! shards are written every `checkpointInterval` and when the stream stops. A shard whose end
//! was read and whose last record's batch completed is checkpointed `SHARD_END`; its children
//! are read only after it ended, so records of one partition key stay in order across a
//! reshard. Throttling, expired iterators and network errors are retried with backoff and
//! reported as receiver errors; anything else ends the session, which the framework restarts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use parking_lot::Mutex;
use tokio::sync::{Notify, OnceCell};
use tokio::time::Instant;

use super::leases::{LeaseTable, SHARD_END};
use super::{describe, error_code, is_transient, InitialPosition, KinesisConfig, SequenceRange};
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::{Partition, Rdd};
use crate::engine::source::receiver::{
    BlockSink, Receiver, ReceiverConfig, ReceiverInput, Session,
};
use crate::engine::source::Position;
use crate::engine::value::{Text, Value};

/// `createStream`'s input: the Kinesis receiver in the receiver framework.
pub type KinesisInput = ReceiverInput<KinesisReceiver>;

/// Records asked for per `GetRecords` call (the service's maximum).
const RECORDS_PER_CALL: i32 = 10_000;
/// Pause between rounds that returned nothing (the service allows 5 reads/s per shard).
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// Backoff bounds of retried calls.
pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub(super) struct Clients {
    pub(super) kinesis: Client,
    pub(super) leases: LeaseTable,
}

/// A lease this worker holds: the ordinal its records are tagged with (new at every take, so
/// records read before a loss are never batched after it), and the counter it last wrote.
#[derive(Clone, Debug)]
pub(super) struct Held {
    pub(super) ordinal: i64,
    pub(super) counter: Option<i64>,
}

/// What is known of one shard.
#[derive(Clone, Debug, Default)]
pub(super) struct ShardState {
    pub(super) parents: Vec<String>,
    /// The sequence number of the last record handed to the buffer (or the checkpoint read
    /// from the table), if any.
    pub(super) position: Option<String>,
    /// The shard's end was read; the last sequence number handed out then (None: no record
    /// of the shard was handed out in this program).
    pub(super) ended: Option<Option<String>>,
    /// Checkpointed `SHARD_END`, or closed and skipped (LATEST): never read again.
    pub(super) finished: bool,
    /// Whether records of it were (or are being) read: its children start at TRIM_HORIZON.
    pub(super) read: bool,
    /// `position` was restored from a checkpoint directory: the next take of the lease reads
    /// on from it rather than from the table (which may be ahead of the restored state).
    pub(super) restored: bool,
}

/// One shard being read in a session.
struct Reader {
    shard: String,
    ordinal: i64,
    iterator: Option<String>,
    retry_at: Option<Instant>,
    backoff: Duration,
    failing: bool,
}

pub struct KinesisReceiver {
    pub(super) config: KinesisConfig,
    /// This worker's id in the lease table (unique per receiver and program).
    pub(super) owner: String,
    clients: OnceCell<Arc<Clients>>,
    pub(super) shards: Mutex<BTreeMap<String, ShardState>>,
    /// The leases this worker holds, by shard.
    pub(super) owned: Mutex<HashMap<String, Held>>,
    /// Wakes the lease worker (a shard ended: its children may be read now).
    pub(super) wake: Notify,
    /// Shard ids by the ordinal their records are tagged with.
    ordinals: Mutex<Vec<String>>,
    /// The last sequence number of each shard that each batch (by time) holds.
    pending: Mutex<BTreeMap<i64, HashMap<String, String>>>,
    /// The sequence ranges each generated batch holds, until its position is asked for.
    ranges: Mutex<BTreeMap<i64, Vec<SequenceRange>>>,
    /// Positions whose batches completed, and what the table holds.
    pub(super) completed: Mutex<HashMap<String, String>>,
    pub(super) written: Mutex<HashMap<String, String>>,
    /// A record whose data is not UTF-8 was buffered: the batch holding it fails.
    pub(super) undecodable: Mutex<Option<EngineError>>,
    /// A batch failed: positions no longer advance.
    stalled: AtomicBool,
}

impl KinesisReceiver {
    pub fn input(config: KinesisConfig, receiver: ReceiverConfig) -> KinesisInput {
        static WORKERS: AtomicUsize = AtomicUsize::new(0);
        let owner = format!(
            "ferrostream-{}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            WORKERS.fetch_add(1, Ordering::Relaxed)
        );
        ReceiverInput::new(
            KinesisReceiver {
                config,
                owner,
                clients: OnceCell::new(),
                shards: Mutex::new(BTreeMap::new()),
                owned: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                ordinals: Mutex::new(Vec::new()),
                pending: Mutex::new(BTreeMap::new()),
                ranges: Mutex::new(BTreeMap::new()),
                completed: Mutex::new(HashMap::new()),
                written: Mutex::new(HashMap::new()),
                undecodable: Mutex::new(None),
                stalled: AtomicBool::new(false),
            },
            receiver,
        )
    }

    pub(super) async fn clients(&self) -> std::result::Result<Arc<Clients>, String> {
        self.clients
            .get_or_try_init(|| async {
                let conf = self.config.sdk_config().await;
                let kinesis = self.config.kinesis_client(&conf);
                kinesis
                    .describe_stream_summary()
                    .stream_name(&self.config.stream_name)
                    .send()
                    .await
                    .map_err(|e| describe(format!("opening {}", self.config.target()), &e))?;
                let leases = LeaseTable::open(&conf, &self.config.app_name, &self.owner).await?;
                Ok(Arc::new(Clients { kinesis, leases }))
            })
            .await
            .cloned()
    }

    /// A new ordinal for the records of `shard` read under a new lease.
    pub(super) fn new_ordinal(&self, shard: &str) -> i64 {
        let mut ordinals = self.ordinals.lock();
        ordinals.push(shard.to_string());
        (ordinals.len() - 1) as i64
    }

    /// Whether records tagged `ordinal` are still this worker's to batch.
    fn owns(&self, shard: &str, ordinal: i64) -> bool {
        self.owned
            .lock()
            .get(shard)
            .is_some_and(|h| h.ordinal == ordinal)
    }

    /// Where reading `shard` starts.
    async fn iterator(
        &self,
        client: &Client,
        shard: &str,
    ) -> std::result::Result<
        Option<String>,
        aws_sdk_kinesis::error::SdkError<
            aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError,
        >,
    > {
        let (position, parent_read) = {
            let shards = self.shards.lock();
            let state = shards.get(shard).cloned().unwrap_or_default();
            let parent_read = state
                .parents
                .iter()
                .any(|p| shards.get(p).is_some_and(|s| s.read));
            (state.position, parent_read)
        };
        let mut call = client
            .get_shard_iterator()
            .stream_name(&self.config.stream_name)
            .shard_id(shard);
        call = match (position, parent_read, self.config.initial_position) {
            (Some(seq), _, _) => call
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            (None, true, _) | (None, false, InitialPosition::TrimHorizon) => {
                call.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            (None, false, InitialPosition::Latest) => {
                call.shard_iterator_type(ShardIteratorType::Latest)
            }
            (None, false, InitialPosition::AtTimestamp(ms)) => call
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from_millis(ms)),
        };
        let out = call.send().await?;
        Ok(out.shard_iterator().map(str::to_string))
    }

    /// Reads one batch of records of `reader`'s shard: the values to hand out (tagged), and
    /// whether the shard ended.
    async fn read(
        &self,
        client: &Client,
        reader: &mut Reader,
        sink: &BlockSink,
    ) -> std::result::Result<(Vec<Value>, bool), String> {
        if reader.retry_at.is_some_and(|t| Instant::now() < t) {
            return Ok((Vec::new(), false));
        }
        let iterator = match &reader.iterator {
            Some(it) => it.clone(),
            None => match self.iterator(client, &reader.shard).await {
                Ok(Some(it)) => {
                    reader.iterator = Some(it.clone());
                    it
                }
                Ok(None) => return Ok((Vec::new(), true)),
                Err(e) => {
                    let code = error_code(&e);
                    let msg = describe(format!("starting to read {}", reader.shard), &e);
                    return self
                        .retry(reader, sink, code.as_deref(), msg)
                        .map(|()| (Vec::new(), false));
                }
            },
        };
        let out = match client
            .get_records()
            .shard_iterator(iterator)
            .limit(RECORDS_PER_CALL)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let code = error_code(&e);
                let msg = describe(format!("reading {}", reader.shard), &e);
                if code.as_deref() == Some("ExpiredIteratorException") {
                    // Asked again from the last position handed out.
                    reader.iterator = None;
                    log::info!("{msg}; asking for a new iterator");
                    sink.report_error(&msg);
                    return Ok((Vec::new(), false));
                }
                return self
                    .retry(reader, sink, code.as_deref(), msg)
                    .map(|()| (Vec::new(), false));
            }
        };
        if reader.failing {
            log::info!("Kinesis: reading {} again", reader.shard);
        }
        reader.failing = false;
        reader.backoff = BACKOFF_MIN;
        reader.retry_at = None;
        let mut values = Vec::with_capacity(out.records().len());
        for r in out.records() {
            let value = self.decode(r.data().as_ref(), r.sequence_number(), &reader.shard);
            values.push(Value::Tuple(Arc::from(vec![
                Value::Int(reader.ordinal),
                Value::str(r.sequence_number()),
                value,
            ])));
        }
        reader.iterator = out.next_shard_iterator().map(str::to_string);
        Ok((values, reader.iterator.is_none()))
    }

    /// A failed call: retried later when it is transient, otherwise the session ends.
    fn retry(
        &self,
        reader: &mut Reader,
        sink: &BlockSink,
        code: Option<&str>,
        message: String,
    ) -> std::result::Result<(), String> {
        if !is_transient(code) {
            return Err(message);
        }
        if !reader.failing {
            log::warn!("{message}; retrying with backoff");
        }
        sink.report_error(&message);
        reader.failing = true;
        reader.retry_at = Some(Instant::now() + reader.backoff);
        reader.backoff = (reader.backoff * 2).min(BACKOFF_MAX);
        Ok(())
    }

    /// One session: the lease worker and the reading loop side by side.
    async fn session(&self, sink: &BlockSink) -> std::result::Result<(), String> {
        let clients = self.clients().await?;
        tokio::select! {
            r = self.lease_loop(&clients, sink) => r,
            r = self.read_loop(&clients, sink) => r,
        }
    }

    /// Reads the shards this worker holds the leases of, all at once, in rounds.
    async fn read_loop(
        &self,
        clients: &Clients,
        sink: &BlockSink,
    ) -> std::result::Result<(), String> {
        let mut readers: Vec<Reader> = Vec::new();
        loop {
            // Follow the leases: a lost one is no longer read, a new one is.
            let owned: Vec<(String, i64)> = self
                .owned
                .lock()
                .iter()
                .map(|(s, h)| (s.clone(), h.ordinal))
                .collect();
            readers.retain(|r| owned.contains(&(r.shard.clone(), r.ordinal)));
            for (shard, ordinal) in owned {
                let idle = {
                    let shards = self.shards.lock();
                    shards
                        .get(&shard)
                        .is_some_and(|s| s.finished || s.ended.is_some())
                };
                if idle || readers.iter().any(|r| r.shard == shard) {
                    continue;
                }
                log::debug!(
                    "Kinesis: reading shard {shard} of {}",
                    self.config.stream_name
                );
                self.shards.lock().entry(shard.clone()).or_default().read = true;
                readers.push(Reader {
                    ordinal,
                    shard,
                    iterator: None,
                    retry_at: None,
                    backoff: BACKOFF_MIN,
                    failing: false,
                });
            }
            let results = futures::future::join_all(readers.iter_mut().map(|r| {
                let client = &clients.kinesis;
                async move {
                    let result = self.read(client, r, sink).await;
                    (r.shard.clone(), r.ordinal, result)
                }
            }))
            .await;
            let mut received = 0;
            let mut ended = Vec::new();
            for (shard, ordinal, result) in results {
                let (values, end) = result?;
                // The lease was lost meanwhile: what was read is the new owner's to read.
                if !self.owns(&shard, ordinal) {
                    continue;
                }
                received += values.len();
                let last = values.last().and_then(|v| match v {
                    Value::Tuple(t) => match &t[1] {
                        Value::Str(s) => Some(s.to_string()),
                        _ => None,
                    },
                    _ => None,
                });
                if !values.is_empty() && !sink.push(values).await {
                    return Ok(());
                }
                let mut shards = self.shards.lock();
                let state = shards.entry(shard.clone()).or_default();
                if last.is_some() {
                    state.position.clone_from(&last);
                }
                if end {
                    log::info!(
                        "Kinesis: shard {shard} of {} ended",
                        self.config.stream_name
                    );
                    state.ended = Some(state.position.clone());
                    ended.push(shard);
                }
            }
            if !ended.is_empty() {
                readers.retain(|r| !ended.contains(&r.shard));
                // Its children may be read now.
                self.wake.notify_one();
            }
            if received == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_WAIT) => {}
                    _ = sink.stopping() => return Ok(()),
                }
            }
        }
    }
}

impl KinesisReceiver {
    /// What the lease table should hold: the position of each shard's last record whose batch
    /// completed, `SHARD_END` for shards read to their end whose last records completed.
    pub(super) fn checkpoint_map(&self) -> BTreeMap<String, String> {
        let completed = self.completed.lock();
        let shards = self.shards.lock();
        let mut out = BTreeMap::new();
        for (shard, state) in shards.iter() {
            let done = completed.get(shard);
            let checkpoint = match &state.ended {
                Some(last) if last.as_ref() == done || last.is_none() => {
                    Some(SHARD_END.to_string())
                }
                _ if state.finished && done.is_none() => Some(SHARD_END.to_string()),
                _ => done.cloned(),
            };
            if let Some(c) = checkpoint {
                out.insert(shard.clone(), c);
            }
        }
        out
    }
}

impl Receiver for KinesisReceiver {
    fn name(&self, stream_id: usize) -> String {
        format!("KinesisReceiver-{stream_id}")
    }

    /// The stream must exist (and the credentials work) at `start()`.
    fn validate(&self) -> Result<()> {
        crate::engine::source::runtime()
            .block_on(self.clients())
            .map(|_| ())
            .map_err(EngineError::Source)
    }

    fn receive<'a>(&'a self, sink: &'a BlockSink) -> Session<'a> {
        Box::pin(self.session(sink))
    }

    /// One partition per shard, in shard order; notes the last sequence number of each.
    fn partition(
        &self,
        time: i64,
        records: Vec<Value>,
        _parallelism: usize,
    ) -> Result<(Vec<Partition>, i64)> {
        // Records of shards whose lease was lost since they were read: the new owner reads
        // them again from the table's checkpoint (before them: only completed batches are
        // checkpointed), so they are not batched here.
        let owned: HashSet<i64> = self.owned.lock().values().map(|h| h.ordinal).collect();
        let mut dropped = 0usize;
        let mut by_shard: BTreeMap<i64, Partition> = BTreeMap::new();
        let mut last: HashMap<i64, Text> = HashMap::new();
        let mut first: BTreeMap<i64, Text> = BTreeMap::new();
        for record in records {
            let Value::Tuple(t) = record else {
                continue;
            };
            let (Value::Int(ordinal), Value::Str(seq)) = (&t[0], &t[1]) else {
                continue;
            };
            if !owned.contains(ordinal) {
                dropped += 1;
                continue;
            }
            by_shard.entry(*ordinal).or_default().push(t[2].clone());
            last.insert(*ordinal, seq.clone());
            first.entry(*ordinal).or_insert_with(|| seq.clone());
        }
        let held: HashMap<String, String> = {
            let ordinals = self.ordinals.lock();
            last.iter()
                .filter_map(|(o, seq)| {
                    ordinals
                        .get(*o as usize)
                        .map(|shard| (shard.clone(), seq.to_string()))
                })
                .collect()
        };
        let ranges: Vec<SequenceRange> = {
            let ordinals = self.ordinals.lock();
            first
                .iter()
                .filter_map(|(o, f)| {
                    Some(SequenceRange {
                        shard: ordinals.get(*o as usize)?.clone(),
                        first: f.to_string(),
                        last: last.get(o)?.to_string(),
                    })
                })
                .collect()
        };
        if dropped > 0 {
            log::info!(
                "Kinesis: {dropped} records of shards whose leases were lost left out of batch {time}"
            );
        }
        let count = by_shard.values().map(|p| p.len() as i64).sum();
        self.ranges.lock().insert(time, ranges);
        self.pending.lock().insert(time, held);
        if let Some(e) = self.undecodable.lock().take() {
            return Err(e);
        }
        Ok((by_shard.into_values().collect(), count))
    }

    fn position(&self, time: i64) -> Option<Position> {
        let ranges = self.ranges.lock().remove(&time).unwrap_or_default();
        Some(Position::KinesisRanges(ranges))
    }

    /// One partition per shard range, read again from Kinesis (as Spark's
    /// `KinesisBackedBlockRDD`).
    fn replay(&self, ctx: &Arc<EngineContext>, position: &Position) -> Result<Arc<Rdd>> {
        let Position::KinesisRanges(ranges) = position else {
            return Err(EngineError::IllegalState(
                "a Kinesis stream cannot replay another source's checkpoint".into(),
            ));
        };
        let parts = crate::engine::source::runtime()
            .block_on(async {
                let mut parts = Vec::with_capacity(ranges.len());
                for range in ranges {
                    parts.push(self.read_range(range).await?);
                }
                Ok::<_, String>(parts)
            })
            .map_err(EngineError::Source)?;
        if let Some(e) = self.undecodable.lock().take() {
            return Err(e);
        }
        Ok(Rdd::from_partitions(ctx, parts))
    }

    fn snapshot(&self) -> Option<Position> {
        Some(Position::KinesisCheckpoints(
            self.checkpoint_map().into_iter().collect(),
        ))
    }

    /// Recovery from a checkpoint: read on from where its completed batches stopped (the lease
    /// table may be ahead of the checkpointed state).
    fn restore(&self, snapshot: &Position) -> Result<()> {
        let Position::KinesisCheckpoints(checkpoints) = snapshot else {
            return Err(EngineError::IllegalState(
                "a Kinesis stream cannot restore another source's checkpoint".into(),
            ));
        };
        let mut shards = self.shards.lock();
        let mut completed = self.completed.lock();
        for (shard, checkpoint) in checkpoints {
            let state = shards.entry(shard.clone()).or_default();
            state.read = true;
            if checkpoint == SHARD_END {
                state.finished = true;
            } else {
                state.position = Some(checkpoint.clone());
                state.restored = true;
                completed.insert(shard.clone(), checkpoint.clone());
            }
        }
        Ok(())
    }

    fn on_batch_completed(&self, time: i64) {
        let held = {
            let mut pending = self.pending.lock();
            if pending.keys().next().is_some_and(|first| *first < time) {
                if !self.stalled.swap(true, Ordering::SeqCst) {
                    log::warn!(
                        "Kinesis: a batch of application {:?} failed; its positions and later \
                         ones are not checkpointed, a restarted program reads those records \
                         again",
                        self.config.app_name
                    );
                }
                return;
            }
            match pending.remove(&time) {
                Some(h) => h,
                None => return,
            }
        };
        self.completed.lock().extend(held);
    }

    /// The last checkpoint: what completed batches hold.
    fn on_stop(&self) {
        let Some(clients) = self.clients.get().cloned() else {
            return;
        };
        let flushed = crate::engine::source::runtime().block_on(async {
            tokio::time::timeout(Duration::from_secs(10), async {
                self.flush(&clients).await?;
                self.release_all(&clients).await
            })
            .await
        });
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("{e}"),
            Err(_) => log::warn!(
                "Kinesis: the last checkpoint of {:?} timed out",
                self.config.app_name
            ),
        }
    }

    fn log_target(&self) -> &'static str {
        module_path!()
    }
}
