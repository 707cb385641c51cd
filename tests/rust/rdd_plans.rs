//! Whole dataset plans as data: every plan here goes through bytes into a fresh context (its
//! host functions registered under their handles, as a worker would) and computes the same
//! partitions there; written again, it is the same bytes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ferrostream::engine::context::EngineContext;
use ferrostream::engine::error::{EngineError, Result};
use ferrostream::engine::host::{KeyPartitioner, PartitionFn, Payload};
use ferrostream::engine::ops::keyed::KeyOp;
use ferrostream::engine::ops::sample::{Fractions, SampleMode};
use ferrostream::engine::rdd::{
    PartitionSource, Partitioner, Partitioning, PlanFns, PlanOp, PlanSource, Rdd, RddPlan,
};
use ferrostream::engine::step::{NativeKind, Step, StepPlan};
use ferrostream::engine::value::Value;

use crate::support::{arg, cnst, expr, s, t};

/// A host step counting its calls; upper-cases strings, keeps other records.
struct Upper(AtomicUsize);

impl PartitionFn for Upper {
    fn call(&self, _split: usize, input: Vec<Value>) -> Result<Vec<Value>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(input
            .into_iter()
            .map(|v| match v {
                Value::Str(x) => Value::str(&x.to_uppercase()),
                other => other,
            })
            .collect())
    }

    fn payload(&self) -> Option<Result<Payload>> {
        Some(Ok(Payload {
            function: b"upper".to_vec(),
            shared: Vec::new(),
        }))
    }
}

/// The fallback of native steps here: must not run.
struct NoFallback;

impl PartitionFn for NoFallback {
    fn call(&self, _split: usize, _input: Vec<Value>) -> Result<Vec<Value>> {
        Err(EngineError::Internal("the native step fell back".into()))
    }

    fn payload(&self) -> Option<Result<Payload>> {
        Some(Ok(Payload {
            function: b"fallback".to_vec(),
            shared: Vec::new(),
        }))
    }
}

/// A function that can only run in this process.
struct LocalOnly;

impl PartitionFn for LocalOnly {
    fn call(&self, _split: usize, input: Vec<Value>) -> Result<Vec<Value>> {
        Ok(input)
    }
}

/// `partitionFunc(k) = k // 2` for int keys.
struct Halves;

