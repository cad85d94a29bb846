"""The audit log: append-only rows of who did what, when (``identity.Actor``); never updated or
deleted."""
from __future__ import annotations

import json
import time

import pandas as pd

from .base import StoreBase


class AuditTables(StoreBase):
    def record_audit(self, who: str, role: str | None, via: str | None, action: str, obj: str | None = None,
                     details: dict | None = None) -> int:
        """Append one row; returns its id."""
        cur = self._exec("INSERT INTO audit(at, who, role, via, action, object, details) VALUES(?,?,?,?,?,?,?)",
                         (time.time(), who, role, via, action, obj,
                          json.dumps(details, sort_keys=True, default=str) if details else None))
        return int(cur.lastrowid)

    def audit_log(self, since: float | None = None) -> pd.DataFrame:
        """Every row (at >= ``since`` when given), oldest first: id, at, who, role, via, action, object, details."""
        return self._df("SELECT id, at, who, role, via, action, object, details FROM audit WHERE at >= ? ORDER BY id",
                        (float(since or 0),))
