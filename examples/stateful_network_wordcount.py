"""A running word count over the lines received from a TCP server.

    ferrostream-submit examples/stateful_network_wordcount.py localhost 9999

Every batch prints the counts of all words seen since the start. The state starts with
``hello`` and ``world`` counted once each. State needs a checkpoint directory: the optional
third argument (default ``checkpoint``, relative to the working directory); an optional fourth
one sets the batch interval in seconds (default 1).
"""

import sys

from pyspark import SparkContext
from pyspark.streaming import StreamingContext


def add_to_total(new_counts, total):
    """The new running total of a word: what this batch saw plus the previous total."""
    return sum(new_counts) + (total or 0)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4, 5):
        print(
            "Usage: stateful_network_wordcount.py <hostname> <port> "
            "[<checkpoint directory> [<batch seconds>]]",
            file=sys.stderr,
        )
        sys.exit(-1)
    host, port = sys.argv[1], int(sys.argv[2])
    checkpoint_dir = sys.argv[3] if len(sys.argv) > 3 else "checkpoint"
    batch_seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 1

    sc = SparkContext(appName="StatefulNetworkWordCount")
    ssc = StreamingContext(sc, batch_seconds)
    ssc.checkpoint(checkpoint_dir)

    initial = sc.parallelize([("hello", 1), ("world", 1)])
    lines = ssc.socketTextStream(host, port)
    totals = (
        lines.flatMap(lambda line: line.split(" "))
        .map(lambda word: (word, 1))
        .updateStateByKey(add_to_total, initialRDD=initial)
    )
    totals.pprint()

    ssc.start()
    ssc.awaitTermination()
