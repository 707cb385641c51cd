"""Differential tests: functions recognised by ``ferrostream._analyze`` and run natively by the
engine (``src/engine/expr.rs``) must give exactly Python's results, or fall back to Python.

Every input gets its own partition, so each one either runs natively or falls back on its own.
Results are compared by ``repr`` (so ``1``, ``1.0`` and ``True`` differ, as do ``0.0`` and
``-0.0``). Where Python raises, the native step must fall back (the fallback here records the
exception instead of raising it, so the comparison covers that case too).
"""

from __future__ import annotations

import math
import operator
import random
import struct
from functools import reduce

import pytest

native = pytest.importorskip("ferrostream._native")

from ferrostream._analyze import analyze  # noqa: E402

NAN = math.nan


class Opaque:
    """A value with no native representation."""

    def __repr__(self) -> str:
        return "Opaque()"


INTS = [
    0,
    1,
    -1,
    2,
    3,
    7,
    -7,
    10,
    -10,
    255,
    2**31,
    2**53 + 1,
    2**62,
    2**63 - 1,
    -(2**63),
    2**63,
    -(2**64),
]
FLOATS = [
    0.0,
    -0.0,
    0.1,
    1.5,
    -2.5,
    3.0,
    1e16,
    1.5e-5,
    123456.789,
    1e308,
    -1e-310,
    math.inf,
    -math.inf,
    NAN,
]
STRS = [
    "",
    " ",
    "a",
    "ab",
    "abc",
    "a b  c",
    "  lead trail  ",
    "Hello World",
    "x,y,,z",
    ",",
    "héllo wörld",
    "İ",
    "ß",
    "ΣΑΣ",
    "\t\n\x1c mixed \u3000ws\xa0end\u200b",
    "123",
    "-42",
    " +7 ",
    "1_000",
    "1__0",
    "٣",
    "1.5",
    " 2.5e3 ",
    "inf",
    "nan",
    "99999999999999999999",
    "it's",
    'say "hi"',
    "a\\b",
]
OTHERS = [
    True,
    False,
    None,
    b"",
    b"ab c",
    (),
    (1,),
    ("k", 1),
    (1, 2),
    (2, 1),
    ("a", "b", "c"),
    (1.5, None),
    (NAN,),
    ("k", (1, 2)),
    [1, 2],
    ["a"],
    [],
    {},
    Opaque(),
    ("x", Opaque()),
    (True, 2.0),
]
ALL = INTS + FLOATS + STRS + OTHERS
PAIRS = [(k, v) for k, v in zip(["k", 1, 1.0, True, None, ("t",), "k2"] * 20, ALL)]

ONE_ARG = [
    lambda line: line.split(" "),
    lambda line: line.split(),
    lambda line: line.split(None, 1),
    lambda line: line.rsplit(None, 1),
    lambda line: line.split(",", 1),
    lambda line: line.rsplit(",", 1),
    lambda w: (w, 1),
    lambda x: x[1],
    lambda x: x[-1],
    lambda kv: (kv[1], kv[0]),
    lambda x: x[1:],
    lambda x: x[::-1],
    lambda x: x[-2:0:-1],
    lambda x: x % 10,
    lambda x: x // 3,
    lambda x: x % -3,
    lambda x: x // -2.5,
    lambda x: x % 2.5,
    lambda x: x / 4,
    lambda x: 7 / x,
    lambda x: x**2,
    lambda x: 2**x if -100 < x < 100 else 0,
    lambda x: 1.5**x if -100 < x < 100 else 0,
    lambda x: (-2.0) ** x if -100 < x < 100 else 0,
    lambda x: x * 2,
    lambda x: x + 1,
    lambda x: x - 1.5,
    lambda x: x + x,
    lambda x: -x,
    lambda x: +x,
    lambda x: not x,
    lambda x: len(x) > 3,
    lambda x: len(x),
    lambda s: s.lower().strip(),
    lambda s: s.upper(),
    lambda s: s.strip(",x "),
    lambda s: s.lstrip(),
    lambda s: s.rstrip("c"),
    lambda s: s.replace("a", "-"),
    lambda s: s.replace("", "."),
    lambda s: s.startswith("a"),
    lambda s: s.endswith(("c", "d")),
    lambda s: s.isdigit(),
    lambda s: s.isalpha(),
    lambda s: "-".join(s),
    lambda x: int(x),
    lambda x: float(x),
    lambda x: str(x),
    lambda x: abs(x),
    lambda x: bool(x),
    lambda x: tuple(x),
    lambda x: max(x),
    lambda x: min(x, 5),
    lambda x: x if x else "empty",
    lambda x: x is None,
    lambda x: x is not None and x > 0,
    lambda x: x or 0,
    lambda x: x and x[0],
    lambda x: 0 < x <= 10,
    lambda x: x == 1,
    lambda x: x != "a",
    lambda x: x < (1, 2),
    lambda x: x >= "b",
    lambda x: x in "abcdef",
    lambda x: x in (1, "a", None, 2.5),
    lambda x: "a" in x,
    lambda x: [x, 1],
    lambda x: (x, x * 2, -x),
    lambda x: str(x) + "!",
    lambda x: x * 3,
    lambda x: x == x,
    lambda x: (x,) == (x,),
    lambda x: x * True,
]

