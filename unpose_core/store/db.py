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

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import pandas as pd

from ..records import (
    UNPLACED_DESCRIPTION,
    Anchor,
    Description,
    DescriptionStatus,
    GroupMark,
    Job,
    JobStatus,
    Judgement,
    LabelEdit,
    LineageRecord,
    MarkKind,
    PoseRow,
    RunRecord,
    Status,
    UnplacedLabel,
)
from . import schema
from .schema import SCHEMA_VERSION, CorruptDatabase, StoreError

_CHUNK = 500   # SQLite caps the number of bound parameters per statement

_JOB_COLUMNS = ("job_id", "kind", "status", "stage", "done", "total", "message", "rate", "eta",
                "params", "result", "error", "created_at", "started_at", "updated_at", "finished_at",
                "pid", "host", "cancel_requested")
_JUDGEMENT_COLUMNS = ("id", "run_id", "product_id", "suggested", "confirmed", "added", "labels", "reviewer",
                      "note", "created_at")
_INTERRUPTED_ERROR = ("the process running this job stopped; finished work is cached, start it again "
                      "to continue")


class LabelsChanged(RuntimeError):
    """The labels a carry-over was planned from changed before it was written: plan again."""


class ActiveRunChanged(LabelsChanged):
    """An edit made against one active run found another active when it was written: nothing was
    written; ``lineage.write_edit`` carries it to the run active now."""


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


