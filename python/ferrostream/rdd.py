"""``RDD``: a lazily evaluated, partitioned collection run by the ferrostream engine."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from ferrostream import _progress
from ferrostream import _rdd_util as _util
from ferrostream._rdd_actions import ActionsMixin
from ferrostream._rdd_order import OrderMixin
from ferrostream._rdd_pairs import PairsMixin
from ferrostream._rdd_partitioner import Partitioner, _range_partition
from ferrostream._rdd_util import (
    _check_int,
    check_callable,
    check_num_partitions,
    portable_hash,
    required_num_partitions,
)
from ferrostream.errors import PySparkRuntimeError, SparkException
from ferrostream.storagelevel import StorageLevel

if TYPE_CHECKING:
    from ferrostream.context import SparkContext

__all__ = ["RDD", "Partitioner", "PipelinedRDD", "portable_hash"]

T = TypeVar("T")
U = TypeVar("U")
PartitionFunc = Callable[[int, Iterator[Any]], Iterable[Any]]

_NOT_STORED = StorageLevel(False, False, False, False, 1)


class RDD(PairsMixin, OrderMixin, ActionsMixin, Generic[T]):
    """A Resilient Distributed Dataset: an immutable, partitioned collection.

    Transformations (``map``, ``filter``, ``reduceByKey``, ...) are lazy and return new
    RDDs; actions (``collect``, ``count``, ...) run a job on the engine. Consecutive
    Python steps without a shuffle are fused and run once per partition.

    RDDs are created by a :class:`SparkContext` (``parallelize``, ``textFile``, ...),
    never directly.
    """

    def __init__(
        self,
        plan: Any,
        ctx: SparkContext,
        deserializer: Any = None,
        *,
        _kind: str = "PythonRDD",
        _op: str = "RDD",
    ) -> None:
        self._plan_val: Any = plan
        self.ctx = ctx
        self.is_cached = False
        self.is_checkpointed = False
        self._locally_checkpointed = False
        self._checkpoint_done = False
        self._storage_level = _NOT_STORED
        self._name: str | None = None
        self._kind = _kind
        self._op = _op
        self._is_text = False
        self._parents: tuple[RDD[Any], ...] = ()

    # -- engine plumbing ----------------------------------------------------------------

    @property
    def _plan(self) -> Any:
        return self._plan_val

    def _wrap(self, plan: Any, kind: str = "PythonRDD", op: str = "RDD") -> RDD[Any]:
        out: RDD[Any] = RDD(plan, self.ctx, _kind=kind, _op=op)
        out._parents = (self,)
        return out

    @property
    def partitioner(self) -> Partitioner | None:
        """How the pairs are partitioned by key (a :class:`Partitioner`), or None when
        that is not known. Shuffles set it; ``mapValues``, ``flatMapValues``, ``filter``
        and steps with ``preservesPartitioning=True`` keep it.

        Examples
        --------
        >>> sc.parallelize([(1, 2)]).partitioner is None
        True
        >>> sc.parallelize([(1, 2)]).partitionBy(3).mapValues(str).partitioner.numPartitions
        3
        """
        info = self._plan.partitioner
        if info is None:
            return None
        kind, n, func = info
        if kind == "hash":
            return Partitioner(n, portable_hash)
        if kind == "func":
            return Partitioner(n, func)
        return Partitioner(n, _range_partition)

    def _key_op(
        self,
        op: str,
        others: list[RDD[Any]],
        numPartitions: int | None,
        default: int,
        partitionFunc: Callable[[Any], int] | None = None,
        kind: str = "ShuffledRDD",
    ) -> RDD[Any]:
        """An engine keyed operation (see ``_native.Rdd.key_op``)."""
        if (numPartitions or default) == 0:  # no partitions anywhere: nothing to do
            return self._shuffle(0, portable_hash)
        func = None if partitionFunc is portable_hash else partitionFunc
        plan = self._plan.key_op(op, [o._plan for o in others], numPartitions, default, func)
        out = self._wrap(plan, kind, op)
        out._parents = (self, *others)
        return out

    def _default_partitions(self, others: list[RDD[Any]]) -> int:
        """PySpark's default for keyed operations over the union of self and ``others``."""
        if self.ctx.getConf().contains("spark.default.parallelism"):
            return self.ctx.defaultParallelism
        return self.getNumPartitions() + sum(o.getNumPartitions() for o in others)

    def _pending(self) -> tuple[Any, PartitionFunc] | None:
        """(source engine Rdd, fused Python function) when this RDD is an unmaterialised
        Python pipeline that further steps may join."""
        return None

    def _pipe(self, func: PartitionFunc) -> Any:
        """An engine Rdd computing ``func`` over this RDD, fused into a pending pipeline."""
        pending = self._pending()
        if pending is None:
            return self._plan.map_partitions(func)
        source, prev = pending
        return source.map_partitions(lambda s, it: func(s, iter(prev(s, it))))

    def _native_step(
        self, kind: str, func: Any, fallback: PartitionFunc, preserves: bool | None = None
    ) -> RDD[Any] | None:
        expr = _util.native_expr(func, 2 if kind == "combine" else 1)
        return self._native_step_expr(kind, expr, fallback, preserves)

    def _native_step_expr(
        self, kind: str, expr: Any, fallback: PartitionFunc, preserves: bool | None = None
    ) -> RDD[Any] | None:
        """A native step from an expression encoding (None: not native)."""
        if expr is None:
            return None
        try:
            plan = self._plan.native_step(kind, expr, fallback, preserves)
        except ValueError:
            return None
        return self._wrap(plan)

    def _collect_partitions(self, indices: list[int]) -> list[list[Any]]:
        self._mark_checkpointed()
        return self._plan.collect_partitions(indices)  # type: ignore[no-any-return]

    def _mark_checkpointed(self) -> None:
        if self.is_checkpointed or self._locally_checkpointed:
            self._checkpoint_done = True

    def __reduce__(self) -> Any:
        raise PySparkRuntimeError(
            "[RDD_TRANSFORM_ONLY_VALID_ON_DRIVER] It appears that you are attempting to "
            "broadcast an RDD or reference an RDD from an action or transformation. RDD "
            "transformations and actions can only be invoked by the driver, not inside of "
            "other transformations; for example, rdd1.map(lambda x: rdd2.values.count() * x) "
            "is invalid because the values transformation and count action cannot be "
            "performed inside of the rdd1.map transformation. For more information, see "
            "SPARK-5063."
        )

    # -- identity, naming, persistence --------------------------------------------------

    @property
    def context(self) -> SparkContext:
        """The :class:`SparkContext` this RDD was created on."""
        return self.ctx

    def id(self) -> int:
        """A unique id for this RDD within its SparkContext."""
        return int(self._plan.id)

    def name(self) -> str | None:
        """The name set with :meth:`setName`, or None."""
        return self._name

    def setName(self, name: str) -> RDD[T]:
        """Name this RDD; returns self.

        Examples
        --------
        >>> sc.parallelize([1, 2]).setName("RDD1").name()
        'RDD1'
        """
        self._name = name
        return self

    def __repr__(self) -> str:
        prefix = f"{self._name} " if self._name else ""
        return f"{prefix}{self._kind}[{self.id()}] at {self._op} at <ferrostream>"

    def toDebugString(self) -> bytes | None:
        """A description of this RDD and its lineage (UTF-8 bytes, as PySpark returns)."""
        lines: list[str] = []

        def walk(rdd: RDD[Any], depth: int) -> None:
            pad = " |  " * depth if depth else ""
            lines.append(f"{pad}({rdd.getNumPartitions()}) {rdd!r} []")
            for parent in rdd._lineage_parents():
                walk(parent, depth + 1)

        walk(self, 0)
        return "\n".join(lines).encode("utf-8")

    def _lineage_parents(self) -> tuple[RDD[Any], ...]:
        return self._parents

    def cache(self) -> RDD[T]:
        """Keep this RDD's partitions in memory once computed (``MEMORY_ONLY``)."""
        return self.persist(StorageLevel.MEMORY_ONLY)

    def persist(self, storageLevel: StorageLevel = StorageLevel.MEMORY_ONLY) -> RDD[T]:
        """Keep this RDD's partitions once computed, recording ``storageLevel``.

        Examples
        --------
        >>> rdd = sc.parallelize(["b", "a", "c"]).persist()
        >>> rdd.is_cached
        True
        >>> str(rdd.getStorageLevel())
        'Memory Serialized 1x Replicated'
        """
        if not isinstance(storageLevel, StorageLevel):
            raise TypeError(
                f"storageLevel should be a StorageLevel, got {type(storageLevel).__name__}"
            )
        self.is_cached = True
        self._storage_level = storageLevel
        self._plan.persist()
        return self

    def unpersist(self, blocking: bool = False) -> RDD[T]:
        """Forget the persisted partitions; returns self."""
        self.is_cached = False
        self._storage_level = _NOT_STORED
        self._plan.unpersist()
        return self

    def getStorageLevel(self) -> StorageLevel:
        """The storage level set with :meth:`persist` (``StorageLevel(False, False, False,
        False, 1)`` when not persisted)."""
        return self._storage_level

    def checkpoint(self) -> None:
        """Mark this RDD for checkpointing (its data is kept after the first job)."""
        if self.ctx.getCheckpointDir() is None:
            raise SparkException("Checkpoint directory has not been set in the SparkContext")
        self.is_checkpointed = True
        self._plan.persist()

    def isCheckpointed(self) -> bool:
        """Whether this RDD has been checkpointed (a job ran after :meth:`checkpoint`)."""
        return self.is_checkpointed and self._checkpoint_done

    def localCheckpoint(self) -> None:
        """Mark this RDD for local checkpointing (kept in memory after the first job)."""
        self._locally_checkpointed = True
        self._plan.persist()

    def isLocallyCheckpointed(self) -> bool:
        """Whether :meth:`localCheckpoint` was called."""
        return self._locally_checkpointed

    def getCheckpointFile(self) -> str | None:
        """Where this RDD was checkpointed, or None."""
        if not self.isCheckpointed():
            return None
        return os.path.join(self.ctx.getCheckpointDir() or "", f"rdd-{self.id()}")

    def getNumPartitions(self) -> int:
        """The number of partitions.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4], 2).getNumPartitions()
        2
        """
        return int(self._plan.num_partitions())

    # -- element-wise transformations ---------------------------------------------------

    def map(self, f: Callable[[T], U], preservesPartitioning: bool = False) -> RDD[U]:
        """Apply ``f`` to every element.

        Examples
        --------
        >>> sorted(sc.parallelize(["b", "a", "c"]).map(lambda x: (x, 1)).collect())
        [('a', 1), ('b', 1), ('c', 1)]
        """
        check_callable(f, "f")

        def step(_: int, it: Iterable[Any]) -> Iterator[Any]:
            return (f(x) for x in it)

        native = self._native_step("map", f, step, preservesPartitioning)
        return native or self.mapPartitionsWithIndex(step, preservesPartitioning)

    def flatMap(self, f: Callable[[T], Iterable[U]], preservesPartitioning: bool = False) -> RDD[U]:
        """Apply ``f`` to every element and flatten the resulting iterables.

        Examples
        --------
        >>> sorted(sc.parallelize([2, 3, 4]).flatMap(lambda x: range(1, x)).collect())
        [1, 1, 1, 2, 2, 3]
        """
        check_callable(f, "f")

        def step(_: int, it: Iterable[Any]) -> Iterator[Any]:
            return (y for x in it for y in f(x))

        native = self._native_step("flat_map", f, step, preservesPartitioning)
        return native or self.mapPartitionsWithIndex(step, preservesPartitioning)

    def filter(self, f: Callable[[T], bool]) -> RDD[T]:
        """Keep the elements for which ``f`` is true.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4, 5]).filter(lambda x: x % 2 == 0).collect()
        [2, 4]
        """
        check_callable(f, "f")

        def step(_: int, it: Iterable[Any]) -> Iterator[Any]:
            return (x for x in it if f(x))

        return self._native_step("filter", f, step) or self.mapPartitionsWithIndex(step, True)

    def mapPartitions(
        self, f: Callable[[Iterator[T]], Iterable[U]], preservesPartitioning: bool = False
    ) -> RDD[U]:
        """Apply ``f`` to the iterator of each partition.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 2, 3, 4], 2)
        >>> rdd.mapPartitions(lambda it: [sum(it)]).collect()
        [3, 7]
        """
        check_callable(f, "f")
        return self.mapPartitionsWithIndex(lambda _, it: f(it), preservesPartitioning)

    def mapPartitionsWithIndex(
        self,
        f: Callable[[int, Iterator[T]], Iterable[U]],
        preservesPartitioning: bool = False,
    ) -> RDD[U]:
        """Apply ``f(index, iterator)`` to each partition.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 2, 3, 4], 4)
        >>> rdd.mapPartitionsWithIndex(lambda i, it: [i]).sum()
        6
        """
        check_callable(f, "f")
        return PipelinedRDD(self, f, bool(preservesPartitioning))

    def mapPartitionsWithSplit(
        self,
        f: Callable[[int, Iterator[T]], Iterable[U]],
        preservesPartitioning: bool = False,
    ) -> RDD[U]:
        """Deprecated alias of :meth:`mapPartitionsWithIndex`."""
        warnings.warn(
            "mapPartitionsWithSplit is deprecated; use mapPartitionsWithIndex instead",
            FutureWarning,
            stacklevel=2,
        )
        return self.mapPartitionsWithIndex(f, preservesPartitioning)

    def keyBy(self, f: Callable[[T], Any]) -> RDD[tuple[Any, T]]:
        """Pair every element with a key: ``(f(x), x)``.

        Examples
        --------
        >>> sc.parallelize(range(3)).keyBy(lambda x: x * x).collect()
        [(0, 0), (1, 1), (4, 2)]
        """
        check_callable(f, "f")

        def step(_: int, it: Iterable[Any]) -> Iterator[Any]:
            return ((f(x), x) for x in it)

        return self._native_step("key_by", f, step) or self.mapPartitionsWithIndex(step)

    def glom(self) -> RDD[list[T]]:
        """One list per partition.

        Examples
        --------
        >>> sorted(sc.parallelize([1, 2, 3, 4], 2).glom().collect())
        [[1, 2], [3, 4]]
        """
        if self._pending() is not None:
            # The pending Python steps' output is already Python objects: listed there.
            return self.mapPartitions(lambda it: [list(it)])
        return self._wrap(self._plan.glom(), "MapPartitionsRDD", "glom")

    def _partition_sizes(self) -> RDD[int]:
        """Each partition's number of elements as its only element (computed natively;
        ``DStream.count``'s first half)."""
        if self._pending() is not None:
            return self.mapPartitions(lambda it: [sum(1 for _ in it)])
        return self._wrap(self._plan.partition_sizes(), "MapPartitionsRDD", "mapPartitions")

    # -- set-like ------------------------------------------------------------------------

    def union(self, other: RDD[U]) -> RDD[Any]:
        """All elements of both RDDs (duplicates kept), ``self``'s partitions first.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 1, 2, 3])
        >>> rdd.union(rdd).collect()
        [1, 1, 2, 3, 1, 1, 2, 3]
        """
        if self.partitioner is not None and self.partitioner == other.partitioner:
            # Co-partitioned: partition by partition, keeping the partitioner (as Spark).
            from ferrostream.context import _native

            plan = _native().Rdd.union(self.ctx._ectx, [self._plan, other._plan], True)
            out = self._wrap(plan, "PartitionerAwareUnionRDD", "union")
            out._parents = (self, other)
            return out
        return self.ctx.union([self, other])

    def __add__(self, other: RDD[U]) -> RDD[Any]:
        if not isinstance(other, RDD):
            return NotImplemented
        return self.union(other)

    def distinct(self, numPartitions: int | None = None) -> RDD[T]:
        """The distinct elements.

        Examples
        --------
        >>> sorted(sc.parallelize([1, 1, 2, 3]).distinct().collect())
        [1, 2, 3]
        """
        n = self._reduce_partitions(numPartitions)
        return self._key_op("distinct", [], n, n, kind="MapPartitionsRDD")

    def intersection(self, other: RDD[T]) -> RDD[T]:
        """The distinct elements present in both RDDs.

        Examples
        --------
        >>> rdd1 = sc.parallelize([1, 10, 2, 3, 4, 5])
        >>> rdd2 = sc.parallelize([1, 6, 2, 3, 7, 8])
        >>> sorted(rdd1.intersection(rdd2).collect())
        [1, 2, 3]
        """
        n = self._default_partitions([other])
        return self._key_op("intersection", [other], None, n, kind="MapPartitionsRDD")

    def subtract(self, other: RDD[T], numPartitions: int | None = None) -> RDD[T]:
        """The elements of ``self`` that are not in ``other`` (duplicates kept).

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 3)])
        >>> y = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(x.subtract(y).collect())
        [('a', 1), ('b', 4), ('b', 5)]
        """
        n = self._reduce_partitions(numPartitions)
        return self._key_op("subtract", [other], n, n, kind="MapPartitionsRDD")

    # -- partitioning --------------------------------------------------------------------

    def _reduce_partitions(self, numPartitions: int | None) -> int:
        n = check_num_partitions(numPartitions)
        if n is not None:
            return n
        if self.ctx.getConf().contains("spark.default.parallelism"):
            return self.ctx.defaultParallelism
        return self.getNumPartitions()

    def repartition(self, numPartitions: int) -> RDD[T]:
        """Exactly ``numPartitions`` partitions of (nearly) equal size, by a shuffle.

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4, 5, 6, 7], 4).repartition(2).getNumPartitions()
        2
        """
        n = required_num_partitions(numPartitions)
        return self._wrap(self._plan.rebalance(n), "MapPartitionsRDD", "repartition")

    def coalesce(self, numPartitions: int, shuffle: bool = False) -> RDD[T]:
        """At most ``numPartitions`` partitions, merging neighbours without a shuffle
        (or exactly ``numPartitions`` with ``shuffle=True``).

        Examples
        --------
        >>> sc.parallelize([1, 2, 3, 4, 5], 3).coalesce(1).glom().collect()
        [[1, 2, 3, 4, 5]]
        """
        n = required_num_partitions(numPartitions)
        if shuffle:
            return self.repartition(n)
        n = min(n, self.getNumPartitions())
        if n == self.getNumPartitions():
            return self
        return self._wrap(self._plan.coalesce(n), "CoalescedRDD", "coalesce")

    def partitionBy(
        self,
        numPartitions: int | None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD[tuple[Any, Any]]:
        """Shuffle ``(k, v)`` pairs into partition ``partitionFunc(k) % numPartitions``.

        Examples
        --------
        >>> pairs = sc.parallelize([1, 2, 3, 4, 2, 4, 1]).map(lambda x: (x, x))
        >>> sets = pairs.partitionBy(2).glom().collect()
        >>> len(set(sets[0]).intersection(set(sets[1])))
        0
        """
        check_callable(partitionFunc, "partitionFunc")
        n = self._reduce_partitions(numPartitions)
        if self.partitioner == Partitioner(n, partitionFunc):
            return self  # type: ignore[return-value]  # already partitioned so: no shuffle
        return self._shuffle(n, partitionFunc)

    def _shuffle(self, n: int, partitionFunc: Callable[[Any], int]) -> RDD[tuple[Any, Any]]:
        if n == 0:  # only for a parent without partitions: nothing to shuffle
            from ferrostream.context import _native

            plan = _native().Rdd.from_partitions(self.ctx._ectx, [])
        else:
            func = None if partitionFunc is portable_hash else partitionFunc
            plan = self._plan.partition_by(n, func)
        return self._wrap(plan, "ShuffledRDD", "partitionBy")

    # -- actions needing the pipeline --------------------------------------------------

    @_progress.action("collect")
    def collect(self) -> list[T]:
        """All elements, as a list (partition by partition).

        Examples
        --------
        >>> sc.parallelize([1, 2, 3], 2).collect()
        [1, 2, 3]
        """
        self._mark_checkpointed()
        return self._plan.collect()  # type: ignore[no-any-return]

    @_progress.action("count")
    def count(self) -> int:
        """The number of elements.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4]).count()
        3
        """
        self._mark_checkpointed()
        if self._pending() is not None:
            counts = self._pipe(lambda _, it: [sum(1 for _x in it)]).collect()
            return int(sum(counts))
        return int(self._plan.count())

    @_progress.action("take")
    def take(self, num: int) -> list[T]:
        """The first ``num`` elements, scanning one partition first and then more at a
        time (up to four times as many per round) until enough were found. Only the
        records needed are computed and converted: a Python step's output is read only
        that far.

        Examples
        --------
        >>> sc.parallelize([2, 3, 4, 5, 6]).cache().take(2)
        [2, 3]
        >>> sc.parallelize(range(100), 100).filter(lambda x: x > 90).take(3)
        [91, 92, 93]
        """
        num = _check_int(num, "num")
        if num <= 0:
            return []
        self._mark_checkpointed()
        return self._plan.take(num)  # type: ignore[no-any-return]


class PipelinedRDD(RDD[T]):
    """An RDD made by Python steps fused into one function over a parent engine Rdd.

    Chains of narrow Python steps (map, filter, mapPartitions, ...) become a single
    engine ``map_partitions`` call, made only when the RDD is first used. A cached or
    checkpointed RDD ends a chain.
    """

    def __init__(self, prev: RDD[Any], func: PartitionFunc, preserves: bool = False) -> None:
        super().__init__(None, prev.ctx)
        pending = prev._pending()
        if pending is not None:
            source, prev_func = pending
            self._func: PartitionFunc = lambda s, it: func(s, iter(prev_func(s, it)))
            self._source = source
            self._depth: int = prev._depth + 1  # type: ignore[attr-defined]
            self._parents = prev._parents
            self._preserves: bool = preserves and prev._preserves  # type: ignore[attr-defined]
        else:
            self._func = func
            self._source = prev._plan
            self._depth = 1
            self._parents = (prev,)
            self._preserves = preserves

    @property
    def _plan(self) -> Any:
        if self._plan_val is None:
            self._plan_val = self._source.map_partitions(self._func, self._preserves)
        return self._plan_val

    def _pending(self) -> tuple[Any, PartitionFunc] | None:
        if self.is_cached or self.is_checkpointed or self._locally_checkpointed:
            return None
        return self._source, self._func

    def getNumPartitions(self) -> int:
        return int(self._source.num_partitions())
