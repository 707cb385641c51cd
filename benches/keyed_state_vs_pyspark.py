"""Keyed state over 1 M distinct keys: ferrostream vs PySpark 3.5.9, back to back (not part of CI).

What it measures: processing throughput (words/s) and peak memory of the two stateful DStream
operations when the key space is large, as real state is (users, sessions, IPs, order ids):

  state   ``words.updateStateByKey(lambda new, old: sum(new) + (old or 0))`` (``--update def``:
          the same as a ``def``, as in Spark's stateful_network_wordcount example;
          ``--pre-reduce``: ``reduceByKey(add)`` before it, as ``state_window_vs_pyspark.py``
          does), a running count of every key.
  window  ``words.reduceByKeyAndWindow(add, sub, W, S)``, the incremental (inverse function)
          path, W = 30 batches and S = 10 batches by default (as ``state_window_vs_pyspark.py``'s
          30 s / 10 s over 1 s batches, scaled to the batch interval): every slide the engine
          adds the new batches and subtracts the batches leaving the window.

with ``words = lines.flatMap(lambda line: line.split(" ")).map(lambda w: (w, 1))`` and
``ssc.checkpoint(<fresh temporary directory>)`` (both pipelines need it).

Input: the uniform-key corpus of ``benches/_corpus.py`` (``--lines`` lines, default 1 M, of 10
words drawn uniformly from ``k0 .. k{keys-1}``, default 1 M keys, seeded; cached under
``bench-data/``), split into ``--chunks`` RDDs (``sc.parallelize(chunk, 2)``) fed by a
queueStream, one per batch (default 10 for ``state``: 1 M words a batch; 30 for ``window``, so
that the last windows holding data have batches leaving them and the inverse path runs).
Batches of ``--batch`` s (default 0.05): smaller than either engine's time per batch, so both
are saturated and the figure is processing throughput, not the clock.  local[2], the UI off,
log level ERROR, SPARK_LOCAL_IP=127.0.0.1; same harness as the other ``*_vs_pyspark`` benches
(``_harness.py``).

Output per batch: ``count()`` of the state / of each window (``--output collect`` collects
instead, as ``state_window_vs_pyspark.py`` does; with 1 M keys that mostly measures moving 1 M
pairs to the driver).  A batch is busy from when it could start (its scheduled time, or the end
of the previous batch) to the end of that output; the window pipeline counts every batch up to
the last window holding data, the empty ones included (their windows still take batches out).
The result checks below run inside the callbacks but are excluded from the busy time.

Correctness, against plain Python (``collections.Counter`` of the chunks):
  state   every batch's count must be the number of distinct keys seen so far; the last batch's
          state is collected and must equal the Counter of the whole corpus.
  window  every window is collected; without its zero counts it must equal the Counter of the
          chunks of the batches it covers, with each key once and as many pairs as its count.
          (Engines may keep keys whose count fell to 0: PySpark does without ``filterFunc``.)

Memory (issue 7's "peak RSS with 1 M keys of state", target ferrostream <= 1/3 of PySpark):
peak RSS of the process tree, sampled from /proc every 100 ms, up to the first result check
(for ``state``: the whole run up to the final state of ~1 M keys, before collecting it).
PySpark: driver + JVM + Python workers; ferrostream: its one process.  Both hold the queued
input (PySpark in the JVM, pickled).  "RSS" is the peak of the tree's summed RSS, the figure
the target is about; "PSS" the peak of its summed proportional set size, which counts pages
shared by PySpark's forked workers and their daemon once (lower for PySpark, the same for one
process); "at end" the summed RSS just before the check.  For ``window``, the peak is taken
over the whole run outside the checks (each collects a whole window into the driver).

Engines alternate, pipeline by pipeline, ``--runs`` times each (default 3); medians and the
ferrostream/PySpark ratios (throughput, and PySpark/ferrostream for memory) are printed last.

Examples:
    .venv/bin/maturin develop --release        # ferrostream from this checkout
    python3 benches/keyed_state_vs_pyspark.py --lines 20000 --runs 1          # quick check
    python3 benches/keyed_state_vs_pyspark.py                                 # full: 1 M lines
    python3 benches/keyed_state_vs_pyspark.py --pipelines state --engines ferrostream
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _corpus  # noqa: E402
import _harness  # noqa: E402
from _harness import busy_per_batch, fmt_rss  # noqa: E402

# Appended to ``_harness.CHILD_PRELUDE``.  The records live in ``rt`` (see the prelude): the
# callbacks are pickled into every checkpoint and must not carry them.
CHILD_BODY = r"""
WINDOW = float(os.environ["BENCH_WINDOW"])
SLIDE = float(os.environ["BENCH_SLIDE"])
OUTPUT = os.environ["BENCH_OUTPUT"]
ssc.checkpoint(os.path.join(os.environ["BENCH_TMP"], "checkpoint"))

