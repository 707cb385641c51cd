//! Serialisable plans: native steps round-trip through postcard and evaluate alike; host
//! functions travel as handles the receiving side resolves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ferrostream::engine::error::Result;
use ferrostream::engine::host::PartitionFn;
use ferrostream::engine::step::{run_steps, HostFns, NativeKind, Step, StepPlan};
use ferrostream::engine::value::Value;

use crate::support::{arg, cnst, expr, s, t};

/// A host step: upper-cases `str` records; counts its calls.
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
}

/// The fallback of native steps in this test: must not run.
struct NoFallback;

impl PartitionFn for NoFallback {
    fn call(&self, _split: usize, _input: Vec<Value>) -> Result<Vec<Value>> {
        panic!("the native steps should not fall back here");
    }
}

fn native(kind: NativeKind, e: Value, fallback: &Arc<dyn PartitionFn>) -> Step {
    Step::Native {
        kind,
        expr: expr(e),
        fallback: fallback.clone(),
    }
}

/// `flatMap(lambda l: l.split(" "))`, `filter(lambda w: w != "")`, a host step,
/// `map(lambda w: (w, 1))`, `reduceByKey(lambda a, b: a + b)`'s combine.
fn word_count(upper: &Arc<dyn PartitionFn>, fallback: &Arc<dyn PartitionFn>) -> Vec<Step> {
    vec![
        native(
            NativeKind::FlatMap,
            t(vec![s("method"), s("split"), arg(0), t(vec![cnst(s(" "))])]),
            fallback,
        ),
        native(
            NativeKind::Filter,
            t(vec![s("cmp"), s("!="), arg(0), cnst(s(""))]),
            fallback,
        ),
        Step::Host(upper.clone()),
        native(
            NativeKind::Map,
            t(vec![s("tuple"), t(vec![arg(0), cnst(Value::Int(1))])]),
            fallback,
        ),
        native(
            NativeKind::Combine,
            t(vec![s("binop"), s("+"), arg(0), arg(1)]),
            fallback,
        ),
    ]
}

fn lines() -> Vec<Value> {
    ["a b  a", "c a b", "", "b"].iter().map(|l| s(l)).collect()
}

fn reprs(values: &[Value]) -> Vec<String> {
    values.iter().map(Value::repr_lossy).collect()
}

#[test]
fn a_plan_of_native_steps_round_trips_through_postcard_and_evaluates_alike() {
    let upper: Arc<dyn PartitionFn> = Arc::new(Upper(AtomicUsize::new(0)));
    let fallback: Arc<dyn PartitionFn> = Arc::new(NoFallback);
    let steps = word_count(&upper, &fallback);
    let local = run_steps(&steps, 0, lines()).unwrap();
    assert_eq!(reprs(&local), ["('A', 3)", "('B', 3)", "('C', 1)"]);

    // Driver: the plan, host functions by handle.
    let mut driver = HostFns::default();
    let plan: Vec<StepPlan> = steps.iter().map(|st| st.to_plan(&mut driver)).collect();
    let handles: Vec<_> = driver.iter().map(|(h, _)| h).collect();
    assert_eq!(handles.len(), 2, "one handle per distinct function");
    let bytes = postcard::to_allocvec(&plan).unwrap();

    // Worker: the functions registered under the driver's handles, the plan resolved.
    let mut worker = HostFns::default();
    for (h, f) in driver.iter() {
        worker.insert(h, f.clone());
    }
    let shipped: Vec<StepPlan> = postcard::from_bytes(&bytes).unwrap();
    let resolved = shipped
        .iter()
        .map(|p| p.resolve(&worker))
        .collect::<Result<Vec<_>>>()
        .unwrap();
    let remote = run_steps(&resolved, 0, lines()).unwrap();
    assert_eq!(reprs(&remote), reprs(&local));
    assert_eq!(postcard::to_allocvec(&shipped).unwrap(), bytes);
}

#[test]
fn an_unknown_handle_is_an_error_not_a_wrong_plan() {
    let upper: Arc<dyn PartitionFn> = Arc::new(Upper(AtomicUsize::new(0)));
    let plan = Step::Host(upper).to_plan(&mut HostFns::default());
    let bytes = postcard::to_allocvec(&plan).unwrap();
    let shipped: StepPlan = postcard::from_bytes(&bytes).unwrap();
    let err = shipped
        .resolve(&HostFns::default())
        .err()
        .expect("no function");
    assert!(
        err.to_string().contains("no host function for handle 0"),
        "{err}"
    );
}

#[test]
fn a_native_step_falls_back_to_its_resolved_host_function() {
    let upper = Arc::new(Upper(AtomicUsize::new(0)));
    let fallback: Arc<dyn PartitionFn> = upper.clone();
    // `len(x)` of an int is Python's TypeError: native code hands the partition over.
    let step = native(
        NativeKind::Map,
        t(vec![s("call"), s("len"), t(vec![arg(0)])]),
        &fallback,
    );
    let mut fns = HostFns::default();
    let bytes = postcard::to_allocvec(&step.to_plan(&mut fns)).unwrap();
    let resolved = postcard::from_bytes::<StepPlan>(&bytes)
        .unwrap()
        .resolve(&fns)
        .unwrap();
    let out = run_steps(&[resolved], 0, vec![s("ab"), Value::Int(3)]).unwrap();
    assert_eq!(reprs(&out), ["'AB'", "3"]);
    assert_eq!(upper.0.load(Ordering::Relaxed), 1);
}
