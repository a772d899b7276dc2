"""hemtools.formula, the compiler shared by the φ/ψ and α-CL losses and by hemtools.symbolic: the torch
translation against sympy's own evaluation, the recognised forms, and the names the loss modules re-export.
(Parsing errors and caching are tested through the losses in test_phipsi.py.)"""

import math

import pytest
import sympy as sp
import torch

from hemtools import formula
from hemtools.losses import phipsi

FORMULAS = ["exp(x/tau)", "log(1+x)", "softplus(2*x) - x**3", "sqrt(4 + x) * tanh(x)", "Max(x, 0) + sigmoid(x)",
            "x**(5/2) + erf(x) - atan(x/tau)", "cosh(x) / (1 + x**2)", "log(1 + exp(x/tau))"]


@pytest.mark.parametrize("text", FORMULAS)
def test_translation_agrees_with_sympy_evaluation(text):
    expr = formula.parse_formula(text, "f")
    x, tau = formula.symbols()
    fn = formula.translate(expr)
    pts = torch.linspace(0.05, 1.95, 39, dtype=torch.float64)  # where every formula above is real
    got = fn(pts, 0.3)
    for p, g in zip(pts.tolist(), got.tolist(), strict=True):
        want = float(sp.N(expr.subs({x: sp.Rational(repr(p)), tau: sp.Rational(3, 10)}), 30))
        assert g == pytest.approx(want, rel=1e-13, abs=1e-14), (text, p)
    # python floats through the same tree (the scalar path of _dual)
    assert float(fn(0.7, 0.3)) == pytest.approx(float(fn(torch.tensor([0.7], dtype=torch.float64), 0.3)), rel=1e-15)


def test_recognised_forms():
    f = formula.compile_formula("exp(x/tau + 1)", "phi")
    a, b = f.exp_linear(0.5)
    assert (a, b) == pytest.approx((2.0, 1.0))
    g = formula.compile_formula("2*log(x + 3) - 1", "psi")
    assert g.log_affine(0.5) == pytest.approx((2.0, 3.0, -1.0))
    assert formula.compile_formula("x**2", "phi").exp_linear is None
    assert formula.compile_formula("log(x - 1)", "psi").log_affine is None  # k < 0: not the stable path


def test_callables_are_wrapped_not_compiled():
    f = formula.compile_formula(torch.exp, "phi")
    assert f.is_callable and f.expr is None
    assert float(f(torch.tensor([0.0], dtype=torch.float64), 0.5)[0]) == 1.0


def test_symbols_are_the_ones_symbolic_uses():
    from hemtools import symbolic

    x, tau = formula.symbols()
    assert x == symbolic.X_ and tau == symbolic.TAU
    assert formula.parse_formula("x + tau", "f") - symbolic.X_ - symbolic.TAU == 0


def test_loss_modules_reexport_the_compiler():
    for name in ("compile_formula", "parse_formula", "Formula", "probe", "FUNCTIONS"):
        assert getattr(phipsi, name) is getattr(formula, name)
    assert math.isfinite(float(phipsi.compile_formula("exp(x/tau)", "phi")(torch.tensor([1.0]), 0.5)[0]))
