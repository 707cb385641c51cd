"""Actions, sorting and zips computed by the engine, with Python's semantics."""

from __future__ import annotations

import math
from collections import defaultdict
from operator import add
from typing import Any

import pytest

from ferrostream import SparkContext, _native
from ferrostream._rdd_actions import ActionsMixin
from ferrostream.errors import SparkException


class Box:
    """An orderable value the engine cannot represent natively."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __lt__(self, other: Box) -> bool:
        return self.v < other.v

    def __gt__(self, other: Box) -> bool:
        return self.v > other.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.v == self.v

    def __hash__(self) -> int:
        return self.v

    def __repr__(self) -> str:
        return f"Box({self.v})"


@pytest.fixture
def python_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the actions that ran their per-partition Python fallback."""
    calls: list[int] = []
    original = ActionsMixin._per_partition

    def counted(self: Any, func: Any) -> list[Any]:
        calls.append(1)
        return original(self, func)

    monkeypatch.setattr(ActionsMixin, "_per_partition", counted)
    return calls


def test_native_actions_match_python(sc: SparkContext, python_calls: list[int]) -> None:
    data = [5, 3.5, True, 10, -2, 7, 10.0]
    rdd = sc.parallelize(data, 3)
    assert rdd.max() == max(data) and rdd.min() == min(data)
    assert rdd.top(3) == sorted(data, reverse=True)[:3]
    assert rdd.takeOrdered(4) == sorted(data)[:4]
    assert sc.parallelize([1, 2, True, -5], 3).sum() == -1
    assert sc.parallelize([0.1] * 10, 2).sum() == sum([0.1] * 5) + sum([0.1] * 5)
    assert sc.parallelize(range(100), 4).sum() == 4950
    stats = rdd.stats()
    assert stats.count() == 7 and stats.max() == 10 and stats.min() == -2
    assert stats.mean() == pytest.approx(sum(data) / 7)
    nums = sc.parallelize([5, 3.5, 10, -2, 7, 10.0], 3)
    before = _native.python_partition_calls()
    assert nums.reduce(lambda a, b: a + b) == 33.5
    assert nums.fold(0, lambda a, b: a + b) == 33.5
    assert nums.aggregate(0, lambda a, b: a + b, add) == 33.5
    assert _native.python_partition_calls() == before
    counts = sc.parallelize(["a", "b", "a", 1, 1.0], 2).countByValue()
    assert isinstance(counts, defaultdict) and counts == {"a": 2, "b": 1, 1: 2}
    assert sc.parallelize([("a", 1), ("b", 1), ("a", 2)]).countByKey() == {"a": 2, "b": 1}
    assert python_calls == []  # all of it ran natively


def test_python_values_fall_back_per_partition(sc: SparkContext, python_calls: list[int]) -> None:
    boxes = sc.parallelize([Box(3), Box(1), Box(2)], 2)
    assert boxes.max() == Box(3) and boxes.min() == Box(1)
    assert boxes.top(2) == [Box(3), Box(2)]
    assert boxes.takeOrdered(2) == [Box(1), Box(2)]
    assert python_calls == [1, 1]  # top and takeOrdered; max/min reduce per partition
    assert sc.parallelize([1, 2**70]).sum() == 1 + 2**70
    assert sc.parallelize(["a", "b"]).countByValue() == {"a": 1, "b": 1}


def test_python_errors_are_kept(sc: SparkContext) -> None:
    with pytest.raises(SparkException) as info:
        sc.parallelize(["a", 1], 1).max()
    assert isinstance(info.value.__cause__, TypeError)
    with pytest.raises(SparkException) as info:
        sc.parallelize([[1], [1]], 1).countByValue()
    assert isinstance(info.value.__cause__, TypeError)
    with pytest.raises(ValueError, match="empty RDD"):
        sc.parallelize([], 2).max()
    with pytest.raises(TypeError, match="not supported between instances"):
        sc.parallelize([("a", 1), (1, 2)], 2).sortByKey().collect()


