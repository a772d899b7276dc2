"""α-CL (Tian 2022): the loss against a distance-based loop reference, the registered instances, the gradient
identity ∇L = −∇E_α with α stopped (autograd), α weights, E_α = ½ tr C_α and the α-CL-direct weights."""

import math

import mpmath as mp
import pytest
import reference_losses as ref
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hemtools import configurations, sphere
from hemtools.checks import verify
from hemtools.errors import ArgumentError
from hemtools.losses import alphacl as A
from hemtools.losses import get_loss
from hemtools.losses.phipsi import compile_formula

mp.mp.dps = 50


def _pts(seed, M, d, unit=True):
    g = torch.Generator().manual_seed(seed)
    if unit:
        return sphere.random_points(1, M, d, generator=g)[0], sphere.random_points(1, M, d, generator=g)[0]
    U = torch.randn(M, d, generator=g, dtype=torch.float64)
    return U, U + 0.5 * torch.randn(M, d, generator=g, dtype=torch.float64)


def loop_alphacl(U, V, phi, psi, c1, c2):
    """Σ_i φ(Σ_{j≠i} c1 ψ(d_i² − d_ij²) + c2 ψ(d_i² − ‖u_i − u_j‖²)) with explicit distances, 50 digits."""
    U, V = ref._rows(U), ref._rows(V)
    M = len(U)
    tot = 0
    for i in range(M):
        di = ref._sqdist(U[i], V[i])
        xi = c1 * mp.fsum(psi(di - ref._sqdist(U[i], V[j])) for j in range(M) if j != i)
        xi += c2 * mp.fsum(psi(di - ref._sqdist(U[i], U[j])) for j in range(M) if j != i)
        tot += phi(xi)
    return tot


CASES = [
    ("log(1+x)", "exp(x/tau)", lambda s: mp.log(1 + s), lambda z: mp.exp(z / mp.mpf("0.7")), 1.0, 0.0, 0.7),
    ("log(x)", "exp(x)", mp.log, mp.exp, 1.0, 1.0, 1.0),
    ("x", "sigmoid(3*x)", lambda s: s, lambda z: 1 / (1 + mp.exp(-3 * z)), 1.0, 0.5, 1.0),
    ("sqrt(1+x)", "x**2", lambda s: mp.sqrt(1 + s), lambda z: z * z, 0.0, 1.0, 1.0),
]


@pytest.mark.parametrize("phi,psi,mphi,mpsi,c1,c2,tau", CASES, ids=[c[0] + "|" + c[1] for c in CASES])
@pytest.mark.parametrize("unit", [True, False])
def test_loss_matches_loop_reference(phi, psi, mphi, mpsi, c1, c2, tau, unit):
    U, V = _pts(1, 6, 3, unit)
    got = float(A.alphacl_loss(U, V, phi, psi, c1, c2, tau))
    assert got == pytest.approx(float(loop_alphacl(U, V, mphi, mpsi, c1, c2)), rel=1e-12)


def test_default_is_M_times_infonce_at_half_the_temperature():
    U, V = _pts(2, 7, 4)
    for tau in (1.0, 0.2, 0.02):
        got = float(get_loss("alphacl")(U, V, tau=tau))
        assert got == pytest.approx(7 * float(ref.infonce(U, V, tau / 2)), rel=1e-12)


@pytest.mark.parametrize("name", ["infonce", "simclr", "dcl", "dhel", "phipsi", "alphacl"])
def test_registered_instances_equal_their_alpha_cl_form(name):
    U, V = _pts(3, 6, 5)
    inst = A.instance(name, {})
    scale = 1 / 6 if inst["scale"] == "1/M" else 1.0
    got = float(get_loss(name)(U, V))
    assert got == pytest.approx(scale * float(A.alphacl_loss(U, V, inst["phi"], inst["psi"], inst["c1"], inst["c2"],
                                                            inst["tau"])), rel=1e-12)


def test_kcl_and_symmetric_losses_are_not_instances():
    for name in ("kcl", "kcl_sym", "nt_xent", "dhel_sym"):
        assert A.instance(name, {}) is None and name in A.NOT_INSTANCES


