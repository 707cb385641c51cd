"""Waiting in tests: on a condition, with a deadline, never for a fixed time.

``wait_until`` is the one place where the test suite sleeps (between two looks at the
condition); ``tests/test_suite.py`` checks that no other test code calls ``sleep``.
"""

from __future__ import annotations

import time
from typing import Callable, Union

import pytest

DEADLINE = 30.0

Interval = Union[float, Callable[[], float]]


def poll(condition: Callable[[], bool], timeout: float, interval: Interval = 0.05) -> bool:
    """Look at ``condition`` until it holds (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval() if callable(interval) else interval)


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = DEADLINE,
    interval: Interval = 0.05,
    details: Callable[[], str] | None = None,
) -> None:
    """Wait until ``condition()`` holds; fail the test naming ``what`` after ``timeout``."""
    if not poll(condition, timeout, interval):
        extra = f"\n{details()}" if details is not None else ""
        pytest.fail(f"timed out after {timeout} s waiting for {what}{extra}")