def test_sorting_in_the_engine(sc: SparkContext) -> None:
    data = [(x * 7919 % 1000, x) for x in range(1000)]
    rdd = sc.parallelize(data, 4)
    asc = rdd.sortByKey(numPartitions=3)
    assert asc.collect() == sorted(data, key=lambda kv: kv[0])
    parts = asc.glom().collect()
    assert len(parts) == 3 and all(parts)
    assert asc.partitioner is not None and asc.partitioner.numPartitions == 3
    desc = rdd.sortByKey(False, 5).keys().collect()
    assert desc == sorted((k for k, _ in data), reverse=True)
    # Stable, and Python's mixed-number and tuple ordering.
    mixed = [(2, "a"), (1.5, "b"), (True, "c"), (1, "d"), (2.0, "e")]
    assert sc.parallelize(mixed, 2).sortByKey(numPartitions=2).collect() == sorted(
        mixed, key=lambda kv: kv[0]
    )
    tuples = [((1, "b"), 0), ((1, "a"), 1), ((0, "z", 1), 2), ((0, "z"), 3)]
    assert sc.parallelize(tuples).sortByKey().values().collect() == [3, 2, 1, 0]
    words = sc.parallelize(["b", "C", "a"], 2)
    assert words.sortBy(lambda w: w.lower()).collect() == ["a", "b", "C"]
    assert words.sortBy(lambda w: w, ascending=False).collect() == ["b", "a", "C"]


def test_sorting_host_keys_calls_python_per_partition(sc: SparkContext) -> None:
    keys = [Box(i * 37 % 101) for i in range(101)]
    rdd = sc.parallelize([(k, k.v) for k in keys], 4)
    before = sc._ectx.host_key_calls
    got = rdd.sortByKey(numPartitions=3).values().collect()
    assert got == sorted(k.v for k in keys)
    # Sorting the sample, placing each map partition's keys, sorting each output partition.
    assert sc._ectx.host_key_calls - before <= 1 + 4 + 3


def test_zips_in_the_engine(sc: SparkContext) -> None:
    rdd = sc.parallelize(range(10), 3)
    assert rdd.zipWithIndex().collect() == [(i, i) for i in range(10)]
    assert rdd.zipWithUniqueId().values().collect() == [0, 3, 6, 1, 4, 7, 2, 5, 8, 11]
    assert rdd.zip(rdd.map(str)).collect() == [(i, str(i)) for i in range(10)]
    pairs = sc.parallelize([1, 2], 2).cartesian(sc.parallelize(["x", "y", "z"], 3))
    assert pairs.getNumPartitions() == 6
    assert pairs.collect() == [(a, b) for a in (1, 2) for b in "xyz"]
    with pytest.raises(ValueError, match="same number of elements"):
        rdd.zip(rdd.filter(lambda x: x > 0)).collect()


def test_sort_then_index_runs_without_python(sc: SparkContext) -> None:
    lines = sc.parallelize([f"w{i % 13}" for i in range(200)], 4)
    before = _native.python_partition_calls()
    ranked = lines.sortBy(lambda w: w, numPartitions=3).zipWithIndex()
    assert ranked.count() == 200
    assert ranked.collect()[:3] == [("w0", 0), ("w0", 1), ("w0", 2)]
    counts = lines.countByValue()
    assert counts["w0"] == 16
    pairs = sc.parallelize([(w, i) for i, w in enumerate(["b", "C", "a"])], 2)
    assert pairs.sortByKey(keyfunc=lambda k: k.lower()).values().collect() == [2, 0, 1]
    assert _native.python_partition_calls() == before  # no Python step ran
    assert pairs.sortByKey(keyfunc=lambda k: str.lower(k) if k else k).count() == 3
    assert _native.python_partition_calls() > before  # an unprovable keyfunc runs in Python


@pytest.mark.in_process
def test_take_computes_only_what_it_needs(sc: SparkContext) -> None:
    seen: list[int] = []

    def visit(x: int) -> int:
        seen.append(x)
        return x * 2

    rdd = sc.parallelize(range(1000), 2).map(visit)
    assert rdd.take(3) == [0, 2, 4]
    assert seen == [0, 1, 2]  # the Python step's output was read only that far
    assert rdd.first() == 0
    assert not rdd.isEmpty()
    seen.clear()
    sparse = sc.parallelize(range(100), 10).map(visit).filter(lambda x: x > 30)
    assert sparse.take(2) == [32, 34]
    assert len(seen) < 100  # partitions scanned as Spark does, not all of them
    assert sc.parallelize(range(10), 3).zipWithIndex().take(4) == [(i, i) for i in range(4)]
    assert sc.parallelize([1, 2], 2).take(0) == [] and sc.emptyRDD().take(5) == []
    assert sc.parallelize(range(7), 3).coalesce(1).take(5) == [0, 1, 2, 3, 4]


