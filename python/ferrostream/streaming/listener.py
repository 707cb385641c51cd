"""StreamingListener and the event objects handed to its callbacks.

In PySpark the events are Java objects used through method calls
(``batchCompleted.batchInfo().processingDelay()``). The engine reports each event as
``callback(event_name, info_dict)``; the classes below give those dicts the same method-style
accessors, so listener code written for PySpark runs unchanged.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

__all__ = ["StreamingListener"]

_log = logging.getLogger("ferrostream.streaming")


class StreamingListener:
    """Receives the events of a running :class:`StreamingContext`.

    Subclass it, override the callbacks you need, and register an instance with
    :meth:`StreamingContext.addStreamingListener`. Every callback does nothing by default.
    A callback that raises is logged and otherwise ignored.
    """

    def __init__(self) -> None:
        pass

    def onStreamingStarted(self, streamingStarted: Any) -> None:
        """Called once when the context has started (``streamingStarted.time`` in ms)."""

    def onReceiverStarted(self, receiverStarted: Any) -> None:
        """Called when a receiver has been started."""

    def onReceiverError(self, receiverError: Any) -> None:
        """Called when a receiver has reported an error."""

    def onReceiverStopped(self, receiverStopped: Any) -> None:
        """Called when a receiver has been stopped."""

    def onBatchSubmitted(self, batchSubmitted: Any) -> None:
        """Called when the jobs of a batch have been submitted for processing."""

    def onBatchStarted(self, batchSubmitted: Any) -> None:
        """Called when the processing of a batch has started."""

    def onBatchCompleted(self, batchCompleted: Any) -> None:
        """Called when the processing of a batch has completed."""

    def onOutputOperationStarted(self, outputOperationStarted: Any) -> None:
        """Called when an output operation of a batch has started."""

    def onOutputOperationCompleted(self, outputOperationCompleted: Any) -> None:
        """Called when an output operation of a batch has completed."""


def _ms(value: Any) -> int:
    """Times and delays as plain ints, ``-1`` when unknown."""
    if value is None:
        return -1
    return int(value)


class _CallableInt(int):
    """An int that can also be called (``info.numRecords`` and ``info.numRecords()``)."""

    def __call__(self) -> int:
        return int(self)


class Time:
    """A batch time, as Spark's ``Time``: ``milliseconds()``."""

    __slots__ = ("_ms",)

    def __init__(self, ms: int) -> None:
        self._ms = int(ms)

    def milliseconds(self) -> int:
        return self._ms

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Time) and other._ms == self._ms

    def __hash__(self) -> int:
        return hash(self._ms)

    def __repr__(self) -> str:
        return f"{self._ms} ms"


class StreamInputInfo:
    """What one input stream contributed to a batch."""

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = info
        self.numRecords = _CallableInt(_ms(info.get("numRecords", 0)))

    def inputStreamId(self) -> int:
        return int(self._info.get("inputStreamId", -1))

    def metadata(self) -> dict[str, Any]:
        return dict(self._info.get("metadata") or {})

    def metadataDescription(self) -> str | None:
        description = self.metadata().get("Description")
        return None if description is None else str(description)

    def __repr__(self) -> str:
        return f"StreamInputInfo({self._info!r})"


class OutputOperationInfo:
    """One output operation of a batch."""

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = info

    def batchTime(self) -> Time:
        return Time(_ms(self._info.get("batchTime")))

    def id(self) -> int:
        return int(self._info.get("id", -1))

    def name(self) -> str:
        return str(self._info.get("name", ""))

    def description(self) -> str:
        return str(self._info.get("description", ""))

    def startTime(self) -> int:
        return _ms(self._info.get("startTime"))

    def endTime(self) -> int:
        return _ms(self._info.get("endTime"))

    def failureReason(self) -> str | None:
        reason = self._info.get("failureReason")
        return None if reason is None else str(reason)

    def __repr__(self) -> str:
        return f"OutputOperationInfo({self._info!r})"


