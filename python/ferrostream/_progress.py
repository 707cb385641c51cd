"""Progress of long RDD actions and streaming batches, as Spark's console progress bar.

An action or a batch that has run for more than half a second gets a line that says what runs
and for how long, updated every 0.2 s and cleared when it is done: on standard error when that
is a terminal, as an HTML line updated in place in a Jupyter notebook (no ipywidgets needed).
Elsewhere (pipes, files, CI logs) nothing is shown. ``spark.ui.showConsoleProgress=false``
turns it off, as in Spark.

The engine reports no per-partition progress yet, so the line shows the elapsed time, not a
bar of finished tasks.
"""

from __future__ import annotations

import functools
import html
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional, TypeVar, cast

__all__ = ["Progress", "action", "enabled", "job", "notebook_display"]

SHOW_AFTER = 0.5
UPDATE_EVERY = 0.2


def _in_notebook() -> bool:
    shell_mod = sys.modules.get("IPython")
    if shell_mod is None or "ipykernel" not in sys.modules:
        return False
    try:
        shell = shell_mod.get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def enabled(conf: Any) -> bool:
    """Whether progress lines are wanted for a context with this SparkConf."""
    value = conf.get("spark.ui.showConsoleProgress", "true")
    return str(value).strip().lower() != "false"


class _ConsoleSink:
    """One line on standard error, rewritten in place."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.width = 0

    def show(self, text: str) -> None:
        pad = max(0, self.width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self.width = len(text)

    def clear(self, done: str = "") -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def notebook_display() -> Optional[tuple[Callable[[str], Any], Callable[[Any, str], None]]]:
    """``(show, update)`` for HTML that is updated in place in a notebook, or None."""
    try:
        from IPython.display import HTML, display
    except ImportError:
        return None

    def show(markup: str) -> Any:
        return display(HTML(markup), display_id=True)

    def update(handle: Any, markup: str) -> None:
        handle.update(HTML(markup))

    return show, update


class _NotebookSink:
    """An HTML line in the output of the running cell, updated in place, emptied when done."""

    def __init__(self) -> None:
        funcs = notebook_display()
        assert funcs is not None
        self._show, self._update = funcs
        self._handle: Any = None

    @staticmethod
    def _markup(text: str) -> str:
        return (
            '<div class="ferrostream-progress" style="font-family: monospace">'
            f"{html.escape(text)}</div>"
        )

    def show(self, text: str) -> None:
        markup = self._markup(text)
        if self._handle is None:
            self._handle = self._show(markup)
        else:
            self._update(self._handle, markup)

    def clear(self, done: str = "") -> None:
        """Replace the line by ``done`` (what finished, and how long it took)."""
        if self._handle is not None:
            self._update(self._handle, self._markup(done) if done else "")
            self._handle = None


class Progress:
    """The running jobs of one process and the thread that shows the long ones.

    A job is anything with a label and a start time; :meth:`start` and :meth:`finish` are
    cheap (no thread is started per job).
    """

    def __init__(self, sink: Any) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._jobs: dict[int, tuple[str, float]] = {}
        self._next_id = 0
        self._wake = threading.Condition(self._lock)
        self._thread: Optional[threading.Thread] = None
        self._shown = False

    def start(self, label: str) -> int:
        with self._lock:
            self._next_id += 1
            job_id = self._next_id
            self._jobs[job_id] = (label, time.monotonic())
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ferrostream-progress", daemon=True
                )
                self._thread.start()
            else:
                self._wake.notify()
        return job_id

    def finish(self, job_id: int) -> None:
        with self._lock:
            now = time.monotonic()
            label, t0 = self._jobs.pop(job_id, ("", now))
            if self._shown and not self._long_jobs(now):
                # At once, not by the thread: what the program prints next must not land
                # behind the progress line.
                self._safe(self._sink.clear, f"[{label}: done in {now - t0:.1f} s]")
                self._shown = False
            self._wake.notify()

    def _long_jobs(self, now: float) -> list[tuple[str, float]]:
        jobs = sorted(self._jobs.values(), key=lambda j: j[1])
        return [(label, t0) for label, t0 in jobs if now - t0 >= SHOW_AFTER]

    def line(self, now: float) -> str:
        """What is shown: every job running longer than SHOW_AFTER, oldest first."""
        with self._lock:
            return self._line(now)

    def _line(self, now: float) -> str:
        return " ".join(
            f"[{label}: running {now - t0:.1f} s]" for label, t0 in self._long_jobs(now)
        )

    def _run(self) -> None:
        with self._lock:
            while True:
                if not self._jobs:
                    self._wake.wait()
                    continue
                self._wake.wait(UPDATE_EVERY)
                text = self._line(time.monotonic())
                if text:
                    self._safe(self._sink.show, text)
                    self._shown = True
                elif self._shown:
                    self._safe(self._sink.clear)
                    self._shown = False

    @staticmethod
    def _safe(func: Callable[..., Any], *args: Any) -> None:
        try:
            func(*args)
        except Exception:  # a closed stream or a gone kernel must not kill the thread
            pass


_progress: Optional[Progress] = None
_decided = False
_progress_lock = threading.Lock()


def _current() -> Optional[Progress]:
    """The process's Progress, or None where nothing would be seen (not a terminal, not a
    notebook). Decided once per process."""
    global _progress, _decided
    if _decided:
        return _progress
    with _progress_lock:
        if not _decided:
            if _in_notebook():
                _progress = Progress(_NotebookSink())
            elif getattr(sys.stderr, "isatty", lambda: False)():
                _progress = Progress(_ConsoleSink(sys.stderr))
            _decided = True
        return _progress


def _wanted(sc: Any) -> bool:
    cached = getattr(sc, "_show_progress", None)
    if cached is None:
        cached = enabled(sc._conf)
        try:
            sc._show_progress = cached
        except AttributeError:
            pass
    return bool(cached)


_nesting = threading.local()
_MAIN = threading.main_thread()


@contextmanager
def job(sc: Any, label: str) -> Iterator[None]:
    """Show ``label`` while the body runs, once it has run for half a second. Actions that
    other actions run (``count`` collecting counts) show as the outer one only; actions of
    streaming output operations (run by the engine's threads) show as their batch."""
    if getattr(_nesting, "active", False) or threading.current_thread() is not _MAIN:
        yield
        return
    progress = _current() if _wanted(sc) else None
    if progress is None:
        yield
        return
    job_id = progress.start(label)
    _nesting.active = True
    try:
        yield
    finally:
        _nesting.active = False
        progress.finish(job_id)


F = TypeVar("F", bound=Callable[..., Any])


def action(label: str) -> Callable[[F], F]:
    """Decorate an RDD action: :func:`job` around it, with the RDD's SparkContext."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            with job(self.ctx, label):
                return method(self, *args, **kwargs)

        return cast(F, run)

    return decorate


def start(sc: Any, label: str) -> Optional[int]:
    """Start showing ``label`` (a streaming batch); pass the result to :func:`finish`."""
    progress = _current() if _wanted(sc) else None
    return None if progress is None else progress.start(label)


def finish(job_id: Optional[int]) -> None:
    """The batch that :func:`start` returned ``job_id`` for is done."""
    if job_id is not None and _progress is not None:
        _progress.finish(job_id)
