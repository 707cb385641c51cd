"""RDD transformations and actions (expected values follow PySpark 3.5's documentation)."""

from __future__ import annotations

import math
import os
import pickle
import threading
from collections import defaultdict
from collections.abc import Iterator
from operator import add
from pathlib import Path
from typing import Any, Callable

import pytest

from ferrostream import RDD, SparkContext, StorageLevel
from ferrostream import _rdd_util as rdd_util
from ferrostream.errors import PySparkRuntimeError, SparkException
from ferrostream.rdd import PipelinedRDD, portable_hash
from ferrostream.statcounter import StatCounter


def user_error(exc: type[BaseException]) -> Callable[[BaseException], bool]:
    """Whether an error raised by an action is (or wraps) a user exception of type ``exc``."""

    def check(err: BaseException) -> bool:
        return isinstance(err, exc) or isinstance(err.__cause__, exc)

    return check


def raises_user(sc_call: Callable[[], Any], exc: type[BaseException]) -> None:
    with pytest.raises((exc, SparkException)) as info:
        sc_call()
    assert user_error(exc)(info.value)


# -- element-wise ------------------------------------------------------------------------


def test_map_flatmap_filter(sc: SparkContext, engine_mode: str) -> None:
    rdd = sc.parallelize(["b", "a", "c"])
    assert sorted(rdd.map(lambda x: (x, 1)).collect()) == [("a", 1), ("b", 1), ("c", 1)]
    nums = sc.parallelize([2, 3, 4])
    assert sorted(nums.flatMap(lambda x: range(1, x)).collect()) == [1, 1, 1, 2, 2, 3]
    assert sorted(nums.flatMap(lambda x: [(x, x), (x, x)]).collect()) == [
        (2, 2),
        (2, 2),
        (3, 3),
        (3, 3),
        (4, 4),
        (4, 4),
    ]
    assert sc.parallelize([1, 2, 3, 4, 5]).filter(lambda x: x % 2 == 0).collect() == [2, 4]
    lines = sc.parallelize(["a b", "c", ""], 2)
    assert lines.flatMap(lambda s: s.split()).map(lambda w: w.upper()).collect() == [
        "A",
        "B",
        "C",
    ]
    assert sc.parallelize(range(3)).keyBy(lambda x: x * x).collect() == [(0, 0), (1, 1), (4, 2)]


def test_map_partitions_variants(sc: SparkContext) -> None:
    rdd = sc.parallelize([1, 2, 3, 4], 2)
    assert rdd.mapPartitions(lambda it: [sum(it)]).collect() == [3, 7]
    assert sc.parallelize([1, 2, 3, 4], 4).mapPartitionsWithIndex(lambda i, it: [i]).sum() == 6
    with pytest.warns(FutureWarning, match="mapPartitionsWithSplit is deprecated"):
        split = rdd.mapPartitionsWithSplit(lambda i, it: [(i, list(it))])
    assert split.collect() == [(0, [1, 2]), (1, [3, 4])]
    assert rdd.glom().collect() == [[1, 2], [3, 4]]
    assert sc.parallelize([], 3).glom().collect() == [[], [], []]


def test_values_of_all_types_round_trip(sc: SparkContext) -> None:
    class Opaque:
        def __init__(self, v: int) -> None:
            self.v = v

    data: list[Any] = [None, True, 3, 2.5, "s", b"b", (1, "a"), [1, [2]], {"k": 1}, {1, 2}]
    assert sc.parallelize(data, 3).map(lambda x: x).collect() == data
    objs = sc.parallelize([Opaque(1), Opaque(2)]).map(lambda o: o).collect()
    assert [o.v for o in objs] == [1, 2]


def test_non_callable_arguments(sc: SparkContext) -> None:
    rdd = sc.parallelize([1])
    for method in ("map", "flatMap", "filter", "mapPartitions", "keyBy", "foreach"):
        with pytest.raises(TypeError, match="f should be callable"):
            getattr(rdd, method)(3)
    with pytest.raises(TypeError, match="func should be callable"):
        rdd.map(lambda x: (x, x)).reduceByKey(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="partitionFunc should be callable"):
        rdd.map(lambda x: (x, x)).partitionBy(2, "hash")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="createCombiner should be callable"):
        rdd.combineByKey(1, add, add)  # type: ignore[arg-type]


