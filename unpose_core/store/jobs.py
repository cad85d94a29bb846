"""The background jobs table: one running job per data dir, progress, cancellation."""
from __future__ import annotations

import json
import time

from ..records import (
    Job,
    JobStatus,
)
from .base import StoreBase

_JOB_COLUMNS = ("job_id", "kind", "status", "stage", "done", "total", "message", "rate", "eta",
                "params", "result", "error", "created_at", "started_at", "updated_at", "finished_at",
                "pid", "host", "cancel_requested")
_INTERRUPTED_ERROR = ("the process running this job stopped; finished work is cached, start it again "
                      "to continue")

class JobTables(StoreBase):
    """Job rows (the runner in ``unpose_core.jobs`` decides what they do)."""

    @staticmethod
    def _job(row: tuple) -> Job:
        d = dict(zip(_JOB_COLUMNS, row))
        d["params"] = json.loads(d["params"] or "{}")
        d["result"] = json.loads(d["result"]) if d["result"] else None
        d["cancel_requested"] = bool(d["cancel_requested"])
        d["done"], d["total"] = int(d["done"] or 0), int(d["total"] or 0)
        d["rate"] = float(d["rate"] or 0.0)
        d["stage"], d["message"] = d["stage"] or "", d["message"] or ""
        d["status"] = JobStatus(d["status"])
        return Job(**d)

    def jobs(self, status: JobStatus | str | None = None, kind: str | None = None,
             limit: int | None = None) -> list[Job]:
        """Job rows, newest first, optionally of one status and/or kind."""
        where, params = [], []
        if status is not None:
            where.append("status=?")
            params.append(str(JobStatus(status)))
        if kind is not None:
            where.append("kind=?")
            params.append(kind)
        sql = f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._job(r) for r in self._rows(sql, params)]

    def job(self, job_id: str) -> Job | None:
        row = self._one(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE job_id=?", (job_id,))
        return None if row is None else self._job(row)

    def claim_job(self, job: Job) -> bool:
        """Insert ``job`` as running unless a job is running already; True when claimed.
        One conditional INSERT, so the claim is atomic across threads and processes."""
        cur = self._exec(
            "INSERT INTO jobs(job_id, kind, status, stage, done, total, message, rate, params, created_at,"
            " started_at, updated_at, pid, host) SELECT ?,?,?,?,?,?,?,?,?,?,?,?,?,?"
            " WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE status=?)",
            (job.job_id, job.kind, str(JobStatus.RUNNING), job.stage, int(job.done), int(job.total), job.message,
             float(job.rate or 0.0), json.dumps(job.params, default=str), job.created_at, job.started_at,
             job.updated_at, job.pid, job.host, str(JobStatus.RUNNING)))
        return cur.rowcount == 1

    def update_job_progress(self, job: Job) -> bool:
        """Write a running job's progress; True when someone (maybe another process) asked to cancel it."""
        with self._write() as c:
            c.execute("UPDATE jobs SET stage=?, done=?, total=?, message=?, rate=?, eta=?, updated_at=?"
                      " WHERE job_id=?", (job.stage, job.done, job.total, job.message, job.rate, job.eta,
                                          job.updated_at, job.job_id))
            row = c.execute("SELECT cancel_requested FROM jobs WHERE job_id=?", (job.job_id,)).fetchone()
        return bool(row and row[0])

    def finish_job(self, job: Job) -> None:
        """Record how a job ended (status, result, error, last progress)."""
        self._exec("UPDATE jobs SET status=?, result=?, error=?, finished_at=?, updated_at=?, stage=?,"
                   " done=?, total=?, message=?, eta=NULL WHERE job_id=?",
                   (str(JobStatus(job.status)), json.dumps(job.result, default=str) if job.result is not None
                    else None, job.error, job.finished_at, job.updated_at, job.stage, job.done, job.total,
                    job.message, job.job_id))

    def request_job_cancel(self, job_id: str) -> bool:
        """Flag a running job to stop; True when it was running."""
        cur = self._exec("UPDATE jobs SET cancel_requested=1 WHERE job_id=? AND status=?",
                         (job_id, str(JobStatus.RUNNING)))
        return cur.rowcount == 1

    def mark_job_interrupted(self, job_id: str, error: str = _INTERRUPTED_ERROR) -> bool:
        """A running job whose process is gone: mark it interrupted; True when it was running."""
        now = time.time()
        cur = self._exec("UPDATE jobs SET status=?, error=?, finished_at=?, updated_at=? WHERE job_id=?"
                         " AND status=?", (str(JobStatus.INTERRUPTED), error, now, now, job_id,
                                           str(JobStatus.RUNNING)))
        return cur.rowcount == 1
