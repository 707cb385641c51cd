"""Kafka word count: ferrostream vs a bare librdkafka consumer vs PySpark 3.5.9 (not part of CI).

A topic of 4 partitions holds the 2 M-line corpus of ``benches/_corpus.py`` (loaded once; kept
while the broker's data lives). Three programs read all of it, back to back, ``--runs`` times
each, every run in a fresh process:

  * raw: ``benches/kafka_raw_consumer.rs``, a bare librdkafka consumer (the same crate and
    client the engine uses) touching every payload: the physical limit here.
  * ferrostream: ``KafkaUtils.createDirectStream`` with the seed lambdas
    (``flatMap(split) -> map((w, 1)) -> reduceByKey(add)``), a ``foreachRDD`` collecting each
    batch's counts; batches of ``--batch`` s of at most ``--per-batch`` records
    (``spark.streaming.kafka.maxRatePerPartition``), so the engine is saturated.
  * pyspark: PySpark 3.5.9 Structured Streaming's Kafka source (the only Kafka path PySpark 3
    has; ``spark-sql-kafka-0-10_2.12:3.5.1`` from Maven Central), the same word count
    (``explode(split(value, " "))``, ``groupBy().count()``), ``maxOffsetsPerTrigger`` =
    ``--per-batch``, ``trigger(availableNow=True)``, complete mode into a memory sink.

Records/s = corpus lines / (start of reading -> every record counted), after the client or
context exists. Word counts are checked against the corpus. Ratios printed: ferrostream/raw
(target: at least 0.5) and ferrostream/PySpark (target: at least 10).

The broker: ``--bootstrap HOST:PORT``, or one started with ``scripts/kafka.sh`` in a temporary
directory and stopped at the end. Needs ``confluent-kafka`` in the ferrostream interpreter (the
test dependencies) to load the topic, and cargo to build the raw consumer.

    python3 benches/kafka_vs_pyspark.py --runs 3
    python3 benches/kafka_vs_pyspark.py --lines 200000 --runs 1 --engines raw,ferrostream
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _corpus  # noqa: E402

PARTITIONS = 4

FERROSTREAM_CHILD = r"""
import json, os, sys, time
from ferrostream import SparkConf, SparkContext
from ferrostream.streaming import StreamingContext
from ferrostream.streaming.kafka import KafkaUtils

bootstrap, topic, total_words = sys.argv[1], sys.argv[2], int(sys.argv[3])
batch, per_partition = float(sys.argv[4]), int(sys.argv[5])
conf = (SparkConf().setMaster("local[2]").setAppName("kafka-bench")
        .set("spark.streaming.kafka.maxRatePerPartition", str(per_partition)))
sc = SparkContext(conf=conf)
sc.setLogLevel("ERROR")
ssc = StreamingContext(sc, batch)
stream = KafkaUtils.createDirectStream(
    ssc, [topic], {"metadata.broker.list": bootstrap, "auto.offset.reset": "smallest"})
counts = (stream.map(lambda kv: kv[1]).flatMap(lambda line: line.split(" "))
          .map(lambda w: (w, 1)).reduceByKey(lambda a, b: a + b))
total = {}
state = {"words": 0, "end": None}

def on_batch(rdd):
    for w, c in rdd.collect():
        total[w] = total.get(w, 0) + c
        state["words"] += c
    if state["words"] >= total_words and state["end"] is None:
        state["end"] = time.time()

counts.foreachRDD(on_batch)
start = time.time()
ssc.start()
while state["end"] is None and time.time() - start < 900:
    ssc.awaitTerminationOrTimeout(0.05)
ssc.stop(stopSparkContext=True, stopGraceFully=False)
print(json.dumps({"seconds": (state["end"] or time.time()) - start, "counts": total}))
"""

PYSPARK_CHILD = r"""
import json, os, sys, time
from pyspark.sql import SparkSession
from pyspark.sql.functions import explode, split

bootstrap, topic, per_batch = sys.argv[1], sys.argv[2], sys.argv[3]
spark = (SparkSession.builder.master("local[2]").appName("kafka-bench")
         .config("spark.jars.packages", "org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.1")
         .config("spark.jars.ivy", os.path.expanduser("~/.cache/ferrostream/ivy"))
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
lines = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap)
         .option("subscribe", topic).option("startingOffsets", "earliest")
         .option("maxOffsetsPerTrigger", per_batch).load()
         .selectExpr("CAST(value AS STRING) AS line"))
counts = lines.select(explode(split("line", " ")).alias("w")).groupBy("w").count()
start = time.time()
query = (counts.writeStream.outputMode("complete").format("memory").queryName("wc")
         .trigger(availableNow=True).start())
query.awaitTermination()
end = time.time()
result = {r["w"]: r["count"] for r in spark.sql("select w, `count` from wc").collect()}
print(json.dumps({"seconds": end - start, "counts": result}))
"""


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--engines", default="raw,ferrostream,pyspark")
    ap.add_argument("--batch", type=float, default=0.1, help="ferrostream batch seconds")
    ap.add_argument("--per-batch", type=int, default=200_000, help="records per batch at most")
    ap.add_argument("--bootstrap", help="an existing broker (default: start one)")
    ap.add_argument("--ferrostream-python", default=str(REPO_ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--pyspark-python", default="/tmp/spark-ref/bin/python")
    return ap.parse_args()


def start_broker(state_dir: Path) -> str:
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "kafka.sh"), "start", str(state_dir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("bootstrap="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError(f"scripts/kafka.sh printed no bootstrap address:\n{out}")


def load_topic(python: str, bootstrap: str, topic: str, path: Path, lines: int) -> None:
    """Create ``topic`` and produce the corpus into it, unless it already holds it."""
    loader = r"""
