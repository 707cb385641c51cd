//! The streaming driver: owns the DStream graph, ticks the batch clock and runs each batch's
//! output operations in registration order, one batch at a time (Spark's default of one
//! concurrent job). A failing batch is reported, not fatal: the next batch runs as usual.

pub mod clock;
pub mod graph;
pub mod listener;
mod pending;
pub mod rate;
mod recovery;
mod scheduler;
pub mod state;

pub use crate::engine::host::HostCodec;
pub use recovery::{default_interval, read_latest, Found, Metadata};

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::engine::checkpoint;
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::rdd::Rdd;
use crate::engine::source::Position;
use clock::{Clock, ManualClock, SystemClock};
use graph::{
    EventSink, Graph, Input, Output, OutputFn, QueueSource, StreamKind, StreamNode, TransformFn,
};
use listener::{Info, Listener, ListenerBus};
use state::{StateStream, WindowStream};

/// Lifecycle of a streaming context (Spark's `StreamingContextState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Initialized,
    Active,
    Stopped,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Initialized => "INITIALIZED",
            RunState::Active => "ACTIVE",
            RunState::Stopped => "STOPPED",
        }
    }
}

struct Shared {
    state: RunState,
    stop_requested: bool,
    /// Time of the last batch that finished (or the zero time).
    last_completed: i64,
    /// The latest batch failure. As in Spark, it stays: every later `awaitTermination*`
    /// raises it again.
    error: Option<Arc<EngineError>>,
    /// The batch time of the latest failure.
    error_time: Option<i64>,
}

/// Only one streaming context may be active per process.
static ACTIVE: Mutex<Option<(usize, String)>> = Mutex::new(None);

pub struct StreamingEngine {
    ctx: Arc<EngineContext>,
    batch_ms: i64,
    clock: Arc<dyn Clock>,
    manual: Option<Arc<ManualClock>>,
    /// The graph while it is being defined.
    graph: Mutex<Graph>,
    /// The graph once started: immutable, shared without holding a lock across user code.
    frozen: Mutex<Option<Arc<Graph>>>,
    shared: Mutex<Shared>,
    wake: Condvar,
    listener: Mutex<Option<Arc<ListenerBus>>>,
    /// The web UI's figures, fed every event before the listener bus (None: no UI).
    ui: Option<Arc<crate::engine::ui::store::StreamingStore>>,
    zero_time: Mutex<i64>,
    scheduler: Mutex<Option<JoinHandle<()>>>,
    scheduler_thread: Mutex<Option<ThreadId>>,
    checkpoint_dir: Mutex<Option<std::path::PathBuf>>,
    /// The host's graph description: checkpoints are written when it is set.
    graph_payload: Mutex<Option<Vec<u8>>>,
    host_codec: Mutex<Option<Arc<dyn HostCodec>>>,
    written: Mutex<recovery::Written>,
    /// Backpressure: one estimator per input stream, when enabled.
    rate_estimators: Mutex<Option<std::collections::BTreeMap<usize, rate::PidRateEstimator>>>,
    /// Set by recovery: (zero time, last completed batch time).
    restored: Mutex<Option<(i64, i64)>>,
}

impl StreamingEngine {
    pub fn new(ctx: Arc<EngineContext>, batch_ms: i64, manual_clock: bool) -> Result<Arc<Self>> {
        if batch_ms <= 0 {
            return Err(EngineError::InvalidArgument(format!(
                "batchDuration must be positive, got {batch_ms} ms"
            )));
        }
        let manual = manual_clock.then(|| Arc::new(ManualClock::default()));
        let clock: Arc<dyn Clock> = match &manual {
            Some(m) => m.clone(),
            None => Arc::new(SystemClock),
        };
        let ui = ctx.ui().map(|ui| ui.attach_streaming(batch_ms));
        Ok(Arc::new(StreamingEngine {
            ctx,
            batch_ms,
            clock,
            manual,
            graph: Mutex::new(Graph::default()),
            frozen: Mutex::new(None),
            shared: Mutex::new(Shared {
                state: RunState::Initialized,
                stop_requested: false,
                last_completed: 0,
                error: None,
                error_time: None,
            }),
            wake: Condvar::new(),
            listener: Mutex::new(None),
            ui,
            zero_time: Mutex::new(0),
            scheduler: Mutex::new(None),
            scheduler_thread: Mutex::new(None),
            checkpoint_dir: Mutex::new(None),
            graph_payload: Mutex::new(None),
            host_codec: Mutex::new(None),
            written: Mutex::new(recovery::Written::default()),
            rate_estimators: Mutex::new(None),
            restored: Mutex::new(None),
        }))
    }

