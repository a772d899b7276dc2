"""Verify beyond the simplex (M > d+1, SPEC §2 C3): the anchors against the energy the loss's uniformity
term is built from, their recognised configuration and the Delsarte–Yudin LP certificate."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import torch

from .. import configurations
from ..bounds import CERTIFICATE_GAP, lp_certificate
from ..energies import _LRU, CACHE_SIZE, baseline, baseline_budget, energy, matching_kernel
from ..tolerances import tolerances

_BOUND_CACHE: _LRU = _LRU(CACHE_SIZE)


def cached_lp_bound(kernel: str, params: Mapping[str, Any], M: int, d: int, **kw):
    from ..bounds import lp_bound

    key = (kernel, tuple(sorted(params.items())), M, d, tuple(sorted(kw.items())))
    return _BOUND_CACHE.get_or(key, lambda: lp_bound(kernel, M, d, s=params.get("s"), t=params.get("t"), **kw))


def verify_extras(spec, params: Mapping[str, Any], M: int, d: int, U, found: float, *,
                  baseline_seconds: float | None = None) -> dict:
    """Extra sections of a verify report for M > d+1 (SPEC §2 C3).

    ``energy_baseline``  the energy the loss's uniformity term is built from (InfoNCE family: Gaussian with
                         t = 1/(2τ); KCL: its kernel), its minimum over M points in d (``minimise`` with a
                         small budget, cached), the energy of the found anchors U, and whether U is that
                         minimiser (same sorted inner products);
    ``recognition``      the known configuration U is congruent to (``configurations.recognise``);
    ``lp_bound``         the Delsarte–Yudin bound for that energy and the relative gaps of the baseline
                         minimum and of U (gap ≈ 0 certifies a global minimum).

    Time (an enclosing optim.time_budget, verify's --time-limit): the baseline search stops at
    ``baseline_seconds`` from now (or the enclosing deadline); the LP bound is skipped, with the reason,
    when the deadline has passed before it starts (its exchange rounds stop there too, bounds.lp_bound).
    """
    tols = tolerances(torch.float64)
    U = torch.as_tensor(U, dtype=torch.float64).detach().cpu()
    out: dict[str, dict] = {}

    names = configurations.names_fitting(M, d)
    rec = configurations.recognise(U, tols.config) if names else None  # skipped beyond the catalogue's sizes
    out["recognition"] = {
        **(rec.to_dict() if rec else {"name": None, "residual": None}),
        "candidates": names,
        "summary": (f"anchors form the {rec.name} (Procrustes residual {rec.residual:.1e})" if rec else
                    f"anchors match no known configuration of {M} points in R^{d}"
                    + (f" (compared with {', '.join(names)})" if names else " (none is known for this size)")),
    }

    kernel, kp, relation = matching_kernel(spec, params)
    if kernel is None:
        out["energy_baseline"] = {"kernel": None, "note": relation, "summary": f"skipped: {relation}"}
        return out
    e_u = float(energy(U, kernel, **kp))
    is_loss = spec.forms.resolve("energy", params)[0].is_the_loss
    section: dict[str, Any] = {"kernel": kernel, "params": kp, "relation": relation, "found_energy": e_u,
                               "is_the_loss": is_loss}
    if is_loss:
        section.update(minimum=found, budget="the verify solve itself", same_configuration=True,
                       relative_excess=0.0)
        e_min, x_min = found, U
        section["summary"] = f"{kernel} energy {found:.12g} (the loss is the energy)"
    else:
        from ..optim import deadline, time_budget

        with time_budget(baseline_seconds):
            base = baseline(kernel, kp, M, d, **baseline_budget(M, d))
            cut = time.perf_counter() >= deadline()  # verify's time budget ended the baseline search
        e_min, x_min = base.value, base.points
        fp_dev = float((configurations.fingerprint(U) - configurations.fingerprint(x_min)).abs().max())
        rel = (e_u - e_min) / max(abs(e_min), 1e-300)
        same = fp_dev <= tols.config
        section.update(minimum=e_min, minimum_grad_norm=base.grad_norm, minimum_hits=base.hits,
                       minimum_solves=base.solves, budget=f"{base.restarts} restarts + {base.rounds} hopping rounds "
                       f"(a quick baseline; `hemtools energy` searches longer)"
                       + (", stopped by verify's time limit" if cut else ""), fingerprint_deviation=fp_dev,
                       same_configuration=same, relative_excess=rel)
        if rel < -tols.value_rel * 10:
            verdict = "U has LOWER energy than the baseline search found (the baseline is not the minimum)"
        elif same:
            verdict = "U is the energy minimiser found"
        else:
            verdict = f"U is not the energy minimiser found (sorted inner products differ by {fp_dev:.1e})"
        section["summary"] = (f"{kernel} energy ({', '.join(f'{k}={v:g}' for k, v in kp.items()) or 'no parameter'})"
                              f" of U {e_u:.10g} vs minimum {e_min:.10g} (rel. excess {rel:.1e}): {verdict}")
    out["energy_baseline"] = section

    from ..optim import deadline

    if time.perf_counter() >= deadline():
        out["lp_bound"] = {"kernel": kernel, "status": "skipped: verify's time limit reached",
                           "summary": "LP bound skipped: verify's time limit was reached before it"}
        return out
    lp = cached_lp_bound(kernel, kp, M, d, exchange_rounds=1, check_cells=2 ** 18)
    if math.isfinite(lp.bound):
        cert = lp_certificate(lp, min(e_min, e_u))
        gap_min, certified = cert["gap"], cert["certified_global_minimum"]
        gap_u = lp.gap(e_u)
        out["lp_bound"] = {
            "kernel": kernel, "params": kp, "bound": lp.bound, "degree": lp.degree, "correction": lp.correction,
            "gap_minimum": gap_min, "gap_found": gap_u, "certificate_gap": CERTIFICATE_GAP,
            "certified_global_minimum": certified, "seconds": lp.seconds,
            "summary": (f"Delsarte–Yudin bound {lp.bound:.10g} (degree {lp.degree}); relative gap of the minimum "
                        f"{gap_min:.1e}" + (" — certified global minimum" if certified else
                                            " — bound above the energy: inconsistent, no certificate"
                                            if gap_min < -1e-10 else " — not tight: no certificate")),
        }
    else:
        out["lp_bound"] = {"kernel": kernel, "status": lp.status, "summary": f"LP bound failed: {lp.status}"}
    return out
