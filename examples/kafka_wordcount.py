"""Count the words of the messages of a Kafka topic, every second, with a receiver.

The receiver consumes as consumer group ``spark-streaming-consumer``, finding the brokers
registered in the ZooKeeper ensemble given first (``host:2181``, or ``host:2181/chroot``), as
Kafka 0.8's consumer did. Run::

    ferrostream-submit examples/kafka_wordcount.py localhost:2181 test

and produce lines to the topic: every second the word counts of the lines received in that
second are printed. The group's offsets are committed after each batch completed, so a
restarted program goes on where the last one stopped. An optional third argument sets the
batch interval in seconds (default 1).
"""

import sys

from pyspark import SparkContext
from pyspark.streaming import StreamingContext
from pyspark.streaming.kafka import KafkaUtils

if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print("Usage: kafka_wordcount.py <zk> <topic> [<batch seconds>]", file=sys.stderr)
        sys.exit(-1)
    zk_quorum, topic = sys.argv[1], sys.argv[2]
    batch_seconds = float(sys.argv[3]) if len(sys.argv) == 4 else 1

    sc = SparkContext(appName="PythonStreamingKafkaWordCount")
    ssc = StreamingContext(sc, batch_seconds)

    kvs = KafkaUtils.createStream(ssc, zk_quorum, "spark-streaming-consumer", {topic: 1})
    lines = kvs.map(lambda x: x[1])
    counts = (
        lines.flatMap(lambda line: line.split(" "))
        .map(lambda word: (word, 1))
        .reduceByKey(lambda a, b: a + b)
    )
    counts.pprint()

    ssc.start()
    ssc.awaitTermination()