def test_sampling_is_native_and_repeatable(sc: SparkContext) -> None:
    rdd = sc.parallelize(list(range(1000)), 4)
    before = _native.python_partition_calls()
    a = rdd.sample(False, 0.2, 42).collect()
    assert a == rdd.sample(False, 0.2, 42).collect()
    assert a != rdd.sample(False, 0.2, 43).collect()
    assert 120 < len(a) < 280 and a == sorted(set(a))
    twice = rdd.sample(True, 2.0, 5).count()
    assert 1700 < twice < 2300
    parts = rdd.randomSplit([1, 3], 11)
    got = [p.collect() for p in parts]
    assert sorted(got[0] + got[1]) == list(range(1000))
    assert 150 < len(got[0]) < 350
    picked = rdd.takeSample(False, 10, 3)
    assert len(set(picked)) == 10 and picked == rdd.takeSample(False, 10, 3)
    assert _native.python_partition_calls() == before


def _reference_histogram(values: list[Any], edges: list[Any]) -> list[int]:
    """PySpark's bucket rule, in plain Python."""
    import bisect

    counts = [0] * (len(edges) - 1)
    for x in values:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            continue
        if x < edges[0] or x > edges[-1]:
            continue
        i = len(counts) - 1 if x == edges[-1] else bisect.bisect_right(edges, x) - 1
        counts[i] += 1
    return counts


def test_histogram_runs_without_python(sc: SparkContext) -> None:
    values: list[Any] = [3, 7.5, None, float("nan"), -2, 10, 10.0, 4, True, 2.25, 9.999] * 20
    rdd = sc.parallelize(values, 4)
    before = _native.python_partition_calls()
    edges, counts = rdd.histogram(4)
    assert edges == [-2, 1, 4, 7, 10]  # an integer step, as PySpark makes it
    assert counts == _reference_histogram(values, edges)
    given = [-5, 0, 2.5, 7.5, 9]
    assert rdd.histogram(given) == (given, _reference_histogram(values, given))
    ints = sc.parallelize(list(range(-10, 91)), 3)
    assert ints.histogram(5) == ([-10, 10, 30, 50, 70, 90], [20, 20, 20, 20, 21])
    assert _native.python_partition_calls() == before  # no Python step ran


def test_histogram_bad_input_and_python_objects(sc: SparkContext) -> None:
    from decimal import Decimal

    with pytest.raises(ValueError, match="can not generate buckets from empty RDD"):
        sc.parallelize([None, float("nan")], 2).histogram(3)
    with pytest.raises(ValueError, match="infinite value"):
        sc.parallelize([1.0, float("inf")], 2).histogram(3)
    with pytest.raises(TypeError, match="'<' not supported between instances of 'str' and 'int'"):
        sc.parallelize(["a", "b"], 2).histogram([0, 1])
    decimals = [Decimal("0.5"), Decimal("1.5"), Decimal("2.5"), Decimal("2.5")]
    rdd = sc.parallelize(decimals, 2)
    before = _native.python_partition_calls()
    assert rdd.histogram([0, 1, 2, 3]) == ([0, 1, 2, 3], [1, 1, 2])
    assert rdd.histogram(2) == ([Decimal("0.5"), Decimal("1.5"), Decimal("2.5")], [1, 3])
    assert _native.python_partition_calls() == before  # placed by the engine, not a facade loop


def test_histogram_of_python_objects_matches_pyspark(sc: SparkContext) -> None:
    from decimal import Decimal
    from fractions import Fraction

    values: list[Any] = [Decimal("3"), None, Fraction(1, 2), 10, Decimal("10"), -4, 7.5, 11]
    values += [Fraction(-9, 2), Decimal("-4"), float("nan"), 2, Decimal("0.1")] * 5
    rdd = sc.parallelize(values, 3)
    before = _native.python_partition_calls()
    for edges in ([-4, 0, Decimal("2.5"), 10], [Fraction(-5), 1, 3, Decimal("7.5")], [0, 10]):
        assert rdd.histogram(edges) == (edges, _reference_histogram(values, edges))
    lo, hi = (
        min(v for v in values if v == v and v is not None),
        max(v for v in values if v == v and v is not None),
    )
    edges, counts = rdd.histogram(3)
    assert edges[0] == lo and edges[-1] == hi and type(edges[0]) is type(lo)
    assert counts == _reference_histogram(values, edges)
    assert _native.python_partition_calls() == before
    # Equal extremes: Python's min/max keep the first of equal values (here the Decimal).
    assert sc.parallelize([Decimal("1"), 1, 1.0], 2).histogram(1)[0] == [Decimal("1")] * 2
    with pytest.raises(SparkException) as info:  # the job's min() failed, as PySpark's reduce
        sc.parallelize([Decimal("1"), "a"], 1).histogram(2)
    assert isinstance(info.value.__cause__, TypeError)
    assert "not supported between instances" in str(info.value.__cause__)
    with pytest.raises(TypeError, match="not supported between instances"):
        sc.parallelize([Decimal("1"), "a"], 2).histogram([0, 1])


