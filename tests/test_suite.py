"""The test suite's own guarantees: every test has a deadline, an xfail that passes fails, and
no test waits on a fixed sleep."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


def test_every_test_has_a_timeout(request: pytest.FixtureRequest) -> None:
    assert request.config.pluginmanager.hasplugin("timeout"), "pytest-timeout is not installed"
    assert float(request.config.getini("timeout")) > 0


def test_xfail_is_strict(request: pytest.FixtureRequest) -> None:
    assert request.config.getini("xfail_strict") is True


def _sleeps(path: Path) -> list[int]:
    """Lines of the ``sleep(...)`` calls in a test module's own code (programs that tests run
    as strings are not parsed)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "sleep":
                lines.append(node.lineno)
    return lines


def test_no_fixed_sleeps_in_tests() -> None:
    found = []
    for path in sorted(TESTS.glob("*.py")):
        if path.name == "waiting.py":  # the one poll loop, between looks at a condition
            continue
        source = path.read_text().splitlines()
        found += [f"{path.name}:{n}: {source[n - 1].strip()}" for n in _sleeps(path)]
    assert found == [], "wait for a condition (tests/waiting.py), not a fixed time:\n" + "\n".join(
        found
    )
