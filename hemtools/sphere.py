"""Geometry of products of unit spheres, (S^{d-1})^N, on batched tensors.

A point is a tensor ``x`` of shape ``(..., N, d)`` whose rows have unit norm; a tangent vector at ``x``
has the same shape with every row orthogonal to the matching row of ``x``.  Batch axes in front are
independent problems (restarts).  Everything here is a pure function on tensors: no state, no printing.

Conventions (SPEC §3):
  tangent projection  P_x(g) = g - (x.g) x                    (row-wise)
  retraction          R_x(v) = (x + v) / ||x + v||             (second order on the sphere)
  Riemannian gradient grad f(x) = P_x(egrad f(x))
  Riemannian Hessian  Hess f(x)[v] = P_x(ehess f(x) v) - (x . egrad f(x)) v   (row-wise scalar)
Inner products and norms of tangent vectors sum over the last two axes (the whole product manifold).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import ArgumentError

Tensor = torch.Tensor
Objective = Callable[[Tensor], Tensor]  # (B, N, d) -> (B,)


# --------------------------------------------------------------------------------------------------------
# points, projection, retraction


def normalize(x: Tensor) -> Tensor:
    """Rows of ``x`` scaled to unit norm."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)


def random_points(batch: int, n: int, d: int, *, generator: torch.Generator, dtype=torch.float64,
                  device=None) -> Tensor:
    """``batch`` independent configurations of ``n`` i.i.d. uniform points on S^{d-1}: shape (batch, n, d).

    Uniform because a normalised standard Gaussian is rotation invariant.  The generator is explicit:
    hemtools never touches the global RNG.
    """
    device = generator.device if device is None else torch.device(device)
    g = torch.randn(batch, n, d, generator=generator, dtype=dtype, device=device)
    return normalize(g)


def project(x: Tensor, g: Tensor) -> Tensor:
    """Tangent projection P_x(g) = g - (x.g) x, row by row."""
    return g - (x * g).sum(-1, keepdim=True) * x


def retract(x: Tensor, v: Tensor) -> Tensor:
    """Metric-projection retraction R_x(v) = (x+v)/||x+v|| (a second-order retraction on the sphere)."""
    return normalize(x + v)


def inner(a: Tensor, b: Tensor) -> Tensor:
    """Riemannian inner product on the product manifold: sum over the last two axes, shape (...,)."""
    return (a * b).sum(dim=(-2, -1))


def norm(a: Tensor) -> Tensor:
    """Norm on the product manifold, shape (...,)."""
    return torch.linalg.vector_norm(a, dim=(-2, -1))


def squared_distances(gram: Tensor) -> Tensor:
    """||x-y||^2 = 2 - 2 x.y from a Gram (or cross-Gram) matrix of unit vectors.

    Written through the Gram matrix so the map is a polynomial of the inner products: smooth to every
    order, also where x = y (a norm of x-y is not differentiable there).
    """
    return 2.0 - 2.0 * gram


# --------------------------------------------------------------------------------------------------------
# derivatives through autograd


