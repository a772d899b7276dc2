"""DHEL, the decoupled hyperspherical energy loss of Koromilas et al. (ICML 2024), and its symmetric form.

Written on logits relative to the positive pair, z_ij = (u_i·u_j − u_i·v_i)/τ (see infonce.py for why).
"""

from __future__ import annotations

import torch

from ._common import EXP_TAU, diagonal, gaussian_of_tau, gram, off_diagonal
from .registry import positive, register_loss
from .spec import LogSumExpRow, LogSumExpRows, PhiPsi, SymbolicTemplate

Tensor = torch.Tensor


def _lse_relative(X: Tensor, pos: Tensor, tau: float) -> Tensor:
    """LSE_{j≠i} (x_i·x_j − pos_i)/τ."""
    return torch.logsumexp(off_diagonal((gram(X, X) - pos.unsqueeze(-1)) / tau, float("-inf")), -1)


@register_loss("dhel", params=[positive("tau", 0.3, "temperature τ > 0 (0.3 in the authors' code)")], family="dhel",
               phipsi=PhiPsi("exp(x/tau)", "log(x)", c1=0.0, c2=1.0), energy=gaussian_of_tau,
               gram=lambda p: LogSumExpRows((LogSumExpRow("u", ("u",), kappa=0),), float(p["tau"])),
               symbolic=SymbolicTemplate("log(S_uu) - p/tau", {"uu": EXP_TAU}, ("tau",), representation="phipsi"))
def dhel(U: Tensor, V: Tensor, *, tau: float = 0.3) -> Tensor:
    """DHEL: −(1/M) Σ_i log( e^{u_i·v_i/τ} / Σ_{j≠i} e^{u_i·u_j/τ} )  (Koromilas et al. 2024; SPEC §1)."""
    return _lse_relative(U, diagonal(U, V), tau).mean(-1)


@register_loss("dhel_sym", params=[positive("tau", 0.3, "temperature τ > 0")], family="dhel", energy=gaussian_of_tau,
               gram=lambda p: LogSumExpRows((LogSumExpRow("u", ("u",), kappa=0),
                                             LogSumExpRow("v", ("v",), kappa=0, relative=False)), float(p["tau"])),
               alpha_cl="anchors in both views: log Σ_j e^{u_i·u_j/τ} + log Σ_j e^{v_i·v_j/τ} is not φ of one sum",
               symbolic=SymbolicTemplate("log(S_uu) + log(S_vv) - p/tau", {"uu": EXP_TAU, "vv": EXP_TAU}, ("tau",)))
def dhel_sym(U: Tensor, V: Tensor, *, tau: float = 0.3) -> Tensor:
    """Symmetric DHEL (authors' code, include_augs=True): −(1/M) Σ_i log( e^{u_i·v_i/τ} / (Σ_{j≠i} e^{u_i·u_j/τ} · Σ_{j≠i} e^{v_i·v_j/τ}) ).

    The two views' denominators multiply, so their log-sum-exps add; the positive logit is subtracted
    once, inside the first (relative) log-sum-exp.
    """  # noqa: E501 - the docstring's first line is the loss's one-line description (`hemtools losses`, JSON)
    pos = diagonal(U, V)
    return (_lse_relative(U, pos, tau) + _lse_relative(V, torch.zeros_like(pos), tau)).mean(-1)
