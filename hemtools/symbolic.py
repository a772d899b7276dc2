"""Symbolic checks (sympy) of the seed theorem and its proof, each cross-checked numerically.

The seed (Koromilas et al. 2024) states: for M ≤ d+1 and φ, ψ convex and increasing, the φ/ψ losses are
minimised exactly by perfect alignment plus a regular simplex.  This module turns that proof into checks:

  closed form      the loss at the aligned regular simplex as a simplified expression in M and the
                   parameters, derived twice (from the SPEC formula of the loss, and from its φ/ψ or kernel
                   representation), checked against the loss evaluated on ``configurations.regular_simplex``;
  stationarity     the Riemannian gradient at the aligned simplex, from the derivatives of the loss with
                   respect to the inner products: zero for every M (derived with the simplex's inner
                   products, symbolically), for M = 2, 3 from the full Gram matrix, and measured by autograd;
  Jensen chain     the lower bound of the proof, link by link with the condition each link needs, equality
                   at the aligned simplex (symbolic) and a strict gap elsewhere (measured);
  conditions       convexity and monotonicity of φ, ψ and of the composite F(x) = ψ(Σ_j c_j φ(x_j)) on the
                   domain the loss uses: ``proved`` (sympy decides the sign of the derivative), ``refuted``
                   (a point where it fails, evaluated to 30 digits) or ``undecided`` (with a dense numerical
                   scan, labelled as such), or ``undefined`` (the function is not real there);
  KCL U-statistic  the expected KCL loss over i.i.d. pairs from a k-atom distribution, computed exactly
                   (rational coefficients) for M = 2..5, is the same expression for every M, and equals a
                   Monte Carlo estimate within its confidence interval;
  α-CL             ∇L = −∇E_α with α held fixed: symbolically for M = 3, d = 2 (for arbitrary φ, ψ and for
                   the loss's own), by autograd for larger random cases, for each registered α-CL instance.

Which condition the proof needs, pinned down (C2): the chain below uses only that the per-anchor function
F(x_1..x_n) = ψ(c1 Σ φ(x_j) + c2 Σ φ(y_j)) is convex and nondecreasing on [−2, 2]^n.  "φ and ψ convex and
increasing" is a sufficient condition (composition rule) but not necessary: InfoNCE has ψ(x) = log(1+x),
which is concave, while its F = log(1 + Σ e^{x_j/τ}) is convex.

Nothing here prints; :func:`analyse` returns a :class:`SymbolicReport` that the CLI renders.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import sympy as sp
import torch

from . import configurations, sphere
from .errors import ArgumentError
from .losses.registry import LossSpec, get_loss

Tensor = torch.Tensor

# symbols shared with the formula parser (phipsi._symbols): x real, tau positive
X_ = sp.Symbol("x", real=True)
TAU = sp.Symbol("tau", positive=True)
M_ = sp.Symbol("M", positive=True, integer=True)
P_ = sp.Symbol("p", real=True)  # u_i·v_i, the positive pair's inner product
XN = sp.Symbol("x_n", real=True)  # inner product of a negative pair
Z_ = sp.Symbol("z", nonnegative=True)  # squared distance r² (kernels)
S_UV, S_UU, S_VU, S_VV = sp.symbols("S_uv S_uu S_vu S_vv", real=True)
BLOCK_SUMS = {"uv": S_UV, "uu": S_UU, "vu": S_VU, "vv": S_VV}
T_, GAMMA = sp.symbols("t gamma", positive=True)

#: relative tolerance of a closed form against the float64 loss at the exactly constructed simplex: the
#: construction is exact to ~1e-16 per inner product and the losses amplify it by their Lipschitz constant
#: (≤ 2/τ, ≤ 4tγ) and the O(M²) sums — 1e-12 leaves a margin of > 10× for τ ≥ 0.01, M ≤ 64.
CLOSED_FORM_RTOL = 1e-12
#: Riemannian gradient norm accepted as zero at the exactly constructed simplex (same round-off argument)
STATIONARY_ATOL = 1e-11
#: digits of the high-precision evaluations that confirm a refutation witness
DIGITS = 30


# --------------------------------------------------------------------------------------------------------
# results


@dataclass
class Finding:
    """One derived or measured statement.

    status: proved | refuted | undecided | undefined (conditions: sympy or a witness decides) ·
            passed | failed | inconclusive (numerical cross-checks) · n/a.
    """

    name: str
    status: str
    statement: str
    detail: str = ""
    numbers: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "statement": self.statement, "detail": self.detail,
                "numbers": _jsonable(self.numbers)}


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, sp.Basic):
        try:
            v = float(obj)
            return v if math.isfinite(v) else str(obj)
        except (TypeError, ValueError):
            return str(obj)
    return str(obj)


def _float(e, digits: int = 20) -> float:
    try:
        v = complex(sp.N(e, digits))
    except (TypeError, ValueError):
        return math.nan
    return v.real if abs(v.imag) <= 1e-30 * max(1.0, abs(v.real)) else math.nan


def exact(value) -> sp.Expr:
    """A float parameter as the exact rational it was written as (0.3 → 3/10, from its shortest repr)."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool):
        raise ArgumentError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return sp.Integer(value)
    return sp.Rational(repr(float(value)))


def is_zero(e, vars_: Sequence[sp.Symbol] = (), samples: int = 4) -> tuple[bool, str]:
    """(is it zero, how we know): sympy simplification first (also of exp(e) − 1 for log identities), then
    high-precision evaluation at random rational points (reported as numerical, not a proof)."""
    if e == 0:
        return True, "symbolic"
    try:
        if sp.simplify(e) == 0:
            return True, "symbolic"
        if sp.simplify(sp.exp(e) - 1) == 0:
            return True, "symbolic"
    except Exception:  # noqa: BLE001 - sympy may raise on exotic input; fall back to evaluation
        pass
    free = sorted(e.free_symbols, key=str)
    rng = __import__("random").Random(0)
    worst = 0.0
    for _ in range(samples):
        subs = {}
        for s in free:
            if s == M_ or getattr(s, "is_integer", False):
                subs[s] = rng.randint(2, 40)
            elif s.is_positive:
                subs[s] = sp.Rational(rng.randint(1, 400), 100)
            else:
                subs[s] = sp.Rational(rng.randint(-150, 150), 100)
        v = _float(e.subs(subs), 50)
        if not math.isfinite(v):
            return False, "not finite at a sample point"
        worst = max(worst, abs(v))
    if worst < 1e-35:
        return True, f"numerical (|value| < 1e-35 at {samples} random points, 50 digits)"
    return False, f"nonzero (|value| up to {worst:.3g})"


# --------------------------------------------------------------------------------------------------------
# symbolic forms of the losses


@dataclass
class PhiPsiForm:
    """loss = scale · (1/M) Σ_i ψ( c1 Σ_{j≠i} φ(u_i·v_j − u_i·v_i) + c2 Σ_{j≠i} φ(u_i·u_j − u_i·v_i) )."""

    phi: Any  # sympy expression in x, or a torch callable
    psi: Any
    c1: float
    c2: float
    scale: sp.Expr  # in M, positive
    phi_torch: Any = None  # compiled formulas (hemtools.losses.phipsi.Formula)
    psi_torch: Any = None
    tau: float = 0.5

    @property
    def symbolic(self) -> bool:
        return isinstance(self.phi, sp.Basic) and isinstance(self.psi, sp.Basic)


@dataclass
class KernelForm:
    """loss = −(1/M) Σ_i K_A(‖u_i − v_i‖²) + γ/(M(M−1)) Σ_{i≠j} K_U(‖u_i − u_j‖²), kernels in z = r²."""

    K_A: sp.Expr
    K_U: sp.Expr
    gamma: sp.Expr
    kernel: str
    params: dict
    z_open_at_zero: bool = False  # a kernel singular (or not differentiable) at r = 0
    align_nonsmooth: bool = False  # K_A not differentiable at r = 0, i.e. at u_i = v_i (Riesz, |s| < 2)


@dataclass
class LossForm:
    """A loss as a sum over anchors of an outer function of block sums (SPEC §1 written per anchor):

        loss = (1/M) Σ_i outer(p_i, S_uv,i, S_uu,i, S_vu,i, S_vv,i),   S_blk,i = Σ_{j≠i} inner_blk(x_ij, p_i)

    with p_i = u_i·v_i and x_ij = u_i·v_j (uv), u_i·u_j (uu), v_i·u_j (vu), v_i·v_j (vv).  ``symbols`` are
    the parameters kept symbolic and ``values`` their exact values.
    """

    name: str
    kind: str  # "pairs" | "points"
    params: dict
    outer: sp.Expr
    inner: dict
    symbols: dict
    values: dict
    phipsi: PhiPsiForm | None = None
    kernel: KernelForm | None = None
    note: str = ""

    def numeric(self, e):
        return e.subs(self.values)


def _tau_form(name: str, p: dict) -> LossForm:
    tau = TAU
    e = lambda a: sp.exp(a / tau)  # noqa: E731
    inner_e = e(XN)
    ep = e(P_)
    outers = {
        "infonce": (sp.log(ep + S_UV) - P_ / tau, ("uv",)),
        "simclr": (sp.log(ep + S_UV + S_UU) - P_ / tau, ("uv", "uu")),
        "nt_xent": ((sp.log(ep + S_UV + S_UU) + sp.log(ep + S_VU + S_VV)) / 2 - P_ / tau, ("uv", "uu", "vu", "vv")),
        "dcl": (sp.log(S_UV + S_UU) - P_ / tau, ("uv", "uu")),
        "dhel": (sp.log(S_UU) - P_ / tau, ("uu",)),
        "dhel_sym": (sp.log(S_UU) + sp.log(S_VV) - P_ / tau, ("uu", "vv")),
    }
    outer, blocks = outers[name]
    form = LossForm(name=name, kind="pairs", params=p, outer=outer, inner={b: inner_e for b in blocks},
                    symbols={"tau": tau}, values={tau: exact(p["tau"])})
    from .losses.phipsi import NAMED_INSTANCES, compile_formula

    if name in NAMED_INSTANCES:
        inst = NAMED_INSTANCES[name]
        phi, psi = compile_formula(inst["phi"], "phi"), compile_formula(inst["psi"], "psi")
        form.phipsi = PhiPsiForm(phi.expr, psi.expr, inst["c1"], inst["c2"], sp.Integer(1), phi, psi, float(p["tau"]))
    return form


