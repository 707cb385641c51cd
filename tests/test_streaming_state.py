"""updateStateByKey: exact per-batch state with the manual clock (Spark 3.5 rules)."""

from __future__ import annotations

import operator
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import cloudpickle  # type: ignore[import-untyped]
import pytest

from ferrostream import _native
from ferrostream.errors import IllegalArgumentException, SparkException
from ferrostream.streaming import DStream, StreamingContext
from ferrostream.testing import batch_times, collect_stream, run_batches
from streaming_helpers import NO_CHECKPOINT, OutputOutcomes, run


def running_sum(values: list[int], state: Optional[int]) -> int:
    return sum(values) + (state or 0)


@pytest.fixture
def ssc(checkpointed_ssc: StreamingContext) -> StreamingContext:
    return checkpointed_ssc


def sort_all(batches: list[list[Any]]) -> list[list[Any]]:
    return [sorted(b) for b in batches]


def test_running_sum_emitted_every_batch(ssc: StreamingContext, engine_mode: str) -> None:
    data = [[("a", 1), ("b", 2), ("a", 3)], [("b", 1)], [], [("c", 7)]]
    out = run(ssc, data, lambda s: s.updateStateByKey(running_sum), 6)
    assert sort_all(out) == [
        [("a", 4), ("b", 2)],
        [("a", 4), ("b", 3)],
        [("a", 4), ("b", 3)],
        [("a", 4), ("b", 3), ("c", 7)],
        [("a", 4), ("b", 3), ("c", 7)],
        [("a", 4), ("b", 3), ("c", 7)],
    ]


@pytest.mark.in_process
def test_update_function_arguments(ssc: StreamingContext) -> None:
    calls: list[tuple[list[int], Optional[int]]] = []

    def update(values: list[int], state: Optional[int]) -> int:
        assert isinstance(values, list)
        calls.append((sorted(values), state))
        return running_sum(values, state)

    src = ssc.queueStream([[("a", 1), ("a", 2), ("a", 3)]])
    out = collect_stream(src.updateStateByKey(update))
    ssc.start()
    run_batches(ssc, 1)
    # First sight of a key: its values grouped, state None.
    assert calls == [([1, 2, 3], None)]
    run_batches(ssc, 2)
    # No new values: [] and the state, every batch.
    assert calls == [([1, 2, 3], None), ([], 6), ([], 6)]
    assert out == [[("a", 6)]] * 3


@pytest.mark.in_process
def test_new_values_grouped_across_partitions(ssc: StreamingContext) -> None:
    seen: list[tuple[list[int], Optional[list[int]]]] = []

    def collect_values(values: list[int], state: Optional[list[int]]) -> list[int]:
        seen.append((sorted(values), state))
        return sorted((state or []) + values)

    sc = ssc.sparkContext
    rdd = sc.parallelize([("k", 3), ("k", 1), ("k", 2), ("k", 5)], 4)
    out = collect_stream(ssc.queueStream([rdd, [("k", 4)]]).updateStateByKey(collect_values))
    ssc.start()
    run_batches(ssc, 2)
    assert out == [[("k", [1, 2, 3, 5])], [("k", [1, 2, 3, 4, 5])]]
    assert seen == [([1, 2, 3, 5], None), ([4], [1, 2, 3, 5])]


def test_returning_none_deletes_the_key(ssc: StreamingContext) -> None:
    def until_stop(values: list[Any], state: Optional[int]) -> Optional[int]:
        if "stop" in values:
            return None
        return (state or 0) + len(values)

    data = [[("a", 1), ("b", 1)], [("a", "stop"), ("b", 2)], [("a", 5)], [("b", "stop")]]
    out = run(ssc, data, lambda s: s.updateStateByKey(until_stop), 5)
    assert sort_all(out) == [
        [("a", 1), ("b", 1)],
        [("b", 2)],
        [("a", 1), ("b", 2)],
        [("a", 1)],
        [("a", 1)],
    ]


def test_new_key_returning_none_is_never_stored(ssc: StreamingContext) -> None:
    out = run(
        ssc,
        [[("a", 1), ("b", -1)]],
        lambda s: s.updateStateByKey(lambda vs, st: None if sum(vs) < 0 else running_sum(vs, st)),
        2,
    )
    assert out == [[("a", 1)], [("a", 1)]]


def test_initial_rdd(ssc: StreamingContext) -> None:
    sc = ssc.sparkContext
    initial = sc.parallelize([("a", 10), ("c", 5)])
    out = run(
        ssc,
        [[("a", 1), ("b", 2)], []],
        lambda s: s.updateStateByKey(running_sum, initialRDD=initial),
        2,
    )
    assert sort_all(out) == [[("a", 11), ("b", 2), ("c", 5)], [("a", 11), ("b", 2), ("c", 5)]]


