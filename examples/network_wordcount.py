"""Count the words of the text lines received from a TCP server, every batch.

Start a line server first, e.g. ``nc -lk 9999`` (or ``python -m ferrostream.lineserver``),
then run::

    ferrostream-submit examples/network_wordcount.py localhost 9999

and type lines into the server: every second the word counts of that second are printed.
An optional third argument sets the batch interval in seconds (default 1).
"""

import sys

from pyspark import SparkContext
from pyspark.streaming import StreamingContext

if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print("Usage: network_wordcount.py <hostname> <port> [<batch seconds>]", file=sys.stderr)
        sys.exit(-1)
    host, port = sys.argv[1], int(sys.argv[2])
    batch_seconds = float(sys.argv[3]) if len(sys.argv) == 4 else 1

    sc = SparkContext(appName="NetworkWordCount")
    ssc = StreamingContext(sc, batch_seconds)

    lines = ssc.socketTextStream(host, port)
    counts = (
        lines.flatMap(lambda line: line.split(" "))
        .map(lambda word: (word, 1))
        .reduceByKey(lambda a, b: a + b)
    )
    counts.pprint()

    ssc.start()
    ssc.awaitTermination()
