"""Second derivatives when autograd cannot give them: central differences of the Riemannian gradient.

Some losses have no usable second derivative in autograd: ``torch.pdist`` (the KCL authors' code) raises
in double backward, and a custom ``torch.autograd.Function`` whose backward is not itself differentiable
(``@once_differentiable``, or a backward written with detached tensors) silently drops its part of the
Hessian.  The solver and the Hessian certificate then use

    Hess f(x)[v] ≈ P_x( grad f(R_x(t v)) − grad f(R_x(−t v)) ) / (2t),   t = h / max_i ‖v_i‖,

with grad f = P_y(∇f(y)) the Riemannian gradient and P_x the projection back onto T_x (so the displaced
gradients are compared in one tangent space).  Differentiating P_y ∇f(y) along the curve gives exactly
P_x(∇²f v) − (x·∇f) v, the Riemannian Hessian; the symmetric difference is accurate to O(h²).
The step h = eps^{1/3} (6.1e-6 in float64) balances that truncation against the round-off of the
gradient, eps·‖∇f‖/h: about 1e-11 relative.  The dense matrix is built with steps h and 2h and their
difference is reported as the measured error (it widens the zero threshold of the certificate).

:func:`choose_method` probes a loss once: autograd when its Hessian-vector product exists, is finite and
agrees with the differences; differences otherwise, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import sphere

Tensor = torch.Tensor
Objective = Callable[[Tensor], Tensor]

AUTOGRAD = "autograd"
DIFFERENCES = "differences"


def step(dtype: torch.dtype) -> float:
    """Central-difference step for the gradient: eps^{1/3} (6.06e-6 in float64)."""
    return float(torch.finfo(dtype).eps) ** (1.0 / 3.0)


def describe(method: str, h: float | None) -> str:
    if method == AUTOGRAD:
        return "autograd (double backward)"
    return f"central differences of the Riemannian gradient (step h = {h:.2e})"


def _rgrad_at(f: Objective, y: Tensor) -> tuple[Tensor, Tensor]:
    val, eg, _ = sphere.value_and_egrad(f, y)
    return val, sphere.project(y, eg)


def difference_hvp(f: Objective, x: Tensor, v: Tensor, h: float) -> Tensor:
    """Riemannian Hessian-vector products at x (B, N, d) along tangent v (B, N, d), one batched gradient
    evaluation of 2B configurations.  A zero direction gives zero."""
    vmax = torch.linalg.vector_norm(v, dim=-1).amax(dim=-1)  # (B,)
    t = torch.where(vmax > 0, h / vmax.clamp_min(1e-300), torch.zeros_like(vmax))
    tv = t[:, None, None] * v
    y = torch.cat([sphere.retract(x, tv), sphere.retract(x, -tv)])
    _, g = _rgrad_at(f, y)
    B = x.shape[0]
    diff = sphere.project(x, g[:B] - g[B:])
    out = diff / torch.where(t > 0, 2 * t, torch.ones_like(t))[:, None, None]
    return torch.where((t > 0)[:, None, None], out, torch.zeros_like(out))


@dataclass
class DifferenceModel:
    """The interface of :class:`sphere.SecondOrderModel` with Hessian-vector products by differences."""

    f: Objective
    x: Tensor
    value: Tensor
    egrad: Tensor
    rgrad: Tensor
    h: float

    def hvp(self, v: Tensor) -> Tensor:
        return difference_hvp(self.f, self.x, v, self.h)

    def select(self, idx: Tensor) -> DifferenceModel:
        """The model of the configurations ``idx`` alone (products by differences then cost those rows only)."""
        return DifferenceModel(f=self.f, x=self.x[idx], value=self.value[idx], egrad=self.egrad[idx],
                               rgrad=self.rgrad[idx], h=self.h)


def difference_model(f: Objective, x: Tensor, h: float | None = None) -> DifferenceModel:
    x = x.detach()
    val, eg, _ = sphere.value_and_egrad(f, x)
    return DifferenceModel(f=f, x=x, value=val, egrad=eg, rgrad=sphere.project(x, eg),
                           h=step(x.dtype) if h is None else h)


def model(f: Objective, x: Tensor, method: str, h: float | None = None):
    return sphere.second_order_model(f, x) if method == AUTOGRAD else difference_model(f, x, h)


def choose_method(f: Objective, x: Tensor, *, rel: float = 1e-6, nonfinite_fallback: bool = True) -> tuple[str, str]:
    """Probe the loss at x (B, N, d) along a seeded random tangent direction: (method, reason).

    autograd is kept when its Hessian-vector product exists, is finite wherever the differences are, and
    agrees with them within 10× their measured error (steps h and 2h) plus ``rel`` of the product's size.
    A non-finite autograd product falls back to differences only with ``nonfinite_fallback`` (the solver);
    the certificate keeps autograd there and reports the non-finite Hessian as a failure naming where.
    """
    x = x.detach()
    gen = torch.Generator(device=x.device).manual_seed(0)
    v = sphere.project(x, torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device))
    v = v / sphere.norm(v).clamp_min(1e-300)[:, None, None]
    h = step(x.dtype)
    fd = difference_hvp(f, x, v, h)
    fd2 = difference_hvp(f, x, v, 2 * h)
    try:
        ad = sphere.second_order_model(f, x).hvp(v)
    except (RuntimeError, NotImplementedError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return DIFFERENCES, (f"the loss has no second derivative in autograd ({type(exc).__name__}: {first[:120]}); "
                             f"Hessian-vector products by {describe(DIFFERENCES, h)}")
    ok_fd = torch.isfinite(sphere.norm(fd))
    if bool((ok_fd & ~torch.isfinite(sphere.norm(ad))).any()):
        if not nonfinite_fallback:
            return AUTOGRAD, ""
        return DIFFERENCES, ("the autograd second derivative is not finite where the gradient is; Hessian-vector "
                             f"products by {describe(DIFFERENCES, h)}")
    if not bool(ok_fd.any()):
        return AUTOGRAD, ""
    err = sphere.norm(fd - fd2)
    size = torch.maximum(sphere.norm(fd), sphere.norm(ad))
    mism = sphere.norm(ad - fd)
    bad = ok_fd & (mism > 10 * err + rel * size + 1e-300)
    if bool(bad.any()):
        r = float((mism / size.clamp_min(1e-300))[bad].max())
        return DIFFERENCES, (f"the autograd second derivative disagrees with differences of the gradient (relative "
                             f"{r:.1e}: a custom autograd.Function without double backward?); Hessian-vector products "
                             f"by {describe(DIFFERENCES, h)}")
    return AUTOGRAD, ""


def difference_hessian_matrix(f: Objective, x: Tensor, h: float, *, chunk: int = 256) -> tuple[Tensor, Tensor]:
    """The Riemannian Hessian at one configuration x (N, d) by central differences, in the orthonormal
    tangent basis of :func:`sphere.riemannian_hessian_matrix`: (H, basis), H symmetrised."""
    n_pts, d = x.shape
    x = x.detach()
    basis = sphere.tangent_basis_vectors(x)
    n = basis.shape[0]
    cols = []
    for start in range(0, n, chunk):
        v = basis[start:start + chunk]
        cols.append(difference_hvp(f, x.expand(v.shape[0], n_pts, d), v, h))
    hv = torch.cat(cols)
    H = torch.einsum("and,bnd->ab", basis, hv)
    return 0.5 * (H + H.T), basis


def difference_hessian(f: Objective, x: Tensor) -> tuple[Tensor, float, float]:
    """(H, h, measured error): the matrix at step h and the spectral norm of its difference from the matrix
    at 2h, an estimate (an over-estimate in the truncation regime) of the error of its eigenvalues."""
    h = step(x.dtype)
    H, _ = difference_hessian_matrix(f, x, h)
    H2, _ = difference_hessian_matrix(f, x, 2 * h)
    diff = H - H2
    err = float(torch.linalg.matrix_norm(diff, ord=2)) if bool(torch.isfinite(diff).all()) else math.inf
    return H, h, err


def difference_operator(f: Objective, x: Tensor, *, probes: int = 4, seed: int = 5):
    """(hvp, h, measured error) at one configuration x (N, d): the matrix-free counterpart of
    :func:`difference_hessian`.  ``hvp(v)`` is the central-difference Hessian-vector product at step h; the
    error is the largest ‖Hv(h) − Hv(2h)‖ over ``probes`` seeded unit tangent directions."""
    h = step(x.dtype)
    m1 = difference_model(f, x.unsqueeze(0), h)
    m2 = difference_model(f, x.unsqueeze(0), 2 * h)

    def hvp(v: Tensor) -> Tensor:
        return m1.hvp(v.unsqueeze(0))[0]

    gen = torch.Generator().manual_seed(seed)
    err = 0.0
    for _ in range(probes):
        v = sphere.project(x, torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device))
        v = v / v.norm()
        err = max(err, float((hvp(v) - m2.hvp(v.unsqueeze(0))[0]).norm()))
    return hvp, h, err
