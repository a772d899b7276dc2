"""Every registered loss against a 50-digit loop reference, plus its symmetries and parameter checks."""


import pytest
import reference_losses as ref
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hemtools import sphere
from hemtools.losses import get_loss, names

PAIR_LOSSES = ["infonce", "simclr", "nt_xent", "dcl", "dcl_sym", "dhel", "dhel_sym", "kcl", "kcl_sym"]
KCL_KERNELS = [dict(kernel="gaussian", t=2.0), dict(kernel="imq", t=1.5), dict(kernel="log", t=3.0),
               dict(kernel="riesz", s=-1.0), dict(kernel="riesz", s=-2.0), dict(kernel="riesz", s=-3.0),
               dict(kernel="gaussian_riesz", s=1.0), dict(kernel="gaussian_riesz", s=-1.0)]
ENERGIES = [("riesz_energy", dict(s=1.0)), ("riesz_energy", dict(s=2.5)), ("log_energy", {}),
            ("gaussian_energy", dict(t=1.0))]


def _points(seed, M, d, batch=None):
    g = torch.Generator().manual_seed(seed)
    shape_b = 1 if batch is None else batch
    x = sphere.random_points(shape_b, M, d, generator=g)
    return x[0] if batch is None else x


def _reference(name, U, V, params):
    fn = getattr(ref, name)
    if name in ("kcl", "kcl_sym"):
        return float(fn(U, V, **params))
    return float(fn(U, V, params.get("tau", get_loss(name).params["tau"].default)))


# ------------------------------------------------------------------------------------------------ values


@pytest.mark.parametrize("name", PAIR_LOSSES)
@pytest.mark.parametrize("M,d,tau", [(2, 2, 0.5), (5, 3, 0.2), (9, 8, 1.0), (12, 4, 0.1)])
def test_pair_loss_matches_loop_reference(name, M, d, tau):
    U, V = _points(1, M, d), _points(2, M, d)
    params = {} if name.startswith("kcl") else {"tau": tau}
    got = float(get_loss(name)(U, V, **params))
    want = _reference(name, U, V, params)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("name", ["kcl", "kcl_sym"])
@pytest.mark.parametrize("kparams", KCL_KERNELS, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_kcl_kernels_match_loop_reference(name, kparams):
    U, V = _points(3, 6, 4), _points(4, 6, 4)
    params = dict(kparams, gamma=3.0)
    got = float(get_loss(name)(U, V, **params))
    want = _reference(name, U, V, params)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("name,params", ENERGIES)
def test_energies_match_loop_reference(name, params):
    X = _points(5, 10, 3)
    got = float(get_loss(name)(X, **params))
    want = float(getattr(ref, name)(X, **params))
    assert got == pytest.approx(want, rel=1e-12)


def test_batched_equals_one_by_one():
    """The (B, M, d) path gives each configuration's own value."""
    U, V = _points(6, 5, 3, batch=4), _points(7, 5, 3, batch=4)
    for name in PAIR_LOSSES:
        spec = get_loss(name)
        batched = spec(U, V)
        singles = torch.stack([spec(U[b], V[b]) for b in range(4)])
        assert torch.allclose(batched, singles, rtol=1e-14, atol=0), name


@pytest.mark.parametrize("name", PAIR_LOSSES)
def test_small_temperature_stays_finite_and_accurate(name):
    """τ = 0.01: e^{1/τ} = e^{100} would overflow float32 and loses float64 digits; log-sum-exp does not.

    The absolute error allowed is what float64 round-off makes of terms of size 1/τ: ~1e2 · 1e-16 · M.
    """
    U, V = _points(8, 6, 3), _points(9, 6, 3)
    params = {} if name.startswith("kcl") else {"tau": 0.01}
    got = get_loss(name)(U, V, **params)
    assert torch.isfinite(got)
    want = _reference(name, U, V, params)
    assert abs(float(got) - want) <= 100 * 6 * 1e-15


def test_all_spec_losses_registered():
    for n in ["infonce", "simclr", "nt_xent", "dcl", "dcl_sym", "dhel", "kcl", "dhel_sym", "kcl_sym",
              "riesz_energy", "log_energy", "gaussian_energy"]:
        assert n in names()
    assert get_loss("kcl").kind == "pairs" and get_loss("riesz_energy").kind == "points"
    assert get_loss("dhel").params["tau"].default == 0.3
    assert get_loss("infonce").params["tau"].default == 0.5
    assert get_loss("kcl").params["gamma"].default == 16.0


# ------------------------------------------------------------------------------------------ invariances


def _random_rotation(seed, d):
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(PAIR_LOSSES), M=st.integers(2, 7), d=st.integers(2, 6),
       seed=st.integers(0, 10_000), tau=st.floats(0.05, 2.0))
def test_pair_losses_invariant_under_rotation_and_permutation(name, M, d, seed, tau):
    U, V = _points(seed, M, d), _points(seed + 1, M, d)
    params = {} if name.startswith("kcl") else {"tau": tau}
    spec = get_loss(name)
    base = spec(U, V, **params)
    Q = _random_rotation(seed + 2, d)
    perm = torch.randperm(M, generator=torch.Generator().manual_seed(seed + 3))
    rotated = spec(U @ Q, V @ Q, **params)
    permuted = spec(U[perm], V[perm], **params)
    scale = 1e-13 * max(1.0, abs(float(base)), 1 / tau)
    assert abs(float(rotated - base)) <= scale
    assert abs(float(permuted - base)) <= scale


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from([e[0] for e in ENERGIES]), M=st.integers(2, 9), d=st.integers(2, 5),
       seed=st.integers(0, 10_000))
def test_energies_invariant_under_rotation_and_permutation(name, M, d, seed):
    X = _points(seed, M, d)
    spec = get_loss(name)
    base = float(spec(X))
    Q = _random_rotation(seed + 1, d)
    perm = torch.randperm(M, generator=torch.Generator().manual_seed(seed + 2))
    # Distances come from r² = 2 − 2x·y, whose relative error is ~eps/r²: close random points make the
    # energies ill-conditioned, so the tolerance carries that condition number (minimisers are well spread).
    r2 = (X[:, None, :] - X[None, :, :]).pow(2).sum(-1) + torch.eye(M, dtype=X.dtype)
    cond = float((1.0 / r2).max())
    rel = 1e-13 * max(1.0, cond)
    assert float(spec(X @ Q)) == pytest.approx(base, rel=rel, abs=1e-12)
    assert float(spec(X[perm])) == pytest.approx(base, rel=rel, abs=1e-12)


# ------------------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("params,fragment", [
    ({"tau": 0}, "tau"), ({"tau": -1}, "tau"), ({"tau": float("nan")}, "tau"), ({"tau": float("inf")}, "tau"),
    ({"temperature": 0.5}, "temperature"), ({"tau": "abc"}, "tau"),
])
def test_bad_parameters_name_the_argument_and_range(params, fragment):
    with pytest.raises(ValueError) as err:
        get_loss("infonce").resolve_params(params)
    msg = str(err.value)
    assert msg.startswith(fragment)
    assert "(0, inf)" in msg or "accepted parameters: tau" in msg


def test_kcl_parameter_combinations_are_checked():
    spec = get_loss("kcl")
    with pytest.raises(ValueError, match=r"kernel \(loss kcl\): expected one of gaussian"):
        spec.resolve_params({"kernel": "cosine"})
    with pytest.raises(ValueError, match="s: kernel=riesz needs s < 0"):
        spec.resolve_params({"kernel": "riesz", "s": 1})
    with pytest.raises(ValueError, match=r"gamma \(loss kcl\)"):
        spec.resolve_params({"gamma": -1})
    assert spec.resolve_params({"kernel": "gaussian_riesz", "s": 1})["s"] == 1.0


def test_unknown_loss_suggests_close_names():
    with pytest.raises(ValueError, match="did you mean infonce"):
        get_loss("infonse")
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("zzzz")


def test_user_loss_from_file(tmp_path):
    f = tmp_path / "myloss.py"
    f.write_text("import torch\n"
                 "def align_only(U, V, w=1.0):\n"
                 "    '''Alignment only.'''\n"
                 "    return w * ((U - V) ** 2).sum(-1).mean()\n")
    spec = get_loss(f"{f}:align_only")
    assert spec.kind == "pairs" and "w" in spec.params
    U, V = _points(1, 4, 3, batch=2), _points(2, 4, 3, batch=2)
    out = spec(U, V, w=2.0)
    assert out.shape == (2,)
    assert float(out[0]) == pytest.approx(2 * float(((U[0] - V[0]) ** 2).sum(-1).mean()), rel=1e-14)
    with pytest.raises(ValueError, match="unknown parameter"):
        spec.resolve_params({"q": 1})
    with pytest.raises(ValueError, match="does not exist"):
        get_loss(f"{tmp_path}/nope.py:fn")
    with pytest.raises(ValueError, match="has no function"):
        get_loss(f"{f}:nope")
    with pytest.raises(ValueError, match="not found"):
        get_loss("no_such_module_xyz:fn")
