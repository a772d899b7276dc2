"""A loss declares its forms where it registers (hemtools.losses.spec), and everything that used to match
names reads them: a new loss written in one file gets the φ/ψ family, the α-CL identity, the energy baseline
of verify (M > d+1) and the symbolic closed form from its declaration alone."""

import importlib.util
import math
import sys

import pytest
import torch

from hemtools import energies, sphere, symbolic
from hemtools.losses import alphacl, get_loss, phipsi, registry

NAME = "softdhel_test"

#: the whole new loss: DHEL with ψ = log(1 + x) instead of log x — one file, nothing else edited
LOSS_FILE = '''
import torch

from hemtools.losses import EnergyBaseline, PhiPsi, SymbolicTemplate, register_loss
from hemtools.losses.registry import positive


@register_loss("softdhel_test", params=[positive("tau", 0.4, "temperature")], family="test",
               phipsi=PhiPsi("exp(x/tau)", "log(1+x)", c1=0.0, c2=1.0),
               energy=lambda p: EnergyBaseline("gaussian", {"t": 1.0 / (2.0 * p["tau"])}, "Gaussian with t = 1/(2τ)"),
               symbolic=SymbolicTemplate("log(exp(p/tau) + S_uu) - p/tau", {"uu": "exp(x_n/tau)"}, ("tau",),
                                         representation="phipsi"))
def softdhel(U, V, *, tau=0.4):
    """soft DHEL: (1/M) Σ_i log(1 + Σ_{j≠i} e^{(u_i·u_j − u_i·v_i)/τ})."""
    M = U.shape[-2]
    z = (U @ U.transpose(-1, -2) - (U * V).sum(-1).unsqueeze(-1)) / tau
    z = z.masked_fill(torch.eye(M, dtype=torch.bool), float("-inf"))
    return torch.nn.functional.softplus(torch.logsumexp(z, -1)).mean(-1)
'''


@pytest.fixture(scope="module")
def new_loss(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "softdhel_test_module.py"
    path.write_text(LOSS_FILE)
    spec = importlib.util.spec_from_file_location("softdhel_test_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        yield get_loss(NAME)
    finally:
        registry._REGISTRY.pop(NAME, None)
        sys.modules.pop("softdhel_test_module", None)


def _points(seed, M, d):
    g = torch.Generator().manual_seed(seed)
    return sphere.random_points(1, M, d, generator=g)[0], sphere.random_points(1, M, d, generator=g)[0]


def test_it_is_a_named_member_of_the_phipsi_family(new_loss):
    p = phipsi.NAMED_INSTANCES[NAME]
    assert p == {"phi": "exp(x/tau)", "psi": "log(1+x)", "c1": 0.0, "c2": 1.0}
    U, V = _points(1, 7, 4)
    want = float(new_loss(U, V, tau=0.2))
    assert float(get_loss("phipsi")(U, V, tau=0.2, **p)) == pytest.approx(want, rel=1e-12)


def test_its_alpha_cl_form_follows_from_the_phipsi_form(new_loss):
    inst = alphacl.instance(NAME, {})
    assert inst["scale"] == "1/M" and inst["tau"] == 0.4  # the declared default, typed nowhere else
    assert str(inst["psi"]) == "exp(x/(2*tau))" and inst["phi"] == "log(1+x)"
    U, V = _points(2, 6, 5)
    L = float(alphacl.alphacl_loss(U, V, inst["phi"], inst["psi"], inst["c1"], inst["c2"], inst["tau"]))
    assert float(new_loss(U, V)) == pytest.approx(L / 6, rel=1e-12)
    assert symbolic.alpha_cl_instance_check(NAME, {}).status == "passed"
    assert NAME not in alphacl.NOT_INSTANCES


def test_its_energy_baseline_is_what_verify_uses(new_loss):
    kernel, kp, relation = energies.matching_kernel(new_loss, new_loss.resolve_params({"tau": 0.25}))
    assert kernel == "gaussian" and kp == {"t": 2.0} and "1/(2τ)" in relation


def test_its_symbolic_closed_form_is_derived_twice_and_matches_float64(new_loss):
    form = symbolic.loss_form(NAME, {"tau": 0.3})
    assert NAME in symbolic.supported()
    cf = symbolic.closed_form(form, Ms=(2, 3, 5))
    assert [f.status for f in cf.derivations] == ["proved"]  # the template and the φ/ψ form agree
    assert all(r["status"] == "passed" for r in cf.rows), cf.rows
    for m in (2, 3, 5):  # by hand: every anchor sees M−1 same-view negatives at −1/(M−1) and p = 1
        hand = math.log(1 + (m - 1) * math.exp(-m / ((m - 1) * 0.3)))
        assert next(r["closed_form"] for r in cf.rows if r["M"] == m) == pytest.approx(hand, rel=1e-14)


def test_a_loss_that_declares_nothing_has_no_form():
    @registry.register_loss("bare_test", family="test")
    def bare(U, V):
        """bare."""
        return ((U - V) ** 2).sum((-2, -1))

    try:
        assert alphacl.instance("bare_test", {}) is None
        assert energies.matching_kernel(get_loss("bare_test"), {})[0] is None
        assert "bare_test" not in phipsi.NAMED_INSTANCES
        with pytest.raises(Exception, match="no symbolic form"):
            symbolic.loss_form("bare_test")
    finally:
        registry._REGISTRY.pop("bare_test", None)
