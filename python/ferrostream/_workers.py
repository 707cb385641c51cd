"""The driver's side of Python worker processes.

With ``local[N]`` (N > 1) the engine runs Python functions in N long-lived worker processes
(:mod:`ferrostream._worker`); the pool itself (processes, frames, retries) is the engine's.
This module holds what the engine asks of the driver's interpreter: the settings that choose
the mode, how a worker is started, how a function is pickled, and how a task's exception,
printed text and accumulator updates come back.
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import sys
import types
from collections import ChainMap
from typing import Any, Callable

import cloudpickle  # type: ignore[import-untyped]

from ferrostream import accumulators
from ferrostream.broadcast import Broadcast

#: The setting that chooses where Python functions run: ``processes`` (worker processes),
#: ``in-process`` (the driver's interpreter, for debugging), or ``auto`` (the default:
#: processes when ``local[N]`` has N > 1, in-process for ``local`` and ``local[1]``).
WORKERS_CONF = "spark.ferrostream.python.workers"
#: The environment variable that gives the default of :data:`WORKERS_CONF`.
WORKERS_ENV = "FERROSTREAM_PYTHON_WORKERS"
_MODES = ("auto", "processes", "in-process")

#: Attempts of a task whose worker process died, unless ``local[N, F]`` says F (Spark's
#: ``spark.task.maxFailures`` default).
DEFAULT_ATTEMPTS = 4


def use_processes(mode: str, threads: int) -> bool:
    """Whether a context with ``threads`` threads runs Python functions in worker processes."""
    mode = mode.strip().lower()
    if mode not in _MODES:
        raise ValueError(f"{WORKERS_CONF} must be one of {', '.join(_MODES)}, not {mode!r}")
    if mode == "auto":
        return threads > 1
    return mode == "processes"


def worker_command(
    python: str, files_root: str | None, environment: dict[str, str] | None = None
) -> tuple[str, list[str], list[tuple[str, str]]]:
    """How the engine starts a worker: ``python -m ferrostream._worker`` with this
    interpreter's import path, so functions pickled by reference (defined in modules the
    driver imported) load in the worker, and the executors' ``environment``."""
    path = [p for p in sys.path if p]
    env = [(str(k), str(v)) for k, v in (environment or {}).items()]
    env += [("PYTHONPATH", os.pathsep.join(path)), ("PYTHONUNBUFFERED", "1")]
    if files_root is not None:
        env.append(("FERROSTREAM_FILES_ROOT", files_root))
    return python, ["-m", "ferrostream._worker"], env


def _user_function(f: Any) -> Any:
    """The user's own function inside the engine's wrappers of ``f`` (for messages)."""
    seen: set[int] = set()
    todo = [f]
    while todo:
        g = todo.pop()
        if id(g) in seen:
            continue
        seen.add(id(g))
        module = getattr(g, "__module__", "") or ""
        if callable(g) and not module.startswith("ferrostream"):
            return g
        for cell in getattr(g, "__closure__", None) or ():
            try:
                todo.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
    return f


def describe_function(f: Any) -> str:
    """``name (file:line)`` of the user's function in ``f``."""
    g = _user_function(f)
    name = getattr(g, "__qualname__", None) or repr(g)
    code = getattr(g, "__code__", None)
    if code is not None:
        return f"{name} ({code.co_filename}:{code.co_firstlineno})"
    return str(name)


def _code_keeping_filename(code: types.CodeType) -> Any:
    """cloudpickle's reduction of a code object, with the file name kept (cloudpickle
    writes ``<dynamic-code>``), so a worker's tracebacks name the user's file and lines."""
    rebuild, args = cloudpickle.cloudpickle._code_reduce(code)
    return rebuild, tuple(code.co_filename if a == "<dynamic-code>" else a for a in args)


class _FunctionPickler(cloudpickle.CloudPickler):
    """cloudpickle that keeps file names and leaves broadcast variables out: they are
    referred to by id and sent to each worker once (:func:`pickle_function`)."""

    dispatch_table = ChainMap(
        {types.CodeType: _code_keeping_filename}, cloudpickle.CloudPickler.dispatch_table
    )

    def __init__(self, out: io.BytesIO) -> None:
        super().__init__(out, protocol=pickle.HIGHEST_PROTOCOL)
        self.broadcasts: dict[int, Broadcast[Any]] = {}

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is Broadcast:
            self.broadcasts[obj._id] = obj
            return ("broadcast", obj._id)
        return None


