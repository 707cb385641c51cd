//! `socketTextStream`: a receiver that connects to a TCP server and collects UTF-8 lines.
//!
//! As Spark restarts a failed receiver, this one reconnects after `restart_delay` when the
//! server is not up yet or goes away, reporting each failure to listeners
//! (`onReceiverError`) and a WARN in the log at each attempt, worded as Spark's receiver
//! supervisor words it; the context keeps running. Invalid UTF-8 is replaced and counted; a
//! line longer than `max_line` bytes is reported to listeners and dropped rather than buffered
//! without bound. Both counts are logged as one WARN per batch that had any.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::{Partition, Rdd};
use crate::engine::stream::graph::{EventSink, Input, InputBatch};
use crate::engine::stream::listener::Info;
use crate::engine::value::Value;

pub const DEFAULT_MAX_LINE: usize = 64 << 20;

pub struct SocketInput {
    shared: Arc<Shared>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the input and its receiver task share.
struct Shared {
    host: String,
    port: u16,
    max_line: usize,
    restart_delay: Duration,
    /// Lines received and not yet handed to a batch.
    received: Mutex<Vec<Value>>,
    /// Lines with invalid UTF-8 since the last batch.
    invalid: AtomicU64,
    /// Lines longer than `max_line` dropped since the last batch.
    dropped: AtomicU64,
    stopped: AtomicBool,
    stop_signal: Notify,
}

impl SocketInput {
    pub fn new(host: &str, port: i64, max_line: usize, restart_delay: Duration) -> Result<Self> {
        let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
            EngineError::InvalidArgument(format!("port must be in 1..65535, got {port}"))
        })?;
        Ok(SocketInput {
            shared: Arc::new(Shared {
                host: host.to_string(),
                port,
                max_line: max_line.max(1),
                restart_delay,
                received: Mutex::new(Vec::new()),
                invalid: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                stopped: AtomicBool::new(false),
                stop_signal: Notify::new(),
            }),
            task: Mutex::new(None),
        })
    }
}

struct Receiver {
    stream_id: usize,
    name: String,
    shared: Arc<Shared>,
    events: EventSink,
}

impl Receiver {
    fn info(&self, active: bool, error: Option<&str>) -> Info {
        Info::map(vec![
            ("streamId", Info::Int(self.stream_id as i64)),
            ("name", Info::Str(self.name.clone())),
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

    async fn run(self) {
        (self.events)("onReceiverStarted", self.info(true, None));
        while !self.shared.stopped.load(Ordering::SeqCst) {
            let outcome = tokio::select! {
                r = self.receive() => r,
                _ = self.shared.stop_signal.notified() => break,
            };
            if self.shared.stopped.load(Ordering::SeqCst) {
                break;
            }
            let msg = match outcome {
                Ok(()) => "Socket data stream had no more data".to_string(),
                Err(e) => e,
            };
            log::warn!(
                "Restarting receiver with delay {} ms: {msg}",
                self.shared.restart_delay.as_millis()
            );
            (self.events)("onReceiverError", self.info(true, Some(&msg)));
            tokio::select! {
                _ = tokio::time::sleep(self.shared.restart_delay) => {}
                _ = self.shared.stop_signal.notified() => break,
            }
        }
        (self.events)("onReceiverStopped", self.info(false, None));
    }

    /// One connection: Ok at end of stream, Err with a message on failure.
    async fn receive(&self) -> std::result::Result<(), String> {
        let addr = format!("{}:{}", self.shared.host, self.shared.port);
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("Error connecting to {addr}: {e}"))?;
        let mut reader = BufReader::with_capacity(1 << 16, stream);
        let mut line = Vec::new();
        let mut oversized = false;
        let mut batch: Vec<Value> = Vec::new();
        loop {
            let buf = reader
                .fill_buf()
                .await
                .map_err(|e| format!("Error receiving data from {addr}: {e}"))?;
            if buf.is_empty() {
                if !line.is_empty() && !oversized {
                    batch.push(self.decode(&line));
                }
                self.shared.received.lock().append(&mut batch);
                return Ok(());
            }
            let mut consumed = 0;
            for chunk in buf.split_inclusive(|&b| b == b'\n') {
                consumed += chunk.len();
                let (body, complete) = match chunk.strip_suffix(b"\n") {
                    Some(b) => (b, true),
                    None => (chunk, false),
                };
                if !oversized {
                    if line.len() + body.len() > self.shared.max_line {
                        oversized = true;
                        line.clear();
                        let msg = format!(
                            "a line from {addr} is longer than the limit of {} bytes; it was dropped",
                            self.shared.max_line
                        );
                        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                        (self.events)("onReceiverError", self.info(true, Some(&msg)));
                    } else {
                        line.extend_from_slice(body);
                    }
                }
                if complete {
                    if !oversized {
                        batch.push(self.decode(&line));
                    }
                    line.clear();
                    oversized = false;
                }
            }
            reader.consume(consumed);
            if !batch.is_empty() {
                self.shared.received.lock().append(&mut batch);
            }
        }
    }

    fn decode(&self, bytes: &[u8]) -> Value {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(s) => Value::str(s),
            Err(_) => {
                self.shared.invalid.fetch_add(1, Ordering::Relaxed);
                Value::str(&String::from_utf8_lossy(bytes))
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Input for SocketInput {
    fn start(&self, stream_id: usize, events: EventSink) -> Result<()> {
        let receiver = Receiver {
            stream_id,
            name: format!("SocketReceiver-{stream_id}"),
            shared: self.shared.clone(),
            events,
        };
        let handle = super::runtime().spawn(receiver.run());
        *self.task.lock() = Some(handle);
        Ok(())
    }

    fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.stop_signal.notify_waiters();
        self.shared.stop_signal.notify_one();
        if let Some(handle) = self.task.lock().take() {
            // Wait (briefly) for the receiver to report that it stopped.
            let _ = super::runtime()
                .block_on(async { tokio::time::timeout(Duration::from_secs(2), handle).await });
        }
    }

    fn batch(&self, ctx: &Arc<EngineContext>, _time: i64) -> Result<InputBatch> {
        let lines = std::mem::take(&mut *self.shared.received.lock());
        let invalid = self.shared.invalid.swap(0, Ordering::Relaxed);
        let dropped = self.shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            log::warn!(
                "{dropped} line(s) from {}:{} were longer than the limit of {} bytes \
                 (spark.ferrostream.socket.maxLineBytes) and were dropped",
                self.shared.host,
                self.shared.port,
                self.shared.max_line
            );
        }
        if invalid > 0 {
            log::warn!(
                "{invalid} line(s) from {}:{} were not valid UTF-8; invalid bytes were replaced",
                self.shared.host,
                self.shared.port
            );
        }
        let records = lines.len() as i64;
        // One partition per worker thread (Spark: one per block interval), none when empty.
        let parts: Vec<Partition> = if lines.is_empty() {
            Vec::new()
        } else {
            let n = ctx.parallelism().min(lines.len()).max(1);
            let chunk = lines.len().div_ceil(n);
            lines.chunks(chunk).map(<[Value]>::to_vec).collect()
        };
        Ok(InputBatch {
            rdd: Rdd::from_partitions(ctx, parts),
            records: Some(records),
            position: None,
        })
    }
}
