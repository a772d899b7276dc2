"""Argument checks shared by the library and the CLI: one line naming the argument and what it accepts.

Standard library only (the CLI imports it for ``--help``).  Every failure is an
:class:`~hemtools.errors.ArgumentError` (exit 2, SPEC §5) unless the caller names another error type
(the pytest plugin raises ``pytest.UsageError``).
"""

from __future__ import annotations

import numbers
import os

from .errors import ArgumentError

SEED_MAX = 2 ** 64 - 1  # torch.Generator.manual_seed takes unsigned 64-bit seeds


def require_int(name: str, value, low: int | None = None, high: int | None = None, *, hint: str = "",
                high_text: str | None = None, integral_floats: bool = False, numpy: bool = True,
                error=ArgumentError) -> int:
    """``value`` as an int when it is an integer (not a bool; numpy integers too unless ``numpy=False``;
    with ``integral_floats`` also a float such as 8.0) within [low, high]; else
    ``error("NAME: expected an integer >= LOW, got V")`` (``from LOW to HIGH`` when ``high`` is given;
    ``hint`` follows the range in parentheses)."""
    integral = (isinstance(value, numbers.Integral) if numpy else isinstance(value, int)) or (
        integral_floats and isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral or (low is not None and value < low) or \
            (high is not None and value > high):
        if high is not None:
            what = f"from {low} to {high_text or high}"
        elif low is not None:
            what = f">= {low}"
        else:
            what = ""
        raise error(f"{name}: expected an integer {what}{f' ({hint})' if hint else ''}".rstrip() + f", got {value!r}")
    return int(value)


def require_seed(name: str, value) -> int:
    """A seed of torch.Generator: an integer from 0 to 2**64 − 1."""
    return require_int(name, value, 0, SEED_MAX, high_text="2**64 - 1")


def check_output_path(path: str, allowed=(".png", ".svg", ".pdf"), what: str = "--plot") -> None:
    """A figure file that can be written: a known extension, not a directory, in a writable directory."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in allowed:
        raise ArgumentError(f"{what}: unsupported file type {ext or '(none)'!r} in {path!r}; "
                            f"use one of {', '.join(allowed)}")
    if os.path.isdir(path):
        raise ArgumentError(f"{what}: {path!r} is a directory; give a file name")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise ArgumentError(f"{what}: directory {d!r} does not exist")
    if not os.access(d, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ArgumentError(f"{what}: cannot write {path!r} (permission denied)")
