"""Condition-grid benchmarks (issue #5): prints a table with ratios against baselines run in the same process.

    python benchmarks/conditions.py [--threads 1] [--repeats 3]

Rows
  1. the default `hemtools conditions` grid (7 φ × 3 ψ × 4 (M, d) cells = 84 verify runs plus the symbolic
     condition analysis of each (φ, ψ, M)), end to end — target: < 120 s on one core;
     split into its two parts: the condition analysis alone (sympy + witness scans) and the verify runs alone;
  2. baseline: verify of the registered `infonce` on the same 4 cells, repeated 21 times (the same number of
     verify runs), so that the ratio shows what the φ/ψ machinery costs over a hand-written loss;
  3. one loss evaluation (B = 64, M = 16, d = 8; value and gradient): registered infonce vs phipsi on its
     log-sum-exp path vs phipsi on the plain-sum path (φ a torch callable) vs a generic formula
     (softplus(2x), log(1+x)).

Threads are pinned (default 1): the machines have 2 cores.
"""

from __future__ import annotations

import argparse
import sys

from _bench import pin_threads, timed  # benchmarks/ is on sys.path when a script runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the grid timings (median)")
    args = ap.parse_args(argv)
    pin_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    from hemtools import grids as G
    from hemtools import sphere
    from hemtools import symbolic as S
    from hemtools.checks import verify
    from hemtools.losses import get_loss

    phis = [f for f, _ in G.CATALOGUE_PHI]
    psis = [f for f, _ in G.CATALOGUE_PSI]
    cells = list(G.DEFAULT_CELLS)
    n_runs = len(phis) * len(psis) * len(cells)
    verify("infonce", 3, 2, restarts=2)  # warm-up: lazy imports, first-call allocations

    def grid():
        S.check_conditions.__globals__["_derivatives"].cache_clear()
        return G.condition_grid(phis, psis, cells)

    def conditions_only():
        S.check_conditions.__globals__["_derivatives"].cache_clear()
        return [
            S.check_conditions(phi, psi, 1.0, 0.0, M, 0.5)
            for phi in phis
            for psi in psis
            for M in {m for m, _ in cells}
        ]

    def verify_only():
        return [verify("phipsi", M, d, params=dict(phi=phi, psi=psi)) for phi in phis for psi in psis for M, d in cells]

    def baseline():
        return [verify("infonce", M, d) for _ in range(len(phis) * len(psis)) for M, d in cells]

    t_grid, (rows, _) = timed(grid, args.repeats)
    t_cond, _ = timed(conditions_only, args.repeats)
    t_ver, _ = timed(verify_only, args.repeats)
    t_base, _ = timed(baseline, args.repeats)

    g = torch.Generator().manual_seed(0)
    U = sphere.random_points(64, 16, 8, generator=g)
    V = sphere.random_points(64, 16, 8, generator=g)
    pp = get_loss("phipsi")

    def evaluate(fn):
        def run():
            u, v = U.clone().requires_grad_(True), V.clone().requires_grad_(True)
            fn(u, v).sum().backward()

        return run

    reg = get_loss("infonce")
    p_inf = pp.resolve_params({})
    p_call = pp.resolve_params({"phi": lambda z: torch.exp(z / 0.5)})
    p_gen = pp.resolve_params({"phi": "softplus(2*x)", "psi": "log(1+x)"})
    evals = [
        ("registered infonce (baseline)", evaluate(lambda u, v: reg.fn(u, v, tau=0.5))),
        ("phipsi, log-sum-exp path", evaluate(lambda u, v: pp.fn(u, v, **p_inf))),
        ("phipsi, plain sums (callable φ)", evaluate(lambda u, v: pp.fn(u, v, **p_call))),
        ("phipsi, softplus(2x) / log(1+x)", evaluate(lambda u, v: pp.fn(u, v, **p_gen))),
    ]
    t_eval = []
    for name, fn in evals:
        fn()
        t, _ = timed(fn, 200)
        t_eval.append((name, t))

    candidates = sum(r.candidate for r in rows)
    reproduced = sum(r.outcome == "reproduced" for r in rows)
    predicted = sum(r.outcome != "no prediction" for r in rows)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} (grid rows) / 200 (evaluations)"
    )
    print(f"{'case':<58} {'seconds':>10} {'ratio':>8}  note")
    print(
        f"{'default conditions grid (' + str(n_runs) + ' cells), end to end':<58} {t_grid:>10.2f} "
        f"{t_grid / t_base:>7.2f}x  target < 120 s: {'met' if t_grid < 120 else 'NOT MET'}; "
        f"{reproduced}/{predicted} predicted cells reproduced, {candidates} candidates"
    )
    print(f"{'  condition analysis only (sympy + witness scans)':<58} {t_cond:>10.2f} {t_cond / t_base:>7.2f}x")
    print(f"{'  verify runs only (phipsi)':<58} {t_ver:>10.2f} {t_ver / t_base:>7.2f}x")
    print(f"{'baseline: verify infonce, same number of runs':<58} {t_base:>10.2f} {1.0:>7.2f}x")
    base = t_eval[0][1]
    for name, t in t_eval:
        print(f"{'value+gradient B=64 M=16 d=8: ' + name:<58} {t * 1e3:>8.3f}ms {t / base:>7.2f}x")
    return 0 if t_grid < 120 and candidates == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
