"""Sign decisions: is an expression >= 0 on an interval?  proved (sympy), refuted (a 30-digit witness), undecided."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from .core import DIGITS, _float


@dataclass
class Domain:
    lo: Any  # sympy number or -oo
    hi: Any  # sympy number or oo
    lo_open: bool = False
    hi_open: bool = False

    def __str__(self) -> str:
        def f(v):
            return (
                str(v)
                if v in (sp.oo, -sp.oo)
                else (
                    f"{_float(v):.6g}" if not isinstance(v, (sp.Integer, sp.Rational)) or len(str(v)) > 12 else str(v)
                )
            )

        left = "(" if self.lo_open or self.lo == -sp.oo else "["
        right = ")" if self.hi_open or self.hi == sp.oo else "]"
        return f"{left}{f(self.lo)}, {f(self.hi)}{right}"

    def __post_init__(self):
        self.lo_f = -math.inf if self.lo == -sp.oo else _float(self.lo)
        self.hi_f = math.inf if self.hi == sp.oo else _float(self.hi)

    def contains(self, v: float) -> bool:
        lo, hi = self.lo_f, self.hi_f
        return (v > lo if self.lo_open else v >= lo) and (v < hi if self.hi_open else v <= hi)

    def points(self, n: int = 4001) -> list[float]:
        """Scan points: uniform on a finite interval; uniform plus geometric towards an infinite end."""
        lo = self.lo_f if self.lo != -sp.oo else None
        hi = self.hi_f if self.hi != sp.oo else None
        if lo is not None and hi is not None:
            pts = [lo + (hi - lo) * k / (n - 1) for k in range(n)]
        else:
            a = lo if lo is not None else (hi if hi is not None else 0.0)
            span = [10 ** (k / 40.0) - 1 + 1e-9 for k in range(0, 8 * 40 + 1)]
            lin = [max(abs(a), 1.0) * 4 * k / n for k in range(n)]
            offs = sorted(set(span + lin))
            if lo is not None:
                pts = [lo + o for o in offs]
            elif hi is not None:
                pts = [hi - o for o in offs]
            else:
                pts = sorted({a + o for o in offs} | {a - o for o in offs})
        return [p for p in pts if self.contains(p)]


def _const_sign(e) -> set | None:
    if getattr(e, "free_symbols", None):  # a parameter kept symbolic (τ > 0): sympy's assumptions decide
        if e.is_positive:
            return {1}
        if e.is_negative:
            return {-1}
        if e.is_zero:
            return {0}
        if e.is_nonnegative:
            return {0, 1}
        if e.is_nonpositive:
            return {0, -1}
        return None
    v = _float(e, DIGITS)
    if not math.isfinite(v):
        return None
    if abs(v) > 1e-25:
        return {1} if v > 0 else {-1}
    try:
        if e.equals(0):
            return {0}
    except Exception:  # noqa: BLE001
        return None
    return None


def _poly_sign(e, var, dom: Domain) -> set | None:
    try:
        poly = sp.Poly(e, var)
    except sp.PolynomialError:
        return None
    if poly.degree() <= 0:
        return _const_sign(poly.as_expr())
    if not poly.domain.is_QQ and not poly.domain.is_ZZ:
        return None
    roots = sorted(set(r for r in poly.real_roots()))
    inside = []
    for r in roots:
        rv = _float(r, DIGITS)
        if dom.contains(rv):
            inside.append(rv)
    lo = _float(dom.lo) if dom.lo != -sp.oo else (min(inside + [0.0]) - 10)
    hi = _float(dom.hi) if dom.hi != sp.oo else (max(inside + [0.0]) + 10)
    cuts = [lo] + [r for r in sorted(inside)] + [hi]
    signs = set()
    for a, b in zip(cuts, cuts[1:], strict=False):
        if b > a:
            mid = sp.Rational(repr((a + b) / 2))
            val = poly.eval(mid)
            signs.add(int(sp.sign(val)))
    if inside:
        signs.add(0)
    return signs or None


def _sign_set(e, var, dom: Domain) -> set | None:
    """An over-approximation of the signs e takes on the domain (None: unknown).  Used to *prove* only."""
    if var not in e.free_symbols:
        return _const_sign(e)
    if e.is_polynomial(var):
        return _poly_sign(e, var, dom)
    if isinstance(e, sp.exp):
        return {1}
    if isinstance(e, sp.Mul):
        acc = {1}
        for f in e.args:
            sf = _sign_set(f, var, dom)
            if sf is None:
                return None
            acc = {a * b for a in acc for b in sf}
        return acc
    if isinstance(e, sp.Add):
        sets = [_sign_set(a, var, dom) for a in e.args]
        if any(st is None for st in sets):
            return None
        union = set().union(*sets)
        if union <= {0, 1}:
            return {1} if any(st == {1} for st in sets) else union
        if union <= {0, -1}:
            return {-1} if any(st == {-1} for st in sets) else union
        return None
    if isinstance(e, sp.Pow):
        b, ex = e.base, e.exp
        if var in ex.free_symbols:
            sb = _sign_set(b, var, dom)
            return {1} if sb == {1} else None
        sb = _sign_set(b, var, dom)
        if sb is None:
            return None
        if ex.is_integer:
            n = int(ex)
            if n % 2 == 0:
                return {1} if 0 not in sb else ({0, 1} if n > 0 else None)
            if n < 0 and 0 in sb:
                return None
            return sb
        # non-integer exponent: real only for a nonnegative base (positive for a negative exponent)
        if sb <= {1}:
            return {1}
        if sb <= {0, 1} and ex > 0:
            return {0, 1}
        return None
    if isinstance(e, sp.log):
        inside = _sign_set(e.args[0], var, dom)
        if inside != {1}:
            return None
        return _sign_set(sp.expand(e.args[0] - 1), var, dom)
    if isinstance(e, sp.Abs):
        return {0, 1}
    if isinstance(e, (sp.cosh,)):
        return {1}
    return None


@dataclass
class SignDecision:
    status: str  # proved | refuted | undecided | undefined
    detail: str
    witness: float | None = None
    value: float | None = None
    scan_min: float | None = None
    method: str = ""


def _numeric_fn(e, var):
    f = sp.lambdify(var, e, modules=["numpy"])

    def g(xs):
        with np.errstate(all="ignore"):
            out = f(np.asarray(xs, dtype=float))
        out = np.broadcast_to(np.asarray(out, dtype=complex), np.shape(xs))
        return np.where(np.abs(out.imag) > 1e-12 * np.maximum(1.0, np.abs(out.real)), np.nan, out.real)

    return g


def decide_sign(expr, var, dom: Domain, want: str = "nonneg", base=None, var_name: str = "x") -> SignDecision:
    """Is ``expr`` >= 0 (``want="nonneg"``) on the domain?  ``base`` is the function whose derivative this is
    (checked for realness on the domain).

    proved: sympy's sign analysis of the (factored) expression.  refuted: a point where it fails, found by a
    scan and confirmed at 30 digits.  undefined: ``base`` is not real at some point.  undecided otherwise,
    with the scan's minimum (numerical, not a proof).
    """
    sgn = 1 if want == "nonneg" else -1
    e = sgn * expr
    pts = dom.points()
    if base is not None:
        bv = _numeric_fn(base, var)(pts)
        bad = [p for p, b in zip(pts, bv, strict=False) if not np.isfinite(b)]
        if bad:
            w = sp.Rational(repr(bad[len(bad) // 2]))
            bw = (
                complex(sp.N(base.subs(var, w), DIGITS)) if base.subs(var, w).is_finite is not False else complex("nan")
            )
            return SignDecision(
                "undefined",
                f"not real-valued at {var_name} = {float(w):.6g} (value {bw})",
                float(w),
                math.nan,
                method="scan",
            )
    try:
        simple = sp.factor(sp.together(sp.simplify(e))) if sp.count_ops(e) < 400 else e
    except Exception:  # noqa: BLE001
        simple = e
    signs = _sign_set(simple, var, dom)
    if signs is None and simple is not e:
        signs = _sign_set(e, var, dom)
    if signs is not None and signs <= {0, 1}:
        return SignDecision(
            "proved",
            f"sympy: {'' if sgn > 0 else '−'}({simple}) has sign in "
            f"{{{', '.join('+' if s > 0 else ('0' if s == 0 else '−') for s in sorted(signs))}}} on {dom}",
            method="sympy sign analysis",
        )
    vals = _numeric_fn(e, var)(pts)
    finite = np.isfinite(vals)
    if finite.any():
        i = int(np.nanargmin(np.where(finite, vals, np.inf)))
        vmin = float(vals[i])
        scale = float(np.nanmax(np.abs(vals[finite]))) if finite.any() else 1.0
        if vmin < -1e-9 * max(1.0, scale):
            w = sp.Rational(repr(pts[i]))
            hp = _float(e.subs(var, w), DIGITS)
            if math.isfinite(hp) and hp < 0:
                return SignDecision(
                    "refuted",
                    f"at {var_name} = {pts[i]:.6g} the value is {sgn * hp:.6g} "
                    f"({'< 0' if sgn > 0 else '> 0'}; {DIGITS} digits)",
                    pts[i],
                    sgn * hp,
                    vmin,
                    "scan + evalf",
                )
        return SignDecision(
            "undecided",
            f"sympy could not decide the sign; numerical scan of {len(pts)} points on "
            f"{dom}: min {vmin:.3g} (no violation found — numerical, not a proof)",
            scan_min=vmin,
            method="scan",
        )
    return SignDecision("undecided", f"no finite value on {dom} in a scan of {len(pts)} points", method="scan")
