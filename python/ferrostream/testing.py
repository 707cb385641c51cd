"""Helpers for testing streaming programs without depending on wall-clock time.

With the manual clock (``spark.streaming.clock`` set to ``org.apache.spark.util.ManualClock``,
or ``manual``) batches run only when the test moves time forward::

    from ferrostream import SparkContext
    from ferrostream.streaming import StreamingContext
    from ferrostream.testing import advance, collect_stream, manual_clock_conf

    sc = SparkContext(conf=manual_clock_conf())
    ssc = StreamingContext(sc, 1)
    result = collect_stream(ssc.queueStream([[1, 2], [3]]).map(lambda x: x * 2))
    ssc.start()
    advance(ssc, 2)  # runs the two batches that became due
    assert result == [[2, 4], [6]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ferrostream import SparkConf
    from ferrostream.streaming import DStream, StreamingContext

__all__ = [
    "MANUAL_CLOCK",
    "advance",
    "batch_times",
    "collect_stream",
    "manual_clock_conf",
    "run_batches",
    "streaming_context",
]

MANUAL_CLOCK = "org.apache.spark.util.ManualClock"


def manual_clock_conf(app: str = "test", master: str = "local[2]") -> SparkConf:
    """A SparkConf for tests: ``master`` (``local[2]``), app name ``app`` and the manual
    streaming clock."""
    from ferrostream.conf import SparkConf

    conf: SparkConf = SparkConf().setMaster(master).setAppName(app)
    conf.set("spark.streaming.clock", MANUAL_CLOCK)
    return conf


def streaming_context(
    batchDuration: float = 1.0, app: str = "test", master: str = "local[2]"
) -> StreamingContext:
    """A new SparkContext (``master``, manual clock) and a StreamingContext on it with the
    given batch interval. ``ssc.stop()`` stops both."""
    from ferrostream.context import SparkContext
    from ferrostream.streaming import StreamingContext

    sc = SparkContext(conf=manual_clock_conf(app, master))
    return StreamingContext(sc, batchDuration)


def advance(ssc: StreamingContext, seconds: float) -> None:
    """Move the manual clock of ``ssc`` forward by ``seconds`` and wait until every batch that
    became due has finished. A failed batch is not raised here: it is kept for the next
    ``awaitTermination``/``awaitTerminationOrTimeout``."""
    ms = round(float(seconds) * 1000)
    if ms < 0:
        raise ValueError(f"cannot move the clock backwards ({seconds} s)")
    ssc._engine.advance_clock(ms)


def run_batches(ssc: StreamingContext, n: int = 1) -> None:
    """Run the next ``n`` batches, one batch interval at a time."""
    for _ in range(n):
        ssc._engine.advance_clock(ssc._batch_ms)


def collect_stream(dstream: DStream[Any]) -> list[list[Any]]:
    """Register an output operation that appends ``rdd.collect()`` of every batch to the
    returned list (one list per batch, in batch order)."""
    batches: list[list[Any]] = []

    def collect(rdd: Any) -> None:
        batches.append(rdd.collect())

    dstream.foreachRDD(collect)
    return batches


def batch_times(dstream: DStream[Any]) -> list[Any]:
    """Register an output operation recording the batch time (a ``datetime``) of every
    batch."""
    times: list[Any] = []

    def record(t: Any, _rdd: Any) -> None:
        times.append(t)

    dstream.foreachRDD(record)
    return times
