"""Picklable batch functions: what DStream operations hand to the engine.

A checkpoint holds the DStream graph with its functions, pickled with cloudpickle, so every
function given to the engine must pickle without dragging a SparkContext, a StreamingContext or
an engine object along. Closures defined inside ferrostream would also be pickled by value
(bytecode and all); these module-level classes are pickled by reference and carry only the
user's functions and plain values. The SparkContext is looked up when a batch runs
(:func:`~ferrostream.streaming.util.active_sc`), so a recovered program uses its new one.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from ferrostream.streaming.util import (
    active_sc,
    ms_to_datetime,
    rddToFileName,
    unwrap_rdd,
    wrap_rdd,
)

if TYPE_CHECKING:
    from ferrostream import RDD, _native

__all__ = [
    "BatchTransform",
    "DropTime",
    "Fused",
    "OutputRunner",
    "PPrint",
    "RddMethod",
    "RddMethodWith",
    "SaveAsTextFiles",
    "TupleArgs",
    "plan_template",
    "plans_once",
    "user_functions",
]

_RULE = "-" * 43


class _Wrapper:
    """Base of the wrappers: lists the callables and values it holds (for error messages)."""

    __slots__ = ()

    def _parts(self) -> list[Any]:
        names: tuple[str, ...] = getattr(type(self), "__slots__", ())
        return [getattr(self, name) for name in names]

    def __repr__(self) -> str:
        inner = ", ".join(repr(p) for p in self._parts())
        return f"{type(self).__name__}({inner})"


def _held(obj: Any) -> list[Any]:
    """The values held by a ferrostream function object."""
    if isinstance(obj, _Wrapper):
        return obj._parts()
    values = list(getattr(obj, "__dict__", {}).values())
    for name in getattr(type(obj), "__slots__", ()):
        if hasattr(obj, name):
            values.append(getattr(obj, name))
    return values


def user_functions(obj: Any) -> list[Any]:
    """The user's callables inside ``obj``: ferrostream's function objects are looked into,
    any other callable is the user's."""
    if not callable(obj):
        return []
    module = getattr(type(obj), "__module__", "") or ""
    if not module.startswith("ferrostream.") or hasattr(obj, "__code__"):
        return [obj]
    found: list[Any] = []
    for part in _held(obj):
        items = part if isinstance(part, (tuple, list)) else [part]
        for item in items:
            found.extend(user_functions(item))
    return found


class RddMethod(_Wrapper):
    """``rdd.<name>(*args)``: the picklable form of ``lambda rdd: rdd.<name>(*args)``."""

    __slots__ = ("args", "name")

    def __init__(self, name: str, *args: Any) -> None:
        self.name = name
        self.args = args

    def __call__(self, rdd: Any) -> Any:
        return getattr(rdd, self.name)(*self.args)


class RddMethodWith(_Wrapper):
    """``a.<name>(b, *args)``: the picklable form of ``lambda a, b: a.<name>(b, *args)``."""

    __slots__ = ("args", "name")

    def __init__(self, name: str, *args: Any) -> None:
        self.name = name
        self.args = args

    def __call__(self, a: Any, b: Any) -> Any:
        return getattr(a, self.name)(b, *self.args)


class DropTime(_Wrapper):
    """``(time, *rdds) -> func(*rdds)``: a user function that takes no batch time."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def __call__(self, _time: Any, *rdds: Any) -> Any:
        return self.func(*rdds)


class TupleArgs(_Wrapper):
    """``(time, *rdds) -> func(rdds)`` for ``StreamingContext.transform``."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def __call__(self, _time: Any, *rdds: Any) -> Any:
        return self.func(rdds)


class Fused(_Wrapper):
    """``(time, rdd) -> outer(time, inner(time, rdd))``: two pipelined transforms."""

    __slots__ = ("inner", "outer")

    def __init__(self, outer: Callable[..., Any], inner: Callable[..., Any]) -> None:
        self.outer = outer
        self.inner = inner

    def __call__(self, time: Any, rdd: Any) -> Any:
        return self.outer(time, self.inner(time, rdd))


class BatchTransform(_Wrapper):
    """The engine function of a transformed DStream: ``(time_ms, engine rdds) -> engine rdd``
    computed by ``func(datetime, *RDDs)``; the result is persisted when ``storage_level`` is
    set (``DStream.persist`` may set it after the node exists)."""

    __slots__ = ("func", "storage_level")

    def __init__(self, func: Callable[..., Any], storage_level: Any = None) -> None:
        self.func = func
        self.storage_level = storage_level

    def __call__(self, t_ms: int, plans: list[_native.Rdd | None]) -> _native.Rdd | None:
        # User exceptions propagate unchanged: the engine reports them as a failed batch
        # (SparkException with the user's exception as __cause__).
        sc = active_sc()
        rdds = [wrap_rdd(j, sc) for j in plans]
        out = self.func(ms_to_datetime(t_ms), *rdds)
        level = self.storage_level
        if out is not None and level is not None and hasattr(out, "persist"):
            out = out.persist(level)
        plan = unwrap_rdd(out, "transform function")
        if plan is not None and level is not None and not plan.is_cached:
            plan.persist()
        return plan