def _chunks(values: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class Store:
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

    @contextmanager
    def _sql(self) -> Iterator[None]:
        """SQLite's error for a damaged file -> :class:`CorruptDatabase` naming the file and what to do."""
        try:
            yield
        except Exception as exc:
            if schema.is_corruption(exc):
                raise CorruptDatabase(self.path, f"SQLite: {exc}") from None
            raise

    # -- plumbing (private: callers use the typed methods below) -------------------------------
    def _exec(self, sql: str, params: Iterable = ()) -> sqlite3.Cursor:
        """One statement (autocommit: a single statement is its own transaction)."""
        with self._lock, self._sql():
            return self._conn.execute(sql, tuple(params))

    def _rows(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._lock, self._sql():
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _one(self, sql: str, params: Iterable = ()) -> tuple | None:
        with self._lock, self._sql():
            return self._conn.execute(sql, tuple(params)).fetchone()

    def _df(self, sql: str, params: Iterable = ()) -> pd.DataFrame:
        with self._lock, self._sql():
            return pd.read_sql_query(sql, self._conn, params=tuple(params))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """Several statements as one transaction. IMMEDIATE takes the write lock up front, so
        two writers queue on the busy timeout instead of failing on a lock upgrade."""
        with self._lock, self._sql():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:   # SQLite may have rolled back itself (e.g. disk full)
                    with suppress(sqlite3.Error):   # a damaged file may refuse the rollback too
                        self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:   # a COMMIT that failed (disk full) leaves it open: end it
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
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
                out = sqlite3.connect(tmp)
                try:
                    self._conn.backup(out)
                    out.execute("PRAGMA journal_mode=DELETE")   # one self-contained file
                finally:
                    out.close()
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

    # -- catalogue --------------------------------------------------------------
    def replace_catalogue(self, products: pd.DataFrame, images: pd.DataFrame,
                          problems: pd.DataFrame, source: str) -> None:
        """Swap the whole catalogue in one transaction; the pose cache and labels stay."""
        prod_rows = [
            (r.product_id, r.title, r.category, r.subcategory, r.product_type,
             None if pd.isna(r.avg_rating) else float(r.avg_rating),
             None if pd.isna(r.n_ratings) else int(r.n_ratings), r.attrs)
            for r in products.itertuples(index=False)
        ]
        img_rows = [
            (r.product_id, int(r.position), r.path, r.rel_path, r.content_hash,
             int(r.width), int(r.height), r.pose_label, r.attrs)
            for r in images.itertuples(index=False)
        ]
        prob_rows = [(None if pd.isna(r.row) else int(r.row), r.product_id, r.kind, r.detail)
                     for r in problems.itertuples(index=False)]
        with self._write() as c:
            c.execute("DELETE FROM products")
            c.execute("DELETE FROM images")
            c.execute("DELETE FROM import_problems")
            c.executemany("INSERT INTO products VALUES(?,?,?,?,?,?,?,?)", prod_rows)
            c.executemany(
                "INSERT INTO images(product_id, position, path, rel_path, content_hash, width, height,"
                " pose_label, attrs) VALUES(?,?,?,?,?,?,?,?,?)", img_rows)
            c.executemany("INSERT INTO import_problems VALUES(?,?,?,?)", prob_rows)
            c.execute("INSERT OR REPLACE INTO meta VALUES('catalogue_source', ?)", (source,))
            c.execute("INSERT OR REPLACE INTO meta VALUES('catalogue_imported_at', ?)", (str(time.time()),))

    def products(self) -> pd.DataFrame:
        return self._df("SELECT * FROM products ORDER BY product_id")

    def has_catalogue(self) -> bool:
        return self._one("SELECT 1 FROM products LIMIT 1") is not None

    def product_titles(self) -> dict[str, str]:
        """product_id -> title."""
        return dict(self._rows("SELECT product_id, title FROM products"))

    def images(self) -> pd.DataFrame:
        return self._df("SELECT * FROM images ORDER BY product_id, position, image_id")

    def n_images(self) -> int:
        """Catalogue images (rows, not distinct contents)."""
        return int(self._one("SELECT COUNT(*) FROM images")[0])

    def image_counts(self) -> dict[str, int]:
        """product_id -> its number of catalogue images (products without images absent): what
        ``images().groupby("product_id").size()`` gives, counted in SQL on the product index."""
        return dict(self._rows("SELECT product_id, COUNT(*) FROM images GROUP BY product_id"))

    def n_unique_images(self) -> int:
        """Distinct image contents in the catalogue (what the pose cache is keyed by)."""
        return int(self._one("SELECT COUNT(DISTINCT content_hash) FROM images")[0])

    def image_hash(self, image_id: int) -> str | None:
        row = self._one("SELECT content_hash FROM images WHERE image_id=?", (int(image_id),))
        return None if row is None else row[0]

    def image_paths(self, hashes: Iterable[str] | None = None) -> dict[str, str]:
        """content_hash -> one catalogue path holding that content (all contents, or the given
        ones that are still in the catalogue)."""
        sql = "SELECT content_hash, MIN(path) FROM images"
        if hashes is None:
            return dict(self._rows(sql + " GROUP BY content_hash"))
        out: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(h for h in hashes if h))):
            out.update(self._rows(sql + f" WHERE content_hash IN ({_marks(len(chunk))}) GROUP BY content_hash",
                                  chunk))
        return out

    def pose_labels(self) -> dict[str, str]:
        """content_hash -> the catalogue's pose_label for that content, where one is given."""
        return dict(self._rows("SELECT content_hash, MIN(pose_label) FROM images"
                               " WHERE pose_label IS NOT NULL GROUP BY content_hash"))

    def import_problems(self) -> pd.DataFrame:
        return self._df("SELECT * FROM import_problems ORDER BY row")

    # -- pose cache -------------------------------------------------------------
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

    # -- runs -------------------------------------------------------------------
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

    # -- centroid descriptions --------------------------------------------------
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
                 "source": u.source, "created_at": u.created_at, "state": u.state,
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
        placed = tuple(json.loads(centroids)) if action == "placed" and centroids else None
        return UnplacedLabel(kind, tuple(Anchor.from_dict(a) for a in json.loads(anchors or "[]")), text or "",
                             DescriptionStatus(status), source, run_id, int(uid), created, action or "open", placed)

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

    def place_unplaced(self, item_id: int, centroids: Iterable[int], by: str = "person") -> UnplacedLabel:
        """A person puts an open unplaced label on centroids of its run (one per side still
        unplaced), in one transaction: the description or mark is written, the item recorded
        as placed. A description that sat on the target centroid is not lost: it becomes an
        unplaced description of the run itself."""
        centroids = [int(x) for x in centroids]
        now = time.time()
        with self._write() as c:
            row = c.execute(self._UNPLACED_SQL + " WHERE u.id=?", (int(item_id),)).fetchone()
            if row is None:
                raise LookupError(f"no unplaced description or mark #{item_id}")
            item = self._unplaced_record(row)
            if not item.open:
                raise ValueError(f"#{item_id} is already {item.state}")
            free = [i for i, a in enumerate(item.anchors) if a.centroid is None]
            if len(centroids) != len(free):
                raise ValueError(f"#{item_id} ({item.what()}) needs {len(free)} centroid(s) to be placed, "
                                 f"got {len(centroids)}")
            sides = [a.centroid for a in item.anchors]
            for i, cen in zip(free, centroids):
                sides[i] = cen
            source = f"placed:{item.source or ''}"
            if item.is_description:
                (target,) = sides
                current = c.execute("SELECT text, source FROM descriptions WHERE run_id=? AND centroid=?",
                                    (item.run_id, target)).fetchone()
                if current is not None and current[0] != item.text:
                    self._insert_unplaced(c, item.run_id, UnplacedLabel(
                        UNPLACED_DESCRIPTION, (Anchor(origin=f"{item.run_id}:{target}"),), current[0],
                        source=current[1] or f"{item.run_id}:{target}"), now)
                self._put_description(c, item.run_id, Description(target, item.text, DescriptionStatus.OK,
                                                                  source), now)
            else:
                mark = GroupMark(MarkKind(item.kind), sides[0], sides[1] if len(sides) > 1 else None,
                                 item.text or None, DescriptionStatus.OK, source)
                self._put_mark(c, item.run_id, mark, now)
            c.execute("INSERT INTO unplaced_resolutions(unplaced_id, action, centroids, by, created_at)"
                      " VALUES(?,?,?,?,?)", (int(item_id), "placed", json.dumps(sides), by, now))
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
                      " VALUES(?,?,?,?,?)", (int(item_id), "dismissed", None, by, time.time()))
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
            active = c.execute("SELECT value FROM meta WHERE key='active_run'").fetchone()
            if (active[0] if active else None) != expect_active:
                raise ActiveRunChanged(f"the active run is no longer {expect_active}")
            for other, version in (expect_versions or {}).items():
                if self._labels_version_in(c, other) != version:
                    raise LabelsChanged(f"labels of run {other} changed meanwhile; plan again")
            for e in edits:
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
            active = c.execute("SELECT value FROM meta WHERE key='active_run'").fetchone()
            if (active[0] if active else None) != parent:
                raise LabelsChanged(f"the active run changed while run {run_id} was being activated; plan again")
            for other, version in (expect_versions or {}).items():
                if self._labels_version_in(c, other) != version:
                    raise LabelsChanged(f"labels of run {other} changed while carrying them; plan again")
            self._write_labels(c, run_id, descriptions, marks, unplaced, now)
            c.execute("INSERT OR REPLACE INTO lineage VALUES(?,?,?,?,?)",
                      (run_id, parent, carried_from, now, json.dumps(summary or {}, default=str)))
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('active_run', ?)", (run_id,))

    @staticmethod
    def _labels_version_in(c: sqlite3.Connection, run_id: str) -> int:
        return int(c.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM description_history WHERE run_id=?)"
            " + (SELECT COALESCE(MAX(id), 0) FROM group_mark_history WHERE run_id=?)"
            " + (SELECT COALESCE(MAX(id), 0) FROM unplaced WHERE run_id=?)"
            " + (SELECT COALESCE(MAX(r.id), 0) FROM unplaced_resolutions r JOIN unplaced u"
            " ON u.id=r.unplaced_id WHERE u.run_id=?)", (run_id,) * 4).fetchone()[0])

    # -- background jobs --------------------------------------------------------
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

    # -- reviewer judgements ----------------------------------------------------
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

    # -- seller hints an analyst edited, per pose-group description (not per run) --------------
    def hints(self) -> dict[str, str]:
        """hint_key(description) -> the hint an analyst wrote for that pose group (others absent)."""
        return dict(self._rows("SELECT text_key, hint FROM hints ORDER BY text_key"))

    def hints_table(self) -> pd.DataFrame:
        """The current edited hints: text_key, text (the description as typed), hint, source, updated_at."""
        return self._df("SELECT text_key, text, hint, source, updated_at FROM hints ORDER BY text_key")

    def set_hint(self, text_key: str, hint: str, source: str | None = None) -> str:
        """Set the hint of the pose group described by ``text_key`` (any spelling: it is normalised
        with :func:`hint_key`); an empty ``hint`` clears it (back to the generated one). Every change
        goes to ``hint_history``. Returns the normalised key."""
        key = hint_key(text_key)
        if not key:
            raise ValueError("a hint needs the description of its pose group")
        hint = (hint or "").strip()
        now = time.time()
        with self._write() as c:
            if hint:
                c.execute("INSERT OR REPLACE INTO hints(text_key, text, hint, source, updated_at) VALUES(?,?,?,?,?)",
                          (key, str(text_key).strip(), hint, source, now))
                c.execute("INSERT INTO hint_history(text_key, text, hint, action, source, created_at)"
                          " VALUES(?,?,?,?,?,?)", (key, str(text_key).strip(), hint, "set", source, now))
            elif c.execute("DELETE FROM hints WHERE text_key=?", (key,)).rowcount:
                c.execute("INSERT INTO hint_history(text_key, text, hint, action, source, created_at)"
                          " VALUES(?,?,?,?,?,?)", (key, str(text_key).strip(), None, "clear", source, now))
        return key

    def hint_history(self, text_key: str | None = None) -> pd.DataFrame:
        """Every hint set or cleared, oldest first (of one description, or all)."""
        if text_key is None:
            return self._df("SELECT * FROM hint_history ORDER BY id")
        return self._df("SELECT * FROM hint_history WHERE text_key=? ORDER BY id", (hint_key(text_key),))

    def hints_version(self) -> int:
        """Grows whenever a hint is set or cleared (cache key)."""
        return int(self._one("SELECT COALESCE(MAX(id), 0) FROM hint_history")[0])


