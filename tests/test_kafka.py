"""``ferrostream.streaming.kafka`` against a real Apache Kafka broker (the ``kafka`` fixture):
Spark 2.4's API and its argument checks, ``createRDD``, direct streams (ranges, offsets,
decoders, rate limits, new partitions, checkpoints) and receiver streams (group commits)."""

from __future__ import annotations

import itertools
import uuid
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ferrostream import SparkContext
from ferrostream.errors import IllegalArgumentException, SparkException
from ferrostream.streaming import StreamingContext
from ferrostream.streaming.kafka import (
    Broker,
    KafkaMessageAndMetadata,
    KafkaUtils,
    OffsetRange,
    TopicAndPartition,
    utf8_decoder,
)
from ferrostream.testing import collect_stream, run_batches, streaming_context
from waiting import wait_until

_names = itertools.count()


def new_topic(kafka: Any, partitions: int = 1) -> str:
    name = f"t{next(_names)}-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(name, partitions=partitions)
    return name


def params(kafka: Any, **extra: str) -> dict[str, str]:
    return {"metadata.broker.list": kafka.bootstrap, "auto.offset.reset": "smallest", **extra}


@pytest.fixture
def ssc(request: pytest.FixtureRequest) -> Any:
    """A manual-clock StreamingContext of 1 s batches."""
    ctx = streaming_context(1, app=request.node.name)
    yield ctx
    ctx.stop(stopSparkContext=True)


# ------------------------------------------------------------------------------------------
# the API's value classes (no broker needed)


def test_offset_range_text_equality_and_fields() -> None:
    r = OffsetRange("words", 2, 10, 20)
    assert (r.topic, r.partition, r.fromOffset, r.untilOffset) == ("words", 2, 10, 20)
    # Spark's text has no closing parenthesis.
    assert str(r) == "OffsetRange(topic: words, partition: 2, range: [10 -> 20]"
    assert r == OffsetRange("words", 2, 10, 20)
    assert r != OffsetRange("words", 2, 10, 21)
    assert r != ("words", 2, 10, 20)


def test_topic_and_partition_equality_and_hash() -> None:
    a, b = TopicAndPartition("t", 1), TopicAndPartition("t", 1)
    assert a == b and hash(a) == hash(b) and not (a != b)
    assert a != TopicAndPartition("t", 2)
    assert {a: 5}[b] == 5


def test_message_and_metadata_decodes_lazily() -> None:
    m = KafkaMessageAndMetadata("t", 0, 7, b"k", b"v")
    assert (m.topic, m.partition, m.offset, m.key, m.message) == ("t", 0, 7, "k", "v")
    m._set_value_decoder(lambda b: b[::-1])
    assert m.message == b"v"
    expected = "KafkaMessageAndMetadata(topic: t, partition: 0, offset: 7, key and message...)"
    assert str(m) == repr(m) == expected
    b = Broker("h", 9092)
    assert (b._host, b._port) == ("h", 9092)


def test_utf8_decoder() -> None:
    assert utf8_decoder(None) is None
    assert utf8_decoder("é".encode()) == "é"
    with pytest.raises(UnicodeDecodeError):
        utf8_decoder(b"\xff")


