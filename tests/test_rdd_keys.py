"""Keys in the engine: host keys in bulk, known partitioning, keyed operators in Rust."""

from __future__ import annotations

from operator import add
from typing import Any

import pytest

from ferrostream import SparkContext, _native
from ferrostream.errors import SparkException
from ferrostream.rdd import Partitioner, portable_hash
from ferrostream.resultiterable import ResultIterable


class Key:
    """A key the engine cannot represent natively; counts its hash calls."""

    hashes = 0

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        Key.hashes += 1
        return hash(self.name) & 0xFFFF

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and other.name == self.name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


class One:
    """Equal to the int 1, with its hash: groups with native keys 1, 1.0 and True."""

    def __hash__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        return bool(other == 1)


def _calls(sc: SparkContext) -> int:
    return int(sc._ectx.host_key_calls)


def _shuffles(sc: SparkContext) -> int:
    return int(sc._ectx.shuffle_count)


def test_portable_hash_is_the_engines() -> None:
    assert portable_hash is _native.portable_hash
    assert portable_hash((None, 1)) & 0xFFFFFFFF == 219750521
    assert portable_hash(Key("a")) == hash(Key("a"))
    with pytest.raises(TypeError, match="unhashable"):
        portable_hash([1])


def test_host_keys_are_hashed_and_compared_per_partition(sc: SparkContext) -> None:
    names = [f"k{i % 7}" for i in range(1000)]
    rdd = sc.parallelize([(Key(n), 1) for n in names], 4)
    before, Key.hashes = _calls(sc), 0
    grouped = rdd.groupByKey(3).mapValues(len).collect()
    assert sorted((k.name, n) for k, n in grouped) == sorted(
        (f"k{i}", names.count(f"k{i}")) for i in range(7)
    )
    # Map side: one hash call per partition (4); reduce side: one hash and one equality
    # call per partition (3 x 2). Never one per record.
    calls = _calls(sc) - before
    assert 0 < calls <= 4 + 3 * 2
    # Python's __hash__ ran twice per record: the map side's hash for the shuffle, the
    # reduce side's grouping (its portable hash and equality classes in one pass each).
    assert Key.hashes <= 3 * len(names)


def test_host_keys_follow_python_equality(sc: SparkContext) -> None:
    rdd = sc.parallelize([(1, "a"), (One(), "b"), (1.0, "c"), (True, "d"), (2, "e")], 3)
    got = {k: sorted(v) for k, v in rdd.groupByKey(1).collect()}
    assert got == {1: ["a", "b", "c", "d"], 2: ["e"]}
    assert sorted(rdd.keys().distinct().map(lambda k: k == 1).collect()) == [False, True]


def test_unhashable_keys_raise_type_error(sc: SparkContext) -> None:
    # Python's TypeError from hashing a key, as the cause of the failed job (as PySpark's
    # worker raises it), for lists hashed natively and dicts hashed by Python alike.
    for job in (
        lambda: sc.parallelize([([1], 1)]).groupByKey().collect(),
        lambda: sc.parallelize([[1], [1]]).distinct().collect(),
        lambda: sc.parallelize([([1], 1)]).join(sc.parallelize([([1], 2)])).collect(),
    ):
        with pytest.raises(SparkException) as info:
            job()
        assert isinstance(info.value.__cause__, TypeError)
        assert "unhashable type: 'list'" in str(info.value.__cause__)
    for job in (
        lambda: sc.parallelize([({"a": 1}, 1)]).reduceByKey(lambda a, b: a - b).collect(),
        lambda: sc.parallelize([({"a": 1}, 1)]).join(sc.parallelize([(1, 1)])).collect(),
        lambda: sc.parallelize([{"a": 1}]).distinct().collect(),
    ):
        with pytest.raises(SparkException) as info:
            job()
        assert isinstance(info.value.__cause__, TypeError)
        assert "unhashable type: 'dict'" in str(info.value.__cause__)


def test_partitioner_is_known(sc: SparkContext) -> None:
    pairs = sc.parallelize([(i % 5, i) for i in range(20)], 3)
    assert pairs.partitioner is None
    p3 = pairs.partitionBy(3)
    assert p3.partitioner == Partitioner(3, portable_hash)
    assert p3.mapValues(str).partitioner == p3.partitioner
    assert p3.flatMapValues(lambda v: [v, v]).partitioner == p3.partitioner
    assert p3.filter(lambda kv: kv[1] > 3).partitioner == p3.partitioner
    assert p3.map(lambda kv: kv).partitioner is None
    assert p3.map(lambda kv: kv, preservesPartitioning=True).partitioner == p3.partitioner
    mapped = p3.mapPartitions(lambda it: it, preservesPartitioning=True)
    assert mapped.partitioner == p3.partitioner
    assert p3.reduceByKey(add).partitioner == p3.partitioner
    assert p3.groupByKey().partitioner == Partitioner(3, portable_hash)

    def by_parity(k: int) -> int:
        return k % 2

    custom = pairs.partitionBy(2, by_parity)
    assert custom.partitioner == Partitioner(2, by_parity)
    assert custom.partitioner != Partitioner(2, portable_hash)
    assert custom.partitioner(3) == 1


