"""Exact spherical configurations: coordinates in a quadratic field Q(√r), evaluated as balls on demand.

A configuration is stored as ``X = √σ · P`` with every entry of P and the scale σ = 1/|P_i|² in Q(√r)
(``QF``: a + b√r with rational a, b).  The Gram matrix σ P Pᵀ is then exact, which is what the criticality
argument and the energies need; points and Gram entries become arb balls only at the working precision
(the balls contain the exact values, whatever the precision).

What is here (the configurations of ``hemtools.configurations`` that have closed forms):

  simplex(M, d)        M <= d+1   e_1, …, e_n and q(1, …, 1), q = (1 − √(n+1))/n, n = M−1, centred:
                                  the regular simplex spanning exactly the first M−1 coordinates
  cross_polytope(N,d)  N = 2k     ±e_i, i < k (octahedron k = 3, 16-cell k = 4)
  icosahedron          12, d=3    cyclic permutations of (0, ±1, ±φ), φ = (1+√5)/2
  cell24               24, d=4    permutations of (±1, ±1, 0, 0)
  cell600              120, d=4   ±e_i, ½(±1, ±1, ±1, ±1), ½ even permutations of (±φ, ±1, ±1/φ, 0)
  e8                   240, d=8   ±e_i ± e_j and ½(±1)^8 with an even number of minus signs

Each spans exactly its first ``rank`` coordinates (checked exactly), so the rotation-orbit generators
(E_pq − E_qp)x with p < rank span the orbit's tangent space (those with both indices >= rank vanish).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

from ..errors import ArgumentError


class QF:
    """a + b√r, a and b rational, r a square-free integer >= 2 (r = 1: a rational, b = 0)."""

    __slots__ = ("a", "b", "r")

    def __init__(self, a, b=0, r: int = 1):
        self.a = Fraction(a)
        self.b = Fraction(b) if r != 1 else Fraction(0)
        self.r = r if self.b != 0 else 1
        if r == 1 and b:
            raise ValueError("QF: b != 0 needs r >= 2")

    @staticmethod
    def _common(x, y) -> int:
        if x.r != 1 and y.r != 1 and x.r != y.r:
            raise ValueError(f"QF: mixed fields Q(√{x.r}) and Q(√{y.r})")
        return x.r if x.r != 1 else y.r

    def _coerce(self, o) -> QF:
        return o if isinstance(o, QF) else QF(o)

    def __add__(self, o):
        o = self._coerce(o)
        return QF(self.a + o.a, self.b + o.b, self._common(self, o))

    __radd__ = __add__

    def __neg__(self):
        return QF(-self.a, -self.b, self.r)

    def __sub__(self, o):
        return self + (-self._coerce(o))

    def __rsub__(self, o):
        return self._coerce(o) - self

    def __mul__(self, o):
        o = self._coerce(o)
        r = self._common(self, o)
        return QF(self.a * o.a + self.b * o.b * r, self.a * o.b + self.b * o.a, r)

    __rmul__ = __mul__

    def inverse(self) -> QF:
        n = self.a * self.a - self.b * self.b * self.r  # the norm; != 0 for x != 0 (r square-free)
        if n == 0:
            raise ZeroDivisionError("QF: inverse of 0")
        return QF(self.a / n, -self.b / n, self.r)

    def __truediv__(self, o):
        return self * self._coerce(o).inverse()

    def is_zero(self) -> bool:
        return self.a == 0 and self.b == 0

    def __eq__(self, o):
        o = self._coerce(o)
        return (self - o).is_zero()

    def __hash__(self):
        return hash((self.a, self.b, self.r))

    def __float__(self):
        return float(self.a) + float(self.b) * math.sqrt(self.r)

    def sign(self) -> int:
        """Exact sign of a + b√r."""
        if self.b == 0:
            return (self.a > 0) - (self.a < 0)
        sa, sb = (self.a > 0) - (self.a < 0), (self.b > 0) - (self.b < 0)
        if sa == sb or sa == 0:
            return sb
        # opposite signs: compare a² with b² r
        big = self.a * self.a - self.b * self.b * self.r
        return sa if big > 0 else sb

    def to_arb(self):
        from flint import arb, fmpq

        x = arb(fmpq(self.a.numerator, self.a.denominator))
        if self.b:
            x += arb(fmpq(self.b.numerator, self.b.denominator)) * arb(self.r).sqrt()
        return x

    def to_sympy(self):
        import sympy

        return sympy.Rational(self.a.numerator, self.a.denominator) + \
            sympy.Rational(self.b.numerator, self.b.denominator) * sympy.sqrt(self.r)

    def __repr__(self):
        return f"{self.a}" if not self.b else f"({self.a} + {self.b}√{self.r})"


def _squarefree_part(n: int) -> tuple[int, int]:
    """n = k² m with m square-free: returns (k, m)."""
    k, m, p = 1, n, 2
    while p * p <= m:
        while m % (p * p) == 0:
            m //= p * p
            k *= p
        p += 1
    return k, m


def sqrt_qf(n: int) -> QF:
    k, m = _squarefree_part(n)
    return QF(k) if m == 1 else QF(0, k, m)


@dataclass(frozen=True)
class ExactConfiguration:
    """Points √σ·P_i in R^d with P (N×d) and σ in Q(√r); ``rank``: the points span exactly e_1..e_rank."""

    name: str
    P: tuple  # tuple of tuples of QF
    sigma: QF
    d: int
    rank: int

    @property
    def N(self) -> int:
        return len(self.P)

    def gram(self) -> list[list[QF]]:
        """The exact Gram matrix σ P Pᵀ (integer matrix products after clearing denominators)."""
        import numpy as np

        r = self.sigma.r
        for row in self.P:
            for x in row:
                r = QF._common(QF(0, 0, r) if r == 1 else QF(0, 1, r), x)
        den = 1
        for row in self.P:
            for x in row:
                den = math.lcm(den, x.a.denominator, x.b.denominator)
        A = np.array([[int(x.a * den) for x in row] for row in self.P], dtype=object)
        B = np.array([[int(x.b * den) for x in row] for row in self.P], dtype=object)
        rat = A @ A.T + r * (B @ B.T)
        irr = A @ B.T + B @ A.T
        scale = self.sigma / (den * den)
        n = self.N
        cache: dict = {}
        G = [[None] * n for _ in range(n)]
        for i in range(n):
            for j in range(n):
                key = (rat[i, j], irr[i, j])
                if key not in cache:
                    cache[key] = scale * (QF(key[0], key[1], r) if key[1] else QF(key[0]))
                G[i][j] = cache[key]
        return G

    def points_arb(self):
        """(N×d) list of arb balls containing the exact coordinates (at flint's current precision)."""
        s = self.sigma.to_arb().sqrt()
        cache: dict = {}
        out = []
        for row in self.P:
            out.append([cache.setdefault(x, x.to_arb()) * s if not x.is_zero() else s * 0 for x in row])
        return out

    def points_float(self):
        import numpy as np

        s = math.sqrt(float(self.sigma))
        return np.array([[float(x) * s for x in row] for row in self.P], dtype=np.float64)

    def stacked(self) -> ExactConfiguration:
        """[X; X]: the aligned pairs u_i = v_i of a pair loss."""
        return ExactConfiguration(f"aligned {self.name}", self.P + self.P, self.sigma, self.d, self.rank)


def _finish(name: str, rows: list[list[QF]], k: int, d: int) -> ExactConfiguration:
    if d < k:
        raise ArgumentError(f"d: {name} needs at least {k} dimensions, got d={d}")
    rows = [list(r) + [QF(0)] * (d - k) for r in rows]
    n2 = None
    for r in rows:
        v = QF(0)
        for x in r:
            v = v + x * x
        if n2 is None:
            n2 = v
        elif v != n2:
            raise AssertionError(f"{name}: rows of unequal norm")  # a construction bug, never user input
    rank = max((j + 1 for r in rows for j, x in enumerate(r) if not x.is_zero()), default=0)
    return ExactConfiguration(name, tuple(tuple(r) for r in rows), n2.inverse(), d, rank)


def simplex(M: int, d: int) -> ExactConfiguration:
    if M < 2 or d < M - 1:
        raise ArgumentError(f"simplex: needs 2 <= M <= d+1, got M={M}, d={d}")
    n = M - 1
    q = (QF(1) - sqrt_qf(n + 1)) / n
    verts = [[QF(1) if j == i else QF(0) for j in range(n)] for i in range(n)] + [[q] * n]
    c = (QF(1) + q) / (n + 1)
    rows = [[x - c for x in v] for v in verts]
    return _finish(f"simplex({M})", rows, n, d)


def cross_polytope(N: int, d: int) -> ExactConfiguration:
    if N < 4 or N % 2 or N // 2 > d:
        raise ArgumentError(f"cross_polytope: needs an even N >= 4 with N/2 <= d, got N={N}, d={d}")
    k = N // 2
    rows = [[QF(s) if j == i else QF(0) for j in range(k)] for s in (1, -1) for i in range(k)]
    return _finish({6: "octahedron", 8: "16-cell"}.get(N, f"cross_polytope({N})") if k == {6: 3, 8: 4}.get(N) else
                   f"cross_polytope({N})", rows, k, d)


_PHI = QF(Fraction(1, 2), Fraction(1, 2), 5)


def icosahedron(d: int = 3) -> ExactConfiguration:
    rows = []
    for a in (1, -1):
        for b in (_PHI, -_PHI):
            a_ = QF(a)
            rows += [[QF(0), a_, b], [a_, b, QF(0)], [b, QF(0), a_]]
    return _finish("icosahedron", rows, 3, d)


def cell24(d: int = 4) -> ExactConfiguration:
    rows = []
    for i, j in itertools.combinations(range(4), 2):
        for si, sj in itertools.product((1, -1), repeat=2):
            v = [QF(0)] * 4
            v[i], v[j] = QF(si), QF(sj)
            rows.append(v)
    return _finish("24-cell", rows, 4, d)


def _even_permutations(n: int):
    for p in itertools.permutations(range(n)):
        if sum(1 for i in range(n) for j in range(i + 1, n) if p[i] > p[j]) % 2 == 0:
            yield p


def cell600(d: int = 4) -> ExactConfiguration:
    half = Fraction(1, 2)
    rows = [[QF(s) if j == i else QF(0) for j in range(4)] for i in range(4) for s in (1, -1)]
    rows += [[QF(x) for x in p] for p in itertools.product((half, -half), repeat=4)]
    base = (_PHI * half, QF(half), (_PHI - 1) * half, QF(0))
    for signs in itertools.product((1, -1), repeat=3):
        vals = [base[0] * signs[0], base[1] * signs[1], base[2] * signs[2], QF(0)]
        for p in _even_permutations(4):
            rows.append([vals[p[k]] for k in range(4)])
    return _finish("600-cell", rows, 4, d)


def e8(d: int = 8) -> ExactConfiguration:
    rows = []
    for i, j in itertools.combinations(range(8), 2):
        for si, sj in itertools.product((1, -1), repeat=2):
            v = [QF(0)] * 8
            v[i], v[j] = QF(si), QF(sj)
            rows.append(v)
    half = Fraction(1, 2)
    for signs in itertools.product((1, -1), repeat=8):
        if signs.count(-1) % 2 == 0:
            rows.append([QF(s * half) for s in signs])
    return _finish("E8 roots", rows, 8, d)


# name -> (builder(N, d), fits(N, d)); names as in hemtools.configurations (and its aliases)
EXACT = {
    "simplex": (lambda N, d: simplex(N, d), lambda N, d: 2 <= N <= d + 1),
    "cross_polytope": (lambda N, d: cross_polytope(N, d), lambda N, d: N >= 4 and N % 2 == 0 and N // 2 <= d),
    "octahedron": (lambda N, d: cross_polytope(6, d), lambda N, d: N == 6 and d >= 3),
    "icosahedron": (lambda N, d: icosahedron(d), lambda N, d: N == 12 and d >= 3),
    "cell24": (lambda N, d: cell24(d), lambda N, d: N == 24 and d >= 4),
    "24-cell": (lambda N, d: cell24(d), lambda N, d: N == 24 and d >= 4),
    "cell600": (lambda N, d: cell600(d), lambda N, d: N == 120 and d >= 4),
    "600-cell": (lambda N, d: cell600(d), lambda N, d: N == 120 and d >= 4),
    "e8": (lambda N, d: e8(d), lambda N, d: N == 240 and d >= 8),
    "e8_roots": (lambda N, d: e8(d), lambda N, d: N == 240 and d >= 8),
}


def exact_configuration(name: str, N: int, d: int) -> ExactConfiguration:
    """The exact configuration ``name`` with N points in R^d (ArgumentError if it has no closed form here)."""
    if name not in EXACT:
        raise ArgumentError(f"configuration: {name!r} has no exact construction for --rigorous "
                            f"(exact: {', '.join(sorted(EXACT))})")
    build, fits = EXACT[name]
    if not fits(N, d):
        raise ArgumentError(f"configuration: {name} does not exist with N={N} points in d={d}")
    return build(N, d)


def exact_names_fitting(N: int, d: int) -> list[str]:
    return [n for n, (_, fits) in EXACT.items() if fits(N, d)]
