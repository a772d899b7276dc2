"""Independent review of issue 11: third-party-style inputs that the issue-11 tests did not try.

Each test failed before its fix (see the commit that adds it).  Sizes stay at M <= 6, d <= 4 except the
measured M = 9, d = 3 refutation (the solver part is fast; the full verify run is marked slow).
"""

from __future__ import annotations

import os
import stat
import textwrap

import pytest
import torch

from hemtools.cli import main

USER = '''
import torch

def int_default(U, V, n=3, tau=0.5):
    idx = list(range(n))[:1]                     # an int default used as an int
    return -(U * V).sum() / tau + torch.logsumexp(U @ U.T / tau, 1).sum() + 0 * U[idx].sum()

def str_default(U, V, name="a", tau=0.5):
    assert isinstance(name, str), type(name)      # a text parameter stays text ("1" is a name here)
    return -(U * V).sum() / tau + torch.logsumexp(U @ U.T / tau, 1).sum()
'''


@pytest.fixture
def user_file(tmp_path, monkeypatch):
    path = tmp_path / "rev11_losses.py"
    path.write_text(textwrap.dedent(USER))
    monkeypatch.chdir(tmp_path)
    return path


def _verify(ref, *extra):
    return main(["verify", "--loss", ref, "--M", "3", "--d", "3", "--restarts", "1", "--no-hessian", *extra])


def test_int_default_stays_int(user_file):
    # before: verify re-validated the resolved parameters as floats, so the user's own default n=3 arrived
    # as 3.0 and range(n) raised (exit 4) although nothing was given on the command line
    assert _verify(f"{user_file.name}:int_default") == 0
    assert _verify(f"{user_file.name}:int_default", "--param", "n=2") == 0
    assert _verify(f"{user_file.name}:int_default", "--param", "tau=0.4") == 0


def test_int_default_takes_a_float_value(user_file):
    from hemtools.losses.registry import get_loss

    spec = get_loss(f"{user_file.name}:int_default")
    p = spec.resolve_params({"n": 2.5})  # `t=2` defaults are numbers, not a promise of integers
    assert p["n"] == 2.5
    p = spec.resolve_params(spec.resolve_params({}))
    assert p["n"] == 3 and type(p["n"]) is int


def test_str_default_stays_text(user_file):
    # before: `--param name=1` for a parameter whose default is text arrived as the int 1
    assert _verify(f"{user_file.name}:str_default", "--param", "name=1") == 0


def test_written_files_follow_the_umask(tmp_path):
    # before: write_atomic's mkstemp left every figure/result with mode 0600 (unreadable by the group or a
    # web server), unlike any file the user writes with the same umask
    from hemtools.commands._common import write_atomic

    old = os.umask(0o022)
    try:
        path = tmp_path / "fig.svg"
        write_atomic(str(path), "<svg/>")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        path.chmod(0o600)  # an existing file keeps its own mode
        write_atomic(str(path), "<svg/>")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)
