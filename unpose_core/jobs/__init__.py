"""Background jobs of the app: a runner (one job per data dir, progress kept in the store) and the tasks."""
from .runner import (
    CANCELLED,
    DONE,
    FAILED,
    FINISHED,
    INTERRUPTED,
    RUNNING,
    Job,
    JobBusy,
    JobCancelled,
    JobStatus,
    cancel,
    current,
    format_seconds,
    friendly_error,
    get,
    history,
    latest,
    start,
    wait,
)
from .tasks import start_demo, start_evaluate, start_import, start_sweep, start_train

__all__ = ["CANCELLED", "DONE", "FAILED", "FINISHED", "INTERRUPTED", "RUNNING", "Job", "JobBusy", "JobCancelled",
           "JobStatus", "cancel", "current", "format_seconds", "friendly_error", "get", "history", "latest", "start",
           "start_demo", "start_evaluate", "start_import", "start_sweep", "start_train", "wait"]
