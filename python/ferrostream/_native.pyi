"""Type stubs for ``ferrostream._native``, the compiled engine (``src/python``).

This is the contract between the Rust engine and the Python facade. Users never import it:
``ferrostream`` and ``ferrostream.streaming`` wrap it with PySpark's API.

Records cross the boundary by value: ``None``, ``bool``, ``int`` (64-bit), ``float``, ``str``,
``bytes``, ``tuple`` and ``list`` become native engine values; every other object is held as an
opaque reference. Lists come back as new lists (as PySpark's pickling between stages does).
"""

import collections
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional, final

_PartitionFunc = Callable[[int, Iterator[Any]], Iterable[Any]]

__version__: str
__all__ = [
    "EngineContext",
    "Rdd",
    "StreamingEngine",
    "__version__",
    "decode_partition",
    "duration_ms",
    "encode_partition",
    "host_exiting",
    "kafka_rdd",
    "kafka_secret_keys",
    "local_path",
    "native_stats",
    "num_partitions",
    "portable_hash",
    "python_partition_calls",
    "read_checkpoint",
    "reset_log_cache",
    "reset_native_stats",
]

def python_partition_calls() -> int:
    """How many times a Python partition function (fused Python steps or a native step's
    fallback) has been called in this process: tests prove native paths with it."""

def kafka_rdd(
    ctx: EngineContext,
    params: list[tuple[str, str]],
    ranges: list[tuple[str, int, int, int]],
    format: str,
    poll_timeout_ms: int,
) -> Rdd:
    """``KafkaUtils.createRDD``: the records of exactly ``ranges`` (topic, partition, from,
    until), checked against the offsets the brokers hold."""

def kafka_secret_keys() -> list[str]:
    """The kafkaParams whose values are credentials (never logged, never checkpointed)."""

def portable_hash(x: Any) -> int:
    """PySpark's ``portable_hash``: None is 0, tuples element by element, ``str``/``bytes`` as
    CPython hashes them under ``PYTHONHASHSEED=0``, anything else ``hash(x)``. Raises
    Python's ``TypeError`` for unhashable objects."""

@final
class EngineContext:
    """The engine side of a SparkContext: ``parallelism`` threads, and with ``workers`` as
    many Python worker processes started by ``(program, args, env)`` (a task whose worker
    dies runs up to ``attempts`` times)."""

    def __new__(
        cls,
        parallelism: int,
        workers: tuple[str, list[str], list[tuple[str, str]]] | None = None,
        attempts: int = 4,
        start_timeout_s: float = 60.0,
    ) -> EngineContext: ...
    @property
    def parallelism(self) -> int: ...
    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live Python worker processes (empty when in-process)."""
    @property
    def host_key_calls(self) -> int:
        """Calls into Python for batches of keys with Python objects (hash, equality, order):
        at most a few per partition, never one per record."""
    @property
    def shuffle_count(self) -> int:
        """Shuffles materialised so far (a dataset already partitioned as asked is not)."""
    def stop(self) -> None: ...
    def check_alive(self) -> None: ...
    def start_ui(self, settings: list[tuple[str, str]]) -> str | None:
        """Start the web UI as the SparkConf's settings say (``spark.ui.*``); its address, or
        None when ``spark.ui.enabled`` is false. OSError ("Failed to bind to ...") when
        ``spark.ui.port`` and the ``spark.port.maxRetries`` next ports are all taken."""
    @property
    def ui_url(self) -> str | None:
        """The web UI's address while it runs."""

