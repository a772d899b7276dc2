"""Batched Riemannian minimisation on products of spheres: the engine behind every hemtools proof.

``solve(loss, M, d)`` draws ``restarts`` random configurations and minimises all of them together: the
restarts are a batch axis, so 64 restarts cost little more than one.  Two phases:

1. **First order.**  Riemannian gradient descent with Barzilai–Borwein steps (alternating BB1/BB2, each
   restart its own step) and the non-monotone line search of Zhang & Hager (2004): a step is accepted when
   f(R(x − α g)) ≤ C − c α ‖g‖², C a running weighted mean of past values.  Comparisons allow a
   round-off margin of a few ulps of |C| so that the search never stalls on noise.
2. **Second order.**  Riemannian trust region (Absil, Baker & Gallivan 2007) with Steihaug–Toint truncated
   CG on Hessian-vector products (one double-backward pass each), quadratically convergent, polishing the
   gradient norm to ~1e-13 in float64.  The ratio ρ of actual to predicted decrease is regularised by a
   few ulps of |f| (as in Manopt), because near the minimum both are below round-off.

The solver never assumes the answer: it starts from uniform random points and stops on the measured
Riemannian gradient norm.  Restarts that produce a non-finite value are frozen and reported.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from . import derivatives, heap, sphere
from . import small as _small
from .errors import ArgumentError
from .losses.registry import LossSpec, get_loss
from .results import StopReason, jsonable_params
from .tolerances import tolerances
from .validators import SEED_MAX, require_int, require_seed  # noqa: F401 (SEED_MAX: public before)

Tensor = torch.Tensor
fused_method = "closed form"  # hemtools.fused.METHOD (not imported here: fused imports nothing of optim)
# First-order → trust-region switch (see _Solver.first_order).  With autograd Hessian-vector products (a
# double backward each) the trust region is the expensive phase: hand over late.  With the closed-form
# products of hemtools.fused an HVP costs about one gradient, so the quadratically convergent phase takes
# over earlier: KCL M = 8, d = 16, one start to 1e-10, median of 11 in one process (2 loaded cores):
# 0.119 s at 1e-3, 0.100 s at 1e-1, 0.110 s at 0.3, 0.104 s at 1.0 (pymanopt's trust regions 0.382 s).
SWITCH_STEP = 1e-3
FUSED_SWITCH_STEP = 1e-1
# Large problems in the simplex regime (M <= d+1, more than LARGE_PROBLEM tangent dimensions) hand over
# much later, whatever the derivatives: there an HVP costs flops, not dispatch, and ~1/4 or more of the
# tangent space is the rotation orbit, whose curvature away from a critical point is O(‖grad f‖) and often
# negative — truncated CG finds those directions and steps to the trust-region boundary along a rotation
# (measured: 97–100 % of such steps lie in the orbit), which changes nothing and is rejected.  BB descent is
# blind to the orbit (the gradient is orthogonal to it) and converges fast there.  InfoNCE M = 64, d = 128,
# 8 restarts, one loaded thread: 6.8 s at 1e-1, 0.9 s at 1e-3, 0.8 s at 1e-5; DCL 3.7 / 2.3 / 1.7 s;
# NT-Xent 7.6 / 2.2 / 1.7 s; KCL 5.1 / 2.0 / 1.4 s.  At M = 256, d = 512 the drift still costs at 1e-5
# (SimCLR: 44.7 CPU-s, 250 HVPs in 11 TR iterations) and not at 1e-8 (17.9 CPU-s, 7 HVPs; 21.4 CPU-s with
# BB alone to the round-off floor) (issue 13).
LARGE_SWITCH_STEP = 1e-8
LARGE_PROBLEM = 4000
LBFGS_MIN_DIMS = 10_000
# L-BFGS hands over when its step (≈ the Newton step) is below this: it converges steadily where BB stalls,
# and the trust region's CG is expensive at these sizes (hundreds of HVPs per step), so it hands over late
LBFGS_SWITCH_STEP = 1e-6


def default_switch_step(fused: bool, M: int, n_points: int, d: int) -> float:
    """The first-order → trust-region switch (predicted distance to the minimiser) when none is given."""
    if M <= d + 1 and n_points * (d - 1) > LARGE_PROBLEM:
        return LARGE_SWITCH_STEP
    return FUSED_SWITCH_STEP if fused else SWITCH_STEP


@dataclass
class SolveResult:
    """Outcome of :func:`solve`: one entry per restart (batch axis first)."""

    loss: str
    M: int
    d: int
    params: dict
    kind: str  # "pairs" (points = [U; V]) or "points"
    points: Tensor  # (R, N, d), float64 on the CPU
    values: Tensor  # (R,)
    grad_norms: Tensor  # (R,)
    iterations: Tensor  # (R,) total iterations (first order + trust region)
    converged: Tensor  # (R,) bool: gradient at its round-off floor, or <= tol with a resolved Newton step
    stops: list[StopReason]  # why each restart stopped (``stop_reasons`` gives their messages)
    history_values: Tensor  # (T, R), value after each iteration (frozen restarts repeat their last value)
    history_grad_norms: Tensor  # (T, R)
    phase_switch: int  # iteration index at which the trust-region phase began
    seconds: float
    tol: float
    seed: int
    dtype: str
    device: str
    hessian_vector_products: int = 0
    extras: dict = field(default_factory=dict)
    hessian_method: str = "autograd"  # "autograd" or "differences" (central differences of the gradient)
    notes: list[str] = field(default_factory=list)  # what the report must say about how this was solved

    def __repr__(self) -> str:  # one line, not the (R, N, d) points and the histories
        return (f"SolveResult(loss={self.loss!r}, M={self.M}, d={self.d}, params={self.params!r}, "
                f"restarts={len(self.values)}, best value={float(self.values.min()) if len(self.values) else None!r}, "
                f"converged={int(self.converged.sum())}/{len(self.converged)}, seconds={self.seconds:.3g})")

    @property
    def restarts(self) -> int:
        return self.points.shape[0]

    @property
    def stop_reasons(self) -> list[str]:
        """The message of each restart's :class:`~hemtools.results.StopReason` (the words the reports print)."""
        return [s.message for s in self.stops]

    @property
    def finite(self) -> Tensor:
        return torch.isfinite(self.values) & torch.isfinite(self.grad_norms)

    @property
    def best(self) -> int:
        """Index of the restart with the lowest finite value (ties: the smallest gradient norm)."""
        vals = torch.where(self.finite, self.values, torch.full_like(self.values, math.inf))
        return int(torch.argmin(vals))

    @property
    def best_value(self) -> float:
        return float(self.values[self.best])

    @property
    def best_points(self) -> Tensor:
        return self.points[self.best]

    def split(self, i: int | None = None) -> tuple[Tensor, ...]:
        """(U, V) of restart ``i`` (default: the best) for pair losses, (X,) for point losses."""
        x = self.points[self.best if i is None else i]
        return (x[: self.M], x[self.M:]) if self.kind == "pairs" else (x,)

    def to_dict(self, include_points: bool = True, include_history: bool = True) -> dict:
        out: dict[str, Any] = {
            "loss": self.loss,
            "M": self.M,
            "d": self.d,
            "params": jsonable_params(self.params),
            "kind": self.kind,
            "restarts": self.restarts,
            "best": self.best,
            "values": self.values.tolist(),
            "grad_norms": self.grad_norms.tolist(),
            "iterations": self.iterations.tolist(),
            "converged": self.converged.tolist(),
            "stop_reasons": list(self.stop_reasons),
            "phase_switch": self.phase_switch,
            "hessian_vector_products": self.hessian_vector_products,
            "hessian_method": self.hessian_method,
            "notes": list(self.notes),
            "seconds": self.seconds,
            "tol": self.tol,
            "seed": self.seed,
            "dtype": self.dtype,
            "device": self.device,
        }
        if include_points:
            out["points"] = self.points.tolist()
        if include_history:
            out["history"] = {
                "values": self.history_values.T.tolist(),
                "grad_norms": self.history_grad_norms.T.tolist(),
            }
        return out


