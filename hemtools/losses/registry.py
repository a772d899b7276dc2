"""The loss registry: name -> callable + metadata (parameters, what it acts on, claimed minimiser).

Losses enter the registry three ways:
  * built-in modules of ``hemtools.losses`` decorated with :func:`register_loss`;
  * installed packages that declare an entry point in the group ``hemtools.losses`` (the entry point
    names a module that registers losses, or a callable ``f(U, V, **params)`` registered under the entry
    point's name);
  * user code given as ``module:function`` or ``path/to/file.py:function`` (resolved by :func:`get_loss`),
    or as the function itself; ``pml:NAME`` / ``lightly:NAME`` name adapters of other libraries
    (hemtools.losses.adapters, imported only when asked for).

A user loss is unbatched, ``f(U, V, **params) -> scalar`` on (M, d) tensors, looped over the batch, unless
declared batched with :func:`batched`.  What it returns is checked (spec._check_user_result): the
contract is broken by a non-tensor, a wrong shape, a lower precision or a value without gradients.

A pair loss is ``f(U, V, **params) -> (B,)`` on batches ``U, V`` of shape (B, M, d); a point loss (an
energy) is ``f(X, **params) -> (B,)`` on (B, M, d).  :meth:`LossSpec.objective` turns either into the
solver's objective on the stacked points ``X = [U; V]`` of shape (B, N, d).

The leaf types — :class:`Param`, :class:`LossSpec` (with the call contract of user code) and the forms a loss
declares (PhiPsi, AlphaCL, EnergyBaseline, SymbolicTemplate, PairKernels, LogSumExpRows) — live in
hemtools.losses.spec and are re-exported here; this module registers, finds and loads losses.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..errors import ArgumentError, UserCodeError
from .spec import (  # noqa: F401  (the leaf types, re-exported: hemtools.losses.registry.Param etc. keep working)
    AlphaCL,
    EnergyBaseline,
    Forms,
    LogSumExpRow,
    LogSumExpRows,
    LossContractError,
    LossSpec,
    PairKernels,
    Param,
    PhiPsi,
    SymbolicTemplate,
    _call_user_loss,
    _check_user_result,
    containing_os_exit,
    positive,
)

Tensor = torch.Tensor

ENTRY_POINT_GROUP = "hemtools.losses"
# ``pml:NAME`` and ``lightly:NAME`` name adapters of external libraries (hemtools.losses.adapters), not modules
EXTERNAL_PREFIXES = ("pml", "lightly")


# --------------------------------------------------------------------------------------------------------
# user losses declared batched


BATCHED_ATTRIBUTE = "hemtools_batched"


def batched(fn: Callable | None = None):
    """Declare a user loss batched: ``f(U, V, **params)`` takes (B, M, d) tensors and returns (B,) values.

    Without it a user loss is taken to be unbatched (``(M, d) -> scalar``) and hemtools loops over the
    batch of restarts.  The decorator only sets the attribute ``hemtools_batched = True`` on the function,
    so a package can declare the same without importing hemtools.  Usable as ``@batched`` or ``@batched()``.
    """
    def mark(f):
        if not callable(f):
            raise ArgumentError(f"batched: expected a function f(U, V, **params), got {f!r}")
        setattr(f, BATCHED_ATTRIBUTE, True)
        return f

    return mark if fn is None else mark(fn)


# --------------------------------------------------------------------------------------------------------
# the registry


_REGISTRY: dict[str, LossSpec] = {}
_BUILTINS_LOADED = False
_ENTRY_POINTS_LOADED = False
#: entry points that raised while loading, by name: the error is raised when that name is asked for, so that a
#: broken third-party package does not take down `verify --loss kcl` (or every other loss) with it
_BROKEN_ENTRY_POINTS: dict[str, UserCodeError] = {}
_BUILTIN_MODULES = ("infonce", "dhel", "kcl", "energy", "phipsi", "alphacl")


def register_loss(name: str, *, params: Sequence[Param] = (), kind: str = "pairs",
                  minimiser: str | None = "aligned_simplex", family: str = "", check=None,
                  advice=None, replace: bool = False, phipsi=None, alpha_cl=None, energy=None, symbolic=None,
                  gram=None):
    """Decorator: register ``fn`` under ``name`` with its parameters and metadata.

    The first line of the function's docstring becomes the one-line description in ``hemtools losses``.
    ``phipsi``, ``alpha_cl``, ``energy``, ``symbolic``, ``gram``: the loss's forms (hemtools.losses.spec.Forms) —
    each the form, a function of the resolved parameters returning it, or a string saying why there is none.
    """
    if kind not in ("pairs", "points"):
        raise ArgumentError(f"kind: expected 'pairs' or 'points', got {kind!r}")

    def deco(fn):
        if name in _REGISTRY and not replace:
            raise ArgumentError(f"loss {name!r} is already registered (by {_REGISTRY[name].fn.__module__})")
        doc = (inspect.getdoc(fn) or "").strip().splitlines()
        _REGISTRY[name] = LossSpec(name=name, fn=fn, params={p.name: p for p in params}, kind=kind,
                                   minimiser=minimiser, family=family or fn.__module__.rsplit(".", 1)[-1],
                                   doc=doc[0] if doc else "", check=check, advice=advice,
                                   forms=Forms(phipsi=phipsi, alpha_cl=alpha_cl, energy=energy, symbolic=symbolic,
                                               gram=gram),
                                   source="builtin" if fn.__module__.startswith("hemtools.") else fn.__module__)
        return fn

    return deco


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    for mod in _BUILTIN_MODULES:
        try:
            importlib.import_module(f"hemtools.losses.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hemtools.losses.{mod}":  # a real missing dependency: surface it
                raise


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except (Exception, SystemExit) as exc:
            _BROKEN_ENTRY_POINTS[ep.name] = UserCodeError(f"entry point {ep.name} = {ep.value}", exc)
            continue
        if callable(obj) and not inspect.ismodule(obj) and ep.name not in _REGISTRY:
            _REGISTRY[ep.name] = _spec_from_user_callable(ep.name, obj, source=f"entry point {ep.value}")


def registered() -> dict[str, LossSpec]:
    """All registered losses (built-ins and installed entry points), by name."""
    _load_builtins()
    _load_entry_points()
    return dict(_REGISTRY)


def broken_entry_points() -> dict[str, UserCodeError]:
    """Installed entry points of the group ``hemtools.losses`` that raised while loading, by name."""
    _load_entry_points()
    return dict(_BROKEN_ENTRY_POINTS)


def names(kind: str | None = None) -> list[str]:
    return sorted(n for n, s in registered().items() if kind is None or s.kind == kind)


def get_loss(name: str | LossSpec | Callable) -> LossSpec:
    """Resolve a registered name, ``module:function``, ``path/file.py:function`` or a callable.

    Raises ValueError (unknown name, with the closest registered names; missing module/file/function).
    """
    if isinstance(name, LossSpec):
        return name
    if inspect.isclass(name):
        return _spec_from_user_callable(name.__name__, _class_loss(name.__name__, name), source="class")
    if callable(name):
        return _spec_from_user_callable(getattr(name, "__name__", "user_loss"), name, source="callable")
    if not isinstance(name, str) or not name:
        raise ArgumentError(f"loss: expected a registered name or module:function, got {name!r}")
    if ":" in name and not (len(name) > 1 and name[1] == ":" and "\\" in name):  # not a bare C:\ path
        prefix = name.split(":", 1)[0]
        if prefix in EXTERNAL_PREFIXES:  # adapters of other libraries, imported only when asked for
            from . import adapters  # it imports no part of the registry: no cycle

            return _spec_from_external(adapters.external_loss(name))
        return _load_user_loss(name)
    _load_builtins()
    if name in _REGISTRY:  # a built-in needs no installed package to load
        return _REGISTRY[name]
    reg = registered()
    if name in reg:
        return reg[name]
    if name in _BROKEN_ENTRY_POINTS:
        raise _BROKEN_ENTRY_POINTS[name]
    lower = {n.lower(): n for n in reg}
    close = [lower[c] for c in difflib.get_close_matches(name.lower(), lower, n=3, cutoff=0.5)]  # InfoNCE: infonce
    if name.endswith("Loss") and name[:1].isupper():  # a class name of a library: NTXentLoss
        close += [f"{prefix}:{name}" for prefix in EXTERNAL_PREFIXES]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if _BROKEN_ENTRY_POINTS:
        hint += (f"; installed entry points that failed to load: {', '.join(sorted(_BROKEN_ENTRY_POINTS))} "
                 f"({'; '.join(str(e) for e in _BROKEN_ENTRY_POINTS.values())})")
    raise ArgumentError(f"loss: unknown loss {name!r}{hint} (registered: {', '.join(sorted(reg))}; "
                     "or give module:function / path/to/file.py:function)")


def _load_user_loss(ref: str) -> LossSpec:
    """Import user code the way Python would run it: ``path/file.py:fn`` like ``python path/file.py`` (the
    file's folder first on sys.path, so sibling imports such as ``from utils import ...`` work, also inside
    the function when it is called), ``module:fn`` like ``python -m`` (the current directory is searched,
    also when hemtools runs as a console script).  A module or file that does not exist is a usage error
    (exit 2); code that fails while importing is an error in user code (exit 4, with its traceback)."""
    target, _, fname = ref.rpartition(":")
    if not target or not fname:
        raise ArgumentError(f"loss: expected module:function or path/to/file.py:function, got {ref!r}")
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if path.is_dir():
            raise ArgumentError(f"loss: {target!r} is a directory; give path/to/file.py:function")
        if not path.is_file():
            raise ArgumentError(f"loss: file {target!r} does not exist")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        modname = f"hemtools_user_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(modname, path)
        if spec is None or spec.loader is None:
            raise ArgumentError(f"loss: cannot import {target!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        try:
            with containing_os_exit():
                spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            sys.modules.pop(modname, None)
            raise UserCodeError(f"while importing {target}", exc) from exc
    else:
        cwd = os.getcwd()
        if "" not in sys.path and cwd not in sys.path:
            sys.path.insert(0, cwd)
        try:
            with containing_os_exit():
                module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name and target.startswith(exc.name):
                raise ArgumentError(f"loss: module {target!r} not found (is it on PYTHONPATH?)") from None
            raise UserCodeError(f"while importing {target}", exc) from exc
        except (Exception, SystemExit) as exc:
            raise UserCodeError(f"while importing {target}", exc) from exc
    fn = getattr(module, fname, None)
    if fn is None:
        own = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                     and getattr(v, "__module__", None) == module.__name__)
        close = difflib.get_close_matches(fname, own, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        listing = f" (it defines: {', '.join(own[:12])}{', …' if len(own) > 12 else ''})" if own else ""
        raise ArgumentError(f"loss: {target!r} has no function {fname!r}{hint}{listing}")
    if not callable(fn):
        raise ArgumentError(f"loss: {ref!r} is not callable")
    if inspect.isclass(fn):
        fn = _class_loss(ref, fn)
    return _spec_from_user_callable(ref, fn, source=ref)


def _class_loss(name: str, cls: type) -> Callable:
    """A loss class (a ``torch.nn.Module`` with ``forward(U, V)``, or any class whose instances are called as
    ``loss(U, V)``) as a function ``f(U, V, **params)``: the constructor's arguments are the parameters (those
    without a default are required), and every evaluation constructs a new instance (a loss under verification is
    a function of (U, V) alone, not of state kept between calls)."""
    try:
        # a Module without its own __init__ has nn.Module's (*args, **kwargs): no parameters, not any
        init = inspect.signature(cls) if cls.__init__ is not torch.nn.Module.__init__ else inspect.Signature()
    except (TypeError, ValueError):
        init = inspect.Signature()
    module = issubclass(cls, torch.nn.Module)
    method = "forward" if module else "__call__"  # looked up on the class (cls.__call__ would be type's)
    call = next((k.__dict__[method] for k in cls.__mro__ if method in k.__dict__), None)
    if call is None or (module and call is torch.nn.Module.forward):
        raise ArgumentError(f"loss: {name} is a class whose instances cannot be called (no {method}); give a "
                            "function f(U, V, **params) or a class with forward(self, U, V)")
    try:
        call_sig = inspect.signature(call)
        params = list(call_sig.parameters.values())[1:]  # without self
        inspect.Signature(params).bind(object(), object())
    except TypeError:
        raise ArgumentError(f"loss: {name} is a class whose instances cannot be called as loss(U, V) "
                            f"(its {method}{call_sig}); "
                            "give a function f(U, V, **params) or a class with forward(self, U, V)") from None
    except ValueError:
        pass  # no signature to read (a C type): checked when called
    clash = [p for p in init.parameters if p in ("U", "V")]
    if clash:
        raise ArgumentError(f"loss: {name}: its constructor has a parameter named {clash[0]}, which hemtools passes "
                            "as the views; rename it")

    def class_loss(U, V, **p):
        return cls(**p)(U, V)

    U_V = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in ("U", "V")]
    ctor = [q.replace(kind=inspect.Parameter.KEYWORD_ONLY) for q in init.parameters.values()
            if q.kind in (q.POSITIONAL_OR_KEYWORD, q.KEYWORD_ONLY)]
    var = [q for q in init.parameters.values() if q.kind == q.VAR_KEYWORD]
    class_loss.__signature__ = inspect.Signature(U_V + ctor + var)
    class_loss.__name__ = cls.__name__
    class_loss.__doc__ = cls.__doc__
    if getattr(cls, BATCHED_ATTRIBUTE, False):
        setattr(class_loss, BATCHED_ATTRIBUTE, True)
    return class_loss


def _spec_from_user_callable(name: str, fn: Callable, source: str) -> LossSpec:
    """A user loss ``f(U, V, **params)``: unbatched ((M, d) tensors -> scalar) unless declared
    :func:`batched` ((B, M, d) -> (B,)).  Keyword parameters with defaults become its parameters,
    keyword-only ones without a default are required, and any name is accepted when it takes ``**kwargs``.
    A signature that cannot take (U, V) is refused here, before any computation."""
    params: dict[str, Param] = {}
    required: list[str] = []
    any_params = False
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None  # builtins and some C callables: checked when called
    if sig is not None:
        expected = "must take (U, V, **params)"
        try:
            sig.bind(object(), object(), **{p.name: None for p in sig.parameters.values()
                                            if p.kind == p.KEYWORD_ONLY and p.default is p.empty})
        except TypeError:
            positional = [
                p.name
                for p in sig.parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
            ]
            raise ArgumentError(
                f"loss: {name} {expected}; its signature is {fn.__name__ if hasattr(fn, '__name__') else 'f'}"
                f"{sig} (required positional arguments: {', '.join(positional) or 'none'})"
            ) from None
        for p in sig.parameters.values():
            if p.kind == p.VAR_KEYWORD:
                any_params = True
            elif p.kind == p.KEYWORD_ONLY and p.default is p.empty:
                required.append(p.name)
                params[p.name] = Param(p.name, None, kind="bool" if p.annotation in (bool, "bool") else "any")
            elif p.default is not p.empty and p.kind != p.POSITIONAL_ONLY:
                default = p.default
                if isinstance(default, bool) or p.annotation in (bool, "bool"):
                    kind = "bool"
                elif isinstance(default, str):
                    kind = "text"
                elif not isinstance(default, (int, float)):
                    kind = "any"
                else:
                    # `tau=1` is a number, not a promise of integers: int only when annotated so; an int
                    # default keeps integer values ints ("number"), `--param tau=0.5` is still accepted
                    kind = (
                        "int" if p.annotation in (int, "int") else ("number" if isinstance(default, int) else "float")
                    )
                params[p.name] = Param(p.name, default, kind=kind)
    doc = (inspect.getdoc(fn) or "").strip().splitlines()
    return LossSpec(
        name=name,
        fn=fn,
        params=params,
        kind="pairs",
        minimiser="aligned_simplex",
        family="user",
        doc=doc[0] if doc else "",
        source=source,
        batched=bool(getattr(fn, BATCHED_ATTRIBUTE, False)),
        accepts_any_params=any_params,
        user_code=True,
        required=tuple(required),
    )


def _spec_from_external(ext) -> LossSpec:
    """A LossSpec for an adapter of another library (hemtools.losses.adapters.ExternalLoss): unbatched,
    evaluated through the user-loss path (its results are checked like a user's)."""
    return LossSpec(
        name=ext.name,
        fn=ext.fn,
        params={p["name"]: Param(**p) for p in ext.params},
        kind="pairs",
        minimiser=ext.minimiser,
        family="external",
        doc=ext.doc,
        source=ext.source,
        check=ext.check,
        batched=False,
        user_code=True,
    )
