"""A process's SQLite locks on its data dir survive the store's own checks.

POSIX drops all of a process's locks on a file when any descriptor of that file is closed. The
damaged-file check reads the database header before SQLite opens it; done on a file this
process already has open, it stripped the open connection's locks, and a CLI run finishing
beside the app then deleted the WAL and its index under the app ("disk I/O error" on the next
open; this failed CI)."""
import subprocess
import sys

import pytest

from unpose_core.store import Store, schema

OTHER_PROCESS = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('other', 'process')")
c.commit()
c.close()
"""


def test_opening_the_data_dir_again_keeps_the_first_connections_locks(tmp_path):
    first = Store(tmp_path)
    try:
        first._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('first', '1')")
        for _ in range(3):   # the app opens more stores on the same data dir, and closes them
            Store(tmp_path).close()
        subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(tmp_path / "unposed.sqlite")], check=True)
        # the other process was not the last connection: it left the WAL and its index in place
        assert (tmp_path / "unposed.sqlite-wal").exists() and (tmp_path / "unposed.sqlite-shm").exists()
        again = Store(tmp_path)
        try:
            got = dict(again._conn.execute("SELECT key, value FROM meta WHERE key IN ('first', 'other')"))
        finally:
            again.close()
        assert got == {"first": "1", "other": "process"}
    finally:
        first.close()
    assert str((tmp_path / "unposed.sqlite").resolve()) not in schema._OPEN   # every close is counted


def test_a_damaged_file_is_still_refused_when_nothing_here_has_it_open(tmp_path):
    (tmp_path / "unposed.sqlite").write_bytes(b"not a database" * 20)
    with pytest.raises(schema.CorruptDatabase, match="not an SQLite database"):
        Store(tmp_path)
    assert str((tmp_path / "unposed.sqlite").resolve()) not in schema._OPEN   # the refused open is not counted
