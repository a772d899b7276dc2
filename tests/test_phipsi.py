"""The φ/ψ family: named instances against the registered losses and 50-digit loop references, the generic
(formula / callable) path against its own loop reference, derivatives, invariances, and bad formulas."""

import math

import mpmath as mp
import pytest
import reference_losses as ref
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hemtools import configurations, sphere
from hemtools.cli import main
from hemtools.errors import ArgumentError, UserCodeError
from hemtools.losses import get_loss
from hemtools.losses.phipsi import NAMED_INSTANCES, compile_formula, parse_formula

PHIPSI = get_loss("phipsi")


def _points(seed, M, d, batch=None):
    g = torch.Generator().manual_seed(seed)
    x = sphere.random_points(1 if batch is None else batch, M, d, generator=g)
    return x[0] if batch is None else x


def loop_phipsi(U, V, phi, psi, c1, c2):
    """SPEC §1 with explicit sums, 50 digits; phi/psi are mpmath functions."""
    U, V = ref._rows(U), ref._rows(V)
    M = len(U)
    tot = 0
    for i in range(M):
        p = ref._dot(U[i], V[i])
        s = c1 * mp.fsum(phi(ref._dot(U[i], V[j]) - p) for j in range(M) if j != i)
        s += c2 * mp.fsum(phi(ref._dot(U[i], U[j]) - p) for j in range(M) if j != i)
        tot += psi(s)
    return tot / M


# ------------------------------------------------------------------------------------------- named instances


@pytest.mark.parametrize("name", sorted(NAMED_INSTANCES))
@pytest.mark.parametrize("M,d,tau", [(2, 2, 0.5), (5, 3, 0.2), (9, 8, 1.0), (12, 4, 0.05)])
def test_named_instances_equal_registered_losses_and_loop_reference(name, M, d, tau):
    U, V = _points(1, M, d), _points(2, M, d)
    got = float(PHIPSI(U, V, tau=tau, **NAMED_INSTANCES[name]))
    registered = float(get_loss(name)(U, V, tau=tau))
    want = float(getattr(ref, name)(U, V, tau))
    # both are log-sum-exp evaluations of the same sums: agreement to float64 round-off
    assert got == pytest.approx(want, rel=1e-12, abs=1e-13)
    assert got == pytest.approx(registered, rel=1e-12, abs=1e-13)


@pytest.mark.parametrize("name", sorted(NAMED_INSTANCES))
def test_named_instances_use_log_sum_exp_at_small_temperature(name):
    """τ = 0.01: e^{2/τ} = e^{200} makes the plain sums lose every digit of log(1 + S); log-sum-exp does not."""
    U, V = _points(3, 6, 4), _points(4, 6, 4)
    p = NAMED_INSTANCES[name]
    assert compile_formula(p["phi"], "phi").exp_linear is not None
    assert compile_formula(p["psi"], "psi").log_affine is not None
    got = float(PHIPSI(U, V, tau=0.01, **p))
    want = float(getattr(ref, name)(U, V, 0.01))
    assert math.isfinite(got) and got == pytest.approx(want, rel=1e-12)


def test_generic_path_agrees_with_log_sum_exp_path():
    """A callable φ takes the plain-sum path; at τ = 0.2 both agree to round-off."""
    U, V = _points(5, 7, 5, batch=3), _points(6, 7, 5, batch=3)
    for name, p in NAMED_INSTANCES.items():
        stable = PHIPSI(U, V, tau=0.2, **p)
        generic = PHIPSI(U, V, tau=0.2, **dict(p, phi=lambda z: torch.exp(z / 0.2)))
        assert torch.allclose(stable, generic, rtol=1e-13, atol=0), name


# ------------------------------------------------------------------------------------------- generic formulas

GENERIC = [
    ("softplus(2*x)", "x", lambda z: mp.log(1 + mp.exp(2 * z)), lambda s: s, 1.0, 0.0),
    ("x**2", "log(1+x)", lambda z: z * z, lambda s: mp.log(1 + s), 1.0, 1.0),
    ("exp(x)+x", "x**2", lambda z: mp.exp(z) + z, lambda s: s * s, 0.5, 2.0),
    ("sqrt(x+3)", "exp(x/10)", lambda z: mp.sqrt(z + 3), lambda s: mp.exp(s / 10), 0.0, 1.0),
]


@pytest.mark.parametrize("phi,psi,mphi,mpsi,c1,c2", GENERIC, ids=[g[0] + "|" + g[1] for g in GENERIC])
def test_generic_formulas_match_loop_reference(phi, psi, mphi, mpsi, c1, c2):
    U, V = _points(7, 6, 3), _points(8, 6, 3)
    got = float(PHIPSI(U, V, phi=phi, psi=psi, c1=c1, c2=c2))
    assert got == pytest.approx(float(loop_phipsi(U, V, mphi, mpsi, c1, c2)), rel=1e-12)


def test_batched_equals_one_by_one():
    U, V = _points(9, 5, 3, batch=4), _points(10, 5, 3, batch=4)
    for phi, psi, *_ in GENERIC:
        b = PHIPSI(U, V, phi=phi, psi=psi)
        one = torch.stack([PHIPSI(U[i], V[i], phi=phi, psi=psi) for i in range(4)])
        assert torch.allclose(b, one, rtol=1e-14, atol=0)


