"""StreamingContext: the entry point of DStream programs."""

from __future__ import annotations

import logging
import math
import os
import threading
import traceback
import warnings
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from ferrostream import _html, _native, _tracebacks
from ferrostream.errors import (
    IllegalArgumentException,
    IllegalStateException,
    SparkException,
)
from ferrostream.streaming import _checkpoint
from ferrostream.streaming._funcs import OutputRunner, TupleArgs
from ferrostream.streaming.dstream import DStream, MultiTransformedDStream
from ferrostream.streaming.listener import ListenerBus, StreamingListener
from ferrostream.streaming.util import (
    duration_ms,
    is_sequence_input,
    rdd_class,
    require_callable,
    unwrap_rdd,
)

if TYPE_CHECKING:
    from ferrostream import RDD, SparkContext

__all__ = ["StreamingContext"]

_log = logging.getLogger("ferrostream.streaming")

_MANUAL_CLOCKS = ("org.apache.spark.util.manualclock", "manual")

_DEPRECATION = "DStream is deprecated as of Spark 3.4.0. Migrate to Structured Streaming."


class StreamingContext:
    """Main entry point for Spark Streaming functionality.

    A StreamingContext represents the connection to the engine for one streaming program;
    it creates input DStreams and runs their batches every ``batchDuration`` seconds.

    Parameters
    ----------
    sparkContext : SparkContext
        The SparkContext the batch RDDs belong to.
    batchDuration : int or float
        The batch interval in seconds (fractions allowed, e.g. ``0.5``).
    jssc : optional
        Used by :meth:`getOrCreate` only: the checkpoint a context is recovered from.
    """

    _activeContext: ClassVar[StreamingContext | None] = None
    _transformerSerializer: ClassVar[Any] = None
    _lock: ClassVar[threading.RLock] = threading.RLock()

    def __init__(
        self, sparkContext: SparkContext, batchDuration: float | None = None, jssc: Any = None
    ):
        warnings.warn(_DEPRECATION, FutureWarning, stacklevel=2)
        # As Spark: a stopped SparkContext is refused before anything else is looked at.
        sparkContext._check_alive()
        recovered = jssc if isinstance(jssc, _checkpoint.Checkpoint) else None
        if recovered is not None:
            batch_ms = recovered.batch_ms
        else:
            batch_ms = duration_ms(batchDuration, "batchDuration")
        self._sc = sparkContext
        self._batch_ms = batch_ms
        self._manual_clock = _uses_manual_clock(sparkContext)
        native = _native.StreamingEngine(sparkContext._ectx, batch_ms, self._manual_clock)
        # Records the calls that define the graph: checkpoints replay them on recovery.
        self._engine = _checkpoint.RecordingEngine(native)
        self._dstreams: list[DStream[Any]] = []
        self._num_outputs = 0
        self._has_queue_stream = False
        self._queue_warned = False
        self._checkpoint_dir: str | None = None
        self._listener_bus: ListenerBus | None = None
        self._start_site: str | None = None
        self._recovered_from: str | None = None
        if recovered is not None:
            self._recover(recovered)

    def _repr_html_(self) -> str:
        return _html.streaming_html(self)

    def __reduce__(self) -> Any:
        # Spark's CONTEXT_ONLY_VALID_ON_DRIVER error, raised by the SparkContext's own
        # __reduce__: a function referencing the StreamingContext cannot be checkpointed.
        return self._sc.__reduce__()

    # ----------------------------------------------------------------------------------
    # class-level helpers

    @classmethod
    def getOrCreate(
        cls, checkpointPath: str, setupFunc: Callable[[], StreamingContext]
    ) -> StreamingContext:
        """Recreate a StreamingContext from checkpoint data in ``checkpointPath``, or, when
        there is none, create one with ``setupFunc()`` and enable checkpointing to
        ``checkpointPath``.

        A recovered context has the checkpointed graph, batch interval and state, and goes on
        with the batch after the checkpointed one (batches missed while the program was down
        run first); ``setupFunc`` is not called. It uses the active SparkContext, or a new one
        made from the checkpointed configuration. Damaged newer checkpoint files are skipped
        with a warning.

        Parameters
        ----------
        checkpointPath : str
            Checkpoint directory used in a previous run of the program.
        setupFunc : function
            Function that creates a new StreamingContext and sets up its DStreams.

        Raises
        ------
        IllegalStateException
            When the checkpoint was written by an incompatible program or ferrostream
            version: delete the directory or use another one.
        """
        if not callable(setupFunc):
            raise TypeError("setupFunc should be callable.")
        path = _local_path(os.fspath(checkpointPath))
        checkpoint = _checkpoint.read(path)
        if checkpoint is not None:
            from ferrostream.context import SparkContext

            sc = SparkContext._active_spark_context
            if sc is None:
                sc = SparkContext(conf=checkpoint.spark_conf())
            return cls(sc, None, checkpoint)
        ssc = setupFunc()
        if not isinstance(ssc, StreamingContext):
            raise TypeError(f"setupFunc should return a StreamingContext, got {type(ssc).__name__}")
        ssc.checkpoint(checkpointPath)
        return ssc

    @classmethod
    def getActive(cls) -> StreamingContext | None:
        """Return the active (started and not stopped) StreamingContext, or None."""
        with cls._lock:
            active = cls._activeContext
            if active is not None and active._engine.state() != "ACTIVE":
                cls._activeContext = None
                active = None
            return active

    @classmethod
    def getActiveOrCreate(
        cls, checkpointPath: str | None, setupFunc: Callable[[], StreamingContext]
    ) -> StreamingContext:
        """Return the active StreamingContext if there is one; otherwise
        ``getOrCreate(checkpointPath, setupFunc)``, or ``setupFunc()`` when
        ``checkpointPath`` is None."""
        if not callable(setupFunc):
            raise TypeError("setupFunc should be callable.")
        active = cls.getActive()
        if active is not None:
            return active
        if checkpointPath is not None:
            return cls.getOrCreate(checkpointPath, setupFunc)
        return setupFunc()

    # ----------------------------------------------------------------------------------
    # lifecycle

    @property
    def sparkContext(self) -> SparkContext:
        """The SparkContext of this StreamingContext."""
        return self._sc

    def start(self) -> None:
        """Start the execution of the streams."""
        cls = type(self)
        with cls._lock:
            if self._state == "STOPPED":
                raise IllegalStateException("StreamingContext has already been stopped")
            if self._state == "ACTIVE":
                _log.warning("StreamingContext has already been started")
                return
            active = cls.getActive()
            if active is not None and active is not self:
                raise IllegalStateException(
                    "Only one StreamingContext may be started in this JVM. Currently running "
                    f"StreamingContext was started at{active._start_site or ''}"
                )
            if self._num_outputs == 0:
                raise IllegalArgumentException(
                    "requirement failed: No output operations registered, so nothing to execute"
                )
            for dstream in self._dstreams:
                dstream._validate_at_start()
            if self._has_queue_stream and self._checkpoint_dir is not None:
                self._warn_queue_checkpointing()
            self._apply_checkpoint_dir()
            self._install_checkpoint_writer()
            self._apply_backpressure()
            _html.attach(self)  # the last batches for _repr_html_, progress lines
            self._engine.start()
            self._start_site = "\n" + "".join(traceback.format_stack()[:-1][-8:])
            cls._activeContext = self

    def _apply_checkpoint_dir(self) -> None:
        """Give the engine the checkpoint directory: this context's, else the SparkContext's
        (``sc.setCheckpointDir`` also satisfies the stateful streams, as in Spark)."""
        directory = self._checkpoint_dir
        if directory is None:
            get_dir = getattr(self._sc, "getCheckpointDir", None)
            directory = get_dir() if get_dir is not None else None
        self._engine.set_checkpoint_dir(directory)

    def _install_checkpoint_writer(self) -> None:
        """With ``checkpoint(directory)`` set, pickle the graph (a function that cannot be
        pickled fails here, naming it) and hand it to the engine, which writes it once and
        checkpoints positions and state itself."""
        directory = self._checkpoint_dir
        if directory is None:
            return
        recipe = _checkpoint.encode_recipe(self._engine.calls, directory)
        conf = self._sc.getConf().getAll()
        payload = _checkpoint.graph_payload(recipe, self._engine.remember_ms, conf, directory)
        self._engine.set_checkpoint_graph(payload)

    def _apply_backpressure(self) -> None:
        """``spark.streaming.backpressure.enabled``: the engine estimates after every batch
        how fast each input is processed and its sources read no faster."""
        conf = self._sc.getConf()
        if conf.get("spark.streaming.backpressure.enabled", "false").lower() != "true":
            return
        initial = conf.get("spark.streaming.backpressure.initialRate")
        self._engine.enable_backpressure(float(initial) if initial else None)

    def _recover(self, checkpoint: _checkpoint.Checkpoint) -> None:
        """Rebuild the checkpointed graph and state on this new context."""
        _checkpoint.restore(self, checkpoint)
        if self._manual_clock:
            # As Spark's JobGenerator does on restart: the manual clock jumps to the
            # checkpointed time (plus spark.streaming.manualClock.jump).
            jump = int(self._sc.getConf().get("spark.streaming.manualClock.jump", "0"))
            target = checkpoint.time_ms + jump
            now = int(self._engine.clock_ms())
            if target > now:
                self._engine.advance_clock(target - now)
        self.checkpoint(checkpoint.directory)
        self._recovered_from = checkpoint.path

    def awaitTermination(self, timeout: float | None = None) -> None:
        """Wait until the context is stopped or a batch fails (the failure is raised).

        With ``timeout`` (seconds), return after at most that long.
        """
        __tracebackhide__ = True
        self._await(timeout)

    def awaitTerminationOrTimeout(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds; return True if the context stopped, False on
        timeout. A failed batch is raised."""
        return self._await(timeout)

    def _await(self, timeout: float | None) -> bool:
        timeout_ms = _timeout_ms(timeout)
        try:
            return bool(self._engine.await_termination(timeout_ms))
        except KeyboardInterrupt:
            _log.warning("interrupted: stopping the StreamingContext")
            self.stop(stopSparkContext=False)
            raise
        except SparkException as exc:
            __tracebackhide__ = True  # IPython and pytest hide waiting frames but the last
            # The user's exception once, with the user's frames (see _tracebacks).
            raise _tracebacks.batch_failure(exc)  # noqa: B904 (its cause is set)

    def stop(self, stopSparkContext: bool = True, stopGraceFully: bool = False) -> None:
        """Stop the execution of the streams, after the running batches when
        ``stopGraceFully``; also stop the SparkContext unless ``stopSparkContext`` is False.
        Stopping twice does nothing more."""
        cls = type(self)
        with cls._lock:
            previous = self._state
            if cls._activeContext is self:
                cls._activeContext = None
        if previous == "STOPPED":
            _log.warning("StreamingContext has already been stopped")
        else:
            if previous == "INITIALIZED":
                _log.warning("StreamingContext has not been started yet")
            # Outside the lock: this waits for the running batch, whose code may itself
            # call getActive() or stop().
            self._engine.stop(bool(stopGraceFully))
        if stopSparkContext:
            self._sc.stop()

    def remember(self, duration: float) -> None:
        """Keep the RDDs of every DStream for at least ``duration`` seconds (for ``slice``
        and for inspecting past batches)."""
        self._engine.remember(duration_ms(duration, "duration"))

    def checkpoint(self, directory: str | None) -> None:
        """Enable checkpointing: after every batch, the DStream graph (with its functions,
        pickled with cloudpickle), the state of stateful streams and the positions of file
        streams are saved in ``directory``, from which :meth:`getOrCreate` recovers the
        context after a failure. Also sets the SparkContext's checkpoint directory.

        The directory is created if missing; ``start()`` fails, naming it, when it cannot be
        created or written. ``None`` disables checkpointing.

        Parameters
        ----------
        directory : str
            A local directory (``file://`` URLs are accepted).
        """
        if directory is None:
            self._checkpoint_dir = None
            return
        path = _local_path(os.fspath(directory))
        self._checkpoint_dir = path
        try:
            os.makedirs(path, exist_ok=True)
            set_dir = getattr(self._sc, "setCheckpointDir", None)
            if set_dir is not None:
                set_dir(path)
        except OSError as exc:
            # start() reports it: the engine checks the directory can be created and written.
            _log.debug("cannot create the checkpoint directory %s yet: %s", path, exc)

    # ----------------------------------------------------------------------------------
    # inputs

    def socketTextStream(self, hostname: str, port: int, storageLevel: Any = None) -> DStream[str]:
        """Create a DStream of the UTF-8 lines received from a TCP server.

        A receiver connects to ``hostname:port`` and splits what it receives on ``\\n`` (a
        trailing ``\\r`` is removed); each batch holds the lines received during its interval.
        If the server is not up yet or goes away, the receiver reconnects every
        ``spark.streaming.receiverRestartDelay`` ms (default 2000), reporting each failure to
        ``StreamingListener.onReceiverError`` and the log, and the context keeps running.
        Invalid UTF-8 is replaced (and counted in the log); a line longer than
        ``spark.ferrostream.socket.maxLineBytes`` (default 64 MiB) is reported and dropped.

        Parameters
        ----------
        hostname : str
            Host to connect to.
        port : int
            Port to connect to.
        storageLevel : StorageLevel, optional
            Accepted for compatibility; received lines are kept in memory.
        """
        if not isinstance(hostname, str):
            raise TypeError(f"hostname should be a str, got {type(hostname).__name__}")
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"port should be an int, got {type(port).__name__}")
        self._check_can_add()
        conf = self._sc.getConf()
        max_line = int(conf.get("spark.ferrostream.socket.maxLineBytes", str(64 << 20)))
        delay = int(conf.get("spark.streaming.receiverRestartDelay", "2000"))
        max_rate = int(conf.get("spark.streaming.receiver.maxRate", "0"))
        stream_id = self._engine.socket_text_stream(
            hostname, port, max_line, delay, max_rate if max_rate > 0 else None
        )
        return DStream(self, stream_id)

    def textFileStream(self, directory: str) -> DStream[str]:
        """Create a DStream of the lines of new files appearing in ``directory``.

        Each batch reads the files whose modification time is at most the batch time and
        that no earlier batch read (files older than the context's start, or than 60 s before
        the batch, are ignored, as in Spark). Names starting with ``.`` or ``_`` are skipped:
        write files elsewhere (or under such a name) and move them in when complete.
        ``file://`` URLs are accepted. A missing directory fails ``start()``, naming it.
        """
        self._check_can_add()
        stream_id = self._engine.text_file_stream(_directory_arg(directory))
        return DStream(self, stream_id)

    def binaryRecordsStream(self, directory: str, recordLength: int) -> DStream[bytes]:
        """Create a DStream of fixed-length ``bytes`` records of new files in ``directory``.

        Files are picked up as in :meth:`textFileStream`. A file whose length is not a
        multiple of ``recordLength`` fails that batch with an error naming it.
        """
        if isinstance(recordLength, bool) or not isinstance(recordLength, int):
            raise TypeError(f"recordLength should be an int, got {type(recordLength).__name__}")
        self._check_can_add()
        stream_id = self._engine.binary_records_stream(_directory_arg(directory), recordLength)
        return DStream(self, stream_id)

    def queueStream(
        self, rdds: list[Any], oneAtATime: bool = True, default: Any = None
    ) -> DStream[Any]:
        """Create a DStream from a list of RDDs (or of plain lists, which are parallelized).

        One RDD is used per batch (all of them in the first batch when ``oneAtATime`` is
        False); afterwards every batch gets ``default``, or an empty RDD. Changes made to
        ``rdds`` later are not seen.
        """
        self._check_can_add()
        plans = [self._to_engine_rdd(item, f"rdds[{i}]") for i, item in enumerate(rdds)]
        jdefault = None if default is None else self._to_engine_rdd(default, "default")
        stream_id = self._engine.queue_stream(plans, bool(oneAtATime), jdefault)
        self._has_queue_stream = True
        if self._checkpoint_dir is not None:
            self._warn_queue_checkpointing()
        return DStream(self, stream_id)

    def _warn_queue_checkpointing(self) -> None:
        if not self._queue_warned:
            self._queue_warned = True
            _log.warning(
                "queueStream doesn't support checkpointing. Please don't use queueStream when "
                "checkpointing is enabled."
            )

    def _to_engine_rdd(self, item: Any, where: str) -> _native.Rdd:
        rdd_type = rdd_class()
        if isinstance(item, rdd_type):
            plan = unwrap_rdd(item, where)
            assert plan is not None
            return plan
        if is_sequence_input(item):
            parallelized = self._sc.parallelize(list(item))
            plan = unwrap_rdd(parallelized, "parallelize")
            assert plan is not None
            return plan
        raise TypeError(
            f"queueStream: {where} should be an RDD or a list, got {type(item).__name__}: {item!r}"
        )

    # ----------------------------------------------------------------------------------
    # combining streams

    def union(self, *dstreams: DStream[Any]) -> DStream[Any]:
        """Create a DStream with the elements of all given DStreams (same slide duration)."""
        if not dstreams:
            raise ValueError("should have at least one DStream to union")
        for d in dstreams:
            if not isinstance(d, DStream):
                raise TypeError(f"union expects DStreams, got {type(d).__name__}")
        if len(dstreams) == 1:
            return dstreams[0]
        # Checked here too: streams of another context have ids the engine cannot see.
        if len({d._slideDuration for d in dstreams}) > 1:
            raise ValueError("All DStreams should have same slide duration")
        self._check_can_add()
        stream_id = self._engine.union([d._engine_id for d in dstreams])
        return DStream(self, stream_id)

    def transform(
        self, dstreams: list[DStream[Any]], transformFunc: Callable[[tuple[Any, ...]], RDD[Any]]
    ) -> DStream[Any]:
        """Create a DStream whose RDD of each batch is ``transformFunc(rdds)``, where ``rdds``
        is the tuple of the batch RDDs of ``dstreams``."""
        require_callable(transformFunc, "transform: transformFunc")
        streams = list(dstreams)
        if not streams:
            raise ValueError("should have at least one DStream to transform")
        for d in streams:
            if not isinstance(d, DStream):
                raise TypeError(f"transform expects DStreams, got {type(d).__name__}")
        return MultiTransformedDStream(self, streams, TupleArgs(transformFunc))

    def addStreamingListener(self, streamingListener: StreamingListener) -> None:
        """Register a :class:`StreamingListener` to receive the events of this context."""
        if self._listener_bus is None:
            self._listener_bus = ListenerBus()
            self._engine.set_listener(self._listener_bus)
        self._listener_bus.add(streamingListener)

    # ----------------------------------------------------------------------------------
    # internals used by DStream

    def _register_dstream(self, dstream: DStream[Any]) -> None:
        self._dstreams.append(dstream)

    @property
    def _state(self) -> str:
        """``INITIALIZED``, ``ACTIVE`` or ``STOPPED``, as the engine has it."""
        return str(self._engine.state())

    def _check_can_add(self) -> None:
        # The engine's check, called first so that its error comes before any other.
        self._engine.check_can_add()

    def _register_output(
        self,
        dstream: DStream[Any],
        func: Callable[[Any, Any], Any],
        description: str,
        raw_time: bool = False,
    ) -> None:
        """Register ``func(time, rdd)`` to run on every batch of ``dstream``. ``time`` is a
        ``datetime``, or the epoch ms when ``raw_time``."""
        self._check_can_add()
        stream_id = dstream._engine_id
        self._engine.foreach_rdd(stream_id, OutputRunner(func, raw_time), description)
        self._num_outputs += 1


def _local_path(path: str) -> str:
    """A local path from a path or a ``file:`` URL (the engine's parser)."""
    return _native.local_path(path)


def _timeout_ms(timeout: float | None) -> int | None:
    """A wait's timeout in ms: None or infinite waits for ever, a negative one not at all."""
    if timeout is None:
        return None
    seconds = float(timeout)
    if math.isnan(seconds):
        raise IllegalArgumentException("requirement failed: timeout must be a number, got nan")
    if seconds * 1000 >= 2**62:
        return None
    return max(0, int(seconds * 1000))


def _directory_arg(directory: Any) -> str:
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory should be a str, got {type(directory).__name__}")
    return os.fspath(directory)


def _uses_manual_clock(sc: Any) -> bool:
    try:
        clock = sc.getConf().get("spark.streaming.clock")
    except Exception:
        return False
    return isinstance(clock, str) and clock.strip().lower() in _MANUAL_CLOCKS
