"""``Partitioner``: how the pairs of an RDD are spread over its partitions."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["Partitioner"]


class Partitioner:
    """How the pairs of an RDD are spread over its partitions: key ``k`` is in partition
    ``partitionFunc(k) % numPartitions``. Two RDDs with equal partitioners are
    co-partitioned, and keyed operations on them need no shuffle.

    Examples
    --------
    >>> p = sc.parallelize([(1, 1)]).partitionBy(2).partitioner
    >>> p.numPartitions, p(3)
    (2, 1)
    """

    def __init__(self, numPartitions: int, partitionFunc: Callable[[Any], int]) -> None:
        self.numPartitions = numPartitions
        self.partitionFunc = partitionFunc

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Partitioner)
            and self.numPartitions == other.numPartitions
            and self.partitionFunc == other.partitionFunc
        )

    def __hash__(self) -> int:
        return hash((self.numPartitions, id(self.partitionFunc)))

    def __call__(self, k: Any) -> int:
        return self.partitionFunc(k) % self.numPartitions


def _range_partition(_: Any) -> int:
    raise TypeError("a sort's range partitioner cannot be called on its own")
