"""Certificates: measured facts about a found minimiser, each a :class:`CheckResult`, and the verdict.

``verify(loss, M, d, claim=...)`` solves the problem from random restarts (``optim.solve``), constructs
the claimed configuration exactly (``configurations``) and measures (SPEC §3):

  gradient_norm       Riemannian gradient norm at the best restart                    <= 1e-10
  alignment           max_i ‖u_i − v_i‖ at the best restart                            <= 1e-6
  gram_deviation      max |G − G_target| of the anchors' Gram matrix                   <= 1e-6
  value_vs_target     found minimum − loss at the exact target configuration           |·| <= 1e-10 rel
  restart_agreement   fraction of restarts that reach the best value (>= 1/4, at least two)
  uniqueness          restarts at the best value share one configuration (sorted inner products)
  hessian_psd         smallest eigenvalue of the Riemannian Hessian >= −threshold
  hessian_zero_count  number of |λ| <= threshold equals dim of the rotation orbit

The threshold for a "zero" eigenvalue is scale-aware: 1e4 · eps · max|λ| (tolerances.py).

The verdict follows from the checks and is never assumed:
  refuted       a measured fact contradicts the claim (a lower value than the claimed minimiser; a
                converged, second-order-certified minimum that is not the claimed configuration; a
                simplex of M > d+1 points, which cannot exist);
  confirmed     every applicable check passed;
  inconclusive  anything else (non-finite numbers, no convergence, the target value reached to round-off
                but the configuration not resolved, a Hessian too flat to certify in this precision).
Nothing here prints; the CLI renders :class:`VerifyReport`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from .errors import ArgumentError
from . import configurations, sphere
from .losses.registry import LossSpec, get_loss
from .optim import SolveResult, check_size, solve
from .tolerances import tolerances

Tensor = torch.Tensor

# dense eigendecomposition of the tangent-space Hessian up to this dimension (n = N(d−1)); a 4000×4000
# eigh takes a few seconds on 2 cores
MAX_DENSE_HESSIAN = 4000


@dataclass
class CheckResult:
    """One measured certificate: ``passed`` is True, False, or None (not applicable)."""

    name: str
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


def _num(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else str(x)  # JSON has no inf/nan


def not_applicable(name: str, why: str) -> CheckResult:
    return CheckResult(name, None, None, None, "", why)


# --------------------------------------------------------------------------------------------------------
# the claim


@dataclass(frozen=True)
class Claim:
    kind: str  # "simplex" | "aligned" | "config" | "value"
    config: str | None = None
    value: float | None = None

    @property
    def label(self) -> str:
        if self.kind == "config":
            return f"config:{self.config}"
        if self.kind == "value":
            return f"value:{self.value:.17g}"
        return self.kind


def parse_claim(text: str | None, spec: LossSpec, M: int, d: int) -> Claim:
    """``None`` → the default claim (simplex when M <= d+1, else aligned)."""
    if text is None or text == "":
        return Claim("simplex" if M <= d + 1 else "aligned")
    if text in ("simplex", "aligned"):
        if text == "aligned" and spec.kind != "pairs":
            raise ArgumentError(f"claim: 'aligned' needs a pair loss; {spec.name} acts on one point set")
        return Claim(text)
    if text.startswith("config:"):
        name = text[len("config:"):]
        if name not in configurations.KNOWN:
            raise ArgumentError(f"claim: unknown configuration {name!r}; known: {', '.join(sorted(configurations.KNOWN))}")
        return Claim("config", config=name)
    if text.startswith("value:"):
        try:
            v = float(text[len("value:"):])
        except ValueError:
            raise ArgumentError(f"claim: value:X needs a number X, got {text!r}") from None
        if not math.isfinite(v):
            raise ArgumentError(f"claim: value:X needs a finite number X, got {text!r}")
        return Claim("value", value=v)
    raise ArgumentError(f"claim: expected simplex, aligned, config:NAME or value:X, got {text!r}")


# --------------------------------------------------------------------------------------------------------
# individual checks


def check_gradient(grad_norm: float, tol: float) -> CheckResult:
    ok = math.isfinite(grad_norm) and grad_norm <= tol
    return CheckResult("gradient_norm", ok, grad_norm, tol, "<=", "Riemannian gradient norm at the best restart")


def check_alignment(U: Tensor, V: Tensor, tol: float) -> CheckResult:
    dev = float((U - V).norm(dim=-1).max())
    return CheckResult("alignment", dev <= tol, dev, tol, "<=", "max_i ‖u_i − v_i‖")


def check_gram(X: Tensor, target: Tensor, tol: float, what: str) -> CheckResult:
    dev = float((X @ X.T - target).abs().max())
    return CheckResult("gram_deviation", dev <= tol, dev, tol, "<=", f"max |G − G_target| ({what})")


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


def check_value_vs_target(found: float, target: float, scale: ValueScale, name: str = "value_vs_target") -> CheckResult:
    tol = scale.tol(found, target)
    diff = found - target
    return CheckResult(name, abs(diff) <= tol, diff, tol, "|·| <=",
                       "found minimum − value at the exact target (negative: lower than the target)")


def check_value_vs_bound(found: float, bound: float, scale: ValueScale) -> CheckResult:
    tol = scale.tol(found, bound)
    diff = found - bound
    return CheckResult("value_vs_simplex_bound", diff >= -tol, diff, -tol, ">=",
                       "found minimum − value at the (unreachable) simplex: the Jensen bound must hold")


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
        return not_applicable("restart_agreement", "one restart: nothing to agree with"), groups
    at_best = len(_at_best(values, converged, scale))
    frac = at_best / R
    ok = at_best >= 2 and frac >= 0.25
    n_conv = int(converged.sum())
    detail = (f"{at_best} of {R} restarts converge to the best value; {len(groups)} distinct "
              f"minim{'um' if len(groups) == 1 else 'a'} among the {n_conv} converged")
    return CheckResult("restart_agreement", ok, frac, 0.25, ">=", detail), groups


def check_uniqueness(points: Tensor, values: Tensor, converged: Tensor, scale: ValueScale, tol: float) -> CheckResult:
    """Converged restarts at the best value must share one configuration up to rotation and relabelling:
    their sorted inner products (a rotation/permutation invariant) agree within ``tol``."""
    idx = _at_best(values, converged, scale)
    if len(idx) < 2:
        return not_applicable("uniqueness", "fewer than two converged restarts at the best value")
    fps = [configurations.fingerprint(points[i]) for i in idx]
    dev = max(float((fp - fps[0]).abs().max()) for fp in fps[1:])
    return CheckResult("uniqueness", dev <= tol, dev, tol, "<=",
                       f"max difference of sorted inner products among the {len(idx)} restarts at the best value")


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

    def to_dict(self) -> dict:
        d = {k: _num(v) if isinstance(v, float) else v for k, v in self.__dict__.items() if k != "eigenvalues"}
        d["lowest_eigenvalues"] = [_num(v) for v in self.eigenvalues[: self.orbit_dimension + 5]]
        return d


def _where_words(where: str, x: Tensor) -> str:
    """'the aligned target' when x = [U; V] with U = V exactly (where a norm of u_i − v_i has no derivative)."""
    n = x.shape[0]
    aligned = n % 2 == 0 and bool((x[: n // 2] == x[n // 2:]).all())
    if where == "exact target":
        return "the aligned target" if aligned else "the exact target"
    return f"the {where}" + (" (aligned: u_i = v_i)" if aligned else "")


def _non_finite_failure(H: Tensor, x: Tensor, where: str) -> str:
    bad = ~torch.isfinite(H)
    n_pts, d = x.shape
    rows = bad.any(dim=1).reshape(n_pts, d - 1).any(dim=1).nonzero().flatten().tolist()
    half = n_pts // 2
    names = [(f"u_{i}" if i < half else f"v_{i - half}") for i in rows[:4]] if n_pts % 2 == 0 else [f"x_{i}" for i in rows[:4]]
    words = _where_words(where, x)
    hint = ": does your loss take the norm of u_i − v_i? (use the squared distance 2 − 2 u_i·v_i)" \
        if "aligned" in words else ": is your loss twice differentiable there?"
    return (f"second derivative not finite at {words} (rows of {', '.join(names)}{' ...' if len(rows) > 4 else ''})"
            f"{hint}")


def hessian_spectrum(f: Callable[[Tensor], Tensor], x: Tensor, zero_factor: float, eps: float,
                     where: str = "best restart") -> HessianInfo:
    """Eigenvalues of the Riemannian Hessian at one configuration x (N, d) and their classification.

    An eigenvalue counts as zero when |λ| <= zero_factor · eps · max|λ| + ‖grad f(x)‖ (+ the measured
    error of a difference Hessian): the first term is round-off (SPEC §3); the second because away from
    an exact critical point the directions of the rotation orbit carry curvature of the order of the
    gradient (f is constant along the orbit, so <Hess ξ, ξ> = −<grad f, ∇_ξ ξ> there).

    The matrix comes from autograd when the loss has a correct second derivative (probed against
    differences of the gradient), else from central differences (:mod:`hemtools.derivatives`).  A
    Hessian with non-finite entries is returned as a failure naming where, never raised.
    """
    from . import derivatives

    x = x.detach()
    method, reason = derivatives.choose_method(f, x.unsqueeze(0), nonfinite_fallback=False)
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
    return HessianInfo(n=H.shape[0], where=where, grad_norm=gnorm, orbit_dimension=sphere.orbit_dimension(d, r), rank=r,
                       zero_count=int(zero.sum()), threshold=thr, min_eigenvalue=float(ev[0]),
                       max_abs_zero=float(ev[zero].abs().max()) if bool(zero.any()) else 0.0,
                       gap=float(above[0]) if above.numel() else math.nan, max_eigenvalue=float(ev[-1]),
                       eigenvalues=ev.tolist(), method=method, step=h, error=err, method_reason=reason)


def _hessian_chunk(x: Tensor, budget: int = 2 ** 30) -> int:
    """Copies of x per double-backward pass: ~16 N×N float64 matrices each, within ``budget`` bytes."""
    n = x.shape[0]
    return int(max(1, min(1024, budget // (16 * 8 * n * n))))


def _failed_info(x: Tensor, where: str, failure: str, method: str, reason: str) -> HessianInfo:
    r = configurations.rank(x)
    od = sphere.orbit_dimension(x.shape[-1], r)
    return HessianInfo(n=x.shape[0] * (x.shape[-1] - 1), where=where, grad_norm=math.nan, orbit_dimension=od, rank=r,
                       zero_count=0, threshold=math.nan, min_eigenvalue=math.nan, max_abs_zero=math.nan, gap=math.nan,
                       max_eigenvalue=math.nan, method=method, method_reason=reason, failure=failure)


def check_hessian(info: HessianInfo) -> tuple[CheckResult, CheckResult]:
    if info.failure:  # a certificate that could not be computed failed; measured None says so
        return (CheckResult("hessian_psd", False, None, None, "", info.failure),
                CheckResult("hessian_zero_count", False, None, None, "", info.failure))
    how = "" if info.method == "autograd" else f"; by central differences (h = {info.step:.1e}, measured error {info.error:.1e})"
    psd = CheckResult("hessian_psd", info.min_eigenvalue >= -info.threshold, info.min_eigenvalue, -info.threshold,
                      ">=", f"smallest eigenvalue of the Riemannian Hessian at the {info.where} (n = {info.n}){how}")
    zc = CheckResult("hessian_zero_count", info.zero_count == info.orbit_dimension, float(info.zero_count),
                     float(info.orbit_dimension), "==",
                     f"eigenvalues with |λ| <= {info.threshold:.1e} vs dim of the O(d) orbit (rank {info.rank}); "
                     f"next eigenvalue {info.gap:.3g}{how}")
    return psd, zc


# --------------------------------------------------------------------------------------------------------
# the report


@dataclass
class VerifyReport:
    loss: str
    M: int
    d: int
    params: dict
    claim: str
    verdict: str
    reason: str
    value: float
    reference: dict  # {"name", "value"}
    grad_norm: float
    checks: list[CheckResult]
    configuration: str | None
    seconds: float
    restarts: int
    seed: int
    dtype: str
    device: str
    kind: str
    minima: list[tuple[float, int]]
    value_noise: float
    hessian: HessianInfo | None
    solve: SolveResult
    notes: list[str] = field(default_factory=list)
    extras: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return {"confirmed": 0, "refuted": 1, "inconclusive": 3}[self.verdict]

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        return f"{self.loss} M={self.M} d={self.d} claim={self.claim}: {self.verdict} ({self.reason})"

    def to_dict(self) -> dict:
        best = self.solve.best
        pts = self.solve.points[best]
        out: dict[str, Any] = {
            "loss": self.loss, "M": self.M, "d": self.d, "params": _jsonable(self.params), "claim": self.claim,
            "verdict": self.verdict, "reason": self.reason, "value": _num(self.value),
            "reference": {"name": self.reference["name"], "value": _num(self.reference["value"])},
            "grad_norm": _num(self.grad_norm), "checks": [c.to_dict() for c in self.checks],
            "configuration": self.configuration, "seconds": self.seconds,
            "restarts": self.restarts, "seed": self.seed, "dtype": self.dtype, "device": self.device,
            "kind": self.kind,
            "minima": [{"value": _num(v), "count": c} for v, c in self.minima],
            "value_noise": _num(self.value_noise),
            "hessian": self.hessian.to_dict() if self.hessian else None,
            "restart_values": [_num(v) for v in self.solve.values.tolist()],
            "restart_grad_norms": [_num(v) for v in self.solve.grad_norms.tolist()],
            "history": {"grad_norms": [[_num(v) for v in row] for row in self.solve.history_grad_norms.T.tolist()],
                        "values": [[_num(v) for v in row] for row in self.solve.history_values.T.tolist()],
                        "phase_switch": self.solve.phase_switch},
            "points": {"U": pts[: self.M].tolist(), "V": pts[self.M:].tolist()} if self.kind == "pairs"
            else {"X": pts.tolist()},
            "notes": list(self.notes),
        }
        out.update(self.extras)
        return out


def _jsonable(params: Mapping) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in params.items()}


# --------------------------------------------------------------------------------------------------------


def target_configuration(spec: LossSpec, claim: Claim, M: int, d: int) -> tuple[str, Tensor | None, int]:
    """(description, exact target points [U; V] or X in R^{d'}, d') for the claim; d' may exceed d when
    the target cannot exist in R^d (the simplex of M > d+1 points lives in R^{M−1}): its value is then the
    unreachable bound."""
    if claim.kind in ("simplex", "aligned"):
        dd = max(d, M - 1)
        x = configurations.regular_simplex(M, dd)
        name = "aligned regular simplex" if spec.kind == "pairs" else "regular simplex"
        if M > d + 1:
            name += f" (exists only in d >= {M - 1}: unreachable bound)"
        return name, (torch.cat([x, x]) if spec.kind == "pairs" else x), dd
    if claim.kind == "config":
        x = configurations.construct(claim.config, M, d)
        name = f"aligned {claim.config}" if spec.kind == "pairs" else claim.config
        return name, (torch.cat([x, x]) if spec.kind == "pairs" else x), d
    return f"claimed value {claim.value:.17g}", None, d


def verify(loss: str | LossSpec | Callable, M: int, d: int, *, claim: str | None = None,
           params: Mapping[str, Any] | None = None, restarts: int = 8, seed: int = 0, dtype="float64",
           device="cpu", tol: float | None = None, hessian: bool = True,
           progress: Callable[[int, Tensor], None] | None = None) -> VerifyReport:
    """Solve, construct the claimed minimiser exactly, measure the certificates and decide the verdict.

    Raises ValueError for bad arguments (before any computation), UserCodeError for errors in user code.
    """
    t0 = time.perf_counter()
    spec = get_loss(loss)
    M, d = check_size(M, d)
    p = spec.resolve_params(params)
    cl = parse_claim(claim, spec, M, d)
    res = solve(spec, M, d, params=p, restarts=restarts, seed=seed, dtype=dtype, device=device, tol=tol,
                progress=progress)
    tols = tolerances(torch.float64 if res.dtype == "float64" else torch.float32)
    f = spec.objective(M, p)  # works in the dtype of its input: evaluated in float64 below
    notes: list[str] = spec.notes(p) + list(res.notes)
    checks: list[CheckResult] = []

    best = res.best
    x_best = res.points[best]
    found = float(res.values[best])
    gnorm = float(res.grad_norms[best])
    finite = bool(torch.isfinite(res.values).all() and torch.isfinite(res.grad_norms).all())

    # reference: the loss at the exactly constructed target
    ref_name, x_target, d_target = target_configuration(spec, cl, M, d)
    if x_target is not None:
        with torch.no_grad():
            target_value = float(f(x_target.unsqueeze(0).to(torch.float64))[0])
    else:
        target_value = float(cl.value)

    checks.append(check_gradient(gnorm, tols.certificate_grad))
    if spec.kind == "pairs":
        U, V = x_best[:M], x_best[M:]
        checks.append(check_alignment(U, V, tols.config))
    else:
        U = x_best
    if cl.kind == "simplex":
        if M <= d + 1:
            checks.append(check_gram(U, configurations.simplex_gram(M), tols.config, "anchors vs regular simplex"))
        else:
            checks.append(not_applicable("gram_deviation", f"no regular simplex of {M} points exists in R^{d}"))
    elif cl.kind == "config":
        tgt = x_target[:M]
        fp_dev = float((configurations.fingerprint(U) - configurations.fingerprint(tgt)).abs().max())
        checks.append(CheckResult("gram_deviation", fp_dev <= tols.config, fp_dev, tols.config, "<=",
                                  f"max difference of sorted inner products vs {cl.config}"))
    else:
        checks.append(not_applicable("gram_deviation", "the claim names no configuration"))

    # round-off of the loss, measured at the exact target when it exists in R^d, else at the best point
    x_noise = x_target if (x_target is not None and d_target == d) else x_best
    scale = ValueScale(tols.value_rel, measure_value_noise(f, x_noise) if finite else math.inf)
    if cl.kind == "aligned" or (cl.kind == "simplex" and M > d + 1):
        checks.append(check_value_vs_bound(found, target_value, scale))
    else:
        checks.append(check_value_vs_target(found, target_value, scale))

    agree, minima = check_restart_agreement(res.values, res.converged, scale)
    checks.append(agree)
    checks.append(check_uniqueness(res.points, res.values, res.converged, scale, tols.config))

    info = None
    n_tangent = spec.n_points(M) * (d - 1)
    if not hessian:
        checks += [not_applicable("hessian_psd", "skipped (--no-hessian)"),
                   not_applicable("hessian_zero_count", "skipped (--no-hessian)")]
    elif not finite:
        checks += [not_applicable("hessian_psd", "non-finite values"),
                   not_applicable("hessian_zero_count", "non-finite values")]
    elif n_tangent > MAX_DENSE_HESSIAN:
        why = f"tangent dimension {n_tangent} > {MAX_DENSE_HESSIAN}: too large for a dense eigendecomposition"
        checks += [not_applicable("hessian_psd", why), not_applicable("hessian_zero_count", why)]
    else:
        # When the best restart is the claimed configuration (alignment and Gram checks passed), the
        # certificate is computed at the exactly constructed target, where the gradient vanishes to
        # round-off and the curvature of flat landscapes (small τ) is resolved in relative precision
        # (SPEC §3 quotes spectra measured there).  Otherwise at the best restart.
        matched = (x_target is not None and d_target == d and cl.kind != "aligned"
                   and all(k.passed for k in checks if k.name in ("alignment", "gram_deviation")))
        if matched:
            info = hessian_spectrum(f, x_target.to(torch.float64), tols.zero_eig_factor, tols.eps,
                                    where="exact target")
        else:
            info = hessian_spectrum(f, x_best.to(torch.float64), tols.zero_eig_factor, tols.eps)
        checks += list(check_hessian(info))
        if info.method_reason and res.hessian_method == "autograd":
            notes.append(f"Hessian certificate: {info.method_reason}")

    recognised = configurations.recognise(U, tols.config) if finite else None
    configuration = recognised.name if recognised else None

    extras = {}
    if finite and M > d + 1:
        from . import energies

        extras = energies.verify_extras(spec, p, M, d, U, found)

    verdict, reason = decide(cl, spec, M, d, checks, finite, found, target_value, info, res, scale)
    return VerifyReport(
        loss=spec.name, M=M, d=d, params=p, claim=cl.label, verdict=verdict, reason=reason, value=found,
        reference={"name": ref_name, "value": target_value}, grad_norm=gnorm, checks=checks,
        configuration=configuration, seconds=time.perf_counter() - t0, restarts=res.restarts, seed=seed,
        dtype=res.dtype, device=res.device, kind=spec.kind, minima=minima, value_noise=scale.noise, hessian=info, solve=res, notes=notes,
        extras=extras)


def decide(cl: Claim, spec: LossSpec, M: int, d: int, checks: list[CheckResult], finite: bool, found: float,
           target: float, info: HessianInfo | None, res: SolveResult, scale: ValueScale) -> tuple[str, str]:
    """The verdict and its one-line reason, from the measured checks alone."""
    c = {k.name: k for k in checks}

    def failed(name):
        return c[name].passed is False

    if not finite:
        bad = int((~torch.isfinite(res.values) | ~torch.isfinite(res.grad_norms)).sum())
        return "inconclusive", f"non-finite loss or gradient in {bad} of {res.restarts} restarts"

    value_check = c.get("value_vs_target") or c.get("value_vs_simplex_bound")
    # a value strictly below the claimed minimiser's refutes the claim, converged or not: it is a point
    if c.get("value_vs_target") is not None and failed("value_vs_target") and found < target:
        return "refuted", (f"found {found:.12g} < {target:.12g} at the claimed {_claim_words(cl, spec)}: "
                           f"the claimed configuration is not a minimiser")
    if c.get("value_vs_simplex_bound") is not None and failed("value_vs_simplex_bound"):
        return "refuted", (f"found {found:.12g} below the simplex bound {target:.12g}: the lower bound of the "
                           "proof does not hold for this loss")
    if cl.kind == "simplex" and M > d + 1:
        return "refuted", (f"no regular simplex of M={M} points exists in R^{d} (needs d >= {M - 1}); "
                           f"minimum found {found:.12g} vs {target:.12g} at the unreachable simplex")
    if not bool(res.converged.any()):
        from collections import Counter

        why = ", ".join(f"{n} {r}" for r, n in Counter(res.stop_reasons).most_common())
        return "inconclusive", (f"no restart converged ({why}); best value {found:.6g}: the landscape may be too "
                                "flat for float64 here, or more iterations/restarts are needed")
    if failed("gradient_norm"):
        return "inconclusive", (f"not converged: gradient norm {c['gradient_norm'].measured:.2e} > "
                                f"{c['gradient_norm'].tolerance:.0e} ({res.stop_reasons[res.best]})")
    if cl.kind == "value" and failed("value_vs_target"):
        return "inconclusive", (f"no restart reached the claimed value {target:.12g}; the lowest of "
                                f"{res.restarts} is {found:.12g}")

    hess_ok = all(c[n].passed is not False for n in ("hessian_psd", "hessian_zero_count"))
    psd_failed = failed("hessian_psd")
    config_names = [n for n in ("alignment", "gram_deviation") if n in c]
    config_failed = [n for n in config_names if failed(n)]
    degenerate = failed("hessian_zero_count") and info is not None and info.zero_count > info.orbit_dimension

    if value_check is not None and value_check.passed is False and found > target:
        return "inconclusive", (f"restarts did not reach the claimed {_claim_words(cl, spec)}: best "
                                f"{found:.12g} > {target:.12g}; try more restarts")
    if config_failed:
        # The value matches the target (or no target) but the configuration differs.
        dev = ", ".join(f"{n} {c[n].measured:.2e}" for n in config_failed)
        if value_check is not None and value_check.passed and cl.kind != "aligned":
            flat = f"; the Hessian has {info.zero_count - info.orbit_dimension} extra zero eigenvalues" if degenerate else ""
            return "inconclusive", (f"the best value equals the target value to round-off ({value_check.measured:.1e}) "
                                    f"but the configuration differs ({dev}){flat}: minimisers are not unique, "
                                    "or the landscape is too flat to resolve in this precision")
        if hess_ok and not psd_failed:
            return "refuted", (f"a converged minimum with a positive semidefinite Hessian is not the claimed "
                               f"configuration ({dev})")
        return "inconclusive", f"the best point is not the claimed configuration ({dev}) and is not certified as a minimum"
    if failed("uniqueness"):
        return "inconclusive", (f"restarts at the best value found different configurations (sorted inner products "
                                f"differ by {c['uniqueness'].measured:.2e}): the minimiser is not unique up to rotation")
    if psd_failed and c["hessian_psd"].measured is None:
        return "inconclusive", f"no second-order certificate: {c['hessian_psd'].detail}"
    if psd_failed:
        return "inconclusive", f"the best point is a saddle: smallest Hessian eigenvalue {c['hessian_psd'].measured:.2e}"
    if degenerate:
        return "inconclusive", (f"the Hessian has {info.zero_count} zero eigenvalues but the rotation orbit only "
                                f"{info.orbit_dimension} (next {info.gap:.2e}): flat directions beyond rotations, "
                                "either non-unique minimisers or curvature below float64 round-off")
    if failed("hessian_zero_count"):
        return "inconclusive", (f"the Hessian has only {info.zero_count} zero eigenvalues, fewer than the "
                                f"{info.orbit_dimension} of the rotation orbit")
    if failed("restart_agreement"):
        return "inconclusive", f"the best value was not reproduced: {c['restart_agreement'].detail}"
    extra = ""
    minima = distinct_minima(res.values[res.converged], scale)
    if len(minima) > 1:
        extra = f"; {len(minima) - 1} higher local minim{'um' if len(minima) == 2 else 'a'} also found"
    if cl.kind == "aligned":
        order = "a second-order" if c["hessian_psd"].passed else "a (first-order; Hessian not checked)"
        return "confirmed", (f"perfect alignment at {order} critical point, value {found:.12g} "
                             f"(>= simplex bound {target:.12g}){extra}")
    return "confirmed", f"the minimiser is the {_claim_words(cl, spec)}, value {found:.12g}{extra}"


def _claim_words(cl: Claim, spec: LossSpec) -> str:
    if cl.kind == "simplex":
        return "perfect alignment plus a regular simplex" if spec.kind == "pairs" else "regular simplex"
    if cl.kind == "config":
        return f"aligned {cl.config}" if spec.kind == "pairs" else cl.config
    if cl.kind == "value":
        return f"value {cl.value:.12g}"
    return "aligned configuration"
