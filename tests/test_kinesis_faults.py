"""The Kinesis receiver under throttling, expired iterators and dropped connections.

The engine's AWS SDK client talks to a small fault-injecting HTTP proxy (``endpointUrl``)
in front of the real emulator (moto). The proxy forwards every call, except that it answers
some ``GetRecords`` calls itself with Kinesis's own error responses (HTTP 400, a JSON body with
``__type``, the ``x-amzn-ErrorType`` header): ``ProvisionedThroughputExceededException`` (twice
in a row, so that the SDK's own retry gives up and the receiver's backoff is what recovers)
and ``ExpiredIteratorException``, and closes some connections without answering. Every record
must still arrive, exactly once and in order per shard, and ``onReceiverError`` must report the
throttling; the stream never fails.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest

from ferrostream import SparkContext
from ferrostream.streaming import StreamingContext
from ferrostream.streaming.kinesis import InitialPositionInStream, KinesisUtils
from http_proxy import DROP, Answer, ForwardingProxy
from kinesis_emulator import ACCESS_KEY, SECRET_KEY, KinesisEmulator
from streaming_helpers import ReceiverErrors
from waiting import wait_until

pytestmark = pytest.mark.timeout(180)

THROTTLED = "ProvisionedThroughputExceededException"
EXPIRED = "ExpiredIteratorException"


class FaultProxy:
    """Forwards HTTP calls to ``upstream``; every ``GetRecords`` call number ``n`` (from 1)
    gets a fault when ``n % 10`` is 2 or 3 (throttled), 6 (iterator expired) or 8 (connection
    closed unanswered)."""

    def __init__(self, upstream: str) -> None:
        self.lock = threading.Lock()
        self.get_records = 0
        self.faults: Counter[str] = Counter()
        self.proxy = ForwardingProxy(upstream, self.intercept)
        self.endpoint = self.proxy.endpoint

    def intercept(self, headers: Any, _body: bytes) -> Answer | str | None:
        fault = self.fault(headers.get("X-Amz-Target", ""))
        if fault is None or fault == DROP:
            return fault
        data = json.dumps({"__type": fault, "message": f"injected {fault}"}).encode()
        return Answer(
            400,
            {
                "Content-Type": "application/x-amz-json-1.1",
                "x-amzn-ErrorType": fault,
                "x-amzn-RequestId": "fault-injected",
            },
            data,
        )

    def fault(self, target: str) -> str | None:
        if not target.endswith(".GetRecords"):
            return None
        with self.lock:
            self.get_records += 1
            kind = {2: THROTTLED, 3: THROTTLED, 6: EXPIRED, 8: DROP}.get(self.get_records % 10)
            if kind is not None:
                self.faults[kind] += 1
            return kind

    def close(self) -> None:
        self.proxy.close()


def test_throttling_expired_iterators_and_dropped_connections_lose_nothing(
    kinesis: KinesisEmulator,
) -> None:
    stream = kinesis.new_stream(shards=2, prefix="faults")
    proxy = FaultProxy(kinesis.endpoint)
    sc = SparkContext("local[2]", "kinesis-faults")
    ssc = StreamingContext(sc, 0.2)
    errors = ReceiverErrors()
    ssc.addStreamingListener(errors)
    got: list[list[str]] = []
    try:
        KinesisUtils.createStream(
            ssc,
            "faults-" + stream,
            stream,
            proxy.endpoint,
            kinesis.region,
            InitialPositionInStream.TRIM_HORIZON,
            0.5,
            awsAccessKeyId=ACCESS_KEY,
            awsSecretKey=SECRET_KEY,
        ).foreachRDD(lambda rdd: got.extend(rdd.glom().collect()))
        ssc.start()
        written: list[str] = []
        for _ in range(12):
            batch = [f"r{len(written) + i:05d}" for i in range(25)]
            kinesis.put(stream, batch)
            written.extend(batch)
            # Producing goes on while the faults happen.
            wait_until(
                lambda: sum(len(p) for p in got) >= len(written) - 25,
                "the receiver to keep up",
                timeout=60,
                details=lambda: f"faults {proxy.faults}, errors {errors.messages[-3:]}",
            )
        wait_until(
            lambda: sum(len(p) for p in got) >= len(written),
            "every record",
            timeout=60,
            details=lambda: f"faults {proxy.faults}, errors {errors.messages[-3:]}",
        )
        assert ssc.awaitTerminationOrTimeout(0.01) is False, "the stream kept running"
    finally:
        ssc.stop(stopSparkContext=True)
        proxy.close()
    received = [r for part in got for r in part]
    assert Counter(received) == Counter(written), "every record exactly once"
    # Per shard (one partition per shard in each batch) in the order written.
    shard_of: dict[str, str] = {}
    client = kinesis.client("kinesis")
    for shard in kinesis.shard_ids(stream):
        it = client.get_shard_iterator(
            StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for r in client.get_records(ShardIterator=it, Limit=10000)["Records"]:
            shard_of[r["Data"].decode()] = shard
    per_shard: dict[str, list[str]] = {}
    for part in got:
        shards = {shard_of[r] for r in part}
        assert len(shards) <= 1, "one shard per partition"
        for r in part:
            per_shard.setdefault(shard_of[r], []).append(r)
    for shard, records in per_shard.items():
        assert records == sorted(records), f"{shard} out of order"
    assert proxy.faults[THROTTLED] >= 4 and proxy.faults[EXPIRED] >= 2 and proxy.faults[DROP] >= 2
    assert any(THROTTLED in m for m in errors.messages), errors.messages[-5:]
    assert any(EXPIRED in m for m in errors.messages), errors.messages[-5:]
