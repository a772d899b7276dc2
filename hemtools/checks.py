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
  claim_candidates    (when the best restart does not satisfy the claim) the lowest polished configuration
                      satisfying the claim (``candidates``) − the best restart: <= tol, or the claim is beaten

A certificate that cannot be computed (eigensolver failure, non-finite Hessian) is a failed check with its
reason.  The threshold for a "zero" eigenvalue is scale-aware: 1e4 · eps · max|λ| (tolerances.py).

The verdict follows from the checks and is never assumed:
  refuted       a measured fact contradicts the claim (a lower value than the claimed minimiser; a
                converged, second-order-certified minimum that is not the claimed configuration and is
                lower than every polished configuration satisfying the claim; a simplex of M > d+1
                points, which cannot exist);
  confirmed     every applicable check passed;
  inconclusive  anything else (non-finite numbers, no convergence, the target value reached to round-off
                but the configuration not resolved, a Hessian too flat to certify in this precision).
``evidence`` (``establish``) says what a verdict rests on: no restart found a lower value, second-order
minimum, global optimality only where an LP certificate proves it.
Nothing here prints; the CLI renders :class:`VerifyReport`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from .errors import ArgumentError, UserCodeError
from . import configurations, sphere
from .losses.registry import LossSpec, get_loss
from .optim import SolveResult, check_size, solve
from . import candidates as candidates_mod
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
    evidence: dict = field(default_factory=dict)  # what the verdict rests on (``establish``)
    point: Tensor | None = None  # the reported point when it is not a restart (a polished candidate)

    @property
    def exit_code(self) -> int:
        return {"confirmed": 0, "refuted": 1, "inconclusive": 3}[self.verdict]

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        return f"{self.loss} M={self.M} d={self.d} claim={self.claim}: {self.verdict} ({self.reason})"

    def to_dict(self) -> dict:
        pts = self.solve.points[self.solve.best] if self.point is None else self.point
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
            "evidence": dict(self.evidence),
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

    Before a converged non-aligned minimum refutes a claim, the configurations that satisfy the claim
    (``candidates``) are polished and compared with it: the refutation stands only if it is lower than
    every one of them; a lower candidate becomes the reported point.

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

    # round-off of the loss, measured at the exact target when it exists in R^d, else at the best point
    x_noise = x_target if (x_target is not None and d_target == d) else x_best
    scale = ValueScale(tols.value_rel, measure_value_noise(f, x_noise) if finite else math.inf)
    ctx = _Context(spec=spec, cl=cl, M=M, d=d, p=p, f=f, tols=tols, res=res, finite=finite, hessian=hessian,
                   x_target=x_target, d_target=d_target, target_value=target_value, scale=scale)

    at = ctx.assess(x_best, found, gnorm)
    verdict, reason = decide(cl, spec, M, d, at.checks, finite, found, at.target_value, at.info, res, scale)
    notes += at.notes

    # a refutation or a failure to reach the claim is weighed against the polished configurations that
    # satisfy the claim (aligned candidates; the exact target for simplex/config claims)
    cand_check = None
    # a point below the claimed configuration (or below the simplex bound) refutes on its own
    value_refuted = any(k.passed is False and k.measured is not None and k.measured < 0 for k in at.checks
                        if k.name in ("value_vs_target", "value_vs_simplex_bound"))
    if (finite and cl.kind != "value" and not value_refuted
            and _candidates_needed(at.checks, cl, found, at.target_value, scale)):
        cands, cand_notes = ctx.candidates(x_best)
        notes += cand_notes
        chosen = candidates_mod.best_aligned(cands, tols.config) if cands else None
        cand_check = _candidate_check(cands, chosen, found, res.restarts, scale, tols.config)
        if chosen is not None and chosen.value < found - scale.tol(chosen.value, found):
            # a configuration satisfying the claim is lower than every restart: report it
            at = ctx.assess(chosen.points, chosen.value, chosen.grad_norm, from_candidate=chosen)
            x_best, found, gnorm = chosen.points, chosen.value, chosen.grad_norm
            verdict, reason = decide(cl, spec, M, d, at.checks + [cand_check], finite, found, at.target_value,
                                     at.info, res, scale)
            notes += at.notes
        elif verdict == "refuted" and "not the claimed configuration" in reason:
            # the unpolished constructions satisfy the claim too: the refuting minimum must be below them all
            aligned_starts = [(c.start_value, c.name) for c in cands if math.isfinite(c.start_value)]
            low_start = min(aligned_starts) if aligned_starts else None
            if chosen is not None and scale.equal(chosen.value, found):
                verdict, reason = "inconclusive", (
                    f"{reason.split(' (')[0]} but has the same value as the polished {chosen.name} "
                    f"({chosen.value:.12g}): minimisers are not unique, or not resolved in this precision")
            elif low_start is not None and low_start[0] <= found + scale.tol(low_start[0], found):
                verdict, reason = "inconclusive", (
                    f"{reason.split(' (')[0]}, but the {low_start[1]} as constructed (satisfying the claim) is not "
                    f"higher ({low_start[0]:.12g} vs {found:.12g}) and its polish did not stay a configuration "
                    "satisfying the claim: nothing decides")
            else:
                reason += "; lower than every configuration satisfying the claim (" + cand_check.detail.split(
                    "(candidates: ", 1)[-1]
        at.checks.append(cand_check)

    checks = at.checks
    recognised = configurations.recognise(x_best[:M] if spec.kind == "pairs" else x_best, tols.config) if finite else None
    configuration = recognised.name if recognised else None

    extras = {}
    if finite and M > d + 1:
        from . import energies

        extras = energies.verify_extras(spec, p, M, d, x_best[:M] if spec.kind == "pairs" else x_best, found)
    evidence = establish(verdict, cl, spec, checks, at.info, res, found, extras, at.from_candidate)
    return VerifyReport(
        loss=spec.name, M=M, d=d, params=p, claim=cl.label, verdict=verdict, reason=reason, value=found,
        reference={"name": at.target_name or ref_name, "value": at.target_value}, grad_norm=gnorm, checks=checks,
        configuration=configuration, seconds=time.perf_counter() - t0, restarts=res.restarts, seed=seed,
        dtype=res.dtype, device=res.device, kind=spec.kind, minima=distinct_minima(res.values[res.converged], scale),
        value_noise=scale.noise, hessian=at.info, solve=res, notes=notes,
        extras=extras, evidence=evidence, point=x_best if at.from_candidate else None)


