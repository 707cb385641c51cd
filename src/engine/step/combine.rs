//! The per-partition reduce by key (a combine) at the end of a fused chain, and the reduce
//! side of `reduceByKey` over a hash shuffle.

use std::sync::atomic::Ordering;

use super::fused::{PairParts, Rec, Sink};
use super::{count_native, native_key, PASSED_UNCOMBINED};
use crate::engine::expr::{Expr, Fallback};
use crate::engine::rdd::Partition;
use crate::engine::value::{Key, KeyMap, StrKey, Text, Value};

/// The accumulator of a combine over `records` input records: sized for up to 64 Ki distinct
/// keys at once (growing a map key by key rehashes it about 17 times on the way to 100 K keys),
/// never more than the input can hold.
pub(super) fn combine_map(records: usize) -> KeyMap<Value> {
    KeyMap::with_capacity_and_hasher(records.min(1 << 16), Default::default())
}

/// The per-partition reduce by key at the end of a fused chain. When the step before it builds
/// the pair (`lambda w: (w, 1)`), key and value are computed directly, without the tuple, and a
/// borrowed string key is looked up without allocating.
pub(super) struct CombineSink<'e> {
    acc: KeyMap<Value>,
    pair: Option<PairParts>,
    reducer: &'e Expr,
    /// The reducer is `a + b`: ints are added here directly.
    adds: bool,
    /// A map-side combine that may stop combining (see [`Partial`]); None: every record is
    /// combined.
    partial: Option<Partial>,
    /// String keys found by a fast hash of their bytes (see [`StrIndex`]).
    strs: StrIndex,
}

/// String keys of a combine's accumulator by a fast hash of their bytes, to their index in
/// it: a word already seen is found without computing its portable hash (SipHash, what
/// the accumulator is keyed by). Only a cache: a key missing here is looked up in the
/// accumulator, then added (indices never change, nothing is removed).
#[derive(Default)]
struct StrIndex {
    /// `(index in the accumulator, the key)`: the key is compared here, without reading
    /// the accumulator's entry.
    table: hashbrown::HashTable<(usize, Text)>,
    hasher: foldhash::fast::FixedState,
}

impl StrIndex {
    fn hash(&self, s: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(s)
    }

    fn find(&self, hash: u64, s: &str) -> Option<usize> {
        self.table
            .find(hash, |(_, k)| short_eq(k.as_bytes(), s.as_bytes()))
            .map(|&(i, _)| i)
    }

    /// Entry `i` of `acc`, if its key is a string.
    fn insert(&mut self, hash: u64, i: usize, acc: &KeyMap<Value>) {
        let Some((
            Key {
                value: Value::Str(k),
                ..
            },
            _,
        )) = acc.get_index(i)
        else {
            return;
        };
        let hasher = &self.hasher;
        self.table.insert_unique(hash, (i, k.clone()), |(_, k)| {
            use std::hash::BuildHasher;
            hasher.hash_one(&**k)
        });
    }
}

/// Byte equality, without a library call for the short strings that words are.
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        false
    } else if a.len() <= 16 {
        a.iter().zip(b).all(|(x, y)| x == y)
    } else {
        a == b
    }
}

/// Records a map-side combine looks at before it decides whether combining pays: when most
/// of them were new keys (a key space much larger than a partition, as with ids), combining
/// only costs a map insert per record that the reduce side does again, so the rest of the
/// partition goes to the shuffle as it is. Results do not change: the reduce side combines
/// every key's values (a combine's function is associative), and the order in which keys
/// are first seen is kept, since every key combined so far was seen before any record
/// passed on.
const PARTIAL_PROBE_RECORDS: usize = 16_384;

/// The state of a map-side combine that may stop combining.
#[derive(Default)]
struct Partial {
    seen: usize,
    passing: bool,
    /// The `(key, value)` records passed on uncombined, as columns (no pair is built).
    passed: Combined,
}

/// `reducer(acc, value)`; ints are added directly when the reducer is `a + b`.
fn reduce_with(adds: bool, reducer: &Expr, acc: &Value, value: &Value) -> Result<Value, Fallback> {
    if adds {
        if let (Value::Int(a), Value::Int(b)) = (acc, value) {
            if let Some(sum) = a.checked_add(*b) {
                return Ok(Value::Int(sum));
            }
        }
    }
    reducer.eval(&[acc, value])
}

/// The output of a fused chain that ends in a combine (or, for a shuffle's map side, in a map
/// that builds pairs): `(key, value)` records as keyed columns (`keys[j]`, `values[j]`), with
/// the portable hashes of their keys (what a hash shuffle partitions by). The pairs are built
/// only for a reader that needs records.
#[derive(Default)]
pub struct Combined {
    pub keys: Partition,
    pub values: Partition,
    pub hashes: Vec<i64>,
}

impl Combined {
    pub(super) fn with_capacity(n: usize) -> Combined {
        Combined {
            keys: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
        }
    }

    pub(super) fn push(&mut self, hash: i64, key: Value, value: Value) {
        self.keys.push(key);
        self.values.push(value);
        self.hashes.push(hash);
    }

