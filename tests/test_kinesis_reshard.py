"""Resharding on kinesis-local (the emulator whose closed parents end and whose children are
listed with their parents), run by ``scripts/kinesis.sh isolated`` in a network namespace of
its own with moto serving the lease table's DynamoDB.

While a receiver reads, keyed records are written in order, the stream is resharded (split by
``UpdateShardCount``, or two shards merged), and more records are written. Every record must
arrive, each key's records in the order written (a child shard is read only after its parents
ended), and the parents must be checkpointed ``SHARD_END``.

The scenario runs inside the namespace as this file run as a script; the test reads the
outcome it writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Optional

import pytest

from waiting import poll

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "kinesis.sh"
KEYS = [f"k{i}" for i in range(8)]
ROUNDS = 8

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


# ------------------------------------------------------------------------------------------
# the scenario (inside the namespace)


def _wait(condition: Any, what: str, timeout: float = 60) -> None:
    if not poll(condition, timeout):
        raise TimeoutError(f"timed out waiting for {what}")


def scenario(kind: str, out_file: str) -> None:
    import boto3

    from ferrostream import SparkContext
    from ferrostream.streaming import StreamingContext
    from ferrostream.streaming.kinesis import InitialPositionInStream, KinesisUtils

    endpoint = os.environ["KINESIS_LOCAL_ENDPOINT"]
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = os.environ["MOTO_ENDPOINT"]
    creds = {"aws_access_key_id": "testing-key", "aws_secret_access_key": "testing-secret"}
    kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1", **creds)
    dynamo = boto3.client(
        "dynamodb", endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1", **creds
    )
    stream, app = f"reshard-{kind}", f"reshard-app-{kind}"
    kinesis.create_stream(StreamName=stream, ShardCount=2)

    def active() -> bool:
        summary = kinesis.describe_stream_summary(StreamName=stream)
        return bool(summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE")

    _wait(active, "the stream")
    sc = SparkContext("local[2]", "reshard")
    ssc = StreamingContext(sc, 0.2)
    got: list[str] = []
    lock = threading.Lock()

    def add(rdd: Any) -> None:
        records = rdd.collect()
        with lock:
            got.extend(records)

    KinesisUtils.createStream(
        ssc,
        app,
        stream,
        endpoint,
        "us-east-1",
        InitialPositionInStream.TRIM_HORIZON,
        0.3,
        awsAccessKeyId=creds["aws_access_key_id"],
        awsSecretKey=creds["aws_secret_access_key"],
    ).foreachRDD(add)
    ssc.start()
    written: list[str] = []

    def write(rounds: range) -> None:
        for i in rounds:
            for key in KEYS:
                kinesis.put_record(StreamName=stream, Data=f"{key}:{i}".encode(), PartitionKey=key)
                written.append(f"{key}:{i}")

    write(range(ROUNDS))
    _wait(lambda: len(got) >= len(written) // 2, "the receiver reading")
    if kind == "split":
        kinesis.update_shard_count(
            StreamName=stream, TargetShardCount=4, ScalingType="UNIFORM_SCALING"
        )
    else:
        kinesis.merge_shards(
            StreamName=stream,
            ShardToMerge="shardId-000000000000",
            AdjacentShardToMerge="shardId-000000000001",
        )
    _wait(active, "the reshard")
    write(range(ROUNDS, 2 * ROUNDS))
    _wait(lambda: set(written) <= set(got), "every record")
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    parents = {s["ParentShardId"] for s in shards if s.get("ParentShardId")}
    parents |= {s["AdjacentParentShardId"] for s in shards if s.get("AdjacentParentShardId")}

    def checkpoints() -> dict[str, Optional[str]]:
        # A lease just claimed has no checkpoint until its first batch is done.
        items = dynamo.scan(TableName=app, ConsistentRead=True)["Items"]
        return {i["leaseKey"]["S"]: i.get("checkpoint", {}).get("S") for i in items}

    _wait(lambda: all(checkpoints().get(p) == "SHARD_END" for p in parents), "parents SHARD_END")
    ssc.stop(stopSparkContext=True)
    with open(out_file, "w") as fh:
        json.dump(
            {
                "got": got,
                "written": written,
                "parents": sorted(parents),
                "shards": [s["ShardId"] for s in shards],
                "checkpoints": checkpoints(),
            },
            fh,
        )


# ------------------------------------------------------------------------------------------
# the tests


def run_isolated(kind: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "outcome.json"
    proc = subprocess.run(
        [
            "bash",
            str(SCRIPT),
            "isolated",
            str(tmp_path / "emulators"),
            "--",
            sys.executable,
            __file__,
            kind,
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    outcome: dict[str, Any] = json.loads(out.read_text())
    return outcome


def check_order(outcome: dict[str, Any]) -> None:
    got, written = outcome["got"], outcome["written"]
    assert set(got) == set(written), "every record, nothing else"
    for key in KEYS:
        first_seen: list[int] = []
        for record in got:
            k, i = record.split(":")
            if k == key and int(i) not in first_seen:
                first_seen.append(int(i))
        assert first_seen == sorted(first_seen), f"{key}'s records in the order written"


def test_update_shard_count_children_after_parents(tmp_path: Path) -> None:
    outcome = run_isolated("split", tmp_path)
    check_order(outcome)
    assert len(outcome["parents"]) == 2
    assert len(outcome["shards"]) == 6
    assert all(outcome["checkpoints"][p] == "SHARD_END" for p in outcome["parents"])


def test_merged_shards_are_read_before_their_child(tmp_path: Path) -> None:
    outcome = run_isolated("merge", tmp_path)
    check_order(outcome)
    assert outcome["parents"] == ["shardId-000000000000", "shardId-000000000001"]
    assert all(outcome["checkpoints"][p] == "SHARD_END" for p in outcome["parents"])


if __name__ == "__main__":
    scenario(sys.argv[1], sys.argv[2])
