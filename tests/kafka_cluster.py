"""A real Apache Kafka for tests: started by ``scripts/kafka.sh``, driven with confluent-kafka.

``KafkaCluster`` runs the script in a state directory of its own and stops the broker by the
PID the script recorded (``close()``; an ``atexit`` hook does it too if the test run ends
without reaching the fixture's teardown). The fixtures ``kafka`` and ``kafka_zookeeper`` in
``conftest.py`` hand out one cluster per test session.

confluent-kafka is only the tests' client (producing, watermarks, committed offsets); what is
tested reads Kafka through ferrostream's own engine.
"""

from __future__ import annotations

import atexit
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

from waiting import wait_until

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "kafka.sh"

# The first start installs Kafka from Maven Central (about 10 s, more on a busy machine); a
# broker then needs 2-5 s. The script has its own readiness deadline (KAFKA_START_TIMEOUT).
START_TIMEOUT = 240.0
STOP_TIMEOUT = 60.0
CLIENT_TIMEOUT = 30.0

Data = Union[str, bytes]
T = TypeVar("T")


class KafkaError(RuntimeError):
    """The test cluster could not do what a test asked (start, produce, create a topic...)."""


class KafkaCluster:
    """One Kafka broker on 127.0.0.1, KRaft (Kafka 4.4) or, with ``zookeeper=True``,
    registered in a ZooKeeper under the chroot ``/kafka`` (Kafka 3.9).

    ``bootstrap`` is ``"127.0.0.1:PORT"``; ``zookeeper`` (ZooKeeper mode only) is
    ``"127.0.0.1:ZKPORT/kafka"``, the ``zkQuorum`` form ``KafkaUtils.createStream`` takes. The
    port and the data survive ``stop_broker()``/``start_broker()``.
    """

    def __init__(self, state_dir: Path, zookeeper: bool = False) -> None:
        self.state_dir = Path(state_dir)
        self.zookeeper_mode = zookeeper
        self.bootstrap = ""
        self.zookeeper: Optional[str] = None
        self._running = False
        self._closed = False
        atexit.register(self.close)

    # --- the broker's life --------------------------------------------------------------------

    def start_broker(self) -> None:
        """Start the broker (and ZooKeeper): the first time on free ports, later on the same
        ports and data. Returns once it accepts connections and answers group requests."""
        if self._closed:
            raise KafkaError("this KafkaCluster was closed")
        if self._running:
            raise KafkaError(f"the broker in {self.state_dir} is already running")
        args = ["bash", str(SCRIPT), "start"]
        if self.zookeeper_mode:
            args.append("--zookeeper")
        args.append(str(self.state_dir))
        # Recorded before the script runs: a start cut short still leaves PIDs to stop.
        self._running = True
        out = self._script(args, START_TIMEOUT)
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        bootstrap = values.get("bootstrap", "")
        if not bootstrap:
            raise KafkaError(f"scripts/kafka.sh start printed no bootstrap address:\n{out}")
        if self.bootstrap and bootstrap != self.bootstrap:
            raise KafkaError(f"the broker came back on {bootstrap}, not {self.bootstrap}")
        self.bootstrap = bootstrap
        if self.zookeeper_mode:
            self.zookeeper = values["zookeeper"] + "/kafka"
        self._warm_up()

    def stop_broker(self) -> None:
        """Stop the broker (and ZooKeeper) by their recorded PIDs; the data stays."""
        if self._running:
            self._script(["bash", str(SCRIPT), "stop", str(self.state_dir)], STOP_TIMEOUT)
            self._running = False

    def restart(self) -> None:
        """``stop_broker()`` then ``start_broker()``: same port, same topics and offsets."""
        self.stop_broker()
        self.start_broker()

    def ensure_running(self) -> None:
        """Start the broker again if a test stopped it and did not restart it."""
        if not self._running:
            self.start_broker()

    def close(self) -> None:
        """Stop everything this cluster started (idempotent; also run at interpreter exit)."""
        if self._closed:
            return
        try:
            self.stop_broker()
        finally:
            self._closed = True
            atexit.unregister(self.close)

    @property
    def running(self) -> bool:
        return self._running

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the broker's log (for failure messages)."""
        path = self.state_dir / "broker.log"
        if not path.exists():
            return f"(no {path})"
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return f"last lines of {path}:\n" + "\n".join(text)

    def _script(self, args: list[str], timeout: float) -> str:
        try:
            done = subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise KafkaError(f"{' '.join(args)} did not finish within {timeout} s") from e
        if done.returncode != 0:
            raise KafkaError(
                f"{' '.join(args)} failed (exit {done.returncode}):\n{done.stderr}{done.stdout}"
            )
        return done.stdout

    def _warm_up(self) -> None:
        # The first group request on a fresh broker waits ~3 s for the offsets topic (and
        # right after a restart the coordinator is still loading): one throwaway call here
        # makes every later group answer at once.
        self.committed("ferrostream-test-warm-up", "ferrostream-test-warm-up", partitions=[0])

    # --- clients ------------------------------------------------------------------------------

    def config(self, **extra: Any) -> dict[str, Any]:
        """A confluent-kafka configuration for this broker."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap}
        conf.update({k.replace("_", "."): v for k, v in extra.items()})
        return conf

    def _admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient(self.config())

    def _consumer(self, group: str = "ferrostream-test-probe") -> Any:
        from confluent_kafka import Consumer

        return Consumer(self.config(group_id=group, enable_auto_commit=False))

    def partitions(self, topic: str) -> list[int]:
        """The topic's partition ids (empty if it does not exist)."""
        admin = self._admin()
        meta = admin.list_topics(topic=topic, timeout=CLIENT_TIMEOUT)
        t = meta.topics.get(topic)
        if t is None or t.error is not None:
            return []
        return sorted(t.partitions)

    def _topic_ready(self, topic: str, partitions: int) -> bool:
        admin = self._admin()
        meta = admin.list_topics(topic=topic, timeout=CLIENT_TIMEOUT)
        t = meta.topics.get(topic)
        if t is None or t.error is not None or len(t.partitions) != partitions:
            return False
        return all(p.leader >= 0 and p.error is None for p in t.partitions.values())

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create a topic (one replica) and wait until every partition has a leader."""
        from confluent_kafka.admin import NewTopic

        admin = self._admin()  # kept alive until the result is in: dropping it cancels
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)],
            operation_timeout=CLIENT_TIMEOUT,
            request_timeout=CLIENT_TIMEOUT,
        )
        futures[name].result(timeout=CLIENT_TIMEOUT)
        wait_until(
            lambda: self._topic_ready(name, partitions),
            f"topic {name!r} with {partitions} partitions to have leaders",
            timeout=CLIENT_TIMEOUT,
            interval=0.1,
        )

    def add_partitions(self, name: str, total: int) -> None:
        """Grow a topic to ``total`` partitions and wait until every one has a leader."""
        from confluent_kafka.admin import NewPartitions

        admin = self._admin()
        futures = admin.create_partitions(
            [NewPartitions(name, total)],
            operation_timeout=CLIENT_TIMEOUT,
            request_timeout=CLIENT_TIMEOUT,
        )
        futures[name].result(timeout=CLIENT_TIMEOUT)
        wait_until(
            lambda: self._topic_ready(name, total),
            f"topic {name!r} with {total} partitions to have leaders",
            timeout=CLIENT_TIMEOUT,
            interval=0.1,
        )

    def delete_topic(self, name: str) -> None:
        """Delete a topic and wait until the broker no longer lists it."""
        admin = self._admin()
        futures = admin.delete_topics(
            [name], operation_timeout=CLIENT_TIMEOUT, request_timeout=CLIENT_TIMEOUT
        )
        futures[name].result(timeout=CLIENT_TIMEOUT)
        wait_until(
            lambda: not self.partitions(name),
            f"topic {name!r} to disappear",
            timeout=CLIENT_TIMEOUT,
            interval=0.1,
        )

    def produce(
        self,
        topic: str,
        values: Iterable[Optional[Data]],
        keys: Optional[Iterable[Optional[Data]]] = None,
        partition: Optional[int] = None,
    ) -> None:
        """Write records (values and optional keys, ``str`` or ``bytes``; ``None`` is a null
        value or key) to ``topic``, to ``partition`` if given (else by key, or spread), in
        order; returns once the broker acknowledged every one (``acks=all``)."""
        from confluent_kafka import Producer

        values = list(values)
        key_list: Sequence[Optional[Data]] = [None] * len(values) if keys is None else list(keys)
        if len(key_list) != len(values):
            raise ValueError(f"{len(key_list)} keys for {len(values)} values")
        errors: list[str] = []

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")

        producer = Producer(self.config(acks="all", enable_idempotence=True, linger_ms=5))
        for value, key in zip(values, key_list):
            kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": delivered}
            if partition is not None:
                kwargs["partition"] = partition
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.1)
        remaining = producer.flush(CLIENT_TIMEOUT)
        if remaining:
            raise KafkaError(
                f"{remaining} records to {topic!r} not delivered within {CLIENT_TIMEOUT} s"
            )
        if errors:
            raise KafkaError(f"{len(errors)} records not delivered: " + "; ".join(errors[:5]))

    def high_watermarks(self, topic: str) -> dict[int, int]:
        """The next offset to be written, per partition of ``topic``."""
        from confluent_kafka import TopicPartition

        parts = self.partitions(topic)
        if not parts:
            raise KafkaError(f"topic {topic!r} does not exist")
        consumer = self._consumer()
        try:
            out = {}
            for p in parts:
                tp = TopicPartition(topic, p)
                _low, high = _retrying(
                    f"the high watermark of {topic}[{p}]",
                    lambda tp=tp: consumer.get_watermark_offsets(  # type: ignore[misc]
                        tp, timeout=CLIENT_TIMEOUT, cached=False
                    ),
                )
                out[p] = high
            return out
        finally:
            consumer.close()

    def committed(
        self, group: str, topic: str, partitions: Optional[Sequence[int]] = None
    ) -> dict[int, int]:
        """The offsets consumer group ``group`` committed for ``topic``, per partition that has
        one (partitions without a committed offset are left out)."""
        from confluent_kafka import TopicPartition

        # Consumer.committed(), not AdminClient.list_consumer_group_offsets, which can crash
        # right after a broker start (librdkafka#5040).
        parts = self.partitions(topic) if partitions is None else list(partitions)
        if not parts:
            return {}
        consumer = self._consumer(group)
        try:
            found = _retrying(
                f"the committed offsets of group {group!r}",
                lambda: consumer.committed(
                    [TopicPartition(topic, p) for p in parts], timeout=CLIENT_TIMEOUT
                ),
            )
            out = {}
            for tp in found:
                if tp.error is not None:
                    raise KafkaError(f"committed offset of {topic}[{tp.partition}]: {tp.error}")
                if tp.offset >= 0:
                    out[tp.partition] = tp.offset
            return out
        finally:
            consumer.close()


# Errors of a broker that is (re)starting, which a client outlives by asking again.
_TRANSIENT = {
    "NOT_COORDINATOR",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "COORDINATOR_NOT_AVAILABLE",
    "_TRANSPORT",
    "_TIMED_OUT",
    "_WAIT_COORD",
}


def _retrying(what: str, call: Callable[[], T]) -> T:
    """``call()``, asked again while it fails with an error of a broker still starting."""
    from confluent_kafka import KafkaException

    results: list[T] = []
    last: list[str] = []

    def attempt() -> bool:
        try:
            results.append(call())
            return True
        except KafkaException as e:
            err = e.args[0]
            if err.name() not in _TRANSIENT and not err.retriable():
                raise
            last[:] = [str(err)]
            return False

    wait_until(
        attempt, what, timeout=CLIENT_TIMEOUT, interval=0.2, details=lambda: f"last error: {last}"
    )
    return results[0]


def start_cluster(state_dir: Path, zookeeper: bool = False) -> KafkaCluster:
    """A started cluster; stopped again (and the error re-raised) if the start fails."""
    cluster = KafkaCluster(state_dir, zookeeper=zookeeper)
    try:
        cluster.start_broker()
    except BaseException:
        cluster.close()
        raise
    return cluster
