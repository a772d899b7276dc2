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
declared batched with :func:`batched`.  What it returns is checked (:func:`_check_user_result`): the
contract is broken by a non-tensor, a wrong shape, a lower precision or a value without gradients.

A pair loss is ``f(U, V, **params) -> (B,)`` on batches ``U, V`` of shape (B, M, d); a point loss (an
energy) is ``f(X, **params) -> (B,)`` on (B, M, d).  :meth:`LossSpec.objective` turns either into the
solver's objective on the stacked points ``X = [U; V]`` of shape (B, N, d).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from ..errors import ArgumentError, UserCodeError
from .spec import AlphaCL, EnergyBaseline, Forms, PhiPsi, SymbolicTemplate  # noqa: F401  (declared forms)

Tensor = torch.Tensor

ENTRY_POINT_GROUP = "hemtools.losses"
# ``pml:NAME`` and ``lightly:NAME`` name adapters of external libraries (hemtools.losses.adapters), not modules
EXTERNAL_PREFIXES = ("pml", "lightly")


# --------------------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class Param:
    """One loss parameter: default, admissible range (open or closed ends) or a set of choices."""

    name: str
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = True
    high_open: bool = True
    choices: tuple[str, ...] | None = None
    kind: str = "float"  # "float" | "int" | "number" | "text" | "bool" | "choice" | "expr" | "any"
    doc: str = ""

    def describe_range(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        if self.kind == "any":
            return "any value (checked by the loss itself)"
        if self.kind == "bool":
            return "true or false (also 1/0, any case)"
        if self.kind == "expr":
            return "a formula in x (e.g. 'exp(x/0.5)') or a callable"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        lb = "(" if (self.low is None or self.low_open) else "["
        rb = ")" if (self.high is None or self.high_open) else "]"
        what = "an integer" if self.kind == "int" else "a finite number"
        return f"{what} in {lb}{lo}, {hi}{rb}"

    def validate(self, value: Any, loss: str = "") -> Any:
        where = f"{self.name} (loss {loss})" if loss else self.name
        if self.kind == "any":
            return parse_untyped(value)
        if self.kind == "text":  # a user parameter with a text default: `--param name=1` is the text "1"
            return getattr(value, "text", value)
        if self.kind == "bool":
            parsed = parse_bool(value)
            if parsed is None:
                raise ArgumentError(f"{where}: expected {self.describe_range()}, got {value!r}")
            return parsed
        if self.kind == "expr":
            if isinstance(value, str) or callable(value) or type(value).__module__.startswith("sympy"):
                return value
            raise ArgumentError(f"{where}: expected {self.describe_range()}, got {value!r}")
        if self.choices is not None:
            if value not in self.choices:
                raise ArgumentError(f"{where}: expected {self.describe_range()}, got {value!r}")
            return value
        try:
            num = float(value)
        except (TypeError, ValueError):
            raise ArgumentError(f"{where}: expected {self.describe_range()}, got {value!r}") from None
        if not math.isfinite(num):
            raise ArgumentError(f"{where}: expected {self.describe_range()}, got {value!r}")
        if self.kind == "int":
            if num != int(num):
                raise ArgumentError(f"{where}: expected {self.describe_range()}, got {value!r}")
            num = int(num)
        elif self.kind == "number" and _integral(value):  # a user's int default (`n=3`) stays an int
            num = int(num)
        bad_low = self.low is not None and (num <= self.low if self.low_open else num < self.low)
        bad_high = self.high is not None and (num >= self.high if self.high_open else num > self.high)
        if bad_low or bad_high:
            raise ArgumentError(f"{where}: expected {self.describe_range()}, got {value!r}")
        return num

    def to_dict(self) -> dict:
        return {"name": self.name, "default": self.default if not callable(self.default) else repr(self.default),
                "range": self.describe_range(), "doc": self.doc}


def _integral(value: Any) -> bool:
    """An int, or command-line text that is an integer literal ("3", not "3.0")."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    text = getattr(value, "text", None)
    return isinstance(text, str) and text.strip().lstrip("+-").isdigit()


def parse_bool(value: Any) -> bool | None:
    """True/False from a bool, 1/0, or the text true/false/1/0 (any case); None when it is none of these.
    (``bool("False")`` is True: a command-line flag must never arrive as a truthy string.)"""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = getattr(value, "text", value)  # a number parsed from the command line keeps its text
    if isinstance(text, str):
        return {"true": True, "false": False, "1": True, "0": False}.get(text.strip().lower())
    return None


def parse_untyped(value: Any) -> Any:
    """A parameter without a declared type: command-line text is read as a Python literal (``3`` → int,
    ``[1, 2]``, ``None``, ``True``, ``'a'``) and kept as the string when it is not one; other values pass."""
    text = getattr(value, "text", value)
    if not isinstance(text, str):
        return value
    import ast

    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def positive(name: str, default: float, doc: str = "") -> Param:
    return Param(name, default, low=0.0, low_open=True, doc=doc)


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
# the loss specification


@dataclass(frozen=True)
class LossSpec:
    """A registered loss.

    ``kind`` is ``"pairs"`` (acts on positive pairs (U, V); the solver's point set is [U; V], N = 2M) or
    ``"points"`` (an energy of one point set, N = M).  ``minimiser`` names the configuration the seed paper
    claims for M <= d+1: ``"aligned_simplex"`` (u_i = v_i, regular simplex), ``"simplex"`` (points form a
    regular simplex) or ``None`` (no claim).  ``check`` validates parameter combinations beyond single
    ranges (raises ValueError).  ``forms``: what the loss declares about its φ/ψ, α-CL, energy-baseline and
    symbolic forms (hemtools.losses.spec).
    """

    name: str
    fn: Callable[..., Tensor]
    params: Mapping[str, Param]
    kind: str = "pairs"
    minimiser: str | None = "aligned_simplex"
    family: str = ""
    doc: str = ""
    source: str = "builtin"
    check: Callable[[dict], None] | None = None
    batched: bool = True  # False: fn takes one configuration (M, d) and returns a scalar (user losses)
    accepts_any_params: bool = False
    user_code: bool = False  # evaluate through _call_user_loss: exceptions and results are checked
    required: tuple[str, ...] = ()  # keyword parameters without a default (user losses): must be given
    advice: Callable[[dict], list[str]] | None = None  # caveats that apply to given parameters
    forms: Forms = Forms()

    def notes(self, params: Mapping[str, Any]) -> list[str]:
        """Caveats for these (resolved) parameters, e.g. a kernel that is not differentiable at the minimiser."""
        return list(self.advice(dict(params))) if self.advice is not None else []

    # -- parameters ---------------------------------------------------------------------------------------
    def resolve_params(self, given: Mapping[str, Any] | None = None) -> dict:
        """Defaults filled in, every value validated; unknown names are refused with the accepted ones."""
        given = dict(given or {})
        out = {}
        for k, v in given.items():
            if k not in self.params and not self.accepts_any_params:
                accepted = ", ".join(self.params) if self.params else "none"
                raise ArgumentError(f"{k}: unknown parameter for loss {self.name}; accepted parameters: {accepted}")
        missing = [k for k in self.required if k not in given]
        if missing:
            raise ArgumentError(f"{missing[0]}: loss {self.name} requires parameter {missing[0]!r} (no default); "
                                f"give it with --param {missing[0]}=VALUE")
        for k, p in self.params.items():
            out[k] = p.validate(given[k], self.name) if k in given else p.default
        for k, v in given.items():
            if k not in self.params:  # accepts_any_params: text read as a Python literal, numbers stay numbers
                v = parse_untyped(v)
                if isinstance(v, str):
                    try:
                        v = float(v)  # 'inf', 'nan' (refused below)
                    except ValueError:
                        pass
                if isinstance(v, float) and not math.isfinite(v):
                    raise ArgumentError(f"{k} (loss {self.name}): expected a finite number, got {v!r}")
                out[k] = v
        if self.check is not None:
            self.check(out)
        return out

    # -- evaluation ---------------------------------------------------------------------------------------
    def n_points(self, M: int) -> int:
        return 2 * M if self.kind == "pairs" else M

    def __call__(self, *tensors: Tensor, **params) -> Tensor:
        """Evaluate on (M, d) or (B, M, d) tensors with validated parameters (defaults filled in)."""
        p = self.resolve_params(params)
        unbatched = tensors[0].dim() == 2
        if unbatched:
            tensors = tuple(t.unsqueeze(0) for t in tensors)
        out = self._batched_call(tensors, p)
        return out.squeeze(0) if unbatched else out

    def _batched_call(self, tensors: Sequence[Tensor], p: dict) -> Tensor:
        if self.batched and not self.user_code:
            return self.fn(*tensors, **p)
        return _call_user_loss(self, tensors, p)

    def objective(self, M: int, params: Mapping[str, Any]) -> Callable[[Tensor], Tensor]:
        """The solver's objective on stacked points X of shape (B, N, d); ``params`` must be resolved."""
        p = dict(params)
        if self.kind == "pairs":
            def f(x: Tensor) -> Tensor:
                return self._batched_call((x[..., :M, :], x[..., M:, :]), p)
        else:
            def f(x: Tensor) -> Tensor:
                return self._batched_call((x,), p)
        if self.user_code:  # errors while differentiating it are errors in user code (sphere.value_and_egrad)
            f.hemtools_user_code = self.name
        return f

    def split(self, x: Tensor, M: int) -> tuple[Tensor, ...]:
        """Stacked points -> (U, V) for pair losses, (X,) for point losses."""
        return (x[..., :M, :], x[..., M:, :]) if self.kind == "pairs" else (x,)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "family": self.family, "minimiser": self.minimiser,
                "params": [p.to_dict() for p in self.params.values()], "doc": self.doc, "source": self.source}


class LossContractError(UserCodeError):
    """A user loss returned something other than what hemtools needs (an error in user code, exit 4); there
    is no traceback to show, only what was returned and what was expected."""

    def __init__(self, loss: str, message: str):
        Exception.__init__(self, f"loss {loss}: {message}")
        self.where = loss
        self.original = None
        self.traceback_text = ""


def _call_user_loss(spec: LossSpec, tensors: Sequence[Tensor], p: dict) -> Tensor:
    """Evaluate a user loss on a batch (looping over the batch for the unbatched form) and check what it
    returns.  Exceptions raised inside it become :class:`UserCodeError` (exit 4, with its traceback); a
    result that breaks the contract (not a tensor, wrong shape, not differentiable, lower precision)
    becomes a :class:`LossContractError` naming the loss and what was expected (exit 4, one line).

    The loss gets copies (``clone``, which keeps the graph): a loss that normalises its input in place
    (``U.div_(...)``) must neither fail on a view of the solver's leaf nor change the solver's points."""
    B = tensors[0].shape[0]
    if spec.batched:
        args = tuple(t.clone() for t in tensors)
        out = call_user(spec.name, spec.fn, *args, **p)
        out = _check_user_result(spec, out, tensors, expected=(B,), what=f"a tensor of shape ({B},), one value "
                                 "per configuration of the (B, M, d) batch (declared batched)", p=p)
        return out.reshape(B)
    outs = []
    for b in range(B):
        args = tuple(t[b].clone() for t in tensors)
        val = call_user(spec.name, spec.fn, *args, **p)
        val = _check_user_result(spec, val, tuple(t[b] for t in tensors), expected=(), what="a scalar tensor (one "
                                 "value for the (M, d) configuration; declare a batched form with "
                                 "@hemtools.losses.batched)", p=p)
        outs.append(val.reshape(()))
    return torch.stack(outs)


def call_user(where: str, fn: Callable, *args, **kwargs):
    """Call user code: whatever it raises becomes a :class:`UserCodeError` with its traceback (exit 4),
    ``sys.exit`` included (user code must not choose hemtools' exit code: ``sys.exit(0)`` would read as
    "confirmed").  KeyboardInterrupt passes through: it is Ctrl-C (exit 130), not an error of the loss."""
    try:
        return fn(*args, **kwargs)
    except (Exception, SystemExit) as exc:
        raise UserCodeError(where, exc) from exc


def _check_user_result(spec: LossSpec, val: Any, inputs: Sequence[Tensor], expected: tuple, what: str,
                       p: dict | None = None) -> Tensor:
    """The contract of a user loss: a floating tensor of the expected number of values, in the inputs'
    dtype, differentiable whenever the inputs require gradients (the solver and the Hessian need it).

    A value without a graph is accepted when the loss is constant (the same value at a displaced input):
    its gradient is zero, not missing.  A value that changes with the input but carries no graph was
    detached: that breaks the contract."""
    if not isinstance(val, torch.Tensor):
        raise LossContractError(spec.name, f"returned {type(val).__name__}, expected {what}; build the value from "
                                "U and V with torch operations (not .item(), floats or numpy)")
    n_expected = math.prod(expected) if expected else 1
    if val.numel() != n_expected or (expected and val.dim() > 1 and tuple(val.shape) != expected):
        raise LossContractError(spec.name, f"returned a tensor of shape {tuple(val.shape)}, expected {what}")
    if not val.is_floating_point():
        raise LossContractError(spec.name, f"returned a {str(val.dtype).replace('torch.', '')} tensor, expected {what}")
    if val.dtype != inputs[0].dtype:
        raise LossContractError(spec.name, f"returned {str(val.dtype).replace('torch.', '')} for "
                                f"{str(inputs[0].dtype).replace('torch.', '')} inputs; verification runs in float64: "
                                "do not create tensors with a fixed dtype inside the loss")
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs) and not val.requires_grad:
        if p is not None and _is_constant(spec, val, inputs, p):
            return val + sum((t * 0).sum(dim=tuple(range(-2, 0))) for t in inputs).reshape(val.shape)
        raise LossContractError(spec.name, "returned a tensor with gradients disabled (detached, computed under "
                                "torch.no_grad(), or rebuilt from numbers); expected a value differentiable in U and V")
    return val


