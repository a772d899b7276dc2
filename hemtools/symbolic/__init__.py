"""Symbolic checks (sympy) of the seed theorem and its proof, each cross-checked numerically.

The seed (Koromilas et al. 2024) states: for M ≤ d+1 and φ, ψ convex and increasing, the φ/ψ losses are
minimised exactly by perfect alignment plus a regular simplex.  This module turns that proof into checks:

  closed form      the loss at the aligned regular simplex as a simplified expression in M and the
                   parameters, derived twice (from the SPEC formula of the loss, and from its φ/ψ or kernel
                   representation), checked against the loss evaluated on ``configurations.regular_simplex``;
  stationarity     the Riemannian gradient at the aligned simplex, from the derivatives of the loss with
                   respect to the inner products: zero for every M (derived with the simplex's inner
                   products, symbolically), for M = 2, 3 from the full Gram matrix, and measured by autograd;
  Jensen chain     the lower bound of the proof, link by link with the condition each link needs, equality
                   at the aligned simplex (symbolic) and a strict gap elsewhere (measured);
  conditions       convexity and monotonicity of φ, ψ and of the composite F(x) = ψ(Σ_j c_j φ(x_j)) on the
                   domain the loss uses: ``proved`` (sympy decides the sign of the derivative), ``refuted``
                   (a point where it fails, evaluated to 30 digits) or ``undecided`` (with a dense numerical
                   scan, labelled as such), or ``undefined`` (the function is not real there);
  KCL U-statistic  the expected KCL loss over i.i.d. pairs from a k-atom distribution, computed exactly
                   (rational coefficients) for M = 2..5, is the same expression for every M, and equals a
                   Monte Carlo estimate within its confidence interval;
  α-CL             ∇L = −∇E_α with α held fixed: symbolically for M = 3, d = 2 (for arbitrary φ, ψ and for
                   the loss's own), by autograd for larger random cases, for each registered α-CL instance.

Which condition the proof needs, pinned down (C2): the chain below uses only that the per-anchor function
F(x_1..x_n) = ψ(c1 Σ φ(x_j) + c2 Σ φ(y_j)) is convex and nondecreasing on [−2, 2]^n.  "φ and ψ convex and
increasing" is a sufficient condition (composition rule) but not necessary: InfoNCE has ψ(x) = log(1+x),
which is concave, while its F = log(1 + Σ e^{x_j/τ}) is convex.

Nothing here prints; :func:`analyse` returns a :class:`SymbolicReport` that the CLI renders.

The package, one module per subject (each imports only the ones above it):

  core          symbols, tolerances, :class:`Finding`, :func:`exact`, :func:`is_zero`
  forms         :func:`loss_form`: the per-anchor form of a registered loss, its φ/ψ or kernel representation
  closed_form   :func:`closed_form` at the aligned simplex, derived twice, against float64
  stationarity  :func:`stationarity`: the Riemannian gradient at the aligned simplex
  signs         :func:`decide_sign` on an interval: proved, refuted (30-digit witness) or undecided
  conditions    :func:`check_conditions` (φ, ψ and the composite F) and :func:`kernel_conditions` (KCL)
  chain         :func:`jensen_chain`: the lower-bound chain, link by link
  ustatistic    :func:`kcl_ustatistic` (C4)
  alpha_cl      the α-CL identity (C6): :func:`alpha_cl_symbolic`, :func:`alpha_cl_numeric`, instances
  report        :func:`analyse` → :class:`SymbolicReport`

It depends only on hemtools.losses, .formula, .configurations, .sphere and .errors; the grids that run
verify (condition_grid, closed_form_vs_verify) are in :mod:`hemtools.grids`.
"""

from __future__ import annotations

from .alpha_cl import alpha_cl_instance_check, alpha_cl_numeric, alpha_cl_section, alpha_cl_symbolic
from .chain import CHAIN_CASES, jensen_chain
from .closed_form import (
                          ClosedForm,
                          closed_form,
                          closed_form_expr,
                          representation_value,
                          simplex_inner_product,
                          simplex_points,
                          template_value,
)
from .conditions import PHI_DOMAIN, ConditionsReport, check_conditions, kernel_conditions
from .core import (
                          BLOCK_SUMS,
                          CLOSED_FORM_RTOL,
                          DIGITS,
                          GAMMA,
                          M_,
                          P_,
                          S_UU,
                          S_UV,
                          S_VU,
                          S_VV,
                          STATIONARY_ATOL,
                          T_,
                          TAU,
                          X_,
                          XN,
                          Z_,
                          Finding,
                          exact,
                          is_zero,
)

# private helpers the tests call through this module
from .core import _float as _float  # noqa: E402
from .forms import KernelForm, LossForm, PhiPsiForm, kernel_expressions, loss_form, supported
from .report import SymbolicReport, analyse
from .signs import Domain, SignDecision, decide_sign
from .stationarity import _stationarity_full_gram as _stationarity_full_gram  # noqa: E402
from .stationarity import stationarity
from .ustatistic import DEFAULT_ATOMS, DEFAULT_WEIGHTS, expected_kcl_coefficients, kcl_ustatistic

__all__ = [
    "BLOCK_SUMS", "CHAIN_CASES", "CLOSED_FORM_RTOL", "DEFAULT_ATOMS", "DEFAULT_WEIGHTS", "DIGITS", "GAMMA", "M_",
    "PHI_DOMAIN", "P_", "STATIONARY_ATOL", "S_UU", "S_UV", "S_VU", "S_VV", "TAU", "T_", "XN", "X_",
    "Z_", "ClosedForm", "ConditionsReport", "Domain", "Finding", "KernelForm", "LossForm", "PhiPsiForm",
    "SignDecision", "SymbolicReport", "alpha_cl_instance_check", "alpha_cl_numeric", "alpha_cl_section",
    "alpha_cl_symbolic", "analyse", "check_conditions", "closed_form", "closed_form_expr", "decide_sign", "exact",
    "expected_kcl_coefficients", "is_zero", "jensen_chain", "kcl_ustatistic", "kernel_conditions",
    "kernel_expressions", "loss_form", "representation_value", "simplex_inner_product", "simplex_points",
    "stationarity", "supported", "template_value",
]
