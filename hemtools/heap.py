"""The C heap: the pages of freed arrays that glibc keeps, handed back to the system.

A long solve frees and allocates arrays of a few MiB at every iteration (trial points, gradients, the L-BFGS
directions of the restarts still running, whose number changes).  glibc's malloc raises its mmap threshold
to the size of the largest block freed (up to 32 MiB), so such arrays come from the heap afterwards, and the
pages of freed ones stay in the process: the resident size grows with the iterations although what is alive
does not.  Measured (KCL M = 512, d = 128, 2 restarts, the L-BFGS phase of optim.solve, one thread, under
load): 0.55 GB after 5 s, 0.84 GB after 30 s with the default allocator; 0.35 GB throughout with a fixed
mmap threshold (MALLOC_MMAP_THRESHOLD_=131072, but ~4.5x slower: every array is then a fresh mmap) or with
malloc_trim(0) after every iteration (~10 ms a call there: 1.6 s of 30 s).  The solvers (optim, energy_relax)
call :func:`release_now_and_then` once per iteration: a trim at most every TRIM_SECONDS, ~1 % of the time at
most and none in runs shorter than that.  This was the 7.0 GB peak of
``verify --loss kcl --M 1024 --d 128 --restarts 2`` (issue 13).

No hemtools imports: optim, memory and energy_relax all use it.
"""

from __future__ import annotations

import time
from typing import Any

TRIM_SECONDS = 1.0
_TRIM: Any = None
_LAST = [0.0]


def release() -> bool:
    """Hand the free pages of the C heap back to the system (glibc's malloc_trim(0)); what is alive is
    untouched.  False (and nothing done) where the C library has no malloc_trim (not glibc)."""
    global _TRIM
    if _TRIM is None:
        _TRIM = False
        try:
            import ctypes

            fn = getattr(ctypes.CDLL(None), "malloc_trim", None)  # the process's own C library
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
                _TRIM = fn
        except (OSError, AttributeError, TypeError):
            _TRIM = False
    if not _TRIM:
        return False
    _TRIM(0)
    return True


def release_now_and_then() -> None:
    """:func:`release` when the last one was TRIM_SECONDS ago or more (call it once per iteration)."""
    now = time.monotonic()
    if now - _LAST[0] >= TRIM_SECONDS:
        _LAST[0] = now
        release()


__all__ = ["release", "release_now_and_then", "TRIM_SECONDS"]
