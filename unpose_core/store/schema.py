"""The whole schema of a data dir's SQLite database, its version and the migrations to it.

A data dir carries its schema version in ``meta.schema_version``. Opening one:

- fresh (no version yet): every table is created and the version written;
- older: the steps in :data:`MIGRATIONS` run in order, all in one transaction, so a
  data dir is either fully upgraded or untouched;
- newer than this code: refused with :class:`StoreError` (an older unposed must not
  half-understand tables a newer one wrote).

Several processes may open the same fresh data dir at once (the app, a CLI run, job
workers): the check-and-create runs under ``BEGIN IMMEDIATE``, so exactly one of them
writes the schema while the others wait on the busy timeout and then find it done.

History:
  1  catalogue, pose cache, runs (absolute paths), descriptions; ``jobs`` and
     ``judgements`` were created on first use by their own modules.
  2  one schema for every table; ``runs.path`` relative to the data dir when the run
     folder lies inside it, so a copied or moved data dir keeps its runs.
  3  pose-group marks (``group_marks`` + append-only ``group_mark_history``), unplaced labels
     of the lineage (``unplaced`` + append-only ``unplaced_resolutions``; the v2 unplaced rows
     of ``description_history`` are copied in) and ``lineage`` (how each run became active).
  4  pose rows gain ``signals``.
  5  view labels, the catalogue's view vocabulary, the learned view readers.
  6  reviews per pose group (``group_verdicts``) and the cohorts' operating points
     (``cohort_settings``), both append-only.
  7  the append-only ``audit`` log (who, when, action, object, details).
"""
from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

SCHEMA_VERSION = 7
BUSY_TIMEOUT_MS = 60_000


class StoreError(ValueError):
    """A data dir this unposed cannot open: written by a newer release, or damaged."""


class CorruptDatabase(StoreError):
    """The data dir's database file is damaged: not a database, truncated, malformed, or empty
    (0 bytes). The message names the file and what to do; nothing was changed."""

    def __init__(self, path: Path, why: str):
        self.path, self.why = Path(path), why
        super().__init__(
            f"{path} is damaged ({why}). Restore a backup: `unposed restore BACKUP_FILE` (Python: "
            f"unpose_core.restore(data_dir, backup_file)); or start afresh: move {Path(path).name} (and any "
            f"{Path(path).name}-wal / -shm beside it) out of {Path(path).parent} and import the catalogue again")


FRESH_SECONDS = 5.0   # a 0-byte database younger than this is one another process is creating


# Database files this process has a connection on (resolved path -> number of connections).
# POSIX drops every lock a process holds on a file when it closes *any* descriptor of that file,
# so reading a live database's header here would silently strip this process's SQLite locks:
# another process then believes it is the last reader, checkpoints and deletes the WAL and its
# index under us, and the next open here fails with "disk I/O error". SQLite's own connections
# avoid this (it defers such closes); our raw header read must too.
_OPEN: dict[str, int] = {}
_OPEN_LOCK = threading.Lock()


def _key(path: Path) -> str:
    return str(Path(path).resolve())


class _Connection(sqlite3.Connection):
    """A connection that keeps :data:`_OPEN` up to date, when closed and when collected unclosed."""

    _released: weakref.finalize | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._released is not None:
                self._released()   # runs once, whichever comes first


def _release(key: str) -> None:
    with _OPEN_LOCK:
        _OPEN[key] -= 1
        if not _OPEN[key]:
            del _OPEN[key]


def check_file(path: Path) -> None:
    """Refuse a database file that is plainly damaged, in constant time, before SQLite opens it:
    a 0-byte file (SQLite would silently make it a new, empty data dir), a file without SQLite's
    header, and one shorter than the pages its header declares (truncated). Damage inside the
    pages shows when they are read: :func:`is_corruption` tells it from other SQLite errors.
    A file this process already has a connection on was checked when that one opened, and is
    not read again (closing the read would drop that connection's locks: see :data:`_OPEN`)."""
    path = Path(path)
    with _OPEN_LOCK:   # held while reading, so no connection of ours opens the file meanwhile
        if _key(path) in _OPEN:
            return
        _check_unopened(path)


