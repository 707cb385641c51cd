//! The streaming figures the UI shows, built from the engine's listener events (the same
//! events, with the same figures, a StreamingListener receives). Bounded: the last
//! `retained` completed batches and the batches still running.

use std::collections::{BTreeMap, VecDeque};

use parking_lot::Mutex;

use crate::engine::stream::listener::{Info, Listener};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One output operation of one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Epoch ms, -1 when unknown.
    pub start: i64,
    pub end: i64,
    pub failure: Option<String>,
}

/// One batch, as the listener saw it (times in epoch ms, -1 when not yet known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    pub batch_time: i64,
    pub submission: i64,
    pub start: i64,
    pub end: i64,
    /// Records per input stream id.
    pub inputs: Vec<(i64, i64)>,
    pub ops: BTreeMap<i64, OpRecord>,
}

impl BatchRecord {
    pub fn input_size(&self) -> i64 {
        self.inputs.iter().map(|(_, n)| n).sum()
    }

    pub fn scheduling_delay(&self) -> Option<i64> {
        (self.start >= 0 && self.submission >= 0).then(|| self.start - self.submission)
    }

    pub fn processing_time(&self) -> Option<i64> {
        (self.end >= 0 && self.start >= 0).then(|| self.end - self.start)
    }

    pub fn total_delay(&self) -> Option<i64> {
        (self.end >= 0 && self.submission >= 0).then(|| self.end - self.submission)
    }

    /// Spark's status names.
    pub fn status(&self) -> &'static str {
        if self.end >= 0 {
            "COMPLETED"
        } else if self.start >= 0 {
            "PROCESSING"
        } else {
            "QUEUED"
        }
    }
}

/// A receiver, as its last event described it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiverRecord {
    pub stream_id: i64,
    pub name: String,
    pub active: bool,
    pub location: String,
    pub last_error: Option<String>,
    pub last_error_time: Option<i64>,
}

#[derive(Default)]
pub struct StreamingData {
    /// When the streaming context started (epoch ms), once it did.
    pub start_time: Option<i64>,
    /// Submitted batches not yet completed, by batch time.
    pub active: BTreeMap<i64, BatchRecord>,
    /// The last completed batches, oldest first.
    pub completed: VecDeque<BatchRecord>,
    pub total_completed: u64,
    /// Records of every submitted batch (Spark's numReceivedRecords).
    pub received_records: u64,
    /// Records of every completed batch (Spark's numProcessedRecords).
    pub processed_records: u64,
    pub receivers: BTreeMap<i64, ReceiverRecord>,
}

/// The figures of one streaming context.
pub struct StreamingStore {
    pub batch_ms: i64,
    retained: usize,
    /// Output operations per batch (every batch runs all of them), once started.
    output_ops: std::sync::atomic::AtomicUsize,
    data: Mutex<StreamingData>,
}

