"""The two entry points behind ``--rigorous`` and their JSON sections (plain dicts with a one-line ``summary``).

    loss_section(loss, M, d, params, config_name)   verify --rigorous: local proof at the exact aligned
                                                    configuration (+ a global certificate where one applies)
    energy_section(kernel, N, d, params, config_name) energy --rigorous: the proved LP bound and the gap

``render`` turns a section into the human text, ending with the "what the proof says" paragraph.
"""

from __future__ import annotations

import time
from fractions import Fraction

from ..errors import ArgumentError
from .exact import EXACT, exact_configuration
from .terms import LOSSES, exact_param, loss_terms

THEORY_LOCAL = [
    "ball arithmetic (Arb / python-flint): every computed ball contains the exact value",
    "Riemannian Hessian on a product of spheres: Hess f[ξ] = P(∇²f ξ) − (x·∇f) ξ "
    "(Absil, Mahony & Sepulchre 2008, §5.5)",
    "an O(d)-invariant function's Riemannian Hessian vanishes on the orbit directions at a critical point",
    "Morse–Bott: a critical orbit whose Hessian is positive definite on its normal space "
    "is a strict local minimum modulo rotations",
    "Cholesky: a symmetric matrix is positive definite iff its Cholesky pivots are all > 0",
    "Weyl's inequality |λ_k(D + E) − λ_k(D)| <= ‖E‖₂ <= ‖E‖_F; "
    "Ostrowski: λ_k(QᵀAQ) = θ_k λ_k(A), θ_k in [σ_min(Q)², σ_max(Q)²]",
]
THEORY_LP = [
    "Delsarte–Yudin linear-programming bound: h = Σ a_k G_k <= f with a_k >= 0 (k >= 1) "
    "gives E >= N(N−1)a_0 − N Σ_{k>=1} a_k",
    "Schoenberg: normalised Gegenbauer polynomials G_k, λ = (d−2)/2, are positive definite on S^{d−1}",
    "Taylor's theorem with a second-order remainder on each cell (interval enclosure of g'')",
]


def versions() -> dict:
    import sympy

    out = {"python-flint": "?", "flint": "?", "sympy": sympy.__version__}
    try:
        import flint

        out["python-flint"] = getattr(flint, "__version__", "?")
        out["flint"] = getattr(flint, "__FLINT_VERSION__", "?")
    except ImportError:
        pass
    return out


def check_loss_supported(loss: str, params: dict) -> None:
    """ArgumentError (exit 2) for a loss or kernel that --rigorous cannot handle; nothing is computed."""
    if loss not in LOSSES:
        raise ArgumentError(f"--rigorous: loss {loss!r} has no exact form here; supported: {', '.join(LOSSES)}")
    loss_terms(loss, 3, params)  # raises for non-smooth kernels


def _fmt_params(params: dict) -> str:
    out = []
    for k, v in params.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            q = exact_param(v)
            out.append(f"{k} = {q}" if q.denominator != 1 else f"{k} = {q.numerator}")
        else:
            out.append(f"{k} = {v}")
    return ", ".join(out)


def loss_section(
    loss: str, M: int, d: int, params: dict, config_name: str | None, *, prec: int = 128, max_prec: int = 1024
) -> dict:
    """verify --rigorous: prove the exact aligned ``config_name`` a strict local minimum modulo rotations
    (local.py) and, for KCL with the Gaussian kernel, a global minimum through the LP bound (lp.py)."""
    from .local import prove_local_minimum

    t0 = time.perf_counter()
    full = {**LOSSES[loss][1], **{k: v for k, v in params.items() if k in LOSSES[loss][1]}}
    base = {
        "proved": False,
        "loss": loss,
        "M": M,
        "d": d,
        "params": full,
        "configuration": config_name,
        "versions": versions(),
        "theory": [],
        "bounds": {},
        "precision_bits": None,
    }
    if config_name is None or config_name not in EXACT:
        base.update(
            what="nothing",
            statement=(
                "Nothing is proved: the claimed or recognised configuration "
                f"({config_name or 'none'}) has no exact construction here "
                f"(exact: {', '.join(sorted(set(EXACT)))})."
            ),
            local=None,
            **{"global": None},
            seconds=time.perf_counter() - t0,
            summary="NOT PROVED (no exact candidate configuration)",
        )
        return jsonable(base)
    cfg = exact_configuration(config_name, M, d)
    lp = prove_local_minimum(
        cfg.stacked(), loss_terms(loss, M, full), loss=loss, params=full, prec=prec, max_prec=max_prec
    )
    base["local"] = lp.to_dict()
    base["precision_bits"] = lp.precision
    base["theory"] = list(THEORY_LOCAL)
    base["bounds"]["riemannian_gradient_norm_upper"] = lp.gradient_upper
    base["bounds"]["smallest_nonorbit_eigenvalue"] = lp.smallest_eigenvalue
    glob = _global_for_loss(loss, M, d, full, cfg) if lp.proved else None
    base["global"] = glob
    what = []
    if lp.proved:
        what.append("strict local minimum modulo rotations")
        if glob and glob.get("proved"):
            what.append(f"global minimum up to {glob['gap_upper']:.2e}")
            base["theory"] += THEORY_LP
            base["bounds"]["loss_gap"] = {"upper": glob["gap_upper"]}
    base["proved"] = lp.proved
    base["what"] = "; ".join(what) if what else "nothing"
    base["statement"] = _loss_statement(loss, full, cfg, lp, glob)
    base["seconds"] = time.perf_counter() - t0
    ev = lp.smallest_eigenvalue
    base["summary"] = (
        f"PROVED {base['what']} at {lp.precision} bits in {base['seconds']:.2f} s"
        + (f"; smallest non-orbit eigenvalue {ev['mid']:.12g} ± {ev['radius']:.1e}" if ev else "")
        if lp.proved
        else f"NOT PROVED: {lp.reason}"
    )
    return jsonable(base)


