//! Records as the engine sees them.
//!
//! A partition is a `Vec<Value>`. Common Python types have native variants, so native
//! operators (split, pairing, sums, shuffles) run without the GIL; anything else is a
//! [`HostObject`], an opaque handle that the bindings implement for Python objects.
//! Equality and hashing follow Python's rules (`1 == 1.0 == True`, tuples element-wise), and
//! hashes are PySpark's `portable_hash`, so keys group and partition as in Spark.

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::engine::error::{EngineError, Result};
use crate::engine::pyhash;

/// A string value: inline up to 15 bytes, otherwise a shared buffer.
pub type Text = ecow::EcoString;

/// An object of the host language that has no native representation.
pub trait HostObject: Send + Sync + fmt::Debug {
    /// PySpark's `portable_hash(obj)`; an error for unhashable objects.
    fn portable_hash(&self) -> Result<i64>;
    /// `self == other` where `other` is another host object.
    fn host_eq(&self, other: &dyn HostObject) -> Result<bool>;
    /// `str(obj)`.
    fn to_str(&self) -> Result<String>;
    /// `repr(obj)`.
    fn to_repr(&self) -> Result<String>;
    /// For the bindings to get their own type back.
    fn as_any(&self) -> &dyn Any;
}

/// One record.
#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A `str`: up to 15 bytes inline, longer ones shared (clones count references).
    Str(Text),
    Bytes(Arc<[u8]>),
    Tuple(Arc<[Value]>),
    /// A Python list, copied in (as PySpark pickles records between stages).
    List(Arc<[Value]>),
    Host(Arc<dyn HostObject>),
    /// The values grouped under one key (`groupByKey`, `cogroup`): a `ResultIterable` in
    /// Python, made by the bindings when the partition is converted.
    Group(Arc<[Value]>),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Text::from(s))
    }

    pub fn pair(k: Value, v: Value) -> Value {
        Value::Tuple(Arc::from([k, v]))
    }

    /// The Python type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Host(_) => "object",
            Value::Group(_) => "ResultIterable",
        }
    }

    /// Whether this value is or contains a host object (then hashing and equality need the
    /// host).
    pub fn has_host(&self) -> bool {
        match self {
            Value::Host(_) => true,
            Value::Tuple(t) | Value::List(t) | Value::Group(t) => t.iter().any(Value::has_host),
            _ => false,
        }
    }

    /// Split a `(key, value)` record.
    pub fn as_pair(&self) -> Result<(&Value, &Value)> {
        match self {
            Value::Tuple(t) | Value::List(t) if t.len() == 2 => Ok((&t[0], &t[1])),
            other => Err(EngineError::Type(format!(
                "expected a (key, value) pair but got {} of type {}",
                other.repr_lossy(),
                other.type_name()
            ))),
        }
    }

    /// PySpark's `portable_hash`.
    pub fn portable_hash(&self) -> Result<i64> {
        Ok(match self {
            Value::None => 0,
            Value::Bool(b) => i64::from(*b),
            Value::Int(i) => pyhash::hash_int(*i),
            Value::Float(f) => pyhash::hash_float(*f),
            Value::Str(s) => pyhash::hash_str(s),
            Value::Bytes(b) => pyhash::hash_bytes(b),
            Value::Tuple(items) => {
                let hashes = items
                    .iter()
                    .map(Value::portable_hash)
                    .collect::<Result<Vec<_>>>()?;
                pyhash::hash_tuple(hashes.into_iter())
            }
            Value::List(_) => return Err(EngineError::Unhashable("list")),
            Value::Group(_) => return Err(EngineError::Unhashable("ResultIterable")),
            Value::Host(h) => h.portable_hash()?,
        })
    }

    /// Python's `==`. Host objects whose `__eq__` raises compare unequal.
    pub fn py_eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (None, None) => true,
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Tuple(a), Tuple(b)) | (List(a), List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.py_eq(y))
            }
            (Host(a), Host(b)) => a.host_eq(b.as_ref()).unwrap_or(false),
            _ => match (self.as_number(), other.as_number()) {
                (Some(a), Some(b)) => a.eq(&b),
                _ => false,
            },
        }
    }

    fn as_number(&self) -> Option<Num> {
        match self {
            Value::Bool(b) => Some(Num::Int(i64::from(*b))),
            Value::Int(i) => Some(Num::Int(*i)),
            Value::Float(f) => Some(Num::Float(*f)),
            _ => None,
        }
    }

    /// Python truthiness for the native variants (host objects: `None` means "ask the host").
    pub fn truthy(&self) -> Option<bool> {
        Some(match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::Tuple(t) | Value::List(t) | Value::Group(t) => !t.is_empty(),
            Value::Host(_) => return Option::None,
        })
    }

    /// `str(value)`.
    pub fn to_py_str(&self) -> Result<String> {
        match self {
            Value::Str(s) => Ok(s.to_string()),
            Value::Host(h) => h.to_str(),
            other => other.to_py_repr(),
        }
    }

    /// `repr(value)`.
    pub fn to_py_repr(&self) -> Result<String> {
        let mut out = String::new();
        self.write_repr(&mut out)?;
        Ok(out)
    }

    fn write_repr(&self, out: &mut String) -> Result<()> {
        match self {
            Value::None => out.push_str("None"),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&float_repr(*f)),
            Value::Str(s) => str_repr(s, out),
            Value::Bytes(b) => bytes_repr(b, out),
            Value::Tuple(items) => {
                out.push('(');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_repr(out)?;
                }
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_repr(out)?;
                }
                out.push(']');
            }
            Value::Host(h) => out.push_str(&h.to_repr()?),
            Value::Group(_) => out.push_str("<ferrostream.resultiterable.ResultIterable object>"),
        }
        Ok(())
    }

    /// A repr for error messages that never fails.
    pub fn repr_lossy(&self) -> String {
        self.to_py_repr().unwrap_or_else(|_| "<object>".into())
    }
}

