"""Convexity and monotonicity of φ, ψ and of the composite F(x) = ψ(Σ_j c_j φ(x_j)) (C2), and of KCL's kernels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp
import torch

from ..formula import compile_formula
from .core import DIGITS, T_, TAU, X_, Z_, Finding, _float, exact
from .forms import KernelForm
from .signs import Domain, SignDecision, _numeric_fn, _sign_set, decide_sign

Tensor = torch.Tensor

PHI_DOMAIN = Domain(sp.Integer(-2), sp.Integer(2))  # u_i·w − u_i·v_i ∈ [−2, 2]


@lru_cache(maxsize=256)
def _derivatives(expr_text: str, expr) -> tuple:
    d1 = sp.diff(expr, X_)
    d2 = sp.diff(d1, X_)
    return d1, d2


def _range_on(expr, dom: Domain, increasing: bool | None) -> tuple[Any, Any, str]:
    """(min, max, how) of expr on a finite domain: exact endpoints when monotone (proved), else a scan."""
    if increasing is True:
        return expr.subs(X_, dom.lo), expr.subs(X_, dom.hi), "exact (monotone)"
    if increasing is False:
        return expr.subs(X_, dom.hi), expr.subs(X_, dom.lo), "exact (monotone)"
    pts = dom.points(20001)
    v = _numeric_fn(expr, X_)(pts)
    if not np.isfinite(v).any():
        return sp.nan, sp.nan, "scan (no finite value)"
    return (sp.Float(float(np.nanmin(v)), 17), sp.Float(float(np.nanmax(v)), 17),
            f"numerical scan of {len(pts)} points")


@dataclass
class ConditionsReport:
    phi: str
    psi: str
    c1: float
    c2: float
    M: int | None
    tau: float
    findings: list[Finding]
    holds: str  # proved | refuted | undecided | undefined
    psi_domain: str
    summary: str

    def finding(self, name: str) -> Finding | None:
        return next((f for f in self.findings if f.name == name), None)

    def to_dict(self) -> dict:
        return {"phi": self.phi, "psi": self.psi, "c1": self.c1, "c2": self.c2, "M": self.M, "tau": self.tau,
                "holds": self.holds, "psi_domain": self.psi_domain, "summary": self.summary,
                "findings": [f.to_dict() for f in self.findings]}


def _decision_finding(name: str, statement: str, dec: SignDecision, **numbers) -> Finding:
    nums = {k: v for k, v in dict(witness=dec.witness, value=dec.value, scan_min=dec.scan_min, **numbers).items()
            if v is not None}
    return Finding(name, dec.status, statement, dec.detail, nums)


def check_conditions(phi, psi, c1: float = 1.0, c2: float = 0.0, M: int | None = None, tau: float = 0.5,
                     seed: int = 0) -> ConditionsReport:
    """Convexity and monotonicity of φ on [−2, 2], of ψ on the values S = c1 Σ φ + c2 Σ φ takes (for this M,
    or for every M >= 2 when M is None), and of the composite F(x) = ψ(Σ_j c_j φ(x_j)) on [−2, 2]^n.

    ``holds`` is the status of the condition the proof needs: F convex and nondecreasing.
    """
    fphi, fpsi = compile_formula(phi, "phi"), compile_formula(psi, "psi")
    findings: list[Finding] = []
    c_sum = exact(c1) + exact(c2)
    if fphi.is_callable or fpsi.is_callable:
        return _conditions_numeric_only(fphi, fpsi, c1, c2, M, tau, seed)
    tv = exact(tau)
    phi_e, psi_e = fphi.expr, fpsi.expr
    # φ on [−2, 2]: first try for every τ > 0 (tau symbolic), then for the given τ
    d1, d2 = _derivatives(str(phi_e), phi_e)

    def decide_both(expr, dom, base, want="nonneg"):
        dec = decide_sign(expr, X_, dom, want, base=base) if TAU not in expr.free_symbols else None
        if TAU in expr.free_symbols:
            sym = _sign_set(sp.factor(sp.together(expr if want == "nonneg" else -expr)), X_, dom)
            if sym is not None and sym <= {0, 1}:
                return SignDecision("proved", f"sympy: sign of {expr} on {dom} for every τ > 0", method="sympy"), True
            dec = decide_sign(expr.subs(TAU, tv), X_, dom, want, base=base.subs(TAU, tv) if base is not None else None)
        return dec, False

    inc_phi, all_tau_inc = decide_both(d1, PHI_DOMAIN, phi_e)
    cvx_phi, all_tau_cvx = decide_both(d2, PHI_DOMAIN, phi_e)
    findings.append(_decision_finding("phi_nondecreasing", f"φ'(x) = {d1} >= 0 on {PHI_DOMAIN}" +
                                      (" for every τ > 0" if all_tau_inc else ""), inc_phi))
    findings.append(_decision_finding("phi_convex", f"φ''(x) = {d2} >= 0 on {PHI_DOMAIN}" +
                                      (" for every τ > 0" if all_tau_cvx else ""), cvx_phi))
    phi_n = phi_e.subs(TAU, tv)
    if inc_phi.status == "undefined":
        return _finish(findings, fphi, fpsi, c1, c2, M, tau, "undefined", "—",
                       f"φ is not real on [−2, 2] ({inc_phi.detail})")
    dec_monotone = True if inc_phi.status == "proved" else None
    lo_phi, hi_phi, how = _range_on(phi_n, PHI_DOMAIN, dec_monotone)
    # the values of S: n (c1+c2) [φmin, φmax] with n = M−1 (this M) or any n >= 1 (every M)
    lo_v, hi_v = _float(lo_phi), _float(hi_phi)
    if M is not None:
        n = M - 1
        dom = Domain(n * c_sum * lo_phi, n * c_sum * hi_phi)
    else:
        dom = Domain(c_sum * lo_phi if lo_v >= 0 else -sp.oo, sp.oo if hi_v > 0 else c_sum * hi_phi)
    psi_n = psi_e.subs(TAU, tv)
    e1, e2 = _derivatives(str(psi_n), psi_n)
    inc_psi = _achievable(decide_sign(e1, X_, dom, base=psi_n, var_name="S"), M, c_sum, lo_v, hi_v)
    cvx_psi = _achievable(decide_sign(e2, X_, dom, base=psi_n, var_name="S"), M, c_sum, lo_v, hi_v)
    dom_txt = f"{dom} (range of S; φ range {how})"
    S_ = sp.Symbol("S", real=True)
    findings.append(_decision_finding("psi_nondecreasing", f"ψ'(S) = {e1.subs(X_, S_)} >= 0 on {dom_txt}", inc_psi))
    findings.append(_decision_finding("psi_convex", f"ψ''(S) = {e2.subs(X_, S_)} >= 0 on {dom_txt}", cvx_psi))
    if inc_psi.status == "undefined":
        return _finish(findings, fphi, fpsi, c1, c2, M, tau, "undefined", str(dom),
                       f"ψ is not real on the values S takes ({inc_psi.detail}): the loss is NaN there")
    # composite monotone: ∂F/∂x_j = c_j ψ'(S) φ'(x_j)
    if inc_phi.status == "proved" and inc_psi.status == "proved":
        mono = Finding("composite_nondecreasing", "proved", "∂F/∂x_j = c_j ψ'(S) φ'(x_j) >= 0",
                       "from φ' >= 0 and ψ' >= 0 (both proved), c_j >= 0")
    else:
        mono = _composite_scan(fphi, fpsi, c1, c2, M, tau, seed, "monotone")
    findings.append(mono)
    # composite convex
    cvx = None
    if cvx_phi.status == "proved" and cvx_psi.status == "proved" and inc_psi.status == "proved":
        cvx = Finding("composite_convex", "proved", "F = ψ ∘ (Σ c_j φ(x_j)) is convex",
                      "composition rule: ψ convex and nondecreasing, φ convex (all proved), c_j >= 0")
    elif cvx_phi.status == "proved" and inc_psi.status == "proved":
        cvx = _composite_exp_reduction(phi_n, psi_n, dom, M, c_sum, lo_v, hi_v)
    if cvx is None or cvx.status == "undecided":
        scan = _composite_scan(fphi, fpsi, c1, c2, M, tau, seed, "convex")
        if cvx is None or scan.status == "refuted":
            cvx = scan
        else:
            cvx.detail += f"; {scan.detail}"
    findings.append(cvx)
    statuses = (mono.status, cvx.status)
    if "undefined" in statuses:
        holds = "undefined"
    elif "refuted" in statuses:
        holds = "refuted"
    elif all(s == "proved" for s in statuses):
        holds = "proved"
    else:
        holds = "undecided"
    summary = {
        "proved": "F convex and nondecreasing: proved",
        "refuted": "violated: " + ", ".join(f.name for f in (mono, cvx) if f.status == "refuted"),
        "undecided": "undecided (numerical scan found no violation)",
        "undefined": "F not real on the domain",
    }[holds]
    return _finish(findings, fphi, fpsi, c1, c2, M, tau, holds, str(dom), summary)


def _finish(findings, fphi, fpsi, c1, c2, M, tau, holds, dom, summary) -> ConditionsReport:
    return ConditionsReport(fphi.text, fpsi.text, float(c1), float(c2), M, float(tau), findings, holds, dom, summary)


def _achievable(dec: SignDecision, M, c_sum, lo_phi: float, hi_phi: float) -> SignDecision:
    """A witness S (refuted/undefined) on the every-M domain must be a value S = Σ c_j φ(x_j) for some M:
    S ∈ (M−1)(c1+c2)[φmin, φmax].  Name the smallest such M, or downgrade to undecided."""
    if M is not None or dec.status not in ("refuted", "undefined") or dec.witness is None:
        return dec
    c = float(c_sum)
    for n in range(1, 100001):
        if n * c * lo_phi - 1e-12 <= dec.witness <= n * c * hi_phi + 1e-12:
            dec.detail += f" (S reached with M = {n + 1})"
            return dec
    return SignDecision(
        "undecided",
        dec.detail + " — but no M reaches this S; not a counterexample",
        scan_min=dec.scan_min,
        method=dec.method,
    )


def _composite_exp_reduction(phi, psi, dom: Domain, M=None, c_sum=1, lo_phi=0.0, hi_phi=0.0) -> Finding | None:
    """When φ'²/φ'' = kφ (k > 0 constant; e.g. φ = exp(a x + b)), Cauchy–Schwarz turns convexity of
    F(x) = ψ(Σ c_j φ(x_j)) into one inequality in S: ψ'(S) + k S ψ''(S) >= 0 (given ψ' >= 0)."""
    d1 = sp.diff(phi, X_)
    d2 = sp.diff(d1, X_)
    try:
        k = sp.simplify(d1**2 / (d2 * phi))
    except Exception:  # noqa: BLE001
        return None
    if k.free_symbols or not (k.is_positive or _float(k) > 0):
        return None
    e1 = sp.diff(psi, X_)
    h = sp.simplify(e1 + k * X_ * sp.diff(e1, X_))
    dec = _achievable(decide_sign(h, X_, dom, base=psi, var_name="S"), M, c_sum, lo_phi, hi_phi)
    return _decision_finding(
        "composite_convex",
        f"φ'²/φ'' = {k}·φ, so F is convex iff ψ'(S) + {k}·S·ψ''(S) = "
        f"{h.subs(X_, sp.Symbol('S', real=True))} >= 0 "
        f"on {dom} (Cauchy–Schwarz; ψ' >= 0 proved)",
        dec,
    )


def _composite_functions(fphi, fpsi, n_blocks):
    """F on (N, n) points for the torch formulas: the argument list is [x block (c1), y block (c2)]."""

    def F(x: Tensor, tau: float) -> Tensor:
        parts, k = [], 0
        for c, n in n_blocks:
            parts.append(c * fphi(x[:, k : k + n], tau).sum(-1))
            k += n
        return fpsi(sum(parts), tau)

    return F


def _composite_scan(fphi, fpsi, c1, c2, M, tau, seed, what: str) -> Finding:
    """Search for a point of [−2, 2]^n where F is not nondecreasing / not convex: random points plus the
    diagonal x·1, per M (M = 2, 3, 5 when M is None); a violation is confirmed at 30 digits when φ and ψ are
    formulas (float64 otherwise, labelled)."""
    name = "composite_nondecreasing" if what == "monotone" else "composite_convex"
    statement = (
        "∂F/∂x_j = c_j ψ'(S) φ'(x_j) >= 0 on [−2, 2]^n"
        if what == "monotone"
        else "the Hessian of F(x) = ψ(Σ c_j φ(x_j)) is positive semidefinite on [−2, 2]^n"
    )
    gen = torch.Generator().manual_seed(seed)
    worst = (math.inf, None, None, None)
    for m in [M] if M is not None else [2, 3, 5]:
        n_blocks = [(float(c), m - 1) for c in (c1, c2) if float(c) > 0]
        n = sum(b for _, b in n_blocks)
        F = _composite_functions(fphi, fpsi, n_blocks)
        x = torch.cat(
            [
                torch.rand(2048, n, generator=gen, dtype=torch.float64) * 4 - 2,
                torch.linspace(-2, 2, 401, dtype=torch.float64).unsqueeze(1).expand(401, n),
            ]
        )
        x = x.clone().requires_grad_(True)
        with torch.enable_grad():
            val = F(x, tau)
            (g,) = torch.autograd.grad(val.sum(), x, create_graph=(what == "convex"))
        if what == "monotone":
            score = g.detach()
            vmin, idx = score.min(dim=1)
            scale = float(score.abs().nan_to_num(0).max()) or 1.0
        else:
            H = torch.stack([torch.autograd.grad(g[:, j].sum(), x, retain_graph=True)[0] for j in range(n)], dim=1)
            H = 0.5 * (H + H.transpose(1, 2)).detach()
            ev, vec = torch.linalg.eigh(torch.nan_to_num(H, nan=0.0))
            vmin = ev[:, 0]
            bad = ~torch.isfinite(H).all(dim=(1, 2))
            vmin = torch.where(bad, torch.full_like(vmin, math.nan), vmin)
            idx = vec[:, :, 0]
            scale = float(ev.abs().nan_to_num(0).max()) or 1.0
        if bool(torch.isnan(val).any()):
            i = int(torch.isnan(val).nonzero()[0, 0])
            return Finding(
                name,
                "undefined",
                statement,
                f"F is NaN at x = {x[i].detach().tolist()} (M = {m})",
                {"M": m, "point": x[i].detach().tolist()},
            )
        k = int(torch.nan_to_num(vmin, nan=math.inf).argmin())
        v = float(vmin[k])
        if v / scale < worst[0] / max(worst[3] or 1.0, 1e-300) if worst[1] is not None else True:
            worst = (v, m, (x[k].detach(), idx[k] if what == "convex" else int(idx[k])), scale)
    v, m, (pt, direction), scale = worst
    if v < -1e-9 * max(scale, 1.0):
        confirmed = _confirm_composite(fphi, fpsi, c1, c2, m, tau, pt, direction, what)
        how = (
            f"confirmed at {DIGITS} digits: {confirmed:.6g}"
            if confirmed is not None
            else "float64 (formulas are callables)"
        )
        if confirmed is None or confirmed < 0:
            what_txt = f"∂F/∂x_{direction} = {v:.6g}" if what == "monotone" else f"smallest Hessian eigenvalue {v:.6g}"
            return Finding(
                name,
                "refuted",
                statement,
                f"M = {m}, x = {[round(float(a), 6) for a in pt]}: {what_txt} < 0 ({how})",
                {"M": m, "point": pt.tolist(), "value": v, "high_precision": confirmed},
            )
    return Finding(
        name,
        "undecided",
        statement,
        f"no violation in a numerical scan of {2449 * (1 if M is not None else 3)} points "
        f"(min {'∂F/∂x_j' if what == 'monotone' else 'eigenvalue'} {v:.3g}; numerical, not a proof)",
        {"scan_min": v},
    )


def _confirm_composite(fphi, fpsi, c1, c2, m, tau, pt, direction, what) -> float | None:
    """The violation at a rational point (and direction), evaluated with sympy to 30 digits."""
    if fphi.expr is None or fpsi.expr is None:
        return None
    tv = exact(tau)
    phi, psi = fphi.expr.subs(TAU, tv), fpsi.expr.subs(TAU, tv)
    weights = [exact(c) for c in (c1, c2) if float(c) > 0 for _ in range(m - 1)]
    xs = [sp.Rational(repr(float(a))) for a in pt]
    S = sum(w * phi.subs(X_, xv) for w, xv in zip(weights, xs, strict=False))
    p1 = sp.diff(phi, X_)
    q1 = sp.diff(psi, X_)
    if what == "monotone":
        j = direction
        return _float(weights[j] * q1.subs(X_, S) * p1.subs(X_, xs[j]), DIGITS)
    v = [sp.Rational(repr(float(a))) for a in direction]
    p2, q2 = sp.diff(p1, X_), sp.diff(q1, X_)
    grad_dot = sum(w * p1.subs(X_, xv) * vv for w, xv, vv in zip(weights, xs, v, strict=False))
    quad = q2.subs(X_, S) * grad_dot**2 + q1.subs(X_, S) * sum(
        w * p2.subs(X_, xv) * vv**2 for w, xv, vv in zip(weights, xs, v, strict=False)
    )
    norm2 = sum(vv**2 for vv in v)
    return _float(quad / norm2, DIGITS)


def _conditions_numeric_only(fphi, fpsi, c1, c2, M, tau, seed) -> ConditionsReport:
    findings = [
        Finding(n, "undecided", s, "φ or ψ is a callable: no symbolic analysis")
        for n, s in (
            ("phi_nondecreasing", "φ' >= 0"),
            ("phi_convex", "φ'' >= 0"),
            ("psi_nondecreasing", "ψ' >= 0"),
            ("psi_convex", "ψ'' >= 0"),
        )
    ]
    mono = _composite_scan(fphi, fpsi, c1, c2, M, tau, seed, "monotone")
    cvx = _composite_scan(fphi, fpsi, c1, c2, M, tau, seed, "convex")
    findings += [mono, cvx]
    statuses = {mono.status, cvx.status}
    holds = "undefined" if "undefined" in statuses else ("refuted" if "refuted" in statuses else "undecided")
    return _finish(findings, fphi, fpsi, c1, c2, M, tau, holds, "—", f"numerical only: {holds}")


def kernel_conditions(form: KernelForm) -> ConditionsReport:
    """KCL: K_U convex and nonincreasing, K_A nonincreasing, in z = r² on [0, 4] ((0, 4] when singular)."""
    t = form.params["t"]
    dom = Domain(sp.Integer(0), sp.Integer(4), lo_open=form.z_open_at_zero)
    subs = {T_: exact(t)}
    KA, KU = form.K_A.subs(subs), form.K_U.subs(subs)
    findings = []
    z = Z_
    ku1, ku2, ka1 = sp.diff(KU, z), sp.diff(KU, z, 2), sp.diff(KA, z)
    for name, expr, want, base, what in (
        ("K_U_nonincreasing", ku1, "nonpos", KU, "K_U'(z)"),
        ("K_U_convex", ku2, "nonneg", KU, "K_U''(z)"),
        ("K_A_nonincreasing", ka1, "nonpos", KA, "K_A'(z)"),
    ):
        dec = decide_sign(expr, z, dom, want, base=base, var_name="z")
        findings.append(
            _decision_finding(name, f"{what} = {expr} {'<=' if want == 'nonpos' else '>='} 0 on {dom}", dec)
        )
    statuses = [f.status for f in findings]
    holds = (
        "undefined"
        if "undefined" in statuses
        else "refuted"
        if "refuted" in statuses
        else "proved"
        if all(s == "proved" for s in statuses)
        else "undecided"
    )
    return ConditionsReport(
        str(KA),
        str(KU),
        1.0,
        0.0,
        None,
        float(t),
        findings,
        holds,
        str(dom),
        {"proved": "K_U convex nonincreasing, K_A nonincreasing: proved"}.get(holds, holds),
    )
