"""Symbolic checks: closed forms against independent hand formulas and against verify's minimum,
stationarity, the sign decisions (proved / refuted with a checkable witness / undecided), the Jensen chain,
the KCL U-statistic and the α-CL identity; the ``symbolic`` command."""

import json
import math
import subprocess
import sys

import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hemtools import grids as G
from hemtools import symbolic as S
from hemtools.cli import main
from hemtools.errors import ArgumentError

# ------------------------------------------------------------------------------------------- closed forms

#: written by hand from SPEC §1 at u_i = v_i, u_i·u_j = −1/(M−1): an independent statement of each value
HAND = {
    "infonce": lambda M, p: math.log(1 + (M - 1) * math.exp(-M / ((M - 1) * p["tau"]))),
    "simclr": lambda M, p: math.log(1 + 2 * (M - 1) * math.exp(-M / ((M - 1) * p["tau"]))),
    "nt_xent": lambda M, p: math.log(1 + 2 * (M - 1) * math.exp(-M / ((M - 1) * p["tau"]))),
    "dcl": lambda M, p: math.log(2 * (M - 1)) - M / ((M - 1) * p["tau"]),
    "dhel": lambda M, p: math.log(M - 1) - M / ((M - 1) * p["tau"]),
    "dhel_sym": lambda M, p: 2 * math.log(M - 1) - 1 / p["tau"] - 2 / ((M - 1) * p["tau"]),
    "kcl": lambda M, p: -1 + p["gamma"] * math.exp(-p["t"] * 2 * M / (M - 1)),
    "alphacl": lambda M, p: M * math.log(1 + (M - 1) * math.exp(-2 * M / ((M - 1) * p["tau"]))),
}
PARAMS = {"infonce": {"tau": 0.3}, "simclr": {"tau": 0.5}, "nt_xent": {"tau": 0.4}, "dcl": {"tau": 0.2},
          "dhel": {"tau": 0.3}, "dhel_sym": {"tau": 0.6}, "kcl": {"t": 1.5, "gamma": 8.0}, "alphacl": {"tau": 0.8}}


@pytest.mark.parametrize("loss", sorted(HAND))
def test_closed_form_matches_hand_formula_and_the_exact_simplex(loss):
    form = S.loss_form(loss, PARAMS[loss])
    cf = S.closed_form(form, Ms=(2, 3, 5, 9))
    assert M_is_free(cf.expr)
    for M in (2, 3, 5, 9, 17):
        got = S._float(form.numeric(cf.expr).subs(S.M_, M), 30)
        assert got == pytest.approx(HAND[loss](M, form.params), rel=1e-14)
    assert all(r["status"] == "passed" for r in cf.rows), cf.rows
    assert all(f.status == "proved" for f in cf.derivations)


def M_is_free(expr):
    return S.M_ in expr.free_symbols


TAU_CELLS = [(2, 2, {}), (3, 2, {}), (3, 3, {"tau": 0.2}), (4, 3, {}), (4, 5, {"tau": 1.0}), (5, 4, {"tau": 0.3}),
             (5, 6, {}), (6, 5, {"tau": 0.7}), (3, 4, {"tau": 0.15}), (6, 8, {"tau": 0.4})]
KCL_CELLS = [(2, 2, {}), (3, 2, {}), (4, 3, {"t": 1.0}), (5, 4, {"gamma": 8.0}), (4, 6, {"t": 3.0, "gamma": 4.0}),
             (6, 5, {}), (3, 3, {"kernel": "imq", "t": 1.5}), (4, 3, {"kernel": "log", "t": 2.0}),
             (5, 7, {"kernel": "imq"}), (6, 8, {"kernel": "log", "gamma": 8.0})]


@pytest.mark.parametrize("loss", ["infonce", "simclr", "dcl", "dhel", "kcl"])
def test_closed_form_equals_the_minimum_verify_finds_in_ten_cells(loss):
    """Must-show: 1e-10 relative (the certificate's value tolerance) in 10 (M, d, params) cells per loss."""
    f = G.closed_form_vs_verify(loss, KCL_CELLS if loss == "kcl" else TAU_CELLS, restarts=6)
    rows = f.numbers["rows"]
    assert len(rows) >= 10 and f.status == "passed", rows
    assert all(r["verdict"] == "confirmed" for r in rows)


def test_closed_form_of_a_user_formula():
    form = S.loss_form("phipsi", {"phi": "x**2", "psi": "log(1+x)", "c2": 2.0})
    expr = S.closed_form_expr(form)
    M = sp.Symbol("M", positive=True, integer=True)
    assert sp.simplify(expr - sp.log(1 + 3 * M ** 2 / (M - 1))) == 0


