"""ferrostream-submit: runs unmodified PySpark scripts with ``pyspark`` aliased to ferrostream."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ferrostream
from ferrostream.submit import PysparkAliasFinder, main

PYTHON_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ferrostream.__file__)))

STREAMING_SCRIPT = """
import sys

from pyspark import SparkConf, SparkContext
from pyspark.streaming import StreamingContext
import pyspark
import pyspark.rdd
import pyspark.streaming

assert pyspark.__name__ == "ferrostream", pyspark.__name__
assert pyspark.streaming.StreamingContext is StreamingContext
assert pyspark.rdd.RDD is pyspark.RDD

sc = SparkContext(conf=SparkConf())
print("master", sc.master)
print("app", sc.appName)
print("clock", sc.getConf().get("spark.streaming.clock"))
print("argv", sys.argv[1:])
ssc = StreamingContext(sc, 1)
lines = ssc.queueStream([["a b", "b"], ["c"]])
counts = lines.flatMap(lambda l: l.split()).map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b)
counts.transform(lambda rdd: rdd.sortByKey()).pprint()
ssc.start()

from ferrostream.testing import run_batches

run_batches(ssc, 2)
ssc.stop()
sys.exit(int(sys.argv[1]))
"""


def run_submit(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHON_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    for key in ("FERROSTREAM_SUBMIT", "FERROSTREAM_MASTER", "FERROSTREAM_APP_NAME"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "ferrostream.submit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_runs_pyspark_streaming_script(tmp_path: Path) -> None:
    script = tmp_path / "wordcount.py"
    script.write_text(STREAMING_SCRIPT)
    proc = run_submit(
        [
            "--master",
            "local[2]",
            "--packages",
            "org.apache.spark:spark-streaming-kafka-0-8_2.11:2.4.8",
            "--conf",
            "spark.streaming.clock=org.apache.spark.util.ManualClock",
            "--executor-memory=2g",
            str(script),
            "3",
            "--flag",
        ],
        tmp_path,
    )
    assert proc.returncode == 3, proc.stderr
    out = proc.stdout
    assert "master local[2]\n" in out
    assert "app wordcount.py\n" in out
    assert "clock org.apache.spark.util.ManualClock\n" in out
    assert "argv ['3', '--flag']\n" in out
    assert "('a', 1)\n('b', 2)\n" in out
    assert "Time: " in out
    assert (
        "ferrostream-submit: Kafka support is built into ferrostream "
        "(org.apache.spark:spark-streaming-kafka-0-8_2.11:2.4.8 is not needed)\n" in proc.stderr
    )
    assert "ferrostream-submit: ignoring --executor-memory (not needed by ferrostream)" in (
        proc.stderr
    )


def test_defaults_and_script_settings_win(tmp_path: Path) -> None:
    script = tmp_path / "conf_check.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            from pyspark import SparkConf, SparkContext

            sc = SparkContext(conf=SparkConf().setAppName("mine"))
            print(sc.master, sc.appName, os.environ["FERROSTREAM_SUBMIT"])
            sc.stop()
            """
        )
    )
    proc = run_submit(["--name", "given", str(script)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "local[*] mine 1\n"


def test_uncaught_exception_exits_nonzero(tmp_path: Path) -> None:
    script = tmp_path / "bad.py"
    script.write_text("raise RuntimeError('script failed')\n")
    proc = run_submit([str(script)], tmp_path)
    assert proc.returncode == 1
    assert "RuntimeError: script failed" in proc.stderr


def test_missing_module_is_not_found(tmp_path: Path) -> None:
    script = tmp_path / "missing.py"
    script.write_text(
        "try:\n"
        "    import pyspark.does_not_exist\n"
        "except ModuleNotFoundError as e:\n"
        "    print('missing', e.name)\n"
    )
    proc = run_submit([str(script)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "missing pyspark.does_not_exist\n"


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "no script given" in capsys.readouterr().err
    assert main(["--bogus", "x.py"]) == 2
    assert "unknown option --bogus" in capsys.readouterr().err
    assert main(["--master"]) == 2
    assert main(["does_not_exist.py"]) == 2
    assert main(["--help"]) == 0
    assert "usage: ferrostream-submit" in capsys.readouterr().out


def test_alias_targets() -> None:
    target = PysparkAliasFinder.target_of
    assert target("pyspark") == "ferrostream"
    assert target("pyspark.streaming") == "ferrostream.streaming"
    assert target("pyspark.streaming.kafka") == "ferrostream.streaming.kafka"
    assert target("pyspark.core.rdd") == "ferrostream.rdd"
    assert target("pysparkling") is None
    assert target("numpy") is None


def test_py_files_and_properties_file(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "helper_mod.py").write_text("VALUE = 42\n")
    props = tmp_path / "spark-defaults.conf"
    props.write_text("# comment\nspark.app.name  from-file\nspark.custom.key=abc\n")
    script = tmp_path / "uses_helper.py"
    script.write_text(
        textwrap.dedent(
            """
            import helper_mod
            from pyspark import SparkConf

            conf = SparkConf()
            print(helper_mod.VALUE, conf.get("spark.app.name"), conf.get("spark.custom.key"))
            """
        )
    )
    proc = run_submit(
        ["--py-files", str(lib / "helper_mod.py"), "--properties-file", str(props), str(script)],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "42 from-file abc\n"


def test_packages_notes() -> None:
    from ferrostream.submit import _packages_note

    assert _packages_note("org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.1") == (
        "Kafka support is built into ferrostream "
        "(org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.1 is not needed)"
    )
    assert _packages_note("com.example:thing:1.0") == (
        "ignoring --packages com.example:thing:1.0: ferrostream loads no JVM packages"
    )
    both = _packages_note("org.apache.spark:spark-streaming-kafka-0-8_2.11:2.4.8,a:b:1")
    assert both.startswith("Kafka support is built into ferrostream")
    assert both.endswith("ignoring --packages a:b:1: ferrostream loads no JVM packages")


def test_kinesis_jars_and_packages_notes() -> None:
    from ferrostream.submit import _packages_note

    assert _packages_note(
        "/usr/lib/spark/external/lib/spark-streaming-kinesis-asl-assembly.jar", "--jars"
    ) == (
        "Kinesis support is built into ferrostream "
        "(/usr/lib/spark/external/lib/spark-streaming-kinesis-asl-assembly.jar is not needed)"
    )
    assert _packages_note("org.apache.spark:spark-streaming-kinesis-asl_2.12:3.5.1") == (
        "Kinesis support is built into ferrostream "
        "(org.apache.spark:spark-streaming-kinesis-asl_2.12:3.5.1 is not needed)"
    )
    assert _packages_note("x.jar", "--jars") == "ignoring --jars x.jar: ferrostream loads no jars"
