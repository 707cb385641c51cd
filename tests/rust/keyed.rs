//! Keyed operators, known partitioning and limits, driven from Rust.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferrostream::engine::context::EngineContext;
use ferrostream::engine::ops::keyed::KeyOp;
use ferrostream::engine::rdd::{Partitioning, Rdd};
use ferrostream::engine::value::Value;

fn pairs(ctx: &Arc<EngineContext>, n: usize, parts: usize) -> Arc<Rdd> {
    let records: Vec<Value> = (0..n as i64)
        .map(|i| Value::pair(Value::Int(i % 10), Value::Int(i)))
        .collect();
    let chunk = n.div_ceil(parts);
    Rdd::from_partitions(ctx, records.chunks(chunk).map(<[Value]>::to_vec).collect())
}

fn shuffles(ctx: &EngineContext) -> u64 {
    ctx.metrics().shuffles.load(Ordering::Relaxed)
}

#[test]
fn hash_partitioned_inputs_are_not_shuffled_again() {
    let ctx = EngineContext::new(2).unwrap();
    let state = pairs(&ctx, 100, 3).partition_by_hash(4).unwrap();
    state.persist();
    assert_eq!(state.count().unwrap(), 100);
    let again = state.partition_by_hash(4).unwrap();
    assert!(Arc::ptr_eq(&again, &state));
    assert!(matches!(state.partitioning(), Some(Partitioning::Hash(4))));

    let batch = pairs(&ctx, 20, 2);
    let target = Rdd::default_partitioning(&[state.clone(), batch.clone()], None, 5);
    assert!(target == Partitioning::Hash(4));
    let before = shuffles(&ctx);
    let grouped = Rdd::keyed(&[state.clone(), batch], KeyOp::CoGroup, &target).unwrap();
    let out = grouped.collect().unwrap();
    assert_eq!(out.len(), 10);
    assert_eq!(shuffles(&ctx) - before, 1); // only the batch moved
    for record in &out {
        let (_, sides) = record.as_pair().unwrap();
        let Value::Tuple(sides) = sides else {
            panic!("cogroup gives a tuple of groups")
        };
        assert!(matches!(&sides[0], Value::Group(vs) if vs.len() == 10));
        assert!(matches!(&sides[1], Value::Group(vs) if vs.len() == 2));
    }
}

#[test]
fn sorts_take_and_joins() {
    let ctx = EngineContext::new(2).unwrap();
    let data = pairs(&ctx, 50, 4);
    let sorted = data.sort_by_key(false, 3).unwrap();
    let keys: Vec<i64> = sorted
        .collect()
        .unwrap()
        .iter()
        .map(|r| match r.as_pair().unwrap().0 {
            Value::Int(i) => *i,
            _ => panic!("int keys"),
        })
        .collect();
    let mut expected = keys.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, expected);
    assert_eq!(sorted.take(3).unwrap().len(), 3);

    let left = pairs(&ctx, 10, 2);
    let right = Rdd::from_partitions(
        &ctx,
        vec![vec![Value::pair(Value::Int(3), Value::str("x"))]],
    );
    let target = Rdd::default_partitioning(&[left.clone(), right.clone()], Some(2), 3);
    let join = KeyOp::Join {
        left_outer: false,
        right_outer: false,
    };
    let joined = Rdd::keyed(&[left, right], join, &target)
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].to_py_repr().unwrap(), "(3, (3, 'x'))");
}

#[test]
fn a_hash_shuffle_hands_key_hashes_only_to_readers_that_ask() {
    let ctx = EngineContext::new(2).unwrap();
    let plain = pairs(&ctx, 50, 3).partition_by_hash(4).unwrap();
    plain.prepare().unwrap();
    assert!(plain.compute_hashed(0).unwrap().hashes.is_none());

    let wanted = pairs(&ctx, 50, 3)
        .partition_by_hash(4)
        .unwrap()
        .want_key_hashes();
    wanted.prepare().unwrap();
    for i in 0..4 {
        let fetched = wanted.compute_hashed(i).unwrap();
        let hashes = fetched.hashes.expect("hashes kept");
        assert_eq!(hashes.len(), fetched.records.len());
        for (record, h) in fetched.records.iter().zip(hashes) {
            assert_eq!(record.as_pair().unwrap().0.portable_hash().unwrap(), h);
            assert_eq!(h.rem_euclid(4), i as i64);
        }
    }
    // Keyed operators ask for them: their results are what hashing again gives.
    let grouped = Rdd::keyed(
        &[pairs(&ctx, 50, 3)],
        KeyOp::GroupByKey,
        &Partitioning::Hash(4),
    )
    .unwrap();
    assert_eq!(grouped.collect().unwrap().len(), 10);
}

