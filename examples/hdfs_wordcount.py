"""Count the words of the text files that appear in a directory, every batch.

    ferrostream-submit examples/hdfs_wordcount.py /tmp/incoming

Files must appear atomically: write them elsewhere (or under a name starting with ``.``) and
move them into the directory. Only files that appear after the start are read. An optional
second argument sets the batch interval in seconds (default 1).
"""

import sys

from pyspark import SparkContext
from pyspark.streaming import StreamingContext

if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print("Usage: hdfs_wordcount.py <directory> [<batch seconds>]", file=sys.stderr)
        sys.exit(-1)
    directory = sys.argv[1]
    batch_seconds = float(sys.argv[2]) if len(sys.argv) == 3 else 1

    sc = SparkContext(appName="HdfsWordCount")
    ssc = StreamingContext(sc, batch_seconds)

    lines = ssc.textFileStream(directory)
    counts = (
        lines.flatMap(lambda line: line.split(" "))
        .map(lambda word: (word, 1))
        .reduceByKey(lambda a, b: a + b)
    )
    counts.pprint()

    ssc.start()
    ssc.awaitTermination()
