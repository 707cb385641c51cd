//! Narrow steps: what a partition goes through between shuffles.
//!
//! A step is either host code (a fused chain of Python functions, one call per partition) or a
//! native step whose behaviour the facade proved from the function's bytecode ([`Expr`]). A
//! native step that meets a record it cannot handle exactly as Python would (a type it does not
//! model, an overflow) hands the whole partition to its host fallback, which computes the same
//! step in Python; the steps are pure, so this is always safe.
//!
//! Steps are shipped to other processes as [`StepPlan`]s (serde): native steps as their
//! expression trees, host functions as [`HostHandle`]s that the receiving process resolves
//! through its [`HostFns`] (e.g. to functions it was sent once, pickled, under those handles).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use arrow_array::{Array, LargeStringArray};

use crate::engine::block::Block;
use crate::engine::error::{EngineError, Result};
use crate::engine::expr::{Expr, Fallback, SplitOn};
use crate::engine::host::PartitionFn;
use crate::engine::rdd::{group_local, Partition};
use crate::engine::value::{Key, KeyMap, StrKey, Value};

/// What a native step does with its expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NativeKind {
    Map,
    FlatMap,
    Filter,
    MapValues,
    FlatMapValues,
    KeyBy,
    /// Per-partition reduce of `(k, v)` pairs by key with a two-argument expression.
    Combine,
}

impl NativeKind {
    pub fn parse(name: &str) -> Option<NativeKind> {
        Some(match name {
            "map" => NativeKind::Map,
            "flat_map" => NativeKind::FlatMap,
            "filter" => NativeKind::Filter,
            "map_values" => NativeKind::MapValues,
            "flat_map_values" => NativeKind::FlatMapValues,
            "key_by" => NativeKind::KeyBy,
            "combine" => NativeKind::Combine,
            _ => return None,
        })
    }

    pub fn arity(self) -> usize {
        if self == NativeKind::Combine {
            2
        } else {
            1
        }
    }
}

#[derive(Clone)]
pub enum Step {
    Host(Arc<dyn PartitionFn>),
    Native {
        kind: NativeKind,
        expr: Arc<Expr>,
        fallback: Arc<dyn PartitionFn>,
    },
    /// `(k, v)` -> `(k, [v, ...])` per partition.
    GroupLocal,
    /// The partition as one list (`glom`).
    Glom,
    /// The partition's number of records, as its only record (`DStream.count`'s first half).
    Count,
}

impl Step {
    pub fn apply(&self, split: usize, input: Partition) -> Result<Partition> {
        match self {
            Step::Host(f) => f.call(split, input),
            Step::GroupLocal => group_local(input),
            Step::Glom => {
                count_native(true);
                Ok(vec![Value::List(Arc::from(input))])
            }
            Step::Count => Step::count_of(input.len()),
            Step::Native {
                kind,
                expr,
                fallback,
            } => match run_native(*kind, expr, &input) {
                Ok(out) => {
                    count_native(true);
                    Ok(out)
                }
                Err(Fallback) => {
                    count_native(false);
                    fallback.call(split, input)
                }
            },
        }
    }
}

impl Step {
    /// What [`Step::Count`] gives for a partition of `n` records.
    pub fn count_of(n: usize) -> Result<Partition> {
        count_native(true);
        let n = i64::try_from(n)
            .map_err(|_| EngineError::Internal("a partition too large to count".into()))?;
        Ok(vec![Value::Int(n)])
    }
}

/// Partitions that native steps computed themselves, and that they handed to their host
/// fallback (process-wide; tests read them to prove which path ran).
static NATIVE_PARTITIONS: AtomicU64 = AtomicU64::new(0);
static FALLBACK_PARTITIONS: AtomicU64 = AtomicU64::new(0);
/// Records that map-side combines passed on uncombined (see [`PARTIAL_PROBE_RECORDS`]).
static PASSED_UNCOMBINED: AtomicU64 = AtomicU64::new(0);

