"""C11 (SPEC §2; Alkhatib, Yahya, Tay & Wee Peng, "Contrastive Conformal Sets"): split-conformal sets on
embeddings cover positives at the asked rate; the learned minimum-volume sets exclude more negatives than
the distance-based sets at equal coverage.

    python proofs_numeric/c11_conformal_coverage.py [--quick | --full] [--seed S] [--json PATH]

Synthetic embeddings in R^8: anchors u ~ N(0, I); a positive is v = u + ε with anisotropic noise (scales
0.1 … 3 across coordinates; Student-t(5) in two coordinates); negatives are the other pairs' positives.
For each level 0.8, 0.9, 0.95 and each set type

  * distance: C(u) = ball ‖v − u‖ ≤ q̂ (hemtools.conformal.distance_score);
  * learned:  C(u) = {‖w ⊙ (v − u)‖_p ≤ q̂} with w, p fitted once on a separate training split
    (hemtools.conformal.fit_min_volume_norm, p ∈ {1, 2, ∞});

R ≥ 200 repetitions (100 with --quick) draw a fresh calibration split (n = 100) and test split (m = 50),
calibrate (hemtools.conformal.calibrate) and measure coverage of the test positives and exclusion of the
test negatives.  PASS requires, for every level and set type, the total number of covered positives to lie in
the exact 99 % interval of its law (a sum of R Beta-Binomial(m, k, n + 1 − k), k = ⌈(n + 1)·level⌉:
hemtools.conformal.coverage_interval) — the finite-sample guarantee, which per test point is
k/(n + 1) ≥ level — and the learned sets to exclude more negatives (paired over repetitions, 99 % interval
of the mean difference above 0).
"""

from __future__ import annotations

import sys

from _harness import main

LEVELS = (0.8, 0.9, 0.95)


def draw(n, d, scales, g):
    import torch

    U = torch.randn(n, d, generator=g, dtype=torch.float64)
    E = torch.randn(n, d, generator=g, dtype=torch.float64)
    # two heavy-tailed coordinates: Student-t with 5 degrees of freedom, z / sqrt(chi2_5 / 5)
    chi = torch.randn(n, 2, 5, generator=g, dtype=torch.float64).pow(2).sum(-1) / 5.0
    E[:, :2] = E[:, :2] / chi.sqrt()
    return U, U + E * scales


def run(proof, args) -> None:
    import math

    import torch

    from hemtools import conformal as cf

    g = torch.Generator().manual_seed(args.seed)
    d, n, m, n_train = 8, 100, 50, 1000
    R = proof.pick(100, 300)
    scales = torch.tensor([0.6, 0.1, 3.0, 2.0, 0.2, 1.2, 0.4, 0.1], dtype=torch.float64)
    proof.set(d=d, n_calibration=n, n_test=m, n_train=n_train, repetitions=R, levels=LEVELS,
              noise_scales=scales.tolist(), confidence=0.99)
    Ut, Vt = draw(n_train, d, scales, g)
    print(f"  {'level':>5} {'set':9} {'k/(n+1)':>8} {'coverage':>9} {'covered':>8} {'99% interval':>15} "
          f"{'exclusion':>10} {'log volume':>11}")
    for level in LEVELS:
        learned = cf.fit_min_volume_norm(Ut, Vt, level, steps=proof.pick(100, 300))
        covered = {"distance": 0, "learned": 0}
        excl = {"distance": [], "learned": []}
        logvol = {"distance": [], "learned": []}
        for _ in range(R):
            Uc, Vc = draw(n, d, scales, g)
            Ue, Ve = draw(m, d, scales, g)
            for name, score in (("distance", cf.distance_score), ("learned", learned)):
                cs = cf.calibrate(score, Uc, Vc, level)
                ev = cf.evaluate(cs, Ue, Ve)
                covered[name] += ev.covered
                excl[name].append(ev.exclusion)
                if name == "distance":
                    logvol[name].append(d * math.log(cs.threshold) + cf.log_unit_ball_volume(d, 2.0))
                else:
                    logvol[name].append(learned.log_volume(cs.threshold))
        lo, hi = cf.coverage_interval(n, m, R, level, 0.99)
        guarantee = cf.coverage_guarantee(n, level)
        for name in ("distance", "learned"):
            c = covered[name]
            ex = sum(excl[name]) / R
            lv = sum(logvol[name]) / R
            print(f"  {level:>5} {name:9} {guarantee:>8.4f} {c / (R * m):>9.4f} {c:>8} {f'[{lo}, {hi}]':>15} "
                  f"{ex:>10.4f} {lv:>11.3f}")
            proof.number(f"level{level}_{name}", {"covered": c, "total": R * m, "interval": [lo, hi],
                                                  "guarantee": guarantee, "exclusion": ex, "mean_log_volume": lv})
            proof.check(lo <= c <= hi, f"level {level}, {name} sets: {c}/{R * m} positives covered "
                        f"({c / (R * m):.4f}; guarantee k/(n+1) = {guarantee:.4f} >= {level}) in the exact 99 % "
                        f"interval [{lo}, {hi}]")
        diff = torch.tensor(excl["learned"], dtype=torch.float64) - torch.tensor(excl["distance"], dtype=torch.float64)
        mean, se = float(diff.mean()), float(diff.std() / math.sqrt(R))
        proof.check(mean - 2.576 * se > 0, f"level {level}: learned sets exclude more negatives than balls at equal "
                    f"coverage: mean exclusion difference {mean:+.4f} ± {2.576 * se:.4f} (99 %); learned norm p = "
                    f"{learned.p:g}, weights {', '.join(f'{w:.2f}' for w in learned.weights.tolist())}")


if __name__ == "__main__":
    sys.exit(main(run, claim="C11", statement="split-conformal sets on embeddings cover positives at the asked "
                  "rate; learned minimum-volume sets exclude more negatives", doc=__doc__))
