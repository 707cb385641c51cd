//! Numbers, operators and indexing with Python's exact semantics.

use super::*;
// ---------------------------------------------------------------------------------------
// Numbers

#[derive(Clone, Copy, Debug)]
pub(super) enum Num {
    I(i64),
    F(f64),
}

pub(super) fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::I(i64::from(*b))),
        Value::Int(i) => Some(Num::I(*i)),
        Value::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

/// An int usable as an index or repeat count (`bool` included, as in Python).
pub(super) fn index_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

impl Num {
    pub(super) fn to_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64, // round-half-even, as Python's int -> float
            Num::F(f) => f,
        }
    }
}

pub(super) const TWO_63: f64 = 9_223_372_036_854_775_808.0;
/// Ints of at most this magnitude convert to `f64` exactly.
pub(super) const EXACT_F64_INT: i64 = 1 << 53;

/// Exact comparison of an int with a float (None if the float is NaN), as Python does.
pub(super) fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let fl = f.floor();
    let fi = fl as i64; // exact: fl is integral and in range
    Some(match i.cmp(&fi) {
        Ordering::Equal if f > fl => Ordering::Less,
        o => o,
    })
}

pub(super) fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        (Num::F(x), Num::F(y)) => x.partial_cmp(&y),
        (Num::I(x), Num::F(y)) => cmp_int_float(x, y),
        (Num::F(x), Num::I(y)) => cmp_int_float(y, x).map(Ordering::reverse),
    }
}

pub(super) fn int_floordiv(x: i64, y: i64) -> Ev<i64> {
    if y == 0 {
        return Err(Fallback);
    }
    let q = x.checked_div(y).ok_or(Fallback)?;
    if x % y != 0 && ((x < 0) != (y < 0)) {
        Ok(q - 1)
    } else {
        Ok(q)
    }
}

pub(super) fn int_mod(x: i64, y: i64) -> Ev<i64> {
    if y == 0 {
        return Err(Fallback);
    }
    if y == -1 {
        return Ok(0);
    }
    let r = x % y;
    if r != 0 && ((r < 0) != (y < 0)) {
        Ok(r + y)
    } else {
        Ok(r)
    }
}

/// CPython's float `divmod` (`_float_div_mod`), for finite operands and a non-zero divisor.
pub(super) fn float_divmod(vx: f64, wx: f64) -> (f64, f64) {
    let mut m = vx % wx;
    let mut div = (vx - m) / wx;
    if m != 0.0 {
        if (wx < 0.0) != (m < 0.0) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = 0.0_f64.copysign(wx);
    }
    let floordiv = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0_f64.copysign(vx / wx)
    };
    (floordiv, m)
}