class BatchInfo:
    """Timing and input information of one batch."""

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = info

    def batchTime(self) -> Time:
        return Time(_ms(self._info.get("batchTime")))

    def streamIdToInputInfo(self) -> dict[int, StreamInputInfo]:
        raw = self._info.get("streamIdToInputInfo") or {}
        return {int(k): StreamInputInfo(v) for k, v in raw.items()}

    def submissionTime(self) -> int:
        return _ms(self._info.get("submissionTime"))

    def processingStartTime(self) -> int:
        return _ms(self._info.get("processingStartTime"))

    def processingEndTime(self) -> int:
        return _ms(self._info.get("processingEndTime"))

    def schedulingDelay(self) -> int:
        return _ms(self._info.get("schedulingDelay"))

    def processingDelay(self) -> int:
        return _ms(self._info.get("processingDelay"))

    def totalDelay(self) -> int:
        return _ms(self._info.get("totalDelay"))

    def numRecords(self) -> int:
        return _ms(self._info.get("numRecords", 0))

    def outputOperationInfos(self) -> dict[int, OutputOperationInfo]:
        raw = self._info.get("outputOperationInfos") or {}
        return {int(k): OutputOperationInfo(v) for k, v in raw.items()}

    def __repr__(self) -> str:
        return f"BatchInfo({self._info!r})"


class ReceiverInfo:
    """The state of one receiver."""

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = info

    def streamId(self) -> int:
        return int(self._info.get("streamId", -1))

    def name(self) -> str:
        return str(self._info.get("name", ""))

    def active(self) -> bool:
        return bool(self._info.get("active", False))

    def location(self) -> str:
        return str(self._info.get("location", ""))

    def lastErrorMessage(self) -> str:
        return str(self._info.get("lastErrorMessage", ""))

    def lastError(self) -> str:
        return str(self._info.get("lastError", ""))

    def lastErrorTime(self) -> int:
        return _ms(self._info.get("lastErrorTime"))


class StreamingListenerStreamingStarted:
    """``onStreamingStarted``'s event: ``.time`` is the start time in epoch ms."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.time = _ms(info.get("time"))


class _BatchEvent:
    def __init__(self, info: dict[str, Any]) -> None:
        self._batch_info = BatchInfo(info)

    def batchInfo(self) -> BatchInfo:
        return self._batch_info


class StreamingListenerBatchSubmitted(_BatchEvent):
    """``onBatchSubmitted``'s event."""


class StreamingListenerBatchStarted(_BatchEvent):
    """``onBatchStarted``'s event."""


class StreamingListenerBatchCompleted(_BatchEvent):
    """``onBatchCompleted``'s event."""


class _OutputOperationEvent:
    def __init__(self, info: dict[str, Any]) -> None:
        self._op_info = OutputOperationInfo(info)

    def outputOperationInfo(self) -> OutputOperationInfo:
        return self._op_info


class StreamingListenerOutputOperationStarted(_OutputOperationEvent):
    """``onOutputOperationStarted``'s event."""


class StreamingListenerOutputOperationCompleted(_OutputOperationEvent):
    """``onOutputOperationCompleted``'s event."""


class _ReceiverEvent:
    def __init__(self, info: dict[str, Any]) -> None:
        self._receiver_info = ReceiverInfo(info)

    def receiverInfo(self) -> ReceiverInfo:
        return self._receiver_info


class StreamingListenerReceiverStarted(_ReceiverEvent):
    """``onReceiverStarted``'s event."""


class StreamingListenerReceiverError(_ReceiverEvent):
    """``onReceiverError``'s event."""


class StreamingListenerReceiverStopped(_ReceiverEvent):
    """``onReceiverStopped``'s event."""


_EVENTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "onStreamingStarted": StreamingListenerStreamingStarted,
    "onBatchSubmitted": StreamingListenerBatchSubmitted,
    "onBatchStarted": StreamingListenerBatchStarted,
    "onBatchCompleted": StreamingListenerBatchCompleted,
    "onOutputOperationStarted": StreamingListenerOutputOperationStarted,
    "onOutputOperationCompleted": StreamingListenerOutputOperationCompleted,
    "onReceiverStarted": StreamingListenerReceiverStarted,
    "onReceiverError": StreamingListenerReceiverError,
    "onReceiverStopped": StreamingListenerReceiverStopped,
}


class ListenerBus:
    """Fans the engine's single listener callback out to every registered listener."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add(self, listener: Any) -> None:
        self.listeners.append(listener)

    def __call__(self, event_name: str, info: dict[str, Any]) -> None:
        factory = _EVENTS.get(event_name)
        if factory is None:
            _log.debug("ignoring unknown streaming event %r", event_name)
            return
        try:
            event = factory(info)
        except Exception:
            _log.exception("could not read streaming event %s: %r", event_name, info)
            return
        for listener in list(self.listeners):
            callback = getattr(listener, event_name, None)
            if callback is None:
                continue
            try:
                callback(event)
            except Exception:
                _log.exception(
                    "StreamingListener %s.%s raised an exception",
                    type(listener).__name__,
                    event_name,
                )
