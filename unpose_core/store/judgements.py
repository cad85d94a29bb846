"""Reviewers' judgements of suggestions, append-only."""
from __future__ import annotations

import json
import time

import pandas as pd

from ..records import (
    Judgement,
)
from .base import StoreBase

_JUDGEMENT_COLUMNS = ("id", "run_id", "product_id", "suggested", "confirmed", "added", "labels", "reviewer",
                      "note", "created_at")

class JudgementTables(StoreBase):
    """Judgements: every one kept, the newest per (run, product) current."""

    @staticmethod
    def _judgement(row: tuple) -> Judgement:
        jid, run_id, pid, sug, conf, add, labels, reviewer, note, created = row
        lab = {int(k): v for k, v in (json.loads(labels) if labels else {}).items()}
        return Judgement(run_id, pid, json.loads(sug), json.loads(conf), json.loads(add), lab, reviewer, note,
                         created, jid)

    def add_judgement(self, j: Judgement) -> Judgement:
        """Append a judgement (never overwrites); returns it with its id and time."""
        now = j.created_at or time.time()
        cur = self._exec(
            "INSERT INTO judgements(run_id, product_id, suggested, confirmed, added, labels, reviewer, note,"
            " created_at) VALUES(?,?,?,?,?,?,?,?,?)",
            (j.run_id, str(j.product_id), json.dumps(j.suggested), json.dumps(j.confirmed), json.dumps(j.added),
             json.dumps({str(k): v for k, v in j.labels.items()}), j.reviewer, j.note, now))
        return Judgement(j.run_id, str(j.product_id), j.suggested, j.confirmed, j.added, j.labels, j.reviewer,
                         j.note, now, cur.lastrowid)

    def latest_judgement(self, run_id: str, product_id: str) -> Judgement | None:
        row = self._one(f"SELECT {', '.join(_JUDGEMENT_COLUMNS)} FROM judgements WHERE run_id=? AND product_id=?"
                        " ORDER BY id DESC LIMIT 1", (run_id, str(product_id)))
        return None if row is None else self._judgement(row)

    def latest_judgements(self, run_id: str | None = None) -> list[Judgement]:
        """The current (newest) judgement of every (run, product) pair, or of one run's products."""
        sql = (f"SELECT {', '.join(_JUDGEMENT_COLUMNS)} FROM judgements j WHERE id = (SELECT MAX(id)"
               " FROM judgements k WHERE k.run_id=j.run_id AND k.product_id=j.product_id)")
        params: tuple = ()
        if run_id is not None:
            sql += " AND run_id=?"
            params = (run_id,)
        return [self._judgement(r) for r in self._rows(sql + " ORDER BY id", params)]

    def judgement_history(self, run_id: str | None = None) -> pd.DataFrame:
        """Every judgement row (JSON columns as text), oldest first."""
        sql = f"SELECT {', '.join(_JUDGEMENT_COLUMNS)} FROM judgements"
        if run_id is None:
            return self._df(sql + " ORDER BY id")
        return self._df(sql + " WHERE run_id=? ORDER BY id", (run_id,))
