"""hemtools: numerical proofs of what contrastive losses are minimised by.

Importing the package is cheap (no torch): ``hemtools --help`` must be instant.  The main entry points
are loaded on first use:

    hemtools.solve(loss, M, d, ...)    -> optim.SolveResult     (batched Riemannian solver)
    hemtools.verify(loss, M, d, ...)   -> checks.VerifyReport   (certificates and verdict)
    hemtools.get_loss(name)            -> losses.LossSpec
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "solve": ("hemtools.optim", "solve"),
    "SolveResult": ("hemtools.optim", "SolveResult"),
    "verify": ("hemtools.checks", "verify"),
    "VerifyReport": ("hemtools.checks", "VerifyReport"),
    "CheckResult": ("hemtools.checks", "CheckResult"),
    "get_loss": ("hemtools.losses", "get_loss"),
    "register_loss": ("hemtools.losses", "register_loss"),
    "Param": ("hemtools.losses", "Param"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'hemtools' has no attribute {name!r}")


def __dir__() -> list[str]:  # tab completion in a REPL or notebook shows the lazy entry points
    return sorted(set(globals()) | set(_LAZY))


__all__ = list(_LAZY) + ["__version__"]
