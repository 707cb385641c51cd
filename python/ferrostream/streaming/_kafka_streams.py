"""How Kafka records reach Python (decoders and message handlers, one call per record inside one
Python call per partition) and the streams and RDDs that know their offset ranges."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from ferrostream import _native
from ferrostream.rdd import RDD
from ferrostream.secrets import Secret
from ferrostream.streaming._funcs import _Wrapper, plans_once
from ferrostream.streaming._kafka_values import KafkaMessageAndMetadata, OffsetRange, utf8_decoder
from ferrostream.streaming.dstream import DStream, TransformedDStream
from ferrostream.streaming.util import (
    arg_count,
    ms_to_datetime,
    require_callable,
    user_callsite,
)

if TYPE_CHECKING:
    from ferrostream.context import SparkContext
    from ferrostream.streaming.context import StreamingContext

__all__ = ["KafkaDStream", "KafkaRDD", "client_params", "conf_int", "record_format"]

#: kafkaParams whose values are credentials: the engine's list.
_SECRET_KEYS = frozenset(_native.kafka_secret_keys())


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


def record_format(
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


def client_params(kafkaParams: dict[str, Any]) -> list[tuple[str, Union[str, Secret]]]:
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


def conf_int(sc: SparkContext, key: str, default: int) -> int:
    value = sc.getConf().get(key, str(default))
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"{key} should be an integer, got {value!r}") from None


# ------------------------------------------------------------------------------------------
# streams and RDDs with offset ranges


class KafkaRDD(RDD[Any]):
    """A Python wrapper of the RDD a Kafka source produced, with its offset ranges."""

    def __init__(self, plan: Any, ctx: SparkContext, ranges: Optional[list[OffsetRange]]):
        super().__init__(plan, ctx)
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
    return KafkaRDD(rdd._plan, rdd.ctx, _ranges_at(input_stream, t_ms))


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
    def _engine_id(self) -> int:
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
        if plans_once(func):
            # One of DStream's own operations (map, reduceByKey...): no offsets to hand over.
            return super().transform(func)
        nargs = arg_count(func)
        if nargs not in (1, 2):
            raise AssertionError("func should take one or two arguments")
        return TransformedDStream(self, _WithOffsetRanges(func, self._input_stream, nargs == 2))


class _MapRecords(_Wrapper):
    """``(time, rdd) -> rdd.map(convert)``: decoders or a message handler over a batch."""

    __slots__ = ("convert",)
    # An RDD method only: the engine plans it once (see ``_funcs.plans_once``).
    plans_once = True

    def __init__(self, convert: Callable[..., Any]) -> None:
        self.convert = convert

    def __call__(self, _time: Any, rdd: Optional[RDD[Any]]) -> Optional[RDD[Any]]:
        return None if rdd is None else rdd.map(self.convert)
