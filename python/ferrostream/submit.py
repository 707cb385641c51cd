"""``ferrostream-submit``: run an unmodified PySpark script on ferrostream.

Usage::

    ferrostream-submit [--master local[N]] [--name NAME] [--conf k=v]... [--py-files a.zip,b.py]
                       [--files a.txt,b.csv] [other spark-submit options] script.py [args...]

For the run of ``script.py`` only, ``import pyspark`` and every ``pyspark.X`` module resolve to
``ferrostream`` / ``ferrostream.X`` (``pyspark.core.X`` of Spark 4 too). No ``pyspark`` package is
installed or needed. spark-submit options that make no sense without a JVM or a cluster are
accepted and ignored with a one-line note on stderr.

Configuration reaches the script as in Spark, where spark-submit passes it as JVM system
properties: every ``--conf``, the ``--properties-file`` entries, ``spark.master`` (``--master``
or ``local[*]``) and ``spark.app.name`` (``--name`` or the script's file name) are set with
``SparkContext.setSystemProperty``, so they are the defaults of every ``SparkConf()`` the script
creates (values the script sets itself win). For child processes and tools the environment also
gets ``FERROSTREAM_SUBMIT=1``, ``FERROSTREAM_MASTER``, ``FERROSTREAM_APP_NAME`` and
``FERROSTREAM_CONF`` (the same properties as a JSON object).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import runpy
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType, TracebackType
from typing import TextIO

__all__ = ["install_pyspark_alias", "main"]

PROG = "ferrostream-submit"

# Options that take a value and that ferrostream has no use for.
_IGNORED_WITH_VALUE = {
    "--deploy-mode",
    "--class",
    "--jars",
    "--packages",
    "--exclude-packages",
    "--repositories",
    "--archives",
    "--driver-memory",
    "--driver-java-options",
    "--driver-library-path",
    "--driver-class-path",
    "--driver-cores",
    "--executor-memory",
    "--executor-cores",
    "--total-executor-cores",
    "--num-executors",
    "--proxy-user",
    "--queue",
    "--principal",
    "--keytab",
}
_IGNORED_FLAGS = {"--supervise"}
_HANDLED_WITH_VALUE = {
    "--master",
    "--name",
    "--conf",
    "-c",
    "--py-files",
    "--files",
    "--properties-file",
}

USAGE = f"""usage: {PROG} [options] script.py [script args...]

Runs a PySpark program on ferrostream: `import pyspark...` resolves to ferrostream.

