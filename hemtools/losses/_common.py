"""Small shared pieces of the batched losses: Gram matrices and off-diagonal reductions."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def gram(a: Tensor, b: Tensor) -> Tensor:
    """Batched inner products a_i . b_j: (B, M, d) x (B, K, d) -> (B, M, K)."""
    return a @ b.transpose(-1, -2)


def eye_mask(m: int, like: Tensor) -> Tensor:
    return torch.eye(m, dtype=torch.bool, device=like.device)


def off_diagonal(logits: Tensor, fill: float) -> Tensor:
    """``logits`` with its diagonal replaced by ``fill`` (-inf to drop terms from a log-sum-exp, 0 from a sum).

    masked_fill has a zero derivative at the filled entries, so first and second derivatives stay finite.
    """
    return logits.masked_fill(eye_mask(logits.shape[-1], logits), fill)


def diagonal(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise inner products a_i . b_i: (B, M, d) x (B, M, d) -> (B, M)."""
    return (a * b).sum(-1)


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x) to full float64 accuracy for every x (torch's softplus switches to x above 20, an
    absolute error of e^{-20} ≈ 2e-9).  −|x| is written min(x, −x) (the same number): the double backward
    of abs goes through a Python decomposition whose first use imports torch._dynamo (~2–5 s per process)."""
    return torch.clamp_min(x, 0.0) + torch.log1p(torch.exp(torch.minimum(x, -x)))


def gaussian_of_tau(p: dict):
    """Energy baseline of the InfoNCE-type losses: e^(u·w/τ) = e^(1/τ) e^(−|u−w|²/(2τ)), the Gaussian energy with
    t = 1/(2τ) (SPEC §1)."""
    from .spec import EnergyBaseline

    tau = float(p["tau"])
    return EnergyBaseline("gaussian", {"t": 1.0 / (2.0 * tau)},
                          f"e^(u·w/τ) = e^(1/τ) e^(−|u−w|²/(2τ)): the uniformity term is built from the Gaussian "
                          f"energy with t = 1/(2τ) = {1.0 / (2.0 * tau):g} (SPEC §1)")


#: the inner function of the temperature losses' symbolic templates (hemtools.losses.spec.SymbolicTemplate)
EXP_TAU = "exp(x_n/tau)"