impl KeyPartitioner for Halves {
    fn partition_ids(&self, keys: &[&Value]) -> Result<Vec<i64>> {
        keys.iter()
            .map(|k| match k {
                Value::Int(i) => Ok(i / 2),
                _ => Err(EngineError::Type("int keys".into())),
            })
            .collect()
    }
    fn identity(&self) -> usize {
        self as *const Halves as usize
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn native(kind: NativeKind, e: Value) -> Step {
    Step::Native {
        kind,
        expr: expr(e),
        fallback: Arc::new(NoFallback),
    }
}

fn times(k: i64) -> Step {
    native(
        NativeKind::Map,
        t(vec![s("binop"), s("*"), arg(0), cnst(Value::Int(k))]),
    )
}

fn add_combine() -> Step {
    native(
        NativeKind::Combine,
        t(vec![s("binop"), s("+"), arg(0), arg(1)]),
    )
}

fn ints(ctx: &Arc<EngineContext>, n: i64, parts: usize) -> Arc<Rdd> {
    let records: Vec<Value> = (0..n).map(Value::Int).collect();
    let chunk = (n as usize).div_ceil(parts).max(1);
    Rdd::from_partitions(ctx, records.chunks(chunk).map(<[Value]>::to_vec).collect())
}

fn pairs(ctx: &Arc<EngineContext>, n: i64, keys: i64, parts: usize) -> Arc<Rdd> {
    let records: Vec<Value> = (0..n)
        .map(|i| Value::pair(Value::Int(i % keys), Value::str(&format!("v{i}"))))
        .collect();
    let chunk = (n as usize).div_ceil(parts).max(1);
    Rdd::from_partitions(ctx, records.chunks(chunk).map(<[Value]>::to_vec).collect())
}

fn partitions(rdd: &Rdd) -> Vec<Vec<String>> {
    rdd.compute_all()
        .unwrap()
        .iter()
        .map(|p| p.iter().map(Value::repr_lossy).collect())
        .collect()
}

/// The plan through bytes into a fresh context, its functions registered there under their
/// handles. Unless `stable` is false (a lazy source arrives as data), the rebuilt dataset
/// written again is the same bytes.
fn ship_with(rdd: &Arc<Rdd>, stable: bool) -> (Arc<Rdd>, RddPlan) {
    let (plan, fns) = rdd.to_plan(None).unwrap();
    let bytes = plan.to_bytes().unwrap();
    let mut worker = PlanFns::default();
    for (h, f) in fns.steps.iter() {
        worker.steps.insert(h, f.clone());
    }
    for (h, f) in fns.partitioners() {
        worker.insert_partitioner(h, f.clone());
    }
    let shipped = RddPlan::from_bytes(&bytes).unwrap();
    let ctx = EngineContext::new(2).unwrap();
    let rebuilt = Rdd::from_plan(&ctx, &shipped, &worker, None).unwrap();
    assert!(Arc::ptr_eq(rebuilt.context(), &ctx));
    assert_eq!(rebuilt.num_partitions(), rdd.num_partitions());
    if stable {
        let (again, _) = rebuilt.to_plan(None).unwrap();
        assert_eq!(
            again.to_bytes().unwrap(),
            bytes,
            "written again, the same plan"
        );
        // JSON carries the same plan.
        let json = RddPlan::from_json(&plan.to_json().unwrap()).unwrap();
        assert_eq!(json.to_bytes().unwrap(), bytes);
    }
    (rebuilt, shipped)
}

fn ship(rdd: &Arc<Rdd>) -> Arc<Rdd> {
    ship_with(rdd, true).0
}

/// The dataset and its shipped copy compute the same partitions.
fn assert_round_trips(rdd: &Arc<Rdd>) {
    let rebuilt = ship(rdd);
    assert_eq!(partitions(&rebuilt), partitions(rdd));
}

#[test]
fn narrow_native_chains_and_reduce_by_key() {
    let ctx = EngineContext::new(2).unwrap();
    let lines = Rdd::from_partitions(
        &ctx,
        vec![vec![s("a b  a"), s("c a b")], vec![s(""), s("b d")]],
    );
    let upper: Arc<dyn PartitionFn> = Arc::new(Upper(AtomicUsize::new(0)));
    let words = lines
        .with_step(native(
            NativeKind::FlatMap,
            t(vec![s("method"), s("split"), arg(0), t(vec![cnst(s(" "))])]),
        ))
        .with_step(native(
            NativeKind::Filter,
            t(vec![s("cmp"), s("!="), arg(0), cnst(s(""))]),
        ))
        .with_step(Step::Host(upper.clone()));
    let counts = words
        .with_step(native(
            NativeKind::Map,
            t(vec![s("tuple"), t(vec![arg(0), cnst(Value::Int(1))])]),
        ))
        .with_step(add_combine())
        .partition_by_hash(3)
        .unwrap()
        .with_step(add_combine());
    assert!(matches!(counts.partitioning(), Some(Partitioning::Hash(3))));
    let rebuilt = ship(&counts);
    assert!(matches!(
        rebuilt.partitioning(),
        Some(Partitioning::Hash(3))
    ));
    assert_eq!(partitions(&rebuilt), partitions(&counts));
    let mut all: Vec<String> = partitions(&rebuilt).concat();
    all.sort();
    assert_eq!(all, ["('A', 3)", "('B', 3)", "('C', 1)", "('D', 1)"]);

    // The host function travels by handle; its bytes are what the driver ships.
    let (plan, fns) = counts.to_plan(None).unwrap();
    let payloads = fns.payloads().unwrap();
    assert_eq!(payloads.steps.len(), fns.steps.iter().count());
    let host_steps: Vec<_> = plan
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            PlanOp::Narrow {
                step: StepPlan::Host(h),
                ..
            } => Some(*h),
            _ => None,
        })
        .collect();
    assert_eq!(host_steps.len(), 1);
    assert!(payloads
        .steps
        .iter()
        .any(|(h, p)| *h == host_steps[0] && p.function == b"upper"));
}

#[test]
fn a_function_that_cannot_leave_its_process_is_named() {
    let ctx = EngineContext::new(1).unwrap();
    let rdd = ints(&ctx, 4, 2)
        .with_step(times(2))
        .map_partitions(Arc::new(LocalOnly));
    let (_, fns) = rdd.to_plan(None).unwrap();
    let err = fns.payloads().err().expect("LocalOnly has no bytes");
    assert!(
        err.to_string()
            .contains("host function with handle 1 can only run in this process"),
        "{err}"
    );
}

