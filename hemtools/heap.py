"""The C heap: the pages of freed arrays that glibc keeps, handed back to the system.

A long solve frees and allocates arrays of a few MiB at every iteration (trial points, gradients, the L-BFGS
directions of the restarts still running, whose number changes).  glibc's malloc raises its mmap threshold
to the size of the largest block freed (up to 32 MiB), so such arrays come from the heap afterwards, and the
pages of freed ones stay in the process: the resident size grows with the iterations although what is alive
does not.  Measured (KCL M = 1024, d = 128, 2 restarts, the L-BFGS phase of optim.solve, one thread, under
load): 0.58 GB after 5 s, 1.41 GB after 60 s (~3.4 MB per iteration; 7.0 GB at the end of
``verify --loss kcl --M 1024 --d 128 --restarts 2``, issue 13); with a fixed mmap threshold
(MALLOC_MMAP_THRESHOLD_=131072) flat, but ~4.5x slower (every array a fresh mmap); with malloc_trim(0)
once a second flat at 0.5–0.8 GB, but 25 % more CPU per iteration (0.30 vs 0.24 s: the released pages are
faulted in and zeroed again).  So the solvers (optim, energy_relax) call :func:`release_now_and_then` once
per iteration, which trims only when the resident size has grown by SLACK since the last trim: the resident
size stays within SLACK of the solve's working set (the high-water mark of one iteration), and a trim
comes every ~SLACK / (growth per iteration) iterations (~75 at M = 1024) instead of every few.

No hemtools imports: optim, memory and energy_relax all use it.
"""

from __future__ import annotations

import os
import time
from typing import Any

try:
    _PAGE = os.sysconf("SC_PAGE_SIZE")
except (ValueError, OSError, AttributeError):
    _PAGE = 4096

SLACK = 256 * 2**20  # bytes the resident size may grow by before the free pages are handed back
CHECK_SECONDS = 0.25  # the resident size is read at most this often (/proc/self/statm)
SETTLE_SECONDS = 2.0  # after a trim, the working set is the largest resident size read for this long
_TRIM: Any = None
_STATE: dict[str, Any] = {"checked": 0.0, "base": None, "settle_until": 0.0}


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


def resident_bytes() -> int | None:
    """The resident size of this process (Linux: /proc/self/statm), None where it cannot be read."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def release_now_and_then() -> None:
    """:func:`release` when the resident size has grown by SLACK beyond the working set (call it once per
    iteration: it reads the resident size at most every CHECK_SECONDS).

    The working set is the largest resident size read during the SETTLE_SECONDS after a trim (or after the
    first call): a solve frees and re-allocates much of its memory within one iteration, so just after a trim
    the resident size climbs back to the iteration's high-water mark, and trimming against the size right
    after the trim would trim again every few iterations (measured: every ~5 at M = 1024, 35 % more CPU
    per iteration from faulting the pages in again)."""
    now = time.monotonic()
    if now - _STATE["checked"] < CHECK_SECONDS:
        return
    _STATE["checked"] = now
    rss = resident_bytes()
    if rss is None:
        return
    if _STATE["base"] is None or now < _STATE["settle_until"]:
        if _STATE["base"] is None:
            _STATE["settle_until"] = now + SETTLE_SECONDS
        _STATE["base"] = max(rss, _STATE["base"] or 0)
    elif rss > _STATE["base"] + SLACK and release():
        _STATE["base"], _STATE["settle_until"] = None, 0.0  # the working set is measured again


__all__ = ["release", "release_now_and_then", "resident_bytes", "SLACK"]
