"""hemtools.metrics against independent references: closed forms, scipy quadrature, loops, Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from hemtools import metrics as mt
from hemtools.configurations import random_rotation, regular_simplex
from hemtools.errors import ArgumentError

EPS = np.finfo(np.float64).eps


def uniform_points(M, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def clustered_points(M, d, seed, spread=0.3):
    """Points around two antipodal poles: far from uniform (W1 of order 0.1–0.5)."""
    g = torch.Generator().manual_seed(seed)
    pole = torch.zeros(d, dtype=torch.float64)
    pole[0] = 1.0
    sign = torch.where(torch.rand(M, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    x = sign[:, None] * pole + spread * torch.randn(M, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def pairs_of(U):
    M = U.shape[0]
    iu = np.triu_indices(M, 1)
    return np.clip((U @ U.T).numpy()[iu], -1, 1)


# --------------------------------------------------------------------------------------------------------
# the law of x·y under the uniform measure


@pytest.mark.parametrize("d", [2, 3])
def test_cdf_closed_forms(d):
    s = np.linspace(-1, 1, 2001)
    ref = 0.5 + np.arcsin(s) / math.pi if d == 2 else (1 + s) / 2  # arcsine law; Archimedes
    # betainc in float64: a few ulps
    assert np.max(np.abs(mt.uniform_inner_product_cdf(s, d) - ref)) <= 8 * EPS


@pytest.mark.parametrize("d", [2, 4, 5, 16, 128])
def test_cdf_matches_quadrature_of_the_density(d):
    # independent route: integrate (1 − t²)^{(d−3)/2} with scipy.quad and normalise by its total
    w = 0.5 * (d - 3)
    total = integrate.quad(lambda t: 1.0, -1, 1, weight="alg", wvar=(w, w))[0]
    for s in [-0.9, -0.3, -0.05, 0.0, 0.02, 0.2, 0.7, 0.99]:
        # the 'alg' weight on [-1, s] is (t+1)^w (s−t)^0: multiply the missing (1−t)^w back in
        part = integrate.quad(lambda t: (1 - t) ** w, -1, s, weight="alg", wvar=(w, 0.0), limit=200)[0]
        # quad's own error estimate is ~1e-13 here; allow 1e-11
        assert mt.uniform_inner_product_cdf(s, d) == pytest.approx(part / total, abs=1e-11)


@pytest.mark.parametrize("d", [2, 3, 7, 128])
def test_antiderivative_and_quantile(d):
    for s in [-0.8, -0.1, 0.0, 0.4, 0.95]:
        ref = integrate.quad(lambda t: float(mt.uniform_inner_product_cdf(t, d)), -1, s, limit=200,
                             epsabs=1e-14, epsrel=1e-13)[0]
        assert mt.uniform_inner_product_antiderivative(s, d) == pytest.approx(ref, abs=1e-12)
    assert mt.uniform_inner_product_antiderivative(1.0, d) == pytest.approx(1.0, abs=4 * EPS)  # ∫F = 1 − E[s]
    p = np.linspace(0.01, 0.99, 25)
    assert np.max(np.abs(mt.uniform_inner_product_cdf(mt.uniform_inner_product_quantile(p, d), d) - p)) < 1e-13
    pdf_total = integrate.quad(lambda t: float(mt.uniform_inner_product_pdf(t, d)), -1, 1, limit=200)[0]
    assert pdf_total == pytest.approx(1.0, abs=1e-8)


# --------------------------------------------------------------------------------------------------------
# W1: exact paths against independent references


def w1_by_quadrature(x, d):
    """∫|F_emp − F| with scipy.quad between consecutive data points (no antiderivative, no inverse CDF);
    returns (value, quad's summed error estimate)."""
    x = np.sort(x)
    n = x.size
    e = np.concatenate([[-1.0], x, [1.0]])
    total = err = 0.0
    for k in range(n + 1):
        a, b = e[k], e[k + 1]
        if b > a:
            v, ve = integrate.quad(lambda s, k=k: abs(k / n - float(mt.uniform_inner_product_cdf(s, d))), a, b,
                                   limit=200, epsabs=1e-15)
            total, err = total + v, err + ve
    return total, err


@pytest.mark.parametrize("d", [2, 3, 16, 128])
def test_w1_sorted_equals_quadrature(d):
    U = uniform_points(9, d, seed=d)
    ref, err = w1_by_quadrature(pairs_of(U), d)
    # quad's own error estimate (~1e-12 for d = 2, whose F has a square-root singularity at ±1; ~1e-15
    # otherwise) plus round-off of the 37 interval sums
    assert mt.w1_uniform(U).value == pytest.approx(ref, abs=err + 1e-14)


def test_w1_of_the_simplex_closed_form():
    # all M(M−1)/2 inner products equal c = −1/(M−1): W1 = ∫_{−1}^{c} F + ∫_{c}^{1} (1 − F)
    #                                                      = G(c) + (1 − c) − (G(1) − G(c))
    for M, d in [(4, 3), (8, 16), (17, 16)]:
        c = -1.0 / (M - 1)

        def G(s, d=d):
            return float(mt.uniform_inner_product_antiderivative(s, d))

        ref = G(c) + (1 - c) - (G(1.0) - G(c))
        got = mt.w1_uniform(regular_simplex(M, d)).value
        assert got == pytest.approx(ref, abs=1e-14)


@pytest.mark.parametrize("d", [2, 3, 4, 16, 128])
@pytest.mark.parametrize("kind", ["uniform", "clustered"])
def test_histogram_bracket_contains_the_exact_value(d, kind):
    U = (uniform_points if kind == "uniform" else clustered_points)(900, d, seed=3 * d)
    exact = mt.w1_uniform(U, method="sorted").value
    # the exact value is computed with F and G in float64: both routes carry ~1e-14 of round-off
    slack = 1e-13
    coarse = mt.w1_uniform(U, method="histogram", refine=False)
    assert coarse.lower - slack <= exact <= coarse.upper + slack
    fine = mt.w1_uniform(U, method="histogram", rtol=0.0)
    assert fine.refine >= 2
    assert fine.lower - slack <= exact <= fine.upper + slack
    assert abs(fine.value - exact) <= fine.error_bound + slack
    # refinement shrinks the bracket (it splits every crossing bin into R sub-bins)
    assert fine.error_bound <= coarse.error_bound
    assert fine.error_bound <= 1e-6 * exact


def test_histogram_with_coarse_bins_still_brackets():
    U = clustered_points(700, 5, seed=1)
    exact = mt.w1_uniform(U, method="sorted").value
    for bins in (64, 1024):
        r = mt.w1_uniform(U, method="histogram", bins=bins, refine=False)
        assert r.lower - 1e-13 <= exact <= r.upper + 1e-13
        r = mt.w1_uniform(U, method="histogram", bins=bins, rtol=0.0)
        assert r.lower - 1e-13 <= exact <= r.upper + 1e-13


@pytest.mark.parametrize("d", [2, 3, 16, 128])
def test_w1_equals_monte_carlo_within_its_error(d):
    """W1 against a Monte Carlo estimate that never uses F: N samples of x·y for uniform x, y (2·Beta − 1
    with numpy's sampler), W1 between the two empirical laws by sorting (scipy.stats.wasserstein_distance).

    Error of the estimate: |W1(P, Q_N) − W1(P, Q)| ≤ W1(Q_N, Q) (triangle inequality), whose mean is at most
    B_N = ∫ sqrt(F(1−F)/N) ds (Jensen on E|F_N − F|).  Its spread is measured from R replications; the test
    allows B_N plus 5 standard errors of their mean."""
    for U in (uniform_points(400, d, seed=11), clustered_points(400, d, seed=12)):
        x = pairs_of(U)
        exact = mt.w1_uniform(U).value
        N, R = 400_000, 8
        rng = np.random.default_rng(1000 + d)
        m = 0.5 * (d - 1)
        est = np.array([stats.wasserstein_distance(x, 2.0 * rng.beta(m, m, size=N) - 1.0) for _ in range(R)])
        s = np.linspace(-1, 1, 20001)
        F = mt.uniform_inner_product_cdf(s, d)
        bias = np.trapezoid(np.sqrt(F * (1 - F) / N), s)
        se = est.std(ddof=1) / math.sqrt(R)
        assert abs(est.mean() - exact) <= bias + 5 * se, (d, exact, est.mean(), bias, se)


def test_w1_iid_uniform_20000_points_d16_below_1e3():
    U = uniform_points(20000, 16, seed=7)
    # the level-1 bracket's upper end is a rigorous upper bound: no refinement needed to show W1 <= 1e-3
    r = mt.w1_uniform(U, refine=False)
    assert r.method == "histogram"
    assert r.upper <= 1e-3, r


def test_w1_small_cases_and_validation():
    U = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # one pair, x·y = 0 (the median, d = 2)
    r = mt.w1_uniform(U)
    ref, err = w1_by_quadrature(np.array([0.0]), 2)
    assert r.value == pytest.approx(ref, abs=err + 1e-14) and r.n_pairs == 1
    with pytest.raises(ArgumentError, match="unit norm"):
        mt.w1_uniform(2 * U)
    with pytest.raises(ArgumentError, match="method"):
        mt.w1_uniform(U, method="magic")
    with pytest.raises(ArgumentError, match="bins"):
        mt.w1_uniform(U, method="histogram", bins=1000)


# --------------------------------------------------------------------------------------------------------
# uniformity, effective rank, alignment against loops


def loop_uniformity(U, t=2.0):
    U = U.tolist()
    terms = []
    for i in range(len(U)):
        for j in range(i + 1, len(U)):
            sq = sum((a - b) ** 2 for a, b in zip(U[i], U[j], strict=True))
            terms.append(-t * sq)
    top = max(terms)
    return top + math.log(sum(math.exp(v - top) for v in terms) / len(terms))


def loop_effective_rank(X):
    s = np.linalg.svd(np.asarray(X), compute_uv=False)
    total = sum(s)
    h = 0.0
    for v in s:
        p = v / total
        if p > 0:
            h -= p * math.log(p)
    return math.exp(h)


def test_uniformity_and_effective_rank_equal_loop_references():
    U = clustered_points(60, 5, seed=2)
    m = mt.metrics(U)
    assert m.uniformity == pytest.approx(loop_uniformity(U), abs=1e-13)
    assert m.effective_rank == pytest.approx(loop_effective_rank(U), abs=1e-12)
    assert m.uniformity_error == 0.0 and m.w1.method == "sorted"


def test_uniformity_from_the_histogram_within_its_bound():
    U = clustered_points(1600, 8, seed=5)  # 1.28e6 pairs: the histogram path
    m = mt.metrics(U)
    assert m.w1.method == "histogram"
    x = pairs_of(U)
    direct = float(np.log(np.mean(np.exp(4.0 * (x - 1.0)))))  # e^{4(x−1)} ∈ [e^{−8}, 1]: no overflow
    # stated binning bound plus round-off of a sum of 1.3e6 terms (pairwise summation: ~1e-13)
    assert abs(m.uniformity - direct) <= m.uniformity_error + 1e-12
    assert m.uniformity_error < 1e-10
    assert m.min_inner_product == pytest.approx(x.min(), abs=4 * EPS)
    assert m.max_inner_product == pytest.approx(x.max(), abs=4 * EPS)
    assert m.mean_inner_product == pytest.approx(x.mean(), abs=1e-12)
    assert sum(m.histogram["counts"]) == x.size


def test_effective_rank_extremes():
    e = torch.eye(6, dtype=torch.float64)
    assert mt.effective_rank(e) == pytest.approx(6.0, rel=1e-14)
    one = torch.ones(5, 1, dtype=torch.float64) @ torch.tensor([[0.6, 0.8]], dtype=torch.float64)
    assert mt.effective_rank(one) == pytest.approx(1.0, abs=1e-6)  # rank one up to round-off


def test_alignment_equals_loop():
    U = uniform_points(30, 4, seed=1)
    V = uniform_points(30, 4, seed=2)
    pairs = zip(U.tolist(), V.tolist(), strict=True)
    ref = sum(sum((a - b) ** 2 for a, b in zip(u, v, strict=True)) for u, v in pairs) / 30
    assert mt.alignment(U, V) == pytest.approx(ref, abs=1e-14)
    assert mt.metrics(U, V).alignment == pytest.approx(ref, abs=1e-14)
    with pytest.raises(ArgumentError, match="shape"):
        mt.metrics(U, V[:10])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 6), M=st.integers(3, 40))
