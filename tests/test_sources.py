"""Input sources: socketTextStream (real clock, local servers), textFileStream and
binaryRecordsStream (manual clock, files with chosen modification times).

Socket tests use short batches and wait with generous deadlines; nothing depends on when
exactly a line lands in a batch.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferrostream import SparkConf, SparkContext
from ferrostream.errors import SparkException
from ferrostream.lineserver import LineServer
from ferrostream.streaming import StreamingContext, StreamingListener
from ferrostream.testing import advance, collect_stream, manual_clock_conf
from waiting import wait_until

DEADLINE = 30.0
BATCH = 0.2


class ByteServer:
    """Sends fixed bytes to every client that connects, then keeps the connection open."""

    def __init__(self, data: bytes, port: int = 0) -> None:
        self.data = data
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(4)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            try:
                conn.sendall(self.data)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self._conns:
            c.close()
        self.sock.close()


class Events(StreamingListener):
    def __init__(self) -> None:
        super().__init__()
        self.receiver_errors: list[str] = []
        self.completed = 0

    def onReceiverError(self, receiverError: Any) -> None:
        self.receiver_errors.append(receiverError.receiverInfo().lastErrorMessage())

    def onBatchCompleted(self, batchCompleted: Any) -> None:
        self.completed += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Batches:
    """Collects the records of every batch (a copy is safe to read while batches run)."""

    def __init__(self, dstream: Any) -> None:
        self._lock = threading.Lock()
        self._batches: list[list[Any]] = []
        dstream.foreachRDD(self._add)

    def _add(self, _time: Any, rdd: Any) -> None:
        rows = rdd.collect()
        with self._lock:
            self._batches.append(rows)

    def records(self) -> list[Any]:
        with self._lock:
            return [r for batch in self._batches for r in batch]

    def count(self) -> int:
        """The number of batches seen."""
        with self._lock:
            return len(self._batches)


@pytest.fixture
def real_ssc() -> Iterator[StreamingContext]:
    conf = SparkConf().setMaster("local[2]").setAppName("sources")
    conf.set("spark.streaming.receiverRestartDelay", "200")
    conf.set("spark.ferrostream.socket.maxLineBytes", "64")
    sc = SparkContext(conf=conf)
    ssc = StreamingContext(sc, BATCH)
    try:
        yield ssc
    finally:
        ssc.stop()


def socket_stream(ssc: StreamingContext, port: int) -> tuple[Batches, Events]:
    events = Events()
    ssc.addStreamingListener(events)
    batches = Batches(ssc.socketTextStream("127.0.0.1", port))
    return batches, events


SOCKET_LOGGER = "ferrostream.engine.source.socket"


def engine_warnings(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno == logging.WARNING]


def assert_running(ssc: StreamingContext, events: Events) -> None:
    """No batch failed, the context did not stop, and batches still complete."""
    assert ssc.awaitTerminationOrTimeout(0.01) is False
    before = events.completed
    wait_until(lambda: events.completed > before + 1, "more batches")


# --------------------------------------------------------------------------------------------
# socketTextStream


def test_socket_splits_lines_and_drops_carriage_returns(real_ssc: StreamingContext) -> None:
    server = ByteServer(b"one two\r\nthree\n\nfour\r\n\r\nlast")
    try:
        batches, events = socket_stream(real_ssc, server.port)
        real_ssc.start()
        expected = ["one two", "three", "", "four", ""]
        wait_until(lambda: batches.records() == expected, "the five complete lines")
        assert_running(real_ssc, events)
    finally:
        server.stop()
    assert batches.records() == expected  # "last" has no newline yet


def test_socket_delivers_every_line_in_order(real_ssc: StreamingContext) -> None:
    sent = [f"line {i} " + "x" * (i % 50) for i in range(20_000)]
    with LineServer(sent) as server:
        batches, events = socket_stream(real_ssc, server.port)
        real_ssc.start()
        wait_until(lambda: len(batches.records()) >= len(sent), "all lines")
        assert_running(real_ssc, events)
        assert events.receiver_errors == []
    assert batches.records() == sent


def test_socket_server_not_up_yet(
    real_ssc: StreamingContext, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    batches, events = socket_stream(real_ssc, port)
    real_ssc.start()
    wait_until(lambda: len(events.receiver_errors) > 1, "two receiver errors")
    assert events.receiver_errors[0]
    # Logged as Spark's receiver supervisor logs a restart: a WARN at every attempt, one
    # restart delay (200 ms in the fixture) apart.
    wait_until(lambda: len(engine_warnings(caplog, SOCKET_LOGGER)) >= 2, "two restart WARNs")
    first, second = engine_warnings(caplog, SOCKET_LOGGER)[:2]
    assert first.getMessage().startswith(
        f"Restarting receiver with delay 200 ms: Error connecting to 127.0.0.1:{port}"
    ), first.getMessage()
    assert second.created - first.created >= 0.15
    assert real_ssc.awaitTerminationOrTimeout(0.01) is False
    with LineServer(["late", "but", "here"], port=port):
        wait_until(lambda: batches.records() == ["late", "but", "here"], "the lines")
        assert_running(real_ssc, events)


def test_socket_server_goes_away_and_comes_back(real_ssc: StreamingContext) -> None:
    first = LineServer(["before 1", "before 2"]).start()
    port = first.port
    batches, events = socket_stream(real_ssc, port)
    real_ssc.start()
    try:
        wait_until(lambda: batches.records() == ["before 1", "before 2"], "the first lines")
    finally:
        first.stop()
    with LineServer(["after 1", "after 2"], port=port):
        wait_until(
            lambda: batches.records()[-2:] == ["after 1", "after 2"], "the lines after return"
        )
        assert_running(real_ssc, events)
    assert batches.records() == ["before 1", "before 2", "after 1", "after 2"]


def test_socket_invalid_utf8_is_replaced(
    real_ssc: StreamingContext, caplog: pytest.LogCaptureFixture
) -> None:
    server = ByteServer(b"fine\n\xff\xfe bad \xc3\nx\x80y\nafter\n")
    try:
        batches, events = socket_stream(real_ssc, server.port)
        real_ssc.start()
        wait_until(lambda: "after" in batches.records(), "the line after the garbage")
        assert_running(real_ssc, events)
    finally:
        server.stop()
    lines = batches.records()
    assert lines[0] == "fine" and lines[-1] == "after" and len(lines) == 4
    assert "\ufffd" in lines[1] and " bad " in lines[1]
    assert lines[2].startswith("x\ufffd") and lines[2].endswith("y")
    # A WARN with the count for the batch (or batches) that had them.
    counted = [
        r.getMessage()
        for r in engine_warnings(caplog, SOCKET_LOGGER)
        if "were not valid UTF-8; invalid bytes were replaced" in r.getMessage()
    ]
    assert counted and all(m.split(" ")[3] == f"127.0.0.1:{server.port}" for m in counted)
    assert sum(int(m.split(" ")[0]) for m in counted) == 2, counted


def test_socket_overlong_line_is_reported_and_dropped(
    real_ssc: StreamingContext, caplog: pytest.LogCaptureFixture
) -> None:
    # maxLineBytes is 64 in the fixture.
    server = ByteServer(b"short 1\n" + b"z" * 1000 + b"\nshort 2\n" + b"y" * 64 + b"\nend\n")
    try:
        batches, events = socket_stream(real_ssc, server.port)
        real_ssc.start()
        wait_until(lambda: "end" in batches.records(), "the lines after the long one")
        wait_until(lambda: len(events.receiver_errors) > 0, "a receiver error")
        assert_running(real_ssc, events)
    finally:
        server.stop()
    lines = batches.records()
    assert "short 1" in lines and "short 2" in lines and "y" * 64 in lines
    assert not any(line.startswith("z") for line in lines)
    assert any("64" in message for message in events.receiver_errors), events.receiver_errors
    counted = [r.getMessage() for r in engine_warnings(caplog, SOCKET_LOGGER)]
    assert any(
        m.startswith("1 line(s) from 127.0.0.1:")
        and "longer than the limit of 64 bytes (spark.ferrostream.socket.maxLineBytes) and "
        "were dropped"
        in m
        for m in counted
    ), counted


# --------------------------------------------------------------------------------------------
# textFileStream / binaryRecordsStream (manual clock: batch k runs at k seconds after 0)


@pytest.fixture
def manual_ssc() -> Iterator[StreamingContext]:
    sc = SparkContext(conf=manual_clock_conf("sources"))
    ssc = StreamingContext(sc, 1)
    try:
        yield ssc
    finally:
        ssc.stop()


def put(directory: Path, name: str, data: str | bytes, mtime: float) -> Path:
    """Write a file and give it the modification time ``mtime`` (seconds since the epoch,
    which is also the manual clock's time)."""
    path = directory / name
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def test_text_files_are_read_once_when_they_appear(
    manual_ssc: StreamingContext, tmp_path: Path
) -> None:
    batches = collect_stream(manual_ssc.textFileStream(str(tmp_path)))
    put(tmp_path, "a.txt", "a1\na2\n", 0.5)
    put(tmp_path, "_temporary.txt", "hidden\n", 0.5)
    put(tmp_path, ".a.txt.crc", "hidden\n", 0.5)
    put(tmp_path, "later.txt", "later\n", 2.5)  # due at the third batch
    manual_ssc.start()
    advance(manual_ssc, 1)
    put(tmp_path, "b.txt", "b1\n", 1.2)
    put(tmp_path, ".b.txt.tmp", "hidden\n", 1.2)
    advance(manual_ssc, 1)
    advance(manual_ssc, 1)
    advance(manual_ssc, 1)
    assert batches == [["a1", "a2"], ["b1"], ["later"], []]
    assert manual_ssc.awaitTerminationOrTimeout(0.01) is False


def test_text_file_stream_accepts_file_urls(manual_ssc: StreamingContext, tmp_path: Path) -> None:
    batches = collect_stream(manual_ssc.textFileStream(tmp_path.as_uri()))
    manual_ssc.start()
    put(tmp_path, "x.txt", "via a URL\n", 0.7)
    advance(manual_ssc, 1)
    assert batches == [["via a URL"]]


def test_text_file_stream_moved_in_with_real_clock(tmp_path: Path) -> None:
    sc = SparkContext("local[2]", "sources")
    ssc = StreamingContext(sc, BATCH)
    try:
        batches = Batches(ssc.textFileStream(str(tmp_path)))
        ssc.start()
        for i in range(3):
            hidden = tmp_path / f".chunk{i}.tmp"
            hidden.write_text(f"chunk {i} line 1\nchunk {i} line 2\n")
            os.rename(hidden, tmp_path / f"chunk{i}")
        wait_until(lambda: len(batches.records()) >= 6, "the three files")
        seen = batches.count()
        wait_until(lambda: batches.count() >= seen + 3, "three more batches")
        expected = [f"chunk {i} line {j}" for i in range(3) for j in (1, 2)]
        assert sorted(batches.records()) == expected
    finally:
        ssc.stop()


def test_missing_directory_fails_start(tmp_path: Path) -> None:
    missing = tmp_path / "not-there"
    sc = SparkContext(conf=manual_clock_conf("sources"))
    ssc = StreamingContext(sc, 1)
    try:
        ssc.textFileStream(str(missing)).pprint()
        with pytest.raises(OSError, match="not-there"):
            ssc.start()
    finally:
        ssc.stop()


def test_watched_directory_removed_while_running_is_scanned_again(
    manual_ssc: StreamingContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    batches = collect_stream(manual_ssc.textFileStream(str(watched)))
    manual_ssc.start()
    put(watched, "a.txt", "before\n", 0.5)
    advance(manual_ssc, 1)
    shutil.rmtree(watched)
    advance(manual_ssc, 1)
    watched.mkdir()
    put(watched, "b.txt", "after\n", 2.5)
    advance(manual_ssc, 1)
    assert batches == [["before"], [], ["after"]]
    assert manual_ssc.awaitTerminationOrTimeout(0.01) is False
    warned = [r.getMessage() for r in engine_warnings(caplog, "ferrostream.engine.source.files")]
    assert len(warned) == 1, warned
    assert warned[0].startswith(f"Error finding new files under {watched}: "), warned


def test_binary_records(manual_ssc: StreamingContext, tmp_path: Path) -> None:
    batches = collect_stream(manual_ssc.binaryRecordsStream(str(tmp_path), 4))
    put(tmp_path, "r1.bin", b"abcdEFGH\x00\x01\x02\x03", 0.5)
    manual_ssc.start()
    advance(manual_ssc, 1)
    assert batches == [[b"abcd", b"EFGH", b"\x00\x01\x02\x03"]]


def test_binary_records_length_not_a_multiple(manual_ssc: StreamingContext, tmp_path: Path) -> None:
    batches = collect_stream(manual_ssc.binaryRecordsStream(str(tmp_path), 4))
    manual_ssc.start()
    put(tmp_path, "odd.bin", b"123456", 0.5)
    advance(manual_ssc, 1)
    with pytest.raises(SparkException, match=r"odd\.bin.*not a multiple"):
        manual_ssc.awaitTerminationOrTimeout(1)
    # The failed batch produced no output; the context keeps running and the next batch does.
    advance(manual_ssc, 1)
    assert batches == [[]]
    assert StreamingContext.getActive() is not None


def test_failed_file_is_not_read_again(manual_ssc: StreamingContext, tmp_path: Path) -> None:
    batches = collect_stream(manual_ssc.binaryRecordsStream(str(tmp_path), 4))
    manual_ssc.start()
    put(tmp_path, "odd.bin", b"123456", 0.5)
    advance(manual_ssc, 1)
    with pytest.raises(SparkException, match=r"odd\.bin"):
        manual_ssc.awaitTerminationOrTimeout(1)
    # As in Spark, the failed batch's files were selected: the next batch reads only the
    # new file, without a new error.
    put(tmp_path, "ok.bin", b"wxyz", 1.5)
    advance(manual_ssc, 1)
    assert batches == [[b"wxyz"]]
    # The reported failure stays (as in Spark), and it is still the first batch's one.
    with pytest.raises(SparkException, match=r"file .*odd\.bin has 6 bytes"):
        manual_ssc.awaitTerminationOrTimeout(0.01)


def test_binary_records_stream_validates_length(manual_ssc: StreamingContext) -> None:
    with pytest.raises(ValueError):
        manual_ssc.binaryRecordsStream("/tmp", 0)
    with pytest.raises(TypeError):
        manual_ssc.binaryRecordsStream("/tmp", 2.5)  # type: ignore[arg-type]
