"""Join the words received from a TCP server with a fixed list of word sentiment scores.

    ferrostream-submit examples/network_wordjoinsentiments.py localhost 9999

``data/word_scores.txt`` (next to this file) holds ``word<TAB>score`` lines, scores from -5
(very negative) to 5 (very positive). Every batch (5 s by default; an optional third argument
sets it in seconds), each scored word's happiness is its score times how often it was received,
and the five happiest words are printed.
"""

import os
import sys

from pyspark import SparkContext
from pyspark.streaming import StreamingContext

SCORES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "word_scores.txt")


def show_happiest(rdd):
    top = rdd.take(5)
    print(f"Happiest words of this batch ({rdd.count()} scored words):")
    for happiness, word in top:
        print(f"{word}: {happiness}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print(
            "Usage: network_wordjoinsentiments.py <hostname> <port> [<batch seconds>]",
            file=sys.stderr,
        )
        sys.exit(-1)
    host, port = sys.argv[1], int(sys.argv[2])
    batch_seconds = float(sys.argv[3]) if len(sys.argv) == 4 else 5

    sc = SparkContext(appName="NetworkWordJoinSentiments")
    ssc = StreamingContext(sc, batch_seconds)

    # (word, score) pairs, loaded once.
    scores = (
        sc.textFile(SCORES)
        .map(lambda line: line.split("\t"))
        .map(lambda fields: (fields[0], int(fields[1])))
    )

    counts = (
        ssc.socketTextStream(host, port)
        .flatMap(lambda line: line.split(" "))
        .map(lambda word: (word, 1))
        .reduceByKey(lambda a, b: a + b)
    )
    # (word, (score, count)) -> (happiness, word), happiest first.
    happiness = counts.transform(lambda rdd: scores.join(rdd)).map(
        lambda kv: (kv[1][0] * kv[1][1], kv[0])
    )
    happiest = happiness.transform(lambda rdd: rdd.sortByKey(False))
    happiest.foreachRDD(show_happiest)

    ssc.start()
    ssc.awaitTermination()
