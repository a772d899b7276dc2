"""``compare``: an implementation against a reference; pytorch-metric-learning's NTXentLoss against nt_xent."""

import json
import math

import pytest
import torch

from hemtools import sphere
from hemtools.cli import main
from hemtools.compare import compare, float32_evidence
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
    r = compare(
        "pml:NTXentLoss", "nt_xent", [3], [3], trials=1, params_loss={"tau": 0.07}, params_reference={"tau": 0.5}
    )
    assert r.verdict == "mismatch"


def test_pml_cli(capsys):
    pytest.importorskip("pytorch_metric_learning")
    code, out, _ = run(
        capsys,
        "--loss",
        "pml:NTXentLoss",
        "--reference",
        "nt_xent",
        "--M",
        "4",
        "--d",
        "3",
        "--trials",
        "1",
        "--tau",
        "0.2",
    )
    assert code == 0 and "verdict    MATCH" in out and "pml:NTXentLoss  (tau=0.2, pairing=batch)" in out


def test_non_finite_values(capsys, tmp_path):
    f = tmp_path / "nanloss.py"
    f.write_text(
        "def nan_loss(U, V):\n    return (U * V).sum() * float('nan')\n"
        "def raises(U, V):\n    raise RuntimeError('boom in compare')\n"
    )
    # one side NaN: a mismatch; both NaN: nothing can be said (exit 3)
    code, out, _ = run(capsys, "--loss", f"{f}:nan_loss", "--reference", "kcl", "--M", "3", "--d", "3", "--trials", "1")
    assert code == 1 and "MISMATCH" in out
    code, out, _ = run(
        capsys,
        "--loss",
        f"{f}:nan_loss",
        "--reference",
        f"{f}:nan_loss",
        "--M",
        "3",
        "--d",
        "3",
        "--trials",
        "1",
        "--json",
    )
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


# ------------------------------------------------------------------------ issue 11 item 8: Riesz at r = 0

USER_LOSSES = '''
import torch

def kcl_authors_sym(U, V, t=2.0, gamma=16.0):
    """The authors' symmetric KCL written by hand: kcl(U, V) + kcl(V, U), Gaussian kernels, explicit loops."""
    def one(A, B):
        M = A.shape[0]
        align = torch.exp(-t * ((A - B) ** 2).sum(-1)).mean()
        off = ~torch.eye(M, dtype=torch.bool)
        d2 = ((A[:, None, :] - A[None, :, :]) ** 2).sum(-1)
        return -align + gamma * torch.exp(-t * d2)[off].mean()
    return one(U, V) + one(V, U)

def twice_dcl(U, V, tau=0.5):
    M = U.shape[0]
    off = ~torch.eye(M, dtype=torch.bool)
    tot = 0
    for i in range(M):
        neg = torch.cat([(U[i] @ V.T)[off[i]], (U[i] @ U.T)[off[i]]]) / tau
        tot = tot - (U[i] @ V[i]) / tau + torch.logsumexp(neg, 0)
    return 2 * tot / M

def nt_xent_float32(U, V, tau=0.5):
    """nt_xent evaluated in single precision and cast back: what a float32 training loss does."""
    from hemtools.losses import get_loss
    return get_loss("nt_xent")(U.float(), V.float(), tau=tau).double()

def gaussian_kcl_through_norm(U, V, t=2.0, gamma=16.0):
    """kcl (Gaussian) with the alignment through norm()**2: NaN gradient at u = v, where the derivative exists."""
    M = U.shape[0]
    align = torch.exp(-t * torch.linalg.norm(U - V, dim=-1).pow(0.5) ** 4).mean()
    off = ~torch.eye(M, dtype=torch.bool)
    d2 = ((U[:, None, :] - U[None, :, :]) ** 2).sum(-1)
    return -align + gamma * torch.exp(-t * d2)[off].mean()
'''


