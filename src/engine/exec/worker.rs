//! One worker process as the pool holds it: its socket's frames, the functions and shared
//! values it holds, and its stderr (forwarded, with a tail kept for error messages).

use std::collections::{HashSet, VecDeque};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::process::{Reply, DONE, FAILED, FN, FORGET, KEPT_FUNCTIONS, SHARED, TASK};
use crate::engine::host::Payload;

/// The last bytes a worker wrote to stderr are kept for error messages.
const STDERR_TAIL: usize = 8 << 10;

/// Copy a worker's stderr to the driver's, keeping its tail.
fn forward_stderr(mut pipe: impl Read, tail: &Mutex<VecDeque<u8>>) {
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let _ = io::stderr().write_all(&buf[..n]);
                let mut t = tail.lock();
                t.extend(&buf[..n]);
                let excess = t.len().saturating_sub(STDERR_TAIL);
                t.drain(..excess);
            }
        }
    }
}

pub(super) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

pub(super) struct Worker {
    pub(super) pid: u32,
    /// Shared with the pool while the worker runs a task, so a cancelled job can kill it.
    pub(super) child: Arc<Mutex<Child>>,
    pub(super) stream: Option<(BufReader<UnixStream>, BufWriter<UnixStream>)>,
    /// Functions this worker holds, least recently used first.
    functions: VecDeque<u64>,
    /// Shared values this worker holds.
    shared: HashSet<u64>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
}

impl Worker {
    /// A worker just started (not yet connected); its stderr is forwarded from now on.
    pub(super) fn new(mut child: Child) -> Worker {
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(pipe) = child.stderr.take() {
            let tail = stderr.clone();
            let _ = std::thread::Builder::new()
                .name("ferrostream-worker-stderr".into())
                .spawn(move || forward_stderr(pipe, &tail));
        }
        Worker {
            pid: child.id(),
            child: Arc::new(Mutex::new(child)),
            stream: None,
            functions: VecDeque::new(),
            shared: HashSet::new(),
            stderr,
        }
    }

    fn streams(&mut self) -> io::Result<&mut (BufReader<UnixStream>, BufWriter<UnixStream>)> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "worker not connected"))
    }

    fn write_frame(&mut self, kind: u8, parts: &[&[u8]]) -> io::Result<()> {
        let len: usize = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
        let (_, w) = self.streams()?;
        w.write_all(&(len as u64).to_le_bytes())?;
        w.write_all(&[kind])?;
        for p in parts {
            w.write_all(p)?;
        }
        Ok(())
    }

    pub(super) fn read_frame(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let (r, _) = self.streams()?;
        let mut head = [0u8; 9];
        r.read_exact(&mut head)?;
        let len = u64::from_le_bytes(head[..8].try_into().expect("8 bytes")) as usize;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "empty frame"));
        }
        let mut body = vec![0u8; len - 1];
        r.read_exact(&mut body)?;
        Ok((head[8], body))
    }

    /// Make sure the worker holds function `fn_id` (and the shared values it refers to), most
    /// recently used.
    fn hold(&mut self, fn_id: u64, payload: &Payload) -> io::Result<()> {
        if let Some(at) = self.functions.iter().position(|f| *f == fn_id) {
            self.functions.remove(at);
            self.functions.push_back(fn_id);
            return Ok(());
        }
        for (id, value) in &payload.shared {
            if !self.shared.contains(id) {
                self.write_frame(SHARED, &[&id.to_le_bytes(), value])?;
                self.shared.insert(*id);
            }
        }
        self.write_frame(FN, &[&fn_id.to_le_bytes(), &payload.function])?;
        self.functions.push_back(fn_id);
        while self.functions.len() > KEPT_FUNCTIONS {
            if let Some(old) = self.functions.pop_front() {
                self.write_frame(FORGET, &[&old.to_le_bytes()])?;
            }
        }
        Ok(())
    }

    pub(super) fn run_task(
        &mut self,
        fn_id: u64,
        payload: &Payload,
        split: usize,
        limit: u64,
        data: &[u8],
    ) -> io::Result<Reply> {
        self.hold(fn_id, payload)?;
        let split = u32::try_from(split)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "split out of range"))?;
        self.write_frame(
            TASK,
            &[
                &fn_id.to_le_bytes(),
                &split.to_le_bytes(),
                &limit.to_le_bytes(),
                data,
            ],
        )?;
        self.streams()?.1.flush()?;
        let (kind, body) = self.read_frame()?;
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed reply from a worker");
        match kind {
            DONE => {
                let mut rest = &body[..];
                let printed = take_sized(&mut rest).ok_or_else(bad)?.to_vec();
                let accumulators = take_sized(&mut rest).ok_or_else(bad)?.to_vec();
                Ok(Reply::Done {
                    printed,
                    accumulators,
                    data: rest.to_vec(),
                })
            }
            FAILED => {
                let mut rest = &body[..];
                let exception = take_sized(&mut rest).ok_or_else(bad)?.to_vec();
                Ok(Reply::Failed {
                    exception,
                    traceback: String::from_utf8_lossy(rest).into_owned(),
                })
            }
            _ => Err(bad()),
        }
    }

    /// Why the worker is gone, after `e` broke its connection: its exit status when it exited.
    pub(super) fn death(&mut self, e: &io::Error) -> String {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            let exited = self.child.lock().try_wait();
            if let Ok(Some(status)) = exited {
                return format!("pid {}: {}", self.pid, describe(status));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        format!("pid {}: {e}", self.pid)
    }

    pub(super) fn stderr_text(&self) -> String {
        let tail = self.stderr.lock();
        String::from_utf8_lossy(&tail.iter().copied().collect::<Vec<u8>>())
            .trim_end()
            .to_string()
    }

    pub(super) fn kill(&mut self) {
        self.stream = None;
        let mut child = self.child.lock();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.stream.is_some() {
            self.kill();
        }
    }
}

/// `u32 n | n bytes` from the front of `rest`.
fn take_sized<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let bytes = rest.get(4..4 + n)?;
    *rest = &rest[4 + n..];
    Some(bytes)
}
