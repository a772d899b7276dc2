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

import torch

Tensor = torch.Tensor
METHOD = "closed form"  # SolveResult.hessian_method when these products were used


def _kernel_derivs(kernel: str, t: float, which: str) -> Callable[[Tensor], tuple[Tensor, Tensor, Tensor]] | None:
    """φ(g), φ'(g), φ''(g) of K(r²), r² = 2 − 2g, for KCL's alignment ("A") or uniformity ("U") kernel."""
    if kernel == "gaussian":
        def fn(G):
            K = torch.exp(-t * (2.0 - 2.0 * G))
            return K, (2.0 * t) * K, (4.0 * t * t) * K
        return fn
    if kernel == "imq":
        def fn(G):
            q = t * t + (2.0 - 2.0 * G)
            K = t * q.rsqrt()
            return K, K / q, (3.0 * K) / (q * q)  # φ' = t q^{-3/2}, φ'' = 3 t q^{-5/2}
        return fn
    if kernel == "log":
        c = 1.0 if which == "A" else 0.5  # K_A = −log(1 + t r²), K_U = −½ log(1 + t r²)
        def fn(G):
            p = 1.0 + t * (2.0 - 2.0 * G)
            return -c * torch.log(p), (2.0 * c * t) / p, (4.0 * c * t * t) / (p * p)
        return fn
    return None


# --------------------------------------------------------------------------------------------------------
# the Gram blocks and the chain rule back to the points (shared by every form)


class _Blocks(dict):
    """Gram blocks of X = [U; V] by name ("uu", "uv", "vv"; "p" the positives), only those asked for."""


def _blocks(U: Tensor, V: Tensor, need: frozenset) -> _Blocks:
    out = _Blocks()
    if "uu" in need:
        out["uu"] = U @ U.transpose(-1, -2)
    if "vv" in need:
        out["vv"] = V @ V.transpose(-1, -2)
    if "uv" in need:
        out["uv"] = U @ V.transpose(-1, -2)
        out["p"] = torch.diagonal(out["uv"], dim1=-2, dim2=-1)
    else:
        out["p"] = (U * V).sum(-1)
    return out


def _direction_blocks(U: Tensor, V: Tensor, dU: Tensor, dV: Tensor, need: frozenset) -> _Blocks:
    """dG_b in the direction (dU, dV)."""
    out = _Blocks()
    if "uu" in need:
        s = dU @ U.transpose(-1, -2)
        out["uu"] = s + s.transpose(-1, -2)
    if "vv" in need:
        s = dV @ V.transpose(-1, -2)
        out["vv"] = s + s.transpose(-1, -2)
    if "uv" in need:
        out["uv"] = dU @ V.transpose(-1, -2) + U @ dV.transpose(-1, -2)
    out["p"] = (dU * V + U * dV).sum(-1)
    return out


def _pullback(P: Mapping[str, Tensor], U: Tensor, V: Tensor, dU: Tensor | None = None,
              dV: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(∂/∂U, ∂/∂V) of Σ_b <P_b, G_b> + <P_p, p> at (U, V) applied to (dU, dV) (default: (U, V) themselves,
    the gradient): (P_uu + P_uuᵀ) dU + P_uv dV + P_p ∘ dV, and the same for V."""
    dU = U if dU is None else dU
    dV = V if dV is None else dV
    pp = P["p"].unsqueeze(-1)
    gU = pp * dV
    gV = pp * dU
    # "uu_s"/"vv_s": a dual already symmetrised (P + Pᵀ), as KCL's are (fewer operations per product)
    if "uu_s" in P:
        gU = gU + P["uu_s"] @ dU
    elif "uu" in P:
        gU = gU + (P["uu"] + P["uu"].transpose(-1, -2)) @ dU
    if "vv_s" in P:
        gV = gV + P["vv_s"] @ dV
    elif "vv" in P:
        gV = gV + (P["vv"] + P["vv"].transpose(-1, -2)) @ dV
    if "uv" in P:
        gU = gU + P["uv"] @ dV
        gV = gV + P["uv"].transpose(-1, -2) @ dU
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
        key = (like.dtype, like.device)
        if getattr(self, "_key", None) != key:
            off = 1.0 - torch.eye(self.M, dtype=like.dtype, device=like.device)
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
        eye = torch.eye(M, dtype=torch.bool, device=G["p"].device)
        p = G["p"]
        val = torch.zeros_like(p[..., 0])
        P: dict[str, Tensor] = {"p": torch.zeros_like(p)}
        state = [] if second else None
        for row, blocks in self.rows:
            r = 1.0 if row.relative else 0.0
            w = row.weight / M
            z = torch.cat([(G[b].transpose(-1, -2) if tr else G[b]) for b, tr in blocks], dim=-1)
            z = ((z - r * p.unsqueeze(-1)) / tau).masked_fill(eye.repeat(1, len(blocks)), float("-inf"))
            lse = torch.logsumexp(z, -1)
            q = torch.softmax(z, -1)
            if row.kappa == 1:  # log(1 + e^LSE) = softplus, q = softmax · σ(LSE), 1 − Q = σ(−LSE)
                term = lse.clamp_min(0.0) + torch.log1p(torch.exp(-lse.abs()))
                q = q * torch.sigmoid(lse).unsqueeze(-1)
                Q, rest = torch.sigmoid(lse), torch.sigmoid(-lse)
            else:
                term, Q, rest = lse, torch.ones_like(lse), None
            val = val + w * term.sum(-1)
            for k, (b, tr) in enumerate(blocks):
                qb = q[..., k * M:(k + 1) * M]
                self._add(P, b, (w / tau) * (qb.transpose(-1, -2) if tr else qb))
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
        dP: dict[str, Tensor] = {"p": torch.zeros_like(dG["p"])}
        for q, rest, w, r, blocks in state:
            dz = torch.cat([(dG[b].transpose(-1, -2) if tr else dG[b]) for b, tr in blocks], dim=-1)
            dz = (dz - r * dG["p"].unsqueeze(-1)) / tau
            qdz = q * dz  # q = 0 on the removed diagonal
            s = qdz.sum(-1, keepdim=True)
            dq = qdz - q * s
            for k, (b, tr) in enumerate(blocks):
                qb = dq[..., k * M:(k + 1) * M]
                self._add(dP, b, (w / tau) * (qb.transpose(-1, -2) if tr else qb))
            if rest is not None and r:  # Σ_j dq_ij = (1 − Q_i) Σ_j q dz (0 for κ = 0)
                dP["p"] = dP["p"] - (r * w / tau) * rest * s.squeeze(-1)
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
        return val, torch.cat([gU, gV], dim=-2)

    def model(self, X: Tensor) -> FusedModel:
        X = X.detach()
        U, V = self._split(X)
        val, P, state = self.terms.evaluate(_blocks(U, V, self.terms.need), True)
        gU, gV = _pullback(P, U, V)
        eg = torch.cat([gU, gV], dim=-2)
        xeg = (X * eg).sum(-1, keepdim=True)
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
        ehv = torch.cat([aU + bU, aV + bV], dim=-2)
        # Riemannian Hessian on the sphere: P_x(ehv) − (x·egrad) v  (sphere.ehess_to_rhess)
        return ehv - (X * ehv).sum(-1, keepdim=True) * X - self.xeg * v


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
