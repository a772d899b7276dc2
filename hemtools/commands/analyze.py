"""``hemtools analyze``: representation metrics of saved embeddings (.npy, .npz, .pt, .csv)."""

from __future__ import annotations

import argparse
import math
import os
import sys

from ._common import check_output_path, print_json

NAME = "analyze"
ORDER = 30
HELP = "metrics of saved embeddings: alignment, uniformity, effective rank, W1 to the uniform law"
DESCRIPTION = """\
Load embeddings (one per row) and measure what Koromilas et al. (§7) and Wang & Isola look at:

  alignment       mean |u_i - v_i|^2 over the positive pairs (needs --pairs, row i pairs with row i)
  uniformity      log mean_(i<j) exp(-2 |u_i - u_j|^2)
  effective rank  exp(entropy of the normalised singular values)
  W1              Wasserstein-1 distance between the law of the inner products u_i.u_j (i<j) and their
                  law for independent uniform points on S^(d-1): exact through the CDF (up to 2^20 pairs),
                  else a rigorous bracket whose half-width is printed
  nearest         for M <= 256: the distance to every known configuration with M points in R^d

Rows that are not unit vectors are normalised (and the output says so): the metrics are defined on the
sphere.  Files: .npy, .npz and .pt (a tensor, or a dict/archive of them: choose one with --key when
there are several), .csv (numbers only, one embedding per line; a header line is skipped and reported).

exit codes: 0 measured, 2 bad input (one line naming the file and the problem), 3 a metric came out
non-finite (inconclusive), 4 internal error.

example: hemtools analyze z1.npy --pairs z2.npy --plot metrics.png
         hemtools analyze run.pt --key embeddings --json
"""

EXTENSIONS = (".npy", ".npz", ".pt", ".pth", ".csv")
SAMPLE_POINTS = 500  # points kept (projected to 2-D, or 3-D on S^2) in the JSON for the geometry panel


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("emb", metavar="EMB", help="embeddings, one per row: .npy, .npz, .pt or .csv")
    p.add_argument("--pairs", metavar="EMB2", help="the positives: row i of EMB2 pairs with row i of EMB")
    p.add_argument("--key", default=None, help="array to use in a .npz or a dict saved in .pt (both files)")
    p.add_argument("--seed", type=int, default=0, help="seed for the subsample drawn in the figure (default 0)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document")
    p.add_argument("--plot", metavar="FILE", help="write a figure (.png, .svg or .pdf)")


# --------------------------------------------------------------------------------------------------------
# loading (every problem is an ArgumentError naming the file)


def load_embeddings(path: str, key: str | None = None):
    """(array (M, d) float64 numpy, notes): the embeddings in ``path``, validated, rows not yet normalised."""
    import numpy as np

    from hemtools.errors import ArgumentError

    ext = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise ArgumentError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ArgumentError(f"{path}: is a directory, expected a file")
    if ext not in EXTENSIONS:
        raise ArgumentError(f"{path}: unsupported file type {ext or '(none)'!r}; use .npy, .npz, .pt or .csv")
    notes: list[str] = []
    try:
        if ext == ".npy":
            with open(path, "rb") as fh:
                if fh.read(6) != b"\x93NUMPY":
                    raise ArgumentError(f"{path}: not a .npy file (no NumPy header)")
            arr = np.load(path, allow_pickle=False)
        elif ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arr = _choose(path, {k: z[k] for k in z.files}, key)
        elif ext in (".pt", ".pth"):
            arr = _load_torch(path, key)
        else:
            arr, notes = _load_csv(path)
    except ArgumentError:
        raise
    except Exception as exc:  # noqa: BLE001 — torch.load/np.load raise many kinds (KeyError, UnpicklingError, ...) on garbage
        raise ArgumentError(f"{path}: not a readable {ext} file ({_short(exc)})") from None
    return _validate(path, arr), notes