/// Records that map-side combines passed on uncombined since the last
/// [`reset_native_stats`] (process-wide; tests read it to prove the path ran).
pub fn passed_uncombined() -> u64 {
    PASSED_UNCOMBINED.load(Ordering::Relaxed)
}

/// Count one partition computed natively (`true`) or handed to the host fallback (`false`).
/// Every native path with a fallback calls this (steps here; state and window updates too).
pub fn count_native(native: bool) {
    let counter = if native {
        &NATIVE_PARTITIONS
    } else {
        &FALLBACK_PARTITIONS
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// `(native, fallback)` partition counts since the last [`reset_native_stats`].
pub fn native_stats() -> (u64, u64) {
    (
        NATIVE_PARTITIONS.load(Ordering::Relaxed),
        FALLBACK_PARTITIONS.load(Ordering::Relaxed),
    )
}

/// Reset the step counters and the native block counters
/// ([`block_stats`](crate::engine::block::block_stats)).
pub fn reset_native_stats() {
    NATIVE_PARTITIONS.store(0, Ordering::Relaxed);
    FALLBACK_PARTITIONS.store(0, Ordering::Relaxed);
    PASSED_UNCOMBINED.store(0, Ordering::Relaxed);
    crate::engine::block::reset_block_stats();
}

fn run_native(kind: NativeKind, expr: &Expr, input: &[Value]) -> Result<Partition, Fallback> {
    let mut out = Vec::with_capacity(input.len());
    match kind {
        NativeKind::Map => {
            for x in input {
                out.push(expr.eval(&[x])?);
            }
        }
        NativeKind::FlatMap => {
            for x in input {
                extend_iterable(&mut out, expr.eval(&[x])?)?;
            }
        }
        NativeKind::Filter => {
            for x in input {
                if expr.eval(&[x])?.truthy().ok_or(Fallback)? {
                    out.push(x.clone());
                }
            }
        }
        NativeKind::MapValues => {
            for x in input {
                let (k, v) = x.as_pair().map_err(|_| Fallback)?;
                out.push(Value::pair(k.clone(), expr.eval(&[v])?));
            }
        }
        NativeKind::FlatMapValues => {
            for x in input {
                let (k, v) = x.as_pair().map_err(|_| Fallback)?;
                let mut items = Vec::new();
                extend_iterable(&mut items, expr.eval(&[v])?)?;
                out.extend(items.into_iter().map(|item| Value::pair(k.clone(), item)));
            }
        }
        NativeKind::KeyBy => {
            for x in input {
                out.push(Value::pair(expr.eval(&[x])?, x.clone()));
            }
        }
        NativeKind::Combine => {
            let mut acc: KeyMap<Value> = combine_map(input.len());
            for x in input {
                let (k, v) = x.as_pair().map_err(|_| Fallback)?;
                match acc.entry(native_key(k)?) {
                    indexmap::map::Entry::Occupied(mut slot) => {
                        let merged = expr.eval(&[slot.get(), v])?;
                        *slot.get_mut() = merged;
                    }
                    indexmap::map::Entry::Vacant(slot) => {
                        slot.insert(v.clone());
                    }
                }
            }
            out.extend(acc.into_iter().map(|(k, v)| Value::pair(k.value, v)));
        }
    }
    Ok(out)
}

/// The accumulator of a combine over `records` input records: sized for up to 64 Ki distinct
/// keys at once (growing a map key by key rehashes it about 17 times on the way to 100 K keys),
/// never more than the input can hold.
fn combine_map(records: usize) -> KeyMap<Value> {
    KeyMap::with_capacity_and_hasher(records.min(1 << 16), Default::default())
}

/// A key hashed natively; keys with host objects (hashed and compared by the host, in bulk)
/// send the partition to the step's fallback.
fn native_key(k: &Value) -> Result<Key, Fallback> {
    if k.has_host() {
        return Err(Fallback);
    }
    Key::new(k.clone()).map_err(|_| Fallback)
}

/// Python's iteration of a value, for the types native code models.
fn extend_iterable(out: &mut Vec<Value>, v: Value) -> Result<(), Fallback> {
    match v {
        Value::Tuple(items) | Value::List(items) | Value::Group(items) => {
            out.extend(items.iter().cloned())
        }
        Value::Str(s) => out.extend(s.chars().map(|c| Value::Str(Arc::from(c.to_string())))),
        Value::Bytes(b) => out.extend(b.iter().map(|&x| Value::Int(i64::from(x)))),
        _ => return Err(Fallback),
    }
    Ok(())
}

/// A record in flight through fused steps: owned, or a piece borrowed from the input (a word
/// just split from a line), which is only copied if a later step needs an owned value.
enum Rec<'a> {
    V(Value),
    S(&'a str),
}

impl Rec<'_> {
    fn with<R>(&self, f: impl FnOnce(&Value) -> R) -> R {
        match self {
            Rec::V(v) => f(v),
            Rec::S(s) => f(&Value::str(s)),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Rec::V(v) => v,
            Rec::S(s) => Value::str(s),
        }
    }
}

trait Sink {
    fn accept(&mut self, rec: Rec<'_>) -> Result<(), Fallback>;
}

struct Collect(Vec<Value>);

impl Sink for Collect {
    fn accept(&mut self, rec: Rec<'_>) -> Result<(), Fallback> {
        self.0.push(rec.into_value());
        Ok(())
    }
}

/// The per-partition reduce by key at the end of a fused chain. When the step before it builds
/// the pair (`lambda w: (w, 1)`), key and value are computed directly, without the tuple, and a
/// borrowed string key is looked up without allocating.
struct CombineSink<'e> {
    acc: KeyMap<Value>,
    pair: Option<(Expr, Expr)>,
    reducer: &'e Expr,
    /// The reducer is `a + b`: ints are added here directly.
    adds: bool,
    /// A map-side combine that may stop combining (see [`Partial`]); None: every record is
    /// combined.
    partial: Option<Partial>,
    /// The value of every record when the pair's value is a constant (`(w, 1)`).
    constant: Option<Value>,
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
    table: hashbrown::HashTable<(usize, Arc<str>)>,
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
const PARTIAL_PROBE_RECORDS: usize = 65_536;

/// The state of a map-side combine that may stop combining.
#[derive(Default)]
struct Partial {
    seen: usize,
    passing: bool,
    /// `(key, value)` records passed on uncombined, and their keys' portable hashes.
    records: Vec<Value>,
    hashes: Vec<i64>,
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

/// The output of a fused chain that ends in a combine: `(key, value)` records and the
/// portable hashes of their keys (what a hash shuffle partitions by).
pub struct Combined {
    pub records: Partition,
    pub hashes: Vec<i64>,
}

impl CombineSink<'_> {
    fn new<'e>(
        reducer: &'e Expr,
        pair: Option<(Expr, Expr)>,
        records: usize,
        partial: bool,
    ) -> CombineSink<'e> {
        CombineSink {
            acc: combine_map(records),
            pair,
            reducer,
            adds: reducer.is_add_of_args(),
            partial: partial.then(Partial::default),
            constant: None,
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
            p.records.push(Value::pair(key, value));
            p.hashes.push(hash);
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
    fn finish(self) -> Combined {
        let passed = self.partial.unwrap_or_default();
        let n = self.acc.len() + passed.records.len();
        let mut records = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        for (k, v) in self.acc {
            hashes.push(k.hash());
            records.push(Value::pair(k.value, v));
        }
        if !passed.records.is_empty() {
            PASSED_UNCOMBINED.fetch_add(passed.records.len() as u64, Ordering::Relaxed);
        }
        records.extend(passed.records);
        hashes.extend(passed.hashes);
        Combined { records, hashes }
    }

    /// The combined records, without hashes (no combine gave up: `partial` was off).
    fn into_records(self) -> Partition {
        self.acc
            .into_iter()
            .map(|(k, v)| Value::pair(k.value, v))
            .collect()
    }
}

impl Sink for CombineSink<'_> {
    fn accept(&mut self, rec: Rec<'_>) -> Result<(), Fallback> {
        let Some((key_expr, value_expr)) = &self.pair else {
            let v = rec.into_value();
            let (k, x) = v.as_pair().map_err(|_| Fallback)?;
            return self.add(native_key(k)?, x.clone());
        };
        let value = if value_expr.arity() == 0 {
            match &self.constant {
                Some(c) => c.clone(),
                None => {
                    let c = value_expr.eval(&[])?;
                    self.constant = Some(c.clone());
                    c
                }
            }
        } else {
            rec.with(|x| value_expr.eval(&[x]))?
        };
        if key_expr.is_arg0() {
            match &rec {
                Rec::S(s) => return self.add_str(s, None, value),
                Rec::V(v @ Value::Str(s)) => return self.add_str(s, Some(v), value),
                Rec::V(_) => {}
            }
        }
        let key = rec.with(|x| key_expr.eval(&[x]))?;
        self.add(native_key(&key)?, value)
    }
}

/// The reduce side of a combine over a hash shuffle's `(key, value)` records, whose keys'
/// portable hashes the shuffle handed over (`hashes[j]` is the hash of record `j`'s key):
/// no key is hashed again, and the map is sized for every record being a new key.
pub fn combine_hashed(
    reducer: &Expr,
    records: &[Value],
    hashes: &[i64],
) -> Result<Partition, Fallback> {
    if records.len() != hashes.len() {
        return Err(Fallback);
    }
    let mut sink = CombineSink::new(reducer, None, 0, false);
    sink.acc.reserve(records.len());
    for (record, &h) in records.iter().zip(hashes) {
        let (k, v) = record.as_pair().map_err(|_| Fallback)?;
        if k.has_host() {
            return Err(Fallback);
        }
        sink.add(Key::with_hash(h, k.clone()), v.clone())?;
    }
    count_native(true);
    Ok(sink.into_records())
}

fn push(steps: &[(NativeKind, &Expr)], rec: Rec<'_>, sink: &mut dyn Sink) -> Result<(), Fallback> {
    let Some((&(kind, expr), rest)) = steps.split_first() else {
        return sink.accept(rec);
    };
    match kind {
        NativeKind::FlatMap => {
            if let Some(on) = expr.as_split_of_arg0() {
                match &rec {
                    Rec::S(s) => return split_push(s, on, rest, sink),
                    Rec::V(Value::Str(s)) => return split_push(s, on, rest, sink),
                    _ => {}
                }
            }
            let mut items = Vec::new();
            extend_iterable(&mut items, rec.with(|x| expr.eval(&[x]))?)?;
            for item in items {
                push(rest, Rec::V(item), sink)?;
            }
            Ok(())
        }
        NativeKind::Map => {
            let v = rec.with(|x| expr.eval(&[x]))?;
            push(rest, Rec::V(v), sink)
        }
        NativeKind::Filter => {
            if rec.with(|x| expr.eval(&[x]))?.truthy().ok_or(Fallback)? {
                push(rest, rec, sink)
            } else {
                Ok(())
            }
        }
        NativeKind::KeyBy => {
            let v = rec.into_value();
            let k = expr.eval(&[&v])?;
            push(rest, Rec::V(Value::pair(k, v)), sink)
        }
        NativeKind::MapValues => {
            let v = rec.into_value();
            let (k, x) = v.as_pair().map_err(|_| Fallback)?;
            let out = Value::pair(k.clone(), expr.eval(&[x])?);
            push(rest, Rec::V(out), sink)
        }
        NativeKind::FlatMapValues => {
            let v = rec.into_value();
            let (k, x) = v.as_pair().map_err(|_| Fallback)?;
            let mut items = Vec::new();
            extend_iterable(&mut items, expr.eval(&[x])?)?;
            for item in items {
                push(rest, Rec::V(Value::pair(k.clone(), item)), sink)?;
            }
            Ok(())
        }
        // A combine is only ever the sink of a chain.
        NativeKind::Combine => Err(Fallback),
    }
}

fn split_push(
    s: &str,
    on: SplitOn<'_>,
    rest: &[(NativeKind, &Expr)],
    sink: &mut dyn Sink,
) -> Result<(), Fallback> {
    match on {
        SplitOn::Sep(sep) if sep.len() == 1 && sep.is_ascii() => {
            let c = sep.as_bytes()[0] as char;
            for piece in s.split(c) {
                push(rest, Rec::S(piece), sink)?;
            }
        }
        SplitOn::Sep(sep) => {
            for piece in s.split(sep) {
                push(rest, Rec::S(piece), sink)?;
            }
        }
        SplitOn::Whitespace => {
            for piece in crate::engine::expr::split_whitespace_all(s) {
                push(rest, Rec::S(piece), sink)?;
            }
        }
    }
    Ok(())
}

/// The records a fused chain reads, one [`Rec`] at a time.
trait Feed {
    fn len(&self) -> usize;
    fn each(&self, f: &mut dyn FnMut(Rec<'_>) -> Result<(), Fallback>) -> Result<(), Fallback>;
}

impl Feed for [Value] {
    fn len(&self) -> usize {
        <[Value]>::len(self)
    }

    fn each(&self, f: &mut dyn FnMut(Rec<'_>) -> Result<(), Fallback>) -> Result<(), Fallback> {
        for x in self {
            f(Rec::V(x.clone()))?;
        }
        Ok(())
    }
}

/// A column of strings read in place: each a borrowed `&str`, a null None.
struct StrColumn<'a>(&'a LargeStringArray);

impl Feed for StrColumn<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn each(&self, f: &mut dyn FnMut(Rec<'_>) -> Result<(), Fallback>) -> Result<(), Fallback> {
        let a = self.0;
        if a.null_count() == 0 {
            for i in 0..a.len() {
                f(Rec::S(a.value(i)))?;
            }
            return Ok(());
        }
        for i in 0..a.len() {
            if a.is_null(i) {
                f(Rec::V(Value::None))?;
            } else {
                f(Rec::S(a.value(i)))?;
            }
        }
        Ok(())
    }
}

/// Run a chain of native steps (at most one combine, last) over a partition in one pass per
/// record: no intermediate partitions, and (see [`CombineSink`]) no per-record allocation for
/// the word-count shape. `Err(Fallback)` means: run the steps one by one instead.
pub fn run_fused(steps: &[(NativeKind, &Expr)], input: &[Value]) -> Result<Partition, Fallback> {
    let out = run_fused_chain(steps, input);
    if out.is_ok() {
        count_native(true);
    }
    out
}

/// [`run_fused`] over a native block, reading its buffers in place: each line of a block of
/// lines is fed as a borrowed `&str`; for a block of UTF-8 pairs, a first step that is
/// `kv[1]` (`kv[0]`) is done by feeding the values (keys) column. `None`: the chain does not
/// start in a way the block can feed (the caller converts it to rows); `Err(Fallback)`: a
/// record needs Python (the caller runs the steps one by one over rows).
pub fn run_fused_block(
    steps: &[(NativeKind, &Expr)],
    block: &Block,
) -> Option<Result<Partition, Fallback>> {
    let (steps, column) = block_feed(steps, block)?;
    let out = run_fused_chain(steps, &column);
    if out.is_ok() {
        count_native(true);
        crate::engine::block::count_fused();
    }
    Some(out)
}

/// The steps left and the column to feed them when `block` can feed `steps` in place.
fn block_feed<'s, 'b, 'e>(
    steps: &'s [(NativeKind, &'e Expr)],
    block: &'b Block,
) -> Option<(&'s [(NativeKind, &'e Expr)], StrColumn<'b>)> {
    match block {
        Block::Lines(lines) => Some((steps, StrColumn(lines))),
        Block::StrPairs { keys, values } => {
            let (&(kind, first), rest) = steps.split_first()?;
            if kind != NativeKind::Map {
                return None;
            }
            let column = match first.as_item_of_arg0()? {
                0 | -2 => keys,
                1 | -1 => values,
                _ => return None,
            };
            Some((rest, StrColumn(column)))
        }
        Block::BytePairs { .. } => None,
    }
}

