"""``hemtools sweep``: verify over a grid of losses × M × d, results appended as they finish."""

from __future__ import annotations

import argparse
import sys

from ._common import add_solver_arguments, check_positive_int, parse_params

NAME = "sweep"
ORDER = 10
HELP = "run verify over a grid of losses, M and d; results are written as each cell finishes"
DESCRIPTION = """\
Run verify on every cell of a grid and append each result to a JSON-lines file as soon as it is known
(a crash or Ctrl-C loses at most the cell in flight; running the same command again resumes).

example: hemtools sweep --loss infonce,dhel,kcl --M 2:17 --d 2,3,8,16 --simplex-range --out sweep.jsonl
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--loss", required=True, help="comma-separated loss names")
    p.add_argument("--M", required=True, help="values of M: 2,3,8 or a range 2:17 (inclusive) or 2:17:3")
    p.add_argument("--d", required=True, help="values of d, same syntax")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="loss parameter, repeatable")
    p.add_argument("--claim", default=None, help="claim for every cell (default: simplex if M <= d+1 else aligned)")
    p.add_argument("--simplex-range", action="store_true", help="keep only the cells with M <= d+1")
    p.add_argument("--out", required=True, metavar="FILE", help="JSON-lines file the results are appended to")
    p.add_argument("--workers", type=int, default=1, help="worker processes (each pinned to one thread)")
    p.add_argument("--no-hessian", action="store_true", help="skip the Hessian certificate")
    add_solver_arguments(p)


def run(args: argparse.Namespace) -> int:
    from hemtools import sweep

    losses = [s.strip() for s in args.loss.split(",") if s.strip()]
    Ms = sweep.parse_int_list(args.M, "--M")
    ds = sweep.parse_int_list(args.d, "--d")
    params = parse_params(args.param)
    check_positive_int("--workers", args.workers)
    check_positive_int("--restarts", args.restarts)
    from hemtools.losses import get_loss
    from hemtools.optim import check_size

    for name in losses:  # fail fast on a typo, before hours of compute
        get_loss(name).resolve_params(params)
    for M in Ms:
        for d in ds:
            check_size(M, d)
    cells = sweep.grid(losses, Ms, ds, params=[params], claim=args.claim,
                       rule=(lambda M, d: M <= d + 1) if args.simplex_range else None)
    opts = sweep.SweepOptions(restarts=args.restarts, seed=args.seed, dtype=args.dtype, device=args.device,
                              tol=args.tol, hessian=not args.no_hessian)
    bar = _progress(len(cells))
    try:
        summary = sweep.run(cells, args.out, opts, workers=args.workers,
                            progress=lambda i, n, r: bar(i, n, r))
    finally:
        bar.close()
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.verdicts.items())) or "nothing new"
    print(f"{summary.done} cells run, {summary.skipped} already in {args.out}: {counts}")
    bad = summary.verdicts.get("refuted", 0) + summary.verdicts.get("error", 0)
    return 1 if bad else (3 if summary.verdicts.get("inconclusive") else 0)


class _progress:
    """tqdm when available and stderr is a terminal, otherwise one line per cell."""

    def __init__(self, total: int):
        self.tq = None
        try:
            from tqdm import tqdm

            self.tq = tqdm(total=total, unit="cell", disable=not sys.stderr.isatty())
        except ImportError:
            pass

    def __call__(self, i: int, n: int, r: dict) -> None:
        if self.tq is not None and not self.tq.disable:
            self.tq.set_postfix_str(f"{r.get('loss')} M={r.get('M')} d={r.get('d')}: {r.get('verdict')}")
            self.tq.update(1)
        else:
            print(f"[{i}/{n}] {r.get('loss')} M={r.get('M')} d={r.get('d')}: {r.get('verdict')}", file=sys.stderr)

    def close(self) -> None:
        if self.tq is not None:
            self.tq.close()
