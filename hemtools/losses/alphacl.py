"""α-CL (Tian, "Understanding Deep Contrastive Learning via Coordinate-wise Optimization", NeurIPS 2022).

With squared distances d_i² = ‖u_i − v_i‖² (positive pair), d_ij² = ‖u_i − v_j‖² (cross-view negative) and,
optionally, d̃_ij² = ‖u_i − u_j‖² (same-view negative), SPEC §1 defines

    L_{φ,ψ}(U, V) = Σ_i φ(ξ_i),   ξ_i = Σ_{j≠i} c1 ψ(d_i² − d_ij²) + c2 ψ(d_i² − d̃_ij²)
    α_ij = c1 φ'(ξ_i) ψ'(d_i² − d_ij²)          (pairwise importance; α̃_ij likewise with d̃_ij)
    E_α  = Σ_i Σ_{j≠i} α_ij (d_ij² − d_i²) + α̃_ij (d̃_ij² − d_i²)

SPEC's form is c1 = 1, c2 = 0.  The same-view block (c2) is an extension that makes SimCLR, DCL and DHEL
instances too (Tian's batch contains both views, so his negatives include them).  Note that here φ is the
*outer* and ψ the *inner* function — the opposite of the φ/ψ family of Koromilas et al. (``phipsi``).

Gradient identity (C6).  By the chain rule, ∇L = Σ_i φ'(ξ_i) Σ_j c ψ'(Δ_ij) ∇(d_i² − d_ij²) = Σ α_ij ∇(d_i² − d_ij²),
so **∇L = −∇E_α with α held fixed**, exactly with SPEC's signs and SPEC's E_α (no factor ½).  Tian writes
E_α with a factor ½ (his eq. 3); with it the identity would read ∇L = −2∇E_α.  ``hemtools symbolic``
derives the identity with sympy and measures it with autograd.

Contrastive covariance.  C_α = 2 Σ_i Σ_{j≠i} α_ij [(u_i − v_j)(u_i − v_j)ᵀ − (u_i − v_i)(u_i − v_i)ᵀ] (+ the
same-view block), so that E_α = ½ tr C_α as SPEC states.  Tian defines C_α without the 2 and E_α with the ½;
both conventions give the same matrix up to that factor, hence the same principal directions.  For a
linear network f = W x, C_α[W X] = W C_α[X] Wᵀ and E_α(W) = ½ tr(W C_α[X] Wᵀ): the max player with fixed α is
PCA of C_α[X] (Tian §4).

The α constructions of Tian §5 ("α-CL-direct": α is chosen directly instead of through φ, ψ) are in
:func:`alpha_direct` (on the distance d) and :func:`tian_alpha` (the authors' parameters).

τ mapping.  Tian's base is r = 1 − s = d²/2, not d: a weight or ψ written with r^e/τ_T (exponent p = 2e on d)
is the one here with τ = 2^{p/2} τ_T.  For ψ = exp(x/τ) on d_i² − d_ij² (``alphacl``, p = 2) that is τ = 2 τ_T:
``alphacl`` at τ = 1 is Tian's InfoNCE at τ_T = 0.5.  The functions below take arbitrary vectors (…, M, n)
— not only unit ones — so that they serve the linear-network analysis as well; the registered loss
``alphacl`` evaluates them on the sphere.

Public functions: :func:`squared_distances`, :func:`distance_differences`, :func:`alphacl_loss`,
:func:`alpha_weights`, :func:`alpha_energy`, :func:`contrastive_covariance`, :func:`alpha_direct`, :func:`tian_alpha`,
:func:`instance`.  Weights are (…, M, 2M) tensors: column j < M is the cross-view negative v_j, column M + j the
same-view negative u_j; the diagonal entries (j = i) are zero.  A (…, M, M) tensor is accepted wherever
weights are an input and means cross-view only.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..errors import ArgumentError
from ..formula import scale_argument
from .phipsi import Formula, compile_formula, outer_of_sums, probe
from .registry import Param, positive, register_loss
from .spec import AlphaCL, SymbolicTemplate

Tensor = torch.Tensor


# --------------------------------------------------------------------------------------------------------
# distances


def squared_distances(A: Tensor, B: Tensor) -> Tensor:
    """‖a_i − b_j‖² for (…, M, n) × (…, K, n) → (…, M, K), from the difference (exact for any vectors)."""
    diff = A.unsqueeze(-2) - B.unsqueeze(-3)
    return (diff * diff).sum(-1)


def distance_differences(U: Tensor, V: Tensor) -> Tensor:
    """Δ (…, M, 2M): Δ_ij = d_i² − d_ij² (j < M: cross-view ‖u_i − v_j‖²; M + j: same-view ‖u_i − u_j‖²).

    The diagonal entries (j = i) are 0 for the cross block (d_i² − d_i²) and d_i² for the same block; they are
    excluded everywhere through the mask of :func:`negative_mask`.
    """
    d_pos = ((U - V) ** 2).sum(-1).unsqueeze(-1)  # (…, M, 1)
    bank = torch.cat([V, U], dim=-2)
    return d_pos - squared_distances(U, bank)


def negative_mask(M: int, c1: float, c2: float, device=None) -> Tensor:
    """(M, 2M) weights: c1 on the cross-view negatives j ≠ i, c2 on the same-view negatives j ≠ i, 0 on j = i."""
    off = 1.0 - torch.eye(M, dtype=torch.float64, device=device)
    return torch.cat([c1 * off, c2 * off], dim=-1)


def _select(x: Tensor, M: int, with_same: bool) -> Tensor:
    """(…, M, 2M) → the (…, M, M−1) off-diagonal entries of each block used, concatenated."""
    from .phipsi import off_diagonal_entries

    parts = [off_diagonal_entries(x[..., :M])]
    if with_same:
        parts.append(off_diagonal_entries(x[..., M:]))
    return parts


# --------------------------------------------------------------------------------------------------------
# the loss


def alphacl_loss(
    U: Tensor,
    V: Tensor,
    phi: Any = "log(1+x)",
    psi: Any = "exp(x/tau)",
    c1: float = 1.0,
    c2: float = 0.0,
    tau: float = 1.0,
) -> Tensor:
    """L_{φ,ψ} = Σ_i φ( Σ_{j≠i} c1 ψ(d_i² − d_ij²) + c2 ψ(d_i² − d̃_ij²) ): (…, M, n) pairs → (…,).

    Evaluated with log-sum-exp when ψ = exp(a·x + b) and φ = α·log(x + k) + β (InfoNCE-type), with plain sums
    otherwise (finite while ψ is finite on [−4, 4] for unit vectors and φ on the values ξ takes).
    """
    f_phi, f_psi = compile_formula(phi, "phi"), compile_formula(psi, "psi")
    M = U.shape[-2]
    delta = distance_differences(U, V)
    parts = _select(delta, M, c2 > 0)
    blocks = [(c1, parts[0])] + ([(c2, parts[1])] if c2 > 0 else [])
    return outer_of_sums(f_psi, f_phi, blocks, tau).sum(-1)


def _check(p: dict) -> None:
    if p["c1"] == 0 and p["c2"] == 0:
        raise ArgumentError("c1, c2: at least one of the weights must be positive, got c1 = 0 and c2 = 0")
    for key in ("phi", "psi"):
        probe(compile_formula(p[key], key))


ALPHACL_PARAMS = [
    Param("phi", "log(1+x)", kind="expr", doc="outer function φ of ξ_i (Tian: InfoNCE is τ log(1+x))"),
    Param("psi", "exp(x/tau)", kind="expr", doc="inner function ψ of d_i² − d_ij² ∈ [−4, 4]"),
    Param("c1", 1.0, low=0.0, low_open=False, doc="weight of the cross-view negatives ‖u_i − v_j‖ (SPEC: 1)"),
    Param("c2", 0.0, low=0.0, low_open=False, doc="weight of the same-view negatives ‖u_i − u_j‖ (SPEC: 0)"),
    positive("tau", 1.0, "temperature τ > 0 (the symbol tau; τ = 1 here is InfoNCE at τ = 0.5)"),
]


@register_loss(
    "alphacl",
    params=ALPHACL_PARAMS,
    family="alphacl",
    check=_check,
    alpha_cl=lambda p: AlphaCL(p["phi"], p["psi"], float(p["c1"]), float(p["c2"]), float(p["tau"]), "1"),
    symbolic=SymbolicTemplate(
        "M*phi(c1*S_uv + c2*S_uu)",
        {"uv": "psi(2*(x_n - p))", "uu": "psi(2*(x_n - p))"},
        ("tau",),
        weights={"uv": "c1", "uu": "c2"},
        representation="alpha_cl",
    ),
)
def alphacl(
    U: Tensor,
    V: Tensor,
    *,
    phi: Any = "log(1+x)",
    psi: Any = "exp(x/tau)",
    c1: float = 1.0,
    c2: float = 0.0,
    tau: float = 1.0,
) -> Tensor:
    """α-CL: Σ_i φ( Σ_{j≠i} ψ(‖u_i−v_i‖² − ‖u_i−v_j‖²) ) (Tian 2022; SPEC §1); default = M·InfoNCE(τ/2)."""
    return alphacl_loss(U, V, phi, psi, c1, c2, tau)


# --------------------------------------------------------------------------------------------------------
# pairwise importance, energy, contrastive covariance


def _derivative(f: Formula, x: Tensor, tau: float) -> Tensor:
    """f'(x) elementwise, by autograd (works for formulas and callables alike)."""
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = f(xg, tau)
        (g,) = torch.autograd.grad(y.sum(), xg)
    return g


