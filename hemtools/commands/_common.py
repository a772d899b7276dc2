"""Argument helpers shared by the commands (standard library only: imported by ``--help``)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile


def add_loss_arguments(p: argparse.ArgumentParser, *, loss_required: bool = True) -> None:
    p.add_argument("--loss", required=loss_required, metavar="NAME",
                   help="registered loss (see `hemtools losses`), module:function or path/to/file.py:function")
    p.add_argument("--tau", type=str, default=None, metavar="T", help="temperature τ (same as --param tau=T)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="loss parameter, repeatable (e.g. --param gamma=8 --param kernel=imq)")


def add_solver_arguments(p: argparse.ArgumentParser, *, restarts: int = 8) -> None:
    p.add_argument("--restarts", type=int, default=restarts, metavar="R",
                   help=f"random restarts, solved together as a batch (default {restarts})")
    p.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator (default 0)")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                   help="float64 (default; verdicts need it) or float32 (exploration only)")
    p.add_argument("--device", default="cpu", metavar="DEV", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--tol", type=float, default=None, metavar="G",
                   help="solver target gradient norm (default 1e-12 in float64)")


def parse_params(items: list[str], tau: str | None = None) -> dict:
    """``["k=v", ...]`` → dict; values that parse as numbers become floats (the loss validates them)."""
    from hemtools.errors import ArgumentError

    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ArgumentError(f"--param: expected KEY=VALUE, got {item!r}")
        key, _, value = item.partition("=")
        key = key.strip()
        if not key:
            raise ArgumentError(f"--param: empty key in {item!r}")
        out[key] = _number_or_text(value.strip())
    if tau is not None:
        if "tau" in out:
            raise ArgumentError("--tau: given twice (--tau and --param tau=...)")
        out["tau"] = _number_or_text(tau)
    return out


def _number_or_text(value: str):
    try:
        num = float(value)
    except ValueError:
        return value
    return num if not (math.isnan(num) and value.lower() not in ("nan", "+nan", "-nan")) else value


def check_positive_int(name: str, value: int, low: int = 1) -> None:
    from hemtools.errors import ArgumentError

    if value < low:
        raise ArgumentError(f"{name}: expected an integer >= {low}, got {value}")


def write_atomic(path: str, data: bytes | str) -> None:
    """Write a file so that a crash or Ctrl-C never leaves a truncated one behind (temp file + rename)."""
    path = os.path.abspath(path)
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".hemtools-", dir=d)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def check_output_path(path: str, allowed=(".png", ".svg", ".pdf"), what: str = "--plot") -> None:
    from hemtools.errors import ArgumentError

    ext = os.path.splitext(path)[1].lower()
    if ext not in allowed:
        raise ArgumentError(f"{what}: unsupported file type {ext or '(none)'!r} in {path!r}; use one of {', '.join(allowed)}")
    if os.path.isdir(path):
        raise ArgumentError(f"{what}: {path!r} is a directory; give a file name")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise ArgumentError(f"{what}: directory {d!r} does not exist")