def test_non_lipschitz_kernel_gets_a_round_off_allowance():
    """Riesz −r (s = −1): r² = 2 − 2u·v carries ~1e-16 at u = v, so r carries ~1e-8; the tolerance says so."""
    cf = S.closed_form(S.loss_form("kcl", {"kernel": "riesz", "s": -1.0}), Ms=(3, 4))
    assert all(r["status"] == "passed" for r in cf.rows)
    assert "not Lipschitz" in cf.rows[0]["tolerance_source"] and cf.rows[0]["tolerance"] < 1e-6


def test_no_symbolic_form_for_user_losses():
    with pytest.raises(ArgumentError, match="no symbolic form"):
        S.loss_form(lambda U, V: (U * V).sum(), {})


# ------------------------------------------------------------------------------------------- stationarity


@pytest.mark.parametrize("loss,params", [("infonce", {}), ("dcl", {"tau": 0.2}), ("kcl", {}), ("nt_xent", {}),
                                         ("phipsi", {"phi": "x**2", "psi": "sqrt(1+x)", "c2": 1.0}),
                                         ("gaussian_energy", {})])
def test_aligned_simplex_is_stationary(loss, params):
    fs = {f.name: f for f in S.stationarity(S.loss_form(loss, params))}
    assert fs["stationary_general_M"].status == "proved"
    assert fs["stationary_full_gram_M2"].status == "proved"
    assert fs["stationary_full_gram_M3"].status == "proved"
    assert fs["stationary_measured"].status == "passed"


def test_full_gram_derivation_detects_a_non_stationary_point():
    """The same derivation at a configuration that is not critical: u = v = (1,0), (0,1), (−1,0) in R²."""
    pts = [(1, 0), (0, 1), (-1, 0)] * 2  # [U; V], aligned

    def gram(a, b):
        return sum(p * q for p, q in zip(pts[a], pts[b], strict=True))

    f = S._stationarity_full_gram(S.loss_form("infonce", {"tau": 0.5}), 3, at=gram)
    assert f.status == "failed" and "largest |norm²|" in f.detail


def test_non_differentiable_kernel_has_no_gradient_at_the_simplex():
    fs = S.stationarity(S.loss_form("kcl", {"kernel": "riesz", "s": -1.0}))
    assert len(fs) == 1 and fs[0].status == "n/a" and "not differentiable" in fs[0].detail


# ------------------------------------------------------------------------------------------- sign decisions

X = S.X_


def test_polynomial_signs_are_exact():
    assert S.decide_sign(X ** 2 - 5, X, S.Domain(sp.Integer(-2), sp.Integer(2)), want="nonpos").status == "proved"
    d = S.decide_sign(X ** 2 - 1, X, S.Domain(sp.Integer(-2), sp.Integer(2)))
    assert d.status == "refuted" and -1 < d.witness < 1 and d.value < 0
    assert S.decide_sign(X ** 2 - 1, X, S.Domain(sp.Integer(1), sp.oo)).status == "proved"


def test_undecided_is_labelled_numerical():
    d = S.decide_sign(sp.sin(X) + 2, X, S.Domain(sp.Integer(-2), sp.Integer(2)))
    assert d.status == "undecided" and "numerical" in d.detail and d.scan_min > 0


def test_undefined_on_the_domain():
    d = S.decide_sign(1 / X, X, S.Domain(sp.Integer(-2), sp.Integer(2)), base=sp.log(X))
    assert d.status == "undefined" and d.witness < 0


def test_exp_phi_is_proved_convex_and_increasing_for_every_tau():
    rep = S.check_conditions("exp(x/tau)", "log(1+x)", tau=0.5)
    for name in ("phi_convex", "phi_nondecreasing"):
        f = rep.finding(name)
        assert f.status == "proved" and "every τ > 0" in f.statement


def test_infonce_psi_is_concave_but_its_composite_is_convex():
    """The seed's 'ψ convex' fails for InfoNCE (ψ = log(1+x)); the composite the proof needs holds."""
    rep = S.check_conditions("exp(x/0.5)", "log(1+x)")
    psi = rep.finding("psi_convex")
    assert psi.status == "refuted"
    s0 = psi.numbers["witness"]
    assert psi.numbers["value"] == pytest.approx(-1 / (1 + s0) ** 2, rel=1e-9)  # ψ''(S) by hand
    assert rep.finding("composite_convex").status == "proved"
    assert rep.holds == "proved"