def alpha_weights(
    U: Tensor,
    V: Tensor,
    phi: Any = "log(1+x)",
    psi: Any = "exp(x/tau)",
    c1: float = 1.0,
    c2: float = 0.0,
    tau: float = 1.0,
) -> Tensor:
    """Pairwise importance α (…, M, 2M): α_ij = c φ'(ξ_i) ψ'(d_i² − d_ij²), computed at the given points and
    detached (α is the min player's variable, held fixed in the max player's step).

    For ψ = exp(a·x + b), φ = A log(x + k) + β it is evaluated stably as A·a·exp(a Δ_ij + b − log(ξ_i + k)) (a
    softmax-like weight); otherwise φ' and ψ' come from autograd on the compiled formulas.
    """
    f_phi, f_psi = compile_formula(phi, "phi"), compile_formula(psi, "psi")
    U, V = U.detach(), V.detach()
    M = U.shape[-2]
    delta = distance_differences(U, V)
    mask = negative_mask(M, c1, c2, device=U.device).to(U.dtype)
    if f_psi.exp_linear is not None and f_phi.log_affine is not None:
        a, b = f_psi.exp_linear(tau)
        A, k, _ = f_phi.log_affine(tau)
        logits = (a * delta + b + torch.log(mask)).to(U.dtype)  # log 0 = −inf removes j = i and c = 0 blocks
        log_xi = torch.logsumexp(logits, dim=-1, keepdim=True)
        if k > 0:
            log_xi = torch.logaddexp(log_xi, torch.full_like(log_xi, math.log(k)))
        return A * a * torch.exp(logits - log_xi)
    dpsi = _derivative(f_psi, delta, tau)
    psi_val = f_psi(delta, tau)
    xi = (mask * torch.where(mask > 0, psi_val, torch.zeros_like(psi_val))).sum(-1)
    dphi = _derivative(f_phi, xi, tau)
    return (mask * dphi.unsqueeze(-1) * torch.where(mask > 0, dpsi, torch.zeros_like(dpsi))).detach()