    /// Run `f` on the graph: the frozen one once started, else the one being defined.
    fn with_graph<R>(&self, f: impl FnOnce(&Graph) -> R) -> R {
        let frozen = self.frozen.lock().clone();
        match frozen {
            Some(g) => f(&g),
            None => f(&self.graph.lock()),
        }
    }

    fn frozen_graph(&self) -> Arc<Graph> {
        self.frozen.lock().clone().unwrap_or_default()
    }

    pub fn batch_ms(&self) -> i64 {
        self.batch_ms
    }

    pub fn state(&self) -> RunState {
        self.shared.lock().state
    }

    pub fn check_can_add(&self) -> Result<()> {
        match self.state() {
            RunState::Initialized => Ok(()),
            RunState::Active => Err(EngineError::IllegalState(
                "Adding new inputs, transformations, and output operations after starting a \
                 context is not supported"
                    .into(),
            )),
            RunState::Stopped => Err(EngineError::IllegalState(
                "Adding new inputs, transformations, and output operations after stopping a \
                 context is not supported"
                    .into(),
            )),
        }
    }

    fn add_stream(&self, kind: StreamKind, parents: Vec<usize>, slide_ms: i64) -> Result<usize> {
        self.check_can_add()?;
        let mut graph = self.graph.lock();
        let id = graph.streams.len();
        graph
            .streams
            .push(Arc::new(StreamNode::new(id, kind, parents, slide_ms)));
        Ok(id)
    }

    fn parents_slide(&self, parents: &[usize]) -> Result<i64> {
        self.with_graph(|graph| Self::slide_of(graph, parents))
    }

    fn slide_of(graph: &Graph, parents: &[usize]) -> Result<i64> {
        let mut slide = None;
        for &p in parents {
            let node = graph
                .streams
                .get(p)
                .ok_or_else(|| EngineError::InvalidArgument(format!("no DStream with id {p}")))?;
            match slide {
                None => slide = Some(node.slide_ms),
                Some(s) if s != node.slide_ms => {
                    return Err(EngineError::InvalidArgument(
                        "All DStreams should have same slide duration".into(),
                    ))
                }
                Some(_) => {}
            }
        }
        slide.ok_or_else(|| EngineError::InvalidArgument("should have at least one DStream".into()))
    }

    pub fn queue_stream(
        &self,
        rdds: Vec<Arc<Rdd>>,
        one_at_a_time: bool,
        default: Option<Arc<Rdd>>,
    ) -> Result<usize> {
        let source = QueueSource {
            queue: Mutex::new(rdds.into_iter().collect()),
            one_at_a_time,
            default,
        };
        self.input_stream(Arc::new(source))
    }

    /// The replay position of input stream `stream`'s batch at `time` (e.g. the Kafka offset
    /// ranges it read), while the batch is remembered.
    pub fn input_position(&self, stream: usize, time: i64) -> Option<Position> {
        let graph = self.frozen_graph();
        let node = graph.streams.get(stream)?;
        let position = node.positions.lock().get(&time).cloned();
        position
    }

    /// The engine context batches run on.
    pub fn context(&self) -> &Arc<EngineContext> {
        &self.ctx
    }

    /// Register an input source; its batches come every batch interval.
    pub fn input_stream(&self, input: Arc<dyn Input>) -> Result<usize> {
        self.add_stream(StreamKind::Input(input), Vec::new(), self.batch_ms)
    }

    pub fn check_window(&self, parent: usize, window_ms: i64, slide_ms: i64) -> Result<i64> {
        let parent_slide = self.parents_slide(&[parent])?;
        if window_ms <= 0 || window_ms % parent_slide != 0 {
            return Err(EngineError::InvalidArgument(format!(
                "windowDuration must be multiple of the parent dstream's slide (batch) duration \
                 ({parent_slide} ms)"
            )));
        }
        if slide_ms <= 0 || slide_ms % parent_slide != 0 {
            return Err(EngineError::InvalidArgument(format!(
                "slideDuration must be multiple of the parent dstream's slide (batch) duration \
                 ({parent_slide} ms)"
            )));
        }
        Ok(parent_slide)
    }

