"""DStream: a discretized stream, one RDD per batch.

Operations are built from ``transform``: each builds the batch RDD with the RDD API of
``ferrostream.rdd``. Consecutive transforms are fused into one Python function (as PySpark
does), so narrow steps of one batch pipeline inside the RDD layer, and the engine node of a
transformed stream is created only when something needs it (an output operation, a union,
``slice``...).
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from ferrostream.errors import (
    IllegalArgumentException,
    UnsupportedOperationException,
)
from ferrostream.streaming._funcs import (
    BatchTransform,
    DropTime,
    Fused,
    PPrint,
    RddMethod,
    RddMethodWith,
    SaveAsTextFiles,
)
from ferrostream.streaming._pairs import PairDStreamMixin
from ferrostream.streaming._window import WindowedDStreamMixin
from ferrostream.streaming.util import (
    Timestamp,
    arg_count,
    duration_ms,
    require_callable,
    to_epoch_ms,
    user_callsite,
    wrap_rdd,
)

if TYPE_CHECKING:
    from ferrostream import RDD
    from ferrostream.streaming.context import StreamingContext

__all__ = ["DStream"]

T_co = TypeVar("T_co", covariant=True)
U = TypeVar("U")

BatchFunc = Callable[..., Any]


def _key_by_none(x: Any) -> tuple[None, Any]:
    return (None, x)


def _second(kv: tuple[Any, Any]) -> Any:
    return kv[1]


class DStream(PairDStreamMixin, WindowedDStreamMixin, Generic[T_co]):
    """A Discretized Stream: a continuous sequence of RDDs of the same type, one per batch.

    DStreams are created from a :class:`StreamingContext` (``queueStream``, ...) or by
    transforming other DStreams (``map``, ``reduceByKey``, ``window``...). Output operations
    (``pprint``, ``foreachRDD``, ``saveAsTextFiles``) make the context compute them every
    batch.
    """

    def __init__(
        self, ssc: StreamingContext, stream_id: int | None = None, *, keyed: bool = False
    ) -> None:
        self._ssc = ssc
        self._sc = ssc._sc
        self._stream_id = stream_id
        self.is_cached = False
        self.is_checkpointed = False
        self._storage_level: Any = None
        self._checkpoint_ms: int | None = None
        self._node_func: BatchTransform | None = None
        # A stream whose state the engine keeps (updateStateByKey, incremental windows).
        self._keyed = keyed
        ssc._register_dstream(self)

    # ----------------------------------------------------------------------------------
    # engine plumbing

    @property
    def _engine_id(self) -> int:
        """The engine stream id (created on first use for transformed streams)."""
        assert self._stream_id is not None
        return self._stream_id

    @property
    def _slideDuration(self) -> float:
        """The interval between two RDDs of this stream, in seconds."""
        return self._ssc._engine.slide_ms(self._engine_id) / 1000.0

    def _make_node(self, parents: list[DStream[Any]], func: BatchFunc) -> int:
        """Create the engine node computing ``func(time, *parent_rdds)`` for ``self``."""
        ssc = self._ssc
        ssc._check_can_add()
        # A picklable function object (checkpoints hold it); persist() may still set its
        # storage level, until the context starts.
        compute = BatchTransform(func, self._storage_level)
        parent_ids = [p._engine_id for p in parents]
        stream_id = ssc._engine.transform(parent_ids, compute)
        self._node_func = compute
        return stream_id

    # ----------------------------------------------------------------------------------
    # basics

    def context(self) -> StreamingContext:
        """Return the StreamingContext of this DStream."""
        return self._ssc

    def transform(self, func: Callable[..., Any]) -> DStream[Any]:
        """Return a new DStream whose RDD of each batch is ``func(rdd)`` or
        ``func(time, rdd)`` of this stream's RDD. ``time`` is a naive local ``datetime``."""
        require_callable(func, "transform: func")
        nargs = arg_count(func)
        if nargs == 1:
            return TransformedDStream(self, DropTime(func))
        if nargs != 2:
            raise AssertionError("func should take one or two arguments")
        return TransformedDStream(self, func)

    def transformWith(
        self, func: Callable[..., Any], other: DStream[Any], keepSerializer: bool = False
    ) -> DStream[Any]:
        """Return a new DStream whose RDD of each batch is ``func(rdd, other_rdd)`` or
        ``func(time, rdd, other_rdd)``. ``None`` is passed for a stream without an RDD at
        that time."""
        require_callable(func, "transformWith: func")
        _check_dstream(other, "transformWith")
        nargs = arg_count(func)
        if nargs == 2:
            return MultiTransformedDStream(self._ssc, [self, other], DropTime(func))
        if nargs != 3:
            raise AssertionError("func should take two or three arguments")
        return MultiTransformedDStream(self._ssc, [self, other], func)

    # ----------------------------------------------------------------------------------
    # stateless element operations

    def map(self, f: Callable[[Any], U], preservesPartitioning: bool = False) -> DStream[U]:
        """Return a new DStream with ``f`` applied to every element."""
        require_callable(f, "map: f")
        return self.transform(RddMethod("map", f, preservesPartitioning))

    def flatMap(
        self, f: Callable[[Any], Iterable[U]], preservesPartitioning: bool = False
    ) -> DStream[U]:
        """Return a new DStream with ``f`` applied to every element and the results
        flattened."""
        require_callable(f, "flatMap: f")
        return self.transform(RddMethod("flatMap", f, preservesPartitioning))

    def filter(self, f: Callable[[Any], bool]) -> DStream[Any]:
        """Return a new DStream with only the elements for which ``f`` is true."""
        require_callable(f, "filter: f")
        return self.transform(RddMethod("filter", f))

    def mapPartitions(
        self, f: Callable[[Iterator[Any]], Iterable[U]], preservesPartitioning: bool = False
    ) -> DStream[U]:
        """Return a new DStream with ``f(iterator)`` applied to each partition of each RDD."""
        require_callable(f, "mapPartitions: f")
        return self.transform(RddMethod("mapPartitions", f, preservesPartitioning))

    def mapPartitionsWithIndex(
        self, f: Callable[[int, Iterator[Any]], Iterable[U]], preservesPartitioning: bool = False
    ) -> DStream[U]:
        """Return a new DStream with ``f(partition_index, iterator)`` applied to each
        partition of each RDD."""
        require_callable(f, "mapPartitionsWithIndex: f")
        return self.transform(RddMethod("mapPartitionsWithIndex", f, preservesPartitioning))

    def reduce(self, func: Callable[[Any, Any], Any]) -> DStream[Any]:
        """Return a new DStream with one element per batch: the elements reduced by
        ``func`` (nothing for an empty batch)."""
        require_callable(func, "reduce: func")
        return self.map(_key_by_none).reduceByKey(func, 1).map(_second)

    def count(self) -> DStream[int]:
        """Return a new DStream with one element per batch: its number of elements."""
        return self.transform(RddMethod("_partition_sizes")).reduce(operator.add)

    def glom(self) -> DStream[list[Any]]:
        """Return a new DStream with one list per partition of each RDD."""
        return self.transform(RddMethod("glom"))

    def repartition(self, numPartitions: int) -> DStream[Any]:
        """Return a new DStream whose RDDs have exactly ``numPartitions`` partitions."""
        n = self._partitions(numPartitions)
        return self.transform(RddMethod("repartition", n))

    def union(self, other: DStream[Any]) -> DStream[Any]:
        """Return a new DStream with the elements of this stream and of ``other`` in every
        batch. Both must have the same slide duration."""
        _check_dstream(other, "union")
        if self._slideDuration != other._slideDuration:
            raise ValueError("the two DStream should have same slide duration")
        return self.transformWith(RddMethodWith("union"), other, True)

    # ----------------------------------------------------------------------------------
    # persistence and checkpointing

    def cache(self) -> DStream[T_co]:
        """Persist the RDDs of this DStream in memory (``StorageLevel.MEMORY_ONLY``)."""
        from ferrostream.storagelevel import StorageLevel

        self.persist(StorageLevel.MEMORY_ONLY)
        return self

    def persist(self, storageLevel: Any) -> DStream[T_co]:
        """Persist the RDDs of this DStream with the given storage level."""
        if self._ssc._state != "INITIALIZED":
            raise UnsupportedOperationException(
                "Cannot change storage level of an DStream after streaming context has started"
            )
        self.is_cached = True
        self._storage_level = storageLevel
        if self._node_func is not None:
            self._node_func.storage_level = storageLevel
            self._ssc._engine.persist_stream(self._engine_id)
        return self

    def checkpoint(self, interval: float) -> DStream[T_co]:
        """Checkpoint the RDDs of this DStream every ``interval`` seconds (a multiple of the
        slide duration; checked when the context starts)."""
        if self._ssc._state != "INITIALIZED":
            raise UnsupportedOperationException(
                "Cannot change checkpoint interval of an DStream after streaming context "
                "has started"
            )
        self._checkpoint_ms = duration_ms(interval, "interval")
        self.is_checkpointed = True
        return self

    def _validate_at_start(self) -> None:
        if self._checkpoint_ms is None:
            return
        slide = round(self._slideDuration * 1000)
        name = type(self).__name__
        every = self._checkpoint_ms
        if every < slide:
            raise IllegalArgumentException(
                f"requirement failed: The checkpoint interval for {name} has been set to "
                f"{every} ms which is lower than its slide time ({slide} ms). "
                f"Please set it to at least {slide} ms."
            )
        if every % slide != 0:
            raise IllegalArgumentException(
                f"requirement failed: The checkpoint interval for {name} has been set to "
                f"{every} ms which not a multiple of its slide time ({slide} ms). "
                f"Please set it to a multiple of {slide} ms."
            )
        if self._ssc._checkpoint_dir is None and not _sc_has_checkpoint_dir(self._sc):
            raise IllegalArgumentException(
                "requirement failed: The checkpoint directory has not been set. "
                "Please set it by StreamingContext.checkpoint()."
            )
        if self._keyed:
            # The engine writes a keyed stream's state at this interval. (Other streams keep
            # their lineage in memory: there is nothing more to write for them.)
            self._ssc._engine.set_checkpoint_interval(self._engine_id, every)

    # ----------------------------------------------------------------------------------
    # output operations

    def foreachRDD(self, func: Callable[..., Any]) -> None:
        """Apply ``func(rdd)`` or ``func(time, rdd)`` to the RDD of every batch.

        The form is chosen by the number of positional parameters of ``func``; ``time`` is a
        naive local ``datetime``. This is an output operation.
        """
        require_callable(func, "foreachRDD: func")
        if arg_count(func) == 1:
            self._ssc._register_output(self, DropTime(func), user_callsite("foreachRDD"))
        else:
            self._ssc._register_output(self, func, user_callsite("foreachRDD"))

    def pprint(self, num: int = 10) -> None:
        """Print the first ``num`` elements of every batch (``...`` marks more), under a
        header with the batch time. This is an output operation."""
        if isinstance(num, bool) or not isinstance(num, int):
            raise TypeError(f"num should be an int, got {type(num).__name__}")
        self._ssc._register_output(self, PPrint(num), user_callsite("pprint"))

    def saveAsTextFiles(self, prefix: str, suffix: str | None = None) -> None:
        """Save every batch as a text-file directory ``prefix-<time ms>[.suffix]``
        (``part-NNNNN`` files and ``_SUCCESS``). This is an output operation."""
        if not isinstance(prefix, str):
            prefix = os.fspath(prefix)
        from ferrostream import _native

        _native.local_path(prefix)  # a scheme the engine cannot serve fails here, not per batch
        self._ssc._register_output(
            self, SaveAsTextFiles(prefix, suffix), user_callsite("saveAsTextFiles"), raw_time=True
        )

    # ----------------------------------------------------------------------------------
    # time-based access

    def slice(self, begin: Timestamp, end: Timestamp) -> list[RDD[Any]]:
        """Return the remembered RDDs of this stream with ``begin <= time <= end``.

        ``begin`` and ``end`` are ``datetime``s (local time) or unix seconds.
        """
        begin_ms = to_epoch_ms(begin)
        end_ms = to_epoch_ms(end)
        plans = self._ssc._engine.slice(self._engine_id, begin_ms, end_ms)
        return [rdd for rdd in (wrap_rdd(j, self._sc) for j in plans) if rdd is not None]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self._stream_id}>"