#[test]
fn count_by_value_merges_partitions_in_first_seen_order_with_pythons_equality() {
    let ctx = EngineContext::new(2).unwrap();
    // Every value occurs in several of the 7 partitions; 1, 1.0 and True are one value.
    let records: Vec<Value> = (0..5000)
        .map(|i| match i % 7 {
            0 => Value::Int(1),
            1 => Value::Float(1.0),
            2 => Value::Bool(true),
            _ => Value::str(&format!("w{}", (i * 31) % 997)),
        })
        .collect();
    let parts: Vec<Vec<Value>> = records.chunks(700).map(<[Value]>::to_vec).collect();
    let rdd = Rdd::from_partitions(&ctx, parts);
    let counts = ferrostream::engine::ops::actions::count_by_value(&rdd).unwrap();

    // What a Python dict does over the records in order.
    let mut expected: Vec<(Value, i64)> = Vec::new();
    for r in &records {
        match expected.iter_mut().find(|(v, _)| v.py_eq(r)) {
            Some((_, c)) => *c += 1,
            None => expected.push((r.clone(), 1)),
        }
    }
    assert_eq!(counts.len(), expected.len());
    for ((v, c), (ev, ec)) in counts.iter().zip(&expected) {
        assert!(v.py_eq(ev), "{v:?} where {ev:?} was first seen");
        assert!(matches!(
            (v, ev),
            (Value::Int(_), Value::Int(_)) | (Value::Str(_), Value::Str(_))
        ));
        assert_eq!(c, ec, "count of {v:?}");
    }
}

/// A native step's fallback that must not run.
struct NoFallback;

impl ferrostream::engine::host::PartitionFn for NoFallback {
    fn call(
        &self,
        _split: usize,
        _input: Vec<Value>,
    ) -> ferrostream::engine::error::Result<Vec<Value>> {
        panic!("the native step fell back")
    }
}

fn native_map(e: Value) -> ferrostream::engine::step::Step {
    ferrostream::engine::step::Step::Native {
        kind: ferrostream::engine::step::NativeKind::Map,
        expr: crate::support::expr(e),
        fallback: Arc::new(NoFallback),
    }
}

/// `rdd.sortBy(lambda kv: kv[1], asc, n).zipWithIndex()` as the facade plans it (`keyBy`,
/// `sortByKey`, `values()`), over uneven and empty partitions with repeated sort keys: the
/// records come out stably sorted and numbered from 0, whether the sizes are read from the
/// shuffle or not, and the same as `zipWithIndex` over the collected order.
#[test]
fn sort_by_then_zip_with_index_numbers_a_stable_order() {
    use crate::support::{arg, cnst, t};
    let ctx = EngineContext::new(2).unwrap();
    let record = |i: i64| Value::pair(Value::str(&format!("r{i}")), Value::Int((i * 7) % 5));
    let parts: Vec<Vec<Value>> = vec![
        (0..13).map(record).collect(),
        Vec::new(),
        (13..14).map(record).collect(),
        (14..40).map(record).collect(),
    ];
    let all: Vec<Value> = parts.iter().flatten().cloned().collect();
    let item = |i: i64| t(vec![Value::str("getitem"), arg(0), cnst(Value::Int(i))]);
    for ascending in [true, false] {
        for n in [1usize, 3, 7] {
            let data = Rdd::from_partitions(&ctx, parts.clone());
            let keyed = data.with_step(native_map(t(vec![
                Value::str("tuple"),
                t(vec![item(1), arg(0)]),
            ])));
            let sorted = keyed.sort_by_key(ascending, n).unwrap();
            let values = sorted.with_step(native_map(item(1)));
            let indexed = values.zip_with_index().unwrap().collect().unwrap();
            // `sortBy` as the facade plans it now: the sorted ranges hold the records.
            let records = keyed.sort_values_by_key(ascending, n).unwrap();
            assert!(
                records.partitioning().is_none(),
                "sortBy's result has no partitioner"
            );
            let indexed_records = records.zip_with_index().unwrap().collect().unwrap();
            let show = |v: &Value| v.to_py_repr().unwrap();
            assert_eq!(
                indexed_records.iter().map(show).collect::<Vec<_>>(),
                indexed.iter().map(show).collect::<Vec<_>>()
            );
            let mut expected = all.clone();
            let key = |v: &Value| match v.as_pair().unwrap().1 {
                Value::Int(k) => *k,
                _ => panic!("int keys"),
            };
            if ascending {
                expected.sort_by_key(key);
            } else {
                expected.sort_by_key(|v| std::cmp::Reverse(key(v)));
            }
            assert_eq!(indexed.len(), expected.len());
            for (j, (got, want)) in indexed.iter().zip(&expected).enumerate() {
                let (x, idx) = got.as_pair().unwrap();
                assert_eq!(x.to_py_repr().unwrap(), want.to_py_repr().unwrap());
                assert!(matches!(idx, Value::Int(i) if *i == j as i64));
            }
        }
    }
}

