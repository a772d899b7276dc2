"""A hostile new-user review (issue: "on code nobody here wrote"): third-party-style inputs through the CLI and
the library, each case a defect that was found and fixed (the test failed before the fix)."""

from __future__ import annotations

import math
import textwrap

import pytest

from hemtools import cli

pytest_plugins = ["pytester"]

THIRD_PARTY = '''
import torch


def infonce_f32(U, V, tau=0.5):
    """InfoNCE computed in float32, as a training script written for GPUs does (no cast back)."""
    U, V = U.float(), V.float()
    G = U @ V.T / tau
    return -(G.diagonal() - torch.logsumexp(G, 1)).mean()


def infonce_nan(U, V, tau=0.5):
    """A loss that returns NaN everywhere (a 0/0 in user code)."""
    G = U @ V.T / tau
    return -(G.diagonal() - torch.logsumexp(G, 1)).mean() * float("nan")


def raises(U, V):
    raise RuntimeError("boom inside their loss")
'''


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "theirs.py").write_text(THIRD_PARTY)
    return "theirs.py"


# ---------------------------------------------------------------- compare: a float32 loss is compared (known item 1)


def test_compare_takes_a_float32_loss_and_says_so(third_party, capsys):
    code = cli.main(["compare", "--loss", f"{third_party}:infonce_f32", "--reference", "infonce", "--M", "3",
                     "--d", "3", "--trials", "1"])
    out, err = capsys.readouterr()
    assert code == 1, err  # a mismatch at the default rtol 1e-12: float32 round-off is measured, not hidden
    assert "returns float32 for float64 inputs: its values were cast to float64" in out
    assert "computes in float32: all 4 of its values lie on the float32 grid" in out


def test_compare_float32_loss_matches_with_the_tolerances_it_suggests(third_party):
    from hemtools.compare import compare

    r = compare(f"{third_party}:infonce_f32", "infonce", [3], [3], trials=1, rtol=1e-4, atol=1e-8)
    assert r.verdict == "match", r.summary()
    assert any("returns float32" in d for d in r.diagnostics)  # said on a match too


def test_verify_still_refuses_a_float32_loss(third_party, capsys):
    code = cli.main(["verify", "--loss", f"{third_party}:infonce_f32", "--M", "3", "--d", "3", "--restarts", "2"])
    err = capsys.readouterr().err
    assert code == 4 and "returned float32 for float64 inputs; verification runs in float64" in err


def test_compare_of_a_nan_loss_names_the_nan_not_agreeing_values(third_party):
    from hemtools.compare import compare

    r = compare(f"{third_party}:infonce_nan", "infonce", [3], [3], trials=1)
    assert r.verdict == "mismatch"
    assert "value nan (loss) vs" in r.reason and "inf >" not in r.reason
    assert r.diagnostics[0].startswith("the implementation is non-finite (nan) at 4 configurations")
    assert not any("values agree everywhere" in d for d in r.diagnostics)  # was said before: wrong
    assert all(math.isnan(c.value_loss) for c in r.cases)


# ------------------------------------------- one array validator for conformal, networks and gmm (known item 2)

BAD_ARRAYS = [
    ("a word", "X: expected an array of numbers, got str"),
    ([[1.0, 2.0], [3.0]], "X: expected an array of numbers, got list"),  # ragged
    ([1.0, 2.0, 3.0], "X: expected a 2-d array with no empty axis, got shape (3,)"),
    ([[]], "X: expected a 2-d array with no empty axis, got shape (1, 0)"),
    ([[1.0, math.nan], [0.0, 1.0]], "X: contains NaN or infinite entries"),
    ([[1.0, math.inf], [0.0, 1.0]], "X: contains NaN or infinite entries"),
]


def _complex():
    import numpy as np

    return np.ones((3, 2)) + 1j  # was silently cut to its real part by gmm (a ComplexWarning, no error)


def _call(module: str, x):
    """The array X through each module's public API, so that the validator runs on it."""
    import numpy as np

    from hemtools import conformal, gmm, networks

    if module == "conformal":
        return conformal.distance_score(x, np.ones((3, 2)))
    if module == "networks":
        return networks.relu_fixed_point(x, np.ones((3, 2)), np.ones((3, 3)), 2)
    return gmm.pca_subspace(x, 1)


