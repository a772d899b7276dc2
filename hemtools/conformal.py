"""Split-conformal sets on embeddings (contrastive conformal sets; SPEC C11).

A positive pair (u, v) of embeddings gets a nonconformity score s(u, v); calibrated on n held-out pairs at
level 1 − ε = ``level``, the set of an anchor u is

    C(u) = {v : s(u, v) ≤ q̂},   q̂ = the k-th smallest calibration score,  k = ⌈(n + 1)·level⌉

(q̂ = +∞ when k > n).  For exchangeable pairs and a score fixed before calibration, a new positive is covered
with probability ≥ level, and exactly k/(n + 1) when scores have no ties (:func:`coverage_guarantee`).
Conditionally on the calibration set the coverage is Beta(k, n + 1 − k) distributed, so the number of m test
positives covered is Beta-Binomial(m, k, n + 1 − k); :func:`coverage_interval` gives the exact interval for
the total over R independent repetitions.

Two scores:
  * :func:`distance_score`: the Euclidean distance ‖v − u‖ (the distance-based baseline: C(u) is a ball);
  * :class:`NormScore`: a learnable weighted ℓp norm ‖w ⊙ (v − u)‖_p.  :func:`fit_min_volume_norm` learns w
    (and picks p from a grid) on a *training* split, disjoint from the calibration split, by minimising the
    volume of the set that holds a ``level`` fraction of the training positives — the seed's minimum-volume
    sets (Alkhatib, Yahya, Tay & Wee Peng, "Contrastive Conformal Sets"), with its generalised multi-norm
    restricted here to one weighted ℓp norm.  Volume is the seed's proxy for excluding negatives.

Functional core on float64 tensors; results are dataclasses with ``to_dict()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import ArgumentError
from .validators import require_array, require_int

Tensor = torch.Tensor


# --------------------------------------------------------------------------------------------------------
# validation


def check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not (0.0 < float(level) < 1.0):
        raise ArgumentError(f"level: expected a number in (0, 1), got {level!r}")
    return float(level)


def _points(x, name: str, ndim: int = 2) -> Tensor:
    return require_array(name, x, ndim)


def _pair(U, V) -> tuple[Tensor, Tensor]:
    U, V = _points(U, "U"), _points(V, "V")
    if U.shape != V.shape:
        raise ArgumentError(f"V: expected the shape of U {tuple(U.shape)}, got {tuple(V.shape)}")
    return U, V


# --------------------------------------------------------------------------------------------------------
# conformal calibration


def conformal_rank(n: int, level: float) -> int:
    """k = ⌈(n + 1)·level⌉: the calibration order statistic used as threshold (k > n means q̂ = +∞)."""
    level = check_level(level)
    require_int("n", n, 1, hint="calibration size", numpy=False)
    # ceil with a guard against (n+1)·level landing a rounding error above an integer
    x = (n + 1) * level
    k = math.ceil(x - 1e-12 * max(1.0, x))
    return max(k, 1)


def coverage_guarantee(n: int, level: float) -> float:
    """P(a new positive is covered) = min(k, n + 1)/(n + 1) for continuous scores (≥ level)."""
    return min(conformal_rank(n, level), n + 1) / (n + 1)


def conformal_quantile(scores, level: float) -> float:
    """q̂: the k-th smallest calibration score, k = ⌈(n + 1)·level⌉, or +∞ when k > n."""
    s = _points(scores, "scores", ndim=1)
    k = conformal_rank(int(s.numel()), level)
    if k > s.numel():
        return math.inf
    return float(torch.kthvalue(s, k).values)


def coverage_interval(n: int, m: int, repetitions: int, level: float, confidence: float = 0.99) -> tuple[int, int]:
    """Exact central interval [lo, hi] (probability ≥ ``confidence``) for the number of covered test
    positives in ``repetitions`` independent runs of (n calibration, m test) pairs with continuous scores:
    the sum of ``repetitions`` i.i.d. Beta-Binomial(m, k, n + 1 − k) counts, convolved exactly."""
    from scipy import stats

    check_level(confidence)
    for name, v in (("m", m), ("repetitions", repetitions)):
        require_int(name, v, 1, numpy=False)
    k = conformal_rank(n, level)
    if k > n:
        return repetitions * m, repetitions * m
    one = stats.betabinom(m, k, n + 1 - k).pmf(np.arange(m + 1))
    pmf, base, r = np.array([1.0]), one, repetitions
    while r:  # binary powers of the convolution
        if r & 1:
            pmf = np.convolve(pmf, base)
        r >>= 1
        if r:
            base = np.convolve(base, base)
    cdf = np.cumsum(pmf)
    tail = (1.0 - confidence) / 2.0
    lo = int(np.searchsorted(cdf, tail, side="right"))  # P(X < lo) <= tail
    hi = int(np.searchsorted(cdf, 1.0 - tail, side="left"))  # P(X > hi) <= tail
    return lo, hi


# --------------------------------------------------------------------------------------------------------
# scores


def distance_score(U, V) -> Tensor:
    """‖v_i − u_i‖₂ (the distance-based baseline; its conformal set is a ball around u)."""
    U, V = _pair(U, V)
    return (V - U).norm(dim=-1)


def log_unit_ball_volume(d: int, p: float) -> float:
    """log vol{z ∈ R^d : ‖z‖_p ≤ 1} = d log(2Γ(1 + 1/p)) − log Γ(1 + d/p) (p = ∞: d log 2)."""
    if math.isinf(p):
        return d * math.log(2.0)
    return d * (math.log(2.0) + math.lgamma(1.0 + 1.0 / p)) - math.lgamma(1.0 + d / p)


@dataclass
class NormScore:
    """s(u, v) = ‖w ⊙ (v − u)‖_p with positive weights w (normalised to Σ log w = 0) and p ≥ 1 or ∞."""

    weights: Tensor
    p: float

    def __call__(self, U, V) -> Tensor:
        U, V = _pair(U, V)
        if U.shape[-1] != self.weights.numel():
            raise ArgumentError(f"U: expected dimension {self.weights.numel()}, got {U.shape[-1]}")
        return _wnorm((V - U) * self.weights, self.p)

    def log_volume(self, radius: float) -> float:
        """log vol{z : ‖w ⊙ z‖_p ≤ radius}."""
        d = self.weights.numel()
        if radius <= 0 or math.isinf(radius):
            return -math.inf if radius <= 0 else math.inf
        return d * math.log(radius) + log_unit_ball_volume(d, self.p) - float(self.weights.log().sum())

    def to_dict(self) -> dict:
        return {"weights": self.weights.tolist(), "p": self.p if math.isfinite(self.p) else "inf"}


def _wnorm(Z: Tensor, p: float) -> Tensor:
    if math.isinf(p):
        return Z.abs().amax(-1)
    return Z.abs().pow(p).sum(-1).pow(1.0 / p)


def fit_min_volume_norm(U, V, level: float, *, ps=(1.0, 2.0, math.inf), steps: int = 300,
                        lr: float = 0.05) -> NormScore:
    """Learn w (Σ log w = 0) and p ∈ ``ps`` minimising the volume d·log q_level(w) + log V_p of the set that
    holds a ``level`` fraction of the training positives (U, V): Adam on the interpolated empirical quantile,
    one fit per p, the smallest volume wins.  Use a training split disjoint from the calibration split."""
    U, V = _pair(U, V)
    level = check_level(level)
    require_int("steps", steps, 0, numpy=False)
    ps = tuple(float(p) for p in ps)
    if not ps or any(not (p >= 1.0) for p in ps):
        raise ArgumentError(f"ps: expected norms p >= 1 (or inf), got {ps!r}")
    D = V - U
    d = D.shape[-1]
    best = None
    for p in ps:
        theta = torch.zeros(d, dtype=torch.float64)
        m1, m2 = torch.zeros_like(theta), torch.zeros_like(theta)
        for t in range(1, steps + 1):  # Adam, written out (torch.optim's first step costs seconds of imports)
            th = theta.clone().requires_grad_(True)
            q = torch.quantile(_wnorm(D * torch.exp(th - th.mean()), p), level)
            (grad,) = torch.autograd.grad(torch.log(q), th)
            m1.mul_(0.9).add_(0.1 * grad)
            m2.mul_(0.999).add_(0.001 * grad * grad)
            theta = theta - lr * (m1 / (1 - 0.9**t)) / ((m2 / (1 - 0.999**t)).sqrt() + 1e-12)
        w = torch.exp(theta - theta.mean()).detach()
        q = float(torch.quantile(_wnorm(D * w, p), level))
        score = NormScore(w, p)
        vol = score.log_volume(q)
        if best is None or vol < best[0]:
            best = (vol, score)
    return best[1]


@dataclass
class ConformalSet:
    """C(u) = {v : score(u, v) ≤ threshold}, calibrated on ``n_calibration`` positives at ``level``."""

    score: object
    threshold: float
    level: float
    n_calibration: int

    @property
    def guarantee(self) -> float:
        return coverage_guarantee(self.n_calibration, self.level)

    def contains(self, U, V) -> Tensor:
        return self.score(U, V) <= self.threshold

    def to_dict(self) -> dict:
        sc = self.score.to_dict() if hasattr(self.score, "to_dict") else getattr(self.score, "__name__", "score")
        return {
            "score": sc,
            "threshold": self.threshold,
            "level": self.level,
            "n_calibration": self.n_calibration,
            "guarantee": self.guarantee,
        }


def calibrate(score, U, V, level: float) -> ConformalSet:
    """Split-conformal calibration of ``score`` (a callable (U, V) → (n,)) on the positives (U, V)."""
    level = check_level(level)
    s = score(U, V)
    return ConformalSet(score, conformal_quantile(s, level), level, int(s.numel()))


@dataclass
class SetEvaluation:
    coverage: float  # fraction of test positives inside their anchor's set
    exclusion: float  # fraction of negatives (v_j, j ≠ i) outside anchor i's set
    covered: int
    n_test: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def evaluate(cset: ConformalSet, U, V) -> SetEvaluation:
    """Coverage of the positives (u_i, v_i) and exclusion of the negatives (u_i, v_j), j ≠ i."""
    U, V = _pair(U, V)
    m = U.shape[0]
    inside = cset.contains(U, V)
    S = _all_pairs(cset.score, U, V)
    off = ~torch.eye(m, dtype=torch.bool)
    excl = float((S[off] > cset.threshold).double().mean()) if m > 1 else math.nan
    return SetEvaluation(float(inside.double().mean()), excl, int(inside.sum()), m)


def _all_pairs(score, U: Tensor, V: Tensor) -> Tensor:
    m = U.shape[0]
    return score(U.repeat_interleave(m, 0), V.repeat(m, 1)).reshape(m, m)