def kernel_expressions(kernel: str, t, s: float) -> tuple[sp.Expr, sp.Expr, bool]:
    """(K_A(z), K_U(z), singular_at_zero) in z = r², as in hemtools.losses.kcl (SPEC §1 table).
    singular_at_zero: a kernel is not differentiable (or not finite) at r = 0."""
    z = Z_
    s_ex = exact(s)
    a = abs(s_ex)
    if kernel == "gaussian":
        k = sp.exp(-t * z)
        return k, k, False
    if kernel == "imq":
        k = t / sp.sqrt(t * t + z)
        return k, k, False
    if kernel == "log":
        return -sp.log(t * z + 1), -sp.log(t * z + 1) / 2, False
    riesz = -z ** (a / 2) if s_ex < 0 else z ** (-s_ex / 2)
    if kernel == "riesz":
        return -z ** (a / 2), riesz, bool(a < 2)
    if kernel == "gaussian_riesz":
        return sp.exp(-t * z), riesz, bool(s_ex > 0 or a < 2)
    raise ArgumentError(f"kernel: expected one of gaussian, imq, log, riesz, gaussian_riesz, got {kernel!r}")


def _kcl_form(name: str, p: dict) -> LossForm:
    KA, KU, singular = kernel_expressions(p["kernel"], T_, p["s"])
    r2 = lambda ip: 2 - 2 * ip  # noqa: E731  (unit vectors: ‖x − y‖² = 2 − 2 x·y)
    if name == "kcl":
        outer = -KA.subs(Z_, r2(P_)) + GAMMA / (M_ - 1) * S_UU
        inner = {"uu": KU.subs(Z_, r2(XN))}
    else:
        outer = -2 * KA.subs(Z_, r2(P_)) + GAMMA / (M_ - 1) * (S_UU + S_VV)
        inner = {"uu": KU.subs(Z_, r2(XN)), "vv": KU.subs(Z_, r2(XN))}
    form = LossForm(name=name, kind="pairs", params=p, outer=outer, inner=inner, symbols={"t": T_, "gamma": GAMMA},
                    values={T_: exact(p["t"]), GAMMA: exact(p["gamma"])})
    if name == "kcl":
        nonsmooth = p["kernel"] == "riesz" and abs(float(p["s"])) < 2
        form.kernel = KernelForm(KA, KU, GAMMA, p["kernel"], p, singular, nonsmooth)
    return form


def _energy_form(name: str, p: dict) -> LossForm:
    r2 = 2 - 2 * XN
    if name == "riesz_energy":
        s = exact(p["s"])
        inner, outer, vals = r2 ** (-s / 2), M_ / 2 * S_UU, {}
    elif name == "log_energy":
        inner, outer, vals = -sp.log(r2) / 2, M_ / 2 * S_UU, {}
    else:
        inner, outer, vals = sp.exp(-T_ * r2), M_ * S_UU, {T_: exact(p["t"])}
    return LossForm(name=name, kind="points", params=p, outer=outer, inner={"uu": inner},
                    symbols={"t": T_} if vals else {}, values=vals)


def _formula_form(name: str, p: dict) -> LossForm:
    from .losses.phipsi import compile_formula

    fphi, fpsi = compile_formula(p["phi"], "phi"), compile_formula(p["psi"], "psi")
    if fphi.is_callable or fpsi.is_callable:
        raise ArgumentError(f"loss {name}: symbolic checks need phi and psi as formulas, got a callable")
    c1, c2 = exact(p["c1"]), exact(p["c2"])
    vals = {TAU: exact(p["tau"])}
    if name == "phipsi":
        g = fphi.expr.subs(X_, XN - P_)
        outer = fpsi.expr.subs(X_, c1 * S_UV + c2 * S_UU)
        form = LossForm(name=name, kind="pairs", params=p, outer=outer, inner={"uv": g, "uu": g},
                        symbols={"tau": TAU}, values=vals)
        form.phipsi = PhiPsiForm(fphi.expr, fpsi.expr, float(p["c1"]), float(p["c2"]), sp.Integer(1), fphi, fpsi,
                                 float(p["tau"]))
    else:  # alphacl: Σ_i φ(Σ_j c ψ(d_i² − d_ij²)), d_i² − d_ij² = 2(x_ij − p_i) on the sphere
        g = fpsi.expr.subs(X_, 2 * (XN - P_))
        outer = M_ * fphi.expr.subs(X_, c1 * S_UV + c2 * S_UU)
        form = LossForm(name=name, kind="pairs", params=p, outer=outer, inner={"uv": g, "uu": g},
                        symbols={"tau": TAU}, values=vals)
        from .losses.phipsi import _translate

        inner_expr = fpsi.expr.subs(X_, 2 * X_)
        inner_torch = type(fpsi)(name="phi", text=str(inner_expr), expr=inner_expr, fn=_translate(inner_expr))
        form.phipsi = PhiPsiForm(inner_expr, fphi.expr, float(p["c1"]), float(p["c2"]), M_, inner_torch, fphi,
                                 float(p["tau"]))
    if c1 == 0:
        form.inner.pop("uv")
    if c2 == 0:
        form.inner.pop("uu")
    return form


SUPPORTED = ("infonce", "simclr", "nt_xent", "dcl", "dhel", "dhel_sym", "kcl", "kcl_sym", "phipsi", "alphacl",
             "riesz_energy", "log_energy", "gaussian_energy")


def loss_form(loss: str | LossSpec, params: Mapping[str, Any] | None = None) -> LossForm:
    """The symbolic per-anchor form of a registered loss (ArgumentError for a loss without one)."""
    spec = get_loss(loss)
    if spec.name not in SUPPORTED:
        raise ArgumentError(f"loss: no symbolic form for {spec.name!r}; supported: {', '.join(SUPPORTED)}")
    p = spec.resolve_params(params)
    if spec.name in ("infonce", "simclr", "nt_xent", "dcl", "dhel", "dhel_sym"):
        return _tau_form(spec.name, p)
    if spec.name in ("kcl", "kcl_sym"):
        return _kcl_form(spec.name, p)
    if spec.name in ("phipsi", "alphacl"):
        return _formula_form(spec.name, p)
    return _energy_form(spec.name, p)


# --------------------------------------------------------------------------------------------------------
# closed form at the aligned regular simplex


def simplex_inner_product(M=M_):
    """u_i·u_j = −1/(M−1) for i ≠ j (regular simplex)."""
    return -sp.Integer(1) / (M - 1)


def template_value(form: LossForm, M=M_) -> sp.Expr:
    """The loss at the aligned simplex from its per-anchor form: every anchor sees p = 1 and M−1 negatives
    at inner product −1/(M−1) in each block, so the mean over anchors is one anchor's term."""
    s = simplex_inner_product(M)
    sums = {BLOCK_SUMS[b]: (M - 1) * g.subs({XN: s, P_: 1}) for b, g in form.inner.items()}
    for b, sym in BLOCK_SUMS.items():
        sums.setdefault(sym, 0)
    return form.outer.subs(sums).subs({P_: 1, M_: M})


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
        try:
            cands.append(f(e))
        except Exception:  # noqa: BLE001
            pass
    return min(cands, key=lambda a: (sp.count_ops(a), len(str(a))))


@dataclass
class ClosedForm:
    expr: sp.Expr  # in M and the symbolic parameters
    derivations: list[Finding]
    rows: list[dict]

    def to_dict(self) -> dict:
        return {"expr": str(self.expr), "latex": sp.latex(self.expr), "derivations": [f.to_dict() for f in self.derivations],
                "rows": _jsonable(self.rows)}


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
        derivations.append(Finding("two_derivations_agree", "proved" if same and how == "symbolic" else
                                   ("passed" if same else "failed"),
                                   "the value from the SPEC formula equals the value from the φ/ψ / kernel form",
                                   how, {"spec_formula": str(t_val), "representation": str(r_val)}))
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
            rows.append({"M": m, "d": d, "closed_form": want, "loss_at_simplex": got,
                         "difference": got - want if ok else math.nan, "tolerance": tol, "tolerance_source": note,
                         "status": status})
    return ClosedForm(expr, derivations, rows)


# --------------------------------------------------------------------------------------------------------
# stationarity


