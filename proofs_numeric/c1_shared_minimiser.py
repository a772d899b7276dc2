"""C1 (SPEC §2): for M <= d+1, infonce, simclr, dcl, dhel and kcl share one minimiser, unique up to a
rotation: perfect alignment u_i = v_i and {u_i} a regular simplex (Gram off-diagonal −1/(M−1)).

    python proofs_numeric/c1_shared_minimiser.py [--quick | --full] [--json PATH]

For every loss and every (M, d) cell it runs `verify` (random restarts, certificates) and prints one line
per cell with the measured numbers, then PASS only if every cell is confirmed, every minimiser has the
simplex Gram matrix and all losses agree on it.  Runs on proofs_numeric/_harness.py (exit 0 PASS, 1 FAIL,
3 INCONCLUSIVE).
"""

from __future__ import annotations

import sys

from _harness import main

LOSSES = ["infonce", "simclr", "dcl", "dhel", "kcl"]


def run(proof, args) -> None:
    from hemtools.checks import verify
    from hemtools.configurations import simplex_gram

    cells = proof.pick([(2, 2), (3, 2), (4, 3), (5, 8)],
                       [(M, d) for d in (2, 3, 4, 8, 16) for M in sorted({2, 3, d, d + 1})])
    proof.set(cells=cells, losses=LOSSES, gram_tolerance=1e-6)
    worst = 0.0
    print(f"       {'loss':8} {'M':>3} {'d':>3}  {'verdict':12} {'value':>20} {'|value-target|':>14} "
          f"{'grad':>8} {'align':>8} {'gram dev':>8} {'zero eig':>9}")
    for M, d in cells:
        grams = []
        for loss in LOSSES:
            r = verify(loss, M, d)
            U = r.solve.split()[0]
            gdev = float((U @ U.T - simplex_gram(M)).abs().max())
            grams.append(U @ U.T)
            align = r.check("alignment").measured
            h = r.hessian
            zc = f"{h.zero_count}/{h.orbit_dimension}" if h else "-"
            worst = max(worst, gdev)
            ok = r.verdict == "confirmed" and gdev <= 1e-6
            proof.check(None if r.verdict == "inconclusive" else ok,
                        f"{loss:8} {M:>3} {d:>3}  {r.verdict:12} {r.value:>20.14g} "
                        f"{abs(r.value - r.reference['value']):>14.1e} {r.grad_norm:>8.1e} {align:>8.1e} {gdev:>8.1e} "
                        f"{zc:>9}" + ("" if ok else "   <-- " + r.reason))
        spread = max(float((g - grams[0]).abs().max()) for g in grams)
        proof.check(spread <= 1e-6, f"M={M} d={d}: the {len(LOSSES)} losses' minimisers have the same Gram matrix "
                    f"(largest difference {spread:.1e} <= 1e-6)")
    proof.number("largest_gram_deviation_from_simplex", worst)


if __name__ == "__main__":
    sys.exit(main(run, claim="C1", statement="for M <= d+1 five losses share the aligned regular simplex as minimiser",
                  doc=__doc__))
