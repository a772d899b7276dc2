"""``hemtools energy``: minimum hyperspherical energy of N points on S^{d−1}, recognised and bounded."""

from __future__ import annotations

import argparse
import math

from hemtools.results import EXIT_INCONCLUSIVE, EXIT_OK
from hemtools.text import params_text as _params
from hemtools.text import render_energy as render
from hemtools.validators import require_int

from ._common import check_output_path, show

NAME = "energy"
ORDER = 20
HELP = "minimise a Riesz, logarithmic or Gaussian energy of N points on the sphere (with an LP lower bound)"
DESCRIPTION = """\
Find the lowest energy of N points on S^{d-1} from random restarts plus basin hopping (the lowest minima
are perturbed and solved again until the best value is reproduced and no round improves it), polish it,
recognise the configuration (simplex, cross-polytope, icosahedron, 600-cell, E8, ...) and compare it with
the Delsarte-Yudin linear-programming lower bound: a relative gap below 1e-6 certifies a global minimum.

kernels:  riesz     sum_(i<j) |x_i - x_j|^(-s)          (--s, default 1: the Thomson problem)
          log       sum_(i<j) -log |x_i - x_j|
          gaussian  sum_(i!=j) exp(-t |x_i - x_j|^2)     (--t, default 2; InfoNCE uniformity: t = 1/(2 tau))

exit codes: 0 converged (gradient below its scale-aware tolerance), 2 bad input, 3 not converged or
non-finite (inconclusive), 4 internal error.

example: hemtools energy --kernel riesz --N 12 --d 3
         hemtools energy --kernel gaussian --t 4 --N 120 --d 4 --restarts 8   (the 600-cell, certified; ~30 s)
         hemtools energy --kernel gaussian --t 4 --N 240 --d 8                (the E8 roots, certified; ~2 min)
Flat landscapes (Gaussian with small t and many points, e.g. t = 1, N = 120, d = 4) can stop the solver at
its iteration limit: the exit code is then 3, not a claim.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", required=True, choices=["riesz", "log", "gaussian"], help="the energy")
    p.add_argument("--s", type=float, default=None, help="Riesz exponent s > 0 (kernel riesz; default 1)")
    p.add_argument("--t", type=float, default=None, help="Gaussian scale t > 0 (kernel gaussian; default 2)")
    p.add_argument("--N", type=int, required=True, help="number of points (>= 2)")
    p.add_argument("--d", type=int, required=True, help="dimension of the ambient space R^d (>= 2)")
    p.add_argument("--restarts", type=int, default=16, metavar="R",
                   help="random restarts, and solves per basin-hopping round (default 16)")
    p.add_argument("--rounds", type=int, default=20, metavar="K", help="most basin-hopping rounds (default 20)")
    p.add_argument("--patience", type=int, default=None,
                   help="stop after this many rounds without improvement (default max(3, min(ceil(N/10), 10)))")
    p.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator (default 0)")
    p.add_argument("--max-iter", type=int, default=None, metavar="K",
                   help="most iterations of each local solve, the final polish included (default 20000, then "
                   "the trust region finishes what L-BFGS does not certify)")
    p.add_argument("--no-bound", action="store_true", help="skip the LP lower bound")
    p.add_argument("--degree", type=int, default=None, help="degree of the LP polynomial (default 30)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document")
    p.add_argument(
        "--rigorous",
        action="store_true",
        help="also prove the LP bound in ball arithmetic and enclose the gap to the exact recognised "
        "configuration (needs python-flint: pip install 'hemtools[rigorous]'); exit 3 if the proof fails",
    )
    p.add_argument("--plot", metavar="FILE", help="write a figure (.png, .svg or .pdf)")


def run(args: argparse.Namespace) -> int:
    from hemtools.errors import ArgumentError

    for name, val, lo in (
        ("--N", args.N, 2),
        ("--d", args.d, 2),
        ("--restarts", args.restarts, 1),
        ("--rounds", args.rounds, 0),
        ("--patience", args.patience, 1),
        ("--seed", args.seed, 0),
        ("--max-iter", args.max_iter, 1),
    ):
        if val is not None:
            require_int(name, val, lo)
    if args.degree is not None:
        require_int("--degree", args.degree, 1, 1999, hint="the LP grid has 2001 points")
    # the relaxation evaluates its pair terms in bounded blocks and relaxes the restarts in groups that fit
    # (energy_relax.RELAX_MEMORY); the final polish holds a few N×N float64 matrices: refuse what cannot fit
    need = 6 * 8 * args.N**2
    if need > 64 * 2**30:
        raise ArgumentError(
            f"--N {args.N}: the final polish would need ~{need / 2**30:.0f} GiB (a few N×N float64 matrices); "
            "lower --N"
        )
    if args.plot:
        check_output_path(args.plot)
    if args.rigorous:
        from hemtools.rigorous import require_flint

        require_flint()

    from hemtools import energies  # heavy: torch
    from hemtools.bounds import potential

    try:
        potential(args.kernel, s=args.s, t=args.t)
    except ArgumentError as exc:
        raise ArgumentError(f"--{exc}") from None

    res = energies.minimise(
        args.kernel,
        args.N,
        args.d,
        s=args.s,
        t=args.t,
        restarts=args.restarts,
        seed=args.seed,
        max_rounds=args.rounds,
        patience=args.patience,
        max_iter=args.max_iter,
    )
    bound = None
    if not args.no_bound and math.isfinite(res.value):
        from hemtools.bounds import lp_bound

        bound = lp_bound(args.kernel, args.N, args.d, s=args.s, t=args.t, degree=args.degree)
    from hemtools.bounds import energy_report

    out = energy_report(res, bound)
    code = EXIT_OK if res.converged else EXIT_INCONCLUSIVE
    if args.rigorous:
        from hemtools.rigorous.prove import energy_section

        params = (
            {"t": args.t}
            if args.kernel == "gaussian" and args.t is not None
            else ({"s": args.s} if args.kernel == "riesz" and args.s is not None else {})
        )
        out["rigorous"] = energy_section(args.kernel, args.N, args.d, params, res.configuration)
        if not out["rigorous"]["proved"]:
            code = EXIT_INCONCLUSIVE

    def table(doc: dict) -> str:
        text = render(doc)
        if args.rigorous:
            from hemtools.rigorous.prove import render as render_rigorous

            text += "\n" + render_rigorous(doc["rigorous"])
        return text

    show(out, args.json, table, args.plot, figure, name=NAME)
    return code


def figure(r: dict, path: str) -> None:
    """Configuration, inner products, convergence of the restarts and the best value per round."""
    import numpy as np
    from matplotlib.figure import Figure

    from hemtools import plots

    X = np.array(r["points"], dtype=float)
    fig = Figure(figsize=(11, 8.5))
    gs = fig.add_gridspec(2, 2, hspace=0.35, wspace=0.3)
    title = (
        f"{r['kernel']} energy" + (f" ({_params(r['params'])})" if r["params"] else "") + f", N={r['N']}, d={r['d']}"
    )
    plots.geometry(fig, gs[0, 0], X, None, title=r["configuration"] or "minimiser")
    plots.inner_product_histogram(fig.add_subplot(gs[0, 1]), X, r["d"], title="Inner products x_i·x_j (i<j)")
    hist = r.get("history", {}).get("grad_norms")
    if hist:
        plots.convergence(
            fig.add_subplot(gs[1, 0]), hist, tol=r["grad_tol"], title="Convergence of the random restarts"
        )
    ax = fig.add_subplot(gs[1, 1])
    best = np.array([float(v) for v in r["round_best"]])
    ax.plot(np.arange(best.size), best - best[-1], marker="o", label="best − final best")
    lp = r.get("lp_bound")
    if lp and lp.get("gap") is not None:
        ax.axhline(lp["bound"] - best[-1], color="tab:red", ls="--", label=f"LP bound (gap {lp['gap']:.1e})")
    ax.set_xlabel("basin-hopping round (0 = random restarts)")
    ax.set_ylabel("energy above the final minimum")
    ax.set_title("Best energy per round")
    ax.legend(fontsize=7)
    fig.suptitle(f"{title}: minimum {r['value']:.12g}")
    plots.save(fig, path)
