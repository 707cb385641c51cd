//! Native evaluation of small, provably pure Python functions.
//!
//! `ferrostream._analyze` recognises lambdas such as `lambda w: (w, 1)` or `lambda a, b: a + b`
//! from their bytecode and encodes them as nested tuples (see that module for the encoding).
//! [`Expr::from_value`] parses that encoding and [`Expr::eval`] runs it on engine values
//! without Python.
//!
//! The rule is: `eval` either returns exactly what CPython would return for the same inputs,
//! or [`Fallback`], meaning "compute this in Python". Everything Python would raise for
//! (type errors, division by zero, index errors, int overflow past 64 bits, ...) and
//! everything whose exact Python result we are not sure of (non-ASCII case mapping, host
//! objects, NaN inside containers where CPython's identity shortcut matters) falls back.

use std::cmp::Ordering;

use crate::engine::error::{EngineError, Result};
use crate::engine::value::{float_repr, Value};

/// "This input cannot be handled natively: compute the step in Python instead."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback;

type Ev<T> = std::result::Result<T, Fallback>;

/// Sequence results larger than this (in items or bytes) are left to Python.
const MAX_REPEAT_LEN: usize = 1 << 26;

/// A parsed expression over positional arguments.
#[derive(Debug, Clone)]
pub struct Expr {
    node: Node,
    arity: usize,
}

