"""Output operations (pprint, saveAsTextFiles, foreachRDD), batch failures and listeners."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ferrostream.errors import SparkException
from ferrostream.rdd import RDD
from ferrostream.streaming import StreamingContext, StreamingListener
from ferrostream.streaming.util import rddToFileName
from ferrostream.testing import collect_stream, run_batches, streaming_context

RULE = "-" * 43


@pytest.fixture
def ssc() -> Iterator[StreamingContext]:
    ctx = streaming_context(1, app="test_streaming_output")
    yield ctx
    ctx.stop(stopSparkContext=True)


def header(seconds: float) -> str:
    return f"{RULE}\nTime: {datetime.fromtimestamp(seconds)}\n{RULE}\n"


def test_pprint_exact_text(ssc: StreamingContext, capsys: pytest.CaptureFixture[str]) -> None:
    ssc.queueStream([list(range(12)), [("a", 2), "s"]]).pprint()
    ssc.start()
    run_batches(ssc, 3)
    expected = (
        header(1)
        + "".join(f"{i}\n" for i in range(10))
        + "...\n\n"
        + header(2)
        + "('a', 2)\ns\n\n"
        + header(3)
        + "\n"
    )
    assert capsys.readouterr().out == expected


def test_pprint_num_and_exact_fit(
    ssc: StreamingContext, capsys: pytest.CaptureFixture[str]
) -> None:
    ssc.queueStream([[1, 2, 3]]).pprint(3)
    ssc.start()
    run_batches(ssc, 1)
    assert capsys.readouterr().out == header(1) + "1\n2\n3\n\n"


def test_pprint_fractional_batch_time(capsys: pytest.CaptureFixture[str]) -> None:
    ssc = streaming_context(0.5, app="pprint_half")
    try:
        ssc.queueStream([[1]]).pprint()
        ssc.start()
        run_batches(ssc, 1)
        out = capsys.readouterr().out
        assert out == header(0.5) + "1\n\n"
        assert ".500000" in out
    finally:
        ssc.stop()


def test_rdd_to_file_name() -> None:
    assert rddToFileName("spark", None, 12345678910) == "spark-12345678910"
    assert rddToFileName("spark", "tmp", 12345678910) == "spark-12345678910.tmp"
    when = datetime.fromtimestamp(1704110401.25)
    assert rddToFileName("out/wc", "txt", when) == "out/wc-1704110401250.txt"


def test_save_as_text_files_layout(ssc: StreamingContext, tmp_path: Path) -> None:
    sc = ssc.sparkContext
    prefix = str(tmp_path / "out" / "wc")
    ssc.queueStream([sc.parallelize(["a", "b", "c"], 2), [("k", 1)]]).saveAsTextFiles(prefix, "txt")
    ssc.start()
    run_batches(ssc, 3)
    names = sorted(os.listdir(tmp_path / "out"))
    assert names == ["wc-1000.txt", "wc-2000.txt", "wc-3000.txt"]
    first = tmp_path / "out" / "wc-1000.txt"
    visible = sorted(n for n in os.listdir(first) if not n.startswith("."))
    assert visible == ["_SUCCESS", "part-00000", "part-00001"]
    text = (first / "part-00000").read_text() + (first / "part-00001").read_text()
    assert text == "a\nb\nc\n"
    second = tmp_path / "out" / "wc-2000.txt"
    parts = sorted(p for p in os.listdir(second) if p.startswith("part-"))
    assert "".join((second / p).read_text() for p in parts) == "('k', 1)\n"
    empty = tmp_path / "out" / "wc-3000.txt"
    assert (empty / "_SUCCESS").exists()
    assert ssc.awaitTerminationOrTimeout(0.001) is False


def test_save_as_text_files_skips_existing_directory(ssc: StreamingContext, tmp_path: Path) -> None:
    prefix = str(tmp_path / "wc")
    existing = tmp_path / "wc-1000"
    existing.mkdir()
    (existing / "keep").write_text("old")
    ssc.queueStream([[1], [2]]).saveAsTextFiles(prefix)
    ssc.start()
    run_batches(ssc, 2)
    assert ssc.awaitTerminationOrTimeout(0.001) is False
    assert os.listdir(existing) == ["keep"]
    assert (tmp_path / "wc-2000" / "_SUCCESS").exists()


def test_foreach_rdd_arity_and_time(ssc: StreamingContext) -> None:
    one: list[Any] = []
    two: list[Any] = []

    class Sink:
        def __init__(self) -> None:
            self.got: list[Any] = []

        def __call__(self, rdd: RDD[int]) -> None:
            self.got.append(rdd.collect())

    src = ssc.queueStream([[1, 2]])
    src.foreachRDD(lambda rdd: one.append(rdd))
    src.foreachRDD(lambda t, rdd: two.append((t, rdd.collect())))
    sink = Sink()
    src.foreachRDD(sink)
    ssc.start()
    run_batches(ssc, 2)
    assert all(isinstance(r, RDD) for r in one)
    assert [r.collect() for r in one] == [[1, 2], []]
    assert two == [(datetime.fromtimestamp(1.0), [1, 2]), (datetime.fromtimestamp(2.0), [])]
    assert isinstance(two[0][0], datetime)
    assert two[0][0].tzinfo is None
    assert sink.got == [[1, 2], []]


def test_output_operations_run_in_registration_order(ssc: StreamingContext) -> None:
    order: list[str] = []
    src = ssc.queueStream([[1]])
    src.foreachRDD(lambda rdd: order.append("first"))
    src.map(str).foreachRDD(lambda rdd: order.append("second"))
    src.foreachRDD(lambda rdd: order.append("third"))
    ssc.start()
    run_batches(ssc, 2)
    assert order == ["first", "second", "third"] * 2


def test_user_exception_in_foreach_rdd(ssc: StreamingContext) -> None:
    seen: list[list[int]] = []

    def fail_once(rdd: RDD[int]) -> None:
        data = rdd.collect()
        seen.append(data)
        if data == [1]:
            raise ValueError("boom in batch")

    ssc.queueStream([[1], [2], [3]]).foreachRDD(fail_once)
    ssc.start()
    run_batches(ssc, 1)
    with pytest.raises(SparkException) as info:
        ssc.awaitTerminationOrTimeout(1)
    assert "An exception was raised by Python:" in str(info.value)
    assert "boom in batch" in str(info.value)
    cause = info.value.__cause__
    assert type(cause) is ValueError
    assert str(cause) == "boom in batch"
    # The context keeps running: later batches still run ...
    run_batches(ssc, 2)
    assert seen == [[1], [2], [3]]
    # ... and, as in Spark, the failure stays: every later wait raises it again.
    with pytest.raises(SparkException) as again:
        ssc.awaitTerminationOrTimeout(0.001)
    assert type(again.value.__cause__) is ValueError


def test_user_exception_in_map_function(ssc: StreamingContext) -> None:
    def bad(x: int) -> int:
        if x == 2:
            raise KeyError("two")
        return x

    out = collect_stream(ssc.queueStream([[1], [2], [3]]).map(bad))
    ssc.start()
    run_batches(ssc, 3)
    with pytest.raises(SparkException) as info:
        ssc.awaitTermination()
    assert type(info.value.__cause__) is KeyError
    assert out == [[1], [3]]


def test_user_exception_in_transform_function(ssc: StreamingContext) -> None:
    def bad(rdd: RDD[int]) -> RDD[int]:
        raise RuntimeError("transform failed")

    ssc.queueStream([[1]]).transform(bad).pprint()
    ssc.start()
    run_batches(ssc, 1)
    with pytest.raises(SparkException) as info:
        ssc.awaitTerminationOrTimeout(1)
    assert type(info.value.__cause__) is RuntimeError
    assert str(info.value.__cause__) == "transform failed"


class Recorder(StreamingListener):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, Any]] = []

    def onStreamingStarted(self, streamingStarted: Any) -> None:
        self.events.append(("started", streamingStarted))

    def onBatchSubmitted(self, batchSubmitted: Any) -> None:
        self.events.append(("submitted", batchSubmitted))

    def onBatchStarted(self, batchSubmitted: Any) -> None:
        self.events.append(("batchStarted", batchSubmitted))

    def onBatchCompleted(self, batchCompleted: Any) -> None:
        self.events.append(("completed", batchCompleted))

    def onOutputOperationStarted(self, outputOperationStarted: Any) -> None:
        self.events.append(("opStarted", outputOperationStarted))

    def onOutputOperationCompleted(self, outputOperationCompleted: Any) -> None:
        self.events.append(("opCompleted", outputOperationCompleted))


def test_listener_events_and_batch_info(ssc: StreamingContext) -> None:
    recorder = Recorder()
    ssc.addStreamingListener(recorder)
    src = ssc.queueStream([[1, 2]])
    src.pprint()
    src.foreachRDD(lambda rdd: None)
    ssc.start()
    run_batches(ssc, 1)
    kinds = [k for k, _ in recorder.events]
    assert kinds == [
        "started",
        "submitted",
        "batchStarted",
        "opStarted",
        "opCompleted",
        "opStarted",
        "opCompleted",
        "completed",
    ]
    assert isinstance(recorder.events[0][1].time, int)
    submitted = recorder.events[1][1].batchInfo()
    started = recorder.events[2][1].batchInfo()
    completed = recorder.events[-1][1].batchInfo()
    for info in (submitted, started, completed):
        assert info.batchTime().milliseconds() == 1000
        assert info.numRecords() == 0
        assert info.streamIdToInputInfo() == {}
    assert (submitted.schedulingDelay(), submitted.processingDelay(), submitted.totalDelay()) == (
        -1,
        -1,
        -1,
    )
    assert started.schedulingDelay() >= 0
    assert started.processingDelay() == -1
    assert started.totalDelay() == -1
    assert completed.schedulingDelay() >= 0
    assert completed.processingDelay() >= 0
    assert completed.totalDelay() >= 0
    assert completed.submissionTime() >= 0
    assert completed.processingStartTime() >= completed.submissionTime()
    assert completed.processingEndTime() >= completed.processingStartTime()
    ops = completed.outputOperationInfos()
    assert sorted(ops) == [0, 1]
    assert ops[0].id() == 0
    assert ops[0].batchTime().milliseconds() == 1000
    assert ops[0].failureReason() is None
    assert ops[0].endTime() >= ops[0].startTime() >= 0
    assert "pprint" in ops[0].name()
    assert "foreachRDD" in ops[1].description()
    op_done = recorder.events[4][1].outputOperationInfo()
    assert op_done.id() == 0
    assert op_done.failureReason() is None


def test_listener_sees_failure_reason(ssc: StreamingContext) -> None:
    recorder = Recorder()
    ssc.addStreamingListener(recorder)

    def fail(rdd: RDD[int]) -> None:
        raise ValueError("listener sees me")

    ssc.queueStream([[1]]).foreachRDD(fail)
    ssc.start()
    run_batches(ssc, 1)
    with pytest.raises(SparkException):
        ssc.awaitTerminationOrTimeout(1)
    done = [e for k, e in recorder.events if k == "opCompleted"]
    reason = done[0].outputOperationInfo().failureReason()
    assert reason is not None
    assert "listener sees me" in reason


def test_failing_listener_is_not_fatal(
    ssc: StreamingContext, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(StreamingListener):
        def onBatchCompleted(self, batchCompleted: Any) -> None:
            raise RuntimeError("listener bug")

    recorder = Recorder()
    ssc.addStreamingListener(Broken())
    ssc.addStreamingListener(recorder)
    out = collect_stream(ssc.queueStream([[1], [2]]))
    ssc.start()
    with caplog.at_level("ERROR", logger="ferrostream.streaming"):
        run_batches(ssc, 2)
    assert out == [[1], [2]]
    assert [k for k, _ in recorder.events].count("completed") == 2
    assert "listener bug" in caplog.text
    assert ssc.awaitTerminationOrTimeout(0.001) is False


def test_base_listener_methods_are_no_ops() -> None:
    listener = StreamingListener()
    for name in (
        "onStreamingStarted",
        "onReceiverStarted",
        "onReceiverError",
        "onReceiverStopped",
        "onBatchSubmitted",
        "onBatchStarted",
        "onBatchCompleted",
        "onOutputOperationStarted",
        "onOutputOperationCompleted",
    ):
        assert getattr(listener, name)(object()) is None


def test_receiver_event_adapter() -> None:
    from ferrostream.streaming.listener import ListenerBus

    got: list[Any] = []

    class Rec(StreamingListener):
        def onReceiverError(self, receiverError: Any) -> None:
            got.append(receiverError.receiverInfo())

    bus = ListenerBus()
    bus.add(Rec())
    bus(
        "onReceiverError",
        {
            "streamId": 3,
            "name": "SocketReceiver",
            "active": False,
            "location": "localhost",
            "lastErrorMessage": "refused",
            "lastError": "ConnectionRefusedError",
            "lastErrorTime": 1234,
        },
    )
    info = got[0]
    assert (info.streamId(), info.name(), info.active(), info.location()) == (
        3,
        "SocketReceiver",
        False,
        "localhost",
    )
    assert (info.lastErrorMessage(), info.lastError(), info.lastErrorTime()) == (
        "refused",
        "ConnectionRefusedError",
        1234,
    )


def test_input_info_adapter() -> None:
    from ferrostream.streaming.listener import BatchInfo

    info = BatchInfo(
        {
            "batchTime": 2000,
            "numRecords": 5,
            "streamIdToInputInfo": {
                0: {"inputStreamId": 0, "numRecords": 5, "metadata": {"Description": "d"}}
            },
        }
    )
    stream = info.streamIdToInputInfo()[0]
    assert stream.inputStreamId() == 0
    assert stream.numRecords() == 5
    assert stream.numRecords == 5
    assert stream.metadataDescription() == "d"
    assert info.submissionTime() == -1
    assert info.outputOperationInfos() == {}
