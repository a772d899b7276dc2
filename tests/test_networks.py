"""hemtools.networks: deep linear gradients vs autograd and the closed form, the max player's fixed points,
the ReLU network's gated covariance, bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hemtools import networks as N
from hemtools.losses.alphacl import alpha_energy, alpha_weights, contrastive_covariance


def _data(M=12, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(M, n, generator=g, dtype=torch.float64) * torch.linspace(2, 0.5, n, dtype=torch.float64)
    Xp = X + 0.3 * torch.randn(M, n, generator=g, dtype=torch.float64)
    return X, Xp, alpha_weights(X, Xp, tau=2.0), g


@pytest.mark.parametrize("dims", [(5, 4, 3), (5, 3, 4, 2), (5, 6, 6, 6, 1)])
def test_deep_linear_gradient_matches_autograd_of_the_output_energy(dims):
    X, Xp, alpha, g = _data()
    C = contrastive_covariance(X, Xp, alpha)
    Ws = [w.requires_grad_(True) for w in N.random_layers(dims, generator=g)]
    # independent route: SPEC's E_α of the network outputs, differentiated by autograd
    E = alpha_energy(N.deep_linear_forward(Ws, X), N.deep_linear_forward(Ws, Xp), alpha)
    auto = torch.autograd.grad(E, Ws)
    closed = N.deep_linear_gradient([w.detach() for w in Ws], C)
    for a, c in zip(auto, closed, strict=True):
        assert torch.allclose(a, c, rtol=1e-11, atol=1e-12 * float(a.abs().max()))
    e = float(E.detach())
    assert abs(e - float(N.deep_linear_energy([w.detach() for w in Ws], C))) <= 1e-12 * max(1, abs(e))


def test_deep_linear_gradient_closed_form_entrywise_for_a_nonsymmetric_C():
    # ∂/∂W_l ½ tr(W C Wᵀ) = ½ A_lᵀ W (C + Cᵀ) B_lᵀ, checked against autograd for a non-symmetric C
    g = torch.Generator().manual_seed(3)
    C = torch.randn(4, 4, generator=g, dtype=torch.float64)
    Ws = [w.requires_grad_(True) for w in N.random_layers((4, 3, 2), generator=g)]
    auto = torch.autograd.grad(N.deep_linear_energy(Ws, C), Ws)
    for a, c in zip(auto, N.deep_linear_gradient([w.detach() for w in Ws], C), strict=True):
        assert torch.allclose(a, c, rtol=1e-12, atol=1e-14)


def test_max_player_batched_matches_single_restarts_and_reaches_pca():
    X, Xp, alpha, g = _data(M=16, n=6, seed=1)
    C = contrastive_covariance(X, Xp, alpha)
    r = N.max_player(C, (6, 4, 3), restarts=6, generator=g)
    assert bool(r.converged.all())
    lam = torch.linalg.eigvalsh(C)
    assert torch.allclose(r.values, torch.full_like(r.values, 0.5 * float(lam[-1])), rtol=1e-10)
    assert float(r.alignment.min()) > 0.999999
    assert r.ranks.tolist() == [1] * 6
    # the first restart alone from the same start gives the same point
    start = N.random_layers((6, 4, 3), 6, generator=torch.Generator().manual_seed(9))
    one = N.max_player(C, (6, 4, 3), weights=[w[:1] for w in start])
    both = N.max_player(C, (6, 4, 3), weights=start)
    assert torch.allclose(one.values, both.values[:1], rtol=1e-12)


def test_relu_gated_covariance_gives_the_energy_and_the_gradient():
    X, Xp, alpha, g = _data(M=10, n=4, seed=2)
    W1 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    Cs = N.gated_covariances(W1, X, Xp, alpha)
    E = float(N.relu_energy(W1, X, Xp, alpha))
    assert abs(E - 0.5 * float(torch.einsum("ka,kab,kb->", W1, Cs, W1))) <= 1e-12 * max(1, abs(E))
    W = W1.clone().requires_grad_(True)
    (G,) = torch.autograd.grad(N.relu_energy(W, X, Xp, alpha), W)
    assert torch.allclose(G, torch.einsum("kab,kb->ka", Cs, W1), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("call, name", [
    (lambda C: N.max_player(C, (4, 3)), "dims"),
    (lambda C: N.max_player(C, (5, 3, 2)), "C"),
    (lambda C: N.max_player(C[:, :3], (4, 3, 2)), "C"),
    (lambda C: N.max_player(C.masked_fill(torch.eye(4, dtype=torch.bool), float("nan")), (4, 3, 2)), "C"),
    (lambda C: N.max_player(C, (4, 3, 2), restarts=0), "restarts"),
    (lambda C: N.max_player(C, (4, 3, 2), lr=-1.0), "lr"),
    (lambda C: N.max_player(C, (4, 0, 2)), "dims"),
    (lambda C: N.relu_fixed_point(torch.ones(5, 4), torch.ones(4, 4), torch.ones(5, 5), 2), "Xp"),
    (lambda C: N.relu_fixed_point(torch.ones(5, 4), torch.ones(5, 4), torch.ones(5, 3), 2), "alpha"),
    (lambda C: N.relu_fixed_point(torch.full((5, 4), float("nan")), torch.ones(5, 4), torch.ones(5, 5), 2), "X"),
    (lambda C: N.relu_fixed_point(torch.ones(5, 4), torch.ones(5, 4), torch.ones(5, 5), 0), "hidden"),
])
def test_bad_input_is_a_value_error_naming_the_argument(call, name):
    C = torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match=f"^{name}:"):
        call(C)



@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_max_player_is_rotation_equivariant(seed):
    # rotating the inputs (C → Q C Qᵀ, W₁ → W₁ Qᵀ) rotates the whole trajectory: same values, same ranks,
    # first layer rotated — a symmetry the closed-form gradient must respect
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(5, 5, generator=g, dtype=torch.float64)
    C = A @ A.T
    Q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
    W = N.random_layers((5, 3, 2), 2, generator=g)
    r1 = N.max_player(C, (5, 3, 2), weights=W, max_steps=50)
    r2 = N.max_player(Q @ C @ Q.T, (5, 3, 2), weights=[W[0] @ Q.T, W[1]], max_steps=50)
    assert torch.allclose(r1.values, r2.values, rtol=1e-10)
    assert torch.allclose(r1.weights[0] @ Q.T, r2.weights[0], atol=1e-10)
    assert torch.allclose(r1.weights[1], r2.weights[1], atol=1e-10)
