"""Per-batch RDD operations on 1 M records: ferrostream vs PySpark 3.5.9, back to back (not CI).

What it measures: processing throughput (records/s) of three things streaming programs do to every
batch, each batch holding 1 M records by default:

  join          ``pairs.transform(lambda rdd: rdd.join(static))``: the stream joined with a static
                1 M-row pair RDD, built once before the stream starts as PySpark users write it
                for a lookup table joined every batch:
                ``static = sc.parallelize([(f"k{i}", i) for i in range(keys)], 2)
                .partitionBy(2).cache()`` (and ``static.count()`` to materialise it);
                ``--static plain`` drops the ``partitionBy(2)``.
  sort          ``pairs.transform(lambda rdd: rdd.sortBy(lambda kv: kv[1]).zipWithIndex())``.
  countbyvalue  ``words.countByValue()``.

Input: the uniform-key corpus of ``benches/_corpus.py`` (``--lines`` lines, default 1 M, of 10
words drawn uniformly from ``k0 .. k{keys-1}``, default 1 M keys; seeded, cached under
``bench-data/``) split into ``--chunks`` batches (default 10: 1 M records a batch).  ``words``
is a queueStream of the chunks' words; ``pairs`` one of ``(word, value)`` with a seeded random
``value`` in [0, 1e9) (``_corpus.input_chunks``); every queued RDD is
``sc.parallelize(records, 2)``, built before the stream starts.  Batches of ``--batch`` s
(default 0.05): smaller than either engine's time per batch, so both are saturated and the
figure is processing throughput.  local[2], the UI off, log level ERROR,
SPARK_LOCAL_IP=127.0.0.1, no checkpointing; same harness as the other ``*_vs_pyspark`` benches.

Output per batch: ``count()`` of the result (a user would save or pprint it; ``count`` runs the
whole pipeline without moving 1 M records to the driver).  A batch is busy from when it could
start (its scheduled time, or the end of the previous batch) to the end of that count; records/s
= input records / total busy time over the data batches.

Correctness, against plain Python: every batch's count must be what plain Python computes (the
number of records for join and sort, of distinct words for countbyvalue); the last batch's
result is collected after its count (not timed) and checked in full: join, every record is
``(k, (value, int(k[1:])))`` and the ``(k, value)`` multiset is the batch's input; sort, the
indices are 0..n-1 in the collected order, the values never decrease and the records are the
batch's input; countbyvalue, the pairs equal ``collections.Counter`` of the batch's words.

Engines alternate, pipeline by pipeline, ``--runs`` times each (default 3); medians and the
ferrostream/PySpark ratios are printed last (issue 7's target: at least 10x for each).

Examples:
    .venv/bin/maturin develop --release        # ferrostream from this checkout
    python3 benches/batch_ops_vs_pyspark.py --lines 20000 --runs 1            # quick check
    python3 benches/batch_ops_vs_pyspark.py                                   # full: 10 x 1 M
    python3 benches/batch_ops_vs_pyspark.py --pipelines join --static plain
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

PIPELINES = {"join": "pairs", "sort": "pairs", "countbyvalue": "words"}

# Appended to ``_harness.CHILD_PRELUDE``; the stream is called ``lines`` whatever it holds.
CHILD_BODY = r"""
T_STATIC = time.time()
if VARIANT == "join":
    static = sc.parallelize([("k%d" % i, i) for i in range(N_KEYS)], 2)
    if os.environ["BENCH_STATIC"] == "partitioned":
        static = static.partitionBy(2)
    static = static.cache()
    rt.static_rows = static.count()
    result = lines.transform(lambda rdd: rdd.join(static))
elif VARIANT == "sort":
    result = lines.transform(lambda rdd: rdd.sortBy(lambda kv: kv[1]).zipWithIndex())
elif VARIANT == "countbyvalue":
    result = lines.countByValue()
else:
    raise SystemExit("unknown pipeline " + VARIANT)
