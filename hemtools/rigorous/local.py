"""Proof that an exact configuration is a strict local minimum modulo rotations (Morse–Bott).

Steps (each must succeed; anything undecidable is "not proved"):

1. Criticality, by exact arithmetic on the symmetric structure.  The Euclidean gradient is g = S X with
   S = Γ + Γᵀ, Γ = ∂L/∂G (terms.py).  S is computed in sympy from the exact Gram matrix; in row a, the
   entries S[a][b] are grouped by *identical* exact expressions (identical expressions have equal
   values), and for each group the exact sum Σ_b x_b (coordinates in Q(√r)) is checked to be parallel to
   x_a.  Then g_a ∥ x_a for every a: the Riemannian gradient g_a − (x_a·g_a) x_a is exactly 0.  A point
   that is not exact (floats) cannot pass this step; its gradient is still enclosed in balls, and a ball
   that excludes 0 proves it is not critical.
2. The Riemannian Hessian on (S^{d−1})^N, in ambient coordinates:
       Hess = P (∇²L − diag_a((x_a·g_a) I_d)) P,   P = I − blockdiag(x_a x_aᵀ),
   the second term being the curvature term −(x·∇f)|ξ|² of the sphere.
3. The rotation orbit: generators (E_pq − E_qp)x, p < q, p < rank (those with both indices >= rank vanish
   because the points span exactly the first ``rank`` coordinates), dim = d·r − r(r+1)/2 (SPEC §3).
   Their independence is proven by a ball Cholesky factorisation of KᵀK.
4. Deflation: A = Hess + c (P_normal + P_orbit), P_orbit = K (KᵀK)⁻¹ Kᵀ, with c = 2 max|λ| (float
   estimate).  At a critical point Hess vanishes on the orbit directions, so A is c on the normal and
   orbit directions and Hess on the rest.  A ball Cholesky factorisation of A − s I proves Hess > s on the
   complement of the orbit in the tangent space: a strict local minimum modulo rotations (Morse–Bott: the
   orbit is a nondegenerate critical manifold).  s is the float estimate λ̂ of the smallest eigenvalue
   minus 1e-12·c (then s is also the lower end of its enclosure), then minus 1e-10·c, or λ̂/2 if those fail.
5. The upper end: the Rayleigh quotient of the float eigenvector, in balls (λ_min <= vᵀAv/vᵀv).  For
   matrices up to 256 rows, also the Weyl/Ostrowski enclosures of the three smallest eigenvalues around
   the float eigenbasis (linalg.eigen_enclosures), intersected with the first.  An upper end below c
   identifies the smallest eigenvalue of A as the smallest non-orbit eigenvalue of Hess.  (For larger
   matrices Weyl/Ostrowski costs three n³ ball products: 18 s at n = 544, against one Cholesky.)
   The float guess (c, λ̂, eigenvectors) comes from the same generic code run on floats.

Failures of the ball steps are retried at doubled precision, up to a cap.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from .exact import QF, ExactConfiguration
from .terms import ArbMat, ArbOps, SympyOps, assemble, evaluate, symmetric_gamma


@dataclass
class Criticality:
    proved: bool
    method: str
    detail: str
    gradient_upper: float | None = None  # upper bound of the Riemannian gradient's norm, from the balls

    def to_dict(self) -> dict:
        return asdict(self)


def exact_criticality(config: ExactConfiguration, terms: list) -> Criticality:
    """Step 1 of the module doc: exact proof that the Riemannian gradient vanishes (or "not proved")."""
    method = "exact symmetry: S = ∂L/∂G in sympy, equal-expression groups summed exactly in Q(√r)"
    Gq = config.gram()
    cache: dict = {}
    G = [[cache.setdefault(x, x.to_sympy()) for x in row] for row in Gq]
    ev = evaluate(terms, G, SympyOps)
    N = config.N
    S = symmetric_gamma(ev, N, SympyOps)
    P = config.P

    def dot(u, v):
        out = QF(0)
        for a, b in zip(u, v, strict=False):
            if not a.is_zero() and not b.is_zero():
                out = out + a * b
        return out

    for a in range(N):
        groups: dict = {}
        for b in range(N):
            if S[a][b] is None or S[a][b] == 0:
                continue
            groups.setdefault(S[a][b], []).append(b)
        pa = P[a]
        na = dot(pa, pa)
        for members in groups.values():
            v = [QF(0)] * config.d
            for b in members:
                v = [x + y for x, y in zip(v, P[b], strict=False)]
            c = dot(v, pa)
            resid = [x * na - c * y for x, y in zip(v, pa, strict=False)]
            if not all(r.is_zero() for r in resid):
                return Criticality(
                    False,
                    method,
                    f"point {a}: a group of {len(members)} equal coefficients sums to a "
                    "vector not parallel to the point (no exact argument; the point may still be critical)",
                )
    return Criticality(True, method, f"all {N} Euclidean gradient blocks are exactly parallel to their points")


@dataclass
class Attempt:
    precision: int
    independence: bool | None = None
    cholesky: bool | None = None
    enclosure_ok: bool | None = None
    seconds: float = 0.0
    note: str = ""


@dataclass
class LocalProof:
    proved: bool
    statement: str
    reason: str
    loss: str
    configuration: str
    N: int
    d: int
    params: dict
    criticality: dict
    tangent_dim: int
    orbit_dim: int
    orbit_generators_deflated: int
    nonorbit_dim: int
    shift_c: float | None = None
    cholesky_s: float | None = None
    smallest_eigenvalue: dict | None = None  # {"lower", "upper", "mid", "radius", "identified"}
    next_eigenvalues: list = field(default_factory=list)
    gradient_upper: float | None = None
    gradient_lower: float | None = None  # > 0: the point is proved not critical
    precision: int | None = None
    attempts: list = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        return out


def _normal_basis(X, d):
    """Y (Nd × N): column a is x_a in block a (so Y Yᵀ = blockdiag(x_a x_aᵀ))."""
    from flint import arb_mat

    N = len(X)
    Y = arb_mat(N * d, N)
    for a in range(N):
        for k in range(d):
            Y[a * d + k, a] = X[a][k]
    return Y


def orbit_generators(X, d: int, rank: int, drop: int = 0):
    """K (Nd × n_orbit): columns (E_pq − E_qp) x for p < q, p < rank; the last ``drop`` columns removed."""
    from flint import arb_mat

    pairs = [(p, q) for p in range(rank) for q in range(p + 1, d)]
    if drop:
        pairs = pairs[: len(pairs) - drop]
    N = len(X)
    K = arb_mat(N * d, len(pairs))
    for c, (p, q) in enumerate(pairs):
        for a in range(N):
            K[a * d + p, c] = X[a][q]
            K[a * d + q, c] = -X[a][p]
    return K, len(pairs)


def _float_model(Xf, terms, rank: int, drop: int, deflate: bool):
    """The same deflated matrix in float64 (the generic code on floats): only its eigen-decomposition is used,
    as the guess that the ball steps then check (shift c, Cholesky shift, approximate eigenvectors)."""
    import numpy as np

    from .terms import FloatOps, NumpyMat

    N, d = Xf.shape
    ev = evaluate(terms, (Xf @ Xf.T).tolist(), FloatOps)
    grad, H = assemble(ev, Xf.tolist(), FloatOps, NumpyMat())
    curv = (Xf * np.asarray(grad)).sum(1)
    H = H - np.kron(np.diag(curv), np.eye(d))
    Y = np.zeros((N * d, N))
    for a in range(N):
        Y[a * d : (a + 1) * d, a] = Xf[a]
    P = np.eye(N * d) - Y @ Y.T
    Hess = P @ H @ P
    Hess = 0.5 * (Hess + Hess.T)
    lam = np.linalg.eigvalsh(Hess)
    c = 2.0 * float(np.abs(lam).max())
    A = Hess + c * (Y @ Y.T)
    if deflate:
        pairs = [(p, q) for p in range(rank) for q in range(p + 1, d)]
        pairs = pairs[: len(pairs) - drop] if drop else pairs
        K = np.zeros((N * d, len(pairs)))
        for col, (p, q) in enumerate(pairs):
            K[p::d, col] = Xf[:, q]
            K[q::d, col] = -Xf[:, p]
        Qk, _ = np.linalg.qr(K)
        A = A + c * (Qk @ Qk.T)
    A = 0.5 * (A + A.T)
    evals, Q = np.linalg.eigh(A)
    return c, evals, Q


def _shifted(A, s: float):
    """A − s I (a copy)."""
    from flint import arb, arb_mat

    B = arb_mat(A)
    if s:
        sa = arb(s)
        for i in range(B.nrows()):
            B[i, i] = B[i, i] - sa
    return B


WEYL_MAX_DIM = 256  # up to this size the Weyl/Ostrowski enclosure (three n³ products) is computed as well


def _ball_attempt(
    config: ExactConfiguration, terms: list, prec: int, *, deflate: bool, drop_orbit: int, out: LocalProof, points=None
) -> Attempt:
    import numpy as np
    from flint import arb, arb_mat, ctx

    from .linalg import _up, ball_cholesky_pd, eigen_enclosures

    t0 = time.perf_counter()
    att = Attempt(prec)
    old = ctx.prec
    ctx.prec = prec
    try:
        d, N = config.d, config.N
        nd = N * d
        if points is None:
            X = config.points_arb()
            cache: dict = {}
            G = [[cache.setdefault(x, x.to_arb()) for x in row] for row in config.gram()]
            Xf = config.points_float()
        else:  # a point given by balls (not exact): its Gram matrix from the balls
            X = points
            G = [[sum((xa[k] * xb[k] for k in range(d)), arb(0)) for xb in X] for xa in X]
            Xf = np.array([[float(x.mid()) for x in row] for row in X])
        c, evals, Q = _float_model(Xf, terms, config.rank, drop_orbit, deflate)
        if not np.isfinite(c) or c == 0.0:
            att.note = "the float Hessian is zero or not finite"
            return att
        out.shift_c = c
        ev = evaluate(terms, G, ArbOps)
        grad, H = assemble(ev, X, ArbOps, ArbMat())
        curv = [sum((X[a][k] * grad[a][k] for k in range(d)), arb(0)) for a in range(N)]
        rg2 = arb(0)
        for a in range(N):
            for k in range(d):
                r = grad[a][k] - curv[a] * X[a][k]
                rg2 += r * r
        out.gradient_upper = _up(arb(rg2.upper()).sqrt())
        out.gradient_lower = float(arb(rg2.lower()).sqrt().lower()) if rg2 > 0 else 0.0
        for a in range(N):
            for k in range(d):
                H[a * d + k, a * d + k] = H[a * d + k, a * d + k] - curv[a]
        Y = _normal_basis(X, d)
        Yt = Y.transpose()
        Z = Yt * H  # N × nd
        ZY = Z * Y
        Hess = H - Y * Z - Z.transpose() * Yt + Y * (ZY * Yt)
        Nrm = Y * Yt
        K, n_orbit = orbit_generators(X, d, config.rank, drop_orbit if deflate else 0)
        out.orbit_generators_deflated = n_orbit if deflate else 0
        KtK = K.transpose() * K
        att.independence = ball_cholesky_pd(KtK)
        if not att.independence:
            att.note = "orbit generators not proven independent"
            return att
        A = Hess + Nrm * arb(c)
        if deflate:
            Pw = KtK.solve(K.transpose())
            A = A + (K * Pw) * arb(c)
        lam1 = float(evals[0])
        # the lower end: a Cholesky just below the float estimate proves every eigenvalue > s; if it fails
        # there, half the estimate still proves positive definiteness
        close = [x for x in (lam1 - 1e-12 * c, lam1 - 1e-10 * c) if x > 0]
        shifts = close + ([lam1 / 2] if lam1 > 0 else [0.0])
        tight = False
        for i, s in enumerate(shifts):
            att.cholesky = ball_cholesky_pd(_shifted(A, s))
            out.cholesky_s = s
            if att.cholesky:
                tight = i < len(close)  # a shift just below λ̂: s is a sharp lower end
                break
        if not att.cholesky:
            att.note = (
                f"ball Cholesky of H + c·P − s·I failed (s = {out.cholesky_s:.3e}; float estimate of the "
                f"smallest eigenvalue {lam1:.3e})"
            )
            return att
        # the upper end: the Rayleigh quotient of the float eigenvector (λ_min <= vᵀAv / vᵀv), in balls
        v = arb_mat([[float(x)] for x in Q[:, 0]])
        rq = (v.transpose() * A * v)[0, 0] / (v.transpose() * v)[0, 0]
        lo, hi = out.cholesky_s, _up(rq)
        method = "Cholesky of A − sI (lower) and Rayleigh quotient (upper)"
        weyl = None
        if nd <= WEYL_MAX_DIM:
            enc = eigen_enclosures(A, Q, k=3)
            if enc["ok"] and enc["bounds"]:
                weyl = {"bounds": enc["bounds"], "weyl_bound": enc["weyl"], "ostrowski_eta": enc["eta"]}
                wl, wh = enc["bounds"][0]
                if wl <= hi and lo <= wh:  # two valid enclosures: their intersection is one
                    lo, hi = max(lo, wl), min(hi, wh)
                    method += " ∩ Weyl/Ostrowski around the float eigenbasis"
                out.next_eigenvalues = [{"lower": a, "upper": b} for a, b in enc["bounds"][1:] if b < c]
        att.enclosure_ok = bool(lo > 0 and lo <= hi and (tight or weyl is not None))
        if not att.enclosure_ok:
            att.note = "positive definite, but the enclosure of the smallest eigenvalue is loose at this precision"
        out.smallest_eigenvalue = {
            "lower": lo,
            "upper": hi,
            "mid": 0.5 * (lo + hi),
            "radius": 0.5 * (hi - lo),
            "identified": hi < c,
            "method": method,
            "weyl_ostrowski": weyl,
        }
        return att
    finally:
        ctx.prec = old
        att.seconds = time.perf_counter() - t0


def prove_local_minimum(
    config: ExactConfiguration,
    terms: list,
    *,
    loss: str = "",
    params: dict | None = None,
    prec: int = 128,
    max_prec: int = 1024,
    deflate: bool = True,
    drop_orbit: int = 0,
    points=None,
) -> LocalProof:
    """Prove that ``config`` (the stacked points X = [U; V] for a pair loss) is a strict local minimum of the
    loss given by ``terms`` modulo rotations (module doc).  ``points``: balls replacing the exact points
    (a non-exact point: criticality cannot be proved).  ``deflate``/``drop_orbit``: negative controls."""
    t0 = time.perf_counter()
    N, d, r = config.N, config.d, config.rank
    n_orbit = d * r - r * (r + 1) // 2
    out = LocalProof(
        False, "", "", loss, config.name, N, d, dict(params or {}), {}, N * (d - 1), n_orbit, 0, N * (d - 1) - n_orbit
    )
    if points is None:
        crit = exact_criticality(config, terms)
    else:
        crit = Criticality(
            False,
            "none: the point is not exact",
            "criticality of an inexact point is not proved (its gradient is only enclosed)",
        )
    p = prec
    keep = (
        "gradient_upper",
        "gradient_lower",
        "shift_c",
        "cholesky_s",
        "smallest_eigenvalue",
        "next_eigenvalues",
        "precision",
    )
    best = None
    while True:
        att = _ball_attempt(config, terms, p, deflate=deflate, drop_orbit=drop_orbit, out=out, points=points)
        out.attempts.append(asdict(att))
        out.precision = p
        if att.cholesky and att.independence and (best is None or att.enclosure_ok):
            best = (asdict(att), {k: getattr(out, k) for k in keep})
        if att.cholesky and att.enclosure_ok:
            break
        if 2 * p > max_prec:
            break
        p *= 2
    if best is not None:  # report the attempt that proved it (with the tightest enclosure)
        for k, v in best[1].items():
            setattr(out, k, v)
    crit.gradient_upper = out.gradient_upper
    if points is not None and out.gradient_upper is not None:
        # the gradient's lower bound: if the enclosure excludes 0 the point is proved non-critical
        crit.detail += f"; Riemannian gradient norm <= {out.gradient_upper:.3e}"
        if out.gradient_lower:
            crit.detail += f" and >= {out.gradient_lower:.3e}: the point is proved not critical"
    out.criticality = crit.to_dict()
    last = best[0] if best is not None else out.attempts[-1]
    ok = crit.proved and bool(last["independence"]) and bool(last["cholesky"])
    out.proved = ok
    if ok:
        ev = out.smallest_eigenvalue
        out.statement = (
            f"strict local minimum modulo rotations (Morse–Bott): the Riemannian gradient is exactly 0 and "
            f"the Riemannian Hessian is > {out.cholesky_s:.6g} on the {out.nonorbit_dim} tangent directions "
            f"orthogonal to the {out.orbit_dim}-dimensional rotation orbit"
            + (
                f"; smallest such eigenvalue in [{ev['lower']:.17g}, {ev['upper']:.17g}]"
                if ev and ev["identified"] and ev["lower"] > 0
                else ""
            )
        )
        out.reason = f"proved at {out.precision} bits"
    else:
        why = []
        if not crit.proved:
            why.append("criticality not proved: " + crit.detail)
        if not last["independence"]:
            why.append("orbit generators not proven independent")
        elif not last["cholesky"]:
            why.append(last["note"] or "ball Cholesky failed")
        out.reason = "; ".join(why) + f" (tried {', '.join(str(a['precision']) for a in out.attempts)} bits)"
        out.statement = "nothing proved"
    out.seconds = time.perf_counter() - t0
    return out
