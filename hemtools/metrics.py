"""Representation metrics of embeddings on the sphere (SPEC §4; Koromilas et al. §7; Wang & Isola 2020).

    alignment        mean_i ‖u_i − v_i‖²                                   (positive pairs)
    uniformity       log mean_{i<j} exp(−t ‖u_i − u_j‖²),  t = 2             (Wang & Isola)
    effective rank   exp(entropy of σ/‖σ‖₁), σ the singular values of U      (Roy & Vetterli 2007)
    W1               Wasserstein-1 distance between the empirical law of the inner products u_i·u_j
                     (i<j) and the law of x·y for independent uniform x, y on S^{d−1}

The law of x·y has density ∝ (1 − s²)^{(d−3)/2} on [−1, 1]: (1 + x·y)/2 ~ Beta((d−1)/2, (d−1)/2), so its
CDF is F(s) = I_{(1+s)/2}((d−1)/2, (d−1)/2) (scipy.special.betainc), for every d ≥ 2 (d = 2: the
arcsine law; d = 3: uniform on [−1, 1]).  W1 = ∫_{−1}^{1} |F_emp(s) − F(s)| ds is computed through
CDFs, never by sampling, with the antiderivative G(s) = ∫_{−1}^{s} F = s F(s) + f(s)(1 − s²)/(d − 1).

How W1 stays exact without sorting M(M−1)/2 numbers (2·10⁸ for M = 20 000 would be 1.6 GB):

  * one streaming pass over tiles of the Gram matrix bins every inner product on a uniform grid of K
    bins of [−1, 1] (K a power of two, so bin edges and in-bin positions are exact in float64) and keeps,
    per bin, the count and the sum of in-bin positions;
  * on every run of bins where F_emp − F keeps one sign (decided from the counts and F at the edges),
    ∫|F_emp − F| = |∫(F_emp − F)| is exact: ∫F_emp needs only the counts and the position sums, ∫F
    is G(end) − G(start);  a bin with no inner product in it is exact even where F_emp − F changes sign
    there (F_emp is constant; the crossing point is F⁻¹(level), scipy.special.betaincinv);
  * the remaining bins (F_emp − F may change sign inside and inner products lie inside) are split into
    R sub-bins by a second pass over the Gram tiles, and the same rule is applied to the sub-bins, with F
    replaced by its chord on the parent bin (|F − chord| ≤ (s−a)(b−s)/2 · max|f'|, a rigorous bound
    added to the result);  on sub-bins that still cross, the contribution is bracketed between
    |∫(F_emp − F)| and min(∫g + 2∫(F − L)₊, −∫g + 2∫(H − F)₊), L and H the levels of F_emp at the two
    ends of the sub-bin.
  The result is the midpoint of the bracket and ``error_bound`` its half-width: |W1 − value| ≤
  error_bound, plus float64 round-off.  Small problems (M(M−1)/2 ≤ 2²⁰ pairs) are sorted and computed
  exactly (error_bound = 0).

Uniformity comes from the same histogram: Σ_i e^{2t(x_i − 1)} = Σ_k e^{2t(a_k − 1)} Σ_{i∈k} e^{y_i} with
y_i = 2t h·(position of x_i in bin k) ∈ [0, 2th), and 1 + y ≤ e^y ≤ 1 + y + y² e^y/2 brackets it within a
relative (2th)² e^{2th}/2 (2.9e−11 for t = 2, K = 2²⁰), summed with log-sum-exp.

Everything runs in float64.  Heavy arrays are torch (tiles of the Gram matrix on U's device); the
bookkeeping on the K bins is numpy/scipy.  Nothing here prints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import betainc, betaincinv, betaln, logsumexp

from .errors import ArgumentError
from .results import RESULT_KEY, ResultType
from .results import jsonable as _jsonable
from .validators import require_int

Tensor = torch.Tensor

DEFAULT_BINS = 1 << 20  # level-1 histogram bins on [−1, 1]
SORT_PAIRS = 1 << 20  # up to this many pairs, W1 is computed exactly by sorting
DEFAULT_TILE = 2048  # rows per Gram tile (a 2048×2048 float64 tile is 32 MB)
MAX_SUBBINS = 1 << 21  # level-2 sub-bins in total (refinement of the crossing bins)
# metrics(): the second (refining) pass over the Gram tiles runs only while W1's rigorous half-width exceeds
# max(rtol·W1, W1_ATOL).  W1 lies in [0, 2]; 1e-6 is below the W1 that sampling alone gives i.i.d. uniform
# points at the sizes this is for (measured: 3.0e-4 for M = 2 000 in d = 16, 7.0e-6 for M = 20 000 in
# d = 128), so refining further changes no conclusion drawn from one batch, and costs a second pass over
# the Gram tiles (2.3x the Gram work).  The reported error_bound stays rigorous; atol=0 restores rtol alone.
W1_ATOL = 1e-6


# --------------------------------------------------------------------------------------------------------
# the law of x·y for independent uniform x, y on S^{d−1}


def _check_d(d) -> int:
    return require_int("d", d, 2, hint="points on S^(d-1)")


def uniform_inner_product_cdf(s, d: int) -> np.ndarray:
    """F(s) = P(x·y ≤ s) = I_{(1+s)/2}((d−1)/2, (d−1)/2) for independent uniform x, y on S^{d−1}."""
    d = _check_d(d)
    m = 0.5 * (d - 1)
    s = np.clip(np.asarray(s, dtype=np.float64), -1.0, 1.0)
    # by the symmetry of Beta(m, m), evaluate at the end where the argument (1 ∓ s)/2 is exact: near s = ±1
    # with d = 2 the arcsine law's √ singularity turns the rounding of 1 + s into errors of 1e−10
    out = np.empty_like(s)
    neg = s <= 0.0
    out[neg] = betainc(m, m, 0.5 * (1.0 + s[neg]))
    out[~neg] = 1.0 - betainc(m, m, 0.5 * (1.0 - s[~neg]))
    return out


def uniform_inner_product_pdf(s, d: int) -> np.ndarray:
    """f(s) = (1 − s²)^{(d−3)/2} / B(1/2, (d−1)/2) on (−1, 1) (infinite at ±1 for d = 2)."""
    d = _check_d(d)
    s = np.asarray(s, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.exp(-betaln(0.5, 0.5 * (d - 1))) * _one_minus_sq(s) ** (0.5 * (d - 3))


def uniform_inner_product_antiderivative(s, d: int) -> np.ndarray:
    """G(s) = ∫_{−1}^{s} F(t) dt = s F(s) + (1 − s²)^{(d−1)/2} / ((d−1) B(1/2, (d−1)/2)).

    By parts: ∫ F = s F − ∫ t f(t) dt, and t (1 − t²)^{(d−3)/2} integrates to −(1 − t²)^{(d−1)/2}/(d−1)."""
    d = _check_d(d)
    s = np.asarray(s, dtype=np.float64)
    return _antiderivative(s, uniform_inner_product_cdf(s, d), d)


def _antiderivative(s: np.ndarray, F: np.ndarray, d: int) -> np.ndarray:
    """G(s) from s and F(s) (saves a second betainc where F is at hand)."""
    c = math.exp(-betaln(0.5, 0.5 * (d - 1)))
    return s * F + c * _one_minus_sq(s) ** (0.5 * (d - 1)) / (d - 1)


def _one_minus_sq(s: np.ndarray) -> np.ndarray:
    """1 − s² as (1 − s)(1 + s), accurate near ±1, clipped at 0."""
    s = np.clip(s, -1.0, 1.0)
    return (1.0 - s) * (1.0 + s)


def uniform_inner_product_quantile(p, d: int) -> np.ndarray:
    """F⁻¹(p) = 2 I⁻¹_p((d−1)/2, (d−1)/2) − 1."""
    d = _check_d(d)
    m = 0.5 * (d - 1)
    return 2.0 * betaincinv(m, m, np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)) - 1.0


def _max_abs_pdf_derivative(a: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    """A rigorous upper bound of |f'| on each interval [a, b] ⊂ [−1, 1].

    f'(s) = −(d−3) s (1 − s²)^{(d−5)/2} c_d: bound |s| by its maximum on the interval and (1 − s²)^p by
    its maximum (p ≥ 0: at the point nearest 0; p < 0: at the point farthest from 0, infinite at ±1)."""
    if d == 3:
        return np.zeros_like(a)
    c = math.exp(-betaln(0.5, 0.5 * (d - 1)))
    p = 0.5 * (d - 5)
    far = np.maximum(np.abs(a), np.abs(b))
    near = np.where((a <= 0) & (b >= 0), 0.0, np.minimum(np.abs(a), np.abs(b)))
    with np.errstate(divide="ignore"):
        peak = (1.0 - near * near) ** p if p >= 0 else np.clip(1.0 - far * far, 0.0, None) ** p
    return abs(d - 3) * c * far * peak


# --------------------------------------------------------------------------------------------------------
# validation


def as_points(X, name: str = "U", *, normalize: bool = False) -> Tensor:
    """A (M, d) float64 tensor of unit rows; ArgumentError (naming ``name``) for anything else.

    ``normalize=True`` scales the rows to unit norm (zero rows are refused); otherwise rows must already
    have unit norm within 1e−8 (the inner products are clamped to [−1, 1] anyway)."""
    try:
        t = torch.as_tensor(np.asarray(X) if not isinstance(X, Tensor) else X)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ArgumentError(f"{name}: expected a numeric (M, d) array, got {type(X).__name__} ({exc})") from None
    if t.dim() != 2:
        raise ArgumentError(f"{name}: expected a 2-D array of shape (M, d), got shape {tuple(t.shape)}")
    if t.is_complex() or t.dtype == torch.bool or not (t.is_floating_point() or not t.is_complex()):
        raise ArgumentError(f"{name}: expected real numbers, got dtype {t.dtype}")
    t = t.to(torch.float64)
    M, d = t.shape
    if M < 2:
        raise ArgumentError(f"{name}: need at least 2 rows (points), got {M}")
    if d < 2:
        raise ArgumentError(f"{name}: need dimension d >= 2, got {d}")
    finite = torch.isfinite(t).all(dim=1)
    if not bool(finite.all()):
        rows = torch.nonzero(~finite).flatten()[:5].tolist()
        raise ArgumentError(f"{name}: {int((~finite).sum())} rows contain NaN or inf (first: {rows})")
    norms = torch.linalg.vector_norm(t, dim=1)
    if normalize:
        zero = norms == 0
        if bool(zero.any()):
            rows = torch.nonzero(zero).flatten()[:5].tolist()
            raise ArgumentError(f"{name}: {int(zero.sum())} rows are zero and cannot be normalised (first: {rows})")
        return t / norms[:, None]
    dev = float((norms - 1).abs().max())
    if dev > 1e-8:
        raise ArgumentError(f"{name}: rows must have unit norm (max |‖u‖ − 1| = {dev:.3g}); "
                            "normalise them first (normalize=True)")
    return t


# --------------------------------------------------------------------------------------------------------
# simple metrics


def alignment(U, V) -> float:
    """Wang & Isola alignment (α = 2): mean_i ‖u_i − v_i‖² = mean_i (2 − 2 u_i·v_i) for unit rows."""
    U, V = as_points(U, "U"), as_points(V, "V")
    if U.shape != V.shape:
        raise ArgumentError(f"V: expected the shape of U {tuple(U.shape)}, got {tuple(V.shape)}")
    return float(((U - V) ** 2).sum(dim=1).mean())


def effective_rank(X) -> float:
    """exp(−Σ p_k log p_k), p = σ/‖σ‖₁ over the singular values σ of X (Roy & Vetterli 2007); 0 log 0 = 0.

    Of the (uncentred) embedding matrix, as Koromilas et al. §7 use it: between 1 and min(M, d)."""
    X = torch.as_tensor(X).to(torch.float64)
    s = torch.linalg.svdvals(X).cpu().numpy()
    return _effective_rank_of(s)


def _effective_rank_of(s: np.ndarray) -> float:
    total = float(s.sum())
    if not total > 0:
        return float("nan")
    p = s[s > 0] / total
    return float(math.exp(-(p * np.log(p)).sum()))


# --------------------------------------------------------------------------------------------------------
# tiles of the Gram matrix


def _tiles(M: int, tile: int):
    """(i0, i1, j0, j1) over the tiles on and above the diagonal: every pair i < j exactly once."""
    for i0 in range(0, M, tile):
        i1 = min(M, i0 + tile)
        for j0 in range(i0, M, tile):
            yield i0, i1, j0, min(M, j0 + tile)


class _TileStream:
    """The strictly upper-triangular inner products of U, tile by tile, as bin positions.

    Each tile is computed as u = K/2 + (K/2·U_I) U_Jᵀ = (K/2)·fl(1 + u_i·u_j) in one BLAS call (scaling by
    the power of two K/2 is exact), written into one reused buffer, then split in place into the bin index
    (int32, truncation) and the in-bin position (frac).  Values outside [−1, 1] by round-off are clamped;
    x = 1 goes to the right end of the last bin.  ``min``/``max`` record the extremes of u_i·u_j (to within
    one rounding of 1 + u_i·u_j).  Both passes of W1 iterate the same tiles with the same arithmetic."""

    def __init__(self, U: Tensor, tile: int, K: int):
        self.U = U
        self.M = U.shape[0]
        self.K = K
        self.half = 0.5 * K
        self.Us = U * self.half
        self.tile = max(1, min(int(tile), self.M))
        self.buf = torch.empty(self.tile * self.tile, dtype=torch.float64, device=U.device)
        self.ibuf = torch.empty(self.tile * self.tile, dtype=torch.int32, device=U.device)
        self.upper = torch.triu(torch.ones(self.tile, self.tile, dtype=torch.bool, device=U.device), 1)
        self.min = math.inf
        self.max = -math.inf

    def __iter__(self):
        U, K, half = self.U, self.K, self.half
        for i0, i1, j0, j1 in _tiles(self.M, self.tile):
            m, n = i1 - i0, j1 - j0
            blk = self.buf[: m * n].view(m, n)
            blk.fill_(half)
            blk.addmm_(self.Us[i0:i1], U[j0:j1].T)
            x = blk[self.upper[:m, :n]] if i0 == j0 else blk.view(-1)
            if x.numel() == 0:
                continue
            lo, hi = (float(v) for v in torch.aminmax(x))
            self.min = min(self.min, lo / half - 1.0)
            self.max = max(self.max, hi / half - 1.0)
            if lo < 0.0 or hi > K:
                x.clamp_(0.0, float(K))
            idx = self.ibuf[: x.numel()]
            idx.copy_(x)  # truncation toward zero = floor for x >= 0
            x.frac_()
            if hi >= K:
                top = idx == K
                idx[top] = K - 1
                x[top] = 1.0
            yield idx, x


# --------------------------------------------------------------------------------------------------------
# the pairwise inner-product histogram (one pass)


@dataclass
class PairHistogram:
    """Counts and in-bin position sums of the inner products u_i·u_j (i < j) on K uniform bins of [−1, 1].

    Bin k is [−1 + k h, −1 + (k+1) h), h = 2/K; ``positions[k]`` is Σ (x − a_k)/h over its inner products.
    ``min``/``max`` are the exact extremes (before clamping to [−1, 1])."""

    d: int
    n: int
    bins: int
    counts: np.ndarray  # int64 (K,)
    positions: np.ndarray  # float64 (K,)
    min: float
    max: float
    seconds: float = 0.0

    @property
    def width(self) -> float:
        return 2.0 / self.bins

    def uniformity(self, t: float = 2.0) -> tuple[float, float]:
        """(log mean_{i<j} e^{−t‖u_i−u_j‖²}, rigorous bound on its binning error) — see the module docstring."""
        if not (t > 0 and math.isfinite(t)):
            raise ArgumentError(f"t: expected a positive finite number, got {t!r}")
        h = self.width
        y = 2.0 * t * h
        nz = np.nonzero(self.counts)[0]
        c = self.counts[nz].astype(np.float64)
        a = -1.0 + nz * h
        low = c + y * self.positions[nz]
        rel = 0.5 * y * y * math.exp(y)  # e^y − 1 − y ≤ y² e^y / 2, y ≤ 2th
        mid = low + 0.5 * rel * c
        value = float(logsumexp(2.0 * t * (a - 1.0), b=mid)) - math.log(self.n)
        return value, 0.5 * rel  # |log(true) − log(mid)| ≤ (rel/2)/(1 − rel/2) ≈ rel/2

    def coarse(self, nbins: int = 80, lo: float | None = None,
               hi: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(edges, counts) on at most ``nbins`` bins covering [lo, hi] (default: the data's range), made of
        whole level-1 bins (so counts are exact)."""
        K, h = self.bins, self.width
        lo = self.min if lo is None else lo
        hi = self.max if hi is None else hi
        k0 = int(np.clip(math.floor((max(lo, -1.0) + 1) / h), 0, K - 1))
        k1 = int(np.clip(math.ceil((min(hi, 1.0) + 1) / h), k0 + 1, K))
        group = max(1, math.ceil((k1 - k0) / max(1, nbins)))
        k1 = min(K, k0 + group * math.ceil((k1 - k0) / group))
        k0 = max(0, k1 - group * math.ceil((k1 - k0) / group))
        sums = np.add.reduceat(self.counts[k0:k1], np.arange(0, k1 - k0, group))
        edges = -1.0 + h * np.arange(k0, k1 + 1, group)
        return edges, sums


