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

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from ferrostream import _native
from ferrostream.rdd import RDD
from ferrostream.secrets import Secret, reveal
from ferrostream.storagelevel import StorageLevel
from ferrostream.streaming._funcs import _Wrapper
from ferrostream.streaming.dstream import DStream, TransformedDStream
from ferrostream.streaming.util import (
    arg_count,
    ms_to_datetime,
    require_callable,
    user_callsite,
    wrap_rdd,
)

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

#: kafkaParams whose values are credentials (kept out of checkpoints and logs).
_SECRET_KEYS = frozenset(
    {
        "sasl.password",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl.keystore.password",
        "ssl.truststore.password",
    }
)

_POLL_MS_DEFAULT = 120_000


def utf8_decoder(s: Optional[bytes]) -> Optional[str]:
    """Decode the unicode as UTF-8"""
    if s is None:
        return None
    return s.decode("utf-8")


class TopicAndPartition:
    """Represents a specific topic and partition for Kafka.

    Parameters
    ----------
    topic : str
        Kafka topic name.
    partition : int
        Kafka partition id.
    """

    def __init__(self, topic: str, partition: int) -> None:
        self._topic = topic
        self._partition = partition

    def __eq__(self, other: object) -> bool:
        if isinstance(other, self.__class__):
            return self._topic == other._topic and self._partition == other._partition
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return (self._topic, self._partition).__hash__()


class OffsetRange:
    """Represents a range of offsets from a single Kafka TopicAndPartition.

    Parameters
    ----------
    topic : str
        Kafka topic name.
    partition : int
        Kafka partition id.
    fromOffset : int
        Inclusive starting offset.
    untilOffset : int
        Exclusive ending offset.
    """

    def __init__(self, topic: str, partition: int, fromOffset: int, untilOffset: int) -> None:
        self.topic = topic
        self.partition = partition
        self.fromOffset = fromOffset
        self.untilOffset = untilOffset

    def __eq__(self, other: object) -> bool:
        if isinstance(other, self.__class__):
            return (
                self.topic == other.topic
                and self.partition == other.partition
                and self.fromOffset == other.fromOffset
                and self.untilOffset == other.untilOffset
            )
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    # Spark's own text, without a closing parenthesis.
    def __str__(self) -> str:
        return (
            f"OffsetRange(topic: {self.topic!s}, partition: {self.partition:d}, "
            f"range: [{self.fromOffset:d} -> {self.untilOffset:d}]"
        )


class Broker:
    """Represents the host and port info for a Kafka broker.

    Parameters
    ----------
    host : str
        Broker's hostname.
    port : int
        Broker's port.
    """

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port


class KafkaMessageAndMetadata:
    """Kafka message and metadata information, including topic, partition, offset and the
    message itself; ``key`` and ``message`` are decoded by the stream's decoders."""

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: Optional[bytes],
        message: Optional[bytes],
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self._rawKey = key
        self._rawMessage = message
        self._keyDecoder: Callable[[Optional[bytes]], Any] = utf8_decoder
        self._valueDecoder: Callable[[Optional[bytes]], Any] = utf8_decoder

    def __str__(self) -> str:
        return (
            f"KafkaMessageAndMetadata(topic: {self.topic!s}, partition: {self.partition:d}, "
            f"offset: {self.offset:d}, key and message...)"
        )

    def __repr__(self) -> str:
        return self.__str__()

    def __reduce__(self) -> Any:
        return (
            KafkaMessageAndMetadata,
            (self.topic, self.partition, self.offset, self._rawKey, self._rawMessage),
        )

    def _set_key_decoder(self, decoder: Callable[[Optional[bytes]], Any]) -> None:
        self._keyDecoder = decoder

    def _set_value_decoder(self, decoder: Callable[[Optional[bytes]], Any]) -> None:
        self._valueDecoder = decoder

    @property
    def key(self) -> Any:
        return self._keyDecoder(self._rawKey)

    @property
    def message(self) -> Any:
        return self._valueDecoder(self._rawMessage)


# ------------------------------------------------------------------------------------------
# record conversion (user decoders and handlers, one call per record inside one Python call
# per partition)


