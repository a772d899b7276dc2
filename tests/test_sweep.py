"""Sweeps into a result store: the cell key, resuming, error cells, the SQLite store (schema, leases,
export/import), JSON lines as a careless user leaves them, the report and its --where filter, and bad
input refused up front (exit 2, one line, the store untouched).  In-process (``--workers 0``) and tiny
cells; the runs in real processes (SIGKILL, Dask, two sweeps at once) are in test_sweep_processes.py."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time

import pytest

from hemtools import store as stores
from hemtools import sweep
from hemtools.cli import main

OPTS = sweep.SweepOptions(restarts=2, hessian=False)
TINY = ["--restarts", "2", "--no-hessian", "--workers", "0"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def table(path) -> dict:
    """key → (verdict, value) of a store, asserting there is one row per key."""
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT key, verdict, value FROM cells").fetchall()
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys))
    return {k: (v, x) for k, v, x in rows}


# ------------------------------------------------------------------------------------------- the key


def test_cell_key_holds_every_solver_option():
    c = sweep.Cell("kcl", 3, 2)
    base = sweep.cell_key(c, OPTS)
    variants = [sweep.SweepOptions(restarts=2, hessian=False, seed=7), sweep.SweepOptions(restarts=16, hessian=False),
                sweep.SweepOptions(restarts=2, hessian=False, dtype="float32"), sweep.SweepOptions(restarts=2),
                sweep.SweepOptions(restarts=2, hessian=False, tol=1e-8),
                sweep.SweepOptions(restarts=2, hessian=False, device="cuda")]
    keys = {sweep.cell_key(c, o) for o in variants}
    assert base not in keys and len(keys) == len(variants)
    assert sweep.cell_key(sweep.Cell("kcl", 3, 2, claim="simplex"), OPTS) != base
    assert sweep.cell_key(sweep.Cell("kcl", 3, 2, (("t", 3.0),)), OPTS) != base
    # the per-cell seed is a function of the key only (not of the order or the worker)
    assert sweep.cell_seed(base) == sweep.cell_seed(sweep.cell_key(sweep.Cell("kcl", 3, 2), OPTS))
    assert sweep.cell_seed(base) != sweep.cell_seed(sweep.cell_key(c, variants[0]))
    # keep_points changes what is kept, not the result: same key
    assert sweep.cell_key(c, sweep.SweepOptions(restarts=2, hessian=False, keep_points=True)) == base


def test_library_cells_and_cli_cells_share_keys(tmp_path, capsys):
    """params={} and the explicit defaults are one cell: a library run finds the CLI's rows done."""
    db = tmp_path / "s.sqlite"
    assert main(["sweep", "--loss", "kcl", "--M", "2", "--d", "2", "--store", str(db), *TINY]) == 0
    s = sweep.run(sweep.grid(["kcl"], [2], [2]), str(db), OPTS, workers=0)
    assert s.skipped == 1 and s.done == 0


def test_ranges():
    assert sweep.parse_int_list("2:5,3,8", "--M") == [2, 3, 4, 5, 8]
    for bad in ("5:2", "a", "2:", "2:9:0", "", "1:3:4:5"):
        with pytest.raises(ValueError, match="--M"):
            sweep.parse_int_list(bad, "--M")


# ------------------------------------------------------------------------------- store and resuming


