"""Helpers shared by the window and state tests."""

from __future__ import annotations

from typing import Any

from ferrostream.streaming import StreamingListener

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
