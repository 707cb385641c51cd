"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ferrostream import SparkContext


@pytest.fixture(params=["native", "python"])
def engine_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: with native fast paths allowed, then with Python steps only."""
    from ferrostream import _rdd_util

    monkeypatch.setattr(_rdd_util, "use_native", request.param == "native")
    return str(request.param)


@pytest.fixture
def sc() -> Iterator[SparkContext]:
    """A fresh ``SparkContext("local[2]", "test")``, stopped after the test."""
    context = SparkContext("local[2]", "test")
    try:
        yield context
    finally:
        context.stop()
