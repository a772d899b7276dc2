"""Exactly constructed spherical configurations, and recognition of a found configuration.

A configuration is an (N, d) float64 tensor of unit rows.  Constructors build points from closed forms
(no optimisation, with one documented exception: ``thomson8``), so that the loss at a claimed minimiser can
be evaluated exactly and compared with what the solver finds.  A configuration of k dimensions asked for in
d > k dimensions is embedded with zero coordinates.

What is here (SPEC §3; Cohn & Kumar, J. Amer. Math. Soc. 20 (2007), Table 1, the list in
``hemtools/data/universal_optima.csv``):

  name              N       d    construction
  simplex           n<=d+1  -    centred standard basis of R^n (inner products −1/(n−1))
  polygon           n       2    regular n-gon (universally optimal in d = 2)
  cross_polytope    2k<=2d  k    ±e_i (octahedron for k = 3)
  hypercube         2^k     k    (±1, …, ±1)/√k (cube for k = 3; not an energy minimiser for k >= 3)
  icosahedron       12      3    cyclic permutations of (0, ±1, ±φ)
  dodecahedron      20      3    (±1, ±1, ±1) and cyclic permutations of (0, ±1/φ, ±φ)
  cell24            24      4    permutations of (±1, ±1, 0, 0) (the D4 roots)
  cell600           120     4    (±1,0,0,0), ½(±1,±1,±1,±1), ½ even permutations of (±φ, ±1, ±1/φ, 0)
  e8                240     8    the E8 roots ±e_i ± e_j and ½(±1)^8 with an even number of minus signs
  e7_lines          56      7    E8 roots with inner product ½ with a fixed root, on its complement
  schlafli          27      6    the same construction once more (derived code of e7_lines at 1/3)
  clebsch           16      5    (±1)^5/√5 with an even number of minus signs (the 5-demicube)
  leech             196560  24   minimal vectors of the Leech lattice (from the extended Golay code)
  leech_kissing     4600    23   derived code of leech at ½
  isotropic_891     891     22   derived code of leech_kissing at 1/3
  lines276          552     23   Leech minimal vectors w with w·v = 3 for a vector v of norm 6
  mclaughlin        275     22   derived code of lines276 at 1/5
  srg162            162     21   derived code of mclaughlin at 1/6
  isotropic_112     112     21   derived code of mclaughlin at −1/4
  higman_sims       100     22   eigenspace (eigenvalue −8) of the Higman–Sims graph, built from the Golay code
  triangular_bipyramid 5    3    poles and an equatorial triangle (the Thomson minimiser for N = 5)
  thomson8          8       3    the square antiprism minimising the Coulomb (Riesz s = 1) energy: its one
                                 free parameter (the polar angle) is found by a 1-D root solve, so it is
                                 an optimisation result to ~1e-15, not a closed form
Aliases: octahedron (cross_polytope with 6 points), cube (hypercube with 8), e8_roots, hemicube,
24-cell, 600-cell (the names in universal_optima.csv and in `--claim config:24-cell`).

The *derived code* of a configuration C at a point p and inner product t is {x ∈ C : x·p = t}, moved to
the unit sphere of p^⊥ by x ↦ (x − t p)/√(1 − t²); inner products map as u ↦ (u − t²)/(1 − t²)
(Cohn & Kumar §1; it is how the table's smaller universal optima descend from E8 and Leech).

Recognition (:func:`recognise`) compares rotation- and permutation-invariant fingerprints (the sorted inner
products) and confirms a match by an orthogonal Procrustes fit after finding the point-to-point matching.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

from .errors import ArgumentError

Tensor = torch.Tensor

PHI = (1.0 + math.sqrt(5.0)) / 2.0

# Recognition compares Gram matrices of sizes up to this many points (the fingerprint holds N² numbers).
MAX_RECOGNISE_POINTS = 5000


def _embed(x: Tensor, d: int) -> Tensor:
    """Pad (N, k) points with zero coordinates to (N, d), d >= k."""
    n, k = x.shape
    if d < k:
        raise ArgumentError(f"d: the configuration needs at least {k} dimensions, got d={d}")
    out = torch.zeros(n, d, dtype=x.dtype)
    out[:, :k] = x
    return out


def _unit(x) -> Tensor:
    x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    return x / x.norm(dim=1, keepdim=True)


# --------------------------------------------------------------------------------------------------------
# families


def regular_simplex(n: int, d: int | None = None) -> Tensor:
    """n points with pairwise inner product −1/(n−1), spanning R^{n−1}, embedded in R^d (d >= n−1).

    Built from the centred standard basis e_i − 1/n of R^n, expressed in an orthonormal basis of the
    sum-zero hyperplane (the last n−1 left singular vectors of the centring matrix), then normalised.
    """
    if n < 2:
        raise ArgumentError(f"n: a simplex needs at least 2 points, got {n}")
    d = n - 1 if d is None else d
    if d < n - 1:
        raise ArgumentError(f"d: a regular simplex of {n} points needs d >= {n - 1}, got d={d}")
    c = torch.eye(n, dtype=torch.float64) - 1.0 / n
    # orthonormal basis of the sum-zero hyperplane: Householder-free, from the eigenvectors of c
    evals, evecs = torch.linalg.eigh(c)
    basis = evecs[:, 1:]  # eigenvalue 0 (the all-ones direction) comes first
    pts = c @ basis
    pts = pts / pts.norm(dim=1, keepdim=True)
    return _embed(pts, d)


def simplex_gram(n: int, dtype=torch.float64) -> Tensor:
    """The Gram matrix of the regular simplex: 1 on the diagonal, −1/(n−1) off it."""
    g = torch.full((n, n), -1.0 / (n - 1), dtype=dtype)
    g.fill_diagonal_(1.0)
    return g


def regular_polygon(n: int, d: int = 2) -> Tensor:
    """The regular n-gon (cos 2πk/n, sin 2πk/n) in the first two coordinates of R^d."""
    k = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    return _embed(torch.stack([torch.cos(k), torch.sin(k)], 1), d)


def cross_polytope(n: int, d: int | None = None) -> Tensor:
    """The n = 2k points ±e_1, …, ±e_k (the octahedron for k = 3) in R^d, d >= k."""
    if n < 2 or n % 2:
        raise ArgumentError(f"N: a cross-polytope has an even number of points >= 2, got {n}")
    k = n // 2
    e = torch.eye(k, dtype=torch.float64)
    return _embed(torch.cat([e, -e]), k if d is None else d)


def hypercube(n: int, d: int | None = None) -> Tensor:
    """The n = 2^k vertices (±1, …, ±1)/√k of the k-cube in R^d, d >= k."""
    k = int(round(math.log2(n))) if n >= 1 else 0
    if n < 4 or 2 ** k != n:
        raise ArgumentError(f"N: a hypercube has 2^k >= 4 points, got {n}")
    pts = np.array(list(itertools.product((1.0, -1.0), repeat=k))) / math.sqrt(k)
    return _embed(torch.as_tensor(pts), k if d is None else d)


# --------------------------------------------------------------------------------------------------------
# exceptional configurations (cached in their own dimension; copies are returned)


@cache
def _icosahedron() -> Tensor:
    pts = []
    for a in (1.0, -1.0):
        for b in (PHI, -PHI):
            pts += [(0.0, a, b), (a, b, 0.0), (b, 0.0, a)]
    return _unit(pts)


@cache
def _dodecahedron() -> Tensor:
    pts = [p for p in itertools.product((1.0, -1.0), repeat=3)]
    for a in (1 / PHI, -1 / PHI):
        for b in (PHI, -PHI):
            pts += [(0.0, a, b), (a, b, 0.0), (b, 0.0, a)]
    return _unit(pts)


@cache
def _cell24() -> Tensor:
    pts = []
    for i, j in itertools.combinations(range(4), 2):
        for si, sj in itertools.product((1.0, -1.0), repeat=2):
            v = [0.0] * 4
            v[i], v[j] = si, sj
            pts.append(v)
    return _unit(pts)


def _even_permutations(n: int):
    for p in itertools.permutations(range(n)):
        inversions = sum(1 for i in range(n) for j in range(i + 1, n) if p[i] > p[j])
        if inversions % 2 == 0:
            yield p


@cache
def _cell600() -> Tensor:
    pts = []
    for i in range(4):
        for s in (1.0, -1.0):
            v = [0.0] * 4
            v[i] = s
            pts.append(v)
    pts += [list(p) for p in itertools.product((0.5, -0.5), repeat=4)]
    base = (PHI / 2, 0.5, 1 / (2 * PHI), 0.0)
    for signs in itertools.product((1.0, -1.0), repeat=3):
        vals = [base[0] * signs[0], base[1] * signs[1], base[2] * signs[2], 0.0]
        for p in _even_permutations(4):
            pts.append([vals[p[k]] for k in range(4)])
    return _unit(pts)


@cache
def _e8() -> Tensor:
    pts = []
    for i, j in itertools.combinations(range(8), 2):
        for si, sj in itertools.product((1.0, -1.0), repeat=2):
            v = [0.0] * 8
            v[i], v[j] = si, sj
            pts.append(v)
    for signs in itertools.product((0.5, -0.5), repeat=8):
        if sum(1 for s in signs if s < 0) % 2 == 0:
            pts.append(list(signs))
    return _unit(pts)


@cache
def _clebsch() -> Tensor:
    pts = [s for s in itertools.product((1.0, -1.0), repeat=5) if sum(1 for v in s if v < 0) % 2 == 0]
    return _unit(pts)


def derived_code(x: Tensor, index: int, t: float, tol: float = 1e-9) -> Tensor:
    """The derived code of x at point ``index`` and inner product t, in coordinates of R^{d−1}.

    {y ∈ x : y·p = t} is mapped to (y − t p)/√(1 − t²) ∈ p^⊥ and written in an orthonormal basis of p^⊥
    (a Householder reflection sends p to e_d; the last coordinate is then 0 to round-off and dropped).
    """
    x = x.to(torch.float64)
    p = x[index]
    sel = x[(x @ p - t).abs() <= tol]
    y = (sel - t * p) / math.sqrt(1.0 - t * t)
    d = x.shape[1]
    e = torch.zeros(d, dtype=torch.float64)
    e[-1] = 1.0
    w = p - e
    if float(w.norm()) > 1e-12:
        w = w / w.norm()
        y = y - 2.0 * (y @ w)[:, None] * w[None, :]
    return y[:, :-1] / y[:, :-1].norm(dim=1, keepdim=True)


@cache
def _e7_lines() -> Tensor:
    return derived_code(_e8(), 0, 0.5)


@cache
def _schlafli() -> Tensor:
    return derived_code(_e7_lines(), 0, 1.0 / 3.0)


@cache
def golay_code() -> np.ndarray:
    """The 4096 words of the extended binary Golay code, as a (4096, 24) 0/1 array.

    Generator [I_12 | J − A], A the adjacency matrix of the icosahedron graph (Conway & Sloane, SPLAG
    ch. 11); the weight distribution 1, 759, 2576, 759, 1 is checked in the tests.
    """
    ico = _icosahedron().numpy()
    a = (np.abs(ico @ ico.T - 1 / math.sqrt(5)) < 1e-9).astype(np.int64)
    gen = np.concatenate([np.eye(12, dtype=np.int64), 1 - a], axis=1)
    msgs = np.array(list(itertools.product((0, 1), repeat=12)), dtype=np.int64)
    return (msgs @ gen) % 2


@cache
def _leech_integer() -> np.ndarray:
    """The 196560 minimal vectors of √8·Λ24 as integer vectors with Σx² = 32 (Conway & Sloane ch. 4).

    Shapes: (±2^8, 0^16) on the octads with an even number of minus signs (97152); (∓3, ±1^23) from
    every codeword c and position i (98304: x_j = 1 on c, −1 off c, and x_i = −3 if i ∈ c else 3);
    (±4, ±4, 0^22) (1104).
    """
    words = golay_code()
    out = []
    octads = words[words.sum(1) == 8]
    even_signs = np.array([s for s in itertools.product((1, -1), repeat=8) if s.count(-1) % 2 == 0])
    for o in octads:
        pos = np.nonzero(o)[0]
        block = np.zeros((len(even_signs), 24), dtype=np.int64)
        block[:, pos] = 2 * even_signs
        out.append(block)
    base = np.where(words == 1, 1, -1)  # (4096, 24)
    for i in range(24):
        block = base.copy()
        block[:, i] = np.where(words[:, i] == 1, -3, 3)
        out.append(block)
    for i, j in itertools.combinations(range(24), 2):
        for si, sj in itertools.product((4, -4), repeat=2):
            v = np.zeros(24, dtype=np.int64)
            v[i], v[j] = si, sj
            out.append(v[None, :])
    return np.concatenate(out)


@cache
def _leech() -> Tensor:
    return torch.as_tensor(_leech_integer() / math.sqrt(32.0))


@cache
def _leech_kissing() -> Tensor:
    return derived_code(_leech(), 0, 0.5)


@cache
def _isotropic_891() -> Tensor:
    return derived_code(_leech_kissing(), 0, 1.0 / 3.0)


@cache
def _lines276() -> Tensor:
    # v = (5, 1^23) lies in √8·Λ24 with Σv² = 48 (norm 6); the minimal vectors w with (w·v)/8 = 3 are
    # the 552 = 2·276 vectors with w and v − w both minimal; projected to v^⊥ they are the 276 lines.
    x = _leech_integer()
    v = np.ones(24, dtype=np.int64)
    v[0] = 5
    w = x[(x @ v) == 24].astype(np.float64)
    vf = v.astype(np.float64)
    y = w - np.outer((w @ vf) / (vf @ vf), vf)  # projection onto v^⊥
    full = torch.as_tensor(np.concatenate([y, vf[None, :]]))
    full = full / full.norm(dim=1, keepdim=True)
    # write in coordinates of v^⊥ with the same Householder step as derived_code
    return derived_code(full, full.shape[0] - 1, 0.0, tol=1e-9)


@cache
def _mclaughlin() -> Tensor:
    return derived_code(_lines276(), 0, 0.2)


@cache
def _srg162() -> Tensor:
    return derived_code(_mclaughlin(), 0, 1.0 / 6.0)


@cache
def _isotropic_112() -> Tensor:
    return derived_code(_mclaughlin(), 0, -0.25)


def _srg_embedding(adjacency: np.ndarray, eigenvalue: float) -> Tensor:
    """Unit vectors of a strongly regular graph's eigenspace: G = (n/m)·E_θ, a spherical two-distance set."""
    w, v = np.linalg.eigh(adjacency.astype(np.float64))
    sel = np.abs(w - eigenvalue) < 1e-6
    pts = v[:, sel]
    return _unit(pts)


