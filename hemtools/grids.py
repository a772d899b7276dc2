"""Grids that set hemtools.symbolic's predictions next to what verify measures.

  condition_grid         C2: verify the φ/ψ loss on every (φ, ψ, M, d) and compare with the theorem's prediction
                         (the conditions of hemtools.symbolic.check_conditions); used by ``hemtools conditions``;
  closed_form_vs_verify  the closed form at the aligned simplex against the minimum verify finds, cell by cell.

They live here, next to sweep.py, so that hemtools.symbolic depends only on the losses, configurations and
sphere (never on checks/optim).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .checks import verify
from .formula import compile_formula
from .symbolic.closed_form import closed_form_expr
from .symbolic.conditions import ConditionsReport, check_conditions
from .symbolic.core import DIGITS, M_, Finding, _float, _jsonable
from .symbolic.forms import loss_form

#: catalogue of inner functions φ (argument u_i·w − u_i·v_i ∈ [−2, 2]) and what they are on [−2, 2]
CATALOGUE_PHI = (
    ("exp(x/0.5)", "convex, increasing (InfoNCE's φ, τ = 0.5)"),
    ("softplus(2*x)", "convex, increasing"),
    ("exp(x)+x", "convex, increasing, negative for x < −0.57"),
    ("log(3+x)", "concave, increasing"),
    ("exp(-x/0.5)", "convex, decreasing"),
    ("x**2", "convex, not monotone"),
    ("sin(x)", "neither convex nor monotone on [−2, 2]"),
)
#: catalogue of outer functions ψ
CATALOGUE_PSI = (
    ("log(1+x)", "concave, increasing (InfoNCE, SimCLR)"),
    ("log(x)", "concave, increasing, −∞ at 0 (DCL, DHEL)"),
    ("x", "linear"),
)
DEFAULT_CELLS = ((3, 2), (4, 3), (5, 4), (4, 6))


@dataclass
class GridRow:
    phi: str
    psi: str
    M: int
    d: int
    seed_conditions: str  # φ and ψ convex and nondecreasing (the seed's statement)
    conditions: str  # F convex and nondecreasing (what the proof uses)
    predicted: str
    verdict: str
    value: float
    simplex_value: float
    gap: float
    outcome: str  # reproduced | COUNTEREXAMPLE CANDIDATE | inconclusive | consistent | no prediction
    candidate: bool
    reason: str
    seconds: float
    report: dict = field(default_factory=dict, repr=False)

    def to_dict(self, with_report: bool = False) -> dict:
        d = {k: _jsonable(v) for k, v in self.__dict__.items() if k != "report"}
        if with_report:
            d["report"] = self.report
        return d


def _seed_status(cond: ConditionsReport) -> str:
    names = ("phi_convex", "phi_nondecreasing", "psi_convex", "psi_nondecreasing")
    st = [cond.finding(n).status if cond.finding(n) else "undecided" for n in names]
    if "undefined" in st:
        return "undefined"
    if "refuted" in st:
        return "refuted"
    return "proved" if all(s == "proved" for s in st) else "undecided"


def condition_grid(phis: Sequence[str], psis: Sequence[str], cells: Sequence[tuple[int, int]], *, c1: float = 1.0,
                   c2: float = 0.0, tau: float = 0.5, restarts: int = 8, seed: int = 0, hessian: bool = True,
                   progress: Callable[[int, int, GridRow], None] | None = None) -> tuple[list[GridRow], dict]:
    """verify the φ/ψ loss on every (φ, ψ, M, d) and set the result next to the theorem's prediction.

    Prediction: perfect alignment plus a regular simplex wherever F(x) = ψ(Σ c_j φ(x_j)) is convex and
    nondecreasing (proved, or undecided with no violation found) and M <= d+1; none where the conditions fail.
    A cell whose conditions hold but whose simplex verify refutes (a point with a lower value than the
    simplex) is a counterexample candidate.  Returns (rows, {(φ, ψ, M): ConditionsReport}).
    """
    for f in list(phis):
        compile_formula(f, "phi")
    for f in list(psis):
        compile_formula(f, "psi")
    conds: dict = {}
    rows: list[GridRow] = []
    total = len(phis) * len(psis) * len(cells)
    for phi in phis:
        for psi in psis:
            for M, d in cells:
                t0 = time.perf_counter()
                key = (phi, psi, M)
                if key not in conds:
                    conds[key] = check_conditions(phi, psi, c1, c2, M, tau, seed)
                cond = conds[key]
                rep = verify("phipsi", M, d, params=dict(phi=phi, psi=psi, c1=c1, c2=c2, tau=tau), restarts=restarts,
                             seed=seed, hessian=hessian)
                holds = cond.holds
                if M > d + 1 and holds in ("proved", "undecided"):
                    predicted = "value >= simplex bound"  # the chain needs no M <= d+1; the simplex needs it
                elif M > d + 1:
                    predicted = "none (M > d+1)"
                elif holds == "proved":
                    predicted = "aligned simplex"
                elif holds == "undecided":
                    predicted = "aligned simplex (numerical conditions)"
                else:
                    predicted = "none (conditions fail)"
                ref = float(rep.reference["value"])
                gap = rep.value - ref if math.isfinite(rep.value) and math.isfinite(ref) else math.nan
                predicts = predicted.startswith("aligned simplex") or predicted.startswith("value >=")
                candidate = predicts and rep.verdict == "refuted"
                if candidate:
                    outcome = "COUNTEREXAMPLE CANDIDATE"
                elif predicts:
                    outcome = "reproduced" if rep.verdict == "confirmed" else "inconclusive"
                else:
                    outcome = "no prediction"
                row = GridRow(_text(phi), _text(psi), M, d, _seed_status(cond), holds, predicted, rep.verdict,
                              rep.value, ref, gap, outcome, candidate, rep.reason, time.perf_counter() - t0,
                              report=rep.to_dict() if candidate else {})
                rows.append(row)
                if progress is not None:
                    progress(len(rows), total, row)
    return rows, conds


def _text(f) -> str:
    return f if isinstance(f, str) else str(f)


def closed_form_vs_verify(loss: str, cells: Sequence[tuple[int, int, dict]], *, restarts: int = 8, seed: int = 0,
                          rtol: float = 1e-10) -> Finding:
    """The closed form at the aligned simplex against the minimum verify finds, cell by cell (M, d, params).

    rtol 1e-10 is the certificate's value tolerance (tolerances.value_rel in float64): the solver stops at
    gradient norm ~1e-13, which moves the value by O(1e-26); the rest is round-off."""
    rows, ok = [], True
    for M, d, params in cells:
        form = loss_form(loss, params)
        closed = _float(form.numeric(closed_form_expr(form)).subs(M_, M), DIGITS)
        rep = verify(loss, M, d, params=params, restarts=restarts, seed=seed, hessian=False)
        rel = abs(rep.value - closed) / max(1.0, abs(closed)) if math.isfinite(rep.value) else math.inf
        good = rel <= rtol
        ok &= good
        rows.append({"M": M, "d": d, "params": _jsonable(params), "closed_form": closed, "verify_min": rep.value,
                     "rel_diff": rel, "verdict": rep.verdict, "passed": good})
    return Finding(
        f"closed_form_vs_verify_{loss}",
        "passed" if ok else "failed",
        f"{loss}: closed form at the aligned simplex = minimum found by verify (relative {rtol:g}) in "
        f"{len(rows)} (M, d, params) cells",
        f"largest relative difference {max(r['rel_diff'] for r in rows):.2e}",
        {"rows": rows},
    )
