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

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from . import configurations, sphere
from .checks import measure_value_noise
from .errors import ArgumentError
from .losses.registry import LossSpec, get_loss
from .losses.spec import check_deterministic
from .optim import check_size
from .results import EXIT_CODES, Comparison, ResultType, jsonable_params, tagged
from .results import number as _num
from .validators import require_int

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
    # False where the reference has no derivative at this point (measured by reference_has_no_derivative):
    # the gradients are then not compared, the values still are
    grad_comparable: bool = True

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.value_loss, self.value_reference, self.grad_diff))

    @property
    def value_mismatch(self) -> bool:
        return not (self.value_diff <= self.value_tol)  # NaN counts as a mismatch

    @property
    def grad_mismatch(self) -> bool:
        return self.grad_comparable and not (self.grad_diff <= self.grad_tol)

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
        grad = r(self.grad_diff, self.grad_tol) if self.grad_comparable else 0.0
        return max(r(self.value_diff, self.value_tol), grad)

    def to_dict(self, with_points: bool = False, layout: str = "pairs") -> dict:
        out = {k: _num(getattr(self, k)) if isinstance(getattr(self, k), float) else getattr(self, k)
               for k in ("where", "M", "d", "trial", "value_loss", "value_reference", "value_diff", "value_tol",
                         "grad_loss", "grad_reference", "grad_diff", "grad_tol")}
        out.update(severity=_num(self.severity), mismatch=self.mismatch, value_mismatch=self.value_mismatch,
                   grad_mismatch=self.grad_mismatch, grad_comparable=self.grad_comparable)
        if with_points:
            x = self.points
            out["points"] = ({"U": x[: self.M].tolist(), "V": x[self.M:].tolist()} if layout == "pairs"
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
    verdict: Comparison
    reason: str
    cases: list[Case]
    seconds: float
    diagnostics: list[str] = field(default_factory=list)  # on a mismatch: what the differences look like

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def worst(self, k: int = 5) -> list[Case]:
        return sorted(self.cases, key=lambda c: -c.severity)[:k]

    def by_where(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for c in self.cases:
            s = out.setdefault(c.where, {"cases": 0, "mismatches": 0, "max_value_diff": 0.0, "max_grad_diff": 0.0,
                                         "max_severity": 0.0, "not_comparable": 0})
            s["cases"] += 1
            s["mismatches"] += int(c.mismatch)
            s["not_comparable"] += int(not c.grad_comparable)
            s["max_value_diff"] = max(s["max_value_diff"], c.value_diff) if math.isfinite(c.value_diff) else math.inf
            if c.grad_comparable:
                s["max_grad_diff"] = max(s["max_grad_diff"], c.grad_diff) if math.isfinite(c.grad_diff) else math.inf
            s["max_severity"] = max(s["max_severity"], c.severity)
        return out

    def summary(self) -> str:
        return f"{self.loss} vs {self.reference}: {self.verdict} ({self.reason})"

    def to_dict(self, top: int = 5) -> dict:
        return tagged(ResultType.COMPARE, {
            "loss": self.loss, "reference": self.reference, "params_loss": jsonable_params(self.params_loss),
            "params_reference": jsonable_params(self.params_reference), "kind": self.kind, "M": self.Ms, "d": self.ds,
            "trials": self.trials, "seed": self.seed, "rtol": self.rtol, "atol": self.atol, "verdict": self.verdict,
            "reason": self.reason, "seconds": self.seconds, "diagnostics": list(self.diagnostics),
            "summary": {w: {k: _num(v) if isinstance(v, float) else v for k, v in s.items()}
                        for w, s in self.by_where().items()},
            "worst": [c.to_dict(with_points=True, layout=self.kind) for c in self.worst(top)],
            "cases": [c.to_dict() for c in self.cases],
        })


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


KINK_STEPS = (1e-3, 1e-5)


def reference_has_no_derivative(g: Callable[[Tensor], Tensor], x: Tensor, directions: int = 3) -> bool:
    """Measured: does g have no derivative at x?  Along seeded random unit tangent directions ξ, the symmetric
    second difference over the step, q(h) = |g(R(x + hξ)) + g(R(x − hξ)) − 2 g(x)| / h, tends to 0 where g is
    differentiable (like h for a C² function, h^α for C^{1,α}) and to a positive number (a kink, |ξ|-like) or
    infinity (a cusp) where it is not.  No derivative: q(1e-5) >= ½ q(1e-3) in some direction, with q(1e-5)
    far above the round-off of the values (1e3 · eps · max(1, |g|) / 1e-5)."""
    gen = torch.Generator().manual_seed(2468)
    x = x.to(torch.float64)
    pts = [x]
    for _ in range(directions):
        xi = sphere.project(x, torch.randn(x.shape, generator=gen, dtype=x.dtype))
        xi = xi / sphere.norm(xi)
        for h in KINK_STEPS:
            pts += [sphere.retract(x, h * xi), sphere.retract(x, -h * xi)]
    with torch.no_grad():
        v = g(torch.stack(pts))
    if not bool(torch.isfinite(v).all()):
        return False
    v = v.tolist()
    v0 = v[0]
    noise = 1e3 * 2.2e-16 * max(1.0, abs(v0)) / KINK_STEPS[-1]
    for k in range(directions):
        q = [abs(v[1 + 4 * k + 2 * j] + v[2 + 4 * k + 2 * j] - 2 * v0) / h for j, h in enumerate(KINK_STEPS)]
        if q[1] > noise and q[1] >= 0.5 * q[0]:
            return True
    return False


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
    comparable = True
    if not (grad_diff <= grad_tol) and math.isfinite(vg):
        # a gradient that differs (or is NaN) where the reference has no derivative is not a mismatch
        comparable = not reference_has_no_derivative(g, x)
    return Case(where, M, d, trial, vf, vg, value_diff, value_tol, ngf, ngg, grad_diff, grad_tol, x.detach().clone(),
                grad_comparable=comparable)


def optimum(spec: LossSpec, M: int, d: int, params: Mapping[str, Any], seed: int,
            progress: Callable[[str], None] | None = None) -> tuple[Tensor, str]:
    """The reference's minimiser, (N, d): the aligned simplex when claimed and it exists, else solved (two
    restarts; ``progress`` gets a line before and after, since this can take minutes)."""
    if spec.minimiser in ("aligned_simplex", "simplex") and M <= d + 1:
        x = configurations.regular_simplex(M, d)
        return (torch.cat([x, x]) if spec.kind == "pairs" else x), "simplex"
    from .optim import solve

    why = "M > d+1: no simplex" if spec.minimiser in ("aligned_simplex", "simplex") else "no claimed minimiser"
    if progress is not None:
        progress(f"compare: solving {spec.name} for its minimiser at M={M}, d={d} ({why}; 2 restarts) ...")
    t0 = time.perf_counter()
    res = solve(spec, M, d, params=params, restarts=2, seed=seed)
    if progress is not None:
        progress(f"compare: solved {spec.name} at M={M}, d={d} in {time.perf_counter() - t0:.1f} s")
    return res.points[res.best].to(torch.float64), f"solved (gradient {float(res.grad_norms[res.best]):.1e})"


def configurations_for(spec: LossSpec, M: int, d: int, params: Mapping[str, Any], trials: int,
                       gen: torch.Generator, seed: int,
                       progress: Callable[[str], None] | None = None) -> list[tuple[str, int, Tensor]]:
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
    x_opt, _ = optimum(spec, M, d, params, seed, progress)
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
            seed: int = 0, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL, dtype="float64",
            progress: Callable[[str], None] | None = None) -> CompareReport:
    """Evaluate ``loss`` and ``reference`` on the same configurations and compare values and gradients.

    ``params`` go to both losses; ``params_loss`` / ``params_reference`` to one side only (and override).
    ``progress`` (e.g. a writer to stderr) gets a line when the reference's minimiser must be solved.
    Raises ArgumentError for bad arguments (before any computation), UserCodeError for errors in user code.
    """
    t0 = time.perf_counter()
    if dtype not in ("float64", torch.float64):
        raise ArgumentError(f"dtype: compare runs in float64 only, got {dtype!r}")
    a, b = get_loss(loss), get_loss(reference)
    # A user loss that computes in float32 is still compared (its result cast to float64, said in the
    # diagnostics); verify refuses it (LossSpec.cast_lower_precision stays None there).
    cast: dict[str, set[str]] = {"loss": set(), "reference": set()}
    if a.user_code:
        a = dataclasses.replace(a, cast_lower_precision=cast["loss"].add)
    if b.user_code:
        b = dataclasses.replace(b, cast_lower_precision=cast["reference"].add)
    if a.kind != b.kind:
        raise ArgumentError(f"reference: {b.name} acts on {b.kind}, {a.name} on {a.kind}: they cannot be compared")
    Ms, ds = _sizes(Ms, "M"), _sizes(ds, "d")
    for M in Ms:
        for d in ds:
            check_size(M, d)
    require_int("trials", trials, 1)
    require_int("seed", seed, 0)
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, bool) or not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise ArgumentError(f"{name}: expected a finite number >= 0, got {tol!r}")
    pa = a.resolve_params({**dict(params or {}), **dict(params_loss or {})})
    pb = b.resolve_params({**dict(params or {}), **dict(params_reference or {})})
    # noise would be measured as round-off and widen the tolerances into a match
    rechecks = [check_deterministic(spec, Ms[0], ds[0], p) for spec, p in ((a, pa), (b, pb))]

    gen = torch.Generator().manual_seed(seed)
    cases: list[Case] = []
    for M in Ms:
        for d in ds:
            f, g = a.objective(M, pa), b.objective(M, pb)
            for where, t, x in configurations_for(b, M, d, pb, trials, gen, seed, progress):
                cases.append(measure_case(f, g, x.to(torch.float64), float(rtol), float(atol), where, M, d, t))
    for recheck in rechecks:  # state kept between calls changed a loss during the comparison
        recheck()

    bad = [c for c in cases if c.mismatch]
    nonfinite = [c for c in cases if not c.finite]
    both_nonfinite = [c for c in nonfinite if not math.isfinite(c.value_loss) and not math.isfinite(c.value_reference)]
    not_comparable = [c for c in cases if not c.grad_comparable]
    diagnostics: list[str] = []
    if bad and len(both_nonfinite) < len(bad):
        w = max(bad, key=lambda c: c.severity)
        what = "value" if w.value_mismatch else "gradient"
        diff, tol = (w.value_diff, w.value_tol) if w.value_mismatch else (w.grad_diff, w.grad_tol)
        if w.value_mismatch and not (math.isfinite(w.value_loss) and math.isfinite(w.value_reference)):
            worst = f"value {w.value_loss:.6g} (loss) vs {w.value_reference:.6g} (reference)"
        else:
            worst = f"{what} differs by {diff:.3g} > {tol:.2g}"
        verdict, reason = (
            Comparison.MISMATCH,
            f"{len(bad)} of {len(cases)} configurations differ; worst: {worst} ({w.where}, M={w.M}, d={w.d}, "
            f"trial {w.trial})",
        )
        diagnostics = diagnose(
            a, b, pa, pb, dict(params or {}), dict(params_reference or {}), cases, float(rtol), float(atol)
        )
    elif both_nonfinite:
        verdict, reason = Comparison.INCONCLUSIVE, f"both losses are non-finite at {len(both_nonfinite)} configurations"
    else:
        worst_v = max(c.value_diff for c in cases)
        worst_g = max((c.grad_diff for c in cases if c.grad_comparable), default=0.0)
        verdict, reason = (
            Comparison.MATCH,
            (
                f"all {len(cases)} configurations agree; largest differences: value "
                f"{worst_v:.2g}, gradient {worst_g:.2g}"
            ),
        )
        if not_comparable:
            reason += (
                f"; gradients not compared at {len(not_comparable)} configuration"
                f"{'s' if len(not_comparable) > 1 else ''} where the reference has no derivative "
                f"({', '.join(sorted({c.where for c in not_comparable}))}; values compared)"
            )
    diagnostics = [
        f"the {'implementation' if side == 'loss' else 'reference'} returns {', '.join(sorted(dtypes))} for "
        "float64 inputs: its values were cast to float64 for this comparison (verify refuses it: evaluate it in "
        "float64)" for side, dtypes in cast.items() if dtypes] + diagnostics
    return CompareReport(
        loss=a.name,
        reference=b.name,
        params_loss=pa,
        params_reference=pb,
        kind=a.kind,
        Ms=Ms,
        ds=ds,
        trials=trials,
        seed=seed,
        rtol=float(rtol),
        atol=float(atol),
        verdict=verdict,
        reason=reason,
        cases=cases,
        seconds=time.perf_counter() - t0,
        diagnostics=diagnostics,
    )


