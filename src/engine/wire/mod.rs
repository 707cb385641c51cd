//! Engine values as bytes: partitions handed to worker processes and the partitions of keyed
//! state in checkpoint files share this one encoding (postcard, written and read in a single
//! pass, without an intermediate tree).
//!
//! Values the engine models are encoded natively, without the host. Host objects (and groups
//! whose values are host objects) are collected in the order met and encoded together by a
//! [`HostCodec`] (cloudpickle for Python), once per partition; the records refer to them by
//! index.

use std::cell::RefCell;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};
use crate::engine::host::HostCodec;
use crate::engine::value::{Text, Value};

mod block;
mod pairs;
pub use block::encode_block;
pub use pairs::{decode_pairs, decode_pairs_into, encode_pairs, PairSink};

/// Encode the host values collected while encoding records (none: no codec needed).
pub(crate) fn encode_hosts(hosts: &[&Value], codec: Option<&dyn HostCodec>) -> Result<Vec<u8>> {
    if hosts.is_empty() {
        return Ok(Vec::new());
    }
    let codec = codec.ok_or_else(|| {
        EngineError::Unsupported("host objects cannot be encoded without a host codec".into())
    })?;
    codec.pickle(hosts)
}

/// Decode host values encoded by [`encode_hosts`].
pub(crate) fn decode_hosts(bytes: &[u8], codec: Option<&dyn HostCodec>) -> Result<Vec<Value>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let codec = codec.ok_or_else(|| {
        EngineError::Unsupported("host objects cannot be decoded without a host codec".into())
    })?;
    codec.unpickle(bytes)
}

// ------------------------------------------------------------------------------------------
// partitions: `host values (bytes) | records (a sequence of values)`. A value is a postcard
// enum: its variant index ([`tag`]) then its content; tuples, lists and groups are sequences
// of values. A state entry `(key, value)` is the 2-tuple `(key, value)`.

/// Variant indexes of an encoded value.
pub mod tag {
    pub const NONE: u32 = 0;
    pub const BOOL: u32 = 1;
    pub const INT: u32 = 2;
    pub const FLOAT: u32 = 3;
    pub const STR: u32 = 4;
    pub const BYTES: u32 = 5;
    pub const TUPLE: u32 = 6;
    pub const LIST: u32 = 7;
    pub const HOST: u32 = 8;
    pub const GROUP: u32 = 9;
}

/// Names of the variants, as serde asks for them.
pub const VARIANTS: &[&str] = &[
    "None", "Bool", "Int", "Float", "Str", "Bytes", "Tuple", "List", "Host", "Group",
];

/// Bytes serialised as one length-prefixed run (the layout of a `Vec<u8>` in postcard).
pub struct RawBytes<'a>(pub &'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// An engine value being encoded; its host objects are collected in `hosts`.
struct Enc<'a, 'h> {
    v: &'a Value,
    hosts: &'h RefCell<Vec<&'a Value>>,
}

/// A sequence of engine values being encoded.
struct EncSeq<'a, 'h> {
    items: &'a [Value],
    hosts: &'h RefCell<Vec<&'a Value>>,
}

impl Serialize for Enc<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let seq = |items| EncSeq {
            items,
            hosts: self.hosts,
        };
        match self.v {
            Value::None => s.serialize_unit_variant("V", tag::NONE, "None"),
            Value::Bool(b) => s.serialize_newtype_variant("V", tag::BOOL, "Bool", b),
            Value::Int(i) => s.serialize_newtype_variant("V", tag::INT, "Int", i),
            Value::Float(f) => s.serialize_newtype_variant("V", tag::FLOAT, "Float", f),
            Value::Str(x) => s.serialize_newtype_variant("V", tag::STR, "Str", &**x),
            Value::Bytes(b) => s.serialize_newtype_variant("V", tag::BYTES, "Bytes", &RawBytes(b)),
            Value::Tuple(items) => {
                s.serialize_newtype_variant("V", tag::TUPLE, "Tuple", &seq(items))
            }
            Value::List(items) => s.serialize_newtype_variant("V", tag::LIST, "List", &seq(items)),
            Value::Group(items) => {
                s.serialize_newtype_variant("V", tag::GROUP, "Group", &seq(items))
            }
            Value::Host(_) => {
                let mut hosts = self.hosts.borrow_mut();
                hosts.push(self.v);
                let i = (hosts.len() - 1) as u32;
                s.serialize_newtype_variant("V", tag::HOST, "Host", &i)
            }
        }
    }
}