def test_bad_num_partitions(sc: SparkContext) -> None:
    pairs = sc.parallelize([(1, 1)])
    with pytest.raises(TypeError, match="numPartitions"):
        pairs.reduceByKey(add, "2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="numPartitions"):
        pairs.groupByKey(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="numPartitions"):
        pairs.partitionBy(0)
    with pytest.raises(ValueError, match="numPartitions"):
        pairs.repartition(-1)
    with pytest.raises(TypeError, match="numPartitions"):
        pairs.coalesce(None)  # type: ignore[arg-type]


def test_user_errors_propagate(sc: SparkContext, engine_mode: str) -> None:
    rdd = sc.parallelize([1, 0], 2)
    raises_user(lambda: rdd.map(lambda x: 1 / x).collect(), ZeroDivisionError)
    raises_user(lambda: rdd.map(lambda x: 1 / x).count(), ZeroDivisionError)
    raises_user(lambda: rdd.map(lambda x: (x, 1 / x)).reduceByKey(add).collect(), ZeroDivisionError)


def test_stop_iteration_in_user_function_is_not_silent(sc: SparkContext) -> None:
    def bad(x: int) -> int:
        raise StopIteration

    with pytest.raises(Exception) as info:
        sc.parallelize([1, 2]).map(bad).collect()
    assert not isinstance(info.value, StopIteration)


def test_rdd_is_always_truthy(sc: SparkContext) -> None:
    assert not hasattr(RDD, "__len__") and not hasattr(RDD, "__bool__")
    assert bool(sc.emptyRDD())


def test_rdd_cannot_be_pickled(sc: SparkContext) -> None:
    with pytest.raises(PySparkRuntimeError, match="RDD_TRANSFORM_ONLY_VALID_ON_DRIVER"):
        pickle.dumps(sc.parallelize([1]))


# -- fusion ----------------------------------------------------------------------------


@pytest.mark.in_process
def test_python_steps_are_fused(sc: SparkContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rdd_util, "use_native", False)
    calls: list[int] = []
    lock = threading.Lock()

    def tracked(split: int, it: Iterator[int]) -> Iterator[int]:
        with lock:
            calls.append(split)
        return it

    base = sc.parallelize(list(range(10)), 2)
    step1 = base.mapPartitionsWithIndex(tracked)
    step2 = step1.map(lambda x: x + 1)
    step3 = step2.filter(lambda x: x % 2 == 0)
    step4 = step3.map(lambda x: x * 10)
    assert isinstance(step4, PipelinedRDD)
    assert step4._depth == 4
    assert step4._source is base._jrdd
    assert step4.collect() == [20, 40, 60, 80, 100]
    assert sorted(calls) == [0, 1]
    # The intermediate steps never became engine nodes of their own.
    for step in (step1, step2, step3):
        assert step._jrdd_val is None
    assert step4.count() == 5
    # parallelize(range) is itself a lazy Python step, and later steps join it.
    ranged = sc.parallelize(range(10), 2).map(lambda x: x)
    assert isinstance(ranged, PipelinedRDD) and ranged._depth == 2


@pytest.mark.in_process
def test_cache_breaks_the_pipeline(sc: SparkContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rdd_util, "use_native", False)
    runs: list[int] = []
    lock = threading.Lock()

    def count_runs(x: int) -> int:
        with lock:
            runs.append(x)
        return x * 2

    cached = sc.parallelize(range(6), 3).map(count_runs).cache()
    child = cached.map(lambda x: x + 1)
    assert isinstance(child, PipelinedRDD)
    assert child._depth == 1 and child._source is cached._jrdd
    assert child.collect() == [1, 3, 5, 7, 9, 11]
    assert cached.collect() == [0, 2, 4, 6, 8, 10]
    assert cached.count() == 6
    assert len(runs) == 6
    cached.unpersist()
    assert not cached.is_cached
    assert cached.getStorageLevel() == StorageLevel(False, False, False, False, 1)


def test_native_and_python_paths_agree(sc: SparkContext, monkeypatch: pytest.MonkeyPatch) -> None:
    words = ["a", "bb", "a", "ccc", "bb", "a", "d"] * 20

    def pipeline() -> list[Any]:
        rdd = sc.parallelize(words, 3)
        counts = rdd.map(lambda w: (w, 1)).reduceByKey(add).collect()
        lens = rdd.map(len).filter(lambda n: n > 1).collect()
        pairs = rdd.keyBy(len).mapValues(lambda w: w + "!").collect()
        flat = rdd.flatMap(lambda w: w.split("b")).collect()
        fmv = rdd.keyBy(len).flatMapValues(lambda w: [w, w]).count()
        folded = rdd.map(lambda w: (w, len(w))).combineByKey(lambda v: v, add, add).collect()
        return [counts, lens, pairs, flat, fmv, folded]

    native = pipeline()
    monkeypatch.setattr(rdd_util, "use_native", False)
    python = pipeline()
    assert native == python


def test_native_steps_are_used_when_possible(
    sc: SparkContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rdd_util, "use_native", True)
    rdd = sc.parallelize(["a b", "b c"], 2)
    words = rdd.flatMap(lambda s: s.split())
    pairs = words.map(lambda w: (w, 1))
    assert not isinstance(pairs, PipelinedRDD)
    counts = pairs.reduceByKey(add)
    assert repr(counts).startswith("ShuffledRDD[")
    assert sorted(counts.collect()) == [("a", 1), ("b", 2), ("c", 1)]
    # A function the analyser cannot prove falls back to a fused Python step.
    seen: list[str] = []
    assert isinstance(words.map(lambda w: seen.append(w) or w), PipelinedRDD)


def test_reduce_by_key_order_matches_pyspark(sc: SparkContext, engine_mode: str) -> None:
    # Partition p holds keys with portable_hash(k) % n == p, in first-seen order.
    rdd = sc.parallelize([("b", 1), ("a", 1), ("c", 1), ("b", 2), ("a", 5)], 2)
    parts = rdd.reduceByKey(add).glom().collect()
    assert sorted(kv for p in parts for kv in p) == [("a", 6), ("b", 3), ("c", 1)]
    for index, part in enumerate(parts):
        for k, _ in part:
            assert portable_hash(k) % 2 == index


# -- set-like ----------------------------------------------------------------------------


def test_union_distinct_intersection_subtract(sc: SparkContext, engine_mode: str) -> None:
    rdd = sc.parallelize([1, 1, 2, 3])
    assert rdd.union(rdd).collect() == [1, 1, 2, 3, 1, 1, 2, 3]
    assert (rdd + rdd).count() == 8
    assert sorted(rdd.distinct().collect()) == [1, 2, 3]
    assert rdd.distinct(1).getNumPartitions() == 1
    rdd1 = sc.parallelize([1, 10, 2, 3, 4, 5])
    rdd2 = sc.parallelize([1, 6, 2, 3, 7, 8])
    assert sorted(rdd1.intersection(rdd2).collect()) == [1, 2, 3]
    x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 3)])
    y = sc.parallelize([("a", 3), ("c", None)])
    assert sorted(x.subtract(y).collect()) == [("a", 1), ("b", 4), ("b", 5)]


