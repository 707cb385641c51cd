//! Native partition buffers: a partition's records as Arrow arrays, straight from a source.
//!
//! A source that reads text lines or Kafka records can hand the engine a [`Block`] instead of a
//! `Vec<Value>`: the lines (or keys and values) sit in one contiguous buffer with an offsets
//! array, with no allocation per record. Consumers that can read the buffer directly do so:
//! fused native steps borrow each line as a `&str` (see `engine::step::run_fused_block`), and
//! the bindings build a Python step's input list straight from the slices
//! ([`PartitionFn::call_block`](crate::engine::host::PartitionFn::call_block)). Every other
//! consumer takes the rows form, [`Block::into_values`], which gives exactly the values the
//! source would have produced as rows. See `docs/engine.md` ("Native partition buffers").
//!
//! Offsets are 64-bit (`LargeStringArray`, `LargeBinaryArray`): a partition may hold more than
//! 2 GiB of text.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::builder::{LargeBinaryBuilder, LargeStringBuilder};
use arrow_array::{Array, LargeBinaryArray, LargeStringArray};

use crate::engine::rdd::Partition;
use crate::engine::value::Value;

/// A partition's records in columnar form.
#[derive(Clone, Debug)]
pub enum Block {
    /// Lines of text (`textFile`, `textFileStream`): each record a `str`. No nulls.
    Lines(LargeStringArray),
    /// `(key, value)` records decoded as UTF-8 (Kafka's `utf8` format): each record a 2-tuple
    /// of `str`, or None where the key (value) is absent (null).
    StrPairs {
        keys: LargeStringArray,
        values: LargeStringArray,
    },
    /// `(key, value)` records as bytes (Kafka's `bytes` format): each a 2-tuple of `bytes`,
    /// or None where absent (null).
    BytePairs {
        keys: LargeBinaryArray,
        values: LargeBinaryArray,
    },
}

/// A partition as a dataset computes it: rows, or a native block.
#[derive(Clone, Debug)]
pub enum Data {
    Rows(Partition),
    Block(Box<Block>),
}

impl Data {
    pub fn block(block: Block) -> Data {
        Data::Block(Box::new(block))
    }

    /// The rows form (a block converted, and counted as such).
    pub fn into_rows(self) -> Partition {
        match self {
            Data::Rows(rows) => rows,
            Data::Block(block) => (*block).into_values(),
        }
    }

    /// How many records.
    pub fn len(&self) -> usize {
        match self {
            Data::Rows(rows) => rows.len(),
            Data::Block(block) => block.len(),
        }
    }

