"""``ferrostream-shell``: an interactive Python with ``sc`` predefined, as ``pyspark`` is.

Usage::

    ferrostream-shell [--master local[N]] [--name NAME] [--conf k=v]... [--py-files a.py,b.zip]
                      [-i script.py] [--no-ipython]

Starts IPython when it is installed (the plain ``python`` console otherwise, or with
``--no-ipython``), greets with Spark's banner and defines ``sc``, a :class:`SparkContext` made
from the command line's settings (``local[*]`` and ``PySparkShell`` by default). Lecture code
written for the ``pyspark`` shell runs as it is: ``import pyspark...`` resolves to ferrostream, and
``-i script.py`` runs a file in the shell's namespace before the prompt. ``sc`` is stopped when
the shell exits.
"""

from __future__ import annotations

import argparse
import atexit
import code
import importlib
import os
import platform
import sys
import traceback
from collections.abc import Sequence
from typing import Any, Optional

__all__ = ["banner", "main"]

PROG = "ferrostream-shell"

_LOGO = r"""Welcome to
   ___                     __
  / _/__ ___________  ___ / /________ ___ ___ _
 / _/ -_) __/ __/ _ \(_-</ __/ __/ -_) _ `/  ' \
/_/ \__/_/ /_/  \___/___/\__/_/  \__/\_,_/_/_/_/   version {version}
"""


def banner(sc: Any) -> str:
    """The greeting: logo, versions, and what is predefined (Spark's shell's lines)."""
    from ferrostream import __version__
    from ferrostream.context import SPARK_VERSION

    build = platform.python_build()
    lines = [
        _LOGO.format(version=__version__),
        f"PySpark {SPARK_VERSION} API (pyspark.streaming), engine in Rust: no JVM.",
        f"Using Python version {platform.python_version()} ({build[0]}, {build[1]})",
    ]
    ui = sc.uiWebUrl
    if ui:
        lines.append(f"Spark context Web UI available at {ui}")
    lines.append(
        f"Spark context available as 'sc' (master = {sc.master}, app id = {sc.applicationId})."
    )
    lines.append(
        "`from pyspark.streaming import StreamingContext` works here; sc.stop() happens on exit."
    )
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Interactive Python with a ferrostream SparkContext predefined as `sc`.",
    )
    p.add_argument("--master", help="local, local[N] or local[*] (default: local[*])")
    p.add_argument("--name", help="application name (default: PySparkShell)")
    p.add_argument(
        "--conf",
        "-c",
        action="append",
        default=[],
        metavar="PROP=VALUE",
        help="a Spark property (repeatable)",
    )
    p.add_argument("--py-files", default="", help="comma-separated .py/.zip files for sys.path")
    p.add_argument("-i", dest="script", metavar="script.py", help="run a file, then the prompt")
    p.add_argument(
        "--no-ipython", action="store_true", help="the plain Python console even with IPython"
    )
    p.add_argument("--version", action="store_true", help="print the ferrostream version")
    return p


def _make_context(args: argparse.Namespace) -> Any:
    from ferrostream.conf import SparkConf
    from ferrostream.context import SparkContext

    conf = SparkConf()
    for item in args.conf:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SystemExit(f"{PROG}: --conf expects PROP=VALUE, got {item!r}")
        conf.set(key, value)
    master = args.master or conf.get("spark.master")
    if master and not master.startswith("local"):
        print(
            f"{PROG}: ferrostream runs locally: using local[*] instead of {master}", file=sys.stderr
        )
        master = "local[*]"
    conf.setMaster(master or "local[*]")
    if args.name or conf.get("spark.app.name") in (None, "pyspark-shell"):
        conf.setAppName(args.name or "PySparkShell")
    for path in filter(None, args.py_files.split(",")):
        full = os.path.abspath(path)
        sys.path.insert(0, os.path.dirname(full) if full.endswith(".py") else full)
    return SparkContext(conf=conf)


def _run_script(path: str, namespace: dict[str, Any]) -> None:
    """Run ``path`` in the shell's namespace; an error is printed and the prompt still comes."""
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
    except OSError as exc:
        print(f"{PROG}: cannot read {path}: {exc}", file=sys.stderr)
        return
    namespace["__file__"] = os.path.abspath(path)
    try:
        exec(compile(source, path, "exec"), namespace)
    except SystemExit:
        raise
    except BaseException as exc:
        # The user's frames only: drop this function's own frame.
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        traceback.print_exception(type(exc), exc, tb)
    finally:
        namespace.pop("__file__", None)


def _ipython() -> Optional[Any]:
    try:
        return importlib.import_module("IPython")
    except ImportError:
        return None


def _plain_console(namespace: dict[str, Any], greeting: str) -> None:
    try:
        import readline
        import rlcompleter

        readline.set_completer(rlcompleter.Completer(namespace).complete)
        readline.parse_and_bind("tab: complete")
    except ImportError:  # no readline (e.g. Windows): no completion
        pass
    code.interact(banner=greeting, local=namespace, exitmsg="")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``ferrostream-shell``; returns the exit status."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        from ferrostream import __version__

        print(f"ferrostream {__version__}")
        return 0
    from ferrostream.submit import install_pyspark_alias

    install_pyspark_alias()
    # Lecture code often creates its own StreamingContext: DStream's deprecation notice (Spark
    # 3.4+) says nothing useful in a shell.
    import warnings

    warnings.filterwarnings("ignore", "DStream is deprecated", FutureWarning)
    sc = _make_context(args)
    atexit.register(sc.stop)
    namespace: dict[str, Any] = {"__name__": "__main__", "__doc__": None, "sc": sc}
    greeting = banner(sc)
    ipython = None if args.no_ipython else _ipython()
    if args.script:
        print(greeting, flush=True)
        greeting = ""
        _run_script(args.script, namespace)
    if ipython is not None:
        if greeting:
            print(greeting, flush=True)
        options = ["--no-banner"]
        if not sys.stdin.isatty():  # piped input: end at its end, without asking
            options.append("--no-confirm-exit")
        ipython.start_ipython(argv=options, user_ns=namespace)
    else:
        _plain_console(namespace, greeting)
    sc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
