"""Shared pieces of the ``*_vs_pyspark`` benchmarks (not part of CI).

* ``CHILD_PRELUDE``: the start of the program both engines run (``__ENGINE__`` is replaced by
  ``pyspark`` or ``ferrostream``): a local[2] SparkContext with the UI off (``BENCH_UI=true``
  turns it on, to measure its cost) and log level ERROR,
  the corpus of ``benches/_corpus.py`` split into ``BENCH_CHUNKS`` RDDs
  (``sc.parallelize(chunk, 2)``), a StreamingContext of ``BENCH_BATCH`` s and
  ``lines = ssc.queueStream(rdds)``.  ``BENCH_CORPUS`` (``zipf``, the default, or ``uniform``
  with ``BENCH_KEYS`` keys) and ``BENCH_INPUT`` (``lines``, the default, ``words`` or
  ``pairs``, see ``_corpus.input_chunks``) choose what the queued RDDs hold; the stream is
  called ``lines`` whatever it holds.  A benchmark appends its pipeline and ends with
  ``run_and_report(payload)``, which runs the context until ``rt.done`` is set and writes
  ``payload()`` plus timestamps as JSON (``rt`` is this module, imported by the child).
* ``run_child``: runs one such program in a fresh interpreter while sampling its peak RSS
  (``peak_rss`` gives the peak over part of the run, e.g. before a result check).
* ``busy_per_batch``: the "processing only" time of each batch.
* argument parsing, medians and table helpers common to the scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import _corpus

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

CHILD_PRELUDE = r"""
import json, os, sys, threading, time
T_START = time.time()
sys.path.insert(0, os.environ["BENCH_DIR"])
import _corpus

from __ENGINE__ import SparkConf, SparkContext
from __ENGINE__.streaming import StreamingContext

N_LINES = int(os.environ["BENCH_LINES"])
N_CHUNKS = int(os.environ["BENCH_CHUNKS"])
VARIANT = os.environ["BENCH_VARIANT"]
RESULT_OUT = os.environ["BENCH_RESULT_OUT"]
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "900"))
BATCH = float(os.environ.get("BENCH_BATCH", "1"))

T_IMPORTED = time.time()
conf = (SparkConf().setMaster("local[2]").setAppName(os.environ["BENCH_APP"])
        .set("spark.ui.enabled", os.environ.get("BENCH_UI", "false"))
        .set("spark.ui.showConsoleProgress", "false"))
sc = SparkContext(conf=conf)
sc.setLogLevel("ERROR")
T_SC = time.time()

INPUT = os.environ.get("BENCH_INPUT", "lines")
CORPUS = os.environ.get("BENCH_CORPUS", "zipf")
N_KEYS = int(os.environ.get("BENCH_KEYS", "1000000"))
if INPUT == "lines" and CORPUS == "zipf":
    chunks = _corpus.load_chunks(N_CHUNKS, N_LINES)
    T_LOADED = time.time()
    rdds = [sc.parallelize(chunk, 2) for chunk in chunks]
    del chunks
else:  # one chunk at a time: 1 M pairs are ~150 MB of Python objects
    rdds = []
    for chunk in _corpus.input_chunks(INPUT, CORPUS, N_CHUNKS, N_LINES, N_KEYS):
        rdds.append(sc.parallelize(chunk, 2))
        del chunk
    T_LOADED = time.time()
T_RDDS = time.time()

ssc = StreamingContext(sc, BATCH)
lines = ssc.queueStream(rdds)

# Run state shared with the callbacks.  It lives in the imported module ``rt`` rather than in
# this __main__ module: with checkpointing, engines pickle the callbacks by value (cloudpickle)
# together with the __main__ globals they use, but pickle a module by its name.
import _harness as rt
rt.errors = []   # repr of exceptions raised in output callbacks, reported by the parent
rt.done = threading.Event()


def run_and_report(payload):
    t_built = time.time()
    ssc.start()
    t_started = time.time()
    finished = rt.done.wait(TIMEOUT)
    t_done = time.time()
    ssc.stop(stopSparkContext=True, stopGraceFully=False)
    t_stopped = time.time()
    out = payload()
    out.update({
        "finished": finished, "errors": rt.errors,
        "t": {"start": T_START, "imported": T_IMPORTED, "sc": T_SC, "loaded": T_LOADED,
              "rdds": T_RDDS, "built": t_built, "started": t_started, "done": t_done,
              "stopped": t_stopped},
    })
    with open(RESULT_OUT, "w") as f:
        json.dump(out, f)
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


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (a forked worker's, the daemon's) split between the
    processes sharing them, so that a sum over processes counts them once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
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


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _in_spawn(pid: int, comm: str, parent: int) -> bool:
    """True for a child caught between ``posix_spawn``/``vfork`` and ``exec``: it still shares
    its parent's address space (so its RSS is the parent's, counted twice if summed) and is named
    after the spawning thread (a JVM thread such as ``process reaper``), not its program."""
    exe = _exe(pid)
    return exe != "" and exe == _exe(parent) and comm != _comm(parent)


