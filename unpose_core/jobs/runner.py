"""Background jobs (train, demo build, import, K sweep) for the app, one at a time per data dir.

A job runs in a daemon thread of the process that started it, so it outlives the
Streamlit script run (and the browser tab) that asked for it. Its progress is kept in
memory *and* written to the ``jobs`` table of the data dir's SQLite store, so any
page, any session and any other process sees the same bar after navigation or a
rerun. Only one job may be running per data dir: the row is claimed with a single
conditional INSERT, which SQLite makes atomic across threads and processes.

A ``running`` row whose process has died (server restarted mid-training) is marked
``interrupted`` the next time anyone looks; extraction results saved before that stay
in the pose cache, so starting the job again continues where it stopped.

Cancel sets a :class:`threading.Event` that ``extract_poses`` / ``train`` check between
batches (``stop=``); the request also goes into the row, so a job can be cancelled
from another process. Later stages are cut short at their next progress report.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from typing import Callable

import pandas as pd

from ..progress import Progress, ProgressFn
from ..store import Store

log = logging.getLogger(__name__)

RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
FINISHED = (DONE, FAILED, CANCELLED, INTERRUPTED)

PERSIST_INTERVAL = 0.5   # seconds between progress writes to SQLite
THREAD_PREFIX = "unposed-job-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs(
    job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
    stage TEXT, done INTEGER, total INTEGER, message TEXT, rate REAL, eta REAL,
    params TEXT, result TEXT, error TEXT,
    created_at REAL, started_at REAL, updated_at REAL, finished_at REAL,
    pid INTEGER, host TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0)
"""
_COLUMNS = ("job_id", "kind", "status", "stage", "done", "total", "message", "rate", "eta",
            "params", "result", "error", "created_at", "started_at", "updated_at", "finished_at",
            "pid", "host", "cancel_requested")


class JobBusy(ValueError):
    """Another job is already running for this data dir."""


class JobCancelled(InterruptedError):
    pass


@dataclass
class Job:
    job_id: str
    kind: str
    status: str
    stage: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    rate: float = 0.0
    eta: float | None = None
    params: dict = field(default_factory=dict)
    result: dict | None = None
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None
    host: str | None = None
    cancel_requested: bool = False

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def fraction(self) -> float:
        if self.status == DONE:
            return 1.0
        return 0.0 if not self.total else max(0.0, min(1.0, self.done / self.total))

    @property
    def elapsed(self) -> float:
        end = self.finished_at or time.time()
        return max(0.0, end - (self.started_at or self.created_at))

    def progress_text(self) -> str:
        """E.g. 'pose (blazepose): 312 / 864 images, 6.1/s, ETA 1:30'."""
        if self.status != RUNNING:
            return f"{self.kind} {self.status}" + (f": {self.error}" if self.error else "")
        parts = [f"{self.stage or self.kind}: {self.done} / {self.total}"]
        if self.stage.startswith("pose") or self.stage == "import":
            parts[0] += " images"
        if self.rate and self.stage.startswith(("pose", "import")):
            parts.append(f"{self.rate:.1f}/s")
        if self.eta is not None and self.done < self.total:
            parts.append(f"ETA {format_seconds(self.eta)}")
        text = ", ".join(parts)
        return f"{text} ({self.message})" if self.message else text

    def to_dict(self) -> dict:
        return asdict(self)


