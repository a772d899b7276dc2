"""Loss registry: decorator registration, entry points, user callables; the pytest plugin's fixture."""

import json
import sys

import pytest
import torch

from hemtools.losses import get_loss, register_loss, registry
from hemtools.losses.registry import Param


def test_register_loss_decorator_and_duplicates():
    @register_loss("test_only_align", params=[Param("w", 1.0, low=0.0)], family="test")
    def _align(U, V, *, w=1.0):
        """Alignment only (test)."""
        return w * ((U - V) ** 2).sum(-1).mean(-1)

    try:
        spec = get_loss("test_only_align")
        assert spec.doc == "Alignment only (test)." and spec.family == "test"
        with pytest.raises(ValueError, match="already registered"):
            register_loss("test_only_align")(_align)
    finally:
        registry._REGISTRY.pop("test_only_align", None)


def test_entry_point_losses_are_loaded(tmp_path, monkeypatch):
    """An installed package declaring `[hemtools.losses] name = module:function` adds a loss."""
    pkg = tmp_path / "ep_pkg_hemtools_test.py"
    pkg.write_text("def my_ep_loss(U, V, tau=0.5):\n    return ((U - V) ** 2).sum() / tau\n")
    dist = tmp_path / "ep_pkg_hemtools_test-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-pkg-hemtools-test\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[hemtools.losses]\nmy_ep_loss = ep_pkg_hemtools_test:my_ep_loss\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    try:
        spec = get_loss("my_ep_loss")
        assert spec.source.startswith("entry point") and "tau" in spec.params
        U = torch.nn.functional.normalize(torch.randn(3, 4, dtype=torch.float64), dim=-1)
        assert float(spec(U, U)) == 0.0
    finally:
        registry._REGISTRY.pop("my_ep_loss", None)
        sys.modules.pop("ep_pkg_hemtools_test", None)


def test_entry_point_may_declare_a_batched_callable(tmp_path, monkeypatch):
    pkg = tmp_path / "ep_batched_hemtools_test.py"
    pkg.write_text(
        "def ep_batched(U, V):\n    return ((U - V) ** 2).sum((-2, -1))\nep_batched.hemtools_batched = True\n"
    )
    dist = tmp_path / "ep_batched_hemtools_test-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-batched-hemtools-test\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[hemtools.losses]\nep_batched = ep_batched_hemtools_test:ep_batched\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    try:
        spec = get_loss("ep_batched")
        assert spec.batched and spec.user_code
        U = torch.nn.functional.normalize(torch.randn(2, 3, 4, dtype=torch.float64), dim=-1)
        assert spec(U, U).tolist() == [0.0, 0.0]
    finally:
        registry._REGISTRY.pop("ep_batched", None)
        sys.modules.pop("ep_batched_hemtools_test", None)


def test_callable_is_accepted_as_a_loss():
    def my_loss(U, V):
        return -(U * V).sum(-1).mean()

    spec = get_loss(my_loss)
    assert spec.kind == "pairs" and not spec.batched


def test_pytest_plugin_fixture(hemtools_verify):
    report = hemtools_verify("kcl", 3, 3, restarts=4)
    assert report.verdict == "confirmed", report.summary()


# --------------------------------------------------------------------------------------------------------
# user losses: the batched declaration, signatures, what they return, how errors reach the command line

from hemtools.cli import main  # noqa: E402
from hemtools.configurations import regular_simplex  # noqa: E402
from hemtools.errors import ArgumentError, UserCodeError  # noqa: E402
from hemtools.losses import batched  # noqa: E402

USER = """
import torch
from hemtools.losses import batched

def align(U, V, w=1.0):
    return w * ((U - V) ** 2).sum(-1).mean()

@batched
def align_batched(U, V, w=1.0):
    assert U.dim() == 3, "declared batched: receives (B, M, d)"
    return w * ((U - V) ** 2).sum(-1).mean(-1)

@batched
def kcl_batched(U, V, t=2.0, gamma=16.0):
    M = U.shape[-2]
    align = torch.exp(-t * ((U - V) ** 2).sum(-1)).mean(-1)
    K = torch.exp(-t * (2 - 2 * U @ U.transpose(-1, -2)))
    off = ~torch.eye(M, dtype=torch.bool)
    return (K * off).sum((-2, -1)) * gamma / (M * (M - 1)) - align

def needs_tau(U, V, *, tau):
    return ((U - V) ** 2).sum() / tau

def one_argument(U):
    return U.sum()

def three_arguments(U, V, W):
    return U.sum()

def detached(U, V):
    return ((U - V) ** 2).sum().detach()

def as_float(U, V):
    return float(((U - V) ** 2).sum())

def float32(U, V):
    return ((U - V) ** 2).sum().float()

def nonscalar(U, V):
    return ((U - V) ** 2).sum(-1)

@batched
def batched_wrong_shape(U, V):
    return ((U - V) ** 2).sum(-1)

def raises(U, V):
    raise ZeroDivisionError("inside the user's loss")
"""


@pytest.fixture
def user_file(tmp_path):
    f = tmp_path / "userlosses.py"
    f.write_text(USER)
    return f


