"""What the web UI costs: the word count of ``wordcount_vs_pyspark.py`` on ferrostream with
``spark.ui.enabled`` false and true, side by side (not part of CI).

Issue 10 asks that the UI and its metrics cost less than 2% of throughput, and nothing when
disabled. Runs alternate (UI off, UI on) ``--runs`` times in fresh interpreters; each prints
words/s end to end and processing only (see ``wordcount_vs_pyspark.py`` for how they are
measured), then the medians and the ratio UI on / UI off. Run it on an otherwise idle machine:
on busy cores the ratio says nothing.

Examples:
    python3 benches/ui_overhead.py --lines 2000 --chunks 4 --batch 0.2 --runs 1   # it works
    python3 benches/ui_overhead.py --runs 5                                       # figures
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _corpus  # noqa: E402
import _harness  # noqa: E402
import wordcount_vs_pyspark as wordcount  # noqa: E402

MODES = {"ui off": "false", "ui on": "true"}
KEYS = ("wps_e2e", "wps_proc", "e2e_s", "proc_s", "max_batch_s", "ms_per_batch")


def fmt(mode: str, r: dict) -> str:
    if not r["ok"]:
        return f"{mode:<8} FAILED: {r['error']}"
    return (
        f"{mode:<8} {r['wps_e2e'] / 1e6:8.3f} {r['wps_proc'] / 1e6:9.3f} {r['e2e_s']:7.2f} "
        f"{r['proc_s']:7.2f} {r['ms_per_batch']:6.1f}  {'OK' if r['match'] else 'MISMATCH'}"
    )


HEADER = (
    f"{'mode':<8} {'Mw/s e2e':>8} {'Mw/s proc':>9} {'e2e s':>7} {'proc s':>7} {'ms/b':>6}  counts"
)


def main() -> None:
    ap = _harness.base_parser(__doc__, 20, str(REPO_ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--variant", choices=["seed", "opaque", "def-tokenizer"], default="seed")
    args = ap.parse_args()

    path, expected, total_words = _corpus.word_counts(args.lines)
    print(
        f"corpus {path.name}: {args.lines} lines, {total_words} words; {args.chunks} batches "
        f"of {args.batch:g} s; variant {args.variant}; ferrostream {args.ferrostream_python}; "
        f"runs {args.runs}"
    )
    results: dict[str, list[dict]] = {m: [] for m in MODES}
    for i in range(args.runs):
        print("\n" + _harness.load_banner(i, args.runs))
        print(HEADER)
        for mode, enabled in MODES.items():
            r = wordcount.run_once(
                "ferrostream", args.ferrostream_python, args, expected, total_words, ui=enabled
            )
            results[mode].append(r)
            print(fmt(mode, r), flush=True)

    print("\nmedians")
    print(HEADER)
    med: dict[str, dict] = {}
    for mode in MODES:
        m = _harness.median_run(results[mode], KEYS)
        if m is None:
            print(f"{mode:<8} no successful run")
            continue
        med[mode] = m
        print(fmt(mode, m))
    if len(med) == len(MODES):
        on, off = med["ui on"], med["ui off"]
        proc = on["wps_proc"] / off["wps_proc"]
        e2e = on["wps_e2e"] / off["wps_e2e"]
        print(
            f"\nUI on / UI off words/s: processing only {proc:.3f} ({(1 - proc) * 100:+.1f}% "
            f"cost), end to end {e2e:.3f}; the issue's bound is a cost under 2%"
        )
    if args.json:
        dump = {"args": vars(args), "runs": results, "medians": med}
        Path(args.json).write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    main()
