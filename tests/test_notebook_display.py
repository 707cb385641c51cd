"""What a notebook or a terminal shows besides the results: the rich HTML summaries of
SparkContext and StreamingContext, and the progress line of long actions and first batches."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import ferrostream
from ferrostream import SparkConf, SparkContext
from ferrostream._progress import Progress
from ferrostream.streaming import StreamingContext
from ferrostream.testing import manual_clock_conf, run_batches

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ferrostream.__file__)))


def test_spark_context_html_names_version_master_app_and_ui_link() -> None:
    with SparkContext(conf=SparkConf().setMaster("local[2]").setAppName("a<b>")) as sc:
        page = sc._repr_html_()
        assert "<b>SparkContext</b>" in page
        # The UI's own address once it serves one (a taken 4040 moves it), else where it will be.
        ui = sc.uiWebUrl or "http://127.0.0.1:4040"
        assert f'<a href="{ui}" target="_blank">Spark UI</a>' in page
        assert "<dt>Version</dt><dd><code>v3.5.9</code></dd>" in page
        assert "<dt>Master</dt><dd><code>local[2]</code></dd>" in page
        assert "<dt>AppName</dt><dd><code>a&lt;b&gt;</code></dd>" in page
        assert "<code>running</code>" in page
    assert "<code>stopped</code>" in sc._repr_html_()


def test_ui_link_follows_the_ui_settings() -> None:
    conf = SparkConf().setMaster("local[1]").setAppName("t").set("spark.ui.port", "4050")
    with SparkContext(conf=conf) as sc:
        ui = sc.uiWebUrl or "http://127.0.0.1:4050"
        assert ui.startswith("http://127.0.0.1:405")
        assert f'href="{ui}"' in sc._repr_html_()
    conf = SparkConf().setMaster("local[1]").setAppName("t").set("spark.ui.enabled", "false")
    with SparkContext(conf=conf) as sc:
        page = sc._repr_html_()
        assert "href=" not in page
        assert "Spark UI: disabled (spark.ui.enabled=false)" in page


def test_streaming_context_html_shows_state_interval_and_last_batches() -> None:
    sc = SparkContext(conf=manual_clock_conf("html"))
    ssc = StreamingContext(sc, 2)
    try:
        before = ssc._repr_html_()
        assert "<b>StreamingContext</b>" in before
        assert "<dt>State</dt><dd><code>INITIALIZED</code></dd>" in before
        assert "<dt>Batch interval</dt><dd><code>2 s</code></dd>" in before
        assert "No batch has completed yet." in before

        def fail_on_three(x: int) -> int:
            if x == 3:
                raise ValueError("three")
            return x

        ssc.queueStream([[1, 2], [3], [4]]).map(fail_on_three).pprint()
        ssc.start()
        run_batches(ssc, 3)
        page = ssc._repr_html_()
        assert "<dt>State</dt><dd><code>ACTIVE</code></dd>" in page
        assert "Last 3 of 3 completed batches" in page
        rows = page.split("<tr>")[2:]
        assert len(rows) == 3
        # Newest first; the failed batch says so.
        assert [r.rsplit("<td>", 1)[1].split("<")[0] for r in rows] == [
            "succeeded",
            "failed",
            "succeeded",
        ]
        assert f'href="{sc.uiWebUrl or "http://127.0.0.1:4040"}"' in page
    finally:
        ssc.stop(stopSparkContext=True)
    assert "<code>STOPPED</code>" in ssc._repr_html_()


class RecordingSink:
    def __init__(self) -> None:
        self.shown: list[str] = []
        self.cleared: list[str] = []
        self.first_show = threading.Event()

    def show(self, text: str) -> None:
        self.shown.append(text)
        self.first_show.set()

    def clear(self, done: str = "") -> None:
        self.cleared.append(done)


@pytest.mark.timeout(30)
def test_progress_shows_a_long_job_and_clears_when_it_ends() -> None:
    sink = RecordingSink()
    progress = Progress(sink)
    quick = progress.start("take")
    progress.finish(quick)
    job = progress.start("collect")
    assert sink.first_show.wait(10)
    assert sink.shown[0].startswith("[collect: running 0.")
    assert not any("take" in s for s in sink.shown)
    progress.finish(job)
    # Cleared at once by finish(), so that the program's next output starts a clean line.
    assert len(sink.cleared) == 1
    assert sink.cleared[0].startswith("[collect: done in ")


def _run_in_terminal(script: str, cwd: Path, release: Path | None) -> str:
    """Run ``script`` on a pseudo-terminal; create ``release`` once a progress line shows."""
    import pty

    env = dict(os.environ, PYTHONPATH=PYTHON_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    (cwd / "job.py").write_text(textwrap.dedent(script))
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "job.py"], env)
    seen = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen.extend(chunk)
            if release is not None and b": running " in seen and not release.exists():
                release.write_text("go")
            if b"JOB DONE" in seen:
                break
        os.waitpid(pid, 0)
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    return seen.decode(errors="replace")


SLOW_COUNT = """
import os, time
from ferrostream import SparkConf, SparkContext

conf = SparkConf().setMaster("local[2]").setAppName("p")
conf.set("spark.ui.showConsoleProgress", {flag!r})
sc = SparkContext(conf=conf)

def wait(it):
    # Until the test saw the progress line (or for 1.5 s when none is expected).
    end = time.monotonic() + {wait}
    while not os.path.exists("release") and time.monotonic() < end:
        time.sleep(0.01)
    return it

n = sc.parallelize(range(4), 2).mapPartitions(wait).count()
print("counted", n)
print("JOB DONE")
"""


@pytest.mark.timeout(90)
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_terminal_shows_a_progress_line_for_a_long_action(tmp_path: Path) -> None:
    out = _run_in_terminal(SLOW_COUNT.format(flag="true", wait=50), tmp_path, tmp_path / "release")
    assert "\r[count: running 0." in out, out
    # The line is wiped before the program prints again.
    line_end = out.index("counted 4")
    assert out[:line_end].rstrip(" ").endswith("\r"), repr(out[max(0, line_end - 80) : line_end])


@pytest.mark.timeout(90)
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_show_console_progress_false_turns_it_off(tmp_path: Path) -> None:
    out = _run_in_terminal(SLOW_COUNT.format(flag="false", wait=1.5), tmp_path, None)
    assert "counted 4" in out
    assert "running" not in out


@pytest.mark.timeout(60)
def test_no_progress_line_when_output_is_not_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(textwrap.dedent(SLOW_COUNT.format(flag="true", wait=1.5)))
    env = dict(os.environ, PYTHONPATH=PYTHON_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "job.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "counted 4" in proc.stdout
    assert "running" not in proc.stderr + proc.stdout
