"""Adapters of other libraries (hemtools.losses.adapters): pytorch-metric-learning losses in both pairings, the
ref_labels identity trap, lightly (real when it imports, a stand-in written from its documented formulas
otherwise), dcl_sym, and the import structure (no cycle with the registry)."""

import math
import subprocess
import sys
import types

import pytest
import torch

from hemtools import sphere
from hemtools.cli import main
from hemtools.compare import compare
from hemtools.losses import get_loss

pml = pytest.importorskip("pytorch_metric_learning.losses")


def _pairs(seed=0, M=4, d=3):
    g = torch.Generator().manual_seed(seed)
    U = sphere.random_points(1, M, d, generator=g)[0]
    V = sphere.normalize(U + 0.4 * torch.randn(U.shape, generator=g, dtype=U.dtype))
    return U, V


# --------------------------------------------------------------------------------------------- pml


def test_pml_cross_pairing_is_infonce_and_batch_pairing_is_nt_xent():
    """NTXentLoss with ref_emb V: anchors u_i, positive v_i, negatives v_j — the InfoNCE of SPEC §1."""
    U, V = _pairs(1, 5, 4)
    spec = get_loss("pml:NTXentLoss")
    for tau in (0.1, 0.5):
        cross = float(spec(U, V, tau=tau, pairing="cross"))
        batch = float(spec(U, V, tau=tau))
        assert cross == pytest.approx(float(get_loss("infonce")(U, V, tau=tau)), rel=1e-13)
        assert batch == pytest.approx(float(get_loss("nt_xent")(U, V, tau=tau)), rel=1e-13)
        assert cross > 0.01


def test_the_ref_labels_identity_trap_is_handled():
    """pml returns 0 when ref_labels is the very tensor passed as labels (it drops the pairs (i, i): every
    positive).  The adapter passes a copy, so the value is the loss, not 0."""
    U, V = _pairs(2, 4, 3)
    labels = torch.arange(4)
    raw = pml.NTXentLoss(temperature=0.5)
    assert float(raw(U, labels, ref_emb=V, ref_labels=labels)) == 0.0  # the trap, as the library has it
    got = float(get_loss("pml:NTXentLoss")(U, V, tau=0.5, pairing="cross"))
    assert got == pytest.approx(float(raw(U, labels, ref_emb=V, ref_labels=labels.clone())), rel=1e-15)
    assert got == pytest.approx(float(get_loss("infonce")(U, V, tau=0.5)), rel=1e-13) and got > 0.1


# every pml loss that takes (embeddings, labels, ref_emb, ref_labels) with no required constructor argument
PML_PAIR_LOSSES = ["AngularLoss", "CircleLoss", "ContrastiveLoss", "DynamicSoftMarginLoss",
                   "GeneralizedLiftedStructureLoss", "IntraPairVarianceLoss", "LiftedStructureLoss", "MarginLoss",
                   "MultiSimilarityLoss", "NCALoss", "NTXentLoss", "SignalToNoiseRatioContrastiveLoss", "SupConLoss",
                   "ThresholdConsistentMarginLoss", "TripletMarginLoss", "TupletMarginLoss"]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("cls", PML_PAIR_LOSSES)
def test_every_pml_pair_loss_is_adapted_in_both_pairings(cls):
    """The adapter equals the library called by hand (batch and cross layouts, labels as a separate tensor),
    in float64, with the library's defaults (temperature: τ = 0.5)."""
    U, V = _pairs(3, 5, 3)
    spec = get_loss(f"pml:{cls}")
    p = spec.resolve_params({})
    kw = {("temperature" if k == "tau" else k): v for k, v in p.items() if k != "pairing"}
    labels = torch.arange(5)
    # a fresh instance per call, as the adapter does: DynamicSoftMarginLoss keeps a histogram between calls
    want_batch = getattr(pml, cls)(**kw)(torch.cat([U, V]), labels.repeat(2))
    want_cross = getattr(pml, cls)(**kw)(U, labels, ref_emb=V, ref_labels=torch.arange(5))
    got_batch = spec(U, V)
    got_cross = spec(U, V, pairing="cross")
    assert got_batch.dtype == torch.float64
    assert float(got_batch) == pytest.approx(float(want_batch), rel=1e-14, abs=1e-300)
    assert float(got_cross) == pytest.approx(float(want_cross), rel=1e-14, abs=1e-300)


