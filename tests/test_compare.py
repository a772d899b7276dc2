"""``compare``: an implementation against a reference; pytorch-metric-learning's NTXentLoss against nt_xent."""

import json
import math

import pytest
import torch

from hemtools.cli import main
from hemtools.compare import compare
from hemtools.errors import ArgumentError
from hemtools.losses import batched, get_loss


def run(capsys, *argv):
    code = main(["compare", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_loss_matches_itself_exactly():
    r = compare("simclr", "simclr", [3], [3], trials=2)
    assert r.verdict == "match" and r.exit_code == 0
    assert all(c.value_diff == 0 and c.grad_diff == 0 for c in r.cases)
    assert {c.where for c in r.cases} == {"random", "correlated", "near optimum", "optimum"}
    assert len(r.cases) == 3 * 2 + 1


def test_one_direction_of_nt_xent_is_a_mismatch_that_agrees_only_at_the_optimum():
    """simclr(U, V) = nt_xent at the aligned simplex (a symmetric configuration), nowhere else."""
    r = compare("simclr", "nt_xent", [3, 4], [3], trials=2)
    assert r.verdict == "mismatch" and r.exit_code == 1
    by = r.by_where()
    assert by["optimum"]["mismatches"] == 0
    assert by["random"]["mismatches"] == by["random"]["cases"]
    assert r.worst(1)[0].severity > 1e6


def test_tolerances_are_not_vacuous():
    """A relative change of 1e-10 in the value (100 × rtol) is a mismatch; gradients are compared too."""
    ref = get_loss("dcl")

    @batched
    def scaled(U, V, tau=0.5):
        return ref.fn(U, V, tau=tau) * (1 + 1e-10)

    r = compare(scaled, "dcl", [3], [4], trials=2)
    assert r.verdict == "mismatch"
    assert all(c.value_mismatch for c in r.cases if c.where == "random")
    assert all(c.grad_mismatch for c in r.cases if c.where == "random")  # 1e-10 relative in the gradient too


def test_the_optimum_of_a_reference_without_a_simplex_is_solved():
    r = compare("kcl", "kcl", [5], [2], trials=1)  # M > d+1: no simplex, the reference is minimised
    assert r.verdict == "match"
    opt = [c for c in r.cases if c.where == "optimum"][0]
    assert opt.grad_reference < 1e-9  # a critical point of the reference


def test_bad_arguments_are_refused_before_computing():
    with pytest.raises(ArgumentError, match="riesz_energy acts on points"):
        compare("kcl", "riesz_energy")
    with pytest.raises(ArgumentError, match="trials: expected an integer >= 1"):
        compare("kcl", "kcl", trials=0)
    with pytest.raises(ArgumentError, match="rtol"):
        compare("kcl", "kcl", rtol=math.nan)
    with pytest.raises(ArgumentError, match="unknown parameter"):
        compare("kcl", "dcl", params={"tau": 0.5})  # kcl has no tau: give it with params_reference


def test_cli_match_mismatch_json_and_usage_errors(capsys):
    code, out, _ = run(capsys, "--loss", "dcl", "--reference", "dcl", "--M", "3", "--d", "3", "--trials", "1")
    assert code == 0 and "verdict    MATCH" in out
    code, out, _ = run(capsys, "--loss", "infonce", "--reference", "simclr", "--M", "3", "--d", "3", "--trials", "1",
                       "--tau", "0.3")
    assert code == 1 and "verdict    MISMATCH" in out and "largest discrepancies" in out
    assert "U[0] = [" in out and "V[2] = [" in out  # the inputs of the worst case
    code, out, _ = run(capsys, "--loss", "infonce", "--reference", "simclr", "--M", "3", "--d", "3", "--trials", "1",
                       "--json", "--top", "2")
    doc = json.loads(out)
    assert code == 1 and doc["verdict"] == "mismatch" and len(doc["worst"]) == 2
    U = torch.tensor(doc["worst"][0]["points"]["U"], dtype=torch.float64)
    V = torch.tensor(doc["worst"][0]["points"]["V"], dtype=torch.float64)
    # the inputs reproduce the reported values
    assert float(get_loss("infonce")(U, V)) == pytest.approx(doc["worst"][0]["value_loss"], rel=1e-14)
    assert float(get_loss("simclr")(U, V)) == pytest.approx(doc["worst"][0]["value_reference"], rel=1e-14)
    for argv, fragment in [
        (["--loss", "kcl", "--reference", "kcll"], "unknown loss 'kcll'"),
        (["--loss", "kcl", "--reference", "kcl", "--M", "1"], "M: expected an integer >= 2"),
        (["--loss", "kcl", "--reference", "kcl", "--M", "x"], "--M: expected integers"),
        (["--loss", "kcl", "--reference", "kcl", "--param", "gamma=-1"], "gamma (loss kcl)"),
    ]:
        code, out, err = run(capsys, *argv)
        assert code == 2 and fragment in err and out == "", (argv, err)
        assert err.count("\n") == 1


def test_side_specific_parameters(capsys):
    code, out, _ = run(capsys, "--loss", "dcl", "--reference", "dcl", "--M", "3", "--d", "3", "--trials", "1",
                       "--loss-param", "tau=0.2", "--reference-param", "tau=0.2")
    assert code == 0
    code, out, _ = run(capsys, "--loss", "dcl", "--reference", "dcl", "--M", "3", "--d", "3", "--trials", "1",
                       "--loss-param", "tau=0.2")
    assert code == 1 and "(tau=0.2)" in out and "(tau=0.5)" in out


# --------------------------------------------------------------------------------------------------------
# pytorch-metric-learning (extra "pml"; in the test extra, so CI runs these)


@pytest.mark.parametrize("tau", [0.5, 0.1, 0.02])
def test_pml_ntxent_matches_nt_xent_at_matched_temperature(tau):
    pytest.importorskip("pytorch_metric_learning")
    r = compare("pml:NTXentLoss", "nt_xent", [2, 5], [3, 8], trials=2, params={"tau": tau})
    assert r.verdict == "match", r.summary()
    # and not trivially: the values compared are O(1) at random configurations, agreeing to ~1e-15
    rand = [c for c in r.cases if c.where == "random"]
    assert min(abs(c.value_reference) for c in rand) > 0.1
    assert max(c.value_diff / abs(c.value_reference) for c in rand) < 1e-13


def test_pml_ntxent_is_not_simclr_nor_at_another_temperature():
    pytest.importorskip("pytorch_metric_learning")
    assert compare("pml:NTXentLoss", "simclr", [3], [3], trials=1).verdict == "mismatch"
    r = compare("pml:NTXentLoss", "nt_xent", [3], [3], trials=1, params_loss={"tau": 0.07}, params_reference={"tau": 0.5})
    assert r.verdict == "mismatch"


def test_pml_cli(capsys):
    pytest.importorskip("pytorch_metric_learning")
    code, out, _ = run(capsys, "--loss", "pml:NTXentLoss", "--reference", "nt_xent", "--M", "4", "--d", "3",
                       "--trials", "1", "--tau", "0.2")
    assert code == 0 and "verdict    MATCH" in out and "pml:NTXentLoss  (tau=0.2, pairing=batch)" in out


def test_non_finite_values(capsys, tmp_path):
    f = tmp_path / "nanloss.py"
    f.write_text("def nan_loss(U, V):\n    return (U * V).sum() * float('nan')\n"
                 "def raises(U, V):\n    raise RuntimeError('boom in compare')\n")
    # one side NaN: a mismatch; both NaN: nothing can be said (exit 3)
    code, out, _ = run(capsys, "--loss", f"{f}:nan_loss", "--reference", "kcl", "--M", "3", "--d", "3", "--trials", "1")
    assert code == 1 and "MISMATCH" in out
    code, out, _ = run(capsys, "--loss", f"{f}:nan_loss", "--reference", f"{f}:nan_loss", "--M", "3", "--d", "3",
                       "--trials", "1", "--json")
    assert code == 3 and json.loads(out)["verdict"] == "inconclusive"
    code, _, err = run(capsys, "--loss", f"{f}:raises", "--reference", "kcl", "--M", "3", "--d", "3")
    assert code == 4 and "Traceback" in err and "boom in compare" in err


def test_planted_mutants_are_found_against_pml():
    """With pytorch-metric-learning as the reference, the NT-Xent mutants of test_mutants are caught too."""
    pytest.importorskip("pytorch_metric_learning")
    from test_mutants import nt_xent, nt_xent_sum_of_directions, nt_xent_symmetric_term_dropped

    assert compare(batched(nt_xent), "pml:NTXentLoss", [3, 4], [3], trials=1).verdict == "match"  # control
    for mutant in (nt_xent_sum_of_directions, nt_xent_symmetric_term_dropped):
        r = compare(batched(mutant), "pml:NTXentLoss", [3, 4], [3], trials=1)
        assert r.verdict == "mismatch", mutant.__name__