def pair_histogram(U, *, bins: int = DEFAULT_BINS, tile: int = DEFAULT_TILE) -> PairHistogram:
    """One streaming pass over the Gram tiles of U (unit rows): the level-1 :class:`PairHistogram`.

    Memory: one tile (tile² float64) plus 16·bins bytes; time O(M² d) for the tiles + O(M²) binning."""
    return _pair_histogram(as_points(U, "U"), _check_bins(bins), _check_tile(tile))


def _pair_histogram(U: Tensor, K: int, tile: int) -> PairHistogram:
    t0 = time.perf_counter()
    M, d = U.shape
    dev = U.device
    counts = torch.zeros(K, dtype=torch.int64, device=dev)
    positions = torch.zeros(K, dtype=torch.float64, device=dev)
    stream = _TileStream(U, tile, K)
    with _Pool() as pool:
        for idx, frac in stream:
            # the two scatter-adds are serial kernels: run them on two threads (torch releases the GIL)
            job = pool.submit(torch.bincount, idx, frac, K)
            counts += torch.bincount(idx, minlength=K)
            positions += job.result()
    return PairHistogram(
        d=d,
        n=M * (M - 1) // 2,
        bins=K,
        counts=counts.cpu().numpy(),
        positions=positions.cpu().numpy(),
        min=stream.min,
        max=stream.max,
        seconds=time.perf_counter() - t0,
    )


