"""The course's Kinesis program (listing 7.21), made runnable: counts the records arriving on a
Kinesis stream in each batch.

The listing is written for ``spark-submit --jars .../spark-streaming-kinesis-asl-assembly.jar``
(listing 7.20); under ``ferrostream-submit`` the ``--jars`` option is accepted and not needed.
It passes its arguments in Spark 2.4's order (``storageLevel`` eighth, then the credentials).
Run::

    ferrostream-submit examples/kinesis_count.py [STREAM [ENDPOINT REGION [BATCH_SECONDS]]]

The listing's placeholders (stream, endpoint, region, 30 s batches) are the defaults; the
credentials are read from ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` instead of being
written into the program.
"""

import os
import sys

from pyspark import SparkContext, StorageLevel
from pyspark.streaming import StreamingContext
from pyspark.streaming.kinesis import InitialPositionInStream, KinesisUtils

args = sys.argv[1:]
sc = SparkContext(appName="KinesisCountApplication")
ssc = StreamingContext(sc, float(args[3]) if len(args) > 3 else 30)
appName = "KinesisCountApplication"
streamName = args[0] if args else "my_kinesis_stream"
endpointUrl = args[1] if len(args) > 1 else "https://kinesis.ap-southeast-2.amazonaws.com"
regionName = args[2] if len(args) > 2 else "ap-southeast-2"
awsAccessKeyId = os.environ.get("AWS_ACCESS_KEY_ID", "YOURAWSACCESSKEYID")
awsSecretKey = os.environ.get("AWS_SECRET_ACCESS_KEY", "YOURAWSSECRETKEY")
# connect to Kinesis Stream
records = KinesisUtils.createStream(
    ssc,
    appName,
    streamName,
    endpointUrl,
    regionName,
    InitialPositionInStream.LATEST,
    2,
    StorageLevel.MEMORY_AND_DISK_2,
    awsAccessKeyId,
    awsSecretKey,
)
# do some processing: the number of records of each batch
output = records.count()
output.pprint()
ssc.start()
ssc.awaitTermination()
