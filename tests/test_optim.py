"""The batched Riemannian solver: one matrix over the SPEC §1 losses, plus arguments and bookkeeping."""

import json
import math

import pytest
import torch

from hemtools.optim import SolveResult, solve

SPEC_LOSSES = ["infonce", "simclr", "nt_xent", "dcl", "dhel", "kcl"]
CELLS = [(M, d) for d in (2, 3, 8, 16) for M in range(2, d + 2)]


@pytest.mark.parametrize("loss", SPEC_LOSSES)
def test_all_restarts_reach_the_same_minimum(loss):
    """For every M <= d+1, d in {2,3,8,16}: 8 restarts reach ‖grad‖ <= 1e-12 and one value to 1e-10."""
    failures = []
    for M, d in CELLS:
        r = solve(loss, M, d, restarts=8, seed=0)
        spread = float(r.values.max() - r.values.min())
        if not (bool(r.converged.all()) and float(r.grad_norms.max()) <= 1e-12 and spread <= 1e-10):
            failures.append((M, d, float(r.grad_norms.max()), spread, r.stop_reasons))
    assert not failures, failures


def test_result_bookkeeping_and_json():
    r = solve("infonce", 4, 3, restarts=3, seed=2)
    assert isinstance(r, SolveResult)
    assert r.points.shape == (3, 8, 3) and r.points.dtype == torch.float64
    assert r.values.shape == r.grad_norms.shape == r.iterations.shape == (3,)
    assert r.history_values.shape[1] == 3 and r.history_grad_norms.shape == r.history_values.shape
    # history ends where the result is
    assert torch.equal(r.history_values[-1], r.values)
    assert r.seconds > 0 and r.hessian_vector_products > 0
    U, V = r.split()
    assert U.shape == V.shape == (4, 3)
    json.dumps(r.to_dict())


def test_same_seed_same_result_and_restarts_are_independent():
    a = solve("dhel", 5, 4, restarts=4, seed=7)
    b = solve("dhel", 5, 4, restarts=4, seed=7)
    assert torch.equal(a.points, b.points) and torch.equal(a.values, b.values)
    c = solve("dhel", 5, 4, restarts=4, seed=8)
    assert not torch.equal(a.points, c.points)


def test_energy_losses_solve_too():
    r = solve("riesz_energy", 4, 3, restarts=4, seed=0)
    # Thomson N=4: the regular tetrahedron, energy 6/sqrt(8/3) = 3.674234614... (closed form)
    assert float(r.values.min()) == pytest.approx(6 / math.sqrt(8 / 3), rel=1e-12)
    assert r.points.shape == (4, 4, 3)


def test_x0_replaces_random_starts():
    r0 = solve("kcl", 3, 3, restarts=2, seed=0)
    r1 = solve("kcl", 3, 3, x0=r0.points)
    assert r1.iterations.max() <= 2  # already converged: at most a polishing step
    assert float((r1.values - r0.values).abs().max()) <= 1e-14


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(M=1, d=3), "M: expected an integer >= 2"),
    (dict(M=3, d=1), "d: expected an integer >= 2"),
    (dict(M=2.5, d=3), "M: expected an integer"),
    (dict(M=3, d=3, params={"tau": 0}), "tau (loss infonce): expected a finite number in (0, inf)"),
    (dict(M=3, d=3, params={"tau": float("nan")}), "tau (loss infonce)"),
    (dict(M=3, d=3, params={"t": 1}), "t: unknown parameter for loss infonce; accepted parameters: tau"),
    (dict(M=3, d=3, restarts=0), "restarts: expected an integer >= 1"),
    (dict(M=3, d=3, tol=-1), "tol: expected a positive"),
    (dict(M=3, d=3, dtype="float16"), "dtype: expected float64 or float32"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        solve("infonce", **kwargs)
    assert fragment in str(err.value)


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="unknown loss 'infonc'; did you mean infonce"):
        solve("infonc", 3, 3)


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        r = solve("kcl", 4, 3, restarts=2, device="cuda")
        assert bool(r.converged.all())
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            solve("kcl", 4, 3, device="cuda")


def test_non_finite_loss_is_reported_not_converged(tmp_path):
    f = tmp_path / "nanloss.py"
    f.write_text("import torch\ndef nan_loss(U, V):\n    return (U * V).sum() * float('nan')\n")
    r = solve(f"{f}:nan_loss", 3, 3, restarts=2)
    assert not bool(r.converged.any())
    assert all("non-finite" in s for s in r.stop_reasons)
