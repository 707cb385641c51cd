//! Engine values as bytes: partitions handed to worker processes and keyed state in checkpoint
//! files share one serde encoding (postcard).
//!
//! Values the engine models are encoded natively, without the host. Host objects (and groups
//! whose values are host objects) are collected in the order met and encoded together by a
//! [`HostCodec`] (cloudpickle for Python), once per partition; the records refer to them by
//! index.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};
use crate::engine::host::HostCodec;
use crate::engine::value::Value;

/// A value being encoded, borrowing from the engine's value.
#[derive(Serialize)]
pub(crate) enum StoredRef<'a> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    Tuple(Vec<StoredRef<'a>>),
    List(Vec<StoredRef<'a>>),
    /// Index into the partition's encoded host values.
    Host(u32),
    Group(Vec<StoredRef<'a>>),
}

/// A decoded value (variants in [`StoredRef`]'s order).
#[derive(Deserialize)]
pub(crate) enum Stored {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Stored>),
    List(Vec<Stored>),
    Host(u32),
    Group(Vec<Stored>),
}

/// Encode `v`, collecting its host objects into `hosts`.
pub(crate) fn store<'a>(v: &'a Value, hosts: &mut Vec<&'a Value>) -> StoredRef<'a> {
    match v {
        Value::None => StoredRef::None,
        Value::Bool(b) => StoredRef::Bool(*b),
        Value::Int(i) => StoredRef::Int(*i),
        Value::Float(f) => StoredRef::Float(*f),
        Value::Str(s) => StoredRef::Str(s),
        Value::Bytes(b) => StoredRef::Bytes(b),
        Value::Tuple(items) => StoredRef::Tuple(items.iter().map(|x| store(x, hosts)).collect()),
        Value::List(items) => StoredRef::List(items.iter().map(|x| store(x, hosts)).collect()),
        Value::Group(items) => StoredRef::Group(items.iter().map(|x| store(x, hosts)).collect()),
        Value::Host(_) => {
            hosts.push(v);
            StoredRef::Host((hosts.len() - 1) as u32)
        }
    }
}

/// Decode `v`; `hosts` are the partition's decoded host values.
pub(crate) fn load(v: Stored, hosts: &[Value]) -> Result<Value> {
    let all = |items: Vec<Stored>| -> Result<Arc<[Value]>> {
        Ok(items
            .into_iter()
            .map(|x| load(x, hosts))
            .collect::<Result<Vec<_>>>()?
            .into())
    };
    Ok(match v {
        Stored::None => Value::None,
        Stored::Bool(b) => Value::Bool(b),
        Stored::Int(i) => Value::Int(i),
        Stored::Float(f) => Value::Float(f),
        Stored::Str(s) => Value::Str(Arc::from(s)),
        Stored::Bytes(b) => Value::Bytes(Arc::from(b)),
        Stored::Tuple(items) => Value::Tuple(all(items)?),
        Stored::List(items) => Value::List(all(items)?),
        Stored::Group(items) => Value::Group(all(items)?),
        Stored::Host(i) => hosts.get(i as usize).cloned().ok_or_else(|| {
            EngineError::IllegalState("encoded values refer to a missing host value".into())
        })?,
    })
}

/// Encode the host values collected by [`store`] (none: no codec needed).
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

#[derive(Serialize)]
struct PartitionRef<'a> {
    records: Vec<StoredRef<'a>>,
    hosts: Vec<u8>,
}

#[derive(Deserialize)]
struct StoredPartition {
    records: Vec<Stored>,
    hosts: Vec<u8>,
}

/// One partition as bytes; the host codec is asked only when it holds host objects.
pub fn encode_partition(values: &[Value], codec: Option<&dyn HostCodec>) -> Result<Vec<u8>> {
    let mut hosts = Vec::new();
    let records = values.iter().map(|v| store(v, &mut hosts)).collect();
    let hosts = encode_hosts(&hosts, codec)?;
    postcard::to_allocvec(&PartitionRef { records, hosts })
        .map_err(|e| EngineError::Internal(format!("cannot encode a partition: {e}")))
}

/// A partition encoded by [`encode_partition`].
pub fn decode_partition(bytes: &[u8], codec: Option<&dyn HostCodec>) -> Result<Vec<Value>> {
    let part: StoredPartition = postcard::from_bytes(bytes)
        .map_err(|e| EngineError::Internal(format!("cannot decode a partition: {e}")))?;
    let hosts = decode_hosts(&part.hosts, codec)?;
    part.records.into_iter().map(|v| load(v, &hosts)).collect()
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
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_partition(b"\xff\xff\xff", None).is_err());
    }
}