fn field<'a>(info: &'a Info, key: &str) -> Option<&'a Info> {
    match info {
        Info::Map(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn int(info: &Info, key: &str) -> i64 {
    match field(info, key) {
        Some(Info::Int(v)) => *v,
        _ => -1,
    }
}

fn text(info: &Info, key: &str) -> Option<String> {
    match field(info, key) {
        Some(Info::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

fn op_record(info: &Info) -> OpRecord {
    OpRecord {
        id: int(info, "id"),
        name: text(info, "name").unwrap_or_default(),
        description: text(info, "description").unwrap_or_default(),
        start: int(info, "startTime"),
        end: int(info, "endTime"),
        failure: text(info, "failureReason"),
    }
}

fn batch_record(info: &Info) -> BatchRecord {
    let inputs = match field(info, "streamIdToInputInfo") {
        Some(Info::Map(streams)) => streams
            .iter()
            .map(|(_, s)| (int(s, "inputStreamId"), int(s, "numRecords").max(0)))
            .collect(),
        _ => Vec::new(),
    };
    let ops = match field(info, "outputOperationInfos") {
        Some(Info::Map(ops)) => ops
            .iter()
            .map(|(_, o)| {
                let op = op_record(o);
                (op.id, op)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    BatchRecord {
        batch_time: int(info, "batchTime"),
        submission: int(info, "submissionTime"),
        start: int(info, "processingStartTime"),
        end: int(info, "processingEndTime"),
        inputs,
        ops,
    }
}

impl StreamingStore {
    pub fn new(batch_ms: i64, retained: usize) -> StreamingStore {
        StreamingStore {
            batch_ms,
            retained,
            output_ops: std::sync::atomic::AtomicUsize::new(0),
            data: Mutex::new(StreamingData::default()),
        }
    }

    /// The number of output operations each batch runs (known when the context starts).
    pub fn set_output_ops(&self, n: usize) {
        self.output_ops
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Output operations of `batch`: all that it runs, also those not started yet.
    pub fn total_ops(&self, batch: &BatchRecord) -> usize {
        batch
            .ops
            .len()
            .max(self.output_ops.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Read the figures under the store's lock (keep `f` short).
    pub fn read<R>(&self, f: impl FnOnce(&StreamingData) -> R) -> R {
        f(&self.data.lock())
    }

    fn on_batch(&self, name: &str, info: &Info) {
        let record = batch_record(info);
        let mut d = self.data.lock();
        match name {
            "onBatchSubmitted" => {
                d.received_records += record.input_size() as u64;
                d.active.insert(record.batch_time, record);
            }
            "onBatchStarted" => {
                // Output operations already reported stay (events arrive in order, but keep
                // whatever is newer).
                let ops = d
                    .active
                    .get(&record.batch_time)
                    .map(|b| b.ops.clone())
                    .unwrap_or_default();
                let mut record = record;
                if record.ops.is_empty() {
                    record.ops = ops;
                }
                d.active.insert(record.batch_time, record);
            }
            _ => {
                // onBatchCompleted
                d.active.remove(&record.batch_time);
                d.total_completed += 1;
                d.processed_records += record.input_size() as u64;
                d.completed.push_back(record);
                while d.completed.len() > self.retained {
                    d.completed.pop_front();
                }
            }
        }
    }

    fn on_op(&self, info: &Info) {
        let time = int(info, "batchTime");
        let op = op_record(info);
        let mut d = self.data.lock();
        if let Some(batch) = d.active.get_mut(&time) {
            batch.ops.insert(op.id, op);
        }
    }

    fn on_receiver(&self, name: &str, info: &Info) {
        let id = int(info, "streamId");
        let mut d = self.data.lock();
        let r = d.receivers.entry(id).or_default();
        r.stream_id = id;
        r.name = text(info, "name").unwrap_or_default();
        r.location = text(info, "location").unwrap_or_default();
        r.active =
            name != "onReceiverStopped" && matches!(field(info, "active"), Some(Info::Bool(true)));
        if name == "onReceiverError" {
            let message = text(info, "lastErrorMessage").filter(|m| !m.is_empty());
            if message.is_some() {
                r.last_error = message;
                let t = int(info, "lastErrorTime");
                r.last_error_time = Some(if t >= 0 { t } else { now_ms() });
            }
        }
    }
}

impl Listener for StreamingStore {
    fn on_event(&self, name: &str, info: &Info) {
        match name {
            "onStreamingStarted" => {
                let t = int(info, "time");
                self.data.lock().start_time = Some(if t >= 0 { t } else { now_ms() });
            }
            "onBatchSubmitted" | "onBatchStarted" | "onBatchCompleted" => self.on_batch(name, info),
            "onOutputOperationStarted" | "onOutputOperationCompleted" => self.on_op(info),
            "onReceiverStarted" | "onReceiverError" | "onReceiverStopped" => {
                self.on_receiver(name, info)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stream::listener::{BatchInfo, OutputOpInfo};

    fn batch(time: i64, records: i64) -> BatchInfo {
        BatchInfo {
            batch_time: time,
            submission_time: time + 1,
            processing_start: -1,
            processing_end: -1,
            inputs: vec![(0, records)],
            outputs: Vec::new(),
        }
    }

    fn run(store: &StreamingStore, time: i64, records: i64, failure: Option<&str>) {
        let mut b = batch(time, records);
        store.on_event("onBatchSubmitted", &b.to_info());
        b.processing_start = time + 3;
        store.on_event("onBatchStarted", &b.to_info());
        let mut op = OutputOpInfo {
            id: 0,
            name: "pprint".into(),
            description: "pprint at x.py:3".into(),
            start: time + 3,
            end: -1,
            failure: None,
        };
        store.on_event("onOutputOperationStarted", &op.to_info(time));
        assert_eq!(store.read(|d| d.active[&time].ops.len()), 1);
        op.end = time + 10;
        op.failure = failure.map(str::to_string);
        store.on_event("onOutputOperationCompleted", &op.to_info(time));
        b.outputs.push(op);
        b.processing_end = time + 10;
        store.on_event("onBatchCompleted", &b.to_info());
    }

    #[test]
    fn completed_batches_are_kept_up_to_the_retained_count() {
        let store = StreamingStore::new(1000, 3);
        for i in 0..10 {
            run(&store, 1000 * i, i, (i == 9).then_some("boom"));
        }
        store.read(|d| {
            assert!(d.active.is_empty());
            assert_eq!(d.total_completed, 10);
            assert_eq!(d.received_records, 45);
            assert_eq!(d.processed_records, 45);
            let times: Vec<i64> = d.completed.iter().map(|b| b.batch_time).collect();
            assert_eq!(times, [7000, 8000, 9000]);
            let last = d.completed.back().unwrap();
            assert_eq!(last.scheduling_delay(), Some(2));
            assert_eq!(last.processing_time(), Some(7));
            assert_eq!(last.total_delay(), Some(9));
            assert_eq!(last.ops[&0].failure.as_deref(), Some("boom"));
            assert_eq!(last.status(), "COMPLETED");
        });
    }

    #[test]
    fn receivers_keep_their_last_error() {
        let store = StreamingStore::new(1000, 3);
        let info = |active: bool, error: &str| {
            Info::map(vec![
                ("streamId", Info::Int(0)),
                ("name", Info::Str("SocketReceiver-0".into())),
                ("active", Info::Bool(active)),
                ("location", Info::Str("localhost".into())),
                ("lastErrorMessage", Info::Str(error.into())),
                (
                    "lastErrorTime",
                    Info::Int(if error.is_empty() { -1 } else { 5 }),
                ),
            ])
        };
        store.on_event("onReceiverStarted", &info(true, ""));
        store.on_event("onReceiverError", &info(true, "Connection refused"));
        store.on_event("onReceiverStopped", &info(false, ""));
        let r = store.read(|d| d.receivers[&0].clone());
        assert!(!r.active);
        assert_eq!(r.last_error.as_deref(), Some("Connection refused"));
        assert_eq!(r.last_error_time, Some(5));
    }
}
