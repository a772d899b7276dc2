"""A hostile new-user review (issue: "on code nobody here wrote"): third-party-style inputs through the CLI and
the library, each case a defect that was found and fixed (the test failed before the fix)."""

from __future__ import annotations

import math

import pytest

from hemtools import cli

THIRD_PARTY = '''


def infonce_f32(U, V, tau=0.5):
    """InfoNCE computed in float32, as a training script written for GPUs does (no cast back)."""
    U, V = U.float(), V.float()
    G = U @ V.T / tau
    return -(G.diagonal() - torch.logsumexp(G, 1)).mean()


def infonce_nan(U, V, tau=0.5):
    """A loss that returns NaN everywhere (a 0/0 in user code)."""
    G = U @ V.T / tau
    return -(G.diagonal() - torch.logsumexp(G, 1)).mean() * float("nan")
'''


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "theirs.py").write_text(THIRD_PARTY)
    return "theirs.py"


# ---------------------------------------------------------------- compare: a float32 loss is compared (known item 1)


def test_compare_takes_a_float32_loss_and_says_so(third_party, capsys):
    code = cli.main(["compare", "--loss", f"{third_party}:infonce_f32", "--reference", "infonce", "--M", "3",
                     "--d", "3", "--trials", "1"])
    out, err = capsys.readouterr()
    assert code == 1, err  # a mismatch at the default rtol 1e-12: float32 round-off is measured, not hidden
    assert "returns float32 for float64 inputs: its values were cast to float64" in out
    assert "computes in float32: all 4 of its values lie on the float32 grid" in out


def test_compare_float32_loss_matches_with_the_tolerances_it_suggests(third_party):
    from hemtools.compare import compare

    r = compare(f"{third_party}:infonce_f32", "infonce", [3], [3], trials=1, rtol=1e-4, atol=1e-8)
    assert r.verdict == "match", r.summary()
    assert any("returns float32" in d for d in r.diagnostics)  # said on a match too


def test_verify_still_refuses_a_float32_loss(third_party, capsys):
    code = cli.main(["verify", "--loss", f"{third_party}:infonce_f32", "--M", "3", "--d", "3", "--restarts", "2"])
    err = capsys.readouterr().err
    assert code == 4 and "returned float32 for float64 inputs; verification runs in float64" in err


def test_compare_of_a_nan_loss_names_the_nan_not_agreeing_values(third_party):
    from hemtools.compare import compare

    r = compare(f"{third_party}:infonce_nan", "infonce", [3], [3], trials=1)
    assert r.verdict == "mismatch"
    assert "value nan (loss) vs" in r.reason and "inf >" not in r.reason
    assert r.diagnostics[0].startswith("the implementation is non-finite (nan) at 4 configurations")
    assert not any("values agree everywhere" in d for d in r.diagnostics)  # was said before: wrong
    assert all(math.isnan(c.value_loss) for c in r.cases)


# ------------------------------------------- one array validator for conformal, networks and gmm (known item 2)

BAD_ARRAYS = [
    ("a word", "X: expected an array of numbers, got str"),
    ([[1.0, 2.0], [3.0]], "X: expected an array of numbers, got list"),  # ragged
    ([1.0, 2.0, 3.0], "X: expected a 2-d array with no empty axis, got shape (3,)"),
    ([[]], "X: expected a 2-d array with no empty axis, got shape (1, 0)"),
    ([[1.0, math.nan], [0.0, 1.0]], "X: contains NaN or infinite entries"),
    ([[1.0, math.inf], [0.0, 1.0]], "X: contains NaN or infinite entries"),
]


def _complex():
    import numpy as np

    return np.ones((3, 2)) + 1j  # was silently cut to its real part by gmm (a ComplexWarning, no error)


def _call(module: str, x):
    """The array X through each module's public API, so that the validator runs on it."""
    import numpy as np

    from hemtools import conformal, gmm, networks

    if module == "conformal":
        return conformal.distance_score(x, np.ones((3, 2)))
    if module == "networks":
        return networks.relu_fixed_point(x, np.ones((3, 2)), np.ones((3, 3)), 2)
    return gmm.pca_subspace(x, 1)


@pytest.mark.parametrize("module", ["conformal", "networks", "gmm"])
@pytest.mark.parametrize("x, message", BAD_ARRAYS + [(None, "X: expected real numbers, got complex128")])
def test_the_three_modules_refuse_a_bad_array_in_the_same_words(module, x, message):
    import numpy as np

    from hemtools.errors import ArgumentError

    if x is None:
        x = _complex()
    if module == "conformal":
        message = message.replace("X:", "U:")
    with pytest.raises(ArgumentError) as info:
        _call(module, x)
    assert str(info.value) == message
    if isinstance(x, list) and message.endswith("entries"):  # the same words for a tensor
        import torch

        with pytest.raises(ArgumentError, match="^.: contains NaN or infinite entries$"):
            _call(module, torch.as_tensor(np.asarray(x)))


def test_the_validator_takes_third_party_arrays():
    import numpy as np
    import torch

    from hemtools.validators import require_array

    big_endian = np.arange(6, dtype=">f8").reshape(3, 2)
    assert require_array("X", big_endian).tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert require_array("X", [["1", "2"], ["3", "4"]]).dtype == torch.float64  # numbers as text
    assert require_array("X", np.ones((2, 2), dtype=bool)).dtype == torch.float64
    assert require_array("X", torch.ones(2, 3, 3), (2, 3)).shape == (2, 3, 3)
    g = torch.ones(2, 2, requires_grad=True)
    assert require_array("X", g).requires_grad  # a tensor keeps its graph
    with pytest.raises(ValueError, match=r"^C: expected a square matrix, got shape \(2, 3\)$"):
        require_array("C", np.ones((2, 3)), square=True)
