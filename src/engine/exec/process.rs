//! The worker-process executor: `local[N]`'s host functions run in `N` long-lived worker
//! processes (one host interpreter each), native work stays on the driver's threads.
//!
//! [`ProcessExecutor`] runs tasks exactly as [`LocalExecutor`] does: the scheduler and the
//! operators do not know the difference. What changes is where host functions run:
//! [`Executor::place_host_fn`] wraps each one in a [`PooledFn`] that, when a task calls it,
//! encodes the partition ([`wire`], natively, without the host), hands it to an idle worker
//! with the function's id (the function itself, pickled once, is sent to each worker the first
//! time it needs it) and decodes the worker's output. A partition moves to a worker only for
//! its host steps, and as a whole.
//!
//! Workers are started by [`WorkerCommand`] (a fresh interpreter, never a fork of the driver),
//! connect back over a Unix socket of their own and speak the frame protocol below. A worker
//! that dies while running a task is replaced, and the task runs again on a fresh worker, up to
//! the configured attempts; the task's side effects (printed text, accumulator updates) are
//! applied only for the attempt that finished, so they count once.
//!
//! # Frames
//! `u64 length | u8 kind | payload` (little endian; `length` counts the kind byte).
//! Driver to worker: [`FN`] `u64 id | pickled function`; [`TASK`] `u64 id | u32 split |
//! u64 limit (u64::MAX: none) | partition`; [`SHARED`] `u64 id | pickled value` (a value
//! functions refer to by id, e.g. a broadcast variable; sent once per worker); [`FORGET`]
//! `u64 id` (drop a function: a worker keeps at most [`KEPT_FUNCTIONS`]). Worker to driver: [`READY`] `u32 pid`; [`DONE`]
//! `u32 n | printed text (n bytes) | u32 m | accumulator updates (m bytes) | partition`;
//! [`FAILED`] `u32 n | pickled exception (n bytes) | traceback text`. The driver closes the
//! socket to stop a worker.

use std::io::{self, BufReader, BufWriter};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::worker::{describe, Worker};
use super::{Executor, LocalExecutor};
use crate::engine::block::Block;
use crate::engine::error::{EngineError, Result};
use crate::engine::host::{HostCodec, PartitionFn, Payload};
use crate::engine::value::Value;
use crate::engine::wire;

pub const FN: u8 = 1;
pub const TASK: u8 = 2;
pub const SHARED: u8 = 3;
pub const FORGET: u8 = 4;

/// Functions a worker keeps (streams make new ones every batch): the least recently used
/// beyond this are forgotten by both sides.
pub const KEPT_FUNCTIONS: usize = 64;
pub const READY: u8 = 10;
pub const DONE: u8 = 11;
pub const FAILED: u8 = 12;

/// `limit` of a task whose whole output is wanted.
pub const NO_LIMIT: u64 = u64::MAX;

/// How a worker process is started; the executor adds `FERROSTREAM_WORKER_SOCKET` (where to
/// connect) and `FERROSTREAM_DRIVER_PID` (the worker exits when that process is gone).
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// What the host does for the pool: encode its objects, rebuild a task's exception, apply a
/// finished task's side effects in the driver.
pub trait WorkerHost: Send + Sync {
    fn codec(&self) -> &dyn HostCodec;

    /// The error of a task whose function raised: `exception` as the worker pickled it,
    /// `traceback` the worker's formatted traceback.
    fn task_error(&self, exception: &[u8], traceback: &str) -> EngineError;

    /// Text a finished task printed and its accumulator updates (as the worker encoded them;
    /// either may be empty).
    fn task_effects(&self, printed: &[u8], accumulators: &[u8]) -> Result<()>;
}

/// The settings of a worker pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Worker processes (and driver threads): `N` of `local[N]`.
    pub workers: usize,
    /// Attempts of a task whose worker died (`F` of `local[N, F]`).
    pub attempts: usize,
    pub command: WorkerCommand,
    /// How long a starting worker may take to connect.
    pub start_timeout: Duration,
}

