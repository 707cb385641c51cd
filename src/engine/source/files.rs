//! `textFileStream` / `binaryRecordsStream`: each batch reads the files that appeared in a
//! directory since the previous batch.
//!
//! Selection follows Spark's FileInputDStream: at batch time `t` a file is new when its
//! modification time is in `[threshold, t]` and it was not selected by a batch of the last
//! `remember` (at least 60 s), where `threshold = max(start time, t - remember)`. Names starting
//! with `.` or `_` (temporary and marker files) and Hadoop's `._COPYING_` files are skipped.
//! Files are read when the batch is generated, so a file deleted later cannot hurt the batch;
//! one that vanishes between listing and reading is logged and skipped. A directory that cannot
//! be listed while the context runs (removed, renamed) is logged and scanned again next batch.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use parking_lot::Mutex;

use crate::engine::block::Data;
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::paths;
use crate::engine::rdd::{Partition, PartitionSource, Rdd};
use crate::engine::source::Position;
use crate::engine::stream::graph::{EventSink, Input, InputBatch, RateBudget};
use crate::engine::textio;
use crate::engine::value::Value;

/// Spark's `spark.streaming.fileStream.minRememberDuration`.
pub const MIN_REMEMBER_MS: i64 = 60_000;

#[derive(Clone, Copy, Debug)]
pub enum FileFormat {
    /// UTF-8 lines.
    Text,
    /// Fixed-length binary records.
    Records(usize),
}

impl FileFormat {
    /// Fixed-length records of `length` bytes; the length must be positive.
    pub fn records(length: i64) -> Result<FileFormat> {
        match usize::try_from(length) {
            Ok(n) if n > 0 => Ok(FileFormat::Records(n)),
            _ => Err(EngineError::InvalidArgument(format!(
                "recordLength must be positive, got {length}"
            ))),
        }
    }
}

pub struct FileInput {
    dir: PathBuf,
    format: FileFormat,
    remember_ms: i64,
    clock_now: Arc<dyn Fn() -> i64 + Send + Sync>,
    state: Mutex<FileState>,
}

#[derive(Default)]
struct FileState {
    /// Files selected by recent batches, by batch time.
    selected: BTreeMap<i64, Vec<String>>,
    /// Files older than this are never new (the start time: only new files are read).
    initial_threshold: Option<i64>,
}

impl FileInput {
    pub fn new(
        dir: &str,
        format: FileFormat,
        batch_ms: i64,
        clock_now: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> Result<FileInput> {
        let remember_ms = batch_ms * ((MIN_REMEMBER_MS + batch_ms - 1) / batch_ms);
        Ok(FileInput {
            dir: paths::local_path(dir)?,
            format,
            remember_ms,
            clock_now,
            state: Mutex::new(FileState::default()),
        })
    }

    fn is_candidate(name: &str) -> bool {
        !textio::is_hidden(name) && !name.ends_with("._COPYING_")
    }

    fn select(&self, time: i64) -> Result<Vec<String>> {
        let mut state = self.state.lock();
        let initial = *state
            .initial_threshold
            .get_or_insert_with(|| (self.clock_now)());
        let threshold = initial.max(time - self.remember_ms);
        let recent: HashSet<&String> = state.selected.values().flatten().collect();
        let mut chosen = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                // As Spark's FileInputDStream: the batch gets no files, the stream goes on and
                // the directory is scanned again at the next batch.
                log::warn!(
                    "Error finding new files under {}: {e}; this batch has no new files and the \
                     directory is scanned again at the next batch",
                    self.dir.display()
                );
                state.selected.insert(time, Vec::new());
                return Ok(chosen);
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !Self::is_candidate(&name) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let mtime = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            let path = entry.path().to_string_lossy().into_owned();
            if mtime < threshold || mtime > time || recent.contains(&path) {
                continue;
            }
            chosen.push(path);
        }
        chosen.sort();
        state.selected.insert(time, chosen.clone());
        let keep_after = time - self.remember_ms;
        state.selected.retain(|t, _| *t > keep_after);
        Ok(chosen)
    }

