"""Raising ``KeyboardInterrupt`` in the threads that run user functions in this interpreter
(``spark.ferrostream.python.workers=in-process``), as the engine's bindings do when an action
is interrupted (Ctrl+C, Jupyter's interrupt): CPython's ``PyThreadState_SetAsyncExc``, which
the thread sees at its next Python instruction, so that a loop in a ``map`` function stops.

These are ctypes functions called with the GIL held (``PYFUNCTYPE``), so that the native
module keeps no unsafe code; called from the bindings they run no Python code.
``raise_in(thread_id, exc_type)`` sets the exception, ``clear_in(thread_id, None)`` drops it;
both return how many threads were found."""

from __future__ import annotations

import ctypes

__all__ = ["clear_in", "raise_in"]

# int PyThreadState_SetAsyncExc(unsigned long thread_id, PyObject *exc): exc NULL clears.
raise_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
clear_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
