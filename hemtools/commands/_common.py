"""Argument helpers shared by the commands (standard library only: imported by ``--help``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys

from hemtools.io import write_atomic  # noqa: F401 (re-exported: one atomic writer, in hemtools.io)
from hemtools.validators import SEED_MAX, check_output_path, require_int, require_seed  # noqa: F401


def check_positive_int(name: str, value: int, low: int = 1) -> None:
    """A command-line integer >= ``low`` (argparse has made it an int)."""
    require_int(name, value, low)


def check_seed(value: int) -> None:
    require_seed("--seed", value)



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
            raise ArgumentError(
                f"{what}: {key} given twice ({key}={out[key]} and {item.strip()}); give each parameter once"
            )
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


#: what the renderers' symbols become where stdout cannot encode them (then "?" for anything else)
_ASCII = str.maketrans({
    "−": "-", "–": "-", "—": "--", "·": "*", "‖": "|", "×": "x", "±": "+/-", "≤": "<=", "≥": ">=", "≠": "!=",
    "≈": "~", "→": "->", "↦": "|->", "…": "...", "∞": "inf", "½": "1/2", "²": "^2", "³": "^3", "¹": "^1",
    "⁻": "^-", "ᵀ": "^T", "Σ": "sum", "∂": "d", "∇": "grad", "√": "sqrt", "∈": "in", "⊥": "perp", "∘": "o",
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "Δ": "Delta", "ε": "eps", "η": "eta", "θ": "theta",
    "κ": "kappa", "λ": "lambda", "μ": "mu", "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma", "τ": "tau",
    "φ": "phi", "ψ": "psi", "ω": "omega", "§": "S",
})


SPELL_OUT = "hemtools.spell_out"


def _spell_out(exc: UnicodeError):
    """Codec error handler: characters the stream's encoding lacks, spelt out in ASCII (else "?")."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start:exc.end].translate(_ASCII)
    return text.encode("ascii", errors="replace").decode("ascii"), exc.end


@contextlib.contextmanager
def readable_stdout():
    """While a command runs, stdout in an encoding without hemtools' symbols (a Windows console or file in cp1252,
    PYTHONIOENCODING=ascii) spells them out (‖ → |, − → -, τ → tau) instead of failing on the first one and
    losing the result; UTF-8 streams and captured ones are left alone."""
    import codecs

    out = sys.stdout
    enc = (getattr(out, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    if enc.startswith("utf") or not hasattr(out, "reconfigure"):
        yield
        return
    codecs.register_error(SPELL_OUT, _spell_out)
    previous = out.errors
    out.reconfigure(errors=SPELL_OUT)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            out.reconfigure(errors=previous)


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
    with contextlib.suppress(OSError, ValueError):
        print(f"hemtools: cannot write the result to stdout ({why}); the exit code still gives it", file=sys.stderr)


def print_json(obj) -> bool:
    """Exactly one JSON document on the real stdout (also while :func:`json_stdout` redirects)."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    return write_stdout(text, sys.stdout if _JSON_STREAM is _UNSET else _JSON_STREAM)


def show(doc: dict, as_json: bool, render, plot: str | None = None, draw=None, label: str = "figure     ",
         name: str = "") -> None:
    """The result of a command: one JSON document or its table on stdout, then the figure (when asked for)
    and, without --json, the line naming it.  A figure that cannot be written is one line on stderr
    (:func:`write_figure`): the result was shown and the exit code stays the result's."""
    if as_json:
        print_json(doc)
    else:
        write_stdout(render(doc))
    if plot and write_figure(lambda path: draw(doc, path), plot, name) and not as_json:
        write_stdout(f"{label}{plot}\n")


def write_figure(draw, path: str, name: str) -> bool:
    """Draw a figure after the result was printed: a failure to write it (permissions, a full disk) is one
    line on stderr and False, never an exception that would replace the verdict's exit code."""
    try:
        draw(path)
        return True
    except OSError as exc:
        why = exc.strerror or str(exc)
        print(
            f"hemtools {name}: error: cannot write the figure {path!r} ({why}); the result above stands",
            file=sys.stderr,
        )
        return False
