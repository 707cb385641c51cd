"""The source contract seen from a program: receiver rate limits and bounded buffers,
backpressure, and batches of a receiver on the manual clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ferrostream import SparkConf, SparkContext
from ferrostream.lineserver import LineServer
from ferrostream.streaming import StreamingContext
from ferrostream.testing import advance, manual_clock_conf
from waiting import wait_until


@pytest.fixture
def conf() -> SparkConf:
    return manual_clock_conf("source-contract")


def make_ssc(conf: SparkConf) -> StreamingContext:
    return StreamingContext(SparkContext(conf=conf), 1)


@pytest.fixture
def stop_all() -> Iterator[None]:
    yield
    active = StreamingContext.getActive()
    if active is not None:
        active.stop()
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()


def wait_for_lines(ssc: StreamingContext, got: list[Any], n: int) -> None:
    """Advance the manual clock a batch at a time until ``n`` lines were received."""

    def batch_then_look() -> bool:
        advance(ssc, 1)
        return len(got) >= n

    wait_until(batch_then_look, f"{n} lines", details=lambda: f"got {len(got)}")


def test_receiver_rate_limit_spreads_lines_over_batches(conf: SparkConf, stop_all: None) -> None:
    conf.set("spark.streaming.receiver.maxRate", "50")
    ssc = make_ssc(conf)
    lines = [f"line {i}" for i in range(100)]
    sizes: list[int] = []
    got: list[str] = []

    def record(rdd: Any) -> None:
        batch = rdd.collect()
        sizes.append(len(batch))
        got.extend(batch)

    with LineServer(lines) as server:
        ssc.socketTextStream("127.0.0.1", server.port).foreachRDD(record)
        ssc.start()
        started = time.monotonic()
        wait_for_lines(ssc, got, 100)
        elapsed = time.monotonic() - started
    # Every line, in order, once; at 50 lines/s the 100 lines took well over a second.
    assert got == lines
    assert elapsed > 1.2, elapsed


def test_backpressure_runs_and_keeps_every_record(conf: SparkConf, stop_all: None) -> None:
    conf.set("spark.streaming.backpressure.enabled", "true")
    conf.set("spark.streaming.backpressure.initialRate", "1000")
    ssc = make_ssc(conf)
    lines = [str(i) for i in range(500)]
    got: list[str] = []
    with LineServer(lines) as server:
        ssc.socketTextStream("127.0.0.1", server.port).foreachRDD(
            lambda rdd: got.extend(rdd.collect())
        )
        ssc.start()
        wait_for_lines(ssc, got, 500)
    assert got == lines
    assert ssc.awaitTerminationOrTimeout(0.001) is False
