"""Figures: every kind of ``hemtools plot`` renders from real saved results (verify, energy, analyze,
sweep) to a valid PNG of non-trivial size; the data drawn is the data saved; SVG/PDF by extension;
one-line errors for bad plot requests."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import zlib

import numpy as np
import pytest

from hemtools import plots
from hemtools.cli import main

KINDS = ("verify", "geometry", "gram", "histogram", "convergence", "energy", "phase", "analyze")


def cli_json(*argv) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(list(map(str, argv)))
    assert code == 0, (argv, code)
    return json.loads(buf.getvalue())


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Real results, produced by the commands and saved as they print them (small, about 3 s in all)."""
    d = tmp_path_factory.mktemp("results")
    out = {}
    v = cli_json("verify", "--loss", "kcl", "--M", "4", "--d", "3", "--restarts", "2", "--json")
    out["verify"] = d / "verify.json"
    out["verify"].write_text(json.dumps(v))
    v16 = cli_json("verify", "--loss", "dhel", "--M", "5", "--d", "6", "--restarts", "2", "--no-hessian", "--json")
    out["verify16"] = d / "verify6.json"
    out["verify16"].write_text(json.dumps(v16))
    e6 = cli_json("energy", "--kernel", "riesz", "--N", "6", "--d", "3", "--restarts", "2", "--rounds", "1", "--json")
    e5 = cli_json("energy", "--kernel", "riesz", "--N", "5", "--d", "3", "--restarts", "2", "--rounds", "1",
                  "--no-bound", "--json")
    out["energy6"], out["energy5"] = d / "e6.json", d / "e5.json"
    out["energy6"].write_text(json.dumps(e6))
    out["energy5"].write_text(json.dumps(e5))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8))
    np.save(d / "x.npy", X)
    np.save(d / "y.npy", X + 0.3 * rng.standard_normal(X.shape))
    a = cli_json("analyze", d / "x.npy", "--pairs", d / "y.npy", "--json")
    out["analyze"] = d / "analyze.json"
    out["analyze"].write_text(json.dumps(a))
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        assert main(["sweep", "--loss", "kcl", "--M", "2:3", "--d", "2,3", "--restarts", "2", "--no-hessian",
                     "--out", str(d / "sweep.jsonl")]) == 0
    out["sweep"] = d / "sweep.jsonl"
    return out


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR, after checking the signature and the IHDR's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, tag = struct.unpack(">I4s", data[8:16])
    assert tag == b"IHDR" and length == 13
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29])
    return struct.unpack(">II", data[16:24])


def check_png(path, min_bytes=15_000, min_px=400):
    data = path.read_bytes()
    w, h = png_size(data)
    assert len(data) >= min_bytes and w >= min_px and h >= min_px, (path, len(data), w, h)
    assert data.endswith(b"IEND\xaeB`\x82")
    # decoded by matplotlib too, and not a blank canvas
    import matplotlib.image as mpimg

    img = mpimg.imread(str(path))
    assert img.shape[:2] == (h, w)
    assert float(img[..., :3].std()) > 0.05


