"""Exactly constructed spherical configurations, and recognition of a found configuration.

A configuration is an (N, d) float64 tensor of unit rows.  Constructors build points from closed forms
(no optimisation), so that the loss at a claimed minimiser can be evaluated exactly and compared with
what the solver finds.  Recognition compares rotation- and permutation-invariant fingerprints (the
sorted inner products) and is then confirmed by an orthogonal Procrustes fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .errors import ArgumentError

Tensor = torch.Tensor


def _embed(x: Tensor, d: int) -> Tensor:
    """Pad (N, k) points with zero coordinates to (N, d), d >= k."""
    n, k = x.shape
    if d < k:
        raise ArgumentError(f"d: the configuration needs at least {k} dimensions, got d={d}")
    out = torch.zeros(n, d, dtype=x.dtype)
    out[:, :k] = x
    return out


def regular_simplex(n: int, d: int | None = None) -> Tensor:
    """n points with pairwise inner product −1/(n−1), spanning R^{n−1}, embedded in R^d (d >= n−1).

    Built from the centred standard basis e_i − 1/n of R^n, expressed in an orthonormal basis of the
    sum-zero hyperplane (the last n−1 left singular vectors of the centring matrix), then normalised.
    """
    if n < 2:
        raise ArgumentError(f"n: a simplex needs at least 2 points, got {n}")
    d = n - 1 if d is None else d
    if d < n - 1:
        raise ArgumentError(f"d: a regular simplex of {n} points needs d >= {n - 1}, got d={d}")
    c = torch.eye(n, dtype=torch.float64) - 1.0 / n
    # orthonormal basis of the sum-zero hyperplane: Householder-free, from the eigenvectors of c
    evals, evecs = torch.linalg.eigh(c)
    basis = evecs[:, 1:]  # eigenvalue 0 (the all-ones direction) comes first
    pts = c @ basis
    pts = pts / pts.norm(dim=1, keepdim=True)
    return _embed(pts, d)


def simplex_gram(n: int, dtype=torch.float64) -> Tensor:
    """The Gram matrix of the regular simplex: 1 on the diagonal, −1/(n−1) off it."""
    g = torch.full((n, n), -1.0 / (n - 1), dtype=dtype)
    g.fill_diagonal_(1.0)
    return g


@dataclass(frozen=True)
class KnownConfiguration:
    name: str
    build: Callable[[int, int], Tensor]  # (N, d) -> points, raises ValueError when (N, d) does not fit
    fits: Callable[[int, int], bool]
    description: str


KNOWN: dict[str, KnownConfiguration] = {
    "simplex": KnownConfiguration("simplex", lambda n, d: regular_simplex(n, d), lambda n, d: 2 <= n <= d + 1,
                                  "regular simplex: N <= d+1 points, inner products −1/(N−1)"),
}


def construct(name: str, n: int, d: int) -> Tensor:
    """A named configuration of ``n`` points in R^d (ValueError for an unknown name or a size that does not fit)."""
    if name not in KNOWN:
        raise ArgumentError(f"configuration: unknown name {name!r}; known: {', '.join(sorted(KNOWN))}")
    k = KNOWN[name]
    if not k.fits(n, d):
        raise ArgumentError(f"configuration: {name} does not exist with N={n} points in d={d} ({k.description})")
    return k.build(n, d)


def fingerprint(x: Tensor) -> Tensor:
    """Sorted off-diagonal inner products: invariant under rotations and permutations of the points."""
    g = x @ x.T
    n = g.shape[0]
    off = g[~torch.eye(n, dtype=torch.bool)]
    return torch.sort(off).values


def procrustes_residual(x: Tensor, y: Tensor) -> float:
    """min_Q ‖x Q − y‖_max over orthogonal Q, for points already matched row to row."""
    u, _, vt = torch.linalg.svd(x.T @ y)
    q = u @ vt
    return float((x @ q - y).abs().max())


@dataclass(frozen=True)
class Recognition:
    name: str
    residual: float  # max deviation of the sorted inner products from those of the named configuration

    def to_dict(self) -> dict:
        return {"name": self.name, "residual": self.residual}


def recognise(x: Tensor, tol: float = 1e-6) -> Recognition | None:
    """The known configuration whose inner-product fingerprint matches ``x`` within ``tol``, or None."""
    x = x.detach().to(torch.float64).cpu()
    n, d = x.shape
    fp = fingerprint(x)
    best = None
    for k in KNOWN.values():
        if not k.fits(n, d):
            continue
        ref = k.build(n, d)
        res = float((fingerprint(ref) - fp).abs().max())
        if res <= tol and (best is None or res < best.residual):
            best = Recognition(k.name, res)
    return best


def rank(x: Tensor, rel: float = 1e-8) -> int:
    """Numerical rank of the span of the points: singular values above rel · σ_max."""
    s = torch.linalg.svdvals(x.to(torch.float64))
    return int((s > rel * s[0]).sum()) if s.numel() and float(s[0]) > 0 else 0


def random_rotation(d: int, generator: torch.Generator) -> Tensor:
    """A Haar-random orthogonal d×d matrix (QR of a Gaussian matrix with the sign fix)."""
    q, r = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


__all__ = ["regular_simplex", "simplex_gram", "construct", "recognise", "fingerprint", "procrustes_residual",
           "rank", "random_rotation", "KNOWN", "KnownConfiguration", "Recognition"]