impl Serialize for EncSeq<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.items.len()))?;
        for v in self.items {
            seq.serialize_element(&Enc {
                v,
                hosts: self.hosts,
            })?;
        }
        seq.end()
    }
}

/// What decoded values are built into: engine values in the engine, the host's own objects
/// where the host decodes (a worker process). Errors are the builder's messages.
pub trait Builder {
    type Out;
    fn none(&self) -> std::result::Result<Self::Out, String>;
    fn bool(&self, b: bool) -> std::result::Result<Self::Out, String>;
    fn int(&self, i: i64) -> std::result::Result<Self::Out, String>;
    fn float(&self, f: f64) -> std::result::Result<Self::Out, String>;
    fn str(&self, s: &str) -> std::result::Result<Self::Out, String>;
    fn bytes(&self, b: &[u8]) -> std::result::Result<Self::Out, String>;
    /// A tuple, list or group ([`tag::TUPLE`], [`tag::LIST`], [`tag::GROUP`]).
    fn seq(&self, kind: u32, items: Vec<Self::Out>) -> std::result::Result<Self::Out, String>;
    /// The partition's host value number `i`.
    fn host(&self, i: u32) -> std::result::Result<Self::Out, String>;
}

struct Dec<'b, B>(&'b B);
struct DecSeq<'b, B>(&'b B);
struct Borrowed;

impl<'de, B: Builder> serde::de::DeserializeSeed<'de> for Dec<'_, B> {
    type Value = B::Out;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<B::Out, D::Error> {
        d.deserialize_enum("V", VARIANTS, self)
    }
}

impl<'de, B: Builder> serde::de::Visitor<'de> for Dec<'_, B> {
    type Value = B::Out;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an encoded value")
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(
        self,
        data: A,
    ) -> std::result::Result<B::Out, A::Error> {
        use serde::de::{Error, VariantAccess};
        let (kind, v): (u32, _) = data.variant()?;
        let b = self.0;
        let built = match kind {
            tag::NONE => {
                v.unit_variant()?;
                b.none()
            }
            tag::BOOL => b.bool(v.newtype_variant()?),
            tag::INT => b.int(v.newtype_variant()?),
            tag::FLOAT => b.float(v.newtype_variant()?),
            tag::STR => b.str(v.newtype_variant::<&str>()?),
            tag::BYTES => b.bytes(v.newtype_variant_seed(Borrowed)?),
            tag::TUPLE | tag::LIST | tag::GROUP => b.seq(kind, v.newtype_variant_seed(DecSeq(b))?),
            tag::HOST => b.host(v.newtype_variant()?),
            other => return Err(A::Error::custom(format!("unknown value kind {other}"))),
        };
        built.map_err(A::Error::custom)
    }
}

impl<'de, B: Builder> serde::de::DeserializeSeed<'de> for DecSeq<'_, B> {
    type Value = Vec<B::Out>;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Vec<B::Out>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, B: Builder> serde::de::Visitor<'de> for DecSeq<'_, B> {
    type Value = Vec<B::Out>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a sequence of encoded values")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Vec<B::Out>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(v) = seq.next_element_seed(Dec(self.0))? {
            out.push(v);
        }
        Ok(out)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Borrowed {
    type Value = &'de [u8];
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<&'de [u8], D::Error> {
        <&[u8]>::deserialize(d)
    }
}

fn wire_err(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("cannot {what} a partition: {e}"))
}

/// `host values | records`: the records encoded first (`records`, which collected the host
/// values), the host values' bytes put in front.
pub fn join_partition(hosts: &[u8], records: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(hosts.len() + records.len() + 10);
    out = postcard::to_extend(&RawBytes(hosts), out).map_err(|e| wire_err("encode", e))?;
    out.extend_from_slice(records);
    Ok(out)
}

/// The host values' bytes and the records' bytes of an encoded partition.
pub fn split_partition(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    postcard::take_from_bytes::<&[u8]>(bytes).map_err(|e| wire_err("decode", e))
}

/// The records of an encoded partition (after [`split_partition`]), built by `builder`.
pub fn decode_records<B: Builder>(records: &[u8], builder: &B) -> Result<Vec<B::Out>> {
    use serde::de::DeserializeSeed;
    let mut de = postcard::Deserializer::from_bytes(records);
    DecSeq(builder)
        .deserialize(&mut de)
        .map_err(|e| wire_err("decode", e))
}

