"""The web UI (Spark's UI on port 4040) and its JSON API (Spark's ``/api/v1`` for streaming),
checked against what a StreamingListener is told about the same batches."""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ferrostream
from ferrostream import SparkConf, SparkContext
from ferrostream.lineserver import LineServer
from ferrostream.streaming import StreamingContext, StreamingListener
from ferrostream.testing import advance, manual_clock_conf, run_batches
from waiting import wait_until

SERVER_LOGGER = "ferrostream.engine.ui.server"
REDACTED = "*********(redacted)"


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get(url: str) -> Any:
    status, body = fetch(url)
    assert status == 200, (url, status, body)
    return json.loads(body)


def refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.URLError as e:
        return isinstance(e.reason, ConnectionRefusedError)
    return False


class Recorded(StreamingListener):
    """What the listener is told: completed batches and receiver errors."""

    def __init__(self) -> None:
        super().__init__()
        self.completed: list[Any] = []
        self.receiver_errors: list[Any] = []
        self.receivers: list[Any] = []

    def onBatchCompleted(self, batchCompleted: Any) -> None:
        self.completed.append(batchCompleted.batchInfo())

    def onReceiverStarted(self, receiverStarted: Any) -> None:
        self.receivers.append(receiverStarted.receiverInfo())

    def onReceiverError(self, receiverError: Any) -> None:
        self.receiver_errors.append(receiverError.receiverInfo())


@pytest.fixture
def manual_sc(request: pytest.FixtureRequest) -> Iterator[SparkContext]:
    sc = SparkContext(conf=manual_clock_conf(request.node.name))
    try:
        yield sc
    finally:
        sc.stop()


def test_ui_runs_while_the_context_runs_and_stops_with_it() -> None:
    sc = SparkContext("local[2]", "ui-lifecycle")
    try:
        url = sc.uiWebUrl
        assert url is not None and url.startswith("http://127.0.0.1:")
        apps = get(f"{url}/api/v1/applications")
        assert [a["id"] for a in apps] == [sc.applicationId]
        attempt = apps[0]["attempts"][0]
        assert apps[0]["name"] == "ui-lifecycle"
        assert attempt["startTimeEpoch"] == sc.startTime
        assert attempt["completed"] is False
        assert attempt["startTime"].endswith("GMT")
        status, page = fetch(f"{url}/application/")
        assert status == 200 and "ui-lifecycle" in page and "local[2]" in page
        # No streaming context yet: Spark's 404 for the streaming API, with a JSON error.
        status, body = fetch(f"{url}/api/v1/applications/{sc.applicationId}/streaming/batches")
        assert status == 404
        assert "no streaming listener attached" in json.loads(body)["message"]
    finally:
        sc.stop()
    assert sc.uiWebUrl is None
    assert refused(f"{url}/api/v1/applications")


def test_disabled_ui_serves_nothing() -> None:
    conf = SparkConf().setMaster("local[1]").setAppName("no-ui").set("spark.ui.enabled", "false")
    with SparkContext(conf=conf) as sc:
        assert sc.uiWebUrl is None
        assert sc._ectx.ui_url is None


def test_a_taken_port_moves_the_ui_to_the_next_one_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ferrostream")
    ferrostream._native.reset_log_cache()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        conf = SparkConf().setMaster("local[1]").setAppName("port").set("spark.ui.port", port)
        with SparkContext(conf=conf) as sc:
            assert sc.uiWebUrl is not None
            got = int(sc.uiWebUrl.rsplit(":", 1)[1])
            assert got > port
            assert get(f"{sc.uiWebUrl}/api/v1/applications")[0]["id"] == sc.applicationId
    warnings = [r.getMessage() for r in caplog.records if r.name == SERVER_LOGGER]
    assert warnings[0] == (
        f"Service 'SparkUI' could not bind on port {port}. Attempting port {port + 1}."
    )
    started = [r.getMessage() for r in caplog.records if "Bound SparkUI" in r.getMessage()]
    assert started == [f"Bound SparkUI to 127.0.0.1, and started at http://127.0.0.1:{got}"]