def _global_for_loss(loss, M, d, params, cfg) -> dict:
    """KCL (Gaussian): L >= −1 + γ/(M(M−1)) · E_t(U) >= −1 + γ/(M(M−1)) · LP bound; the aligned configuration
    reaches −1 + γ/(M(M−1)) E_t(config).  Other losses: no certificate (the reason is returned)."""
    from .lp import prove_lp_bound

    if loss == "kcl" and params.get("kernel", "gaussian") == "gaussian":
        from .lp import CLOSES_REL

        res = prove_lp_bound("gaussian", M, d, {"t": params["t"]}, config=cfg)
        if not res.proved or res.gap is None or res.gap["upper"] > CLOSES_REL * abs(res.energy["mid"]):
            return {"proved": False, "reason": res.reason, "lp": res.to_dict()}
        w = float(exact_param(params["gamma"]) / (M * (M - 1)))
        return {
            "proved": True,
            "gap_upper": res.gap["upper"] * w * (1 + 1e-15),
            "argument": "kcl = −(1/M) Σ K(u_i, v_i) + γ/(M(M−1)) Σ_{i≠j} e^{−t|u_i − u_j|²} >= −1 + γ/(M(M−1)) · "
            "(Delsarte–Yudin bound of the Gaussian energy of U); equality of the first term iff u_i = v_i",
            "lp": res.to_dict(),
        }
    reasons = {
        "dhel": "DHEL's uniformity term (1/M) Σ_i log Σ_{j≠i} e^{u_i·u_j/τ} is a concave function (log) of per-point "
        "sums: the LP bound controls Σ_i Σ_{j≠i} e^{u_i·u_j/τ}, and Jensen's inequality runs the wrong way",
    }
    return {
        "proved": False,
        "attempted": False,
        "reason": reasons.get(
            loss.split("_")[0], f"{loss} is not alignment + a pair energy: no LP certificate applies"
        ),
    }


def _loss_statement(loss, params, cfg, lp, glob) -> str:
    where = f"the aligned {cfg.name} (u_i = v_i; exact coordinates) in R^{cfg.d}"
    ps = _fmt_params(params)
    if not lp.proved:
        return (
            f"What the proof says: nothing. At {where}, for {loss} ({ps}), the rigorous check did not close: "
            f"{lp.reason}. This is not a refutation."
        )
    ev = lp.smallest_eigenvalue
    text = (
        f"What the proof says: at {where}, the loss {loss} ({ps}, exact rationals) has Riemannian gradient "
        f"exactly 0 ({lp.criticality['method']}), and its Riemannian Hessian, curvature term included, is "
        f"positive definite on the {lp.nonorbit_dim} tangent directions orthogonal to the {lp.orbit_dim}-dimensional "
        f"rotation orbit"
    )
    if ev and ev.get("identified"):
        text += f" (smallest eigenvalue there in [{ev['lower']:.15g}, {ev['upper']:.15g}])"
    text += ". So it is a strict local minimum modulo rotations (Morse–Bott)."
    if glob and glob.get("proved"):
        text += (
            f" The LP certificate closes: no configuration has a loss lower than this one's by more than "
            f"{glob['gap_upper']:.2e}, so it is a global minimum up to that amount."
        )
    else:
        text += (
            " It does not say that the minimum is global"
            + (f" ({glob['reason']})" if glob and glob.get("reason") else "")
            + "."
        )
    text += " Nothing more: in particular nothing about other parameter values or other batch sizes."
    return text


