"""``hemtools sweep``: verify over a grid of losses × M × d into a store; ``sweep report|export|import``."""

from __future__ import annotations

import argparse
import math
import os
import sys

from hemtools.results import exit_code

from ._common import add_solver_arguments, check_positive_int, parse_params

NAME = "sweep"
ORDER = 10
HELP = "run verify over a grid of losses, M and d into a result store (local processes or Dask); report it"
DESCRIPTION = """\
Run verify on every cell of a grid and store each result as soon as it is known: an SQLite store
(default results.sqlite; several sweeps on one machine may share one — its WAL journal needs its writers on
one host: for several machines run one sweep with --dask) or a JSON-lines file (--out).
Running the same command again computes only what is missing (error cells are recomputed); a larger
grid adds only the new cells; --force recomputes.  A cell is identified by its loss, M, d, parameters,
claim and solver options (--restarts, --seed, --dtype, --device, --tol, --no-hessian); each cell runs
with its own seed derived from that key and --seed, so 1 worker, N workers and Dask give the same values.

  hemtools sweep --loss infonce,dhel,kcl --M 2:17 --d 2,3,8,16 --simplex-range       (results.sqlite)
  hemtools sweep --loss kcl --M 2:64 --d 2:32 --dask tcp://scheduler:8786 --store big.sqlite
  hemtools sweep report results.sqlite [--json] [--plot phase.png] [--where "loss='dhel' and M<=8"]
  hemtools sweep export results.sqlite --jsonl|--csv [--out FILE]
  hemtools sweep import old.jsonl results.sqlite

Ctrl-C stores the cells finished so far and exits 130; the same command resumes.
Exit codes: 0 all confirmed, 1 some refuted, 3 some inconclusive, 4 some cell raised (stored as error),
2 bad input (nothing is run and the store is not touched), 130 interrupted.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--loss", help="comma-separated loss names (required to run a sweep)")
    p.add_argument("--M", help="values of M: 2,3,8 or a range 2:17 (inclusive) or 2:17:3")
    p.add_argument("--d", help="values of d, same syntax")
    p.add_argument("--tau", type=str, default=None, metavar="T", help="temperature τ (same as --param tau=T)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="loss parameter, repeatable")
    p.add_argument("--claim", default=None, help="claim for every cell (default: simplex if M <= d+1 else aligned)")
    p.add_argument("--simplex-range", action="store_true", help="keep only the cells with M <= d+1")
    p.add_argument("--store", metavar="FILE", default=None,
                   help="result store: SQLite (default results.sqlite) or a .jsonl file")
    p.add_argument("--out", metavar="FILE.jsonl", default=None, help="JSON-lines store (one sweep at a time)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per core, at most one per 4 cells; "
                        "0 = in this process, the default for fewer than 8 cells)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run on Dask: tcp://scheduler:8786, or local:N for a local cluster of N workers")
    p.add_argument("--dask-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the Dask scheduler to answer (default 10)")
    p.add_argument("--force", action="store_true", help="recompute cells already in the store")
    p.add_argument("--no-hessian", action="store_true", help="skip the Hessian certificate")
    add_solver_arguments(p)
    sub = p.add_subparsers(dest="sweep_action", metavar="[report|export|import]", parser_class=type(p))
    r = sub.add_parser("report", help="verdict table and phase diagram of a store (read-only)",
                       description="Verdicts per (loss, params) and (M, d), the gap to the simplex value and the "
                                   "seconds per cell, from an SQLite store or a JSON-lines file (opened read-only).")
    r.add_argument("store", metavar="STORE")
    r.add_argument("--json", action="store_true", help="print one JSON document")
    r.add_argument("--plot", metavar="FILE", help="per loss: (M, d) phase diagram by verdict with the M = d+1 "
                   "staircase, gap to the simplex value, seconds per cell (.png, .svg or .pdf)")
    r.add_argument("--where", metavar="FILTER", default=None,
                   help="keep rows matching e.g. \"loss='dhel' and M<=8 and verdict!='confirmed'\" "
                        "(fields: loss M d verdict claim configuration host seconds value gap grad_norm "
                        "params.NAME; operators = != < <= > >=; joined by and/or)")
    e = sub.add_parser("export", help="write a store as JSON lines or CSV")
    e.add_argument("store", metavar="STORE")
    fmt = e.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--jsonl", action="store_true", help="one full result per line")
    fmt.add_argument("--csv", action="store_true", help="the table columns (no certificates)")
    e.add_argument("--out", metavar="FILE", default=None, help="file to write (default: standard output)")
    e.add_argument("--where", metavar="FILTER", default=None, help="as in sweep report")
    i = sub.add_parser("import", help="add the rows of a JSON-lines file to an SQLite store")
    i.add_argument("source", metavar="FILE.jsonl")
    i.add_argument("store", metavar="STORE")


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "sweep_action", None)
    if action == "report":
        return _report(args)
    if action == "export":
        return _export(args)
    if action == "import":
        return _import(args)
    return _sweep(args)


# --------------------------------------------------------------------------------------------------------
# running a sweep


def _validate(args):
    """Everything that can be wrong with the command line, before any work (ArgumentError, exit 2)."""
    from hemtools.errors import ArgumentError

    for name in ("loss", "M", "d"):
        if not getattr(args, name):
            raise ArgumentError(f"--{name} is required to run a sweep (or use: sweep report|export|import)")
    from hemtools import sweep

    losses = list(dict.fromkeys(s.strip() for s in args.loss.split(",") if s.strip()))
    if not losses:
        raise ArgumentError(f"--loss: no loss names in {args.loss!r}")
    Ms = sweep.parse_int_list(args.M, "--M")
    ds = sweep.parse_int_list(args.d, "--d")
    params = parse_params(args.param, args.tau)
    if args.store and args.out:
        raise ArgumentError("--store and --out: give one store")
    if args.dask and args.workers is not None:
        raise ArgumentError("--workers and --dask: choose one backend (Dask workers are started by `dask worker`)")
    if not (math.isfinite(args.dask_timeout) and args.dask_timeout > 0):
        raise ArgumentError(f"--dask-timeout: expected a positive number of seconds, got {args.dask_timeout!r}")
    if args.workers is not None:
        check_positive_int("--workers", args.workers, low=0)
    check_positive_int("--restarts", args.restarts)
    check_positive_int("--seed", args.seed, low=0)
    if args.tol is not None and not (math.isfinite(args.tol) and args.tol > 0):
        raise ArgumentError(f"--tol: expected a positive finite number, got {args.tol!r}")
    from hemtools.checks import parse_claim
    from hemtools.losses import get_loss
    from hemtools.optim import check_size, resolve_device

    try:
        resolve_device(args.device)
    except ArgumentError as exc:
        raise ArgumentError(f"--{exc}") from None
    rule = (lambda M, d: M <= d + 1) if args.simplex_range else None
    cells = []
    for name in losses:  # fail fast on a typo, before hours of compute
        spec = get_loss(name)
        resolved = spec.resolve_params(params)
        for M in Ms:
            for d in ds:
                check_size(M, d)
                if rule is None or rule(M, d):
                    try:
                        parse_claim(args.claim, spec, M, d)
                    except ArgumentError as exc:
                        raise ArgumentError(f"--{exc} (loss {name}, M={M}, d={d})") from None
        cells += sweep.grid([name], Ms, ds, params=[_plain(resolved, params)], claim=args.claim, rule=rule)
    if not cells:
        raise ArgumentError("the grid is empty (--simplex-range keeps only M <= d+1)")
    return cells


def _plain(resolved: dict, given: dict) -> dict:
    """The cell's parameters: numbers, text, bools and None as resolved; a given value that is none of these
    (`--param w=[1, 2]`) as it was typed; a default that is none of these (a tensor, a dict, a function in a user
    loss's signature) left out, for verify to fill in (a cell must be hashable, its key JSON)."""
    from hemtools.sweep import _plain as plain

    return {k: (v if plain(v) else given[k]) for k, v in resolved.items() if plain(v) or k in given}


def _sweep(args) -> int:
    cells = _validate(args)
    from hemtools import store as stores
    from hemtools import sweep

    path = args.out or args.store or "results.sqlite"
    stores.check_store(path)  # read-only: a foreign file or another schema is refused before anything runs
    opts = sweep.SweepOptions(restarts=args.restarts, seed=args.seed, dtype=args.dtype, device=args.device,
                              tol=args.tol, hessian=not args.no_hessian)
    backend = (sweep.DaskBackend(args.dask, connect_timeout=args.dask_timeout) if args.dask
               else sweep.LocalBackend(args.workers))
    bar = _Progress(len(cells))
    try:
        summary = sweep.run(cells, path, opts, backend=backend, force=args.force, progress=bar)
    except sweep.SweepInterrupted as exc:
        bar.close()
        s = exc.summary
        print(
            f"hemtools sweep: interrupted; {s.done} cells stored in {path} by this run, {s.remaining} not run. "
            f"Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    bar.close()
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.verdicts.items())) or "nothing new"
    extra = f", {summary.by_others} by another sweep" if summary.by_others else ""
    print(f"{summary.done} cells run, {summary.skipped} already in {path}{extra}: {counts}")
    keys = {sweep.cell_key(c, opts) for c in cells}
    rows = [r for r in stores.read_rows(path) if r.get("cell") in keys]
    in_user_code = [r for r in rows if r.get("verdict") == "error" and r.get("traceback")]
    if in_user_code:  # exit 4 for an error in user code comes with the user's traceback (SPEC §5), once
        r = in_user_code[0]
        sys.stderr.write(f"hemtools sweep: {len(in_user_code)} cell{'s' if len(in_user_code) > 1 else ''} failed in "
                         f"user code; the traceback of {r.get('loss')} M={r.get('M')} d={r.get('d')}:\n"
                         f"{r['traceback']}")
    return exit_code([r.get("verdict") for r in rows])  # error 4 > refuted 1 > inconclusive 3 > confirmed 0