@final
class Rdd:
    """An immutable node of a lazily evaluated, partitioned dataset plan."""

    @staticmethod
    def slot(ctx: EngineContext, index: int) -> Rdd:
        """Input ``index`` of a plan template (``StreamingEngine.template``); no data."""
    @staticmethod
    def from_partitions(ctx: EngineContext, partitions: list[list[Any]]) -> Rdd:
        """A dataset whose partitions are the given lists (copied in)."""
    @staticmethod
    def text_file(ctx: EngineContext, paths: list[str], min_partitions: int) -> Rdd:
        """UTF-8 lines of files. A directory means its files (names starting with ``.``/``_``
        skipped), sorted by name. Raises FileNotFoundError naming a missing path."""
    @staticmethod
    def union(ctx: EngineContext, rdds: list[Rdd], keep_partitioning: bool = False) -> Rdd:
        """The partitions of all inputs, in order. With ``keep_partitioning``, inputs that
        all have the same partitioner are unioned partition by partition instead (partition
        ``i`` holds partition ``i`` of each input in turn) and keep it, as Spark's
        ``PartitionerAwareUnionRDD``."""
    @property
    def id(self) -> int: ...
    def num_partitions(self) -> int: ...
    def map_partitions(self, func: _PartitionFunc, preserves_partitioning: bool = False) -> Rdd:
        """Narrow step run in Python once per partition: ``func(split_index, iterator)``.
        With ``preserves_partitioning`` the result keeps this dataset's partitioner."""
    def native_step(
        self,
        kind: str,
        expr: Any,
        fallback: _PartitionFunc,
        preserves_partitioning: Optional[bool] = None,
    ) -> Rdd:
        """Narrow step run natively (GIL released, in parallel).

        ``kind`` is one of ``map``, ``flat_map``, ``filter``, ``map_values``,
        ``flat_map_values``, ``key_by`` (one-argument ``expr``) or ``combine`` (two-argument
        ``expr``: per-partition reduce of ``(k, v)`` pairs by key, first-seen key order).
        ``expr`` is the tuple encoding produced by ``ferrostream._analyze``. Where a record
        is outside what native code handles (e.g. a type mismatch), the whole partition is
        computed by ``fallback`` instead, which must compute the same step in Python.
        Raises ValueError if ``expr`` is not a valid encoding. The partitioner is kept by
        ``filter``, ``map_values``, ``flat_map_values`` and ``combine`` unless
        ``preserves_partitioning`` says otherwise.
        """
    def reduce_by_key(self, expr: Any, fallback: _PartitionFunc, num_partitions: int) -> Rdd:
        """``reduceByKey`` with a native reducer ``expr``: combined per partition, shuffled
        by key hash into ``num_partitions`` and combined again; ``fallback`` runs a
        partition's combine in Python when a record needs it."""
    @property
    def partitioner(self) -> Optional[tuple[str, int, Optional[Callable[[Any], int]]]]:
        """``(kind, num_partitions, func)`` when the partitioning by key is known: kind
        ``"hash"`` (``portable_hash``, func None), ``"func"`` (the user's partition function)
        or ``"range"`` (a sort's ranges); else None."""
    def key_op(
        self,
        op: str,
        others: list[Rdd],
        num_partitions: Optional[int],
        default_partitions: int,
        partition_func: Optional[Callable[[Any], int]] = None,
    ) -> Rdd:
        """A keyed operation computed by the engine. ``op``: ``group_by_key`` (no others;
        ``(k, ResultIterable)``), ``cogroup`` (any number; ``(k, (ResultIterable, ...))``),
        ``join``, ``left_outer_join``, ``right_outer_join``, ``full_outer_join``,
        ``subtract_by_key`` (one other; pairs), ``distinct`` (no others), ``intersection``,
        ``subtract`` (one other; whole records). Keys group in first-seen order (inputs in
        turn, each in map-partition order) with Python's equality.

        Pair inputs are shuffled into the target partitioning unless they already have it:
        ``partition_func``'s (or ``portable_hash``'s) with ``num_partitions`` when given, else
        the partitioning of the input with the most partitions that has one, else
        ``portable_hash`` with ``default_partitions``. Raises ValueError for an unknown
        ``op`` or zero partitions."""
    def glom(self) -> Rdd:
        """Each partition as one list (``RDD.glom``), computed natively."""
    def partition_sizes(self) -> Rdd:
        """Each partition's number of records as its only record, computed natively."""
    def group_by_key_local(self) -> Rdd:
        """Per partition: ``(k, v)`` pairs -> ``(k, [v, ...])``, keys in first-seen order
        (Python's equality; keys with Python objects are compared in one call per
        partition)."""
    def partition_by(
        self, num_partitions: int, partition_func: Optional[Callable[[Any], int]] = None
    ) -> Rdd:
        """Shuffle ``(k, v)`` pairs into partition ``partition_func(k) % num_partitions``;
        ``None`` means PySpark's ``portable_hash`` computed natively. Records keep their order:
        source partition by source partition, then as they came. A dataset already
        partitioned that way (same count, same function object) is returned as it is."""
    def coalesce(self, num_partitions: int) -> Rdd:
        """Merge neighbouring partitions down to ``num_partitions`` (no shuffle)."""
    def rebalance(self, num_partitions: int) -> Rdd:
        """Shuffle into ``num_partitions`` partitions of (nearly) equal size."""
    def persist(self) -> None:
        """Keep the computed partitions once computed (``cache()``)."""
    def unpersist(self) -> None: ...
    @property
    def is_cached(self) -> bool: ...
    def collect(self) -> list[Any]: ...
    def collect_partitions(self, indices: list[int]) -> list[list[Any]]: ...
    def take(self, n: int) -> list[Any]:
        """The first ``n`` records, scanning partitions as Spark does (one, then up to four
        times as many as scanned so far). Each partition computes at most the records still
        needed (a Python step's output is read only that far) and only those are converted."""
    def count(self) -> int: ...
    def sort_within_partitions(self, ascending: bool) -> Rdd:
        """Each partition's ``(k, v)`` records sorted stably by key (Python's ordering); the
        partitioner is kept."""
    def zip_with_index(self) -> Rdd:
        """``(x, index)`` in partition order (runs a job counting all but the last partition)."""
    def zip_with_unique_id(self) -> Rdd:
        """``(x, j * n + i)`` for item ``j`` of partition ``i`` of ``n`` (no job)."""
    def zip(self, other: Rdd) -> Rdd:
        """Pair the i-th records of each partition. Raises ValueError unless both have the
        same number of partitions; computing raises ValueError for partitions of different
        sizes."""
    def sample(self, with_replacement: bool, fraction: float, seed: int) -> Rdd:
        """Each record kept with probability ``fraction`` (with replacement: a
        Poisson(``fraction``) number of copies); the same seed gives the same sample."""
    def sample_range(self, lb: float, ub: float, seed: int) -> Rdd:
        """The records whose seeded draw falls in ``[lb, ub)``: ranges of one seed split the
        records disjointly (``randomSplit``)."""
    def sample_by_key(
        self, with_replacement: bool, fractions: list[tuple[Any, float]], seed: int
    ) -> Rdd:
        """``sampleByKey``: each ``(k, v)`` record kept with ``fractions``' fraction for ``k``,
        keys looked up as a dict looks them up (a job fails with ``KeyError`` for a key
        without one); Python-object keys are matched in bulk, per partition."""
    def cartesian(self, other: Rdd) -> Rdd:
        """Every pair; partition ``i * other_partitions + j`` pairs partitions ``i`` and ``j``."""
    def sort_by_key(self, ascending: bool, num_partitions: int, values_only: bool = False) -> Rdd:
        """``(k, v)`` records sorted stably by key with Python's ordering, range-partitioned
        (bounds from a sample of the keys: runs jobs now). An empty dataset is returned as it
        is. Keys with Python objects are ordered by Python, one call per partition. Raises
        TypeError for keys Python cannot order. With ``values_only`` the result holds only
        the values, in that order (``sortBy``), and has no partitioner."""
    def count_by_value(self) -> collections.defaultdict[Any, int]:
        """How many times each distinct record occurs (Python's equality), in first-seen
        order. Raises TypeError for an unhashable record."""
    def extreme(self, largest: bool) -> Optional[tuple[Any, ...]]:
        """``max()`` (or ``min()``) natively: ``(value,)``, ``()`` when there are no records,
        None when Python must compute it (Python objects, values it cannot order)."""
    def ordered(self, num: int, largest: bool) -> Optional[list[Any]]:
        """``top(num)`` (``largest``) or ``takeOrdered(num)`` natively, or None as above."""
    def sum(self, compensated: bool) -> Optional[tuple[Any]]:
        """``sum()`` natively: ``(total,)`` for ints and bools (exact) or floats (Neumaier's
        compensation when ``compensated``, as Python 3.12+), else None."""
    def stats(self) -> Optional[list[tuple[int, float, float, Any, Any]]]:
        """Per partition ``(n, mu, m2, max, min)`` as ``StatCounter.merge`` computes them
        (``max``/``min`` None when no value beat the initial infinities), or None when
        Python must compute them."""
    def histogram_range(self) -> tuple[Any, ...]:
        """``histogram(n)``'s range: ``("bounds", lo, hi)`` (Python's ``min`` and ``max``)
        or ``("empty",)`` (only None and NaN); Python objects ordered once per partition."""
    def histogram_counts(self, edges: list[Any]) -> list[int]:
        """Bucket counts for sorted ``edges`` (Python's ordering; None and NaN skipped);
        Python objects placed once per partition."""
    def reduce_partitions(
        self, expr: Any, zero: Optional[tuple[Any, ...]] = None
    ) -> Optional[list[Any]]:
        """``functools.reduce(f, partition[, zero])`` per partition for ``f`` given as its
        ``_analyze`` encoding: the results (none for an empty partition without zero), or
        None when a partition needs Python."""
    def save_as_text_file(self, path: str) -> None:
        """Hadoop layout: ``part-00000``... (one per partition, ``str(x)`` per line) and
        ``_SUCCESS``, written to a temporary directory and renamed into place.
        Raises FileExistsError if ``path`` exists."""

