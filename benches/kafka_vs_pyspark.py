"""Kafka word count: ferrostream's direct stream vs a raw librdkafka consumer vs PySpark (not CI).

A topic of ``--partitions`` (4) partitions is loaded once with the 2 M-line corpus of
``benches/_corpus.py`` (line ``i`` goes to partition ``i % partitions``; a topic that already
holds exactly that many records is reused). Then, back to back, ``--runs`` (3) rounds of:

* ``raw``: a plain librdkafka consumer (confluent-kafka, batch ``consume``) reading every record
  of the topic and doing nothing else: the physical limit of reading this topic here.
* ``pyspark``: PySpark 3.5.9 Structured Streaming's Kafka source (the only Kafka path PySpark
  has; ``spark.jars.packages`` = ``--kafka-package``) doing the word count with SQL built-ins
  (``explode(split(value, " "))``, ``groupBy(word).count()``), ``trigger(availableNow=True)``,
  complete mode into a memory sink, ``spark.sql.shuffle.partitions`` = the partition count.
* ``ferrostream``: ``KafkaUtils.createDirectStream(ssc, [topic], {"metadata.broker.list": ...})``
  with the seed program's lambdas (``flatMap(split) -> map((w, 1)) -> reduceByKey(add)``); see
  ``ferrostream_program`` (skipped while ``ferrostream.streaming.kafka`` does not import).

Each engine runs in a fresh interpreter. The time measured is from starting the stream (after
the interpreter, the SparkContext/SparkSession and, for PySpark, the Kafka package are ready) to
the moment the last record was counted; records/s = corpus lines / that time. The word counts
of ``pyspark`` and ``ferrostream`` are checked against the corpus's own counts. Ratios printed:
ferrostream / raw (target >= 0.5) and ferrostream / pyspark (target >= 10).

The broker (Kafka 4.4, KRaft, by ``scripts/kafka.sh``) runs on the same 2 cores as the engine,
for every engine alike. Unless ``--bootstrap`` names a running broker, one is started on the
state directory ``--state-dir`` (default ``bench-data/kafka``, kept, so the loaded topic survives
between invocations) and stopped at the end.

Examples::

    .venv/bin/python benches/kafka_vs_pyspark.py
    .venv/bin/python benches/kafka_vs_pyspark.py --lines 200000 --runs 1 --engines raw,pyspark
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import _corpus
from _harness import RssSampler, load_banner

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
KAFKA_SH = REPO_ROOT / "scripts" / "kafka.sh"
CACHE = Path(os.environ.get("FERROSTREAM_CACHE", Path.home() / ".cache" / "ferrostream"))
ENGINES = ("raw", "pyspark", "ferrostream")

# --------------------------------------------------------------------------------------------
# the programs each engine runs (a fresh interpreter each; settings come from BENCH_* variables)

PRELUDE = r"""
import json, os, sys, time
BOOTSTRAP = os.environ["BENCH_BOOTSTRAP"]
TOPIC = os.environ["BENCH_TOPIC"]
N_LINES = int(os.environ["BENCH_LINES"])
N_WORDS = int(os.environ["BENCH_WORDS"])
PARTITIONS = int(os.environ["BENCH_PARTITIONS"])
TIMEOUT = float(os.environ["BENCH_TIMEOUT"])
BATCH = float(os.environ.get("BENCH_BATCH", "1"))


def report(**fields):
    print("@@RESULT " + json.dumps(fields), flush=True)
"""

RAW_PROGRAM = r"""
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

consumer = Consumer({
    "bootstrap.servers": BOOTSTRAP,
    "group.id": "bench-raw",
    "enable.auto.commit": False,
    "fetch.max.bytes": 64 << 20,
    "max.partition.fetch.bytes": 16 << 20,
})
parts = list(range(PARTITIONS))
highs = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1] for p in parts}
t0 = time.time()
consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in parts])
seen = dict.fromkeys(parts, 0)
records = nbytes = 0
deadline = t0 + TIMEOUT
while any(seen[p] < highs[p] for p in parts) and time.time() < deadline:
    # Never ask for more than what is left: consume() waits its timeout for a full batch.
    left = sum(highs.values()) - records
    for msg in consumer.consume(num_messages=max(1, min(10000, left)), timeout=1.0):
        if msg.error() is not None:
            continue
        records += 1
        nbytes += len(msg.value())
        seen[msg.partition()] = msg.offset() + 1
