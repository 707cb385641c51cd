"""Crash recovery on Kafka, end to end, against a real broker.

A stateful direct-stream job (running counts per value, the whole state written after every
batch by an idempotent output) is killed with SIGKILL at random moments while the test keeps
producing, and restarted with ``StreamingContext.getOrCreate`` each time. Its final state must
equal the exact counts of everything produced: nothing lost, nothing counted twice.

A receiver-stream variant (a consumer group committing after completed batches) is killed the
same way; it promises at-least-once, so every produced record must have been seen by some run.

The jobs are this file run as a script, so their functions live in ``__main__`` and are
pickled by value into the checkpoints, as a user's program is.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from script_jobs import Job, run_and_kill
from waiting import poll, wait_until

pytestmark = pytest.mark.slow

BATCH_SECONDS = 0.25
KILLS = 20
SEED = 20261204
VALUES = [f"v{i:02d}" for i in range(30)]


# ------------------------------------------------------------------------------------------
# the jobs


def _context(app: str) -> Any:
    import logging
    import warnings

    from ferrostream import SparkConf, SparkContext

    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    conf = SparkConf().setMaster("local[2]").setAppName(app)
    return SparkContext.getOrCreate(conf)


def _save_to(output_file: str) -> Any:
    def save(t: Any, rdd: Any) -> None:
        counts = dict(rdd.collect())
        tmp = output_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"time": t.timestamp(), "counts": counts}, fh)
        os.replace(tmp, output_file)

    return save


def run_direct_job(bootstrap: str, topic: str, checkpoint_dir: str, output_file: str) -> None:
    """Running counts of the values of ``topic``, read with ``createDirectStream``."""
    from ferrostream.streaming import StreamingContext
    from ferrostream.streaming.kafka import KafkaUtils

    sc = _context("kafka-crash-direct")

    def update(values: list[int], state: Optional[int]) -> int:
        return sum(values) + (state or 0)

    def setup() -> StreamingContext:
        print("SETUP", flush=True)
        ssc = StreamingContext(sc, BATCH_SECONDS)
        stream = KafkaUtils.createDirectStream(
            ssc, [topic], {"metadata.broker.list": bootstrap, "auto.offset.reset": "smallest"}
        )
        counts = stream.map(lambda kv: (kv[1], 1)).reduceByKey(lambda a, b: a + b)
        counts.updateStateByKey(update).foreachRDD(_save_to(output_file))
        return ssc

    ssc = StreamingContext.getOrCreate(checkpoint_dir, setup)
    ssc.start()
    print("STARTED", flush=True)
    ssc.awaitTermination()


def run_receiver_job(bootstrap: str, topic: str, seen_dir: str) -> None:
    """Every value received with ``createStream`` is appended to a file of this run."""
    from ferrostream.streaming import StreamingContext
    from ferrostream.streaming.kafka import KafkaUtils

    sc = _context("kafka-crash-receiver")
    ssc = StreamingContext(sc, BATCH_SECONDS)
    stream = KafkaUtils.createStream(
        ssc,
        "unused:2181",
        "crash-group",
        {topic: 1},
        {
            "metadata.broker.list": bootstrap,
            "auto.offset.reset": "smallest",
            # A killed member holds its partitions until its session times out.
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "1000",
        },
    )
    seen = os.path.join(seen_dir, f"seen-{os.getpid()}.txt")

    def append(rdd: Any) -> None:
        values = rdd.values().collect()
        if values:
            with open(seen, "a") as fh:
                fh.write("".join(v + "\n" for v in values))
                fh.flush()
                os.fsync(fh.fileno())

    stream.foreachRDD(append)
    ssc.start()
    print("STARTED", flush=True)
    ssc.awaitTermination()


def run_blocking_job(bootstrap: str, topic: str, checkpoint_dir: str, record_file: str) -> None:
    """Records the offset ranges of every batch that read something; blocks in the second such
    batch until ``record_file + ".release"`` exists (the test kills it there)."""
    from ferrostream.streaming import StreamingContext
    from ferrostream.streaming.kafka import KafkaUtils

    sc = _context("kafka-crash-pending")

    def record(t: Any, rdd: Any) -> None:
        ranges = [[r.topic, r.partition, r.fromOffset, r.untilOffset] for r in rdd.offsetRanges()]
        if not any(r[3] > r[2] for r in ranges):
            return
        second = os.path.exists(record_file)
        with open(record_file, "a") as fh:
            fh.write(json.dumps({"time": t.timestamp(), "ranges": ranges}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if second:
            poll(lambda: os.path.exists(record_file + ".release"), timeout=3600)

    def setup() -> StreamingContext:
        ssc = StreamingContext(sc, BATCH_SECONDS)
        ssc.checkpoint(checkpoint_dir)
        stream = KafkaUtils.createDirectStream(
            ssc, [topic], {"metadata.broker.list": bootstrap, "auto.offset.reset": "smallest"}
        )
        stream.foreachRDD(record)
        return ssc

    ssc = StreamingContext.getOrCreate(checkpoint_dir, setup)
    ssc.start()
    print("STARTED", flush=True)
    ssc.awaitTermination()


# ------------------------------------------------------------------------------------------
# the tests


def _job(log: Path, *args: str) -> Job:
    """This file run as one of its jobs (``direct``, ``receiver``, ``pending``)."""
    return Job(log, __file__, *args)


class Producer:
    """Produces random values to a topic, remembering how many of each."""

    def __init__(self, kafka: Any, topic: str, rng: random.Random) -> None:
        self.kafka = kafka
        self.topic = topic
        self.rng = rng
        self.expected: Counter[str] = Counter()

    def produce(self) -> None:
        values = [self.rng.choice(VALUES) for _ in range(self.rng.randint(1, 40))]
        self.kafka.produce(self.topic, values)
        self.expected.update(values)


def _read_counts(output: Path) -> Optional[dict[str, int]]:
    try:
        counts: dict[str, int] = json.loads(output.read_text())["counts"]
        return counts
    except (OSError, ValueError, KeyError):
        return None


def _run_and_kill(make_job: Callable[[int], Job], producer: Producer, kills: int) -> list[Job]:
    """Start a job, keep producing, kill it at a random moment; ``kills`` times."""
    return run_and_kill(
        make_job,
        producer.produce,
        producer.rng,
        kills,
        early=(0.2, 1.0),
        late=(0.8, 2.5),
        pause=(0.01, 0.15),
    )


def test_direct_stream_counts_exactly_once_across_sigkills(kafka: Any, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    topic = f"crash-direct-{os.getpid()}-{rng.randrange(10**6)}"
    kafka.create_topic(topic, partitions=4)
    checkpoint = tmp_path / "checkpoint"
    output = tmp_path / "state.json"
    producer = Producer(kafka, topic, rng)

    def make_job(run: int) -> Job:
        return _job(
            tmp_path / f"job-{run}.log",
            "direct",
            kafka.bootstrap,
            topic,
            str(checkpoint),
            str(output),
        )

    jobs = _run_and_kill(make_job, producer, KILLS)
    final = make_job(KILLS)
    jobs.append(final)
    try:
        expected = dict(producer.expected)

        def caught_up() -> bool:
            return _read_counts(output) == expected

        wait_until(
            caught_up,
            "the restarted job to count every produced record",
            timeout=90,
            details=lambda: (
                f"expected {sum(expected.values())} records, state has "
                f"{sum((_read_counts(output) or {}).values())}\n{final.text()[-3000:]}"
            ),
        )
    finally:
        final.kill()
    recovered = sum("Restored the StreamingContext" in j.text() for j in jobs)
    assert recovered >= KILLS // 2, "most restarts recovered from the checkpoint"


def test_receiver_stream_loses_nothing_across_sigkills(kafka: Any, tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    topic = f"crash-receiver-{os.getpid()}-{rng.randrange(10**6)}"
    kafka.create_topic(topic, partitions=2)
    seen_dir = tmp_path / "seen"
    seen_dir.mkdir()
    producer = Producer(kafka, topic, rng)

    def make_job(run: int) -> Job:
        return _job(tmp_path / f"job-{run}.log", "receiver", kafka.bootstrap, topic, str(seen_dir))

    kills = KILLS // 2
    jobs = _run_and_kill(make_job, producer, kills)
    final = make_job(kills)
    jobs.append(final)

    def seen() -> Counter[str]:
        out: Counter[str] = Counter()
        for f in seen_dir.iterdir():
            out.update(f.read_text().split())
        return out

    try:
        expected = producer.expected

        def all_seen() -> bool:
            got = seen()
            return all(got[v] >= n for v, n in expected.items())

        wait_until(
            all_seen,
            "every produced record to be received by some run",
            timeout=90,
            details=lambda: f"missing: {expected - seen()}\n{final.text()[-3000:]}",
        )
    finally:
        final.kill()


def test_an_unfinished_batch_runs_again_with_exactly_its_ranges(kafka: Any, tmp_path: Path) -> None:
    topic = f"crash-pending-{os.getpid()}-{time.monotonic_ns()}"
    kafka.create_topic(topic, partitions=2)
    checkpoint, records = tmp_path / "checkpoint", tmp_path / "ranges.jsonl"

    def lines() -> list[dict[str, Any]]:
        try:
            return [json.loads(line) for line in records.read_text().splitlines()]
        except OSError:
            return []

    kafka.produce(topic, [f"a{i}" for i in range(5)])
    first = _job(
        tmp_path / "first.log", "pending", kafka.bootstrap, topic, str(checkpoint), str(records)
    )
    try:
        wait_until(lambda: len(lines()) == 1, "the first batch", timeout=60, details=first.text)
        kafka.produce(topic, [f"b{i}" for i in range(10)])
        wait_until(lambda: len(lines()) == 2, "the second batch to block", timeout=60)
        # More records while the batch runs: planning the batch again would read them too.
        kafka.produce(topic, [f"c{i}" for i in range(10)])
    finally:
        first.kill()
    (tmp_path / "ranges.jsonl.release").touch()
    second = _job(
        tmp_path / "second.log", "pending", kafka.bootstrap, topic, str(checkpoint), str(records)
    )
    try:
        wait_until(
            lambda: len(lines()) >= 4,
            "the batch to run again, then the next",
            timeout=60,
            details=second.text,
        )
    finally:
        second.kill()
    blocked, again, after = lines()[1:4]
    assert again == blocked, "the unfinished batch ran again with the same time and ranges"
    assert sum(r[3] - r[2] for r in blocked["ranges"]) == 10
    assert sum(r[3] - r[2] for r in after["ranges"]) == 10
    assert after["time"] > blocked["time"]


if __name__ == "__main__":
    if sys.argv[1] == "direct":
        run_direct_job(*sys.argv[2:6])
    elif sys.argv[1] == "pending":
        run_blocking_job(*sys.argv[2:6])
    elif sys.argv[1] == "receiver":
        run_receiver_job(*sys.argv[2:5])
