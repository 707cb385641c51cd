"""A Python worker process: runs the Python functions of one SparkContext's tasks.

Started by the engine as ``python -m ferrostream._worker`` (see :mod:`ferrostream._workers`),
it connects to the driver over the Unix socket named by ``FERROSTREAM_WORKER_SOCKET`` and
answers frames until the driver closes the socket: a function (pickled once, kept by id) and
tasks (an encoded partition in, the function's output encoded back, with what the task printed
and its accumulator updates). The frame layout is documented in the engine's
``src/engine/exec/process.rs``. Records are decoded and encoded by the native module, one
partition at a time; this loop only moves frames.
"""

from __future__ import annotations

import gc
import io
import itertools
import os
import pickle
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from typing import Any, BinaryIO, cast

FN, TASK, SHARED, FORGET = 1, 2, 3, 4
READY, DONE, FAILED = 10, 11, 12
NO_LIMIT = 2**64 - 1
_HEAD = struct.Struct("<QB")
_TASK = struct.Struct("<QIQ")
_SIZE = struct.Struct("<I")


def _watch_driver(driver: int) -> None:
    """Exit as soon as the driver is gone (also when it was killed)."""
    while True:
        if os.getppid() != driver:
            os._exit(1)
        time.sleep(0.2)


def _send(w: BinaryIO, kind: int, *parts: bytes) -> None:
    w.write(_HEAD.pack(1 + sum(len(p) for p in parts), kind))
    for p in parts:
        w.write(p)
    w.flush()


def _sized(b: bytes) -> bytes:
    return _SIZE.pack(len(b)) + b


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _user_traceback(e: BaseException) -> str:
    """The traceback of ``e`` with the user's frames only (ferrostream's own are left out);
    the whole traceback when ``e`` is chained or has no user frame."""
    frames = [
        f
        for f in traceback.extract_tb(e.__traceback__)
        if not os.path.abspath(f.filename).startswith(_PACKAGE)
    ]
    if not frames or e.__cause__ is not None or e.__context__ is not None:
        return "".join(traceback.format_exception(type(e), e, e.__traceback__))
    return (
        "Traceback (most recent call last):\n"
        + "".join(traceback.StackSummary.from_list(frames).format())
        + "".join(traceback.format_exception_only(type(e), e))
    )


def _pickle_exception(e: BaseException) -> bytes:
    import cloudpickle  # type: ignore[import-untyped]

    try:
        data: bytes = cloudpickle.dumps(e)
        pickle.loads(data)  # an exception that pickles but cannot be rebuilt
        return data
    except Exception:
        return pickle.dumps(RuntimeError(f"{type(e).__module__}.{type(e).__qualname__}: {e}"))


def _run(fn: Any, split: int, limit: int, data: bytes, native: Any, w: BinaryIO) -> None:
    from ferrostream import accumulators

    printed = io.StringIO()
    stdout = sys.stdout
    sys.stdout = printed
    try:
        if isinstance(fn, BaseException):
            raise fn
        out = fn(split, iter(native.decode_partition(data)))
        if out is None:
            out = ()
        if limit != NO_LIMIT:
            out = itertools.islice(out, limit)
        out = list(out)  # the function's own errors surface here, as the user's
        try:
            encoded = native.encode_partition(out)
        except Exception as e:
            why = e.__cause__ or e  # the codec's own error, not the engine's wrapper
            raise pickle.PicklingError(
                f"a task's output could not be sent back to the driver: {type(why).__name__}: {why}"
            ) from e
    except BaseException as e:
        sys.stdout = stdout
        accumulators._task_updates()  # a failed task's updates are dropped
        tb = _user_traceback(e)
        _send(w, FAILED, _sized(_pickle_exception(e)), tb.encode("utf-8", "replace"))
        return
    finally:
        sys.stdout = stdout
    updates = accumulators._task_updates()
    import cloudpickle  # type: ignore[import-untyped]

    _send(
        w,
        DONE,
        _sized(printed.getvalue().encode("utf-8", "replace")),
        _sized(cloudpickle.dumps(updates) if updates else b""),
        encoded,
    )


class _FunctionUnpickler(pickle.Unpickler):
    """Functions refer to broadcast variables by id (sent before them as shared values)."""

    def __init__(self, data: bytes, shared: dict[int, Any]) -> None:
        super().__init__(io.BytesIO(data))
        self.shared = shared

    def persistent_load(self, pid: Any) -> Any:
        kind, key = pid
        if kind != "broadcast" or key not in self.shared:
            raise pickle.UnpicklingError(f"unknown shared value {pid!r}")
        value = self.shared[key]
        if isinstance(value, _LoadFailed):
            raise value.error
        return value


class _LoadFailed:
    """A shared value that could not be loaded: the functions that need it raise its error."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _load_function(payload: memoryview, shared: dict[int, Any]) -> Any:
    try:
        path, function = pickle.loads(payload)
        sys.path.extend(p for p in path if p not in sys.path)
        return _FunctionUnpickler(function, shared).load()
    except BaseException as e:  # raised by every task that needs it
        return e


def main() -> None:
    # Ctrl+C in a terminal reaches the whole process group: the driver decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    driver = int(os.environ["FERROSTREAM_DRIVER_PID"])
    threading.Thread(target=_watch_driver, args=(driver,), daemon=True).start()
    root = os.environ.get("FERROSTREAM_FILES_ROOT")
    if root:
        from ferrostream.files import SparkFiles

        SparkFiles._root_directory = root
        SparkFiles._is_running_on_worker = True
    from ferrostream import _native, accumulators

    accumulators._enter_worker()
    # What is loaded now lives as long as the worker: keep it out of the collector's scans.
    gc.freeze()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(os.environ["FERROSTREAM_WORKER_SOCKET"])
    except (FileNotFoundError, ConnectionRefusedError):
        sys.exit(2)  # the pool stopped while this worker was starting: nothing to do
    r = cast(BinaryIO, sock.makefile("rb", buffering=1 << 16))
    w = cast(BinaryIO, sock.makefile("wb", buffering=1 << 16))
    _send(w, READY, struct.pack("<I", os.getpid()))
    functions: dict[int, Any] = {}
    shared: dict[int, Any] = {}
    while True:
        head = r.read(_HEAD.size)
        if len(head) < _HEAD.size:
            return  # the driver closed the socket: stop
        length, kind = _HEAD.unpack(head)
        body = r.read(length - 1)
        if len(body) != length - 1:
            return
        if kind == FN:
            (fid,) = struct.unpack_from("<Q", body)
            functions[fid] = _load_function(memoryview(body)[8:], shared)
        elif kind == SHARED:
            from ferrostream import broadcast

            (bid,) = struct.unpack_from("<Q", body)
            try:
                shared[bid] = broadcast._restore(bid, pickle.loads(memoryview(body)[8:]))
            except BaseException as e:
                shared[bid] = _LoadFailed(e)
        elif kind == FORGET:
            functions.pop(struct.unpack_from("<Q", body)[0], None)
        elif kind == TASK:
            fid, split, limit = _TASK.unpack_from(body)
            _run(functions[fid], split, limit, body[_TASK.size :], _native, w)
        else:
            print(f"ferrostream worker: unknown frame {kind}", file=sys.stderr)
            return


if __name__ == "__main__":
    main()