def _occupy(count: int) -> list[socket.socket]:
    """``count`` listening sockets on consecutive ports of 127.0.0.1."""
    for _ in range(50):
        first = socket.socket()
        first.bind(("127.0.0.1", 0))
        base = first.getsockname()[1]
        held = [first]
        try:
            for port in range(base + 1, base + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            for s in held:
                s.close()
            continue
        for s in held:
            s.listen(1)
        return held
    pytest.skip(f"no {count} consecutive free ports")


def test_no_free_port_fails_the_context_naming_the_ports_tried() -> None:
    held = _occupy(4)
    base = held[0].getsockname()[1]
    try:
        conf = SparkConf().setMaster("local[1]").setAppName("no-port")
        conf.set("spark.ui.port", base).set("spark.port.maxRetries", 3)
        with pytest.raises(OSError) as info:
            SparkContext(conf=conf)
        message = str(info.value)
        assert message.startswith(
            f"Failed to bind to 127.0.0.1 on ports {base}-{base + 3}: Service 'SparkUI' failed "
            f"after 3 retries (starting from {base})!"
        ), message
        assert "spark.port.maxRetries" in message and "spark.ui.enabled=false" in message
        # No context was left behind: one can be made, and without the UI these ports do.
        assert SparkContext._active_spark_context is None
        with SparkContext(conf=conf.set("spark.ui.enabled", "false")) as sc:
            assert sc.uiWebUrl is None
            assert sc.parallelize([1, 2]).count() == 2
    finally:
        for s in held:
            s.close()


def test_bind_address_comes_from_the_conf_or_spark_local_ip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.3")
    conf = SparkConf().setMaster("local[1]").setAppName("bind").set("spark.ui.port", 0)
    with SparkContext(conf=conf) as sc:
        assert sc.uiWebUrl is not None and sc.uiWebUrl.startswith("http://127.0.0.3:")
        port = sc.uiWebUrl.rsplit(":", 1)[1]
        assert get(f"{sc.uiWebUrl}/api/v1/applications")
        assert refused(f"http://127.0.0.1:{port}/api/v1/applications")
    conf.set("spark.driver.bindAddress", "127.0.0.2")
    with SparkContext(conf=conf) as sc:
        assert sc.uiWebUrl is not None and sc.uiWebUrl.startswith("http://127.0.0.2:")


def test_settings_page_masks_secrets() -> None:
    secrets = {
        "spark.kafka.sasl.password": "pw-value-1",
        "spark.hadoop.fs.s3a.secret.key": "sk-value-2",
        "spark.my.API_TOKEN": "tok-value-3",
        "spark.kinesis.accessKeyId": "ak-value-4",
    }
    conf = SparkConf().setMaster("local[1]").setAppName("secrets").set("spark.ui.port", 0)
    conf.set("spark.visible.setting", "shown-value")
    for k, v in secrets.items():
        conf.set(k, v)
    with SparkContext(conf=conf) as sc:
        assert sc.uiWebUrl is not None
        status, page = fetch(f"{sc.uiWebUrl}/application/")
    assert status == 200
    assert "shown-value" in page
    for k, v in secrets.items():
        assert v not in page, k
        assert f"<td>{k}</td><td>{REDACTED}</td>" in page


def test_static_files_are_the_vendored_chart_library_and_the_ui_script(
    manual_sc: SparkContext,
) -> None:
    url = manual_sc.uiWebUrl
    vendored = Path(ferrostream.__file__).parent / "ui_assets" / "chart.js" / "chart.umd.min.js"
    with urllib.request.urlopen(f"{url}/static/chart.umd.min.js", timeout=10) as r:
        assert r.headers["content-type"] == "text/javascript"
        assert r.read() == vendored.read_bytes()
    status, script = fetch(f"{url}/static/ui.js")
    assert status == 200 and "/api/v1/applications/" in script
    # The page loads the library from the UI itself, never from elsewhere.
    StreamingContext(manual_sc, 1)
    status, page = fetch(f"{url}/streaming/")
    assert status == 200
    assert '<script src="/static/chart.umd.min.js">' in page
    assert "http" not in page.split("<body", 1)[0].replace("http-equiv", "")


def _line_server_stream(ssc: StreamingContext, server: LineServer) -> None:
    failed: list[int] = []

    def fail_once(t: Any, rdd: Any) -> None:
        if not failed and rdd.count() > 0:
            failed.append(1)
            raise ValueError("boom in the second output")

    words = ssc.socketTextStream(server.host, server.port).flatMap(lambda line: line.split())
    words.countByValue().foreachRDD(lambda rdd: rdd.collect())
    words.foreachRDD(fail_once)


def test_api_figures_are_the_listeners(manual_sc: SparkContext) -> None:
    sent = [f"w{i % 3} x" for i in range(30)]
    ssc = StreamingContext(manual_sc, 1)
    recorded = Recorded()
    ssc.addStreamingListener(recorded)
    with LineServer(sent) as server:
        _line_server_stream(ssc, server)
        ssc.start()

        def all_counted() -> bool:
            advance(ssc, 1)
            return sum(b.numRecords() for b in recorded.completed) >= len(sent)

        wait_until(all_counted, "every line in a batch", interval=0.2)
        run_batches(ssc, 2)
        ssc.stop(stopSparkContext=False)
    assert sum(b.numRecords() for b in recorded.completed) == len(sent)

    api = f"{manual_sc.uiWebUrl}/api/v1/applications/{manual_sc.applicationId}/streaming"
    batches = get(f"{api}/batches")
    heard = {b.batchTime().milliseconds(): b for b in recorded.completed}
    assert [b["batchId"] for b in batches] == sorted(heard, reverse=True)
    for b in batches:
        info = heard[b["batchId"]]
        assert b["status"] == "COMPLETED"
        assert b["batchDuration"] == 1000
        assert b["inputSize"] == info.numRecords()
        assert b["schedulingDelay"] == info.schedulingDelay()
        assert b["processingTime"] == info.processingDelay()
        assert b["totalDelay"] == info.totalDelay()
        assert b["numTotalOutputOps"] == 2 == len(info.outputOperationInfos())
        assert get(f"{api}/batches/{b['batchId']}") == b

    failed = [b for b in batches if b["numFailedOutputOps"]]
    assert len(failed) == 1
    assert "boom in the second output" in failed[0]["firstFailureReason"]
    assert failed[0]["numCompletedOutputOps"] == 1
    ops = get(f"{api}/batches/{failed[0]['batchId']}/operations")
    heard_ops = heard[failed[0]["batchId"]].outputOperationInfos()
    assert [o["outputOpId"] for o in ops] == [0, 1]
    for o in ops:
        h = heard_ops[o["outputOpId"]]
        assert o["duration"] == h.endTime() - h.startTime()
        assert o["description"] == h.description()
        assert o.get("failureReason") == h.failureReason()
        assert o["jobIds"] == []
    assert "failureReason" not in ops[0]

    stats = get(f"{api}/statistics")
    n = len(heard)
    assert stats["batchDuration"] == 1000
    assert stats["numTotalCompletedBatches"] == stats["numRetainedCompletedBatches"] == n
    assert stats["numActiveBatches"] == 0
    assert stats["numReceivedRecords"] == stats["numProcessedRecords"] == len(sent)
    assert stats["avgInputRate"] == pytest.approx(len(sent) / n)
    infos = heard.values()
    assert stats["avgProcessingTime"] == sum(i.processingDelay() for i in infos) // n
    assert stats["avgSchedulingDelay"] == sum(i.schedulingDelay() for i in infos) // n
    assert stats["avgTotalDelay"] == sum(i.totalDelay() for i in infos) // n
    assert (stats["numReceivers"], stats["numActiveReceivers"]) == (1, 0)

    (receiver,) = get(f"{api}/receivers")
    assert receiver["streamId"] == recorded.receivers[0].streamId()
    assert receiver["streamName"] == recorded.receivers[0].name()
    assert receiver["isActive"] is False
    rates = dict(receiver["eventRates"])
    assert rates == {t: float(b.numRecords()) for t, b in heard.items()}
    assert receiver["avgEventRate"] == pytest.approx(len(sent) / n)
    assert get(f"{api}/receivers/{receiver['streamId']}") == receiver


def test_unknown_ids_get_404_with_a_json_error(manual_sc: SparkContext) -> None:
    base = f"{manual_sc.uiWebUrl}/api/v1/applications"
    app = manual_sc.applicationId
    ssc = StreamingContext(manual_sc, 1)
    ssc.queueStream([manual_sc.parallelize([1])]).foreachRDD(lambda rdd: None)
    ssc.start()
    run_batches(ssc, 1)
    batch = get(f"{base}/{app}/streaming/batches")[0]["batchId"]
    for path, message in [
        ("/local-0/streaming/statistics", "unknown app: local-0"),
        (f"/{app}/streaming/batches/123", "unknown batch: 123"),
        (f"/{app}/streaming/batches/abc", "unknown batch: abc"),
        (f"/{app}/streaming/batches/{batch}/operations/7", "unknown output operation: 7"),
        (f"/{app}/streaming/receivers/9", "unknown receiver: 9"),
    ]:
        status, body = fetch(base + path)
        assert status == 404, path
        assert json.loads(body) == {"code": 404, "message": message}
    ssc.stop(stopSparkContext=False)


def test_only_the_retained_batches_are_kept() -> None:
    conf = manual_clock_conf("retained").set("spark.streaming.ui.retainedBatches", 3)
    with SparkContext(conf=conf) as sc:
        ssc = StreamingContext(sc, 1)
        ssc.queueStream([sc.parallelize([i]) for i in range(12)]).foreachRDD(lambda r: None)
        ssc.start()
        run_batches(ssc, 12)
        api = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/streaming"
        stats = get(f"{api}/statistics")
        assert stats["numTotalCompletedBatches"] == 12
        assert stats["numRetainedCompletedBatches"] == 3
        ids = [b["batchId"] for b in get(f"{api}/batches")]
        assert len(ids) == 3 and ids == sorted(ids, reverse=True)
        assert ids[0] - ids[2] == 2000
        assert get(f"{api}/batches?status=QUEUED") == []
        assert len(get(f"{api}/batches?status=COMPLETED")) == 3
        ssc.stop(stopSparkContext=False)


def test_receiver_errors_reach_the_api(manual_sc: SparkContext) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ssc = StreamingContext(manual_sc, 1)
    recorded = Recorded()
    ssc.addStreamingListener(recorded)
    ssc.socketTextStream("127.0.0.1", port).foreachRDD(lambda rdd: None)
    ssc.start()
    api = f"{manual_sc.uiWebUrl}/api/v1/applications/{manual_sc.applicationId}/streaming"
    try:
        wait_until(lambda: recorded.receiver_errors, "a receiver error")
        (receiver,) = get(f"{api}/receivers")
        assert receiver["isActive"] is True
        assert receiver["lastErrorMessage"] == recorded.receiver_errors[-1].lastErrorMessage()
        assert f"127.0.0.1:{port}" in receiver["lastError"]
        assert receiver["lastErrorTime"].endswith("GMT")
        stats = get(f"{api}/statistics")
        assert (stats["numReceivers"], stats["numActiveReceivers"]) == (1, 1)
    finally:
        ssc.stop(stopSparkContext=False)


def test_a_running_batch_is_active_with_its_output_operations() -> None:
    conf = SparkConf().setMaster("local[2]").setAppName("active").set("spark.ui.port", 0)
    release = threading.Event()
    with SparkContext(conf=conf) as sc:
        ssc = StreamingContext(sc, 0.2)
        stream = ssc.queueStream([sc.parallelize([1, 2])], default=sc.parallelize([]))
        stream.foreachRDD(lambda rdd: release.wait(30))
        stream.foreachRDD(lambda rdd: None)
        ssc.start()
        api = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/streaming"
        try:
            wait_until(lambda: get(f"{api}/batches?status=PROCESSING"), "a processing batch")
            (running,) = get(f"{api}/batches?status=PROCESSING")
            assert running["numTotalOutputOps"] == 2
            assert running["numActiveOutputOps"] == 2
            assert running["numCompletedOutputOps"] == 0
            assert "processingTime" not in running and "totalDelay" not in running
            assert get(f"{api}/statistics")["numActiveBatches"] == 1
            ops = get(f"{api}/batches/{running['batchId']}/operations")
            assert [o["outputOpId"] for o in ops] == [0]
            assert "endTime" not in ops[0] and "duration" not in ops[0]
        finally:
            release.set()
            ssc.stop(stopSparkContext=False)
        done = get(f"{api}/batches/{running['batchId']}")
        assert (done["status"], done["numCompletedOutputOps"], done["numActiveOutputOps"]) == (
            "COMPLETED",
            2,
            0,
        )
