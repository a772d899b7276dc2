"""The numeric proof scripts run (quick grids) and report PASS."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("script", ["c1_shared_minimiser.py"])
def test_proof_script_passes(script):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "proofs_numeric", script), "--quick"],
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "PASS" in p.stdout.splitlines()[-1]