    fn extend_remember(&self, stream: usize, duration_ms: i64) {
        self.with_graph(|graph| {
            if let Some(node) = graph.streams.get(stream) {
                node.remember_ms.fetch_max(duration_ms, Ordering::Relaxed);
            }
        });
    }

    /// `window(windowDuration, slideDuration)`.
    pub fn window(&self, parent: usize, window_ms: i64, slide_ms: i64) -> Result<usize> {
        self.check_can_add()?;
        self.check_window(parent, window_ms, slide_ms)?;
        let id = self.add_stream(StreamKind::Window { window_ms }, vec![parent], slide_ms)?;
        self.extend_remember(parent, window_ms + slide_ms);
        Ok(id)
    }

    /// `updateStateByKey`: a keyed state stream over `parent`; needs checkpointing.
    pub fn state_stream(&self, parent: usize, state: StateStream) -> Result<usize> {
        self.check_can_add()?;
        let slide = self.parents_slide(&[parent])?;
        // The stream keeps its own state: its RDDs and its parent's are needed for one batch.
        self.add_stream(StreamKind::State(Arc::new(state)), vec![parent], slide)
    }

    /// Incremental `reduceByKeyAndWindow` over `parent`, a stream of `(key, value)` pairs;
    /// needs checkpointing.
    pub fn reduced_window_stream(
        &self,
        parent: usize,
        window: WindowStream,
        slide_ms: i64,
    ) -> Result<usize> {
        self.check_can_add()?;
        let window_ms = window.window_ms;
        self.check_window(parent, window_ms, slide_ms)?;
        let id = self.add_stream(
            StreamKind::ReducedWindow(Arc::new(window)),
            vec![parent],
            slide_ms,
        )?;
        // The window keeps its own per-slide deltas: each parent batch is read once.
        self.extend_remember(parent, slide_ms);
        Ok(id)
    }

    pub fn transform(&self, parents: Vec<usize>, f: Arc<dyn TransformFn>) -> Result<usize> {
        self.check_can_add()?;
        let slide = self.parents_slide(&parents)?;
        self.add_stream(StreamKind::Transform(f), parents, slide)
    }

    /// A transform planned once: `plan` (built over one [`Rdd::slot`] per parent, in order)
    /// is instantiated with the parents' RDDs of every batch; `fallback` computes the same
    /// transform as host code when a parent has no RDD at that time.
    pub fn template(
        &self,
        parents: Vec<usize>,
        plan: Arc<Rdd>,
        fallback: Arc<dyn TransformFn>,
    ) -> Result<usize> {
        self.check_can_add()?;
        plan.check_template(parents.len())?;
        let slide = self.parents_slide(&parents)?;
        self.add_stream(StreamKind::Template { plan, fallback }, parents, slide)
    }

    /// `DStream.persist`: keep every RDD of `stream` once computed.
    pub fn persist_stream(&self, stream: usize) -> Result<()> {
        let graph = self.graph.lock();
        let node = graph.streams.get(stream).ok_or_else(|| {
            EngineError::InvalidArgument(format!("no stream {stream} in this context"))
        })?;
        node.persist.store(true, Ordering::Relaxed);
        Ok(())
    }

    pub fn union(&self, parents: Vec<usize>) -> Result<usize> {
        self.check_can_add()?;
        let slide = self.parents_slide(&parents)?;
        self.add_stream(StreamKind::Union, parents, slide)
    }

    pub fn foreach_rdd(
        &self,
        stream: usize,
        f: Arc<dyn OutputFn>,
        description: String,
    ) -> Result<()> {
        self.check_can_add()?;
        self.parents_slide(&[stream])?;
        self.graph.lock().outputs.push(Output {
            stream,
            func: f,
            description,
        });
        Ok(())
    }

    pub fn slide_ms(&self, stream: usize) -> Result<i64> {
        self.parents_slide(&[stream])
    }

