"""ferrostream: PySpark's Python API (Spark 3.5 semantics) on a Rust engine.

``from ferrostream import SparkContext`` programs behave as ``from pyspark import
SparkContext`` ones. DStreams live in :mod:`ferrostream.streaming`.
"""

from __future__ import annotations

import os as _os

# The engine's allocator (mimalloc) returns freed memory to the system after 10 ms by default.
# Batches free and allocate the same amounts every few ms, so that costs page faults and page
# zeroing: keeping freed memory for 10 s cut a 1 M-key window job's CPU time by 10-15 %. Read
# when the engine is loaded (first use of the compiled module), so it must be set here.
_os.environ.setdefault("MIMALLOC_PURGE_DELAY", "10000")
# mimalloc asks for transparent huge pages for its arenas; on the first touch of each 2 MiB
# page the kernel zeroes it, and with THP defrag on madvise (a common default) may compact
# memory first, in the faulting thread. The first batches of a job that builds large hash
# tables paid for that: 1 M-record reduceByKey, first batch 0.55 s -> 0.32 s without huge
# pages, later batches no slower (countByValue and sortBy + zipWithIndex per 1 M-record batch:
# 2.4 -> 3.2 M and 1.8 -> 2.3 M records/s over three batches).
_os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")

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