def _check_unopened(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return   # a new data dir
    if st.st_size == 0:
        if time.time() - st.st_mtime < FRESH_SECONDS:
            return   # being created right now by another opener (it writes the header in a moment)
        raise CorruptDatabase(path, "the file is empty: 0 bytes")
    with open(path, "rb") as f:
        head = f.read(100)
    if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
        raise CorruptDatabase(path, "it is not an SQLite database")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    n_pages = int.from_bytes(head[28:32], "big")
    valid_for, changes = head[92:96], head[24:28]
    if page_size < 512 or page_size & (page_size - 1):
        raise CorruptDatabase(path, f"its header gives an impossible page size {page_size}")
    if n_pages and valid_for == changes and st.st_size < n_pages * page_size:
        raise CorruptDatabase(path, f"it is truncated: {st.st_size} bytes, its header declares {n_pages} pages "
                                    f"of {page_size}")


def is_corruption(exc: BaseException) -> bool:
    """An SQLite error that means a damaged file (not a lock, a busy database or a full disk)."""
    text = str(exc).lower()   # pandas wraps SQLite's errors in its own DatabaseError
    return (isinstance(exc, sqlite3.DatabaseError) or type(exc).__name__ == "DatabaseError") and any(
        w in text for w in ("malformed", "not a database", "file is encrypted", "database corrupt"))


TABLES: dict[str, str] = {
    "meta": "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)",
    "products": """CREATE TABLE IF NOT EXISTS products(
        product_id TEXT PRIMARY KEY, title TEXT, category TEXT, subcategory TEXT,
        product_type TEXT, avg_rating REAL, n_ratings INTEGER, attrs TEXT)""",
    "images": """CREATE TABLE IF NOT EXISTS images(
        image_id INTEGER PRIMARY KEY, product_id TEXT NOT NULL, position INTEGER,
        path TEXT NOT NULL, rel_path TEXT, content_hash TEXT NOT NULL,
        width INTEGER, height INTEGER, pose_label TEXT, attrs TEXT)""",
    "import_problems": """CREATE TABLE IF NOT EXISTS import_problems(
        row INTEGER, product_id TEXT, kind TEXT, detail TEXT)""",
    # pose results keyed by image content, so renamed or re-imported files never repeat model work
    "poses": """CREATE TABLE IF NOT EXISTS poses(
        content_hash TEXT NOT NULL, backend TEXT NOT NULL, backend_version TEXT NOT NULL,
        status TEXT NOT NULL, n_landmarks INTEGER, landmarks BLOB, width INTEGER, height INTEGER,
        score REAL, error TEXT, created_at REAL, signals TEXT,
        PRIMARY KEY(content_hash, backend, backend_version))""",
    # path: relative to the data dir when the run folder lies inside it, else absolute
    "runs": """CREATE TABLE IF NOT EXISTS runs(
        run_id TEXT PRIMARY KEY, created_at REAL, path TEXT, backend TEXT, k INTEGER,
        config TEXT, summary TEXT)""",
    "descriptions": """CREATE TABLE IF NOT EXISTS descriptions(
        run_id TEXT NOT NULL, centroid INTEGER NOT NULL, text TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'ok', source TEXT, updated_at REAL,
        PRIMARY KEY(run_id, centroid))""",
    # append-only: nothing a person typed is ever deleted
    "description_history": """CREATE TABLE IF NOT EXISTS description_history(
        id INTEGER PRIMARY KEY, run_id TEXT, centroid INTEGER, text TEXT, status TEXT,
        source TEXT, created_at REAL)""",
    # analyst marks on pose groups, current state per run (kind: merge / split / exclude /
    # desirable / reject; other = the second centroid of a pair mark, else -1)
    "group_marks": """CREATE TABLE IF NOT EXISTS group_marks(
        run_id TEXT NOT NULL, kind TEXT NOT NULL, centroid INTEGER NOT NULL, other INTEGER NOT NULL DEFAULT -1,
        note TEXT, status TEXT NOT NULL DEFAULT 'ok', source TEXT, updated_at REAL,
        PRIMARY KEY(run_id, kind, centroid, other))""",
    # append-only: every mark set or cleared
    "group_mark_history": """CREATE TABLE IF NOT EXISTS group_mark_history(
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, kind TEXT NOT NULL, centroid INTEGER NOT NULL,
        other INTEGER, action TEXT NOT NULL, note TEXT, status TEXT, source TEXT, created_at REAL)""",
    # append-only: descriptions and marks that found no centroid in a run (anchors: JSON list of
    # where each side sat, with the profile a later run is matched against)
    "unplaced": """CREATE TABLE IF NOT EXISTS unplaced(
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL DEFAULT '',
        anchors TEXT NOT NULL DEFAULT '[]', status TEXT NOT NULL DEFAULT 'needs_review', source TEXT,
        created_at REAL)""",
    # append-only: a person placed (centroids: JSON list) or dismissed an unplaced label
    "unplaced_resolutions": """CREATE TABLE IF NOT EXISTS unplaced_resolutions(
        id INTEGER PRIMARY KEY, unplaced_id INTEGER NOT NULL, action TEXT NOT NULL, centroids TEXT,
        by TEXT, created_at REAL)""",
    # how each run became active: the run active before (parent), the run its labels came from
    "lineage": """CREATE TABLE IF NOT EXISTS lineage(
        run_id TEXT PRIMARY KEY, parent TEXT, carried_from TEXT, activated_at REAL, summary TEXT)""",
    "jobs": """CREATE TABLE IF NOT EXISTS jobs(
        job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
        stage TEXT, done INTEGER, total INTEGER, message TEXT, rate REAL, eta REAL,
        params TEXT, result TEXT, error TEXT,
        created_at REAL, started_at REAL, updated_at REAL, finished_at REAL,
        pid INTEGER, host TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0)""",
    # append-only reviewer judgements; the newest per (run, product) is the current one
    "judgements": """CREATE TABLE IF NOT EXISTS judgements(
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, product_id TEXT NOT NULL,
        suggested TEXT NOT NULL, confirmed TEXT NOT NULL, added TEXT NOT NULL,
        labels TEXT, reviewer TEXT, note TEXT, created_at REAL NOT NULL)""",
    # seller hints an analyst wrote per pose group, keyed by the group's description normalised
    # (``descriptions.hint_key``: not by run, so a hint follows its group through retraining)
    "hints": """CREATE TABLE IF NOT EXISTS hints(
        text_key TEXT PRIMARY KEY, text TEXT NOT NULL, hint TEXT NOT NULL, source TEXT, updated_at REAL)""",
    # append-only: every hint set or cleared (action 'set' / 'clear')
    "hint_history": """CREATE TABLE IF NOT EXISTS hint_history(
        id INTEGER PRIMARY KEY, text_key TEXT NOT NULL, text TEXT, hint TEXT, action TEXT NOT NULL, source TEXT,
        created_at REAL)""",
    # view labels (views.labels.ViewLabel), append-only: every statement about what an image shows,
    # keyed by content hash so it outlives re-imports and retrains; the current one per image is
    # views.labels.current_labels over the rows in id order
    "view_labels": """CREATE TABLE IF NOT EXISTS view_labels(
        id INTEGER PRIMARY KEY, content_hash TEXT NOT NULL, facing TEXT, framing TEXT, kind TEXT,
        no_pose INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL, user TEXT, words TEXT, note TEXT,
        created_at REAL NOT NULL)""",
    # the catalogue's words -> view (views.labels.WordMeaning as JSON; NULL meaning = word removed),
    # append-only: the newest row per word is in force over the built-in vocabulary
    "view_vocabulary": """CREATE TABLE IF NOT EXISTS view_vocabulary(
        id INTEGER PRIMARY KEY, word TEXT NOT NULL, meaning TEXT, user TEXT, created_at REAL NOT NULL)""",
    # learned view readers (views.reader), their folders relative to the data dir; the active one
    # is meta 'view_reader'
    "view_readers": """CREATE TABLE IF NOT EXISTS view_readers(
        reader_id TEXT PRIMARY KEY, path TEXT NOT NULL, summary TEXT, created_at REAL NOT NULL)""",
    # a reviewer's submitted review, one row per judged pose group (records.GroupVerdict), append-only:
    # the newest submission per product is its current review
    "group_verdicts": """CREATE TABLE IF NOT EXISTS group_verdicts(
        id INTEGER PRIMARY KEY, submission INTEGER NOT NULL, run_id TEXT NOT NULL, product_id TEXT NOT NULL,
        verdict TEXT NOT NULL, members TEXT NOT NULL, label TEXT, rank INTEGER, photo TEXT, by TEXT NOT NULL,
        created_at REAL NOT NULL)""",
    # each cohort's operating point (records.CohortSettings), append-only: the newest row per cohort
    # is in force ('reset' = the defaults)
    "cohort_settings": """CREATE TABLE IF NOT EXISTS cohort_settings(
        id INTEGER PRIMARY KEY, cohort TEXT NOT NULL, source TEXT NOT NULL, settings TEXT NOT NULL,
        estimate TEXT, run_id TEXT, by TEXT, created_at REAL NOT NULL)""",
    # who did what, when: append-only (no UPDATE or DELETE is ever issued on it); identity.Actor
    "audit": """CREATE TABLE IF NOT EXISTS audit(
        id INTEGER PRIMARY KEY, at REAL NOT NULL, who TEXT NOT NULL, role TEXT, via TEXT,
        action TEXT NOT NULL, object TEXT, details TEXT)""",
}
INDEXES: dict[str, str] = {
    "images_hash": "CREATE INDEX IF NOT EXISTS images_hash ON images(content_hash)",
    "images_product": "CREATE INDEX IF NOT EXISTS images_product ON images(product_id)",
    # Store.pose_cache_version (a cache key the app reads on every page) without scanning the poses
    "poses_created": "CREATE INDEX IF NOT EXISTS poses_created ON poses(created_at)",
    "judgements_run_product":
        "CREATE INDEX IF NOT EXISTS judgements_run_product ON judgements(run_id, product_id, id)",
    "jobs_status": "CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status)",
    "unplaced_run": "CREATE INDEX IF NOT EXISTS unplaced_run ON unplaced(run_id, id)",
    "unplaced_resolutions_item":
        "CREATE INDEX IF NOT EXISTS unplaced_resolutions_item ON unplaced_resolutions(unplaced_id)",
    "group_mark_history_run": "CREATE INDEX IF NOT EXISTS group_mark_history_run ON group_mark_history(run_id, id)",
    "view_labels_hash": "CREATE INDEX IF NOT EXISTS view_labels_hash ON view_labels(content_hash, id)",
    "group_verdicts_product":
        "CREATE INDEX IF NOT EXISTS group_verdicts_product ON group_verdicts(product_id, submission)",
    "cohort_settings_cohort": "CREATE INDEX IF NOT EXISTS cohort_settings_cohort ON cohort_settings(cohort, id)",
}


def _create_all(conn: sqlite3.Connection) -> None:
    # statement by statement: executescript would COMMIT the surrounding transaction
    for sql in (*TABLES.values(), *INDEXES.values()):
        conn.execute(sql)


# -- run paths -------------------------------------------------------------------------------

def stored_run_path(data_dir: Path, path: str | Path) -> str:
    """What ``runs.path`` holds: POSIX path relative to the data dir when the folder lies in it."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(Path(data_dir).resolve()).as_posix()
    except ValueError:
        return str(p)


def resolve_run_path(data_dir: Path, stored: str) -> Path:
    """``runs.path`` -> an absolute path (relative ones are read against the data dir)."""
    p = Path(stored)
    return p if p.is_absolute() else (Path(data_dir) / p).resolve()


# -- migrations --------------------------------------------------------------------------------

def _v1_to_v2(conn: sqlite3.Connection, data_dir: Path) -> None:
    """Create the tables v1 made on first use; store run paths relative to the data dir.

    A v1 path outside the data dir is kept, unless that folder is gone and the data dir
    holds ``runs/<same name>``: then the data dir was copied or moved, and the copy's run
    folder is the one meant.
    """
    _create_all(conn)
    for run_id, path in conn.execute("SELECT run_id, path FROM runs").fetchall():
        if not path:
            continue
        new = stored_run_path(data_dir, path)
        if Path(new).is_absolute() and not Path(new).exists() \
                and (Path(data_dir) / "runs" / Path(new).name).is_dir():
            new = f"runs/{Path(new).name}"
        if new != path:
            conn.execute("UPDATE runs SET path=? WHERE run_id=?", (new, run_id))


def _v2_to_v3(conn: sqlite3.Connection, data_dir: Path) -> None:
    """Create the group-mark, unplaced-label and lineage tables; copy the v2 unplaced descriptions
    (``description_history`` rows without a centroid) into ``unplaced``. One a person had placed
    (v2 told so by the same text on a centroid of that run) is recorded as placed there."""
    import json

    _create_all(conn)
    # runs made before this point were activated without a lineage record (training.activate_run)
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('lineage_since', ?)", (str(time.time()),))
    rows = conn.execute("SELECT id, run_id, text, status, source, created_at FROM description_history"
                        " WHERE centroid IS NULL ORDER BY id").fetchall()
    for _hid, run_id, text, status, source, created in rows:
        anchors = json.dumps([{"centroid": None, "origin": source or "", "family": None, "profile": None,
                               "label": ""}])
        cur = conn.execute("INSERT INTO unplaced(run_id, kind, text, anchors, status, source, created_at)"
                           " VALUES(?,?,?,?,?,?,?)", (run_id, "description", text or "", anchors,
                                                      status or "needs_review", source, created))
        placed = conn.execute("SELECT centroid FROM descriptions WHERE run_id=? AND text=? ORDER BY centroid"
                              " LIMIT 1", (run_id, text)).fetchone()
        if placed is not None:
            conn.execute("INSERT INTO unplaced_resolutions(unplaced_id, action, centroids, by, created_at)"
                         " VALUES(?,?,?,?,?)", (cur.lastrowid, "placed", json.dumps([placed[0]]), "migration",
                                                time.time()))


def _v3_to_v4(conn: sqlite3.Connection, data_dir: Path) -> None:
    """Pose rows gain ``signals``: what the measurement pass saw (people, mask, face, image
    statistics) as JSON. Rows cached before have none (NULL); they are re-measured when their
    backend version changes, and read as "no signals" until then."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(poses)").fetchall()}
    if "signals" not in cols:
        conn.execute("ALTER TABLE poses ADD COLUMN signals TEXT")
    _create_all(conn)


