# mypy: disable-error-code="misc"
# (The mixins annotate `self: RDD[Any]`: their methods run on RDDs, which inherit them.)
"""Sampling, sorting and zipping operations of :class:`ferrostream.rdd.RDD` (a mixin)."""

from __future__ import annotations

import bisect
import random
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Callable

from ferrostream._rdd_util import (
    RangeSampler,
    Sampler,
    _check_int,
    check_callable,
    portable_hash,
)

if TYPE_CHECKING:
    from ferrostream.rdd import RDD

__all__ = ["OrderMixin"]

PartitionFunc = Callable[[int, Iterator[Any]], Iterable[Any]]


class OrderMixin:
    """Sampling, sorting and zipping."""

    # -- sampling ------------------------------------------------------------------------

    def sample(
        self: RDD[Any], withReplacement: bool, fraction: float, seed: int | None = None
    ) -> RDD[Any]:
        """A random sample: each element kept with probability ``fraction`` (or, with
        replacement, ``fraction`` is the expected number of copies). The same ``seed``
        gives the same sample.

        Examples
        --------
        >>> rdd = sc.parallelize(range(100), 4)
        >>> 6 <= rdd.sample(False, 0.1, 81).count() <= 14
        True
        """
        if not isinstance(fraction, (int, float)) or isinstance(fraction, bool):
            raise TypeError(f"fraction should be a number, got {type(fraction).__name__}")
        if fraction < 0.0:
            raise ValueError(f"Negative fraction value: {fraction}")
        if seed is None:
            seed = random.randint(0, sys.maxsize)
        sampler = Sampler(bool(withReplacement), float(fraction), _check_int(seed, "seed"))
        return self.mapPartitionsWithIndex(sampler)

    def randomSplit(
        self: RDD[Any], weights: list[float], seed: int | None = None
    ) -> list[RDD[Any]]:
        """Split into RDDs whose sizes are (randomly) proportional to ``weights``; together
        they hold every element exactly once.

        Examples
        --------
        >>> rdd = sc.parallelize(range(500), 1)
        >>> rdd1, rdd2 = rdd.randomSplit([2, 3], 17)
        >>> rdd1.count() + rdd2.count()
        500
        """
        if any(w < 0 for w in weights):
            raise ValueError(f"Weights must be nonnegative, got {weights}")
        total = float(sum(weights))
        if total <= 0:
            raise ValueError(f"Sum of weights must be positive, got {weights}")
        bounds = [0.0]
        for w in weights:
            bounds.append(bounds[-1] + w / total)
        bounds[-1] = 1.0 + 1e-12
        if seed is None:
            seed = random.randint(0, 2**32 - 1)
        return [
            self.mapPartitionsWithIndex(RangeSampler(lb, ub, seed))
            for lb, ub in zip(bounds, bounds[1:])
        ]

    # -- sorting -------------------------------------------------------------------------

    def sortByKey(
        self: RDD[Any],
        ascending: bool | None = True,
        numPartitions: int | None = None,
        keyfunc: Callable[[Any], Any] = lambda x: x,
    ) -> RDD[tuple[Any, Any]]:
        """Sort ``(k, v)`` pairs by ``keyfunc(k)``; the result is range-partitioned, so
        partition 0 holds the smallest keys (the largest when not ``ascending``).

        Examples
        --------
        >>> tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
        >>> sc.parallelize(tmp).sortByKey().first()
        ('1', 3)
        >>> sc.parallelize(tmp).sortByKey(True, 2).collect()
        [('1', 3), ('2', 5), ('a', 1), ('b', 2), ('d', 4)]
        """
        check_callable(keyfunc, "keyfunc")
        n = self._reduce_partitions(numPartitions)
        reverse = not ascending

        def sort_partition(_: int, it: Iterable[Any]) -> list[Any]:
            return sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=reverse)

        if n == 1:
            src = self.coalesce(1) if self.getNumPartitions() > 1 else self
            return src.mapPartitionsWithIndex(sort_partition)
        size = self.count()
        if not size:
            return self
        fraction = min(n * 20.0 / size, 1.0)
        samples = self.sample(False, fraction, 1).map(lambda kv: keyfunc(kv[0])).collect()
        samples.sort()
        bounds = [samples[len(samples) * (i + 1) // n] for i in range(n - 1)] if samples else []

        def range_partition(k: Any) -> int:

            p = bisect.bisect_left(bounds, keyfunc(k))
            return p if ascending else n - 1 - p

        return self.partitionBy(n, range_partition).mapPartitionsWithIndex(sort_partition)

    def sortBy(
        self: RDD[Any],
        keyfunc: Callable[[Any], Any],
        ascending: bool = True,
        numPartitions: int | None = None,
    ) -> RDD[Any]:
        """Sort the elements by ``keyfunc``.

        Examples
        --------
        >>> tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
        >>> sc.parallelize(tmp).sortBy(lambda x: x[1]).collect()
        [('a', 1), ('b', 2), ('1', 3), ('d', 4), ('2', 5)]
        """
        check_callable(keyfunc, "keyfunc")
        return self.keyBy(keyfunc).sortByKey(ascending, numPartitions).values()

    def repartitionAndSortWithinPartitions(
        self: RDD[Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
        ascending: bool = True,
        keyfunc: Callable[[Any], Any] = lambda x: x,
    ) -> RDD[tuple[Any, Any]]:
        """Partition ``(k, v)`` pairs with ``partitionFunc``, then sort each partition by key.

        Examples
        --------
        >>> rdd = sc.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
        >>> rdd.repartitionAndSortWithinPartitions(2, lambda x: x % 2).glom().collect()
        [[(0, 5), (0, 8), (2, 6)], [(1, 3), (3, 8), (3, 8)]]
        """
        reverse = not ascending
        return self.partitionBy(numPartitions, partitionFunc).mapPartitions(
            lambda it: sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=reverse)
        )

    # -- zips ----------------------------------------------------------------------------

    def zipWithIndex(self: RDD[Any]) -> RDD[tuple[Any, int]]:
        """Pair each element with its index (partition by partition, in order). Runs a job
        to count the partitions when there is more than one.

        Examples
        --------
        >>> sc.parallelize(["a", "b", "c", "d"], 3).zipWithIndex().collect()
        [('a', 0), ('b', 1), ('c', 2), ('d', 3)]
        """
        starts = [0]
        if self.getNumPartitions() > 1:
            sizes = self.mapPartitions(lambda it: [sum(1 for _ in it)]).collect()
            for size in sizes[:-1]:
                starts.append(starts[-1] + size)

        def number(split: int, it: Iterable[Any]) -> Iterator[Any]:
            return ((x, i) for i, x in enumerate(it, starts[split]))

        return self.mapPartitionsWithIndex(number)

    def zipWithUniqueId(self: RDD[Any]) -> RDD[tuple[Any, int]]:
        """Pair each element with a unique id: item ``i`` of partition ``k`` of ``n`` gets
        ``i * n + k``. No job is run.

        Examples
        --------
        >>> sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect()
        [('a', 0), ('b', 1), ('c', 4), ('d', 2), ('e', 5)]
        """
        n = self.getNumPartitions()

        def number(split: int, it: Iterable[Any]) -> Iterator[Any]:
            return ((x, i * n + split) for i, x in enumerate(it))

        return self.mapPartitionsWithIndex(number)

    def zip(self: RDD[Any], other: RDD[Any]) -> RDD[tuple[Any, Any]]:
        """Pair the i-th element of ``self`` with the i-th of ``other``. Both RDDs must
        have the same number of partitions and of elements in each partition.

        Examples
        --------
        >>> x = sc.parallelize(range(0, 5))
        >>> y = sc.parallelize(range(1000, 1005))
        >>> x.zip(y).collect()
        [(0, 1000), (1, 1001), (2, 1002), (3, 1003), (4, 1004)]
        """
        n = self.getNumPartitions()
        if n != other.getNumPartitions():
            raise ValueError("Can only zip with RDD which has the same number of partitions")

        def tag(side: int) -> PartitionFunc:
            return lambda i, it: ((i, (side, x)) for x in it)

        def pair(_: int, it: Iterable[Any]) -> Iterator[Any]:
            xs, ys = _split_tagged(it)
            if len(xs) != len(ys):
                raise ValueError("Can only zip RDDs with same number of elements in each partition")
            return zip(xs, ys)

        tagged = self.mapPartitionsWithIndex(tag(0)).union(other.mapPartitionsWithIndex(tag(1)))
        out = self._wrap(tagged._jrdd.partition_by(n, _identity_partition), "ZippedPartitionsRDD2")
        out._parents = (self, other)
        return out.mapPartitionsWithIndex(pair)

    def sampleByKey(
        self: RDD[Any],
        withReplacement: bool,
        fractions: dict[Any, float],
        seed: int | None = None,
    ) -> RDD[Any]:
        """Sample ``(k, v)`` pairs with a different fraction per key (``fractions[k]``).

        Examples
        --------
        >>> fractions = {"a": 0.2, "b": 0.1}
        >>> rdd = sc.parallelize(fractions.keys()).cartesian(sc.parallelize(range(0, 1000)))
        >>> sample = dict(rdd.sampleByKey(False, fractions, 2).groupByKey().collect())
        >>> 100 < len(sample["a"]) < 300 and 50 < len(sample["b"]) < 150
        True
        """
        for key, fraction in fractions.items():
            if fraction < 0.0:
                raise ValueError(f"Negative fraction value: {fraction} for key {key!r}")
        if seed is None:
            seed = random.randint(0, sys.maxsize)
        samplers = {k: Sampler(bool(withReplacement), float(f), seed) for k, f in fractions.items()}

        def run(split: int, it: Iterable[Any]) -> Iterator[Any]:
            rng_by_key: dict[Any, Iterator[Any]] = {}
            for kv in it:
                gen = rng_by_key.get(kv[0])
                if gen is None:
                    sampler = samplers[kv[0]]
                    gen = rng_by_key[kv[0]] = sampler.repeats(split)
                yield from [kv] * next(gen)

        return self.mapPartitionsWithIndex(run)

    def pipe(
        self: RDD[Any], command: str, env: dict[str, str] | None = None, checkCode: bool = False
    ) -> RDD[str]:
        """Feed each partition's elements (one per line) to a shell ``command`` and return
        its output lines.

        Examples
        --------
        >>> sc.parallelize(["1", "2", "", "3"]).pipe("cat").collect()
        ['1', '2', '', '3']
        """
        import subprocess

        def run(_: int, it: Iterable[Any]) -> list[str]:
            data = "".join(f"{x}\n" for x in it).encode("utf-8")
            proc = subprocess.run(
                command, shell=True, input=data, capture_output=True, env=env, check=False
            )
            if checkCode and proc.returncode:
                raise RuntimeError(
                    f"Pipe function `{command}' exited with error code {proc.returncode}"
                )
            return proc.stdout.decode("utf-8").splitlines()

        return self.mapPartitionsWithIndex(run)

    # -- pairing ------------------------------------------------------------------------

    def cartesian(self: RDD[Any], other: RDD[Any]) -> RDD[tuple[Any, Any]]:
        """All pairs ``(a, b)`` with ``a`` in ``self`` and ``b`` in ``other``; partition
        ``i * other.getNumPartitions() + j`` pairs partition ``i`` with partition ``j``.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 2])
        >>> sorted(rdd.cartesian(rdd).collect())
        [(1, 1), (1, 2), (2, 1), (2, 2)]
        """
        n1 = self.getNumPartitions()
        n2 = other.getNumPartitions()

        def left(i: int, it: Iterable[Any]) -> Iterator[Any]:
            for x in it:
                for j in range(n2):
                    yield (i * n2 + j, (0, x))

        def right(j: int, it: Iterable[Any]) -> Iterator[Any]:
            for y in it:
                for i in range(n1):
                    yield (i * n2 + j, (1, y))

        def pair(_: int, it: Iterable[Any]) -> Iterator[Any]:
            xs, ys = _split_tagged(it)
            return ((x, y) for x in xs for y in ys)

        tagged = self.mapPartitionsWithIndex(left).union(other.mapPartitionsWithIndex(right))
        jrdd = tagged._jrdd.partition_by(n1 * n2, _identity_partition)
        out = self._wrap(jrdd, "CartesianRDD", "cartesian")
        out._parents = (self, other)
        return out.mapPartitionsWithIndex(pair)


def _identity_partition(key: int) -> int:
    return key


def _split_tagged(it: Iterable[Any]) -> tuple[list[Any], list[Any]]:
    sides: tuple[list[Any], list[Any]] = ([], [])
    for _key, (side, value) in it:
        sides[side].append(value)
    return sides
