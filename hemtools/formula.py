"""Formulas in ``x`` (and ``tau``): parsed with a restricted grammar, compiled to torch, recognised.

A formula is a string such as ``"exp(x/tau)"`` or ``"log(1+x)"``, a sympy expression, or a torch callable
acting elementwise (wrapped, not compiled).  Strings are parsed once (cached by their text) with a
restricted grammar: the names ``x``, ``tau`` and a whitelist of functions (:data:`FUNCTIONS`), numbers and
arithmetic; nothing else reaches the parser, so no Python is evaluated.  The parsed expression is translated
into a small tree of torch operations (:func:`translate`; no sympy at evaluation time) and recognised as
exp(a·x + b) or α·log(x + k) + β where it is one (the log-sum-exp path of the φ/ψ losses).

Used by the φ/ψ and α-CL losses (hemtools.losses.phipsi, .alphacl) and by hemtools.symbolic, which shares
:func:`symbols`.  sympy is imported only when a formula is first compiled (``hemtools --help`` and the
registry stay light).
"""

from __future__ import annotations

import io
import math
import threading
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ArgumentError, UserCodeError

Tensor = torch.Tensor

#: names a formula may use besides ``x`` and ``tau`` (sympy's meaning; ``softplus(y) = log(1+e^y)``,
#: ``sigmoid(y) = 1/(1+e^{-y})``, ``relu(y) = max(y, 0)``)
FUNCTIONS = ("exp", "log", "ln", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "atan", "asinh", "erf",
             "abs", "Abs", "max", "min", "Max", "Min", "softplus", "sigmoid", "relu", "pi", "E")
VARIABLES = ("x", "tau")
MAX_FORMULA_LENGTH = 1000
_OPS = {"+", "-", "*", "/", "**", "^", "(", ")", ","}


# --------------------------------------------------------------------------------------------------------
# parsing


def symbols():
    """The sympy symbols of a formula: x (real) and tau (positive)."""
    import sympy as sp

    return sp.Symbol("x", real=True), sp.Symbol("tau", positive=True)


def _namespace() -> dict:
    import sympy as sp

    x, tau = symbols()
    ns = {"x": x, "tau": tau, "exp": sp.exp, "log": sp.log, "ln": sp.log, "sqrt": sp.sqrt, "sin": sp.sin,
          "cos": sp.cos, "tan": sp.tan, "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh, "atan": sp.atan,
          "asinh": sp.asinh, "erf": sp.erf, "abs": sp.Abs, "Abs": sp.Abs, "max": sp.Max, "min": sp.Min,
          "Max": sp.Max, "Min": sp.Min, "pi": sp.pi, "E": sp.E,
          "softplus": lambda y: sp.log(1 + sp.exp(y)),
          "sigmoid": lambda y: 1 / (1 + sp.exp(-y)),
          "relu": lambda y: sp.Max(y, 0)}
    return ns


def _check_tokens(text: str, name: str, extra: tuple[str, ...] = ()) -> None:
    """Only numbers, the allowed names (and ``extra``) and arithmetic reach the parser."""
    allowed = set(FUNCTIONS) | set(VARIABLES) | set(extra)
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        raise ArgumentError(f"{name}: cannot parse {text!r}: {msg}") from None
    for tok in toks:
        if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT):
            continue
        col = tok.start[1] + 1
        if tok.type == tokenize.NAME:
            if tok.string not in allowed:
                raise ArgumentError(f"{name}: unknown symbol {tok.string!r} in {text!r} (column {col}); a formula "
                                    f"may use x, tau, numbers, + - * / ** and {', '.join(FUNCTIONS)}")
        elif tok.type == tokenize.NUMBER:
            if tok.string[-1] in "jJ":
                raise ArgumentError(f"{name}: complex number {tok.string!r} in {text!r}; formulas are real")
        elif tok.type == tokenize.OP:
            if tok.string not in _OPS:
                raise ArgumentError(f"{name}: unexpected {tok.string!r} in {text!r} (column {col}); a formula may "
                                    "use numbers, x, tau, + - * / ** ^, parentheses and function calls")
        else:
            raise ArgumentError(f"{name}: unexpected {tok.string!r} in {text!r} (column {col})")


