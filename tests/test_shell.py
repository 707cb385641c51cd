"""``ferrostream-shell``: an interactive Python with ``sc`` predefined, driven through a pipe
(plain console and IPython) and through a pseudo-terminal, as a person types into it."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import ferrostream

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ferrostream.__file__)))

# Lecture code written for the pyspark shell: it relies on a predefined `sc`.
LECTURE = """
from pyspark.streaming import StreamingContext
from ferrostream.testing import run_batches
sc.setLogLevel("WARN")
ssc = StreamingContext(sc, 1)
lines = ssc.queueStream([["to be or", "not to be"], ["be"]])
counts = lines.flatMap(lambda l: l.split(" ")).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
counts.transform(lambda rdd: rdd.sortByKey()).pprint()
ssc.start()
run_batches(ssc, 2)
ssc.stop(stopSparkContext=False)
"""

BATCH_1 = "('be', 2)\n('not', 1)\n('or', 1)\n('to', 2)\n"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHON_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    for key in ("FERROSTREAM_SUBMIT", "FERROSTREAM_MASTER", "FERROSTREAM_APP_NAME"):
        env.pop(key, None)
    env["TERM"] = "dumb"
    return env


def run_shell(
    args: list[str], stdin: str, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferrostream.shell", *args],
        input=stdin,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def has_ipython() -> bool:
    try:
        import IPython  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.timeout(90)
def test_plain_console_has_sc_banner_master_and_conf(tmp_path: Path) -> None:
    manual = "--conf=spark.streaming.clock=org.apache.spark.util.ManualClock"
    stdin = (
        "print('sum', sc.parallelize(range(10)).sum())\n"
        "print('master', sc.master, 'app', sc.appName)\n"
        "print('conf', sc.getConf().get('spark.my.setting'))\n" + LECTURE
    )
    proc = run_shell(
        ["--no-ipython", "--master", "local[3]", "--conf", "spark.my.setting=42", manual],
        stdin,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    # The greeting names what is predefined (code.interact writes it to stderr).
    assert "Welcome to" in proc.stderr
    assert "Spark context available as 'sc' (master = local[3], app id = local-" in proc.stderr
    assert "sum 45" in proc.stdout
    assert "master local[3] app PySparkShell" in proc.stdout
    assert "conf 42" in proc.stdout
    assert BATCH_1 in proc.stdout
    assert "('be', 1)\n" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.timeout(90)
def test_dash_i_runs_a_script_in_the_shell_namespace(tmp_path: Path) -> None:
    script = tmp_path / "lecture.py"
    script.write_text(LECTURE + "answer = sc.parallelize([1, 2, 3]).count()\n")
    proc = run_shell(
        [
            "--no-ipython",
            "-i",
            str(script),
            "-c",
            "spark.streaming.clock=org.apache.spark.util.ManualClock",
        ],
        "print('answer', answer)\n",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert BATCH_1 in proc.stdout
    # The prompt comes after the script, with the script's names defined.
    assert "answer 3" in proc.stdout
    assert proc.stdout.index("Welcome to") < proc.stdout.index("('be', 2)")


@pytest.mark.timeout(90)
def test_dash_i_error_shows_the_users_frames_and_the_prompt_still_comes(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def helper():\n    return 1 / 0\n\nhelper()\n")
    proc = run_shell(
        ["--no-ipython", "-i", str(script)], "print('still here', sc.master)\n", tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "ZeroDivisionError: division by zero" in proc.stderr
    assert f'File "{script}", line 4, in <module>' in proc.stderr
    assert "in helper" in proc.stderr
    assert "shell.py" not in proc.stderr
    assert "still here local[*]" in proc.stdout


@pytest.mark.timeout(60)
def test_bad_conf_is_refused(tmp_path: Path) -> None:
    proc = run_shell(["--no-ipython", "--conf", "novalue"], "", tmp_path)
    assert proc.returncode != 0
    assert "--conf expects PROP=VALUE, got 'novalue'" in proc.stderr


@pytest.mark.timeout(90)
@pytest.mark.skipif(not has_ipython(), reason="IPython is not installed")
def test_ipython_through_a_pipe(tmp_path: Path) -> None:
    proc = run_shell(["--master", "local[2]"], "sc.parallelize(range(10)).sum()\n", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Welcome to" in proc.stdout
    assert "Out[1]: 45" in proc.stdout
    assert "Do you really want to exit" not in proc.stdout


def _read_until(fd: int, token: bytes, seen: bytearray, timeout: float = 45) -> bool:
    deadline = time.monotonic() + timeout
    while token not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen.extend(chunk)
    return token in seen


@pytest.mark.timeout(90)
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_typed_into_a_terminal(tmp_path: Path) -> None:
    """As a person uses it: a terminal, the interactive prompt of IPython when installed."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: the shell on the terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "ferrostream.shell"], _env())
    seen = bytearray()
    try:
        prompt = b"In [1]" if has_ipython() else b">>> "
        assert _read_until(fd, prompt, seen), seen.decode(errors="replace")
        assert b"Spark context available as 'sc'" in seen
        os.write(fd, b"print('total', sc.parallelize(range(100)).sum())\r")
        assert _read_until(fd, b"total 4950", seen), seen.decode(errors="replace")
        os.write(fd, b"exit()\r")
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            _read_until(fd, b"\x00never", seen, timeout=0.2)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        assert status is not None and os.WIFEXITED(status), seen.decode(errors="replace")
        assert os.WEXITSTATUS(status) == 0
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_banner_names_the_context() -> None:
    from ferrostream.shell import banner

    class FakeContext:
        master = "local[2]"
        applicationId = "local-1"
        uiWebUrl = "http://127.0.0.1:4040"

    text = banner(FakeContext())
    assert "Spark context Web UI available at http://127.0.0.1:4040" in text
    assert "(master = local[2], app id = local-1)" in text
    assert textwrap.dedent(text).startswith("Welcome to")