def _full_weights(alpha: Tensor, M: int) -> Tensor:
    if alpha.shape[-1] == M:
        return torch.cat([alpha, torch.zeros_like(alpha)], dim=-1)
    if alpha.shape[-1] == 2 * M:
        return alpha
    raise ArgumentError(
        f"alpha: expected weights of shape (…, {M}, {M}) or (…, {M}, {2 * M}), got {tuple(alpha.shape)}"
    )


def alpha_energy(U: Tensor, V: Tensor, alpha: Tensor) -> Tensor:
    """E_α = Σ_i Σ_{j≠i} α_ij (d_ij² − d_i²) (SPEC §1, no factor ½) for fixed weights α: (…, M, n) → (…,).

    Entries of α on the diagonal are ignored.  Differentiable in U, V (α is used as given: pass a detached α
    for the stop-gradient of C6).
    """
    M = U.shape[-2]
    w = _full_weights(alpha, M) * negative_mask(M, 1.0, 1.0, device=U.device).to(U.dtype)
    return -(w * distance_differences(U, V)).sum((-2, -1))


def contrastive_covariance(U: Tensor, V: Tensor, alpha: Tensor) -> Tensor:
    """C_α (…, n, n) with E_α = ½ tr C_α (SPEC §1):
    C_α = 2 Σ_i Σ_{j≠i} α_ij [(u_i − w_j)(u_i − w_j)ᵀ − (u_i − v_i)(u_i − v_i)ᵀ], w_j the negative (v_j or u_j).

    For f = W x: C_α[W X] = W C_α[X] Wᵀ (Tian 2022 §4: the max player with fixed α is PCA of C_α)."""
    M = U.shape[-2]
    w = _full_weights(alpha, M) * negative_mask(M, 1.0, 1.0, device=U.device).to(U.dtype)  # (…, M, 2M)
    bank = torch.cat([V, U], dim=-2)
    neg = U.unsqueeze(-2) - bank.unsqueeze(-3)  # (…, M, 2M, n)
    pos = U - V  # (…, M, n)
    c_neg = torch.einsum("...ij,...ija,...ijb->...ab", w, neg, neg)
    c_pos = torch.einsum("...i,...ia,...ib->...ab", w.sum(-1), pos, pos)
    return 2.0 * (c_neg - c_pos)


