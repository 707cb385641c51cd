use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use ferrostream::engine::context::EngineContext;
use ferrostream::engine::error::Result;
use ferrostream::engine::rdd::Rdd;
use ferrostream::engine::source::socket::SocketReceiver;
use ferrostream::engine::stream::graph::{OutputFn, TransformFn};
use ferrostream::engine::stream::listener::{Info, Listener};
use ferrostream::engine::stream::state::{HostUpdateFn, StateStream, UserFn};
use ferrostream::engine::stream::StreamingEngine;
use ferrostream::engine::value::Value;

/// Only one streaming context may be active per process: tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn ints(rdd: &Rdd) -> Vec<i64> {
    rdd.collect()
        .unwrap()
        .into_iter()
        .map(|v| match v {
            Value::Int(i) => i,
            other => panic!("not an int: {other:?}"),
        })
        .collect()
}

fn rdd_of(ctx: &Arc<EngineContext>, parts: Vec<Vec<i64>>) -> Arc<Rdd> {
    Rdd::from_partitions(
        ctx,
        parts
            .into_iter()
            .map(|p| p.into_iter().map(Value::Int).collect())
            .collect(),
    )
}

/// `(batch time, collected ints)` of every batch.
type Batches = Arc<Mutex<Vec<(i64, Vec<i64>)>>>;

/// Records every batch.
struct Collect(Batches);

impl OutputFn for Collect {
    fn call(&self, time: i64, rdd: Arc<Rdd>) -> Result<()> {
        self.0.lock().push((time, ints(&rdd)));
        Ok(())
    }
}

fn collector() -> (Batches, Arc<Collect>) {
    let out = Arc::new(Mutex::new(Vec::new()));
    (out.clone(), Arc::new(Collect(out)))
}

fn advance(engine: &StreamingEngine, ms: i64) {
    let now = engine.advance_clock(ms).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !engine.batches_done(now, Duration::from_millis(50)) {
        assert!(Instant::now() < deadline, "batches did not finish");
    }
}

#[test]
fn queue_batches_arrive_at_aligned_times_in_order() {
    let _turn = ONE_AT_A_TIME.lock();
    let ctx = EngineContext::new(2).unwrap();
    let engine = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    let rdds = vec![
        rdd_of(&ctx, vec![vec![1, 2], vec![3]]),
        rdd_of(&ctx, vec![vec![4]]),
    ];
    let q = engine.queue_stream(rdds, true, None).unwrap();
    let (out, f) = collector();
    engine.foreach_rdd(q, f, "collect".into()).unwrap();
    engine.start("test").unwrap();
    assert_eq!(engine.zero_time(), 0);
    advance(&engine, 3000);
    engine.stop(false);
    assert_eq!(
        *out.lock(),
        vec![(1000, vec![1, 2, 3]), (2000, vec![4]), (3000, vec![])]
    );
}

#[test]
fn starting_without_outputs_or_twice_in_a_process_is_refused() {
    let _turn = ONE_AT_A_TIME.lock();
    let ctx = EngineContext::new(1).unwrap();
    let a = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    a.queue_stream(Vec::new(), true, None).unwrap();
    let err = a.start("x").unwrap_err().to_string();
    assert_eq!(
        err,
        "requirement failed: No output operations registered, so nothing to execute"
    );
}

#[test]
fn a_window_unions_the_batches_in_its_span_at_slide_multiples() {
    let _turn = ONE_AT_A_TIME.lock();
    let ctx = EngineContext::new(2).unwrap();
    let engine = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    let rdds = (1..=5).map(|i| rdd_of(&ctx, vec![vec![i]])).collect();
    let q = engine.queue_stream(rdds, true, None).unwrap();
    let w = engine.window(q, 3000, 2000).unwrap();
    let (out, f) = collector();
    engine.foreach_rdd(w, f, "window".into()).unwrap();
    assert!(
        engine.window(q, 2500, 1000).is_err(),
        "not a multiple of the batch"
    );
    engine.start("test").unwrap();
    advance(&engine, 7000);
    engine.stop(false);
    assert_eq!(
        *out.lock(),
        vec![
            (2000, vec![1, 2]),
            (4000, vec![2, 3, 4]),
            (6000, vec![4, 5]),
        ]
    );
}

/// A running sum per key (`sum(new) + (old or 0)`), failing on a batch that holds 13.
struct RunningSum;

