"""Tracebacks that show the user's code: the frames of ferrostream's own Python files (the facade
between a program and the engine) are left out of what a failed batch reports."""

from __future__ import annotations

import os
import traceback
from types import TracebackType
from typing import Optional

from ferrostream.errors import SparkException

__all__ = ["batch_failure", "is_facade", "without_facade"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def is_facade(tb: TracebackType) -> bool:
    """Whether the frame of ``tb`` runs ferrostream's own Python code."""
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE)


def _frames(tb: Optional[TracebackType]) -> list[TracebackType]:
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def _chain(entries: list[TracebackType]) -> Optional[TracebackType]:
    """A new traceback of these entries, outermost first."""
    head: Optional[TracebackType] = None
    for entry in reversed(entries):
        head = TracebackType(head, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return head


def without_facade(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """``tb`` without ferrostream's frames; unchanged when only such frames are there."""
    entries = _frames(tb)
    kept = [e for e in entries if not is_facade(e)]
    return _chain(kept) if kept else tb


_PREFIX = "An exception was raised by Python: "


def _engine_context(innermost: SparkException, root: BaseException) -> str:
    """What the engine was doing when the user's code failed, on one line ("" if nothing).

    The engine's message is "An exception was raised by Python: " and the user's exception in
    one line (:func:`traceback.format_exception_only`), then, in parentheses, what the engine
    was doing around it.
    """
    prefix = _PREFIX + "".join(traceback.format_exception_only(type(root), root)).strip()
    message = str(innermost)
    context = message[len(prefix) :].strip() if message.startswith(prefix) else ""
    if context.startswith("(") and context.endswith(")"):
        context = context[1:-1]
    return context


def batch_failure(exc: SparkException) -> SparkException:
    """What ``awaitTermination`` raises for a failed batch.

    The engine's SparkException carries the user's exception as its cause (through one more
    SparkException when the failure came from an action inside an output operation) and, as
    Spark's message does, the user's traceback as text. Printed, that shows the user's error
    three times among a dozen frames of ferrostream. The exception returned here says it once:
    its message names the user's exception in one line (plus what the engine was doing, if it
    says), and its cause is the user's exception itself, whose traceback holds the user's frames
    only: the output function's, then the failing function's (or, for a function that ran in
    a worker process, the worker's traceback of it as the cause, as ``concurrent.futures``
    shows a process pool's errors).
    """
    chain: list[BaseException] = [exc]
    while isinstance(chain[-1], SparkException) and chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    root = chain[-1]
    if isinstance(root, SparkException):
        # No user exception below (an engine or source error, or a SparkException the user's
        # code raised itself): the innermost one says what happened.
        root.__suppress_context__ = True
        return root
    innermost = chain[-2]
    assert isinstance(innermost, SparkException)
    extra = _engine_context(innermost, root)
    # The user's frames in this process, outermost first: an output function's, and a failing
    # function's when it ran here (a function run by a worker process has its frames in its
    # cause, the worker's RemoteTraceback).
    user_frames = [e for x in chain for e in _frames(x.__traceback__) if not is_facade(e)]
    root = root.with_traceback(_chain(user_frames))
    summary = "".join(traceback.format_exception_only(type(root), root)).strip()
    text = _PREFIX + summary
    if extra:
        text += f" ({extra})"
    failure = SparkException(text)
    failure.__cause__ = root
    failure.__suppress_context__ = True
    return failure
