//! The receiver framework: long-running tasks on the engine's async runtime that push records
//! into a bounded buffer, which each batch drains.
//!
//! A [`Receiver`] only knows how to receive (connect, read, decode); the framework around it
//! ([`ReceiverInput`]) does what Spark's receiver supervisor does for every receiver:
//! reports `onReceiverStarted` / `onReceiverError` / `onReceiverStopped` to listeners (and the
//! log), restarts a session that ended or failed after `spark.streaming.receiverRestartDelay`,
//! limits the rate (`spark.streaming.receiver.maxRate`, or what backpressure sets), and bounds
//! the records held between batches: when the buffer is full, [`BlockSink::push`] waits, so a
//! receiver reading from a socket stops reading and TCP slows the sender down, instead of memory
//! growing without bound. `on_batch_completed` lets a receiver commit what a completed batch
//! holds (e.g. a consumer group's offsets).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::{Partition, Rdd};
use crate::engine::source::Position;
use crate::engine::stream::graph::{EventSink, Input, InputBatch, RateBudget};
use crate::engine::stream::listener::Info;
use crate::engine::value::Value;

/// Default bound on records buffered between two batches.
pub const DEFAULT_MAX_BUFFERED: usize = 2_000_000;

/// How long one receiving session runs: `Ok` when it ended cleanly, `Err(message)` on failure.
pub type Session<'a> = Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send + 'a>>;

/// Something that receives records for a stream.
pub trait Receiver: Send + Sync + 'static {
    /// Spark's receiver name, e.g. `SocketReceiver-0`.
    fn name(&self, stream_id: usize) -> String;
    /// Checked at `start()`: e.g. that the receiver knows where to connect.
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// One session (e.g. one connection). Records go to `sink`.
    fn receive<'a>(&'a self, sink: &'a BlockSink) -> Session<'a>;
    /// Called when the batch at `time` took the buffered records (e.g. to note what it holds,
    /// or to log counts); an error fails the batch.
    fn on_batch(&self, _time: i64) -> Result<()> {
        Ok(())
    }
    /// The partitions of the batch at `time` from the records it took, and how many records
    /// it holds. By default one partition per worker thread (Spark: one per block interval),
    /// none when empty; a receiver that tags its records (e.g. with their shard) groups and
    /// untags them here.
    fn partition(
        &self,
        _time: i64,
        records: Vec<Value>,
        parallelism: usize,
    ) -> Result<(Vec<Partition>, i64)> {
        let count = records.len() as i64;
        if records.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let n = parallelism.min(records.len()).max(1);
        let chunk = records.len().div_ceil(n);
        Ok((
            records.chunks(chunk).map(<[Value]>::to_vec).collect(),
            count,
        ))
    }
    /// What replays the batch at `time` after a restart (e.g. the sequence numbers it
    /// holds), asked once after [`Receiver::partition`]; None: it cannot be replayed.
    fn position(&self, _time: i64) -> Option<Position> {
        None
    }
    /// The records of a checkpointed batch, read again from its position.
    fn replay(&self, _ctx: &Arc<EngineContext>, _position: &Position) -> Result<Arc<Rdd>> {
        Err(EngineError::Unsupported(
            "this receiver's batches cannot be replayed from a checkpoint".into(),
        ))
    }
    /// Where the receiver stands, kept in the checkpoint (e.g. the positions of completed
    /// batches), and put back at recovery before it starts.
    fn snapshot(&self) -> Option<Position> {
        None
    }
    fn restore(&self, _snapshot: &Position) -> Result<()> {
        Ok(())
    }
    /// Called after a batch holding this receiver's records completed.
    fn on_batch_completed(&self, _time: i64) {}
    /// Called once when the stream stops, after the last session ended (release clients,
    /// leave consumer groups).
    fn on_stop(&self) {}
    /// The log target (logger) of this receiver's messages: its own module's.
    fn log_target(&self) -> &'static str {
        module_path!()
    }
}

/// Settings of the framework.
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    pub restart_delay: Duration,
    /// Records held between batches at most (pushes wait beyond it).
    pub max_buffered: usize,
    /// Records per second at most (None: unlimited).
    pub max_rate: Option<u64>,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            restart_delay: Duration::from_secs(2),
            max_buffered: DEFAULT_MAX_BUFFERED,
            max_rate: None,
        }
    }
}

