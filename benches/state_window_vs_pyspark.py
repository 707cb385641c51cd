"""State and windows: ferrostream vs PySpark 3.5.9, back to back (not part of CI).

Same set-up as ``wordcount_vs_pyspark.py`` (shared through ``_harness.py``): each run starts a
fresh interpreter that executes the same program text (only ``pyspark`` is replaced by
``ferrostream`` in the imports), a queueStream of K RDDs (``sc.parallelize(chunk, 2)``, default
K = 30) of the corpus from ``benches/_corpus.py``, 1 s batches, local[2], the UI off, log level
ERROR, SPARK_LOCAL_IP=127.0.0.1, and ``ssc.checkpoint(<fresh temporary directory>)``.  With

    words = lines.flatMap(lambda line: line.split(" ")).map(lambda w: (w, 1))

two pipelines (``--pipelines``):

  state   words.reduceByKey(add).updateStateByKey(lambda new, old: sum(new) + (old or 0)), and a
          foreachRDD that collects the state every batch.  The run ends after the K-th batch
          (the last one with data).
  window  words.reduceByKeyAndWindow(add, sub, 30, 10) (--window / --slide), a foreachRDD that
          collects every window, then a second, empty foreachRDD on ``lines`` registered last:
          both engines run a batch's outputs in order, so it marks the end of every batch,
          window or not.  Windows are emitted every 10 s, so the run keeps feeding empty batches
          until the last window holding data has been emitted (with K = 30: the windows at
          batches 10, 20, 30, 40 and 50).

Engines alternate, pipeline by pipeline, ``--runs`` times each.  Measured per run:
  * words/s processing only = corpus words / busy time.  A batch is busy from when it could
    start (its scheduled time, or the end of the previous batch if batches queue up) to the end
    of its last output (state: the collect; window: the end-of-batch marker), so the work is
    counted wherever an engine does it (eagerly every batch, or in the window's collect).  The
    window pipeline counts every batch up to the last window holding data, including the empty
    ones whose windows still take the old batches out.
  * words/s end to end = corpus words / (scheduled time of the first batch -> end of the collect
    of the final output: the K-th state, or the last window holding data).  It is bounded by the
    clock: at least (K - 1) * B s for ``state`` and about (K + W - S - 1) * B s for ``window``
    (49 s with the defaults), so it is close to the same for any engine that keeps up; "max lag"
    (the largest delay between a batch's scheduled time and its end) shows which one does not.
  * time from process start to the end of the SparkContext constructor ("ctx s") and to the end
    of the first batch ("first s"); peak RSS as in the word-count bench (PySpark: driver, JVM
    and Python workers; ferrostream: the process).
  * correctness.  state: the K-th batch's state must equal ``collections.Counter`` of the corpus.
    window: every collected window, without its zero counts, must equal the Counter of the chunks
    of the batches it covers (the i-th batch reads chunk i); the column shows OK or MISMATCH
    and how many windows held data (the last of them is the one the brief asks about).

``--show-batches`` prints each run's busy time per batch; ``--json`` keeps everything.

Examples:
    python3 benches/state_window_vs_pyspark.py --lines 200000 --runs 1      # quick check
    python3 benches/state_window_vs_pyspark.py --runs 3                     # 2 M lines, both
    python3 benches/state_window_vs_pyspark.py --pipelines window --engines ferrostream
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import _corpus  # noqa: E402
import _harness  # noqa: E402
from _harness import busy_per_batch, fmt_rss  # noqa: E402

# Appended to ``_harness.CHILD_PRELUDE`` (which defines ``lines``, ``rt.done``, ``rt.errors`` and
# ``run_and_report``).  VARIANT is the pipeline.  The records live in ``rt`` (see the prelude):
# the callbacks are pickled into every checkpoint and must not carry them.
CHILD_BODY = r"""
WINDOW = float(os.environ["BENCH_WINDOW"])
SLIDE = float(os.environ["BENCH_SLIDE"])
ssc.checkpoint(os.path.join(os.environ["BENCH_TMP"], "checkpoint"))

words = lines.flatMap(lambda line: line.split(" ")).map(lambda w: (w, 1))