def test_cartesian(sc: SparkContext) -> None:
    rdd = sc.parallelize([1, 2])
    assert sorted(rdd.cartesian(rdd).collect()) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    a = sc.parallelize([1, 2, 3], 2)
    b = sc.parallelize(["x", "y"], 2)
    c = a.cartesian(b)
    assert c.getNumPartitions() == 4
    assert c.glom().collect() == [
        [(1, "x")],
        [(1, "y")],
        [(2, "x"), (3, "x")],
        [(2, "y"), (3, "y")],
    ]


# -- sampling --------------------------------------------------------------------------


def test_sample_is_deterministic(sc: SparkContext) -> None:
    rdd = sc.parallelize(range(1000), 4)
    s1 = rdd.sample(False, 0.1, 81).collect()
    assert s1 == rdd.sample(False, 0.1, 81).collect()
    assert 50 <= len(s1) <= 150
    assert set(s1) <= set(range(1000))
    with_rep = rdd.sample(True, 2.0, 7).count()
    assert 1700 <= with_rep <= 2300
    assert rdd.sample(False, 0.0, 1).count() == 0
    assert rdd.sample(False, 1.0, 1).count() == 1000
    with pytest.raises(ValueError, match="Negative fraction value"):
        rdd.sample(False, -0.1)


def test_random_split(sc: SparkContext) -> None:
    rdd = sc.parallelize(range(500), 2)
    rdd1, rdd2 = rdd.randomSplit([2, 3], 17)
    a, b = rdd1.collect(), rdd2.collect()
    assert sorted(a + b) == list(range(500))
    assert 150 < len(a) < 250
    assert a == rdd.randomSplit([2, 3], 17)[0].collect()


