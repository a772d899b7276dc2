"""The command line: exit codes, one-line errors, JSON, figures, console scripts (SPEC §5)."""

import json
import os
import subprocess
import sys

import pytest

from hemtools.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_confirms_and_prints_a_table(capsys):
    code, out, err = run(capsys, "verify", "--loss", "kcl", "--M", "4", "--d", "3")
    assert code == 0, err
    assert "verdict    CONFIRMED" in out and "hessian_zero_count" in out and "seconds" in out


def test_verify_json_is_one_document(capsys):
    code, out, _ = run(capsys, "verify", "--loss", "infonce", "--M", "3", "--d", "2", "--json", "--tau", "0.2")
    assert code == 0
    doc = json.loads(out)
    assert doc["verdict"] == "confirmed" and doc["params"] == {"tau": 0.2}
    assert doc["reference"]["name"] == "aligned regular simplex"


def test_exit_codes_refuted_and_aligned(capsys):
    assert run(capsys, "verify", "--loss", "dhel", "--M", "8", "--d", "3", "--claim", "simplex")[0] == 1
    assert run(capsys, "verify", "--loss", "dhel", "--M", "8", "--d", "3", "--claim", "aligned")[0] == 0


def test_same_seed_same_json(capsys):
    args = ("verify", "--loss", "simclr", "--M", "4", "--d", "3", "--json", "--seed", "5", "--restarts", "4")
    a = json.loads(run(capsys, *args)[1])
    b = json.loads(run(capsys, *args)[1])
    a.pop("seconds"), b.pop("seconds")
    assert a == b


BAD = [
    (["--loss", "infonse", "--M", "3", "--d", "3"], "did you mean infonce"),
    (["--loss", "kcl", "--M", "1", "--d", "3"], "M: expected an integer >= 2, got 1"),
    (["--loss", "kcl", "--M", "3", "--d", "0"], "d: expected an integer >= 2, got 0"),
    (
        ["--loss", "infonce", "--M", "3", "--d", "3", "--tau", "-1"],
        "tau (loss infonce): expected a finite number in (0, inf), got -1",
    ),
    (["--loss", "infonce", "--M", "3", "--d", "3", "--param", "tau"], "--param: expected KEY=VALUE, got 'tau'"),
    (
        ["--loss", "infonce", "--M", "3", "--d", "3", "--param", "gamma=2"],
        "gamma: unknown parameter for loss infonce; accepted parameters: tau",
    ),
    (
        ["--loss", "infonce", "--M", "3", "--d", "3", "--param", "tau=abc"],
        "tau (loss infonce): expected a finite number",
    ),
    (["--loss", "nope/missing.py:fn", "--M", "3", "--d", "3"], "file 'nope/missing.py' does not exist"),
    (["--loss", "kcl", "--M", "three", "--d", "3"], "argument --M: invalid int value"),
    (["--loss", "kcl", "--M", "3"], "the following arguments are required: --d"),
    (["--loss", "kcl", "--M", "3", "--d", "3", "--plot", "out.gif"], "unsupported file type '.gif'"),
    (["--loss", "kcl", "--M", "3", "--d", "3", "--restarts", "0"], "--restarts: expected an integer >= 1"),
    (["--loss", "kcl", "--M", "3", "--d", "3", "--device", "tpu"], "device: expected"),
]


@pytest.mark.parametrize("argv,fragment", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_input_is_one_line_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, "verify", *argv)
    assert code == 2
    assert out == ""
    assert fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_errors_in_user_code_exit_4_with_traceback(capsys, tmp_path):
    f = tmp_path / "user.py"
    f.write_text(
        "def raises(U, V):\n    raise RuntimeError('boom in user code')\n"
        "def nonscalar(U, V):\n    return U.sum(-1)\n"
        "def interrupted(U, V):\n    raise KeyboardInterrupt\n"
    )
    code, _, err = run(capsys, "verify", "--loss", f"{f}:raises", "--M", "3", "--d", "3")
    assert code == 4 and "Traceback" in err and "boom in user code" in err
    code, _, err = run(capsys, "verify", "--loss", f"{f}:nonscalar", "--M", "3", "--d", "3")
    assert code == 4 and "expected a scalar" in err
    code, _, err = run(capsys, "verify", "--loss", f"{f}:interrupted", "--M", "3", "--d", "3")
    assert code == 130 and "interrupted" in err and "Traceback" not in err


def test_nan_loss_is_inconclusive_exit_3(capsys, tmp_path):
    f = tmp_path / "nan.py"
    f.write_text("def nan_loss(U, V):\n    return (U * V).sum() * float('nan')\n")
    code, out, _ = run(capsys, "verify", "--loss", f"{f}:nan_loss", "--M", "3", "--d", "3", "--json")
    assert code == 3
    doc = json.loads(out)  # valid JSON even with non-finite numbers inside
    assert doc["verdict"] == "inconclusive"


def test_plot_writes_a_png(capsys, tmp_path):
    path = tmp_path / "fig.png"
    code, _, _ = run(capsys, "verify", "--loss", "dhel", "--M", "4", "--d", "3", "--plot", str(path))
    assert code == 0
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_losses_command_lists_the_registry(capsys):
    code, out, _ = run(capsys, "losses")
    assert code == 0 and "kcl" in out and "riesz_energy" in out


def test_sweep_appends_and_resumes(capsys, tmp_path):
    out = tmp_path / "s.jsonl"
    args = ("sweep", "--loss", "infonce,kcl", "--M", "2:3", "--d", "2", "--out", str(out), "--restarts", "2")
    code, stdout, _ = run(capsys, *args)
    assert code == 0 and "4 cells run" in stdout
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 4 and {x["verdict"] for x in lines} == {"confirmed"}
    code, stdout, _ = run(capsys, *args)
    assert "0 cells run, 4 already" in stdout
    code, _, err = run(capsys, "sweep", "--loss", "kcl", "--M", "2:x", "--d", "2", "--out", str(out))
    assert code == 2 and "--M: expected integers" in err


# ------------------------------------------------------------------------------------ real processes


def _bin(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def test_verify_console_script_runs():
    p = subprocess.run(
        [_bin("verify"), "--loss", "kcl", "--M", "4", "--d", "3", "--json"], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["verdict"] == "confirmed"


def test_hemtools_console_script_help_does_not_import_torch():
    p = subprocess.run([_bin("hemtools"), "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "verify" in p.stdout
    probe = (
        "import sys; from hemtools.cli import main; code = main(['--help']); "
        "print('TORCH' if 'torch' in sys.modules else 'LIGHT')"
    )
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip().endswith("LIGHT")


def test_python_dash_m():
    p = subprocess.run(
        [sys.executable, "-m", "hemtools", "verify", "--loss", "kcl", "--M", "1", "--d", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1