rt.calls = []     # (scheduled batch time, callback entry, collect end, number of records)
rt.outputs = []   # (scheduled batch time, collected pairs): the last state, or every window
rt.marks = []     # window pipeline: (scheduled batch time, end of the batch)


def collect(t, rdd):
    t_in = time.time()
    try:
        out = rdd.collect()
    except Exception as e:  # recorded, reported by the parent
        rt.errors.append(repr(e)[:2000])
        rt.done.set()
        raise
    rt.calls.append((t.timestamp(), t_in, time.time(), len(out)))
    return out


if VARIANT == "state":
    running = (words.reduceByKey(lambda a, b: a + b)
               .updateStateByKey(lambda new, old: sum(new) + (old or 0)))

    def on_state(t, rdd):
        if rt.done.is_set():
            return  # later batches may be cut short by stop()
        out = collect(t, rdd)
        if len(rt.calls) == N_CHUNKS:
            rt.outputs.append((t.timestamp(), out))
            rt.done.set()

    running.foreachRDD(on_state)
elif VARIANT == "window":
    windowed = words.reduceByKeyAndWindow(lambda a, b: a + b, lambda a, b: a - b, WINDOW, SLIDE)

    def on_window(t, rdd):
        if rt.done.is_set():
            return
        rt.outputs.append((t.timestamp(), collect(t, rdd)))

    def on_mark(t, rdd):
        # Registered last: runs after the window output of the same batch.
        if rt.done.is_set():
            return
        rt.marks.append((t.timestamp(), time.time()))
        # Done once the window holding the last batch with data can have no successor that
        # still holds it.
        if len(rt.marks) >= N_CHUNKS and rt.outputs:
            last_data = rt.marks[N_CHUNKS - 1][0]
            if rt.outputs[-1][0] >= last_data + WINDOW - SLIDE - 1e-3:
                rt.done.set()

    windowed.foreachRDD(on_window)
    lines.foreachRDD(on_mark)
else:
    raise SystemExit("unknown pipeline " + VARIANT)

