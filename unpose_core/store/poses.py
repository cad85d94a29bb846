"""The pose cache: results keyed by (image content hash, backend, backend version)."""
from __future__ import annotations

import json
import time
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..records import (
    PoseRow,
    Status,
)
from .base import StoreBase, _chunks, _marks


def _signals(text: str | None) -> dict:
    """A pose row's stored signals; a damaged value reads as none (they are measurements, and
    re-extraction remakes them), never as an error that hides the landmarks."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _pose_row(h: str, status: str, n: int | None, blob: bytes | None, w: int | None, hgt: int | None,
              score: float | None, err: str | None, sig: str | None) -> PoseRow:
    """A pose cache row from its stored columns."""
    lm = None if blob is None else np.frombuffer(blob, np.float32).reshape(n, 4)
    return PoseRow(h, Status(status), lm, w, hgt, score, err, _signals(sig))


def _integer(v):
    """What an INTEGER column gives back for a bound value: a whole float as an int."""
    return int(v) if isinstance(v, float) and v.is_integer() else v

class PoseTables(StoreBase):
    """Pose results, so renaming or re-importing files never repeats model work."""

    def missing_poses(self, backend: str, version: str) -> pd.DataFrame:
        """One (content_hash, path) per image content not yet run through this backend."""
        return self._df(
            "SELECT content_hash, MIN(path) AS path FROM images i WHERE NOT EXISTS ("
            " SELECT 1 FROM poses p WHERE p.content_hash=i.content_hash AND p.backend=? AND"
            " p.backend_version=?) GROUP BY content_hash ORDER BY MIN(image_id)", (backend, version))

    def put_poses(self, backend: str, version: str, rows: Iterable[PoseRow], returning: bool = False) -> list[PoseRow]:
        """Cache pose results (replacing earlier ones of the same content and backend), in one
        transaction. ``returning``: return the rows as :meth:`poses` reads them back (float32
        landmarks from the stored bytes, signals from the stored JSON, a missing score as 0.0),
        for a caller that needs them next without querying them again; else []."""
        now = time.time()
        values = []
        for r in rows:
            lm = None if r.landmarks is None else np.asarray(r.landmarks, np.float32)
            values.append((r.content_hash, backend, version, str(Status(r.status)),
                           None if lm is None else int(lm.shape[0]), None if lm is None else lm.tobytes(),
                           r.width, r.height, 0.0 if r.score is None else float(r.score), r.error, now,
                           json.dumps(r.signals, separators=(",", ":")) if r.signals else None))
        with self._write() as c:
            c.executemany("INSERT OR REPLACE INTO poses(content_hash, backend, backend_version, status,"
                          " n_landmarks, landmarks, width, height, score, error, created_at, signals)"
                          " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", values)
        if not returning:
            return []
        return [_pose_row(h, status, n, blob, _integer(w), _integer(hgt), score, err, sig)
                for h, _, _, status, n, blob, w, hgt, score, err, _, sig in values]

    def poses(self, backend: str, version: str, hashes: Iterable[str] | None = None) -> dict[str, PoseRow]:
        """content_hash -> its cached result (landmarks (n, 4) float32 or None)."""
        sql = ("SELECT content_hash, status, n_landmarks, landmarks, width, height, score, error, signals"
               " FROM poses WHERE backend=? AND backend_version=?")
        if hashes is None:
            rows = self._rows(sql, (backend, version))
        else:
            rows = []
            for chunk in _chunks(list(dict.fromkeys(hashes))):
                rows += self._rows(sql + f" AND content_hash IN ({_marks(len(chunk))})", (backend, version, *chunk))
        return {row[0]: _pose_row(*row) for row in rows}

    def pose_counts(self, backend: str, version: str) -> dict[Status, int]:
        """Catalogue images per pose status under one backend (pending ones not counted)."""
        rows = self._rows(
            "SELECT p.status, COUNT(*) FROM images i JOIN poses p ON p.content_hash=i.content_hash"
            " AND p.backend=? AND p.backend_version=? GROUP BY p.status", (backend, version))
        return {Status(s): n for s, n in rows}

    def image_status(self, backend: str | None, version: str | None,
                     status: Status | str | None = None) -> pd.DataFrame:
        """One row per catalogue image with its pose status under one backend (``pending``
        when not run through it yet), error and score; only the images of one ``status`` when
        given (filtered in SQL: the failed few of a million are not read as a million rows)."""
        where, params = "", [str(Status.PENDING), backend or "", version or ""]
        if status is not None:
            where = " WHERE COALESCE(p.status, ?)=?"
            params += [str(Status.PENDING), str(Status(status))]
        return self._df(
            "SELECT i.image_id, i.product_id, i.position, i.path, i.rel_path, i.content_hash, i.width,"
            " i.height, i.pose_label, COALESCE(p.status, ?) AS status, p.error, p.score"
            " FROM images i LEFT JOIN poses p ON p.content_hash=i.content_hash AND p.backend=?"
            f" AND p.backend_version=?{where} ORDER BY i.product_id, i.position, i.image_id", params)

    def pose_cache_version(self) -> str:
        """Changes whenever a pose result is added (cache key for tables)."""
        # two subqueries: each answered from the created_at index, not by scanning the poses
        n, last = self._one("SELECT (SELECT COUNT(*) FROM poses), (SELECT MAX(created_at) FROM poses)")
        return f"{n}|{last}"

    def most_used_backend(self) -> tuple[str, str] | None:
        """(backend, version) with the most cached results, or None for an empty cache."""
        row = self._one("SELECT backend, backend_version FROM poses GROUP BY backend, backend_version"
                        " ORDER BY COUNT(*) DESC LIMIT 1")
        return (row[0], row[1]) if row else None
