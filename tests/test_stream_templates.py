"""DStream operations made of RDD methods (map, reduceByKey, join...) are planned once, when
the stream is defined; the engine instantiates that plan with every batch's RDDs, so the
facade's RDD methods do not run per batch. A user's own transform function still runs every
batch, as in Spark."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from ferrostream import RDD, SparkContext, StorageLevel
from ferrostream.streaming import StreamingContext
from ferrostream.testing import run_batches as advance_batches
from ferrostream.testing import streaming_context


@pytest.fixture
def ssc() -> Iterator[StreamingContext]:
    ctx = streaming_context(1, app="templates")
    yield ctx
    ctx.stop(stopSparkContext=True)


def count_calls(monkeypatch: pytest.MonkeyPatch, *names: str) -> Counter[str]:
    """Count the calls of RDD methods (the facade planning a batch)."""
    calls: Counter[str] = Counter()
    for name in names:
        original = getattr(RDD, name)

        def counted(self: Any, *args: Any, _name: str = name, _f: Any = original) -> Any:
            calls[_name] += 1
            return _f(self, *args)

        monkeypatch.setattr(RDD, name, counted)
    return calls


def run_batches(ssc: StreamingContext, n: int) -> None:
    ssc.start()
    advance_batches(ssc, n)


def batches(sc: SparkContext, *data: tuple[list[Any], int]) -> list[RDD[Any]]:
    return [sc.parallelize(records, slices) for records, slices in data]


def test_operations_are_planned_once_not_per_batch(
    ssc: StreamingContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch, "flatMap", "map", "reduceByKey", "glom")
    sc = ssc.sparkContext
    lines = ssc.queueStream(batches(sc, (["a b", "b c"], 2), (["c c", "d"], 1), (["a"], 3)))
    counts = lines.flatMap(lambda line: line.split()).map(lambda w: (w, 1))
    counts = counts.reduceByKey(lambda a, b: a + b, 2)
    got: list[list[tuple[str, int]]] = []
    counts.foreachRDD(lambda rdd: got.append(sorted(rdd.collect())))
    shapes: list[int] = []
    lines.glom().foreachRDD(lambda rdd: shapes.append(len(rdd.collect())))
    run_batches(ssc, 3)
    assert got == [[("a", 1), ("b", 2), ("c", 1)], [("c", 2), ("d", 1)], [("a", 1)]]
    # One partition list per partition of each batch: the plan follows every batch's size.
    assert shapes == [2, 1, 3]
    assert calls == Counter({"flatMap": 1, "map": 1, "reduceByKey": 1, "glom": 1})


def test_a_user_transform_runs_every_batch(
    ssc: StreamingContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch, "map")
    sc = ssc.sparkContext
    stream = ssc.queueStream(batches(sc, ([1, 2], 1), ([3], 1), ([4], 1)))
    seen: list[int] = []
    doubled = stream.transform(lambda rdd: rdd.map(lambda x: 2 * x))
    doubled.foreachRDD(lambda rdd: seen.extend(rdd.collect()))
    run_batches(ssc, 3)
    assert seen == [2, 4, 6, 8]
    assert calls["map"] == 3


def test_a_join_of_two_streams_is_planned_once(
    ssc: StreamingContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch, "join", "union")
    sc = ssc.sparkContext
    left = ssc.queueStream(batches(sc, ([("a", 1), ("b", 2)], 2), ([("c", 3)], 1)))
    right = ssc.queueStream(batches(sc, ([("a", "x")], 1), ([("c", "y"), ("c", "z")], 3)))
    joined: list[list[Any]] = []
    left.join(right, 3).foreachRDD(lambda rdd: joined.append(sorted(rdd.collect())))
    unioned: list[int] = []
    left.union(left).foreachRDD(lambda rdd: unioned.append(rdd.count()))
    run_batches(ssc, 2)
    assert joined == [[("a", (1, "x"))], [("c", (3, "y")), ("c", (3, "z"))]]
    assert unioned == [4, 2]
    assert calls == Counter({"join": 1, "union": 1})


def test_a_stream_joined_with_a_static_rdd_shares_it(ssc: StreamingContext) -> None:
    sc = ssc.sparkContext
    static = sc.parallelize([("a", "A"), ("b", "B")], 2).cache()
    stream = ssc.queueStream(batches(sc, ([("a", 1)], 1), ([("b", 2), ("a", 3)], 2)))
    got: list[list[Any]] = []
    stream.transform(lambda rdd: rdd.join(static)).foreachRDD(
        lambda rdd: got.append(sorted(rdd.collect()))
    )
    run_batches(ssc, 2)
    assert got == [[("a", (1, "A"))], [("a", (3, "A")), ("b", (2, "B"))]]


def test_persist_keeps_the_rdds_of_a_planned_stream(ssc: StreamingContext) -> None:
    sc = ssc.sparkContext
    mapped = ssc.queueStream(batches(sc, ([1, 2], 1), ([3], 1))).map(lambda x: x + 1)
    cached: list[bool] = []
    mapped.foreachRDD(lambda rdd: cached.append(rdd._plan.is_cached))
    mapped.persist(StorageLevel.MEMORY_ONLY)
    run_batches(ssc, 2)
    assert cached == [True, True]


def test_count_and_glom_run_natively(ssc: StreamingContext) -> None:
    from ferrostream import _native

    sc = ssc.sparkContext
    stream = ssc.queueStream(batches(sc, (["a", "b", "c"], 2), ([], 2), ([("k", [1])], 1)))
    counts: list[list[int]] = []
    stream.count().foreachRDD(lambda rdd: counts.append(rdd.collect()))
    lists: list[list[Any]] = []
    stream.glom().foreachRDD(lambda rdd: lists.append(rdd.collect()))
    _native.reset_native_stats()
    run_batches(ssc, 3)
    # As PySpark: an empty batch counts 0; one list per partition, empty ones included.
    assert counts == [[3], [0], [1]]
    assert lists == [[["a"], ["b", "c"]], [[], []], [[("k", [1])]]]
    stats = _native.native_stats()
    assert stats["fallback_partitions"] == 0
    assert stats["native_partitions"] >= 10  # 5 partitions counted and 5 listed, at least