/// One partition as bytes; the host codec is asked only when it holds host objects.
pub fn encode_partition(values: &[Value], codec: Option<&dyn HostCodec>) -> Result<Vec<u8>> {
    let hosts = RefCell::new(Vec::new());
    let records = postcard::to_allocvec(&EncSeq {
        items: values,
        hosts: &hosts,
    })
    .map_err(|e| wire_err("encode", e))?;
    let hosts = encode_hosts(&hosts.into_inner(), codec)?;
    join_partition(&hosts, &records)
}

/// Engine values from encoded ones.
struct ValueBuilder(Vec<Value>);

impl Builder for ValueBuilder {
    type Out = Value;
    fn none(&self) -> std::result::Result<Value, String> {
        Ok(Value::None)
    }
    fn bool(&self, b: bool) -> std::result::Result<Value, String> {
        Ok(Value::Bool(b))
    }
    fn int(&self, i: i64) -> std::result::Result<Value, String> {
        Ok(Value::Int(i))
    }
    fn float(&self, f: f64) -> std::result::Result<Value, String> {
        Ok(Value::Float(f))
    }
    fn str(&self, s: &str) -> std::result::Result<Value, String> {
        Ok(Value::Str(Text::from(s)))
    }
    fn bytes(&self, b: &[u8]) -> std::result::Result<Value, String> {
        Ok(Value::Bytes(Arc::from(b)))
    }
    fn seq(&self, kind: u32, items: Vec<Value>) -> std::result::Result<Value, String> {
        Ok(match kind {
            tag::TUPLE => Value::Tuple(items.into()),
            tag::LIST => Value::List(items.into()),
            _ => Value::Group(items.into()),
        })
    }
    fn host(&self, i: u32) -> std::result::Result<Value, String> {
        self.0
            .get(i as usize)
            .cloned()
            .ok_or_else(|| format!("host value {i} is missing"))
    }
}

/// A partition encoded by [`encode_partition`] (or by a host's own encoder).
pub fn decode_partition(bytes: &[u8], codec: Option<&dyn HostCodec>) -> Result<Vec<Value>> {
    let (hosts, records) = split_partition(bytes)?;
    let builder = ValueBuilder(decode_hosts(hosts, codec)?);
    decode_records(records, &builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_values_round_trip_without_a_codec() {
        let values = vec![
            Value::None,
            Value::Bool(true),
            Value::Int(-7),
            Value::Float(2.5),
            Value::str("héllo"),
            Value::Bytes(Arc::from(&b"\x00\xff"[..])),
            Value::pair(Value::str("k"), Value::List(Arc::from(vec![Value::Int(1)]))),
            Value::Group(Arc::from(vec![Value::Int(1), Value::Int(2)])),
        ];
        let bytes = encode_partition(&values, None).unwrap();
        let back = decode_partition(&bytes, None).unwrap();
        assert_eq!(back.len(), values.len());
        for (a, b) in values.iter().zip(&back) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
        assert!(matches!(back[7], Value::Group(_)));
    }

    #[test]
    fn entries_are_a_partition_of_pairs() {
        let (k1, v1) = (Value::str("a"), Value::Int(1));
        let (k2, v2) = (Value::pair(Value::Int(1), Value::None), Value::Float(0.5));
        let bytes = encode_pairs(&[(&k1, &v1), (&k2, &v2)], None).unwrap();
        let back = decode_pairs(&bytes, None).unwrap();
        assert_eq!(
            format!("{back:?}"),
            format!("{:?}", [(k1.clone(), v1.clone()), (k2.clone(), v2.clone())])
        );
        let as_values = decode_partition(&bytes, None).unwrap();
        assert_eq!(
            format!("{:?}", as_values[0]),
            format!("{:?}", Value::pair(k1, v1))
        );
        // A partition of other values is not a partition of entries.
        let other = encode_partition(&[Value::Int(1)], None).unwrap();
        assert!(decode_pairs(&other, None).is_err());
        let triple = Value::Tuple(Arc::from(vec![Value::None, Value::None, Value::None]));
        let other = encode_partition(&[triple], None).unwrap();
        assert!(decode_pairs(&other, None).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_partition(b"\xff\xff\xff", None).is_err());
    }
}
