//! Backpressure (`spark.streaming.backpressure.enabled`): after every batch, a PID controller
//! estimates the rate each input stream can be processed at, as Spark's `PIDRateEstimator`
//! does, and the sources read no faster (direct sources through their [`RateBudget`], receivers
//! through their rate limit).
//!
//! [`RateBudget`]: super::graph::RateBudget

/// Spark's PID rate estimator (`spark.streaming.backpressure.pid.*`).
#[derive(Clone, Debug)]
pub struct PidRateEstimator {
    batch_ms: i64,
    proportional: f64,
    integral: f64,
    derivative: f64,
    min_rate: f64,
    first_run: bool,
    latest_time: i64,
    latest_rate: f64,
    latest_error: f64,
}

impl PidRateEstimator {
    pub fn new(batch_ms: i64) -> PidRateEstimator {
        PidRateEstimator {
            batch_ms,
            proportional: 1.0,
            integral: 0.2,
            derivative: 0.0,
            min_rate: 100.0,
            first_run: true,
            latest_time: -1,
            latest_rate: -1.0,
            latest_error: -1.0,
        }
    }

    /// The new rate in records per second after a batch, if there is one.
    pub fn compute(
        &mut self,
        time: i64,
        elements: i64,
        processing_delay: i64,
        scheduling_delay: i64,
    ) -> Option<f64> {
        if time <= self.latest_time || elements <= 0 || processing_delay <= 0 {
            return None;
        }
        let since_update = (time - self.latest_time) as f64 / 1000.0;
        let processing_rate = elements as f64 / processing_delay as f64 * 1000.0;
        let error = self.latest_rate - processing_rate;
        let historical_error =
            scheduling_delay.max(0) as f64 * processing_rate / self.batch_ms as f64;
        let d_error = (error - self.latest_error) / since_update;
        let new_rate = (self.latest_rate
            - self.proportional * error
            - self.integral * historical_error
            - self.derivative * d_error)
            .max(self.min_rate);
        self.latest_time = time;
        if self.first_run {
            self.latest_rate = processing_rate;
            self.latest_error = 0.0;
            self.first_run = false;
            None
        } else {
            self.latest_rate = new_rate;
            self.latest_error = error;
            Some(new_rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_down_when_batches_take_longer_than_the_interval() {
        let mut pid = PidRateEstimator::new(1000);
        // First batch only calibrates.
        assert_eq!(pid.compute(1000, 10_000, 2000, 0), None);
        // 10 k records took 2 s and the next batch waited 1 s: the rate drops below 5 k/s.
        let rate = pid.compute(2000, 10_000, 2000, 1000).unwrap();
        assert!(rate < 5000.0, "{rate}");
        assert!(rate >= 100.0);
        // Never below the minimum rate; nothing without records.
        assert_eq!(pid.compute(3000, 0, 10, 0), None);
    }
}
