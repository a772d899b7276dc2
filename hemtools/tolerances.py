"""Numerical tolerances, keyed by dtype, in one place.

Every threshold the solver and the certificates use comes from here, so that a reader can see where a
tolerance comes from (machine epsilon of the dtype, times a stated factor) and so that no check quietly
loosens its own.  Values are for problems whose loss is O(1)-O(100); scale-aware checks multiply them by
the relevant magnitude themselves (see ``hemtools.checks``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import ArgumentError


@dataclass(frozen=True)
class Tolerances:
    eps: float  # machine epsilon of the dtype
    grad: float  # target Riemannian gradient norm of the solver
    certificate_grad: float  # gradient norm a certificate accepts (SPEC §3: 1e-10 in float64)
    value_rel: float  # two values "agree" when |a-b| <= value_rel * max(1, |a|, |b|)
    config: float  # max Gram / alignment deviation accepted as "the same configuration"
    zero_eig_factor: float  # |lambda| <= zero_eig_factor * eps * max|lambda| counts as zero


TOLERANCES = {
    # float64: eps = 2.2e-16.  The solver reaches 1e-13..1e-15 on O(1) losses; certificates ask 1e-10
    # (SPEC §3).  Configurations agree to ~sqrt(eps)-level only when the Hessian is tiny, so 1e-6 is a
    # deliberately coarse identity test; precise agreement is measured and reported separately.
    torch.float64: Tolerances(eps=2.220446049250313e-16, grad=1e-12, certificate_grad=1e-10,
                              value_rel=1e-10, config=1e-6, zero_eig_factor=1e4),
    # float32 is allowed for exploration only; verdicts in float32 are at best indicative.
    torch.float32: Tolerances(eps=1.1920929e-07, grad=1e-5, certificate_grad=1e-4,
                              value_rel=1e-5, config=1e-3, zero_eig_factor=1e2),
}


def tolerances(dtype: torch.dtype) -> Tolerances:
    try:
        return TOLERANCES[dtype]
    except KeyError:
        raise ArgumentError(
            f"dtype: {dtype} is not supported; use torch.float64 (or float32 for exploration)"
        ) from None