T_STATIC = time.time() - T_STATIC

rt.calls = []     # (scheduled batch time, callback entry, count end, count, end of the check)
rt.last = None    # the last data batch's result, collected after its count


def on_batch(t, rdd):
    if rt.done.is_set():
        return  # later (empty) batches may be cut short by stop()
    t_in = time.time()
    try:
        n = rdd.count()
        t_out = time.time()
        if len(rt.calls) + 1 == N_CHUNKS:
            rt.last = rdd.collect()
    except Exception as e:  # recorded, reported by the parent
        rt.errors.append(repr(e)[:2000])
        rt.done.set()
        raise
    rt.calls.append((t.timestamp(), t_in, t_out, n, time.time()))
    if len(rt.calls) == N_CHUNKS:
        rt.done.set()


result.foreachRDD(on_batch)
run_and_report(lambda: {"calls": rt.calls, "last": rt.last, "static_s": T_STATIC,
                        "static_rows": getattr(rt, "static_rows", None)})
"""


class _Args:
    def __init__(self, args, chunks: int):
        self.__dict__.update(vars(args))
        self.chunks = chunks


def expectations(pipeline: str, args) -> tuple[list[int], object]:
    """Per-batch counts and the last batch's input (pairs or words), computed in plain Python."""
    kind = PIPELINES[pipeline]
    counts: list[int] = []
    last = None
    for chunk in _corpus.input_chunks(kind, "uniform", args.chunks, args.lines, args.keys):
        counts.append(len(set(chunk)) if pipeline == "countbyvalue" else len(chunk))
        last = chunk
    return counts, last


def check_last(pipeline: str, got: list, last_input: list) -> str | None:
    """``None`` if the last batch's collected result is right, else what is wrong."""
    if pipeline == "join":
        if any(len(r) != 2 or r[1][1] != int(r[0][1:]) for r in got):
            return "a joined record does not carry its static row"
        if Counter((k, v) for k, (v, _i) in got) != Counter(last_input):
            return "joined (key, value) pairs differ from the batch's input"
    elif pipeline == "sort":
        if [i for _r, i in got] != list(range(len(got))):
            return "indices are not 0..n-1 in order"
        vals = [r[1] for r, _i in got]
        if any(a > b for a, b in zip(vals, vals[1:])):
            return "values are not sorted"
        if Counter((k, v) for (k, v), _i in got) != Counter(last_input):
            return "sorted records differ from the batch's input"
    else:
        got_d = dict(got)
        if len(got_d) != len(got) or got_d != Counter(last_input):
            return "counts differ from Counter of the batch's words"
    return None


def run_once(engine: str, python: str, pipeline: str, args, expected) -> dict:
    counts, last_input = expected
    run = _harness.run_child(
        engine,
        python,
        CHILD_BODY,
        args,
        "batch-ops",
        pipeline,
        corpus="uniform",
        input=PIPELINES[pipeline],
        keys=args.keys,
        static=args.static,
    )
    if not run["ok"]:
        run["pipeline"] = pipeline
        return run
    res, t_launch = run["res"], run["t_launch"]
    calls = res["calls"]
    problems = [
        f"batch {i + 1}: count {c[3]}, expected {e}"
        for i, (c, e) in enumerate(zip(calls, counts))
        if c[3] != e
    ]
    if pipeline == "join" and res["static_rows"] != args.keys:
        problems.append(f"static RDD has {res['static_rows']} rows, expected {args.keys}")
    wrong = check_last(pipeline, res["last"], last_input)
    if wrong:
        problems.append("last batch: " + wrong)
    per_batch = busy_per_batch([(c[0], c[2], c[4]) for c in calls])
    busy = sum(per_batch)
    records = args.records_total
    t = res["t"]
    return {
        "engine": engine,
        "pipeline": pipeline,
        "ok": True,
        "match": not problems,
        "problems": problems[:10],
        "rps_proc": records / busy,
        "proc_s": busy,
        "max_batch_s": max(per_batch),
        "static_s": res["static_s"],
        "sc_s": t["sc"] - t_launch,
        "first_result_s": calls[0][2] - t_launch,
        "per_batch_s": per_batch,
        "rss": run["rss"],
    }