def test_take_sample(sc: SparkContext) -> None:
    rdd = sc.parallelize(range(0, 10))
    assert len(rdd.takeSample(True, 20, 1)) == 20
    five = rdd.takeSample(False, 5, 2)
    assert len(five) == 5 and len(set(five)) == 5
    assert sorted(rdd.takeSample(False, 15, 3)) == list(range(10))
    assert rdd.takeSample(False, 5, 2) == five
    assert rdd.takeSample(False, 0) == []
    assert sc.emptyRDD().takeSample(False, 3) == []
    with pytest.raises(ValueError, match="Sample size cannot be negative"):
        rdd.takeSample(False, -1)


# -- actions -----------------------------------------------------------------------------


def test_collect_count_take_first(sc: SparkContext) -> None:
    assert sc.parallelize([2, 3, 4]).count() == 3
    assert sc.parallelize([2, 3, 4]).map(lambda x: x).count() == 3
    assert sc.parallelize([2, 3, 4, 5, 6]).cache().take(2) == [2, 3]
    assert sc.parallelize([2, 3, 4, 5, 6]).take(10) == [2, 3, 4, 5, 6]
    assert sc.parallelize(range(100), 100).filter(lambda x: x > 90).take(3) == [91, 92, 93]
    assert sc.parallelize(range(10)).take(0) == []
    assert sc.parallelize([2, 3, 4]).first() == 2
    with pytest.raises(ValueError, match="RDD is empty"):
        sc.parallelize([]).first()
    assert sc.parallelize([]).isEmpty()
    assert not sc.parallelize([1]).isEmpty()


@pytest.mark.in_process
def test_take_scans_partitions_progressively(
    sc: SparkContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rdd_util, "use_native", False)
    seen: set[int] = set()
    lock = threading.Lock()

    def track(split: int, it: Iterator[int]) -> Iterator[int]:
        with lock:
            seen.add(split)
        return it

    rdd = sc.parallelize(range(100), 20).mapPartitionsWithIndex(track)
    assert rdd.take(3) == [0, 1, 2]
    assert seen == {0}
    seen.clear()
    evens = sc.parallelize(range(100), 20).filter(lambda x: x >= 30)
    assert evens.take(1) == [30]

    # An infinite partition is fine: take stops reading it.
    def endless(_: Iterator[int]) -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    assert sc.parallelize([0], 1).mapPartitions(endless).take(4) == [0, 1, 2, 3]


def test_to_local_iterator(sc: SparkContext) -> None:
    it = sc.parallelize(range(10), 3).toLocalIterator()
    assert next(it) == 0
    assert list(it) == list(range(1, 10))


def test_top_and_take_ordered(sc: SparkContext) -> None:
    assert sc.parallelize([10, 4, 2, 12, 3]).top(1) == [12]
    assert sc.parallelize([2, 3, 4, 5, 6], 2).top(2) == [6, 5]
    assert sc.parallelize([10, 4, 2, 12, 3]).top(3, key=str) == [4, 3, 2]
    nums = sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7])
    assert nums.takeOrdered(6) == [1, 2, 3, 4, 5, 6]
    two = sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2)
    assert two.takeOrdered(6, key=lambda x: -x) == [10, 9, 7, 6, 5, 4]
    assert sc.emptyRDD().takeOrdered(3) == []
    with pytest.raises(ValueError):
        nums.takeOrdered(-1)


def test_reduce_fold_aggregate(sc: SparkContext) -> None:
    assert sc.parallelize([1, 2, 3, 4, 5]).reduce(add) == 15
    assert sc.parallelize(2 for _ in range(10)).map(lambda x: 1).cache().reduce(add) == 10
    assert sc.parallelize([1, 2, 3], 5).reduce(add) == 6
    with pytest.raises(ValueError, match=r"Can not reduce\(\) empty RDD"):
        sc.parallelize([]).reduce(add)
    rdd = sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
    assert rdd.treeReduce(add) == -5
    assert rdd.treeReduce(add, 1) == -5
    assert rdd.treeReduce(add, 5) == -5
    with pytest.raises(ValueError, match="Depth cannot be smaller than 1"):
        rdd.treeReduce(add, 0)
    assert sc.parallelize([1, 2, 3, 4, 5]).fold(0, add) == 15
    assert sc.parallelize([1, 2, 3], 3).fold(1, add) == 10  # zero used per partition + once
    seq = lambda x, y: (x[0] + y, x[1] + 1)
    comb = lambda x, y: (x[0] + y[0], x[1] + y[1])
    assert sc.parallelize([1, 2, 3, 4]).aggregate((0, 0), seq, comb) == (10, 4)
    assert sc.parallelize([]).aggregate((0, 0), seq, comb) == (0, 0)
    assert rdd.treeAggregate(0, add, add) == -5
    assert rdd.treeAggregate(0, add, add, 1) == -5
    assert sc.emptyRDD().treeAggregate(0, add, add) == 0
    # A mutable zero value is never shared between partitions.
    got = sc.parallelize(range(6), 3).fold([], lambda acc, x: [*acc, x] if x != [] else acc)
    assert isinstance(got, list)