t1 = time.time()
consumer.close()
report(t0=t0, t1=t1, records=records, bytes=nbytes, counts=None)
"""

PYSPARK_PROGRAM = r"""
import tempfile
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

t_launch = time.time()
spark = (
    SparkSession.builder.master("local[2]").appName("kafka-bench")
    .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
    .config("spark.jars.packages", os.environ["BENCH_KAFKA_PACKAGE"])
    .config("spark.jars.ivy", os.environ["BENCH_IVY"])
    .config("spark.sql.shuffle.partitions", str(PARTITIONS))
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
lines = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", BOOTSTRAP)
    .option("subscribe", TOPIC)
    .option("startingOffsets", "earliest")
    .load()
    .select(F.col("value").cast("string").alias("line"))
)
counts = lines.select(F.explode(F.split("line", " ")).alias("word")).groupBy("word").count()
checkpoint = tempfile.mkdtemp(prefix="kafka-bench-")
t0 = time.time()
query = (
    counts.writeStream.outputMode("complete").format("memory").queryName("wordcount")
    .option("checkpointLocation", checkpoint)
    .trigger(availableNow=True)
    .start()
)
finished = query.awaitTermination(TIMEOUT)
t1 = time.time()
records = sum(p["numInputRows"] for p in query.recentProgress)
result = {r["word"]: r["count"] for r in spark.sql("SELECT word, count FROM wordcount").collect()}
spark.stop()
report(t0=t0, t1=t1, startup=t0 - t_launch, records=records, counts=result,
       finished=bool(finished is None or finished))
"""


def ferrostream_program() -> str:
    """The ferrostream side: the seed word count over ``createDirectStream``.

    LEAD: written against the documented 2.4 API (``pyspark-api.md`` §1.9) before the facade
    existed; check it once ``ferrostream.streaming.kafka`` lands (e.g. whether
    ``auto.offset.reset`` is needed, and the batch interval, ``--batch``). It stops when the
    counted words reach the corpus's total; ``t1`` is the end of the batch that got there.
    """
    return r"""
from ferrostream import SparkConf, SparkContext
from ferrostream.streaming import StreamingContext
from ferrostream.streaming.kafka import KafkaUtils
import threading

conf = (SparkConf().setMaster("local[2]").setAppName("kafka-bench")
        .set("spark.ui.enabled", "false"))
sc = SparkContext(conf=conf)
sc.setLogLevel("ERROR")
ssc = StreamingContext(sc, BATCH)
stream = KafkaUtils.createDirectStream(
    ssc, [TOPIC], {"metadata.broker.list": BOOTSTRAP, "auto.offset.reset": "smallest"}
)
counts = (
    stream.map(lambda kv: kv[1])
    .flatMap(lambda line: line.split(" "))
    .map(lambda word: (word, 1))
    .reduceByKey(lambda a, b: a + b)
)
totals = {}
state = {"words": 0, "t1": None}
done = threading.Event()


def add(time_, rdd):
    for word, n in rdd.collect():
        totals[word] = totals.get(word, 0) + n
        state["words"] += n
    if state["words"] >= N_WORDS and state["t1"] is None:
        state["t1"] = time.time()
        done.set()


counts.foreachRDD(add)
t0 = time.time()
ssc.start()
finished = done.wait(TIMEOUT)
t1 = state["t1"] or time.time()
ssc.stop(stopSparkContext=True, stopGraceFully=False)
report(t0=t0, t1=t1, records=N_LINES if finished else None, counts=totals, finished=finished)
"""


# --------------------------------------------------------------------------------------------
# the broker and the topic


def start_broker(state_dir: Path) -> str:
    done = subprocess.run(
        ["bash", str(KAFKA_SH), "start", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"scripts/kafka.sh start failed:\n{done.stderr}")
    return next(
        line.split("=", 1)[1] for line in done.stdout.splitlines() if line.startswith("bootstrap=")
    )


def stop_broker(state_dir: Path) -> None:
    subprocess.run(["bash", str(KAFKA_SH), "stop", str(state_dir)], timeout=120, check=False)


def topic_records(bootstrap: str, topic: str) -> Optional[dict[int, int]]:
    """The high watermark per partition, or None if the topic does not exist."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=30)
    t = meta.topics.get(topic)
    if t is None or t.error is not None:
        return None
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-probe"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in t.partitions
        }
    finally:
        consumer.close()


