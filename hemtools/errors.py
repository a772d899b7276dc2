"""Exception types that decide the CLI's exit codes (SPEC §5).

ArgumentError  bad input: a usage error, exit 2, one line on stderr.  A ValueError, so library users can
               catch it as one.
UserCodeError  an exception raised inside user code (a user loss, φ, ψ): exit 4 with its traceback.
Any other exception is an internal error (exit 4, with traceback).
"""

from __future__ import annotations

import traceback


class ArgumentError(ValueError):
    """An argument is invalid; the message names it, the value given and what is accepted."""


class UserCodeError(Exception):
    """An exception raised inside user-supplied code.  Carries the traceback text for the CLI."""

    def __init__(self, where: str, exc: BaseException):
        self.where = where
        self.original = exc
        self.traceback_text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        super().__init__(f"error in user code {where}: {type(exc).__name__}: {exc}")
