"""Issue 11 (items 5-7, 9-14, 19): verify on adversarial third-party-style user losses.

Every loss here is valid user code (or a user error that must be reported as one): verify must never end in
"internal error", a user error exits 4 with the user's traceback, ``--json`` is always one valid document,
and the verdict's exit code survives output failures.  Sizes stay at M <= 6, d <= 4 (fast).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from hemtools import sphere
from hemtools.checks import check_hessian, hessian_spectrum, verify
from hemtools.cli import main
from hemtools.configurations import regular_simplex
from hemtools.errors import ArgumentError, UserCodeError
from hemtools.losses.registry import get_loss
from hemtools.optim import solve

LOSSES = '''
import sys
import torch

def linear_only(U, V):
    return U[:, 0].sum() - V[:, 1].sum()

def constant(U, V):
    return (U * 0).sum() + 1.0

def constant_tensor(U, V):
    return torch.tensor(1.0, dtype=torch.float64)

def inplace_scale(U, V, tau=0.5):
    U.div_(tau)                                   # in place on its input
    G = U @ V.T
    return torch.logsumexp(G, dim=1).mean() - G.diagonal().mean()

def inplace_normalize(U, V, tau=0.5):
    U.div_(U.norm(dim=-1, keepdim=True))          # in place on a tensor autograd needs: not differentiable
    G = U @ V.T / tau
    return torch.logsumexp(G, dim=1).mean() - G.diagonal().mean()

def pdist_kcl(U, V, t=2.0, gamma=16.0):           # the KCL authors' form: torch.pdist has no double backward
    align = torch.exp(-t * (U - V).pow(2).sum(-1)).mean()
    uni = torch.exp(-t * torch.pdist(U).pow(2)).mean()
    return gamma * uni - align

class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.pow(2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g

def custom_function(U, V, tau=0.5):               # no double backward: autograd silently drops its Hessian
    sq = Square.apply(U - V).sum(-1)
    G = U @ V.T / tau
    return sq.mean() + torch.logsumexp(G, dim=1).mean() - G.diagonal().mean()

def norm_align(U, V, t=2.0):                      # smooth, but autograd's second derivative is NaN at u_i = v_i
    align = (U - V).norm(dim=-1).pow(2).mean()
    uni = torch.logsumexp(-t * (2 - 2 * U @ U.T), dim=1).mean()
    return align + uni

def exit0(U, V):
    sys.exit(0)

def exit_msg(U, V):
    sys.exit("bye from the loss")

def interrupt(U, V):
    raise KeyboardInterrupt

def printing(U, V, tau=0.5):
    print("hello from the loss")
    G = U @ V.T / tau
    return torch.logsumexp(G, dim=1).mean() - G.diagonal().mean()

def flags(U, V, include_augs=True, scale: bool = False, k=None, name="mean"):
    flags.seen = dict(include_augs=include_augs, scale=scale, k=k, name=name)
    G = U @ V.T / 0.5
    return torch.logsumexp(G, dim=1).mean() - G.diagonal().mean() + (0.0 if include_augs else 1.0)
'''


@pytest.fixture(scope="module")
def lossfile(tmp_path_factory):
    d = tmp_path_factory.mktemp("adversarial")
    f = d / "adversarial_losses.py"
    f.write_text(LOSSES)
    return str(f)


def _cli(capsys, *argv):
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, *argv):
    code, out, err = _cli(capsys, *argv, "--json")
    assert "internal error" not in err, err
    return code, json.loads(out), err  # exactly one document: json.loads refuses anything else


# -- item 5: no second derivative -------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["pdist_kcl", "custom_function"])
def test_item5_losses_without_second_derivative_use_gradient_differences(capsys, lossfile, fn):
    for extra in ([], ["--no-hessian"]):
        code, doc, err = _json(capsys, "--loss", f"{lossfile}:{fn}", "--M", "4", "--d", "3", "--restarts", "3", *extra)
        assert code == 0 and doc["verdict"] == "confirmed", (doc["reason"], err)
        assert any("central differences of the Riemannian gradient (step h = 6.06e-06)" in n for n in doc["notes"])
    code, doc, _ = _json(capsys, "--loss", f"{lossfile}:{fn}", "--M", "4", "--d", "3", "--restarts", "3")
    assert doc["hessian"]["method"] == "differences" and doc["hessian"]["step"] == pytest.approx(6.06e-6, rel=1e-2)
    assert doc["hessian"]["zero_count"] == doc["hessian"]["orbit_dimension"] == 3


def test_item5_difference_hessian_matches_autograd_on_a_smooth_loss():
    from hemtools import derivatives

    f = get_loss("kcl").objective(4, get_loss("kcl").resolve_params({}))
    x = regular_simplex(4, 3)
    x = torch.cat([x, x])
    H_ad, _ = sphere.riemannian_hessian_matrix(f, x)
    H_fd, h, err = derivatives.difference_hessian(f, x)
    dev = float((H_ad - H_fd).abs().max())
    assert dev < 1e-8 and err < 1e-7 and h == pytest.approx(float(torch.finfo(torch.float64).eps) ** (1 / 3))
    assert dev <= 10 * err  # the measured error bounds the actual one
    # the probe keeps autograd where it is right
    assert derivatives.choose_method(f, x.unsqueeze(0))[0] == "autograd"


# -- item 6: NaN second derivative --------------------------------------------------------------------------


def test_item6_nan_hessian_is_a_failed_certificate_naming_where(capsys, lossfile):
    code, doc, _ = _json(capsys, "--loss", f"{lossfile}:norm_align", "--M", "4", "--d", "3", "--restarts", "3")
    assert code == 3 and doc["verdict"] == "inconclusive"
    assert "second derivative not finite at the aligned target" in doc["reason"]
    assert "does your loss take the norm of u_i − v_i?" in doc["reason"]
    psd = next(c for c in doc["checks"] if c["name"] == "hessian_psd")
    assert psd["passed"] is False and "aligned target" in psd["detail"]


def test_item6_hessian_spectrum_returns_a_failure_instead_of_raising(lossfile):
    f = get_loss(f"{lossfile}:norm_align").objective(4, {"t": 2.0})
    x = regular_simplex(4, 3)
    info = hessian_spectrum(f, torch.cat([x, x]), 1e4, 2.2e-16, where="exact target")
    assert info.failure and "aligned target" in info.failure
    psd, zc = check_hessian(info)
    assert psd.passed is False and zc.passed is False and psd.measured is None
    json.dumps(info.to_dict(), allow_nan=False)


# -- item 7: zero gradient/Hessian, in-place inputs ----------------------------------------------------------


@pytest.mark.parametrize("fn,verdicts", [("linear_only", {"refuted", "inconclusive"}),
                                         ("constant", {"inconclusive"}), ("constant_tensor", {"inconclusive"}),
                                         ("inplace_scale", {"confirmed"})])
def test_item7_linear_constant_and_inplace_losses_get_a_verdict(capsys, lossfile, fn, verdicts):
    code, doc, err = _json(capsys, "--loss", f"{lossfile}:{fn}", "--M", "4", "--d", "3", "--restarts", "3")
    assert code in (0, 1, 3) and doc["verdict"] in verdicts, (doc["reason"], err)


def test_item7_loss_gets_copies_and_a_constant_has_zero_derivatives(lossfile):
    spec = get_loss(f"{lossfile}:inplace_scale")
    x = sphere.random_points(2, 8, 3, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    with torch.no_grad():
        spec.objective(4, {"tau": 0.5})(x)
    assert torch.equal(x, before)  # the solver's points are not changed by the loss
    f = get_loss(f"{lossfile}:constant_tensor").objective(4, {})
    m = sphere.second_order_model(f, x)
    assert float(m.egrad.abs().max()) == 0 and float(m.hvp(sphere.project(x, torch.ones_like(x))).abs().max()) == 0


def test_item7_inplace_on_a_tensor_autograd_needs_is_a_user_error(capsys, lossfile):
    code, _, err = _cli(capsys, "--loss", f"{lossfile}:inplace_normalize", "--M", "4", "--d", "3", "--restarts", "2")
    assert code == 4 and "error in user code" in err and "in-place operation" in err and "internal error" not in err


# -- item 9: sys.exit and Ctrl-C inside user code --------------------------------------------------------------


@pytest.mark.parametrize("fn,shown", [("exit0", "SystemExit: 0"), ("exit_msg", "SystemExit: bye from the loss")])
def test_item9_sys_exit_in_a_loss_exits_4_with_the_traceback(capsys, lossfile, fn, shown):
    code, out, err = _cli(capsys, "--loss", f"{lossfile}:{fn}", "--M", "3", "--d", "3", "--restarts", "2")
    assert code == 4 and out == ""
    assert "Traceback" in err and "adversarial_losses.py" in err and shown in err


def test_item9_sys_exit_at_import_and_keyboard_interrupt(capsys, tmp_path, lossfile):
    f = tmp_path / "exits_at_import.py"
    f.write_text("import sys\nsys.exit(0)\ndef f(U, V):\n    return (U * V).sum()\n")
    code, _, err = _cli(capsys, "--loss", f"{f}:f", "--M", "3", "--d", "3")
    assert code == 4 and "SystemExit: 0" in err and "while importing" in err
    code, _, err = _cli(capsys, "--loss", f"{lossfile}:interrupt", "--M", "3", "--d", "3")
    assert code == 130 and "interrupted" in err


def test_item9_sweep_goes_on_after_a_loss_that_calls_sys_exit(tmp_path, lossfile):
    from hemtools import sweep

    cells = sweep.grid([f"{lossfile}:exit0", "kcl"], [3], [3])
    summary = sweep.run(cells, str(tmp_path / "s.jsonl"), sweep.SweepOptions(restarts=2, hessian=False))
    assert summary.done == 2 and summary.verdicts == {"error": 1, "confirmed": 1}
    assert "SystemExit" in next(r for r in summary.results if r["verdict"] == "error")["reason"]


# -- item 10: printing user code and --json ---------------------------------------------------------------------


def test_item10_printing_loss_keeps_json_one_document(capsys, tmp_path):
    f = tmp_path / "loud.py"
    f.write_text("print('imported!')\n" + LOSSES)
    code, doc, err = _json(capsys, "--loss", f"{f}:printing", "--M", "3", "--d", "3", "--restarts", "2", "--no-hessian")
    assert code == 0 and doc["verdict"] == "confirmed"
    assert "imported!" in err and "hello from the loss" in err
    code, out, err = _cli(capsys, "--loss", f"{f}:printing", "--M", "3", "--d", "3", "--restarts", "2", "--no-hessian")
    assert "hello from the loss" in out  # without --json the loss prints where it prints


# -- item 11: imports like python file.py / python -m ----------------------------------------------------------


def test_item11_file_import_sees_its_siblings_and_module_import_sees_cwd(capsys, tmp_path, monkeypatch):
    pkg = tmp_path / "proj"
    pkg.mkdir()
    (pkg / "helpers_t11b.py").write_text("import torch\ndef align(U, V):\n    return ((U - V) ** 2).sum(-1).mean()\n")
    (pkg / "myloss_t11b.py").write_text(textwrap.dedent("""
        import torch
        from helpers_t11b import align

        def loss(U, V, tau=0.5):
            from helpers_t11b import align as late      # an import at call time works too
            G = U @ V.T / tau
            return late(U, V) + torch.logsumexp(G, dim=1).mean() - G.diagonal().mean()
    """))
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(pkg), str(other))])
    code, out, err = _cli(capsys, "--loss", f"{pkg}/myloss_t11b.py:loss", "--M", "3", "--d", "3", "--restarts", "2",
                          "--no-hessian")
    assert code == 0, err
    (other / "cwdloss_t11b.py").write_text("def f(U, V):\n    return -(U * V).sum() + (U @ U.T).exp().sum()\n")
    spec = get_loss("cwdloss_t11b:f")
    assert spec.user_code


# -- item 12: parameters by type -----------------------------------------------------------------------------


def test_item12_bool_untyped_and_duplicate_parameters(capsys, lossfile):
    code, doc, _ = _json(capsys, "--loss", f"{lossfile}:flags", "--M", "3", "--d", "3", "--restarts", "2",
                         "--no-hessian", "--param", "include_augs=False", "--param", "scale=1", "--param", "k=3",
                         "--param", "name=sum")
    assert doc["params"] == {"include_augs": False, "scale": True, "k": 3, "name": "sum"}
    from hemtools.commands._common import parse_params

    spec = get_loss(f"{lossfile}:flags")
    x = regular_simplex(3, 3)
    spec(x, x, **parse_params(["include_augs=False", "scale=1", "k=3", "name=sum"]))
    seen = spec.fn.seen
    assert seen["include_augs"] is False and seen["scale"] is True and seen["k"] == 3 and type(seen["k"]) is int
    for val, want in (("TRUE", True), ("false", False), ("0", False)):
        assert get_loss(f"{lossfile}:flags").resolve_params({"include_augs": val})["include_augs"] is want
    with pytest.raises(ArgumentError, match="true or false"):
        get_loss(f"{lossfile}:flags").resolve_params({"include_augs": "maybe"})
    code, _, err = _cli(capsys, "--loss", "kcl", "--M", "3", "--d", "3", "--param", "t=1", "--param", "t=2")
    assert code == 2 and "t given twice" in err and err.count("\n") == 1


# -- item 13: upper limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,fragment", [
    (["--M", "1000000000", "--d", "3"], "need ~"),
    (["--M", "4", "--d", "3", "--restarts", "1000000000"], "need ~"),
    (["--M", "4", "--d", "3", "--seed", str(2 ** 70)], "--seed: expected an integer from 0 to 2**64 - 1"),
])
def test_item13_sizes_restarts_and_seeds_are_refused_before_allocating(capsys, args, fragment):
    code, _, err = _cli(capsys, "--loss", "kcl", *args)
    assert code == 2 and fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_item13_library_refuses_too_and_the_largest_seed_works():
    with pytest.raises(ArgumentError, match="seed"):
        solve("kcl", 3, 3, seed=2 ** 64, restarts=1)
    with pytest.raises(ArgumentError, match="need ~"):
        solve("kcl", 10 ** 9, 3)
    assert solve("kcl", 3, 3, seed=2 ** 64 - 1, restarts=1, max_first_order=5, max_trust_region=1).restarts == 1


# -- item 14: output failures keep the verdict's exit code ------------------------------------------------------


def test_item14_disk_full_and_closed_stdout_keep_the_exit_code():
    base = [sys.executable, "-m", "hemtools", "verify", "--loss", "kcl", "--M", "3", "--d", "3", "--restarts", "2",
            "--no-hessian", "--claim", "simplex"]
    with open("/dev/full", "w") as full:
        p = subprocess.run(base + ["--json"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "cannot write the result to stdout (No space left on device)" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run(base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120,
                       preexec_fn=lambda: os.close(1))
    assert p.returncode == 0 and "cannot write the result to stdout" in p.stderr and "Traceback" not in p.stderr


def test_item14_failing_figure_is_one_line_after_the_verdict(capsys, monkeypatch, tmp_path):
    from hemtools import plots

    def refuse(doc, path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(plots, "verify_figure", refuse)
    code, out, err = _cli(capsys, "--loss", "kcl", "--M", "3", "--d", "3", "--restarts", "2", "--no-hessian",
                          "--plot", str(tmp_path / "f.png"))
    assert code == 0 and "CONFIRMED" in out
    assert "cannot write the figure" in err and "Permission denied" in err and err.count("\n") == 1


# -- item 19: --no-hessian wording, import failures -------------------------------------------------------------


def test_item19_no_hessian_does_not_claim_a_second_order_point(capsys):
    code, doc, _ = _json(capsys, "--loss", "dhel", "--M", "5", "--d", "3", "--restarts", "3", "--no-hessian")
    assert doc["verdict"] == "confirmed"
    assert "second-order" not in doc["reason"] and "Hessian not checked" in doc["reason"]


def test_item19_import_failures_exit_codes_match_the_readme(capsys, tmp_path):
    broken = tmp_path / "broken_t11b.py"
    broken.write_text("import no_such_dependency_t11b\ndef f(U, V):\n    return U.sum()\n")
    code, _, err = _cli(capsys, "--loss", f"{broken}:f", "--M", "3", "--d", "3")
    assert code == 4 and "Traceback" in err and "no_such_dependency_t11b" in err  # user code failed: exit 4
    code, _, err = _cli(capsys, "--loss", f"{tmp_path}/missing.py:f", "--M", "3", "--d", "3")
    assert code == 2 and err.count("\n") == 1  # nothing to import: a usage error
    with open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    assert "a module that raises while it is imported" in " ".join(readme.lower().split())


def test_library_callers_get_user_code_errors(lossfile):
    with pytest.raises(UserCodeError, match="SystemExit"):
        verify(f"{lossfile}:exit0", 3, 3, restarts=1)


def test_item9_a_sweep_cell_that_raises_system_exit_is_an_error_row(monkeypatch):
    from hemtools import checks, sweep

    def exits(*args, **kwargs):
        raise SystemExit(0)

    monkeypatch.setattr(checks, "verify", exits)
    row = sweep._run_cell(sweep.Cell("kcl", 3, 3), sweep.SweepOptions())
    assert row["verdict"] == "error" and "sys.exit(0)" in row["reason"]
