"""A data dir whose filesystem fills up: `import`, `extract` and `train` stop with one clear
`error:` line (disk full, where, how much is free, what to do) and exit status 2, the database
passes ``PRAGMA integrity_check`` with every row committed before the fault still there, and a
re-run after space is freed continues.

The data dir lives on a small tmpfs mounted for the test (root only, as in CI); the disk is
filled by a ballast file written until the filesystem refuses more. Where mounting is not
permitted the tests are skipped with the reason. SQLite cannot even open a WAL database on a
filesystem with no room for its shared-memory file, so the database is checked once the
ballast is gone (a copy of the main file alone would miss the committed WAL).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_data_dir, views_catalogue

from unpose_core.catalog.manifest import import_catalogue
from unpose_core.cli import main
from unpose_core.diskspace import DiskFullError, disk_full
from unpose_core.jobs.runner import friendly_error
from unpose_core.pose.extract import CHUNK, extract_poses
from unpose_core.store import Store

FS_SIZE = "8m"
N_IMAGES = 48   # 4 reference products of 10 views, 4 subject products of 2: three batches of 16


def _mount(where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the disk-full tests run as root in CI)")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE}", "tmpfs", str(where)],
                         capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}")


@pytest.fixture
def small_fs(tmp_path):
    """A mount point on an 8 MB tmpfs of its own, unmounted afterwards."""
    fs = tmp_path / "fs"
    _mount(fs)
    yield fs
    if subprocess.run(["umount", str(fs)], capture_output=True, timeout=30).returncode != 0:
        subprocess.run(["umount", "-l", str(fs)], capture_output=True, timeout=30)


def fill(fs: Path, leave: int = 0) -> Path:
    """Write a ballast file on ``fs`` until the filesystem has ``leave`` bytes free (or refuses)."""
    ballast = fs / "ballast"
    block = b"\0" * (64 << 10)
    with open(ballast, "ab", buffering=0) as f:
        while (room := shutil.disk_usage(fs).free - leave) > 0:
            try:
                f.write(block[:room])
            except OSError:
                break
    return ballast


def _check_db(data_dir: Path) -> dict[str, float]:
    """``PRAGMA integrity_check`` passes; the cached poses (content_hash -> created_at)."""
    with contextlib.closing(sqlite3.connect(data_dir / "unposed.sqlite")) as c, c:
        assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return dict(c.execute("SELECT content_hash, created_at FROM poses"))


def _one_error_line(capsys, where: Path) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    line = err[0]
    assert line.startswith("error: disk full: no space left on the filesystem of "), line
    assert str(where) in line and "free" in line and "re-run" in line and "Traceback" not in line, line
    return line


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> tuple[Path, Path]:
    """A manifest of 48 one-person views (4 reference products of 10, 4 subject products of 2)."""
    manifest, imgs = views_catalogue(tmp_path_factory.mktemp("diskfull-catalogue"))
    assert len(pd.read_csv(manifest)) == N_IMAGES
    return manifest, imgs


@pytest.fixture(scope="module")
def extracted(catalogue, tmp_path_factory) -> Path:
    """A data dir (on the ordinary disk) with the catalogue imported and its poses cached."""
    data = tmp_path_factory.mktemp("diskfull-extracted") / "data"
    products, images, report = import_catalogue(*catalogue)
    assert report.ok
    store = Store(data)
    try:
        store.replace_catalogue(products, images, report.problems, "test")
        assert extract_poses(store, workers=1).n_processed == N_IMAGES
    finally:
        store.close()
    return data


def test_disk_full_is_told_apart_from_other_errors(tmp_path):
    assert disk_full(OSError(28, "No space left on device", str(tmp_path / "x")), tmp_path) is not None
    assert disk_full(sqlite3.OperationalError("database or disk is full"), tmp_path) is not None
    wrapped = RuntimeError("saving failed")
    wrapped.__cause__ = OSError(28, "No space left on device")
    assert isinstance(disk_full(wrapped, tmp_path), DiskFullError)
    # an I/O error counts only when the data dir's filesystem has (almost) nothing free: not here
    assert disk_full(sqlite3.OperationalError("disk I/O error"), tmp_path) is None
    assert disk_full(ValueError("bad rating"), tmp_path) is None
    assert disk_full(OSError(13, "Permission denied"), tmp_path) is None
    # the app's jobs say it the same way
    assert friendly_error(OSError(28, "No space left on device"), tmp_path).startswith("disk full: ")
    assert friendly_error(ValueError("bad rating"), tmp_path) == "bad rating"


@pytest.mark.slow
def test_import_on_a_full_disk_keeps_the_old_catalogue(catalogue, extracted, small_fs, tmp_path, capsys):
    data = copy_data_dir(extracted, small_fs / "data")
    poses = _check_db(data)
    manifest, imgs = catalogue
    new = tmp_path / "new.csv"   # a different catalogue: the reference products only
    pd.read_csv(manifest).query("product_id.str.startswith('ref-')").to_csv(new, index=False)
    ballast = fill(small_fs)
    t0 = time.perf_counter()
    assert main(["import", str(new), "--images", str(imgs), "--data-dir", str(data), "-q"]) == 2
    _one_error_line(capsys, data)
    assert time.perf_counter() - t0 < 60
    ballast.unlink()
    assert _check_db(data) == poses   # nothing lost
    store = Store(data)
    try:
        assert store.images()["product_id"].nunique() == 8   # the old catalogue, whole
    finally:
        store.close()
    assert main(["import", str(new), "--images", str(imgs), "--data-dir", str(data), "-q"]) == 0   # space freed
    store = Store(data)
    try:
        assert store.images()["product_id"].nunique() == 4
    finally:
        store.close()


@pytest.mark.slow
def test_extract_stops_when_the_disk_fills_mid_run_and_a_rerun_continues(catalogue, small_fs, capsys):
    """The disk fills while `unposed extract` runs (another writer takes the space once the first
    batch is committed): the batches committed before stay, none is redone by the re-run."""
    data = small_fs / "data"
    manifest, imgs = catalogue
    assert main(["import", str(manifest), "--images", str(imgs), "--data-dir", str(data), "-q"]) == 0
    capsys.readouterr()
    saved: dict[str, float] = {}
    filled, done = threading.Event(), threading.Event()

    def fill_after_first_batch() -> None:
        c = sqlite3.connect(data / "unposed.sqlite", timeout=10)
        try:
            while not done.is_set():
                rows = dict(c.execute("SELECT content_hash, created_at FROM poses"))
                if len(rows) >= CHUNK:
                    saved.update(rows)
                    fill(small_fs)
                    filled.set()
                    return
                time.sleep(0.01)
        finally:
            c.close()

    watcher = threading.Thread(target=fill_after_first_batch, daemon=True)
    watcher.start()
    try:
        code = main(["extract", "--workers", "1", "--data-dir", str(data), "-q"])
    finally:
        done.set()
        watcher.join(30)
    assert filled.is_set() and code == 2
    _one_error_line(capsys, data)
    (small_fs / "ballast").unlink()
    poses = _check_db(data)
    assert CHUNK <= len(saved) < N_IMAGES and len(poses) % CHUNK == 0 and len(poses) < N_IMAGES
    assert {h: poses[h] for h in saved} == saved   # every row committed before the fault, unchanged
    assert main(["extract", "--workers", "1", "--data-dir", str(data), "-q"]) == 0
    again = _check_db(data)
    assert len(again) == N_IMAGES and {h: again[h] for h in poses} == poses   # continued, nothing redone


@pytest.mark.slow
def test_train_on_a_full_disk_leaves_no_half_run(extracted, small_fs, capsys):
    data = copy_data_dir(extracted, small_fs / "data")
    poses = _check_db(data)
    ballast = fill(small_fs, leave=96 << 10)   # room for the database's work, not for the run's files
    assert main(["train", "--k", "3", "--data-dir", str(data), "-q"]) == 2
    _one_error_line(capsys, data)
    ballast.unlink()
    assert _check_db(data) == poses
    assert not list((data / "runs").glob("*")) if (data / "runs").exists() else True   # no half-written run
    with contextlib.closing(sqlite3.connect(data / "unposed.sqlite")) as c, c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)
    assert main(["train", "--k", "3", "--data-dir", str(data), "-q"]) == 0
    with contextlib.closing(sqlite3.connect(data / "unposed.sqlite")) as c, c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
    assert len(list((data / "runs").iterdir())) == 1