#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn eq(&self, other: &Num) -> bool {
        match (*self, *other) {
            (Num::Int(a), Num::Int(b)) => a == b,
            (Num::Float(a), Num::Float(b)) => a == b,
            (Num::Int(a), Num::Float(b)) | (Num::Float(b), Num::Int(a)) => {
                // Exact comparison, as Python does (no rounding of large ints).
                b.fract() == 0.0
                    && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&b)
                    && (b as i64) == a
            }
        }
    }
}

/// Python's `repr(float)`: the shortest string that round-trips, in Python's layout.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, e.g. "1.5e-5" or "-1e16".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-point) as usize));
            out.push_str(&digits);
        } else if point as usize >= digits.len() {
            out.push_str(&digits);
            out.push_str(&"0".repeat(point as usize - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    }
    out
}

/// Python's `repr(str)` for ASCII-printable text; other characters are escaped as Python
/// does for non-printable code points, and printable non-ASCII characters are kept.
fn str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

fn bytes_repr(b: &[u8], out: &mut String) {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    out.push('b');
    out.push(quote);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c as char == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote);
}

/// A value used as a key: its portable hash computed once, compared with Python's `==`.
#[derive(Clone, Debug)]
pub struct Key {
    hash: i64,
    pub value: Value,
}

impl Key {
    pub fn new(value: Value) -> Result<Key> {
        Ok(Key {
            hash: value.portable_hash()?,
            value,
        })
    }

    /// A key whose portable hash is already known (computed in bulk, see `engine::keys`).
    pub fn with_hash(hash: i64, value: Value) -> Key {
        Key { hash, value }
    }

    /// A string key whose portable hash is already known.
    pub fn from_str_hashed(hash: i64, s: &str) -> Key {
        Key {
            hash,
            value: Value::str(s),
        }
    }

    pub fn hash(&self) -> i64 {
        self.hash
    }

    /// The partition this key belongs to: `portable_hash(key) % n`, as in PySpark.
    pub fn partition(&self, n: usize) -> usize {
        self.hash.rem_euclid(n as i64) as usize
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.hash == other.hash && self.value.py_eq(&other.value)
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_i64(self.hash);
    }
}

/// A borrowed string looked up in a [`KeyMap`] without allocating a [`Key`].
pub struct StrKey<'a> {
    pub hash: i64,
    pub s: &'a str,
}

impl<'a> StrKey<'a> {
    pub fn new(s: &'a str) -> StrKey<'a> {
        StrKey {
            hash: pyhash::hash_str(s),
            s,
        }
    }
}

impl Hash for StrKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_i64(self.hash);
    }
}

impl indexmap::Equivalent<Key> for StrKey<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        key.hash == self.hash && matches!(&key.value, Value::Str(k) if **k == *self.s)
    }
}

/// A hasher for [`Key`]s, whose hash is already computed: it passes it through (mixed).
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_i64(&mut self, i: i64) {
        // Spread the bits: portable hashes of small ints are the ints themselves.
        self.0 = (i as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

pub type KeyBuildHasher = std::hash::BuildHasherDefault<KeyHasher>;
/// An insertion-ordered map from keys, like a Python dict.
pub type KeyMap<V> = indexmap::IndexMap<Key, V, KeyBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_equality_across_numeric_types() {
        assert!(Value::Int(1).py_eq(&Value::Float(1.0)));
        assert!(Value::Bool(true).py_eq(&Value::Int(1)));
        assert!(!Value::Int(1).py_eq(&Value::str("1")));
        let k1 = Key::new(Value::Int(1)).unwrap();
        let k2 = Key::new(Value::Float(1.0)).unwrap();
        assert_eq!(k1, k2);
    }

    #[test]
    fn reprs_match_python() {
        assert_eq!(float_repr(0.1), "0.1");
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1.5e-5), "1.5e-05");
        assert_eq!(float_repr(123456.789), "123456.789");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(-2.5), "-2.5");
        let t = Value::Tuple(Arc::from(vec![Value::str("it's"), Value::Int(2)]));
        assert_eq!(t.to_py_repr().unwrap(), "(\"it's\", 2)");
        let one = Value::Tuple(Arc::from(vec![Value::None]));
        assert_eq!(one.to_py_str().unwrap(), "(None,)");
        assert_eq!(
            Value::Bytes(Arc::from(&b"a\x00"[..])).to_py_repr().unwrap(),
            "b'a\\x00'"
        );
    }

    #[test]
    fn lists_are_unhashable() {
        let l = Value::List(Arc::from(vec![Value::Int(1)]));
        assert!(matches!(Key::new(l), Err(EngineError::Unhashable("list"))));
    }
}
