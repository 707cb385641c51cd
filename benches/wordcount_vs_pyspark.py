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

Variants: ``seed`` (the seed's lambdas, which ferrostream proves native), ``opaque`` (every
function opaque Python: a ``def`` tokenizer and closures; ferrostream runs them on its
worker processes), ``def-tokenizer`` (a ``def`` tokenizer, then the seed's lambdas). The
per-batch overhead is the ``ms/b`` column of a run with tiny batches, e.g.
``--variant opaque --lines 200 --chunks 100 --batch 0.05``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _corpus  # noqa: E402
import _harness  # noqa: E402
from _harness import busy_per_batch, fmt_rss  # noqa: E402

# The pipeline, appended to ``_harness.CHILD_PRELUDE`` (which defines ``lines``, ``rt.done``,
# ``rt.errors`` and ``run_and_report``); ``__ENGINE__`` is the package name in the imports.
CHILD_BODY = r"""
def tokenize(line):
    # A tokenizer written as a def with a local: no engine can prove what it does.
    words = line.split(" ")
    return words


def build_opaque(lines):
    # Functionally identical to the seed lambdas, but every function is opaque Python: a def
    # tokenizer and closures over local variables.
    one = 1
    zero = 0
    return (lines.flatMap(tokenize)
            .map(lambda w: (w, one))
            .reduceByKey(lambda a, b: a + b + zero))


if VARIANT == "seed":
    counts = (lines.flatMap(lambda line: line.split(" "))
              .map(lambda w: (w, 1))
              .reduceByKey(lambda a, b: a + b))
elif VARIANT == "opaque":
    counts = build_opaque(lines)
elif VARIANT == "def-tokenizer":
    counts = (lines.flatMap(tokenize)
              .map(lambda w: (w, 1))
              .reduceByKey(lambda a, b: a + b))
else:
    raise SystemExit("unknown variant " + VARIANT)

batches = []   # (scheduled batch time, callback entry, collect end, number of records)
results = []


def on_batch(t, rdd):
    if len(batches) >= N_CHUNKS:
        return  # the queue is drained: later (empty) batches may be cut short by stop()
    t_in = time.time()
    try:
        out = rdd.collect()
    except Exception as e:  # recorded, reported by the parent
        rt.errors.append(repr(e)[:2000])
        rt.done.set()
        raise
    t_out = time.time()
    if len(batches) < N_CHUNKS:
        batches.append((t.timestamp(), t_in, t_out, len(out)))
        results.append(out)
        if len(batches) == N_CHUNKS:
            rt.done.set()


def payload():
    total = {}
    for out in results:
        for w, c in out:
            total[w] = total.get(w, 0) + c
    return {"batches": batches, "counts": total}


counts.foreachRDD(on_batch)
run_and_report(payload)
"""


def run_once(
    engine: str, python: str, args, expected: Counter, total_words: int, **env_extra: str
) -> dict:
    """One run; ``env_extra`` goes to the child as ``BENCH_<NAME>`` (e.g. ``ui="true"``)."""
    run = _harness.run_child(
        engine, python, CHILD_BODY, args, "wordcount", args.variant, **env_extra
    )
    if not run["ok"]:
        return run
    res, t_launch = run["res"], run["t_launch"]
    got = Counter(res["counts"])
    b = res["batches"]
    t = res["t"]
    e2e = b[-1][2] - b[0][0]
    # Busy time per batch: from when the batch could start (its scheduled time, or the end of the
    # previous batch when batches queue up) to the end of its collect.  This counts the work
    # whether an engine runs the batch lazily inside collect() or before calling foreachRDD.
    per_batch = busy_per_batch([(sched, t_out) for sched, _t_in, t_out, _n in b])
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
        "ms_per_batch": 1000 * busy / len(per_batch),
        "rss": run["rss"],
    }


def fmt_run(r: dict) -> str:
    if not r["ok"]:
        return f"{r['engine']:<12} FAILED: {r['error']}"
    return (
        f"{r['engine']:<12} {r['wps_e2e'] / 1e6:8.3f} {r['wps_proc'] / 1e6:9.3f} {r['e2e_s']:7.2f} "
        f"{r['proc_s']:7.2f} {r['max_batch_s']:6.2f} {r['ms_per_batch']:6.1f} {r['sc_s']:6.2f} "
        f"{r['first_result_s']:7.2f}  "
        f"{'OK' if r['match'] else 'MISMATCH':<8}  RSS MiB: {fmt_rss(r['engine'], r['rss'])}"
    )


HEADER = (
    f"{'engine':<12} {'Mw/s e2e':>8} {'Mw/s proc':>9} {'e2e s':>7} {'proc s':>7} {'max b':>6} "
    f"{'ms/b':>6} {'ctx s':>6} {'first s':>7}  {'counts':<8}"
)


def main() -> None:
    ap = _harness.base_parser(__doc__, 20, str(REPO_ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--variant", choices=["seed", "opaque", "def-tokenizer"], default="seed")
    args = ap.parse_args()
    engines, pythons = _harness.engine_pythons(ap, args)

    path, expected, total_words = _corpus.word_counts(args.lines)
    print(
        f"corpus {path.name}: {args.lines} lines, {total_words} words, {len(expected)} distinct; "
        f"{args.chunks} batches of {args.batch:g} s; variant {args.variant}; "
        f"engines {engines}; runs {args.runs}"
    )

    results: dict[str, list[dict]] = {e: [] for e in engines}
    for i in range(args.runs):
        print("\n" + _harness.load_banner(i, args.runs))
        print(HEADER)
        for e in engines:
            r = run_once(e, pythons[e], args, expected, total_words)
            results[e].append(r)
            print(fmt_run(r), flush=True)

    print("\nmedians")
    print(HEADER)
    med: dict[str, dict] = {}
    keys = (
        "wps_e2e",
        "wps_proc",
        "e2e_s",
        "proc_s",
        "max_batch_s",
        "ms_per_batch",
        "sc_s",
        "first_result_s",
    )
    for e in engines:
        m = _harness.median_run(results[e], keys)
        if m is None:
            print(f"{e:<12} no successful run")
            continue
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