def test_metrics_invariant_under_rotation_and_permutation(seed, d, M):
    U = uniform_points(M, d, seed)
    g = torch.Generator().manual_seed(seed + 1)
    Q = random_rotation(d, g)
    perm = torch.randperm(M, generator=g)
    a, b = mt.metrics(U), mt.metrics((U @ Q)[perm])
    # rotations change the inner products by round-off (~d eps), which moves W1 by at most as much
    assert b.w1.value == pytest.approx(a.w1.value, abs=1e-13)
    assert b.uniformity == pytest.approx(a.uniformity, abs=1e-13)
    assert b.effective_rank == pytest.approx(a.effective_rank, abs=1e-11)
    V = uniform_points(M, d, seed + 2)
    assert mt.alignment(U @ Q, V @ Q) == pytest.approx(mt.alignment(U, V), abs=1e-13)


def test_validation_messages():
    with pytest.raises(ArgumentError, match="2-D"):
        mt.metrics(np.ones(5))
    bad = uniform_points(5, 3, 0).clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ArgumentError, match=r"NaN or inf \(first: \[2\]\)"):
        mt.metrics(bad)
    with pytest.raises(ArgumentError, match="zero"):
        mt.as_points(torch.zeros(3, 3), normalize=True)
    with pytest.raises(ArgumentError, match="at least 2 rows"):
        mt.metrics(uniform_points(1, 3, 0))
    d = mt.metrics(uniform_points(10, 3, 0), uniform_points(10, 3, 1)).to_dict()
    import json

    json.dumps(d, allow_nan=False)  # JSON-able as it stands
    assert {"alignment", "uniformity", "effective_rank", "w1", "w1_error_bound", "histogram"} <= set(d)


