"""The basin-hopping inner solver (hemtools.energy_relax) and the stopping rule of energies.minimise."""

import pytest
import torch

from hemtools import energies, energy_relax, sphere
from hemtools.losses.registry import get_loss
from hemtools.optim import solve

KERNELS = [("riesz", {"s": 1.0}), ("riesz", {"s": 2.5}), ("log", {}), ("gaussian", {"t": 2.0})]


@pytest.mark.parametrize("kernel,params", KERNELS)
def test_closed_form_value_and_gradient_match_autograd(kernel, params):
    X = sphere.random_points(3, 9, 4, generator=torch.Generator().manual_seed(0))
    f = get_loss(energies.LOSS_OF_KERNEL[kernel]).objective(9, params)
    v0, eg0, _ = sphere.value_and_egrad(f, X)
    v1, eg1 = energy_relax.value_and_egrad(X, kernel, params)
    assert float((v0 - v1).abs().max()) <= 1e-13 * float(v0.abs().max())
    assert float((eg0 - eg1).abs().max()) <= 1e-12 * float(eg0.abs().max())


@pytest.mark.parametrize("kernel,params", KERNELS)
def test_relax_reaches_the_minima_the_trust_region_certifies(kernel, params):
    """Relaxed values agree with the trust-region polish of the same points far inside SAME_VALUE_REL."""
    X = sphere.random_points(6, 12, 3, generator=torch.Generator().manual_seed(4))
    r = energy_relax.relax(X, kernel, params)
    assert bool(r.converged.all())
    loss = energies.LOSS_OF_KERNEL[kernel]
    pol = solve(loss, 12, 3, params=params, x0=r.points, **energies.SOLVE_OPTIONS)
    rel = ((pol.values - r.values) / pol.values).abs().max()
    assert float(rel) <= 0.01 * energies.SAME_VALUE_REL, float(rel)


def test_relax_marks_non_finite_starts_and_keeps_the_others():
    X = sphere.random_points(3, 5, 3, generator=torch.Generator().manual_seed(1))
    X[1, 1] = X[1, 0]  # two coincident points: infinite Riesz energy
    r = energy_relax.relax(X, "riesz", {"s": 1.0})
    assert not bool(torch.isfinite(r.values[1])) and not bool(r.converged[1])
    assert bool(r.converged[0]) and bool(r.converged[2])


def test_boender_rinnooy_kan_rule():
    assert energies.all_minima_seen(16, 1)  # 16 starts, one basin: 15/13 < 1.5
    assert not energies.all_minima_seen(16, 2)  # 2·15/12 = 2.5, not < 2.5
    assert energies.all_minima_seen(40, 2)
    assert not energies.all_minima_seen(3, 1) and not energies.all_minima_seen(16, 0)


def test_stopping_rule_spends_little_where_there_is_one_basin_and_more_where_there_are_many():
    small = energies.minimise("riesz", 6, 3, recognise=False)
    assert small.solves == 16 and "Boender" in small.stop_reason  # one basin: round 0 suffices
    big = energies.minimise("riesz", 53, 3, recognise=False, seed=0)
    assert big.solves > 16 and big.rounds >= 1  # several basins: hopping rounds ran
    assert abs(big.value - energies.thomson_table()[53]) <= 1e-8


def test_lbfgs_and_bb_reach_the_same_minimum_lbfgs_in_fewer_iterations():
    """The icosahedron is the only Thomson minimum of 12 points: both solvers end there from the same starts."""
    X = sphere.random_points(4, 12, 3, generator=torch.Generator().manual_seed(2))
    a = energy_relax.relax(X, "riesz", {"s": 1.0}, method="lbfgs")
    b = energy_relax.relax(X, "riesz", {"s": 1.0}, method="bb")
    assert bool(a.converged.all()) and bool(b.converged.all())
    assert float(((a.values - b.values) / b.values).abs().max()) <= 1e-13
    # iterations at N = 40, where they differ beyond the granularity of the convergence check (8): measured
    # 130 against 288 (seed 2)
    X = sphere.random_points(4, 40, 3, generator=torch.Generator().manual_seed(2))
    a = energy_relax.relax(X, "riesz", {"s": 1.0}, method="lbfgs")
    b = energy_relax.relax(X, "riesz", {"s": 1.0}, method="bb")
    assert bool(a.converged.all()) and bool(b.converged.all())
    assert float(a.iterations.double().mean()) <= 0.85 * float(b.iterations.double().mean())


@pytest.mark.parametrize("kernel,params", KERNELS)
@pytest.mark.parametrize("block", [10, 100])  # rows of one configuration per block; whole configurations
def test_blocked_pair_terms_equal_one_block(kernel, params, block):
    X = sphere.random_points(3, 9, 4, generator=torch.Generator().manual_seed(3))
    v0, e0, s0 = energy_relax._evaluate(X, kernel, params)
    v1, e1, s1 = energy_relax._evaluate(X, kernel, params, block=block)
    assert float(((v0 - v1) / v0).abs().max()) <= 1e-14
    assert float((e0 - e1).abs().max()) <= 1e-14 * float(e0.abs().max())
    assert float(((s0 - s1) / s0).abs().max()) <= 1e-14


def test_relax_in_memory_groups_equals_one_batch(monkeypatch):
    X = sphere.random_points(5, 10, 3, generator=torch.Generator().manual_seed(5))
    one = energy_relax.relax(X, "riesz", {"s": 1.0})
    monkeypatch.setattr(energy_relax, "RELAX_MEMORY", 2 * energy_relax.state_bytes(10, 3))  # groups of 2
    grouped = energy_relax.relax(X, "riesz", {"s": 1.0})
    assert torch.equal(one.iterations, grouped.iterations)
    assert float(((one.values - grouped.values) / one.values).abs().max()) <= 1e-14
    assert grouped.history_grad_norms.shape[1] == 5


def test_minimise_polishes_with_lbfgs_and_certifies_the_gradient():
    r = energies.minimise("riesz", 20, 3, recognise=False)
    assert r.converged and r.extras["polish"] == "lbfgs" and r.grad_norm <= r.grad_tol
    assert abs(r.value - energies.thomson_table()[20]) <= 1e-8
    bounded = energies.minimise("riesz", 20, 3, recognise=False, max_iter=5, max_rounds=0)
    assert not bounded.converged and bounded.grad_norm > bounded.grad_tol  # 5 iterations: said, not hidden
