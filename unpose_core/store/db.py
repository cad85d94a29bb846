"""One SQLite database (WAL) per data directory: catalogue, pose cache, runs, labels, jobs.

The only module in Unposed that speaks SQL: everyone else calls a typed method here and
gets records (``unpose_core.records``) or, for tables the app shows, DataFrames. The
schema and its migrations live in :mod:`.schema`.

WAL lets the app read while an extraction job writes. Pose results are keyed by
(image content hash, backend, backend version), so renaming or re-importing files
never repeats model work. Human labels (centroid descriptions, reviewer judgements)
are append-only in their history tables: nothing a person typed is ever deleted.
Run folders are recorded relative to the data dir, so a copied data dir just works.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from . import schema
from .audit import AuditTables
from .backup import _copy, check_backup, restore
from .base import StoreBase
from .catalogue import CatalogueTables
from .hints import HintTables
from .jobs import JobTables
from .judgements import JudgementTables
from .labels import ActiveRunChanged, LabelsChanged, LabelTables
from .poses import PoseTables
from .reviews import ReviewTables
from .run_table import RunTables
from .schema import SCHEMA_VERSION, CorruptDatabase, StoreError
from .view_labels import ViewLabelTables


class Store(CatalogueTables, PoseTables, RunTables, LabelTables, JobTables, JudgementTables, HintTables,
            ViewLabelTables, ReviewTables, AuditTables, StoreBase):
    """Thread-safe handle on ``<data_dir>/unposed.sqlite``.

    Opening upgrades an older data dir in place (one transaction) and refuses one written
    by a newer unposed with :class:`StoreError`.
    """

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "unposed.sqlite"
        self._lock = threading.RLock()
        schema.check_file(self.path)   # 0 bytes, not SQLite, truncated: CorruptDatabase before SQLite opens it
        with self._sql():
            self._conn = schema.connect(self.path)
        try:
            with self._sql():
                self.opened_version = schema.prepare(self._conn, self.data_dir, self.path)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def backup(self, dest_data_dir: str | Path) -> Path:
        """A consistent copy of this database as ``<dest_data_dir>/unposed.sqlite``, through
        SQLite's online backup: safe while other connections read and write. A file copy of a
        live WAL database is not: it can miss the WAL, and in the copying process closing the
        copied file drops SQLite's POSIX locks on it (later opens fail with "disk I/O error")."""
        dest = Path(dest_data_dir)
        dest.mkdir(parents=True, exist_ok=True)
        return self.backup_file(dest / self.path.name)

    def backup_file(self, dest: str | Path) -> Path:
        """A consistent copy of this database as the file ``dest`` (SQLite's online backup, safe
        while the app and jobs write), checked after: what `unposed backup DEST` writes. An
        existing ``dest`` is replaced only once the copy is complete."""
        dest = Path(dest)
        if dest.resolve() == self.path.resolve():
            raise ValueError(f"{dest} is this data dir's own database: back it up to another file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".partial")
        tmp.unlink(missing_ok=True)
        try:
            with self._lock, self._sql():
                _copy(self._conn, tmp)
            check_backup(tmp)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return dest

    @property
    def schema_version(self) -> int:
        return int(self.get_meta("schema_version", "0"))

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key=?", (key,))
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))


__all__ = ["SCHEMA_VERSION", "ActiveRunChanged", "CorruptDatabase", "LabelsChanged", "Store", "StoreError",
           "check_backup", "restore"]
