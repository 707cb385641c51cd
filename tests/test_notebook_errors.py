"""A failed action in a Jupyter cell (nbclient + ipykernel) shows the user's traceback once,
as a terminal does: the user's exception with its frames, then the SparkException naming it."""

from __future__ import annotations

import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ERROR = "ZeroDivisionError: division by zero"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("workers", ["processes", "in-process"])
def test_failed_action_in_a_cell_shows_the_users_traceback_once(workers: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os\n"
            f"os.environ['FERROSTREAM_PYTHON_WORKERS'] = {workers!r}\n"
            "from ferrostream import SparkContext\n"
            "sc = SparkContext('local[2]', 'nb')"
        ),
        nbformat.v4.new_code_cell(
            "def invert(x):\n    return 1 / x\n\nsc.parallelize([1, 0]).map(invert).collect()"
        ),
        nbformat.v4.new_code_cell("sc.stop()"),
    ]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    errors = [o for o in nb.cells[1].outputs if o.get("output_type") == "error"]
    assert len(errors) == 1, nb.cells[1].outputs
    error = errors[0]
    assert error["ename"] == "SparkException"
    assert error["evalue"] == f"An exception was raised by Python: {ERROR}"
    shown = ANSI.sub("", "\n".join(error["traceback"]))
    # The failing function's frame once (IPython also shows the cell's lines around the call
    # that failed in it, so the source line itself can show twice).
    assert len(re.findall(r"\bin invert\b", shown)) == 1, shown
    assert "The above exception was the direct cause of the following exception" in shown, shown
    assert not [o for o in nb.cells[2].outputs if o.get("output_type") == "error"]
