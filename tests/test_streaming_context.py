"""StreamingContext lifecycle, class methods and the misuse errors of PySpark 3.5."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferrostream.context import SparkContext
from ferrostream.errors import (
    IllegalArgumentException,
    IllegalStateException,
    UnsupportedOperationException,
)
from ferrostream.streaming import StreamingContext
from ferrostream.testing import (
    advance,
    batch_times,
    collect_stream,
    manual_clock_conf,
    run_batches,
)


@pytest.fixture
def sc() -> Iterator[SparkContext]:
    ctx = SparkContext(conf=manual_clock_conf("test_streaming_context"))
    yield ctx
    active = StreamingContext.getActive()
    if active is not None:
        active.stop(stopSparkContext=False)
    ctx.stop()


@pytest.fixture
def ssc(sc: SparkContext) -> Iterator[StreamingContext]:
    ctx = StreamingContext(sc, 1)
    yield ctx
    ctx.stop(stopSparkContext=False)


def test_constructor_warns_deprecation(sc: SparkContext) -> None:
    with pytest.warns(FutureWarning, match="DStream is deprecated as of Spark 3.4.0"):
        StreamingContext(sc, 1)


def test_batch_duration_is_required(sc: SparkContext) -> None:
    with pytest.raises(IllegalArgumentException) as info:
        StreamingContext(sc)
    assert str(info.value) == (
        "requirement failed: Batch duration for StreamingContext cannot be null"
    )


@pytest.mark.parametrize("bad", ["1", True, object(), [1]])
def test_batch_duration_type(sc: SparkContext, bad: Any) -> None:
    with pytest.raises(TypeError, match="batchDuration"):
        StreamingContext(sc, bad)


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        (0, "must be positive (at least 1 ms), got 0.0"),
        (-1, "must be positive (at least 1 ms), got -1.0"),
        (0.0001, "must be positive (at least 1 ms), got 0.0001"),
        (float("nan"), "must be a finite number of seconds, got nan"),
        (float("inf"), "must be a finite number of seconds, got inf"),
        (float("-inf"), "must be a finite number of seconds, got -inf"),
        (10**400, "must be a finite number of seconds, got inf"),
    ],
)
def test_batch_duration_value(sc: SparkContext, bad: float, shown: str) -> None:
    with pytest.raises(IllegalArgumentException) as info:
        StreamingContext(sc, bad)
    assert str(info.value) == f"requirement failed: batchDuration {shown}"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -2, 0])
def test_other_durations_are_checked_by_the_engine(ssc: StreamingContext, bad: float) -> None:
    stream = ssc.queueStream([[1]])
    with pytest.raises(IllegalArgumentException, match=r"^requirement failed: duration "):
        ssc.remember(bad)
    with pytest.raises(IllegalArgumentException, match=r"^requirement failed: interval "):
        stream.checkpoint(bad)
    with pytest.raises(IllegalArgumentException, match=r"^requirement failed: windowDuration "):
        stream.window(bad, 1)


def test_start_without_outputs(ssc: StreamingContext) -> None:
    ssc.queueStream([[1]])
    with pytest.raises(IllegalArgumentException) as info:
        ssc.start()
    assert str(info.value) == (
        "requirement failed: No output operations registered, so nothing to execute"
    )


def test_start_after_stop(ssc: StreamingContext) -> None:
    ssc.queueStream([[1]]).pprint()
    ssc.stop(stopSparkContext=False)
    with pytest.raises(IllegalStateException, match=r"^StreamingContext has already been stopped$"):
        ssc.start()


def test_stop_before_start_then_start(ssc: StreamingContext) -> None:
    ssc.queueStream([[1]]).pprint()
    ssc.stop(stopSparkContext=False)
    ssc.stop(stopSparkContext=False)
    with pytest.raises(IllegalStateException):
        ssc.start()


def test_start_twice_is_harmless(ssc: StreamingContext) -> None:
    ssc.queueStream([[1]]).pprint()
    ssc.start()
    ssc.start()
    assert StreamingContext.getActive() is ssc


def test_only_one_active_context(sc: SparkContext, ssc: StreamingContext) -> None:
    ssc.queueStream([[1]]).pprint()
    ssc.start()
    other = StreamingContext(sc, 1)
    other.queueStream([[1]]).pprint()
    with pytest.raises(IllegalStateException) as info:
        other.start()
    assert str(info.value).startswith(
        "Only one StreamingContext may be started in this JVM. Currently running "
        "StreamingContext was started at"
    )
    other.stop(stopSparkContext=False)


def test_adding_after_start_and_after_stop(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[1]])
    src.pprint()
    pending = src.map(lambda x: x)
    ssc.start()
    starting = "Adding new inputs, transformations, and output operations after starting a "
    with pytest.raises(IllegalStateException, match=starting):
        ssc.queueStream([[2]])
    with pytest.raises(IllegalStateException, match=starting):
        pending.pprint()
    with pytest.raises(IllegalStateException, match=starting):
        src.foreachRDD(lambda rdd: None)
    ssc.stop(stopSparkContext=False)
    with pytest.raises(IllegalStateException, match="after stopping a context is not supported"):
        ssc.queueStream([[2]])


def test_persist_and_checkpoint_after_start(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[1]])
    src.pprint()
    ssc.start()
    with pytest.raises(UnsupportedOperationException) as info:
        src.cache()
    assert str(info.value) == (
        "Cannot change storage level of an DStream after streaming context has started"
    )
    with pytest.raises(UnsupportedOperationException) as info:
        src.checkpoint(2)
    assert str(info.value) == (
        "Cannot change checkpoint interval of an DStream after streaming context has started"
    )


def test_checkpoint_interval_validation(ssc: StreamingContext, tmp_path: Path) -> None:
    src = ssc.queueStream([[1]])
    src.checkpoint(1.5).pprint()
    with pytest.raises(IllegalArgumentException, match="which not a multiple of its slide time"):
        ssc.start()
    src.checkpoint(0.5)
    with pytest.raises(IllegalArgumentException, match="which is lower than its slide time"):
        ssc.start()
    src.checkpoint(2)
    assert src.is_checkpointed
    with pytest.raises(IllegalArgumentException, match="The checkpoint directory has not been set"):
        ssc.start()
    ssc.checkpoint(str(tmp_path / "ckpt"))
    ssc.start()


def test_stop_spark_context_flag(sc: SparkContext) -> None:
    ssc = StreamingContext(sc, 1)
    ssc.queueStream([[1]]).pprint()
    ssc.start()
    ssc.stop(stopSparkContext=False)
    assert sc.parallelize([1, 2]).collect() == [1, 2]
    other = StreamingContext(sc, 1)
    other.stop()
    with pytest.raises(Exception, match="stopped SparkContext"):
        sc.parallelize([1]).collect()


def test_streaming_context_on_a_stopped_spark_context_fails_at_creation() -> None:
    sc = SparkContext(conf=manual_clock_conf("stopped_sc"))
    sc.stop()
    message = r"^Cannot call methods on a stopped SparkContext\.$"
    with pytest.raises(IllegalStateException, match=message):
        StreamingContext(sc, 1)
    # The stopped context is refused before the (missing) duration is looked at.
    with pytest.raises(IllegalStateException, match=message):
        StreamingContext(sc)
    with pytest.raises(IllegalStateException, match=message):
        sc.parallelize([1])


def test_get_active(ssc: StreamingContext) -> None:
    assert StreamingContext.getActive() is None
    ssc.queueStream([[1]]).pprint()
    ssc.start()
    assert StreamingContext.getActive() is ssc
    ssc.stop(stopSparkContext=False)
    assert StreamingContext.getActive() is None


def test_get_active_or_create(sc: SparkContext) -> None:
    created: list[StreamingContext] = []

    def setup() -> StreamingContext:
        ctx = StreamingContext(sc, 1)
        ctx.queueStream([[1]]).pprint()
        created.append(ctx)
        return ctx

    first = StreamingContext.getActiveOrCreate(None, setup)
    assert created == [first]
    first.start()
    assert StreamingContext.getActiveOrCreate(None, setup) is first
    assert len(created) == 1
    with pytest.raises(TypeError, match=r"^setupFunc should be callable\.$"):
        StreamingContext.getActiveOrCreate(None, None)  # type: ignore[arg-type]
    first.stop(stopSparkContext=False)


def test_get_or_create_without_checkpoint_data(sc: SparkContext, tmp_path: Path) -> None:
    path = tmp_path / "ckpt"

    def setup() -> StreamingContext:
        return StreamingContext(sc, 1)

    ssc = StreamingContext.getOrCreate(str(path), setup)
    assert os.path.isdir(path)
    assert ssc._checkpoint_dir == str(path)
    assert sc.getCheckpointDir() is not None
    ssc.stop(stopSparkContext=False)


def test_await_termination(ssc: StreamingContext) -> None:
    ssc.queueStream([[1]]).pprint()
    ssc.start()
    assert ssc.awaitTerminationOrTimeout(0.01) is False
    assert ssc.awaitTermination(0.01) is None
    ssc.stop(stopSparkContext=False)
    assert ssc.awaitTerminationOrTimeout(0.01) is True
    assert ssc.awaitTermination() is None


def test_keyboard_interrupt_stops_context(ssc: StreamingContext) -> None:
    ssc.queueStream([[1]]).pprint()
    ssc.start()
    real = ssc._engine

    class Interrupting:
        def await_termination(self, timeout_ms: Any) -> bool:
            raise KeyboardInterrupt

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    ssc._engine = Interrupting()  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            ssc.awaitTermination()
    finally:
        ssc._engine = real
    assert real.state() == "STOPPED"
    assert StreamingContext.getActive() is None
    assert ssc.sparkContext.parallelize([1]).collect() == [1]


def test_bad_source_and_partition_arguments_raise_illegal_argument(
    ssc: StreamingContext, tmp_path: Path
) -> None:
    for port in (0, -1, 65536):
        message = rf"^port must be in 1..65535, got {port}$"
        with pytest.raises(IllegalArgumentException, match=message):
            ssc.socketTextStream("localhost", port)
    for length in (0, -4):
        with pytest.raises(
            IllegalArgumentException, match=rf"^recordLength must be positive, got {length}$"
        ):
            ssc.binaryRecordsStream(str(tmp_path), length)
    stream = ssc.queueStream([[("a", 1)]])
    for n in (0, -1):
        with pytest.raises(
            IllegalArgumentException, match=r"^Positive number of partitions required$"
        ):
            stream.reduceByKey(lambda a, b: a + b, n)
    with pytest.raises(IllegalArgumentException, match=r"^Positive number of partitions"):
        ssc.sparkContext.parallelize([1], 0)


def test_union_errors(sc: SparkContext, ssc: StreamingContext) -> None:
    with pytest.raises(ValueError, match=r"^should have at least one DStream to union$"):
        ssc.union()
    other = StreamingContext(sc, 2)
    a = ssc.queueStream([[1]])
    b = other.queueStream([[1]])
    with pytest.raises(ValueError, match=r"^All DStreams should have same slide duration$"):
        ssc.union(a, b)
    with pytest.raises(ValueError, match=r"^the two DStream should have same slide duration$"):
        a.union(b)
    other.stop(stopSparkContext=False)


def test_queue_stream_rejects_bad_elements(ssc: StreamingContext) -> None:
    with pytest.raises(TypeError, match=r"rdds\[1\].*int"):
        ssc.queueStream([[1], 5])
    with pytest.raises(TypeError, match="default"):
        ssc.queueStream([[1]], default=3)


def test_queue_stream_warns_when_checkpointing(
    ssc: StreamingContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ssc.checkpoint(str(tmp_path / "ckpt"))
    with caplog.at_level("WARNING", logger="ferrostream.streaming"):
        ssc.queueStream([[1]])
    assert "queueStream doesn't support checkpointing" in caplog.text


def test_arity_errors(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[1]])
    with pytest.raises(AssertionError, match=r"^func should take one or two arguments$"):
        src.transform(lambda: None)
    with pytest.raises(AssertionError, match=r"^func should take one or two arguments$"):
        src.transform(lambda a, b, c: None)
    with pytest.raises(AssertionError, match=r"^func should take two or three arguments$"):
        src.transformWith(lambda a: None, src)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.map(5),
        lambda s: s.flatMap("x"),
        lambda s: s.filter(None),
        lambda s: s.mapPartitions(1),
        lambda s: s.reduce(None),
        lambda s: s.reduceByKey(3),
        lambda s: s.mapValues(None),
        lambda s: s.foreachRDD(None),
        lambda s: s.transform(None),
        lambda s: s.transformWith(None, s),
    ],
)
def test_non_callable_arguments(ssc: StreamingContext, call: Any) -> None:
    src = ssc.queueStream([[1]])
    with pytest.raises(TypeError, match="callable"):
        call(src)


def test_non_dstream_arguments(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[1]])
    with pytest.raises(TypeError, match="DStream"):
        src.union([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="DStream"):
        src.join(5)  # type: ignore[arg-type]


def test_remember_and_checkpoint_directory(ssc: StreamingContext, tmp_path: Path) -> None:
    ssc.remember(5)
    target = tmp_path / "a" / "b"
    ssc.checkpoint(str(target))
    assert target.is_dir()
    with pytest.raises(ValueError, match="duration"):
        ssc.remember(0)


def test_manual_clock_batches_only_when_advanced(ssc: StreamingContext) -> None:
    out = collect_stream(ssc.queueStream([[1], [2]]))
    ssc.start()
    assert ssc.awaitTerminationOrTimeout(0.05) is False
    assert out == []
    run_batches(ssc, 1)
    assert out == [[1]]


def test_warning_is_a_future_warning_subclass_filter(sc: SparkContext) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StreamingContext(sc, 1)
    assert [w.category for w in caught] == [FutureWarning]


@pytest.mark.parametrize("stop_spark_context", [False, True])
def test_stop_from_inside_a_batch(sc: SparkContext, stop_spark_context: bool) -> None:
    ssc = StreamingContext(sc, 1)
    seen: list[list[int]] = []

    def handle(rdd: Any) -> None:
        seen.append(rdd.collect())
        if len(seen) == 2:
            active = StreamingContext.getActive()
            assert active is ssc
            active.stop(stopSparkContext=stop_spark_context)

    ssc.queueStream([[1], [2], [3]]).foreachRDD(handle)
    ssc.start()
    run_batches(ssc, 4)
    assert ssc.awaitTerminationOrTimeout(5) is True
    assert seen == [[1], [2]]
    assert StreamingContext.getActive() is None


def test_advance_runs_every_due_batch(ssc: StreamingContext) -> None:
    times = batch_times(ssc.queueStream([[1]]))
    ssc.start()
    advance(ssc, 2.5)
    assert [t.timestamp() for t in times] == [1.0, 2.0]
    advance(ssc, 0.5)
    assert [t.timestamp() for t in times] == [1.0, 2.0, 3.0]
    assert ssc._engine.start_time_ms() == 0


def test_await_timeouts_that_are_not_plain_numbers(ssc: StreamingContext) -> None:
    ssc.queueStream([[1]]).pprint()
    ssc.start()
    assert ssc.awaitTerminationOrTimeout(-1) is False
    with pytest.raises(IllegalArgumentException, match="timeout must be a number, got nan"):
        ssc.awaitTerminationOrTimeout(float("nan"))
    stopper = threading.Timer(0.05, lambda: ssc.stop(stopSparkContext=False))
    stopper.start()
    assert ssc.awaitTerminationOrTimeout(float("inf")) is True
    stopper.join()