def test_pml_supcon_is_nt_xent_and_compare_says_match():
    """SupConLoss with one positive per anchor is NT-Xent: compare matches it at every configuration."""
    r = compare("pml:SupConLoss", "nt_xent", [3], [3], trials=1, params={"tau": 0.3})
    assert r.verdict == "match", r.reason


def test_pml_losses_that_are_not_pair_losses_are_refused_in_one_line(capsys):
    for ref, fragment in [("pml:ArcFaceLoss", "needs constructor arguments (num_classes, embedding_size)"),
                          ("pml:VICRegLoss", "cannot be used as a pair loss"),
                          ("pml:NoSuch", "unknown pytorch-metric-learning loss 'NoSuch'")]:
        code = main(["compare", "--loss", ref, "--reference", "nt_xent", "--M", "3", "--d", "3"])
        _, err = capsys.readouterr()
        assert code == 2 and fragment in err and err.count("\n") == 1 and "Traceback" not in err, (ref, err)
    code = main(["compare", "--loss", "pml:FastAPLoss", "--loss-param", "pairing=cross", "--reference", "nt_xent",
                 "--M", "3", "--d", "3"])
    _, err = capsys.readouterr()
    assert code == 2 and "with pairing=cross cannot be used as a pair loss" in err and "not supported" in err


# ------------------------------------------------------------------------------------------ dcl_sym


def _dcl_sym_loop(U, V, tau):
    """½ (dcl(U, V) + dcl(V, U)) with plain loops in float64 (lightly's DCLLoss by its source)."""
    def one(A, B):
        M, tot = len(A), 0.0
        for i in range(M):
            den = sum(math.exp(float(A[i] @ B[j]) / tau) + math.exp(float(A[i] @ A[j]) / tau)
                      for j in range(M) if j != i)
            tot += -(float(A[i] @ B[i]) / tau - math.log(den))
        return tot / M
    return 0.5 * (one(U, V) + one(V, U))


def test_dcl_sym_is_registered_and_equals_its_loop_form():
    U, V = _pairs(4, 6, 5)
    for tau in (0.1, 0.5, 1.0):
        assert float(get_loss("dcl_sym")(U, V, tau=tau)) == pytest.approx(_dcl_sym_loop(U, V, tau), rel=1e-13)
    assert float(get_loss("dcl_sym")(U, V)) == pytest.approx(float(get_loss("dcl_sym")(V, U)), rel=1e-15)
    assert get_loss("dcl_sym").minimiser == "aligned_simplex"


# ------------------------------------------------------------------------------------------ lightly


class _LightlyNTXent(torch.nn.Module):
    """lightly.loss.NTXentLoss's convention (1.6.0 source): 2M anchors, cross-entropy over the other 2M − 1."""

    def __init__(self, temperature: float = 0.5, memory_bank_size: int = 0, gather_distributed: bool = False):
        super().__init__()
        self.temperature = temperature

    def forward(self, out0, out1):
        z = torch.nn.functional.normalize(torch.cat([out0, out1]), dim=1)
        n = out0.shape[0]
        logits = (z @ z.T / self.temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
        return torch.nn.functional.cross_entropy(logits, target)


class _LightlyDCL(torch.nn.Module):
    """lightly.loss.DCLLoss's convention: ½ (dcl(out0, out1) + dcl(out1, out0))."""

    def __init__(self, temperature: float = 0.1, weight_fn=None, gather_distributed: bool = False):
        super().__init__()
        self.temperature = temperature

    def forward(self, out0, out1):
        def one(a, b):
            a, b = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)
            n = a.shape[0]
            off = ~torch.eye(n, dtype=torch.bool)
            neg = torch.cat([(a @ b.T / self.temperature)[off].view(n, n - 1),
                             (a @ a.T / self.temperature)[off].view(n, n - 1)], dim=1)
            return (-(a * b).sum(1) / self.temperature + torch.logsumexp(neg, 1)).mean()
        return 0.5 * (one(out0, out1) + one(out1, out0))