@pytest.mark.in_process
def test_initial_state_as_list(ssc: StreamingContext) -> None:
    seen: list[tuple[str, list[int], Any]] = []

    def update(values: list[int], state: Any) -> Any:
        seen.append(("call", sorted(values), state))
        return running_sum(values, state)

    out = run(
        ssc,
        [[("a", 1)]],
        lambda s: s.updateStateByKey(update, initialRDD=[("a", 100), ("z", 1)]),
        1,
    )
    assert sorted(out[0]) == [("a", 101), ("z", 1)]
    assert sorted(seen, key=lambda call: call[2]) == [("call", [], 1), ("call", [1], 100)]


def test_empty_initial_list_means_no_initial_state(ssc: StreamingContext) -> None:
    out = run(ssc, [[("a", 1)]], lambda s: s.updateStateByKey(running_sum, initialRDD=[]), 1)
    assert out == [[("a", 1)]]


def test_batches_without_parent_rdd_keep_the_state(ssc: StreamingContext) -> None:
    # The parent has no RDD for empty batches: the state stays (none before the first
    # state, so nothing is output), and the initial state is used once data comes.
    src = ssc.queueStream([[], [("a", 1)], [], [("a", 2)]])
    sparse = src.transform(lambda rdd: None if rdd.isEmpty() else rdd)
    out = collect_stream(sparse.updateStateByKey(running_sum, initialRDD=[("z", 5)]))
    ssc.start()
    run_batches(ssc, 4)
    assert ssc.awaitTerminationOrTimeout(0.001) is False
    assert sort_all(out) == [[("a", 1), ("z", 5)], [("a", 1), ("z", 5)], [("a", 3), ("z", 5)]]


def test_num_partitions(ssc: StreamingContext) -> None:
    sizes: list[int] = []
    state = ssc.queueStream([[("a", 1), ("b", 2), ("c", 3)]]).updateStateByKey(running_sum, 3)
    state.foreachRDD(lambda rdd: sizes.append(rdd.getNumPartitions()))
    ssc.start()
    run_batches(ssc, 2)
    assert sizes == [3, 3]


def test_default_num_partitions(ssc: StreamingContext) -> None:
    sizes: list[int] = []
    state = ssc.queueStream([[("a", 1)]]).updateStateByKey(running_sum)
    state.foreachRDD(lambda rdd: sizes.append(rdd.getNumPartitions()))
    ssc.start()
    run_batches(ssc, 2)
    assert sizes == [ssc.sparkContext.defaultParallelism] * 2


def test_state_of_a_windowed_stream_updates_every_slide(ssc: StreamingContext) -> None:
    src = ssc.queueStream([[("a", 1)], [("a", 2)], [("a", 4)], [("a", 8)]])
    state = src.window(2, 2).updateStateByKey(running_sum)
    out = collect_stream(state)
    times = batch_times(state)
    ssc.start()
    run_batches(ssc, 6)
    assert times == [datetime.fromtimestamp(float(s)) for s in (2, 4, 6)]
    assert out == [[("a", 3)], [("a", 15)], [("a", 15)]]


def test_state_after_reduce_by_key(ssc: StreamingContext, engine_mode: str) -> None:
    data = [["x", "y", "x"], ["y"]]

    def op(s: DStream[Any]) -> DStream[Any]:
        return s.map(lambda w: (w, 1)).reduceByKey(operator.add).updateStateByKey(running_sum)

    out = run(ssc, data, op, 2)
    assert sort_all(out) == [[("x", 2), ("y", 1)], [("x", 2), ("y", 2)]]


def test_pairs_built_natively_reach_the_state_as_columns(ssc: StreamingContext) -> None:
    # `map(lambda w: (key, value))` before the state: the map side hands keys and values to
    # the state's shuffle as columns; states are what Python computes. A partition with a key
    # native code does not model (a Python object) builds its pairs the general way.
    data: list[list[Any]] = [
        ["ab", "c", "ab", "dddddddddddddddddddd"],
        ["c", Station("s"), "ab"],
        ["c", "c"],
    ]

    def expected_states(key: Any, value: Any) -> list[list[Any]]:
        states: dict[Any, Any] = {}
        out = []
        for batch in data:
            for w in batch:
                k = key(w)
                states[k] = states.get(k, 0) + value(w)
            out.append(sorted((name(k), v) for k, v in states.items()))
        return out

    def name(key: Any) -> str:
        w, zero = key
        return f"{w.name if isinstance(w, Station) else w}/{zero}"

    def named(batches: list[list[Any]]) -> list[list[Any]]:
        return [sorted((name(k), v) for k, v in batch) for batch in batches]

    _native.reset_native_stats()
    out = run(ssc, data, lambda s: s.map(lambda w: ((w, 0), 1)).updateStateByKey(running_sum), 3)
    assert named(out) == expected_states(lambda w: (w, 0), lambda w: 1)
    stats = _native.native_stats()
    # Every map partition but the one holding the Python object (3 batches).
    assert stats["keyed_map_sides"] == 3 * ssc.sparkContext.defaultParallelism - 1, stats


