"""Solver knobs as option dataclasses (issue 12 item 6): the defaults are the solver as it was (bitwise), the
keyword arguments of solve() override their fields, and a knob does act.  Small problems: a few seconds."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hemtools.optim import DEFAULT_OPTIONS, FirstOrderOptions, SolverOptions, TrustRegionOptions, _with_overrides, solve


def test_default_options_are_the_solver_as_it_was():
    a = solve("kcl", 3, 3, restarts=2, seed=1)
    b = solve("kcl", 3, 3, restarts=2, seed=1, options=SolverOptions())
    assert torch.equal(a.points, b.points) and torch.equal(a.values, b.values) and a.stops == b.stops


def test_keyword_arguments_override_their_fields():
    o = _with_overrides(DEFAULT_OPTIONS, 7, None, 1e-6, 30)
    assert (o.first_order.max_iter, o.first_order.switch_step, o.trust_region.max_iter, o.trust_region.max_inner) \
        == (7, 1e-6, 200, 30)
    assert _with_overrides(DEFAULT_OPTIONS, None, None, None, None) is DEFAULT_OPTIONS
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_OPTIONS.first_order.max_iter = 1  # type: ignore[misc]


def test_a_knob_acts():
    few = SolverOptions(first_order=FirstOrderOptions(max_iter=0), trust_region=TrustRegionOptions(max_iter=0))
    r = solve("kcl", 3, 3, restarts=2, seed=1, options=few)
    assert r.phase_switch == 0 and int(r.iterations.max()) == 0
    assert [s.message for s in r.stops] == r.stop_reasons


def test_large_simplex_regime_problems_hand_over_later():
    """Above LARGE_PROBLEM tangent dimensions with M <= d+1 the trust region takes over at LARGE_SWITCH_STEP
    (CG there drifts into the rotation orbit, issue 13); small problems and M > d+1 keep their switch."""
    from hemtools import optim

    assert optim.default_switch_step(True, 8, 16, 16) == optim.FUSED_SWITCH_STEP
    assert optim.default_switch_step(False, 8, 16, 16) == optim.SWITCH_STEP
    assert optim.default_switch_step(True, 33, 66, 64) == optim.LARGE_SWITCH_STEP  # n = 66 · 63 = 4158
    assert optim.default_switch_step(False, 1024, 2048, 128) == optim.SWITCH_STEP  # M > d+1
    r = solve("infonce", 33, 64, restarts=2, seed=0)
    assert bool(r.converged.all()) and r.phase_switch > 10


def test_lbfgs_first_order_phase_reaches_the_minimum_bb_reaches():
    """The opt-in Riemannian L-BFGS phase (FirstOrderOptions.method) on an M > d+1 problem: converged, the
    same minimum value as the default BB phase; an unknown method is one clear error."""
    bb = solve("kcl", 6, 3, restarts=3, seed=2)
    lb = solve("kcl", 6, 3, restarts=3, seed=2, options=SolverOptions(first_order=FirstOrderOptions(method="lbfgs")))
    assert bool(lb.converged.all()) and float(lb.grad_norms.max()) <= 1e-12
    assert abs(bb.best_value - lb.best_value) <= 1e-12
    with pytest.raises(ValueError, match="first_order.method: expected 'auto', 'bb' or 'lbfgs'"):
        solve("kcl", 3, 3, options=SolverOptions(first_order=FirstOrderOptions(method="newton")))
