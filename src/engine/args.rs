//! Argument checks with Spark's messages, in one place. The facade calls these through
//! `ferrostream._native` instead of checking on its own, so a bad argument raises the same
//! `IllegalArgumentException` with the same text whichever layer meets it first.

use crate::engine::error::{EngineError, Result};

/// Python's `repr` of a float for the common cases (`nan`, `inf`, `1.5`, `-1.0`).
fn show_seconds(seconds: f64) -> String {
    if seconds.is_nan() {
        "nan".into()
    } else if seconds.is_infinite() {
        if seconds > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{seconds:?}")
    }
}

/// A duration given in seconds (PySpark's unit) as whole milliseconds, truncated as PySpark's
/// `int(seconds * 1000)` does. `None` is only valid for nothing: Spark's message for a missing
/// batch duration. NaN, infinite, too large, zero and negative durations are refused.
pub fn duration_ms(name: &str, seconds: Option<f64>) -> Result<i64> {
    let Some(seconds) = seconds else {
        let what = if name == "batchDuration" {
            "Batch duration for StreamingContext".to_string()
        } else {
            name.to_string()
        };
        return Err(EngineError::Requirement(format!(
            "requirement failed: {what} cannot be null"
        )));
    };
    let ms = (seconds * 1000.0).trunc();
    if !ms.is_finite() || ms.abs() >= i64::MAX as f64 {
        return Err(EngineError::Requirement(format!(
            "requirement failed: {name} must be a finite number of seconds, got {}",
            show_seconds(seconds)
        )));
    }
    if ms < 1.0 {
        return Err(EngineError::Requirement(format!(
            "requirement failed: {name} must be positive (at least 1 ms), got {}",
            show_seconds(seconds)
        )));
    }
    Ok(ms as i64)
}

/// A number of partitions: positive (Spark's `Positive number of partitions required`).
pub fn num_partitions(n: i64) -> Result<usize> {
    if n < 1 {
        return Err(EngineError::InvalidArgument(
            "Positive number of partitions required".into(),
        ));
    }
    usize::try_from(n).map_err(|_| {
        EngineError::InvalidArgument(format!("Number of partitions ({n}) is too large"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_positive_milliseconds() {
        assert_eq!(duration_ms("d", Some(1.0)).unwrap(), 1000);
        assert_eq!(duration_ms("d", Some(0.0015)).unwrap(), 1);
        assert_eq!(duration_ms("d", Some(2.5)).unwrap(), 2500);
    }

    #[test]
    fn bad_durations_name_the_argument() {
        let msg = |s| duration_ms("slideDuration", s).unwrap_err().to_string();
        assert_eq!(
            msg(None),
            "requirement failed: slideDuration cannot be null"
        );
        assert_eq!(
            duration_ms("batchDuration", None).unwrap_err().to_string(),
            "requirement failed: Batch duration for StreamingContext cannot be null"
        );
        assert!(msg(Some(f64::NAN)).ends_with("finite number of seconds, got nan"));
        assert!(msg(Some(f64::INFINITY)).ends_with("got inf"));
        assert!(msg(Some(1e300)).contains("finite number of seconds"));
        assert!(msg(Some(0.0)).ends_with("must be positive (at least 1 ms), got 0.0"));
        assert!(msg(Some(-1.0)).ends_with("got -1.0"));
        assert!(msg(Some(0.0004)).contains("at least 1 ms"));
    }

    #[test]
    fn partitions_must_be_positive() {
        assert_eq!(num_partitions(3).unwrap(), 3);
        for n in [0, -1] {
            let err = num_partitions(n).unwrap_err();
            assert!(matches!(err, EngineError::InvalidArgument(_)));
            assert_eq!(err.to_string(), "Positive number of partitions required");
        }
    }
}
