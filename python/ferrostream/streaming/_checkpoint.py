"""Checkpoints of a StreamingContext, the facade's part: the DStream graph with its functions,
and how ``StreamingContext.getOrCreate`` rebuilds a context from a checkpoint directory.

The DStream graph is kept as a *recipe*: :class:`RecordingEngine` wraps the engine and records
every call that defines a stream or an output, with its arguments. Stream ids are handed out in
call order, so replaying the recipe on a new engine recreates the same graph with the same ids.
The recipe is pickled (cloudpickle) once, when the context starts -- a function that cannot be
pickled fails ``start()``, naming it -- and handed to the engine, which writes it once per start
(``graph-<n>``). Everything written per batch (input positions, the state of keyed streams at
their checkpoint interval) is written by the engine itself, typed, without Python; see
``src/engine/stream/recovery.rs``. The graph payload is a pickled dict::

    format       GRAPH_FORMAT, checked first when reading back
    ferrostream  version of the writer, python  "3.11"
    recipe       list of (method, call site, pickled call)
    remember_ms, conf, directory

Recovery replays the recipe on a new engine, then asks the engine to put back the latest
checkpoint (``StreamingEngine.recover``).
"""

from __future__ import annotations

import logging
import pickle
import sys
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

import cloudpickle  # type: ignore[import-untyped]

from ferrostream import _native
from ferrostream.errors import CapturedException, IllegalStateException, SparkException
from ferrostream.secrets import Secret, reveal
from ferrostream.streaming._funcs import plan_template, user_functions
from ferrostream.streaming.util import describe_function, user_callsite

if TYPE_CHECKING:
    from ferrostream.conf import SparkConf
    from ferrostream.streaming.context import StreamingContext

__all__ = [
    "GRAPH_FORMAT",
    "Checkpoint",
    "graph_payload",
    "NotSerializableException",
    "RecordingEngine",
    "encode_recipe",
    "read",
    "restore",
]

_log = logging.getLogger("ferrostream.streaming")

#: Version of the graph payload layout; a checkpoint with another one is refused.
GRAPH_FORMAT = 2

_QUEUE_MESSAGE = (
    "queueStream doesn't support checkpointing. Please don't use queueStream when "
    "checkpointing is enabled."
)
_ADVICE = "Delete the directory or point the program at another checkpoint directory."

# Settings that belong to one run of the program, not to the application.
_CONF_NOT_RECOVERED = (
    "spark.app.id",
    "spark.app.startTime",
    "spark.driver.host",
    "spark.driver.port",
)


class NotSerializableException(CapturedException, RuntimeError):
    """Spark's ``java.io.NotSerializableException``: a part of the DStream graph cannot be
    checkpointed or restored."""


# ------------------------------------------------------------------------------------------
# recording the graph


@dataclass
class Call:
    """One recorded engine call: ``method(*args)`` returned ``result``."""

    method: str
    args: tuple[Any, ...]
    result: Any
    site: str


