"""The test infrastructure's own tests: scripts/kafka.sh and the ``kafka`` fixtures start a real
broker that takes topics and records, keeps them across a restart, and stops by PID."""

from __future__ import annotations

import re
import socket
import subprocess
from typing import Any

import pytest

from kafka_cluster import SCRIPT, KafkaCluster, KafkaError

# The session's first Kafka test may install Kafka from Maven Central before the broker starts.
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]


def _read(cluster: KafkaCluster, topic: str, partition: int, count: int) -> list[Any]:
    """``count`` records of one partition from offset 0, as (key, value, offset)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(cluster.config(group_id="infra-reader", enable_auto_commit=False))
    try:
        consumer.assign([TopicPartition(topic, partition, 0)])
        out: list[Any] = []
        misses = 0
        while len(out) < count and misses < 100:
            batch = consumer.consume(num_messages=count - len(out), timeout=0.2)
            misses = 0 if batch else misses + 1
            for msg in batch:
                assert msg.error() is None, msg.error()
                out.append((msg.key(), msg.value(), msg.offset()))
        return out
    finally:
        consumer.close()


def _accepts(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Is ``pid`` a running process (a zombie waiting for init to reap it is not)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _broker_pid(cluster: KafkaCluster) -> int:
    return int((cluster.state_dir / "kafka.pid").read_text())


def test_topic_of_four_partitions_takes_a_thousand_records(kafka: KafkaCluster) -> None:
    assert re.fullmatch(r"127\.0\.0\.1:\d+", kafka.bootstrap)
    kafka.create_topic("infra-thousand", partitions=4)
    assert kafka.partitions("infra-thousand") == [0, 1, 2, 3]
    assert kafka.high_watermarks("infra-thousand") == {0: 0, 1: 0, 2: 0, 3: 0}

    kafka.produce(
        "infra-thousand", [f"line {i}" for i in range(1000)], keys=[str(i) for i in range(1000)]
    )

    marks = kafka.high_watermarks("infra-thousand")
    assert sum(marks.values()) == 1000
    # Keyed records spread over the partitions (murmur2 of 1000 distinct keys).
    assert all(n > 0 for n in marks.values()), marks


def test_produce_to_one_partition_keeps_keys_values_and_order(kafka: KafkaCluster) -> None:
    kafka.create_topic("infra-exact", partitions=3)
    values: list[Any] = ["a", b"\x00\xffb", None, "d"]
    keys: list[Any] = [b"k1", None, "k3", "k4"]
    kafka.produce("infra-exact", values, keys=keys, partition=2)

    assert kafka.high_watermarks("infra-exact") == {0: 0, 1: 0, 2: 4}
    records = _read(kafka, "infra-exact", 2, 4)
    assert records == [
        (b"k1", b"a", 0),
        (None, b"\x00\xffb", 1),
        (b"k3", None, 2),
        (b"k4", b"d", 3),
    ]


def test_produce_checks_its_arguments(kafka: KafkaCluster) -> None:
    with pytest.raises(ValueError, match="2 keys for 1 values"):
        kafka.produce("infra-exact", ["v"], keys=["a", "b"])


def test_unknown_topic_has_no_watermarks(kafka: KafkaCluster) -> None:
    with pytest.raises(KafkaError, match="'infra-missing' does not exist"):
        kafka.high_watermarks("infra-missing")


def test_delete_topic(kafka: KafkaCluster) -> None:
    kafka.create_topic("infra-doomed", partitions=2)
    kafka.produce("infra-doomed", ["x"] * 10)
    kafka.delete_topic("infra-doomed")
    assert kafka.partitions("infra-doomed") == []


def test_committed_offsets_per_group(kafka: KafkaCluster) -> None:
    from confluent_kafka import Consumer, TopicPartition

    kafka.create_topic("infra-groups", partitions=2)
    kafka.produce("infra-groups", ["v"] * 10, partition=0)
    kafka.produce("infra-groups", ["v"] * 5, partition=1)
    assert kafka.committed("infra-group-a", "infra-groups") == {}

    consumer = Consumer(kafka.config(group_id="infra-group-a", enable_auto_commit=False))
    try:
        consumer.commit(offsets=[TopicPartition("infra-groups", 0, 7)], asynchronous=False)
    finally:
        consumer.close()

    assert kafka.committed("infra-group-a", "infra-groups") == {0: 7}
    assert kafka.committed("infra-group-b", "infra-groups") == {}


def test_stop_and_start_keep_port_topics_records_and_offsets(kafka: KafkaCluster) -> None:
    from confluent_kafka import Consumer, TopicPartition

    kafka.create_topic("infra-durable", partitions=2)
    kafka.produce("infra-durable", [f"r{i}" for i in range(50)], partition=0)
    kafka.produce("infra-durable", [f"s{i}" for i in range(30)], partition=1)
    consumer = Consumer(kafka.config(group_id="infra-durable-group", enable_auto_commit=False))
    try:
        consumer.commit(
            offsets=[
                TopicPartition("infra-durable", 0, 20),
                TopicPartition("infra-durable", 1, 30),
            ],
            asynchronous=False,
        )
    finally:
        consumer.close()
    bootstrap, old_pid = kafka.bootstrap, _broker_pid(kafka)

    kafka.stop_broker()
    try:
        assert not kafka.running
        assert not _accepts(bootstrap), "the broker still accepts connections after stop"
        assert not _alive(old_pid), f"pid {old_pid} still runs"
        assert not (kafka.state_dir / "kafka.pid").exists()
    finally:
        kafka.start_broker()

    assert kafka.bootstrap == bootstrap
    assert _broker_pid(kafka) != old_pid
    assert kafka.high_watermarks("infra-durable") == {0: 50, 1: 30}
    assert kafka.committed("infra-durable-group", "infra-durable") == {0: 20, 1: 30}
    assert _read(kafka, "infra-durable", 1, 30)[-1] == (None, b"s29", 29)
    # And the restarted broker takes new records after the old ones.
    kafka.produce("infra-durable", ["t"], partition=0)
    assert kafka.high_watermarks("infra-durable") == {0: 51, 1: 30}


def test_restart(kafka: KafkaCluster) -> None:
    kafka.create_topic("infra-restart")
    kafka.produce("infra-restart", ["a", "b"])
    kafka.restart()
    assert kafka.high_watermarks("infra-restart") == {0: 2}


def test_script_refuses_a_second_start_on_a_running_state_dir(kafka: KafkaCluster) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), "start", str(kafka.state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "is already running" in done.stderr
    assert _accepts(kafka.bootstrap)


def test_script_usage_errors() -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), "launch"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert "start [--zookeeper] STATE_DIR" in done.stderr


def test_zookeeper_mode_registers_the_broker_under_a_chroot(
    kafka_zookeeper: KafkaCluster,
) -> None:
    cluster = kafka_zookeeper
    assert cluster.zookeeper is not None
    assert re.fullmatch(r"127\.0\.0\.1:\d+/kafka", cluster.zookeeper)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", cluster.bootstrap)
    assert (
        "zookeeper.connect=" + cluster.zookeeper
        in (cluster.state_dir / "server.properties").read_text()
    )
    # ZooKeeper answers its four-letter health check on the quorum's address.
    host, port = cluster.zookeeper.split("/", 1)[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"ruok")
        assert s.recv(4) == b"imok"

    cluster.create_topic("infra-zk", partitions=2)
    cluster.produce("infra-zk", ["a", "b", "c"], partition=1)
    assert cluster.high_watermarks("infra-zk") == {0: 0, 1: 3}