#[derive(Debug, Clone)]
enum Node {
    Arg(usize),
    Const(Value),
    Tuple(Vec<Node>),
    List(Vec<Node>),
    GetItem(Box<Node>, Box<Node>),
    /// `container[start:stop:step]`
    Slice(Box<[Node; 4]>),
    BinOp(BinOp, Box<Node>, Box<Node>),
    Unary(UnOp, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Method(Method, Box<Node>, Vec<Node>),
    Call(Builtin, Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    TrueDiv,
    FloorDiv,
    Mod,
    Pow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnOp {
    Neg,
    Pos,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Is,
    IsNot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Split,
    RSplit,
    Strip,
    LStrip,
    RStrip,
    Lower,
    Upper,
    StartsWith,
    EndsWith,
    Replace,
    IsDigit,
    IsAlpha,
    Join,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Len,
    Str,
    Int,
    Float,
    Abs,
    Bool,
    Min,
    Max,
    Tuple,
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument(format!("invalid native expression: {}", msg.into()))
}

fn items_of(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Tuple(t) => Some(t),
        _ => None,
    }
}

fn str_of(v: &Value) -> Option<&str> {
    match v {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

fn valid_const(v: &Value) -> bool {
    match v {
        Value::None
        | Value::Bool(_)
        | Value::Int(_)
        | Value::Float(_)
        | Value::Str(_)
        | Value::Bytes(_) => true,
        Value::Tuple(items) => items.iter().all(valid_const),
        Value::List(_) | Value::Host(_) => false,
    }
}

impl Expr {
    /// Parse the tuple encoding produced by `ferrostream._analyze`.
    pub fn from_value(v: &Value) -> Result<Expr> {
        let node = parse(v, 0)?;
        let arity = node.max_arg().map_or(0, |m| m + 1);
        Ok(Expr { node, arity })
    }

    /// How many positional arguments the expression reads (highest `("arg", i)` plus one);
    /// `eval` must be given at least that many.
    pub fn arity(&self) -> usize {
        self.arity
    }

    /// Evaluate on the given arguments: Python's result, or [`Fallback`].
    pub fn eval(&self, args: &[&Value]) -> std::result::Result<Value, Fallback> {
        if args.len() < self.arity {
            return Err(Fallback);
        }
        self.node.eval(args)
    }
}

/// What a split on the argument itself splits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitOn<'e> {
    /// `x.split()`: runs of whitespace, as Python defines it.
    Whitespace,
    /// `x.split(sep)` with a non-empty `sep`.
    Sep(&'e str),
}

/// Shapes the engine runs as tight loops when steps are fused (see `engine::step`).
impl Expr {
    /// `arg0.split()` or `arg0.split(sep)` with a constant separator and no maxsplit.
    pub fn as_split_of_arg0(&self) -> Option<SplitOn<'_>> {
        match &self.node {
            Node::Method(Method::Split, recv, args) if matches!(**recv, Node::Arg(0)) => {
                match args.as_slice() {
                    [] | [Node::Const(Value::None)] => Some(SplitOn::Whitespace),
                    [Node::Const(Value::Str(sep))] if !sep.is_empty() => Some(SplitOn::Sep(sep)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The two items of a two-item tuple expression, as expressions of their own.
    pub fn pair_parts(&self) -> Option<(Expr, Expr)> {
        match &self.node {
            Node::Tuple(items) if items.len() == 2 => Some((
                Expr::from_node(items[0].clone()),
                Expr::from_node(items[1].clone()),
            )),
            _ => None,
        }
    }

    /// `arg0 + arg1` (as in `lambda a, b: a + b` and `operator.add`).
    pub fn is_add_of_args(&self) -> bool {
        matches!(&self.node, Node::BinOp(BinOp::Add, a, b)
            if matches!(**a, Node::Arg(0)) && matches!(**b, Node::Arg(1)))
    }

    /// Is this just the first argument?
    pub fn is_arg0(&self) -> bool {
        matches!(self.node, Node::Arg(0))
    }

    fn from_node(node: Node) -> Expr {
        let arity = node.max_arg().map_or(0, |m| m + 1);
        Expr { node, arity }
    }
}

const MAX_DEPTH: usize = 200;

fn parse_list(v: &Value, depth: usize) -> Result<Vec<Node>> {
    let items = items_of(v).ok_or_else(|| bad("expected a tuple of expressions"))?;
    items.iter().map(|e| parse(e, depth + 1)).collect()
}

fn parse(v: &Value, depth: usize) -> Result<Node> {
    if depth > MAX_DEPTH {
        return Err(bad("too deeply nested"));
    }
    let items =
        items_of(v).ok_or_else(|| bad(format!("expected a tuple, got {}", v.type_name())))?;
    let tag = items
        .first()
        .and_then(str_of)
        .ok_or_else(|| bad("missing tag"))?;
    let want = |n: usize| -> Result<()> {
        if items.len() == n {
            Ok(())
        } else {
            Err(bad(format!(
                "{tag:?} takes {} fields, got {}",
                n - 1,
                items.len() - 1
            )))
        }
    };
    let sub = |i: usize| parse(&items[i], depth + 1);
    Ok(match tag {
        "arg" => {
            want(2)?;
            match items[1] {
                Value::Int(i) if (0..=255).contains(&i) => Node::Arg(i as usize),
                _ => return Err(bad("bad argument index")),
            }
        }
        "const" => {
            want(2)?;
            if !valid_const(&items[1]) {
                return Err(bad(format!(
                    "unsupported constant of type {}",
                    items[1].type_name()
                )));
            }
            Node::Const(items[1].clone())
        }
        "tuple" => {
            want(2)?;
            Node::Tuple(parse_list(&items[1], depth)?)
        }
        "list" => {
            want(2)?;
            Node::List(parse_list(&items[1], depth)?)
        }
        "getitem" => {
            want(3)?;
            let container = sub(1)?;
            let index = &items[2];
            let is_slice =
                items_of(index).and_then(|t| t.first()).and_then(str_of) == Some("slice");
            if is_slice {
                let s = items_of(index).unwrap_or(&[]);
                if s.len() != 4 {
                    return Err(bad("\"slice\" takes 3 fields"));
                }
                let p = |i: usize| parse(&s[i], depth + 2);
                Node::Slice(Box::new([container, p(1)?, p(2)?, p(3)?]))
            } else {
                Node::GetItem(Box::new(container), Box::new(sub(2)?))
            }
        }
        "binop" => {
            want(4)?;
            let op = match str_of(&items[1]) {
                Some("+") => BinOp::Add,
                Some("-") => BinOp::Sub,
                Some("*") => BinOp::Mul,
                Some("/") => BinOp::TrueDiv,
                Some("//") => BinOp::FloorDiv,
                Some("%") => BinOp::Mod,
                Some("**") => BinOp::Pow,
                _ => {
                    return Err(bad(format!(
                        "unknown binary operator {}",
                        items[1].repr_lossy()
                    )))
                }
            };
            Node::BinOp(op, Box::new(sub(2)?), Box::new(sub(3)?))
        }
        "unary" => {
            want(3)?;
            let op = match str_of(&items[1]) {
                Some("-") => UnOp::Neg,
                Some("+") => UnOp::Pos,
                Some("not") => UnOp::Not,
                _ => {
                    return Err(bad(format!(
                        "unknown unary operator {}",
                        items[1].repr_lossy()
                    )))
                }
            };
            Node::Unary(op, Box::new(sub(2)?))
        }
        "cmp" => {
            want(4)?;
            let op = match str_of(&items[1]) {
                Some("==") => CmpOp::Eq,
                Some("!=") => CmpOp::Ne,
                Some("<") => CmpOp::Lt,
                Some("<=") => CmpOp::Le,
                Some(">") => CmpOp::Gt,
                Some(">=") => CmpOp::Ge,
                Some("in") => CmpOp::In,
                Some("not in") => CmpOp::NotIn,
                Some("is") => CmpOp::Is,
                Some("is not") => CmpOp::IsNot,
                _ => return Err(bad(format!("unknown comparison {}", items[1].repr_lossy()))),
            };
            let (a, b) = (sub(2)?, sub(3)?);
            if matches!(op, CmpOp::Is | CmpOp::IsNot) {
                let none = |n: &Node| matches!(n, Node::Const(Value::None));
                if !none(&a) && !none(&b) {
                    return Err(bad("\"is\" is only supported against None"));
                }
            }
            Node::Cmp(op, Box::new(a), Box::new(b))
        }
        "cond" => {
            want(4)?;
            Node::Cond(Box::new(sub(1)?), Box::new(sub(2)?), Box::new(sub(3)?))
        }
        "and" | "or" => {
            want(3)?;
            let (a, b) = (Box::new(sub(1)?), Box::new(sub(2)?));
            if tag == "and" {
                Node::And(a, b)
            } else {
                Node::Or(a, b)
            }
        }
        "method" => {
            want(4)?;
            let name = str_of(&items[1]).ok_or_else(|| bad("method name must be a str"))?;
            let (m, lo, hi) = match name {
                "split" => (Method::Split, 0, 2),
                "rsplit" => (Method::RSplit, 0, 2),
                "strip" => (Method::Strip, 0, 1),
                "lstrip" => (Method::LStrip, 0, 1),
                "rstrip" => (Method::RStrip, 0, 1),
                "lower" => (Method::Lower, 0, 0),
                "upper" => (Method::Upper, 0, 0),
                "startswith" => (Method::StartsWith, 1, 1),
                "endswith" => (Method::EndsWith, 1, 1),
                "replace" => (Method::Replace, 2, 3),
                "isdigit" => (Method::IsDigit, 0, 0),
                "isalpha" => (Method::IsAlpha, 0, 0),
                "join" => (Method::Join, 1, 1),
                other => return Err(bad(format!("unsupported method {other:?}"))),
            };
            let args = parse_list(&items[3], depth)?;
            if args.len() < lo || args.len() > hi {
                return Err(bad(format!("wrong number of arguments for {name}()")));
            }
            Node::Method(m, Box::new(sub(2)?), args)
        }
        "call" => {
            want(3)?;
            let name = str_of(&items[1]).ok_or_else(|| bad("function name must be a str"))?;
            let (f, lo, hi) = match name {
                "len" => (Builtin::Len, 1, 1),
                "str" => (Builtin::Str, 1, 1),
                "int" => (Builtin::Int, 1, 1),
                "float" => (Builtin::Float, 1, 1),
                "abs" => (Builtin::Abs, 1, 1),
                "bool" => (Builtin::Bool, 1, 1),
                "min" => (Builtin::Min, 1, usize::MAX),
                "max" => (Builtin::Max, 1, usize::MAX),
                "tuple" => (Builtin::Tuple, 1, 1),
                other => return Err(bad(format!("unsupported function {other:?}"))),
            };
            let args = parse_list(&items[2], depth)?;
            if args.len() < lo || args.len() > hi {
                return Err(bad(format!("wrong number of arguments for {name}()")));
            }
            Node::Call(f, args)
        }
        other => return Err(bad(format!("unknown tag {other:?}"))),
    })
}

impl Node {
    fn max_arg(&self) -> Option<usize> {
        let many = |ns: &[Node]| ns.iter().filter_map(Node::max_arg).max();
        match self {
            Node::Arg(i) => Some(*i),
            Node::Const(_) => None,
            Node::Tuple(ns) | Node::List(ns) | Node::Call(_, ns) => many(ns),
            Node::Slice(parts) => many(&parts[..]),
            Node::GetItem(a, b)
            | Node::BinOp(_, a, b)
            | Node::Cmp(_, a, b)
            | Node::And(a, b)
            | Node::Or(a, b) => a.max_arg().max(b.max_arg()),
            Node::Unary(_, a) => a.max_arg(),
            Node::Cond(a, b, c) => a.max_arg().max(b.max_arg()).max(c.max_arg()),
            Node::Method(_, recv, ns) => recv.max_arg().max(many(ns)),
        }
    }

    fn eval(&self, args: &[&Value]) -> Ev<Value> {
        match self {
            Node::Arg(i) => args.get(*i).map(|v| (*v).clone()).ok_or(Fallback),
            Node::Const(v) => Ok(v.clone()),
            Node::Tuple(ns) => Ok(Value::Tuple(eval_all(ns, args)?.into())),
            Node::List(ns) => Ok(Value::List(eval_all(ns, args)?.into())),
            Node::GetItem(c, i) => getitem(&c.eval(args)?, &i.eval(args)?),
            Node::Slice(parts) => {
                let [c, start, stop, step] = &**parts;
                slice(
                    &c.eval(args)?,
                    &start.eval(args)?,
                    &stop.eval(args)?,
                    &step.eval(args)?,
                )
            }
            Node::BinOp(op, a, b) => binop(*op, &a.eval(args)?, &b.eval(args)?),
            Node::Unary(op, a) => unary(*op, &a.eval(args)?),
            Node::Cmp(op, a, b) => compare(*op, &a.eval(args)?, &b.eval(args)?).map(Value::Bool),
            Node::Cond(t, a, b) => {
                if truthy(&t.eval(args)?)? {
                    a.eval(args)
                } else {
                    b.eval(args)
                }
            }
            Node::And(a, b) => {
                let x = a.eval(args)?;
                if truthy(&x)? {
                    b.eval(args)
                } else {
                    Ok(x)
                }
            }
            Node::Or(a, b) => {
                let x = a.eval(args)?;
                if truthy(&x)? {
                    Ok(x)
                } else {
                    b.eval(args)
                }
            }
            Node::Method(m, recv, ns) => {
                let r = recv.eval(args)?;
                let vals = eval_all(ns, args)?;
                method(*m, &r, &vals)
            }
            Node::Call(f, ns) => call(*f, &eval_all(ns, args)?),
        }
    }
}

fn eval_all(ns: &[Node], args: &[&Value]) -> Ev<Vec<Value>> {
    ns.iter().map(|n| n.eval(args)).collect()
}

fn truthy(v: &Value) -> Ev<bool> {
    v.truthy().ok_or(Fallback)
}

// ---------------------------------------------------------------------------------------
// Numbers

#[derive(Clone, Copy, Debug)]
enum Num {
    I(i64),
    F(f64),
}

fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::I(i64::from(*b))),
        Value::Int(i) => Some(Num::I(*i)),
        Value::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

/// An int usable as an index or repeat count (`bool` included, as in Python).
fn index_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

impl Num {
    fn to_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64, // round-half-even, as Python's int -> float
            Num::F(f) => f,
        }
    }
}

const TWO_63: f64 = 9_223_372_036_854_775_808.0;
/// Ints of at most this magnitude convert to `f64` exactly.
const EXACT_F64_INT: i64 = 1 << 53;

/// Exact comparison of an int with a float (None if the float is NaN), as Python does.
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
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

fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        (Num::F(x), Num::F(y)) => x.partial_cmp(&y),
        (Num::I(x), Num::F(y)) => cmp_int_float(x, y),
        (Num::F(x), Num::I(y)) => cmp_int_float(y, x).map(Ordering::reverse),
    }
}

fn int_floordiv(x: i64, y: i64) -> Ev<i64> {
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

fn int_mod(x: i64, y: i64) -> Ev<i64> {
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
fn float_divmod(vx: f64, wx: f64) -> (f64, f64) {
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

fn arith(op: BinOp, a: Num, b: Num) -> Ev<Value> {
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

fn repeat_seq(seq: &Value, count: i64) -> Ev<Value> {
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

fn concat(a: &[Value], b: &[Value]) -> Vec<Value> {
    a.iter().chain(b.iter()).cloned().collect()
}

fn binop(op: BinOp, a: &Value, b: &Value) -> Ev<Value> {
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

fn unary(op: UnOp, a: &Value) -> Ev<Value> {
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

fn has_nan(v: &Value) -> bool {
    matches!(v, Value::Float(f) if f.is_nan())
}

/// Python's `a == b`. `nested` is true inside containers, where CPython first checks
/// identity: a NaN there could compare equal to itself, so we do not decide.
fn py_eq(a: &Value, b: &Value, nested: bool) -> Ev<bool> {
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

fn contains_host(v: &Value) -> bool {
    match v {
        Value::Host(_) => true,
        Value::Tuple(t) | Value::List(t) => t.iter().any(contains_host),
        _ => false,
    }
}

/// The order of `a` and `b` for `<`-style comparisons; `None` when unordered (NaN),
/// `Fallback` when Python would raise (or we cannot tell).
fn py_order(a: &Value, b: &Value) -> Ev<Option<Ordering>> {
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

fn contains(hay: &Value, needle: &Value) -> Ev<bool> {
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

fn compare(op: CmpOp, a: &Value, b: &Value) -> Ev<bool> {
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

fn norm_index(i: i64, len: usize) -> Ev<usize> {
    let len = i64::try_from(len).map_err(|_| Fallback)?;
    let j = if i < 0 { i + len } else { i };
    if (0..len).contains(&j) {
        Ok(j as usize)
    } else {
        Err(Fallback) // IndexError
    }
}

fn getitem(c: &Value, i: &Value) -> Ev<Value> {
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
fn slice_positions(len: usize, start: &Value, stop: &Value, step: &Value) -> Ev<Vec<usize>> {
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

fn slice(c: &Value, start: &Value, stop: &Value, step: &Value) -> Ev<Value> {
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

// ---------------------------------------------------------------------------------------
// str methods

/// `str.isspace()` for one character (CPython's `Py_UNICODE_ISSPACE`).
fn py_isspace(c: char) -> bool {
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

fn str_list(parts: Vec<&str>) -> Value {
    Value::List(parts.into_iter().map(Value::str).collect::<Vec<_>>().into())
}

/// `s.split()`: the pieces between runs of (Python's) whitespace.
pub fn split_whitespace_all(s: &str) -> Vec<&str> {
    split_whitespace(s, -1)
}

/// `s.split()` / `s.split(None, maxsplit)`, CPython's algorithm.
fn split_whitespace(s: &str, maxsplit: i64) -> Vec<&str> {
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
fn rsplit_whitespace(s: &str, maxsplit: i64) -> Vec<&str> {
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

fn char_len(s: &str, at: usize) -> usize {
    s[at..].chars().next().map_or(1, char::len_utf8)
}

fn opt_sep(v: Option<&Value>) -> Ev<Option<&str>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::Str(s)) if !s.is_empty() => Ok(Some(s)),
        _ => Err(Fallback), // empty separator (ValueError) or a wrong type
    }
}

fn opt_int(v: Option<&Value>, default: i64) -> Ev<i64> {
    match v {
        None => Ok(default),
        Some(x) => index_int(x).ok_or(Fallback),
    }
}

fn strip_chars(v: Option<&Value>) -> Ev<Option<&str>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        _ => Err(Fallback),
    }
}

fn method(m: Method, recv: &Value, args: &[Value]) -> Ev<Value> {
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

// ---------------------------------------------------------------------------------------
// Builtins

/// `str(v)` for values whose text we produce exactly like CPython.
fn safe_repr(v: &Value) -> bool {
    match v {
        Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Bytes(_) => true,
        Value::Str(s) => s.is_ascii(),
        Value::Tuple(t) | Value::List(t) => t.iter().all(safe_repr),
        Value::Host(_) => false,
    }
}

/// `int(s)` for a str: optional whitespace, sign, ASCII digits with single underscores
/// between digits. Anything else (including non-ASCII digits) falls back.
fn parse_py_int(s: &str) -> Ev<i64> {
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
fn parse_py_float(s: &str) -> Ev<f64> {
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

fn seq_items(v: &Value) -> Ev<Vec<Value>> {
    match v {
        Value::Tuple(t) | Value::List(t) => Ok(t.to_vec()),
        Value::Str(s) => Ok(s
            .chars()
            .map(|c| Value::str(c.encode_utf8(&mut [0; 4])))
            .collect()),
        Value::Bytes(b) => Ok(b.iter().map(|&x| Value::Int(i64::from(x))).collect()),
        _ => Err(Fallback),
    }
}

fn call(f: Builtin, args: &[Value]) -> Ev<Value> {
    let a = &args[0];
    Ok(match f {
        Builtin::Len => {
            let n = match a {
                Value::Str(s) => s.chars().count(),
                Value::Bytes(b) => b.len(),
                Value::Tuple(t) | Value::List(t) => t.len(),
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
        Builtin::Tuple => match a {
            Value::Tuple(_) => a.clone(),
            other => Value::Tuple(seq_items(other)?.into()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::str(x)
    }
    fn i(x: i64) -> Value {
        Value::Int(x)
    }
    fn f(x: f64) -> Value {
        Value::Float(x)
    }
    fn t(items: Vec<Value>) -> Value {
        Value::Tuple(items.into())
    }
    fn l(items: Vec<Value>) -> Value {
        Value::List(items.into())
    }
    fn strs(items: &[&str]) -> Value {
        l(items.iter().map(|x| s(x)).collect())
    }
    fn arg(k: i64) -> Value {
        t(vec![s("arg"), i(k)])
    }
    fn cnst(v: Value) -> Value {
        t(vec![s("const"), v])
    }
    fn binop_e(op: &str, a: Value, b: Value) -> Value {
        t(vec![s("binop"), s(op), a, b])
    }
    fn cmp_e(op: &str, a: Value, b: Value) -> Value {
        t(vec![s("cmp"), s(op), a, b])
    }
    fn method_e(name: &str, recv: Value, args: Vec<Value>) -> Value {
        t(vec![s("method"), s(name), recv, t(args)])
    }
    fn call_e(name: &str, args: Vec<Value>) -> Value {
        t(vec![s("call"), s(name), t(args)])
    }

    fn ev(e: &Value, args: &[Value]) -> std::result::Result<Value, Fallback> {
        let x = Expr::from_value(e).expect("valid encoding");
        let refs: Vec<&Value> = args.iter().collect();
        x.eval(&refs)
    }

    /// Evaluate and compare by repr (so `1` and `1.0` or `True` differ).
    fn check(e: &Value, args: &[Value], want: &Value) {
        let got =
            ev(e, args).unwrap_or_else(|_| panic!("unexpected fallback for {e:?} on {args:?}"));
        assert_eq!(got.repr_lossy(), want.repr_lossy(), "{e:?} on {args:?}");
    }

    fn falls_back(e: &Value, args: &[Value]) {
        assert_eq!(
            ev(e, args).map(|v| v.repr_lossy()),
            Err(Fallback),
            "{e:?} on {args:?}"
        );
    }

    #[test]
    fn seed_lambdas() {
        let split = method_e("split", arg(0), vec![cnst(s(" "))]);
        check(&split, &[s("a b  c")], &strs(&["a", "b", "", "c"]));
        check(&split, &[s("")], &strs(&[""]));
        check(&split, &[s(" ")], &strs(&["", ""]));
        let pair = t(vec![s("tuple"), t(vec![arg(0), cnst(i(1))])]);
        check(&pair, &[s("w")], &t(vec![s("w"), i(1)]));
        let add = binop_e("+", arg(0), arg(1));
        assert_eq!(Expr::from_value(&add).unwrap().arity(), 2);
        check(&add, &[i(2), i(3)], &i(5));
        check(&add, &[Value::Bool(true), Value::Bool(true)], &i(2));
        check(&add, &[i(1), f(0.5)], &f(1.5));
        check(&add, &[s("a"), s("b")], &s("ab"));
        falls_back(&add, &[s("a"), i(1)]);
        falls_back(&add, &[i(i64::MAX), i(1)]);
        let swap = t(vec![
            s("tuple"),
            t(vec![
                t(vec![s("getitem"), arg(0), cnst(i(1))]),
                t(vec![s("getitem"), arg(0), cnst(i(0))]),
            ]),
        ]);
        check(&swap, &[t(vec![s("k"), i(2)])], &t(vec![i(2), s("k")]));
        falls_back(&swap, &[t(vec![s("k")])]);
    }

    #[test]
    fn whitespace_split_follows_python() {
        let split0 = method_e("split", arg(0), vec![]);
        check(&split0, &[s("  a \t b\n\x1cc  ")], &strs(&["a", "b", "c"]));
        check(&split0, &[s("")], &strs(&[]));
        check(&split0, &[s("   ")], &strs(&[]));
        check(
            &split0,
            &[s("a\u{3000}b\u{a0}c\u{200b}d")],
            &strs(&["a", "b", "c\u{200b}d"]),
        );
        let split1 = method_e("split", arg(0), vec![cnst(Value::None), cnst(i(1))]);
        check(&split1, &[s("  a  b  c  ")], &strs(&["a", "b  c  "]));
        check(&split1, &[s("  a   ")], &strs(&["a"]));
        let rsplit1 = method_e("rsplit", arg(0), vec![cnst(Value::None), cnst(i(1))]);
        check(&rsplit1, &[s("  a  b  c  ")], &strs(&["  a  b", "c"]));
        check(&rsplit1, &[s("  é  ")], &strs(&["é"]));
        let rsplit = method_e("rsplit", arg(0), vec![cnst(s("aa"))]);
        check(&rsplit, &[s("aaa")], &strs(&["a", ""]));
        let splitn = method_e("split", arg(0), vec![cnst(s(",")), cnst(i(1))]);
        check(&splitn, &[s("a,b,c")], &strs(&["a", "b,c"]));
        let split0n = method_e("split", arg(0), vec![cnst(s(",")), cnst(i(0))]);
        check(&split0n, &[s("a,b")], &strs(&["a,b"]));
        falls_back(&method_e("split", arg(0), vec![cnst(s(""))]), &[s("abc")]);
        falls_back(&split0, &[i(1)]);
    }

    #[test]
    fn other_str_methods() {
        check(
            &method_e("strip", arg(0), vec![]),
            &[s(" \t x y \n")],
            &s("x y"),
        );
        check(
            &method_e("rstrip", arg(0), vec![cnst(s("xy"))]),
            &[s("axyyx")],
            &s("a"),
        );
        check(&method_e("lower", arg(0), vec![]), &[s("AbC")], &s("abc"));
        falls_back(&method_e("lower", arg(0), vec![]), &[s("ÀB")]);
        check(
            &method_e("replace", arg(0), vec![cnst(s("")), cnst(s("-"))]),
            &[s("abc")],
            &s("-a-b-c-"),
        );
        check(
            &method_e(
                "replace",
                arg(0),
                vec![cnst(s("")), cnst(s("-")), cnst(i(2))],
            ),
            &[s("abc")],
            &s("-a-bc"),
        );
        check(
            &method_e("isdigit", arg(0), vec![]),
            &[s("")],
            &Value::Bool(false),
        );
        check(
            &method_e("isdigit", arg(0), vec![]),
            &[s("042")],
            &Value::Bool(true),
        );
        check(
            &method_e("startswith", arg(0), vec![cnst(t(vec![s("x"), s("a")]))]),
            &[s("abc")],
            &Value::Bool(true),
        );
        check(
            &method_e("join", cnst(s(", ")), vec![arg(0)]),
            &[strs(&["a", "b"])],
            &s("a, b"),
        );
        check(
            &method_e("join", cnst(s("-")), vec![arg(0)]),
            &[s("héllo")],
            &s("h-é-l-l-o"),
        );
    }

    #[test]
    fn floor_division_and_modulo_signs() {
        let fd = binop_e("//", arg(0), arg(1));
        let md = binop_e("%", arg(0), arg(1));
        for (x, y, q, r) in [
            (7, 2, 3, 1),
            (-7, 2, -4, 1),
            (7, -2, -4, -1),
            (-7, -2, 3, -1),
            (6, -3, -2, 0),
        ] {
            check(&fd, &[i(x), i(y)], &i(q));
            check(&md, &[i(x), i(y)], &i(r));
        }
        check(&md, &[i(i64::MIN), i(-1)], &i(0));
        falls_back(&fd, &[i(i64::MIN), i(-1)]);
        falls_back(&fd, &[i(1), i(0)]);
        falls_back(&md, &[f(1.0), f(0.0)]);
        check(&md, &[f(-7.5), i(2)], &f(0.5));
        check(&fd, &[f(-7.5), i(2)], &f(-4.0));
        check(&md, &[f(7.0), f(-7.0)], &f(-0.0));
        check(&fd, &[f(-0.5), f(1.0)], &f(-1.0));
        check(&fd, &[f(0.0), f(-1.0)], &f(-0.0));
        check(&md, &[i(-3), f(1.5)], &f(0.0));
        let div = binop_e("/", arg(0), arg(1));
        check(&div, &[i(1), i(2)], &f(0.5));
        check(&div, &[i(4), i(2)], &f(2.0));
        falls_back(&div, &[i(1), i(0)]);
        let pow = binop_e("**", arg(0), arg(1));
        check(&pow, &[i(2), i(10)], &i(1024));
        check(&pow, &[i(-1), i(i64::MAX)], &i(-1));
        falls_back(&pow, &[i(2), i(64)]);
        falls_back(&pow, &[i(2), i(-1)]);
        falls_back(&pow, &[f(-8.0), f(0.5)]);
        check(&pow, &[f(2.0), i(3)], &f(8.0));
    }

    #[test]
    fn overflow_falls_back() {
        falls_back(&binop_e("*", arg(0), arg(1)), &[i(i64::MAX), i(2)]);
        falls_back(&binop_e("-", arg(0), arg(1)), &[i(i64::MIN), i(1)]);
        falls_back(&t(vec![s("unary"), s("-"), arg(0)]), &[i(i64::MIN)]);
        falls_back(&call_e("abs", vec![arg(0)]), &[i(i64::MIN)]);
        falls_back(&call_e("int", vec![arg(0)]), &[s("99999999999999999999")]);
        falls_back(&call_e("int", vec![arg(0)]), &[f(1e19)]);
        falls_back(&call_e("int", vec![arg(0)]), &[f(f64::NAN)]);
    }

    #[test]
    fn comparisons_between_int_and_float() {
        let lt = cmp_e("<", arg(0), arg(1));
        let eq = cmp_e("==", arg(0), arg(1));
        check(&eq, &[i(1), f(1.0)], &Value::Bool(true));
        check(&eq, &[Value::Bool(true), i(1)], &Value::Bool(true));
        check(
            &eq,
            &[i((1 << 53) + 1), f(9007199254740992.0)],
            &Value::Bool(false),
        );
        check(
            &lt,
            &[
                i(9007199254740992),
                f(f64::from_bits(9007199254740992.0_f64.to_bits() + 1)),
            ],
            &Value::Bool(true),
        );
        check(&lt, &[i(i64::MAX), f(TWO_63)], &Value::Bool(true));
        check(&lt, &[i(1), f(f64::NAN)], &Value::Bool(false));
        check(
            &cmp_e(">=", arg(0), arg(1)),
            &[f(f64::NAN), i(1)],
            &Value::Bool(false),
        );
        check(
            &cmp_e("!=", arg(0), arg(1)),
            &[f(f64::NAN), f(f64::NAN)],
            &Value::Bool(true),
        );
        check(&lt, &[f(-0.5), i(0)], &Value::Bool(true));
        check(&lt, &[i(-1), f(-0.5)], &Value::Bool(true));
        check(
            &lt,
            &[t(vec![i(1), s("b")]), t(vec![i(1), s("c")])],
            &Value::Bool(true),
        );
        check(
            &lt,
            &[t(vec![i(1)]), t(vec![f(1.0), Value::None])],
            &Value::Bool(true),
        );
        falls_back(&lt, &[i(1), s("a")]);
        falls_back(&lt, &[t(vec![i(1)]), l(vec![i(2)])]);
        check(&eq, &[t(vec![i(1)]), l(vec![i(1)])], &Value::Bool(false));
        check(&eq, &[s("1"), i(1)], &Value::Bool(false));
        falls_back(&eq, &[t(vec![f(f64::NAN)]), t(vec![f(f64::NAN)])]);
        check(&lt, &[s("Z"), s("a")], &Value::Bool(true));
        check(&lt, &[s("\u{ffff}"), s("\u{10000}")], &Value::Bool(true));
    }

    #[test]
    fn membership() {
        let inn = cmp_e("in", arg(0), arg(1));
        check(&inn, &[s("b"), s("abc")], &Value::Bool(true));
        check(&inn, &[s(""), s("")], &Value::Bool(true));
        falls_back(&inn, &[i(1), s("abc")]);
        check(&inn, &[i(1), t(vec![s("x"), f(1.0)])], &Value::Bool(true));
        check(
            &cmp_e("not in", arg(0), arg(1)),
            &[i(3), l(vec![i(1), i(2)])],
            &Value::Bool(true),
        );
        check(
            &inn,
            &[
                Value::Bytes(b"bc"[..].into()),
                Value::Bytes(b"abc"[..].into()),
            ],
            &Value::Bool(true),
        );
        let is_none = cmp_e("is", arg(0), cnst(Value::None));
        check(&is_none, &[Value::None], &Value::Bool(true));
        check(&is_none, &[i(0)], &Value::Bool(false));
        assert!(Expr::from_value(&cmp_e("is", arg(0), cnst(i(1)))).is_err());
    }

    #[test]
    fn indexing_and_slicing() {
        let gi = t(vec![s("getitem"), arg(0), arg(1)]);
        check(&gi, &[s("héllo"), i(-4)], &s("é"));
        check(&gi, &[s("abc"), Value::Bool(true)], &s("b"));
        check(&gi, &[Value::Bytes(b"AB"[..].into()), i(1)], &i(66));
        falls_back(&gi, &[s("abc"), i(3)]);
        falls_back(&gi, &[t(vec![]), i(0)]);
        let sl = |a: Value, b: Value, c: Value| {
            t(vec![s("getitem"), arg(0), t(vec![s("slice"), a, b, c])])
        };
        let none = || cnst(Value::None);
        check(&sl(cnst(i(1)), none(), none()), &[s("abc")], &s("bc"));
        check(&sl(none(), none(), cnst(i(-1))), &[s("héllo")], &s("olléh"));
        check(
            &sl(cnst(i(-2)), none(), none()),
            &[t(vec![i(1), i(2), i(3)])],
            &t(vec![i(2), i(3)]),
        );
        check(
            &sl(cnst(i(5)), cnst(i(1)), cnst(i(-2))),
            &[l((0..8).map(i).collect())],
            &l(vec![i(5), i(3)]),
        );
        check(&sl(cnst(i(10)), cnst(i(-10)), none()), &[s("abc")], &s(""));
        check(&sl(none(), none(), cnst(i(i64::MIN))), &[s("abc")], &s("c"));
        falls_back(&sl(none(), none(), cnst(i(0))), &[s("abc")]);
    }

    #[test]
    fn builtins() {
        check(&call_e("len", vec![arg(0)]), &[s("héllo")], &i(5));
        check(
            &call_e("str", vec![arg(0)]),
            &[Value::Bool(true)],
            &s("True"),
        );
        check(&call_e("str", vec![arg(0)]), &[f(1e16)], &s("1e+16"));
        check(
            &call_e("str", vec![arg(0)]),
            &[t(vec![s("it's"), Value::None])],
            &s("(\"it's\", None)"),
        );
        falls_back(&call_e("str", vec![arg(0)]), &[t(vec![s("é")])]);
        let int = call_e("int", vec![arg(0)]);
        check(&int, &[s(" -1_000\n")], &i(-1000));
        check(&int, &[s("-9223372036854775808")], &i(i64::MIN));
        check(&int, &[f(-2.7)], &i(-2));
        falls_back(&int, &[s("1__0")]);
        falls_back(&int, &[s("_1")]);
        falls_back(&int, &[s("1.5")]);
        falls_back(&int, &[s("")]);
        falls_back(&int, &[s("١٢")]);
        let float = call_e("float", vec![arg(0)]);
        check(&float, &[s(" 1.5e3 ")], &f(1500.0));
        check(&float, &[s(".5")], &f(0.5));
        falls_back(&float, &[s("inf")]);
        falls_back(&float, &[s("1e")]);
        check(&float, &[Value::Bool(true)], &f(1.0));
        let max2 = call_e("max", vec![arg(0), arg(1)]);
        check(&max2, &[i(1), f(1.0)], &i(1));
        check(&max2, &[f(f64::NAN), i(1)], &f(f64::NAN));
        check(&max2, &[i(1), f(f64::NAN)], &i(1));
        check(
            &call_e("min", vec![arg(0)]),
            &[t(vec![i(3), i(1), f(1.0)])],
            &i(1),
        );
        falls_back(&call_e("min", vec![arg(0)]), &[t(vec![])]);
        check(
            &call_e("tuple", vec![arg(0)]),
            &[s("ab")],
            &t(vec![s("a"), s("b")]),
        );
        check(
            &call_e("bool", vec![arg(0)]),
            &[l(vec![])],
            &Value::Bool(false),
        );
        check(&call_e("abs", vec![arg(0)]), &[Value::Bool(true)], &i(1));
    }

    #[test]
    fn conditionals_and_boolean_operators() {
        let cond = t(vec![s("cond"), cmp_e(">", arg(0), arg(1)), arg(0), arg(1)]);
        check(&cond, &[i(3), i(5)], &i(5));
        let and = t(vec![s("and"), arg(0), arg(1)]);
        check(&and, &[s(""), i(5)], &s(""));
        check(&and, &[s("x"), i(5)], &i(5));
        let or = t(vec![s("or"), arg(0), arg(1)]);
        check(&or, &[i(0), Value::None], &Value::None);
        check(&or, &[t(vec![i(0)]), Value::None], &t(vec![i(0)]));
        let not = t(vec![s("unary"), s("not"), arg(0)]);
        check(&not, &[s("")], &Value::Bool(true));
        let repeat = binop_e("*", arg(0), arg(1));
        check(&repeat, &[s("ab"), i(-1)], &s(""));
        check(&repeat, &[Value::Bool(true), s("ab")], &s("ab"));
        check(&repeat, &[t(vec![i(1)]), i(3)], &t(vec![i(1), i(1), i(1)]));
        check(&repeat, &[t(vec![]), i(1 << 62)], &t(vec![]));
        check(&repeat, &[s(""), i(i64::MAX)], &s(""));
        check(&repeat, &[l(vec![]), i(i64::MAX)], &l(vec![]));
        falls_back(&repeat, &[s("ab"), i(i64::MAX)]);
    }

    #[test]
    fn bad_encodings_are_rejected() {
        for e in [
            s("arg"),
            t(vec![]),
            t(vec![s("nope"), i(1)]),
            t(vec![s("arg"), i(-1)]),
            t(vec![s("arg"), s("0")]),
            binop_e("@", arg(0), arg(1)),
            method_e("format", arg(0), vec![]),
            method_e("lower", arg(0), vec![arg(0)]),
            call_e("print", vec![arg(0)]),
            call_e("len", vec![]),
            cnst(l(vec![])),
            t(vec![s("tuple"), arg(0)]),
        ] {
            assert!(
                matches!(Expr::from_value(&e), Err(EngineError::InvalidArgument(_))),
                "{e:?}"
            );
        }
    }
}
