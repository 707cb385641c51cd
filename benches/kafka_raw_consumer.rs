//! The physical limit of `benches/kafka_vs_pyspark.py`: a bare librdkafka consumer (the same
//! `rdkafka` crate and settings the engine uses) reading every record of a topic from offset
//! 0, touching each payload, nothing else. Prints one JSON line: records, bytes, seconds.
//!
//! cargo run --release --no-default-features --example kafka_raw_consumer -- BOOTSTRAP TOPIC N

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, topic, total] = args.as_slice() else {
        return Err("usage: kafka_raw_consumer BOOTSTRAP TOPIC RECORDS".into());
    };
    let total: u64 = total.parse()?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "ferrostream-bench-raw")
        .set("enable.auto.commit", "false")
        // As the engine's consumers (src/engine/source/kafka/params.rs): with librdkafka's
        // default of 1 s, a drained prefetch queue waits up to a second to be refilled.
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut assignment = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            assignment.add_partition_offset(topic, p.id(), Offset::Beginning)?;
        }
    }
    let started = Instant::now();
    consumer.assign(&assignment)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < total {
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!("only {records} of {total} records after 600 s").into());
        }
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message?;
            bytes += message.payload().map_or(0, |p| p.len() as u64);
            records += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"records\": {records}, \"bytes\": {bytes}, \"seconds\": {seconds}}}");
    Ok(())
}
