"""hemtools.gmm: LDA against a direct generalised eigenproblem (scipy.linalg.eigh(Sb, Sw)), the Fisher
subspace, ARI and k-means against references, the CLIP loss from the registered infonce, bad input."""

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hemtools import gmm as G
from hemtools.losses import get_loss


def _mixture(seed=0, k=4, D=12, n=1500):
    g = torch.Generator().manual_seed(seed)
    mix = G.make_gmm(k, D, generator=g)
    X, Xp, lab = G.sample_pairs(mix, n, noise=0.1, generator=g)
    return mix, X, Xp, lab, g


@pytest.mark.parametrize("seed", [0, 1])
def test_lda_subspace_matches_the_generalised_eigenproblem(seed):
    _, X, _, lab, _ = _mixture(seed)
    Sb, Sw = G.scatter_matrices(X, lab)
    # independent reference: loop over classes for the scatter matrices, then scipy's generalised eigensolver
    Xn, ln = X.numpy(), lab.numpy()
    m = Xn.mean(0)
    Sb_ref = sum((ln == c).sum() * np.outer(Xn[ln == c].mean(0) - m, Xn[ln == c].mean(0) - m) for c in range(4)) / len(
        ln
    )
    Sw_ref = sum(np.cov(Xn[ln == c].T, bias=True) * (ln == c).sum() for c in range(4)) / len(ln)
    assert np.allclose(Sb, Sb_ref, rtol=1e-10, atol=1e-12) and np.allclose(Sw, Sw_ref, rtol=1e-10, atol=1e-12)
    w, V = scipy.linalg.eigh(Sb_ref, Sw_ref)
    ref = V[:, ::-1][:, :3]
    ours = G.lda_directions(X, lab)
    assert np.degrees(scipy.linalg.subspace_angles(ours, ref).max()) < 1e-6
    assert np.allclose(ours.T @ Sw @ ours, np.eye(3), atol=1e-9)  # LDA's normalisation
    # each direction is a generalised eigenvector with the top eigenvalues
    lam = np.diag(ours.T @ Sb @ ours)
    assert np.allclose(lam, w[::-1][:3], rtol=1e-8)


def test_fisher_subspace_is_sigma_inverse_mean_differences_and_lda_converges_to_it():
    mix, X, _, lab, _ = _mixture(2, n=20000)
    F = G.fisher_subspace(mix)
    mu = mix.means.numpy()
    for c in range(mix.k):  # Σ⁻¹(μ_c − μ̄) lies in F
        v = np.linalg.solve(mix.cov.numpy(), mu[c] - mu.mean(0))
        assert np.linalg.norm(v - F @ (F.T @ v)) < 1e-10 * np.linalg.norm(v)
    assert np.degrees(G.principal_angles(G.lda_subspace(X, lab), F).max()) < 5.0
    # the construction: PCA's top directions are the label-free nuisance ones
    assert np.degrees(G.principal_angles(G.pca_subspace(X, 3), mix.nuisance.numpy()).max()) < 10.0


def test_make_gmm_covariance_is_non_isotropic_and_means_a_simplex():
    mix, *_ = _mixture(3)
    ev = torch.linalg.eigvalsh(mix.cov)
    assert float(ev.max()) == pytest.approx(25.0, rel=1e-10) and float(ev.min()) < 0.5
    d = torch.cdist(mix.means, mix.means)
    off = d[~torch.eye(4, dtype=torch.bool)]
    assert float(off.max() - off.min()) < 1e-12 and torch.allclose(
        mix.means.norm(dim=1), torch.full((4,), 3.0, dtype=torch.float64)
    )