impl HostUpdateFn for RunningSum {
    fn update(&self, items: Vec<(Vec<Value>, Value)>) -> Result<Vec<Value>> {
        items
            .into_iter()
            .map(|(new, old)| {
                let mut total = match old {
                    Value::Int(i) => i,
                    _ => 0,
                };
                for v in new {
                    match v {
                        Value::Int(13) => {
                            return Err(ferrostream::engine::error::EngineError::InvalidArgument(
                                "unlucky".into(),
                            ))
                        }
                        Value::Int(i) => total += i,
                        other => panic!("not an int: {other:?}"),
                    }
                }
                Ok(Value::Int(total))
            })
            .collect()
    }
}

/// A running-sum state stream keyed by "k" over a stream of ints.
fn running_sum(engine: &StreamingEngine, parent: usize, initial: Option<Arc<Rdd>>) -> usize {
    let keyed = engine.transform(vec![parent], Arc::new(KeyByK)).unwrap();
    let update = UserFn {
        native: None,
        host: Arc::new(RunningSum) as Arc<dyn HostUpdateFn>,
    };
    let state = StateStream::new(update, 2, initial, "test state".into()).unwrap();
    let s = engine.state_stream(keyed, state).unwrap();
    engine.transform(vec![s], Arc::new(Values)).unwrap()
}

/// `x -> ("k", x)`.
struct KeyByK;

impl TransformFn for KeyByK {
    fn call(&self, _time: i64, parents: Vec<Option<Arc<Rdd>>>) -> Result<Option<Arc<Rdd>>> {
        let Some(rdd) = parents.into_iter().next().flatten() else {
            return Ok(None);
        };
        let ctx = rdd.context().clone();
        let pairs = rdd
            .collect()?
            .into_iter()
            .map(|v| Value::pair(Value::str("k"), v))
            .collect();
        Ok(Some(Rdd::from_partitions(&ctx, vec![pairs])))
    }
}

/// `(k, v) -> v`.
struct Values;

impl TransformFn for Values {
    fn call(&self, _time: i64, parents: Vec<Option<Arc<Rdd>>>) -> Result<Option<Arc<Rdd>>> {
        let Some(rdd) = parents.into_iter().next().flatten() else {
            return Ok(None);
        };
        let ctx = rdd.context().clone();
        let values = rdd
            .collect()?
            .into_iter()
            .map(|v| v.as_pair().map(|(_, x)| x.clone()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Rdd::from_partitions(&ctx, vec![values])))
    }
}

