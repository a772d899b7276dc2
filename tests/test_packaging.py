"""Packaging: the torch range in pyproject.toml is open above; the README's fresh-venv command pins a version in it."""

import re
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _torch_requirement() -> Requirement:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "torch"]
    return req


def test_torch_range_is_open_above_and_readme_pins_a_version_inside_it():
    """issue 11 item 18: users with torch 2.14 (or later) can install hemtools without --no-deps."""
    req = _torch_requirement()
    assert not any(s.operator in ("<", "<=", "==", "~=", "===") for s in req.specifier), str(req.specifier)
    for v in ("2.13.0", "2.14.0", "2.20.1", "3.0.0"):
        assert req.specifier.contains(Version(v)), (v, str(req.specifier))
    assert not req.specifier.contains(Version("2.1.0"))
    readme = (ROOT / "README.md").read_text()
    install = readme.split("<!-- ci:install -->", 1)[1].split("```", 2)[1]
    pins = re.findall(r"torch==([0-9.]+)", install)
    assert pins == ["2.13.0"], install
    assert req.specifier.contains(Version(pins[0]))
    # the README's explanation of the pin stays true
    assert "`torch==2.13.0` is pinned so that pip takes the CPU wheel" in readme
