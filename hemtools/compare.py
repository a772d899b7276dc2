"""Compare an implementation of a loss with a reference: values and Riemannian gradients, case by case.

``compare(loss, reference, Ms, ds)`` evaluates both losses on the same configurations, for every (M, d):

  random        ``trials`` configurations of i.i.d. uniform points (U and V independent), and ``trials``
                with correlated views V = R(U + 0.5 ξ), the inputs a training run sees;
  near optimum  ``trials`` small tangent perturbations (size 1e-2) of the optimum;
  optimum       the reference's minimiser: the aligned regular simplex when M <= d+1 and the reference
                claims it, otherwise the best of two solver restarts on the reference; randomly rotated.

and measures, at each configuration,

  value     |f(x) − g(x)|            <= max(rtol · max(|f|, |g|), atol, 10 · (noise_f + noise_g))
  gradient  ‖grad f(x) − grad g(x)‖  <= max(rtol · max(‖grad f‖, ‖grad g‖), atol, 10 · (gnoise_f + gnoise_g))

Gradients are Riemannian (projected on the tangent space, SPEC §3): the sphere is where both losses are
defined, and libraries that normalise their inputs have no radial gradient.  The noise terms are measured,
not assumed: the spread of the value (of the gradient) under perturbations of x at 1e-14, i.e. the
round-off of each implementation at that point (checks.measure_value_noise).  ``rtol`` (default 1e-12,
about 4500 ulp) allows for the different but exact formulas of two correct implementations (log-sum-exp
or not, the order of the sums over 2M terms); every mutant in tests/test_mutants.py differs by > 1e-4.
``atol`` (default 1e-13) is the absolute round-off of the library-standard form log(e^{pos}/Σ e^{·}): it
rounds the ratio to eps before the log, so a loss near its minimum (~e^{−M/((M−1)τ)}, tiny at small τ) is
computed to an absolute eps · max|logit| ≈ 2e-14 at τ = 0.01, not to relative precision.  Measured: pml's
NTXentLoss differs from nt_xent by 1.4e-16 at the optimum for τ = 0.1, where the loss is 3e-7 and the
perturbation noise of its quantised output reads 0.  The perturbation noise alone misses such quantisation.

Both losses get the same parameters unless given separately.  Nothing here prints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from . import configurations, sphere
from .checks import _jsonable, _num, measure_value_noise  # JSON helpers shared with verify
from .errors import ArgumentError
from .losses.registry import LossSpec, get_loss
from .optim import check_size

Tensor = torch.Tensor

NEAR_OPTIMUM_STEP = 1e-2
CORRELATED_NOISE = 0.5
DEFAULT_RTOL = 1e-12
DEFAULT_ATOL = 1e-13


@dataclass
class Case:
    """One configuration at which both losses were evaluated."""

    where: str  # "random" | "correlated" | "near optimum" | "optimum"
    M: int
    d: int
    trial: int
    value_loss: float
    value_reference: float
    value_diff: float
    value_tol: float
    grad_loss: float  # ‖grad f‖
    grad_reference: float
    grad_diff: float  # ‖grad f − grad g‖
    grad_tol: float
    points: Tensor = field(repr=False)  # stacked [U; V] (or X), (N, d)

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.value_loss, self.value_reference, self.grad_diff))

    @property
    def value_mismatch(self) -> bool:
        return not (self.value_diff <= self.value_tol)  # NaN counts as a mismatch

    @property
    def grad_mismatch(self) -> bool:
        return not (self.grad_diff <= self.grad_tol)

    @property
    def mismatch(self) -> bool:
        return self.value_mismatch or self.grad_mismatch

    @property
    def severity(self) -> float:
        """max(value_diff / value_tol, grad_diff / grad_tol): > 1 is a mismatch."""
        def r(a, b):
            if not math.isfinite(a):
                return math.inf
            return a / b if b > 0 else (math.inf if a > 0 else 0.0)
        return max(r(self.value_diff, self.value_tol), r(self.grad_diff, self.grad_tol))

    def to_dict(self, with_points: bool = False, kind: str = "pairs") -> dict:
        out = {k: _num(getattr(self, k)) if isinstance(getattr(self, k), float) else getattr(self, k)
               for k in ("where", "M", "d", "trial", "value_loss", "value_reference", "value_diff", "value_tol",
                         "grad_loss", "grad_reference", "grad_diff", "grad_tol")}
        out.update(severity=_num(self.severity), mismatch=self.mismatch, value_mismatch=self.value_mismatch,
                   grad_mismatch=self.grad_mismatch)
        if with_points:
            x = self.points
            out["points"] = ({"U": x[: self.M].tolist(), "V": x[self.M:].tolist()} if kind == "pairs"
                             else {"X": x.tolist()})
        return out


@dataclass
class CompareReport:
    loss: str
    reference: str
    params_loss: dict
    params_reference: dict
    kind: str
    Ms: list[int]
    ds: list[int]
    trials: int
    seed: int
    rtol: float
    atol: float
    verdict: str  # "match" | "mismatch" | "inconclusive"
    reason: str
    cases: list[Case]
    seconds: float

    @property
    def exit_code(self) -> int:
        return {"match": 0, "mismatch": 1, "inconclusive": 3}[self.verdict]

    def worst(self, k: int = 5) -> list[Case]:
        return sorted(self.cases, key=lambda c: -c.severity)[:k]

    def by_where(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for c in self.cases:
            s = out.setdefault(c.where, {"cases": 0, "mismatches": 0, "max_value_diff": 0.0, "max_grad_diff": 0.0,
                                         "max_severity": 0.0})
            s["cases"] += 1
            s["mismatches"] += int(c.mismatch)
            s["max_value_diff"] = max(s["max_value_diff"], c.value_diff) if math.isfinite(c.value_diff) else math.inf
            s["max_grad_diff"] = max(s["max_grad_diff"], c.grad_diff) if math.isfinite(c.grad_diff) else math.inf
            s["max_severity"] = max(s["max_severity"], c.severity)
        return out

    def summary(self) -> str:
        return f"{self.loss} vs {self.reference}: {self.verdict} ({self.reason})"

    def to_dict(self, top: int = 5) -> dict:
        return {
            "loss": self.loss, "reference": self.reference, "params_loss": _jsonable(self.params_loss),
            "params_reference": _jsonable(self.params_reference), "kind": self.kind, "M": self.Ms, "d": self.ds,
            "trials": self.trials, "seed": self.seed, "rtol": self.rtol, "atol": self.atol, "verdict": self.verdict,
            "reason": self.reason, "seconds": self.seconds,
            "summary": {w: {k: _num(v) if isinstance(v, float) else v for k, v in s.items()}
                        for w, s in self.by_where().items()},
            "worst": [c.to_dict(with_points=True, kind=self.kind) for c in self.worst(top)],
            "cases": [c.to_dict() for c in self.cases],
        }


# --------------------------------------------------------------------------------------------------------
# measurements


def _gradient_and_noise(f: Callable[[Tensor], Tensor], x: Tensor, samples: int = 4) -> tuple[float, Tensor, float]:
    """(f(x), Riemannian gradient at x, its round-off: max_k ‖grad(R(x + 1e-14 ξ_k)) − grad(x)‖)."""
    gen = torch.Generator().manual_seed(54321)
    xs = torch.cat([x.unsqueeze(0),
                    sphere.normalize(x.unsqueeze(0) + 1e-14 * torch.randn((samples,) + tuple(x.shape), generator=gen,
                                                                           dtype=x.dtype))])
    val, g = sphere.riemannian_gradient(f, xs)
    spread = sphere.norm(g[1:] - g[:1]).max()
    return float(val[0]), g[0], float(spread) if bool(torch.isfinite(spread)) else math.inf


def measure_case(f: Callable, g: Callable, x: Tensor, rtol: float, atol: float, where: str, M: int, d: int,
                 trial: int) -> Case:
    """Evaluate both objectives (on stacked points) at x (N, d) and compare value and gradient."""
    vf, gf, gnf = _gradient_and_noise(f, x)
    vg, gg, gng = _gradient_and_noise(g, x)
    nf = measure_value_noise(f, x)
    ng = measure_value_noise(g, x)
    value_diff = abs(vf - vg) if (math.isfinite(vf) and math.isfinite(vg)) else (0.0 if vf == vg else math.inf)
    value_tol = max(rtol * max(abs(vf), abs(vg)), atol, 10.0 * (nf + ng))
    ngf, ngg = float(sphere.norm(gf)), float(sphere.norm(gg))
    gd = sphere.norm(gf - gg)
    grad_diff = float(gd) if bool(torch.isfinite(gd)) else math.inf
    grad_tol = max(rtol * max(ngf, ngg), atol, 10.0 * (gnf + gng))
    if not math.isfinite(value_tol):
        value_tol = 0.0
    if not math.isfinite(grad_tol):
        grad_tol = 0.0
    return Case(where, M, d, trial, vf, vg, value_diff, value_tol, ngf, ngg, grad_diff, grad_tol, x.detach().clone())


def optimum(spec: LossSpec, M: int, d: int, params: Mapping[str, Any], seed: int) -> tuple[Tensor, str]:
    """The reference's minimiser, (N, d): the aligned simplex when claimed and it exists, else solved."""
    if spec.minimiser in ("aligned_simplex", "simplex") and M <= d + 1:
        x = configurations.regular_simplex(M, d)
        return (torch.cat([x, x]) if spec.kind == "pairs" else x), "simplex"
    from .optim import solve

    res = solve(spec, M, d, params=params, restarts=2, seed=seed)
    return res.points[res.best].to(torch.float64), f"solved (gradient {float(res.grad_norms[res.best]):.1e})"


