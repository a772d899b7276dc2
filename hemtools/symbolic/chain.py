"""The Jensen chain of the proof, link by link, each with its condition; equality at the simplex, gap elsewhere."""

from __future__ import annotations

import math

import sympy as sp
import torch

from .. import configurations, sphere
from ..losses.kcl import alignment_kernel, uniformity_kernel
from ..losses.phipsi import off_diagonal_entries
from ..losses.registry import get_loss
from .closed_form import simplex_inner_product, simplex_points
from .conditions import ConditionsReport
from .core import M_, T_, TAU, X_, Z_, Finding, _float, exact, is_zero
from .forms import KernelForm, LossForm, PhiPsiForm
from .signs import Domain, _sign_set

Tensor = torch.Tensor


def _random_configurations(gen, cases):
    for M, d in cases:
        yield M, d, sphere.random_points(1, M, d, generator=gen)[0], sphere.random_points(1, M, d, generator=gen)[0]


def _perturbed_simplex(M, d, eps, gen):
    x = simplex_points(M, d, "pairs")
    v = sphere.project(x, torch.randn(x.shape, generator=gen, dtype=torch.float64))
    v = v / sphere.norm(v)
    y = sphere.retract(x, eps * v)
    return y[:M], y[M:]


CHAIN_CASES = [(2, 2), (3, 2), (3, 5), (4, 3), (4, 4), (5, 3), (6, 5), (6, 8), (8, 3), (8, 7), (12, 4), (16, 16)]


def jensen_chain(form: LossForm, conditions: ConditionsReport | None = None, seed: int = 0,
                 samples: int = 8) -> list[Finding]:
    """The lower-bound chain of the proof, link by link, with each link's condition, its equality at the
    aligned simplex (symbolic, general M; measured at the exact simplex) and its gap elsewhere (measured)."""
    if form.phipsi is not None:
        return _phipsi_chain(form, conditions, seed, samples)
    if form.kernel is not None:
        return _kernel_chain(form, conditions, seed, samples)
    return [Finding("jensen_chain", "n/a", "no lower-bound chain is implemented for this loss",
                    "available for the φ/ψ forms (infonce, simclr, dcl, dhel, phipsi, alphacl) and kcl")]


def _phipsi_quantities(pp: PhiPsiForm, U: Tensor, V: Tensor) -> dict:
    """L, the Jensen bound F(x̄·1, ȳ·1), the block means and the final bound, for one configuration."""
    M = U.shape[0]
    tau = pp.tau
    scale = _float(pp.scale.subs(M_, M))
    uv, uu = U @ V.T, U @ U.T
    pos = torch.diagonal(uv).unsqueeze(-1)
    xs = off_diagonal_entries(uv) - pos
    ys = off_diagonal_entries(uu) - pos
    S = pp.c1 * pp.phi_torch(xs, tau).sum(-1) + pp.c2 * pp.phi_torch(ys, tau).sum(-1)
    L = scale * float(pp.psi_torch(S, tau).mean())
    xbar, ybar = float(xs.mean()), float(ys.mean())
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    Fbar = scale * float(
        pp.psi_torch((M - 1) * (pp.c1 * pp.phi_torch(t(xbar), tau) + pp.c2 * pp.phi_torch(t(ybar), tau)), tau)
    )
    g = -M / (M - 1)
    bound = scale * float(pp.psi_torch((M - 1) * (pp.c1 + pp.c2) * pp.phi_torch(t(g), tau), tau))
    # the geometric link only concerns the blocks that are used
    geo = min(xbar - g if pp.c1 > 0 else math.inf, ybar - g if pp.c2 > 0 else math.inf)
    return {"L": L, "jensen": Fbar, "bound": bound, "xbar": xbar, "ybar": ybar, "geometric_gap": geo}


def _link_status(gaps: list[float], scale: float, condition: str | None, cond_status: str) -> tuple[str, str]:
    finite = [g for g in gaps if math.isfinite(g)]
    if len(finite) < len(gaps):
        return "inconclusive", "non-finite values"
    tol = 1e-12 * max(1.0, scale)  # round-off of float64 sums of O(M²) terms of size O(scale)
    worst = min(finite)
    bad = sum(g < -tol for g in finite)
    if bad == 0:
        return "passed", f"min gap {worst:.3g} >= −{tol:.0e} over {len(finite)} configurations"
    if condition is not None and cond_status in ("refuted", "undefined"):
        return "refuted", (
            f"fails in {bad} of {len(finite)} configurations (min gap {worst:.3g}); consistent: its "
            f"condition ({condition}) is {cond_status}"
        )
    if condition is not None and cond_status == "undecided":
        return "refuted", (
            f"fails in {bad} of {len(finite)} configurations (min gap {worst:.3g}): a numerical "
            f"counterexample to its condition ({condition}), which sympy left undecided"
        )
    return (
        "failed",
        f"fails in {bad} of {len(finite)} configurations (min gap {worst:.3g}) although its condition is proved",
    )


