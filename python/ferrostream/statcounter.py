"""``StatCounter``: count, mean, variance, min and max in one pass (``RDD.stats()``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Union

__all__ = ["StatCounter"]

Number = Union[int, float]


class StatCounter:
    """Running statistics of numbers, mergeable across partitions.

    Examples
    --------
    >>> s = StatCounter([1.0, 2.0, 3.0])
    >>> s.count(), s.mean(), s.variance(), s.max()
    (3, 2.0, 0.6666666666666666, 3.0)
    """

    def __init__(self, values: Iterable[Number] = ()) -> None:
        self.n = 0
        self.mu = 0.0
        self.m2 = 0.0
        self.maxValue = float("-inf")
        self.minValue = float("inf")
        for v in values:
            self.merge(v)

    def merge(self, value: Number) -> StatCounter:
        """Add one value."""
        delta = value - self.mu
        self.n += 1
        self.mu += delta / self.n
        self.m2 += delta * (value - self.mu)
        self.maxValue = max(self.maxValue, value)
        self.minValue = min(self.minValue, value)
        return self

    def mergeStats(self, other: StatCounter) -> StatCounter:
        """Add all values summarised by ``other``."""
        if other is self:
            return self.mergeStats(other.copy())
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mu, self.m2 = other.n, other.mu, other.m2
            self.maxValue, self.minValue = other.maxValue, other.minValue
            return self
        delta = other.mu - self.mu
        total = self.n + other.n
        if other.n * 10 < self.n:
            self.mu += delta * other.n / total
        elif self.n * 10 < other.n:
            self.mu = other.mu - delta * self.n / total
        else:
            self.mu = (self.mu * self.n + other.mu * other.n) / total
        self.m2 += other.m2 + delta * delta * self.n * other.n / total
        self.n = total
        self.maxValue = max(self.maxValue, other.maxValue)
        self.minValue = min(self.minValue, other.minValue)
        return self

    def copy(self) -> StatCounter:
        """An independent copy."""
        c = StatCounter()
        c.n, c.mu, c.m2 = self.n, self.mu, self.m2
        c.maxValue, c.minValue = self.maxValue, self.minValue
        return c

    def count(self) -> int:
        return self.n

    def mean(self) -> float:
        """The mean (0.0 when there are no values, as in Spark)."""
        return self.mu

    def sum(self) -> float:
        return self.n * self.mu

    def min(self) -> float:
        return self.minValue

    def max(self) -> float:
        return self.maxValue

    def variance(self) -> float:
        """Population variance (divides by n)."""
        return self.m2 / self.n if self.n else float("nan")

    def sampleVariance(self) -> float:
        """Sample variance (divides by n - 1)."""
        return self.m2 / (self.n - 1) if self.n > 1 else float("nan")

    def stdev(self) -> float:
        return math.sqrt(self.variance())

    def sampleStdev(self) -> float:
        return math.sqrt(self.sampleVariance())

    def asDict(self, sample: bool = False) -> dict[str, float]:
        """The statistics as a dict (sample variance/stdev when ``sample`` is True)."""
        return {
            "count": self.count(),
            "mean": self.mean(),
            "sum": self.sum(),
            "min": self.min(),
            "max": self.max(),
            "stdev": self.sampleStdev() if sample else self.stdev(),
            "variance": self.sampleVariance() if sample else self.variance(),
        }

    def __repr__(self) -> str:
        return (
            f"(count: {self.count()}, mean: {self.mean()}, stdev: {self.stdev()}, "
            f"max: {self.max()}, min: {self.min()})"
        )
