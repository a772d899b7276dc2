"""Grids of verify runs over losses × (M, d) × parameters, stored as each cell finishes.

``run(cells, store, opts, backend=...)`` computes every cell of a grid that the store does not hold yet
and writes each result as soon as it is known (hemtools.store: SQLite by default, or JSON lines); it
returns a :class:`SweepSummary`.  Re-running resumes; ``force=True`` recomputes.  A cell's key holds the
loss, M, d, parameters, claim and every solver option (restarts, seed, dtype, device, tol, Hessian), so
another ``--seed`` or ``--restarts`` is another cell.  Each cell runs with its own seed, derived from its
key (which includes ``opts.seed``): one worker, N workers and Dask give identical values.

Backends (``backend=``):
  * ``LocalBackend(workers)``: a process pool (spawn), each worker pinned to one BLAS/torch thread
    (2-core machines: oversubscribed threads make small eigendecompositions 40–400× slower); a worker
    exits when the sweep process dies; a worker that dies mid-cell breaks only that cell: the cells in
    flight are rerun one at a time, and the one that kills its worker twice is stored as ``error``.
    ``workers=0`` runs the cells in this process (no isolation, no start-up).
  * ``DaskBackend("tcp://host:8786" | "local:N")``: futures on a Dask cluster (optional dependency
    ``dask[distributed]``); a dead worker's cell is rescheduled by Dask (``allowed-failures``).

Only the process that calls ``run`` writes to the store, one transaction per cell; a cell that raises is
stored as ``error`` with its message and the sweep goes on.  Ctrl-C finishes the transaction in
progress, cancels the pending cells and raises :class:`SweepInterrupted` (a KeyboardInterrupt).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import ArgumentError
from .results import number

MAX_SOLO_ATTEMPTS = 2  # a cell whose worker dies this many times running alone is stored as an error


@dataclass(frozen=True)
class Cell:
    loss: str
    M: int
    d: int
    params: tuple = ()  # sorted (key, value) pairs
    claim: str | None = None

    @property
    def key(self) -> str:
        """The grid position only (see :func:`cell_key` for the stored key, with the solver options)."""
        return json.dumps([self.loss, self.M, self.d, list(self.params), self.claim])

    def to_dict(self) -> dict:
        return {"loss": self.loss, "M": self.M, "d": self.d, "params": dict(self.params), "claim": self.claim}


@dataclass
class SweepOptions:
    restarts: int = 8
    seed: int = 0
    dtype: str = "float64"
    device: str = "cpu"
    tol: float | None = None
    hessian: bool = True
    keep_points: bool = False

    def key_dict(self) -> dict:
        """The options that change a result (all but keep_points)."""
        return {"restarts": self.restarts, "seed": self.seed, "dtype": self.dtype, "device": self.device,
                "tol": self.tol, "hessian": self.hessian}


def cell_key(cell: Cell, opts: SweepOptions) -> str:
    # a non-finite parameter (a user loss's own default, tau=float('nan')) is keyed by its text
    params = [[k, number(v) if isinstance(v, float) else v] for k, v in cell.params]
    return json.dumps([cell.loss, cell.M, cell.d, params, cell.claim, opts.key_dict()], sort_keys=True,
                      allow_nan=False)


def cell_seed(key: str) -> int:
    """The seed of one cell: 31 bits of SHA-256 of its key (the key holds --seed)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "big") >> 1


def canonical(cells: Iterable[Cell]) -> list[Cell]:
    """The cells with their loss parameters resolved (defaults filled in, as verify reports them), so that
    ``params={}`` and the explicit defaults are one cell.  A cell whose parameters do not resolve is kept
    as it is (it becomes an ``error`` row)."""
    from .losses import get_loss

    memo: dict = {}
    out = []
    for c in cells:
        k = (c.loss, c.params)
        if k not in memo:
            try:
                given = dict(c.params)
                resolved = get_loss(c.loss).resolve_params(given)
                # plain values as resolved; a given value that is not plain (`--param w=[1, 2]`: a list) as it
                # was given (verify reads it the same way); a default that is not plain (a tensor, a dict, a
                # function) is left to verify to fill in: a cell is hashable and its key JSON
                memo[k] = tuple(sorted((n, v if _plain(v) else given[n]) for n, v in resolved.items()
                                       if _plain(v) or n in given))
            except Exception:  # noqa: BLE001 - reported by the cell itself
                memo[k] = c.params
        out.append(Cell(c.loss, c.M, c.d, memo[k], c.claim))
    return out


