"""Shared pytest fixtures."""

from __future__ import annotations

import atexit
import faulthandler
import os
import sys
import threading
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from ferrostream import SparkContext
from ferrostream.streaming import StreamingContext
from ferrostream.testing import streaming_context
from kafka_cluster import KafkaCluster, start_cluster
from kinesis_emulator import KinesisEmulator, start_emulator

# pytest-timeout fails a test that overruns its deadline by raising in the main thread, which
# cannot happen while that thread is stuck in native code. A test still running this long
# after its deadline ends the session instead: every thread's stack is printed (what hung),
# the services the session started are stopped by their atexit hooks, and pytest exits with 1.
HARD_DEADLINE_GRACE = 90.0


def _deadline(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getini("timeout") or 0)


def _hung(item: pytest.Item, after: float) -> None:
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    print(
        f"\n{item.nodeid} is still running {after:.0f} s after it started, long past its "
        "deadline; the stacks of every thread:",
        file=sys.__stderr__,
        flush=True,
    )
    faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
    atexit._run_exitfuncs()
    os._exit(1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    deadline = _deadline(item)
    watchdog = None
    if deadline > 0:
        after = deadline + HARD_DEADLINE_GRACE
        watchdog = threading.Timer(after, _hung, args=(item, after))
        watchdog.daemon = True
        watchdog.start()
    try:
        yield
    finally:
        if watchdog is not None:
            watchdog.cancel()


@pytest.fixture(params=["native", "python"])
def engine_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: with native fast paths allowed, then with Python steps only."""
    from ferrostream import _rdd_util

    monkeypatch.setattr(_rdd_util, "use_native", request.param == "native")
    return str(request.param)


@pytest.fixture(autouse=True)
def python_workers_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests marked ``in_process`` watch the driver's own objects from inside functions (call
    counts, laziness): their functions run in the driver's interpreter. Every other test runs
    in the mode of the environment (``FERROSTREAM_PYTHON_WORKERS``; by default worker processes
    for ``local[N]`` with N > 1)."""
    if request.node.get_closest_marker("in_process"):
        monkeypatch.setenv("FERROSTREAM_PYTHON_WORKERS", "in-process")


@pytest.fixture
def sc() -> Iterator[SparkContext]:
    """A fresh ``SparkContext("local[2]", "test")``, stopped after the test."""
    context = SparkContext("local[2]", "test")
    try:
        yield context
    finally:
        context.stop()


@pytest.fixture
def bare_ssc(request: pytest.FixtureRequest) -> Iterator[StreamingContext]:
    """A manual-clock StreamingContext (1 s batches) without a checkpoint directory."""
    ctx = streaming_context(1, app=request.node.name)
    yield ctx
    ctx.stop(stopSparkContext=True)


@pytest.fixture
def checkpointed_ssc(bare_ssc: StreamingContext, tmp_path: Path) -> StreamingContext:
    """``bare_ssc`` with a checkpoint directory under ``tmp_path``."""
    bare_ssc.checkpoint(str(tmp_path / "checkpoint"))
    return bare_ssc


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """A real Kafka 4.4 broker (KRaft, one node) on 127.0.0.1 for the whole test session,
    started by ``scripts/kafka.sh`` and stopped by its PID afterwards (see
    ``tests/kafka_cluster.py`` for what it offers). Tests that stop it must start it again."""
    cluster = start_cluster(tmp_path_factory.mktemp("kafka"))
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def kafka_zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """ZooKeeper plus a Kafka 3.9 broker registered in it under the chroot ``/kafka``, started
    only for sessions with a test that asks for it. ``.zookeeper`` is ``"127.0.0.1:PORT/kafka"``
    (a ``zkQuorum``), ``.bootstrap`` the broker's address."""
    cluster = start_cluster(tmp_path_factory.mktemp("kafka-zookeeper"), zookeeper=True)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def kinesis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KinesisEmulator]:
    """A moto server (Kinesis and DynamoDB) on 127.0.0.1 for the whole test session, started
    by ``scripts/kinesis.sh`` and stopped by its PID afterwards (see
    ``tests/kinesis_emulator.py``); ``AWS_ENDPOINT_URL_DYNAMODB`` points at it meanwhile. If it
    cannot start, the tests using it fail."""
    emulator = start_emulator(tmp_path_factory.mktemp("kinesis"))
    # The lease table's DynamoDB: the emulator too (by default the region's AWS endpoint).
    saved = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = emulator.endpoint
    try:
        yield emulator
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        else:
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = saved
        emulator.close()