TWO_ARGS = [
    lambda a, b: a + b,
    operator.add,
    operator.mul,
    operator.sub,
    max,
    min,
    lambda a, b: a if a > b else b,
    lambda a, b: a * b - 1,
    lambda a, b: a or b,
    lambda a, b: a and b,
    lambda a, b: (a, b)[1],
    lambda a, b: b,
]


def _outcome(thunk):
    try:
        return thunk()
    except Exception as exc:
        return [("<raised>", type(exc).__name__)]


def _reference(kind, f, partition):
    """The step computed in Python, for one partition."""
    if kind == "map":
        return [f(x) for x in partition]
    if kind == "flat_map":
        return [y for x in partition for y in f(x)]
    if kind == "filter":
        return [x for x in partition if f(x)]
    if kind == "key_by":
        return [(f(x), x) for x in partition]
    if kind == "map_values":
        return [(k, f(v)) for k, v in partition]
    if kind == "flat_map_values":
        return [(k, y) for k, v in partition for y in f(v)]
    if kind == "combine":
        acc: dict = {}
        for k, v in partition:
            acc[k] = f(acc[k], v) if k in acc else v
        return list(acc.items())
    raise AssertionError(kind)


@pytest.fixture(scope="module")
def ctx():
    c = native.EngineContext(2)
    yield c
    c.stop()


def _run(ctx, kind, f, nargs, partitions):
    expr = analyze(f, nargs)
    assert expr is not None, "function should be recognised"
    fell_back: list[int] = []

    def fallback(split, it):
        fell_back.append(split)
        return _outcome(lambda: _reference(kind, f, list(it)))

    rdd = native.Rdd.from_partitions(ctx, partitions).native_step(kind, expr, fallback)
    got = rdd.collect_partitions(list(range(len(partitions))))
    return got, set(fell_back)


def _check(ctx, kind, f, nargs, partitions, min_native=1):
    got, fell_back = _run(ctx, kind, f, nargs, partitions)
    for n, part in enumerate(partitions):
        want = _outcome(lambda p=part: _reference(kind, f, p))
        assert repr(got[n]) == repr(want), f"{kind} on {part!r}: native {got[n]!r}, Python {want!r}"
    native_count = len(partitions) - len(fell_back)
    assert native_count >= min_native, f"{kind}: only {native_count} partitions ran natively"
    return fell_back


@pytest.mark.parametrize("f", ONE_ARG, ids=lambda f: str(ONE_ARG.index(f)))
def test_map_matches_python(ctx, f):
    _check(ctx, "map", f, 1, [[x] for x in ALL])


@pytest.mark.parametrize("f", ONE_ARG, ids=lambda f: str(ONE_ARG.index(f)))
def test_filter_and_key_by_match_python(ctx, f):
    _check(ctx, "filter", f, 1, [[x] for x in ALL])
    _check(ctx, "key_by", f, 1, [[x] for x in ALL])


@pytest.mark.parametrize("f", ONE_ARG, ids=lambda f: str(ONE_ARG.index(f)))
def test_values_steps_match_python(ctx, f):
    _check(ctx, "map_values", f, 1, [[("k", x)] for x in ALL])
    _check(ctx, "flat_map_values", f, 1, [[("k", x)] for x in ALL], min_native=0)