def test_sum_of_new_values_is_exact_for_bools_floats_and_big_ints(ssc: StreamingContext) -> None:
    # The engine adds up the new values as they come when the function reads them only
    # through sum(): exact for ints and bools; floats and sums past 64 bits go the whole
    # list's way, so every state is what Python computes.
    data = [
        [("a", True), ("b", 0.1), ("a", True), ("b", 0.2), ("c", 2**62)],
        [("a", 3), ("b", 0.3), ("c", 2**62), ("c", 1), ("d", False)],
    ]
    expected: list[list[Any]] = []
    state: dict[Any, Any] = {}
    for batch in data:
        new: dict[Any, list[Any]] = {}
        for k, v in batch:
            new.setdefault(k, []).append(v)
        state = {k: sum(new.get(k, [])) + (state.get(k) or 0) for k in {*state, *new}}
        expected.append(sorted(state.items()))
    out = run(ssc, data, lambda s: s.updateStateByKey(lambda vs, st: sum(vs) + (st or 0)), 2)
    assert sort_all(out) == expected
    assert [type(v) for _, v in sorted(out[1])] == [type(v) for _, v in expected[1]]
    assert dict(out[1])["c"] == 2**63 + 1


@pytest.mark.in_process
def test_failed_update_fails_only_its_batch(ssc: StreamingContext) -> None:
    calls: list[list[Any]] = []

    def update(values: list[Any], state: Optional[int]) -> int:
        calls.append(sorted(values, key=repr))
        if "boom" in values:
            raise ValueError("bad value in batch")
        return running_sum(values, state)

    data = [[("a", 1)], [("a", 2), ("b", "boom")], [("a", 4)], [("b", 1)]]
    outcomes = OutputOutcomes()
    ssc.addStreamingListener(outcomes)
    out = collect_stream(ssc.queueStream(data).updateStateByKey(update))
    ssc.start()
    run_batches(ssc, 5)
    with pytest.raises(SparkException) as info:
        ssc.awaitTerminationOrTimeout(1)
    assert type(info.value.__cause__) is ValueError
    assert str(info.value.__cause__) == "bad value in batch"
    assert (outcomes.ok, outcomes.failed) == ([1, 3, 4, 5], [2])
    # Batch 2 produced nothing; batch 3 went on from batch 1's state (a = 1).
    assert sort_all(out) == [[("a", 1)], [("a", 5)], [("a", 5), ("b", 1)], [("a", 5), ("b", 1)]]
    # The failing batch's values were not offered to updateFunc again.
    assert sum(1 for c in calls if "boom" in c) == 1


def test_failed_batch_leaves_every_partition_as_it_was(ssc: StreamingContext) -> None:
    # Key 0 is in partition 0 and key 1 in partition 1. In batch 2, partition 0 updates
    # natively; partition 1 meets a str, goes to Python and fails: neither partition changes.
    data = [[(0, 1), (1, 1)], [(0, 2), (1, "x")], [(0, 4), (1, 8)]]
    outcomes = OutputOutcomes()
    ssc.addStreamingListener(outcomes)
    state = ssc.queueStream(data).updateStateByKey(lambda new, old: sum(new) + (old or 0), 2)
    out = collect_stream(state)
    ssc.start()
    run_batches(ssc, 4)
    with pytest.raises(SparkException) as info:
        ssc.awaitTerminationOrTimeout(1)
    assert type(info.value.__cause__) is TypeError
    assert (outcomes.ok, outcomes.failed) == ([1, 3, 4], [2])
    assert sort_all(out) == [[(0, 1), (1, 1)], [(0, 5), (1, 9)], [(0, 5), (1, 9)]]


@pytest.mark.in_process
def test_rdds_of_earlier_batches_keep_their_state(ssc: StreamingContext) -> None:
    # The store is updated in place only where nothing else holds it: an RDD the program kept
    # from an earlier batch still reads the state of that batch.
    kept: list[Any] = []
    data = [[("a", 1), ("b", 1)], [("a", 2)], [("b", 5), ("c", 1)]]
    state = ssc.queueStream(data).updateStateByKey(lambda new, old: sum(new) + (old or 0))
    state.foreachRDD(lambda rdd: kept.append(rdd))
    ssc.start()
    run_batches(ssc, 3)
    assert [sorted(rdd.collect()) for rdd in kept] == [
        [("a", 1), ("b", 1)],
        [("a", 3), ("b", 1)],
        [("a", 3), ("b", 6), ("c", 1)],
    ]


