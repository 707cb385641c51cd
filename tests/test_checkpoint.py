"""Metadata checkpoints: files per batch, damage, incompatibility, picklability and recovery
with ``StreamingContext.getOrCreate`` (manual clock)."""

from __future__ import annotations

import logging
import operator
import os
import pickle
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from ferrostream import SparkContext
from ferrostream.errors import IllegalStateException, SparkException
from ferrostream.streaming import DStream, StreamingContext
from ferrostream.streaming._checkpoint import GRAPH_FORMAT, NotSerializableException
from ferrostream.testing import advance, manual_clock_conf

SPARK_5063 = (
    "It appears that you are attempting to reference SparkContext from a broadcast variable, "
    "action, or transformation. SparkContext can only be used on the driver, not in code that "
    "it run on workers. For more information, see SPARK-5063."
)
QUEUE = (
    "queueStream doesn't support checkpointing. Please don't use queueStream when "
    "checkpointing is enabled."
)

# Output functions are pickled into checkpoints; what they record goes to this module-level
# dict (functions of this module are pickled by reference, so a recovered context writes here).
SINK: dict[str, list[Any]] = {}


class Sink:
    """``foreachRDD`` output: appends ``(batch ms, sorted elements)`` to ``SINK[key]``."""

    def __init__(self, key: str) -> None:
        self.key = key
        SINK[key] = []

    def __call__(self, t: Any, rdd: Any) -> None:
        SINK[self.key].append((int(t.timestamp() * 1000), sorted(rdd.collect())))


def running_sum(values: list[int], state: Optional[int]) -> int:
    return sum(values) + (state or 0)


def split_words(line: str) -> list[str]:
    return line.split()


def with_one(word: str) -> tuple[str, int]:
    return (word, 1)


@pytest.fixture
def sc() -> Iterator[SparkContext]:
    ctx = SparkContext(conf=manual_clock_conf("test_checkpoint"))
    yield ctx
    stop_all()


def stop_all() -> None:
    active = StreamingContext.getActive()
    if active is not None:
        active.stop(stopSparkContext=False)
    current = SparkContext._active_spark_context
    if current is not None:
        current.stop()


def put(directory: Path, name: str, text: str, mtime_ms: int) -> None:
    """Write a file into a watched directory, with a modification time on the manual clock."""
    path = directory / name
    path.write_text(text)
    os.utime(path, ns=(mtime_ms * 1_000_000, mtime_ms * 1_000_000))


def checkpoint_files(directory: Path) -> list[str]:
    return sorted(
        (p.name for p in directory.iterdir() if p.name.startswith("checkpoint-")),
        key=lambda n: int(n.split("-")[1]),
    )


def word_count_setup(
    sc: SparkContext, inputs: Path, key: str, calls: list[int]
) -> Callable[[], StreamingContext]:
    """A setupFunc: running word counts of the files of ``inputs`` into ``SINK[key]``."""

    def setup() -> StreamingContext:
        calls.append(1)
        ssc = StreamingContext(sc, 1)
        words = ssc.textFileStream(str(inputs)).flatMap(split_words).map(with_one)
        words.updateStateByKey(running_sum).foreachRDD(Sink(key))
        return ssc

    return setup


def run_word_count(tmp_path: Path, sc: SparkContext, batches: int) -> Path:
    """Run the word count for ``batches`` batches (a file per batch), checkpointing to
    ``tmp_path/ck``; stop it and return the checkpoint directory."""
    inputs = tmp_path / "in"
    inputs.mkdir(exist_ok=True)
    ck = tmp_path / "ck"
    ssc = StreamingContext.getOrCreate(str(ck), word_count_setup(sc, inputs, "wc", []))
    ssc.start()
    for i in range(batches):
        put(inputs, f"f{i}", "a b a" if i % 2 == 0 else "b c", i * 1000 + 500)
        advance(ssc, 1)
    ssc.stop(stopSparkContext=False)
    return ck


# ------------------------------------------------------------------------------------------
# writing


def test_a_checkpoint_per_batch_and_five_kept(sc: SparkContext, tmp_path: Path) -> None:
    ck = tmp_path / "ck"
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(ck))
    ssc.textFileStream(str(tmp_path)).foreachRDD(Sink("files"))
    ssc.start()
    advance(ssc, 1)
    assert checkpoint_files(ck) == ["checkpoint-1000"]
    advance(ssc, 2)
    assert checkpoint_files(ck) == ["checkpoint-1000", "checkpoint-2000", "checkpoint-3000"]
    advance(ssc, 5)
    assert checkpoint_files(ck) == [f"checkpoint-{t}000" for t in range(4, 9)]
    assert not [n for n in os.listdir(ck) if n.startswith(".")], "temporary files left"
    assert ssc.awaitTerminationOrTimeout(0.001) is False


