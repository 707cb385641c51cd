"""Tests for ``ferrostream._analyze``: which functions are recognised, their exact encodings,
which are rejected, and (with a small reference interpreter of the encoding) that every
recognised function means the same as the encoding on sample inputs."""

from __future__ import annotations

import math
import operator
import sys
from operator import add

import pytest

from ferrostream import _analyze
from ferrostream._analyze import analyze

A0 = ("arg", 0)
A1 = ("arg", 1)


def c(v):
    return ("const", v)


# ---------------------------------------------------------------------------------------
# Exact encodings


@pytest.mark.parametrize(
    "func, nargs, expected",
    [
        (lambda line: line.split(" "), 1, ("method", "split", A0, (c(" "),))),
        (lambda w: (w, 1), 1, ("tuple", (A0, c(1)))),
        (lambda a, b: a + b, 2, ("binop", "+", A0, A1)),
        (lambda x: x[1], 1, ("getitem", A0, c(1))),
        (lambda kv: (kv[1], kv[0]), 1, ("tuple", (("getitem", A0, c(1)), ("getitem", A0, c(0))))),
        (lambda x: x % 10, 1, ("binop", "%", A0, c(10))),
        (lambda x: len(x) > 3, 1, ("cmp", ">", ("call", "len", (A0,)), c(3))),
        (lambda s: s.lower().strip(), 1, ("method", "strip", ("method", "lower", A0, ()), ())),
        (lambda x: int(x), 1, ("call", "int", (A0,))),
        (lambda a, b: a if a > b else b, 2, ("cond", ("cmp", ">", A0, A1), A0, A1)),
        (lambda a, b: a and b, 2, ("and", A0, A1)),
        (lambda a, b: a or b, 2, ("or", A0, A1)),
        (lambda x: not x, 1, ("unary", "not", A0)),
        (lambda x: -x, 1, ("unary", "-", A0)),
        (lambda x: [x, 1], 1, ("list", (A0, c(1)))),
        (lambda x: [1, 2, 3], 1, ("list", (c(1), c(2), c(3)))),
        (lambda x: x in ("a", "b"), 1, ("cmp", "in", A0, c(("a", "b")))),
        (lambda x: x not in "abc", 1, ("cmp", "not in", A0, c("abc"))),
        (lambda x: x[1:], 1, ("getitem", A0, ("slice", c(1), c(None), c(None)))),
        (lambda x: x[::-1], 1, ("getitem", A0, ("slice", c(None), c(None), c(-1)))),
        (lambda x: x is None, 1, ("cmp", "is", A0, c(None))),
        (lambda x: x is not None, 1, ("cmp", "is not", A0, c(None))),
        (lambda x: max(x, 0), 1, ("call", "max", (A0, c(0)))),
        (lambda x: x.split(",", 1), 1, ("method", "split", A0, (c(","), c(1)))),
        (lambda x: ",".join(x), 1, ("method", "join", c(","), (A0,))),
        (
            lambda x: x**2 // 3 - 1.5 / x * 2,
            1,
            (
                "binop",
                "-",
                ("binop", "//", ("binop", "**", A0, c(2)), c(3)),
                ("binop", "*", ("binop", "/", c(1.5), A0), c(2)),
            ),
        ),
        (lambda a, b, c: a < b < c, 3, ("and", ("cmp", "<", A0, A1), ("cmp", "<", A1, ("arg", 2)))),
        (lambda x: None, 1, c(None)),
        (lambda x: "a" if x is None else x, 1, ("cond", ("cmp", "is", A0, c(None)), c("a"), A0)),
    ],
)
def test_exact_encodings(func, nargs, expected):
    assert analyze(func, nargs) == expected
    # Type-exact, not just ==: 1 vs True vs 1.0 matter.
    assert repr(analyze(func, nargs)) == repr(expected)


def test_builtins_passed_directly():
    assert analyze(add, 2) == ("binop", "+", A0, A1)
    assert analyze(operator.mul, 2) == ("binop", "*", A0, A1)
    assert analyze(operator.sub, 2) == ("binop", "-", A0, A1)
    assert analyze(max, 2) == ("call", "max", (A0, A1))
    assert analyze(min, 2) == ("call", "min", (A0, A1))
    assert analyze(len, 1) == ("call", "len", (A0,))
    assert analyze(int, 1) == ("call", "int", (A0,))
    assert analyze(str, 1) == ("call", "str", (A0,))
    assert analyze(str.split, 1) == ("method", "split", A0, ())
    assert analyze(str.lower, 1) == ("method", "lower", A0, ())
    assert analyze(operator.itemgetter(1), 1) == ("getitem", A0, c(1))
    assert analyze(operator.itemgetter(1, 0), 1) == (
        "tuple",
        (("getitem", A0, c(1)), ("getitem", A0, c(0))),
    )
    # Wrong arity or unsupported callables.
    assert analyze(add, 1) is None
    assert analyze(len, 2) is None
    assert analyze(operator.truediv, 2) is None
    assert analyze(operator.itemgetter("k"), 1) is None
    assert analyze(print, 1) is None
    assert analyze(sorted, 1) is None


