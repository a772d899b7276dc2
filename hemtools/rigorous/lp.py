"""The Delsarte–Yudin lower bound, proved: its polynomial h is shown below the potential by ball arithmetic.

For N points on S^{d−1} and an energy E_ord = Σ_{i≠j} f(x_i·x_j) (``bounds.py`` derives the bound): if
h = Σ_k a_k G_k (Gegenbauer, G_k(1) = 1) has a_k >= 0 for k >= 1 and f − h >= −v on the check interval,
then for every configuration  E_ord >= N(N−1)(a_0 − v) − N Σ_{k>=1} a_k  (Schoenberg: Σ_{i,j} G_k >= 0).

The polynomial is a *guess* that the proof only checks: for a configuration with m distinct inner products
α_j < 1 it is the Hermite interpolant of f (value and slope at each α_j in (−1, 1), value at −1) — the
polynomial of Cohn & Kumar's proof for sharp configurations, solved in balls; otherwise (no configuration,
or an interpolant with a negative coefficient) the float LP solution of ``bounds.lp_bound``.  Its
coefficients are rounded to exact binary numbers and negative a_k (k >= 1) set to 0, so h is exact.

f − h >= −v is proved on subintervals: on a cell [m − r, m + r],
    f − h >= g(m) − |g'(m)| r + ½ min(0, g''(cell)) r²       (second-order Taylor form, g = f − h)
with g''(cell) an interval evaluation (the Gegenbauer recurrence differentiated twice, in ball arithmetic);
a cell whose bound is not >= 0 is bisected down to width ``min_width``; v is the largest deficit left.
For the singular kernels (Riesz, log) the check interval is [−1, u*] with f(u*) >= Σ |a_k| >= h proven
(f increases).  The gap between the configuration's energy (exact Gram matrix, in balls) and the bound is
enclosed: the configuration is a global minimum up to that gap.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from ..errors import ArgumentError
from .exact import ExactConfiguration
from .terms import ArbOps, exact_param


def potential_derivs(kernel: str, p: dict, u, ops):
    """(f, f', f'') at u: gaussian e^{−t(2−2u)}, riesz (2−2u)^{−s/2}, log −½ log(2−2u)."""
    if kernel == "gaussian":
        t = exact_param(p["t"])
        v = ops.exp(ops.const(-2 * t) + ops.const(2 * t) * u)
        return v, ops.const(2 * t) * v, ops.const(4 * t * t) * v
    r2 = ops.const(2) - ops.const(2) * u
    if kernel == "riesz":
        s = exact_param(p["s"])
        v = r2 ** ops.const(-s / 2)
        return v, ops.const(s) * v / r2, ops.const(s * (s + 2)) * v / (r2 * r2)
    if kernel == "log":
        return ops.const(Fraction(-1, 2)) * ops.log(r2), ops.const(1) / r2, ops.const(2) / (r2 * r2)
    raise ArgumentError(f"kernel: expected gaussian, riesz or log, got {kernel!r}")


def gegenbauer_derivs(K: int, d: int, u, ops):
    """(G, G', G'') lists for k = 0..K, G_k(1) = 1, by the normalised recurrence
    G_k = (2(k+λ−1) u G_{k−1} − (k−1) G_{k−2})/(k+2λ−1), λ = (d−2)/2, differentiated twice."""
    lam = Fraction(d - 2, 2)
    zero, one = ops.const(0), ops.const(1)
    G, G1, G2 = [one], [zero], [zero]
    if K >= 1:
        G.append(u)
        G1.append(one)
        G2.append(zero)
    for k in range(2, K + 1):
        a = ops.const(2 * (k + lam - 1) / (k + 2 * lam - 1))
        b = ops.const(Fraction(k - 1) / (k + 2 * lam - 1))
        G.append(a * u * G[-1] - b * G[-2])
        G1.append(a * (G[-2] + u * G1[-1]) - b * G1[-2])
        G2.append(a * (2 * G1[-2] + u * G2[-1]) - b * G2[-2])
    return G, G1, G2


@dataclass
class LPProof:
    proved: bool
    statement: str
    reason: str
    kernel: str
    params: dict
    N: int
    d: int
    configuration: str | None
    polynomial: str  # "hermite" | "float LP"
    degree: int
    coefficients: list  # the exact (binary) a_k used, as floats (exact)
    deficit_v: float  # f − h >= −v proven (v >= 0, rounded up)
    check_interval: tuple
    cells: int
    bound: dict  # {"mid", "radius", "lower"}
    energy: dict | None  # {"mid", "radius"}
    gap: dict | None  # {"mid", "radius", "upper"}: energy − bound
    precision: int
    seconds: float = 0.0
    attempts: list = field(default_factory=list)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["check_interval"] = list(self.check_interval)
        return out


def _ball(x) -> dict:
    return {"mid": float(x.mid()), "radius": float(x.rad())}


def distinct_inner_products(config: ExactConfiguration) -> list:
    G = config.gram()
    seen = {}
    for i, row in enumerate(G):
        for j, x in enumerate(row):
            if i != j:
                seen.setdefault(x, None)
    return sorted(seen, key=float)


def hermite_coefficients(kernel: str, p: dict, d: int, alphas: list):
    """Gegenbauer coefficients (balls) of the Hermite interpolant of f: value at every α, slope at α > −1."""
    from flint import arb_mat

    ops = ArbOps
    rows, rhs = [], []
    for al in alphas:
        x = al.to_arb()
        f, f1, _ = potential_derivs(kernel, p, x, ops)
        interior = al != -1
        n = 2 * len(alphas) - (0 if all(a != -1 for a in alphas) else 1)
        G, G1, _ = gegenbauer_derivs(n - 1, d, x, ops)
        rows.append(G)
        rhs.append([f])
        if interior:
            rows.append(G1)
            rhs.append([f1])
    A = arb_mat(rows)
    sol = A.solve(arb_mat(rhs))
    return [sol[k, 0] for k in range(sol.nrows())]


def _taylor_lower(kernel, p, d, a, m, r, ops):
    """(A lower bound (arb) of g = f − h on [m − r, m + r], g(m) as a ball); m, r exact arbs."""
    from flint import arb

    K = len(a) - 1
    f, f1, _ = potential_derivs(kernel, p, m, ops)
    G, G1, _ = gegenbauer_derivs(K, d, m, ops)
    g0 = f - sum((ak * gk for ak, gk in zip(a, G, strict=False)), arb(0))
    g1 = f1 - sum((ak * gk for ak, gk in zip(a, G1, strict=False)), arb(0))
    cell = arb(m.mid(), r)
    _, _, f2 = potential_derivs(kernel, p, cell, ops)
    _, _, G2 = gegenbauer_derivs(K, d, cell, ops)
    g2 = f2 - sum((ak * gk for ak, gk in zip(a, G2, strict=False)), arb(0))
    g2lo = g2.lower()
    low = g0 - abs(g1) * r
    if not g2lo >= 0:
        low = low + g2lo * r * r / 2
    return arb(low.lower()), g0


def prove_below(kernel, p, d, a, lo: float, hi: float, *, tolerance, min_width: float = 2.0 ** -40,
                max_cells: int = 8000, start_cells: int = 64):
    """Prove f − h >= −v on [lo, hi]; returns (v as a float rounded up, number of cells) or (None, cells)
    when the cell budget runs out (or an evaluation is not finite).

    Branch and bound, most negative cell first: ``known`` is a deficit certainly reached (max of −g at the
    cell centres); a cell is accepted when its lower bound is within ``tolerance`` + 1e-6·known of it (or
    when it is narrower than ``min_width``), otherwise bisected.  v = the worst lower bound of the accepted
    cells, so the rule only decides the work: the result is an upper bound of the deficit whatever it is."""
    import heapq

    from flint import arb

    ops = ArbOps
    width = (hi - lo) / start_cells
    heap = []
    known = arb(0)
    worst = arb(0)
    cells = 0
    counter = 0

    def push(left, w):
        nonlocal cells, counter, known
        cells += 1
        r = w / 2
        low, gm = _taylor_lower(kernel, p, d, a, left + r, r, ops)
        if not low.is_finite():
            return False
        reached = arb((-gm).lower())  # a deficit certainly reached at the centre
        known = max(known, reached)
        if not low >= 0:
            counter += 1
            heapq.heappush(heap, (float(low.lower()), counter, left, w, low))
        return True

    for i in range(start_cells):
        if not push(arb(lo) + arb(width) * i, arb(width)):
            return None, cells
    while heap:
        _, _, left, w, low = heapq.heappop(heap)
        if cells > max_cells:
            return None, cells
        if low >= -(tolerance + known * arb(1e-6) + known) or float(w) < min_width:
            worst = min(worst, low)
            continue
        r = w / 2
        if not (push(left, r) and push(left + r, r)):
            return None, cells
    v = float((-worst).upper()) if worst < 0 else 0.0
    return (math.nextafter(v, math.inf) if v > 0 else 0.0), cells


def _float_precheck(kernel, p, d, a_float, hi) -> bool:
    """A cheap float look at h <= f on a grid (a guess that cannot pass is not worth the ball proof)."""
    import numpy as np

    from ..bounds import gegenbauer_recurrence
    from ..bounds import potential as float_potential

    u = np.linspace(-1.0, hi, 4001)
    fp = float_potential(kernel, s=p.get("s"), t=p.get("t"))
    with np.errstate(all="ignore"):
        f = fp.f(u)
        h = np.asarray(a_float) @ gegenbauer_recurrence(len(a_float) - 1, d, u)
    scale = float(np.nanmax(np.abs(f)))
    return bool(np.all(np.isfinite(h)) and float(np.nanmax(h - f)) <= 1e-9 * max(scale, 1e-300))


def _candidates(kernel, N, d, p, config, coefficients):
    """(source, a_float, a_exact or None) polynomials to try, best guess first (generated lazily)."""
    from flint import arb

    if coefficients is not None:
        yield "given", [float(x) for x in coefficients], None
        return
    if config is not None:
        try:
            a_ball = hermite_coefficients(kernel, p, d, distinct_inner_products(config))
        except ZeroDivisionError:
            a_ball = None
        if a_ball is not None and all(x >= 0 for x in a_ball[1:]):
            yield "hermite", [float(x.mid()) for x in a_ball], [arb(x.mid()) for x in a_ball]
    from ..bounds import lp_bound

    lb = lp_bound(kernel, N, d, s=p.get("s"), t=p.get("t"))
    if lb.coefficients:
        yield "float LP", list(lb.coefficients), None


def _prove_polynomial(kernel, N, d, p, pf, a_float, a_exact, prec, source):
    """The ball proof for one polynomial at ``prec`` bits: (v, cells, hi, a, reason); v None on failure."""
    from flint import arb

    a_float = [a_float[0]] + [max(x, 0.0) for x in a_float[1:]]
    a = a_exact if a_exact is not None else [arb(x) for x in a_float]  # exact binary numbers
    a = [a[0]] + [x if x >= 0 else arb(0) for x in a[1:]]
    hi = 1.0
    if kernel != "gaussian":
        from ..bounds import potential as float_potential

        fp = float_potential(kernel, s=p.get("s"))
        total = sum(abs(x) for x in a_float)
        hi = fp.inverse(total + max(1.0, total))
        if not hi < 1.0:
            return None, 0, hi, a, "the check interval reaches the singularity at u = 1"
        f_hi = potential_derivs(kernel, p, arb(hi), ArbOps)[0]
        if not f_hi >= sum((abs(x) for x in a), arb(0)):
            return None, 0, hi, a, "f(u*) >= Σ|a_k| not proven: the tail [u*, 1) is not covered"
    if source != "given" and not _float_precheck(kernel, p, d, a_float, hi):
        return None, 0, hi, a, "h rises above f on a float grid (not a valid polynomial for this potential)"
    # accept deficits below 2^(20−prec) of the scale of f (near a contact point g ≈ c(u − α)², so cells of
    # width ~2^(−prec/2) reach it)
    scale = max(abs(float(potential_derivs(kernel, p, arb(x), ArbOps)[0].mid())) for x in (-1.0, 0.0, hi * 0.999))
    tol = arb(scale) * arb(2) ** (20 - prec)
    v, cells = prove_below(kernel, p, d, a, -1.0, hi, tolerance=tol, min_width=2.0 ** -(prec // 2 + 8))
    why = "" if v is not None else "f − h >= −v could not be proven (cell budget or non-finite values)"
    return v, cells, hi, a, why


CLOSES_REL = 1e-20  # a gap below this fraction of the energy: "global minimum up to the gap"


def prove_lp_bound(
    kernel: str,
    N: int,
    d: int,
    params: dict | None = None,
    *,
    config: ExactConfiguration | None = None,
    prec: int = 128,
    max_prec: int = 512,
    coefficients: list | None = None,
) -> LPProof:
    """Prove a Delsarte–Yudin lower bound for the ``kernel`` energy of N points on S^{d−1} and, with an exact
    ``config``, enclose the gap between its energy and the bound (module doc).  Candidates: the Hermite
    interpolant at the configuration's inner products, then the float LP solution; the first whose gap
    closes is kept, else the highest proved bound.  ``coefficients``: a given polynomial (float a_k)."""
    from flint import arb, ctx

    t0 = time.perf_counter()
    p = dict(params or {})
    if kernel == "gaussian":
        p.setdefault("t", 2.0)
    elif kernel == "riesz":
        p.setdefault("s", 1.0)
    pf = Fraction(1) if kernel == "gaussian" else Fraction(1, 2)
    name = config.name if config else None
    old = ctx.prec
    attempts: list = []
    best: LPProof | None = None
    reasons = []
    try:
        ctx.prec = prec
        for source, a_float, a_exact in _candidates(kernel, N, d, p, config, coefficients):
            cur = prec
            while True:
                ctx.prec = cur
                if a_exact is not None and cur != prec:  # the Hermite coefficients again, at this precision
                    a_ball = hermite_coefficients(kernel, p, d, distinct_inner_products(config))
                    a_exact = [arb(x.mid()) for x in a_ball]
                v, cells, hi, a, why = _prove_polynomial(kernel, N, d, p, pf, a_float, a_exact, cur, source)
                attempts.append({"polynomial": source, "precision": cur, "deficit_v": v, "cells": cells, "note": why})
                # more precision helps non-finite or undecided evaluations, not an exhausted cell budget
                if v is not None or cells == 0 or cells > 8000 or 2 * cur > max_prec:
                    break
                cur *= 2
            if v is None:
                reasons.append(f"{source}: {why}")
                continue
            res = _result(kernel, N, d, p, pf, config, source, a, a_float, v, hi, cells, cur)
            if best is None or res.bound["lower"] > best.bound["lower"]:
                best = res
            if res.gap is not None and res.gap["upper"] <= CLOSES_REL * abs(res.energy["mid"]):
                break
        if best is None:
            return LPProof(
                False,
                "nothing proved",
                "; ".join(reasons) or "no polynomial to check",
                kernel,
                p,
                N,
                d,
                name,
                "-",
                0,
                [],
                math.inf,
                (-1.0, 1.0),
                0,
                {},
                None,
                None,
                ctx.prec,
                time.perf_counter() - t0,
                attempts,
            )
        best.attempts = attempts
        best.seconds = time.perf_counter() - t0
        return best
    finally:
        ctx.prec = old


def _result(kernel, N, d, p, pf, config, source, a, a_float, v, hi, cells, prec) -> LPProof:
    from flint import arb

    ops = ArbOps
    Nn = arb(N)
    bound = ops.const(pf) * (Nn * (Nn - 1) * (a[0] - arb(v)) - Nn * sum(a[1:], arb(0)))
    energy = gap = None
    if config is not None:
        cache: dict = {}
        tot = arb(0)
        for i, row in enumerate(config.gram()):
            for j, x in enumerate(row):
                if i != j:
                    if x not in cache:
                        cache[x] = potential_derivs(kernel, p, x.to_arb(), ops)[0]
                    tot += cache[x]
        energy = ops.const(pf) * tot
        gap = energy - bound
    out = LPProof(
        True,
        "",
        "",
        kernel,
        p,
        N,
        d,
        config.name if config else None,
        source,
        len(a) - 1,
        [float(x.mid()) for x in a],
        v,
        (-1.0, hi),
        cells,
        {**_ball(bound), "lower": float(bound.lower())},
        _ball(energy) if energy is not None else None,
        ({**_ball(gap), "upper": float(gap.upper()), "lower": float(gap.lower())} if gap is not None else None),
        prec,
    )
    what = f"every configuration of {N} points on S^{d - 1} has energy >= {float(bound.lower()):.17g}"
    if gap is not None:
        closes = float(gap.upper()) <= CLOSES_REL * abs(float(energy.mid()))
        what += f"; the {config.name} has energy {float(energy.mid()):.17g} ± {float(energy.rad()):.1e}, " + (
            f"so it is a global minimum up to {float(gap.upper()):.2e}"
            if closes
            else f"{float(gap.lower()):.3e} above the bound: the bound does not show it optimal"
        )
        if gap.upper() < 0:
            out.proved = False
            what = "contradiction: the bound exceeds the energy (a bug)"
    out.statement = what
    out.reason = (
        f"proved at {prec} bits (polynomial: {source}, degree {len(a) - 1}; f − h >= −{v:.2e} on {cells} cells)"
    )
    return out
