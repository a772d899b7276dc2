"""``hemtools compare``: an implementation of a loss against a reference, values and gradients."""

from __future__ import annotations

import argparse
import sys

from ._common import parse_params, print_json
from .verify import _fmt  # the number format of verify's table

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
    from hemtools.errors import ArgumentError

    params = parse_params(args.param, args.tau)
    pl, pr = parse_params(args.loss_param), parse_params(args.reference_param)
    if args.top < 0:
        raise ArgumentError(f"--top: expected an integer >= 0, got {args.top}")

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


def _params(p: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())


def _matrix(name: str, rows, width: int = 10) -> list[str]:
    out = []
    for i, row in enumerate(rows):
        out.append(f"    {name}[{i}] = [" + ", ".join(f"{v:+.{width}f}" for v in row) + "]")
    return out


def render(r, top: int = 3) -> str:
    """The human table: verdict, one line per kind of configuration, the worst cases with their inputs."""
    lines = [
        f"loss       {r.loss}" + (f"  ({_params(r.params_loss)})" if r.params_loss else ""),
        f"reference  {r.reference}" + (f"  ({_params(r.params_reference)})" if r.params_reference else ""),
        f"grid       M in {r.Ms}, d in {r.ds}, {r.trials} trials, seed {r.seed}; rtol {r.rtol:g}, atol {r.atol:g}",
        f"verdict    {r.verdict.upper()}: {r.reason}",
    ]
    lines += [f"diagnosis  {d}" if i == 0 else f"           {d}" for i, d in enumerate(r.diagnostics)]
    lines += [
        "",
        f"  {'configurations':<14} {'cases':>5} {'mismatch':>8}  {'max |Δvalue|':>12}  {'max ‖Δgrad‖':>12}  {'worst Δ/tol':>11}",
    ]
    for where, s in r.by_where().items():
        lines.append(f"  {where:<14} {s['cases']:>5} {s['mismatches']:>8}  {_fmt(s['max_value_diff']):>12}  "
                     f"{_fmt(s['max_grad_diff']):>12}  {_fmt(s['max_severity']):>11}"
                     + (f"  ({s['not_comparable']} without a derivative of the reference)" if s["not_comparable"]
                        else ""))
    worst = r.worst(top)
    if worst:
        lines += ["", "largest discrepancies (Δ/tol > 1 is a mismatch):"]
        for k, c in enumerate(worst, 1):
            lines.append(f"  {k}. {c.where}, M={c.M}, d={c.d}, trial {c.trial}: Δ/tol {_fmt(c.severity)}"
                         + ("  MISMATCH" if c.mismatch else ""))
            lines.append(f"     value     {c.value_loss:.17g} (loss)  {c.value_reference:.17g} (reference)  "
                         f"|Δ| {_fmt(c.value_diff)} vs tol {_fmt(c.value_tol)}")
            lines.append(f"     gradient  ‖g‖ {_fmt(c.grad_loss)} (loss)  {_fmt(c.grad_reference)} (reference)  "
                         f"‖Δ‖ {_fmt(c.grad_diff)} vs tol {_fmt(c.grad_tol)}"
                         + ("" if c.grad_comparable else "  (not compared: the reference has no derivative here)"))
            if k == 1 and c.mismatch:
                x = c.points.tolist()
                if c.M * c.d <= 64:
                    lines.append("     inputs (rows on the unit sphere):")
                    if r.kind == "pairs":
                        lines += _matrix("U", x[: c.M]) + _matrix("V", x[c.M:])
                    else:
                        lines += _matrix("X", x)
                else:
                    lines.append("     inputs: too large to print; --json has them in full under worst[0].points")
    lines += ["", f"seconds    {r.seconds:.2f}"]
    return "\n".join(lines) + "\n"
