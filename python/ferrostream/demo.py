"""The main job: a streaming word count that needs nothing outside the package.

``python -m ferrostream.demo`` starts an in-process line server (the ``nc -lk 9999`` of the
Spark courses) that sends a bundled text, connects ``socketTextStream`` to it and prints each
1-second batch's word counts with ``pprint`` for a few seconds, then stops. The program is the
classic PySpark network word count with ``pyspark`` replaced by ``ferrostream``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from importlib import resources
from typing import Optional

from ferrostream import SparkContext
from ferrostream.lineserver import LineServer
from ferrostream.streaming import StreamingContext


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
    with LineServer(bundled_lines(), rate=args.rate, loop=True) as server:
        sc = SparkContext("local[2]", "NetworkWordCount")
        sc.setLogLevel("WARN")
        ssc = StreamingContext(sc, 1)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