/// The map side of a shuffle, for a chain that ends in a combine: [`run_fused`] (or
/// [`run_fused_block`] when the input is a block the chain can read in place) with the keys'
/// portable hashes kept for a hash partitioner. When `partial` (the shuffle's reader combines
/// again), the combine passes records on uncombined when combining does not pay (see
/// [`PARTIAL_PROBE_RECORDS`]), so a key may come more than once. `None`: the chain does not
/// end in a combine, or the block cannot feed it.
pub fn run_fused_map_side(
    steps: &[(NativeKind, &Expr)],
    input: &crate::engine::block::Data,
    partial: bool,
) -> Option<Result<Combined, Fallback>> {
    use crate::engine::block::Data;
    let out = match input {
        Data::Rows(rows) => combine_chain(steps, rows.as_slice(), partial)?,
        Data::Block(block) => {
            let (steps, column) = block_feed(steps, block)?;
            let out = combine_chain(steps, &column, partial)?;
            if out.is_ok() {
                crate::engine::block::count_fused();
            }
            out
        }
    };
    if out.is_ok() {
        count_native(true);
    }
    Some(out)
}

/// A chain ending in a combine, over `input`. `None`: the chain does not end in a combine.
fn combine_chain<F: Feed + ?Sized>(
    steps: &[(NativeKind, &Expr)],
    input: &F,
    partial: bool,
) -> Option<Result<Combined, Fallback>> {
    let sink = combine_sink(steps, input, partial)?;
    Some(sink.map(CombineSink::finish))
}

