//! Text files in and out, with Hadoop's conventions.
//!
//! Reading: files are cut into byte-range splits; a split owns every line that *starts*
//! inside its range (a split that does not start at 0 skips its first, partial line; the last
//! line of a split is read past the range's end), so each line is read exactly once.
//! Writing: `part-NNNNN` per partition plus `_SUCCESS`, produced in a hidden temporary
//! directory next to the target and renamed into place, so a reader never sees a partial result.

use std::borrow::Cow;
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::engine::block::{Block, LinesBuilder};
use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::paths;
use crate::engine::rdd::Partition;
use crate::engine::value::{Text, Value};

/// A byte range of one file.
#[derive(Clone, Debug)]
pub struct Split {
    pub path: PathBuf,
    pub start: u64,
    pub end: u64,
}

/// Is this a name Hadoop's input formats skip (hidden or `_`-prefixed)?
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// The files behind `paths` (directories expand to their visible files, sorted by name).
pub fn list_files(paths: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        let path = paths::local_path(p)?;
        let meta = fs::metadata(&path).map_err(|e| {
            EngineError::io(
                format!("Input path does not exist: {}", paths::file_url(&path)),
                e,
            )
        })?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(&path)
                .map_err(|e| EngineError::io(format!("cannot list {}", path.display()), e))?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .filter(|e| !is_hidden(&e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

/// Cut the files into at least `min_partitions` splits in total (when they have enough bytes).
pub fn plan_splits(paths: &[String], min_partitions: usize) -> Result<Vec<Split>> {
    let files = list_files(paths)?;
    let sizes = files
        .iter()
        .map(|f| {
            fs::metadata(f)
                .map(|m| m.len())
                .map_err(|e| EngineError::io(format!("cannot read {}", f.display()), e))
        })
        .collect::<Result<Vec<u64>>>()?;
    let total: u64 = sizes.iter().sum();
    let goal = (total / min_partitions.max(1) as u64).max(1);
    let mut splits = Vec::new();
    for (path, size) in files.into_iter().zip(sizes) {
        if size == 0 {
            splits.push(Split {
                path,
                start: 0,
                end: 0,
            });
            continue;
        }
        let mut start = 0;
        while start < size {
            // Like Hadoop, let the last split of a file be up to 10% larger than the goal.
            let end = if (size - start) as f64 <= goal as f64 * 1.1 {
                size
            } else {
                start + goal
            };
            splits.push(Split {
                path: path.clone(),
                start,
                end,
            });
            start = end;
        }
    }
    Ok(splits)
}

/// Decode one line: UTF-8 with invalid bytes replaced; a trailing `\r` removed.
pub fn decode_line(bytes: &[u8]) -> Value {
    Value::Str(Text::from(line_text(bytes).as_ref()))
}

/// The text of one line (without its `\n`): UTF-8 with invalid bytes replaced, a trailing
/// `\r` removed. Borrowed when the bytes are valid UTF-8.
fn line_text(mut bytes: &[u8]) -> Cow<'_, str> {
    if bytes.last() == Some(&b'\r') {
        bytes = &bytes[..bytes.len() - 1];
    }
    String::from_utf8_lossy(bytes)
}

/// The lines of one split.
pub fn read_split(split: &Split) -> Result<Partition> {
    let mut lines = Vec::new();
    for_each_line(split, |line| lines.push(decode_line(line)))?;
    Ok(lines)
}

/// The lines of one split as a native block (the same lines as [`read_split`], in one buffer).
pub fn read_split_block(split: &Split) -> Result<Block> {
    let bytes = usize::try_from(split.end.saturating_sub(split.start)).unwrap_or(0);
    // About 64 bytes a line until the buffers grow to fit.
    let mut lines = LinesBuilder::with_capacity(bytes / 64 + 1, bytes.min(1 << 30));
    for_each_line(split, |line| lines.push(&line_text(line)))?;
    Ok(lines.finish())
}

/// Call `f` with the bytes of each line of `split` (without the `\n`), in order.
fn for_each_line(split: &Split, mut f: impl FnMut(&[u8])) -> Result<()> {
    let ctx = || format!("cannot read {}", split.path.display());
    let mut file = fs::File::open(&split.path).map_err(|e| EngineError::io(ctx(), e))?;
    let mut pos = split.start;
    if split.start > 0 {
        // Start after the first newline at or after start - 1: the line that began before
        // this split belongs to the previous split.
        file.seek(SeekFrom::Start(split.start - 1))
            .map_err(|e| EngineError::io(ctx(), e))?;
        pos = split.start - 1;
    }
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    if split.start > 0 {
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| EngineError::io(ctx(), e))?;
        pos += n as u64;
        buf.clear();
    }
    while pos < split.end {
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| EngineError::io(ctx(), e))?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        f(buf.strip_suffix(b"\n").unwrap_or(&buf));
        buf.clear();
    }
    Ok(())
}

