"""The runs table: trained run folders (relative to the data dir) and which one is active."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from ..records import (
    RunRecord,
)
from . import schema
from .base import StoreBase


class RunTables(StoreBase):
    """Run records and the active run."""

    def add_run(self, run_id: str, path: str | Path, backend: str, k: int, config: dict, summary: dict) -> None:
        """Register a run folder. ``path`` may be relative to the data dir or absolute; one inside
        the data dir is stored relative to it."""
        self._exec("INSERT OR REPLACE INTO runs VALUES(?,?,?,?,?,?,?)",
                   (run_id, time.time(), schema.stored_run_path(self.data_dir, path), backend, int(k),
                    json.dumps(config), json.dumps(summary)))

    def runs(self) -> pd.DataFrame:
        """Every run, newest first, as a table (``path`` absolute; config/summary as JSON text)."""
        df = self._df("SELECT * FROM runs ORDER BY created_at DESC")
        df["path"] = [str(schema.resolve_run_path(self.data_dir, p)) if p else p for p in df["path"]]
        return df

    def _run_record(self, row: tuple) -> RunRecord:
        run_id, created, path, backend, k, config, summary = row
        return RunRecord(run_id, created, schema.resolve_run_path(self.data_dir, path or ""), backend, int(k),
                         json.loads(config or "{}"), json.loads(summary or "{}"))

    def run_records(self) -> list[RunRecord]:
        """Every run, newest first."""
        return [self._run_record(r) for r in self._rows(
            "SELECT run_id, created_at, path, backend, k, config, summary FROM runs ORDER BY created_at DESC")]

    def run(self, run_id: str) -> RunRecord:
        """One run's record; LookupError when it is not registered."""
        row = self._one("SELECT run_id, created_at, path, backend, k, config, summary FROM runs WHERE run_id=?",
                        (run_id,))
        if row is None:
            raise LookupError(f"no run {run_id!r} in this data dir; `unposed runs` lists them")
        return self._run_record(row)

    def run_path(self, run_id: str) -> Path:
        """The run's folder, absolute (stored relative to the data dir when inside it)."""
        return self.run(run_id).path

    def active_run_id(self) -> str | None:
        return self.get_meta("active_run")

    def set_active_run(self, run_id: str) -> None:
        if self._one("SELECT 1 FROM runs WHERE run_id=?", (run_id,)) is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        self.set_meta("active_run", run_id)