def _candidates_needed(checks: list[CheckResult], cl: Claim, found: float, target: float, scale: ValueScale) -> bool:
    """The best restart does not satisfy the claim (not aligned / not the configuration), or is higher
    than the claimed configuration: the configurations satisfying the claim must be weighed."""
    c = {k.name: k for k in checks}
    config_failed = any(c[n].passed is False for n in ("alignment", "gram_deviation") if n in c)
    if cl.kind == "aligned":
        return config_failed
    if cl.kind == "simplex" and "gram_deviation" in c and c["gram_deviation"].passed is None:
        return False  # M > d+1: no simplex to polish
    return config_failed or found > target + scale.tol(found, target)


def _candidate_check(cands, chosen, found: float, n_restarts: int, scale: ValueScale, config_tol: float) -> CheckResult:
    """Lowest polished configuration satisfying the claim − best restart (``claim_candidates``)."""
    def one(c):
        if c.alignment <= config_tol:
            return f"{c.name} {c.value:.10g}"
        return f"{c.name} {c.start_value:.10g} as built (its polish left alignment, to {c.value:.10g})"

    listing = "; ".join(one(c) for c in cands) or "none known for this size"
    if chosen is None:
        return CheckResult("claim_candidates", None, None, None, "",
                           f"no polished configuration satisfying the claim stayed one: {listing}")
    diff = chosen.value - found
    tol = scale.tol(chosen.value, found)
    if diff < -tol:
        words = f"the polished {chosen.name} is lower than every one of the {n_restarts} restarts"
    elif diff <= tol:
        words = f"the polished {chosen.name} has the best restart's value"
    else:
        words = "the best restart is lower than every configuration satisfying the claim"
    return CheckResult("claim_candidates", diff <= tol, diff, tol, "<=", f"{words} (candidates: {listing})")


