"""Kernel contrastive learning (KCL, Koromilas et al. ICML 2024) with the kernels of SPEC §1.

    kcl(U, V) = −(1/M) Σ_i K_A(u_i, v_i) + γ/(M(M−1)) Σ_{i≠j} K_U(u_i, u_j)

Kernels are functions of the squared distance r² = ‖x−y‖² = 2 − 2 x·y, computed from inner products so
that the Gaussian, IMQ and log kernels are smooth everywhere (SPEC §3).  The Riesz alignment term r^{|s|}
takes r from the difference u_i − v_i instead, exact down to r = 0 (2 − 2 u·v leaves ~1e-16 at u = v, hence
r ~ 1e-8 and an error of ~1e-8 in r^{|s|} there).

The Riesz alignment term r^{|s|} at u = v (the claimed minimiser), by exponent:
  |s| <= 1      not differentiable (a kink, a cusp below 1): the gradient there is NaN, no number would be
                right; such runs cannot reach a small gradient and verify says so instead of confirming;
  1 < |s| < 2   differentiable (gradient 0) but not twice: the gradient is 0, the Hessian NaN;
  |s| = 2       r², smooth;   |s| > 2   twice differentiable with gradient and Hessian 0 there.
"""

from __future__ import annotations

import torch

from ..errors import ArgumentError
from ._common import diagonal, gram, off_diagonal
from .registry import Param, positive, register_loss
from .spec import EnergyBaseline, PairKernels, SymbolicTemplate

Tensor = torch.Tensor

KERNELS = ("gaussian", "imq", "log", "riesz", "gaussian_riesz")


def _pow_r2(r2: Tensor, half_exponent: float) -> Tensor:
    # (r²)^{e} = r^{2e}; r² is clamped at 0 because 2 − 2x·y can be −1e-16 when x = y.
    return r2.clamp_min(0.0).pow(half_exponent)


def uniformity_kernel(r2: Tensor, kernel: str, t: float, s: float) -> Tensor:
    """K_U as a function of r² (SPEC §1 table)."""
    if kernel == "gaussian":
        return torch.exp(-t * r2)
    if kernel == "imq":
        return t / torch.sqrt(t * t + r2)
    if kernel == "log":
        return -0.5 * torch.log1p(t * r2)
    if kernel in ("riesz", "gaussian_riesz"):
        return -_pow_r2(r2, abs(s) / 2) if s < 0 else _pow_r2(r2, -s / 2)
    raise ArgumentError(f"kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")


def riesz_alignment(diff: Tensor, s: float) -> Tensor:
    """r^{|s|} with r = ‖diff‖ over the last axis, exact at r = 0, with the derivatives that exist there (see
    the module docstring): NaN gradient for |s| <= 1, 0 gradient and NaN Hessian for 1 < |s| < 2, exact
    gradient and Hessian (0) for |s| > 2."""
    e = abs(s)
    r2 = (diff * diff).sum(-1)
    if e <= 1.0:
        return r2.pow(e / 2)  # d/du at r = 0: (e/2) · 0^{e/2 − 1} · 0 = NaN: the derivative does not exist
    if e < 2.0:
        return torch.linalg.vector_norm(diff, dim=-1).pow(e)  # gradient 0 (it exists); Hessian NaN (it does not)
    if e == 2.0:
        return r2
    positive = r2 > 0  # r^e = (r²)^{e/2} is C² at 0 with value, gradient and Hessian 0
    safe = torch.where(positive, r2, torch.ones_like(r2))
    return torch.where(positive, safe.pow(e / 2), torch.zeros_like(r2))


def alignment_kernel(r2: Tensor, kernel: str, t: float, s: float) -> Tensor:
    """K_A as a function of r² (SPEC §1 table)."""
    if kernel in ("gaussian", "gaussian_riesz"):
        return torch.exp(-t * r2)
    if kernel == "imq":
        return t / torch.sqrt(t * t + r2)
    if kernel == "log":
        return -torch.log1p(t * r2)
    if kernel == "riesz":
        return -_pow_r2(r2, abs(s) / 2)
    raise ArgumentError(f"kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")


def _check(p: dict) -> None:
    if p["kernel"] == "riesz" and p["s"] >= 0:
        raise ArgumentError(
            f"s: kernel=riesz needs s < 0 (its alignment term −r^|s| is singular at r = 0 for s > 0), got {p['s']:g}"
        )
    if p["kernel"] in ("riesz", "gaussian_riesz") and p["s"] == 0:
        raise ArgumentError("s: the Riesz kernel needs s != 0 (s = 0 is the log kernel: use kernel=log)")


KCL_PARAMS = [
    positive("t", 2.0, "kernel scale (Gaussian e^{−t r²}; IMQ c = t; log t)"),
    Param("gamma", 16.0, low=0.0, low_open=True, doc="weight γ of the uniformity term"),
    Param("kernel", "gaussian", choices=KERNELS, kind="choice", doc="kernel of SPEC §1"),
    Param("s", -1.0, doc="Riesz exponent (riesz: s < 0; gaussian_riesz: s != 0)"),
]


