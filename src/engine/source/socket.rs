//! `socketTextStream`: a receiver that connects to a TCP server and collects UTF-8 lines.
//!
//! As Spark restarts a failed receiver, this one reconnects after `restart_delay` when the
//! server is not up yet or goes away, reporting each failure to listeners
//! (`onReceiverError`) and a WARN in the log at each attempt, worded as Spark's receiver
//! supervisor words it; the context keeps running. Invalid UTF-8 is replaced and counted; a
//! line longer than `max_line` bytes is reported to listeners and dropped rather than buffered
//! without bound. Both counts are logged as one WARN per batch that had any.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use crate::engine::error::{EngineError, Result};
use crate::engine::source::receiver::{
    BlockSink, Receiver, ReceiverConfig, ReceiverInput, Session,
};
use crate::engine::value::Value;

pub const DEFAULT_MAX_LINE: usize = 64 << 20;

/// `socketTextStream`'s input: the socket receiver in the receiver framework.
pub type SocketInput = ReceiverInput<SocketReceiver>;

/// Reads UTF-8 lines from a TCP server.
pub struct SocketReceiver {
    host: String,
    port: u16,
    max_line: usize,
    /// Lines with invalid UTF-8 since the last batch.
    invalid: AtomicU64,
    /// Lines longer than `max_line` dropped since the last batch.
    dropped: AtomicU64,
}

impl SocketReceiver {
    pub fn new(host: &str, port: i64, max_line: usize) -> Result<Self> {
        let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
            EngineError::InvalidArgument(format!("port must be in 1..65535, got {port}"))
        })?;
        Ok(SocketReceiver {
            host: host.to_string(),
            port,
            max_line: max_line.max(1),
            invalid: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// The input stream of `socketTextStream(host, port)`.
    pub fn input(
        host: &str,
        port: i64,
        max_line: usize,
        restart_delay: Duration,
        max_rate: Option<u64>,
    ) -> Result<SocketInput> {
        let config = ReceiverConfig {
            restart_delay,
            max_rate,
            ..ReceiverConfig::default()
        };
        Ok(ReceiverInput::new(
            SocketReceiver::new(host, port, max_line)?,
            config,
        ))
    }

    /// One connection: Ok at end of stream, Err with a message on failure.
    async fn session(&self, sink: &BlockSink) -> std::result::Result<(), String> {
        let addr = format!("{}:{}", self.host, self.port);
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
                sink.push(batch).await;
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
                    if line.len() + body.len() > self.max_line {
                        oversized = true;
                        line.clear();
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        sink.report_error(&format!(
                            "a line from {addr} is longer than the limit of {} bytes; it was \
                             dropped",
                            self.max_line
                        ));
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
            if !batch.is_empty() && !sink.push(std::mem::take(&mut batch)).await {
                return Ok(());
            }
        }
    }

    fn decode(&self, bytes: &[u8]) -> Value {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(s) => Value::str(s),
            Err(_) => {
                self.invalid.fetch_add(1, Ordering::Relaxed);
                Value::str(&String::from_utf8_lossy(bytes))
            }
        }
    }
}

impl Receiver for SocketReceiver {
    fn name(&self, stream_id: usize) -> String {
        format!("SocketReceiver-{stream_id}")
    }

    fn receive<'a>(&'a self, sink: &'a BlockSink) -> Session<'a> {
        Box::pin(self.session(sink))
    }

    fn log_target(&self) -> &'static str {
        module_path!()
    }

    fn on_batch(&self, _time: i64) -> Result<()> {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            log::warn!(
                "{dropped} line(s) from {}:{} were longer than the limit of {} bytes \
                 (spark.ferrostream.socket.maxLineBytes) and were dropped",
                self.host,
                self.port,
                self.max_line
            );
        }
        let invalid = self.invalid.swap(0, Ordering::Relaxed);
        if invalid > 0 {
            log::warn!(
                "{invalid} line(s) from {}:{} were not valid UTF-8; invalid bytes were replaced",
                self.host,
                self.port
            );
        }
        Ok(())
    }
}
