"""Windowed and stateful operations of :class:`~ferrostream.streaming.DStream` (a mixin).

``window`` and the windows without an inverse function use the engine's window node: the union
of the parent's RDDs in ``(t - window, t]``, produced at multiples of the slide from the zero
time. The incremental windows (with an inverse function) and ``updateStateByKey`` use the
engine's recurrent node, whose RDD at ``t`` is computed from its own RDD one slide earlier; such
streams need a checkpoint directory, which ``start()`` checks.

The functions handed to the engine's recurrent node are instances of module-level classes that
hold only the user's functions and plain numbers, so a checkpoint can pickle them (with
cloudpickle); they look up the SparkContext when a batch runs.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, Callable, Optional

from ferrostream.resultiterable import ResultIterable
from ferrostream.streaming.util import (
    active_sc,
    duration_ms,
    rdd_class,
    require_callable,
    unwrap_rdd,
    wrap_rdd,
)

if TYPE_CHECKING:
    from ferrostream import RDD, SparkContext, _native
    from ferrostream.streaming.context import StreamingContext
    from ferrostream.streaming.dstream import DStream

_MULTIPLE = "{} must be multiple of the parent dstream's slide (batch) duration ({} ms)"

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


def _state_is_set(kv: tuple[Any, Any]) -> bool:
    return kv[1] is not None


def _new_values_no_state(values: Any) -> tuple[list[Any], None]:
    return (list(values), None)


def _new_values_and_state(groups: Any) -> tuple[list[Any], Any]:
    states, values = groups
    old = list(states)
    return (list(values), old[0] if old else None)


class _ApplyInverse:
    """``(v, w) -> invFunc(v, w)``, or ``v`` when nothing of the key left the window."""

    def __init__(self, inv_func: Callable[[Any, Any], Any]) -> None:
        self.inv_func = inv_func

    def __call__(self, pair: tuple[Any, Any]) -> Any:
        current, left = pair
        if left is None:
            return current
        return self.inv_func(current, left)


class _ApplyUpdate:
    """``(new_values, old_state) -> updateFunc(new_values, old_state)``."""

    def __init__(self, update_func: Callable[[list[Any], Any], Any]) -> None:
        self.update_func = update_func

    def __call__(self, values_and_state: tuple[list[Any], Any]) -> Any:
        values, state = values_and_state
        return self.update_func(values, state)


# ------------------------------------------------------------------------------------------
# functions run by the engine's recurrent node


def _union(sc: SparkContext, rdds: list[RDD[Any]]) -> RDD[Any]:
    return rdds[0] if len(rdds) == 1 else sc.union(rdds)


class _RecurrentStep:
    """Base of the functions given to ``StreamingEngine.recurrent``.

    When a batch fails, the engine decides what stands for it: a state stream keeps the
    previous state, an incremental window recomputes its whole window next time.
    """

    def __init__(self, slide_ms: int) -> None:
        self.slide_ms = slide_ms

    def __call__(
        self,
        t_ms: int,
        prev: _native.Rdd | None,
        old: list[_native.Rdd],
        new: list[_native.Rdd],
        window: list[_native.Rdd],
    ) -> _native.Rdd | None:
        sc = active_sc()
        out = self.compute(
            sc,
            prev,
            [rdd_class()(j, sc) for j in old],
            [rdd_class()(j, sc) for j in new],
            [rdd_class()(j, sc) for j in window],
        )
        return unwrap_rdd(out, type(self).__name__)

    def compute(
        self,
        sc: SparkContext,
        prev: _native.Rdd | None,
        old: list[RDD[Any]],
        new: list[RDD[Any]],
        window: list[RDD[Any]],
    ) -> RDD[Any] | None:
        """The RDD of the batch."""
        raise NotImplementedError


class _ReduceWindowStep(_RecurrentStep):
    """One batch of ``reduceByKeyAndWindow`` with an inverse function (Spark's
    ``PythonReducedWindowedDStream`` rules)."""

    def __init__(
        self,
        func: Callable[[Any, Any], Any],
        inv_func: Callable[[Any, Any], Any],
        filter_func: Optional[Callable[[Any], bool]],
        num_partitions: int,
        window_ms: int,
        slide_ms: int,
    ) -> None:
        super().__init__(slide_ms)
        self.func = func
        self.inv_func = inv_func
        self.filter_func = filter_func
        self.num_partitions = num_partitions
        self.window_ms = window_ms

    def compute(
        self,
        sc: SparkContext,
        prev: _native.Rdd | None,
        old: list[RDD[Any]],
        new: list[RDD[Any]],
        window: list[RDD[Any]],
    ) -> RDD[Any] | None:
        if prev is not None and self.window_ms >= _INCREMENTAL_RATIO * self.slide_ms:
            current = wrap_rdd(prev, sc)
            assert current is not None
            if old:
                current = self._remove(current, _union(sc, old))
            if new:
                current = self._add(current, _union(sc, new))
            return current
        if not window:
            return None
        return self._add(None, _union(sc, window))

    def _add(self, current: RDD[Any] | None, entering: RDD[Any]) -> RDD[Any]:
        n = self.num_partitions
        reduced = entering.reduceByKey(self.func, n)
        if current is not None:
            reduced = current.union(reduced).reduceByKey(self.func, n)
        if self.filter_func is not None:
            reduced = reduced.filter(self.filter_func)
        return reduced

    def _remove(self, current: RDD[Any], leaving: RDD[Any]) -> RDD[Any]:
        n = self.num_partitions
        reduced = leaving.reduceByKey(self.func, n)
        return current.leftOuterJoin(reduced, n).mapValues(_ApplyInverse(self.inv_func))


class _UpdateStateStep(_RecurrentStep):
    """One batch of ``updateStateByKey`` (Spark's ``PythonStateDStream`` rules)."""

    def __init__(
        self,
        update_func: Callable[[list[Any], Any], Any],
        num_partitions: int,
        slide_ms: int,
        initial: _native.Rdd | None,
    ) -> None:
        super().__init__(slide_ms)
        self.update_func = update_func
        self.num_partitions = num_partitions
        self.initial_id = None if initial is None else initial.id
        # Not pickled: the engine hands the initial RDD over as ``prev`` of the first batch;
        # this copy only serves when that batch had no parent RDD (see ``compute``).
        self._initial = initial

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_initial", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._initial = None

    def compute(
        self,
        sc: SparkContext,
        prev: _native.Rdd | None,
        old: list[RDD[Any]],
        new: list[RDD[Any]],
        window: list[RDD[Any]],
    ) -> RDD[Any] | None:
        if not new:
            # The parent has no RDD at this time: the state stays as it was (none before the
            # first batch, even with an initial RDD).
            if prev is not None and prev.id == self.initial_id:
                return None
            return wrap_rdd(prev, sc)
        n = self.num_partitions
        batch = _union(sc, new)
        # As Spark: the previous state, else the initial RDD (also after a first batch
        # without a parent RDD, which produced no state).
        state = wrap_rdd(prev if prev is not None else self._initial, sc)
        if state is None:
            grouped = batch.groupByKey(n).mapValues(_new_values_no_state)
        else:
            grouped = state.cogroup(batch.partitionBy(n), n).mapValues(_new_values_and_state)
        return grouped.mapValues(_ApplyUpdate(self.update_func)).filter(_state_is_set)


# ------------------------------------------------------------------------------------------
# the mixin


class WindowedDStreamMixin:
    """Window and state operations of DStreams."""

    if TYPE_CHECKING:
        _ssc: StreamingContext
        _sc: SparkContext

        @property
        def _jdstream(self) -> int: ...

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
        """Check the durations against this stream's slide; return them in milliseconds."""
        parent_ms = round(self._slideDuration * 1000)
        window_ms = duration_ms(windowDuration, "windowDuration")
        if window_ms % parent_ms != 0:
            raise ValueError(_MULTIPLE.format("windowDuration", parent_ms))
        if slideDuration is None:
            return window_ms, parent_ms
        slide_ms = duration_ms(slideDuration, "slideDuration")
        if slide_ms % parent_ms != 0:
            raise ValueError(_MULTIPLE.format("slideDuration", parent_ms))
        return window_ms, slide_ms

    def _recurrent(
        self,
        parent: WindowedDStreamMixin,
        step: _RecurrentStep,
        window_ms: int,
        slide_ms: int,
        initial: _native.Rdd | None = None,
    ) -> DStream[Any]:
        from ferrostream.streaming.dstream import DStream

        ssc = self._ssc
        ssc._check_can_add()
        stream_id = ssc._engine.recurrent(parent._jdstream, step, window_ms, slide_ms, initial)
        return DStream(ssc, stream_id)

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
        stream_id = ssc._engine.window(self._jdstream, window_ms, slide_ms)
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
        require_callable(func, "reduceByKeyAndWindow: func")
        window_ms, slide_ms = self._window_ms(windowDuration, slideDuration)
        n = self._partitions(numPartitions)
        reduced = self.reduceByKey(func, n)
        if not invFunc:
            return reduced.window(windowDuration, slideDuration).reduceByKey(func, n)
        require_callable(invFunc, "reduceByKeyAndWindow: invFunc")
        if filterFunc is not None:
            require_callable(filterFunc, "reduceByKeyAndWindow: filterFunc")
        step = _ReduceWindowStep(func, invFunc, filterFunc, n, window_ms, slide_ms)
        return self._recurrent(reduced, step, window_ms, slide_ms)

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
        slide_ms = round(self._slideDuration * 1000)
        step = _UpdateStateStep(updateFunc, n, slide_ms, initial)
        return self._recurrent(self, step, slide_ms, slide_ms, initial)
