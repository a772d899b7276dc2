"""α-CL: ∇L = −∇E_α with α stopped (C6): symbolically, by autograd, and for each registered instance."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from typing import Any

import sympy as sp
import torch

from .. import sphere
from ..formula import compile_formula
from ..losses import alphacl as A
from ..losses.registry import get_loss
from .core import TAU, X_, Finding, _float, exact
from .forms import LossForm


def _vanishes(r) -> bool:
    """Cheap canonical forms first (expand; powers combined, then expand; common denominator), simplify last."""
    # undefined φ, ψ: plain expansion cancels term by term; concrete exp/log: combine the powers first
    # (expanding exp(a + b) into products first is what makes sympy slow)
    for f in (lambda a: sp.expand(a, power_exp=False), lambda a: sp.expand(sp.powsimp(a), power_exp=False),
              lambda a: sp.cancel(sp.together(sp.powsimp(a)))):
        if f(r) == 0:
            return True
    return sp.simplify(r) == 0


def alpha_cl_symbolic(phi=None, psi=None, c1=None, c2=None, M: int = 3, d: int = 2) -> Finding:
    """Differentiate L = Σ_i φ(ξ_i) and E_α = Σ α (d_ij² − d_i²) (α held fixed, then set to c φ'(ξ_i) ψ'(Δ_ij))
    with respect to every coordinate of U, V (M × d each) and simplify ∇L + ∇E_α.  With phi/psi None they are
    undefined sympy functions: the identity is then proved for every differentiable φ, ψ."""
    t0 = time.perf_counter()
    general = phi is None
    fphi = sp.Function("phi") if phi is None else sp.Lambda(X_, phi)
    fpsi = sp.Function("psi") if psi is None else sp.Lambda(X_, psi)
    c1 = sp.Symbol("c1", positive=True) if c1 is None else exact(c1)
    c2 = sp.Symbol("c2", nonnegative=True) if c2 is None else exact(c2)
    u = sp.Matrix(M, d, lambda i, k: sp.Symbol(f"u{i}{k}", real=True))
    v = sp.Matrix(M, d, lambda i, k: sp.Symbol(f"v{i}{k}", real=True))
    coords = list(u) + list(v)

    def d2(a, b):
        return sum((a[k] - b[k]) ** 2 for k in range(d))

    y = sp.Dummy("y")
    dphi_y, dpsi_y = sp.diff(fphi(y), y), sp.diff(fpsi(y), y)
    L = 0
    terms = []  # (α_ij as a function of the points, Δ_ij = d_i² − d_ij²)
    for i in range(M):
        di = d2(u.row(i), v.row(i))
        deltas = [(c1, di - d2(u.row(i), v.row(j))) for j in range(M) if j != i]
        if c2 != 0:
            deltas += [(c2, di - d2(u.row(i), u.row(j))) for j in range(M) if j != i]
        xi = sum(c * fpsi(dl) for c, dl in deltas)
        L += fphi(xi)
        for c, dl in deltas:
            terms.append((c * dphi_y.subs(y, xi) * dpsi_y.subs(y, dl), dl))
    grad_L = [sp.diff(L, q) for q in coords]
    # E_α = Σ α_ij (d_ij² − d_i²) = −Σ α_ij Δ_ij with α held fixed (stop-gradient): E is linear in the
    # constants α, so ∂E/∂q = −Σ α_ij ∂Δ_ij/∂q; α's value is inserted after differentiating
    grad_E = [-sum(a * sp.diff(dl, q) for a, dl in terms) for q in coords]
    zero_minus = all(_vanishes(a + b) for a, b in zip(grad_L, grad_E, strict=True))
    # the opposite sign is not an identity: evaluate ∇L − ∇E_α at a rational point
    plus_nonzero = None
    if not general:
        rng = random.Random(1)
        pt = {q: sp.Rational(rng.randint(-9, 9), 10) for q in coords}
        plus_nonzero = max(abs(_float((a - b).xreplace(pt), 20)) for a, b in zip(grad_L, grad_E, strict=True))
    what = (
        "arbitrary differentiable φ, ψ (undefined functions), symbolic c1, c2" if general else f"φ = {phi}, ψ = {psi}"
    )
    detail = f"{len(coords)} coordinates; {time.perf_counter() - t0:.2f} s"
    if plus_nonzero is not None:
        detail += f"; ∇L − ∇E_α is not zero (max |component| {plus_nonzero:.3g} at a rational point): the sign is −"
    return Finding(
        "alpha_cl_identity_symbolic" + ("_general" if general else ""),
        "proved" if zero_minus else "failed",
        f"∇L = −∇E_α with α stopped, M = {M}, d = {d}, {what}: every component of ∇L + ∇E_α simplifies to 0",
        detail,
    )


def alpha_cl_numeric(
    phi,
    psi,
    c1: float,
    c2: float,
    tau: float,
    seed: int = 0,
    cases=((4, 3), (8, 3), (8, 8), (16, 5), (16, 16)),
    on_sphere: bool = False,
) -> Finding:
    """Autograd: ‖∇L + ∇E_α(α.detach())‖ / ‖∇L‖ at random points (Gaussian vectors, or unit vectors)."""
    gen = torch.Generator().manual_seed(seed)
    rows, worst = [], 0.0
    for M, d in cases:
        if on_sphere:
            U, V = sphere.random_points(1, M, d, generator=gen)[0], sphere.random_points(1, M, d, generator=gen)[0]
        else:
            U = 0.6 * torch.randn(M, d, generator=gen, dtype=torch.float64)
            V = U + 0.4 * torch.randn(M, d, generator=gen, dtype=torch.float64)
        Ug, Vg = U.clone().requires_grad_(True), V.clone().requires_grad_(True)
        with torch.enable_grad():
            gL = torch.autograd.grad(A.alphacl_loss(Ug, Vg, phi, psi, c1, c2, tau), [Ug, Vg])
            alpha = A.alpha_weights(U, V, phi, psi, c1, c2, tau)
            Ug, Vg = U.clone().requires_grad_(True), V.clone().requires_grad_(True)
            gE = torch.autograd.grad(A.alpha_energy(Ug, Vg, alpha), [Ug, Vg])
        nL = math.sqrt(sum(float((a**2).sum()) for a in gL))
        r_minus = math.sqrt(sum(float(((a + b) ** 2).sum()) for a, b in zip(gL, gE, strict=True))) / max(nL, 1e-300)
        r_plus = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(gL, gE, strict=True))) / max(nL, 1e-300)
        rows.append({"M": M, "d": d, "rel_residual_minus": r_minus, "rel_residual_plus": r_plus, "grad_norm": nL})
        worst = max(worst, r_minus) if math.isfinite(r_minus) else math.inf
    # ~ M² terms of float64 round-off each: 1e-12 relative
    status = "passed" if worst <= 1e-12 else ("inconclusive" if not math.isfinite(worst) else "failed")
    return Finding(
        "alpha_cl_identity_numeric",
        status,
        "‖∇L + ∇E_α‖/‖∇L‖ <= 1e-12 (autograd, α detached) at random "
        + ("unit" if on_sphere else "Gaussian")
        + " points",
        f"largest {worst:.2e}; the opposite sign gives ‖∇L − ∇E_α‖/‖∇L‖ ≈ "
        f"{min(r['rel_residual_plus'] for r in rows):.3f} to {max(r['rel_residual_plus'] for r in rows):.3f}",
        {"rows": rows},
    )


def alpha_cl_instance_check(name: str, params: Mapping[str, Any] | None = None, seed: int = 0) -> Finding:
    """A registered loss equals scale·L_{φ,ψ} on the sphere and its Riemannian gradient equals −scale·∇E_α."""
    spec = get_loss(name)
    p = spec.resolve_params(params)
    inst = A.instance(spec.name, p)
    if inst is None:
        why = A.alpha_cl_form(spec, p)[1] or "no α-CL form is known for it"
        return Finding("alpha_cl_instance", "n/a", f"{spec.name} is not an α-CL instance", why)
    gen = torch.Generator().manual_seed(seed)
    worst_v = worst_g = 0.0
    for M, d in ((3, 2), (5, 4), (8, 3), (12, 12)):
        U, V = sphere.random_points(1, M, d, generator=gen)[0], sphere.random_points(1, M, d, generator=gen)[0]
        scale = 1.0 / M if inst["scale"] == "1/M" else 1.0
        x = torch.cat([U, V]).unsqueeze(0)
        val, rg = sphere.riemannian_gradient(spec.objective(M, p), x)
        L = float(A.alphacl_loss(U, V, inst["phi"], inst["psi"], inst["c1"], inst["c2"], inst["tau"]))
        worst_v = max(worst_v, abs(float(val[0]) - scale * L) / max(1.0, abs(float(val[0]))))
        alpha = A.alpha_weights(U, V, inst["phi"], inst["psi"], inst["c1"], inst["c2"], inst["tau"])
        Ug, Vg = U.clone().requires_grad_(True), V.clone().requires_grad_(True)
        with torch.enable_grad():
            gE = torch.autograd.grad(A.alpha_energy(Ug, Vg, alpha), [Ug, Vg])
        gE = sphere.project(x[0], torch.cat(gE))
        worst_g = max(worst_g, float((rg[0] + scale * gE).norm()) / max(float(rg[0].norm()), 1e-300))
    ok = worst_v <= 1e-12 and worst_g <= 1e-12
    phi_txt = inst["phi"] if isinstance(inst["phi"], str) else str(inst["phi"])
    psi_txt = inst["psi"] if isinstance(inst["psi"], str) else str(inst["psi"])
    return Finding(
        "alpha_cl_instance",
        "passed" if ok else "failed",
        f"{spec.name} = {inst['scale']}·L_(φ,ψ) with φ = {phi_txt}, ψ = {psi_txt} (tau = {inst['tau']:g}), "
        f"c = ({inst['c1']:g}, {inst['c2']:g}); its Riemannian gradient = −{inst['scale']}·grad E_α (α stopped)",
        f"value: largest relative difference {worst_v:.2e}; gradient: {worst_g:.2e} (tolerance 1e-12)",
        {"value_rel": worst_v, "gradient_rel": worst_g},
    )


def alpha_cl_section(form: LossForm, seed: int = 0) -> list[Finding]:
    inst = A.instance(form.name, form.params)
    if inst is None:
        return [alpha_cl_instance_check(form.name, form.params, seed)]
    out = [alpha_cl_symbolic()]
    fphi, fpsi = compile_formula(inst["phi"], "phi"), compile_formula(inst["psi"], "psi")
    if fphi.expr is not None and fpsi.expr is not None:
        tv = exact(inst["tau"])
        out.append(alpha_cl_symbolic(fphi.expr.subs(TAU, tv), fpsi.expr.subs(TAU, tv), inst["c1"], inst["c2"]))
    out.append(alpha_cl_numeric(inst["phi"], inst["psi"], inst["c1"], inst["c2"], inst["tau"], seed))
    out.append(alpha_cl_instance_check(form.name, form.params, seed))
    return out
