"""The Riemannian gradient at the aligned simplex: general M (symbolic), full Gram matrix (M = 2, 3), autograd."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp

from .. import sphere
from ..losses.registry import get_loss
from .closed_form import simplex_block_sums, simplex_inner_product, simplex_points
from .core import BLOCK_SUMS, M_, P_, S_UU, S_UV, S_VU, S_VV, STATIONARY_ATOL, XN, Finding, _float, is_zero
from .forms import LossForm


def _class_gradient(form: LossForm):
    """Coefficients of the Euclidean gradient at the aligned simplex, from the per-anchor form:
    ∂L/∂u_i = P v_i + B Σ_{j≠i} v_j + Cu Σ_{j≠i} u_j and ∂L/∂v_i = P u_i + B Σ_{j≠i} u_j + Cv Σ_{j≠i} v_j,
    where P, B, Cu, Cv are ∂L/∂(u_i·v_i), ∂L/∂(u_i·v_j), ∂L/∂(u_i·u_j), ∂L/∂(v_i·v_j) (an inner product
    u_i·v_j enters anchor i's uv block and anchor j's vu block; u_i·u_j enters the uu blocks of i and j)."""
    s = simplex_inner_product()
    at = {P_: 1}
    sums = simplex_block_sums(form)

    def fd(var):
        return sp.diff(form.outer, var).subs(sums).subs(at)

    def gx(b):
        return sp.diff(form.inner[b], XN).subs({XN: s, P_: 1}) if b in form.inner else sp.Integer(0)

    def gp(b):
        return sp.diff(form.inner[b], P_).subs({XN: s, P_: 1}) if b in form.inner else sp.Integer(0)

    coef_p = (fd(P_) + sum(fd(BLOCK_SUMS[b]) * (M_ - 1) * gp(b) for b in form.inner)) / M_
    coef_b = (fd(S_UV) * gx("uv") + fd(S_VU) * gx("vu")) / M_
    coef_cu = 2 * fd(S_UU) * gx("uu") / M_
    coef_cv = 2 * fd(S_VV) * gx("vv") / M_
    return coef_p, coef_b, coef_cu, coef_cv


def stationarity(form: LossForm, concrete: Sequence[int] = (2, 3), Ms: Sequence[int] = (2, 3, 5, 8)) -> list[Finding]:
    """The Riemannian gradient vanishes at the aligned simplex: for general M (symbolic), for the given
    concrete M from the full Gram matrix (symbolic), and measured by autograd at the exact simplex."""
    if form.kernel is not None and form.kernel.align_nonsmooth:
        return [
            Finding(
                "stationarity",
                "n/a",
                "the Riemannian gradient at the aligned simplex",
                f"K_A = {form.kernel.K_A} is not differentiable at r = 0, i.e. at u_i = v_i: the gradient does not "
                "exist at the aligned simplex (it is a kink, not a stationary point); verify cannot reach a small "
                "gradient there either",
            )
        ]
    out = []
    # --- general M: gradient coefficients from the derivatives, Gram of (u_i, w = Σ_{j≠i} u_j) at the simplex
    s = simplex_inner_product()
    cp, cb, cu, cv = _class_gradient(form)
    g_uw = (M_ - 1) * s  # u_i·w
    g_ww = (M_ - 1) + (M_ - 1) * (M_ - 2) * s  # w·w
    G = sp.Matrix([[1, g_uw], [g_uw, g_ww]])
    e1 = sp.Matrix([1, 0])
    results = {}
    vecs = {"u": sp.Matrix([cp, cb + cu])} if form.kind == "pairs" else {"u": sp.Matrix([0, cu])}
    if form.kind == "pairs":
        vecs["v"] = sp.Matrix([cp, cb + cv])
    ok_all = True
    for key, g in vecs.items():
        norm2 = (g.T * G * g)[0] - ((e1.T * G * g)[0]) ** 2
        radial = sp.simplify((e1.T * G * g)[0])
        zero, how = is_zero(norm2)
        ok_all &= zero and how == "symbolic"
        results[key] = {"norm2": str(sp.simplify(norm2)), "radial": str(radial), "how": how}
    out.append(
        Finding(
            "stationary_general_M",
            "proved" if ok_all else "undecided",
            "‖grad_u L‖² = gᵀGg − (u_i·g)² = 0 at the aligned simplex for every M (w = Σ_{j≠i} u_j: u_i·w = "
            f"{sp.simplify(g_uw)}, w·w = {sp.simplify(g_ww)})",
            "the Euclidean gradient is (P − B − Cu) u_i: radial, removed by the tangent projection",
            {
                "P": str(sp.simplify(cp)),
                "B": str(sp.simplify(cb)),
                "Cu": str(sp.simplify(cu)),
                "Cv": str(sp.simplify(cv)),
                **{f"{k}_{a}": v for k, r in results.items() for a, v in r.items()},
            },
        )
    )
    # --- concrete M: full Gram matrix, no symmetry assumed
    for m in concrete:
        out.append(_stationarity_full_gram(form, m))
    # --- measured
    spec = get_loss(form.name)
    worst, rows = 0.0, []
    for m in Ms:
        for d in sorted({max(m - 1, 2), m + 2}):
            x = simplex_points(m, d, form.kind).unsqueeze(0)
            val, rg = sphere.riemannian_gradient(spec.objective(m, form.params), x)
            gn = float(sphere.norm(rg)[0])
            rows.append({"M": m, "d": d, "grad_norm": gn, "value": float(val[0])})
            worst = max(worst, gn) if math.isfinite(gn) else math.inf
    status = "passed" if worst <= STATIONARY_ATOL else ("inconclusive" if not math.isfinite(worst) else "failed")
    out.append(
        Finding(
            "stationary_measured",
            status,
            f"Riemannian gradient norm (autograd, float64) at the exact aligned simplex <= {STATIONARY_ATOL:g}",
            f"largest {worst:.2e} over {len(rows)} (M, d) cells (tolerance: round-off of the construction)",
            {"rows": rows},
        )
    )
    return out


def _stationarity_full_gram(form: LossForm, m: int, at: Callable[[int, int], Any] | None = None) -> Finding:
    """Differentiate the loss with respect to every inner product of [U; V] (M = m), substitute the aligned
    simplex (or the exact Gram matrix ``at(a, b)`` of another configuration) and check
    ‖P_x(∂L/∂x_a)‖² = c_aᵀ G c_a − (c_aᵀ G e_a)² = 0 for every point a."""
    t0 = time.perf_counter()
    n = 2 * m if form.kind == "pairs" else m
    names = [f"u{i}" for i in range(m)] + ([f"v{i}" for i in range(m)] if form.kind == "pairs" else [])
    g = {}
    for a in range(n):
        for b in range(a + 1, n):
            g[(a, b)] = g[(b, a)] = sp.Symbol(f"g_{names[a]}_{names[b]}", real=True)

    def G(a, b):
        return sp.Integer(1) if a == b else g[(a, b)]

    u = list(range(m))
    v = [m + i for i in range(m)]
    blocks = {
        "uv": lambda i, j: G(u[i], v[j]),
        "uu": lambda i, j: G(u[i], u[j]),
        "vu": lambda i, j: G(v[i], u[j]),
        "vv": lambda i, j: G(v[i], v[j]),
    }
    vals = dict(form.values)
    total = 0
    for i in range(m):
        p_i = G(u[i], v[i]) if form.kind == "pairs" else sp.Integer(1)
        subs = {BLOCK_SUMS[b]: 0 for b in BLOCK_SUMS}
        for b, inner in form.inner.items():
            subs[BLOCK_SUMS[b]] = sum(inner.subs({XN: blocks[b](i, j), P_: p_i}) for j in range(m) if j != i)
        total += form.outer.subs(subs).subs({P_: p_i, M_: m})
    F = (total / m).subs(vals)
    s = sp.Rational(-1, m - 1)

    def simplex_value(a, b):
        if a == b:
            return sp.Integer(1)
        same_index = (a % m) == (b % m)
        return sp.Integer(1) if same_index else s  # u_i = v_i at the aligned simplex

    gram_at = at
    value = (
        simplex_value if gram_at is None else (lambda a, b: sp.Integer(1) if a == b else sp.nsimplify(gram_at(a, b)))
    )
    at_values = {g[(a, b)]: value(a, b) for a in range(n) for b in range(a + 1, n)}
    Gs = sp.Matrix(n, n, lambda a, b: value(a, b))
    worst_how = "symbolic"
    ok = True
    biggest = 0.0
    for a in range(n):
        c = sp.Matrix([0 if b == a else sp.diff(F, g[(a, b)]).subs(at_values) for b in range(n)])
        norm2 = (c.T * Gs * c)[0] - ((c.T * Gs[:, a])[0]) ** 2
        zero, how = is_zero(sp.nsimplify(norm2) if not norm2.free_symbols else norm2)
        if not zero:
            ok = False
            biggest = max(biggest, abs(_float(norm2, 30)))
        elif how != "symbolic":
            worst_how = how
    status = ("proved" if worst_how == "symbolic" else "passed") if ok else "failed"
    return Finding(
        f"stationary_full_gram_M{m}",
        status,
        f"M = {m}: L as a function of all {len(at_values)} inner products of [U; V]; at the "
        f"{'aligned simplex' if gram_at is None else 'given configuration'} "
        "every point's Riemannian gradient c_aᵀGc_a − (c_aᵀGe_a)² is 0",
        f"{worst_how}; {time.perf_counter() - t0:.2f} s" + ("" if ok else f"; largest |norm²| {biggest:.3g}"),
        {"M": m, "inner_products": len(at_values)},
    )
