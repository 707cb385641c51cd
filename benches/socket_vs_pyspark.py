"""Socket word count: highest sustained input rate, ferrostream vs PySpark 3.5.9 (not CI).

The program is the course's network word count (``socketTextStream`` -> ``flatMap(split)`` ->
``map((w, 1))`` -> ``reduceByKey(add)`` -> ``pprint``) with 1 s batches, master ``local[2]``
and a StreamingListener that reports every completed batch (records, scheduling delay,
processing delay). Both engines run the same program text; only the package name in the
imports differs. PySpark runs with SPARK_LOCAL_IP=127.0.0.1, the UI off and
``spark.streaming.blockInterval=1s``.

A feeder process (this file with ``--feeder``) listens on 127.0.0.1 and sends lines of the
benchmark corpus (``benches/_corpus.py``: 8-12 words a line, Zipf vocabulary) from pre-encoded
buffers with ``sendall``, paced to a target rate. Rates are tried in increasing order, each
for ``--feed-seconds``, followed by up to ``--drain-seconds`` without input. A rate is
**sustained** when

* the feeder really sent at least 90 % of it (a receiver that cannot keep up pushes back
  through TCP),
* the batches' median processing time stayed within the 1 s batch interval and the
  scheduling delay stayed bounded (at most ``--max-delay`` ms) during the phase,
* after the feed stopped, the scheduling delay returned to ~0 (a batch scheduled after the
  feed ended started within 250 ms of its time) before the drain time ran out, and
* the batches received (nearly) every line sent (at least 99 %).

The first rate that is not sustained ends the run for that engine.

Examples::

    .venv/bin/python benches/socket_vs_pyspark.py                       # both engines
    .venv/bin/python benches/socket_vs_pyspark.py --engines ferrostream --feed-seconds 5 \\
        --rates 100000,200000,400000,800000,1600000,3200000
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_RATES = [12_500, 25_000, 50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000, 3_200_000]
CORPUS_LINES = 200_000

CHILD_PROGRAM = r"""
import json, sys
from __ENGINE__ import SparkConf, SparkContext
from __ENGINE__.streaming import StreamingContext, StreamingListener

conf = SparkConf().setMaster("local[2]").setAppName("socket-bench")
conf.set("spark.ui.enabled", "false").set("spark.streaming.blockInterval", "1s")
sc = SparkContext(conf=conf)
sc.setLogLevel("ERROR")
ssc = StreamingContext(sc, 1)


class Report(StreamingListener):
    def onBatchCompleted(self, batchCompleted):
        info = batchCompleted.batchInfo()
        row = {
            "t": int(info.batchTime().milliseconds()),
            "n": int(info.numRecords()),
            "sched": int(info.schedulingDelay()),
            "proc": int(info.processingDelay()),
        }
        print("@@" + json.dumps(row), flush=True)


