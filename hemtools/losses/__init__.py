"""Contrastive losses and energies, and their registry.

>>> from hemtools.losses import get_loss
>>> spec = get_loss("kcl")
>>> spec(U, V)                  # (M, d) or (B, M, d) tensors, defaults filled in

Each family lives in its own module (infonce.py, dhel.py, kcl.py, energy.py, …) and registers itself with
:func:`register_loss`, declaring its forms there (:mod:`hemtools.losses.spec`: φ/ψ, α-CL, energy baseline,
symbolic template), so adding a loss is one file.  Installed packages add losses through the entry-point
group ``hemtools.losses``.
"""

from ..errors import ArgumentError, UserCodeError  # noqa: F401
from .registry import (  # noqa: F401
    ENTRY_POINT_GROUP,
    LossSpec,
    Param,
    batched,
    get_loss,
    names,
    register_loss,
    registered,
)
from .spec import AlphaCL, EnergyBaseline, PhiPsi, SymbolicTemplate  # noqa: F401  (what a loss declares)
