"""``hemtools conditions``: the seed theorem's prediction next to verify's measurement over a φ × ψ × (M, d) grid."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ._common import check_positive_int, print_json, write_atomic

NAME = "conditions"
ORDER = 25
HELP = "where the theorem's conditions hold and where the simplex is measured to be the minimiser"
DESCRIPTION = """\
For each φ, ψ of a catalogue (or given with --phi/--psi) and each (M, d) cell, decide the conditions of the
seed theorem for the loss (1/M) Σ_i ψ(c1 Σ_j φ(u_i·v_j − u_i·v_i) + c2 Σ_j φ(u_i·u_j − u_i·v_i)), run
verify, and print the prediction next to the measurement:

  φ,ψ cvx+inc   φ and ψ convex and nondecreasing (the seed's statement)
  F cvx+inc     F(x) = ψ(Σ c_j φ(x_j)) convex and nondecreasing: what the proof's Jensen chain needs
                (proved / refuted / undecided / undefined — see `hemtools symbolic`)
  predicted     where F's conditions hold: the aligned simplex (M <= d+1), or a value above the
                (unreachable) simplex value (M > d+1: the Jensen chain does not need M <= d+1)
  verdict, gap  what verify measured; gap = minimum found − loss at the aligned simplex

A cell where the conditions hold but verify refutes the simplex (a point with a lower value) is flagged as
a COUNTEREXAMPLE CANDIDATE and its points are saved as JSON for inspection.

Exit codes: 0 every cell with a prediction reproduced it; 1 a counterexample candidate; 3 some predicted
cells inconclusive.

examples: hemtools conditions
          hemtools conditions --phi 'exp(x/0.2)' --phi 'x**3+3*x' --psi 'x' --M 3,4 --d 2,3
"""

DEFAULT_SAVE_DIR = "hemtools-counterexamples"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--phi", action="append", default=[], metavar="FORMULA",
                   help="inner function φ(x), repeatable (default: the built-in catalogue)")
    p.add_argument("--psi", action="append", default=[], metavar="FORMULA",
                   help="outer function ψ(x), repeatable (default: the built-in catalogue)")
    p.add_argument("--M", default=None, metavar="LIST", help="values of M (2,3,8 or 2:6); with --d: every pair")
    p.add_argument("--d", default=None, metavar="LIST", help="values of d; default cells (3,2) (4,3) (5,4) (4,6)")
    p.add_argument("--c1", type=float, default=1.0, help="weight of the cross-view negatives (default 1)")
    p.add_argument("--c2", type=float, default=0.0, help="weight of the same-view negatives (default 0)")
    p.add_argument("--tau", type=float, default=0.5, help="value of the symbol tau in the formulas (default 0.5)")
    p.add_argument("--restarts", type=int, default=8, metavar="R", help="verify restarts per cell (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator (default 0)")
    p.add_argument("--no-hessian", action="store_true", help="skip verify's Hessian certificate")
    p.add_argument(
        "--save-dir",
        default=DEFAULT_SAVE_DIR,
        metavar="DIR",
        help=f"where counterexample candidates are saved (default ./{DEFAULT_SAVE_DIR}, created when needed)",
    )
    p.add_argument("--catalogue", action="store_true", help="list the built-in φ and ψ and exit")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document")


def _cells(args) -> list[tuple[int, int]]:
    from hemtools.grids import DEFAULT_CELLS
    from hemtools.optim import check_size
    from hemtools.sweep import parse_int_list

    if args.M is None and args.d is None:
        cells = list(DEFAULT_CELLS)
    elif args.d is None:
        cells = [(M, max(M - 1, 2)) for M in parse_int_list(args.M, "--M")]
    elif args.M is None:
        cells = [(d + 1, d) for d in parse_int_list(args.d, "--d")]
    else:
        cells = [(M, d) for M in parse_int_list(args.M, "--M") for d in parse_int_list(args.d, "--d")]
    for M, d in cells:
        check_size(M, d)
    return cells


def run(args: argparse.Namespace) -> int:
    from hemtools.errors import ArgumentError

    if args.catalogue:
        from hemtools.grids import CATALOGUE_PHI, CATALOGUE_PSI

        print("φ (argument u_i·w − u_i·v_i ∈ [−2, 2]):")
        for f, what in CATALOGUE_PHI:
            print(f"  {f:<16} {what}")
        print("ψ:")
        for f, what in CATALOGUE_PSI:
            print(f"  {f:<16} {what}")
        return 0
    check_positive_int("--restarts", args.restarts)
    check_positive_int("--seed", args.seed, low=0)
    for name, val in (("--c1", args.c1), ("--c2", args.c2)):
        if not (val >= 0 and val < float("inf")):
            raise ArgumentError(f"{name}: expected a finite number >= 0, got {val!r}")
    if args.c1 == 0 and args.c2 == 0:
        raise ArgumentError("--c1, --c2: at least one weight must be positive, got 0 and 0")
    if not (args.tau > 0 and args.tau < float("inf")):
        raise ArgumentError(f"--tau: expected a finite number > 0, got {args.tau!r}")
    cells = _cells(args)
    from hemtools.validators import check_output_dir

    check_output_dir(args.save_dir, "--save-dir")  # before the grid runs: a candidate found must be savable

    from hemtools import grids
    from hemtools.formula import compile_formula

    phis = args.phi or [f for f, _ in grids.CATALOGUE_PHI]
    psis = args.psi or [f for f, _ in grids.CATALOGUE_PSI]
    for f in phis:
        compile_formula(f, "--phi")  # a bad formula is a usage error before any computation
    for f in psis:
        compile_formula(f, "--psi")

    from hemtools.progress import Progress

    bar = Progress(
        len(phis) * len(psis) * len(cells),
        quiet=args.json,
        describe=lambda row: f"{row.phi}, {row.psi}, M={row.M} d={row.d}: {row.verdict}",
    )
    try:
        rows, conds = grids.condition_grid(
            phis,
            psis,
            cells,
            c1=args.c1,
            c2=args.c2,
            tau=args.tau,
            restarts=args.restarts,
            seed=args.seed,
            hessian=not args.no_hessian,
            progress=bar,
        )
    finally:
        bar.close()
    saved = _save_candidates(rows, conds, args.save_dir)
    n_pred = sum(r.outcome in ("reproduced", "inconclusive", "COUNTEREXAMPLE CANDIDATE") for r in rows)
    n_repro = sum(r.outcome == "reproduced" for r in rows)
    n_cand = sum(r.candidate for r in rows)
    n_inc = sum(r.outcome == "inconclusive" for r in rows)
    if args.json:
        print_json(
            {
                "cells": [r.to_dict() for r in rows],
                "conditions": [c.to_dict() for c in conds.values()],
                "summary": {
                    "cells": len(rows),
                    "predicted": n_pred,
                    "reproduced": n_repro,
                    "counterexample_candidates": n_cand,
                    "inconclusive": n_inc,
                    "saved": saved,
                },
                "seconds": sum(r.seconds for r in rows),
            }
        )
    else:
        sys.stdout.write(render(rows, conds, saved))
        sys.stdout.flush()
    return 1 if n_cand else (3 if n_inc else 0)


def _save_candidates(rows, conds, save_dir: str) -> list[str]:
    paths = []
    for r in rows:
        if not r.candidate:
            continue
        stem = "".join(ch if ch.isalnum() else "_" for ch in f"{r.phi}__{r.psi}")[:60]
        path = os.path.join(save_dir, f"counterexample_{stem}_M{r.M}_d{r.d}.json")
        cond = conds.get((r.phi, r.psi, r.M))
        doc = {
            "phi": r.phi,
            "psi": r.psi,
            "M": r.M,
            "d": r.d,
            "value": r.value,
            "simplex_value": r.simplex_value,
            "gap": r.gap,
            "conditions": cond.to_dict() if cond else None,
            "verify": r.report,
            "points": r.report.get("points"),
        }
        try:
            os.makedirs(save_dir, exist_ok=True)
            write_atomic(path, json.dumps(doc, indent=2, allow_nan=False, default=str))
        except OSError as exc:  # the table is still printed: the candidate's numbers are not lost
            print(f"hemtools conditions: error: cannot save {path!r} ({exc.strerror or exc}); the table below "
                  "stands", file=sys.stderr)
            continue
        paths.append(path)
    return paths


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def render(rows, conds, saved) -> str:
    w_phi = max(14, *(len(_short(r.phi, 22)) for r in rows)) if rows else 14
    w_psi = max(9, *(len(_short(r.psi, 16)) for r in rows)) if rows else 9
    head = (
        f"{'φ':<{w_phi}} {'ψ':<{w_psi}} {'M':>3} {'d':>3}  {'φ,ψ cvx+inc':<12} {'F cvx+inc':<10} "
        f"{'predicted':<24} {'verdict':<12} {'gap':>10}  outcome"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        gap = "nan" if r.gap != r.gap else f"{r.gap:.1e}"
        flag = "  <<<<<<<<<<" if r.candidate else ""
        lines.append(
            f"{_short(r.phi, 22):<{w_phi}} {_short(r.psi, 16):<{w_psi}} {r.M:>3} {r.d:>3}  {r.seed_conditions:<12} "
            f"{r.conditions:<10} {_short(r.predicted, 24):<24} {r.verdict:<12} {gap:>10}  {r.outcome}{flag}"
        )
    # why the conditions fail, once per (φ, ψ, M)
    lines += ["", "conditions that fail (the failing point, from `hemtools symbolic`'s decision procedure):"]
    seen = set()
    for (phi, psi, M), c in conds.items():
        bad = [f for f in c.findings if f.name.startswith("composite") and f.status in ("refuted", "undefined")]
        if c.holds in ("refuted", "undefined") and (phi, psi) not in seen:
            seen.add((phi, psi))
            what = bad[0] if bad else next((f for f in c.findings if f.status in ("refuted", "undefined")), None)
            if what is not None:
                lines.append(f"  φ={phi}, ψ={psi} (M={M}): {what.name} {what.status}: {what.detail}")
    n_pred = sum(r.outcome in ("reproduced", "inconclusive", "COUNTEREXAMPLE CANDIDATE") for r in rows)
    n_repro = sum(r.outcome == "reproduced" for r in rows)
    lines += [
        "",
        f"{len(rows)} cells; the conditions hold (a prediction) in {n_pred}; "
        f"reproduced in {n_repro}; seconds {sum(r.seconds for r in rows):.1f}",
    ]
    for r in rows:
        if r.candidate:
            lines.append(
                f"!!! COUNTEREXAMPLE CANDIDATE: φ={r.phi}, ψ={r.psi}, M={r.M}, d={r.d}: the conditions hold "
                f"({r.conditions}) but verify found {r.value:.12g} < {r.simplex_value:.12g} at the simplex"
            )
    for p in saved:
        lines.append(f"    points saved to {p}")
    return "\n".join(lines) + "\n"
