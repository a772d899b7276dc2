"""C7 (SPEC §2, Tian 2022 §4): the α-CL max player with α fixed on a deep linear network is PCA of C_α;
its local maxima are global and rank 1.

    python proofs_numeric/c7_deep_linear_pca.py [--quick | --full] [--seed S] [--json PATH]

Data: M inputs x_i ∈ R^10 with anisotropic scales, augmentations x'_i = x_i + 0.3 ξ_i; α = the InfoNCE
weights (hemtools.losses.alphacl.alpha_weights, τ = 4) at (X, X'), then held fixed; C_α =
contrastive_covariance(X, X', α) (E_α(W) = ½ tr(W C_α Wᵀ) for a linear network, checked first).  For depth 2
(widths 10-6-4) and depth 3 (10-8-6-4), ≥ 50 random initialisations each (25 with --quick), the max player
(hemtools.networks.max_player: Riemannian gradient ascent, every layer on its Frobenius unit sphere as in
Tian's Theorem 4) runs until the relative Riemannian gradient is ≤ 1e-10.  PASS requires:

  * every run converged;
  * |cos| between W = W_L ⋯ W_1's top right singular vector and C_α's top eigenvector ≥ 0.999 in every run;
  * W is rank 1 (singular values above 1e-6 · the largest) in ≥ 95 % of runs;
  * every maximum found attains the global value ½ λ_max(C_α) (the bound ½‖W‖_F² λ_max, ‖W‖_F ≤ 1), to 1e-9
    relative;
  * each converged point is a local maximum: 20 random tangent perturbations of size 1e-4 never raise E.
"""

from __future__ import annotations

import sys

from _harness import main


def run(proof, args) -> None:
    import torch

    from hemtools import networks as N
    from hemtools.losses.alphacl import (
        alpha_energy,
        alpha_weights,
        contrastive_covariance,
    )

    g = torch.Generator().manual_seed(args.seed)
    M, n = 32, 10
    restarts = proof.pick(25, 60)
    proof.set(M=M, n=n, tau=4.0, noise=0.3, restarts=restarts, depths={2: [10, 6, 4], 3: [10, 8, 6, 4]},
              tol=1e-10, alignment_min=0.999, rank1_fraction_min=0.95, value_rtol=1e-9)
    X = torch.randn(M, n, generator=g, dtype=torch.float64) * torch.linspace(2.0, 0.3, n, dtype=torch.float64)
    Xp = X + 0.3 * torch.randn(M, n, generator=g, dtype=torch.float64)
    alpha = alpha_weights(X, Xp, tau=4.0)
    C = contrastive_covariance(X, Xp, alpha)
    ev = torch.linalg.eigvalsh(C).flip(0)
    print(f"  C_α eigenvalues: {', '.join(f'{v:.4f}' for v in ev.tolist())}")
    proof.number("C_alpha_eigenvalues", ev.tolist())
    W = N.random_layers((n, 6, 4), generator=g)
    lhs = float(alpha_energy(N.deep_linear_forward(W, X), N.deep_linear_forward(W, Xp), alpha))
    rhs = float(N.deep_linear_energy(W, C))
    proof.check(abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs)),
                f"E_α of the outputs = ½ tr(W C_α Wᵀ): {lhs:.15g} vs {rhs:.15g}")
    for depth, dims in ((2, (10, 6, 4)), (3, (10, 8, 6, 4))):
        proof.section(f"depth {depth}, widths {dims}")
        r = N.max_player(C, dims, restarts=restarts, generator=g)
        rel = (r.values / r.global_value - 1.0).abs()
        rank1 = float((r.ranks == 1).double().mean())
        nconv = int(r.converged.sum())
        proof.check(nconv == restarts, f"{nconv}/{restarts} runs converged in {r.iterations} steps "
                    f"(largest relative Riemannian gradient {float(r.grad_norms.max()):.1e} <= 1e-10)")
        proof.check(bool((r.alignment >= 0.999).all()), f"alignment with C_α's top eigenvector: min |cos| = "
                    f"{float(r.alignment.min()):.12f} >= 0.999")
        proof.check(rank1 >= 0.95, f"rank 1 in {rank1:.0%} of runs (>= 95 %); layer ranks seen: "
                    f"{sorted(set(map(tuple, r.layer_ranks.tolist())))}")
        proof.check(bool((rel <= 1e-9).all()), f"every maximum attains the global value ½ λ_max = "
                    f"{r.global_value:.12g}: largest relative difference {float(rel.max()):.1e} <= 1e-9")
        worst = -float("inf")
        for _ in range(20):  # second order: random tangent perturbations never increase E at a maximum
            D = N.tangent(r.weights, [torch.randn(w.shape, generator=g, dtype=torch.float64) for w in r.weights])
            D = [d / d.pow(2).sum((-2, -1), keepdim=True).sqrt() * 1e-4 for d in D]
            Wp = [w + d for w, d in zip(r.weights, D, strict=True)]
            Wp = [w / w.pow(2).sum((-2, -1), keepdim=True).sqrt() for w in Wp]
            worst = max(worst, float(((N.deep_linear_energy(Wp, C) - r.values) / r.global_value).max()))
        proof.check(worst <= 1e-14, f"local maxima: 20 tangent perturbations of size 1e-4 per run, largest relative "
                    f"increase of E {worst:.1e} (<= 1e-14, round-off)")
        proof.number(f"depth{depth}", {"converged": nconv, "iterations": r.iterations,
                                       "min_alignment": float(r.alignment.min()), "rank1_fraction": rank1,
                                       "max_value_rel_diff": float(rel.max()), "seconds": r.seconds})


if __name__ == "__main__":
    sys.exit(main(run, claim="C7", statement="α-CL max player (α fixed) on deep linear networks is PCA of C_α; "
                  "maxima are global and rank 1", doc=__doc__))