@pytest.fixture
def user_losses(tmp_path):
    f = tmp_path / "third_party_losses.py"
    f.write_text(USER_LOSSES)
    return f


def test_riesz_alignment_is_exact_at_aligned_pairs():
    """kcl(kernel=riesz) at the aligned simplex against its closed form γ/(M(M−1)) Σ_{i≠j} −r_ij^{|s|}: the
    alignment term is 0 exactly (r from u − v, not from 2 − 2u·v, which left ~1e-8)."""
    from hemtools import configurations

    for M, d in ((3, 3), (4, 5)):
        x = configurations.regular_simplex(M, d)
        r = math.sqrt(2 + 2 / (M - 1))  # side of the regular simplex with M vertices
        for s in (-1.0, -0.5, -1.5, -3.0):
            got = float(get_loss("kcl")(x, x, kernel="riesz", s=s))
            want = -16.0 * r ** abs(s)
            assert abs(got - want) <= 4e-16 * abs(want), (M, s, got - want)


def test_riesz_gradient_exists_where_the_derivative_does():
    """|s| = 1.5: r^{1.5} is differentiable at u = v with derivative 0; the gradient is finite and the Taylor
    remainder at the aligned simplex shrinks like h^{1.5} (slope 1.5).  |s| = 3: Hessian finite there.
    |s| = 1: no derivative at u = v: the gradient there is NaN (no number would be right)."""
    from hemtools import configurations
    from hemtools.sphere import second_order_model

    spec = get_loss("kcl")
    x = configurations.regular_simplex(4, 3)
    X = torch.cat([x, x])
    f = spec.objective(4, spec.resolve_params({"kernel": "riesz", "s": -1.5}))
    val, g = sphere.riemannian_gradient(f, X.unsqueeze(0))
    assert bool(torch.isfinite(g).all())
    gen = torch.Generator().manual_seed(3)
    xi = sphere.project(X, torch.randn(X.shape, generator=gen, dtype=X.dtype))
    xi = xi / sphere.norm(xi)
    rem = []
    for h in (1e-2, 1e-3, 1e-4):
        xh = sphere.retract(X, h * xi).unsqueeze(0)
        rem.append(abs(float(f(xh)[0] - val[0]) - h * float(sphere.inner(g[0], xi))))
    slopes = [math.log10(rem[k] / rem[k + 1]) for k in range(2)]
    assert all(1.4 <= sl <= 1.6 for sl in slopes), slopes
    f3 = spec.objective(4, spec.resolve_params({"kernel": "riesz", "s": -3.0}))
    model = second_order_model(f3, X.unsqueeze(0))
    hv = model.hvp(xi.unsqueeze(0))
    assert bool(torch.isfinite(hv).all())
    f1 = spec.objective(4, spec.resolve_params({"kernel": "riesz", "s": -1.0}))
    _, g1 = sphere.riemannian_gradient(f1, X.unsqueeze(0))
    assert not bool(torch.isfinite(g1).all())


@pytest.mark.parametrize("s", ["-1", "-0.5"])
def test_compare_riesz_against_itself_is_a_match_with_the_kink_not_compared(capsys, s):
    """Where the reference has no derivative (the aligned optimum, |s| <= 1) gradients are not comparable;
    the values are still compared.  Before: MISMATCH (gradient differs by inf)."""
    code, out, _ = run(
        capsys,
        "--loss",
        "kcl",
        "--reference",
        "kcl",
        "--param",
        "kernel=riesz",
        "--param",
        f"s={s}",
        "--M",
        "3",
        "--d",
        "3",
        "--trials",
        "1",
    )
    assert code == 0 and "verdict    MATCH" in out, out
    assert "gradients not compared at 1 configuration where the reference has no derivative (optimum" in out
    r = compare("kcl", "kcl", [3], [3], trials=1, params={"kernel": "riesz", "s": float(s)})
    (opt,) = [c for c in r.cases if c.where == "optimum"]
    assert not opt.grad_comparable and opt.value_diff == 0 and not opt.mismatch
    assert all(c.grad_comparable for c in r.cases if c.where != "optimum")


