//! Fused chains: native steps run over a partition in one pass per record, reading rows or
//! a native block in place.

use arrow_array::{Array, LargeStringArray};

use super::combine::{CombineSink, Combined};
use super::{count_native, extend_iterable, NativeKind, Step};
use crate::engine::block::Block;
use crate::engine::error::Result;
use crate::engine::expr::{Expr, Fallback, SplitOn};
use crate::engine::rdd::Partition;
use crate::engine::value::Value;

/// A record in flight through fused steps: owned, or a piece borrowed from the input (a word
/// just split from a line), which is only copied if a later step needs an owned value.
pub(super) enum Rec<'a> {
    V(Value),
    S(&'a str),
}

impl Rec<'_> {
    pub(super) fn with<R>(&self, f: impl FnOnce(&Value) -> R) -> R {
        match self {
            Rec::V(v) => f(v),
            Rec::S(s) => f(&Value::str(s)),
        }
    }

    pub(super) fn into_value(self) -> Value {
        match self {
            Rec::V(v) => v,
            Rec::S(s) => Value::str(s),
        }
    }
}

pub(super) trait Sink {
    fn accept(&mut self, rec: Rec<'_>) -> Result<(), Fallback>;
}

struct Collect(Vec<Value>);

impl Sink for Collect {
    fn accept(&mut self, rec: Rec<'_>) -> Result<(), Fallback> {
        self.0.push(rec.into_value());
        Ok(())
    }
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

/// The map side of a shuffle, for a chain that ends in a combine or in a map that builds a
/// pair (`lambda w: (w, 1)`): [`run_fused`] (or [`run_fused_block`] when the input is a block
/// the chain can read in place) with the keys' portable hashes kept for a hash partitioner,
/// and the pairs as keyed columns. When `partial` (the shuffle's reader combines again), the
/// combine passes records on uncombined when combining does not pay (see
/// [`PARTIAL_PROBE_RECORDS`]), so a key may come more than once. `None`: the chain ends in
/// neither, or the block cannot feed it.
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

/// A chain ending in a combine, or in a map that builds pairs, over `input`. `None`: the
/// chain ends in neither.
fn combine_chain<F: Feed + ?Sized>(
    steps: &[(NativeKind, &Expr)],
    input: &F,
    partial: bool,
) -> Option<Result<Combined, Fallback>> {
    if let Some(sink) = combine_sink(steps, input, partial) {
        return Some(sink.map(CombineSink::finish));
    }
    let (&(NativeKind::Map, map), pre) = steps.split_last()? else {
        return None;
    };
    let mut sink = PairSink {
        out: Combined::with_capacity(input.len()),
        pair: PairParts::of(map)?,
    };
    let out = input.each(&mut |rec| push(pre, rec, &mut sink));
    if out.is_ok() {
        super::count_keyed_map_side();
    }
    Some(out.map(|()| sink.out))
}

/// The key and value expressions of a map that builds a `(key, value)` pair, for sinks that
/// take the two apart instead of building the tuple.
pub(super) struct PairParts {
    key: Expr,
    value: Expr,
    /// The value when it is a constant (`(w, 1)`), evaluated once.
    constant: Option<Value>,
}

impl PairParts {
    /// None: `map` does not build a 2-tuple.
    pub(super) fn of(map: &Expr) -> Option<PairParts> {
        let (key, value) = map.pair_parts()?;
        Some(PairParts {
            key,
            value,
            constant: None,
        })
    }

    pub(super) fn value(&mut self, rec: &Rec<'_>) -> Result<Value, Fallback> {
        if let Some(c) = &self.constant {
            return Ok(c.clone());
        }
        if self.value.arity() > 0 {
            return rec.with(|x| self.value.eval(&[x]));
        }
        let c = self.value.eval(&[])?;
        self.constant = Some(c.clone());
        Ok(c)
    }

    /// The key is the record itself (`(w, ...)`).
    pub(super) fn key_is_arg0(&self) -> bool {
        self.key.is_arg0()
    }

    pub(super) fn key(&self, rec: &Rec<'_>) -> Result<Value, Fallback> {
        rec.with(|x| self.key.eval(&[x]))
    }
}

/// The end of a chain whose last map builds a `(key, value)` pair: the key, the value and the
/// key's portable hash go into three columns, and no tuple is built. A key native code does
/// not model falls back (the chain then runs over rows).
struct PairSink {
    out: Combined,
    pair: PairParts,
}

impl Sink for PairSink {
    fn accept(&mut self, rec: Rec<'_>) -> Result<(), Fallback> {
        let value = self.pair.value(&rec)?;
        let key = if self.pair.key_is_arg0() {
            rec.into_value()
        } else {
            self.pair.key(&rec)?
        };
        if key.has_host() {
            return Err(Fallback);
        }
        let hash = key.portable_hash().map_err(|_| Fallback)?;
        self.out.push(hash, key, value);
        Ok(())
    }
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
        Some((&(NativeKind::Map, map), pre)) => match PairParts::of(map) {
            Some(pair) => (pre, Some(pair)),
            None => (before, None),
        },
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