SOURCES = {
    "verify": ["verify"], "geometry": ["verify"], "gram": ["verify"], "histogram": ["verify"],
    "convergence": ["verify"], "energy": ["energy5", "energy6"], "phase": ["sweep"], "analyze": ["analyze"],
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_a_png(kind, saved, tmp_path, capsys):
    out = tmp_path / f"{kind}.png"
    code = main(["plot", *[str(saved[s]) for s in SOURCES[kind]], "--kind", kind, "--out", str(out)])
    o, err = capsys.readouterr()
    assert code == 0, err
    assert f"figure  {out}" in o
    check_png(out)


@pytest.mark.parametrize("kind,source", [("geometry", "energy6"), ("histogram", "energy6"),
                                         ("convergence", "energy6"), ("gram", "energy6"),
                                         ("geometry", "analyze"), ("histogram", "analyze"),
                                         ("geometry", "verify16"), ("energy", "sweep")])
def test_kinds_from_other_results(kind, source, saved, tmp_path, capsys):
    out = tmp_path / f"{kind}-{source}.png"
    code = main(["plot", str(saved[source]), "--kind", kind, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    check_png(out)


@pytest.mark.parametrize("ext,magic", [(".svg", b"<?xml"), (".pdf", b"%PDF-")])
def test_format_by_extension(ext, magic, saved, tmp_path, capsys):
    out = tmp_path / f"f{ext}"
    assert main(["plot", str(saved["analyze"]), "--kind", "analyze", "--out", str(out)]) == 0
    assert out.read_bytes()[:5] == magic and out.stat().st_size > 10_000


def test_energy_curve_draws_the_saved_values(saved):
    rs = [json.loads(saved[k].read_text()) for k in ("energy6", "energy5")]
    fig = plots.energy_curves(rs)
    ax = fig.axes[0]
    line = ax.lines[0]
    N = np.asarray(line.get_xdata())
    per_pair = np.asarray(line.get_ydata())
    assert list(N) == [5, 6]  # sorted by N, both results on one curve (same kernel, s and d)
    values = {r["N"]: r["value"] for r in rs}
    assert per_pair == pytest.approx([values[5] / 10, values[6] / 15], rel=1e-15)
    bound = ax.lines[1]  # only N = 6 carries an LP bound
    assert list(bound.get_xdata()) == [6]
    assert bound.get_ydata()[0] == pytest.approx(rs[0]["lp_bound"]["bound"] / 15, rel=1e-15)


def test_phase_diagram_colours_are_the_verdicts(saved):
    from hemtools.sweep import read_results

    rows = read_results(str(saved["sweep"]))
    rows[0] = {**rows[0], "verdict": "refuted"}  # one cell changed: its colour must follow
    fig = plots.phase_diagram(rows)
    grid = fig.axes[0].images[0].get_array()
    codes = {"confirmed": 0, "refuted": 1, "inconclusive": 2, "error": 3}
    Ms, ds = sorted({r["M"] for r in rows}), sorted({r["d"] for r in rows})
    for r in rows:
        assert grid[ds.index(r["d"]), Ms.index(r["M"])] == codes[r["verdict"]]
    assert fig.axes[0].get_xlabel() == "number of pairs M" and fig.axes[0].get_ylabel() == "dimension d"


def test_analyze_histogram_is_a_density_against_the_uniform_law(saved):
    r = json.loads(saved["analyze"].read_text())
    fig = plots.analyze_figure(r)
    ax = fig.axes[0]
    # the stairs drawn integrate to 1 (a density), and the grey curve is the uniform law on S^{d-1}
    edges, counts = np.asarray(r["histogram"]["edges"]), np.asarray(r["histogram"]["counts"])
    dens = ax.patches[0].get_data().values
    assert float((dens * np.diff(edges)).sum()) == pytest.approx(1.0, rel=1e-12)
    assert sum(counts) == r["n_pairs"]
    law = [ln for ln in ax.lines if "uniform law" in str(ln.get_label())][0]
    s, f = np.asarray(law.get_xdata()), np.asarray(law.get_ydata())
    from hemtools.metrics import uniform_inner_product_pdf

    assert f == pytest.approx(uniform_inner_product_pdf(s, r["d"]), rel=1e-12)
    for a in fig.axes:  # every panel has a title and labelled axes
        assert a.get_title()
        if a.get_visible() and a.axison:
            assert a.get_xlabel() and a.get_ylabel()


def test_bad_plot_requests_are_one_line(saved, tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    cases = [
        (
            ["plot", str(tmp_path / "none.json"), "--kind", "gram", "--out", str(tmp_path / "g.png")],
            "none.json: no such file",
        ),
        (
            ["plot", str(tmp_path / "bad.json"), "--kind", "gram", "--out", str(tmp_path / "g.png")],
            "bad.json: not JSON",
        ),
        (
            ["plot", str(tmp_path / "list.json"), "--kind", "gram", "--out", str(tmp_path / "g.png")],
            "list.json: expected a JSON object",
        ),
        (
            ["plot", str(saved["verify"]), "--kind", "gram", "--out", str(tmp_path / "g.gif")],
            "unsupported file type '.gif'",
        ),
        (
            ["plot", str(saved["analyze"]), "--kind", "gram", "--out", str(tmp_path / "g.png")],
            "holds analyze results; --kind gram draws energy or verify results",
        ),
        (["plot", str(saved["sweep"]), "--kind", "gram", "--out", str(tmp_path / "g.png")], "draws one result, got 4"),
        (
            ["plot", str(saved["verify"]), "--kind", "phase", "--out", str(tmp_path / "g.png"), "--kind", "nope"],
            "invalid choice: 'nope'",
        ),
    ]
    for argv, expected in cases:
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 2 and "Traceback" not in err, (argv, err)
        assert len(err.strip().splitlines()) == 1 and expected in err, (expected, err)
        assert not (tmp_path / "g.png").exists()
    # a sweep row saved without its points cannot be drawn as a Gram matrix: said in one line
    row = json.loads(saved["sweep"].read_text().splitlines()[0])
    (tmp_path / "row.json").write_text(json.dumps(row))
    code = main(["plot", str(tmp_path / "row.json"), "--kind", "gram", "--out", str(tmp_path / "g.png")])
    err = capsys.readouterr().err
    assert code == 2 and "lacks" in err and "'points'" in err and len(err.strip().splitlines()) == 1


def test_plot_help_does_not_import_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys; from hemtools.cli import main; main(['plot', '--help']); "
        "print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip().splitlines()[-1] == "False False", p.stdout + p.stderr


def test_sweep_file_cut_by_a_crash_still_draws(saved, tmp_path, capsys):
    """A sweep killed mid-write leaves a partial last line: it is skipped, as sweep.read_results does."""
    cut = tmp_path / "cut.jsonl"
    cut.write_text(saved["sweep"].read_text() + '{"loss": "kcl", "M": 9, "d"')
    code = main(["plot", str(cut), "--kind", "phase", "--out", str(tmp_path / "p.png")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "from 4 results" in out
    check_png(tmp_path / "p.png")