def _lightly_really_imports() -> bool:
    try:
        import lightly.loss  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture
def lightly_stand_in(monkeypatch):
    """A stand-in ``lightly.loss`` with lightly's two conventions, so the adapter's plumbing is tested here."""
    pkg, mod = types.ModuleType("lightly"), types.ModuleType("lightly.loss")
    mod.NTXentLoss, mod.DCLLoss = _LightlyNTXent, _LightlyDCL
    pkg.loss = mod
    monkeypatch.setitem(sys.modules, "lightly", pkg)
    monkeypatch.setitem(sys.modules, "lightly.loss", mod)


def test_lightly_adapter_maps_out0_out1_and_temperature(lightly_stand_in):
    U, V = _pairs(5, 5, 4)
    assert float(get_loss("lightly:DCLLoss")(U, V, tau=0.2)) == pytest.approx(
        float(get_loss("dcl_sym")(U, V, tau=0.2)), rel=1e-13)
    assert float(get_loss("lightly:NTXentLoss")(U, V, tau=0.3)) == pytest.approx(
        float(get_loss("nt_xent")(U, V, tau=0.3)), rel=1e-13)
    r = compare("lightly:DCLLoss", "dcl_sym", [3], [3], trials=1)
    assert r.verdict == "match", r.reason
    assert get_loss("lightly:DCLLoss").params["tau"].default == 0.5


@pytest.mark.skipif(not _lightly_really_imports(),
                    reason="lightly is not a test dependency: it needs torchvision, which pip resolves to a multi-GB "
                           "CUDA build beside the CPU torch; the adapter is tested above with a stand-in lightly.loss")
def test_real_lightly_dcl_matches_dcl_sym():
    r = compare("lightly:DCLLoss", "dcl_sym", [3, 5], [3, 8], trials=2, params={"tau": 0.2})
    assert r.verdict == "match", r.reason
    r = compare("lightly:NTXentLoss", "nt_xent", [3, 5], [3, 8], trials=2, params={"tau": 0.2})
    assert r.verdict == "match", r.reason


def test_missing_lightly_is_one_line_saying_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "lightly", None)  # import lightly fails, whether or not it is installed
    monkeypatch.setitem(sys.modules, "lightly.loss", None)
    code = main(["verify", "--loss", "lightly:DCLLoss", "--M", "3", "--d", "3"])
    _, err = capsys.readouterr()
    assert code == 2 and "lightly" in err and "pip install lightly" in err and err.count("\n") == 1


# ------------------------------------------------------------------------------------------ structure


def test_adapters_live_in_losses_and_do_not_import_the_registry():
    """issue 12 item 6: hemtools/losses/adapters.py imports only leaf modules (hemtools.errors, stdlib, torch);
    the registry imports it lazily, inside get_loss, so there is no cycle."""
    import ast
    from pathlib import Path

    from hemtools.losses import adapters

    tree = ast.parse(Path(adapters.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    local = {m for m in imported if m.startswith((".", "hemtools"))}
    assert local == {"..errors"}, local
    registry_src = Path(adapters.__file__).with_name("registry.py").read_text()
    top_level = [ln for ln in registry_src.splitlines() if ln.startswith(("import ", "from ")) and "adapters" in ln]
    assert top_level == []
    code = "import hemtools.adapters"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "No module named 'hemtools.adapters'" in out.stderr
