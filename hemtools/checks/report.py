"""The result of verify: :class:`VerifyReport` and its JSON (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..optim import SolveResult
from ..results import EXIT_CODES, RESULT_KEY, ResultType, Verdict, jsonable_params
from ..results import number as _num
from .certificates import CheckResult, HessianInfo

Tensor = torch.Tensor


@dataclass
class VerifyReport:
    loss: str
    M: int
    d: int
    params: dict
    claim: str
    verdict: Verdict
    reason: str
    value: float
    reference: dict  # {"name", "value"}
    grad_norm: float
    checks: list[CheckResult]
    configuration: str | None
    seconds: float
    restarts: int
    seed: int
    dtype: str
    device: str
    kind: str  # the loss's point set: "pairs" ([U; V]) or "points" (the JSON key "kind")
    minima: list[tuple[float, int]]
    value_noise: float
    hessian: HessianInfo | None
    solve: SolveResult
    notes: list[str] = field(default_factory=list)
    extras: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)  # what the verdict rests on (``establish``)
    point: Tensor | None = None  # the reported point when it is not a restart (a polished candidate)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        return f"{self.loss} M={self.M} d={self.d} claim={self.claim}: {self.verdict} ({self.reason})"

    def __repr__(self) -> str:  # one line in a REPL or notebook, not the tensors of every restart
        return (f"VerifyReport(loss={self.loss!r}, M={self.M}, d={self.d}, params={self.params!r}, "
                f"claim={self.claim!r}, verdict={str(self.verdict)!r}, value={self.value!r}, reason={self.reason!r})")

    def __str__(self) -> str:  # print(report): the table `hemtools verify` prints
        from ..text import render_verify

        return render_verify(self).rstrip("\n")

    def to_dict(self) -> dict:
        pts = self.solve.points[self.solve.best] if self.point is None else self.point
        out: dict[str, Any] = {
            RESULT_KEY: str(ResultType.VERIFY),
            "loss": self.loss,
            "M": self.M,
            "d": self.d,
            "params": jsonable_params(self.params),
            "claim": self.claim,
            "verdict": self.verdict,
            "reason": self.reason,
            "value": _num(self.value),
            "reference": {"name": self.reference["name"], "value": _num(self.reference["value"])},
            "grad_norm": _num(self.grad_norm),
            "checks": [c.to_dict() for c in self.checks],
            "configuration": self.configuration,
            "seconds": self.seconds,
            "restarts": self.restarts,
            "seed": self.seed,
            "dtype": self.dtype,
            "device": self.device,
            "kind": self.kind,
            "minima": [{"value": _num(v), "count": c} for v, c in self.minima],
            "value_noise": _num(self.value_noise),
            "hessian": self.hessian.to_dict() if self.hessian else None,
            "restart_values": [_num(v) for v in self.solve.values.tolist()],
            "restart_grad_norms": [_num(v) for v in self.solve.grad_norms.tolist()],
            "history": {
                "grad_norms": [[_num(v) for v in row] for row in self.solve.history_grad_norms.T.tolist()],
                "values": [[_num(v) for v in row] for row in self.solve.history_values.T.tolist()],
                "phase_switch": self.solve.phase_switch,
            },
            "points": {"U": pts[: self.M].tolist(), "V": pts[self.M :].tolist()}
            if self.kind == "pairs"
            else {"X": pts.tolist()},
            "notes": list(self.notes),
            "evidence": dict(self.evidence),
        }
        out.update(self.extras)
        return out
