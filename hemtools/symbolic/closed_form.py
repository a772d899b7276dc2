"""The loss at the aligned regular simplex as a closed form in M, derived twice and checked against float64."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp
import torch

from .. import configurations
from ..losses.registry import get_loss
from .core import (
    BLOCK_SUMS,
    CLOSED_FORM_RTOL,
    DIGITS,
    M_,
    P_,
    T_,
    X_,
    XN,
    Z_,
    Finding,
    _float,
    _jsonable,
    exact,
    is_zero,
)
from .forms import LossForm

Tensor = torch.Tensor


def simplex_inner_product(M=M_):
    """u_i·u_j = −1/(M−1) for i ≠ j (regular simplex)."""
    return -sp.Integer(1) / (M - 1)


def template_value(form: LossForm, M=M_) -> sp.Expr:
    """The loss at the aligned simplex from its per-anchor form: every anchor sees p = 1 and M−1 negatives
    at inner product −1/(M−1) in each block, so the mean over anchors is one anchor's term."""
    return form.outer.subs(simplex_block_sums(form, M)).subs({P_: 1, M_: M})


def simplex_block_sums(form: LossForm, M=M_) -> dict:
    """{S_blk: its value at the aligned simplex}: M−1 negatives at −1/(M−1) and p = 1; 0 for unused blocks."""
    s = simplex_inner_product(M)
    sums = {sym: sp.Integer(0) for sym in BLOCK_SUMS.values()}
    sums.update({BLOCK_SUMS[b]: (M - 1) * g.subs({XN: s, P_: 1}) for b, g in form.inner.items()})
    return sums


def representation_value(form: LossForm, M=M_) -> sp.Expr | None:
    """The same value from the φ/ψ or kernel representation (the bound the proof ends with)."""
    gap = sp.simplify(simplex_inner_product(M) - 1)  # u_i·w − u_i·v_i = −M/(M−1)
    if form.phipsi is not None and form.phipsi.symbolic:
        pp = form.phipsi
        S = (exact(pp.c1) + exact(pp.c2)) * (M - 1) * pp.phi.subs(X_, gap)
        return (pp.scale * pp.psi.subs(X_, S)).subs(M_, M)
    if form.kernel is not None:
        k = form.kernel
        return -k.K_A.subs(Z_, 0) + k.gamma * k.K_U.subs(Z_, sp.simplify(2 - 2 * simplex_inner_product(M)))
    return None


def _prettiest(e: sp.Expr) -> sp.Expr:
    cands = [e]
    for f in (sp.simplify, lambda a: sp.expand_log(a, force=True), lambda a: sp.simplify(sp.expand_log(a, force=True))):
        with contextlib.suppress(Exception):
            cands.append(f(e))
    return min(cands, key=lambda a: (sp.count_ops(a), len(str(a))))


@dataclass
class ClosedForm:
    expr: sp.Expr  # in M and the symbolic parameters
    derivations: list[Finding]
    rows: list[dict]

    def to_dict(self) -> dict:
        return {
            "expr": str(self.expr),
            "latex": sp.latex(self.expr),
            "derivations": [f.to_dict() for f in self.derivations],
            "rows": _jsonable(self.rows),
        }


def simplex_points(M: int, d: int, kind: str) -> Tensor:
    x = configurations.regular_simplex(M, d)
    return torch.cat([x, x]) if kind == "pairs" else x


def closed_form(form: LossForm, Ms: Sequence[int] = (2, 3, 4, 5, 6, 8)) -> ClosedForm:
    """Closed form in M, derived from the SPEC formula and (where there is one) from the φ/ψ or kernel
    representation, the two compared symbolically, and the closed form compared with the float64 loss at
    the exactly constructed simplex for each M (d = M−1 and d = M+1)."""
    t_val = template_value(form)
    r_val = representation_value(form)
    derivations = []
    expr = _prettiest(r_val if r_val is not None else t_val)
    if r_val is not None:
        same, how = is_zero(t_val - r_val)
        derivations.append(
            Finding(
                "two_derivations_agree",
                "proved" if same and how == "symbolic" else ("passed" if same else "failed"),
                "the value from the SPEC formula equals the value from the φ/ψ / kernel form",
                how,
                {"spec_formula": str(t_val), "representation": str(r_val)},
            )
        )
    spec = get_loss(form.name)
    rows = []
    numeric_expr = form.numeric(expr)
    # A kernel that is not Lipschitz at r = 0 (Riesz −r^|s|, |s| < 2) turns the round-off of r² = 2 − 2u·v
    # (a few ulps at u = v) into |K_A(16 eps) − K_A(0)| ≈ (16 eps)^{|s|/2}: that is added to the tolerance.
    extra, note = 0.0, "1e-12·max(1, |value|): float64 round-off of the construction and the sums"
    if form.kernel is not None and form.kernel.align_nonsmooth:
        ka = form.kernel.K_A.subs(T_, exact(form.params["t"]))
        extra = abs(_float(ka.subs(Z_, sp.Float(16 * 2.220446049250313e-16)) - ka.subs(Z_, 0)))
        note += f" + {extra:.1e} (round-off of r² = 2 − 2u·v through K_A, not Lipschitz at r = 0)"
    for m in Ms:
        for d in sorted({m - 1 if m > 2 else 2, m + 1}):
            x = simplex_points(m, d, form.kind)
            with torch.no_grad():
                got = float(spec.objective(m, form.params)(x.unsqueeze(0))[0])
            want = _float(numeric_expr.subs(M_, m), DIGITS)
            ok = math.isfinite(got) and math.isfinite(want)
            tol = CLOSED_FORM_RTOL * max(1.0, abs(want) if ok else 1.0) + extra
            status = "inconclusive" if not ok else ("passed" if abs(got - want) <= tol else "failed")
            rows.append(
                {
                    "M": m,
                    "d": d,
                    "closed_form": want,
                    "loss_at_simplex": got,
                    "difference": got - want if ok else math.nan,
                    "tolerance": tol,
                    "tolerance_source": note,
                    "status": status,
                }
            )
    return ClosedForm(expr, derivations, rows)


def closed_form_expr(form: LossForm) -> sp.Expr:
    """The simplified closed form (general M, symbolic parameters) without the numerical cross-checks."""
    r = representation_value(form)
    return _prettiest(r if r is not None else template_value(form))
