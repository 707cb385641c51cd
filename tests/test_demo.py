"""``python -m ferrostream.demo``, the README's main job, explains itself to a newcomer: what it
counts, from where, when it stops, and what it saw."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ferrostream

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ferrostream.__file__)))


@pytest.mark.timeout(90)
def test_demo_says_what_it_counts_from_where_and_when_it_stops(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=PYTHON_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "ferrostream.demo", "--seconds", "2.5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    head = out.split("-------", 1)[0]
    assert "PySpark's streaming network word count" in head
    assert re.search(r"from: a line server on 127\.0\.0\.1:\d+ sending the 10 lines", head)
    assert "every block below is one batch" in head
    assert "stops: by itself after 2.5 s" in head
    done = re.search(r"Stopped after 2\.5 s: (\d+) batches counted the words of (\d+) lines", out)
    assert done, out[-2000:]
    assert int(done.group(1)) >= 2 and int(done.group(2)) > 0
    assert out.count("Time: ") >= 2
    assert "('batch', " in out
