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

use serde::{Deserialize, Serialize};

use crate::engine::error::{EngineError, Result};
use crate::engine::value::{float_repr, Value};

/// "This input cannot be handled natively: compute the step in Python instead."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback;

type Ev<T> = std::result::Result<T, Fallback>;

/// Sequence results larger than this (in items or bytes) are left to Python.
const MAX_REPEAT_LEN: usize = 1 << 26;

/// A parsed expression over positional arguments. Serialisable (serde): a plan holding it can
/// be shipped to another process; deserialising checks what [`Expr::from_value`] checks.
#[derive(Debug, Clone)]
pub struct Expr {
    node: Node,
    arity: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Node {
    Arg(usize),
    Const(#[serde(with = "wire::constant")] Value),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum BinOp {
    Add,
    Sub,
    Mul,
    TrueDiv,
    FloorDiv,
    Mod,
    Pow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum UnOp {
    Neg,
    Pos,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    Sum,
    /// `ResultIterable(values)`: the values as a group (a `ResultIterable` in Python).
    ResultIterable,
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
        Value::List(_) | Value::Host(_) | Value::Group(_) => false,
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

    /// `arg0[i]` with a constant int `i` (as in `lambda kv: kv[1]`): the index.
    pub fn as_item_of_arg0(&self) -> Option<i64> {
        match &self.node {
            Node::GetItem(c, i) if matches!(**c, Node::Arg(0)) => match **i {
                Node::Const(Value::Int(i)) => Some(i),
                _ => None,
            },
            _ => None,
        }
    }

    /// Is this just the first argument?
    pub fn is_arg0(&self) -> bool {
        matches!(self.node, Node::Arg(0))
    }

    /// Argument 0 is read only as `sum(arg0)` (as in `lambda new, old: sum(new) + (old or
    /// 0)`): the result depends on argument 0's items only through their sum.
    pub fn reads_arg0_only_as_sum(&self) -> bool {
        self.node.arg0_only_summed()
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
            let m = match name {
                "split" => Method::Split,
                "rsplit" => Method::RSplit,
                "strip" => Method::Strip,
                "lstrip" => Method::LStrip,
                "rstrip" => Method::RStrip,
                "lower" => Method::Lower,
                "upper" => Method::Upper,
                "startswith" => Method::StartsWith,
                "endswith" => Method::EndsWith,
                "replace" => Method::Replace,
                "isdigit" => Method::IsDigit,
                "isalpha" => Method::IsAlpha,
                "join" => Method::Join,
                other => return Err(bad(format!("unsupported method {other:?}"))),
            };
            let (lo, hi) = m.arg_range();
            let args = parse_list(&items[3], depth)?;
            if args.len() < lo || args.len() > hi {
                return Err(bad(format!("wrong number of arguments for {name}()")));
            }
            Node::Method(m, Box::new(sub(2)?), args)
        }
        "call" => {
            want(3)?;
            let name = str_of(&items[1]).ok_or_else(|| bad("function name must be a str"))?;
            let f = match name {
                "len" => Builtin::Len,
                "str" => Builtin::Str,
                "int" => Builtin::Int,
                "float" => Builtin::Float,
                "abs" => Builtin::Abs,
                "bool" => Builtin::Bool,
                "min" => Builtin::Min,
                "max" => Builtin::Max,
                "tuple" => Builtin::Tuple,
                "sum" => Builtin::Sum,
                "ResultIterable" => Builtin::ResultIterable,
                other => return Err(bad(format!("unsupported function {other:?}"))),
            };
            let (lo, hi) = f.arg_range();
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
    /// See [`Expr::reads_arg0_only_as_sum`].
    fn arg0_only_summed(&self) -> bool {
        let all = |ns: &[Node]| ns.iter().all(Node::arg0_only_summed);
        match self {
            Node::Call(Builtin::Sum, ns) if matches!(ns.as_slice(), [Node::Arg(0)]) => true,
            Node::Arg(i) => *i != 0,
            Node::Const(_) => true,
            Node::Tuple(ns) | Node::List(ns) | Node::Call(_, ns) => all(ns),
            Node::Slice(parts) => all(&parts[..]),
            Node::GetItem(a, b)
            | Node::BinOp(_, a, b)
            | Node::Cmp(_, a, b)
            | Node::And(a, b)
            | Node::Or(a, b) => a.arg0_only_summed() && b.arg0_only_summed(),
            Node::Unary(_, a) => a.arg0_only_summed(),
            Node::Cond(a, b, c) => {
                a.arg0_only_summed() && b.arg0_only_summed() && c.arg0_only_summed()
            }
            Node::Method(_, recv, ns) => recv.arg0_only_summed() && all(ns),
        }
    }

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

mod builtins;
mod numbers;
mod strings;
#[cfg(test)]
mod tests;
mod wire;

use builtins::*;
use numbers::*;
pub use strings::split_whitespace_all;
use strings::*;