/// Tasks on `N` driver threads; host functions on `N` worker processes.
pub struct ProcessExecutor {
    threads: LocalExecutor,
    pool: Arc<WorkerPool>,
}

impl ProcessExecutor {
    pub fn new(config: PoolConfig, host: Arc<dyn WorkerHost>) -> Result<ProcessExecutor> {
        if config.workers == 0 || config.attempts == 0 {
            return Err(EngineError::InvalidArgument(
                "a worker pool needs at least one worker and one attempt".into(),
            ));
        }
        let threads = LocalExecutor::new(config.workers)?;
        let pool = Arc::new(WorkerPool::new(config, host)?);
        let mut live = LIVE_POOLS.lock();
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&pool));
        drop(live);
        Ok(ProcessExecutor { threads, pool })
    }
}

impl Executor for ProcessExecutor {
    fn parallelism(&self) -> usize {
        self.threads.parallelism()
    }

    fn run(&self, n: usize, task: &(dyn Fn(usize) + Sync)) {
        self.threads.run(n, task);
    }

    fn place_host_fn(&self, f: Arc<dyn PartitionFn>) -> Arc<dyn PartitionFn> {
        Arc::new(PooledFn {
            local: f,
            payload: OnceLock::new(),
            pool: self.pool.clone(),
        })
    }

    fn worker_pids(&self) -> Vec<u32> {
        self.pool.pids()
    }

    fn warm_up(&self) {
        self.pool.warm_up();
    }

    fn shutdown(&self) {
        self.pool.shutdown();
    }
}

/// A host function that runs on the pool's workers.
pub struct PooledFn {
    local: Arc<dyn PartitionFn>,
    /// The pickled function, made on first use (an unpicklable function fails the first task
    /// that needs it, and every later one, with the same error).
    #[allow(clippy::type_complexity)]
    payload: OnceLock<Option<std::result::Result<Arc<Shipped>, Arc<EngineError>>>>,
    pool: Arc<WorkerPool>,
}

impl PooledFn {
    /// The pickled function, made once; `None` when the function cannot leave this process.
    fn payload(&self) -> Option<Result<Arc<Shipped>>> {
        let made = self.payload.get_or_init(|| {
            self.local.payload().map(|r| match r {
                Ok(payload) => Ok(Arc::new(Shipped::new(payload))),
                Err(e) => Err(Arc::new(e)),
            })
        });
        made.clone().map(|r| r.map_err(EngineError::Reported))
    }

    fn run(&self, split: usize, input: Vec<Value>, limit: u64) -> Result<Vec<Value>> {
        let Some(payload) = self.payload() else {
            // Not shippable (an engine-internal function): it runs here.
            return match limit {
                NO_LIMIT => self.local.call(split, input),
                n => self.local.call_limited(split, input, n as usize),
            };
        };
        let payload = payload?;
        let data = wire::encode_partition(&input, Some(self.pool.host.codec()))?;
        drop(input);
        self.run_encoded(&payload, split, data, limit)
    }