class _DecodePair(_Wrapper):
    """``(key bytes, value bytes) -> (keyDecoder(key), valueDecoder(value))``."""

    __slots__ = ("key_decoder", "value_decoder")

    def __init__(self, key_decoder: Callable[..., Any], value_decoder: Callable[..., Any]):
        self.key_decoder = key_decoder
        self.value_decoder = value_decoder

    def __call__(self, kv: tuple[Optional[bytes], Optional[bytes]]) -> tuple[Any, Any]:
        return (self.key_decoder(kv[0]), self.value_decoder(kv[1]))


class _HandleMessage(_Wrapper):
    """``(topic, partition, offset, key, value) -> messageHandler(KafkaMessageAndMetadata)``."""

    __slots__ = ("handler", "key_decoder", "value_decoder")

    def __init__(
        self,
        handler: Callable[..., Any],
        key_decoder: Callable[..., Any],
        value_decoder: Callable[..., Any],
    ):
        self.handler = handler
        self.key_decoder = key_decoder
        self.value_decoder = value_decoder

    def __call__(self, record: tuple[str, int, int, Optional[bytes], Optional[bytes]]) -> Any:
        m = KafkaMessageAndMetadata(*record)
        m._set_key_decoder(self.key_decoder)
        m._set_value_decoder(self.value_decoder)
        return self.handler(m)


def _record_format(
    key_decoder: Callable[..., Any],
    value_decoder: Callable[..., Any],
    message_handler: Optional[Callable[..., Any]],
) -> tuple[str, Optional[Callable[..., Any]]]:
    """The engine's record format and the Python function applied to each record, if any."""
    require_callable(key_decoder, "keyDecoder")
    require_callable(value_decoder, "valueDecoder")
    if message_handler is not None:
        require_callable(message_handler, "messageHandler")
        return "messages", _HandleMessage(message_handler, key_decoder, value_decoder)
    if key_decoder is utf8_decoder and value_decoder is utf8_decoder:
        return "utf8", None
    return "bytes", _DecodePair(key_decoder, value_decoder)


def _client_params(kafkaParams: dict[str, Any]) -> list[tuple[str, Union[str, Secret]]]:
    """kafkaParams as the engine takes them: strings, credentials wrapped as secrets."""
    out: list[tuple[str, Union[str, Secret]]] = []
    for key, value in kafkaParams.items():
        if not isinstance(key, str):
            raise TypeError(f"kafkaParams keys should be str, got {type(key).__name__}")
        if isinstance(value, Secret):
            out.append((key, value))
        elif key in _SECRET_KEYS:
            name = "FERROSTREAM_KAFKA_" + key.upper().replace(".", "_")
            out.append((key, Secret(name, str(value))))
        else:
            out.append((key, str(value)))
    return out


def _conf_int(sc: SparkContext, key: str, default: int) -> int:
    value = sc.getConf().get(key, str(default))
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"{key} should be an integer, got {value!r}") from None


# ------------------------------------------------------------------------------------------
# streams and RDDs with offset ranges


class KafkaRDD(RDD[Any]):
    """A Python wrapper of the RDD a Kafka source produced, with its offset ranges."""

    def __init__(self, jrdd: Any, ctx: SparkContext, ranges: Optional[list[OffsetRange]]):
        super().__init__(jrdd, ctx)
        self._offset_ranges = ranges

    def offsetRanges(self) -> list[OffsetRange]:
        """The offset ranges of the Kafka partitions this RDD read."""
        if self._offset_ranges is None:
            raise ValueError(
                "Cannot get offset ranges, as there may be multiple Kafka RDDs or no Kafka RDD "
                "associated with this RDD, please call this method only on a Kafka RDD."
            )
        return list(self._offset_ranges)


def _ranges_at(input_stream: int, t_ms: int) -> Optional[list[OffsetRange]]:
    from ferrostream.streaming.context import StreamingContext

    ssc = StreamingContext._activeContext
    if ssc is None:
        return None
    found = ssc._engine.kafka_offset_ranges(input_stream, t_ms)
    if found is None:
        return None
    return [OffsetRange(t, p, f, u) for (t, p, f, u) in found]


def _kafka_rdd(rdd: Optional[RDD[Any]], input_stream: int, t_ms: int) -> Optional[KafkaRDD]:
    if rdd is None:
        return None
    return KafkaRDD(rdd._jrdd, rdd.ctx, _ranges_at(input_stream, t_ms))


