"""Cost growth of ``verify`` with the batch size (issue #13): seconds, peak RSS and the Hessian method per
cell, and the fitted exponent of time against M·d.

    python benchmarks/scale.py [--set simplex,batch,spec,control] [--threads 1] [--timeout 1800]
                               [--device cpu|cuda] [--out results.json] [--table results.json]

Sets of cells (each cell runs ``hemtools.checks.verify`` in its own subprocess, so that its peak RSS,
resource.getrusage(RUSAGE_SELF).ru_maxrss, is its own):

  simplex   KCL, M = d+1, d ∈ {16, 32, 64, 128, 256, 512}, default restarts (8): the simplex claim
  batch     KCL, M ∈ {256, 1024, 4096}, d = 128, --restarts 2: M > d+1 (claim "aligned")
  spec      every SPEC §1 loss at M = 256, d = 512 (target: confirmed, <= 120 s, <= 4 GB on 2 cores)
  control   planted wrong-sign KCL (benchmarks/planted_losses.py) at M = 256, d = 512: verify's verdict,
            and the matrix-free spectrum at the exact aligned simplex (a saddle: negative eigenvalue)
  energy    verify's Gaussian-energy baseline (t = 2) for N = 1024, 2048 points in d = 128 (bounded memory)
  gpu       KCL M = 4096, d = 2048, --restarts 2 (run with --device cuda on a machine with a GPU)

verify's default time budget (900 s from n = 50 000 tangent dimensions, hemtools.checks.default_time_limit)
applies to every cell: a cell it stops is marked "(time limit; gradient …)" and left out of the exponent fit.
The table's "× first" column is each cell's time over the first cell of the same run (the baseline run
in the same process).  The exponent is the least-squares slope of log(seconds) against log(M·d) over the
completed cells of the simplex set (and of all verify cells).  Results are appended to --out after every
cell, so an interrupted run keeps what it measured; --table FILE prints the table of a saved run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

from _bench import pin_threads  # benchmarks/ is on sys.path when a script runs

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_LOSSES = ["infonce", "simclr", "nt_xent", "dcl", "dhel", "kcl"]
PLANTED = os.path.join(HERE, "planted_losses.py") + ":kcl_wrong_sign"


def cells(which: list[str]) -> list[dict]:
    out = []
    for s in which:
        if s == "simplex":
            out += [dict(set=s, loss="kcl", M=d + 1, d=d, restarts=8) for d in (16, 32, 64, 128, 256, 512)]
        elif s == "batch":
            out += [dict(set=s, loss="kcl", M=M, d=128, restarts=2) for M in (256, 1024, 4096)]
        elif s == "spec":
            out += [dict(set=s, loss=L, M=256, d=512, restarts=8) for L in SPEC_LOSSES]
        elif s == "control":
            out += [dict(set=s, loss=PLANTED, M=256, d=512, restarts=8, control=True)]
        elif s == "energy":
            out += [dict(set=s, loss="gaussian_energy", M=N, d=128, restarts=2, energy=True) for N in (1024, 2048)]
        elif s == "gpu":
            out += [dict(set=s, loss="kcl", M=4096, d=2048, restarts=2)]
        else:
            raise SystemExit(f"--set: unknown set {s!r} (simplex, batch, spec, control, energy, gpu)")
    return out


# --------------------------------------------------------------------------------------------------------
# one cell, in a child process


def child(cell: dict, threads: int, device: str) -> dict:
    pin_threads(threads)
    import resource

    import torch

    torch.set_num_threads(threads)
    from hemtools import checks, configurations
    from hemtools.losses.registry import get_loss
    from hemtools.tolerances import tolerances

    t0 = time.perf_counter()
    if cell.get("energy"):
        return energy_child(cell, t0, resource)
    kw = {}
    if cell.get("max_memory"):
        kw["max_memory"] = cell["max_memory"]
    if cell.get("progress_file"):  # iteration, seconds, gradient norms: where a long cell spends its time
        fh = open(cell["progress_file"], "w")  # noqa: SIM115 (closed by the process exit)

        def progress(it, g):
            if it % 50 == 0:
                fh.write(f"{it} {time.perf_counter() - t0:.1f} {' '.join(f'{float(v):.2e}' for v in g)}\n")
                fh.flush()

        kw["progress"] = progress
    r = checks.verify(cell["loss"], cell["M"], cell["d"], restarts=cell["restarts"], device=device, **kw)
    seconds = time.perf_counter() - t0
    h = r.hessian
    out = dict(cell, verdict=r.verdict, reason=r.reason, seconds=seconds, solve_seconds=r.solve.seconds,
               hvp_solver=r.solve.hessian_vector_products, device=str(r.device),
               n=r.solve.points.shape[1] * (cell["d"] - 1),
               method=("matrix-free" if h is not None and h.matrix_free is not None else "dense" if h else "none"),
               hessian_seconds=(h.matrix_free["seconds"] if h is not None and h.matrix_free else None),
               hessian_hvps=(h.matrix_free["iterations"] if h is not None and h.matrix_free else None),
               min_eigenvalue=h.min_eigenvalue if h else None, gap=h.gap if h else None,
               zero_count=h.zero_count if h else None, orbit_dimension=h.orbit_dimension if h else None,
               hessian_where=h.where if h else None, notes=r.notes, grad_norm=r.grad_norm,
               time_limited="time limit reached" in r.reason)
    if cell.get("control"):
        # the claimed minimiser itself: the aligned simplex is a saddle of the wrong-sign loss
        tols = tolerances(torch.float64)
        spec = get_loss(cell["loss"])
        f = spec.objective(cell["M"], spec.resolve_params({}))
        x = configurations.regular_simplex(cell["M"], cell["d"])
        t1 = time.perf_counter()
        info = checks.hessian_spectrum(f, torch.cat([x, x]), tols.zero_eig_factor, tols.eps, where="exact target",
                                       eigensolver="matrix-free")
        psd, _ = checks.check_hessian(info)
        out.update(simplex_min_eigenvalue=info.min_eigenvalue, simplex_threshold=info.threshold,
                   simplex_psd=psd.status, simplex_hessian_seconds=time.perf_counter() - t1)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_rss_gb"] = ru.ru_maxrss / 1e6  # KiB on Linux
    out["cpu_seconds"] = ru.ru_utime + ru.ru_stime  # ≈ wall time on a quiet machine with one thread
    out["load_average"] = os.getloadavg()[0]
    if device.startswith("cuda"):
        out["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 1e9
    return out


def energy_child(cell: dict, t0: float, resource) -> dict:
    """verify's energy baseline for M > d+1 (energies.baseline with the budget verify uses at this size)."""
    from hemtools import energies

    budget = energies.baseline_budget(cell["M"], cell["d"])
    base = energies.baseline("gaussian", {"t": 2.0}, cell["M"], cell["d"], **budget)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return dict(cell, verdict="converged" if base.converged else "not converged", seconds=time.perf_counter() - t0,
                solve_seconds=base.seconds, method="-", reason=base.stop_reason, value=base.value,
                grad_norm=base.grad_norm, solves=base.solves, peak_rss_gb=ru.ru_maxrss / 1e6,
                cpu_seconds=ru.ru_utime + ru.ru_stime, load_average=os.getloadavg()[0])


