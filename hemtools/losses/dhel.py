"""DHEL, the decoupled hyperspherical energy loss of Koromilas et al. (ICML 2024), and its symmetric form."""

from __future__ import annotations

import torch

from ._common import diagonal, gram, off_diagonal
from .registry import positive, register_loss

Tensor = torch.Tensor


def _lse_off_diagonal(X: Tensor, tau: float) -> Tensor:
    return torch.logsumexp(off_diagonal(gram(X, X) / tau, float("-inf")), -1)


@register_loss("dhel", params=[positive("tau", 0.3, "temperature τ > 0 (0.3 in the authors' code)")], family="dhel")
def dhel(U: Tensor, V: Tensor, *, tau: float = 0.3) -> Tensor:
    """DHEL: −(1/M) Σ_i log( e^{u_i·v_i/τ} / Σ_{j≠i} e^{u_i·u_j/τ} )  (Koromilas et al. 2024, eq. for DHEL; SPEC §1)."""
    return (_lse_off_diagonal(U, tau) - diagonal(U, V) / tau).mean(-1)


@register_loss("dhel_sym", params=[positive("tau", 0.3, "temperature τ > 0")], family="dhel")
def dhel_sym(U: Tensor, V: Tensor, *, tau: float = 0.3) -> Tensor:
    """Symmetric DHEL (authors' code, include_augs=True): −(1/M) Σ_i log( e^{u_i·v_i/τ} / (Σ_{j≠i} e^{u_i·u_j/τ} · Σ_{j≠i} e^{v_i·v_j/τ}) ).

    The two views' denominators are multiplied, so in log space their log-sum-exps add.
    """
    return (_lse_off_diagonal(U, tau) + _lse_off_diagonal(V, tau) - diagonal(U, V) / tau).mean(-1)