import sys
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, topic, path, lines, parts = sys.argv[1:6]
lines, parts = int(lines), int(parts)
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-loader"})
md = c.list_topics(timeout=10)
if topic in md.topics:
    held = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
               for p in md.topics[topic].partitions)
    c.close()
    if held == lines:
        print("topic already loaded"); sys.exit(0)
    raise SystemExit(f"topic {topic} holds {held} records, not {lines}: delete it first")
c.close()
admin = AdminClient({"bootstrap.servers": bootstrap})
new = NewTopic(topic, num_partitions=parts, replication_factor=1)
for f in admin.create_topics([new]).values():
    f.result()
p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10000,
              "queue.buffering.max.messages": 1000000})
with open(path, "rb") as fh:
    for i, line in enumerate(fh):
        if i == lines:
            break
        while True:
            try:
                p.produce(topic, value=line.rstrip(b"\n"), partition=i % parts)
                break
            except BufferError:
                p.poll(0.05)
p.flush()
print("loaded", lines)
"""
    subprocess.run(
        [python, "-c", loader, bootstrap, topic, str(path), str(lines), str(PARTITIONS)],
        check=True,
    )


def run_raw(bootstrap: str, topic: str, lines: int) -> dict:
    out = subprocess.run(
        [
            "cargo",
            "run",
            "--quiet",
            "--release",
            "--no-default-features",
            "--example",
            "kafka_raw_consumer",
            "--",
            bootstrap,
            topic,
            str(lines),
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_child(python: str, program: str, args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(
        [python, "-c", program, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{program[:40]!r}... failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    path = _corpus.ensure_corpus(args.lines)
    expected = Counter(w for line in _corpus.load_lines(args.lines) for w in line.split(" "))
    total_words = sum(expected.values())
    topic = f"bench-corpus-{args.lines}"
    per_partition = max(1, round(args.per_batch / PARTITIONS / args.batch))
    with tempfile.TemporaryDirectory(prefix="ferrostream-kafka-bench-") as tmp:
        started_broker = args.bootstrap is None
        bootstrap = args.bootstrap or start_broker(Path(tmp) / "kafka")
        try:
            load_topic(args.ferrostream_python, bootstrap, topic, path, args.lines)
            if "raw" in engines:  # build outside the timed runs
                subprocess.run(
                    [
                        "cargo",
                        "build",
                        "--quiet",
                        "--release",
                        "--no-default-features",
                        "--example",
                        "kafka_raw_consumer",
                    ],
                    cwd=REPO_ROOT,
                    check=True,
                )
            print(
                f"{args.lines} lines ({total_words} words) in {PARTITIONS} partitions at "
                f"{bootstrap}; batches of {args.per_batch} records; runs {args.runs}"
            )
            figures: dict[str, list[float]] = {e: [] for e in engines}
            for run in range(args.runs):
                for engine in engines:
                    if engine == "raw":
                        r = run_raw(bootstrap, topic, args.lines)
                        ok = r["records"] == args.lines
                    elif engine == "ferrostream":
                        r = run_child(
                            args.ferrostream_python,
                            FERROSTREAM_CHILD,
                            [
                                bootstrap,
                                topic,
                                str(total_words),
                                str(args.batch),
                                str(per_partition),
                            ],
                            {},
                        )
                        ok = Counter(r["counts"]) == expected
                    else:
                        r = run_child(
                            args.pyspark_python,
                            PYSPARK_CHILD,
                            [bootstrap, topic, str(args.per_batch)],
                            {"SPARK_LOCAL_IP": "127.0.0.1"},
                        )
                        ok = Counter(r["counts"]) == expected
                    rate = args.lines / r["seconds"]
                    figures[engine].append(rate)
                    print(
                        f"run {run + 1} {engine:<12} {rate / 1e6:8.3f} M records/s "
                        f"({r['seconds']:.2f} s) {'OK' if ok else 'MISMATCH'}",
                        flush=True,
                    )
            print("\nmedians (M records/s)")
            med = {e: statistics.median(v) for e, v in figures.items() if v}
            for e, v in med.items():
                print(f"  {e:<12} {v / 1e6:8.3f}")
            if "ferrostream" in med and "raw" in med:
                print(f"ferrostream / raw consumer: {med['ferrostream'] / med['raw']:.2f}x")
            if "ferrostream" in med and "pyspark" in med:
                print(f"ferrostream / PySpark:      {med['ferrostream'] / med['pyspark']:.2f}x")
        finally:
            if started_broker:
                subprocess.run(
                    [
                        "bash",
                        str(REPO_ROOT / "scripts" / "kafka.sh"),
                        "stop",
                        str(Path(tmp) / "kafka"),
                    ],
                    check=False,
                )


if __name__ == "__main__":
    main()
