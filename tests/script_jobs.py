"""A test's program run as a separate process (a job a crash test kills and restarts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


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
