//! Expressions on the wire (serde): a plan holding expressions can be shipped to another
//! process. The tree is serialised as it is; deserialising checks it as [`Expr::from_value`]
//! checks the analyzer's encoding (depth, argument indices, constants, argument counts), so a
//! deserialised expression evaluates without surprises.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::*;

impl Method {
    /// How many arguments the method takes (at least, at most).
    pub(super) fn arg_range(self) -> (usize, usize) {
        match self {
            Method::Split | Method::RSplit => (0, 2),
            Method::Strip | Method::LStrip | Method::RStrip => (0, 1),
            Method::Lower | Method::Upper | Method::IsDigit | Method::IsAlpha => (0, 0),
            Method::StartsWith | Method::EndsWith | Method::Join => (1, 1),
            Method::Replace => (2, 3),
        }
    }
}

impl Builtin {
    /// How many arguments the function takes (at least, at most).
    pub(super) fn arg_range(self) -> (usize, usize) {
        match self {
            Builtin::Min | Builtin::Max => (1, usize::MAX),
            _ => (1, 1),
        }
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.node.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Expr, D::Error> {
        let node = Node::deserialize(deserializer)?;
        check(&node, 0).map_err(D::Error::custom)?;
        Ok(Expr::from_node(node))
    }
}

/// What [`parse`] guarantees of a tree.
fn check(node: &Node, depth: usize) -> std::result::Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("invalid native expression: too deeply nested".into());
    }
    let all = |ns: &[Node]| ns.iter().try_for_each(|n| check(n, depth + 1));
    let count = |name: &str, n: usize, (lo, hi): (usize, usize)| {
        if n < lo || n > hi {
            Err(format!(
                "invalid native expression: wrong number of arguments for {name}"
            ))
        } else {
            Ok(())
        }
    };
    match node {
        Node::Arg(i) if *i > 255 => Err("invalid native expression: bad argument index".into()),
        Node::Arg(_) => Ok(()),
        Node::Const(v) if !valid_const(v) => Err(format!(
            "invalid native expression: unsupported constant of type {}",
            v.type_name()
        )),
        Node::Const(_) => Ok(()),
        Node::Tuple(ns) | Node::List(ns) => all(ns),
        Node::Slice(parts) => all(&parts[..]),
        Node::GetItem(a, b) | Node::BinOp(_, a, b) | Node::And(a, b) | Node::Or(a, b) => {
            check(a, depth + 1)?;
            check(b, depth + 1)
        }
        Node::Cmp(op, a, b) => {
            let none = |n: &Node| matches!(n, Node::Const(Value::None));
            if matches!(op, CmpOp::Is | CmpOp::IsNot) && !none(a) && !none(b) {
                return Err(
                    "invalid native expression: \"is\" is only supported against None".into(),
                );
            }
            check(a, depth + 1)?;
            check(b, depth + 1)
        }
        Node::Unary(_, a) => check(a, depth + 1),
        Node::Cond(a, b, c) => {
            check(a, depth + 1)?;
            check(b, depth + 1)?;
            check(c, depth + 1)
        }
        Node::Method(m, recv, args) => {
            count(&format!("{m:?}"), args.len(), m.arg_range())?;
            check(recv, depth + 1)?;
            all(args)
        }
        Node::Call(f, args) => {
            count(&format!("{f:?}"), args.len(), f.arg_range())?;
            all(args)
        }
    }
}

/// Constants (`None`, bool, int, float, str, bytes and tuples of them) as serde sees them.
pub(super) mod constant {
    use super::*;

    #[derive(Serialize, Deserialize)]
    enum Const {
        None,
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(String),
        Bytes(Vec<u8>),
        Tuple(Vec<Const>),
    }

    fn to_const(v: &Value) -> Option<Const> {
        Some(match v {
            Value::None => Const::None,
            Value::Bool(b) => Const::Bool(*b),
            Value::Int(i) => Const::Int(*i),
            Value::Float(f) => Const::Float(*f),
            Value::Str(s) => Const::Str(s.to_string()),
            Value::Bytes(b) => Const::Bytes(b.to_vec()),
            Value::Tuple(items) => {
                Const::Tuple(items.iter().map(to_const).collect::<Option<Vec<_>>>()?)
            }
            Value::List(_) | Value::Host(_) | Value::Group(_) => return None,
        })
    }

    fn to_value(c: Const) -> Value {
        match c {
            Const::None => Value::None,
            Const::Bool(b) => Value::Bool(b),
            Const::Int(i) => Value::Int(i),
            Const::Float(f) => Value::Float(f),
            Const::Str(s) => Value::Str(s.into()),
            Const::Bytes(b) => Value::Bytes(b.into()),
            Const::Tuple(items) => Value::Tuple(items.into_iter().map(to_value).collect()),
        }
    }

    pub fn serialize<S: Serializer>(v: &Value, s: S) -> std::result::Result<S::Ok, S::Error> {
        to_const(v)
            .ok_or_else(|| {
                serde::ser::Error::custom(format!(
                    "a constant of type {} cannot be serialised",
                    v.type_name()
                ))
            })?
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
        Ok(to_value(Const::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(e: &Expr) -> std::result::Result<Expr, postcard::Error> {
        postcard::from_bytes(&postcard::to_allocvec(e)?)
    }

    #[test]
    fn constants_of_every_kind_round_trip() {
        let c = Value::Tuple(
            vec![
                Value::None,
                Value::Bool(true),
                Value::Int(-7),
                Value::Float(0.5),
                Value::str("é"),
                Value::Bytes(b"\x00b".to_vec().into()),
            ]
            .into(),
        );
        let e = Expr::from_node(Node::Tuple(vec![Node::Arg(1), Node::Const(c)]));
        let back = round_trip(&e).unwrap();
        assert_eq!(back.arity(), 2);
        let got = back.eval(&[&Value::None, &Value::Int(1)]).unwrap();
        assert_eq!(
            got.repr_lossy(),
            "(1, (None, True, -7, 0.5, 'é', b'\\x00b'))"
        );
    }

    #[test]
    fn a_tree_parse_would_refuse_is_refused() {
        let lower_with_arg = Expr::from_node(Node::Method(
            Method::Lower,
            Box::new(Node::Arg(0)),
            vec![Node::Arg(1)],
        ));
        assert!(round_trip(&lower_with_arg).is_err());
        let is_int = Expr::from_node(Node::Cmp(
            CmpOp::Is,
            Box::new(Node::Arg(0)),
            Box::new(Node::Const(Value::Int(1))),
        ));
        assert!(round_trip(&is_int).is_err());
        let host_const = Expr::from_node(Node::Const(Value::List(Vec::new().into())));
        assert!(postcard::to_allocvec(&host_const).is_err());
    }
}