    fn extend(&mut self, other: Combined) {
        self.keys.extend(other.keys);
        self.values.extend(other.values);
        self.hashes.extend(other.hashes);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `(key, value)` records, and their keys' hashes.
    pub fn into_pairs(self) -> (Partition, Vec<i64>) {
        let pairs = self
            .keys
            .into_iter()
            .zip(self.values)
            .map(|(k, v)| Value::pair(k, v))
            .collect();
        (pairs, self.hashes)
    }
}

impl CombineSink<'_> {
    pub(super) fn new<'e>(
        reducer: &'e Expr,
        pair: Option<PairParts>,
        records: usize,
        partial: bool,
    ) -> CombineSink<'e> {
        CombineSink {
            acc: combine_map(records),
            pair,
            reducer,
            adds: reducer.is_add_of_args(),
            partial: partial.then(Partial::default),
            strs: StrIndex::default(),
        }
    }

    fn passing(&self) -> bool {
        self.partial.as_ref().is_some_and(|p| p.passing)
    }

    /// One more record combined: a map-side combine decides, once, whether to go on.
    fn combined_one(&mut self) {
        if let Some(p) = &mut self.partial {
            p.seen += 1;
            if p.seen == PARTIAL_PROBE_RECORDS && self.acc.len() * 5 >= p.seen * 4 {
                p.passing = true;
                log::debug!(
                    "map-side combine: {} keys in {} records, passing the rest on uncombined",
                    self.acc.len(),
                    p.seen
                );
            }
        }
    }

    fn pass(&mut self, hash: i64, key: Value, value: Value) {
        if let Some(p) = &mut self.partial {
            p.passed.push(hash, key, value);
        }
    }

    fn add(&mut self, key: Key, value: Value) -> Result<(), Fallback> {
        if self.passing() {
            self.pass(key.hash(), key.value, value);
            return Ok(());
        }
        let (adds, reducer) = (self.adds, self.reducer);
        match self.acc.entry(key) {
            indexmap::map::Entry::Occupied(mut slot) => {
                let merged = reduce_with(adds, reducer, slot.get(), &value)?;
                *slot.get_mut() = merged;
            }
            indexmap::map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
        self.combined_one();
        Ok(())
    }

    /// A string key, looked up without building a [`Key`]; `owned` is the key as a value
    /// when the record already holds one (no new string is allocated for it).
    fn add_str(&mut self, s: &str, owned: Option<&Value>, value: Value) -> Result<(), Fallback> {
        let key = || owned.cloned().unwrap_or_else(|| Value::str(s));
        if self.passing() {
            let probe = StrKey::new(s);
            self.pass(probe.hash, key(), value);
            return Ok(());
        }
        let fast = self.strs.hash(s);
        let i = match self.strs.find(fast, s) {
            Some(i) => i,
            None => {
                let probe = StrKey::new(s);
                match self.acc.get_index_of(&probe) {
                    Some(i) => {
                        self.strs.insert(fast, i, &self.acc);
                        i
                    }
                    None => {
                        let (i, _) = self
                            .acc
                            .insert_full(Key::with_hash(probe.hash, key()), value);
                        self.strs.insert(fast, i, &self.acc);
                        self.combined_one();
                        return Ok(());
                    }
                }
            }
        };
        let merged = reduce_with(self.adds, self.reducer, &self.acc[i], &value)?;
        self.acc[i] = merged;
        self.combined_one();
        Ok(())
    }

    /// The combined records (then those passed on), with their keys' hashes.
    pub(super) fn finish(self) -> Combined {
        let passed = self.partial.unwrap_or_default().passed;
        let mut out = Combined::with_capacity(self.acc.len() + passed.len());
        for (k, v) in self.acc {
            out.push(k.hash(), k.value, v);
        }
        if !passed.is_empty() {
            PASSED_UNCOMBINED.fetch_add(passed.len() as u64, Ordering::Relaxed);
        }
        out.extend(passed);
        out
    }

    /// The combined records, without hashes (no combine gave up: `partial` was off).
    pub(super) fn into_records(self) -> Partition {
        self.acc
            .into_iter()
            .map(|(k, v)| Value::pair(k.value, v))
            .collect()
    }
}

impl Sink for CombineSink<'_> {
    fn accept(&mut self, rec: Rec<'_>) -> Result<(), Fallback> {
        let Some(pair) = &mut self.pair else {
            let v = rec.into_value();
            let (k, x) = v.as_pair().map_err(|_| Fallback)?;
            return self.add(native_key(k)?, x.clone());
        };
        let value = pair.value(&rec)?;
        if pair.key_is_arg0() {
            match &rec {
                Rec::S(s) => return self.add_str(s, None, value),
                Rec::V(v @ Value::Str(s)) => return self.add_str(s, Some(v), value),
                Rec::V(_) => {}
            }
        }
        let key = pair.key(&rec)?;
        self.add(native_key(&key)?, value)
    }
}

/// The reduce side of a combine over a hash shuffle's `(key, value)` records, whose keys'
/// portable hashes the shuffle handed over (`hashes[j]` is the hash of record `j`'s key):
/// no key is hashed again, and the map is sized for every record being a new key. With
/// `values`, the records are keyed columns: `records[j]` is the key, `values[j]` the value.
pub fn combine_hashed(
    reducer: &Expr,
    records: &[Value],
    values: Option<&[Value]>,
    hashes: &[i64],
) -> Result<Partition, Fallback> {
    if records.len() != hashes.len() || values.is_some_and(|v| v.len() != records.len()) {
        return Err(Fallback);
    }
    let mut sink = CombineSink::new(reducer, None, 0, false);
    sink.acc.reserve(records.len());
    for (j, (record, &h)) in records.iter().zip(hashes).enumerate() {
        let (k, v) = match values {
            Some(values) => (record, &values[j]),
            None => record.as_pair().map_err(|_| Fallback)?,
        };
        if k.has_host() {
            return Err(Fallback);
        }
        sink.add(Key::with_hash(h, k.clone()), v.clone())?;
    }
    count_native(true);
    Ok(sink.into_records())
}
