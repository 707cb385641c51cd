"""Worker processes under a real Jupyter kernel (nbclient + ipykernel): functions defined in a
cell run on the workers, and what they print shows in the cell's output."""

from __future__ import annotations

import nbclient
import nbformat
import pytest

CELLS = [
    "import os\nfrom ferrostream import SparkContext\nsc = SparkContext('local[2]', 'nb')",
    # A function defined in a cell (pickled by value from the kernel's __main__).
    "def shout(word):\n"
    "    print('worker saw', word)\n"
    "    return (word.upper(), os.getpid())\n"
    "out = sc.parallelize(['a', 'b'], 2).map(shout).collect()\n"
    "print(sorted(w for w, _ in out), os.getpid() not in {p for _, p in out})",
    "sc.stop()",
]


@pytest.mark.timeout(180)
def test_functions_defined_in_a_cell_run_on_workers_and_print_in_the_cell() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[1].outputs
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    assert "['A', 'B'] True" in text
    assert "worker saw a" in text and "worker saw b" in text