words = lines.flatMap(lambda line: line.split(" ")).map(lambda w: (w, 1))
if os.environ["BENCH_PRE_REDUCE"] == "1":
    words = words.reduceByKey(lambda a, b: a + b)

rt.calls = []     # (scheduled batch time, callback entry, output end, count, end of the check)
rt.outputs = []   # (scheduled batch time, file of the collected pairs) of every checked output
rt.marks = []     # window pipeline: (scheduled batch time, end of the batch, check seconds)
rt.checks = []    # (start, end) of every result check
rt.batch_check_s = 0.0


def measured(t, rdd, check):
    # The measured output, then (if ``check``) the result check, excluded from the busy time.
    t_in = time.time()
    try:
        if OUTPUT == "count":
            n, out = rdd.count(), None
        else:
            out = rdd.collect()
            n = len(out)
        t_out = time.time()
        if check:
            if out is None:
                out = rdd.collect()
            # Kept in a file, not in memory: the peak RSS is measured outside the checks.
            path = os.path.join(os.environ["BENCH_TMP"], "check-%d.json" % len(rt.checks))
            with open(path, "w") as f:
                json.dump(out, f)
            out = None
            rt.outputs.append((t.timestamp(), path))
    except Exception as e:  # recorded, reported by the parent
        rt.errors.append(repr(e)[:2000])
        rt.done.set()
        raise
    t_free = time.time()
    if check:
        rt.checks.append((t_out, t_free))
        rt.batch_check_s += t_free - t_out
    rt.calls.append((t.timestamp(), t_in, t_out, n, t_free))


if VARIANT == "state":
    if os.environ["BENCH_UPDATE"] == "def":
        def add_to_total(new_counts, total):
            return sum(new_counts) + (total or 0)
        running = words.updateStateByKey(add_to_total)
    else:
        running = words.updateStateByKey(lambda new, old: sum(new) + (old or 0))

    def on_state(t, rdd):
        if rt.done.is_set():
            return  # later batches may be cut short by stop()
        measured(t, rdd, check=len(rt.calls) + 1 == N_CHUNKS)
        if len(rt.calls) == N_CHUNKS:
            rt.done.set()

    running.foreachRDD(on_state)
elif VARIANT == "window":
    windowed = words.reduceByKeyAndWindow(lambda a, b: a + b, lambda a, b: a - b, WINDOW, SLIDE)

    def on_window(t, rdd):
        if rt.done.is_set():
            return
        measured(t, rdd, check=True)

    def on_mark(t, rdd):
        # Registered last: runs after the window output of the same batch.
        if rt.done.is_set():
            return
        rt.marks.append((t.timestamp(), time.time(), rt.batch_check_s))
        rt.batch_check_s = 0.0
        if len(rt.marks) >= N_CHUNKS and rt.outputs:
            last_data = rt.marks[N_CHUNKS - 1][0]
            if rt.outputs[-1][0] >= last_data + WINDOW - SLIDE - 1e-3:
                rt.done.set()

    windowed.foreachRDD(on_window)
    lines.foreachRDD(on_mark)
else:
    raise SystemExit("unknown pipeline " + VARIANT)

def payload():
    outputs = []
    for t, path in rt.outputs:
        with open(path) as f:
            outputs.append((t, json.load(f)))
    return {"calls": rt.calls, "outputs": outputs, "marks": rt.marks, "checks": rt.checks}


