"""The small-problem path of solve (hemtools.small: one restart at a time on numpy) against the torch batch it
replaces below SMALL_PROBLEM coordinates: the same minima, both certified by the registered loss (autograd),
and the choice of path."""

import math

import pytest
import torch

from hemtools import fused, small, sphere
from hemtools.losses.registry import get_loss
from hemtools.optim import solve
from hemtools.results import StopReason

FUSED = ["kcl", "kcl_sym", "infonce", "simclr", "nt_xent", "dcl", "dcl_sym", "dhel", "dhel_sym"]


def _batched(monkeypatch):
    monkeypatch.setattr(small, "SMALL_PROBLEM", 0)


def _registered_gradient(name, M, points):
    spec = get_loss(name)
    f = spec.objective(M, spec.resolve_params({}))
    val, rg = sphere.riemannian_gradient(f, points)
    return val, sphere.norm(rg)


CELLS = [(name, 5, 8) for name in FUSED] + [(name, 9, 4) for name in ("kcl", "infonce", "nt_xent", "dhel")]


@pytest.mark.parametrize("name,M,d", CELLS)  # M <= d+1 (the simplex) for every closed form, and M > d+1
def test_same_minimum_as_the_batch(monkeypatch, name, M, d):
    one = solve(name, M, d, restarts=3, seed=7)
    assert one.hessian_method == fused.METHOD
    _batched(monkeypatch)
    batch = solve(name, M, d, restarts=3, seed=7)
    # same starts (same seed); each restart of the small path is certified on the registered loss
    val, gn = _registered_gradient(name, M, one.points)
    assert torch.allclose(val, one.values, rtol=0, atol=1e-13 * max(1.0, float(val.abs().max())))
    assert bool(one.converged.all()) and float(gn.max()) <= 1e-10, (one.stops, gn)
    assert bool(batch.converged.all())
    assert abs(one.best_value - batch.best_value) <= 1e-12 * max(1.0, abs(batch.best_value))


def test_one_restart_follows_the_batch_iteration_for_iteration(monkeypatch):
    """Same algorithm, same numbers up to round-off: KCL M = 8, d = 16 from the same start takes the same
    path (the iterations agree; a different count would mean the two implementations differ)."""
    a = solve("kcl", 8, 16, restarts=1, seed=0, tol=1e-10)
    _batched(monkeypatch)
    b = solve("kcl", 8, 16, restarts=1, seed=0, tol=1e-10)
    assert int(a.iterations[0]) == int(b.iterations[0]) and a.phase_switch == b.phase_switch
    assert a.hessian_vector_products == b.hessian_vector_products
    n = min(a.history_values.shape[0], b.history_values.shape[0])
    assert torch.allclose(a.history_values[:n], b.history_values[:n], rtol=1e-9, atol=1e-12)
    assert abs(a.best_value - (-1 + 16 * math.exp(-2 * 2 * 8 / 7))) <= 1e-12


def test_result_shapes_and_padding():
    r = solve("infonce", 6, 8, restarts=4, seed=2)
    T = r.history_values.shape[0]
    assert r.history_values.shape == r.history_grad_norms.shape == (T, 4)
    assert r.points.shape == (4, 12, 8) and r.points.dtype == torch.float64
    assert r.iterations.dtype == torch.long and r.converged.dtype == torch.bool
    # a restart that finished early repeats its last value to the end, and its last value is its result
    assert torch.equal(r.history_values[-1], r.values) and torch.equal(r.history_grad_norms[-1], r.grad_norms)
    assert all(isinstance(s, StopReason) for s in r.stops)


def test_which_path():
    assert small.applies(8, 16, 16) and small.applies(16, 256, 256)
    assert not small.applies(17, 16, 16)  # many restarts of a tiny problem: the batch is faster
    assert not small.applies(1, 512, 512)  # training sizes keep the batched torch path
    # float32, autograd losses and progress callbacks keep the batch
    assert solve("kcl", 4, 4, restarts=1, dtype="float32").dtype == "float32"
    seen = []
    solve("kcl", 4, 4, restarts=2, progress=lambda it, g: seen.append(g.shape))
    assert seen and seen[0] == (2,)
    assert solve("phipsi", 4, 4, restarts=1).hessian_method != fused.METHOD


def test_non_finite_values_are_said_not_warned(monkeypatch, recwarn):
    """An overflowing kernel gives NaN: each restart stops as non-finite, unconverged, and numpy prints nothing."""
    x0 = sphere.random_points(2, 8, 4, generator=torch.Generator().manual_seed(0))
    r = solve("kcl", 4, 4, x0=x0, params={"t": 1e308})
    assert r.stops == [StopReason.NON_FINITE] * 2 and not bool(r.converged.any())
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    _batched(monkeypatch)
    assert solve("kcl", 4, 4, x0=x0, params={"t": 1e308}).stops == [StopReason.NON_FINITE] * 2


def test_time_limit_is_respected():
    r = solve("kcl", 40, 4, restarts=2, seed=0, time_limit=1e-4)
    assert any(s is StopReason.TIME_LIMIT for s in r.stops) and r.notes and "time limit" in r.notes[-1]
