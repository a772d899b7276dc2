"""Exact configurations and their recognition (hemtools.configurations).

Independent references: Cohn & Kumar's table of universal optima (hemtools/data/universal_optima.csv,
copied from the project's shared data: around every point, inner product t occurs m times), parsed here
with sympy; the design strengths of the icosahedron, 600-cell and E8 (literature facts); the weight
enumerator of the Golay code; closed-form Thomson energies.
"""

import math
from importlib import resources

import numpy as np
import pytest
import sympy
import torch
from scipy.special import eval_gegenbauer

from hemtools import configurations as C
from hemtools.errors import ArgumentError

# registry name of each row of universal_optima.csv (its last column)
CSV_NAMES = {
    "icosahedron": "icosahedron", "600-cell": "cell600", "hemicube (Clebsch)": "clebsch",
    "Schlafli (E6)": "schlafli", "28 equiangular lines (E7)": "e7_lines", "E8 roots": "e8",
    "isotropic subspaces q=3": "isotropic_112", "strongly regular graph": "srg162", "Higman-Sims": "higman_sims",
    "McLaughlin": "mclaughlin", "isotropic subspaces": "isotropic_891", "276 equiangular lines": "lines276",
    "kissing configuration of the Leech lattice": "leech_kissing", "Leech lattice minimal vectors": "leech",
}


def universal_optima():
    text = resources.files("hemtools").joinpath("data/universal_optima.csv").read_text()
    rows = []
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("N,"):
            continue
        n, d, ips, name = line.split(",", 3)
        spectrum = {}
        for item in ips.split(";"):
            t, m = item.rsplit(":", 1)
            spectrum[float(sympy.sympify(t))] = int(m)
        rows.append((int(n), int(d), spectrum, name))
    return rows


ROWS = universal_optima()


def test_the_table_is_complete_and_consistent():
    assert {r[3] for r in ROWS} == set(CSV_NAMES)
    for n, _d, spec, name in ROWS:
        assert sum(spec.values()) == n - 1, name


@pytest.mark.parametrize("row", ROWS, ids=[r[3] for r in ROWS])
def test_universal_optima_have_the_published_inner_product_spectrum(row):
    n, d, spec, name = row
    x = C.construct(CSV_NAMES[name], n, d)
    assert x.shape == (n, d) and x.dtype == torch.float64
    assert (x.norm(dim=1) - 1).abs().max() <= 1e-14
    gen = torch.Generator().manual_seed(0)
    # around several points (the configurations are distance-transitive; checking all of Leech is 4e10 numbers)
    for i in {0, n - 1, int(torch.randint(n, (1,), generator=gen))}:
        ip = (x @ x[i]).numpy()
        ip = np.delete(ip, i)
        for t, m in spec.items():
            assert int((np.abs(ip - t) <= 1e-12).sum()) == m, (name, i, t)
        assert len(ip) == sum(spec.values())
    if n <= 1000:  # the spectrum is the same around every point (fingerprint counts; 4600² numbers is 5 s)
        fp = C.fingerprint(x).numpy()
        for t, m in spec.items():
            assert int((np.abs(fp - t) <= 1e-12).sum()) == n * m, (name, t)


