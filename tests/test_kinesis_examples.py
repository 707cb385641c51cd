"""The Kinesis examples run under ``ferrostream-submit`` against the emulator (moto): Spark's
``kinesis_wordcount_asl.py`` and the course's listing 7.21 (submitted with listing 7.20's
``--jars``), fed by ``python -m ferrostream.kinesis_producer``."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from kinesis_emulator import ACCESS_KEY, SECRET_KEY, KinesisEmulator
from test_examples import EXAMPLES, Program, batch_totals

pytestmark = pytest.mark.timeout(180)

LINES = ["the quick brown fox", "jumps over the lazy dog", "the end"]
EXPECTED = Counter(w for line in LINES for w in line.split(" "))


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples' credentials: the SDK's default chain (environment variables)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


def produce(kinesis: KinesisEmulator, stream: str, lines: list[str], tmp_path: Path) -> None:
    """``python -m ferrostream.kinesis_producer`` writes ``lines``."""
    source = tmp_path / f"lines-{len(list(tmp_path.iterdir()))}.txt"
    source.write_text("".join(line + "\n" for line in lines))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferrostream.kinesis_producer",
            stream,
            str(source),
            "--endpoint-url",
            kinesis.endpoint,
            "--region",
            kinesis.region,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {len(lines)} records to {stream}" in proc.stderr


def until_counted(program: Program, kinesis: KinesisEmulator, stream: str, tmp_path: Path) -> None:
    """The stream starts at LATEST: write a marker until one is counted, then the lines."""

    def marker_counted() -> bool:
        if batch_totals(program.lines())["ping"] > 0:
            return True
        produce(kinesis, stream, ["ping"], tmp_path)
        return False

    program.wait_for(marker_counted, "the receiver to read the stream")


def test_kinesis_wordcount_asl(kinesis: KinesisEmulator, tmp_path: Path) -> None:
    stream = kinesis.new_stream(shards=2, prefix="wc")
    program = Program(
        [
            str(EXAMPLES / "kinesis_wordcount_asl.py"),
            "asl-" + stream,
            stream,
            kinesis.endpoint,
            kinesis.region,
            "0.5",
        ],
        tmp_path,
    )
    try:
        until_counted(program, kinesis, stream, tmp_path)
        produce(kinesis, stream, LINES, tmp_path)

        def counted() -> bool:
            totals = batch_totals(program.lines())
            return all(totals[w] == n for w, n in EXPECTED.items())

        program.wait_for(counted, "the word counts")
        # Every 2 seconds (the example's checkpointInterval).
        program.wait_for(
            lambda: bool(kinesis.checkpoints("asl-" + stream)),
            "positions checkpointed to the lease table",
        )
    finally:
        program.stop()


def test_course_listing_7_21_with_its_jars_option(kinesis: KinesisEmulator, tmp_path: Path) -> None:
    stream = kinesis.new_stream(prefix="course")
    program = Program(
        [
            "--jars",
            "/usr/lib/spark/external/lib/spark-streaming-kinesis-asl-assembly.jar",
            str(EXAMPLES / "kinesis_count.py"),
            stream,
            kinesis.endpoint,
            kinesis.region,
            "0.5",
        ],
        tmp_path,
    )

    def counts() -> list[int]:
        out = []
        lines = program.lines()
        for i, line in enumerate(lines[:-2]):
            if line.startswith("Time: ") and lines[i + 2].isdigit():
                out.append(int(lines[i + 2]))
        return out

    try:
        # LATEST: records count once the receiver reads; write until a batch counts one.
        def some_counted() -> bool:
            if sum(counts()) > 0:
                return True
            produce(kinesis, stream, ["x"], tmp_path)
            return False

        program.wait_for(some_counted, "a batch counting records")
        before = sum(counts())
        produce(kinesis, stream, [str(i) for i in range(25)], tmp_path)
        program.wait_for(lambda: sum(counts()) >= before + 25, "the 25 records counted")
    finally:
        program.stop()
    assert "Kinesis support is built into ferrostream" in program.stderr()
