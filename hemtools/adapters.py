"""Adapters: losses of other libraries as hemtools pair losses ``f(U, V, tau=...)`` (SPEC §1 conventions).

Names are ``LIBRARY:CLASS`` and are accepted wherever a loss name is (verify, compare, the pytest plugin).
The library is imported only when one of its losses is asked for; a missing library is a usage error
that says which extra to install.

    pml:NTXentLoss   pytorch-metric-learning's NTXentLoss (extra ``pml``).  Its convention: one batch of
                     2M embeddings with labels, every other embedding of the same label a positive and every
                     embedding of another label a negative; cosine similarity (it normalises the embeddings
                     itself); loss −log(e^{s_ap/T} / (e^{s_ap/T} + Σ_neg e^{s_an/T})) averaged over the
                     positive pairs (a, p).  Mapped onto SPEC §1: embeddings [U; V], labels [0..M−1, 0..M−1],
                     ``temperature = τ``.  Each anchor u_i has the one positive v_i and the negatives
                     {v_j, u_j : j ≠ i}, so the 2M-anchor mean is ½ (simclr(U, V) + simclr(V, U)) = nt_xent.
                     Default τ = 0.5 here (SPEC's default), not the library's 0.07, so that
                     ``compare --loss pml:NTXentLoss --reference nt_xent`` compares at matched τ.

lightly's NTXentLoss and DCLLoss are not adapted: ``lightly.loss`` imports torchvision, and PyPI's
torchvision does not load beside the CPU torch wheel this project pins (see the closing note of issue 8).
Their convention, read from lightly 1.6.0's source: NTXentLoss(out0, out1) is the same 2M-anchor mean
(= nt_xent); DCLLoss(out0, out1) = ½ (dcl(U, V) + dcl(V, U)), a symmetrised DCL.

The external losses are evaluated one configuration at a time (their batch axis is the sample axis), so
they run through the user-loss path of the registry with its checks of what they return.
"""

from __future__ import annotations

import importlib
from typing import Callable

from .errors import ArgumentError
from .losses.registry import LossSpec, positive

TAU_DOC = "temperature τ > 0 (passed as the library's `temperature`)"


def _import(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise ArgumentError(f"loss: {extra}:... needs the package {module.split('.')[0]!r}, which is not "
                                f"installed; pip install 'hemtools[{extra}]'") from None
        raise


def _pml_ntxent() -> LossSpec:
    losses = _import("pytorch_metric_learning.losses", "pml")
    import torch

    cache: dict[float, Callable] = {}

    def pml_ntxent(U, V, *, tau: float = 0.5):
        """pytorch-metric-learning NTXentLoss on embeddings [U; V] with labels [0..M−1, 0..M−1] (= nt_xent)."""
        fn = cache.get(tau)
        if fn is None:
            fn = cache.setdefault(tau, losses.NTXentLoss(temperature=tau))
        M = U.shape[0]
        labels = torch.arange(M, device=U.device).repeat(2)
        return fn(torch.cat([U, V], dim=0), labels)

    return LossSpec(name="pml:NTXentLoss", fn=pml_ntxent, params={"tau": positive("tau", 0.5, TAU_DOC)},
                    kind="pairs", minimiser="aligned_simplex", family="external",
                    doc="pytorch-metric-learning NTXentLoss, 2M anchors [U; V] (SPEC §1 nt_xent)",
                    source="pytorch-metric-learning", batched=False, user_code=True)


ADAPTERS: dict[str, Callable[[], LossSpec]] = {
    "pml:NTXentLoss": _pml_ntxent,
}

NOT_ADAPTED = {
    "lightly:NTXentLoss": "lightly.loss imports torchvision, which does not install beside the CPU torch wheel "
                          "(equivalent here: nt_xent)",
    "lightly:DCLLoss": "lightly.loss imports torchvision, which does not install beside the CPU torch wheel "
                       "(its convention is ½ (dcl(U, V) + dcl(V, U)))",
}


def external_loss(name: str) -> LossSpec:
    """The adapter named ``LIBRARY:CLASS``; ArgumentError (with the available names) otherwise."""
    if name in ADAPTERS:
        return ADAPTERS[name]()
    if name in NOT_ADAPTED:
        raise ArgumentError(f"loss: {name} is not available: {NOT_ADAPTED[name]}")
    raise ArgumentError(f"loss: unknown external loss {name!r}; available: {', '.join(ADAPTERS)}")
