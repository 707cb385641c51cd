"""Python functions on worker processes: ``local[N]`` (N > 1) runs them in N long-lived
worker processes, with Spark's semantics where processes differ from threads."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrostream import SparkConf, SparkContext
from ferrostream.errors import SparkException
from waiting import wait_until


def context(master: str, conf: dict[str, str] | None = None) -> SparkContext:
    c = SparkConf().setMaster(master).setAppName("workers")
    for k, v in (conf or {}).items():
        c.set(k, v)
    return SparkContext(conf=c)


WORKERS = "spark.ferrostream.python.workers"


@pytest.fixture
def sc2() -> Iterator[SparkContext]:
    ctx = context("local[2]")
    try:
        yield ctx
    finally:
        ctx.stop()


def pids_of(sc: SparkContext, partitions: int = 8) -> set[int]:
    return set(
        sc.parallelize(range(partitions * 4), partitions).map(lambda _: os.getpid()).collect()
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- where functions run -----------------------------------------------------------------


def test_local_n_runs_functions_on_n_reused_worker_processes(sc2: SparkContext) -> None:
    first = pids_of(sc2)
    assert os.getpid() not in first
    assert first <= set(sc2._ectx.worker_pids)
    assert len(sc2._ectx.worker_pids) == 2
    # Started once per SparkContext, reused by later jobs.
    assert pids_of(sc2) <= set(sc2._ectx.worker_pids) == set(sc2._ectx.worker_pids)
    before = set(sc2._ectx.worker_pids)
    pids_of(sc2)
    assert set(sc2._ectx.worker_pids) == before


def test_local_and_local_1_run_in_process_by_default() -> None:
    for master in ("local", "local[1]"):
        sc = context(master)
        try:
            assert pids_of(sc) == {os.getpid()}
            assert sc._ectx.worker_pids == []
        finally:
            sc.stop()


def test_one_setting_chooses_where_functions_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FERROSTREAM_PYTHON_WORKERS", raising=False)
    sc = context("local[2]", {WORKERS: "in-process"})
    try:
        assert pids_of(sc) == {os.getpid()}
    finally:
        sc.stop()
    sc = context("local[1]", {WORKERS: "processes"})
    try:
        pids = pids_of(sc)
        assert len(pids) == 1 and os.getpid() not in pids
    finally:
        sc.stop()
    with pytest.raises(ValueError, match=r"spark\.ferrostream\.python\.workers must be one of"):
        context("local[2]", {WORKERS: "threads"})


def test_executor_environment_is_set_in_the_workers() -> None:
    sc = context("local[2]", {"spark.executorEnv.FERRO_TEST": "from-conf"})
    try:
        got = sc.parallelize([1, 2], 2).map(lambda _: os.environ.get("FERRO_TEST")).collect()
        assert got == ["from-conf", "from-conf"]
    finally:
        sc.stop()


def test_native_steps_stay_in_the_driver(sc2: SparkContext) -> None:
    words = sc2.parallelize(["a b", "b c"] * 50, 4).flatMap(lambda line: line.split())
    counts = words.map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
    assert sorted(counts.collect()) == [("a", 50), ("b", 100), ("c", 50)]
    assert sc2._ectx.worker_pids == []  # every step was native: no worker was needed


def test_records_of_every_type_cross_to_workers_and_back(sc2: SparkContext) -> None:
    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Point) and other.x == self.x

    records = [None, True, 3, 2.5, "héllo", b"\x00\xff", (1, "a"), [1, [2]], {"k": 1}, Point(7)]

    def same(x: object) -> object:
        return x

    assert sc2.parallelize(records, 3).map(same).collect() == records
    grouped = sc2.parallelize([("a", 1), ("a", 2), ("b", 3)], 2).groupByKey()
    sizes = grouped.map(lambda kv: (kv[0], sorted(kv[1]), type(kv[1]).__name__)).collect()
    assert sorted(sizes) == [("a", [1, 2], "ResultIterable"), ("b", [3], "ResultIterable")]


# -- Spark's semantics where processes differ --------------------------------------------


def test_accumulator_updates_reach_the_driver_once(sc2: SparkContext) -> None:
    acc = sc2.accumulator(0)
    sc2.parallelize(range(100), 4).foreach(lambda x: acc.add(x))
    assert acc.value == 4950
    sc2.parallelize(range(10), 5).foreach(lambda x: acc.add(1))
    assert acc.value == 4960


def test_a_mutated_captured_object_is_the_workers_copy(sc2: SparkContext) -> None:
    seen: list[int] = []

    def remember(x: int) -> int:
        seen.append(x)
        return len(seen)

    out = sc2.parallelize(range(6), 2).map(remember).collect()
    assert seen == []  # the driver's list is untouched, as in Spark
    assert max(out) >= 3  # each worker appended to its own copy


def test_print_in_a_function_reaches_the_drivers_stdout(
    sc2: SparkContext, capsys: pytest.CaptureFixture[str]
) -> None:
    sc2.parallelize(["x", "y"], 2).foreach(lambda s: print(f"seen {s}"))
    out = capsys.readouterr().out
    assert "seen x" in out and "seen y" in out


def test_broadcast_values_and_spark_files_reach_workers(sc2: SparkContext, tmp_path: Path) -> None:
    table = sc2.broadcast({"a": 1, "b": 2})
    assert sc2.parallelize(["a", "b", "a"], 2).map(lambda k: table.value[k]).collect() == [1, 2, 1]
    path = tmp_path / "factor.txt"
    path.write_text("10")
    sc2.addFile(str(path))

    def scaled(x: int) -> int:
        from ferrostream import SparkFiles

        with open(SparkFiles.get("factor.txt")) as f:
            return x * int(f.read())

    assert sc2.parallelize([1, 2], 2).map(scaled).collect() == [10, 20]


class Counted:
    """A broadcast value that counts how often a process unpickled one."""

    loads = 0

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _load_counted, ()


def _load_counted() -> Counted:
    Counted.loads += 1
    return Counted()


def test_a_broadcast_is_sent_to_each_worker_once(sc2: SparkContext) -> None:
    b = sc2.broadcast(Counted())
    for _ in range(3):  # three functions, three jobs
        loads = sc2.parallelize(range(8), 4).map(lambda _: (Counted.loads, b.value)).collect()
        assert {n for n, _ in loads} == {1}


def test_a_users_exception_is_the_cause_with_its_traceback(sc2: SparkContext) -> None:
    class Bad(ValueError):
        pass

    def explode(x: int) -> int:
        if x == 3:
            raise Bad(f"bad record {x}")
        return x

    with pytest.raises(SparkException) as info:
        sc2.parallelize(range(8), 4).map(explode).collect()
    cause = info.value.__cause__
    assert type(cause).__name__ == "Bad" and isinstance(cause, ValueError)
    assert str(cause) == "bad record 3"
    remote = cause.__cause__
    assert remote is not None and "in explode" in str(remote) and "raise Bad" in str(remote)
    # The pool is still usable after a failed task.
    assert sc2.parallelize([1, 2], 2).map(explode).collect() == [1, 2]


def test_a_killed_worker_is_replaced_and_its_task_retried(
    sc2: SparkContext, tmp_path: Path
) -> None:
    marker = tmp_path / "died-once"
    acc = sc2.accumulator(0)

    def die_once(x: int) -> tuple[int, int]:
        acc.add(1)
        if x == 5 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return x * 2, os.getpid()

    out = sc2.parallelize(range(10), 2).map(die_once).collect()
    assert [x for x, _ in out] == [x * 2 for x in range(10)]
    dead = int(marker.read_text())
    assert not alive(dead) and dead not in sc2._ectx.worker_pids
    retried = {pid for x, pid in out if x >= 10}  # the second partition ran again elsewhere
    assert len(retried) == 1 and dead not in retried and os.getpid() not in retried
    assert acc.value == 10  # the killed attempt's updates were never counted
    # The pool is whole again: two workers once two tasks need them at the same time.
    wait_until(lambda: len(pids_of(sc2, 16)) == 2, "two workers to run tasks")
    assert len(sc2._ectx.worker_pids) == 2


def test_local_n_f_sets_the_attempts() -> None:
    sc = context("local[2, 1]")
    try:

        def crash(x: int) -> int:
            os._exit(3)

        with pytest.raises(SparkException, match=r"failed 1 time\(s\).*exit status 3"):
            sc.parallelize([1], 1).map(crash).collect()
        assert sc.parallelize([1, 2], 2).map(lambda x: x + 1).collect() == [2, 3]
    finally:
        sc.stop()


def test_stop_ends_the_workers() -> None:
    sc = context("local[2]")
    pids = pids_of(sc)
    assert pids and all(alive(p) for p in pids)
    sc.stop()
    assert sc._ectx.worker_pids == []
    wait_until(lambda: not any(alive(p) for p in pids), "the workers to exit", timeout=10)


# -- bad input ---------------------------------------------------------------------------


def test_an_unpicklable_function_is_a_clear_error_naming_it(sc2: SparkContext) -> None:
    lock = threading.Lock()

    def guarded(x: int) -> int:
        with lock:
            return x

    with pytest.raises(SparkException) as info:
        sc2.parallelize([1, 2], 2).map(guarded).collect()
    cause = info.value.__cause__
    assert isinstance(cause, pickle.PicklingError)
    assert "guarded" in str(cause) and "test_workers.py" in str(cause) and "lock" in str(cause)


def test_an_output_that_cannot_be_sent_back_names_its_type(sc2: SparkContext) -> None:
    with pytest.raises(SparkException) as info:
        sc2.parallelize([1], 1).map(lambda x: threading.Lock()).collect()
    assert "could not be sent back" in str(info.value.__cause__)
    assert "lock" in str(info.value.__cause__)


def test_a_worker_that_cannot_start_shows_its_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 'cannot import the moon' >&2\nexit 3\n")
    python.chmod(0o755)
    monkeypatch.setenv("PYSPARK_PYTHON", str(python))
    sc = context("local[2]")
    try:
        with pytest.raises(SparkException) as info:
            sc.parallelize([1, 2], 2).map(lambda x: os.getpid()).collect()
        text = str(info.value)
        assert "could not start" in text and "exit status 3" in text
        assert "cannot import the moon" in text
    finally:
        sc.stop()


# -- the driver's life is the workers' life ----------------------------------------------

DRIVER = r"""
import os, sys, time
from ferrostream import SparkContext
sc = SparkContext("local[2]", "orphans")
pids = set(sc.parallelize(range(8), 4).map(lambda _: os.getpid()).collect())
print("PIDS", " ".join(map(str, sorted(pids))), flush=True)
mode, marks = sys.argv[1], sys.argv[2]

