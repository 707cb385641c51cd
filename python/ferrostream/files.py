"""``SparkFiles``: where the files added with ``SparkContext.addFile`` are (``pyspark.files``).

``sc.addFile(path)`` copies a file (or, with ``recursive=True``, a directory) into a root
directory of its own for the context; functions running in tasks (which run in this process)
find it with ``SparkFiles.get(name)``, as PySpark's workers do.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar, Optional

if TYPE_CHECKING:
    from ferrostream.context import SparkContext

__all__ = ["SparkFiles"]


class SparkFiles:
    """Resolves the paths of files added through :meth:`SparkContext.addFile`.

    SparkFiles contains only classmethods; users should not create SparkFiles instances.
    """

    _root_directory: ClassVar[Optional[str]] = None
    _is_running_on_worker: ClassVar[bool] = False
    _sc: ClassVar[Optional[SparkContext]] = None

    def __init__(self) -> None:
        raise NotImplementedError("Do not construct SparkFiles objects")

    @classmethod
    def get(cls, filename: str) -> str:
        """The absolute path of a file added through ``SparkContext.addFile`` (or
        ``addPyFile``, or ``ferrostream-submit --files``).

        Examples
        --------
        >>> path = os.path.join(tmpdir, "test.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("100")
        >>> sc.addFile(path)
        >>> def func(iterator):
        ...     with open(SparkFiles.get("test.txt")) as f:
        ...         mul = int(f.readline())
        ...         return [x * mul for x in iterator]
        >>> sc.parallelize([1, 2, 3, 4]).mapPartitions(func).collect()
        [100, 200, 300, 400]
        """
        path = os.path.join(SparkFiles.getRootDirectory(), filename)
        return os.path.abspath(path)

    @classmethod
    def getRootDirectory(cls) -> str:
        """The directory that holds the files added through ``SparkContext.addFile``."""
        if cls._is_running_on_worker and cls._root_directory is not None:
            return cls._root_directory
        sc = cls._sc
        if sc is None or sc._files_root is None:
            from ferrostream.errors import IllegalStateException

            raise IllegalStateException(
                "SparkFiles needs an active SparkContext: its files live in a directory of "
                "that context"
            )
        return sc._files_root
