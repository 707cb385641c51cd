# mypy: disable-error-code="misc"
# (The mixins annotate `self: RDD[Any]`: their methods run on RDDs, which inherit them.)
"""Sampling, sorting and zipping operations of :class:`ferrostream.rdd.RDD` (a mixin)."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Callable

from ferrostream._rdd_pairs import _is_identity
from ferrostream._rdd_util import (
    _check_int,
    check_callable,
    portable_hash,
)
from ferrostream._rdd_util import native_expr as _native_expr

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
        seed = _check_int(seed, "seed") & 0xFFFF_FFFF_FFFF_FFFF
        plan = self._plan.sample(bool(withReplacement), float(fraction), seed)
        return self._wrap(plan, "PythonRDD", "sample")

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
        seed = _check_int(seed, "seed") & 0xFFFF_FFFF_FFFF_FFFF
        return [
            self._wrap(self._plan.sample_range(lb, ub, seed), "PythonRDD", "randomSplit")
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
        if n == 0:  # no partitions: nothing to sort
            return self
        if _is_identity(keyfunc):
            plan = self._plan.sort_by_key(bool(ascending), n)
            return self._wrap(plan, "PythonRDD", "sortByKey")

        # Sort by keyfunc(k): pair each record with its sort key (one call per partition,
        # natively when keyfunc is provable), sort in the engine, drop the sort key.
        def tag(_: int, it: Iterable[Any]) -> Iterator[Any]:
            return ((keyfunc(kv[0]), kv) for kv in it)

        expr = _native_expr(keyfunc, 1)
        composed = None if expr is None else ("tuple", (_on_key(expr), ("arg", 0)))
        tagged = self._native_step_expr("map", composed, tag) or self.mapPartitionsWithIndex(tag)
        plan = tagged._plan.sort_by_key(bool(ascending), n, values_only=True)
        return self._wrap(plan, "PythonRDD", "sortByKey")

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
        n = self._reduce_partitions(numPartitions)
        if n == 0:  # no partitions: nothing to sort
            return self
        # keyBy, then a sort by key whose sorted ranges keep only the records.
        plan = self.keyBy(keyfunc)._plan.sort_by_key(bool(ascending), n, values_only=True)
        return self._wrap(plan, "PythonRDD", "sortBy")

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
        shuffled = self.partitionBy(numPartitions, partitionFunc)
        if _is_identity(keyfunc):
            plan = shuffled._plan.sort_within_partitions(bool(ascending))
            return shuffled._wrap(plan, "PythonRDD", "repartitionAndSortWithinPartitions")
        return shuffled.mapPartitions(
            lambda it: sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=reverse), True
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
        return self._wrap(self._plan.zip_with_index(), "ZippedWithIndexRDD", "zipWithIndex")

    def zipWithUniqueId(self: RDD[Any]) -> RDD[tuple[Any, int]]:
        """Pair each element with a unique id: item ``i`` of partition ``k`` of ``n`` gets
        ``i * n + k``. No job is run.

        Examples
        --------
        >>> sc.parallelize(["a", "b", "c", "d", "e"], 3).zipWithUniqueId().collect()
        [('a', 0), ('b', 1), ('c', 4), ('d', 2), ('e', 5)]
        """
        return self._wrap(self._plan.zip_with_unique_id(), "MapPartitionsRDD", "zipWithUniqueId")

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
        out = self._wrap(self._plan.zip(other._plan), "ZippedPartitionsRDD2", "zip")
        out._parents = (self, other)
        return out

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
        items = [(k, float(f)) for k, f in fractions.items()]
        plan = self._plan.sample_by_key(bool(withReplacement), items, seed & (2**64 - 1))
        return self._wrap(plan, "PythonRDD", "sampleByKey")

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
        out = self._wrap(self._plan.cartesian(other._plan), "CartesianRDD", "cartesian")
        out._parents = (self, other)
        return out


def _on_key(expr: Any) -> Any:
    """A one-argument expression encoding (``ferrostream._analyze``) applied to ``arg[0]``
    instead of ``arg``: ``keyfunc(kv[0])`` from ``keyfunc``."""
    if expr == ("arg", 0):
        return ("getitem", ("arg", 0), ("const", 0))
    if isinstance(expr, tuple) and expr and expr[0] != "const":
        return tuple(_on_key(e) for e in expr)
    return expr