def _class_gradient(form: LossForm):
    """Coefficients of the Euclidean gradient at the aligned simplex, from the per-anchor form:
    ∂L/∂u_i = P v_i + B Σ_{j≠i} v_j + Cu Σ_{j≠i} u_j and ∂L/∂v_i = P u_i + B Σ_{j≠i} u_j + Cv Σ_{j≠i} v_j,
    where P, B, Cu, Cv are ∂L/∂(u_i·v_i), ∂L/∂(u_i·v_j), ∂L/∂(u_i·u_j), ∂L/∂(v_i·v_j) (an inner product
    u_i·v_j enters anchor i's uv block and anchor j's vu block; u_i·u_j enters the uu blocks of i and j)."""
    s = simplex_inner_product()
    at = {P_: 1}
    sums = {BLOCK_SUMS[b]: (M_ - 1) * g.subs({XN: s, P_: 1}) for b, g in form.inner.items()}
    for b, sym in BLOCK_SUMS.items():
        sums.setdefault(sym, 0)

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
        return [Finding("stationarity", "n/a", "the Riemannian gradient at the aligned simplex",
                        f"K_A = {form.kernel.K_A} is not differentiable at r = 0, i.e. at u_i = v_i: the gradient does not "
                        "exist at the aligned simplex (it is a kink, not a stationary point); verify cannot reach a small "
                        "gradient there either")]
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
    out.append(Finding(
        "stationary_general_M", "proved" if ok_all else "undecided",
        "‖grad_u L‖² = gᵀGg − (u_i·g)² = 0 at the aligned simplex for every M (w = Σ_{j≠i} u_j: u_i·w = "
        f"{sp.simplify(g_uw)}, w·w = {sp.simplify(g_ww)})",
        "the Euclidean gradient is (P − B − Cu) u_i: radial, removed by the tangent projection",
        {"P": str(sp.simplify(cp)), "B": str(sp.simplify(cb)), "Cu": str(sp.simplify(cu)), "Cv": str(sp.simplify(cv)),
         **{f"{k}_{a}": v for k, r in results.items() for a, v in r.items()}}))
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
    out.append(Finding("stationary_measured", status,
                       f"Riemannian gradient norm (autograd, float64) at the exact aligned simplex <= {STATIONARY_ATOL:g}",
                       f"largest {worst:.2e} over {len(rows)} (M, d) cells (tolerance: round-off of the construction)",
                       {"rows": rows}))
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
    blocks = {"uv": lambda i, j: G(u[i], v[j]), "uu": lambda i, j: G(u[i], u[j]),
              "vu": lambda i, j: G(v[i], u[j]), "vv": lambda i, j: G(v[i], v[j])}
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
    value = simplex_value if gram_at is None else (lambda a, b: sp.Integer(1) if a == b else sp.nsimplify(gram_at(a, b)))
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
    return Finding(f"stationary_full_gram_M{m}", status,
                   f"M = {m}: L as a function of all {len(at_values)} inner products of [U; V]; at the "
                   f"{'aligned simplex' if gram_at is None else 'given configuration'} "
                   "every point's Riemannian gradient c_aᵀGc_a − (c_aᵀGe_a)² is 0",
                   f"{worst_how}; {time.perf_counter() - t0:.2f} s" + ("" if ok else f"; largest |norm²| {biggest:.3g}"),
                   {"M": m, "inner_products": len(at_values)})


# --------------------------------------------------------------------------------------------------------
# sign decisions


@dataclass
class Domain:
    lo: Any  # sympy number or -oo
    hi: Any  # sympy number or oo
    lo_open: bool = False
    hi_open: bool = False

    def __str__(self) -> str:
        def f(v):
            return str(v) if v in (sp.oo, -sp.oo) else (f"{_float(v):.6g}" if not isinstance(v, (sp.Integer, sp.Rational)) or
                                                         len(str(v)) > 12 else str(v))
        return f"{'(' if self.lo_open or self.lo == -sp.oo else '['}{f(self.lo)}, {f(self.hi)}{')' if self.hi_open or self.hi == sp.oo else ']'}"

    def __post_init__(self):
        self.lo_f = -math.inf if self.lo == -sp.oo else _float(self.lo)
        self.hi_f = math.inf if self.hi == sp.oo else _float(self.hi)

    def contains(self, v: float) -> bool:
        lo, hi = self.lo_f, self.hi_f
        return (v > lo if self.lo_open else v >= lo) and (v < hi if self.hi_open else v <= hi)

    def points(self, n: int = 4001) -> list[float]:
        """Scan points: uniform on a finite interval; uniform plus geometric towards an infinite end."""
        lo = self.lo_f if self.lo != -sp.oo else None
        hi = self.hi_f if self.hi != sp.oo else None
        if lo is not None and hi is not None:
            pts = [lo + (hi - lo) * k / (n - 1) for k in range(n)]
        else:
            a = lo if lo is not None else (hi if hi is not None else 0.0)
            span = [10 ** (k / 40.0) - 1 + 1e-9 for k in range(0, 8 * 40 + 1)]
            lin = [max(abs(a), 1.0) * 4 * k / n for k in range(n)]
            offs = sorted(set(span + lin))
            if lo is not None:
                pts = [lo + o for o in offs]
            elif hi is not None:
                pts = [hi - o for o in offs]
            else:
                pts = sorted({a + o for o in offs} | {a - o for o in offs})
        return [p for p in pts if self.contains(p)]


SIGN_SETS = {"+": {1}, "0+": {0, 1}, "-": {-1}, "0-": {0, -1}, "0": {0}}


def _const_sign(e) -> set | None:
    if getattr(e, "free_symbols", None):  # a parameter kept symbolic (τ > 0): sympy's assumptions decide
        if e.is_positive:
            return {1}
        if e.is_negative:
            return {-1}
        if e.is_zero:
            return {0}
        if e.is_nonnegative:
            return {0, 1}
        if e.is_nonpositive:
            return {0, -1}
        return None
    v = _float(e, DIGITS)
    if not math.isfinite(v):
        return None
    if abs(v) > 1e-25:
        return {1} if v > 0 else {-1}
    try:
        if e.equals(0):
            return {0}
    except Exception:  # noqa: BLE001
        return None
    return None


def _poly_sign(e, var, dom: Domain) -> set | None:
    try:
        poly = sp.Poly(e, var)
    except sp.PolynomialError:
        return None
    if poly.degree() <= 0:
        return _const_sign(poly.as_expr())
    if not poly.domain.is_QQ and not poly.domain.is_ZZ:
        return None
    roots = sorted(set(r for r in poly.real_roots()))
    inside = []
    for r in roots:
        rv = _float(r, DIGITS)
        if dom.contains(rv):
            inside.append(rv)
    lo = _float(dom.lo) if dom.lo != -sp.oo else (min(inside + [0.0]) - 10)
    hi = _float(dom.hi) if dom.hi != sp.oo else (max(inside + [0.0]) + 10)
    cuts = [lo] + [r for r in sorted(inside)] + [hi]
    signs = set()
    for a, b in zip(cuts, cuts[1:]):
        if b > a:
            mid = sp.Rational(repr((a + b) / 2))
            val = poly.eval(mid)
            signs.add(int(sp.sign(val)))
    if inside:
        signs.add(0)
    return signs or None


def _sign_set(e, var, dom: Domain) -> set | None:
    """An over-approximation of the signs e takes on the domain (None: unknown).  Used to *prove* only."""
    if var not in e.free_symbols:
        return _const_sign(e)
    if e.is_polynomial(var):
        return _poly_sign(e, var, dom)
    if isinstance(e, sp.exp):
        return {1}
    if isinstance(e, sp.Mul):
        acc = {1}
        for f in e.args:
            sf = _sign_set(f, var, dom)
            if sf is None:
                return None
            acc = {a * b for a in acc for b in sf}
        return acc
    if isinstance(e, sp.Add):
        sets = [_sign_set(a, var, dom) for a in e.args]
        if any(st is None for st in sets):
            return None
        union = set().union(*sets)
        if union <= {0, 1}:
            return {1} if any(st == {1} for st in sets) else union
        if union <= {0, -1}:
            return {-1} if any(st == {-1} for st in sets) else union
        return None
    if isinstance(e, sp.Pow):
        b, ex = e.base, e.exp
        if var in ex.free_symbols:
            sb = _sign_set(b, var, dom)
            return {1} if sb == {1} else None
        sb = _sign_set(b, var, dom)
        if sb is None:
            return None
        if ex.is_integer:
            n = int(ex)
            if n % 2 == 0:
                return {1} if 0 not in sb else ({0, 1} if n > 0 else None)
            if n < 0 and 0 in sb:
                return None
            return sb
        # non-integer exponent: real only for a nonnegative base (positive for a negative exponent)
        if sb <= {1}:
            return {1}
        if sb <= {0, 1} and ex > 0:
            return {0, 1}
        return None
    if isinstance(e, sp.log):
        inside = _sign_set(e.args[0], var, dom)
        if inside != {1}:
            return None
        return _sign_set(sp.expand(e.args[0] - 1), var, dom)
    if isinstance(e, sp.Abs):
        return {0, 1}
    if isinstance(e, (sp.cosh,)):
        return {1}
    return None


@dataclass
class SignDecision:
    status: str  # proved | refuted | undecided | undefined
    detail: str
    witness: float | None = None
    value: float | None = None
    scan_min: float | None = None
    method: str = ""


def _numeric_fn(e, var):
    import numpy as np

    f = sp.lambdify(var, e, modules=["numpy"])

    def g(xs):
        with np.errstate(all="ignore"):
            out = f(np.asarray(xs, dtype=float))
        out = np.broadcast_to(np.asarray(out, dtype=complex), np.shape(xs))
        return np.where(np.abs(out.imag) > 1e-12 * np.maximum(1.0, np.abs(out.real)), np.nan, out.real)

    return g


