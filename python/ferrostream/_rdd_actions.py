# mypy: disable-error-code="misc"
# (The mixins annotate `self: RDD[Any]`: their methods run on RDDs, which inherit them.)
"""Actions of :class:`ferrostream.rdd.RDD` that aggregate to the driver (a mixin)."""

from __future__ import annotations

import copy
import heapq
import math
import random
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import reduce as _reduce
from typing import TYPE_CHECKING, Any, Callable, Union

from ferrostream import _progress
from ferrostream._rdd_native import _native_extreme, _native_fold, _stat_counter
from ferrostream._rdd_util import _check_int, check_callable, fraction_for_sample_size
from ferrostream.statcounter import StatCounter

if TYPE_CHECKING:
    from ferrostream.rdd import RDD

__all__ = ["ActionsMixin"]

_EMPTY_REDUCE = "Can not reduce() empty RDD"


class ActionsMixin:
    """Actions returning values to the driver."""

    def _per_partition(self: RDD[Any], func: Callable[[Iterator[Any]], Any]) -> list[Any]:
        """``func(iterator)`` of every partition, fused into the pending pipeline."""
        return self._pipe(lambda _, it: [func(iter(it))]).collect()  # type: ignore[no-any-return]

    def toLocalIterator(self: RDD[Any], prefetchPartitions: bool = False) -> Iterator[Any]:
        """Iterate over all elements, computing one partition at a time.

        Examples
        --------
        >>> [x for x in sc.parallelize(range(10), 3).toLocalIterator()]
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        """
        for i in range(self.getNumPartitions()):
            yield from self._collect_partitions([i])[0]

    @_progress.action("saveAsTextFile")
    def saveAsTextFile(self: RDD[Any], path: str, compressionCodecClass: str | None = None) -> None:
        """Write the elements as lines of text files ``part-00000``, ... (one per
        partition) and ``_SUCCESS`` into the new directory ``path``. Strings are written as
        they are, bytes as UTF-8 text, anything else as ``str(x)``.
        """
        if compressionCodecClass is not None:
            raise NotImplementedError("saveAsTextFile: compression is not supported yet")
        if self._is_text:
            plan = self._plan
        else:
            plan = self._pipe(lambda _, it: (_to_text(x) for x in it))
        self._mark_checkpointed()
        plan.save_as_text_file(path)

    def collectWithJobGroup(
        self: RDD[Any], groupId: str, description: str, interruptOnCancel: bool = False
    ) -> list[Any]:
        """:meth:`collect`, labelling the job with a job group."""
        self.ctx.setJobGroup(groupId, description, interruptOnCancel)
        return self.collect()

    def first(self: RDD[Any]) -> Any:
        """The first element; ValueError if the RDD is empty.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4]).first()
        2
        """
        from ferrostream.errors import PySparkValueError

        items = self.take(1)
        if items:
            return items[0]
        raise PySparkValueError("RDD is empty")

    def isEmpty(self: RDD[Any]) -> bool:
        """Whether the RDD has no elements (no partitions, or ``take(1)`` finds none).

        Examples
        --------
        >>> sc.parallelize([]).isEmpty()
        True
        >>> sc.parallelize([1]).isEmpty()
        False
        """
        return self.getNumPartitions() == 0 or len(self.take(1)) == 0

    @_progress.action("reduce")
    def reduce(self: RDD[Any], f: Callable[[Any, Any], Any]) -> Any:
        """Reduce the elements with the commutative and associative ``f``.

        Examples
        --------
        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).reduce(add)
        15
        >>> sc.parallelize([]).reduce(add)
        Traceback (most recent call last):
            ...
        ValueError: Can not reduce() empty RDD
        """
        check_callable(f, "f")
        native = _native_fold(self, f, ())
        if native is not None:
            if not native:
                raise ValueError(_EMPTY_REDUCE)
            return _reduce(f, native)

        def partial(_: int, it: Iterable[Any]) -> Iterator[Any]:
            it = iter(it)
            for first in it:
                yield _reduce(f, it, first)

        values = self._pipe(partial).collect()
        if not values:
            raise ValueError(_EMPTY_REDUCE)
        return _reduce(f, values)

    def treeReduce(self: RDD[Any], f: Callable[[Any, Any], Any], depth: int = 2) -> Any:
        """:meth:`reduce` in a tree of ``depth`` levels (same result here).

        Examples
        --------
        >>> from operator import add
        >>> sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10).treeReduce(add, 2)
        -5
        """
        if _check_int(depth, "depth") < 1:
            raise ValueError(f"Depth cannot be smaller than 1 but got {depth}.")
        return self.reduce(f)

    @_progress.action("fold")
    def fold(self: RDD[Any], zeroValue: Any, op: Callable[[Any, Any], Any]) -> Any:
        """Fold each partition from a copy of ``zeroValue`` with ``op``, then fold the
        partition results (again starting from ``zeroValue``).

        Examples
        --------
        >>> from operator import add
        >>> sc.parallelize([1, 2, 3, 4, 5]).fold(0, add)
        15
        """
        check_callable(op, "op")
        parts = _native_fold(self, op, (zeroValue,))
        if parts is None:
            parts = self._per_partition(lambda it: _reduce(op, it, copy.deepcopy(zeroValue)))
        return _reduce(op, parts, zeroValue)

    def aggregate(
        self: RDD[Any],
        zeroValue: Any,
        seqOp: Callable[[Any, Any], Any],
        combOp: Callable[[Any, Any], Any],
    ) -> Any:
        """Aggregate each partition with ``seqOp`` from a copy of ``zeroValue``, then
        combine the partition results with ``combOp``.

        Examples
        --------
        >>> seqOp = (lambda x, y: (x[0] + y, x[1] + 1))
        >>> combOp = (lambda x, y: (x[0] + y[0], x[1] + y[1]))
        >>> sc.parallelize([1, 2, 3, 4]).aggregate((0, 0), seqOp, combOp)
        (10, 4)
        >>> sc.parallelize([]).aggregate((0, 0), seqOp, combOp)
        (0, 0)
        """
        check_callable(seqOp, "seqOp")
        check_callable(combOp, "combOp")
        parts = _native_fold(self, seqOp, (zeroValue,))
        if parts is None:
            parts = self._per_partition(lambda it: _reduce(seqOp, it, copy.deepcopy(zeroValue)))
        return _reduce(combOp, parts, zeroValue)

    def treeAggregate(
        self: RDD[Any],
        zeroValue: Any,
        seqOp: Callable[[Any, Any], Any],
        combOp: Callable[[Any, Any], Any],
        depth: int = 2,
    ) -> Any:
        """:meth:`aggregate` in a tree of ``depth`` levels (same result here).

        Examples
        --------
        >>> from operator import add
        >>> sc.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10).treeAggregate(0, add, add, 2)
        -5
        """
        if _check_int(depth, "depth") < 1:
            raise ValueError(f"Depth cannot be smaller than 1 but got {depth}.")
        if self.getNumPartitions() == 0:
            return zeroValue
        return self.aggregate(zeroValue, seqOp, combOp)

    @_progress.action("countByValue")
    def countByValue(self: RDD[Any]) -> dict[Any, int]:
        """How many times each distinct element occurs (a ``defaultdict(int)``).

        Examples
        --------
        >>> sorted(sc.parallelize([1, 2, 1, 2, 2], 2).countByValue().items())
        [(1, 2), (2, 3)]
        """
        self._mark_checkpointed()
        try:
            return self._plan.count_by_value()  # type: ignore[no-any-return]
        except TypeError:
            pass  # a value the engine cannot hash: as Python's dict does it, in the job

        def count(it: Iterator[Any]) -> dict[Any, int]:
            counts: dict[Any, int] = {}
            for x in it:
                counts[x] = counts.get(x, 0) + 1
            return counts

        total: defaultdict[Any, int] = defaultdict(int)
        for part in self._per_partition(count):
            for k, v in part.items():
                total[k] += v
        return total

    @_progress.action("foreach")
    def foreach(self: RDD[Any], f: Callable[[Any], None]) -> None:
        """Run ``f`` on every element (for its side effects).

        Examples
        --------
        >>> total = sc.accumulator(0)
        >>> sc.parallelize([1, 2, 3, 4, 5]).foreach(lambda x: total.add(x))
        >>> total.value
        15
        """
        check_callable(f, "f")

        def run(it: Iterator[Any]) -> int:
            for x in it:
                f(x)
            return 0

        self._per_partition(run)

    @_progress.action("foreachPartition")
    def foreachPartition(self: RDD[Any], f: Callable[[Iterator[Any]], Any]) -> None:
        """Run ``f`` on the iterator of every partition.

        Examples
        --------
        >>> sizes = sc.accumulator(0)
        >>> def f(iterator):
        ...     sizes.add(len(list(iterator)))
        >>> sc.parallelize([1, 2, 3, 4, 5], 2).foreachPartition(f)
        >>> sizes.value
        5
        """
        check_callable(f, "f")

        def run(it: Iterator[Any]) -> int:
            result = f(it)
            if result is not None:
                for _ in result:
                    pass
            return 0

        self._per_partition(run)

    @_progress.action("top")
    def top(self: RDD[Any], num: int, key: Callable[[Any], Any] | None = None) -> list[Any]:
        """The ``num`` largest elements, largest first.

        Examples
        --------
        >>> sc.parallelize([10, 4, 2, 12, 3]).top(1)
        [12]
        >>> sc.parallelize([2, 3, 4, 5, 6], 2).top(2)
        [6, 5]
        >>> sc.parallelize([10, 4, 2, 12, 3]).top(3, key=str)
        [4, 3, 2]
        """
        num = _check_int(num, "num")
        if self.getNumPartitions() == 0:
            raise ValueError(_EMPTY_REDUCE)
        if key is None and num > 0:
            native = self._plan.ordered(num, True)
            if native is not None:
                return native  # type: ignore[no-any-return]
        parts = self._per_partition(lambda it: heapq.nlargest(num, it, key=key))
        return heapq.nlargest(num, (x for p in parts for x in p), key=key)

    @_progress.action("takeOrdered")
    def takeOrdered(self: RDD[Any], num: int, key: Callable[[Any], Any] | None = None) -> list[Any]:
        """The ``num`` smallest elements (by ``key``), in ascending order.

        Examples
        --------
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7]).takeOrdered(6)
        [1, 2, 3, 4, 5, 6]
        >>> sc.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).takeOrdered(6, key=lambda x: -x)
        [10, 9, 7, 6, 5, 4]
        """
        num = _check_int(num, "num")
        if num < 0:
            raise ValueError("top N cannot be negative.")
        if num == 0 or self.getNumPartitions() == 0:
            return []
        if key is None:
            native = self._plan.ordered(num, False)
            if native is not None:
                return native  # type: ignore[no-any-return]
        parts = self._per_partition(lambda it: heapq.nsmallest(num, it, key=key))
        return heapq.nsmallest(num, (x for p in parts for x in p), key=key)

    def takeSample(
        self: RDD[Any], withReplacement: bool, num: int, seed: int | None = None
    ) -> list[Any]:
        """A random sample of exactly ``num`` elements (fewer without replacement when
        the RDD is smaller), in random order.

        Examples
        --------
        >>> rdd = sc.parallelize(range(0, 10))
        >>> len(rdd.takeSample(True, 20, 1))
        20
        >>> len(rdd.takeSample(False, 5, 2))
        5
        >>> len(rdd.takeSample(False, 15, 3))
        10
        """
        num = _check_int(num, "num")
        if num < 0:
            raise ValueError("Sample size cannot be negative.")
        if num == 0:
            return []
        total = self.count()
        if total == 0:
            return []
        rng = random.Random(seed)
        if not withReplacement and num >= total:
            items = self.collect()
            rng.shuffle(items)
            return items
        max_size = sys.maxsize - int(10 * sys.maxsize**0.5)
        if num > max_size:
            raise ValueError(f"Sample size cannot be greater than {max_size}.")
        fraction = fraction_for_sample_size(num, total, withReplacement)
        samples = self.sample(withReplacement, fraction, rng.randint(0, sys.maxsize)).collect()
        while len(samples) < num:
            samples = self.sample(withReplacement, fraction, rng.randint(0, sys.maxsize)).collect()
        rng.shuffle(samples)
        return samples[:num]

    # -- numbers -------------------------------------------------------------------------

    @_progress.action("sum")
    def sum(self: RDD[Any]) -> Any:
        """The sum of the elements.

        Examples
        --------
        >>> sc.parallelize([1.0, 2.0, 3.0]).sum()
        6.0
        """
        native = self._plan.sum(sys.version_info >= (3, 12))
        if native is not None:
            return native[0]
        return sum(self._per_partition(sum), 0)

    def max(self: RDD[Any], key: Callable[[Any], Any] | None = None) -> Any:
        """The largest element (by ``key``).

        Examples
        --------
        >>> rdd = sc.parallelize([1.0, 5.0, 43.0, 10.0])
        >>> rdd.max()
        43.0
        >>> rdd.max(key=str)
        5.0
        """
        if key is None:
            found = _native_extreme(self, True)
            return found[0] if found is not None else self.reduce(max)
        return self.reduce(lambda a, b: max(a, b, key=key))

    def min(self: RDD[Any], key: Callable[[Any], Any] | None = None) -> Any:
        """The smallest element (by ``key``).

        Examples
        --------
        >>> rdd = sc.parallelize([2.0, 5.0, 43.0, 10.0])
        >>> rdd.min()
        2.0
        >>> rdd.min(key=str)
        10.0
        """
        if key is None:
            found = _native_extreme(self, False)
            return found[0] if found is not None else self.reduce(min)
        return self.reduce(lambda a, b: min(a, b, key=key))

    @_progress.action("stats")
    def stats(self: RDD[Any]) -> StatCounter:
        """Count, mean, variance, max and min in one pass (a :class:`StatCounter`)."""
        native = self._plan.stats()
        if native is not None:
            parts = [_stat_counter(*p) for p in native]
        else:
            parts = self._per_partition(StatCounter)
        if not parts:
            raise ValueError(_EMPTY_REDUCE)
        return _reduce(lambda a, b: a.mergeStats(b), parts)

    def mean(self: RDD[Any]) -> float:
        """The mean of the elements.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3]).mean()
        2.0
        """
        return self.stats().mean()

    def variance(self: RDD[Any]) -> float:
        """The population variance.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3]).variance()
        0.6666666666666666
        """
        return self.stats().variance()

    def stdev(self: RDD[Any]) -> float:
        """The population standard deviation.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3]).stdev()
        0.816496580927726
        """
        return self.stats().stdev()

    def sampleStdev(self: RDD[Any]) -> float:
        """The sample standard deviation (divides by n - 1).

        Examples
        --------
        >>> sc.parallelize([1, 2, 3]).sampleStdev()
        1.0
        """
        return self.stats().sampleStdev()

    def sampleVariance(self: RDD[Any]) -> float:
        """The sample variance (divides by n - 1).

        Examples
        --------
        >>> sc.parallelize([1, 2, 3]).sampleVariance()
        1.0
        """
        return self.stats().sampleVariance()

    def histogram(
        self: RDD[Any], buckets: Union[int, list[Any], tuple[Any, ...]]
    ) -> tuple[list[Any], list[int]]:
        """Bucket counts: ``buckets`` is a number of evenly spaced buckets between the
        min and the max, or the sorted bucket boundaries. The last bucket includes its
        upper bound.

        Examples
        --------
        >>> rdd = sc.parallelize(range(51))
        >>> rdd.histogram(2)
        ([0, 25, 50], [25, 26])
        >>> rdd.histogram([0, 5, 25, 50])
        ([0, 5, 25, 50], [5, 20, 26])
        """
        if isinstance(buckets, int) and not isinstance(buckets, bool):
            if buckets < 1:
                raise ValueError("number of buckets must be >= 1")
            lo, hi = self._histogram_range()
            if math.isinf(lo) or math.isinf(hi):
                raise ValueError("Can not generate buckets with infinite value")
            if lo == hi:
                edges: list[Any] = [lo, hi]
                buckets = 1
            else:
                inc = (hi - lo) / buckets
                if isinstance(lo, int) and isinstance(hi, int) and (hi - lo) % buckets == 0:
                    step = (hi - lo) // buckets
                    edges = [lo + i * step for i in range(buckets)] + [hi]
                else:
                    edges = [lo + i * inc for i in range(buckets)] + [hi]
        else:
            assert isinstance(buckets, (list, tuple))
            edges = list(buckets)
            if len(edges) < 2:
                raise ValueError("buckets should have more than one value")
            if any(e is None or (isinstance(e, float) and math.isnan(e)) for e in edges):
                raise ValueError("can not have None or NaN in buckets")
            if sorted(edges) != edges:
                raise ValueError("buckets should be sorted")
            if len(set(edges)) != len(edges):
                raise ValueError("buckets should not contain duplicated values")
        return edges, self._plan.histogram_counts(edges)

    def _histogram_range(self: RDD[Any]) -> tuple[Any, Any]:
        """``(min, max)`` of the values that are not None or NaN, as Python's ``min``/``max``
        pick them (computed by the engine; Python objects ordered once per partition)."""
        found = self._plan.histogram_range()
        if found[0] == "empty":
            raise ValueError("can not generate buckets from empty RDD")
        return found[1], found[2]

    def countApprox(self: RDD[Any], timeout: int, confidence: float = 0.95) -> int:
        """The exact count (computed in full)."""
        return self.count()

    def sumApprox(self: RDD[Any], timeout: int, confidence: float = 0.95) -> Any:
        """The exact sum (computed in full)."""
        return self.sum()

    def meanApprox(self: RDD[Any], timeout: int, confidence: float = 0.95) -> float:
        """The exact mean (computed in full)."""
        return self.mean()

    def countApproxDistinct(self: RDD[Any], relativeSD: float = 0.05) -> int:
        """The number of distinct elements (computed exactly).

        Examples
        --------
        >>> sc.parallelize(range(1000)).countApproxDistinct()
        1000
        """
        if relativeSD < 0.000017:
            raise ValueError("relativeSD should be greater than 0.000017")
        return self.distinct().count()


def _to_text(x: Any) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, (bytes, bytearray)):
        return bytes(x).decode("utf-8", "replace")
    return str(x)
