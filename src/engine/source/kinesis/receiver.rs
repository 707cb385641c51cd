//! The Kinesis receiver: reads every shard of a stream, parents before children, and records
//! the positions of completed batches in the application's DynamoDB lease table.
//!
//! A session lists the shards, reads (in rounds, all readable shards at once) with
//! `GetRecords`, and tags each record with its shard and sequence number, so the batch that
//! takes it knows exactly which positions it holds ([`Receiver::partition`]: one partition per
//! shard). Positions move to "completed" when their batch completed, and completed positions
//! are written to the table every `checkpointInterval` and when the stream stops. A shard whose
//! end was read and whose last record's batch completed is checkpointed `SHARD_END`; its
//! children are read only after it ended, so records of one partition key stay in order across
//! a reshard. Throttling, expired iterators and network errors are retried with backoff and
//! reported as receiver errors; anything else ends the session, which the framework restarts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use parking_lot::Mutex;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::leases::{LeaseTable, SHARD_END};
use super::{
    describe, error_code, is_transient, seq_le, DataFormat, InitialPosition, KinesisConfig,
    SequenceRange,
};
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::{Partition, Rdd};
use crate::engine::source::receiver::{
    BlockSink, Receiver, ReceiverConfig, ReceiverInput, Session,
};
use crate::engine::source::Position;
use crate::engine::value::Value;

/// `createStream`'s input: the Kinesis receiver in the receiver framework.
pub type KinesisInput = ReceiverInput<KinesisReceiver>;

/// Records asked for per `GetRecords` call (the service's maximum).
const RECORDS_PER_CALL: i32 = 10_000;
/// Pause between rounds that returned nothing (the service allows 5 reads/s per shard).
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// How often the shard list is read again (new shards after a reshard).
const RELIST: Duration = Duration::from_secs(10);
/// Backoff bounds of retried calls.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

struct Clients {
    kinesis: Client,
    leases: LeaseTable,
}

/// What is known of one shard.
#[derive(Clone, Debug, Default)]
struct ShardState {
    parents: Vec<String>,
    /// The sequence number of the last record handed to the buffer (or the checkpoint read
    /// from the table), if any.
    position: Option<String>,
    /// The shard's end was read; the last sequence number handed out then (None: no record
    /// of the shard was handed out in this program).
    ended: Option<Option<String>>,
    /// Checkpointed `SHARD_END`, or closed and skipped (LATEST): never read again.
    finished: bool,
    /// Whether records of it were (or are being) read: its children start at TRIM_HORIZON.
    read: bool,
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
    config: KinesisConfig,
    owner: String,
    clients: OnceCell<Arc<Clients>>,
    shards: Mutex<BTreeMap<String, ShardState>>,
    /// Shard ids by the ordinal their records are tagged with.
    ordinals: Mutex<Vec<String>>,
    /// The last sequence number of each shard that each batch (by time) holds.
    pending: Mutex<BTreeMap<i64, HashMap<String, String>>>,
    /// The sequence ranges each generated batch holds, until its position is asked for.
    ranges: Mutex<BTreeMap<i64, Vec<SequenceRange>>>,
    /// Positions whose batches completed, and what the table holds.
    completed: Mutex<HashMap<String, String>>,
    written: Mutex<HashMap<String, String>>,
    /// A record whose data is not UTF-8 was buffered: the batch holding it fails.
    undecodable: Mutex<Option<EngineError>>,
    /// A batch failed: positions no longer advance.
    stalled: AtomicBool,
}

