"""Every notebook in notebooks/ runs end to end (nbclient), in this interpreter's environment."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "python3"  # the name the notebooks' metadata asks for


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A ``python3`` kernelspec that runs ``sys.executable`` (the venv), first on JUPYTER_PATH.

    Without it, jupyter_client could pick a system-wide ``python3`` kernelspec and run the
    notebooks in another environment.
    """
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "xuanxue test", "language": "python"}),
        encoding="utf-8",
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(root))
    mp.setenv("MPLBACKEND", "agg")
    yield root
    mp.undo()


def _run(nb, cwd: Path):
    from nbclient import NotebookClient

    client = NotebookClient(
        nb, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(cwd)}}
    )
    return client.execute()


def test_kernel_is_this_venv(kernel_env, tmp_path):
    import nbformat

    probe = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import sys, os; print(sys.executable); print(os.getcwd())")
        ]
    )
    out = _run(probe, tmp_path).cells[0].outputs[0]["text"].split("\n")
    assert Path(out[0]).resolve() == Path(sys.executable).resolve()
    assert Path(out[1]).resolve() == tmp_path.resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, kernel_env):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    _run(nb, path.parent)  # raises CellExecutionError on any failing cell
    elapsed = time.perf_counter() - started
    print(f"{path.name}: {elapsed:.1f} s")
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "error"
    ]
    assert not errors
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert images, f"{path.name}: no chart was rendered as image/png"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_stripped(path: Path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"01_demand_gaps.ipynb", "02_catalog_health.ipynb"}
