"""InfoNCE-type losses: InfoNCE, SimCLR (one direction), NT-Xent (both directions), DCL and DCL (both directions).

Each is written in the φ/ψ form of SPEC §1, on logits *relative to the positive pair*,
z_ij = (s_ij − u_i·v_i)/τ, never on exp(x/τ) itself:

    InfoNCE  L_i = log(1 + Σ_{j≠i} e^{z_ij})                   = softplus(LSE_{j≠i} z_ij)
    SimCLR   L_i = log(1 + Σ_{j≠i} e^{z_ij} + Σ_{j≠i} e^{z'_ij}) (z' from u_i·u_j)
    DCL      L_i = log(Σ_{j≠i} e^{z_ij} + Σ_{j≠i} e^{z'_ij})      = LSE

This is the paper form exactly (divide numerator and denominator by e^{u_i·v_i/τ}), and it is also the
accurate one: near the aligned simplex at small τ the loss and its gradient are ~e^{−M/((M−1)τ)}, and in
this form they keep their relative precision (the naive log-softmax subtracts two numbers of size 1/τ and
leaves an absolute error of ~eps/τ in the gradient, which hides the minimiser's position).
"""

from __future__ import annotations

import torch

from ._common import EXP_TAU, gaussian_of_tau, gram, off_diagonal, softplus
from .registry import positive, register_loss
from .spec import LogSumExpRow, LogSumExpRows, PhiPsi, SymbolicTemplate

Tensor = torch.Tensor

TAU_DOC = "temperature τ > 0"


def _rows(*rows: LogSumExpRow):
    """The closed form a temperature loss declares (hemtools.fused): its anchor views at the loss's τ."""
    return lambda p: LogSumExpRows(rows, float(p["tau"]))


_U_V = LogSumExpRow("u", ("v",), kappa=1)  # InfoNCE: anchors u_i, negatives v_j
_U_VU = LogSumExpRow("u", ("v", "u"), kappa=1)  # SimCLR: anchors u_i, negatives v_j and u_j


def _relative_logits(S: Tensor, pos: Tensor, tau: float) -> Tensor:
    """(s_ij − pos_i)/τ with the diagonal removed (−inf), for similarities S (B, M, M)."""
    return off_diagonal((S - pos.unsqueeze(-1)) / tau, float("-inf"))


def _positives(U: Tensor, V: Tensor) -> Tensor:
    return (U * V).sum(-1)


@register_loss("infonce", params=[positive("tau", 0.5, TAU_DOC)], family="infonce",
               phipsi=PhiPsi("exp(x/tau)", "log(1+x)", c1=1.0, c2=0.0), energy=gaussian_of_tau, gram=_rows(_U_V),
               symbolic=SymbolicTemplate("log(exp(p/tau) + S_uv) - p/tau", {"uv": EXP_TAU}, ("tau",),
                                         representation="phipsi"))
def infonce(U: Tensor, V: Tensor, *, tau: float = 0.5) -> Tensor:
    """InfoNCE: −(1/M) Σ_i log( e^{u_i·v_i/τ} / Σ_j e^{u_i·v_j/τ} )  (van den Oord et al. 2018; SPEC §1)."""
    z = _relative_logits(gram(U, V), _positives(U, V), tau)
    return softplus(torch.logsumexp(z, -1)).mean(-1)


def _simclr_one_way(U: Tensor, V: Tensor, tau: float) -> Tensor:
    pos = _positives(U, V)
    z = torch.cat([_relative_logits(gram(U, V), pos, tau), _relative_logits(gram(U, U), pos, tau)], dim=-1)
    return softplus(torch.logsumexp(z, -1)).mean(-1)


@register_loss("simclr", params=[positive("tau", 0.5, TAU_DOC)], family="infonce",
               phipsi=PhiPsi("exp(x/tau)", "log(1+x)", c1=1.0, c2=1.0), energy=gaussian_of_tau, gram=_rows(_U_VU),
               symbolic=SymbolicTemplate("log(exp(p/tau) + S_uv + S_uu) - p/tau", {"uv": EXP_TAU, "uu": EXP_TAU},
                                         ("tau",), representation="phipsi"))
def simclr(U: Tensor, V: Tensor, *, tau: float = 0.5) -> Tensor:
    """SimCLR: −(1/M) Σ_i log( e^{u_i·v_i/τ} / (Σ_j e^{u_i·v_j/τ} + Σ_{j≠i} e^{u_i·u_j/τ}) )  (Chen et al. 2020)."""
    return _simclr_one_way(U, V, tau)


@register_loss("nt_xent", params=[positive("tau", 0.5, TAU_DOC)], family="infonce", energy=gaussian_of_tau,
               gram=_rows(LogSumExpRow("u", ("v", "u"), 1, weight=0.5), LogSumExpRow("v", ("u", "v"), 1, weight=0.5)),
               alpha_cl="anchors in both views: a sum of two α-CL forms (U-anchored and V-anchored), not one",
               symbolic=SymbolicTemplate("(log(exp(p/tau) + S_uv + S_uu) + log(exp(p/tau) + S_vu + S_vv))/2 - p/tau",
                                         {b: EXP_TAU for b in ("uv", "uu", "vu", "vv")}, ("tau",)))
def nt_xent(U: Tensor, V: Tensor, *, tau: float = 0.5) -> Tensor:
    """NT-Xent: ½ (simclr(U, V) + simclr(V, U)), the 2M-anchor form of lightly / pytorch-metric-learning."""
    return 0.5 * (_simclr_one_way(U, V, tau) + _simclr_one_way(V, U, tau))


def _dcl_one_way(U: Tensor, V: Tensor, tau: float) -> Tensor:
    pos = _positives(U, V)
    z = torch.cat([_relative_logits(gram(U, V), pos, tau), _relative_logits(gram(U, U), pos, tau)], dim=-1)
    return torch.logsumexp(z, -1).mean(-1)


@register_loss("dcl", params=[positive("tau", 0.5, TAU_DOC)], family="infonce",
               phipsi=PhiPsi("exp(x/tau)", "log(x)", c1=1.0, c2=1.0), energy=gaussian_of_tau,
               gram=_rows(LogSumExpRow("u", ("v", "u"), kappa=0)),
               symbolic=SymbolicTemplate("log(S_uv + S_uu) - p/tau", {"uv": EXP_TAU, "uu": EXP_TAU}, ("tau",),
                                         representation="phipsi"))
def dcl(U: Tensor, V: Tensor, *, tau: float = 0.5) -> Tensor:
    """DCL: −(1/M) Σ_i log( e^{u_i·v_i/τ} / (Σ_{j≠i} e^{u_i·v_j/τ} + Σ_{j≠i} e^{u_i·u_j/τ}) )  (Yeh et al. 2022)."""
    return _dcl_one_way(U, V, tau)


@register_loss("dcl_sym", params=[positive("tau", 0.5, TAU_DOC)], family="infonce", energy=gaussian_of_tau,
               gram=_rows(LogSumExpRow("u", ("v", "u"), 0, weight=0.5), LogSumExpRow("v", ("u", "v"), 0, weight=0.5)),
               alpha_cl="anchors in both views: ½ (dcl(U, V) + dcl(V, U)), a sum of two α-CL forms, not one")
def dcl_sym(U: Tensor, V: Tensor, *, tau: float = 0.5) -> Tensor:
    """Symmetric DCL: ½ (dcl(U, V) + dcl(V, U)), the 2M-anchor form of lightly's DCLLoss."""
    return 0.5 * (_dcl_one_way(U, V, tau) + _dcl_one_way(V, U, tau))