class _WithOffsetRanges(_Wrapper):
    """``(time, rdd) -> func([time,] KafkaRDD)``: what a Kafka stream's ``transform`` and
    ``foreachRDD`` hand to the user function."""

    __slots__ = ("func", "input_stream", "takes_time")

    def __init__(self, func: Callable[..., Any], input_stream: int, takes_time: bool):
        self.func = func
        self.input_stream = input_stream
        self.takes_time = takes_time

    def __call__(self, time: Any, rdd: Optional[RDD[Any]]) -> Any:
        if isinstance(time, datetime):
            t_ms = round(time.timestamp() * 1000)
        else:
            t_ms = int(time)
            time = ms_to_datetime(t_ms)
        krdd = _kafka_rdd(rdd, self.input_stream, t_ms)
        return self.func(time, krdd) if self.takes_time else self.func(krdd)


class KafkaDStream(DStream[Any]):
    """A DStream of a Kafka direct stream: ``foreachRDD`` and ``transform`` hand
    :class:`KafkaRDD` s, whose ``offsetRanges()`` tell what each batch read."""

    def __init__(
        self, ssc: StreamingContext, input_stream: int, convert: Optional[Callable[..., Any]]
    ) -> None:
        self._input: DStream[Any] = DStream(ssc, input_stream)
        super().__init__(ssc, input_stream if convert is None else None)
        self._input_stream = input_stream
        self._convert = convert

    @property
    def _jdstream(self) -> int:
        if self._stream_id is None:
            assert self._convert is not None
            self._stream_id = self._make_node([self._input], _MapRecords(self._convert))
        return self._stream_id

    def foreachRDD(self, func: Callable[..., Any]) -> None:
        require_callable(func, "foreachRDD: func")
        wrapped = _WithOffsetRanges(func, self._input_stream, arg_count(func) != 1)
        self._ssc._register_output(self, wrapped, user_callsite("foreachRDD"), raw_time=True)

    def transform(self, func: Callable[..., Any]) -> DStream[Any]:
        require_callable(func, "transform: func")
        nargs = arg_count(func)
        if nargs not in (1, 2):
            raise AssertionError("func should take one or two arguments")
        return TransformedDStream(self, _WithOffsetRanges(func, self._input_stream, nargs == 2))


class _MapRecords(_Wrapper):
    """``(time, rdd) -> rdd.map(convert)``: decoders or a message handler over a batch."""

    __slots__ = ("convert",)

    def __init__(self, convert: Callable[..., Any]) -> None:
        self.convert = convert

    def __call__(self, _time: Any, rdd: Optional[RDD[Any]]) -> Optional[RDD[Any]]:
        return None if rdd is None else rdd.map(self.convert)


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
        fmt, convert = _record_format(keyDecoder, valueDecoder, None)
        ssc._check_can_add()
        sc = ssc._sc
        stream_id = ssc._engine.kafka_receiver_stream(
            _client_params(kafkaParams),
            groupId,
            [str(t) for t in topics],
            fmt,
            _conf_int(sc, "spark.streaming.receiverRestartDelay", 2000),
            _conf_int(sc, "spark.streaming.receiver.maxRate", 0) or None,
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
        fmt, convert = _record_format(keyDecoder, valueDecoder, messageHandler)
        ssc._check_can_add()
        sc = ssc._sc
        max_rate = _conf_int(sc, "spark.streaming.kafka.maxRatePerPartition", 0)
        stream_id = ssc._engine.kafka_direct_stream(
            _client_params(kafkaParams),
            [str(t) for t in topics],
            offsets,
            fmt,
            max_rate if max_rate > 0 else None,
            _conf_int(sc, "spark.streaming.kafka.consumer.poll.ms", _POLL_MS_DEFAULT),
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
        fmt, convert = _record_format(keyDecoder, valueDecoder, messageHandler)
        sc._check_alive()
        params = reveal(_client_params(kafkaParams))
        jrdd = _native.kafka_rdd(
            sc._ectx,
            params,
            ranges,
            fmt,
            _conf_int(sc, "spark.streaming.kafka.consumer.poll.ms", _POLL_MS_DEFAULT),
        )
        rdd = wrap_rdd(jrdd, sc)
        assert rdd is not None
        if convert is not None:
            rdd = rdd.map(convert)
        return KafkaRDD(rdd._jrdd, sc, [OffsetRange(*r) for r in ranges])