def test_failure_in_first_batch_keeps_the_initial_state(ssc: StreamingContext) -> None:
    def update(values: list[Any], state: Optional[int]) -> int:
        if "boom" in values:
            raise ValueError("first batch fails")
        return running_sum(values, state)

    outcomes = OutputOutcomes()
    ssc.addStreamingListener(outcomes)
    src = ssc.queueStream([[("a", "boom")], [("a", 1)]])
    out = collect_stream(src.updateStateByKey(update, initialRDD=[("a", 10)]))
    ssc.start()
    run_batches(ssc, 3)
    with pytest.raises(SparkException):
        ssc.awaitTerminationOrTimeout(1)
    assert (outcomes.ok, outcomes.failed) == ([2, 3], [1])
    assert out == [[("a", 11)], [("a", 11)]]


def test_update_func_must_be_callable(bare_ssc: StreamingContext) -> None:
    src = bare_ssc.queueStream([[("a", 1)]])
    with pytest.raises(TypeError, match="updateFunc"):
        src.updateStateByKey(42)  # type: ignore[arg-type]


def test_needs_a_checkpoint_directory(bare_ssc: StreamingContext) -> None:
    bare_ssc.queueStream([[("a", 1)]]).updateStateByKey(running_sum).pprint()
    with pytest.raises(IllegalArgumentException) as info:
        bare_ssc.start()
    assert str(info.value) == NO_CHECKPOINT


def test_spark_context_checkpoint_dir_is_enough(bare_ssc: StreamingContext, tmp_path: Path) -> None:
    bare_ssc.sparkContext.setCheckpointDir(str(tmp_path / "rdd-checkpoints"))
    out = collect_stream(bare_ssc.queueStream([[("a", 1)]]).updateStateByKey(running_sum))
    bare_ssc.start()
    run_batches(bare_ssc, 2)
    assert out == [[("a", 1)], [("a", 1)]]


def test_keyed_streams_hand_the_engine_user_functions_and_their_native_form(
    ssc: StreamingContext,
) -> None:
    src = ssc.queueStream([[("a", 1)]])
    src.updateStateByKey(lambda vs, s: sum(vs) + (s or 0), initialRDD=[("a", 1)]).pprint()
    src.reduceByKeyAndWindow(operator.add, operator.sub, 5, 1, 2, lambda kv: True).pprint()
    src.groupByKeyAndWindow(5, 1).pprint()
    calls = [c for c in ssc._engine.calls if c.method in ("state_stream", "reduced_window_stream")]
    assert [c.method for c in calls] == ["state_stream"] + ["reduced_window_stream"] * 2
    # The recorded calls (what a checkpoint keeps of the graph) pickle with cloudpickle.
    state_args = cloudpickle.loads(cloudpickle.dumps(calls[0].args[1:4]))
    update, update_expr, partitions = state_args
    assert update([2, 3], 1) == 6
    assert update_expr is not None, "sum(vs) + (s or 0) is proven native"
    assert partitions == ssc.sparkContext.defaultParallelism
    window_args = cloudpickle.loads(cloudpickle.dumps(calls[1].args))
    assert window_args[7:10] == (5000, 1000, 2)
    assert window_args[5](("k", 0)) is True


class Station:
    """A key the engine keeps as a Python object; counts its ``__eq__`` calls."""

    eqs = 0

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        return hash(self.name) & 0xFF

    def __eq__(self, other: object) -> bool:
        Station.eqs += 1
        return isinstance(other, Station) and other.name == self.name

    def __repr__(self) -> str:
        return f"Station({self.name!r})"


def test_state_keyed_by_python_objects_is_matched_in_bulk(ssc: StreamingContext) -> None:
    names = [f"s{i}" for i in range(200)]
    batches = [[(Station(n), 1) for n in names] for _ in range(3)]
    out = collect_stream(ssc.queueStream(batches).updateStateByKey(running_sum))
    ssc.start()
    calls_before = int(ssc.sparkContext._ectx.host_key_calls)
    run_batches(ssc, 3)
    # Each batch: hashes and equality for a partition's keys in a few host calls, not one
    # per record or per lookup (3 batches x 2 partitions).
    assert int(ssc.sparkContext._ectx.host_key_calls) - calls_before <= 3 * 2 * 4
    final = sorted((k.name, v) for k, v in out[-1])
    assert final == sorted((n, 3) for n in names)
