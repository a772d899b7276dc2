"""The symbolic per-anchor form of a registered loss (:func:`loss_form`), with its φ/ψ or kernel representation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..errors import ArgumentError
from ..formula import Formula, compile_formula, parse_template, translate
from ..losses.alphacl import alpha_cl_form
from ..losses.registry import LossSpec, get_loss, registered
from .core import GAMMA, M_, P_, S_UU, S_UV, S_VU, S_VV, T_, TAU, X_, XN, Z_, exact


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


#: the symbols of the template names and of the parameters the templates keep symbolic
TEMPLATE_SYMBOLS = {"p": P_, "x_n": XN, "S_uv": S_UV, "S_uu": S_UU, "S_vu": S_VU, "S_vv": S_VV, "M": M_}
PARAMETER_SYMBOLS = {"tau": TAU, "t": T_, "gamma": GAMMA}


def supported() -> list[str]:
    """The registered losses that declare a symbolic template (sorted: registration order depends on imports)."""
    return sorted(n for n, s in registered().items() if s.forms.symbolic is not None
                  and not isinstance(s.forms.symbolic, str))


def loss_form(loss: str | LossSpec, params: Mapping[str, Any] | None = None) -> LossForm:
    """The symbolic per-anchor form of a registered loss, from the template it declares when it registers
    (hemtools.losses.spec.SymbolicTemplate); ArgumentError for a loss without one."""
    spec = get_loss(loss)
    declared = spec.forms.symbolic
    if declared is None or isinstance(declared, str):
        why = f" ({declared})" if isinstance(declared, str) else ""
        if spec.user_code:  # code is not a formula: the φ/ψ family takes one
            why += (" — code cannot be read as a formula; write your loss as one with --loss phipsi --param "
                    "phi='exp(x/0.5)' --param psi='log(1+x)' (and c1, c2), or register it with "
                    "symbolic=SymbolicTemplate")
        raise ArgumentError(f"loss: no symbolic form for {spec.name!r}{why}; supported: {', '.join(supported())}")
    p = spec.resolve_params(params)
    tpl, why = spec.forms.resolve("symbolic", p)
    if tpl is None:
        raise ArgumentError(f"loss: no symbolic form for {spec.name!r} with these parameters ({why})")
    return _from_template(spec, p, tpl)


def _from_template(spec: LossSpec, p: dict, tpl) -> LossForm:
    """Parse the template: kept-symbolic parameters as symbols, the others as exact numbers, formula-valued ones
    as functions, K_A/K_U from the kernel parameter; then attach the representation it names."""
    syms = {n: PARAMETER_SYMBOLS.get(n) or sp.Symbol(n, positive=True) for n in tpl.symbols}
    names: dict = {**TEMPLATE_SYMBOLS, **syms}
    formulas = {k: compile_formula(p[k], k) for k, prm in spec.params.items() if prm.kind == "expr"}
    if any(f.is_callable for f in formulas.values()):
        raise ArgumentError(f"loss {spec.name}: symbolic checks need {' and '.join(formulas)} as formulas, "
                            "got a callable")
    names.update({k: sp.Lambda(X_, f.expr) for k, f in formulas.items()})
    for k, prm in spec.params.items():
        if k not in names and prm.kind in ("float", "int"):
            names[k] = exact(p[k])
    kernel = None
    if "kernel" in p:
        KA, KU, singular = kernel_expressions(p["kernel"], names["t"], p["s"])
        names.update(K_A=sp.Lambda(Z_, KA), K_U=sp.Lambda(Z_, KU))
        nonsmooth = p["kernel"] == "riesz" and abs(float(p["s"])) < 2
        kernel = KernelForm(KA, KU, names["gamma"], p["kernel"], p, singular, nonsmooth)
    what = f"symbolic template of {spec.name}"
    form = LossForm(name=spec.name, kind=spec.kind, params=p, outer=parse_template(tpl.outer, names, what),
                    inner={b: parse_template(t, names, what) for b, t in tpl.inner.items()},
                    symbols=syms, values={sym: exact(p[n]) for n, sym in syms.items()})
    for block, weight in tpl.weights.items():
        if exact(p[weight]) == 0:
            form.inner.pop(block, None)
    if tpl.representation == "phipsi":
        pp, _ = spec.forms.resolve("phipsi", p)
        phi, psi = compile_formula(pp.phi, "phi"), compile_formula(pp.psi, "psi")
        form.phipsi = PhiPsiForm(phi.expr, psi.expr, float(pp.c1), float(pp.c2), sp.Integer(1), phi, psi,
                                 float(p["tau"]))
    elif tpl.representation == "alpha_cl":  # Σ_i φ(Σ_j c ψ(d_i² − d_ij²)), d_i² − d_ij² = 2(x_ij − p_i) on the sphere
        af, _ = alpha_cl_form(spec, p)
        fphi, fpsi = compile_formula(af.phi, "phi"), compile_formula(af.psi, "psi")
        inner_expr = fpsi.expr.subs(X_, 2 * X_)
        inner_torch = Formula(name="phi", text=str(inner_expr), expr=inner_expr, fn=translate(inner_expr))
        form.phipsi = PhiPsiForm(inner_expr, fphi.expr, float(af.c1), float(af.c2), M_, inner_torch, fphi,
                                 float(af.tau))
    elif tpl.representation == "kernel":
        form.kernel = kernel
    return form