def _short(exc: BaseException, limit: int = 100) -> str:
    """The first sentence of an exception's message, at most ``limit`` characters (for one-line errors)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "Object arrays cannot be loaded" in text or "pickled" in text:
        return "it holds Python objects, not numbers"
    first = text.split(". ")[0]
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _choose(path: str, arrays: dict, key: str | None):
    from hemtools.errors import ArgumentError

    if not arrays:
        raise ArgumentError(f"{path}: contains no arrays")
    if key is not None:
        if key not in arrays:
            raise ArgumentError(f"{path}: no array named {key!r} (has {', '.join(map(repr, arrays))})")
        return arrays[key]
    if len(arrays) > 1:
        raise ArgumentError(f"{path}: contains {len(arrays)} arrays ({', '.join(map(repr, arrays))}); "
                            "choose one with --key")
    return next(iter(arrays.values()))


def _load_torch(path: str, key: str | None):
    import pickle

    import torch

    from hemtools.errors import ArgumentError

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)  # never unpickles arbitrary code
    except pickle.UnpicklingError as exc:
        raise ArgumentError(f"{path}: torch.load(weights_only=True) refused it: not a tensor file, or it "
                            f"holds Python objects other than tensors ({_short(exc, 60)})") from None
    if isinstance(obj, torch.Tensor):
        return obj.detach().to(torch.float64).numpy() if not obj.is_complex() else obj.numpy()
    if isinstance(obj, dict):
        tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if not tensors:
            raise ArgumentError(f"{path}: a dict with no tensors in it (keys {', '.join(map(repr, map(str, obj)))})")
        t = _choose(path, tensors, key)
        return t.detach().to(torch.float64).numpy() if not t.is_complex() else t.numpy()
    raise ArgumentError(f"{path}: contains a {type(obj).__name__}; expected a tensor or a dict of tensors")


def _load_csv(path: str):
    """Numbers only, one row per line, the same count on every line; an optional header line."""
    import csv

    import numpy as np

    from hemtools.errors import ArgumentError

    notes = []
    rows: list[list[float]] = []
    width = None
    with open(path, newline="", encoding="utf-8", errors="strict") as fh:
        try:
            lines = list(csv.reader(fh))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ArgumentError(f"{path}: not a readable CSV file ({exc})") from None
    first_data = None
    for lineno, cells in enumerate(lines, start=1):
        if not cells or all(not c.strip() for c in cells):
            continue
        try:
            vals = [float(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if not _is_float(c))
            if first_data is None and not rows and not any(_is_float(c) for c in cells):
                notes.append(f"skipped the header line of {path}")
                first_data = lineno + 1
                continue
            raise ArgumentError(f"{path}: line {lineno}: {bad.strip()!r} is not a number") from None
        if width is None:
            width, first_data = len(vals), lineno
        elif len(vals) != width:
            raise ArgumentError(f"{path}: ragged rows: line {lineno} has {len(vals)} values, "
                                f"line {first_data} has {width}")
        rows.append(vals)
    if not rows:
        raise ArgumentError(f"{path}: no numbers in the file")
    return np.array(rows, dtype=np.float64), notes


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _validate(path: str, arr):
    import numpy as np

    from hemtools.errors import ArgumentError

    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        what = "complex" if arr.dtype.kind == "c" else str(arr.dtype)
        raise ArgumentError(f"{path}: expected real numbers, got dtype {what}")
    if arr.ndim != 2:
        raise ArgumentError(f"{path}: expected a 2-D array (M, d) with one embedding per row, got shape {arr.shape}")
    M, d = arr.shape
    if M < 2:
        raise ArgumentError(f"{path}: need at least 2 embeddings (rows), got {M}")
    if d < 2:
        raise ArgumentError(f"{path}: need dimension d >= 2 (columns), got {d}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.nonzero(bad)[0]
        shown = ", ".join(str(int(r)) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
        raise ArgumentError(f"{path}: {rows.size} row{'s' if rows.size > 1 else ''} contain NaN or inf "
                            f"(rows {shown}, counted from 0)")
    norms = np.linalg.norm(arr, axis=1)
    zero = norms == 0
    if zero.any():
        rows = np.nonzero(zero)[0]
        raise ArgumentError(f"{path}: {rows.size} zero row{'s' if rows.size > 1 else ''} cannot be put on the "
                            f"sphere (rows {', '.join(str(int(r)) for r in rows[:5])}, counted from 0)")
    return arr


def normalise(path: str, arr):
    """Unit rows, and a note saying so when they were not unit already (|‖u‖ − 1| > 1e−8)."""
    import numpy as np

    norms = np.linalg.norm(arr, axis=1)
    dev = float(np.abs(norms - 1.0).max())
    if dev <= 1e-8:
        return arr / norms[:, None], None
    return arr / norms[:, None], (f"normalised the rows of {path} to unit length (norms were "
                                  f"{norms.min():.4g} to {norms.max():.4g})")


# --------------------------------------------------------------------------------------------------------
# the analysis


def analyze(path: str, pairs: str | None = None, key: str | None = None, seed: int = 0) -> dict:
    """The result dictionary of ``hemtools analyze`` (what ``--json`` prints and ``plot --kind analyze`` draws)."""
    import time

    import torch

    from hemtools import metrics as mt
    from hemtools.errors import ArgumentError

    t0 = time.perf_counter()
    U, notes = load_embeddings(path, key)
    U, note = normalise(path, U)
    notes += [note] if note else []
    V = None
    if pairs is not None:
        V, more = load_embeddings(pairs, key)
        notes += more
        if V.shape != U.shape:
            raise ArgumentError(f"{pairs}: shape {V.shape} differs from {path}'s {U.shape}; "
                                "--pairs needs one positive per row of EMB")
        V, note = normalise(pairs, V)
        notes += [note] if note else []
    Ut = torch.from_numpy(U)
    m = mt.metrics(Ut, None if V is None else torch.from_numpy(V))
    near = [c.to_dict() for c in mt.nearest_configurations(Ut)]
    out = {"result": "analyze", "file": path, "pairs": pairs, "M": m.M, "d": m.d, **m.to_dict()}
    out["nearest_configurations"] = near
    out["nearest"] = near[0] if near else None
    out["projection"] = _projection(U, V, seed)
    out["notes"] = notes
    out["seconds"] = time.perf_counter() - t0
    return out


def _projection(U, V, seed: int) -> dict:
    """At most SAMPLE_POINTS points (and their pairs) for the geometry panel: the points themselves on S^1
    and S^2, a PCA projection to 2-D otherwise (principal axes of U, and V when given)."""
    import numpy as np

    M, d = U.shape
    idx = np.arange(M)
    if M > SAMPLE_POINTS:
        idx = np.sort(np.random.default_rng(seed).choice(M, SAMPLE_POINTS, replace=False))
    if d <= 3:
        return {"kind": "sphere" if d == 3 else "circle", "index": idx.tolist(), "U": U[idx].tolist(),
                "V": None if V is None else V[idx].tolist(), "explained": None}
    allp = U if V is None else np.vstack([U, V])
    mean = allp.mean(0)
    _, sv, vt = np.linalg.svd(allp - mean, full_matrices=False)
    var = sv ** 2 / max(float((sv ** 2).sum()), 1e-300)
    P = vt[:2].T
    return {"kind": "pca", "index": idx.tolist(), "U": ((U[idx] - mean) @ P).tolist(),
            "V": None if V is None else ((V[idx] - mean) @ P).tolist(), "explained": var[:2].tolist()}


def finite_metrics(r: dict) -> list[str]:
    """Names of the metrics that came out non-finite (the JSON writes them as strings)."""
    names = ["uniformity", "effective_rank", "w1"] + (["alignment"] if r.get("alignment") is not None else [])
    return [n for n in names if not (isinstance(r[n], (int, float)) and math.isfinite(r[n]))]


def run(args: argparse.Namespace) -> int:
    from hemtools.errors import ArgumentError

    if args.seed < 0:
        raise ArgumentError(f"--seed: expected an integer >= 0, got {args.seed}")
    if args.plot:
        check_output_path(args.plot)
    r = analyze(args.emb, args.pairs, args.key, args.seed)
    bad = finite_metrics(r)
    if bad:
        r["verdict"] = "inconclusive"
        r["notes"].append(f"non-finite: {', '.join(bad)}")
    if args.json:
        print_json(r)
    else:
        sys.stdout.write(render(r))
        sys.stdout.flush()
    if args.plot:
        from hemtools import plots

        plots.analyze_figure(r, args.plot)
        if not args.json:
            print(f"figure          {args.plot}")
    return 3 if bad else 0


def render(r: dict) -> str:
    """The human table."""
    w = r["w1_details"]
    lines = [f"embeddings      {r['file']}: M={r['M']} points in d={r['d']} ({r['n_pairs']:,} pairs i<j)"]
    if r.get("pairs"):
        lines.append(f"pairs           {r['pairs']}")
    for n in r["notes"]:
        lines.append(f"note            {n}")
    if r.get("alignment") is not None:
        lines.append(f"alignment       {r['alignment']:.6g}   mean |u_i - v_i|^2 (0 = perfectly aligned, max 4)")
    err = f" (± {r['uniformity_error']:.1e})" if r["uniformity_error"] else ""
    lines.append(f"uniformity      {r['uniformity']:.6g}{err}   log mean exp(-2|u_i - u_j|^2) (lower = more uniform)")
    lines.append(f"effective rank  {r['effective_rank']:.6g}   of at most {min(r['M'], r['d'])}")
    how = "exact (sorted)" if w["method"] == "sorted" else f"± {w['error_bound']:.1e} (streamed histogram)"
    lines.append(f"W1 to uniform   {r['w1']:.6g}   {how}; 0 = inner products distributed as for uniform points")
    lines.append(f"inner products  min {r['min_inner_product']:.4g}, mean {r['mean_inner_product']:.4g}, "
                 f"max {r['max_inner_product']:.4g}")
    near = r.get("nearest")
    if near:
        proc = f", Procrustes residual {near['procrustes']:.2e}" if near["procrustes"] is not None else ""
        tag = "  (recognised)" if near["recognised"] else ""
        lines.append(f"nearest config  {near['name']}: inner-product distance {near['fingerprint']:.2e}{proc}{tag}")
    elif r["M"] <= 256:
        lines.append("nearest config  no known configuration has this M in this d")
    lines.append(f"seconds         {r['seconds']:.2f}")
    return "\n".join(lines) + "\n"
