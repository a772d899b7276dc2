"""KCL: the expected mini-batch loss is a U-statistic (C4), exactly (rational coefficients) and by Monte Carlo."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import sympy as sp
import torch

from ..errors import ArgumentError
from ..losses.registry import get_loss
from .core import DIGITS, GAMMA, Z_, Finding, _float, exact
from .forms import kernel_expressions

#: three pairs (u_a, v_a) on S² with rational coordinates (Pythagorean triples), and their probabilities
DEFAULT_ATOMS = (
    ((1, 0, 0), (Fraction(3, 5), Fraction(4, 5), 0)),
    ((0, Fraction(3, 5), Fraction(4, 5)), (0, 0, 1)),
    ((Fraction(-4, 5), 0, Fraction(3, 5)), (-1, 0, 0)),
)
DEFAULT_WEIGHTS = (Fraction(1, 2), Fraction(1, 3), Fraction(1, 6))


def expected_kcl_coefficients(k: int, weights: Sequence[Fraction], M: int) -> tuple[dict, dict]:
    """Exact E[kcl] over M i.i.d. draws from k atoms, as rational coefficients of the kernel values:
    E = Σ_a A[a]·K_A(a) + γ Σ_{a,b} B[(a,b)]·K_U(a,b).  Enumerates all k^M batches (exact, Fractions)."""
    A: dict = {a: Fraction(0) for a in range(k)}
    B: dict = {(a, b): Fraction(0) for a in range(k) for b in range(k)}
    for batch in itertools.product(range(k), repeat=M):
        prob = Fraction(1)
        for a in batch:
            prob *= weights[a]
        for a in batch:
            A[a] -= prob / M
        c = prob / (M * (M - 1))
        for i, a in enumerate(batch):
            for j, b in enumerate(batch):
                if i != j:
                    B[(a, b)] += c
    return A, B


def kcl_ustatistic(params: Mapping[str, Any] | None = None, Ms: Sequence[int] = (2, 3, 4, 5),
                   atoms=DEFAULT_ATOMS, weights=DEFAULT_WEIGHTS, mc_samples: int = 20000, seed: int = 0,
                   z: float = 3.29) -> list[Finding]:
    """C4: exact expected KCL loss for each M (rational coefficients of symbolic kernel values), shown to be
    one expression for every M, evaluated exactly, and compared with a Monte Carlo estimate (99.9% interval,
    z = 3.29)."""
    spec = get_loss("kcl")
    p = spec.resolve_params(params)
    k = len(atoms)
    if sum(weights) != 1 or any(w <= 0 for w in weights) or len(weights) != k:
        raise ArgumentError(f"weights: expected {k} positive fractions summing to 1, got {list(map(str, weights))}")
    for a, (u, v) in enumerate(atoms):
        for name, x in (("u", u), ("v", v)):
            if sum(_q(c) ** 2 for c in x) != 1:
                raise ArgumentError(f"atoms: {name}_{a} = {tuple(map(str, x))} is not a unit vector (exact rational "
                                    "coordinates with squared norm 1 are required)")
    KA_sym = [sp.Symbol(f"K_A{a}") for a in range(k)]
    KU_sym = {(a, b): sp.Symbol(f"K_U{min(a, b)}{max(a, b)}") for a in range(k) for b in range(k)}
    exprs = {}
    for m in Ms:
        A, B = expected_kcl_coefficients(k, weights, m)
        e = sum(sp.Rational(A[a].numerator, A[a].denominator) * KA_sym[a] for a in range(k))
        e += GAMMA * sum(sp.Rational(B[ab].numerator, B[ab].denominator) * KU_sym[ab] for ab in B)
        exprs[m] = sp.expand(e)
    ref = exprs[Ms[0]]
    same = all(sp.expand(exprs[m] - ref) == 0 for m in Ms)
    ustat = sp.expand(
        -sum(sp.Rational(w.numerator, w.denominator) * KA_sym[a] for a, w in enumerate(weights))
        + GAMMA
        * sum(
            sp.Rational((weights[a] * weights[b]).numerator, (weights[a] * weights[b]).denominator) * KU_sym[(a, b)]
            for a in range(k)
            for b in range(k)
        )
    )
    is_u = sp.expand(ref - ustat) == 0
    out = [
        Finding(
            "expectation_independent_of_M",
            "proved" if same and is_u else "failed",
            f"E[kcl] over M i.i.d. pairs from {k} atoms is the same expression for M = {', '.join(map(str, Ms))}: "
            "−Σ_a w_a K_A(a) + γ Σ_{a,b} w_a w_b K_U(a,b) (a U-statistic)",
            f"exact rational arithmetic over all k^M batches (k^{max(Ms)} = {k ** max(Ms)})",
            {"expression": str(ref), "per_M": {m: str(e) for m, e in exprs.items()}},
        )
    ]
    # exact value with the actual kernel
    KA, KU, _ = kernel_expressions(p["kernel"], exact(p["t"]), p["s"])

    def sq(a, b):  # exact ‖a − b‖² of rational points
        return sum(((_q(x) - _q(y)) ** 2 for x, y in zip(a, b, strict=False)), sp.Integer(0))

    vals = {KA_sym[a]: KA.subs(Z_, sq(atoms[a][0], atoms[a][1])) for a in range(k)}
    for (a, b), sym in KU_sym.items():
        vals[sym] = KU.subs(Z_, sq(atoms[a][0], atoms[b][0]))
    vals[GAMMA] = exact(p["gamma"])
    exact_value = _float(ref.subs(vals), DIGITS)
    if not math.isfinite(exact_value):
        out.append(
            Finding(
                "expectation_vs_monte_carlo",
                "inconclusive",
                "exact expectation vs Monte Carlo",
                f"the exact expectation is not finite ({ref.subs(vals)}): "
                "the kernel is singular when two draws coincide",
            )
        )
        return out
    gen = torch.Generator().manual_seed(seed)
    Ua = torch.tensor([[float(c) for c in a[0]] for a in atoms], dtype=torch.float64)
    Va = torch.tensor([[float(c) for c in a[1]] for a in atoms], dtype=torch.float64)
    w = torch.tensor([float(x) for x in weights], dtype=torch.float64)
    rows, ok = [], True
    for m in Ms:
        idx = torch.multinomial(w, mc_samples * m, replacement=True, generator=gen).view(mc_samples, m)
        with torch.no_grad():
            vals_mc = spec(Ua[idx], Va[idx], **p)
        mean, std = float(vals_mc.mean()), float(vals_mc.std())
        half = z * std / math.sqrt(mc_samples)
        inside = abs(mean - exact_value) <= half
        ok &= inside
        rows.append(
            {
                "M": m,
                "monte_carlo": mean,
                "half_width": half,
                "exact": exact_value,
                "difference": mean - exact_value,
                "inside": inside,
            }
        )
    out.append(
        Finding(
            "expectation_vs_monte_carlo",
            "passed" if ok else "failed",
            f"the exact expectation {exact_value:.15g} lies in the {z:g}-sigma interval of a Monte Carlo "
            f"estimate ({mc_samples} batches per M, torch.Generator seed {seed})",
            "; ".join(f"M={r['M']}: {r['monte_carlo']:.6f} ± {r['half_width']:.1e}" for r in rows),
            {"rows": rows, "exact": exact_value},
        )
    )
    return out


def _q(v):
    return sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else sp.Integer(v)