def energy_section(
    kernel: str, N: int, d: int, params: dict, config_name: str | None, *, prec: int = 128, max_prec: int = 512
) -> dict:
    """energy --rigorous: the Delsarte–Yudin bound proved (lp.py); with an exact recognised configuration,
    the enclosed gap between its energy and the bound."""
    from .lp import prove_lp_bound

    t0 = time.perf_counter()
    cfg = exact_configuration(config_name, N, d) if config_name in EXACT else None
    res = prove_lp_bound(kernel, N, d, params, config=cfg, prec=prec, max_prec=max_prec)
    out = {
        "proved": res.proved,
        "kernel": kernel,
        "N": N,
        "d": d,
        "params": res.params,
        "configuration": cfg.name if cfg else None,
        "versions": versions(),
        "theory": list(THEORY_LP),
        "precision_bits": res.precision,
        "lp": res.to_dict(),
        "bounds": {"lower_bound": res.bound, "energy": res.energy, "gap": res.gap},
    }
    from .lp import CLOSES_REL

    if res.proved and res.gap is not None and res.gap["upper"] <= CLOSES_REL * abs(res.energy["mid"]):
        out["what"] = f"global minimum up to {res.gap['upper']:.2e} (lower bound proved, gap enclosed)"
    elif res.proved and res.gap is not None:
        out["what"] = (
            f"lower bound only: the {cfg.name} lies {res.gap['lower']:.3e} above it (the bound does not "
            "show it optimal)"
        )
    elif res.proved:
        out["what"] = "lower bound"
    else:
        out["what"] = "nothing"
    ps = _fmt_params(res.params)
    if not res.proved:
        st = f"What the proof says: nothing ({res.reason}). This is not a refutation."
    else:
        st = (
            f"What the proof says: for the {kernel} energy ({ps}), every configuration of {N} points on S^{d - 1} "
            f"has energy >= {res.bound['lower']:.17g} (polynomial: {res.polynomial}, degree {res.degree}, proved "
            f">= the potential minus {res.deficit_v:.1e} on [{res.check_interval[0]:g}, {res.check_interval[1]:.6g}] "
            f"by ball arithmetic on {res.cells} cells)."
        )
        if res.gap is not None and res.gap["upper"] <= CLOSES_REL * abs(res.energy["mid"]):
            st += (
                f" The exact {cfg.name} has energy {res.energy['mid']:.17g} ± {res.energy['radius']:.1e}, so it is a "
                f"global minimum up to {res.gap['upper']:.2e}."
            )
        elif res.gap is not None:
            st += (
                f" The exact {cfg.name} has energy {res.energy['mid']:.17g}, between {res.gap['lower']:.3e} and "
                f"{res.gap['upper']:.3e} above the bound: the proof does not say whether it is optimal."
            )
        else:
            st += (
                " No exact configuration was recognised, so only the bound is proved"
                " (the minimum found is a float result)."
            )
        st += " Nothing more: the bound is for this N, d and these parameters only."
    out["statement"] = st
    out["seconds"] = time.perf_counter() - t0
    out["summary"] = (
        f"PROVED {out['what']} at {res.precision} bits in {out['seconds']:.2f} s"
        if res.proved
        else f"NOT PROVED: {res.reason}"
    )
    return jsonable(out)


def render(section: dict) -> str:
    """Human text of a rigorous section: summary, bounds with radii, then the paragraph."""
    lines = [f"rigorous   {section['summary']}"]
    b = section.get("bounds") or {}
    ev = b.get("smallest_nonorbit_eigenvalue")
    if ev:
        lines.append(f"           smallest non-orbit eigenvalue {ev['mid']:.15g} ± {ev['radius']:.1e}")
    if b.get("riemannian_gradient_norm_upper") is not None:
        lines.append(
            f"           Riemannian gradient: exactly 0 (balls: norm <= {b['riemannian_gradient_norm_upper']:.1e})"
        )
    if b.get("lower_bound"):
        lines.append(f"           LP bound {b['lower_bound']['mid']:.17g} ± {b['lower_bound']['radius']:.1e}")
    if b.get("gap"):
        lines.append(f"           energy − bound in [{b['gap']['lower']:.2e}, {b['gap']['upper']:.2e}]")
    v = section.get("versions", {})
    lines.append(
        f"           python-flint {v.get('python-flint')}, FLINT {v.get('flint')}, "
        f"precision {section.get('precision_bits')} bits"
    )
    import textwrap

    lines.append("")
    lines += textwrap.wrap(section["statement"], 100)
    return "\n".join(lines) + "\n"


def config_for_claim(claim: str, recognised: str | None) -> str | None:
    """The exact configuration a verify claim points at: simplex, config:NAME, or (aligned) the recognised one."""
    if claim == "simplex":
        return "simplex"
    if claim.startswith("config:"):
        return claim[len("config:") :]
    return recognised


def jsonable(obj):
    """Non-finite floats as strings (the JSON output refuses NaN/Infinity), tuples as lists."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Fraction):
        return str(obj)
    return obj
