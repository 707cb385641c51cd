"""Key-value operations of :class:`~ferrostream.streaming.DStream` (a mixin).

Each operation applies the RDD method of the same name to every batch, inside a ``transform``,
so the RDD layer's native fast paths (``operator.add`` reductions, native hashing, ...) apply.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Callable

from ferrostream import _native
from ferrostream.streaming._funcs import RddMethod, RddMethodWith
from ferrostream.streaming.util import require_callable

if TYPE_CHECKING:
    from ferrostream import SparkContext
    from ferrostream.streaming.dstream import DStream


def _pair_with_one(x: Any) -> tuple[Any, int]:
    return (x, 1)


class PairDStreamMixin:
    """Operations on DStreams of ``(key, value)`` pairs."""

    if TYPE_CHECKING:
        _sc: SparkContext

        def transform(self, func: Callable[..., Any]) -> DStream[Any]: ...

        def transformWith(
            self, func: Callable[..., Any], other: DStream[Any], keepSerializer: bool = False
        ) -> DStream[Any]: ...

        def map(
            self, f: Callable[[Any], Any], preservesPartitioning: bool = False
        ) -> DStream[Any]: ...

    def _partitions(self, numPartitions: int | None) -> int:
        if numPartitions is None:
            return int(self._sc.defaultParallelism)
        if isinstance(numPartitions, bool) or not isinstance(numPartitions, int):
            raise TypeError(f"numPartitions should be an int, got {type(numPartitions).__name__}")
        return int(_native.num_partitions(numPartitions))

    def reduceByKey(
        self, func: Callable[[Any, Any], Any], numPartitions: int | None = None
    ) -> DStream[Any]:
        """Return a new DStream that merges the values of each key with ``func`` in every batch.

        ``numPartitions`` defaults to ``sc.defaultParallelism``.
        """
        require_callable(func, "reduceByKey: func")
        n = self._partitions(numPartitions)
        return self.transform(RddMethod("reduceByKey", func, n))

    def combineByKey(
        self,
        createCombiner: Callable[[Any], Any],
        mergeValue: Callable[[Any, Any], Any],
        mergeCombiners: Callable[[Any, Any], Any],
        numPartitions: int | None = None,
    ) -> DStream[Any]:
        """Return a new DStream that combines the values of each key in every batch
        (``RDD.combineByKey`` per batch)."""
        require_callable(createCombiner, "combineByKey: createCombiner")
        require_callable(mergeValue, "combineByKey: mergeValue")
        require_callable(mergeCombiners, "combineByKey: mergeCombiners")
        n = self._partitions(numPartitions)
        return self.transform(
            RddMethod("combineByKey", createCombiner, mergeValue, mergeCombiners, n)
        )

    def partitionBy(
        self, numPartitions: int, partitionFunc: Callable[[Any], int] | None = None
    ) -> DStream[Any]:
        """Return a new DStream whose batches are partitioned by key into ``numPartitions``
        partitions with ``partitionFunc`` (default: ``portable_hash``)."""
        n = self._partitions(numPartitions)
        if partitionFunc is None:
            return self.transform(RddMethod("partitionBy", n))
        require_callable(partitionFunc, "partitionBy: partitionFunc")
        return self.transform(RddMethod("partitionBy", n, partitionFunc))

    def mapValues(self, f: Callable[[Any], Any]) -> DStream[Any]:
        """Return a new DStream applying ``f`` to the value of each pair, keeping the keys
        (and the partitioning)."""
        require_callable(f, "mapValues: f")
        return self.transform(RddMethod("mapValues", f))

    def flatMapValues(self, f: Callable[[Any], Any]) -> DStream[Any]:
        """Return a new DStream with one pair ``(k, x)`` for each ``x`` in ``f(v)``."""
        require_callable(f, "flatMapValues: f")
        return self.transform(RddMethod("flatMapValues", f))

    def groupByKey(self, numPartitions: int | None = None) -> DStream[Any]:
        """Return a new DStream with ``(k, ResultIterable of values)`` for each key per batch."""
        n = self._partitions(numPartitions)
        return self.transform(RddMethod("groupByKey", n))

    def countByValue(self) -> DStream[tuple[Any, int]]:
        """Return a new DStream with ``(value, count)`` for each distinct element per batch."""
        return self.map(_pair_with_one).reduceByKey(operator.add)

    def cogroup(self, other: DStream[Any], numPartitions: int | None = None) -> DStream[Any]:
        """Return a new DStream cogrouping each batch with the batch of ``other``:
        ``(k, (ResultIterable(values here), ResultIterable(values there)))``."""
        n = self._partitions(numPartitions)
        return self.transformWith(RddMethodWith("cogroup", n), other)

    def join(self, other: DStream[Any], numPartitions: int | None = None) -> DStream[Any]:
        """Return a new DStream with the inner join of each batch with the batch of ``other``:
        ``(k, (v, w))``."""
        n = self._partitions(numPartitions)
        return self.transformWith(RddMethodWith("join", n), other)

    def leftOuterJoin(self, other: DStream[Any], numPartitions: int | None = None) -> DStream[Any]:
        """Return a new DStream with the left outer join per batch: ``(k, (v, w or None))``."""
        n = self._partitions(numPartitions)
        return self.transformWith(RddMethodWith("leftOuterJoin", n), other)

    def rightOuterJoin(self, other: DStream[Any], numPartitions: int | None = None) -> DStream[Any]:
        """Return a new DStream with the right outer join per batch: ``(k, (v or None, w))``."""
        n = self._partitions(numPartitions)
        return self.transformWith(RddMethodWith("rightOuterJoin", n), other)

    def fullOuterJoin(self, other: DStream[Any], numPartitions: int | None = None) -> DStream[Any]:
        """Return a new DStream with the full outer join per batch:
        ``(k, (v or None, w or None))``."""
        n = self._partitions(numPartitions)
        return self.transformWith(RddMethodWith("fullOuterJoin", n), other)
