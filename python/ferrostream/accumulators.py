"""Add-only shared variables: :meth:`SparkContext.accumulator`."""

from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any, Generic, TypeVar

__all__ = [
    "COMPLEX_ACCUMULATOR_PARAM",
    "FLOAT_ACCUMULATOR_PARAM",
    "INT_ACCUMULATOR_PARAM",
    "Accumulator",
    "AccumulatorParam",
]

T = TypeVar("T")

_ids = itertools.count()
_registry: weakref.WeakValueDictionary[int, Accumulator[Any]] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


class AccumulatorParam(Generic[T]):
    """How to add values of a data type: subclass it and give both methods.

    Examples
    --------
    >>> class ListParam(AccumulatorParam):
    ...     def zero(self, value):
    ...         return []
    ...     def addInPlace(self, value1, value2):
    ...         value1.extend(value2)
    ...         return value1
    >>> acc = sc.accumulator([], ListParam())
    """

    def zero(self, value: T) -> T:
        """The "zero" value of the type, shaped like ``value``."""
        raise NotImplementedError

    def addInPlace(self, value1: T, value2: T) -> T:
        """Add two values; may update ``value1`` in place and return it."""
        raise NotImplementedError


class AddingAccumulatorParam(AccumulatorParam[T]):
    """An AccumulatorParam that uses ``+=`` and a fixed zero."""

    def __init__(self, zero_value: T) -> None:
        self.zero_value = zero_value

    def zero(self, value: T) -> T:
        return self.zero_value

    def addInPlace(self, value1: T, value2: T) -> T:
        value1 += value2  # type: ignore[operator]
        return value1


INT_ACCUMULATOR_PARAM: AccumulatorParam[int] = AddingAccumulatorParam(0)
FLOAT_ACCUMULATOR_PARAM: AccumulatorParam[float] = AddingAccumulatorParam(0.0)
COMPLEX_ACCUMULATOR_PARAM: AccumulatorParam[complex] = AddingAccumulatorParam(0.0j)


class Accumulator(Generic[T]):
    """A shared variable that tasks can only add to; the driver reads ``.value``.

    Tasks that run in the driver's interpreter add to it directly (under a lock); tasks in
    Python worker processes add to the worker's copy, and the driver merges each finished
    task's updates once, as Spark does.

    Examples
    --------
    >>> a = sc.accumulator(1)
    >>> a.value
    1
    >>> a += 5
    >>> a.value
    6
    >>> sc.parallelize([1, 2, 3]).foreach(lambda x: a.add(x))
    >>> a.value
    12
    """

    def __init__(self, aid: int, value: T, accum_param: AccumulatorParam[T]) -> None:
        self.aid = aid
        self.accum_param = accum_param
        self._value = value
        self._lock = threading.Lock()
        with _registry_lock:
            _registry.setdefault(aid, self)

    @property
    def value(self) -> T:
        """The accumulated value."""
        with self._lock:
            return self._value

    @value.setter
    def value(self, value: T) -> None:
        with self._lock:
            self._value = value

    def add(self, term: T) -> None:
        """Add ``term`` to the value."""
        with self._lock:
            self._value = self.accum_param.addInPlace(self._value, term)
        if _in_worker:
            _touched[self.aid] = self

    def __iadd__(self, term: T) -> Accumulator[T]:
        self.add(term)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Unpickling in this process gives back the live accumulator.
        return _restore, (self.aid, self.accum_param.zero(self._value), self.accum_param)

    def __str__(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        return f"Accumulator<id={self.aid}, value={self._value}>"


def _restore(aid: int, zero: Any, accum_param: AccumulatorParam[Any]) -> Accumulator[Any]:
    with _registry_lock:
        live = _registry.get(aid)
    if live is not None:
        return live
    return Accumulator(aid, zero, accum_param)


# In a Python worker process: the accumulators the running task added to.
_in_worker = False
_touched: dict[int, Accumulator[Any]] = {}


def _enter_worker() -> None:
    """This process is a Python worker: tasks' updates are collected, not kept."""
    global _in_worker
    _in_worker = True


def _task_updates() -> dict[int, Any]:
    """In a worker: the updates of the task that just ended, by accumulator id; the worker's
    copies go back to zero for the next task."""
    updates = {}
    for aid, acc in _touched.items():
        with acc._lock:
            updates[aid] = acc._value
            acc._value = acc.accum_param.zero(acc._value)
    _touched.clear()
    return updates


def _merge_updates(updates: dict[int, Any]) -> None:
    """In the driver: add a finished task's updates to the live accumulators."""
    for aid, value in updates.items():
        with _registry_lock:
            acc = _registry.get(aid)
        if acc is not None:
            acc.add(value)


def _new_accumulator(value: Any, accum_param: Any = None) -> Accumulator[Any]:
    if accum_param is None:
        if isinstance(value, int):
            accum_param = INT_ACCUMULATOR_PARAM
        elif isinstance(value, float):
            accum_param = FLOAT_ACCUMULATOR_PARAM
        elif isinstance(value, complex):
            accum_param = COMPLEX_ACCUMULATOR_PARAM
        else:
            raise TypeError(f"No default accumulator param for type {type(value)}")
    return Accumulator(next(_ids), value, accum_param)
