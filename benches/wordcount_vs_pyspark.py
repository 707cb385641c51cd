"""Word count: ferrostream vs PySpark 3.5.9, back to back (not part of CI).

Each run starts a fresh interpreter that executes the same program text (only ``pyspark`` is
replaced by ``ferrostream`` in the imports): a queueStream of K RDDs (``sc.parallelize(chunk, 2)``)
of the corpus from ``benches/_corpus.py``, 1 s batches, ``flatMap(split) -> map((w, 1)) ->
reduceByKey(add)``, and a ``foreachRDD`` that collects every batch and records timestamps.
Engines alternate, ``--runs`` times each.

Measured per run:
  * words/s end to end = total words / (scheduled time of the first data batch -> end of the
    last data batch's collect).  With K batches of B s this time is at least (K - 1) * B, so
    this figure is capped near total words / ((K - 1) * B): use --batch / --chunks to lift it.
  * words/s processing only = total words / busy time; a batch's busy time runs from when it
    could start (its scheduled time, or the end of the previous batch if batches queue up) to
    the end of its collect, so it counts the work wherever an engine does it.  The time spent
    inside the foreachRDD callbacks alone is in the --json output ("in_callback_s").
  * time from process start (just before the child is spawned) to the end of the first batch's
    collect, and to the end of the SparkContext constructor ("ctx s")
  * peak RSS, sampled from /proc every 100 ms: the driver process, the JVM and the Python
    workers (PySpark), or the whole process (ferrostream)
  * correctness: the merged per-batch counts must equal ``collections.Counter`` of the corpus

Interpreters: ``--pyspark-python`` (default /tmp/spark-ref/bin/python, a venv with
``pyspark==3.5.9``; its workers use Spark's default, ``python3`` from PATH) and
``--ferrostream-python`` (default <repo>/.venv/bin/python).  PySpark is started with
SPARK_LOCAL_IP=127.0.0.1, master local[2], the UI disabled and log level ERROR.

Examples:
    python3 benches/wordcount_vs_pyspark.py --lines 200000 --runs 1   # quick check
    python3 benches/wordcount_vs_pyspark.py --runs 3 --variant seed  # 2 M lines, 20 batches
    python3 benches/wordcount_vs_pyspark.py --variant opaque --engines ferrostream
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _corpus  # noqa: E402

# The program run by both engines.  ``__ENGINE__`` is the only substitution (the package name in
# the imports).
CHILD_PROGRAM = r"""
import json, os, sys, threading, time
T_START = time.time()
sys.path.insert(0, os.environ["WC_BENCH_DIR"])
import _corpus

from __ENGINE__ import SparkConf, SparkContext
from __ENGINE__.streaming import StreamingContext

N_LINES = int(os.environ["WC_LINES"])
N_CHUNKS = int(os.environ["WC_CHUNKS"])
VARIANT = os.environ["WC_VARIANT"]
COUNTS_OUT = os.environ["WC_COUNTS_OUT"]
TIMEOUT = float(os.environ.get("WC_TIMEOUT", "900"))
BATCH = float(os.environ.get("WC_BATCH", "1"))

T_IMPORTED = time.time()
conf = (SparkConf().setMaster("local[2]").setAppName("wordcount-bench")
        .set("spark.ui.enabled", "false").set("spark.ui.showConsoleProgress", "false"))
sc = SparkContext(conf=conf)
sc.setLogLevel("ERROR")
T_SC = time.time()

chunks = _corpus.load_chunks(N_CHUNKS, N_LINES)
T_LOADED = time.time()
rdds = [sc.parallelize(chunk, 2) for chunk in chunks]
del chunks
T_RDDS = time.time()

ssc = StreamingContext(sc, BATCH)
lines = ssc.queueStream(rdds)


def build_opaque(lines):
    # Functionally identical to the seed lambdas, but they read closure variables.
    sep = " "
    one = 1
    zero = 0
    return (lines.flatMap(lambda line: line.split(sep))
            .map(lambda w: (w, one))
            .reduceByKey(lambda a, b: a + b + zero))


if VARIANT == "seed":
    counts = (lines.flatMap(lambda line: line.split(" "))
              .map(lambda w: (w, 1))
              .reduceByKey(lambda a, b: a + b))
elif VARIANT == "opaque":
    counts = build_opaque(lines)
else:
    raise SystemExit("unknown variant " + VARIANT)

batches = []   # (scheduled batch time, callback entry, collect end, number of records)
results = []
errors = []
done = threading.Event()


