"""``hemtools compare``: an implementation of a loss against a reference, values and gradients."""

from __future__ import annotations

import argparse
import sys

from hemtools.text import render_compare as render
from hemtools.validators import require_int

from ._common import parse_params, print_json

NAME = "compare"
ORDER = 5
HELP = "compare a loss implementation with a reference (values and gradients; exit 1 on mismatch)"
DESCRIPTION = """\
Evaluate an implementation and a reference loss on the same configurations: random (independent and
correlated views), near the optimum and at the optimum, for every M and d given.  Compare the values and
the Riemannian gradients; print the largest discrepancies with the inputs that produced them.

tolerance:  |a − b| <= max(rtol · max(|a|, |b|), atol, 10 · measured round-off of both at that point);
            gradients are not compared where the reference has no derivative (measured), values are.
On a mismatch it prints a diagnosis: the ratio of the values (a constant ratio is a convention), the other
registered losses the implementation matches, and single precision with the --rtol that fits.
exit codes: 0 match, 1 mismatch, 2 usage error, 3 inconclusive (both non-finite), 4 error in user code

LOSS and REFERENCE are registered names, module:function, path/to/file.py:function, or an external
library's loss: pml:NTXentLoss (pytorch-metric-learning; pip install 'hemtools[pml]').

example: hemtools compare --loss pml:NTXentLoss --reference nt_xent --tau 0.2
         hemtools compare --loss mylosses.py:my_dcl --reference dcl --M 2:6 --d 3,16 --trials 5
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--loss", required=True, metavar="IMPL", help="the implementation under test")
    p.add_argument("--reference", required=True, metavar="NAME", help="the trusted loss to compare with")
    p.add_argument("--M", default="3,5", help="values of M: 3,5 or a range 2:8 (default 3,5)")
    p.add_argument("--d", default="3,8", help="values of d, same syntax (default 3,8)")
    p.add_argument("--trials", type=int, default=3, metavar="N",
                   help="configurations of each kind (random, correlated, near optimum) per (M, d) (default 3)")
    p.add_argument("--tau", type=str, default=None, metavar="T", help="temperature τ for both (= --param tau=T)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="parameter of both losses, repeatable")
    p.add_argument("--loss-param", action="append", default=[], metavar="KEY=VALUE",
                   help="parameter of the implementation only (overrides --param)")
    p.add_argument("--reference-param", action="append", default=[], metavar="KEY=VALUE",
                   help="parameter of the reference only (overrides --param)")
    p.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator (default 0)")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance (default 1e-12)")
    p.add_argument("--atol", type=float, default=None, help="absolute tolerance (default 1e-13)")
    p.add_argument("--top", type=int, default=3, help="discrepancies to show with their inputs (default 3)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document")


def run(args: argparse.Namespace) -> int:
    params = parse_params(args.param, args.tau)
    pl, pr = parse_params(args.loss_param), parse_params(args.reference_param)
    require_int("--top", args.top, 0)

    from hemtools import compare as core  # heavy: torch
    from hemtools.sweep import parse_int_list

    Ms, ds = parse_int_list(args.M, "--M"), parse_int_list(args.d, "--d")
    kw = {}
    if args.rtol is not None:
        kw["rtol"] = args.rtol
    if args.atol is not None:
        kw["atol"] = args.atol
    def progress(line: str) -> None:  # the reference may have to be solved: minutes, said on stderr
        print(line, file=sys.stderr, flush=True)

    report = core.compare(args.loss, args.reference, Ms, ds, trials=args.trials, params=params, params_loss=pl,
                          params_reference=pr, seed=args.seed, progress=progress, **kw)
    if args.json:
        print_json(report.to_dict(top=args.top))
    else:
        sys.stdout.write(render(report, args.top))
        sys.stdout.flush()
    return report.exit_code
