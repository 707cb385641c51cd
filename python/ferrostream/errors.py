"""Exceptions raised by ferrostream, named after PySpark's.

Spark reports JVM-side failures through py4j; ferrostream raises these Python classes with the
same messages instead. Classes also derive from the matching Python built-in where one fits, so
``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "PySparkException",
    "PySparkValueError",
    "PySparkTypeError",
    "PySparkRuntimeError",
    "CapturedException",
    "IllegalArgumentException",
    "IllegalStateException",
    "UnsupportedOperationException",
    "SparkException",
    "StreamingQueryException",
]


class PySparkException(Exception):
    """Base class of every ferrostream error."""


class PySparkValueError(PySparkException, ValueError):
    """A bad argument value."""


class PySparkTypeError(PySparkException, TypeError):
    """A bad argument type."""


class PySparkRuntimeError(PySparkException, RuntimeError):
    """A misuse detected at run time."""


class CapturedException(PySparkException):
    """An error raised by the engine (the JVM side in Spark)."""


class IllegalArgumentException(CapturedException, ValueError):
    """Spark's ``java.lang.IllegalArgumentException`` (``requirement failed: ...``)."""


class IllegalStateException(CapturedException, RuntimeError):
    """Spark's ``java.lang.IllegalStateException``."""


class UnsupportedOperationException(CapturedException, RuntimeError):
    """Spark's ``java.lang.UnsupportedOperationException``."""


class SparkException(CapturedException, RuntimeError):
    """A failed job; for an exception in user code the message is
    ``An exception was raised by Python:`` and the user's exception in one line, and
    ``__cause__`` is the user's exception itself, whose traceback (the user's frames) is
    printed once, above the SparkException's."""


class StreamingQueryException(CapturedException):
    """A failed streaming query."""