run_and_report(payload)
"""


def _ms(t: float) -> int:
    return round(t * 1000)


def _peak_outside_checks(timeline, checks, t_done: float) -> dict[str, float]:
    """Peak RSS over the samples taken before ``t_done`` and outside the result checks (and
    0.2 s after each)."""
    kept = [(t, cur) for t, cur in timeline if not any(a <= t < b + 0.2 for a, b in checks)]
    return _harness.peak_rss(kept, 0.0, t_done)


def run_once(engine: str, python: str, pipeline: str, args, chunk_counts: list[Counter]) -> dict:
    chunks = args.chunks_for[pipeline]
    run = _harness.run_child(
        engine,
        python,
        CHILD_BODY,
        _Args(args, chunks),
        "keyed-state",
        pipeline,
        window=args.window_s,
        slide=args.slide_s,
        output=args.output,
        update=args.update,
        pre_reduce=int(args.pre_reduce),
        corpus="uniform",
        input="lines",
        keys=args.keys,
        sample_pss=True,
    )
    if not run["ok"]:
        run["pipeline"] = pipeline
        return run
    res, t_launch = run["res"], run["t_launch"]
    calls, outputs = res["calls"], res["outputs"]
    total_words = sum(sum(c.values()) for c in chunk_counts)
    k = len(chunk_counts)
    problems: list[str] = []
    if pipeline == "state":
        ends = [(c[0], c[2], c[4]) for c in calls]
        per_batch = busy_per_batch(ends)
        seen: set[str] = set()
        for i, c in enumerate(calls):
            seen.update(chunk_counts[i])
            if c[3] != len(seen):
                problems.append(f"batch {i + 1}: count {c[3]}, expected {len(seen)}")
        expected = sum(chunk_counts, Counter())
        final = outputs[-1][1]
        got = dict(final)
        if len(got) != len(final) or got != expected:
            problems.append(f"final state ({len(final)} pairs) differs from the corpus counts")
        check = "OK" if not problems else "MISMATCH"
    else:
        marks = res["marks"]
        ends = [(m[0], m[1]) for m in marks]
        per_batch = [b - m[2] for b, m in zip(busy_per_batch(ends), marks)]
        times = [_ms(m[0]) for m in marks]
        w_ms = _ms(args.window_s)
        with_data = 0
        for (t, pairs), call in zip(outputs, calls):
            covered = [i for i, s in enumerate(times[:k]) if _ms(t) - w_ms < s <= _ms(t)]
            expected = sum((chunk_counts[i] for i in covered), Counter())
            got = {w: c for w, c in pairs if c != 0}
            if len({w for w, _c in pairs}) != len(pairs) or call[3] != len(pairs):
                problems.append(f"window at {t}: duplicate keys or count != pairs")
            if got != expected:
                problems.append(f"window at {t} (batches {covered[:1]}..{covered[-1:]}) differs")
            if covered:
                with_data += 1
        check = f"{'OK' if not problems else 'MISMATCH'} {with_data}w"
    busy = sum(per_batch)
    rss_before = _harness.peak_rss(run["rss_timeline"], 0.0, min(a for a, _b in res["checks"]))
    t = res["t"]
    return {
        "engine": engine,
        "pipeline": pipeline,
        "ok": True,
        "match": not problems,
        "problems": problems[:10],
        "check": check,
        "wps_proc": total_words / busy,
        "proc_s": busy,
        "max_batch_s": max(per_batch),
        "batches": len(per_batch),
        "sc_s": t["sc"] - t_launch,
        "first_result_s": ends[0][1] - t_launch,
        "per_batch_s": per_batch,
        "rss": run["rss"],
        "rss_before_check": rss_before,
        "rss_outside_checks": _peak_outside_checks(run["rss_timeline"], res["checks"], t["done"]),
    }


class _Args:
    """``args`` with ``chunks`` and ``lines`` as ``run_child`` reads them for one pipeline."""

    def __init__(self, args, chunks: int):
        self.__dict__.update(vars(args))
        self.chunks = chunks


def _mem_key(pipeline: str) -> str:
    return "rss_before_check" if pipeline == "state" else "rss_outside_checks"


def _mem(r: dict) -> str:
    m = r[_mem_key(r["pipeline"])]
    other = f"  other {m['other']:.0f}" if r["engine"] == "pyspark" and m["other"] >= 1 else ""
    return (
        f"{m['total']:7.0f} {m.get('pss', 0):7.0f} {m['at_end']:7.0f}  "
        f"({fmt_rss(r['engine'], m)}{other})"
    )


def fmt_run(r: dict) -> str:
    if not r["ok"]:
        return f"{r['engine']:<12} FAILED: {r['error']}"
    return (
        f"{r['engine']:<12} {r['wps_proc'] / 1e6:9.4f} {r['proc_s']:8.2f} {r['max_batch_s']:7.2f} "
        f"{r['batches']:5d} {r['sc_s']:6.2f} {r['first_result_s']:7.2f}  {r['check']:<11} "
        f"{_mem(r)}"
    )


HEADER = (
    f"{'engine':<12} {'Mw/s proc':>9} {'proc s':>8} {'max b':>7} {'nb':>5} {'ctx s':>6} "
    f"{'first s':>7}  {'check':<11} {'RSS MiB':>7} {'PSS MiB':>7} {'at end':>7}"
)
KEYS = ("wps_proc", "proc_s", "max_batch_s", "sc_s", "first_result_s")


def _median(runs: list[dict]) -> dict | None:
    m = _harness.median_run(runs, KEYS)
    if m is None:
        return None
    ok = [r for r in runs if r["ok"]]
    for key in ("rss_before_check", "rss_outside_checks"):
        m[key] = {k: statistics.median(r[key][k] for r in ok) for k in ok[0][key]}
    m["batches"] = ok[0]["batches"]
    m["pipeline"] = ok[0]["pipeline"]
    checks = {r["check"] for r in ok}
    m["check"] = checks.pop() if len(checks) == 1 else ("OK" if m["match"] else "MISMATCH")
    return m


def main() -> None:
    ap = _harness.base_parser(__doc__, 0, str(REPO_ROOT / ".venv" / "bin" / "python"))
    ap.set_defaults(lines=1_000_000, batch=0.05, timeout=1800.0)
    _harness.set_help(ap, "chunks", "input RDDs, one per batch (default: state 10, window 30)")
    _harness.set_help(ap, "batch", "batch interval in seconds (default 0.05)")
    _harness.set_help(ap, "lines", "corpus lines (default 1 M, 10 words each)")
    ap.add_argument("--pipelines", default="state,window", help="state, window or both")
    ap.add_argument("--keys", type=int, default=_corpus.DEFAULT_KEYS, help="key space (1 M)")
    ap.add_argument("--window", type=int, default=30, help="window, in batches (default 30)")
    ap.add_argument("--slide", type=int, default=10, help="slide, in batches (default 10)")
    ap.add_argument("--output", choices=["count", "collect"], default="count")
    ap.add_argument("--update", choices=["lambda", "def"], default="lambda")
    ap.add_argument("--pre-reduce", action="store_true", help="reduceByKey(add) before the state")
    ap.add_argument("--show-batches", action="store_true", help="print busy time per batch")
    args = ap.parse_args()
    engines, pythons = _harness.engine_pythons(ap, args)
    pipelines = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    for p in pipelines:
        if p not in ("state", "window"):
            ap.error(f"unknown pipeline {p}")
    # --chunks: default (0) is per pipeline: 10 for state, 30 for window.
    args.chunks_for = {
        "state": args.chunks or 10,
        "window": args.chunks or 30,
    }
    args.window_s = round(args.window * args.batch, 6)
    args.slide_s = round(args.slide * args.batch, 6)

    path = _corpus.ensure_uniform_corpus(args.lines, args.keys)
    counts_for = {}
    for p in pipelines:
        n = args.chunks_for[p]
        chunks = _corpus.input_chunks("lines", "uniform", n, args.lines, args.keys)
        counts_for[p] = [Counter(w for line in c for w in line.split(" ")) for c in chunks]
    any_counts = counts_for[pipelines[0]]
    total = sum(any_counts, Counter())
    print(
        f"corpus {path.name}: {args.lines} lines, {sum(total.values())} words, {len(total)} "
        f"distinct keys; batches of {args.batch:g} s; chunks {args.chunks_for}; window "
        f"{args.window_s:g} s / slide {args.slide_s:g} s; output {args.output}; update "
        f"{args.update}{' after reduceByKey' if args.pre_reduce else ''}; pipelines "
        f"{pipelines}; engines {engines}; runs {args.runs}"
    )

    results = _harness.run_rounds(
        pipelines,
        engines,
        args.runs,
        HEADER,
        lambda e, p: run_once(e, pythons[e], p, args, counts_for[p]),
        fmt_run,
        args.show_batches,
    )

    med = _harness.print_medians(pipelines, engines, results, HEADER, fmt_run, _median)
    for p in pipelines:
        a, b = med.get(f"{p}/ferrostream"), med.get(f"{p}/pyspark")
        if a and b:
            ma, mb = a[_mem_key(p)], b[_mem_key(p)]
            print(
                f"{p}: ferrostream/PySpark words/s (processing only) "
                f"{a['wps_proc'] / b['wps_proc']:.2f}x; peak memory PySpark tree / ferrostream: "
                f"RSS {mb['total'] / ma['total']:.2f}x ({mb['total']:.0f} / {ma['total']:.0f} "
                f"MiB), PSS {mb['pss'] / ma['pss']:.2f}x ({mb['pss']:.0f} / {ma['pss']:.0f} MiB)"
            )
    if args.json:
        runs = {f"{p}/{e}": rs for (p, e), rs in results.items()}
        for rs in runs.values():
            for r in rs:
                r.pop("rss_timeline", None)
        dump = {"args": {k: v for k, v in vars(args).items()}, "runs": runs, "medians": med}
        Path(args.json).write_text(json.dumps(dump, indent=1, default=str))


if __name__ == "__main__":
    main()
