"""Fast local relaxation of kernel energies on S^{d−1}: the inner solver of ``energies.minimise``.

The energies of ``hemtools.energies`` are E(X) = c Σ_{i≠j} φ(x_i·x_j) (riesz: φ = r^{−s}, log: −log r,
gaussian: e^{−t r²}, r² = 2 − 2 x_i·x_j; c = ½ for the unordered sums, 1 for the Gaussian's ordered pairs),
so value and Euclidean gradient 2c Σ_j φ'(x_i·x_j) x_j come in closed form from one Gram matrix: no
autograd graph, one matmul forward and one back, a few passes over the N×N pair terms per iteration for a
whole batch of configurations.  The pair terms are computed in blocks of at most ``BLOCK_ELEMENTS``
entries (batch members × rows × N), so memory stays bounded whatever N and the batch: at N = 2048 one block
is one configuration's 2048×2048 matrix (32 MB per temporary), never an N×N×d tensor.

:func:`relax` runs a batched Riemannian L-BFGS (the configurations of the batch are a batch axis; each has
its own memory of the last ``memory`` pairs, its own step and line search; finished configurations leave
the working batch), until the Riemannian gradient is below ``rtol`` times the size of the terms it sums
(:func:`egrad_scale`).  ``method="bb"`` is the Barzilai–Borwein descent with Zhang & Hager's non-monotone
line search it replaced (in torch: the path for non-CPU devices; benchmarks/thomson.py compares both with
scipy's L-BFGS-B).  L-BFGS needs 0.55–0.7 of BB's iterations on Thomson problems (measured at N = 20, 61,
100: 105/142, 186/326, 256/380).  It only *finds* minima for basin hopping and polishes the best one;
``energies.minimise`` measures its gradient on the registered loss (autograd) and certifies it, with the
trust region of ``optim.solve`` as the fallback polish.

:func:`value_and_egrad` is checked against autograd of the registered losses (tests/test_energy_relax.py).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import torch

from . import sphere
from .heap import release_now_and_then

Tensor = torch.Tensor

# Largest block of pair terms (batch members × rows × N entries) evaluated at once: 2^22 float64 = 32 MiB
# per temporary, a few temporaries alive at a time.
BLOCK_ELEMENTS = 1 << 22
_EPS = 2.220446049250313e-16
CURVATURE_JUMP = 10.0
FIRST_STEP = 0.1  # the first L-BFGS step moves the configuration by FIRST_STEP·√N (measured: 0.003–0.1 alike)


def _mm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matmul.  On the CPU through numpy: for the thin products here ((N×N)·(N×d) with d small)
    numpy's matmul is 3–5× faster than torch.bmm (measured at N = 61, d = 3, 16 configurations)."""
    if a.device.type == "cpu" and not a.requires_grad and not b.requires_grad:
        import numpy as np

        with np.errstate(all="ignore"):  # non-finite configurations are reported by the caller
            return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))
    return a @ b


@functools.lru_cache(maxsize=16)
def _diagonal_block(rows: int, start: int, n: int, fill: float, dtype, device) -> Tensor:
    """(rows, n): 2 everywhere, 2 + ``fill`` at (i, start + i) (the diagonal of rows start..start+rows of an
    n×n matrix), so that C − 2 x_i·x_j is r² off the diagonal and ``fill`` on it (|x_i| = 1).  Cached (a
    relaxation evaluates the same blocks hundreds of times): never modify the result."""
    c = torch.full((rows, n), 2.0, dtype=dtype, device=device)
    i = torch.arange(rows, device=device)
    c[i, start + i] = fill + 2.0
    return c