def _plain(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


#: the most values one axis of a grid may have (``--M 2:100000000`` built a 10⁸-element list before any check)
MAX_AXIS = 100_000


def parse_int_list(text: str, name: str) -> list[int]:
    """'2,3,8' or '2:17' (inclusive range) or '2:17:3' → list of ints (duplicates dropped, order kept)."""
    out: list[int] = []
    empty = None
    too_long = False
    try:
        for part in str(text).split(","):
            part = part.strip()
            if ":" in part:
                bits = [int(b) for b in part.split(":")]
                if len(bits) not in (2, 3):
                    raise ValueError
                step = bits[2] if len(bits) == 3 else 1
                if step <= 0:
                    raise ValueError
                if bits[0] > bits[1]:
                    empty = part
                    break
                values = range(bits[0], bits[1] + 1, step)
                if len(out) + len(values) > MAX_AXIS:
                    too_long = True
                    break
                out.extend(values)
            elif part:
                out.append(int(part))
    except ValueError:
        raise ArgumentError(f"{name}: expected integers like 2,3,8 or a range 2:17 or 2:17:3, got {text!r}") from None
    if too_long:
        raise ArgumentError(f"{name}: {text!r} has more than {MAX_AXIS:,} values; a grid axis that long is a typo "
                            "(split a real one into several sweeps)")
    if empty is not None:
        a, b = empty.split(":")[:2]
        raise ArgumentError(f"{name}: range {empty} is empty (start > stop); did you mean {b.strip()}:{a.strip()}?")
    if not out:
        raise ArgumentError(f"{name}: no values in {text!r}")
    return list(dict.fromkeys(out))


def grid(losses: Iterable[str], Ms: Iterable[int], ds: Iterable[int], *,
         params: Iterable[Mapping[str, Any]] = ({},), claim: str | None = None,
         rule: Callable[[int, int], bool] | None = None) -> list[Cell]:
    """The cartesian product of the axes; ``rule(M, d)`` keeps a subset (e.g. M <= d+1)."""
    cells = []
    for loss, M, d, p in itertools.product(list(losses), list(Ms), list(ds), list(params)):
        if rule is None or rule(M, d):
            cells.append(Cell(loss, int(M), int(d), tuple(sorted(dict(p).items())), claim))
    return list(dict.fromkeys(cells))


@dataclass
class SweepSummary:
    path: str
    total: int = 0
    done: int = 0  # computed and stored by this run
    skipped: int = 0  # already finished in the store
    by_others: int = 0  # finished meanwhile by another sweep on the same store
    verdicts: dict = field(default_factory=dict)
    results: list = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    store_seconds: float = 0.0  # time spent claiming and writing rows

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.skipped - self.by_others

    def to_dict(self) -> dict:
        return {"result": "sweep", "store": self.path, "total": self.total, "done": self.done, "skipped": self.skipped,
                "by_others": self.by_others, "remaining": self.remaining, "verdicts": dict(self.verdicts),
                "interrupted": self.interrupted, "seconds": self.seconds, "store_seconds": self.store_seconds}


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: every finished cell is stored; ``summary`` says what remains."""

    def __init__(self, summary: SweepSummary):
        super().__init__("sweep interrupted")
        self.summary = summary


class WorkerDied(Exception):
    """The process running a cell died (killed, out of memory, a crash in native code)."""


# --------------------------------------------------------------------------------------------------------
# one cell (runs in a worker)


def _pin_threads() -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _error_row(cell: Cell, reason: str) -> dict:
    return {**cell.to_dict(), "verdict": "error", "reason": reason}


def _run_cell(cell: Cell, opts: SweepOptions, key: str | None = None, seed: int | None = None) -> dict:
    """verify one cell; never raises for a bad cell (stored as ``error`` with its message).  ``key`` and
    ``seed`` default to the cell's (:func:`cell_key`, :func:`cell_seed`)."""
    key = cell_key(cell, opts) if key is None else key
    seed = cell_seed(key) if seed is None else seed
    _pin_threads()
    import torch

    from . import __version__
    from .checks import verify

    try:
        rep = verify(cell.loss, cell.M, cell.d, claim=cell.claim, params=dict(cell.params), restarts=opts.restarts,
                     seed=seed, dtype=opts.dtype, device=opts.device, tol=opts.tol, hessian=opts.hessian)
        out = rep.to_dict()
        if not opts.keep_points:
            out.pop("points", None)
            out.pop("history", None)
        json.dumps(out, allow_nan=False)  # a row that cannot be stored is an error row, not a lost sweep
    except Exception as exc:  # a bad cell is a result, not the end of the sweep
        out = _error_row(cell, f"{type(exc).__name__}: {exc}" if not isinstance(exc, ArgumentError) else str(exc))
        if getattr(exc, "traceback_text", ""):  # an error in user code: its traceback is what the user needs
            out["traceback"] = exc.traceback_text
    except SystemExit as exc:  # sys.exit() anywhere in the cell's code must not end the sweep (or a worker)
        out = _error_row(cell, f"sys.exit({exc.code!r}) was called while verifying this cell")
    except KeyboardInterrupt as exc:
        # Ctrl-C reaches only the main thread of the sweep process (workers ignore SIGINT): anywhere else
        # a KeyboardInterrupt was raised by user code
        if not _IN_WORKER and threading.current_thread() is threading.main_thread():
            raise
        out = _error_row(cell, f"KeyboardInterrupt raised in the cell {exc}".strip())
    out.update(cell=key, cell_seed=seed, options=opts.key_dict(), host=socket.gethostname(),
               finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
               hemtools_version=__version__, torch_version=torch.__version__)
    return out


# --------------------------------------------------------------------------------------------------------
# backends


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # the sweep process died (SIGKILL): do not linger as an orphan
            os._exit(1)


_IN_WORKER = False


def _worker_init(parent: int) -> None:
    global _IN_WORKER
    _IN_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep process's to handle
    _pin_threads()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class _Inline:
    """A finished 'future' for cells run in this process."""

    def __init__(self, value):
        self.value = value


class LocalBackend:
    """A process pool of ``workers`` spawned processes (``workers=0``: this process)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.auto = workers is None  # see plan()
        self.workers = default_workers() if workers is None else int(workers)
        if self.workers < 0:
            raise ArgumentError(f"workers: expected an integer >= 0, got {workers}")
        self.pool = None
        self.broken = False

    def plan(self, n_cells: int) -> None:
        """Default workers: one per core, at most one per 4 cells to run; fewer than 8 cells run in this
        process (a worker costs a torch import, 2-3 s, 15 s on a loaded machine)."""
        if self.auto:
            n = min(self.workers, n_cells // 4)
            self.workers = n if n >= 2 else 0

    @property
    def slots(self) -> int:
        """Cells in flight at once: one per worker, so that a worker's death is blamed on its own cell."""
        return max(1, self.workers)

    def describe(self) -> str:
        return "this process" if self.workers == 0 else f"{self.workers} local worker process(es)"

    def start(self) -> None:
        """Nothing to check; the pool starts at the first cell."""

    def _new_pool(self) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("spawn")  # fork after torch initialised its thread pools is unsafe
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_worker_init,
                                        initargs=(os.getpid(),))
        self.broken = False

    def submit(self, cell, opts, key, seed):
        if self.workers == 0:
            return _Inline(_run_cell(cell, opts, key, seed))
        if self.broken:
            self._kill()
        if self.pool is None:
            self._new_pool()
        return self.pool.submit(_run_cell, cell, opts, key, seed)

    def wait(self, futures, timeout: float):
        inline = [f for f in futures if isinstance(f, _Inline)]
        if inline:
            return inline
        from concurrent.futures import FIRST_COMPLETED, wait

        return list(wait(futures, timeout=timeout, return_when=FIRST_COMPLETED).done)

    def result(self, fut) -> dict:
        if isinstance(fut, _Inline):
            return fut.value
        from concurrent.futures.process import BrokenProcessPool

        try:
            return fut.result()
        except BrokenProcessPool as exc:
            self.broken = True
            raise WorkerDied(f"worker process died while computing this cell ({exc})") from None

    def _kill(self) -> None:
        if self.pool is None:
            return
        procs = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
        self.pool = None

    def close(self, *, cancel: bool = False) -> None:
        self.started = False
        if self.pool is None:
            return
        if cancel:
            self._kill()
        else:
            self.pool.shutdown(wait=True)
            self.pool = None