class _Pool:
    """A one-worker thread pool as a context manager (a second thread for serial torch kernels)."""

    def __enter__(self):
        from concurrent.futures import ThreadPoolExecutor

        self.ex = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hemtools-metrics")
        return self.ex

    def __exit__(self, *exc):
        self.ex.shutdown(wait=True, cancel_futures=True)
        return False


def _check_tile(tile) -> int:
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
        raise ArgumentError(f"tile: expected a positive integer (rows per Gram tile), got {tile!r}")
    return int(tile)


def _check_bins(bins) -> int:
    if (
        isinstance(bins, bool)
        or not isinstance(bins, (int, np.integer))
        or bins < 2
        or bins & (bins - 1)
        or bins > 1 << 30
    ):
        raise ArgumentError(f"bins: expected a power of two between 2 and 2^30, got {bins!r}")
    return int(bins)


# --------------------------------------------------------------------------------------------------------
# W1 to the uniform law


@dataclass
class W1Result:
    """W1 between the empirical law of u_i·u_j (i<j) and the law of x·y for uniform x, y on S^{d−1}.

    ``value`` is the midpoint of the rigorous bracket [lower, upper]; |W1 − value| ≤ error_bound
    (= half its width) plus float64 round-off.  ``method`` is "sorted" (exact) or "histogram"."""

    value: float
    error_bound: float
    lower: float
    upper: float
    d: int
    n_pairs: int
    method: str
    bins: int = 0
    refine: int = 0  # sub-bins per crossing bin in the second pass (0: no second pass)
    crossing_bins: int = 0  # level-1 bins where F_emp − F may change sign and inner products lie
    seconds: float = 0.0
    note: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _exact_constant_level(L, a, b, Fa, Fb, Ga, Gb, d):
    """∫_a^b |L − F(s)| ds for a constant level L (F_emp has no jump inside): exact, splitting at F⁻¹(L)."""
    s = np.clip(uniform_inner_product_quantile(np.clip(L, Fa, Fb), d), a, b)
    Gs = _antiderivative(s, uniform_inner_product_cdf(s, d), d)
    return np.abs(L * (s - a) - (Gs - Ga)) + np.abs((Gb - Gs) - L * (b - s))


