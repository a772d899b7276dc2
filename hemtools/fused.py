"""Closed-form value, gradient and Hessian-vector products for losses that are sums of pair kernels.

A loss f(X) = Σ_{a,b} Σ_k A^k_ab φ_k(x_a·x_b) of the stacked points X = [U; V] (N × d, A^k symmetric N × N
coefficient matrices, φ_k scalar functions of the inner product) has

    ∇f      = 2 W X,                                   W  = Σ_k A^k ∘ φ_k'(G),   G = X Xᵀ
    ∇²f[V]  = 2 (W V + (W₂ ∘ (X Vᵀ + V Xᵀ)) X),       W₂ = Σ_k A^k ∘ φ_k''(G)

— a handful of tensor operations per call, where autograd records and replays ~40 (gradient) and ~80
(double backward) small operations.  On small problems (KCL M = 8, d = 16, the README's first command)
the solver's time is that dispatch overhead, so ``optim.solve`` uses these when :func:`for_loss` knows
the loss (KCL and symmetric KCL with the Gaussian, IMQ and log kernels); every other loss keeps autograd.
The certificates never use this module: verify's Hessian is still autograd's on the registered loss.
tests/test_fused.py checks value, gradient and HVP against autograd (Taylor slopes and direct comparison).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

Tensor = torch.Tensor
METHOD = "closed form"  # SolveResult.hessian_method when these products were used


def _kernel_derivs(kernel: str, t: float, which: str) -> Callable[[Tensor], tuple[Tensor, Tensor, Tensor]] | None:
    """φ(g), φ'(g), φ''(g) of K(r²), r² = 2 − 2g, for KCL's alignment ("A") or uniformity ("U") kernel."""
    if kernel == "gaussian":
        def fn(G):
            K = torch.exp(-t * (2.0 - 2.0 * G))
            return K, (2.0 * t) * K, (4.0 * t * t) * K
        return fn
    if kernel == "imq":
        def fn(G):
            q = t * t + (2.0 - 2.0 * G)
            K = t * q.rsqrt()
            return K, K / q, (3.0 * K) / (q * q)  # φ' = t q^{-3/2}, φ'' = 3 t q^{-5/2}
        return fn
    if kernel == "log":
        c = 1.0 if which == "A" else 0.5  # K_A = −log(1 + t r²), K_U = −½ log(1 + t r²)
        def fn(G):
            p = 1.0 + t * (2.0 - 2.0 * G)
            return -c * torch.log(p), (2.0 * c * t) / p, (4.0 * c * t * t) / (p * p)
        return fn
    return None


@dataclass
class PairKernelLoss:
    """f(X) = Σ_k Σ_{a,b} A^k_ab φ_k(G_ab) with closed-form derivatives (see the module docstring)."""

    terms: list  # [(A (N, N), fn G -> (φ, φ', φ''))]

    def _coefficients(self, X: Tensor) -> list:
        key = (X.dtype, X.device)
        if getattr(self, "_cache_key", None) != key:  # convert the coefficient matrices once per solve
            self._cache = [(A.to(dtype=X.dtype, device=X.device), fn) for A, fn in self.terms]
            self._cache_key = key
        return self._cache

    def _eval(self, X: Tensor, second: bool):
        G = X @ X.transpose(-1, -2)
        val = W = W2 = None
        for A, fn in self._coefficients(X):
            phi, d1, d2 = fn(G)
            v = (A * phi).sum((-2, -1))
            w = A * d1
            val = v if val is None else val + v
            W = w if W is None else W + w
            if second:
                w2 = A * d2
                W2 = w2 if W2 is None else W2 + w2
        return val, W, W2

    def value(self, X: Tensor) -> Tensor:
        return self._eval(X, False)[0]

    def value_grad(self, X: Tensor) -> tuple[Tensor, Tensor]:
        val, W, _ = self._eval(X, False)
        return val, 2.0 * (W @ X)

    def model(self, X: Tensor) -> FusedModel:
        X = X.detach()
        val, W, W2 = self._eval(X, True)
        eg = 2.0 * (W @ X)
        xeg = (X * eg).sum(-1, keepdim=True)
        return FusedModel(x=X, value=val, egrad=eg, rgrad=eg - xeg * X, W=W, W2=W2, xeg=xeg)


@dataclass
class FusedModel:
    """Same interface as sphere.SecondOrderModel: value, egrad, rgrad at x and hvp(v)."""

    x: Tensor
    value: Tensor
    egrad: Tensor
    rgrad: Tensor
    W: Tensor
    W2: Tensor
    xeg: Tensor  # (B, N, 1) x_a·egrad_a

    def hvp(self, v: Tensor) -> Tensor:
        X = self.x
        S = X @ v.transpose(-1, -2)
        ehv = 2.0 * (self.W @ v + (self.W2 * (S + S.transpose(-1, -2))) @ X)
        # Riemannian Hessian on the sphere: P_x(ehv) − (x·egrad) v  (sphere.ehess_to_rhess)
        return ehv - (X * ehv).sum(-1, keepdim=True) * X - self.xeg * v


def for_loss(spec, M: int, params: Mapping[str, Any]) -> PairKernelLoss | None:
    """The closed-form version of a registered loss, or None (then the solver uses autograd)."""
    if getattr(spec, "user_code", False) or spec.name not in ("kcl", "kcl_sym"):
        return None
    kernel, t, gamma = params.get("kernel", "gaussian"), float(params["t"]), float(params["gamma"])
    fa, fu = _kernel_derivs(kernel, t, "A"), _kernel_derivs(kernel, t, "U")
    if fa is None or fu is None:
        return None
    N = 2 * M
    eye = torch.eye(M, dtype=torch.float64)
    sym = spec.name == "kcl_sym"
    # alignment −(1/M) Σ_i K_A(u_i·v_i) (twice for the symmetric loss), split over (i, M+i) and (M+i, i)
    A_al = torch.zeros(N, N, dtype=torch.float64)
    w_al = -(2.0 if sym else 1.0) / (2.0 * M)
    A_al[:M, M:] = w_al * eye
    A_al[M:, :M] = w_al * eye
    # uniformity γ/(M(M−1)) Σ_{i≠j} K_U(u_i·u_j) (and over V for the symmetric loss)
    A_un = torch.zeros(N, N, dtype=torch.float64)
    off = gamma / (M * (M - 1)) * (1.0 - eye)
    A_un[:M, :M] = off
    if sym:
        A_un[M:, M:] = off
    if kernel == "gaussian":  # one kernel: one term
        return PairKernelLoss([(A_al + A_un, fa)])
    return PairKernelLoss([(A_al, fa), (A_un, fu)])


__all__ = ["METHOD", "FusedModel", "PairKernelLoss", "for_loss"]