def _phipsi_chain(form: LossForm, cond: ConditionsReport | None, seed: int, samples: int) -> list[Finding]:
    pp = form.phipsi
    spec = get_loss(form.name)
    gen = torch.Generator().manual_seed(seed)
    cases = CHAIN_CASES[: max(samples, 1)] if samples <= len(CHAIN_CASES) else CHAIN_CASES
    rows = []
    for M, d, U, V in _random_configurations(gen, cases):
        q = _phipsi_quantities(pp, U, V)
        with torch.no_grad():
            q["registered"] = float(spec(U, V, **form.params))
        q.update(M=M, d=d)
        rows.append(q)
    perturbed = []
    for M, d in [(3, 2), (4, 3), (5, 6)]:
        U, V = _perturbed_simplex(M, d, 1e-2, gen)
        q = _phipsi_quantities(pp, U, V)
        q.update(M=M, d=d)
        perturbed.append(q)
    exact_rows = []
    for M, d in [(3, 2), (4, 3), (6, 8)]:
        x = configurations.regular_simplex(M, d)
        q = _phipsi_quantities(pp, x, x)
        q.update(M=M, d=d)
        exact_rows.append(q)
    scale = max(abs(r["L"]) for r in rows if math.isfinite(r["L"])) if rows else 1.0
    cstat = {f.name: f.status for f in cond.findings} if cond else {}
    out = []
    # the form matches the registered loss
    mism = max(abs(r["L"] - r["registered"]) / max(1.0, abs(r["registered"])) for r in rows)
    out.append(
        Finding(
            "form_matches_loss",
            "passed" if mism <= 1e-12 else ("inconclusive" if not math.isfinite(mism) else "failed"),
            "scale·(1/M) Σ_i ψ(S_i) with the φ/ψ form equals the registered loss",
            f"largest relative difference {mism:.2e} (tolerance 1e-12: float64 round-off)",
            {"phi": str(pp.phi), "psi": str(pp.psi), "c1": pp.c1, "c2": pp.c2, "scale": str(pp.scale)},
        )
    )
    # symbolic equality of every link at the aligned simplex (general M)
    s = simplex_inner_product()
    sum_cross = M_ * (M_ - 1) * s  # Σ_{i≠j} u_i·v_j at the aligned simplex (u = v)
    xbar = sp.simplify((sum_cross - (M_ - 1) * M_) / (M_ * (M_ - 1)))  # Σ_i p_i = M
    g = sp.simplify(s - 1)
    c1e, c2e = exact(pp.c1), exact(pp.c2)
    L_simplex = pp.scale * pp.psi.subs(X_, (M_ - 1) * (c1e + c2e) * pp.phi.subs(X_, g))
    jensen_simplex = pp.scale * pp.psi.subs(X_, (M_ - 1) * (c1e * pp.phi.subs(X_, xbar) + c2e * pp.phi.subs(X_, xbar)))
    links = [
        (
            "jensen",
            "L = scale·(1/M) Σ_i F(z_i) >= scale·F(x̄·1, ȳ·1)",
            "F convex (composite_convex)",
            cstat.get("composite_convex", "undecided"),
            lambda r: r["L"] - r["jensen"],
            L_simplex - jensen_simplex,
        ),
        (
            "geometric",
            "x̄, ȳ >= −M/(M−1) (x̄, ȳ: means of u_i·v_j − u_i·v_i, u_i·u_j − u_i·v_i over j ≠ i); equality iff "
            "u_i = v_i and Σ u_i = 0",
            None,
            "proved",
            lambda r: r["geometric_gap"],
            xbar - g,
        ),
        (
            "monotone",
            "scale·F(x̄·1, ȳ·1) >= scale·F(−M/(M−1)·1) = L(aligned simplex)",
            "F nondecreasing (composite_nondecreasing)",
            cstat.get("composite_nondecreasing", "undecided"),
            lambda r: r["jensen"] - r["bound"],
            jensen_simplex - L_simplex,
        ),
    ]
    for name, statement, condition, cst, gap_fn, sym_gap in links:
        status, detail = _link_status([gap_fn(r) for r in rows], scale, condition, cst)
        zero, how = is_zero(sp.simplify(sym_gap.subs(TAU, exact(pp.tau))) if TAU in sym_gap.free_symbols else sym_gap)
        tight = max(abs(gap_fn(r)) for r in exact_rows)
        tight_ok = zero and tight <= 1e-12 * max(1.0, scale)
        out.append(
            Finding(
                f"link_{name}",
                status if tight_ok else "failed",
                statement + (f"   [needs: {condition}: {cst}]" if condition else "   [always true on the sphere]"),
                f"{detail}; equality at the aligned simplex: {how} (symbolic gap {sp.simplify(sym_gap)}), "
                f"measured {tight:.1e} at the exact simplex",
                {"min_gap": min(gap_fn(r) for r in rows), "gap_at_simplex": tight},
            )
        )
    # strictness away from the simplex
    total = [r["L"] - r["bound"] for r in rows]
    total_p = [r["L"] - r["bound"] for r in perturbed]
    holds = cond.holds if cond else "undecided"
    strict = all(t > 0 for t in total + total_p)
    out.append(
        Finding(
            "chain_tightness",
            "passed" if strict else ("failed" if holds == "proved" else "refuted"),
            "L − L(aligned simplex) > 0 away from the aligned simplex (random configurations and the simplex "
            "perturbed by 1e-2 along a random tangent direction), = 0 at it",
            f"min total gap {min(total):.3g} (random), {min(total_p):.3g} (perturbed); at the exact simplex "
            f"{max(abs(r['L'] - r['bound']) for r in exact_rows):.1e}",
            {
                "random": [{"M": r["M"], "d": r["d"], "gap": r["L"] - r["bound"]} for r in rows],
                "perturbed": [{"M": r["M"], "d": r["d"], "gap": r["L"] - r["bound"]} for r in perturbed],
            },
        )
    )
    return out