def on_batch(t, rdd):
    if len(batches) >= N_CHUNKS:
        return  # the queue is drained: later (empty) batches may be cut short by stop()
    t_in = time.time()
    try:
        out = rdd.collect()
    except Exception as e:  # recorded, reported by the parent
        errors.append(repr(e)[:2000])
        done.set()
        raise
    t_out = time.time()
    if len(batches) < N_CHUNKS:
        batches.append((t.timestamp(), t_in, t_out, len(out)))
        results.append(out)
        if len(batches) == N_CHUNKS:
            done.set()


counts.foreachRDD(on_batch)
T_BUILT = time.time()
ssc.start()
T_STARTED = time.time()
finished = done.wait(TIMEOUT)
T_DONE = time.time()
ssc.stop(stopSparkContext=True, stopGraceFully=False)
T_STOPPED = time.time()

total = {}
for out in results:
    for w, c in out:
        total[w] = total.get(w, 0) + c
with open(COUNTS_OUT, "w") as f:
    json.dump(total, f)
print("WC_RESULT " + json.dumps({
    "finished": finished, "errors": errors, "batches": batches,
    "t": {"start": T_START, "imported": T_IMPORTED, "sc": T_SC, "loaded": T_LOADED, "rdds": T_RDDS,
          "built": T_BUILT, "started": T_STARTED, "done": T_DONE, "stopped": T_STOPPED},
}), flush=True)
"""

# --------------------------------------------------------------------------------------------
# /proc sampling


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rfind(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class RssSampler(threading.Thread):
    """Peak RSS (MiB) of a process tree: driver / jvm / workers (python under the JVM) / other."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = {"driver": 0, "jvm": 0, "workers": 0, "other": 0, "total": 0}
        self._halt = threading.Event()

    def sample(self) -> None:
        kids = _children_map()
        cur = {"driver": _rss_kb(self.pid), "jvm": 0, "workers": 0, "other": 0}
        stack = [(c, False) for c in kids.get(self.pid, [])]
        while stack:
            pid, under_jvm = stack.pop()
            comm = _comm(pid)
            if comm == "java":
                cur["jvm"] += _rss_kb(pid)
                under = True
            else:
                kind = "workers" if under_jvm and comm.startswith("python") else "other"
                cur[kind] += _rss_kb(pid)
                under = under_jvm
            stack.extend((c, under) for c in kids.get(pid, []))
        cur["total"] = sum(cur.values())
        for k, v in cur.items():
            self.peak[k] = max(self.peak[k], v)

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        return {k: v / 1024.0 for k, v in self.peak.items()}


# --------------------------------------------------------------------------------------------


