//! Batch clocks: the system clock, and a manual one that tests move by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Milliseconds since the epoch (or since 0, for the manual clock).
    fn now_ms(&self) -> i64;
    /// Is this clock moved by hand?
    fn is_manual(&self) -> bool {
        false
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// Spark's `ManualClock`: starts at 0 and moves only when told.
#[derive(Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn advance(&self, ms: i64) -> i64 {
        self.now.fetch_add(ms, Ordering::SeqCst) + ms
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
    fn is_manual(&self) -> bool {
        true
    }
}

/// Spark's RecurringTimer start: the first multiple of `period` strictly after `now`.
pub fn first_batch_time(now: i64, period: i64) -> i64 {
    (now.div_euclid(period) + 1) * period
}

#[cfg(test)]
mod tests {
    #[test]
    fn batch_times_are_aligned() {
        assert_eq!(super::first_batch_time(0, 1000), 1000);
        assert_eq!(super::first_batch_time(999, 1000), 1000);
        assert_eq!(super::first_batch_time(1000, 1000), 2000);
        assert_eq!(
            super::first_batch_time(1_700_000_000_123, 500),
            1_700_000_000_500
        );
    }
}
