"""Count the words of the messages of a Kafka topic, every batch, with a direct stream.

No receiver: each batch reads, from every partition of the topic, the records that arrived
since the previous batch. Run::

    ferrostream-submit examples/direct_kafka_wordcount.py localhost:9092 test

and produce lines to the topic (e.g. with ``kafka-console-producer.sh``): every two seconds
the word counts of the lines produced since are printed. An optional third argument sets the
batch interval in seconds (default 2).
"""

import sys

from pyspark import SparkContext
from pyspark.streaming import StreamingContext
from pyspark.streaming.kafka import KafkaUtils

if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print(
            "Usage: direct_kafka_wordcount.py <broker_list> <topic> [<batch seconds>]",
            file=sys.stderr,
        )
        sys.exit(-1)
    brokers, topic = sys.argv[1], sys.argv[2]
    batch_seconds = float(sys.argv[3]) if len(sys.argv) == 4 else 2

    sc = SparkContext(appName="PythonStreamingDirectKafkaWordCount")
    ssc = StreamingContext(sc, batch_seconds)

    kvs = KafkaUtils.createDirectStream(ssc, [topic], {"metadata.broker.list": brokers})
    lines = kvs.map(lambda x: x[1])
    counts = (
        lines.flatMap(lambda line: line.split(" "))
        .map(lambda word: (word, 1))
        .reduceByKey(lambda a, b: a + b)
    )
    counts.pprint()

    ssc.start()
    ssc.awaitTermination()
