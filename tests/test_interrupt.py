"""Ctrl+C (SIGINT) reaches a running program promptly: during awaitTermination() and during a
long RDD action, as Jupyter's interrupt button does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Prints READY once the main thread is inside the named function (seen from another thread in
# the program), so the test interrupts the blocking call itself, without a fixed wait.
READY_WHEN_IN = r"""
import sys, threading, time

def ready_when_in(function):
    main = threading.main_thread().ident

    def watch():
        while True:
            frame = sys._current_frames().get(main)
            while frame is not None and frame.f_code.co_name != function:
                frame = frame.f_back
            if frame is not None:
                print("READY", flush=True)
                return
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
"""

AWAIT = (
    READY_WHEN_IN
    + r"""
import time, warnings
warnings.simplefilter("ignore")
from ferrostream import SparkContext
from ferrostream.streaming import StreamingContext
sc = SparkContext("local[2]", "interrupt")
ssc = StreamingContext(sc, 0.2)
ssc.queueStream([[1, 2, 3]]).count().pprint()
ssc.start()
ready_when_in("_await")
try:
    ssc.awaitTermination()
except KeyboardInterrupt:
    print("INTERRUPTED", ssc._engine.state(), flush=True)
"""
)

ACTION = (
    READY_WHEN_IN
    + r"""
import time
from ferrostream import SparkContext
sc = SparkContext("local[2]", "interrupt")
slow = sc.parallelize(range(100000), 2).map(lambda x: time.sleep(0.001) or x)
ready_when_in("count")
start = time.monotonic()
try:
    slow.count()
    print("FINISHED", flush=True)
except KeyboardInterrupt:
    print("INTERRUPTED after %.1f s" % (time.monotonic() - start), flush=True)
"""
)


def _interrupt(program: str, tmp_path: Path, *args: str) -> str:
    script = tmp_path / "prog.py"
    script.write_text(program)
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while proc.stdout.readline().strip() != "READY":
        assert time.monotonic() < deadline and proc.poll() is None, "program did not start"
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the program did not react to SIGINT")
    return out


def test_ctrl_c_interrupts_await_termination_and_stops_the_context(tmp_path: Path) -> None:
    out = _interrupt(AWAIT, tmp_path)
    assert "INTERRUPTED STOPPED" in out, out


def test_ctrl_c_interrupts_a_long_action(tmp_path: Path) -> None:
    out = _interrupt(ACTION, tmp_path)
    # The count alone would take about 50 s on two threads; the interrupt lands in well under.
    assert "INTERRUPTED after" in out, out
    seconds = float(out.split("INTERRUPTED after")[1].split()[0])
    assert seconds < 10, out


# Shared by the programs below: a function that never returns (it appends its argument to the
# log file argv[1] every 10 ms and writes STOPPED in its ``finally``), and READY printed once the
# values in ``WAIT_FOR`` appear in the log. argv[2] is the Python worker mode.
SPINNING = r"""
import sys, threading, time, warnings
warnings.simplefilter("ignore")
from ferrostream import SparkConf, SparkContext
log = sys.argv[1]
conf = SparkConf().setMaster("local[2]").setAppName("interrupt")
conf.set("spark.ferrostream.python.workers", sys.argv[2]).set("spark.ui.enabled", "false")
sc = SparkContext(conf=conf)


def spin(x):
    try:
        while True:
            with open(log, "a") as f:
                f.write(f"{x}\n")
            time.sleep(0.01)
    finally:
        with open(log, "a") as f:
            f.write("STOPPED\n")


def lines():
    with open(log) as f:
        return f.read().splitlines()


readied = []


def ready():
    while not WAIT_FOR <= set(lines()):
        time.sleep(0.01)
    readied.append(time.monotonic())
    print("READY", flush=True)


threading.Thread(target=ready, daemon=True).start()
"""


# A function that never returns in both partitions of an action. After Ctrl+C the program
# checks that both stopped, that the log no longer grows while a later job runs in the same
# SparkContext, and that the later job works.
ENDLESS = (
    'WAIT_FOR = {"1", "2"}\n'
    + SPINNING
    + r"""
try:
    sc.parallelize([1, 2], 2).map(spin).count()
except KeyboardInterrupt:
    print("INTERRUPTED after %.1f s" % (time.monotonic() - readied[0]), flush=True)
before = len(lines())
later = sc.parallelize(range(4), 2).map(lambda x: time.sleep(0.1) or x * x).collect()
after = lines()
print("LATER", later, flush=True)
print("GREW", len(after) - before, flush=True)
print("STOPPED", after.count("STOPPED"), flush=True)
sc.stop()
"""
)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("workers", ["in-process", "processes"])
def test_ctrl_c_stops_the_running_python_function(tmp_path: Path, workers: str) -> None:
    log = tmp_path / "spin.log"
    log.write_text("")
    out = _interrupt(ENDLESS, tmp_path, str(log), workers)
    assert "INTERRUPTED after" in out, out
    # Within the grace the bindings give the job to stop (2 s), however long the function.
    assert float(out.split("INTERRUPTED after")[1].split()[0]) < 4, out
    # Both partitions' functions were running; neither writes any more.
    assert "GREW 0" in out, out
    # The later job in the same SparkContext runs normally.
    assert "LATER [0, 1, 4, 9]" in out, out
    if workers == "in-process":
        # The functions themselves got KeyboardInterrupt (their ``finally`` ran); worker
        # processes running them are killed instead.
        assert "STOPPED 2" in out, out


# A stream whose batch is busy in a function that never returns: Ctrl+C during
# awaitTermination() stops that function too, and the context stops.
ENDLESS_BATCH = (
    'WAIT_FOR = {"1"}\n'
    + SPINNING
    + r"""
from ferrostream.streaming import StreamingContext
ssc = StreamingContext(sc, 0.2)
ssc.queueStream([[1]]).map(spin).foreachRDD(lambda rdd: rdd.collect())
ssc.start()
try:
    ssc.awaitTermination()
except KeyboardInterrupt:
    ssc.stop(stopSparkContext=False)
    print("INTERRUPTED after %.1f s" % (time.monotonic() - readied[0]), flush=True)
before = len(lines())
time.sleep(0.3)
print("GREW", len(lines()) - before, flush=True)
print("STOPPED", lines().count("STOPPED"), flush=True)
print("LATER", sc.parallelize(range(3), 2).map(lambda x: x + 1).collect(), flush=True)
sc.stop()
"""
)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("workers", ["in-process", "processes"])
def test_ctrl_c_stops_a_batch_busy_in_a_python_function(tmp_path: Path, workers: str) -> None:
    log = tmp_path / "spin.log"
    log.write_text("")
    out = _interrupt(ENDLESS_BATCH, tmp_path, str(log), workers)
    assert "INTERRUPTED after" in out, out
    # The stream stopped within seconds, though its batch's function never returns.
    assert float(out.split("INTERRUPTED after")[1].split()[0]) < 5, out
    assert "GREW 0" in out, out
    assert "LATER [1, 2, 3]" in out, out
    if workers == "in-process":
        assert "STOPPED 1" in out, out