impl KinesisReceiver {
    pub fn input(config: KinesisConfig, receiver: ReceiverConfig) -> KinesisInput {
        let owner = format!(
            "ferrostream-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        );
        ReceiverInput::new(
            KinesisReceiver {
                config,
                owner,
                clients: OnceCell::new(),
                shards: Mutex::new(BTreeMap::new()),
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

    async fn clients(&self) -> std::result::Result<Arc<Clients>, String> {
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

    fn ordinal(&self, shard: &str) -> i64 {
        let mut ordinals = self.ordinals.lock();
        match ordinals.iter().position(|s| s == shard) {
            Some(i) => i as i64,
            None => {
                ordinals.push(shard.to_string());
                (ordinals.len() - 1) as i64
            }
        }
    }

    /// The shards of the stream with their parents.
    async fn list_shards(
        &self,
        client: &Client,
    ) -> std::result::Result<Vec<(String, Vec<String>, bool)>, String> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = client.list_shards();
            call = match &token {
                Some(t) => call.next_token(t),
                None => call.stream_name(&self.config.stream_name),
            };
            let page = call.send().await.map_err(|e| {
                describe(
                    format!("listing the shards of {}", self.config.target()),
                    &e,
                )
            })?;
            for s in page.shards() {
                let parents: Vec<String> = [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(str::to_string)
                    .collect();
                let closed = s
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_some();
                out.push((s.shard_id().to_string(), parents, closed));
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(out),
            }
        }
    }

    /// Note the listed shards, and the readers to start: shards not finished whose parents
    /// (those still listed) are finished.
    fn plan(&self, listed: &[(String, Vec<String>, bool)], readers: &[Reader]) -> Vec<String> {
        let mut shards = self.shards.lock();
        let listed_ids: HashSet<&str> = listed.iter().map(|(id, _, _)| id.as_str()).collect();
        for (id, parents, closed) in listed {
            let state = shards.entry(id.clone()).or_default();
            state.parents.clone_from(parents);
            // LATEST: a closed shard never read has nothing at the latest position.
            if *closed
                && !state.read
                && state.position.is_none()
                && self.config.initial_position == InitialPosition::Latest
            {
                state.finished = true;
            }
        }
        let done = |id: &str, shards: &BTreeMap<String, ShardState>| {
            !listed_ids.contains(id)
                || shards
                    .get(id)
                    .is_some_and(|s| s.finished || s.ended.is_some())
        };
        let mut start = Vec::new();
        for (id, parents, _) in listed {
            if done(id, &shards) || readers.iter().any(|r| &r.shard == id) {
                continue;
            }
            if parents.iter().all(|p| done(p, &shards)) {
                start.push(id.clone());
            }
        }
        start
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

    async fn session(&self, sink: &BlockSink) -> std::result::Result<(), String> {
        let clients = self.clients().await?;
        let recorded = clients.leases.checkpoints().await?;
        {
            let mut shards = self.shards.lock();
            let mut written = self.written.lock();
            for (shard, checkpoint) in recorded {
                let state = shards.entry(shard.clone()).or_default();
                // What this program read or restored from its checkpoint comes first.
                if state.position.is_none() && !state.finished {
                    if checkpoint == SHARD_END {
                        state.finished = true;
                        state.read = true;
                    } else if !checkpoint.is_empty() {
                        state.position = Some(checkpoint.clone());
                        state.read = true;
                    }
                }
                written.insert(shard, checkpoint);
            }
        }
        let mut readers: Vec<Reader> = Vec::new();
        let mut relist_at = Instant::now();
        let mut checkpoint_at = Instant::now() + self.config.checkpoint_interval;
        loop {
            if Instant::now() >= relist_at {
                let listed = self.list_shards(&clients.kinesis).await?;
                for shard in self.plan(&listed, &readers) {
                    log::debug!(
                        "Kinesis: reading shard {shard} of {}",
                        self.config.stream_name
                    );
                    self.shards.lock().entry(shard.clone()).or_default().read = true;
                    readers.push(Reader {
                        ordinal: self.ordinal(&shard),
                        shard,
                        iterator: None,
                        retry_at: None,
                        backoff: BACKOFF_MIN,
                        failing: false,
                    });
                }
                relist_at = Instant::now() + RELIST;
            }
            let results = futures::future::join_all(readers.iter_mut().map(|r| {
                let client = &clients.kinesis;
                async move {
                    let result = self.read(client, r, sink).await;
                    (r.shard.clone(), result)
                }
            }))
            .await;
            let mut received = 0;
            let mut ended = Vec::new();
            for (shard, result) in results {
                let (values, end) = result?;
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
                relist_at = Instant::now();
            }
            if Instant::now() >= checkpoint_at {
                if let Err(e) = self.flush(&clients).await {
                    log::warn!("{e}; retried at the next checkpoint");
                    sink.report_error(&e);
                }
                checkpoint_at = Instant::now() + self.config.checkpoint_interval;
            }
            if received == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_WAIT) => {}
                    _ = sink.stopping() => return Ok(()),
                }
            }
        }
    }

    /// Write the positions of completed batches (and `SHARD_END` for shards read to their end
    /// whose last records completed) that the table does not hold yet.
    async fn flush(&self, clients: &Clients) -> std::result::Result<(), String> {
        let due = self.checkpoint_map();
        let todo: Vec<(String, String, Vec<String>)> = {
            let written = self.written.lock();
            let shards = self.shards.lock();
            due.into_iter()
                .filter(|(shard, c)| written.get(shard) != Some(c))
                .map(|(shard, c)| {
                    let parents = shards
                        .get(&shard)
                        .map(|s| s.parents.clone())
                        .unwrap_or_default();
                    (shard, c, parents)
                })
                .collect()
        };
        for (shard, checkpoint, parents) in todo {
            clients.leases.write(&shard, &checkpoint, &parents).await?;
            log::debug!("Kinesis: checkpointed {shard} at {checkpoint}");
            self.written.lock().insert(shard, checkpoint);
        }
        Ok(())
    }
}

impl KinesisReceiver {
    /// What the lease table should hold: the position of each shard's last record whose batch
    /// completed, `SHARD_END` for shards read to their end whose last records completed.
    fn checkpoint_map(&self) -> BTreeMap<String, String> {
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

    /// The records `range.first..=range.last` of a shard, read again.
    async fn read_range(&self, range: &SequenceRange) -> std::result::Result<Vec<Value>, String> {
        let clients = self.clients().await?;
        let client = &clients.kinesis;
        let doing = format!(
            "reading {} from {} to {} again",
            range.shard, range.first, range.last
        );
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(&self.config.stream_name)
            .shard_id(&range.shard)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(&range.first)
            .send()
            .await
            .map_err(|e| describe(&doing, &e))?
            .shard_iterator()
            .map(str::to_string);
        let mut out = Vec::new();
        let mut empty_reads = 0;
        let mut backoff = BACKOFF_MIN;
        while let Some(it) = iterator.take() {
            let page = match client.get_records().shard_iterator(it.clone()).send().await {
                Ok(page) => page,
                Err(e) if is_transient(error_code(&e).as_deref()) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    iterator = Some(it);
                    continue;
                }
                Err(e) => return Err(describe(&doing, &e)),
            };
            for r in page.records() {
                if !seq_le(&range.first, r.sequence_number()) {
                    continue;
                }
                if !seq_le(r.sequence_number(), &range.last) {
                    return Ok(out);
                }
                out.push(self.decode(r.data().as_ref(), r.sequence_number(), &range.shard));
                if r.sequence_number() == range.last {
                    return Ok(out);
                }
            }
            empty_reads = if page.records().is_empty() {
                empty_reads + 1
            } else {
                0
            };
            if empty_reads > 20 {
                break;
            }
            iterator = page.next_shard_iterator().map(str::to_string);
        }
        Err(format!(
            "Kinesis: {doing}: the shard no longer holds them (past its retention period?)"
        ))
    }

    fn decode(&self, data: &[u8], seq: &str, shard: &str) -> Value {
        match self.config.format {
            DataFormat::Bytes => Value::Bytes(Arc::from(data)),
            DataFormat::Utf8 => match std::str::from_utf8(data) {
                Ok(s) => Value::Str(Arc::from(s)),
                Err(_) => {
                    self.undecodable.lock().get_or_insert(EngineError::Utf8 {
                        context: format!(
                            "the data of the Kinesis record {seq} of {shard} is not UTF-8 (give \
                             createStream a decoder for bytes)"
                        ),
                        bytes: data.to_vec(),
                    });
                    Value::Bytes(Arc::from(data))
                }
            },
        }
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
        let count = records.len() as i64;
        let mut by_shard: BTreeMap<i64, Partition> = BTreeMap::new();
        let mut last: HashMap<i64, Arc<str>> = HashMap::new();
        let mut first: BTreeMap<i64, Arc<str>> = BTreeMap::new();
        for record in records {
            let Value::Tuple(t) = record else {
                continue;
            };
            let (Value::Int(ordinal), Value::Str(seq)) = (&t[0], &t[1]) else {
                continue;
            };
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
            tokio::time::timeout(Duration::from_secs(10), self.flush(&clients)).await
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
