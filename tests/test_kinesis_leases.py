"""KCL-style leases shared by programs with the same ``kinesisAppName``, against the emulator.

Two programs (separate processes, this file run as a script) read one 4-shard stream under
the same application name. Together they read every record; once their leases are balanced
(two shards each in the DynamoDB lease table), each shard's records go to the one program
holding its lease, in order. One of them is killed with SIGKILL: the other takes its shards
over once the dead worker's leases were not renewed for the failover time, and reads on from
the last checkpoint, so every record is counted at least once overall.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from kinesis_emulator import ACCESS_KEY, SECRET_KEY, KinesisEmulator
from script_jobs import Job
from waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

FAILOVER_MS = 4000
SHARDS = 4


# ------------------------------------------------------------------------------------------
# the job


def run_job(endpoint: str, region: str, stream: str, app: str, out_dir: str) -> None:
    from ferrostream import SparkConf, SparkContext
    from ferrostream.streaming import StreamingContext
    from ferrostream.streaming.kinesis import (
        FAILOVER_CONF,
        InitialPositionInStream,
        KinesisUtils,
    )

    conf = SparkConf().setMaster("local[2]").setAppName("kinesis-leases")
    conf.set(FAILOVER_CONF, str(FAILOVER_MS))
    sc = SparkContext.getOrCreate(conf)
    seen = os.path.join(out_dir, f"seen-{os.getpid()}.txt")

    def append(rdd: Any) -> None:
        values = rdd.collect()
        if values:
            with open(seen, "a") as fh:
                fh.write("".join(v + "\n" for v in values))

    ssc = StreamingContext(sc, 0.25)
    KinesisUtils.createStream(
        ssc, app, stream, endpoint, region, InitialPositionInStream.TRIM_HORIZON, 0.5
    ).foreachRDD(append)
    ssc.start()
    print("STARTED", flush=True)
    ssc.awaitTermination()


# ------------------------------------------------------------------------------------------
# the test


def owners(kinesis: KinesisEmulator, app: str) -> dict[str, str]:
    """Shard -> the pid in its lease's owner (ferrostream-<pid>-...), "" when unowned."""
    dynamo = kinesis.client("dynamodb")
    try:
        items = dynamo.scan(TableName=app, ConsistentRead=True)["Items"]
    except dynamo.exceptions.ResourceNotFoundException:
        return {}
    out = {}
    for item in items:
        owner = item.get("leaseOwner", {}).get("S", "")
        out[item["leaseKey"]["S"]] = owner.split("-")[1] if owner else ""
    return out


def counters(kinesis: KinesisEmulator, app: str) -> dict[str, int]:
    """Shard -> its lease's leaseCounter."""
    items = kinesis.client("dynamodb").scan(TableName=app, ConsistentRead=True)["Items"]
    return {i["leaseKey"]["S"]: int(i["leaseCounter"]["N"]) for i in items}


