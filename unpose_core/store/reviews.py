"""The store's review tables: reviews per pose group (``group_verdicts``) and each cohort's
operating point (``cohort_settings``). Both append-only: a review or a setting is superseded by a
newer row, never changed. A mixin of :class:`~unpose_core.store.db.Store`."""
from __future__ import annotations

import json
import time

import pandas as pd

from ..records import CohortSettings, GroupVerdict, Review

_VERDICT_COLUMNS = "submission, run_id, product_id, verdict, members, label, rank, photo, by, created_at"
_SETTINGS_COLUMNS = "id, cohort, source, settings, estimate, run_id, by, created_at"


class ReviewTables:
    """Typed access to the review tables (uses the Store's ``_write``, ``_rows``, ``_df``)."""

    def add_review(self, review: Review) -> Review:
        """Append one submitted review (all its group verdicts in one transaction); returns it
        with its id (the submission number) and time."""
        if not review.by or not str(review.by).strip():
            raise ValueError("a review needs the reviewer's name")
        now = review.created_at or time.time()
        with self._write() as c:
            sub = int(c.execute("SELECT COALESCE(MAX(submission), 0) + 1 FROM group_verdicts").fetchone()[0])
            for v in review.verdicts:
                c.execute(f"INSERT INTO group_verdicts({_VERDICT_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?)",
                          (sub, review.run_id, str(review.product_id), str(v.verdict), json.dumps(list(v.members)),
                           v.label, v.rank, v.photo, str(review.by).strip(), now))
            if not review.verdicts:   # "nothing to say" is a review too: one row without a group
                c.execute(f"INSERT INTO group_verdicts({_VERDICT_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?)",
                          (sub, review.run_id, str(review.product_id), "none", "[]", None, None, None,
                           str(review.by).strip(), now))
        return Review(review.run_id, str(review.product_id), tuple(review.verdicts), str(review.by).strip(), now,
                      sub)

    @staticmethod
    def _reviews(rows: list[tuple]) -> list[Review]:
        out: dict[int, Review] = {}
        for sub, run_id, pid, verdict, members, label, rank, photo, by, created in rows:
            r = out.get(sub) or Review(run_id, pid, (), by, created, sub)
            if verdict != "none":
                r = Review(run_id, pid, (*r.verdicts, GroupVerdict(verdict, tuple(json.loads(members)), label or "",
                                                                    rank, photo)), by, created, sub)
            out[sub] = r
        return list(out.values())

    def latest_reviews(self, product_ids: list[str] | None = None) -> dict[str, Review]:
        """product -> its newest review (under whichever run it was made)."""
        sql = (f"SELECT {_VERDICT_COLUMNS} FROM group_verdicts WHERE submission IN (SELECT MAX(submission)"
               " FROM group_verdicts GROUP BY product_id) ORDER BY submission, id")
        reviews = {r.product_id: r for r in self._reviews(self._rows(sql))}
        if product_ids is not None:
            wanted = {str(p) for p in product_ids}
            reviews = {p: r for p, r in reviews.items() if p in wanted}
        return reviews

    def review_history(self) -> pd.DataFrame:
        """Every group verdict ever submitted, oldest first."""
        return self._df(f"SELECT id, {_VERDICT_COLUMNS} FROM group_verdicts ORDER BY id")

    def reviews_version(self) -> int:
        """Grows with every submitted review (cache key)."""
        return int(self._one("SELECT COALESCE(MAX(submission), 0) FROM group_verdicts")[0])

    # -- operating points ----------------------------------------------------------------------
    def add_cohort_settings(self, rows: list[CohortSettings]) -> list[CohortSettings]:
        """Append settings rows (one transaction); the newest per cohort is in force."""
        now = time.time()
        out = []
        with self._write() as c:
            for s in rows:
                cur = c.execute(f"INSERT INTO cohort_settings({_SETTINGS_COLUMNS[4:]}) VALUES(?,?,?,?,?,?,?)",
                                (s.cohort, str(s.source), json.dumps(s.settings), json.dumps(s.estimate), s.run_id,
                                 s.by, s.created_at or now))
                out.append(CohortSettings(s.cohort, s.source, dict(s.settings), dict(s.estimate), s.run_id, s.by,
                                          s.created_at or now, cur.lastrowid))
        return out

    @staticmethod
    def _settings(row: tuple) -> CohortSettings:
        sid, cohort, source, settings, estimate, run_id, by, created = row
        return CohortSettings(cohort, source, json.loads(settings), json.loads(estimate) if estimate else {}, run_id,
                              by, created, sid)

    def cohort_settings(self) -> dict[str, CohortSettings]:
        """cohort key -> the settings row in force (a 'reset' row included)."""
        rows = self._rows(f"SELECT {_SETTINGS_COLUMNS} FROM cohort_settings WHERE id IN"
                          " (SELECT MAX(id) FROM cohort_settings GROUP BY cohort) ORDER BY cohort")
        return {r[1]: self._settings(r) for r in rows}

    def cohort_settings_history(self, cohort: str | None = None) -> list[CohortSettings]:
        sql = f"SELECT {_SETTINGS_COLUMNS} FROM cohort_settings"
        rows = self._rows(sql + " ORDER BY id") if cohort is None else \
            self._rows(sql + " WHERE cohort=? ORDER BY id", (cohort,))
        return [self._settings(r) for r in rows]

    def cohort_settings_version(self) -> int:
        return int(self._one("SELECT COALESCE(MAX(id), 0) FROM cohort_settings")[0])
