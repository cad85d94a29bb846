"""Issue 21, item 4 (the CLI and app side): `unposed backup DEST` / `unposed restore SRC [--force]`,
and a corrupt, truncated or 0-byte database is a clear error everywhere: every command says which
file and what to do (restore a backup or start afresh); every page of the app shows a message page
naming the file, not a traceback."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from apphelpers import APP, HOME, PAGES

from unpose_core.cli import main

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

TIMEOUT = 90


def _settled(data_dir: Path) -> Path:
    """The data dir's database with its WAL folded in and removed, so damage to the file is all there is."""
    db = data_dir / "unposed.sqlite"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return db


def _damage(db: Path, how: str) -> None:
    data = db.read_bytes()
    if how == "0-byte":
        data = b""
    elif how == "truncated":
        data = data[:len(data) // 2]
    else:   # corrupt: every page after the first two garbled (SQLite opens it, reading fails)
        out = bytearray(data)
        for page in range(2, len(out) // 4096):
            out[page * 4096:(page + 1) * 4096] = bytes([0xA5]) * 4096
        data = bytes(out)
    db.write_bytes(data)
    t = time.time() - 60     # not a 0-byte file another process is creating this second
    os.utime(db, (t, t))


def _says_what_to_do(text: str, db: Path) -> None:
    assert str(db) in text, text
    assert "restore BACKUP_FILE" in text and "start afresh" in text, text


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("how", ["0-byte", "truncated", "corrupt"])
def test_backup_damage_commands_fail_clearly_restore(data_copy, tmp_path, capsys, how):
    d = str(data_copy)
    code, out, _ = cli(capsys, "status", "--data-dir", d)
    assert code == 0
    before = out
    backup = tmp_path / "backups" / "unposed-backup.sqlite"
    code, out, err = cli(capsys, "backup", str(backup), "--data-dir", d)
    assert code == 0 and backup.is_file() and str(backup) in out, err
    # a healthy database is not replaced by mistake
    code, _, err = cli(capsys, "restore", str(backup), "--data-dir", d)
    assert code == 2 and "--force" in err

    db = _settled(data_copy)
    _damage(db, how)
    for argv in (["status"], ["report", "--out", str(tmp_path / "r.csv")], ["runs"], ["backup", str(tmp_path / "b2")]):
        code, out, err = cli(capsys, *argv, "--data-dir", d)
        assert code == 2, (argv, out, err)
        assert err.startswith("error: ") and "Traceback" not in err
        _says_what_to_do(err, db)
    if how == "0-byte":
        assert db.stat().st_size == 0   # not silently made a new, empty data dir

    code, out, err = cli(capsys, "restore", str(backup), "--data-dir", d)   # no --force needed: it is damaged
    assert code == 0, err
    assert list(data_copy.glob("unposed.sqlite.damaged-*")), "the damaged file is kept aside"
    code, out, err = cli(capsys, "status", "--data-dir", d)
    assert code == 0 and out == before, err


def test_restore_force_replaces_a_healthy_database_and_refuses_a_bad_backup(data_copy, tmp_path, capsys):
    d = str(data_copy)
    backup = tmp_path / "b.sqlite"
    assert cli(capsys, "backup", str(backup), "--data-dir", d)[0] == 0
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"")
    os.utime(bad, (time.time() - 60,) * 2)
    code, _, err = cli(capsys, "restore", str(bad), "--force", "--data-dir", d)
    assert code == 2 and str(bad) in err and "0 bytes" in err
    code, _, err = cli(capsys, "restore", str(backup), "--force", "--data-dir", d)
    assert code == 0, err
    assert list(data_copy.glob("unposed.sqlite.before-restore-*"))


@pytest.mark.parametrize("how", ["0-byte", "corrupt"])
def test_every_page_shows_a_message_page_on_a_damaged_database(data_copy, monkeypatch, how):
    db = _settled(data_copy)
    _damage(db, how)
    monkeypatch.setenv("UNPOSED_DATA_DIR", str(data_copy))
    for script in (HOME, *PAGES.values()):
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        if script != HOME:
            at.switch_page(script)
        at.run()
        assert not at.exception, (script, [e.value for e in at.exception])
        assert [t.value for t in at.title] == ["The database is damaged"], script
        assert len(at.error) == 1 and str(db) in at.error[0].value, (script, [e.value for e in at.error])
        _says_what_to_do(at.error[0].value + " ".join(m.value for m in at.markdown), db)
