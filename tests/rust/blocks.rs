//! Native partition blocks: a dataset whose source reads Arrow buffers gives exactly what the
//! same records as rows give, through fused native steps (read in place), their fallbacks and
//! host steps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ferrostream::engine::block::{block_stats, Block, Data, LinesBuilder, PairsBuilder};
use ferrostream::engine::context::EngineContext;
use ferrostream::engine::error::Result;
use ferrostream::engine::expr::Expr;
use ferrostream::engine::host::PartitionFn;
use ferrostream::engine::rdd::{Partition, PartitionSource, Rdd};
use ferrostream::engine::step::{NativeKind, Step};
use ferrostream::engine::value::Value;

fn s(x: &str) -> Value {
    Value::str(x)
}
fn t(items: Vec<Value>) -> Value {
    Value::Tuple(items.into())
}
fn arg(k: i64) -> Value {
    t(vec![s("arg"), Value::Int(k)])
}
fn cnst(v: Value) -> Value {
    t(vec![s("const"), v])
}

/// A source of blocks (their rows from `compute`).
struct Blocks(Vec<Block>);

impl PartitionSource for Blocks {
    fn num_partitions(&self) -> usize {
        self.0.len()
    }
    fn compute(&self, i: usize) -> Result<Partition> {
        Ok(self.0[i].clone().into_values())
    }
    fn compute_data(&self, i: usize) -> Result<Data> {
        Ok(Data::block(self.0[i].clone()))
    }
}

/// The host side of the steps: Python's `str.upper` for `upper`, a whole-partition
/// `repr` for the host step. Counts its calls.
struct Host {
    calls: AtomicUsize,
    upper: bool,
}

impl PartitionFn for Host {
    fn call(&self, _split: usize, input: Vec<Value>) -> Result<Vec<Value>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(input
            .into_iter()
            .map(|v| match v {
                Value::Str(x) if self.upper => s(&x.to_uppercase()),
                other => s(&other.repr_lossy()),
            })
            .collect())
    }
}

fn step(kind: NativeKind, e: Value, fallback: &Arc<Host>) -> Step {
    Step::Native {
        kind,
        expr: Arc::new(Expr::from_value(&e).expect("valid encoding")),
        fallback: fallback.clone(),
    }
}

fn lines(parts: &[&[&str]]) -> Vec<Block> {
    parts
        .iter()
        .map(|p| {
            let mut b = LinesBuilder::with_capacity(p.len(), 16);
            for l in *p {
                b.push(l);
            }
            b.finish()
        })
        .collect()
}

fn pairs(parts: &[&[(Option<&str>, Option<&str>)]]) -> Vec<Block> {
    parts
        .iter()
        .map(|p| {
            let mut b = PairsBuilder::strings(p.len(), 16);
            for (k, v) in *p {
                b.push_str(*k, *v);
            }
            b.finish()
        })
        .collect()
}

/// The same job over the blocks and over their rows: the records, and the two results' reprs.
fn both(
    ctx: &Arc<EngineContext>,
    blocks: Vec<Block>,
    job: impl Fn(Arc<Rdd>) -> Arc<Rdd>,
) -> (Vec<String>, Vec<String>) {
    let rows: Vec<Partition> = blocks.iter().map(|b| b.clone().into_values()).collect();
    let native = job(Rdd::lazy(ctx, Arc::new(Blocks(blocks))));
    let plain = job(Rdd::from_partitions(ctx, rows));
    let repr = |r: Arc<Rdd>| -> Vec<String> {
        r.collect().unwrap().iter().map(Value::repr_lossy).collect()
    };
    (repr(native), repr(plain))
}

/// `map(kv[i])`, `flatMap(split(" "))`, `map((w, 1))`, `reduceByKey(a + b)`'s combine; the
/// first step only when `index` is given.
fn word_count(rdd: Arc<Rdd>, index: Option<i64>, fallback: &Arc<Host>) -> Arc<Rdd> {
    let mut rdd = rdd;
    if let Some(i) = index {
        let item = t(vec![s("getitem"), arg(0), cnst(Value::Int(i))]);
        rdd = rdd.with_step(step(NativeKind::Map, item, fallback));
    }
    let split = t(vec![s("method"), s("split"), arg(0), t(vec![cnst(s(" "))])]);
    let pair = t(vec![s("tuple"), t(vec![arg(0), cnst(Value::Int(1))])]);
    let add = t(vec![s("binop"), s("+"), arg(0), arg(1)]);
    rdd.with_step(step(NativeKind::FlatMap, split, fallback))
        .with_step(step(NativeKind::Map, pair, fallback))
        .with_step(step(NativeKind::Combine, add, fallback))
}

