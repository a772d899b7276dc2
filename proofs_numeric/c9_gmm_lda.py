"""C9 (SPEC §2; Bansal, Kavis & Sanghavi, "Understanding Contrastive Learning via Gaussian Mixture Models"):
in a GMM with coupled augmentations, InfoNCE on a linear encoder finds the LDA (Fisher) subspace, matching
supervised LDA even with non-isotropic components, where PCA does not.

    python proofs_numeric/c9_gmm_lda.py [--quick | --full] [--seed S] [--json PATH]

Setting (hemtools.gmm.make_gmm): k = 4 components in R^20, means a regular simplex of radius 3 in a random
3-dimensional subspace; shared non-isotropic covariance: the mean span and 3 further directions share a random
block with condition number 10 (so the Fisher directions Σ⁻¹(μ_c − μ̄) are tilted away from the means), and
3 directions orthogonal to the means have variance 25 — more than the spread of the means, so PCA's top
k − 1 = 3 directions are these label-free directions (the seed's construction in which PCA fails).  Pairs
(x, x'): x' from x's component with probability 0.9, from a random component otherwise (noisy
augmentations), independent within-component noise.  Target dimension k − 1 = 3.

Per seed (10 in full, 3 with --quick; new mixture, data and initialisation each), on n training pairs:
InfoNCE encoder x ↦ Ax/‖Ax‖ (registered ``infonce``, τ = 0.5, Adam; hemtools.gmm.train_infonce_encoder),
LDA on the labelled training data, PCA.  Measured: the largest principal angle between subspaces
(scipy.linalg.subspace_angles) — InfoNCE vs LDA, each vs the population Fisher subspace, PCA vs Fisher — and
the adjusted Rand index of k-means on held-out data (InfoNCE embeddings, LDA transform, PCA scores).

PASS when (95 % Student-t intervals over seeds):
  * InfoNCE matches LDA: largest angle InfoNCE–LDA, upper end ≤ 15°; ARI(InfoNCE) − ARI(LDA), lower end ≥ −0.05;
  * PCA fails here: ARI(PCA) upper end ≤ 0.1 and its angle to the Fisher subspace ≥ 60° in every seed;
  * InfoNCE beats PCA: ARI(InfoNCE) − ARI(PCA), lower end ≥ 0.5.
The 15° tolerance is finite-sample: InfoNCE sees no labels and its angle to the Fisher subspace shrinks with
n (≈ 10° at n = 4000, ≈ 6° at n = 20000 in development runs), while LDA's is ≈ 2–6°.
"""

from __future__ import annotations

import sys

from _harness import main, t_interval


def run(proof, args) -> None:
    import numpy as np
    import torch

    from hemtools import gmm as G

    k, D, dim, noise = 4, 20, 3, 0.1
    seeds = proof.pick(3, 10)
    n, n_test = proof.pick(3000, 8000), proof.pick(1000, 2000)
    steps, batch, lr = proof.pick(300, 800), proof.pick(128, 256), proof.pick(0.05, 0.03)
    proof.set(k=k, D=D, target_dim=dim, augmentation_noise=noise, seeds=seeds, n_train=n, n_test=n_test,
              steps=steps, batch=batch, lr=lr, tau=0.5, nuisance_variance=25.0, anisotropy=10.0,
              angle_tolerance_deg=15.0, ari_tolerance=0.05)
    rows = []
    print(f"  {'seed':>4} {'∠nce-lda':>9} {'∠nce-F':>8} {'∠lda-F':>8} {'∠pca-F':>8} {'ARI nce':>8} {'ARI lda':>8} "
          f"{'ARI pca':>8}")
    for s in range(seeds):
        g = torch.Generator().manual_seed(1000 * args.seed + s)
        mix = G.make_gmm(k, D, generator=g)
        X, Xp, lab = G.sample_pairs(mix, n, noise=noise, generator=g)
        Xt, _, labt = G.sample_pairs(mix, n_test, generator=g)
        F = G.fisher_subspace(mix)
        enc = G.train_infonce_encoder(X, Xp, dim, steps=steps, batch=batch, lr=lr, generator=g)
        A, L, P = enc.subspace(), G.lda_subspace(X, lab), G.pca_subspace(X, dim)

        def deg(a, b):
            return float(np.degrees(G.principal_angles(a, b).max()))

        r = {"nce_lda": deg(A, L), "nce_F": deg(A, F), "lda_F": deg(L, F), "pca_F": deg(P, F),
             "ari_nce": G.cluster_ari(enc.embed(Xt).numpy(), labt, k, generator=g),
             "ari_lda": G.cluster_ari(Xt.numpy() @ G.lda_directions(X, lab), labt, k, generator=g),
             "ari_pca": G.cluster_ari(Xt.numpy() @ P, labt, k, generator=g)}
        rows.append(r)
        print(f"  {s:>4} {r['nce_lda']:>8.2f}° {r['nce_F']:>7.2f}° {r['lda_F']:>7.2f}° {r['pca_F']:>7.2f}° "
              f"{r['ari_nce']:>8.4f} {r['ari_lda']:>8.4f} {r['ari_pca']:>8.4f}", flush=True)
    proof.number("per_seed", rows)
    col = {key: [r[key] for r in rows] for key in rows[0]}
    for key, values in col.items():
        m, lo, hi = t_interval(values)
        proof.number(key, {"mean": m, "ci95": [lo, hi]})
    m, lo, hi = t_interval(col["nce_lda"])
    proof.check(
        hi <= 15.0,
        f"largest principal angle InfoNCE–LDA {m:.2f}° [{lo:.2f}, {hi:.2f}] (95 %) <= 15°; "
        f"to the population Fisher subspace: InfoNCE {np.mean(col['nce_F']):.2f}°, LDA {np.mean(col['lda_F']):.2f}°",
    )
    d = np.subtract(col["ari_nce"], col["ari_lda"])
    m, lo, hi = t_interval(d)
    proof.check(
        lo >= -0.05,
        f"ARI InfoNCE − LDA {m:+.4f} [{lo:+.4f}, {hi:+.4f}] (95 %), lower end >= −0.05 "
        f"(ARI InfoNCE {np.mean(col['ari_nce']):.4f}, LDA {np.mean(col['ari_lda']):.4f})",
    )
    m, lo, hi = t_interval(col["ari_pca"])
    proof.check(
        hi <= 0.1 and min(col["pca_F"]) >= 60.0,
        f"PCA fails by construction: ARI {m:.4f} [{lo:.4f}, {hi:.4f}] "
        f"<= 0.1, smallest largest-angle to Fisher {min(col['pca_F']):.1f}° >= 60° (its top directions are the "
        "variance-25 label-free ones)",
    )
    m, lo, hi = t_interval(np.subtract(col["ari_nce"], col["ari_pca"]))
    proof.check(lo >= 0.5, f"InfoNCE beats PCA: ARI difference {m:.4f} [{lo:.4f}, {hi:.4f}] (95 %), lower end >= 0.5")


if __name__ == "__main__":
    sys.exit(
        main(
            run,
            claim="C9",
            statement="InfoNCE in a GMM with coupled augmentations finds the LDA subspace; PCA does not",
            doc=__doc__,
        )
    )
