"""Reading and writing files: results (one JSON document or JSON lines), embeddings, atomic writes.

Every problem with a file the user named is one :class:`~hemtools.errors.ArgumentError` naming the file
(exit 2, SPEC §5).  Standard library at import; numpy and torch are imported by the loaders that need them.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile

from .errors import ArgumentError

EXTENSIONS = (".npy", ".npz", ".pt", ".pth", ".csv")  # what load_embeddings reads


def write_atomic(path: str, data: bytes | str) -> None:
    """Write a file so that a crash or Ctrl-C never leaves a truncated one behind (temp file + rename)."""
    path = os.path.abspath(path)
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".hemtools-", dir=d)
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600: give the mode an ordinary write would
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _file_mode(path: str) -> int:
    """The mode of the file being replaced, or 0666 less the umask for a new one."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


# --------------------------------------------------------------------------------------------------------
# saved results


def _json_lines(text: str, strict_first: bool, path: str, whole: json.JSONDecodeError | None) -> list:
    """The documents of a JSON-lines text; a line that does not parse (cut by a crash of the sweep that
    wrote it) is skipped, except a first line when ``strict_first`` (then the file is not JSON at all)."""
    docs = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            docs.append(json.loads(line))
        except json.JSONDecodeError:
            if strict_first and lineno == 1 and whole is not None:
                raise ArgumentError(f"{path}: not JSON ({whole.msg} at line {whole.lineno})") from None
            continue
    return docs


def read_results(path: str, *, resume: bool = False) -> list[dict]:
    """The results saved in ``path``: one JSON document (an object or a list of them) or JSON lines (a
    sweep file), as a list of dicts.

    ``resume=True`` reads a sweep file that is being appended to: a missing or empty file is [], and a
    line that does not parse is skipped wherever it is.  Otherwise every problem (no such file, a
    directory, empty, not JSON, not objects) is an ArgumentError naming the file."""
    if resume:
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as fh:
            return _json_lines(fh.read(), False, path, None)
    if not os.path.exists(path):
        raise ArgumentError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ArgumentError(f"{path}: is a directory, expected a JSON file")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ArgumentError(f"{path}: cannot be read ({exc})") from None
    if not text.strip():
        raise ArgumentError(f"{path}: is empty")
    try:
        doc = json.loads(text)
        docs = doc if isinstance(doc, list) else [doc]
    except json.JSONDecodeError as whole:
        docs = _json_lines(text, True, path, whole)
    bad = [i for i, d in enumerate(docs) if not isinstance(d, dict)]
    if bad or not docs:
        raise ArgumentError(f"{path}: expected a JSON object (or one per line), got "
                            f"{type(docs[bad[0]]).__name__ if bad else 'nothing'}")
    return docs


# --------------------------------------------------------------------------------------------------------
# embeddings (every problem is an ArgumentError naming the file)


def load_embeddings(path: str, key: str | None = None):
    """(array (M, d) float64 numpy, notes): the embeddings in ``path``, validated, rows not yet normalised."""
    import numpy as np


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
        one = rows.size == 1
        raise ArgumentError(f"{path}: {rows.size} row{'' if one else 's'} contain{'s' if one else ''} NaN or inf "
                            f"(row{'' if one else 's'} {shown}, counted from 0)")
    norms = np.linalg.norm(arr, axis=1)
    zero = norms == 0
    if zero.any():
        rows = np.nonzero(zero)[0]
        one = rows.size == 1
        raise ArgumentError(f"{path}: {rows.size} zero row{'' if one else 's'} cannot be put on the "
                            f"sphere (row{'' if one else 's'} {', '.join(str(int(r)) for r in rows[:5])}"
                            f"{', ...' if rows.size > 5 else ''}, counted from 0)")
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
