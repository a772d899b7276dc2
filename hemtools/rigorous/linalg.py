"""Rigorous linear algebra on arb balls: positive definiteness by a ball Cholesky factorisation, and
two-sided eigenvalue enclosures by Weyl's and Ostrowski's theorems around a float eigenbasis.

Every function returns a decision that holds for *every* symmetric matrix inside the balls (in particular
the exact one); an undecidable comparison is a failure (fail closed), never a pass.
"""

from __future__ import annotations

import math

BASE_BLOCK = 64


def _cholesky_rows(rows) -> bool:
    """Entry-by-entry Cholesky of the lower triangle of a list of rows of arb balls: True when every pivot
    is provably > 0 (then every symmetric matrix in the balls is positive definite)."""
    n = len(rows)
    L = [[None] * n for _ in range(n)]
    for j in range(n):
        Lj = L[j]
        s = rows[j][j]
        for k in range(j):
            s = s - Lj[k] * Lj[k]
        if not s > 0:  # arb: True only when the whole ball is > 0
            return False
        dj = s.sqrt()
        Lj[j] = dj
        inv = 1 / dj
        for i in range(j + 1, n):
            Li = L[i]
            s = rows[i][j]
            for k in range(j):
                s = s - Li[k] * Lj[k]
            Li[j] = s * inv
    return True


def _block(rows, r0, r1, c0, c1):
    from flint import arb_mat

    return arb_mat([row[c0:c1] for row in rows[r0:r1]])


def ball_cholesky_pd(A) -> bool:
    """Prove a symmetric arb_mat positive definite by a (blocked) ball Cholesky factorisation.

    A = [[A11, A21ᵀ], [A21, A22]] is positive definite iff A11 is and so is the Schur complement
    S = A22 − A21 A11⁻¹ A21ᵀ (= A22 − L21 L21ᵀ of the Cholesky factor): A11 and S recursively, down to
    blocks of 64 factored entry by entry.  Only the lower triangle of A is read (the exact matrix is
    symmetric); A11⁻¹ A21ᵀ comes from arb_mat.solve, an enclosure for every matrix in the balls.
    """
    rows = A.tolist()
    n = len(rows)
    if n <= BASE_BLOCK:
        return _cholesky_rows(rows)
    h = n // 2
    A11 = _block(rows, 0, h, 0, h)
    A21 = _block(rows, h, n, 0, h)
    A22 = _block(rows, h, n, h, n)
    if not ball_cholesky_pd(A11):
        return False
    try:
        Y = A11.solve(A21.transpose())
    except ZeroDivisionError:
        return False
    return ball_cholesky_pd(A22 - A21 * Y)


def frobenius_upper(rows, skip_diagonal: bool = False, subtract_identity: bool = False) -> float:
    """An upper bound (a float rounded up) of the Frobenius norm of a list of rows of balls."""
    from flint import arb

    total = arb(0)
    for i, row in enumerate(rows):
        for j, x in enumerate(row):
            if i == j:
                if skip_diagonal:
                    continue
                if subtract_identity:
                    x = x - 1
            u = x.abs_upper()
            total += u * u
    return _up(total.sqrt())


def _up(x) -> float:
    """A float >= every point of the ball x."""
    v = float(x.upper())
    return math.nextafter(v, math.inf) if math.isfinite(v) else v


def _down(x) -> float:
    v = float(x.lower())
    return math.nextafter(v, -math.inf) if math.isfinite(v) else v


def eigen_enclosures(A, Q, k: int = 3) -> dict:
    """Two-sided enclosures of the k smallest eigenvalues of the symmetric ball matrix A.

    Q is a float approximation of A's eigenvectors (its columns sorted by eigenvalue), taken exactly.
    B = QᵀAQ = D + E with D = diag(mid B_ii): by Weyl, |λ_i(B) − δ_i| <= ‖E‖₂ <= ‖offdiag B‖_F + max rad B_ii
    (δ sorted).  By Ostrowski, λ_i(B) = θ_i λ_i(A) with θ_i in [σ_min(Q)², σ_max(Q)²] ⊂ [1 − η, 1 + η],
    η >= ‖QᵀQ − I‖₂ (needs η < 1).  Returns the bounds as floats rounded outwards.
    """
    from flint import arb, arb_mat

    Qa = arb_mat(Q.tolist())
    Qt = Qa.transpose()
    B = Qt * A * Qa
    Brows = B.tolist()
    eta = frobenius_upper((Qt * Qa).tolist(), subtract_identity=True)
    off = frobenius_upper(Brows, skip_diagonal=True)
    mids = [Brows[i][i].mid() for i in range(len(Brows))]
    radmax = max(_up(Brows[i][i].rad()) for i in range(len(Brows)))
    e = arb(off) + arb(radmax)
    mids.sort()
    out = []
    if not eta < 1:
        return {"eta": eta, "weyl": _up(e), "bounds": [], "ok": False}
    one = arb(1)
    for delta in mids[:k]:
        lo_b, hi_b = delta - e, delta + e
        lo = lo_b / (one + eta) if lo_b > 0 else lo_b / (one - eta)
        hi = hi_b / (one - eta) if hi_b > 0 else hi_b / (one + eta)
        out.append((_down(lo), _up(hi)))
    return {"eta": eta, "weyl": _up(e), "bounds": out, "ok": True}
