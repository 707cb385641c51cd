"""``ferrostream.streaming.kinesis``: Spark 3.5's API and argument checks, and the receiver
reading a real (emulated) Kinesis stream with its DynamoDB lease table (moto, started by
``scripts/kinesis.sh``)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ferrostream import SparkContext, StorageLevel
from ferrostream.errors import IllegalArgumentException, SparkException
from ferrostream.streaming import StreamingContext, StreamingListener
from ferrostream.streaming.kinesis import (
    AtTimestamp,
    InitialPositionInStream,
    KinesisUtils,
    MetricsLevel,
    utf8_decoder,
)
from kinesis_emulator import ACCESS_KEY, SECRET_KEY, KinesisEmulator
from streaming_helpers import ReceiverErrors
from waiting import wait_until

pytestmark = pytest.mark.timeout(120)
IAE = IllegalArgumentException


@pytest.fixture
def ssc() -> Any:
    sc = SparkContext("local[2]", "kinesis")
    ctx = StreamingContext(sc, 0.2)
    yield ctx
    ctx.stop(stopSparkContext=True)


def create(
    ssc: StreamingContext, kinesis: KinesisEmulator, stream: str, app: str, **kw: Any
) -> Any:
    args: dict[str, Any] = dict(
        awsAccessKeyId=ACCESS_KEY,
        awsSecretKey=SECRET_KEY,
    )
    args.update(kw)
    return KinesisUtils.createStream(
        ssc,
        app,
        stream,
        kinesis.endpoint,
        kinesis.region,
        args.pop("initialPositionInStream", InitialPositionInStream.TRIM_HORIZON),
        args.pop("checkpointInterval", 0.2),
        **args,
    )


# ------------------------------------------------------------------------------------------
# the API


def test_constants_and_decoder_are_sparks() -> None:
    assert (InitialPositionInStream.LATEST, InitialPositionInStream.TRIM_HORIZON) == (0, 1)
    assert (MetricsLevel.DETAILED, MetricsLevel.SUMMARY, MetricsLevel.NONE) == (0, 1, 2)
    assert utf8_decoder(None) is None
    assert utf8_decoder("é".encode()) == "é"
    assert isinstance(InitialPositionInStream.atTimestamp(10.5), AtTimestamp)
    assert isinstance(KinesisUtils.__dict__["createStream"], staticmethod)


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        (
            {"initialPositionInStream": 7},
            IllegalArgumentException,
            "Illegal InitialPositionInStream",
        ),
        ({"initialPositionInStream": "LATEST"}, IllegalArgumentException, "Illegal Initial"),
        ({"initialPositionInStream": 2}, IllegalArgumentException, "atTimestamp"),
        ({"checkpointInterval": 0}, ValueError, "positive number"),
        ({"checkpointInterval": -1.5}, ValueError, "positive number"),
        ({"checkpointInterval": "2"}, TypeError, "number of seconds"),
        (
            {"awsAccessKeyId": None},
            IllegalArgumentException,
            "awsSecretKey is set but awsAccessKeyId is null",
        ),
        (
            {"awsSecretKey": None},
            IllegalArgumentException,
            "awsAccessKeyId is set but awsSecretKey is null",
        ),
        (
            {"stsAssumeRoleArn": "arn:aws:iam::1:role/r"},
            IllegalArgumentException,
            "stsExtenalId must all",
        ),
        ({"decoder": 3}, TypeError, "decoder should be callable"),
        ({"storageLevel": "MEMORY"}, TypeError, "storageLevel should be a StorageLevel"),
    ],
)
def test_bad_arguments_fail_at_create_stream(
    ssc: StreamingContext, kw: dict[str, Any], error: type, message: str
) -> None:
    args: dict[str, Any] = dict(
        initialPositionInStream=InitialPositionInStream.LATEST,
        checkpointInterval=2,
        awsAccessKeyId="k",
        awsSecretKey="s",
    )
    args.update(kw)
    with pytest.raises(error, match=message):
        KinesisUtils.createStream(
            ssc,
            "app",
            "stream",
            "http://127.0.0.1:1",
            "us-east-1",
            args.pop("initialPositionInStream"),
            args.pop("checkpointInterval"),
            **args,
        )


def test_empty_names_fail_at_create_stream(ssc: StreamingContext) -> None:
    with pytest.raises(ValueError, match="streamName should not be empty"):
        KinesisUtils.createStream(ssc, "app", "", "http://x", "us-east-1", 0, 1)


def test_spark_24_positional_order_is_recognised(
    ssc: StreamingContext, kinesis: KinesisEmulator
) -> None:
    # Spark 2.4: (..., checkpointInterval, storageLevel, awsAccessKeyId, awsSecretKey, decoder)
    stream = kinesis.new_stream()
    kinesis.put(stream, ["a", "b"])
    got: list[Any] = []
    lock = threading.Lock()

    def add(rdd: Any) -> None:
        with lock:
            got.extend(rdd.collect())

    KinesisUtils.createStream(
        ssc,
        "app24-" + stream,
        stream,
        kinesis.endpoint,
        kinesis.region,
        InitialPositionInStream.TRIM_HORIZON,
        0.5,
        StorageLevel.MEMORY_AND_DISK_2,
        ACCESS_KEY,
        SECRET_KEY,
        lambda b: b.upper(),
    ).foreachRDD(add)
    ssc.start()
    wait_until(lambda: sorted(got) == [b"A", b"B"], "records through the 2.4-style decoder")


# ------------------------------------------------------------------------------------------
# reading


def test_word_count_reads_every_shard_and_checkpoints_to_dynamodb(
    ssc: StreamingContext, kinesis: KinesisEmulator
) -> None:
    stream = kinesis.new_stream(shards=3)
    app = "wordcount-" + stream
    counts: Counter[str] = Counter()
    partitions: list[int] = []
    lock = threading.Lock()

    def add(rdd: Any) -> None:
        with lock:
            counts.update(dict(rdd.collect()))
            partitions.append(rdd.getNumPartitions())

    lines = create(ssc, kinesis, stream, app)
    # The word count of the course's listing 7.21.
    lines.flatMap(lambda line: line.split(" ")).map(lambda w: (w, 1)).reduceByKey(
        lambda a, b: a + b
    ).foreachRDD(add)
    raw: list[list[int]] = []  # per batch: the records of each partition
    lines.foreachRDD(lambda rdd: raw.append([len(p) for p in rdd.glom().collect()]))
    ssc.start()
    text = ["to be or not", "to be", "that is the question"] * 40
    kinesis.put(stream, text)
    expected = Counter(w for line in text for w in line.split(" "))
    wait_until(lambda: counts == expected, "every word counted", details=lambda: str(counts))
    # One partition per shard that had records in the batch: never more than the 3 shards, and
    # every shard's records in some batch (120 records spread over 3 shards by random keys).
    # The raw stream's output runs after the word count's: it may be a batch behind.
    wait_until(
        lambda: sum(sum(b) for b in raw) == len(text),
        "every record in the raw stream",
        details=lambda: str(raw),
    )
    assert all(len(b) <= 3 for b in raw), raw
    assert sum(len([n for n in b if n]) for b in raw) >= 3, raw
    shards = kinesis.shard_ids(stream)
    wait_until(
        lambda: set(kinesis.checkpoints(app)) == set(shards),
        "a checkpoint of every shard in the lease table",
        details=lambda: str(kinesis.checkpoints(app)),
    )


def test_utf8_records_are_strings_and_custom_decoders_get_bytes(
    ssc: StreamingContext, kinesis: KinesisEmulator
) -> None:
    stream = kinesis.new_stream()
    kinesis.put(stream, ["héllo", b"\x00\x01"])
    got: list[Any] = []
    create(
        ssc, kinesis, stream, "dec-" + stream, decoder=lambda b: (type(b).__name__, b)
    ).foreachRDD(lambda rdd: got.extend(rdd.collect()))
    ssc.start()
    wait_until(lambda: len(got) == 2, "both records")
    assert got == [("bytes", "héllo".encode()), ("bytes", b"\x00\x01")]


def test_a_restarted_program_resumes_from_the_lease_table(kinesis: KinesisEmulator) -> None:
    stream = kinesis.new_stream(shards=2)
    app = "resume-" + stream
    kinesis.put(stream, [f"first-{i}" for i in range(50)])

    def run(expected: set[str]) -> list[str]:
        sc = SparkContext("local[2]", "resume")
        ssc = StreamingContext(sc, 0.2)
        got: list[str] = []
        lock = threading.Lock()

        def add(rdd: Any) -> None:
            with lock:
                got.extend(rdd.collect())

        try:
            create(ssc, kinesis, stream, app).foreachRDD(add)
            ssc.start()
            wait_until(lambda: expected <= set(got), "the records", details=lambda: str(got))
            wait_until(lambda: len(kinesis.checkpoints(app)) == 2, "both shards checkpointed")
        finally:
            ssc.stop(stopSparkContext=True)
        return got

    first = {f"first-{i}" for i in range(50)}
    assert sorted(run(first)) == sorted(first)
    kinesis.put(stream, [f"second-{i}" for i in range(30)])
    second = {f"second-{i}" for i in range(30)}
    # Stopped cleanly: the last checkpoint was written at stop, so nothing is read twice.
    assert sorted(run(second)) == sorted(second)


def _read_as(kinesis: KinesisEmulator, stream: str, app: str, n: int) -> None:
    sc = SparkContext("local[2]", "apps")
    ssc = StreamingContext(sc, 0.2)
    got: list[str] = []
    try:
        create(ssc, kinesis, stream, app).foreachRDD(lambda rdd: got.extend(rdd.collect()))
        ssc.start()
        wait_until(lambda: len(got) == n, f"every record for {app}")
    finally:
        ssc.stop(stopSparkContext=True)


def test_two_applications_keep_separate_positions(kinesis: KinesisEmulator) -> None:
    stream = kinesis.new_stream()
    kinesis.put(stream, ["x"] * 5)
    _read_as(kinesis, stream, "one-" + stream, 5)
    first = kinesis.checkpoints("one-" + stream)
    assert first
    # A second application reads everything again, under its own table.
    _read_as(kinesis, stream, "two-" + stream, 5)
    assert kinesis.checkpoints("two-" + stream) == first


def test_latest_skips_what_was_there_before(
    ssc: StreamingContext, kinesis: KinesisEmulator
) -> None:
    stream = kinesis.new_stream()
    kinesis.put(stream, ["old"] * 3)
    got: list[str] = []
    started = threading.Event()

    class Started(StreamingListener):
        def onBatchCompleted(self, batchCompleted: Any) -> None:
            started.set()

    ssc.addStreamingListener(Started())
    create(ssc, kinesis, stream, "latest-" + stream, initialPositionInStream=0).foreachRDD(
        lambda rdd: got.extend(rdd.collect())
    )
    ssc.start()
    wait_until(lambda: bool(kinesis.checkpoints("latest-" + stream)) or started.is_set(), "a batch")
    wait_until(lambda: _table_exists(kinesis, "latest-" + stream), "the lease table")

    # The LATEST iterator is asked for once the receiver holds the shard's lease: records
    # written before then are skipped too, so new ones are written until some arrive.
    def new_arrived() -> bool:
        kinesis.put(stream, ["new"])
        return len(got) >= 2

    wait_until(new_arrived, "the new records", interval=0.2)
    assert set(got) == {"new"}


def _table_exists(kinesis: KinesisEmulator, name: str) -> bool:
    return name in kinesis.client("dynamodb").list_tables()["TableNames"]


def test_at_timestamp_starts_at_records_after_it(
    ssc: StreamingContext, kinesis: KinesisEmulator
) -> None:
    stream = kinesis.new_stream()
    kinesis.put(stream, ["a", "b"])
    got: list[str] = []
    create(
        ssc,
        kinesis,
        stream,
        "ts-" + stream,
        initialPositionInStream=InitialPositionInStream.atTimestamp(0.0),
    ).foreachRDD(lambda rdd: got.extend(rdd.collect()))
    ssc.start()
    wait_until(lambda: sorted(got) == ["a", "b"], "records since the epoch")


# ------------------------------------------------------------------------------------------
# bad input at start()


def test_a_missing_stream_fails_start_naming_it(
    ssc: StreamingContext, kinesis: KinesisEmulator
) -> None:
    create(ssc, kinesis, "no-such-stream", "missing").pprint()
    with pytest.raises(SparkException, match=r"no-such-stream.*ResourceNotFound"):
        ssc.start()


def test_a_wrong_endpoint_fails_start_naming_it(ssc: StreamingContext) -> None:
    KinesisUtils.createStream(
        ssc,
        "app",
        "s",
        "http://127.0.0.1:1",
        "us-east-1",
        1,
        1,
        awsAccessKeyId="k",
        awsSecretKey="s",
    ).pprint()
    with pytest.raises(SparkException, match=r"127\.0\.0\.1:1"):
        ssc.start()


def test_the_secret_key_is_never_in_errors_or_checkpoints(
    kinesis: KinesisEmulator, tmp_path: Path
) -> None:
    sc = SparkContext("local[2]", "secret")
    ssc = StreamingContext(sc, 0.2)
    ssc.checkpoint(str(tmp_path / "cp"))
    errors = ReceiverErrors()
    ssc.addStreamingListener(errors)
    try:
        stream = kinesis.new_stream()
        create(ssc, kinesis, stream, "secret-" + stream, awsSecretKey="hunter2-aws").pprint()
        ssc.start()
        kinesis.put(stream, ["x"])
        wait_until(lambda: bool(kinesis.checkpoints("secret-" + stream)), "a checkpoint")
    finally:
        ssc.stop(stopSparkContext=True)
    files = [p for p in (tmp_path / "cp").rglob("*") if p.is_file()]
    assert files
    assert not any(b"hunter2-aws" in p.read_bytes() for p in files)
    assert not any("hunter2-aws" in m for m in errors.messages)


def test_service_errors_are_receiver_errors_not_fatal(
    ssc: StreamingContext, kinesis: KinesisEmulator
) -> None:
    stream = kinesis.new_stream()
    errors = ReceiverErrors()
    ssc.addStreamingListener(errors)
    got: list[str] = []
    create(ssc, kinesis, stream, "gone-" + stream).foreachRDD(lambda rdd: got.extend(rdd.collect()))
    ssc.start()
    kinesis.put(stream, ["a"])
    wait_until(lambda: got == ["a"], "the record")
    kinesis.client("kinesis").delete_stream(StreamName=stream)
    wait_until(
        lambda: any(stream in m and "ResourceNotFound" in m for m in errors.messages),
        "the receiver reporting the missing stream",
        details=lambda: str(errors.messages),
    )
    # Reported, not fatal: the context goes on and no batch failed.
    assert ssc.awaitTerminationOrTimeout(0.01) is False
    assert not any(SECRET_KEY in m for m in errors.messages)


def test_a_decoder_that_raises_fails_the_batch_with_its_error(
    ssc: StreamingContext, kinesis: KinesisEmulator
) -> None:
    stream = kinesis.new_stream()

    def strict(b: bytes) -> str:
        if b.startswith(b"!"):
            raise ValueError(f"cannot decode {b!r}")
        return b.decode()

    create(ssc, kinesis, stream, "strict-" + stream, decoder=strict).pprint()
    ssc.start()
    kinesis.put(stream, ["fine", "!bad"])
    with pytest.raises(SparkException) as info:
        wait_until(lambda: bool(ssc.awaitTerminationOrTimeout(0.05)), "a failed batch")
    assert isinstance(info.value.__cause__, ValueError)
    assert "cannot decode b'!bad'" in str(info.value.__cause__)


def test_data_that_is_not_utf8_fails_the_batch_with_unicode_decode_error(
    ssc: StreamingContext, kinesis: KinesisEmulator
) -> None:
    stream = kinesis.new_stream()
    create(ssc, kinesis, stream, "utf8-" + stream).pprint()
    ssc.start()
    kinesis.put(stream, [b"\xc3("])
    with pytest.raises(SparkException) as info:
        wait_until(lambda: bool(ssc.awaitTerminationOrTimeout(0.05)), "a failed batch")
    assert isinstance(info.value.__cause__, UnicodeDecodeError)
    # The error names the record: its shard and sequence number.
    client = kinesis.client("kinesis")
    (shard,) = kinesis.shard_ids(stream)
    iterator = client.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    (record,) = client.get_records(ShardIterator=iterator)["Records"]
    message = str(info.value)
    assert f"sequence number {record['SequenceNumber']} of shard {shard}" in message, message
    assert "is not UTF-8" in message