def _check_sizes(expr, text: str, name: str) -> None:
    """Refuse numeric powers whose evaluation would explode (9**9**9) before sympy evaluates them."""
    import sympy as sp

    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Pow) and not node.exp.free_symbols:
            try:
                e = float(sp.N(node.exp, 15))
            except (TypeError, ValueError, OverflowError):
                raise ArgumentError(
                    f"{name}: the exponent {node.exp} in {text!r} is not a finite real number"
                ) from None
            if not math.isfinite(e) or abs(e) > 1e4:
                raise ArgumentError(
                    f"{name}: the exponent {node.exp} in {text!r} is too large (|exponent| <= 1e4 accepted)"
                )


def parse_formula(value: Any, name: str = "formula"):
    """A formula (string or sympy expression) → a real sympy expression in x (and tau).

    Raises :class:`ArgumentError` (the parser's message, an unknown symbol, a formula that does not depend on
    x, or one that is not real-valued) — the CLI turns it into exit code 2.
    """
    import sympy as sp

    x, tau = symbols()
    if isinstance(value, sp.Basic):
        subs = {}
        for s in value.free_symbols:
            if s.name not in VARIABLES:
                raise ArgumentError(f"{name}: unknown symbol {s.name!r} in {value}; a formula may use x and tau")
            subs[s] = x if s.name == "x" else tau
        expr = sp.sympify(value).xreplace(subs)
        text = str(expr)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ArgumentError(f"{name}: empty formula; expected a formula in x such as 'exp(x/0.5)'")
        if len(text) > MAX_FORMULA_LENGTH:
            raise ArgumentError(f"{name}: formula of {len(text)} characters; at most {MAX_FORMULA_LENGTH} accepted")
        _check_tokens(text, name)
        expr = _parse(text, name, _namespace(), check_sizes=True)
    else:
        raise ArgumentError(
            f"{name}: expected a formula in x (e.g. 'exp(x/0.5)'), a sympy expression or a callable, got {value!r}"
        )
    if not isinstance(expr, sp.Expr):
        raise ArgumentError(f"{name}: {text!r} is not an expression in x (got {type(expr).__name__})")
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ArgumentError(f"{name}: {text!r} is undefined (it evaluates to {expr})")
    if expr.has(sp.I):
        raise ArgumentError(f"{name}: {text!r} is not real-valued (it contains I = sqrt(-1))")
    if x not in expr.free_symbols:
        raise ArgumentError(f"{name}: {text!r} is not a function of x (a formula in x is expected, e.g. 'exp(x/0.5)')")
    return expr


def _parse(text: str, name: str, local: dict, check_sizes: bool = False):
    """parse_expr on a text whose tokens were checked, with only ``local`` and sympy's number classes in scope."""
    import sympy as sp
    from sympy.parsing.sympy_parser import convert_xor, parse_expr, rationalize, standard_transformations

    # the names parse_expr's generated code refers to, and nothing else
    globs = {
        "Integer": sp.Integer,
        "Float": sp.Float,
        "Rational": sp.Rational,
        "Symbol": sp.Symbol,
        "Add": sp.Add,
        "Mul": sp.Mul,
        "Pow": sp.Pow,
        "__builtins__": {},
    }
    trans = standard_transformations + (convert_xor, rationalize)
    try:
        if check_sizes:
            raw = parse_expr(text, local_dict=local, global_dict=globs, transformations=trans, evaluate=False)
            _check_sizes(raw, text, name)
        return parse_expr(text, local_dict=local, global_dict=globs, transformations=trans)
    except ArgumentError:
        raise
    except (SyntaxError, TypeError, ValueError, tokenize.TokenError, AttributeError) as exc:
        msg = getattr(exc, "msg", None) or (exc.args[0] if exc.args else type(exc).__name__)
        raise ArgumentError(f"{name}: cannot parse {text!r}: {msg}") from None


def parse_template(text: str, names: dict, what: str = "template"):
    """A loss's symbolic template (hemtools.losses.spec.SymbolicTemplate) → a sympy expression.

    ``names`` maps every name the text may use besides :data:`FUNCTIONS` to a sympy symbol, number or function
    (``sympy.Lambda``); the same restricted grammar as formulas, so a template declared by a plug-in runs no
    Python."""
    _check_tokens(text, what, tuple(names))
    return _parse(text, what, {**_namespace(), **names})


def scale_argument(value: Any, factor: float, name: str = "formula"):
    """f(factor·x) for a formula f: a sympy expression for a string or sympy formula, a callable for a callable
    (used to derive the α-CL form of a φ/ψ loss: ψ_α(x) = φ(x/2), since d_i² − d_ij² = 2(u_i·v_j − u_i·v_i))."""
    import sympy as sp

    if callable(value) and not isinstance(value, (str, sp.Basic)):
        return lambda z, _f=value: _f(z * factor)
    x, _ = symbols()
    return parse_formula(value, name).xreplace({x: x * sp.nsimplify(factor)})


