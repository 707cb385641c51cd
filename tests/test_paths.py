"""One parser for paths and file URLs: plain paths, ``file:/``, ``file://`` and ``file:///``
work everywhere a path is taken; other schemes are a clear error naming the scheme."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrostream import SparkContext
from ferrostream.errors import IllegalArgumentException
from ferrostream.streaming import StreamingContext
from ferrostream.testing import manual_clock_conf

UNSERVED = ["hdfs://namenode:8020/data", "s3a://bucket/key", "s3://bucket/key", "gs://b/k"]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in ``tmp_path``, so a path mistaken for a relative one would land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def ssc() -> Iterator[StreamingContext]:
    ctx = StreamingContext(SparkContext(conf=manual_clock_conf("paths")), 1)
    yield ctx
    ctx.stop()


def url_forms(path: Path) -> list[str]:
    return [f"file:{path}", f"file://{path}", path.as_uri(), f"file://localhost{path}", str(path)]


def test_save_as_text_file_accepts_every_file_url_form(
    sc: SparkContext, in_tmp: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("out")
    for i, url in enumerate(url_forms(out / "run")):
        target = out / "run"
        sc.parallelize([f"line {i}"], 1).saveAsTextFile(url)
        assert (target / "part-00000").read_text() == f"line {i}\n", url
        assert (target / "_SUCCESS").exists()
        for part in target.iterdir():
            part.unlink()
        target.rmdir()
    assert sorted(os.listdir(in_tmp)) == [], "nothing written under ./file:"


def test_text_file_and_whole_text_files_accept_file_urls(sc: SparkContext, tmp_path: Path) -> None:
    data = tmp_path / "in dir" / "data.txt"
    data.parent.mkdir()
    data.write_text("a\nb\n")
    for url in url_forms(data):
        assert sc.textFile(url).collect() == ["a", "b"], url
    for url in url_forms(data.parent):
        assert sc.wholeTextFiles(url).collect() == [(f"file:{data}", "a\nb\n")], url


def test_existing_output_is_named_as_a_file_url(sc: SparkContext, tmp_path: Path) -> None:
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError, match=rf"Output directory file:{tmp_path}/exists already"):
        sc.parallelize([1]).saveAsTextFile(f"file:{tmp_path}/exists")


@pytest.mark.parametrize("url", UNSERVED)
def test_unserved_schemes_are_named_by_every_path_taking_api(
    sc: SparkContext, in_tmp: Path, url: str
) -> None:
    scheme = url.split(":", 1)[0]
    message = rf'^No FileSystem for scheme "{scheme}": ferrostream reads and writes local files'
    rdd = sc.parallelize(["x"])
    with pytest.raises(IllegalArgumentException, match=message):
        rdd.saveAsTextFile(url)
    with pytest.raises(IllegalArgumentException, match=message):
        sc.textFile(url)
    with pytest.raises(IllegalArgumentException, match=message):
        sc.wholeTextFiles(url)
    with pytest.raises(IllegalArgumentException, match=message):
        sc.setCheckpointDir(url)
    assert os.listdir(in_tmp) == [], "no local directory named after the scheme"


@pytest.mark.parametrize("url", UNSERVED)
def test_unserved_schemes_in_streaming(ssc: StreamingContext, in_tmp: Path, url: str) -> None:
    scheme = url.split(":", 1)[0]
    message = rf'^No FileSystem for scheme "{scheme}"'
    with pytest.raises(IllegalArgumentException, match=message):
        ssc.textFileStream(url)
    with pytest.raises(IllegalArgumentException, match=message):
        ssc.binaryRecordsStream(url, 4)
    with pytest.raises(IllegalArgumentException, match=message):
        ssc.checkpoint(url)
    with pytest.raises(IllegalArgumentException, match=message):
        StreamingContext.getOrCreate(url, lambda: ssc)
    assert os.listdir(in_tmp) == []


def test_streaming_paths_accept_file_urls(ssc: StreamingContext, tmp_path: Path) -> None:
    checkpoint = tmp_path / "ckpt"
    ssc.checkpoint(f"file:{checkpoint}")
    assert checkpoint.is_dir()
    assert ssc.sparkContext.getCheckpointDir() == str(checkpoint)
    watched = tmp_path / "watched"
    watched.mkdir()
    ssc.textFileStream(f"file:{watched}").pprint()
    ssc.start()  # the directory exists: start() would fail on a mangled path


def test_a_file_url_with_a_host_is_refused(sc: SparkContext) -> None:
    with pytest.raises(IllegalArgumentException, match='names the host "tmp"'):
        sc.textFile("file://tmp/x")


def test_save_as_text_files_takes_file_urls_and_refuses_other_schemes(
    ssc: StreamingContext, tmp_path: Path, in_tmp: Path
) -> None:
    stream = ssc.queueStream([["a"], ["b"]])
    with pytest.raises(IllegalArgumentException, match=r'^No FileSystem for scheme "s3a"'):
        stream.saveAsTextFiles("s3a://bucket/out")
    out = tmp_path / "out"
    out.mkdir()
    stream.saveAsTextFiles(f"file://{out}/batch", "txt")
    ssc.start()
    from ferrostream.testing import run_batches

    run_batches(ssc, 2)
    dirs = sorted(p.name for p in out.iterdir())
    assert len(dirs) == 2 and all(d.startswith("batch-") and d.endswith(".txt") for d in dirs)
    texts = ["".join(p.read_text() for p in sorted((out / d).glob("part-*"))) for d in dirs]
    assert texts == ["a\n", "b\n"]
    assert sorted(os.listdir(in_tmp)) == ["out"]
