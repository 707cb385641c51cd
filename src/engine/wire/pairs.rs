//! Keyed state as wire partitions: a partition of `(key, value)` entries is encoded as a
//! partition of 2-tuples (so a state partition decodes with
//! [`decode_partition`](super::decode_partition) too), without building the tuples, and
//! decoded straight into where the entries go ([`PairSink`]).

use std::cell::RefCell;

use serde::Serialize;

use super::{
    decode_hosts, encode_hosts, join_partition, split_partition, tag, wire_err, Builder, Dec, Enc,
    ValueBuilder, VARIANTS,
};
use crate::engine::error::{EngineError, Result};
use crate::engine::host::HostCodec;
use crate::engine::value::Value;

/// One entry, encoded as the tuple `(k, v)` is.
struct EncPair<'a, 'h> {
    k: &'a Value,
    v: &'a Value,
    hosts: &'h RefCell<Vec<&'a Value>>,
}

/// A sequence of entries being encoded.
struct EncPairs<'s, 'a, 'h> {
    items: &'s [(&'a Value, &'a Value)],
    hosts: &'h RefCell<Vec<&'a Value>>,
}

impl Serialize for EncPair<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        struct Items<'p, 'a, 'h>(&'p EncPair<'a, 'h>);
        impl Serialize for Items<'_, '_, '_> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let p = self.0;
                let mut seq = s.serialize_seq(Some(2))?;
                seq.serialize_element(&Enc {
                    v: p.k,
                    hosts: p.hosts,
                })?;
                seq.serialize_element(&Enc {
                    v: p.v,
                    hosts: p.hosts,
                })?;
                seq.end()
            }
        }
        s.serialize_newtype_variant("V", tag::TUPLE, "Tuple", &Items(self))
    }
}

impl Serialize for EncPairs<'_, '_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.items.len()))?;
        for &(k, v) in self.items {
            seq.serialize_element(&EncPair {
                k,
                v,
                hosts: self.hosts,
            })?;
        }
        seq.end()
    }
}

/// A partition of `(key, value)` entries as bytes (the layout of a partition of 2-tuples); the
/// host codec is asked only when it holds host objects.
pub fn encode_pairs(
    entries: &[(&Value, &Value)],
    codec: Option<&dyn HostCodec>,
) -> Result<Vec<u8>> {
    let hosts = RefCell::new(Vec::new());
    let records = postcard::to_allocvec(&EncPairs {
        items: entries,
        hosts: &hosts,
    })
    .map_err(|e| wire_err("encode", e))?;
    let hosts = encode_hosts(&hosts.into_inner(), codec)?;
    join_partition(&hosts, &records)
}

struct DecPair<'b, B>(&'b B);
struct DecPairItems<'b, B>(&'b B);
struct DecPairs<'b, B, S>(&'b B, S);

impl<'de, B: Builder> serde::de::DeserializeSeed<'de> for DecPair<'_, B> {
    type Value = (B::Out, B::Out);
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_enum("V", VARIANTS, self)
    }
}

impl<'de, B: Builder> serde::de::Visitor<'de> for DecPair<'_, B> {
    type Value = (B::Out, B::Out);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an encoded (key, value) pair")
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(
        self,
        data: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        use serde::de::{Error, VariantAccess};
        let (kind, v): (u32, _) = data.variant()?;
        if kind != tag::TUPLE {
            return Err(A::Error::custom(format!(
                "value kind {kind} where a (key, value) pair was expected"
            )));
        }
        v.newtype_variant_seed(DecPairItems(self.0))
    }
}

impl<'de, B: Builder> serde::de::DeserializeSeed<'de> for DecPairItems<'_, B> {
    type Value = (B::Out, B::Out);
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, B: Builder> serde::de::Visitor<'de> for DecPairItems<'_, B> {
    type Value = (B::Out, B::Out);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a tuple of two encoded values")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        use serde::de::Error;
        let wrong = || A::Error::custom("a tuple that is not a (key, value) pair");
        if seq.size_hint() != Some(2) {
            return Err(wrong());
        }
        let k = seq.next_element_seed(Dec(self.0))?.ok_or_else(wrong)?;
        let v = seq.next_element_seed(Dec(self.0))?.ok_or_else(wrong)?;
        Ok((k, v))
    }
}

/// Where decoded `(key, value)` entries go, one at a time (no intermediate vector).
pub trait PairSink {
    /// `n` entries follow.
    fn reserve(&mut self, _n: usize) {}
    fn push(&mut self, k: Value, v: Value) -> Result<()>;
}

impl PairSink for Vec<(Value, Value)> {
    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }
    fn push(&mut self, k: Value, v: Value) -> Result<()> {
        Vec::push(self, (k, v));
        Ok(())
    }
}

/// A sink being filled; its first error is kept as it is (serde's errors are strings).
struct SinkSeed<'s, S> {
    sink: &'s mut S,
    failed: &'s mut Option<EngineError>,
}

impl<'de, S: PairSink> serde::de::DeserializeSeed<'de>
    for DecPairs<'_, ValueBuilder, SinkSeed<'_, S>>
{
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: PairSink> serde::de::Visitor<'de> for DecPairs<'_, ValueBuilder, SinkSeed<'_, S>> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a sequence of encoded (key, value) pairs")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<(), A::Error> {
        use serde::de::Error;
        let DecPairs(builder, SinkSeed { sink, failed }) = self;
        sink.reserve(seq.size_hint().unwrap_or(0).min(1 << 24));
        while let Some((k, v)) = seq.next_element_seed(DecPair(builder))? {
            if let Err(e) = sink.push(k, v) {
                let message = e.to_string();
                *failed = Some(e);
                return Err(A::Error::custom(message));
            }
        }
        Ok(())
    }
}

/// The entries of a partition encoded by [`encode_pairs`], pushed into `sink` in order.
pub fn decode_pairs_into<S: PairSink>(
    bytes: &[u8],
    codec: Option<&dyn HostCodec>,
    sink: &mut S,
) -> Result<()> {
    use serde::de::DeserializeSeed;
    let (hosts, records) = split_partition(bytes)?;
    let builder = ValueBuilder(decode_hosts(hosts, codec)?);
    let mut de = postcard::Deserializer::from_bytes(records);
    let mut failed = None;
    let seed = DecPairs(
        &builder,
        SinkSeed {
            sink,
            failed: &mut failed,
        },
    );
    let decoded = seed.deserialize(&mut de);
    match (decoded, failed) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(wire_err("decode", e)),
        (Ok(()), None) => Ok(()),
    }
}

/// The entries of a partition encoded by [`encode_pairs`].
pub fn decode_pairs(bytes: &[u8], codec: Option<&dyn HostCodec>) -> Result<Vec<(Value, Value)>> {
    let mut out = Vec::new();
    decode_pairs_into(bytes, codec, &mut out)?;
    Ok(out)
}
