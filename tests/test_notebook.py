"""The notebook in docs/ runs from top to bottom, in this environment's Python.

The notebook is executed with nbclient in a fresh temporary directory, in its
fast mode (``BAYESFOLD_NOTEBOOK_FAST=1``: fewer iterations and replicas), by a
kernel whose spec is written for this interpreter, so that a system-wide
``python3`` kernel cannot run it instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import xarray as xr
from ipykernel.kernelspec import install as install_kernelspec
from nbclient import NotebookClient

NOTEBOOK = (
    Path(__file__).resolve().parents[1] / "docs" / "shifted_gaussian_posterior.ipynb"
)
POSTERIOR_FILE = "shifted_gaussian_posterior.nc"
# Settings of the notebook's fast mode: iterations, and replicas x final draws.
FAST_ITERATIONS = 2
FAST_DRAWS = 2 * 5
# Seconds a cell may run; the fast mode takes about 30 s on two free cores.
CELL_TIMEOUT = 600

# A cell appended to the executed copy: which interpreter ran the notebook.
WHICH_PYTHON = (
    "import json, sys\n"
    "print(json.dumps({'executable': sys.executable, 'prefix': sys.prefix}))"
)


def test_the_notebook_runs_and_saves_its_posterior(tmp_path, monkeypatch):
    # One test, so that parallel workers (pytest -n) run the notebook once.
    notebook = _execute(tmp_path, monkeypatch)

    kernel = json.loads(notebook.cells[-1].outputs[0]["text"])
    assert kernel["prefix"] == sys.prefix
    assert Path(kernel["executable"]).resolve() == Path(sys.executable).resolve()

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells)
    assert not list(_outputs(notebook, "error"))
    stderr = [
        output["text"]
        for output in _outputs(notebook, "stream")
        if output["name"] == "stderr"
    ]
    assert not stderr, "the notebook wrote to stderr:\n" + "\n".join(stderr)

    printed = "".join(output["text"] for output in _outputs(notebook, "stream"))
    assert "fast mode" in printed
    assert "reloaded posterior identical: True" in printed
    figures = [
        output for output in _outputs(notebook) if "image/png" in output.get("data", {})
    ]
    # unfolded with bands, correlation, derived draws, ratio to truth
    assert len(figures) == 4

    with xr.open_datatree(tmp_path / "run" / POSTERIOR_FILE, engine="h5netcdf") as tree:
        push = tree["posterior"]["push_weights"]
        assert push.dims == ("iteration", "draw", "event")
        assert push.shape == (FAST_ITERATIONS, FAST_DRAWS, 1000)
        assert tree.attrs["method"] == "bayesian"
        assert np.all(np.isfinite(push.values))
        assert np.all(push.values > 0)


def _execute(tmp_path, monkeypatch):
    """Run the notebook in tmp_path/run with a kernel of this interpreter."""
    kernels = tmp_path / "kernels"
    workdir = tmp_path / "run"
    workdir.mkdir()
    install_kernelspec(prefix=str(kernels), kernel_name="python3")
    monkeypatch.setenv("JUPYTER_PATH", str(kernels / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("BAYESFOLD_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(WHICH_PYTHON))
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


def _outputs(notebook, output_type=None):
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output_type is None or output["output_type"] == output_type:
                yield output