def _block(Xr: Tensor, X: Tensor, Xa: Tensor, start: int, kernel: str, params: dict) -> tuple[Tensor, Tensor]:
    """Pair terms of the rows Xr = X[:, start:start+r] against all of X (b, N, d): (energy part (b,),
    W·[X, 1] (b, r, d+1): the egrad rows and the row sums Σ_j W_ij), with W_ij = 2c φ'(x_i·x_j) ≥ 0,
    W_ii = 0; ``Xa`` is X with a column of ones (one matmul gives both).

    The singular self-terms are never evaluated: r² is +inf on the diagonal for the Riesz and Gaussian
    kernels, whose terms and derivatives are then exactly 0 there (inf^{−s/2} = 0, e^{−inf} = 0), and 1
    for the logarithmic one, whose diagonal is masked."""
    r, n = Xr.shape[1], X.shape[1]
    G = _mm(Xr, X.transpose(-1, -2).contiguous())  # (contiguous: numpy's matmul then runs on BLAS)
    if kernel == "log":
        r2 = torch.add(_diagonal_block(r, start, n, 1.0, X.dtype, X.device), G, alpha=-2.0, out=G)
        off = _diagonal_block(r, start, n, -2.0, X.dtype, X.device)  # 2 off the diagonal, 0 on it
        value = -0.125 * torch.log(r2).mul_(off).sum((-2, -1))
        W = r2.reciprocal_().mul_(off)  # 2·½·1/r², times ½ below
        factor = 0.5
    else:
        r2 = torch.add(_diagonal_block(r, start, n, math.inf, X.dtype, X.device), G, alpha=-2.0, out=G)
        if kernel == "riesz":
            s = float(params["s"])
            P = torch.rsqrt(r2) if s == 1.0 else (r2.reciprocal() if s == 2.0 else r2.pow(-s / 2))
            value = 0.5 * P.sum((-2, -1))
            W = torch.div(P, r2, out=P)  # times s below: 2·½·s r^{−s−2}
            factor = s
        elif kernel == "gaussian":
            t = float(params["t"])
            W = torch.exp(r2.mul_(-t))
            value = W.sum((-2, -1))
            factor = 4.0 * t  # 2·1·2t e^{−t r²}
        else:
            raise ValueError(f"unknown kernel {kernel!r}")
    out = _mm(W, Xa)
    if factor != 1.0:
        out.mul_(factor)
    return value, out