def test_count_by_value(sc: SparkContext) -> None:
    counts = sc.parallelize([1, 2, 1, 2, 2], 2).countByValue()
    assert isinstance(counts, defaultdict)
    assert sorted(counts.items()) == [(1, 2), (2, 3)]
    assert counts[99] == 0


def test_foreach(sc: SparkContext) -> None:
    acc = sc.accumulator(0)
    sc.parallelize([1, 2, 3, 4, 5]).foreach(lambda x: acc.add(x))
    assert acc.value == 15
    sizes = sc.accumulator(0)

    def per_partition(it: Iterator[int]) -> None:
        sizes.add(sum(1 for _ in it))

    assert sc.parallelize(range(7), 3).foreachPartition(per_partition) is None
    assert sizes.value == 7


def test_numeric_actions(sc: SparkContext) -> None:
    assert sc.parallelize([1.0, 2.0, 3.0]).sum() == 6.0
    assert sc.emptyRDD().sum() == 0
    rdd = sc.parallelize([1.0, 5.0, 43.0, 10.0])
    assert rdd.max() == 43.0
    assert rdd.max(key=str) == 5.0
    rdd2 = sc.parallelize([2.0, 5.0, 43.0, 10.0])
    assert rdd2.min() == 2.0
    assert rdd2.min(key=str) == 10.0
    three = sc.parallelize([1, 2, 3])
    assert three.mean() == 2.0
    assert three.variance() == pytest.approx(0.6666666666666666)
    assert three.stdev() == pytest.approx(0.816496580927726)
    assert three.sampleStdev() == 1.0
    assert three.sampleVariance() == 1.0
    stats = sc.parallelize(range(10), 3).stats()
    assert isinstance(stats, StatCounter)
    assert (stats.count(), stats.mean(), stats.sum()) == (10, 4.5, 45.0)
    assert (stats.min(), stats.max()) == (0, 9)
    assert repr(stats).startswith("(count: 10, mean: 4.5, stdev: 2.87")
    assert sc.parallelize([], 2).mean() == 0.0
    assert math.isnan(sc.parallelize([], 2).variance())
    assert sc.parallelize(range(1000)).countApproxDistinct() == 1000


def test_stat_counter_merge() -> None:
    a = StatCounter([1.0, 2.0])
    b = StatCounter([3.0, 4.0, 5.0])
    merged = a.copy().mergeStats(b)
    direct = StatCounter([1.0, 2.0, 3.0, 4.0, 5.0])
    assert merged.count() == 5
    assert merged.mean() == pytest.approx(direct.mean())
    assert merged.variance() == pytest.approx(direct.variance())
    assert merged.asDict()["max"] == 5.0
    assert a.mergeStats(a).count() == 4


def test_histogram(sc: SparkContext) -> None:
    rdd = sc.parallelize(range(51))
    assert rdd.histogram(2) == ([0, 25, 50], [25, 26])
    assert rdd.histogram([0, 5, 25, 50]) == ([0, 5, 25, 50], [5, 20, 26])
    assert rdd.histogram([0, 15, 30, 45, 60]) == ([0, 15, 30, 45, 60], [15, 15, 15, 6])
    strs = sc.parallelize(["ab", "ac", "b", "bd", "ef"])
    assert strs.histogram(("a", "b", "c")) == (["a", "b", "c"], [2, 2])
    with pytest.raises(ValueError):
        rdd.histogram([5, 1])


# -- persistence, checkpointing, naming ------------------------------------------------


def test_persist_and_storage_level(sc: SparkContext) -> None:
    rdd = sc.parallelize(["b", "a", "c"])
    assert not rdd.is_cached
    assert rdd.persist() is rdd
    assert rdd.is_cached
    assert str(rdd.getStorageLevel()) == "Memory Serialized 1x Replicated"
    other = sc.parallelize([1]).persist(StorageLevel.MEMORY_AND_DISK_2)
    assert other.getStorageLevel() == StorageLevel.MEMORY_AND_DISK_2
    assert sc.parallelize([1]).cache().getStorageLevel() == StorageLevel.MEMORY_ONLY
    with pytest.raises(TypeError, match="storageLevel"):
        rdd.persist("MEMORY_ONLY")  # type: ignore[arg-type]


