//! Native blocks ([`Block`]) encoded straight from their buffers: the bytes are exactly those
//! [`encode_partition`](super::encode_partition) writes for the block's rows, so a worker
//! process decodes them as any partition, but no value is made per record on the way.

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use arrow_array::{Array, LargeBinaryArray, LargeStringArray};

use super::{join_partition, tag, wire_err, RawBytes};
use crate::engine::block::Block;
use crate::engine::error::Result;

/// One partition's bytes for a native block (no host values).
pub fn encode_block(block: &Block) -> Result<Vec<u8>> {
    let records = postcard::to_allocvec(&Records(block)).map_err(|e| wire_err("encode", e))?;
    join_partition(&[], &records)
}

struct Records<'a>(&'a Block);

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let n = self.0.len();
        let mut seq = s.serialize_seq(Some(n))?;
        match self.0 {
            Block::Lines(lines) => {
                for i in 0..n {
                    seq.serialize_element(&Text(Some(lines.value(i))))?;
                }
            }
            Block::StrPairs { keys, values } => {
                for i in 0..n {
                    seq.serialize_element(&Pair(text(keys, i), text(values, i)))?;
                }
            }
            Block::BytePairs { keys, values } => {
                for i in 0..n {
                    seq.serialize_element(&Pair(bytes(keys, i), bytes(values, i)))?;
                }
            }
        }
        seq.end()
    }
}

fn text(a: &LargeStringArray, i: usize) -> Text<'_> {
    Text((!a.is_null(i)).then(|| a.value(i)))
}

fn bytes(a: &LargeBinaryArray, i: usize) -> Bin<'_> {
    Bin((!a.is_null(i)).then(|| a.value(i)))
}

/// A `str` value, or None.
struct Text<'a>(Option<&'a str>);

/// A `bytes` value, or None.
struct Bin<'a>(Option<&'a [u8]>);

/// A 2-tuple value.
struct Pair<T>(T, T);

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            None => s.serialize_unit_variant("V", tag::NONE, "None"),
            Some(x) => s.serialize_newtype_variant("V", tag::STR, "Str", x),
        }
    }
}

impl Serialize for Bin<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            None => s.serialize_unit_variant("V", tag::NONE, "None"),
            Some(b) => s.serialize_newtype_variant("V", tag::BYTES, "Bytes", &RawBytes(b)),
        }
    }
}

impl<T: Serialize> Serialize for Pair<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_newtype_variant("V", tag::TUPLE, "Tuple", &Items(&self.0, &self.1))
    }
}

/// The two items of a pair, as the sequence a tuple's items are encoded as.
struct Items<'a, T>(&'a T, &'a T);

impl<T: Serialize> Serialize for Items<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(self.0)?;
        seq.serialize_element(self.1)?;
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::block::{LinesBuilder, PairsBuilder};
    use crate::engine::wire::{decode_partition, encode_partition};

    #[test]
    fn a_block_encodes_as_its_rows() {
        let mut lines = LinesBuilder::with_capacity(2, 8);
        lines.push("héllo");
        lines.push("");
        let mut strs = PairsBuilder::strings(2, 8);
        strs.push_str(None, Some("v"));
        strs.push_str(Some("k"), None);
        let mut bins = PairsBuilder::bytes(2, 8);
        bins.push_bytes(Some(b"\x00\xff"), None);
        bins.push_bytes(None, Some(b""));
        for block in [lines.finish(), strs.finish(), bins.finish()] {
            let encoded = encode_block(&block).unwrap();
            let rows = block.into_values();
            assert_eq!(encoded, encode_partition(&rows, None).unwrap());
            let back = decode_partition(&encoded, None).unwrap();
            assert_eq!(format!("{back:?}"), format!("{rows:?}"));
        }
    }
}