#: the α constructions of Tian §5 (α-CL-direct)
ALPHA_DIRECT = ("exp", "inverse", "uniform")
#: the names the authors' code uses (luckmatters ``alpha_type``) for the same constructions
ALPHA_DIRECT_ALIASES = {"poly": "inverse", "quadratic": "uniform"}


def _positive_number(name: str, v, allow_zero: bool = False) -> float:
    ok = (
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and math.isfinite(v)
        and (v >= 0 if allow_zero else v > 0)
    )
    if not ok:
        raise ArgumentError(f"{name}: expected a finite number {'>= 0' if allow_zero else '> 0'}, got {v!r}")
    return float(v)


def alpha_direct(
    U: Tensor,
    V: Tensor,
    kind: str = "exp",
    p: float = 2.0,
    tau: float = 1.0,
    eps: float = 1e-2,
    c1: float = 1.0,
    c2: float = 0.0,
    q: float = 1.0,
) -> Tensor:
    """Directly constructed pairwise importance (…, M, 2M), detached (Tian 2022 §5, "α-CL-direct"):

        exp                 α_ij = exp(−d_ij^p / τ)
        inverse (= poly)    α_ij = (ε + d_ij^p)^(−q)        (q = 1: 1/(ε + d^p); ε keeps it finite at d = 0)
        uniform (= quadratic) α_ij = 1                      (Tian's quadratic loss φ(x) = ψ(x) = x: E_α is then a
                                                             quadratic form; p, τ, ε, q play no part)

    d_ij = ‖u_i − w_j‖ over the negatives (c1: v_j, c2: u_j).  ``poly`` and ``quadratic`` are the names of the
    authors' code (``alpha_type``).  Their code measures distances by r = 1 − s = d²/2 instead of d, with an
    exponent e on r: r^e = d^p / 2^{p/2} for p = 2e, so its temperature τ_T is τ = 2^{p/2} τ_T here (and its ε_T is
    ε = 2^{p/2} ε_T, up to the constant factor 2^{pq/2} of the inverse weights); :func:`tian_alpha` takes the
    authors' parameters and does this mapping.  Unconfirmed details (see the report of issue #5): whether the
    paper normalises α per anchor; left to the caller (``alpha / alpha.sum(-1, keepdim=True)``).
    """
    kind = ALPHA_DIRECT_ALIASES.get(kind, kind)
    if kind not in ALPHA_DIRECT:
        names = ", ".join(ALPHA_DIRECT + tuple(ALPHA_DIRECT_ALIASES))
        raise ArgumentError(f"kind: expected one of {names}, got {kind!r}")
    p = _positive_number("p", p)
    tau = _positive_number("tau", tau)
    q = _positive_number("q", q)
    eps = _positive_number("eps", eps, allow_zero=kind != "inverse")
    U, V = U.detach(), V.detach()
    M = U.shape[-2]
    d2 = squared_distances(U, torch.cat([V, U], dim=-2)).clamp_min(0.0)
    dp = d2.pow(p / 2.0)
    if kind == "exp":
        a = torch.exp(-dp / tau)
    elif kind == "inverse":
        a = (eps + dp).pow(-q) if q != 1.0 else 1.0 / (eps + dp)
    else:
        a = torch.ones_like(dp)
    return a * negative_mask(M, c1, c2, device=U.device).to(U.dtype)


