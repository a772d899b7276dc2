"""Helpers shared by the benchmark scripts (standard library only: imported before torch)."""

from __future__ import annotations

import os
import statistics
import time


def pin_threads(threads: int) -> None:
    """One BLAS/OpenMP pool of ``threads`` per process (call before importing torch; then also
    torch.set_num_threads).  The machines have 2 cores: oversubscription makes small eigh 40-400x slower."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls of ``fn`` and the last result."""
    ts, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out
