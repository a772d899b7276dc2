"""Fast local relaxation of kernel energies on S^{d−1}: the inner solver of ``energies.minimise``.

The energies of ``hemtools.energies`` are E(X) = c Σ_{i≠j} φ(x_i·x_j) (riesz: φ = r^{−s}, log: −log r,
gaussian: e^{−t r²}, r² = 2 − 2 x_i·x_j; c = ½ for the unordered sums, 1 for the Gaussian's ordered pairs),
so value and Euclidean gradient 2c Σ_j φ'(x_i·x_j) x_j come in closed form from one Gram matrix: no
autograd graph, one matmul forward and one back, a dozen tensor operations per iteration for a whole
batch of configurations.  :func:`relax` runs Riemannian Barzilai–Borwein descent with the non-monotone
line search of Zhang & Hager (2004), as ``optim``'s first-order phase does, on all configurations at
once, until the Riemannian gradient is below ``rtol`` times the size of the terms it sums
(:func:`egrad_scale`).  It only *finds* minima for basin hopping; the best one is then polished and
certified by ``optim.solve`` (trust region on autograd Hessians) in ``energies.minimise``.

:func:`value_and_egrad` is checked against autograd of the registered losses (tests/test_energy_relax.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import sphere

Tensor = torch.Tensor


def _terms(X: Tensor, kernel: str, params: dict) -> tuple[Tensor, Tensor]:
    """(energy (B,), W (B, N, N)) with W_ij = 2c φ'(x_i·x_j) > 0 off the diagonal, 0 on it: egrad = W X."""
    G = X @ X.transpose(-1, -2)
    r2 = 2.0 - 2.0 * G
    r2.diagonal(dim1=-2, dim2=-1).fill_(1.0)  # never evaluate the singular diagonal
    if kernel == "riesz":
        s = float(params["s"])
        P = r2.pow(-s / 2)
        P.diagonal(dim1=-2, dim2=-1).zero_()
        value = 0.5 * P.sum((-2, -1))
        W = (s * P).div_(r2)  # 2·½·s r^{−s−2}
    elif kernel == "log":
        L = torch.log(r2)  # diagonal: log 1 = 0
        value = -0.25 * L.sum((-2, -1))
        W = r2.reciprocal()  # 2·½·1/r²
        W.diagonal(dim1=-2, dim2=-1).zero_()
    elif kernel == "gaussian":
        t = float(params["t"])
        E = torch.exp(-t * r2)
        E.diagonal(dim1=-2, dim2=-1).zero_()
        value = E.sum((-2, -1))
        W = (4.0 * t) * E  # 2·1·2t e^{−t r²}
    else:
        raise ValueError(f"unknown kernel {kernel!r}")
    return value, W


def value_and_egrad(X: Tensor, kernel: str, params: dict) -> tuple[Tensor, Tensor]:
    """Energy (B,) and Euclidean gradient (B, N, d) of a batch of configurations (B, N, d), closed form."""
    value, W = _terms(X, kernel, params)
    return value, W @ X


def _evaluate(X: Tensor, kernel: str, params: dict) -> tuple[Tensor, Tensor, Tensor]:
    """(value, egrad, scale): scale = ‖(Σ_j W_ij)_i‖, the size of the terms the gradient sums (W > 0)."""
    value, W = _terms(X, kernel, params)
    return value, W @ X, torch.linalg.vector_norm(W.sum(-1), dim=-1)


def egrad_scale(X: Tensor, kernel: str, params: dict) -> Tensor:
    """‖(Σ_j |W_ij|)_i‖ over points (B,): the size of the terms the gradient sums (its round-off scale)."""
    return _evaluate(X, kernel, params)[2]


@dataclass
class Relaxed:
    points: Tensor  # (B, N, d)
    values: Tensor  # (B,)
    grad_norms: Tensor  # (B,) Riemannian
    iterations: Tensor  # (B,)
    converged: Tensor  # (B,) bool: grad_norm <= rtol · egrad_scale
    history_grad_norms: Tensor  # (T, B) (a finished configuration repeats its last value)