def test_catalogue_phi_refuted_with_a_checkable_point():
    rep = S.check_conditions("log(3+x)", "x", M=3)
    f = rep.finding("phi_convex")
    assert f.status == "refuted"
    x0 = f.numbers["witness"]
    assert -2 <= x0 <= 2 and f.numbers["value"] == pytest.approx(-1 / (3 + x0) ** 2, rel=1e-9)
    comp = rep.finding("composite_convex")
    assert comp.status == "refuted" and rep.holds == "refuted"


def test_composite_refutation_point_is_a_real_concavity():
    """softplus(2x) with log(1+x): F(x) = log(1 + softplus(2x)) is concave for large x; check F'' < 0 at the
    reported point by finite differences (independent of the Hessian code)."""
    rep = S.check_conditions("softplus(2*x)", "log(1+x)", M=2)
    f = rep.finding("composite_convex")
    assert f.status == "refuted"
    (x0,) = f.numbers["point"]
    F = lambda z: math.log(1 + math.log1p(math.exp(2 * z)))  # noqa: E731
    h = 1e-4
    assert (F(x0 + h) - 2 * F(x0) + F(x0 - h)) / h ** 2 == pytest.approx(f.numbers["value"], rel=1e-4)
    assert f.numbers["value"] < 0


def test_monotonicity_refuted_for_a_decreasing_phi():
    rep = S.check_conditions("exp(-x/0.5)", "log(1+x)", M=3)
    assert rep.finding("phi_nondecreasing").status == "refuted"
    assert rep.finding("composite_nondecreasing").status == "refuted"


def test_conditions_with_a_callable_are_numerical_only():
    rep = S.check_conditions(lambda z: torch.exp(z / 0.5), lambda s: torch.log1p(s), M=3)
    assert rep.finding("phi_convex").status == "undecided"
    assert rep.holds == "undecided"


@settings(max_examples=10, deadline=None)
@given(a=st.integers(1, 40), b=st.integers(-20, 20))
def test_exp_of_affine_is_proved_and_its_reverse_refuted(a, b):
    up = S.check_conditions(f"exp({a}*x/10 + {b}/10)", "x", M=3)
    assert up.holds == "proved"
    down = S.check_conditions(f"exp(-{a}*x/10 + {b}/10)", "x", M=3)
    assert down.finding("phi_nondecreasing").status == "refuted"


# ------------------------------------------------------------------------------------------- Jensen chain


@pytest.mark.parametrize("loss", ["infonce", "simclr", "dcl", "dhel", "kcl", "alphacl"])
def test_jensen_chain_holds_and_is_tight_at_the_simplex(loss):
    form = S.loss_form(loss, {})
    cond = S.check_conditions(form.phipsi.phi, form.phipsi.psi, form.phipsi.c1, form.phipsi.c2, None,
                              form.phipsi.tau) if form.phipsi else S.kernel_conditions(form.kernel)
    assert cond.holds == "proved"
    fs = S.jensen_chain(form, cond)
    assert all(f.status == "passed" for f in fs if f.status != "proved"), [(f.name, f.status, f.detail) for f in fs]
    assert all(f.numbers.get("gap_at_simplex", 0.0) <= 1e-12 for f in fs)


def test_jensen_chain_breaks_where_its_condition_fails():
    form = S.loss_form("phipsi", {"phi": "x**2", "psi": "x"})
    cond = S.check_conditions("x**2", "x")
    fs = {f.name: f for f in S.jensen_chain(form, cond)}
    assert fs["link_monotone"].status == "refuted" and fs["link_monotone"].numbers["min_gap"] < 0
    assert fs["link_jensen"].status == "passed"  # x² is convex: that link still holds
    assert fs["chain_tightness"].status == "refuted"


def test_riesz_minus_two_is_not_unique():
    form = S.loss_form("kcl", {"kernel": "riesz", "s": -2.0})
    fs = {f.name: f for f in S.jensen_chain(form, S.kernel_conditions(form.kernel))}
    assert fs["equality_only_at_simplex"].status == "refuted"


# ------------------------------------------------------------------------------------------- KCL U-statistic


def test_expected_kcl_coefficients_are_independent_of_M():
    w = S.DEFAULT_WEIGHTS
    ref = S.expected_kcl_coefficients(3, w, 2)
    for M in (3, 4, 5):
        assert S.expected_kcl_coefficients(3, w, M) == ref
    A, B = ref
    assert A == {a: -w[a] for a in range(3)}
    assert B == {(a, b): w[a] * w[b] for a in range(3) for b in range(3)}


def test_kcl_u_statistic_and_monte_carlo():
    fs = {f.name: f for f in S.kcl_ustatistic({"t": 1.0, "gamma": 4.0}, mc_samples=5000, seed=1)}
    assert fs["expectation_independent_of_M"].status == "proved"
    assert fs["expectation_vs_monte_carlo"].status == "passed"
    rows = fs["expectation_vs_monte_carlo"].numbers["rows"]
    assert [r["M"] for r in rows] == [2, 3, 4, 5] and all(r["inside"] for r in rows)


