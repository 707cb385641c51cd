"""Rich HTML summaries of a SparkContext and a StreamingContext for Jupyter (``_repr_html_``),
as PySpark's SparkSession shows one, and the batch history they are made from."""

from __future__ import annotations

import collections
import html
import time
from typing import Any, Optional

from ferrostream import _progress
from ferrostream.streaming.listener import StreamingListener

__all__ = ["BatchTracker", "context_html", "streaming_html", "ui_url"]

LAST_BATCHES = 10
# Batches that get a progress line: the first ones, which are slow while sources connect and
# code warms up (later batches print their own output every interval).
PROGRESS_BATCHES = 3


def ui_url(sc: Any) -> Optional[str]:
    """The address of the context's web UI: ``sc.uiWebUrl`` once the UI serves one; until
    then where Spark's would be (``spark.driver.bindAddress``/``spark.ui.port``, by default
    ``http://127.0.0.1:4040``). None when ``spark.ui.enabled`` is false."""
    url = getattr(sc, "uiWebUrl", None)
    if url:
        return str(url)
    conf = sc._conf
    if conf.get("spark.ui.enabled", "true").strip().lower() == "false":
        return None
    host = conf.get("spark.driver.bindAddress") or "127.0.0.1"
    port = conf.get("spark.ui.port") or "4040"
    return f"http://{host}:{port}"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt_time(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def _dl(rows: list[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd><code>{v}</code></dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def _ui_link(sc: Any) -> str:
    url = ui_url(sc)
    if url is None:
        return "<p>Spark UI: disabled (spark.ui.enabled=false)</p>"
    return f'<p><a href="{_e(url)}" target="_blank">Spark UI</a></p>'


def context_html(sc: Any) -> str:
    """PySpark's SparkContext summary: UI link, version, master, app name (and the state)."""
    state = "stopped" if sc._stopped else "running"
    rows = [
        ("Version", f"v{_e(sc.version)}"),
        ("Master", _e(sc.master)),
        ("AppName", _e(sc.appName)),
        ("State", state),
    ]
    return f"<div><p><b>SparkContext</b></p>{_ui_link(sc)}{_dl(rows)}</div>"


def streaming_html(ssc: Any) -> str:
    """The StreamingContext's state, batch interval, its last batches and the UI link."""
    sc = ssc._sc
    rows = [
        ("State", _e(ssc._state)),
        ("Batch interval", f"{ssc._batch_ms / 1000:g} s"),
        ("Master", _e(sc.master)),
        ("AppName", _e(sc.appName)),
    ]
    tracker: Optional[BatchTracker] = getattr(ssc, "_tracker", None)
    if tracker is None or not tracker.completed:
        batches = "<p>No batch has completed yet.</p>"
    else:
        head = (
            "<tr><th>Batch time</th><th>Input records</th><th>Scheduling delay</th>"
            "<th>Processing time</th><th>Total delay</th><th>Status</th></tr>"
        )
        body = "".join(
            f"<tr><td>{_e(_fmt_time(b['time']))}</td><td>{b['records']}</td>"
            f"<td>{b['scheduling']} ms</td><td>{b['processing']} ms</td>"
            f"<td>{b['total']} ms</td><td>{_e(b['status'])}</td></tr>"
            for b in reversed(tracker.completed)
        )
        batches = (
            f"<p>Last {len(tracker.completed)} of {tracker.count} completed batches</p>"
            f"<table>{head}{body}</table>"
        )
    return f"<div><p><b>StreamingContext</b></p>{_ui_link(sc)}{_dl(rows)}{batches}</div>"


class BatchTracker(StreamingListener):
    """Keeps the last batches for the HTML summary and shows a progress line for a batch
    that runs long."""

    def __init__(self, ssc: Any) -> None:
        super().__init__()
        self._sc = ssc._sc
        self.completed: collections.deque[dict[str, Any]] = collections.deque(maxlen=LAST_BATCHES)
        self.count = 0
        self._started = 0
        self._running: dict[int, Optional[int]] = {}

    def onBatchStarted(self, batchStarted: Any) -> None:
        ms = batchStarted.batchInfo().batchTime().milliseconds()
        if self._started < PROGRESS_BATCHES:
            self._running[ms] = _progress.start(self._sc, f"Batch {_fmt_time(ms)}")
        self._started += 1

    def onBatchCompleted(self, batchCompleted: Any) -> None:
        info = batchCompleted.batchInfo()
        ms = info.batchTime().milliseconds()
        _progress.finish(self._running.pop(ms, None))
        failed = [
            op.failureReason()
            for op in info.outputOperationInfos().values()
            if op.failureReason() is not None
        ]
        self.count += 1
        self.completed.append(
            {
                "time": ms,
                "records": info.numRecords(),
                "scheduling": info.schedulingDelay(),
                "processing": info.processingDelay(),
                "total": info.totalDelay(),
                "status": "failed" if failed else "succeeded",
            }
        )


def attach(ssc: Any) -> None:
    """Give ``ssc`` its BatchTracker (once)."""
    if getattr(ssc, "_tracker", None) is None:
        ssc._tracker = BatchTracker(ssc)
        ssc.addStreamingListener(ssc._tracker)
