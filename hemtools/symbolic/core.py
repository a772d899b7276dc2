"""Symbols, tolerances, the Finding record and the exact/zero tests every section uses."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy as sp

from ..errors import ArgumentError
from ..results import jsonable

# symbols shared with the formula parser (hemtools.formula.symbols): x real, tau positive
X_ = sp.Symbol("x", real=True)
TAU = sp.Symbol("tau", positive=True)
M_ = sp.Symbol("M", positive=True, integer=True)
P_ = sp.Symbol("p", real=True)  # u_i·v_i, the positive pair's inner product
XN = sp.Symbol("x_n", real=True)  # inner product of a negative pair
Z_ = sp.Symbol("z", nonnegative=True)  # squared distance r² (kernels)
S_UV, S_UU, S_VU, S_VV = sp.symbols("S_uv S_uu S_vu S_vv", real=True)
BLOCK_SUMS = {"uv": S_UV, "uu": S_UU, "vu": S_VU, "vv": S_VV}
T_, GAMMA = sp.symbols("t gamma", positive=True)

#: relative tolerance of a closed form against the float64 loss at the exactly constructed simplex: the
#: construction is exact to ~1e-16 per inner product and the losses amplify it by their Lipschitz constant
#: (≤ 2/τ, ≤ 4tγ) and the O(M²) sums — 1e-12 leaves a margin of > 10× for τ ≥ 0.01, M ≤ 64.
CLOSED_FORM_RTOL = 1e-12
#: Riemannian gradient norm accepted as zero at the exactly constructed simplex (same round-off argument)
STATIONARY_ATOL = 1e-11
#: digits of the high-precision evaluations that confirm a refutation witness
DIGITS = 30


@dataclass
class Finding:
    """One derived or measured statement.

    status: proved | refuted | undecided | undefined (conditions: sympy or a witness decides) ·
            passed | failed | inconclusive (numerical cross-checks) · n/a.
    """

    name: str
    status: str
    statement: str
    detail: str = ""
    numbers: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "statement": self.statement, "detail": self.detail,
                "numbers": _jsonable(self.numbers)}


def _sympy_leaf(obj):
    """A sympy number as a float when finite, any other object as its text (the leaf of results.jsonable)."""
    if isinstance(obj, sp.Basic):
        try:
            v = float(obj)
            return v if math.isfinite(v) else str(obj)
        except (TypeError, ValueError):
            return str(obj)
    return str(obj)


def _jsonable(obj):
    return jsonable(obj, leaf=_sympy_leaf)


def _float(e, digits: int = 20) -> float:
    try:
        v = complex(sp.N(e, digits))
    except (TypeError, ValueError):
        return math.nan
    return v.real if abs(v.imag) <= 1e-30 * max(1.0, abs(v.real)) else math.nan


def exact(value) -> sp.Expr:
    """A float parameter as the exact rational it was written as (0.3 → 3/10, from its shortest repr)."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool):
        raise ArgumentError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return sp.Integer(value)
    return sp.Rational(repr(float(value)))


def is_zero(e, vars_: Sequence[sp.Symbol] = (), samples: int = 4) -> tuple[bool, str]:
    """(is it zero, how we know): sympy simplification first (also of exp(e) − 1 for log identities), then
    high-precision evaluation at random rational points (reported as numerical, not a proof)."""
    if e == 0:
        return True, "symbolic"
    try:
        if sp.simplify(e) == 0:
            return True, "symbolic"
        if sp.simplify(sp.exp(e) - 1) == 0:
            return True, "symbolic"
    except Exception:  # noqa: BLE001 - sympy may raise on exotic input; fall back to evaluation
        pass
    free = sorted(e.free_symbols, key=str)
    rng = random.Random(0)
    worst = 0.0
    for _ in range(samples):
        subs = {}
        for s in free:
            if s == M_ or getattr(s, "is_integer", False):
                subs[s] = rng.randint(2, 40)
            elif s.is_positive:
                subs[s] = sp.Rational(rng.randint(1, 400), 100)
            else:
                subs[s] = sp.Rational(rng.randint(-150, 150), 100)
        v = _float(e.subs(subs), 50)
        if not math.isfinite(v):
            return False, "not finite at a sample point"
        worst = max(worst, abs(v))
    if worst < 1e-35:
        return True, f"numerical (|value| < 1e-35 at {samples} random points, 50 digits)"
    return False, f"nonzero (|value| up to {worst:.3g})"