def test_kcl_u_statistic_exact_value_by_hand():
    """Two atoms, Gaussian kernel: E = −Σ w_a e^{−t d_a²} + γ Σ_{a,b} w_a w_b e^{−t r_ab²}."""
    atoms = (((1, 0, 0), (0, 1, 0)), ((0, 0, 1), (0, 0, 1)))
    from fractions import Fraction

    w = (Fraction(1, 4), Fraction(3, 4))
    fs = S.kcl_ustatistic({"t": 2.0, "gamma": 16.0}, atoms=atoms, weights=w, mc_samples=2000)
    exact = fs[1].numbers["exact"]
    t, g = 2.0, 16.0
    want = -(0.25 * math.exp(-2 * t) + 0.75) + g * (0.25 ** 2 + 0.75 ** 2 + 2 * 0.25 * 0.75 * math.exp(-2 * t))
    assert exact == pytest.approx(want, rel=1e-14)


def test_kcl_u_statistic_rejects_bad_weights():
    from fractions import Fraction

    with pytest.raises(ArgumentError, match="weights"):
        S.kcl_ustatistic({}, weights=(Fraction(1, 2), Fraction(1, 3), Fraction(1, 3)))


# ------------------------------------------------------------------------------------------- α-CL


def test_alpha_cl_identity_is_proved_for_arbitrary_phi_psi():
    f = S.alpha_cl_symbolic()
    assert f.status == "proved" and "arbitrary" in f.statement


def test_alpha_cl_identity_for_concrete_functions_and_its_sign():
    f = S.alpha_cl_symbolic(sp.log(1 + X), sp.exp(2 * X), 1, 0)
    assert f.status == "proved" and "the sign is −" in f.detail


def test_alpha_cl_numeric_identity_sign():
    g = S.alpha_cl_numeric("log(1+x)", "exp(x)", 1.0, 0.0, 1.0, cases=((4, 3), (8, 5)))
    assert g.status == "passed"
    assert all(r["rel_residual_minus"] < 1e-12 and r["rel_residual_plus"] > 1 for r in g.numbers["rows"])


@pytest.mark.parametrize("name", ["infonce", "simclr", "dcl", "dhel", "phipsi", "alphacl", "kcl"])
def test_registered_alpha_cl_instances(name):
    f = S.alpha_cl_instance_check(name, {})
    assert f.status == ("n/a" if name == "kcl" else "passed"), f.detail


# ------------------------------------------------------------------------------------------- the command


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_symbolic_infonce_json(capsys):
    code, out, err = run(capsys, "symbolic", "--loss", "infonce", "--tau", "0.2", "--json", "--M", "2,3,5",
                         "--sections", "stationarity,conditions,chain")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "passed" and doc["loss"] == "infonce"
    assert "exp(-M/(tau*(M - 1)))" in doc["closed_form"]["expr"]
    assert {f["name"]: f["status"] for f in doc["sections"]["conditions"]}["composite_convex"] == "proved"


def test_cli_symbolic_table(capsys):
    code, out, _ = run(capsys, "symbolic", "--loss", "kcl", "--sections", "ustatistic", "--mc-samples", "2000")
    assert code == 0
    assert "closed form at the aligned regular simplex" in out and "U-statistic" in out


@pytest.mark.parametrize("argv,message", [
    (["--loss", "phipsi", "--param", "phi=exp(x/"], "cannot parse"),
    (["--loss", "phipsi", "--param", "psi=z"], "unknown symbol 'z'"),
    (["--loss", "dhel", "--sections", "foo"], "--sections: unknown foo"),
    (["--loss", "dhel", "--M", "1,2"], "--M: expected integers >= 2"),
    (["--loss", "sphere.py:norm"], "file 'sphere.py' does not exist"),
])
def test_cli_symbolic_usage_errors(capsys, argv, message):
    code, _, err = run(capsys, "symbolic", *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_cli_symbolic_nan_formula_is_inconclusive(capsys):
    code, out, _ = run(capsys, "symbolic", "--loss", "phipsi", "--param", "phi=log(x)", "--sections", "conditions",
                       "--M", "2,3")
    assert code == 3 and "INCONCLUSIVE" in out and "UNDEFINED" in out


def test_symbolic_console_subprocess():
    proc = subprocess.run([sys.executable, "-m", "hemtools", "symbolic", "--loss", "dhel", "--sections", "stationarity",
                           "--M", "2,3"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "stationary_general_M" in proc.stdout
