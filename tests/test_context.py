"""SparkContext, SparkConf, StorageLevel, Broadcast and Accumulator."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

import ferrostream
from ferrostream import (
    Accumulator,
    AccumulatorParam,
    Broadcast,
    SparkConf,
    SparkContext,
    StorageLevel,
)
from ferrostream.errors import (
    IllegalArgumentException,
    IllegalStateException,
    PySparkRuntimeError,
    SparkException,
)

# -- package ---------------------------------------------------------------------------


def test_package_exports() -> None:
    for name in (
        "SparkConf",
        "SparkContext",
        "RDD",
        "StorageLevel",
        "Broadcast",
        "Accumulator",
        "AccumulatorParam",
    ):
        assert hasattr(ferrostream, name)
    from ferrostream import _native

    assert ferrostream.__version__ == _native.__version__


# -- SparkConf -------------------------------------------------------------------------


def test_conf_setters_chain_and_store_strings() -> None:
    conf = SparkConf().setMaster("local[3]").setAppName("app").set("spark.x", 5)
    assert conf.get("spark.master") == "local[3]"
    assert conf.get("spark.app.name") == "app"
    assert conf.get("spark.x") == "5"
    assert conf.get("missing") is None
    assert conf.get("missing", "dflt") == "dflt"
    assert conf.contains("spark.x") and not conf.contains("missing")


def test_conf_set_if_missing_all_and_debug_string() -> None:
    conf = SparkConf(loadDefaults=False).set("b", "1").setIfMissing("b", "2")
    conf.setIfMissing("a", "3")
    conf.setAll([("c", "4"), ("d", 5)]).setSparkHome("/opt/spark")
    assert conf.get("b") == "1"
    assert conf.get("a") == "3"
    assert ("d", "5") in conf.getAll()
    assert conf.get("spark.home") == "/opt/spark"
    assert conf.toDebugString() == "a=3\nb=1\nc=4\nd=5\nspark.home=/opt/spark"


def test_conf_executor_env() -> None:
    conf = SparkConf().setExecutorEnv("VAR1", "value1")
    conf.setExecutorEnv(pairs=[("VAR3", "value3"), ("VAR4", "value4")])
    assert conf.get("spark.executorEnv.VAR1") == "value1"
    assert conf.get("spark.executorEnv.VAR4") == "value4"
    with pytest.raises(PySparkRuntimeError, match="Either pass one key-value pair"):
        conf.setExecutorEnv()
    with pytest.raises(PySparkRuntimeError):
        conf.setExecutorEnv("k", "v", pairs=[("a", "b")])


def test_set_system_property_becomes_conf_default() -> None:
    from ferrostream.conf import _system_properties

    try:
        SparkContext.setSystemProperty("spark.test.prop", "42")
        assert SparkConf().get("spark.test.prop") == "42"
        assert SparkConf(loadDefaults=False).get("spark.test.prop") is None
    finally:
        _system_properties.pop("spark.test.prop", None)


# -- SparkContext creation --------------------------------------------------------------


def test_context_attributes(sc: SparkContext) -> None:
    assert sc.master == "local[2]"
    assert sc.appName == "test"
    assert sc.defaultParallelism == 2
    assert sc.defaultMinPartitions == 2
    assert sc.version == "3.5.9"
    assert sc.uiWebUrl is not None and sc.uiWebUrl.startswith("http://127.0.0.1:")
    assert sc.applicationId == f"local-{sc.startTime}"
    assert sc.sparkHome is None
    assert sc.environment == {}
    assert sc.pythonVer.count(".") == 1
    assert SparkContext._active_spark_context is sc
    conf = sc.getConf()
    assert conf.get("spark.master") == "local[2]"
    assert conf.get("spark.app.name") == "test"
    assert conf.get("spark.app.id") == sc.applicationId
    conf.set("spark.master", "changed")
    assert sc.getConf().get("spark.master") == "local[2]"


@pytest.mark.parametrize(
    ("master", "parallelism"),
    [("local", 1), ("local[3]", 3), ("local[*]", os.cpu_count() or 1), ("local[2, 3]", 2)],
)
def test_master_urls(master: str, parallelism: int) -> None:
    with SparkContext(master, "m") as sc:
        assert sc.defaultParallelism == parallelism
        assert sc.defaultMinPartitions == min(parallelism, 2)
        assert sc.parallelize(range(10)).getNumPartitions() == parallelism


@pytest.mark.parametrize("master", ["yarn", "spark://host:7077", "local[x]", "local-cluster"])
def test_unsupported_master(master: str) -> None:
    with pytest.raises(ValueError, match=master.replace("[", r"\[")):
        SparkContext(master, "bad")
    assert SparkContext._active_spark_context is None


def test_local_zero_threads() -> None:
    with pytest.raises(ValueError, match="0 threads"):
        SparkContext("local[0]", "bad")


def test_conf_is_used_and_args_win() -> None:
    conf = SparkConf().setMaster("local[3]").setAppName("from-conf").set("spark.k", "v")
    with SparkContext(conf=conf) as sc:
        assert (sc.master, sc.appName) == ("local[3]", "from-conf")
        assert sc.getConf().get("spark.k") == "v"
    with SparkContext("local", "from-arg", conf=conf) as sc:
        assert (sc.master, sc.appName) == ("local", "from-arg")


def test_default_parallelism_setting() -> None:
    conf = SparkConf().set("spark.default.parallelism", "5")
    with SparkContext("local[2]", "p", conf=conf) as sc:
        assert sc.defaultParallelism == 5
        rdd = sc.parallelize([(1, 1)], 2)
        assert rdd.reduceByKey(lambda a, b: a + b).getNumPartitions() == 5


def test_environment_and_spark_home() -> None:
    conf = SparkConf().setExecutorEnv("A", "1")
    with SparkContext("local", "e", sparkHome="/sh", environment={"B": "2"}, conf=conf) as sc:
        assert sc.environment == {"A": "1", "B": "2"}
        assert sc.sparkHome == "/sh"


def test_missing_master_and_app_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FERROSTREAM_SUBMIT", raising=False)
    with pytest.raises(PySparkRuntimeError) as info:
        SparkContext(appName="x", conf=SparkConf(loadDefaults=False))
    assert str(info.value) == (
        "[MASTER_URL_NOT_SET] A master URL must be set in your configuration."
    )
    with pytest.raises(PySparkRuntimeError) as info:
        SparkContext("local", conf=SparkConf(loadDefaults=False))
    assert str(info.value) == (
        "[APPLICATION_NAME_NOT_SET] An application name must be set in your configuration."
    )
    assert SparkContext._active_spark_context is None


def test_master_and_app_name_default_as_outside_spark_submit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FERROSTREAM_SUBMIT", raising=False)
    cpus = os.cpu_count() or 1
    with SparkContext() as sc:
        assert (sc.master, sc.appName) == ("local[*]", "pyspark-shell")
        assert sc.defaultParallelism == cpus
        assert sc.getConf().get("spark.master") == "local[*]"
    with SparkContext(appName="named") as sc:
        assert (sc.master, sc.appName) == ("local[*]", "named")
    with SparkContext.getOrCreate() as sc:
        assert (sc.master, sc.appName) == ("local[*]", "pyspark-shell")
    with SparkContext(conf=SparkConf().setAppName("from conf")) as sc:
        assert (sc.master, sc.appName) == ("local[*]", "from conf")
    assert SparkConf().get("spark.app.name") == "pyspark-shell"


def test_submit_defaults_master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROSTREAM_SUBMIT", "1")
    monkeypatch.delenv("FERROSTREAM_MASTER", raising=False)
    with SparkContext(appName="submitted") as sc:
        assert sc.master == "local[*]"
    monkeypatch.setenv("FERROSTREAM_MASTER", "local[3]")
    with SparkContext(appName="submitted") as sc:
        assert sc.defaultParallelism == 3


def test_only_one_active_context(sc: SparkContext) -> None:
    with pytest.raises(ValueError) as info:
        SparkContext("local", "second")
    message = str(info.value)
    assert message.startswith(
        "Cannot run multiple SparkContexts at once; existing "
        "SparkContext(app=test, master=local[2]) created by "
    )
    assert "conftest.py:" in message and message.endswith(" ")
    assert SparkContext._active_spark_context is sc


def test_get_or_create(sc: SparkContext) -> None:
    assert SparkContext.getOrCreate() is sc
    sc.stop()
    conf = SparkConf().setMaster("local").setAppName("goc")
    created = SparkContext.getOrCreate(conf)
    try:
        assert created is not sc
        assert created.appName == "goc"
        assert SparkContext.getOrCreate() is created
    finally:
        created.stop()


def test_stop_is_idempotent_and_context_manager() -> None:
    with SparkContext("local", "cm") as sc:
        assert sc.parallelize([1, 2]).count() == 2
    assert SparkContext._active_spark_context is None
    sc.stop()
    with pytest.raises(IllegalStateException, match="stopped SparkContext"):
        sc.parallelize([1])
    with SparkContext("local", "again") as sc2:
        assert sc2.range(3).collect() == [0, 1, 2]


def test_context_cannot_be_pickled(sc: SparkContext) -> None:
    import pickle

    with pytest.raises(PySparkRuntimeError, match="CONTEXT_ONLY_VALID_ON_DRIVER"):
        pickle.dumps(sc)


# -- creating RDDs -----------------------------------------------------------------------


def test_parallelize_slicing(sc: SparkContext) -> None:
    assert sc.parallelize([0, 2, 3, 4, 6], 5).glom().collect() == [[0], [2], [3], [4], [6]]
    assert sc.parallelize(range(0, 6, 2), 5).glom().collect() == [[], [0], [], [2], [4]]
    assert sc.parallelize([1, 2, 3, 4, 5], 2).glom().collect() == [[1, 2], [3, 4, 5]]
    assert sc.parallelize(range(10), 3).glom().collect() == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8, 9],
    ]
    assert sc.parallelize(range(10, 0, -3), 2).collect() == [10, 7, 4, 1]
    assert sc.parallelize(x * x for x in range(4)).collect() == [0, 1, 4, 9]
    assert sc.parallelize("abc", 3).glom().collect() == [["a"], ["b"], ["c"]]
    assert sc.parallelize([]).glom().collect() == [[], []]
    assert sc.parallelize([1, 2]).getNumPartitions() == sc.defaultParallelism


def test_parallelize_bad_slices(sc: SparkContext) -> None:
    with pytest.raises(IllegalArgumentException, match="Positive number of partitions"):
        sc.parallelize([1], 0)
    with pytest.raises(TypeError, match="numSlices"):
        sc.parallelize([1], "2")  # type: ignore[arg-type]


def test_range(sc: SparkContext) -> None:
    assert sc.range(5).collect() == [0, 1, 2, 3, 4]
    assert sc.range(2, 4).collect() == [2, 3]
    assert sc.range(1, 7, 2).collect() == [1, 3, 5]
    assert sc.range(0, 10, numSlices=4).getNumPartitions() == 4
    assert sc.range(0).collect() == []


def test_empty_rdd(sc: SparkContext) -> None:
    rdd = sc.emptyRDD()
    assert rdd.getNumPartitions() == 0
    assert rdd.collect() == []
    assert rdd.count() == 0
    assert rdd.isEmpty()


def test_union(sc: SparkContext) -> None:
    a = sc.parallelize([1, 2], 2)
    b = sc.parallelize(["x"], 1)
    u = sc.union([a, b, a])
    assert u.collect() == [1, 2, "x", 1, 2]
    assert u.getNumPartitions() == 5
    with pytest.raises(ValueError):
        sc.union([])


def test_text_file(sc: SparkContext, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("three\nfour", encoding="utf-8")
    (tmp_path / "_hidden").write_text("no", encoding="utf-8")
    (tmp_path / ".also").write_text("no", encoding="utf-8")
    assert sc.textFile(str(tmp_path / "a.txt")).collect() == ["one", "two"]
    assert sc.textFile(str(tmp_path)).collect() == ["one", "two", "three", "four"]
    both = f"file://{tmp_path / 'a.txt'},{tmp_path / 'b.txt'}"
    assert sc.textFile(both).collect() == ["one", "two", "three", "four"]
    assert sc.textFile(str(tmp_path / "a.txt"), use_unicode=False).collect() == [b"one", b"two"]
    assert sc.textFile(str(tmp_path / "a.txt"), minPartitions=1).count() == 2
    with pytest.raises(FileNotFoundError, match="nope"):
        sc.textFile(str(tmp_path / "nope")).collect()


def test_whole_text_files(sc: SparkContext, tmp_path: Path) -> None:
    (tmp_path / "1.txt").write_text("Hello", encoding="utf-8")
    (tmp_path / "2.txt").write_text("World\n", encoding="utf-8")
    got = sorted(sc.wholeTextFiles(str(tmp_path)).collect())
    assert got == [
        (f"file:{tmp_path / '1.txt'}", "Hello"),
        (f"file:{tmp_path / '2.txt'}", "World\n"),
    ]


# -- settings ---------------------------------------------------------------------------


def test_set_log_level(sc: SparkContext) -> None:
    logger = logging.getLogger("ferrostream")
    old = logger.level
    try:
        sc.setLogLevel("WARN")
        assert logger.level == logging.WARNING
        sc.setLogLevel("debug")
        assert logger.level == logging.DEBUG
        sc.setLogLevel("OFF")
        assert logger.level > logging.CRITICAL
        with pytest.raises(IllegalArgumentException, match="Supplied level LOUD"):
            sc.setLogLevel("LOUD")
        with pytest.raises(ValueError, match="ALL,DEBUG,ERROR,FATAL,INFO,OFF,TRACE,WARN"):
            sc.setLogLevel("LOUD")
    finally:
        logger.setLevel(old)


def test_checkpoint_dir(sc: SparkContext, tmp_path: Path) -> None:
    assert sc.getCheckpointDir() is None
    target = tmp_path / "ck" / "nested"
    sc.setCheckpointDir(str(target))
    assert target.is_dir()
    assert sc.getCheckpointDir() == str(target)


def test_local_properties_and_job_group(sc: SparkContext) -> None:
    assert sc.getLocalProperty("k") is None
    sc.setLocalProperty("k", "v")
    assert sc.getLocalProperty("k") == "v"
    seen: list[object] = []
    t = threading.Thread(target=lambda: seen.append(sc.getLocalProperty("k")))
    t.start()
    t.join()
    assert seen == [None]
    sc.setLocalProperty("k", None)
    assert sc.getLocalProperty("k") is None
    sc.setJobGroup("g", "desc")
    assert sc.getLocalProperty("spark.jobGroup.id") == "g"
    sc.cancelJobGroup("g")
    sc.cancelAllJobs()


def test_run_job(sc: SparkContext) -> None:
    rdd = sc.parallelize(range(6), 3)
    assert sc.runJob(rdd, lambda it: [x * x for x in it]) == [0, 1, 4, 9, 16, 25]
    assert sc.runJob(rdd, lambda it: [sum(it)], [0, 2]) == [1, 9]


# -- StorageLevel -----------------------------------------------------------------------


def test_storage_levels() -> None:
    assert repr(StorageLevel.MEMORY_AND_DISK_2) == "StorageLevel(True, True, False, False, 2)"
    assert str(StorageLevel.MEMORY_AND_DISK_2) == "Disk Memory Serialized 2x Replicated"
    assert str(StorageLevel.MEMORY_ONLY) == "Memory Serialized 1x Replicated"
    assert str(StorageLevel.DISK_ONLY_3) == "Disk Serialized 3x Replicated"
    assert str(StorageLevel.OFF_HEAP) == "Disk Memory OffHeap Serialized 1x Replicated"
    assert str(StorageLevel.MEMORY_AND_DISK_DESER) == "Disk Memory Deserialized 1x Replicated"
    assert repr(StorageLevel.NONE) == "StorageLevel(False, False, False, False, 1)"
    assert StorageLevel(False, True, False, False) == StorageLevel.MEMORY_ONLY
    assert StorageLevel.MEMORY_ONLY != StorageLevel.MEMORY_ONLY_2
    assert StorageLevel.DISK_ONLY_2.replication == 2


# -- Broadcast ---------------------------------------------------------------------------


def test_broadcast(sc: SparkContext) -> None:
    b = sc.broadcast([1, 2, 3, 4, 5])
    assert isinstance(b, Broadcast)
    assert b.value == [1, 2, 3, 4, 5]
    assert sc.parallelize([0, 0]).flatMap(lambda x: b.value).collect() == [1, 2, 3, 4, 5] * 2
    lookup = sc.broadcast({"a": 1, "b": 2})
    assert sc.parallelize(["a", "b", "a"]).map(lambda k: lookup.value[k]).sum() == 4
    b.unpersist()
    assert b.value == [1, 2, 3, 4, 5]
    b.destroy()
    with pytest.raises(SparkException, match="after it was destroyed"):
        _ = b.value


def test_broadcast_pickles_to_same_object(sc: SparkContext) -> None:
    import cloudpickle

    b = sc.broadcast({"x": 1})
    f = cloudpickle.loads(cloudpickle.dumps(lambda: b.value["x"]))
    assert f() == 1


# -- Accumulator -------------------------------------------------------------------------


def test_accumulator_basics(sc: SparkContext) -> None:
    a = sc.accumulator(1)
    assert isinstance(a, Accumulator)
    assert a.value == 1
    a += 5
    assert a.value == 6
    a.add(4)
    assert a.value == 10
    assert str(a) == "10"
    assert repr(a).startswith("Accumulator<id=") and repr(a).endswith("value=10>")
    a.value = 0
    assert a.value == 0
    f = sc.accumulator(1.5)
    f += 1
    assert f.value == 2.5
    c = sc.accumulator(1j)
    c += 2
    assert c.value == 2 + 1j


def test_accumulator_in_tasks_is_thread_safe(sc: SparkContext) -> None:
    acc = sc.accumulator(0)
    sc.parallelize(range(20000), 8).foreach(lambda x: acc.add(1))
    assert acc.value == 20000

    def add_all(it: object) -> None:
        global_acc = acc
        for x in it:  # type: ignore[attr-defined]
            global_acc += x

    sc.parallelize(range(100), 4).foreachPartition(add_all)
    assert acc.value == 20000 + sum(range(100))


def test_accumulator_custom_param(sc: SparkContext) -> None:
    class ListParam(AccumulatorParam[list]):  # type: ignore[type-arg]
        def zero(self, value: list) -> list:  # type: ignore[type-arg]
            return []

        def addInPlace(self, value1: list, value2: list) -> list:  # type: ignore[type-arg]
            value1.extend(value2)
            return value1

    acc = sc.accumulator([], ListParam())
    sc.parallelize([1, 2, 3], 3).foreach(lambda x: acc.add([x]))
    assert sorted(acc.value) == [1, 2, 3]


def test_accumulator_without_default_param(sc: SparkContext) -> None:
    with pytest.raises(TypeError, match="No default accumulator param for type <class 'str'>"):
        sc.accumulator("x")


def test_local_zero_threads_is_refused_by_the_engine() -> None:
    with pytest.raises(IllegalArgumentException, match=r"^Asked to run locally with 0 threads$"):
        SparkContext("local[0]", "zero")
    assert SparkContext._active_spark_context is None