# --------------------------------------------------------------------------------------------------------
# translation to torch


def _dual(tfn, mfn):
    def f(a):
        if isinstance(a, Tensor):
            return tfn(a)
        try:
            return mfn(a)
        except (ValueError, OverflowError):
            return math.nan

    return f


def _mlog(a):
    return math.log(a) if a > 0 else (-math.inf if a == 0 else math.nan)


_UNARY = {
    "exp": _dual(torch.exp, math.exp),
    "log": _dual(torch.log, _mlog),
    "sin": _dual(torch.sin, math.sin),
    "cos": _dual(torch.cos, math.cos),
    "tan": _dual(torch.tan, math.tan),
    "tanh": _dual(torch.tanh, math.tanh),
    "sinh": _dual(torch.sinh, math.sinh),
    "cosh": _dual(torch.cosh, math.cosh),
    "atan": _dual(torch.atan, math.atan),
    "asinh": _dual(torch.asinh, math.asinh),
    "erf": _dual(torch.erf, math.erf),
    "Abs": _dual(torch.abs, abs),
}


def _softplus(a):
    if isinstance(a, Tensor):
        return torch.nn.functional.softplus(a)
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


def _pow(a, e):
    if isinstance(a, Tensor) or isinstance(e, Tensor):
        if not isinstance(a, Tensor):
            a = torch.as_tensor(a, dtype=e.dtype, device=e.device)
        if isinstance(e, (int, float)) and float(e) == 2.0:
            return a * a
        return torch.pow(a, e)
    try:
        r = a**e
    except (ZeroDivisionError, OverflowError):
        return math.inf
    return r if isinstance(r, float) else (float(r) if not isinstance(r, complex) else math.nan)


def _reduce(op, items):
    out = items[0]
    for it in items[1:]:
        out = op(out, it)
    return out