def test_constant_types_are_exact():
    assert repr(analyze(lambda x: (x, True), 1)) == repr(("tuple", (A0, c(True))))
    assert repr(analyze(lambda x: (x, 1.0), 1)) == repr(("tuple", (A0, c(1.0))))
    # `x or True` must not collapse into something returning 1.
    assert repr(analyze(lambda x: True if x else 1, 1)) == repr(("cond", A0, c(True), c(1)))


# ---------------------------------------------------------------------------------------
# Rejections

GLOBAL_VALUE = 3


def _helper(x):
    return x


def _with_default(x, y=1):
    return x + y


def _gen(x):
    yield x


def _make_closure():
    k = 2
    return lambda x: x * k


def _shadowed_len_module():
    ns: dict = {}
    exec("len = lambda x: 42\nf = lambda x: len(x)", ns)
    return ns["f"]


def _custom_builtins():
    ns: dict = {"__builtins__": {"len": lambda x: 42}}
    exec("f = lambda x: len(x)", ns)
    return ns["f"]


@pytest.mark.parametrize(
    "func, nargs",
    [
        (_make_closure(), 1),  # closure
        (lambda x: x + GLOBAL_VALUE, 1),  # module global
        (lambda x: print(x), 1),  # side effect
        (lambda x: _helper(x), 1),  # arbitrary function call
        (_with_default, 1),  # defaults
        (_with_default, 2),
        (lambda *a: a, 1),  # *args
        (lambda **k: k, 0),
        (lambda x, *, y: x, 1),  # keyword-only
        (_gen, 1),  # generator
        (lambda x: [y for y in x], 1),  # comprehension
        (lambda x: x.foo(), 1),  # unknown method
        (lambda x: x.real, 1),  # attribute access
        (lambda x: x.count("a"), 1),  # unsupported str method
        (lambda x: x.split(sep=","), 1),  # keyword arguments
        (lambda x: int(x, 16), 1),  # extra builtin arguments
        (lambda x: len(), 1),
        (lambda x: x.lower(1), 1),
        (lambda x: {x: 1}, 1),  # dict
        (lambda x: {x}, 1),  # set
        (lambda x: x in {1, 2}, 1),  # frozenset constant
        (lambda x: x & 1, 1),  # unsupported operator
        (lambda x: ~x, 1),
        (lambda x: x @ x, 1),
        (lambda x: x + 1180591620717411303424, 1),  # constant out of 64-bit range
        (lambda x, y: x is y, 2),  # identity other than None
        (lambda x: (y := x) + y, 1),  # walrus: a store
        (lambda x: f"{x}", 1),  # formatting
        (lambda x: len, 1),  # returns a builtin itself
        (lambda x: str.lower(x), 1),  # method through the class
        (lambda x: x[1:2], 2),  # wrong arity
        (lambda a, b: a, 1),
        (lambda x: (lambda y: y)(x), 1),  # nested function
        (lambda x: __import__("os"), 1),
        (_shadowed_len_module(), 1),  # len shadowed in globals
        (_custom_builtins(), 1),  # len replaced in __builtins__
        (lambda x: sorted(x), 1),  # builtin not on the list
        (object(), 1),  # not a function
        (str.format, 1),
    ],
)
def test_rejected(func, nargs):
    assert analyze(func, nargs) is None


def _with_try(x):
    try:
        return int(x)
    except ValueError:
        return 0


def _with_local(line):
    words = line.split()
    return words


def test_try_and_locals_rejected():
    assert analyze(_with_try, 1) is None
    assert analyze(_with_local, 1) is None


def test_plain_def_recognised():
    def pair(word):
        """A docstring does not matter."""
        return (word, 1)

    assert analyze(pair, 1) == ("tuple", (A0, c(1)))


def test_partial_and_bound_methods_rejected():
    import functools

    assert analyze(functools.partial(add, 1), 1) is None
    assert analyze("a b".split, 0) is None


def test_cache_follows_global_rebinding():
    ns: dict = {}
    exec("f = lambda x: len(x)", ns)
    f = ns["f"]
    assert analyze(f, 1) == ("call", "len", (A0,))
    ns["len"] = lambda x: 0  # now the global shadows the builtin
    assert analyze(f, 1) is None
    del ns["len"]
    assert analyze(f, 1) == ("call", "len", (A0,))


def test_cache_follows_code_replacement():
    f = lambda x: x + 1
    assert analyze(f, 1) == ("binop", "+", A0, c(1))
    f.__code__ = (lambda x: print(x)).__code__
    assert analyze(f, 1) is None
    f.__code__ = (lambda x: x * 2).__code__
    assert analyze(f, 1) == ("binop", "*", A0, c(2))
    f.__defaults__ = (1,)
    assert analyze(f, 1) is None


