"""The symbolic per-anchor form of a registered loss (:func:`loss_form`), with its φ/ψ or kernel representation."""

from __future__ import annotations


from dataclasses import dataclass
from typing import Any, Mapping


import sympy as sp

from ..errors import ArgumentError
from ..formula import compile_formula, translate
from ..losses.phipsi import NAMED_INSTANCES
from ..losses.registry import LossSpec, get_loss
from .core import GAMMA, M_, P_, S_UU, S_UV, S_VU, S_VV, TAU, T_, XN, X_, Z_, exact


@dataclass
class PhiPsiForm:
    """loss = scale · (1/M) Σ_i ψ( c1 Σ_{j≠i} φ(u_i·v_j − u_i·v_i) + c2 Σ_{j≠i} φ(u_i·u_j − u_i·v_i) )."""

    phi: Any  # sympy expression in x, or a torch callable
    psi: Any
    c1: float
    c2: float
    scale: sp.Expr  # in M, positive
    phi_torch: Any = None  # compiled formulas (hemtools.formula.Formula)
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
        inner_expr = fpsi.expr.subs(X_, 2 * X_)
        inner_torch = type(fpsi)(name="phi", text=str(inner_expr), expr=inner_expr, fn=translate(inner_expr))
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