def test_metrics_refines_w1_only_above_its_absolute_tolerance():
    """metrics() refines W1 (a second pass) only while the rigorous half-width exceeds max(rtol·W1, atol).
    With the default atol (W1_ATOL = 1e-6) and with atol = 0 the bracket contains the exact (sorted)
    value; coarse level-1 bins make the first bracket wider or narrower than 1e-6, which decides whether
    the default refines."""
    U = uniform_points(1500, 6, seed=4)  # 1.12e6 pairs: the histogram path; W1 ≈ 3.4e-4
    exact = mt.w1_uniform(U, method="sorted").value
    slack = 1e-13  # float64 round-off of F and G, as in the bracket tests above
    for bins, refines in ((1 << 16, False), (1 << 12, True)):
        first = mt.w1_uniform(U, bins=bins, refine=False)
        assert (first.error_bound > mt.W1_ATOL) == refines  # the premise of this case
        default = mt.metrics(U, bins=bins).w1
        full = mt.metrics(U, bins=bins, atol=0.0).w1
        assert (default.refine > 0) == refines and full.refine > default.refine
        for r in (default, full):
            assert r.method == "histogram" and r.lower - slack <= exact <= r.upper + slack
        assert default.error_bound <= mt.W1_ATOL and full.error_bound < default.error_bound
    with pytest.raises(ArgumentError, match="atol"):
        mt.metrics(U[:10], atol=-1.0)
