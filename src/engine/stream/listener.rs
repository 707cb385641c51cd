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
