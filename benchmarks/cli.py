"""End-to-end timing of the CLI (issue #4), measured in one run, as a table:

    python benchmarks/cli.py [--repeats 5]

  python -c "import torch"                 baseline: the interpreter plus torch
  verify --loss kcl --M 8 --d 16           target: <= baseline + 1 s
  hemtools --help                          target: <= 0.3 s (no torch import)

Each command runs as a fresh process with one BLAS/torch thread; the median of the repeats is shown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str], repeats: int) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        ts.append(time.perf_counter() - t)
        if p.returncode not in (0,):
            raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()[-500:]}")
    return statistics.median(ts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    bindir = os.path.dirname(sys.executable)
    base = wall([sys.executable, "-c", "import torch"], args.repeats)
    ver = wall([os.path.join(bindir, "verify"), "--loss", "kcl", "--M", "8", "--d", "16"], args.repeats)
    hlp = wall([os.path.join(bindir, "hemtools"), "--help"], args.repeats)
    rows = [
        ('python -c "import torch"', f"{base:.3f} s", "baseline"),
        ("verify --loss kcl --M 8 --d 16", f"{ver:.3f} s",
         f"baseline + {ver - base:.3f} s (target <= +1 s: {'met' if ver - base <= 1 else 'MISSED'})"),
        ("hemtools --help", f"{hlp:.3f} s", f"target <= 0.3 s: {'met' if hlp <= 0.3 else 'MISSED'}"),
    ]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"hemtools CLI timing (median of {args.repeats} fresh processes, 1 thread)")
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