def test_co_partitioned_inputs_are_not_shuffled(sc: SparkContext) -> None:
    static = sc.parallelize([(i, f"v{i}") for i in range(100)], 4).partitionBy(4).cache()
    static.count()
    before = _shuffles(sc)
    assert static.partitionBy(4) is static
    assert static.partitionBy(4, portable_hash) is static
    assert static.groupByKey().mapValues(list).count() == 100
    assert static.reduceByKey(add, 4).count() == 100
    assert _shuffles(sc) == before  # none of these shuffled again

    batch = sc.parallelize([(i, i) for i in range(0, 100, 10)], 2)
    before = _shuffles(sc)
    joined = batch.join(static)
    assert joined.getNumPartitions() == 4
    assert sorted(joined.collect()) == [(i, (i, f"v{i}")) for i in range(0, 100, 10)]
    assert _shuffles(sc) - before == 1  # only the batch moved
    assert joined.partitioner == static.partitioner

    other = sc.parallelize([(i, -i) for i in range(50)], 3).partitionBy(4).cache()
    other.count()
    before = _shuffles(sc)
    assert static.leftOuterJoin(other).count() == 100
    assert static.cogroup(other).count() == 100
    assert _shuffles(sc) == before


def test_keyed_operators_keep_pyspark_orders(sc: SparkContext) -> None:
    x = sc.parallelize([("b", 1), ("a", 2), ("b", 3)], 2)
    y = sc.parallelize([("a", 9), ("c", 8), ("b", 7)], 1)
    assert x.join(y, 1).collect() == [("b", (1, 7)), ("b", (3, 7)), ("a", (2, 9))]
    assert x.fullOuterJoin(y, 1).collect() == [
        ("b", (1, 7)),
        ("b", (3, 7)),
        ("a", (2, 9)),
        ("c", (None, 8)),
    ]
    grouped = x.cogroup(y, 1).collect()
    assert [k for k, _ in grouped] == ["b", "a", "c"]
    assert all(isinstance(v, ResultIterable) for _, vs in grouped for v in vs)
    assert [tuple(map(list, vs)) for _, vs in grouped] == [([1, 3], [7]), ([2], [9]), ([], [8])]
    assert x.subtractByKey(y.filter(lambda kv: kv[0] == "a"), 1).collect() == [
        ("b", 1),
        ("b", 3),
    ]
    values = sc.parallelize([3, 1, 3, 2, 1.0, True], 2)
    assert sorted(values.distinct().collect()) == [1, 2, 3]
    assert values.intersection(sc.parallelize([2, 3, 4])).count() == 2
    assert sorted(values.subtract(sc.parallelize([1])).collect()) == [2, 3, 3]


def test_combine_by_key_runs_per_partition(sc: SparkContext) -> None:
    calls: list[Any] = []

    def create(v: int) -> list[int]:
        return [v]

    def merge_value(acc: list[int], v: int) -> list[int]:
        return [*acc, v]

    def merge_combiners(a: list[int], b: list[int]) -> list[int]:
        calls.append(1)
        return a + b

    rdd = sc.parallelize([(i % 3, i) for i in range(30)], 3)
    got = dict(rdd.combineByKey(create, merge_value, merge_combiners, 2).collect())
    assert {k: sorted(v) for k, v in got.items()} == {
        k: [i for i in range(30) if i % 3 == k] for k in range(3)
    }
    before = _calls(sc)
    host = sc.parallelize([(Key("a"), 1), (Key("b"), 2), (Key("a"), 3)], 2)
    sums = host.reduceByKey(lambda a, b: a * 10 + b, 1).collect()
    assert sorted((k.name, v) for k, v in sums) == [("a", 13), ("b", 2)]
    assert _calls(sc) - before <= 2 * 2 + 2


def test_grouped_values_are_result_iterables(sc: SparkContext) -> None:
    rdd = sc.parallelize([("a", 1), ("b", 2), ("a", 3)], 2)
    grouped = rdd.groupByKey().collect()
    assert all(isinstance(vs, ResultIterable) for _, vs in grouped)
    assert sorted((k, list(vs)) for k, vs in grouped) == [("a", [1, 3]), ("b", [2])]
    # Grouped values flow through native and Python steps alike.
    before = _native.python_partition_calls()
    assert sorted(rdd.groupByKey().mapValues(len).collect()) == [("a", 2), ("b", 1)]
    assert sorted(rdd.groupByKey().mapValues(sum).collect()) == [("a", 4), ("b", 2)]
    assert _native.python_partition_calls() == before  # grouped natively, len/sum natively
    assert sorted(rdd.groupByKey().flatMapValues(lambda vs: vs).collect()) == [
        ("a", 1),
        ("a", 3),
        ("b", 2),
    ]
    assert sorted(rdd.groupByKey().map(lambda kv: (kv[0], type(kv[1]).__name__)).collect()) == [
        ("a", "ResultIterable"),
        ("b", "ResultIterable"),
    ]


def test_union_and_lookup_use_the_partitioner(sc: SparkContext) -> None:
    a = sc.parallelize([(i, "a") for i in range(10)], 2).partitionBy(3)
    b = sc.parallelize([(i, "b") for i in range(5)], 1).partitionBy(3)
    both = a.union(b)
    assert both.getNumPartitions() == 3 and both.partitioner == a.partitioner
    assert sorted(both.collect()) == sorted(a.collect() + b.collect())
    before = _shuffles(sc)
    assert len(both.groupByKey().collect()) == 10
    assert _shuffles(sc) == before  # the union is still partitioned: no shuffle
    plain = a.union(sc.parallelize([(1, "c")], 1))
    assert plain.getNumPartitions() == 4 and plain.partitioner is None
    assert a.lookup(4) == ["a"] and a.lookup(42) == []
    sorted_parts = (
        sc.parallelize([(3, 1), (1, 2), (2, 3), (1, 0)], 2)
        .repartitionAndSortWithinPartitions(2)
        .glom()
        .collect()
    )
    assert sorted_parts == [[(2, 3)], [(1, 2), (1, 0), (3, 1)]]
