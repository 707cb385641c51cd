"""``sc.addFile``, ``sc.addPyFile``, ``SparkFiles`` and ``ferrostream-submit --files``."""

from __future__ import annotations

import os
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from ferrostream import SparkConf, SparkContext, SparkFiles
from ferrostream.errors import IllegalArgumentException, IllegalStateException, SparkException
from ferrostream.files import SparkFiles as FromModule


def test_spark_files_lives_in_ferrostream_files() -> None:
    assert SparkFiles is FromModule
    with pytest.raises(NotImplementedError, match="Do not construct SparkFiles objects"):
        SparkFiles()


def test_added_file_is_visible_to_tasks(sc: SparkContext, tmp_path: Path) -> None:
    path = tmp_path / "test.txt"
    path.write_text("100")
    sc.addFile(str(path))
    root = SparkFiles.getRootDirectory()
    assert os.path.isdir(root) and os.path.basename(root).startswith("userFiles-")
    assert SparkFiles.get("test.txt") == os.path.join(root, "test.txt")
    path.write_text("changed after adding")  # tasks read the copy

    def func(iterator):  # type: ignore[no-untyped-def]
        with open(SparkFiles.get("test.txt")) as f:
            mul = int(f.readline())
        return [x * mul for x in iterator]

    assert sc.parallelize([1, 2, 3, 4], 2).mapPartitions(func).collect() == [100, 200, 300, 400]
    assert sc.listFiles == [f"file:{path}"]


def test_add_file_accepts_file_urls_and_ignores_repeats(sc: SparkContext, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a")
    sc.addFile(path.as_uri())
    sc.addFile(f"file:{path}")
    sc.addFile(str(path))
    assert sc.listFiles == [f"file:{path}"]
    assert Path(SparkFiles.get("a.txt")).read_text() == "a"


def test_add_file_errors(sc: SparkContext, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=rf"^File file:{tmp_path}/nope does not exist$"):
        sc.addFile(str(tmp_path / "nope"))
    directory = tmp_path / "dir"
    directory.mkdir()
    with pytest.raises(
        SparkException,
        match=rf"^Added file file:{directory} is a directory and recursive is not turned on\.$",
    ):
        sc.addFile(str(directory))
    with pytest.raises(IllegalArgumentException, match='No FileSystem for scheme "hdfs"'):
        sc.addFile("hdfs://namenode/x.txt")
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (first / "same.txt").write_text("1")
    (second / "same.txt").write_text("2")
    sc.addFile(str(first / "same.txt"))
    with pytest.raises(SparkException, match="exists and does not match contents of file:"):
        sc.addFile(str(second / "same.txt"))


def test_add_directory_recursively(sc: SparkContext, tmp_path: Path) -> None:
    tree = tmp_path / "conf"
    (tree / "nested").mkdir(parents=True)
    (tree / "nested" / "deep.txt").write_text("deep")
    sc.addFile(str(tree), recursive=True)
    got = sc.parallelize([0], 1).map(
        lambda _: Path(SparkFiles.get("conf"), "nested", "deep.txt").read_text()
    )
    assert got.collect() == ["deep"]


def test_add_py_file_module_and_zip_are_importable(sc: SparkContext, tmp_path: Path) -> None:
    module = tmp_path / "fs_added_module.py"
    module.write_text("VALUE = 7\n")
    archive = tmp_path / "fs_deps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fs_zipped_module.py", "VALUE = 8\n")
    sc.addPyFile(str(module))
    sc.addPyFile(str(archive))

    def use(_: int) -> int:
        import fs_added_module  # type: ignore[import-not-found]
        import fs_zipped_module  # type: ignore[import-not-found]

        return int(fs_added_module.VALUE + fs_zipped_module.VALUE)

    try:
        assert sc.parallelize([0], 1).map(use).collect() == [15]
    finally:
        sys.modules.pop("fs_added_module", None)
        sys.modules.pop("fs_zipped_module", None)


def test_root_directory_goes_away_with_the_context(tmp_path: Path) -> None:
    sc = SparkContext("local[1]", "files")
    root = SparkFiles.getRootDirectory()
    assert root in sys.path
    sc.stop()
    assert not os.path.exists(root)
    assert root not in sys.path
    with pytest.raises(IllegalStateException, match="SparkFiles needs an active SparkContext"):
        SparkFiles.getRootDirectory()


def test_spark_files_conf_adds_files_at_creation(tmp_path: Path) -> None:
    data = tmp_path / "lookup.csv"
    data.write_text("k,v\n")
    with SparkContext(conf=SparkConf().set("spark.files", str(data))) as sc:
        assert Path(SparkFiles.get("lookup.csv")).read_text() == "k,v\n"
        assert sc.listFiles == [f"file:{data}"]


def test_submit_files_option(tmp_path: Path) -> None:
    from test_submit import run_submit

    (tmp_path / "words.txt").write_text("hello files\n")
    script = tmp_path / "reads_file.py"
    script.write_text(
        textwrap.dedent(
            """
            from pyspark import SparkContext, SparkFiles

            sc = SparkContext(appName="files")

            def read(_):
                with open(SparkFiles.get("words.txt")) as f:
                    return f.read().strip()

            print(sc.parallelize([0], 1).map(read).collect()[0])
            sc.stop()
            """
        )
    )
    proc = run_submit(["--files", "words.txt", str(script)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello files\n"
    assert "ignoring --files" not in proc.stderr
