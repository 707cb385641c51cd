"""Errors read well: a failed batch shows the user's exception once, with the user's frames;
under ferrostream-submit no frames of the submit machinery (nor of ferrostream) and a quiet
Ctrl+C with status 130; the line server says what to do when its port is taken."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ferrostream
from ferrostream import RDD
from ferrostream.errors import SparkException
from ferrostream.testing import run_batches, streaming_context

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ferrostream.__file__)))
PACKAGE = os.path.dirname(os.path.abspath(ferrostream.__file__))

FAILING_BATCH = """
import warnings
warnings.simplefilter("ignore")
from ferrostream import SparkContext
from ferrostream.streaming import StreamingContext


def parse(x):
    return int(x)


def save(rdd):
    values = rdd.map(parse).collect()
    print(values)


sc = SparkContext("local[2]", "fail")
ssc = StreamingContext(sc, 0.2)
ssc.queueStream([["1", "x"]]).{output}
ssc.start()
ssc.awaitTermination()
"""

USER_ERROR = "ValueError: invalid literal for int() with base 10: 'x'"


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=PYTHON_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["PYTHONUNBUFFERED"] = "1"
    for key in ("FERROSTREAM_SUBMIT", "FERROSTREAM_MASTER", "FERROSTREAM_APP_NAME"):
        env.pop(key, None)
    return env


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=60
    )


def _frames(text: str) -> list[tuple[str, str]]:
    """(file, function) of every frame in printed tracebacks."""
    return re.findall(r'File "([^"]+)", line \d+, in (\S+)', text)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("workers", ["processes", "in-process"])
@pytest.mark.parametrize(
    ("output", "user_functions"),
    [
        ("map(parse).pprint()", ["<module>", "parse"]),
        ("foreachRDD(save)", ["<module>", "save", "parse"]),
    ],
)
def test_failed_batch_shows_the_users_exception_once_with_the_users_frames(
    tmp_path: Path, output: str, user_functions: list[str], workers: str
) -> None:
    script = tmp_path / "job.py"
    script.write_text(FAILING_BATCH.format(output=output))
    env = _env()
    if workers == "in-process":
        env["FERROSTREAM_PYTHON_WORKERS"] = "in-process"
    else:
        env.pop("FERROSTREAM_PYTHON_WORKERS", None)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    err = proc.stderr
    # Every user frame is printed once: the user's traceback is not repeated (a function run
    # by a worker process shows the worker's traceback of it as the cause, as
    # concurrent.futures does, and the exception itself without frames).
    frames = _frames(err)
    user = [func for path, func in frames if path == str(script)]
    assert sorted(user) == sorted(user_functions), err
    assert err.count("return int(x)") == 1, err
    facade = [(path, func) for path, func in frames if path.startswith(PACKAGE)]
    # At most the waiting call itself (awaitTermination -> _await), never the internals.
    assert {func for _, func in facade} <= {"awaitTermination", "_await"}, err
    assert len(facade) <= 2, err
    # The log line names the error in one line.
    assert "Error running job for batch " in err, err
    assert f"{USER_ERROR} (the full error is raised by awaitTermination)" in err, err
    assert err.rstrip().endswith(
        f"ferrostream.errors.SparkException: An exception was raised by Python: {USER_ERROR}"
    ), err


FAILING_ACTION = """
import warnings
warnings.simplefilter("ignore")
from ferrostream import SparkContext


def invert(x):
    return 1 / x


