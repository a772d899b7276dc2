"""Rigorous (ball-arithmetic) proofs for exact configurations: ``verify --rigorous`` and ``energy --rigorous``.

Needs python-flint (the optional extra ``rigorous``: ``pip install 'hemtools[rigorous]'``).

  exact.py    exact configurations (coordinates in Q(√r)), evaluated as arb balls
  terms.py    the SPEC §1 losses with gradient and Hessian, generic over float / arb / sympy scalars
  linalg.py   ball Cholesky, Weyl/Ostrowski eigenvalue enclosures
  local.py    strict local minimum modulo rotations (criticality, Riemannian Hessian, orbit deflation)
  lp.py       the Delsarte–Yudin bound with its polynomial proved below the potential

Nothing here imports hemtools.commands.
"""

INSTALL_LINE = "pip install 'hemtools[rigorous]'  (or: pip install 'python-flint>=0.6')"


def flint_available() -> bool:
    try:
        import flint  # noqa: F401
    except ImportError:
        return False
    return True


def require_flint() -> None:
    """ArgumentError (exit 2, one line) naming the install line when python-flint is missing."""
    if not flint_available():
        from ..errors import ArgumentError

        raise ArgumentError(f"--rigorous needs python-flint, which is not installed: {INSTALL_LINE}")