def test_sqlite_sweep_resumes_extends_and_forces(tmp_path, capsys):
    db = tmp_path / "s.sqlite"
    code, out, err = run_cli(capsys, "sweep", "--loss", "kcl", "--M", "2:3", "--d", "2", "--store", str(db), *TINY)
    assert code == 0 and "2 cells run, 0 already" in out and "[2/2]" in err
    first = table(db)
    assert len(first) == 2 and {v for v, _ in first.values()} == {"confirmed"}
    code, out, _ = run_cli(capsys, "sweep", "--loss", "kcl", "--M", "2:3", "--d", "2", "--store", str(db), *TINY)
    assert code == 0 and "0 cells run, 2 already" in out
    # a larger grid adds only the new cells
    code, out, _ = run_cli(capsys, "sweep", "--loss", "kcl", "--M", "2:3", "--d", "2,3", "--store", str(db), *TINY)
    assert "2 cells run, 2 already" in out and len(table(db)) == 4
    # another seed is another cell (it used to reuse the seed-0 rows)
    code, out, _ = run_cli(capsys, "sweep", "--loss", "kcl", "--M", "2", "--d", "2", "--store", str(db), "--seed", "7",
                           *TINY)
    assert "1 cells run, 0 already" in out and len(table(db)) == 5
    # --force recomputes in place: same values (same per-cell seed), still one row per cell
    code, out, _ = run_cli(capsys, "sweep", "--loss", "kcl", "--M", "2:3", "--d", "2", "--store", str(db), "--force",
                           *TINY)
    assert "2 cells run, 0 already" in out
    after = table(db)
    assert len(after) == 5 and all(after[k] == first[k] for k in first)
    con = sqlite3.connect(db)
    assert con.execute("SELECT version FROM hemtools_schema").fetchall() == [(stores.SCHEMA_VERSION,)]
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0  # released when the sweep ends
    row = con.execute("SELECT seed, host, finished_at, hemtools, torch, result FROM cells LIMIT 1").fetchone()
    con.close()
    assert all(x is not None for x in row) and json.loads(row[-1])["cell_seed"] == row[0]


def test_a_raising_cell_is_an_error_row_and_is_recomputed(tmp_path, capsys):
    src = tmp_path / "userloss.py"
    src.write_text("import torch\n\ndef f(U, V):\n    raise RuntimeError('not yet written')\n")
    db = tmp_path / "s.sqlite"
    argv = ("sweep", "--loss", f"kcl,{src}:f", "--M", "2", "--d", "2", "--store", str(db), *TINY)
    code, out, err = run_cli(capsys, *argv)
    assert code == 4 and "2 cells run" in out and "not yet written" in err  # the sweep went on
    rows = {r["loss"]: r for r in stores.read_rows(str(db))}
    assert rows["kcl"]["verdict"] == "confirmed" and rows[f"{src}:f"]["verdict"] == "error"
    assert "RuntimeError: not yet written" in rows[f"{src}:f"]["reason"]
    src.write_text("import torch\n\ndef f(U, V):\n    return (1 - (U * V).sum(-1)).mean()"
                   " + torch.logsumexp(2 * U @ U.T, dim=1).mean()\n")
    code, out, _ = run_cli(capsys, *argv)
    assert "1 cells run, 1 already" in out  # an error cell is not done
    assert {r["verdict"] for r in stores.read_rows(str(db))} != {"error"} and len(table(db)) == 2


def test_user_code_that_exits_is_an_error_row(tmp_path):
    src = tmp_path / "quitter.py"
    src.write_text("import sys\n\ndef f(U, V):\n    sys.exit(3)\n")
    s = sweep.run(sweep.grid([f"{src}:f", "kcl"], [2], [2]), str(tmp_path / "s.sqlite"), OPTS, workers=0)
    assert s.verdicts == {"error": 1, "confirmed": 1}
    assert any("SystemExit" in r.get("reason", "") for r in s.results)


def test_two_sweeps_share_one_store_without_computing_a_cell_twice(tmp_path):
    """Two sweeps (threads here, processes in test_sweep_processes) on one store: every cell once."""
    db = str(tmp_path / "s.sqlite")
    cells = sweep.grid(["kcl", "dhel"], [2, 3], [2, 3])
    sums: list = []

    def go():
        sums.append(sweep.run(cells, db, OPTS, workers=0))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(table(db)) == len(cells)
    assert sum(s.done for s in sums) == len(cells)  # no cell computed twice
    assert all(s.done + s.by_others + s.skipped == len(cells) for s in sums)


