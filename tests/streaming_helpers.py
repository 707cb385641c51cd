"""Helpers shared by the DStream tests (manual clock)."""

from __future__ import annotations

from typing import Any, Callable

from ferrostream.streaming import DStream, StreamingContext, StreamingListener
from ferrostream.testing import collect_stream, run_batches

NO_CHECKPOINT = (
    "requirement failed: The checkpoint directory has not been set. "
    "Please set it by StreamingContext.checkpoint()."
)


class OutputOutcomes(StreamingListener):
    """Records the batch second of every output operation, split by success."""

    def __init__(self) -> None:
        super().__init__()
        self.ok: list[int] = []
        self.failed: list[int] = []

    def onOutputOperationCompleted(self, outputOperationCompleted: Any) -> None:
        info = outputOperationCompleted.outputOperationInfo()
        second = info.batchTime().milliseconds() // 1000
        (self.ok if info.failureReason() is None else self.failed).append(second)


def run(
    ssc: StreamingContext, inputs: list[Any], op: Callable[[DStream[Any]], DStream[Any]], n: int
) -> list[list[Any]]:
    """Apply ``op`` to a queue stream of ``inputs``, run ``n`` batches, return every batch's
    records (checking that no batch failed)."""
    out = collect_stream(op(ssc.queueStream(inputs)))
    ssc.start()
    run_batches(ssc, n)
    assert ssc.awaitTerminationOrTimeout(0.001) is False
    return out


class ReceiverErrors(StreamingListener):
    """The ``lastErrorMessage`` of every ``onReceiverError``, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def onReceiverError(self, receiverError: Any) -> None:
        self.messages.append(receiverError.receiverInfo().lastErrorMessage())