pub(super) fn arith(op: BinOp, a: Num, b: Num) -> Ev<Value> {
    use Num::I;
    let int = |r: Option<i64>| r.map(Value::Int).ok_or(Fallback);
    match (op, a, b) {
        (BinOp::Add, I(x), I(y)) => int(x.checked_add(y)),
        (BinOp::Sub, I(x), I(y)) => int(x.checked_sub(y)),
        (BinOp::Mul, I(x), I(y)) => int(x.checked_mul(y)),
        (BinOp::FloorDiv, I(x), I(y)) => int_floordiv(x, y).map(Value::Int),
        (BinOp::Mod, I(x), I(y)) => int_mod(x, y).map(Value::Int),
        (BinOp::Pow, I(x), I(y)) => {
            if y < 0 {
                return Err(Fallback);
            }
            match x {
                0 => Ok(Value::Int(i64::from(y == 0))),
                1 => Ok(Value::Int(1)),
                -1 => Ok(Value::Int(if y % 2 == 0 { 1 } else { -1 })),
                _ => {
                    let e = u32::try_from(y).map_err(|_| Fallback)?;
                    int(x.checked_pow(e))
                }
            }
        }
        (BinOp::TrueDiv, I(x), I(y)) => {
            if y == 0 {
                return Err(Fallback);
            }
            // Exact operands: one correctly rounded division, as CPython's fast path.
            if x.unsigned_abs() <= EXACT_F64_INT as u64 && y.unsigned_abs() <= EXACT_F64_INT as u64
            {
                Ok(Value::Float(x as f64 / y as f64))
            } else {
                Err(Fallback)
            }
        }
        _ => {
            let (x, y) = (a.to_f64(), b.to_f64());
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::TrueDiv => {
                    if y == 0.0 {
                        return Err(Fallback);
                    }
                    x / y
                }
                BinOp::FloorDiv | BinOp::Mod => {
                    if y == 0.0 || !x.is_finite() || !y.is_finite() {
                        return Err(Fallback);
                    }
                    let (q, m) = float_divmod(x, y);
                    let r = if op == BinOp::FloorDiv { q } else { m };
                    if !r.is_finite() {
                        return Err(Fallback);
                    }
                    r
                }
                BinOp::Pow => {
                    if !x.is_finite() || !y.is_finite() {
                        return Err(Fallback);
                    }
                    if y == 0.0 {
                        return Ok(Value::Float(1.0));
                    }
                    let ok = x > 0.0 || (x < 0.0 && y.fract() == 0.0) || (x == 0.0 && y > 0.0);
                    if !ok {
                        return Err(Fallback); // ZeroDivisionError or a complex result
                    }
                    let r = x.powf(y);
                    if !r.is_finite() {
                        return Err(Fallback); // OverflowError
                    }
                    r
                }
            };
            Ok(Value::Float(r))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Operators

pub(super) fn repeat_seq(seq: &Value, count: i64) -> Ev<Value> {
    let mut n = usize::try_from(count.max(0)).map_err(|_| Fallback)?;
    let empty = match seq {
        Value::Str(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::Tuple(t) | Value::List(t) => t.is_empty(),
        _ => return Err(Fallback),
    };
    if empty {
        n = 0; // `() * 2**62` is `()` at once
    }
    let limit = |len: usize| -> Ev<()> {
        match len.checked_mul(n) {
            Some(t) if t <= MAX_REPEAT_LEN => Ok(()),
            _ => Err(Fallback),
        }
    };
    match seq {
        Value::Str(s) => {
            limit(s.len())?;
            Ok(Value::str(&s.repeat(n)))
        }
        Value::Bytes(b) => {
            limit(b.len())?;
            Ok(Value::Bytes(b.repeat(n).into()))
        }
        Value::Tuple(t) | Value::List(t) => {
            limit(t.len())?;
            let mut out = Vec::with_capacity(t.len() * n);
            for _ in 0..n {
                out.extend(t.iter().cloned());
            }
            Ok(if matches!(seq, Value::Tuple(_)) {
                Value::Tuple(out.into())
            } else {
                Value::List(out.into())
            })
        }
        _ => Err(Fallback),
    }
}

pub(super) fn concat(a: &[Value], b: &[Value]) -> Vec<Value> {
    a.iter().chain(b.iter()).cloned().collect()
}

pub(super) fn binop(op: BinOp, a: &Value, b: &Value) -> Ev<Value> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return arith(op, x, y);
    }
    match op {
        BinOp::Add => match (a, b) {
            (Value::Str(x), Value::Str(y)) => {
                let mut s = String::with_capacity(x.len() + y.len());
                s.push_str(x);
                s.push_str(y);
                Ok(Value::str(&s))
            }
            (Value::Bytes(x), Value::Bytes(y)) => {
                Ok(Value::Bytes([&x[..], &y[..]].concat().into()))
            }
            (Value::Tuple(x), Value::Tuple(y)) => Ok(Value::Tuple(concat(x, y).into())),
            (Value::List(x), Value::List(y)) => Ok(Value::List(concat(x, y).into())),
            _ => Err(Fallback),
        },
        BinOp::Mul => match (index_int(a), index_int(b)) {
            (None, Some(n)) => repeat_seq(a, n),
            (Some(n), None) => repeat_seq(b, n),
            _ => Err(Fallback),
        },
        _ => Err(Fallback),
    }
}

pub(super) fn unary(op: UnOp, a: &Value) -> Ev<Value> {
    match (op, a) {
        (UnOp::Not, v) => Ok(Value::Bool(!truthy(v)?)),
        (UnOp::Neg, Value::Int(i)) => i.checked_neg().map(Value::Int).ok_or(Fallback),
        (UnOp::Neg, Value::Bool(b)) => Ok(Value::Int(-i64::from(*b))),
        (UnOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
        (UnOp::Pos, Value::Int(i)) => Ok(Value::Int(*i)),
        (UnOp::Pos, Value::Bool(b)) => Ok(Value::Int(i64::from(*b))),
        (UnOp::Pos, Value::Float(f)) => Ok(Value::Float(*f)),
        _ => Err(Fallback),
    }
}

pub(super) fn has_nan(v: &Value) -> bool {
    matches!(v, Value::Float(f) if f.is_nan())
}

/// Python's `a == b`. `nested` is true inside containers, where CPython first checks
/// identity: a NaN there could compare equal to itself, so we do not decide.
pub(super) fn py_eq(a: &Value, b: &Value, nested: bool) -> Ev<bool> {
    if matches!(a, Value::Host(_)) || matches!(b, Value::Host(_)) {
        return Err(Fallback);
    }
    if nested && (has_nan(a) || has_nan(b)) {
        return Err(Fallback);
    }
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return Ok(cmp_num(x, y) == Some(Ordering::Equal));
    }
    Ok(match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            if x.len() != y.len() {
                // Still refuse to decide on host objects that could raise.
                if x.iter().chain(y.iter()).any(contains_host) {
                    return Err(Fallback);
                }
                return Ok(false);
            }
            for (p, q) in x.iter().zip(y.iter()) {
                if !py_eq(p, q, true)? {
                    return Ok(false);
                }
            }
            true
        }
        _ => false,
    })
}

