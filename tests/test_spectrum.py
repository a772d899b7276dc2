"""Matrix-free Hessian certificate (hemtools.spectrum) against the dense eigendecomposition.

Agreement on every cell where both run: the smallest eigenvalue to 1e-8 of the spectrum's scale (at a
minimum it is one of the orbit's zeros, ~1e-16, so a relative comparison of two round-off numbers would be
meaningless), the gap to 1e-8 relative, the same zero count, the same check outcomes and the same verdict.
"""

import math

import pytest
import torch

from hemtools import checks, configurations, spectrum, sphere
from hemtools.losses import get_loss
from hemtools.losses.registry import batched
from hemtools.tolerances import tolerances

TOLS = tolerances(torch.float64)
SPEC_LOSSES = ["infonce", "simclr", "nt_xent", "dcl", "dhel", "kcl"]


def _both(f, x):
    dense = checks.hessian_spectrum(f, x, TOLS.zero_eig_factor, TOLS.eps, eigensolver="dense")
    mf = checks.hessian_spectrum(f, x, TOLS.zero_eig_factor, TOLS.eps, eigensolver="matrix-free")
    return dense, mf


def assert_agree(dense, mf):
    assert dense.matrix_free is None and mf.matrix_free is not None
    assert mf.matrix_free["converged"]
    scale = max(abs(dense.max_eigenvalue), abs(dense.min_eigenvalue))
    assert abs(mf.min_eigenvalue - dense.min_eigenvalue) <= 1e-8 * scale, (mf.min_eigenvalue, dense.min_eigenvalue)
    assert mf.zero_count == dense.zero_count and mf.orbit_dimension == dense.orbit_dimension
    if math.isfinite(dense.gap):
        assert abs(mf.gap - dense.gap) <= 1e-8 * abs(dense.gap), (mf.gap, dense.gap)
    assert abs(mf.threshold - dense.threshold) <= 1e-6 * dense.threshold
    for a, b in zip(checks.check_hessian(dense), checks.check_hessian(mf), strict=True):
        assert a.passed == b.passed, (a, b)
    # the measured residuals of the Ritz pairs are at round-off of the spectrum's scale
    assert max(mf.matrix_free["residual_norms"]) <= 1e-10 * scale


def _simplex_pairs(M, d):
    x = configurations.regular_simplex(M, d)
    return torch.cat([x, x])


@pytest.mark.parametrize("loss", SPEC_LOSSES)
@pytest.mark.parametrize("M,d", [(5, 4), (9, 8), (5, 8)])
def test_matrix_free_agrees_with_dense_at_the_simplex(loss, M, d):
    """Every SPEC loss at the exact aligned simplex, M = d+1 and M < d+1 (rank M−1 < d: partial orbit)."""
    spec = get_loss(loss)
    f = spec.objective(M, spec.resolve_params({}))
    assert_agree(*_both(f, _simplex_pairs(M, d)))


@pytest.mark.slow
@pytest.mark.parametrize("loss", SPEC_LOSSES)
@pytest.mark.parametrize("M,d", [(3, 4), (17, 16), (9, 16), (33, 32), (20, 32)])
def test_matrix_free_agrees_with_dense_at_the_simplex_larger(loss, M, d):
    spec = get_loss(loss)
    f = spec.objective(M, spec.resolve_params({}))
    assert_agree(*_both(f, _simplex_pairs(M, d)))


def _verify_both(loss, M, d, **kw):
    r = checks.verify(loss, M, d, eigensolver="dense", **kw)
    r2 = checks.verify(loss, M, d, eigensolver="matrix-free", **kw)
    assert_agree(r.hessian, r2.hessian)
    assert r.verdict == r2.verdict and r.hessian.where == r2.hessian.where
    assert "matrix-free" in r2.to_dict()["hessian"]["eigensolver"]
    return r, r2


@pytest.mark.parametrize("loss,M,d", [("kcl", 8, 4), ("dhel", 4, 8)])
def test_verdicts_agree_through_verify(loss, M, d):
    """One M > d+1 cell (the best restart, not a constructed target) and one M < d+1 cell, end to end."""
    r, _ = _verify_both(loss, M, d, restarts=4)
    assert r.verdict == "confirmed"


@pytest.mark.slow
@pytest.mark.parametrize("loss,M,d", [("infonce", 8, 3), ("kcl", 12, 3), ("simclr", 10, 4), ("kcl", 17, 16),
                                      ("nt_xent", 33, 32)])
def test_verdicts_agree_through_verify_slow(loss, M, d):
    _verify_both(loss, M, d, restarts=4)


@batched
def kcl_wrong_sign(U, V, t=2.0, gamma=16.0):
    """KCL with the sign of the uniformity term flipped: the simplex is still critical (by symmetry) but a saddle."""
    M = U.shape[-2]
    align = torch.exp(-t * (2 - 2 * (U * V).sum(-1))).mean(-1)
    K = torch.exp(-t * (2 - 2 * U @ U.transpose(-1, -2)))
    return -align - gamma / (M * (M - 1)) * (K.sum((-2, -1)) - torch.diagonal(K, dim1=-2, dim2=-1).sum(-1))


def test_wrong_sign_saddle_found_by_both():
    """Negative control: at the exact simplex the wrong-sign loss has negative curvature; both paths see it."""
    spec = get_loss(kcl_wrong_sign)
    f = spec.objective(5, spec.resolve_params({}))
    dense, mf = _both(f, _simplex_pairs(5, 4))
    assert dense.min_eigenvalue < -1e-3
    assert_agree(dense, mf)
    psd, _ = checks.check_hessian(mf)
    assert psd.passed is False