def _grads(U, V, phi, psi, c1, c2, tau):
    Ug, Vg = U.clone().requires_grad_(True), V.clone().requires_grad_(True)
    gL = torch.autograd.grad(A.alphacl_loss(Ug, Vg, phi, psi, c1, c2, tau), [Ug, Vg])
    alpha = A.alpha_weights(U, V, phi, psi, c1, c2, tau)
    assert not alpha.requires_grad
    Ug, Vg = U.clone().requires_grad_(True), V.clone().requires_grad_(True)
    gE = torch.autograd.grad(A.alpha_energy(Ug, Vg, alpha), [Ug, Vg])
    return torch.cat(gL), torch.cat(gE)


@pytest.mark.parametrize("phi,psi,mphi,mpsi,c1,c2,tau", CASES, ids=[c[0] + "|" + c[1] for c in CASES])
def test_gradient_identity_with_alpha_stopped(phi, psi, mphi, mpsi, c1, c2, tau):
    """∇L = −∇E_α exactly (SPEC's signs and E_α without ½); +∇E_α is far from it."""
    for M, d in ((4, 3), (9, 5), (16, 8)):
        U, V = _pts(M, M, d, unit=False)
        gL, gE = _grads(U, V, phi, psi, c1, c2, tau)
        # O(M²) float64 terms of size ~‖∇L‖: 1e-12 relative is ~1000 ulps
        assert float((gL + gE).norm()) <= 1e-12 * float(gL.norm())
        assert float((gL - gE).norm()) >= 0.5 * float(gL.norm())


def test_gradient_identity_against_finite_differences():
    """Independent of autograd's bookkeeping: central differences of E_α with α frozen equal −∇L."""
    U, V = _pts(5, 4, 3, unit=False)
    phi, psi = "log(1+x)", "exp(x/0.5)"
    alpha = A.alpha_weights(U, V, phi, psi, 1.0, 0.5, 0.5)
    Ug, Vg = U.clone().requires_grad_(True), V.clone().requires_grad_(True)
    gL = torch.autograd.grad(A.alphacl_loss(Ug, Vg, phi, psi, 1.0, 0.5, 0.5), [Ug, Vg])[0]
    h = 1e-6
    for i, k in [(0, 0), (2, 1), (3, 2)]:
        e = torch.zeros_like(U)
        e[i, k] = h
        fd = (float(A.alpha_energy(U + e, V, alpha)) - float(A.alpha_energy(U - e, V, alpha))) / (2 * h)
        # central difference: truncation O(h²) ~ 1e-12, round-off ~ eps·|E|/h ~ 1e-10
        assert fd == pytest.approx(-float(gL[i, k]), rel=1e-7, abs=1e-8)


def test_stable_and_generic_alpha_weights_agree():
    U, V = _pts(6, 7, 3)
    f = compile_formula("log(1+x)", "phi")
    for c2 in (0.0, 1.0):
        stable = A.alpha_weights(U, V, "log(1+x)", "exp(x/0.4)", 1.0, c2, 0.4)
        generic = A.alpha_weights(U, V, lambda s: f(s, 0.4), "exp(x/0.4)", 1.0, c2, 0.4)
        assert torch.allclose(stable, generic, rtol=1e-12, atol=1e-15)
        assert float(torch.diagonal(stable[:, :7]).abs().max()) == 0.0


def test_infonce_weights_are_a_softmax_over_the_negatives():
    """φ = log(1+x), ψ = e^{x/τ}: α_ij = (1/τ) e^{Δ_ij/τ} / (1 + Σ_k e^{Δ_ik/τ})."""
    U, V = _pts(7, 5, 3)
    tau = 0.3
    alpha = A.alpha_weights(U, V, "log(1+x)", "exp(x/tau)", 1.0, 0.0, tau)[:, :5]
    delta = A.distance_differences(U, V)[:, :5]
    e = torch.exp(delta / tau) * (1 - torch.eye(5, dtype=torch.float64))
    want = e / (1 + e.sum(-1, keepdim=True)) / tau
    assert torch.allclose(alpha, want, rtol=1e-13, atol=0)


def test_energy_is_half_the_trace_of_the_contrastive_covariance():
    U, V = _pts(8, 6, 4, unit=False)
    for c2 in (0.0, 0.7):
        alpha = A.alpha_weights(U, V, "log(1+x)", "exp(x)", 1.0, c2, 1.0)
        C = A.contrastive_covariance(U, V, alpha)
        assert torch.allclose(C, C.T, atol=1e-14)
        assert float(A.alpha_energy(U, V, alpha)) == pytest.approx(0.5 * float(torch.trace(C)), rel=1e-12)