@pytest.mark.parametrize("f", ONE_ARG, ids=lambda f: str(ONE_ARG.index(f)))
def test_flat_map_matches_python(ctx, f):
    _check(ctx, "flat_map", f, 1, [[x] for x in ALL], min_native=0)


@pytest.mark.parametrize("f", TWO_ARGS, ids=lambda f: str(TWO_ARGS.index(f)))
def test_combine_matches_python(ctx, f):
    # No mid-sized ints: "abc" * 2**31 would build gigabytes in the Python reference.
    values = [v for v in ALL if not (type(v) is int and 2**20 < abs(v) < 2**62)]
    partitions = [[("k", a), ("k", b), (1, b), (1.0, a)] for a in values[::3] for b in values[::5]]
    _check(ctx, "combine", f, 2, partitions)


def test_seed_lambdas_run_natively(ctx):
    words = ["the quick  brown fox", "", "jumps over", "  the lazy dog  "]
    fell = _check(ctx, "flat_map", lambda line: line.split(" "), 1, [words])
    assert not fell
    fell = _check(ctx, "map", lambda w: (w, 1), 1, [words])
    assert not fell
    pairs = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)]
    fell = _check(ctx, "combine", lambda a, b: a + b, 2, [pairs])
    assert not fell
    fell = _check(ctx, "combine", operator.add, 2, [pairs])
    assert not fell


def test_overflow_falls_back_to_python(ctx):
    fell = _check(
        ctx, "combine", operator.add, 2, [[("k", 2**62), ("k", 2**62)], [("k", 1), ("k", 2)]]
    )
    assert fell == {0}


def test_large_partition(ctx):
    data = [f"w{i % 97} x{i % 13}  y" for i in range(5000)]
    got, fell = _run(ctx, "flat_map", lambda line: line.split(), 1, [data, data[:10]])
    assert not fell
    assert got == [
        [w for line in data for w in line.split()],
        [w for line in data[:10] for w in line.split()],
    ]
    words = [w for line in data for w in line.split()]
    got, fell = _run(ctx, "combine", operator.add, 2, [[(w, 1) for w in words]])
    assert not fell
    want: dict = {}
    for w in words:
        want[w] = want.get(w, 0) + 1
    assert got == [list(want.items())]
    assert reduce(operator.add, (v for _, v in got[0])) == len(words)


def _random_values(rng, n):
    alphabet = "ab AB,_-+.019\t\n\x1c\u3000\xa0éΣ"
    out: list = []
    for _ in range(n):
        kind = rng.randrange(6)
        if kind == 0:
            out.append(rng.choice([rng.randint(-100, 100), rng.randint(-(2**63), 2**63 - 1)]))
        elif kind == 1:
            bits = rng.getrandbits(64)
            out.append(struct.unpack("<d", struct.pack("<Q", bits))[0])
        elif kind == 2:
            out.append(
                rng.choice(
                    [rng.uniform(-1e6, 1e6), rng.randint(-50, 50) / 8, 10.0 ** rng.randint(-20, 20)]
                )
            )
        elif kind == 3:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(12))))
        elif kind == 4:
            out.append(str(rng.randint(-(10**20), 10**20)))
        else:
            out.append((rng.choice(["k", 1, 2.5]), rng.randint(-5, 5)))
    return out


FUZZ_ONE = [
    lambda x: str(x),
    lambda x: int(x),
    lambda x: float(x),
    lambda x: x.split(),
    lambda x: x.rsplit(None, 2),
    lambda x: x.split("a"),
    lambda x: x.strip(),
    lambda x: x // 7,
    lambda x: x % -7,
    lambda x: x // 0.3,
    lambda x: x % 0.3,
    lambda x: x / 3,
    lambda x: -x * 1000003,
    lambda x: x < 2**53,
    lambda x: x >= 1e18,
    lambda x: x == 9007199254740993,
    lambda x: x[1:-1],
    lambda x: x[::-2],
]


@pytest.mark.parametrize("f", FUZZ_ONE, ids=lambda f: str(FUZZ_ONE.index(f)))
def test_random_inputs_match_python(ctx, f):
    rng = random.Random(20240611 + FUZZ_ONE.index(f))
    values = _random_values(rng, 400)
    _check(ctx, "map", f, 1, [[x] for x in values])
