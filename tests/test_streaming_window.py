"""Windowed DStream operations: exact per-batch results with the manual clock (Spark 3.5 rules).

With the manual clock the zero time is 0 and batch ``k`` runs at ``k`` seconds, so a window of
``w`` seconds at batch ``k`` holds batches ``k - w + 1 .. k``. Incremental windows (with an
inverse function) update the previous window's result when the window is at least five slides
long, and reduce the whole window again otherwise.
"""

from __future__ import annotations

import operator
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest

from ferrostream._native import native_stats
from ferrostream.errors import IllegalArgumentException, IllegalStateException, SparkException
from ferrostream.rdd import RDD
from ferrostream.resultiterable import ResultIterable
from ferrostream.streaming import DStream, StreamingContext
from ferrostream.testing import batch_times, collect_stream, run_batches, streaming_context
from streaming_helpers import NO_CHECKPOINT, OutputOutcomes, run


@pytest.fixture
def ssc(checkpointed_ssc: StreamingContext) -> StreamingContext:
    return checkpointed_ssc


def sort_all(batches: list[list[Any]]) -> list[list[Any]]:
    return [sorted(b) for b in batches]


def at(*seconds: int) -> list[datetime]:
    return [datetime.fromtimestamp(float(s)) for s in seconds]


# ------------------------------------------------------------------------------------------
# window


def test_window_contents_and_draining(bare_ssc: StreamingContext) -> None:
    out = run(bare_ssc, [[1], [2], [3], [4]], lambda s: s.window(3), 7)
    assert out == [[1], [1, 2], [1, 2, 3], [2, 3, 4], [3, 4], [4], []]


def test_window_emits_at_slide_multiples_only(bare_ssc: StreamingContext) -> None:
    windowed = bare_ssc.queueStream([[1], [2], [3], [4], [5]]).window(3, 2)
    out = collect_stream(windowed)
    times = batch_times(windowed)
    bare_ssc.start()
    run_batches(bare_ssc, 7)
    # Batches 2, 4, 6 cover (-1, 2], (1, 4], (3, 6].
    assert out == [[1, 2], [2, 3, 4], [4, 5]]
    assert times == at(2, 4, 6)
    assert windowed._slideDuration == 2.0


def test_window_of_a_window_defaults_to_the_parent_slide(bare_ssc: StreamingContext) -> None:
    src = bare_ssc.queueStream([[1], [2], [3], [4], [5], [6]])
    twice = src.window(2, 2).window(4)
    times = batch_times(twice)
    out = collect_stream(twice)
    bare_ssc.start()
    run_batches(bare_ssc, 6)
    assert times == at(2, 4, 6)
    assert out == [[1, 2], [1, 2, 3, 4], [3, 4, 5, 6]]


def test_window_after_transform_and_with_fractional_batches() -> None:
    ctx = streaming_context(0.5, app="test_window_fractional")
    try:
        out = collect_stream(ctx.queueStream([[1], [2], [3]]).map(lambda x: x * 10).window(1))
        ctx.start()
        run_batches(ctx, 4)
        assert out == [[10], [10, 20], [20, 30], [30]]
    finally:
        ctx.stop()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.window(1.5), "windowDuration"),
        (lambda s: s.window(2, 1.5), "slideDuration"),
        (lambda s: s.reduceByKeyAndWindow(operator.add, None, 2.5, 1), "windowDuration"),
        (lambda s: s.reduceByKeyAndWindow(operator.add, operator.sub, 2, 0.5), "slideDuration"),
        (lambda s: s.countByWindow(3.2, 1), "windowDuration"),
        (lambda s: s.countByValueAndWindow(2, 1.1), "slideDuration"),
        (lambda s: s.groupByKeyAndWindow(0.5, 1), "windowDuration"),
        (lambda s: s.reduceByWindow(operator.add, None, 1.7, 1), "windowDuration"),
    ],
)
def test_durations_must_be_multiples_of_the_parent_slide(
    bare_ssc: StreamingContext, call: Callable[[DStream[Any]], Any], message: str
) -> None:
    src = bare_ssc.queueStream([[("a", 1)]])
    expected = (
        f"{message} must be multiple of the parent dstream's slide (batch) duration (1000 ms)"
    )
    with pytest.raises(ValueError) as info:
        call(src)
    assert str(info.value) == expected


