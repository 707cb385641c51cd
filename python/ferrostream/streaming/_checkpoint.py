"""Metadata checkpoints of a StreamingContext: what is written after every batch, and how a
context is rebuilt from it by ``StreamingContext.getOrCreate``.

The DStream graph is kept as a *recipe*: :class:`RecordingEngine` wraps the engine and records
every call that defines a stream or an output, with its arguments. Stream ids are handed out in
call order, so replaying the recipe on a new engine recreates the same graph with the same ids.
The recipe is pickled (cloudpickle) once, when the context starts; a function that cannot be
pickled fails ``start()``, naming it.

After every batch the engine calls :class:`CheckpointWriter`, whose payload (pickled with
cloudpickle) is a dict::

    format       PAYLOAD_FORMAT, checked first when reading back
    ferrostream  version of the writer, python  "3.11"
    recipe       list of (method, call site, pickled call) -- the graph
    fingerprint  sha256 of the pickled recipe (checked when reading back)
    batch_ms, zero_ms, time_ms (the batch checkpointed), remember_ms, conf, directory
    streams      [{"stream": id, "rdds": [(t, partitions)], "positions": [(t, position)],
                   "snapshot": object}] -- the engine's checkpoint_state(): state RDDs
                   (collected) of recurrent streams, and the replay positions and own state
                   of input streams

The engine writes the payload atomically with a checksum, keeping the newest 5 files, and
``read_checkpoint`` passes over damaged newer files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import traceback
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

import cloudpickle  # type: ignore[import-untyped]

from ferrostream import _native
from ferrostream.errors import CapturedException, IllegalStateException, SparkException
from ferrostream.streaming._funcs import user_functions
from ferrostream.streaming.util import user_callsite

if TYPE_CHECKING:
    from ferrostream.conf import SparkConf
    from ferrostream.streaming.context import StreamingContext

__all__ = [
    "PAYLOAD_FORMAT",
    "Checkpoint",
    "CheckpointWriter",
    "NotSerializableException",
    "RecordingEngine",
    "encode_recipe",
    "read",
    "restore",
]

_log = logging.getLogger("ferrostream.streaming")

#: Version of the payload layout; a checkpoint with another one is refused.
PAYLOAD_FORMAT = 1

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
        result = getattr(self.native, method)(*args)
        self.calls.append(Call(method, args, result, user_callsite(method)))
        return result

    def queue_stream(
        self, rdds: list[_native.Rdd], one_at_a_time: bool, default: Optional[_native.Rdd]
    ) -> int:
        return int(self._call("queue_stream", rdds, one_at_a_time, default))

    def transform(
        self, parents: list[int], func: Callable[[int, list[Optional[_native.Rdd]]], Any]
    ) -> int:
        return int(self._call("transform", list(parents), func))

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
        self, host: str, port: int, max_line_bytes: int, restart_delay_ms: int
    ) -> int:
        return int(self._call("socket_text_stream", host, port, max_line_bytes, restart_delay_ms))

    def foreach_rdd(self, stream: int, func: Callable[[int, Any], None], description: str) -> None:
        self._call("foreach_rdd", stream, func, description)

    def remember(self, duration_ms: int) -> None:
        self._call("remember", duration_ms)

    @property
    def remember_ms(self) -> int | None:
        """The last ``remember`` duration set, if any."""
        for call in reversed(self.calls):
            if call.method == "remember":
                return int(call.args[0])
        return None


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


def _describe(func: Any) -> str:
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    module = getattr(func, "__module__", None)
    where = f"{module}.{name}" if module and module != "__main__" else str(name)
    code = getattr(func, "__code__", None)
    if code is not None:
        where += f" ({os.path.basename(code.co_filename)}:{code.co_firstlineno})"
    return where


def _culprit(call: Call) -> str:
    """Name the user function of ``call`` that cannot be pickled."""
    for arg in call.args:
        for func in user_functions(arg):
            try:
                cloudpickle.dumps(func)
            except Exception:
                return f"the function {_describe(func)}"
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


class CheckpointWriter:
    """The engine's checkpoint hook: ``writer(batch_ms)`` is the payload of that batch."""

    def __init__(
        self, ssc: StreamingContext, recipe: bytes, conf: list[tuple[str, str]], directory: str
    ) -> None:
        # Weak: the engine holds this hook, and must not be kept alive by it.
        self._ssc = weakref.ref(ssc)
        self._recipe = recipe
        self._fingerprint = hashlib.sha256(recipe).hexdigest()
        self._conf = conf
        self._directory = directory

    def __call__(self, time_ms: int) -> bytes:
        ssc = self._ssc()
        if ssc is None:
            raise IllegalStateException("the StreamingContext is gone")
        engine = ssc._engine
        streams = [
            {
                "stream": int(state["stream"]),
                "rdds": [(int(t), _partitions(rdd)) for t, rdd in state["rdds"]],
                "positions": [(int(t), p) for t, p in state["positions"]],
                "snapshot": state["snapshot"],
            }
            for state in engine.checkpoint_state()
        ]
        payload = {
            "format": PAYLOAD_FORMAT,
            "ferrostream": _native.__version__,
            "python": "{}.{}".format(*sys.version_info[:2]),
            "fingerprint": self._fingerprint,
            "recipe": self._recipe,
            "batch_ms": ssc._batch_ms,
            "zero_ms": int(engine.start_time_ms()),
            "time_ms": int(time_ms),
            "remember_ms": engine.remember_ms,
            "conf": self._conf,
            "directory": self._directory,
            "streams": streams,
        }
        return bytes(cloudpickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


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
    calls: list[tuple[str, tuple[Any, ...], Any]]
    streams: list[dict[str, Any]] = field(default_factory=list)

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
    time_ms, payload, path, skipped = found
    for damaged in skipped:
        _log.warning(
            "Checkpoint file %s is damaged and was skipped; falling back to %s", damaged, path
        )
    try:
        data = pickle.loads(payload)
    except Exception as exc:
        raise _unreadable(directory, path, _reason(exc)) from exc
    if not isinstance(data, dict) or "format" not in data:
        raise _unreadable(directory, path, "not a ferrostream streaming checkpoint")
    if data["format"] != PAYLOAD_FORMAT:
        raise _unreadable(
            directory,
            path,
            f"checkpoint payload format {data['format']!r}, written by ferrostream "
            f"{data.get('ferrostream')}; this is ferrostream {_native.__version__}, which reads "
            f"format {PAYLOAD_FORMAT}",
        )
    try:
        recipe: bytes = data["recipe"]
        if hashlib.sha256(recipe).hexdigest() != data["fingerprint"]:
            raise _unreadable(directory, path, "the graph does not match its fingerprint")
        entries = pickle.loads(recipe)
        checkpoint = Checkpoint(
            directory=directory,
            path=path,
            time_ms=int(data["time_ms"]),
            batch_ms=int(data["batch_ms"]),
            zero_ms=int(data["zero_ms"]),
            remember_ms=data["remember_ms"],
            conf=list(data["conf"]),
            calls=[],
            streams=list(data["streams"]),
        )
    except IllegalStateException:
        raise
    except Exception as exc:
        raise _unreadable(directory, path, _reason(exc)) from exc
    if checkpoint.time_ms != time_ms:
        raise _unreadable(directory, path, "the batch time does not match the file")
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
    """Rebuild the graph of ``checkpoint`` on the new context ``ssc`` and put back its data:
    state RDDs, input positions and snapshots, and the batch times."""
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
    try:
        for state in checkpoint.streams:
            stream = state["stream"]
            for t, parts in state["rdds"]:
                engine.restore_rdd(stream, t, _native.Rdd.from_partitions(ectx, parts))
            if state["snapshot"] is not None:
                engine.restore_snapshot(stream, state["snapshot"])
            for t, position in state["positions"]:
                engine.restore_position(stream, t, position)
    except (ValueError, TypeError, KeyError) as exc:
        raise _unreadable(checkpoint.directory, checkpoint.path, _reason(exc)) from exc
    engine.restore_times(checkpoint.zero_ms, checkpoint.time_ms)
    _log.info(
        "Restored the StreamingContext from %s (batch %d ms); batches resume at %d ms",
        checkpoint.path,
        checkpoint.time_ms,
        checkpoint.time_ms + checkpoint.batch_ms,
    )
