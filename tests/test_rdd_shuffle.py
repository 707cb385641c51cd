"""Shuffling RDD operations: sorting, partitioning and key/value operations."""

from __future__ import annotations

from operator import add

import pytest

from ferrostream import SparkContext
from ferrostream.errors import SparkException
from ferrostream.rdd import portable_hash
from ferrostream.resultiterable import ResultIterable

# -- pair operations ---------------------------------------------------------------------


def test_reduce_by_key_and_friends(sc: SparkContext, engine_mode: str) -> None:
    rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
    assert sorted(rdd.reduceByKey(add).collect()) == [("a", 2), ("b", 1)]
    assert rdd.reduceByKey(add, 3).getNumPartitions() == 3
    assert rdd.reduceByKey(add).getNumPartitions() == rdd.getNumPartitions()
    assert sorted(rdd.reduceByKeyLocally(add).items()) == [("a", 2), ("b", 1)]
    assert sorted(rdd.foldByKey(0, add).collect()) == [("a", 2), ("b", 1)]
    assert sorted(rdd.countByKey().items()) == [("a", 2), ("b", 1)]
    assert sorted(rdd.reduceByKey(lambda a, b: a - b, 1, lambda k: 0).collect()) == [
        ("a", 0),
        ("b", 1),
    ]
    assert sc.emptyRDD().reduceByKey(add).collect() == []


def test_combine_and_aggregate_by_key(sc: SparkContext, engine_mode: str) -> None:
    x = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])

    def to_list(a: int) -> list[int]:
        return [a]

    def append(a: list[int], b: int) -> list[int]:
        a.append(b)
        return a

    def extend(a: list[int], b: list[int]) -> list[int]:
        a.extend(b)
        return a

    assert sorted(x.combineByKey(to_list, append, extend).collect()) == [
        ("a", [1, 2]),
        ("b", [1]),
    ]
    seq = lambda acc, v: (acc[0] + v, acc[1] + 1)
    comb = lambda a, b: (a[0] + b[0], a[1] + b[1])
    assert sorted(x.aggregateByKey((0, 0), seq, comb).collect()) == [
        ("a", (3, 2)),
        ("b", (1, 1)),
    ]
    # A mutable zero value is copied for every key and partition.
    lists = x.aggregateByKey([], lambda acc, v: [*acc, v], lambda a, b: a + b, 2)
    assert sorted((k, sorted(v)) for k, v in lists.collect()) == [("a", [1, 2]), ("b", [1])]


def test_group_by_key(sc: SparkContext, engine_mode: str) -> None:
    rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
    assert sorted(rdd.groupByKey().mapValues(len).collect()) == [("a", 2), ("b", 1)]
    assert sorted(rdd.groupByKey().mapValues(list).collect()) == [("a", [1, 1]), ("b", [1])]
    grouped = rdd.groupByKey(1).collect()
    value = grouped[0][1]
    assert isinstance(value, ResultIterable)
    assert len(value) == value.maxindex and list(value) == value.data
    ordered = sc.parallelize([("k", i) for i in range(10)], 4).groupByKey().collect()
    assert list(ordered[0][1]) == list(range(10))
    g = sc.parallelize([1, 1, 2, 3, 5, 8]).groupBy(lambda x: x % 2).collect()
    assert sorted((k, sorted(v)) for k, v in g) == [(0, [2, 8]), (1, [1, 1, 3, 5])]
    custom = rdd.groupByKey(2, lambda k: 0 if k == "b" else 1).glom().collect()
    assert [[k for k, _ in part] for part in custom] == [["b"], ["a"]]


def test_values_ops(sc: SparkContext, engine_mode: str) -> None:
    x = sc.parallelize([("a", ["apple", "banana", "lemon"]), ("b", ["grapes"])])
    assert x.mapValues(len).collect() == [("a", 3), ("b", 1)]
    y = sc.parallelize([("a", ["x", "y", "z"]), ("b", ["p", "r"])])
    assert y.flatMapValues(lambda v: v).collect() == [
        ("a", "x"),
        ("a", "y"),
        ("a", "z"),
        ("b", "p"),
        ("b", "r"),
    ]
    kv = sc.parallelize([(1, 2), (3, 4)])
    assert kv.keys().collect() == [1, 3]
    assert kv.values().collect() == [2, 4]
    assert kv.collectAsMap() == {1: 2, 3: 4}
    data = sc.parallelize([(str(i), i) for i in range(10)])
    assert data.lookup("4") == [4]
    assert data.lookup("1024") == []