def test_window_checks_against_a_windowed_parent_slide(bare_ssc: StreamingContext) -> None:
    windowed = bare_ssc.queueStream([[1]]).window(2, 2)
    with pytest.raises(ValueError, match=r"^windowDuration must be .* \(2000 ms\)$"):
        windowed.window(3)
    with pytest.raises(ValueError, match=r"^slideDuration must be .* \(2000 ms\)$"):
        windowed.window(4, 1)


def test_window_bad_duration_types(bare_ssc: StreamingContext) -> None:
    src = bare_ssc.queueStream([[1]])
    with pytest.raises(TypeError):
        src.window("2")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        src.window(-1)


def test_window_after_start_is_refused(bare_ssc: StreamingContext) -> None:
    src = bare_ssc.queueStream([[1]])
    src.pprint()
    bare_ssc.start()
    with pytest.raises(IllegalStateException, match="after starting a context is not supported"):
        src.window(2)


# ------------------------------------------------------------------------------------------
# reduceByKeyAndWindow


def test_reduce_by_key_and_window_without_inverse_needs_no_checkpoint(
    bare_ssc: StreamingContext,
) -> None:
    data = [[("a", 1)], [("a", 2), ("b", 3)], [("b", 4)]]
    out = run(bare_ssc, data, lambda s: s.reduceByKeyAndWindow(operator.add, None, 2), 5)
    assert sort_all(out) == [[("a", 1)], [("a", 3), ("b", 3)], [("a", 2), ("b", 7)], [("b", 4)], []]


def test_reduce_by_key_and_window_without_inverse_ignores_filter(
    bare_ssc: StreamingContext,
) -> None:
    def op(s: DStream[Any]) -> DStream[Any]:
        return s.reduceByKeyAndWindow(operator.add, None, 2, 1, None, lambda kv: False)

    out = run(bare_ssc, [[("a", 1)]], op, 2)
    assert out == [[("a", 1)], [("a", 1)]]


def test_reduce_by_key_and_window_with_slide(bare_ssc: StreamingContext) -> None:
    data = [[("a", 1)], [("a", 2)], [("a", 4)], [("a", 8)], [("a", 16)]]
    src = bare_ssc.queueStream(data)
    windowed = src.reduceByKeyAndWindow(lambda x, y: x + y, None, 3, 2)
    out = collect_stream(windowed)
    times = batch_times(windowed)
    bare_ssc.start()
    run_batches(bare_ssc, 6)
    assert out == [[("a", 3)], [("a", 14)], [("a", 24)]]
    assert times == at(2, 4, 6)


def test_inverse_recompute_path_drops_keys(ssc: StreamingContext) -> None:
    # window 3 < 5 slides: each window is reduced from its batches, so keys leave.
    data = [[("a", 1)], [("a", 2), ("b", 1)], [("b", 2)]]
    out = run(ssc, data, lambda s: s.reduceByKeyAndWindow(operator.add, operator.sub, 3, 1), 6)
    assert sort_all(out) == [
        [("a", 1)],
        [("a", 3), ("b", 1)],
        [("a", 3), ("b", 3)],
        [("a", 2), ("b", 3)],
        [("b", 2)],
        [],
    ]


def test_inverse_incremental_path_keeps_zero_keys(ssc: StreamingContext, engine_mode: str) -> None:
    # window 5 >= 5 slides: the previous result is updated; keys reaching 0 stay.
    data = [[("a", 1)], [("a", 2), ("b", 1)], [("b", 2)]]
    out = run(ssc, data, lambda s: s.reduceByKeyAndWindow(operator.add, operator.sub, 5, 1), 9)
    assert sort_all(out) == [
        [("a", 1)],
        [("a", 3), ("b", 1)],
        [("a", 3), ("b", 3)],
        [("a", 3), ("b", 3)],
        [("a", 3), ("b", 3)],
        [("a", 2), ("b", 3)],
        [("a", 0), ("b", 2)],
        [("a", 0), ("b", 0)],
        [("a", 0), ("b", 0)],
    ]