    /// The first `n` records as rows (a block converts only those).
    pub fn head(&self, n: usize) -> Partition {
        match self {
            Data::Rows(rows) => rows.iter().take(n).cloned().collect(),
            Data::Block(block) => (0..n.min(block.len())).map(|i| block.value(i)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn opt_str(a: &LargeStringArray, i: usize) -> Value {
    if a.is_null(i) {
        Value::None
    } else {
        Value::str(a.value(i))
    }
}

fn opt_bytes(a: &LargeBinaryArray, i: usize) -> Value {
    if a.is_null(i) {
        Value::None
    } else {
        Value::Bytes(Arc::from(a.value(i)))
    }
}

impl Block {
    /// How many records.
    pub fn len(&self) -> usize {
        match self {
            Block::Lines(a) => a.len(),
            Block::StrPairs { values, .. } => values.len(),
            Block::BytePairs { values, .. } => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Record `i` as a value (`i < len()`).
    pub fn value(&self, i: usize) -> Value {
        match self {
            Block::Lines(a) => Value::str(a.value(i)),
            Block::StrPairs { keys, values } => Value::pair(opt_str(keys, i), opt_str(values, i)),
            Block::BytePairs { keys, values } => {
                Value::pair(opt_bytes(keys, i), opt_bytes(values, i))
            }
        }
    }

    /// The rows form: exactly the values a row-producing source gives for the same records.
    /// Counted in [`block_stats`] (`to_rows`).
    pub fn into_values(self) -> Partition {
        BLOCKS_TO_ROWS.fetch_add(1, Ordering::Relaxed);
        (0..self.len()).map(|i| self.value(i)).collect()
    }
}

/// Builds a [`Block::Lines`].
pub struct LinesBuilder(LargeStringBuilder);

impl LinesBuilder {
    /// Room for about `lines` lines of `bytes` bytes in all (both grow as needed).
    pub fn with_capacity(lines: usize, bytes: usize) -> LinesBuilder {
        LinesBuilder(LargeStringBuilder::with_capacity(lines, bytes))
    }

    pub fn push(&mut self, line: &str) {
        self.0.append_value(line);
    }

    pub fn finish(mut self) -> Block {
        Block::Lines(self.0.finish())
    }
}

/// Builds a [`Block::StrPairs`] or [`Block::BytePairs`].
pub enum PairsBuilder {
    Str(LargeStringBuilder, LargeStringBuilder),
    Bytes(LargeBinaryBuilder, LargeBinaryBuilder),
}

impl PairsBuilder {
    /// A builder of UTF-8 pairs with room for `records` records of `bytes` value bytes.
    pub fn strings(records: usize, bytes: usize) -> PairsBuilder {
        PairsBuilder::Str(
            LargeStringBuilder::with_capacity(records, 0),
            LargeStringBuilder::with_capacity(records, bytes),
        )
    }

    /// A builder of byte pairs with room for `records` records of `bytes` value bytes.
    pub fn bytes(records: usize, bytes: usize) -> PairsBuilder {
        PairsBuilder::Bytes(
            LargeBinaryBuilder::with_capacity(records, 0),
            LargeBinaryBuilder::with_capacity(records, bytes),
        )
    }

    /// Append a UTF-8 pair (a string builder; checked by the caller).
    pub fn push_str(&mut self, key: Option<&str>, value: Option<&str>) {
        if let PairsBuilder::Str(k, v) = self {
            k.append_option(key);
            v.append_option(value);
        }
    }

    /// Append a byte pair (a bytes builder; checked by the caller).
    pub fn push_bytes(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) {
        if let PairsBuilder::Bytes(k, v) = self {
            k.append_option(key);
            v.append_option(value);
        }
    }

    pub fn finish(self) -> Block {
        match self {
            PairsBuilder::Str(mut k, mut v) => Block::StrPairs {
                keys: k.finish(),
                values: v.finish(),
            },
            PairsBuilder::Bytes(mut k, mut v) => Block::BytePairs {
                keys: k.finish(),
                values: v.finish(),
            },
        }
    }
}

/// Blocks consumed without rows by fused native steps, blocks turned into Python lists
/// directly, blocks converted to rows (process-wide; tests read them to prove which path ran).
static BLOCKS_FUSED: AtomicU64 = AtomicU64::new(0);
static BLOCKS_TO_HOST: AtomicU64 = AtomicU64::new(0);
static BLOCKS_TO_ROWS: AtomicU64 = AtomicU64::new(0);

/// What became of the blocks computed since the last [`reset_block_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Read record by record by fused native steps (no value per record).
    pub fused: u64,
    /// Converted into a host (Python) step's input in bulk, without values.
    pub to_host: u64,
    /// Converted to rows ([`Block::into_values`]).
    pub to_rows: u64,
}

pub fn block_stats() -> BlockStats {
    BlockStats {
        fused: BLOCKS_FUSED.load(Ordering::Relaxed),
        to_host: BLOCKS_TO_HOST.load(Ordering::Relaxed),
        to_rows: BLOCKS_TO_ROWS.load(Ordering::Relaxed),
    }
}

pub fn reset_block_stats() {
    BLOCKS_FUSED.store(0, Ordering::Relaxed);
    BLOCKS_TO_HOST.store(0, Ordering::Relaxed);
    BLOCKS_TO_ROWS.store(0, Ordering::Relaxed);
}

/// Count a block read by fused native steps.
pub fn count_fused() {
    BLOCKS_FUSED.fetch_add(1, Ordering::Relaxed);
}

/// Count a block converted into a host step's input directly (the bindings call this).
pub fn count_to_host() {
    BLOCKS_TO_HOST.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_the_values_a_row_source_gives() {
        let mut lines = LinesBuilder::with_capacity(2, 8);
        lines.push("a b");
        lines.push("");
        lines.push("é");
        let rows = lines.finish().into_values();
        assert_eq!(rows.len(), 3);
        assert!(matches!(&rows[2], Value::Str(s) if &**s == "é"));
        assert!(matches!(&rows[1], Value::Str(s) if s.is_empty()));

        let mut pairs = PairsBuilder::strings(2, 4);
        pairs.push_str(None, Some("v"));
        pairs.push_str(Some("k"), None);
        let rows = pairs.finish().into_values();
        let Value::Tuple(first) = &rows[0] else {
            panic!("a pair")
        };
        assert!(matches!(first[0], Value::None));
        assert!(matches!(&first[1], Value::Str(s) if &**s == "v"));
        let Value::Tuple(second) = &rows[1] else {
            panic!("a pair")
        };
        assert!(matches!(&second[0], Value::Str(s) if &**s == "k"));
        assert!(matches!(second[1], Value::None));

        let mut pairs = PairsBuilder::bytes(1, 1);
        pairs.push_bytes(Some(b"\xff"), None);
        let rows = pairs.finish().into_values();
        let Value::Tuple(t) = &rows[0] else {
            panic!("a pair")
        };
        assert!(matches!(&t[0], Value::Bytes(b) if &**b == b"\xff"));
        assert!(matches!(t[1], Value::None));
    }
}