def test_joins(sc: SparkContext, engine_mode: str) -> None:
    x = sc.parallelize([("a", 1), ("b", 4)])
    y = sc.parallelize([("a", 2), ("a", 3)])
    assert sorted(x.join(y).collect()) == [("a", (1, 2)), ("a", (1, 3))]
    assert x.join(y).getNumPartitions() == x.getNumPartitions() + y.getNumPartitions()
    assert x.join(y, 1).getNumPartitions() == 1
    z = sc.parallelize([("a", 2)])
    assert sorted(x.leftOuterJoin(z).collect()) == [("a", (1, 2)), ("b", (4, None))]
    assert sorted(z.rightOuterJoin(x).collect()) == [("a", (2, 1)), ("b", (None, 4))]
    w = sc.parallelize([("a", 2), ("c", 8)])
    assert sorted(x.fullOuterJoin(w).collect()) == [
        ("a", (1, 2)),
        ("b", (4, None)),
        ("c", (None, 8)),
    ]


def test_cogroup_group_with_subtract_by_key(sc: SparkContext) -> None:
    x = sc.parallelize([("a", 1), ("b", 4)])
    y = sc.parallelize([("a", 2)])
    got = [(k, tuple(map(list, v))) for k, v in sorted(x.cogroup(y).collect())]
    assert got == [("a", ([1], [2])), ("b", ([4], []))]
    w = sc.parallelize([("a", 5), ("b", 6)])
    z = sc.parallelize([("b", 42)])
    got4 = [(k, tuple(map(list, v))) for k, v in sorted(w.groupWith(x, y, z).collect())]
    assert got4 == [("a", ([5], [1], [2], [])), ("b", ([6], [4], [], [42]))]
    a = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 2)])
    b = sc.parallelize([("a", 3), ("c", None)])
    assert sorted(a.subtractByKey(b).collect()) == [("b", 4), ("b", 5)]


# -- zips --------------------------------------------------------------------------------


def test_zips(sc: SparkContext) -> None:
    assert sc.parallelize(["a", "b", "c", "d"], 3).zipWithIndex().collect() == [
        ("a", 0),
        ("b", 1),
        ("c", 2),
        ("d", 3),
    ]
    assert sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect() == [
        ("a", 0),
        ("b", 1),
        ("c", 4),
        ("d", 2),
        ("e", 5),
    ]
    x = sc.parallelize(range(0, 5))
    y = sc.parallelize(range(1000, 1005))
    assert x.zip(y).collect() == [(0, 1000), (1, 1001), (2, 1002), (3, 1003), (4, 1004)]
    with pytest.raises(ValueError, match="same number of partitions"):
        x.zip(sc.parallelize(range(5), 3))
    with pytest.raises((ValueError, SparkException)):
        sc.parallelize([1, 2], 1).zip(sc.parallelize([1], 1)).collect()


# -- sorting and partitioning -------------------------------------------------------------


def test_sort_by_key(sc: SparkContext) -> None:
    tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
    assert sc.parallelize(tmp).sortByKey().first() == ("1", 3)
    assert sc.parallelize(tmp).sortByKey(True, 1).collect() == [
        ("1", 3),
        ("2", 5),
        ("a", 1),
        ("b", 2),
        ("d", 4),
    ]
    assert sc.parallelize(tmp).sortByKey(True, 2).collect() == [
        ("1", 3),
        ("2", 5),
        ("a", 1),
        ("b", 2),
        ("d", 4),
    ]
    tmp2 = [("Mary", 1), ("had", 2), ("a", 3), ("little", 4), ("lamb", 5)]
    tmp2.extend([("whose", 6), ("fleece", 7), ("was", 8), ("white", 9)])
    got = sc.parallelize(tmp2).sortByKey(True, 3, keyfunc=lambda k: k.lower()).collect()
    assert got == [
        ("a", 3),
        ("fleece", 7),
        ("had", 2),
        ("lamb", 5),
        ("little", 4),
        ("Mary", 1),
        ("was", 8),
        ("white", 9),
        ("whose", 6),
    ]
    desc = sc.parallelize([(i, i) for i in range(100)], 4).sortByKey(False, 3)
    assert desc.keys().collect() == list(range(99, -1, -1))
    parts = desc.glom().collect()
    assert len(parts) == 3 and all(parts)
    assert sc.emptyRDD().sortByKey().collect() == []


