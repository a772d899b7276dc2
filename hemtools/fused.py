"""Closed-form value, gradient and Hessian-vector products of losses written in the Gram blocks.

Every registered pair loss is a function f(G_uu, G_uv, G_vv, p) of the Gram blocks G_uu = U Uᵀ,
G_uv = U Vᵀ, G_vv = V Vᵀ (M × M each) and the positives p_i = u_i·v_i.  With the duals P_b = ∂f/∂G_b
(entries (i, j) and (j, i) of a symmetric block counted as separate variables) and P_p = ∂f/∂p,

    ∇_U f = (P_uu + P_uuᵀ) U + P_uv V + P_p ∘ V,      ∇_V f = P_uvᵀ U + (P_vv + P_vvᵀ) V + P_p ∘ U,

and a Hessian-vector product in the direction (Ů, V̊) is the same formula applied to the direction plus the
same formula with the duals replaced by their directional derivatives dP_b (second derivatives of f in the
Gram entries contracted with dG_uv = Ů Vᵀ + U V̊ᵀ, dG_uu = Ů Uᵀ + U Ůᵀ, …).  Only the blocks a loss uses
are formed: InfoNCE needs G_uv alone, KCL G_uu and p — at M = 256, d = 512 a product costs ~6 matrix
products of 256 × 256 × 512 per configuration, where autograd's double backward over the stacked 2M × 2M
Gram matrix records and replays ~80 operations on four times the entries.

A loss declares its closed form where it registers (``gram=``, hemtools.losses.spec): ``PairKernels``
(KCL and symmetric KCL with the Gaussian, IMQ and log kernels) or ``LogSumExpRows`` (InfoNCE, SimCLR,
NT-Xent, DCL, symmetric DCL, DHEL and symmetric DHEL, written on logits relative to the positive pair as
the losses themselves are).  ``optim.solve`` uses these when the loss declares one; every other loss keeps
autograd.  The certificates never use this module: verify's Hessian is autograd's on the registered loss.
tests/test_fused.py checks value, gradient and HVP against autograd (Taylor slopes and direct comparison)
for every loss that declares a closed form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

Tensor = torch.Tensor
METHOD = "closed form"  # SolveResult.hessian_method when these products were used


# --------------------------------------------------------------------------------------------------------
# array namespaces: the forms below run on torch tensors (the batched solver, any device) and on numpy arrays
# (hemtools.small: one restart of a small problem, where numpy's ~1 µs per operation beats torch's ~3–6 µs
# dispatch and the whole solve is dispatch).  Only what differs between the two is here; ``@``, ``*``,
# ``.sum(axis)``, ``.swapaxes``, ``.diagonal(0, -2, -1)``, ``[..., None]`` and slicing are the same in both.


class _TorchOps:
    exp, log, log1p, sigmoid, zeros_like, ones_like = (torch.exp, torch.log, torch.log1p, torch.sigmoid,
                                                       torch.zeros_like, torch.ones_like)

    @staticmethod
    def rsqrt(a):
        return a.rsqrt()

    @staticmethod
    def abs(a):
        return a.abs()

    @staticmethod
    def clamp_min(a, lo: float):
        return a.clamp_min(lo)

    @staticmethod
    def eye(M: int, like, dtype=None):
        return torch.eye(M, dtype=like.dtype if dtype is None else dtype, device=like.device)

    @staticmethod
    def cat(parts, axis: int):
        return torch.cat(parts, dim=axis)

    @staticmethod
    def tile_cols(a, k: int):
        return a.repeat(1, k)

    @staticmethod
    def fill_where(mask, value: float, a):
        return a.masked_fill(mask, value)

    @staticmethod
    def lse_softmax(z):
        """log Σ_j e^{z_ij} and the softmax of each row (last axis)."""
        return torch.logsumexp(z, -1), torch.softmax(z, -1)

    @staticmethod
    def sum_keep(a):
        return a.sum(-1, keepdim=True)

    @staticmethod
    def detach(a):
        return a.detach()


class _NumpyOps:
    exp, log, log1p, zeros_like, ones_like, abs = np.exp, np.log, np.log1p, np.zeros_like, np.ones_like, np.abs

    @staticmethod
    def sigmoid(a):
        from scipy.special import expit  # a ufunc: accurate in both tails

        return expit(a)

    @staticmethod
    def rsqrt(a):
        return 1.0 / np.sqrt(a)

    @staticmethod
    def clamp_min(a, lo: float):
        return np.maximum(a, lo)

    @staticmethod
    def eye(M: int, like, dtype=None):
        return np.eye(M, dtype=like.dtype if dtype is None else dtype)

    @staticmethod
    def cat(parts, axis: int):
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)

    @staticmethod
    def tile_cols(a, k: int):
        return np.tile(a, (1, k))

    @staticmethod
    def fill_where(mask, value: float, a):
        return np.where(mask, value, a)

    @staticmethod
    def lse_softmax(z):
        m = z.max(-1, keepdims=True)  # finite: every row keeps M − 1 >= 1 entries
        e = np.exp(z - m)
        s = e.sum(-1, keepdims=True)
        return (m + np.log(s))[..., 0], e / s

    @staticmethod
    def sum_keep(a):
        return a.sum(-1, keepdims=True)

    @staticmethod
    def detach(a):
        return a


def _ops(a):
    return _NumpyOps if isinstance(a, np.ndarray) else _TorchOps


def _kernel_derivs(kernel: str, t: float, which: str) -> Callable[[Tensor], tuple[Tensor, Tensor, Tensor]] | None:
    """φ(g), φ'(g), φ''(g) of K(r²), r² = 2 − 2g, for KCL's alignment ("A") or uniformity ("U") kernel."""
    if kernel == "gaussian":
        def fn(G):
            K = _ops(G).exp(-t * (2.0 - 2.0 * G))
            return K, (2.0 * t) * K, (4.0 * t * t) * K
        return fn
    if kernel == "imq":
        def fn(G):
            q = t * t + (2.0 - 2.0 * G)
            K = t * _ops(G).rsqrt(q)
            return K, K / q, (3.0 * K) / (q * q)  # φ' = t q^{-3/2}, φ'' = 3 t q^{-5/2}
        return fn
    if kernel == "log":
        c = 1.0 if which == "A" else 0.5  # K_A = −log(1 + t r²), K_U = −½ log(1 + t r²)
        def fn(G):
            p = 1.0 + t * (2.0 - 2.0 * G)
            return -c * _ops(G).log(p), (2.0 * c * t) / p, (4.0 * c * t * t) / (p * p)
        return fn
    return None


# --------------------------------------------------------------------------------------------------------
# the Gram blocks and the chain rule back to the points (shared by every form)


class _Blocks(dict):
    """Gram blocks of X = [U; V] by name ("uu", "uv", "vv"; "p" the positives), only those asked for."""


def _blocks(U: Tensor, V: Tensor, need: frozenset) -> _Blocks:
    out = _Blocks()
    if "uu" in need:
        out["uu"] = U @ U.swapaxes(-1, -2)
    if "vv" in need:
        out["vv"] = V @ V.swapaxes(-1, -2)
    if "uv" in need:
        out["uv"] = U @ V.swapaxes(-1, -2)
        out["p"] = out["uv"].diagonal(0, -2, -1)
    else:
        out["p"] = (U * V).sum(-1)
    return out


def _direction_blocks(U: Tensor, V: Tensor, dU: Tensor, dV: Tensor, need: frozenset) -> _Blocks:
    """dG_b in the direction (dU, dV)."""
    out = _Blocks()
    if "uu" in need:
        s = dU @ U.swapaxes(-1, -2)
        out["uu"] = s + s.swapaxes(-1, -2)
    if "vv" in need:
        s = dV @ V.swapaxes(-1, -2)
        out["vv"] = s + s.swapaxes(-1, -2)
    if "uv" in need:
        out["uv"] = dU @ V.swapaxes(-1, -2) + U @ dV.swapaxes(-1, -2)
    out["p"] = (dU * V + U * dV).sum(-1)
    return out


def _pullback(P: Mapping[str, Tensor], U: Tensor, V: Tensor, dU: Tensor | None = None,
              dV: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(∂/∂U, ∂/∂V) of Σ_b <P_b, G_b> + <P_p, p> at (U, V) applied to (dU, dV) (default: (U, V) themselves,
    the gradient): (P_uu + P_uuᵀ) dU + P_uv dV + P_p ∘ dV, and the same for V."""
    dU = U if dU is None else dU
    dV = V if dV is None else dV
    pp = P["p"][..., None]
    gU = pp * dV
    gV = pp * dU
    # "uu_s"/"vv_s": a dual already symmetrised (P + Pᵀ), as KCL's are (fewer operations per product)
    if "uu_s" in P:
        gU = gU + P["uu_s"] @ dU
    elif "uu" in P:
        gU = gU + (P["uu"] + P["uu"].swapaxes(-1, -2)) @ dU
    if "vv_s" in P:
        gV = gV + P["vv_s"] @ dV
    elif "vv" in P:
        gV = gV + (P["vv"] + P["vv"].swapaxes(-1, -2)) @ dV
    if "uv" in P:
        gU = gU + P["uv"] @ dV
        gV = gV + P["uv"].swapaxes(-1, -2) @ dU
    return gU, gV


