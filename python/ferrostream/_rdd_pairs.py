# mypy: disable-error-code="misc"
# (The mixins annotate `self: RDD[Any]`: their methods run on RDDs, which inherit them.)
"""Key/value operations of :class:`ferrostream.rdd.RDD` (a mixin)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Callable

from ferrostream._rdd_util import check_callable, check_num_partitions, portable_hash
from ferrostream.resultiterable import ResultIterable

if TYPE_CHECKING:
    from ferrostream.rdd import RDD

__all__ = ["PairsMixin"]


def _fold_groups(
    create: Callable[[Any], Any] | None, merge: Callable[[Any, Any], Any]
) -> Callable[[int, Iterable[Any]], Iterable[Any]]:
    """Partition function over ``(k, [v, ...])`` groups made by the engine: the values of
    each key folded with the user's functions (``create`` on the first, None: itself)."""

    def run(_: int, it: Iterable[Any]) -> Iterator[Any]:
        for k, vs in it:
            values = iter(vs)
            acc = next(values)
            if create is not None:
                acc = create(acc)
            for v in values:
                acc = merge(acc, v)
            yield k, acc

    return run


def _reduce_local(func: Callable[[Any, Any], Any]) -> Callable[[int, Iterable[Any]], Iterable[Any]]:
    """The Python fallback of a native per-partition combine (a partition the native code
    cannot handle exactly): the same reduce by key, first-seen key order."""

    def run(_: int, it: Iterable[Any]) -> Iterable[Any]:
        acc: dict[Any, Any] = {}
        for k, v in it:
            acc[k] = func(acc[k], v) if k in acc else v
        return acc.items()

    return run


def _combine(
    rdd: RDD[Any],
    create: Callable[[Any], Any] | None,
    merge_value: Callable[[Any, Any], Any],
    merge_combiners: Callable[[Any, Any], Any],
    n: int,
    partition_func: Callable[[Any], int],
) -> RDD[Any]:
    """combineByKey with functions that run in Python: the engine groups each partition's
    pairs by key, one Python call per partition folds the groups (map side), the engine
    shuffles (unless already partitioned so) and groups again, and one Python call per
    partition merges the combiners."""
    if n == 0:  # only for a parent without partitions: nothing to combine
        return rdd._shuffle(0, partition_func)
    func = None if partition_func is portable_hash else partition_func
    plan = rdd._plan.group_by_key_local().map_partitions(_fold_groups(create, merge_value), True)
    plan = plan.partition_by(n, func)
    plan = plan.group_by_key_local().map_partitions(_fold_groups(None, merge_combiners), True)
    return rdd._wrap(plan, "PythonRDD", "combineByKey")


