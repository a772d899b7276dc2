"""pytest plugin (auto-loaded through the ``pytest11`` entry point): regression tests for losses.

Researchers designing a loss can pin down what it is minimised by, in their own test suite:

    def test_my_loss_has_simplex_minimiser(hemtools_verify):
        report = hemtools_verify("mypkg.losses:my_loss", M=8, d=16)
        assert report.verdict == "confirmed", report.summary()

Like Hypothesis' plugin, this module is light: it imports torch and hemtools' solver only when a test
asks for the fixture, so installing hemtools does not slow down unrelated test suites.
"""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "hemtools: a hemtools minimiser-verification test")


@pytest.fixture
def hemtools_verify():
    """``verify(loss, M, d, **options) -> VerifyReport`` (see :func:`hemtools.checks.verify`)."""
    from hemtools.checks import verify  # lazy: torch is imported only when the fixture is used

    return verify