def test_sort_by(sc: SparkContext) -> None:
    tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
    assert sc.parallelize(tmp).sortBy(lambda x: x[0]).collect() == [
        ("1", 3),
        ("2", 5),
        ("a", 1),
        ("b", 2),
        ("d", 4),
    ]
    assert sc.parallelize(tmp).sortBy(lambda x: x[1]).collect() == tmp
    assert sc.parallelize(range(50), 5).sortBy(lambda x: -x, numPartitions=3).take(3) == [
        49,
        48,
        47,
    ]
    # The sorted ranges hold the records themselves: no partitioner (as PySpark's values()),
    # descending and Python-computed keys too, empty inputs and empty ranges.
    by_value = sc.parallelize(tmp, 2).sortBy(lambda x: x[1], ascending=False, numPartitions=3)
    assert by_value.partitioner is None
    ranges = by_value.glom().collect()
    assert len(ranges) == 3
    assert [r for part in ranges for r in part] == sorted(tmp, key=lambda x: -x[1])
    assert sc.parallelize(tmp, 2).sortBy(lambda x: x[0].upper() * 2).collect()[0] == ("1", 3)
    assert sc.parallelize([], 2).sortBy(lambda x: x).collect() == []
    assert sc.parallelize(tmp, 2).sortByKey(keyfunc=lambda k: k.lower()).partitioner is None


def test_repartition_and_coalesce(sc: SparkContext) -> None:
    rdd = sc.parallelize([1, 2, 3, 4, 5, 6, 7], 4)
    assert len(rdd.repartition(2).glom().collect()) == 2
    assert len(rdd.repartition(10).glom().collect()) == 10
    assert sorted(rdd.repartition(3).collect()) == [1, 2, 3, 4, 5, 6, 7]
    five = sc.parallelize([1, 2, 3, 4, 5], 3)
    assert five.glom().collect() == [[1], [2, 3], [4, 5]]
    assert five.coalesce(1).glom().collect() == [[1, 2, 3, 4, 5]]
    assert five.coalesce(10).getNumPartitions() == 3
    assert five.coalesce(5, shuffle=True).getNumPartitions() == 5


def test_partition_by(sc: SparkContext, engine_mode: str) -> None:
    pairs = sc.parallelize([1, 2, 3, 4, 2, 4, 1]).map(lambda x: (x, x))
    sets = pairs.partitionBy(2).glom().collect()
    assert len(set(sets[0]).intersection(set(sets[1]))) == 0
    assert sorted(sets[0] + sets[1]) == sorted(pairs.collect())
    custom = pairs.partitionBy(3, lambda k: k).glom().collect()
    assert custom == [[(3, 3)], [(1, 1), (4, 4), (4, 4), (1, 1)], [(2, 2), (2, 2)]]
    explicit = pairs.partitionBy(2, portable_hash).glom().collect()
    assert explicit == sets


def test_repartition_and_sort_within_partitions(sc: SparkContext) -> None:
    rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
    got = rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2, True).glom().collect()
    assert got == [[(0, 5), (0, 8), (2, 6)], [(1, 3), (3, 8), (3, 8)]]


def test_portable_hash() -> None:
    assert portable_hash(None) == 0
    assert portable_hash((None, 1)) & 0xFFFFFFFF == 219750521
    assert portable_hash(5) == 5
    assert portable_hash("") == 0
    # Independent of this interpreter's hash seed: CPython's values under PYTHONHASHSEED=0.
    assert portable_hash("abc") == -4594863902769663758
    assert portable_hash(b"abc") == -4594863902769663758
    assert portable_hash("héllo") == 6395329678795984700
    assert portable_hash("日本") == 6243316497235261705
