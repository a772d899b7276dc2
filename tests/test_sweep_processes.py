"""Sweeps in real processes: SIGKILL mid-sweep then resume, a worker killed mid-cell (process pool and a
Dask LocalCluster), Ctrl-C, two sweep processes on one store, and the same values from 1 worker (2 workers
and Dask: the killed-worker tests).  Every store is compared cell by cell with an uninterrupted in-process
run: same keys, no duplicates, same verdicts and values, PRAGMA integrity_check ok.  Slow: each process
imports torch (seconds on a loaded 2-core machine)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from hemtools import sweep
from hemtools.cli import main

pytestmark = pytest.mark.slow

OPTS = sweep.SweepOptions(restarts=2, hessian=False)
GRID = ["--loss", "kcl,dhel,infonce", "--M", "2:5", "--d", "4", "--restarts", "2", "--no-hessian"]  # 12 cells

KILLER = '''\
import os, signal, torch

def f(U, V):
    """Kills the worker process running it once (the first cell with M = 3), mid-cell."""
    if U.shape[-2] == 3 and os.getpid() != int(os.environ["HEMTOOLS_TEST_PARENT"]):
        try:
            os.close(os.open(os.environ["HEMTOOLS_TEST_MARKER"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            os.kill(os.getpid(), signal.SIGKILL)
        except FileExistsError:
            pass
    return (1 - (U * V).sum(-1)).mean() + torch.logsumexp(2 * U @ U.transpose(-1, -2), dim=-1).mean()
'''


def table(path) -> dict:
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = con.execute("SELECT key, verdict, value, result FROM cells").fetchall()
    finally:
        con.close()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)), "duplicate cells"
    for r in rows:
        assert r[3].startswith("{") and r[3].endswith("}")  # whole rows only
    return {k: (v, x) for k, v, x, _ in rows}


def count_rows(path) -> int:
    if not os.path.exists(path):
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def children(pid: int) -> set[int]:
    """Every descendant of pid (from /proc)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    parent[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p and c not in out:
                out.add(c)
                todo.append(c)
    return out


def alive(pids) -> set[int]:
    out = set()
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.add(p)
        except OSError:
            pass
    return out


def gone(pids, timeout: float = 15) -> None:
    t0 = time.time()
    while alive(pids) and time.time() - t0 < timeout:
        time.sleep(0.2)
    assert not alive(pids), "worker processes outlived the sweep"


def start(db, *extra) -> subprocess.Popen:
    """The sweep in a session of its own, as a terminal would run it (Ctrl-C = SIGINT to the group)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "hemtools", "sweep", *GRID, "--store", str(db), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def wait_rows(db, n: int, p: subprocess.Popen, timeout: float = 240) -> None:
    t0 = time.time()
    while count_rows(db) < n:
        assert p.poll() is None, p.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.05)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, in this process."""
    db = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    assert main(["sweep", *GRID, "--store", str(db), "--workers", "0"]) == 0
    return table(db)


@pytest.mark.parametrize("backend", [["--workers", "2"], ["--dask", "local:2"]])
def test_sigkill_mid_sweep_then_resume(tmp_path, reference, backend):
    if "--dask" in backend:
        pytest.importorskip("distributed")
    db = tmp_path / "s.sqlite"
    p = start(db, *backend)
    wait_rows(db, 2, p)
    kids = children(p.pid)
    assert kids  # the workers
    p.send_signal(signal.SIGKILL)
    p.wait()
    n = count_rows(db)
    assert 2 <= n < len(reference), "killed too late to test anything"
    gone(kids)
    partial = table(db)
    assert all(reference[k] == v for k, v in partial.items())
    s = sweep.run(sweep.grid(["kcl", "dhel", "infonce"], [2, 3, 4, 5], [4]), str(db), OPTS, workers=0)  # resume
    assert (s.done, s.skipped) == (len(reference) - n, n)  # the dead sweep's leases were taken over at once
    assert table(db) == reference


@pytest.mark.parametrize("backend", [["--workers", "2"], ["--dask", "local:2"]])
def test_ctrl_c_stores_what_finished_and_says_how_to_resume(tmp_path, reference, backend):
    if "--dask" in backend:
        pytest.importorskip("distributed")
    db = tmp_path / "s.sqlite"
    p = start(db, *backend)
    wait_rows(db, 1, p)
    kids = children(p.pid)
    os.killpg(p.pid, signal.SIGINT)  # Ctrl-C: the sweep and its workers get it
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "Run the same command again to resume" in err and "Traceback" not in err
    gone(kids)
    assert all(reference[k] == v for k, v in table(db).items())
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
    con.close()
    assert main(["sweep", *GRID, "--store", str(db), "--workers", "0"]) == 0
    assert table(db) == reference


def test_two_sweep_processes_on_one_store(tmp_path, reference):
    db = tmp_path / "s.sqlite"
    ps = [start(db, "--workers", "0"), start(db, "--workers", "0")]
    outs = [p.communicate(timeout=600) for p in ps]
    assert [p.returncode for p in ps] == [0, 0], outs
    ran = [int(o.split(" cells run")[0].split()[-1]) for o, _ in outs]
    assert sum(ran) == len(reference)  # no cell computed twice, none lost
    assert table(db) == reference


@pytest.mark.parametrize("backend", ["pool", "dask"])
def test_a_worker_killed_mid_cell_loses_only_that_cell(tmp_path, monkeypatch, backend):
    if backend == "dask":
        pytest.importorskip("distributed")
    src = tmp_path / "killer.py"
    src.write_text(KILLER)
    monkeypatch.setenv("HEMTOOLS_TEST_PARENT", str(os.getpid()))
    monkeypatch.setenv("HEMTOOLS_TEST_MARKER", str(tmp_path / "killed-once"))
    cells = sweep.grid([f"{src}:f", "kcl"], [2, 3, 4], [3])
    be = sweep.LocalBackend(2) if backend == "pool" else sweep.DaskBackend("local:2")
    s = sweep.run(cells, str(tmp_path / "s.sqlite"), OPTS, backend=be)
    assert (tmp_path / "killed-once").exists()  # a worker did die mid-cell
    assert s.done == len(cells) and "error" not in s.verdicts
    ref = sweep.run(cells, str(tmp_path / "ref.sqlite"), OPTS, workers=0)  # marker exists: nobody dies
    assert ref.done == len(cells)
    assert table(tmp_path / "s.sqlite") == table(tmp_path / "ref.sqlite")


def test_a_cell_that_always_kills_its_worker_is_an_error(tmp_path):
    src = tmp_path / "bomb.py"
    src.write_text("import os, signal, torch\n\ndef f(U, V):\n    if U.shape[-2] == 3:\n"
                   "        os.kill(os.getpid(), signal.SIGKILL)\n    return (1 - (U * V).sum(-1)).mean()\n")
    cells = sweep.grid([f"{src}:f"], [2, 3], [3]) + sweep.grid(["kcl"], [2, 3], [3])
    s = sweep.run(cells, str(tmp_path / "s.sqlite"), OPTS, backend=sweep.LocalBackend(2))
    rows = {(r["loss"], r["M"]): r for r in sweep.read_results(str(tmp_path / "s.sqlite"))}
    assert s.done == 4 and rows[(f"{src}:f", 3)]["verdict"] == "error"
    assert "worker process died" in rows[(f"{src}:f", 3)]["reason"]
    assert rows[("kcl", 2)]["verdict"] == rows[("kcl", 3)]["verdict"] == "confirmed"


def test_same_values_from_1_worker_as_in_process(tmp_path, reference):
    """A pool of one worker stores the values of the in-process run.  Two workers and Dask: the same full-table
    comparison with an in-process run is made by test_a_worker_killed_mid_cell_loses_only_that_cell[pool]
    and [dask] (every cell, a registered and a user loss), and the rows their workers stored are compared with
    ``reference`` in test_sigkill_mid_sweep_then_resume and test_ctrl_c_stores_what_finished_... (kcl, dhel,
    infonce); running them here again cost two more worker pools and a LocalCluster (~35 s on a loaded machine)."""
    cells = sweep.grid(["kcl", "dhel", "infonce"], [2, 3], [4])
    sweep.run(cells, str(tmp_path / "pool1.sqlite"), OPTS, backend=sweep.LocalBackend(1))
    got = table(tmp_path / "pool1.sqlite")
    # the reference ran the same grid through the CLI, in the pytest process
    assert got == {k: v for k, v in reference.items() if k in got}
    assert len(got) == len(cells)
