"""Memory budget of a batched solve: the restart batch is cut into groups that fit.

One restart's state is O(N·d), but a loss built on Gram matrices holds N×N intermediates in the autograd
graph, and the trust region's Hessian-vector products (create_graph) keep several of them alive per
restart: ``optim.memory_estimate`` (MEMORY_MATRICES N×N float64 matrices per restart, measured 6.0 for KCL
and 6.5 for InfoNCE) is the per-restart cost used here too.  When the whole batch would exceed the budget,
:func:`solve_bounded` solves the same random starts (same seed, same draw) in groups of the largest size
that fits and says so; the results are those of one batched solve, concatenated.  (``optim.solve``
itself refuses a batch that exceeds the machine's memory; grouping keeps such a run possible.)

The budget is ``max_memory`` (bytes, or a string such as "4G", "512M") or, by default, half of the
physical memory (half of the GPU's memory for a CUDA solve).  Nothing here allocates anything O(N²) itself;
torch is imported only by the solve.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from .errors import ArgumentError

_UNITS = {"": 1, "B": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}


def parse_memory(value: Any) -> int | None:
    """Bytes from an int or a string "8G", "512M", "1.5G", "4096" (binary units); None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ArgumentError(f"max_memory: expected bytes or a size such as 4G or 512M, got {value!r}")
    if isinstance(value, (int, float)):
        b = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)i?B?\s*", str(value), re.IGNORECASE)
        if not m:
            raise ArgumentError(f"max_memory: expected bytes or a size such as 4G or 512M, got {value!r}")
        b = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not (math.isfinite(b) and b >= 2 ** 20):
        raise ArgumentError(f"max_memory: expected at least 1M, got {value!r}")
    return int(b)


def physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def default_budget() -> int:
    phys = physical_memory()
    return phys // 2 if phys else 4 * 2 ** 30


def bytes_per_restart(n_points: int, d: int, dtype="float64") -> int:
    """Peak bytes of one restart's solve (optim.memory_estimate for one restart)."""
    from .optim import memory_estimate

    return memory_estimate(n_points, d, 1, dtype)


def _size(b: float) -> str:
    for unit, k in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if b >= k:
            return f"{b / k:.3g} {unit}"
    return f"{b:.0f} B"


def restart_groups(restarts: int, n_points: int, d: int, budget: int | None, dtype="float64"
                   ) -> tuple[int, str | None]:
    """(restarts solved together, a note when that is fewer than all of them)."""
    budget = default_budget() if budget is None else budget
    per = bytes_per_restart(n_points, d, dtype)
    fit = max(1, int(budget // per))
    if fit >= restarts:
        return restarts, None
    note = (f"memory: {restarts} restarts × ~{_size(per)} each (a few {n_points}×{n_points} matrices for the "
            f"Hessian-vector products) exceed the budget of {_size(budget)}: solved in groups of {fit}")
    if per > budget:
        note += " (one restart alone exceeds the budget; raise --max-memory)"
    return fit, note


def solve_bounded(spec, M: int, d: int, *, restarts: int, seed: int = 0, dtype="float64", device="cpu",
                  max_memory: Any = None, **kw):
    """``optim.solve`` under a memory budget: (SolveResult, note or None).  Same starts as one batched solve."""
    import torch

    from . import sphere
    from .optim import available_memory, check_memory, resolve_device, resolve_dtype, solve

    budget = parse_memory(max_memory)
    dt = resolve_dtype(dtype)
    dev = resolve_device(device)
    if budget is None and dev.type == "cuda":  # the graph lives in device memory
        budget = torch.cuda.get_device_properties(dev).total_memory // 2
    n = spec.n_points(M)
    group, note = restart_groups(restarts, n, d, budget, dt)
    if note is not None:
        # refuse before allocating: one restart must fit the machine (optim.check_memory), and the points and
        # results of all restarts (a few N×d arrays each) too
        check_memory(n, d, 1, dt)
        if isinstance(restarts, int) and not isinstance(restarts, bool):
            need = 8 * (torch.finfo(dt).bits // 8) * restarts * n * d
            if need > available_memory():
                raise ArgumentError(f"restarts: {restarts} restarts of {n} points in R^{d} need ~{_size(need)} for "
                                    f"their points alone, this machine has {_size(available_memory())}; "
                                    "lower --restarts")
    if note is None:
        return solve(spec, M, d, restarts=restarts, seed=seed, dtype=dtype, device=device, **kw), note
    x0 = kw.pop("x0", None)  # given starts (the candidates' polish) are grouped like random ones
    if x0 is None:
        gen = torch.Generator(device=dev).manual_seed(seed)
        x0 = sphere.random_points(restarts, spec.n_points(M), d, generator=gen, dtype=dt, device=dev)
    # Under a time budget (verify's --time-limit) each group gets an equal share of what is left, not the
    # first group all of it: KCL M = 4096, d = 128, --restarts 2 in groups of 1 left the second restart at its
    # random start (issue 13).
    import time

    from .optim import deadline, time_budget

    firsts = list(range(0, x0.shape[0], group))
    parts = []
    for k, i in enumerate(firsts):
        until = deadline()
        share = None if until == math.inf else max(0.0, (until - time.perf_counter()) / (len(firsts) - k))
        with time_budget(share):
            parts.append(solve(spec, M, d, seed=seed, dtype=dtype, device=device, x0=x0[i:i + group], **kw))
    return concatenate(parts), note


def concatenate(parts: list) -> Any:
    """One SolveResult from the results of groups of restarts (histories padded with their last row)."""
    from dataclasses import replace

    import torch

    T = max(p.history_values.shape[0] for p in parts)

    def pad(h):
        return torch.cat([h, h[-1:].expand(T - h.shape[0], -1)]) if h.shape[0] < T else h

    first = parts[0]
    return replace(
        first, points=torch.cat([p.points for p in parts]), values=torch.cat([p.values for p in parts]),
        grad_norms=torch.cat([p.grad_norms for p in parts]), iterations=torch.cat([p.iterations for p in parts]),
        converged=torch.cat([p.converged for p in parts]), stops=[r for p in parts for r in p.stops],
        history_values=torch.cat([pad(p.history_values) for p in parts], 1),
        history_grad_norms=torch.cat([pad(p.history_grad_norms) for p in parts], 1),
        phase_switch=max(p.phase_switch for p in parts), seconds=sum(p.seconds for p in parts),
        hessian_vector_products=sum(p.hessian_vector_products for p in parts),
        notes=[f"restart group {k + 1} of {len(parts)}: {n}" if len(parts) > 1 else n
               for k, p in enumerate(parts) for n in p.notes],
        extras={**first.extras, "restart_groups": [p.restarts for p in parts]})


__all__ = ["parse_memory", "default_budget", "restart_groups", "solve_bounded", "concatenate", "bytes_per_restart",
]