def test_orbit_projector_is_an_orthogonal_projection_of_the_right_dimension():
    gen = torch.Generator().manual_seed(3)
    for n, d, r in [(6, 4, None), (10, 8, None), (4, 8, None)]:
        x = sphere.random_points(1, n, d, generator=gen)[0]
        P = spectrum.OrbitProjector(x, r)
        assert P.dimension == sphere.orbit_dimension(d, min(n, d))
        # matrix of the projection on R^{n d}: symmetric, idempotent, trace = orbit dimension
        E = torch.eye(n * d, dtype=torch.float64).reshape(-1, n, d)
        Pm = torch.stack([P(e) for e in E]).reshape(n * d, n * d)
        assert torch.allclose(Pm, Pm.T, atol=1e-12)
        assert torch.allclose(Pm @ Pm, Pm, atol=1e-12)
        assert abs(float(torch.trace(Pm)) - P.dimension) < 1e-9
        # range = the generators x(E_ab − E_ba) (loop reference)
        gens = []
        for a in range(d):
            for b in range(a + 1, d):
                A = torch.zeros(d, d, dtype=torch.float64)
                A[a, b], A[b, a] = 1.0, -1.0
                gens.append((x @ A).reshape(-1))
        Gm = torch.stack(gens, 1)
        assert torch.allclose(Pm @ Gm, Gm, atol=1e-11)
        assert int(torch.linalg.matrix_rank(Gm)) == P.dimension


def test_projector_on_a_rank_deficient_configuration():
    """The simplex of 4 points in R^8 spans 3 dimensions: orbit dimension 28 − 10 = 18."""
    x = configurations.regular_simplex(4, 8)
    P = spectrum.OrbitProjector(x)
    assert P.rank == 3 and P.dimension == sphere.orbit_dimension(8, 3) == 18
    gen = torch.Generator().manual_seed(0)
    v = P.random(3, gen)
    assert torch.allclose(P(v[0]), v[0], atol=1e-13)
    assert float((x * v[0]).sum(-1).abs().max()) < 1e-14  # orbit vectors are tangent
    # the thin form of the projection (span of rank 3 only) against the eigenbasis formula x Q Ã Qᵀ, and
    # its matrix: symmetric, idempotent, trace = orbit dimension
    w = torch.randn(4, 8, generator=gen, dtype=torch.float64)
    assert torch.allclose(P(w), (P.XQ @ P.coefficients(w)) @ P.Q.T, rtol=0, atol=1e-13)
    E = torch.eye(32, dtype=torch.float64).reshape(-1, 4, 8)
    Pm = torch.stack([P(e) for e in E]).reshape(32, 32)
    assert torch.allclose(Pm, Pm.T, atol=1e-13) and torch.allclose(Pm @ Pm, Pm, atol=1e-13)
    assert abs(float(torch.trace(Pm)) - 18) < 1e-10
    # the projection of a vector with no orbit component is round-off, but still an orbit vector: normalised,
    # it is its own projection (the orbit residual's power iteration normalises such vectors)
    c = w - P(w)
    y = P(c)
    y = y / y.norm()
    assert float((P(y) - y).norm()) < 1e-10


@pytest.mark.parametrize("loss,params,extra_zeros", [("infonce", {"tau": 0.05}, 0), ("infonce", {"tau": 0.02}, 0),
                                                     ("kcl", {"kernel": "riesz", "s": -2.0}, 5)])
def test_flat_and_degenerate_landscapes_agree(loss, params, extra_zeros):
    """InfoNCE at τ = 0.05 (gap 5.6e-10, SPEC §3) and τ = 0.02 (gap ~7e-26, still resolved relative to the
    spectrum), and Riesz s = −2, whose minimisers are not unique: extra zero eigenvalues beyond the orbit,
    counted by both paths (the matrix-free one from the deflated operator's own zeros)."""
    spec = get_loss(loss)
    f = spec.objective(5, spec.resolve_params(params))
    dense, mf = _both(f, _simplex_pairs(5, 4))
    assert_agree(dense, mf)
    assert dense.zero_count == dense.orbit_dimension + extra_zeros


@batched
def kcl_pdist(U, V, t=2.0, gamma=16.0):
    """KCL written with torch.pdist, as the authors do: autograd has no second derivative for it."""
    M = U.shape[-2]
    align = torch.exp(-t * (U - V).pow(2).sum(-1)).mean(-1)
    unif = torch.stack([torch.exp(-t * torch.pdist(u).pow(2)).sum() for u in U])
    return -align + gamma * 2 * unif / (M * (M - 1))


def test_difference_hessian_paths_agree_without_autograd_second_derivative():
    """A loss without a second derivative: both eigensolvers run on central differences of the gradient
    (derivatives.difference_hessian / difference_operator) and still agree with each other."""
    spec = get_loss(kcl_pdist)
    f = spec.objective(5, spec.resolve_params({}))
    dense, mf = _both(f, _simplex_pairs(5, 4))
    assert dense.method == mf.method == "differences", (dense.method, mf.method)
    assert mf.step == dense.step and 0 < mf.error < 1e-6
    assert mf.zero_count == dense.zero_count == dense.orbit_dimension
    assert abs(mf.gap - dense.gap) <= 1e-6 * abs(dense.gap), (mf.gap, dense.gap)
    assert all(a.passed == b.passed for a, b in zip(checks.check_hessian(dense), checks.check_hessian(mf), strict=True))
