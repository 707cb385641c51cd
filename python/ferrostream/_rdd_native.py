"""Native fast paths of :class:`ferrostream.rdd.RDD`'s actions, and what they fall back to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ferrostream.statcounter import StatCounter

if TYPE_CHECKING:
    from ferrostream.rdd import RDD

EMPTY_REDUCE = "Can not reduce() empty RDD"


def _native_fold(rdd: RDD[Any], f: Callable[[Any, Any], Any], zero: tuple[Any, ...]) -> Any:
    """The per-partition results of ``reduce(f, partition[, zero])`` computed natively when
    ``f`` is provable (a list, without empty partitions' results for a plain reduce), or None
    when Python must run it."""
    from ferrostream import _rdd_util

    expr = _rdd_util.native_expr(f, 2)
    if expr is None:
        return None
    try:
        return rdd._plan.reduce_partitions(expr, zero)
    except (ValueError, TypeError):
        return None


def _native_extreme(rdd: RDD[Any], largest: bool) -> tuple[Any] | None:
    """``max()``/``min()`` natively: a 1-tuple of the value, or None when Python must do it.
    An empty RDD raises as ``reduce`` does."""
    found = rdd._plan.extreme(largest)
    if found is None:
        return None
    if not found:
        raise ValueError(EMPTY_REDUCE)
    return found  # type: ignore[no-any-return]


def _stat_counter(n: int, mu: float, m2: float, hi: Any, lo: Any) -> StatCounter:
    c = StatCounter()
    c.n, c.mu, c.m2 = n, mu, m2
    if hi is not None:
        c.maxValue = hi
    if lo is not None:
        c.minValue = lo
    return c