@pytest.mark.in_process
def test_rdds_of_earlier_windows_keep_their_contents(ssc: StreamingContext) -> None:
    # A window is updated in place only where nothing else holds it: an RDD the program kept
    # from an earlier window still reads that window.
    kept: list[RDD[Any]] = []
    data = [[("a", 1)], [("a", 2), ("b", 1)], [("b", 2)]]
    windows = ssc.queueStream(data).reduceByKeyAndWindow(operator.add, operator.sub, 5, 1)
    windows.foreachRDD(lambda rdd: kept.append(rdd))
    ssc.start()
    run_batches(ssc, 7)
    assert [sorted(rdd.collect()) for rdd in kept] == [
        [("a", 1)],
        [("a", 3), ("b", 1)],
        [("a", 3), ("b", 3)],
        [("a", 3), ("b", 3)],
        [("a", 3), ("b", 3)],
        [("a", 2), ("b", 3)],
        [("a", 0), ("b", 2)],
    ]


def test_inverse_incremental_path_with_filter(ssc: StreamingContext) -> None:
    data = [[("a", 1)], [("a", 2), ("b", 1)], [("b", 2)]]

    def op(s: DStream[Any]) -> DStream[Any]:
        return s.reduceByKeyAndWindow(
            operator.add, operator.sub, 5, 1, filterFunc=lambda kv: kv[1] > 0
        )

    out = run(ssc, data, op, 9)
    assert sort_all(out) == [
        [("a", 1)],
        [("a", 3), ("b", 1)],
        [("a", 3), ("b", 3)],
        [("a", 3), ("b", 3)],
        [("a", 3), ("b", 3)],
        [("a", 2), ("b", 3)],
        [("b", 2)],
        [],
        [],
    ]


def test_inverse_recompute_path_with_filter(ssc: StreamingContext) -> None:
    data = [[("a", 1)], [("a", 2), ("b", 1)]]

    def op(s: DStream[Any]) -> DStream[Any]:
        return s.reduceByKeyAndWindow(
            operator.add, operator.sub, 2, 1, filterFunc=lambda kv: kv[1] % 2 == 1
        )

    out = run(ssc, data, op, 4)
    assert sort_all(out) == [[("a", 1)], [("a", 3), ("b", 1)], [("b", 1)], []]


def test_inverse_incremental_with_slide_of_two_batches(ssc: StreamingContext) -> None:
    # window 10 = 5 slides of 2: old and new parts span two batches each.
    data = [[("a", 1), ("b", 1)], [("a", 2)], [("b", 4)], [("a", 8)]]
    src = ssc.queueStream(data)
    windowed = src.reduceByKeyAndWindow(operator.add, operator.sub, 10, 2)
    out = collect_stream(windowed)
    times = batch_times(windowed)
    ssc.start()
    run_batches(ssc, 16)
    assert times == at(*range(2, 17, 2))
    assert sort_all(out) == [
        [("a", 3), ("b", 1)],
        [("a", 11), ("b", 5)],
        [("a", 11), ("b", 5)],
        [("a", 11), ("b", 5)],
        [("a", 11), ("b", 5)],
        [("a", 8), ("b", 4)],
        [("a", 0), ("b", 0)],
        [("a", 0), ("b", 0)],
    ]


def test_inverse_path_num_partitions(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[("a", 1), ("b", 2), ("c", 3)]])
    sizes: list[int] = []
    incremental = src.reduceByKeyAndWindow(operator.add, operator.sub, 5, 1, 3)
    incremental.foreachRDD(lambda rdd: sizes.append(rdd.getNumPartitions()))
    recomputed = src.reduceByKeyAndWindow(operator.add, operator.sub, 2, 1, 4)
    recomputed.foreachRDD(lambda rdd: sizes.append(rdd.getNumPartitions()))
    ssc.start()
    run_batches(ssc, 2)
    assert sizes == [3, 4, 3, 4]


@pytest.mark.in_process
def test_inverse_failure_fails_one_batch_then_recomputes(ssc: StreamingContext) -> None:
    failures: list[int] = []

    def flaky_sub(x: int, y: int) -> int:
        if x == 7:
            failures.append(x)
            raise ValueError("inverse failed")
        return x - y

    data = [[("a", 1)], [("a", 2)], [("a", 4)]]
    out, failed = run_until_failure(
        ssc, data, lambda s: s.reduceByKeyAndWindow(operator.add, flaky_sub, 5, 1), 8
    )
    # Batch 6 (the first subtraction, from 7) fails; batch 7 does not retry it but reduces its
    # whole window (batches 3..7) again, then batch 8 goes on incrementally from that.
    assert out == [
        [("a", 1)],
        [("a", 3)],
        [("a", 7)],
        [("a", 7)],
        [("a", 7)],
        [("a", 4)],
        [("a", 0)],
    ]
    assert failures == [7]
    assert failed == [6]


