"""Solver benchmarks (issue #3): prints a table with ratios against baselines run in the same process.

    python benchmarks/solve.py [--threads 1] [--repeats 5] [--skip-energy]

Rows
  1. KCL M=8 d=16, one start, to gradient 1e-12 (target: <= 0.3 s after imports)
  2. the same with 8 restarts (the small-problem path: one after another on numpy, hemtools.small) and 64
     restarts (the torch batch; target: 64 restarts <= 3x one)
  3. pymanopt TrustRegions on the same problem, tolerance 1e-10, same process (if pymanopt is installed:
     `pip install -e .[bench]`), one start and 8 sequential starts (target: hemtools >= 5x faster); and
     hemtools with the small-problem path switched off (the torch batch of one) and on the autograd path
     (hemtools.fused switched off), the solvers before issue 13
  4. Gaussian energy, M=4096, d=32: seconds per solver iteration against one Gram matmul + exp on the same
     tensors (target: <= 3x)

Threads are pinned (default 1 for the small problems, 2 for the M=4096 one): on 2-core machines an
oversubscribed BLAS makes small problems orders of magnitude slower when anything else runs.
"""

from __future__ import annotations

import argparse
import sys

from _bench import pin_threads, timed  # benchmarks/ is on sys.path when a script runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-energy", action="store_true", help="skip the M=4096 Gaussian-energy row")
    ap.add_argument("--skip-pymanopt", action="store_true")
    args = ap.parse_args(argv)
    pin_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    from hemtools import small, sphere
    from hemtools.losses import get_loss
    from hemtools.optim import solve

    rows: list[tuple[str, str, str, str]] = []
    M, d = 8, 16
    solve("kcl", M, d, restarts=1, seed=99)  # warm-up: first-call allocations and lazy imports

    seeds = iter(range(10_000))
    t1, r1 = timed(lambda: solve("kcl", M, d, restarts=1, seed=next(seeds)), args.repeats)
    assert bool(r1.converged.all()), r1.stop_reasons
    rows.append(
        (
            "kcl M=8 d=16, 1 start",
            f"{t1:.4f} s",
            f"grad {r1.grad_norms.max():.1e}, {int(r1.iterations.max())} it",
            "target <= 0.3 s: " + ("met" if t1 <= 0.3 else "MISSED"),
        )
    )
    for R in (8, 64):
        tR, rR = timed(lambda R=R: solve("kcl", M, d, restarts=R, seed=next(seeds)), args.repeats)
        ratio = tR / t1
        note = f"{ratio:.2f}x one start" + (
            ("; target <= 3x: " + ("met" if ratio <= 3 else "MISSED")) if R == 64 else ""
        )
        how = "one after another (numpy)" if small.applies(R, 2 * M, d) else "batched (torch)"
        rows.append(
            (
                f"kcl M=8 d=16, {R} restarts {how}",
                f"{tR:.4f} s",
                f"max grad {rR.grad_norms.max():.1e}, all converged {bool(rR.converged.all())}",
                note,
            )
        )
        if R == 8:
            t8 = tR

    if not args.skip_pymanopt:
        try:
            import numpy as np
            import pymanopt
            from pymanopt.manifolds import Oblique
            from pymanopt.optimizers import TrustRegions
        except ImportError:
            rows.append(("pymanopt TrustRegions", "-", "not installed (pip install -e .[bench])", ""))
        else:
            spec = get_loss("kcl")
            f = spec.objective(M, spec.resolve_params({}))
            man = Oblique(d, 2 * M)  # unit-norm columns = our unit rows, transposed

            @pymanopt.function.pytorch(man)
            def cost(X):
                return f(X.T.unsqueeze(0))[0]

            problem = pymanopt.Problem(man, cost)
            opt = TrustRegions(min_gradient_norm=1e-10, verbosity=0, max_iterations=1000)
            rng = np.random.default_rng(0)

            def start():
                x = rng.standard_normal((d, 2 * M))
                return x / np.linalg.norm(x, axis=0, keepdims=True)

            opt.run(problem, initial_point=start())  # warm-up
            tp, res = timed(lambda: opt.run(problem, initial_point=start()), args.repeats)
            t_h10, r_h10 = timed(lambda: solve("kcl", M, d, restarts=1, seed=next(seeds), tol=1e-10), args.repeats)
            rows.append(
                (
                    "pymanopt TrustRegions, 1 start, tol 1e-10",
                    f"{tp:.4f} s",
                    f"grad {res.gradient_norm:.1e}, {res.iterations} it",
                    f"hemtools {t_h10:.4f} s: {tp / t_h10:.1f}x faster "
                    f"(target >= 5x: {'met' if tp / t_h10 >= 5 else 'MISSED'})",
                )
            )
            # the same solve with one piece switched off: the torch batch of one (the small-problem path off, the
            # path before it) and autograd (no closed-form derivatives, switch 1e-3: the path before issue 13)
            from hemtools import fused

            for label, module, attr, value, what in (
                ("hemtools torch batch of 1, tol 1e-10", small, "SMALL_PROBLEM", 0, "small path"),
                ("hemtools via autograd, 1 start, tol 1e-10", fused, "for_loss", lambda *a, **k: None,
                 "closed-form path"),
            ):
                real = getattr(module, attr)
                setattr(module, attr, value)
                try:
                    t_b, r_b = timed(lambda: solve("kcl", M, d, restarts=1, seed=next(seeds), tol=1e-10), args.repeats)
                finally:
                    setattr(module, attr, real)
                rows.append(
                    (
                        label,
                        f"{t_b:.4f} s",
                        f"grad {r_b.grad_norms.max():.1e}, {int(r_b.iterations.max())} it",
                        f"pymanopt/this {tp / t_b:.1f}x; {what} {t_b / t_h10:.1f}x faster than this",
                    )
                )
            tp8 = 8 * tp
            rows.append(
                (
                    "pymanopt, 8 starts one after another",
                    f"{tp8:.4f} s",
                    "(8 x the row above)",
                    f"hemtools 8 restarts {t8:.4f} s: {tp8 / t8:.1f}x faster",
                )
            )

    if not args.skip_energy:
        torch.set_num_threads(max(2, args.threads))
        N, dd = 4096, 32
        X = sphere.random_points(1, N, dd, generator=torch.Generator().manual_seed(0))

        def gram_exp():
            G = X @ X.transpose(-1, -2)
            return torch.exp(-2.0 * (2.0 - 2.0 * G))

        gram_exp()
        tb, _ = timed(gram_exp, 3)
        its = 10
        solve("gaussian_energy", N, dd, params={"t": 2.0}, restarts=1, max_first_order=2, max_trust_region=0)
        te, re = timed(
            lambda: solve(
                "gaussian_energy", N, dd, params={"t": 2.0}, restarts=1, seed=1, max_first_order=its, max_trust_region=0
            ),
            1,
        )
        per_it = te / (int(re.iterations.max()) + 1)  # +1: the initial value and gradient
        rows.append(("gaussian_energy N=4096 d=32: one Gram matmul + exp", f"{tb:.4f} s", "baseline", ""))
        rows.append(
            (
                "gaussian_energy N=4096 d=32: solver iteration",
                f"{per_it:.4f} s",
                f"{int(re.iterations.max())} BB iterations",
                f"{per_it / tb:.2f}x baseline (target <= 3x: {'met' if per_it / tb <= 3 else 'MISSED'})",
            )
        )

    w = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"hemtools solver benchmark  (torch {torch.__version__}, threads {args.threads}, median of {args.repeats})")
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