#: RDD methods whose plan depends on their arguments only, never on the data or the size of
#: the RDD they are called on: the DStream operations made of them are planned once.
_PLANNED_ONCE = frozenset(
    {
        "map",
        "flatMap",
        "filter",
        "mapPartitions",
        "mapPartitionsWithIndex",
        "glom",
        "_partition_sizes",
        "mapValues",
        "flatMapValues",
        "reduceByKey",
        "combineByKey",
        "groupByKey",
        "partitionBy",
        "cogroup",
        "join",
        "leftOuterJoin",
        "rightOuterJoin",
        "fullOuterJoin",
        "union",
    }
)

# What a template is planned at (the operations above never look at the batch time).
_PLANNING_TIME = datetime(1970, 1, 1)


def plans_once(func: Any) -> bool:
    """Whether ``func`` is made of RDD methods only (``DStream.map``, ``reduceByKey``,
    ``join``...), never of a user's own transform function, which may do anything with the
    RDD of any batch."""
    if isinstance(func, Fused):
        return plans_once(func.outer) and plans_once(func.inner)
    if isinstance(func, DropTime):
        return plans_once(func.func)
    if isinstance(func, (RddMethod, RddMethodWith)):
        return func.name in _PLANNED_ONCE
    # Other ferrostream batch functions made of such methods say so themselves.
    return getattr(type(func), "plans_once", False) is True


def plan_template(func: Any, parents: int) -> _native.Rdd | None:
    """The plan of the batch function ``func`` built once over placeholder RDDs
    (``Rdd.slot``), for the engine to instantiate with every batch's RDDs; None when ``func``
    must run every batch (a user's function, or a plan that depends on the data)."""
    if isinstance(func, BatchTransform):
        func = func.func
    if not plans_once(func):
        return None
    from ferrostream import _native

    sc = active_sc()
    slots = [wrap_rdd(_native.Rdd.slot(sc._ectx, i), sc) for i in range(parents)]
    try:
        return unwrap_rdd(func(_PLANNING_TIME, *slots), "transform function")
    except Exception:  # the function then plans every batch, as it always could
        return None


class OutputRunner(_Wrapper):
    """The engine function of an output operation: ``(time_ms, engine rdd)`` ->
    ``func(time, RDD)``, ``time`` a ``datetime`` (epoch ms when ``raw_time``)."""

    __slots__ = ("func", "raw_time")

    def __init__(self, func: Callable[[Any, Any], Any], raw_time: bool = False) -> None:
        self.func = func
        self.raw_time = raw_time

    def __call__(self, t_ms: int, plan: _native.Rdd) -> None:
        # User exceptions propagate unchanged: the engine reports them as a failed batch.
        when: Any = t_ms if self.raw_time else ms_to_datetime(t_ms)
        self.func(when, wrap_rdd(plan, active_sc()))


class PPrint(_Wrapper):
    """``DStream.pprint(num)``: the first ``num`` elements under a header with the time."""

    __slots__ = ("num",)

    def __init__(self, num: int) -> None:
        self.num = num

    def __call__(self, t: datetime, rdd: RDD[Any]) -> None:
        num = self.num
        taken = rdd.take(num + 1)
        lines = [_RULE, f"Time: {t}", _RULE]
        lines.extend(str(record) for record in taken[:num])
        if len(taken) > num:
            lines.append("...")
        lines.append("")
        print("\n".join(lines), flush=True)


class SaveAsTextFiles(_Wrapper):
    """``DStream.saveAsTextFiles``: one directory per batch; an existing one is kept (a batch
    run again after a restart does not fail)."""

    __slots__ = ("prefix", "suffix")

    def __init__(self, prefix: str, suffix: str | None) -> None:
        self.prefix = prefix
        self.suffix = suffix

    def __call__(self, t_ms: int, rdd: RDD[Any]) -> None:
        from ferrostream import _native

        path = rddToFileName(self.prefix, self.suffix, t_ms)
        if os.path.exists(_native.local_path(path)):
            return
        try:
            rdd.saveAsTextFile(path)
        except Exception as exc:
            if not _is_already_exists(exc):
                raise


def _is_already_exists(exc: BaseException) -> bool:
    if isinstance(exc, FileExistsError):
        return True
    text = str(exc)
    return "FileAlreadyExistsException" in text or "already exists" in text