def _advice(p: dict) -> list[str]:
    out = []
    if p["kernel"] in ("riesz", "gaussian_riesz") and p["s"] == -2:
        out.append("Riesz s = −2: the uniformity term only asks Σu = 0, so minimisers are not unique (SPEC §1).")
    if p["kernel"] == "riesz" and -1 <= p["s"] < 0:
        out.append(
            f"Riesz alignment −r^{abs(p['s']):g} is not differentiable at u = v (the claimed minimiser): "
            "the gradient cannot vanish there."
        )
    elif p["kernel"] == "riesz" and -2 < p["s"] < -1:
        out.append(
            f"Riesz alignment −r^{abs(p['s']):g} is differentiable at u = v (the claimed minimiser) but not "
            "twice: the Hessian does not exist there."
        )
    return out


def _energy(p: dict):
    """The energy KCL's uniformity term is (up to γ/(M(M−1))), where its kernel is one of hemtools.energies'."""
    if p["kernel"] == "gaussian":
        return EnergyBaseline("gaussian", {"t": float(p["t"])}, "KCL's uniformity term is γ/(M(M−1)) × this energy")
    if p["kernel"] == "gaussian_riesz" and float(p["s"]) > 0:
        return EnergyBaseline(
            "riesz", {"s": float(p["s"])}, "KCL's uniformity term is γ/(M(M−1)) × 2 × this energy (ordered pairs)"
        )
    return f"KCL kernel={p['kernel']} (s={p['s']}) is not one of the energies riesz, log, gaussian"


#: kernels whose derivatives in the inner product hemtools.fused has in closed form
FUSED_KERNELS = ("gaussian", "imq", "log")


def _gram(symmetric: bool):
    """KCL's closed form (hemtools.fused) for the smooth kernels; the Riesz kernels keep autograd."""
    def form(p: dict):
        if p["kernel"] not in FUSED_KERNELS:
            return f"kernel={p['kernel']}: no closed-form derivatives (autograd)"
        return PairKernels(p["kernel"], float(p["t"]), float(p["gamma"]), 2.0 if symmetric else 1.0, symmetric)
    return form


#: no α-CL form: the reason, shared by kcl and kcl_sym
_NOT_ALPHA_CL = "its alignment and uniformity terms depend on d_i² and d_ij² separately, not on d_i² − d_ij²"


def _kcl_terms(U: Tensor, V: Tensor, t: float, gamma: float, kernel: str, s: float) -> tuple[Tensor, Tensor]:
    M = U.shape[-2]
    if kernel == "riesz":  # r^{|s|} is not smooth at r = 0: r from u − v, exact there
        align = -riesz_alignment(U - V, s).mean(-1)
    else:  # smooth kernels of r² = 2 − 2 u·v (a polynomial of the inner products)
        align = alignment_kernel(2.0 - 2.0 * diagonal(U, V), kernel, t, s).mean(-1)
    # the diagonal of r² is set to 1 before the kernel so that no r = 0 singularity is evaluated there
    r2 = off_diagonal(2.0 - 2.0 * gram(U, U), 1.0)
    ku = off_diagonal(uniformity_kernel(r2, kernel, t, s), 0.0)
    energy = ku.sum((-2, -1)) * (gamma / (M * (M - 1)))
    return align, energy


@register_loss(
    "kcl",
    params=KCL_PARAMS,
    family="kcl",
    check=_check,
    advice=_advice,
    energy=_energy,
    alpha_cl=_NOT_ALPHA_CL,
    gram=_gram(False),
    symbolic=SymbolicTemplate(
        "-K_A(2 - 2*p) + gamma/(M - 1)*S_uu", {"uu": "K_U(2 - 2*x_n)"}, ("t", "gamma"), representation="kernel"
    ),
)
def kcl(
    U: Tensor, V: Tensor, *, t: float = 2.0, gamma: float = 16.0, kernel: str = "gaussian", s: float = -1.0
) -> Tensor:
    """KCL: −(1/M) Σ_i K_A(u_i,v_i) + γ/(M(M−1)) Σ_{i≠j} K_U(u_i,u_j); Gaussian K = e^{−t‖x−y‖²}, t=2, γ=16 (SPEC §1)."""  # noqa: E501 - first docstring line = the loss description in `hemtools losses`
    align, energy = _kcl_terms(U, V, t, gamma, kernel, s)
    return energy - align


@register_loss(
    "kcl_sym",
    params=KCL_PARAMS,
    family="kcl",
    check=_check,
    advice=_advice,
    energy=_energy,
    alpha_cl="as kcl (and anchors in both views)",
    gram=_gram(True),
    symbolic=SymbolicTemplate(
        "-2*K_A(2 - 2*p) + gamma/(M - 1)*(S_uu + S_vv)",
        {"uu": "K_U(2 - 2*x_n)", "vv": "K_U(2 - 2*x_n)"},
        ("t", "gamma"),
    ),
)
def kcl_sym(
    U: Tensor, V: Tensor, *, t: float = 2.0, gamma: float = 16.0, kernel: str = "gaussian", s: float = -1.0
) -> Tensor:
    """Symmetric KCL (authors' code): kcl(U, V) + kcl(V, U)."""
    a1, e1 = _kcl_terms(U, V, t, gamma, kernel, s)
    _, e2 = _kcl_terms(V, U, t, gamma, kernel, s)
    # the alignment term is symmetric in (U, V): K_A(u_i, v_i) = K_A(v_i, u_i)
    return e1 + e2 - 2.0 * a1