def test_families_simplex_cross_polytope_hypercube_polygon():
    for n in (2, 3, 5, 9):
        x = C.regular_simplex(n, n + 2)
        g = x @ x.T
        off = g[~torch.eye(n, dtype=torch.bool)]
        assert (off + 1 / (n - 1)).abs().max() <= 1e-14 and (g.diagonal() - 1).abs().max() <= 1e-14
        assert x[:, n - 1:].abs().max() == 0  # spans R^{n−1}, embedded with zeros
    x = C.cross_polytope(8, 5)
    assert sorted(C.inner_product_distribution(x).items()) == [(-1.0, 1), (0.0, 6)]
    x = C.hypercube(16, 4)
    assert C.inner_product_distribution(x) == {-1.0: 1, -0.5: 4, 0.0: 6, 0.5: 4}  # binomial(4, k) by Hamming distance
    x = C.regular_polygon(7)
    dist = C.inner_product_distribution(x)
    assert sorted(dist.values()) == [2, 2, 2] and min(dist) == pytest.approx(math.cos(6 * math.pi / 7), abs=1e-9)
    x = C.construct("dodecahedron", 20, 3)
    s5 = math.sqrt(5)
    want = {-1: 1, -s5 / 3: 3, -1 / 3: 6, 1 / 3: 6, s5 / 3: 3}
    got = C.inner_product_distribution(x)
    assert len(got) == 5 and all(got[min(got, key=lambda v: abs(v - t))] == m for t, m in want.items())


@pytest.mark.parametrize("name,n,d,strength", [("icosahedron", 12, 3, 5), ("cell600", 120, 4, 11), ("e8", 240, 8, 7)])
def test_design_strength(name, n, d, strength):
    """A spherical t-design: Σ_{i,j} G_k(x_i·x_j) = 0 for 1 <= k <= t, and not for k = t+1 (scipy Gegenbauer)."""
    x = C.construct(name, n, d).numpy()
    g = np.clip(x @ x.T, -1, 1)
    lam = (d - 2) / 2
    S = [eval_gegenbauer(k, lam, g).sum() / eval_gegenbauer(k, lam, 1.0) for k in range(1, strength + 2)]
    assert max(abs(v) for v in S[:-1]) <= 1e-9 * n * n
    assert S[-1] >= 1e-3 * n


def test_golay_code_weight_enumerator():
    w = C.golay_code()
    assert w.shape == (4096, 24)
    counts = np.bincount(w.sum(1), minlength=25)
    assert {k: int(v) for k, v in enumerate(counts) if v} == {0: 1, 8: 759, 12: 2576, 16: 759, 24: 1}


def test_derived_code_maps_inner_products():
    """Derived code of E8 at ½ around a root: 56 points whose inner products are (u − ¼)/(1 − ¼)."""
    e8 = C.construct("e8", 240, 8)
    p = e8[0]
    sel = e8[(e8 @ p - 0.5).abs() <= 1e-12]
    y = C.derived_code(e8, 0, 0.5)
    assert y.shape == (56, 7)
    assert (y.norm(dim=1) - 1).abs().max() <= 1e-14
    assert (y @ y.T - ((sel @ sel.T) - 0.25) / 0.75).abs().max() <= 1e-14


def test_thomson_configurations_of_5_and_8_points():
    """Energies equal the closed form (5) and the published Thomson value (8; table to 9 decimals)."""
    def coulomb(x):
        g = (x @ x.T).numpy()
        iu = np.triu_indices(len(g), 1)
        return float((1 / np.sqrt(2 - 2 * g[iu])).sum())

    exact5 = sympy.sqrt(3) + 3 * sympy.sqrt(2) + sympy.Rational(1, 2)
    assert coulomb(C.construct("triangular_bipyramid", 5, 3)) == pytest.approx(float(exact5), rel=1e-14)
    x8 = C.construct("thomson8", 8, 3)
    assert abs(coulomb(x8) - 19.675287861) <= 1e-8
    th = C.thomson8_angle()
    # the angle is a critical point of the energy along the antiprism family (central difference)
    slope = (coulomb(C.square_antiprism(th + 1e-5)) - coulomb(C.square_antiprism(th - 1e-5))) / 2e-5
    assert abs(slope) <= 1e-7


# --------------------------------------------------------------------------------------------------------
# recognition


def rotated(x, seed, extra_dims=0):
    gen = torch.Generator().manual_seed(seed)
    n, d = x.shape
    x = torch.cat([x, torch.zeros(n, extra_dims, dtype=x.dtype)], 1)
    q = C.random_rotation(d + extra_dims, gen)
    return (x @ q)[torch.randperm(n, generator=gen)]


