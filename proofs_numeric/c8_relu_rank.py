"""C8 (SPEC §2, Tian 2022 §6): for a 2-layer ReLU network the fixed points of the α-CL max player (α fixed)
can have rank > 1 — unlike the deep linear network of C7, whose maxima are rank 1.

    python proofs_numeric/c8_relu_rank.py [--quick | --full] [--seed S] [--json PATH]

Data: 4 clusters in R³ whose centres (norm 3) point to the vertices of a regular tetrahedron (pairwise
cos = −1/3), M = 48 inputs, noise 0.15, augmentations drawn from the same cluster; α = InfoNCE weights (τ = 4)
at (X, X'), then held fixed.  Network f(x) = relu(W₁x) (W₂ = identity, K = 6 hidden nodes, every row of W₁ on
the unit sphere).  From random initialisations (4 with --quick, 12 in full) hemtools.networks.relu_fixed_point
runs the max player; for every run that converges it reports:

  * the relative Riemannian gradient measured with autograd (≤ 1e-10: a fixed point);
  * the margin min |w_k·x| over nodes and inputs (> 0: no input on a kink, so the energy is locally the
    quadratic form of each node's gated covariance and the fixed point is exact, not an artefact of a kink);
  * the rank of W₁ (singular values) and, per node, the top eigenvalues of its gated covariance C_k and
    w_kᵀC_k w_k (each node sits on an eigenvector of its own C_k — different C_k, hence rank > 1).

PASS if at least one converged fixed point with positive margin has rank > 1.  Control: the linear max
player on the same data and α (C7's max_player, widths 3-6-6) converges to rank 1.
"""

from __future__ import annotations

import sys

from _harness import main


def run(proof, args) -> None:
    import torch

    from hemtools import networks as N
    from hemtools.configurations import simplex_gram
    from hemtools.losses.alphacl import alpha_weights, contrastive_covariance

    g = torch.Generator().manual_seed(args.seed)
    inits = proof.pick(4, 12)
    M, K, noise = 48, 6, 0.15
    proof.set(M=M, n=3, hidden=K, noise=noise, tau=4.0, inits=inits, tol=1e-10, max_steps=400)
    G = simplex_gram(4)
    ev, evec = torch.linalg.eigh(G)
    centres = evec[:, 1:] * ev[1:].sqrt()
    centres = 3.0 * centres / centres.norm(dim=1, keepdim=True)
    labels = torch.arange(M) % 4
    X = centres[labels] + noise * torch.randn(M, 3, generator=g, dtype=torch.float64)
    Xp = centres[labels] + noise * torch.randn(M, 3, generator=g, dtype=torch.float64)
    alpha = alpha_weights(X, Xp, tau=4.0)
    found = []
    for i in range(inits):
        r = N.relu_fixed_point(X, Xp, alpha, K, max_steps=400, generator=g)
        line = (f"init {i}: {'converged' if r.converged else 'not converged'} after {r.iterations} steps, "
                f"relative gradient {r.grad_norm:.1e}, margin {r.margin:.3f}, rank {r.rank} "
                f"(singular values {', '.join(f'{s:.3f}' for s in r.singular_values.tolist())})")
        print("  " + line)
        if r.converged and r.margin > 0:
            found.append(r)
            for k, (ray, eig) in enumerate(zip(r.node_rayleigh, r.node_eigenvalues, strict=False)):
                print(f"      node {k}: w·C_k·w = {ray:.10f}, eigenvalues of C_k: {', '.join(f'{e:.4f}' for e in eig)}")
    if not found:
        proof.check(None, f"no run of {inits} converged to a fixed point with positive margin (nodes oscillating "
                    "across kinks); cannot exhibit one")
        return
    best = max(found, key=lambda r: (r.rank, r.margin))
    proof.number("fixed_point", best.to_dict())
    proof.number("converged_runs", len(found))
    proof.number("ranks", [r.rank for r in found])
    proof.check(best.grad_norm <= 1e-10, f"fixed point: relative Riemannian gradient (autograd) {best.grad_norm:.1e} "
                "<= 1e-10")
    proof.check(best.margin > 0, f"no input on a kink: margin min |w_k·x| = {best.margin:.4f} > 0")
    dist = [abs(ray - eig[0]) / eig[0] for ray, eig in zip(best.node_rayleigh, best.node_eigenvalues, strict=False)]
    proof.check(max(dist) <= 1e-9, f"every node sits on the top eigenvector of its gated covariance (w·C_k·w vs "
                f"λ_max(C_k): largest relative difference {max(dist):.1e})")
    proof.check(best.rank > 1, f"rank of W₁ at the fixed point: {best.rank} > 1 (singular values "
                f"{', '.join(f'{s:.4f}' for s in best.singular_values.tolist())}); ranks over the {len(found)} "
                f"converged runs: {[r.rank for r in found]}")
    C = contrastive_covariance(X, Xp, alpha)
    lin = N.max_player(C, (3, K, K), restarts=8, generator=g)
    proof.check(bool(lin.converged.all()) and bool((lin.ranks == 1).all()),
                f"control, linear network on the same data and α: ranks {sorted(set(lin.ranks.tolist()))}, "
                f"largest gradient {float(lin.grad_norms.max()):.1e}")


if __name__ == "__main__":
    sys.exit(main(run, claim="C8", statement="2-layer ReLU max player (α fixed) has fixed points of rank > 1",
                  doc=__doc__))
