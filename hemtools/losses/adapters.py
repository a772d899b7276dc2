"""Adapters: losses of other libraries as hemtools pair losses ``f(U, V, **params)`` (SPEC §1 conventions).

Names are ``LIBRARY:CLASS`` and are accepted wherever a loss name is (verify, compare, the pytest plugin).
The library is imported only when one of its losses is asked for; a missing library is a usage error
that says what to install.  This module imports only leaf modules (hemtools.errors, torch): the registry
imports it lazily when it resolves a ``pml:``/``lightly:`` name and turns the :class:`ExternalLoss` it returns
into a LossSpec, so there is no import cycle.

pytorch-metric-learning (``pml:CLASS``, extra ``pml``): every loss of ``pytorch_metric_learning.losses`` that
takes (embeddings, labels, ref_emb, ref_labels) and needs no constructor argument (no class proxies, so not
ArcFace, ProxyAnchor, …).  Two ways to lay the pairs out, parameter ``pairing``:

    batch (default)  embeddings [U; V], labels [0..M−1, 0..M−1]: every other embedding of the same label a
                     positive, every embedding of another label a negative.  For NTXentLoss (and SupConLoss,
                     one positive per anchor) each anchor u_i has the positive v_i and the negatives
                     {v_j, u_j : j ≠ i}: the 2M-anchor mean is ½ (simclr(U, V) + simclr(V, U)) = nt_xent.
    cross            embeddings U, ref_emb V, labels = ref_labels = [0..M−1] (what pml's SelfSupervisedLoss
                     does): anchors u_i, positive v_i, negatives v_j.  NTXentLoss is then infonce.
                     The identity trap: pml treats ``ref_labels is labels`` (the same tensor object) as "the
                     reference batch is the batch itself" and drops the pairs (i, i), i.e. every positive, and
                     returns 0.  The adapter passes a distinct copy of the labels.

The constructor's numeric keyword arguments are the loss's parameters (library defaults), except that
``temperature`` is called ``tau`` and defaults to 0.5 (SPEC's default, not the library's 0.07), so that
``compare --loss pml:NTXentLoss --reference nt_xent`` compares at matched τ.

lightly (``lightly:CLASS``): ``lightly.loss`` classes called as ``loss(out0, out1)`` with out0 = U, out1 = V.
NTXentLoss(out0, out1) is the 2M-anchor mean (= nt_xent); DCLLoss(out0, out1) = ½ (dcl(U, V) + dcl(V, U)) =
dcl_sym (read from lightly 1.6.0's source).  ``lightly.loss`` imports torchvision, which must be built for the
installed torch: when it does not import, the adapter says so in one line (usage error).

The external losses are evaluated one configuration at a time (their batch axis is the sample axis), so
they run through the user-loss path of the registry with its checks of what they return.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArgumentError

TAU_DOC = "temperature τ > 0 (passed as the library's `temperature`)"
PAIRINGS = ("batch", "cross")

#: what `hemtools losses` lists: library prefix -> (what is adapted, how to get the library)
LIBRARIES = {
    "pml": (("pml:CLASS — pytorch-metric-learning losses taking (embeddings, labels, ref_emb, ref_labels), "
             "e.g. pml:NTXentLoss (= nt_xent), pml:SupConLoss, pml:ContrastiveLoss; --param pairing=batch|cross"),
            "pip install 'hemtools[pml]'"),
    "lightly": (("lightly:CLASS — lightly.loss losses called as loss(U, V), e.g. lightly:NTXentLoss (= nt_xent), "
                 "lightly:DCLLoss (= dcl_sym)"), "pip install lightly (with a torchvision built for your torch)"),
}

#: losses that claim the aligned simplex (InfoNCE-type); the others make no claim (minimiser None)
_CLAIMS_SIMPLEX = {"pml:NTXentLoss", "pml:SupConLoss", "lightly:NTXentLoss", "lightly:DCLLoss"}


@dataclass(frozen=True)
class ExternalLoss:
    """What the registry needs to make a LossSpec of an external loss (see registry._spec_from_external).

    ``params`` are keyword arguments of registry.Param (name, default, kind, low, choices, doc, …)."""

    name: str
    fn: Callable[..., Any]  # f(U, V, **params) on (M, d) tensors -> scalar tensor
    params: tuple[dict, ...]
    doc: str
    source: str
    minimiser: str | None = None
    check: Callable[[dict], None] | None = field(default=None, repr=False)


def _import(module: str, prefix: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name and (exc.name == top or exc.name.startswith(top + ".")):
            raise ArgumentError(f"loss: {prefix}:... needs the package {top!r}, which is not installed; "
                                f"{LIBRARIES[prefix][1]}") from None
        raise ArgumentError(f"loss: {module} does not import here: {type(exc).__name__}: {exc} "
                            f"({LIBRARIES[prefix][1]})") from None
    except Exception as exc:  # e.g. a torchvision built for another torch: an installation problem, not a crash
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ArgumentError(f"loss: {module} does not import here: {type(exc).__name__}: {first} "
                            f"({LIBRARIES[prefix][1]})") from None


def _close(prefix: str, name: str, known: list[str]) -> str:
    """'; did you mean pml:NTXentLoss?' for NTXent (names compared without their common suffix Loss)."""
    stem = {k.removesuffix("Loss").lower(): k for k in known}
    close = difflib.get_close_matches(name.removesuffix("Loss").lower(), stem, n=1, cutoff=0.8)
    return f"; did you mean {prefix}:{stem[close[0]]}?" if close else ""


def _numeric_kwargs(cls) -> tuple[list[dict], list[str]]:
    """(Param kwargs for the constructor's numeric keyword arguments, names of required arguments)."""
    params, required = [], []
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return params, required
    for p in list(sig.parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            required.append(p.name)
            continue
        d = p.default
        if isinstance(d, bool) or not isinstance(d, (int, float)):
            continue  # objects (distance, reducer, regularisers) and switches keep the library's default
        if p.name == "temperature":
            params.append({"name": "tau", "default": 0.5, "low": 0.0, "low_open": True, "doc": TAU_DOC})
        else:
            params.append({"name": p.name, "default": d, "kind": "int" if isinstance(d, int) else "float",
                           "doc": f"{cls.__name__}({p.name}=…), library default {d!r}"})
    return params, required


def _constructor_kwargs(p: dict) -> dict:
    out = {("temperature" if k == "tau" else k): v for k, v in p.items() if k != "pairing"}
    return out


def _fresh(cls) -> Callable[[dict], Any]:
    """A new instance for every evaluation: some losses keep state between calls (DynamicSoftMarginLoss
    updates a histogram), and a loss under verification must be a function of (U, V) alone.  Measured cost:
    ~0.1 ms per construction against ~0.4 ms per call of NTXentLoss (M = 8)."""

    def get(p: dict):
        return cls(**_constructor_kwargs(p))

    return get


def _probe(call: Callable, what: str) -> None:
    """Run the adapted loss once on a tiny float64 configuration: a library that refuses the layout is a
    usage error (one line), found before any computation."""
    import torch

    g = torch.Generator().manual_seed(0)
    U = torch.nn.functional.normalize(torch.randn(3, 3, generator=g, dtype=torch.float64), dim=-1)
    V = torch.nn.functional.normalize(U + 0.3 * torch.randn(3, 3, generator=g, dtype=torch.float64), dim=-1)
    try:
        call(U, V)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArgumentError(f"loss: {what} cannot be used as a pair loss: {type(exc).__name__}: {first}") from None


def _pml(cls_name: str) -> ExternalLoss:
    losses = _import("pytorch_metric_learning.losses", "pml")
    import torch

    name = f"pml:{cls_name}"
    base = getattr(losses, "BaseMetricLossFunction", None)
    cls = getattr(losses, cls_name, None)
    if not (inspect.isclass(cls) and base is not None and issubclass(cls, base) and cls is not base):
        known = sorted(n for n in dir(losses) if inspect.isclass(getattr(losses, n))
                       and base is not None and issubclass(getattr(losses, n), base) and n.endswith("Loss"))
        raise ArgumentError(f"loss: unknown pytorch-metric-learning loss {cls_name!r}; available: "
                            f"{', '.join(known)}{_close('pml', cls_name, known)}")
    params, required = _numeric_kwargs(cls)
    if required:
        raise ArgumentError(f"loss: {name} needs constructor arguments ({', '.join(required)}): it is not a loss of "
                            "embedding pairs (class proxies or learned weights); adapted are the losses that take "
                            "(embeddings, labels, ref_emb, ref_labels) with no required argument")
    params.append({"name": "pairing", "default": "batch", "choices": PAIRINGS, "kind": "choice",
                   "doc": "batch: embeddings [U; V] with labels twice; cross: embeddings U, ref_emb V"})
    get = _fresh(cls)

    def pml_loss(U, V, **p):
        fn = get(p)
        M = U.shape[0]
        labels = torch.arange(M, device=U.device)
        if p.get("pairing", "batch") == "batch":
            return fn(torch.cat([U, V], dim=0), labels.repeat(2))
        # a distinct tensor: `ref_labels is labels` makes pml drop the pairs (i, i), i.e. every positive
        return fn(U, labels, ref_emb=V, ref_labels=labels.clone())

    pml_loss.__doc__ = f"pytorch-metric-learning {cls_name} on (U, V) (pairing=batch: [U; V]; cross: ref_emb V)."
    defaults = {q["name"]: q["default"] for q in params}
    _probe(lambda U, V: pml_loss(U, V, **defaults), name)
    checked: set = set()

    def check(p: dict) -> None:
        if p.get("pairing") == "cross" and "cross" not in checked:
            _probe(lambda U, V: pml_loss(U, V, **p), f"{name} with pairing=cross")
            checked.add("cross")

    doc = ("pytorch-metric-learning NTXentLoss, 2M anchors [U; V] (SPEC §1 nt_xent)" if cls_name == "NTXentLoss"
           else f"pytorch-metric-learning {cls_name} (pairing=batch: [U; V], labels twice; cross: ref_emb V)")
    return ExternalLoss(name=name, fn=pml_loss, params=tuple(params), doc=doc, source="pytorch-metric-learning",
                        minimiser="aligned_simplex" if name in _CLAIMS_SIMPLEX else None, check=check)


def _lightly(cls_name: str) -> ExternalLoss:
    mod = _import("lightly.loss", "lightly")
    name = f"lightly:{cls_name}"
    cls = getattr(mod, cls_name, None)
    if not inspect.isclass(cls):
        known = sorted(n for n in dir(mod) if n.endswith("Loss") and inspect.isclass(getattr(mod, n)))
        raise ArgumentError(f"loss: unknown lightly loss {cls_name!r}; available: {', '.join(known)}"
                            f"{_close('lightly', cls_name, known)}")
    params, required = _numeric_kwargs(cls)
    if required:
        raise ArgumentError(f"loss: {name} needs constructor arguments ({', '.join(required)}); "
                            "adapted are losses called as loss(out0, out1) with no required argument")
    get = _fresh(cls)

    def lightly_loss(U, V, **p):
        return get(p)(U, V)

    lightly_loss.__doc__ = f"lightly {cls_name}(out0=U, out1=V)."
    defaults = {q["name"]: q["default"] for q in params}
    _probe(lambda U, V: lightly_loss(U, V, **defaults), name)
    equivalent = {"NTXentLoss": " (= nt_xent)", "DCLLoss": " (= dcl_sym)"}.get(cls_name, "")
    return ExternalLoss(name=name, fn=lightly_loss, params=tuple(params), doc=f"lightly {cls_name}(U, V){equivalent}",
                        source="lightly", minimiser="aligned_simplex" if name in _CLAIMS_SIMPLEX else None)


_FACTORIES: dict[str, Callable[[str], ExternalLoss]] = {"pml": _pml, "lightly": _lightly}


def external_loss(name: str) -> ExternalLoss:
    """The adapter named ``LIBRARY:CLASS``; ArgumentError (one line, with what is available) otherwise."""
    prefix, _, cls_name = name.partition(":")
    if prefix not in _FACTORIES:
        raise ArgumentError(f"loss: unknown external library {prefix!r}; available: {', '.join(_FACTORIES)}")
    if not cls_name.isidentifier():
        raise ArgumentError(f"loss: expected {prefix}:CLASS (a class name), got {name!r}")
    return _FACTORIES[prefix](cls_name)