sc = SparkContext("local[2]", "fail")
sc.parallelize([1, 0]).map(invert).collect()
"""

ACTION_ERROR = "ZeroDivisionError: division by zero"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("workers", ["processes", "in-process"])
@pytest.mark.parametrize("submit", [False, True], ids=["python", "ferrostream-submit"])
def test_failed_action_shows_the_users_traceback_once(
    tmp_path: Path, workers: str, submit: bool
) -> None:
    script = tmp_path / "job.py"
    script.write_text(FAILING_ACTION)
    env = _env()
    env["FERROSTREAM_PYTHON_WORKERS"] = workers
    args = ["-m", "ferrostream.submit", str(script)] if submit else [str(script)]
    proc = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    err = proc.stderr
    # The failing line and the failing function's frame are printed once (the traceback of the
    # user's exception, the SparkException's cause), not again in the SparkException's message.
    assert err.count("return 1 / x") == 1, err
    assert err.count(f'File "{script}", line 8, in invert') == 1, err
    assert err.count("Traceback (most recent call last):") == 2, err
    assert "The above exception was the direct cause of the following exception" in err, err
    # Spark's message, naming the user's exception in one line.
    assert err.rstrip().endswith(
        f"ferrostream.errors.SparkException: An exception was raised by Python: {ACTION_ERROR}"
    ), err
    # No frames of ferrostream's own code in the user's exception's traceback.
    cause = err.split("The above exception was the direct cause")[0]
    assert PACKAGE not in cause, err


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", ["processes", "in-process"])
def test_failed_action_raises_spark_exception_caused_by_the_users_exception(
    workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERROSTREAM_PYTHON_WORKERS", workers)
    from ferrostream import SparkContext

    def invert(x: int) -> float:
        return 1 / x

    sc = SparkContext("local[2]", "fail")
    try:
        with pytest.raises(SparkException) as info:
            sc.parallelize([1, 0]).map(invert).collect()
    finally:
        sc.stop()
    assert str(info.value) == f"An exception was raised by Python: {ACTION_ERROR}"
    cause = info.value.__cause__
    assert type(cause) is ZeroDivisionError
    functions = []
    tb = cause.__traceback__
    while tb is not None:
        assert tb.tb_frame.f_code.co_filename == __file__
        functions.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    if workers == "processes":
        # The worker's traceback of it is its cause, as concurrent.futures shows it.
        assert functions == []
        assert "in invert\n    return 1 / x" in str(cause.__cause__)
    else:
        assert functions == ["invert"]


@pytest.mark.timeout(60)
def test_awaited_exception_has_the_users_exception_as_cause_with_user_frames_only() -> None:
    ssc = streaming_context(1)

    def explode(x: int) -> int:
        raise KeyError(f"no such key {x}")

    def output(rdd: RDD[int]) -> None:
        rdd.map(explode).collect()

    try:
        ssc.queueStream([[7]]).foreachRDD(output)
        ssc.start()
        run_batches(ssc, 1)
        with pytest.raises(SparkException) as info:
            ssc.awaitTerminationOrTimeout(1)
    finally:
        ssc.stop()
    assert str(info.value) == "An exception was raised by Python: KeyError: 'no such key 7'"
    cause = info.value.__cause__
    assert type(cause) is KeyError
    tb = cause.__traceback__
    functions = []
    while tb is not None:
        assert tb.tb_frame.f_code.co_filename == __file__
        functions.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    # explode's own frame is here when it ran in this process; a worker's is in the cause.
    remote = cause.__cause__
    if remote is not None:
        assert functions == ["output"]
        assert 'in explode\n    raise KeyError(f"no such key {x}")' in str(remote)
    else:
        assert functions == ["output", "explode"]


@pytest.mark.timeout(90)
def test_submit_shows_no_frames_of_its_machinery(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(FAILING_BATCH.format(output="foreachRDD(save)"))
    proc = _run(["-m", "ferrostream.submit", str(script)], tmp_path)
    assert proc.returncode == 1
    frames = _frames(proc.stderr)
    assert frames, proc.stderr
    assert {path for path, _ in frames} == {str(script)}, proc.stderr
    assert "runpy" not in proc.stderr and "submit.py" not in proc.stderr

    plain = tmp_path / "plain.py"
    plain.write_text("def f():\n    raise RuntimeError('bad thing')\n\n\nf()\n")
    proc = _run(["-m", "ferrostream.submit", str(plain)], tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{plain}", line 5, in <module>',
        "    f()",
        f'  File "{plain}", line 2, in f',
        "    raise RuntimeError('bad thing')",
        "RuntimeError: bad thing",
    ]


STREAM_FOREVER = """
import sys, threading, time, warnings
warnings.simplefilter("ignore")
from pyspark import SparkContext
from pyspark.streaming import StreamingContext

sc = SparkContext(appName="forever")
ssc = StreamingContext(sc, 0.2)
ssc.queueStream([[1]], default=sc.parallelize([0])).count().foreachRDD(lambda rdd: None)
ssc.start()
main = threading.main_thread().ident


def ready():
    # READY once the main thread waits inside awaitTermination.
    while True:
        frame = sys._current_frames().get(main)
        while frame is not None and frame.f_code.co_name != "_await":
            frame = frame.f_back
        if frame is not None:
            print("READY", flush=True)
            return
        time.sleep(0.01)


threading.Thread(target=ready, daemon=True).start()
ssc.awaitTermination()
"""


@pytest.mark.timeout(90)
def test_ctrl_c_under_submit_exits_quietly_with_130(tmp_path: Path) -> None:
    script = tmp_path / "forever.py"
    script.write_text(STREAM_FOREVER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrostream.submit", str(script)],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job ignores SIGINT; a terminal's program does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while proc.stdout.readline().strip() != "READY":
        assert time.monotonic() < deadline and proc.poll() is None, "the job did not start"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("ferrostream-submit did not stop on SIGINT")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


@pytest.mark.timeout(60)
def test_line_server_says_what_to_do_when_its_port_is_taken(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        proc = _run(["-m", "ferrostream.lineserver", "--port", str(port)], tmp_path)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
        assert "--port N" in proc.stderr and f"nc -lk {port}" in proc.stderr

        from ferrostream.lineserver import LineServer

        with pytest.raises(OSError, match=f"port {port} on 127.0.0.1 is already in use"):
            LineServer(["a"], port=port)
    finally:
        taken.close()