@pytest.mark.parametrize("phi,psi", [("softplus(2*x)", "log(1+x)"), ("exp(x/0.3)", "log(x)"), ("x**2", "sqrt(1+x)")])
def test_gradient_and_hessian_taylor_slopes(phi, psi):
    """Autograd derivatives of the translated formulas: the Taylor remainders decay with slopes 2 and 3."""
    spec = get_loss("phipsi")
    p = spec.resolve_params({"phi": phi, "psi": psi, "c2": 1.0})
    f = spec.objective(5, p)
    x = sphere.random_points(1, 10, 4, generator=torch.Generator().manual_seed(11))
    assert sphere.taylor_check(f, x, order=1).passed
    assert sphere.taylor_check(f, x, order=2).passed


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), which=st.integers(0, len(GENERIC) - 1))
def test_rotation_and_permutation_invariance(seed, which):
    phi, psi, *_ = GENERIC[which]
    g = torch.Generator().manual_seed(seed)
    U, V = sphere.random_points(2, 5, 3, generator=g)
    Q = configurations.random_rotation(3, g)
    perm = torch.randperm(5, generator=g)
    base = float(PHIPSI(U, V, phi=phi, psi=psi, c2=0.5))
    assert float(PHIPSI(U @ Q, V @ Q, phi=phi, psi=psi, c2=0.5)) == pytest.approx(base, rel=1e-12)
    assert float(PHIPSI(U[perm], V[perm], phi=phi, psi=psi, c2=0.5)) == pytest.approx(base, rel=1e-12)


def test_value_at_the_aligned_simplex():
    """ψ((c1+c2)(M−1) φ(−M/(M−1))) at the exact simplex, for a formula with no log-sum-exp path."""
    M = 5
    x = configurations.regular_simplex(M, 6)
    got = float(PHIPSI(x, x, phi="x**2", psi="log(1+x)", c1=1.0, c2=2.0))
    assert got == pytest.approx(math.log(1 + 3 * (M - 1) * (M / (M - 1)) ** 2), rel=1e-13)


# ------------------------------------------------------------------------------------------- formulas


def test_formulas_are_compiled_once():
    a = compile_formula("exp(x/tau) + 1", "phi")
    assert compile_formula("exp(x/tau) + 1", "phi") is a


def test_sympy_expressions_and_symbol_names_are_accepted():
    import sympy as sp

    x, tau = sp.symbols("x tau")  # no assumptions: matched by name
    U, V = _points(12, 4, 3), _points(13, 4, 3)
    a = float(PHIPSI(U, V, phi=sp.exp(x / tau), psi=sp.log(1 + x), tau=0.3))
    assert a == pytest.approx(float(get_loss("infonce")(U, V, tau=0.3)), rel=1e-13)


def test_decimal_numbers_are_exact():
    """'exp(x/0.1)' is parsed as exp(10x), not as a float approximation of 1/0.1."""
    assert str(parse_formula("exp(x/0.1)", "phi")) == "exp(10*x)"


BAD_FORMULAS = [
    ("exp(x/", "cannot parse 'exp(x/'"),
    ("y + 1", "unknown symbol 'y'"),
    ("__import__('os').system('true')", "unknown symbol '__import__'"),
    ("x.real", "unexpected '.'"),
    ("x[0]", "unexpected '['"),
    ("lambda: x", "unknown symbol 'lambda'"),
    ("tau", "is not a function of x"),
    ("3", "is not a function of x"),
    ("1/0 + x", "is undefined"),
    ("sqrt(-1)*x", "not real-valued"),
    ("2**10**10 * x", "too large"),
    ("x, x", "not an expression"),
    ("", "empty formula"),
]


@pytest.mark.parametrize("text,message", BAD_FORMULAS)
def test_bad_formulas_raise_argument_error_with_the_reason(text, message):
    with pytest.raises(ArgumentError, match="phi: ") as info:
        compile_formula(text, "phi")
    assert message in str(info.value)


@pytest.mark.parametrize("text,message", BAD_FORMULAS[:4] + BAD_FORMULAS[6:7])
def test_cli_bad_formula_is_exit_2_with_one_line(capsys, text, message):
    code = main(["verify", "--loss", "phipsi", "--M", "3", "--d", "2", "--param", f"phi={text}"])
    _, err = capsys.readouterr()
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_formula_that_is_nan_on_the_domain_is_inconclusive(capsys):
    """log(x) of u·w − u·v ∈ [−2, 2] is NaN for negative arguments: never confirmed."""
    code = main(["verify", "--loss", "phipsi", "--M", "3", "--d", "2", "--param", "phi=log(x)", "--json"])
    out, _ = capsys.readouterr()
    import json

    doc = json.loads(out)
    assert code == 3 and doc["verdict"] == "inconclusive" and "non-finite" in doc["reason"]


def test_cli_phipsi_confirms_the_simplex(capsys):
    code = main(["verify", "--loss", "phipsi", "--M", "4", "--d", "3", "--param", "phi=exp(x/0.5)",
                 "--param", "psi=log(1+x)", "--param", "c1=1", "--param", "c2=0"])
    out, _ = capsys.readouterr()
    assert code == 0 and "CONFIRMED" in out


def test_weights_must_not_both_vanish():
    with pytest.raises(ArgumentError, match="c1, c2"):
        PHIPSI.resolve_params({"c1": 0, "c2": 0})
    with pytest.raises(ArgumentError, match="c1"):
        PHIPSI.resolve_params({"c1": -1})


def test_errors_in_user_callables_are_user_code_errors():
    U, V = _points(14, 3, 2), _points(15, 3, 2)

    def broken(z):
        raise RuntimeError("boom")

    with pytest.raises(UserCodeError, match="boom"):
        PHIPSI(U, V, phi=broken)
    with pytest.raises(UserCodeError, match="elementwise"):
        PHIPSI(U, V, psi=lambda s: s.sum())