fn native_combine(e: Value) -> ferrostream::engine::step::Step {
    ferrostream::engine::step::Step::Native {
        kind: ferrostream::engine::step::NativeKind::Combine,
        expr: crate::support::expr(e),
        fallback: Arc::new(NoFallback),
    }
}

/// `reduceByKey` over partitions much larger than the map-side combine's probe whose keys
/// are mostly new: the map side passes records on uncombined, and the result is the same,
/// record for record and in the same order, as the plan whose map side always combines;
/// a shuffle of that result that does not combine again (`partitionBy`) gets every key once.
#[test]
fn reduce_by_key_passes_records_on_when_combining_does_not_pay_with_the_same_result() {
    use crate::support::{arg, s, t};
    let ctx = EngineContext::new(2).unwrap();
    let key = |i: i64| Value::str(&format!("k{i}"));
    let one = |i: i64| Value::pair(key(i), Value::Int(1));
    // Partition 0: k0..k99999, then k0..k9999 again (after the probe); partition 1:
    // k50000..k149999.
    let p0: Vec<Value> = (0..100_000).chain(0..10_000).map(one).collect();
    let p1: Vec<Value> = (50_000..150_000).map(one).collect();
    let data = Rdd::from_partitions(&ctx, vec![p0, p1]);
    let add = t(vec![s("binop"), s("+"), arg(0), arg(1)]);

    let passed_before = ferrostream::engine::step::passed_uncombined();
    let reduced = data.reduce_by_key(native_combine(add.clone()), 2).unwrap();
    let out = reduced.collect().unwrap();
    assert!(
        ferrostream::engine::step::passed_uncombined() > passed_before,
        "the map side combined everything"
    );

    let always_combined = data
        .with_step(native_combine(add.clone()))
        .partition_by_hash(2)
        .unwrap()
        .with_step(native_combine(add));
    let expected = always_combined.collect().unwrap();
    let show = |v: &Value| v.repr_lossy();
    assert_eq!(out.len(), 150_000);
    assert_eq!(
        out.iter().map(show).collect::<Vec<_>>(),
        expected.iter().map(show).collect::<Vec<_>>()
    );
    for record in &out {
        let (k, v) = record.as_pair().unwrap();
        let Value::Str(k) = k else {
            panic!("a str key")
        };
        let i: i64 = k[1..].parse().unwrap();
        let twice = i < 10_000 || (50_000..100_000).contains(&i);
        assert!(
            matches!(v, Value::Int(c) if *c == if twice { 2 } else { 1 }),
            "{k}: {v:?}"
        );
    }

    let repartitioned = reduced.partition_by_hash(3).unwrap().collect().unwrap();
    assert_eq!(repartitioned.len(), 150_000, "every key exactly once");
}
