"""``hemtools plot``: re-draw a figure from saved results, without recomputing anything."""

from __future__ import annotations

import argparse

from hemtools.io import read_results  # noqa: F401 (public here before issue 12)

from ._common import check_output_path

NAME = "plot"
ORDER = 40
KINDS = ("verify", "geometry", "gram", "histogram", "convergence", "energy", "phase", "analyze")
HELP = "re-draw a figure from saved JSON results (verify, energy, analyze --json; sweep JSON lines)"
DESCRIPTION = """\
Draw a figure from results saved earlier; nothing is recomputed.  RESULT files are what `verify --json`,
`energy --json` and `analyze --json` print, or the JSON-lines file of `sweep` (one result per line).

kinds:  verify       the four panels of `verify --plot` (Gram, inner products, geometry, convergence)
        geometry     the points: sphere for d = 3 (pairs joined), circle for d = 2, PCA projection otherwise
        gram         the Gram matrix of U (and V)
        histogram    inner products against the uniform law on S^(d-1) (and the simplex value)
        convergence  Riemannian gradient norm of every restart (verify, energy)
        energy       minimum energy per pair against N, with the LP bound (several `energy --json` files);
                     the loss at the minimum against M for verify/sweep results
        phase        (M, d) verdict diagram, one panel per loss (sweep JSON lines)
        analyze      the figure of `analyze --plot`

The file type follows the extension of --out: .png, .svg or .pdf.

example: hemtools plot result.json --kind geometry --out geometry.png
         hemtools plot sweep.jsonl --kind phase --out phase.pdf
         hemtools plot e4.json e8.json e12.json --kind energy --out energy.svg
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", metavar="RESULT", help="saved JSON result(s) or a sweep .jsonl file")
    p.add_argument("--kind", required=True, choices=KINDS, help="what to draw")
    p.add_argument("--out", required=True, metavar="FILE", help="figure file (.png, .svg or .pdf)")


def _results(path: str) -> list[dict]:
    """The results in a saved file: a JSON document, JSON lines, or an SQLite sweep store (the default store
    of ``hemtools sweep``; read as text it was "cannot be read ('utf-8' codec ...)")."""
    try:
        with open(path, "rb") as fh:
            sqlite = fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        sqlite = False
    if not sqlite:
        return read_results(path)
    from hemtools import store as stores
    from hemtools.errors import ArgumentError

    rows = [r for r in stores.read_rows(path) if r.get("verdict") != "error"]
    if not rows:
        raise ArgumentError(f"{path}: the store holds no finished cell to draw")
    return rows


def run(args: argparse.Namespace) -> int:
    from hemtools.errors import ArgumentError

    check_output_path(args.out, what="--out")
    results: list[dict] = []
    for path in args.results:
        results += [{**r, "_source": path} for r in _results(path)]
    if args.kind not in ("energy", "phase") and len(results) > 1:
        raise ArgumentError(f"--kind {args.kind}: draws one result, got {len(results)} "
                            f"(from {', '.join(args.results)}); energy and phase take several")
    from hemtools import plots

    kinds = {plots.result_kind(r) for r in results}
    need = {"verify": {"verify"}, "analyze": {"analyze"}, "convergence": {"verify", "energy"},
            "gram": {"verify", "energy"}, "geometry": {"verify", "energy", "analyze"},
            "histogram": {"verify", "energy", "analyze"}, "energy": {"verify", "energy"}, "phase": {"verify"}}
    wrong = kinds - need[args.kind]
    if wrong:
        raise ArgumentError(
            f"--kind {args.kind}: {', '.join(args.results)} hold{'s' if len(args.results) == 1 else ''} "
            f"{'/'.join(sorted(wrong))} results; --kind {args.kind} draws "
            f"{' or '.join(sorted(need[args.kind]))} results"
        )
    try:
        plots.figure_for(args.kind, results, args.out)
    except OSError as exc:  # a full disk, a folder that refuses files: the saved results are untouched
        raise ArgumentError(f"--out: cannot write {args.out!r} ({exc.strerror or exc})") from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        missing = exc.args[0] if isinstance(exc, KeyError) and exc.args else f"{type(exc).__name__}: {exc}"
        raise ArgumentError(
            f"{', '.join(args.results)}: cannot draw --kind {args.kind}: the saved result lacks "
            f"or has a malformed {missing!r} (was it saved with the points/history?)"
        ) from None
    print(f"figure  {args.out}  ({args.kind}, from {len(results)} result{'s' if len(results) > 1 else ''})")
    return 0