    /// Run the function on a worker over an encoded partition.
    fn run_encoded(
        &self,
        payload: &Shipped,
        split: usize,
        data: Vec<u8>,
        limit: u64,
    ) -> Result<Vec<Value>> {
        crate::engine::host::HOST_PARTITION_CALLS.fetch_add(1, Ordering::Relaxed);
        let host = &self.pool.host;
        let attempts = self.pool.config.attempts;
        let epoch = self.pool.epoch.load(Ordering::SeqCst);
        let mut last = String::new();
        let job = super::scope::current();
        let cancelled = || {
            EngineError::Worker(format!(
                "Task {split} was cancelled: its job was interrupted"
            ))
        };
        for attempt in 1..=attempts {
            if super::scope::is_cancelled(job) {
                return Err(cancelled());
            }
            let mut worker = self.pool.checkout()?;
            // Its job cancelled while the task waited for a worker (one starting, say): the
            // worker is busy now, so a later cancel kills it; an earlier one is seen here.
            if super::scope::is_cancelled(job) {
                self.pool.checkin(worker);
                return Err(cancelled());
            }
            match worker.run_task(payload.id, &payload.payload, split, limit, &data) {
                Ok(Reply::Done {
                    printed,
                    accumulators,
                    data,
                }) => {
                    self.pool.checkin(worker);
                    if !printed.is_empty() || !accumulators.is_empty() {
                        host.task_effects(&printed, &accumulators)?;
                    }
                    return wire::decode_partition(&data, Some(host.codec()));
                }
                Ok(Reply::Failed {
                    exception,
                    traceback,
                }) => {
                    self.pool.checkin(worker);
                    return Err(host.task_error(&exception, &traceback));
                }
                Err(e) => {
                    let why = worker.death(&e);
                    self.pool.discard(worker);
                    if self.pool.epoch.load(Ordering::SeqCst) != epoch {
                        return Err(cancelled());
                    }
                    log::warn!(
                        "Lost a Python worker while running task {split} ({why}); \
                         attempt {attempt} of {attempts}"
                    );
                    last = why;
                    if self.pool.stopped.load(Ordering::SeqCst) {
                        break;
                    }
                }
            }
        }
        Err(EngineError::Worker(format!(
            "Task {split} failed {attempts} time(s): its Python worker process died ({last})"
        )))
    }
}

impl PartitionFn for PooledFn {
    fn call(&self, split: usize, input: Vec<Value>) -> Result<Vec<Value>> {
        self.run(split, input, NO_LIMIT)
    }

    fn call_limited(&self, split: usize, input: Vec<Value>, limit: usize) -> Result<Vec<Value>> {
        self.run(split, input, limit as u64)
    }

    /// A native block is encoded for the worker straight from its buffers.
    fn call_block(&self, split: usize, input: Block) -> Result<Vec<Value>> {
        let Some(payload) = self.payload() else {
            return self.local.call_block(split, input);
        };
        let payload = payload?;
        let data = wire::encode_block(&input)?;
        drop(input);
        crate::engine::block::count_to_host();
        self.run_encoded(&payload, split, data, NO_LIMIT)
    }

    fn payload(&self) -> Option<Result<Payload>> {
        self.local.payload()
    }
}

/// A function as workers get it. Its id is the hash of its bytes: streams build new function
/// objects every batch, and the same bytes need not be sent (or loaded) again by a worker
/// that holds them.
struct Shipped {
    id: u64,
    payload: Payload,
}

impl Shipped {
    fn new(payload: Payload) -> Shipped {
        use std::hash::Hasher;
        let mut h = siphasher::sip::SipHasher13::new_with_keys(0x0066_6572_726f, 0x0073_7472_6561);
        h.write(&payload.function);
        for (id, _) in &payload.shared {
            h.write_u64(*id);
        }
        Shipped {
            id: h.finish(),
            payload,
        }
    }
}

/// A finished task, as the worker reported it.
pub(super) enum Reply {
    Done {
        printed: Vec<u8>,
        accumulators: Vec<u8>,
        data: Vec<u8>,
    },
    Failed {
        exception: Vec<u8>,
        traceback: String,
    },
}

struct WorkerPool {
    config: PoolConfig,
    host: Arc<dyn WorkerHost>,
    socket_dir: tempfile::TempDir,
    idle: Mutex<Idle>,
    available: Condvar,
    stopped: AtomicBool,
    next_worker: AtomicU64,
    /// Bumped by [`cancel_running_tasks`]: a task whose worker died after that was cancelled,
    /// not crashed, and is not retried.
    epoch: AtomicU64,
}

#[derive(Default)]
struct Idle {
    workers: Vec<Worker>,
    /// Workers alive, idle or busy.
    live: usize,
    /// The processes of the workers running tasks now.
    busy: Vec<(u32, Arc<Mutex<Child>>)>,
}

