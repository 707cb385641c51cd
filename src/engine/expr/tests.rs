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
    let got = ev(e, args).unwrap_or_else(|_| panic!("unexpected fallback for {e:?} on {args:?}"));
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
    let sl =
        |a: Value, b: Value, c: Value| t(vec![s("getitem"), arg(0), t(vec![s("slice"), a, b, c])]);
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
    let sum = call_e("sum", vec![arg(0)]);
    check(&sum, &[l(vec![i(1), i(2), Value::Bool(true)])], &i(4));
    check(&sum, &[l(vec![])], &i(0));
    check(&sum, &[t(vec![i(-3), i(3)])], &i(0));
    falls_back(&sum, &[l(vec![i(1), f(0.5)])]);
    falls_back(&sum, &[l(vec![i(i64::MAX), i(1)])]);
    falls_back(&sum, &[l(vec![s("a")])]);
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

#[test]
fn reads_arg0_only_as_sum_sees_every_use_of_the_new_values() {
    let reads = |e: &Value| Expr::from_value(e).unwrap().reads_arg0_only_as_sum();
    let total = call_e("sum", vec![arg(0)]);
    let old_or_0 = t(vec![s("or"), arg(1), cnst(i(0))]);
    // lambda new, old: sum(new) + (old or 0)
    assert!(reads(&binop_e("+", total.clone(), old_or_0.clone())));
    // lambda new, old: (old or 0) + sum(new) * 2
    assert!(reads(&binop_e(
        "+",
        old_or_0.clone(),
        binop_e("*", total.clone(), cnst(i(2)))
    )));
    // len(new), new[0], bare new: the items matter, not only their sum.
    assert!(!reads(&binop_e(
        "+",
        call_e("len", vec![arg(0)]),
        old_or_0.clone()
    )));
    let first = t(vec![s("getitem"), arg(0), cnst(i(0))]);
    assert!(!reads(&binop_e("+", first, old_or_0.clone())));
    assert!(!reads(&t(vec![s("or"), arg(0), arg(1)])));
}