    pub fn remember(&self, duration_ms: i64) -> Result<()> {
        if duration_ms <= 0 {
            return Err(EngineError::InvalidArgument(format!(
                "remember duration must be positive, got {duration_ms} ms"
            )));
        }
        self.graph.lock().remember_ms = Some(duration_ms);
        Ok(())
    }

    /// `spark.streaming.backpressure.enabled`: sources read no faster than the stream keeps
    /// up with (with `initial_rate`, `spark.streaming.backpressure.initialRate`, to start).
    pub fn enable_backpressure(&self, initial_rate: Option<f64>) {
        let mut estimators = std::collections::BTreeMap::new();
        let graph = self.graph.lock();
        for node in graph.streams.iter().filter(|n| n.input().is_some()) {
            estimators.insert(node.id, rate::PidRateEstimator::new(self.batch_ms));
            *node.rate.lock() = initial_rate;
            if let Some(input) = node.input() {
                input.set_rate(initial_rate.map(|r| r as u64));
            }
        }
        *self.rate_estimators.lock() = Some(estimators);
    }

    /// Deliver every event to `listener`, on a thread of its own, in order.
    pub fn set_listener(&self, listener: Arc<dyn Listener>) -> Result<()> {
        let bus = ListenerBus::start(listener)
            .map_err(|e| EngineError::io("cannot start the listener bus thread", e))?;
        *self.listener.lock() = Some(Arc::new(bus));
        Ok(())
    }

    fn emit(&self, name: &str, info: Info) {
        if let Some(ui) = &self.ui {
            ui.on_event(name, &info);
        }
        let bus = self.listener.lock().clone();
        if let Some(bus) = bus {
            bus.post(name, info);
        }
    }

    /// Wait up to `timeout` until the listener got every event posted so far.
    pub fn listeners_idle(&self, timeout: Duration) -> bool {
        let bus = self.listener.lock().clone();
        bus.is_none_or(|b| b.wait_idle(timeout))
    }

    pub fn clock_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn zero_time(&self) -> i64 {
        *self.zero_time.lock()
    }

    /// The RDDs of `stream` remembered for batch times in `begin..=end`.
    pub fn slice(&self, stream: usize, begin: i64, end: i64) -> Result<Vec<Arc<Rdd>>> {
        if self.state() == RunState::Initialized {
            return Err(EngineError::IllegalState(
                "This DStream has not been initialized".into(),
            ));
        }
        let graph = self.frozen_graph();
        let node = graph
            .streams
            .get(stream)
            .ok_or_else(|| EngineError::InvalidArgument(format!("no DStream with id {stream}")))?;
        let generated = node.generated.lock();
        Ok(generated
            .range(begin..=end)
            .filter_map(|(_, r)| r.clone())
            .collect())
    }

    /// Validate the graph and start the batch clock on a scheduler thread.
    pub fn start(self: &Arc<Self>, callsite: &str) -> Result<()> {
        {
            let shared = self.shared.lock();
            match shared.state {
                RunState::Active => {
                    log::warn!("StreamingContext has already been started");
                    return Ok(());
                }
                RunState::Stopped => {
                    return Err(EngineError::IllegalState(
                        "StreamingContext has already been stopped".into(),
                    ))
                }
                RunState::Initialized => {}
            }
        }
        if self.graph.lock().outputs.is_empty() {
            return Err(EngineError::Requirement(
                "requirement failed: No output operations registered, so nothing to execute".into(),
            ));
        }
        self.validate_for_start()?;
        let me = Arc::as_ptr(self) as usize;
        {
            let mut active = ACTIVE.lock();
            if let Some((_, site)) = active.as_ref() {
                return Err(EngineError::IllegalState(format!(
                    "Only one StreamingContext may be started in this JVM. Currently running \
                     StreamingContext was started at{site}"
                )));
            }
            *active = Some((me, format!("\n{callsite}")));
        }
        self.apply_remember_durations();
        let graph = std::mem::take(&mut *self.graph.lock());
        if let Some(ui) = &self.ui {
            ui.set_output_ops(graph.outputs.len());
        }
        Self::keep_positions_for_replay(&graph);
        *self.frozen.lock() = Some(Arc::new(graph));
        if let Err(e) = self.write_graph() {
            ACTIVE.lock().take();
            return Err(e);
        }
        let (first, zero) = match *self.restored.lock() {
            Some((zero, last)) => (last + self.batch_ms, zero),
            None => {
                let first = clock::first_batch_time(self.clock.now_ms(), self.batch_ms);
                (first, first - self.batch_ms)
            }
        };
        if let Err(e) = self.start_inputs() {
            ACTIVE.lock().take();
            return Err(e);
        }
        // A stream runs for a while: its Python workers start now, in the background, rather
        // than inside its first batch.
        self.ctx.executor().warm_up();
        *self.zero_time.lock() = zero;
        {
            let mut shared = self.shared.lock();
            shared.state = RunState::Active;
            shared.last_completed = zero;
        }
        self.emit(
            "onStreamingStarted",
            Info::map(vec![("time", Info::Int(self.clock.now_ms()))]),
        );
        let engine = self.clone();
        let handle = thread::Builder::new()
            .name("ferrostream-scheduler".into())
            .spawn(move || engine.run_scheduler(first))
            .map_err(|e| EngineError::io("cannot start the scheduler thread", e))?;
        *self.scheduler_thread.lock() = Some(handle.thread().id());
        *self.scheduler.lock() = Some(handle);
        Ok(())
    }