#[test]
fn keyed_operations_joins_and_set_operations() {
    let ctx = EngineContext::new(2).unwrap();
    let left = pairs(&ctx, 20, 6, 3);
    let right = pairs(&ctx, 7, 9, 2);
    let target = Partitioning::Hash(3);
    assert_round_trips(
        &Rdd::keyed(std::slice::from_ref(&left), KeyOp::GroupByKey, &target).unwrap(),
    );
    assert_round_trips(
        &Rdd::keyed(&[left.clone(), right.clone()], KeyOp::CoGroup, &target).unwrap(),
    );
    for (left_outer, right_outer) in [(false, false), (true, false), (false, true), (true, true)] {
        let op = KeyOp::Join {
            left_outer,
            right_outer,
        };
        let joined = Rdd::keyed(&[left.clone(), right.clone()], op, &target).unwrap();
        assert!(!joined.collect().unwrap().is_empty());
        assert_round_trips(&joined);
    }
    assert_round_trips(
        &Rdd::keyed(
            &[left.clone(), right.clone()],
            KeyOp::SubtractByKey,
            &target,
        )
        .unwrap(),
    );
    let xs = ints(&ctx, 30, 3).with_step(native(
        NativeKind::Map,
        t(vec![s("binop"), s("%"), arg(0), cnst(Value::Int(7))]),
    ));
    let ys = ints(&ctx, 5, 2);
    for op in [KeyOp::Intersection, KeyOp::Subtract] {
        assert_round_trips(&Rdd::keyed(&[xs.clone(), ys.clone()], op, &target).unwrap());
    }
    let distinct = Rdd::keyed(&[xs], KeyOp::Distinct, &target).unwrap();
    assert_eq!(distinct.count().unwrap(), 7);
    assert_round_trips(&distinct);
}

#[test]
fn sort_by_key_keeps_its_ranges_and_unique_partitioning() {
    let ctx = EngineContext::new(2).unwrap();
    let data = pairs(&ctx, 50, 13, 4);
    let sorted = data.sort_by_key(false, 3).unwrap();
    assert!(matches!(
        sorted.partitioning(),
        Some(Partitioning::Unique(3, _))
    ));
    // Nodes sharing the sort's partitioning are unioned partition by partition.
    let kept = sorted.with_step(native(NativeKind::Filter, cnst(Value::Bool(true))));
    let both = Rdd::union_partitioned(&ctx, &[sorted.clone(), kept]);
    assert_eq!(both.num_partitions(), 3, "a partitioner-aware union");
    let rebuilt = ship(&sorted);
    assert_eq!(partitions(&rebuilt), partitions(&sorted));
    assert!(matches!(
        rebuilt.partitioning(),
        Some(Partitioning::Unique(3, _))
    ));
    assert_round_trips(&both);
    assert_round_trips(&sorted.sort_within_partitions(true));
    // sortBy's form: the ranges keep only the values, with no partitioner, also when shipped.
    let values = data.sort_values_by_key(false, 3).unwrap();
    let rebuilt = ship(&values);
    assert_eq!(partitions(&rebuilt), partitions(&values));
    assert!(rebuilt.partitioning().is_none());
    assert_round_trips(&values);
}

#[test]
fn zips_unions_coalesce_cartesian_and_samples() {
    let ctx = EngineContext::new(2).unwrap();
    let xs = ints(&ctx, 23, 4);
    let indexed = xs.zip_with_index().unwrap();
    assert_round_trips(&indexed);
    assert_round_trips(&xs.zip_with_unique_id());
    assert_round_trips(&xs.zip(&xs.with_step(times(3))).unwrap());
    let ys = ints(&ctx, 5, 2);
    assert_round_trips(&Rdd::union(&ctx, &[xs.clone(), ys.clone(), xs.clone()]));
    assert_round_trips(&xs.coalesce(3).unwrap());
    let product = xs.cartesian(&ys);
    assert_eq!(product.num_partitions(), 8);
    assert_round_trips(&product);
    assert_round_trips(&xs.sample(SampleMode::Bernoulli(0.5), 7));
    assert_round_trips(&xs.sample(SampleMode::Poisson(1.5), 8));
    assert_round_trips(&xs.sample(SampleMode::Range(0.2, 0.7), 9));
    let fractions = Fractions::new(vec![(Value::Int(0), 0.5), (Value::Int(1), 1.0)]).unwrap();
    let by_key = pairs(&ctx, 40, 2, 3).sample(
        SampleMode::ByKey {
            fractions: Arc::new(fractions),
            with_replacement: false,
        },
        3,
    );
    assert_round_trips(&by_key);
    assert_round_trips(&xs.shuffle(3, Partitioner::RoundRobin).unwrap());
    assert_round_trips(&xs.shuffle(2, Partitioner::RecordHash).unwrap());
}

