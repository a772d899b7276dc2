"""The notebooks in notebooks/ run from top to bottom (nbclient, a fresh python3 kernel), each in under a
minute, and are stored without outputs.  Their own assertions (the certificates, the decreasing W1 series,
the α-CL identity, the PCA subspace) fail the test when a claim they show stops holding."""

from __future__ import annotations

import os
import pathlib
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
NAMES = ["01_quickstart", "02_beyond_simplex", "03_metrics", "04_alpha_cl"]


def test_the_four_notebooks_exist_without_outputs():
    assert [p.stem for p in NOTEBOOKS] == NAMES
    for p in NOTEBOOKS:
        nb = nbformat.read(p, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{p.name} is stored with outputs"


@pytest.mark.slow  # 10-25 s each on one thread of a shared 2-core machine: about a minute together
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_under_a_minute(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    env_threads = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    old = {k: os.environ.get(k) for k in env_threads}
    os.environ.update(env_threads)
    try:
        client = nbclient.NotebookClient(nb, timeout=60, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        t0 = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - t0
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert seconds < 60, f"{path.name} took {seconds:.0f} s"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= (0 if path.stem == "04_alpha_cl" else 1), "the figures were not displayed"
