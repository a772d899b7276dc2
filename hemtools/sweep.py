"""Grids of verify runs over losses × (M, d) × parameters, written as they finish.

Each finished cell is appended to a JSON-lines file and flushed to disk at once, so a crash or Ctrl-C
loses at most the cell in flight; re-running the same sweep resumes (cells already in the file are
skipped).  Cells run in worker processes when ``workers > 1``, each pinned to one BLAS/torch thread
(2-core machines: oversubscribed threads make small eigendecompositions 40–400× slower).
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from .errors import ArgumentError


@dataclass(frozen=True)
class Cell:
    loss: str
    M: int
    d: int
    params: tuple = ()  # sorted (key, value) pairs
    claim: str | None = None

    @property
    def key(self) -> str:
        return json.dumps([self.loss, self.M, self.d, list(self.params), self.claim])

    def to_dict(self) -> dict:
        return {"loss": self.loss, "M": self.M, "d": self.d, "params": dict(self.params), "claim": self.claim}


def parse_int_list(text: str, name: str) -> list[int]:
    """'2,3,8' or '2:17' (inclusive range) or '2:17:3' → list of ints."""
    out: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if ":" in part:
                bits = [int(b) for b in part.split(":")]
                if len(bits) not in (2, 3):
                    raise ValueError
                step = bits[2] if len(bits) == 3 else 1
                if step <= 0:
                    raise ValueError
                out.extend(range(bits[0], bits[1] + 1, step))
            elif part:
                out.append(int(part))
    except ValueError:
        raise ArgumentError(f"{name}: expected integers like 2,3,8 or a range 2:17 or 2:17:3, got {text!r}") from None
    if not out:
        raise ArgumentError(f"{name}: no values in {text!r}")
    return out


def grid(losses: Iterable[str], Ms: Iterable[int], ds: Iterable[int], *,
         params: Iterable[Mapping[str, Any]] = ({},), claim: str | None = None,
         rule: Callable[[int, int], bool] | None = None) -> list[Cell]:
    """The cartesian product of the axes; ``rule(M, d)`` keeps a subset (e.g. M <= d+1)."""
    cells = []
    for loss, M, d, p in itertools.product(list(losses), list(Ms), list(ds), list(params)):
        if rule is None or rule(M, d):
            cells.append(Cell(loss, int(M), int(d), tuple(sorted(dict(p).items())), claim))
    return cells


@dataclass
class SweepOptions:
    restarts: int = 8
    seed: int = 0
    dtype: str = "float64"
    device: str = "cpu"
    tol: float | None = None
    hessian: bool = True
    keep_points: bool = False


@dataclass
class SweepSummary:
    path: str
    done: int = 0
    skipped: int = 0
    verdicts: dict = field(default_factory=dict)
    results: list = field(default_factory=list)


def _run_cell(cell: Cell, opts: SweepOptions) -> dict:
    from .checks import verify
    from .errors import UserCodeError

    try:
        rep = verify(cell.loss, cell.M, cell.d, claim=cell.claim, params=dict(cell.params), restarts=opts.restarts,
                     seed=opts.seed, dtype=opts.dtype, device=opts.device, tol=opts.tol, hessian=opts.hessian)
    except (ArgumentError, UserCodeError) as exc:  # a bad cell is a result, not the end of the sweep
        return {**cell.to_dict(), "cell": cell.key, "verdict": "error", "reason": str(exc)}
    except SystemExit as exc:  # sys.exit() anywhere in the cell's code must not end the sweep (or a worker)
        return {**cell.to_dict(), "cell": cell.key, "verdict": "error",
                "reason": f"sys.exit({exc.code!r}) was called while verifying this cell"}
    out = rep.to_dict()
    if not opts.keep_points:
        out.pop("points", None)
        out.pop("history", None)
    out["cell"] = cell.key
    return out


def _pin_threads() -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)


def read_results(path: str) -> list[dict]:
    """All complete lines of a sweep file (a line cut by a crash is ignored)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def run(cells: list[Cell], path: str, opts: SweepOptions | None = None, *, workers: int = 1,
        progress: Callable[[int, int, dict], None] | None = None) -> SweepSummary:
    """Run ``cells`` and append each result to ``path`` (JSON lines) as soon as it is known."""
    opts = opts or SweepOptions()
    done_keys = {r.get("cell") for r in read_results(path)}
    todo = [c for c in cells if c.key not in done_keys]
    summary = SweepSummary(path=path, skipped=len(cells) - len(todo))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        for result in _results(todo, opts, workers):
            fh.write(json.dumps(result, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            summary.done += 1
            summary.verdicts[result["verdict"]] = summary.verdicts.get(result["verdict"], 0) + 1
            summary.results.append(result)
            if progress is not None:
                progress(summary.done, len(todo), result)
    return summary


def _results(cells: list[Cell], opts: SweepOptions, workers: int) -> Iterator[dict]:
    if workers <= 1 or len(cells) <= 1:
        for c in cells:
            yield _run_cell(c, opts)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # fork after torch initialised its thread pools is unsafe
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pin_threads) as pool:
        futures = [pool.submit(_run_cell, c, opts) for c in cells]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
