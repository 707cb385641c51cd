"""ferrostream: PySpark's Python API (Spark 3.5 semantics) on a Rust engine.

``from ferrostream import SparkContext`` programs behave as ``from pyspark import
SparkContext`` ones. DStreams live in :mod:`ferrostream.streaming`.
"""

from __future__ import annotations

from ferrostream.accumulators import Accumulator, AccumulatorParam
from ferrostream.broadcast import Broadcast
from ferrostream.conf import SparkConf
from ferrostream.context import SparkContext
from ferrostream.files import SparkFiles
from ferrostream.rdd import RDD
from ferrostream.resultiterable import ResultIterable
from ferrostream.statcounter import StatCounter
from ferrostream.storagelevel import StorageLevel

try:
    from ferrostream._native import __version__
except ImportError:  # the engine is not built (e.g. building docs from a checkout)
    __version__ = "0+unknown"

__all__ = [
    "RDD",
    "Accumulator",
    "AccumulatorParam",
    "Broadcast",
    "ResultIterable",
    "SparkConf",
    "SparkContext",
    "SparkFiles",
    "StatCounter",
    "StorageLevel",
    "__version__",
]