def _pickled_value(b: Broadcast[Any]) -> bytes:
    """A broadcast variable's value, pickled once for all functions and workers."""
    pickled = b.__dict__.get("_pickled")
    if pickled is None:
        pickled = cloudpickle.dumps(b.value, protocol=pickle.HIGHEST_PROTOCOL)
        b._pickled = pickled  # type: ignore[attr-defined]
    return pickled  # type: ignore[no-any-return]


def pickle_function(f: Callable[..., Any]) -> tuple[bytes, list[tuple[int, bytes]]]:
    """``f`` as worker processes load it, and the broadcast variables it refers to
    (``(id, pickled value)``, which the engine sends to each worker once), or a
    ``PicklingError`` naming the function.

    The driver's import path goes with the function, so modules added since the workers
    started (``addPyFile``, ``sys.path`` changes) import there too."""
    try:
        out = io.BytesIO()
        pickler = _FunctionPickler(out)
        pickler.dump(f)
        path = [p for p in sys.path if p]
        payload = pickle.dumps((path, out.getvalue()), protocol=pickle.HIGHEST_PROTOCOL)
        shared = [(bid, _pickled_value(b)) for bid, b in pickler.broadcasts.items()]
        return payload, shared
    except Exception as e:
        raise pickle.PicklingError(
            f"Could not serialize function {describe_function(f)} for the Python worker "
            f"processes: {type(e).__name__}: {e}. Functions and everything they refer to "
            f"must be picklable; set {WORKERS_CONF}=in-process to run them in the driver."
        ) from e


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a Python worker process."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


def task_error(exception: bytes, tb: str) -> BaseException:
    """A task's exception as the worker pickled it, with the worker's traceback as its
    cause (as :mod:`concurrent.futures` shows a process pool's errors)."""
    try:
        exc = pickle.loads(exception)
    except Exception as e:  # an exception type whose pickle cannot be loaded here
        exc = RuntimeError(f"a task failed in a Python worker ({type(e).__name__}: {e})")
    if not isinstance(exc, BaseException):
        exc = RuntimeError(repr(exc))
    if exc.__cause__ is None:
        exc.__cause__ = RemoteTraceback(tb)
    return exc


def apply_task_effects(printed: bytes, updates: bytes) -> None:
    """What a finished task printed (to this process's ``sys.stdout``, so notebooks show it)
    and its accumulator updates (merged into the driver's accumulators)."""
    if printed:
        sys.stdout.write(printed.decode("utf-8", "replace"))
        sys.stdout.flush()
    if updates:
        accumulators._merge_updates(pickle.loads(updates))


# -- keyed streams' functions as partition functions --------------------------------------
# The engine calls these once per partition of a keyed stream, in a worker process or in the
# driver; each gives one output per input record.


def update_partition(f: Callable[[Any, Any], Any]) -> Callable[[int, Any], list[Any]]:
    """``updateStateByKey``'s ``f(new_values, old_state)`` over ``(new_values, old)`` records."""

    def update(_split: int, items: Any) -> list[Any]:
        return [f(new, old) for new, old in items]

    return update


def apply_partition(f: Callable[[Any, Any], Any]) -> Callable[[int, Any], list[Any]]:
    """``f(a, b)`` over ``(a, b)`` records."""

    def apply(_split: int, pairs: Any) -> list[Any]:
        return [f(a, b) for a, b in pairs]

    return apply


def reduce_partition(f: Callable[[Any, Any], Any]) -> Callable[[int, Any], list[Any]]:
    """``functools.reduce(f, group)`` over non-empty groups."""

    def reduce(_split: int, groups: Any) -> list[Any]:
        return [functools.reduce(f, group) for group in groups]

    return reduce


def filter_partition(f: Callable[[Any], Any]) -> Callable[[int, Any], list[bool]]:
    """``bool(f(x))`` over records."""

    def test(_split: int, items: Any) -> list[bool]:
        return [bool(f(x)) for x in items]

    return test
