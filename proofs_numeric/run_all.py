"""Run every proof script of proofs_numeric/ (c*.py) in parallel processes and print one summary table.

    python proofs_numeric/run_all.py [--quick | --full] [--jobs N] [--only c5,c7] [--log DIR] [--json PATH]

Each script runs in its own process, pinned to one thread (``--threads 1``), at most ``--jobs`` at a time
(default: the number of CPU cores), and writes its ProofResult as JSON; this script collects them into one
table: claim, script, status (PASS / FAIL / INCONCLUSIVE / ERROR), checks passed, seconds, statement.  The
full output of every script is kept in ``--log DIR`` (default: a temporary directory, printed at the end).

Exit code: 1 if any script FAILs or crashes (ERROR), else 3 if any is INCONCLUSIVE, else 0.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def scripts(only: str | None = None) -> list[str]:
    """The proof scripts, in claim order (c1, c2, ..., c11)."""
    found = sorted(glob.glob(os.path.join(HERE, "c[0-9]*_*.py")),
                   key=lambda p: int(os.path.basename(p)[1:].split("_")[0]))
    if only:
        want = {w.strip() for w in only.split(",") if w.strip()}
        found = [p for p in found if os.path.basename(p).split("_")[0] in want]
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="every script with --quick")
    mode.add_argument("--full", action="store_true", help="every script with --full (the default)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="scripts run at once (default: cores)")
    ap.add_argument("--only", help="comma-separated script prefixes, e.g. c5,c7")
    ap.add_argument("--log", help="directory for each script's output and JSON (default: a temporary one)")
    ap.add_argument("--json", help="write the table as JSON to this path")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        print(f"run_all: --jobs: expected an integer >= 1, got {args.jobs}", file=sys.stderr)
        return 2
    todo = scripts(args.only)
    if not todo:
        print(f"run_all: --only: no script matches {args.only!r}", file=sys.stderr)
        return 2
    log = args.log or tempfile.mkdtemp(prefix="hemtools-proofs-")
    os.makedirs(log, exist_ok=True)
    flag = "--quick" if args.quick else "--full"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    t0 = time.perf_counter()
    pending, running, rows = list(todo), {}, {}
    while pending or running:
        while pending and len(running) < args.jobs:
            path = pending.pop(0)
            name = os.path.basename(path)[:-3]
            out = open(os.path.join(log, name + ".out"), "w", encoding="utf-8")  # noqa: SIM115 — closed below
            js = os.path.join(log, name + ".json")
            if os.path.exists(js):
                os.remove(js)
            p = subprocess.Popen([sys.executable, path, flag, "--threads", "1", "--json", js],
                                 stdout=out, stderr=subprocess.STDOUT, env=env, cwd=HERE)
            running[name] = (p, out, js, time.perf_counter())
        time.sleep(0.2)
        for name, (p, out, js, start) in list(running.items()):
            if p.poll() is None:
                continue
            out.close()
            del running[name]
            rows[name] = row(name, p.returncode, js, time.perf_counter() - start)
            print(f"  finished {name}: {rows[name]['status']} ({rows[name]['seconds']:.1f} s)", flush=True)
    table = [rows[os.path.basename(p)[:-3]] for p in todo]
    wall = time.perf_counter() - t0
    print_table(table, flag, wall, args.jobs)
    print(f"outputs: {log}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"mode": flag[2:], "wall_seconds": wall, "jobs": args.jobs, "results": table}, fh, indent=1)
    statuses = {r["status"] for r in table}
    if statuses & {"FAIL", "ERROR"}:
        return 1
    return 3 if "INCONCLUSIVE" in statuses else 0


def row(name: str, code: int, js: str, seconds: float) -> dict:
    try:
        with open(js, encoding="utf-8") as fh:
            r = json.load(fh)
    except (OSError, ValueError):
        return {"script": name, "claim": name.split("_")[0].upper(), "status": "ERROR", "checks": "-",
                "seconds": seconds, "statement": f"no result (exit code {code}); see its .out file", "exit": code}
    c = r["counts"]
    return {"script": name, "claim": r["claim"], "status": r["status"], "checks": f"{c['PASS']}/{sum(c.values())}",
            "seconds": seconds, "statement": r["statement"], "exit": code}


def print_table(table: list[dict], flag: str, wall: float, jobs: int) -> None:
    print("\n| claim | script | status | checks passed | seconds | statement |")
    print("|---|---|---|---|---:|---|")
    for r in table:
        print(f"| {r['claim']} | {r['script']}.py | {r['status']} | {r['checks']} | {r['seconds']:.1f} | "
              f"{r['statement']} |")
    n = {s: sum(r["status"] == s for r in table) for s in ("PASS", "FAIL", "INCONCLUSIVE", "ERROR")}
    print(f"\n{len(table)} scripts ({flag}, {jobs} parallel): {n['PASS']} PASS, {n['FAIL']} FAIL, "
          f"{n['INCONCLUSIVE']} INCONCLUSIVE, {n['ERROR']} ERROR; wall time {wall:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
