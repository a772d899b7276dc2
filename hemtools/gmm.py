"""Contrastive learning in Gaussian mixtures (Bansal, Kavis & Sanghavi, "Understanding Contrastive Learning
via Gaussian Mixture Models"; SPEC C9, C10).

The seed's setting: a sample and its augmentation are a *coupled* draw from the mixture — both from the same
component c (with probability 1 − η; with probability η the augmentation comes from a uniformly drawn
component: noisy augmentations), each with its own within-component noise N(0, Σ), Σ shared and
non-isotropic.  InfoNCE on a linear encoder then finds the Fisher / LDA subspace span{Σ⁻¹(μ_c − μ̄)} — the
subspace a fully supervised LDA finds — and PCA need not: :func:`make_gmm` with ``nuisance_variance`` puts
the largest variances in directions orthogonal to the means, where PCA looks and the labels carry nothing.
The multimodal variant pairs x ∈ R^{D₁} and y ∈ R^{D₂} that share the component, and the CLIP loss (the
registered ``infonce`` in both directions) trains one linear encoder per modality.

Here: the mixture (:class:`GMM`, :func:`make_gmm`, :func:`sample_pairs`, :func:`sample_multimodal`), the
population Fisher subspace, LDA and PCA baselines, encoders trained with the registered losses
(:func:`train_infonce_encoder`, :func:`train_clip_encoders`), principal angles (scipy.linalg.subspace_angles),
k-means and the adjusted Rand index (numpy; no scikit-learn dependency).  Float64 throughout; every random
draw takes a torch.Generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import ArgumentError
from .validators import require_array, require_int

Tensor = torch.Tensor


# --------------------------------------------------------------------------------------------------------
# validation


def _array(x, name: str, ndim: int) -> np.ndarray:
    return require_array(name, x, ndim).detach().cpu().numpy()


def _labels(labels, n: int) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    lab = np.asarray(labels)
    if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
        raise ArgumentError(f"labels: expected {n} integer labels, got shape {lab.shape} of {lab.dtype}")
    return lab


def _int(x, name: str, low: int) -> int:
    return require_int(name, x, low)


def _positive(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not (x > 0 and math.isfinite(x)):
        raise ArgumentError(f"{name}: expected a finite number > 0, got {x!r}")
    return float(x)


def _probability(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not (0.0 <= x < 1.0):
        raise ArgumentError(f"{name}: expected a number in [0, 1), got {x!r}")
    return float(x)


# --------------------------------------------------------------------------------------------------------
# the mixture


@dataclass
class GMM:
    """k components with means (k, D), one shared covariance (D, D), uniform weights."""

    means: Tensor
    cov: Tensor
    chol: Tensor = field(repr=False)
    nuisance: Tensor = field(repr=False)  # (D, m) orthonormal: the high-variance directions (PCA's trap)

    @property
    def k(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def to_dict(self) -> dict:
        return {"means": self.means.tolist(), "cov": self.cov.tolist()}


def _random_orthogonal(D: int, g: torch.Generator) -> Tensor:
    Q, R = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))
    return Q * torch.sign(torch.diagonal(R))


def make_gmm(k: int, D: int, *, separation: float = 3.0, nuisance: int | None = None,
             nuisance_variance: float = 25.0, anisotropy: float = 10.0,
             generator: torch.Generator | None = None) -> GMM:
    """The seed's non-isotropic mixture, built so that PCA fails.

    In a random orthonormal basis q_1 … q_D: the means are a regular simplex of radius ``separation`` in
    span(q_1 … q_{k−1}); ``nuisance`` (default k − 1) directions orthogonal to it have variance
    ``nuisance_variance`` (larger than the spread of the means: PCA picks them); the mean span and k − 1 further
    directions share a random covariance block with eigenvalues log-spaced from anisotropy^(−1/2) to
    anisotropy^(1/2) (condition number ``anisotropy``), so that Σ is not isotropic and the Fisher directions
    Σ⁻¹(μ_c − μ̄) are tilted away from the means; the remaining directions have unit variance.
    """
    k, D = _int(k, "k", 2), _int(D, "D", 2)
    m = k - 1 if nuisance is None else _int(nuisance, "nuisance", 0)
    if 2 * (k - 1) + m > D:
        raise ArgumentError(f"D: expected at least 2(k − 1) + nuisance = {2 * (k - 1) + m} dimensions, got {D}")
    separation = _positive(separation, "separation")
    nuisance_variance = _positive(nuisance_variance, "nuisance_variance")
    anisotropy = _positive(anisotropy, "anisotropy")
    Q = _random_orthogonal(D, generator)
    # simplex of k points in R^{k−1}: centred standard basis of R^k, expressed in an orthonormal basis
    E = torch.eye(k, dtype=torch.float64) - 1.0 / k
    U = torch.linalg.svd(E).U
    simplex = E @ U[:, : k - 1]
    simplex = separation * simplex / simplex.norm(dim=1, keepdim=True)
    means = simplex @ Q[:, : k - 1].T
    var = torch.ones(D, dtype=torch.float64)
    var[k - 1 : k - 1 + m] = nuisance_variance
    S_ = torch.diag(var)
    block = list(range(k - 1)) + list(range(k - 1 + m, 2 * (k - 1) + m))
    R = _random_orthogonal(len(block), generator)
    ev = torch.logspace(-0.5 * math.log10(anisotropy), 0.5 * math.log10(anisotropy), len(block), dtype=torch.float64)
    S_[np.ix_(block, block)] = R @ torch.diag(ev) @ R.T
    cov = Q @ S_ @ Q.T
    cov = 0.5 * (cov + cov.T)
    return GMM(means, cov, torch.linalg.cholesky(cov), Q[:, k - 1 : k - 1 + m])


def _draw(gmm: GMM, comp: Tensor, g: torch.Generator | None) -> Tensor:
    z = torch.randn(comp.shape[0], gmm.dim, generator=g, dtype=torch.float64)
    return gmm.means[comp] + z @ gmm.chol.T


def _components(n: int, k: int, g) -> Tensor:
    return torch.randint(k, (n,), generator=g)


def _coupled(comp: Tensor, k: int, noise: float, g) -> Tensor:
    swap = torch.rand(comp.shape[0], generator=g, dtype=torch.float64) < noise
    return torch.where(swap, _components(comp.shape[0], k, g), comp)


def sample_pairs(gmm: GMM, n: int, *, noise: float = 0.0, generator: torch.Generator | None = None):
    """n coupled pairs (x, x') and the labels of x: x' is from x's component with probability 1 − ``noise``,
    else from a uniformly drawn one; the within-component noises are independent."""
    n = _int(n, "n", 1)
    noise = _probability(noise, "noise")
    c = _components(n, gmm.k, generator)
    return _draw(gmm, c, generator), _draw(gmm, _coupled(c, gmm.k, noise, generator), generator), c


def sample_multimodal(gmm_x: GMM, gmm_y: GMM, n: int, *, noise: float = 0.0, generator: torch.Generator | None = None):
    """n pairs (x, y) of two modalities sharing the component (y's component is redrawn with probability
    ``noise``), with the labels of x."""
    if gmm_x.k != gmm_y.k:
        raise ArgumentError(f"gmm_y: expected {gmm_x.k} components like gmm_x, got {gmm_y.k}")
    n = _int(n, "n", 1)
    noise = _probability(noise, "noise")
    c = _components(n, gmm_x.k, generator)
    return _draw(gmm_x, c, generator), _draw(gmm_y, _coupled(c, gmm_x.k, noise, generator), generator), c


# --------------------------------------------------------------------------------------------------------
# subspaces


def orthonormal_basis(A) -> np.ndarray:
    """(D, r) orthonormal basis of the column span of A (D, r) (thin QR)."""
    A = _array(A, "A", 2)
    Q, _ = np.linalg.qr(A)
    return Q


def fisher_subspace(gmm: GMM) -> np.ndarray:
    """(D, k − 1) orthonormal basis of the population Fisher / LDA subspace span{Σ⁻¹(μ_c − μ̄)}."""
    mu = gmm.means.numpy()
    return orthonormal_basis(np.linalg.solve(gmm.cov.numpy(), (mu - mu.mean(0)).T))


def scatter_matrices(X, labels) -> tuple[np.ndarray, np.ndarray]:
    """Between-class S_b = Σ_c n_c (m_c − m)(m_c − m)ᵀ / n and within-class S_w = Σ_c Σ_{i∈c} (x_i − m_c)(…)ᵀ / n."""
    X = _array(X, "X", 2)
    lab = _labels(labels, X.shape[0])
    classes = np.unique(lab)
    if classes.size < 2:
        raise ArgumentError(f"labels: expected at least k = 2 classes, got {classes.size}")
    m = X.mean(0)
    D = X.shape[1]
    Sb, Sw = np.zeros((D, D)), np.zeros((D, D))
    for c in classes:
        Xc = X[lab == c]
        d = Xc.mean(0) - m
        Sb += Xc.shape[0] * np.outer(d, d)
        R = Xc - Xc.mean(0)
        Sw += R.T @ R
    return Sb / X.shape[0], Sw / X.shape[0]


def lda_directions(X, labels, dim: int | None = None) -> np.ndarray:
    """(D, dim) discriminant directions (default k − 1): the top generalised eigenvectors of S_b v = λ S_w v,
    computed by whitening S_w (Cholesky), normalised so that Vᵀ S_w V = I (LDA's transform X ↦ X V)."""
    X = _array(X, "X", 2)
    Sb, Sw = scatter_matrices(X, labels)
    k = np.unique(_labels(labels, X.shape[0])).size
    dim = k - 1 if dim is None else _int(dim, "dim", 1)
    if dim > X.shape[1]:
        raise ArgumentError(f"dim: expected at most {X.shape[1]} (the data dimension), got {dim}")
    L = np.linalg.cholesky(Sw)
    Li = np.linalg.inv(L)
    _, U = np.linalg.eigh(Li @ Sb @ Li.T)
    return Li.T @ U[:, ::-1][:, :dim]


def lda_subspace(X, labels, dim: int | None = None) -> np.ndarray:
    """Orthonormal basis of the span of :func:`lda_directions`."""
    return orthonormal_basis(lda_directions(X, labels, dim))


def pca_subspace(X, dim: int) -> np.ndarray:
    """(D, dim) top principal directions of the centred data."""
    X = _array(X, "X", 2)
    dim = _int(dim, "dim", 1)
    if dim > X.shape[1]:
        raise ArgumentError(f"dim: expected at most {X.shape[1]} (the data dimension), got {dim}")
    R = X - X.mean(0)
    _, V = np.linalg.eigh(R.T @ R)
    return V[:, ::-1][:, :dim]


def principal_angles(A, B) -> np.ndarray:
    """Principal angles (radians, descending) between the column spans of A and B (scipy.linalg.subspace_angles)."""
    from scipy.linalg import subspace_angles

    return subspace_angles(_array(A, "A", 2), _array(B, "B", 2))


# --------------------------------------------------------------------------------------------------------
# encoders trained with the registered losses


def _adam(params: list[Tensor], grads: list[Tensor], state: dict, lr: float, t: int) -> list[Tensor]:
    out = []
    for i, (p, g) in enumerate(zip(params, grads, strict=False)):
        m, v = state.setdefault(i, (torch.zeros_like(p), torch.zeros_like(p)))
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        state[i] = (m, v)
        out.append(p - lr * (m / (1 - 0.9**t)) / ((v / (1 - 0.999**t)).sqrt() + 1e-12))
    return out


def _normalise(Z: Tensor) -> Tensor:
    return Z / Z.norm(dim=-1, keepdim=True).clamp_min(1e-300)


@dataclass
class TrainedEncoder:
    """Linear encoder(s) x ↦ A x / ‖A x‖ and the loss history (mean per 50 steps)."""

    weights: list[Tensor] = field(repr=False)
    losses: list[float]
    steps: int

    def subspace(self, i: int = 0) -> np.ndarray:
        """Orthonormal basis (D, r) of encoder i's row space: the subspace it reads."""
        return orthonormal_basis(self.weights[i].T.numpy())

    def embed(self, X, i: int = 0) -> Tensor:
        return _normalise(torch.as_tensor(_array(X, "X", 2)) @ self.weights[i].T)

    def to_dict(self) -> dict:
        return {"weights": [w.tolist() for w in self.weights], "losses": self.losses, "steps": self.steps}


def _train(
    views: list[Tensor],
    dim: int,
    loss_fn,
    *,
    steps: int,
    batch: int,
    lr: float,
    tau: float,
    generator: torch.Generator | None,
) -> TrainedEncoder:
    n = views[0].shape[0]
    encoders = views[:1] if loss_fn is None else views  # InfoNCE: one encoder for both views; CLIP: one each
    Ws = [
        torch.randn(dim, v.shape[1], generator=generator, dtype=torch.float64) / math.sqrt(v.shape[1]) for v in encoders
    ]
    state: dict = {}
    losses, acc = [], 0.0
    for t in range(1, steps + 1):
        idx = torch.randperm(n, generator=generator)[:batch]
        params = [W.clone().requires_grad_(True) for W in Ws]
        U = _normalise(views[0][idx] @ params[0].T)
        V = _normalise(views[1][idx] @ params[-1].T)
        L = infonce_loss(U, V, tau) if loss_fn is None else loss_fn(U, V, tau)
        grads = torch.autograd.grad(L, params)
        Ws = _adam(Ws, list(grads), state, lr, t)
        acc += float(L.detach())
        if t % 50 == 0:
            losses.append(acc / 50)
            acc = 0.0
    return TrainedEncoder(Ws, losses, steps)


def infonce_loss(U: Tensor, V: Tensor, tau: float = 0.5) -> Tensor:
    """The registered ``infonce`` on one batch of pairs (M, r)."""
    from .losses import get_loss

    return get_loss("infonce")(U.unsqueeze(0), V.unsqueeze(0), tau=tau).sum()


def clip_loss(U: Tensor, V: Tensor, tau: float = 0.5) -> Tensor:
    """CLIP: ½ (InfoNCE(U → V) + InfoNCE(V → U)) with the registered ``infonce`` (Radford et al. 2021)."""
    from .losses import get_loss

    infonce = get_loss("infonce")
    return (
        0.5
        * (infonce(U.unsqueeze(0), V.unsqueeze(0), tau=tau) + infonce(V.unsqueeze(0), U.unsqueeze(0), tau=tau)).sum()
    )


def _check_training(X, Xp, dim, steps, batch, lr, tau, name_p="Xp"):
    X = torch.as_tensor(_array(X, "X", 2))
    Xp = torch.as_tensor(_array(Xp, name_p, 2))
    if Xp.shape[0] != X.shape[0]:
        raise ArgumentError(f"{name_p}: expected {X.shape[0]} rows like X, got {Xp.shape[0]}")
    dim = _int(dim, "dim", 1)
    steps = _int(steps, "steps", 1)
    batch = _int(batch, "batch", 2)
    return X, Xp, dim, steps, min(batch, X.shape[0]), _positive(lr, "lr"), _positive(tau, "tau")


def train_infonce_encoder(
    X,
    Xp,
    dim: int,
    *,
    steps: int = 600,
    batch: int = 256,
    lr: float = 0.02,
    tau: float = 0.5,
    generator: torch.Generator | None = None,
) -> TrainedEncoder:
    """One linear encoder A (dim × D), embeddings A x/‖A x‖, trained on the pairs (X, X') with the registered
    ``infonce`` loss (mini-batches of ``batch`` pairs, Adam)."""
    X, Xp, dim, steps, batch, lr, tau = _check_training(X, Xp, dim, steps, batch, lr, tau)
    if Xp.shape[1] != X.shape[1]:
        raise ArgumentError(f"Xp: expected {X.shape[1]} columns like X, got {Xp.shape[1]}")
    return _train([X, Xp], dim, None, steps=steps, batch=batch, lr=lr, tau=tau, generator=generator)


def train_clip_encoders(
    X,
    Y,
    dim: int,
    *,
    steps: int = 600,
    batch: int = 256,
    lr: float = 0.02,
    tau: float = 0.5,
    generator: torch.Generator | None = None,
) -> TrainedEncoder:
    """Two linear encoders A (dim × D₁), B (dim × D₂) trained on the pairs (x_i, y_i) with :func:`clip_loss`."""
    X, Y, dim, steps, batch, lr, tau = _check_training(X, Y, dim, steps, batch, lr, tau, "Y")
    return _train([X, Y], dim, clip_loss, steps=steps, batch=batch, lr=lr, tau=tau, generator=generator)


# --------------------------------------------------------------------------------------------------------
# clustering


def kmeans(
    Z, k: int, *, restarts: int = 5, iterations: int = 100, generator: torch.Generator | None = None
) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding, best of ``restarts`` (lowest within-cluster sum of squares)."""
    Z = _array(Z, "Z", 2)
    k = _int(k, "k", 2)
    if k > Z.shape[0]:
        raise ArgumentError(f"k: expected at most {Z.shape[0]} clusters (the number of points), got {k}")
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator)) if generator is not None else 0
    rng = np.random.default_rng(seed)
    best = (math.inf, None)
    for _ in range(_int(restarts, "restarts", 1)):
        C = Z[rng.integers(Z.shape[0])][None]
        for _ in range(1, k):
            d2 = ((Z[:, None, :] - C[None]) ** 2).sum(-1).min(1)
            p = d2 / d2.sum() if d2.sum() > 0 else None
            C = np.vstack([C, Z[rng.choice(Z.shape[0], p=p)]])
        lab = np.zeros(Z.shape[0], dtype=int)
        for it in range(iterations):
            new = ((Z[:, None, :] - C[None]) ** 2).sum(-1).argmin(1)
            if it and (new == lab).all():
                break
            lab = new
            C = np.stack([Z[lab == j].mean(0) if (lab == j).any() else C[j] for j in range(k)])
        sse = float(((Z - C[lab]) ** 2).sum())
        if sse < best[0]:
            best = (sse, lab)
    return best[1]


def adjusted_rand_index(a, b) -> float:
    """Hubert & Arabie's adjusted Rand index of two labelings (1: identical partitions, ~0: chance)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ArgumentError(f"b: expected labels of the shape of a {a.shape}, got {b.shape}")
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    T = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(T, (ai, bi), 1)

    def comb2(x):
        return (x * (x - 1) / 2.0).sum()

    s, sa, sb, tot = comb2(T), comb2(T.sum(1)), comb2(T.sum(0)), comb2(np.array([float(a.size)]))
    expected = sa * sb / tot if tot else 0.0
    top = 0.5 * (sa + sb)
    return 1.0 if top == expected else float((s - expected) / (top - expected))


def cluster_ari(Z, labels, k: int, *, generator: torch.Generator | None = None) -> float:
    """ARI between k-means on the representation Z and the true components."""
    Z = _array(Z, "Z", 2)
    return adjusted_rand_index(kmeans(Z, k, generator=generator), _labels(labels, Z.shape[0]))