def test_contrastive_covariance_of_a_linear_map():
    """C_α[W X] = W C_α[X] Wᵀ, so E_α(W) = ½ tr(W C_α[X] Wᵀ) (the PCA form of Tian §4)."""
    g = torch.Generator().manual_seed(9)
    X = torch.randn(5, 6, generator=g, dtype=torch.float64)
    Xp = X + 0.3 * torch.randn(5, 6, generator=g, dtype=torch.float64)
    W = torch.randn(3, 6, generator=g, dtype=torch.float64)
    alpha = A.alpha_direct(X, Xp, "exp", p=2, tau=2.0)
    C = A.contrastive_covariance(X, Xp, alpha)
    assert torch.allclose(A.contrastive_covariance(X @ W.T, Xp @ W.T, alpha), W @ C @ W.T, rtol=1e-12, atol=1e-12)
    want = 0.5 * float(torch.trace(W @ C @ W.T))
    assert float(A.alpha_energy(X @ W.T, Xp @ W.T, alpha)) == pytest.approx(want, rel=1e-12)


def test_cross_only_weights_accept_square_matrices():
    U, V = _pts(10, 4, 3)
    a = A.alpha_direct(U, V, "uniform")
    assert float(A.alpha_energy(U, V, a[:, :4])) == pytest.approx(float(A.alpha_energy(U, V, a)), rel=1e-14)
    with pytest.raises(ArgumentError, match="alpha: expected weights"):
        A.alpha_energy(U, V, a[:, :3])


@pytest.mark.parametrize("kind", A.ALPHA_DIRECT)
def test_alpha_direct_against_loop(kind):
    U, V = _pts(11, 4, 3)
    p, tau, eps = 4.0, 0.5, 0.01
    a = A.alpha_direct(U, V, kind, p=p, tau=tau, eps=eps, c1=1.0, c2=1.0)
    bank = torch.cat([V, U])
    for i in range(4):
        for j in range(8):
            if j % 4 == i:
                assert float(a[i, j]) == 0.0
                continue
            dist = float((U[i] - bank[j]).norm())
            want = {"exp": math.exp(-dist ** p / tau), "inverse": 1 / (eps + dist ** p), "uniform": 1.0}[kind]
            assert float(a[i, j]) == pytest.approx(want, rel=1e-12)


def test_alpha_direct_rejects_bad_arguments():
    U, V = _pts(12, 3, 2)
    with pytest.raises(ArgumentError, match="kind"):
        A.alpha_direct(U, V, "cubic")
    with pytest.raises(ArgumentError, match="p: "):
        A.alpha_direct(U, V, "exp", p=-1)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_loss_and_energy_are_rotation_invariant(seed):
    g = torch.Generator().manual_seed(seed)
    U, V = sphere.random_points(2, 5, 3, generator=g)
    Q = configurations.random_rotation(3, g)
    L = float(get_loss("alphacl")(U, V, c2=0.5))
    assert float(get_loss("alphacl")(U @ Q, V @ Q, c2=0.5)) == pytest.approx(L, rel=1e-12)
    a = A.alpha_weights(U, V, c2=0.5)
    assert torch.allclose(A.alpha_weights(U @ Q, V @ Q, c2=0.5), a, rtol=1e-10, atol=1e-13)


def test_verify_confirms_the_simplex_for_the_default_alpha_cl():
    rep = verify("alphacl", 4, 3, restarts=4)
    assert rep.verdict == "confirmed"
    M = 4
    want = M * math.log(1 + (M - 1) * math.exp(-2 * M / (M - 1)))  # τ = 1: M·log(1 + (M−1)e^{−2M/((M−1)τ)})
    assert rep.value == pytest.approx(want, rel=1e-12)


# ------------------------------------------------------------------------------- issue 11 item 17