def _v4_to_v5(conn: sqlite3.Connection, data_dir: Path) -> None:
    """View labels, the catalogue's view vocabulary and the learned view readers: new tables only
    (labels from a manifest column land there on the next import or ``unposed views import``)."""
    _create_all(conn)


def _v5_to_v6(conn: sqlite3.Connection, data_dir: Path) -> None:
    """Reviews per pose group and the cohorts' operating points: new tables only (reviews made
    before, per class, stay in ``judgements``)."""
    _create_all(conn)


def _add_audit(conn: sqlite3.Connection, data_dir: Path) -> None:
    """The append-only ``audit`` table (who, when, action, object, details): a new table only."""
    _create_all(conn)


# from version -> the step to version + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection, Path], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4,
                                                                     4: _v4_to_v5, 5: _v5_to_v6, 6: _add_audit}


# -- opening -----------------------------------------------------------------------------------

def _version(conn: sqlite3.Connection) -> int | None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.OperationalError as exc:   # a fresh file: no meta table yet
        if "no such table" in str(exc):
            return None
        raise
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise StoreError(f"schema_version {row[0]!r} in the meta table is not a number") from None


def _refuse_newer(path: Path, found: int) -> None:
    from .._version import __version__

    raise StoreError(
        f"{path} has store schema version {found}, but this unposed ({__version__}) reads schema "
        f"versions up to {SCHEMA_VERSION}: it was written by a newer unposed. Upgrade unposed "
        f"(pip install -U unposed) to open this data dir.")


