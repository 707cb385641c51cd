//! Builtins (`len`, `str`, `int`, ...) with Python's exact semantics.

use super::*;
// ---------------------------------------------------------------------------------------
// Builtins

/// `str(v)` for values whose text we produce exactly like CPython.
pub(super) fn safe_repr(v: &Value) -> bool {
    match v {
        Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Bytes(_) => true,
        Value::Str(s) => s.is_ascii(),
        Value::Tuple(t) | Value::List(t) => t.iter().all(safe_repr),
        Value::Host(_) | Value::Group(_) => false,
    }
}

/// `int(s)` for a str: optional whitespace, sign, ASCII digits with single underscores
/// between digits. Anything else (including non-ASCII digits) falls back.
pub(super) fn parse_py_int(s: &str) -> Ev<i64> {
    let t = s.trim_matches(py_isspace);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let b = digits.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() || !b[b.len() - 1].is_ascii_digit() {
        return Err(Fallback);
    }
    let mut acc: i64 = 0;
    let mut prev_us = false;
    for &c in b {
        if c == b'_' {
            if prev_us {
                return Err(Fallback);
            }
            prev_us = true;
            continue;
        }
        prev_us = false;
        if !c.is_ascii_digit() {
            return Err(Fallback);
        }
        let d = i64::from(c - b'0');
        acc = acc.checked_mul(10).ok_or(Fallback)?;
        acc = if neg {
            acc.checked_sub(d)
        } else {
            acc.checked_add(d)
        }
        .ok_or(Fallback)?;
    }
    Ok(acc)
}

/// `float(s)` for plain decimal literals (`[+-]digits[.digits][e[+-]digits]`); names such
/// as `inf`/`nan`, underscores and non-ASCII digits fall back.
pub(super) fn parse_py_float(s: &str) -> Ev<f64> {
    let t = s.trim_matches(py_isspace);
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    let mut n = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return Err(Fallback);
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return Err(Fallback);
        }
    }
    if i != b.len() {
        return Err(Fallback);
    }
    t.parse::<f64>().map_err(|_| Fallback)
}

pub(super) fn seq_items(v: &Value) -> Ev<Vec<Value>> {
    match v {
        Value::Tuple(t) | Value::List(t) | Value::Group(t) => Ok(t.to_vec()),
        Value::Str(s) => Ok(s
            .chars()
            .map(|c| Value::str(c.encode_utf8(&mut [0; 4])))
            .collect()),
        Value::Bytes(b) => Ok(b.iter().map(|&x| Value::Int(i64::from(x))).collect()),
        _ => Err(Fallback),
    }
}

pub(super) fn call(f: Builtin, args: &[Value]) -> Ev<Value> {
    let a = &args[0];
    Ok(match f {
        Builtin::Len => {
            let n = match a {
                Value::Str(s) => s.chars().count(),
                Value::Bytes(b) => b.len(),
                Value::Tuple(t) | Value::List(t) | Value::Group(t) => t.len(),
                _ => return Err(Fallback),
            };
            Value::Int(i64::try_from(n).map_err(|_| Fallback)?)
        }
        Builtin::Str => match a {
            Value::Str(_) => a.clone(),
            Value::Float(x) => Value::str(&float_repr(*x)),
            other if safe_repr(other) => Value::str(&other.to_py_str().map_err(|_| Fallback)?),
            _ => return Err(Fallback),
        },
        Builtin::Int => match a {
            Value::Int(i) => Value::Int(*i),
            Value::Bool(b) => Value::Int(i64::from(*b)),
            Value::Float(x) => {
                let t = x.trunc();
                if !(t.is_finite() && (-TWO_63..TWO_63).contains(&t)) {
                    return Err(Fallback);
                }
                Value::Int(t as i64)
            }
            Value::Str(s) => Value::Int(parse_py_int(s)?),
            _ => return Err(Fallback),
        },
        Builtin::Float => match a {
            Value::Str(s) => Value::Float(parse_py_float(s)?),
            other => Value::Float(num(other).ok_or(Fallback)?.to_f64()),
        },
        Builtin::Abs => match a {
            Value::Int(i) => Value::Int(i.checked_abs().ok_or(Fallback)?),
            Value::Bool(b) => Value::Int(i64::from(*b)),
            Value::Float(x) => Value::Float(x.abs()),
            _ => return Err(Fallback),
        },
        Builtin::Bool => Value::Bool(truthy(a)?),
        Builtin::Min | Builtin::Max => {
            let items = if args.len() == 1 {
                seq_items(a)?
            } else {
                args.to_vec()
            };
            let mut it = items.into_iter();
            let mut best = it.next().ok_or(Fallback)?; // ValueError: empty sequence
            let want = if f == Builtin::Min {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            for x in it {
                if py_order(&x, &best)? == Some(want) {
                    best = x;
                }
            }
            best
        }
        Builtin::Sum => {
            // Ints and bools only: float summation differs between CPython versions (3.12
            // compensates rounding), so any float is left to Python.
            let items: &[Value] = match a {
                Value::Tuple(t) | Value::List(t) | Value::Group(t) => t,
                _ => return Err(Fallback),
            };
            let mut total: i64 = 0;
            for x in items {
                let v = match x {
                    Value::Int(i) => *i,
                    Value::Bool(b) => i64::from(*b),
                    _ => return Err(Fallback),
                };
                total = total.checked_add(v).ok_or(Fallback)?;
            }
            Value::Int(total)
        }
        Builtin::ResultIterable => match a {
            Value::List(t) | Value::Tuple(t) | Value::Group(t) => Value::Group(t.clone()),
            _ => return Err(Fallback),
        },
        Builtin::Tuple => match a {
            Value::Tuple(_) => a.clone(),
            other => Value::Tuple(seq_items(other)?.into()),
        },
    })
}
