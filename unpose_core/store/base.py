"""The plumbing every table family of the store shares: one connection, one lock, statements,
transactions, and SQLite's damaged-file errors turned into :class:`CorruptDatabase`."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd

from . import schema
from .schema import CorruptDatabase

_CHUNK = 500   # SQLite caps the number of bound parameters per statement


def _chunks(values: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class StoreBase:
    """The connection and the private statement helpers; :class:`~.db.Store` opens it."""

    data_dir: Path
    path: Path
    _lock: threading.RLock
    _conn: sqlite3.Connection

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