def test_adjusted_rand_index_against_scikit_learn_and_kmeans_recovers_separated_clusters():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, 4, 50), rng.integers(0, 3, 50)
        assert G.adjusted_rand_index(a, b) == pytest.approx(sk.adjusted_rand_score(a, b), abs=1e-12)
    assert G.adjusted_rand_index([0, 0, 1, 1], [5, 5, 7, 7]) == 1.0
    Z = np.concatenate([rng.normal(c, 0.1, (30, 2)) for c in ((0, 0), (5, 0), (0, 5))])
    lab = np.repeat(np.arange(3), 30)
    assert G.cluster_ari(Z, lab, 3, generator=torch.Generator().manual_seed(0)) == 1.0


def test_clip_loss_is_the_registered_infonce_both_ways():
    g = torch.Generator().manual_seed(4)
    U = torch.nn.functional.normalize(torch.randn(6, 3, generator=g, dtype=torch.float64), dim=1)
    V = torch.nn.functional.normalize(torch.randn(6, 3, generator=g, dtype=torch.float64), dim=1)
    f = get_loss("infonce")
    ref = 0.5 * (f(U[None], V[None], tau=0.3) + f(V[None], U[None], tau=0.3)).sum()
    assert float(G.clip_loss(U, V, 0.3)) == pytest.approx(float(ref), rel=1e-14)
    # loop reference of one direction: −(1/M) Σ_i log softmax_j(u_i·v_j/τ)_i
    loop = -np.mean([float(torch.log_softmax(V @ U[i] / 0.3, 0)[i]) for i in range(6)])
    assert float(G.infonce_loss(U, V, 0.3)) == pytest.approx(loop, rel=1e-12)


def test_infonce_encoder_reads_the_fisher_subspace_not_pcas():
    mix, X, Xp, _, g = _mixture(5, D=10, n=3000)
    enc = G.train_infonce_encoder(X, Xp, 3, steps=200, batch=128, lr=0.05, generator=g)
    F = G.fisher_subspace(mix)
    assert np.degrees(G.principal_angles(enc.subspace(), F).max()) < 25.0
    assert np.degrees(G.principal_angles(enc.subspace(), mix.nuisance.numpy()).min()) > 60.0
    assert enc.losses[-1] < enc.losses[0]


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: G.make_gmm(1, 10), "k"),
        (lambda: G.make_gmm(4, 5), "D"),
        (lambda: G.make_gmm(3, 10, separation=-1.0), "separation"),
        (lambda: G.sample_pairs(G.make_gmm(3, 10), 10, noise=1.5), "noise"),
        (lambda: G.lda_directions(np.ones((5, 3)), np.zeros(5, dtype=int)), "labels"),
        (lambda: G.lda_directions(np.full((4, 2), np.nan), np.array([0, 0, 1, 1])), "X"),
        (lambda: G.lda_directions(np.ones((4, 2)), np.array([0, 1])), "labels"),
        (lambda: G.pca_subspace(np.ones((4, 2)), 3), "dim"),
        (lambda: G.principal_angles(np.ones(3), np.ones((3, 1))), "A"),
        (lambda: G.train_infonce_encoder(np.ones((4, 3)), np.ones((5, 3)), 2), "Xp"),
        (lambda: G.train_infonce_encoder(np.ones((4, 3)), np.ones((4, 3)), 0), "dim"),
        (lambda: G.train_clip_encoders(np.ones((4, 3)), np.ones((4, 2)), 2, tau=0.0), "tau"),
        (lambda: G.kmeans(np.ones((3, 2)), 4), "k"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_lda_is_affine_equivariant(seed):
    # x ↦ Aᵀx + b maps discriminant directions v ↦ A⁻¹v (LDA is invariant to invertible affine maps)
    _, X, _, lab, _ = _mixture(seed % 1000, D=10, n=400)
    g = np.random.default_rng(seed)
    A = g.normal(size=(10, 10)) + 3 * np.eye(10)
    Y = X.numpy() @ A + g.normal(size=10)
    ref = np.linalg.solve(A, G.lda_directions(X, lab))
    assert np.degrees(G.principal_angles(G.lda_directions(Y, lab), ref).max()) < 1e-6
