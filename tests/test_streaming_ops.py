"""DStream operations: exact per-batch results with the manual clock (PySpark semantics)."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from ferrostream.rdd import RDD
from ferrostream.streaming import DStream, StreamingContext
from ferrostream.streaming.dstream import TransformedDStream
from ferrostream.testing import collect_stream, run_batches, streaming_context
from streaming_helpers import run


@pytest.fixture
def ssc() -> Iterator[StreamingContext]:
    ctx = streaming_context(1, app="test_streaming_ops")
    yield ctx
    ctx.stop(stopSparkContext=True)


def test_map_then_empty_batches(ssc: StreamingContext) -> None:
    assert run(ssc, [[1, 2], [3]], lambda s: s.map(lambda x: x * 2), 4) == [[2, 4], [6], [], []]


def test_filter(ssc: StreamingContext) -> None:
    out = run(ssc, [[1, 2, 3, 4], [5]], lambda s: s.filter(lambda x: x % 2 == 0), 2)
    assert out == [[2, 4], []]


def test_flat_map(ssc: StreamingContext) -> None:
    out = run(ssc, [["a b", "c"], ["d e f"]], lambda s: s.flatMap(str.split), 2)
    assert out == [["a", "b", "c"], ["d", "e", "f"]]


def test_map_partitions_and_with_index(ssc: StreamingContext) -> None:
    sc = ssc.sparkContext
    src = ssc.queueStream([sc.parallelize([1, 2, 3, 4], 2)])
    sums = collect_stream(src.mapPartitions(lambda it: [sum(it)]))
    indexed = collect_stream(src.mapPartitionsWithIndex(lambda i, it: [(i, list(it))]))
    ssc.start()
    run_batches(ssc, 1)
    assert sums == [[3, 7]]
    assert indexed == [[(0, [1, 2]), (1, [3, 4])]]


def test_reduce(ssc: StreamingContext) -> None:
    out = run(ssc, [[1, 2, 3], [4]], lambda s: s.reduce(operator.add), 3)
    assert out == [[6], [4], []]


def test_count_including_empty_batches(ssc: StreamingContext) -> None:
    assert run(ssc, [[1, 2, 3], []], lambda s: s.count(), 3) == [[3], [0], [0]]


def test_count_by_value(ssc: StreamingContext) -> None:
    out = run(ssc, [["a", "b", "a"]], lambda s: s.countByValue(), 1)
    assert sorted(out[0]) == [("a", 2), ("b", 1)]


def test_reduce_by_key(ssc: StreamingContext) -> None:
    data = [[("a", 1), ("b", 2), ("a", 3)], [("b", 5)]]
    out = run(ssc, data, lambda s: s.reduceByKey(operator.add), 2)
    assert [sorted(b) for b in out] == [[("a", 4), ("b", 2)], [("b", 5)]]


def test_reduce_by_key_num_partitions(ssc: StreamingContext) -> None:
    parts: list[int] = []
    src = ssc.queueStream([[("a", 1), ("b", 2)]])
    src.reduceByKey(operator.add, 3).foreachRDD(lambda rdd: parts.append(rdd.getNumPartitions()))
    src.reduceByKey(operator.add).foreachRDD(lambda rdd: parts.append(rdd.getNumPartitions()))
    ssc.start()
    run_batches(ssc, 1)
    assert parts == [3, ssc.sparkContext.defaultParallelism]


def test_combine_by_key(ssc: StreamingContext) -> None:
    data = [[("a", 1), ("b", 2), ("a", 3)]]

    def op(s: DStream[Any]) -> DStream[Any]:
        return s.combineByKey(lambda v: [v], lambda c, v: [*c, v], operator.add)

    out = run(ssc, data, op, 1)
    assert sorted((k, sorted(v)) for k, v in out[0]) == [("a", [1, 3]), ("b", [2])]


def test_partition_by(ssc: StreamingContext) -> None:
    data = [[(0, "x"), (1, "y"), (2, "z"), (3, "w")]]
    out = run(ssc, data, lambda s: s.partitionBy(2, lambda k: k).glom(), 1)
    assert out == [[[(0, "x"), (2, "z")], [(1, "y"), (3, "w")]]]


def test_map_values_and_flat_map_values(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[("a", 2), ("b", 3)]])
    mapped = collect_stream(src.mapValues(lambda v: v * 10))
    flat = collect_stream(src.flatMapValues(range))
    ssc.start()
    run_batches(ssc, 1)
    assert mapped == [[("a", 20), ("b", 30)]]
    assert flat == [[("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2)]]


def test_glom(ssc: StreamingContext) -> None:
    rdd = ssc.sparkContext.parallelize([1, 2, 3, 4], 2)
    assert run(ssc, [rdd], lambda s: s.glom(), 1) == [[[1, 2], [3, 4]]]


def test_group_by_key(ssc: StreamingContext) -> None:
    out = run(ssc, [[("a", 1), ("a", 2), ("b", 3)]], lambda s: s.groupByKey(), 1)
    assert sorted((k, sorted(v)) for k, v in out[0]) == [("a", [1, 2]), ("b", [3])]


def test_repartition(ssc: StreamingContext) -> None:
    parts: list[int] = []
    out = collect_stream(ssc.queueStream([[1, 2, 3, 4, 5]]).repartition(3))
    ssc.queueStream([[1, 2, 3]]).repartition(3).foreachRDD(
        lambda rdd: parts.append(rdd.getNumPartitions())
    )
    ssc.start()
    run_batches(ssc, 1)
    assert sorted(out[0]) == [1, 2, 3, 4, 5]
    assert parts == [3]


def test_union_of_two_streams(ssc: StreamingContext) -> None:
    a = ssc.queueStream([[1], [2]])
    b = ssc.queueStream([[10], [20]])
    out = collect_stream(a.union(b))
    ssc.start()
    run_batches(ssc, 2)
    assert out == [[1, 10], [2, 20]]


def test_context_union(ssc: StreamingContext) -> None:
    streams = [ssc.queueStream([[i], [i * 10]]) for i in (1, 2, 3)]
    assert ssc.union(streams[0]) is streams[0]
    out = collect_stream(ssc.union(*streams))
    ssc.start()
    run_batches(ssc, 2)
    assert out == [[1, 2, 3], [10, 20, 30]]


def test_transform_one_and_two_arguments(ssc: StreamingContext) -> None:
    times: list[datetime] = []

    def with_time(t: datetime, rdd: RDD[int]) -> RDD[int]:
        times.append(t)
        return rdd.map(lambda x: x + 1)

    src = ssc.queueStream([[1, 2]])
    one = collect_stream(src.transform(lambda rdd: rdd.map(lambda x: -x)))
    two = collect_stream(src.transform(with_time))
    ssc.start()
    run_batches(ssc, 1)
    assert one == [[-1, -2]]
    assert two == [[2, 3]]
    assert times == [datetime.fromtimestamp(1.0)]


def test_transform_with(ssc: StreamingContext) -> None:
    a = ssc.queueStream([[1, 2]])
    b = ssc.queueStream([[3]])
    seen: list[datetime] = []

    def three(t: datetime, x: RDD[int], y: RDD[int]) -> RDD[int]:
        seen.append(t)
        return x.union(y)

    plain = collect_stream(a.transformWith(lambda x, y: x.cartesian(y), b))
    timed = collect_stream(a.transformWith(three, b))
    ssc.start()
    run_batches(ssc, 1)
    assert plain == [[(1, 3), (2, 3)]]
    assert timed == [[1, 2, 3]]
    assert seen == [datetime.fromtimestamp(1.0)]


def test_transform_with_passes_none_for_missing_rdd(ssc: StreamingContext) -> None:
    a = ssc.queueStream([[1]])
    nothing = a.transform(lambda rdd: None)
    received: list[Any] = []

    def func(x: Any, y: Any) -> Any:
        received.append((x is None, y is None))
        return y

    out = collect_stream(nothing.transformWith(func, a))
    ssc.start()
    run_batches(ssc, 1)
    assert received == [(True, False)]
    assert out == [[1]]


def test_context_transform_gets_tuple(ssc: StreamingContext) -> None:
    a = ssc.queueStream([[1]])
    b = ssc.queueStream([[2]])
    kinds: list[str] = []

    def func(rdds: Any) -> Any:
        kinds.append(type(rdds).__name__)
        return rdds[0].union(rdds[1])

    out = collect_stream(ssc.transform([a, b], func))
    ssc.start()
    run_batches(ssc, 1)
    assert kinds == ["tuple"]
    assert out == [[1, 2]]


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("join", [("a", (1, "x"))]),
        ("leftOuterJoin", [("a", (1, "x")), ("b", (2, None))]),
        ("rightOuterJoin", [("a", (1, "x")), ("c", (None, "y"))]),
        ("fullOuterJoin", [("a", (1, "x")), ("b", (2, None)), ("c", (None, "y"))]),
    ],
)
def test_joins(ssc: StreamingContext, method: str, expected: list[Any]) -> None:
    left = ssc.queueStream([[("a", 1), ("b", 2)]])
    right = ssc.queueStream([[("a", "x"), ("c", "y")]])
    out = collect_stream(getattr(left, method)(right))
    ssc.start()
    run_batches(ssc, 1)
    assert sorted(out[0]) == expected


def test_cogroup(ssc: StreamingContext) -> None:
    left = ssc.queueStream([[("a", 1), ("a", 2), ("b", 3)]])
    right = ssc.queueStream([[("a", "x")]])
    out = collect_stream(left.cogroup(right))
    ssc.start()
    run_batches(ssc, 1)
    got = sorted((k, (sorted(v), sorted(w))) for k, (v, w) in out[0])
    assert got == [("a", ([1, 2], ["x"])), ("b", ([3], []))]


def test_join_uses_default_parallelism(ssc: StreamingContext) -> None:
    parts: list[int] = []
    left = ssc.queueStream([[("a", 1)]])
    left.join(left).foreachRDD(lambda rdd: parts.append(rdd.getNumPartitions()))
    ssc.start()
    run_batches(ssc, 1)
    assert parts == [ssc.sparkContext.defaultParallelism]


def test_consecutive_transforms_are_fused(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[1, 2, 3]])
    chained = src.map(lambda x: x + 1).filter(lambda x: x > 2).map(str)
    assert isinstance(chained, TransformedDStream)
    assert chained.prev is src
    cached = src.map(lambda x: x).cache()
    after_cache = cached.map(lambda x: x)
    assert isinstance(after_cache, TransformedDStream)
    assert after_cache.prev is cached
    out = collect_stream(chained)
    ssc.start()
    run_batches(ssc, 1)
    assert out == [["3", "4"]]


@pytest.mark.in_process
def test_cache_and_shared_stream(ssc: StreamingContext) -> None:
    calls: list[int] = []

    def track(x: int) -> int:
        calls.append(x)
        return x

    shared = ssc.queueStream([[1, 2]]).map(track).cache()
    assert shared.is_cached
    first = collect_stream(shared)
    second = collect_stream(shared.map(lambda x: x * 3))
    ssc.start()
    run_batches(ssc, 1)
    assert first == [[1, 2]]
    assert second == [[3, 6]]
    assert sorted(calls) == [1, 2]


def test_queue_stream_one_at_a_time_false_and_default(ssc: StreamingContext) -> None:
    sc = ssc.sparkContext
    out = collect_stream(ssc.queueStream([[1], sc.parallelize([2, 3])], False, [9]))
    ssc.start()
    run_batches(ssc, 3)
    assert out == [[1, 2, 3], [9], [9]]


def test_queue_stream_ignores_later_changes(ssc: StreamingContext) -> None:
    data = [[1], [2]]
    out = collect_stream(ssc.queueStream(data))
    data.append([3])
    data[0].append(100)
    ssc.start()
    run_batches(ssc, 3)
    assert out == [[1], [2], []]


def test_slice_returns_remembered_rdds(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[1], [2], [3]])
    collect_stream(src)
    ssc.remember(60)
    ssc.start()
    run_batches(ssc, 3)
    assert [r.collect() for r in src.slice(2, 3)] == [[2], [3]]
    begin = datetime.fromtimestamp(1.0)
    end = datetime.fromtimestamp(2.0)
    assert [r.collect() for r in src.slice(begin, end)] == [[1], [2]]


def test_slide_duration_is_seconds(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[1]])
    assert src._slideDuration == 1.0
    assert src.map(str)._slideDuration == 1.0
    assert src.context() is ssc


def test_half_second_batches() -> None:
    ssc = streaming_context(0.5, app="half")
    try:
        times: list[datetime] = []
        ssc.queueStream([[1]]).foreachRDD(lambda t, rdd: times.append(t))
        ssc.start()
        run_batches(ssc, 2)
        assert times == [datetime.fromtimestamp(0.5), datetime.fromtimestamp(1.0)]
    finally:
        ssc.stop()