/// Where a receiver puts what it received.
pub struct BlockSink {
    buffer: Mutex<Vec<Value>>,
    max_buffered: usize,
    /// Records per second at most; 0 for no limit. Backpressure may lower it.
    rate: AtomicU64,
    limiter: Mutex<(Instant, f64)>,
    drained: Notify,
    stopped: AtomicBool,
    stop_signal: Notify,
    events: Mutex<Option<(EventSink, usize, String)>>,
}

impl BlockSink {
    fn new(config: &ReceiverConfig) -> BlockSink {
        BlockSink {
            buffer: Mutex::new(Vec::new()),
            max_buffered: config.max_buffered.max(1),
            rate: AtomicU64::new(config.max_rate.unwrap_or(0)),
            limiter: Mutex::new((Instant::now(), 0.0)),
            drained: Notify::new(),
            stopped: AtomicBool::new(false),
            stop_signal: Notify::new(),
            events: Mutex::new(None),
        }
    }

    /// Store `records`, waiting while the buffer is full or the rate limit is reached. Returns
    /// false when the receiver is being stopped (the records are dropped with it, as a
    /// stopped receiver's unstored data in Spark).
    pub async fn push(&self, mut records: Vec<Value>) -> bool {
        while !records.is_empty() {
            if self.stopped.load(Ordering::SeqCst) {
                return false;
            }
            let room = self.max_buffered.saturating_sub(self.buffer.lock().len());
            if room == 0 {
                tokio::select! {
                    _ = self.drained.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
            let allowed = self.allowed(room.min(records.len()));
            if allowed == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            let rest = records.split_off(allowed);
            self.buffer.lock().append(&mut records);
            records = rest;
        }
        true
    }

    /// How many of `wanted` records the rate limit lets through now (a token bucket holding
    /// at most one second of tokens).
    fn allowed(&self, wanted: usize) -> usize {
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 {
            return wanted;
        }
        let mut limiter = self.limiter.lock();
        let now = Instant::now();
        let (last, tokens) = *limiter;
        let tokens =
            (tokens + now.duration_since(last).as_secs_f64() * rate as f64).min(rate as f64);
        let take = (tokens.floor() as usize).min(wanted);
        *limiter = (now, tokens - take as f64);
        take
    }

    /// Report a problem that does not end the session (e.g. a dropped record) to listeners;
    /// the receiver logs a summary itself.
    pub fn report_error(&self, message: &str) {
        log::debug!("{message}");
        if let Some((events, id, name)) = self.events.lock().clone() {
            events(
                "onReceiverError",
                receiver_info(id, &name, true, Some(message)),
            );
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Resolves when the receiver is asked to stop.
    pub async fn stopping(&self) {
        while !self.is_stopped() {
            tokio::select! {
                _ = self.stop_signal.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    fn take(&self) -> Vec<Value> {
        let out = std::mem::take(&mut *self.buffer.lock());
        self.drained.notify_waiters();
        out
    }
}

fn receiver_info(stream_id: usize, name: &str, active: bool, error: Option<&str>) -> Info {
    Info::map(vec![
        ("streamId", Info::Int(stream_id as i64)),
        ("name", Info::Str(name.to_string())),
        ("active", Info::Bool(active)),
        ("location", Info::Str("localhost".into())),
        (
            "lastErrorMessage",
            Info::Str(error.unwrap_or_default().to_string()),
        ),
        (
            "lastError",
            Info::Str(error.unwrap_or_default().to_string()),
        ),
        (
            "lastErrorTime",
            Info::Int(if error.is_some() { now_ms() } else { -1 }),
        ),
    ])
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// An input stream fed by a [`Receiver`].
pub struct ReceiverInput<R: Receiver> {
    receiver: Arc<R>,
    config: ReceiverConfig,
    sink: Arc<BlockSink>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl<R: Receiver> ReceiverInput<R> {
    pub fn new(receiver: R, config: ReceiverConfig) -> ReceiverInput<R> {
        let sink = Arc::new(BlockSink::new(&config));
        ReceiverInput {
            receiver: Arc::new(receiver),
            config,
            sink,
            task: Mutex::new(None),
        }
    }

    /// Backpressure: the highest rate the stream keeps up with (None: back to the setting).
    pub fn set_rate(&self, rate: Option<u64>) {
        let limit = match (rate, self.config.max_rate) {
            (Some(r), Some(max)) => r.min(max),
            (Some(r), None) => r,
            (None, max) => max.unwrap_or(0),
        };
        self.sink.rate.store(limit, Ordering::Relaxed);
    }
}

async fn supervise<R: Receiver>(
    receiver: Arc<R>,
    sink: Arc<BlockSink>,
    restart_delay: Duration,
    stream_id: usize,
    events: EventSink,
) {
    let name = receiver.name(stream_id);
    events(
        "onReceiverStarted",
        receiver_info(stream_id, &name, true, None),
    );
    while !sink.is_stopped() {
        let outcome = tokio::select! {
            r = receiver.receive(&sink) => r,
            _ = sink.stopping() => break,
        };
        if sink.is_stopped() {
            break;
        }
        let msg = match outcome {
            Ok(()) => format!("{name} had no more data"),
            Err(e) => e,
        };
        // Worded as Spark's ReceiverSupervisor.
        log::warn!(
            target: receiver.log_target(),
            "Restarting receiver with delay {} ms: {msg}",
            restart_delay.as_millis()
        );
        events(
            "onReceiverError",
            receiver_info(stream_id, &name, true, Some(&msg)),
        );
        tokio::select! {
            _ = tokio::time::sleep(restart_delay) => {}
            _ = sink.stopping() => break,
        }
    }
    events(
        "onReceiverStopped",
        receiver_info(stream_id, &name, false, None),
    );
}

impl<R: Receiver> Input for ReceiverInput<R> {
    fn validate(&self) -> Result<()> {
        self.receiver.validate()
    }

    fn start(&self, stream_id: usize, events: EventSink) -> Result<()> {
        *self.sink.events.lock() = Some((events.clone(), stream_id, self.receiver.name(stream_id)));
        let task = supervise(
            self.receiver.clone(),
            self.sink.clone(),
            self.config.restart_delay,
            stream_id,
            events,
        );
        *self.task.lock() = Some(super::runtime().spawn(task));
        Ok(())
    }

    fn stop(&self) {
        self.sink.stopped.store(true, Ordering::SeqCst);
        self.sink.stop_signal.notify_waiters();
        self.sink.drained.notify_waiters();
        if let Some(handle) = self.task.lock().take() {
            // Wait (briefly) for the receiver to report that it stopped.
            let _ = super::runtime()
                .block_on(async { tokio::time::timeout(Duration::from_secs(2), handle).await });
        }
        self.receiver.on_stop();
    }

    fn batch(
        &self,
        ctx: &Arc<EngineContext>,
        time: i64,
        _budget: &RateBudget,
    ) -> Result<InputBatch> {
        let records = self.sink.take();
        let (parts, count) = self.receiver.partition(time, records, ctx.parallelism())?;
        let position = self.receiver.position(time);
        self.receiver.on_batch(time)?;
        Ok(InputBatch {
            rdd: Rdd::from_partitions(ctx, parts),
            records: Some(count),
            position,
        })
    }

    fn replay(
        &self,
        ctx: &Arc<EngineContext>,
        _time: i64,
        position: &Position,
    ) -> Result<Arc<Rdd>> {
        self.receiver.replay(ctx, position)
    }

    fn snapshot(&self) -> Option<Position> {
        self.receiver.snapshot()
    }

    fn restore(&self, snapshot: &Position) -> Result<()> {
        self.receiver.restore(snapshot)
    }

    fn on_batch_completed(&self, time: i64) {
        self.receiver.on_batch_completed(time);
    }

    fn set_rate(&self, records_per_second: Option<u64>) {
        ReceiverInput::set_rate(self, records_per_second);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buffer_makes_push_wait_until_a_batch_drains_it() {
        let sink = Arc::new(BlockSink::new(&ReceiverConfig {
            max_buffered: 3,
            ..ReceiverConfig::default()
        }));
        let rt = super::super::runtime();
        let pusher = sink.clone();
        let push = rt.spawn(async move { pusher.push((0..5).map(Value::Int).collect()).await });
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.buffer.lock().len() < 3 {
            assert!(Instant::now() < deadline, "the receiver never pushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(sink.buffer.lock().len(), 3, "only what fits");
        assert!(!push.is_finished(), "the receiver waits");
        assert_eq!(sink.take().len(), 3);
        assert!(rt.block_on(push).unwrap());
        assert_eq!(sink.take().len(), 2);
    }

    #[test]
    fn the_rate_limit_holds_records_back() {
        let sink = BlockSink::new(&ReceiverConfig {
            max_rate: Some(100),
            ..ReceiverConfig::default()
        });
        // A fresh bucket is empty: nothing passes at once, about 100 per second after.
        assert_eq!(sink.allowed(50), 0);
        std::thread::sleep(Duration::from_millis(200));
        let n = sink.allowed(1000);
        // At least 200 ms worth; never more than one second's worth (the bucket's size).
        assert!((20..=100).contains(&n), "{n}");
    }
}
