"""Trust grid (issue 11): no `aligned` claim is refuted unless the refuting minimum is lower than every
aligned candidate.  Not part of the test suite (several minutes).

    python benchmarks/trust_grid.py [--losses kcl,dhel] [--dims 2,3,4] [--seeds 3] [--restarts 8]

For every registered pair loss, d in --dims, M in {d+2, …, 3d} and each seed, runs
``verify(loss, M, d, claim="aligned")`` and counts the verdicts.  For every REFUTED cell it evaluates the
aligned candidates independently of the report (``candidates.aligned_candidates`` — simplex, catalogue
configurations that fit, energy-baseline minimiser — each polished by ``optim.solve`` from x0) and asserts
that the refuting value is lower than all of them by more than the report's value tolerance.  Prints one
line per cell, then the counts; exit 1 if any refutation is not backed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench import pin_threads

pin_threads(1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--losses", default=None, help="comma-separated pair losses (default: every registered one)")
    ap.add_argument("--dims", default="2,3,4")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--restarts", type=int, default=8)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from hemtools import candidates
    from hemtools.checks import verify
    from hemtools.losses import registry
    from hemtools.tolerances import tolerances

    losses = (args.losses.split(",") if args.losses else
              [n for n in registry.names() if registry.get_loss(n).kind == "pairs"])
    dims = [int(x) for x in args.dims.split(",")]
    tol_cfg = tolerances(torch.float64).config
    counts: dict[str, int] = {"confirmed": 0, "refuted": 0, "inconclusive": 0}
    by_reason: dict[str, int] = {}
    unbacked = []
    from_candidate = 0
    t0 = time.perf_counter()
    print(f"{'loss':10} {'M':>3} {'d':>2} {'seed':>4}  {'verdict':12} {'value':>16} {'best cand.':>16}  s     reason")
    for loss in losses:
        spec = registry.get_loss(loss)
        for d in dims:
            for M in range(d + 2, 3 * d + 1):
                for seed in range(args.seeds):
                    t = time.perf_counter()
                    r = verify(loss, M, d, claim="aligned", restarts=args.restarts, seed=seed)
                    counts[r.verdict] += 1
                    from_candidate += r.point is not None
                    cand_txt = ""
                    if r.verdict == "refuted":
                        key = r.reason.split(":")[0].split(" (")[0][:60]
                        by_reason[key] = by_reason.get(key, 0) + 1
                        starts = candidates.aligned_candidates(spec, r.params, M, d)
                        pol = candidates.polish(spec, r.params, M, d, starts, dtype="float64", device="cpu",
                                                tol=None, config_tol=tol_cfg)
                        vals = [c.value for c in pol if c.alignment <= tol_cfg] + [c.start_value for c in pol]
                        lowest = min(vals) if vals else float("inf")
                        cand_txt = f"{lowest:16.10g}"
                        noise_tol = max(1e-10 * max(abs(lowest), abs(r.value)), 10 * r.value_noise)
                        if not r.value < lowest - noise_tol:
                            unbacked.append((loss, M, d, seed, r.value, lowest, r.reason))
                    print(f"{loss:10} {M:3d} {d:2d} {seed:4d}  {r.verdict:12} {r.value:16.10g} {cand_txt:>16}  "
                          f"{time.perf_counter() - t:5.1f} {r.reason[:110]}", flush=True)
    n = sum(counts.values())
    print(f"\n{n} cells in {time.perf_counter() - t0:.0f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f"; reported point from a polished aligned candidate in {from_candidate}")
    for k, v in sorted(by_reason.items(), key=lambda kv: -kv[1]):
        print(f"  refuted: {v:3d} × {k}")
    if unbacked:
        print(f"FAIL: {len(unbacked)} refutations not lower than every aligned candidate:")
        for u in unbacked:
            print("  ", u)
        return 1
    print("PASS: every refutation of `aligned` is lower than every aligned candidate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
