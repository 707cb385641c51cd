"""Feed a DStream from a queue of RDDs: five RDDs of the numbers 1..1000, one per batch.

    ferrostream-submit examples/queue_stream.py

Each batch counts its numbers by last digit (100 of each); the program stops itself, letting
the running batch finish, after six batch intervals. An optional argument sets the batch
interval in seconds (default 1).
"""

import sys
import time

from pyspark import SparkContext
from pyspark.streaming import StreamingContext

if __name__ == "__main__":
    if len(sys.argv) > 2:
        print("Usage: queue_stream.py [<batch seconds>]", file=sys.stderr)
        sys.exit(-1)
    batch_seconds = float(sys.argv[1]) if len(sys.argv) == 2 else 1

    sc = SparkContext(appName="QueueStream")
    ssc = StreamingContext(sc, batch_seconds)

    queue = [sc.parallelize(range(1, 1001), 10) for _ in range(5)]
    digits = ssc.queueStream(queue).map(lambda n: (n % 10, 1)).reduceByKey(lambda a, b: a + b)
    digits.pprint()

    ssc.start()
    time.sleep(6 * batch_seconds)
    ssc.stop(stopSparkContext=True, stopGraceFully=True)
