//! StreamingListener events, as plain data the bindings turn into Python objects.

/// A small tree of event data (Spark's field names, times in epoch ms, -1 when unknown).
#[derive(Clone, Debug)]
pub enum Info {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Map(Vec<(String, Info)>),
}

impl Info {
    pub fn map(fields: Vec<(&str, Info)>) -> Info {
        Info::Map(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }
}

/// Receives every event; called on the scheduler thread, in order.
pub trait Listener: Send + Sync {
    fn on_event(&self, name: &str, info: &Info);
}

/// What the listener is told about one output operation.
#[derive(Clone, Debug)]
pub struct OutputOpInfo {
    pub id: usize,
    pub name: String,
    pub description: String,
    pub start: i64,
    pub end: i64,
    pub failure: Option<String>,
}

/// What the listener is told about one batch.
#[derive(Clone, Debug)]
pub struct BatchInfo {
    pub batch_time: i64,
    pub submission_time: i64,
    pub processing_start: i64,
    pub processing_end: i64,
    pub inputs: Vec<(usize, i64)>,
    pub outputs: Vec<OutputOpInfo>,
}

impl OutputOpInfo {
    pub fn to_info(&self, batch_time: i64) -> Info {
        Info::map(vec![
            ("batchTime", Info::Int(batch_time)),
            ("id", Info::Int(self.id as i64)),
            ("name", Info::Str(self.name.clone())),
            ("description", Info::Str(self.description.clone())),
            ("startTime", Info::Int(self.start)),
            ("endTime", Info::Int(self.end)),
            (
                "failureReason",
                self.failure.clone().map_or(Info::Null, Info::Str),
            ),
        ])
    }
}

impl BatchInfo {
    pub fn to_info(&self) -> Info {
        let delay = |a: i64, b: i64| if a < 0 || b < 0 { -1 } else { b - a };
        let records: i64 = self.inputs.iter().map(|(_, n)| n).sum();
        Info::map(vec![
            ("batchTime", Info::Int(self.batch_time)),
            ("submissionTime", Info::Int(self.submission_time)),
            ("processingStartTime", Info::Int(self.processing_start)),
            ("processingEndTime", Info::Int(self.processing_end)),
            (
                "schedulingDelay",
                Info::Int(delay(self.submission_time, self.processing_start)),
            ),
            (
                "processingDelay",
                Info::Int(delay(self.processing_start, self.processing_end)),
            ),
            (
                "totalDelay",
                Info::Int(delay(self.submission_time, self.processing_end)),
            ),
            ("numRecords", Info::Int(records)),
            (
                "streamIdToInputInfo",
                Info::Map(
                    self.inputs
                        .iter()
                        .map(|(id, n)| {
                            (
                                id.to_string(),
                                Info::map(vec![
                                    ("inputStreamId", Info::Int(*id as i64)),
                                    ("numRecords", Info::Int(*n)),
                                    ("metadata", Info::Map(Vec::new())),
                                ]),
                            )
                        })
                        .collect(),
                ),
            ),
            (
                "outputOperationInfos",
                Info::Map(
                    self.outputs
                        .iter()
                        .map(|o| (o.id.to_string(), o.to_info(self.batch_time)))
                        .collect(),
                ),
            ),
        ])
    }
}

/// Delivers events to the listener on one thread of its own, in the order they were posted,
/// whichever thread posted them (the scheduler, receivers). Tracks what is still in flight so
/// that callers can wait until everything posted so far was delivered.
pub struct ListenerBus {
    sender: std::sync::mpsc::Sender<(String, Info)>,
    state: std::sync::Arc<(parking_lot::Mutex<(u64, u64)>, parking_lot::Condvar)>,
}

impl ListenerBus {
    pub fn start(listener: std::sync::Arc<dyn Listener>) -> std::io::Result<ListenerBus> {
        let (sender, receiver) = std::sync::mpsc::channel::<(String, Info)>();
        let state = std::sync::Arc::new((
            parking_lot::Mutex::new((0u64, 0u64)),
            parking_lot::Condvar::new(),
        ));
        let shared = state.clone();
        std::thread::Builder::new()
            .name("ferrostream-listener-bus".into())
            .spawn(move || {
                // Ends when the bus (the sender) is dropped.
                for (name, info) in receiver {
                    let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        listener.on_event(&name, &info)
                    }));
                    if delivered.is_err() {
                        log::error!("a StreamingListener panicked on {name}");
                    }
                    let (counts, done) = &*shared;
                    counts.lock().1 += 1;
                    done.notify_all();
                }
            })?;
        Ok(ListenerBus { sender, state })
    }

    pub fn post(&self, name: &str, info: Info) {
        let (counts, _) = &*self.state;
        counts.lock().0 += 1;
        if self.sender.send((name.to_string(), info)).is_err() {
            counts.lock().1 += 1;
        }
    }

    /// Wait up to `timeout` until every event posted so far was delivered; true if so.
    pub fn wait_idle(&self, timeout: std::time::Duration) -> bool {
        let (counts, done) = &*self.state;
        let deadline = std::time::Instant::now() + timeout;
        let mut c = counts.lock();
        while c.1 < c.0 {
            if done.wait_until(&mut c, deadline).timed_out() {
                return c.1 >= c.0;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    struct Record(parking_lot::Mutex<Vec<(String, Option<String>)>>);

    impl Listener for Record {
        fn on_event(&self, name: &str, _info: &Info) {
            let thread = std::thread::current().name().map(str::to_string);
            self.0.lock().push((name.to_string(), thread));
        }
    }

    #[test]
    fn events_from_any_thread_arrive_in_order_on_the_bus_thread() {
        let record = Arc::new(Record(parking_lot::Mutex::new(Vec::new())));
        let bus = Arc::new(ListenerBus::start(record.clone()).unwrap());
        bus.post("first", Info::Null);
        let other = bus.clone();
        std::thread::spawn(move || other.post("from a receiver", Info::Null))
            .join()
            .unwrap();
        bus.post("last", Info::Null);
        assert!(bus.wait_idle(Duration::from_secs(5)));
        let got = record.0.lock().clone();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["first", "from a receiver", "last"]);
        assert!(got
            .iter()
            .all(|(_, t)| t.as_deref() == Some("ferrostream-listener-bus")));
    }
}
