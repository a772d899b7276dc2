"""``hemtools analyze``: representation metrics of saved embeddings (.npy, .npz, .pt, .csv)."""

from __future__ import annotations

import argparse

from hemtools.io import EXTENSIONS, load_embeddings, normalise  # noqa: F401 (re-exported: tests, notebooks)
from hemtools.results import EXIT_INCONCLUSIVE, EXIT_OK, Verdict
from hemtools.text import render_analyze as render
from hemtools.validators import require_int

from ._common import check_output_path, show

NAME = "analyze"
ORDER = 30
HELP = "metrics of saved embeddings: alignment, uniformity, effective rank, W1 to the uniform law"
DESCRIPTION = """\
Load embeddings (one per row) and measure what Koromilas et al. (§7) and Wang & Isola look at:

  alignment       mean |u_i - v_i|^2 over the positive pairs (needs --pairs, row i pairs with row i)
  uniformity      log mean_(i<j) exp(-2 |u_i - u_j|^2)
  effective rank  exp(entropy of the normalised singular values)
  W1              Wasserstein-1 distance between the law of the inner products u_i.u_j (i<j) and their
                  law for independent uniform points on S^(d-1): exact through the CDF (up to 2^20 pairs),
                  else a rigorous bracket whose half-width is printed
  nearest         for M <= 256: the distance to every known configuration with M points in R^d

Rows that are not unit vectors are normalised (and the output says so): the metrics are defined on the
sphere.  Files: .npy, .npz and .pt (a tensor, or a dict/archive of them: choose one with --key when
there are several), .csv (numbers only, one embedding per line; a header line is skipped and reported).

exit codes: 0 measured, 2 bad input (one line naming the file and the problem), 3 a metric came out
non-finite (inconclusive), 4 internal error.

example: hemtools analyze z1.npy --pairs z2.npy --plot metrics.png
         hemtools analyze run.pt --key embeddings --json
"""

_CORE = ("SAMPLE_POINTS", "analyze", "finite_metrics")  # library code in hemtools.metrics (issue 12)


def __getattr__(name: str):
    """``hemtools.commands.analyze.analyze`` and friends, imported from hemtools.metrics when asked for
    (lazily: the command module is imported by ``--help``, metrics needs torch and scipy)."""
    if name in _CORE:
        from hemtools import metrics

        return getattr(metrics, name)
    raise AttributeError(name)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("emb", metavar="EMB", help="embeddings, one per row: .npy, .npz, .pt or .csv")
    p.add_argument("--pairs", metavar="EMB2", help="the positives: row i of EMB2 pairs with row i of EMB")
    p.add_argument("--key", default=None, help="array to use in a .npz or a dict saved in .pt (both files)")
    p.add_argument("--seed", type=int, default=0, help="seed for the subsample drawn in the figure (default 0)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document")
    p.add_argument("--plot", metavar="FILE", help="write a figure (.png, .svg or .pdf)")


def run(args: argparse.Namespace) -> int:
    require_int("--seed", args.seed, 0)
    if args.plot:
        check_output_path(args.plot)
    from hemtools.metrics import analyze, finite_metrics  # heavy: torch, scipy

    r = analyze(args.emb, args.pairs, args.key, args.seed)
    bad = finite_metrics(r)
    if bad:
        r["verdict"] = Verdict.INCONCLUSIVE
        r["notes"].append(f"non-finite: {', '.join(bad)}")
    if args.plot:
        from hemtools.plots import analyze_figure
    show(r, args.json, render, args.plot, analyze_figure if args.plot else None, label="figure          ", name=NAME)
    return EXIT_INCONCLUSIVE if bad else EXIT_OK