def _runs_total(sign: np.ndarray, emp: np.ndarray, Ge: np.ndarray) -> float:
    """Σ over maximal runs of consecutive intervals with the same nonzero ``sign`` of |Σ emp − ΔG|.

    Interval k is [e_k, e_{k+1}] with G at the edges ``Ge`` (K+1); ``emp[k]`` = ∫ F_emp over it.  On a run
    of one sign ∫|F_emp − F| = |∫(F_emp − F)|, and ∫F telescopes to G(end) − G(start)."""
    K = sign.size
    if K == 0:
        return 0.0
    brk = np.empty(K, dtype=bool)
    brk[0] = True
    brk[1:] = sign[1:] != sign[:-1]
    starts = np.nonzero(brk)[0]
    ends = np.append(starts[1:], K)
    run_emp = np.add.reduceat(emp, starts)  # sequential sums of positive terms within each run
    keep = sign[starts] != 0
    starts, ends = starts[keep], ends[keep]
    return float(np.abs(run_emp[keep] - (Ge[ends] - Ge[starts])).sum())


def _w1_sorted(x: np.ndarray, d: int) -> float:
    """Exact W1 from all the inner products (any order): F_emp is constant between consecutive values."""
    x = np.sort(np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0))
    n = x.size
    e = np.concatenate([[-1.0], x, [1.0]])
    L = np.arange(n + 1, dtype=np.float64) / n  # level of F_emp on [e_k, e_{k+1}]
    Fe = uniform_inner_product_cdf(e, d)
    Fe[0], Fe[-1] = 0.0, 1.0
    Ge = _antiderivative(e, Fe, d)
    Ge[0], Ge[-1] = 0.0, 1.0
    w = e[1:] - e[:-1]
    sign = np.where(L >= Fe[1:], 1, np.where(L <= Fe[:-1], -1, 0))
    total = _runs_total(sign, L * w, Ge)
    cr = np.nonzero(sign == 0)[0]
    if cr.size:
        total += float(_exact_constant_level(L[cr], e[cr], e[cr + 1], Fe[cr], Fe[cr + 1], Ge[cr], Ge[cr + 1], d).sum())
    return total