ssc.addStreamingListener(Report())
lines = ssc.socketTextStream("127.0.0.1", int(sys.argv[1]))
counts = lines.flatMap(lambda line: line.split(" ")).map(lambda w: (w, 1)).reduceByKey(
    lambda a, b: a + b
)
counts.pprint()
ssc.start()
print("@@READY", flush=True)
ssc.awaitTermination()
"""


# ----------------------------------------------------------------------------------------------
# feeder (a separate process, so that it does not compete for the engine's interpreter)


def feeder_main(lines_count: int) -> int:
    sys.path.insert(0, str(BENCH_DIR))
    import _corpus

    lines = _corpus.load_lines(lines_count)
    encoded = [(line + "\n").encode() for line in lines]
    offsets = [0]
    for e in encoded:
        offsets.append(offsets[-1] + len(e))
    buf = memoryview(b"".join(encoded))
    n = len(encoded)

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    conn_holder: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            conn_holder.append(c)

    threading.Thread(target=accept, daemon=True).start()
    print(f"PORT {srv.getsockname()[1]}", flush=True)

    cursor = 0
    for command in sys.stdin:
        rate_text, seconds_text = command.split()
        rate, seconds = float(rate_text), float(seconds_text)
        sent = 0
        start = time.perf_counter()
        end = start + seconds
        max_chunk = max(1, int(rate * 0.05))
        while True:
            now = time.perf_counter()
            if now >= end or not conn_holder:
                break
            due = min(int(rate * (now - start)), int(rate * seconds)) - sent
            if due <= 0:
                time.sleep(0.002)
                continue
            k = min(due, max_chunk)
            conn = conn_holder[-1]
            try:
                i = cursor
                while k > 0:
                    take = min(k, n - i)
                    conn.sendall(buf[offsets[i] : offsets[i + take]])
                    sent += take
                    k -= take
                    i = (i + take) % n
                cursor = i
            except OSError:
                break
        elapsed = time.perf_counter() - start
        print(f"SENT {sent} {elapsed:.4f}", flush=True)
    return 0


# ----------------------------------------------------------------------------------------------
# driver


@dataclass
class Phase:
    rate: int
    sent: int = 0
    achieved: float = 0.0
    received: int = 0
    max_sched_ms: int = 0
    median_proc_ms: int = 0
    drained: bool = False
    sustained: bool = False
    note: str = ""


@dataclass
class EngineResult:
    engine: str
    startup_s: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    best: int = 0
    error: str = ""
    batches: list[dict[str, int]] = field(default_factory=list)


class Child:
    """The streaming program; batch reports are collected from its stdout."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.batches: list[dict[str, int]] = []
        self.ready = threading.Event()
        self.stderr_tail: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@READY"):
                self.ready.set()
            elif line.startswith("@@"):
                with self._lock:
                    self.batches.append(json.loads(line[2:]))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail = [*self.stderr_tail[-30:], line.rstrip()]

    def snapshot(self) -> list[dict[str, int]]:
        with self._lock:
            return list(self.batches)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def engine_command(engine: str, args: argparse.Namespace, port: int) -> tuple[list[str], dict]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    program = CHILD_PROGRAM.replace("__ENGINE__", engine)
    if engine == "pyspark":
        python = args.pyspark_python
        env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=python)
        env.pop("PYTHONPATH", None)
    else:
        python = args.ferrostream_python
    return [python, "-c", program, str(port)], env


