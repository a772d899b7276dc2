"""`hemtools energy` and the M > d+1 part of `hemtools verify`: tables, JSON, figures, one-line errors."""

import json
import math
import os
import subprocess
import sys

import pytest

from hemtools.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_energy_table_for_the_octahedron(capsys):
    code, out, err = run(capsys, "energy", "--kernel", "riesz", "--N", "6", "--d", "3")
    assert code == 0, err
    assert "config     cross_polytope" in out and "certified global minimum" in out
    value = float(next(line for line in out.splitlines() if line.startswith("minimum")).split()[1])
    assert abs(value - (6 * math.sqrt(2) + 1.5)) <= 1e-10 * value


def test_energy_json_is_one_document(capsys):
    code, out, _ = run(capsys, "energy", "--kernel", "gaussian", "--t", "1.5", "--N", "12", "--d", "3", "--json",
                       "--restarts", "4", "--rounds", "1")
    assert code == 0
    doc = json.loads(out)
    for key in ("value", "grad_norm", "configuration", "seconds", "points", "lp_bound"):
        assert key in doc
    assert doc["configuration"] == "icosahedron" and doc["params"] == {"t": 1.5}
    assert doc["grad_norm"] <= doc["grad_tol"] and len(doc["points"]) == 12
    assert doc["lp_bound"]["certified_global_minimum"] and doc["lp_bound"]["gap"] <= 1e-6


def test_energy_not_certified_for_five_points(capsys):
    code, out, _ = run(capsys, "energy", "--kernel", "riesz", "--N", "5", "--d", "3", "--json", "--restarts", "4")
    doc = json.loads(out)
    assert code == 0 and doc["configuration"] == "triangular_bipyramid"
    assert not doc["lp_bound"]["certified_global_minimum"] and doc["lp_bound"]["gap"] > 1e-3


def test_energy_plot(capsys, tmp_path):
    path = tmp_path / "e.png"
    code, out, _ = run(capsys, "energy", "--kernel", "log", "--N", "8", "--d", "3", "--restarts", "4",
                       "--rounds", "1", "--no-bound", "--plot", str(path))
    assert code == 0 and path.stat().st_size > 10_000
    assert f"figure     {path}" in out and "LP bound" not in out


BAD = [
    (["--kernel", "riesz", "--N", "1", "--d", "3"], "--N: expected an integer >= 2, got 1"),
    (["--kernel", "riesz", "--N", "5", "--d", "1"], "--d: expected an integer >= 2, got 1"),
    (["--kernel", "riesz", "--s", "-1", "--N", "5", "--d", "3"], "--s: expected a finite number > 0"),
    (["--kernel", "riesz", "--s", "0", "--N", "5", "--d", "3"], "--s: expected a finite number > 0"),
    (["--kernel", "gaussian", "--t", "nan", "--N", "5", "--d", "3"], "--t: expected a finite number > 0"),
    (["--kernel", "coulomb", "--N", "5", "--d", "3"], "argument --kernel: invalid choice: 'coulomb'"),
    (["--kernel", "riesz", "--t", "1", "--N", "5", "--d", "3"], "--t: only the gaussian kernel has a scale t"),
    (["--kernel", "log", "--s", "1", "--N", "5", "--d", "3"], "--s: the log kernel takes no parameter"),
    (["--kernel", "riesz", "--N", "five", "--d", "3"], "argument --N: invalid int value"),
    (["--kernel", "riesz", "--N", "5"], "the following arguments are required: --d"),
    (["--kernel", "riesz", "--N", "5", "--d", "3", "--restarts", "0"], "--restarts: expected an integer >= 1"),
    (["--kernel", "riesz", "--N", "5", "--d", "3", "--degree", "0"], "--degree: expected an integer from 1 to 1999"),
    (["--kernel", "riesz", "--N", "5", "--d", "3", "--plot", "out.gif"], "unsupported file type '.gif'"),
]


@pytest.mark.parametrize("argv,message", BAD)
def test_energy_bad_input_is_one_line_exit_2(capsys, argv, message):
    code, out, err = run(capsys, "energy", *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_verify_unknown_configuration_claim_is_one_line(capsys):
    code, out, err = run(capsys, "verify", "--loss", "kcl", "--M", "16", "--d", "4", "--claim", "config:tesseract")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "unknown configuration 'tesseract'" in err


@pytest.mark.parametrize("M,name", [(6, "cross_polytope"), (12, "icosahedron")])
def test_verify_dhel_recognises_the_configuration(capsys, M, name):
    """The issue's commands: `verify --loss dhel --M 6 --d 3` (octahedron) and `--M 12 --d 3` (icosahedron)."""
    code, out, _ = run(capsys, "verify", "--loss", "dhel", "--M", str(M), "--d", "3", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "confirmed" and doc["configuration"] == name
    assert doc["recognition"]["name"] == name
    assert doc["energy_baseline"]["same_configuration"] and doc["energy_baseline"]["kernel"] == "gaussian"
    assert doc["lp_bound"]["certified_global_minimum"]


def test_verify_human_table_shows_the_sections(capsys):
    code, out, _ = run(capsys, "verify", "--loss", "dhel", "--M", "6", "--d", "3")
    assert code == 0
    assert "recognition: anchors form the cross_polytope" in out
    assert "energy_baseline: gaussian energy (t=1.66667)" in out
    assert "lp_bound: Delsarte–Yudin bound" in out and "certified global minimum" in out


def test_console_script_subprocess():
    exe = os.path.join(os.path.dirname(sys.executable), "hemtools")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([exe, "energy", "--kernel", "riesz", "--N", "4", "--d", "3", "--json", "--restarts", "2",
                        "--rounds", "0"], capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["configuration"] == "simplex" and abs(doc["value"] - 1.5 * math.sqrt(6)) <= 1e-12
    p = subprocess.run([exe, "energy", "--kernel", "riesz", "--N", "1", "--d", "3"], capture_output=True, text=True,
                       timeout=300, env=env)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and p.stdout == ""


def test_energy_not_converged_is_exit_3(capsys):
    """Gaussian t = 500 with the defaults stops at a gradient 1e10 times its relative tolerance (measured)."""
    code, out, _ = run(capsys, "energy", "--kernel", "gaussian", "--t", "500", "--N", "5", "--d", "3", "--no-bound")
    assert code == 3 and "NOT converged" in out


def test_energy_max_iter_bounds_every_solve(capsys):
    code, out, _ = run(capsys, "energy", "--kernel", "riesz", "--N", "12", "--d", "3", "--max-iter", "3",
                       "--rounds", "0", "--restarts", "2", "--no-bound")
    assert code == 3 and "NOT converged" in out
    code, _, err = run(capsys, "energy", "--kernel", "riesz", "--N", "12", "--d", "3", "--max-iter", "0")
    assert code == 2 and err.count("\n") == 1 and "--max-iter" in err