class RssSampler(threading.Thread):
    """Peak RSS (MiB) of a process tree: driver / jvm / workers (python under the JVM) / other.

    With ``pss``, also ``pss``: the sum of the tree's proportional set sizes (RSS summed over
    processes counts pages shared by forked workers once per process)."""

    def __init__(self, pid: int, interval: float = 0.1, pss: bool = False):
        super().__init__(daemon=True)
        self.pid, self.interval, self.pss = pid, interval, pss
        self.peak = {"driver": 0, "jvm": 0, "workers": 0, "other": 0, "total": 0}
        if pss:
            self.peak["pss"] = 0
        self.timeline: list[tuple[float, dict[str, int]]] = []  # (time, KiB by kind)
        self._halt = threading.Event()

    def sample(self) -> None:
        kids = _children_map()
        cur = {"driver": _rss_kb(self.pid), "jvm": 0, "workers": 0, "other": 0}
        pss = _pss_kb(self.pid) if self.pss else 0
        stack = [(c, False, self.pid) for c in kids.get(self.pid, [])]
        while stack:
            pid, under_jvm, parent = stack.pop()
            comm = _comm(pid)
            if _in_spawn(pid, comm, parent):
                continue
            if self.pss:
                pss += _pss_kb(pid)
            if comm == "java":
                cur["jvm"] += _rss_kb(pid)
                under = True
            else:
                kind = "workers" if under_jvm and comm.startswith("python") else "other"
                cur[kind] += _rss_kb(pid)
                under = under_jvm
            stack.extend((c, under, pid) for c in kids.get(pid, []))
        cur["total"] = sum(cur.values())
        if self.pss:
            cur["pss"] = pss
        self.timeline.append((time.time(), cur))
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


def peak_rss(timeline, t_from: float = 0.0, t_to: float = float("inf")) -> dict[str, float]:
    """Peak RSS (MiB) by kind over the samples of ``timeline`` taken in ``[t_from, t_to)``.

    Each kind's peak is taken on its own; ``total`` is the peak of the per-sample sum (what the
    whole process tree held at once).  ``at_end`` is the total of the last sample in the range.
    """
    sel = [cur for t, cur in timeline if t_from <= t < t_to]
    if not sel:
        return {
            "driver": 0.0,
            "jvm": 0.0,
            "workers": 0.0,
            "other": 0.0,
            "total": 0.0,
            "at_end": 0.0,
        }
    kinds = [k for k in ("driver", "jvm", "workers", "other", "total", "pss") if k in sel[0]]
    out = {k: max(c[k] for c in sel) / 1024.0 for k in kinds}
    out["at_end"] = sel[-1]["total"] / 1024.0
    return out


def fmt_rss(engine: str, rss: dict[str, float]) -> str:
    if engine == "pyspark":
        return f"driver {rss['driver']:7.0f}  jvm {rss['jvm']:6.0f}  workers {rss['workers']:6.0f}"
    return f"process {rss['driver'] + rss['other']:7.0f}"


# --------------------------------------------------------------------------------------------
# running one child


