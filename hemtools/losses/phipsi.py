"""The φ/ψ family of Koromilas et al. (2024) and the evaluation engine it shares with α-CL.

    phipsi(U, V) = (1/M) Σ_i ψ( c1 Σ_{j≠i} φ(u_i·v_j − u_i·v_i) + c2 Σ_{j≠i} φ(u_i·u_j − u_i·v_i) )   (SPEC §1)

φ (inner) and ψ (outer) are formulas in ``x`` — strings such as ``"exp(x/tau)"`` or ``"log(1+x)"``, sympy
expressions — or torch callables acting elementwise.  The named members:

    InfoNCE  ψ(x) = log(1+x), (c1, c2) = (1, 0)        SimCLR  ψ(x) = log(1+x), (1, 1)
    DCL      ψ(x) = log x,    (1, 1)                    DHEL    ψ(x) = log x,    (0, 1)
with φ(x) = e^{x/τ}.

Formulas are parsed and compiled by :mod:`hemtools.formula` (a restricted grammar, no Python evaluated,
translated to torch operations; no sympy at evaluation time).  Numerical paths:

  * log-sum-exp path — used when φ(x) = exp(a·x + b) and ψ(x) = α·log(x + k) + β with k ≥ 0 (recognised
    symbolically; InfoNCE, SimCLR, DCL, DHEL and every temperature): the sums are never formed, so the
    loss stays finite for any τ > 0, exactly like the registered losses;
  * generic path — any other φ, ψ: S = c1 Σ φ(·) + c2 Σ φ(·) is formed and ψ(S) evaluated.  It is finite
    wherever φ is finite on [−2, 2] (the range of u·w − u·v) and ψ is finite on the values S takes.  For
    φ = e^{x/τ} given as a callable this means τ > 2/709 ≈ 0.003 in float64 (e^{2/τ} overflows below), and
    log(1 + S) loses relative accuracy when S < 1e-16.  A formula that is not real on that range (log x of a
    negative S, sqrt of a negative number) gives NaN, and verify then reports ``inconclusive``.

sympy is imported only when a formula is first compiled (``hemtools --help`` and the registry stay light).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ArgumentError
from ..formula import FUNCTIONS, Formula, compile_formula, parse_formula, probe
from ._common import gram
from .registry import Param, positive, register_loss
from .spec import PhiPsi, SymbolicTemplate

Tensor = torch.Tensor

# the formula compiler lives in hemtools.formula; its names are re-exported here for existing callers
__all__ = ["FUNCTIONS", "Formula", "compile_formula", "parse_formula", "probe", "off_diagonal_entries",
           "outer_of_sums", "phipsi", "named_instances", "PHIPSI_PARAMS"]


# --------------------------------------------------------------------------------------------------------
# the shared engine: outer( Σ_blocks c Σ_{j≠i} inner(z_ij) )


def off_diagonal_entries(a: Tensor) -> Tensor:
    """(…, M, M) → (…, M, M−1): row i without its diagonal entry (a gather: differentiable, no masking)."""
    m = a.shape[-1]
    idx = torch.arange(m, device=a.device)
    cols = torch.stack([torch.cat([idx[:i], idx[i + 1:]]) for i in range(m)])  # (M, M−1)
    return torch.gather(a, -1, cols.expand(*a.shape[:-2], m, m - 1))


def outer_of_sums(inner: Formula, outer: Formula, blocks: Sequence[tuple[float, Tensor]], tau: float) -> Tensor:
    """outer( Σ_{(c, Z) in blocks} c Σ_j inner(Z_ij) ) for each row i: (…, M).

    Uses log-sum-exp when inner = exp(a x + b) and outer = α log(x + k) + β (k ≥ 0), the plain sums otherwise.
    """
    blocks = [(float(c), z) for c, z in blocks if float(c) > 0]
    if inner.exp_linear is not None and outer.log_affine is not None:
        a, b = inner.exp_linear(tau)
        al, k, be = outer.log_affine(tau)
        logits = torch.cat([a * z + (b + math.log(c)) for c, z in blocks], dim=-1)
        lse = torch.logsumexp(logits, dim=-1)
        if k > 0:
            lse = torch.logaddexp(lse, torch.full_like(lse, math.log(k)))
        return al * lse + be
    s = None
    for c, z in blocks:
        term = c * inner(z, tau).sum(-1)
        s = term if s is None else s + term
    return outer(s, tau)


def _check(p: dict) -> None:
    if p["c1"] == 0 and p["c2"] == 0:
        raise ArgumentError("c1, c2: at least one of the weights must be positive, got c1 = 0 and c2 = 0")
    for key in ("phi", "psi"):
        probe(compile_formula(p[key], key))


PHIPSI_PARAMS = [
    Param("phi", "exp(x/tau)", kind="expr", doc="inner function φ, applied to u_i·w − u_i·v_i ∈ [−2, 2]"),
    Param("psi", "log(1+x)", kind="expr", doc="outer function ψ of the weighted sum"),
    Param("c1", 1.0, low=0.0, low_open=False, doc="weight of the cross-view negatives u_i·v_j"),
    Param("c2", 0.0, low=0.0, low_open=False, doc="weight of the same-view negatives u_i·u_j"),
    positive("tau", 0.5, "temperature τ > 0 (the symbol tau in the formulas)"),
]


@register_loss("phipsi", params=PHIPSI_PARAMS, family="phipsi", check=_check,
               phipsi=lambda p: PhiPsi(p["phi"], p["psi"], p["c1"], p["c2"]),
               symbolic=SymbolicTemplate("psi(c1*S_uv + c2*S_uu)", {"uv": "phi(x_n - p)", "uu": "phi(x_n - p)"},
                                         ("tau",), weights={"uv": "c1", "uu": "c2"}, representation="phipsi"))
def phipsi(U: Tensor, V: Tensor, *, phi: Any = "exp(x/tau)", psi: Any = "log(1+x)", c1: float = 1.0,
           c2: float = 0.0, tau: float = 0.5) -> Tensor:
    """φ/ψ family: (1/M) Σ_i ψ( c1 Σ_{j≠i} φ(u_i·v_j − u_i·v_i) + c2 Σ_{j≠i} φ(u_i·u_j − u_i·v_i) )  (SPEC §1)."""
    f_phi, f_psi = compile_formula(phi, "phi"), compile_formula(psi, "psi")
    uv = gram(U, V)
    pos = torch.diagonal(uv, dim1=-2, dim2=-1).unsqueeze(-1)
    blocks = []
    if c1 > 0:
        blocks.append((c1, off_diagonal_entries(uv) - pos))
    if c2 > 0:
        blocks.append((c2, off_diagonal_entries(gram(U, U)) - pos))
    return outer_of_sums(f_phi, f_psi, blocks, tau).mean(-1)


def named_instances() -> dict[str, dict]:
    """The named members of the family (SPEC §1), as parameters of ``phipsi``: every registered loss that
    declares a fixed φ/ψ form (``register_loss(..., phipsi=PhiPsi(...))``)."""
    from .registry import registered

    return {name: spec.forms.phipsi.as_params() for name, spec in registered().items()
            if isinstance(spec.forms.phipsi, PhiPsi)}


def __getattr__(name: str):
    if name == "NAMED_INSTANCES":  # read from the registry on each access: a loss registered later is included
        return named_instances()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