    fn validate_for_start(&self) -> Result<()> {
        let graph = self.graph.lock();
        let dir = self.checkpoint_dir.lock().clone();
        if graph.streams.iter().any(|n| n.must_checkpoint) && dir.is_none() {
            return Err(EngineError::Requirement(
                "requirement failed: The checkpoint directory has not been set. Please set it \
                 by StreamingContext.checkpoint()."
                    .into(),
            ));
        }
        if let Some(dir) = dir {
            checkpoint::prepare_dir(&dir)?;
        }
        for node in &graph.streams {
            if let Some(input) = node.input() {
                input.validate()?;
            }
        }
        Ok(())
    }

    fn start_inputs(self: &Arc<Self>) -> Result<()> {
        let graph = self.frozen_graph();
        let weak = Arc::downgrade(self);
        let events: EventSink = Arc::new(move |name: &str, info: Info| {
            if let Some(engine) = weak.upgrade() {
                engine.emit(name, info);
            }
        });
        for node in &graph.streams {
            if let Some(input) = node.input() {
                input.start(node.id, events.clone())?;
            }
        }
        Ok(())
    }

    fn stop_inputs(&self) {
        let graph = self.frozen_graph();
        for node in &graph.streams {
            if let Some(input) = node.input() {
                input.stop();
            }
        }
    }

    /// Every stream keeps its RDDs as long as anything downstream may ask for them: a window
    /// (or a recurrent stream) needs its parent's RDDs for its own remember duration plus the
    /// window and one slide, and that need passes on to all ancestors, as in Spark.
    fn apply_remember_durations(&self) {
        let graph = self.graph.lock();
        if let Some(r) = graph.remember_ms {
            for node in &graph.streams {
                node.remember_ms.fetch_max(r, Ordering::Relaxed);
            }
        }
        // Parents are always defined before their children: walk children first.
        for node in graph.streams.iter().rev() {
            let own = node.remember_ms.load(Ordering::Relaxed);
            let extra = match &node.kind {
                StreamKind::Window { window_ms } => window_ms + node.slide_ms,
                // The window keeps its own per-slide deltas: it reads each parent batch once,
                // in the slide it enters.
                StreamKind::ReducedWindow(_) => node.slide_ms,
                StreamKind::State(_) => node.slide_ms,
                _ => 0,
            };
            for &p in &node.parents {
                graph.streams[p]
                    .remember_ms
                    .fetch_max(own + extra, Ordering::Relaxed);
            }
        }
    }

    /// Stop the clock. A graceful stop lets the running batch finish (batches run one at a
    /// time, so that is all the data already handed out); so does a non-graceful one, since
    /// user code cannot be interrupted midway safely. Idempotent.
    pub fn stop(&self, graceful: bool) {
        if self.begin_stop(graceful) {
            while !self.finish_stop(Duration::from_millis(100)) {}
        }
    }

