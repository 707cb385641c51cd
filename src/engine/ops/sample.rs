//! Seeded, repeatable sampling of partitions (`sample`, `randomSplit`, `takeSample`,
//! `sampleByKey`).
//! The numbers are not PySpark's (its generator is not reproduced), but the same seed gives
//! the same sample, partition by partition.

use std::sync::Arc;

use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::Partition;
use crate::engine::value::{Key, KeyMap};

/// What a sample keeps of each record.
#[derive(Clone, Debug)]
pub enum SampleMode {
    /// Each record kept with probability `fraction`.
    Bernoulli(f64),
    /// Each record kept a Poisson(`fraction`) number of times (with replacement).
    Poisson(f64),
    /// Each record kept when its draw falls in `[lb, ub)`: the splits of one seed are
    /// disjoint and together hold every record once.
    Range(f64, f64),
    /// `(k, v)` records, each kept with its key's fraction (Bernoulli, or Poisson with
    /// replacement): `sampleByKey`. A key without a fraction is Python's `KeyError`.
    ByKey {
        fractions: Arc<KeyMap<f64>>,
        with_replacement: bool,
    },
}

/// SplitMix64: small, fast, good enough for sampling.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, split: usize) -> Rng {
        let mut r = Rng(seed ^ (split as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn poisson(&mut self, mean: f64) -> usize {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 30.0 {
            // Normal approximation (Box-Muller).
            let u1 = self.next_f64().max(f64::MIN_POSITIVE);
            let u2 = self.next_f64();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            return (mean + z * mean.sqrt()).round().max(0.0) as usize;
        }
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.next_f64();
        while p > limit {
            k += 1;
            p *= self.next_f64();
        }
        k
    }
}

/// The records of partition `split` that a sample with `mode` and `seed` keeps, in order.
pub fn sample(records: Partition, mode: &SampleMode, seed: u64, split: usize) -> Result<Partition> {
    let mut rng = Rng::new(seed, split);
    let mut out = Vec::new();
    for r in records {
        let copies = match mode {
            SampleMode::Bernoulli(f) => usize::from(rng.next_f64() < *f),
            SampleMode::Poisson(f) => rng.poisson(*f),
            SampleMode::Range(lb, ub) => {
                let x = rng.next_f64();
                usize::from(*lb <= x && x < *ub)
            }
            SampleMode::ByKey {
                fractions,
                with_replacement,
            } => {
                let (k, _) = r.as_pair()?;
                let f = match Key::new(k.clone()) {
                    Ok(key) if !k.has_host() => fractions.get(&key).copied(),
                    _ => None,
                };
                let Some(f) = f else {
                    return Err(EngineError::MissingKey {
                        repr: k.repr_lossy(),
                        key: k.clone(),
                    });
                };
                if *with_replacement {
                    rng.poisson(f)
                } else {
                    usize::from(rng.next_f64() < f)
                }
            }
        };
        match copies {
            0 => {}
            1 => out.push(r),
            n => out.extend(std::iter::repeat_n(r, n)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::Value;

    #[test]
    fn repeatable_and_complementary() {
        let data: Vec<Value> = (0..1000).map(Value::Int).collect();
        let a = sample(data.clone(), &SampleMode::Bernoulli(0.1), 7, 0).unwrap();
        let b = sample(data.clone(), &SampleMode::Bernoulli(0.1), 7, 0).unwrap();
        assert_eq!(a.len(), b.len());
        assert!((50..150).contains(&a.len()));
        let left = sample(data.clone(), &SampleMode::Range(0.0, 0.4), 3, 1).unwrap();
        let right = sample(data, &SampleMode::Range(0.4, 1.0 + 1e-12), 3, 1).unwrap();
        assert_eq!(left.len() + right.len(), 1000);
    }
}