/// Feed `input` through the steps before the last (a combine) into the combine's sink.
/// `None`: the last step is not a combine.
fn combine_sink<'e, F: Feed + ?Sized>(
    steps: &[(NativeKind, &'e Expr)],
    input: &F,
    partial: bool,
) -> Option<Result<CombineSink<'e>, Fallback>> {
    let (&(NativeKind::Combine, reducer), before) = steps.split_last()? else {
        return None;
    };
    let (pre, pair) = match before.split_last() {
        Some((&(NativeKind::Map, map), pre)) if map.pair_parts().is_some() => {
            (pre, map.pair_parts())
        }
        _ => (before, None),
    };
    let mut sink = CombineSink::new(reducer, pair, input.len(), partial);
    Some(
        input
            .each(&mut |rec| push(pre, rec, &mut sink))
            .map(|()| sink),
    )
}

fn run_fused_chain<F: Feed + ?Sized>(
    steps: &[(NativeKind, &Expr)],
    input: &F,
) -> Result<Partition, Fallback> {
    if let Some(sink) = combine_sink(steps, input, false) {
        return Ok(sink?.into_records());
    }
    let mut sink = Collect(Vec::with_capacity(input.len()));
    input.each(&mut |rec| push(steps, rec, &mut sink))?;
    Ok(sink.0)
}