class RecordingEngine:
    """The engine of a StreamingContext, recording the calls that define the DStream graph.

    Every other attribute is the native engine's own.
    """

    def __init__(self, engine: _native.StreamingEngine) -> None:
        self.native = engine
        self.calls: list[Call] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.native, name)

    def _call(self, method: str, *args: Any) -> Any:
        """``method(*args)`` on the engine, recorded. Settings lists (``(key, value)`` pairs)
        reach the engine with their secrets revealed and are recorded with the secrets, which
        pickle as their names only."""
        native_args = [reveal(a) if _is_settings(a) else a for a in args]
        result = getattr(self.native, method)(*native_args)
        self.calls.append(Call(method, args, result, user_callsite(method)))
        return result

    def queue_stream(
        self, rdds: list[_native.Rdd], one_at_a_time: bool, default: Optional[_native.Rdd]
    ) -> int:
        return int(self._call("queue_stream", rdds, one_at_a_time, default))

    def transform(
        self, parents: list[int], func: Callable[[int, list[Optional[_native.Rdd]]], Any]
    ) -> int:
        """A transformed stream. A transform made of RDD methods only (``map``,
        ``reduceByKey``, ``join``...) is planned here, once, and the engine instantiates the
        plan for every batch; any other runs ``func`` every batch. Recorded as ``transform``
        either way: a recovered graph is planned again the same way."""
        plan = plan_template(func, len(parents))
        if plan is None:
            return int(self._call("transform", list(parents), func))
        try:
            stream = int(self.native.template(list(parents), plan, func))
        except ValueError as exc:  # the plan depends on the data after all
            _log.debug("planning every batch: %s", exc)
            return int(self._call("transform", list(parents), func))
        self.calls.append(
            Call("transform", (list(parents), func), stream, user_callsite("transform"))
        )
        if getattr(func, "storage_level", None) is not None:
            self.native.persist_stream(stream)
        return stream

    def union(self, parents: list[int]) -> int:
        return int(self._call("union", list(parents)))

    def window(self, parent: int, window_ms: int, slide_ms: int) -> int:
        return int(self._call("window", parent, window_ms, slide_ms))

    def state_stream(
        self,
        parent: int,
        update: Callable[..., Any],
        update_expr: Any,
        num_partitions: int,
        initial: Optional[_native.Rdd],
        description: str,
    ) -> int:
        return int(
            self._call(
                "state_stream", parent, update, update_expr, num_partitions, initial, description
            )
        )

    def reduced_window_stream(self, parent: int, *args: Any) -> int:
        return int(self._call("reduced_window_stream", parent, *args))

    def text_file_stream(self, directory: str) -> int:
        return int(self._call("text_file_stream", directory))

    def binary_records_stream(self, directory: str, record_length: int) -> int:
        return int(self._call("binary_records_stream", directory, record_length))

    def socket_text_stream(
        self,
        host: str,
        port: int,
        max_line_bytes: int,
        restart_delay_ms: int,
        max_rate: int | None = None,
    ) -> int:
        return int(
            self._call("socket_text_stream", host, port, max_line_bytes, restart_delay_ms, max_rate)
        )

    def kafka_direct_stream(self, params: list[tuple[str, Any]], *args: Any) -> int:
        return int(self._call("kafka_direct_stream", params, *args))

    def kafka_receiver_stream(self, params: list[tuple[str, Any]], *args: Any) -> int:
        return int(self._call("kafka_receiver_stream", params, *args))

    def kinesis_stream(self, settings: list[tuple[str, Any]], *args: Any) -> int:
        return int(self._call("kinesis_stream", settings, *args))

    def foreach_rdd(self, stream: int, func: Callable[[int, Any], None], description: str) -> None:
        self._call("foreach_rdd", stream, func, description)

    def remember(self, duration_ms: int) -> None:
        self._call("remember", duration_ms)

    def set_checkpoint_interval(self, stream: int, interval_ms: int) -> None:
        self._call("set_checkpoint_interval", stream, interval_ms)

    @property
    def remember_ms(self) -> int | None:
        """The last ``remember`` duration set, if any."""
        for call in reversed(self.calls):
            if call.method == "remember":
                return int(call.args[0])
        return None


def _is_settings(arg: Any) -> bool:
    """Whether ``arg`` is a list of ``(key, value)`` settings that may hold secrets."""
    return isinstance(arg, list) and any(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Secret) for item in arg
    )


class _RddData:
    """An engine RDD inside a recipe: its partitions, collected when the context started."""

    __slots__ = ("partitions",)

    def __init__(self, partitions: list[list[Any]]) -> None:
        self.partitions = partitions


def _partitions(rdd: _native.Rdd) -> list[list[Any]]:
    return rdd.collect_partitions(list(range(rdd.num_partitions())))


def _frozen_args(call: Call) -> tuple[Any, ...]:
    """The arguments of ``call`` as stored: engine RDDs replaced by their data."""
    if call.method == "queue_stream":
        # As in Spark, a queue stream is checkpointed without its data (it only warns), and
        # cannot be recovered.
        return ()
    return tuple(_RddData(_partitions(a)) if isinstance(a, _native.Rdd) else a for a in call.args)


def _culprit(call: Call) -> str:
    """Name the user function of ``call`` that cannot be pickled."""
    for arg in call.args:
        for func in user_functions(arg):
            try:
                cloudpickle.dumps(func)
            except Exception:
                return f"the function {describe_function(func)}"
    return "an argument"


def encode_recipe(calls: list[Call], directory: str) -> bytes:
    """Pickle the recorded graph; raise SparkException naming the operation and function
    that cannot be pickled."""
    entries = []
    for call in calls:
        try:
            blob = cloudpickle.dumps(
                (call.method, _frozen_args(call), call.result), protocol=pickle.HIGHEST_PROTOCOL
            )
        except Exception as exc:
            reason = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
            raise SparkException(
                f"An exception was raised by Python:\n{reason}\n"
                "DStream checkpointing has been enabled but the DStreams with their functions "
                f"are not serializable: {_culprit(call)}, used by {call.site}, cannot be "
                f"pickled (cloudpickle) into the checkpoint directory {directory}."
            ) from exc
        entries.append((call.method, call.site, blob))
    return pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)


# ------------------------------------------------------------------------------------------
# writing


