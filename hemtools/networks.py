"""The α-CL max player on small networks (Tian 2022, §4 and §6; SPEC C7, C8).

With α held fixed, the max player maximises the contrastive energy of the network's outputs,

    E_α(θ) = alpha_energy(f_θ(X), f_θ(X'), α)     (hemtools.losses.alphacl, SPEC's E_α, no factor ½).

Deep linear network f(x) = W_L ⋯ W_1 x (depth L ≥ 2).  Then E_α = ½ tr(W C_α Wᵀ) with W = W_L ⋯ W_1 and
C_α = contrastive_covariance(X, X', α) of the *inputs*, and, as in Tian's Theorem 4, every layer is kept on
its Frobenius unit sphere ‖W_l‖_F = 1.  Since ‖W‖_F ≤ Π‖W_l‖_F = 1, E_α ≤ ½ λ_max(C_α): the global value is
half the top eigenvalue, attained by rank-1 layers W_l = v_l v_{l−1}ᵀ with v_0 the top eigenvector of C_α
(PCA); Tian shows that (almost) every local maximum is of this form.  The gradient in closed form is

    ∂E/∂W_l = ½ A_lᵀ W (C + Cᵀ) B_lᵀ,   A_l = W_L ⋯ W_{l+1},  B_l = W_{l−1} ⋯ W_1,

and the max player is Riemannian gradient ascent on the product of spheres (step, then renormalise).

Two-layer ReLU network f(x) = W_2 relu(W_1 x) with W_2 fixed (default the identity: each hidden node is one
output coordinate) and every row w_k of W_1 on the unit sphere (per-node normalisation, Tian §6).  Where no
input lies on a kink (w_k·x ≠ 0 for every x in X, X') the energy is locally the quadratic form of the
*gated* contrastive covariance, so a fixed point is an eigenvector of each node's gated covariance — and
different nodes can sit on different eigenvectors: the fixed point can have rank > 1 (Tian §6, C8).
:func:`relu_fixed_point` reports the margin min |w_k·x| that makes this local analysis exact.

Functional core on plain float64 tensors; results are dataclasses with ``to_dict()``.  Batched: layer
tensors may carry a leading restart dimension (R, n_l, n_{l−1}).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import torch

from .errors import ArgumentError
from .losses.alphacl import alpha_energy
from .validators import require_array, require_int

Tensor = torch.Tensor

#: a singular value counts towards the rank when above RANK_RTOL · the largest (float64 round-off at these
#: sizes is ~1e-15; a converged max player's residual directions are ~‖grad‖/gap ≈ 1e-9)
RANK_RTOL = 1e-6


# --------------------------------------------------------------------------------------------------------
# validation


def _matrix(x, name: str, *, square: bool = False, batched: bool = False) -> Tensor:
    return require_array(name, x, (2, 3) if batched else 2, square=square)


def _int(x, name: str, low: int) -> int:
    return require_int(name, x, low, numpy=False)


def check_dims(dims) -> tuple[int, ...]:
    """Layer widths (n_0, n_1, …, n_L) of a deep linear network: L ≥ 2 layers, every width ≥ 1."""
    try:
        dims = tuple(dims)
    except TypeError as e:
        raise ArgumentError(f"dims: expected a sequence of layer widths (n_0, …, n_L), got {dims!r}") from e
    if len(dims) < 3:
        raise ArgumentError(f"dims: a deep network needs depth L >= 2, i.e. at least 3 widths, got {dims!r}")
    for n in dims:
        _int(n, "dims", 1)
    return dims


# --------------------------------------------------------------------------------------------------------
# deep linear networks


def product(weights: list[Tensor]) -> Tensor:
    """W = W_L ⋯ W_1 for layers [W_1, …, W_L] (each (…, n_l, n_{l−1}))."""
    W = weights[0]
    for Wl in weights[1:]:
        W = Wl @ W
    return W


def deep_linear_forward(weights: list[Tensor], X: Tensor) -> Tensor:
    """Outputs f(x_i) = W_L ⋯ W_1 x_i for the rows of X (M, n_0) → (…, M, n_L)."""
    return X @ product(weights).transpose(-1, -2)


def deep_linear_energy(weights: list[Tensor], C: Tensor) -> Tensor:
    """E(θ) = ½ tr(W C Wᵀ), W = W_L ⋯ W_1 (→ (…,))."""
    W = product(weights)
    return 0.5 * torch.einsum("...ab,bc,...ac->...", W, C, W)


def deep_linear_gradient(weights: list[Tensor], C: Tensor) -> list[Tensor]:
    """∂E/∂W_l = ½ A_lᵀ W (C + Cᵀ) B_lᵀ in closed form (A_l the layers above l, B_l those below)."""
    W = product(weights)
    WC = 0.5 * W @ (C + C.transpose(-1, -2))
    grads = []
    for layer in range(len(weights)):
        G = WC
        if layer + 1 < len(weights):
            G = product(weights[layer + 1:]).transpose(-1, -2) @ G
        if layer > 0:
            G = G @ product(weights[:layer]).transpose(-1, -2)
        grads.append(G)
    return grads


def _frobenius(W: Tensor) -> Tensor:
    return W.pow(2).sum((-2, -1), keepdim=True).sqrt()


def tangent(weights: list[Tensor], grads: list[Tensor]) -> list[Tensor]:
    """Project Euclidean gradients onto the tangent spaces of the unit Frobenius spheres of the layers."""
    return [G - (G * W).sum((-2, -1), keepdim=True) * W for W, G in zip(weights, grads, strict=False)]


def random_layers(dims, restarts: int | None = None, *, generator: torch.Generator | None = None) -> list[Tensor]:
    """Gaussian layers normalised to ‖W_l‖_F = 1; with ``restarts`` a leading batch axis of that size."""
    dims = check_dims(dims)
    lead = () if restarts is None else (_int(restarts, "restarts", 1),)
    out = []
    for a, b in itertools.pairwise(dims):
        W = torch.randn(*lead, b, a, generator=generator, dtype=torch.float64)
        out.append(W / _frobenius(W))
    return out


@dataclass
class MaxPlayerResult:
    """Riemannian gradient ascent of E(θ) = ½ tr(W C Wᵀ) on normalised layers, one row per restart."""

    dims: tuple[int, ...]
    weights: list[Tensor] = field(repr=False)
    values: Tensor  # E at the end of each restart
    grad_norms: Tensor  # ‖Riemannian gradient‖ / ‖C‖₂, relative
    converged: Tensor  # grad_norms <= tol
    iterations: int
    top_eigenvalue: float  # λ_max(C)
    global_value: float  # ½ λ_max(C): the upper bound ½ ‖W‖_F² λ_max, attained by PCA
    alignment: Tensor  # |cos| between W's top right singular vector and C's top eigenvector
    ranks: Tensor  # rank of W (singular values above RANK_RTOL · the largest)
    layer_ranks: Tensor  # (R, L)
    eigenvalues: Tensor = field(repr=False)  # of C, descending
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"dims": list(self.dims), "values": self.values.tolist(), "grad_norms": self.grad_norms.tolist(),
                "converged": self.converged.tolist(), "iterations": self.iterations,
                "top_eigenvalue": self.top_eigenvalue, "global_value": self.global_value,
                "alignment": self.alignment.tolist(), "ranks": self.ranks.tolist(),
                "layer_ranks": self.layer_ranks.tolist(), "eigenvalues": self.eigenvalues.tolist(),
                "seconds": self.seconds}


def numerical_rank(A: Tensor, rtol: float = RANK_RTOL) -> Tensor:
    """Number of singular values above ``rtol`` times the largest (batched)."""
    s = torch.linalg.svdvals(A)
    return (s > rtol * s[..., :1]).sum(-1)


def max_player(C, dims, *, restarts: int = 50, max_steps: int = 20000, lr: float = 0.3, tol: float = 1e-10,
               generator: torch.Generator | None = None, weights: list[Tensor] | None = None) -> MaxPlayerResult:
    """The α-CL max player with α fixed on a deep linear network of widths ``dims`` = (n_0, …, n_L).

    C is the (n_0, n_0) contrastive covariance of the inputs (symmetric).  Each restart starts from
    :func:`random_layers` (or ``weights``) and takes steps W_l ← normalise(W_l + lr/‖C‖₂ · grad_l E) until
    the relative Riemannian gradient is below ``tol`` or ``max_steps`` is reached.  (lr = 1 can settle into a
    period-2 oscillation between layers; 0.3 converges geometrically in the tests.)
    """
    import time

    t0 = time.perf_counter()
    dims = check_dims(dims)
    C = _matrix(C, "C", square=True)
    if C.shape[0] != dims[0]:
        raise ArgumentError(f"C: expected shape ({dims[0]}, {dims[0]}) to match dims[0], got {tuple(C.shape)}")
    if not bool(torch.allclose(C, C.T, rtol=1e-12, atol=1e-12 * float(C.abs().max()))):
        raise ArgumentError("C: expected a symmetric matrix (a contrastive covariance)")
    restarts = _int(restarts, "restarts", 1)
    max_steps = _int(max_steps, "max_steps", 1)
    for name, v in (("lr", lr), ("tol", tol)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and math.isfinite(v)):
            raise ArgumentError(f"{name}: expected a finite number > 0, got {v!r}")
    evals, evecs = torch.linalg.eigh(C)
    scale = float(evals.abs().max())
    if scale == 0.0:
        raise ArgumentError("C: is zero; the energy is constant")
    Ws = [w.clone() for w in weights] if weights is not None else random_layers(dims, restarts, generator=generator)
    step = lr / scale
    it = 0
    for it in range(1, max_steps + 1):  # noqa: B007 (it counts the steps taken; read after the loop)
        R = tangent(Ws, deep_linear_gradient(Ws, C))
        gnorm = torch.sqrt(sum(r.pow(2).sum((-2, -1)) for r in R)) / scale
        if bool((gnorm <= tol).all()):
            break
        Ws = [W + step * r for W, r in zip(Ws, R, strict=False)]
        Ws = [W / _frobenius(W) for W in Ws]
    R = tangent(Ws, deep_linear_gradient(Ws, C))
    gnorm = torch.sqrt(sum(r.pow(2).sum((-2, -1)) for r in R)) / scale
    W = product(Ws)
    top = evecs[:, -1]
    _, _, Vh = torch.linalg.svd(W)
    align = (Vh[..., 0, :] @ top).abs()
    return MaxPlayerResult(dims, Ws, deep_linear_energy(Ws, C), gnorm, gnorm <= tol, it, float(evals[-1]),
                           0.5 * float(evals[-1]), align, numerical_rank(W),
                           torch.stack([numerical_rank(Wl) for Wl in Ws], -1), evals.flip(0),
                           time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------------
# two-layer ReLU networks


def relu_forward(W1: Tensor, X: Tensor, W2: Tensor | None = None) -> Tensor:
    """f(x) = W2 relu(W1 x) for the rows of X (M, n) → (M, K) (W2 = identity when None)."""
    H = torch.relu(X @ W1.transpose(-1, -2))
    return H if W2 is None else H @ W2.transpose(-1, -2)


def relu_energy(W1: Tensor, X: Tensor, Xp: Tensor, alpha: Tensor, W2: Tensor | None = None) -> Tensor:
    """E_α of the outputs: alpha_energy(f(X), f(X'), α) (SPEC's E_α, α fixed)."""
    return alpha_energy(relu_forward(W1, X, W2), relu_forward(W1, Xp, W2), alpha)


def _unit_rows(W: Tensor) -> Tensor:
    return W / W.norm(dim=-1, keepdim=True)


def _relu_grad(W1, X, Xp, alpha, W2):
    W = W1.detach().requires_grad_(True)
    E = relu_energy(W, X, Xp, alpha, W2)
    (G,) = torch.autograd.grad(E, W)
    G = G.detach()
    R = G - (G * W1).sum(-1, keepdim=True) * W1  # tangent to every row's sphere
    return float(E.detach()), G, R


def gated_covariances(W1: Tensor, X: Tensor, Xp: Tensor, alpha: Tensor) -> Tensor:
    """(K, n, n): node k's energy is ½ w_kᵀ C_k w_k near W1 when no input lies on its kink, with
    C_k = contrastive_covariance of the gated inputs x·1[w_k·x > 0] (W2 = identity)."""
    from .losses.alphacl import contrastive_covariance

    gx = X * (X @ W1.T > 0).to(X.dtype).T.unsqueeze(-1)  # (K, M, n)
    gxp = Xp * (Xp @ W1.T > 0).to(X.dtype).T.unsqueeze(-1)
    return contrastive_covariance(gx, gxp, alpha.expand(W1.shape[0], *alpha.shape))


@dataclass
class ReluFixedPoint:
    """A point the ReLU max player converged to, with what certifies it."""

    W1: Tensor = field(repr=False)
    value: float
    grad_norm: float  # ‖Riemannian gradient‖ / ‖Euclidean gradient‖
    converged: bool
    iterations: int
    margin: float  # min over nodes and inputs of |w_k·x| (> 0: no input on a kink, the local form is exact)
    singular_values: Tensor  # of W1
    rank: int
    node_eigenvalues: list[list[float]]  # eigenvalues of each node's gated covariance, descending
    node_rayleigh: list[float]  # w_kᵀ C_k w_k: which eigenvalue each node sits on
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"W1": self.W1.tolist(), "value": self.value, "grad_norm": self.grad_norm,
                "converged": self.converged, "iterations": self.iterations, "margin": self.margin,
                "singular_values": self.singular_values.tolist(), "rank": self.rank,
                "node_eigenvalues": self.node_eigenvalues, "node_rayleigh": self.node_rayleigh,
                "seconds": self.seconds}


def relu_fixed_point(X, Xp, alpha, hidden: int | None = None, *, W1=None, W2=None, max_steps: int = 20000,
                     lr: float = 0.5, tol: float = 1e-10, generator: torch.Generator | None = None) -> ReluFixedPoint:
    """Riemannian gradient ascent of E_α(W1) over unit rows of W1 (K × n), W2 fixed, from a random (or the
    given) W1, until ‖grad_R‖ ≤ tol·‖grad‖.  With W2 = identity the nodes decouple and node k steps by
    lr / λ_max(C_k) along C_k w_k (closed form); the returned gradient norm is measured with autograd."""
    import time

    t0 = time.perf_counter()
    X = _matrix(X, "X")
    Xp = _matrix(Xp, "Xp")
    if Xp.shape != X.shape:
        raise ArgumentError(f"Xp: expected the shape of X {tuple(X.shape)}, got {tuple(Xp.shape)}")
    alpha = _matrix(alpha, "alpha")
    M, n = X.shape
    if alpha.shape not in ((M, M), (M, 2 * M)):
        raise ArgumentError(f"alpha: expected shape ({M}, {M}) or ({M}, {2 * M}), got {tuple(alpha.shape)}")
    if W1 is None:
        K = _int(hidden, "hidden", 1)
        W1 = torch.randn(K, n, generator=generator, dtype=torch.float64)
    else:
        W1 = _matrix(W1, "W1")
        if W1.shape[1] != n:
            raise ArgumentError(f"W1: expected {n} columns (the input dimension), got shape {tuple(W1.shape)}")
    W1 = _unit_rows(W1)
    if W2 is not None:
        W2 = _matrix(W2, "W2")
        if W2.shape[1] != W1.shape[0]:
            raise ArgumentError(f"W2: expected {W1.shape[0]} columns (hidden nodes), got shape {tuple(W2.shape)}")
    max_steps = _int(max_steps, "max_steps", 1)
    it = 0
    for it in range(1, max_steps + 1):  # noqa: B007 (it counts the steps taken; read after the loop)
        if W2 is None:  # the gradient in closed form: node k's is C_k w_k (the autograd one is checked below)
            Cs = gated_covariances(W1, X, Xp, alpha)
            G = torch.einsum("kab,kb->ka", Cs, W1)
            R = G - (G * W1).sum(-1, keepdim=True) * W1
            # per-node step lr / λ_max(C_k): each node is a Rayleigh quotient of its own gated covariance
            step = lr / torch.linalg.eigvalsh(Cs).abs().amax(-1).clamp_min(1e-300).unsqueeze(-1)
        else:
            _, G, R = _relu_grad(W1, X, Xp, alpha, W2)
            step = lr / max(float(G.norm()), 1e-300)
        if float(R.norm()) <= 1e-2 * tol * max(float(G.norm()), 1e-300):  # well below tol: certified below
            break
        W1 = _unit_rows(W1 + step * R)
    E, G, R = _relu_grad(W1, X, Xp, alpha, W2)
    gn = float(R.norm()) / max(float(G.norm()), 1e-300)
    Z = torch.cat([X, Xp]) @ W1.T
    Cs = gated_covariances(W1, X, Xp, alpha)
    ev = torch.linalg.eigvalsh(Cs).flip(-1)
    s = torch.linalg.svdvals(W1)
    return ReluFixedPoint(W1, E, gn, gn <= tol, it, float(Z.abs().min()), s, int((s > RANK_RTOL * s[0]).sum()),
                          ev.tolist(), [float(w @ Ck @ w) for w, Ck in zip(W1, Cs, strict=False)],
                          time.perf_counter() - t0)
