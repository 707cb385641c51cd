"""The web UI in a real browser: headless Chromium (Debian's ``chromium``, installed by
``scripts/chromium.sh``) driven by Playwright loads the Streaming tab of a running job, sees the
charts render and the batch tables fill without a reload, opens a batch, and writes screenshots
to ``test-artifacts/``.

Without Chromium or Playwright the test is skipped, unless ``FERROSTREAM_REQUIRE_BROWSER=1``
(``scripts/test.sh`` sets it) makes that a failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferrostream import SparkConf, SparkContext
from ferrostream.lineserver import LineServer
from ferrostream.streaming import StreamingContext, StreamingListener
from waiting import wait_until

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TIMEOUT_MS = 30_000


def _browser_path() -> str:
    path = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    required = os.environ.get("FERROSTREAM_REQUIRE_BROWSER") == "1"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed (scripts/test.sh installs it)")
    if path is None:
        if required:
            pytest.fail("no chromium on PATH: run scripts/chromium.sh")
        pytest.skip("no chromium on PATH (scripts/chromium.sh installs it)")
    return path


class Completed(StreamingListener):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[Any] = []

    def onBatchCompleted(self, batchCompleted: Any) -> None:
        self.batches.append(batchCompleted.batchInfo())


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = _browser_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1600})
            yield context.new_page()
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_streaming_tab_draws_charts_and_fills_tables_live(page: Any) -> None:
    conf = SparkConf().setMaster("local[2]").setAppName("browser word count")
    conf.set("spark.ui.port", 0)
    sc = SparkContext(conf=conf)
    ssc = StreamingContext(sc, 0.5)
    completed = Completed()
    ssc.addStreamingListener(completed)
    lines = [f"the quick brown fox {i}" for i in range(40)]
    with LineServer(lines, rate=200, loop=True) as server:
        try:
            words = ssc.socketTextStream(server.host, server.port).flatMap(str.split)
            words.map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b).foreachRDD(
                lambda rdd: rdd.collect()
            )
            ssc.start()
            wait_until(lambda: len(completed.batches) >= 2, "two completed batches")
            url = sc.uiWebUrl
            assert url is not None
            ARTIFACTS.mkdir(exist_ok=True)

            page.goto(f"{url}/streaming/")
            page.evaluate("window.__sameDocument = true")
            for metric in ["inputRate", "schedulingDelay", "processingTime", "totalDelay"]:
                page.wait_for_function(
                    f"Number(document.getElementById('timeline-{metric}').dataset.points || 0)"
                    " >= 2",
                    timeout=TIMEOUT_MS,
                )
            rows = page.locator("#completed-batches tbody tr").count()
            assert rows >= 2
            # Live: more batches appear without a reload.
            page.wait_for_function(
                f"document.querySelectorAll('#completed-batches tbody tr').length > {rows}",
                timeout=TIMEOUT_MS,
            )
            assert page.evaluate("window.__sameDocument") is True
            drawn = page.evaluate(
                """() => ['inputRate', 'processingTime'].map(m => {
                    const line = Chart.getChart('timeline-' + m);
                    const bars = Chart.getChart('histogram-' + m);
                    return [line.data.datasets[0].data.length,
                            bars.data.datasets[0].data.reduce((a, b) => a + b, 0),
                            line.chartArea.right - line.chartArea.left];
                })"""
            )
            for points, counted, width in drawn:
                assert points >= 2 and counted == points and width > 100
            rate = page.evaluate(
                "Chart.getChart('timeline-inputRate').data.datasets[0].data"
                ".reduce((m, p) => Math.max(m, p.y), 0)"
            )
            assert rate > 0, "the input rate chart shows the records received"
            assert "Running batches of" in page.inner_text("#summary")
            receivers = page.inner_text("#receivers tbody")
            assert "ACTIVE" in receivers
            page.screenshot(path=str(ARTIFACTS / "ui-streaming.png"), full_page=True)

            page.click("#completed-batches tbody tr:first-child a")
            page.wait_for_function(
                "document.querySelectorAll('#operations tbody tr').length >= 1",
                timeout=TIMEOUT_MS,
            )
            assert "foreachRDD" in page.inner_text("#operations")
            assert "Succeeded" in page.inner_text("#operations")
            page.screenshot(path=str(ARTIFACTS / "ui-batch.png"), full_page=True)

            page.goto(f"{url}/application/")
            page.wait_for_function(
                "document.getElementById('uptime').textContent.length > 0", timeout=TIMEOUT_MS
            )
            assert "browser word count" in page.inner_text("main")
            page.screenshot(path=str(ARTIFACTS / "ui-application.png"), full_page=True)
        finally:
            ssc.stop()
    assert (ARTIFACTS / "ui-streaming.png").stat().st_size > 10_000