def busy(i):
    open(os.path.join(marks, f"busy-{i}"), "w").close()
    if mode == "spin":
        while True:  # a function that never returns
            pass
    time.sleep(600)

def tenfold(x):
    y = x * 10
    return y

if mode == "spin":
    try:
        sc.parallelize(range(2), 2).map(busy).collect()
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    print("AFTER", sorted(sc.parallelize([1, 2, 3], 3).map(tenfold).collect()), flush=True)
elif mode == "busy":
    sc.parallelize(range(2), 2).map(busy).collect()
else:
    time.sleep(600)
"""


def start_driver(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], list[int]]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.Popen(
        [sys.executable, str(script), mode, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PIDS"), line
    if mode in ("busy", "spin"):  # both workers are inside the user's function
        wait_until(lambda: len(list(tmp_path.glob("busy-*"))) == 2, "both workers to be busy")
    return proc, [int(p) for p in line.split()[1:]]


@pytest.mark.parametrize("mode", ["idle", "busy"])
def test_no_worker_outlives_a_killed_driver(tmp_path: Path, mode: str) -> None:
    proc, pids = start_driver(tmp_path, mode)
    try:
        assert pids and all(alive(p) for p in pids)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_until(lambda: not any(alive(p) for p in pids), "the workers to exit", timeout=10)
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_ctrl_c_stops_a_driver_busy_in_workers(tmp_path: Path) -> None:
    proc, pids = start_driver(tmp_path, "busy")
    try:
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert time.monotonic() - started < 5
        assert proc.returncode != 0
        wait_until(lambda: not any(alive(p) for p in pids), "the workers to exit", timeout=10)
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_an_interrupted_action_frees_workers_stuck_in_a_function(tmp_path: Path) -> None:
    proc, pids = start_driver(tmp_path, "spin")
    try:
        proc.send_signal(signal.SIGINT)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "INTERRUPTED"
        assert proc.stdout.readline().strip() == "AFTER [10, 20, 30]"
        proc.wait(timeout=30)
        assert proc.returncode == 0
        wait_until(lambda: not any(alive(p) for p in pids), "the stuck workers to be killed")
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