@pytest.mark.parametrize("module", ["conformal", "networks", "gmm"])
@pytest.mark.parametrize("x, message", BAD_ARRAYS + [(None, "X: expected real numbers, got complex128")])
def test_the_three_modules_refuse_a_bad_array_in_the_same_words(module, x, message):
    import numpy as np

    from hemtools.errors import ArgumentError

    if x is None:
        x = _complex()
    if module == "conformal":
        message = message.replace("X:", "U:")
    with pytest.raises(ArgumentError) as info:
        _call(module, x)
    assert str(info.value) == message
    if isinstance(x, list) and message.endswith("entries"):  # the same words for a tensor
        import torch

        with pytest.raises(ArgumentError, match="^.: contains NaN or infinite entries$"):
            _call(module, torch.as_tensor(np.asarray(x)))


def test_the_validator_takes_third_party_arrays():
    import numpy as np
    import torch

    from hemtools.validators import require_array

    big_endian = np.arange(6, dtype=">f8").reshape(3, 2)
    assert require_array("X", big_endian).tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert require_array("X", [["1", "2"], ["3", "4"]]).dtype == torch.float64  # numbers as text
    assert require_array("X", np.ones((2, 2), dtype=bool)).dtype == torch.float64
    assert require_array("X", torch.ones(2, 3, 3), (2, 3)).shape == (2, 3, 3)
    g = torch.ones(2, 2, requires_grad=True)
    assert require_array("X", g).requires_grad  # a tensor keeps its graph
    with pytest.raises(ValueError, match=r"^C: expected a square matrix, got shape \(2, 3\)$"):
        require_array("C", np.ones((2, 3)), square=True)


# ------------------------------------------------- files that cannot be written: one line, nothing computed lost

ROW = ('{"result": "verify", "loss": "kcl", "M": 2, "d": 3, "params": {}, "claim": "simplex", "verdict": "confirmed", '
       '"value": -1.0, "reference": {"name": "simplex", "value": -1.0}, "grad_norm": 1e-16, "seconds": 0.1, '
       '"configuration": "simplex", "checks": []}\n')


