"""Crash recovery end to end: a stateful streaming job is killed with SIGKILL at random moments
and restarted with ``StreamingContext.getOrCreate``, while the test keeps moving files into its
input directory. The final running word counts must be exact: nothing lost, nothing counted
twice.

The job is this file run as a script (``python test_recovery_crash.py job ...``), so its
functions live in ``__main__`` and are pickled by value into the checkpoints, as a user's
program is.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import pytest

from script_jobs import Job
from waiting import poll, wait_until

pytestmark = pytest.mark.slow

BATCH_SECONDS = 0.3
KILLS = 12
SEED = 20240611
VOCABULARY = [f"w{i:02d}" for i in range(40)]


# ------------------------------------------------------------------------------------------
# the job


def run_job(checkpoint_dir: str, input_dir: str, output_file: str) -> None:
    """Running word counts of the files moved into ``input_dir``; after every batch the
    whole state is written to ``output_file`` (write a temporary file, then rename: the
    output is idempotent, so a batch run again after a crash does no harm)."""
    import logging
    import warnings

    from ferrostream import SparkConf, SparkContext
    from ferrostream.streaming import StreamingContext

    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    conf = SparkConf().setMaster("local[2]").setAppName("crash-test")
    sc = SparkContext.getOrCreate(conf)

    def update(values: list[int], state: Optional[int]) -> int:
        return sum(values) + (state or 0)

    def save(t: Any, rdd: Any) -> None:
        counts = dict(rdd.collect())
        tmp = output_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"time": t.timestamp(), "counts": counts}, fh)
        os.replace(tmp, output_file)

    def setup() -> StreamingContext:
        print("SETUP", flush=True)
        ssc = StreamingContext(sc, BATCH_SECONDS)
        words = ssc.textFileStream(input_dir).flatMap(lambda line: line.split())
        counts = words.map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
        counts.updateStateByKey(update).foreachRDD(save)
        return ssc

    ssc = StreamingContext.getOrCreate(checkpoint_dir, setup)
    if ssc._recovered_from is not None:
        print("RECOVERED", ssc._recovered_from, flush=True)
    ssc.start()
    print("STARTED", flush=True)
    ssc.awaitTermination()


# ------------------------------------------------------------------------------------------
# the test


def _job(tmp_path: Path, run: int) -> Job:
    """One run of the job; its output and log go to ``job-<run>.log``."""
    return Job(
        tmp_path / f"job-{run}.log",
        __file__,
        "job",
        str(tmp_path / "checkpoint"),
        str(tmp_path / "input"),
        str(tmp_path / "state.json"),
    )


class Feeder:
    """Moves numbered files of random words into the input directory."""

    def __init__(self, input_dir: Path, rng: random.Random, total: int) -> None:
        self.input_dir = input_dir
        self.files = [
            " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 30)))
            + ("\n" if rng.random() < 0.5 else "")
            for _ in range(total)
        ]
        self.fed = 0
        self.expected: Counter[str] = Counter()

    def feed(self, n: int = 1) -> None:
        for _ in range(n):
            if self.fed == len(self.files):
                return
            text = self.files[self.fed]
            hidden = self.input_dir / f".incoming-{self.fed:04d}"
            hidden.write_text(text)
            os.rename(hidden, self.input_dir / f"words-{self.fed:04d}.txt")
            self.expected.update(text.split())
            self.fed += 1


def read_counts(output: Path) -> dict[str, int] | None:
    try:
        counts: dict[str, int] = json.loads(output.read_text())["counts"]
        return counts
    except (OSError, ValueError, KeyError):
        return None


def read_time(output: Path) -> float | None:
    """The batch time (epoch seconds) of the last batch written to ``output``."""
    try:
        return float(json.loads(output.read_text())["time"])
    except (OSError, ValueError, KeyError):
        return None


def has_checkpoint(directory: Path) -> bool:
    return directory.is_dir() and any(p.name.startswith("checkpoint-") for p in directory.iterdir())


def test_exact_counts_after_repeated_sigkill(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    checkpoint_dir = tmp_path / "checkpoint"
    output = tmp_path / "state.json"
    feeder = Feeder(input_dir, rng, total=160)
    jobs: list[Job] = []
    began = time.monotonic()

    def wait(seconds: float, job: Job, until_started: bool = False) -> None:
        """Feed files for ``seconds`` (counted from the job's start of batches when
        ``until_started``)."""
        kill_at = [time.monotonic() + seconds]
        waiting_start = [until_started]

        def fed_until_kill_time() -> bool:
            now = time.monotonic()
            if waiting_start[0] and "STARTED" in job.text():
                waiting_start[0] = False
                kill_at[0] = now + seconds
            if not waiting_start[0] and now >= kill_at[0]:
                return True
            # Files are fed once a checkpoint exists: a file moved in before the first
            # context starts is older than its start and ignored (Spark's rule).
            if has_checkpoint(checkpoint_dir):
                feeder.feed(rng.randint(1, 2))
            return False

        # The random interval between looks is the random pacing of the feeds.
        wait_until(
            fed_until_kill_time,
            "the job to start",
            timeout=30 + seconds,
            interval=lambda: rng.uniform(0.02, 0.3),
            details=job.text,
        )

    for run in range(KILLS):
        job = _job(tmp_path, run)
        jobs.append(job)
        if run % 3 == 2:
            # Killed at any moment, often while starting up or recovering.
            wait(rng.uniform(0.05, 0.8), job)
        else:
            # Killed while running batches.
            wait(rng.uniform(0.1, 1.5), job, until_started=True)
        job.kill()
        # Files also arrive while the job is down.
        if has_checkpoint(checkpoint_dir):
            feeder.feed(rng.randint(0, 2))

    final = _job(tmp_path, KILLS)
    jobs.append(final)
    try:
        wait_until(lambda: has_checkpoint(checkpoint_dir), "a checkpoint", details=final.text)

        def fed_all() -> bool:
            feeder.feed(3)
            return feeder.fed == len(feeder.files)

        wait_until(fed_all, "every file fed")
        expected = dict(feeder.expected)

        def counted_or_exited() -> bool:
            return read_counts(output) == expected or final.proc.poll() is not None

        poll(counted_or_exited, 30, 0.1)
        assert final.proc.poll() is None, final.text()
        # A few more batches: the counts must stay exact.
        reached = read_time(output)
        if reached is not None:
            later = reached + 4 * BATCH_SECONDS
            wait_until(
                lambda: (read_time(output) or 0) >= later, "four more batches", details=final.text
            )
        got = read_counts(output)
    finally:
        final.kill()

    logs = "\n".join(j.text() for j in jobs)
    if got != expected:
        diff = {
            w: (got.get(w) if got else None, c)
            for w, c in expected.items()
            if not got or got.get(w) != c
        }
        pytest.fail(f"counts differ (word: (got, expected)): {diff}\n{final.text()[-3000:]}")
    assert "Traceback" not in logs, logs[-5000:]
    assert "falling back" not in logs, "a checkpoint file was damaged by a kill"
    recovered = logs.count("RECOVERED")
    assert recovered >= 5, f"only {recovered} runs recovered from a checkpoint"
    for job in jobs:
        # A recovered run never calls setupFunc.
        assert not ("SETUP" in job.text() and "RECOVERED" in job.text()), job.text()
    print(
        f"{KILLS} kills, {recovered} recoveries, {len(feeder.files)} files in "
        f"{time.monotonic() - began:.1f} s"
    )


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "job":
    run_job(sys.argv[2], sys.argv[3], sys.argv[4])
