//! `/api/v1`: Spark's REST API for a live application and its streaming figures, with Spark's
//! field names (org.apache.spark.status.api.v1 and its `streaming` package), dates written as
//! Spark writes them (`2026-01-31T12:00:00.000GMT`) and absent options left out.

use serde_json::{json, Map, Value};

use super::store::{now_ms, BatchRecord, OpRecord, StreamingData, StreamingStore};
use super::WebUi;

/// The Spark version whose behaviour ferrostream follows (`appSparkVersion`; the facade's
/// `SparkContext.version`).
const SPARK_VERSION: &str = "3.5.9";

/// An API answer: status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

fn ok(body: Value) -> Answer {
    Answer { status: 200, body }
}

/// Spark answers an unknown id with 404; here the message comes as JSON.
fn not_found(message: String) -> Answer {
    Answer {
        status: 404,
        body: json!({"code": 404, "message": message}),
    }
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSS'GMT'`, the format of Spark's API dates.
pub fn spark_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A JSON object without the absent (None, i.e. null) fields, as Spark's writer leaves them out.
fn object(fields: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    for (k, v) in fields {
        if !v.is_null() {
            map.insert(k.to_string(), v);
        }
    }
    Value::Object(map)
}

fn application(ui: &WebUi) -> Value {
    let app = ui.app();
    let now = now_ms();
    json!({
        "id": app.id,
        "name": app.name,
        "attempts": [{
            "startTime": spark_date(app.start_time),
            "endTime": spark_date(-1),
            "lastUpdated": spark_date(now),
            "duration": 0,
            "sparkUser": app.user,
            "completed": false,
            "appSparkVersion": SPARK_VERSION,
            "startTimeEpoch": app.start_time,
            "endTimeEpoch": -1,
            "lastUpdatedEpoch": now,
        }],
    })
}

fn avg_ms(values: impl Iterator<Item = i64>) -> Value {
    let (sum, n) = values.fold((0i64, 0i64), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        Value::Null
    } else {
        json!(sum / n)
    }
}

fn retained(d: &StreamingData) -> impl Iterator<Item = &BatchRecord> {
    d.completed.iter().chain(d.active.values())
}

fn statistics(store: &StreamingStore) -> Value {
    store.read(|d| {
        let rates: Vec<f64> = retained(d)
            .map(|b| b.input_size() as f64 * 1000.0 / store.batch_ms as f64)
            .collect();
        let avg_rate = if rates.is_empty() {
            Value::Null
        } else {
            json!(rates.iter().sum::<f64>() / rates.len() as f64)
        };
        let active_receivers = d.receivers.values().filter(|r| r.active).count();
        object(vec![
            ("startTime", json!(spark_date(d.start_time.unwrap_or(-1)))),
            ("batchDuration", json!(store.batch_ms)),
            ("numReceivers", json!(d.receivers.len())),
            ("numActiveReceivers", json!(active_receivers)),
            (
                "numInactiveReceivers",
                json!(d.receivers.len() - active_receivers),
            ),
            ("numTotalCompletedBatches", json!(d.total_completed)),
            ("numRetainedCompletedBatches", json!(d.completed.len())),
            ("numActiveBatches", json!(d.active.len())),
            ("numProcessedRecords", json!(d.processed_records)),
            ("numReceivedRecords", json!(d.received_records)),
            ("avgInputRate", avg_rate),
            (
                "avgSchedulingDelay",
                avg_ms(retained(d).filter_map(BatchRecord::scheduling_delay)),
            ),
            (
                "avgProcessingTime",
                avg_ms(retained(d).filter_map(BatchRecord::processing_time)),
            ),
            (
                "avgTotalDelay",
                avg_ms(retained(d).filter_map(BatchRecord::total_delay)),
            ),
        ])
    })
}

/// Every input stream seen (receivers and the inputs of retained batches), by id.
fn receivers(store: &StreamingStore) -> Vec<Value> {
    store.read(|d| {
        let mut ids: std::collections::BTreeSet<i64> = d.receivers.keys().copied().collect();
        for b in retained(d) {
            ids.extend(b.inputs.iter().map(|(id, _)| *id));
        }
        let mut batches: Vec<&BatchRecord> = retained(d).collect();
        batches.sort_by_key(|b| b.batch_time);
        ids.into_iter()
            .map(|id| {
                let rates: Vec<(i64, f64)> = batches
                    .iter()
                    .map(|b| {
                        let n = b
                            .inputs
                            .iter()
                            .find(|(s, _)| *s == id)
                            .map_or(0, |(_, n)| *n);
                        (b.batch_time, n as f64 * 1000.0 / store.batch_ms as f64)
                    })
                    .collect();
                let avg = if rates.is_empty() {
                    Value::Null
                } else {
                    json!(rates.iter().map(|(_, r)| r).sum::<f64>() / rates.len() as f64)
                };
                let r = d.receivers.get(&id);
                let error = r.and_then(|r| r.last_error.clone());
                object(vec![
                    ("streamId", json!(id)),
                    (
                        "streamName",
                        json!(r
                            .map(|r| r.name.clone())
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| format!("Stream-{id}"))),
                    ),
                    ("isActive", json!(r.map(|r| r.active))),
                    ("executorId", json!(r.map(|_| "driver"))),
                    ("executorHost", json!(r.map(|r| r.location.clone()))),
                    (
                        "lastErrorTime",
                        json!(r.and_then(|r| r.last_error_time).map(spark_date)),
                    ),
                    ("lastErrorMessage", json!(error)),
                    ("lastError", json!(error)),
                    ("avgEventRate", avg),
                    ("eventRates", json!(rates)),
                ])
            })
            .collect()
    })
}

fn batch_json(b: &BatchRecord, store: &StreamingStore) -> Value {
    let ops = || b.ops.values();
    let total = store.total_ops(b);
    let finished = ops().filter(|o| o.end >= 0).count();
    let first_failure = ops().find_map(|o| o.failure.clone());
    object(vec![
        ("batchId", json!(b.batch_time)),
        ("batchTime", json!(spark_date(b.batch_time))),
        ("status", json!(b.status())),
        ("batchDuration", json!(store.batch_ms)),
        ("inputSize", json!(b.input_size())),
        ("schedulingDelay", json!(b.scheduling_delay())),
        ("processingTime", json!(b.processing_time())),
        ("totalDelay", json!(b.total_delay())),
        ("numActiveOutputOps", json!(total - finished)),
        (
            "numCompletedOutputOps",
            json!(ops().filter(|o| o.end >= 0 && o.failure.is_none()).count()),
        ),
        (
            "numFailedOutputOps",
            json!(ops().filter(|o| o.failure.is_some()).count()),
        ),
        ("numTotalOutputOps", json!(total)),
        ("firstFailureReason", json!(first_failure)),
    ])
}

fn op_json(o: &OpRecord) -> Value {
    let time = |t: i64| (t >= 0).then(|| spark_date(t));
    object(vec![
        ("outputOpId", json!(o.id)),
        ("name", json!(o.name)),
        ("description", json!(o.description)),
        ("startTime", json!(time(o.start))),
        ("endTime", json!(time(o.end))),
        (
            "duration",
            json!((o.start >= 0 && o.end >= 0).then(|| o.end - o.start)),
        ),
        ("failureReason", json!(o.failure)),
        ("jobIds", json!([])),
    ])
}

fn find_batch(store: &StreamingStore, id: &str) -> Option<BatchRecord> {
    let time: i64 = id.parse().ok()?;
    store.read(|d| {
        d.active
            .get(&time)
            .or_else(|| d.completed.iter().find(|b| b.batch_time == time))
            .cloned()
    })
}

/// Answer `GET /api/v1/<rest>` (`rest` without the prefix, `query` the raw query string).
pub fn answer(ui: &WebUi, rest: &str, query: &str) -> Answer {
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let app_id = &ui.app().id;
    match parts.as_slice() {
        ["applications"] => return ok(json!([application(ui)])),
        ["applications", id, ..] if *id != app_id.as_str() => {
            return not_found(format!("unknown app: {id}"))
        }
        ["applications", _] => return ok(application(ui)),
        ["applications", _, "streaming", ..] => {}
        _ => return not_found(format!("no such API path: /api/v1/{rest}")),
    }
    let Some(store) = ui.streaming() else {
        return not_found(format!(
            "no streaming listener attached to {}",
            ui.app().name
        ));
    };
    match &parts[3..] {
        ["statistics"] => ok(statistics(&store)),
        ["receivers"] => ok(Value::Array(receivers(&store))),
        ["receivers", id] => receivers(&store)
            .into_iter()
            .find(|r| id.parse::<i64>().ok() == r["streamId"].as_i64())
            .map_or_else(|| not_found(format!("unknown receiver: {id}")), ok),
        ["batches"] => {
            let wanted: Vec<String> = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("status="))
                .map(str::to_ascii_uppercase)
                .collect();
            let mut batches: Vec<BatchRecord> = store.read(|d| retained(d).cloned().collect());
            batches.sort_by_key(|b| std::cmp::Reverse(b.batch_time));
            ok(Value::Array(
                batches
                    .iter()
                    .filter(|b| wanted.is_empty() || wanted.iter().any(|s| s == b.status()))
                    .map(|b| batch_json(b, &store))
                    .collect(),
            ))
        }
        ["batches", id, tail @ ..] => {
            let Some(batch) = find_batch(&store, id) else {
                return not_found(format!("unknown batch: {id}"));
            };
            match tail {
                [] => ok(batch_json(&batch, &store)),
                ["operations"] => ok(Value::Array(batch.ops.values().map(op_json).collect())),
                ["operations", op] => batch
                    .ops
                    .values()
                    .find(|o| o.id.to_string() == *op)
                    .map_or_else(
                        || not_found(format!("unknown output operation: {op}")),
                        |o| ok(op_json(o)),
                    ),
                _ => not_found(format!("no such API path: /api/v1/{rest}")),
            }
        }
        _ => not_found(format!("no such API path: /api/v1/{rest}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_spark_writes_them() {
        assert_eq!(spark_date(0), "1970-01-01T00:00:00.000GMT");
        assert_eq!(spark_date(-1), "1969-12-31T23:59:59.999GMT");
        assert_eq!(spark_date(1_709_251_200_123), "2024-03-01T00:00:00.123GMT");
        assert_eq!(spark_date(951_782_400_000), "2000-02-29T00:00:00.000GMT");
    }

    #[test]
    fn absent_options_are_left_out() {
        let v = object(vec![("a", json!(1)), ("b", Value::Null)]);
        assert_eq!(v.to_string(), r#"{"a":1}"#);
    }
}