@dataclass
class _Assessment:
    checks: list[CheckResult]
    info: HessianInfo | None
    target_value: float
    target_name: str | None = None
    notes: list[str] = field(default_factory=list)
    from_candidate: Any = None


@dataclass
class _Context:
    """Everything verify measures a point against (kept out of the public API)."""

    spec: LossSpec
    cl: Claim
    M: int
    d: int
    p: dict
    f: Callable
    tols: Any
    res: SolveResult
    finite: bool
    hessian: bool
    x_target: Tensor | None
    d_target: int
    target_value: float
    scale: ValueScale

    def _polish(self, starts):
        return candidates_mod.polish(self.spec, self.p, self.M, self.d, starts, dtype=self.res.dtype,
                                     device=self.res.device, tol=self.res.tol, config_tol=self.tols.config)

    def candidates(self, x_best: Tensor):
        """Polished configurations that satisfy the claim, and notes on what could not be built."""
        notes = []
        if self.cl.kind == "aligned":
            try:
                starts = candidates_mod.aligned_candidates(self.spec, self.p, self.M, self.d)
            except UserCodeError:
                raise
            except Exception as exc:  # a baseline that cannot be built must not hide the verdict
                notes.append(f"aligned candidates could not all be built ({type(exc).__name__}: {exc})")
                starts = []
            if self.spec.kind == "pairs":
                # the best restart itself made aligned: u_i = v_i = (u_i + v_i)/|u_i + v_i|
                w = x_best[: self.M] + x_best[self.M:]
                n = w.norm(dim=-1, keepdim=True)
                if bool((n > 1e-8).all()):
                    starts.append(("best restart made aligned", w / n))
        else:
            if self.x_target is None or self.d_target != self.d:
                return [], notes
            n = self.M if self.spec.kind == "pairs" else self.x_target.shape[0]
            starts = [(_claim_words(self.cl, self.spec), self.x_target[:n])]
        return self._polish(starts), notes

    def _oriented_bound(self, fixed: float) -> float | None:
        """The loss at the simplex polished in R^{d'} from its constructed orientation, when the loss depends on
        the orientation (its value changes under a random rotation of the target) and the polish keeps the
        aligned simplex; else None."""
        spec, M, dd = self.spec, self.M, self.d_target
        n = M if spec.kind == "pairs" else self.x_target.shape[0]
        q = configurations.random_rotation(dd, torch.Generator().manual_seed(7))
        with torch.no_grad():
            turned = float(self.f((self.x_target.to(torch.float64) @ q).unsqueeze(0))[0])
        if self.scale.equal(turned, fixed):
            return None  # rotation invariant: the bound is what it is
        pol = candidates_mod.polish(spec, self.p, M, dd, [("simplex", self.x_target[:n])], dtype=self.res.dtype,
                                    device=self.res.device, tol=self.res.tol, config_tol=self.tols.config)[0]
        pu = pol.points[:M] if spec.kind == "pairs" else pol.points
        same = float((configurations.fingerprint(pu) - configurations.fingerprint(self.x_target[:n])).abs().max())
        if math.isfinite(pol.value) and pol.alignment <= self.tols.config and same <= self.tols.config:
            return min(pol.value, fixed)
        return None

    def assess(self, x: Tensor, value: float, gnorm: float, from_candidate=None) -> _Assessment:
        """The checks at one point x (the best restart, or a polished candidate)."""
        spec, cl, M, d, tols, scale, res = self.spec, self.cl, self.M, self.d, self.tols, self.scale, self.res
        checks: list[CheckResult] = []
        notes: list[str] = []
        checks.append(check_gradient(gnorm, tols.certificate_grad))
        if from_candidate is not None:
            checks[-1].detail = f"Riemannian gradient norm at the polished {from_candidate.name}"
        if spec.kind == "pairs":
            U, V = x[:M], x[M:]
            checks.append(check_alignment(U, V, tols.config))
        else:
            U = x
        if cl.kind == "simplex":
            if M <= d + 1:
                checks.append(check_gram(U, configurations.simplex_gram(M), tols.config, "anchors vs regular simplex"))
            else:
                checks.append(not_applicable("gram_deviation", f"no regular simplex of {M} points exists in R^{d}"))
        elif cl.kind == "config":
            tgt = self.x_target[:M]
            fp_dev = float((configurations.fingerprint(U) - configurations.fingerprint(tgt)).abs().max())
            checks.append(CheckResult("gram_deviation", fp_dev <= tols.config, fp_dev, tols.config, "<=",
                                      f"max difference of sorted inner products vs {cl.config}"))
        else:
            checks.append(not_applicable("gram_deviation", "the claim names no configuration"))
        config_ok = all(k.passed for k in checks if k.name in ("alignment", "gram_deviation"))

        # The claimed configuration at its one constructed orientation.  A loss that is not invariant under
        # rotations and relabelling (a user term such as 0.01·u_0[0]) is lower at another orientation of
        # the same configuration: compare with the target placed onto the found point and polished there.
        target_value, target_name, x_exact = self.target_value, None, self.x_target
        in_rd = self.x_target is not None and self.d_target == d
        if (in_rd and config_ok and self.finite and cl.kind in ("simplex", "config")
                and value < target_value - scale.tol(value, target_value)):
            n = M if spec.kind == "pairs" else self.x_target.shape[0]
            o = candidates_mod.oriented_target(self.x_target[:n], U, tols.config)
            if o is not None:
                pol = self._polish([("target", o)])[0]
                pu = pol.points[:M] if spec.kind == "pairs" else pol.points
                same = float((configurations.fingerprint(pu) - configurations.fingerprint(self.x_target[:n])).abs().max())
                if math.isfinite(pol.value) and pol.alignment <= tols.config and same <= tols.config:
                    notes.append(f"the loss depends on the orientation of the configuration: the target at its "
                                 f"constructed orientation gives {target_value:.12g}; it is compared at the "
                                 f"orientation of the found minimiser (placed by rotation and relabelling, then "
                                 f"polished: {pol.value:.12g})")
                    target_value, x_exact = pol.value, pol.points
                    target_name = f"{_claim_words(cl, spec)}, oriented as the found minimiser and polished"
        bound_claim = cl.kind == "aligned" or (cl.kind == "simplex" and M > d + 1)
        if (bound_claim and self.finite and self.x_target is not None and math.isfinite(value)
                and value < target_value - scale.tol(value, target_value)):
            # below the simplex bound: for a loss that depends on the orientation the bound is the simplex at
            # its best orientation (polished in R^{d'} from the constructed one), not at the constructed one
            oriented = self._oriented_bound(target_value)
            if oriented is not None:
                notes.append(f"the loss depends on the orientation of the configuration: the simplex bound at the "
                             f"constructed orientation is {target_value:.12g}; at the simplex's best orientation "
                             f"(polished in R^{self.d_target}) it is {oriented:.12g}, which is used")
                target_value = oriented
                target_name = "aligned regular simplex at its best orientation (polished; unreachable bound)"
        if bound_claim:
            vb = check_value_vs_bound(value, target_value, scale)
            if target_name:
                vb.detail += "; simplex at its best orientation (orientation-dependent loss)"
            checks.append(vb)
        else:
            vc = check_value_vs_target(value, target_value, scale)
            if target_name:
                vc.detail += "; target oriented as the found minimiser and polished (orientation-dependent loss)"
            checks.append(vc)

        if from_candidate is None:
            agree, _ = check_restart_agreement(res.values, res.converged, scale)
            checks.append(agree)
            checks.append(check_uniqueness(res.points, res.values, res.converged, scale, tols.config))
        else:
            lower = int((res.values < value).sum())
            checks.append(not_applicable(
                "restart_agreement", f"the best point is the polished {from_candidate.name}, not a restart: "
                f"{lower} of {res.restarts} restarts went lower"))
            checks.append(not_applicable("uniqueness", "the best point is a polished candidate, not a restart"))

        info = None
        n_tangent = spec.n_points(M) * (d - 1)
        if not self.hessian:
            checks += [not_applicable("hessian_psd", "skipped (--no-hessian)"),
                       not_applicable("hessian_zero_count", "skipped (--no-hessian)")]
        elif not self.finite:
            checks += [not_applicable("hessian_psd", "non-finite values"),
                       not_applicable("hessian_zero_count", "non-finite values")]
        elif n_tangent > MAX_DENSE_HESSIAN:
            why = f"tangent dimension {n_tangent} > {MAX_DENSE_HESSIAN}: too large for a dense eigendecomposition"
            checks += [not_applicable("hessian_psd", why), not_applicable("hessian_zero_count", why)]
        else:
            # When the point is the claimed configuration (alignment and Gram checks passed), the certificate
            # is computed at the exactly constructed target, where the gradient vanishes to round-off and the
            # curvature of flat landscapes (small τ) is resolved in relative precision (SPEC §3 quotes spectra
            # measured there).  Otherwise at the point itself.
            matched = in_rd and cl.kind != "aligned" and config_ok
            where = "exact target" if matched else ("polished candidate" if from_candidate else "best restart")
            if matched and target_name:
                where = "target oriented as the found minimiser"
            xh = (x_exact if matched else x).to(torch.float64)
            info, failure = _hessian_or_failure(self.f, xh, tols, where)
            if info is not None and info.method_reason and res.hessian_method != "differences":
                notes.append(f"Hessian certificate: {info.method_reason}")
            if info is not None:
                psd, zc = check_hessian(info)
                if target_name and matched and info.zero_count < info.orbit_dimension:
                    # the loss is not invariant under O(d) (it depends on the orientation): its symmetry orbit is
                    # smaller, so fewer zero eigenvalues than dim O(d)-orbit is what a strict minimum shows
                    zc = CheckResult("hessian_zero_count", None, float(info.zero_count), float(info.orbit_dimension),
                                     "", f"{info.zero_count} zero eigenvalues, fewer than the {info.orbit_dimension} of "
                                     "the O(d) orbit: the loss depends on the orientation, so its symmetry orbit is "
                                     "smaller and the O(d) count does not apply")
                checks += [psd, zc]
            else:
                checks += [CheckResult("hessian_psd", False, None, None, "", failure),
                           CheckResult("hessian_zero_count", False, None, None, "", failure)]
        return _Assessment(checks, info, target_value, target_name, notes, from_candidate)


