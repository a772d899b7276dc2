"""C10 (SPEC §2; Bansal, Kavis & Sanghavi, multimodal GMM): the CLIP loss on two linear encoders recovers
both modalities' discriminative (Fisher / LDA) subspaces.

    python proofs_numeric/c10_clip_gmm.py [--quick | --full] [--seed S] [--json PATH]

Setting: two mixtures sharing the component (k = 4): modality x in R^20 and modality y in R^16, each built
like C9's (hemtools.gmm.make_gmm: means a regular simplex of radius 3, non-isotropic shared covariance with
condition number 10 on the mean span, 3 label-free directions of variance 25 where PCA looks), with their own
random bases.  Pairs (x_i, y_i) share the component with probability 0.9 (hemtools.gmm.sample_multimodal).
Encoders A (3 × 20), B (3 × 16), embeddings Ax/‖Ax‖ and By/‖By‖, trained with the CLIP loss: the registered
``infonce`` in both directions, ½(InfoNCE(U→V) + InfoNCE(V→U)) (hemtools.gmm.train_clip_encoders).

Per seed (10 in full with n = 12000 training pairs, 4 with --quick and n = 6000), per modality: largest
principal angle between the encoder's row space
and the LDA subspace of that modality (labels), and to the population Fisher subspace; ARI of k-means on
held-out embeddings vs LDA and PCA.  PASS when, for both modalities (95 % Student-t intervals over seeds),
the angle to LDA has upper end ≤ 15°, ARI(CLIP) − ARI(LDA) has lower end ≥ −0.05, and CLIP beats PCA
(ARI difference, lower end ≥ 0.5) where PCA fails (ARI upper end ≤ 0.1).  The 15° tolerance is the same
finite-sample tolerance as C9's.
"""

from __future__ import annotations

import sys

from _harness import main, t_interval


def run(proof, args) -> None:
    import numpy as np
    import torch

    from hemtools import gmm as G

    k, dims, dim, noise = 4, {"x": 20, "y": 16}, 3, 0.1
    seeds = proof.pick(4, 10)
    n, n_test = proof.pick(6000, 12000), proof.pick(1000, 2000)
    steps, batch, lr = proof.pick(400, 1000), proof.pick(128, 256), proof.pick(0.05, 0.03)
    proof.set(
        k=k,
        dims=dims,
        target_dim=dim,
        pair_noise=noise,
        seeds=seeds,
        n_train=n,
        n_test=n_test,
        steps=steps,
        batch=batch,
        lr=lr,
        tau=0.5,
        angle_tolerance_deg=15.0,
        ari_tolerance=0.05,
    )
    rows = []
    print(
        f"  {'seed':>4} {'mod':>3} {'∠clip-lda':>10} {'∠clip-F':>8} {'∠lda-F':>8} {'∠pca-F':>8} {'ARI clip':>9} "
        f"{'ARI lda':>8} {'ARI pca':>8}"
    )
    for s in range(seeds):
        g = torch.Generator().manual_seed(1000 * args.seed + s)
        mx, my = G.make_gmm(k, dims["x"], generator=g), G.make_gmm(k, dims["y"], generator=g)
        X, Y, lab = G.sample_multimodal(mx, my, n, noise=noise, generator=g)
        Xt, Yt, labt = G.sample_multimodal(mx, my, n_test, generator=g)
        enc = G.train_clip_encoders(X, Y, dim, steps=steps, batch=batch, lr=lr, generator=g)
        for i, (mod, mix, Z, Zt) in enumerate((("x", mx, X, Xt), ("y", my, Y, Yt))):
            A, L, P, F = enc.subspace(i), G.lda_subspace(Z, lab), G.pca_subspace(Z, dim), G.fisher_subspace(mix)

            def deg(a, b):
                return float(np.degrees(G.principal_angles(a, b).max()))

            r = {
                "seed": s,
                "modality": mod,
                "clip_lda": deg(A, L),
                "clip_F": deg(A, F),
                "lda_F": deg(L, F),
                "pca_F": deg(P, F),
                "ari_clip": G.cluster_ari(enc.embed(Zt, i).numpy(), labt, k, generator=g),
                "ari_lda": G.cluster_ari(Zt.numpy() @ G.lda_directions(Z, lab), labt, k, generator=g),
                "ari_pca": G.cluster_ari(Zt.numpy() @ P, labt, k, generator=g),
            }
            rows.append(r)
            print(
                f"  {s:>4} {mod:>3} {r['clip_lda']:>9.2f}° {r['clip_F']:>7.2f}° "
                f"{r['lda_F']:>7.2f}° {r['pca_F']:>7.2f}° "
                f"{r['ari_clip']:>9.4f} {r['ari_lda']:>8.4f} {r['ari_pca']:>8.4f}",
                flush=True,
            )
    proof.number("per_seed", rows)
    for mod in dims:
        col = {
            key: [r[key] for r in rows if r["modality"] == mod] for key in rows[0] if key not in ("seed", "modality")
        }
        m, lo, hi = t_interval(col["clip_lda"])
        proof.check(
            hi <= 15.0,
            f"modality {mod}: largest angle CLIP–LDA {m:.2f}° [{lo:.2f}, {hi:.2f}] (95 %) <= 15°; "
            f"to Fisher: CLIP {np.mean(col['clip_F']):.2f}°, LDA {np.mean(col['lda_F']):.2f}°",
        )
        m, lo, hi = t_interval(np.subtract(col["ari_clip"], col["ari_lda"]))
        proof.check(
            lo >= -0.05,
            f"modality {mod}: ARI CLIP − LDA {m:+.4f} [{lo:+.4f}, {hi:+.4f}], lower end >= −0.05 "
            f"(CLIP {np.mean(col['ari_clip']):.4f}, LDA {np.mean(col['ari_lda']):.4f})",
        )
        m, lo, hi = t_interval(col["ari_pca"])
        m2, lo2, hi2 = t_interval(np.subtract(col["ari_clip"], col["ari_pca"]))
        proof.check(
            hi <= 0.1 and lo2 >= 0.5,
            f"modality {mod}: PCA fails (ARI {m:.4f}, upper end {hi:.4f} <= 0.1) and "
            f"CLIP beats it (ARI difference {m2:.4f} [{lo2:.4f}, {hi2:.4f}], lower end >= 0.5)",
        )
        proof.number(f"modality_{mod}", {key: t_interval(v) for key, v in col.items()})


if __name__ == "__main__":
    sys.exit(
        main(
            run,
            claim="C10",
            statement="CLIP in the multimodal GMM recovers both modalities' LDA subspaces",
            doc=__doc__,
        )
    )