def test_checkpoint_layout(sc: SparkContext, tmp_path: Path) -> None:
    from ferrostream import _native

    ck = run_word_count(tmp_path, sc, 12)
    found = _native.read_checkpoint(str(ck))
    assert found is not None
    time_ms, batch_ms, zero_ms, graph, path, skipped = found
    assert (time_ms, batch_ms, zero_ms, skipped) == (12000, 1000, 0, [])
    assert os.path.basename(path) == "checkpoint-12000"
    # The graph (with the functions) is written once per start, in its own file.
    data = pickle.loads(graph)
    assert data["format"] == GRAPH_FORMAT
    assert ("spark.app.name", "test_checkpoint") in data["conf"]
    assert [m for m, _site, _blob in pickle.loads(data["recipe"])] == [
        "text_file_stream",
        "transform",
        "state_stream",
        "foreach_rdd",
    ]
    names = sorted(os.listdir(ck))
    assert [n for n in names if n.startswith("graph-")] == ["graph-1"]
    # The state (stream 2) at the default interval of 10 s; metadata every batch, 5 kept.
    assert [n for n in names if n.startswith("state-")] == ["state-2-10000"]
    assert checkpoint_files(ck) == [f"checkpoint-{t}000" for t in range(8, 13)]


def test_state_checkpoint_interval_follows_dstream_checkpoint(
    sc: SparkContext, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    ck = tmp_path / "ck"
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(ck))
    words = ssc.textFileStream(str(inputs)).flatMap(split_words).map(with_one)
    words.updateStateByKey(running_sum).checkpoint(3).foreachRDD(Sink("interval"))
    ssc.start()
    advance(ssc, 7)
    ssc.stop(stopSparkContext=False)
    assert sorted(n for n in os.listdir(ck) if n.startswith("state-")) == [
        "state-2-3000",
        "state-2-6000",
    ]


def test_context_checkpoint_directory_only_for_metadata(sc: SparkContext, tmp_path: Path) -> None:
    # sc.setCheckpointDir satisfies stateful streams (as in Spark) but does not enable
    # metadata checkpoints: only StreamingContext.checkpoint() does.
    sc.setCheckpointDir(str(tmp_path / "rdds"))
    ssc = StreamingContext(sc, 1)
    ssc.queueStream([[("a", 1)]]).updateStateByKey(running_sum).foreachRDD(Sink("sc"))
    ssc.start()
    advance(ssc, 2)
    assert SINK["sc"] == [(1000, [("a", 1)]), (2000, [("a", 1)])]
    assert checkpoint_files(tmp_path / "rdds") == []


def test_unwritable_directory_fails_start_naming_it(sc: SparkContext, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "ck"
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(target))
    ssc.queueStream([[1]]).foreachRDD(Sink("x"))
    with pytest.raises(OSError, match=f"cannot create checkpoint directory {target}"):
        ssc.start()


def test_queue_stream_warns_when_checkpointing(
    sc: SparkContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path / "ck"))
    with caplog.at_level(logging.WARNING, logger="ferrostream"):
        ssc.queueStream([[1]]).foreachRDD(Sink("q"))
    assert QUEUE in caplog.text
    ssc.start()
    advance(ssc, 1)
    assert SINK["q"] == [(1000, [1])]
    ssc.stop(stopSparkContext=False)
    with pytest.raises(NotSerializableException) as info:
        StreamingContext.getOrCreate(str(tmp_path / "ck"), lambda: ssc)
    assert str(info.value) == QUEUE


# ------------------------------------------------------------------------------------------
# picklability


def test_unpicklable_function_fails_start(sc: SparkContext, tmp_path: Path) -> None:
    lock = threading.Lock()

    def guarded(x: int) -> int:
        with lock:
            return x

    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path / "ck"))
    ssc.queueStream([[1]]).map(guarded).foreachRDD(Sink("u"))
    with pytest.raises(SparkException) as info:
        ssc.start()
    text = str(info.value)
    assert "cannot pickle '_thread.lock' object" in text
    assert "guarded" in text and "not serializable" in text and "test_checkpoint.py" in text
    assert str(tmp_path / "ck") in text
    assert StreamingContext.getActive() is None