    /// The batch of `files`, read lazily: at generation only the files' sizes are looked at
    /// (to cut large text files into splits for the worker threads); the data is read in
    /// parallel, partition by partition, when the batch's jobs run.
    fn read(&self, ctx: &Arc<EngineContext>, files: &[String]) -> Result<Arc<Rdd>> {
        let present: Vec<String> = files
            .iter()
            .filter(|f| {
                let exists = Path::new(f.as_str()).exists();
                if !exists {
                    log::warn!("file {f} vanished before it could be read; skipped");
                }
                exists
            })
            .cloned()
            .collect();
        let source: Arc<dyn PartitionSource> = match self.format {
            FileFormat::Text => Arc::new(TextSplits(textio::plan_splits(
                &present,
                ctx.parallelism().max(1),
            )?)),
            FileFormat::Records(n) => Arc::new(RecordFiles {
                files: present,
                record_length: n,
            }),
        };
        Ok(Rdd::lazy(ctx, source))
    }
}

/// Text files cut into splits, read when computed.
struct TextSplits(Vec<textio::Split>);

impl PartitionSource for TextSplits {
    fn num_partitions(&self) -> usize {
        self.0.len()
    }

    fn compute(&self, i: usize) -> Result<Partition> {
        self.skip_vanished(i, textio::read_split(&self.0[i]), Vec::new)
    }

    /// The lines as a native block.
    fn compute_data(&self, i: usize) -> Result<Data> {
        let block = textio::read_split_block(&self.0[i]).map(Data::block);
        self.skip_vanished(i, block, || Data::Rows(Vec::new()))
    }
}

impl TextSplits {
    /// A split whose file vanished before it could be read is empty (and logged).
    fn skip_vanished<T>(&self, i: usize, read: Result<T>, empty: impl FnOnce() -> T) -> Result<T> {
        match read {
            Err(EngineError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                log::warn!(
                    "file {} vanished before it could be read; skipped",
                    self.0[i].path.display()
                );
                Ok(empty())
            }
            other => other,
        }
    }
}

/// Files of fixed-length binary records, one partition per file, read when computed.
struct RecordFiles {
    files: Vec<String>,
    record_length: usize,
}

impl PartitionSource for RecordFiles {
    fn num_partitions(&self) -> usize {
        self.files.len()
    }

    fn compute(&self, i: usize) -> Result<Partition> {
        let f = &self.files[i];
        let n = self.record_length;
        let bytes = match fs::read(f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                log::warn!("file {f} vanished before it could be read; skipped");
                return Ok(Vec::new());
            }
            Err(e) => return Err(EngineError::io(format!("cannot read {f}"), e)),
        };
        if bytes.len() % n != 0 {
            return Err(EngineError::InvalidArgument(format!(
                "file {f} has {} bytes, which is not a multiple of the record length {n}",
                bytes.len()
            )));
        }
        Ok(bytes
            .chunks(n)
            .map(|c| Value::Bytes(Arc::from(c)))
            .collect())
    }
}

impl Input for FileInput {
    fn validate(&self) -> Result<()> {
        match fs::metadata(&self.dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(EngineError::InvalidArgument(format!(
                "{} is not a directory",
                self.dir.display()
            ))),
            Err(e) => Err(EngineError::io(
                format!("directory {} does not exist", self.dir.display()),
                e,
            )),
        }
    }

    fn start(&self, _stream_id: usize, _events: EventSink) -> Result<()> {
        let mut state = self.state.lock();
        if state.initial_threshold.is_none() {
            state.initial_threshold = Some((self.clock_now)());
        }
        Ok(())
    }

    fn batch(
        &self,
        ctx: &Arc<EngineContext>,
        time: i64,
        _budget: &RateBudget,
    ) -> Result<InputBatch> {
        let files = self.select(time)?;
        let rdd = self.read(ctx, &files)?;
        Ok(InputBatch {
            rdd,
            // Not known until the batch runs (Spark reports none for file streams either).
            records: None,
            position: Some(Position::Files(files)),
        })
    }

    fn replay(&self, ctx: &Arc<EngineContext>, time: i64, position: &Position) -> Result<Arc<Rdd>> {
        let Position::Files(files) = position else {
            return Err(EngineError::InvalidArgument(format!(
                "a file stream cannot replay {position:?}"
            )));
        };
        self.state.lock().selected.insert(time, files.clone());
        self.read(ctx, files)
    }