#[test]
fn text_files_travel_as_their_splits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(dir.path().join("b.txt"), "four\nfive").unwrap();
    let ctx = EngineContext::new(2).unwrap();
    let path = dir.path().to_string_lossy().into_owned();
    let lines = Rdd::text_file(&ctx, &[path], 3).unwrap();
    let (rebuilt, plan) = ship_with(&lines, true);
    assert!(
        matches!(&plan.nodes[0].op, PlanOp::TextFile(splits) if splits.len() == lines.num_partitions())
    );
    assert_eq!(partitions(&rebuilt), partitions(&lines));
    assert_eq!(rebuilt.count().unwrap(), 5);
}

#[test]
fn a_node_read_by_two_branches_is_one_node_computed_once() {
    let ctx = EngineContext::new(2).unwrap();
    let calls = Arc::new(Upper(AtomicUsize::new(0)));
    let counted: Arc<dyn PartitionFn> = calls.clone();
    for persisted in [true, false] {
        let base = ints(&ctx, 12, 3).map_partitions(counted.clone());
        if persisted {
            base.persist();
        }
        let both = base
            .with_step(times(2))
            .zip(&base.with_step(times(3)))
            .unwrap();
        let (rebuilt, plan) = ship_with(&both, true);
        let hosts = plan
            .nodes
            .iter()
            .filter(|n| {
                matches!(
                    &n.op,
                    PlanOp::Narrow {
                        step: StepPlan::Host(_),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(hosts, 1, "the shared node is one node");
        assert_eq!(
            plan.nodes.iter().filter(|n| n.persist).count(),
            usize::from(persisted)
        );
        calls.0.store(0, Ordering::Relaxed);
        let out = partitions(&rebuilt);
        // Persisted, each partition of the shared node is computed once (the second branch
        // reads the cache); not persisted, once per branch.
        let expected = if persisted { 3 } else { 6 };
        assert_eq!(calls.0.load(Ordering::Relaxed), expected);
        assert_eq!(out, partitions(&both));
        assert_eq!(out.concat()[5], "(10, 15)");
    }
}

/// A lazy source counting its reads.
struct Counting(AtomicUsize);

impl PartitionSource for Counting {
    fn num_partitions(&self) -> usize {
        2
    }
    fn compute(&self, i: usize) -> Result<Vec<Value>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(vec![Value::Int(i as i64), Value::Int(10)])
    }
}

#[test]
fn lazy_sources_are_materialised_when_the_plan_is_written() {
    let ctx = EngineContext::new(2).unwrap();
    let source = Arc::new(Counting(AtomicUsize::new(0)));
    let rdd = Rdd::lazy(&ctx, source.clone()).with_step(times(2));
    let (rebuilt, plan) = ship_with(&rdd, false);
    assert!(matches!(
        &plan.nodes[0].op,
        PlanOp::Source(PlanSource::Materialised(parts)) if parts.len() == 2
    ));
    assert_eq!(
        source.0.load(Ordering::Relaxed),
        2,
        "read once, when written"
    );
    assert_eq!(partitions(&rebuilt), [["0", "20"], ["2", "20"]]);
    assert_eq!(source.0.load(Ordering::Relaxed), 2, "not read again");
}

#[test]
fn a_template_travels_with_its_slots() {
    let ctx = EngineContext::new(2).unwrap();
    let plan = Rdd::keyed(
        &[Rdd::slot(&ctx, 0)],
        KeyOp::GroupByKey,
        &Partitioning::Hash(2),
    )
    .unwrap()
    .with_step(Step::Count);
    let rebuilt = ship(&plan);
    rebuilt.check_template(1).unwrap();
    let here = plan.instantiate(&[pairs(&ctx, 9, 4, 3)]).unwrap();
    let there = rebuilt
        .instantiate(&[pairs(rebuilt.context(), 9, 4, 3)])
        .unwrap();
    assert_eq!(partitions(&there), partitions(&here));
}

#[test]
fn a_host_partitioner_keeps_datasets_co_partitioned() {
    let ctx = EngineContext::new(2).unwrap();
    let f: Arc<dyn KeyPartitioner> = Arc::new(Halves);
    let a = pairs(&ctx, 20, 8, 3)
        .shuffle(4, Partitioner::Host(f.clone()))
        .unwrap();
    let b = pairs(&ctx, 10, 5, 2)
        .shuffle(4, Partitioner::Host(f.clone()))
        .unwrap();
    let target = a.partitioning().unwrap().clone();
    let joined = Rdd::keyed(
        &[a, b],
        KeyOp::Join {
            left_outer: false,
            right_outer: false,
        },
        &target,
    )
    .unwrap();
    let (plan, fns) = joined.to_plan(None).unwrap();
    assert_eq!(fns.partitioners().count(), 1, "one function, one handle");
    assert_eq!(plan.nodes.len(), 5, "two sources, two shuffles, the join");
    let rebuilt = ship(&joined);
    assert!(rebuilt.partitioning().unwrap() == &target);
    let before = rebuilt.context().metrics().shuffles.load(Ordering::Relaxed);
    assert_eq!(partitions(&rebuilt), partitions(&joined));
    let after = rebuilt.context().metrics().shuffles.load(Ordering::Relaxed);
    assert_eq!(
        after - before,
        2,
        "the co-partitioned inputs are not shuffled again"
    );

    // Without the function on the receiving side, the plan is refused by name.
    let bytes = plan.to_bytes().unwrap();
    let mut missing = PlanFns::default();
    for (h, g) in fns.steps.iter() {
        missing.steps.insert(h, g.clone());
    }
    let err = Rdd::from_plan(
        &EngineContext::new(1).unwrap(),
        &RddPlan::from_bytes(&bytes).unwrap(),
        &missing,
        None,
    )
    .err()
    .expect("no partitioner");
    assert!(
        err.to_string()
            .contains("no host partition function for handle 0"),
        "{err}"
    );
}

/// A host object: a named point, as Python objects are to the engine.
#[derive(Debug)]
struct Point(String);

impl ferrostream::engine::value::HostObject for Point {
    fn portable_hash(&self) -> Result<i64> {
        Ok(self.0.len() as i64)
    }
    fn host_eq(&self, other: &dyn ferrostream::engine::value::HostObject) -> Result<bool> {
        Ok(other
            .as_any()
            .downcast_ref::<Point>()
            .is_some_and(|p| p.0 == self.0))
    }
    fn to_str(&self) -> Result<String> {
        Ok(self.0.clone())
    }
    fn to_repr(&self) -> Result<String> {
        Ok(format!("Point({})", self.0))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The host's pickler for points: their names, one per line.
struct PointCodec(AtomicUsize);

impl ferrostream::engine::host::HostCodec for PointCodec {
    fn pickle(&self, values: &[&Value]) -> Result<Vec<u8>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        let names: Vec<String> = values
            .iter()
            .map(|v| match v {
                Value::Host(h) => h.to_str(),
                _ => Err(EngineError::Internal("not a host value".into())),
            })
            .collect::<Result<_>>()?;
        Ok(names.join("\n").into_bytes())
    }
    fn unpickle(&self, bytes: &[u8]) -> Result<Vec<Value>> {
        Ok(String::from_utf8_lossy(bytes)
            .split('\n')
            .map(|name| Value::Host(Arc::new(Point(name.to_string()))))
            .collect())
    }
}

#[test]
fn host_objects_in_data_are_pickled_by_the_host_once_per_partition() {
    let ctx = EngineContext::new(2).unwrap();
    let point = |n: &str| Value::Host(Arc::new(Point(n.to_string())));
    let rdd = Rdd::from_partitions(
        &ctx,
        vec![
            vec![Value::pair(point("a"), Value::Int(1)), point("b")],
            vec![Value::Int(3)],
        ],
    )
    .with_step(Step::Glom);
    let err = rdd.to_plan(None).err().expect("no codec");
    assert!(err.to_string().contains("without a host codec"), "{err}");

    let codec = PointCodec(AtomicUsize::new(0));
    let (plan, fns) = rdd.to_plan(Some(&codec)).unwrap();
    assert_eq!(
        codec.0.load(Ordering::Relaxed),
        1,
        "one partition holds host objects"
    );
    let bytes = plan.to_bytes().unwrap();
    let ctx2 = EngineContext::new(1).unwrap();
    let shipped = RddPlan::from_bytes(&bytes).unwrap();
    assert!(Rdd::from_plan(&ctx2, &shipped, &fns, None).is_err());
    let rebuilt = Rdd::from_plan(&ctx2, &shipped, &fns, Some(&codec)).unwrap();
    assert_eq!(
        partitions(&rebuilt),
        [vec!["[(Point(a), 1), Point(b)]"], vec!["[3]"]]
    );
}
