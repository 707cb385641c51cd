//! Checkpoint files: versioned, checksummed, written atomically.
//!
//! A checkpoint directory holds three kinds of file, all in this container:
//! `graph-<n>` (the stream graph with its functions, written once per start by the host),
//! `checkpoint-<batch ms>` (metadata and source positions, every batch) and
//! `state-<stream>-<batch ms>` (a keyed stream's state, at its checkpoint interval). See
//! `stream::recovery` for their payloads.
//!
//! Container layout: the magic `FRSTCKPT`, the format version (u32 LE), the writer's ferrostream
//! version (u16 LE length + UTF-8), the batch time (i64 LE), the payload length (u64 LE), the
//! CRC-32 of the payload (u32 LE), then the payload. A file is written to a hidden temporary
//! name, synced, then renamed, so a crash never leaves a partial file under a real name; a
//! damaged newest metadata file falls back to the previous one with a warning.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::engine::error::{EngineError, Result};

const MAGIC: &[u8; 8] = b"FRSTCKPT";
/// Format 3: typed metadata every batch, state files at the checkpoint interval (partitions in
/// the codec of `engine::wire`), the graph once per start. Earlier formats are refused with
/// advice: 1 (one pickled payload per batch) and 2 (state values in a second serde encoding).
pub const FORMAT_VERSION: u32 = 3;
/// How many metadata files are kept (with the state and graph files they refer to).
pub const KEEP: usize = 5;
pub const METADATA_PREFIX: &str = "checkpoint-";
pub const STATE_PREFIX: &str = "state-";
pub const GRAPH_PREFIX: &str = "graph-";
/// The inputs of the batch being run (`stream/pending.rs`).
pub const PENDING_PREFIX: &str = "pending-";

