"""What a loss declares about itself when it registers: the leaf types of the registry.

A loss module states, next to its function, every form it has (SPEC §1) — nothing elsewhere matches names:

  phipsi     :class:`PhiPsi`          its φ/ψ form (Koromilas et al.); the α-CL form follows from it
  alpha_cl   :class:`AlphaCL`         its α-CL form (Tian), when it is not the one that follows from φ/ψ
  energy     :class:`EnergyBaseline`  the energy its uniformity term is built from (verify's M > d+1 baseline)
  symbolic   :class:`SymbolicTemplate` its per-anchor formula for ``hemtools symbolic`` (strings, parsed there)

Each is given as the form itself, as a function of the loss's resolved parameters returning the form (or a
string), or as a string saying why the loss has no such form; left out, the loss has none that is known.
Nothing here imports sympy or torch: templates are strings parsed only when ``symbolic`` asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union


@dataclass(frozen=True)
class PhiPsi:
    """loss = (1/M) Σ_i ψ( c1 Σ_{j≠i} φ(u_i·v_j − u_i·v_i) + c2 Σ_{j≠i} φ(u_i·u_j − u_i·v_i) )   (SPEC §1).

    φ, ψ: formulas in x (and tau, the loss's temperature), sympy expressions or torch callables."""

    phi: Any
    psi: Any
    c1: float = 1.0
    c2: float = 0.0

    def as_params(self) -> dict:
        """The parameters of the ``phipsi`` loss that give this form."""
        return {"phi": self.phi, "psi": self.psi, "c1": self.c1, "c2": self.c2}


@dataclass(frozen=True)
class AlphaCL:
    """loss = scale · Σ_i φ( Σ_{j≠i} c1 ψ(d_i² − d_ij²) + c2 ψ(d_i² − d̃_ij²) )   (Tian 2022; SPEC §1), on the sphere.

    scale: "1" or "1/M"."""

    phi: Any
    psi: Any
    c1: float
    c2: float
    tau: float
    scale: str = "1"

    def to_dict(self) -> dict:
        return {"phi": self.phi, "psi": self.psi, "c1": self.c1, "c2": self.c2, "tau": self.tau, "scale": self.scale}


@dataclass(frozen=True)
class EnergyBaseline:
    """The energy (hemtools.energies kernel and its parameters) the loss's uniformity term is built from, and
    how (``relation``, printed in verify's report).  ``is_the_loss``: the loss is this energy itself."""

    kernel: str
    params: Mapping[str, float]
    relation: str
    is_the_loss: bool = False


@dataclass(frozen=True)
class SymbolicTemplate:
    """The loss written per anchor (SPEC §1), for ``hemtools symbolic``:

        loss = (1/M) Σ_i outer(p_i, S_uv, S_uu, S_vu, S_vv),   S_blk = Σ_{j≠i} inner[blk](x_n, p_i)

    with p = u_i·v_i and x_n the inner product of a negative pair (uv: u_i·v_j, uu: u_i·u_j, vu: v_i·u_j,
    vv: v_i·v_j).  ``outer`` and ``inner`` are formula strings in those names, M, the loss's parameters
    (those in ``symbols`` are kept symbolic, the others enter as exact numbers; a formula-valued parameter
    such as phipsi's ``phi`` is a function: ``phi(x_n - p)``) and, for a kernel loss, K_A(z) and K_U(z)
    (z = r², from its ``kernel`` parameter).  ``weights``: a block is dropped when its weight parameter is 0.

    ``representation``: where the second derivation of the closed form comes from — "phipsi" (the loss's
    φ/ψ form), "alpha_cl" (its α-CL form, as a φ/ψ form with scale M), "kernel" (KCL's kernels) or "".
    """

    outer: str
    inner: Mapping[str, str]
    symbols: tuple[str, ...] = ()
    weights: Mapping[str, str] = field(default_factory=dict)
    representation: str = ""


#: a declared form: the form, a function of the resolved parameters, or why the loss has none
Declared = Union[Any, Callable[[dict], Any], str, None]


@dataclass(frozen=True)
class Forms:
    """Everything a loss declares about its forms (see the module docstring)."""

    phipsi: Declared = None
    alpha_cl: Declared = None
    energy: Declared = None
    symbolic: Declared = None

    def resolve(self, what: str, params: Mapping[str, Any]) -> tuple[Any, str]:
        """(form, "") or (None, why): ``what`` is one of phipsi, alpha_cl, energy, symbolic; ``params`` resolved.
        why is "" when the loss declares nothing (callers say what is unknown in their own words)."""
        value = getattr(self, what)
        if callable(value):  # a function of the parameters (the forms themselves are plain dataclasses)
            value = value(dict(params))
        if value is None:
            return None, ""
        if isinstance(value, str):
            return None, value
        return value, ""
