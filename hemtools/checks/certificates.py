"""The certificates of verify (SPEC §3): each a function that measures one fact and returns a
:class:`CheckResult` (``passed`` True, False, or None when it does not apply).

  gradient_norm       Riemannian gradient norm at the point                            <= 1e-10
  alignment           max_i ‖u_i − v_i‖                                                 <= 1e-6
  gram_deviation      max |G − G_target| of the anchors' Gram matrix                   <= 1e-6
  value_vs_target     found minimum − loss at the exact target configuration           |·| <= 1e-10 rel
  restart_agreement   fraction of restarts that reach the best value (>= 1/4, at least two)
  uniqueness          restarts at the best value share one configuration (sorted inner products)
  hessian_psd         smallest eigenvalue of the Riemannian Hessian >= −threshold
  hessian_zero_count  number of |λ| <= threshold equals dim of the rotation orbit
  claim_candidates    (when the best restart does not satisfy the claim) the lowest polished configuration
                      satisfying the claim (``candidates``) − the best restart: <= tol, or the claim is beaten

A Hessian that cannot be computed is a failed check with its reason (:func:`hessian_or_failure`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .. import configurations, sphere
from ..results import _Word
from ..results import number as _num

Tensor = torch.Tensor

# dense eigendecomposition of the tangent-space Hessian up to this dimension (n = N(d−1)); a 4000×4000
# eigh takes a few seconds on 2 cores
MAX_DENSE_HESSIAN = 4000


class CheckName(_Word):
    """The checks of a verify report, in the order they are reported (the JSON ``checks[].name``)."""

    GRADIENT_NORM = "gradient_norm"
    ALIGNMENT = "alignment"
    GRAM_DEVIATION = "gram_deviation"
    VALUE_VS_TARGET = "value_vs_target"
    VALUE_VS_SIMPLEX_BOUND = "value_vs_simplex_bound"
    RESTART_AGREEMENT = "restart_agreement"
    UNIQUENESS = "uniqueness"
    HESSIAN_PSD = "hessian_psd"
    HESSIAN_ZERO_COUNT = "hessian_zero_count"
    CLAIM_CANDIDATES = "claim_candidates"


@dataclass
class CheckResult:
    """One measured certificate: ``passed`` is True, False, or None (not applicable)."""

    name: CheckName | str  # a CheckName for hemtools' own certificates (a str Enum: compares equal to its word)
    passed: bool | None
    measured: float | None
    tolerance: float | None
    relation: str = "<="  # how measured is compared with tolerance
    detail: str = ""

    @property
    def status(self) -> str:
        return "n/a" if self.passed is None else ("pass" if self.passed else "fail")

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "measured": _num(self.measured),
                "tolerance": _num(self.tolerance), "relation": self.relation, "status": self.status,
                "detail": self.detail}


def not_applicable(name: CheckName | str, why: str) -> CheckResult:
    return CheckResult(name, None, None, None, "", why)


def check_gradient(grad_norm: float, tol: float) -> CheckResult:
    ok = math.isfinite(grad_norm) and grad_norm <= tol
    return CheckResult(
        CheckName.GRADIENT_NORM, ok, grad_norm, tol, "<=", "Riemannian gradient norm at the best restart"
    )


def check_alignment(U: Tensor, V: Tensor, tol: float) -> CheckResult:
    dev = float((U - V).norm(dim=-1).max())
    return CheckResult(CheckName.ALIGNMENT, dev <= tol, dev, tol, "<=", "max_i ‖u_i − v_i‖")


def check_gram(X: Tensor, target: Tensor, tol: float, what: str) -> CheckResult:
    dev = float((X @ X.T - target).abs().max())
    return CheckResult(CheckName.GRAM_DEVIATION, dev <= tol, dev, tol, "<=", f"max |G − G_target| ({what})")


@dataclass(frozen=True)
class ValueScale:
    """When do two loss values agree?  |a − b| <= max(rel · max(|a|, |b|), 10 · noise).

    ``noise`` is measured, not assumed: the spread of f at a configuration under perturbations of its
    coordinates at 1e-14 (round-off of the evaluation itself).  A fixed absolute floor such as
    rel · max(1, |a|) would be vacuous for InfoNCE at small τ, whose minimum is ~e^{−M/((M−1)τ)} (2e-54
    at τ = 0.01) yet is computed to full relative precision.
    """

    rel: float
    noise: float

    def tol(self, a: float, b: float) -> float:
        return max(self.rel * max(abs(a), abs(b)), 10.0 * self.noise)

    def equal(self, a: float, b: float) -> bool:
        return abs(a - b) <= self.tol(a, b)


def measure_value_noise(f: Callable[[Tensor], Tensor], x: Tensor, samples: int = 4) -> float:
    """max_k |f(R(x + 1e-14 ξ_k)) − f(x)| for seeded random ξ_k: the evaluation's round-off at x (at a
    critical point the first-order change, ‖grad‖·1e-14, is below it)."""
    gen = torch.Generator().manual_seed(12345)
    xs = x.to(torch.float64).unsqueeze(0)
    pert = sphere.normalize(xs + 1e-14 * torch.randn((samples,) + tuple(x.shape), generator=gen, dtype=torch.float64))
    with torch.no_grad():
        v0 = f(xs)[0]
        vs = f(pert)
    spread = (vs - v0).abs().max()
    return float(spread) if bool(torch.isfinite(spread)) else math.inf


def check_value_vs_target(
    found: float, target: float, scale: ValueScale, name: CheckName | str = CheckName.VALUE_VS_TARGET
) -> CheckResult:
    tol = scale.tol(found, target)
    diff = found - target
    return CheckResult(
        name,
        abs(diff) <= tol,
        diff,
        tol,
        "|·| <=",
        "found minimum − value at the exact target (negative: lower than the target)",
    )


def check_value_vs_bound(found: float, bound: float, scale: ValueScale) -> CheckResult:
    tol = scale.tol(found, bound)
    diff = found - bound
    return CheckResult(
        CheckName.VALUE_VS_SIMPLEX_BOUND,
        diff >= -tol,
        diff,
        -tol,
        ">=",
        "found minimum − value at the (unreachable) simplex: the Jensen bound must hold",
    )


def distinct_minima(values: Tensor, scale: ValueScale) -> list[tuple[float, int]]:
    """Group restart values that agree within the value scale: [(value, count)], lowest first."""
    vals = sorted(float(v) for v in values if math.isfinite(float(v)))
    groups: list[list[float]] = []
    for v in vals:
        if groups and scale.equal(v, groups[-1][0]):
            groups[-1].append(v)
        else:
            groups.append([v])
    return [(g[0], len(g)) for g in groups]


def _at_best(values: Tensor, converged: Tensor, scale: ValueScale) -> list[int]:
    """Converged restarts whose value equals the lowest converged value."""
    idx = [i for i in range(values.numel()) if bool(converged[i]) and math.isfinite(float(values[i]))]
    if not idx:
        return []
    best = min(float(values[i]) for i in idx)
    return [i for i in idx if scale.equal(float(values[i]), best)]


def check_restart_agreement(values: Tensor, converged: Tensor, scale: ValueScale) -> tuple[CheckResult, list]:
    """Fraction of all restarts that converged to the best value (>= 1/4, and at least two)."""
    R = values.numel()
    groups = distinct_minima(values[converged], scale)
    if R < 2:
        return not_applicable(CheckName.RESTART_AGREEMENT, "one restart: nothing to agree with"), groups
    at_best = len(_at_best(values, converged, scale))
    frac = at_best / R
    ok = at_best >= 2 and frac >= 0.25
    n_conv = int(converged.sum())
    detail = (
        f"{at_best} of {R} restarts converge to the best value; {len(groups)} distinct "
        f"minim{'um' if len(groups) == 1 else 'a'} among the {n_conv} converged"
    )
    return CheckResult(CheckName.RESTART_AGREEMENT, ok, frac, 0.25, ">=", detail), groups


def check_uniqueness(points: Tensor, values: Tensor, converged: Tensor, scale: ValueScale, tol: float) -> CheckResult:
    """Converged restarts at the best value must share one configuration up to rotation and relabelling:
    their sorted inner products (a rotation/permutation invariant) agree within ``tol``."""
    idx = _at_best(values, converged, scale)
    if len(idx) < 2:
        return not_applicable(CheckName.UNIQUENESS, "fewer than two converged restarts at the best value")
    fps = [configurations.fingerprint(points[i]) for i in idx]
    dev = max(float((fp - fps[0]).abs().max()) for fp in fps[1:])
    return CheckResult(
        CheckName.UNIQUENESS,
        dev <= tol,
        dev,
        tol,
        "<=",
        f"max difference of sorted inner products among the {len(idx)} restarts at the best value",
    )


@dataclass
class HessianInfo:
    n: int
    where: str  # "best restart" or "exact target"
    grad_norm: float  # Riemannian gradient norm at that point
    orbit_dimension: int
    rank: int
    zero_count: int
    threshold: float
    min_eigenvalue: float
    max_abs_zero: float  # largest |λ| counted as zero
    gap: float  # smallest eigenvalue above the threshold
    max_eigenvalue: float
    eigenvalues: list[float] = field(default_factory=list)
    method: str = "autograd"  # or "differences": central differences of the Riemannian gradient
    step: float | None = None  # the difference step h (method "differences")
    error: float = 0.0  # measured error of the eigenvalues (differences at h and 2h), added to the threshold
    method_reason: str = ""  # why differences were used
    failure: str | None = None  # the certificate could not be computed: why and where (a failed check)
    eigensolver: str = "dense (eigvalsh of the n×n Hessian)"
    matrix_free: dict | None = None  # spectrum.MatrixFreeSpectrum fields when the matrix-free path ran

    def to_dict(self) -> dict:
        d = {
            k: _num(v) if isinstance(v, float) else v
            for k, v in self.__dict__.items()
            if k not in ("eigenvalues", "matrix_free")
        }
        if self.matrix_free is None:
            d["lowest_eigenvalues"] = [_num(v) for v in self.eigenvalues[: self.orbit_dimension + 5]]
        else:
            d.update(
                {
                    k: (
                        [_num(v) for v in val]
                        if isinstance(val, list) and k != "notes"
                        else _num(val)
                        if isinstance(val, float)
                        else val
                    )
                    for k, val in self.matrix_free.items()
                }
            )
        return d


def _where_words(where: str, x: Tensor) -> str:
    """'the aligned target' when x = [U; V] with U = V exactly (where a norm of u_i − v_i has no derivative)."""
    n = x.shape[0]
    aligned = n % 2 == 0 and bool((x[: n // 2] == x[n // 2 :]).all())
    if where == "exact target":
        return "the aligned target" if aligned else "the exact target"
    return f"the {where}" + (" (aligned: u_i = v_i)" if aligned else "")


def _non_finite_failure(H: Tensor, x: Tensor, where: str) -> str:
    bad = ~torch.isfinite(H)
    n_pts, d = x.shape
    rows = bad.any(dim=1).reshape(n_pts, d - 1).any(dim=1).nonzero().flatten().tolist()
    half = n_pts // 2
    names = (
        [(f"u_{i}" if i < half else f"v_{i - half}") for i in rows[:4]]
        if n_pts % 2 == 0
        else [f"x_{i}" for i in rows[:4]]
    )
    words = _where_words(where, x)
    hint = (
        ": does your loss take the norm of u_i − v_i? (use the squared distance 2 − 2 u_i·v_i)"
        if "aligned" in words
        else ": is your loss twice differentiable there?"
    )
    return (
        f"second derivative not finite at {words} (rows of {', '.join(names)}{' ...' if len(rows) > 4 else ''}){hint}"
    )


def hessian_spectrum(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    zero_factor: float,
    eps: float,
    where: str = "best restart",
    eigensolver: str = "auto",
    device=None,
) -> HessianInfo:
    """Eigenvalues of the Riemannian Hessian at one configuration x (N, d) and their classification.

    An eigenvalue counts as zero when |λ| <= zero_factor · eps · max|λ| + ‖grad f(x)‖ (+ the measured
    error of a difference Hessian): the first term is round-off (SPEC §3); the second because away from
    an exact critical point the directions of the rotation orbit carry curvature of the order of the
    gradient (f is constant along the orbit, so <Hess ξ, ξ> = −<grad f, ∇_ξ ξ> there).

    The matrix comes from autograd when the loss has a correct second derivative (probed against
    differences of the gradient), else from central differences (:mod:`hemtools.derivatives`).  A
    Hessian with non-finite entries is returned as a failure naming where, never raised.
    """
    from .. import derivatives

    x = x.detach()
    method, reason = derivatives.choose_method(f, x.unsqueeze(0), nonfinite_fallback=False)
    # eigensolver "matrix-free" (hemtools.spectrum: Lanczos on HVPs, rotation orbit deflated exactly), "dense",
    # or "auto": dense up to n = MAX_DENSE_HESSIAN; matrix-free products run on ``device`` (default: x's)
    if eigensolver == "matrix-free" or (eigensolver == "auto" and x.shape[0] * (x.shape[1] - 1) > MAX_DENSE_HESSIAN):
        return _matrix_free_info(f, x if device is None else x.to(device), zero_factor, eps, where, method, reason)
    h, err = None, 0.0
    if method == derivatives.AUTOGRAD:
        H, _ = sphere.riemannian_hessian_matrix(f, x, chunk=_hessian_chunk(x))
        if not bool(torch.isfinite(H).all()):
            return _failed_info(x, where, _non_finite_failure(H, x, where), method, reason)
    else:
        H, h, err = derivatives.difference_hessian(f, x)
        if not bool(torch.isfinite(H).all()):
            return _failed_info(x, where, _non_finite_failure(H, x, where), method, reason)
    ev = torch.linalg.eigvalsh(H)
    _, g = sphere.riemannian_gradient(f, x.unsqueeze(0))
    gnorm = float(sphere.norm(g)[0])
    scale = float(ev.abs().max())
    thr = zero_factor * eps * scale + gnorm + err
    zero = ev.abs() <= thr
    above = ev[ev > thr]
    r = configurations.rank(x)
    d = x.shape[-1]
    return HessianInfo(
        n=H.shape[0],
        where=where,
        grad_norm=gnorm,
        orbit_dimension=sphere.orbit_dimension(d, r),
        rank=r,
        zero_count=int(zero.sum()),
        threshold=thr,
        min_eigenvalue=float(ev[0]),
        max_abs_zero=float(ev[zero].abs().max()) if bool(zero.any()) else 0.0,
        gap=float(above[0]) if above.numel() else math.nan,
        max_eigenvalue=float(ev[-1]),
        eigenvalues=ev.tolist(),
        method=method,
        step=h,
        error=err,
        method_reason=reason,
    )


def _matrix_free_info(
    f, x: Tensor, zero_factor: float, eps: float, where: str, method: str, reason: str
) -> HessianInfo:
    """hessian_spectrum on Hessian-vector products only (autograd, or central differences of the gradient,
    whose measured error — products at h and 2h on random tangent directions — is added to the threshold)."""
    from .. import derivatives, spectrum

    hvp, h, err = None, None, 0.0
    if method != derivatives.AUTOGRAD:
        hvp, h, err = derivatives.difference_operator(f, x)
    mf = spectrum.lowest_eigenvalues(f, x, zero_factor, eps, hvp=hvp, error=err)
    failure = None
    if not mf.converged or not all(math.isfinite(v) for v in (mf.min_eigenvalue, mf.max_eigenvalue, mf.grad_norm)):
        failure = f"matrix-free Hessian eigensolver at the {where}: " + (
            "; ".join(mf.notes) or "non-finite Hessian-vector products"
        )
    return HessianInfo(
        n=mf.n,
        where=where,
        grad_norm=mf.grad_norm,
        orbit_dimension=mf.orbit_dimension,
        rank=mf.rank,
        zero_count=mf.zero_count,
        threshold=mf.threshold,
        min_eigenvalue=mf.min_eigenvalue,
        max_abs_zero=mf.max_abs_zero,
        gap=mf.gap,
        max_eigenvalue=mf.max_eigenvalue,
        eigenvalues=mf.deflated_eigenvalues,
        method=method,
        step=h,
        error=err,
        method_reason=reason,
        failure=failure,
        eigensolver=f"matrix-free: {mf.method}",
        matrix_free=spectrum.report_fields(mf),
    )


def _hessian_chunk(x: Tensor, budget: int = 2**30) -> int:
    """Copies of x per double-backward pass: ~16 N×N float64 matrices each, within ``budget`` bytes."""
    n = x.shape[0]
    return int(max(1, min(1024, budget // (16 * 8 * n * n))))


def _failed_info(x: Tensor, where: str, failure: str, method: str, reason: str) -> HessianInfo:
    r = configurations.rank(x)
    od = sphere.orbit_dimension(x.shape[-1], r)
    return HessianInfo(
        n=x.shape[0] * (x.shape[-1] - 1),
        where=where,
        grad_norm=math.nan,
        orbit_dimension=od,
        rank=r,
        zero_count=0,
        threshold=math.nan,
        min_eigenvalue=math.nan,
        max_abs_zero=math.nan,
        gap=math.nan,
        max_eigenvalue=math.nan,
        method=method,
        method_reason=reason,
        failure=failure,
    )


def check_hessian(info: HessianInfo) -> tuple[CheckResult, CheckResult]:
    if info.failure:  # a certificate that could not be computed failed; measured None says so
        return (
            CheckResult(CheckName.HESSIAN_PSD, False, None, None, "", info.failure),
            CheckResult(CheckName.HESSIAN_ZERO_COUNT, False, None, None, "", info.failure),
        )
    how = (
        ""
        if info.method == "autograd"
        else f"; by central differences (h = {info.step:.1e}, measured error {info.error:.1e})"
    )
    psd = CheckResult(
        CheckName.HESSIAN_PSD,
        info.min_eigenvalue >= -info.threshold,
        info.min_eigenvalue,
        -info.threshold,
        ">=",
        f"smallest eigenvalue of the Riemannian Hessian at the {info.where} (n = {info.n}, "
        f"{'matrix-free' if info.matrix_free is not None else 'dense'}){how}",
    )
    zc = CheckResult(
        CheckName.HESSIAN_ZERO_COUNT,
        info.zero_count == info.orbit_dimension,
        float(info.zero_count),
        float(info.orbit_dimension),
        "==",
        ("at least " if info.matrix_free and info.matrix_free["zero_count_is_lower_bound"] else "")
        + f"eigenvalues with |λ| <= {info.threshold:.1e} vs dim of the O(d) orbit (rank {info.rank}); "
        f"next eigenvalue {info.gap:.3g}{how}",
    )
    return psd, zc
