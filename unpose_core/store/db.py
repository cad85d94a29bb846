"""One SQLite database (WAL) per data directory: catalogue, pose cache, runs, labels.

WAL lets the app read while an extraction job writes. Pose results are keyed by
(image content hash, backend, backend version), so renaming or re-importing files
never repeats model work. Human labels (centroid descriptions, reviewer judgements)
are append-only in their history tables: nothing a person typed is ever deleted.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS products(
    product_id TEXT PRIMARY KEY, title TEXT, category TEXT, subcategory TEXT,
    product_type TEXT, avg_rating REAL, n_ratings INTEGER, attrs TEXT);
CREATE TABLE IF NOT EXISTS images(
    image_id INTEGER PRIMARY KEY, product_id TEXT NOT NULL, position INTEGER,
    path TEXT NOT NULL, rel_path TEXT, content_hash TEXT NOT NULL,
    width INTEGER, height INTEGER, pose_label TEXT, attrs TEXT);
CREATE INDEX IF NOT EXISTS images_hash ON images(content_hash);
CREATE INDEX IF NOT EXISTS images_product ON images(product_id);
CREATE TABLE IF NOT EXISTS import_problems(
    row INTEGER, product_id TEXT, kind TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS poses(
    content_hash TEXT NOT NULL, backend TEXT NOT NULL, backend_version TEXT NOT NULL,
    status TEXT NOT NULL, n_landmarks INTEGER, landmarks BLOB, width INTEGER, height INTEGER,
    score REAL, error TEXT, created_at REAL,
    PRIMARY KEY(content_hash, backend, backend_version));
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY, created_at REAL, path TEXT, backend TEXT, k INTEGER,
    config TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS descriptions(
    run_id TEXT NOT NULL, centroid INTEGER NOT NULL, text TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'ok', source TEXT, updated_at REAL,
    PRIMARY KEY(run_id, centroid));
CREATE TABLE IF NOT EXISTS description_history(
    id INTEGER PRIMARY KEY, run_id TEXT, centroid INTEGER, text TEXT, status TEXT,
    source TEXT, created_at REAL);
"""