@cache
def _higman_sims() -> Tensor:
    # Steiner system S(3,6,22): octads of the Golay code through positions 0 and 1, with those removed.
    words = golay_code()
    octads = words[(words.sum(1) == 8) & (words[:, 0] == 1) & (words[:, 1] == 1)][:, 2:]  # (77, 22)
    n = 1 + 22 + 77
    a = np.zeros((n, n), dtype=np.int64)
    a[0, 1:23] = a[1:23, 0] = 1  # ∞ ~ every point
    a[1:23, 23:] = octads.T  # point ~ hexad containing it
    a[23:, 1:23] = octads
    disjoint = (octads @ octads.T) == 0  # hexad ~ disjoint hexad
    a[23:, 23:] = disjoint.astype(np.int64)
    return _srg_embedding(a, -8.0)


@cache
def _triangular_bipyramid() -> Tensor:
    s3 = math.sqrt(3.0) / 2
    return _unit([(0, 0, 1), (0, 0, -1), (1, 0, 0), (-0.5, s3, 0), (-0.5, -s3, 0)])


def square_antiprism(theta: float) -> Tensor:
    """Square antiprism: 4 points at polar angle θ (azimuths kπ/2), 4 at π−θ (azimuths π/4 + kπ/2)."""
    pts = []
    for k in range(4):
        a = k * math.pi / 2
        pts.append((math.sin(theta) * math.cos(a), math.sin(theta) * math.sin(a), math.cos(theta)))
    for k in range(4):
        a = math.pi / 4 + k * math.pi / 2
        pts.append((math.sin(theta) * math.cos(a), math.sin(theta) * math.sin(a), -math.cos(theta)))
    return _unit(pts)