def test_a_dead_sweeps_lease_is_taken_over(tmp_path):
    db = str(tmp_path / "s.sqlite")
    cells = sweep.grid(["kcl"], [2], [2])
    key = sweep.cell_key(sweep.canonical(cells)[0], OPTS)
    ghost = stores.SqliteStore(db, owner="gone")
    ghost._stop.set()  # no heartbeat thread: it "dies" below without releasing its lease
    assert ghost.claim(key) == "claimed"
    other = stores.SqliteStore(db)
    # another host, fresh heartbeat: alive, its cell is busy; a stale heartbeat: dead
    ghost.con.execute("UPDATE owners SET host='elsewhere', heartbeat=? WHERE owner='gone'", (time.time(),))
    assert other.state(key) == "busy" and other.claim(key) == "busy"
    ghost.con.execute("UPDATE owners SET heartbeat=0 WHERE owner='gone'")
    assert other.state(key) == "free"
    # this host, a pid that is gone: dead at once, whatever the heartbeat
    ghost.con.execute("UPDATE owners SET host=?, pid=?, heartbeat=? WHERE owner='gone'",
                      (other.host, 2 ** 22 + 12345, time.time()))
    assert other.state(key) == "free"
    other.close()
    ghost.con.close()
    s = sweep.run(cells, db, OPTS, workers=0)
    assert s.done == 1 and len(table(db)) == 1


def test_export_import_round_trip(tmp_path, capsys):
    db = tmp_path / "s.sqlite"
    assert main(["sweep", "--loss", "kcl,dhel", "--M", "2", "--d", "2", "--store", str(db), *TINY]) == 0
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "sweep", "export", str(db), "--jsonl")
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and len(lines) == 2 and all("cell" in x and "cell_seed" in x for x in lines)
    (tmp_path / "e.jsonl").write_text(out)
    db2 = tmp_path / "t.sqlite"
    code, out, _ = run_cli(capsys, "sweep", "import", str(tmp_path / "e.jsonl"), str(db2))
    assert code == 0 and "2 rows imported" in out
    assert table(db2) == table(db)
    # the imported store is a store: the same sweep finds everything done
    code, out, _ = run_cli(capsys, "sweep", "--loss", "kcl,dhel", "--M", "2", "--d", "2", "--store", str(db2), *TINY)
    assert "0 cells run, 2 already" in out
    code, out, _ = run_cli(capsys, "sweep", "export", str(db), "--csv", "--out", str(tmp_path / "e.csv"))
    text = (tmp_path / "e.csv").read_text().splitlines()
    assert code == 0 and text[0].startswith("key,loss,M,d,params") and len(text) == 3


# ------------------------------------------------------------------------- JSON lines, carelessly used


