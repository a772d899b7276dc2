"""Plain-Python loop references of the losses, in 50-digit arithmetic (mpmath).

Written straight from SPEC §1 with explicit sums and exp/log (no log-sum-exp, no tensors), so they are
independent of the vectorised implementations they check.
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 50


def _dot(a, b):
    return mp.fsum(mp.mpf(x) * mp.mpf(y) for x, y in zip(a, b, strict=False))


def _rows(t):
    return [list(map(float, row)) for row in t.tolist()]


def infonce(U, V, tau):
    U, V = _rows(U), _rows(V)
    M = len(U)
    tot = 0
    for i in range(M):
        den = mp.fsum(mp.exp(_dot(U[i], V[j]) / tau) for j in range(M))
        tot += -mp.log(mp.exp(_dot(U[i], V[i]) / tau) / den)
    return tot / M


def simclr(U, V, tau):
    U, V = _rows(U), _rows(V)
    M = len(U)
    tot = 0
    for i in range(M):
        den = mp.fsum(mp.exp(_dot(U[i], V[j]) / tau) for j in range(M))
        den += mp.fsum(mp.exp(_dot(U[i], U[j]) / tau) for j in range(M) if j != i)
        tot += -mp.log(mp.exp(_dot(U[i], V[i]) / tau) / den)
    return tot / M


def nt_xent(U, V, tau):
    return (simclr(U, V, tau) + simclr(V, U, tau)) / 2


def dcl(U, V, tau):
    U, V = _rows(U), _rows(V)
    M = len(U)
    tot = 0
    for i in range(M):
        den = mp.fsum(mp.exp(_dot(U[i], V[j]) / tau) for j in range(M) if j != i)
        den += mp.fsum(mp.exp(_dot(U[i], U[j]) / tau) for j in range(M) if j != i)
        tot += -mp.log(mp.exp(_dot(U[i], V[i]) / tau) / den)
    return tot / M


def dcl_sym(U, V, tau):
    return (dcl(U, V, tau) + dcl(V, U, tau)) / 2


def dhel(U, V, tau):
    U, V = _rows(U), _rows(V)
    M = len(U)
    tot = 0
    for i in range(M):
        den = mp.fsum(mp.exp(_dot(U[i], U[j]) / tau) for j in range(M) if j != i)
        tot += -mp.log(mp.exp(_dot(U[i], V[i]) / tau) / den)
    return tot / M


def dhel_sym(U, V, tau):
    U, V = _rows(U), _rows(V)
    M = len(U)
    tot = 0
    for i in range(M):
        du = mp.fsum(mp.exp(_dot(U[i], U[j]) / tau) for j in range(M) if j != i)
        dv = mp.fsum(mp.exp(_dot(V[i], V[j]) / tau) for j in range(M) if j != i)
        tot += -mp.log(mp.exp(_dot(U[i], V[i]) / tau) / (du * dv))
    return tot / M


def _sqdist(a, b):
    return mp.fsum((mp.mpf(x) - mp.mpf(y)) ** 2 for x, y in zip(a, b, strict=False))


def _kernels(kernel, t, s):
    t, s = mp.mpf(t), mp.mpf(s)
    if kernel == "gaussian":
        k = lambda r2: mp.exp(-t * r2)  # noqa: E731
        return k, k
    if kernel == "imq":
        k = lambda r2: t / mp.sqrt(t * t + r2)  # noqa: E731
        return k, k
    if kernel == "log":
        return (lambda r2: -mp.log(t * r2 + 1) / 2), (lambda r2: -mp.log(t * r2 + 1))
    riesz = (lambda r2: -mp.sqrt(r2) ** abs(s)) if s < 0 else (lambda r2: mp.sqrt(r2) ** (-s))
    if kernel == "riesz":
        return riesz, (lambda r2: -mp.sqrt(r2) ** abs(s))
    if kernel == "gaussian_riesz":
        return riesz, (lambda r2: mp.exp(-t * r2))
    raise ValueError(kernel)


def kcl(U, V, t=2.0, gamma=16.0, kernel="gaussian", s=-1.0):
    U, V = _rows(U), _rows(V)
    M = len(U)
    ku, ka = _kernels(kernel, t, s)
    align = mp.fsum(ka(_sqdist(U[i], V[i])) for i in range(M)) / M
    energy = mp.fsum(ku(_sqdist(U[i], U[j])) for i in range(M) for j in range(M) if i != j)
    return -align + mp.mpf(gamma) / (M * (M - 1)) * energy


def kcl_sym(U, V, **kw):
    return kcl(U, V, **kw) + kcl(V, U, **kw)


def riesz_energy(X, s=1.0):
    X = _rows(X)
    return mp.fsum(mp.sqrt(_sqdist(X[i], X[j])) ** (-s) for i in range(len(X)) for j in range(i + 1, len(X)))


def log_energy(X):
    X = _rows(X)
    return mp.fsum(-mp.log(mp.sqrt(_sqdist(X[i], X[j]))) for i in range(len(X)) for j in range(i + 1, len(X)))


def gaussian_energy(X, t=2.0):
    X = _rows(X)
    return mp.fsum(mp.exp(-t * _sqdist(X[i], X[j])) for i in range(len(X)) for j in range(len(X)) if i != j)
