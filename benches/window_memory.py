"""Memory of a long-running sliding-window job: RSS must stay flat (not part of CI).

The job runs on the real clock for ``--minutes`` (default 10) with checkpointing enabled:

* input: a queueStream whose default RDD (``--records`` words) is every batch's input, or with
  ``--source lines`` the lines of a :class:`ferrostream.lineserver.LineServer` sent at
  ``--rate`` lines/s through ``socketTextStream``;
* ``window(W, S)`` counted per batch, ``reduceByKeyAndWindow`` with an inverse function
  (incremental: state plus checkpoints) and ``updateStateByKey`` over the words.

Every 30 s (``--every``) it prints the process RSS (from ``/proc/self/status``), the number of
batches done and of checkpoint files; at the end, the least-squares slope of RSS over time in
MiB/min, from the samples after the warm-up (``--warmup`` seconds, default 60). A flat job has a
slope near 0; a leak of a few KiB per batch shows as a steady positive slope.

Examples:
    .venv/bin/python benches/window_memory.py --minutes 2 --every 10 --warmup 20
    .venv/bin/python benches/window_memory.py --source lines --rate 2000
"""

from __future__ import annotations

import argparse
import operator
import os
import sys
import tempfile
import time
import warnings
from typing import Any, Optional

VOCABULARY = [f"word{i}" for i in range(500)]


def rss_mib() -> float:
    """Resident set size of this process, in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(x, y)`` points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / var


def split_words(line: str) -> list[str]:
    return line.split()


def with_one(word: str) -> tuple[str, int]:
    return (word, 1)


def running_sum(values: list[int], state: Optional[int]) -> int:
    return sum(values) + (state or 0)


class Progress:
    """Output operation counting batches and keeping the last window size."""

    def __init__(self) -> None:
        self.batches = 0
        self.last = 0

    def __call__(self, rdd: Any) -> None:
        self.last = rdd.count()
        self.batches += 1


def build(args: argparse.Namespace, checkpoint_dir: str) -> tuple[Any, Progress, Any]:
    from ferrostream import SparkConf, SparkContext
    from ferrostream.streaming import StreamingContext

    sc = SparkContext(conf=SparkConf().setMaster("local[2]").setAppName("window-memory"))
    ssc = StreamingContext(sc, args.batch)
    ssc.checkpoint(checkpoint_dir)
    server = None
    if args.source == "lines":
        from ferrostream.lineserver import LineServer

        n = len(VOCABULARY)
        lines = [" ".join(VOCABULARY[(i * 7 + j) % n] for j in range(8)) for i in range(997)]
        server = LineServer(lines, rate=args.rate, loop=True).start()
        source = ssc.socketTextStream(server.host, server.port)
    else:
        words = [VOCABULARY[i % len(VOCABULARY)] for i in range(args.records)]
        lines = [" ".join(words[i : i + 10]) for i in range(0, len(words), 10)]
        source = ssc.queueStream([], default=sc.parallelize(lines, 2))
    pairs = source.flatMap(split_words).map(with_one)
    progress = Progress()
    pairs.window(args.window, args.slide).foreachRDD(progress)
    pairs.reduceByKeyAndWindow(operator.add, operator.sub, args.window, args.slide).foreachRDD(
        lambda rdd: rdd.count()
    )
    pairs.updateStateByKey(running_sum).foreachRDD(lambda rdd: rdd.count())
    return ssc, progress, server


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (10)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds left out of the slope")
    parser.add_argument("--batch", type=float, default=0.5, help="batch interval, s (0.5)")
    parser.add_argument("--window", type=float, default=10.0, help="window, s (10)")
    parser.add_argument("--slide", type=float, default=1.0, help="slide, s (1)")
    parser.add_argument("--records", type=int, default=2000, help="words per batch (queue)")
    parser.add_argument("--source", choices=["queue", "lines"], default="queue")
    parser.add_argument("--rate", type=float, default=2000.0, help="lines/s (--source lines)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)

    with tempfile.TemporaryDirectory(prefix="window-memory-") as checkpoint_dir:
        ssc, progress, server = build(args, checkpoint_dir)
        ssc.start()
        began = time.monotonic()
        end = began + args.minutes * 60
        samples: list[tuple[float, float]] = []
        print(f"{'t (s)':>7} {'RSS MiB':>9} {'batches':>8} {'window':>8} {'ckpt files':>10}")
        try:
            while True:
                now = time.monotonic()
                elapsed = now - began
                rss = rss_mib()
                samples.append((elapsed, rss))
                files = sum(1 for n in os.listdir(checkpoint_dir) if n.startswith("checkpoint-"))
                print(
                    f"{elapsed:7.0f} {rss:9.1f} {progress.batches:8d} {progress.last:8d} "
                    f"{files:10d}",
                    flush=True,
                )
                if now >= end - 0.5:
                    break
                if ssc.awaitTerminationOrTimeout(min(args.every, end - now)):
                    print("the context stopped early", file=sys.stderr)
                    return 1
        finally:
            ssc.stop(stopSparkContext=True)
            if server is not None:
                server.stop()
    steady = [(t / 60.0, rss) for t, rss in samples if t >= args.warmup]
    rate = slope(steady)
    print(
        f"RSS slope after {args.warmup:.0f} s: {rate:+.3f} MiB/min over {len(steady)} samples "
        f"(first {samples[0][1]:.1f} MiB, last {samples[-1][1]:.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
