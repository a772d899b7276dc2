"""Matrix-free second-order certificate: the lowest eigenvalues of the Riemannian Hessian on the tangent
space from Hessian-vector products only (for problems too large for the dense n×n matrix).

At one configuration x (N, d) of (S^{d−1})^N the tangent space T = {ξ : x_i·ξ_i = 0} splits into

  O  the tangent space of the O(d) orbit: ξ = x A (rows x_i A) for skew-symmetric A, of the exactly known
     dimension orbit_dimension(d, r) (r the rank of x);
  C  its orthogonal complement in T.

f is constant on the orbit, so at a critical point Hess f maps O to 0 (differentiate grad f(xR) =
grad f(x) R along a rotation); away from one ‖Hess f|_O‖ = O(‖grad f‖).  Write ρ for the measured
‖Hess f · P_O‖ (the *orbit residual*).  In the splitting T = O ⊕ C the Hessian is [[H_OO, H_OC], [H_CO,
H_CC]] with ‖H_OO‖, ‖H_OC‖ ≤ ρ, and by Weyl's inequality its eigenvalues lie within ρ of those of
diag(H_OO, H_CC): dim O of them in [−2ρ, 2ρ] and the others within ρ of the spectrum of H_CC.  This is
the *deflation argument*: when ρ is below the zero threshold the orbit contributes exactly dim O zero
eigenvalues, and the certificate is the smallest eigenvalue of the deflated operator H_CC (positive, with
its residual bound).

The orbit is projected out exactly, never "hoped to be separated" by the eigensolver: with G = xᵀx =
Q Λ Qᵀ, the orthogonal projection of ξ onto {x A : A skew} solves G A + A G = xᵀξ − ξᵀx, i.e.
Ã_ab = S̃_ab / (λ_a + λ_b) in the eigenbasis (pairs with both a, b outside the span of x are rotations
that do not move x and are left out, so the subspace has exactly orbit_dimension(d, r) dimensions).  Cost
O(N d² + d³) per projection, O(N d) memory — nothing O(n²) with n = N(d − 1).

The eigensolver is implicitly restarted Lanczos (scipy.sparse.linalg.eigsh, ARPACK) on the ambient
R^{N d} operator A v = P_C H P_C v + σ (v − P_C v), σ the largest eigenvalue of H (so the normal and
orbit directions sit at the top of the spectrum, never among the smallest).  The Hessian-vector products
run in torch on x's device (one double-backward pass each); the Lanczos vectors live in numpy on the
host.  Residual norms ‖A v − λ v‖ are measured after convergence, not taken from ARPACK.

Limits, said plainly: Lanczos finds eigenvalues, not their multiplicities (it counts extra zero
eigenvalues only up to the k it computed: ``zero_count`` is then a lower bound, flagged), and like every
Krylov method it can in principle miss an eigenvalue whose eigenvector is orthogonal to the start (a
random start makes that a probability-zero event, round-off brings such directions in anyway).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from . import configurations, sphere

Tensor = torch.Tensor

METHOD = "lanczos (scipy eigsh/ARPACK), rotation orbit deflated"
METHOD_FULL = "lanczos (scipy eigsh/ARPACK) on the whole tangent space (orbit not flat: not deflated)"


@dataclass
class MatrixFreeSpectrum:
    """What :func:`lowest_eigenvalues` measured (field names as in checks.HessianInfo)."""

    n: int  # dimension of the tangent space N(d − 1)
    grad_norm: float
    orbit_dimension: int
    rank: int
    zero_count: int  # orbit_dimension (if orbit_residual <= threshold) + deflated eigenvalues with |λ| <= thr
    zero_count_is_lower_bound: bool  # every computed deflated eigenvalue was a zero: more may exist
    threshold: float
    min_eigenvalue: float  # min(lowest deflated eigenvalue, −orbit_residual)
    max_abs_zero: float
    gap: float  # smallest deflated eigenvalue above the threshold (nan if none was computed)
    max_eigenvalue: float
    deflated_eigenvalues: list[float]  # the k lowest eigenvalues of H on C, ascending
    residual_norms: list[float]  # ‖H v − λ v‖ for each (measured), unit v
    orbit_residual: float  # measured ‖H P_O‖ (power iteration on random orbit vectors)
    method: str = METHOD
    iterations: int = 0  # Hessian-vector products in all (Lanczos + residuals + orbit + λ_max)
    converged: bool = True
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    deflated: bool = True  # False: the orbit was not flat, the whole tangent space was searched


class OutOfTime(Exception):
    """The deadline of :func:`lowest_eigenvalues` passed (raised from inside the eigensolver's products)."""


class OrbitProjector:
    """Exact orthogonal projection onto the tangent space of the O(d) orbit of x (N, d) (module doc)."""

    def __init__(self, x: Tensor, rank: int | None = None):
        x = x.detach()
        self.x = x
        d = x.shape[-1]
        r = configurations.rank(x.cpu()) if rank is None else rank
        self.rank = r
        lam, Q = torch.linalg.eigh(x.T @ x)  # ascending: the span is the top r eigenvectors
        span = torch.zeros(d, dtype=torch.bool, device=x.device)
        span[d - r:] = True
        keep = span[:, None] | span[None, :]
        keep.fill_diagonal_(False)  # skew: no diagonal
        denom = lam[:, None] + lam[None, :]
        self.inv = torch.where(keep, 1.0 / torch.where(keep, denom, torch.ones_like(denom)), torch.zeros_like(denom))
        self.Q = Q
        self.XQ = x @ Q
        self.dimension = sphere.orbit_dimension(d, r)
        # the thin form of the projection (see __call__): the span's eigenvectors Q_r, x Q_r and 1/λ_r
        self.Qr = Q[:, d - r:]
        self.XQr = self.XQ[:, d - r:]
        self.inv_r = self.inv[d - r:, d - r:]
        self.inv_lam = 1.0 / lam[d - r:] if r else lam[:0]

    def coefficients(self, v: Tensor) -> Tensor:
        """Ã (d, d) skew in the eigenbasis of xᵀx with P_O v = (x Q) Ã Qᵀ."""
        vQ = v @ self.Q
        s = self.XQ.T @ vQ
        return (s - s.T) * self.inv

    def __call__(self, v: Tensor) -> Tensor:
        """P_O v = (x Q) Ã Qᵀ, in the thin form: with T = (x Q_r)ᵀ v (r × d) and T_r = T Q_r, the rows of Ã in
        the span are Ã_rr = (T_r − T_rᵀ)/(λ_a + λ_b) and Ã_r⊥ Q_⊥ᵀ = diag(1/λ_r) (T − T_r Q_rᵀ) (the rows out
        of the span multiply columns of x Q that vanish), so P_O v = x Q_r [(Ã_rr − diag(1/λ_r) T_r) Q_rᵀ
        + diag(1/λ_r) T].  Cost 2 r N d + 4 r² d instead of 4 N d² (a rank-255 simplex in R^512: 2.2× less);
        the same as :meth:`coefficients` up to round-off (λ_b of the directions out of the span is 0 here,
        ~1e-16 there).  The result is exactly of the orbit's form x Q_r (B Q_rᵀ + C) with B skew and C ⊥ Q_r
        (C is projected twice): even the projection of round-off, normalised, is an orbit vector."""
        T = self.XQr.T @ v
        Tr = T @ self.Qr
        C = T - Tr @ self.Qr.T
        C = C - (C @ self.Qr) @ self.Qr.T
        B = (Tr - Tr.T) * self.inv_r
        return self.XQr @ (B @ self.Qr.T + self.inv_lam[:, None] * C)

    def random(self, k: int, generator: torch.Generator) -> Tensor:
        """k random unit vectors of O, shape (k, N, d)."""
        d = self.x.shape[-1]
        out = []
        for _ in range(k):
            a = torch.randn(d, d, generator=generator, dtype=self.x.dtype).to(self.x.device)
            a = (a - a.T) * (self.inv != 0)
            v = (self.XQ @ a) @ self.Q.T
            out.append(v / v.norm())
        return torch.stack(out)


class DeflatedHessian:
    """The Riemannian Hessian at x as an operator on flat ambient vectors (numpy, length N·d), with the
    projections P_T (tangent), P_O (orbit) and P_C = P_T − P_O."""

    def __init__(self, f: Callable[[Tensor], Tensor], x: Tensor, *, rank: int | None = None,
                 hvp: Callable[[Tensor], Tensor] | None = None, deadline: float = math.inf):
        self.deadline = deadline  # time.perf_counter() after which a product raises OutOfTime
        self.x = x.detach()
        self.shape = tuple(x.shape)
        if hvp is None:
            model = sphere.second_order_model(f, self.x.unsqueeze(0))
            self._hvp = lambda v: model.hvp(v.unsqueeze(0))[0]
            self.grad_norm = float(sphere.norm(model.rgrad)[0])
        else:
            self._hvp = hvp
            _, g = sphere.riemannian_gradient(f, self.x.unsqueeze(0))
            self.grad_norm = float(sphere.norm(g)[0])
        self.orbit = OrbitProjector(self.x, rank)
        self.count = 0

    def hvp(self, v: Tensor) -> Tensor:
        if self.count and time.perf_counter() >= self.deadline:
            raise OutOfTime(self.count)
        self.count += 1
        return self._hvp(v)

    def tangent(self, v: Tensor) -> Tensor:
        return sphere.project(self.x, v)

    def complement(self, v: Tensor) -> Tensor:
        t = self.tangent(v)
        return t - self.orbit(t)

    def to_torch(self, a: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).reshape(self.shape).to(self.x.device)

    @staticmethod
    def to_numpy(t: Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().reshape(-1)

    def operator(self, shift: float, deflate: bool = True):
        """scipy LinearOperator v ↦ P H P v + shift (v − P v), P = P_C (deflate) or P_T."""
        from scipy.sparse.linalg import LinearOperator

        proj = self.complement if deflate else self.tangent
        n = int(np.prod(self.shape))

        def mv(a):
            v = self.to_torch(np.asarray(a).reshape(-1))
            w = proj(v)
            out = proj(self.hvp(w))
            if shift:
                out = out + shift * (v - w)
            return self.to_numpy(out)

        return LinearOperator((n, n), matvec=mv, dtype=np.float64)


def _start_vector(op: DeflatedHessian, seed: int, deflate: bool) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(op.shape, generator=gen, dtype=torch.float64).to(op.x.device)
    v = op.complement(v) if deflate else op.tangent(v)
    return op.to_numpy(v / v.norm())


def orbit_residual(op: DeflatedHessian, probes: int = 4, steps: int = 4, seed: int = 1) -> float:
    """Measured ‖H P_O‖: power iteration on P_O H² P_O from ``probes`` random orbit vectors (a lower estimate
    of the norm that converges from below; ``steps`` rounds of two HVPs each)."""
    gen = torch.Generator().manual_seed(seed)
    best = 0.0
    for v in op.orbit.random(probes, gen):
        for _ in range(steps):
            hv = op.tangent(op.hvp(v))
            best = max(best, float(hv.norm()))
            w = op.orbit(op.tangent(op.hvp(hv)))
            nw = float(w.norm())
            if not (nw > 0 and math.isfinite(nw)):
                break
            v = w / nw
    return best


def lowest_eigenvalues(f: Callable[[Tensor], Tensor], x: Tensor, zero_factor: float, eps: float, *, k: int = 2,
                       max_k: int = 64, tol: float = 1e-12, maxiter: int | None = None, rank: int | None = None,
                       hvp: Callable[[Tensor], Tensor] | None = None, error: float = 0.0,
                       seed: int = 0, deadline: float | None = None) -> MatrixFreeSpectrum:
    """The k lowest eigenvalues of the deflated Riemannian Hessian at x (N, d), the orbit residual, the
    threshold and the zero count (module doc).  The threshold is the dense path's:
    zero_factor · eps · max|λ| + ‖grad f(x)‖ + error (``error``: the measured error of difference HVPs).

    When the orbit residual exceeds the threshold (a loss that is not O(d)-invariant, or a point far from
    critical) the orbit is not flat and deflating it could hide curvature: the k lowest eigenvalues of the
    whole tangent-space Hessian are computed instead, and the zero count is what they show.

    k starts at 2: the certificate needs the lowest deflated eigenvalue and the first one above the threshold
    (k doubles while every computed one is a zero).  Asking for more copies of a degenerate lowest eigenvalue
    (the simplex's are highly degenerate) only costs restarts: M = 256, d = 512, DHEL 112 HVPs at k = 2 and
    207 at k = 6, NT-Xent 76 and 181, the same λ_min, gap and zero count (issue 13).

    ``deadline`` (time.perf_counter(); default: the enclosing optim.time_budget's, verify's --time-limit):
    when it passes, the eigensolver is stopped at its next product and the result says so (converged
    false, NaN eigenvalues, a note with the products done): no certificate, never a partial one.
    """
    t0 = time.perf_counter()
    x = x.detach().to(torch.float64)
    if deadline is None:
        from .optim import deadline as budget_deadline

        deadline = budget_deadline()
    op = DeflatedHessian(f, x, rank=rank, hvp=hvp, deadline=deadline)
    N, d = x.shape
    n = N * (d - 1)
    try:
        return _lowest(op, x, zero_factor, eps, k, max_k, tol, maxiter, error, seed, t0)
    except OutOfTime:
        nan = math.nan
        return MatrixFreeSpectrum(
            n=n, grad_norm=op.grad_norm, orbit_dimension=op.orbit.dimension, rank=op.orbit.rank, zero_count=0,
            zero_count_is_lower_bound=True, threshold=nan, min_eigenvalue=nan, max_abs_zero=nan, gap=nan,
            max_eigenvalue=nan, deflated_eigenvalues=[], residual_norms=[], orbit_residual=nan,
            iterations=op.count, converged=False, seconds=time.perf_counter() - t0,
            notes=[f"time limit reached after {op.count} Hessian-vector products "
                   f"({time.perf_counter() - t0:.0f} s): the eigensolver was stopped, no certificate"])


def _lowest(op: DeflatedHessian, x: Tensor, zero_factor: float, eps: float, k: int, max_k: int, tol: float,
            maxiter: int | None, error: float, seed: int, t0: float) -> MatrixFreeSpectrum:
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh

    N, d = x.shape
    n = N * (d - 1)
    notes: list[str] = []
    maxiter = maxiter if maxiter is not None else max(1000, 20 * max_k)
    converged = True

    # largest eigenvalue of H on T (for the shift and the scale of the threshold)
    try:
        lam_max = float(eigsh(op.operator(0.0, deflate=False), k=1, which="LA", tol=1e-8, maxiter=maxiter,
                              v0=_start_vector(op, seed + 7, False), return_eigenvectors=False)[0])
    except ArpackNoConvergence as exc:
        lam_max = float(np.max(exc.eigenvalues)) if len(exc.eigenvalues) else math.nan
        notes.append("the largest eigenvalue did not converge to 1e-8 (used for the threshold only)")
    shift = abs(lam_max) if math.isfinite(lam_max) and lam_max != 0 else 1.0

    rho = orbit_residual(op)
    deflate = rho <= zero_factor * eps * abs(lam_max) + op.grad_norm + error
    if not deflate:
        notes.append(f"orbit residual {rho:.2e} above the zero threshold: the rotation directions are not flat here "
                     "(a loss that depends on the orientation, or not a critical point); the whole tangent-space "
                     "Hessian was searched, without deflation")
    dim = n - op.orbit.dimension if deflate else n
    k = max(1, min(k, dim - 1))

    # k lowest of the (deflated) operator; when none of them lies above the zero threshold (a saddle with
    # many negative directions, or flat directions) k is doubled, up to max_k, to find the gap
    while True:
        try:
            vals, vecs = eigsh(op.operator(shift, deflate=deflate), k=k, which="SA", tol=tol, maxiter=maxiter,
                               v0=_start_vector(op, seed, deflate))
        except ArpackNoConvergence as exc:
            vals, vecs = exc.eigenvalues, exc.eigenvectors
            converged = False
            notes.append(f"Lanczos did not converge in {maxiter} restarts: {len(vals)} of {k} eigenvalues")
        order = np.argsort(vals)
        vals, vecs = np.asarray(vals)[order], np.asarray(vecs)[:, order]
        scale = max(abs(lam_max), float(np.max(np.abs(vals)))) if vals.size else abs(lam_max)
        thr = zero_factor * eps * scale + op.grad_norm + error
        if not converged or (vals.size and vals[-1] > thr) or 2 * k > min(max_k, dim - 1):
            break
        k *= 2

    # measured residuals of the Ritz pairs, on H itself
    proj = op.complement if deflate else op.tangent
    res = []
    for j in range(vals.size):
        v = proj(op.to_torch(vecs[:, j]))
        v = v / v.norm()
        hv = proj(op.hvp(v))
        res.append(float((hv - vals[j] * v).norm()))

    lam_min = float(vals[0]) if vals.size else math.nan
    zeros = [float(v) for v in vals if abs(v) <= thr]
    above = [float(v) for v in vals if v > thr]
    lower_bound = bool(vals.size) and len(zeros) == vals.size
    if lower_bound:
        notes.append(f"all {vals.size} computed eigenvalues{' of the deflated Hessian' if deflate else ''} are zeros: "
                     "the zero count is a lower bound")
    if not all(math.isfinite(r) for r in res) or not math.isfinite(lam_min):
        converged = False
    orbit = op.orbit.dimension if deflate else 0
    return MatrixFreeSpectrum(
        n=n, grad_norm=op.grad_norm, orbit_dimension=op.orbit.dimension, rank=op.orbit.rank,
        zero_count=orbit + len(zeros), zero_count_is_lower_bound=lower_bound,
        threshold=thr, min_eigenvalue=min(lam_min, -rho) if deflate else lam_min,
        max_abs_zero=max([rho if deflate else 0.0] + [abs(v) for v in zeros]),
        gap=above[0] if above else math.nan, max_eigenvalue=lam_max,
        deflated_eigenvalues=[float(v) for v in vals], residual_norms=res, orbit_residual=rho,
        method=METHOD if deflate else METHOD_FULL, iterations=op.count, converged=converged,
        seconds=time.perf_counter() - t0, notes=notes, deflated=deflate)


def report_fields(mf: MatrixFreeSpectrum) -> dict:
    """The fields of a matrix-free run that the dense report does not have (for checks.HessianInfo)."""
    return {"deflated_eigenvalues": mf.deflated_eigenvalues, "residual_norms": mf.residual_norms,
            "orbit_residual": mf.orbit_residual, "iterations": mf.iterations, "converged": mf.converged,
            "zero_count_is_lower_bound": mf.zero_count_is_lower_bound, "deflated": mf.deflated,
            "seconds": mf.seconds, "notes": mf.notes}


__all__ = [
    "METHOD",
    "METHOD_FULL",
    "DeflatedHessian",
    "MatrixFreeSpectrum",
    "OrbitProjector",
    "lowest_eigenvalues",
    "orbit_residual",
    "report_fields",
]
