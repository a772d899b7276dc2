"""Result stores of a sweep: SQLite (default, many writers) and JSON lines (one writer, plain text).

SQLite store (standard-library ``sqlite3``, WAL journal):

* ``hemtools_schema(version, created, hemtools)``: one row; a store of another schema version is refused.
* ``cells``: one row per finished cell, primary key = the cell key (loss, M, d, params, claim and every
  solver option), with the columns a report needs plus the full verify JSON.  Rows are written by the
  submitting process only, one transaction per cell (``BEGIN IMMEDIATE … COMMIT``): a crash leaves
  either the whole row or nothing.  ``synchronous=NORMAL``: a killed process loses nothing committed; a
  power cut may lose the last few cells (they are recomputed by the next run), never corrupts.
* ``leases``: the cells a running sweep has claimed (owner, host, pid, heartbeat), so that two sweeps on
  one store never compute a cell twice; a lease whose owner died (pid gone on this host, or no heartbeat
  for ``STALE_S`` seconds) is taken over.

An ``error`` row is not "done": the next run recomputes it.  Readers (``sweep report``, ``export``) open
the database read-only.

JSON-lines store: the historical ``--out file.jsonl``; one writer at a time (an exclusive ``flock``),
the last line of a cell wins, lines that are cut, not UTF-8 or not JSON objects are skipped and counted.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .errors import ArgumentError

SCHEMA_VERSION = 1
STALE_S = 120.0  # a lease without heartbeat for this long belongs to a dead sweep
SQLITE_MAGIC = b"SQLite format 3\x00"

COLUMNS = ("key", "loss", "M", "d", "params", "claim", "options", "verdict", "reason", "value", "reference",
           "gap", "grad_norm", "configuration", "seconds", "seed", "host", "finished_at", "hemtools", "torch",
           "result")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hemtools_schema (version INTEGER NOT NULL, created TEXT NOT NULL, hemtools TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, loss TEXT NOT NULL, M INTEGER NOT NULL, d INTEGER NOT NULL, params TEXT NOT NULL,
    claim TEXT, options TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT, value REAL, reference REAL, gap REAL,
    grad_norm REAL, configuration TEXT, seconds REAL, seed INTEGER, host TEXT, finished_at TEXT NOT NULL,
    hemtools TEXT, torch TEXT, result TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cells_loss ON cells (loss, M, d);
CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS owners (owner TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
    heartbeat REAL NOT NULL);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _finite(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def row_of(result: dict) -> dict:
    """The columns of one finished cell from its stored result (verify JSON + cell, options, seed, ...)."""
    ref = result.get("reference") if isinstance(result.get("reference"), dict) else {}
    value, refv = _finite(result.get("value")), _finite(ref.get("value"))
    gap = value - refv if (value is not None and refv is not None and "simplex" in str(ref.get("name", ""))) else None
    return {
        "key": result["cell"], "loss": str(result.get("loss")), "M": int(result.get("M")), "d": int(result.get("d")),
        "params": json.dumps(result.get("params") or {}, sort_keys=True), "claim": result.get("claim"),
        "options": json.dumps(result.get("options") or {}, sort_keys=True), "verdict": str(result.get("verdict")),
        "reason": result.get("reason"), "value": value, "reference": refv, "gap": gap,
        "grad_norm": _finite(result.get("grad_norm")), "configuration": result.get("configuration"),
        "seconds": _finite(result.get("seconds")), "seed": result.get("cell_seed"), "host": result.get("host"),
        "finished_at": result.get("finished_at") or _now(), "hemtools": result.get("hemtools_version"),
        "torch": result.get("torch_version"), "result": json.dumps(result, allow_nan=False, sort_keys=True),
    }


# --------------------------------------------------------------------------------------------------------
# opening: what kind of file, is it ours, which schema


def kind_of(path: str) -> str:
    """'sqlite' or 'jsonl': by content when the file exists and is not empty, else by extension."""
    if os.path.isfile(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as fh:
            head = fh.read(16)
        if head == SQLITE_MAGIC:
            return "sqlite"
        if path.endswith((".sqlite", ".sqlite3", ".db")):
            raise ArgumentError(f"{path}: not a hemtools store (not an SQLite database)")
        return "jsonl"
    return "jsonl" if path.endswith((".jsonl", ".json", ".ndjson")) else "sqlite"


def _ro_connect(path: str) -> sqlite3.Connection:
    from urllib.parse import quote

    return sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True, timeout=30)


def check_sqlite(path: str) -> None:
    """Raise ArgumentError unless ``path`` is absent, empty or a hemtools store of this schema (read-only)."""
    if os.path.isdir(path):
        raise ArgumentError(f"{path}: is a directory; give a store file")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        d = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(d):
            raise ArgumentError(f"{path}: directory {d!r} does not exist")
        return
    try:
        con = _ro_connect(path)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:  # an empty database, or a store another sweep is creating right now
                return
            if "hemtools_schema" not in tables or "cells" not in tables:
                raise ArgumentError(f"{path}: not a hemtools store (an SQLite database without hemtools tables)")
            row = con.execute("SELECT version FROM hemtools_schema").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise ArgumentError(f"{path}: not a hemtools store ({exc})") from None
    if row is None or row[0] != SCHEMA_VERSION:
        raise ArgumentError(f"{path}: store schema version {row[0] if row else 'missing'}, this hemtools reads "
                            f"version {SCHEMA_VERSION}; export it with the hemtools that wrote it")


def check_store(path: str) -> str:
    """Validate a store path before anything runs (never modifies it); returns its kind."""
    kind = kind_of(path)
    if kind == "sqlite":
        check_sqlite(path)
    elif os.path.isdir(path):
        raise ArgumentError(f"{path}: is a directory; give a store file")
    elif not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ArgumentError(f"{path}: directory {os.path.dirname(os.path.abspath(path))!r} does not exist")
    elif os.path.isfile(path) and os.path.getsize(path) > 0:
        stats = ReadStats()
        rows = read_jsonl(path, stats)
        if not any("loss" in r and "verdict" in r for r in rows):
            raise ArgumentError(f"{path}: not a hemtools store (no line is a sweep result)")
    return kind


def open_store(path: str, *, owner: str | None = None) -> SqliteStore | JsonlStore:
    kind = check_store(path)
    return SqliteStore(path, owner=owner) if kind == "sqlite" else JsonlStore(path)


# --------------------------------------------------------------------------------------------------------
# SQLite


@dataclass
class SqliteStore:
    path: str
    owner: str | None = None
    write_seconds: float = 0.0  # time spent in put() (the store's overhead per cell, measured)
    writes: int = 0
    busy_timeout_s: float = 60.0  # how long a write waits for another process's lock
    _last_beat: float = field(default=0.0, repr=False)

    def _journal_mode_wal(self) -> str:
        """Switch to WAL, waiting for another process as every write does.  Switching the journal mode of a new
        store does not go through SQLite's busy handler: two sweeps started together on one new file got
        "database is locked" at once in 32 of 120 opens (two processes released by a barrier), so it is retried
        here until busy_timeout_s."""
        until = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                return self.con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() >= until:
                    raise
                time.sleep(0.02)

    def __post_init__(self):
        check_sqlite(self.path)
        self.host = socket.gethostname()
        self.owner = self.owner or f"{self.host}:{os.getpid()}:{time.time_ns()}"
        try:
            self.con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            self.con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            mode = self._journal_mode_wal()
        except sqlite3.OperationalError as exc:  # a folder that refuses files, a read-only store
            raise ArgumentError(f"{self.path}: cannot open the store for writing ({exc})") from None
        if str(mode).lower() != "wal":  # e.g. a network file system: still correct, one writer at a time
            self.con.execute("PRAGMA journal_mode=DELETE")
        self.con.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._tx():
                for stmt in _SCHEMA.strip().split(";\n"):
                    if stmt.strip():
                        self.con.execute(stmt)
                if self.con.execute("SELECT COUNT(*) FROM hemtools_schema").fetchone()[0] == 0:
                    from . import __version__

                    self.con.execute("INSERT INTO hemtools_schema VALUES (?, ?, ?)",
                                     (SCHEMA_VERSION, _now(), __version__))
                self._beat()
        except sqlite3.OperationalError as exc:  # another process holds a write lock past the busy timeout
            self.con.close()
            raise ArgumentError(f"{self.path}: cannot write to the store ({exc}: another process has held it for "
                                f"{self.busy_timeout_s:g} s); nothing was computed: run again when it is free"
                                ) from None
        # a thread with its own connection keeps the heartbeat while a long cell blocks the sweep loop
        self._stop = threading.Event()
        self._beater = threading.Thread(target=self._beat_forever, daemon=True)
        self._beater.start()

    def _beat_forever(self) -> None:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            while not self._stop.wait(STALE_S / 8):
                with contextlib.suppress(sqlite3.Error):
                    con.execute("UPDATE owners SET heartbeat=? WHERE owner=?", (time.time(), self.owner))
        finally:
            con.close()

    # transactions ----------------------------------------------------------------------------------------
    class _Tx:
        def __init__(self, con):
            self.con = con

        def __enter__(self):
            self.con.execute("BEGIN IMMEDIATE")

        def __exit__(self, et, ev, tb):
            self.con.execute("COMMIT" if et is None else "ROLLBACK")

    def _tx(self):
        return self._Tx(self.con)

    def _beat(self) -> None:
        self.con.execute("INSERT INTO owners VALUES (?, ?, ?, ?) ON CONFLICT(owner) DO UPDATE SET heartbeat="
                         "excluded.heartbeat", (self.owner, self.host, os.getpid(), time.time()))
        self._last_beat = time.monotonic()

    def heartbeat(self, every: float = 5.0) -> None:
        if time.monotonic() - self._last_beat >= every:
            with self._tx():
                self._beat()

    # reading ---------------------------------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        """Keys of finished cells (an error is not finished)."""
        return {r[0] for r in self.con.execute("SELECT key FROM cells WHERE verdict != 'error'")}

    def rows(self) -> list[dict]:
        return [json.loads(r[0]) for r in self.con.execute("SELECT result FROM cells ORDER BY loss, M, d, key")]

    # leases ----------------------------------------------------------------------------------------------
    def _owner_dead(self, owner: str) -> bool:
        row = self.con.execute("SELECT host, pid, heartbeat FROM owners WHERE owner=?", (owner,)).fetchone()
        if row is None:
            return True
        host, pid, beat = row
        if host == self.host and pid != os.getpid():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return time.time() - beat > STALE_S

    def claim(self, key: str, *, force: bool = False) -> str:
        """Claim a cell for this sweep: 'claimed', 'done' (finished, skip) or 'busy' (another live sweep)."""
        t0 = time.perf_counter()
        with self._tx():
            if time.monotonic() - self._last_beat > 5:
                self._beat()
            if not force:
                row = self.con.execute("SELECT verdict FROM cells WHERE key=?", (key,)).fetchone()
                if row is not None and row[0] != "error":
                    self.write_seconds += time.perf_counter() - t0
                    return "done"
            lease = self.con.execute("SELECT owner FROM leases WHERE key=?", (key,)).fetchone()
            if lease is not None and lease[0] != self.owner and not self._owner_dead(lease[0]):
                out = "busy"
            else:
                self.con.execute("INSERT INTO leases VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET owner=excluded.owner",
                                 (key, self.owner))
                out = "claimed"
        self.write_seconds += time.perf_counter() - t0
        return out

    def release(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        with self._tx():
            self.con.executemany("DELETE FROM leases WHERE key=? AND owner=?", [(k, self.owner) for k in keys])

    def state(self, key: str) -> str:
        """'done', 'busy' (leased by a live sweep) or 'free' (read, no write)."""
        row = self.con.execute("SELECT verdict FROM cells WHERE key=?", (key,)).fetchone()
        if row is not None and row[0] != "error":
            return "done"
        lease = self.con.execute("SELECT owner FROM leases WHERE key=?", (key,)).fetchone()
        if lease is not None and lease[0] != self.owner and not self._owner_dead(lease[0]):
            return "busy"
        return "free"

    # writing ---------------------------------------------------------------------------------------------
    def put(self, result: dict) -> None:
        """Store one finished cell and drop its lease, in one transaction."""
        t0 = time.perf_counter()
        row = row_of(result)
        cols = ", ".join(COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        updates = ", ".join(f"{c}=excluded.{c}" for c in COLUMNS if c != "key")
        with self._tx():
            self.con.execute(f"INSERT INTO cells ({cols}) VALUES ({marks}) ON CONFLICT(key) DO UPDATE SET {updates}",
                             [row[c] for c in COLUMNS])
            self.con.execute("DELETE FROM leases WHERE key=? AND owner=?", (row["key"], self.owner))
            if time.monotonic() - self._last_beat > 5:
                self._beat()
        self.write_seconds += time.perf_counter() - t0
        self.writes += 1

    def close(self) -> None:
        self._stop.set()
        try:
            with self._tx():
                self.con.execute("DELETE FROM leases WHERE owner=?", (self.owner,))
                self.con.execute("DELETE FROM owners WHERE owner=?", (self.owner,))
        except sqlite3.Error:
            pass
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------------------
# JSON lines


@dataclass
class ReadStats:
    rows: int = 0
    skipped: int = 0  # lines cut by a crash, not UTF-8, not JSON or not an object


def read_jsonl(path: str, stats: ReadStats | None = None) -> list[dict]:
    """Every complete JSON-object line of ``path``; other lines are skipped (and counted in ``stats``)."""
    stats = stats if stats is not None else ReadStats()
    out: list[dict] = []
    if not os.path.exists(path):
        return out
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                stats.skipped += 1
                continue
            if not isinstance(obj, dict):
                stats.skipped += 1
                continue
            out.append(obj)
    stats.rows = len(out)
    return out


def latest_per_cell(rows: list[dict]) -> list[dict]:
    """One row per cell key (the last written wins: a rerun of an error cell replaces it)."""
    seen: dict = {}
    anon = []
    for r in rows:
        k = r.get("cell")
        if isinstance(k, str):
            seen.pop(k, None)
            seen[k] = r
        else:
            anon.append(r)
    return anon + list(seen.values())


class JsonlStore:
    """The JSON-lines file of ``--out``: one sweep at a time (exclusive flock held while it runs)."""

    def __init__(self, path: str):
        self.path = path
        self.write_seconds = 0.0
        self.writes = 0
        self.stats = ReadStats()
        try:
            self.fh = open(path, "a+b")  # noqa: SIM115 - held (and locked) for the whole lifetime; close()
        except OSError as exc:
            raise ArgumentError(f"{path}: cannot open the store for writing ({exc.strerror or exc})") from None
        try:
            import fcntl

            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise ArgumentError(f"{path}: another sweep is writing this file; wait for it, or use an SQLite "
                                "store (--store FILE.sqlite) where several sweeps can work together") from None
        except ImportError:  # no flock (Windows): one writer is the user's job
            pass
        self._rows = latest_per_cell(read_jsonl(path, self.stats))
        # a line cut by a crash: end it, so that the next row starts on a line of its own
        self.fh.seek(0, os.SEEK_END)
        if self.fh.tell() > 0:
            self.fh.seek(-1, os.SEEK_END)
            if self.fh.read(1) != b"\n":
                self.fh.seek(0, os.SEEK_END)
                self.fh.write(b"\n")
                self.fh.flush()

    def done_keys(self) -> set[str]:
        return {r["cell"] for r in self._rows if isinstance(r.get("cell"), str) and r.get("verdict") != "error"}

    def rows(self) -> list[dict]:
        return list(self._rows)

    def claim(self, key: str, *, force: bool = False) -> str:
        return "done" if (not force and key in self.done_keys()) else "claimed"

    def state(self, key: str) -> str:
        return "done" if key in self.done_keys() else "free"

    def release(self, keys) -> None:
        pass

    def heartbeat(self, every: float = 5.0) -> None:
        pass

    def put(self, result: dict) -> None:
        t0 = time.perf_counter()
        self.fh.seek(0, os.SEEK_END)
        self.fh.write((json.dumps(result, allow_nan=False) + "\n").encode("utf-8"))
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self._rows.append(result)
        self.write_seconds += time.perf_counter() - t0
        self.writes += 1

    def close(self) -> None:
        self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------------------
# reading any store (read-only), export, import


def read_rows(path: str, stats: ReadStats | None = None) -> list[dict]:
    """The stored results of a store (SQLite opened read-only, or JSON lines), one per cell."""
    if not os.path.exists(path):
        raise ArgumentError(f"{path}: no such file")
    kind = check_store(path)
    if kind == "jsonl":
        return latest_per_cell(read_jsonl(path, stats))
    if os.path.getsize(path) == 0:
        return []
    con = _ro_connect(path)
    try:
        rows = []
        for result, seed, host, fin, hv, tv in con.execute(
                "SELECT result, seed, host, finished_at, hemtools, torch FROM cells ORDER BY loss, M, d, key"):
            r = json.loads(result)
            r.setdefault("cell_seed", seed)
            r.setdefault("host", host)
            r.setdefault("finished_at", fin)
            r.setdefault("hemtools_version", hv)
            r.setdefault("torch_version", tv)
            rows.append(r)
    finally:
        con.close()
    if stats is not None:
        stats.rows = len(rows)
    return rows


CSV_COLUMNS = [c for c in COLUMNS if c != "result"]


def export_rows(rows: list[dict], fmt: str) -> str:
    """JSON lines (every stored field) or CSV (the table columns, params/options as JSON)."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, allow_nan=False, sort_keys=True) + "\n" for r in rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        if "cell" not in r:
            continue
        row = row_of(r)
        w.writerow({c: row[c] for c in CSV_COLUMNS})
    return buf.getvalue()


def import_rows(rows: list[dict], store: SqliteStore) -> tuple[int, int]:
    """Insert rows carrying a cell key; returns (imported, skipped: no key or missing fields)."""
    n = skipped = 0
    for r in rows:
        if not isinstance(r.get("cell"), str) or not all(k in r for k in ("loss", "M", "d", "verdict")):
            skipped += 1
            continue
        try:
            store.put(r)
        except (TypeError, ValueError):
            skipped += 1
            continue
        n += 1
    return n, skipped
