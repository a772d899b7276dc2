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
    check_output_file(path, what)


def check_output_file(path: str, what: str = "--out") -> None:
    """A data file that can be written (any extension): not a directory, in an existing writable directory."""
    if os.path.isdir(path):
        raise ArgumentError(f"{what}: {path!r} is a directory; give a file name")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise ArgumentError(f"{what}: directory {d!r} does not exist")
    if not os.access(d, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ArgumentError(f"{what}: cannot write {path!r} (permission denied)")


def check_output_dir(path: str, what: str) -> None:
    """A folder that files will be written into (created when missing): its nearest existing ancestor must be a
    writable directory."""
    p = os.path.abspath(path)
    while not os.path.exists(p):
        p = os.path.dirname(p)
    if not os.path.isdir(p):
        raise ArgumentError(f"{what}: {p!r} is a file, not a directory")
    if not os.access(p, os.W_OK):
        raise ArgumentError(f"{what}: cannot write into {p!r} (permission denied)")


def require_array(name: str, value, ndim: int | tuple[int, ...] = 2, *, square: bool = False, error=ArgumentError):
    """``value`` (a tensor, a numpy array or nested lists of numbers) as a float64 torch tensor with ``ndim``
    dimensions (an int or a tuple of accepted ones), no empty axis, real and finite entries, square in its
    last two axes when ``square``; else ``error("NAME: ...")`` in one of these words (the same everywhere):

      NAME: expected an array of numbers, got TYPE
      NAME: expected a 2-d array with no empty axis, got shape (…)      ("a 2-d or 3-d array" for a tuple)
      NAME: expected a square matrix, got shape (…)
      NAME: expected real numbers, got complex128
      NAME: contains NaN or infinite entries

    A tensor keeps its graph (``.to(float64)``); numpy and torch are imported on the first call."""
    import numpy as np
    import torch

    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if isinstance(value, torch.Tensor):
        x = value
    else:
        try:
            a = np.asarray(value)
            if a.dtype.kind != "c":  # a copy in native byte order; "1.5" is a number, words and ragged lists not
                a = a.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise error(f"{name}: expected an array of numbers, got {type(value).__name__}") from e
        x = torch.from_numpy(a.astype(np.complex128) if a.dtype.kind == "c" else a)
    if x.ndim not in ndims or min(x.shape, default=0) < 1:
        want = " or ".join(f"{k}-d" for k in ndims)
        raise error(f"{name}: expected a {want} array with no empty axis, got shape {tuple(x.shape)}")
    if square and x.shape[-1] != x.shape[-2]:
        raise error(f"{name}: expected a square matrix, got shape {tuple(x.shape)}")
    if x.is_complex():
        raise error(f"{name}: expected real numbers, got {str(x.dtype).replace('torch.', '')}")
    x = x.to(torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise error(f"{name}: contains NaN or infinite entries")
    return x