@cache
def thomson8_angle() -> float:
    """The polar angle of the square antiprism that minimises the Coulomb energy Σ 1/r (a 1-D root solve).

    The energy restricted to the antiprism family is smooth in θ; its derivative (a closed form in θ,
    evaluated in float64) changes sign once on [0.8, 1.2]; brentq brackets it to xtol 1e-15.
    """
    from scipy.optimize import brentq

    def energy(theta: float) -> float:
        x = square_antiprism(theta).numpy()
        r = np.sqrt(np.clip(2 - 2 * x @ x.T, 0, None))[np.triu_indices(8, 1)]
        return float((1 / r).sum())

    def slope(theta: float, h: float = 1e-6) -> float:
        # central difference of an analytic function: error O(h²·E''') ≈ 1e-12, far below what brentq needs
        return (energy(theta + h) - energy(theta - h)) / (2 * h)

    return float(brentq(slope, 0.8, 1.2, xtol=1e-15, rtol=4 * np.finfo(float).eps))


@cache
def _thomson8() -> Tensor:
    return square_antiprism(thomson8_angle())


# --------------------------------------------------------------------------------------------------------
# the registry of named configurations


@dataclass(frozen=True)
class KnownConfiguration:
    name: str
    build: Callable[[int, int], Tensor]  # (N, d) -> points, raises ValueError when (N, d) does not fit
    fits: Callable[[int, int], bool]
    description: str
    alias_of: str | None = None  # another name for the same configuration (recognition reports the canonical one)
    universal: bool = False  # universally optimal (Cohn & Kumar 2007) in its own dimension


def _fixed(name: str, builder: Callable[[], Tensor], n0: int, d0: int, description: str,
           universal: bool = False, alias_of: str | None = None) -> KnownConfiguration:
    def build(n: int, d: int) -> Tensor:
        return _embed(builder().clone(), d)

    return KnownConfiguration(name, build, lambda n, d: n == n0 and d >= d0, description, alias_of, universal)


def _is_power_of_two(n: int) -> bool:
    return n >= 4 and (n & (n - 1)) == 0


_ENTRIES = [
    KnownConfiguration("simplex", lambda n, d: regular_simplex(n, d), lambda n, d: 2 <= n <= d + 1,
                       "regular simplex: N <= d+1 points, inner products −1/(N−1)", universal=True),
    KnownConfiguration("polygon", lambda n, d: regular_polygon(n, d), lambda n, d: n >= 3 and d >= 2,
                       "regular N-gon in a plane (universally optimal for d = 2)", universal=True),
    KnownConfiguration("cross_polytope", lambda n, d: cross_polytope(n, d),
                       lambda n, d: n >= 4 and n % 2 == 0 and n // 2 <= d,
                       "cross-polytope ±e_i: N = 2k points, k <= d (octahedron for k = 3)", universal=True),
    KnownConfiguration("hypercube", lambda n, d: hypercube(n, d),
                       lambda n, d: _is_power_of_two(n) and int(math.log2(n)) <= d,
                       "hypercube (±1,…,±1)/√k: N = 2^k points, k <= d (not an energy minimiser for k >= 3)"),
    _fixed("icosahedron", _icosahedron, 12, 3, "regular icosahedron: 12 points, d >= 3", universal=True),
    _fixed("dodecahedron", _dodecahedron, 20, 3, "regular dodecahedron: 20 points, d >= 3"),
    _fixed("cell24", _cell24, 24, 4, "24-cell (D4 roots): 24 points, d >= 4"),
    _fixed("cell600", _cell600, 120, 4, "600-cell: 120 points, d >= 4", universal=True),
    _fixed("e8", _e8, 240, 8, "E8 root system: 240 points, d >= 8", universal=True),
    _fixed("e7_lines", _e7_lines, 56, 7, "28 equiangular lines of E7 (56 points), d >= 7", universal=True),
    _fixed("schlafli", _schlafli, 27, 6, "Schläfli configuration (E6, 27 points), d >= 6", universal=True),
    _fixed("clebsch", _clebsch, 16, 5, "5-demicube / Clebsch configuration: 16 points, d >= 5", universal=True),
    _fixed("higman_sims", _higman_sims, 100, 22, "Higman–Sims configuration: 100 points, d >= 22", universal=True),
    _fixed("isotropic_112", _isotropic_112, 112, 21, "isotropic subspaces (q = 3): 112 points, d >= 21",
           universal=True),
    _fixed("srg162", _srg162, 162, 21, "strongly regular graph configuration: 162 points, d >= 21", universal=True),
    _fixed("mclaughlin", _mclaughlin, 275, 22, "McLaughlin configuration: 275 points, d >= 22", universal=True),
    _fixed("isotropic_891", _isotropic_891, 891, 22, "isotropic subspaces: 891 points, d >= 22", universal=True),
    _fixed("lines276", _lines276, 552, 23, "276 equiangular lines (552 points), d >= 23", universal=True),
    _fixed("leech_kissing", _leech_kissing, 4600, 23, "kissing configuration of the Leech lattice's minimal "
           "vectors: 4600 points, d >= 23", universal=True),
    _fixed("leech", _leech, 196560, 24, "Leech lattice minimal vectors: 196560 points, d >= 24", universal=True),
    _fixed("triangular_bipyramid", _triangular_bipyramid, 5, 3,
           "triangular bipyramid: 5 points, d >= 3 (the Thomson minimiser for N = 5)"),
    _fixed("thomson8", _thomson8, 8, 3, "square antiprism minimising the Coulomb energy: 8 points, d >= 3 "
           "(polar angle from a 1-D root solve, not a closed form)"),
    # aliases
    KnownConfiguration("octahedron", lambda n, d: cross_polytope(n, d), lambda n, d: n == 6 and d >= 3,
                       "regular octahedron = cross_polytope with 6 points, d >= 3", alias_of="cross_polytope",
                       universal=True),
    KnownConfiguration("cube", lambda n, d: hypercube(n, d), lambda n, d: n == 8 and d >= 3,
                       "cube = hypercube with 8 points, d >= 3", alias_of="hypercube"),
    _fixed("e8_roots", _e8, 240, 8, "= e8", universal=True, alias_of="e8"),
    _fixed("hemicube", _clebsch, 16, 5, "= clebsch", universal=True, alias_of="clebsch"),
    _fixed("24-cell", _cell24, 24, 4, "= cell24", alias_of="cell24"),
    _fixed("600-cell", _cell600, 120, 4, "= cell600", universal=True, alias_of="cell600"),
]

KNOWN: dict[str, KnownConfiguration] = {k.name: k for k in _ENTRIES}


def construct(name: str, n: int, d: int) -> Tensor:
    """A named configuration of ``n`` points in R^d (ValueError for an unknown name or a size that does not fit)."""
    if name not in KNOWN:
        raise ArgumentError(f"configuration: unknown name {name!r}; known: {', '.join(sorted(KNOWN))}")
    k = KNOWN[name]
    if not k.fits(n, d):
        raise ArgumentError(f"configuration: {name} does not exist with N={n} points in d={d} ({k.description})")
    return k.build(n, d)


def names_fitting(n: int, d: int, canonical: bool = True) -> list[str]:
    """Names of the known configurations with n points in R^d (canonical names only by default)."""
    return [k.name for k in KNOWN.values() if k.fits(n, d) and not (canonical and k.alias_of)]


# --------------------------------------------------------------------------------------------------------
# invariants and recognition


def fingerprint(x: Tensor) -> Tensor:
    """Sorted off-diagonal inner products: invariant under rotations and permutations of the points."""
    g = x @ x.T
    n = g.shape[0]
    off = g[~torch.eye(n, dtype=torch.bool)]
    return torch.sort(off).values


def procrustes_residual(x: Tensor, y: Tensor) -> float:
    """min_Q ‖x Q − y‖_max over orthogonal Q, for points already matched row to row."""
    u, _, vt = torch.linalg.svd(x.T @ y)
    q = u @ vt
    return float((x @ q - y).abs().max())