def decide_sign(expr, var, dom: Domain, want: str = "nonneg", base=None, var_name: str = "x") -> SignDecision:
    """Is ``expr`` >= 0 (``want="nonneg"``) on the domain?  ``base`` is the function whose derivative this is
    (checked for realness on the domain).

    proved: sympy's sign analysis of the (factored) expression.  refuted: a point where it fails, found by a
    scan and confirmed at 30 digits.  undefined: ``base`` is not real at some point.  undecided otherwise,
    with the scan's minimum (numerical, not a proof).
    """
    import numpy as np

    sgn = 1 if want == "nonneg" else -1
    e = sgn * expr
    pts = dom.points()
    if base is not None:
        bv = _numeric_fn(base, var)(pts)
        bad = [p for p, b in zip(pts, bv) if not np.isfinite(b)]
        if bad:
            w = sp.Rational(repr(bad[len(bad) // 2]))
            bw = complex(sp.N(base.subs(var, w), DIGITS)) if base.subs(var, w).is_finite is not False else complex("nan")
            return SignDecision("undefined", f"not real-valued at {var_name} = {float(w):.6g} (value {bw})", float(w), math.nan,
                                method="scan")
    try:
        simple = sp.factor(sp.together(sp.simplify(e))) if sp.count_ops(e) < 400 else e
    except Exception:  # noqa: BLE001
        simple = e
    signs = _sign_set(simple, var, dom)
    if signs is None and simple is not e:
        signs = _sign_set(e, var, dom)
    if signs is not None and signs <= {0, 1}:
        return SignDecision("proved", f"sympy: {'' if sgn > 0 else '−'}({simple}) has sign in "
                            f"{{{', '.join('+' if s > 0 else ('0' if s == 0 else '−') for s in sorted(signs))}}} on {dom}",
                            method="sympy sign analysis")
    vals = _numeric_fn(e, var)(pts)
    finite = np.isfinite(vals)
    if finite.any():
        i = int(np.nanargmin(np.where(finite, vals, np.inf)))
        vmin = float(vals[i])
        scale = float(np.nanmax(np.abs(vals[finite]))) if finite.any() else 1.0
        if vmin < -1e-9 * max(1.0, scale):
            w = sp.Rational(repr(pts[i]))
            hp = _float(e.subs(var, w), DIGITS)
            if math.isfinite(hp) and hp < 0:
                return SignDecision("refuted", f"at {var_name} = {pts[i]:.6g} the value is {sgn * hp:.6g} "
                                    f"({'< 0' if sgn > 0 else '> 0'}; {DIGITS} digits)", pts[i], sgn * hp, vmin, "scan + evalf")
        return SignDecision("undecided", f"sympy could not decide the sign; numerical scan of {len(pts)} points on "
                            f"{dom}: min {vmin:.3g} (no violation found — numerical, not a proof)",
                            scan_min=vmin, method="scan")
    return SignDecision("undecided", f"no finite value on {dom} in a scan of {len(pts)} points", method="scan")


# --------------------------------------------------------------------------------------------------------
# conditions: convexity and monotonicity of φ, ψ and of the composite


PHI_DOMAIN = Domain(sp.Integer(-2), sp.Integer(2))  # u_i·w − u_i·v_i ∈ [−2, 2]


@lru_cache(maxsize=256)
def _derivatives(expr_text: str, expr) -> tuple:
    d1 = sp.diff(expr, X_)
    d2 = sp.diff(d1, X_)
    return d1, d2


def _range_on(expr, dom: Domain, increasing: bool | None) -> tuple[Any, Any, str]:
    """(min, max, how) of expr on a finite domain: exact endpoints when monotone (proved), else a scan."""
    import numpy as np

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
    from .losses.phipsi import compile_formula

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
    summary = {"proved": "F convex and nondecreasing: proved", "refuted": "violated: " + ", ".join(
        f.name for f in (mono, cvx) if f.status == "refuted"), "undecided": "undecided (numerical scan found no violation)",
        "undefined": "F not real on the domain"}[holds]
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
    return SignDecision("undecided", dec.detail + " — but no M reaches this S; not a counterexample", scan_min=dec.scan_min,
                        method=dec.method)


def _composite_exp_reduction(phi, psi, dom: Domain, M=None, c_sum=1, lo_phi=0.0, hi_phi=0.0) -> Finding | None:
    """When φ'²/φ'' = kφ (k > 0 constant; e.g. φ = exp(a x + b)), Cauchy–Schwarz turns convexity of
    F(x) = ψ(Σ c_j φ(x_j)) into one inequality in S: ψ'(S) + k S ψ''(S) >= 0 (given ψ' >= 0)."""
    d1 = sp.diff(phi, X_)
    d2 = sp.diff(d1, X_)
    try:
        k = sp.simplify(d1 ** 2 / (d2 * phi))
    except Exception:  # noqa: BLE001
        return None
    if k.free_symbols or not (k.is_positive or _float(k) > 0):
        return None
    e1 = sp.diff(psi, X_)
    h = sp.simplify(e1 + k * X_ * sp.diff(e1, X_))
    dec = _achievable(decide_sign(h, X_, dom, base=psi, var_name="S"), M, c_sum, lo_phi, hi_phi)
    return _decision_finding("composite_convex", f"φ'²/φ'' = {k}·φ, so F is convex iff ψ'(S) + {k}·S·ψ''(S) = "
                             f"{h.subs(X_, sp.Symbol('S', real=True))} >= 0 "
                             f"on {dom} (Cauchy–Schwarz; ψ' >= 0 proved)", dec)


def _composite_functions(fphi, fpsi, c1, c2, n_blocks):
    """F on (N, n) points for the torch formulas: the argument list is [x block (c1), y block (c2)]."""
    def F(x: Tensor, tau: float) -> Tensor:
        parts, k = [], 0
        for c, n in n_blocks:
            parts.append(c * fphi(x[:, k:k + n], tau).sum(-1))
            k += n
        return fpsi(sum(parts), tau)
    return F


def _composite_scan(fphi, fpsi, c1, c2, M, tau, seed, what: str) -> Finding:
    """Search for a point of [−2, 2]^n where F is not nondecreasing / not convex: random points plus the
    diagonal x·1, per M (M = 2, 3, 5 when M is None); a violation is confirmed at 30 digits when φ and ψ are
    formulas (float64 otherwise, labelled)."""
    name = "composite_nondecreasing" if what == "monotone" else "composite_convex"
    statement = ("∂F/∂x_j = c_j ψ'(S) φ'(x_j) >= 0 on [−2, 2]^n" if what == "monotone" else
                 "the Hessian of F(x) = ψ(Σ c_j φ(x_j)) is positive semidefinite on [−2, 2]^n")
    gen = torch.Generator().manual_seed(seed)
    worst = (math.inf, None, None, None)
    for m in ([M] if M is not None else [2, 3, 5]):
        n_blocks = [(float(c), m - 1) for c in (c1, c2) if float(c) > 0]
        n = sum(b for _, b in n_blocks)
        F = _composite_functions(fphi, fpsi, c1, c2, n_blocks)
        x = torch.cat([torch.rand(2048, n, generator=gen, dtype=torch.float64) * 4 - 2,
                       torch.linspace(-2, 2, 401, dtype=torch.float64).unsqueeze(1).expand(401, n)])
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
            return Finding(name, "undefined", statement, f"F is NaN at x = {x[i].detach().tolist()} (M = {m})",
                           {"M": m, "point": x[i].detach().tolist()})
        k = int(torch.nan_to_num(vmin, nan=math.inf).argmin())
        v = float(vmin[k])
        if v / scale < worst[0] / max(worst[3] or 1.0, 1e-300) if worst[1] is not None else True:
            worst = (v, m, (x[k].detach(), idx[k] if what == "convex" else int(idx[k])), scale)
    v, m, (pt, direction), scale = worst
    if v < -1e-9 * max(scale, 1.0):
        confirmed = _confirm_composite(fphi, fpsi, c1, c2, m, tau, pt, direction, what)
        how = f"confirmed at {DIGITS} digits: {confirmed:.6g}" if confirmed is not None else "float64 (formulas are callables)"
        if confirmed is None or confirmed < 0:
            what_txt = (f"∂F/∂x_{direction} = {v:.6g}" if what == "monotone" else f"smallest Hessian eigenvalue {v:.6g}")
            return Finding(name, "refuted", statement,
                           f"M = {m}, x = {[round(float(a), 6) for a in pt]}: {what_txt} < 0 ({how})",
                           {"M": m, "point": pt.tolist(), "value": v, "high_precision": confirmed})
    return Finding(name, "undecided", statement,
                   f"no violation in a numerical scan of {2449 * (1 if M is not None else 3)} points "
                   f"(min {'∂F/∂x_j' if what == 'monotone' else 'eigenvalue'} {v:.3g}; numerical, not a proof)",
                   {"scan_min": v})


def _confirm_composite(fphi, fpsi, c1, c2, m, tau, pt, direction, what) -> float | None:
    """The violation at a rational point (and direction), evaluated with sympy to 30 digits."""
    if fphi.expr is None or fpsi.expr is None:
        return None
    tv = exact(tau)
    phi, psi = fphi.expr.subs(TAU, tv), fpsi.expr.subs(TAU, tv)
    weights = [exact(c) for c in (c1, c2) if float(c) > 0 for _ in range(m - 1)]
    xs = [sp.Rational(repr(float(a))) for a in pt]
    S = sum(w * phi.subs(X_, xv) for w, xv in zip(weights, xs))
    p1 = sp.diff(phi, X_)
    q1 = sp.diff(psi, X_)
    if what == "monotone":
        j = direction
        return _float(weights[j] * q1.subs(X_, S) * p1.subs(X_, xs[j]), DIGITS)
    v = [sp.Rational(repr(float(a))) for a in direction]
    p2, q2 = sp.diff(p1, X_), sp.diff(q1, X_)
    grad_dot = sum(w * p1.subs(X_, xv) * vv for w, xv, vv in zip(weights, xs, v))
    quad = q2.subs(X_, S) * grad_dot ** 2 + q1.subs(X_, S) * sum(w * p2.subs(X_, xv) * vv ** 2 for w, xv, vv in zip(weights, xs, v))
    norm2 = sum(vv ** 2 for vv in v)
    return _float(quad / norm2, DIGITS)


def _conditions_numeric_only(fphi, fpsi, c1, c2, M, tau, seed) -> ConditionsReport:
    findings = [Finding(n, "undecided", s, "φ or ψ is a callable: no symbolic analysis")
                for n, s in (("phi_nondecreasing", "φ' >= 0"), ("phi_convex", "φ'' >= 0"),
                             ("psi_nondecreasing", "ψ' >= 0"), ("psi_convex", "ψ'' >= 0"))]
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
    for name, expr, want, base, what in (("K_U_nonincreasing", ku1, "nonpos", KU, "K_U'(z)"),
                                         ("K_U_convex", ku2, "nonneg", KU, "K_U''(z)"),
                                         ("K_A_nonincreasing", ka1, "nonpos", KA, "K_A'(z)")):
        dec = decide_sign(expr, z, dom, want, base=base, var_name="z")
        findings.append(_decision_finding(name, f"{what} = {expr} {'<=' if want == 'nonpos' else '>='} 0 on {dom}", dec))
    statuses = [f.status for f in findings]
    holds = ("undefined" if "undefined" in statuses else "refuted" if "refuted" in statuses else
             "proved" if all(s == "proved" for s in statuses) else "undecided")
    return ConditionsReport(str(KA), str(KU), 1.0, 0.0, None, float(t), findings, holds, str(dom),
                            {"proved": "K_U convex nonincreasing, K_A nonincreasing: proved"}.get(holds, holds))


# --------------------------------------------------------------------------------------------------------
# the Jensen chain


def _random_configurations(gen, cases):
    for M, d in cases:
        yield M, d, sphere.random_points(1, M, d, generator=gen)[0], sphere.random_points(1, M, d, generator=gen)[0]


def _perturbed_simplex(M, d, eps, gen):
    x = simplex_points(M, d, "pairs")
    v = sphere.project(x, torch.randn(x.shape, generator=gen, dtype=torch.float64))
    v = v / sphere.norm(v)
    y = sphere.retract(x, eps * v)
    return y[:M], y[M:]


CHAIN_CASES = [(2, 2), (3, 2), (3, 5), (4, 3), (4, 4), (5, 3), (6, 5), (6, 8), (8, 3), (8, 7), (12, 4), (16, 16)]


def jensen_chain(form: LossForm, conditions: ConditionsReport | None = None, seed: int = 0,
                 samples: int = 8) -> list[Finding]:
    """The lower-bound chain of the proof, link by link, with each link's condition, its equality at the
    aligned simplex (symbolic, general M; measured at the exact simplex) and its gap elsewhere (measured)."""
    if form.phipsi is not None:
        return _phipsi_chain(form, conditions, seed, samples)
    if form.kernel is not None:
        return _kernel_chain(form, conditions, seed, samples)
    return [Finding("jensen_chain", "n/a", "no lower-bound chain is implemented for this loss",
                    "available for the φ/ψ forms (infonce, simclr, dcl, dhel, phipsi, alphacl) and kcl")]


def _phipsi_quantities(pp: PhiPsiForm, U: Tensor, V: Tensor) -> dict:
    """L, the Jensen bound F(x̄·1, ȳ·1), the block means and the final bound, for one configuration."""
    from .losses.phipsi import off_diagonal_entries

    M = U.shape[0]
    tau = pp.tau
    scale = _float(pp.scale.subs(M_, M))
    uv, uu = U @ V.T, U @ U.T
    pos = torch.diagonal(uv).unsqueeze(-1)
    xs = off_diagonal_entries(uv) - pos
    ys = off_diagonal_entries(uu) - pos
    S = pp.c1 * pp.phi_torch(xs, tau).sum(-1) + pp.c2 * pp.phi_torch(ys, tau).sum(-1)
    L = scale * float(pp.psi_torch(S, tau).mean())
    xbar, ybar = float(xs.mean()), float(ys.mean())
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    Fbar = scale * float(pp.psi_torch((M - 1) * (pp.c1 * pp.phi_torch(t(xbar), tau) + pp.c2 * pp.phi_torch(t(ybar), tau)), tau))
    g = -M / (M - 1)
    bound = scale * float(pp.psi_torch((M - 1) * (pp.c1 + pp.c2) * pp.phi_torch(t(g), tau), tau))
    # the geometric link only concerns the blocks that are used
    geo = min(xbar - g if pp.c1 > 0 else math.inf, ybar - g if pp.c2 > 0 else math.inf)
    return {"L": L, "jensen": Fbar, "bound": bound, "xbar": xbar, "ybar": ybar, "geometric_gap": geo}


def _link_status(gaps: list[float], scale: float, condition: str | None, cond_status: str) -> tuple[str, str]:
    finite = [g for g in gaps if math.isfinite(g)]
    if len(finite) < len(gaps):
        return "inconclusive", "non-finite values"
    tol = 1e-12 * max(1.0, scale)  # round-off of float64 sums of O(M²) terms of size O(scale)
    worst = min(finite)
    bad = sum(g < -tol for g in finite)
    if bad == 0:
        return "passed", f"min gap {worst:.3g} >= −{tol:.0e} over {len(finite)} configurations"
    if condition is not None and cond_status in ("refuted", "undefined"):
        return "refuted", (f"fails in {bad} of {len(finite)} configurations (min gap {worst:.3g}); consistent: its "
                           f"condition ({condition}) is {cond_status}")
    if condition is not None and cond_status == "undecided":
        return "refuted", (f"fails in {bad} of {len(finite)} configurations (min gap {worst:.3g}): a numerical "
                           f"counterexample to its condition ({condition}), which sympy left undecided")
    return "failed", f"fails in {bad} of {len(finite)} configurations (min gap {worst:.3g}) although its condition is proved"


def _phipsi_chain(form: LossForm, cond: ConditionsReport | None, seed: int, samples: int) -> list[Finding]:
    pp = form.phipsi
    spec = get_loss(form.name)
    gen = torch.Generator().manual_seed(seed)
    cases = CHAIN_CASES[: max(samples, 1)] if samples <= len(CHAIN_CASES) else CHAIN_CASES
    rows = []
    for M, d, U, V in _random_configurations(gen, cases):
        q = _phipsi_quantities(pp, U, V)
        with torch.no_grad():
            q["registered"] = float(spec(U, V, **form.params))
        q.update(M=M, d=d)
        rows.append(q)
    perturbed = []
    for M, d in [(3, 2), (4, 3), (5, 6)]:
        U, V = _perturbed_simplex(M, d, 1e-2, gen)
        q = _phipsi_quantities(pp, U, V)
        q.update(M=M, d=d)
        perturbed.append(q)
    exact_rows = []
    for M, d in [(3, 2), (4, 3), (6, 8)]:
        x = configurations.regular_simplex(M, d)
        q = _phipsi_quantities(pp, x, x)
        q.update(M=M, d=d)
        exact_rows.append(q)
    scale = max(abs(r["L"]) for r in rows if math.isfinite(r["L"])) if rows else 1.0
    cstat = {f.name: f.status for f in cond.findings} if cond else {}
    out = []
    # the form matches the registered loss
    mism = max(abs(r["L"] - r["registered"]) / max(1.0, abs(r["registered"])) for r in rows)
    out.append(Finding("form_matches_loss", "passed" if mism <= 1e-12 else ("inconclusive" if not math.isfinite(mism) else "failed"),
                       "scale·(1/M) Σ_i ψ(S_i) with the φ/ψ form equals the registered loss",
                       f"largest relative difference {mism:.2e} (tolerance 1e-12: float64 round-off)",
                       {"phi": str(pp.phi), "psi": str(pp.psi), "c1": pp.c1, "c2": pp.c2, "scale": str(pp.scale)}))
    # symbolic equality of every link at the aligned simplex (general M)
    s = simplex_inner_product()
    sum_cross = M_ * (M_ - 1) * s  # Σ_{i≠j} u_i·v_j at the aligned simplex (u = v)
    xbar = sp.simplify((sum_cross - (M_ - 1) * M_) / (M_ * (M_ - 1)))  # Σ_i p_i = M
    g = sp.simplify(s - 1)
    c1e, c2e = exact(pp.c1), exact(pp.c2)
    L_simplex = pp.scale * pp.psi.subs(X_, (M_ - 1) * (c1e + c2e) * pp.phi.subs(X_, g))
    jensen_simplex = pp.scale * pp.psi.subs(X_, (M_ - 1) * (c1e * pp.phi.subs(X_, xbar) + c2e * pp.phi.subs(X_, xbar)))
    links = [
        ("jensen", "L = scale·(1/M) Σ_i F(z_i) >= scale·F(x̄·1, ȳ·1)", "F convex (composite_convex)",
         cstat.get("composite_convex", "undecided"), lambda r: r["L"] - r["jensen"], L_simplex - jensen_simplex),
        ("geometric", "x̄, ȳ >= −M/(M−1) (x̄, ȳ: means of u_i·v_j − u_i·v_i, u_i·u_j − u_i·v_i over j ≠ i); equality iff "
         "u_i = v_i and Σ u_i = 0", None, "proved", lambda r: r["geometric_gap"], xbar - g),
        ("monotone", "scale·F(x̄·1, ȳ·1) >= scale·F(−M/(M−1)·1) = L(aligned simplex)", "F nondecreasing (composite_nondecreasing)",
         cstat.get("composite_nondecreasing", "undecided"), lambda r: r["jensen"] - r["bound"], jensen_simplex - L_simplex),
    ]
    for name, statement, condition, cst, gap_fn, sym_gap in links:
        status, detail = _link_status([gap_fn(r) for r in rows], scale, condition, cst)
        zero, how = is_zero(sp.simplify(sym_gap.subs(TAU, exact(pp.tau))) if TAU in sym_gap.free_symbols else sym_gap)
        tight = max(abs(gap_fn(r)) for r in exact_rows)
        tight_ok = zero and tight <= 1e-12 * max(1.0, scale)
        out.append(Finding(f"link_{name}", status if tight_ok else "failed",
                           statement + (f"   [needs: {condition}: {cst}]" if condition else "   [always true on the sphere]"),
                           f"{detail}; equality at the aligned simplex: {how} (symbolic gap {sp.simplify(sym_gap)}), "
                           f"measured {tight:.1e} at the exact simplex",
                           {"min_gap": min(gap_fn(r) for r in rows), "gap_at_simplex": tight}))
    # strictness away from the simplex
    total = [r["L"] - r["bound"] for r in rows]
    total_p = [r["L"] - r["bound"] for r in perturbed]
    holds = cond.holds if cond else "undecided"
    strict = all(t > 0 for t in total + total_p)
    out.append(Finding("chain_tightness", "passed" if strict else ("failed" if holds == "proved" else "refuted"),
                       "L − L(aligned simplex) > 0 away from the aligned simplex (random configurations and the simplex "
                       "perturbed by 1e-2 along a random tangent direction), = 0 at it",
                       f"min total gap {min(total):.3g} (random), {min(total_p):.3g} (perturbed); at the exact simplex "
                       f"{max(abs(r['L'] - r['bound']) for r in exact_rows):.1e}",
                       {"random": [{"M": r["M"], "d": r["d"], "gap": r["L"] - r["bound"]} for r in rows],
                        "perturbed": [{"M": r["M"], "d": r["d"], "gap": r["L"] - r["bound"]} for r in perturbed]}))
    return out


def _kernel_quantities(k: KernelForm, U: Tensor, V: Tensor, tvals) -> dict:
    from .losses.kcl import alignment_kernel, uniformity_kernel

    M = U.shape[0]
    t, s, gamma, kern = float(tvals["t"]), float(tvals["s"]), float(tvals["gamma"]), tvals["kernel"]
    d2 = ((U - V) ** 2).sum(-1)
    align = float(alignment_kernel(d2, kern, t, s).mean())
    off = ~torch.eye(M, dtype=torch.bool)
    r2 = (2 - 2 * U @ U.T)[off].clamp_min(0.0)
    ku = uniformity_kernel(r2, kern, t, s)
    mean_r2 = float(r2.mean())
    one = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    ku_mean = float(uniformity_kernel(one(mean_r2), kern, t, s))
    rs = 2 * M / (M - 1)
    return {"L": -align + gamma * float(ku.mean()), "align": -align, "align_bound": -float(alignment_kernel(one(0.0), kern, t, s)),
            "energy": gamma * float(ku.mean()), "energy_jensen": gamma * ku_mean, "mean_r2": mean_r2, "r2_simplex": rs,
            "energy_bound": gamma * float(uniformity_kernel(one(rs), kern, t, s))}


def _kernel_chain(form: LossForm, cond: ConditionsReport | None, seed: int, samples: int) -> list[Finding]:
    k = form.kernel
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for M, d, U, V in _random_configurations(gen, CHAIN_CASES[: max(samples, 1)]):
        q = _kernel_quantities(k, U, V, form.params)
        with torch.no_grad():
            q["registered"] = float(get_loss(form.name)(U, V, **form.params))
        q.update(M=M, d=d)
        rows.append(q)
    exact_rows = []
    for M, d in [(3, 2), (4, 3), (6, 8)]:
        x = configurations.regular_simplex(M, d)
        exact_rows.append(_kernel_quantities(k, x, x, form.params))
    perturbed = []
    for M, d in [(3, 2), (4, 3), (5, 6)]:
        U, V = _perturbed_simplex(M, d, 1e-2, gen)
        perturbed.append(_kernel_quantities(k, U, V, form.params))
    cstat = {f.name: f.status for f in cond.findings} if cond else {}
    scale = max(abs(r["L"]) for r in rows if math.isfinite(r["L"]))
    out = []
    mism = max(abs(r["L"] - r["registered"]) / max(1.0, abs(r["registered"])) for r in rows)
    out.append(Finding("form_matches_loss", "passed" if mism <= 1e-12 else "failed",
                       "alignment + γ·energy from the kernel form equals the registered loss",
                       f"largest relative difference {mism:.2e}"))
    z_s = sp.simplify(2 - 2 * simplex_inner_product())
    links = [
        ("alignment", "−(1/M) Σ_i K_A(‖u_i − v_i‖²) >= −K_A(0)", "K_A nonincreasing", cstat.get("K_A_nonincreasing", "undecided"),
         lambda r: r["align"] - r["align_bound"], sp.Integer(0)),
        ("jensen", "mean_{i≠j} K_U(r_ij²) >= K_U(mean r_ij²)", "K_U convex", cstat.get("K_U_convex", "undecided"),
         lambda r: r["energy"] - r["energy_jensen"], sp.Integer(0)),
        ("geometric", "mean_{i≠j} r_ij² = 2 + (2M − 2‖Σu‖²)/(M(M−1)) <= 2M/(M−1); equality iff Σ u_i = 0", None, "proved",
         lambda r: r["r2_simplex"] - r["mean_r2"], sp.simplify(2 + 2 * M_ / (M_ * (M_ - 1)) - z_s)),
        ("monotone", "γ K_U(mean r²) >= γ K_U(2M/(M−1))", "K_U nonincreasing", cstat.get("K_U_nonincreasing", "undecided"),
         lambda r: r["energy_jensen"] - r["energy_bound"], sp.Integer(0)),
    ]
    for name, statement, condition, cst, gap_fn, sym_gap in links:
        status, detail = _link_status([gap_fn(r) for r in rows], scale, condition, cst)
        tight = max(abs(gap_fn(r)) for r in exact_rows)
        zero, how = is_zero(sym_gap)
        ok = zero and tight <= 1e-12 * max(1.0, scale)
        out.append(Finding(f"link_{name}", status if ok else "failed",
                           statement + (f"   [needs: {condition}: {cst}]" if condition else "   [always true on the sphere]"),
                           f"{detail}; equality at the aligned simplex: {how}, measured {tight:.1e}",
                           {"min_gap": min(gap_fn(r) for r in rows), "gap_at_simplex": tight}))
    # uniqueness of the equality case: Jensen is strict only for a strictly convex K_U
    ku2 = sp.diff(k.K_U.subs(T_, exact(k.params["t"])), Z_, 2)
    sset = _sign_set(sp.factor(sp.together(ku2)), Z_, Domain(sp.Integer(0), sp.Integer(4), lo_open=True))
    if sset == {1}:
        out.append(Finding("equality_only_at_simplex", "proved", "K_U strictly convex on (0, 4]: equality in the Jensen "
                           "link forces equal distances, so the aligned simplex is the only minimiser (M <= d+1)",
                           f"K_U''(z) = {ku2} > 0"))
    elif ku2 == 0 or sset == {0}:
        out.append(Finding("equality_only_at_simplex", "refuted", "K_U strictly convex (needed for a unique minimiser)",
                           f"K_U''(z) = {ku2}: K_U is affine in r², Jensen is an equality for every configuration; every "
                           "aligned configuration with Σ u_i = 0 attains the bound (not unique, SPEC §1)"))
    else:
        out.append(Finding("equality_only_at_simplex", "undecided", "K_U strictly convex on (0, 4]",
                           f"sympy could not decide K_U''(z) = {ku2} > 0"))
    total = [r["L"] - r["align_bound"] - r["energy_bound"] for r in rows]
    total_p = [r["L"] - r["align_bound"] - r["energy_bound"] for r in perturbed]
    strict = all(t > 0 for t in total + total_p)
    holds = cond.holds if cond else "undecided"
    out.append(Finding("chain_tightness", "passed" if strict else ("failed" if holds == "proved" else "refuted"),
                       "L − L(aligned simplex) > 0 away from the aligned simplex, = 0 at it",
                       f"min total gap {min(total):.3g} (random), {min(total_p):.3g} (perturbed by 1e-2)"))
    return out


# --------------------------------------------------------------------------------------------------------
# KCL: the expected mini-batch loss is a U-statistic (C4)

#: three pairs (u_a, v_a) on S² with rational coordinates (Pythagorean triples), and their probabilities
DEFAULT_ATOMS = (
    ((1, 0, 0), (Fraction(3, 5), Fraction(4, 5), 0)),
    ((0, Fraction(3, 5), Fraction(4, 5)), (0, 0, 1)),
    ((Fraction(-4, 5), 0, Fraction(3, 5)), (-1, 0, 0)),
)
DEFAULT_WEIGHTS = (Fraction(1, 2), Fraction(1, 3), Fraction(1, 6))


def expected_kcl_coefficients(k: int, weights: Sequence[Fraction], M: int) -> tuple[dict, dict]:
    """Exact E[kcl] over M i.i.d. draws from k atoms, as rational coefficients of the kernel values:
    E = Σ_a A[a]·K_A(a) + γ Σ_{a,b} B[(a,b)]·K_U(a,b).  Enumerates all k^M batches (exact, Fractions)."""
    A: dict = {a: Fraction(0) for a in range(k)}
    B: dict = {(a, b): Fraction(0) for a in range(k) for b in range(k)}
    for batch in itertools.product(range(k), repeat=M):
        prob = Fraction(1)
        for a in batch:
            prob *= weights[a]
        for a in batch:
            A[a] -= prob / M
        c = prob / (M * (M - 1))
        for i, a in enumerate(batch):
            for j, b in enumerate(batch):
                if i != j:
                    B[(a, b)] += c
    return A, B


def kcl_ustatistic(params: Mapping[str, Any] | None = None, Ms: Sequence[int] = (2, 3, 4, 5),
                   atoms=DEFAULT_ATOMS, weights=DEFAULT_WEIGHTS, mc_samples: int = 20000, seed: int = 0,
                   z: float = 3.29) -> list[Finding]:
    """C4: exact expected KCL loss for each M (rational coefficients of symbolic kernel values), shown to be
    one expression for every M, evaluated exactly, and compared with a Monte Carlo estimate (99.9% interval,
    z = 3.29)."""
    spec = get_loss("kcl")
    p = spec.resolve_params(params)
    k = len(atoms)
    if sum(weights) != 1 or any(w <= 0 for w in weights) or len(weights) != k:
        raise ArgumentError(f"weights: expected {k} positive fractions summing to 1, got {list(map(str, weights))}")
    for a, (u, v) in enumerate(atoms):
        for name, x in (("u", u), ("v", v)):
            if sum(_q(c) ** 2 for c in x) != 1:
                raise ArgumentError(f"atoms: {name}_{a} = {tuple(map(str, x))} is not a unit vector (exact rational "
                                    "coordinates with squared norm 1 are required)")
    KA_sym = [sp.Symbol(f"K_A{a}") for a in range(k)]
    KU_sym = {(a, b): sp.Symbol(f"K_U{min(a, b)}{max(a, b)}") for a in range(k) for b in range(k)}
    exprs = {}
    for m in Ms:
        A, B = expected_kcl_coefficients(k, weights, m)
        e = sum(sp.Rational(A[a].numerator, A[a].denominator) * KA_sym[a] for a in range(k))
        e += GAMMA * sum(sp.Rational(B[ab].numerator, B[ab].denominator) * KU_sym[ab] for ab in B)
        exprs[m] = sp.expand(e)
    ref = exprs[Ms[0]]
    same = all(sp.expand(exprs[m] - ref) == 0 for m in Ms)
    ustat = sp.expand(-sum(sp.Rational(w.numerator, w.denominator) * KA_sym[a] for a, w in enumerate(weights)) +
                      GAMMA * sum(sp.Rational((weights[a] * weights[b]).numerator, (weights[a] * weights[b]).denominator)
                                  * KU_sym[(a, b)] for a in range(k) for b in range(k)))
    is_u = sp.expand(ref - ustat) == 0
    out = [Finding("expectation_independent_of_M", "proved" if same and is_u else "failed",
                   f"E[kcl] over M i.i.d. pairs from {k} atoms is the same expression for M = {', '.join(map(str, Ms))}: "
                   "−Σ_a w_a K_A(a) + γ Σ_{a,b} w_a w_b K_U(a,b) (a U-statistic)",
                   f"exact rational arithmetic over all k^M batches (k^{max(Ms)} = {k ** max(Ms)})",
                   {"expression": str(ref), "per_M": {m: str(e) for m, e in exprs.items()}})]
    # exact value with the actual kernel
    KA, KU, _ = kernel_expressions(p["kernel"], exact(p["t"]), p["s"])

    def sq(a, b):  # exact ‖a − b‖² of rational points
        return sum(((_q(x) - _q(y)) ** 2 for x, y in zip(a, b)), sp.Integer(0))

    vals = {KA_sym[a]: KA.subs(Z_, sq(atoms[a][0], atoms[a][1])) for a in range(k)}
    for (a, b), sym in KU_sym.items():
        vals[sym] = KU.subs(Z_, sq(atoms[a][0], atoms[b][0]))
    vals[GAMMA] = exact(p["gamma"])
    exact_value = _float(ref.subs(vals), DIGITS)
    if not math.isfinite(exact_value):
        out.append(Finding("expectation_vs_monte_carlo", "inconclusive",
                           "exact expectation vs Monte Carlo", f"the exact expectation is not finite ({ref.subs(vals)}): "
                           "the kernel is singular when two draws coincide"))
        return out
    gen = torch.Generator().manual_seed(seed)
    Ua = torch.tensor([[float(c) for c in a[0]] for a in atoms], dtype=torch.float64)
    Va = torch.tensor([[float(c) for c in a[1]] for a in atoms], dtype=torch.float64)
    w = torch.tensor([float(x) for x in weights], dtype=torch.float64)
    rows, ok = [], True
    for m in Ms:
        idx = torch.multinomial(w, mc_samples * m, replacement=True, generator=gen).view(mc_samples, m)
        with torch.no_grad():
            vals_mc = spec(Ua[idx], Va[idx], **p)
        mean, std = float(vals_mc.mean()), float(vals_mc.std())
        half = z * std / math.sqrt(mc_samples)
        inside = abs(mean - exact_value) <= half
        ok &= inside
        rows.append({"M": m, "monte_carlo": mean, "half_width": half, "exact": exact_value,
                     "difference": mean - exact_value, "inside": inside})
    out.append(Finding("expectation_vs_monte_carlo", "passed" if ok else "failed",
                       f"the exact expectation {exact_value:.15g} lies in the {z:g}-sigma interval of a Monte Carlo "
                       f"estimate ({mc_samples} batches per M, torch.Generator seed {seed})",
                       "; ".join(f"M={r['M']}: {r['monte_carlo']:.6f} ± {r['half_width']:.1e}" for r in rows),
                       {"rows": rows, "exact": exact_value}))
    return out


def _q(v):
    return sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else sp.Integer(v)


# --------------------------------------------------------------------------------------------------------
# α-CL: ∇L = −∇E_α with α stopped (C6)


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
    zero_minus = all(_vanishes(a + b) for a, b in zip(grad_L, grad_E))
    # the opposite sign is not an identity: evaluate ∇L − ∇E_α at a rational point
    plus_nonzero = None
    if not general:
        rng = __import__("random").Random(1)
        pt = {q: sp.Rational(rng.randint(-9, 9), 10) for q in coords}
        plus_nonzero = max(abs(_float((a - b).xreplace(pt), 20)) for a, b in zip(grad_L, grad_E))
    what = "arbitrary differentiable φ, ψ (undefined functions), symbolic c1, c2" if general else f"φ = {phi}, ψ = {psi}"
    detail = f"{len(coords)} coordinates; {time.perf_counter() - t0:.2f} s"
    if plus_nonzero is not None:
        detail += f"; ∇L − ∇E_α is not zero (max |component| {plus_nonzero:.3g} at a rational point): the sign is −"
    return Finding("alpha_cl_identity_symbolic" + ("_general" if general else ""),
                   "proved" if zero_minus else "failed",
                   f"∇L = −∇E_α with α stopped, M = {M}, d = {d}, {what}: every component of ∇L + ∇E_α simplifies to 0",
                   detail)


def alpha_cl_numeric(phi, psi, c1: float, c2: float, tau: float, seed: int = 0,
                     cases=((4, 3), (8, 3), (8, 8), (16, 5), (16, 16)), on_sphere: bool = False) -> Finding:
    """Autograd: ‖∇L + ∇E_α(α.detach())‖ / ‖∇L‖ at random points (Gaussian vectors, or unit vectors)."""
    from .losses import alphacl as A

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
        nL = math.sqrt(sum(float((a ** 2).sum()) for a in gL))
        r_minus = math.sqrt(sum(float(((a + b) ** 2).sum()) for a, b in zip(gL, gE))) / max(nL, 1e-300)
        r_plus = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(gL, gE))) / max(nL, 1e-300)
        rows.append({"M": M, "d": d, "rel_residual_minus": r_minus, "rel_residual_plus": r_plus, "grad_norm": nL})
        worst = max(worst, r_minus) if math.isfinite(r_minus) else math.inf
    # ~ M² terms of float64 round-off each: 1e-12 relative
    status = "passed" if worst <= 1e-12 else ("inconclusive" if not math.isfinite(worst) else "failed")
    return Finding("alpha_cl_identity_numeric", status,
                   "‖∇L + ∇E_α‖/‖∇L‖ <= 1e-12 (autograd, α detached) at random " + ("unit" if on_sphere else "Gaussian") + " points",
                   f"largest {worst:.2e}; the opposite sign gives ‖∇L − ∇E_α‖/‖∇L‖ ≈ "
                   f"{min(r['rel_residual_plus'] for r in rows):.3f} to {max(r['rel_residual_plus'] for r in rows):.3f}",
                   {"rows": rows})


def alpha_cl_instance_check(name: str, params: Mapping[str, Any] | None = None, seed: int = 0) -> Finding:
    """A registered loss equals scale·L_{φ,ψ} on the sphere and its Riemannian gradient equals −scale·∇E_α."""
    from .losses import alphacl as A

    spec = get_loss(name)
    p = spec.resolve_params(params)
    inst = A.instance(spec.name, p)
    if inst is None:
        why = A.NOT_INSTANCES.get(spec.name, "no α-CL form is known for it")
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
    return Finding("alpha_cl_instance", "passed" if ok else "failed",
                   f"{spec.name} = {inst['scale']}·L_(φ,ψ) with φ = {phi_txt}, ψ = {psi_txt} (tau = {inst['tau']:g}), "
                   f"c = ({inst['c1']:g}, {inst['c2']:g}); its Riemannian gradient = −{inst['scale']}·grad E_α (α stopped)",
                   f"value: largest relative difference {worst_v:.2e}; gradient: {worst_g:.2e} (tolerance 1e-12)",
                   {"value_rel": worst_v, "gradient_rel": worst_g})


def alpha_cl_section(form: LossForm, seed: int = 0) -> list[Finding]:
    from .losses import alphacl as A

    inst = A.instance(form.name, form.params)
    if inst is None:
        return [alpha_cl_instance_check(form.name, form.params, seed)]
    out = [alpha_cl_symbolic()]
    from .losses.phipsi import compile_formula

    fphi, fpsi = compile_formula(inst["phi"], "phi"), compile_formula(inst["psi"], "psi")
    if fphi.expr is not None and fpsi.expr is not None:
        tv = exact(inst["tau"])
        out.append(alpha_cl_symbolic(fphi.expr.subs(TAU, tv), fpsi.expr.subs(TAU, tv), inst["c1"], inst["c2"]))
    out.append(alpha_cl_numeric(inst["phi"], inst["psi"], inst["c1"], inst["c2"], inst["tau"], seed))
    out.append(alpha_cl_instance_check(form.name, form.params, seed))
    return out


# --------------------------------------------------------------------------------------------------------
# everything for one loss


@dataclass
class SymbolicReport:
    loss: str
    params: dict
    closed_form: ClosedForm
    sections: dict  # name -> list[Finding]
    conditions: ConditionsReport | None
    seconds: float

    def all_findings(self) -> list[Finding]:
        out = list(self.closed_form.derivations)
        for fs in self.sections.values():
            out += fs
        return out

    @property
    def verdict(self) -> str:
        """failed (a derived statement contradicted by a measurement) > inconclusive > passed."""
        rows = [r["status"] for r in self.closed_form.rows]
        stats = [f.status for f in self.all_findings()] + rows
        if "failed" in stats:
            return "failed"
        if "inconclusive" in stats:
            return "inconclusive"
        return "passed"

    @property
    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1, "inconclusive": 3}[self.verdict]

    def to_dict(self) -> dict:
        return {"loss": self.loss, "params": _jsonable(self.params), "verdict": self.verdict,
                "closed_form": self.closed_form.to_dict(),
                "sections": {k: [f.to_dict() for f in v] for k, v in self.sections.items()},
                "conditions": self.conditions.to_dict() if self.conditions else None, "seconds": self.seconds}


