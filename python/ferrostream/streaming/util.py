"""Helpers shared by the streaming modules: time conversion, output names and user-function
adapters.

``rddToFileName`` is public in PySpark (``pyspark.streaming.util``) and kept here under the same
name. Everything else is private to ``ferrostream.streaming``.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Sequence
from datetime import datetime
from numbers import Real
from typing import TYPE_CHECKING, Any, Callable, Union

if TYPE_CHECKING:
    from ferrostream import RDD, SparkContext, _native

__all__ = ["rddToFileName"]

Timestamp = Union[datetime, float, int]


def rddToFileName(prefix: str, suffix: str | None, timestamp: Timestamp) -> str:
    """Return the output path used for the batch at ``timestamp``.

    The name is ``prefix-<epoch milliseconds>``, followed by ``.suffix`` when a suffix is given.
    A ``datetime`` is read as local time; an ``int`` is taken as milliseconds already.

    Examples
    --------
    >>> rddToFileName("spark", None, 12345678910)
    'spark-12345678910'
    >>> rddToFileName("spark", "tmp", 12345678910)
    'spark-12345678910.tmp'
    """
    if isinstance(timestamp, datetime):
        whole_seconds = time.mktime(timestamp.timetuple())
        timestamp = int(whole_seconds * 1000) + timestamp.microsecond // 1000
    name = f"{prefix}-{timestamp}"
    if suffix is not None:
        name = f"{name}.{suffix}"
    return name


def ms_to_datetime(ms: int) -> datetime:
    """A batch time (epoch ms) as the naive local ``datetime`` PySpark hands to user code."""
    return datetime.fromtimestamp(ms / 1000.0)


def to_epoch_ms(timestamp: Timestamp) -> int:
    """``slice`` bounds: a ``datetime`` (local time, whole seconds) or unix seconds -> ms."""
    if isinstance(timestamp, datetime):
        seconds: float = time.mktime(timestamp.timetuple())
    elif isinstance(timestamp, Real) and not isinstance(timestamp, bool):
        seconds = float(timestamp)
    else:
        raise TypeError(
            f"time should be a datetime or a number of seconds, got {type(timestamp).__name__}"
        )
    return int(seconds * 1000)


def duration_ms(value: Any, name: str) -> int:
    """A duration given in seconds, in whole milliseconds (truncated, as PySpark's
    ``int(seconds * 1000)``). Not a number: TypeError. NaN, infinite, zero, negative, or None
    (for ``batchDuration``): the engine's ``IllegalArgumentException``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, Real)):
        raise TypeError(f"{name} should be a number of seconds, got {type(value).__name__}")
    from ferrostream import _native

    return int(_native.duration_ms(value, name))


def format_ms(ms: int) -> str:
    """Spark's ``Duration.toString``: ``"1000 ms"``."""
    return f"{ms} ms"


def require_callable(func: Any, what: str) -> None:
    """Raise TypeError at definition time when a user function is not callable."""
    if not callable(func):
        raise TypeError(f"{what} should be callable, got {type(func).__name__}: {func!r}")


def arg_count(func: Callable[..., Any]) -> int:
    """The number of positional parameters, counted as PySpark does.

    PySpark reads ``func.__code__.co_argcount``, so a bound method ``def f(self, rdd)`` counts
    two. Callables without ``__code__`` (``functools.partial``, builtins, objects with
    ``__call__``) make PySpark fail; ferrostream counts their required positional parameters
    instead.
    """
    code = getattr(func, "__code__", None)
    if code is not None:
        return int(code.co_argcount)
    import inspect

    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = [p for p in sig.parameters.values() if p.kind in kinds]
    required = [p for p in params if p.default is inspect.Parameter.empty]
    return len(required) or len(params)


def rdd_class() -> type[RDD[Any]]:
    """``ferrostream.rdd.RDD``, imported on first use (keeps module import order free)."""
    from ferrostream.rdd import RDD

    return RDD


def active_sc() -> SparkContext:
    """The active SparkContext, looked up when a batch runs.

    Functions handed to the engine call this instead of holding a SparkContext, so they stay
    picklable for checkpoints (a SparkContext refuses to be pickled, as in Spark).
    """
    from ferrostream.context import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None:
        from ferrostream.errors import IllegalStateException

        raise IllegalStateException("Cannot call methods on a stopped SparkContext.")
    return sc


def wrap_rdd(plan: _native.Rdd | None, sc: SparkContext) -> RDD[Any] | None:
    """An engine ``Rdd`` as a ``ferrostream.rdd.RDD`` (``None`` stays ``None``)."""
    if plan is None:
        return None
    return rdd_class()(plan, sc)


def unwrap_rdd(rdd: Any, where: str) -> _native.Rdd | None:
    """The engine ``Rdd`` behind what a user function returned."""
    if rdd is None:
        return None
    if not isinstance(rdd, rdd_class()):
        raise TypeError(f"{where} should return an RDD, got {type(rdd).__name__}")
    plan: _native.Rdd = rdd._plan
    return plan


def describe_function(func: Any) -> str:
    """``module.qualname (file.py:line)`` of a user function, for error messages."""
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    module = getattr(func, "__module__", None)
    where = f"{module}.{name}" if module and module != "__main__" else str(name)
    code = getattr(func, "__code__", None)
    if code is not None:
        where += f" ({os.path.basename(code.co_filename)}:{code.co_firstlineno})"
    return where


def user_callsite(label: str) -> str:
    """``"<label> at file.py:12"`` for the first stack frame outside ferrostream."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for frame in reversed(traceback.extract_stack()[:-1]):
        if not os.path.abspath(frame.filename).startswith(package_dir + os.sep):
            return f"{label} at {os.path.basename(frame.filename)}:{frame.lineno}"
    return f"{label} at <unknown>:0"


def is_sequence_input(value: Any) -> bool:
    """``queueStream`` accepts plain Python sequences besides RDDs."""
    return isinstance(value, (list, tuple, range)) or (
        isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))
    )