def test_argument_checks_raise_sparks_type_errors(ssc: StreamingContext) -> None:
    with pytest.raises(TypeError, match=r"^topics should be list$"):
        KafkaUtils.createDirectStream(ssc, "t", {"metadata.broker.list": "x:1"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^kafkaParams should be dict$"):
        KafkaUtils.createDirectStream(ssc, ["t"], [("a", "b")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"TopicAndPartition"):
        KafkaUtils.createDirectStream(
            ssc,
            ["t"],
            {"metadata.broker.list": "x:1"},
            fromOffsets={("t", 0): 1},  # type: ignore[dict-item]
        )
    with pytest.raises(TypeError, match=r"^topics should be dict$"):
        KafkaUtils.createStream(ssc, "zk:2181", "g", ["t"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^kafkaParams should be dict$"):
        KafkaUtils.createRDD(ssc.sparkContext, "x", [])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^offsetRanges should be list$"):
        KafkaUtils.createRDD(ssc.sparkContext, {}, OffsetRange("t", 0, 0, 1))  # type: ignore[arg-type]


def test_settings_are_checked_when_the_stream_is_made(ssc: StreamingContext) -> None:
    with pytest.raises(IllegalArgumentException, match=r"no.such.setting"):
        KafkaUtils.createDirectStream(
            ssc, ["t"], {"metadata.broker.list": "127.0.0.1:1", "no.such.setting": "1"}
        )
    with pytest.raises(IllegalArgumentException, match=r"metadata.broker.list"):
        KafkaUtils.createDirectStream(ssc, ["t"], {"auto.offset.reset": "smallest"})
    # The build has no OpenSSL: SSL is refused up front, by name.
    with pytest.raises(IllegalArgumentException, match=r"security.protocol"):
        KafkaUtils.createDirectStream(
            ssc, ["t"], {"metadata.broker.list": "127.0.0.1:1", "security.protocol": "SSL"}
        )
    # fromOffsets must name the same topics (Spark's IllegalStateException).
    with pytest.raises(Exception, match=r"do not equal to the topic from offsets"):
        KafkaUtils.createDirectStream(
            ssc,
            ["a"],
            {"metadata.broker.list": "127.0.0.1:1"},
            fromOffsets={TopicAndPartition("b", 0): 0},
        )


def test_no_deprecation_warning(ssc: StreamingContext) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KafkaUtils.createDirectStream(ssc, ["t"], {"metadata.broker.list": "127.0.0.1:1"})
        OffsetRange("t", 0, 0, 1)
        TopicAndPartition("t", 0)


# ------------------------------------------------------------------------------------------
# createRDD


def test_create_rdd_reads_exactly_the_ranges(kafka: Any, sc: SparkContext) -> None:
    topic = new_topic(kafka, partitions=2)
    kafka.produce(
        topic, [f"a{i}" for i in range(10)], keys=[f"k{i}" for i in range(10)], partition=0
    )
    kafka.produce(topic, [f"b{i}" for i in range(5)], partition=1)
    ranges = [OffsetRange(topic, 0, 2, 6), OffsetRange(topic, 1, 0, 5)]
    rdd = KafkaUtils.createRDD(sc, {"metadata.broker.list": kafka.bootstrap}, ranges)
    assert rdd.getNumPartitions() == 2
    assert rdd.glom().collect() == [
        [(f"k{i}", f"a{i}") for i in range(2, 6)],
        [(None, f"b{i}") for i in range(5)],
    ]
    assert rdd.offsetRanges() == ranges


def test_create_rdd_with_decoders_and_a_message_handler(kafka: Any, sc: SparkContext) -> None:
    topic = new_topic(kafka)
    kafka.produce(topic, [b"\x01\x02", b"\x03"], keys=[b"x", b"y"])
    got = KafkaUtils.createRDD(
        sc,
        {"metadata.broker.list": kafka.bootstrap},
        [OffsetRange(topic, 0, 0, 2)],
        keyDecoder=lambda b: b,
        valueDecoder=lambda b: list(b),
    ).collect()
    assert got == [(b"x", [1, 2]), (b"y", [3])]

    def handler(m: KafkaMessageAndMetadata) -> tuple[Any, ...]:
        return (m.topic, m.partition, m.offset, m.key, m.message)

    got = KafkaUtils.createRDD(
        sc,
        {"metadata.broker.list": kafka.bootstrap},
        [OffsetRange(topic, 0, 0, 2)],
        valueDecoder=lambda b: b.hex(),
        messageHandler=handler,
    ).collect()
    assert got == [(topic, 0, 0, "x", "0102"), (topic, 0, 1, "y", "03")]


def test_create_rdd_refuses_ranges_the_broker_does_not_hold(kafka: Any, sc: SparkContext) -> None:
    topic = new_topic(kafka)
    kafka.produce(topic, ["a", "b", "c"])
    p = {"metadata.broker.list": kafka.bootstrap}
    with pytest.raises(SparkException, match=r"Offsets not available on leader: .*\[0 -> 3\]"):
        KafkaUtils.createRDD(sc, p, [OffsetRange(topic, 0, 0, 10)])
    with pytest.raises(SparkException, match=r"has no partition 3"):
        KafkaUtils.createRDD(sc, p, [OffsetRange(topic, 3, 0, 1)])
    with pytest.raises(SparkException, match=r"does not exist"):
        KafkaUtils.createRDD(sc, p, [OffsetRange("no-such-topic", 0, 0, 1)])
    with pytest.raises(IllegalArgumentException, match=r"after the ending offset"):
        KafkaUtils.createRDD(sc, p, [OffsetRange(topic, 0, 2, 1)])


def test_a_value_that_is_not_utf8_fails_with_the_decoders_error(
    kafka: Any, sc: SparkContext
) -> None:
    topic = new_topic(kafka)
    kafka.produce(topic, [b"ok", b"\xffbad"])
    rdd = KafkaUtils.createRDD(
        sc, {"metadata.broker.list": kafka.bootstrap}, [OffsetRange(topic, 0, 0, 2)]
    )
    with pytest.raises(SparkException) as info:
        rdd.collect()
    assert isinstance(info.value.__cause__, UnicodeDecodeError)
    assert "can't decode byte 0xff" in str(info.value.__cause__)


def test_an_unreachable_broker_is_named(sc: SparkContext) -> None:
    with pytest.raises(SparkException, match=r"127.0.0.1:1"):
        KafkaUtils.createRDD(
            sc, {"metadata.broker.list": "127.0.0.1:1"}, [OffsetRange("t", 0, 0, 1)]
        )


# ------------------------------------------------------------------------------------------
# direct streams


def test_direct_stream_reads_new_records_each_batch(kafka: Any, ssc: StreamingContext) -> None:
    topic = new_topic(kafka, partitions=3)
    kafka.produce(topic, ["before"], partition=0)
    # Default (largest): only records produced after the stream was made.
    stream = KafkaUtils.createDirectStream(ssc, [topic], {"metadata.broker.list": kafka.bootstrap})
    ranges: list[list[OffsetRange]] = []
    stream.foreachRDD(lambda rdd: ranges.append(rdd.offsetRanges()))
    batches = collect_stream(stream.map(lambda kv: kv[1]))
    counts = collect_stream(stream.count())
    ssc.start()
    for p in range(3):
        kafka.produce(topic, [f"x{p}", f"y{p}"], partition=p)
    run_batches(ssc, 1)
    kafka.produce(topic, ["z"], partition=1)
    run_batches(ssc, 2)
    assert sorted(batches[0]) == ["x0", "x1", "x2", "y0", "y1", "y2"]
    assert batches[1:] == [["z"], []]
    assert counts == [[6], [1], [0]]
    assert sorted(str(r) for r in ranges[0]) == [
        f"OffsetRange(topic: {topic}, partition: 0, range: [1 -> 3]",
        f"OffsetRange(topic: {topic}, partition: 1, range: [0 -> 2]",
        f"OffsetRange(topic: {topic}, partition: 2, range: [0 -> 2]",
    ]
    assert ranges[1][1] == OffsetRange(topic, 1, 2, 3)


def test_direct_stream_batch_has_one_partition_per_kafka_partition(
    kafka: Any, ssc: StreamingContext
) -> None:
    topic = new_topic(kafka, partitions=4)
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(kafka))
    sizes = collect_stream(stream.glom().map(len))
    ssc.start()
    for p in range(4):
        kafka.produce(topic, ["a"] * (p + 1), partition=p)
    run_batches(ssc, 1)
    assert sizes == [[1, 2, 3, 4]]


def test_from_offsets_and_transform_get_offset_ranges(kafka: Any, ssc: StreamingContext) -> None:
    topic = new_topic(kafka)
    kafka.produce(topic, [str(i) for i in range(10)])
    stream = KafkaUtils.createDirectStream(
        ssc,
        [topic],
        {"metadata.broker.list": kafka.bootstrap},
        fromOffsets={TopicAndPartition(topic, 0): 7},
    )
    seen: list[Any] = []

    def record(t: Any, rdd: Any) -> Any:
        seen.append([str(r) for r in rdd.offsetRanges()])
        return rdd.values()

    out = collect_stream(stream.transform(record))
    ssc.start()
    run_batches(ssc, 1)
    assert out == [["7", "8", "9"]]
    assert seen == [[f"OffsetRange(topic: {topic}, partition: 0, range: [7 -> 10]"]]


def test_max_rate_per_partition_caps_each_batch(kafka: Any) -> None:
    from ferrostream.testing import manual_clock_conf

    conf = manual_clock_conf("rate").set("spark.streaming.kafka.maxRatePerPartition", "3")
    sc = SparkContext(conf=conf)
    ssc = StreamingContext(sc, 2)
    try:
        topic = new_topic(kafka, partitions=2)
        kafka.produce(topic, [str(i) for i in range(10)], partition=0)
        kafka.produce(topic, [str(i) for i in range(2)], partition=1)
        stream = KafkaUtils.createDirectStream(ssc, [topic], params(kafka))
        counts = collect_stream(stream.glom().map(len))
        ssc.start()
        run_batches(ssc, 3)
        # 3 records/s x 2 s per partition and batch.
        assert counts == [[6, 2], [4, 0], [0, 0]]
    finally:
        ssc.stop(stopSparkContext=True)


def test_partitions_added_while_running_are_read(kafka: Any, ssc: StreamingContext) -> None:
    topic = new_topic(kafka, partitions=1)
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(kafka))
    out = collect_stream(stream.map(lambda kv: kv[1]))
    ssc.start()
    kafka.produce(topic, ["p0"], partition=0)
    run_batches(ssc, 1)
    kafka.add_partitions(topic, 2)
    kafka.produce(topic, ["p1"], partition=1)
    run_batches(ssc, 1)
    assert out == [["p0"], ["p1"]]


def test_an_unknown_topic_fails_start_naming_it(kafka: Any, ssc: StreamingContext) -> None:
    KafkaUtils.createDirectStream(ssc, ["no-such-topic-x"], params(kafka)).pprint()
    with pytest.raises(SparkException, match=r"no-such-topic-x"):
        ssc.start()


def test_a_deleted_topic_fails_the_batch_naming_it(kafka: Any, ssc: StreamingContext) -> None:
    topic = new_topic(kafka)
    KafkaUtils.createDirectStream(ssc, [topic], params(kafka)).pprint()
    ssc.start()
    kafka.delete_topic(topic)
    run_batches(ssc, 1)
    with pytest.raises(SparkException, match=topic):
        ssc.awaitTerminationOrTimeout(5)


def test_custom_decoders_and_message_handler_in_streams(kafka: Any, ssc: StreamingContext) -> None:
    topic = new_topic(kafka)
    decoded = collect_stream(
        KafkaUtils.createDirectStream(
            ssc, [topic], params(kafka), keyDecoder=lambda b: b, valueDecoder=lambda b: len(b)
        )
    )
    handled = KafkaUtils.createDirectStream(
        ssc, [topic], params(kafka), messageHandler=lambda m: (m.offset, m.message.upper())
    )
    ranges: list[Any] = []
    handled.foreachRDD(lambda rdd: ranges.append(rdd.offsetRanges()[0].untilOffset))
    handled_out = collect_stream(handled)
    ssc.start()
    kafka.produce(topic, ["abc", "de"], keys=["k", "l"])
    run_batches(ssc, 1)
    assert decoded == [[(b"k", 3), (b"l", 2)]]
    assert handled_out == [[(0, "ABC"), (1, "DE")]]
    assert ranges == [2]


def test_offset_ranges_only_on_the_rdds_a_kafka_stream_hands_out(
    kafka: Any, ssc: StreamingContext
) -> None:
    topic = new_topic(kafka)
    stream = KafkaUtils.createDirectStream(ssc, [topic], params(kafka))
    errors: list[str] = []

    def derived(rdd: Any) -> None:
        try:
            rdd.offsetRanges()
        except AttributeError as e:
            errors.append(str(e))

    stream.map(lambda kv: kv).foreachRDD(derived)
    ssc.start()
    run_batches(ssc, 1)
    assert errors and "offsetRanges" in errors[0]


# ------------------------------------------------------------------------------------------
# checkpoints


def _counting_job(checkpoint: str, topic: str, bootstrap: str, output: str) -> StreamingContext:
    """A running count of the values of ``topic`` (0.2 s batches), recovered from
    ``checkpoint`` when it holds one; the state is written to ``output`` after each batch."""
    import json
    import os

    def update(new: list[int], old: Any) -> int:
        return sum(new) + (old or 0)

    def save(rdd: Any) -> None:
        with open(output + ".tmp", "w") as fh:
            json.dump(dict(rdd.collect()), fh)
        os.replace(output + ".tmp", output)

    def setup() -> StreamingContext:
        ssc = StreamingContext(SparkContext.getOrCreate(), 0.2)
        ssc.checkpoint(checkpoint)
        s = KafkaUtils.createDirectStream(
            ssc, [topic], {"metadata.broker.list": bootstrap, "auto.offset.reset": "smallest"}
        )
        s.map(lambda kv: (kv[1], 1)).updateStateByKey(update).foreachRDD(save)
        return ssc

    return StreamingContext.getOrCreate(checkpoint, setup)


def test_running_counts_go_on_exactly_after_a_restart(kafka: Any, tmp_path: Path) -> None:
    import json

    topic = new_topic(kafka, partitions=2)
    checkpoint, output = str(tmp_path / "cp"), tmp_path / "counts.json"

    def counts() -> Any:
        try:
            return json.loads(output.read_text())
        except (OSError, ValueError):
            return None

    SparkContext("local[2]", "restart")
    ssc = _counting_job(checkpoint, topic, kafka.bootstrap, str(output))
    ssc.start()
    kafka.produce(topic, ["a", "b", "a"], partition=0)
    kafka.produce(topic, ["b"], partition=1)
    wait_until(lambda: counts() == {"a": 2, "b": 2}, "the first counts", timeout=30)
    ssc.stop(stopSparkContext=True, stopGraceFully=True)
    # Produced while the program is down: read by the restarted one, once.
    kafka.produce(topic, ["a", "c"], partition=1)
    SparkContext("local[2]", "restart")
    restored = _counting_job(checkpoint, topic, kafka.bootstrap, str(output))
    try:
        assert restored._recovered_from is not None
        restored.start()
        wait_until(
            lambda: counts() == {"a": 3, "b": 2, "c": 1},
            "the counts after the restart",
            timeout=30,
            details=lambda: str(counts()),
        )
    finally:
        restored.stop(stopSparkContext=True)


def test_secrets_are_not_written_into_the_checkpoint(kafka: Any, tmp_path: Path) -> None:
    ssc = streaming_context(1, app="secret")
    try:
        ssc.checkpoint(str(tmp_path / "cp"))
        topic = new_topic(kafka)
        KafkaUtils.createDirectStream(
            ssc, [topic], params(kafka, **{"sasl.password": "hunter2-secret"})
        ).pprint()
        ssc.start()
        run_batches(ssc, 2)
    finally:
        ssc.stop(stopSparkContext=True)
    files = list((tmp_path / "cp").iterdir())
    assert files
    assert not any(b"hunter2-secret" in p.read_bytes() for p in files)


# ------------------------------------------------------------------------------------------
# receiver streams


def test_receiver_stream_commits_the_group_offsets_after_each_batch(kafka: Any) -> None:
    topic = new_topic(kafka, partitions=2)
    sc = SparkContext("local[2]", "receiver")
    ssc = StreamingContext(sc, 0.2)
    got: Counter[str] = Counter()
    try:
        stream = KafkaUtils.createStream(ssc, "unused:2181", "group-a", {topic: 1}, params(kafka))
        stream.foreachRDD(lambda rdd: got.update(rdd.values().collect()))
        ssc.start()
        kafka.produce(topic, ["x"] * 30, partition=0)
        kafka.produce(topic, ["y"] * 20, partition=1)
        wait_until(lambda: got == Counter(x=30, y=20), "every record received", timeout=30)
        wait_until(
            lambda: kafka.committed("group-a", topic) == {0: 30, 1: 20},
            "the group's offsets committed",
            timeout=30,
            details=lambda: str(kafka.committed("group-a", topic)),
        )
    finally:
        ssc.stop(stopSparkContext=True)


def test_receiver_without_brokers_fails_start_saying_how_to_name_them(
    ssc: StreamingContext,
) -> None:
    # No broker list and no ZooKeeper at the quorum: start() explains what to do.
    KafkaUtils.createStream(ssc, "127.0.0.1:1", "g", {"t": 1}).pprint()
    with pytest.raises(SparkException, match=r"metadata\.broker\.list"):
        ssc.start()


def test_receiver_finds_the_brokers_in_zookeeper(kafka_zookeeper: Any) -> None:
    # Seed 004's call: only a ZooKeeper quorum (with the /kafka chroot) names the cluster.
    topic = new_topic(kafka_zookeeper, partitions=2)
    kafka_zookeeper.produce(topic, ["x", "y", "x"])
    sc = SparkContext("local[2]", "zookeeper")
    ssc = StreamingContext(sc, 0.2)
    got: Counter[str] = Counter()
    try:
        stream = KafkaUtils.createStream(
            ssc,
            kafka_zookeeper.zookeeper,
            "zk-group",
            {topic: 1},
            {"auto.offset.reset": "smallest"},
        )
        stream.foreachRDD(lambda rdd: got.update(rdd.map(lambda kv: kv[1]).collect()))
        ssc.start()
        wait_until(lambda: got == Counter(x=2, y=1), "the records", timeout=60)
    finally:
        ssc.stop(stopSparkContext=True)


def test_a_decoder_that_fails_fails_the_batch_with_its_error(
    kafka: Any, ssc: StreamingContext
) -> None:
    topic = new_topic(kafka)

    def strict(b: bytes) -> str:
        if b.startswith(b"!"):
            raise ValueError(f"cannot decode {b!r}")
        return b.decode()

    KafkaUtils.createDirectStream(ssc, [topic], params(kafka), valueDecoder=strict).pprint()
    ssc.start()
    kafka.produce(topic, ["fine", "!bad"])
    run_batches(ssc, 1)
    with pytest.raises(SparkException) as info:
        ssc.awaitTerminationOrTimeout(5)
    assert isinstance(info.value.__cause__, ValueError)
    assert "cannot decode b'!bad'" in str(info.value.__cause__)


def test_invalid_utf8_in_a_stream_fails_the_batch_with_unicode_decode_error(
    kafka: Any, ssc: StreamingContext
) -> None:
    topic = new_topic(kafka)
    KafkaUtils.createDirectStream(ssc, [topic], params(kafka)).pprint()
    ssc.start()
    kafka.produce(topic, [b"\xc3("])
    run_batches(ssc, 1)
    with pytest.raises(SparkException) as info:
        ssc.awaitTerminationOrTimeout(5)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)
