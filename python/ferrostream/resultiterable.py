"""The value collections handed out by ``groupByKey`` and ``cogroup``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

__all__ = ["ResultIterable"]

T = TypeVar("T")


class ResultIterable(Iterable[T], Generic[T]):
    """A read-only collection of the values grouped under one key.

    It can be iterated any number of times and has a length. The values are in
    ``.data`` (a list) and their number in ``.maxindex``.

    Examples
    --------
    >>> r = ResultIterable([1, 2, 3])
    >>> len(r), list(r), r.maxindex
    (3, [1, 2, 3], 3)
    """

    def __init__(self, data: list[T]) -> None:
        self.data = data
        self.index = 0
        self.maxindex = len(data)

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)