# --------------------------------------------------------------------------------------------------------
# diagnostics of a mismatch

FLOAT32_EPS = 2.0**-23


def _on_float32_grid(v: float) -> bool:
    return float(torch.tensor(v, dtype=torch.float64).to(torch.float32).to(torch.float64)) == v


def _differences(cases: Sequence[Case]) -> tuple[list[float], list[float]]:
    """(relative differences where the scale is > 1e-3, absolute differences where it is not), over values
    (|Δ| / max(|f|, |g|)) and gradients (‖Δ‖ / max(‖grad f‖, ‖grad g‖)); gradients only where comparable."""
    rel, small = [], []
    for c in cases:
        for diff, scale in (
            (c.value_diff, max(abs(c.value_loss), abs(c.value_reference))),
            (c.grad_diff if c.grad_comparable else math.nan, max(c.grad_loss, c.grad_reference)),
        ):
            if not (math.isfinite(diff) and math.isfinite(scale)):
                continue
            (rel if scale > 1e-3 else small).append(diff / scale if scale > 1e-3 else diff)
    return rel, small


def _power_of_ten_above(x: float) -> float:
    return 10.0 ** math.ceil(math.log10(2.0 * x)) if x > 0 else 0.0


def float32_evidence(cases: Sequence[Case]) -> tuple[str, float, float] | None:
    """(evidence, rtol, atol that fit) when the implementation computes in single precision, else None.

    Two signatures, both measured: every value it returns lies on the float32 grid (a float64 number has a
    chance of 2^-29 to), or the relative differences are all in the band of float32 round-off
    (1e-9 .. 1e-5, eps32 = 1.2e-7) — intermediates in float32, the result cast back.  The tolerances that fit
    are the powers of ten above twice the largest relative difference (scales > 1e-3) and twice the largest
    absolute one (smaller scales: gradients at the optimum)."""
    vals = [c.value_loss for c in cases if math.isfinite(c.value_loss) and c.value_loss != 0]
    rel, small = _differences(cases)
    if not rel:
        return None
    rtol_fit = max(_power_of_ten_above(max(rel)), DEFAULT_RTOL)
    atol_fit = max(_power_of_ten_above(max(small, default=0.0)), DEFAULT_ATOL)
    if len(vals) >= 3 and all(_on_float32_grid(v) for v in vals):
        return f"all {len(vals)} of its values lie on the float32 grid", rtol_fit, atol_fit
    band = [r for r in rel if r > 0]
    if len(band) >= 3 and 1e-9 <= max(band) <= 1e-5 and sorted(band)[len(band) // 2] >= 1e-10:
        return (
            (
                f"its relative differences ({min(band):.1e} .. {max(band):.1e}) are float32 round-off "
                f"(eps {FLOAT32_EPS:.1e}), not a formula"
            ),
            rtol_fit,
            atol_fit,
        )
    return None


def _constant(xs: Sequence[float], rel: float = 1e-6) -> bool:
    return len(xs) >= 2 and max(xs) - min(xs) <= rel * max(1.0, max(abs(x) for x in xs))


def matching_references(
    a: LossSpec,
    b: LossSpec,
    pa: dict,
    given: Mapping[str, Any],
    cases: Sequence[Case],
    rtol: float,
    atol: float,
    k: int = 3,
) -> list[str]:
    """The other registered losses (same kind, the same given parameters) that the implementation matches at
    the k worst configurations of the comparison, values and gradients with the same tolerances."""
    from .errors import UserCodeError
    from .losses.registry import registered

    worst = sorted((c for c in cases if c.mismatch), key=lambda c: -c.severity)[:k]
    found = []
    for name, spec in sorted(registered().items()):
        if spec.kind != b.kind or name in (a.name, b.name):
            continue
        try:
            pc = spec.resolve_params(dict(given))
            ok = bool(worst)
            for c in worst:
                cc = measure_case(
                    a.objective(c.M, pa), spec.objective(c.M, pc), c.points, rtol, atol, c.where, c.M, c.d, c.trial
                )
                if cc.mismatch:
                    ok = False
                    break
        except (ArgumentError, UserCodeError, RuntimeError, ValueError):
            continue
        if ok:
            found.append(name)
    return found


def diagnose(
    a: LossSpec,
    b: LossSpec,
    pa: dict,
    pb: dict,
    given: dict,
    given_reference: dict,
    cases: Sequence[Case],
    rtol: float,
    atol: float,
) -> list[str]:
    """What the differences of a mismatch look like, one line each: the ratio (a constant ratio is a
    convention), the other registered references that match, single precision and the rtol that fits."""
    out = []
    bad = [c for c in cases if c.mismatch]
    vbad = [c for c in bad if c.value_mismatch and math.isfinite(c.value_loss) and math.isfinite(c.value_reference)]
    ratios = [c.value_loss / c.value_reference for c in vbad if c.value_reference != 0]
    offsets = [c.value_loss - c.value_reference for c in vbad]
    one_sided = {
        "implementation": [c for c in bad if not math.isfinite(c.value_loss) and math.isfinite(c.value_reference)],
        "reference": [c for c in bad if not math.isfinite(c.value_reference) and math.isfinite(c.value_loss)],
    }
    for side, where in one_sided.items():
        if where:
            kinds = ", ".join(sorted({str(c.value_loss if side == "implementation" else c.value_reference)
                                      for c in where}))
            out.append(f"the {side} is non-finite ({kinds}) at {len(where)} configuration"
                       f"{'s' if len(where) > 1 else ''} where the other is finite "
                       f"({', '.join(sorted({c.where for c in where}))})")
    if not vbad:
        if not any(one_sided.values()):  # otherwise said above: the values differ where one side is not finite
            out.append("values agree everywhere; only the gradients differ (a detached term, a custom backward?)")
    elif ratios and len(ratios) == len(vbad) and max(abs(r - 1.0) for r in ratios) <= 1e-4:
        out.append(
            f"values agree to {max(abs(r - 1.0) for r in ratios):.1e} relative where they differ: small "
            "differences (lower precision, or a tiny extra term), not a convention"
        )
    elif ratios and _constant(ratios):
        out.append(
            f"loss / reference = {ratios[0]:.3f} at all {len(ratios)} configurations whose values differ: a "
            "constant factor is a convention (both directions summed instead of averaged, a 1/M, a τ in "
            "front), not a wrong formula"
        )
    elif offsets and _constant(offsets):
        out.append(
            f"loss − reference = {offsets[0]:.6g} at all {len(offsets)} configurations whose values differ: a "
            "constant offset (a log of a count, a '+1' in a denominator)"
        )
    elif ratios:
        out.append(
            f"loss / reference ranges over [{min(ratios):.4g}, {max(ratios):.4g}] where the values differ "
            "(not a constant factor)"
        )
    given_all = {**given, **given_reference}
    others = matching_references(a, b, pa, given_all, cases, rtol, atol)
    if others:
        out.append(
            f"the implementation matches {', '.join(others)} (same parameters) at the worst configurations: "
            f"try --reference {others[0]}"
        )
    f32 = float32_evidence(cases)
    if f32 is not None:
        evidence, rtol_fit, atol_fit = f32
        out.append(
            f"the implementation computes in float32: {evidence}; --rtol {rtol_fit:g} --atol {atol_fit:g} "
            "fit these differences (or evaluate it in float64)"
        )
    return out
