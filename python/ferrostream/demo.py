"""The main job: a streaming word count that needs nothing outside the package.

``python -m ferrostream.demo`` starts an in-process line server (the ``nc -lk 9999`` of the
Spark courses) that sends a bundled text, connects ``socketTextStream`` to it and prints each
1-second batch's word counts with ``pprint`` for a few seconds, then stops. The program is the
classic PySpark network word count with ``pyspark`` replaced by ``ferrostream``. It says what it
counts, from where and when it stops before the first batch, and what it saw when it stops.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from importlib import resources
from typing import Any, Optional

from ferrostream import SparkContext
from ferrostream.lineserver import LineServer
from ferrostream.streaming import StreamingContext
from ferrostream.streaming.listener import StreamingListener


class _Tally(StreamingListener):
    """Counts the completed batches and the lines they received."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0
        self.lines = 0

    def onBatchCompleted(self, batchCompleted: Any) -> None:
        self.batches += 1
        self.lines += batchCompleted.batchInfo().numRecords()


def bundled_lines() -> list[str]:
    """The lines of the text shipped with the package."""
    text = resources.files("ferrostream").joinpath("data/demo.txt").read_text(encoding="utf-8")
    return text.splitlines()


def main(argv: Optional[list[str]] = None) -> int:
    """Run the word count for ``--seconds`` seconds over the bundled text."""
    p = argparse.ArgumentParser(description="ferrostream streaming word count demo")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to run")
    p.add_argument("--rate", type=float, default=20.0, help="lines per second sent")
    args = p.parse_args(argv)

    # The Spark 3.4+ deprecation notice of DStreams means nothing for this demo.
    warnings.filterwarnings("ignore", "DStream is deprecated", FutureWarning)
    text = bundled_lines()
    with LineServer(text, rate=args.rate, loop=True) as server:
        print(
            "ferrostream demo: PySpark's streaming network word count.\n"
            f"  from: a line server on 127.0.0.1:{server.port} sending the {len(text)} lines "
            f"of ferrostream/data/demo.txt, {args.rate:g} lines a second, over and over\n"
            "  counts: the words of the lines that arrived in each 1-second batch; every block "
            "below is one batch, showing up to 10 (word, count) pairs\n"
            f"  stops: by itself after {args.seconds:g} s (--seconds N to change it)\n",
            flush=True,
        )
        sc = SparkContext("local[2]", "NetworkWordCount")
        sc.setLogLevel("WARN")
        ssc = StreamingContext(sc, 1)
        tally = _Tally()
        ssc.addStreamingListener(tally)
        lines = ssc.socketTextStream("127.0.0.1", server.port)
        counts = (
            lines.flatMap(lambda line: line.split(" "))
            .map(lambda word: (word, 1))
            .reduceByKey(lambda a, b: a + b)
        )
        counts.pprint()
        ssc.start()
        ssc.awaitTerminationOrTimeout(args.seconds)
        ssc.stop(stopSparkContext=True, stopGraceFully=True)
    print(
        f"Stopped after {args.seconds:g} s: {tally.batches} batches counted the words of "
        f"{tally.lines} lines. The program is python/ferrostream/demo.py; "
        "examples/network_wordcount.py is the same job reading your own `nc -lk 9999`.",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
