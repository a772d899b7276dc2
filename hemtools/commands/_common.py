"""Argument helpers shared by the commands (standard library only: imported by ``--help``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import stat
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


def parse_params(items: list[str], tau: str | None = None, what: str = "--param") -> dict:
    """``["k=v", ...]`` → dict; values that parse as numbers become floats that keep their text
    (:class:`CliNumber`), the rest stay text.  The loss reads them by the type of each parameter
    (registry.Param: a bool from true/false/1/0, an untyped one as a Python literal).  A key given twice is
    an error (a silent last-wins would run another experiment than the one written)."""
    from hemtools.errors import ArgumentError

    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ArgumentError(f"{what}: expected KEY=VALUE, got {item!r}")
        key, _, value = item.partition("=")
        key = key.strip()
        if not key:
            raise ArgumentError(f"{what}: empty key in {item!r}")
        if key in out:
            raise ArgumentError(f"{what}: {key} given twice ({key}={out[key]} and {item.strip()}); give each parameter once")
        out[key] = _number_or_text(value.strip())
    if tau is not None:
        if "tau" in out:
            raise ArgumentError("--tau: given twice (--tau and --param tau=...)")
        out["tau"] = _number_or_text(tau)
    return out


class CliNumber(float):
    """A number given on the command line: a float (as before) that remembers its text, so that a parameter
    without a declared type reads ``3`` as the int 3 and a bool parameter reads ``1``/``0``."""

    text: str

    def __new__(cls, value: float, text: str):
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __reduce__(self):  # sweep workers get the text too
        return (CliNumber, (float(self), self.text))


def _number_or_text(value: str):
    try:
        num = float(value)
    except ValueError:
        return value
    return CliNumber(num, value) if not (math.isnan(num) and value.lower() not in ("nan", "+nan", "-nan")) else value


SEED_MAX = 2 ** 64 - 1  # torch.Generator.manual_seed takes unsigned 64-bit seeds


def check_seed(value: int) -> None:
    from hemtools.errors import ArgumentError

    if not 0 <= value <= SEED_MAX:
        raise ArgumentError(f"--seed: expected an integer from 0 to 2**64 - 1, got {value}")


# --------------------------------------------------------------------------------------------------------
# stdout: one JSON document, and output failures that never replace the verdict's exit code

_UNSET = object()
_JSON_STREAM = _UNSET  # the real stdout while --json is on (everything else printed goes to stderr)


@contextlib.contextmanager
def json_stdout(enabled: bool):
    """While ``--json`` is on, whatever else is printed to stdout (a user loss that prints at import or per
    call) goes to stderr, so that stdout carries exactly one JSON document (:func:`print_json`)."""
    global _JSON_STREAM
    if not enabled:
        yield
        return
    previous = _JSON_STREAM
    _JSON_STREAM = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _JSON_STREAM = previous


def write_stdout(text: str, stream=_UNSET) -> bool:
    """Write ``text`` to stdout and flush; an output failure (stdout closed, a full disk, a closed pipe) is
    one line on stderr and False: the result was computed and its exit code still says what it is."""
    out = sys.stdout if stream is _UNSET else stream
    try:
        if out is None:
            raise OSError("stdout is closed")
        out.write(text)
        out.flush()
        return True
    except (OSError, ValueError) as exc:
        _stdout_failed(out, exc)
        return False


def _stdout_failed(out, exc: BaseException) -> None:
    # Point file descriptor 1 at /dev/null: the unflushed rest of the buffer must not fail again (and turn
    # the exit code into 120) when Python flushes stdout at exit.
    if out is not None and out is sys.__stdout__:  # the process's own stdout (not a capture in a test)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    try:
        print(f"hemtools: cannot write the result to stdout ({why}); the exit code still gives it", file=sys.stderr)
    except (OSError, ValueError):
        pass


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
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600: give the mode an ordinary write would
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _file_mode(path: str) -> int:
    """The mode of the file being replaced, or 0666 less the umask for a new one."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def print_json(obj) -> bool:
    """Exactly one JSON document on the real stdout (also while :func:`json_stdout` redirects)."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    return write_stdout(text, sys.stdout if _JSON_STREAM is _UNSET else _JSON_STREAM)


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
    if not os.access(d, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ArgumentError(f"{what}: cannot write {path!r} (permission denied)")


def write_figure(draw, path: str, name: str) -> bool:
    """Draw a figure after the result was printed: a failure to write it (permissions, a full disk) is one
    line on stderr and False, never an exception that would replace the verdict's exit code."""
    try:
        draw(path)
        return True
    except OSError as exc:
        why = exc.strerror or str(exc)
        print(f"hemtools {name}: error: cannot write the figure {path!r} ({why}); the result above stands",
              file=sys.stderr)
        return False