def _hessian_or_failure(f, x: Tensor, tols, where: str) -> tuple[HessianInfo | None, str]:
    """The Hessian certificate, or the reason it could not be computed: a failing certificate is a failed
    check, never a crash that swallows what the other checks already decide."""
    try:
        info = hessian_spectrum(f, x, tols.zero_eig_factor, tols.eps, where=where)
    except UserCodeError:
        raise
    except Exception as exc:  # eigensolver failure, non-finite second derivatives, ...
        return None, f"Hessian at the {where} could not be computed ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    if getattr(info, "failure", None):
        return None, info.failure
    vals = torch.tensor(info.eigenvalues, dtype=torch.float64)
    if not bool(torch.isfinite(vals).all()) or not math.isfinite(info.threshold):
        return None, f"Hessian at the {where} is not finite: no second-order certificate"
    return info, ""


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
    if failed("hessian_zero_count") and info is None:
        return "inconclusive", f"no second-order certificate: {c['hessian_zero_count'].detail}"
    if failed("hessian_zero_count"):
        return "inconclusive", (f"the Hessian has only {info.zero_count} zero eigenvalues, fewer than the "
                                f"{info.orbit_dimension} of the rotation orbit")
    if failed("restart_agreement"):
        return "inconclusive", f"the best value was not reproduced: {c['restart_agreement'].detail}"
    extra = ""
    minima = distinct_minima(res.values[res.converged], scale)
    cc = c.get("claim_candidates")
    if cc is not None and cc.passed and cc.measured is not None and cc.measured < -cc.tolerance:
        # the reported point is a polished configuration satisfying the claim, lower than every restart
        extra = (f"; reached by polishing {cc.detail.split(' is lower')[0].replace('the polished ', 'the ')}, "
                 f"lower than all {res.restarts} restarts (best restart {found - cc.measured:.12g})")
    elif len(minima) > 1:
        extra = f"; {len(minima) - 1} higher local minim{'um' if len(minima) == 2 else 'a'} also found"
    if cl.kind == "aligned":
        order = "a second-order" if c["hessian_psd"].passed else "a (first-order; Hessian not checked)"
        return "confirmed", (f"perfect alignment at {order} critical point, value {found:.12g} "
                             f"(>= simplex bound {target:.12g}){extra}")
    return "confirmed", f"the minimiser is the {_claim_words(cl, spec)}, value {found:.12g}{extra}"


