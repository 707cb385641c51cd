"""Amazon Kinesis input streams, with Spark 3.5's ``pyspark.streaming.kinesis`` API.

Spark needs the ``spark-streaming-kinesis-asl`` jars, the Kinesis Client Library and a JVM;
ferrostream reads Kinesis inside the engine, with the AWS SDK for Rust. The receiver reads
every shard of the stream in parallel (a batch holds what arrived during its interval, one
partition per shard), follows resharding (a child shard is read after its parents ended) and,
as the KCL does, records the last sequence number processed of each shard in a DynamoDB table
named ``kinesisAppName`` (created when missing), every ``checkpointInterval`` seconds and only
for records whose batch completed: a restarted program resumes where it stopped and loses
nothing (at-least-once). With a checkpoint directory, ``StreamingContext.getOrCreate``
recovery reads the batches the checkpointed state does not hold again from Kinesis (their
sequence numbers are in the checkpoint) and goes on from the positions the checkpoint recorded.

Sharing a stream: the table holds a KCL lease per shard. Programs (and receivers) with the same
``kinesisAppName`` split the shards between them, evenly: each shard is read by one of them at a
time, and when one stops (or dies: its leases are no longer renewed) the others take its shards
over, from the last checkpoint, after ``spark.ferrostream.kinesis.failoverTimeMillis``
(10000 ms by default, the KCL's failover time; a program that stops cleanly hands its leases
over at once).

Endpoints: ``endpointUrl`` is the Kinesis endpoint. As with the KCL, the lease table lives in
DynamoDB at the region's endpoint; set ``AWS_ENDPOINT_URL_DYNAMODB`` (the AWS SDK's own setting)
to use another (an emulator).

Credentials: ``awsAccessKeyId``/``awsSecretKey`` when given, otherwise the SDK's default chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, the profile, web identity, instance
metadata); ``stsAssumeRoleArn``/``stsSessionName``/``stsExternalId`` assume a role. The secret
key is never logged and never written into a checkpoint: after a ``getOrCreate`` restart it is
read again from the environment variable ``AWS_SECRET_ACCESS_KEY``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from ferrostream.errors import IllegalArgumentException
from ferrostream.secrets import Secret
from ferrostream.storagelevel import StorageLevel
from ferrostream.streaming._kafka_streams import conf_int
from ferrostream.streaming._kafka_values import utf8_decoder
from ferrostream.streaming.dstream import DStream
from ferrostream.streaming.util import require_callable

if TYPE_CHECKING:
    from ferrostream.streaming.context import StreamingContext

__all__ = ["AtTimestamp", "InitialPositionInStream", "KinesisUtils", "MetricsLevel", "utf8_decoder"]

#: Where a restarted program reads the secret key again (the SDK's own variable).
SECRET_KEY_VARIABLE = "AWS_SECRET_ACCESS_KEY"
#: Milliseconds a lease of the application's DynamoDB table may go unrenewed before another
#: worker (receiver) of the same ``kinesisAppName`` takes it over (the KCL's
#: ``failoverTimeMillis``, 10000 by default).
FAILOVER_CONF = "spark.ferrostream.kinesis.failoverTimeMillis"


class AtTimestamp:
    """Start at the records that arrived at or after ``timestamp`` (Spark's Scala
    ``KinesisInitialPositions.AtTimestamp``).

    Parameters
    ----------
    timestamp : :class:`datetime.datetime` or float
        A datetime (naive ones are local time) or seconds since the epoch.
    """

    __slots__ = ("timestamp",)

    def __init__(self, timestamp: Union[datetime, float]) -> None:
        if isinstance(timestamp, datetime):
            seconds = timestamp.timestamp()
        elif isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
            seconds = float(timestamp)
        else:
            raise TypeError(
                f"AtTimestamp needs a datetime or seconds since the epoch, got "
                f"{type(timestamp).__name__}"
            )
        self.timestamp = seconds

    def __repr__(self) -> str:
        return f"AtTimestamp({self.timestamp!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AtTimestamp) and other.timestamp == self.timestamp

    def __hash__(self) -> int:
        return hash(self.timestamp)


class InitialPositionInStream:
    """Where a shard without a recorded position starts: ``LATEST`` (new records only),
    ``TRIM_HORIZON`` (the oldest record kept), or ``AT_TIMESTAMP``: pass
    ``InitialPositionInStream.atTimestamp(t)`` (an :class:`AtTimestamp`)."""

    LATEST, TRIM_HORIZON = (0, 1)
    AT_TIMESTAMP = 2

    @staticmethod
    def atTimestamp(timestamp: Union[datetime, float]) -> AtTimestamp:
        """The position of the records that arrived at or after ``timestamp``."""
        return AtTimestamp(timestamp)


class MetricsLevel:
    """CloudWatch metrics levels (accepted; ferrostream publishes no CloudWatch metrics)."""

    DETAILED, SUMMARY, NONE = (0, 1, 2)


_ILLEGAL_POSITION = (
    "Illegal InitialPositionInStream. Please use InitialPositionInStream.LATEST or "
    "InitialPositionInStream.TRIM_HORIZON"
)


def _position(initialPositionInStream: Any) -> str:
    if isinstance(initialPositionInStream, AtTimestamp):
        return f"at_timestamp:{round(initialPositionInStream.timestamp * 1000)}"
    if isinstance(initialPositionInStream, bool) or not isinstance(initialPositionInStream, int):
        raise IllegalArgumentException(
            f"{_ILLEGAL_POSITION} (got {type(initialPositionInStream).__name__}: "
            f"{initialPositionInStream!r})"
        )
    if initialPositionInStream == InitialPositionInStream.LATEST:
        return "latest"
    if initialPositionInStream == InitialPositionInStream.TRIM_HORIZON:
        return "trim_horizon"
    if initialPositionInStream == InitialPositionInStream.AT_TIMESTAMP:
        raise IllegalArgumentException(
            "InitialPositionInStream.AT_TIMESTAMP needs a timestamp: pass "
            "InitialPositionInStream.atTimestamp(timestamp)"
        )
    raise IllegalArgumentException(_ILLEGAL_POSITION)


def _interval_ms(checkpointInterval: Any) -> int:
    if isinstance(checkpointInterval, bool) or not isinstance(checkpointInterval, (int, float)):
        raise TypeError(
            "checkpointInterval should be a number of seconds, got "
            f"{type(checkpointInterval).__name__}: {checkpointInterval!r}"
        )
    ms = int(checkpointInterval * 1000)
    if ms <= 0:
        raise ValueError(
            f"checkpointInterval should be a positive number of seconds, got {checkpointInterval!r}"
        )
    return ms


def _text(value: Any, name: str, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name} should be str, got {type(value).__name__}")
    return value


class KinesisUtils:
    """Factory of Kinesis input streams (Spark 3.5's ``KinesisUtils``)."""

    @staticmethod
    def createStream(
        ssc: StreamingContext,
        kinesisAppName: str,
        streamName: str,
        endpointUrl: str,
        regionName: str,
        initialPositionInStream: Any,
        checkpointInterval: float,
        metricsLevel: Any = MetricsLevel.DETAILED,
        storageLevel: Any = StorageLevel.MEMORY_AND_DISK_2,
        awsAccessKeyId: Optional[str] = None,
        awsSecretKey: Optional[Union[str, Secret]] = None,
        decoder: Callable[[Optional[bytes]], Any] = utf8_decoder,
        stsAssumeRoleArn: Optional[str] = None,
        stsSessionName: Optional[str] = None,
        stsExternalId: Optional[str] = None,
    ) -> DStream[Any]:
        """Create an input stream that pulls messages from a Kinesis stream.

        The receiver reads every shard (resharding included: children after their parents)
        and checkpoints the last sequence number of each shard whose batch completed to the
        DynamoDB table ``kinesisAppName``, so a restarted program resumes there
        (at-least-once). Spark 2.4's positional order (no ``metricsLevel``, ``storageLevel``
        eighth) is recognised when a :class:`StorageLevel` comes eighth.

        Parameters
        ----------
        ssc : :class:`StreamingContext`
            StreamingContext object
        kinesisAppName : str
            Kinesis application name used by the Kinesis Client Library (KCL) to
            update DynamoDB
        streamName : str
            Kinesis stream name
        endpointUrl : str
            Url of Kinesis service (e.g., https://kinesis.us-east-1.amazonaws.com)
        regionName : str
            Name of region used by the Kinesis Client Library (KCL) to update
            DynamoDB (lease coordination and checkpointing) and CloudWatch (metrics)
        initialPositionInStream : int
            In the absence of Kinesis checkpoint info, this is the
            worker's initial starting position in the stream. The
            values are either the beginning of the stream per Kinesis'
            limit of 24 hours (InitialPositionInStream.TRIM_HORIZON) or
            the tip of the stream (InitialPositionInStream.LATEST), or
            ``InitialPositionInStream.atTimestamp(t)``.
        checkpointInterval : int
            Checkpoint interval(in seconds) for Kinesis checkpointing. See the Kinesis
            Spark Streaming documentation for more details on the different
            types of checkpoints.
        metricsLevel : int
            Level of CloudWatch PutMetrics (accepted; no metrics are published).
        storageLevel : :class:`StorageLevel`, optional
            Accepted for compatibility; received records are kept in memory.
        awsAccessKeyId : str, optional
            AWS AccessKeyId (default is None. If None, will use the SDK's default
            credentials chain)
        awsSecretKey : str, optional
            AWS SecretKey (default is None. If None, will use the SDK's default
            credentials chain)
        decoder : function, optional
            A function used to decode value (default is utf8_decoder); it gets the
            record's ``bytes``.
        stsAssumeRoleArn : str, optional
            ARN of IAM role to assume when using STS sessions to read from
            the Kinesis stream (default is None).
        stsSessionName : str, optional
            Name to uniquely identify STS sessions used to read from Kinesis
            stream, if STS is being used (default is None).
        stsExternalId : str, optional
            External ID that can be used to validate against the assumed IAM
            role's trust policy, if STS is being used (default is None).

        Returns
        -------
        A DStream object
        """
        if isinstance(metricsLevel, StorageLevel):
            # Spark 2.4's order: (..., checkpointInterval, storageLevel, awsAccessKeyId,
            # awsSecretKey, decoder, stsAssumeRoleArn, stsSessionName, stsExternalId).
            given = [storageLevel, awsAccessKeyId, awsSecretKey, decoder]
            given += [stsAssumeRoleArn, stsSessionName, stsExternalId]
            storageLevel, metricsLevel = metricsLevel, MetricsLevel.DETAILED
            if not isinstance(given[0], StorageLevel):
                # Passed by position: every later argument sits one place late (a decoder
                # or STS names passed by name sit in their own places).
                awsAccessKeyId, awsSecretKey = given[0], given[1]
                if callable(given[2]):
                    decoder = given[2]
                elif callable(given[3]):
                    decoder = given[3]
                if not callable(given[3]):
                    stsAssumeRoleArn, stsSessionName, stsExternalId = given[3], given[4], given[5]
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError(
                f"storageLevel should be a StorageLevel, got {type(storageLevel).__name__}"
            )
        if metricsLevel not in (MetricsLevel.DETAILED, MetricsLevel.SUMMARY, MetricsLevel.NONE):
            # As Spark: an unknown level is DETAILED.
            metricsLevel = MetricsLevel.DETAILED
        sts = (stsAssumeRoleArn, stsSessionName, stsExternalId)
        if any(v is not None for v in sts) and any(v is None for v in sts):
            raise IllegalArgumentException(
                "stsAssumeRoleArn, stsSessionName, and stsExtenalId must all be defined or all "
                "be null"
            )
        if awsAccessKeyId is None and awsSecretKey is not None:
            raise IllegalArgumentException("awsSecretKey is set but awsAccessKeyId is null")
        if awsAccessKeyId is not None and awsSecretKey is None:
            raise IllegalArgumentException("awsAccessKeyId is set but awsSecretKey is null")
        require_callable(decoder, "decoder")
        settings: list[tuple[str, Union[str, Secret]]] = [
            ("app", _text(kinesisAppName, "kinesisAppName")),
            ("stream", _text(streamName, "streamName")),
            ("endpoint", _text(endpointUrl, "endpointUrl")),
            ("region", _text(regionName, "regionName")),
            ("initial_position", _position(initialPositionInStream)),
            ("checkpoint_interval_ms", str(_interval_ms(checkpointInterval))),
        ]
        for value, name in (
            (kinesisAppName, "kinesisAppName"),
            (streamName, "streamName"),
            (endpointUrl, "endpointUrl"),
            (regionName, "regionName"),
        ):
            if not value:
                raise ValueError(f"{name} should not be empty")
        if awsAccessKeyId is not None:
            settings.append(("access_key_id", _text(awsAccessKeyId, "awsAccessKeyId")))
            secret = (
                awsSecretKey
                if isinstance(awsSecretKey, Secret)
                else Secret(SECRET_KEY_VARIABLE, _text(awsSecretKey, "awsSecretKey"))
            )
            settings.append(("secret_key", secret))
        if stsAssumeRoleArn is not None:
            settings.append(("sts_role_arn", _text(stsAssumeRoleArn, "stsAssumeRoleArn")))
            settings.append(("sts_session_name", _text(stsSessionName, "stsSessionName")))
            settings.append(("sts_external_id", _text(stsExternalId, "stsExternalId")))
        native_utf8 = decoder is utf8_decoder
        ssc._check_can_add()
        sc = ssc._sc
        failover = sc.getConf().get(FAILOVER_CONF, None)
        if failover is not None:
            settings.append(("failover_ms", str(failover)))
        stream_id = ssc._engine.kinesis_stream(
            settings,
            "utf8" if native_utf8 else "bytes",
            conf_int(sc, "spark.streaming.receiverRestartDelay", 2000),
            conf_int(sc, "spark.streaming.receiver.maxRate", 0) or None,
        )
        stream: DStream[Any] = DStream(ssc, stream_id)
        return stream if native_utf8 else stream.map(decoder)