def configurations_for(spec: LossSpec, M: int, d: int, params: Mapping[str, Any], trials: int,
                       gen: torch.Generator, seed: int) -> list[tuple[str, int, Tensor]]:
    """The (where, trial, x) at which both losses are compared, for one (M, d)."""
    n = spec.n_points(M)
    out = []
    for t, x in enumerate(sphere.random_points(trials, n, d, generator=gen)):
        out.append(("random", t, x))
    if spec.kind == "pairs":
        U = sphere.random_points(trials, M, d, generator=gen)
        V = sphere.normalize(U + CORRELATED_NOISE * torch.randn(U.shape, generator=gen, dtype=U.dtype))
        for t in range(trials):
            out.append(("correlated", t, torch.cat([U[t], V[t]])))
    x_opt, _ = optimum(spec, M, d, params, seed)
    Q = configurations.random_rotation(d, gen).to(x_opt.dtype)
    x_opt = x_opt @ Q
    for t in range(trials):
        xi = sphere.project(x_opt, torch.randn(x_opt.shape, generator=gen, dtype=x_opt.dtype))
        xi = xi * (NEAR_OPTIMUM_STEP / float(sphere.norm(xi)))
        out.append(("near optimum", t, sphere.retract(x_opt, xi)))
    out.append(("optimum", 0, x_opt))
    return out