def run_child(
    engine: str,
    python: str,
    body: str,
    args,
    app: str,
    variant: str,
    sample_pss: bool = False,
    **env_extra,
):
    """Run ``CHILD_PRELUDE + body`` for ``engine`` in a fresh ``python``.

    Returns ``{"ok": True, "res": <the child's JSON>, "rss": peaks, "rss_timeline": samples,
    "t_launch": t}`` or ``{"ok": False, "error": text}``.  ``BENCH_TMP`` (a fresh directory
    removed afterwards) is in the child's environment, with ``env_extra`` (names prefixed with
    ``BENCH_``).
    """
    program = (CHILD_PRELUDE + body).replace("__ENGINE__", engine)
    with tempfile.TemporaryDirectory(prefix=f"bench-{engine}-") as tmp:
        prog = Path(tmp) / f"{app}_program.py"
        prog.write_text(program)
        result_out = Path(tmp) / "result.json"
        env = dict(os.environ)
        env.update(
            {
                "BENCH_DIR": str(BENCH_DIR),
                "BENCH_TMP": tmp,
                "BENCH_APP": app,
                "BENCH_LINES": str(args.lines),
                "BENCH_CHUNKS": str(args.chunks),
                "BENCH_VARIANT": variant,
                "BENCH_RESULT_OUT": str(result_out),
                "BENCH_TIMEOUT": str(args.timeout),
                "BENCH_BATCH": str(args.batch),
                "SPARK_LOCAL_IP": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update({f"BENCH_{k.upper()}": str(v) for k, v in env_extra.items()})
        t_launch = time.time()
        proc = subprocess.Popen(
            [python, str(prog)],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        sampler = RssSampler(proc.pid, pss=sample_pss)
        sampler.start()
        try:
            _out, err = proc.communicate(timeout=args.timeout + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
        rss = sampler.stop()
        res = json.loads(result_out.read_text()) if result_out.exists() else None
    if res is None or not res["finished"] or res["errors"]:
        tail = "\n".join(err.strip().splitlines()[-30:])
        return {
            "engine": engine,
            "ok": False,
            "error": f"rc={proc.returncode} result={res and res['errors']}\n{tail}",
        }
    return {
        "engine": engine,
        "ok": True,
        "res": res,
        "rss": rss,
        "rss_timeline": sampler.timeline,
        "t_launch": t_launch,
    }


def busy_per_batch(batches) -> list[float]:
    """Busy time of each batch, from ``(scheduled time, end of its last output)`` in order.

    A batch is busy from when it could start (its scheduled time, or the end of the previous
    batch when batches queue up) to its end, which counts the work whether an engine does it
    lazily inside the output's action or before calling the output.

    An entry may have a third element, the time the benchmark's own work after the measured
    output (a result check) ended: the next batch can start only then, so that check is counted
    in neither batch.
    """
    out, prev_free = [], 0.0
    for b in batches:
        sched, end = b[0], b[1]
        out.append(end - max(sched, prev_free))
        prev_free = b[2] if len(b) > 2 else end
    return out


# --------------------------------------------------------------------------------------------
# command line and summaries


def base_parser(doc: str, chunks: int, ferrostream_python: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lines", type=int, default=_corpus.DEFAULT_LINES)
    ap.add_argument("--chunks", type=int, default=chunks, help=f"input RDDs (default {chunks})")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--batch",
        type=float,
        default=1.0,
        help="batch interval in seconds (default 1); see the end-to-end note above",
    )
    ap.add_argument("--engines", default="pyspark,ferrostream")
    ap.add_argument("--pyspark-python", default="/tmp/spark-ref/bin/python")
    ap.add_argument("--ferrostream-python", default=ferrostream_python)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per run")
    ap.add_argument("--json", help="also write all run results to this file")
    return ap


def set_help(ap: argparse.ArgumentParser, dest: str, text: str) -> None:
    """Replace the help text of option ``dest`` (for a script whose defaults differ)."""
    for action in ap._actions:
        if action.dest == dest:
            action.help = text


def engine_pythons(ap: argparse.ArgumentParser, args) -> tuple[list[str], dict[str, str]]:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    pythons = {"pyspark": args.pyspark_python, "ferrostream": args.ferrostream_python}
    for e in engines:
        if e not in pythons:
            ap.error(f"unknown engine {e}")
    return engines, pythons


def load_banner(i: int, runs: int) -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"run {i + 1}/{runs}   (load average before the run: {load})"


def print_medians(pipelines, engines, results: dict, header: str, fmt_run, median) -> dict:
    """Print the median run of every pipeline and engine (``median(runs)``, None when no run
    succeeded) under ``header``; return them by ``"pipeline/engine"``."""
    med: dict[str, dict] = {}
    for p in pipelines:
        print(f"\nmedians [{p}]\n{header}")
        for e in engines:
            m = median(results[(p, e)])
            if m is None:
                print(f"{e:<12} no successful run")
                continue
            med[f"{p}/{e}"] = m
            print(fmt_run(m))
    return med


def median_run(runs: list[dict], keys, check: str = "match") -> dict | None:
    """The median of ``keys`` and of the RSS peaks over the successful ``runs``; ``check`` is
    true only when it is true in all of them."""
    ok = [r for r in runs if r["ok"]]
    if not ok:
        return None
    m = {k: statistics.median(r[k] for r in ok) for k in keys}
    m["rss"] = {k: statistics.median(r["rss"][k] for r in ok) for k in ok[0]["rss"]}
    m.update(engine=ok[0]["engine"], ok=True, runs=len(ok))
    m[check] = all(r[check] for r in ok)
    return m


def run_rounds(pipelines, engines, runs: int, header: str, run, fmt, show_batches: bool) -> dict:
    """``runs`` rounds of every pipeline on every engine, back to back: ``run(engine, pipeline)``
    gives one result, printed with ``fmt`` (and its problems, and its busy time per batch when
    ``show_batches``). Returns ``{(pipeline, engine): [results]}``."""
    results = {(p, e): [] for p in pipelines for e in engines}
    for i in range(runs):
        print("\n" + load_banner(i, runs))
        for p in pipelines:
            print(f"[{p}]\n{header}")
            for e in engines:
                r = run(e, p)
                results[(p, e)].append(r)
                print(fmt(r), flush=True)
                for prob in r.get("problems", []):
                    print(f"    {prob}")
                if show_batches and r["ok"]:
                    busy = " ".join(f"{x:.2f}" for x in r["per_batch_s"])
                    print(f"    busy per batch, s: {busy}")
    return results