class PairsMixin:
    """Operations on RDDs of ``(key, value)`` pairs."""

    # -- per-key aggregation -------------------------------------------------------------

    def combineByKey(
        self: RDD[Any],
        createCombiner: Callable[[Any], Any],
        mergeValue: Callable[[Any, Any], Any],
        mergeCombiners: Callable[[Any, Any], Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD[tuple[Any, Any]]:
        """Combine the values of each key: ``createCombiner(v)`` for a key's first value in
        a partition, ``mergeValue(c, v)`` for the next ones, then ``mergeCombiners`` across
        partitions after the shuffle.

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> def to_list(a): return [a]
        >>> def append(a, b): a.append(b); return a
        >>> def extend(a, b): a.extend(b); return a
        >>> sorted(x.combineByKey(to_list, append, extend).collect())
        [('a', [1, 2]), ('b', [1])]
        """
        check_callable(createCombiner, "createCombiner")
        check_callable(mergeValue, "mergeValue")
        check_callable(mergeCombiners, "mergeCombiners")
        check_callable(partitionFunc, "partitionFunc")
        n = self._reduce_partitions(numPartitions)
        if (
            mergeValue is mergeCombiners
            and partitionFunc is portable_hash
            and _is_identity(createCombiner)
        ):
            native = _native_reduce(self, mergeValue, n)
            if native is not None:
                return native
        return _combine(self, createCombiner, mergeValue, mergeCombiners, n, partitionFunc)

    def reduceByKey(
        self: RDD[Any],
        func: Callable[[Any, Any], Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD[tuple[Any, Any]]:
        """Merge the values of each key with the associative function ``func``.

        Examples
        --------
        >>> from operator import add
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.reduceByKey(add).collect())
        [('a', 2), ('b', 1)]
        """
        check_callable(func, "func")
        n = self._reduce_partitions(numPartitions)
        if partitionFunc is portable_hash:
            native = _native_reduce(self, func, n)
            if native is not None:
                return native
        check_callable(partitionFunc, "partitionFunc")
        return _combine(self, None, func, func, n, partitionFunc)

    def reduceByKeyLocally(self: RDD[Any], func: Callable[[Any, Any], Any]) -> dict[Any, Any]:
        """Merge the values of each key with ``func`` and return a dict to the driver.

        Examples
        --------
        >>> from operator import add
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.reduceByKeyLocally(add).items())
        [('a', 2), ('b', 1)]
        """
        check_callable(func, "func")
        return dict(self.reduceByKey(func, 1).collect())

    def aggregateByKey(
        self: RDD[Any],
        zeroValue: Any,
        seqFunc: Callable[[Any, Any], Any],
        combFunc: Callable[[Any, Any], Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD[tuple[Any, Any]]:
        """Aggregate the values of each key, starting each partition's aggregate of a key
        from a copy of ``zeroValue``.

        Examples
        --------
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 2)])
        >>> seq = lambda x, y: (x[0] + y, x[1] + 1)
        >>> comb = lambda x, y: (x[0] + y[0], x[1] + y[1])
        >>> sorted(rdd.aggregateByKey((0, 0), seq, comb).collect())
        [('a', (3, 2)), ('b', (1, 1))]
        """
        check_callable(seqFunc, "seqFunc")
        return self.combineByKey(
            lambda v: seqFunc(copy.deepcopy(zeroValue), v),
            seqFunc,
            combFunc,
            numPartitions,
            partitionFunc,
        )

    def foldByKey(
        self: RDD[Any],
        zeroValue: Any,
        func: Callable[[Any, Any], Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD[tuple[Any, Any]]:
        """Merge the values of each key with ``func``, starting from ``zeroValue``.

        Examples
        --------
        >>> from operator import add
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.foldByKey(0, add).collect())
        [('a', 2), ('b', 1)]
        """
        check_callable(func, "func")
        return self.combineByKey(
            lambda v: func(copy.deepcopy(zeroValue), v), func, func, numPartitions, partitionFunc
        )

    def groupByKey(
        self: RDD[Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD[tuple[Any, ResultIterable[Any]]]:
        """Group the values of each key into a :class:`ResultIterable`.

        Examples
        --------
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.groupByKey().mapValues(len).collect())
        [('a', 2), ('b', 1)]
        >>> sorted(rdd.groupByKey().mapValues(list).collect())
        [('a', [1, 1]), ('b', [1])]
        """
        check_callable(partitionFunc, "partitionFunc")
        n = check_num_partitions(numPartitions)
        return self._key_op("group_by_key", [], n, self._reduce_partitions(None), partitionFunc)

    def groupBy(
        self: RDD[Any],
        f: Callable[[Any], Any],
        numPartitions: int | None = None,
        partitionFunc: Callable[[Any], int] = portable_hash,
    ) -> RDD[tuple[Any, ResultIterable[Any]]]:
        """Group the elements by ``f(x)``.

        Examples
        --------
        >>> rdd = sc.parallelize([1, 1, 2, 3, 5, 8])
        >>> sorted((k, sorted(v)) for k, v in rdd.groupBy(lambda x: x % 2).collect())
        [(0, [2, 8]), (1, [1, 1, 3, 5])]
        """
        check_callable(f, "f")
        return self.keyBy(f).groupByKey(numPartitions, partitionFunc)

    # -- per-value -----------------------------------------------------------------------

    def mapValues(self: RDD[Any], f: Callable[[Any], Any]) -> RDD[tuple[Any, Any]]:
        """Apply ``f`` to each value, keeping the keys.

        Examples
        --------
        >>> x = sc.parallelize([("a", ["apple", "banana", "lemon"]), ("b", ["grapes"])])
        >>> x.mapValues(len).collect()
        [('a', 3), ('b', 1)]
        """
        check_callable(f, "f")

        def step(_: int, it: Iterable[Any]) -> Iterator[Any]:
            return ((k, f(v)) for k, v in it)

        return self._native_step("map_values", f, step) or self.mapPartitionsWithIndex(step, True)

    def flatMapValues(self: RDD[Any], f: Callable[[Any], Iterable[Any]]) -> RDD[tuple[Any, Any]]:
        """Apply ``f`` to each value and pair every item of the result with the key.

        Examples
        --------
        >>> x = sc.parallelize([("a", ["x", "y", "z"]), ("b", ["p", "r"])])
        >>> x.flatMapValues(lambda v: v).collect()
        [('a', 'x'), ('a', 'y'), ('a', 'z'), ('b', 'p'), ('b', 'r')]
        """
        check_callable(f, "f")

        def step(_: int, it: Iterable[Any]) -> Iterator[Any]:
            return ((k, x) for k, v in it for x in f(v))

        native = self._native_step("flat_map_values", f, step)
        return native or self.mapPartitionsWithIndex(step, True)

    def keys(self: RDD[Any]) -> RDD[Any]:
        """The key of each pair.

        Examples
        --------
        >>> sc.parallelize([(1, 2), (3, 4)]).keys().collect()
        [1, 3]
        """
        return self.map(lambda kv: kv[0])

    def values(self: RDD[Any]) -> RDD[Any]:
        """The value of each pair.

        Examples
        --------
        >>> sc.parallelize([(1, 2), (3, 4)]).values().collect()
        [2, 4]
        """
        return self.map(lambda kv: kv[1])

    # -- joins ---------------------------------------------------------------------------

    def cogroup(
        self: RDD[Any], other: RDD[Any], numPartitions: int | None = None
    ) -> RDD[tuple[Any, tuple[ResultIterable[Any], ...]]]:
        """For each key in either RDD, the tuple of its values in ``self`` and in ``other``.

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> [(k, tuple(map(list, v))) for k, v in sorted(x.cogroup(y).collect())]
        [('a', ([1], [2])), ('b', ([4], []))]
        """
        return _cogroup([self, other], numPartitions)

    def groupWith(
        self: RDD[Any], other: RDD[Any], *others: RDD[Any]
    ) -> RDD[tuple[Any, tuple[ResultIterable[Any], ...]]]:
        """:meth:`cogroup` with any number of RDDs.

        Examples
        --------
        >>> w = sc.parallelize([("a", 5), ("b", 6)])
        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> z = sc.parallelize([("b", 42)])
        >>> [(k, tuple(map(list, v))) for k, v in sorted(w.groupWith(x, y, z).collect())]
        [('a', ([5], [1], [2], [])), ('b', ([6], [4], [], [42]))]
        """
        return _cogroup([self, other, *others], None)

    def join(
        self: RDD[Any], other: RDD[Any], numPartitions: int | None = None
    ) -> RDD[tuple[Any, tuple[Any, Any]]]:
        """Inner join: ``(k, (v, w))`` for every pair of values sharing a key.

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2), ("a", 3)])
        >>> sorted(x.join(y).collect())
        [('a', (1, 2)), ('a', (1, 3))]
        """
        return _join(self, other, numPartitions, False, False)

    def leftOuterJoin(
        self: RDD[Any], other: RDD[Any], numPartitions: int | None = None
    ) -> RDD[tuple[Any, tuple[Any, Any]]]:
        """Left outer join: ``(k, (v, None))`` for keys missing from ``other``.

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> sorted(x.leftOuterJoin(y).collect())
        [('a', (1, 2)), ('b', (4, None))]
        """
        return _join(self, other, numPartitions, True, False)

    def rightOuterJoin(
        self: RDD[Any], other: RDD[Any], numPartitions: int | None = None
    ) -> RDD[tuple[Any, tuple[Any, Any]]]:
        """Right outer join: ``(k, (None, w))`` for keys missing from ``self``.

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2)])
        >>> sorted(y.rightOuterJoin(x).collect())
        [('a', (2, 1)), ('b', (None, 4))]
        """
        return _join(self, other, numPartitions, False, True)

    def fullOuterJoin(
        self: RDD[Any], other: RDD[Any], numPartitions: int | None = None
    ) -> RDD[tuple[Any, tuple[Any, Any]]]:
        """Full outer join: keys of either side, with None for the missing side.

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 4)])
        >>> y = sc.parallelize([("a", 2), ("c", 8)])
        >>> sorted(x.fullOuterJoin(y).collect())
        [('a', (1, 2)), ('b', (4, None)), ('c', (None, 8))]
        """
        return _join(self, other, numPartitions, True, True)

    def subtractByKey(
        self: RDD[Any], other: RDD[Any], numPartitions: int | None = None
    ) -> RDD[tuple[Any, Any]]:
        """The pairs of ``self`` whose key is not in ``other``.

        Examples
        --------
        >>> x = sc.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 2)])
        >>> y = sc.parallelize([("a", 3), ("c", None)])
        >>> sorted(x.subtractByKey(y).collect())
        [('b', 4), ('b', 5)]
        """
        n = check_num_partitions(numPartitions)
        return self._key_op("subtract_by_key", [other], n, self._default_partitions([other]))

    def lookup(self: RDD[Any], key: Any) -> list[Any]:
        """All values of ``key``.

        Examples
        --------
        >>> sorted_rdd = sc.parallelize([(str(i), i) for i in range(10)])
        >>> sorted_rdd.lookup("4")
        [4]
        >>> sorted_rdd.lookup("1024")
        []
        """
        from ferrostream.rdd import _range_partition

        values = self.filter(lambda kv: kv[0] == key).values()
        partitioner = self.partitioner
        if partitioner is not None and partitioner.partitionFunc is not _range_partition:
            # Only the key's partition can hold it (as PySpark's lookup).
            return values._collect_partitions([partitioner(key)])[0]  # type: ignore[no-any-return]
        return values.collect()

    def countByKey(self: RDD[Any]) -> dict[Any, int]:
        """The number of pairs of each key (a ``defaultdict(int)``).

        Examples
        --------
        >>> rdd = sc.parallelize([("a", 1), ("b", 1), ("a", 1)])
        >>> sorted(rdd.countByKey().items())
        [('a', 2), ('b', 1)]
        """
        return self.map(lambda kv: kv[0]).countByValue()

    def collectAsMap(self: RDD[Any]) -> dict[Any, Any]:
        """The pairs as a dict (later pairs win for duplicate keys).

        Examples
        --------
        >>> m = sc.parallelize([(1, 2), (3, 4)]).collectAsMap()
        >>> m[1], m[3]
        (2, 4)
        """
        return dict(self.collect())


def _is_identity(f: Any) -> bool:
    code = getattr(f, "__code__", None)
    if code is None or code.co_argcount != 1 or getattr(f, "__defaults__", None):
        return False
    import dis

    ops = [i.opname for i in dis.get_instructions(f) if i.opname not in ("RESUME", "NOP")]
    return ops == ["LOAD_FAST", "RETURN_VALUE"]


def _native_reduce(rdd: RDD[Any], func: Callable[[Any, Any], Any], n: int) -> RDD[Any] | None:
    """reduceByKey as native map-side combine, hash shuffle and merge, if ``func`` can be
    compiled natively; otherwise None."""
    from ferrostream import _rdd_util

    expr = _rdd_util.native_expr(func, 2)
    if expr is None:
        return None
    fallback = _reduce_local(func)
    try:
        plan = rdd._plan.reduce_by_key(expr, fallback, n)
    except ValueError:
        return None
    return rdd._wrap(plan, "ShuffledRDD", "reduceByKey")


def _cogroup(rdds: list[RDD[Any]], numPartitions: int | None) -> RDD[Any]:
    first, others = rdds[0], rdds[1:]
    n = check_num_partitions(numPartitions)
    return first._key_op("cogroup", others, n, first._default_partitions(others))


_JOINS = {
    (False, False): "join",
    (True, False): "left_outer_join",
    (False, True): "right_outer_join",
    (True, True): "full_outer_join",
}


def _join(
    left: RDD[Any],
    right: RDD[Any],
    numPartitions: int | None,
    keep_left: bool,
    keep_right: bool,
) -> RDD[Any]:
    n = check_num_partitions(numPartitions)
    op = _JOINS[(keep_left, keep_right)]
    return left._key_op(op, [right], n, left._default_partitions([right]))
