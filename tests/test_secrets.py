"""Secrets held by sources never reach a checkpoint in plain form."""

from __future__ import annotations

import pickle

import cloudpickle  # type: ignore[import-untyped]
import pytest

from ferrostream.errors import IllegalStateException
from ferrostream.secrets import Secret


def test_a_pickled_secret_holds_its_name_only(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = Secret("KAFKA_SASL_PASSWORD", "hunter2")
    blob = cloudpickle.dumps({"kafkaParams": {"sasl.password": secret}})
    assert b"hunter2" not in blob
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "new-value")
    back = pickle.loads(blob)["kafkaParams"]["sasl.password"]
    assert back.reveal() == "new-value"


def test_a_missing_secret_says_how_to_provide_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_SECRET_FOR_TEST", raising=False)
    blob = pickle.dumps(Secret("AWS_SECRET_FOR_TEST", "x"))
    with pytest.raises(IllegalStateException, match="environment variable AWS_SECRET_FOR_TEST"):
        pickle.loads(blob)
