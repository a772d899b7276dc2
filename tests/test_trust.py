"""Verdicts on adversarial user losses (issue 11, items 1-4): never exit 4 "internal error", never a refuted
verdict for a claim that holds, ``--json`` always one valid document, and a confirmation that says what was
established (random restarts cannot exclude a narrow basin they all missed).

Each loss is written to a file as a third party would and run through the library and the CLI.
"""

import json
import math

import torch

from hemtools.checks import verify
from hemtools.cli import main
from hemtools.losses import get_loss

ORIENTED = """\
import torch
import torch.nn.functional as F

def infonce_tilted(U, V, tau=0.5):
    # InfoNCE plus a term that depends on the orientation: the minimiser is still the aligned simplex,
    # rotated so that u_0 points away from e_0
    logits = U @ V.T / tau
    return F.cross_entropy(logits, torch.arange(U.shape[0])) + 0.01 * U[0, 0]
"""

NARROW = """\
import torch
import torch.nn.functional as F

def infonce_well(U, V, tau=0.5, depth=1.0, width=1e-5):
    # InfoNCE plus a deep, narrow well at u_0 = e_0: the global minimum is inside the well, which random
    # restarts (almost surely) miss; away from it the term is below round-off (e^{-(1 - u·e_0)/width})
    logits = U @ V.T / tau
    well = depth * torch.exp(-(1.0 - U[0, 0]) / width)
    return F.cross_entropy(logits, torch.arange(U.shape[0])) - well
"""

KCL_SYM = """\
import torch

def kcl_symmetric(U, V, t=2.0, gamma=16.0):
    # KCL with the uniformity term on both views (the authors' symmetric form), written by hand
    M = U.shape[0]
    align = torch.exp(-t * ((U - V) ** 2).sum(-1)).mean()
    def unif(X):
        K = torch.exp(-t * (2 - 2 * X @ X.T))
        return (K.sum() - torch.diagonal(K).sum()) / (M * (M - 1))
    return -align + gamma / 2 * (unif(U) + unif(V))
"""


def _write(tmp_path, name, text):
    f = tmp_path / f"{name}.py"
    f.write_text(text)
    return str(f)


def _cli_json(capsys, *argv):
    code = main(["verify", *argv, "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)  # exactly one document: json.loads rejects trailing data
    assert code != 4 and code in (0, 1, 3), code
    assert doc["verdict"] in ("confirmed", "refuted", "inconclusive") and "evidence" in doc
    return code, doc


def test_orientation_dependent_loss_below_the_bound_is_not_refuted(tmp_path, capsys):
    """Item 2 for M > d+1: the simplex bound, taken at one fixed orientation, is above the aligned minimum of
    a loss that rewards an orientation; at the simplex's best orientation it is not."""
    path = _write(tmp_path, "oriented", ORIENTED) + ":infonce_tilted"
    r = verify(path, 6, 4, params={"tau": 0.2}, restarts=4)
    assert r.verdict != "refuted", r.reason
    assert r.check("value_vs_simplex_bound").passed and "orientation" in r.check("value_vs_simplex_bound").detail
    code, _ = _cli_json(capsys, "--loss", path, "--M", "6", "--d", "4", "--param", "tau=0.2", "--restarts", "4")
    assert code != 1


def test_orientation_dependent_loss_is_not_refuted(tmp_path, capsys):
    """Item 2: the simplex is the minimiser; compared at one fixed orientation it looked 'beaten'."""
    path = _write(tmp_path, "oriented", ORIENTED) + ":infonce_tilted"
    r = verify(path, 4, 3)
    assert r.verdict != "refuted", r.reason
    assert r.check("gram_deviation").passed and r.check("value_vs_target").passed
    assert "orient" in r.check("value_vs_target").detail
    assert any("depends on the orientation" in n for n in r.notes)
    code, doc = _cli_json(capsys, "--loss", path, "--M", "4", "--d", "3")
    assert doc["verdict"] == r.verdict and code != 1


def test_narrow_basin_confirmation_says_what_was_established(tmp_path, capsys):
    """Item 4: the claim is false (the well is lower) but no restart finds the well: a confirmation may only
    say what random restarts establish, and must say that global optimality is not proved."""
    path = _write(tmp_path, "narrow", NARROW) + ":infonce_well"
    r = verify(path, 4, 3)
    spec = get_loss(path)
    f = spec.objective(4, spec.resolve_params(None))
    # the planted point: the found configuration reflected so that u_0 = e_0 (InfoNCE is O(d)-invariant)
    U = r.solve.points[r.solve.best][:4]
    v = U[0] - torch.eye(3, dtype=torch.float64)[0]
    planted = U - 2 * torch.outer(U @ v, v) / (v @ v)
    assert abs(float(planted[0, 0]) - 1) < 1e-12
    with torch.no_grad():
        low = float(f(torch.cat([planted, planted]).unsqueeze(0))[0])
    assert low < r.value - 0.5  # the claim "the minimiser is the simplex at any orientation" is false here
    assert r.verdict in ("confirmed", "inconclusive")
    ev = r.evidence
    assert "no restart of 8" in ev["search"] and "not proved" in ev["global_optimality"]
    assert "narrow basin" in ev["global_optimality"]
    _, doc = _cli_json(capsys, "--loss", path, "--M", "4", "--d", "3")
    assert doc["evidence"]["global_optimality"] == ev["global_optimality"]
    main(["verify", "--loss", path, "--M", "4", "--d", "3"])
    text = capsys.readouterr().out
    assert "evidence: no restart of 8" in text and "not proved" in text


def test_aligned_claim_with_non_aligned_local_minima_is_not_refuted(tmp_path, capsys):
    """Item 1: hand-written symmetric KCL, M = 12 in d = 3: every restart ends in a non-aligned local minimum
    far above the aligned icosahedron."""
    path = _write(tmp_path, "kclsym", KCL_SYM) + ":kcl_symmetric"
    r = verify(path, 12, 3, claim="aligned", restarts=4)
    assert r.verdict != "refuted", r.reason
    assert r.configuration == "icosahedron" and r.check("alignment").passed
    assert r.value < float(r.solve.values.min())  # the polished aligned candidate is below every restart
    code, doc = _cli_json(capsys, "--loss", path, "--M", "12", "--d", "3", "--claim", "aligned", "--restarts", "4")
    assert code != 1 and doc["configuration"] == "icosahedron"
    assert len(doc["points"]["U"]) == 12
    assert math.isclose(doc["value"], r.value, rel_tol=1e-12)