class Store:
    """Thread-safe handle on ``<data_dir>/unposed.sqlite``."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "unposed.sqlite"
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=60000")
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)
            found = self.get_meta("schema_version")
            if found is None:
                self.set_meta("schema_version", str(SCHEMA_VERSION))
            elif int(found) > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer unposed (schema {found} > {SCHEMA_VERSION})")

    # -- plumbing ---------------------------------------------------------------
    def execute(self, sql: str, params: Iterable = ()) -> sqlite3.Cursor:
        with self._lock, self._conn:
            return self._conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Iterable]) -> None:
        with self._lock, self._conn:
            self._conn.executemany(sql, rows)

    def query_df(self, sql: str, params: Iterable = ()) -> pd.DataFrame:
        with self._lock:
            return pd.read_sql_query(sql, self._conn, params=tuple(params))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))

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
        with self._lock, self._conn:
            c = self._conn
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
        return self.query_df("SELECT * FROM products ORDER BY product_id")

    def images(self) -> pd.DataFrame:
        return self.query_df("SELECT * FROM images ORDER BY product_id, position, image_id")

    def import_problems(self) -> pd.DataFrame:
        return self.query_df("SELECT * FROM import_problems ORDER BY row")

    # -- pose cache -------------------------------------------------------------
    def missing_poses(self, backend: str, version: str) -> pd.DataFrame:
        """One (content_hash, path) per image content not yet run through this backend."""
        return self.query_df(
            "SELECT content_hash, MIN(path) AS path FROM images i WHERE NOT EXISTS ("
            " SELECT 1 FROM poses p WHERE p.content_hash=i.content_hash AND p.backend=? AND"
            " p.backend_version=?) GROUP BY content_hash ORDER BY MIN(image_id)", (backend, version))

    def put_poses(self, backend: str, version: str, rows: list[dict]) -> None:
        now = time.time()
        self.executemany(
            "INSERT OR REPLACE INTO poses VALUES(?,?,?,?,?,?,?,?,?,?,?)",
            [(r["content_hash"], backend, version, r["status"],
              None if r.get("landmarks") is None else int(r["landmarks"].shape[0]),
              None if r.get("landmarks") is None else np.asarray(r["landmarks"], np.float32).tobytes(),
              r.get("width"), r.get("height"), r.get("score", 0.0), r.get("error"), now) for r in rows])

    def poses(self, backend: str, version: str, hashes: Iterable[str] | None = None) -> dict[str, dict]:
        """content_hash -> {status, landmarks (n, 4) float32 or None, width, height, error}."""
        sql = ("SELECT content_hash, status, n_landmarks, landmarks, width, height, score, error"
               " FROM poses WHERE backend=? AND backend_version=?")
        with self._lock:
            if hashes is None:
                rows = self._conn.execute(sql, (backend, version)).fetchall()
            else:
                wanted, rows = list(dict.fromkeys(hashes)), []
                for i in range(0, len(wanted), 500):   # SQLite caps bound parameters
                    chunk = wanted[i:i + 500]
                    rows += self._conn.execute(
                        sql + f" AND content_hash IN ({','.join('?' * len(chunk))})",
                        (backend, version, *chunk)).fetchall()
        out = {}
        for h, status, n, blob, w, hgt, score, err in rows:
            lm = None if blob is None else np.frombuffer(blob, np.float32).reshape(n, 4)
            out[h] = {"status": status, "landmarks": lm, "width": w, "height": hgt,
                      "score": score, "error": err}
        return out

    def pose_counts(self, backend: str, version: str) -> dict[str, int]:
        rows = self.execute(
            "SELECT p.status, COUNT(*) FROM images i JOIN poses p ON p.content_hash=i.content_hash"
            " AND p.backend=? AND p.backend_version=? GROUP BY p.status", (backend, version)).fetchall()
        return {s: n for s, n in rows}

    # -- runs -------------------------------------------------------------------
    def add_run(self, run_id: str, path: str, backend: str, k: int, config: dict, summary: dict) -> None:
        self.execute("INSERT OR REPLACE INTO runs VALUES(?,?,?,?,?,?,?)",
                     (run_id, time.time(), path, backend, k, json.dumps(config), json.dumps(summary)))

    def runs(self) -> pd.DataFrame:
        return self.query_df("SELECT * FROM runs ORDER BY created_at DESC")

    def active_run_id(self) -> str | None:
        return self.get_meta("active_run")

    def set_active_run(self, run_id: str) -> None:
        if self.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() is None:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        self.set_meta("active_run", run_id)

    # -- centroid descriptions --------------------------------------------------
    def descriptions(self, run_id: str) -> dict[int, dict]:
        rows = self.execute("SELECT centroid, text, status, source, updated_at FROM descriptions"
                            " WHERE run_id=?", (run_id,)).fetchall()
        return {c: {"text": t, "status": s, "source": src, "updated_at": u} for c, t, s, src, u in rows}

    def set_description(self, run_id: str, centroid: int, text: str, status: str = "ok",
                        source: str | None = None) -> None:
        now = time.time()
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO descriptions VALUES(?,?,?,?,?,?)",
                               (run_id, int(centroid), text, status, source, now))
            self._conn.execute("INSERT INTO description_history(run_id, centroid, text, status, source,"
                               " created_at) VALUES(?,?,?,?,?,?)",
                               (run_id, int(centroid), text, status, source, now))

    def add_unplaced_description(self, run_id: str, text: str, source: str) -> None:
        """A description with no centroid in ``run_id`` to sit on: kept for review, never dropped."""
        self.execute("INSERT INTO description_history(run_id, centroid, text, status, source, created_at)"
                     " VALUES(?,?,?,?,?,?)", (run_id, None, text, "needs_review", source, time.time()))

    def unplaced_descriptions(self, run_id: str) -> pd.DataFrame:
        return self.query_df("SELECT * FROM description_history WHERE run_id=? AND centroid IS NULL"
                             " ORDER BY id", (run_id,))

    def description_history(self, run_id: str | None = None) -> pd.DataFrame:
        if run_id is None:
            return self.query_df("SELECT * FROM description_history ORDER BY id")
        return self.query_df("SELECT * FROM description_history WHERE run_id=? ORDER BY id", (run_id,))