Options:
  --master MASTER          local, local[N] or local[*] (default: local[*])
  --name NAME              application name (default: the script's file name)
  --conf, -c PROP=VALUE    a Spark property (repeatable)
  --properties-file FILE   Spark properties ("key value" or "key=value" lines)
  --py-files FILES         comma-separated .py/.zip/.egg files put on sys.path
  --files FILES            comma-separated files added to every SparkContext
                           (sc.addFile; tasks find them with SparkFiles.get(name))
  --verbose, -v            print the resolved configuration
  --help, -h               show this message
  --version                print the ferrostream version
Other spark-submit options (--packages, --jars, --executor-memory, ...) are accepted and
ignored with a note.
"""


class SubmitError(Exception):
    """A bad command line."""


class _Options:
    def __init__(self) -> None:
        self.master: str | None = None
        self.name: str | None = None
        self.conf: dict[str, str] = {}
        self.py_files: list[str] = []
        self.verbose = False
        self.script: str | None = None
        self.args: list[str] = []


def _note(message: str, err: TextIO) -> None:
    print(f"{PROG}: {message}", file=err, flush=True)


def _read_properties(path: str) -> dict[str, str]:
    props: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise SubmitError(f"cannot read properties file {path}: {exc}") from exc
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        if "=" in line and (" " not in line or line.index("=") < line.index(" ")):
            key, _, value = line.partition("=")
        else:
            key, _, value = line.partition(" ")
        props[key.strip()] = value.strip()
    return props


def _parse(argv: Sequence[str], err: TextIO) -> _Options | None:
    """Parse the command line; None means "done" (help or version printed)."""
    opts = _Options()
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            opts.script = arg
            opts.args = args[i + 1 :]
            return opts
        if arg == "--":
            if i + 1 >= len(args):
                break
            opts.script = args[i + 1]
            opts.args = args[i + 2 :]
            return opts
        if arg in ("-h", "--help"):
            print(USAGE, end="")
            return None
        if arg == "--version":
            from ferrostream import _native

            print(f"ferrostream {getattr(_native, '__version__', 'unknown')}")
            return None
        if arg in ("-v", "--verbose"):
            opts.verbose = True
            i += 1
            continue
        if arg in _IGNORED_FLAGS:
            _note(f"ignoring {arg} (not needed by ferrostream)", err)
            i += 1
            continue
        name, has_eq, inline = arg.partition("=")
        if name in _HANDLED_WITH_VALUE or name in _IGNORED_WITH_VALUE:
            if has_eq:
                value = inline
                i += 1
            else:
                if i + 1 >= len(args):
                    raise SubmitError(f"option {name} needs a value")
                value = args[i + 1]
                i += 2
            _apply(opts, name, value, err)
            continue
        raise SubmitError(f"unknown option {arg} (see {PROG} --help)")
    raise SubmitError("no script given (see --help)")


def _packages_note(value: str, option: str = "--packages") -> str:
    """What ``--packages``/``--jars`` mean here: the Kafka and Kinesis connectors are built in,
    nothing is fetched or loaded."""
    coords = [c.strip() for c in value.split(",") if c.strip()]
    kafka = [c for c in coords if "spark-streaming-kafka" in c or "spark-sql-kafka" in c]
    kinesis = [c for c in coords if "kinesis-asl" in c]
    others = [c for c in coords if c not in kafka and c not in kinesis]
    notes = []
    if kafka:
        notes.append(f"Kafka support is built into ferrostream ({', '.join(kafka)} is not needed)")
    if kinesis:
        notes.append(
            f"Kinesis support is built into ferrostream ({', '.join(kinesis)} is not needed)"
        )
    if others:
        what = "JVM packages" if option == "--packages" else "jars"
        notes.append(f"ignoring {option} {','.join(others)}: ferrostream loads no {what}")
    return "; ".join(notes) or f"ignoring an empty {option}"


def _apply(opts: _Options, name: str, value: str, err: TextIO) -> None:
    if name in ("--packages", "--jars"):
        _note(_packages_note(value, name), err)
    elif name in _IGNORED_WITH_VALUE:
        _note(f"ignoring {name} (not needed by ferrostream)", err)
    elif name == "--master":
        if value.startswith("local"):
            opts.master = value
        else:
            _note(f"ferrostream runs locally: using local[*] instead of --master {value}", err)
            opts.master = "local[*]"
    elif name == "--name":
        opts.name = value
    elif name in ("--conf", "-c"):
        key, eq, conf_value = value.partition("=")
        if not eq or not key:
            raise SubmitError(f"--conf expects PROP=VALUE, got {value!r}")
        opts.conf[key] = conf_value
    elif name == "--properties-file":
        for key, prop in _read_properties(value).items():
            opts.conf.setdefault(key, prop)
    elif name == "--py-files":
        opts.py_files.extend(p for p in value.split(",") if p)
    elif name == "--files":
        # spark-submit resolves them against its working directory into spark.files.
        paths = [p if ":" in p else os.path.abspath(p) for p in value.split(",") if p]
        previous = opts.conf.get("spark.files")
        opts.conf["spark.files"] = ",".join(([previous] if previous else []) + paths)


class _PysparkAliasLoader(importlib.abc.Loader):
    """Loads ``pyspark.X`` by importing ``ferrostream.X`` and returning that same module."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The module was executed when ``ferrostream.X`` was imported."""


class PysparkAliasFinder(importlib.abc.MetaPathFinder):
    """Maps any ``pyspark[.X]`` import to ``ferrostream[.X]`` (``pyspark.core.X`` too)."""

    @staticmethod
    def target_of(fullname: str) -> str | None:
        if fullname == "pyspark":
            return "ferrostream"
        if not fullname.startswith("pyspark."):
            return None
        rest = fullname[len("pyspark.") :]
        if rest.startswith("core."):
            rest = rest[len("core.") :]
        elif rest == "core":
            return "ferrostream"
        return "ferrostream." + rest

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        module_name = self.target_of(fullname)
        if module_name is None:
            return None
        try:
            found = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            return None
        if found is None:
            return None
        is_package = found.submodule_search_locations is not None
        return importlib.machinery.ModuleSpec(
            fullname, _PysparkAliasLoader(module_name), is_package=is_package
        )


def install_pyspark_alias() -> PysparkAliasFinder:
    """Make ``import pyspark...`` resolve to ferrostream in this process."""
    for finder in sys.meta_path:
        if isinstance(finder, PysparkAliasFinder):
            return finder
    finder = PysparkAliasFinder()
    sys.meta_path.insert(0, finder)
    for name in [n for n in sys.modules if n == "pyspark" or n.startswith("pyspark.")]:
        del sys.modules[name]
    return finder


def _configure_environment(opts: _Options, script: str) -> dict[str, str]:
    conf = dict(opts.conf)
    master = opts.master or conf.get("spark.master") or "local[*]"
    name = opts.name or conf.get("spark.app.name") or os.path.basename(script)
    conf["spark.master"] = master
    conf["spark.app.name"] = name
    # Like spark-submit's JVM system properties: defaults of every SparkConf() made later in
    # this process (values the script sets itself win).
    from ferrostream.context import SparkContext

    for key, value in conf.items():
        SparkContext.setSystemProperty(key, value)
    os.environ["FERROSTREAM_SUBMIT"] = "1"
    os.environ["FERROSTREAM_CONF"] = json.dumps(conf, sort_keys=True)
    os.environ["FERROSTREAM_MASTER"] = master
    os.environ["FERROSTREAM_APP_NAME"] = name
    return conf


def _extend_path(py_files: list[str], script: str) -> None:
    extra = []
    for item in py_files:
        path = os.path.abspath(item)
        extra.append(os.path.dirname(path) if path.endswith(".py") else path)
    script_dir = os.path.dirname(os.path.abspath(script))
    sys.path[:0] = [script_dir, *[p for p in extra if p != script_dir]]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ferrostream-submit``; returns the process exit code."""
    err = sys.stderr
    try:
        opts = _parse(sys.argv[1:] if argv is None else argv, err)
    except SubmitError as exc:
        _note(str(exc), err)
        return 2
    if opts is None:
        return 0
    script = opts.script
    assert script is not None
    if not os.path.isfile(script):
        _note(f"cannot open script {script!r}: no such file", err)
        return 2
    conf = _configure_environment(opts, script)
    if opts.verbose:
        for key in sorted(conf):
            _note(f"{key}={conf[key]}", err)
    _extend_path(opts.py_files, script)
    install_pyspark_alias()
    sys.argv = [script, *opts.args]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=err)
        return 1
    except KeyboardInterrupt:
        # Ctrl+C: as a shell reports a SIGINT, without a traceback.
        return 130
    except BaseException as exc:
        _print_script_error(exc, err)
        return 1
    return 0


def _is_machinery(tb: TracebackType) -> bool:
    """Frames of this module and of runpy: how the script was started, not the script."""
    frame = tb.tb_frame
    return frame.f_globals.get("__name__") == "runpy" or frame.f_code.co_filename == __file__


def _print_script_error(exc: BaseException, err: TextIO) -> None:
    """Python's report of an uncaught exception, without the frames of ferrostream-submit and
    of ferrostream's facade (the user's frames, down to the call into ferrostream)."""
    from ferrostream._tracebacks import without_facade

    tb = exc.__traceback__
    while tb is not None and _is_machinery(tb):
        tb = tb.tb_next
    exc.with_traceback(tb)
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.with_traceback(without_facade(link.__traceback__))
        link = link.__cause__ if link.__cause__ is not None else link.__context__
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)
    err.flush()


if __name__ == "__main__":
    sys.exit(main())
