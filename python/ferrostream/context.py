"""``SparkContext``: the entry point that creates RDDs on the ferrostream engine."""

from __future__ import annotations

import atexit
import filecmp
import importlib
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ferrostream import _workers
from ferrostream.accumulators import Accumulator, AccumulatorParam, _new_accumulator
from ferrostream.broadcast import Broadcast
from ferrostream.conf import SparkConf, _system_properties
from ferrostream.errors import (
    IllegalArgumentException,
    PySparkRuntimeError,
    SparkException,
)
from ferrostream.files import SparkFiles

if TYPE_CHECKING:
    from ferrostream.rdd import RDD

__all__ = ["SparkContext"]

T = TypeVar("T")

SPARK_VERSION = "3.5.9"
_LOG_LEVELS = {
    "ALL": 1,
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "OFF": logging.CRITICAL + 10,
}
_LOCAL_RE = re.compile(r"local(?:\[\s*(\d+|\*)\s*(?:,\s*(\d+)\s*)?\])?")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_native_module: ModuleType | None = None


def _native() -> ModuleType:
    """The compiled engine module, imported on first use."""
    global _native_module
    if _native_module is None:
        from ferrostream import _native as mod

        _native_module = mod
    return _native_module


def _parse_master(master: str) -> int:
    """The number of worker threads for a ``local`` master URL."""
    m = _LOCAL_RE.fullmatch(master.strip())
    if m is None:
        raise ValueError(
            f"Could not parse Master URL: '{master}'. ferrostream runs locally only: "
            "use 'local', 'local[N]' or 'local[*]'."
        )
    threads = m.group(1)
    if threads is None:
        return 1
    if threads == "*":
        return os.cpu_count() or 1
    return int(threads)  # the engine refuses 0 threads with Spark's message


def _stop_at_exit() -> None:
    """Before the interpreter finalizes: stop the active streaming and Spark contexts (their
    engine threads end, the workers and the UI stop) and tell the engine that Python is going
    away, so no engine thread calls into a finalizing interpreter."""
    try:
        from ferrostream.streaming.context import StreamingContext

        ssc = StreamingContext.getActive()
        if ssc is not None:
            ssc.stop(stopSparkContext=True)
        sc = SparkContext._active_spark_context
        if sc is not None:
            sc.stop()
    finally:
        if _native_module is not None:
            _native_module.host_exiting()


atexit.register(_stop_at_exit)


def _parse_attempts(master: str) -> int | None:
    """``F`` of ``local[N, F]``: the attempts of a failed task."""
    m = _LOCAL_RE.fullmatch(master.strip())
    if m is None or m.group(2) is None:
        return None
    return int(m.group(2))


def _call_site() -> tuple[str, str, int]:
    """(ferrostream function called by the user, user file, user line) for error texts."""
    frame = sys._getframe(1)
    func = "<unknown>"
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR):
            return func, frame.f_code.co_filename, frame.f_lineno
        func = frame.f_code.co_name
        frame = frame.f_back  # type: ignore[assignment]
    return func, "<unknown>", 0


