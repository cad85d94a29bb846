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

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..diskspace import disk_full
from ..progress import Progress, ProgressFn
from ..records import Job, JobStatus, format_seconds
from ..store import Store

log = logging.getLogger(__name__)

# the statuses under their old names, for callers that import them from here
RUNNING = JobStatus.RUNNING
DONE = JobStatus.DONE
FAILED = JobStatus.FAILED
CANCELLED = JobStatus.CANCELLED
INTERRUPTED = JobStatus.INTERRUPTED
FINISHED = (DONE, FAILED, CANCELLED, INTERRUPTED)

PERSIST_INTERVAL = 0.5   # seconds between progress writes to SQLite
THREAD_PREFIX = "unposed-job-"

__all__ = ["CANCELLED", "DONE", "FAILED", "FINISHED", "INTERRUPTED", "RUNNING", "Job", "JobBusy",
           "JobCancelled", "JobStatus", "cancel", "current", "format_seconds", "friendly_error", "get",
           "history", "latest", "start", "wait"]


class JobBusy(ValueError):
    """Another job is already running for this data dir."""


class JobCancelled(InterruptedError):
    pass


# -- in-process registry --------------------------------------------------------------
@dataclass
class _Live:
    job: Job
    stop: threading.Event
    thread: threading.Thread | None = None


_live: dict[str, _Live] = {}
_start_lock = threading.Lock()


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
    for job in store.jobs(status=RUNNING):
        if job.pid == os.getpid() and job.host == here:
            alive = _thread_alive(job.job_id)
        elif job.host == here and job.pid:
            alive = _pid_alive(job.pid)
        else:
            alive = True   # another machine on a shared disk: trust it
        if not alive:
            store.mark_job_interrupted(job.job_id)


# -- queries ----------------------------------------------------------------------------
def current(store: Store) -> Job | None:
    """The running job of this data dir, with live progress when it runs in this process."""
    _reconcile(store)
    rows = store.jobs(status=RUNNING, limit=1)
    if not rows:
        return None
    return get(store, rows[0].job_id)


def get(store: Store, job_id: str) -> Job | None:
    live = _live.get(job_id)
    if live is not None:
        return Job(**{**live.job.to_dict()})   # a snapshot: the thread keeps mutating its own
    return store.job(job_id)


def latest(store: Store, kind: str | None = None, status: JobStatus | str | None = None) -> Job | None:
    rows = store.jobs(status=status or None, kind=kind or None, limit=1)
    return get(store, rows[0].job_id) if rows else None


def history(store: Store, limit: int = 20) -> pd.DataFrame:
    jobs = store.jobs(limit=limit)
    return pd.DataFrame([{"job_id": j.job_id, "kind": j.kind, "status": str(j.status),
                          "started": pd.to_datetime(j.created_at, unit="s"),
                          "seconds": round(j.elapsed, 1), "error": j.error or ""} for j in jobs])


# -- running ------------------------------------------------------------------------------
Target = Callable[[Store, ProgressFn, threading.Event], dict | None]


def start(store: Store, kind: str, target: Target, params: dict | None = None) -> Job:
    """Start ``target(store, progress, stop)`` in a thread; raises JobBusy if one runs already."""
    params = params or {}
    job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    now = time.time()
    job = Job(job_id, kind, RUNNING, stage="starting", params=params, created_at=now, started_at=now,
              updated_at=now, pid=os.getpid(), host=socket.gethostname())
    with _start_lock:
        _reconcile(store)
        if not store.claim_job(job):
            other = store.jobs(status=RUNNING, limit=1)
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
    return store.update_job_progress(job)


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
        status, error = FAILED, friendly_error(exc, store.data_dir)
        log.error("job %s (%s) failed:\n%s", job.job_id, job.kind, traceback.format_exc())
    job.status, job.result, job.error = status, result, error
    job.finished_at = job.updated_at = time.time()
    try:
        store.finish_job(job)
    except Exception:  # store closed under us (tests, shutdown): the in-memory state still tells
        log.exception("could not record the end of job %s", job.job_id)
    finally:
        _live.pop(job.job_id, None)


def cancel(store: Store, job_id: str) -> bool:
    """Ask a running job to stop; True when it was running."""
    was_running = store.request_job_cancel(job_id)
    live = _live.get(job_id)
    if live is not None:
        live.stop.set()
        live.job.cancel_requested = True
    return was_running


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


def friendly_error(exc: BaseException, data_dir: str | Path | None = None) -> str:
    if data_dir is not None and (full := disk_full(exc, data_dir)) is not None:
        return str(full)
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    known = (ValueError, LookupError, RuntimeError, OSError)
    return str(exc) if isinstance(exc, known) and str(exc) else f"{type(exc).__name__}: {exc}"
