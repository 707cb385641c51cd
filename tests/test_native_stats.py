"""The native-step counters prove which path ran: the seed word count's lambdas run natively,
and a record that needs Python sends its partition to the fallback (and is counted)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from ferrostream import SparkContext, _native
from ferrostream.streaming import StreamingContext


@pytest.fixture
def stats() -> Iterator[None]:
    _native.reset_native_stats()
    yield
    _native.reset_native_stats()


def test_seed_word_count_runs_natively(sc: SparkContext, stats: None) -> None:
    lines = sc.parallelize(["a b a", "b c", "a"], 2)
    counts = (
        lines.flatMap(lambda line: line.split(" "))
        .map(lambda word: (word, 1))
        .reduceByKey(lambda a, b: a + b)
    )
    assert sorted(counts.collect()) == [("a", 3), ("b", 2), ("c", 1)]
    got = _native.native_stats()
    assert got["native_partitions"] >= 2, got
    assert got["fallback_partitions"] == 0, got


def test_a_record_that_needs_python_is_counted_as_a_fallback(sc: SparkContext, stats: None) -> None:
    rdd = sc.parallelize([1, 2, Decimal("1.5")], 1).map(lambda x: x + 1)
    assert rdd.collect() == [2, 3, Decimal("2.5")]
    got = _native.native_stats()
    assert (got["native_partitions"], got["fallback_partitions"]) == (0, 1), got


def test_reset(sc: SparkContext, stats: None) -> None:
    assert sc.parallelize([1, 2], 1).map(lambda x: x * 2).collect() == [2, 4]
    assert _native.native_stats()["native_partitions"] == 1
    _native.reset_native_stats()
    assert set(_native.native_stats().values()) == {0}


def test_streaming_word_count_runs_natively(stats: None) -> None:
    from ferrostream.testing import collect_stream, run_batches, streaming_context

    ssc = streaming_context(1, app="native_stats")
    try:
        lines = ssc.queueStream([["a b", "b"], ["c"]])
        counts = (
            lines.flatMap(lambda line: line.split(" "))
            .map(lambda w: (w, 1))
            .reduceByKey(lambda a, b: a + b)
        )
        out = collect_stream(counts)
        ssc.start()
        run_batches(ssc, 2)
        assert [sorted(b) for b in out] == [[("a", 1), ("b", 2)], [("c", 1)]]
    finally:
        ssc.stop()
    got = _native.native_stats()
    assert got["native_partitions"] >= 2 and got["fallback_partitions"] == 0, got


def test_state_update_runs_natively_and_counts_its_fallback(
    checkpointed_ssc: StreamingContext, stats: None
) -> None:
    from ferrostream.testing import collect_stream, run_batches

    pairs = checkpointed_ssc.queueStream([[("a", 1), ("b", 2)], [("a", Decimal("0.5"))]])
    state = pairs.updateStateByKey(lambda new, old: sum(new) + (old or 0))
    out = collect_stream(state)
    checkpointed_ssc.start()
    run_batches(checkpointed_ssc, 1)
    first = _native.native_stats()
    assert first["native_partitions"] >= 1 and first["fallback_partitions"] == 0, first
    run_batches(checkpointed_ssc, 1)  # a Decimal: the update needs Python
    assert _native.native_stats()["fallback_partitions"] >= 1
    assert [sorted(b) for b in out] == [[("a", 1), ("b", 2)], [("a", Decimal("1.5")), ("b", 2)]]


def test_map_values_to_result_iterable_runs_natively(sc: SparkContext, stats: None) -> None:
    # groupByKeyAndWindow's last step: lists become ResultIterables without Python per record.
    from ferrostream.resultiterable import ResultIterable

    pairs = sc.parallelize([("a", [1, 2]), ("b", [3])], 2).mapValues(ResultIterable)
    before = _native.python_partition_calls()
    got = pairs.collect()
    assert _native.python_partition_calls() == before
    assert [(k, type(v).__name__, list(v)) for k, v in got] == [
        ("a", "ResultIterable", [1, 2]),
        ("b", "ResultIterable", [3]),
    ]
    assert _native.native_stats()["fallback_partitions"] == 0
