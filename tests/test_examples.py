"""Run every program under ``examples/`` as a user would and check what it prints or writes.

The PySpark-style examples run under ``ferrostream-submit`` (their ``from pyspark ...`` imports
resolve to ferrostream), in a subprocess, against a :class:`LineServer` on 127.0.0.1 or a
temporary directory, with short batch intervals (the examples' optional last arguments). Each
test waits, with a generous deadline, until the output holds the result computed here in plain
Python, then stops the program.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from ferrostream.lineserver import LineServer
from waiting import poll

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BROKERAGE = EXAMPLES / "brokerage"
DEADLINE = 45.0  # seconds; results normally arrive within a few
SEPARATOR = "-" * 43


def submit_command() -> list[str]:
    script = Path(sys.executable).parent / "ferrostream-submit"
    if script.exists():
        return [str(script), "--master", "local[2]"]
    return [sys.executable, "-m", "ferrostream.submit", "--master", "local[2]"]


class Program:
    """A running example: its stdout is collected line by line in a background thread."""

    def __init__(self, args: list[str], tmp_path: Path, submit: bool = True) -> None:
        command = [*submit_command(), *args] if submit else [sys.executable, *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.stderr_path = tmp_path / f"stderr-{time.monotonic_ns()}.txt"
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
        poll(lambda: condition() or self.proc.poll() is not None, timeout, 0.1)
        if self.proc.poll() is not None:
            self._reader.join(10)  # the program ended: read the rest of its output
        if condition():
            return
        out = "\n".join(self.lines()[-60:])
        pytest.fail(
            f"timed out waiting for {what} (exit code {self.proc.poll()})\n"
            f"--- stdout (tail) ---\n{out}\n--- stderr ---\n{self.stderr()[-4000:]}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def pprint_blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """The complete ``pprint`` blocks in ``lines``: (time text, record lines)."""
    blocks = []
    i = 0
    while i + 2 < len(lines):
        if (
            lines[i] == SEPARATOR
            and lines[i + 1].startswith("Time: ")
            and lines[i + 2] == SEPARATOR
        ):
            j = i + 3
            while j < len(lines) and lines[j] != "":
                j += 1
            if j == len(lines):
                break  # not finished yet
            blocks.append((lines[i + 1][len("Time: ") :], lines[i + 3 : j]))
            i = j + 1
        else:
            i += 1
    return blocks


def pprint_pairs(lines: list[str]) -> list[list[tuple[Any, Any]]]:
    """The records of every pprint block of a pair stream, as Python tuples."""
    result = []
    for _, records in pprint_blocks(lines):
        assert "..." not in records, "a batch had more than 10 records"
        result.append([ast.literal_eval(r) for r in records])
    return result


def batch_totals(lines: list[str]) -> Counter[Any]:
    total: Counter[Any] = Counter()
    for batch in pprint_pairs(lines):
        for key, n in batch:
            total[key] += n
    return total


def word_lines(n: int, vocabulary: list[str], seed: int = 1) -> list[str]:
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choices(vocabulary, k=rng.randint(1, 6))) for _ in range(n)]


def word_counts(lines: list[str]) -> Counter[str]:
    return Counter(w for line in lines for w in line.split(" "))


@pytest.fixture
def running() -> Iterator[list[Program]]:
    """Programs started by a test; stopped at its end."""
    programs: list[Program] = []
    yield programs
    for p in programs:
        p.stop()


def start(running: list[Program], args: list[Any], tmp_path: Path, submit: bool = True) -> Program:
    program = Program([str(a) for a in args], tmp_path, submit)
    running.append(program)
    return program


# --------------------------------------------------------------------------------------------
# argument checking


@pytest.mark.parametrize(
    "script, args",
    [
        ("network_wordcount.py", []),
        ("network_wordcount.py", ["localhost"]),
        ("stateful_network_wordcount.py", ["localhost"]),
        ("recoverable_network_wordcount.py", ["localhost", "9999"]),
        ("hdfs_wordcount.py", []),
        ("queue_stream.py", ["1", "2"]),
        ("network_wordjoinsentiments.py", []),
        ("brokerage/brokerage.py", ["input"]),
    ],
)
def test_usage_line(script: str, args: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [*submit_command(), str(EXAMPLES / script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "Usage: " + Path(script).name in proc.stderr


# --------------------------------------------------------------------------------------------
# socket examples

VOCABULARY = ["spark", "stream", "rust", "batch", "word", "count"]


def test_network_wordcount(running: list[Program], tmp_path: Path) -> None:
    sent = word_lines(300, VOCABULARY)
    with LineServer(sent) as server:
        program = start(
            running,
            [EXAMPLES / "network_wordcount.py", "127.0.0.1", server.port, 0.3],
            tmp_path,
        )
        expected = word_counts(sent)
        program.wait_for(lambda: batch_totals(program.lines()) == expected, "all word counts")
    assert all(len(batch) <= len(VOCABULARY) for batch in pprint_pairs(program.lines()))


def test_stateful_network_wordcount(running: list[Program], tmp_path: Path) -> None:
    sent = word_lines(200, [*VOCABULARY, "hello"], seed=2)
    expected = word_counts(sent) + Counter({"hello": 1, "world": 1})
    with LineServer(sent) as server:
        program = start(
            running,
            [
                EXAMPLES / "stateful_network_wordcount.py",
                "127.0.0.1",
                server.port,
                tmp_path / "ckpt",
                0.3,
            ],
            tmp_path,
        )

        def latest_totals() -> Counter[Any]:
            batches = pprint_pairs(program.lines())
            return Counter(dict(batches[-1])) if batches else Counter()

        program.wait_for(lambda: latest_totals() == expected, "the running totals")
    batches = pprint_pairs(program.lines())
    # The initial state shows from the first batch on; totals never go down.
    assert dict(batches[0]).get("world") == 1
    for before, after in zip(batches, batches[1:]):
        assert all(dict(after).get(k, 0) >= v for k, v in before)


_COUNTS_LINE = re.compile(r"^Counts at time (\S+ \S+) (\[.*\])$")


def _file_counts(path: Path) -> list[list[tuple[str, int]]]:
    if not path.exists():
        return []
    result = []
    for line in path.read_text().splitlines():
        m = _COUNTS_LINE.match(line)
        assert m, f"unexpected line in the output file: {line!r}"
        result.append(ast.literal_eval(m.group(2)))
    return result


def _sum_counts(batches: list[list[tuple[str, int]]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for batch in batches:
        for word, n in batch:
            total[word] += n
    return total


def _dropped(lines: list[str]) -> int | None:
    found = [int(m.group(1)) for s in lines if (m := re.match(r"Dropped (\d+) word", s))]
    return found[-1] if found else None


def test_recoverable_network_wordcount(running: list[Program], tmp_path: Path) -> None:
    out = tmp_path / "counts.txt"
    ckpt = tmp_path / "ckpt"
    first = word_lines(150, ["a", "b", "c", "alpha", "beta", "gamma"], seed=3)
    all_first = word_counts(first)
    kept_first = Counter({w: n for w, n in all_first.items() if w not in "abc"})
    dropped_first = sum(n for w, n in all_first.items() if w in "abc")
    script = EXAMPLES / "recoverable_network_wordcount.py"

    with LineServer(first) as server:
        port = server.port
        program = start(running, [script, "127.0.0.1", port, ckpt, out, 0.3], tmp_path)
        program.wait_for(
            lambda: (
                _sum_counts(_file_counts(out)) == kept_first
                and _dropped(program.lines()) == dropped_first
            ),
            "the first run's counts in the output file",
        )
        assert "Creating a new context" in program.lines()
        program.stop()
    lines_after_first = len(_file_counts(out))

    # Restart from the checkpoint: the context comes back with the same host and port.
    second = word_lines(100, ["a", "delta", "epsilon"], seed=4)
    all_second = word_counts(second)
    kept_second = Counter({w: n for w, n in all_second.items() if w != "a"})
    with LineServer(second, port=port) as server:
        program = start(running, [script, "127.0.0.1", port, ckpt, out, 0.3], tmp_path)
        program.wait_for(
            lambda: any(s.startswith("Counts at time") for s in program.lines()), "a batch"
        )
        # getOrCreate recovered the context from the checkpoint: setupFunc was not called,
        # and the recovered context appends to the output file.
        assert "Creating a new context" not in program.lines()
        offset = lines_after_first
        program.wait_for(
            lambda: (
                _sum_counts(_file_counts(out)[offset:]) == kept_second
                and _dropped(program.lines()) == all_second["a"]
            ),
            "the second run's counts in the output file",
        )
    assert _sum_counts(_file_counts(out)[:lines_after_first]) == kept_first


def test_network_wordjoinsentiments(running: list[Program], tmp_path: Path) -> None:
    scores = {}
    for line in (EXAMPLES / "data" / "word_scores.txt").read_text().splitlines():
        word, score = line.split("\t")
        scores[word] = int(score)
    assert len(scores) >= 40 and all(-5 <= s <= 5 for s in scores.values())
    # One line, so the whole text lands in one batch. Happiness = score x count.
    words = (
        ["wonderful"] * 3  # 15
        + ["happy"] * 4  # 12
        + ["love"] * 3  # 9
        + ["good"] * 4  # 8
        + ["joy"]  # 4
        + ["fine"] * 2  # 2
        + ["sad"] * 5  # -10
        + ["the", "and", "streaming", "terrible"]
    )
    happiness: Counter[str] = Counter()
    for w in words:
        if w in scores:
            happiness[w] += scores[w]
    expected_top = sorted(happiness.items(), key=lambda kv: -kv[1])[:5]
    assert len({h for _, h in sorted(happiness.items(), key=lambda kv: -kv[1])[:6]}) == 6

    header = re.compile(r"^Happiest words of this batch \((\d+) scored words\):$")

    def report() -> tuple[int, list[tuple[str, int]]] | None:
        lines = program.lines()
        for i, line in enumerate(lines):
            m = header.match(line)
            if m and int(m.group(1)) > 0 and len(lines) >= i + 6:
                top = [(s.split(": ")[0], int(s.split(": ")[1])) for s in lines[i + 1 : i + 6]]
                return int(m.group(1)), top
        return None

    with LineServer([" ".join(words)]) as server:
        script = EXAMPLES / "network_wordjoinsentiments.py"
        program = start(running, [script, "127.0.0.1", server.port, 0.5], tmp_path)
        program.wait_for(lambda: report() is not None, "a report of a non-empty batch")
    assert report() == (len(happiness), expected_top)


# --------------------------------------------------------------------------------------------
# directory and queue examples


def test_hdfs_wordcount(running: list[Program], tmp_path: Path) -> None:
    watched = tmp_path / "incoming"
    watched.mkdir()
    program = start(running, [EXAMPLES / "hdfs_wordcount.py", watched, 0.3], tmp_path)
    program.wait_for(lambda: len(pprint_blocks(program.lines())) > 0, "the first batch")
    expected: Counter[str] = Counter()
    for i in range(3):
        text = word_lines(50, VOCABULARY, seed=10 + i)
        expected += word_counts(text)
        hidden = watched / f".part{i}.tmp"
        hidden.write_text("".join(line + "\n" for line in text))
        os.rename(hidden, watched / f"part{i}.txt")
        so_far = Counter(expected)
        program.wait_for(
            lambda so_far=so_far: batch_totals(program.lines()) == so_far, f"file {i}'s counts"
        )


def test_queue_stream(running: list[Program], tmp_path: Path) -> None:
    program = start(running, [EXAMPLES / "queue_stream.py", 0.25], tmp_path)
    assert program.proc.wait(60) == 0, program.stderr()
    program.stop()  # waits for the rest of the output
    batches = [b for b in pprint_pairs(program.lines()) if b]
    assert len(batches) == 5
    for batch in batches:
        assert sorted(batch) == [(digit, 100) for digit in range(10)]


# --------------------------------------------------------------------------------------------
# the brokerage pipeline


def _read_reports(prefix: Path) -> list[tuple[int, list[tuple[str, list[str]]]]]:
    """(batch ms, records) of every finished output directory ``<prefix>-<ms>.txt``."""
    reports = []
    for d in prefix.parent.glob(prefix.name + "-*.txt"):
        if not (d / "_SUCCESS").exists():
            continue
        ms = int(d.name[len(prefix.name) + 1 : -len(".txt")])
        records = []
        for part in sorted(d.glob("part-*")):
            records += [ast.literal_eval(s) for s in part.read_text().splitlines()]
        reports.append((ms, records))
    return sorted(reports)


def test_generate_orders_layout(tmp_path: Path) -> None:
    out = tmp_path / "orders.txt"
    args = ["--orders", "50", "--clients", "7", "--out", out]
    subprocess.run([sys.executable, BROKERAGE / "generate_orders.py", *args], check=True)
    lines = out.read_text().splitlines()
    assert len(lines) == 50
    for i, line in enumerate(lines, 1):
        when, order_id, client, symbol, amount, price, side = line.split(",")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", when)
        assert int(order_id) == i and 1 <= int(client) <= 7
        assert symbol.isalpha() and symbol.isupper()
        assert int(amount) > 0 and float(price) > 0 and side in ("B", "S")
    again = tmp_path / "again.txt"
    args = ["--orders", "50", "--clients", "7", "--out", again]
    subprocess.run([sys.executable, BROKERAGE / "generate_orders.py", *args], check=True)
    assert again.read_text() == out.read_text()


def test_split_and_send(tmp_path: Path) -> None:
    orders = tmp_path / "orders.txt"
    orders.write_text("".join(f"line {i}\n" for i in range(25)))
    target = tmp_path / "input"
    args = [BROKERAGE / "split_and_send.py", target, "--orders-file", orders]
    subprocess.run([sys.executable, *args, "--lines", "10", "--pause", "0"], check=True)
    assert sorted(os.listdir(target)) == ["chunkaa", "chunkab", "chunkac"]
    text = "".join((target / name).read_text() for name in ["chunkaa", "chunkab", "chunkac"])
    assert text == orders.read_text()


def test_brokerage_pipeline(running: list[Program], tmp_path: Path) -> None:
    orders = tmp_path / "orders.txt"
    args = ["--orders", "2400", "--clients", "40", "--out", orders]
    subprocess.run([sys.executable, BROKERAGE / "generate_orders.py", *args], check=True)
    rows = [line.split(",") for line in orders.read_text().splitlines()]
    client_value: Counter[str] = Counter()
    stock_amount: Counter[str] = Counter()
    for row in rows:
        client_value[row[2]] += int(row[4]) * float(row[5])
        stock_amount[row[3]] += int(row[4])
    buys = sum(row[6] == "B" for row in rows)
    top_values = sorted(client_value.values(), reverse=True)[:5]
    top_amounts = sorted(stock_amount.values(), reverse=True)[:5]

    watched = tmp_path / "input"
    watched.mkdir()
    prefix = tmp_path / "output" / "orders"
    prefix.parent.mkdir()
    args = [BROKERAGE / "brokerage.py", watched, prefix, tmp_path / "ckpt", 0.5, 60]
    program = start(running, args, tmp_path)
    program.wait_for(lambda: bool(_read_reports(prefix)), "the first output directory")

    send_args = ["--orders-file", orders, "--lines", 400, "--pause", 0.4]
    sender = start(running, [BROKERAGE / "split_and_send.py", watched, *send_args], tmp_path, False)
    assert sender.proc.wait(60) == 0, sender.stderr()
    assert len(os.listdir(watched)) == 6

    def totals() -> Counter[str]:
        seen: Counter[str] = Counter()
        for _, records in _read_reports(prefix):
            for key, value in records:
                if key in ("BUYS", "SELLS"):
                    seen[key] += int(value[0])
        return seen

    def final_report() -> dict[str, list[str]]:
        return dict(_read_reports(prefix)[-1][1])

    program.wait_for(lambda: sum(totals().values()) == len(rows), "every order counted")
    program.wait_for(lambda: "TOP5CLIENTS" in final_report(), "a report after the last chunk")
    assert totals() == Counter({"BUYS": buys, "SELLS": len(rows) - buys})
    report = final_report()
    assert [client_value[c] for c in report["TOP5CLIENTS"]] == top_values
    assert [stock_amount[s] for s in report["TOP5STOCKS"]] == top_amounts
    # Every batch wrote a directory with a part file, even the empty ones.
    batches = _read_reports(prefix)
    assert all(b - a == 500 for (a, _), (b, _) in zip(batches, batches[1:]))


# --------------------------------------------------------------------------------------------
# the course notebook (its code cells, in order, in a fresh interpreter: no Jupyter needed)


def test_notebook_cells_run(tmp_path: Path) -> None:
    import json

    notebook = json.loads((ROOT / "notebooks" / "network_wordcount.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    script = tmp_path / "notebook.py"
    script.write_text("\n\n".join(cells) + "\n")
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("serving on port ")
    counts = batch_totals(lines)
    assert counts["the"] > 0 and counts["fox"] > 0
    assert set(counts) <= set("the quick brown fox jumps over dog sleeps a runs".split())
