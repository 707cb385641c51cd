"""Native partition blocks for text: the lines of ``textFile`` and ``textFileStream`` are read
into one Arrow buffer per partition; fused native steps read it in place, a Python step gets its
``str`` lines built from it in bulk (in the driver or on worker processes), and everything else
converts it to rows. The ``native_stats`` block counters prove which path ran; results are the
row path's (PySpark's)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from operator import add
from pathlib import Path
from typing import Any

import pytest

from ferrostream import SparkConf, SparkContext, _native
from ferrostream.streaming import StreamingContext
from ferrostream.testing import advance, collect_stream, manual_clock_conf

# Windows line ends, an empty line, a run of spaces, a byte that is not UTF-8 (replaced, as
# Hadoop's Text decoding does), non-ASCII text and no final newline.
RAW = b"a b a\r\n\nb c  d\ntw\xffo \xc3\xa9\nlast"
LINES = ["a b a", "", "b c  d", "tw\ufffdo \xe9", "last"]


@pytest.fixture(params=["in-process", "processes"])
def ctx(request: pytest.FixtureRequest) -> Iterator[SparkContext]:
    """``local[2]`` with Python functions in the driver, then on worker processes."""
    conf = SparkConf().setMaster("local[2]").setAppName("blocks")
    conf.set("spark.ferrostream.python.workers", str(request.param))
    sc = SparkContext(conf=conf)
    try:
        yield sc
    finally:
        sc.stop()


@pytest.fixture(autouse=True)
def stats() -> Iterator[None]:
    _native.reset_native_stats()
    yield
    _native.reset_native_stats()


def text_file(tmp_path: Path, name: str = "lines.txt", data: bytes = RAW) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def word_count(rdd: Any) -> list[tuple[str, int]]:
    counts = rdd.flatMap(lambda line: line.split(" ")).map(lambda w: (w, 1)).reduceByKey(add)
    return sorted(counts.collect())


def test_a_word_count_reads_the_lines_in_place(ctx: SparkContext, tmp_path: Path) -> None:
    lines = ctx.textFile(text_file(tmp_path), 3)
    n = lines.getNumPartitions()
    assert n >= 3
    expected = sorted(Counter(w for line in LINES for w in line.split(" ")).items())
    assert word_count(lines) == expected
    got = _native.native_stats()
    assert got["blocks_fused"] == n, got
    assert got["blocks_to_rows"] == 0 and got["fallback_partitions"] == 0, got
    # The same job over the same lines as rows gives the same counts.
    assert word_count(ctx.parallelize(LINES, 2)) == expected


def test_a_python_step_gets_str_lines_built_from_the_block(
    ctx: SparkContext, tmp_path: Path
) -> None:
    lines = ctx.textFile(text_file(tmp_path), 2)
    typed = lines.mapPartitions(lambda it: [(type(x).__name__, x) for x in it])
    assert typed.collect() == [("str", line) for line in LINES]
    got = _native.native_stats()
    assert got["blocks_to_python"] == lines.getNumPartitions(), got
    assert got["blocks_to_rows"] == 0, got


def test_a_line_that_needs_python_sends_its_block_to_rows(
    ctx: SparkContext, tmp_path: Path
) -> None:
    # Non-ASCII case mapping is Python's: the step falls back for the whole partition.
    upper = ctx.textFile(text_file(tmp_path), 1).map(lambda line: line.upper())
    assert upper.collect() == [line.upper() for line in LINES]
    got = _native.native_stats()
    assert got["blocks_to_rows"] == 1 and got["fallback_partitions"] == 1, got
    assert got["blocks_fused"] == 0, got


def test_count_reads_no_rows_and_other_actions_see_the_lines(
    ctx: SparkContext, tmp_path: Path
) -> None:
    lines = ctx.textFile(text_file(tmp_path), 2)
    assert lines.count() == len(LINES)
    assert _native.native_stats()["blocks_to_rows"] == 0
    assert lines.collect() == LINES
    assert lines.take(2) == LINES[:2]
    assert lines.glom().map(len).sum() == len(LINES)
    assert ctx.textFile(text_file(tmp_path), use_unicode=False).collect() == [
        line.encode("utf-8") for line in LINES
    ]


def test_unions_pass_blocks_and_cached_lines_are_rows(ctx: SparkContext, tmp_path: Path) -> None:
    a = ctx.textFile(text_file(tmp_path, "a.txt", b"x y\nz\n"), 1)
    b = ctx.textFile(text_file(tmp_path, "b.txt", b"y\n"), 1)
    assert word_count(a.union(b)) == [("x", 1), ("y", 2), ("z", 1)]
    assert _native.native_stats()["blocks_fused"] == 2
    _native.reset_native_stats()
    cached = a.cache()
    assert word_count(cached) == [("x", 1), ("y", 1), ("z", 1)]
    assert word_count(cached) == [("x", 1), ("y", 1), ("z", 1)]
    got = _native.native_stats()
    assert got["blocks_fused"] == 0 and got["blocks_to_rows"] == 0, got


def test_parallelized_strings_are_held_as_blocks(ctx: SparkContext) -> None:
    # A list of str handed to parallelize is held as blocks of lines: a word count reads them
    # in place, every other reader sees the same str records as before.
    lines = [*LINES, "\u00e9t\u00e9 long line of more than fifteen bytes", "\U0001f600"]
    rdd = ctx.parallelize(lines, 2)
    expected = sorted(Counter(w for line in lines for w in line.split(" ")).items())
    assert word_count(rdd) == expected
    got = _native.native_stats()
    assert got["blocks_fused"] == 2 and got["blocks_to_rows"] == 0, got
    assert rdd.collect() == lines
    assert rdd.take(3) == lines[:3]
    assert rdd.map(lambda s: s.upper()).collect() == [s.upper() for s in lines]
    assert rdd.mapPartitions(lambda it: [type(x).__name__ for x in it]).collect() == ["str"] * 7
    assert rdd.glom().collect() == [lines[:3], lines[3:]]


def test_lists_that_are_not_all_valid_str_stay_rows(ctx: SparkContext) -> None:
    # Another type, or a lone surrogate (not UTF-8), keeps the partition as Python values.
    mixed = ["a b", 1, "b"]
    surrogate = ["a \ud800", "a"]
    assert ctx.parallelize(mixed, 1).collect() == mixed
    assert ctx.parallelize(surrogate, 1).flatMap(lambda s: s.split(" ")).collect() == [
        "a",
        "\ud800",
        "a",
    ]
    assert _native.native_stats()["blocks_fused"] == 0


@pytest.mark.parametrize("workers", ["in-process", "processes"])
def test_text_file_stream_batches_are_blocks(workers: str, tmp_path: Path) -> None:
    conf = manual_clock_conf("blocks").set("spark.ferrostream.python.workers", workers)
    ssc = StreamingContext(SparkContext(conf=conf), 1)
    try:
        lines = ssc.textFileStream(str(tmp_path))
        counts = collect_stream(
            lines.flatMap(lambda line: line.split(" "))
            .map(lambda w: (w, 1))
            .reduceByKey(lambda a, b: a + b)
        )
        typed = collect_stream(lines.mapPartitions(lambda it: [type(x).__name__ for x in it]))
        path = Path(text_file(tmp_path, "one.txt"))
        os.utime(path, (0.5, 0.5))
        ssc.start()
        advance(ssc, 1)
        assert [sorted(b) for b in counts] == [
            sorted(Counter(w for line in LINES for w in line.split(" ")).items())
        ]
        assert typed == [["str"] * len(LINES)]
    finally:
        ssc.stop()
    got = _native.native_stats()
    assert got["blocks_fused"] >= 1 and got["blocks_to_python"] >= 1, got
    assert got["blocks_to_rows"] == 0, got