impl Step {
    /// The kind and expression of a native step.
    pub fn native(&self) -> Option<(NativeKind, &Expr)> {
        match self {
            Step::Native { kind, expr, .. } => Some((*kind, expr)),
            _ => None,
        }
    }
}

// ------------------------------------------------------------------------------------------
// serialisable plans

/// A host function in a serialisable plan: an id the receiving process resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostHandle(pub u64);

/// Host functions by handle. The driver gives each function a handle when it writes a plan
/// ([`HostFns::handle_of`]); a worker registers the functions it was sent under the same
/// handles ([`HostFns::insert`]) and resolves plans with them.
#[derive(Default)]
pub struct HostFns {
    fns: Vec<(HostHandle, Arc<dyn PartitionFn>)>,
}

impl HostFns {
    /// The handle of `f` (the same function object always gets the same handle).
    pub fn handle_of(&mut self, f: &Arc<dyn PartitionFn>) -> HostHandle {
        if let Some((h, _)) = self
            .fns
            .iter()
            .find(|(_, g)| std::ptr::addr_eq(Arc::as_ptr(g), Arc::as_ptr(f)))
        {
            return *h;
        }
        let h = HostHandle(self.fns.len() as u64);
        self.fns.push((h, f.clone()));
        h
    }

    /// Register `f` under `handle` (replacing what was there).
    pub fn insert(&mut self, handle: HostHandle, f: Arc<dyn PartitionFn>) {
        self.fns.retain(|(h, _)| *h != handle);
        self.fns.push((handle, f));
    }