def _sizes(values: Sequence, what: str) -> list[int]:
    if isinstance(values, int):
        values = [values]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ArgumentError(f"{what}: expected integers, got {v!r}")
        out.append(v)
    if not out:
        raise ArgumentError(f"{what}: expected at least one value")
    return out


def compare(loss: str | LossSpec | Callable, reference: str | LossSpec | Callable, Ms: Sequence[int] | int = (3, 5),
            ds: Sequence[int] | int = (3, 8), *, trials: int = 3, params: Mapping[str, Any] | None = None,
            params_loss: Mapping[str, Any] | None = None, params_reference: Mapping[str, Any] | None = None,
            seed: int = 0, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL, dtype="float64") -> CompareReport:
    """Evaluate ``loss`` and ``reference`` on the same configurations and compare values and gradients.

    ``params`` go to both losses; ``params_loss`` / ``params_reference`` to one side only (and override).
    Raises ArgumentError for bad arguments (before any computation), UserCodeError for errors in user code.
    """
    t0 = time.perf_counter()
    if dtype not in ("float64", torch.float64):
        raise ArgumentError(f"dtype: compare runs in float64 only, got {dtype!r}")
    a, b = get_loss(loss), get_loss(reference)
    if a.kind != b.kind:
        raise ArgumentError(f"reference: {b.name} acts on {b.kind}, {a.name} on {a.kind}: they cannot be compared")
    Ms, ds = _sizes(Ms, "M"), _sizes(ds, "d")
    for M in Ms:
        for d in ds:
            check_size(M, d)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ArgumentError(f"trials: expected an integer >= 1, got {trials!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ArgumentError(f"seed: expected an integer >= 0, got {seed!r}")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, bool) or not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise ArgumentError(f"{name}: expected a finite number >= 0, got {tol!r}")
    pa = a.resolve_params({**dict(params or {}), **dict(params_loss or {})})
    pb = b.resolve_params({**dict(params or {}), **dict(params_reference or {})})

    gen = torch.Generator().manual_seed(seed)
    cases: list[Case] = []
    for M in Ms:
        for d in ds:
            f, g = a.objective(M, pa), b.objective(M, pb)
            for where, t, x in configurations_for(b, M, d, pb, trials, gen, seed):
                cases.append(measure_case(f, g, x.to(torch.float64), float(rtol), float(atol), where, M, d, t))

    bad = [c for c in cases if c.mismatch]
    nonfinite = [c for c in cases if not c.finite]
    both_nonfinite = [c for c in nonfinite if not math.isfinite(c.value_loss) and not math.isfinite(c.value_reference)]
    if bad and len(both_nonfinite) < len(bad):
        w = max(bad, key=lambda c: c.severity)
        what = "value" if w.value_mismatch else "gradient"
        diff, tol = (w.value_diff, w.value_tol) if w.value_mismatch else (w.grad_diff, w.grad_tol)
        verdict, reason = "mismatch", (f"{len(bad)} of {len(cases)} configurations differ; worst: {what} differs by "
                                       f"{diff:.3g} > {tol:.2g} ({w.where}, M={w.M}, d={w.d}, trial {w.trial})")
    elif both_nonfinite:
        verdict, reason = "inconclusive", f"both losses are non-finite at {len(both_nonfinite)} configurations"
    else:
        worst_v = max(c.value_diff for c in cases)
        worst_g = max(c.grad_diff for c in cases)
        verdict, reason = "match", (f"all {len(cases)} configurations agree; largest differences: value "
                                    f"{worst_v:.2g}, gradient {worst_g:.2g}")
    return CompareReport(loss=a.name, reference=b.name, params_loss=pa, params_reference=pb, kind=a.kind, Ms=Ms,
                         ds=ds, trials=trials, seed=seed, rtol=float(rtol), atol=float(atol), verdict=verdict, reason=reason,
                         cases=cases, seconds=time.perf_counter() - t0)
