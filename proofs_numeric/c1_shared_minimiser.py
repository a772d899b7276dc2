"""C1 (SPEC §2): for M <= d+1, infonce, simclr, dcl, dhel and kcl share one minimiser, unique up to a
rotation: perfect alignment u_i = v_i and {u_i} a regular simplex (Gram off-diagonal −1/(M−1)).

    python proofs_numeric/c1_shared_minimiser.py [--quick]

For every loss and every (M, d) cell it runs `verify` (random restarts, certificates) and prints one line
per cell with the measured numbers, then PASS only if every cell is confirmed, every minimiser has the
simplex Gram matrix and all losses agree on it.  Exit code 0 on PASS, 1 on FAIL.
"""

from __future__ import annotations

import argparse
import sys

LOSSES = ["infonce", "simclr", "dcl", "dhel", "kcl"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small grid (for the test suite)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from hemtools.checks import verify
    from hemtools.configurations import simplex_gram

    cells = [(2, 2), (3, 2), (4, 3), (5, 8)] if args.quick else \
        [(M, d) for d in (2, 3, 4, 8, 16) for M in sorted({2, 3, d, d + 1})]
    failures = 0
    print(f"{'loss':8} {'M':>3} {'d':>3}  {'verdict':12} {'value':>20} {'|value-target|':>14} "
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
            ok = r.verdict == "confirmed" and gdev <= 1e-6
            failures += not ok
            print(f"{loss:8} {M:>3} {d:>3}  {r.verdict:12} {r.value:>20.14g} {abs(r.value - r.reference['value']):>14.1e} "
                  f"{r.grad_norm:>8.1e} {align:>8.1e} {gdev:>8.1e} {zc:>9}" + ("" if ok else "   <-- FAIL: " + r.reason))
        spread = max(float((g - grams[0]).abs().max()) for g in grams)
        if spread > 1e-6:
            failures += 1
            print(f"  M={M} d={d}: the losses' minimisers differ (Gram matrices {spread:.1e} apart)  <-- FAIL")
    print(("PASS" if failures == 0 else "FAIL") + f": C1 on {len(cells)} cells x {len(LOSSES)} losses, {failures} failures")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