def prepare(conn: sqlite3.Connection, data_dir: Path, path: Path) -> int:
    """Bring the database on ``conn`` (autocommit mode) to :data:`SCHEMA_VERSION`.

    Returns the version found (None -> 0 for a fresh file). Raises :class:`StoreError`
    for a newer schema. Cheap when already current: one read, no write lock.
    """
    found = _version(conn)
    if found == SCHEMA_VERSION:
        return found
    if found is not None and found > SCHEMA_VERSION:
        _refuse_newer(path, found)
    conn.execute("BEGIN IMMEDIATE")   # one writer decides; the others wait, then see it done
    try:
        found = _version(conn)   # another process may have done it while we waited
        if found is None:
            _create_all(conn)
        elif found > SCHEMA_VERSION:
            _refuse_newer(path, found)
        else:
            for v in range(found, SCHEMA_VERSION):
                if v not in MIGRATIONS:
                    raise StoreError(f"{path} has store schema version {v}, which this unposed cannot "
                                     "upgrade")
                MIGRATIONS[v](conn, data_dir)
            if found < SCHEMA_VERSION:
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('migrated_at', ?)",
                             (str(time.time()),))
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)",
                     (str(SCHEMA_VERSION),))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found or 0


def connect(path: Path) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit: ``BEGIN IMMEDIATE`` ... ``COMMIT``)
    in WAL mode, so the app reads while a job writes."""
    key = _key(path)
    with _OPEN_LOCK:   # registered before SQLite opens the file: check_file leaves it alone from now on
        _OPEN[key] = _OPEN.get(key, 0) + 1
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, factory=_Connection)
    except BaseException:
        _release(key)
        raise
    conn._released = weakref.finalize(conn, _release, key)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:   # switching a fresh file to WAL needs a moment alone with it
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.05)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn
