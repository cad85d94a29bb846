"""Issue 21, item 4 (the store side): a corrupt, truncated or 0-byte database is one clear error,
CorruptDatabase, naming the file and what to do; backup and restore go through SQLite's online
backup, with the backup checked before anything is replaced."""
from __future__ import annotations

import os
import sqlite3
import threading
import time

import pandas as pd
import pytest

from unpose_core import api
from unpose_core.records import DescriptionStatus
from unpose_core.store import CorruptDatabase, Store, StoreError, check_backup, restore


def filled(data_dir) -> Store:
    """A data dir with a catalogue, a run record and a description (enough pages to truncate)."""
    store = Store(data_dir)
    n = 400
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(n)], "title": ["A shirt " * 20] * n,
                             "category": "Clothing", "subcategory": "Shirts", "product_type": "Polo",
                             "avg_rating": 4.0, "n_ratings": 10, "attrs": "{}"})
    images = pd.DataFrame({"product_id": [f"p{i}" for i in range(n)], "position": 1,
                           "path": [f"/img/{i}.jpg" for i in range(n)], "rel_path": [f"{i}.jpg" for i in range(n)],
                           "content_hash": [f"{i:064x}" for i in range(n)], "width": 100, "height": 100,
                           "pose_label": None, "attrs": "{}"})
    store.replace_catalogue(products, images, pd.DataFrame(columns=["row", "product_id", "kind", "detail"]), "t")
    store.add_run("run-a", "runs/run-a", "blazepose", 4, {}, {})
    store.set_description("run-a", 1, "kept text", DescriptionStatus.OK, "test")
    return store


def _checkpointed(data_dir) -> None:
    con = sqlite3.connect(data_dir / "unposed.sqlite")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _old(path) -> None:
    t = time.time() - 60
    os.utime(path, (t, t))


def _assert_clear(exc: CorruptDatabase, path) -> None:
    text = str(exc)
    assert str(path) in text and "unposed restore" in text and "start afresh" in text


def _zero_bytes(data: bytes) -> bytes:
    return b""


def _text_file(data: bytes) -> bytes:
    return b"this is a text file, not SQLite" * 100


def _cut_in_half(data: bytes) -> bytes:
    assert len(data) > 8 * 4096
    return data[:len(data) // 2]


def _garbled_pages(data: bytes) -> bytes:
    out = bytearray(data)
    for page in range(2, len(out) // 4096):      # every page but the first (schema, meta) garbled
        out[page * 4096:page * 4096 + 4096] = bytes([0xA5]) * 4096
    return bytes(out)


@pytest.mark.parametrize("damage,says", [(_zero_bytes, "0 bytes"), (_text_file, "not an SQLite database"),
                                         (_cut_in_half, "truncated"), (_garbled_pages, "SQLite")])
def test_a_damaged_database_is_one_clear_error(tmp_path, damage, says):
    """0 bytes (refused, not made a new data dir), not SQLite, truncated: refused on opening;
    damage inside the pages: the same error when they are read."""
    filled(tmp_path).close()
    _checkpointed(tmp_path)
    db = tmp_path / "unposed.sqlite"
    db.write_bytes(damage(db.read_bytes()))
    _old(db)
    with pytest.raises(CorruptDatabase, match=says) as err:
        s = Store(tmp_path)
        s.products()
        s.descriptions("run-a")
    _assert_clear(err.value, db)
    if damage is _zero_bytes:
        assert db.stat().st_size == 0   # untouched: not made a new, empty data dir


def test_a_fresh_database_being_created_is_not_taken_for_a_damaged_one(tmp_path):
    """Several processes open a new data dir at once: a 0-byte file seconds old is being created."""
    (tmp_path / "unposed.sqlite").write_bytes(b"")
    store = Store(tmp_path)
    assert store.schema_version > 0
    store.close()


def test_backup_while_writing_then_restore_over_a_damaged_database(tmp_path):
    data = tmp_path / "data"
    store = filled(data)
    stop = threading.Event()

    def write():   # the app or a job writing during the backup
        s = Store(data)
        i = 0
        while not stop.is_set():
            s.set_description("run-a", 2, f"text {i}", DescriptionStatus.OK, "writer")
            i += 1
        s.close()

    t = threading.Thread(target=write)
    t.start()
    try:
        dest = api.backup(data, tmp_path / "backups" / "monday.sqlite")
    finally:
        stop.set()
        t.join()
    assert dest.is_file() and check_backup(dest) > 0
    store.close()
    # the database is destroyed: 0 bytes
    db = data / "unposed.sqlite"
    db.write_bytes(b"")
    for extra in ("unposed.sqlite-wal", "unposed.sqlite-shm"):
        (data / extra).unlink(missing_ok=True)
    _old(db)
    with pytest.raises(CorruptDatabase):
        Store(data)
    api.restore(data, dest)
    back = Store(data)
    assert back.descriptions("run-a")[1].text == "kept text" and len(back.products()) == 400
    back.close()
    assert [p.name for p in data.glob("unposed.sqlite.damaged-*")]   # the damaged file kept aside


def test_restore_over_a_healthy_database_keeps_a_copy_of_it(tmp_path):
    data = tmp_path / "data"
    store = filled(data)
    dest = store.backup_file(tmp_path / "b.sqlite")
    store.set_description("run-a", 1, "written after the backup", DescriptionStatus.OK, "test")
    store.close()
    restore(data, dest)
    back = Store(data)
    assert back.descriptions("run-a")[1].text == "kept text"
    back.close()
    (before,) = data.glob("unposed.sqlite.before-restore-*")
    assert check_backup(before) > 0


def test_a_bad_backup_is_refused_and_nothing_changes(tmp_path):
    data = tmp_path / "data"
    filled(data).close()
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 1000)
    with pytest.raises(CorruptDatabase):
        restore(data, bad)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t(x)")
    con.close()
    with pytest.raises(StoreError, match="not an Unposed"):
        restore(data, other)
    s = Store(data)
    assert s.descriptions("run-a")[1].text == "kept text"
    s.close()
    assert not list(data.glob("unposed.sqlite.*-2*"))