def run_cell(cell: dict, threads: int, device: str, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(cell), "--threads", str(threads),
           "--device", device]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return dict(cell, verdict="timeout", seconds=time.perf_counter() - t0, reason=f"killed after {timeout:g} s")
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return dict(cell, verdict="error", seconds=time.perf_counter() - t0, reason=p.stderr.strip()[-500:])
    return json.loads(lines[-1])


# --------------------------------------------------------------------------------------------------------
# the table


def fit_exponent(rows: list[dict]) -> float | None:
    # cells stopped by verify's time limit measured the budget, not the cost: left out of the fit
    pts = [(math.log(r["M"] * r["d"]), math.log(r["seconds"])) for r in rows
           if r.get("verdict") not in ("timeout", "error", None) and r.get("seconds") and not r.get("time_limited")]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx > 0 else None


def _g(x, fmt="{:.3g}"):
    return "-" if x is None else (fmt.format(x) if isinstance(x, (int, float)) else str(x))


def table(rows: list[dict]) -> str:
    head = ("| set | loss | M | d | R | n | Hessian | verdict | seconds | × first | solve s | Hessian s | "
            "CPU s | load | peak RSS GB | λ_min | gap | zeros / orbit |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    base = next((r["seconds"] for r in rows if r.get("seconds")), None)
    for r in rows:
        loss = "wrong-sign KCL" if r.get("control") else r["loss"]
        verdict = r.get("verdict")
        if r.get("control") and "simplex_min_eigenvalue" in r:
            verdict = f"{verdict}; simplex λ_min {r['simplex_min_eigenvalue']:.2e} ({r['simplex_psd']})"
        if r.get("time_limited"):
            verdict = f"{verdict} (time limit; gradient {r['grad_norm']:.1e})"
        zeros = (f"{r['zero_count']} / {r['orbit_dimension']}" if r.get("zero_count") is not None else "-")
        out.append(f"| {r['set']} | {loss} | {r['M']} | {r['d']} | {r['restarts']} | {_g(r.get('n'), '{}')} | "
                   f"{r.get('method', '-')} | {verdict} | {_g(r.get('seconds'), '{:.1f}')} | "
                   f"{_g(r['seconds'] / base if base and r.get('seconds') else None, '{:.2f}')} | "
                   f"{_g(r.get('solve_seconds'), '{:.1f}')} | {_g(r.get('hessian_seconds'), '{:.1f}')} | "
                   f"{_g(r.get('cpu_seconds'), '{:.1f}')} | {_g(r.get('load_average'), '{:.1f}')} | "
                   f"{_g(r.get('peak_rss_gb'), '{:.2f}')} | {_g(r.get('min_eigenvalue'), '{:.2e}')} | "
                   f"{_g(r.get('gap'), '{:.3e}')} | {zeros} |")
    simplex = [r for r in rows if r["set"] == "simplex"]
    allv = [r for r in rows if r["set"] in ("simplex", "batch", "spec")]
    e1, e2 = fit_exponent(simplex), fit_exponent(allv)
    out.append("")
    out.append(f"fitted exponent of seconds vs M·d: simplex set {_g(e1, '{:.2f}')}, "
               f"all verify cells {_g(e2, '{:.2f}')}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="simplex,batch", help="comma-separated: simplex, batch, spec, control, gpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per cell before it is killed")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-d", type=int, default=None, help="skip cells with d above this")
    ap.add_argument("--max-M", type=int, default=None, help="skip cells with M above this")
    ap.add_argument("--loss", default=None, help="only cells of this loss")
    ap.add_argument("--M", type=int, default=None, help="only cells with this M")
    ap.add_argument("--progress", default=None, help="file for the solver's progress (every 50 iterations)")
    ap.add_argument("--out", default=None, help="append each cell's result to this JSON file")
    ap.add_argument("--table", metavar="FILE", help="print the table of a saved run and exit")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child), args.threads, args.device)))
        return 0
    if args.table:
        with open(args.table) as fh:
            print(table(json.load(fh)["rows"]))
        return 0
    todo = [c for c in cells(args.set.split(","))
            if (args.max_d is None or c["d"] <= args.max_d) and (args.max_M is None or c["M"] <= args.max_M)
            and (args.loss is None or c["loss"] == args.loss) and (args.M is None or c["M"] == args.M)]
    rows: list[dict] = []
    if args.out and os.path.exists(args.out):
        with open(args.out) as fh:
            rows = json.load(fh)["rows"]
    for c in todo:
        if args.progress:
            c["progress_file"] = args.progress
        print(f"running {c['set']} {c['loss'].split(':')[-1]} M={c['M']} d={c['d']} R={c['restarts']} ...",
              file=sys.stderr, flush=True)
        r = run_cell(c, args.threads, args.device, args.timeout)
        print(f"  {r.get('verdict')} in {r.get('seconds', 0):.1f} s, peak RSS {r.get('peak_rss_gb', 0):.2f} GB, "
              f"{r.get('method')}", file=sys.stderr, flush=True)
        rows.append(r)
        if args.out:
            tmp = args.out + ".tmp"
            with open(tmp, "w") as fh:
                json.dump({"rows": rows, "threads": args.threads, "device": args.device,
                           "load_average": os.getloadavg()}, fh, indent=1)
            os.replace(tmp, args.out)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
