"""``hemtools symbolic``: closed forms, stationarity, the Jensen chain and the conditions of the proof (sympy)."""

from __future__ import annotations

import argparse
import sys

from hemtools.text import render_symbolic as render

from ._common import add_loss_arguments, check_positive_int, parse_params, print_json

NAME = "symbolic"
ORDER = 20
HELP = "symbolic checks of a loss: closed form at the simplex, stationarity, Jensen chain, conditions"
DESCRIPTION = """\
Derive with sympy, and check numerically, the pieces of the seed theorem's proof for one loss:

  closed form    the loss at the aligned regular simplex in M and the parameters, derived from the loss's
                 formula and from its φ/ψ (or kernel) form, compared with the loss at an exact simplex
  stationarity   the Riemannian gradient vanishes at the aligned simplex (every M, and M = 2, 3 from the
                 full Gram matrix), measured by autograd
  Jensen chain   each inequality of the lower bound with the condition it needs; equality at the simplex
  conditions     convexity / monotonicity of φ, ψ and of F(x) = ψ(Σ c_j φ(x_j)): proved, refuted (with the
                 failing point) or undecided (with a numerical scan, labelled as such)
  ustatistic     (kcl) the expected mini-batch loss is the same for M = 2..5 (exact), vs Monte Carlo
  alpha_cl       (α-CL instances) ∇L = −∇E_α with α stopped: sympy for M = 3, d = 2; autograd for larger

Exit codes: 0 every derived statement checked out; 1 a measurement contradicts one; 3 non-finite numbers.
A refuted *condition* is a finding, not a failure (the theorem's hypotheses may simply not hold).

examples: hemtools symbolic --loss infonce --tau 0.2
          hemtools symbolic --loss phipsi --param phi='exp(x/0.5)' --param psi='log(x)' --param c2=1
          hemtools symbolic --loss kcl --json
"""

SECTIONS = ("stationarity", "chain", "conditions", "ustatistic", "alpha_cl")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_loss_arguments(p)
    p.add_argument("--M", default="2:6,8", metavar="LIST",
                   help="M values of the numeric cross-check of the closed form (default 2:6,8)")
    p.add_argument("--sections", default=",".join(SECTIONS), metavar="LIST",
                   help=f"comma-separated subset of {','.join(SECTIONS)} (the closed form is always derived)")
    p.add_argument("--mc-samples", type=int, default=20000, metavar="N", help="Monte Carlo batches per M (kcl)")
    p.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator (default 0)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document")


def run(args: argparse.Namespace) -> int:
    from hemtools.errors import ArgumentError
    from hemtools.sweep import parse_int_list

    params = parse_params(args.param, args.tau)
    Ms = parse_int_list(args.M, "--M")
    if min(Ms) < 2:
        raise ArgumentError(f"--M: expected integers >= 2, got {args.M!r}")
    if max(Ms) > 64:
        raise ArgumentError(f"--M: the exact-simplex cross-check is limited to M <= 64, got {max(Ms)}")
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ArgumentError(f"--sections: unknown {', '.join(unknown)}; accepted: {', '.join(SECTIONS)}")
    check_positive_int("--mc-samples", args.mc_samples, low=100)
    check_positive_int("--seed", args.seed, low=0)

    from hemtools import symbolic

    report = symbolic.analyse(args.loss, params, Ms=Ms, seed=args.seed, mc_samples=args.mc_samples,
                              sections=sections)
    if args.json:
        print_json(report.to_dict())
    else:
        sys.stdout.write(render(report))
        sys.stdout.flush()
    return report.exit_code
