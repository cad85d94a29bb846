"""What a person wrote on a run: descriptions, pose-group marks, unplaced labels, and the
lineage (activation with carried labels, edits bound to a run), each in one transaction."""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable

import pandas as pd

from ..records import (
    UNPLACED_DESCRIPTION,
    Anchor,
    Description,
    DescriptionStatus,
    GroupMark,
    LabelEdit,
    LineageRecord,
    UnplacedLabel,
    UnplacedState,
)
from .base import StoreBase


class LabelsChanged(RuntimeError):
    """The labels a carry-over was planned from changed before it was written: plan again."""


class ActiveRunChanged(LabelsChanged):
    """An edit made against one active run found another active when it was written: nothing was
    written; ``lineage.write_edit`` carries it to the run active now."""

class LabelTables(StoreBase):
    """Descriptions, marks, unplaced labels and lineage; append-only histories."""

    def descriptions(self, run_id: str) -> dict[int, Description]:
        """centroid -> the human description on it (centroids without one are absent)."""
        rows = self._rows("SELECT centroid, text, status, source, updated_at FROM descriptions WHERE run_id=?",
                          (run_id,))
        return {c: Description(c, t, DescriptionStatus(s), src, u) for c, t, s, src, u in rows}

    def set_description(self, run_id: str, centroid: int, text: str,
                        status: DescriptionStatus | str = DescriptionStatus.OK, source: str | None = None) -> None:
        with self._write() as c:
            self._put_description(c, run_id, Description(int(centroid), text, DescriptionStatus(status), source),
                                  time.time())

    def clear_description(self, run_id: str, centroid: int, source: str | None = None) -> Description | None:
        """Remove the human description on a centroid (back to the automatic one); the history
        gets a row with empty text. Returns the removed description, None when there was none."""
        with self._write() as c:
            row = c.execute("SELECT text, status, source, updated_at FROM descriptions WHERE run_id=? AND centroid=?",
                            (run_id, int(centroid))).fetchone()
            if row is None:
                return None
            c.execute("DELETE FROM descriptions WHERE run_id=? AND centroid=?", (run_id, int(centroid)))
            c.execute("INSERT INTO description_history(run_id, centroid, text, status, source, created_at)"
                      " VALUES(?,?,?,?,?,?)", (run_id, int(centroid), "", row[1], source, time.time()))
        return Description(int(centroid), row[0], DescriptionStatus(row[1]), row[2], row[3])

    def add_unplaced_description(self, run_id: str, text: str, source: str,
                                 anchor: Anchor | None = None) -> int:
        """A description with no centroid in ``run_id`` to sit on: kept for review, never dropped.
        Returns its id (``unposed describe --place ID CENTROID`` / ``--dismiss ID``)."""
        item = UnplacedLabel(UNPLACED_DESCRIPTION, (anchor or Anchor(origin=source or ""),), text,
                             source=source)
        with self._write() as c:
            return self._insert_unplaced(c, run_id, item, time.time())

    def unplaced_descriptions(self, run_id: str) -> pd.DataFrame:
        """Every description that found no centroid in the run, placed or dismissed ones too (the
        history), oldest first: id, run_id, centroid (None), text, status, source, created_at,
        state ('open' / 'placed' / 'dismissed') and placed_on (the centroid a person put it on)."""
        rows = [{"id": u.id, "run_id": u.run_id, "centroid": None, "text": u.text, "status": str(u.status),
                 "source": u.source, "created_at": u.created_at, "state": str(u.state),
                 "placed_on": u.placed_on[0] if u.placed_on else None}
                for u in self.unplaced(run_id, open_only=False) if u.is_description]
        cols = ["id", "run_id", "centroid", "text", "status", "source", "created_at", "state", "placed_on"]
        df = pd.DataFrame(rows, columns=cols)
        df["placed_on"] = pd.Series([r["placed_on"] for r in rows], index=df.index, dtype=object)
        return df

    def description_history(self, run_id: str | None = None) -> pd.DataFrame:
        if run_id is None:
            return self._df("SELECT * FROM description_history ORDER BY id")
        return self._df("SELECT * FROM description_history WHERE run_id=? ORDER BY id", (run_id,))

    def descriptions_version(self, run_id: str) -> int:
        """Grows whenever a description of the run is written (cache key)."""
        return int(self._one("SELECT COALESCE(MAX(id), 0) FROM description_history WHERE run_id=?",
                             (run_id,))[0])

    # -- unplaced labels (descriptions and marks waiting for a person) --------------------------
    @staticmethod
    def _insert_unplaced(c: sqlite3.Connection, run_id: str, u: UnplacedLabel, now: float) -> int:
        anchors = json.dumps([a.to_dict() for a in u.anchors])
        cur = c.execute("INSERT INTO unplaced(run_id, kind, text, anchors, status, source, created_at)"
                        " VALUES(?,?,?,?,?,?,?)", (run_id, str(u.kind), u.text or "", anchors,
                                                   str(DescriptionStatus(u.status)), u.source, now))
        if u.kind == UNPLACED_DESCRIPTION:   # the description log keeps every text a run was given
            c.execute("INSERT INTO description_history(run_id, centroid, text, status, source, created_at)"
                      " VALUES(?,?,?,?,?,?)", (run_id, None, u.text, str(DescriptionStatus(u.status)),
                                               u.source, now))
        return int(cur.lastrowid)

    _UNPLACED_SQL = ("SELECT u.id, u.run_id, u.kind, u.text, u.anchors, u.status, u.source, u.created_at,"
                     " r.action, r.centroids FROM unplaced u LEFT JOIN unplaced_resolutions r ON r.id ="
                     " (SELECT MAX(id) FROM unplaced_resolutions x WHERE x.unplaced_id=u.id)")

    @staticmethod
    def _unplaced_record(row: tuple) -> UnplacedLabel:
        uid, run_id, kind, text, anchors, status, source, created, action, centroids = row
        placed = tuple(json.loads(centroids)) if action == UnplacedState.PLACED and centroids else None
        return UnplacedLabel(kind, tuple(Anchor.from_dict(a) for a in json.loads(anchors or "[]")), text or "",
                             DescriptionStatus(status), source, run_id, int(uid), created,
                             UnplacedState(action or UnplacedState.OPEN), placed)

    def unplaced(self, run_id: str, open_only: bool = True) -> list[UnplacedLabel]:
        """The run's unplaced descriptions and marks, oldest first; only those no person has placed
        or dismissed yet unless ``open_only`` is False."""
        rows = self._rows(self._UNPLACED_SQL + " WHERE u.run_id=? ORDER BY u.id", (run_id,))
        out = [self._unplaced_record(r) for r in rows]
        return [u for u in out if u.open] if open_only else out

    def unplaced_item(self, item_id: int) -> UnplacedLabel:
        row = self._one(self._UNPLACED_SQL + " WHERE u.id=?", (int(item_id),))
        if row is None:
            raise LookupError(f"no unplaced description or mark #{item_id}")
        return self._unplaced_record(row)

    def place_unplaced(self, item_id: int, sides: Iterable[int], edit: LabelEdit, by: str = "person",
                       expect_versions: dict[str, int] | None = None) -> UnplacedLabel:
        """Record open unplaced label ``item_id`` as placed on ``sides`` (one centroid per anchor) and
        write ``edit`` (what placing it means: ``descriptions.place_unplaced`` decides), in ONE
        transaction; :class:`LabelsChanged` when a run in ``expect_versions`` changed meanwhile
        (nothing written), ValueError when the item is no longer open."""
        sides = [int(x) for x in sides]
        now = time.time()
        with self._write() as c:
            row = c.execute(self._UNPLACED_SQL + " WHERE u.id=?", (int(item_id),)).fetchone()
            if row is None:
                raise LookupError(f"no unplaced description or mark #{item_id}")
            item = self._unplaced_record(row)
            if not item.open:
                raise ValueError(f"#{item_id} is already {item.state}")
            self._expect_versions(c, expect_versions)
            self._apply_edit(c, edit, now)
            c.execute("INSERT INTO unplaced_resolutions(unplaced_id, action, centroids, by, created_at)"
                      " VALUES(?,?,?,?,?)", (int(item_id), str(UnplacedState.PLACED), json.dumps(sides), by, now))
        return self.unplaced_item(item_id)

    def dismiss_unplaced(self, item_id: int, by: str = "person") -> UnplacedLabel:
        """A person says an unplaced label is not wanted any more: it stops being carried (the
        row and the dismissal stay in the history)."""
        with self._write() as c:
            row = c.execute(self._UNPLACED_SQL + " WHERE u.id=?", (int(item_id),)).fetchone()
            if row is None:
                raise LookupError(f"no unplaced description or mark #{item_id}")
            if not self._unplaced_record(row).open:
                raise ValueError(f"#{item_id} is already {self._unplaced_record(row).state}")
            c.execute("INSERT INTO unplaced_resolutions(unplaced_id, action, centroids, by, created_at)"
                      " VALUES(?,?,?,?,?)", (int(item_id), str(UnplacedState.DISMISSED), None, by,
                                                       time.time()))
        return self.unplaced_item(item_id)

    # -- pose-group marks -----------------------------------------------------------------------
    @staticmethod
    def _put_description(c: sqlite3.Connection, run_id: str, d: Description, now: float) -> None:
        status = str(DescriptionStatus(d.status))
        c.execute("INSERT OR REPLACE INTO descriptions VALUES(?,?,?,?,?,?)",
                  (run_id, int(d.centroid), d.text, status, d.source, now))
        c.execute("INSERT INTO description_history(run_id, centroid, text, status, source, created_at)"
                  " VALUES(?,?,?,?,?,?)", (run_id, int(d.centroid), d.text, status, d.source, now))

    @staticmethod
    def _put_mark(c: sqlite3.Connection, run_id: str, m: GroupMark, now: float) -> None:
        other = -1 if m.other is None else int(m.other)
        c.execute("INSERT OR REPLACE INTO group_marks VALUES(?,?,?,?,?,?,?,?)",
                  (run_id, str(m.kind), int(m.centroid), other, m.note, str(m.status), m.source, now))
        c.execute("INSERT INTO group_mark_history(run_id, kind, centroid, other, action, note, status, source,"
                  " created_at) VALUES(?,?,?,?,?,?,?,?,?)",
                  (run_id, str(m.kind), int(m.centroid), m.other, "set", m.note, str(m.status), m.source, now))

    @staticmethod
    def _drop_mark(c: sqlite3.Connection, run_id: str, m: GroupMark, source: str | None, now: float) -> None:
        other = -1 if m.other is None else int(m.other)
        cur = c.execute("DELETE FROM group_marks WHERE run_id=? AND kind=? AND centroid=? AND other=?",
                        (run_id, str(m.kind), int(m.centroid), other))
        if cur.rowcount:
            c.execute("INSERT INTO group_mark_history(run_id, kind, centroid, other, action, note, status,"
                      " source, created_at) VALUES(?,?,?,?,?,?,?,?,?)",
                      (run_id, str(m.kind), int(m.centroid), m.other, "clear", m.note, str(m.status), source,
                       now))

    def group_marks(self, run_id: str) -> list[GroupMark]:
        """The run's current pose-group marks (merges, splits, exclusions, desirable, rejections)."""
        rows = self._rows("SELECT kind, centroid, other, note, status, source, updated_at FROM group_marks"
                          " WHERE run_id=? ORDER BY kind, centroid, other", (run_id,))
        return [GroupMark(k, c, None if o < 0 else o, n, s, src, u) for k, c, o, n, s, src, u in rows]

    def set_group_marks(self, run_id: str, add: Iterable[GroupMark] = (), clear: Iterable[GroupMark] = (),
                        source: str | None = None) -> None:
        """Clear, then set marks, in one transaction; every change goes to the history."""
        now = time.time()
        with self._write() as c:
            for m in clear:
                self._drop_mark(c, run_id, m, source, now)
            for m in add:
                self._put_mark(c, run_id, m, now)

    def group_mark_history(self, run_id: str | None = None) -> pd.DataFrame:
        if run_id is None:
            return self._df("SELECT * FROM group_mark_history ORDER BY id")
        return self._df("SELECT * FROM group_mark_history WHERE run_id=? ORDER BY id", (run_id,))

    # -- lineage: activation with carried labels, in one transaction ---------------------------
    def labels_version(self, run_id: str) -> int:
        """Grows whenever any label of the run is written: a description, a mark, an unplaced
        label or its placement / dismissal (cache key; staleness check of a carry-over)."""
        with self._lock:
            return self._labels_version_in(self._conn, run_id)

    def lineage(self, run_id: str) -> LineageRecord | None:
        """How the run became active, or None when it never was (since lineage was recorded)."""
        row = self._one("SELECT run_id, parent, carried_from, activated_at, summary FROM lineage WHERE run_id=?",
                        (run_id,))
        if row is None:
            return None
        return LineageRecord(row[0], row[1], row[2], float(row[3] or 0.0), json.loads(row[4] or "{}"))

    def _write_labels(self, c: sqlite3.Connection, run_id: str, descriptions: Iterable[Description],
                      marks: Iterable[GroupMark], unplaced: Iterable[UnplacedLabel], now: float) -> None:
        for d in descriptions:
            self._put_description(c, run_id, d, now)
        for m in marks:
            self._put_mark(c, run_id, m, now)
        for u in unplaced:
            self._insert_unplaced(c, run_id, u, now)

    def write_labels(self, run_id: str, descriptions: Iterable[Description] = (), marks: Iterable[GroupMark] = (),
                     unplaced: Iterable[UnplacedLabel] = ()) -> None:
        """Descriptions, marks and unplaced labels of a run, all in one transaction."""
        with self._write() as c:
            self._write_labels(c, run_id, descriptions, marks, unplaced, time.time())

    def write_label_edits(self, edits: Iterable[LabelEdit], expect_active: str | None,
                          expect_versions: dict[str, int] | None = None) -> None:
        """Label edits (each on its own run) in ONE transaction, written only if the active run is
        still ``expect_active`` and each run in ``expect_versions`` still has that
        :meth:`labels_version`; else nothing is written and :class:`ActiveRunChanged` /
        :class:`LabelsChanged` is raised. How an edit is bound to the run it was made against."""
        now = time.time()
        with self._write() as c:
            self._expect(c, expect_active, expect_versions,
                         ActiveRunChanged(f"the active run is no longer {expect_active}"))
            for e in edits:
                self._apply_edit(c, e, now)

    def _apply_edit(self, c: sqlite3.Connection, e: LabelEdit, now: float) -> None:
        for m in e.clear_marks:
            self._drop_mark(c, e.run_id, m, e.source, now)
        self._write_labels(c, e.run_id, e.descriptions, e.add_marks, e.unplaced, now)

    def activate_run_with_labels(self, run_id: str, parent: str | None = None, carried_from: str | None = None,
                                 descriptions: Iterable[Description] = (), marks: Iterable[GroupMark] = (),
                                 unplaced: Iterable[UnplacedLabel] = (), summary: dict | None = None,
                                 expect_versions: dict[str, int] | None = None) -> None:
        """Make ``run_id`` the active run together with the labels carried to it, in ONE
        transaction: either the run is active with all of them, or nothing changed (the
        previous run stays active with its own labels).

        ``expect_versions``: run -> :meth:`labels_version` the carry-over was planned from;
        when one changed meanwhile (a person wrote a label), or the active run is no longer
        ``parent``, nothing is written and :class:`LabelsChanged` is raised so the caller
        plans again."""
        now = time.time()
        with self._write() as c:
            if c.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() is None:
                raise KeyError(f"no run {run_id!r} in {self.path}")
            self._expect(c, parent, expect_versions,
                         LabelsChanged(f"the active run changed while run {run_id} was being activated; plan again"))
            self._write_labels(c, run_id, descriptions, marks, unplaced, now)
            c.execute("INSERT OR REPLACE INTO lineage VALUES(?,?,?,?,?)",
                      (run_id, parent, carried_from, now, json.dumps(summary or {}, default=str)))
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('active_run', ?)", (run_id,))

    def _expect(self, c: sqlite3.Connection, active: str | None, versions: dict[str, int] | None,
                changed: LabelsChanged) -> None:
        """Inside a transaction: raise ``changed`` unless ``active`` is the active run, and
        :class:`LabelsChanged` unless each run in ``versions`` still has that labels version."""
        row = c.execute("SELECT value FROM meta WHERE key='active_run'").fetchone()
        if (row[0] if row else None) != active:
            raise changed
        self._expect_versions(c, versions)

    def _expect_versions(self, c: sqlite3.Connection, versions: dict[str, int] | None) -> None:
        for other, version in (versions or {}).items():
            if self._labels_version_in(c, other) != version:
                raise LabelsChanged(f"labels of run {other} changed meanwhile; plan again")

    @staticmethod
    def _labels_version_in(c: sqlite3.Connection, run_id: str) -> int:
        return int(c.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM description_history WHERE run_id=?)"
            " + (SELECT COALESCE(MAX(id), 0) FROM group_mark_history WHERE run_id=?)"
            " + (SELECT COALESCE(MAX(id), 0) FROM unplaced WHERE run_id=?)"
            " + (SELECT COALESCE(MAX(r.id), 0) FROM unplaced_resolutions r JOIN unplaced u"
            " ON u.id=r.unplaced_id WHERE u.run_id=?)", (run_id,) * 4).fetchone()[0])