    fn snapshot(&self) -> Option<Position> {
        let state = self.state.lock();
        Some(Position::FileSelection {
            threshold: state.initial_threshold.unwrap_or(0),
            selected: state
                .selected
                .iter()
                .map(|(t, files)| (*t, files.clone()))
                .collect(),
        })
    }

    fn restore(&self, snapshot: &Position) -> Result<()> {
        let Position::FileSelection {
            threshold,
            selected,
        } = snapshot
        else {
            return Err(EngineError::InvalidArgument(format!(
                "a file stream cannot restore {snapshot:?}"
            )));
        };
        let mut state = self.state.lock();
        state.initial_threshold = Some(*threshold);
        for (t, files) in selected {
            state.selected.insert(*t, files.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn set_mtime(path: &Path, ms: i64) {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn each_file_is_selected_once_by_modification_time() {
        let dir = tempfile::tempdir().unwrap();
        let input = FileInput::new(
            &dir.path().to_string_lossy(),
            FileFormat::Text,
            1000,
            Arc::new(|| 0),
        )
        .unwrap();
        let ctx = EngineContext::new(1).unwrap();
        input.start(0, Arc::new(|_: &str, _| {})).unwrap();
        let a = dir.path().join("a.txt");
        fs::write(&a, "x y\nz\n").unwrap();
        set_mtime(&a, 1500);
        let hidden = dir.path().join(".b.txt");
        fs::write(&hidden, "no\n").unwrap();
        set_mtime(&hidden, 1500);
        let lines = |t| {
            input
                .batch(&ctx, t, &RateBudget::default())
                .unwrap()
                .rdd
                .collect()
                .unwrap()
                .iter()
                .map(|v| v.to_py_str().unwrap())
                .collect::<Vec<_>>()
        };
        assert!(
            lines(1000).is_empty(),
            "not yet: modified after the batch time"
        );
        assert_eq!(lines(2000), ["x y", "z"]);
        assert!(lines(3000).is_empty(), "already selected");
    }

    #[test]
    fn binary_records_must_divide_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let input = FileInput::new(
            &dir.path().to_string_lossy(),
            FileFormat::Records(4),
            1000,
            Arc::new(|| 0),
        )
        .unwrap();
        let ctx = EngineContext::new(1).unwrap();
        let f = dir.path().join("r.bin");
        fs::write(&f, b"abcdefg").unwrap();
        set_mtime(&f, 500);
        // Read when the batch runs: the error comes from the job.
        let batch = input.batch(&ctx, 1000, &RateBudget::default()).unwrap();
        let err = batch.rdd.collect().err().unwrap().to_string();
        assert!(
            err.contains("not a multiple of the record length 4"),
            "{err}"
        );
    }

    #[test]
    fn a_removed_directory_is_scanned_again_later() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("watched");
        fs::create_dir(&dir).unwrap();
        let input = FileInput::new(
            &dir.to_string_lossy(),
            FileFormat::Text,
            1000,
            Arc::new(|| 0),
        )
        .unwrap();
        let ctx = EngineContext::new(1).unwrap();
        input.validate().unwrap();
        input.start(0, Arc::new(|_: &str, _| {})).unwrap();
        fs::remove_dir(&dir).unwrap();
        let batch = input
            .batch(&ctx, 1000, &RateBudget::default())
            .expect("a missing directory does not fail");
        assert!(batch.rdd.collect().unwrap().is_empty());
        fs::create_dir(&dir).unwrap();
        let f = dir.join("a.txt");
        fs::write(&f, "back\n").unwrap();
        set_mtime(&f, 1500);
        let lines = input
            .batch(&ctx, 2000, &RateBudget::default())
            .unwrap()
            .rdd
            .collect()
            .unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].to_py_str().unwrap(), "back");
    }

    #[test]
    fn missing_directory_is_named() {
        let input = FileInput::new("/no/such/dir", FileFormat::Text, 1000, Arc::new(|| 0)).unwrap();
        let err = input.validate().err().unwrap().to_string();
        assert!(err.contains("/no/such/dir"), "{err}");
    }
}
