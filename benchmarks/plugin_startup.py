"""What the pytest plugin adds to pytest's start-up (issue #8), measured in one run, as a table:

    python benchmarks/plugin_startup.py [--repeats 15]

  pytest --co -q -p no:hemtools      baseline: collection of a one-test suite without the plugin
  pytest --co -q                     with the plugin (auto-loaded through its pytest11 entry point)

Both run as fresh processes in a temporary directory holding one trivial test (no conftest, so nothing
else is imported), alternating so that machine load affects both alike; the median is shown.
Target: the plugin adds <= 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "test_trivial.py"), "w") as fh:
            fh.write("def test_trivial():\n    assert True\n")
        base_cmd = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
        cmds = {"without": base_cmd + ["-p", "no:hemtools"], "with": base_cmd}
        times: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(args.repeats):
            for key, cmd in cmds.items():
                t = time.perf_counter()
                p = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True)
                times[key].append(time.perf_counter() - t)
                if p.returncode != 0:
                    raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}: {p.stdout[-500:]}{p.stderr[-500:]}")
        # the plugin must really be loaded in the "with" run and absent in the other
        plugins = subprocess.run(base_cmd + ["--help"], cwd=d, env=env, capture_output=True, text=True).stdout
        if "--hemtools-seed" not in plugins:
            raise SystemExit("the hemtools plugin was not loaded: is hemtools installed (pip install -e .)?")
    base = statistics.median(times["without"])
    with_ = statistics.median(times["with"])
    rows = [
        ("pytest --co -q -p no:hemtools", f"{base:.3f} s", "baseline", "1.00"),
        ("pytest --co -q (plugin loaded)", f"{with_:.3f} s",
         f"+{with_ - base:.3f} s (target <= +0.3 s: {'met' if with_ - base <= 0.3 else 'MISSED'})",
         f"{with_ / base:.2f}"),
    ]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"pytest start-up with and without the hemtools plugin (median of {args.repeats} fresh processes)")
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(("command", "time", "added", "ratio"))))
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
