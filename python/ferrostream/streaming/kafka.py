"""Apache Kafka input streams, with Spark 2.4's ``pyspark.streaming.kafka`` API.

Spark removed this Python API in 3.0; ferrostream keeps it, on a modern Kafka, without
deprecation warnings. The client is librdkafka, inside the engine: records are read by the
engine, decoded as UTF-8 natively when the decoders are :func:`utf8_decoder` (the default),
and handed to Python decoders or a ``messageHandler`` only when the program gives its own.

- :meth:`KafkaUtils.createDirectStream`: no receiver. Each batch's offset ranges are decided
  when the batch is generated and kept in the checkpoint, so after a crash
  ``StreamingContext.getOrCreate`` reads exactly the same records again: stateful results
  count every record exactly once.
- :meth:`KafkaUtils.createStream`: a receiver consuming as a consumer group; the group's
  offsets are committed only after the batch holding the records completed (at-least-once).
- :meth:`KafkaUtils.createRDD`: an RDD of exactly the given offset ranges.

kafkaParams take Spark's (Kafka 0.8) names and librdkafka's: ``metadata.broker.list`` is
``bootstrap.servers``, ``auto.offset.reset`` ``smallest``/``largest`` are
``earliest``/``latest``; an unknown setting is an error naming it. Credentials
(``sasl.password``, ...) are never logged and never written into a checkpoint: after a restart
they are read again from the environment variable ``FERROSTREAM_KAFKA_<KEY>`` (for
``sasl.password``: ``FERROSTREAM_KAFKA_SASL_PASSWORD``), or pass a
:class:`ferrostream.secrets.Secret` as the value to name the variable yourself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from ferrostream import _native
from ferrostream.secrets import reveal
from ferrostream.storagelevel import StorageLevel
from ferrostream.streaming._kafka_streams import (
    KafkaDStream,
    KafkaRDD,
    client_params,
    conf_int,
    record_format,
)
from ferrostream.streaming._kafka_values import (
    Broker,
    KafkaMessageAndMetadata,
    OffsetRange,
    TopicAndPartition,
    utf8_decoder,
)
from ferrostream.streaming.dstream import DStream
from ferrostream.streaming.util import wrap_rdd

if TYPE_CHECKING:
    from ferrostream.context import SparkContext
    from ferrostream.streaming.context import StreamingContext

__all__ = [
    "Broker",
    "KafkaMessageAndMetadata",
    "KafkaUtils",
    "OffsetRange",
    "TopicAndPartition",
    "utf8_decoder",
]

_POLL_MS_DEFAULT = 120_000


# ------------------------------------------------------------------------------------------
# KafkaUtils


class KafkaUtils:
    """Factories of Kafka input streams and RDDs (Spark 2.4's ``KafkaUtils``)."""

    @staticmethod
    def createStream(
        ssc: StreamingContext,
        zkQuorum: str,
        groupId: str,
        topics: dict[str, int],
        kafkaParams: Optional[dict[str, Any]] = None,
        storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2,
        keyDecoder: Callable[[Optional[bytes]], Any] = utf8_decoder,
        valueDecoder: Callable[[Optional[bytes]], Any] = utf8_decoder,
    ) -> DStream[tuple[Any, Any]]:
        """Create an input stream that pulls messages from Kafka brokers as consumer group
        ``groupId``.

        Offsets are committed to the group only after the batch holding the records
        completed, so a restarted program loses nothing (at-least-once). The brokers are the
        ``metadata.broker.list`` (or ``bootstrap.servers``) of kafkaParams when given;
        otherwise ``zkQuorum`` (``host:port[,host:port][/chroot]``) is read as a ZooKeeper
        ensemble and the brokers registered there are used.

        Parameters
        ----------
        ssc : :class:`StreamingContext`
            StreamingContext object.
        zkQuorum : str
            Zookeeper quorum (hostname:port,hostname:port,..).
        groupId : str
            The group id for this consumer.
        topics : dict
            Dict of (topic_name -> numPartitions) to consume. Each partition is consumed in
            its own thread.
        kafkaParams : dict, optional
            Additional params for Kafka.
        storageLevel : :class:`StorageLevel`, optional
            Accepted for compatibility; received records are kept in memory.
        keyDecoder, valueDecoder : function, optional
            Decoders of keys and values (``bytes`` or ``None`` in).

        Returns
        -------
        :class:`DStream`
            A DStream of ``(key, value)`` pairs.
        """
        if kafkaParams is None:
            kafkaParams = dict()
        kafkaParams.update(
            {
                "zookeeper.connect": zkQuorum,
                "group.id": groupId,
                "zookeeper.connection.timeout.ms": "10000",
            }
        )
        if not isinstance(topics, dict):
            raise TypeError("topics should be dict")
        fmt, convert = record_format(keyDecoder, valueDecoder, None)
        ssc._check_can_add()
        sc = ssc._sc
        stream_id = ssc._engine.kafka_receiver_stream(
            client_params(kafkaParams),
            groupId,
            [str(t) for t in topics],
            fmt,
            conf_int(sc, "spark.streaming.receiverRestartDelay", 2000),
            conf_int(sc, "spark.streaming.receiver.maxRate", 0) or None,
        )
        stream: DStream[Any] = DStream(ssc, stream_id)
        return stream if convert is None else stream.map(convert)

    @staticmethod
    def createDirectStream(
        ssc: StreamingContext,
        topics: list[str],
        kafkaParams: dict[str, Any],
        fromOffsets: Optional[dict[TopicAndPartition, int]] = None,
        keyDecoder: Callable[[Optional[bytes]], Any] = utf8_decoder,
        valueDecoder: Callable[[Optional[bytes]], Any] = utf8_decoder,
        messageHandler: Optional[Callable[[KafkaMessageAndMetadata], Any]] = None,
    ) -> KafkaDStream:
        """Create an input stream that directly pulls messages from Kafka brokers, without a
        receiver, with exactly-once semantics for what the engine computes.

        Each batch reads, for every partition of the topics, from where the previous batch
        stopped to the latest offset (at most ``spark.streaming.kafka.maxRatePerPartition``
        records per second per partition when set). The ranges are recorded in the
        checkpoint, so a restarted program reads exactly the same records again. Partitions
        added to a topic while running are read from their beginning. Offsets are not
        committed to Kafka: the checkpoint holds them.

        Parameters
        ----------
        ssc : :class:`StreamingContext`
            StreamingContext object.
        topics : list
            List of topic_name to consume.
        kafkaParams : dict
            Additional params for Kafka; ``metadata.broker.list`` (or ``bootstrap.servers``)
            is required, ``auto.offset.reset`` ``smallest`` starts at the earliest offsets
            (default: the latest).
        fromOffsets : dict, optional
            Per-topic/partition Kafka offsets defining the (inclusive) starting point of the
            stream (a dict mapping :class:`TopicAndPartition` to integers).
        keyDecoder, valueDecoder : function, optional
            Decoders of keys and values (``bytes`` or ``None`` in).
        messageHandler : function, optional
            A function used to convert :class:`KafkaMessageAndMetadata`. You can access
            the meta using messageHandler.

        Returns
        -------
        :class:`KafkaDStream`
            A DStream of ``(key, value)`` pairs, or of what ``messageHandler`` returns.
        """
        if fromOffsets is None:
            fromOffsets = dict()
        if not isinstance(topics, list):
            raise TypeError("topics should be list")
        if not isinstance(kafkaParams, dict):
            raise TypeError("kafkaParams should be dict")
        if not isinstance(fromOffsets, dict):
            raise TypeError("fromOffsets should be dict")
        offsets = []
        for tp, offset in fromOffsets.items():
            if not isinstance(tp, TopicAndPartition):
                raise TypeError(
                    f"fromOffsets keys should be TopicAndPartition, got {type(tp).__name__}"
                )
            offsets.append((str(tp._topic), int(tp._partition), int(offset)))
        fmt, convert = record_format(keyDecoder, valueDecoder, messageHandler)
        ssc._check_can_add()
        sc = ssc._sc
        max_rate = conf_int(sc, "spark.streaming.kafka.maxRatePerPartition", 0)
        stream_id = ssc._engine.kafka_direct_stream(
            client_params(kafkaParams),
            [str(t) for t in topics],
            offsets,
            fmt,
            max_rate if max_rate > 0 else None,
            conf_int(sc, "spark.streaming.kafka.consumer.poll.ms", _POLL_MS_DEFAULT),
        )
        return KafkaDStream(ssc, stream_id, convert)

    @staticmethod
    def createRDD(
        sc: SparkContext,
        kafkaParams: dict[str, Any],
        offsetRanges: list[OffsetRange],
        leaders: Optional[dict[TopicAndPartition, Broker]] = None,
        keyDecoder: Callable[[Optional[bytes]], Any] = utf8_decoder,
        valueDecoder: Callable[[Optional[bytes]], Any] = utf8_decoder,
        messageHandler: Optional[Callable[[KafkaMessageAndMetadata], Any]] = None,
    ) -> KafkaRDD:
        """Create an RDD from Kafka using offset ranges for each topic and partition.

        The ranges are checked against the offsets the brokers hold: a range that is not
        (or no longer) available fails here ("Offsets not available on leader"). The RDD has
        one partition per range.

        Parameters
        ----------
        sc : :class:`SparkContext`
            SparkContext object.
        kafkaParams : dict
            Additional params for Kafka; ``metadata.broker.list`` is required.
        offsetRanges : list
            list of offsetRange to specify topic:partition:[start, end) to consume.
        leaders : dict, optional
            Accepted for compatibility: the client finds partition leaders itself.
        keyDecoder, valueDecoder : function, optional
            Decoders of keys and values (``bytes`` or ``None`` in).
        messageHandler : function, optional
            A function used to convert :class:`KafkaMessageAndMetadata`.

        Returns
        -------
        :class:`KafkaRDD`
        """
        if leaders is None:
            leaders = dict()
        if not isinstance(kafkaParams, dict):
            raise TypeError("kafkaParams should be dict")
        if not isinstance(offsetRanges, list):
            raise TypeError("offsetRanges should be list")
        ranges = []
        for r in offsetRanges:
            if not isinstance(r, OffsetRange):
                raise TypeError(f"offsetRanges should hold OffsetRange, got {type(r).__name__}")
            ranges.append((str(r.topic), int(r.partition), int(r.fromOffset), int(r.untilOffset)))
        fmt, convert = record_format(keyDecoder, valueDecoder, messageHandler)
        sc._check_alive()
        params = reveal(client_params(kafkaParams))
        plan = _native.kafka_rdd(
            sc._ectx,
            params,
            ranges,
            fmt,
            conf_int(sc, "spark.streaming.kafka.consumer.poll.ms", _POLL_MS_DEFAULT),
        )
        rdd = wrap_rdd(plan, sc)
        assert rdd is not None
        if convert is not None:
            rdd = rdd.map(convert)
        return KafkaRDD(rdd._plan, sc, [OffsetRange(*r) for r in ranges])