class TransformedDStream(DStream[Any]):
    """A DStream computed from one parent with ``func(time, rdd)``.

    When the parent is itself a plain, uncached, uncheckpointed TransformedDStream, the two
    functions are fused and the parent's engine node is skipped.
    """

    def __init__(self, prev: DStream[Any], func: BatchFunc) -> None:
        super().__init__(prev._ssc)
        if type(prev) is TransformedDStream and not prev.is_cached and not prev.is_checkpointed:
            self.prev: DStream[Any] = prev.prev
            self.func: BatchFunc = Fused(func, prev.func)
        else:
            self.prev = prev
            self.func = func

    @property
    def _engine_id(self) -> int:
        if self._stream_id is None:
            self._stream_id = self._make_node([self.prev], self.func)
        return self._stream_id

    @property
    def _slideDuration(self) -> float:
        return self.prev._slideDuration


class MultiTransformedDStream(DStream[Any]):
    """A DStream computed from several parents with ``func(time, *rdds)``; its engine node is
    created at once (as PySpark creates the JVM stream of ``transformWith``)."""

    def __init__(self, ssc: StreamingContext, parents: list[DStream[Any]], func: BatchFunc):
        super().__init__(ssc)
        slides = {p._slideDuration for p in parents}
        if len(slides) > 1:
            raise IllegalArgumentException(
                "requirement failed: Some of the DStreams have different slide durations"
            )
        self.parents = parents
        self.func = func
        self._stream_id = self._make_node(parents, func)

    @property
    def _slideDuration(self) -> float:
        return self.parents[0]._slideDuration


def _check_dstream(other: Any, op: str) -> None:
    if not isinstance(other, DStream):
        raise TypeError(f"{op}: other should be a DStream, got {type(other).__name__}")


def _sc_has_checkpoint_dir(sc: Any) -> bool:
    get_dir = getattr(sc, "getCheckpointDir", None)
    return get_dir is not None and get_dir() is not None