    /// Every function with its handle (what a driver ships along with its plans).
    pub fn iter(&self) -> impl Iterator<Item = (HostHandle, &Arc<dyn PartitionFn>)> {
        self.fns.iter().map(|(h, f)| (*h, f))
    }

    pub fn resolve(&self, handle: HostHandle) -> Result<Arc<dyn PartitionFn>> {
        self.fns
            .iter()
            .find(|(h, _)| *h == handle)
            .map(|(_, f)| f.clone())
            .ok_or_else(|| {
                EngineError::IllegalState(format!("no host function for handle {}", handle.0))
            })
    }
}

/// A [`Step`] as it travels: serialisable, host functions by handle.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum StepPlan {
    Host(HostHandle),
    Native {
        kind: NativeKind,
        expr: Expr,
        fallback: HostHandle,
    },
    GroupLocal,
    Glom,
    Count,
}

impl Step {
    /// This step as a plan, its host functions registered in `fns`.
    pub fn to_plan(&self, fns: &mut HostFns) -> StepPlan {
        match self {
            Step::Host(f) => StepPlan::Host(fns.handle_of(f)),
            Step::Native {
                kind,
                expr,
                fallback,
            } => StepPlan::Native {
                kind: *kind,
                expr: (**expr).clone(),
                fallback: fns.handle_of(fallback),
            },
            Step::GroupLocal => StepPlan::GroupLocal,
            Step::Glom => StepPlan::Glom,
            Step::Count => StepPlan::Count,
        }
    }
}