@pytest.mark.parametrize("name,n,d", [("e8", 240, 8), ("cell600", 120, 4), ("icosahedron", 12, 3),
                                      ("cell24", 24, 4), ("schlafli", 27, 6), ("higman_sims", 100, 22)])
@pytest.mark.parametrize("seed", [0, 1])
def test_recognised_after_random_rotation_and_relabelling(name, n, d, seed):
    y = rotated(C.construct(name, n, d), seed)
    r = C.recognise(y)
    assert r is not None and r.name == name
    assert r.residual <= 1e-12 and r.fingerprint_residual <= 1e-12


def test_recognised_in_a_larger_space():
    y = rotated(C.construct("cell600", 120, 4), 5, extra_dims=2)  # a 600-cell in a 4-plane of R^6
    assert y.shape == (120, 6)
    r = C.recognise(y)
    assert r is not None and r.name == "cell600"


def test_aliases_report_the_canonical_name():
    r = C.recognise(rotated(C.construct("octahedron", 6, 3), 2))
    assert r.name == "cross_polytope" and "octahedron" in r.also
    r = C.recognise(rotated(C.construct("e8_roots", 240, 8), 2))
    assert r.name == "e8" and "e8_roots" in r.also


def test_near_misses_are_not_recognised():
    gen = torch.Generator().manual_seed(4)
    x = C.construct("cell600", 120, 4).clone()
    x[17] = x[17] + 1e-4 * torch.randn(4, generator=gen, dtype=torch.float64)
    x[17] = x[17] / x[17].norm()
    assert C.recognise(x) is None  # one point moved by 1e-4 > tol 1e-6
    assert C.recognise(x, tol=1e-3).name == "cell600"  # ... and within a looser tolerance it is
    y = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    assert C.recognise(y / y.norm(dim=1, keepdim=True)) is None
    # the cube is in the registry but 8 points of the Thomson square antiprism are not a cube
    assert C.recognise(C.construct("thomson8", 8, 3)).name == "thomson8"
    assert C.recognise(C.construct("cube", 8, 3)).name == "hypercube"


def test_match_points_returns_the_rotation_and_permutation():
    x = C.construct("icosahedron", 12, 3)
    y = rotated(x, 9)
    perm, q, res = C.match_points(x, y)
    assert res <= 1e-12
    assert np.abs(x.numpy() @ q - y.numpy()[perm]).max() <= 1e-12
    assert np.allclose(q.T @ q, np.eye(3), atol=1e-12)
    assert C.procrustes_residual(x, torch.as_tensor(y.numpy()[perm])) <= 1e-12


def test_random_rotation_is_orthogonal():
    q = C.random_rotation(7, torch.Generator().manual_seed(0))
    assert (q.T @ q - torch.eye(7, dtype=torch.float64)).abs().max() <= 1e-14


@pytest.mark.parametrize("args,message", [
    (("tesseract", 16, 4), "configuration: unknown name 'tesseract'"),
    (("icosahedron", 12, 2), "icosahedron does not exist with N=12 points in d=2"),
    (("cross_polytope", 7, 4), "cross_polytope does not exist with N=7"),
    (("simplex", 6, 3), "simplex does not exist with N=6 points in d=3"),
])
def test_construct_rejects_unknown_names_and_sizes(args, message):
    with pytest.raises(ArgumentError, match=message):
        C.construct(*args)


def test_names_fitting():
    assert C.names_fitting(12, 3) == ["polygon", "icosahedron"]
    assert "octahedron" in C.names_fitting(6, 3, canonical=False) and "octahedron" not in C.names_fitting(6, 3)


def test_hyphenated_aliases():
    assert torch.equal(C.construct("600-cell", 120, 4), C.construct("cell600", 120, 4))
    r = C.recognise(rotated(C.construct("24-cell", 24, 4), 3))
    assert r.name == "cell24" and "24-cell" in r.also