def _is_constant(spec: LossSpec, val: Tensor, inputs: Sequence[Tensor], p: dict) -> bool:
    """Does the loss return the same value at a displaced input (a constant loss, not a detached one)?"""
    gen = torch.Generator(device=inputs[0].device).manual_seed(7)
    with torch.no_grad():
        moved = tuple(torch.nn.functional.normalize(t.detach() + 0.3 * torch.randn(t.shape, generator=gen, dtype=t.dtype,
                                                                                   device=t.device), dim=-1)
                      for t in inputs)
        other = call_user(spec.name, spec.fn, *moved, **p)
    return isinstance(other, torch.Tensor) and other.shape == val.shape and bool(torch.equal(other.to(val.dtype), val.detach()))


# --------------------------------------------------------------------------------------------------------
# the registry


_REGISTRY: dict[str, LossSpec] = {}
_BUILTINS_LOADED = False
_ENTRY_POINTS_LOADED = False
_BUILTIN_MODULES = ("infonce", "dhel", "kcl", "energy", "phipsi", "alphacl")


def register_loss(name: str, *, params: Sequence[Param] = (), kind: str = "pairs",
                  minimiser: str | None = "aligned_simplex", family: str = "", check=None,
                  advice=None, replace: bool = False, phipsi=None, alpha_cl=None, energy=None, symbolic=None):
    """Decorator: register ``fn`` under ``name`` with its parameters and metadata.

    The first line of the function's docstring becomes the one-line description in ``hemtools losses``.
    ``phipsi``, ``alpha_cl``, ``energy``, ``symbolic``: the loss's forms (hemtools.losses.spec.Forms) — each the
    form, a function of the resolved parameters returning it, or a string saying why there is none.
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
                                   forms=Forms(phipsi=phipsi, alpha_cl=alpha_cl, energy=energy, symbolic=symbolic),
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
            raise UserCodeError(f"entry point {ep.name} = {ep.value}", exc) from exc
        if callable(obj) and not inspect.ismodule(obj) and ep.name not in _REGISTRY:
            _REGISTRY[ep.name] = _spec_from_user_callable(ep.name, obj, source=f"entry point {ep.value}")


def registered() -> dict[str, LossSpec]:
    """All registered losses (built-ins and installed entry points), by name."""
    _load_builtins()
    _load_entry_points()
    return dict(_REGISTRY)


def names(kind: str | None = None) -> list[str]:
    return sorted(n for n, s in registered().items() if kind is None or s.kind == kind)


def get_loss(name: str | LossSpec | Callable) -> LossSpec:
    """Resolve a registered name, ``module:function``, ``path/file.py:function`` or a callable.

    Raises ValueError (unknown name, with the closest registered names; missing module/file/function).
    """
    if isinstance(name, LossSpec):
        return name
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
    reg = registered()
    if name in reg:
        return reg[name]
    close = difflib.get_close_matches(name, reg.keys(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
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
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            sys.modules.pop(modname, None)
            raise UserCodeError(f"while importing {target}", exc) from exc
    else:
        cwd = os.getcwd()
        if "" not in sys.path and cwd not in sys.path:
            sys.path.insert(0, cwd)
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name and target.startswith(exc.name):
                raise ArgumentError(f"loss: module {target!r} not found (is it on PYTHONPATH?)") from None
            raise UserCodeError(f"while importing {target}", exc) from exc
        except (Exception, SystemExit) as exc:
            raise UserCodeError(f"while importing {target}", exc) from exc
    fn = getattr(module, fname, None)
    if fn is None:
        raise ArgumentError(f"loss: {target!r} has no function {fname!r}")
    if not callable(fn):
        raise ArgumentError(f"loss: {ref!r} is not callable")
    return _spec_from_user_callable(ref, fn, source=ref)


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
            positional = [p.name for p in sig.parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
            raise ArgumentError(f"loss: {name} {expected}; its signature is {fn.__name__ if hasattr(fn, '__name__') else 'f'}"
                                f"{sig} (required positional arguments: {', '.join(positional) or 'none'})") from None
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
                    kind = "int" if p.annotation in (int, "int") else ("number" if isinstance(default, int)
                                                                        else "float")
                params[p.name] = Param(p.name, default, kind=kind)
    doc = (inspect.getdoc(fn) or "").strip().splitlines()
    return LossSpec(name=name, fn=fn, params=params, kind="pairs", minimiser="aligned_simplex", family="user",
                    doc=doc[0] if doc else "", source=source, batched=bool(getattr(fn, BATCHED_ATTRIBUTE, False)),
                    accepts_any_params=any_params, user_code=True, required=tuple(required))


def _spec_from_external(ext) -> LossSpec:
    """A LossSpec for an adapter of another library (hemtools.losses.adapters.ExternalLoss): unbatched,
    evaluated through the user-loss path (its results are checked like a user's)."""
    return LossSpec(name=ext.name, fn=ext.fn, params={p["name"]: Param(**p) for p in ext.params}, kind="pairs",
                    minimiser=ext.minimiser, family="external", doc=ext.doc, source=ext.source, check=ext.check,
                    batched=False, user_code=True)
