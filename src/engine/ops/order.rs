//! Python's ordering of values (`a < b`), natively: ints, floats and bools compare as numbers,
//! `str` by code point, `bytes` by byte, tuples and lists element by element (the first pair
//! that is not `==` decides, then the lengths); `None` is only equal to `None`. Comparing
//! values Python cannot order raises Python's `TypeError`. Values with host objects are
//! ordered by the host, a whole partition in one call.

use std::cmp::Ordering;

use crate::engine::context::EngineContext;
use crate::engine::error::{EngineError, Result};
use crate::engine::value::Value;

/// Why two values could not be ordered natively.
#[derive(Debug)]
pub enum CmpError {
    /// Python raises `TypeError` (the message it gives).
    Type(String),
    /// A host object is involved: the host must compare.
    Host,
}

impl CmpError {
    pub fn into_engine(self) -> EngineError {
        match self {
            CmpError::Type(m) => EngineError::Type(m),
            CmpError::Host => EngineError::Internal("host values compared natively".into()),
        }
    }
}

fn unorderable(a: &Value, b: &Value) -> CmpError {
    CmpError::Type(format!(
        "'<' not supported between instances of '{}' and '{}'",
        a.type_name(),
        b.type_name()
    ))
}

fn num_cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f >= 9.223_372_036_854_776e18 {
        return Some(Ordering::Less);
    }
    if f < -9.223_372_036_854_776e18 {
        return Some(Ordering::Greater);
    }
    let fl = f.floor();
    match i.cmp(&(fl as i64)) {
        Ordering::Equal if f > fl => Some(Ordering::Less),
        o => Some(o),
    }
}

/// `a < b` decides `Less`, `b < a` decides `Greater`, neither is `Equal` (as Python's sort
/// sees it: NaN is "equal" to everything).
pub fn py_cmp(a: &Value, b: &Value) -> Result<Ordering, CmpError> {
    use Value::*;
    #[derive(Clone, Copy)]
    enum N {
        I(i64),
        F(f64),
    }
    let num = |v: &Value| match v {
        Bool(x) => Some(N::I(i64::from(*x))),
        Int(i) => Some(N::I(*i)),
        Float(f) => Some(N::F(*f)),
        _ => Option::None,
    };
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return Ok(match (x, y) {
            (N::I(i), N::I(j)) => i.cmp(&j),
            (N::F(f), N::F(g)) => f.partial_cmp(&g).unwrap_or(Ordering::Equal),
            (N::I(i), N::F(g)) => num_cmp_int_float(i, g).unwrap_or(Ordering::Equal),
            (N::F(f), N::I(j)) => num_cmp_int_float(j, f)
                .map(Ordering::reverse)
                .unwrap_or(Ordering::Equal),
        });
    }
    match (a, b) {
        (Host(_), _) | (_, Host(_)) => Err(CmpError::Host),
        (Str(x), Str(y)) => Ok(x.as_str().cmp(y.as_str())),
        (Bytes(x), Bytes(y)) => Ok(x.as_ref().cmp(y.as_ref())),
        (Tuple(x), Tuple(y)) | (List(x), List(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                if p.has_host() || q.has_host() {
                    return Err(CmpError::Host);
                }
                if !p.py_eq(q) {
                    return py_cmp(p, q);
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
        _ => Err(unorderable(a, b)),
    }
}

/// Sort `items` stably by `key(item)` with Python's ordering (descending when `reverse`,
/// ties kept in order, as Python's `sorted(..., reverse=True)` does). Keys with host objects
/// are ordered by the host in one call.
pub fn sort_by_key<T>(
    ctx: &EngineContext,
    items: &mut [T],
    key: impl Fn(&T) -> &Value,
    reverse: bool,
) -> Result<()> {
    if items.iter().any(|x| key(x).has_host()) {
        let keys: Vec<&Value> = items.iter().map(&key).collect();
        let perm = match ctx.host_runtime() {
            Some(rt) => rt.sort_permutation(&keys, reverse)?,
            None => {
                return Err(EngineError::Unsupported(
                    "ordering host values needs the host runtime".into(),
                ))
            }
        };
        apply_permutation(items, perm)?;
        return Ok(());
    }
    let perm = native_permutation(items.iter().map(&key).collect(), reverse)?;
    apply_permutation(items, perm)
}

/// The stable sorting permutation of native keys. Keys are sorted as a decorated vector
/// (their `str`/`int` payloads when all keys are of one such type), not through the records.
/// The typed decorations end with the key's index, so an unstable sort of them is stable in
/// the keys (ties in input order, also when descending, as Python's `reverse=True` keeps them).
fn native_permutation(keys: Vec<&Value>, reverse: bool) -> Result<Vec<usize>> {
    if keys.iter().all(|k| matches!(k, Value::Str(_))) {
        // The first 8 bytes as a big-endian number decide most comparisons without reading
        // the strings (UTF-8 byte order is code point order; ties compare in full).
        let prefix = |s: &str| {
            let mut b = [0u8; 8];
            let n = s.len().min(8);
            b[..n].copy_from_slice(&s.as_bytes()[..n]);
            u64::from_be_bytes(b)
        };
        let mut dec: Vec<(u64, &str, usize)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                Value::Str(s) => (prefix(s), s.as_ref(), i),
                _ => (0, "", i),
            })
            .collect();
        if reverse {
            dec.sort_unstable_by(|a, b| {
                b.0.cmp(&a.0).then_with(|| b.1.cmp(a.1)).then(a.2.cmp(&b.2))
            });
        } else {
            dec.sort_unstable();
        }
        return Ok(dec.into_iter().map(|(_, _, i)| i).collect());
    }
    if keys.iter().all(|k| matches!(k, Value::Int(_))) {
        // `!x` orders the ints in reverse (it is `-x - 1`, never overflowing).
        let mut dec: Vec<(i64, usize)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                Value::Int(x) if reverse => (!*x, i),
                Value::Int(x) => (*x, i),
                _ => (0, i),
            })
            .collect();
        dec.sort_unstable();
        return Ok(dec.into_iter().map(|(_, i)| i).collect());
    }
    let order = |o: Ordering| if reverse { o.reverse() } else { o };
    let mut dec: Vec<(&Value, usize)> = keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut error: Option<CmpError> = None;
    dec.sort_by(|x, y| {
        if error.is_some() {
            return Ordering::Equal;
        }
        match py_cmp(x.0, y.0) {
            Ok(o) => order(o),
            Err(e) => {
                error = Some(e);
                Ordering::Equal
            }
        }
    });
    match error {
        Some(e) => Err(e.into_engine()),
        None => Ok(dec.into_iter().map(|(_, i)| i).collect()),
    }
}

