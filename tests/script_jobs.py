"""A test's program run as a separate process (a job a crash test kills and restarts)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from waiting import wait_until


class Job:
    """``python SCRIPT ARGS...`` in a subprocess; its output and log go to ``log``."""

    def __init__(self, log: Path, script: str, *args: str) -> None:
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, script, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )

    def kill(self) -> None:
        """SIGKILL, then reap."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def run_and_kill(
    make_job: Callable[[int], Job],
    produce: Callable[[], None],
    rng: random.Random,
    kills: int,
    *,
    early: tuple[float, float],
    late: tuple[float, float],
    pause: tuple[float, float],
) -> list[Job]:
    """Start ``make_job(run)`` ``kills`` times; while each runs, ``produce()`` after random
    pauses (seconds drawn from ``pause``), then SIGKILL it at a random moment: every fourth run
    after a lifetime drawn from ``early`` (while starting or recovering), the others from
    ``late`` (while running batches). A job that exits by itself fails the test."""
    jobs: list[Job] = []
    for run in range(kills):
        job = make_job(run)
        jobs.append(job)
        lifetime = rng.uniform(*early) if run % 4 == 3 else rng.uniform(*late)
        started = time.monotonic()

        def produced_until_kill(
            job: Job = job, started: float = started, lifetime: float = lifetime
        ) -> bool:
            produce()
            if job.proc.poll() is not None:
                raise AssertionError(f"the job exited by itself:\n{job.text()[-3000:]}")
            return time.monotonic() - started >= lifetime

        wait_until(
            produced_until_kill,
            "the kill moment",
            timeout=60,
            interval=lambda: rng.uniform(*pause),
        )
        job.kill()
    return jobs