@pytest.fixture
def jsonl_store(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(ROW)
    return p


def _no_space(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_sweep_export_into_a_missing_folder_is_one_line(jsonl_store, tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    for out, words in ((tmp_path / "afile" / "x.csv", "does not exist"), (tmp_path, "is a directory")):
        code = cli.main(["sweep", "export", str(jsonl_store), "--csv", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and words in err and "Traceback" not in err and len(err.splitlines()) == 1  # was exit 4


def test_sweep_export_that_fails_to_write_is_one_line(jsonl_store, tmp_path, capsys, monkeypatch):
    import hemtools.commands._common

    monkeypatch.setattr(hemtools.commands._common, "write_atomic", _no_space)
    code = cli.main(["sweep", "export", str(jsonl_store), "--jsonl", "--out", str(tmp_path / "x.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write" in err and "No space left on device" in err and "Traceback" not in err


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs /proc (a folder that refuses files)")
@pytest.mark.parametrize("option, name", [("--store", "x.sqlite"), ("--out", "x.jsonl")])
def test_sweep_into_a_folder_that_refuses_files_is_one_line(option, name, capsys):
    code = cli.main(["sweep", "--loss", "kcl", "--M", "2", "--d", "3", "--restarts", "1", "--no-hessian",
                     option, f"/proc/{name}", "--workers", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot open the store for writing" in err and "Traceback" not in err  # was exit 4


@pytest.mark.parametrize("command", ["analyze", "report", "plot"])
def test_a_figure_that_cannot_be_written_keeps_the_result(command, tmp_path, jsonl_store, capsys, monkeypatch):
    import numpy as np

    import hemtools.plots
    import hemtools.sweep_report

    emb = tmp_path / "z.npy"
    np.save(emb, np.eye(4))
    argv = {"analyze": ["analyze", str(emb), "--plot"], "report": ["sweep", "report", str(jsonl_store), "--plot"],
            "plot": ["plot", str(jsonl_store), "--kind", "phase", "--out"]}[command]
    for module, drawer in ((hemtools.plots, "analyze_figure"), (hemtools.sweep_report, "report_figure"),
                           (hemtools.plots, "figure_for")):  # the drawing fails as a full disk does
        monkeypatch.setattr(module, drawer, _no_space)
    code = cli.main([*argv, str(tmp_path / "f.png")])
    out, err = capsys.readouterr()
    assert "No space left on device" in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    if command == "plot":  # the figure is the only product: a usage-level failure
        assert code == 2
    else:  # the result was printed and its exit code stands (was exit 4, internal error)
        assert code == 0 and out.strip()


def test_conditions_refuses_a_save_dir_under_a_file_before_computing(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    code = cli.main(["conditions", "--M", "3", "--d", "4", "--save-dir", str(tmp_path / "afile" / "cands")])
    err = capsys.readouterr().err
    assert code == 2 and "--save-dir" in err and "is a file" in err  # was: the grid ran, a candidate was lost


def test_a_grid_axis_of_a_hundred_million_values_is_refused_at_once(capsys):
    code = cli.main(["sweep", "--loss", "kcl", "--M", "2:100000000", "--d", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "more than 100,000 values" in err  # was: minutes building a 10^8-element list


# --------------------------------------------------------------------------- the pytest plugin, misused

PLUGIN_USER_TESTS = '''
import pytest

@pytest.mark.hemtools("kcl", M=3, d=3)
def test_positional(hem_verify):
    hem_verify()

def test_typo(hem_verify):
    hem_verify("kcl", M=3, d=3, restarts=1, hessian=False, expect="confirmd")
'''


def test_plugin_refuses_a_positional_marker_and_a_misspelt_expect(pytester):
    pytester.makepyfile(test_user=textwrap.dedent(PLUGIN_USER_TESTS))
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, errors=1)
    out = result.stdout.str()
    # was: the positional loss ignored, then "no loss given"
    assert "@pytest.mark.hemtools takes keyword arguments only (loss=..., M=..., d=...), got positional 'kcl'" in out
    # was: verify ran and the test failed with "expected confirmd, got confirmed" and a certificate table
    assert ("hem_verify: expect: expected confirmed, refuted, inconclusive, a tuple of them or None, "
            "got 'confirmd'") in out
    assert "got confirmed" not in out


# ------------------------------------------------------------------ exit codes survive a closed stderr


class _ClosedPipe:
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("argv, code", [
    (["verify", "--loss", "theirs.py:raises", "--M", "3", "--d", "3", "--restarts", "1"], 4),
    (["verify", "--loss", "kcl", "--M", "0", "--d", "3"], 2),
])
def test_exit_code_survives_a_closed_stderr(third_party, monkeypatch, argv, code):
    # `verify ... 2>&1 | head -1`: the traceback meets a closed pipe; the exit code was Python's 1 ("refuted")
    import sys

    monkeypatch.setattr(sys, "stderr", _ClosedPipe())
    assert cli.main(argv) == code


# ------------------------------------------------------------- proofs_numeric harness: bad --json / --seed


def _harness():
    import os
    import sys

    proofs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "proofs_numeric")
    sys.path.insert(0, proofs)
    try:
        import _harness
    finally:
        sys.path.remove(proofs)
    return _harness


@pytest.mark.parametrize("argv, words", [(["--json", "/{tmp}/afile/r.json"], "--json: directory"),
                                         (["--seed", "-1"], "--seed: expected an integer >= 0, got -1")])
def test_proof_script_refuses_bad_arguments_before_it_runs(argv, words, tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    ran = []
    argv = [a.replace("/{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as info:
        _harness().main(lambda proof, args: ran.append(1), claim="CX", statement="test", argv=["--quick", *argv])
    assert info.value.code == 2 and not ran and words in capsys.readouterr().err  # was: a traceback after the run


def test_proof_result_stands_when_its_json_cannot_be_written(tmp_path, capsys, monkeypatch):
    import hemtools.io

    monkeypatch.setattr(hemtools.io, "write_atomic", _no_space)
    code = _harness().main(lambda proof, args: proof.check(True, "fine"), claim="CX", statement="test",
                           argv=["--quick", "--json", str(tmp_path / "r.json")])
    cap = capsys.readouterr()
    assert code == 0 and cap.out.splitlines()[-1].startswith("PASS: CX") and "cannot write" in cap.err


def test_sweep_of_a_raising_loss_shows_the_users_traceback(third_party, tmp_path, capsys):
    code = cli.main(["sweep", "--loss", f"{third_party}:raises", "--M", "2", "--d", "3", "--restarts", "1",
                     "--no-hessian", "--workers", "0", "--store", str(tmp_path / "s.sqlite")])
    err = capsys.readouterr().err
    # was: exit 4 with one line per cell and no traceback anywhere (not in the store either)
    assert code == 4 and "1 cell failed in user code; the traceback of theirs.py:raises M=2 d=3:" in err
    assert 'theirs.py", line' in err and "in raises" in err and err.rstrip().endswith("boom inside their loss")
    from hemtools import store

    (row,) = store.read_rows(str(tmp_path / "s.sqlite"))
    assert row["verdict"] == "error" and "in raises" in row["traceback"]


def test_plot_draws_from_the_default_sqlite_store(tmp_path, capsys, monkeypatch):
    import json

    import hemtools.plots

    drawn = []
    monkeypatch.setattr(hemtools.plots, "figure_for", lambda kind, results, out: drawn.append((kind, len(results))))
    src = tmp_path / "old.jsonl"
    src.write_text(json.dumps({**json.loads(ROW), "cell": "k1"}) + "\n")
    db = tmp_path / "results.sqlite"
    assert cli.main(["sweep", "import", str(src), str(db)]) == 0
    code = cli.main(["plot", str(db), "--kind", "phase", "--out", str(tmp_path / "p.png")])
    out, err = capsys.readouterr()
    assert code == 0 and drawn == [("phase", 1)], err  # was: "cannot be read ('utf-8' codec can't decode ...)"


@pytest.mark.parametrize("kernel, params", [("riesz", {"s": 1e6}), ("gaussian", {"t": 1e300})])
def test_an_absurd_potential_is_reported_without_numpy_warnings(kernel, params):
    # `hemtools energy --kernel riesz --s 1e6` printed two RuntimeWarnings (overflow in power) above its
    # one-line "LP bound failed: the potential is not finite" — the caller detects the non-finite values
    import warnings

    import numpy as np

    from hemtools.bounds import Potential

    pot = Potential(kernel, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vals = [pot.f(np.linspace(-1, 0.9, 5)), pot.d1(np.linspace(-1, 0.9, 5)), pot.d2(np.linspace(-1, 0.9, 5))]
    assert not all(np.isfinite(v).all() for v in vals)


# ------------------------------------------------- a broken third-party entry point does not break the built-ins


class _BrokenEntryPoint:
    name, value = "their_loss", "their_pkg.losses:their_loss"

    def load(self):
        raise ImportError("No module named 'their_dependency'")


@pytest.fixture
def broken_entry_point(monkeypatch):
    import importlib.metadata

    from hemtools.losses import registry

    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(registry, "_BROKEN_ENTRY_POINTS", {})
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [_BrokenEntryPoint()])


def test_a_broken_entry_point_fails_only_its_own_loss(broken_entry_point, capsys):
    from hemtools.errors import UserCodeError
    from hemtools.losses import get_loss

    assert get_loss("kcl").name == "kcl"  # was: UserCodeError (exit 4) for every loss, built-ins included
    assert get_loss("infonce").name == "infonce"
    with pytest.raises(UserCodeError, match="entry point their_loss = their_pkg.losses:their_loss"):
        get_loss("their_loss")
    assert cli.main(["losses"]) == 0
    out, err = capsys.readouterr()
    assert "kcl" in out and "entry point their_loss" in err and "their_dependency" in err


def test_a_loss_module_that_disables_autograd_keeps_the_autograd_hessian(tmp_path, monkeypatch, capsys):
    # an inference-style module runs torch.set_grad_enabled(False) when imported: the Hessian fell back to
    # finite differences with a note blaming the loss ("no second derivative in autograd ... does not require grad")
    import torch

    (tmp_path / "inference_style.py").write_text(
        "import torch\ntorch.set_grad_enabled(False)\n\n\ndef f(U, V, tau=0.5):\n"
        "    G = U @ V.T / tau\n    return -(G.diagonal() - torch.logsumexp(G, 1)).mean()\n")
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main(["verify", "--loss", "inference_style.py:f", "--M", "3", "--d", "3", "--restarts", "2"])
    finally:
        torch.set_grad_enabled(True)
    out = capsys.readouterr().out
    assert code == 0 and "no second derivative" not in out and "central differences" not in out


def test_a_loss_path_that_is_a_folder_says_so(tmp_path, monkeypatch, capsys):
    (tmp_path / "losses.py").mkdir()  # a package folder named like a file
    monkeypatch.chdir(tmp_path)
    assert cli.main(["verify", "--loss", "losses.py:f", "--M", "3", "--d", "3"]) == 2
    assert "'losses.py' is a directory" in capsys.readouterr().err  # was: "file 'losses.py' does not exist"