def value_and_egrad(f: Objective, x: Tensor, *, create_graph: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Values ``f(x)`` (B,), the Euclidean gradient (B, N, d) and the leaf ``x`` that carries the graph.

    Because the batch entries are independent problems, differentiating ``f(x).sum()`` gives every
    entry's own gradient in one backward pass.
    """
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        val = f(xg)
        eg = None
        if val.requires_grad:  # a constant objective has no graph: its gradient is zero
            try:
                (eg,) = torch.autograd.grad(val.sum(), xg, create_graph=create_graph, allow_unused=True)
            except RuntimeError as exc:
                where = getattr(f, "hemtools_user_code", None)
                if where is None:
                    raise
                from .errors import UserCodeError

                hint = (" (an in-place operation on a tensor that autograd needs: write U = U / ... instead of "
                        "U.div_(...))") if "inplace" in str(exc) else ""
                raise UserCodeError(f"{where}: autograd cannot differentiate it{hint}", exc) from exc
        if eg is None:
            eg = torch.zeros_like(xg)
    return (val if create_graph else val.detach()), eg, xg


def riemannian_gradient(f: Objective, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(f(x), grad f(x))`` with the Riemannian gradient P_x(egrad)."""
    val, eg, _ = value_and_egrad(f, x)
    return val, project(x, eg)


def ehess_to_rhess(x: Tensor, egrad: Tensor, ehvp: Tensor, v: Tensor) -> Tensor:
    """Riemannian Hessian-vector product from the Euclidean one: P_x(ehvp) - (x.egrad) v."""
    return project(x, ehvp) - (x * egrad).sum(-1, keepdim=True) * v


@dataclass
class SecondOrderModel:
    """Value, gradient and a Hessian-vector product of ``f`` at ``x``, from one differentiable pass.

    ``hvp(v)`` reuses the graph of the gradient: each call is one double-backward pass.  That graph is one
    graph for the whole batch, so a product costs every configuration of it, also where ``v`` is zero;
    ``select(idx)`` rebuilds the model of the configurations ``idx`` alone (one differentiable pass on
    those rows), whose products then cost those rows only (the trust region's CG for the restarts still
    iterating: optim._active_hvp).
    """

    x: Tensor
    value: Tensor
    egrad: Tensor
    rgrad: Tensor
    _leaf: Tensor
    f: Objective | None = None  # what select() rebuilds from (None: a model that cannot be restricted)

    rebuilds = True  # select() is a new differentiable pass, not a slice (optim._active_hvp rebuilds sparingly)

    @property
    def selectable(self) -> bool:
        return self.f is not None

    def select(self, idx: Tensor) -> SecondOrderModel:
        """The model of the configurations ``idx`` of the batch alone, rebuilt from ``f`` (the objective is
        separable over the batch axis, so its rows are those of the whole batch's model)."""
        if self.f is None:
            raise ValueError("select: this model was built without its objective")
        return second_order_model(self.f, self.x[idx])

    def hvp(self, v: Tensor) -> Tensor:
        # d/dx <egrad(x), v> rather than grad_outputs=v: same product, but torch.autograd.grad with tensor
        # grad_outputs imports sympy (~0.3 s) on first use, which would dominate a one-second verify.
        ehv = _ehvp(self.egrad, v, self._leaf, retain_graph=True)
        return ehess_to_rhess(self.x, self.egrad.detach(), ehv, v)


def _ehvp(egrad: Tensor, v: Tensor, leaf: Tensor, retain_graph: bool = False) -> Tensor:
    """Euclidean Hessian-vector product d/dx <egrad(x), v>; zero when the gradient does not depend on x
    (a linear or constant loss: its gradient carries no graph)."""
    if not egrad.requires_grad:
        return torch.zeros_like(leaf)
    with torch.enable_grad():  # as value_and_egrad: a user module may have run torch.set_grad_enabled(False)
        (ehv,) = torch.autograd.grad((egrad * v).sum(), leaf, retain_graph=retain_graph, allow_unused=True)
    return torch.zeros_like(leaf) if ehv is None else ehv


def second_order_model(f: Objective, x: Tensor) -> SecondOrderModel:
    val, eg, leaf = value_and_egrad(f, x, create_graph=True)
    x = x.detach()
    return SecondOrderModel(x=x, value=val.detach(), egrad=eg, rgrad=project(x, eg.detach()), _leaf=leaf, f=f)


def hessian_vector_product(f: Objective, x: Tensor, v: Tensor) -> Tensor:
    """Riemannian Hess f(x)[v] for a tangent ``v``."""
    return second_order_model(f, x).hvp(v)


# --------------------------------------------------------------------------------------------------------
# tangent bases and the dense Riemannian Hessian (for certificates on small problems)


def tangent_basis(x: Tensor) -> Tensor:
    """Orthonormal basis of the tangent space of every row: shape (..., N, d, d-1).

    Columns 2..d of the Householder reflection that maps e_1 to -s x (s = sign x_1, s = 1 when x_1 = 0),
    which is numerically stable for every x.
    """
    d = x.shape[-1]
    s = torch.where(x[..., :1] >= 0, 1.0, -1.0).to(x.dtype)
    w = x.clone()
    w[..., :1] = w[..., :1] + s
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    h = eye - 2.0 * w.unsqueeze(-1) * w.unsqueeze(-2) / (w * w).sum(-1)[..., None, None]
    return h[..., :, 1:]


def tangent_basis_vectors(x: Tensor) -> Tensor:
    """The orthonormal basis of the tangent space at one configuration x (N, d) as n = N(d−1) tangent
    vectors of shape (N, d), each supported on one point (:func:`tangent_basis` of that point)."""
    n_pts, d = x.shape
    tb = tangent_basis(x)  # (N, d, d-1)
    basis = torch.zeros(n_pts, d - 1, n_pts, d, dtype=x.dtype, device=x.device)
    idx = torch.arange(n_pts, device=x.device)
    basis[idx, :, idx, :] = tb.transpose(-1, -2)
    return basis.reshape(n_pts * (d - 1), n_pts, d)


def riemannian_hessian_matrix(f: Objective, x: Tensor, *, chunk: int = 1024) -> tuple[Tensor, Tensor]:
    """The Riemannian Hessian of ``f`` at one configuration ``x`` (N, d), as a symmetric matrix in an
    orthonormal tangent basis: shape (n, n) with n = N (d - 1).  Returns ``(H, basis)`` with ``basis``
    of shape (n, N, d) (the tangent vectors the rows/columns refer to).

    H_ab = q_a' ehess q_b - (x_k . egrad_k) delta_ab for basis vectors q_a, q_b (q_b supported on point k).
    The n Hessian-vector products are computed on n copies of ``x`` stacked on the batch axis (the
    objective is separable over the batch), ``chunk`` copies per double-backward pass: one dispatch per
    chunk instead of one per basis vector, and no torch.func (whose import costs a second).
    """
    if x.dim() != 2:
        raise ArgumentError(f"x: expected one configuration of shape (N, d), got {tuple(x.shape)}")
    n_pts, d = x.shape
    x = x.detach()
    basis = tangent_basis_vectors(x)
    n = basis.shape[0]

    cols = []
    for start in range(0, n, chunk):
        v = basis[start:start + chunk]
        _, eg, leaf = value_and_egrad(f, x.expand(v.shape[0], n_pts, d), create_graph=True)
        with torch.enable_grad():
            ehv = _ehvp(eg, v, leaf)
        cols.append(ehv.detach())
    ehv = torch.cat(cols)
    eg = eg[0].detach()
    lam = (x * eg).sum(-1)  # (N,)
    h = torch.einsum("and,bnd->ab", basis, ehv)
    h = 0.5 * (h + h.T)
    h = h - torch.diag(lam.repeat_interleave(d - 1))
    return h, basis


# --------------------------------------------------------------------------------------------------------
# Taylor-slope checks of the derivatives


@dataclass
class TaylorCheck:
    """Slope of log |remainder| against log h over the range where it is dominated by truncation."""

    order: int  # 1 checks the gradient (expected slope 2), 2 checks the Hessian (expected slope 3)
    slope: float
    expected: float
    steps: list[float]
    errors: list[float]

    @property
    def passed(self) -> bool:
        # The remainder of a correct order-k expansion decays like h^{k+1}; a wrong derivative leaves an
        # O(h^k) term, i.e. a slope one lower.  Half a unit separates the two cases.
        return abs(self.slope - self.expected) < 0.5

    def to_dict(self) -> dict:
        return {"order": self.order, "slope": self.slope, "expected": self.expected, "passed": self.passed}


def taylor_check(f: Objective, x: Tensor, v: Tensor | None = None, *, order: int = 1,
                 generator: torch.Generator | None = None) -> TaylorCheck:
    """Check grad (order 1) or Hess (order 2) of ``f`` at one configuration ``x`` (1, N, d).

    Along the retraction curve c(h) = R_x(h v):  f(c(h)) - f(x) - h <grad, v> [- h^2/2 <v, Hess v>]
    must decay like h^2 [h^3].  R is second order, so the order-2 expansion is exact to O(h^3).
    """
    if v is None:
        gen = generator if generator is not None else torch.Generator(device=x.device).manual_seed(0)
        v = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
    v = project(x, v)
    v = v / norm(v)[..., None, None]
    model = second_order_model(f, x)
    f0 = model.value.sum().item()
    slope1 = inner(model.rgrad, v).sum().item()
    curv = inner(v, model.hvp(v)).sum().item() if order == 2 else 0.0
    hs = torch.logspace(-8, 0, 41).tolist()
    errs = []
    with torch.no_grad():
        for h in hs:
            fh = f(retract(x, h * v)).sum().item()
            pred = f0 + h * slope1 + (0.5 * h * h * curv if order == 2 else 0.0)
            errs.append(abs(fh - pred))
    # The asymptotic regime is the first two decades of h whose remainder is clear of round-off
    # (100 ulps of |f|); over it take the median of the local slopes, which is robust to the isolated dip
    # where the leading term crosses zero against the next one.
    floor = 100 * torch.finfo(x.dtype).eps * max(1.0, abs(f0))
    valid = [i for i, (h, e) in enumerate(zip(hs, errs, strict=False)) if e > floor and h <= 1e-1]
    if len(valid) < 3:  # the expansion is exact to round-off (e.g. f is quadratic along v)
        return TaylorCheck(order, float(order + 1), float(order + 1), hs, errs)
    first = valid[0]
    window = [i for i in valid if hs[i] <= 100 * hs[first]]
    local = sorted((math.log(errs[j]) - math.log(errs[i])) / (math.log(hs[j]) - math.log(hs[i]))
                   for i, j in zip(window, window[1:], strict=False) if j == i + 1)
    if not local:
        return TaylorCheck(order, float("nan"), float(order + 1), hs, errs)
    slope = local[len(local) // 2] if len(local) % 2 else 0.5 * (local[len(local) // 2 - 1] + local[len(local) // 2])
    return TaylorCheck(order, slope, float(order + 1), hs, errs)


def orbit_dimension(d: int, rank: int) -> int:
    """Dimension of the O(d)-orbit of a configuration spanning a rank-r subspace (SPEC §3):
    d(d-1)/2 - (d-r)(d-r-1)/2 (rotations that fix the span pointwise do not move it)."""
    if not 0 <= rank <= d:
        raise ArgumentError(f"rank: must lie in [0, d={d}], got {rank}")
    return d * (d - 1) // 2 - (d - rank) * (d - rank - 1) // 2
