"""Closed-form derivatives in the Gram blocks (hemtools.fused) against autograd of the registered loss, and
Taylor slopes of the closed forms themselves (gradient: remainder ~h², Hessian: ~h³), for every loss that
declares a closed form (KCL's kernels, the InfoNCE and DHEL families)."""

import math
from dataclasses import replace

import pytest
import torch

from hemtools import fused, sphere
from hemtools.losses.registry import get_loss, registered
from hemtools.optim import solve

KCL = [(name, {"kernel": kernel, "t": 1.5, "gamma": 3.0}) for name in ("kcl", "kcl_sym")
       for kernel in ("gaussian", "imq", "log")]
TEMPERATURE = [(name, {"tau": tau}) for name in ("infonce", "simclr", "nt_xent", "dcl", "dcl_sym", "dhel", "dhel_sym")
               for tau in (0.5, 0.1)]
CASES = KCL + TEMPERATURE


def _setup(name, params, M=5, d=4, seed=1):
    spec = get_loss(name)
    p = spec.resolve_params(params)
    F = fused.for_loss(spec, M, p)
    assert F is not None, name
    X = sphere.random_points(2, 2 * M, d, generator=torch.Generator().manual_seed(seed))
    V = sphere.project(X, torch.randn(X.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64))
    return spec.objective(M, p), F, X, V / sphere.norm(V)[:, None, None]


@pytest.mark.parametrize("name,params", CASES)
def test_closed_form_matches_autograd(name, params):
    f, F, X, V = _setup(name, params)
    v0, eg0, _ = sphere.value_and_egrad(f, X)
    v1, eg1 = F.value_grad(X)
    h0 = sphere.second_order_model(f, X).hvp(V)
    h1 = F.model(X).hvp(V)
    assert torch.allclose(v0, v1, rtol=0, atol=1e-13 * float(v0.abs().max().clamp_min(1)))
    assert float((eg0 - eg1).abs().max()) <= 1e-13 * float(eg0.abs().max().clamp_min(1))
    assert float((h0 - h1).abs().max()) <= 1e-12 * float(h0.abs().max().clamp_min(1))


@pytest.mark.parametrize("name,params", CASES)
def test_closed_form_taylor_slopes(name, params):
    """f(R_x(hv)) − f − h<g,v> = O(h²) and − h²/2 <v,Hv> = O(h³), with the closed forms' g and Hv."""
    _, F, X, V = _setup(name, params)
    m = F.model(X)
    f0, slope, curv = m.value, sphere.inner(m.rgrad, V), sphere.inner(V, m.hvp(V))

    def rem(h, order):
        fh = F.value(sphere.retract(X, h * V))
        return (fh - f0 - h * slope - (0.5 * h * h * curv if order == 2 else 0.0)).abs()

    for order in (1, 2):
        e1, e2 = rem(1e-2, order), rem(1e-3, order)
        slopes = torch.log10(e1 / e2)
        assert bool((slopes > order + 0.8).all() & (slopes < order + 1.2).all()), (order, slopes)


def test_the_closed_form_is_what_the_loss_declares():
    """for_loss follows the ``gram`` form a loss declares where it registers, not a list of names."""
    spec = get_loss("kcl")
    assert fused.for_loss(spec, 8, spec.resolve_params({"kernel": "riesz", "s": -1.0})) is None
    assert isinstance(spec.forms.resolve("gram", spec.resolve_params({"kernel": "riesz", "s": -1.0}))[1], str)
    assert fused.for_loss(spec, 8, spec.resolve_params({})) is not None
    for name in ("phipsi", "riesz_energy"):  # declare no closed form: autograd
        s = get_loss(name)
        assert fused.for_loss(s, 8, s.resolve_params({})) is None, name
    declared = sorted(n for n, s in registered().items() if s.forms.gram is not None)
    assert {"infonce", "simclr", "nt_xent", "dcl", "dhel", "kcl"} <= set(declared)


def test_a_user_loss_with_the_same_name_pattern_is_not_fused():
    spec = get_loss("infonce")
    assert fused.for_loss(replace(spec, user_code=True), 8, spec.resolve_params({})) is None


def test_restricted_model_gives_the_same_products():
    """select(idx) (the restarts whose CG still runs) gives the rows of the whole batch's product."""
    _, F, X, V = _setup("nt_xent", {"tau": 0.2})
    m = F.model(X)
    idx = torch.tensor([1])
    assert torch.allclose(m.select(idx).hvp(V[idx]), m.hvp(V)[idx], rtol=0, atol=1e-15)
    _, F, X, V = _setup("kcl", {})
    m = F.model(X)
    assert torch.allclose(m.select(idx).hvp(V[idx]), m.hvp(V)[idx], rtol=0, atol=1e-15)


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


@pytest.mark.parametrize("name,params", CASES)
def test_numpy_arrays_give_the_torch_numbers(name, params):
    """The same forms on numpy arrays (hemtools.small's one-restart path), batched and one configuration."""
    _, F, X, V = _setup(name, params)
    m = F.model(X)
    Xn, Vn = X.numpy(), V.numpy()
    mn = F.model(Xn)
    scale = float(m.hvp(V).abs().max().clamp_min(1))
    assert float(abs(mn.value - m.value.numpy()).max()) <= 1e-13 * float(m.value.abs().max().clamp_min(1))
    assert float(abs(mn.egrad - m.egrad.numpy()).max()) <= 1e-13 * float(m.egrad.abs().max().clamp_min(1))
    assert float(abs(mn.hvp(Vn) - m.hvp(V).numpy()).max()) <= 1e-13 * scale
    for b in range(2):  # one configuration without a batch axis, as the small path calls it
        one = F.model(Xn[b].copy())
        assert one.value.shape == () and abs(float(one.value) - float(m.value[b])) <= 1e-13 * scale
        assert float(abs(one.hvp(Vn[b].copy()) - m.hvp(V)[b].numpy()).max()) <= 1e-13 * scale
        v, g = F.value_grad(Xn[b].copy())
        assert float(abs(g - m.egrad[b].numpy()).max()) <= 1e-13 * float(m.egrad.abs().max().clamp_min(1))