def read_checkpoint(
    directory: str,
) -> Optional[tuple[int, int, int, bytes, str, list[str]]]:
    """The newest intact checkpoint: ``(time_ms, batch_ms, zero_ms, graph_payload, path,
    skipped)``; ``graph_payload`` is what the program gave ``set_checkpoint_graph``, ``skipped``
    names damaged newer files passed over. None if there is none. Raises
    IllegalStateException naming the directory (and advising to delete it) for a checkpoint of
    an incompatible version."""

_ListenerCallback = Callable[[str, dict[str, Any]], None]

@final
class StreamingEngine:
    """The driver of a StreamingContext: DStream graph, batch clock and job scheduler.

    Streams are referred to by integer ids. Times are epoch milliseconds.
    """

    def __new__(cls, ctx: EngineContext, batch_ms: int, manual_clock: bool) -> StreamingEngine: ...
    def queue_stream(
        self, rdds: list[Rdd], one_at_a_time: bool, default: Optional[Rdd] = None
    ) -> int:
        """One queued RDD per batch (or all of them in the first batch), then ``default``
        (or an empty RDD with one partition) for every later batch."""
    def transform(
        self, parents: list[int], func: Callable[[int, list[Optional[Rdd]]], Optional[Rdd]]
    ) -> int:
        """A stream whose RDD at time t is ``func(t, [parent RDDs at t])``. Parents must share
        one slide duration."""
    def template(
        self,
        parents: list[int],
        plan: Rdd,
        func: Callable[[int, list[Optional[Rdd]]], Optional[Rdd]],
    ) -> int:
        """A transform planned once: ``plan``, built over ``Rdd.slot(ctx, i)`` for parent
        ``i``, is instantiated by the engine with the parents' RDDs of every batch; ``func``
        (the same transform) runs only when a parent has no RDD at that time. Raises
        ValueError when the plan depends on its inputs' data (sortByKey, zipWithIndex...)."""
    def persist_stream(self, stream: int) -> None:
        """``DStream.persist``: keep every RDD of ``stream`` once computed."""
    def union(self, parents: list[int]) -> int: ...
    def window(self, parent: int, window_ms: int, slide_ms: int) -> int:
        """The union of the parent's RDDs in ``(t - window, t]``, every ``slide_ms``.
        Raises ValueError (Spark's message) unless both are multiples of the parent's slide."""
    def state_stream(
        self,
        parent: int,
        update: Callable[[list[Any], Any], Any],
        update_expr: Optional[tuple[Any, ...]],
        num_partitions: int,
        initial: Optional[Rdd],
        description: str,
    ) -> int:
        """``updateStateByKey``: a keyed stream whose state the engine keeps, hash-partitioned
        into ``num_partitions``, across batches. ``update(new_values, old_state)`` runs for
        every key with a state or new values (natively when ``update_expr``, its proven form,
        is given); None removes the key. Needs a checkpoint directory."""
    def reduced_window_stream(
        self,
        parent: int,
        func: Callable[[Any, Any], Any],
        func_expr: Optional[tuple[Any, ...]],
        inv: Callable[[Any, Any], Any],
        inv_expr: Optional[tuple[Any, ...]],
        filter: Optional[Callable[[Any], bool]],
        filter_expr: Optional[tuple[Any, ...]],
        window_ms: int,
        slide_ms: int,
        num_partitions: int,
        description: str,
    ) -> int:
        """Incremental ``reduceByKeyAndWindow`` over ``parent``, a stream of ``(key, value)``
        pairs: the engine keeps the window's value per key, reducing in the batches that enter with
        ``func`` and taking out those that leave with ``inv`` (Spark's rules: recomputed from
        the window when it is shorter than five slides). Needs a checkpoint directory."""
    def text_file_stream(self, directory: str) -> int:
        """New files of a directory, as UTF-8 lines (Spark's FileInputDStream rules: mtime in
        ``[max(start, t - 60 s), t]``, not selected before; names starting with ``.``/``_``
        skipped). A missing directory fails ``start()`` naming it."""
    def binary_records_stream(self, directory: str, record_length: int) -> int:
        """Like text_file_stream, as ``bytes`` records of ``record_length`` bytes."""
    def kafka_direct_stream(
        self,
        params: list[tuple[str, str]],
        topics: list[str],
        from_offsets: list[tuple[str, int, int]],
        format: str,
        max_rate_per_partition: Optional[int],
        poll_timeout_ms: int,
    ) -> int:
        """A Kafka direct stream: offset ranges planned per batch, replayed after a restart;
        records in ``format`` ``"utf8"`` / ``"bytes"`` pairs or ``"messages"``."""
    def kafka_receiver_stream(
        self,
        params: list[tuple[str, str]],
        group: str,
        topics: list[str],
        format: str,
        restart_delay_ms: int = 2000,
        max_rate: Optional[int] = None,
    ) -> int:
        """A Kafka receiver consuming as consumer group ``group``; offsets are committed after
        the batch holding the records completed."""
    def kinesis_stream(
        self,
        settings: list[tuple[str, str]],
        format: str,
        restart_delay_ms: int = 2000,
        max_rate: Optional[int] = None,
    ) -> int:
        """A Kinesis receiver (``KinesisUtils.createStream``): every shard read, one partition
        per shard; positions of completed batches checkpointed to the DynamoDB table named by
        the ``app`` setting; records as ``"utf8"`` strings or ``"bytes"``."""
    def kafka_offset_ranges(
        self, stream: int, time_ms: int
    ) -> Optional[list[tuple[str, int, int, int]]]:
        """The offset ranges a Kafka direct stream's batch at ``time_ms`` read, while it is
        remembered."""
    def socket_text_stream(
        self,
        host: str,
        port: int,
        max_line_bytes: int = ...,
        restart_delay_ms: int = 2000,
        max_rate: Optional[int] = None,
    ) -> int:
        """A receiver of UTF-8 lines from a TCP server; reconnects after failures (reported as
        ``onReceiverError``); at most ``max_rate`` lines per second when given; a bounded
        buffer between batches (the receiver waits when it is full)."""
    def enable_backpressure(self, initial_rate: Optional[float] = None) -> None:
        """``spark.streaming.backpressure.enabled``: a PID estimator per input stream sets the
        rate its source reads at after every batch."""
    def set_checkpoint_dir(self, directory: Optional[str]) -> None: ...
    def set_checkpoint_graph(self, payload: bytes) -> None:
        """Enable checkpoints (the directory set with ``set_checkpoint_dir``): ``payload``
        (the pickled graph) is written once at start as ``graph-<n>``; after every batch the
        engine writes its metadata and input positions (``checkpoint-<t>``) and, at their
        checkpoint interval, keyed streams' state (``state-<stream>-<t>``)."""
    def set_checkpoint_interval(self, stream: int, interval_ms: int) -> None:
        """How often a keyed stream's state is checkpointed (a multiple of its slide)."""
    def recover(self, directory: str) -> int:
        """After the graph was rebuilt: put back the latest checkpoint of ``directory`` (state,
        replayed input batches, batch times); returns its batch time."""
    def foreach_rdd(self, stream: int, func: Callable[[int, Rdd], None], description: str) -> None:
        """Register an output operation; run in registration order every batch."""
    def remember(self, duration_ms: int) -> None: ...
    def slide_ms(self, stream: int) -> int: ...
    def slice(self, stream: int, begin_ms: int, end_ms: int) -> list[Rdd]:
        """The remembered RDDs of ``stream`` with ``begin_ms <= time <= end_ms``."""
    def set_listener(self, callback: _ListenerCallback) -> None:
        """``callback(event_name, info)`` for every StreamingListener event."""
    def start(self) -> None:
        """Validate the graph and start the batch clock."""
    def stop(self, graceful: bool) -> None: ...
    def check_window(
        self, parent: int, window_ms: int, slide_ms: Optional[int] = None
    ) -> tuple[int, int]:
        """``(window_ms, slide_ms)`` once both are multiples of the parent's slide (IllegalArgument-
        Exception otherwise); no ``slide_ms`` means the parent's slide."""
    def check_can_add(self) -> None:
        """IllegalStateException once the context has started or stopped."""
    def state(self) -> str:
        """``"INITIALIZED"``, ``"ACTIVE"`` or ``"STOPPED"``."""
    def await_termination(self, timeout_ms: Optional[int] = None) -> bool:
        """Wait (GIL released, Ctrl+C honoured) until stopped (True) or the timeout (False).
        Raises the first unreported batch error."""
    def clock_ms(self) -> int: ...
    def start_time_ms(self) -> int:
        """The zero time: one batch before the first batch time."""
    def advance_clock(self, ms: int) -> None:
        """Manual clock only: move time forward and wait until every batch that became due
        has finished (errors are kept for ``await_termination``)."""

