"""The condition grid: the theorem's prediction next to verify's measurement, counterexample flagging and the
``conditions`` command (a small grid; the default grid is timed in benchmarks/conditions.py)."""

import json

import pytest

from hemtools import grids as G
from hemtools import symbolic as S
from hemtools.cli import main

PHIS = ["exp(x/0.5)", "x**2"]
PSIS = ["log(1+x)", "x"]
CELLS = [(3, 2), (4, 3)]


@pytest.fixture(scope="module")
def small_grid():
    return G.condition_grid(PHIS, PSIS, CELLS, restarts=6)


def test_grid_reproduces_C1_wherever_the_conditions_hold(small_grid):
    rows, conds = small_grid
    assert len(rows) == len(PHIS) * len(PSIS) * len(CELLS)
    holding = [r for r in rows if r.conditions == "proved"]
    assert {(r.phi, r.psi) for r in holding} == {("exp(x/0.5)", "log(1+x)"), ("exp(x/0.5)", "x")}
    assert all(r.predicted == "aligned simplex" and r.verdict == "confirmed" and r.outcome == "reproduced"
               for r in holding)
    assert all(abs(r.gap) <= 1e-10 * max(1.0, abs(r.simplex_value)) for r in holding)
    assert not any(r.candidate for r in rows)


def test_grid_where_the_conditions_fail(small_grid):
    rows, conds = small_grid
    failing = [r for r in rows if r.phi == "x**2"]
    assert all(r.conditions == "refuted" and r.outcome == "no prediction" for r in failing)
    # x² is not monotone: verify finds configurations far below the simplex value
    assert all(r.verdict == "refuted" and r.gap < -1 for r in failing)
    c = conds[("x**2", "x", 3)]
    assert c.finding("composite_nondecreasing").status == "refuted"


def test_seed_statement_and_proof_condition_differ_for_infonce(small_grid):
    rows, _ = small_grid
    r = next(r for r in rows if r.phi == "exp(x/0.5)" and r.psi == "log(1+x)")
    assert r.seed_conditions == "refuted" and r.conditions == "proved" and r.outcome == "reproduced"


def test_outside_the_simplex_range_the_bound_is_still_predicted():
    rows, _ = G.condition_grid(["exp(x/0.5)"], ["x"], [(5, 2)], restarts=4)
    (r,) = rows
    assert r.predicted == "value >= simplex bound" and r.gap > 0 and not r.candidate


def test_counterexample_candidate_is_flagged_and_saved(monkeypatch, tmp_path, capsys):
    """Pretend sympy had proved the conditions for φ = x² (it refutes them): verify then refutes the simplex
    and the cell must be flagged loudly, its points saved, and the exit code be 1."""
    real = S.check_conditions

    def lying(phi, psi, *a, **k):
        rep = real(phi, psi, *a, **k)
        rep.holds = "proved"
        return rep

    monkeypatch.setattr(G, "check_conditions", lying)
    code = main(["conditions", "--phi", "x**2", "--psi", "x", "--M", "3", "--d", "2", "--restarts", "4",
                 "--save-dir", str(tmp_path / "cx")])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "COUNTEREXAMPLE CANDIDATE" in out and "points saved to" in out
    (saved,) = list((tmp_path / "cx").iterdir())
    doc = json.loads(saved.read_text())
    assert doc["M"] == 3 and doc["gap"] < 0 and len(doc["points"]["U"]) == 3 and len(doc["points"]["V"]) == 3


def test_cli_conditions_table(capsys, tmp_path):
    code = main(["conditions", "--phi", "exp(x/0.5)", "--phi", "log(3+x)", "--psi", "x", "--M", "3", "--d", "2",
                 "--restarts", "4", "--save-dir", str(tmp_path)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "reproduced" in out and "no prediction" in out
    assert "composite_convex refuted" in out  # the failing point of log(3+x) is shown
    assert list(tmp_path.iterdir()) == []  # nothing saved without a candidate


def test_cli_conditions_json(capsys):
    code = main(["conditions", "--phi", "softplus(2*x)", "--psi", "log(1+x)", "--psi", "x", "--M", "3", "--d", "2",
                 "--restarts", "4", "--json"])
    out, _ = capsys.readouterr()
    doc = json.loads(out)
    assert code == 0 and doc["summary"]["cells"] == 2 and doc["summary"]["counterexample_candidates"] == 0
    by_psi = {c["psi"]: c for c in doc["cells"]}
    # softplus with log(1+x): F is not convex (found by sympy + witness), the simplex is still measured optimal
    assert by_psi["log(1+x)"]["conditions"] == "refuted" and by_psi["log(1+x)"]["verdict"] == "confirmed"
    assert by_psi["x"]["outcome"] == "reproduced"


def test_cli_conditions_nan_formula_is_inconclusive_not_confirmed(capsys):
    code = main(["conditions", "--phi", "sin(x)", "--psi", "log(x)", "--M", "3", "--d", "2", "--restarts", "4",
                 "--json"])
    doc = json.loads(capsys.readouterr()[0])
    (cell,) = doc["cells"]
    assert cell["conditions"] == "undefined" and cell["verdict"] == "inconclusive" and code == 0


@pytest.mark.parametrize("argv,message", [
    (["--phi", "exp(x/"], "--phi: cannot parse"),
    (["--psi", "q"], "--psi: unknown symbol 'q'"),
    (["--phi", "7"], "is not a function of x"),
    (["--M", "1"], "M: expected an integer >= 2"),
    (["--c1", "0", "--c2", "0"], "at least one weight"),
    (["--tau", "-1"], "--tau: expected a finite number > 0"),
])
def test_cli_conditions_usage_errors(capsys, argv, message):
    code = main(["conditions", *argv])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and "Traceback" not in err


def test_cli_catalogue(capsys):
    assert main(["conditions", "--catalogue"]) == 0
    out = capsys.readouterr()[0]
    assert all(f in out for f, _ in G.CATALOGUE_PHI) and all(f in out for f, _ in G.CATALOGUE_PSI)


@pytest.mark.slow  # reason: the whole default grid (84 verify runs, ~15-30 s); timed in benchmarks/conditions.py
def test_default_grid_reproduces_C1():
    rows, _ = G.condition_grid([f for f, _ in G.CATALOGUE_PHI], [f for f, _ in G.CATALOGUE_PSI], G.DEFAULT_CELLS)
    assert not any(r.candidate for r in rows)
    assert all(r.outcome == "reproduced" for r in rows if r.conditions == "proved")