def _chord_brackets(Fl, Fr, L0, c, T, n, width):
    """Brackets of ∫|F_emp − F_chord| over sub-bins, vectorised over (P, R) arrays.

    Fl, Fr: (P, R) chord values at the sub-bin ends; L0: (P,) level of F_emp at the parent's left end;
    c, T: (P, R) counts and position sums (in sub-bin units); width: sub-bin width.  Returns (lower, upper)
    summed per parent (P,)."""
    cum = np.cumsum(c, axis=1)
    L = L0[:, None] + (cum - c) / n
    H = L0[:, None] + cum / n
    intF = width * 0.5 * (Fl + Fr)
    J = width * (L + (c - T) / n) - intF
    dF = Fr - Fl
    safe = np.where(dF > 0, dF, 1.0)
    pos = L >= Fr
    neg = H <= Fl
    lower = np.abs(J)
    upper = lower.copy()
    cross = ~(pos | neg)
    # crossing with no inner product inside: F_emp = L constant, exact for the chord (two triangles)
    empty = cross & (c == 0)
    p = np.clip((L - Fl) / safe, 0.0, 1.0)
    tri = width * dF * (p * p + (1 - p) * (1 - p)) * 0.5
    lower = np.where(empty, tri, lower)
    upper = np.where(empty, tri, upper)
    # crossing with inner products inside: ∫|g| = ∫g + 2∫g₋ = −∫g + 2∫g₊, g₋ ≤ (F − L)₊, g₊ ≤ (H − F)₊
    full = cross & (c > 0)
    A = np.where(L <= Fl, intF - width * L, np.where(L >= Fr, 0.0, width * (Fr - L) ** 2 / (2 * safe)))
    B = np.where(H >= Fr, width * H - intF, np.where(H <= Fl, 0.0, width * (H - Fl) ** 2 / (2 * safe)))
    up = np.maximum(np.minimum(J + 2 * A, -J + 2 * B), lower)
    upper = np.where(full, up, upper)
    return lower.sum(axis=1), upper.sum(axis=1)


def w1_uniform(
    U,
    *,
    method: str = "auto",
    bins: int = DEFAULT_BINS,
    tile: int = DEFAULT_TILE,
    refine: bool = True,
    rtol: float = 1e-6,
    max_subbins: int = MAX_SUBBINS,
    histogram: PairHistogram | None = None,
    atol: float = 0.0,
) -> W1Result:
    """W1 between the empirical law of u_i·u_j (i<j) and the law of x·y under the uniform measure on
    S^{d−1}, d = U.shape[1].  See the module docstring for what is exact.

    method   "auto" (sorted when M(M−1)/2 <= 2^20 pairs, else histogram), "sorted" or "histogram".
    refine   histogram only: a second pass splits the crossing bins into sub-bins when the bracket's
             half-width exceeds max(``rtol``·value, ``atol``) (at most ``max_subbins`` sub-bins in all).
    histogram  a :class:`PairHistogram` of U already computed (saves the first pass).
    """
    U = as_points(U, "U")
    if method not in ("auto", "sorted", "histogram"):
        raise ArgumentError(f"method: expected 'auto', 'sorted' or 'histogram', got {method!r}")
    if not (isinstance(rtol, (int, float)) and rtol >= 0):
        raise ArgumentError(f"rtol: expected a number >= 0, got {rtol!r}")
    if not (isinstance(atol, (int, float)) and atol >= 0):
        raise ArgumentError(f"atol: expected a number >= 0, got {atol!r}")
    return _w1(
        U,
        method,
        _check_bins(bins),
        _check_tile(tile),
        bool(refine),
        float(rtol),
        int(max_subbins),
        histogram,
        float(atol),
    )


def _upper_inner_products(U: Tensor) -> np.ndarray:
    """All u_i·u_j, i < j, as a flat numpy array (small problems only)."""
    M = U.shape[0]
    iu = torch.triu_indices(M, M, 1, device=U.device)
    return (U @ U.T)[iu[0], iu[1]].cpu().numpy()


