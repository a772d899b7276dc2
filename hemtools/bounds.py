"""The Delsarte–Yudin linear-programming lower bound for energies of N points on S^{d−1}.

Derivation (Yudin 1992; Cohn & Kumar 2007, §2 and §4).  Write the energy through the inner products,
E_ord(C) = Σ_{i≠j} f(x_i·x_j), with the potential f of a kernel (``energies.potential``):

    riesz     f(u) = (2 − 2u)^{−s/2}          energy Σ_{i<j} = ½ E_ord
    log       f(u) = −½ log(2 − 2u)            energy Σ_{i<j} = ½ E_ord
    gaussian  f(u) = e^{−t (2 − 2u)}           energy Σ_{i≠j} =   E_ord  (SPEC §1)

Let G_k = C_k^λ / C_k^λ(1) be the Gegenbauer polynomials with λ = (d−2)/2, normalised so that G_k(1) = 1
(Legendre for d = 3, Chebyshev T_k for d = 2).  They are positive definite on S^{d−1} (Schoenberg):
S_k(C) = Σ_{i,j} G_k(x_i·x_j) = ‖Σ_i Y_k(x_i)‖² · const >= 0 for every point set, with S_0 = N².
If h = Σ_{k=0}^K a_k G_k with a_k >= 0 for k >= 1 and h <= f on [−1, 1), then for every N-point set

    E_ord >= Σ_{i≠j} h(x_i·x_j) = Σ_k a_k S_k − N h(1) >= a_0 N² − N Σ_k a_k
          = N(N−1) a_0 − N Σ_{k>=1} a_k.

The best such h is a linear program: maximise N(N−1) a_0 − N Σ_{k>=1} a_k over a_0 free, a_k >= 0,
subject to h(u_j) <= f(u_j) on a grid u_j of [−1, 1) (``scipy.optimize.linprog``, HiGHS).  A polynomial
that lies below f on the grid may rise above it between grid points, so the result is then *checked off
the grid*: with g = f − h on a uniform grid of cells of width δ over [−1, u*],

    min_cell g >= min(g(u_a), g(u_b)) − δ²/8 · (f''(u_b) + Σ_{k>=1} |a_k| G_k''(1))

(linear-interpolation error; f'' > 0 is increasing for these completely monotone potentials, and
|G_k''| <= G_k''(1) = G_k'(1)(k−1)(k+2λ+1)/(2λ+3) with G_k'(1) = k(k+2λ)/(2λ+1)).  Beyond u*, chosen
with f(u*) >= Σ_k |a_k| >= max h, nothing can fail (f is increasing).  If the certified minimum of g is
−v < 0, then h − v <= f everywhere and the bound is lowered by N(N−1) v: it stays a valid lower bound,
and the correction is reported.  What is left unproven is only the floating-point evaluation itself.

The bound is tight (gap 0) for sharp configurations with completely monotone potentials — the simplex,
the cross-polytope, the icosahedron, the 600-cell, E8 — and positive for, e.g., N = 5 in d = 3.
Nothing here prints.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import ArgumentError
from .validators import require_int

KERNELS = ("riesz", "log", "gaussian")


# --------------------------------------------------------------------------------------------------------
# potentials f(u) of the inner product u = x·y, with f' and f''


@dataclass(frozen=True)
class Potential:
    kernel: str
    s: float | None = None
    t: float | None = None

    @property
    def pair_factor(self) -> float:
        """energy = pair_factor · Σ_{i≠j} f(x_i·x_j)."""
        return 1.0 if self.kernel == "gaussian" else 0.5

    @property
    def singular(self) -> bool:
        return self.kernel != "gaussian"

    def f(self, u: np.ndarray) -> np.ndarray:
        r2 = 2.0 - 2.0 * np.asarray(u, dtype=np.float64)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # non-finite: detected by the caller
            if self.kernel == "riesz":
                return r2 ** (-self.s / 2)
            if self.kernel == "log":
                return -0.5 * np.log(r2)
            return np.exp(-self.t * r2)

    def d1(self, u: np.ndarray) -> np.ndarray:
        """f'(u) (positive on [−1, 1))."""
        r2 = 2.0 - 2.0 * np.asarray(u, dtype=np.float64)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # non-finite: detected by the caller
            if self.kernel == "riesz":
                return self.s * r2 ** (-self.s / 2 - 1)
            if self.kernel == "log":
                return 1.0 / r2
            return 2.0 * self.t * np.exp(-self.t * r2)

    def d2(self, u: np.ndarray) -> np.ndarray:
        """f''(u) (positive and increasing on [−1, 1))."""
        r2 = 2.0 - 2.0 * np.asarray(u, dtype=np.float64)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # non-finite: detected by the caller
            if self.kernel == "riesz":
                return self.s * (self.s + 2) * r2 ** (-self.s / 2 - 2)
            if self.kernel == "log":
                return 2.0 / (r2 * r2)
            return 4.0 * self.t * self.t * np.exp(-self.t * r2)

    def inverse(self, value: float) -> float:
        """The u in [−1, 1] with f(u) = value (f increasing); 1.0 when f stays below value (Gaussian)."""
        if self.kernel == "riesz":
            if value <= 0:
                return -1.0
            return float(np.clip(1.0 - 0.5 * value ** (-2.0 / self.s), -1.0, 1.0))
        if self.kernel == "log":
            return float(np.clip(1.0 - 0.5 * math.exp(-2.0 * value), -1.0, 1.0))
        if value >= 1.0:
            return 1.0
        if value <= math.exp(-4.0 * self.t):
            return -1.0
        return float(1.0 + math.log(value) / (2.0 * self.t))

    def describe(self) -> str:
        if self.kernel == "riesz":
            return f"Riesz s={self.s:g}: Σ_(i<j) |x_i − x_j|^(−s)"
        if self.kernel == "log":
            return "logarithmic: Σ_(i<j) −log |x_i − x_j|"
        return f"Gaussian t={self.t:g}: Σ_(i≠j) exp(−t |x_i − x_j|²)"