def check_backup(path: str | Path) -> int:
    """A database file fit to restore: SQLite's full integrity check passes and it is an Unposed
    store this release can open (schema version <= :data:`SCHEMA_VERSION`). Returns its schema
    version; :class:`CorruptDatabase` / :class:`StoreError` say what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path} is not a file")
    schema.check_file(path)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check(5)").fetchall()]
            if problems != ["ok"]:
                raise CorruptDatabase(path, "integrity check: " + "; ".join(problems))
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if schema.is_corruption(exc):
            raise CorruptDatabase(path, f"SQLite: {exc}") from None
        if "no such table" in str(exc):
            raise StoreError(f"{path} is an SQLite file but not an Unposed data dir's database") from None
        raise
    version = int(row[0]) if row and str(row[0]).isdigit() else None
    if version is None:
        raise StoreError(f"{path} is an SQLite file but not an Unposed data dir's database (no schema version)")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer unposed (store schema {version}; this one reads up to "
                         f"{SCHEMA_VERSION}): upgrade unposed to restore it")
    return version


def restore(data_dir: str | Path, backup: str | Path) -> Path:
    """Make ``backup`` (a file `unposed backup` / :meth:`Store.backup_file` wrote) the database
    of ``data_dir``, through SQLite's online backup. The backup is checked first (integrity,
    schema version) and nothing changes when it fails. The database it replaces is kept beside
    it: a healthy one as ``unposed.sqlite.before-restore-<time>`` (a backup of it), a damaged one
    moved aside as ``unposed.sqlite.damaged-<time>`` (with its -wal / -shm). Returns the
    restored database's path; open it with :class:`Store` (an older schema is upgraded then)."""
    data_dir, backup = Path(data_dir), Path(backup)
    check_backup(backup)
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / "unposed.sqlite"
    if backup.resolve() == target.resolve():
        raise ValueError(f"{backup} is the data dir's own database")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    healthy = True
    try:
        schema.check_file(target)
    except CorruptDatabase:
        healthy = False
    if healthy and target.exists():
        try:
            current = Store(data_dir)
        except CorruptDatabase:
            healthy = False
        else:
            try:
                current.backup_file(data_dir / f"{target.name}.before-restore-{stamp}")
            finally:
                current.close()
    if not healthy:
        for suffix in ("", "-wal", "-shm"):
            p = data_dir / (target.name + suffix)
            if p.exists():
                os.replace(p, data_dir / f"{target.name}{suffix}.damaged-{stamp}")
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = schema.connect(target)
        try:
            src.backup(dst)   # online: other connections to a healthy target wait on its locks
        finally:
            dst.close()
    finally:
        src.close()
    return target


def hint_key(text: str) -> str:
    """How a pose group's description keys its edited hint: lower case, runs of spaces as one (the
    rule ``groups`` uses to make centroids with the same description one group)."""
    return " ".join(str(text or "").lower().split())


__all__ = ["SCHEMA_VERSION", "ActiveRunChanged", "CorruptDatabase", "LabelsChanged", "Store", "StoreError",
           "check_backup", "hint_key", "restore"]
