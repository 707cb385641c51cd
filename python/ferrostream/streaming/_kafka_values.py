"""The value classes of ``ferrostream.streaming.kafka`` (Spark 2.4's ``pyspark.streaming.kafka``):
offset ranges, topic partitions, brokers, messages with their metadata, and ``utf8_decoder``."""

from __future__ import annotations

from typing import Any, Callable, Optional

__all__ = [
    "Broker",
    "KafkaMessageAndMetadata",
    "OffsetRange",
    "TopicAndPartition",
    "utf8_decoder",
]


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
