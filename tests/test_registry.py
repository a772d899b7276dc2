"""Loss registry: decorator registration, entry points, user callables; the pytest plugin's fixture."""

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


def test_callable_is_accepted_as_a_loss():
    def my_loss(U, V):
        return -(U * V).sum(-1).mean()

    spec = get_loss(my_loss)
    assert spec.kind == "pairs" and not spec.batched


def test_pytest_plugin_fixture(hemtools_verify):
    report = hemtools_verify("kcl", 3, 3, restarts=4)
    assert report.verdict == "confirmed", report.summary()