def _maximum(a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = (
            a if isinstance(a, Tensor) else torch.as_tensor(a, dtype=b.dtype, device=b.device),
            b if isinstance(b, Tensor) else torch.as_tensor(b, dtype=a.dtype, device=a.device),
        )
        return torch.maximum(a, b)
    return max(a, b)


def _minimum(a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = (
            a if isinstance(a, Tensor) else torch.as_tensor(a, dtype=b.dtype, device=b.device),
            b if isinstance(b, Tensor) else torch.as_tensor(b, dtype=a.dtype, device=a.device),
        )
        return torch.minimum(a, b)
    return min(a, b)


def translate(expr) -> Callable[[Tensor, float], Any]:
    """A sympy expression in x, tau → a function (x, tau) built from torch operations (python floats where
    a subexpression does not depend on x)."""
    import sympy as sp

    x, tau = symbols()

    def build(e):
        if e == x:
            return lambda xv, t: xv
        if e == tau:
            return lambda xv, t: t
        if not e.free_symbols:
            c = float(sp.N(e, 17))
            return lambda xv, t: c
        if isinstance(e, sp.Add):
            parts = [build(a) for a in e.args]
            return lambda xv, t: _reduce(lambda p, q: p + q, [p(xv, t) for p in parts])
        if isinstance(e, sp.Mul):
            parts = [build(a) for a in e.args]
            return lambda xv, t: _reduce(lambda p, q: p * q, [p(xv, t) for p in parts])
        if isinstance(e, sp.Pow):
            base, ex = build(e.base), e.exp
            if ex == sp.Rational(1, 2):
                return lambda xv, t: _dual(torch.sqrt, math.sqrt)(base(xv, t))
            if ex == -1:
                return lambda xv, t: 1.0 / base(xv, t)
            if isinstance(ex, sp.Integer):
                n = int(ex)
                return lambda xv, t: _pow(base(xv, t), n)
            exf = build(ex)
            return lambda xv, t: _pow(base(xv, t), exf(xv, t))
        if isinstance(e, sp.log):
            (arg,) = e.args
            # log(1 + exp(y)) is the softplus: evaluated stably (no overflow of exp(y))
            if isinstance(arg, sp.Add) and len(arg.args) == 2 and sp.S.One in arg.args:
                other = arg.args[0] if arg.args[1] == sp.S.One else arg.args[1]
                if isinstance(other, sp.exp):
                    inner = build(other.args[0])
                    return lambda xv, t: _softplus(inner(xv, t))
            inner = build(arg)
            return lambda xv, t: _UNARY["log"](inner(xv, t))
        if isinstance(e, (sp.Max, sp.Min)):
            parts = [build(a) for a in e.args]
            op = _maximum if isinstance(e, sp.Max) else _minimum
            return lambda xv, t: _reduce(op, [p(xv, t) for p in parts])
        fname = type(e).__name__
        if fname in _UNARY and len(e.args) == 1:
            inner, fn = build(e.args[0]), _UNARY[fname]
            return lambda xv, t: fn(inner(xv, t))
        raise ArgumentError(f"formula: cannot translate {e} (function {fname}) to torch")

    return build(expr)


# --------------------------------------------------------------------------------------------------------
# compiled formulas


@dataclass(frozen=True)
class Formula:
    """A compiled φ or ψ: ``fn(x, tau)`` evaluates elementwise on a float64 tensor.

    ``exp_linear(tau) -> (a, b)`` when the formula is exp(a·x + b); ``log_affine(tau) -> (alpha, k, beta)``
    when it is alpha·log(x + k) + beta; both None otherwise (or for callables).  ``expr`` is the sympy
    expression (None for a callable).
    """

    name: str
    text: str
    expr: Any
    fn: Callable[[Tensor, float], Tensor]
    exp_linear: Callable[[float], tuple[float, float]] | None = None
    log_affine: Callable[[float], tuple[float, float, float]] | None = None
    is_callable: bool = False

    def __call__(self, x: Tensor, tau: float) -> Tensor:
        return self.fn(x, tau)


def _coefficient_fn(exprs):
    """sympy expressions in tau → a function tau -> tuple of floats."""
    import sympy as sp

    _, tau = symbols()
    fns = [sp.lambdify(tau, e, modules="math") for e in exprs]
    return lambda t: tuple(float(f(t)) for f in fns)


def _recognise(expr):
    import sympy as sp

    x, _ = symbols()
    exp_linear = log_affine = None
    if isinstance(expr, sp.exp):
        arg = sp.expand(expr.args[0])
        if arg.is_polynomial(x) and sp.degree(arg, x) == 1:
            a, b = arg.coeff(x, 1), arg.coeff(x, 0)
            if not a.has(x) and not b.has(x):
                exp_linear = _coefficient_fn([a, b])
    A, K, B = (sp.Wild(n, exclude=[x]) for n in ("A", "K", "B"))
    m = expr.match(A * sp.log(x + K) + B)
    if m is not None and m.get(A, 0) != 0:
        k = m[K]
        try:
            k_nonneg = bool(k.is_nonnegative) or (not k.free_symbols and float(k) >= 0)
        except TypeError:
            k_nonneg = False
        if k_nonneg:
            log_affine = _coefficient_fn([m[A], k, m[B]])
    return exp_linear, log_affine


_CACHE: dict[tuple[str, str], Formula] = {}
_LOCK = threading.Lock()


def compile_formula(value: Any, name: str = "formula") -> Formula:
    """Parse and compile a formula once (cached by its text); callables are wrapped, not compiled."""
    if isinstance(value, Formula):
        return value
    if callable(value) and not isinstance(value, str) and not type(value).__module__.startswith("sympy"):
        return _wrap_callable(value, name)
    key = (name, value if isinstance(value, str) else f"sympy:{value!r}")
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    expr = parse_formula(value, name)
    fn = translate(expr)
    exp_linear, log_affine = _recognise(expr)
    f = Formula(name=name, text=str(expr), expr=expr, fn=fn, exp_linear=exp_linear, log_affine=log_affine)
    with _LOCK:
        _CACHE[key] = f
    return f


def _wrap_callable(fn: Callable, name: str) -> Formula:
    label = getattr(fn, "__name__", type(fn).__name__)

    def call(x: Tensor, tau: float) -> Tensor:
        try:
            out = fn(x)
        except (Exception, SystemExit) as exc:  # an error in user code (sys.exit too): exit 4 with its traceback
            raise UserCodeError(f"{name}={label}", exc) from exc
        if not isinstance(out, Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise UserCodeError(
                f"{name}={label}", TypeError(f"must map a tensor elementwise (shape {tuple(x.shape)}), returned {got}")
            )
        return out

    return Formula(name=name, text=f"<callable {label}>", expr=None, fn=call, is_callable=True)


def probe(f: Formula) -> None:
    """Call a compiled formula once on a small tensor so that errors surface before any solve."""
    f(torch.linspace(-2.0, 2.0, 5, dtype=torch.float64), 0.5)