# --------------------------------------------------------------------------------------------------------


def check_size(M: Any, d: Any, *, min_M: int = 2) -> tuple[int, int]:
    """Validate the problem size; ValueError names the argument and the accepted range."""
    return (require_int("M", M, min_M, integral_floats=True), require_int("d", d, 2, integral_floats=True))


def check_seed(seed: Any) -> int:
    return require_seed("seed", seed)


# The solver holds, per restart, a few N×N matrices (Gram matrices of the loss and their graphs for the
# double backward).  Measured peak (ru_maxrss) above the baseline for M = 300 (N = 600), d = 3, 8 restarts:
# 6.0 (kcl) and 6.5 (infonce) N×N float64 matrices per restart; 16 leaves room for heavier user losses.
MEMORY_MATRICES = 16


def available_memory() -> int:
    """Physical memory of this machine in bytes (64 GiB when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 64 * 2**30


def memory_estimate(n_points: int, d: int, restarts: int, dtype=torch.float64) -> int:
    """Bytes the batched solve needs, roughly: MEMORY_MATRICES N×N matrices plus the points, per restart."""
    item = torch.finfo(resolve_dtype(dtype)).bits // 8
    return MEMORY_MATRICES * item * restarts * (n_points * n_points + n_points * d)


def check_memory(n_points: int, d: int, restarts: int, dtype=torch.float64) -> None:
    """Refuse a problem whose memory estimate exceeds this machine's memory: one line (exit 2), before
    anything is allocated, rather than a memory error half-way."""
    need, have = memory_estimate(n_points, d, restarts, dtype), available_memory()
    if need > have:
        raise ArgumentError(
            f"M, d, restarts: {n_points} points in R^{d} with {restarts} restarts need ~{_bytes(need)} "
            f"(a few N×N matrices per restart), this machine has {_bytes(have)}; lower M or --restarts"
        )


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"


def resolve_device(device: str | torch.device | None) -> torch.device:
    if isinstance(device, str):
        device = device.strip().lower()  # "CPU", "Cuda:0" as people type them
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ArgumentError(f"device: expected 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ArgumentError(f"device: {device!r} requested but CUDA is not available on this machine (use 'cpu')")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ArgumentError(f"device: {device!r} requested but this machine has {torch.cuda.device_count()} CUDA "
                            f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "mps":
        raise ArgumentError(f"device: {device!r} is not supported: Apple's MPS has no float64, which verification "
                            "needs (use 'cpu')")
    if dev.type not in ("cpu", "cuda"):
        raise ArgumentError(f"device: expected 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    return dev


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    table = {"float64": torch.float64, "double": torch.float64, "float32": torch.float32, "float": torch.float32}
    if isinstance(dtype, torch.dtype) and dtype in (torch.float64, torch.float32):
        return dtype
    if isinstance(dtype, str) and dtype in table:
        return table[dtype]
    raise ArgumentError(f"dtype: expected float64 or float32, got {dtype!r}")


# --------------------------------------------------------------------------------------------------------
# the solver's knobs (their defaults are the measured choices documented where they act)


@dataclass(frozen=True)
class FirstOrderOptions:
    """Riemannian BB descent with the Zhang–Hager non-monotone Armijo search (:meth:`_Solver.first_order`)."""

    max_iter: int = 5000
    # hand over when BB step × gradient norm (the predicted distance to the minimiser) is below this; None:
    # default_switch_step(): SWITCH_STEP, FUSED_SWITCH_STEP (closed-form derivatives) or LARGE_SWITCH_STEP
    switch_step: float | None = None
    armijo: float = 1e-4  # sufficient decrease c in f(R(x − αg)) <= C − c α ‖g‖²
    nonmonotone: float = 0.85  # Zhang–Hager weight η of the running mean C
    shrink: float = 0.5  # backtracking factor of a rejected step
    max_backtracks: int = 40  # rejected steps in a row before a restart is stalled
    initial_rad: float = 0.1  # first step (and fallback without positive curvature): radians per point
    max_rad: float = 1.0  # largest step: radians per point
    # "auto" (default), "bb" or "lbfgs" (Riemannian L-BFGS, :meth:`_Solver.first_order_lbfgs`).  auto: L-BFGS
    # when the points outnumber two simplices (N > 2(d+1), i.e. M > d+1 for pair losses) and the tangent space
    # has at least LBFGS_MIN_DIMS dimensions, BB otherwise (every M <= d+1 problem and every small one: as
    # before).  At M > d+1 BB stalls: KCL M = 128, d = 16, 2 restarts, one thread under load: BB alone at
    # gradients 1e-5 after 5000 iterations (150 s); BB + trust region 1 of 2 restarts converged in 120 s;
    # L-BFGS (memory 20, monotone Armijo) both at 1e-8 after 2115 iterations (135 s), then the trust region
    # polished both to 1e-15 (219 s in all).
    method: str = "auto"
    memory: int = 20  # L-BFGS: (s, y) pairs kept per restart


@dataclass(frozen=True)
class TrustRegionOptions:
    """Riemannian trust region with Steihaug–Toint truncated CG (:meth:`_Solver.trust_region`)."""

    max_iter: int = 200
    max_inner: int | None = None  # CG iterations per step (default min(dim, 2000))
    initial_radius: float = 1 / 8  # initial Δ as a fraction of Δ̄ = π √N
    accept: float = 0.1  # ρ above which a step is accepted
    shrink_below: float = 0.25  # ρ below which Δ shrinks fourfold
    grow_above: float = 0.75  # ρ above which a step on the boundary doubles Δ
    stall_iterations: int = 6  # iterations without progress before a restart stagnates
    min_radius: float = 1e-14  # Δ below which a restart stagnates
    progress: float = 0.9  # a gradient norm below this fraction of the best so far is progress
    step_tol: float = 1e-8  # a resolved Newton step below this leaves an O(1e-16) error in the configuration
    cg_theta: float = 1.0  # CG residual target ‖g‖ min(‖g‖^θ, κ)
    cg_kappa: float = 0.1
    cg_accurate: float = 1e-6  # relative CG residual once the gradient is below tol (true Newton step)
    # CG stops for a restart whose residual is within cg_round_off × the gradient's round-off floor and has not
    # fallen below cg_progress × its best for cg_stall CG iterations: the rest is round-off CG cannot remove
    # (see _truncated_cg); the step is then not a resolved Newton step
    cg_round_off: float = 10.0
    cg_progress: float = 0.9
    cg_stall: int = 10


@dataclass(frozen=True)
class RoundOffOptions:
    """Round-off margins in units of eps (a few ulps of the magnitudes compared)."""

    slack: float = 16.0  # line-search comparisons: ulps of |C|
    gradient_floor: float = 10.0  # the gradient's round-off floor: ulps of the Euclidean gradient
    rho: float = 1e3  # regularisation of ρ: ulps of |f| + ‖∇f‖


@dataclass(frozen=True)
class SolverOptions:
    first_order: FirstOrderOptions = field(default_factory=FirstOrderOptions)
    trust_region: TrustRegionOptions = field(default_factory=TrustRegionOptions)
    round_off: RoundOffOptions = field(default_factory=RoundOffOptions)
    # wall-clock seconds one solve may take (None: no limit); restarts still running then stop with
    # StopReason.TIME_LIMIT and the result's notes say so.  A surrounding time_budget() also bounds it.
    time_limit: float | None = None


# --------------------------------------------------------------------------------------------------------
# time budgets: a deadline every solve inside a ``with time_budget(...)`` block respects (verify gives each
# of its stages one, so that a large problem ends with an honest "time limit reached" instead of running on)

_DEADLINE: ContextVar[float] = ContextVar("hemtools_solve_deadline", default=math.inf)


@contextmanager
def time_budget(seconds: float | None) -> Iterator[float]:
    """Every solve in the block stops at ``seconds`` from now (or at an enclosing budget's end, if earlier);
    None: no new limit.  Yields the deadline (time.perf_counter() scale, inf without one)."""
    outer = _DEADLINE.get()
    until = outer if seconds is None else min(outer, time.perf_counter() + max(0.0, float(seconds)))
    token = _DEADLINE.set(until)
    try:
        yield until
    finally:
        _DEADLINE.reset(token)


def deadline() -> float:
    """The deadline of the enclosing :func:`time_budget` (time.perf_counter() scale; inf without one)."""
    return _DEADLINE.get()


DEFAULT_OPTIONS = SolverOptions()


def solve(
    loss: str | LossSpec | Callable,
    M: int,
    d: int,
    *,
    params: Mapping[str, Any] | None = None,
    restarts: int = 8,
    seed: int = 0,
    dtype: str | torch.dtype = torch.float64,
    device: str | torch.device | None = "cpu",
    tol: float | None = None,
    x0: Tensor | None = None,
    max_first_order: int | None = None,
    max_trust_region: int | None = None,
    switch_step: float | None = None,
    max_inner: int | None = None,
    progress: Callable[[int, Tensor], None] | None = None,
    options: SolverOptions | None = None,
    time_limit: float | None = None,
) -> SolveResult:
    """Minimise ``loss`` over M pairs (or M points, for energies) on S^{d-1} from ``restarts`` random starts.

    Parameters are validated against the loss's metadata (ValueError names the argument and the range).
    ``tol`` is the target Riemannian gradient norm (default: 1e-12 in float64).  ``x0`` (R, N, d) replaces
    the random starts.  ``progress(iteration, grad_norms)`` is called once per iteration.  ``options``
    holds every knob of the solver (:class:`SolverOptions`); ``max_first_order`` (5000), ``max_trust_region``
    (200), ``switch_step`` and ``max_inner`` override their fields.  ``switch_step`` (predicted distance to
    the minimiser at which the trust region takes over) defaults to SWITCH_STEP, or FUSED_SWITCH_STEP for
    losses with closed-form derivatives, or LARGE_SWITCH_STEP for large problems with M <= d+1
    (:func:`default_switch_step`).  ``time_limit`` (seconds, overriding ``options.time_limit``) and an
    enclosing :func:`time_budget` bound the wall time: restarts still running then stop with
    StopReason.TIME_LIMIT, and ``notes`` says where the solve stood.
    """
    options = _with_overrides(options or DEFAULT_OPTIONS, max_first_order, max_trust_region, switch_step, max_inner)
    if time_limit is not None:
        options = replace(options, time_limit=time_limit)
    if options.time_limit is not None and not (options.time_limit > 0 and not math.isnan(options.time_limit)):
        raise ArgumentError(f"time_limit: expected a positive number of seconds, got {options.time_limit!r}")
    spec = get_loss(loss)
    M, d = check_size(M, d)
    p = spec.resolve_params(params)
    dtype = resolve_dtype(dtype)
    dev = resolve_device(device)
    tols = tolerances(dtype)
    tol = tols.grad if tol is None else float(tol)
    if not (tol > 0 and math.isfinite(tol)):
        raise ArgumentError(f"tol: expected a positive finite number, got {tol!r}")
    require_int("restarts", restarts, 1)
    check_seed(seed)
    n = spec.n_points(M)
    # the batch is x0's when given (memory.solve_bounded passes groups of starts that way, with restarts unset)
    check_memory(n, d, restarts if x0 is None else max(1, torch.as_tensor(x0).numel() // (n * d)), dtype)
    f = spec.objective(M, p)

    t0 = time.perf_counter()
    until = deadline() if options.time_limit is None else min(deadline(), t0 + options.time_limit)
    if x0 is not None:
        x = sphere.normalize(torch.as_tensor(x0, dtype=dtype, device=dev).reshape(-1, n, d))
    else:
        gen = torch.Generator(device=dev).manual_seed(seed)
        x = sphere.random_points(restarts, n, d, generator=gen, dtype=dtype, device=dev)
    from . import fused as _fused

    closed_form = _fused.for_loss(spec, M, p)
    switch_step = options.first_order.switch_step
    if switch_step is None:
        switch_step = default_switch_step(closed_form is not None, M, n, d)
    if (closed_form is not None and progress is None and x.device.type == "cpu" and x.dtype == torch.float64
            and _small.applies(x.shape[0], n, d) and not _use_lbfgs(options.first_order.method, n, d)):
        # small problems: the same algorithm one restart at a time on numpy (hemtools.small: dispatch, not
        # arithmetic, is the cost of the torch batch there)
        return _solve_small(spec, M, d, p, closed_form, x, tol=tol, eps=tols.eps, options=options,
                            switch_step=switch_step, until=until, t0=t0, seed=seed)
    state = _Solver(f, x, tol=tol, eps=tols.eps, progress=progress, fused=closed_form, options=options,
                    deadline=until)
    if _use_lbfgs(options.first_order.method, x.shape[1], d):
        lbfgs_switch = LBFGS_SWITCH_STEP if options.first_order.switch_step is None else switch_step
        state.first_order_lbfgs(options.first_order.max_iter, lbfgs_switch)
    else:
        state.first_order(options.first_order.max_iter, switch_step)
    switch = state.iteration
    state.trust_region(options.trust_region.max_iter, options.trust_region.max_inner)
    seconds = time.perf_counter() - t0
    notes = [state.hess_reason] if state.hess_reason else []
    if state.timed_out:
        notes.append(state.time_note(seconds, until - t0, switch))

    return SolveResult(
        loss=spec.name,
        M=M,
        d=d,
        params=p,
        kind=spec.kind,
        points=state.x.detach().to("cpu", torch.float64),
        values=state.value.detach().cpu().double(),
        grad_norms=state.gnorm.detach().cpu().double(),
        iterations=state.iters.cpu(),
        converged=state.converged().cpu(),
        stops=state.reasons(),
        history_values=torch.stack(state.hist_v).cpu().double(),
        history_grad_norms=torch.stack(state.hist_g).cpu().double(),
        phase_switch=switch,
        seconds=seconds,
        tol=tol,
        seed=seed,
        dtype=str(dtype).replace("torch.", ""),
        device=str(dev),
        hessian_vector_products=state.n_hvp,
        hessian_method=state.hess_method,
        notes=notes,
    )


def _solve_small(spec, M: int, d: int, p, closed_form, x: Tensor, *, tol: float, eps: float, options,
                 switch_step: float, until: float, t0: float, seed: int) -> SolveResult:
    """solve() on the small-problem path (hemtools.small): each restart on its own, the same SolveResult."""
    B, n, _ = x.shape
    # the round-off measurement's direction, drawn as the batched solver draws it for its first restart
    probe = torch.randn((n, d), generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    xs = x.numpy()
    runs = [_small.solve_one(closed_form, xs[b].copy(), tol=tol, eps=eps, options=options, switch_step=switch_step,
                             deadline=until, probe=probe) for b in range(B)]
    seconds = time.perf_counter() - t0
    T = max(len(r.hist_v) for r in runs)

    def padded(h: list) -> list:
        return h + [h[-1]] * (T - len(h))  # a finished restart repeats its last value, as in the batch

    notes = []
    late = [r for r in runs if r.stop == StopReason.TIME_LIMIT.value]
    if late:
        g = [r.gnorm for r in late]
        notes.append(f"solve stopped at its time limit ({until - t0:.0f} s; ran {seconds:.0f} s) with {len(late)} "
                     f"of {B} restarts not converged (gradient norms {min(g):.1e} to {max(g):.1e}, tolerance "
                     f"{tol:.0e}; n = {n * (d - 1)} tangent dimensions per restart)")
    return SolveResult(
        loss=spec.name, M=M, d=d, params=p, kind=spec.kind,
        points=torch.from_numpy(np.stack([r.x for r in runs])),
        values=torch.tensor([r.value for r in runs], dtype=torch.float64),
        grad_norms=torch.tensor([r.gnorm for r in runs], dtype=torch.float64),
        iterations=torch.tensor([r.iterations for r in runs], dtype=torch.long),
        converged=torch.tensor([r.converged for r in runs], dtype=torch.bool),
        stops=[StopReason(r.stop) for r in runs],
        history_values=torch.tensor(np.array([padded(r.hist_v) for r in runs]).T, dtype=torch.float64),
        history_grad_norms=torch.tensor(np.array([padded(r.hist_g) for r in runs]).T, dtype=torch.float64),
        # the batch switches at one iteration; here each restart has its own: the first to switch
        phase_switch=min(r.phase_switch for r in runs),
        seconds=seconds, tol=tol, seed=seed, dtype="float64", device="cpu",
        # products per restart, the largest (the batch counts one product per batched call)
        hessian_vector_products=max(r.n_hvp for r in runs),
        hessian_method=fused_method, notes=notes,
    )


def _use_lbfgs(method: str, n_points: int, d: int) -> bool:
    if method not in ("auto", "bb", "lbfgs"):
        raise ArgumentError(f"first_order.method: expected 'auto', 'bb' or 'lbfgs', got {method!r}")
    if method == "auto":
        return n_points > 2 * (d + 1) and n_points * (d - 1) >= LBFGS_MIN_DIMS
    return method == "lbfgs"


def _with_overrides(options: SolverOptions, max_first_order, max_trust_region, switch_step, max_inner) -> SolverOptions:
    fo, tr = {}, {}
    if max_first_order is not None:
        fo["max_iter"] = max_first_order
    if switch_step is not None:
        fo["switch_step"] = switch_step
    if max_trust_region is not None:
        tr["max_iter"] = max_trust_region
    if max_inner is not None:
        tr["max_inner"] = max_inner
    if not fo and not tr:
        return options
    return replace(
        options, first_order=replace(options.first_order, **fo), trust_region=replace(options.trust_region, **tr)
    )


class _Solver:
    """Mutable state of one batched solve (kept out of the public API)."""

    def __init__(
        self,
        f,
        x: Tensor,
        *,
        tol: float,
        eps: float,
        progress=None,
        fused=None,
        options: SolverOptions = DEFAULT_OPTIONS,
        deadline: float = math.inf,
    ):
        self.options = options
        self.deadline = deadline  # time.perf_counter() at which the solve stops (inf: never)
        self.timed_out = False  # set when the deadline stopped the solve with restarts still running
        self.tr_steps = 0  # trust-region iterations (for the time-limit note)
        self.STEP_TOL = options.trust_region.step_tol
        self.f = f
        # closed-form value/gradient/HVP of the same loss (hemtools.fused), or None: autograd
        self.fused = fused
        self.tol = tol
        self.eps = eps
        self.progress = progress
        self.B = x.shape[0]
        self.x = x
        self.value, self.egrad = self._value_grad(x)
        self.g = sphere.project(x, self.egrad)
        self.gnorm = sphere.norm(self.g)
        self.dead = ~torch.isfinite(self.value) | ~torch.isfinite(self.gnorm)
        self.stalled = torch.zeros(self.B, dtype=torch.bool, device=x.device)
        # norm of the last accepted Newton step computed to full accuracy (see trust_region)
        self.newton_step = torch.full((self.B,), math.inf, dtype=x.dtype, device=x.device)
        self.iters = torch.zeros(self.B, dtype=torch.long, device=x.device)
        # measured round-off of the Riemannian gradient (see _measure_gradient_noise); 0 until measured
        self.grad_noise = torch.zeros(self.B, dtype=x.dtype, device=x.device)
        self._noise_at = torch.full((self.B,), math.inf, dtype=x.dtype, device=x.device)
        self.iteration = 0
        self.n_hvp = 0
        # Hessian-vector products: autograd unless the loss has no (correct) second derivative there
        self.hess_method, self.hess_reason = derivatives.AUTOGRAD, ""
        self.hist_v = [self.value.detach().clone()]
        self.hist_g = [self.gnorm.detach().clone()]

    def _value_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.fused is not None:
            return self.fused.value_grad(x)
        val, eg, _ = sphere.value_and_egrad(self.f, x)
        if val.shape != (x.shape[0],):
            raise ArgumentError(
                f"loss returned shape {tuple(val.shape)}, expected one value per restart ({x.shape[0]},)"
            )
        return val.detach(), eg.detach()

    def _values(self, x: Tensor) -> Tensor:
        if self.fused is not None:
            return self.fused.value(x)
        with torch.no_grad():
            return self.f(x).detach()

    def _record(self, active: Tensor) -> None:
        self.iteration += 1
        self.iters += active.long()
        self.dead |= ~torch.isfinite(self.value) | ~torch.isfinite(self.gnorm)
        self.hist_v.append(self.value.detach().clone())
        self.hist_g.append(self.gnorm.detach().clone())
        heap.release_now_and_then()  # freed arrays back to the system (hemtools.heap)
        if self.progress is not None:
            self.progress(self.iteration, self.gnorm)

    def _slack(self, ref: Tensor) -> Tensor:
        # round-off margin: a few ulps of the magnitude being compared
        return self.options.round_off.slack * self.eps * ref.abs().clamp_min(1.0)

    STEP_TOL = TrustRegionOptions.step_tol  # (per solve: options.trust_region.step_tol)

    def out_of_time(self, running: Tensor) -> bool:
        """True (and remembered) when the deadline has passed while some restart is still running."""
        if self.deadline == math.inf or time.perf_counter() < self.deadline or not bool(running.any()):
            return False
        self.timed_out = True
        return True

    def time_note(self, seconds: float, limit: float, switch: int) -> str:
        """What the report says about a solve its time limit stopped: where it stood, in numbers."""
        running = ~self.converged() & ~self.dead
        n = self.x.shape[1] * (self.x.shape[2] - 1)
        g = self.gnorm[running]
        return (f"solve stopped at its time limit ({limit:.0f} s; ran {seconds:.0f} s) with {int(running.sum())} "
                f"of {self.B} restarts not converged (gradient norms {float(g.min()):.1e} to {float(g.max()):.1e}, "
                f"tolerance {self.tol:.0e}) after {switch} first-order and {self.tr_steps} trust-region iterations "
                f"({self.n_hvp} Hessian-vector products, n = {n} tangent dimensions per restart)")

    def converged(self) -> Tensor:
        """At the round-off floor of the gradient, or below tol after an accurate Newton step <= STEP_TOL."""
        ok = (self.gnorm <= self._noise_floor()) | ((self.gnorm <= self.tol) & (self.newton_step <= self.STEP_TOL))
        return ok & ~self.dead

    def _noise_floor(self, egrad: Tensor | None = None) -> Tensor:
        """Round-off level of the Riemannian gradient, per restart: 10 ulps of the Euclidean gradient,
        whose normal part (x·∇f) does not vanish at a minimiser and carries the size of the terms that
        cancel in the projection.  Scale-free: ~1e-15 for KCL, ~1e-25 for InfoNCE at τ = 0.05."""
        eg = self.egrad if egrad is None else egrad
        return torch.maximum(self.options.round_off.gradient_floor * self.eps * sphere.norm(eg), self.grad_noise)

    def _measure_gradient_noise(self) -> None:
        """Measure the round-off of the Riemannian gradient: its change under a displacement of one ulp
        per coordinate, the precision to which the points themselves are known.

        The 10-ulps-of-∇f floor gauges round-off through the normal part x·∇f, which carries the size of the
        terms that cancel in the projection.  A loss that normalises its own inputs (F.normalize, as
        pytorch-metric-learning does) has no normal part: that floor collapses with the gradient, the
        trust region then chases noise into the flat rotation directions and stagnates at ~1e-9.  The
        measured change is ‖Hess f‖·eps plus the evaluation's own round-off, whatever the loss does.
        """
        gen = torch.Generator(device=self.x.device).manual_seed(0)  # fixed: the solve stays deterministic
        z = torch.randn(self.x.shape, generator=gen, dtype=self.x.dtype, device=self.x.device)
        z = sphere.project(self.x, z)
        z = z * (self.eps / z.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt().clamp_min(1e-300))
        _, eg = self._value_grad(sphere.retract(self.x, z))
        diff = sphere.project(self.x, eg) - self.g
        noise = sphere.norm(diff)
        self.grad_noise = torch.where(torch.isfinite(noise), noise, self.grad_noise)
        self._noise_at = self.gnorm.clone()

    def _armijo_trial(self, idx: Tensor, move: Tensor, ref: Tensor, decrease: Tensor, step: Tensor,
                      backtracks: Tensor, shrink: float, max_backtracks: int):
        """One trial of the first-order phases for the restarts ``idx``: x retracted along ``move``, accepted if
        its value is finite and at most ``ref + decrease`` (Armijo; a few ulps of ``ref`` of slack).  Rejected
        restarts shrink their ``step`` (backtracking) and stall after ``max_backtracks`` rejections in a row.
        Returns x, the trial, its value and Euclidean gradient, the accepted mask and the accepted indices."""
        x = self.x[idx]
        x_try = sphere.retract(x, move)
        v_try, eg_try = self._value_grad(x_try)
        ok = torch.isfinite(v_try) & (v_try <= ref + decrease + self._slack(ref))
        bad = idx[~ok]
        step[bad] *= shrink
        backtracks[bad] += 1
        self.stalled[bad[backtracks[bad] > max_backtracks]] = True
        return x, x_try, v_try, eg_try, ok, idx[ok]

    # ----------------------------------------------------------------------------------------------------
    def first_order(self, max_iter: int, switch_step: float) -> None:
        """Riemannian BB descent with the Zhang–Hager non-monotone Armijo search (batched).

        Each outer iteration evaluates every searching restart once at its own trial step: a restart whose
        trial is rejected shrinks its step and tries again in the next round while the others move on, so
        a batch costs as many evaluations as its slowest member, not the sum of everyone's backtracks.
        """
        o = self.options.first_order
        c, eta_zh, shrink, max_backtracks = o.armijo, o.nonmonotone, o.shrink, o.max_backtracks
        B, dev, dt = self.B, self.x.device, self.x.dtype
        # initial step: move the configuration by ~0.1 rad per point along the gradient
        # Steps are expressed through the displacement they cause, α‖g‖, which is scale-free (a flat
        # landscape has tiny gradients and needs huge α): start with 0.1 rad per point, never exceed
        # ~1 rad per point, fall back to 0.1 rad per point where BB sees no positive curvature.
        rad = math.sqrt(self.x.shape[1])
        step = o.initial_rad * rad / self.gnorm.clamp_min(1e-300)
        C = self.value.clone()
        Q = torch.ones(B, dtype=dt, device=dev)
        bb_count = torch.zeros(B, dtype=torch.long, device=dev)
        bb_est = torch.full((B,), math.inf, dtype=dt, device=dev)  # latest BB step: ≈ 1/curvature
        backtracks = torch.zeros(B, dtype=torch.long, device=dev)
        for _ in range(max_iter):
            # Hand over to the trust region once the predicted distance to the minimiser, BB step times
            # gradient norm, is below switch_step.  This is scale-free: in the flat landscape of InfoNCE
            # at τ = 0.05 (curvature ~1e-9) a gradient of 1e-6 is still far from the minimiser.
            near = bb_est * self.gnorm <= switch_step
            active = ~near & (self.gnorm > self._noise_floor()) & ~self.dead & ~self.stalled
            idx = active.nonzero().squeeze(1)
            if idx.numel() == 0 or self.out_of_time(active):
                break
            st = step[idx]
            x, x_try, v_try, eg_try, ok, good = self._armijo_trial(
                idx, -st[:, None, None] * self.g[idx], C[idx], -c * st * self.gnorm[idx] ** 2, step, backtracks,
                shrink, max_backtracks)
            # accepted: move, then the next BB step (projection as vector transport), alternating BB1/BB2
            if good.numel():
                xn, vn, egn = x_try[ok], v_try[ok], eg_try[ok]
                gn, s_vec, y_vec = _moved_pair(x[ok], self.g[good], xn, egn)
                sy, ss, yy = sphere.inner(s_vec, y_vec), sphere.inner(s_vec, s_vec), sphere.inner(y_vec, y_vec)
                bb = torch.where(bb_count[good] % 2 == 0, ss / sy, sy / yy)
                gn_norm = sphere.norm(gn).clamp_min(1e-300)
                usable = (sy > 0) & torch.isfinite(bb) & (bb > 0)
                bb_est[good] = torch.where(usable, bb, torch.full_like(bb, math.inf))
                step[good] = torch.where(
                    usable, torch.minimum(bb, o.max_rad * rad / gn_norm), o.initial_rad * rad / gn_norm
                )
                bb_count[good] += 1
                backtracks[good] = 0
                q_new = eta_zh * Q[good] + 1.0
                C[good] = (eta_zh * Q[good] * C[good] + vn) / q_new
                Q[good] = q_new
                self.x[good], self.value[good], self.egrad[good], self.g[good] = xn, vn, egn, gn
                self.gnorm[good] = sphere.norm(gn)
            moved = torch.zeros(B, dtype=torch.bool, device=dev)
            moved[good] = True
            self._record(moved)
        self.stalled[:] = False  # the trust region takes over every restart that is not done

    # ----------------------------------------------------------------------------------------------------
    def first_order_lbfgs(self, max_iter: int, switch_step: float) -> None:
        """Riemannian L-BFGS (batched; Huang, Gallivan & Absil 2015 with projection as vector transport) with a
        monotone Armijo search (f(R(x + α p)) <= f(x) + c α <g, p>, unit step first): measured better than the
        Zhang–Hager non-monotone search here, which lets the curvature pairs of uphill steps in.

        Each restart keeps its last ``memory`` pairs (s, y), transported to the current tangent space by
        projection after every move; pairs with <s, y> <= 0 are not stored, and a direction that is not a
        descent direction resets that restart's memory.  The trust region takes over when the L-BFGS step
        (≈ the Newton step) is shorter than ``switch_step``, as BB's predicted distance does in first_order.
        """
        o = self.options.first_order
        c, shrink, max_backtracks, m = o.armijo, o.shrink, o.max_backtracks, max(1, o.memory)
        B, dev, dt = self.B, self.x.device, self.x.dtype
        rad = math.sqrt(self.x.shape[1])
        S = torch.zeros((m,) + tuple(self.x.shape), dtype=dt, device=dev)
        Y = torch.zeros_like(S)
        rho = torch.zeros(m, B, dtype=dt, device=dev)
        count = torch.zeros(B, dtype=torch.long, device=dev)  # pairs stored so far (slot = count % m)
        alpha = torch.ones(B, dtype=dt, device=dev)
        backtracks = torch.zeros(B, dtype=torch.long, device=dev)
        fresh = torch.ones(B, dtype=torch.bool, device=dev)  # a new direction is needed (after a move)
        p = torch.zeros_like(self.x)
        gp = torch.zeros(B, dtype=dt, device=dev)

        def direction(sel: Tensor) -> Tensor:
            """−H g for the restarts ``sel`` (two-loop recursion over each one's own pairs)."""
            q = self.g[sel].clone()
            cnt = count[sel]
            k_max = int(cnt.clamp(max=m).max()) if sel.numel() else 0
            alphas = []
            for k in range(k_max):  # newest to oldest
                slot, ok = (cnt - 1 - k) % m, (k < cnt).to(dt)
                s_k, y_k, r_k = S[slot, sel], Y[slot, sel], rho[slot, sel] * ok
                a = r_k * sphere.inner(s_k, q)
                q = q - a[:, None, None] * y_k
                alphas.append((slot, ok, a))
            newest = (cnt - 1) % m
            s_n, y_n = S[newest, sel], Y[newest, sel]
            gamma = sphere.inner(s_n, y_n) / sphere.inner(y_n, y_n).clamp_min(1e-300)
            gnorm = self.gnorm[sel].clamp_min(1e-300)
            first = o.initial_rad * rad / gnorm  # no pair yet: ~0.1 rad per point along −g
            gamma = torch.where((cnt > 0) & torch.isfinite(gamma) & (gamma > 0), gamma, first)
            r = gamma[:, None, None] * q
            for slot, ok, a in reversed(alphas):  # oldest to newest
                b = rho[slot, sel] * ok * sphere.inner(Y[slot, sel], r)
                r = r + ((a - b) * ok)[:, None, None] * S[slot, sel]
            return -sphere.project(self.x[sel], r)

        for _ in range(max_iter):
            pn = sphere.norm(p)
            near = ~fresh & (pn <= switch_step)
            active = ~near & (self.gnorm > self._noise_floor()) & ~self.dead & ~self.stalled
            idx = active.nonzero().squeeze(1)
            if idx.numel() == 0 or self.out_of_time(active):
                break
            new = idx[fresh[idx]]
            if new.numel():
                p_new = direction(new)
                gp_new = sphere.inner(self.g[new], p_new)
                bad = ~(gp_new < 0) | ~torch.isfinite(gp_new)  # not a descent direction: forget the pairs
                if bool(bad.any()):
                    count[new[bad]] = 0
                    g_bad = self.g[new[bad]]
                    p_new[bad] = -(o.initial_rad * rad / self.gnorm[new[bad]].clamp_min(1e-300))[:, None, None] * g_bad
                    gp_new = sphere.inner(self.g[new], p_new)
                p[new], gp[new] = p_new, gp_new
                # unit step, but never more than max_rad radians per point
                alpha[new] = torch.clamp(o.max_rad * rad / sphere.norm(p_new).clamp_min(1e-300), max=1.0)
                fresh[new] = False
                idx = idx[sphere.norm(p[idx]) > switch_step]  # those whose new step is short hand over
                if idx.numel() == 0:
                    continue
            st = alpha[idx]
            x, x_try, v_try, eg_try, ok, good = self._armijo_trial(
                idx, st[:, None, None] * p[idx], self.value[idx], c * st * gp[idx], alpha, backtracks, shrink,
                max_backtracks)
            if good.numel():
                xn, vn, egn = x_try[ok], v_try[ok], eg_try[ok]
                gn, s_vec, y_vec = _moved_pair(x[ok], self.g[good], xn, egn)
                sy = sphere.inner(s_vec, y_vec)
                # transport the stored pairs of the movers to their new tangent spaces (projection); in place
                # when every restart moved: the pairs are the largest arrays of the solve (m·B·N·d)
                if good.numel() == B:
                    for T in (S, Y):
                        T.addcmul_(torch.einsum("mbnd,bnd->mbn", T, xn).unsqueeze(-1), xn.unsqueeze(0), value=-1.0)
                else:
                    S[:, good] = sphere.project(xn.unsqueeze(0), S[:, good])
                    Y[:, good] = sphere.project(xn.unsqueeze(0), Y[:, good])
                keep = (sy > 1e-12 * sphere.norm(s_vec) * sphere.norm(y_vec)) & torch.isfinite(sy)
                kg = good[keep]
                if kg.numel():
                    slot = count[kg] % m
                    S[slot, kg], Y[slot, kg], rho[slot, kg] = s_vec[keep], y_vec[keep], 1.0 / sy[keep]
                    count[kg] += 1
                backtracks[good] = 0
                fresh[good] = True
                self.x[good], self.value[good], self.egrad[good], self.g[good] = xn, vn, egn, gn
                self.gnorm[good] = sphere.norm(gn)
            moved = torch.zeros(B, dtype=torch.bool, device=dev)
            moved[good] = True
            self._record(moved)
        self.stalled[:] = False

    # ----------------------------------------------------------------------------------------------------
    def trust_region(self, max_iter: int, max_inner: int | None) -> None:
        """Riemannian trust region with truncated CG (batched).

        A restart is done when its gradient reaches the round-off floor, or when it is below tol *and* the
        last accepted Newton step (solved to 1e-6 relative residual) was below STEP_TOL: near a
        non-degenerate minimum the error after a Newton step of size s is O(s²), so the configuration is
        then resolved far below the certificates' 1e-6.
        Flat landscapes need the second condition: for InfoNCE at τ = 0.05 a gradient of 1e-13 still
        leaves the points 1e-4 from the minimiser.  A restart stagnates when for 6 iterations neither its
        value decreased beyond round-off nor its gradient norm by 10 %.
        """
        o = self.options.trust_region
        B, N, d = self.x.shape
        dim = N * (d - 1)
        max_inner = min(dim, 2000) if max_inner is None else max_inner
        delta_bar = math.pi * math.sqrt(N)
        delta = torch.full((B,), delta_bar * o.initial_radius, dtype=self.x.dtype, device=self.x.device)
        best_g = self.gnorm.clone()
        probed = False
        no_progress = torch.zeros(B, dtype=torch.long, device=self.x.device)
        model = None
        for _ in range(max_iter):
            # The scale of the loss can change by tens of orders of magnitude along a solve (InfoNCE at
            # τ = 0.01): measure again whenever a gradient has dropped tenfold since the last measurement.
            if bool((self.gnorm < 0.1 * self._noise_at).any()):
                self._measure_gradient_noise()
            floor = self._noise_floor()
            active = ~self.converged() & ~self.dead & ~self.stalled
            if not bool(active.any()) or self.out_of_time(active):
                break
            self.tr_steps += 1
            if model is None:
                if not probed:  # once per solve: does autograd give a correct second derivative?
                    probed = True
                    self.hess_method, self.hess_reason = (
                        (fused_method, "") if self.fused is not None else derivatives.choose_method(self.f, self.x)
                    )
                model = self._model(self.x)
            g = model.rgrad
            # Once the gradient is below tol the inner solve is made accurate (residual 1e-6 ‖g‖): the step is
            # then the true Newton step, whose length bounds the distance to the minimiser.
            polish = self.gnorm <= self.tol
            eta, h_eta, hit_boundary, n_inner, resolved = _truncated_cg(
                model,
                g,
                delta,
                active,
                max_inner,
                floor=floor,
                accurate=polish,
                theta=o.cg_theta,
                kappa=o.cg_kappa,
                accurate_residual=o.cg_accurate,
                deadline=self.deadline,
                round_off=o.cg_round_off,
                stall_progress=o.cg_progress,
                stall=o.cg_stall,
            )
            self.n_hvp += n_inner
            if self.hess_method == derivatives.AUTOGRAD and bool((active & ~torch.isfinite(sphere.norm(h_eta))).any()):
                # the second derivative is not finite here although the gradient is (e.g. a norm of u_i − v_i
                # at u_i = v_i): go on with differences of the gradient
                self.hess_method = derivatives.DIFFERENCES
                self.hess_reason = (
                    "the autograd second derivative is not finite at an iterate where the gradient is; "
                    "Hessian-vector products by "
                    + derivatives.describe(derivatives.DIFFERENCES, derivatives.step(self.x.dtype))
                )
                model = None
                continue
            # a Newton step only where CG reached its residual target (not where it hit the boundary, ran out of
            # iterations or time, or stopped in the round-off)
            newton = polish & ~hit_boundary & resolved
            x_new = sphere.retract(self.x, eta)
            v_new = self._values(x_new)
            pred = -(sphere.inner(g, eta) + 0.5 * sphere.inner(eta, h_eta))
            actual = self.value - v_new
            # round-off scale of f: |f| plus the size of its terms, gauged by the Euclidean gradient (whose
            # normal part does not vanish); scale-free, unlike max(1, |f|)
            reg = self.options.round_off.rho * self.eps * (self.value.abs() + sphere.norm(self.egrad))
            rho = (actual + reg) / (pred + reg)
            ok = active & torch.isfinite(v_new) & (pred >= 0) & (rho > o.accept)
            # radius update (Absil, Baker & Gallivan 2007, Alg. 1)
            delta = torch.where(active & (rho < o.shrink_below), delta / 4, delta)
            grow = active & (rho > o.grow_above) & hit_boundary
            delta = torch.where(grow, torch.clamp(2 * delta, max=delta_bar), delta)
            decreased = torch.zeros_like(ok)
            if bool(ok.any()):
                # one differentiable pass at the new iterate serves the stopping test and the next model
                x_cand = torch.where(ok[:, None, None], x_new, self.x)
                cand = self._model(x_cand)
                g_cand = sphere.norm(cand.rgrad)
                # In the round-off regime (|actual| and pred both below the regularisation) ρ ≈ 1 says
                # nothing; accept such a step only if it lowers the gradient norm.
                blind = ok & (actual.abs() < reg) & (pred < reg) & ~(g_cand < self.gnorm)
                if bool(blind.any()):
                    ok = ok & ~blind
                    delta = torch.where(blind, delta / 4, delta)
                    x_cand = torch.where(ok[:, None, None], x_new, self.x)
                    cand = self._model(x_cand) if bool(ok.any()) else model
                decreased = ok & (actual > reg)
                self.x = x_cand
                self.newton_step = torch.where(ok & newton, sphere.norm(eta), self.newton_step)
                model = cand
                self.value, self.egrad, self.g = model.value, model.egrad.detach(), model.rgrad
                self.gnorm = sphere.norm(self.g)
            improved = decreased | (self.gnorm < o.progress * best_g)
            best_g = torch.minimum(best_g, self.gnorm)
            no_progress = torch.where(active & ~improved, no_progress + 1, torch.zeros_like(no_progress))
            self.stalled |= active & ((no_progress >= o.stall_iterations) | (delta < o.min_radius))
            self._record(active)

    def _model(self, x: Tensor):
        return (
            self.fused.model(x) if self.hess_method == fused_method else derivatives.model(self.f, x, self.hess_method)
        )

    def reasons(self) -> list[StopReason]:
        out = []
        conv = self.converged()
        floor = self._noise_floor()
        for b in range(self.B):
            if bool(self.dead[b]):
                out.append(StopReason.NON_FINITE)
            elif bool(conv[b]) and float(self.gnorm[b]) <= float(floor[b]):
                out.append(StopReason.ROUND_OFF_FLOOR)
            elif bool(conv[b]):
                out.append(StopReason.NEWTON_RESOLVED)
            elif self.timed_out and not bool(self.stalled[b]):
                out.append(StopReason.TIME_LIMIT)
            elif bool(self.stalled[b]):
                out.append(StopReason.STAGNATED)
            else:
                out.append(StopReason.ITERATION_LIMIT)
        return out


def _moved_pair(xo: Tensor, go: Tensor, xn: Tensor, egn: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """After a move xo → xn: the new Riemannian gradient and the curvature pair (s, y) in xn's tangent space
    (projection as vector transport), as BB and L-BFGS use them."""
    gn = sphere.project(xn, egn)
    return gn, sphere.project(xn, xn - xo), gn - sphere.project(xn, go)


def _truncated_cg(
    model: sphere.SecondOrderModel,
    g: Tensor,
    delta: Tensor,
    active: Tensor,
    max_inner: int,
    floor: Tensor,
    accurate: Tensor | None = None,
    theta: float = 1.0,
    kappa: float = 0.1,
    accurate_residual: float = 1e-6,
    deadline: float = math.inf,
    round_off: float = 10.0,
    stall_progress: float = 0.9,
    stall: int = 10,
):
    """Steihaug–Toint truncated CG for min_η <g,η> + ½<η,Hη>, ‖η‖ ≤ Δ, per batch entry.

    Returns η, Hη, whether the boundary (or negative curvature) stopped it, the number of HVPs, and whether
    it reached its residual target (``resolved``).  At the deadline (time.perf_counter()) it returns the
    current iterate: every CG iterate lowers the model.

    Round-off: once the best residual is within ``round_off`` × ``floor``, a residual that has not fallen
    below ``stall_progress`` × that best for ``stall`` iterations stops (not resolved).  The residual that
    remains there lies in directions CG cannot reduce — the rounding error of the gradient along the
    rotation orbit, where the Hessian is zero (an invariant loss has no gradient along its orbit: that part
    is round-off only).  Planted
    wrong-sign KCL, M = 256, d = 512, collapsed minimum: gradients 2.5–2.9e-14 against a floor of 1.8e-14,
    1.6e-14 of it along the orbit; two of eight restarts' CG wandered along the orbit (step growing 1e-10 →
    2e-8) and ran to max_inner = 2000 products of the whole batch (~10 min) before this rule.
    """
    x = model.x
    eta = torch.zeros_like(g)
    h_eta = torch.zeros_like(g)
    r = g.clone()
    delta_dir = -r
    rr = sphere.inner(r, r)
    r0 = torch.sqrt(rr)
    # Residual target ‖r‖ ≤ ‖g‖ min(‖g‖^θ, κ) (superlinear rate), but not below the gradient's round-off
    # floor: chasing noise lets CG drift into the directions of the rotation orbit, whose curvature is
    # O(‖g‖) and may be negative away from the critical point (which would send it to the boundary).
    target = torch.minimum(r0.pow(theta), torch.full_like(r0, kappa))
    if accurate is not None:
        target = torch.where(accurate, torch.minimum(target, torch.full_like(r0, accurate_residual)), target)
    stop_at = torch.maximum(r0 * target, floor)
    act = active & (r0 > floor)  # a residual already at the floor needs no step
    resolved = ~act.clone()  # (inactive restarts: nothing to resolve)
    hit = torch.zeros_like(act)
    best_r = r0.clone()
    since = torch.zeros_like(act, dtype=torch.long)
    n_hvp = 0
    sub = None
    for _ in range(max_inner):
        if not bool(act.any()) or (n_hvp and deadline != math.inf and time.perf_counter() >= deadline):
            break
        hd, sub = _active_hvp(model, delta_dir, act, sub)
        n_hvp += 1
        kap = sphere.inner(delta_dir, hd)
        alpha = rr / kap
        ee, ed, dd = sphere.inner(eta, eta), sphere.inner(eta, delta_dir), sphere.inner(delta_dir, delta_dir)
        new_norm2 = ee + 2 * alpha * ed + alpha * alpha * dd
        to_boundary = act & ((kap <= 0) | (new_norm2 >= delta * delta) | ~torch.isfinite(alpha))
        tau = (-ed + torch.sqrt((ed * ed + dd * (delta * delta - ee)).clamp_min(0))) / dd
        stepsize = torch.where(to_boundary, tau, torch.where(act, alpha, torch.zeros_like(alpha)))
        stepsize = torch.nan_to_num(stepsize, nan=0.0, posinf=0.0, neginf=0.0)
        eta = eta + stepsize[:, None, None] * delta_dir
        h_eta = h_eta + stepsize[:, None, None] * hd
        hit |= to_boundary
        act = act & ~to_boundary
        r = torch.where(act[:, None, None], sphere.project(x, r + alpha[:, None, None] * hd), r)
        rr_new = sphere.inner(r, r)
        r_norm = torch.sqrt(rr_new)
        converged = act & (r_norm <= stop_at)
        resolved |= converged
        better = r_norm < stall_progress * best_r
        best_r = torch.where(act & better, r_norm, best_r)
        since = torch.where(better, torch.zeros_like(since), since + 1)
        stuck = act & ~converged & (since >= stall) & (best_r <= round_off * floor)
        act = act & ~converged & ~stuck
        beta = rr_new / rr
        delta_dir = torch.where(act[:, None, None], -r + beta[:, None, None] * delta_dir, delta_dir)
        rr = torch.where(act, rr_new, rr)
    return eta, h_eta, hit, n_hvp, resolved & ~hit


def _active_hvp(model, v: Tensor, act: Tensor, sub):
    """H v for the restarts whose CG is still running, zeros for the others.  A model that can be restricted
    to part of the batch (``select``) computes only those — at M = 256, d = 512 a product costs ~0.05 s per
    configuration, and a batch would otherwise pay for restarts that are done.
    ``sub``: (active indices, restricted model) of the previous call, reused while the active set holds.

    hemtools.fused's ``select`` slices its stored blocks (free): it follows every change of the active set.
    An autograd model (sphere.SecondOrderModel, a user loss) holds one graph for the whole batch, and its
    ``select`` is a new differentiable pass on the rows kept, costing about one product of those rows
    (measured: planted KCL M = 128, d = 256, one thread: rebuild of 1 / 4 / 7 rows 3.4 / 9.5 / 15 ms, a
    product of 8 rows 26 ms): it is rebuilt only once the running restarts are at most half of the rows of
    the model in use, so a rebuild pays for itself within one product and a CG call rebuilds at most
    log2(B) times.  While every restart runs the whole model is used, exactly as before."""
    select = getattr(model, "select", None)
    if select is None or bool(act.all()) or not getattr(model, "selectable", True):
        return model.hvp(torch.where(act[:, None, None], v, torch.zeros_like(v))), sub
    idx = act.nonzero().squeeze(1)
    if getattr(model, "rebuilds", False):  # an autograd model: rebuild only on halving (see above)
        rows = act.numel() if sub is None else sub[0].numel()
        if 2 * idx.numel() > rows:
            if sub is None:
                return model.hvp(torch.where(act[:, None, None], v, torch.zeros_like(v))), sub
            keep = act[sub[0]]  # the rows of the restricted model that still run
            out = torch.zeros_like(v)
            vi = v[sub[0]]
            out[sub[0]] = sub[1].hvp(torch.where(keep[:, None, None], vi, torch.zeros_like(vi)))
            return out, sub
    if sub is None or not torch.equal(sub[0], idx):
        sub = (idx, select(idx))
    out = torch.zeros_like(v)
    if idx.numel():
        out[idx] = sub[1].hvp(v[idx])
    return out, sub
