"""The course notebooks in ``notebooks/`` run headless in a real Jupyter kernel (nbclient +
ipykernel), cell by cell as Jupyter runs them, and print what their text says they print."""

from __future__ import annotations

import ast
import random
import textwrap
from operator import add
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

pytestmark = pytest.mark.slow


def execute(nb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: str) -> Any:
    """Run every cell in a fresh kernel (working directory ``tmp_path``); errors fail."""
    monkeypatch.setenv("RUN_SECONDS", seconds)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return nb


def run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: str = "6") -> Any:
    return execute(nbformat.read(NOTEBOOKS / name, as_version=4), tmp_path, monkeypatch, seconds)


def stdout(nb: Any) -> str:
    return "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "stream" and o.name == "stdout"
    )


def html_outputs(nb: Any) -> list[str]:
    return [
        o["data"]["text/html"]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "data" in o and "text/html" in o["data"]
    ]


def no_errors(nb: Any) -> None:
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            assert o.output_type != "error", f"{o.ename}: {o.evalue}"
            assert "Traceback" not in o.get("text", ""), o["text"]


@pytest.mark.timeout(180)
def test_network_wordcount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run("network_wordcount.ipynb", tmp_path, monkeypatch)
    no_errors(nb)
    out = stdout(nb)
    assert out.startswith("serving on port ")
    counts: dict[str, int] = {}
    for line in out.splitlines():
        if line.startswith("("):
            word, n = ast.literal_eval(line)
            counts[word] = counts.get(word, 0) + n
    assert counts["the"] > 0 and counts["fox"] > 0
    assert set(counts) <= set("the quick brown fox jumps over dog sleeps a runs".split())
    assert "Time: " in out


@pytest.mark.timeout(180)
def test_stateful_wordcount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run("stateful_wordcount.ipynb", tmp_path, monkeypatch)
    no_errors(nb)
    out = stdout(nb)
    assert out.startswith("serving 12 lines on port ")
    expected: dict[str, int] = {}
    for line in ["to be or not to be", "that is the question", "to see or not to see"] * 4:
        for word in line.split(" "):
            expected[word] = expected.get(word, 0) + 1
    assert f"final totals: {sorted(expected.items())}" in out
    # Running totals only grow: 'to' as pprint showed it batch by batch.
    seen = [ast.literal_eval(line)[1] for line in out.splitlines() if line.startswith("('to', ")]
    assert seen == sorted(seen) and seen[-1] == 16
    # The context's rich summary in Jupyter.
    (summary,) = [h for h in html_outputs(nb) if "<b>StreamingContext</b>" in h]
    assert "<dt>State</dt><dd><code>ACTIVE</code></dd>" in summary
    assert "<dt>Batch interval</dt><dd><code>1 s</code></dd>" in summary
    assert "completed batches</p><table>" in summary


def window_expectations(batches: list[list[str]], length: int) -> list[str]:
    lines = []
    for i in range(len(batches)):
        words = [
            w
            for b in batches[max(0, i - length + 1) : i + 1]
            for line in b
            for w in line.split(" ")
        ]
        counts: dict[str, int] = {}
        for w in words:
            counts[w] = counts.get(w, 0) + 1
        per_word = sorted(counts.items())
        lines.append(f"batch {i + 1}: words in window: [{len(words)}]")
        lines.append(f"batch {i + 1}: per word (incremental): {per_word}")
        lines.append(f"batch {i + 1}: per word (recomputed): {per_word}")
    return lines


@pytest.mark.timeout(180)
def test_windowed_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = run("windowed_counts.ipynb", tmp_path, monkeypatch)
    no_errors(nb)
    batches = [["a b", "a"], ["b c"], ["a"], [], ["c c"]]
    assert stdout(nb).splitlines() == window_expectations(batches, 3)


def top5(totals: dict[Any, float]) -> list[str]:
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    values = [v for _, v in ranked]
    # The notebook's data has no ties at the fifth place (a tie would make the order arbitrary).
    assert len(values) <= 5 or values[4] != values[5]
    return [str(k) for k, _ in ranked[:5]]


@pytest.mark.timeout(180)
def test_brokerage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.read(NOTEBOOKS / "brokerage.ipynb", as_version=4)
    # The orders, made by the notebook's own data cell (a fixed seed), computed in plain Python.
    (data_cell,) = [c.source for c in notebook.cells if "random.Random(7)" in c.source]
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(data_cell), namespace)
    orders = [line.split(",") for lines in namespace["files"] for line in lines]
    assert len(orders) == 120 and random.Random is namespace["random"].Random
    buys = sum(1 for o in orders if o[6] == "B")
    clients: dict[int, float] = {}
    stocks: dict[str, int] = {}
    for o in orders:
        clients[int(o[2])] = clients.get(int(o[2]), 0.0) + int(o[4]) * float(o[5])
        stocks[o[3]] = add(stocks.get(o[3], 0), int(o[4]))

    nb = execute(notebook, tmp_path, monkeypatch, "6")
    no_errors(nb)
    out = stdout(nb)
    assert f"buys: {buys} sells: {120 - buys}\n" in out
    assert f"top 5 clients: {top5(clients)}\n" in out
    assert f"top 5 stocks: {top5(stocks)}\n" in out
    assert "('TOP5CLIENTS', [" in out  # pprint of the report, batch by batch
    assert "Wrong line format" not in out


@pytest.mark.timeout(120)
def test_progress_of_a_long_action_in_a_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long action shows an HTML progress line in the cell, updated in place, replaced by
    what finished when it is done; spark.ui.showConsoleProgress=false shows none."""
    cells = [
        "import time\n"
        "from ferrostream import SparkConf, SparkContext\n"
        "def slow(it):\n"
        "    time.sleep(1.2)\n"
        "    return it\n",
        "sc = SparkContext('local[2]', 'progress')\n"
        "print(sc.parallelize(range(4), 2).mapPartitions(slow).count())",
        "sc.stop()\n"
        "conf = SparkConf().setMaster('local[2]').setAppName('quiet')\n"
        "sc = SparkContext(conf=conf.set('spark.ui.showConsoleProgress', 'false'))\n"
        "print(sc.parallelize(range(4), 2).mapPartitions(slow).count())\n"
        "sc.stop()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    execute(nb, tmp_path, monkeypatch, "1")
    no_errors(nb)
    shown = [
        o["data"]["text/html"]
        for o in nb.cells[1].outputs
        if "data" in o and "text/html" in o["data"]
    ]
    assert len(shown) == 1, nb.cells[1].outputs
    assert 'class="ferrostream-progress"' in shown[0]
    assert "[count: done in 1." in shown[0]
    assert "4\n" in "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert not [o for o in nb.cells[2].outputs if "data" in o]