impl StepPlan {
    /// The step, its handles resolved in `fns`.
    pub fn resolve(&self, fns: &HostFns) -> Result<Step> {
        Ok(match self {
            StepPlan::Host(h) => Step::Host(fns.resolve(*h)?),
            StepPlan::Native {
                kind,
                expr,
                fallback,
            } => {
                if expr.arity() > kind.arity() {
                    return Err(EngineError::InvalidArgument(format!(
                        "a native {kind:?} step takes {} argument(s), its expression {}",
                        kind.arity(),
                        expr.arity()
                    )));
                }
                Step::Native {
                    kind: *kind,
                    expr: Arc::new(expr.clone()),
                    fallback: fns.resolve(*fallback)?,
                }
            }
            StepPlan::GroupLocal => Step::GroupLocal,
            StepPlan::Glom => Step::Glom,
            StepPlan::Count => Step::Count,
        })
    }
}

/// Run `steps` over partition `split` as a dataset runs a chain of narrow steps: consecutive
/// native steps fused into one pass per record (a combine ends a run); a run that meets a
/// record native code does not model runs step by step, each with its host fallback.
pub fn run_steps(steps: &[Step], split: usize, input: Partition) -> Result<Partition> {
    let mut data = input;
    let mut run: Vec<&Step> = Vec::new();
    for step in steps {
        match step.native() {
            Some((kind, _)) => {
                run.push(step);
                if kind == NativeKind::Combine {
                    data = run_native_steps(&run, split, data)?;
                    run.clear();
                }
            }
            None => {
                data = run_native_steps(&run, split, data)?;
                run.clear();
                data = step.apply(split, data)?;
            }
        }
    }
    run_native_steps(&run, split, data)
}

fn run_native_steps(run: &[&Step], split: usize, input: Partition) -> Result<Partition> {
    if run.is_empty() {
        return Ok(input);
    }
    let fused: Vec<(NativeKind, &Expr)> = run.iter().filter_map(|s| s.native()).collect();
    if let Ok(out) = run_fused(&fused, &input) {
        return Ok(out);
    }
    let mut data = input;
    for step in run {
        data = step.apply(split, data)?;
    }
    Ok(data)
}
