"""The records that cross a stage boundary: statuses as enums, rows as dataclasses.

Everything past the pose stage speaks in these, not in dicts of strings. The enums are
``str`` enums so a stored value (``"person"``) and its member (``Status.PERSON``) compare
equal and serialise as the plain string in JSON, CSV and SQLite.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Status(str, Enum):
    """What the pose stage made of one image."""

    PERSON = "person"          # landmarks found
    NO_PERSON = "no_person"    # the model ran and found nobody (fabric, size chart, flat lay)
    ERROR = "error"            # the image could not be read or the model failed on it
    PENDING = "pending"        # not run through this backend yet

    def __str__(self) -> str:
        return self.value


class JobStatus(str, Enum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"   # its process died; finished work is cached

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self is not JobStatus.RUNNING


class DescriptionStatus(str, Enum):
    OK = "ok"                       # a person wrote it for this centroid, or it matched closely
    NEEDS_REVIEW = "needs_review"   # carried from an earlier run onto a centroid that only roughly matches

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PoseRow:
    """One image content's result under one backend (the pose cache's row)."""

    content_hash: str
    status: Status
    landmarks: np.ndarray | None = None     # (n_landmarks, 4): x, y (0..1 of the image), z, confidence
    width: int | None = None
    height: int | None = None
    score: float | None = None
    error: str | None = None

    @property
    def is_person(self) -> bool:
        return self.status is Status.PERSON and self.landmarks is not None


@dataclass(frozen=True)
class RunRecord:
    """A trained run as the store lists it; ``path`` is absolute, resolved against the data dir."""

    run_id: str
    created_at: float
    path: str
    backend: str
    k: int
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Description:
    """An analyst's text on one centroid of one run."""

    centroid: int
    text: str
    status: DescriptionStatus = DescriptionStatus.OK
    source: str | None = None
    updated_at: float | None = None
