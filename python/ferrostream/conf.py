"""``SparkConf``: key/value settings of a :class:`SparkContext`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import overload

from ferrostream.errors import PySparkRuntimeError

__all__ = ["SparkConf"]

# Set by SparkContext.setSystemProperty; read by SparkConf(loadDefaults=True).
_system_properties: dict[str, str] = {}


def _launch_defaults() -> dict[str, str]:
    """What PySpark's launcher gives every ``SparkConf()`` before the program's own settings.

    Outside spark-submit, PySpark starts its JVM as ``spark-submit pyspark-shell``: the master is
    ``local[*]`` and the application name ``pyspark-shell``. A process started by
    ``ferrostream-submit`` (or a child of one) gets the submitted master and name instead.
    """
    if os.environ.get("FERROSTREAM_SUBMIT") == "1":
        return {
            "spark.master": os.environ.get("FERROSTREAM_MASTER") or "local[*]",
            "spark.app.name": os.environ.get("FERROSTREAM_APP_NAME") or "pyspark-shell",
        }
    return {"spark.master": "local[*]", "spark.app.name": "pyspark-shell"}


class SparkConf:
    """Configuration of a Spark application, as ``spark.*`` key/value string pairs.

    Every setter returns the conf itself, so calls chain::

        conf = SparkConf().setMaster("local[2]").setAppName("My app")

    Values are stored as strings. Once a :class:`SparkContext` has been created from a
    conf, later changes to that conf object do not affect the running context.

    Parameters
    ----------
    loadDefaults : bool
        Start from the launcher's defaults (``spark.master=local[*]`` and
        ``spark.app.name=pyspark-shell`` outside ``ferrostream-submit``, as PySpark outside
        spark-submit) and the ``spark.*`` properties set with
        ``SparkContext.setSystemProperty``. Without them, a :class:`SparkContext` needs a master
        and an application name.
    """

    def __init__(
        self,
        loadDefaults: bool = True,
        _jvm: object = None,
        _jconf: object = None,
    ) -> None:
        self._conf: dict[str, str] = {}
        if loadDefaults:
            self._conf.update(_launch_defaults())
            for key, value in _system_properties.items():
                if key.startswith("spark."):
                    self._conf[key] = value

    def set(self, key: str, value: object) -> SparkConf:
        """Set the configuration property ``key`` to ``str(value)``."""
        self._conf[key] = str(value)
        return self

    def setIfMissing(self, key: str, value: object) -> SparkConf:
        """Set ``key`` only if it is not set yet."""
        if key not in self._conf:
            self.set(key, value)
        return self

    def setMaster(self, value: str) -> SparkConf:
        """Set the master URL, e.g. ``local``, ``local[4]`` or ``local[*]``."""
        return self.set("spark.master", value)

    def setAppName(self, value: str) -> SparkConf:
        """Set the application name."""
        return self.set("spark.app.name", value)

    def setSparkHome(self, value: str) -> SparkConf:
        """Set the Spark installation path (recorded only)."""
        return self.set("spark.home", value)

    @overload
    def setExecutorEnv(self, key: str, value: str) -> SparkConf: ...

    @overload
    def setExecutorEnv(self, *, pairs: Iterable[tuple[str, str]]) -> SparkConf: ...

    def setExecutorEnv(
        self,
        key: str | None = None,
        value: str | None = None,
        pairs: Iterable[tuple[str, str]] | None = None,
    ) -> SparkConf:
        """Set environment variables for executors: one ``key``/``value`` or a list of pairs."""
        if (key is not None and pairs is not None) or (key is None and pairs is None):
            raise PySparkRuntimeError(
                "[KEY_VALUE_PAIR_REQUIRED] Either pass one key-value pair or a list of pairs."
            )
        if key is not None:
            self.set("spark.executorEnv." + key, value)
        else:
            assert pairs is not None
            for k, v in pairs:
                self.set("spark.executorEnv." + k, v)
        return self

    def setAll(self, pairs: Iterable[tuple[str, object]]) -> SparkConf:
        """Set several properties from ``(key, value)`` pairs."""
        for k, v in pairs:
            self.set(k, v)
        return self

    @overload
    def get(self, key: str) -> str | None: ...

    @overload
    def get(self, key: str, defaultValue: str) -> str: ...

    @overload
    def get(self, key: str, defaultValue: None) -> str | None: ...

    def get(self, key: str, defaultValue: str | None = None) -> str | None:
        """The value of ``key``, or ``defaultValue`` when it is not set."""
        return self._conf.get(key, defaultValue)

    def getAll(self) -> list[tuple[str, str]]:
        """All settings as a list of ``(key, value)`` pairs."""
        return list(self._conf.items())

    def contains(self, key: str) -> bool:
        """Whether ``key`` is set."""
        return key in self._conf

    def toDebugString(self) -> str:
        """All settings as ``key=value`` lines, sorted by key."""
        return "\n".join(f"{k}={v}" for k, v in sorted(self._conf.items()))

    def _copy(self) -> SparkConf:
        new = SparkConf(loadDefaults=False)
        new._conf = dict(self._conf)
        return new
