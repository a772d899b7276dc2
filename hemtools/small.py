"""The small-problem path of :func:`hemtools.optim.solve`: one restart at a time, on numpy arrays.

The batched solver (optim._Solver) runs every restart as one torch batch; below a few thousand coordinates
its cost is torch's dispatch (~3–6 µs per operation on the 2-core CI machines, ~40 operations per
iteration for the masks, gathers and scatters of the batch), not arithmetic.  For a loss with closed-form
derivatives in its Gram blocks (hemtools.fused, which runs on numpy arrays as well) this module runs the
same algorithm — Barzilai–Borwein descent with the Zhang–Hager non-monotone Armijo search, then the
Riemannian trust region with Steihaug–Toint truncated CG, with the same options, switch rule, round-off
floor, stopping and stagnation rules — on one restart with Python scalars for the bookkeeping and numpy
for the arrays (~1 µs per operation).  KCL, M = 8, d = 16, one start to gradient 1e-10: see
benchmarks/solve.py and the README.

Restarts run one after another; their histories are padded with their last values to a common length, as
the batched solver records a finished restart.  optim.solve chooses this path (:func:`applies`) only for
CPU float64 solves of losses with a closed form and without a progress callback; tests/test_small.py
compares it with the batched solver on every such loss.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

# When optim.solve takes this path: CPU, float64, a closed form, no progress callback, and at most
# SMALL_RESTARTS restarts of at most SMALL_PROBLEM coordinates (points × dimension).  Measured (CPU seconds,
# one thread, loaded 2-core machine, default restarts unless said; numpy one at a time vs the torch batch):
# KCL M = 8, d = 16: 1 restart 0.007 vs 0.045 s, 8: 0.040 vs 0.155 s, 32: 0.165 vs 0.186 s; InfoNCE M = 8,
# d = 16: 8: 0.041 vs 0.055 s, 32: 0.164 vs 0.082 s (the batch wins from ~16 restarts of tiny problems);
# KCL M = 40, d = 4 (M > d+1), 8: 1.3 vs 4.6 s; KCL M = 100, d = 16, 4: 4.8 vs 16.5 s; KCL M = 129,
# d = 128, 4: 0.39 vs 1.00 s; InfoNCE M = 128, d = 256, 8: 1.23 vs 2.22 s; NT-Xent M = 200, d = 256, 4:
# 2.22 vs 3.33 s (the gap closes as matrix products take over from dispatch).  Beyond, the batch keeps the
# paths tuned for training sizes (restricted HVPs, L-BFGS, multi-threaded products).
SMALL_PROBLEM = 65_536
SMALL_RESTARTS = 16


def applies(restarts: int, n_points: int, d: int) -> bool:
    """Whether a CPU float64 solve with a closed form goes this way (see SMALL_PROBLEM)."""
    return restarts <= SMALL_RESTARTS and n_points * d <= SMALL_PROBLEM


def _project(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    return v - (x * v).sum(-1, keepdims=True) * x


def _retract(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    y = x + v
    return y / np.sqrt((y * y).sum(-1, keepdims=True))


def _inner(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.vdot(a, b))


def _norm(a: np.ndarray) -> float:
    return math.sqrt(_inner(a, a))


@dataclass
class OneRestart:
    """Outcome of one restart: the same quantities the batched solver keeps per batch entry."""

    x: np.ndarray
    value: float
    gnorm: float
    iterations: int
    converged: bool
    stop: str  # "round_off_floor" | "newton_resolved" | "time_limit" | "stagnated" | "iteration_limit" | "non_finite"
    hist_v: list = field(default_factory=list)
    hist_g: list = field(default_factory=list)
    phase_switch: int = 0
    n_hvp: int = 0
    tr_steps: int = 0
    timed_out: bool = False


class _State:
    def __init__(self, loss, x: np.ndarray, *, tol: float, eps: float, options, deadline: float, probe: np.ndarray):
        self.L, self.o, self.tol, self.eps, self.deadline = loss, options, tol, eps, deadline
        self.probe = probe  # the fixed random direction of the round-off measurement (as optim draws it)
        self.x = x
        v, eg = loss.value_grad(x)
        self._set(x, float(v), eg, _project(x, eg))
        self.dead = not (math.isfinite(self.value) and math.isfinite(self.gnorm))
        self.stalled = False
        self.timed_out = False
        self.newton_step = math.inf
        self.grad_noise, self.noise_at = 0.0, math.inf
        self.iters = self.iteration = self.n_hvp = self.tr_steps = 0
        self.hist_v, self.hist_g = [self.value], [self.gnorm]

    def _set(self, x, value: float, egrad, g) -> None:
        self.x, self.value, self.egrad, self.g = x, value, egrad, g
        self.gnorm = _norm(g)

    def record(self, active: bool) -> None:
        self.iteration += 1
        self.iters += int(active)
        self.dead = self.dead or not (math.isfinite(self.value) and math.isfinite(self.gnorm))
        self.hist_v.append(self.value)
        self.hist_g.append(self.gnorm)

    def noise_floor(self) -> float:
        return max(self.o.round_off.gradient_floor * self.eps * _norm(self.egrad), self.grad_noise)

    def slack(self, ref: float) -> float:
        return self.o.round_off.slack * self.eps * max(abs(ref), 1.0)

    def converged(self) -> bool:
        resolved = self.gnorm <= self.tol and self.newton_step <= self.o.trust_region.step_tol
        return (self.gnorm <= self.noise_floor() or resolved) and not self.dead

    def out_of_time(self) -> bool:
        if self.deadline == math.inf or time.perf_counter() < self.deadline:
            return False
        self.timed_out = True
        return True

    def measure_noise(self) -> None:
        """optim._Solver._measure_gradient_noise: the gradient's change under a displacement of one ulp."""
        z = _project(self.x, self.probe)
        z = z * (self.eps / max(math.sqrt(float((z * z).mean())), 1e-300))
        _, eg = self.L.value_grad(_retract(self.x, z))
        noise = _norm(_project(self.x, eg) - self.g)
        if math.isfinite(noise):
            self.grad_noise = noise
        self.noise_at = self.gnorm

    # ----------------------------------------------------------------------------------------------------
    def first_order(self, max_iter: int, switch_step: float) -> None:
        """optim._Solver.first_order for one restart."""
        o = self.o.first_order
        rad = math.sqrt(self.x.shape[0])
        step = o.initial_rad * rad / max(self.gnorm, 1e-300)
        C, Q, bb_count, bb_est, backtracks = self.value, 1.0, 0, math.inf, 0
        for _ in range(max_iter):
            if (bb_est * self.gnorm <= switch_step or self.gnorm <= self.noise_floor() or self.dead or self.stalled
                    or self.out_of_time()):
                break
            x_try = _retract(self.x, -step * self.g)
            v_try, eg_try = self.L.value_grad(x_try)
            v_try = float(v_try)
            ok = math.isfinite(v_try) and v_try <= C - o.armijo * step * self.gnorm ** 2 + self.slack(C)
            if not ok:
                step *= o.shrink
                backtracks += 1
                self.stalled = backtracks > o.max_backtracks
            else:
                gn = _project(x_try, eg_try)
                s_vec = _project(x_try, x_try - self.x)
                y_vec = gn - _project(x_try, self.g)
                sy, ss, yy = _inner(s_vec, y_vec), _inner(s_vec, s_vec), _inner(y_vec, y_vec)
                bb = float(np.float64(ss) / sy) if bb_count % 2 == 0 else float(np.float64(sy) / yy)
                gn_norm = max(_norm(gn), 1e-300)
                usable = sy > 0 and math.isfinite(bb) and bb > 0
                bb_est = bb if usable else math.inf
                step = min(bb, o.max_rad * rad / gn_norm) if usable else o.initial_rad * rad / gn_norm
                bb_count += 1
                backtracks = 0
                q_new = o.nonmonotone * Q + 1.0
                C = (o.nonmonotone * Q * C + v_try) / q_new
                Q = q_new
                self._set(x_try, v_try, eg_try, gn)
            self.record(ok)
        self.stalled = False

    # ----------------------------------------------------------------------------------------------------
    def trust_region(self, max_iter: int, max_inner: int | None) -> None:
        """optim._Solver.trust_region for one restart (closed-form Hessian-vector products)."""
        o = self.o.trust_region
        N, d = self.x.shape
        max_inner = min(N * (d - 1), 2000) if max_inner is None else max_inner
        delta_bar = math.pi * math.sqrt(N)
        delta = delta_bar * o.initial_radius
        best_g, no_progress, model = self.gnorm, 0, None
        for _ in range(max_iter):
            if self.gnorm < 0.1 * self.noise_at:
                self.measure_noise()
            floor = self.noise_floor()
            if self.converged() or self.dead or self.stalled or self.out_of_time():
                break
            self.tr_steps += 1
            if model is None:
                model = self.L.model(self.x)
            g = model.rgrad
            polish = self.gnorm <= self.tol
            eta, h_eta, hit, resolved = self._cg(model, g, delta, max_inner, floor, polish)
            newton = polish and not hit and resolved  # a Newton step only where CG reached its target
            x_new = _retract(self.x, eta)
            v_new = float(self.L.value(x_new))
            pred = -(_inner(g, eta) + 0.5 * _inner(eta, h_eta))
            actual = self.value - v_new
            reg = self.o.round_off.rho * self.eps * (abs(self.value) + _norm(self.egrad))
            rho = float(np.float64(actual + reg) / (pred + reg))
            ok = math.isfinite(v_new) and pred >= 0 and rho > o.accept
            if rho < o.shrink_below:
                delta /= 4
            elif rho > o.grow_above and hit:
                delta = min(2 * delta, delta_bar)
            decreased = False
            if ok:
                cand = self.L.model(x_new)
                blind = abs(actual) < reg and pred < reg and not (_norm(cand.rgrad) < self.gnorm)
                if blind:  # round-off regime: accept only a step that lowers the gradient norm
                    delta /= 4
                else:
                    decreased = actual > reg
                    if newton:
                        self.newton_step = _norm(eta)
                    model = cand
                    self._set(x_new, float(cand.value), cand.egrad, cand.rgrad)
            improved = decreased or self.gnorm < o.progress * best_g
            best_g = min(best_g, self.gnorm)
            no_progress = 0 if improved else no_progress + 1
            self.stalled = no_progress >= o.stall_iterations or delta < o.min_radius
            self.record(True)

    def _cg(self, model, g, delta: float, max_inner: int, floor: float, accurate: bool):
        """optim._truncated_cg for one restart: η, Hη, whether the boundary stopped it, whether it reached its
        residual target (not the boundary, the iteration or time limit, or the round-off stop)."""
        o = self.o.trust_region
        x = model.x
        eta, h_eta, r = np.zeros_like(g), np.zeros_like(g), g.copy()
        direction = -r
        rr = _inner(r, r)
        r0 = math.sqrt(rr)
        target = min(r0 ** o.cg_theta, o.cg_kappa)
        if accurate:
            target = min(target, o.cg_accurate)
        stop_at = max(r0 * target, floor)
        if not r0 > floor:  # a residual already at the floor needs no step
            return eta, h_eta, False, True
        best_r, since = r0, 0
        for k in range(max_inner):
            if k and self.deadline != math.inf and time.perf_counter() >= self.deadline:
                break
            hd = model.hvp(direction)
            self.n_hvp += 1
            kap = _inner(direction, hd)
            ee, ed, dd = _inner(eta, eta), _inner(eta, direction), _inner(direction, direction)
            alpha = float(np.float64(rr) / kap)
            if kap <= 0 or not math.isfinite(alpha) or ee + 2 * alpha * ed + alpha * alpha * dd >= delta * delta:
                tau = float((-ed + math.sqrt(max(ed * ed + dd * (delta * delta - ee), 0.0))) / np.float64(dd))
                tau = tau if math.isfinite(tau) else 0.0
                return eta + tau * direction, h_eta + tau * hd, True, False
            eta = eta + alpha * direction
            h_eta = h_eta + alpha * hd
            r = _project(x, r + alpha * hd)
            rr_new = _inner(r, r)
            r_norm = math.sqrt(rr_new)
            if r_norm <= stop_at:
                return eta, h_eta, False, True
            # the round-off stop: a residual near the floor that no longer falls is what CG cannot remove
            if r_norm < o.cg_progress * best_r:
                best_r, since = r_norm, 0
            else:
                since += 1
            if since >= o.cg_stall and best_r <= o.cg_round_off * floor:
                break
            direction = -r + (rr_new / rr) * direction
            rr = rr_new
        return eta, h_eta, False, False

    def stop(self) -> str:
        if self.dead:
            return "non_finite"
        if self.converged():
            return "round_off_floor" if self.gnorm <= self.noise_floor() else "newton_resolved"
        if self.timed_out and not self.stalled:
            return "time_limit"
        return "stagnated" if self.stalled else "iteration_limit"


def solve_one(loss, x: np.ndarray, *, tol: float, eps: float, options, switch_step: float, deadline: float,
              probe: np.ndarray) -> OneRestart:
    """Minimise one restart from ``x`` (N, d) with the closed form ``loss`` (hemtools.fused.GramLoss); ``probe``
    (N, d): the random direction of the gradient's round-off measurement."""
    # overflow and NaN are detected and reported (StopReason.NON_FINITE), not printed as numpy warnings
    with np.errstate(all="ignore"):
        s = _State(loss, x, tol=tol, eps=eps, options=options, deadline=deadline, probe=probe)
        s.first_order(options.first_order.max_iter, switch_step)
        switch = s.iteration
        s.trust_region(options.trust_region.max_iter, options.trust_region.max_inner)
    return OneRestart(x=s.x, value=s.value, gnorm=s.gnorm, iterations=s.iters, converged=s.converged(),
                      stop=s.stop(), hist_v=s.hist_v, hist_g=s.hist_g, phase_switch=switch, n_hvp=s.n_hvp,
                      tr_steps=s.tr_steps, timed_out=s.timed_out)


__all__ = ["SMALL_PROBLEM", "SMALL_RESTARTS", "OneRestart", "applies", "solve_one"]