#[test]
fn keyed_state_carries_over_and_checkpoints_are_written() {
    let _turn = ONE_AT_A_TIME.lock();
    let ctx = EngineContext::new(2).unwrap();
    let engine = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    let rdds = vec![rdd_of(&ctx, vec![vec![1, 2]]), rdd_of(&ctx, vec![vec![10]])];
    let q = engine.queue_stream(rdds, true, None).unwrap();
    let initial = Rdd::from_partitions(
        &ctx,
        vec![vec![Value::pair(Value::str("k"), Value::Int(100))]],
    );
    let s = running_sum(&engine, q, Some(initial));
    let state_id = s - 1;
    engine.set_checkpoint_interval(state_id, 2000).unwrap();
    assert!(engine.set_checkpoint_interval(state_id, 1500).is_err());
    let (out, f) = collector();
    engine.foreach_rdd(s, f, "state".into()).unwrap();

    let err = engine.start("test").unwrap_err().to_string();
    assert!(
        err.contains("The checkpoint directory has not been set"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    engine.set_checkpoint_dir(Some(dir.path().to_path_buf()));
    engine.set_checkpoint_graph(b"the graph".to_vec());
    engine.start("test").unwrap();
    advance(&engine, 3000);
    engine.stop(false);
    assert_eq!(
        *out.lock(),
        vec![(1000, vec![103]), (2000, vec![113]), (3000, vec![113])]
    );
    let found = ferrostream::engine::stream::read_latest(dir.path())
        .unwrap()
        .unwrap();
    assert_eq!(found.metadata.time_ms, 3000);
    assert_eq!(found.graph, b"the graph".to_vec());
    let keyed: Vec<(usize, String, i64)> = found
        .metadata
        .keyed
        .iter()
        .map(|k| (k.stream, k.file.clone(), k.time))
        .collect();
    assert_eq!(
        keyed,
        vec![(state_id, format!("state-{state_id}-2000"), 2000)]
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "checkpoint-1000",
            "checkpoint-2000",
            "checkpoint-3000",
            "graph-1",
            &format!("state-{state_id}-2000"),
        ]
    );
}

/// Fails on the second batch only.
struct FailOnce;

impl TransformFn for FailOnce {
    fn call(&self, time: i64, parents: Vec<Option<Arc<Rdd>>>) -> Result<Option<Arc<Rdd>>> {
        if time == 2000 {
            return Err(ferrostream::engine::error::EngineError::InvalidArgument(
                "boom".into(),
            ));
        }
        Ok(parents.into_iter().next().flatten())
    }
}

#[test]
fn a_failed_batch_is_reported_from_then_on_and_later_batches_run() {
    let _turn = ONE_AT_A_TIME.lock();
    let ctx = EngineContext::new(1).unwrap();
    let engine = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    let rdds = (1..=3).map(|i| rdd_of(&ctx, vec![vec![i]])).collect();
    let q = engine.queue_stream(rdds, true, None).unwrap();
    let t = engine.transform(vec![q], Arc::new(FailOnce)).unwrap();
    let (out, f) = collector();
    engine.foreach_rdd(t, f, "collect".into()).unwrap();
    engine.start("test").unwrap();
    advance(&engine, 3000);
    let err = engine.await_slice(Duration::ZERO).unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    let again = engine.await_slice(Duration::ZERO).unwrap_err();
    assert!(
        again.to_string().contains("boom"),
        "sticky, as in Spark: {again}"
    );
    engine.stop(false);
    assert_eq!(*out.lock(), vec![(1000, vec![1]), (3000, vec![3])]);
}

struct Events(Arc<Mutex<Vec<(String, String)>>>);

impl Listener for Events {
    fn on_event(&self, name: &str, info: &Info) {
        if name.starts_with("onReceiver") {
            let message = match info {
                Info::Map(fields) => fields
                    .iter()
                    .find(|(k, _)| k == "lastErrorMessage")
                    .map(|(_, v)| format!("{v:?}"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            self.0.lock().push((name.to_string(), message));
        }
    }
}

#[test]
fn the_socket_receiver_retries_until_the_server_is_up_and_replaces_bad_utf8() {
    let _turn = ONE_AT_A_TIME.lock();
    // Reserve a port, then free it so the first connection attempts are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ctx = EngineContext::new(2).unwrap();
    let engine = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    let input = SocketReceiver::input(
        "127.0.0.1",
        i64::from(port),
        16,
        Duration::from_millis(100),
        None,
    )
    .unwrap();
    let s = engine.input_stream(Arc::new(input)).unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    struct Strings(Arc<Mutex<Vec<String>>>);
    impl OutputFn for Strings {
        fn call(&self, _time: i64, rdd: Arc<Rdd>) -> Result<()> {
            for v in rdd.collect()? {
                self.0.lock().push(v.to_py_str()?);
            }
            Ok(())
        }
    }
    engine
        .foreach_rdd(s, Arc::new(Strings(received.clone())), "lines".into())
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    engine
        .set_listener(Arc::new(Events(events.clone())))
        .unwrap();
    engine.start("test").unwrap();

    std::thread::sleep(Duration::from_millis(300));
    let server = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (mut conn, _) = server.accept().unwrap();
    conn.write_all(b"hello world\r\nbad \xff byte\n").unwrap();
    conn.write_all(b"this line is far too long for the limit\nok\n")
        .unwrap();
    conn.flush().unwrap();
    drop(conn);
    std::thread::sleep(Duration::from_millis(300));
    advance(&engine, 1000);
    engine.stop(false);

    assert_eq!(
        *received.lock(),
        vec!["hello world", "bad \u{fffd} byte", "ok"]
    );
    let events = events.lock();
    assert_eq!(events.first().unwrap().0, "onReceiverStarted");
    assert!(
        events
            .iter()
            .any(|(n, m)| n == "onReceiverError" && m.contains("Error connecting")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(n, m)| n == "onReceiverError" && m.contains("longer than the limit")),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap().0, "onReceiverStopped");
}

/// Multiplies every element by 10.
struct TimesTen;

impl TransformFn for TimesTen {
    fn call(&self, _time: i64, parents: Vec<Option<Arc<Rdd>>>) -> Result<Option<Arc<Rdd>>> {
        let Some(rdd) = parents.into_iter().next().flatten() else {
            return Ok(None);
        };
        let ctx = rdd.context().clone();
        let scaled = ints(&rdd).into_iter().map(|x| x * 10).collect();
        Ok(Some(rdd_of(&ctx, vec![scaled])))
    }
}

#[test]
fn a_window_over_a_transformed_stream_sees_each_input_batch_once() {
    let _turn = ONE_AT_A_TIME.lock();
    let ctx = EngineContext::new(2).unwrap();
    let engine = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    let rdds = (1..=6).map(|i| rdd_of(&ctx, vec![vec![i]])).collect();
    let q = engine.queue_stream(rdds, true, None).unwrap();
    let t = engine.transform(vec![q], Arc::new(TimesTen)).unwrap();
    let w = engine.window(t, 3000, 3000).unwrap();
    let (out, f) = collector();
    engine.foreach_rdd(w, f, "window".into()).unwrap();
    engine.start("test").unwrap();
    advance(&engine, 6000);
    engine.stop(false);
    assert_eq!(
        *out.lock(),
        vec![(3000, vec![10, 20, 30]), (6000, vec![40, 50, 60])]
    );
}

#[test]
fn a_failed_state_batch_keeps_the_previous_state() {
    let _turn = ONE_AT_A_TIME.lock();
    let ctx = EngineContext::new(1).unwrap();
    let engine = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    let rdds = [1, 13, 100]
        .into_iter()
        .map(|i| rdd_of(&ctx, vec![vec![i]]))
        .collect();
    let q = engine.queue_stream(rdds, true, None).unwrap();
    let s = running_sum(&engine, q, None);
    let (out, f) = collector();
    engine.foreach_rdd(s, f, "state".into()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    engine.set_checkpoint_dir(Some(dir.path().to_path_buf()));
    engine.start("test").unwrap();
    advance(&engine, 3000);
    engine.stop(false);
    // Batch 2 failed: its output did not run, and batch 3 continued from batch 1's state.
    assert_eq!(*out.lock(), vec![(1000, vec![1]), (3000, vec![101])]);
}

#[test]
fn a_failing_parent_of_a_state_stream_keeps_the_previous_state() {
    let _turn = ONE_AT_A_TIME.lock();
    let ctx = EngineContext::new(1).unwrap();
    let engine = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    let rdds = [1, 10, 100]
        .into_iter()
        .map(|i| rdd_of(&ctx, vec![vec![i]]))
        .collect();
    let q = engine.queue_stream(rdds, true, None).unwrap();
    // The transform fails at 2000 ms, before the state function runs.
    let t = engine.transform(vec![q], Arc::new(FailOnce)).unwrap();
    let s = running_sum(&engine, t, None);
    let (out, f) = collector();
    engine.foreach_rdd(s, f, "state".into()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    engine.set_checkpoint_dir(Some(dir.path().to_path_buf()));
    engine.start("test").unwrap();
    advance(&engine, 3000);
    engine.stop(false);
    assert_eq!(*out.lock(), vec![(1000, vec![1]), (3000, vec![101])]);
}

/// A direct source that records what the engine tells it: the budget of every batch it
/// generates and the batches it may commit.
struct Recording {
    budgets: Mutex<Vec<Option<u64>>>,
    committed: Mutex<Vec<i64>>,
}

impl ferrostream::engine::stream::graph::Input for Recording {
    fn batch(
        &self,
        ctx: &Arc<EngineContext>,
        time: i64,
        budget: &ferrostream::engine::stream::graph::RateBudget,
    ) -> Result<ferrostream::engine::stream::graph::InputBatch> {
        self.budgets.lock().push(budget.max_records());
        Ok(ferrostream::engine::stream::graph::InputBatch {
            rdd: rdd_of(ctx, vec![vec![time / 1000]]),
            records: Some(1),
            position: None,
        })
    }

    fn on_batch_completed(&self, time: i64) {
        self.committed.lock().push(time);
    }
}

/// Fails on the batch of 2000 ms.
struct FailAt2000;

impl OutputFn for FailAt2000 {
    fn call(&self, time: i64, _rdd: Arc<Rdd>) -> Result<()> {
        if time == 2000 {
            return Err(ferrostream::engine::error::EngineError::InvalidArgument(
                "output failed".into(),
            ));
        }
        Ok(())
    }
}

#[test]
fn sources_commit_only_completed_batches_and_get_their_budget() {
    let _turn = ONE_AT_A_TIME.lock();
    let ctx = EngineContext::new(1).unwrap();
    let engine = StreamingEngine::new(ctx.clone(), 1000, true).unwrap();
    let source = Arc::new(Recording {
        budgets: Mutex::new(Vec::new()),
        committed: Mutex::new(Vec::new()),
    });
    let s = engine.input_stream(source.clone()).unwrap();
    engine
        .foreach_rdd(s, Arc::new(FailAt2000), "out".into())
        .unwrap();
    // Backpressure starts at 500 records/s: 500 a one-second batch until the estimator has
    // seen batches.
    engine.enable_backpressure(Some(500.0));
    engine.start("test").unwrap();
    advance(&engine, 3000);
    engine.stop(false);
    assert_eq!(*source.committed.lock(), vec![1000, 3000]);
    assert_eq!(source.budgets.lock()[0], Some(500));
}
