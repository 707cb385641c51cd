//! `str` methods with Python's exact semantics.

use super::*;
// ---------------------------------------------------------------------------------------
// str methods

/// `str.isspace()` for one character (CPython's `Py_UNICODE_ISSPACE`).
pub(super) fn py_isspace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0b}'
            | '\u{0c}'
            | '\r'
            | '\u{1c}'..='\u{1f}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

pub(super) fn str_list(parts: Vec<&str>) -> Value {
    Value::List(parts.into_iter().map(Value::str).collect::<Vec<_>>().into())
}

/// `s.split()`: the pieces between runs of (Python's) whitespace.
pub fn split_whitespace_all(s: &str) -> Vec<&str> {
    split_whitespace(s, -1)
}

/// `s.split()` / `s.split(None, maxsplit)`, CPython's algorithm.
pub(super) fn split_whitespace(s: &str, maxsplit: i64) -> Vec<&str> {
    let mut out = Vec::new();
    let mut left = if maxsplit < 0 { i64::MAX } else { maxsplit };
    let skip_ws = |i: usize| {
        s[i..]
            .find(|c: char| !py_isspace(c))
            .map_or(s.len(), |k| i + k)
    };
    let skip_word = |i: usize| s[i..].find(py_isspace).map_or(s.len(), |k| i + k);
    let mut i = 0;
    while left > 0 {
        left -= 1;
        i = skip_ws(i);
        if i == s.len() {
            break;
        }
        let j = i;
        i = skip_word(i);
        out.push(&s[j..i]);
    }
    if i < s.len() {
        i = skip_ws(i);
        if i != s.len() {
            out.push(&s[i..]);
        }
    }
    out
}

/// `s.rsplit()` / `s.rsplit(None, maxsplit)`, CPython's algorithm.
pub(super) fn rsplit_whitespace(s: &str, maxsplit: i64) -> Vec<&str> {
    let mut out = Vec::new();
    let mut left = if maxsplit < 0 { i64::MAX } else { maxsplit };
    // Positions are byte ends: s[..end].
    let skip_ws = |end: usize| {
        s[..end]
            .rfind(|c: char| !py_isspace(c))
            .map_or(0, |k| k + char_len(s, k))
    };
    let skip_word = |end: usize| s[..end].rfind(py_isspace).map_or(0, |k| k + char_len(s, k));
    let mut end = s.len();
    while left > 0 {
        left -= 1;
        end = skip_ws(end);
        if end == 0 {
            break;
        }
        let j = end;
        end = skip_word(end);
        out.push(&s[end..j]);
    }
    if end > 0 {
        end = skip_ws(end);
        if end > 0 {
            out.push(&s[..end]);
        }
    }
    out.reverse();
    out
}

pub(super) fn char_len(s: &str, at: usize) -> usize {
    s[at..].chars().next().map_or(1, char::len_utf8)
}

pub(super) fn opt_sep(v: Option<&Value>) -> Ev<Option<&str>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::Str(s)) if !s.is_empty() => Ok(Some(s)),
        _ => Err(Fallback), // empty separator (ValueError) or a wrong type
    }
}

pub(super) fn opt_int(v: Option<&Value>, default: i64) -> Ev<i64> {
    match v {
        None => Ok(default),
        Some(x) => index_int(x).ok_or(Fallback),
    }
}

pub(super) fn strip_chars(v: Option<&Value>) -> Ev<Option<&str>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        _ => Err(Fallback),
    }
}

pub(super) fn method(m: Method, recv: &Value, args: &[Value]) -> Ev<Value> {
    let Value::Str(s) = recv else {
        return Err(Fallback);
    };
    let s: &str = s;
    let strip_pred = |chars: Option<&str>| {
        let chars = chars.map(str::to_owned);
        move |c: char| match &chars {
            None => py_isspace(c),
            Some(set) => set.contains(c),
        }
    };
    Ok(match m {
        Method::Split => {
            let sep = opt_sep(args.first())?;
            let maxsplit = opt_int(args.get(1), -1)?;
            match (sep, usize::try_from(maxsplit)) {
                (None, _) => str_list(split_whitespace(s, maxsplit)),
                (Some(sep), Err(_)) => str_list(s.split(sep).collect()),
                (Some(sep), Ok(n)) => str_list(s.splitn(n.saturating_add(1), sep).collect()),
            }
        }
        Method::RSplit => {
            let sep = opt_sep(args.first())?;
            let maxsplit = opt_int(args.get(1), -1)?;
            let mut parts: Vec<&str> = match (sep, usize::try_from(maxsplit)) {
                (None, _) => return Ok(str_list(rsplit_whitespace(s, maxsplit))),
                (Some(sep), Err(_)) => s.rsplit(sep).collect(),
                (Some(sep), Ok(n)) => s.rsplitn(n.saturating_add(1), sep).collect(),
            };
            parts.reverse();
            str_list(parts)
        }
        Method::Strip => Value::str(s.trim_matches(strip_pred(strip_chars(args.first())?))),
        Method::LStrip => Value::str(s.trim_start_matches(strip_pred(strip_chars(args.first())?))),
        Method::RStrip => Value::str(s.trim_end_matches(strip_pred(strip_chars(args.first())?))),
        Method::Lower | Method::Upper => {
            if !s.is_ascii() {
                return Err(Fallback);
            }
            Value::str(&if m == Method::Lower {
                s.to_ascii_lowercase()
            } else {
                s.to_ascii_uppercase()
            })
        }
        Method::StartsWith | Method::EndsWith => {
            let test = |p: &str| {
                if m == Method::StartsWith {
                    s.starts_with(p)
                } else {
                    s.ends_with(p)
                }
            };
            match &args[0] {
                Value::Str(p) => Value::Bool(test(p)),
                Value::Tuple(ps) => {
                    let mut hit = false;
                    for p in ps.iter() {
                        let Value::Str(p) = p else {
                            return Err(Fallback);
                        };
                        if test(p) {
                            hit = true;
                            break;
                        }
                    }
                    Value::Bool(hit)
                }
                _ => return Err(Fallback),
            }
        }
        Method::Replace => {
            let (Value::Str(old), Value::Str(new)) = (&args[0], &args[1]) else {
                return Err(Fallback);
            };
            let count = opt_int(args.get(2), -1)?;
            let out = match usize::try_from(count) {
                Ok(n) => s.replacen(&**old, new, n),
                Err(_) => s.replace(&**old, new),
            };
            if out.len() > MAX_REPEAT_LEN && out.len() > s.len() {
                return Err(Fallback);
            }
            Value::str(&out)
        }
        Method::IsDigit | Method::IsAlpha => {
            if !s.is_ascii() {
                return Err(Fallback);
            }
            let ok = if m == Method::IsDigit {
                s.bytes().all(|b| b.is_ascii_digit())
            } else {
                s.bytes().all(|b| b.is_ascii_alphabetic())
            };
            Value::Bool(!s.is_empty() && ok)
        }
        Method::Join => match &args[0] {
            Value::Tuple(items) | Value::List(items) => {
                let mut parts: Vec<&str> = Vec::with_capacity(items.len());
                for item in items.iter() {
                    let Value::Str(p) = item else {
                        return Err(Fallback);
                    };
                    parts.push(p);
                }
                Value::str(&parts.join(s))
            }
            Value::Str(chars) => {
                let mut out = String::with_capacity(chars.len() * (s.len() + 1));
                for (k, c) in chars.chars().enumerate() {
                    if k > 0 {
                        out.push_str(s);
                    }
                    out.push(c);
                }
                Value::str(&out)
            }
            _ => return Err(Fallback),
        },
    })
}