def test_checkpoint(sc: SparkContext, tmp_path: Path) -> None:
    rdd = sc.parallelize(range(5)).map(lambda x: x + 1)
    with pytest.raises(SparkException, match="Checkpoint directory has not been set"):
        rdd.checkpoint()
    sc.setCheckpointDir(str(tmp_path))
    rdd.checkpoint()
    assert rdd.is_checkpointed
    assert not rdd.isCheckpointed()
    assert rdd.getCheckpointFile() is None
    assert rdd.collect() == [1, 2, 3, 4, 5]
    assert rdd.isCheckpointed()
    assert rdd.getCheckpointFile() is not None
    local = sc.parallelize([1])
    local.localCheckpoint()
    assert local.isLocallyCheckpointed()


def test_ids_names_repr_and_debug_string(sc: SparkContext) -> None:
    a = sc.parallelize([1, 2], 2)
    b = a.map(lambda x: x)
    assert isinstance(a.id(), int) and a.id() != b.id()
    assert a.name() is None
    assert a.setName("RDD1") is a
    assert a.name() == "RDD1"
    assert repr(a) == f"RDD1 ParallelCollectionRDD[{a.id()}] at parallelize at <ferrostream>"
    assert repr(b) == f"PythonRDD[{b.id()}] at RDD at <ferrostream>"
    debug = b.toDebugString()
    assert isinstance(debug, bytes)
    assert debug.decode().splitlines()[0].startswith("(2) PythonRDD[")
    assert b"ParallelCollectionRDD" in debug
    assert b.context is sc and b.ctx is sc


# -- output ------------------------------------------------------------------------------


def test_save_as_text_file(sc: SparkContext, tmp_path: Path) -> None:
    out = tmp_path / "out"
    sc.parallelize(["x", b"y", 1, (1, "a"), 2.5, None], 2).saveAsTextFile(str(out))
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001"]
    assert (out / "part-00000").read_text(encoding="utf-8") == "x\ny\n1\n"
    assert (out / "part-00001").read_text(encoding="utf-8") == "(1, 'a')\n2.5\nNone\n"
    with pytest.raises(FileExistsError, match="already exists"):
        sc.parallelize([1]).saveAsTextFile(str(out))
    again = tmp_path / "again"
    sc.textFile(str(out)).saveAsTextFile(f"file://{again}")
    assert sorted(sc.textFile(str(again)).collect()) == sorted(
        ["x", "y", "1", "(1, 'a')", "2.5", "None"]
    )
    empty = tmp_path / "empty"
    sc.parallelize([], 3).saveAsTextFile(str(empty))
    assert sorted(os.listdir(empty)) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]


# -- broadcast/accumulators from tasks ----------------------------------------------------


def test_broadcast_and_accumulator_in_word_count(sc: SparkContext, engine_mode: str) -> None:
    stop = sc.broadcast({"the", "a"})
    dropped = sc.accumulator(0)

    def keep(word: str) -> bool:
        if word in stop.value:
            dropped.add(1)
            return False
        return True

    text = sc.parallelize(["the cat sat", "a cat ran", "the end"], 3)
    counts = text.flatMap(lambda line: line.split()).filter(keep).map(lambda w: (w, 1))
    assert sorted(counts.reduceByKey(add).collect()) == [
        ("cat", 2),
        ("end", 1),
        ("ran", 1),
        ("sat", 1),
    ]
    assert dropped.value == 3


def test_pipe_sample_by_key_and_job_group(sc: SparkContext) -> None:
    assert sc.parallelize(["1", "2", "", "3"]).pipe("cat").collect() == ["1", "2", "", "3"]
    with pytest.raises(Exception, match="exited with error code"):
        sc.parallelize(["x"]).pipe("exit 3", checkCode=True).collect()
    fractions = {"a": 0.2, "b": 0.1}
    rdd = sc.parallelize(list(fractions)).cartesian(sc.parallelize(range(0, 1000)))
    sample = dict(rdd.sampleByKey(False, fractions, 2).groupByKey().collect())
    assert 100 < len(sample["a"]) < 300
    assert 50 < len(sample["b"]) < 150
    again = dict(rdd.sampleByKey(False, fractions, 2).groupByKey().mapValues(list).collect())
    assert again["a"] == list(sample["a"])
    assert sc.parallelize([1, 2]).collectWithJobGroup("g", "d") == [1, 2]
    assert sc.getLocalProperty("spark.jobGroup.id") == "g"