def test_unpicklable_state_function_is_named(sc: SparkContext, tmp_path: Path) -> None:
    lock = threading.Lock()

    def locked_sum(values: list[int], state: Optional[int]) -> int:
        with lock:
            return sum(values) + (state or 0)

    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path / "ck"))
    ssc.queueStream([[("a", 1)]]).updateStateByKey(locked_sum).foreachRDD(Sink("s"))
    with pytest.raises(SparkException) as info:
        ssc.start()
    assert ".<locals>.locked_sum (test_checkpoint.py:" in str(info.value)
    assert "used by state_stream at test_checkpoint.py:" in str(info.value)


@pytest.mark.in_process
def test_unpicklable_function_is_fine_without_checkpointing(sc: SparkContext) -> None:
    lock = threading.Lock()
    ssc = StreamingContext(sc, 1)
    ssc.queueStream([[1]]).filter(lambda x: lock is not None).foreachRDD(Sink("ok"))
    ssc.start()
    advance(ssc, 1)
    assert SINK["ok"] == [(1000, [1])]


def test_spark_context_in_a_function_fails_start(sc: SparkContext, tmp_path: Path) -> None:
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path / "ck"))
    ssc.queueStream([[1]]).transform(lambda rdd: rdd.union(sc.parallelize([2]))).pprint()
    with pytest.raises(SparkException, match="SPARK-5063") as info:
        ssc.start()
    assert SPARK_5063 in str(info.value)
    assert "CONTEXT_ONLY_VALID_ON_DRIVER" in str(info.value)


def test_streaming_context_in_a_function_fails_start(sc: SparkContext, tmp_path: Path) -> None:
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path / "ck"))
    ssc.queueStream([[1]]).foreachRDD(lambda rdd: ssc.sparkContext)
    with pytest.raises(SparkException) as info:
        ssc.start()
    assert SPARK_5063 in str(info.value)


# ------------------------------------------------------------------------------------------
# recovery


def test_get_or_create_without_checkpoint_calls_setup_once(
    sc: SparkContext, tmp_path: Path
) -> None:
    calls: list[int] = []
    ssc = StreamingContext.getOrCreate(
        str(tmp_path / "ck"), word_count_setup(sc, tmp_path, "w", calls)
    )
    assert calls == [1]
    assert ssc._checkpoint_dir == str(tmp_path / "ck")
    assert ssc._recovered_from is None


def test_recovery_restores_state_and_file_positions(sc: SparkContext, tmp_path: Path) -> None:
    ck = run_word_count(tmp_path, sc, 3)
    assert SINK["wc"][-1] == (3000, [("a", 4), ("b", 3), ("c", 1)])
    calls: list[int] = []
    inputs = tmp_path / "in"
    ssc = StreamingContext.getOrCreate(str(ck), word_count_setup(sc, inputs, "wc", calls))
    assert calls == [], "setupFunc must not be called when recovering"
    assert ssc._recovered_from == str(ck / "checkpoint-3000")
    assert ssc.sparkContext is sc
    assert ssc._checkpoint_dir == str(ck)
    SINK["wc"] = []
    put(inputs, "f3", "c d", 3500)
    ssc.start()
    advance(ssc, 2)
    # Files f0..f2 are not read again; f3 is counted once; the state goes on.
    assert SINK["wc"] == [
        (4000, [("a", 4), ("b", 3), ("c", 2), ("d", 1)]),
        (5000, [("a", 4), ("b", 3), ("c", 2), ("d", 1)]),
    ]
    assert checkpoint_files(ck)[-1] == "checkpoint-5000"
    assert ssc.awaitTerminationOrTimeout(0.001) is False


def test_recovered_context_checkpoints_and_recovers_again(sc: SparkContext, tmp_path: Path) -> None:
    ck = run_word_count(tmp_path, sc, 2)
    for round_ in range(2):
        ssc = StreamingContext.getOrCreate(str(ck), lambda: pytest.fail("setup called"))
        put(tmp_path / "in", f"g{round_}", "z", (2 + round_) * 1000 + 500)
        ssc.start()
        advance(ssc, 1)
        ssc.stop(stopSparkContext=False)
    assert SINK["wc"][-1] == (4000, [("a", 2), ("b", 2), ("c", 1), ("z", 2)])