def fmt_run(r: dict) -> str:
    if not r["ok"]:
        return f"{r['engine']:<12} FAILED: {r['error']}"
    return (
        f"{r['engine']:<12} {r['rps_proc'] / 1e6:9.4f} {r['proc_s']:8.2f} {r['max_batch_s']:7.2f} "
        f"{r['static_s']:8.2f} {r['sc_s']:6.2f} {r['first_result_s']:7.2f}  "
        f"{'OK' if r['match'] else 'MISMATCH':<8}  RSS MiB: {fmt_rss(r['engine'], r['rss'])}"
    )


HEADER = (
    f"{'engine':<12} {'Mrec/s':>9} {'proc s':>8} {'max b':>7} {'setup s':>8} {'ctx s':>6} "
    f"{'first s':>7}  {'check':<8}"
)
KEYS = ("rps_proc", "proc_s", "max_batch_s", "static_s", "sc_s", "first_result_s")


def main() -> None:
    ap = _harness.base_parser(__doc__, 10, str(REPO_ROOT / ".venv" / "bin" / "python"))
    ap.set_defaults(lines=1_000_000, batch=0.05, timeout=1800.0)
    _harness.set_help(ap, "chunks", "batches with data (default 10: 1 M records each)")
    _harness.set_help(ap, "batch", "batch interval in seconds (default 0.05)")
    _harness.set_help(ap, "lines", "corpus lines (default 1 M, 10 words each)")
    ap.add_argument("--pipelines", default="join,sort,countbyvalue")
    ap.add_argument(
        "--keys",
        type=int,
        default=_corpus.DEFAULT_KEYS,
        help="key space and rows of the static RDD (default 1 M)",
    )
    ap.add_argument(
        "--static",
        choices=["partitioned", "plain"],
        default="partitioned",
        help="join: static RDD with partitionBy(2) (default) or without",
    )
    ap.add_argument("--show-batches", action="store_true", help="print busy time per batch")
    args = ap.parse_args()
    engines, pythons = _harness.engine_pythons(ap, args)
    pipelines = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    for p in pipelines:
        if p not in PIPELINES:
            ap.error(f"unknown pipeline {p}")
    path = _corpus.ensure_uniform_corpus(args.lines, args.keys)
    args.records_total = args.lines * _corpus.UNIFORM_WORDS_PER_LINE
    print(
        f"corpus {path.name}: {args.lines} lines, {args.records_total} records in "
        f"{args.chunks} batches of {args.batch:g} s; keys {args.keys}; static {args.static}; "
        f"pipelines {pipelines}; engines {engines}; runs {args.runs}"
    )
    expected = {p: expectations(p, args) for p in pipelines}

    results = _harness.run_rounds(
        pipelines,
        engines,
        args.runs,
        HEADER,
        lambda e, p: run_once(e, pythons[e], p, args, expected[p]),
        fmt_run,
        args.show_batches,
    )

    med = _harness.print_medians(
        pipelines, engines, results, HEADER, fmt_run, lambda rs: _harness.median_run(rs, KEYS)
    )
    print()
    for p in pipelines:
        a, b = med.get(f"{p}/ferrostream"), med.get(f"{p}/pyspark")
        if a and b:
            print(
                f"{p}: ferrostream/PySpark records/s (processing only) "
                f"{a['rps_proc'] / b['rps_proc']:.2f}x"
            )
    if args.json:
        runs = {f"{p}/{e}": rs for (p, e), rs in results.items()}
        dump = {"args": vars(args), "runs": runs, "medians": med}
        Path(args.json).write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    main()
