"""Windowed and stateful operations of :class:`~ferrostream.streaming.DStream` (a mixin).

``window`` and the windows without an inverse function use the engine's window node: the union
of the parent's RDDs in ``(t - window, t]``, produced at multiples of the slide from the zero
time. The incremental windows (with an inverse function) and ``updateStateByKey`` are keyed
streams whose state the engine keeps, hash-partitioned, across batches: the facade only hands
over the user's functions (with their proven native form when ``ferrostream._analyze`` finds
one). Such streams need a checkpoint directory, which ``start()`` checks.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Callable, Optional

from ferrostream._rdd_util import native_expr
from ferrostream.resultiterable import ResultIterable
from ferrostream.streaming.util import (
    describe_function,
    duration_ms,
    rdd_class,
    require_callable,
    unwrap_rdd,
    user_callsite,
)

if TYPE_CHECKING:
    from ferrostream import SparkContext, _native
    from ferrostream.streaming.context import StreamingContext
    from ferrostream.streaming.dstream import DStream

# Below this ratio of window to slide, Spark recomputes the window from its batches instead of
# updating the previous window's result ("for small window, reduce once will be better").
_INCREMENTAL_RATIO = 5


# ------------------------------------------------------------------------------------------
# small picklable element functions


def _to_one(_x: Any) -> int:
    return 1


def _keyed_by_one(x: Any) -> tuple[int, Any]:
    return (1, x)


def _with_count_one(x: Any) -> tuple[Any, int]:
    return (x, 1)


def _value_of(kv: tuple[Any, Any]) -> Any:
    return kv[1]


def _count_positive(kv: tuple[Any, int]) -> bool:
    return kv[1] > 0


def _as_list(v: Any) -> list[Any]:
    return [v]


def _concat(a: list[Any], b: list[Any]) -> list[Any]:
    return a + b


def _without_leading(a: list[Any], b: list[Any]) -> list[Any]:
    # The window's list holds its values oldest first; ``b`` lists the values that left.
    return a[len(b) :]


# ------------------------------------------------------------------------------------------
# the mixin


class WindowedDStreamMixin:
    """Window and state operations of DStreams."""

    if TYPE_CHECKING:
        _ssc: StreamingContext
        _sc: SparkContext

        @property
        def _engine_id(self) -> int: ...

        @property
        def _slideDuration(self) -> float: ...

        def _partitions(self, numPartitions: int | None) -> int: ...

        def map(
            self, f: Callable[[Any], Any], preservesPartitioning: bool = False
        ) -> DStream[Any]: ...

        def mapValues(self, f: Callable[[Any], Any]) -> DStream[Any]: ...

        def reduceByKey(
            self, func: Callable[[Any, Any], Any], numPartitions: int | None = None
        ) -> DStream[Any]: ...

    # ----------------------------------------------------------------------------------
    # plumbing

    def _window_ms(self, windowDuration: float, slideDuration: float | None) -> tuple[int, int]:
        """Check the durations against this stream's slide (the engine's check); return them in
        milliseconds."""
        window_ms = duration_ms(windowDuration, "windowDuration")
        slide_ms = None if slideDuration is None else duration_ms(slideDuration, "slideDuration")
        checked: tuple[int, int] = self._ssc._engine.check_window(
            self._engine_id, window_ms, slide_ms
        )
        return checked

    # ----------------------------------------------------------------------------------
    # windows

    def window(self, windowDuration: float, slideDuration: float | None = None) -> DStream[Any]:
        """Return a new DStream in which each RDD holds all the elements seen in a sliding
        window of time over this DStream.

        Parameters
        ----------
        windowDuration : int or float
            Width of the window in seconds; a multiple of this DStream's slide duration.
        slideDuration : int or float, optional
            Interval in seconds after which the new DStream produces an RDD; a multiple of
            this DStream's slide duration. Defaults to this DStream's slide duration.

        Notes
        -----
        The RDD at time ``t`` is the union of this stream's RDDs in ``(t - windowDuration,
        t]``; RDDs are produced at multiples of ``slideDuration`` from the context's start.
        """
        from ferrostream.streaming.dstream import DStream

        window_ms, slide_ms = self._window_ms(windowDuration, slideDuration)
        ssc = self._ssc
        ssc._check_can_add()
        stream_id = ssc._engine.window(self._engine_id, window_ms, slide_ms)
        return DStream(ssc, stream_id)

    def reduceByWindow(
        self,
        reduceFunc: Callable[[Any, Any], Any],
        invReduceFunc: Optional[Callable[[Any, Any], Any]],
        windowDuration: float,
        slideDuration: float,
    ) -> DStream[Any]:
        """Return a new DStream in which each RDD has a single element: the elements of a
        sliding window over this DStream reduced with ``reduceFunc``.

        When ``invReduceFunc`` is not None, the reduction is incremental: the values that
        entered the window are reduced into the previous window's result, and those that left
        it are removed with ``invReduceFunc`` (this needs a checkpoint directory).

        Parameters
        ----------
        reduceFunc : function
            Associative and commutative reduce function.
        invReduceFunc : function or None
            Inverse of ``reduceFunc``: ``invReduceFunc(reduceFunc(x, y), x) == y``.
        windowDuration : int or float
            Width of the window in seconds; a multiple of this DStream's slide duration.
        slideDuration : int or float
            Interval in seconds between two RDDs of the new DStream; a multiple of this
            DStream's slide duration.
        """
        require_callable(reduceFunc, "reduceByWindow: reduceFunc")
        keyed = self.map(_keyed_by_one)
        reduced = keyed.reduceByKeyAndWindow(
            reduceFunc, invReduceFunc, windowDuration, slideDuration, 1
        )
        return reduced.map(_value_of)

    def countByWindow(self, windowDuration: float, slideDuration: float) -> DStream[int]:
        """Return a new DStream in which each RDD has a single element: the number of
        elements in a sliding window over this DStream.

        The count is kept incrementally (added and subtracted), so a checkpoint directory is
        required. ``windowDuration`` and ``slideDuration`` are as in :meth:`window`.
        """
        ones = self.map(_to_one)
        return ones.reduceByWindow(operator.add, operator.sub, windowDuration, slideDuration)

    def countByValueAndWindow(
        self, windowDuration: float, slideDuration: float, numPartitions: int | None = None
    ) -> DStream[tuple[Any, int]]:
        """Return a new DStream in which each RDD holds ``(value, count)`` for the distinct
        elements of a sliding window over this DStream.

        Counts are kept incrementally (a checkpoint directory is required); values whose count
        dropped to zero are left out.

        Parameters
        ----------
        windowDuration : int or float
            Width of the window in seconds; a multiple of this DStream's slide duration.
        slideDuration : int or float
            Interval in seconds between two RDDs of the new DStream; a multiple of this
            DStream's slide duration.
        numPartitions : int, optional
            Number of partitions of each RDD of the new DStream.
        """
        keyed = self.map(_with_count_one)
        counted = keyed.reduceByKeyAndWindow(
            operator.add, operator.sub, windowDuration, slideDuration, numPartitions
        )
        return counted.filter(_count_positive)

    def groupByKeyAndWindow(
        self, windowDuration: float, slideDuration: float, numPartitions: int | None = None
    ) -> DStream[tuple[Any, ResultIterable[Any]]]:
        """Return a new DStream applying ``groupByKey`` over a sliding window: each RDD holds
        ``(key, ResultIterable of the key's values in the window)``.

        The value lists are kept incrementally (a checkpoint directory is required).

        Parameters
        ----------
        windowDuration : int or float
            Width of the window in seconds; a multiple of this DStream's slide duration.
        slideDuration : int or float
            Interval in seconds between two RDDs of the new DStream; a multiple of this
            DStream's slide duration.
        numPartitions : int, optional
            Number of partitions of each RDD of the new DStream.
        """
        listed = self.mapValues(_as_list)
        grouped = listed.reduceByKeyAndWindow(
            _concat, _without_leading, windowDuration, slideDuration, numPartitions
        )
        return grouped.mapValues(ResultIterable)

    def reduceByKeyAndWindow(
        self,
        func: Callable[[Any, Any], Any],
        invFunc: Optional[Callable[[Any, Any], Any]],
        windowDuration: float,
        slideDuration: float | None = None,
        numPartitions: int | None = None,
        filterFunc: Optional[Callable[[tuple[Any, Any]], bool]] = None,
    ) -> DStream[tuple[Any, Any]]:
        """Return a new DStream applying ``reduceByKey`` over a sliding window.

        With ``invFunc``, the result is kept incrementally from the previous window's:

        1. the values that entered the window are reduced in with ``func``;
        2. the values that left it are taken out with ``invFunc``.

        This needs a checkpoint directory. A key whose value comes back to "zero" stays in
        the result unless ``filterFunc`` removes it. When the window is shorter than five
        slides, each window is reduced from its batches instead.

        Without ``invFunc`` (None), every window is reduced from its batches (no checkpoint
        directory needed), and ``filterFunc`` is not used.

        Parameters
        ----------
        func : function
            Associative and commutative reduce function.
        invFunc : function or None
            Inverse of ``func``.
        windowDuration : int or float
            Width of the window in seconds; a multiple of this DStream's slide duration.
        slideDuration : int or float, optional
            Interval in seconds between two RDDs of the new DStream; a multiple of this
            DStream's slide duration. Defaults to this DStream's slide duration.
        numPartitions : int, optional
            Number of partitions of each RDD of the new DStream
            (default ``sc.defaultParallelism``).
        filterFunc : function, optional
            Applied to the ``(key, value)`` pairs when values are reduced in; only pairs for
            which it is true are kept.
        """
        # PySpark's order: the window is checked first, then the functions.
        window_ms, slide_ms = self._window_ms(windowDuration, slideDuration)
        n = self._partitions(numPartitions)
        require_callable(func, "reduceByKeyAndWindow: func")
        if not invFunc:
            reduced = self.reduceByKey(func, n)
            return reduced.window(windowDuration, slideDuration).reduceByKey(func, n)
        require_callable(invFunc, "reduceByKeyAndWindow: invFunc")
        if filterFunc is not None:
            require_callable(filterFunc, "reduceByKeyAndWindow: filterFunc")
        from ferrostream.streaming.dstream import DStream

        ssc = self._ssc
        ssc._check_can_add()
        # The engine reduces each slide's batches once per key (``func`` is associative and
        # commutative, as Spark requires), so the pairs go to it unreduced.
        stream_id = ssc._engine.reduced_window_stream(
            self._engine_id,
            func,
            native_expr(func, 2),
            invFunc,
            native_expr(invFunc, 2),
            filterFunc,
            None if filterFunc is None else native_expr(filterFunc, 1),
            window_ms,
            slide_ms,
            n,
            user_callsite("reduceByKeyAndWindow"),
        )
        return DStream(ssc, stream_id, keyed=True)

    # ----------------------------------------------------------------------------------
    # state

    def updateStateByKey(
        self,
        updateFunc: Callable[[list[Any], Any], Any],
        numPartitions: int | None = None,
        initialRDD: Any = None,
    ) -> DStream[tuple[Any, Any]]:
        """Return a new "state" DStream where the state of each key is updated every batch by
        applying ``updateFunc`` to the key's new values and its previous state.

        ``updateFunc(new_values, old_state)`` runs for every key that has a state or new
        values: ``new_values`` is the list of the key's values in the batch (``[]`` when
        there are none) and ``old_state`` is None for a key without state. Returning None
        removes the key. The state is emitted every batch, even without input. A checkpoint
        directory is required.

        Parameters
        ----------
        updateFunc : function
            State update function.
        numPartitions : int, optional
            Number of partitions of the state RDDs (default ``sc.defaultParallelism``).
        initialRDD : RDD or list of (key, state), optional
            The state before the first batch.
        """
        require_callable(updateFunc, "updateStateByKey: updateFunc")
        n = self._partitions(numPartitions)
        initial: _native.Rdd | None = None
        if initialRDD is not None and not isinstance(initialRDD, rdd_class()):
            initialRDD = self._sc.parallelize(initialRDD) if initialRDD else None
        if initialRDD is not None:
            initial = unwrap_rdd(initialRDD, "initialRDD")
        from ferrostream.streaming.dstream import DStream

        ssc = self._ssc
        ssc._check_can_add()
        stream_id = ssc._engine.state_stream(
            self._engine_id,
            updateFunc,
            native_expr(updateFunc, 2),
            n,
            initial,
            f"{user_callsite('updateStateByKey')} (updateFunc {describe_function(updateFunc)})",
        )
        return DStream(ssc, stream_id, keyed=True)