def test_recovery_creates_spark_context_from_checkpointed_conf(
    sc: SparkContext, tmp_path: Path
) -> None:
    ck = run_word_count(tmp_path, sc, 1)
    sc.stop()
    ssc = StreamingContext.getOrCreate(str(ck), lambda: pytest.fail("setup called"))
    new_sc = ssc.sparkContext
    assert new_sc is not sc and SparkContext._active_spark_context is new_sc
    assert new_sc.appName == "test_checkpoint"
    assert ssc._manual_clock and ssc._batch_ms == 1000
    assert new_sc.applicationId != sc.applicationId


def test_batches_missed_while_down_run_after_recovery(sc: SparkContext, tmp_path: Path) -> None:
    ck = run_word_count(tmp_path, sc, 1)
    ssc = StreamingContext.getOrCreate(str(ck), lambda: pytest.fail("setup called"))
    SINK["wc"] = []
    ssc.start()
    advance(ssc, 3)
    assert [t for t, _ in SINK["wc"]] == [2000, 3000, 4000]


def test_window_over_input_restored(sc: SparkContext, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    ck = tmp_path / "ck"

    def setup() -> StreamingContext:
        ssc = StreamingContext(sc, 1)
        ssc.textFileStream(str(inputs)).window(3, 1).foreachRDD(Sink("win"))
        return ssc

    ssc = StreamingContext.getOrCreate(str(ck), setup)
    ssc.start()
    for i in range(3):
        put(inputs, f"f{i}", f"l{i}", i * 1000 + 500)
        advance(ssc, 1)
    ssc.stop(stopSparkContext=False)
    assert SINK["win"][-1] == (3000, ["l0", "l1", "l2"])
    ssc = StreamingContext.getOrCreate(str(ck), setup)
    put(inputs, "f3", "l3", 3500)
    ssc.start()
    advance(ssc, 2)
    assert SINK["win"][-2:] == [(4000, ["l1", "l2", "l3"]), (5000, ["l2", "l3"])]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_newest_falls_back_with_warning(
    sc: SparkContext, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    ck = run_word_count(tmp_path, sc, 3)
    newest = ck / "checkpoint-3000"
    data = newest.read_bytes()
    if damage == "truncate":
        newest.write_bytes(data[: len(data) // 2])
    else:
        newest.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    with caplog.at_level(logging.WARNING, logger="ferrostream"):
        ssc = StreamingContext.getOrCreate(str(ck), lambda: pytest.fail("setup called"))
    assert "checkpoint-3000" in caplog.text and "falling back to" in caplog.text
    assert ssc._recovered_from == str(ck / "checkpoint-2000")
    SINK["wc"] = []
    ssc.start()
    advance(ssc, 1)
    # Batch 3000 runs again from the state of 2000 (its file f2 is read again).
    assert SINK["wc"] == [(3000, [("a", 4), ("b", 3), ("c", 1)])]


def test_every_file_damaged_is_a_clear_error(sc: SparkContext, tmp_path: Path) -> None:
    ck = run_word_count(tmp_path, sc, 2)
    for name in checkpoint_files(ck):
        (ck / name).write_bytes(b"FRSTCKPT")
    with pytest.raises(IllegalStateException) as info:
        StreamingContext.getOrCreate(str(ck), lambda: pytest.fail("setup called"))
    assert f"no intact checkpoint in {ck}" in str(info.value)
    assert "Delete the directory" in str(info.value)


def test_incremental_window_over_transformed_input_restored(
    sc: SparkContext, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    ck = tmp_path / "ck"

    def setup() -> StreamingContext:
        ssc = StreamingContext(sc, 1)
        pairs = ssc.textFileStream(str(inputs)).map(with_one)
        pairs.reduceByKeyAndWindow(operator.add, operator.sub, 5, 1).foreachRDD(Sink("inc"))
        return ssc

    for run, files in enumerate([range(0, 6), range(6, 8)]):
        ssc = StreamingContext.getOrCreate(str(ck), setup)
        assert (ssc._recovered_from is not None) == (run == 1)
        ssc.start()
        for i in files:
            put(inputs, f"f{i}", f"w{i}", i * 1000 + 500)
            advance(ssc, 1)
        ssc.stop(stopSparkContext=False)
    ones = [("w3", 1), ("w4", 1), ("w5", 1), ("w6", 1), ("w7", 1)]
    assert SINK["inc"][-1] == (8000, [("w0", 0), ("w1", 0), ("w2", 0), *ones])


def write_payload(ck: Path, payload: bytes) -> None:
    """A checkpoint whose graph file holds ``payload``, written by the engine."""
    from ferrostream import _native

    ctx = _native.EngineContext(1)
    engine = _native.StreamingEngine(ctx, 1000, True)
    engine.foreach_rdd(engine.queue_stream([], True, None), lambda t, r: None, "x")
    engine.set_checkpoint_dir(str(ck))
    engine.set_checkpoint_graph(payload)
    engine.start()
    engine.advance_clock(1000)
    engine.stop(False)
    ctx.stop()


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not a pickle", "UnpicklingError"),
        (pickle.dumps({"format": GRAPH_FORMAT + 1}), "graph format"),
        (pickle.dumps(["something else"]), "not a ferrostream streaming checkpoint"),
    ],
)
def test_incompatible_payload_is_a_clear_error(
    sc: SparkContext, tmp_path: Path, payload: bytes, why: str
) -> None:
    ck = tmp_path / "ck"
    write_payload(ck, payload)
    assert checkpoint_files(ck) == ["checkpoint-1000"]
    with pytest.raises(IllegalStateException) as info:
        StreamingContext.getOrCreate(str(ck), lambda: pytest.fail("setup called"))
    text = str(info.value)
    assert f"Failed to read checkpoint from directory {ck}" in text
    assert why in text and "Delete the directory" in text


# The container's format version: 1 was the per-batch pickled payload, 2 stored state values
# in a second serde encoding (state partitions now use the worker partition codec).
@pytest.mark.parametrize("version", [1, 2])
def test_checkpoint_of_a_previous_format_is_refused_with_advice(
    sc: SparkContext, tmp_path: Path, version: int
) -> None:
    ck = tmp_path / "ck"
    write_payload(ck, b"x")
    newest = ck / "checkpoint-1000"
    data = bytearray(newest.read_bytes())
    data[8:12] = version.to_bytes(4, "little")
    newest.write_bytes(bytes(data))
    with pytest.raises(IllegalStateException) as info:
        StreamingContext.getOrCreate(str(ck), lambda: pytest.fail("setup called"))
    text = str(info.value)
    assert str(ck) in text and f"format {version})" in text and "Delete the directory" in text


def test_function_of_a_missing_module_is_a_clear_error(sc: SparkContext, tmp_path: Path) -> None:
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "ckpt_user_mod.py").write_text("def twice(x):\n    return 2 * x\n")
    sys.path.insert(0, str(module_dir))
    try:
        import ckpt_user_mod  # type: ignore[import-not-found]

        ssc = StreamingContext(sc, 1)
        ssc.checkpoint(str(tmp_path / "ck"))
        ssc.textFileStream(str(tmp_path)).map(ckpt_user_mod.twice).foreachRDD(Sink("m"))
        ssc.start()
        advance(ssc, 1)
        ssc.stop(stopSparkContext=False)
    finally:
        sys.path.remove(str(module_dir))
        sys.modules.pop("ckpt_user_mod", None)
    with pytest.raises(IllegalStateException) as info:
        StreamingContext.getOrCreate(str(tmp_path / "ck"), lambda: pytest.fail("setup called"))
    text = str(info.value)
    assert "No module named 'ckpt_user_mod'" in text and "transform" in text
    assert str(tmp_path / "ck") in text and "Delete the directory" in text


def test_get_active_or_create_recovers(sc: SparkContext, tmp_path: Path) -> None:
    ck = run_word_count(tmp_path, sc, 1)
    ssc = StreamingContext.getActiveOrCreate(str(ck), lambda: pytest.fail("setup called"))
    assert ssc._recovered_from is not None
    ssc.start()
    assert StreamingContext.getActiveOrCreate(str(ck), lambda: pytest.fail("x")) is ssc


def test_dstream_functions_pickle_without_contexts(sc: SparkContext, tmp_path: Path) -> None:
    import cloudpickle  # type: ignore[import-untyped]

    ssc = StreamingContext(sc, 1)
    a = ssc.queueStream([[("k", 1)]])
    b = ssc.queueStream([[("k", 2)]])
    joined: DStream[Any] = a.map(lambda kv: kv).join(b).union(a.leftOuterJoin(b))
    joined.reduceByKey(lambda x, y: x).mapValues(str).pprint()
    joined.saveAsTextFiles(str(tmp_path / "out"))
    ssc.transform([a, b], lambda rdds: rdds[0]).count().foreachRDD(lambda t, r: None)
    for call in ssc._engine.calls:
        for arg in call.args:
            if callable(arg):
                blob = cloudpickle.dumps(arg)
                assert b"SparkContext" not in blob and b"StreamingContext" not in blob


# ------------------------------------------------------------------------------------------
# keyed state in the engine: state files, replay since the last one, host values


class Tally:
    """A state value the engine keeps as a host object (pickled into state files)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tally) and other.n == self.n

    def __repr__(self) -> str:
        return f"Tally({self.n})"


def tally(values: list[int], state: Optional[Tally]) -> Tally:
    return Tally(sum(values) + (state.n if state else 0))


def tally_setup(sc: SparkContext, inputs: Path, key: str) -> Callable[[], StreamingContext]:
    def setup() -> StreamingContext:
        ssc = StreamingContext(sc, 1)
        words = ssc.textFileStream(str(inputs)).flatMap(split_words).map(with_one)
        words.updateStateByKey(tally).checkpoint(3).foreachRDD(Sink(key))
        return ssc

    return setup


def test_recovery_replays_the_batches_since_the_last_state_file(
    sc: SparkContext, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    ck = tmp_path / "ck"
    texts = ["a b", "a", "b c", "a", "c c", "b", "a d", "d"]
    ssc = StreamingContext.getOrCreate(str(ck), tally_setup(sc, inputs, "tally"))
    ssc.start()
    for i, text in enumerate(texts[:5]):
        put(inputs, f"f{i}", text, i * 1000 + 500)
        advance(ssc, 1)
    ssc.stop(stopSparkContext=False)
    # The state file is at 3000: batches 4000 and 5000 are replayed from their files.
    assert sorted(n for n in os.listdir(ck) if n.startswith("state-")) == ["state-2-3000"]
    SINK["tally"] = []
    ssc = StreamingContext.getOrCreate(str(ck), lambda: pytest.fail("setup called"))
    ssc.start()
    for i, text in enumerate(texts[5:], start=5):
        put(inputs, f"f{i}", text, i * 1000 + 500)
        advance(ssc, 1)
    counts: dict[str, int] = {}
    for text in texts:
        for w in text.split():
            counts[w] = counts.get(w, 0) + 1
    # Every word counted exactly once across the restart.
    assert SINK["tally"][-1] == (8000, sorted((w, Tally(n)) for w, n in counts.items()))


@pytest.mark.in_process
def test_unpicklable_state_value_names_the_stream_and_function(
    sc: SparkContext, tmp_path: Path
) -> None:
    def with_lock(values: list[int], state: Any) -> Any:
        return threading.Lock()

    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(str(tmp_path / "ck"))
    src = ssc.textFileStream(str(tmp_path / "in"))
    (tmp_path / "in").mkdir()
    src.map(with_one).updateStateByKey(with_lock).checkpoint(1).foreachRDD(lambda rdd: None)
    ssc.start()
    put(tmp_path / "in", "f0", "a", 500)
    advance(ssc, 1)
    with pytest.raises(SparkException) as info:
        ssc.awaitTerminationOrTimeout(1)
    text = str(info.value)
    assert "cannot checkpoint the state of updateStateByKey at test_checkpoint.py:" in text
    assert "with_lock" in text
    assert "cannot pickle" in text


def socket_window_setup(sc: SparkContext, port: int) -> Callable[[], StreamingContext]:
    def setup() -> StreamingContext:
        ssc = StreamingContext(sc, 1)
        lines = ssc.socketTextStream("127.0.0.1", port)
        counts = lines.map(with_one).reduceByKeyAndWindow(operator.add, None, 3, 1)
        counts.map(lambda kv: kv[1]).foreachRDD(Sink("socket-window"))
        lines.countByWindow(3, 1).foreachRDD(Sink("socket-count"))
        return ssc

    return setup


def test_windows_over_a_socket_stream_survive_recovery(sc: SparkContext, tmp_path: Path) -> None:
    from ferrostream.lineserver import LineServer

    ck = tmp_path / "ck"
    with LineServer(["x"]) as server:
        for run in range(3):
            ssc = StreamingContext.getOrCreate(str(ck), socket_window_setup(sc, server.port))
            assert (ssc._recovered_from is not None) == (run > 0)
            ssc.start()
            advance(ssc, 3)
            # Every batch ran: no error from the facade or the engine, before or after a
            # restart (input received before a restart is empty, with a warning).
            assert ssc.awaitTerminationOrTimeout(0.001) is False
            ssc.stop(stopSparkContext=False)
    # Three runs of three batches, each batch once, none lost to a failure.
    assert [t for t, _ in SINK["socket-count"]] == [t * 1000 for t in range(1, 10)]
    assert [t for t, _ in SINK["socket-window"]] == [t * 1000 for t in range(1, 10)]
