//! Seeded, repeatable sampling of partitions (`sample`, `randomSplit`, `takeSample`,
//! `sampleByKey`).
//! The numbers are not PySpark's (its generator is not reproduced), but the same seed gives
//! the same sample, partition by partition.

use std::sync::Arc;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::keys;
use crate::engine::rdd::Partition;
use crate::engine::value::{Key, KeyMap, Value};

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
        fractions: Arc<Fractions>,
        with_replacement: bool,
    },
}

/// `sampleByKey`'s fractions, looked up as a Python dict looks keys up (hash and `==`).
/// Native keys are found here; when a fraction's key or a record's key is a host object, the
/// partition's keys are grouped with the fractions' in bulk ([`keys::group_keys`]: at most
/// two host calls per partition, none per record).
#[derive(Debug)]
pub struct Fractions {
    keys: Vec<Value>,
    values: Vec<f64>,
    native: KeyMap<f64>,
}

impl Fractions {
    /// The fractions of a dict's `(key, fraction)` items (keys distinct, as a dict's are).
    pub fn new(items: Vec<(Value, f64)>) -> Result<Fractions> {
        let mut native = KeyMap::default();
        for (k, f) in &items {
            if !k.has_host() {
                native.entry(Key::new(k.clone())?).or_insert(*f);
            }
        }
        let (keys, values) = items.into_iter().unzip();
        Ok(Fractions {
            keys,
            values,
            native,
        })
    }

    /// The `(key, fraction)` items, in the order given.
    pub fn items(&self) -> impl Iterator<Item = (&Value, f64)> {
        self.keys.iter().zip(self.values.iter().copied())
    }

    /// The fraction of each record's key (records that are not pairs: their error), in order;
    /// the first record without one is the `KeyError`.
    fn of_records(&self, ctx: &EngineContext, records: &[Value]) -> Result<Vec<f64>> {
        let pairs: Vec<Result<&Value>> = records
            .iter()
            .map(|r| r.as_pair().map(|(k, _)| k))
            .collect();
        let host =
            self.keys.iter().any(Value::has_host) || pairs.iter().flatten().any(|k| k.has_host());
        let missing = |k: &Value| EngineError::MissingKey {
            repr: k.repr_lossy(),
            key: k.clone(),
        };
        if !host {
            return pairs
                .into_iter()
                .map(|k| {
                    let k = k?;
                    self.native
                        .get(&Key::new(k.clone())?)
                        .copied()
                        .ok_or_else(|| missing(k))
                })
                .collect();
        }
        let nf = self.keys.len();
        let mut refs: Vec<&Value> = self.keys.iter().collect();
        refs.extend(pairs.iter().flatten().copied());
        let groups = keys::group_keys(ctx, &refs)?;
        let mut by_group: Vec<Option<f64>> = vec![None; groups.count()];
        for (i, f) in self.values.iter().enumerate() {
            by_group[groups.ids[i]].get_or_insert(*f);
        }
        let mut at = nf;
        pairs
            .into_iter()
            .map(|k| {
                let k = k?;
                let group = groups.ids[at];
                at += 1;
                by_group[group].ok_or_else(|| missing(k))
            })
            .collect()
    }
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
pub fn sample(
    ctx: &EngineContext,
    records: Partition,
    mode: &SampleMode,
    seed: u64,
    split: usize,
) -> Result<Partition> {
    let mut rng = Rng::new(seed, split);
    let mut out = Vec::new();
    let by_key = match mode {
        SampleMode::ByKey { fractions, .. } => fractions.of_records(ctx, &records)?,
        _ => Vec::new(),
    };
    for (i, r) in records.into_iter().enumerate() {
        let copies = match mode {
            SampleMode::Bernoulli(f) => usize::from(rng.next_f64() < *f),
            SampleMode::Poisson(f) => rng.poisson(*f),
            SampleMode::Range(lb, ub) => {
                let x = rng.next_f64();
                usize::from(*lb <= x && x < *ub)
            }
            SampleMode::ByKey {
                with_replacement, ..
            } => {
                let f = by_key[i];
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

    #[test]
    fn repeatable_and_complementary() {
        let ctx = EngineContext::new(1).unwrap();
        let data: Vec<Value> = (0..1000).map(Value::Int).collect();
        let a = sample(&ctx, data.clone(), &SampleMode::Bernoulli(0.1), 7, 0).unwrap();
        let b = sample(&ctx, data.clone(), &SampleMode::Bernoulli(0.1), 7, 0).unwrap();
        assert_eq!(a.len(), b.len());
        assert!((50..150).contains(&a.len()));
        let left = sample(&ctx, data.clone(), &SampleMode::Range(0.0, 0.4), 3, 1).unwrap();
        let right = sample(&ctx, data, &SampleMode::Range(0.4, 1.0 + 1e-12), 3, 1).unwrap();
        assert_eq!(left.len() + right.len(), 1000);
    }
}