def _procrustes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(x.T @ y)
    return u @ vt


class _Budget(Exception):
    pass


def match_points(x: Tensor, y: Tensor, tol: float = 1e-6, max_nodes: int = 20000
                 ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """A permutation π and an orthogonal Q with x Q ≈ y[π], or None if there is none (or none was found).

    A backtracking search for a Gram-preserving bijection (the graph-isomorphism search with forward
    checking): ``cand[p, q]`` says that y_q is still a possible image of x_p, i.e. its inner products with
    the images assigned so far agree with x_p's within ``10·tol + 1e-9``.  The next point to assign is the
    most constrained one (fewest candidates; forced ones are propagated at once), preferring points that
    enlarge the span.  As soon as the assigned points span x's span, Q is fitted on them (orthogonal
    Procrustes), every x_i is paired with its nearest y_j, Q is refitted on all pairs and the assignment is
    accepted if the result is a bijection with max_i ‖x_i Q − y_π(i)‖ <= tol; otherwise the search
    backtracks.  ``max_nodes`` bounds the work; exhausting it returns None.
    Returns (π, Q, residual).
    """
    xn = x.detach().to(torch.float64).cpu().numpy()
    yn = y.detach().to(torch.float64).cpu().numpy()
    if xn.shape != yn.shape:
        return None
    n = xn.shape[0]
    gx, gy = xn @ xn.T, yn @ yn.T
    ctol = 10 * tol + 1e-9
    sv = np.linalg.svd(xn, compute_uv=False)
    target_rank = int((sv > 1e-6 * sv[0]).sum())
    nodes = 0

    def leaf(ax: list[int], ay: list[int]):
        q = _procrustes(xn[ax], yn[ay])
        z = xn @ q
        d2 = (z * z).sum(1)[:, None] + (yn * yn).sum(1)[None, :] - 2 * z @ yn.T
        perm = np.argmin(d2, axis=1)
        if len(np.unique(perm)) != n:
            return None
        q = _procrustes(xn, yn[perm])
        res = float(np.linalg.norm(xn @ q - yn[perm], axis=1).max())
        return (perm, q, res) if res <= tol else None

    def assign(cand: np.ndarray, p: int, q: int) -> np.ndarray:
        c = cand & (np.abs(gy[None, :, q] - gx[:, p, None]) <= ctol)
        c[:, q] = False
        c[p, :] = False
        c[p, q] = True  # keep the record of p's image
        return c

    sq = (xn * xn).sum(1)

    def span_residual(basis: list[np.ndarray], v: np.ndarray) -> np.ndarray:
        """v minus its projection onto the span of the orthonormal ``basis`` (projected twice: one pass of
        classical Gram–Schmidt loses orthogonality, two do not)."""
        if not basis:
            return v
        b = np.stack(basis)
        for _ in range(2):
            v = v - (v @ b.T) @ b
        return v

    def extend(span: tuple, p: int) -> tuple:
        """(basis, proj2) with x_p's direction added when it enlarges the span; proj2[i] = ‖x_i's projection
        onto the span‖², kept up to date so that no node re-projects every point (O(n d) per new vector)."""
        basis, proj2 = span
        r = span_residual(basis, xn[p])
        nr = np.linalg.norm(r)
        if nr <= 1e-6:
            return span
        b = r / nr
        return basis + [b], proj2 + (xn @ b) ** 2

    def dfs(cand: np.ndarray, ax: list[int], ay: list[int], span: tuple):
        nonlocal nodes
        nodes += 1
        if nodes > max_nodes:
            raise _Budget
        # unit propagation: x points with exactly one possible image take it
        while len(span[0]) < target_rank:
            free = np.ones(n, dtype=bool)
            free[ax] = False
            counts = cand.sum(1)
            if bool((counts[free] == 0).any()):
                return None
            forced = np.nonzero(free & (counts == 1))[0]
            if forced.size == 0:
                break
            for p in forced:
                qs = np.nonzero(cand[p])[0]
                if qs.size != 1:
                    return None
                cand = assign(cand, int(p), int(qs[0]))
                ax, ay = ax + [int(p)], ay + [int(qs[0])]
                span = extend(span, int(p))
        if len(span[0]) >= target_rank:
            return leaf(ax, ay)
        free = np.ones(n, dtype=bool)
        free[ax] = False
        idx = np.nonzero(free)[0]
        counts = cand[idx].sum(1)
        # ‖residual‖² = ‖x_i‖² − ‖projection‖² (a residual of 1e-6 is 1e-12 here, far above the round-off)
        grows = (sq[idx] - span[1][idx]) > 1e-12
        # most constrained first; among equals, a point that enlarges the span
        order = np.lexsort((~grows, counts))
        p = int(idx[order[0]])
        new_span = extend(span, p)
        for q in np.nonzero(cand[p])[0]:
            found = dfs(assign(cand, p, int(q)), ax + [p], ay + [int(q)], new_span)
            if found is not None:
                return found
        return None

    try:
        return dfs(np.ones((n, n), dtype=bool), [], [], ([], np.zeros(n)))
    except _Budget:
        return None


@dataclass(frozen=True)
class Recognition:
    name: str
    residual: float  # max_i ‖x_i Q − y_π(i)‖ after the Procrustes fit with the matching π
    fingerprint_residual: float = math.nan  # max deviation of the sorted inner products
    also: tuple[str, ...] = field(default_factory=tuple)  # other names of the same configuration

    def to_dict(self) -> dict:
        return {"name": self.name, "residual": self.residual, "fingerprint_residual": self.fingerprint_residual,
                "also": list(self.also)}


def recognise(x: Tensor, tol: float = 1e-6, names: list[str] | None = None) -> Recognition | None:
    """The known configuration congruent to ``x`` (up to rotation and relabelling), or None.

    A candidate (a known configuration with the same N that fits in R^d) must pass two measured tests,
    both against ``tol``: the sorted inner products agree (max deviation), and a matching π with an
    orthogonal Q exists with max_i ‖x_i Q − y_π(i)‖ <= tol (:func:`match_points`).  Among several
    congruent names (e.g. the square is a polygon, a cross-polytope and a hypercube) the first in
    :data:`KNOWN` is returned and the others are listed in ``also``.  Configurations of more than
    :data:`MAX_RECOGNISE_POINTS` points are not compared (the fingerprint has N² entries): None; nor is
    anything when no known configuration has N points in R^d.
    """
    x = x.detach().to(torch.float64).cpu()
    n, d = x.shape
    if n > MAX_RECOGNISE_POINTS or not bool(torch.isfinite(x).all()):
        return None
    if not any(k.fits(n, d) and (names is None or k.name in names) for k in KNOWN.values()):
        return None  # beyond the catalogue's sizes: no N² fingerprint for nothing to compare with
    fp = fingerprint(x)
    hits: list[tuple[str, float, float]] = []
    for k in KNOWN.values():
        if names is not None and k.name not in names:
            continue
        if not k.fits(n, d):
            continue
        ref = k.build(n, d)
        fres = float((fingerprint(ref) - fp).abs().max())
        if fres > tol:
            continue
        m = match_points(x, ref, tol)
        if m is None:
            continue
        hits.append((k.alias_of or k.name, m[2], fres))
    if not hits:
        return None
    canon = []
    for name, _, _ in hits:
        if name not in canon:
            canon.append(name)
    first = next(h for h in hits if h[0] == canon[0])
    aliases = [k.name for k in KNOWN.values() if k.alias_of == canon[0] and k.fits(n, d)]
    return Recognition(canon[0], first[1], first[2], tuple(canon[1:] + aliases))


def rank(x: Tensor, rel: float = 1e-8) -> int:
    """Numerical rank of the span of the points: singular values above rel · σ_max."""
    s = torch.linalg.svdvals(x.to(torch.float64))
    return int((s > rel * s[0]).sum()) if s.numel() and float(s[0]) > 0 else 0


def random_rotation(d: int, generator: torch.Generator) -> Tensor:
    """A Haar-random orthogonal d×d matrix (QR of a Gaussian matrix with the sign fix)."""
    q, r = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def inner_product_distribution(x: Tensor, index: int = 0, decimals: int = 9) -> dict[float, int]:
    """{inner product: multiplicity} of the other points around point ``index`` (rounded to ``decimals``)."""
    g = (x.to(torch.float64) @ x[index].to(torch.float64)).numpy()
    g = np.delete(g, index)
    vals, counts = np.unique(np.round(g, decimals) + 0.0, return_counts=True)
    return {float(v): int(c) for v, c in zip(vals, counts, strict=False)}


__all__ = ["regular_simplex", "simplex_gram", "regular_polygon", "cross_polytope", "hypercube",
           "square_antiprism", "thomson8_angle", "derived_code", "golay_code", "construct", "names_fitting",
           "recognise", "match_points", "fingerprint", "procrustes_residual", "inner_product_distribution",
           "rank", "random_rotation", "KNOWN", "KnownConfiguration", "Recognition", "PHI",
           "MAX_RECOGNISE_POINTS"]
