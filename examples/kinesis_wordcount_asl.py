"""Count the words of the records of a Kinesis stream, every second (Spark's
``kinesis_wordcount_asl.py``).

Run::

    ferrostream-submit examples/kinesis_wordcount_asl.py <app-name> <stream-name> \
        https://kinesis.us-east-1.amazonaws.com us-east-1

and write lines to the stream (``python -m ferrostream.kinesis_producer STREAM ...``): every
second the word counts of the records received in that second are printed. Credentials come
from the AWS SDK's default chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile,
an instance role). The positions read are checkpointed every 2 seconds into the DynamoDB table
``<app-name>``, so a restarted program goes on where the last one stopped. An optional fifth
argument sets the batch interval in seconds (default 1).
"""

import sys

from pyspark import SparkContext
from pyspark.streaming import StreamingContext
from pyspark.streaming.kinesis import InitialPositionInStream, KinesisUtils

if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        print(
            "Usage: kinesis_wordcount_asl.py <app-name> <stream-name> <endpoint-url> "
            "<region-name> [<batch seconds>]",
            file=sys.stderr,
        )
        sys.exit(-1)
    appName, streamName, endpointUrl, regionName = sys.argv[1:5]
    batch_seconds = float(sys.argv[5]) if len(sys.argv) == 6 else 1

    sc = SparkContext(appName="PythonStreamingKinesisWordCountAsl")
    ssc = StreamingContext(sc, batch_seconds)
    lines = KinesisUtils.createStream(
        ssc, appName, streamName, endpointUrl, regionName, InitialPositionInStream.LATEST, 2
    )
    counts = (
        lines.flatMap(lambda line: line.split(" "))
        .map(lambda word: (word, 1))
        .reduceByKey(lambda a, b: a + b)
    )
    counts.pprint()

    ssc.start()
    ssc.awaitTermination()
