"""Closed-form derivatives of pair-kernel losses (hemtools.fused) against autograd of the registered loss,
and Taylor slopes of the closed forms themselves (gradient: remainder ~h², Hessian: ~h³)."""

import math

import pytest
import torch

from hemtools import fused, sphere
from hemtools.losses.registry import get_loss
from hemtools.optim import solve

CASES = [(name, kernel) for name in ("kcl", "kcl_sym") for kernel in ("gaussian", "imq", "log")]


def _setup(name, kernel, M=5, d=4, seed=1):
    spec = get_loss(name)
    p = spec.resolve_params({"kernel": kernel, "t": 1.5, "gamma": 3.0})
    F = fused.for_loss(spec, M, p)
    X = sphere.random_points(2, 2 * M, d, generator=torch.Generator().manual_seed(seed))
    V = sphere.project(X, torch.randn(X.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64))
    return spec.objective(M, p), F, X, V / sphere.norm(V)[:, None, None]


@pytest.mark.parametrize("name,kernel", CASES)
def test_closed_form_matches_autograd(name, kernel):
    f, F, X, V = _setup(name, kernel)
    v0, eg0, _ = sphere.value_and_egrad(f, X)
    v1, eg1 = F.value_grad(X)
    h0 = sphere.second_order_model(f, X).hvp(V)
    h1 = F.model(X).hvp(V)
    assert torch.allclose(v0, v1, rtol=0, atol=1e-13 * float(v0.abs().max().clamp_min(1)))
    assert float((eg0 - eg1).abs().max()) <= 1e-13 * float(eg0.abs().max().clamp_min(1))
    assert float((h0 - h1).abs().max()) <= 1e-12 * float(h0.abs().max().clamp_min(1))


@pytest.mark.parametrize("name,kernel", CASES)
def test_closed_form_taylor_slopes(name, kernel):
    """f(R_x(hv)) − f − h<g,v> = O(h²) and − h²/2 <v,Hv> = O(h³), with the closed forms' g and Hv."""
    _, F, X, V = _setup(name, kernel)
    m = F.model(X)
    f0, slope, curv = m.value, sphere.inner(m.rgrad, V), sphere.inner(V, m.hvp(V))

    def rem(h, order):
        fh = F.value(sphere.retract(X, h * V))
        return (fh - f0 - h * slope - (0.5 * h * h * curv if order == 2 else 0.0)).abs()

    for order in (1, 2):
        e1, e2 = rem(1e-2, order), rem(1e-3, order)
        slopes = torch.log10(e1 / e2)
        assert bool((slopes > order + 0.8).all() & (slopes < order + 1.2).all()), (order, slopes)


def test_only_known_builtin_losses_are_fused():
    assert fused.for_loss(get_loss("infonce"), 8, get_loss("infonce").resolve_params({})) is None
    spec = get_loss("kcl")
    assert fused.for_loss(spec, 8, spec.resolve_params({"kernel": "riesz", "s": -1.0})) is None
    assert fused.for_loss(spec, 8, spec.resolve_params({})) is not None


def test_solver_uses_the_closed_form_and_reaches_the_same_minimum():
    r = solve("kcl", 8, 16, restarts=2, seed=3)
    assert r.hessian_method == fused.METHOD and bool(r.converged.all())
    # the registered loss (autograd) at the found points agrees, and its gradient is at round-off there
    f = get_loss("kcl").objective(8, get_loss("kcl").resolve_params({}))
    val, rg = sphere.riemannian_gradient(f, r.points)
    assert torch.allclose(val, r.values, rtol=0, atol=1e-14)
    assert float(sphere.norm(rg).max()) <= 1e-12
    # the simplex value of KCL (γ = 16, t = 2, M = 8 ≤ d+1): −1 + 16 e^{−2 t M/(M−1)}
    assert abs(r.best_value - (-1 + 16 * math.exp(-2 * 2 * 8 / 7))) <= 1e-12