def graph_payload(
    recipe: bytes, remember_ms: int | None, conf: list[tuple[str, str]], directory: str
) -> bytes:
    """What the engine writes once per start as the graph file."""
    payload = {
        "format": GRAPH_FORMAT,
        "ferrostream": _native.__version__,
        "python": "{}.{}".format(*sys.version_info[:2]),
        "recipe": recipe,
        "remember_ms": remember_ms,
        "conf": conf,
        "directory": directory,
    }
    return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


# ------------------------------------------------------------------------------------------
# reading back


@dataclass
class Checkpoint:
    """A checkpoint read back (the newest intact one of a directory)."""

    directory: str
    path: str
    time_ms: int
    batch_ms: int
    zero_ms: int
    remember_ms: int | None
    conf: list[tuple[str, str]]
    calls: list[tuple[str, tuple[Any, ...], Any]] = field(default_factory=list)

    def spark_conf(self) -> SparkConf:
        """The checkpointed SparkConf, without the settings of the previous run only."""
        from ferrostream.conf import SparkConf

        pairs = [(k, v) for k, v in self.conf if k not in _CONF_NOT_RECOVERED]
        return SparkConf(loadDefaults=False).setAll(pairs)


def _unreadable(directory: str, path: str, why: str) -> IllegalStateException:
    return IllegalStateException(
        f"Failed to read checkpoint from directory {directory}: {path} cannot be used by this "
        f"program ({why}). It was written by another program or by an incompatible version "
        f"of it or of ferrostream. {_ADVICE}"
    )


def _reason(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def read(directory: str) -> Checkpoint | None:
    """The newest intact checkpoint in ``directory``, or None if there is none.

    Damaged newer files are skipped with a warning. A checkpoint this program cannot use
    raises IllegalStateException naming the directory; one holding a queue stream raises
    :class:`NotSerializableException` (as Spark does).
    """
    found = _native.read_checkpoint(directory)
    if found is None:
        return None
    time_ms, batch_ms, zero_ms, graph, path, skipped = found
    for damaged in skipped:
        _log.warning(
            "Checkpoint file %s is damaged and was skipped; falling back to %s", damaged, path
        )
    try:
        data = pickle.loads(graph)
    except Exception as exc:
        raise _unreadable(directory, path, _reason(exc)) from exc
    if not isinstance(data, dict) or "format" not in data:
        raise _unreadable(directory, path, "not a ferrostream streaming checkpoint")
    if data["format"] != GRAPH_FORMAT:
        raise _unreadable(
            directory,
            path,
            f"graph format {data['format']!r}, written by ferrostream "
            f"{data.get('ferrostream')}; this is ferrostream {_native.__version__}, which reads "
            f"format {GRAPH_FORMAT}",
        )
    try:
        entries = pickle.loads(data["recipe"])
        checkpoint = Checkpoint(
            directory=directory,
            path=path,
            time_ms=int(time_ms),
            batch_ms=int(batch_ms),
            zero_ms=int(zero_ms),
            remember_ms=data["remember_ms"],
            conf=list(data["conf"]),
        )
    except Exception as exc:
        raise _unreadable(directory, path, _reason(exc)) from exc
    for method, site, blob in entries:
        if method == "queue_stream":
            raise NotSerializableException(_QUEUE_MESSAGE)
        try:
            checkpoint.calls.append(pickle.loads(blob))
        except Exception as exc:
            why = f"the {method} of {site} cannot be unpickled: {_reason(exc)}"
            raise _unreadable(directory, path, why) from exc
    return checkpoint


def restore(ssc: StreamingContext, checkpoint: Checkpoint) -> None:
    """Rebuild the graph of ``checkpoint`` on the new context ``ssc``, then have the engine put
    back its data: keyed streams' state, input positions and snapshots, batch times."""
    engine = ssc._engine
    ectx = ssc._sc._ectx

    def thaw(arg: Any) -> Any:
        if isinstance(arg, _RddData):
            return _native.Rdd.from_partitions(ectx, arg.partitions)
        return arg

    for method, args, result in checkpoint.calls:
        got = getattr(engine, method)(*(thaw(a) for a in args))
        if got != result:
            raise _unreadable(
                checkpoint.directory,
                checkpoint.path,
                f"rebuilding the graph gave stream {got} where the checkpoint has {result}",
            )
        if method == "foreach_rdd":
            ssc._num_outputs += 1
    engine.recover(checkpoint.directory)
    _log.info(
        "Restored the StreamingContext from %s (batch %d ms); batches resume at %d ms",
        checkpoint.path,
        checkpoint.time_ms,
        checkpoint.time_ms + checkpoint.batch_ms,
    )
