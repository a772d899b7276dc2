"""``hemtools analyze``: loading every format, the metrics it reports, the nearest known configuration,
and one-line errors (exit 2, naming the file and the problem) for every kind of bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import torch

from hemtools import configurations as cf
from hemtools import metrics as mt
from hemtools.cli import main
from hemtools.commands.analyze import load_embeddings


def run(capsys, *argv):
    code = main(["analyze", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def gaussian(M, d, seed):
    return np.random.default_rng(seed).standard_normal((M, d))


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --------------------------------------------------------------------------------------------------------
# every format gives the same numbers as metrics() on the normalised rows


def test_formats_agree_with_the_library(tmp_path, capsys):
    X = gaussian(40, 5, 0)
    Y = X + 0.2 * gaussian(40, 5, 1)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", Y)
    np.savez(tmp_path / "x.npz", emb=X)
    torch.save(torch.from_numpy(X), tmp_path / "x.pt")
    torch.save({"emb": torch.from_numpy(X), "step": 3}, tmp_path / "xd.pt")
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    ref = mt.metrics(torch.from_numpy(unit(X)), torch.from_numpy(unit(Y)))
    for name in ["x.npy", "x.npz", "x.pt", "xd.pt", "x.csv"]:
        code, out, err = run(capsys, tmp_path / name, "--pairs", tmp_path / "y.npy", "--json")
        assert code == 0, err
        r = json.loads(out)
        assert (r["M"], r["d"]) == (40, 5)
        # %.17g round-trips float64 exactly, so every format carries the same numbers
        assert r["uniformity"] == ref.uniformity, name
        assert r["w1"] == ref.w1.value and r["effective_rank"] == ref.effective_rank
        assert r["alignment"] == ref.alignment
        assert any("normalised the rows" in n for n in r["notes"])


def test_csv_header_is_skipped_and_reported(tmp_path, capsys):
    X = unit(gaussian(6, 3, 2))
    p = tmp_path / "h.csv"
    p.write_text("a,b,c\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in X) + "\n")
    code, out, err = run(capsys, p)
    assert code == 0, err
    assert "skipped the header line" in out
    assert "normalised" not in out  # rows were unit already: nothing to say
    assert "M=6 points in d=3" in out


def test_unit_rows_are_not_renormalised(tmp_path):
    X = unit(gaussian(5, 4, 3))
    np.save(tmp_path / "u.npy", X)
    arr, notes = load_embeddings(str(tmp_path / "u.npy"))
    assert notes == [] and np.array_equal(arr, X)


def test_nearest_configuration_of_a_rotated_perturbed_icosahedron(tmp_path, capsys):
    g = torch.Generator().manual_seed(5)
    X = cf.construct("icosahedron", 12, 3) @ cf.random_rotation(3, g)
    X = X[torch.randperm(12, generator=g)]
    np.save(tmp_path / "ico.npy", X.numpy())
    code, out, err = run(capsys, tmp_path / "ico.npy", "--json")
    r = json.loads(out)
    assert code == 0 and r["nearest"]["name"] == "icosahedron" and r["nearest"]["recognised"]
    assert r["nearest"]["procrustes"] <= 1e-12  # an exact icosahedron, rotated: round-off only
    noise = 1e-3 * torch.randn(12, 3, generator=g, dtype=torch.float64)
    Y = (X + noise) / (X + noise).norm(dim=1, keepdim=True)
    np.save(tmp_path / "ico2.npy", Y.numpy())
    code, out, err = run(capsys, tmp_path / "ico2.npy", "--json")
    near = json.loads(out)["nearest"]
    assert near["name"] == "icosahedron" and not near["recognised"]
    # the Procrustes residual with the true matching and the best rotation is at most the perturbation
    # (the identity rotation is one candidate): ≤ max_i ‖y_i − x_i‖ ≤ 2 max_i ‖noise_i‖
    bound = 2 * float(noise.norm(dim=1).max())
    assert 0 < near["procrustes"] <= bound
    assert 0 < near["fingerprint"] <= 2 * bound + bound ** 2


def test_large_M_has_no_configuration_comparison(tmp_path, capsys):
    np.save(tmp_path / "big.npy", gaussian(300, 4, 1))
    code, out, err = run(capsys, tmp_path / "big.npy", "--json")
    r = json.loads(out)
    assert code == 0 and r["nearest"] is None and r["nearest_configurations"] == []
    assert len(r["projection"]["U"]) == 300 and r["projection"]["kind"] == "pca"  # all points (<= 500)


def test_plot_is_written(tmp_path, capsys):
    np.save(tmp_path / "x.npy", gaussian(30, 3, 0))
    np.save(tmp_path / "y.npy", gaussian(30, 3, 1))
    code, out, err = run(capsys, tmp_path / "x.npy", "--pairs", tmp_path / "y.npy", "--plot", tmp_path / "f.png")
    assert code == 0, err
    data = (tmp_path / "f.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


# --------------------------------------------------------------------------------------------------------
# bad input: exit 2, one line on stderr naming the file and the problem


def bad_files(tmp_path):
    """(argv, expected text) for every kind of bad input."""
    good = tmp_path / "good.npy"
    np.save(good, gaussian(10, 4, 0))
    (tmp_path / "e.txt").write_text("1,2\n3,4\n")
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5,6\n7,8\n")
    (tmp_path / "word.csv").write_text("1,2,3\n4,five,6\n")
    (tmp_path / "empty.csv").write_text("\n\n")
    nan = gaussian(10, 4, 1)
    nan[3, 2] = np.nan
    nan[7, 0] = np.inf
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "flat.npy", np.arange(8.0))
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    np.save(tmp_path / "one.npy", np.ones((1, 4)))
    np.save(tmp_path / "col.npy", np.ones((5, 1)))
    np.save(tmp_path / "zero.npy", np.vstack([np.ones((3, 4)), np.zeros((1, 4))]))
    np.save(tmp_path / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(tmp_path / "other.npy", gaussian(9, 4, 2))
    np.save(tmp_path / "wide.npy", gaussian(10, 5, 2))
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file at all")
    np.save(tmp_path / "objects.npy", np.array([{}, 1], dtype=object), allow_pickle=True)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    np.savez(tmp_path / "two.npz", a=np.ones((3, 3)), b=np.ones((3, 3)))
    torch.save([1, 2, 3], tmp_path / "list.pt")
    torch.save({"step": 3}, tmp_path / "notensor.pt")
    return [
        ([tmp_path / "missing.npy"], "missing.npy: no such file"),
        ([tmp_path / "e.txt"], "e.txt: unsupported file type '.txt'"),
        ([tmp_path / "ragged.csv"], "ragged.csv: ragged rows: line 3 has 2 values, line 1 has 3"),
        ([tmp_path / "word.csv"], "word.csv: line 2: 'five' is not a number"),
        ([tmp_path / "empty.csv"], "empty.csv: no numbers in the file"),
        ([tmp_path / "nan.npy"], "nan.npy: 2 rows contain NaN or inf (rows 3, 7, counted from 0)"),
        ([tmp_path / "flat.npy"], "flat.npy: expected a 2-D array (M, d) with one embedding per row, got shape (8,)"),
        ([tmp_path / "cube.npy"], "cube.npy: expected a 2-D array"),
        ([tmp_path / "one.npy"], "one.npy: need at least 2 embeddings"),
        ([tmp_path / "col.npy"], "col.npy: need dimension d >= 2"),
        ([tmp_path / "zero.npy"], "zero.npy: 1 zero row cannot be put on the sphere (row 3"),
        ([tmp_path / "text.npy"], "text.npy: expected real numbers"),
        ([tmp_path / "junk.npy"], "junk.npy: not a .npy file (no NumPy header)"),
        ([tmp_path / "objects.npy"], "objects.npy: not a readable .npy file (it holds Python objects, not numbers)"),
        ([tmp_path / "junk.pt"], "junk.pt: torch.load(weights_only=True) refused it"),
        ([tmp_path / "two.npz"], "two.npz: contains 2 arrays ('a', 'b'); choose one with --key"),
        ([tmp_path / "two.npz", "--key", "c"], "two.npz: no array named 'c'"),
        ([tmp_path / "list.pt"], "list.pt: contains a list; expected a tensor or a dict of tensors"),
        ([tmp_path / "notensor.pt"], "notensor.pt: a dict with no tensors"),
        ([good, "--pairs", tmp_path / "other.npy"], "other.npy: shape (9, 4) differs from"),
        ([good, "--pairs", tmp_path / "wide.npy"], "wide.npy: shape (10, 5) differs from"),
        ([good, "--pairs", tmp_path / "ragged.csv"], "ragged.csv: ragged rows"),
        ([good, "--plot", tmp_path / "f.gif"], "unsupported file type '.gif'"),
        ([good, "--plot", tmp_path / "nodir" / "f.png"], "does not exist"),
    ]


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    for argv, expected in bad_files(tmp_path):
        code, out, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert expected in lines[0], (expected, lines[0])
        assert lines[0].startswith("hemtools analyze: error: ")


def test_subprocess_bad_input_and_good_run(tmp_path):
    """One real process: --help stays light, and a bad file is one line with exit 2."""
    p = subprocess.run([sys.executable, "-m", "hemtools", "analyze", str(tmp_path / "nope.csv")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == f"hemtools analyze: error: {tmp_path / 'nope.csv'}: no such file"


def test_non_finite_metric_is_inconclusive(tmp_path, capsys, monkeypatch):
    """A metric that comes out non-finite (it cannot for finite unit rows, so it is forced here) gives
    exit 3 and says which."""
    np.save(tmp_path / "x.npy", gaussian(10, 4, 0))
    real = mt.metrics

    def broken(*a, **k):
        m = real(*a, **k)
        m.effective_rank = math.nan
        return m

    monkeypatch.setattr(mt, "metrics", broken)
    code, out, err = run(capsys, tmp_path / "x.npy", "--json")
    r = json.loads(out)
    assert code == 3 and r["verdict"] == "inconclusive" and "non-finite: effective_rank" in r["notes"]


def test_large_batches_keep_a_reproducible_sample_for_the_figure(tmp_path, capsys):
    from hemtools.commands.analyze import SAMPLE_POINTS

    X = gaussian(SAMPLE_POINTS + 100, 4, 3)
    np.save(tmp_path / "x.npy", X)
    runs = []
    for seed in (0, 0, 1):
        code, out, err = run(capsys, tmp_path / "x.npy", "--json", "--seed", seed)
        assert code == 0, err
        runs.append(json.loads(out)["projection"])
    p = runs[0]
    idx = np.array(p["index"])
    assert len(idx) == SAMPLE_POINTS and np.all(np.diff(idx) > 0) and idx[-1] < len(X)
    assert runs[1] == p and runs[2]["index"] != p["index"]  # the seed decides the sample, nothing else
    # the 2-D coordinates are the projection of those rows on the two leading principal axes
    U = unit(X)
    C = U - U.mean(0)
    ev = np.linalg.svd(C, full_matrices=False)[2][:2]
    got = np.array(p["U"])
    for k in range(2):  # each axis up to its sign
        a, b = got[:, k], C[idx] @ ev[k]
        assert min(np.abs(a - b).max(), np.abs(a + b).max()) < 1e-12