/// The live pools of this process (one per SparkContext), for [`cancel_running_tasks`].
static LIVE_POOLS: Mutex<Vec<std::sync::Weak<WorkerPool>>> = Mutex::new(Vec::new());

/// Cancel the tasks running on worker processes now (an interrupted action: Ctrl+C or
/// Jupyter's interrupt): their workers are killed and replaced when next needed, and the tasks
/// fail as cancelled instead of being retried. Workers stuck in a function (an endless loop)
/// are freed this way.
pub fn cancel_running_tasks() {
    let pools: Vec<Arc<WorkerPool>> = LIVE_POOLS
        .lock()
        .iter()
        .filter_map(|w| w.upgrade())
        .collect();
    for pool in pools {
        pool.epoch.fetch_add(1, Ordering::SeqCst);
        let busy = pool.idle.lock().busy.clone();
        for (pid, child) in busy {
            log::info!("Killing Python worker {pid}: its job was cancelled");
            let _ = child.lock().kill();
        }
    }
}

static POOLS: AtomicU64 = AtomicU64::new(0);

impl WorkerPool {
    fn new(config: PoolConfig, host: Arc<dyn WorkerHost>) -> Result<WorkerPool> {
        // A unique directory: a driver killed by a signal leaves its own behind, and its pid
        // is soon another driver's.
        let prefix = format!(
            "ferrostream-{}-{}-",
            std::process::id(),
            POOLS.fetch_add(1, Ordering::Relaxed)
        );
        let socket_dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir()
            .map_err(|e| EngineError::Io {
                context: format!(
                    "cannot create a directory for worker sockets in {}",
                    std::env::temp_dir().display()
                ),
                source: e,
            })?;
        Ok(WorkerPool {
            config,
            host,
            socket_dir,
            idle: Mutex::new(Idle::default()),
            available: Condvar::new(),
            stopped: AtomicBool::new(false),
            next_worker: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        })
    }

    fn pids(&self) -> Vec<u32> {
        let idle = self.idle.lock();
        let idle_pids = idle.workers.iter().map(|w| w.pid);
        idle_pids
            .chain(idle.busy.iter().map(|(pid, _)| *pid))
            .collect()
    }

    /// An idle worker, a new one while fewer than `workers` live, or the next one put back.
    fn checkout(&self) -> Result<Worker> {
        let mut idle = self.idle.lock();
        loop {
            if self.stopped.load(Ordering::SeqCst) {
                return Err(EngineError::IllegalState(
                    "Cannot run a task: the SparkContext was stopped.".into(),
                ));
            }
            if let Some(w) = idle.workers.pop() {
                idle.busy.push((w.pid, w.child.clone()));
                return Ok(w);
            }
            if idle.live < self.config.workers {
                idle.live += 1;
                drop(idle);
                let started = self.start_worker();
                let mut idle = self.idle.lock();
                return match started {
                    Ok(w) => {
                        idle.busy.push((w.pid, w.child.clone()));
                        Ok(w)
                    }
                    Err(e) => {
                        idle.live -= 1;
                        self.available.notify_one();
                        Err(e)
                    }
                };
            }
            self.available.wait(&mut idle);
        }
    }

    /// Start every missing worker, each on a thread of its own; they join the idle workers.
    /// A worker that cannot start is left for the first task to start (and report).
    fn warm_up(self: &Arc<Self>) {
        loop {
            {
                let mut idle = self.idle.lock();
                if idle.live >= self.config.workers || self.stopped.load(Ordering::SeqCst) {
                    return;
                }
                idle.live += 1;
            }
            let pool = self.clone();
            let started = std::thread::Builder::new()
                .name("ferrostream-worker-start".into())
                .spawn(move || match pool.start_worker() {
                    Ok(w) => pool.checkin(w),
                    Err(e) => {
                        pool.idle.lock().live -= 1;
                        pool.available.notify_one();
                        log::debug!("A Python worker did not start ahead of time: {e}");
                    }
                });
            if started.is_err() {
                self.idle.lock().live -= 1;
                return;
            }
        }
    }