def _w1(
    U: Tensor,
    method: str,
    K: int,
    tile: int,
    refine: bool,
    rtol: float,
    max_subbins: int,
    histogram: PairHistogram | None,
    atol: float = 0.0,
) -> W1Result:
    t0 = time.perf_counter()
    M, d = U.shape
    n = M * (M - 1) // 2
    if method == "sorted" or (method == "auto" and n <= SORT_PAIRS and histogram is None):
        v = _w1_sorted(_upper_inner_products(U), d)
        return W1Result(v, 0.0, v, v, d, n, "sorted", seconds=time.perf_counter() - t0)

    hist = histogram if histogram is not None else _pair_histogram(U, K, tile)
    if hist.n != n or hist.d != d:
        raise ArgumentError(f"histogram: computed for n={hist.n} pairs in d={hist.d}, not for U ({n} pairs, d={d})")
    K, h = hist.bins, hist.width
    c = hist.counts
    e = -1.0 + h * np.arange(K + 1)
    Fe = uniform_inner_product_cdf(e, d)
    Fe[0], Fe[-1] = 0.0, 1.0
    Ge = _antiderivative(e, Fe, d)
    Ge[0], Ge[-1] = 0.0, 1.0
    C = np.concatenate([[0], np.cumsum(c)])
    L, H = C[:-1] / n, C[1:] / n
    emp = (h / n) * ((C[:-1] + c) - hist.positions)  # ∫ F_emp over each bin
    sign = np.where(L >= Fe[1:], 1, np.where(H <= Fe[:-1], -1, 0))
    exact = _runs_total(sign, emp, Ge)
    cr = np.nonzero(sign == 0)[0]
    empty = cr[c[cr] == 0]
    if empty.size:
        exact += float(
            _exact_constant_level(
                L[empty], e[empty], e[empty + 1], Fe[empty], Fe[empty + 1], Ge[empty], Ge[empty + 1], d
            ).sum()
        )
    X = cr[c[cr] > 0]  # bins to bracket (and refine)
    # chord error: ∫_a^b |F − chord| ≤ max|f'| h³/12; where f' is unbounded (d = 2, 4 next to ±1) the
    # few bins concerned are bracketed with the exact F instead (_exact_brackets)
    eta = _max_abs_pdf_derivative(e[X], e[X + 1], d) * h**3 / 12.0
    crude = ~np.isfinite(eta)

    def brackets(sub_c, sub_T, R):
        """(lower, upper) summed over the crossing bins X, each split into R sub-bins."""
        lo, up = np.zeros(X.size), np.zeros(X.size)
        t = np.arange(R + 1) / R
        step = max(1, (1 << 18) // R)  # bounded temporaries
        for s0 in range(0, X.size, step):
            k = X[s0 : s0 + step]
            Fsub = Fe[k][:, None] + (Fe[k + 1] - Fe[k])[:, None] * t[None, :]
            lo[s0 : s0 + step], up[s0 : s0 + step] = _chord_brackets(
                Fsub[:, :-1],
                Fsub[:, 1:],
                L[k],
                sub_c[s0 : s0 + step].astype(np.float64),
                sub_T[s0 : s0 + step],
                n,
                h / R,
            )
        lo = np.maximum(lo - eta, 0.0)
        up = up + eta
        for i in np.nonzero(crude)[0]:
            lo[i], up[i] = _exact_brackets(e[X[i]], h / R, sub_c[i], sub_T[i], L[X[i]], n, d)
        return exact + float(lo.sum()), exact + float(up.sum())

    lower, upper = brackets(c[X][:, None], hist.positions[X][:, None], 1) if X.size else (exact, exact)
    R, note = 0, ""
    half = 0.5 * (upper - lower)
    goal = max(rtol * lower, atol, 1e-300)
    if refine and X.size and half > goal:
        # the bracket of a crossing bin shrinks like 1/R² (both its width and the F-step across it do)
        want = 1 << max(1, math.ceil(math.log2(1.5 * math.sqrt(half / goal))))
        R = min(want, 1 << 12, 1 << int(math.floor(math.log2(max(1, max_subbins // X.size)))))
        if R >= 2:
            sub_c, sub_T = _refine_pass(U, K, X, R, tile)
            if np.array_equal(sub_c.sum(axis=1), c[X]):
                lower, upper = brackets(sub_c, sub_T, R)
            else:  # the two passes did not bin identically (non-reproducible BLAS): keep the first bracket
                note = "refinement skipped: the second pass did not reproduce the bin counts"
                R = 0
        else:
            R = 0
    lower = max(lower, 0.0)
    upper = max(upper, lower)
    return W1Result(
        0.5 * (lower + upper),
        0.5 * (upper - lower),
        lower,
        upper,
        d,
        n,
        "histogram",
        bins=K,
        refine=R,
        crossing_bins=int(X.size),
        seconds=time.perf_counter() - t0,
        note=note,
    )


def _exact_brackets(a: float, width: float, c, T, L0: float, n: int, d: int) -> tuple[float, float]:
    """Bracket of ∫|F_emp − F| over one bin [a, a + R·width] split into R sub-bins, with the exact F (used
    where the chord error bound is infinite).  Exact on sign-definite and on empty crossing sub-bins;
    elsewhere |∫g| ≤ ∫|g| ≤ width · (max(H, F_right) − min(L, F_left))."""
    R = len(c)
    e = np.clip(a + width * np.arange(R + 1), -1.0, 1.0)
    Fe = uniform_inner_product_cdf(e, d)
    Ge = _antiderivative(e, Fe, d)
    c = np.asarray(c, dtype=np.float64)
    cum = np.cumsum(c)
    L = L0 + (cum - c) / n
    H = L0 + cum / n
    J = width * (L + (c - np.asarray(T)) / n) - (Ge[1:] - Ge[:-1])
    lower = np.abs(J)
    upper = lower.copy()
    cross = ~((L >= Fe[1:]) | (H <= Fe[:-1]))
    empty = np.nonzero(cross & (c == 0))[0]
    if empty.size:
        v = _exact_constant_level(
            L[empty], e[empty], e[empty + 1], Fe[empty], Fe[empty + 1], Ge[empty], Ge[empty + 1], d
        )
        lower[empty] = upper[empty] = v
    full = cross & (c > 0)
    upper[full] = np.maximum(width * (np.maximum(H, Fe[1:]) - np.minimum(L, Fe[:-1])), lower)[full]
    return float(lower.sum()), float(upper.sum())


def _refine_pass(U: Tensor, K: int, X: np.ndarray, R: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Second pass: counts and position sums (sub-bin units) on R sub-bins of each level-1 bin in X.

    No compaction (which costs more than the binning): every inner product gets a sub-bin, those outside
    X in R spare sub-bins at the end that are dropped, so the pass costs about what the first one does."""
    dev = U.device
    P = X.size
    # inner products outside X go to spare sub-bins after the P·R real ones, spread over 64 groups by the
    # low bits of their bin: a serial scatter-add into one hot counter is a dependency chain
    spare = 64
    size = (P + spare) * R
    parent = (P + torch.arange(K, dtype=torch.int32, device=dev) % spare) * R
    parent[torch.as_tensor(X, device=dev)] = torch.arange(P, dtype=torch.int32, device=dev) * R
    sub_c = torch.zeros(size, dtype=torch.int64, device=dev)
    sub_T = torch.zeros(size, dtype=torch.float64, device=dev)
    stream = _TileStream(U, tile, K)
    sbuf = torch.empty_like(stream.ibuf)
    with _Pool() as pool:
        for idx, frac in stream:
            flat = torch.index_select(parent, 0, idx)
            sub = sbuf[: idx.numel()]
            frac.mul_(R)  # exact: R is a power of two
            sub.copy_(frac)
            frac.frac_()
            if stream.max >= 1.0:  # x = 1 sits at position 1 of the last bin: keep it in sub-bin R − 1
                top = sub == R
                sub[top] = R - 1
                frac[top] = 1.0
            flat.add_(sub)
            job = pool.submit(torch.bincount, flat, frac, size)
            sub_c += torch.bincount(flat, minlength=size)
            sub_T += job.result()
    return sub_c[: P * R].view(P, R).cpu().numpy(), sub_T[: P * R].view(P, R).cpu().numpy()


# --------------------------------------------------------------------------------------------------------
# all metrics together


@dataclass
class Metrics:
    """Every metric of one embedding matrix U (and its positives V when given)."""

    M: int
    d: int
    n_pairs: int
    uniformity: float
    uniformity_error: float  # rigorous bound of the binning error (0 when summed directly)
    effective_rank: float
    w1: W1Result
    alignment: float | None = None
    singular_values: list[float] = field(default_factory=list)
    min_inner_product: float = math.nan
    max_inner_product: float = math.nan
    mean_inner_product: float = math.nan
    histogram: dict | None = None  # {"edges", "counts"}: inner products u_i·u_j (i<j)
    alignment_histogram: dict | None = None  # {"edges", "counts"}: ‖u_i − v_i‖²
    seconds: float = 0.0

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "w1"}
        out["w1"] = self.w1.value
        out["w1_error_bound"] = self.w1.error_bound
        out["w1_details"] = self.w1.to_dict()
        return {k: _jsonable(v) for k, v in out.items()}


def metrics(
    U,
    V=None,
    *,
    t: float = 2.0,
    bins: int = DEFAULT_BINS,
    tile: int = DEFAULT_TILE,
    refine: bool = True,
    rtol: float = 1e-6,
    atol: float = W1_ATOL,
    hist_bins: int = 80,
) -> Metrics:
    """Alignment (when V is given), uniformity, effective rank and W1 of the embeddings U (unit rows).

    One streaming pass over the Gram tiles gives the uniformity, the inner-product histogram and the
    first level of W1 (a second pass refines W1 while its half-width exceeds max(rtol·W1, atol), see
    :func:`w1_uniform` and :data:`W1_ATOL`).  Up to 2^20 pairs everything is summed directly and W1 is exact
    by sorting."""
    t0 = time.perf_counter()
    U = as_points(U, "U")
    if not (isinstance(atol, (int, float)) and atol >= 0):
        raise ArgumentError(f"atol: expected a number >= 0, got {atol!r}")
    K, tile = _check_bins(bins), _check_tile(tile)
    if not (t > 0 and math.isfinite(t)):
        raise ArgumentError(f"t: expected a positive finite number, got {t!r}")
    M, d = U.shape
    n = M * (M - 1) // 2
    al = al_hist = None
    if V is not None:
        V = as_points(V, "V")
        if V.shape != U.shape:
            raise ArgumentError(f"V: expected the shape of U {tuple(U.shape)}, got {tuple(V.shape)}")
        sq = ((U - V) ** 2).sum(dim=1).cpu().numpy()
        al = float(sq.mean())
        top = float(sq.max())
        counts, edges = np.histogram(
            sq, bins=min(60, max(10, int(math.sqrt(M)))), range=(0.0, top if top > 1e-6 else 1e-6)
        )
        al_hist = {"edges": edges.tolist(), "counts": counts.tolist()}
    sv = torch.linalg.svdvals(U).cpu().numpy()
    er = _effective_rank_of(sv)
    common = dict(
        M=M, d=d, n_pairs=n, effective_rank=er, alignment=al, singular_values=sv.tolist(), alignment_histogram=al_hist
    )
    if n <= SORT_PAIRS:
        x = np.clip(_upper_inner_products(U), -1.0, 1.0)
        # log mean exp(−t‖u−v‖²) = log mean exp(2t(x − 1)), by log-sum-exp: exact up to round-off
        uni = float(logsumexp(2.0 * t * (x - 1.0))) - math.log(n)
        v = _w1_sorted(x, d)
        lo, hi = float(x.min()), float(x.max())
        # a spread below 1e-3 (a simplex: equal inner products up to round-off) gets a visible window
        mid = 0.5 * (lo + hi)
        # (off-centre by 1% so that the single value falls inside a bin, not on the edge between two)
        rng = (lo, hi) if hi - lo > 1e-3 else (max(-1.0, mid - 0.0101), min(1.0, mid + 0.0099))
        counts, edges = np.histogram(x, bins=hist_bins, range=rng)
        return Metrics(
            uniformity=uni,
            uniformity_error=0.0,
            w1=W1Result(v, 0.0, v, v, d, n, "sorted"),
            min_inner_product=lo,
            max_inner_product=hi,
            mean_inner_product=float(x.mean()),
            histogram={"edges": edges.tolist(), "counts": counts.tolist()},
            seconds=time.perf_counter() - t0,
            **common,
        )
    ph = _pair_histogram(U, K, tile)
    uni, uni_err = ph.uniformity(t)
    w1 = _w1(U, "histogram", K, tile, refine, rtol, MAX_SUBBINS, ph, float(atol))
    edges, counts = ph.coarse(hist_bins)
    s = U.sum(dim=0)
    mean_ip = float(((s @ s) - M) / (2 * n))  # Σ_{i<j} u_i·u_j = (‖Σu‖² − M)/2 for unit rows
    return Metrics(
        uniformity=uni,
        uniformity_error=uni_err,
        w1=w1,
        min_inner_product=ph.min,
        max_inner_product=ph.max,
        mean_inner_product=mean_ip,
        histogram={"edges": edges.tolist(), "counts": counts.tolist()},
        seconds=time.perf_counter() - t0,
        **common,
    )


# --------------------------------------------------------------------------------------------------------
# distance to the nearest known configuration (small M)

CONFIG_MAX_POINTS = 256  # above this, no configuration is compared (the fingerprint has M² entries)


@dataclass
class ConfigurationDistance:
    """How far U is from one known configuration with the same M in R^d, up to rotation and relabelling.

    ``fingerprint`` = max |sorted inner products of U − those of the configuration| (invariant, always
    computed); ``procrustes`` = max_i ‖u_i Q − y_π(i)‖ for the matching π and orthogonal Q found by
    :func:`hemtools.configurations.match_points`, or None when no matching within the search tolerance
    was found (then only the fingerprint says how far)."""

    name: str
    fingerprint: float
    procrustes: float | None
    recognised: bool  # both distances <= 1e-6: U *is* this configuration (hemtools.configurations.recognise)

    def to_dict(self) -> dict:
        return _jsonable(dict(self.__dict__))


def nearest_configurations(U, *, max_points: int = CONFIG_MAX_POINTS, tol: float = 1e-6) -> list[ConfigurationDistance]:
    """Distances from U (unit rows) to every known configuration with M points that fits in R^d, nearest
    first (by fingerprint); [] when M > ``max_points``.

    The matching search (a backtracking graph-isomorphism search) runs only when the fingerprints are
    within 0.25, with a tolerance of 4× the fingerprint distance: a perturbation of size r moves each inner
    product by at most 2r + r², so a configuration that is r-close in the Procrustes sense is found."""
    from . import configurations as cf

    U = as_points(U, "U")
    M, d = U.shape
    if M > max_points:
        return []
    X = U.cpu()
    fp = cf.fingerprint(X)
    out = []
    for name in cf.names_fitting(M, d):
        ref = cf.construct(name, M, d).to(torch.float64)
        f = float((cf.fingerprint(ref) - fp).abs().max())
        proc = None
        if f <= 0.25:
            m = cf.match_points(X, ref, tol=max(tol, 4.0 * f))
            proc = None if m is None else float(m[2])
        out.append(ConfigurationDistance(name, f, proc, f <= tol and proc is not None and proc <= tol))
    out.sort(key=lambda c: c.fingerprint)
    return out


__all__ = [
    "alignment",
    "effective_rank",
    "metrics",
    "Metrics",
    "nearest_configurations",
    "ConfigurationDistance",
    "w1_uniform",
    "W1Result",
    "pair_histogram",
    "PairHistogram",
    "as_points",
    "uniform_inner_product_cdf",
    "uniform_inner_product_pdf",
    "uniform_inner_product_antiderivative",
    "uniform_inner_product_quantile",
]


# --------------------------------------------------------------------------------------------------------
# the analysis of saved embeddings (``hemtools analyze``)

SAMPLE_POINTS = 500  # points kept (projected to 2-D, or 3-D on S^2) in the JSON for the geometry panel


def analyze(path: str, pairs: str | None = None, key: str | None = None, seed: int = 0) -> dict:
    """The result dictionary of ``hemtools analyze`` (what ``--json`` prints and ``plot --kind analyze`` draws)."""
    from .io import load_embeddings, normalise

    t0 = time.perf_counter()
    U, notes = load_embeddings(path, key)
    U, note = normalise(path, U)
    notes += [note] if note else []
    V = None
    if pairs is not None:
        V, more = load_embeddings(pairs, key)
        notes += more
        if V.shape != U.shape:
            raise ArgumentError(
                f"{pairs}: shape {V.shape} differs from {path}'s {U.shape}; --pairs needs one positive per row of EMB"
            )
        V, note = normalise(pairs, V)
        notes += [note] if note else []
    Ut = torch.from_numpy(U)
    m = metrics(Ut, None if V is None else torch.from_numpy(V))
    near = [c.to_dict() for c in nearest_configurations(Ut)]
    out = {RESULT_KEY: str(ResultType.ANALYZE), "file": path, "pairs": pairs, "M": m.M, "d": m.d, **m.to_dict()}
    out["nearest_configurations"] = near
    out["nearest"] = near[0] if near else None
    out["projection"] = _projection(U, V, seed)
    out["notes"] = notes
    out["seconds"] = time.perf_counter() - t0
    return out


def _projection(U, V, seed: int) -> dict:
    """At most SAMPLE_POINTS points (and their pairs) for the geometry panel: the points themselves on S^1
    and S^2, a PCA projection to 2-D otherwise (principal axes of U, and V when given)."""
    M, d = U.shape
    idx = np.arange(M)
    if M > SAMPLE_POINTS:
        idx = np.sort(np.random.default_rng(seed).choice(M, SAMPLE_POINTS, replace=False))
    if d <= 3:
        return {
            "kind": "sphere" if d == 3 else "circle",
            "index": idx.tolist(),
            "U": U[idx].tolist(),
            "V": None if V is None else V[idx].tolist(),
            "explained": None,
        }
    allp = U if V is None else np.vstack([U, V])
    mean = allp.mean(0)
    _, sv, vt = np.linalg.svd(allp - mean, full_matrices=False)
    var = sv**2 / max(float((sv**2).sum()), 1e-300)
    P = vt[:2].T
    return {
        "kind": "pca",
        "index": idx.tolist(),
        "U": ((U[idx] - mean) @ P).tolist(),
        "V": None if V is None else ((V[idx] - mean) @ P).tolist(),
        "explained": var[:2].tolist(),
    }


def finite_metrics(r: dict) -> list[str]:
    """Names of the metrics that came out non-finite (the JSON writes them as strings)."""
    names = ["uniformity", "effective_rank", "w1"] + (["alignment"] if r.get("alignment") is not None else [])
    return [n for n in names if not (isinstance(r[n], (int, float)) and math.isfinite(r[n]))]
