"""Helpers of :mod:`ferrostream.rdd`: argument checks, hashing, sampling, analysis hook."""

from __future__ import annotations

import math
from typing import Any, Callable

from ferrostream import _native

__all__ = ["portable_hash"]

# Set to False (e.g. by tests) to force the Python implementation of every step.
use_native = True
_analyze_fn: Callable[[Any, int], tuple[Any, ...] | None] | None = None


def native_expr(func: Any, nargs: int) -> tuple[Any, ...] | None:
    """The native encoding of ``func`` (see ``ferrostream._analyze``), or None."""
    global _analyze_fn
    if not use_native:
        return None
    if _analyze_fn is None:
        from ferrostream._analyze import analyze

        _analyze_fn = analyze
    try:
        return _analyze_fn(func, nargs)
    except Exception:
        return None


# -- argument checks --------------------------------------------------------------------


def check_callable(f: Any, name: str) -> None:
    if not callable(f):
        raise TypeError(f"{name} should be callable, got {type(f).__name__}: {f!r}")


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import operator

            return operator.index(value)
        except TypeError:
            raise TypeError(
                f"{name} should be an int, got {type(value).__name__}: {value!r}"
            ) from None
    return value


def check_num_partitions(value: Any, name: str = "numPartitions") -> int | None:
    """None, or a positive int; anything else raises TypeError/ValueError."""
    if value is None:
        return None
    return required_num_partitions(value, name)


def required_num_partitions(value: Any, name: str = "numPartitions") -> int:
    """A positive int; anything else (None included) raises TypeError/ValueError."""
    n = _check_int(value, name)
    if n < 1:
        raise ValueError(f"{name} should be a positive int, got {n}")
    return n


# -- portable hash ----------------------------------------------------------------------

# PySpark's ``portable_hash``: the engine's implementation, the only one (its docstring says how).
portable_hash: Callable[[Any], int] = _native.portable_hash


# -- sampling -----------------------------------------------------------------------------


def fraction_for_sample_size(num: int, total: int, with_replacement: bool) -> float:
    """A sampling fraction that yields at least ``num`` of ``total`` elements with very
    high probability (the bounds Spark's ``takeSample`` uses)."""
    fraction = num / total
    if with_replacement:
        num_stdev = 9 if num < 12 else 5
        return fraction + num_stdev * math.sqrt(fraction / total)
    delta = 0.00005
    gamma = -math.log(delta) / total
    return min(1.0, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction))
