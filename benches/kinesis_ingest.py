"""Kinesis ingest: ferrostream's receiver into a word count vs a plain boto3 GetRecords reader
(not part of CI).

A 4-shard stream on the emulator (moto, started with ``scripts/kinesis.sh`` in a temporary
directory and stopped at the end, or ``--endpoint URL`` of a running one whose DynamoDB serves
the lease tables too) is loaded once with ``--lines`` lines of the corpus of
``benches/_corpus.py``. Then, back to back, ``--runs`` times each, every run in a fresh process:

  * boto3: one thread per shard, ``GetShardIterator(TRIM_HORIZON)`` then ``GetRecords`` until
    the shard is drained, splitting every record into words: what the emulator itself serves,
    the limit here.
  * ferrostream: ``KinesisUtils.createStream`` (TRIM_HORIZON, a new application each run) with
    the seed word count (``flatMap(split) -> map((w, 1)) -> reduceByKey(add)``), 0.5 s
    batches, a ``foreachRDD`` adding each batch's counts, until every word is counted.

Records/s = lines / (start of reading -> every record read or counted). Word totals are
checked against the corpus. Prints both medians and ferrostream/boto3.

    python3 benches/kinesis_ingest.py --runs 3
    python3 benches/kinesis_ingest.py --lines 20000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _corpus  # noqa: E402

SHARDS = 4
CREDS = {"AWS_ACCESS_KEY_ID": "bench-key", "AWS_SECRET_ACCESS_KEY": "bench-secret"}

BOTO3_CHILD = r"""
import json, sys, threading, time
import boto3
endpoint, stream, out = sys.argv[1:4]
client = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")
shards = [s["ShardId"] for s in client.list_shards(StreamName=stream)["Shards"]]
counts = {}
lock = threading.Lock()
def read(shard):
    c = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")
    it = c.get_shard_iterator(StreamName=stream, ShardId=shard,
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    lines = words = 0
    while it:
        page = c.get_records(ShardIterator=it, Limit=10000)
        if not page["Records"]:
            break
        for r in page["Records"]:
            lines += 1
            words += len(r["Data"].decode().split(" "))
        it = page.get("NextShardIterator")
    with lock:
        counts[shard] = (lines, words)
t0 = time.time()
threads = [threading.Thread(target=read, args=(s,)) for s in shards]
for t in threads: t.start()
for t in threads: t.join()
t1 = time.time()
json.dump({"seconds": t1 - t0, "lines": sum(v[0] for v in counts.values()),
           "words": sum(v[1] for v in counts.values())}, open(out, "w"))
"""

FERROSTREAM_CHILD = r"""
import json, sys, threading, time
from ferrostream import SparkContext
from ferrostream.streaming import StreamingContext
from ferrostream.streaming.kinesis import InitialPositionInStream, KinesisUtils
endpoint, stream, app, words, out = sys.argv[1:6]
words = int(words)
sc = SparkContext("local[2]", "kinesis-ingest")
sc.setLogLevel("ERROR")
ssc = StreamingContext(sc, 0.5)
total = [0]
done = threading.Event()
def add(rdd):
    total[0] += sum(n for _, n in rdd.collect())
    if total[0] >= words:
        done.set()
(KinesisUtils.createStream(ssc, app, stream, endpoint, "us-east-1",
                           InitialPositionInStream.TRIM_HORIZON, 2)
    .flatMap(lambda line: line.split(" ")).map(lambda w: (w, 1))
    .reduceByKey(lambda a, b: a + b).foreachRDD(add))
t0 = time.time()
ssc.start()
done.wait(900)
t1 = time.time()
ssc.stop(stopSparkContext=True)
json.dump({"seconds": t1 - t0, "words": total[0]}, open(out, "w"))
"""


def _run(code: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run(
            [sys.executable, "-c", code, *args, str(out)],
            env=env,
            check=True,
            timeout=1200,
        )
        result: dict[str, float] = json.loads(out.read_text())
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--endpoint", default=None, help="a running moto (Kinesis + DynamoDB)")
    args = parser.parse_args()

    import boto3

    state = None
    endpoint = args.endpoint
    if endpoint is None:
        state = tempfile.mkdtemp(prefix="kinesis-bench-")
        started = subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "kinesis.sh"), "start", state],
            capture_output=True,
            text=True,
            check=True,
        )
        endpoint = started.stdout.strip().split("=", 1)[1]
    env = dict(os.environ, **CREDS, AWS_ENDPOINT_URL_DYNAMODB=endpoint)
    os.environ.update(CREDS)
    try:
        client = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")
        stream = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_stream(StreamName=stream, ShardCount=SHARDS)
        client.get_waiter("stream_exists").wait(
            StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        lines = list(_corpus.generate_lines(args.lines))
        words = sum(len(line.split(" ")) for line in lines)
        for i in range(0, len(lines), 500):
            client.put_records(
                StreamName=stream,
                Records=[
                    {"Data": line.encode(), "PartitionKey": str(i + j)}
                    for j, line in enumerate(lines[i : i + 500])
                ],
            )
        print(f"loaded {len(lines)} lines ({words} words) into {SHARDS} shards", flush=True)
        rates: dict[str, list[float]] = {"boto3": [], "ferrostream": []}
        for run in range(args.runs):
            b = _run(BOTO3_CHILD, [endpoint, stream], env)
            assert b["lines"] == len(lines) and b["words"] == words, b
            rates["boto3"].append(len(lines) / b["seconds"])
            app = f"bench-app-{uuid.uuid4().hex[:8]}"
            f = _run(FERROSTREAM_CHILD, [endpoint, stream, app, str(words)], env)
            assert f["words"] == words, f
            rates["ferrostream"].append(len(lines) / f["seconds"])
            print(
                f"run {run + 1}: boto3 {rates['boto3'][-1]:,.0f} records/s, "
                f"ferrostream {rates['ferrostream'][-1]:,.0f} records/s",
                flush=True,
            )
        bm, fm = statistics.median(rates["boto3"]), statistics.median(rates["ferrostream"])
        print(f"\nmedian records/s over {args.runs} runs ({len(lines)} lines, {SHARDS} shards):")
        print(f"  boto3 GetRecords reader (the emulator's limit): {bm:,.0f}")
        print(f"  ferrostream createStream + word count:          {fm:,.0f}")
        print(f"  ferrostream / boto3: {fm / bm:.2f}")
    finally:
        if state is not None:
            subprocess.run(["bash", str(REPO_ROOT / "scripts" / "kinesis.sh"), "stop", state])


if __name__ == "__main__":
    main()
