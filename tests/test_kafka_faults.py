"""Kafka sources when the broker goes away: they wait, report it (log, ``onReceiverError``)
and go on without losing or repeating a record once the broker is back. The broker is the
real one of the ``kafka`` fixture, stopped and started again on the same port and data."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from ferrostream import SparkConf, SparkContext
from ferrostream.streaming import StreamingContext
from ferrostream.streaming.kafka import KafkaUtils
from streaming_helpers import ReceiverErrors
from waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def ssc() -> Iterator[StreamingContext]:
    conf = SparkConf().setMaster("local[2]").setAppName("kafka-faults")
    sc = SparkContext(conf=conf)
    ctx = StreamingContext(sc, 0.2)
    yield ctx
    ctx.stop(stopSparkContext=True)


@pytest.fixture
def broker(kafka: Any) -> Iterator[Any]:
    """The fixture's broker, running again after the test whatever happened."""
    yield kafka
    if not kafka.running:
        kafka.start_broker()


class Messages(logging.Handler):
    """Collects the messages of a logger."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self.logger = logging.getLogger(name)
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def has(self, text: str) -> bool:
        return any(text in m for m in self.messages)


def test_direct_stream_waits_for_the_broker_and_loses_nothing(
    broker: Any, ssc: StreamingContext
) -> None:
    topic = f"faults-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    warnings = Messages("ferrostream.engine.source.kafka.direct")
    got: Counter[str] = Counter()
    stream = KafkaUtils.createDirectStream(
        ssc, [topic], {"metadata.broker.list": broker.bootstrap, "auto.offset.reset": "smallest"}
    )
    stream.foreachRDD(lambda rdd: got.update(rdd.map(lambda kv: kv[1]).collect()))
    ssc.start()
    broker.produce(topic, [f"a{i}" for i in range(20)])
    wait_until(lambda: sum(got.values()) == 20, "the records before the outage", timeout=30)
    broker.stop_broker()
    wait_until(
        lambda: warnings.has("cannot be reached"),
        "the stream to notice the outage",
        timeout=60,
        details=lambda: "\n".join(warnings.messages),
    )
    broker.start_broker()
    broker.produce(topic, [f"b{i}" for i in range(20)])
    expected = Counter([f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)])
    wait_until(
        lambda: got == expected,
        "every record once after the outage",
        timeout=60,
        details=lambda: str(got),
    )
    assert ssc.awaitTerminationOrTimeout(0.01) is False  # no batch failed


def test_direct_stream_started_while_the_broker_is_down(broker: Any, ssc: StreamingContext) -> None:
    topic = f"faults-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic)
    broker.produce(topic, ["early"])
    broker.stop_broker()
    got: list[str] = []
    stream = KafkaUtils.createDirectStream(
        ssc, [topic], {"metadata.broker.list": broker.bootstrap, "auto.offset.reset": "smallest"}
    )
    stream.foreachRDD(lambda rdd: got.extend(rdd.map(lambda kv: kv[1]).collect()))
    ssc.start()  # waits for the broker instead of failing
    broker.start_broker()
    broker.produce(topic, ["late"])
    wait_until(lambda: sorted(got) == ["early", "late"], "both records", timeout=60)


@pytest.mark.timeout(240)  # its waits add up to 180 s on a slow machine
def test_receiver_reports_the_outage_and_resumes(broker: Any, ssc: StreamingContext) -> None:
    topic = f"faults-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic)

    errors = ReceiverErrors()
    ssc.addStreamingListener(errors)
    got: Counter[str] = Counter()
    stream = KafkaUtils.createStream(
        ssc,
        "unused:2181",
        f"group-{topic}",
        {topic: 1},
        {"metadata.broker.list": broker.bootstrap, "auto.offset.reset": "smallest"},
    )
    stream.foreachRDD(lambda rdd: got.update(rdd.map(lambda kv: kv[1]).collect()))
    ssc.start()
    broker.produce(topic, ["a"] * 10)
    wait_until(lambda: got["a"] == 10, "the records before the outage", timeout=30)
    broker.stop_broker()
    wait_until(
        lambda: any("Kafka consumer" in m for m in errors.messages),
        "onReceiverError about the outage",
        timeout=60,
    )
    broker.start_broker()
    broker.produce(topic, ["b"] * 10)
    wait_until(lambda: got["b"] >= 10, "the records after the outage", timeout=90)
    assert got["a"] >= 10


@pytest.mark.parametrize("kind", ["direct", "receiver"])
def test_stop_returns_while_the_broker_is_down(broker: Any, kind: str) -> None:
    """A stream stopped during an outage stops: neither a pending offset commit nor leaving
    the consumer group waits for brokers that are not there."""
    topic = f"faults-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic)
    sc = SparkContext(conf=SparkConf().setMaster("local[2]").setAppName("kafka-stop-outage"))
    ssc = StreamingContext(sc, 0.2)
    params = {"metadata.broker.list": broker.bootstrap, "auto.offset.reset": "smallest"}
    if kind == "direct":
        stream = KafkaUtils.createDirectStream(ssc, [topic], params)
    else:
        stream = KafkaUtils.createStream(ssc, "unused:2181", f"group-{topic}", {topic: 1}, params)
    got: list[str] = []
    stream.foreachRDD(lambda rdd: got.extend(rdd.map(lambda kv: kv[1]).collect()))
    ssc.start()
    broker.produce(topic, ["a"] * 5)
    wait_until(lambda: len(got) == 5, "the records before the outage", timeout=30)
    broker.stop_broker()
    stopping = threading.Thread(target=ssc.stop, kwargs={"stopSparkContext": True}, daemon=True)
    stopping.start()
    stopping.join(60)
    assert not stopping.is_alive(), "ssc.stop() still waits for the stopped broker after 60 s"