def run_until_failure(
    ssc: StreamingContext, inputs: list[Any], op: Callable[[DStream[Any]], DStream[Any]], n: int
) -> tuple[list[list[Any]], list[int]]:
    outcomes = OutputOutcomes()
    ssc.addStreamingListener(outcomes)
    out = collect_stream(op(ssc.queueStream(inputs)))
    ssc.start()
    run_batches(ssc, n)
    with pytest.raises(SparkException) as info:
        ssc.awaitTerminationOrTimeout(1)
    assert type(info.value.__cause__) is ValueError
    return out, outcomes.failed


# ------------------------------------------------------------------------------------------
# derived operations


def test_reduce_by_window_incremental(ssc: StreamingContext) -> None:
    out = run(
        ssc,
        [[1, 2], [3], [4]],
        lambda s: s.reduceByWindow(operator.add, operator.sub, 5, 1),
        8,
    )
    assert out == [[3], [6], [10], [10], [10], [7], [4], [0]]


def test_reduce_by_window_without_inverse(bare_ssc: StreamingContext) -> None:
    out = run(bare_ssc, [[1, 2], [3], [4]], lambda s: s.reduceByWindow(max, None, 2, 1), 5)
    assert out == [[2], [3], [4], [4], []]


def test_reduce_by_window_requires_all_arguments(bare_ssc: StreamingContext) -> None:
    src = bare_ssc.queueStream([[1]])
    with pytest.raises(TypeError):
        src.reduceByWindow(operator.add, None, 2)  # type: ignore[call-arg]


def test_count_by_window_incremental_keeps_zero(ssc: StreamingContext, engine_mode: str) -> None:
    src = ssc.queueStream([[1, 2], [3], [4, 5, 6]])
    counted = src.countByWindow(10, 2)
    out = collect_stream(counted)
    times = batch_times(counted)
    ssc.start()
    run_batches(ssc, 16)
    assert times == at(*range(2, 17, 2))
    assert out == [[3], [6], [6], [6], [6], [3], [0], [0]]


def test_count_by_window_short_window_recomputes(ssc: StreamingContext) -> None:
    # window 4 < 5 slides: an empty window reduces to nothing, not to 0.
    out = run(ssc, [[1, 2], [3]], lambda s: s.countByWindow(4, 1), 6)
    assert out == [[2], [3], [3], [3], [1], []]


def test_count_by_value_and_window(ssc: StreamingContext, engine_mode: str) -> None:
    out = run(ssc, [["a", "b", "a"], ["b"], ["c"]], lambda s: s.countByValueAndWindow(5, 1), 8)
    assert sort_all(out) == [
        [("a", 2), ("b", 1)],
        [("a", 2), ("b", 2)],
        [("a", 2), ("b", 2), ("c", 1)],
        [("a", 2), ("b", 2), ("c", 1)],
        [("a", 2), ("b", 2), ("c", 1)],
        [("b", 1), ("c", 1)],
        [("c", 1)],
        [],
    ]


def test_count_by_value_and_window_num_partitions(ssc: StreamingContext) -> None:
    sizes: list[int] = []
    counted = ssc.queueStream([["a", "b"]]).countByValueAndWindow(2, 1, 3)
    counted.foreachRDD(lambda rdd: sizes.append(rdd.getNumPartitions()))
    ssc.start()
    run_batches(ssc, 1)
    assert sizes == [3]


def grouped(batches: list[list[Any]]) -> list[list[tuple[Any, list[Any]]]]:
    for batch in batches:
        for _, values in batch:
            assert isinstance(values, ResultIterable)
    return [sorted((k, list(v)) for k, v in batch) for batch in batches]