/// Write `num_partitions` partitions (computed by `compute`) under `path` in Hadoop's layout.
pub fn save(
    path: &str,
    num_partitions: usize,
    compute: impl Fn(usize) -> Result<Partition> + Sync,
    ctx: &EngineContext,
) -> Result<()> {
    let target = paths::local_path(path)?;
    if target.exists() {
        return Err(EngineError::io(
            format!(
                "Output directory {} already exists",
                paths::file_url(&target)
            ),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .map_err(|e| EngineError::io(format!("cannot create {}", parent.display()), e))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let tmp = parent.join(format!(".{name}._temporary-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)
        .map_err(|e| EngineError::io(format!("cannot create {}", tmp.display()), e))?;
    let result = ctx
        .map_tasks(num_partitions, |i| {
            write_part(&tmp.join(format!("part-{i:05}")), compute(i)?)
        })
        .map(drop);
    let finish = result.and_then(|()| {
        fs::File::create(tmp.join("_SUCCESS"))
            .map_err(|e| EngineError::io(format!("cannot write {}", tmp.display()), e))?;
        fs::rename(&tmp, &target).map_err(|e| {
            EngineError::io(
                format!("cannot move output into place at {}", target.display()),
                e,
            )
        })
    });
    if finish.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    finish
}

fn write_part(path: &Path, records: Partition) -> Result<()> {
    let err = |e| EngineError::io(format!("cannot write {}", path.display()), e);
    let mut w = BufWriter::new(fs::File::create(path).map_err(err)?);
    for record in &records {
        match record {
            Value::Bytes(b) => w.write_all(b).map_err(err)?,
            other => w.write_all(other.to_py_str()?.as_bytes()).map_err(err)?,
        }
        w.write_all(b"\n").map_err(err)?;
    }
    w.flush().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_read_once_whatever_the_splits() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        let text: String = (0..200).map(|i| format!("line {i}\r\n")).collect();
        fs::write(&f, &text).unwrap();
        let p = vec![f.to_string_lossy().into_owned()];
        for parts in [1, 2, 3, 7, 50] {
            let splits = plan_splits(&p, parts).unwrap();
            assert!(splits.len() >= parts.min(200));
            let lines: Vec<String> = splits
                .iter()
                .flat_map(|s| read_split(s).unwrap())
                .map(|v| v.to_py_str().unwrap())
                .collect();
            let expected: Vec<String> = (0..200).map(|i| format!("line {i}")).collect();
            assert_eq!(lines, expected, "with {parts} partitions");
        }
    }

    #[test]
    fn a_block_holds_the_lines_the_rows_hold() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        fs::write(&f, b"one\r\n\ntw\xffo\n\xc3\xa9\r\nlast").unwrap();
        let p = vec![f.to_string_lossy().into_owned()];
        for parts in [1, 2, 5] {
            for split in plan_splits(&p, parts).unwrap() {
                let rows = read_split(&split).unwrap();
                let block = read_split_block(&split).unwrap();
                assert_eq!(block.len(), rows.len());
                let from_block = block.into_values();
                assert_eq!(format!("{from_block:?}"), format!("{rows:?}"));
            }
        }
        let all = read_split_block(&plan_splits(&p, 1).unwrap()[0]).unwrap();
        let texts: Vec<String> = all
            .into_values()
            .iter()
            .map(|v| v.to_py_str().unwrap())
            .collect();
        assert_eq!(texts, ["one", "", "tw\u{fffd}o", "é", "last"]);
    }

    #[test]
    fn directories_skip_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b"), "2\n").unwrap();
        fs::write(dir.path().join("a"), "1\n").unwrap();
        fs::write(dir.path().join("_SUCCESS"), "").unwrap();
        fs::write(dir.path().join(".a.crc"), "x\n").unwrap();
        let files = list_files(&[dir.path().to_string_lossy().into_owned()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }
}