def _pair(B=None, M=3, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (M, d) if B is None else (B, M, d)
    U = torch.nn.functional.normalize(torch.randn(shape, generator=g, dtype=torch.float64), dim=-1)
    V = torch.nn.functional.normalize(torch.randn(shape, generator=g, dtype=torch.float64), dim=-1)
    return U, V


def test_unbatched_and_declared_batched_user_losses_agree(user_file):
    a, b = get_loss(f"{user_file}:align"), get_loss(f"{user_file}:align_batched")
    assert not a.batched and b.batched and a.params["w"].default == 1.0
    U, V = _pair(B=5)
    expected = torch.stack([((U[i] - V[i]) ** 2).sum(-1).mean() for i in range(5)]) * 2.0
    torch.testing.assert_close(a(U, V, w=2.0), expected, rtol=0, atol=0)
    torch.testing.assert_close(b(U, V, w=2.0), expected, rtol=0, atol=1e-15)
    assert float(b(U[0], V[0])) == pytest.approx(float(expected[0]) / 2, rel=1e-15)  # (M, d) input: batched too


def test_batched_decorator_forms():
    def f(U, V):
        return (U * V).sum((-2, -1))

    assert batched(f) is f and f.hemtools_batched
    g = batched()(lambda U, V: (U * V).sum((-2, -1)))
    assert get_loss(g).batched
    with pytest.raises(ArgumentError, match="batched: expected a function"):
        batched(3)


def test_batched_user_loss_verifies_through_the_cli(capsys, user_file):
    code = main(["verify", "--loss", f"{user_file}:kcl_batched", "--M", "4", "--d", "3", "--restarts", "3", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "confirmed" and doc["params"] == {"t": 2.0, "gamma": 16.0}
    # the same value as the registered KCL at the aligned simplex (an independent implementation)
    simplex = regular_simplex(4, 3)
    assert doc["reference"]["value"] == pytest.approx(float(get_loss("kcl")(simplex, simplex)), rel=1e-14)


@pytest.mark.parametrize(
    "fn,fragment",
    [
        ("one_argument", "must take (U, V, **params); its signature is one_argument(U)"),
        ("three_arguments", "must take (U, V, **params); its signature is three_arguments(U, V, W)"),
    ],
)
def test_wrong_signature_is_a_usage_error(capsys, user_file, fn, fragment):
    code = main(["verify", "--loss", f"{user_file}:{fn}", "--M", "3", "--d", "3"])
    _, err = capsys.readouterr()
    assert code == 2 and fragment in err and fn in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "ref,fragment",
    [
        ("no_such_module_hemtools_xyz:f", "module 'no_such_module_hemtools_xyz' not found"),
        ("missing_dir/losses.py:f", "file 'missing_dir/losses.py' does not exist"),
        ("{file}:no_such_function", "has no function 'no_such_function'"),
        ("pml:NoSuchLoss", "unknown pytorch-metric-learning loss 'NoSuchLoss'; available: AngularLoss"),
        ("pml:ArcFaceLoss", "pml:ArcFaceLoss needs constructor arguments (num_classes, embedding_size)"),
    ],
)
def test_import_path_that_fails_is_a_usage_error(capsys, user_file, ref, fragment):
    code = main(["verify", "--loss", ref.format(file=user_file), "--M", "3", "--d", "3"])
    _, err = capsys.readouterr()
    assert code == 2 and fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
@pytest.mark.parametrize(
    "fn,fragment",
    [
        ("detached", "returned a tensor with gradients disabled"),
        ("as_float", "returned float, expected a scalar tensor"),
        ("float32", "returned float32 for float64 inputs"),
        ("nonscalar", "returned a tensor of shape (3,), expected a scalar"),
        ("batched_wrong_shape", "returned a tensor of shape (2, 3), expected a tensor of shape (2,)"),
    ],
)
def test_broken_contract_names_the_loss_and_what_was_expected(capsys, user_file, fn, fragment):
    code = main(["verify", "--loss", f"{user_file}:{fn}", "--M", "3", "--d", "3", "--restarts", "2"])
    _, err = capsys.readouterr()
    assert code == 4, err
    assert f"loss {user_file}:{fn}: {fragment}" in err
    assert err.count("\n") == 1 and "Traceback" not in err  # nothing raised inside user code: no traceback


def test_exception_inside_user_code_exits_4_with_its_traceback(capsys, user_file):
    code = main(["verify", "--loss", f"{user_file}:raises", "--M", "3", "--d", "3"])
    _, err = capsys.readouterr()
    assert code == 4 and "Traceback" in err and "userlosses.py" in err and "ZeroDivisionError" in err


def test_required_keyword_parameter(user_file):
    spec = get_loss(f"{user_file}:needs_tau")
    U, V = _pair()
    with pytest.raises(ArgumentError, match="requires parameter 'tau'"):
        spec(U, V)
    assert float(spec(U, V, tau=0.5)) == pytest.approx(2 * float(((U - V) ** 2).sum()), rel=1e-15)


def test_contract_errors_are_user_code_errors_for_library_callers(user_file):
    U, V = _pair()
    with pytest.raises(UserCodeError, match="gradients disabled"):
        spec = get_loss(f"{user_file}:detached")
        spec.objective(3, {})(torch.cat([U, V]).unsqueeze(0).requires_grad_(True))
    with torch.no_grad():  # evaluation without gradients (the value noise, the target) is allowed
        assert torch.isfinite(get_loss(f"{user_file}:detached")(U, V))
