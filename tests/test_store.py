"""The store: one schema with migrations, typed records, run paths relative to the data dir,
and safe concurrent opening."""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unpose_core.records import Description, DescriptionStatus, Job, JobStatus, Judgement, PoseRow, RunRecord, Status
from unpose_core.store import SCHEMA_VERSION, Store, StoreError, schema

# The schema as the previous release (schema version 1) wrote it: unpose_core/store.py, plus the
# jobs and judgements tables that jobs.py / labels.py created on first use.
V1_SCHEMA = """
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
V1_JOBS = """
CREATE TABLE IF NOT EXISTS jobs(
    job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
    stage TEXT, done INTEGER, total INTEGER, message TEXT, rate REAL, eta REAL,
    params TEXT, result TEXT, error TEXT,
    created_at REAL, started_at REAL, updated_at REAL, finished_at REAL,
    pid INTEGER, host TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0)
"""


def _raw(path: Path, sql: str, params=()) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def make_v1_data_dir(data_dir: Path, elsewhere: Path, with_jobs: bool = False) -> Path:
    """A data dir as the previous release left it: schema 1, run paths absolute.

    run-in: folder inside the data dir; run-out: folder outside it (stays absolute);
    run-moved: an absolute path to a data dir that no longer exists, while this data dir
    holds runs/run-moved (a copied v1 data dir).
    """
    data_dir.mkdir(parents=True)
    (data_dir / "runs" / "run-in").mkdir(parents=True)
    (data_dir / "runs" / "run-moved").mkdir(parents=True)
    (elsewhere / "run-out").mkdir(parents=True)
    con = sqlite3.connect(data_dir / "unposed.sqlite")
    con.executescript(V1_SCHEMA + (V1_JOBS + ";" if with_jobs else ""))
    con.execute("INSERT INTO meta VALUES('schema_version', '1')")
    con.execute("INSERT INTO meta VALUES('active_run', 'run-in')")
    for run_id, path in [("run-in", data_dir / "runs" / "run-in"), ("run-out", elsewhere / "run-out"),
                         ("run-moved", Path("/nonexistent/old-data-dir/runs/run-moved"))]:
        con.execute("INSERT INTO runs VALUES(?,?,?,?,?,?,?)",
                    (run_id, time.time(), str(path), "blazepose", 4, '{"k": 4}', '{"n_person": 1}'))
    lm = np.arange(33 * 4, dtype=np.float32).reshape(33, 4)
    con.execute("INSERT INTO poses VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                ("h1", "blazepose", "v1", "person", 33, lm.tobytes(), 10, 20, 0.9, None, time.time()))
    con.execute("INSERT INTO descriptions VALUES('run-in', 2, 'Back view', 'ok', 'app', 1.0)")
    if with_jobs:
        con.execute("INSERT INTO jobs(job_id, kind, status, created_at) VALUES('old', 'train', 'done', 1.0)")
    con.commit()
    con.close()
    return data_dir


# -- migrations --------------------------------------------------------------------------------

@pytest.mark.parametrize("with_jobs", [False, True], ids=["no-jobs-table", "jobs-table"])
def test_a_v1_data_dir_is_upgraded_in_place(tmp_path, with_jobs):
    d = make_v1_data_dir(tmp_path / "data", tmp_path / "elsewhere", with_jobs)
    store = Store(d)
    try:
        assert store.opened_version == 1 and store.schema_version == SCHEMA_VERSION
        stored = dict(_raw(store.path, "SELECT run_id, path FROM runs"))
        assert stored["run-in"] == "runs/run-in"                          # relative now
        assert stored["run-out"] == str(tmp_path / "elsewhere" / "run-out")   # outside: kept
        assert stored["run-moved"] == "runs/run-moved"                    # the copy's own folder
        assert store.run_path("run-in") == (d / "runs" / "run-in").resolve()
        assert store.run_path("run-out") == tmp_path / "elsewhere" / "run-out"
        tables = {r[0] for r in _raw(store.path, "SELECT name FROM sqlite_master")}
        assert {"jobs", "judgements", "judgements_run_product", "jobs_status"} <= tables
        # the data came through, readable by the new typed methods
        assert store.poses("blazepose", "v1")["h1"].landmarks.shape == (33, 4)
        assert store.descriptions("run-in")[2].text == "Back view"
        assert store.active_run_id() == "run-in"
        assert [j.job_id for j in store.jobs()] == (["old"] if with_jobs else [])
        assert store.latest_judgements() == []
    finally:
        store.close()
    again = Store(d)   # opening an upgraded dir again changes nothing
    assert again.opened_version == SCHEMA_VERSION and dict(_raw(again.path, "SELECT run_id, path FROM runs")) \
        == stored
    again.close()


def test_a_failed_migration_leaves_the_data_dir_untouched(tmp_path, monkeypatch):
    d = make_v1_data_dir(tmp_path / "data", tmp_path / "elsewhere")
    real = schema.MIGRATIONS[1]

    def half_way(conn, data_dir):
        real(conn, data_dir)
        raise OSError("disk full")

    monkeypatch.setitem(schema.MIGRATIONS, 1, half_way)
    with pytest.raises(OSError, match="disk full"):
        Store(d)
    assert _raw(d / "unposed.sqlite", "SELECT value FROM meta WHERE key='schema_version'") == [("1",)]
    assert _raw(d / "unposed.sqlite", "SELECT path FROM runs WHERE run_id='run-in'") == \
        [(str(d / "runs" / "run-in"),)]
    assert not _raw(d / "unposed.sqlite", "SELECT name FROM sqlite_master WHERE name='judgements'")
    monkeypatch.setitem(schema.MIGRATIONS, 1, real)
    Store(d).close()   # and the real migration still runs afterwards


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path):
    Store(tmp_path).close()
    db = tmp_path / "unposed.sqlite"
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(StoreError) as err:
        Store(tmp_path)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert f"version {SCHEMA_VERSION + 1}" in msg and f"up to {SCHEMA_VERSION}" in msg
    assert "Upgrade unposed" in msg and str(db) in msg
    # refused without writing anything
    assert _raw(db, "SELECT value FROM meta WHERE key='schema_version'") == [(str(SCHEMA_VERSION + 1),)]


# -- run paths ---------------------------------------------------------------------------------

def test_run_paths_are_stored_relative_to_the_data_dir(tmp_path):
    store = Store(tmp_path / "data")
    outside = tmp_path / "shared-runs" / "run-x"
    store.add_run("run-a", "runs/run-a", "blazepose", 4, {}, {})
    store.add_run("run-b", store.data_dir / "runs" / "run-b", "blazepose", 4, {}, {})
    store.add_run("run-x", outside, "blazepose", 4, {}, {})
    stored = dict(_raw(store.path, "SELECT run_id, path FROM runs"))
    assert stored == {"run-a": "runs/run-a", "run-b": "runs/run-b", "run-x": str(outside)}
    assert store.run_path("run-a") == (tmp_path / "data" / "runs" / "run-a").resolve()
    assert store.run_path("run-x") == outside
    assert set(store.runs()["path"]) == {str(store.run_path(r)) for r in ("run-a", "run-b", "run-x")}
    with pytest.raises(LookupError):
        store.run_path("nope")
    store.close()


def test_a_copied_data_dir_loads_its_own_runs(demo_data_dir, tmp_path):
    """Copy a trained data dir with a plain copytree, remove the original: the copy's active run
    loads from the copy (and copy_data_dir, which the app tests use, is just that copy)."""
    from apphelpers import copy_data_dir

    from unpose_core.runs import active_run, get_run

    original = copy_data_dir(demo_data_dir, tmp_path / "original")
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    original.rename(tmp_path / "gone")
    store = Store(copy)
    try:
        run = active_run(store)
        assert run.path.resolve() == (copy / "runs" / run.run_id).resolve()
        assert store.run(run.run_id).path == run.path.resolve()
        assert all(str(r.path).startswith(str(copy.resolve())) for r in store.run_records())
        assert get_run(store, run.run_id).k == run.k
    finally:
        store.close()


# -- typed records -----------------------------------------------------------------------------

def test_the_store_hands_out_typed_records_not_sql(tmp_path):
    assert not any(hasattr(Store, name) for name in ("execute", "executemany", "query_df"))
    store = Store(tmp_path)
    try:
        lm = np.random.default_rng(0).random((33, 4)).astype(np.float32)
        store.put_poses("blazepose", "v1", [PoseRow("a", Status.PERSON, lm, 10, 20, 0.8),
                                            PoseRow("b", Status.NO_PERSON, width=5, height=6),
                                            PoseRow("c", Status.ERROR, error="cannot read")])
        poses = store.poses("blazepose", "v1")
        assert all(isinstance(p, PoseRow) for p in poses.values())
        assert poses["a"].status is Status.PERSON and poses["a"].is_person
        np.testing.assert_array_equal(poses["a"].landmarks, lm)
        assert poses["b"].status is Status.NO_PERSON and not poses["b"].is_person
        assert poses["c"].status is Status.ERROR and poses["c"].error == "cannot read"
        assert set(store.poses("blazepose", "v1", ["a", "zzz"])) == {"a"}
        assert store.most_used_backend() == ("blazepose", "v1")

        products = pd.DataFrame([{"product_id": "p1", "title": "Shirt", "category": "tops", "subcategory": None,
                                  "product_type": None, "avg_rating": 4.5, "n_ratings": 10, "attrs": "{}"}])
        images = pd.DataFrame([{"product_id": "p1", "position": i, "path": f"/img/{h}.jpg", "rel_path": f"{h}.jpg",
                                "content_hash": h, "width": 10, "height": 20, "pose_label": None, "attrs": "{}"}
                               for i, h in enumerate(["a", "b", "c", "d"], 1)])
        store.replace_catalogue(products, images, pd.DataFrame(columns=["row", "product_id", "kind", "detail"]),
                                "test")
        assert store.has_catalogue() and store.product_titles() == {"p1": "Shirt"}
        assert store.n_unique_images() == 4
        assert store.pose_counts("blazepose", "v1") == {Status.PERSON: 1, Status.NO_PERSON: 1, Status.ERROR: 1}
        status = store.image_status("blazepose", "v1").set_index("content_hash")["status"]
        assert status["d"] == Status.PENDING and status["a"] == Status.PERSON
        assert store.image_paths(["a", "x"]) == {"a": "/img/a.jpg"}
        assert store.image_hash(int(store.images()["image_id"].iloc[0])) == "a"

        store.add_run("run-1", "runs/run-1", "blazepose", 4, {"k": 4}, {"n_person": 1})
        rec = store.run("run-1")
        assert isinstance(rec, RunRecord) and rec.k == 4 and rec.config == {"k": 4} and rec.path.is_absolute()
        assert store.run_records() == [rec]

        store.set_description("run-1", 2, "Back view", DescriptionStatus.NEEDS_REVIEW, "run-0:1")
        d = store.descriptions("run-1")[2]
        assert isinstance(d, Description) and d.status is DescriptionStatus.NEEDS_REVIEW and d.text == "Back view"
        assert store.descriptions_version("run-1") == 1

        job = Job("j1", "train", JobStatus.RUNNING, created_at=time.time(), pid=os.getpid(), host="here")
        assert store.claim_job(job)
        assert not store.claim_job(Job("j2", "sweep", JobStatus.RUNNING))   # one running job per data dir
        assert store.request_job_cancel("j1")
        job.done, job.total = 3, 10
        assert store.update_job_progress(job) is True   # the cancel request comes back
        job.status, job.result = JobStatus.CANCELLED, {"why": "asked"}
        store.finish_job(job)
        back = store.job("j1")
        assert back.status is JobStatus.CANCELLED and back.done == 3 and back.result == {"why": "asked"}
        assert store.jobs(status=JobStatus.RUNNING) == [] and store.job("j2") is None

        first = store.add_judgement(Judgement("run-1", "p1", [1, 2], [1], [3], {1: "back"}))
        second = store.add_judgement(Judgement("run-1", "p1", [1, 2], [1, 2], [], {}))
        assert first.id < second.id and store.latest_judgement("run-1", "p1") == second
        assert store.latest_judgements("run-1") == [second]
        assert len(store.judgement_history("run-1")) == 2
    finally:
        store.close()


# -- several processes opening one data dir ----------------------------------------------------

def _open_and_write(args) -> int:
    data_dir, start_at, i = args
    time.sleep(max(0.0, start_at - time.time()))   # all workers open at (nearly) the same moment
    store = Store(data_dir)
    try:
        store.set_description("run", i, f"worker {i}", "ok", "test")
        store.claim_job(Job(f"job-{i}", "test", JobStatus.RUNNING, created_at=time.time()))
        return store.schema_version
    finally:
        store.close()


@pytest.mark.slow
def test_several_processes_open_one_fresh_data_dir_at_once(tmp_path):
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        pool.map(int, range(4))   # workers up and importing done before the clock starts
        for rnd in range(20):   # the figure: 20 rounds, no error, no write lost
            d = tmp_path / f"round{rnd}"
            if rnd % 2:   # odd rounds: an old data dir that all four want to migrate at once
                make_v1_data_dir(d, tmp_path / f"elsewhere{rnd}")
            start_at = time.time() + 0.2
            versions = pool.map(_open_and_write, [(str(d), start_at, i) for i in range(4)], chunksize=1)
            assert versions == [SCHEMA_VERSION] * 4
            store = Store(d)
            assert sorted(store.descriptions("run")) == [0, 1, 2, 3]
            assert len(store.jobs(status=JobStatus.RUNNING)) == 1   # exactly one claim won
            if rnd % 2:
                assert store.run_path("run-in") == (d / "runs" / "run-in").resolve()
            store.close()
