"""hemtools.conformal: the split-conformal threshold against its exact finite-sample guarantee, the exact
coverage interval, the learned norm, bad input."""

import math

import numpy as np
import pytest
import torch

from hemtools import conformal as cf


@pytest.mark.parametrize("n, level", [(9, 0.9), (10, 0.9), (19, 0.8), (50, 0.95), (100, 0.9), (7, 0.5)])
def test_exchangeability_gives_exactly_k_over_n_plus_1(n, level):
    # n + 1 distinct scores; each in turn is the test point, the other n calibrate: by exchangeability the
    # fraction covered is exactly k/(n+1), k = ceil((n+1) level) (the finite-sample guarantee, tight)
    s = torch.randn(n + 1, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    covered = sum(float(s[i]) <= cf.conformal_quantile(torch.cat([s[:i], s[i + 1:]]), level) for i in range(n + 1))
    k = math.ceil((n + 1) * level - 1e-9)
    assert covered == min(k, n + 1)
    assert cf.coverage_guarantee(n, level) == covered / (n + 1) >= level


def test_monte_carlo_coverage_matches_the_beta_law():
    # uniform scores, n = 20, level 0.9: coverage given calibration is Beta(k, n+1-k); its mean is k/(n+1)
    g = np.random.default_rng(0)
    n, level, reps = 20, 0.9, 4000
    cal = g.random((reps, n))
    q = np.sort(cal, axis=1)[:, cf.conformal_rank(n, level) - 1]
    k = cf.conformal_rank(n, level)
    assert abs(q.mean() - k / (n + 1)) < 4 * math.sqrt(k * (n + 1 - k) / ((n + 1) ** 2 * (n + 2)) / reps)


def test_coverage_interval_reduces_to_bernoulli_and_contains_the_mean():
    n, level = 9, 0.7  # k = 7
    # one test point, one repetition: Bernoulli(0.7), cdf (0.3, 1): the central 50 % interval is [0, 1], the
    # central 20 % interval (tails 0.4) is [1, 1]
    assert cf.coverage_interval(n, 1, 1, level, 0.5) == (0, 1)
    assert cf.coverage_interval(n, 1, 1, level, 0.2) == (1, 1)
    lo, hi = cf.coverage_interval(100, 50, 200, 0.9, 0.99)
    mean = 200 * 50 * cf.coverage_guarantee(100, 0.9)
    assert lo < mean < hi and hi - lo < 0.05 * mean
    assert cf.coverage_interval(5, 10, 3, 0.99) == (30, 30)  # k > n: the set is everything


def test_infinite_threshold_when_n_is_too_small():
    assert cf.conformal_quantile(torch.tensor([1.0, 2.0]), 0.9) == math.inf


def test_learned_norm_shrinks_the_volume_on_anisotropic_noise():
    g = torch.Generator().manual_seed(0)
    U = torch.randn(300, 4, generator=g, dtype=torch.float64)
    V = U + torch.randn(300, 4, generator=g, dtype=torch.float64) * torch.tensor([0.1, 1.0, 3.0, 0.3])
    sc = cf.fit_min_volume_norm(U, V, 0.9, ps=(2.0, math.inf), steps=100)
    q_ball = cf.conformal_quantile(cf.distance_score(U, V), 0.9)
    ball = 4 * math.log(q_ball) + cf.log_unit_ball_volume(4, 2.0)
    assert sc.log_volume(cf.conformal_quantile(sc(U, V), 0.9)) < ball - 1.0
    assert abs(float(sc.weights.log().sum())) < 1e-9
    assert cf.log_unit_ball_volume(3, 2.0) == pytest.approx(math.log(4 * math.pi / 3), rel=1e-14)
    assert cf.log_unit_ball_volume(2, 1.0) == pytest.approx(math.log(2.0), rel=1e-14)


def test_evaluate_counts_coverage_and_exclusion_by_loop():
    g = torch.Generator().manual_seed(1)
    U, V = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(7, 3, generator=g, dtype=torch.float64)
    cs = cf.ConformalSet(cf.distance_score, 1.5, 0.9, 10)
    ev = cf.evaluate(cs, U, V)
    cov = sum(float((V[i] - U[i]).norm()) <= 1.5 for i in range(7)) / 7
    exc = sum(float((V[j] - U[i]).norm()) > 1.5 for i in range(7) for j in range(7) if i != j) / 42
    assert ev.coverage == cov and ev.exclusion == pytest.approx(exc, abs=1e-15)


@pytest.mark.parametrize("call, name", [
    (lambda: cf.conformal_quantile(torch.ones(5), 1.0), "level"),
    (lambda: cf.conformal_quantile(torch.ones(5), 0.0), "level"),
    (lambda: cf.conformal_quantile(torch.ones(5), float("nan")), "level"),
    (lambda: cf.conformal_quantile(torch.tensor([1.0, float("nan")]), 0.5), "scores"),
    (lambda: cf.conformal_quantile(torch.ones(2, 2), 0.5), "scores"),
    (lambda: cf.distance_score(torch.ones(3, 2), torch.ones(3, 3)), "V"),
    (lambda: cf.distance_score(torch.ones(3), torch.ones(3)), "U"),
    (lambda: cf.fit_min_volume_norm(torch.ones(3, 2), torch.ones(3, 2), 1.5), "level"),
    (lambda: cf.fit_min_volume_norm(torch.ones(3, 2), torch.ones(3, 2), 0.5, ps=(0.5,)), "ps"),
    (lambda: cf.coverage_interval(10, 0, 5, 0.9), "m"),
    (lambda: cf.coverage_interval(0, 5, 5, 0.9), "n"),
])
def test_bad_input_is_a_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()