def duration_ms(seconds: Any, name: str) -> int:
    """``seconds`` as whole milliseconds; Spark's IllegalArgumentException when it is None,
    NaN, infinite, zero or negative."""

def num_partitions(n: int) -> int:
    """``n`` when positive; Spark's IllegalArgumentException otherwise."""

def local_path(spec: str) -> str:
    """The local path named by a path or a ``file:``/``file://``/``file:///`` URL;
    IllegalArgumentException naming the scheme for any other URL (``hdfs://``, ``s3a://``)."""

def native_stats() -> dict[str, int]:
    """Counters since the last reset: ``native_partitions`` and ``fallback_partitions``
    (partitions that native steps computed themselves and that they handed to their Python
    fallback); ``blocks_fused``, ``blocks_to_python`` and ``blocks_to_rows`` (native blocks:
    partitions of text lines or Kafka records read into Arrow buffers, then read in place by
    fused native steps, turned into a Python step's input directly, or converted to rows);
    ``keyed_map_sides`` (shuffle map sides that built their ``(key, value)`` pairs natively and
    handed them to a keyed state's shuffle as key and value columns)."""

def reset_native_stats() -> None:
    """Set the counters of :func:`native_stats` to zero."""

def encode_partition(records: Any) -> bytes:
    """Records (any iterable) as one encoded partition (a worker's task output)."""

def decode_partition(data: bytes) -> list[Any]:
    """An encoded partition as a list of records (a worker's task input)."""

def host_exiting() -> None:
    """The interpreter is exiting: engine threads still alive stop calling into Python (their
    log records are dropped from now on)."""

def reset_log_cache() -> None:
    """Forget the Python logger levels cached by the engine's log bridge (engine ``log``
    records go to the ``ferrostream.*`` loggers); call after changing their levels."""