pub fn engine_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// What to do with a checkpoint directory this program cannot use.
pub const ADVICE: &str =
    "Delete the directory or point the program at another checkpoint directory.";

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
        if name.starts_with('.') && name.contains(".tmp-") {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Write `payload` as the file `name` of `dir` (atomically: temporary file, sync, rename).
pub fn write(dir: &Path, name: &str, time: i64, payload: &[u8]) -> Result<PathBuf> {
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

    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
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
    Ok(target)
}

/// The files of `dir` whose name is `prefix` followed by a number, by that number.
pub fn list(dir: &Path, prefix: &str) -> Vec<(i64, PathBuf)> {
    let mut found: Vec<(i64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let time = name.strip_prefix(prefix)?.parse::<i64>().ok()?;
            Some((time, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Delete the metadata, state and graph files of `dir` that are not in `keep`.
pub fn prune(dir: &Path, keep: &HashSet<String>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = [METADATA_PREFIX, STATE_PREFIX, GRAPH_PREFIX]
            .iter()
            .any(|p| name.starts_with(p));
        if ours && !keep.contains(&name) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Why a file could not be used.
pub enum Damage {
    Truncated,
    Corrupt(String),
    Incompatible(String),
}

impl Damage {
    fn describe(&self, path: &Path) -> String {
        match self {
            Damage::Truncated => format!("{}: truncated", path.display()),
            Damage::Corrupt(why) => format!("{}: {why}", path.display()),
            Damage::Incompatible(msg) => msg.clone(),
        }
    }
}

fn parse(dir: &Path, path: &Path, bytes: &[u8]) -> std::result::Result<(i64, Vec<u8>), Damage> {
    let take = |at: usize, n: usize| {
        let end = at.checked_add(n).ok_or(Damage::Truncated)?;
        bytes.get(at..end).ok_or(Damage::Truncated)
    };
    if take(0, 8)? != MAGIC {
        return Err(Damage::Corrupt("not a ferrostream checkpoint".into()));
    }
    let format = u32::from_le_bytes(take(8, 4)?.try_into().expect("4 bytes"));
    let vlen = u16::from_le_bytes(take(12, 2)?.try_into().expect("2 bytes")) as usize;
    let writer = String::from_utf8_lossy(take(14, vlen)?).into_owned();
    if format != FORMAT_VERSION {
        return Err(Damage::Incompatible(format!(
            "checkpoint {} in {} was written by ferrostream {writer} (checkpoint format {format}); \
             this is ferrostream {} (format {FORMAT_VERSION}), which cannot restore it. {ADVICE}",
            path.display(),
            dir.display(),
            engine_version()
        )));
    }
    let at = 14 + vlen;
    let time = i64::from_le_bytes(take(at, 8)?.try_into().expect("8 bytes"));
    let len = u64::from_le_bytes(take(at + 8, 8)?.try_into().expect("8 bytes"));
    let len = usize::try_from(len).map_err(|_| Damage::Corrupt("impossible length".into()))?;
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

/// Read one file of `dir`; any damage is an error naming it.
pub fn read(dir: &Path, name: &str) -> Result<(i64, Vec<u8>)> {
    let path = dir.join(name);
    let bytes = fs::read(&path).map_err(|e| {
        EngineError::io(format!("cannot read checkpoint file {}", path.display()), e)
    })?;
    parse(dir, &path, &bytes).map_err(|d| {
        EngineError::IllegalState(format!(
            "checkpoint file {} cannot be used: {}. {ADVICE}",
            path.display(),
            d.describe(&path)
        ))
    })
}

/// A metadata file read back.
pub struct Loaded {
    pub time: i64,
    pub payload: Vec<u8>,
    pub path: PathBuf,
    /// Newer files that were damaged and skipped, with why.
    pub skipped: Vec<String>,
}

/// The newest intact metadata file in `dir`, or None if there is none. Damaged files are
/// skipped (reported in [`Loaded::skipped`]); a file of another format is an error.
pub fn read_latest(dir: &Path) -> Result<Option<Loaded>> {
    let mut skipped = Vec::new();
    for (_, path) in list(dir, METADATA_PREFIX).into_iter().rev() {
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
            Err(Damage::Incompatible(msg)) => return Err(EngineError::IllegalState(msg)),
            Err(d) => skipped.push(d.describe(&path)),
        }
    }
    if skipped.is_empty() {
        Ok(None)
    } else {
        Err(EngineError::IllegalState(format!(
            "no intact checkpoint in {}: {}. {ADVICE}",
            dir.display(),
            skipped.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(t: i64) -> String {
        format!("{METADATA_PREFIX}{t}")
    }

    #[test]
    fn round_trip_and_fall_back_past_damage() {
        let dir = tempfile::tempdir().unwrap();
        for t in 5..=7 {
            write(
                dir.path(),
                &meta(t * 1000),
                t * 1000,
                format!("state {t}").as_bytes(),
            )
            .unwrap();
        }
        let latest = read_latest(dir.path()).unwrap().unwrap();
        assert_eq!(
            (latest.time, latest.payload.as_slice()),
            (7000, &b"state 7"[..])
        );

        // Truncate the newest: the previous one is used, with the damage reported.
        let newest = dir.path().join(meta(7000));
        let bytes = fs::read(&newest).unwrap();
        fs::write(&newest, &bytes[..bytes.len() - 3]).unwrap();
        let latest = read_latest(dir.path()).unwrap().unwrap();
        assert_eq!(latest.time, 6000);
        assert_eq!(latest.skipped.len(), 1);

        // Flip a payload byte of that one too: checksum catches it.
        let six = dir.path().join(meta(6000));
        let mut bytes = fs::read(&six).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&six, bytes).unwrap();
        assert_eq!(read_latest(dir.path()).unwrap().unwrap().time, 5000);
    }

    #[test]
    fn a_huge_length_field_is_damage_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &meta(1000), 1000, b"x").unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let vlen = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
        let at = 14 + vlen + 8;
        bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        fs::write(&path, bytes).unwrap();
        let err = read_latest(dir.path()).err().unwrap().to_string();
        assert!(err.contains("no intact checkpoint"), "{err}");
    }

    #[test]
    fn other_format_versions_are_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &meta(1000), 1000, b"x").unwrap();
        let intact = fs::read(&path).unwrap();
        for old in 1..FORMAT_VERSION {
            let mut bytes = intact.clone();
            bytes[8..12].copy_from_slice(&old.to_le_bytes());
            fs::write(&path, bytes).unwrap();
            let err = read_latest(dir.path()).err().unwrap().to_string();
            assert!(err.contains("Delete the directory"), "{err}");
            assert!(err.contains(&format!("format {old})")), "{err}");
            assert!(err.contains(&dir.path().display().to_string()), "{err}");
        }
    }

    #[test]
    fn prune_keeps_what_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["checkpoint-1", "state-0-1", "graph-1", "other"] {
            write(dir.path(), name, 1, b"x").unwrap();
        }
        prune(
            dir.path(),
            &["checkpoint-1".to_string()].into_iter().collect(),
        );
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["checkpoint-1", "other"]);
    }

    #[test]
    fn empty_directory_has_no_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_latest(dir.path()).unwrap().is_none());
    }
}