    /// The first half of [`StreamingEngine::stop`]: ask the scheduler to stop. `true` when
    /// the caller must then call [`StreamingEngine::finish_stop`] until it returns `true`;
    /// a host polls it in slices so that an interrupt can end the wait (a batch blocked in
    /// user code or a client library must not make `stop()` uninterruptible).
    pub fn begin_stop(&self, _graceful: bool) -> bool {
        {
            let mut shared = self.shared.lock();
            match shared.state {
                RunState::Stopped => {
                    log::warn!("StreamingContext has already been stopped");
                    return false;
                }
                RunState::Initialized => {
                    shared.state = RunState::Stopped;
                    shared.stop_requested = true;
                    drop(shared);
                    self.wake.notify_all();
                    return false;
                }
                RunState::Active => shared.stop_requested = true,
            }
        }
        self.wake.notify_all();
        true
    }

    /// Wait up to `slice` for the scheduler to end after [`StreamingEngine::begin_stop`];
    /// `true` once the engine is stopped (and the listeners heard every event of the run).
    pub fn finish_stop(&self, slice: Duration) -> bool {
        let on_scheduler = *self.scheduler_thread.lock() == Some(thread::current().id());
        if !on_scheduler {
            let deadline = Instant::now() + slice;
            let mut scheduler = self.scheduler.lock();
            if let Some(handle) = scheduler.as_ref() {
                while !handle.is_finished() {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            }
            if let Some(handle) = scheduler.take() {
                let _ = handle.join();
            }
        }
        let me = self as *const Self as usize;
        let mut active = ACTIVE.lock();
        if matches!(active.as_ref(), Some((id, _)) if *id == me) {
            *active = None;
        }
        drop(active);
        self.shared.lock().state = RunState::Stopped;
        self.wake.notify_all();
        // Listeners hear every event of the run before stop() returns (unless stop() was
        // called from a listener: that would wait for itself).
        let on_bus = thread::current().name() == Some("ferrostream-listener-bus");
        if !on_bus && !self.listeners_idle(Duration::from_secs(10)) {
            log::warn!("StreamingListener events are still being delivered after 10 s");
        }
        true
    }

    /// Wait up to `slice` for termination. `Ok(Some(true))`: stopped; `Ok(None)`: still
    /// running; `Err`: a batch failed (the latest failure, every time from then on).
    pub fn await_slice(&self, slice: Duration) -> Result<Option<bool>> {
        let mut shared = self.shared.lock();
        if let Some(e) = &shared.error {
            return Err(EngineError::Reported(e.clone()));
        }
        if shared.state == RunState::Stopped {
            return Ok(Some(true));
        }
        self.wake.wait_for(&mut shared, slice);
        if let Some(e) = &shared.error {
            return Err(EngineError::Reported(e.clone()));
        }
        Ok((shared.state == RunState::Stopped).then_some(true))
    }

    /// Manual clock: move time by `ms`; returns the batch time that must complete before the
    /// caller may return (see [`StreamingEngine::batches_done`]).
    pub fn advance_clock(&self, ms: i64) -> Result<i64> {
        let manual = self.manual.as_ref().ok_or_else(|| {
            EngineError::IllegalState(
                "advance_clock needs the manual clock (spark.streaming.clock)".into(),
            )
        })?;
        let now = manual.advance(ms);
        self.wake.notify_all();
        Ok(now)
    }

    /// Wait up to `slice` until every batch due at `now` has finished (or the context
    /// stopped). True when done.
    pub fn batches_done(&self, now: i64, slice: Duration) -> bool {
        let mut shared = self.shared.lock();
        let done = |s: &Shared| {
            s.state != RunState::Active
                || s.stop_requested
                || s.last_completed + self.batch_ms > now
        };
        if !done(&shared) {
            self.wake.wait_for(&mut shared, slice);
            if !done(&shared) {
                return false;
            }
        }
        drop(shared);
        // ... and the listeners heard about them.
        self.listeners_idle(slice)
    }
}

impl Drop for StreamingEngine {
    fn drop(&mut self) {
        let me = self as *const Self as usize;
        let mut active = ACTIVE.lock();
        if matches!(active.as_ref(), Some((id, _)) if *id == me) {
            *active = None;
        }
    }
}
