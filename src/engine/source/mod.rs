//! Input sources beyond `queueStream`: watched directories, TCP socket receivers, Kafka and
//! Kinesis.

pub mod files;
pub mod kafka;
pub mod kinesis;
pub mod receiver;
pub mod socket;
pub mod zookeeper;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Where a source's data for a batch, or the source itself, stands: what a checkpoint keeps so
/// that a restart replays exactly the same data. Typed, so the engine reads and writes it
/// without the host language.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Position {
    /// The files one batch of a file stream read, in order.
    Files(Vec<String>),
    /// A file stream's memory of recently selected files (by batch time) and the modification
    /// time before which files are never new.
    FileSelection {
        threshold: i64,
        selected: Vec<(i64, Vec<String>)>,
    },
    /// The Kafka offset ranges one batch of a direct stream read.
    KafkaRanges(Vec<kafka::OffsetRange>),
    /// Where a direct Kafka stream goes on reading: the next offset of each topic partition.
    KafkaOffsets(Vec<(String, i32, i64)>),
    /// The sequence numbers one batch of a Kinesis receiver held, per shard: replayed after a
    /// restart by reading them again.
    KinesisRanges(Vec<kinesis::SequenceRange>),
    /// Where a Kinesis receiver goes on reading: each shard's last sequence number processed
    /// by a completed batch (or `SHARD_END`).
    KinesisCheckpoints(Vec<(String, String)>),
}

/// The engine's async runtime for receivers (created on first use, shared process-wide).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ferrostream-receiver")
            .enable_all()
            .build()
            .expect("the receiver runtime starts (threads are available)")
    })
}