#[test]
fn fused_steps_read_lines_and_values_in_place_and_give_the_rows_results() {
    let ctx = EngineContext::new(2).unwrap();
    let host = Arc::new(Host {
        calls: AtomicUsize::new(0),
        upper: true,
    });
    let before = block_stats();
    let text = lines(&[&["a b a", "", "b  é"], &["c", "a"]]);
    let (native, plain) = both(&ctx, text, |r| word_count(r, None, &host));
    assert_eq!(native, plain);
    assert!(native.contains(&"('a', 2)".to_string()), "{native:?}");

    let kafka = pairs(&[
        &[(Some("k"), Some("x y")), (None, Some("y"))],
        &[(Some("k2"), Some("x"))],
    ]);
    for index in [1, -1] {
        let (native, plain) = both(&ctx, kafka.clone(), |r| word_count(r, Some(index), &host));
        assert_eq!(native, plain);
        assert_eq!(native, ["('x', 1)", "('y', 2)", "('x', 1)"]);
    }
    // Keys, absent ones None, as `kv[0]` gives them.
    let item = t(vec![s("getitem"), arg(0), cnst(Value::Int(0))]);
    let (native, plain) = both(&ctx, kafka, |r| {
        r.with_step(step(NativeKind::Map, item.clone(), &host))
    });
    assert_eq!(native, plain);
    assert_eq!(native, ["'k'", "None", "'k2'"]);
    assert_eq!(host.calls.load(Ordering::Relaxed), 0, "nothing fell back");
    // 2 text partitions, 2 x 2 pair partitions, 2 of keys (other tests may add theirs).
    assert!(block_stats().fused >= before.fused + 8);
}

#[test]
fn blocks_that_do_not_fit_or_need_the_host_give_the_rows_results() {
    let ctx = EngineContext::new(2).unwrap();
    let upper = Arc::new(Host {
        calls: AtomicUsize::new(0),
        upper: true,
    });
    let before = block_stats();
    // Non-ASCII case mapping is the host's: the partition falls back.
    let to_upper = t(vec![s("method"), s("upper"), arg(0), t(vec![])]);
    let (native, plain) = both(&ctx, lines(&[&["ab", "é"]]), |r| {
        r.with_step(step(NativeKind::Map, to_upper.clone(), &upper))
    });
    assert_eq!(native, plain);
    assert_eq!(native, ["'AB'", "'É'"]);
    assert_eq!(upper.calls.load(Ordering::Relaxed), 2, "once per run");

    // A chain over pairs that does not start with kv[i]: rows.
    let is_keyed = t(vec![
        s("cmp"),
        s("is not"),
        t(vec![s("getitem"), arg(0), cnst(Value::Int(0))]),
        cnst(Value::None),
    ]);
    let kafka = pairs(&[&[(Some("k"), Some("v")), (None, None)]]);
    let (native, plain) = both(&ctx, kafka.clone(), |r| {
        r.with_step(step(NativeKind::Filter, is_keyed.clone(), &upper))
    });
    assert_eq!(native, plain);
    assert_eq!(native, ["('k', 'v')"]);

    // A host step over a block gets its rows (the default `call_block`).
    let repr = Arc::new(Host {
        calls: AtomicUsize::new(0),
        upper: false,
    });
    let (native, plain) = both(&ctx, kafka, |r| r.with_step(Step::Host(repr.clone())));
    assert_eq!(native, plain);
    assert_eq!(native, ["\"('k', 'v')\"", "'(None, None)'"]);
    let after = block_stats();
    assert!(after.to_rows >= before.to_rows + 3, "{before:?} {after:?}");

    // A count needs no rows.
    let counted = Rdd::lazy(&ctx, Arc::new(Blocks(lines(&[&["a", "b"], &[]]))));
    assert_eq!(counted.count().unwrap(), 2);
}

/// A word count over many distinct words, short and long (past 16 bytes, some differing only
/// at the end), read in place from lines: every word counted once per occurrence, keys in
/// first-seen order, as over rows.
#[test]
fn fused_word_counts_find_every_word_again_whatever_its_length() {
    let ctx = EngineContext::new(2).unwrap();
    let host = Arc::new(Host {
        calls: AtomicUsize::new(0),
        upper: false,
    });
    let word = |i: usize| match i % 3 {
        0 => format!("w{i}"),
        1 => format!("a-rather-long-word-{i:08}"),
        _ => format!("{}{i}", "x".repeat(i % 40)),
    };
    let text: Vec<String> = (0..30_000)
        .map(|j| {
            (0..5)
                .map(|k| word((j * 7 + k * 13) % 12_000))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let mut expected: indexmap::IndexMap<String, i64> = indexmap::IndexMap::new();
    for line in &text {
        for w in line.split(' ') {
            *expected.entry(w.to_string()).or_default() += 1;
        }
    }
    let refs: Vec<&str> = text.iter().map(String::as_str).collect();
    let (native, plain) = both(&ctx, lines(&[&refs]), |r| word_count(r, None, &host));
    assert_eq!(native, plain);
    let want: Vec<String> = expected
        .iter()
        .map(|(w, c)| format!("('{w}', {c})"))
        .collect();
    assert_eq!(native, want);
    assert_eq!(host.calls.load(Ordering::Relaxed), 0, "nothing fell back");
}
