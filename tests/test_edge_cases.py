"""Edge cases found in review: underflow, overflow and bad paths must give honest verdicts or exit 2,
never a certificate or a traceback."""

import json

import pytest

from hemtools.bounds import lp_bound
from hemtools.cli import main
from hemtools.energies import certifies, same_value


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_energy_that_underflows_is_not_converged_nor_certified(capsys):
    # every e^{-t r²} is 0 in float64 at t = 1e4: each configuration looked "stationary" and "certified"
    code, out, err = run(capsys, "energy", "--kernel", "gaussian", "--t", "1e4", "--N", "5", "--d", "3",
                         "--restarts", "2", "--rounds", "0", "--json")
    r = json.loads(out)
    assert code == 3 and r["converged"] is False and "underflows" in r["stop_reason"]
    assert r["lp_bound"]["certified_global_minimum"] is False


def test_a_non_finite_energy_prints_its_table(capsys):
    code, out, err = run(capsys, "energy", "--kernel", "riesz", "--s", "5000", "--N", "5", "--d", "3",
                         "--restarts", "2", "--rounds", "0")
    assert code == 3 and "minimum    nan" in out and "Traceback" not in err


def test_lp_bound_with_a_subnormal_simplex_value_returns_instead_of_raising():
    b = lp_bound("gaussian", 6, 3, t=300.0)  # f(−1/5) = e^{−720} is subnormal: f/F used to overflow
    assert b.bound <= 1e-200  # a valid (if useless) bound, or a failure with -inf
    b = lp_bound("riesz", 5, 3, s=0.001)  # the check interval rounds to the singularity u = 1
    assert b.bound == float("-inf") and "singularity" in b.status


def test_certificates_need_a_consistent_gap():
    assert certifies(0.0) and certifies(5e-7) and certifies(-1e-12)
    assert not certifies(-1e-6)  # a bound above the energy is a contradiction, not a certificate
    assert not certifies(2e-6) and not certifies(None) and not certifies(float("nan"))


def test_same_minimum_is_relative_for_energies_below_one():
    assert not same_value(1e-12, 9e-12)
    assert same_value(1e-12, 1e-12 * (1 + 1e-13))
    assert same_value(-0.5, -0.5 + 1e-13) and not same_value(-0.5, -0.5 + 1e-9)


def test_a_directory_as_output_file_is_a_usage_error(tmp_path, capsys):
    d = tmp_path / "figure.png"
    d.mkdir()
    code, out, err = run(capsys, "verify", "--loss", "kcl", "--M", "3", "--d", "3", "--plot", str(d))
    assert code == 2 and "is a directory" in err and len(err.strip().splitlines()) == 1


def test_a_corrupt_torch_file_is_a_usage_error(tmp_path, capsys):
    f = tmp_path / "fake.pt"
    f.write_bytes(b"hello")
    code, out, err = run(capsys, "analyze", str(f))
    assert code == 2 and "fake.pt" in err and len(err.strip().splitlines()) == 1


def test_an_integer_default_accepts_a_float_parameter(tmp_path, capsys):
    f = tmp_path / "intdefault.py"
    f.write_text("import torch\n\ndef loss(U, V, *, tau=1):\n"
                 "    return -(U * V).sum(-1).mean() + tau * torch.logsumexp(U @ U.T / tau, -1).mean()\n")
    code, out, err = run(capsys, "verify", "--loss", f"{f}:loss", "--M", "3", "--d", "3", "--param", "tau=0.5",
                         "--restarts", "2", "--json")
    assert code in (0, 1, 3), err
    assert json.loads(out)["params"]["tau"] == 0.5


@pytest.mark.parametrize("argv,message", [
    (["--N", "300000"], "GiB"),
    (["--N", "5", "--degree", "100000"], "--degree: expected an integer from 1 to 1999"),
])
def test_energy_sizes_that_cannot_run_are_usage_errors(capsys, argv, message):
    code, out, err = run(capsys, "energy", "--kernel", "riesz", "--d", "3", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