def _evaluate(X: Tensor, kernel: str, params: dict, block: int = BLOCK_ELEMENTS) -> tuple[Tensor, Tensor, Tensor]:
    """(value (B,), egrad (B, N, d), scale (B,)): scale = ‖(Σ_j W_ij)_i‖, the size of the terms the gradient
    sums (W ≥ 0).  Blocks of at most ``block`` pair terms: whole batches when they fit, else groups of
    configurations, else groups of rows of one configuration."""
    B, N, d = X.shape
    Xa = torch.cat([X, X.new_ones(B, N, 1)], -1)
    if B * N * N <= block:
        value, out = _block(X, X, Xa, 0, kernel, params)
    else:
        value = X.new_zeros(B)
        out = X.new_empty(B, N, d + 1)
        per = max(1, block // (N * N))  # configurations per block
        r = N if per > 1 else max(1, block // N)  # rows per block
        for b0 in range(0, B, per):
            Xb, Xab = X[b0:b0 + per], Xa[b0:b0 + per]
            for i0 in range(0, N, r):
                v, o = _block(Xb[:, i0:i0 + r], Xb, Xab, i0, kernel, params)
                value[b0:b0 + per] += v
                out[b0:b0 + per, i0:i0 + r] = o
    return value, out[..., :d], torch.linalg.vector_norm(out[..., d], dim=-1)


def value_and_egrad(X: Tensor, kernel: str, params: dict) -> tuple[Tensor, Tensor]:
    """Energy (B,) and Euclidean gradient (B, N, d) of a batch of configurations (B, N, d), closed form."""
    value, eg, _ = _evaluate(X.to(torch.float64), kernel, params)
    return value, eg


def egrad_scale(X: Tensor, kernel: str, params: dict) -> Tensor:
    """‖(Σ_j |W_ij|)_i‖ over points (B,): the size of the terms the gradient sums (its round-off scale)."""
    return _evaluate(X.to(torch.float64), kernel, params)[2]


@dataclass
class Relaxed:
    points: Tensor  # (B, N, d)
    values: Tensor  # (B,)
    grad_norms: Tensor  # (B,) Riemannian
    iterations: Tensor  # (B,)
    converged: Tensor  # (B,) bool: grad_norm <= rtol · egrad_scale
    history_grad_norms: Tensor  # (T, B) (a finished configuration repeats its last value)
    evaluations: int = 0  # batched energy evaluations (one per iteration)


def _deadline() -> float:
    """The enclosing ``optim.time_budget``'s deadline (inf without one): a relaxation stops there like at
    ``max_iter`` (``converged`` false where not reached)."""
    from .optim import deadline  # (lazy: optim imports the loss registry)

    return deadline()


def relax(X: Tensor, kernel: str, params: dict, *, rtol: float = 1e-8, max_iter: int = 20000,
          check_every: int = 8, method: str = "lbfgs", memory: int = 8) -> Relaxed:
    """Relax every configuration of the batch X (B, N, d) to a local minimum of the energy.

    Stops a configuration when its Riemannian gradient is ≤ rtol · (size of the summed terms), when 40
    iterations in a row did not lower its value (round-off), or when its value is not finite; at ``max_iter``.
    Every ``check_every`` iterations the finished configurations leave the working batch, so a batch
    costs about its mean number of iterations, not its slowest member's.  ``method``: "lbfgs" (default;
    on the CPU) or "bb" (torch, any device); ``memory``: L-BFGS pairs kept per configuration.  A batch
    whose working state would exceed ``RELAX_MEMORY`` bytes is relaxed in groups, one after another.
    """
    if method not in ("lbfgs", "bb"):
        raise ValueError(f"method: expected 'lbfgs' or 'bb', got {method!r}")
    if method == "lbfgs" and X.device.type != "cpu":
        method = "bb"  # the L-BFGS bookkeeping runs in numpy
    B, N, d = X.shape
    group = max(1, RELAX_MEMORY // state_bytes(N, d, method, memory))
    if B > group:
        return _concatenate([relax(X[i:i + group], kernel, params, rtol=rtol, max_iter=max_iter,
                                   check_every=check_every, method=method, memory=memory)
                             for i in range(0, B, group)])
    if method == "lbfgs":
        return _relax_lbfgs(X, kernel, params, rtol=rtol, max_iter=max_iter, check_every=check_every, m=memory)
    return _relax_bb(X, kernel, params, rtol=rtol, max_iter=max_iter, check_every=check_every)


# Working state of one relaxation batch, at most (the pair terms are bounded separately by BLOCK_ELEMENTS).
RELAX_MEMORY = 256 * 2**20


def state_bytes(N: int, d: int, method: str = "lbfgs", memory: int = 8) -> int:
    """Bytes of one configuration's state in :func:`relax`: ~12 arrays of N·d float64 (points, gradients,
    trial points, directions, temporaries), plus the 2·memory L-BFGS pairs."""
    return 8 * N * d * (12 + (2 * memory if method == "lbfgs" else 0))


def _concatenate(parts: list[Relaxed]) -> Relaxed:
    T = max(p.history_grad_norms.shape[0] for p in parts)

    def pad(h):
        return torch.cat([h, h[-1:].expand(T - h.shape[0], -1)]) if h.shape[0] < T else h

    return Relaxed(points=torch.cat([p.points for p in parts]), values=torch.cat([p.values for p in parts]),
                   grad_norms=torch.cat([p.grad_norms for p in parts]),
                   iterations=torch.cat([p.iterations for p in parts]),
                   converged=torch.cat([p.converged for p in parts]),
                   history_grad_norms=torch.cat([pad(p.history_grad_norms) for p in parts], 1),
                   evaluations=sum(p.evaluations for p in parts))


class _Out:
    """The finished configurations, written back by their index in the original batch."""

    def __init__(self, X: Tensor):
        B = X.shape[0]
        self.x = X.clone()
        self.v = torch.full((B,), math.nan, dtype=X.dtype, device=X.device)
        self.g = torch.full_like(self.v, math.nan)
        self.s = torch.full_like(self.v, math.nan)
        self.it = torch.zeros(B, dtype=torch.long, device=X.device)
        self.last_g = self.g.clone()
        self.rows: list[Tensor] = []

    def store(self, j, x, v, g, s, it):
        self.x[j], self.v[j], self.g[j], self.s[j], self.it[j] = x, v, g, s, it

    def record(self, idx: Tensor, gn: Tensor) -> None:
        self.last_g = self.last_g.clone()
        self.last_g[idx] = gn
        self.rows.append(self.last_g)

    def result(self, rtol: float, evaluations: int) -> Relaxed:
        finite = torch.isfinite(self.v) & torch.isfinite(self.g)
        self.rows.append(torch.where(torch.isfinite(self.g), self.g, self.last_g))
        return Relaxed(points=self.x, values=self.v, grad_norms=self.g, iterations=self.it,
                       converged=finite & (self.g <= rtol * self.s), history_grad_norms=torch.stack(self.rows),
                       evaluations=evaluations)


def _relax_lbfgs(X: Tensor, kernel: str, params: dict, *, rtol: float, max_iter: int, check_every: int,
                 m: int) -> Relaxed:
    """Batched Riemannian L-BFGS on the product of spheres.

    Per configuration: the last m pairs (s_k, y_k), s_k = P_{x_{k+1}}(x_{k+1} − x_k) and
    y_k = grad f(x_{k+1}) − P_{x_{k+1}} grad f(x_k) (vector transport by projection onto the new tangent
    space), kept only when s_k·y_k > 0; the direction −P_x(H_k g) with H_k the compact (Byrd–Nocedal–
    Schnabel 1994) form of the L-BFGS inverse Hessian, H_0 = γ I, γ = s·y/y·y of the newest pair; a step of 1
    (the first: 0.1·√N in norm) with an Armijo test and quadratic-interpolation backtracking — one batched
    energy evaluation per iteration for every configuration, accepted or not.

    The pairs live in a ring buffer (B, m, N·d) per configuration with their inner products s_i·y_j,
    y_i·y_j updated one row at a time; nothing larger than the buffer is ever copied.  The bookkeeping (a
    few dozen operations on (B, N, d) arrays and on m×m matrices per iteration) runs in numpy: per
    operation it costs ~1 µs against torch's ~5 µs, which at N ≤ 100 would be more than the energy
    evaluation itself; the pair terms are evaluated by :func:`_evaluate` on torch views of the same memory.
    """
    import numpy as np

    c1, max_backtracks = 1e-4, 40
    dev = X.device
    X_ = sphere.normalize(X.to(torch.float64)).cpu().numpy().copy()
    B, N, d = X_.shape
    n = N * d
    rad = math.sqrt(N)

    def evaluate(Z):
        v, e, s = _evaluate(torch.from_numpy(Z), kernel, params)
        return v.numpy(), e.numpy(), s.numpy()

    def project(Z, V):
        return V - np.einsum("bnd,bnd->bn", Z, V)[:, :, None] * Z

    out_x, out_v = X_.copy(), np.full(B, math.nan)
    out_g, out_s, out_it = out_v.copy(), out_v.copy(), np.zeros(B, dtype=np.int64)
    last_g, rows = out_g.copy(), []
    with np.errstate(all="ignore"):  # a non-finite start is reported, not warned about
        v, eg, scale = evaluate(X_)
        g = project(X_, eg)
        gn = np.sqrt(np.einsum("bnd,bnd->b", g, g))
    S, Y = np.zeros((B, m, n)), np.zeros((B, m, n))  # ring buffers; empty slots are zero, `valid` False
    SY, YY = np.zeros((B, m, m)), np.zeros((B, m, m))  # s_i·y_j, y_i·y_j (ring order)
    valid = np.zeros((B, m), dtype=bool)
    head = np.full(B, m - 1)  # slot of the newest pair
    with np.errstate(all="ignore"):
        gamma = FIRST_STEP * rad / np.maximum(gn, 1e-300)  # H_0 = γ I for the first step
    step = np.ones(B)
    backtracks = np.zeros(B, dtype=np.int64)
    iters = np.zeros(B, dtype=np.int64)
    idx = np.arange(B)
    evaluations = 1

    with np.errstate(all="ignore"):
        p_dir = _lbfgs_direction(X_, g, S, Y, SY, YY, valid, gamma, head)
        for it in range(max_iter + 1):
            release_now_and_then()  # freed arrays back to the system (hemtools.heap)
            if it % check_every == 0 or it == max_iter:
                gn = np.sqrt(np.einsum("bnd,bnd->b", g, g))  # (only needed here)
                done = ~np.isfinite(v) | ~np.isfinite(gn) | (gn <= rtol * scale) | (backtracks > max_backtracks)
                if it == max_iter or time.perf_counter() >= _deadline():
                    done[:] = True
                if done.any():
                    j = idx[done]
                    out_x[j], out_v[j], out_g[j] = X_[done], v[done], gn[done]
                    out_s[j], out_it[j] = scale[done], iters[done]
                    keep = ~done
                    idx, X_, v, g, gn, scale, S, Y, SY, YY, valid, head, gamma, step, backtracks, iters, p_dir = (
                        t[keep] for t in (idx, X_, v, g, gn, scale, S, Y, SY, YY, valid, head, gamma, step,
                                          backtracks, iters, p_dir))
                    if idx.size == 0:
                        break
                last_g = last_g.copy()
                last_g[idx] = gn
                rows.append(last_g)
            slope = np.einsum("bnd,bnd->b", g, p_dir)  # < 0: a descent direction
            bad = ~(slope < 0)
            if bad.any():  # round-off made H g useless: forget the pairs, take the scaled gradient
                valid[bad] = False
                S[bad], Y[bad], SY[bad], YY[bad] = 0.0, 0.0, 0.0, 0.0
                p_dir[bad] = -gamma[bad, None, None] * g[bad]
                slope[bad] = -gamma[bad] * np.einsum("bnd,bnd->b", g[bad], g[bad])
            Xt = X_ + step[:, None, None] * p_dir
            Xt /= np.sqrt(np.einsum("bnd,bnd->bn", Xt, Xt))[:, :, None]
            vt, egt, st = evaluate(Xt)
            evaluations += 1
            ok = vt <= v + c1 * step * slope + 16 * _EPS * np.abs(v)  # (False for a NaN or +inf value)
            gt = project(Xt, egt)
            s_vec = project(Xt, -X_).reshape(-1, n)  # P_{x+}(x+ − x) = −P_{x+}(x)
            y_vec = (gt - project(Xt, g)).reshape(-1, n)
            sy = np.einsum("bn,bn->b", s_vec, y_vec)
            yy = np.einsum("bn,bn->b", y_vec, y_vec)
            ss = np.einsum("bn,bn->b", s_vec, s_vec)
            push = ok & (sy > 1e-10 * np.sqrt(ss * yy)) & np.isfinite(sy)
            if push.any():  # the new pair replaces the oldest; its inner products fill one row and column
                # a curvature (s·y/y·y) that jumps by more than CURVATURE_JUMP makes the older pairs stale (the
                # exponential tail of a Gaussian energy, where the curvature falls with the value): forget them
                jump = push & valid.any(1) & ~(np.abs(np.log(sy / yy / gamma)) <= math.log(CURVATURE_JUMP))
                if jump.any():
                    valid[jump] = False
                    S[jump], Y[jump], SY[jump], YY[jump] = 0.0, 0.0, 0.0, 0.0
                pi = np.nonzero(push)[0]
                whole = pi.size == push.size
                h = (head[pi] + 1) % m
                head[pi] = h
                S[pi, h], Y[pi, h] = s_vec[pi], y_vec[pi]
                Sp, Yp = (S, Y) if whole else (S[pi], Y[pi])
                SY[pi, h, :] = np.matmul(Yp, s_vec[pi, :, None])[:, :, 0]  # s_new·y_j
                SY[pi, :, h] = np.matmul(Sp, y_vec[pi, :, None])[:, :, 0]  # s_i·y_new
                col = np.matmul(Yp, y_vec[pi, :, None])[:, :, 0]
                YY[pi, h, :], YY[pi, :, h] = col, col
                valid[pi, h] = True
                gamma[pi] = sy[pi] / yy[pi]
            # an iteration that does not lower the value (a rejected step, or one accepted within the
            # round-off slack) counts towards the stop at max_backtracks: a run stalled at round-off ends
            backtracks = np.where(vt < v, 0, backtracks + 1)
            if ok.all():  # the usual case: every step accepted
                X_, g, scale, v = Xt, gt, st, vt
                step.fill(1.0)
            else:
                okm = ok[:, None, None]
                X_ = np.where(okm, Xt, X_)
                g = np.where(okm, gt, g)
                scale = np.where(ok, st, scale)
                # rejected: shrink the step by quadratic interpolation of the value along the direction,
                # within [0.1, 0.5] of the step
                curv = vt - v - step * slope
                q = np.where(curv > 0, -slope * step * step / (2 * curv), 0.5 * step)
                shrunk = np.minimum(np.maximum(q, 0.1 * step), 0.5 * step)
                step = np.where(ok, 1.0, np.where(np.isfinite(shrunk), shrunk, 0.1 * step))
                v = np.where(ok, vt, v)
            iters += 1
            if ok.any():  # (a rejected configuration keeps its direction: its state did not change)
                p_dir = _lbfgs_direction(X_, g, S, Y, SY, YY, valid, gamma, head)
        finite = np.isfinite(out_v) & np.isfinite(out_g)
        rows.append(np.where(np.isfinite(out_g), out_g, last_g))
        conv = finite & (out_g <= rtol * out_s)

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    return Relaxed(points=t(out_x), values=t(out_v), grad_norms=t(out_g), iterations=t(out_it), converged=t(conv),
                   history_grad_norms=t(np.stack(rows)), evaluations=evaluations)


def _lbfgs_direction(X_, g, S, Y, SY, YY, valid, gamma, head):
    """−P_x(H g) for every configuration (numpy arrays): H the compact L-BFGS inverse Hessian of the pairs in
    the ring buffers S, Y (b, m, n) whose newest slot is ``head``, with s_i·y_j = SY, y_i·y_j = YY (ring
    order) and H_0 = γ I."""
    import numpy as np

    b, m, n = S.shape
    gf = g.reshape(b, n, 1)
    order = (head[:, None] + 1 + np.arange(m)) % m  # ring slots, oldest first
    o1, o2 = order[:, :, None], order[:, None, :]
    a = np.take_along_axis(np.matmul(S, gf), o1, 1)  # (b, m, 1): s_i·g, chronological
    bq = np.take_along_axis(np.matmul(Y, gf), o1, 1)
    SYc = np.take_along_axis(np.take_along_axis(SY, o1, 1), o2, 2)
    YYc = np.take_along_axis(np.take_along_axis(YY, o1, 1), o2, 2)
    # R = upper triangle of (s_i·y_j) in chronological order; empty slots get a unit diagonal (R stays
    # invertible, their coefficients come out zero because their rows and columns are zero)
    R = np.triu(SYc) + np.eye(m) * (~np.take_along_axis(valid, order, 1))[:, None, :]
    D = np.diagonal(SYc, axis1=1, axis2=2)[:, :, None]
    gm = gamma[:, None, None]
    u = np.linalg.solve(R, a)
    p = np.linalg.solve(R.transpose(0, 2, 1), D * u + gm * (np.matmul(YYc, u) - bq))
    cs, cy = np.empty_like(p), np.empty_like(u)  # back to ring order
    np.put_along_axis(cs, o1, p, 1)
    np.put_along_axis(cy, o1, -gm * u, 1)
    # (b, 1, m)·(b, m, n): contiguous operands keep numpy's matmul on BLAS
    hg = np.matmul(cs.transpose(0, 2, 1), S) + np.matmul(cy.transpose(0, 2, 1), Y)
    hg = gamma[:, None] * g.reshape(b, n) + hg[:, 0]
    hg = hg.reshape(g.shape)
    return np.einsum("bnd,bnd->bn", X_, hg)[:, :, None] * X_ - hg


def _relax_bb(X: Tensor, kernel: str, params: dict, *, rtol: float, max_iter: int, check_every: int) -> Relaxed:
    """Riemannian Barzilai–Borwein with the non-monotone line search of Zhang & Hager (2004)."""
    c, eta_zh, max_backtracks = 1e-4, 0.85, 40
    X = sphere.normalize(X.to(torch.float64))
    B, N, _ = X.shape
    rad = math.sqrt(N)
    out = _Out(X)
    v, eg, scale = _evaluate(X, kernel, params)
    g = sphere.project(X, eg)
    gn = sphere.norm(g)
    step = 0.1 * rad / gn.clamp_min(1e-300)
    C, Q = v.clone(), torch.ones_like(v)
    parity = torch.zeros(B, dtype=torch.bool, device=X.device)
    backtracks = torch.zeros(B, dtype=torch.long, device=X.device)
    iters = torch.zeros(B, dtype=torch.long, device=X.device)
    idx = torch.arange(B, device=X.device)
    evaluations = 1
    for it in range(max_iter + 1):
        release_now_and_then()
        if it % check_every == 0 or it == max_iter:
            done = ~torch.isfinite(v) | ~torch.isfinite(gn) | (gn <= rtol * scale) | (backtracks > max_backtracks)
            if it == max_iter or time.perf_counter() >= _deadline():
                done = torch.ones_like(done)
            if bool(done.any()):
                out.store(idx[done], X[done], v[done], gn[done], scale[done], iters[done])
                keep = ~done
                idx, X, v, g, gn, scale, step, C, Q, parity, backtracks, iters = (
                    t[keep] for t in (idx, X, v, g, gn, scale, step, C, Q, parity, backtracks, iters))
                if idx.numel() == 0:
                    break
            out.record(idx, gn)
        Xt = sphere.retract(X, -step[:, None, None] * g)
        vt, egt, st = _evaluate(Xt, kernel, params)
        evaluations += 1
        slack = 16 * _EPS * C.abs().clamp_min(1.0)
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
    return out.result(rtol, evaluations)


__all__ = ["BLOCK_ELEMENTS", "RELAX_MEMORY", "Relaxed", "egrad_scale", "relax", "state_bytes", "value_and_egrad"]
