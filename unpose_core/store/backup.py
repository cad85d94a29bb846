"""Backups of a data dir's database: checking one, and restoring it (SQLite's online backup)."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from . import schema
from .schema import SCHEMA_VERSION, CorruptDatabase, StoreError


def _copy(src: sqlite3.Connection, dest: Path) -> None:
    """``src``'s database into the new file ``dest`` (online backup), self-contained (no WAL)."""
    out = sqlite3.connect(dest)
    try:
        src.backup(out)
        out.execute("PRAGMA journal_mode=DELETE")
    finally:
        out.close()


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
    if target.exists():
        try:
            check_backup(target)
            healthy = True
        except CorruptDatabase:
            healthy = False
        except StoreError:   # readable, but not what this unposed writes: kept aside all the same
            healthy = True
        if healthy:   # a copy of what is replaced, in case the restore was a mistake
            current = schema.connect(target)
            try:
                _copy(current, data_dir / f"{target.name}.before-restore-{stamp}")
            finally:
                current.close()
        else:         # a damaged file cannot take a backup: moved aside, restored into a new file
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
