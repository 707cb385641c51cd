"""PySpark Streaming's DStream API (``pyspark.streaming``), running on ferrostream's engine."""

from __future__ import annotations

from ferrostream.streaming.context import StreamingContext
from ferrostream.streaming.dstream import DStream
from ferrostream.streaming.listener import StreamingListener

__all__ = ["DStream", "StreamingContext", "StreamingListener"]
