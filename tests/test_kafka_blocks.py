"""Native partition blocks for Kafka (a real broker: the ``kafka`` fixture): records of the
``utf8`` and ``bytes`` formats are read into Arrow buffers of keys and values. A fused chain that
starts with ``kv[1]`` (``kv[0]``) reads the values (keys) in place, a Python step gets its
``(key, value)`` tuples built from the buffers, everything else converts to rows; results are
the row path's, errors too."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from operator import add
from typing import Any

import pytest

from ferrostream import SparkContext, _native
from ferrostream.errors import SparkException
from ferrostream.streaming.kafka import KafkaUtils, OffsetRange
from ferrostream.testing import collect_stream, run_batches, streaming_context

_names = itertools.count()

VALUES = ["a b a", "", "b c  d", "\xe9t\xe9 a", "last"]
KEYS = ["k0", None, "k2", "k\xe9", None]


def new_topic(kafka: Any, partitions: int = 1) -> str:
    name = f"blocks{next(_names)}-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(name, partitions=partitions)
    return name


@pytest.fixture(autouse=True)
def stats() -> Iterator[None]:
    _native.reset_native_stats()
    yield
    _native.reset_native_stats()


@pytest.fixture
def records(kafka: Any) -> tuple[str, list[OffsetRange]]:
    """A topic of two partitions holding VALUES (with KEYS) in partition 0 and two keyless
    records in partition 1; the ranges that cover them."""
    topic = new_topic(kafka, partitions=2)
    kafka.produce(topic, VALUES, keys=KEYS, partition=0)
    kafka.produce(topic, ["z a", None], partition=1)
    return topic, [OffsetRange(topic, 0, 0, len(VALUES)), OffsetRange(topic, 1, 0, 2)]


def kafka_rdd(kafka: Any, sc: SparkContext, ranges: list[OffsetRange], **kw: Any) -> Any:
    return KafkaUtils.createRDD(sc, {"metadata.broker.list": kafka.bootstrap}, ranges, **kw)


def test_a_word_count_over_values_reads_them_in_place(
    kafka: Any, sc: SparkContext, records: tuple[str, list[OffsetRange]]
) -> None:
    _, ranges = records
    rdd = kafka_rdd(kafka, sc, ranges)
    counts = (
        rdd.map(lambda kv: kv[1])
        .filter(lambda v: v is not None)
        .flatMap(lambda line: line.split(" "))
        .map(lambda w: (w, 1))
        .reduceByKey(add)
    )
    expected = Counter(w for v in [*VALUES, "z a"] for w in v.split(" "))
    assert sorted(counts.collect()) == sorted(expected.items())
    got = _native.native_stats()
    assert got["blocks_fused"] == 2, got
    assert got["blocks_to_rows"] == 0 and got["fallback_partitions"] == 0, got


def test_keys_and_values_in_place_are_the_rows_values(
    kafka: Any, sc: SparkContext, records: tuple[str, list[OffsetRange]]
) -> None:
    _, ranges = records
    rdd = kafka_rdd(kafka, sc, ranges)
    assert rdd.map(lambda kv: kv[0]).collect() == [*KEYS, None, None]
    assert rdd.map(lambda kv: kv[-1]).collect() == [*VALUES, "z a", None]
    assert _native.native_stats()["blocks_fused"] == 4
    assert _native.native_stats()["blocks_to_rows"] == 0
    # Rows: the same records as (key, value) tuples, as before.
    assert rdd.glom().collect() == [list(zip(KEYS, VALUES)), [(None, "z a"), (None, None)]]
    # A chain that does not start with kv[0] or kv[1] reads rows.
    assert rdd.map(lambda kv: kv[1] if kv[0] else "-").collect() == [
        "a b a",
        "-",
        "b c  d",
        "\xe9t\xe9 a",
        "-",
        "-",
        "-",
    ]
    assert _native.native_stats()["blocks_to_rows"] == 2


def test_a_python_step_gets_the_tuples_built_from_the_buffers(
    kafka: Any, sc: SparkContext, records: tuple[str, list[OffsetRange]]
) -> None:
    _, ranges = records
    rdd = kafka_rdd(kafka, sc, ranges)

    def types(it: Iterator[Any]) -> list[Any]:
        return [(type(kv).__name__, type(kv[0]).__name__, kv) for kv in it]

    expected = [("tuple", type(k).__name__, (k, v)) for k, v in zip(KEYS, VALUES)]
    expected += [("tuple", "NoneType", (None, "z a")), ("tuple", "NoneType", (None, None))]
    assert rdd.mapPartitions(types).collect() == expected
    got = _native.native_stats()
    assert got["blocks_to_python"] == 2 and got["blocks_to_rows"] == 0, got


def test_byte_records_reach_python_decoders_from_the_buffers(kafka: Any, sc: SparkContext) -> None:
    topic = new_topic(kafka)
    kafka.produce(topic, [b"\x01\x02", b"\xff", None], keys=[b"x", None, b""])
    rdd = kafka_rdd(
        kafka, sc, [OffsetRange(topic, 0, 0, 3)], keyDecoder=lambda b: b, valueDecoder=lambda b: b
    )
    assert rdd.collect() == [(b"x", b"\x01\x02"), (None, b"\xff"), (b"", None)]
    got = _native.native_stats()
    assert got["blocks_to_python"] == 1 and got["blocks_to_rows"] == 0, got


def test_a_value_that_is_not_utf8_fails_every_path_with_the_decoders_error(
    kafka: Any, sc: SparkContext
) -> None:
    topic = new_topic(kafka)
    kafka.produce(topic, [b"ok", b"\xffbad"])
    rdd = kafka_rdd(kafka, sc, [OffsetRange(topic, 0, 0, 2)])
    paths = [
        rdd.map(lambda kv: kv[1]).flatMap(lambda v: v.split(" ")),  # fused, in place
        rdd.mapPartitions(lambda it: list(it)),  # a Python step
        rdd,  # rows
    ]
    for path in paths:
        with pytest.raises(SparkException) as info:
            path.collect()
        assert isinstance(info.value.__cause__, UnicodeDecodeError)
        assert "can't decode byte 0xff" in str(info.value.__cause__)


def test_the_direct_stream_word_count_reads_values_in_place(kafka: Any) -> None:
    topic = new_topic(kafka, partitions=2)
    ssc = streaming_context(1, app="kafka_blocks")
    try:
        stream = KafkaUtils.createDirectStream(
            ssc, [topic], {"metadata.broker.list": kafka.bootstrap}
        )
        counts = collect_stream(
            stream.map(lambda kv: kv[1])
            .flatMap(lambda line: line.split(" "))
            .map(lambda w: (w, 1))
            .reduceByKey(add)
        )
        ssc.start()
        kafka.produce(topic, ["a b", "b c"], partition=0)
        kafka.produce(topic, ["a a"], partition=1)
        run_batches(ssc, 1)
        kafka.produce(topic, ["c"], partition=1)
        run_batches(ssc, 1)
    finally:
        ssc.stop()
    assert [sorted(b) for b in counts] == [[("a", 3), ("b", 2), ("c", 1)], [("c", 1)]]
    got = _native.native_stats()
    # Batch 1 reads two ranges, batch 2 one (an empty range is no block).
    assert got["blocks_fused"] == 3, got
    assert got["blocks_to_rows"] == 0 and got["fallback_partitions"] == 0, got