def relax(X: Tensor, kernel: str, params: dict, *, rtol: float = 1e-8, max_iter: int = 20000,
          check_every: int = 8) -> Relaxed:
    """Relax every configuration of the batch X (B, N, d) to a local minimum of the energy.

    Stops a configuration when its Riemannian gradient is ≤ rtol · (size of the summed terms), when its
    line search fails 40 times in a row (round-off), or when its value is not finite; at ``max_iter``.
    Every ``check_every`` iterations the finished configurations leave the working batch, so a batch
    costs about its mean number of iterations, not its slowest member's.
    """
    c, eta_zh, max_backtracks = 1e-4, 0.85, 40
    X = sphere.normalize(X.to(torch.float64))
    B, N, _ = X.shape
    rad = math.sqrt(N)
    out_x, out_v = X.clone(), torch.full((B,), math.nan, dtype=X.dtype, device=X.device)
    out_g, out_s = torch.full_like(out_v, math.nan), torch.full_like(out_v, math.nan)
    out_it = torch.zeros(B, dtype=torch.long, device=X.device)
    v, eg, scale = _evaluate(X, kernel, params)
    g = sphere.project(X, eg)
    gn = sphere.norm(g)
    step = 0.1 * rad / gn.clamp_min(1e-300)
    C, Q = v.clone(), torch.ones_like(v)
    parity = torch.zeros(B, dtype=torch.bool, device=X.device)
    backtracks = torch.zeros(B, dtype=torch.long, device=X.device)
    iters = torch.zeros(B, dtype=torch.long, device=X.device)
    idx = torch.arange(B, device=X.device)
    hist_rows, last_g = [], out_g.clone()
    for it in range(max_iter + 1):
        if it % check_every == 0 or it == max_iter:
            done = ~torch.isfinite(v) | ~torch.isfinite(gn) | (gn <= rtol * scale) | (backtracks > max_backtracks)
            if it == max_iter:
                done = torch.ones_like(done)
            if bool(done.any()):
                j = idx[done]
                out_x[j], out_v[j], out_g[j], out_s[j], out_it[j] = X[done], v[done], gn[done], scale[done], iters[done]
                keep = ~done
                idx, X, v, g, gn, scale, step, C, Q, parity, backtracks, iters = (
                    t[keep] for t in (idx, X, v, g, gn, scale, step, C, Q, parity, backtracks, iters))
                if idx.numel() == 0:
                    break
        Xt = sphere.retract(X, -step[:, None, None] * g)
        vt, egt, st = _evaluate(Xt, kernel, params)
        slack = 16 * 2.220446049250313e-16 * C.abs().clamp_min(1.0)
        ok = torch.isfinite(vt) & (vt <= C - c * step * gn * gn + slack)
        gt = sphere.project(Xt, egt)
        s_vec = sphere.project(Xt, Xt - X)
        y_vec = gt - sphere.project(Xt, g)
        sy, ss, yy = sphere.inner(s_vec, y_vec), sphere.inner(s_vec, s_vec), sphere.inner(y_vec, y_vec)
        bb = torch.where(parity, sy / yy, ss / sy)
        gtn = sphere.norm(gt)
        usable = (sy > 0) & torch.isfinite(bb) & (bb > 0)
        rg = rad / gtn.clamp_min(1e-300)
        new_step = torch.where(usable, torch.minimum(bb, rg), 0.1 * rg)
        okm = ok[:, None, None]
        X = torch.where(okm, Xt, X)
        g = torch.where(okm, gt, g)
        gn = torch.where(ok, gtn, gn)
        scale = torch.where(ok, st, scale)
        step = torch.where(ok, new_step, 0.5 * step)
        backtracks = torch.where(ok, torch.zeros_like(backtracks), backtracks + 1)
        q_new = eta_zh * Q + 1.0
        C = torch.where(ok, (eta_zh * Q * C + vt) / q_new, C)
        Q = torch.where(ok, q_new, Q)
        v = torch.where(ok, vt, v)
        parity = parity ^ ok
        iters += 1
        if it % check_every == 0:
            last_g = last_g.clone()
            last_g[idx] = gn
            hist_rows.append(last_g)
    finite = torch.isfinite(out_v) & torch.isfinite(out_g)
    hist_rows.append(torch.where(torch.isfinite(out_g), out_g, last_g))
    return Relaxed(points=out_x, values=out_v, grad_norms=out_g, iterations=out_it,
                   converged=finite & (out_g <= rtol * out_s), history_grad_norms=torch.stack(hist_rows))


__all__ = ["Relaxed", "egrad_scale", "relax", "value_and_egrad"]