class SparkContext:
    """The main entry point: a connection to the (local) engine that creates RDDs.

    Only one SparkContext may be active at a time; :meth:`stop` it before creating
    another, or use :meth:`getOrCreate`. It also works as a context manager that
    stops it on exit.

    Parameters
    ----------
    master : str, optional
        ``local`` (one thread), ``local[N]`` or ``local[*]`` (one thread per CPU), or
        ``local[N, F]`` (a task whose Python worker dies runs up to F times). Defaults to
        ``local[*]`` (or the ``--master`` of ``ferrostream-submit``), as in PySpark. With N > 1,
        Python functions run in N worker processes (started by ``PYSPARK_PYTHON`` or this
        interpreter); ``spark.ferrostream.python.workers`` (``auto``, ``processes``,
        ``in-process``) chooses explicitly.
    appName : str, optional
        A name for the application. Defaults to ``pyspark-shell`` (or the script's name under
        ``ferrostream-submit``), as in PySpark.
    sparkHome, pyFiles, environment, batchSize, serializer, conf, gateway, jsc, ...
        As in PySpark. ``conf`` settings are used where ``master``/``appName`` are not
        given; ``environment`` (and ``spark.executorEnv.*``) is set in the Python worker
        processes.

    Examples
    --------
    >>> sc = SparkContext("local[2]", "example")
    >>> sc.parallelize(range(5)).map(lambda x: x * x).collect()
    [0, 1, 4, 9, 16]
    >>> sc.stop()
    """

    _active_spark_context: ClassVar[SparkContext | None] = None
    _lock: ClassVar[threading.RLock] = threading.RLock()

    def __init__(
        self,
        master: str | None = None,
        appName: str | None = None,
        sparkHome: str | None = None,
        pyFiles: list[str] | None = None,
        environment: dict[str, Any] | None = None,
        batchSize: int = 0,
        serializer: Any = None,
        conf: SparkConf | None = None,
        gateway: Any = None,
        jsc: Any = None,
        profiler_cls: Any = None,
        udf_profiler_cls: Any = None,
        memory_profiler_cls: Any = None,
    ) -> None:
        self._stopped = True
        self._files_root: str | None = None
        self._conf = conf._copy() if conf is not None else SparkConf()
        with SparkContext._lock:
            self._ensure_no_active_context()
            if master:
                self._conf.setMaster(master)
            if appName:
                self._conf.setAppName(appName)
            if sparkHome:
                self._conf.setSparkHome(sparkHome)
            if environment:
                for key, value in environment.items():
                    self._conf.setExecutorEnv(key, value)
            if not self._conf.contains("spark.master"):
                raise PySparkRuntimeError(
                    "[MASTER_URL_NOT_SET] A master URL must be set in your configuration."
                )
            if not self._conf.contains("spark.app.name"):
                raise PySparkRuntimeError(
                    "[APPLICATION_NAME_NOT_SET] An application name must be set in your "
                    "configuration."
                )
            self.master: str = self._conf.get("spark.master", "")
            self.appName: str = self._conf.get("spark.app.name", "")
            threads = _parse_master(self.master)
            self.sparkHome: str | None = self._conf.get("spark.home")
            self.environment: dict[str, str] = {}
            prefix = "spark.executorEnv."
            for key, value in self._conf.getAll():
                if key.startswith(prefix):
                    self.environment[key[len(prefix) :]] = value
            self.pythonExec = os.environ.get("PYSPARK_PYTHON", sys.executable)
            self.pythonVer = "{}.{}".format(*sys.version_info[:2])
            self.serializer = serializer
            self._batchSize = batchSize
            default_par = self._conf.get("spark.default.parallelism")
            self._default_parallelism = int(default_par) if default_par else threads
            self._start_time = int(time.time() * 1000)
            self._app_id = f"local-{self._start_time}"
            self._conf.set("spark.app.id", self._app_id)
            self._conf.set("spark.app.startTime", self._start_time)
            self._conf.setIfMissing("spark.rdd.compress", "True")
            self._checkpoint_dir: str | None = None
            self._local = threading.local()
            self._start_files()
            try:
                self._ectx = self._engine_context(threads, _parse_attempts(self.master))
                # The engine's web UI (spark.ui.*): served and fed by the engine itself. No
                # free port fails the context, as in Spark ("Failed to bind to ...").
                self._ui_url: str | None = self._ectx.start_ui(self._conf.getAll())
            except BaseException:
                if hasattr(self, "_ectx"):
                    self._ectx.stop()
                self._stop_files()
                raise
            self._stopped = False
            self._call_site = _call_site()
            SparkContext._active_spark_context = self
        try:
            # spark.files: set by ``ferrostream-submit --files`` (spark-submit's --files).
            for path in self._conf.get("spark.files", "").split(","):
                if path.strip():
                    self.addFile(path.strip())
            for path in pyFiles or []:
                self.addPyFile(path)
        except BaseException:
            self.stop()
            raise

    # -- lifecycle -------------------------------------------------------------------

    PACKAGE_EXTENSIONS: ClassVar[tuple[str, ...]] = (".zip", ".egg", ".jar")

    def _engine_context(self, threads: int, attempts: int | None) -> Any:
        """The engine's context: Python functions in worker processes or in this
        interpreter, as ``spark.ferrostream.python.workers`` says (see
        :mod:`ferrostream._workers`)."""
        mode = self._conf.get(_workers.WORKERS_CONF) or os.environ.get(_workers.WORKERS_ENV, "auto")
        if threads < 1 or not _workers.use_processes(mode, threads):
            return _native().EngineContext(threads)
        command = _workers.worker_command(self.pythonExec, self._files_root, self.environment)
        return _native().EngineContext(
            threads, workers=command, attempts=attempts or _workers.DEFAULT_ATTEMPTS
        )

    def _start_files(self) -> None:
        """The context's root directory for added files (``SparkFiles.getRootDirectory()``),
        on ``sys.path`` as in PySpark so that added ``.py`` files can be imported."""
        base = tempfile.mkdtemp(prefix="spark-")
        self._files_base = base
        self._files_root = os.path.join(base, f"userFiles-{uuid.uuid4()}")
        os.makedirs(self._files_root)
        self._added_files: dict[str, int] = {}
        self._python_includes: list[str] = []
        self._sys_path_entries = [self._files_root]
        sys.path.insert(1, self._files_root)
        SparkFiles._sc = self

    def _stop_files(self) -> None:
        for entry in self._sys_path_entries:
            if entry in sys.path:
                sys.path.remove(entry)
        self._sys_path_entries = []
        if SparkFiles._sc is self:
            SparkFiles._sc = None
        shutil.rmtree(self._files_base, ignore_errors=True)

    @classmethod
    def _ensure_no_active_context(cls) -> None:
        active = cls._active_spark_context
        if active is not None:
            func, filename, line = active._call_site
            raise ValueError(
                "Cannot run multiple SparkContexts at once; existing "
                f"SparkContext(app={active.appName}, master={active.master}) "
                f"created by {func} at {filename}:{line} "
            )

    @classmethod
    def getOrCreate(cls, conf: SparkConf | None = None) -> SparkContext:
        """The active SparkContext, or a new one made from ``conf``."""
        with cls._lock:
            if cls._active_spark_context is None:
                SparkContext(conf=conf or SparkConf())
            assert cls._active_spark_context is not None
            return cls._active_spark_context

    def __enter__(self) -> SparkContext:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Shut down the engine. Stopping twice is allowed."""
        with SparkContext._lock:
            if self._stopped:
                return
            self._stopped = True
            try:
                self._ectx.stop()
                self._stop_files()
            finally:
                if SparkContext._active_spark_context is self:
                    SparkContext._active_spark_context = None

    def _check_alive(self) -> None:
        """Spark's IllegalStateException once the context is stopped (raised by the engine)."""
        self._ectx.check_alive()

    def __reduce__(self) -> Any:
        raise PySparkRuntimeError(
            "[CONTEXT_ONLY_VALID_ON_DRIVER] It appears that you are attempting to reference "
            "SparkContext from a broadcast variable, action, or transformation. SparkContext "
            "can only be used on the driver, not in code that it run on workers. For more "
            "information, see SPARK-5063."
        )

    def __repr__(self) -> str:
        return f"<SparkContext master={self.master} appName={self.appName}>"

    def _repr_html_(self) -> str:
        from ferrostream._html import context_html

        return context_html(self)

    # -- properties ------------------------------------------------------------------

    @property
    def version(self) -> str:
        """The Spark version whose behaviour ferrostream follows."""
        return SPARK_VERSION

    @property
    def applicationId(self) -> str:
        """A unique id for this application, ``local-<start time in ms>``."""
        return self._app_id

    @property
    def uiWebUrl(self) -> str | None:
        """The web UI's address (``http://127.0.0.1:4040`` unless ``spark.ui.port`` or a
        taken port says otherwise), or None when ``spark.ui.enabled`` is false."""
        return None if self._stopped else self._ui_url

    @property
    def startTime(self) -> int:
        """When the context started, in epoch milliseconds."""
        return self._start_time

    @property
    def defaultParallelism(self) -> int:
        """Default number of partitions (the number of local threads)."""
        return self._default_parallelism

    @property
    def defaultMinPartitions(self) -> int:
        """Default minimum number of partitions of :meth:`textFile`."""
        return min(self._default_parallelism, 2)

    def getConf(self) -> SparkConf:
        """A copy of this context's configuration."""
        return self._conf._copy()

    # -- creating RDDs ---------------------------------------------------------------

    def _rdd(self, plan: Any, kind: str, op: str) -> RDD[Any]:
        from ferrostream.rdd import RDD

        return RDD(plan, self, _kind=kind, _op=op)

    def parallelize(self, c: Iterable[T], numSlices: int | None = None) -> RDD[T]:
        """Distribute a local collection as an RDD of ``numSlices`` partitions.

        Ranges are generated lazily in each partition; other iterables are read at once
        and split into contiguous slices of (nearly) equal size.

        Examples
        --------
        >>> sc.parallelize([0, 2, 3, 4, 6], 5).glom().collect()
        [[0], [2], [3], [4], [6]]
        >>> sc.parallelize(range(0, 6, 2), 2).glom().collect()
        [[0], [2, 4]]
        """
        from ferrostream._rdd_util import _check_int

        self._check_alive()
        n = self.defaultParallelism if numSlices is None else _check_int(numSlices, "numSlices")
        n = _native().num_partitions(n)
        if isinstance(c, range):
            return self._parallelize_range(c, n)  # type: ignore[return-value]
        data = c if isinstance(c, (list, tuple)) else list(c)
        size = len(data)
        parts = [list(data[i * size // n : (i + 1) * size // n]) for i in range(n)]
        plan = _native().Rdd.from_partitions(self._ectx, parts)
        return self._rdd(plan, "ParallelCollectionRDD", "parallelize")

    def _parallelize_range(self, r: range, n: int) -> RDD[int]:
        size = len(r)
        step = r.step
        first = r.start

        def gen(split: int, _it: Iterable[Any]) -> range:
            lo = first + (split * size // n) * step
            hi = first + ((split + 1) * size // n) * step
            return range(lo, hi, step)

        empty = _native().Rdd.from_partitions(self._ectx, [[] for _ in range(n)])
        base = self._rdd(empty, "ParallelCollectionRDD", "parallelize")
        return base.mapPartitionsWithIndex(gen)

    def range(
        self,
        start: int,
        end: int | None = None,
        step: int = 1,
        numSlices: int | None = None,
    ) -> RDD[int]:
        """An RDD of ``range(start, end, step)``; one argument means ``range(0, start)``.

        Examples
        --------
        >>> sc.range(5).collect()
        [0, 1, 2, 3, 4]
        >>> sc.range(2, 4).collect()
        [2, 3]
        """
        if end is None:
            start, end = 0, start
        return self.parallelize(range(start, end, step), numSlices)

    def emptyRDD(self) -> RDD[Any]:
        """An RDD with no partitions and no elements."""
        self._check_alive()
        plan = _native().Rdd.from_partitions(self._ectx, [])
        return self._rdd(plan, "EmptyRDD", "emptyRDD")

    @staticmethod
    def _paths(name: str) -> list[str]:
        """The local paths of a comma-separated list of paths and ``file:`` URLs (the
        engine's parser: other schemes raise IllegalArgumentException naming them)."""
        return [_native().local_path(p.strip()) for p in name.split(",")]

    def textFile(
        self, name: str, minPartitions: int | None = None, use_unicode: bool = True
    ) -> RDD[str]:
        """The lines of a text file, of the files in a directory, or of a comma-separated
        list of those, as an RDD of strings (bytes when ``use_unicode`` is False).

        Examples
        --------
        >>> path = os.path.join(tmpdir, "sample-text.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("Hello world!")
        >>> sc.textFile(path).collect()
        ['Hello world!']
        """
        self._check_alive()
        if not isinstance(name, str):
            raise TypeError(f"name should be a str, got {type(name).__name__}")
        min_parts = self.defaultMinPartitions if minPartitions is None else minPartitions
        plan = _native().Rdd.text_file(self._ectx, self._paths(name), max(int(min_parts), 1))
        rdd = self._rdd(plan, "MapPartitionsRDD", f"textFile at {name}")
        rdd._is_text = True
        if not use_unicode:
            return rdd.map(lambda s: s.encode("utf-8"))  # type: ignore[return-value]
        return rdd

    def wholeTextFiles(
        self, path: str, minPartitions: int | None = None, use_unicode: bool = True
    ) -> RDD[tuple[str, str]]:
        """``(file path, whole content)`` pairs for the files of a directory (or files).

        Paths are reported as ``file:/absolute/path``, as Spark does for local files.
        """
        self._check_alive()
        files: list[str] = []
        for p in self._paths(path):
            if os.path.isdir(p):
                for entry in sorted(os.listdir(p)):
                    full = os.path.join(p, entry)
                    if not entry.startswith((".", "_")) and os.path.isfile(full):
                        files.append(full)
            elif os.path.exists(p):
                files.append(p)
            else:
                raise FileNotFoundError(f"Input path does not exist: file:{os.path.abspath(p)}")
        n = max(1, min(len(files), minPartitions or self.defaultMinPartitions))
        names = ["file:" + os.path.abspath(f) for f in files]

        def read(name: str) -> tuple[str, Any]:
            with open(name[len("file:") :], "rb") as fh:
                data = fh.read()
            return name, (data.decode("utf-8") if use_unicode else data)

        return self.parallelize(names, n).map(read)

    def union(self, rdds: list[RDD[T]]) -> RDD[T]:
        """The union of a list of RDDs: all their partitions, in order.

        Examples
        --------
        >>> sc.union([sc.parallelize([1]), sc.parallelize([2, 3])]).collect()
        [1, 2, 3]
        """
        self._check_alive()
        rdds = list(rdds)
        if not rdds:
            raise ValueError("union() needs at least one RDD")
        plan = _native().Rdd.union(self._ectx, [r._plan for r in rdds])
        out = self._rdd(plan, "UnionRDD", "union")
        out._parents = tuple(rdds)
        return out

    # -- shared variables --------------------------------------------------------------

    def broadcast(self, value: T) -> Broadcast[T]:
        """Share a read-only ``value`` with all tasks (see :class:`Broadcast`)."""
        self._check_alive()
        return Broadcast(self, value)

    def accumulator(
        self, value: T, accum_param: AccumulatorParam[T] | None = None
    ) -> Accumulator[T]:
        """An :class:`Accumulator` starting at ``value``. int, float and complex values
        have default parameters; other types need ``accum_param``."""
        return _new_accumulator(value, accum_param)

    # -- settings ---------------------------------------------------------------------

    def setLogLevel(self, logLevel: str) -> None:
        """Set the level of the ``ferrostream`` logger, which also receives the engine's log
        records (loggers ``ferrostream.engine.*``). Valid levels: ALL, DEBUG, ERROR, FATAL,
        INFO, OFF, TRACE, WARN (any case)."""
        level = str(logLevel).upper()
        if level not in _LOG_LEVELS:
            raise IllegalArgumentException(
                f"requirement failed: Supplied level {logLevel} did not match one of: "
                + ",".join(sorted(_LOG_LEVELS))
            )
        logging.getLogger("ferrostream").setLevel(_LOG_LEVELS[level])
        _native().reset_log_cache()

    def setCheckpointDir(self, dirName: str) -> None:
        """Set (and create) the directory where RDDs and streams are checkpointed."""
        path = os.path.abspath(self._paths(dirName)[0])
        os.makedirs(path, exist_ok=True)
        self._checkpoint_dir = path

    def getCheckpointDir(self) -> str | None:
        """The checkpoint directory (an absolute path), or None if it was not set."""
        return self._checkpoint_dir

    def setLocalProperty(self, key: str, value: str | None) -> None:
        """Set a property of jobs started from this thread; None removes it."""
        props = self._local.__dict__.setdefault("props", {})
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value

    def getLocalProperty(self, key: str) -> str | None:
        """A property set with :meth:`setLocalProperty` in this thread, or None."""
        return self._local.__dict__.get("props", {}).get(key)

    def setJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False) -> None:
        """Label the jobs started from this thread (recorded only)."""
        self.setLocalProperty("spark.jobGroup.id", groupId)
        self.setLocalProperty("spark.job.description", description)
        self.setLocalProperty("spark.job.interruptOnCancel", str(interruptOnCancel).lower())

    def setJobDescription(self, value: str) -> None:
        """Describe the jobs started from this thread (recorded only)."""
        self.setLocalProperty("spark.job.description", value)

    def cancelJobGroup(self, groupId: str) -> None:
        """Accepted for compatibility; jobs run to completion."""

    def cancelAllJobs(self) -> None:
        """Accepted for compatibility; jobs run to completion."""

    def addFile(self, path: str, recursive: bool = False) -> None:
        """Add a file (or, with ``recursive=True``, a directory) to this context: it is copied
        into the context's root directory, where functions running in tasks find it with
        :meth:`SparkFiles.get` (the file's name) as on PySpark's workers.

        ``path`` is a local path or a ``file:`` URL. Adding the same path again does nothing; a
        different file with the same name and other contents raises SparkException.

        Examples
        --------
        >>> from ferrostream import SparkFiles
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
        self._check_alive()
        src = os.path.abspath(_native().local_path(os.fspath(path)))
        url = "file:" + src
        if not os.path.exists(src):
            raise FileNotFoundError(f"File {url} does not exist")
        is_dir = os.path.isdir(src)
        if is_dir and not recursive:
            raise SparkException(f"Added file {url} is a directory and recursive is not turned on.")
        if url in self._added_files:
            return
        assert self._files_root is not None
        dest = os.path.join(self._files_root, os.path.basename(src))
        if os.path.exists(dest) and not _same_contents(src, dest):
            raise SparkException(f"File {dest} exists and does not match contents of {url}")
        if is_dir:
            shutil.copytree(src, dest, dirs_exist_ok=True)
        elif not os.path.exists(dest):
            shutil.copy(src, dest)
        self._added_files[url] = int(time.time() * 1000)

    @property
    def listFiles(self) -> list[str]:
        """The files added with :meth:`addFile` (``file:`` URLs)."""
        return list(self._added_files)

    def addPyFile(self, path: str) -> None:
        """Add a ``.py``, ``.zip``, ``.egg`` or ``.jar`` dependency: it is added with
        :meth:`addFile` and importable by the driver and by functions running in tasks (the
        root directory of added files is on ``sys.path``; an archive is put on it)."""
        self.addFile(path)
        filename = os.path.basename(_native().local_path(os.fspath(path)))
        if filename[-4:].lower() in self.PACKAGE_EXTENSIONS:
            assert self._files_root is not None
            entry = os.path.join(self._files_root, filename)
            self._python_includes.append(filename)
            self._sys_path_entries.append(entry)
            sys.path.insert(1, entry)
        importlib.invalidate_caches()

    @classmethod
    def setSystemProperty(cls, key: str, value: str) -> None:
        """Set a process-wide property; ``spark.*`` ones become defaults of later
        ``SparkConf()`` objects (as JVM system properties do in Spark)."""
        _system_properties[key] = str(value)

    def runJob(
        self,
        rdd: RDD[T],
        partitionFunc: Any,
        partitions: list[int] | None = None,
        allowLocal: bool = False,
    ) -> list[Any]:
        """Run ``partitionFunc(iterator)`` on the given partitions (all by default) and
        return the concatenated results."""
        if partitions is None:
            partitions = list(range(rdd.getNumPartitions()))
        mapped = rdd.mapPartitions(partitionFunc)
        return [x for part in mapped._collect_partitions(list(partitions)) for x in part]


def _same_contents(src: str, dest: str) -> bool:
    """Whether ``dest`` (a file or directory tree) holds the same contents as ``src``."""
    if os.path.isdir(src) != os.path.isdir(dest):
        return False
    if not os.path.isdir(src):
        return filecmp.cmp(src, dest, shallow=False)
    cmp = filecmp.dircmp(src, dest)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(src, dest, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(_same_contents(os.path.join(src, d), os.path.join(dest, d)) for d in cmp.common_dirs)
