"""The planner notebooks run top to bottom in a real Jupyter kernel, and are stored without outputs."""
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import SHARED

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_three_notebooks_stored_without_outputs():
    assert NAMES == ["01-quickstart.ipynb", "02-langson-communes.ipynb", "03-what-if.ipynb"]
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, name


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, tmp_path, monkeypatch):
    if name.startswith("02") and not (SHARED / "data" / "langson").exists():
        pytest.skip(f"needs {SHARED}/data/langson (set PHUSONG_SHARED)")
    monkeypatch.setenv("PHUSONG_SHARED", str(SHARED))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # a failing cell (each notebook asserts what it shows) raises CellExecutionError here
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
