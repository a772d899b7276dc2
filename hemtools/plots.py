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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def save(fig: Figure, path: str) -> str:
    """Write ``fig`` to ``path`` (format from the extension), atomically."""
    from hemtools.commands._common import write_atomic
    from hemtools.errors import ArgumentError

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
                            title: str = "Inner products u_i·u_j (i<j)") -> None:
    n = X.shape[0]
    G = X @ X.T
    vals = G[np.triu_indices(n, 1)]
    bins = min(60, max(10, int(np.sqrt(vals.size)) * 2))
    ax.hist(vals, bins=bins, range=(-1, 1), density=True, color="tab:blue", alpha=0.7, label="found")
    s = np.linspace(-0.999, 0.999, 400)
    ax.plot(s, uniform_inner_product_density(s, d), color="tab:gray", lw=1.2, label=f"uniform on S^{d - 1}")
    if target is not None:
        ax.axvline(target, color="tab:red", ls="--", lw=1.5, label=f"simplex −1/(M−1) = {target:.3g}")
    ax.set_xlim(-1, 1)
    ax.set_xlabel("inner product")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left")


def geometry(fig, spec, U: np.ndarray, V: np.ndarray | None, title: str = "Configuration"):
    """Sphere scatter for d = 3 (pairs joined), the circle for d = 2, a PCA projection otherwise."""
    d = U.shape[1]
    if d == 3:
        from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the 3d projection)

        ax = fig.add_subplot(spec, projection="3d")
        uu, vv = np.mgrid[0:2 * np.pi:30j, 0:np.pi:15j]
        ax.plot_wireframe(np.cos(uu) * np.sin(vv), np.sin(uu) * np.sin(vv), np.cos(vv), color="0.85", lw=0.4)
        ax.scatter(*U.T, color="tab:blue", s=30, depthshade=False, label="u_i")
        if V is not None:
            ax.scatter(*V.T, color="tab:orange", s=12, marker="x", depthshade=False, label="v_i")
            for u, v in zip(U, V):
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
    ax.scatter(P_U[:, 0], P_U[:, 1], color="tab:blue", s=30, label="u_i", zorder=3)
    if P_V is not None:
        ax.scatter(P_V[:, 0], P_V[:, 1], color="tab:orange", s=12, marker="x", label="v_i", zorder=4)
        for a, b in zip(P_U, P_V):
            ax.plot([a[0], b[0]], [a[1], b[1]], color="k", lw=0.8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper right")
    return ax


def convergence(ax, grad_norms: list[list[float]], tol: float | None = None,
                title: str = "Convergence of every restart") -> None:
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
    ax.set_xlabel("iteration (first order, then trust region)")
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
                tol if isinstance(tol, (int, float)) else None)
    fig.suptitle(f"{result['loss']}  M={M}  d={d}  claim={result.get('claim')}: {result.get('verdict', '').upper()}"
                 f"   value {float(result['value']):.10g}")
    if path is not None:
        save(fig, path)
    return fig
