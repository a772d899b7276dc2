"""What verify is asked to confirm: the claim (simplex, aligned, config:NAME, value:X), its exact target
configuration and its words in the verdict's reasons."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import configurations
from ..errors import ArgumentError
from ..losses.registry import LossSpec

Tensor = torch.Tensor


@dataclass(frozen=True)
class Claim:
    form: str  # "simplex" | "aligned" | "config" | "value"
    config: str | None = None
    value: float | None = None

    @property
    def kind(self) -> str:  # the name before issue 12 ("kind" also names a loss's pairs/points)
        return self.form

    @property
    def label(self) -> str:
        if self.form == "config":
            return f"config:{self.config}"
        if self.form == "value":
            return f"value:{self.value:.17g}"
        return self.form


def parse_claim(text: str | None, spec: LossSpec, M: int, d: int) -> Claim:
    """``None`` → the default claim (simplex when M <= d+1, else aligned)."""
    if text is None or text == "":
        return Claim("simplex" if M <= d + 1 else "aligned")
    if text in ("simplex", "aligned"):
        if text == "aligned" and spec.kind != "pairs":
            raise ArgumentError(f"claim: 'aligned' needs a pair loss; {spec.name} acts on one point set")
        return Claim(text)
    if text.startswith("config:"):
        name = text[len("config:"):]
        if name not in configurations.KNOWN:
            raise ArgumentError(
                f"claim: unknown configuration {name!r}; known: {', '.join(sorted(configurations.KNOWN))}"
            )
        return Claim("config", config=name)
    if text.startswith("value:"):
        try:
            v = float(text[len("value:") :])
        except ValueError:
            raise ArgumentError(f"claim: value:X needs a number X, got {text!r}") from None
        if not math.isfinite(v):
            raise ArgumentError(f"claim: value:X needs a finite number X, got {text!r}")
        return Claim("value", value=v)
    raise ArgumentError(f"claim: expected simplex, aligned, config:NAME or value:X, got {text!r}")


def target_configuration(spec: LossSpec, claim: Claim, M: int, d: int) -> tuple[str, Tensor | None, int]:
    """(description, exact target points [U; V] or X in R^{d'}, d') for the claim; d' may exceed d when
    the target cannot exist in R^d (the simplex of M > d+1 points lives in R^{M−1}): its value is then the
    unreachable bound."""
    if claim.form in ("simplex", "aligned"):
        dd = max(d, M - 1)
        x = configurations.regular_simplex(M, dd)
        name = "aligned regular simplex" if spec.kind == "pairs" else "regular simplex"
        if M > d + 1:
            name += f" (exists only in d >= {M - 1}: unreachable bound)"
        return name, (torch.cat([x, x]) if spec.kind == "pairs" else x), dd
    if claim.form == "config":
        x = configurations.construct(claim.config, M, d)
        name = f"aligned {claim.config}" if spec.kind == "pairs" else claim.config
        return name, (torch.cat([x, x]) if spec.kind == "pairs" else x), d
    return f"claimed value {claim.value:.17g}", None, d


def claim_words(cl: Claim, spec: LossSpec) -> str:
    if cl.form == "simplex":
        return "perfect alignment plus a regular simplex" if spec.kind == "pairs" else "regular simplex"
    if cl.form == "config":
        return f"aligned {cl.config}" if spec.kind == "pairs" else cl.config
    if cl.form == "value":
        return f"value {cl.value:.12g}"
    return "aligned configuration"
