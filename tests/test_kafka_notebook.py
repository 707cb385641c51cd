"""Seed 004's tweet-counting notebook (``notebooks/kafka_tweets.ipynb``) runs headless against a
ZooKeeper-registered Kafka, fed by ``notebooks/tweet_producer.py``: its code cells run in order
in a fresh interpreter and print the post's per-batch and windowed counts."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "kafka_tweets.ipynb"

pytestmark = pytest.mark.slow


def test_tweet_notebook_cells_run(kafka_zookeeper: Any, tmp_path: Path) -> None:
    kafka_zookeeper.create_topic("twitter")
    producer = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "notebooks" / "tweet_producer.py"),
            "--bootstrap",
            kafka_zookeeper.bootstrap,
            "--rate",
            "25",
            "--seconds",
            "90",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        notebook = json.loads(NOTEBOOK.read_text())
        cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
        script = tmp_path / "notebook.py"
        script.write_text("\n\n".join(cells) + "\n")
        env = dict(
            os.environ,
            KAFKA_ZOOKEEPER=kafka_zookeeper.zookeeper,
            CHECKPOINT_DIR=str(tmp_path / "checkpoint"),
            RUN_SECONDS="6",
            PYTHONUNBUFFERED="1",
        )
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        producer.kill()
        producer.wait()
    (tmp_path / "stdout.txt").write_text(proc.stdout)
    (tmp_path / "stderr.txt").write_text(proc.stderr)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    batches = [
        int(line.rsplit(" ", 1)[1])
        for line in out.splitlines()
        if line.startswith("Tweets in this batch: ")
    ]
    assert any(n > 0 for n in batches), out[-3000:]
    windowed = [
        int(line.rsplit(" ", 1)[1])
        for line in out.splitlines()
        if line.startswith("Tweets total (One minute rolling count): ")
    ]
    assert any(n > 0 for n in windowed), out[-3000:]
    assert "Author counts this batch:\tValue " in out
    assert "Author counts (One minute rolling):\tValue " in out
    # The most common words of the tweets (the producer's vocabulary), sorted by count.
    vocabulary = {"spark", "streaming", "kafka", "data", "pipeline", "python", "stream", "the"}
    pairs = [ast.literal_eval(line) for line in out.splitlines() if line.startswith("('")]
    assert any(pair[0] in vocabulary for pair in pairs), out[-3000:]
