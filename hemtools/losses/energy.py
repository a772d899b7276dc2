"""Hyperspherical energies of one point set (SPEC §1, "Energies"): the baselines for M > d+1.

    riesz_energy    Σ_{i<j} ‖x_i − x_j‖^{−s}      (s = 1: Thomson / Coulomb)
    log_energy      Σ_{i<j} −log ‖x_i − x_j‖
    gaussian_energy Σ_{i≠j} e^{−t ‖x_i − x_j‖²}   (note: ordered pairs, as in SPEC)

Distances come from the Gram matrix (r² = 2 − 2 x·y).  The diagonal of r² is replaced by 1 before any
power or logarithm so that no singular value is ever evaluated, even in masked entries (a NaN there would
poison the gradient through the mask).
"""

from __future__ import annotations

import torch

from ._common import gram, off_diagonal
from .registry import positive, register_loss
from .spec import EnergyBaseline, SymbolicTemplate

THE_LOSS = "the loss is this energy"

Tensor = torch.Tensor


def _offdiag_r2(X: Tensor) -> Tensor:
    return off_diagonal(2.0 - 2.0 * gram(X, X), 1.0)


@register_loss("riesz_energy", kind="points", minimiser="simplex", family="energy",
               params=[positive("s", 1.0, "Riesz exponent s > 0 (s = 1: Thomson)")],
               energy=lambda p: EnergyBaseline("riesz", {"s": float(p["s"])}, THE_LOSS, is_the_loss=True),
               symbolic=SymbolicTemplate("M/2*S_uu", {"uu": "(2 - 2*x_n)**(-s/2)"}))
def riesz_energy(X: Tensor, *, s: float = 1.0) -> Tensor:
    """Riesz s-energy Σ_{i<j} ‖x_i − x_j‖^{−s} (s = 1 is the Thomson problem)."""
    e = off_diagonal(_offdiag_r2(X).pow(-s / 2), 0.0)
    return 0.5 * e.sum((-2, -1))


@register_loss("log_energy", kind="points", minimiser="simplex", family="energy",
               energy=EnergyBaseline("log", {}, THE_LOSS, is_the_loss=True),
               symbolic=SymbolicTemplate("M/2*S_uu", {"uu": "-log(2 - 2*x_n)/2"}))
def log_energy(X: Tensor) -> Tensor:
    """Logarithmic energy Σ_{i<j} −log ‖x_i − x_j‖ (Smale's 7th problem on S²)."""
    e = off_diagonal(torch.log(_offdiag_r2(X)), 0.0)
    return -0.25 * e.sum((-2, -1))  # −log r = −½ log r², and ½ for i<j


def _gaussian_terms(X: Tensor, t: float) -> Tensor:
    return off_diagonal(torch.exp(-t * _offdiag_r2(X)), 0.0)


class _GaussianEnergy(torch.autograd.Function):
    """Σ_{i≠j} e^{−t r_ij²} with a hand-written gradient 4t Σ_j e^{−t r_ij²} x_j.

    Autograd through the plain expression stores and revisits several N×N intermediates and spends two
    matmuls on the backward of X Xᵀ; here the forward works in place on one N×N buffer and the backward is
    one matmul with the saved terms, so a solver iteration at N = 4096 costs about two Gram matmuls plus
    one exp (benchmarks/solve.py).  When a second derivative is asked for (create_graph, Hessian-vector
    products), the backward recomputes the terms differentiably from X instead, so Hessians stay exact.
    """

    @staticmethod
    def forward(ctx, X: Tensor, t: float) -> Tensor:
        E = X @ X.transpose(-1, -2)
        E.mul_(2.0 * t).sub_(2.0 * t).exp_()  # e^{−t(2 − 2G)}
        E.diagonal(dim1=-2, dim2=-1).zero_()
        ctx.save_for_backward(X, E)
        ctx.t = t
        return E.sum((-2, -1))

    @staticmethod
    def backward(ctx, gout: Tensor):
        X, E = ctx.saved_tensors
        t = ctx.t
        if torch.is_grad_enabled():  # double backward requested: differentiable recomputation
            E = _gaussian_terms(X, t)
        return (4.0 * t) * gout[..., None, None] * (E @ X), None


@register_loss("gaussian_energy", kind="points", minimiser="simplex", family="energy",
               params=[positive("t", 2.0, "Gaussian scale t > 0 (InfoNCE uniformity: t = 1/(2τ))")],
               energy=lambda p: EnergyBaseline("gaussian", {"t": float(p["t"])}, THE_LOSS, is_the_loss=True),
               symbolic=SymbolicTemplate("M*S_uu", {"uu": "exp(-t*(2 - 2*x_n))"}, ("t",)))
def gaussian_energy(X: Tensor, *, t: float = 2.0) -> Tensor:
    """Gaussian energy Σ_{i≠j} e^{−t ‖x_i − x_j‖²}."""
    return _GaussianEnergy.apply(X, float(t))