    fn checkin(&self, worker: Worker) {
        let mut idle = self.idle.lock();
        idle.busy.retain(|(p, _)| *p != worker.pid);
        if self.stopped.load(Ordering::SeqCst) {
            drop(idle);
            self.discard(worker);
            return;
        }
        idle.workers.push(worker);
        drop(idle);
        self.available.notify_one();
    }

    fn discard(&self, mut worker: Worker) {
        worker.kill();
        let mut idle = self.idle.lock();
        idle.live -= 1;
        idle.busy.retain(|(p, _)| *p != worker.pid);
        drop(idle);
        self.available.notify_one();
    }

    fn shutdown(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let workers = std::mem::take(&mut self.idle.lock().workers);
        for w in workers {
            self.discard(w);
        }
        self.available.notify_all();
        let _ = std::fs::remove_dir_all(self.socket_dir.path());
    }

    fn start_worker(&self) -> Result<Worker> {
        let n = self.next_worker.fetch_add(1, Ordering::Relaxed);
        let path = self.socket_dir.path().join(format!("worker-{n}.sock"));
        let cannot = |what: &str, e: io::Error| EngineError::Worker(format!("{what}: {e}"));
        let listener = UnixListener::bind(&path)
            .map_err(|e| cannot(&format!("cannot listen on {}", path.display()), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| cannot("cannot listen for a worker", e))?;
        let cmd = &self.config.command;
        let child = Command::new(&cmd.program)
            .args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .env("FERROSTREAM_WORKER_SOCKET", &path)
            .env("FERROSTREAM_DRIVER_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                cannot(
                    &format!("cannot start a Python worker ({})", cmd.program.display()),
                    e,
                )
            })?;
        let mut worker = Worker::new(child);
        let deadline = Instant::now() + self.config.start_timeout;
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(self.failed_start(worker, &format!("accept failed: {e}"))),
            }
            let exited = worker.child.lock().try_wait();
            if let Ok(Some(status)) = exited {
                let why = format!("it exited ({})", describe(status));
                return Err(self.failed_start(worker, &why));
            }
            if Instant::now() > deadline {
                let why = format!(
                    "it did not connect within {} s",
                    self.config.start_timeout.as_secs()
                );
                return Err(self.failed_start(worker, &why));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let _ = std::fs::remove_file(&path);
        let reader = stream
            .try_clone()
            .map_err(|e| cannot("cannot use a worker's socket", e))?;
        stream
            .set_nonblocking(false)
            .map_err(|e| cannot("cannot use a worker's socket", e))?;
        worker.stream = Some((
            BufReader::with_capacity(1 << 16, reader),
            BufWriter::with_capacity(1 << 16, stream),
        ));
        match worker.read_frame() {
            Ok((READY, _)) => {
                log::debug!("Python worker {} started", worker.pid);
                Ok(worker)
            }
            Ok((kind, _)) => {
                let why = format!("it sent frame {kind} instead of its greeting");
                Err(self.failed_start(worker, &why))
            }
            Err(e) => {
                let why = worker.death(&e);
                Err(self.failed_start(worker, &why))
            }
        }
    }

    fn failed_start(&self, mut worker: Worker, why: &str) -> EngineError {
        worker.kill();
        // Let the stderr thread take in what the worker printed before it died.
        std::thread::sleep(Duration::from_millis(20));
        let output = worker.stderr_text();
        let cmd = &self.config.command;
        EngineError::Worker(format!(
            "A Python worker process ({} {}) could not start: {why}.{}",
            cmd.program.display(),
            cmd.args.join(" "),
            if output.is_empty() {
                String::new()
            } else {
                format!(" Its output:\n{output}")
            }
        ))
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}
