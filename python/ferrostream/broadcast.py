"""Read-only values shared with every task: :meth:`SparkContext.broadcast`."""

from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any, Generic, TypeVar

from ferrostream.errors import SparkException

__all__ = ["Broadcast"]

T = TypeVar("T")

_ids = itertools.count()
_registry: weakref.WeakValueDictionary[int, Broadcast[Any]] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()
_DESTROYED = object()


def _restore(bid: int, value: Any) -> Broadcast[Any]:
    """Unpickle a broadcast: the live object with that id when there is one."""
    with _registry_lock:
        live = _registry.get(bid)
    if live is not None:
        return live
    b: Broadcast[Any] = Broadcast.__new__(Broadcast)
    b._id = bid
    b._value = value
    return b


class Broadcast(Generic[T]):
    """A read-only variable created with :meth:`SparkContext.broadcast`.

    Read it with ``.value``, inside or outside of tasks. Functions that run in the driver
    share the driver's value; Python worker processes get a copy, sent to each worker once
    however many functions use it. Treat it as read-only.

    Examples
    --------
    >>> b = sc.broadcast([1, 2, 3, 4, 5])
    >>> b.value
    [1, 2, 3, 4, 5]
    >>> sc.parallelize([0, 0]).flatMap(lambda x: b.value).collect()
    [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    >>> b.unpersist()
    """

    _id: int
    _value: Any

    def __init__(self, sc: object = None, value: T = None) -> None:  # type: ignore[assignment]
        self._id = next(_ids)
        self._value = value
        with _registry_lock:
            _registry[self._id] = self

    @property
    def value(self) -> T:
        """The broadcast value."""
        v = self._value
        if v is _DESTROYED:
            raise SparkException(f"Attempted to use Broadcast({self._id}) after it was destroyed")
        return v  # type: ignore[no-any-return]

    def unpersist(self, blocking: bool = False) -> None:
        """Delete cached copies on executors. A no-op here: tasks read the driver's value."""

    def destroy(self, blocking: bool = False) -> None:
        """Release the value for good; reading ``.value`` afterwards raises."""
        self._value = _DESTROYED
        with _registry_lock:
            _registry.pop(self._id, None)

    def __reduce__(self) -> tuple[Any, tuple[int, Any]]:
        return _restore, (self._id, self.value)

    def __repr__(self) -> str:
        return f"<ferrostream.broadcast.Broadcast object id={self._id}>"
