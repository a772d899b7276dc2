"""Configurations that satisfy a claim, polished by the solver: what verify weighs a counterexample against.

A converged minimum with a positive semidefinite Hessian that is not perfectly aligned contradicts the
claim ``aligned`` only if it is *lower* than every aligned configuration: random restarts of a non-convex
loss can all end in non-aligned local minima above an aligned global one (KCL-sym, M = 12, d = 3: the
restarts stop at −0.03 … 0.6 while the aligned icosahedron has −0.36).  Before such a refutation, verify
evaluates the aligned configurations it already knows of — the regular simplex (M <= d+1), the catalogue
configurations of ``configurations`` that fit (M, d), and the minimiser of the energy the loss's uniformity
term is built from (``energies.baseline``) — each as U = V, polishes them with the solver's own local
method (``optim.solve`` from ``x0``), and keeps those still aligned.

A loss that depends on the orientation of the configuration (a user term such as 0.01·u_0[0]) is
lower at some rotation and labelling of the claimed configuration than at the one fixed orientation that
``configurations`` constructs: :func:`oriented_target` places the exact target onto the found minimiser
(matching π and orthogonal Q, ``configurations.match_points``) so that the two are compared like for like.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import configurations, memory
from .optim import solve

Tensor = torch.Tensor


@dataclass
class Candidate:
    """One configuration satisfying the claim, as constructed and after the local polish."""

    name: str
    start_value: float  # loss at the constructed configuration
    value: float  # loss after the polish
    grad_norm: float
    converged: bool
    alignment: float  # max_i ‖u_i − v_i‖ after the polish (0 for point losses)
    points: Tensor  # polished [U; V] (pairs) or X

    def to_dict(self) -> dict:
        return {"name": self.name, "start_value": _num(self.start_value), "value": _num(self.value),
                "grad_norm": _num(self.grad_norm), "converged": self.converged, "alignment": _num(self.alignment)}


def _num(x: float):
    return x if math.isfinite(x) else str(x)


def aligned_candidates(spec, params, M: int, d: int) -> list[tuple[str, Tensor]]:
    """(name, anchors (M, d)) of the aligned configurations known for this size: simplex, catalogue, energy
    baseline minimiser.  Point losses: the same configurations as X."""
    out: list[tuple[str, Tensor]] = []
    if M <= d + 1:
        out.append(("regular simplex", configurations.regular_simplex(M, d)))
    for name in configurations.names_fitting(M, d):
        try:
            out.append((name, configurations.construct(name, M, d)))
        except ValueError:  # a builder that refuses this size after all
            continue
    if M > d + 1:
        from . import energies

        declared, _ = spec.forms.resolve("energy", params)  # the energy baseline the loss declares
        if declared is not None and not declared.is_the_loss:
            kernel = declared.kernel
            base = energies.baseline(kernel, dict(declared.params), M, d)
            if base.points is not None and bool(torch.isfinite(base.points).all()):
                out.append((f"{kernel} energy minimiser (baseline search)", base.points.to(torch.float64)))
    return out


def polish(spec, params, M: int, d: int, starts: list[tuple[str, Tensor]], *, dtype, device, tol,
           config_tol: float, max_memory=None, notes: list[str] | None = None) -> list[Candidate]:
    """Run the solver's local method (first order, then trust region) from each start, batched — in groups
    within the memory budget ``max_memory`` (hemtools.memory.solve_bounded), as verify's own solve; the
    note saying so is appended to ``notes``."""
    if not starts:
        return []
    f = spec.objective(M, params)
    xs = []
    for _, a in starts:
        a = a.to(torch.float64)
        xs.append(torch.cat([a, a]) if spec.kind == "pairs" else a)
    x0 = torch.stack(xs)
    with torch.no_grad():
        v0 = f(x0).detach().double()
    res, note = memory.solve_bounded(spec, M, d, params=params, restarts=x0.shape[0], x0=x0, dtype=dtype,
                                     device=device, tol=tol, max_memory=max_memory)
    if note and notes is not None:
        notes.append(f"polish of the configurations satisfying the claim: {note}")
    out = []
    for i, (name, _) in enumerate(starts):
        pts = res.points[i]
        align = float((pts[:M] - pts[M:]).norm(dim=-1).max()) if spec.kind == "pairs" else 0.0
        out.append(Candidate(name=name, start_value=float(v0[i]), value=float(res.values[i]),
                             grad_norm=float(res.grad_norms[i]), converged=bool(res.converged[i]),
                             alignment=align, points=pts))
    left = [i for i, c in enumerate(out) if spec.kind == "pairs" and c.alignment > config_tol]
    if left:
        out += _polish_on_claim_set(spec, params, M, d, [starts[i] for i in left], [float(v0[i]) for i in left],
                                    f, dtype=dtype, device=device, tol=tol)
    return out


def _polish_on_claim_set(spec, params, M, d, starts, start_values, f, *, dtype, device, tol) -> list[Candidate]:
    """Aligned constructions whose polish left alignment, minimised over aligned configurations (the loss
    on U = V, a point problem): the best aligned value, not the value as built, is what a misaligned
    minimum must be below.  grad_norm is the full Riemannian gradient there (nonzero when the aligned
    optimum is not a critical point of the loss on pairs)."""
    from . import sphere
    from .losses.registry import LossSpec

    on_claim = LossSpec(name=f"{spec.name} on U = V", fn=lambda X: f(torch.cat([X, X], dim=-2)), params={},
                        kind="points", minimiser=None, batched=True)
    x0 = torch.stack([a.to(torch.float64) for _, a in starts])
    res = solve(on_claim, M, d, x0=x0, dtype=dtype, device=device, tol=tol)
    out = []
    for i, (name, _) in enumerate(starts):
        pts = torch.cat([res.points[i], res.points[i]]).to(torch.float64)
        _, eg, _ = sphere.value_and_egrad(f, pts.unsqueeze(0))
        gn = float(sphere.norm(sphere.project(pts.unsqueeze(0), eg))[0])
        out.append(Candidate(name=f"{name} polished on U = V", start_value=start_values[i],
                             value=float(res.values[i]), grad_norm=gn, converged=bool(res.converged[i]),
                             alignment=0.0, points=pts))
    return out


def best_aligned(cands: list[Candidate], config_tol: float) -> Candidate | None:
    """The lowest finite polished candidate that is still aligned, or None."""
    ok = [c for c in cands if math.isfinite(c.value) and c.alignment <= config_tol]
    return min(ok, key=lambda c: c.value) if ok else None


def oriented_target(target: Tensor, found: Tensor, tol: float) -> Tensor | None:
    """The exact target (N, d) rotated and relabelled onto ``found`` (N, d): y with y[π(i)] = target_i Q,
    π and Q from ``configurations.match_points``; None when the two are not congruent within ``tol``."""
    m = configurations.match_points(target, found, tol)
    if m is None:
        return None
    perm, q, _ = m
    moved = target.to(torch.float64) @ torch.as_tensor(q, dtype=torch.float64)
    out = torch.empty_like(moved)
    out[torch.as_tensor(perm, dtype=torch.long)] = moved
    return out


__all__ = ["Candidate", "aligned_candidates", "polish", "best_aligned", "oriented_target"]
