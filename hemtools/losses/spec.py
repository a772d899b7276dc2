"""What a loss declares about itself when it registers: the leaf types of the registry.

A loss module states, next to its function, every form it has (SPEC §1) — nothing elsewhere matches names:

  phipsi     :class:`PhiPsi`          its φ/ψ form (Koromilas et al.); the α-CL form follows from it
  alpha_cl   :class:`AlphaCL`         its α-CL form (Tian), when it is not the one that follows from φ/ψ
  energy     :class:`EnergyBaseline`  the energy its uniformity term is built from (verify's M > d+1 baseline)
  symbolic   :class:`SymbolicTemplate` its per-anchor formula for ``hemtools symbolic`` (strings, parsed there)
  gram       :class:`PairKernels` or   its closed-form value/gradient/Hessian-vector products as a function of
             :class:`LogSumExpRows`    the Gram blocks UUᵀ, UVᵀ, VVᵀ (the solver's fast path, hemtools.fused)

Each is given as the form itself, as a function of the loss's resolved parameters returning the form (or a
string), or as a string saying why the loss has no such form; left out, the loss has none that is known.
Also here: :class:`Param` (one parameter and its range) and :class:`LossSpec` (a registered loss: its function,
parameters, metadata, forms and the call contract of user code).  hemtools.losses.registry registers, finds
and loads losses and re-exports these names.  Nothing here imports sympy: templates are strings parsed only
when ``symbolic`` asks.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ArgumentError, UserCodeError

Tensor = torch.Tensor


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
        if _is_the_default(value, self.default):
            # the loss's own default coming back (a resolved dict resolved again, e.g. by solve() after verify(),
            # or pickled to a sweep worker): not typed input.  A user's `tau=float('nan')` default is the
            # author's choice; `--param tau=nan` typed on the command line is still refused below
            return self.default
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


def _is_the_default(value: Any, default: Any) -> bool:
    """``value`` is a parameter's default (the same object, or an equal plain float such as a NaN or inf default
    after a pickle), not a value typed on the command line (:class:`CliNumber` keeps its text)."""
    if value is default:
        return True
    if type(value) is not float or type(default) is not float:
        return False
    return value == default or (math.isnan(value) and math.isnan(default))


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


# --------------------------------------------------------------------------------------------------------
# declared forms


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


@dataclass(frozen=True)
class PairKernels:
    """loss = −(w_A/M) Σ_i K_A(u_i·v_i) + γ/(M(M−1)) Σ_{i≠j} [K_U(u_i·u_j) + (symmetric) K_U(v_i·v_j)]  (KCL).

    ``kernel``: gaussian, imq or log (hemtools.fused has their derivatives in the inner product), ``t`` its
    scale, ``gamma`` the uniformity weight, ``alignment_weight`` w_A (2 for the symmetric loss)."""

    kernel: str
    t: float
    gamma: float
    alignment_weight: float = 1.0
    symmetric: bool = False


@dataclass(frozen=True)
class LogSumExpRow:
    """One anchor view of a temperature loss:

        weight · (1/M) Σ_i log(κ + Σ_{y ∈ negatives} Σ_{j≠i} e^{(x_i·y_j − r·u_i·v_i)/τ})

    with x the ``anchor`` view ("u" or "v"), ``negatives`` the views of the y ("u", "v"), κ = ``kappa``
    (1: InfoNCE/SimCLR, log(1 + S); 0: DCL/DHEL, log S) and r = 1 when ``relative`` (logits relative to the
    positive pair, as the losses are written), else 0."""

    anchor: str
    negatives: tuple[str, ...]
    kappa: int
    relative: bool = True
    weight: float = 1.0


@dataclass(frozen=True)
class LogSumExpRows:
    """loss = Σ_rows (one :class:`LogSumExpRow` each) at temperature ``tau``."""

    rows: tuple[LogSumExpRow, ...]
    tau: float


#: a declared form: the form, a function of the resolved parameters, or why the loss has none
Declared = Any | Callable[[dict], Any] | str | None


@dataclass(frozen=True)
class Forms:
    """Everything a loss declares about its forms (see the module docstring)."""

    phipsi: Declared = None
    alpha_cl: Declared = None
    energy: Declared = None
    symbolic: Declared = None
    gram: Declared = None

    def resolve(self, what: str, params: Mapping[str, Any]) -> tuple[Any, str]:
        """(form, "") or (None, why): ``what`` is one of phipsi, alpha_cl, energy, symbolic, gram; ``params`` resolved.
        why is "" when the loss declares nothing (callers say what is unknown in their own words)."""
        value = getattr(self, what)
        if callable(value):  # a function of the parameters (the forms themselves are plain dataclasses)
            value = value(dict(params))
        if value is None:
            return None, ""
        if isinstance(value, str):
            return None, value
        return value, ""


# --------------------------------------------------------------------------------------------------------
# the loss specification

#: names other libraries give the temperature; hemtools calls it tau (a hint when one of them is passed)
TEMPERATURE_NAMES = ("temperature", "temp", "τ")


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
    # None (verify): a user loss returning a lower precision than its inputs breaks the contract (exit 4).
    # A callable (compare): such a result is cast to the inputs' dtype and the callable gets its dtype name
    cast_lower_precision: Callable[[str], None] | None = None

    def notes(self, params: Mapping[str, Any]) -> list[str]:
        """Caveats for these (resolved) parameters, e.g. a kernel that is not differentiable at the minimiser."""
        return list(self.advice(dict(params))) if self.advice is not None else []

    # -- parameters ---------------------------------------------------------------------------------------
    def resolve_params(self, given: Mapping[str, Any] | None = None) -> dict:
        """Defaults filled in, every value validated; unknown names are refused with the accepted ones."""
        given = dict(given or {})
        out = {}
        for k in given:
            if k not in self.params and not self.accepts_any_params:
                accepted = ", ".join(self.params) if self.params else "none"
                raise ArgumentError(f"{k}: unknown parameter for loss {self.name}{self._name_hint(k, given[k])}; "
                                    f"accepted parameters: {accepted}")
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
                    with contextlib.suppress(ValueError):
                        v = float(v)  # 'inf', 'nan' (refused below)
                if isinstance(v, float) and not math.isfinite(v):
                    raise ArgumentError(f"{k} (loss {self.name}): expected a finite number, got {v!r}")
                out[k] = v
        if self.check is not None:
            self.check(out)
        return out

    def _name_hint(self, key: str, value: Any) -> str:
        """What an unknown parameter name is probably called here: the temperature is `tau` in hemtools (also for
        the adapted libraries, whose `temperature` it is passed as), otherwise the closest accepted names."""
        import difflib

        if key.lower() in TEMPERATURE_NAMES and "tau" in self.params:
            text = getattr(value, "text", value)
            whose = "the library's `temperature`" if "library" in self.params["tau"].doc else "the temperature"
            return f" ({whose} is called tau here: --tau {text} or --param tau={text})"
        theirs = [n for n in self.params if n.lower() in TEMPERATURE_NAMES]
        if key == "tau" and theirs:  # a user's loss (a class's constructor) calls its temperature otherwise
            text = getattr(value, "text", value)
            return f" (this loss's temperature is its parameter {theirs[0]}: --param {theirs[0]}={text})"
        close = difflib.get_close_matches(key, list(self.params), n=2, cutoff=0.6)
        return f" (did you mean {' or '.join(close)}?)" if close else ""

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


def call_user(where: str, fn: Callable, /, *args, **kwargs):  # positional-only: a loss parameter may be named fn
    """Call user code: whatever it raises becomes a :class:`UserCodeError` with its traceback (exit 4),
    ``sys.exit`` and ``os._exit`` included (user code must not choose hemtools' exit code: ``sys.exit(0)``
    would read as "confirmed", and ``os._exit`` would end a sweep running in this process with the loss's
    exit code).  KeyboardInterrupt passes through: it is Ctrl-C (exit 130), not an error of the loss."""
    try:
        with containing_os_exit():
            return fn(*args, **kwargs)
    except (Exception, SystemExit) as exc:
        raise UserCodeError(where, exc) from exc


class OsExitCalled(SystemExit):
    """Raised instead of ending the process when user code calls ``os._exit(code)`` (see :func:`containing_os_exit`)."""

    def __str__(self) -> str:
        return (f"os._exit({self.code!r}) was called in user code; hemtools raised this error instead of letting it "
                "end the process (and any sweep running in it)")


_OS_EXIT_LOCK = threading.Lock()
_OS_EXIT_USERS = 0  # calls of user code in progress, all threads: os._exit is replaced while it is > 0
_OS_EXIT_DEPTH = threading.local()  # ... in this thread: only these become OsExitCalled
_REAL_OS_EXIT: Callable | None = None


_OS_EXIT_PID = 0  # the process that replaced os._exit: a child forked inside user code must really exit


def _os_exit(code: int) -> None:
    if getattr(_OS_EXIT_DEPTH, "n", 0) > 0 and os.getpid() == _OS_EXIT_PID:
        raise OsExitCalled(code)
    _REAL_OS_EXIT(code)  # another thread (a sweep worker's parent watchdog, a library's thread): a real exit


@contextlib.contextmanager
def containing_os_exit():
    """While user code runs in this thread, ``os._exit(code)`` raises :class:`OsExitCalled` (a SystemExit: exit 4
    with the user's traceback) instead of ending the process.  Other threads keep the real ``os._exit``; what
    cannot be contained in a process (``os.kill`` of itself, ``os.abort``, a crash in compiled code, ``os._exit``
    called from a thread of the user's or bound before the call as ``from os import _exit``) still ends it: a
    sweep with ``--workers`` >= 1 contains that in its worker processes."""
    global _OS_EXIT_USERS, _REAL_OS_EXIT, _OS_EXIT_PID
    with _OS_EXIT_LOCK:
        if _OS_EXIT_USERS == 0:
            _REAL_OS_EXIT, _OS_EXIT_PID = os._exit, os.getpid()
            os._exit = _os_exit
        _OS_EXIT_USERS += 1
    _OS_EXIT_DEPTH.n = getattr(_OS_EXIT_DEPTH, "n", 0) + 1
    try:
        yield
    finally:
        _OS_EXIT_DEPTH.n -= 1
        with _OS_EXIT_LOCK:
            _OS_EXIT_USERS -= 1
            if _OS_EXIT_USERS == 0:
                os._exit = _REAL_OS_EXIT


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
    if not val.is_floating_point():  # complex, integer or bool: the shape was right, the kind of number is not
        kind = "complex" if val.is_complex() else "integer or bool"
        got, want = (str(t.dtype).replace("torch.", "") for t in (val, inputs[0]))
        raise LossContractError(spec.name, f"returned a {got} tensor ({kind} values); expected a real value in the "
                                f"inputs' dtype ({want})" + ("; take .real or .abs() of a complex result"
                                                             if val.is_complex() else ""))
    if val.dtype != inputs[0].dtype and spec.cast_lower_precision is not None and \
            torch.finfo(val.dtype).eps > torch.finfo(inputs[0].dtype).eps:
        spec.cast_lower_precision(str(val.dtype).replace("torch.", ""))
        val = val.to(inputs[0].dtype)
    if val.dtype != inputs[0].dtype:
        raise LossContractError(spec.name, f"returned {str(val.dtype).replace('torch.', '')} for "
                                f"{str(inputs[0].dtype).replace('torch.', '')} inputs; verification runs in float64: "
                                "do not cast (.float(), .half(), autocast) or create tensors with a fixed dtype "
                                "inside the loss")
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs) and not val.requires_grad:
        if p is not None and _is_constant(spec, val, inputs, p):
            return val + sum((t * 0).sum(dim=tuple(range(-2, 0))) for t in inputs).reshape(val.shape)
        raise LossContractError(spec.name, "returned a tensor with gradients disabled (detached, computed under "
                                "torch.no_grad(), or rebuilt from numbers); expected a value differentiable in U and V")
    return val


def check_deterministic(spec: LossSpec, M: int, d: int, p: dict, *, dtype=torch.float64, device="cpu",
                        calls: int = 3) -> Callable[[], None]:
    """A user loss must be a function of (U, V): evaluated ``calls`` times at one seeded configuration it must give
    the same value (to 1e-12 relative).  A loss that draws random numbers (``torch.rand`` without a generator,
    dropout in a module left in training mode, sampled negatives, a memory bank updated by every call) is refused
    with :class:`LossContractError` (exit 4): its minimiser is not defined, and its noise would be measured as
    round-off and widen the tolerances into a wrong verdict.  Non-finite values are left to the checks
    (inconclusive).  Returns ``recheck()``, which evaluates the loss there once more at the end of a run and
    refuses it the same way if its value has changed meanwhile (state kept between calls)."""
    if not spec.user_code:
        return lambda: None
    gen = torch.Generator().manual_seed(20261202)
    x = torch.nn.functional.normalize(torch.randn((1, spec.n_points(M), d), generator=gen, dtype=torch.float64), dim=-1)
    f = spec.objective(M, p)

    def evaluate(n: int) -> list[float] | None:
        try:
            with torch.no_grad():
                return [float(f(x.to(dtype=dtype, device=device))[0]) for _ in range(n)]
        except UserCodeError:
            return None  # the loss fails (or breaks its contract) anyway: the run reports that, where it happens

    def refuse_if_changed(values: list[float] | None, what: str) -> None:
        if values is None or all(math.isnan(v) for v in values):
            return
        spread = max(values) - min(values) if all(math.isfinite(v) for v in values) else math.inf
        if not spread <= 1e-12 * max(1.0, abs(values[0])):
            shown = ", ".join(f"{v:.15g}" for v in values)
            raise LossContractError(spec.name, f"is not deterministic: {what} gave {shown}; hemtools verifies "
                                    "functions of (U, V): draw random numbers from a seeded torch.Generator (or none), "
                                    "keep no state between calls, and put modules in eval() mode")

    first = evaluate(calls)
    refuse_if_changed(first, f"{calls} evaluations at the same (U, V)")

    def recheck() -> None:
        if first is not None:
            refuse_if_changed([first[0]] + (evaluate(1) or [first[0]]),
                              "the same (U, V) before and after the run (state kept between calls)")

    return recheck


def _is_constant(spec: LossSpec, val: Tensor, inputs: Sequence[Tensor], p: dict) -> bool:
    """Does the loss return the same value at a displaced input (a constant loss, not a detached one)?"""
    gen = torch.Generator(device=inputs[0].device).manual_seed(7)
    with torch.no_grad():
        moved = tuple(
            torch.nn.functional.normalize(
                t.detach() + 0.3 * torch.randn(t.shape, generator=gen, dtype=t.dtype, device=t.device), dim=-1
            )
            for t in inputs
        )
        other = call_user(spec.name, spec.fn, *moved, **p)
    return (
        isinstance(other, torch.Tensor)
        and other.shape == val.shape
        and bool(torch.equal(other.to(val.dtype), val.detach()))
    )