def analyse(loss: str, params: Mapping[str, Any] | None = None, *, Ms: Sequence[int] = (2, 3, 4, 5, 6, 8),
            seed: int = 0, mc_samples: int = 20000, sections: Sequence[str] | None = None) -> SymbolicReport:
    """All symbolic checks that apply to ``loss`` (see the module docstring)."""
    t0 = time.perf_counter()
    form = loss_form(loss, params)
    want = set(sections or ("stationarity", "chain", "conditions", "ustatistic", "alpha_cl"))
    cf = closed_form(form, Ms)
    out: dict = {}
    cond = None
    if "stationarity" in want:
        out["stationarity"] = stationarity(form)
    if "conditions" in want or "chain" in want:
        if form.phipsi is not None:
            pp = form.phipsi
            cond = check_conditions(pp.phi_torch if not pp.symbolic else pp.phi, pp.psi_torch if not pp.symbolic else pp.psi,
                                    pp.c1, pp.c2, None, pp.tau, seed)
        elif form.kernel is not None:
            cond = kernel_conditions(form.kernel)
        if "conditions" in want:
            out["conditions"] = cond.findings if cond else [Finding("conditions", "n/a", "no φ/ψ or kernel form",
                                                                    "conditions are defined for the φ/ψ and KCL forms")]
    if "chain" in want:
        out["chain"] = jensen_chain(form, cond, seed)
    if "ustatistic" in want and form.name == "kcl":
        out["ustatistic"] = kcl_ustatistic(form.params, mc_samples=mc_samples, seed=seed)
    if "alpha_cl" in want and form.kind == "pairs":
        out["alpha_cl"] = alpha_cl_section(form, seed)
    return SymbolicReport(form.name, form.params, cf, out, cond, time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------------
# the condition grid (C2): the theorem's prediction next to what verify measures


#: catalogue of inner functions φ (argument u_i·w − u_i·v_i ∈ [−2, 2]) and what they are on [−2, 2]
CATALOGUE_PHI = (
    ("exp(x/0.5)", "convex, increasing (InfoNCE's φ, τ = 0.5)"),
    ("softplus(2*x)", "convex, increasing"),
    ("exp(x)+x", "convex, increasing, negative for x < −0.57"),
    ("log(3+x)", "concave, increasing"),
    ("exp(-x/0.5)", "convex, decreasing"),
    ("x**2", "convex, not monotone"),
    ("sin(x)", "neither convex nor monotone on [−2, 2]"),
)
#: catalogue of outer functions ψ
CATALOGUE_PSI = (
    ("log(1+x)", "concave, increasing (InfoNCE, SimCLR)"),
    ("log(x)", "concave, increasing, −∞ at 0 (DCL, DHEL)"),
    ("x", "linear"),
)
DEFAULT_CELLS = ((3, 2), (4, 3), (5, 4), (4, 6))


@dataclass
class GridRow:
    phi: str
    psi: str
    M: int
    d: int
    seed_conditions: str  # φ and ψ convex and nondecreasing (the seed's statement)
    conditions: str  # F convex and nondecreasing (what the proof uses)
    predicted: str
    verdict: str
    value: float
    simplex_value: float
    gap: float
    outcome: str  # reproduced | COUNTEREXAMPLE CANDIDATE | inconclusive | consistent | no prediction
    candidate: bool
    reason: str
    seconds: float
    report: dict = field(default_factory=dict, repr=False)

    def to_dict(self, with_report: bool = False) -> dict:
        d = {k: _jsonable(v) for k, v in self.__dict__.items() if k != "report"}
        if with_report:
            d["report"] = self.report
        return d


def _seed_status(cond: ConditionsReport) -> str:
    names = ("phi_convex", "phi_nondecreasing", "psi_convex", "psi_nondecreasing")
    st = [cond.finding(n).status if cond.finding(n) else "undecided" for n in names]
    if "undefined" in st:
        return "undefined"
    if "refuted" in st:
        return "refuted"
    return "proved" if all(s == "proved" for s in st) else "undecided"


def condition_grid(phis: Sequence[str], psis: Sequence[str], cells: Sequence[tuple[int, int]], *, c1: float = 1.0,
                   c2: float = 0.0, tau: float = 0.5, restarts: int = 8, seed: int = 0, hessian: bool = True,
                   progress: Callable[[int, int, GridRow], None] | None = None) -> tuple[list[GridRow], dict]:
    """verify the φ/ψ loss on every (φ, ψ, M, d) and set the result next to the theorem's prediction.

    Prediction: perfect alignment plus a regular simplex wherever F(x) = ψ(Σ c_j φ(x_j)) is convex and
    nondecreasing (proved, or undecided with no violation found) and M <= d+1; none where the conditions fail.
    A cell whose conditions hold but whose simplex verify refutes (a point with a lower value than the
    simplex) is a counterexample candidate.  Returns (rows, {(φ, ψ, M): ConditionsReport}).
    """
    from .checks import verify

    for f in list(phis):
        from .losses.phipsi import compile_formula

        compile_formula(f, "phi")
    for f in list(psis):
        compile_formula(f, "psi")
    conds: dict = {}
    rows: list[GridRow] = []
    total = len(phis) * len(psis) * len(cells)
    for phi in phis:
        for psi in psis:
            for M, d in cells:
                t0 = time.perf_counter()
                key = (phi, psi, M)
                if key not in conds:
                    conds[key] = check_conditions(phi, psi, c1, c2, M, tau, seed)
                cond = conds[key]
                rep = verify("phipsi", M, d, params=dict(phi=phi, psi=psi, c1=c1, c2=c2, tau=tau), restarts=restarts,
                             seed=seed, hessian=hessian)
                holds = cond.holds
                if M > d + 1 and holds in ("proved", "undecided"):
                    predicted = "value >= simplex bound"  # the chain needs no M <= d+1; the simplex needs it
                elif M > d + 1:
                    predicted = "none (M > d+1)"
                elif holds == "proved":
                    predicted = "aligned simplex"
                elif holds == "undecided":
                    predicted = "aligned simplex (numerical conditions)"
                else:
                    predicted = "none (conditions fail)"
                ref = float(rep.reference["value"])
                gap = rep.value - ref if math.isfinite(rep.value) and math.isfinite(ref) else math.nan
                predicts = predicted.startswith("aligned simplex") or predicted.startswith("value >=")
                candidate = predicts and rep.verdict == "refuted"
                if candidate:
                    outcome = "COUNTEREXAMPLE CANDIDATE"
                elif predicts:
                    outcome = "reproduced" if rep.verdict == "confirmed" else "inconclusive"
                else:
                    outcome = "no prediction"
                row = GridRow(fphi_text(phi), fpsi_text(psi), M, d, _seed_status(cond), holds, predicted, rep.verdict,
                              rep.value, ref, gap, outcome, candidate, rep.reason, time.perf_counter() - t0,
                              report=rep.to_dict() if candidate else {})
                rows.append(row)
                if progress is not None:
                    progress(len(rows), total, row)
    return rows, conds


def fphi_text(f) -> str:
    return f if isinstance(f, str) else str(f)


fpsi_text = fphi_text


def closed_form_vs_verify(loss: str, cells: Sequence[tuple[int, int, dict]], *, restarts: int = 8, seed: int = 0,
                          rtol: float = 1e-10) -> Finding:
    """The closed form at the aligned simplex against the minimum verify finds, cell by cell (M, d, params).

    rtol 1e-10 is the certificate's value tolerance (tolerances.value_rel in float64): the solver stops at
    gradient norm ~1e-13, which moves the value by O(1e-26); the rest is round-off."""
    from .checks import verify

    rows, ok = [], True
    for M, d, params in cells:
        form = loss_form(loss, params)
        closed = _float(form.numeric(closed_form_expr(form)).subs(M_, M), DIGITS)
        rep = verify(loss, M, d, params=params, restarts=restarts, seed=seed, hessian=False)
        rel = abs(rep.value - closed) / max(1.0, abs(closed)) if math.isfinite(rep.value) else math.inf
        good = rel <= rtol
        ok &= good
        rows.append({"M": M, "d": d, "params": _jsonable(params), "closed_form": closed, "verify_min": rep.value,
                     "rel_diff": rel, "verdict": rep.verdict, "passed": good})
    return Finding(f"closed_form_vs_verify_{loss}", "passed" if ok else "failed",
                   f"{loss}: closed form at the aligned simplex = minimum found by verify (relative {rtol:g}) in "
                   f"{len(rows)} (M, d, params) cells", f"largest relative difference {max(r['rel_diff'] for r in rows):.2e}",
                   {"rows": rows})


@lru_cache(maxsize=64)
def _closed_form_cached(name: str, key: str, form_id: int):
    return None


def closed_form_expr(form: LossForm) -> sp.Expr:
    """The simplified closed form (general M, symbolic parameters) without the numerical cross-checks."""
    r = representation_value(form)
    return _prettiest(r if r is not None else template_value(form))
