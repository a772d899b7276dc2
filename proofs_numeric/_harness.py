"""The one harness every proof script in proofs_numeric/ runs on.

A script defines ``run(proof, args)`` that measures, prints one line per check through
:meth:`Proof.check` and records numbers with :meth:`Proof.number`; it ends with
``sys.exit(main(run, claim=..., statement=..., doc=__doc__))``.  The harness

  * parses ``--quick`` (small settings, for the test suite) / ``--full`` (the default: the settings the
    claim is stated for), ``--seed``, ``--threads`` and ``--json PATH``;
  * pins BLAS / OpenMP / torch threads (default 1) *before* torch is imported, so that parallel runs
    (run_all.py) do not oversubscribe the cores;
  * turns the checks into one :class:`ProofResult` (claim, setting, measured numbers, status
    PASS / FAIL / INCONCLUSIVE) printed as the last line ``STATUS: Cn ...`` and written as JSON;
  * exits 0 on PASS, 1 on FAIL, 3 on INCONCLUSIVE (SPEC §5) and 4 on an error in the script, with the
    traceback and an ``ERROR`` result line.

Status rule: FAIL if any check failed; else INCONCLUSIVE if any check was inconclusive (e.g. non-finite
numbers, no convergence); else PASS.  A script with no checks is INCONCLUSIVE, never PASS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
EXIT_CODES = {PASS: 0, FAIL: 1, INCONCLUSIVE: 3, "ERROR": 4}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")


def pin_threads(n: int = 1) -> None:
    """Pin every thread pool to ``n`` threads; the environment part only works before numpy/torch load."""
    for var in THREAD_VARIABLES:
        os.environ[var] = str(n)
    os.environ.setdefault("MPLBACKEND", "Agg")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "tolist"):  # numpy / torch scalars and arrays
        return _jsonable(v.tolist())
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


@dataclass
class Check:
    """One measured check: what it states, PASS / FAIL / INCONCLUSIVE, and the line printed."""

    status: str
    text: str

    def to_dict(self) -> dict:
        return {"status": self.status, "text": self.text}


@dataclass
class ProofResult:
    """The outcome of one proof script."""

    claim: str
    statement: str
    mode: str
    setting: dict
    numbers: dict
    checks: list[Check]
    status: str
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict:
        return {s: sum(c.status == s for c in self.checks) for s in (PASS, FAIL, INCONCLUSIVE)}

    def summary_line(self) -> str:
        c = self.counts
        return (f"{self.status}: {self.claim} {self.statement} — {len(self.checks)} checks: {c[PASS]} pass, "
                f"{c[FAIL]} fail, {c[INCONCLUSIVE]} inconclusive ({self.mode}, {self.seconds:.1f} s)")

    def to_dict(self) -> dict:
        return _jsonable({"claim": self.claim, "statement": self.statement, "mode": self.mode,
                          "setting": self.setting, "numbers": self.numbers,
                          "checks": [c.to_dict() for c in self.checks], "counts": self.counts,
                          "status": self.status, "seconds": self.seconds, "notes": self.notes})


class Proof:
    """What a script's ``run`` talks to: settings, checks, numbers, notes."""

    def __init__(self, quick: bool, seed: int):
        self.quick = quick
        self.seed = seed
        self.setting: dict = {}
        self.numbers: dict = {}
        self.checks: list[Check] = []
        self.notes: list[str] = []

    def pick(self, quick, full):
        """``quick`` under --quick, else ``full``."""
        return quick if self.quick else full

    def set(self, **setting) -> None:
        """Record the setting (sizes, seeds, tolerances) the claim is measured in."""
        self.setting.update(setting)

    def number(self, name: str, value) -> None:
        self.numbers[name] = value

    def check(self, ok: bool | None, text: str, *, inconclusive: bool = False) -> bool:
        """Record and print one check.  ``ok`` None or ``inconclusive=True`` (e.g. non-finite numbers) makes
        it INCONCLUSIVE; a failed check prints FAIL with ``text`` carrying the numbers."""
        status = INCONCLUSIVE if (ok is None or inconclusive) else (PASS if ok else FAIL)
        self.checks.append(Check(status, text))
        tag = {PASS: "ok", FAIL: "FAIL", INCONCLUSIVE: "??"}[status]
        print(f"  [{tag}] {text}", flush=True)
        return status == PASS

    def note(self, text: str) -> None:
        """An explanation that belongs in the output (why a FAIL is a result, what a number means)."""
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def section(self, title: str) -> None:
        print(title, flush=True)

    def status(self) -> str:
        sts = {c.status for c in self.checks}
        if FAIL in sts:
            return FAIL
        if INCONCLUSIVE in sts or not self.checks:
            return INCONCLUSIVE
        return PASS


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper): Student-t interval of the mean of independent replicates (seeds)."""
    import numpy as np
    from scipy import stats

    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    if v.size < 2:
        return m, -math.inf, math.inf
    h = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return m, m - h, m + h


def parser(doc: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small settings (the test suite, a few seconds)")
    mode.add_argument("--full", action="store_true", help="the settings the claim is stated for (default)")
    ap.add_argument("--seed", type=int, default=0, help="base seed of every generator (default 0)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS / torch threads (default 1)")
    ap.add_argument("--json", metavar="PATH", help="also write the ProofResult as JSON to PATH")
    return ap


def main(run: Callable[[Proof, argparse.Namespace], None], *, claim: str, statement: str, doc: str | None = None,
         argv=None, extra_args: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    ap = parser(doc)
    if extra_args:
        extra_args(ap)
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error(f"--threads: expected an integer >= 1, got {args.threads}")
    if args.seed < 0:  # torch takes a negative seed, numpy's default_rng does not: refused before any work
        ap.error(f"--seed: expected an integer >= 0, got {args.seed}")
    if args.json:  # before the run, not after minutes of it
        from hemtools.errors import ArgumentError
        from hemtools.validators import check_output_file

        try:
            check_output_file(args.json, "--json")
        except ArgumentError as exc:
            ap.error(str(exc))
    pin_threads(args.threads)
    import torch  # after the environment is pinned

    torch.set_num_threads(args.threads)
    mode = "quick" if args.quick else "full"
    proof = Proof(args.quick, args.seed)
    proof.set(mode=mode, seed=args.seed)
    print(f"{claim} ({mode}): {statement}", flush=True)
    t0 = time.perf_counter()
    status = None
    try:
        run(proof, args)
        status = proof.status()
    except KeyboardInterrupt:
        raise
    except Exception:  # noqa: BLE001 — an error in the script is not a result: report it, exit 4
        traceback.print_exc()
        status = "ERROR"
    result = ProofResult(claim, statement, mode, proof.setting, proof.numbers, proof.checks, status,
                         time.perf_counter() - t0, proof.notes)
    print(result.summary_line(), flush=True)  # first: a JSON file that cannot be written must not lose it
    if args.json:
        from hemtools.io import write_atomic

        try:
            write_atomic(args.json, json.dumps(result.to_dict(), indent=1))
        except OSError as exc:
            print(f"error: --json: cannot write {args.json!r} ({exc.strerror or exc}); the result above stands",
                  file=sys.stderr)
    return EXIT_CODES[status]