run_and_report(lambda: {"calls": rt.calls, "outputs": rt.outputs, "marks": rt.marks})
"""


def _ms(t: float) -> int:
    return round(t * 1000)


def run_once(engine: str, python: str, pipeline: str, args, chunk_counts: list[Counter]) -> dict:
    run = _harness.run_child(
        engine,
        python,
        CHILD_BODY,
        args,
        "state-window",
        pipeline,
        window=args.window,
        slide=args.slide,
    )
    if not run["ok"]:
        run["pipeline"] = pipeline
        return run
    res, t_launch = run["res"], run["t_launch"]
    calls, outputs = res["calls"], res["outputs"]
    total_words = sum(sum(c.values()) for c in chunk_counts)
    k = len(chunk_counts)
    if pipeline == "state":
        ends = [(sched, t_out) for sched, _t_in, t_out, _n in calls]
        final_end = calls[-1][2]
        expected = sum(chunk_counts, Counter())
        got = dict(outputs[-1][1])
        match = len(got) == len(outputs[-1][1]) and got == expected
        check = "OK" if match else "MISMATCH"
    else:
        ends = [tuple(m) for m in res["marks"]]
        times = [_ms(sched) for sched, _end in ends]
        last_data = times[k - 1]
        w_ms = _ms(args.window)
        match, with_data, final_end = True, 0, None
        for (t, pairs), call in zip(outputs, calls):
            covered = [i for i, s in enumerate(times[:k]) if _ms(t) - w_ms < s <= _ms(t)]
            expected = sum((chunk_counts[i] for i in covered), Counter())
            got = {w: c for w, c in pairs if c != 0}
            keys_unique = len({w for w, _c in pairs}) == len(pairs)
            match = match and keys_unique and got == expected
            if covered:
                with_data += 1
            if _ms(t) - w_ms < last_data <= _ms(t):
                final_end = call[2]  # the latest window holding data so far
        check = f"{'OK' if match else 'MISMATCH'} {with_data}w"
        # The marks end with the batch of the last window holding data (``done`` is set there):
        # the busy time counts every batch up to it.
    per_batch = busy_per_batch(ends)
    busy = sum(per_batch)
    e2e = final_end - ends[0][0]
    t = res["t"]
    return {
        "engine": engine,
        "pipeline": pipeline,
        "ok": True,
        "match": match,
        "check": check,
        "wps_e2e": total_words / e2e,
        "wps_proc": total_words / busy,
        "e2e_s": e2e,
        "proc_s": busy,
        "max_batch_s": max(per_batch),
        "max_lag_s": max(end - sched for sched, end in ends),
        "batches": len(ends),
        "in_callback_s": sum(c[2] - c[1] for c in calls),
        "sc_s": t["sc"] - t_launch,
        "first_result_s": ends[0][1] - t_launch,
        "per_batch_s": per_batch,
        "rss": run["rss"],
    }


def fmt_run(r: dict) -> str:
    if not r["ok"]:
        return f"{r['engine']:<12} FAILED: {r['error']}"
    check = r.get("check", "OK" if r["match"] else "MISMATCH")
    return (
        f"{r['engine']:<12} {r['wps_e2e'] / 1e6:8.3f} {r['wps_proc'] / 1e6:9.3f} {r['e2e_s']:7.2f} "
        f"{r['proc_s']:7.2f} {r['max_batch_s']:6.2f} {r['max_lag_s']:7.2f} {r['sc_s']:6.2f} "
        f"{r['first_result_s']:7.2f}  {check:<11} RSS MiB: {fmt_rss(r['engine'], r['rss'])}"
    )


HEADER = (
    f"{'engine':<12} {'Mw/s e2e':>8} {'Mw/s proc':>9} {'e2e s':>7} {'proc s':>7} {'max b':>6} "
    f"{'max lag':>7} {'ctx s':>6} {'first s':>7}  {'check':<11}"
)
KEYS = (
    "wps_e2e",
    "wps_proc",
    "e2e_s",
    "proc_s",
    "max_batch_s",
    "max_lag_s",
    "sc_s",
    "first_result_s",
)


def main() -> None:
    ap = _harness.base_parser(__doc__, 30, str(_harness.REPO_ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--pipelines", default="state,window", help="state, window or both")
    ap.add_argument("--window", type=float, default=30.0, help="window length, s (default 30)")
    ap.add_argument("--slide", type=float, default=10.0, help="slide, s (default 10)")
    ap.add_argument("--show-batches", action="store_true", help="print busy time per batch")
    args = ap.parse_args()
    engines, pythons = _harness.engine_pythons(ap, args)
    pipelines = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    for p in pipelines:
        if p not in ("state", "window"):
            ap.error(f"unknown pipeline {p}")

    path = _corpus.ensure_corpus(args.lines)
    chunks = _corpus.load_chunks(args.chunks, args.lines)
    chunk_counts = [Counter(w for line in c for w in line.split(" ")) for c in chunks]
    del chunks
    total = sum(chunk_counts, Counter())
    print(
        f"corpus {path.name}: {args.lines} lines, {sum(total.values())} words, {len(total)} "
        f"distinct; {args.chunks} batches of {args.batch:g} s with data; window "
        f"{args.window:g} s / slide {args.slide:g} s; pipelines {pipelines}; engines {engines}; "
        f"runs {args.runs}"
    )

    results = _harness.run_rounds(
        pipelines,
        engines,
        args.runs,
        HEADER,
        lambda e, p: run_once(e, pythons[e], p, args, chunk_counts),
        fmt_run,
        args.show_batches,
    )

    def median(runs: list[dict]) -> dict | None:
        m = _harness.median_run(runs, KEYS)
        if m is not None:
            checks = {r["check"] for r in runs if r["ok"]}
            m["check"] = checks.pop() if len(checks) == 1 else ("OK" if m["match"] else "MISMATCH")
        return m

    med = _harness.print_medians(pipelines, engines, results, HEADER, fmt_run, median)
    for p in pipelines:
        a, b = med.get(f"{p}/ferrostream"), med.get(f"{p}/pyspark")
        if a and b:
            print(
                f"{p}: ferrostream/PySpark words/s: processing only "
                f"{a['wps_proc'] / b['wps_proc']:.2f}x, end to end "
                f"{a['wps_e2e'] / b['wps_e2e']:.2f}x"
            )
    if args.json:
        runs = {f"{p}/{e}": rs for (p, e), rs in results.items()}
        dump = {"args": vars(args), "runs": runs, "medians": med}
        Path(args.json).write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    main()