def load_topic(bootstrap: str, topic: str, lines: list[str], partitions: int) -> None:
    """Make ``topic`` hold exactly ``lines`` (line i in partition i % partitions)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    marks = topic_records(bootstrap, topic)
    if marks is not None and len(marks) == partitions and sum(marks.values()) == len(lines):
        print(f"topic {topic}: reusing {len(lines):,} records in {partitions} partitions")
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if marks is not None:
        admin.delete_topics([topic], operation_timeout=60)[topic].result(60)
        while topic_records(bootstrap, topic) is not None:
            time.sleep(0.2)
    new = NewTopic(topic, num_partitions=partitions, replication_factor=1)
    admin.create_topics([new], operation_timeout=60)[topic].result(60)
    t0 = time.time()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1 << 20,
        }
    )
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    for i, line in enumerate(lines):
        while True:
            try:
                producer.produce(topic, value=line, partition=i % partitions, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10000 == 0:
            producer.poll(0)
    if producer.flush(300) or failed:
        sys.exit(f"loading {topic} failed: {failed[:3]}")
    marks = topic_records(bootstrap, topic) or {}
    if sum(marks.values()) != len(lines):
        sys.exit(f"{topic} holds {sum(marks.values())} records, not {len(lines)}")
    print(f"topic {topic}: loaded {len(lines):,} records in {time.time() - t0:.1f} s")


# --------------------------------------------------------------------------------------------
# running one engine


def program(engine: str) -> str:
    if engine == "raw":
        return PRELUDE + RAW_PROGRAM
    if engine == "pyspark":
        return PRELUDE + PYSPARK_PROGRAM
    return PRELUDE + ferrostream_program()


def run_engine(engine: str, python: str, env: dict[str, str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"kafka-bench-{engine}-") as tmp:
        prog = Path(tmp) / f"{engine}_program.py"
        prog.write_text(program(engine))
        proc = subprocess.Popen(
            [python, str(prog)],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        sampler = RssSampler(proc.pid)
        sampler.start()
        try:
            out, err = proc.communicate(timeout=timeout + 300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        rss = sampler.stop()
    found = [line[9:] for line in out.splitlines() if line.startswith("@@RESULT ")]
    if proc.returncode != 0 or not found:
        tail = "\n".join(err.strip().splitlines()[-20:])
        return {"engine": engine, "ok": False, "error": f"rc={proc.returncode}\n{tail}"}
    res = json.loads(found[-1])
    res.update(engine=engine, ok=res.get("finished", True), rss=rss)
    return res


def check(res: dict, expected: collections.Counter, n_lines: int) -> list[str]:
    problems = []
    if res.get("records") != n_lines:
        problems.append(f"read {res.get('records')} records, not {n_lines}")
    counts = res.get("counts")
    if counts is not None and counts != expected:
        wrong = sum(1 for w in set(counts) | set(expected) if counts.get(w) != expected.get(w))
        problems.append(f"{wrong} words with a wrong count")
    return problems


def fmt(res: dict, n_lines: int) -> str:
    if not res["ok"]:
        return f"{res['engine']:12s} FAILED: {res.get('error', 'did not finish')}"
    secs = res["t1"] - res["t0"]
    rate = n_lines / secs if secs > 0 else float("inf")
    extra = f"  (startup {res['startup']:.1f} s)" if "startup" in res else ""
    mem = res["rss"]["total"]
    return (
        f"{res['engine']:12s} {secs:8.2f} s  {rate:>12,.0f} records/s  "
        f"peak RSS {mem:6.0f} MiB{extra}"
    )


def ferrostream_has_kafka(python: str) -> bool:
    probe = subprocess.run(
        [python, "-c", "import ferrostream.streaming.kafka"], capture_output=True, timeout=120
    )
    return probe.returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lines", type=int, default=_corpus.DEFAULT_LINES)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--batch", type=float, default=1.0, help="ferrostream's batch interval, s")
    ap.add_argument("--bootstrap", help="use this running broker instead of starting one")
    ap.add_argument("--state-dir", default=str(_corpus.DATA_DIR / "kafka"))
    ap.add_argument("--topic", help="default: bench-corpus-LINES-pPARTITIONS")
    ap.add_argument("--pyspark-python", default="/tmp/spark-ref/bin/python")
    ap.add_argument("--ferrostream-python", default=str(REPO_ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--kafka-package", default="org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.1")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per run")
    ap.add_argument("--json", help="also write all run results to this file")
    args = ap.parse_args()

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e} (choose from {', '.join(ENGINES)})")
    if "ferrostream" in engines and not ferrostream_has_kafka(args.ferrostream_python):
        print("skipping ferrostream: ferrostream.streaming.kafka does not import yet")
        engines.remove("ferrostream")
    if "pyspark" in engines and not Path(args.pyspark_python).exists():
        print(f"skipping pyspark: {args.pyspark_python} not found")
        engines.remove("pyspark")
    pythons = {
        "raw": args.ferrostream_python,
        "pyspark": args.pyspark_python,
        "ferrostream": args.ferrostream_python,
    }
    topic = args.topic or f"bench-corpus-{args.lines}-p{args.partitions}"

    lines = _corpus.load_lines(args.lines)
    expected = collections.Counter(w for line in lines for w in line.split(" "))
    n_words = sum(expected.values())
    state_dir = Path(args.state_dir)
    started = args.bootstrap is None
    if started:
        state_dir.mkdir(parents=True, exist_ok=True)
        bootstrap = start_broker(state_dir)
    else:
        bootstrap = args.bootstrap
    results: dict[str, list[dict]] = {e: [] for e in engines}
    try:
        load_topic(bootstrap, topic, lines, args.partitions)
        del lines
        env = dict(os.environ)
        env.update(
            BENCH_BOOTSTRAP=bootstrap,
            BENCH_TOPIC=topic,
            BENCH_LINES=str(args.lines),
            BENCH_WORDS=str(n_words),
            BENCH_PARTITIONS=str(args.partitions),
            BENCH_TIMEOUT=str(args.timeout),
            BENCH_BATCH=str(args.batch),
            BENCH_KAFKA_PACKAGE=args.kafka_package,
            BENCH_IVY=str(CACHE / "ivy"),
            SPARK_LOCAL_IP="127.0.0.1",
            PYSPARK_PYTHON=args.pyspark_python,
            PYTHONUNBUFFERED="1",
        )
        for i in range(args.runs):
            print("\n" + load_banner(i, args.runs))
            for e in engines:
                res = run_engine(e, pythons[e], env, args.timeout)
                if res["ok"]:
                    res["problems"] = check(res, expected, args.lines) if e != "raw" else []
                    if e == "raw" and res["records"] != args.lines:
                        res["problems"] = [f"read {res['records']} records, not {args.lines}"]
                print(fmt(res, args.lines), flush=True)
                for problem in res.get("problems", []):
                    print(f"    {problem}")
                res.pop("counts", None)
                results[e].append(res)
    finally:
        if started:
            stop_broker(state_dir)

    print(f"\nmedian over {args.runs} runs ({args.lines:,} lines, {n_words:,} words):")
    rates = {}
    for e in engines:
        ok = [r for r in results[e] if r["ok"] and not r.get("problems")]
        if ok:
            rates[e] = statistics.median(args.lines / (r["t1"] - r["t0"]) for r in ok)
            print(f"  {e:12s} {rates[e]:>12,.0f} records/s ({len(ok)} good runs)")
        else:
            print(f"  {e:12s} no good run")
    if "ferrostream" in rates:
        for other, target in (("raw", 0.5), ("pyspark", 10.0)):
            if other in rates:
                ratio = rates["ferrostream"] / rates[other]
                verdict = "meets" if ratio >= target else "misses"
                print(f"  ferrostream / {other}: {ratio:.2f}x ({verdict} the {target:g}x target)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