class DaskBackend:
    """Futures on a Dask distributed cluster: ``tcp://host:port`` (a running ``dask scheduler``) or
    ``local:N`` (a LocalCluster of N single-threaded worker processes started here)."""

    name = "dask"

    def __init__(self, address: str, *, connect_timeout: float = 10.0):
        address = str(address).strip()
        self.address = address
        self.n_local = None
        if address.startswith("local:"):
            try:
                self.n_local = int(address[len("local:"):])
            except ValueError:
                self.n_local = -1
            if self.n_local < 1:
                raise ArgumentError(f"--dask: local:N needs a number of workers N >= 1, got {address!r}")
        elif "://" not in address or not address.split("://", 1)[1]:
            raise ArgumentError(
                f"--dask: expected a scheduler address like tcp://host:8786 or local:N, got {address!r}"
            )
        self.connect_timeout = connect_timeout
        self.client = None
        self.cluster = None
        self._slots = 1

    @property
    def slots(self) -> int:
        """Cells in flight at once: two per worker thread, so that no worker waits for the round trip
        through this process (Dask itself reschedules the cell of a dead worker)."""
        return 2 * self._slots

    def describe(self) -> str:
        return f"Dask {self.address} ({self._slots} worker thread(s))"

    def start(self) -> None:
        try:
            import logging

            from distributed import Client, LocalCluster
        except ImportError:
            raise ArgumentError("--dask needs Dask: pip install 'hemtools[dask]' (dask[distributed])") from None
        if self.n_local is not None:
            pin = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
            self.cluster = LocalCluster(
                n_workers=self.n_local,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # CRITICAL, not ERROR: on Ctrl-C the scheduler (in this process) stops first and a busy worker
                # logs "Failed to communicate with scheduler during heartbeat" with a traceback before it is
                # stopped (seen under load); a cell's own errors come back as error rows, not as worker logs
                silence_logs=logging.CRITICAL,
                env=pin,
            )
            self.client = Client(self.cluster)
            # Ctrl-C in a terminal reaches the whole process group: the sweep process stops the cluster;
            # workers that handled it themselves would print tracebacks on the way out
            from distributed.diagnostics.plugin import WorkerPlugin

            class IgnoreSigint(WorkerPlugin):  # sent by value (cloudpickle)
                def setup(self, worker):
                    signal.signal(signal.SIGINT, signal.SIG_IGN)

            register = getattr(self.client, "register_plugin", None) or self.client.register_worker_plugin
            register(IgnoreSigint(), name="hemtools-ignore-sigint")
        else:
            try:
                self.client = Client(self.address, timeout=f"{self.connect_timeout}s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ArgumentError(
                    f"--dask: cannot reach a scheduler at {self.address} ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else 'no answer'})"
                ) from None
        self._slots = max(1, sum(self.client.nthreads().values()))

    def submit(self, cell, opts, key, seed):
        fut = self.client.submit(
            _run_cell, cell, opts, key, seed, pure=False, key=f"hemtools-cell-{seed:x}-{time.time_ns():x}"
        )
        self._futures = [f for f in getattr(self, "_futures", []) if not f.done()] + [fut]
        return fut

    def wait(self, futures, timeout: float):
        from distributed import wait

        try:
            return list(wait(futures, timeout=timeout, return_when="FIRST_COMPLETED").done)
        except TimeoutError:
            return []

    def result(self, fut) -> dict:
        from distributed import KilledWorker

        try:
            return fut.result()
        except KilledWorker as exc:
            raise WorkerDied(f"Dask worker died while computing this cell, every attempt ({exc})") from None

    def close(self, *, cancel: bool = False) -> None:
        self.started = False
        if self.client is not None:
            pending = [f for f in getattr(self, "_futures", []) if not f.done()]
            if cancel and pending:
                with contextlib.suppress(Exception):  # best effort on the way out; the cluster goes next
                    self.client.cancel(pending)
            self._futures = []
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def make_backend(backend=None, *, workers: int | None = None):
    """None → LocalBackend(workers); 'local:N' or 'tcp://…' → DaskBackend; an object is used as it is."""
    if backend is None or backend == "local":
        return LocalBackend(workers)
    if isinstance(backend, str):
        return DaskBackend(backend)
    return backend


