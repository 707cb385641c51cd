//! Python's hash functions, reimplemented so that partitioning by key does not depend on the
//! driver's (randomised) hash seed.
//!
//! PySpark partitions with `portable_hash` in workers started with `PYTHONHASHSEED=0`; these
//! functions give the same numbers for `str`, `bytes`, `int`, `float`, `bool`, `None` and
//! tuples of those, so records land in the same partitions (and `pprint` shows them in the same
//! order) as in Spark. Strings are hashed like CPython >= 3.11 (SipHash-1-3 over the PEP 393
//! representation, zero key).

use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// `sys.hash_info.modulus`: the Mersenne prime 2**61 - 1.
const MODULUS: u64 = (1 << 61) - 1;
const BITS: u32 = 61;
const HASH_INF: i64 = 314_159;

fn fix_minus_one(h: i64) -> i64 {
    if h == -1 {
        -2
    } else {
        h
    }
}

/// `hash(int)` for a machine integer.
pub fn hash_int(x: i64) -> i64 {
    let h = (x.unsigned_abs() % MODULUS) as i64;
    fix_minus_one(if x < 0 { -h } else { h })
}

/// `hash(float)` (`_Py_HashDouble`); NaN hashes to 0 (CPython >= 3.10 uses the object's id,
/// which has no portable meaning).
pub fn hash_float(v: f64) -> i64 {
    if v.is_nan() {
        return 0;
    }
    if v.is_infinite() {
        return if v > 0.0 { HASH_INF } else { -HASH_INF };
    }
    let (mut m, mut e) = frexp(v);
    let mut sign: i64 = 1;
    if m < 0.0 {
        sign = -1;
        m = -m;
    }
    let mut x: u64 = 0;
    while m != 0.0 {
        x = ((x << 28) & MODULUS) | (x >> (BITS - 28));
        m *= 268_435_456.0; // 2**28
        e -= 28;
        let y = m as u64;
        m -= y as f64;
        x += y;
        if x >= MODULUS {
            x -= MODULUS;
        }
    }
    let e = if e >= 0 {
        (e as u32) % BITS
    } else {
        BITS - 1 - (((-1 - e) as u32) % BITS)
    };
    x = ((x << e) & MODULUS) | (x >> (BITS - e));
    fix_minus_one((x as i64) * sign)
}

/// `math.frexp`: `v == m * 2**e` with `0.5 <= |m| < 1` (or `m == 0`).
fn frexp(v: f64) -> (f64, i32) {
    if v == 0.0 || !v.is_finite() {
        return (v, 0);
    }
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(v * f64::powi(2.0, 64));
        return (m, e - 64);
    }
    let e = exp - 1022;
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, e)
}

fn siphash13(bytes: &[u8]) -> i64 {
    if bytes.is_empty() {
        return 0;
    }
    let mut h = SipHasher13::new_with_keys(0, 0);
    h.write(bytes);
    fix_minus_one(h.finish() as i64)
}

/// `hash(bytes)` with `PYTHONHASHSEED=0`.
pub fn hash_bytes(b: &[u8]) -> i64 {
    siphash13(b)
}

/// `hash(str)` with `PYTHONHASHSEED=0` (CPython hashes its 1-, 2- or 4-byte representation).
pub fn hash_str(s: &str) -> i64 {
    if s.is_empty() {
        return 0;
    }
    if s.is_ascii() {
        return siphash13(s.as_bytes());
    }
    let max = s.chars().map(|c| c as u32).max().unwrap_or(0);
    let mut buf: Vec<u8>;
    if max < 0x100 {
        buf = s.chars().map(|c| c as u32 as u8).collect();
    } else if max < 0x10000 {
        buf = Vec::with_capacity(s.len() * 2);
        for c in s.chars() {
            buf.extend_from_slice(&(c as u32 as u16).to_le_bytes());
        }
    } else {
        buf = Vec::with_capacity(s.len() * 4);
        for c in s.chars() {
            buf.extend_from_slice(&(c as u32).to_le_bytes());
        }
    }
    siphash13(&buf)
}

/// PySpark's `portable_hash` for a tuple, given the portable hashes of its items.
pub fn hash_tuple(items: impl ExactSizeIterator<Item = i64>) -> i64 {
    const MAXSIZE: u64 = i64::MAX as u64;
    let len = items.len() as u64;
    let mut h: u64 = 0x345678;
    for item in items {
        h ^= item as u64;
        h = h.wrapping_mul(1_000_003) & MAXSIZE;
    }
    h ^= len;
    fix_minus_one(h as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by CPython 3.11 with PYTHONHASHSEED=0.
    #[test]
    fn ints_and_floats_match_cpython() {
        assert_eq!(hash_int(0), 0);
        assert_eq!(hash_int(-1), -2);
        assert_eq!(hash_int(1 << 61), 1);
        assert_eq!(hash_int(i64::MIN), -4);
        assert_eq!(hash_float(1.5), 1_152_921_504_606_846_977);
        assert_eq!(hash_float(2.0), 2);
        assert_eq!(hash_float(-0.5), -1_152_921_504_606_846_976);
        assert_eq!(hash_float(f64::INFINITY), 314_159);
    }

    #[test]
    fn strings_and_bytes_match_cpython_with_seed_zero() {
        assert_eq!(hash_str(""), 0);
        assert_eq!(hash_str("a"), 4_644_417_185_603_328_019);
        assert_eq!(hash_str("hello"), -2_096_571_579_003_691_106);
        assert_eq!(hash_str("\u{e9}"), 6_047_309_291_227_476_195);
        assert_eq!(hash_str("\u{65e5}\u{672c}\u{8a9e}"), 7_116_994_712_188_270);
        assert_eq!(hash_str("\u{1f600}x"), -8_926_728_262_118_538_918);
        assert_eq!(hash_bytes(b"abc"), -4_594_863_902_769_663_758);
    }

    #[test]
    fn tuple_hash_of_nothing() {
        assert_eq!(hash_tuple(std::iter::empty()), 0x345678_i64);
    }
}
