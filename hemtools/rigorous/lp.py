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
    g0 = f - sum((ak * gk for ak, gk in zip(a, G)), arb(0))
    g1 = f1 - sum((ak * gk for ak, gk in zip(a, G1)), arb(0))
    cell = arb(m.mid(), r)
    _, _, f2 = potential_derivs(kernel, p, cell, ops)
    _, _, G2 = gegenbauer_derivs(K, d, cell, ops)
    g2 = f2 - sum((ak * gk for ak, gk in zip(a, G2)), arb(0))
    g2lo = g2.lower()
    low = g0 - abs(g1) * r
    if not g2lo >= 0:
        low = low + g2lo * r * r / 2
    return arb(low.lower()), g0


def prove_below(kernel, p, d, a, lo: float, hi: float, *, tolerance, min_width: float = 2.0 ** -40,
                max_cells: int = 20000, start_cells: int = 64):
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
        if reached > known:
            known = reached
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
            if low < worst:
                worst = low
            continue
        r = w / 2
        if not (push(left, r) and push(left + r, r)):
            return None, cells
    v = float((-worst).upper()) if worst < 0 else 0.0
    return (math.nextafter(v, math.inf) if v > 0 else 0.0), cells


def prove_lp_bound(kernel: str, N: int, d: int, params: dict | None = None, *, config: ExactConfiguration | None = None,
                   prec: int = 128, max_prec: int = 512, coefficients: list | None = None) -> LPProof:
    """Prove a Delsarte–Yudin lower bound for the ``kernel`` energy of N points on S^{d−1} and, with an exact
    ``config``, enclose the gap between its energy and the bound (module doc).  ``coefficients``: a given
    polynomial (float a_k) instead of the Hermite interpolant / float LP (used by the tests)."""
    from flint import arb, ctx

    t0 = time.perf_counter()
    p = dict(params or {})
    if kernel == "gaussian":
        p.setdefault("t", 2.0)
    elif kernel == "riesz":
        p.setdefault("s", 1.0)
    pf = Fraction(1) if kernel == "gaussian" else Fraction(1, 2)
    source = "given"
    old = ctx.prec
    attempts = []
    try:
        cur = prec
        while True:
            ctx.prec = cur
            a_float = a_exact = None
            if coefficients is not None:
                a_float, source = [float(x) for x in coefficients], "given"
            elif config is not None:
                try:
                    a_ball = hermite_coefficients(kernel, p, d, distinct_inner_products(config))
                    a_float = [float(x.mid()) for x in a_ball]
                    source = "hermite"
                    if any(x < 0 for x in a_float[1:]):
                        a_float = None  # not a Delsarte polynomial: fall back to the LP
                    else:
                        a_exact = [arb(x.mid()) for x in a_ball]  # the midpoints at full precision: exact
                except ZeroDivisionError:
                    a_float = None
            if a_float is None:
                from ..bounds import lp_bound

                lb = lp_bound(kernel, N, d, s=p.get("s"), t=p.get("t"))
                if not lb.coefficients:
                    return LPProof(False, "nothing proved", f"the float LP failed: {lb.status}", kernel, p, N, d,
                                   config.name if config else None, "float LP", 0, [], math.inf, (-1.0, 1.0), 0,
                                   {}, None, None, cur, time.perf_counter() - t0, attempts)
                a_float, source = list(lb.coefficients), "float LP"
            a_float = [a_float[0]] + [max(x, 0.0) for x in a_float[1:]]
            a = a_exact if a_exact is not None else [arb(x) for x in a_float]  # exact binary numbers
            a = [a[0]] + [x if x >= 0 else arb(0) for x in a[1:]]
            K = len(a) - 1
            hi = 1.0
            tail_ok = True
            if kernel != "gaussian":
                from ..bounds import potential as float_potential

                fp = float_potential(kernel, s=p.get("s"))
                total = sum(abs(x) for x in a_float)
                hi = fp.inverse(total + max(1.0, total))
                if not hi < 1.0:
                    tail_ok = False
                else:
                    f_hi = potential_derivs(kernel, p, arb(hi), ArbOps)[0]
                    tail_ok = bool(f_hi >= sum((abs(x) for x in a), arb(0)))
            # accept deficits below 2^(20−prec) of the scale of f (near a contact point g ≈ c(u − α)², so cells
            # of width ~2^(−prec/2) reach it)
            scale = max(abs(float(potential_derivs(kernel, p, arb(x), ArbOps)[0].mid())) for x in (-1.0, 0.0, hi * 0.999))
            tol = arb(scale) * arb(2) ** (20 - cur)
            v, cells = prove_below(kernel, p, d, a, -1.0, hi, tolerance=tol,
                                       min_width=2.0 ** -(cur // 2 + 8)) if tail_ok else (None, 0)
            attempts.append({"precision": cur, "deficit_v": v, "cells": cells})
            if v is not None or 2 * cur > max_prec:
                break
            cur *= 2
        if v is None:
            reason = ("f − h >= −v could not be proven (cell budget or non-finite evaluation)" if tail_ok else
                      "the tail interval [u*, 1) could not be handled")
            return LPProof(False, "nothing proved", reason, kernel, p, N, d, config.name if config else None, source,
                           K, a_float, math.inf, (-1.0, hi), cells, {}, None, None, cur, time.perf_counter() - t0,
                           attempts)
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
        out = LPProof(True, "", "", kernel, p, N, d, config.name if config else None, source, K, a_float, v,
                      (-1.0, hi), cells, {**_ball(bound), "lower": float(bound.lower())},
                      _ball(energy) if energy is not None else None,
                      ({**_ball(gap), "upper": float(gap.upper()), "lower": float(gap.lower())} if gap is not None else None),
                      cur, 0.0, attempts)
        what = f"every configuration of {N} points on S^{d - 1} has energy >= {float(bound.lower()):.17g}"
        if gap is not None:
            what += (f"; the {config.name} has energy {float(energy.mid()):.17g} ± {float(energy.rad()):.1e}, "
                     f"so it is a global minimum up to {float(gap.upper()):.2e}")
            if gap.upper() < 0:
                out.proved = False
                what = "contradiction: the bound exceeds the energy (a bug)"
        out.statement = what
        out.reason = f"proved at {cur} bits (polynomial: {source}, degree {K}; f − h >= −{v:.2e} on {cells} cells)"
        out.seconds = time.perf_counter() - t0
        return out
    finally:
        ctx.prec = old
