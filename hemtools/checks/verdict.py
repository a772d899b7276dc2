"""The verdict of verify: an ordered table of rules over the measured evidence, the first that applies wins.

Each rule is a function ``rule(e: Evidence) -> (verdict, reason) | None``; :data:`RULES` lists them in
the order they are tried, which is the order below (a measured contradiction before anything a failed
search leaves open, a confirmation only when no rule objects):

   1 non_finite                 inconclusive  a loss or gradient value is not finite
   2 below_claimed_value        refuted       a point below the claimed configuration's value
   3 below_simplex_bound        refuted       a point below the (unreachable) simplex bound
   4 simplex_cannot_exist       refuted       a regular simplex of M > d+1 points is claimed
   5 nothing_converged          inconclusive  no restart converged (their stop reasons counted)
   6 not_converged              inconclusive  the best point's gradient is above the certificate
   7 claimed_value_not_reached  inconclusive  value:X claimed, no restart reached it
   8 claim_not_reached          inconclusive  the best value is above the claimed configuration's
   9 not_the_claimed_config     refuted       a converged, second-order minimum that is not the claim
                                inconclusive  the same value but another configuration, or not certified
  10 not_unique                 inconclusive  restarts at the best value disagree on the configuration
  11 no_second_order            inconclusive  the Hessian could not be computed
  12 saddle                     inconclusive  a negative Hessian eigenvalue
  13 degenerate                 inconclusive  more zero eigenvalues than the rotation orbit
  14 zero_count_not_measured    inconclusive  the zero count could not be measured
  15 too_few_zeros              inconclusive  fewer zero eigenvalues than the rotation orbit
  16 not_reproduced             inconclusive  the best value was not reached by enough restarts
  17 confirmed                  confirmed     every applicable check passed

``establish`` says in words what a verdict rests on (the JSON ``evidence`` field).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from ..losses.registry import LossSpec
from ..optim import SolveResult
from ..results import Verdict
from .certificates import (
    CheckName,
    CheckResult,
    HessianInfo,
    ValueScale,
    distinct_minima,
)
from .claim import Claim, claim_words

N = CheckName


@dataclass
class Evidence:
    """Everything the verdict is decided from, measured once."""

    claim: Claim
    spec: LossSpec
    M: int
    d: int
    checks: dict[str, CheckResult]  # by name
    finite: bool
    found: float
    target: float
    info: HessianInfo | None
    res: SolveResult
    scale: ValueScale

    @classmethod
    def of(cls, cl: Claim, spec: LossSpec, M: int, d: int, checks: list[CheckResult], finite: bool, found: float,
           target: float, info: HessianInfo | None, res: SolveResult, scale: ValueScale) -> Evidence:
        return cls(cl, spec, M, d, {k.name: k for k in checks}, finite, found, target, info, res, scale)

    def failed(self, name: CheckName) -> bool:
        return self.checks[name].passed is False

    def failed_if_present(self, name: CheckName) -> bool:
        return name in self.checks and self.checks[name].passed is False

    @property
    def value_check(self) -> CheckResult | None:
        return self.checks.get(N.VALUE_VS_TARGET) or self.checks.get(N.VALUE_VS_SIMPLEX_BOUND)

    @property
    def config_failed(self) -> list[str]:
        return [n for n in (N.ALIGNMENT, N.GRAM_DEVIATION) if n in self.checks and self.failed(n)]

    @property
    def psd_failed(self) -> bool:
        return self.failed(N.HESSIAN_PSD)

    @property
    def hessian_ok(self) -> bool:
        return all(self.checks[n].passed is not False for n in (N.HESSIAN_PSD, N.HESSIAN_ZERO_COUNT))

    @property
    def degenerate(self) -> bool:
        return (self.failed(N.HESSIAN_ZERO_COUNT) and self.info is not None
                and self.info.zero_count > self.info.orbit_dimension)

    @property
    def words(self) -> str:
        return claim_words(self.claim, self.spec)


Outcome = tuple[Verdict, str]
Rule = Callable[[Evidence], "Outcome | None"]


def non_finite(e: Evidence) -> Outcome | None:
    if not e.finite:
        bad = int((~torch.isfinite(e.res.values) | ~torch.isfinite(e.res.grad_norms)).sum())
        return Verdict.INCONCLUSIVE, f"non-finite loss or gradient in {bad} of {e.res.restarts} restarts"
    return None


def below_claimed_value(e: Evidence) -> Outcome | None:
    # a value strictly below the claimed minimiser's refutes the claim, converged or not: it is a point
    if e.failed_if_present(N.VALUE_VS_TARGET) and e.found < e.target:
        return Verdict.REFUTED, (f"found {e.found:.12g} < {e.target:.12g} at the claimed {e.words}: "
                                 f"the claimed configuration is not a minimiser")
    return None


def below_simplex_bound(e: Evidence) -> Outcome | None:
    if e.failed_if_present(N.VALUE_VS_SIMPLEX_BOUND):
        return Verdict.REFUTED, (f"found {e.found:.12g} below the simplex bound {e.target:.12g}: the lower bound of "
                                 "the proof does not hold for this loss")
    return None


def simplex_cannot_exist(e: Evidence) -> Outcome | None:
    M, d = e.M, e.d
    if e.claim.form == "simplex" and M > d + 1:
        return Verdict.REFUTED, (f"no regular simplex of M={M} points exists in R^{d} (needs d >= {M - 1}); "
                                 f"minimum found {e.found:.12g} vs {e.target:.12g} at the unreachable simplex")
    return None


def nothing_converged(e: Evidence) -> Outcome | None:
    if not bool(e.res.converged.any()):
        # the solver's stop reasons are counted as codes and shown with their messages
        why = ", ".join(f"{n} {r.message}" for r, n in Counter(e.res.stops).most_common())
        return Verdict.INCONCLUSIVE, (f"no restart converged ({why}); best value {e.found:.6g}: the landscape may be "
                                      "too flat for float64 here, or more iterations/restarts are needed")
    return None


def not_converged(e: Evidence) -> Outcome | None:
    if e.failed(N.GRADIENT_NORM):
        g = e.checks[N.GRADIENT_NORM]
        return Verdict.INCONCLUSIVE, (f"not converged: gradient norm {g.measured:.2e} > {g.tolerance:.0e} "
                                      f"({e.res.stops[e.res.best].message})")
    return None


def claimed_value_not_reached(e: Evidence) -> Outcome | None:
    if e.claim.form == "value" and e.failed(N.VALUE_VS_TARGET):
        return Verdict.INCONCLUSIVE, (f"no restart reached the claimed value {e.target:.12g}; the lowest of "
                                      f"{e.res.restarts} is {e.found:.12g}")
    return None


def claim_not_reached(e: Evidence) -> Outcome | None:
    vc = e.value_check
    if vc is not None and vc.passed is False and e.found > e.target:
        return Verdict.INCONCLUSIVE, (f"restarts did not reach the claimed {e.words}: best "
                                      f"{e.found:.12g} > {e.target:.12g}; try more restarts")
    return None


def not_the_claimed_config(e: Evidence) -> Outcome | None:
    bad = e.config_failed
    if not bad:
        return None
    # the value matches the target (or there is no target) but the configuration differs
    dev = ", ".join(f"{n} {e.checks[n].measured:.2e}" for n in bad)
    vc, info = e.value_check, e.info
    if vc is not None and vc.passed and e.claim.form != "aligned":
        flat = (f"; the Hessian has {info.zero_count - info.orbit_dimension} extra zero eigenvalues"
                if e.degenerate else "")
        return Verdict.INCONCLUSIVE, (f"the best value equals the target value to round-off ({vc.measured:.1e}) "
                                      f"but the configuration differs ({dev}){flat}: minimisers are not unique, "
                                      "or the landscape is too flat to resolve in this precision")
    if e.hessian_ok and not e.psd_failed:
        return Verdict.REFUTED, (f"a converged minimum with a positive semidefinite Hessian is not the claimed "
                                 f"configuration ({dev})")
    return Verdict.INCONCLUSIVE, (f"the best point is not the claimed configuration ({dev}) and is not certified as "
                                  "a minimum")


def not_unique(e: Evidence) -> Outcome | None:
    if e.failed(N.UNIQUENESS):
        return Verdict.INCONCLUSIVE, (f"restarts at the best value found different configurations (sorted inner "
                                      f"products differ by {e.checks[N.UNIQUENESS].measured:.2e}): the minimiser is "
                                      "not unique up to rotation")
    return None


def no_second_order(e: Evidence) -> Outcome | None:
    if e.psd_failed and e.checks[N.HESSIAN_PSD].measured is None:
        return Verdict.INCONCLUSIVE, f"no second-order certificate: {e.checks[N.HESSIAN_PSD].detail}"
    return None


def saddle(e: Evidence) -> Outcome | None:
    if e.psd_failed:
        return Verdict.INCONCLUSIVE, (f"the best point is a saddle: smallest Hessian eigenvalue "
                                      f"{e.checks[N.HESSIAN_PSD].measured:.2e}")
    return None


def degenerate(e: Evidence) -> Outcome | None:
    if e.degenerate:
        info = e.info
        return Verdict.INCONCLUSIVE, (f"the Hessian has {info.zero_count} zero eigenvalues but the rotation orbit "
                                      f"only {info.orbit_dimension} (next {info.gap:.2e}): flat directions beyond "
                                      "rotations, either non-unique minimisers or curvature below float64 round-off")
    return None


def zero_count_not_measured(e: Evidence) -> Outcome | None:
    if e.failed(N.HESSIAN_ZERO_COUNT) and e.info is None:
        return Verdict.INCONCLUSIVE, f"no second-order certificate: {e.checks[N.HESSIAN_ZERO_COUNT].detail}"
    return None


def too_few_zeros(e: Evidence) -> Outcome | None:
    if e.failed(N.HESSIAN_ZERO_COUNT):
        return Verdict.INCONCLUSIVE, (f"the Hessian has only {e.info.zero_count} zero eigenvalues, fewer than the "
                                      f"{e.info.orbit_dimension} of the rotation orbit")
    return None


def not_reproduced(e: Evidence) -> Outcome | None:
    if e.failed(N.RESTART_AGREEMENT):
        return Verdict.INCONCLUSIVE, f"the best value was not reproduced: {e.checks[N.RESTART_AGREEMENT].detail}"
    return None


def confirmed(e: Evidence) -> Outcome:
    res, found = e.res, e.found
    extra = ""
    minima = distinct_minima(res.values[res.converged], e.scale)
    cc = e.checks.get(N.CLAIM_CANDIDATES)
    if cc is not None and cc.passed and cc.measured is not None and cc.measured < -cc.tolerance:
        # the reported point is a polished configuration satisfying the claim, lower than every restart
        extra = (f"; reached by polishing {cc.detail.split(' is lower')[0].replace('the polished ', 'the ')}, "
                 f"lower than all {res.restarts} restarts (best restart {found - cc.measured:.12g})")
    elif len(minima) > 1:
        extra = f"; {len(minima) - 1} higher local minim{'um' if len(minima) == 2 else 'a'} also found"
    if e.claim.form == "aligned":
        order = "a second-order" if e.checks[N.HESSIAN_PSD].passed else "a (first-order; Hessian not checked)"
        return Verdict.CONFIRMED, (f"perfect alignment at {order} critical point, value {found:.12g} "
                                   f"(>= simplex bound {e.target:.12g}){extra}")
    return Verdict.CONFIRMED, f"the minimiser is the {e.words}, value {found:.12g}{extra}"


#: the verdict rules in the order they are tried (module docstring); the first that applies decides
RULES: tuple[Rule, ...] = (
    non_finite, below_claimed_value, below_simplex_bound, simplex_cannot_exist, nothing_converged, not_converged,
    claimed_value_not_reached, claim_not_reached, not_the_claimed_config, not_unique, no_second_order, saddle,
    degenerate, zero_count_not_measured, too_few_zeros, not_reproduced, confirmed,
)


def decide_evidence(e: Evidence) -> Outcome:
    """The first rule of :data:`RULES` that applies (``confirmed`` always does)."""
    for rule in RULES:
        out = rule(e)
        if out is not None:
            return out
    raise AssertionError("the last rule, confirmed, always applies")  # pragma: no cover


def decide(cl: Claim, spec: LossSpec, M: int, d: int, checks: list[CheckResult], finite: bool, found: float,
           target: float, info: HessianInfo | None, res: SolveResult, scale: ValueScale) -> Outcome:
    """The verdict and its one-line reason, from the measured checks alone (:data:`RULES`)."""
    return decide_evidence(Evidence.of(cl, spec, M, d, checks, finite, found, target, info, res, scale))


def establish(verdict: str, cl: Claim, spec: LossSpec, checks: list[CheckResult], info: HessianInfo | None,
              res: SolveResult, found: float, extras: Mapping, from_candidate=None) -> dict:
    """What a verdict rests on, in words (the JSON ``evidence`` field and the ``evidence`` lines).

    Random restarts cannot exclude a narrow basin that all of them missed: a confirmation says that no
    restart found a lower value and that the point is a second-order minimum; global optimality is stated
    only where a certificate proves it (the Delsarte–Yudin LP bound of ``beyond_simplex.verify_extras``).
    """
    c = {k.name: k for k in checks}
    R = res.restarts
    if from_candidate is not None:
        search = (f"the reported point is the polished {from_candidate.name}, {found:.12g}; none of the {R} random "
                  f"restarts (seed {res.seed}) found a lower value")
    else:
        search = f"no restart of {R} (seed {res.seed}) found a value below {found:.12g}"
    psd, zc = c.get(N.HESSIAN_PSD), c.get(N.HESSIAN_ZERO_COUNT)
    if psd is None or psd.passed is None:
        second = f"no second-order certificate ({psd.detail if psd is not None else 'not computed'})"
    elif psd.passed and zc is not None and zc.passed is None:
        second = f"Hessian positive semidefinite at the {info.where} ({zc.detail})"
    elif psd.passed and zc is not None and zc.passed:
        second = (f"second-order minimum: Hessian positive semidefinite, its {info.zero_count} zero eigenvalues "
                  f"are the rotation orbit (at the {info.where})")
    elif psd.passed:
        second = "Hessian positive semidefinite, but its zero eigenvalues do not match the rotation orbit"
    elif psd.measured is None:
        second = f"no second-order certificate: {psd.detail}"
    else:
        second = f"not a second-order minimum: smallest Hessian eigenvalue {psd.measured:.2e}"
    lp = extras.get("lp_bound") if isinstance(extras, Mapping) else None
    if isinstance(lp, Mapping) and lp.get("certified_global_minimum"):
        glob = (f"the {lp.get('kernel')} energy of the anchors is certified globally minimal by the "
                f"Delsarte–Yudin LP bound (relative gap {lp.get('gap_found', float('nan')):.1e})"
                + ("" if (extras.get("energy_baseline") or {}).get("is_the_loss") else
                   "; for the whole loss global optimality is not proved here"))
    else:
        glob = ("global optimality is not proved by this run: random restarts cannot exclude a narrow basin that "
                "all of them missed (only an LP certificate, where reported, proves it)")
    summary = "; ".join([search, second, glob])
    return {"verdict": verdict, "search": search, "second_order": second, "global_optimality": glob,
            "restarts": R, "summary": summary}