def test_no_derivative_is_measured_not_assumed(user_losses):
    """A NaN gradient where the reference *is* differentiable stays a mismatch: the Gaussian KCL is smooth at
    u = v, so an implementation whose gradient is NaN there (a norm at zero distance) is caught."""
    r = compare(f"{user_losses}:gaussian_kcl_through_norm", "kcl", [3], [3], trials=1)
    assert r.verdict == "mismatch"
    (opt,) = [c for c in r.cases if c.where == "optimum"]
    assert opt.grad_comparable and opt.grad_mismatch and math.isinf(opt.grad_diff)


# ------------------------------------------------------------------- issue 11 item 16: a mismatch, diagnosed


def test_mismatch_diagnosis_prints_a_constant_ratio(capsys, user_losses):
    code, out, _ = run(
        capsys, "--loss", f"{user_losses}:twice_dcl", "--reference", "dcl", "--M", "3", "--d", "3", "--trials", "1"
    )
    assert code == 1
    assert "diagnosis  loss / reference = 2.000 at all" in out and "a constant factor is a convention" in out


def test_mismatch_diagnosis_suggests_the_reference_that_matches(capsys, user_losses):
    """The authors' symmetric KCL against kcl: the other registered references are tried with the same
    parameters on the worst cases, and kcl_sym matches."""
    code, out, _ = run(
        capsys,
        "--loss",
        f"{user_losses}:kcl_authors_sym",
        "--reference",
        "kcl",
        "--M",
        "3,5",
        "--d",
        "3",
        "--trials",
        "1",
    )
    assert code == 1 and "try --reference kcl_sym" in out, out
    r = compare("simclr", "nt_xent", [3], [3], trials=1)
    assert not any("try --reference" in d for d in r.diagnostics)  # nothing registered is simclr but simclr


def test_float32_implementation_is_detected_with_the_rtol_that_fits(user_losses):
    r = compare(f"{user_losses}:nt_xent_float32", "nt_xent", [3, 5], [3], trials=2)
    assert r.verdict == "mismatch"
    (line,) = [d for d in r.diagnostics if "float32" in d]
    assert "values lie on the float32 grid" in line
    assert not any("constant factor" in d for d in r.diagnostics)  # ratio 1.000000x is not a convention
    rtol_fit = float(line.split("--rtol ")[1].split()[0])
    atol_fit = float(line.split("--atol ")[1].split()[0])
    assert 1e-7 <= rtol_fit <= 1e-3  # float32 round-off, relative to gradients that are small near the optimum
    assert 1e-9 <= atol_fit <= 1e-6  # absolute, where the gradient vanishes (the optimum)
    again = compare(f"{user_losses}:nt_xent_float32", "nt_xent", [3, 5], [3], trials=2, rtol=rtol_fit, atol=atol_fit)
    assert again.verdict == "match", again.reason  # the suggested tolerance does fit
    assert float32_evidence(compare("nt_xent", "nt_xent", [3], [3], trials=1).cases) is None  # float64: no


def test_progress_line_on_stderr_when_the_reference_must_be_solved(capsys):
    code, out, err = run(
        capsys, "--loss", "infonce", "--reference", "infonce", "--M", "4", "--d", "2", "--trials", "1", "--json"
    )
    assert code == 0 and json.loads(out)["verdict"] == "match"
    assert "compare: solving infonce for its minimiser at M=4, d=2 (M > d+1: no simplex; 2 restarts) ..." in err
    assert "compare: solved infonce at M=4, d=2 in" in err
    code, out, err = run(capsys, "--loss", "infonce", "--reference", "infonce", "--M", "3", "--d", "2", "--trials", "1")
    assert code == 0 and err == ""  # the simplex needs no solving: nothing on stderr