def test_cache_is_weak():
    import gc
    import weakref

    f = lambda x: x
    analyze(f, 1)
    r = weakref.ref(f)
    del f
    gc.collect()
    assert r() is None


# ---------------------------------------------------------------------------------------
# Semantics: a reference interpreter of the encoding, in Python


def interp(e, args):
    tag = e[0]
    if tag == "arg":
        return args[e[1]]
    if tag == "const":
        return e[1]
    if tag == "tuple":
        return tuple(interp(x, args) for x in e[1])
    if tag == "list":
        return [interp(x, args) for x in e[1]]
    if tag == "getitem":
        container = interp(e[1], args)
        idx = e[2]
        if idx[0] == "slice":
            return container[slice(*(interp(p, args) for p in idx[1:]))]
        return container[interp(idx, args)]
    if tag == "binop":
        ops = {
            "+": operator.add,
            "-": operator.sub,
            "*": operator.mul,
            "/": operator.truediv,
            "//": operator.floordiv,
            "%": operator.mod,
            "**": operator.pow,
        }
        return ops[e[1]](interp(e[2], args), interp(e[3], args))
    if tag == "unary":
        v = interp(e[2], args)
        return {"-": operator.neg, "+": operator.pos, "not": operator.not_}[e[1]](v)
    if tag == "cmp":
        a, b = interp(e[2], args), interp(e[3], args)
        return {
            "==": operator.eq,
            "!=": operator.ne,
            "<": operator.lt,
            "<=": operator.le,
            ">": operator.gt,
            ">=": operator.ge,
            "in": lambda x, y: x in y,
            "not in": lambda x, y: x not in y,
            "is": operator.is_,
            "is not": operator.is_not,
        }[e[1]](a, b)
    if tag == "cond":
        return interp(e[2], args) if interp(e[1], args) else interp(e[3], args)
    if tag == "and":
        return interp(e[1], args) and interp(e[2], args)
    if tag == "or":
        return interp(e[1], args) or interp(e[2], args)
    if tag == "method":
        return getattr(interp(e[2], args), e[1])(*(interp(x, args) for x in e[3]))
    if tag == "call":
        import builtins

        return getattr(builtins, e[1])(*(interp(x, args) for x in e[2]))
    raise AssertionError(f"unknown tag {tag}")


def outcome(f, args):
    try:
        return ("ok", repr(f(*args)))
    except Exception as exc:
        return ("raised", type(exc).__name__)


SAMPLES_1 = [
    0,
    1,
    -7,
    2**62,
    3.5,
    -0.0,
    math.nan,
    True,
    False,
    None,
    "",
    "a b  c",
    " Hello ",
    "x,y,z",
    "héllo",
    (1, 2),
    ("k", 3),
    [4, 5],
    b"ab",
    (None,),
    (),
]
SAMPLES_2 = [
    (1, 2),
    (3, 3),
    (-4, 1.5),
    ("a", "b"),
    (True, 2),
    ((1,), (2,)),
    ("x", 1),
    (None, 0),
    (0, ""),
]

SEMANTIC_1 = [
    lambda line: line.split(" "),
    lambda w: (w, 1),
    lambda x: x[1],
    lambda kv: (kv[1], kv[0]),
    lambda x: x % 10,
    lambda x: len(x) > 3,
    lambda s: s.lower().strip(),
    lambda x: int(x),
    lambda x: x[::-1],
    lambda x: x[1:] if x else None,
    lambda x: x is not None and x > 0,
    lambda x: not x or x == 1,
    lambda x: 0 < x <= 5,
    lambda x: (x, x * 2, -x),
    lambda x: str(x) + "!",
    lambda x: x in "abc",
    lambda x: x.split(),
    lambda x: abs(x) // 2,
    lambda x: float(x) / 2,
    lambda x: max(x),
    lambda x: bool(x) and len(x),
    lambda x: "yes" if x else "no",
]
SEMANTIC_2 = [
    lambda a, b: a + b,
    lambda a, b: a if a > b else b,
    lambda a, b: a and b,
    lambda a, b: a or b,
    lambda a, b: min(a, b),
    lambda a, b: (a, b) < (b, a),
    lambda a, b: a * b - 1,
]


@pytest.mark.parametrize("func", SEMANTIC_1)
def test_encoding_means_the_function_one_arg(func):
    e = analyze(func, 1)
    assert e is not None
    for x in SAMPLES_1:
        assert outcome(lambda v: interp(e, (v,)), (x,)) == outcome(func, (x,)), x


@pytest.mark.parametrize("func", SEMANTIC_2)
def test_encoding_means_the_function_two_args(func):
    e = analyze(func, 2)
    assert e is not None
    for args in SAMPLES_2:
        assert outcome(lambda a, b: interp(e, (a, b)), args) == outcome(func, args), args


def test_version_supported():
    # The analyser is written for CPython 3.9-3.13 bytecode.
    assert sys.version_info[:2] >= (3, 9)
    assert _analyze._PY == sys.version_info[:2]