pub(super) fn contains_host(v: &Value) -> bool {
    match v {
        Value::Host(_) => true,
        Value::Tuple(t) | Value::List(t) | Value::Group(t) => t.iter().any(contains_host),
        _ => false,
    }
}

/// The order of `a` and `b` for `<`-style comparisons; `None` when unordered (NaN),
/// `Fallback` when Python would raise (or we cannot tell).
pub(super) fn py_order(a: &Value, b: &Value) -> Ev<Option<Ordering>> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return Ok(cmp_num(x, y));
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(Some(x.as_bytes().cmp(y.as_bytes()))), // UTF-8 keeps code point order
        (Value::Bytes(x), Value::Bytes(y)) => Ok(Some(x.cmp(y))),
        (Value::Tuple(x), Value::Tuple(y)) | (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                if !py_eq(p, q, true)? {
                    // Containers hold no NaN here (py_eq fell back), so the order is total.
                    return py_order(p, q);
                }
            }
            Ok(Some(x.len().cmp(&y.len())))
        }
        _ => Err(Fallback),
    }
}

pub(super) fn contains(hay: &Value, needle: &Value) -> Ev<bool> {
    match (hay, needle) {
        (Value::Str(h), Value::Str(n)) => Ok(h.contains(&**n)),
        (Value::Bytes(h), Value::Bytes(n)) => {
            Ok(n.is_empty() || h.windows(n.len()).any(|w| w == &n[..]))
        }
        (Value::Tuple(items), _) | (Value::List(items), _) => {
            for item in items.iter() {
                if py_eq(item, needle, true)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        _ => Err(Fallback),
    }
}

pub(super) fn compare(op: CmpOp, a: &Value, b: &Value) -> Ev<bool> {
    let ord = || py_order(a, b);
    Ok(match op {
        CmpOp::Eq => py_eq(a, b, false)?,
        CmpOp::Ne => !py_eq(a, b, false)?,
        CmpOp::Lt => ord()? == Some(Ordering::Less),
        CmpOp::Le => matches!(ord()?, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord()? == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord()?, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::In => contains(b, a)?,
        CmpOp::NotIn => !contains(b, a)?,
        // Only `x is None` parses; None never reaches the engine as a host object.
        CmpOp::Is | CmpOp::IsNot => {
            if matches!(a, Value::Host(_)) || matches!(b, Value::Host(_)) {
                return Err(Fallback);
            }
            let same = matches!(a, Value::None) && matches!(b, Value::None);
            same == (op == CmpOp::Is)
        }
    })
}

// ---------------------------------------------------------------------------------------
// Indexing

pub(super) fn norm_index(i: i64, len: usize) -> Ev<usize> {
    let len = i64::try_from(len).map_err(|_| Fallback)?;
    let j = if i < 0 { i + len } else { i };
    if (0..len).contains(&j) {
        Ok(j as usize)
    } else {
        Err(Fallback) // IndexError
    }
}

pub(super) fn getitem(c: &Value, i: &Value) -> Ev<Value> {
    let i = index_int(i).ok_or(Fallback)?;
    match c {
        Value::Tuple(t) | Value::List(t) => Ok(t[norm_index(i, t.len())?].clone()),
        Value::Bytes(b) => Ok(Value::Int(i64::from(b[norm_index(i, b.len())?]))),
        Value::Str(s) => {
            if s.is_ascii() {
                let j = norm_index(i, s.len())?;
                Ok(Value::str(&s[j..=j]))
            } else {
                let n = s.chars().count();
                let j = norm_index(i, n)?;
                let ch = s.chars().nth(j).ok_or(Fallback)?;
                Ok(Value::str(ch.encode_utf8(&mut [0; 4])))
            }
        }
        _ => Err(Fallback),
    }
}

/// The positions selected by `[start:stop:step]` on a sequence of `len` items
/// (CPython's `PySlice_Unpack` + `PySlice_AdjustIndices`).
pub(super) fn slice_positions(
    len: usize,
    start: &Value,
    stop: &Value,
    step: &Value,
) -> Ev<Vec<usize>> {
    let opt = |v: &Value| -> Ev<Option<i64>> {
        match v {
            Value::None => Ok(None),
            other => index_int(other).map(Some).ok_or(Fallback),
        }
    };
    let step = match opt(step)? {
        None => 1,
        Some(0) => return Err(Fallback), // ValueError: slice step cannot be zero
        Some(s) => s.max(-i64::MAX),
    };
    let len = i64::try_from(len).map_err(|_| Fallback)?;
    let adjust = |v: Option<i64>, default_fwd: i64, default_back: i64| -> i64 {
        match v {
            None => {
                if step < 0 {
                    default_back
                } else {
                    default_fwd
                }
            }
            Some(mut x) => {
                if x < 0 {
                    x += len;
                    if x < 0 {
                        x = if step < 0 { -1 } else { 0 };
                    }
                } else if x >= len {
                    x = if step < 0 { len - 1 } else { len };
                }
                x
            }
        }
    };
    let start = adjust(opt(start)?, 0, len - 1);
    let stop = adjust(opt(stop)?, len, -1);
    let count = if step < 0 {
        if stop < start {
            (start - stop - 1) / (-step) + 1
        } else {
            0
        }
    } else if start < stop {
        (stop - start - 1) / step + 1
    } else {
        0
    };
    Ok((0..count)
        .map(|k| (start as i128 + k as i128 * step as i128) as usize)
        .collect())
}

pub(super) fn slice(c: &Value, start: &Value, stop: &Value, step: &Value) -> Ev<Value> {
    match c {
        Value::Tuple(t) | Value::List(t) => {
            let out: Vec<Value> = slice_positions(t.len(), start, stop, step)?
                .into_iter()
                .map(|k| t[k].clone())
                .collect();
            Ok(if matches!(c, Value::Tuple(_)) {
                Value::Tuple(out.into())
            } else {
                Value::List(out.into())
            })
        }
        Value::Bytes(b) => {
            let out: Vec<u8> = slice_positions(b.len(), start, stop, step)?
                .into_iter()
                .map(|k| b[k])
                .collect();
            Ok(Value::Bytes(out.into()))
        }
        Value::Str(s) => {
            if s.is_ascii() {
                let bytes = s.as_bytes();
                let out: Vec<u8> = slice_positions(bytes.len(), start, stop, step)?
                    .into_iter()
                    .map(|k| bytes[k])
                    .collect();
                Ok(Value::str(std::str::from_utf8(&out).map_err(|_| Fallback)?))
            } else {
                let chars: Vec<char> = s.chars().collect();
                let out: String = slice_positions(chars.len(), start, stop, step)?
                    .into_iter()
                    .map(|k| chars[k])
                    .collect();
                Ok(Value::str(&out))
            }
        }
        _ => Err(Fallback),
    }
}
