"""InfoNCE-type losses: InfoNCE, SimCLR (one direction), NT-Xent (both directions) and DCL.

All are written with log-sum-exp over the scaled inner products, never exp(x/τ) itself, so that they
stay finite for τ down to 0.01 and below.  Anchors are the rows of U (SPEC §1).
"""

from __future__ import annotations

import torch

from ._common import gram, off_diagonal
from .registry import positive, register_loss

Tensor = torch.Tensor

TAU_DOC = "temperature τ > 0"


@register_loss("infonce", params=[positive("tau", 0.5, TAU_DOC)], family="infonce")
def infonce(U: Tensor, V: Tensor, *, tau: float = 0.5) -> Tensor:
    """InfoNCE: −(1/M) Σ_i log( e^{u_i·v_i/τ} / Σ_j e^{u_i·v_j/τ} )  (van den Oord et al. 2018; SPEC §1)."""
    uv = gram(U, V) / tau
    return (torch.logsumexp(uv, -1) - torch.diagonal(uv, dim1=-2, dim2=-1)).mean(-1)


def _simclr_one_way(U: Tensor, V: Tensor, tau: float) -> Tensor:
    uv = gram(U, V) / tau
    uu = off_diagonal(gram(U, U) / tau, float("-inf"))
    lse = torch.logsumexp(torch.cat([uv, uu], dim=-1), -1)
    return (lse - torch.diagonal(uv, dim1=-2, dim2=-1)).mean(-1)


@register_loss("simclr", params=[positive("tau", 0.5, TAU_DOC)], family="infonce")
def simclr(U: Tensor, V: Tensor, *, tau: float = 0.5) -> Tensor:
    """SimCLR: −(1/M) Σ_i log( e^{u_i·v_i/τ} / (Σ_j e^{u_i·v_j/τ} + Σ_{j≠i} e^{u_i·u_j/τ}) )  (Chen et al. 2020)."""
    return _simclr_one_way(U, V, tau)


@register_loss("nt_xent", params=[positive("tau", 0.5, TAU_DOC)], family="infonce")
def nt_xent(U: Tensor, V: Tensor, *, tau: float = 0.5) -> Tensor:
    """NT-Xent: ½ (simclr(U, V) + simclr(V, U)), the 2M-anchor form of lightly / pytorch-metric-learning."""
    return 0.5 * (_simclr_one_way(U, V, tau) + _simclr_one_way(V, U, tau))


@register_loss("dcl", params=[positive("tau", 0.5, TAU_DOC)], family="infonce")
def dcl(U: Tensor, V: Tensor, *, tau: float = 0.5) -> Tensor:
    """DCL: −(1/M) Σ_i log( e^{u_i·v_i/τ} / (Σ_{j≠i} e^{u_i·v_j/τ} + Σ_{j≠i} e^{u_i·u_j/τ}) )  (Yeh et al. 2022)."""
    uv = gram(U, V) / tau
    pos = torch.diagonal(uv, dim1=-2, dim2=-1)
    neg = torch.cat([off_diagonal(uv, float("-inf")), off_diagonal(gram(U, U) / tau, float("-inf"))], dim=-1)
    return (torch.logsumexp(neg, -1) - pos).mean(-1)