def establish(verdict: str, cl: Claim, spec: LossSpec, checks: list[CheckResult], info: HessianInfo | None,
              res: SolveResult, found: float, extras: Mapping, from_candidate=None) -> dict:
    """What a verdict rests on, in words (the JSON ``evidence`` field and the ``evidence`` lines).

    Random restarts cannot exclude a narrow basin that all of them missed: a confirmation says that no
    restart found a lower value and that the point is a second-order minimum; global optimality is stated
    only where a certificate proves it (the Delsarte–Yudin LP bound of ``energies.verify_extras``).
    """
    c = {k.name: k for k in checks}
    R = res.restarts
    if from_candidate is not None:
        search = (f"the reported point is the polished {from_candidate.name}, {found:.12g}; none of the {R} random "
                  f"restarts (seed {res.seed}) found a lower value")
    else:
        search = f"no restart of {R} (seed {res.seed}) found a value below {found:.12g}"
    psd, zc = c.get("hessian_psd"), c.get("hessian_zero_count")
    if psd is None or psd.passed is None:
        second = f"no second-order certificate ({psd.detail if psd is not None else 'not computed'})"
    elif psd.passed and zc is not None and zc.passed is None:
        second = f"Hessian positive semidefinite at the {info.where} ({zc.detail})"
    elif psd.passed and zc is not None and zc.passed:
        second = (f"second-order minimum: Hessian positive semidefinite, its {info.zero_count} zero eigenvalues "
                  f"are the rotation orbit (at the {info.where})")
    elif psd.passed:
        second = "Hessian positive semidefinite, but its zero eigenvalues do not match the rotation orbit"
    elif psd.measured is None:
        second = f"no second-order certificate: {psd.detail}"
    else:
        second = f"not a second-order minimum: smallest Hessian eigenvalue {psd.measured:.2e}"
    lp = extras.get("lp_bound") if isinstance(extras, Mapping) else None
    if isinstance(lp, Mapping) and lp.get("certified_global_minimum"):
        glob = (f"the {lp.get('kernel')} energy of the anchors is certified globally minimal by the "
                f"Delsarte–Yudin LP bound (relative gap {lp.get('gap_found', float('nan')):.1e})"
                + ("" if spec.name in ("riesz_energy", "log_energy", "gaussian_energy") else
                   "; for the whole loss global optimality is not proved here"))
    else:
        glob = ("global optimality is not proved by this run: random restarts cannot exclude a narrow basin that "
                "all of them missed (only an LP certificate, where reported, proves it)")
    summary = "; ".join([search, second, glob])
    return {"verdict": verdict, "search": search, "second_order": second, "global_optimality": glob,
            "restarts": R, "summary": summary}


def _claim_words(cl: Claim, spec: LossSpec) -> str:
    if cl.kind == "simplex":
        return "perfect alignment plus a regular simplex" if spec.kind == "pairs" else "regular simplex"
    if cl.kind == "config":
        return f"aligned {cl.config}" if spec.kind == "pairs" else cl.config
    if cl.kind == "value":
        return f"value {cl.value:.12g}"
    return "aligned configuration"
