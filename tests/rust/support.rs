//! Values and native-expression encodings shared by the plan tests.

use std::sync::Arc;

use ferrostream::engine::expr::Expr;
use ferrostream::engine::value::Value;

pub fn s(x: &str) -> Value {
    Value::str(x)
}

pub fn t(items: Vec<Value>) -> Value {
    Value::Tuple(items.into())
}

/// The encoding of argument `k` of a native expression.
pub fn arg(k: i64) -> Value {
    t(vec![s("arg"), Value::Int(k)])
}

/// The encoding of a constant.
pub fn cnst(v: Value) -> Value {
    t(vec![s("const"), v])
}

pub fn expr(encoded: Value) -> Arc<Expr> {
    Arc::new(Expr::from_value(&encoded).expect("valid encoding"))
}