def shard_of(kinesis: KinesisEmulator, stream: str) -> dict[str, str]:
    """Each record of the stream -> its shard (read with boto3, the test's own client)."""
    client = kinesis.client("kinesis")
    out = {}
    for shard in kinesis.shard_ids(stream):
        it = client.get_shard_iterator(
            StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while it:
            page = client.get_records(ShardIterator=it, Limit=10000)
            for r in page["Records"]:
                out[r["Data"].decode()] = shard
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
    return out


def test_programs_with_one_app_name_share_the_shards_and_take_over_a_dead_ones(
    kinesis: KinesisEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = kinesis.new_stream(shards=SHARDS, prefix="leases")
    app = "leases-" + stream
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    written: list[str] = []

    def produce(n: int) -> list[str]:
        batch = [f"r{len(written) + i:06d}" for i in range(n)]
        kinesis.put(stream, batch)
        written.extend(batch)
        return batch

    def job(name: str) -> Job:
        return Job(
            tmp_path / f"{name}.log",
            __file__,
            kinesis.endpoint,
            kinesis.region,
            stream,
            app,
            str(out_dir),
        )

    def seen_by() -> dict[str, list[str]]:
        out = {}
        for f in out_dir.glob("seen-*.txt"):
            out[f.stem.split("-")[1]] = f.read_text().split()
        return out

    def logs() -> str:
        return "\n".join(f"--- {j.log.name}\n{j.text()[-3000:]}" for j in jobs)

    jobs = [job("a"), job("b")]
    pids = {str(j.proc.pid) for j in jobs}
    try:
        # Both read while records arrive, until the leases are balanced: two shards each.
        def balanced() -> bool:
            produce(8)
            for j in jobs:
                assert j.proc.poll() is None, f"a job exited by itself:\n{logs()}"
            held = Counter(owners(kinesis, app).values())
            return sorted(held.items()) == sorted((pid, SHARDS // 2) for pid in pids)

        wait_until(
            balanced,
            "two shards leased to each program",
            timeout=90,
            interval=0.3,
            details=lambda: f"{owners(kinesis, app)}\n{logs()}",
        )
        wait_until(
            lambda: set(written) <= {r for rs in seen_by().values() for r in rs},
            "every record so far read by one of the programs",
            timeout=60,
            details=logs,
        )
        # A worker whose lease was taken to balance the load learns it at its next renewal (a
        # third of the failover time, as the KCL): wait until every lease was renewed three
        # more times by its holder (two rounds: every worker renewed since).
        lease_holders = owners(kinesis, app)
        start = counters(kinesis, app)
        wait_until(
            lambda: all(c >= start[s] + 3 for s, c in counters(kinesis, app).items()),
            "three more renewals of every lease",
            timeout=FAILOVER_MS / 1000 * 3,
            interval=0.2,
        )
        # Balanced: each shard's new records go to the program holding its lease, only.
        before = {pid: len(rs) for pid, rs in seen_by().items()}
        fresh = produce(200)
        wait_until(
            lambda: set(fresh) <= {r for rs in seen_by().values() for r in rs},
            "the new records read",
            timeout=60,
            details=logs,
        )
        shards = shard_of(kinesis, stream)
        readers: dict[str, set[str]] = defaultdict(set)
        new_records = {pid: rs[before.get(pid, 0) :] for pid, rs in seen_by().items()}
        for pid, records in new_records.items():
            per_shard: dict[str, list[str]] = defaultdict(list)
            for r in records:
                if r in fresh:
                    readers[shards[r]].add(pid)
                    per_shard[shards[r]].append(r)
            for shard, rs in per_shard.items():
                assert rs == sorted(rs), f"{shard} read out of order by {pid}"
        assert owners(kinesis, app) == lease_holders, "the leases moved while balanced"
        assert {s: set(p) for s, p in readers.items()} == {
            s: {pid} for s, pid in lease_holders.items()
        }, "each shard's records read by the program holding its lease, and by it only"

        # One program dies: the other takes its shards over and loses nothing.
        dead, alive = jobs
        dead.kill()
        killed = time.monotonic()
        wait_until(
            lambda: (
                bool(produce(5)) and set(owners(kinesis, app).values()) == {str(alive.proc.pid)}
            ),
            "the survivor to hold every lease",
            timeout=FAILOVER_MS / 1000 * 3 + 15,
            interval=0.3,
            details=lambda: f"{owners(kinesis, app)}\n{logs()}",
        )
        took_over = time.monotonic() - killed
        assert took_over >= FAILOVER_MS / 1000 * 0.5, "leases taken before the failover time"
        last = produce(100)
        wait_until(
            lambda: set(last) <= set(seen_by().get(str(alive.proc.pid), [])),
            "the survivor to read the records of every shard",
            timeout=60,
            details=logs,
        )
        everything = Counter(r for rs in seen_by().values() for r in rs)
        missing = [r for r in written if not everything[r]]
        assert not missing, f"{len(missing)} records never read"
        assert set(everything) == set(written), "nothing read that was never written"
    finally:
        for j in jobs:
            if j.proc.poll() is None:
                j.kill()


def test_two_receivers_of_one_program_split_the_shards_and_release_them_at_stop(
    kinesis: KinesisEmulator,
) -> None:
    from ferrostream import SparkContext
    from ferrostream.streaming import StreamingContext
    from ferrostream.streaming.kinesis import InitialPositionInStream, KinesisUtils

    stream = kinesis.new_stream(shards=SHARDS, prefix="leases2")
    app = "leases2-" + stream
    sc = SparkContext("local[2]", "kinesis-two-receivers")
    ssc = StreamingContext(sc, 0.2)
    got: dict[int, list[str]] = {0: [], 1: []}

    def collector(into: list[str]) -> Any:
        return lambda rdd: into.extend(rdd.collect())

    written: list[str] = []
    try:
        for i in (0, 1):
            KinesisUtils.createStream(
                ssc,
                app,
                stream,
                kinesis.endpoint,
                kinesis.region,
                InitialPositionInStream.TRIM_HORIZON,
                0.2,
                awsAccessKeyId=ACCESS_KEY,
                awsSecretKey=SECRET_KEY,
            ).foreachRDD(collector(got[i]))
        ssc.start()

        def balanced() -> bool:
            batch = [f"r{len(written) + i:06d}" for i in range(10)]
            kinesis.put(stream, batch)
            written.extend(batch)
            held = Counter(
                item.get("leaseOwner", {}).get("S", "")
                for item in kinesis.client("dynamodb").scan(TableName=app)["Items"]
            )
            return sorted(held.values()) == [2, 2] and "" not in held

        wait_until(balanced, "two shards leased to each receiver", timeout=60, interval=0.3)
        wait_until(
            lambda: set(written) <= set(got[0]) | set(got[1]),
            "every record read by one of the receivers",
            timeout=60,
        )
        fresh = [f"n{i:06d}" for i in range(100)]
        kinesis.put(stream, fresh)
        wait_until(lambda: set(fresh) <= set(got[0]) | set(got[1]), "the new records", timeout=60)
        # Balanced: no record read by both receivers, each reads some shards.
        assert not set(fresh) & set(got[0]) & set(got[1])
        assert set(fresh) & set(got[0]) and set(fresh) & set(got[1])
    finally:
        ssc.stop(stopSparkContext=True)
    # A program that stops hands its leases over at once: no owner is left in the table.
    items = kinesis.client("dynamodb").scan(TableName=app, ConsistentRead=True)["Items"]
    assert len(items) == SHARDS
    assert all("leaseOwner" not in item for item in items), items


if __name__ == "__main__":
    run_job(*sys.argv[1:6])