def potential(kernel: str, *, s: float | None = None, t: float | None = None) -> Potential:
    """The potential of ``kernel`` with validated parameters (riesz: s > 0, default 1; gaussian: t > 0, default 2)."""
    if kernel not in KERNELS:
        raise ArgumentError(f"kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")
    if kernel == "riesz":
        s = 1.0 if s is None else _positive("s", s, "the Riesz exponent s (s = 1 is Thomson)")
        if t is not None:
            raise ArgumentError(f"t: only the gaussian kernel has a scale t; kernel riesz takes s (got t={t!r})")
        return Potential("riesz", s=s)
    if kernel == "gaussian":
        t = 2.0 if t is None else _positive("t", t, "the Gaussian scale t")
        if s is not None:
            raise ArgumentError(f"s: only the riesz kernel has an exponent s; kernel gaussian takes t (got s={s!r})")
        return Potential("gaussian", t=t)
    if s is not None or t is not None:
        raise ArgumentError(f"{'s' if s is not None else 't'}: the log kernel takes no parameter "
                            f"(got {'s' if s is not None else 't'}={s if s is not None else t!r})")
    return Potential("log")


def _positive(name: str, value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ArgumentError(f"{name}: expected a finite number > 0 ({what}), got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ArgumentError(f"{name}: expected a finite number > 0 ({what}), got {value!r}")
    return v


def _check_size(N, d) -> tuple[int, int]:
    return require_int("N", N, 2), require_int("d", d, 2)


# --------------------------------------------------------------------------------------------------------
# Gegenbauer polynomials normalised to G_k(1) = 1


def gegenbauer_scipy(K: int, d: int, u: np.ndarray) -> np.ndarray:
    """(K+1, len(u)) matrix of G_k(u) from scipy.special (Chebyshev for d = 2, Legendre for d = 3)."""
    from scipy.special import eval_chebyt, eval_gegenbauer, eval_legendre

    u = np.asarray(u, dtype=np.float64)
    k = np.arange(K + 1)[:, None]
    if d == 2:
        return eval_chebyt(k, u[None, :])
    if d == 3:
        return eval_legendre(k, u[None, :])
    lam = (d - 2) / 2.0
    return eval_gegenbauer(k, lam, u[None, :]) / eval_gegenbauer(k, lam, 1.0)


def gegenbauer_recurrence(K: int, d: int, u: np.ndarray) -> np.ndarray:
    """The same matrix by the normalised three-term recurrence (fast, for dense checks):
    G_0 = 1, G_1 = u, G_k = (2(k+λ−1) u G_{k−1} − (k−1) G_{k−2}) / (k+2λ−1)."""
    u = np.asarray(u, dtype=np.float64)
    lam = (d - 2) / 2.0
    out = np.empty((K + 1, u.size))
    out[0] = 1.0
    if K >= 1:
        out[1] = u
    for k in range(2, K + 1):
        out[k] = (2 * (k + lam - 1) * u * out[k - 1] - (k - 1) * out[k - 2]) / (k + 2 * lam - 1)
    return out


def gegenbauer_derivative_bounds(K: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(G_k'(1), G_k''(1)) for k = 0..K: the maxima of |G_k'|, |G_k''| on [−1, 1]."""
    lam = (d - 2) / 2.0
    k = np.arange(K + 1, dtype=np.float64)
    d1 = k * (k + 2 * lam) / (2 * lam + 1)
    d2 = d1 * (k - 1) * (k + 2 * lam + 1) / (2 * lam + 3)
    d2[:2] = 0.0
    return d1, d2


# --------------------------------------------------------------------------------------------------------
# the LP


@dataclass
class LPBound:
    kernel: str
    params: dict
    N: int
    d: int
    degree: int
    bound: float  # valid lower bound of the energy (in the energy's own convention), after the correction
    bound_lp: float  # the LP optimum on the grid, before the off-grid check
    correction: float  # bound_lp − bound (>= 0): what the off-grid check subtracted
    max_grid_violation: float  # max(h − f) on the LP grid (solver feasibility)
    max_dense_violation: float  # max(h − f) on the dense check grid
    certified_min: float  # certified lower bound of min (f − h) over [−1, u*] (negative: corrected)
    check_interval: tuple[float, float]
    check_cells: int
    grid_points: int
    status: str
    seconds: float
    coefficients: list[float] = field(default_factory=list)

    def gap(self, energy: float) -> float:
        """Relative gap (energy − bound)/|energy|: ≈ 0 certifies energy as the global minimum."""
        return relative_gap(energy, self.bound)

    def to_dict(self, include_coefficients: bool = False) -> dict:
        out = asdict(self)
        out["check_interval"] = list(self.check_interval)
        if not include_coefficients:
            out.pop("coefficients")
        return out


def relative_gap(energy: float, bound: float) -> float:
    return (float(energy) - float(bound)) / max(abs(float(energy)), 1e-300)


# --------------------------------------------------------------------------------------------------------
# the certificate (one rule for `hemtools energy` and verify's beyond-simplex section)

CERTIFICATE_GAP = 1e-6  # a relative gap at most this certifies a global minimum (measured gaps: 1e-12..4e-7)


def certifies(gap: float | None) -> bool:
    """A relative LP gap certifies a global minimum when 0 <= gap <= CERTIFICATE_GAP, up to round-off; a bound
    above the energy (gap < −1e-10) is a contradiction, never a certificate."""
    return gap is not None and math.isfinite(gap) and -1e-10 <= gap <= CERTIFICATE_GAP


def lp_certificate(bound: LPBound, energy: float, *, converged: bool = True) -> dict:
    """What the bound says about ``energy``: ``gap`` (relative; None when the bound or the energy is not
    finite, or the energy is 0), ``certificate_gap`` and ``certified_global_minimum`` (a resolved
    (``converged``) minimum and a consistent bound within the certificate gap)."""
    ok = math.isfinite(bound.bound) and math.isfinite(energy) and energy != 0
    gap = bound.gap(energy) if ok else None
    return {"gap": gap, "certificate_gap": CERTIFICATE_GAP,
            "certified_global_minimum": bool(converged) and certifies(gap)}


def default_degree(N: int, d: int) -> int:
    """Degree K of h.  Sharp configurations need at most 2m−1 (m distinct inner products: 15 for the
    600-cell); 30 leaves room for the others while keeping the LP and the dense check fast."""
    return 30


def lp_grid(pot: Potential, n: int) -> np.ndarray:
    """Chebyshev–Lobatto points (dense near ±1, where optimal h touch f) merged with a uniform grid, on
    [−1, u_hi]: u_hi = 1 for the bounded Gaussian, 1 − 1e-6 for singular kernels."""
    hi = 1.0 if not pot.singular else 1.0 - 1e-6
    cheb = -np.cos(np.pi * np.arange(n) / (n - 1))
    g = np.concatenate([cheb, np.linspace(-1.0, 1.0, n)])
    g = -1.0 + (g + 1.0) * (hi + 1.0) / 2.0
    return np.unique(g)


def _dense_scan(pot: Potential, a: np.ndarray, d: int, lo: float, hi: float, cells: int):
    """g = f − h on a uniform grid of ``cells`` cells over [lo, hi], in chunks.

    Returns (max(h − f) at the grid points, the certified lower bound of min g over [lo, hi], and the
    locations of local minima of g that are negative, most violated first)."""
    K = a.size - 1
    _, g2 = gegenbauer_derivative_bounds(K, d)
    h2 = float((np.abs(a) * g2).sum())
    edges = np.linspace(lo, hi, cells + 1)
    delta = (hi - lo) / cells
    certified, dense_viol = math.inf, -math.inf
    worst: list[tuple[float, float]] = []
    chunk = 1 << 16
    for start in range(0, edges.size - 1, chunk):
        e = edges[start : start + chunk + 2]  # one extra point each side for the local-minimum test
        g = pot.f(e) - a @ gegenbauer_recurrence(K, d, e)
        dense_viol = max(dense_viol, float((-g).max()))
        lo_cell = np.minimum(g[:-1], g[1:]) - delta * delta / 8.0 * (pot.d2(e[1:]) + h2)
        certified = min(certified, float(lo_cell.min()))
        if g.size >= 3:
            inner = g[1:-1]
            is_min = (inner <= g[:-2]) & (inner <= g[2:]) & (inner < 0)
            for i in np.nonzero(is_min)[0]:
                worst.append((float(inner[i]), float(e[i + 1])))
    worst.sort()
    return dense_viol, certified, [u for _, u in worst]


def _solve_lp(c, A, b, bounds):
    """HiGHS dual simplex, falling back to its interior-point method if the simplex reports a failure."""
    from scipy.optimize import linprog

    opts = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
    res = linprog(c, A_ub=A, b_ub=b, bounds=bounds, method="highs-ds", options=opts)
    if res.status != 0 or res.x is None:
        res = linprog(c, A_ub=A, b_ub=b, bounds=bounds, method="highs-ipm", options=opts)
    return res


def lp_bound(
    kernel: str,
    N: int,
    d: int,
    *,
    s: float | None = None,
    t: float | None = None,
    degree: int | None = None,
    grid: int = 2001,
    check_cells: int = 2**20,
    exchange_rounds: int = 2,
) -> LPBound:
    """The Delsarte–Yudin lower bound for the ``kernel`` energy of N points on S^{d−1} (see the module doc).

    The LP is solved on ``lp_grid(grid)``; then, up to ``exchange_rounds`` times, the negative local
    minima of f − h found on the dense check grid are added to the LP grid and the LP is solved again
    (an exchange / cutting-plane step: it moves the constraints to where h touches f, so the final
    off-grid correction is ~1e-12 instead of the ~1e-8 of a fixed grid).  The returned bound is always
    the certified one (module doc), whatever the number of rounds.
    """
    t0 = time.perf_counter()
    pot = potential(kernel, s=s, t=t)
    N, d = _check_size(N, d)
    K = default_degree(N, d) if degree is None else degree
    K = require_int("degree", K, 1)
    if grid < K + 2:
        raise ArgumentError(f"grid: expected at least degree + 2 = {K + 2} points, got {grid}")
    params = {"s": pot.s} if kernel == "riesz" else ({"t": pot.t} if kernel == "gaussian" else {})

    c = np.full(K + 1, float(N))
    c[0] = -float(N) * (N - 1)
    bounds = [(None, None)] + [(0, None)] * K
    u = lp_grid(pot, grid)
    hi_lp = float(u[-1])
    a, u_solved, note = None, u, ""
    # Solve for a / F, F the size of the optimal a_0 (the bound per ordered pair): HiGHS's tolerances are
    # absolute, and for a Gaussian with large t the a_k can sit far below them.  Unscaled, N = 4, d = 3,
    # t = 8 measured a relative gap of 4.0e-6 at the simplex, where the bound is exact.  First guess: the
    # simplex value f(−1/(N−1)); if the LP optimum per pair differs from it by more than 10x (600-cell,
    # t = 8: 1e-7 vs 5e-3), the same grid is solved once more with F set to that optimum.
    F = 1.0 if kernel == "log" else float(abs(pot.f(np.array(-1.0 / (N - 1)))))
    F = F if math.isfinite(F) and F >= sys.float_info.min else 1.0  # a subnormal F would overflow f/F
    rescaled = kernel == "log"

    def failed(message: str) -> LPBound:
        return LPBound(
            kernel,
            params,
            N,
            d,
            K,
            -math.inf,
            -math.inf,
            0.0,
            math.nan,
            math.nan,
            math.nan,
            (-1.0, 1.0),
            0,
            int(u.size),
            message,
            time.perf_counter() - t0,
        )

    rnd = -1
    while rnd < exchange_rounds:
        rnd += 1
        A = gegenbauer_scipy(K, d, u).T  # (grid, K+1)
        b = pot.f(u) / F
        if not np.all(np.isfinite(b)):
            return failed("the potential is not finite in float64 on the LP grid (overflow or underflow): no bound")
        # Scale each row by 1/|f(u_j)| so that HiGHS's absolute feasibility tolerance (1e-10) is relative to
        # f: the contact points of a sharp configuration can sit where f is tiny (Gaussian, u = −1: e^{−4t}).
        # The log potential crosses 0 (at u = ½): there the floor 1e-2 keeps the row finite.  For the others
        # the floor is 1e-12 of the largest |f|: rows scaled by more (Gaussian t = 16 at u = −1: e^{−64})
        # leave HiGHS a matrix it cannot handle — measured at the icosahedron, t = 16: relative gap 1.0e-2
        # without the floor, 3.6e-9 with it (the off-grid check keeps the bound valid either way).
        floor = 1e-2 if kernel == "log" else 1e-12 * float(np.abs(b).max())
        scale = 1.0 / np.maximum(np.abs(b), floor)
        res = _solve_lp(c, A * scale[:, None], b * scale, bounds)
        if res.status != 0 or res.x is None:
            if a is not None:  # an exchange round failed: keep the previous (valid, then certified) solution
                note = f"; exchange round {rnd} stopped: {res.message}"
                break
            return failed(f"linprog failed: {res.message}")
        a = np.array(res.x, dtype=np.float64) * F
        u_solved = u
        a[1:] = np.maximum(a[1:], 0.0)  # HiGHS may return −1e-17 for a bound at 0; the proof needs a_k >= 0
        per_pair = a[0] - a[1:].sum() / (N - 1)
        if not rescaled and math.isfinite(per_pair) and per_pair > 0 and not 0.1 <= per_pair / F <= 10.0:
            F, rescaled = float(per_pair), True
            rnd -= 1  # the same grid again, at the right scale
            continue
        rescaled = True
        if rnd == exchange_rounds:
            break
        # exchange: the most violated local minima of f − h (on a coarser scan) join the grid
        total = float(np.abs(a).sum())
        u_star = pot.inverse(total + max(1.0, total))
        _, _, worst = _dense_scan(pot, a, d, -1.0, min(u_star, hi_lp), max(check_cells // 8, 1 << 14))
        # refine the grid around each violated local minimum: 33 points spanning the neighbouring grid
        # cells, so the spacing there drops 16-fold and the bulge of h above f (∝ spacing²) 256-fold
        pts = []
        for um in worst[:50]:
            j = int(np.searchsorted(u, um))
            left = u[max(j - 1, 0)]
            right = u[min(j, u.size - 1)]
            width = max(right - left, 1e-12)
            pts.append(np.clip(um + width * np.linspace(-1.0, 1.0, 33), -1.0, hi_lp))
        if not pts:  # no violated local minimum left: the grid already certifies h <= f
            break
        new = np.concatenate(pts)
        # points closer than 1e-12 to the grid would only duplicate a constraint (and upset the LP)
        near = np.abs(new[:, None] - u[None, :]).min(1) < 1e-12
        new = new[~near]
        if not new.size:
            break
        u = np.unique(np.concatenate([u, new]))
    ord_lp = float(N) * (N - 1) * a[0] - float(N) * a[1:].sum()
    grid_viol = float((gegenbauer_scipy(K, d, u_solved).T @ a - pot.f(u_solved)).max())

    # the off-grid certificate on [−1, u*]: beyond u*, f(u) >= f(u*) >= Σ|a_k| >= h(u)
    total = float(np.abs(a).sum())
    u_star = pot.inverse(total + max(1.0, total))
    if kernel in ("riesz", "log") and u_star >= 1.0:
        # for small s the inverse rounds to the singularity u = 1: the interval cannot be checked
        return failed(
            f"the off-grid check interval reaches the singularity at u = 1 (f⁻¹({total:.3g}) rounds to 1 "
            "in float64): no certified bound"
        )
    dense_viol, certified, _ = _dense_scan(pot, a, d, -1.0, u_star, check_cells)
    if not math.isfinite(certified):
        return failed(
            f"the off-grid check of h <= f on [−1, {u_star:.6g}] is not finite (min f − h = {certified}): "
            "no certified bound"
        )
    v = max(0.0, -certified)
    ord_bound = ord_lp - float(N) * (N - 1) * v
    fac = pot.pair_factor
    return LPBound(
        kernel=kernel,
        params=params,
        N=N,
        d=d,
        degree=K,
        bound=fac * ord_bound,
        bound_lp=fac * ord_lp,
        correction=fac * (ord_lp - ord_bound),
        max_grid_violation=grid_viol,
        max_dense_violation=dense_viol,
        certified_min=certified,
        check_interval=(-1.0, u_star),
        check_cells=check_cells,
        grid_points=int(u_solved.size),
        status="optimal" + note,
        seconds=time.perf_counter() - t0,
        coefficients=a.tolist(),
    )


__all__ = [
    "KERNELS",
    "Potential",
    "potential",
    "lp_bound",
    "LPBound",
    "relative_gap",
    "gegenbauer_scipy",
    "gegenbauer_recurrence",
    "gegenbauer_derivative_bounds",
    "lp_grid",
    "default_degree",
]


def energy_report(res, bound) -> dict:
    """The JSON of ``hemtools energy``: an energy search result (``energies.minimise``) with its LP bound
    section; a certificate needs a resolved (converged) minimum and a consistent bound (gap not below −1e-10)."""
    out = res.to_dict()
    out["seconds"] = res.seconds + (bound.seconds if bound is not None else 0.0)
    out["lp_bound"] = (
        {**bound.to_dict(), **lp_certificate(bound, res.value, converged=res.converged)} if bound is not None else None
    )
    return out
