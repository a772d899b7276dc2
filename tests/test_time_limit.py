"""Wall-time budgets (issue 13): a solve, the energy relaxation and verify stop at their deadline with an
honest "time limit reached", never a claimed convergence; a budget that is not reached changes nothing."""

import time

import pytest
import torch

from hemtools import cli, energy_relax, sphere
from hemtools.checks import default_time_limit, verify
from hemtools.optim import deadline, solve, time_budget
from hemtools.results import StopReason, Verdict


def test_an_expired_budget_stops_every_restart_with_time_limit_and_says_where_it_stood():
    with time_budget(0.0):
        r = solve("kcl", 6, 3, restarts=3, seed=0)
    assert r.stops == [StopReason.TIME_LIMIT] * 3 and not bool(r.converged.any())
    assert all(s == "time limit reached" for s in r.stop_reasons)
    assert bool(torch.isfinite(r.values).all())  # the starts, evaluated: a result, not a crash
    (note,) = [n for n in r.notes if "time limit" in n]
    assert "3 of 3 restarts not converged" in note and "tangent dimensions" in note


def test_a_budget_that_is_not_reached_changes_nothing():
    free = solve("kcl", 5, 3, restarts=2, seed=1)
    bounded = solve("kcl", 5, 3, restarts=2, seed=1, time_limit=600)
    assert torch.equal(free.points, bounded.points) and free.stops == bounded.stops
    assert not any("time limit" in n for n in bounded.notes)


def test_time_limit_argument_and_nested_budgets():
    with pytest.raises(ValueError, match="time_limit: expected a positive number"):
        solve("kcl", 3, 3, time_limit=0)
    assert deadline() == float("inf")
    with time_budget(100.0) as outer:
        with time_budget(1e6) as inner:  # an inner budget never extends the outer one
            assert inner == outer == deadline()
        with time_budget(None) as same:
            assert same == outer
    assert deadline() == float("inf")


def test_energy_relaxation_stops_at_the_deadline():
    x = sphere.random_points(2, 40, 3, generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    with time_budget(0.0):
        r = energy_relax.relax(x, "riesz", {"s": 1.0})
    assert time.perf_counter() - t0 < 5 and not bool(r.converged.any())
    assert bool(torch.isfinite(r.values).all())


def test_verify_under_an_expired_budget_is_inconclusive_with_the_reason():
    rep = verify("kcl", 6, 3, restarts=2, time_limit=1e-6)
    assert rep.verdict == Verdict.INCONCLUSIVE and "time limit reached" in rep.reason
    assert any("time limit" in n and "solve until" in n for n in rep.notes)


def test_default_budget_applies_from_fifty_thousand_tangent_dimensions_only():
    assert default_time_limit(16, 16) is None  # the README's first command: no limit
    assert default_time_limit(2048, 128) == 900.0  # verify --loss kcl --M 1024 --d 128


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan", "inf"])
def test_bad_time_limit_is_one_line_and_exit_2(value, capsys):
    assert cli.main(["verify", "--loss", "kcl", "--M", "4", "--d", "3", "--time-limit", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--time-limit" in err[0]


def test_a_baseline_cut_by_the_budget_is_not_cached():
    from hemtools import energies

    key = ("riesz", (("s", 1.0),), 7, 3, 2, 0)
    energies._BASELINE_CACHE.pop(key, None)
    with time_budget(0.0):
        cut = energies.baseline("riesz", {"s": 1.0}, 7, 3, restarts=2, max_rounds=0)
    assert key not in energies._BASELINE_CACHE and cut.points.shape == (7, 3)
    full = energies.baseline("riesz", {"s": 1.0}, 7, 3, restarts=2, max_rounds=0)
    assert energies._BASELINE_CACHE[key] is full


def test_the_matrix_free_certificate_stops_at_the_deadline_without_a_certificate():
    from hemtools import spectrum
    from hemtools.checks import hessian_spectrum
    from hemtools.losses import get_loss

    spec = get_loss("kcl")
    f = spec.objective(6, spec.resolve_params({}))
    x = sphere.random_points(1, 12, 5, generator=torch.Generator().manual_seed(0))[0]
    assert spectrum.lowest_eigenvalues(f, x, 1e4, 2.2e-16).converged
    with time_budget(0.0):
        r = spectrum.lowest_eigenvalues(f, x, 1e4, 2.2e-16)
        info = hessian_spectrum(f, x, 1e4, 2.2e-16, eigensolver="matrix-free")
    assert not r.converged and r.iterations == 1 and "time limit reached" in r.notes[0]
    assert info.failure and "time limit reached" in info.failure


def test_the_lp_bound_is_skipped_once_the_deadline_has_passed():
    from hemtools.checks import beyond_simplex
    from hemtools.losses import get_loss

    U = sphere.random_points(1, 6, 3, generator=torch.Generator().manual_seed(0))[0]
    spec = get_loss("kcl")
    with time_budget(0.0):
        out = beyond_simplex.verify_extras(spec, spec.resolve_params({}), 6, 3, U, 0.0)
    assert out["lp_bound"]["status"].startswith("skipped") and "time limit" in out["lp_bound"]["summary"]
    assert "stopped by verify's time limit" in out["energy_baseline"]["budget"]
