//! Checkpoint files: versioned, checksummed, written atomically, the last few kept.
//!
//! Layout of `checkpoint-<batch ms>`: the magic `FRSTCKPT`, the format version (u32 LE), the
//! writer's ferrostream version (u16 LE length + UTF-8), the batch time (i64 LE), the payload
//! length (u64 LE), the CRC-32 of the payload (u32 LE), then the payload. A file is written to a
//! hidden temporary name, synced, then renamed, so a crash never leaves a partial checkpoint under
//! a real name; a damaged newest file falls back to the previous one with a warning.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::engine::error::{EngineError, Result};

const MAGIC: &[u8; 8] = b"FRSTCKPT";
pub const FORMAT_VERSION: u32 = 1;
/// How many checkpoint files are kept.
pub const KEEP: usize = 5;
const PREFIX: &str = "checkpoint-";

pub fn engine_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn file_name(time: i64) -> String {
    format!("{PREFIX}{time}")
}

/// Check that `dir` can hold checkpoints (created if missing).
pub fn prepare_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| {
        EngineError::io(
            format!("cannot create checkpoint directory {}", dir.display()),
            e,
        )
    })?;
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    fs::write(&probe, b"ok").map_err(|e| {
        EngineError::io(
            format!("checkpoint directory {} is not writable", dir.display()),
            e,
        )
    })?;
    let _ = fs::remove_file(probe);
    // Temporary files of writes that a crash interrupted.
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!(".{PREFIX}")) && name.contains(".tmp-") {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Write the checkpoint of batch `time`, then delete all but the newest [`KEEP`].
pub fn write(dir: &Path, time: i64, payload: &[u8]) -> Result<PathBuf> {
    let version = engine_version().as_bytes();
    let mut bytes = Vec::with_capacity(payload.len() + 64);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(version.len() as u16).to_le_bytes());
    bytes.extend_from_slice(version);
    bytes.extend_from_slice(&time.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);

    let target = dir.join(file_name(time));
    let tmp = dir.join(format!(".{}.tmp-{}", file_name(time), std::process::id()));
    let io = |e| EngineError::io(format!("cannot write checkpoint {}", target.display()), e);
    {
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, &target).map_err(io)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    prune(dir);
    Ok(target)
}

fn list(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut found: Vec<(i64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let time = name.strip_prefix(PREFIX)?.parse::<i64>().ok()?;
            Some((time, e.path()))
        })
        .collect();
    found.sort();
    found
}

fn prune(dir: &Path) {
    let files = list(dir);
    if files.len() > KEEP {
        for (_, path) in &files[..files.len() - KEEP] {
            let _ = fs::remove_file(path);
        }
    }
}

/// A checkpoint read back.
pub struct Loaded {
    pub time: i64,
    pub payload: Vec<u8>,
    pub path: PathBuf,
    /// Newer files that were damaged and skipped, with why.
    pub skipped: Vec<String>,
}

fn parse(dir: &Path, path: &Path, bytes: &[u8]) -> std::result::Result<(i64, Vec<u8>), Damage> {
    let take = |at: usize, n: usize| bytes.get(at..at + n).ok_or(Damage::Truncated);
    if take(0, 8)? != MAGIC {
        return Err(Damage::Corrupt("not a ferrostream checkpoint".into()));
    }
    let format = u32::from_le_bytes(take(8, 4)?.try_into().expect("4 bytes"));
    let vlen = u16::from_le_bytes(take(12, 2)?.try_into().expect("2 bytes")) as usize;
    let writer = String::from_utf8_lossy(take(14, vlen)?).into_owned();
    if format != FORMAT_VERSION {
        return Err(Damage::Incompatible(format!(
            "checkpoint {} in {} was written by ferrostream {writer} (checkpoint format {format}); \
             this is ferrostream {} (format {FORMAT_VERSION}). Delete the directory or point the \
             program at another checkpoint directory.",
            path.display(),
            dir.display(),
            engine_version()
        )));
    }
    let at = 14 + vlen;
    let time = i64::from_le_bytes(take(at, 8)?.try_into().expect("8 bytes"));
    let len = u64::from_le_bytes(take(at + 8, 8)?.try_into().expect("8 bytes")) as usize;
    let crc = u32::from_le_bytes(take(at + 16, 4)?.try_into().expect("4 bytes"));
    let payload = take(at + 20, len)?;
    if bytes.len() != at + 20 + len {
        return Err(Damage::Corrupt("trailing bytes".into()));
    }
    if crc32fast::hash(payload) != crc {
        return Err(Damage::Corrupt("checksum mismatch".into()));
    }
    Ok((time, payload.to_vec()))
}

enum Damage {
    Truncated,
    Corrupt(String),
    Incompatible(String),
}

/// The newest intact checkpoint in `dir`, or None if there is none. Damaged files are skipped
/// (reported in [`Loaded::skipped`]); a file from an incompatible version is an error.
pub fn read_latest(dir: &Path) -> Result<Option<Loaded>> {
    let mut skipped = Vec::new();
    for (_, path) in list(dir).into_iter().rev() {
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                skipped.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        match parse(dir, &path, &bytes) {
            Ok((time, payload)) => {
                return Ok(Some(Loaded {
                    time,
                    payload,
                    path,
                    skipped,
                }))
            }
            Err(Damage::Truncated) => skipped.push(format!("{}: truncated", path.display())),
            Err(Damage::Corrupt(why)) => skipped.push(format!("{}: {why}", path.display())),
            Err(Damage::Incompatible(msg)) => return Err(EngineError::IllegalState(msg)),
        }
    }
    if skipped.is_empty() {
        Ok(None)
    } else {
        Err(EngineError::IllegalState(format!(
            "no intact checkpoint in {}: {}. Delete the directory or point the program at \
             another checkpoint directory.",
            dir.display(),
            skipped.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_prune_and_fall_back_past_damage() {
        let dir = tempfile::tempdir().unwrap();
        for t in 1..=7 {
            write(dir.path(), t * 1000, format!("state {t}").as_bytes()).unwrap();
        }
        assert_eq!(list(dir.path()).len(), KEEP);
        let latest = read_latest(dir.path()).unwrap().unwrap();
        assert_eq!(
            (latest.time, latest.payload.as_slice()),
            (7000, &b"state 7"[..])
        );

        // Truncate the newest: the previous one is used, with the damage reported.
        let newest = dir.path().join("checkpoint-7000");
        let bytes = fs::read(&newest).unwrap();
        fs::write(&newest, &bytes[..bytes.len() - 3]).unwrap();
        let latest = read_latest(dir.path()).unwrap().unwrap();
        assert_eq!(latest.time, 6000);
        assert_eq!(latest.skipped.len(), 1);

        // Flip a payload byte of that one too: checksum catches it.
        let six = dir.path().join("checkpoint-6000");
        let mut bytes = fs::read(&six).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&six, bytes).unwrap();
        assert_eq!(read_latest(dir.path()).unwrap().unwrap().time, 5000);
    }

    #[test]
    fn other_format_versions_are_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), 1000, b"x").unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes[8] = 99;
        fs::write(&path, bytes).unwrap();
        let err = read_latest(dir.path()).err().unwrap().to_string();
        assert!(err.contains("Delete the directory"), "{err}");
    }

    #[test]
    fn empty_directory_has_no_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_latest(dir.path()).unwrap().is_none());
    }
}
