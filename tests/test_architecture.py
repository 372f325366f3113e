"""The architecture holds: no import cycles (lazy imports included), the generator stays out
of the wheel, and the layer contracts in pyproject.toml pass (import-linter)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_no_import_cycles_inside_the_library():
    graph = grimp.build_graph("recommender")  # function-level (lazy) imports included
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.append((module, *back))
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_layer_contracts_hold():
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_wheel_has_no_generator_and_no_positions(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path)],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("xuanxue-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("samplegen/") or "positions.csv" in n]
    assert "recommender/signals/base.py" in names
    assert "recommender/resources/domain_dict.txt" in names