# --------------------------------------------------------------------------------------------------------
# the loop


class _SigintGuard:
    """Ctrl-C raises KeyboardInterrupt, except during a store transaction: then right after it."""

    def __init__(self):
        self.in_write = False
        self.pending = False
        self.old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.in_write:
            self.pending = True
        else:
            raise KeyboardInterrupt

    def write(self, fn, *args, **kw):
        self.in_write = True
        try:
            return fn(*args, **kw)
        finally:
            self.in_write = False
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)


def run(
    cells: list[Cell],
    store,
    opts: SweepOptions | None = None,
    *,
    backend=None,
    workers: int | None = None,
    force: bool = False,
    progress: Callable[[int, int, dict], None] | None = None,
    close_backend: bool = True,
) -> SweepSummary:
    """Compute the cells the store does not hold yet (all of them with ``force``), storing each result as it
    finishes.  ``store``: a path (SQLite unless it ends in .jsonl) or an open store (hemtools.store).
    ``progress(i, n, result)`` is called after each stored cell.  ``close_backend=False`` leaves a backend
    object running (its workers warm) for the next call; the caller closes it."""
    from . import store as stores

    opts = opts or SweepOptions()
    own_store = isinstance(store, (str, os.PathLike))
    be = make_backend(backend, workers=workers)
    if own_store:
        stores.check_store(os.fspath(store))  # before the backend starts: a bad path changes nothing
    if not getattr(be, "started", False):
        be.start()
        be.started = True
    try:
        st = stores.open_store(os.fspath(store)) if own_store else store
    except BaseException:
        be.close(cancel=True)
        raise
    summary = SweepSummary(path=getattr(st, "path", str(store)))
    t0 = time.perf_counter()
    keyed = list(dict.fromkeys((cell_key(c, opts), c) for c in canonical(cells)))
    summary.total = len(keyed)
    done_keys = set() if force else st.done_keys()
    todo = deque((k, c) for k, c in keyed if k not in done_keys)
    summary.skipped = len(keyed) - len(todo)
    n_todo = len(todo)
    if hasattr(be, "plan") and getattr(be, "pool", None) is None:
        be.plan(n_todo)
    solo: deque = deque()  # cells whose worker died: rerun one at a time
    attempts: dict = {}
    busy: list = []  # leased by another live sweep
    inflight: dict = {}
    guard = _SigintGuard()

    def store_result(result: dict) -> None:
        guard.write(st.put, result)
        summary.done += 1
        summary.verdicts[result["verdict"]] = summary.verdicts.get(result["verdict"], 0) + 1
        summary.results.append(result)
        if progress is not None:
            progress(summary.done, n_todo - summary.by_others, result)

    try:
        with guard:
            while todo or inflight or busy or solo:
                # fill the free slots (a solo rerun runs alone)
                while not any(v[2] for v in inflight.values()):
                    if solo and not inflight:
                        k, c = solo.popleft()
                        inflight[be.submit(c, opts, k, cell_seed(k))] = (k, c, True)
                        break
                    if solo or not todo or len(inflight) >= be.slots:
                        break
                    k, c = todo.popleft()
                    state = guard.write(st.claim, k, force=force)
                    if state == "done":
                        summary.by_others += 1
                    elif state == "busy":
                        busy.append((k, c))
                    else:
                        inflight[be.submit(c, opts, k, cell_seed(k))] = (k, c, False)
                if inflight:
                    for fut in be.wait(list(inflight), timeout=1.0):
                        k, c, was_solo = inflight.pop(fut)
                        try:
                            result = be.result(fut)
                        except WorkerDied as exc:
                            attempts[k] = attempts.get(k, 0) + (1 if was_solo else 0)
                            if attempts[k] >= MAX_SOLO_ATTEMPTS:
                                result = _run_cell_error(c, opts, k, str(exc))
                            else:
                                solo.append((k, c))
                                continue
                        store_result(result)
                elif busy:
                    time.sleep(0.5)
                    still = []
                    for k, c in busy:
                        s = st.state(k)
                        if s == "done":
                            summary.by_others += 1
                        elif s == "free":
                            todo.append((k, c))
                        else:
                            still.append((k, c))
                    busy = still
                guard.write(st.heartbeat)
    except KeyboardInterrupt:
        summary.interrupted = True
        be.close(cancel=True)
        _release(st, [v[0] for v in inflight.values()])
        _finish(summary, st, t0, own_store)
        raise SweepInterrupted(summary) from None
    except BaseException:
        be.close(cancel=True)
        _release(st, [v[0] for v in inflight.values()])
        _finish(summary, st, t0, own_store)
        raise
    if close_backend:
        be.close()
        be.started = False
    _finish(summary, st, t0, own_store)
    return summary


def _run_cell_error(cell: Cell, opts: SweepOptions, key: str, reason: str) -> dict:
    import torch

    from . import __version__

    out = _error_row(cell, reason)
    out.update(
        cell=key,
        cell_seed=cell_seed(key),
        options=opts.key_dict(),
        host=socket.gethostname(),
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        hemtools_version=__version__,
        torch_version=torch.__version__,
    )
    return out


def _release(st, keys) -> None:
    with contextlib.suppress(Exception):  # the leases go stale on their own
        st.release(keys)


def _finish(summary: SweepSummary, st, t0: float, own_store: bool) -> None:
    summary.seconds = time.perf_counter() - t0
    summary.store_seconds = getattr(st, "write_seconds", 0.0)
    if own_store:
        st.close()


def read_results(path: str) -> list[dict]:
    """The stored results of a sweep (SQLite store or JSON lines; cut or unreadable lines are skipped)."""
    from .store import read_rows

    if not os.path.exists(path):
        return []
    return read_rows(path)