# --------------------------------------------------------------------------------------------------------
# the two declared families: what each contributes to the value, the duals and their derivatives


class _PairKernelTerms:
    """KCL: −(w_A/M) Σ_i φ_A(p_i) + γ/(M(M−1)) Σ_{i≠j} φ_U(G_uu,ij) (+ the same on G_vv when symmetric)."""

    def __init__(self, form, M: int):
        self.fa = _kernel_derivs(form.kernel, form.t, "A")
        self.fu = _kernel_derivs(form.kernel, form.t, "U")
        if self.fa is None or self.fu is None:
            raise ValueError(f"no closed-form derivatives of the {form.kernel} kernel")
        self.wa = -form.alignment_weight / M
        self.wu = form.gamma / (M * (M - 1))
        self.sym = bool(form.symmetric)
        self.need = frozenset(("uu", "vv") if self.sym else ("uu",))
        self.M = M

    def _weights(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """γ/(M(M−1)) off the diagonal, and twice that (the symmetrised duals), once per dtype and device."""
        xp = _ops(like)
        key = (xp, like.dtype, getattr(like, "device", None))
        if getattr(self, "_key", None) != key:
            off = 1.0 - xp.eye(self.M, like)
            self._w, self._w2, self._key = self.wu * off, (2.0 * self.wu) * off, key
        return self._w, self._w2

    def evaluate(self, G: _Blocks, second: bool):
        w, w2 = self._weights(G["p"])
        phi, d1, d2 = self.fa(G["p"])
        val = self.wa * phi.sum(-1)
        P = {"p": self.wa * d1}
        state = {"p": self.wa * d2} if second else None
        for b in sorted(self.need):  # symmetric blocks, symmetric weights: the duals are stored as P + Pᵀ
            k, k1, k2 = self.fu(G[b])
            val = val + (w * k).sum((-2, -1))
            P[b + "_s"] = w2 * k1
            if second:
                state[b] = w2 * k2
        return val, P, state

    @staticmethod
    def direction(state, dG: _Blocks) -> dict:
        return {(b if b == "p" else b + "_s"): w2 * dG[b] for b, w2 in state.items()}

    @staticmethod
    def select_state(state, idx: Tensor):
        return {b: w2[idx] for b, w2 in state.items()}


_BLOCK = {("u", "v"): ("uv", False), ("u", "u"): ("uu", False), ("v", "u"): ("uv", True), ("v", "v"): ("vv", False)}


class _LogSumExpTerms:
    """Σ_rows weight/M Σ_i log(κ + Σ_{blocks} Σ_{j≠i} e^{z_ij}), z_ij = (G_b,ij − r p_i)/τ (spec.LogSumExpRow).

    With q_ij = e^{z_ij}/(κ + S_i) (a softmax times σ(LSE_i) for κ = 1), ∂/∂z = q and ∂²/∂z² = diag(q) − q qᵀ:
    dq = q ∘ dz − q Σ_j q_ij dz_ij.  The positive's dual is −r Σ_j q_ij/τ, its derivative −r (1 − Q_i) Σ_j q dz/τ
    with Q_i = Σ_j q_ij (= σ(LSE_i) for κ = 1, exactly 1 for κ = 0, where that derivative vanishes)."""

    def __init__(self, form, M: int):
        self.rows = []
        for row in form.rows:
            if row.kappa not in (0, 1) or row.anchor not in ("u", "v") or not row.negatives:
                raise ValueError(f"unsupported log-sum-exp row {row}")
            self.rows.append((row, [_BLOCK[(row.anchor, y)] for y in row.negatives]))
        self.tau = float(form.tau)
        self.M = M
        self.need = frozenset(b for _, blocks in self.rows for b, _ in blocks)

    def evaluate(self, G: _Blocks, second: bool):
        M, tau = self.M, self.tau
        p = G["p"]
        xp = _ops(p)
        eye = xp.eye(M, p, dtype=bool)
        val = xp.zeros_like(p[..., 0])
        P: dict[str, Tensor] = {"p": xp.zeros_like(p)}
        state = [] if second else None
        for row, blocks in self.rows:
            r = 1.0 if row.relative else 0.0
            w = row.weight / M
            z = xp.cat([(G[b].swapaxes(-1, -2) if tr else G[b]) for b, tr in blocks], -1)
            z = xp.fill_where(xp.tile_cols(eye, len(blocks)), float("-inf"), (z - r * p[..., None]) / tau)
            lse, q = xp.lse_softmax(z)
            if row.kappa == 1:  # log(1 + e^LSE) = softplus, q = softmax · σ(LSE), 1 − Q = σ(−LSE)
                term = xp.clamp_min(lse, 0.0) + xp.log1p(xp.exp(-xp.abs(lse)))
                Q, rest = xp.sigmoid(lse), xp.sigmoid(-lse)
                q = q * Q[..., None]
            else:
                term, Q, rest = lse, xp.ones_like(lse), None
            val = val + w * term.sum(-1)
            for k, (b, tr) in enumerate(blocks):
                qb = q[..., k * M:(k + 1) * M]
                self._add(P, b, (w / tau) * (qb.swapaxes(-1, -2) if tr else qb))
            P["p"] = P["p"] - (r * w / tau) * Q
            if second:
                state.append((q, rest, w, r, blocks))
        return val, P, state

    @staticmethod
    def select_state(state, idx: Tensor):
        return [(q[idx], None if rest is None else rest[idx], w, r, blocks) for q, rest, w, r, blocks in state]

    @staticmethod
    def _add(P: dict, b: str, t: Tensor) -> None:
        P[b] = t if b not in P else P[b] + t

    def direction(self, state, dG: _Blocks) -> dict:
        M, tau = self.M, self.tau
        xp = _ops(dG["p"])
        dP: dict[str, Tensor] = {"p": xp.zeros_like(dG["p"])}
        for q, rest, w, r, blocks in state:
            dz = xp.cat([(dG[b].swapaxes(-1, -2) if tr else dG[b]) for b, tr in blocks], -1)
            dz = (dz - r * dG["p"][..., None]) / tau
            qdz = q * dz  # q = 0 on the removed diagonal
            s = xp.sum_keep(qdz)
            dq = qdz - q * s
            for k, (b, tr) in enumerate(blocks):
                qb = dq[..., k * M:(k + 1) * M]
                self._add(dP, b, (w / tau) * (qb.swapaxes(-1, -2) if tr else qb))
            if rest is not None and r:  # Σ_j dq_ij = (1 − Q_i) Σ_j q dz (0 for κ = 0)
                dP["p"] = dP["p"] - (r * w / tau) * rest * s[..., 0]
        return dP


# --------------------------------------------------------------------------------------------------------
# the solver's interface


@dataclass
class GramLoss:
    """A loss with closed-form derivatives in its Gram blocks: value(X), value_grad(X), model(X) on stacked
    points X = [U; V] of shape (B, 2M, d)."""

    terms: Any  # _PairKernelTerms | _LogSumExpTerms
    M: int

    def _split(self, X: Tensor) -> tuple[Tensor, Tensor]:
        return X[..., :self.M, :], X[..., self.M:, :]

    def value(self, X: Tensor) -> Tensor:
        U, V = self._split(X)
        return self.terms.evaluate(_blocks(U, V, self.terms.need), False)[0]

    def value_grad(self, X: Tensor) -> tuple[Tensor, Tensor]:
        U, V = self._split(X)
        val, P, _ = self.terms.evaluate(_blocks(U, V, self.terms.need), False)
        gU, gV = _pullback(P, U, V)
        return val, _ops(X).cat([gU, gV], -2)

    def model(self, X: Tensor) -> FusedModel:
        xp = _ops(X)
        X = xp.detach(X)
        U, V = self._split(X)
        val, P, state = self.terms.evaluate(_blocks(U, V, self.terms.need), True)
        gU, gV = _pullback(P, U, V)
        eg = xp.cat([gU, gV], -2)
        xeg = xp.sum_keep(X * eg)
        return FusedModel(x=X, value=val, egrad=eg, rgrad=eg - xeg * X, xeg=xeg, loss=self, P=P, state=state)


@dataclass
class FusedModel:
    """Same interface as sphere.SecondOrderModel: value, egrad, rgrad at x and hvp(v)."""

    x: Tensor
    value: Tensor
    egrad: Tensor
    rgrad: Tensor
    xeg: Tensor  # (B, N, 1) x_a·egrad_a
    loss: GramLoss
    P: dict
    state: Any

    def select(self, idx: Tensor) -> FusedModel:
        """The model of the configurations ``idx`` of the batch alone (Hessian-vector products for the
        restarts still iterating, not for the whole batch)."""
        return FusedModel(x=self.x[idx], value=self.value[idx], egrad=self.egrad[idx], rgrad=self.rgrad[idx],
                          xeg=self.xeg[idx], loss=self.loss, P={b: t[idx] for b, t in self.P.items()},
                          state=self.loss.terms.select_state(self.state, idx))

    def hvp(self, v: Tensor) -> Tensor:
        X, L = self.x, self.loss
        U, V = L._split(X)
        dU, dV = L._split(v)
        dP = L.terms.direction(self.state, _direction_blocks(U, V, dU, dV, L.terms.need))
        aU, aV = _pullback(self.P, U, V, dU, dV)
        bU, bV = _pullback(dP, U, V)
        xp = _ops(X)
        ehv = xp.cat([aU + bU, aV + bV], -2)
        # Riemannian Hessian on the sphere: P_x(ehv) − (x·egrad) v  (sphere.ehess_to_rhess)
        return ehv - xp.sum_keep(X * ehv) * X - self.xeg * v


_FAMILIES = {"PairKernels": _PairKernelTerms, "LogSumExpRows": _LogSumExpTerms}


def for_loss(spec, M: int, params: Mapping[str, Any]) -> GramLoss | None:
    """The closed form the loss declares (``gram=`` at registration), or None (the solver uses autograd)."""
    if getattr(spec, "user_code", False) or getattr(spec, "kind", "pairs") != "pairs":
        return None
    form, _ = spec.forms.resolve("gram", params)
    family = _FAMILIES.get(type(form).__name__)
    if family is None:
        return None
    return GramLoss(family(form, M), M)


__all__ = ["METHOD", "FusedModel", "GramLoss", "for_loss"]