def run_once(engine: str, python: str, args, expected: Counter, total_words: int) -> dict:
    program = CHILD_PROGRAM.replace("__ENGINE__", engine)
    with tempfile.TemporaryDirectory(prefix=f"wc-{engine}-") as tmp:
        prog = Path(tmp) / "wordcount_program.py"
        prog.write_text(program)
        counts_out = Path(tmp) / "counts.json"
        env = dict(os.environ)
        env.update(
            {
                "WC_BENCH_DIR": str(BENCH_DIR),
                "WC_LINES": str(args.lines),
                "WC_CHUNKS": str(args.chunks),
                "WC_VARIANT": args.variant,
                "WC_COUNTS_OUT": str(counts_out),
                "WC_TIMEOUT": str(args.timeout),
                "WC_BATCH": str(args.batch),
                "SPARK_LOCAL_IP": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        t_launch = time.time()
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
            out, err = proc.communicate(timeout=args.timeout + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        rss = sampler.stop()
        res = None
        for line in out.splitlines():
            if line.startswith("WC_RESULT "):
                res = json.loads(line[len("WC_RESULT ") :])
        if res is None or not res["finished"] or res["errors"]:
            tail = "\n".join(err.strip().splitlines()[-30:])
            return {
                "engine": engine,
                "ok": False,
                "error": f"rc={proc.returncode} result={res and res['errors']}\n{tail}",
            }
        got = Counter(json.loads(counts_out.read_text()))
    b = res["batches"]
    t = res["t"]
    e2e = b[-1][2] - b[0][0]
    # Busy time per batch: from when the batch could start (its scheduled time, or the end of the
    # previous batch when batches queue up) to the end of its collect.  This counts the work
    # whether an engine runs the batch lazily inside collect() or before calling foreachRDD.
    per_batch, prev_end = [], 0.0
    for sched, _t_in, t_out, _n in b:
        per_batch.append(t_out - max(sched, prev_end))
        prev_end = t_out
    busy = sum(per_batch)
    in_cb = sum(x[2] - x[1] for x in b)
    return {
        "engine": engine,
        "ok": True,
        "match": got == expected,
        "wps_e2e": total_words / e2e,
        "wps_proc": total_words / busy,
        "e2e_s": e2e,
        "proc_s": busy,
        "in_callback_s": in_cb,
        "first_result_s": b[0][2] - t_launch,
        "sc_s": t["sc"] - t_launch,
        "load_s": t["loaded"] - t["sc"],
        "rdds_s": t["rdds"] - t["loaded"],
        "max_batch_s": max(per_batch),
        "rss": rss,
    }


def fmt_run(r: dict) -> str:
    if not r["ok"]:
        return f"{r['engine']:<12} FAILED: {r['error']}"
    rss = r["rss"]
    mem = (
        f"driver {rss['driver']:7.0f}  jvm {rss['jvm']:6.0f}  workers {rss['workers']:6.0f}"
        if r["engine"] == "pyspark"
        else f"process {rss['driver'] + rss['other']:7.0f}"
    )
    return (
        f"{r['engine']:<12} {r['wps_e2e'] / 1e6:8.3f} {r['wps_proc'] / 1e6:9.3f} {r['e2e_s']:7.2f} "
        f"{r['proc_s']:7.2f} {r['max_batch_s']:6.2f} {r['sc_s']:6.2f} {r['first_result_s']:7.2f}  "
        f"{'OK' if r['match'] else 'MISMATCH':<8}  RSS MiB: {mem}"
    )


HEADER = (
    f"{'engine':<12} {'Mw/s e2e':>8} {'Mw/s proc':>9} {'e2e s':>7} {'proc s':>7} {'max b':>6} "
    f"{'ctx s':>6} {'first s':>7}  {'counts':<8}"
)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lines", type=int, default=_corpus.DEFAULT_LINES)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--batch",
        type=float,
        default=1.0,
        help="batch interval in seconds (default 1); see the end-to-end note above",
    )
    ap.add_argument("--variant", choices=["seed", "opaque"], default="seed")
    ap.add_argument("--engines", default="pyspark,ferrostream")
    ap.add_argument("--pyspark-python", default="/tmp/spark-ref/bin/python")
    ap.add_argument("--ferrostream-python", default=str(REPO_ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per run")
    ap.add_argument("--json", help="also write all run results to this file")
    args = ap.parse_args()

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    pythons = {"pyspark": args.pyspark_python, "ferrostream": args.ferrostream_python}
    for e in engines:
        if e not in pythons:
            ap.error(f"unknown engine {e}")

    path = _corpus.ensure_corpus(args.lines)
    lines = _corpus.load_lines(args.lines)
    expected = Counter(w for line in lines for w in line.split(" "))
    total_words = sum(expected.values())
    del lines
    print(
        f"corpus {path.name}: {args.lines} lines, {total_words} words, {len(expected)} distinct; "
        f"{args.chunks} batches of {args.batch:g} s; variant {args.variant}; "
        f"engines {engines}; runs {args.runs}"
    )

    results: dict[str, list[dict]] = {e: [] for e in engines}
    for i in range(args.runs):
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nrun {i + 1}/{args.runs}   (load average before the run: {load})")
        print(HEADER)
        for e in engines:
            r = run_once(e, pythons[e], args, expected, total_words)
            results[e].append(r)
            print(fmt_run(r), flush=True)

    print("\nmedians")
    print(HEADER)
    med: dict[str, dict] = {}
    for e in engines:
        ok = [r for r in results[e] if r["ok"]]
        if not ok:
            print(f"{e:<12} no successful run")
            continue
        keys = ("wps_e2e", "wps_proc", "e2e_s", "proc_s", "max_batch_s", "sc_s", "first_result_s")
        m = {k: statistics.median(r[k] for r in ok) for k in keys}
        m["rss"] = {k: statistics.median(r["rss"][k] for r in ok) for k in ok[0]["rss"]}
        m.update(engine=e, ok=True, match=all(r["match"] for r in ok))
        med[e] = m
        print(fmt_run(m))
    if "pyspark" in med and "ferrostream" in med:
        a, b = med["ferrostream"], med["pyspark"]
        print(
            f"\nferrostream/PySpark words/s: end to end {a['wps_e2e'] / b['wps_e2e']:.2f}x, "
            f"processing only {a['wps_proc'] / b['wps_proc']:.2f}x"
        )
    if args.json:
        dump = {"args": vars(args), "runs": results, "medians": med}
        Path(args.json).write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    main()