/// Reorder `items` in place so that position `j` holds the item that was at `perm[j]`
/// (following the permutation's cycles with swaps; `perm` is checked first).
fn apply_permutation<T>(items: &mut [T], mut perm: Vec<usize>) -> Result<()> {
    if perm.len() != items.len() {
        return Err(EngineError::Internal(
            "a sort permutation of the wrong size".into(),
        ));
    }
    let mut seen = vec![false; perm.len()];
    for &i in &perm {
        match seen.get_mut(i) {
            Some(s) if !*s => *s = true,
            _ => {
                return Err(EngineError::Internal(
                    "a sort permutation repeats or misses an index".into(),
                ))
            }
        }
    }
    drop(seen);
    for start in 0..perm.len() {
        let mut j = start;
        loop {
            let k = perm[j];
            perm[j] = j;
            if k == start || k == j {
                break;
            }
            items.swap(j, k);
            j = k;
        }
    }
    Ok(())
}

/// Ints and strs compared without [`py_cmp`] when bounds and keys are all one of them.
enum Typed<'a> {
    Int(Vec<i64>),
    Str(Vec<&'a str>),
}

fn typed_bounds(bounds: &[Value]) -> Option<Typed<'_>> {
    if bounds.iter().all(|b| matches!(b, Value::Int(_))) {
        return Some(Typed::Int(
            bounds
                .iter()
                .map(|b| if let Value::Int(x) = b { *x } else { 0 })
                .collect(),
        ));
    }
    if bounds.iter().all(|b| matches!(b, Value::Str(_))) {
        return Some(Typed::Str(
            bounds
                .iter()
                .map(|b| {
                    if let Value::Str(s) = b {
                        s.as_ref()
                    } else {
                        ""
                    }
                })
                .collect(),
        ));
    }
    None
}
/// `bisect.bisect_left(bounds, k)` for each key (`bounds` sorted ascending); host keys are
/// placed by the host in one call.
pub fn bisect_left_all(
    ctx: &EngineContext,
    bounds: &[Value],
    keys: &[&Value],
) -> Result<Vec<usize>> {
    if bounds.iter().any(Value::has_host) || keys.iter().any(|k| k.has_host()) {
        let b: Vec<&Value> = bounds.iter().collect();
        return match ctx.host_runtime() {
            Some(rt) => rt.bisect_left(&b, keys),
            None => Err(EngineError::Unsupported(
                "ordering host values needs the host runtime".into(),
            )),
        };
    }
    match typed_bounds(bounds) {
        Some(Typed::Int(b)) if keys.iter().all(|k| matches!(k, Value::Int(_))) => {
            return Ok(keys
                .iter()
                .map(|k| match k {
                    Value::Int(x) => b.partition_point(|y| y < x),
                    _ => 0,
                })
                .collect());
        }
        Some(Typed::Str(b)) if keys.iter().all(|k| matches!(k, Value::Str(_))) => {
            return Ok(keys
                .iter()
                .map(|k| match k {
                    Value::Str(x) => b.partition_point(|y| *y < x.as_str()),
                    _ => 0,
                })
                .collect());
        }
        _ => {}
    }
    keys.iter()
        .map(|k| {
            let (mut lo, mut hi) = (0, bounds.len());
            while lo < hi {
                let mid = (lo + hi) / 2;
                if py_cmp(&bounds[mid], k).map_err(CmpError::into_engine)? == Ordering::Less {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            Ok(lo)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn python_ordering() {
        assert_eq!(
            py_cmp(&Value::Int(1), &Value::Float(1.5)).unwrap(),
            Ordering::Less
        );
        assert_eq!(
            py_cmp(&Value::Bool(true), &Value::Int(1)).unwrap(),
            Ordering::Equal
        );
        let t1 = Value::Tuple(Arc::from(vec![Value::None, Value::Int(1)]));
        let t2 = Value::Tuple(Arc::from(vec![Value::None, Value::Int(2)]));
        assert_eq!(py_cmp(&t1, &t2).unwrap(), Ordering::Less);
        assert!(matches!(
            py_cmp(&Value::None, &Value::None),
            Err(CmpError::Type(_))
        ));
        assert!(matches!(
            py_cmp(&Value::str("a"), &Value::Int(1)),
            Err(CmpError::Type(_))
        ));
    }

    #[test]
    fn stable_sorts() {
        let ctx = EngineContext::new(1).unwrap();
        let mut v = vec![
            (Value::Int(2), 0),
            (Value::Float(1.0), 1),
            (Value::Int(1), 2),
            (Value::Int(3), 3),
        ];
        sort_by_key(&ctx, &mut v, |x| &x.0, false).unwrap();
        assert_eq!(v.iter().map(|x| x.1).collect::<Vec<_>>(), vec![1, 2, 0, 3]);
        sort_by_key(&ctx, &mut v, |x| &x.0, true).unwrap();
        assert_eq!(v.iter().map(|x| x.1).collect::<Vec<_>>(), vec![3, 0, 1, 2]);
        let mut words: Vec<Value> = ["b", "a\0", "a", "\u{e9}", "abcdefghij", "abcdefgh", "z"]
            .iter()
            .map(|w| Value::str(w))
            .collect();
        sort_by_key(&ctx, &mut words, |v| v, false).unwrap();
        let got: Vec<String> = words.iter().map(|w| w.to_py_str().unwrap()).collect();
        assert_eq!(
            got,
            ["a", "a\0", "abcdefgh", "abcdefghij", "b", "z", "\u{e9}"]
        );
        let bounds = [Value::Int(2), Value::Int(5)];
        let keys = [Value::Int(1), Value::Int(2), Value::Int(9)];
        let refs: Vec<&Value> = keys.iter().collect();
        assert_eq!(
            bisect_left_all(&ctx, &bounds, &refs).unwrap(),
            vec![0, 0, 2]
        );
    }

    /// The generic bisection, for comparison with the typed ones.
    fn bisect_generic(bounds: &[Value], k: &Value) -> usize {
        let (mut lo, mut hi) = (0, bounds.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if py_cmp(&bounds[mid], k).unwrap() == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    #[test]
    fn typed_bisection_matches_python_ordering() {
        let ctx = EngineContext::new(1).unwrap();
        let ints: Vec<Value> = [-5i64, 0, 0, 3, 9, i64::MAX].map(Value::Int).to_vec();
        let int_keys: Vec<Value> = [i64::MIN, -6, -5, -1, 0, 1, 3, 4, 9, 10, i64::MAX]
            .map(Value::Int)
            .to_vec();
        let strs: Vec<Value> = ["", "a", "b\u{e9}", "bb", "z"].map(Value::str).to_vec();
        let str_keys: Vec<Value> = ["", "\0", "a", "a\0", "b", "b\u{e9}", "bz", "\u{e9}", "zz"]
            .map(Value::str)
            .to_vec();
        let mixed: Vec<Value> = vec![Value::Int(1), Value::Float(2.5), Value::Bool(true)];
        for (bounds, keys) in [
            (&ints, &int_keys),
            (&strs, &str_keys),
            (&ints, &mixed),
            (&mixed, &int_keys),
        ] {
            let refs: Vec<&Value> = keys.iter().collect();
            let got = bisect_left_all(&ctx, bounds, &refs).unwrap();
            let want: Vec<usize> = keys.iter().map(|k| bisect_generic(bounds, k)).collect();
            assert_eq!(got, want);
        }
        // Strs against int bounds still raise Python's TypeError.
        let refs: Vec<&Value> = str_keys.iter().collect();
        assert!(matches!(
            bisect_left_all(&ctx, &ints, &refs),
            Err(EngineError::Type(_))
        ));
    }

    #[test]
    fn typed_sorts_keep_ties_in_order_both_ways() {
        let ctx = EngineContext::new(1).unwrap();
        for reverse in [false, true] {
            let mut ints: Vec<(Value, usize)> = [3i64, 1, 3, i64::MIN, 1, i64::MAX, 3]
                .iter()
                .enumerate()
                .map(|(i, k)| (Value::Int(*k), i))
                .collect();
            let mut want: Vec<(i64, usize)> = ints
                .iter()
                .map(|(k, i)| (if let Value::Int(x) = k { *x } else { 0 }, *i))
                .collect();
            if reverse {
                want.sort_by_key(|a| std::cmp::Reverse(a.0));
            } else {
                want.sort_by_key(|a| a.0);
            }
            sort_by_key(&ctx, &mut ints, |x| &x.0, reverse).unwrap();
            let got: Vec<usize> = ints.iter().map(|x| x.1).collect();
            assert_eq!(got, want.iter().map(|x| x.1).collect::<Vec<_>>());

            let words = ["abcdefghZ", "b", "abcdefghA", "b", "", "abcdefghZ"];
            let mut strs: Vec<(Value, usize)> = words
                .iter()
                .enumerate()
                .map(|(i, w)| (Value::str(w), i))
                .collect();
            let mut want: Vec<(&str, usize)> =
                words.iter().enumerate().map(|(i, w)| (*w, i)).collect();
            if reverse {
                want.sort_by(|a, b| b.0.cmp(a.0));
            } else {
                want.sort_by(|a, b| a.0.cmp(b.0));
            }
            sort_by_key(&ctx, &mut strs, |x| &x.0, reverse).unwrap();
            let got: Vec<usize> = strs.iter().map(|x| x.1).collect();
            assert_eq!(got, want.iter().map(|x| x.1).collect::<Vec<_>>());
        }
    }

    #[test]
    fn permutations_are_applied_in_place_and_checked() {
        let mut items: Vec<usize> = (0..9).collect();
        let perm = vec![3, 0, 1, 2, 4, 8, 7, 6, 5];
        apply_permutation(&mut items, perm.clone()).unwrap();
        assert_eq!(items, perm);
        assert!(apply_permutation(&mut items, vec![0, 0, 1, 2, 3, 4, 5, 6, 7]).is_err());
        assert!(apply_permutation(&mut items, vec![0, 1]).is_err());
        assert!(apply_permutation(&mut items, vec![0, 1, 2, 3, 4, 5, 6, 7, 9]).is_err());
    }
}
