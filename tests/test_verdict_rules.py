"""The verdict as an ordered table of rules (hemtools.checks.verdict): each rule alone on synthetic evidence,
the table in the order the module docstring states, first match wins (issue 12 item 4).  No solve: < 1 s."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest
import torch

from hemtools.checks import verdict as V
from hemtools.checks.certificates import CheckName, CheckResult, HessianInfo, ValueScale, not_applicable
from hemtools.checks.claim import Claim
from hemtools.losses import get_loss
from hemtools.results import StopReason, Verdict

N = CheckName
KCL = get_loss("kcl")


def _res(values=(1.0, 1.0, 1.0, 1.0), converged=(True,) * 4, stops=None):
    values = torch.tensor(values, dtype=torch.float64)
    stops = stops or [StopReason.ROUND_OFF_FLOOR if c else StopReason.ITERATION_LIMIT for c in converged]
    return SimpleNamespace(values=values, grad_norms=torch.zeros_like(values), converged=torch.tensor(converged),
                           stops=stops, restarts=values.numel(), best=0)


def _passing(value_name=N.VALUE_VS_TARGET):
    return [
        CheckResult(N.GRADIENT_NORM, True, 1e-15, 1e-10),
        CheckResult(N.ALIGNMENT, True, 0.0, 1e-6),
        CheckResult(N.GRAM_DEVIATION, True, 0.0, 1e-6),
        CheckResult(value_name, True, 0.0, 1e-12, "|·| <="),
        CheckResult(N.RESTART_AGREEMENT, True, 1.0, 0.25, ">="),
        CheckResult(N.UNIQUENESS, True, 0.0, 1e-6),
        CheckResult(N.HESSIAN_PSD, True, 1e-3, -1e-12, ">="),
        CheckResult(N.HESSIAN_ZERO_COUNT, True, 3.0, 3.0, "=="),
    ]


def _info(zero_count=3, orbit=3):
    return HessianInfo(
        n=12,
        where="exact target",
        grad_norm=0.0,
        orbit_dimension=orbit,
        rank=3,
        zero_count=zero_count,
        threshold=1e-12,
        min_eigenvalue=0.0,
        max_abs_zero=0.0,
        gap=0.5,
        max_eigenvalue=2.0,
    )


def evidence(
    checks=None, *, claim="simplex", M=4, d=3, finite=True, found=1.0, target=1.0, info=None, res=None, replace=()
) -> V.Evidence:
    checks = checks if checks is not None else _passing()
    for new in replace:
        checks = [new if c.name == new.name else c for c in checks]
    return V.Evidence.of(
        Claim(claim), KCL, M, d, checks, finite, found, target, info or _info(), res or _res(), ValueScale(1e-10, 1e-16)
    )


def test_rules_are_tried_in_the_order_the_module_docstring_states():
    listed = re.findall(r"^\s+\d+ (\w+)\s", V.__doc__, flags=re.M)
    assert listed == [r.__name__ for r in V.RULES]
    assert V.RULES[-1] is V.confirmed


def test_every_rule_but_confirmed_stays_silent_on_a_clean_confirmation():
    e = evidence()
    assert [r.__name__ for r in V.RULES if r(e) is not None] == ["confirmed"]
    verdict, reason = V.decide_evidence(e)
    assert verdict == Verdict.CONFIRMED and verdict == "confirmed" and "regular simplex" in reason


def test_non_finite_is_inconclusive_and_counts_the_restarts():
    res = _res(values=(1.0, math.nan, 1.0, math.inf))
    assert V.non_finite(evidence(finite=False, res=res)) == (
        Verdict.INCONCLUSIVE,
        "non-finite loss or gradient in 2 of 4 restarts",
    )


def test_a_lower_value_refutes_before_anything_a_failed_search_leaves_open():
    low = CheckResult(N.VALUE_VS_TARGET, False, -1e-3, 1e-12, "|·| <=")
    e = evidence(
        replace=[low, CheckResult(N.GRADIENT_NORM, False, 1e-3, 1e-10)], found=0.999, res=_res(converged=(False,) * 4)
    )
    assert V.below_claimed_value(e)[0] == Verdict.REFUTED
    assert V.nothing_converged(e)[0] == Verdict.INCONCLUSIVE  # would apply too, but comes later
    assert V.decide_evidence(e)[0] == Verdict.REFUTED


def test_below_simplex_bound_and_impossible_simplex_refute():
    e = evidence(
        _passing(N.VALUE_VS_SIMPLEX_BOUND),
        claim="aligned",
        M=8,
        replace=[CheckResult(N.VALUE_VS_SIMPLEX_BOUND, False, -1e-3, -1e-12, ">=")],
    )
    assert V.below_simplex_bound(e)[0] == Verdict.REFUTED
    e = evidence(_passing(N.VALUE_VS_SIMPLEX_BOUND), claim="simplex", M=8, d=3)
    assert V.simplex_cannot_exist(e)[0] == Verdict.REFUTED and "needs d >= 7" in V.simplex_cannot_exist(e)[1]


def test_nothing_converged_counts_stop_reasons_by_code_and_says_their_messages():
    res = _res(
        converged=(False,) * 4,
        stops=[StopReason.STAGNATED, StopReason.ITERATION_LIMIT, StopReason.STAGNATED, StopReason.NON_FINITE],
    )
    verdict, reason = V.nothing_converged(evidence(res=res))
    assert verdict == Verdict.INCONCLUSIVE
    assert reason.startswith(
        "no restart converged (2 stagnated: no further decrease possible in this precision, "
        "1 iteration limit reached, 1 non-finite value or gradient)"
    )


def test_not_the_claimed_configuration_three_outcomes():
    off = CheckResult(N.GRAM_DEVIATION, False, 0.3, 1e-6)
    # same value, another configuration: not unique or too flat
    assert V.not_the_claimed_config(evidence(replace=[off]))[0] == Verdict.INCONCLUSIVE
    # a certified minimum that is not the claim (the value check does not pass): refuted
    higher = CheckResult(N.VALUE_VS_TARGET, None, None, None, "")
    assert V.not_the_claimed_config(evidence(replace=[off, higher]))[0] == Verdict.REFUTED
    # not certified (saddle): inconclusive
    saddle = CheckResult(N.HESSIAN_PSD, False, -1e-2, -1e-12, ">=")
    assert V.not_the_claimed_config(evidence(replace=[off, higher, saddle]))[0] == Verdict.INCONCLUSIVE


@pytest.mark.parametrize(
    "rule, replace, info",
    [
        (V.not_unique, [CheckResult(N.UNIQUENESS, False, 0.1, 1e-6)], None),
        (V.no_second_order, [CheckResult(N.HESSIAN_PSD, False, None, None, "", "eigh failed")], None),
        (V.saddle, [CheckResult(N.HESSIAN_PSD, False, -1e-2, -1e-12, ">=")], None),
        (V.degenerate, [CheckResult(N.HESSIAN_ZERO_COUNT, False, 5.0, 3.0, "==")], _info(zero_count=5)),
        (V.too_few_zeros, [CheckResult(N.HESSIAN_ZERO_COUNT, False, 2.0, 3.0, "==")], _info(zero_count=2)),
        (V.not_reproduced, [CheckResult(N.RESTART_AGREEMENT, False, 0.125, 0.25, ">=", "1 of 8")], None),
    ],
)
def test_each_inconclusive_rule_alone(rule, replace, info):
    e = evidence(replace=replace, info=info)
    assert rule(e)[0] == Verdict.INCONCLUSIVE
    assert V.decide_evidence(e) == rule(e)  # and no earlier rule takes it
    assert rule(evidence()) is None


def test_zero_count_without_a_spectrum_is_no_certificate():
    e = V.Evidence.of(
        Claim("simplex"),
        KCL,
        4,
        3,
        [c for c in _passing() if c.name != N.HESSIAN_ZERO_COUNT]
        + [CheckResult(N.HESSIAN_ZERO_COUNT, False, None, None, "", "not finite")],
        True,
        1.0,
        1.0,
        None,
        _res(),
        ValueScale(1e-10, 1e-16),
    )
    assert V.zero_count_not_measured(e) == (Verdict.INCONCLUSIVE, "no second-order certificate: not finite")


def test_aligned_confirmation_names_the_order_of_the_certificate():
    checks = _passing(N.VALUE_VS_SIMPLEX_BOUND)
    checks[-2] = not_applicable(N.HESSIAN_PSD, "skipped (--no-hessian)")
    checks[-1] = not_applicable(N.HESSIAN_ZERO_COUNT, "skipped (--no-hessian)")
    verdict, reason = V.decide_evidence(evidence(checks, claim="aligned", M=8))
    assert verdict == Verdict.CONFIRMED and "first-order; Hessian not checked" in reason


def test_check_names_are_words_in_json():
    c = CheckResult(N.HESSIAN_PSD, True, 1.0, 0.0, ">=")
    assert c.to_dict()["name"] == "hessian_psd" and c.name == "hessian_psd" and f"{c.name:<12}|" == "hessian_psd |"
