"""The SPEC §1 losses, their gradients and Hessians, written once for any scalar type (float, arb, sympy).

Every loss here is a function of the Gram matrix G of the stacked points X = [U; V] (N = 2M rows; u_i is
row i, v_i row M+i), written as a sum of *terms*:

    LSE term    ω · log(c0 + Σ_k e^{z_k})      z_k = Σ c·G[a][b] (a linear form in G), c0 ∈ {0, 1}
    pair term   ω · φ(G[a][b])                 φ a kernel of the inner product, with φ' and φ''

    infonce   (1/M) Σ_i log(1 + Σ_{j≠i} e^{(u_i·v_j − u_i·v_i)/τ})                          c0 = 1
    simclr    (1/M) Σ_i log(1 + Σ_{j≠i} e^{(u_i·v_j − u_i·v_i)/τ} + Σ_{j≠i} e^{(u_i·u_j − u_i·v_i)/τ})
    nt_xent   ½ (simclr(U, V) + simclr(V, U))
    dcl       as simclr with c0 = 0
    dcl_sym   ½ (dcl(U, V) + dcl(V, U))
    dhel      (1/M) Σ_i log Σ_{j≠i} e^{(u_i·u_j − u_i·v_i)/τ}                                c0 = 0
    dhel_sym  dhel + (1/M) Σ_i log Σ_{j≠i} e^{v_i·v_j/τ}
    kcl       −(1/M) Σ_i K_A(u_i·v_i) + γ/(M(M−1)) Σ_{i≠j} K_U(u_i·u_j), kernels gaussian / imq / log
    kcl_sym   kcl(U, V) + kcl(V, U)

These are the paper forms of SPEC §1 divided through by e^{u_i·v_i/τ} (as hemtools.losses computes them).
Derivatives (G's entries treated as independent variables, then dG = ξXᵀ + Xξᵀ, d²G = 2ξξᵀ):

    ∂L/∂G = Γ  (accumulated from ω p_k c for the LSE terms, p = softmax weights; ω φ' for pair terms)
    ∇_X L = (Γ + Γᵀ) X
    ∇²_X L = Jᵀ W J + (Γ + Γᵀ) ⊗ I_d

with J the Jacobian of all forms z (one row each: c·x_b in block a, c·x_a in block b) and W block
diagonal: ω(diag p − p pᵀ) for an LSE term, ω φ'' for a pair term.  Parameters enter as exact rationals
(τ = 0.2 is 1/5, the decimal as written; ``exact_param``).  Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import ArgumentError

# ---------------------------------------------------------------------------------------------------------
# scalar back ends: the same formulas run on floats, arb balls and sympy expressions


class FloatOps:
    name = "float"

    @staticmethod
    def const(q):
        return float(q)

    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    sqrt = staticmethod(math.sqrt)

    @staticmethod
    def shift(zs):
        return max(zs)


class ArbOps:
    name = "arb"

    @staticmethod
    def const(q):
        from flint import arb, fmpq

        q = Fraction(q)
        return arb(fmpq(q.numerator, q.denominator))

    @staticmethod
    def exp(x):
        return x.exp()

    @staticmethod
    def log(x):
        return x.log()

    @staticmethod
    def sqrt(x):
        return x.sqrt()

    @staticmethod
    def shift(zs):
        from flint import arb

        return arb(max(float(z.mid()) for z in zs))  # an exact dyadic number: any shift is exact algebra


class SympyOps:
    name = "sympy"

    @staticmethod
    def const(q):
        import sympy

        q = Fraction(q)
        return sympy.Rational(q.numerator, q.denominator)

    @staticmethod
    def exp(x):
        import sympy

        return sympy.exp(x)

    @staticmethod
    def log(x):
        import sympy

        return sympy.log(x)

    @staticmethod
    def sqrt(x):
        import sympy

        return sympy.sqrt(x)

    @staticmethod
    def shift(zs):
        return 0


def exact_param(value) -> Fraction:
    """A parameter as an exact rational: the shortest decimal that round-trips the float (0.2 -> 1/5)."""
    if isinstance(value, Fraction):
        return value
    return Fraction(repr(float(value)))


# ---------------------------------------------------------------------------------------------------------
# terms


@dataclass(frozen=True)
class Form:
    """z = Σ c·G[a][b] over ``pairs`` = ((c, a, b), …), c rational."""

    pairs: tuple


@dataclass(frozen=True)
class LSETerm:
    weight: Fraction
    c0: int
    forms: tuple  # of Form


@dataclass(frozen=True)
class PairTerm:
    weight: Fraction
    a: int
    b: int
    kernel: Callable  # kernel(ops, g) -> (φ, φ', φ'') as functions of the inner product g


def _gaussian(t: Fraction):
    def k(ops, g):  # e^{−t(2 − 2g)}
        v = ops.exp(ops.const(-2 * t) + ops.const(2 * t) * g)
        return v, ops.const(2 * t) * v, ops.const(4 * t * t) * v
    return k


def _imq(c: Fraction):
    def k(ops, g):  # c / √(c² + 2 − 2g);  d/dg = c (c²+r²)^{-3/2};  d²/dg² = 3c (c²+r²)^{-5/2}
        q = ops.const(c * c + 2) - ops.const(2) * g
        s = ops.sqrt(q)
        v = ops.const(c) / s
        return v, v / q, ops.const(3) * v / (q * q)
    return k


def _log(t: Fraction, factor: Fraction):
    def k(ops, g):  # factor · log(1 + t(2 − 2g)); d/dg = −2t·factor/q; d²/dg² = −4t²·factor/q²
        q = ops.const(1 + 2 * t) - ops.const(2 * t) * g
        return (ops.const(factor) * ops.log(q), ops.const(-2 * t * factor) / q,
                ops.const(-4 * t * t * factor) / (q * q))
    return k


def _kernels(kernel: str, t: Fraction):
    """(K_U, K_A) of SPEC §1 for the smooth kernels."""
    if kernel == "gaussian":
        return _gaussian(t), _gaussian(t)
    if kernel == "imq":
        return _imq(t), _imq(t)
    if kernel == "log":
        return _log(t, Fraction(-1, 2)), _log(t, Fraction(-1))
    raise ArgumentError(f"kernel: --rigorous supports the smooth KCL kernels gaussian, imq and log, got {kernel!r} "
                        "(Riesz kernels are not twice differentiable at the aligned point)")


def _relative_lse(M, tau, anchor, positive, others, c0, weight):
    inv = 1 / tau
    forms = tuple(Form(((inv, anchor, b), (-inv, anchor, positive))) for b in others)
    return LSETerm(weight, c0, forms)


def _infonce(M, p):
    tau = exact_param(p["tau"])
    return [_relative_lse(M, tau, i, M + i, [M + j for j in range(M) if j != i], 1, Fraction(1, M))
            for i in range(M)]


def _simclr_rows(M, tau, c0, weight, swap=False):
    off = M if swap else 0  # anchors: u (rows 0..M−1) or, swapped, v (rows M..2M−1)
    other = 0 if swap else M
    out = []
    for i in range(M):
        a, pos = off + i, other + i
        bs = [other + j for j in range(M) if j != i] + [off + j for j in range(M) if j != i]
        out.append(_relative_lse(M, tau, a, pos, bs, c0, weight))
    return out


def _simclr(M, p):
    return _simclr_rows(M, exact_param(p["tau"]), 1, Fraction(1, M))


def _nt_xent(M, p):
    tau = exact_param(p["tau"])
    return _simclr_rows(M, tau, 1, Fraction(1, 2 * M)) + _simclr_rows(M, tau, 1, Fraction(1, 2 * M), swap=True)


def _dcl(M, p):
    return _simclr_rows(M, exact_param(p["tau"]), 0, Fraction(1, M))


def _dcl_sym(M, p):
    tau = exact_param(p["tau"])
    return _simclr_rows(M, tau, 0, Fraction(1, 2 * M)) + _simclr_rows(M, tau, 0, Fraction(1, 2 * M), swap=True)


def _dhel(M, p):
    tau = exact_param(p["tau"])
    return [_relative_lse(M, tau, i, M + i, [j for j in range(M) if j != i], 0, Fraction(1, M)) for i in range(M)]


def _dhel_sym(M, p):
    tau = exact_param(p["tau"])
    second = [LSETerm(Fraction(1, M), 0, tuple(Form(((1 / tau, M + i, M + j),)) for j in range(M) if j != i))
              for i in range(M)]
    return _dhel(M, p) + second


def _kcl_terms(M, p, swap=False):
    t, gamma = exact_param(p["t"]), exact_param(p["gamma"])
    ku, ka = _kernels(p.get("kernel", "gaussian"), t)
    base = M if swap else 0
    out = [PairTerm(Fraction(-1, M), i, M + i, ka) for i in range(M)] if not swap else []
    w = gamma / (M * (M - 1))
    out += [PairTerm(w, base + i, base + j, ku) for i in range(M) for j in range(M) if i != j]
    return out


def _kcl(M, p):
    return _kcl_terms(M, p)


def _kcl_sym(M, p):
    align = [PairTerm(Fraction(-2, M), i, M + i, _kernels(p.get("kernel", "gaussian"), exact_param(p["t"]))[1])
             for i in range(M)]
    return align + _kcl_terms(M, p)[M:] + _kcl_terms(M, p, swap=True)


# name -> (builder(M, params) -> terms, default parameters)
LOSSES: dict[str, tuple[Callable, dict]] = {
    "infonce": (_infonce, {"tau": 0.5}),
    "simclr": (_simclr, {"tau": 0.5}),
    "nt_xent": (_nt_xent, {"tau": 0.5}),
    "dcl": (_dcl, {"tau": 0.5}),
    "dcl_sym": (_dcl_sym, {"tau": 0.5}),
    "dhel": (_dhel, {"tau": 0.3}),
    "dhel_sym": (_dhel_sym, {"tau": 0.3}),
    "kcl": (_kcl, {"t": 2.0, "gamma": 16.0, "kernel": "gaussian"}),
    "kcl_sym": (_kcl_sym, {"t": 2.0, "gamma": 16.0, "kernel": "gaussian"}),
}
SPEC_LOSSES = ("infonce", "simclr", "dcl", "dhel", "kcl")


def loss_terms(name: str, M: int, params: dict | None = None) -> list:
    """The terms of loss ``name`` for M pairs (parameters: SPEC defaults, overridden by ``params``)."""
    if name not in LOSSES:
        raise ArgumentError(f"loss: --rigorous knows the losses {', '.join(LOSSES)}; got {name!r}")
    build, defaults = LOSSES[name]
    p = {**defaults, **{k: v for k, v in (params or {}).items() if k in defaults or k == "s"}}
    if name.startswith("kcl") and p.get("kernel", "gaussian") not in ("gaussian", "imq", "log"):
        _kernels(p["kernel"], Fraction(1))  # raises the explanation
    return build(M, p)


def negated(terms: list) -> list:
    """The same terms with the opposite sign (a planted wrong-sign loss for negative controls)."""
    out = []
    for t in terms:
        if isinstance(t, LSETerm):
            out.append(LSETerm(-t.weight, t.c0, t.forms))
        else:
            out.append(PairTerm(-t.weight, t.a, t.b, t.kernel))
    return out


# ---------------------------------------------------------------------------------------------------------
# evaluation: value, Γ = ∂L/∂G and the second-order structure, generic in the scalar type


@dataclass
class Evaluation:
    value: object
    gamma: dict  # (a, b) -> ∂L/∂G[a][b]
    rows: list = field(default_factory=list)  # (Form, w) : the diagonal of W
    lowrank: list = field(default_factory=list)  # (ω, first row index, p list): −ω p pᵀ blocks of W


def _form_value(ops, form: Form, G):
    z = None
    for c, a, b in form.pairs:
        v = ops.const(c) * G[a][b]
        z = v if z is None else z + v
    return z


def evaluate(terms: list, G, ops) -> Evaluation:
    """Loss value, Γ and W at the Gram matrix G (entries of the back end's scalar type)."""
    value = ops.const(0)
    gamma: dict = {}
    ev = Evaluation(value, gamma)

    def add_gamma(key, v):
        gamma[key] = gamma[key] + v if key in gamma else v

    for term in terms:
        w = ops.const(term.weight)
        if isinstance(term, LSETerm):
            zs = [_form_value(ops, f, G) for f in term.forms]
            m = ops.shift(zs + ([ops.const(0)] if term.c0 else []))
            es = [ops.exp(z - m) for z in zs]
            denom = ops.const(term.c0) * ops.exp(-m) if term.c0 else None
            for e in es:
                denom = e if denom is None else denom + e
            value = value + w * (ops.log(denom) + m)
            ps = [e / denom for e in es]
            first = len(ev.rows)
            for f, pk in zip(term.forms, ps, strict=True):
                ev.rows.append((f, w * pk))
                for c, a, b in f.pairs:
                    add_gamma((a, b), w * pk * ops.const(c))
            ev.lowrank.append((w, first, ps))
        else:
            phi, d1, d2 = term.kernel(ops, G[term.a][term.b])
            value = value + w * phi
            add_gamma((term.a, term.b), w * d1)
            ev.rows.append((Form(((1, term.a, term.b),)), w * d2))
    ev.value = value
    return ev


def symmetric_gamma(ev: Evaluation, N: int, ops) -> list:
    """S = Γ + Γᵀ as an N×N list; None where no term depends on G[a][b] (a structural zero: a ball that
    merely contains 0 is never dropped)."""
    S = [[None] * N for _ in range(N)]
    for (a, b), v in ev.gamma.items():
        S[a][b] = v if S[a][b] is None else S[a][b] + v
        S[b][a] = v if S[b][a] is None else S[b][a] + v
    return S


# ---------------------------------------------------------------------------------------------------------
# matrix back ends (numpy for floats, arb_mat for balls) and the assembly of ∇L and ∇²L


class NumpyMat:
    def __init__(self):
        import numpy as np

        self.np = np

    def zeros(self, n, m):
        return self.np.zeros((n, m))

    def mul(self, A, B):
        return A @ B

    def T(self, A):
        return A.T


class ArbMat:
    def zeros(self, n, m):
        from flint import arb_mat

        return arb_mat(n, m)

    def mul(self, A, B):
        return A * B

    def T(self, A):
        return A.transpose()


def assemble(ev: Evaluation, X, ops, mat) -> tuple:
    """(Euclidean gradient as an N×d list, Euclidean Hessian as an Nd×Nd matrix) at the points X (N×d list)."""
    N, d = len(X), len(X[0])
    nd = N * d
    S = symmetric_gamma(ev, N, ops)
    grad = []
    for a in range(N):
        row = [ops.const(0)] * d
        for b in range(N):
            s = S[a][b]
            if s is not None:
                Xb = X[b]
                row = [row[k] + s * Xb[k] for k in range(d)]
        grad.append(row)
    R = len(ev.rows)
    J = mat.zeros(R, nd)
    JW = mat.zeros(R, nd)
    for r, (form, w) in enumerate(ev.rows):
        entries: dict = {}
        for c, a, b in form.pairs:
            cc = ops.const(c)
            for k in range(d):
                for i, v in ((a * d + k, cc * X[b][k]), (b * d + k, cc * X[a][k])):
                    entries[i] = entries[i] + v if i in entries else v
        for i, v in entries.items():
            J[r, i] = v
            JW[r, i] = v * w
    H = mat.mul(mat.T(J), JW)
    if ev.lowrank:
        T = len(ev.lowrank)
        Pm = mat.zeros(R, T)
        Pw = mat.zeros(R, T)
        for t, (w, first, ps) in enumerate(ev.lowrank):
            for k, pk in enumerate(ps):
                Pm[first + k, t] = pk
                Pw[first + k, t] = pk * w
        Jt = mat.T(J)
        H = H - mat.mul(mat.mul(Jt, Pw), mat.T(mat.mul(Jt, Pm)))
    for a in range(N):
        for b in range(N):
            s = S[a][b]
            if s is not None:
                for k in range(d):
                    H[a * d + k, b * d + k] = H[a * d + k, b * d + k] + s
    return grad, H