def _kernel_quantities(k: KernelForm, U: Tensor, V: Tensor, tvals) -> dict:
    M = U.shape[0]
    t, s, gamma, kern = float(tvals["t"]), float(tvals["s"]), float(tvals["gamma"]), tvals["kernel"]
    d2 = ((U - V) ** 2).sum(-1)
    align = float(alignment_kernel(d2, kern, t, s).mean())
    off = ~torch.eye(M, dtype=torch.bool)
    r2 = (2 - 2 * U @ U.T)[off].clamp_min(0.0)
    ku = uniformity_kernel(r2, kern, t, s)
    mean_r2 = float(r2.mean())
    one = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    ku_mean = float(uniformity_kernel(one(mean_r2), kern, t, s))
    rs = 2 * M / (M - 1)
    return {
        "L": -align + gamma * float(ku.mean()),
        "align": -align,
        "align_bound": -float(alignment_kernel(one(0.0), kern, t, s)),
        "energy": gamma * float(ku.mean()),
        "energy_jensen": gamma * ku_mean,
        "mean_r2": mean_r2,
        "r2_simplex": rs,
        "energy_bound": gamma * float(uniformity_kernel(one(rs), kern, t, s)),
    }


def _kernel_chain(form: LossForm, cond: ConditionsReport | None, seed: int, samples: int) -> list[Finding]:
    k = form.kernel
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for M, d, U, V in _random_configurations(gen, CHAIN_CASES[: max(samples, 1)]):
        q = _kernel_quantities(k, U, V, form.params)
        with torch.no_grad():
            q["registered"] = float(get_loss(form.name)(U, V, **form.params))
        q.update(M=M, d=d)
        rows.append(q)
    exact_rows = []
    for M, d in [(3, 2), (4, 3), (6, 8)]:
        x = configurations.regular_simplex(M, d)
        exact_rows.append(_kernel_quantities(k, x, x, form.params))
    perturbed = []
    for M, d in [(3, 2), (4, 3), (5, 6)]:
        U, V = _perturbed_simplex(M, d, 1e-2, gen)
        perturbed.append(_kernel_quantities(k, U, V, form.params))
    cstat = {f.name: f.status for f in cond.findings} if cond else {}
    scale = max(abs(r["L"]) for r in rows if math.isfinite(r["L"]))
    out = []
    mism = max(abs(r["L"] - r["registered"]) / max(1.0, abs(r["registered"])) for r in rows)
    out.append(
        Finding(
            "form_matches_loss",
            "passed" if mism <= 1e-12 else "failed",
            "alignment + γ·energy from the kernel form equals the registered loss",
            f"largest relative difference {mism:.2e}",
        )
    )
    z_s = sp.simplify(2 - 2 * simplex_inner_product())
    links = [
        (
            "alignment",
            "−(1/M) Σ_i K_A(‖u_i − v_i‖²) >= −K_A(0)",
            "K_A nonincreasing",
            cstat.get("K_A_nonincreasing", "undecided"),
            lambda r: r["align"] - r["align_bound"],
            sp.Integer(0),
        ),
        (
            "jensen",
            "mean_{i≠j} K_U(r_ij²) >= K_U(mean r_ij²)",
            "K_U convex",
            cstat.get("K_U_convex", "undecided"),
            lambda r: r["energy"] - r["energy_jensen"],
            sp.Integer(0),
        ),
        (
            "geometric",
            "mean_{i≠j} r_ij² = 2 + (2M − 2‖Σu‖²)/(M(M−1)) <= 2M/(M−1); equality iff Σ u_i = 0",
            None,
            "proved",
            lambda r: r["r2_simplex"] - r["mean_r2"],
            sp.simplify(2 + 2 * M_ / (M_ * (M_ - 1)) - z_s),
        ),
        (
            "monotone",
            "γ K_U(mean r²) >= γ K_U(2M/(M−1))",
            "K_U nonincreasing",
            cstat.get("K_U_nonincreasing", "undecided"),
            lambda r: r["energy_jensen"] - r["energy_bound"],
            sp.Integer(0),
        ),
    ]
    for name, statement, condition, cst, gap_fn, sym_gap in links:
        status, detail = _link_status([gap_fn(r) for r in rows], scale, condition, cst)
        tight = max(abs(gap_fn(r)) for r in exact_rows)
        zero, how = is_zero(sym_gap)
        ok = zero and tight <= 1e-12 * max(1.0, scale)
        out.append(
            Finding(
                f"link_{name}",
                status if ok else "failed",
                statement + (f"   [needs: {condition}: {cst}]" if condition else "   [always true on the sphere]"),
                f"{detail}; equality at the aligned simplex: {how}, measured {tight:.1e}",
                {"min_gap": min(gap_fn(r) for r in rows), "gap_at_simplex": tight},
            )
        )
    # uniqueness of the equality case: Jensen is strict only for a strictly convex K_U
    ku2 = sp.diff(k.K_U.subs(T_, exact(k.params["t"])), Z_, 2)
    sset = _sign_set(sp.factor(sp.together(ku2)), Z_, Domain(sp.Integer(0), sp.Integer(4), lo_open=True))
    if sset == {1}:
        out.append(
            Finding(
                "equality_only_at_simplex",
                "proved",
                "K_U strictly convex on (0, 4]: equality in the Jensen "
                "link forces equal distances, so the aligned simplex is the only minimiser (M <= d+1)",
                f"K_U''(z) = {ku2} > 0",
            )
        )
    elif ku2 == 0 or sset == {0}:
        out.append(
            Finding(
                "equality_only_at_simplex",
                "refuted",
                "K_U strictly convex (needed for a unique minimiser)",
                f"K_U''(z) = {ku2}: K_U is affine in r², Jensen is an equality for every configuration; every "
                "aligned configuration with Σ u_i = 0 attains the bound (not unique, SPEC §1)",
            )
        )
    else:
        out.append(
            Finding(
                "equality_only_at_simplex",
                "undecided",
                "K_U strictly convex on (0, 4]",
                f"sympy could not decide K_U''(z) = {ku2} > 0",
            )
        )
    total = [r["L"] - r["align_bound"] - r["energy_bound"] for r in rows]
    total_p = [r["L"] - r["align_bound"] - r["energy_bound"] for r in perturbed]
    strict = all(t > 0 for t in total + total_p)
    holds = cond.holds if cond else "undecided"
    out.append(
        Finding(
            "chain_tightness",
            "passed" if strict else ("failed" if holds == "proved" else "refuted"),
            "L − L(aligned simplex) > 0 away from the aligned simplex, = 0 at it",
            f"min total gap {min(total):.3g} (random), {min(total_p):.3g} (perturbed by 1e-2)",
        )
    )
    return out
