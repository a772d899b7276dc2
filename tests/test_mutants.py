"""Mutation test: deliberately broken variants of the registered losses must all be caught.

Each mutant is one plausible implementation bug (wrong sign, positive kept in DCL's denominator, diagonal
not excluded, wrong normalisation, τ applied twice, symmetric term dropped, a stop-gradient in the wrong
place, ...), written as a batched user loss.  It is caught when ``compare`` against the registered loss
reports a mismatch, or when ``verify`` refutes the claimed minimiser.  Mutants that move the minimiser
are checked by both; the others keep the aligned simplex as minimiser, so only ``compare`` can see them.

Negative control: the same helpers written correctly match every parent (else a "caught" mutant could be
caught for the helpers' sake, not for its bug).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from hemtools.checks import verify
from hemtools.compare import compare
from hemtools.losses import batched

# small grid: M = 3, 4 in d = 3 (both <= d+1, so the optimum is the aligned simplex); one trial per kind
GRID = dict(Ms=[3, 4], ds=[3], trials=1)


def _eye(M: int) -> Tensor:
    return torch.eye(M, dtype=torch.bool)


Tensor = torch.Tensor
NEG = float("-inf")


def _lse(*blocks: Tensor) -> Tensor:
    return torch.logsumexp(torch.cat(blocks, dim=-1), dim=-1)


def _uv(U, V, tau):
    return U @ V.transpose(-1, -2) / tau


def _pos(U, V, tau):
    return (U * V).sum(-1) / tau


def _offdiag(S: Tensor) -> Tensor:
    return S.masked_fill(_eye(S.shape[-1]), NEG)


# ----- correct forms, in the mutants' style (the negative control) ---------------------------------------

def infonce(U, V, tau=0.5):
    return (_lse(_uv(U, V, tau)) - _pos(U, V, tau)).mean(-1)


def simclr_one_way(U, V, tau=0.5, diag=False):
    uu = _uv(U, U, tau) if diag else _offdiag(_uv(U, U, tau))
    return (_lse(_uv(U, V, tau), uu) - _pos(U, V, tau)).mean(-1)


def nt_xent(U, V, tau=0.5):
    return 0.5 * (simclr_one_way(U, V, tau) + simclr_one_way(V, U, tau))


def dcl(U, V, tau=0.5):
    return (_lse(_offdiag(_uv(U, V, tau)), _offdiag(_uv(U, U, tau))) - _pos(U, V, tau)).mean(-1)


def dhel(U, V, tau=0.3):
    return (_lse(_offdiag(_uv(U, U, tau))) - _pos(U, V, tau)).mean(-1)


def dhel_sym(U, V, tau=0.3):
    return (_lse(_offdiag(_uv(U, U, tau))) + _lse(_offdiag(_uv(V, V, tau))) - _pos(U, V, tau)).mean(-1)


def _kcl_parts(U, V, t, gamma, norm=None):
    M = U.shape[-2]
    align = torch.exp(-t * (2 - 2 * (U * V).sum(-1))).mean(-1)
    K = torch.exp(-t * (2 - 2 * U @ U.transpose(-1, -2))).masked_fill(_eye(M), 0.0)
    return align, K.sum((-2, -1)) * gamma / (M * (M - 1) if norm is None else norm(M))


def kcl(U, V, t=2.0, gamma=16.0):
    align, energy = _kcl_parts(U, V, t, gamma)
    return energy - align


def kcl_sym(U, V, t=2.0, gamma=16.0):
    a1, e1 = _kcl_parts(U, V, t, gamma)
    _, e2 = _kcl_parts(V, U, t, gamma)
    return e1 + e2 - 2 * a1


CORRECT = {"infonce": infonce, "simclr": simclr_one_way, "nt_xent": nt_xent, "dcl": dcl, "dhel": dhel,
           "dhel_sym": dhel_sym, "kcl": kcl, "kcl_sym": kcl_sym}


# ----- the mutants ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mutant:
    name: str
    parent: str  # the registered loss it breaks
    fn: Callable
    moves_minimiser: bool = False  # verify must refute it too

    def __str__(self) -> str:
        return self.name


def infonce_wrong_sign(U, V, tau=0.5):
    return -infonce(U, V, tau)


def dcl_positive_in_denominator(U, V, tau=0.5):
    return (_lse(_uv(U, V, tau), _offdiag(_uv(U, U, tau))) - _pos(U, V, tau)).mean(-1)


def simclr_diagonal_not_excluded(U, V, tau=0.5):
    return simclr_one_way(U, V, tau, diag=True)


def dhel_sum_not_mean(U, V, tau=0.3):
    return dhel(U, V, tau) * U.shape[-2]


def infonce_tau_twice(U, V, tau=0.5):
    return infonce(U, V, tau * tau)


def nt_xent_symmetric_term_dropped(U, V, tau=0.5):
    return simclr_one_way(U, V, tau)


def nt_xent_sum_of_directions(U, V, tau=0.5):
    return simclr_one_way(U, V, tau) + simclr_one_way(V, U, tau)


def kcl_uniformity_sign(U, V, t=2.0, gamma=16.0):
    align, energy = _kcl_parts(U, V, t, gamma)
    return -energy - align


def dhel_wrong_view_in_denominator(U, V, tau=0.3):
    return (_lse(_offdiag(_uv(U, V, tau))) - _pos(U, V, tau)).mean(-1)


def kcl_normalised_by_M_squared(U, V, t=2.0, gamma=16.0):
    align, energy = _kcl_parts(U, V, t, gamma, norm=lambda M: M * M)
    return energy - align


def infonce_detached_positive(U, V, tau=0.5):
    # same value everywhere; the gradient misses the positive's pull: only gradients can tell
    return (_lse(_uv(U, V, tau)) - _pos(U, V.detach(), tau)).mean(-1)


def infonce_softmax_over_columns(U, V, tau=0.5):
    return (torch.logsumexp(_uv(U, V, tau), dim=-2) - _pos(U, V, tau)).mean(-1)


def dcl_positive_without_tau(U, V, tau=0.5):
    return (_lse(_offdiag(_uv(U, V, tau)), _offdiag(_uv(U, U, tau))) - (U * V).sum(-1)).mean(-1)


def dhel_sym_one_view(U, V, tau=0.3):
    return dhel(U, V, tau)


def kcl_sym_alignment_once(U, V, t=2.0, gamma=16.0):
    a1, e1 = _kcl_parts(U, V, t, gamma)
    _, e2 = _kcl_parts(V, U, t, gamma)
    return e1 + e2 - a1


def kcl_distance_not_squared(U, V, t=2.0, gamma=16.0):
    M = U.shape[-2]
    align = torch.exp(-t * torch.sqrt((2 - 2 * (U * V).sum(-1)).clamp_min(0))).mean(-1)
    K = torch.exp(-t * (2 - 2 * U @ U.transpose(-1, -2))).masked_fill(_eye(M), 0.0)
    return K.sum((-2, -1)) * gamma / (M * (M - 1)) - align


def simclr_uses_v_negatives_twice(U, V, tau=0.5):
    # a copy-paste slip: the second block should be U·U
    return (_lse(_uv(U, V, tau), _offdiag(_uv(U, V, tau))) - _pos(U, V, tau)).mean(-1)


MUTANTS = [
    Mutant("infonce_wrong_sign", "infonce", infonce_wrong_sign, moves_minimiser=True),
    Mutant("kcl_uniformity_sign", "kcl", kcl_uniformity_sign, moves_minimiser=True),
    Mutant("dcl_positive_in_denominator", "dcl", dcl_positive_in_denominator),
    Mutant("simclr_diagonal_not_excluded", "simclr", simclr_diagonal_not_excluded),
    Mutant("simclr_uses_v_negatives_twice", "simclr", simclr_uses_v_negatives_twice),
    Mutant("dhel_sum_not_mean", "dhel", dhel_sum_not_mean),
    Mutant("kcl_normalised_by_M_squared", "kcl", kcl_normalised_by_M_squared),
    Mutant("nt_xent_sum_of_directions", "nt_xent", nt_xent_sum_of_directions),
    Mutant("infonce_tau_twice", "infonce", infonce_tau_twice),
    Mutant("dcl_positive_without_tau", "dcl", dcl_positive_without_tau),
    Mutant("nt_xent_symmetric_term_dropped", "nt_xent", nt_xent_symmetric_term_dropped),
    Mutant("dhel_sym_one_view", "dhel_sym", dhel_sym_one_view),
    Mutant("kcl_sym_alignment_once", "kcl_sym", kcl_sym_alignment_once),
    Mutant("dhel_wrong_view_in_denominator", "dhel", dhel_wrong_view_in_denominator),
    Mutant("infonce_softmax_over_columns", "infonce", infonce_softmax_over_columns),
    Mutant("infonce_detached_positive", "infonce", infonce_detached_positive),
    Mutant("kcl_distance_not_squared", "kcl", kcl_distance_not_squared),
]


@pytest.mark.parametrize("parent", sorted(CORRECT))
def test_negative_control_correct_forms_match(parent):
    r = compare(batched(CORRECT[parent]), parent, **GRID)
    assert r.verdict == "match", r.summary()


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_mutant_is_caught_by_compare(mutant):
    r = compare(batched(mutant.fn), mutant.parent, **GRID)
    assert r.verdict == "mismatch", f"{mutant.name} not caught: {r.summary()}"


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.moves_minimiser], ids=str)
def test_mutant_that_moves_the_minimiser_is_refuted_by_verify(mutant):
    r = verify(batched(mutant.fn), 4, 3, restarts=3, hessian=False)
    assert r.verdict == "refuted", r.summary()


def test_detached_positive_differs_only_in_the_gradient():
    """The stop-gradient mutant has the parent's values to round-off: compare catches it by gradients."""
    r = compare(batched(infonce_detached_positive), "infonce", **GRID)
    assert not any(c.value_mismatch for c in r.cases)
    assert any(c.grad_mismatch for c in r.cases)


if __name__ == "__main__":  # the detection table of the closing note: python tests/test_mutants.py
    caught = 0
    print(f"{'mutant':<32} {'parent':<9} {'verify M=4 d=3':<15} {'compare':<9} {'worst Δ/tol':>11}")
    for m in MUTANTS:
        v = verify(batched(m.fn), 4, 3, restarts=4).verdict
        c = compare(batched(m.fn), m.parent, **GRID)
        caught += v == "refuted" or c.verdict == "mismatch"
        print(f"{m.name:<32} {m.parent:<9} {v:<15} {c.verdict:<9} {c.worst(1)[0].severity:>11.3g}")
    print(f"caught {caught} of {len(MUTANTS)}")
