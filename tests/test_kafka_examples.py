"""Spark 2.4's Kafka word-count examples (``examples/*kafka_wordcount.py``) run unmodified under
``ferrostream-submit`` against a real broker: the direct stream against the KRaft broker, the
receiver against a ZooKeeper-registered one found through its quorum (no broker list given)."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from test_examples import EXAMPLES, Program, batch_totals

LINES = ["the quick brown fox", "jumps over the lazy dog", "the end"]
EXPECTED = Counter(w for line in LINES for w in line.split(" "))


def test_direct_kafka_wordcount(kafka: Any, tmp_path: Path) -> None:
    topic = f"wc-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic, partitions=2)
    program = Program(
        [str(EXAMPLES / "direct_kafka_wordcount.py"), kafka.bootstrap, topic, "0.5"], tmp_path
    )
    try:
        # The stream reads what arrives after it started: a first empty batch says it has.
        program.wait_for(
            lambda: any(line.startswith("Time: ") for line in program.lines()), "a batch"
        )
        kafka.produce(topic, LINES)
        program.wait_for(lambda: batch_totals(program.lines()) == EXPECTED, "the word counts")
    finally:
        program.stop()


def test_kafka_wordcount_finds_brokers_in_zookeeper(kafka_zookeeper: Any, tmp_path: Path) -> None:
    topic = f"wc-{uuid.uuid4().hex[:8]}"
    kafka_zookeeper.create_topic(topic)
    program = Program(
        [str(EXAMPLES / "kafka_wordcount.py"), kafka_zookeeper.zookeeper, topic, "0.5"], tmp_path
    )
    try:
        # A new consumer group starts at the latest offsets once it has its partitions:
        # produce a marker until one is counted, then the lines.
        def marker_counted() -> bool:
            if batch_totals(program.lines())["ping"] > 0:
                return True
            kafka_zookeeper.produce(topic, ["ping"])
            return False

        program.wait_for(marker_counted, "the receiver to join its group")
        kafka_zookeeper.produce(topic, LINES)

        def counted() -> bool:
            totals = batch_totals(program.lines())
            return all(totals[w] == n for w, n in EXPECTED.items())

        program.wait_for(counted, "the word counts")
    finally:
        program.stop()
