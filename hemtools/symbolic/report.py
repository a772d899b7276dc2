"""Everything for one loss: :func:`analyse` runs the sections that apply and returns a :class:`SymbolicReport`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..results import ResultType, tagged
from .alpha_cl import alpha_cl_section
from .chain import jensen_chain
from .closed_form import ClosedForm, closed_form
from .conditions import ConditionsReport, check_conditions, kernel_conditions
from .core import Finding, _jsonable
from .forms import loss_form
from .stationarity import stationarity
from .ustatistic import kcl_ustatistic


@dataclass
class SymbolicReport:
    loss: str
    params: dict
    closed_form: ClosedForm
    sections: dict  # name -> list[Finding]
    conditions: ConditionsReport | None
    seconds: float

    def all_findings(self) -> list[Finding]:
        out = list(self.closed_form.derivations)
        for fs in self.sections.values():
            out += fs
        return out

    @property
    def verdict(self) -> str:
        """failed (a derived statement contradicted by a measurement) > inconclusive > passed."""
        rows = [r["status"] for r in self.closed_form.rows]
        stats = [f.status for f in self.all_findings()] + rows
        if "failed" in stats:
            return "failed"
        if "inconclusive" in stats:
            return "inconclusive"
        return "passed"

    @property
    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1, "inconclusive": 3}[self.verdict]

    def to_dict(self) -> dict:
        return tagged(ResultType.SYMBOLIC, {
                "loss": self.loss, "params": _jsonable(self.params), "verdict": self.verdict,
                "closed_form": self.closed_form.to_dict(),
                "sections": {k: [f.to_dict() for f in v] for k, v in self.sections.items()},
                "conditions": self.conditions.to_dict() if self.conditions else None, "seconds": self.seconds})


def analyse(loss: str, params: Mapping[str, Any] | None = None, *, Ms: Sequence[int] = (2, 3, 4, 5, 6, 8),
            seed: int = 0, mc_samples: int = 20000, sections: Sequence[str] | None = None) -> SymbolicReport:
    """All symbolic checks that apply to ``loss`` (see the module docstring)."""
    t0 = time.perf_counter()
    form = loss_form(loss, params)
    want = set(sections or ("stationarity", "chain", "conditions", "ustatistic", "alpha_cl"))
    cf = closed_form(form, Ms)
    out: dict = {}
    cond = None
    if "stationarity" in want:
        out["stationarity"] = stationarity(form)
    if "conditions" in want or "chain" in want:
        if form.phipsi is not None:
            pp = form.phipsi
            cond = check_conditions(
                pp.phi_torch if not pp.symbolic else pp.phi,
                pp.psi_torch if not pp.symbolic else pp.psi,
                pp.c1,
                pp.c2,
                None,
                pp.tau,
                seed,
            )
        elif form.kernel is not None:
            cond = kernel_conditions(form.kernel)
        if "conditions" in want:
            out["conditions"] = (
                cond.findings
                if cond
                else [
                    Finding(
                        "conditions", "n/a", "no φ/ψ or kernel form", "conditions are defined for the φ/ψ and KCL forms"
                    )
                ]
            )
    if "chain" in want:
        out["chain"] = jensen_chain(form, cond, seed)
    if "ustatistic" in want and form.name == "kcl":
        out["ustatistic"] = kcl_ustatistic(form.params, mc_samples=mc_samples, seed=seed)
    if "alpha_cl" in want and form.kind == "pairs":
        out["alpha_cl"] = alpha_cl_section(form, seed)
    return SymbolicReport(form.name, form.params, cf, out, cond, time.perf_counter() - t0)
