"""Credentials that sources hold, kept out of checkpoints.

A checkpoint directory keeps the DStream graph with the arguments of its sources so that
``StreamingContext.getOrCreate`` can rebuild it. A source that holds a credential (a Kafka SASL
password, an AWS secret key) wraps it in a :class:`Secret`: pickled into a checkpoint, a secret
is only its *name*; when the graph is read back, the value is read again from the restarted
program's environment (``os.environ[name]``) or, failing that, from the active SparkConf
(``sc.getConf().get(name)``). The engine's own checkpoint files hold typed positions only,
never credentials.
"""

from __future__ import annotations

import os
from typing import Any

from ferrostream.errors import IllegalStateException

__all__ = ["Secret", "reveal"]


class Secret:
    """A credential that never appears in a checkpoint, a log or a ``repr``.

    Parameters
    ----------
    name : str
        Where the value is read again after a restart: an environment variable or a SparkConf
        key of that name.
    value : str
        The credential.
    """

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("a Secret needs a non-empty name")
        self.name = name
        self._value = value

    def reveal(self) -> str:
        """The credential itself (for the client that uses it)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, '***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (other.name, other._value) == (self.name, self._value)

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self) -> Any:
        # Pickled (into a checkpoint): the name only.
        return (_reread, (self.name,))


def _reread(name: str) -> Secret:
    """The secret ``name`` read again from the environment or the active SparkConf."""
    value = os.environ.get(name)
    if value is None:
        from ferrostream.context import SparkContext

        sc = SparkContext._active_spark_context
        value = sc.getConf().get(name) if sc is not None else None
    if value is None:
        raise IllegalStateException(
            f"The checkpoint needs the secret {name!r}, which checkpoints never hold: set the "
            f"environment variable {name} (or the SparkConf key {name}) for the restarted "
            "program."
        )
    return Secret(name, value)


def reveal(params: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``(key, value)`` settings with every :class:`Secret` value replaced by the credential."""
    return [(k, v.reveal() if isinstance(v, Secret) else v) for k, v in params]