class Token:
    """A key that is an arbitrary Python object: equal by name, hashed by name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and other.name == self.name


def test_sample_by_key_is_native_repeatable_and_per_key(sc: SparkContext) -> None:
    pairs = [(k, i) for k in ("a", "b", ("t", 1)) for i in range(2000)]
    rdd = sc.parallelize(pairs, 4)
    fractions = {"a": 0.5, "b": 0.05, ("t", 1): 0.0}
    before = _native.python_partition_calls()
    sample = rdd.sampleByKey(False, fractions, 11).collect()
    assert _native.python_partition_calls() == before  # no Python step ran
    assert sample == rdd.sampleByKey(False, fractions, 11).collect()  # the seed decides
    counts = defaultdict(int)
    for k, _ in sample:
        counts[k] += 1
    assert 850 < counts["a"] < 1150 and 50 < counts["b"] < 150 and counts[("t", 1)] == 0
    assert set(sample) <= set(pairs)
    with_replacement = rdd.sampleByKey(True, {"a": 2.0, "b": 0.0, ("t", 1): 1.0}, 5).collect()
    n = defaultdict(int)
    for k, _ in with_replacement:
        n[k] += 1
    assert 3600 < n["a"] < 4400 and n["b"] == 0 and 1700 < n[("t", 1)] < 2300


def test_sample_by_key_bad_input(sc: SparkContext) -> None:
    rdd = sc.parallelize([("a", 1), ("zz", 2)], 2)
    with pytest.raises(SparkException) as info:
        rdd.sampleByKey(False, {"a": 0.5}, 1).collect()
    assert isinstance(info.value.__cause__, KeyError) and info.value.__cause__.args == ("zz",)
    with pytest.raises(ValueError, match="Negative fraction value"):
        rdd.sampleByKey(False, {"a": -0.5})

    objects = sc.parallelize([(Token("x"), i) for i in range(100)], 2)
    before = _native.python_partition_calls()
    kept = objects.sampleByKey(False, {Token("x"): 1.0}, 3).count()
    assert kept == 100
    assert _native.python_partition_calls() == before  # keys matched by the engine in bulk


def test_sample_by_key_with_python_object_keys(sc: SparkContext) -> None:
    from decimal import Decimal

    pairs = [(k, i) for i in range(1000) for k in (Token("x"), "a", 2, Decimal(3))]
    rdd = sc.parallelize(pairs, 4)
    # Looked up as a dict looks keys up: Decimal(2) == 2 and 3 == Decimal(3), with equal hashes.
    fractions = {Token("x"): 0.5, "a": 0.0, Decimal(2): 1.0, 3: 0.1}
    before = _native.python_partition_calls()
    sample = rdd.sampleByKey(False, fractions, 7).collect()
    assert _native.python_partition_calls() == before
    assert [(k.name if isinstance(k, Token) else k, v) for k, v in sample] == [
        (k.name if isinstance(k, Token) else k, v)
        for k, v in rdd.sampleByKey(False, fractions, 7).collect()
    ]
    n: dict[Any, int] = defaultdict(int)
    for k, _ in sample:
        n["x" if isinstance(k, Token) else k] += 1
    assert 400 < n["x"] < 600 and n["a"] == 0 and n[2] == 1000 and 50 < n[Decimal(3)] < 150
    missing = sc.parallelize([(Token("x"), 1), (Token("y"), 2)], 1)
    with pytest.raises(SparkException) as info:
        missing.sampleByKey(False, {Token("x"): 1.0}, 1).collect()
    cause = info.value.__cause__
    assert isinstance(cause, KeyError) and cause.args[0] == Token("y")
    unhashable = sc.parallelize([([1], 1)], 1)
    with pytest.raises(SparkException) as info:
        unhashable.sampleByKey(False, {Token("x"): 1.0}, 1).collect()
    assert isinstance(info.value.__cause__, TypeError)
    assert "unhashable type: 'list'" in str(info.value.__cause__)