def test_jsonl_store_survives_cut_and_foreign_lines(tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    argv = ("sweep", "--loss", "kcl", "--M", "2:3", "--d", "2", "--out", str(out), *TINY)
    assert main(list(argv)) == 0
    capsys.readouterr()
    good = out.read_bytes().splitlines(keepends=True)
    # a crash cut the last line, plus lines that are not UTF-8 or not JSON objects
    out.write_bytes(good[0] + b"[1, 2]\n" + b"\xff\xfe not utf-8\n" + b"42\n" + good[1][:25])
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0 and "1 cells run, 1 already" in stdout
    lines = out.read_bytes().splitlines()
    assert json.loads(lines[-1])["M"] == 3  # the new row is on a line of its own, not glued to the cut one
    code, stdout, err = run_cli(capsys, *argv)
    assert "0 cells run, 2 already" in stdout  # one rerun is enough
    code, stdout, err = run_cli(capsys, "sweep", "report", str(out))
    assert code == 0 and "2 cells: confirmed 2" in stdout and "skipped 4 unreadable line(s)" in err
    assert sweep.read_results(str(out))[-1]["M"] == 3


def test_jsonl_store_has_one_writer(tmp_path):
    path = str(tmp_path / "s.jsonl")
    with stores.JsonlStore(path), pytest.raises(ValueError, match="another sweep is writing"):
        stores.JsonlStore(path)


# ---------------------------------------------------------------------------------------- the report


def test_report_table_json_plot_and_where(tmp_path, capsys):
    db = tmp_path / "s.sqlite"
    assert main(["sweep", "--loss", "kcl,dhel", "--M", "2:3", "--d", "2", "--store", str(db), *TINY]) == 0
    capsys.readouterr()
    before = digest(db)
    code, out, _ = run_cli(capsys, "sweep", "report", str(db))
    assert code == 0 and "4 cells: confirmed 4" in out and "s per cell" in out and "simplex value" in out
    assert "max |gap|" in out
    code, out, _ = run_cli(capsys, "sweep", "report", str(db), "--json", "--where", "loss='dhel' and M>=3")
    rep = json.loads(out)
    assert rep["rows"] == 1 and rep["groups"][0]["cells"][0]["M"] == 3
    gap = rep["groups"][0]["cells"][0]["gap"]
    assert gap is not None and abs(gap) < 1e-9  # measured: value found − loss at the simplex
    code, out, _ = run_cli(capsys, "sweep", "report", str(db), "--where", "verdict != 'confirmed' or M = 2",
                           "--plot", str(tmp_path / "p.png"))
    assert code == 0 and out.startswith("2 cells") and (tmp_path / "p.png").stat().st_size > 5000
    assert digest(db) == before  # the report only reads


@pytest.mark.parametrize("where", ["loss='kcl'; DROP TABLE cells", "1=1", "loss = kcl", "loss='kcl' and",
                                   "loss='kcl' or 1", "sqlite_master.name='x'", "loss='x' union select 1"])
def test_where_is_a_restricted_filter_not_sql(tmp_path, capsys, where):
    db = tmp_path / "s.sqlite"
    assert main(["sweep", "--loss", "kcl", "--M", "2", "--d", "2", "--store", str(db), *TINY]) == 0
    capsys.readouterr()
    before = digest(db)
    code, out, err = run_cli(capsys, "sweep", "report", str(db), "--where", where)
    assert code == 2 and err.count("\n") == 1 and "--where" in err
    assert digest(db) == before and len(table(db)) == 1


# ------------------------------------------------------------------------ bad input: exit 2, untouched


@pytest.mark.parametrize("extra, message", [
    (["--M", "5:2"], "--M: range 5:2 is empty"), (["--M", "a"], "--M: expected integers"),
    (["--d", "3:2"], "--d: range 3:2 is empty"), (["--seed", "-1"], "--seed"), (["--device", "gpu7"], "--device"),
    (["--tol", "-1"], "--tol"), (["--tol", "nan"], "--tol"), (["--claim", "cube"], "--claim"),
    (["--restarts", "0"], "--restarts"), (["--workers", "-1"], "--workers"), (["--loss", "kclx"], "unknown loss"),
    (["--dask", "nowhere"], "--dask"), (["--dask", "local:0"], "--dask"),
    (["--dask", "local:2", "--workers", "2"], "choose one backend"),
])
def test_bad_input_is_refused_before_anything_runs(tmp_path, capsys, extra, message):
    db = tmp_path / "s.sqlite"
    base = ["sweep", "--loss", "kcl", "--M", "2:3", "--d", "2", "--store", str(db), "--restarts", "2"]
    code, out, err = run_cli(capsys, *base, *extra)  # argparse: the later value wins
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not db.exists()  # nothing created


def test_an_empty_database_is_a_new_store(tmp_path):
    """Two sweeps started together: the second may see the file the first is creating, with no table yet."""
    db = tmp_path / "s.sqlite"
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    assert stores.check_store(str(db)) == "sqlite"
    assert sweep.run(sweep.grid(["kcl"], [2], [2]), str(db), OPTS, workers=0).done == 1


def test_foreign_files_and_other_schemas_are_refused_untouched(tmp_path, capsys):
    cases = {}
    text = tmp_path / "notes.sqlite"
    text.write_text("my thesis notes\n")
    cases[text] = "not a hemtools store"
    prose = tmp_path / "notes.jsonl"
    prose.write_bytes(b"my thesis notes\n\xff\xfe\n[1, 2]\n")
    cases[prose] = "not a hemtools store"
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE people (name TEXT)")
    con.commit()
    con.close()
    cases[other] = "not a hemtools store"
    future = tmp_path / "future.sqlite"
    with stores.SqliteStore(str(future)):
        pass
    con = sqlite3.connect(future)
    con.execute("UPDATE hemtools_schema SET version = 99")
    con.commit()
    con.close()
    cases[future] = "schema version 99"
    for path, message in cases.items():
        before = digest(path)
        for argv in (["sweep", "--loss", "kcl", "--M", "2", "--d", "2", "--store", str(path), *TINY],
                     ["sweep", "report", str(path)], ["sweep", "export", str(path), "--jsonl"],
                     ["sweep", "import", str(path), str(tmp_path / "x.sqlite")]):
            code, out, err = run_cli(capsys, *argv)
            assert code == 2 and err.count("\n") == 1, (path, argv, err)
            assert message in err or "import reads JSON lines" in err, err
        assert digest(path) == before
        assert not (tmp_path / "x.sqlite").exists()


def test_unreachable_dask_scheduler(tmp_path, capsys):
    pytest.importorskip("distributed")
    db = tmp_path / "s.sqlite"
    code, out, err = run_cli(capsys, "sweep", "--loss", "kcl", "--M", "2", "--d", "2", "--store", str(db),
                             "--dask", "tcp://127.0.0.1:9", "--dask-timeout", "2", "--restarts", "2")
    assert code == 2 and "--dask: cannot reach a scheduler at tcp://127.0.0.1:9" in err and err.count("\n") == 1
    assert not db.exists()


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise(monkeypatch):
    import io

    from hemtools.commands.sweep import _Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    cases = ((Tty(), ["2/2", "cell/s", "confirmed=1", "refuted=1"]), (io.StringIO(), ["[1/2] kcl M=2 d=2: confirmed"]))
    for stream, expect in cases:
        monkeypatch.setattr("sys.stderr", stream)
        bar = _Progress(2)
        bar(1, 2, {"loss": "kcl", "M": 2, "d": 2, "verdict": "confirmed"})
        bar(2, 2, {"loss": "kcl", "M": 3, "d": 2, "verdict": "refuted"})
        bar.close()
        assert all(e in stream.getvalue() for e in expect), stream.getvalue()


def _open_store(path, barrier, q):
    barrier.wait()
    try:
        stores.SqliteStore(path).close()
        q.put("ok")
    except Exception as exc:  # noqa: BLE001 - the message is the result
        q.put(repr(exc))


@pytest.mark.skipif(not hasattr(os, "fork"),
                    reason="starts the two openers by os.fork, which this platform (Windows) does not have")
def test_two_processes_opening_a_new_store_at_once_both_get_it(tmp_path):
    """Found by the README's test command in a fresh venv (test_two_sweep_processes_on_one_store failed once):
    switching a new store to WAL does not wait for the other process; before the retry 32 of 120 opens failed
    with "database is locked"."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    results = []
    for i in range(12):
        barrier, q = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_open_store, args=(str(tmp_path / f"s{i}.sqlite"), barrier, q)) for _ in range(2)]
        for p in procs:
            p.start()
        results += [q.get(timeout=60), q.get(timeout=60)]
        for p in procs:
            p.join(timeout=60)
    assert results == ["ok"] * 24, [r for r in results if r != "ok"]