@pytest.mark.parametrize("p,q,eps", [(2.0, 2.0, 0.05), (4.0, 0.5, 0.01), (1.0, 3.0, 0.1)])
def test_inverse_weights_with_an_exponent_against_loop(p, q, eps):
    """inverse (= the authors' poly) α = (ε + d^p)^(−q): exponents q ≠ 1 are expressible."""
    U, V = _pts(21, 4, 3)
    for kind in ("inverse", "poly"):
        a = A.alpha_direct(U, V, kind, p=p, eps=eps, q=q, c1=1.0, c2=1.0)
        bank = torch.cat([V, U])
        for i in range(4):
            for j in range(8):
                dist = math.sqrt(sum((float(U[i, k]) - float(bank[j, k])) ** 2 for k in range(3)))
                want = 0.0 if j % 4 == i else (eps + dist ** p) ** (-q)
                assert float(a[i, j]) == pytest.approx(want, rel=1e-12, abs=0)


def test_quadratic_is_the_quadratic_loss_weights():
    """quadratic (the authors' name) = uniform = the α of Tian's quadratic loss φ(x) = ψ(x) = x."""
    U, V = _pts(22, 5, 3)
    quad = A.alpha_direct(U, V, "quadratic", c1=1.0, c2=1.0)
    assert torch.equal(quad, A.alpha_direct(U, V, "uniform", c1=1.0, c2=1.0))
    from_loss = A.alpha_weights(U, V, phi="x", psi="x", c1=1.0, c2=1.0)
    assert torch.allclose(quad, from_loss, rtol=0, atol=1e-15)


def _tian_loop(U, V, alpha_type, e, tau_t, eps_t, q):
    """The authors' construction, written from their parameters: r = 1 − u·w on unit vectors (cross view)."""
    M = len(U)
    out = torch.zeros(M, M, dtype=torch.float64)
    for i in range(M):
        for j in range(M):
            if i == j:
                continue
            r = 1.0 - sum(float(U[i, k]) * float(V[j, k]) for k in range(U.shape[1]))
            r = max(r, 0.0)
            out[i, j] = {"exp": math.exp(-(r ** e) / tau_t), "poly": (eps_t + r ** e) ** (-q),
                         "quadratic": 1.0}[alpha_type]
    return out


@pytest.mark.parametrize("alpha_type", ["exp", "poly", "quadratic"])
@pytest.mark.parametrize("e,tau_t,eps_t,q", [(1.0, 0.5, 0.01, 1.0), (2.0, 0.2, 1e-3, 1.0),
                                             (0.5, 1.0, 0.1, 2.0)])
def test_tian_parameters_map_to_alpha_direct(alpha_type, e, tau_t, eps_t, q):
    """tian_alpha (base r = 1 − s, exponent e, τ_T, ε_T) equals the authors' formula computed in a loop."""
    U, V = _pts(23, 5, 4)
    got = A.tian_alpha(U, V, alpha_type, alpha_exponent=e, temperature=tau_t, alpha_eps=eps_t, inverse_exponent=q)
    want = _tian_loop(U, V, alpha_type, e, tau_t, eps_t, q)
    assert torch.allclose(got[:, :5], want, rtol=1e-12, atol=1e-300)
    assert float(got[:, 5:].abs().max()) == 0.0  # c2 = 0: no same-view weights


def test_tau_mapping_is_two_to_the_half_p_by_sympy():
    """exp(−r^e/τ_T) with r = d²/2 is exp(−d^p/τ) with p = 2e and τ = 2^{p/2} τ_T (sympy, d, e, τ_T > 0)."""
    import sympy as sp

    d, e, tau_t = sp.symbols("d e tau_T", positive=True)
    p = 2 * e
    lhs = ((d ** 2 / 2) ** e) / tau_t
    rhs = d ** p / (2 ** (p / 2) * tau_t)
    assert sp.simplify(sp.powsimp(sp.expand_power_base(lhs - rhs, force=True), force=True)) == 0
    # and InfoNCE: ψ = exp(x/τ_T) on r_i − r_ij = (d_i² − d_ij²)/2 is alphacl's exp(x/τ) at τ = 2 τ_T
    U, V = _pts(24, 4, 3)
    tau_t_val = 0.3
    tian = sum(math.log(1 + sum(math.exp(((1 - float(U[i] @ V[i])) - (1 - float(U[i] @ V[j]))) / tau_t_val)
                                for j in range(4) if j != i)) for i in range(4))
    assert float(get_loss("alphacl")(U, V, tau=2 * tau_t_val)) == pytest.approx(tian, rel=1e-13)