def test_group_by_key_and_window_incremental(ssc: StreamingContext, engine_mode: str) -> None:
    data = [[("a", 1), ("b", 2)], [("a", 3)], [("a", 5)]]
    out = run(ssc, data, lambda s: s.groupByKeyAndWindow(5, 1), 8)
    assert grouped(out) == [
        [("a", [1]), ("b", [2])],
        [("a", [1, 3]), ("b", [2])],
        [("a", [1, 3, 5]), ("b", [2])],
        [("a", [1, 3, 5]), ("b", [2])],
        [("a", [1, 3, 5]), ("b", [2])],
        [("a", [3, 5]), ("b", [])],
        [("a", [5]), ("b", [])],
        [("a", []), ("b", [])],
    ]


def test_group_by_key_and_window_recompute(ssc: StreamingContext) -> None:
    data = [[("a", 1), ("b", 2)], [("a", 3)], [("a", 5)]]
    out = run(ssc, data, lambda s: s.groupByKeyAndWindow(2, 1), 5)
    assert grouped(out) == [
        [("a", [1]), ("b", [2])],
        [("a", [1, 3]), ("b", [2])],
        [("a", [3, 5])],
        [("a", [5])],
        [],
    ]


# ------------------------------------------------------------------------------------------
# checkpoint directory requirement


@pytest.mark.parametrize(
    "op",
    [
        lambda s: s.countByWindow(2, 1),
        lambda s: s.map(lambda x: (x, 1)).reduceByKeyAndWindow(operator.add, operator.sub, 2),
        lambda s: s.reduceByWindow(operator.add, operator.sub, 2, 1),
        lambda s: s.countByValueAndWindow(2, 1),
        lambda s: s.map(lambda x: (x, x)).groupByKeyAndWindow(2, 1),
    ],
)
def test_inverse_windows_need_a_checkpoint_directory(
    bare_ssc: StreamingContext, op: Callable[[DStream[Any]], DStream[Any]]
) -> None:
    op(bare_ssc.queueStream([[1]])).pprint()
    with pytest.raises(IllegalArgumentException) as info:
        bare_ssc.start()
    assert str(info.value) == NO_CHECKPOINT


def test_spark_context_checkpoint_dir_is_enough(bare_ssc: StreamingContext, tmp_path: Path) -> None:
    bare_ssc.sparkContext.setCheckpointDir(str(tmp_path / "rdd-checkpoints"))
    out = collect_stream(bare_ssc.queueStream([[1, 2]]).countByWindow(2, 1))
    bare_ssc.start()
    run_batches(bare_ssc, 3)
    assert out == [[2], [2], []]


def test_windows_without_inverse_start_without_checkpoint(bare_ssc: StreamingContext) -> None:
    src = bare_ssc.queueStream([[1]])
    a = collect_stream(src.window(2))
    b = collect_stream(src.map(lambda x: (x, 1)).reduceByKeyAndWindow(operator.add, None, 2))
    bare_ssc.start()
    run_batches(bare_ssc, 1)
    assert a == [[1]]
    assert b == [[(1, 1)]]


def test_windowed_rdds_feed_transforms(ssc: StreamingContext) -> None:
    def summed(rdd: RDD[Any]) -> RDD[Any]:
        return rdd.map(lambda kv: kv[1])

    out = run(
        ssc,
        [[("a", 1)], [("a", 2)]],
        lambda s: s.reduceByKeyAndWindow(operator.add, operator.sub, 5, 1).transform(summed),
        3,
    )
    assert out == [[1], [3], [3]]


def test_inverse_window_reduces_each_batch_before_it_moves(ssc: StreamingContext) -> None:
    # Batches reduced per key within a partition first (natively; by Python where a value
    # needs it: Fractions), then merged into the window: the same windows either way.
    from fractions import Fraction

    data = [
        [("a", 1), ("a", 2), ("b", 1), ("a", 3)],
        [("a", Fraction(1, 2)), ("a", Fraction(1, 2)), ("b", 2)],
        [("b", 4), ("b", 4)],
    ]
    before = native_stats()
    out = run(ssc, data, lambda s: s.reduceByKeyAndWindow(operator.add, operator.sub, 2, 1), 4)
    assert sort_all(out) == [
        [("a", 6), ("b", 1)],
        [("a", 7), ("b", 3)],
        [("a", 1), ("b", 10)],
        [("b", 8)],
    ]
    assert native_stats()["fallback_partitions"] > before["fallback_partitions"]