def run_engine(engine: str, args: argparse.Namespace) -> EngineResult:
    result = EngineResult(engine)
    feeder = subprocess.Popen(
        [sys.executable, __file__, "--feeder", "--corpus-lines", str(args.corpus_lines)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert feeder.stdin is not None and feeder.stdout is not None
    port = int(feeder.stdout.readline().split()[1])
    t0 = time.monotonic()
    cmd, env = engine_command(engine, args, port)
    child = Child(cmd, env)
    try:
        if not child.ready.wait(180):
            result.error = "the program did not start: " + " | ".join(child.stderr_tail[-5:])
            return result
        # Warm up: two completed batches.
        deadline = time.monotonic() + 60
        while len(child.snapshot()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        result.startup_s = time.monotonic() - t0
        if args.warmup_seconds > 0:
            # Not counted: lets the engine start its workers and compile what it compiles.
            settings = {**vars(args), "feed_seconds": args.warmup_seconds}
            settings["drain_seconds"] = max(args.drain_seconds, 60.0)
            warm = argparse.Namespace(**settings)
            phase = run_phase(args.warmup_rate, warm, feeder, child)
            print(format_phase(engine + " (warm-up)", phase), flush=True)
        for rate in args.rates:
            phase = run_phase(rate, args, feeder, child)
            result.phases.append(phase)
            print(format_phase(engine, phase), flush=True)
            if not phase.sustained:
                break
            result.best = rate
            if child.proc.poll() is not None:
                result.error = "the program exited"
                break
    finally:
        result.batches = child.snapshot()
        child.stop()
        feeder.stdin.close()
        feeder.wait(10)
    return result


def run_phase(rate: int, args: argparse.Namespace, feeder: Any, child: Child) -> Phase:
    phase = Phase(rate)
    start_ms = time.time() * 1000
    feeder.stdin.write(f"{rate} {args.feed_seconds}\n")
    feeder.stdin.flush()
    reply = feeder.stdout.readline().split()
    end_ms = time.time() * 1000
    phase.sent, elapsed = int(reply[1]), float(reply[2])
    phase.achieved = phase.sent / elapsed if elapsed > 0 else 0.0

    # Drain: wait for a batch scheduled after the feed ended to start on time.
    deadline = time.monotonic() + args.drain_seconds
    while time.monotonic() < deadline:
        after = [b for b in child.snapshot() if b["t"] >= end_ms + 1000]
        if any(b["sched"] <= 250 for b in after):
            phase.drained = True
            break
        if child.proc.poll() is not None:
            break
        time.sleep(0.1)
    batches = [b for b in child.snapshot() if b["t"] > start_ms]
    phase.received = sum(b["n"] for b in batches)
    during = [b for b in batches if b["t"] <= end_ms + 1000] or batches
    phase.max_sched_ms = max((b["sched"] for b in batches), default=0)
    procs = sorted(b["proc"] for b in during)
    phase.median_proc_ms = procs[len(procs) // 2] if procs else 0

    problems = []
    if phase.achieved < 0.9 * rate:
        problems.append(f"feeder reached only {phase.achieved:,.0f} lines/s")
    if phase.median_proc_ms > 1000:
        problems.append(f"median processing time {phase.median_proc_ms} ms > the 1 s batch")
    if phase.max_sched_ms > args.max_delay:
        problems.append(f"scheduling delay reached {phase.max_sched_ms} ms")
    if not phase.drained:
        problems.append("scheduling delay did not return to ~0")
    if phase.received < 0.99 * phase.sent:
        problems.append(f"received {phase.received} of {phase.sent} lines")
    phase.sustained = not problems
    phase.note = "; ".join(problems)
    if not phase.drained:
        # Let a backlog clear a little before the caller stops the program.
        time.sleep(1)
    return phase


def format_phase(engine: str, p: Phase) -> str:
    verdict = "sustained" if p.sustained else "NOT sustained: " + p.note
    return (
        f"{engine:22s} {p.rate:>10,} lines/s  sent {p.achieved:>12,.0f}/s  "
        f"received {p.received:>10,}  max sched {p.max_sched_ms:>6} ms  "
        f"median proc {p.median_proc_ms:>5} ms  {verdict}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--feeder", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--engines", default="ferrostream,pyspark")
    p.add_argument(
        "--rates",
        type=lambda s: [int(float(x)) for x in s.split(",")],
        default=DEFAULT_RATES,
        help="comma-separated lines/s, increasing",
    )
    p.add_argument("--feed-seconds", type=float, default=10.0)
    p.add_argument("--drain-seconds", type=float, default=15.0)
    p.add_argument("--max-delay", type=int, default=3000, help="bound on scheduling delay (ms)")
    p.add_argument("--warmup-rate", type=int, default=5_000, help="lines/s before the rates")
    p.add_argument("--warmup-seconds", type=float, default=5.0)
    p.add_argument("--corpus-lines", type=int, default=CORPUS_LINES)
    p.add_argument("--pyspark-python", default="/tmp/spark-ref/bin/python")
    p.add_argument("--ferrostream-python", default=str(REPO_ROOT / ".venv" / "bin" / "python"))
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()
    if args.feeder:
        return feeder_main(args.corpus_lines)

    results = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        if engine == "pyspark" and not Path(args.pyspark_python).exists():
            print(f"skipping pyspark: {args.pyspark_python} not found", file=sys.stderr)
            continue
        results.append(run_engine(engine, args))

    print()
    for r in results:
        extra = f" ({r.error})" if r.error else ""
        print(
            f"{r.engine:12s} highest sustained rate: {r.best:,} lines/s "
            f"(startup {r.startup_s:.1f} s){extra}"
        )
    by_name = {r.engine: r for r in results}
    if "ferrostream" in by_name and "pyspark" in by_name and by_name["pyspark"].best:
        ratio = by_name["ferrostream"].best / by_name["pyspark"].best
        print(f"ratio ferrostream / pyspark: {ratio:.1f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in results], f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
