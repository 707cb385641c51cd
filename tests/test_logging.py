"""The engine's log records reach Python's ``logging`` (logger ``ferrostream`` and children
named after the engine module), and ``sc.setLogLevel`` controls them."""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrostream import SparkContext
from ferrostream.streaming import StreamingContext
from ferrostream.testing import advance, collect_stream, manual_clock_conf
from waiting import wait_until

FILES_LOGGER = "ferrostream.engine.source.files"


@pytest.fixture
def ssc() -> Iterator[StreamingContext]:
    ctx = StreamingContext(SparkContext(conf=manual_clock_conf("logging")), 1)
    yield ctx
    ctx.stop()
    logging.getLogger("ferrostream").setLevel(logging.NOTSET)
    from ferrostream import _native

    _native.reset_log_cache()


def _warnings(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name]


def test_set_log_level_controls_engine_records(
    ssc: StreamingContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    watched = tmp_path / "watched"
    watched.mkdir()
    collect_stream(ssc.textFileStream(str(watched)))
    ssc.start()
    shutil.rmtree(watched)
    advance(ssc, 1)
    assert len(_warnings(caplog, FILES_LOGGER)) == 1
    record = next(r for r in caplog.records if r.name == FILES_LOGGER)
    assert record.levelno == logging.WARNING

    ssc.sparkContext.setLogLevel("ERROR")
    advance(ssc, 1)
    assert len(_warnings(caplog, FILES_LOGGER)) == 1, "WARN records are off at ERROR"

    ssc.sparkContext.setLogLevel("warn")
    advance(ssc, 1)
    assert len(_warnings(caplog, FILES_LOGGER)) == 2

    ssc.sparkContext.setLogLevel("OFF")
    advance(ssc, 1)
    assert len(_warnings(caplog, FILES_LOGGER)) == 2


def test_refused_connection_warns_with_the_default_restart_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ssc = StreamingContext(SparkContext("local[2]", "logging"), 0.2)
    try:
        ssc.socketTextStream("127.0.0.1", port).pprint()
        ssc.start()
        name = "ferrostream.engine.source.socket"
        wait_until(lambda: _warnings(caplog, name), "a restart WARN")
        message = _warnings(caplog, name)[0]
        assert message.startswith(
            f"Restarting receiver with delay 2000 ms: Error connecting to 127.0.0.1:{port}"
        ), message
    finally:
        ssc.stop()
