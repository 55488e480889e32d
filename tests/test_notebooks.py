"""The notebooks run top to bottom without error, and are stored clean (no outputs, no counts)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = {
    "01-the-guide-replayed.ipynb",
    "02-optimising-a-mix.ipynb",
    "03-benchmark-results.ipynb",
    "04-what-runs-now.ipynb",
}
CELL_TIMEOUT_S = 120


@pytest.fixture
def this_python_kernel(tmp_path, monkeypatch):
    """A ``python3`` kernel spec that runs the interpreter running the tests.

    ``JUPYTER_PATH`` is searched before every other kernel directory, so this spec wins over any
    ``python3`` kernel installed elsewhere on the machine.
    """
    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return "python3"


def test_the_three_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"{path.name}: code cell {i} has outputs"
        assert cell.get("execution_count") is None, f"{path.name}: code cell {i} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_without_error(path, this_python_kernel, tmp_path):
    nb = nbformat.read(path, as_version=4)
    folder = tmp_path  # outside the checkout: a notebook reads only what ncplace installs
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name=this_python_kernel,
        resources={"metadata": {"path": str(folder)}},
        allow_errors=False,
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert errors == []


def test_bundled_examples_are_the_repositorys():
    """The notebooks' data (ncplace/data) is a copy of examples/: the two must not drift."""
    examples = NOTEBOOKS_DIR.parent / "examples"
    data = NOTEBOOKS_DIR.parent / "src" / "ncplace" / "data"
    names = ["mix.yaml", "neuron-monitor.json"]
    extra = ["vision-skewed-inf1-xlarge.yaml", "fleets/catalogue.yaml"]
    names += [f"scenarios/{p.name}" for p in sorted((examples / "scenarios").glob("*.yaml"))]
    assert sorted(p.name for p in (data / "scenarios").glob("*.yaml")) == [
        n.split("/")[1] for n in names[2:]
    ]
    for name in names + extra:
        assert (data / name).read_bytes() == (examples / name).read_bytes(), name