def format_seconds(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# -- in-process registry --------------------------------------------------------------
@dataclass
class _Live:
    job: Job
    stop: threading.Event
    thread: threading.Thread | None = None


_live: dict[str, _Live] = {}
_start_lock = threading.Lock()
_tables_ready: set[str] = set()


def ensure_table(store: Store) -> None:
    key = str(store.path)
    if key not in _tables_ready:
        store.execute(_SCHEMA)
        _tables_ready.add(key)


def _row_to_job(row) -> Job:
    d = dict(zip(_COLUMNS, row))
    d["params"] = json.loads(d["params"] or "{}")
    d["result"] = json.loads(d["result"]) if d["result"] else None
    d["cancel_requested"] = bool(d["cancel_requested"])
    for k in ("done", "total"):
        d[k] = int(d[k] or 0)
    d["rate"] = float(d["rate"] or 0.0)
    d["stage"], d["message"] = d["stage"] or "", d["message"] or ""
    return Job(**d)


def _select(store: Store, where: str = "", params=(), limit: int | None = None) -> list[Job]:
    ensure_table(store)
    sql = f"SELECT {', '.join(_COLUMNS)} FROM jobs {where} ORDER BY created_at DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [_row_to_job(r) for r in store.execute(sql, params).fetchall()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _thread_alive(job_id: str) -> bool:
    name = THREAD_PREFIX + job_id
    return any(t.name == name and t.is_alive() for t in threading.enumerate())


def _reconcile(store: Store) -> None:
    """Mark running rows whose thread or process is gone as interrupted."""
    here = socket.gethostname()
    for job in _select(store, "WHERE status=?", (RUNNING,)):
        if job.pid == os.getpid() and job.host == here:
            alive = _thread_alive(job.job_id)
        elif job.host == here and job.pid:
            alive = _pid_alive(job.pid)
        else:
            alive = True   # another machine on a shared disk: trust it
        if not alive:
            store.execute("UPDATE jobs SET status=?, error=?, finished_at=?, updated_at=? WHERE job_id=?"
                          " AND status=?", (INTERRUPTED, "the process running this job stopped; "
                                            "finished work is cached, start it again to continue",
                                            time.time(), time.time(), job.job_id, RUNNING))


# -- queries ----------------------------------------------------------------------------
def current(store: Store) -> Job | None:
    """The running job of this data dir, with live progress when it runs in this process."""
    _reconcile(store)
    rows = _select(store, "WHERE status=?", (RUNNING,), limit=1)
    if not rows:
        return None
    return get(store, rows[0].job_id)


def get(store: Store, job_id: str) -> Job | None:
    live = _live.get(job_id)
    if live is not None:
        return Job(**{**live.job.to_dict()})   # a snapshot: the thread keeps mutating its own
    rows = _select(store, "WHERE job_id=?", (job_id,))
    return rows[0] if rows else None


def latest(store: Store, kind: str | None = None, status: str | None = None) -> Job | None:
    where, params = [], []
    if kind:
        where.append("kind=?")
        params.append(kind)
    if status:
        where.append("status=?")
        params.append(status)
    rows = _select(store, ("WHERE " + " AND ".join(where)) if where else "", params, limit=1)
    return get(store, rows[0].job_id) if rows else None


def history(store: Store, limit: int = 20) -> pd.DataFrame:
    jobs = _select(store, limit=limit)
    return pd.DataFrame([{"job_id": j.job_id, "kind": j.kind, "status": j.status,
                          "started": pd.to_datetime(j.created_at, unit="s"),
                          "seconds": round(j.elapsed, 1), "error": j.error or ""} for j in jobs])


# -- running ------------------------------------------------------------------------------
Target = Callable[[Store, ProgressFn, threading.Event], dict | None]


def start(store: Store, kind: str, target: Target, params: dict | None = None) -> Job:
    """Start ``target(store, progress, stop)`` in a thread; raises JobBusy if one runs already."""
    ensure_table(store)
    params = params or {}
    job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    now = time.time()
    job = Job(job_id, kind, RUNNING, stage="starting", params=params, created_at=now, started_at=now,
              updated_at=now, pid=os.getpid(), host=socket.gethostname())
    with _start_lock:
        _reconcile(store)
        cur = store.execute(
            "INSERT INTO jobs(job_id, kind, status, stage, done, total, message, rate, params, created_at,"
            " started_at, updated_at, pid, host) SELECT ?,?,?,?,0,0,'',0,?,?,?,?,?,?"
            " WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE status=?)",
            (job_id, kind, RUNNING, job.stage, json.dumps(params, default=str), now, now, now,
             job.pid, job.host, RUNNING))
        if cur.rowcount != 1:
            other = _select(store, "WHERE status=?", (RUNNING,), limit=1)
            what = f"{other[0].kind} job {other[0].job_id}" if other else "another job"
            raise JobBusy(f"{what} is still running for this data dir; wait for it or cancel it first")
        live = _Live(job, threading.Event())
        _live[job_id] = live
        live.thread = threading.Thread(target=_run, args=(store, live, target),
                                       name=THREAD_PREFIX + job_id, daemon=True)
        live.thread.start()
    return get(store, job_id)


def _persist(store: Store, job: Job) -> bool:
    """Write progress; returns True when someone asked (maybe from another process) to cancel."""
    job.updated_at = time.time()
    store.execute("UPDATE jobs SET stage=?, done=?, total=?, message=?, rate=?, eta=?, updated_at=?"
                  " WHERE job_id=?", (job.stage, job.done, job.total, job.message, job.rate, job.eta,
                                      job.updated_at, job.job_id))
    row = store.execute("SELECT cancel_requested FROM jobs WHERE job_id=?", (job.job_id,)).fetchone()
    return bool(row and row[0])


def _run(store: Store, live: _Live, target: Target) -> None:
    job, stop = live.job, live.stop
    last = {"t": 0.0, "stage": None}

    def progress(p: Progress) -> None:
        job.stage, job.done, job.total, job.message = p.stage, int(p.done), int(p.total), p.message
        job.rate, job.eta = float(p.rate or 0.0), p.eta_seconds
        now = time.monotonic()
        if now - last["t"] >= PERSIST_INTERVAL or p.stage != last["stage"] or p.done >= p.total:
            last["t"], last["stage"] = now, p.stage
            if _persist(store, job):
                job.cancel_requested = True
                stop.set()
        # extraction checks `stop` itself between batches; later stages stop here
        if stop.is_set() and not p.stage.startswith("pose"):
            raise JobCancelled(f"{job.kind} cancelled during {p.stage}")

    status, result, error = DONE, None, None
    try:
        result = target(store, progress, stop)
        if stop.is_set() and not result:
            status, error = CANCELLED, f"{job.kind} cancelled"
    except InterruptedError as exc:
        status, error = CANCELLED, str(exc) or f"{job.kind} cancelled"
    except Exception as exc:  # the job's failure is reported in the row, never raised in a thread
        status, error = FAILED, friendly_error(exc)
        log.error("job %s (%s) failed:\n%s", job.job_id, job.kind, traceback.format_exc())
    job.status, job.result, job.error = status, result, error
    job.finished_at = job.updated_at = time.time()
    try:
        store.execute("UPDATE jobs SET status=?, result=?, error=?, finished_at=?, updated_at=?, stage=?,"
                      " done=?, total=?, message=?, eta=NULL WHERE job_id=?",
                      (status, json.dumps(result, default=str) if result is not None else None, error,
                       job.finished_at, job.updated_at, job.stage, job.done, job.total, job.message,
                       job.job_id))
    except Exception:  # store closed under us (tests, shutdown): the in-memory state still tells
        log.exception("could not record the end of job %s", job.job_id)
    finally:
        _live.pop(job.job_id, None)


def cancel(store: Store, job_id: str) -> bool:
    """Ask a running job to stop; True when it was running."""
    ensure_table(store)
    cur = store.execute("UPDATE jobs SET cancel_requested=1 WHERE job_id=? AND status=?", (job_id, RUNNING))
    live = _live.get(job_id)
    if live is not None:
        live.stop.set()
        live.job.cancel_requested = True
    return cur.rowcount == 1


def wait(store: Store, job_id: str, timeout: float = 600.0, poll: float = 0.1) -> Job:
    """Block until the job has finished (for tests and scripts)."""
    deadline = time.monotonic() + timeout
    while True:
        job = get(store, job_id)
        if job is None:
            raise LookupError(f"no job {job_id!r}")
        if job.status in FINISHED and job_id not in _live:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job.status} after {timeout:.0f}s")
        time.sleep(poll)


def friendly_error(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    known = (ValueError, LookupError, RuntimeError, OSError)
    return str(exc) if isinstance(exc, known) and str(exc) else f"{type(exc).__name__}: {exc}"