class _Progress:
    """tqdm (cells/s, ETA, verdict counts) when stderr is a terminal, otherwise one line per cell."""

    def __init__(self, total: int):
        self.tq = None
        self.counts: dict = {}
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.tq = tqdm(total=total, unit="cell", file=sys.stderr)
            except ImportError:
                pass

    def __call__(self, i: int, n: int, r: dict) -> None:
        v = r.get("verdict")
        self.counts[v] = self.counts.get(v, 0) + 1
        if self.tq is not None:
            self.tq.total = n
            self.tq.set_postfix_str(" ".join(f"{k}={c}" for k, c in sorted(self.counts.items())))
            self.tq.update(1)
        else:
            print(
                f"[{i}/{n}] {r.get('loss')} M={r.get('M')} d={r.get('d')}: {v}"
                f"{' (' + str(r.get('reason')) + ')' if v == 'error' else ''}",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.tq is not None:
            self.tq.close()


# --------------------------------------------------------------------------------------------------------
# report, export, import


def _read(path: str, where: str | None):
    from hemtools import store as stores
    from hemtools.sweep_report import parse_where

    keep = parse_where(where) if where else None  # a bad filter is refused before the store is read
    stats = stores.ReadStats()
    rows = stores.read_rows(path, stats)
    if stats.skipped:
        print(
            f"hemtools sweep: {path}: skipped {stats.skipped} unreadable line(s) (cut by a crash, not UTF-8 "
            "or not a JSON object)",
            file=sys.stderr,
        )
    rows = [r for r in rows if isinstance(r, dict) and "loss" in r and "M" in r and "d" in r]
    return [r for r in rows if keep(r)] if keep else rows


def _report(args) -> int:
    from ._common import check_output_path, print_json

    if args.plot:
        check_output_path(args.plot)
    from hemtools.errors import ArgumentError
    from hemtools.sweep_report import render, summarize

    rows = _read(args.store, args.where)
    rep = summarize(rows)
    if args.json:
        print_json(rep)
    else:
        sys.stdout.write(render(rep))
    if args.plot:
        if not rows:
            raise ArgumentError(f"--plot: no rows to draw in {args.store}" + (" after --where" if args.where else ""))
        from hemtools.sweep_report import report_figure

        from ._common import write_figure

        if write_figure(lambda path: report_figure(rows, path), args.plot, NAME) and not args.json:
            print(f"figure  {args.plot}")
    return 0


def _export(args) -> int:
    from hemtools.errors import ArgumentError
    from hemtools.store import export_rows
    from hemtools.validators import check_output_file

    if args.out:
        if os.path.abspath(args.out) == os.path.abspath(args.store):
            raise ArgumentError("--out: the export would overwrite the store it reads")
        check_output_file(args.out)
    text = export_rows(_read(args.store, args.where), "jsonl" if args.jsonl else "csv")
    if args.out:
        from ._common import write_atomic

        try:
            write_atomic(args.out, text)
        except OSError as exc:  # the store is untouched: nothing is lost, the command can be rerun
            raise ArgumentError(f"--out: cannot write {args.out!r} ({exc.strerror or exc})") from None
    else:
        sys.stdout.write(text)
    return 0


def _import(args) -> int:
    from hemtools import store as stores
    from hemtools.errors import ArgumentError

    if not os.path.isfile(args.source):
        raise ArgumentError(f"{args.source}: no such file")
    if stores.check_store(args.source) != "jsonl":
        raise ArgumentError(f"{args.source}: import reads JSON lines (use `sweep export --jsonl` first)")
    if stores.check_store(args.store) != "sqlite":
        raise ArgumentError(f"{args.store}: import writes an SQLite store (.sqlite)")
    stats = stores.ReadStats()
    rows = stores.latest_per_cell(stores.read_jsonl(args.source, stats))
    with stores.SqliteStore(args.store) as st:
        n, skipped = stores.import_rows(rows, st)
    print(f"{n} rows imported into {args.store}; {skipped + stats.skipped} skipped (no cell key or unreadable)")
    return 0