def tian_alpha(
    U: Tensor,
    V: Tensor,
    alpha_type: str = "exp",
    alpha_exponent: float = 1.0,
    temperature: float = 1.0,
    alpha_eps: float = 1e-2,
    inverse_exponent: float = 1.0,
    c1: float = 1.0,
    c2: float = 0.0,
) -> Tensor:
    """α-CL-direct weights in the authors' parameters (luckmatters ``loss_type=dual2``): base r_ij = 1 − s_ij =
    d_ij²/2 for unit vectors, exponent e = ``alpha_exponent`` (the paper's p = 2e):

        exp        α_ij = exp(−r_ij^e / τ_T)          = alpha_direct("exp", p=2e, tau=2^e τ_T)
        poly       α_ij = (ε_T + r_ij^e)^(−q)         = 2^{eq} · alpha_direct("inverse", p=2e, eps=2^e ε_T, q)
        quadratic  α_ij = 1                           = alpha_direct("uniform")

    r is taken as d²/2 (exact on the sphere; for other vectors it is the distance form, not 1 − u·v).
    """
    e = _positive_number("alpha_exponent", alpha_exponent)
    tau_t = _positive_number("temperature", temperature)
    q = _positive_number("inverse_exponent", inverse_exponent)
    kind = ALPHA_DIRECT_ALIASES.get(alpha_type, alpha_type)
    scale = 2.0**e
    if kind == "exp":
        return alpha_direct(U, V, "exp", p=2 * e, tau=scale * tau_t, c1=c1, c2=c2)
    if kind == "inverse":
        eps_t = _positive_number("alpha_eps", alpha_eps)
        return scale**q * alpha_direct(U, V, "inverse", p=2 * e, eps=scale * eps_t, q=q, c1=c1, c2=c2)
    return alpha_direct(U, V, kind, p=2 * e, c1=c1, c2=c2)


# --------------------------------------------------------------------------------------------------------
# registered losses that are α-CL instances


def instance(name: str, params: dict | None = None) -> dict | None:
    """The α-CL form of a registered loss: ``{"phi", "psi", "c1", "c2", "tau", "scale"}`` with
    loss = scale · L_{φ,ψ} on the sphere (u·v = 1 − d²/2), or None when the loss is not an α-CL instance.

    InfoNCE(τ)  = (1/M) L_{log(1+x), e^{x/(2τ)}}, c = (1, 0)     SimCLR: c = (1, 1)
    DCL(τ)      = (1/M) L_{log x,    e^{x/(2τ)}}, c = (1, 1)     DHEL:   c = (0, 1)
    phipsi(φ_p, ψ_p, c1, c2) = (1/M) L_{ψ_p, φ_p(x/2)}          (Tian's τ log(ε + x) differs by the factor τ)

    KCL is not an instance: its alignment and uniformity terms depend on d_i² and d_ij² separately, not on
    d_i² − d_ij².  NT-Xent and the symmetric DHEL/KCL have anchors in both views (sums of two forms).
    """
    from .registry import get_loss

    spec = get_loss(name)
    form, _ = alpha_cl_form(spec, spec.resolve_params(params))
    return None if form is None else form.to_dict()


def alpha_cl_form(spec, params: dict) -> tuple[AlphaCL | None, str]:
    """(the α-CL form a registered loss declares, "") or (None, why): declared directly, or following from its
    φ/ψ form — (1/M) L_{ψ, φ(x/2)} with the loss's τ; why is "" when the loss declares neither."""
    form, why = spec.forms.resolve("alpha_cl", params)
    if form is not None or why:
        return form, why
    pp, why = spec.forms.resolve("phipsi", params)
    if pp is None:
        return None, why
    return AlphaCL(
        phi=pp.psi,
        psi=scale_argument(pp.phi, 0.5, "phi"),
        c1=float(pp.c1),
        c2=float(pp.c2),
        tau=float(params.get("tau", 1.0)),
        scale="1/M",
    ), ""


def not_instances() -> dict[str, str]:
    """Registered losses that declare why they are not α-CL instances: name -> why."""
    from .registry import registered

    out = {}
    for name, spec in registered().items():
        if isinstance(spec.forms.alpha_cl, str):
            out[name] = spec.forms.alpha_cl
    return out


def __getattr__(name: str):
    if name == "NOT_INSTANCES":  # read from the registry on each access
        return not_instances()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
