//! The records of a Kinesis receiver: decoding a record's data, and reading a batch's
//! sequence ranges again (recovery from a checkpoint directory, as Spark's
//! `KinesisBackedBlockRDD`).

use std::sync::Arc;

use aws_sdk_kinesis::types::ShardIteratorType;

use super::receiver::{KinesisReceiver, BACKOFF_MAX, BACKOFF_MIN};
use super::{describe, error_code, is_transient, seq_le, DataFormat, SequenceRange};
use crate::engine::error::EngineError;
use crate::engine::value::{Text, Value};

impl KinesisReceiver {
    /// The records `range.first..=range.last` of a shard, read again.
    pub(super) async fn read_range(
        &self,
        range: &SequenceRange,
    ) -> std::result::Result<Vec<Value>, String> {
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

    pub(super) fn decode(&self, data: &[u8], seq: &str, shard: &str) -> Value {
        match self.config.format {
            DataFormat::Bytes => Value::Bytes(Arc::from(data)),
            DataFormat::Utf8 => match std::str::from_utf8(data) {
                Ok(s) => Value::Str(Text::from(s)),
                Err(_) => {
                    // The message names the record (its context reaches the SparkException's
                    // text); the cause stays a UnicodeDecodeError, as Python's decoder raises.
                    self.undecodable
                        .lock()
                        .get_or_insert_with(|| EngineError::Job {
                            message: format!(
                                "Kinesis: the data of the record with sequence number {seq} of \
                                 shard {shard} of stream {:?} is not UTF-8 (give createStream a \
                                 decoder for bytes)",
                                self.config.stream_name
                            ),
                            source: Box::new(EngineError::Utf8 {
                                context: format!("the Kinesis record {seq} of {shard}"),
                                bytes: data.to_vec(),
                            }),
                        });
                    Value::Bytes(Arc::from(data))
                }
            },
        }
    }
}
