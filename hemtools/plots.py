"""Figures of minimisers and runs (matplotlib, no display needed).

Every function draws from plain data (the JSON dictionaries that the commands print with ``--json``), so
a saved result can be re-drawn without recomputing.  Figures are built on ``matplotlib.figure.Figure``
with the Agg canvas: no pyplot state, no GUI backend.  The file type follows the extension (.png, .svg,
.pdf); files are written atomically so that a crash never leaves a truncated figure.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np


def _import_matplotlib():
    """matplotlib validates MPLBACKEND when it is imported, and a name it does not know (a typo, a backend of
    another installation) makes the import fail.  These figures never use a backend (Agg canvas, no pyplot), so
    the variable is set aside for the import and put back."""
    try:
        import matplotlib  # noqa: F401
    except ValueError:
        backend = os.environ.pop("MPLBACKEND", None)
        if backend is None:
            raise
        import sys

        for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
            del sys.modules[name]  # what the failed import left half-initialised
        try:
            import matplotlib  # noqa: F401
        finally:
            os.environ["MPLBACKEND"] = backend


_import_matplotlib()
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def save(fig: Figure, path: str) -> str:
    """Write ``fig`` to ``path`` (format from the extension), atomically."""
    from hemtools.errors import ArgumentError
    from hemtools.io import write_atomic

    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ArgumentError(f"plot: unsupported file type {ext or '(none)'!r} in {path!r}; use .png, .svg or .pdf")
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format=FORMATS[ext], dpi=120, bbox_inches="tight")
    write_atomic(path, buf.getvalue())
    return path


# --------------------------------------------------------------------------------------------------------
# building blocks (each draws into a given Axes)


def uniform_inner_product_density(s: np.ndarray, d: int) -> np.ndarray:
    """Density of x·y for independent uniform x, y on S^{d-1}: ∝ (1 − s²)^{(d−3)/2} on [−1, 1]."""
    from scipy.special import beta

    if d == 2:  # arcsine law
        with np.errstate(divide="ignore"):
            return 1.0 / (math.pi * np.sqrt(np.clip(1 - s * s, 1e-300, None)))
    return (1 - s * s) ** ((d - 3) / 2) / beta(0.5, (d - 1) / 2)


def gram_heatmap(ax, X: np.ndarray, M: int | None = None, title: str = "Gram matrix") -> None:
    G = X @ X.T
    im = ax.imshow(G, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="inner product")
    if M is not None and X.shape[0] == 2 * M:
        ax.axhline(M - 0.5, color="k", lw=0.8)
        ax.axvline(M - 0.5, color="k", lw=0.8)
        ax.set_xlabel("point index (U | V)")
        ax.set_ylabel("point index (U | V)")
    else:
        ax.set_xlabel("point index")
        ax.set_ylabel("point index")
    ax.set_title(title)


def inner_product_histogram(ax, X: np.ndarray, d: int, target: float | None = None,
                            title: str = "Inner products $u_i\\cdot u_j$ ($i<j$)", label: str = "found") -> None:
    """Histogram of the inner products of the rows of X (i < j) against the uniform law on S^{d−1}."""
    n = X.shape[0]
    vals = np.clip((X @ X.T)[np.triu_indices(n, 1)], -1.0, 1.0)
    lo, hi = float(vals.min()), float(vals.max())
    mid = 0.5 * (lo + hi)
    # the same binning as metrics(): 80 bins on the data's range, a visible window around a single value
    rng = (lo, hi) if hi - lo > 1e-3 else (max(-1.0, mid - 0.0101), min(1.0, mid + 0.0099))
    counts, edges = np.histogram(vals, bins=80, range=rng)
    histogram_from_counts(ax, edges, counts, d, target=target, title=title, label=label)


def geometry(fig, spec, U: np.ndarray, V: np.ndarray | None, title: str = "Configuration",
             chords: bool | None = None):
    """Sphere scatter for d = 3 (pairs joined), the circle for d = 2, a PCA projection otherwise.

    ``chords``: join nearest neighbours of the u_i on S^2 (default: for 4 to 64 points)."""
    d = U.shape[1]
    if d == 3:
        from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the 3d projection)

        ax = fig.add_subplot(spec, projection="3d")
        uu, vv = np.mgrid[0:2 * np.pi:30j, 0:np.pi:15j]
        ax.plot_wireframe(np.cos(uu) * np.sin(vv), np.sin(uu) * np.sin(vv), np.cos(vv), color="0.85", lw=0.4)
        ax.scatter(*U.T, color="tab:blue", s=30, depthshade=False, label="$u_i$" if V is not None else "$x_i$")
        if (3 < U.shape[0] <= 64) if chords is None else chords:
            _nearest_neighbour_edges(ax, U)
        if V is not None:
            ax.scatter(*V.T, color="tab:orange", s=12, marker="x", depthshade=False, label="$v_i$")
            for u, v in zip(U, V, strict=False):
                ax.plot(*np.stack([u, v]).T, color="k", lw=0.8)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_zlabel("z")
        ax.set_title(title)
        ax.legend(fontsize=7, loc="upper left")
        return ax
    ax = fig.add_subplot(spec)
    if d == 2:
        P_U, P_V = U, V
        t = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(t), np.sin(t), color="0.8", lw=0.8)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    else:
        allp = U if V is None else np.vstack([U, V])
        mean = allp.mean(0)
        _, sv, vt = np.linalg.svd(allp - mean, full_matrices=False)
        P_U = (U - mean) @ vt[:2].T
        P_V = None if V is None else (V - mean) @ vt[:2].T
        var = sv ** 2 / max((sv ** 2).sum(), 1e-300)
        ax.set_xlabel(f"PC 1 ({100 * var[0]:.0f}% of variance)")
        ax.set_ylabel(f"PC 2 ({100 * var[1]:.0f}% of variance)" if len(var) > 1 else "PC 2")
        title = f"{title} (PCA projection of R^{d})"
    ax.scatter(P_U[:, 0], P_U[:, 1], color="tab:blue", s=30, label="$u_i$" if P_V is not None else "$x_i$", zorder=3)
    if P_V is not None:
        ax.scatter(P_V[:, 0], P_V[:, 1], color="tab:orange", s=12, marker="x", label="$v_i$", zorder=4)
        for a, b in zip(P_U, P_V, strict=False):
            ax.plot([a[0], b[0]], [a[1], b[1]], color="k", lw=0.8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper right")
    return ax


def _nearest_neighbour_edges(ax, X: np.ndarray) -> None:
    """Chords between points at (nearly) the smallest distance of each point: the skeleton that makes a
    configuration on S^2 readable (the edges of the icosahedron, the antiprism, ...)."""
    D = np.linalg.norm(X[:, None, :] - X[None, :, :], axis=-1)
    np.fill_diagonal(D, np.inf)
    near = D <= 1.05 * D.min(axis=1, keepdims=True)
    first = True
    for i, j in zip(*np.nonzero(np.triu(near | near.T, 1)), strict=False):
        ax.plot(*np.stack([X[i], X[j]]).T, color="tab:blue", lw=0.6, alpha=0.6,
                label="nearest-neighbour chords" if first else None)
        first = False


def convergence(ax, grad_norms: list[list[float]], tol: float | None = None,
                title: str = "Convergence of every restart", phase_switch: int | None = None) -> None:
    for i, row in enumerate(grad_norms):
        g = np.array([float(v) for v in row], dtype=float)
        # a restart that finished early repeats its last value in the history: cut the flat tail
        last = len(g)
        while last > 1 and g[last - 1] == g[last - 2]:
            last -= 1
        g = np.clip(g[:last], 1e-17, None)
        ax.semilogy(np.arange(len(g)), g, lw=1, alpha=0.8, label=f"restart {i}" if len(grad_norms) <= 8 else None)
    if tol is not None:
        ax.axhline(tol, color="tab:red", ls="--", lw=1, label=f"certificate {tol:.0e}")
    if phase_switch:
        # restarts are one batch: one that is close enough waits (a flat stretch) until all hand over
        ax.axvline(phase_switch, color="0.4", ls=":", lw=1, label="trust region starts")
    ax.set_xlabel("iteration (first order, then trust region; flat = waiting for the batch)")
    ax.set_ylabel("Riemannian gradient norm")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)


# --------------------------------------------------------------------------------------------------------
# composite figures


def verify_figure(result: dict, path: str | None = None) -> Figure:
    """The figure of ``hemtools verify --plot``: Gram heatmap, inner-product histogram with the simplex
    value, geometry (sphere for d = 3, PCA otherwise) and the convergence of every restart.

    ``result`` is ``VerifyReport.to_dict()`` (or the JSON that ``verify --json`` printed)."""
    M, d = int(result["M"]), int(result["d"])
    pts = result["points"]
    if "U" in pts:
        U, V = np.asarray(pts["U"], float), np.asarray(pts["V"], float)
        X = np.vstack([U, V])
    else:
        U, V = np.asarray(pts["X"], float), None
        X = U
    fig = Figure(figsize=(11, 9), layout="constrained")
    gs = fig.add_gridspec(2, 2)
    gram_heatmap(fig.add_subplot(gs[0, 0]), X, M if V is not None else None)
    target = -1.0 / (M - 1) if M <= d + 1 else None
    inner_product_histogram(fig.add_subplot(gs[0, 1]), U, d, target)
    geometry(fig, gs[1, 0], U, V, "Minimiser")
    tol = next((c["tolerance"] for c in result.get("checks", []) if c["name"] == "gradient_norm"), None)
    convergence(fig.add_subplot(gs[1, 1]), result.get("history", {}).get("grad_norms", []),
                tol if isinstance(tol, (int, float)) else None,
                phase_switch=result.get("history", {}).get("phase_switch"))
    fig.suptitle(f"{result['loss']}  M={M}  d={d}  claim={result.get('claim')}: {result.get('verdict', '').upper()}"
                 f"   value {float(result['value']):.10g}")
    if path is not None:
        save(fig, path)
    return fig


# --------------------------------------------------------------------------------------------------------
# reading saved results (the JSON of verify / energy / analyze, the JSON lines of a sweep)


# the "result" tag of a saved result → what it draws as (a sweep row is a verify result with its cell key)
_DRAWN_AS = {"verify": "verify", "sweep": "verify", "energy": "energy", "analyze": "analyze"}


def result_type(r: dict) -> str:
    """'verify', 'energy', 'analyze' or 'unknown': the ``"result"`` tag of a saved result; files written
    before the tag existed are recognised from their keys."""
    tag = r.get("result")
    if isinstance(tag, str):
        return _DRAWN_AS.get(tag, "unknown")
    if "kernel" in r and "N" in r:
        return "energy"
    if "effective_rank" in r and "w1" in r:
        return "analyze"
    if "loss" in r and "verdict" in r and "M" in r:
        return "verify"
    return "unknown"


result_kind = result_type  # the name before issue 12


def points_of(r: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """(U, V or None) of a saved verify or energy result (``points`` is {"U", "V"}, {"X"} or a list)."""
    pts = r.get("points")
    if isinstance(pts, dict) and "U" in pts:
        return np.asarray(pts["U"], float), np.asarray(pts["V"], float)
    if isinstance(pts, dict) and "X" in pts:
        return np.asarray(pts["X"], float), None
    if isinstance(pts, list) and pts:
        return np.asarray(pts, float), None
    raise KeyError("points")


def _label(r: dict) -> str:
    if result_kind(r) == "energy":
        params = ", ".join(f"{k}={v:g}" for k, v in (r.get("params") or {}).items())
        return f"{r['kernel']} energy" + (f" ({params})" if params else "") + f", N={r['N']}, d={r['d']}"
    if result_kind(r) == "verify":
        params = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                           for k, v in (r.get("params") or {}).items())
        return f"{r['loss']}" + (f" ({params})" if params else "") + f", M={r['M']}, d={r['d']}"
    return str(r.get("file", "embeddings"))


# --------------------------------------------------------------------------------------------------------
# more building blocks


def uniform_law_overlay(ax, d: int, lo: float = -1.0, hi: float = 1.0) -> None:
    """The density of x·y for uniform x, y on S^{d−1}, drawn over [lo, hi]."""
    s = np.linspace(max(lo, -0.9995), min(hi, 0.9995), 400)
    ax.plot(s, uniform_inner_product_density(s, d), color="tab:gray", lw=1.5,
            label=f"uniform law on $S^{{{d - 1}}}$")


def histogram_from_counts(ax, edges, counts, d: int, *, w1: float | None = None, target: float | None = None,
                          title: str = "Inner products $u_i\\cdot u_j$ ($i<j$)", label: str = "embeddings") -> None:
    """A saved histogram (edges, counts) as a density, against the uniform law on S^{d−1}."""
    edges = np.asarray(edges, float)
    counts = np.asarray(counts, float)
    total = counts.sum()
    widths = np.diff(edges)
    dens = counts / max(total, 1.0) / np.where(widths > 0, widths, 1.0)
    label = label + (f" (W1 to uniform = {w1:.3g})" if w1 is not None else "")
    # filled bars plus their outline: a bin narrower than a pixel (a simplex: every inner product equal)
    # still shows as a line
    ax.stairs(dens, edges, fill=True, color="#9ecae1", label=label)
    ax.stairs(dens, edges, color="tab:blue", lw=1.0)
    uniform_law_overlay(ax, d)
    if target is not None:
        ax.axvline(target, color="tab:red", ls=":", lw=1.5, label=f"simplex $-1/(M-1)$ = {target:.3g}")
    law_top = float(uniform_inner_product_density(np.linspace(-0.98, 0.98, 99), d).max())
    top = float(dens.max()) if dens.size else 0.0
    if top > 6 * law_top:  # a spike would flatten the uniform law to the axis: cut it, and say so
        ax.set_ylim(0, 6 * law_top)
        k = int(np.argmax(dens))
        peak = 0.5 * (edges[k] + edges[k + 1])
        ax.annotate(f"{int(counts[k])} of {int(total)} pairs in one bin\nof width {widths[k]:.2g} (off scale)",
                    xy=(peak, 6 * law_top), xytext=(0.98, 0.8),
                    textcoords="axes fraction", ha="right", fontsize=7,
                    arrowprops=dict(arrowstyle="->", color="0.3", lw=0.8))
    ax.set_xlim(-1, 1)
    ax.set_xlabel("inner product (cosine similarity)")
    ax.set_ylabel("probability density")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left")


def singular_value_spectrum(ax, sv, effective_rank: float | None = None,
                            title: str = "Singular-value spectrum") -> None:
    sv = np.asarray(sv, float)
    k = np.arange(1, sv.size + 1)
    rel = sv / sv[0] if sv.size and sv[0] > 0 else sv
    ax.plot(k, np.clip(rel, 1e-17, None), marker="o", ms=3, lw=1, label="$\\sigma_k / \\sigma_1$")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if rel.size and rel.min() < 1e-2:  # a log axis only where the spectrum spans decades
        ax.set_yscale("log")
    else:
        ax.set_ylim(0, 1.05)
    if effective_rank is not None and math.isfinite(effective_rank):
        ax.axvline(effective_rank, color="tab:red", ls="--", lw=1.2, label=f"effective rank {effective_rank:.4g}")
    ax.set_xlabel("index k")
    ax.set_ylabel("singular value, relative to the largest")
    ax.set_title(title)
    ax.legend(fontsize=7)


def alignment_distribution(ax, edges, counts, mean: float | None,
                           title: str = "Alignment of the positive pairs") -> None:
    edges = np.asarray(edges, float)
    ax.stairs(np.asarray(counts, float), edges, fill=True, alpha=0.6, color="tab:orange", label="pairs")
    if mean is not None:
        ax.axvline(mean, color="k", ls="--", lw=1.2, label=f"mean (alignment) = {mean:.3g}")
    ax.set_xlabel("squared distance $\\|u_i - v_i\\|^2$ (0 to 4)")
    ax.set_ylabel("number of pairs")
    ax.set_title(title)
    ax.legend(fontsize=7)


def projected_points(fig, spec, proj: dict, title: str, chords: bool = False):
    """The geometry panel of ``analyze`` from the saved projection (sphere, circle or PCA)."""
    U = np.asarray(proj["U"], float)
    V = None if proj.get("V") is None else np.asarray(proj["V"], float)
    if proj["kind"] in ("sphere", "circle"):
        return geometry(fig, spec, U, V, title, chords=chords)
    ax = fig.add_subplot(spec)
    ax.scatter(U[:, 0], U[:, 1], color="tab:blue", s=10, alpha=0.8, label="$u_i$", zorder=3)
    if V is not None:
        ax.scatter(V[:, 0], V[:, 1], color="tab:orange", s=8, marker="x", alpha=0.8, label="$v_i$", zorder=4)
        for a, b in zip(U, V, strict=False):
            ax.plot([a[0], b[0]], [a[1], b[1]], color="k", lw=0.4, alpha=0.5)
    ex = proj.get("explained") or [math.nan, math.nan]
    ax.set_xlabel(f"PC 1 ({100 * ex[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * ex[1]:.0f}% of variance)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper right")
    return ax


# --------------------------------------------------------------------------------------------------------
# composite figures from saved results


def summary_panel(ax, r: dict) -> None:
    """The numbers of an ``analyze`` result as a small table (the panel that pairs would otherwise fill)."""
    ax.set_axis_off()
    w = r.get("w1_details") or {}
    rows = [("embeddings", f"M = {r['M']}, d = {r['d']}"),
            ("uniformity", f"{r['uniformity']:.6g}"),
            ("effective rank", f"{r['effective_rank']:.5g} of {min(r['M'], r['d'])}"),
            ("W1 to uniform", f"{r['w1']:.4g}" + (" (exact)" if w.get("method") == "sorted"
                                                   else f" ± {r.get('w1_error_bound', 0):.1e}")),
            ("inner products", f"{r['min_inner_product']:.3g} to {r['max_inner_product']:.3g}, "
                               f"mean {r['mean_inner_product']:.3g}"),
            ("alignment", "no pairs given (--pairs)")]
    near = r.get("nearest")
    if near:
        rows.append(("nearest known", f"{near['name']}, inner-product distance {near['fingerprint']:.2g}"))
    for i, (k, v) in enumerate(rows):
        y = 0.9 - 0.12 * i
        ax.text(0.02, y, k, fontsize=10, weight="bold", transform=ax.transAxes, va="top")
        ax.text(0.38, y, v, fontsize=10, transform=ax.transAxes, va="top")
    ax.set_title("Metrics")


def analyze_figure(r: dict, path: str | None = None) -> Figure:
    """The figure of ``hemtools analyze --plot``: inner products against the uniform law, singular values,
    the alignment distribution (with pairs) and the points (sphere for d = 3, PCA otherwise)."""
    d = int(r["d"])
    fig = Figure(figsize=(11, 8.5), layout="constrained")
    gs = fig.add_gridspec(2, 2)
    h = r["histogram"]
    target = -1.0 / (r["M"] - 1) if r["M"] <= d + 1 else None
    histogram_from_counts(fig.add_subplot(gs[0, 0]), h["edges"], h["counts"], d, w1=r["w1"], target=target)
    singular_value_spectrum(fig.add_subplot(gs[0, 1]), r["singular_values"], r["effective_rank"],
                            title=f"Singular values (effective rank {r['effective_rank']:.4g} of {min(r['M'], d)})")
    ah = r.get("alignment_histogram")
    proj = r.get("projection")
    n_shown = len(proj["U"]) if proj else 0
    sub = f" ({n_shown} of {r['M']} points)" if proj and n_shown < r["M"] else ""
    near = r.get("nearest")
    chords = bool(near and near.get("recognised"))
    if ah:
        alignment_distribution(fig.add_subplot(gs[1, 0]), ah["edges"], ah["counts"], r.get("alignment"))
        if proj:
            projected_points(fig, gs[1, 1], proj, "Embeddings" + sub, chords)
    else:
        if proj:
            projected_points(fig, gs[1, 0], proj, "Embeddings" + sub, chords)
        summary_panel(fig.add_subplot(gs[1, 1]), r)
    extra = f", nearest {near['name']} (distance {near['fingerprint']:.2g})" if near else ""
    al = f", alignment {r['alignment']:.3g}" if r.get("alignment") is not None else ""
    fig.suptitle(f"{os.path.basename(str(r.get('file', '')))}: M={r['M']}, d={d}{al}, uniformity "
                 f"{r['uniformity']:.4g}, W1 {r['w1']:.3g}{extra}")
    if path is not None:
        save(fig, path)
    return fig


def geometry_figure(r: dict, path: str | None = None) -> Figure:
    fig = Figure(figsize=(6.5, 6), layout="constrained")
    kind = result_kind(r)
    if kind == "analyze":
        projected_points(fig, 111, r["projection"], f"{os.path.basename(str(r['file']))}: M={r['M']}, d={r['d']}")
    else:
        U, V = points_of(r)
        name = r.get("configuration")
        geometry(fig, 111, U, V, _label(r) + (f"\n{name}" if name else ""))
    if path is not None:
        save(fig, path)
    return fig


def gram_figure(r: dict, path: str | None = None) -> Figure:
    U, V = points_of(r)
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    X = U if V is None else np.vstack([U, V])
    gram_heatmap(fig.add_subplot(111), X, U.shape[0] if V is not None else None,
                 title=f"Gram matrix: {_label(r)}")
    if path is not None:
        save(fig, path)
    return fig


def histogram_figure(r: dict, path: str | None = None) -> Figure:
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.add_subplot(111)
    if result_kind(r) == "analyze":
        target = -1.0 / (r["M"] - 1) if r["M"] <= r["d"] + 1 else None
        histogram_from_counts(ax, r["histogram"]["edges"], r["histogram"]["counts"], int(r["d"]), w1=r["w1"],
                              target=target, title=f"Inner products: {os.path.basename(str(r['file']))}")
    else:
        U, _ = points_of(r)
        M, d = U.shape
        target = -1.0 / (M - 1) if M <= d + 1 else None
        inner_product_histogram(ax, U, d, target, title=f"Inner products: {_label(r)}")
    if path is not None:
        save(fig, path)
    return fig


def convergence_figure(r: dict, path: str | None = None) -> Figure:
    hist = (r.get("history") or {}).get("grad_norms")
    if not hist:
        raise KeyError("history.grad_norms")
    fig = Figure(figsize=(7, 5), layout="constrained")
    tol = r.get("grad_tol")
    if tol is None:
        tol = next((c["tolerance"] for c in r.get("checks", []) if c["name"] == "gradient_norm"), None)
    convergence(fig.add_subplot(111), hist, tol if isinstance(tol, (int, float)) else None,
                title=f"Convergence of every restart: {_label(r)}",
                phase_switch=(r.get("history") or {}).get("phase_switch"))
    if path is not None:
        save(fig, path)
    return fig


def energy_curves(results: list[dict], path: str | None = None) -> Figure:
    """Minimum energy against N: one curve per (kernel, parameters, d) of saved ``energy --json`` results,
    as the mean energy per pair E / (N(N−1)/2), with the LP lower bound where it was computed; and the
    relative gap to the bound.  Rows of a sweep (``verify`` results) give the loss at the minimum against
    M, one curve per (loss, d)."""
    has_bound = any(isinstance((r.get("lp_bound") or {}).get("gap"), (int, float)) for r in results
                    if result_kind(r) == "energy")
    fig = Figure(figsize=(11, 4.8) if has_bound else (7, 5), layout="constrained")
    ax = fig.add_subplot(1, 2, 1) if has_bound else fig.add_subplot(1, 1, 1)
    axg = fig.add_subplot(1, 2, 2) if has_bound else None
    groups: dict = {}
    for r in results:
        k = result_kind(r)
        if k == "energy":
            params = ", ".join(f"{a}={b:g}" for a, b in (r.get("params") or {}).items())
            key = (f"{r['kernel']}" + (f" ({params})" if params else ""), int(r["d"]), "energy")
            groups.setdefault(key, []).append((int(r["N"]), r))
        elif k == "verify" and isinstance(r.get("value"), (int, float)):
            key = (str(r["loss"]), int(r["d"]), "verify")
            groups.setdefault(key, []).append((int(r["M"]), r))
    if not groups:
        raise KeyError("no energy or verify results")
    energy_kind = any(k[2] == "energy" for k in groups)
    any_gap = False
    for (name, d, kind), rows in sorted(groups.items()):
        rows.sort(key=lambda t: t[0])
        N = np.array([n for n, _ in rows], float)
        val = np.array([float(r["value"]) for _, r in rows])
        if kind == "energy":
            pairs = N * (N - 1) / 2
            line, = ax.plot(N, val / pairs, marker="o", ms=4, label=f"{name}, d={d}")
            lb = [(n, (r.get("lp_bound") or {}).get("bound"), (r.get("lp_bound") or {}).get("gap")) for n, r in rows]
            lb = [(n, b, g) for n, b, g in lb if isinstance(b, (int, float))]
            if lb:
                ax.plot([n for n, _, _ in lb], [b / (n * (n - 1) / 2) for n, b, _ in lb], ls="none", marker="_",
                        ms=12, mew=2, color=line.get_color(), label=f"LP lower bound, d={d}")
                gaps = [(n, g) for n, _, g in lb if isinstance(g, (int, float))]
                if gaps:
                    any_gap = True
                    axg.semilogy([n for n, _ in gaps], [max(g, 1e-17) for _, g in gaps], marker="o", ms=5,
                                 ls=":", lw=0.8, color=line.get_color(), label=f"{name}, d={d}")
        else:
            verdicts = [r.get("verdict") for _, r in rows]
            line, = ax.plot(N, val, marker="o", ms=4, label=f"{name}, d={d}")
            bad = [i for i, v in enumerate(verdicts) if v != "confirmed"]
            if bad:
                ax.plot(N[bad], val[bad], ls="none", marker="x", ms=8, color="tab:red")
    ax.set_xlabel("number of points N" if energy_kind else "number of pairs M")
    ax.set_ylabel("minimum energy per pair, E / (N(N−1)/2)" if energy_kind else "loss at the minimum found")
    ax.set_title("Minimum energy against N" if energy_kind else "Loss at the minimum against M (x: not confirmed)")
    ax.legend(fontsize=7)
    if axg is not None and any_gap:
        axg.axhline(1e-6, color="tab:red", ls="--", lw=1, label="below: certified global minimum (gap 1e-6)")
        axg.set_xlabel("number of points N")
        axg.set_ylabel("relative gap (E − LP bound) / |E|")
        axg.set_title("Gap to the Delsarte–Yudin LP bound")
        axg.legend(fontsize=7)
    if path is not None:
        save(fig, path)
    return fig


VERDICT_COLORS = {"confirmed": "#2ca02c", "refuted": "#d62728", "inconclusive": "#ff7f0e", "error": "#7f7f7f"}


def phase_diagram(rows: list[dict], path: str | None = None) -> Figure:
    """(M, d) phase diagrams from sweep results: one panel per loss (and parameters), each cell coloured by
    the verdict, labelled with the recognised configuration, with the line M = d + 1 (simplex range)."""
    from matplotlib.patches import Patch

    groups: dict = {}
    for r in rows:
        if "M" not in r or "d" not in r or "loss" not in r:
            continue
        params = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                           for k, v in sorted((r.get("params") or {}).items()))
        groups.setdefault(r["loss"] + (f" ({params})" if params else ""), []).append(r)
    if not groups:
        raise KeyError("no sweep rows with loss, M and d")
    n = len(groups)
    cols = min(n, 3)
    nrow = math.ceil(n / cols)
    fig = Figure(figsize=(4.6 * cols + 0.4, 4.2 * nrow + 0.6), layout="constrained")
    codes = {"confirmed": 0, "refuted": 1, "inconclusive": 2, "error": 3}
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([VERDICT_COLORS[k] for k in codes])
    for i, (name, rs) in enumerate(sorted(groups.items())):
        ax = fig.add_subplot(nrow, cols, i + 1)
        Ms = sorted({int(r["M"]) for r in rs})
        ds = sorted({int(r["d"]) for r in rs})
        grid = np.full((len(ds), len(Ms)), np.nan)
        for r in rs:
            grid[ds.index(int(r["d"])), Ms.index(int(r["M"]))] = codes.get(r.get("verdict"), 3)
        ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-0.5, vmax=3.5, origin="lower", aspect="auto")
        if len(Ms) * len(ds) <= 150:
            for r in rs:
                cfg = r.get("configuration") or ""
                short = {"cross_polytope": "cross", "icosahedron": "icosa", "triangular_bipyramid": "bipyr",
                         "simplex": "simplex", "polygon": "polygon"}.get(cfg, cfg[:7])
                if short:
                    ax.text(Ms.index(int(r["M"])), ds.index(int(r["d"])), short, ha="center", va="center",
                            fontsize=6, color="white")
        # the simplex boundary: a staircase along the right edge of the cells with M = d + 1
        xs, ys = [], []
        for row, d in enumerate(ds):
            if d + 1 in Ms:
                x = Ms.index(d + 1) + 0.5
                xs += [x, x]
                ys += [row - 0.5, row + 0.5]
        if xs:
            ax.plot(xs, ys, color="k", ls="--", lw=1.5)
        ax.set_xticks(range(len(Ms)), [str(m) for m in Ms], fontsize=7)
        ax.set_yticks(range(len(ds)), [str(d) for d in ds], fontsize=7)
        ax.set_xlabel("number of pairs M")
        ax.set_ylabel("dimension d")
        ax.set_title(name)
    handles = [Patch(color=VERDICT_COLORS[k], label=k) for k in codes]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8,
               title="verdict (cell text: recognised configuration; dashed line: right of it M > d + 1)")
    fig.suptitle(f"Phase diagram from {sum(len(v) for v in groups.values())} sweep results")
    if path is not None:
        save(fig, path)
    return fig


KINDS = ("verify", "geometry", "gram", "histogram", "convergence", "energy", "phase", "analyze")


def figure_for(kind: str, results: list[dict], path: str | None = None) -> Figure:
    """Draw ``kind`` from saved results (no recomputation).  ``energy`` and ``phase`` use every result;
    the other kinds draw one result (the first).  KeyError names what the results lack."""
    if kind == "energy":
        return energy_curves(results, path)
    if kind == "phase":
        return phase_diagram(results, path)
    r = results[0]
    if kind == "verify":
        return verify_figure(r, path)
    if kind == "analyze":
        return analyze_figure(r, path)
    return {"geometry": geometry_figure, "gram": gram_figure, "histogram": histogram_figure,
            "convergence": convergence_figure}[kind](r, path)
