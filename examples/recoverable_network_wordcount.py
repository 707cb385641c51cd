"""A socket word count that can be restarted from its checkpoint.

    ferrostream-submit examples/recoverable_network_wordcount.py \\
        localhost 9999 /tmp/wc-checkpoint /tmp/wc-out.txt

Every batch, the word counts (without the excluded words ``a``, ``b`` and ``c``) are printed and
appended to the output file as one line ``Counts at time <batch time> [(word, count), ...]``.
The excluded words are a broadcast variable and the number of dropped words an accumulator;
both are created lazily so that they exist again after a restart. Stop the program and start
it again with the same checkpoint directory: the context is rebuilt from the checkpoint
instead of being created anew. An optional fifth argument sets the batch interval (default 1 s).
"""

import os
import sys

from pyspark import SparkContext
from pyspark.streaming import StreamingContext

EXCLUDED = ["a", "b", "c"]

_excluded_words = None
_dropped_words = None


def excluded_words(sc):
    """The broadcast list of words to drop, created on first use."""
    global _excluded_words
    if _excluded_words is None:
        _excluded_words = sc.broadcast(EXCLUDED)
    return _excluded_words


def dropped_words(sc):
    """The accumulator of dropped words, created on first use."""
    global _dropped_words
    if _dropped_words is None:
        _dropped_words = sc.accumulator(0)
    return _dropped_words


def create_context(host, port, output_path, batch_seconds):
    # Runs only when there is no checkpoint to recover from.
    print("Creating a new context")
    if os.path.exists(output_path):
        os.remove(output_path)
    sc = SparkContext(appName="RecoverableNetworkWordCount")
    ssc = StreamingContext(sc, batch_seconds)

    lines = ssc.socketTextStream(host, port)
    counts = (
        lines.flatMap(lambda line: line.split(" "))
        .map(lambda word: (word, 1))
        .reduceByKey(lambda a, b: a + b)
    )

    def report(time, rdd):
        excluded = excluded_words(rdd.context)
        dropped = dropped_words(rdd.context)

        def keep(word_count):
            if word_count[0] in excluded.value:
                dropped.add(word_count[1])
                return False
            return True

        line = f"Counts at time {time} {rdd.filter(keep).collect()}"
        print(line)
        print(f"Dropped {dropped.value} word(s) in total")
        print("Appending to " + os.path.abspath(output_path))
        with open(output_path, "a") as out:
            out.write(line + "\n")

    counts.foreachRDD(report)
    return ssc


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        print(
            "Usage: recoverable_network_wordcount.py <hostname> <port> <checkpoint-directory> "
            "<output-file> [<batch seconds>]",
            file=sys.stderr,
        )
        sys.exit(-1)
    host, port, checkpoint, output = sys.argv[1:5]
    batch_seconds = float(sys.argv[5]) if len(sys.argv) == 6 else 1

    ssc = StreamingContext.getOrCreate(
        checkpoint, lambda: create_context(host, int(port), output, batch_seconds)
    )
    ssc.start()
    ssc.awaitTermination()
