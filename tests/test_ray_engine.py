"""The Ray engine (``unposed extract --engine ray``, ``unposed report --engine ray``) against the
local engine, on real images.

Ray is an optional extra, but it is in the test install: the module is skipped without it,
except under ``CI=true`` where a missing ray fails. Each Ray run here is a local Ray with
2 CPUs (about 4 s to start).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ASSETS, PHOTOS, RENDERS, copy_data_dir, require_ray

ray = require_ray()

from unpose_core import suggestions
from unpose_core.catalog.manifest import import_catalogue
from unpose_core.cli import main
from unpose_core.config import PoseOptions, SelectionConfig, TrainConfig
from unpose_core.exports import to_csv
from unpose_core.outputs import report as report_module
from unpose_core.pose import backend_identity
from unpose_core.pose import extract as extract_module
from unpose_core.pose.engines import fill_pose_cache
from unpose_core.pose.extract import extract_poses
from unpose_core.pose.ray_engine import (
    RayUnavailable,
    extract_poses_ray,
    import_ray,
    rows_to_table,
    table_to_rows,
)
from unpose_core.records import PoseRow, Status
from unpose_core.runs import active_run
from unpose_core.store import Store
from unpose_core.training import train

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture
def stores(tmp_path):
    """Two stores of one catalogue: 8 renders (front / side / back / three-quarter, close-up and
    full length), a texture (no person) and a file cut short after the import (an error row)."""
    root = tmp_path / "imgs"
    root.mkdir()
    for p in sorted(RENDERS.glob("*.jpg"))[::6]:
        shutil.copy(p, root / p.name)
    shutil.copy(PHOTOS / "skimage_brick.png", root / "brick.png")
    shutil.copy(PHOTOS / "matplotlib_grace_hopper.jpg", root / "truncated.jpg")
    names = sorted(f.name for f in root.iterdir())
    pd.DataFrame({"product_id": [f"p{i % 3}" for i in range(len(names))], "image_path": names}).to_csv(
        tmp_path / "m.csv", index=False)
    products, images, report = import_catalogue(tmp_path / "m.csv", root)
    pair = []
    for name in ("local", "ray"):
        store = Store(tmp_path / name)
        store.replace_catalogue(products, images, report.problems, "test")
        pair.append(store)
    data = (root / "truncated.jpg").read_bytes()   # cut short after the import: only extraction sees it
    (root / "truncated.jpg").write_bytes(data[: len(data) // 3])
    yield pair
    for store in pair:
        store.close()


def test_rows_travel_as_plain_columns():
    lm = np.arange(33 * 4, dtype=np.float32).reshape(33, 4) / 7
    rows = [PoseRow("h1", Status.PERSON, lm, 640, 480, 0.875, signals={"people": [{"a": 1.5}], "x": None}),
            PoseRow("h2", Status.NO_PERSON, None, 10, 20, None, signals={}),
            PoseRow("h3", Status.ERROR, error="cannot decode")]
    table = rows_to_table(rows)
    kinds = {f.name: str(f.type) for f in table.schema}
    assert kinds == {"content_hash": "string", "status": "string", "n_landmarks": "int32", "landmarks": "binary",
                     "width": "int64", "height": "int64", "score": "double", "error": "string", "signals": "string"}
    back = table_to_rows(table)
    assert [r.content_hash for r in back] == ["h1", "h2", "h3"]
    assert np.array_equal(back[0].landmarks, lm) and back[0].landmarks.dtype == np.float32
    assert back[0].signals == rows[0].signals and back[0].score == 0.875 and back[0].status is Status.PERSON
    assert back[1].landmarks is None and back[1].score is None and back[1].signals == {}
    assert back[2].error == "cannot decode" and back[2].width is None and back[2].status is Status.ERROR


def test_ray_matches_local_engine(stores):
    local_store, ray_store = stores
    local = extract_poses(local_store, workers=1)
    n = ray_store.n_unique_images()
    assert n == 10
    auth_mode = os.environ.get("RAY_AUTH_MODE")
    res = extract_poses_ray(ray_store, actors=2)   # 10 images: 2 batches of 5, one per actor
    assert not ray.is_initialized()   # it started its own local Ray and shut it down
    assert os.environ.get("RAY_AUTH_MODE") == auth_mode   # and left the environment as it was
    assert (res.n_processed, res.workers, res.cancelled) == (n, 2, False)
    assert (res.n_person, res.n_no_person, res.n_errors) == (local.n_person, local.n_no_person, local.n_errors)
    assert res.n_person >= 3 and res.n_no_person >= 1 and res.n_errors == 1
    a = local_store.poses(local.backend, local.backend_version)
    b = ray_store.poses(res.backend, res.backend_version)
    assert a.keys() == b.keys() and len(a) == n
    for h in a:
        assert (a[h].status, a[h].width, a[h].height, a[h].error) == (b[h].status, b[h].width, b[h].height,
                                                                       b[h].error)
        assert a[h].score == pytest.approx(b[h].score, abs=1e-6)
        assert a[h].signals == b[h].signals
        if a[h].landmarks is None:
            assert b[h].landmarks is None
        else:
            np.testing.assert_allclose(a[h].landmarks, b[h].landmarks, atol=1e-6)
    again = extract_poses_ray(ray_store, actors=2)   # nothing pending: no Ray is started at all
    assert (again.n_processed, again.n_cached, again.workers) == (0, n, 0)


def _created_at(store: Store) -> dict[str, float]:
    with contextlib.closing(sqlite3.connect(store.path)) as c, c:
        return dict(c.execute("SELECT content_hash, created_at FROM poses"))


def test_interrupted_run_resumes_without_redoing_batches(stores, monkeypatch):
    _, store = stores
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")   # a private Ray: no token written to the home folder
    n = store.n_unique_images()
    stop = threading.Event()
    seen = []

    def progress(p):   # the first batch is committed before progress reports it: stop right there
        seen.append(p.done)
        if p.done:
            stop.set()

    temp_dir = tempfile.mkdtemp(prefix="unposed-ray-test-")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    try:
        first = extract_poses_ray(store, actors=2, progress=progress, stop=stop, batch_size=2)
        assert ray.is_initialized()   # a Ray the caller started is left running
        assert first.cancelled and 0 < first.n_processed < n and first.n_processed % 2 == 0
        done_first = _created_at(store)
        assert len(done_first) == first.n_processed
        seen.clear()
        second = extract_poses_ray(store, actors=2, batch_size=2, progress=seen.append)
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not second.cancelled and second.n_processed == n - first.n_processed
    assert second.n_cached == first.n_processed and seen[-1].done == seen[-1].total == second.n_processed
    done = _created_at(store)
    assert len(done) == n
    assert {h: done[h] for h in done_first} == done_first   # the first run's batches were not redone


def test_missing_ray_is_one_clear_error(stores, monkeypatch, capsys):
    _, store = stores
    monkeypatch.setitem(__import__("sys").modules, "ray", None)   # `import ray` now raises ImportError
    with pytest.raises(RayUnavailable, match=r'unpose-core\[ray\]'):
        import_ray()
    code = main(["extract", "--engine", "ray", "--data-dir", str(store.data_dir), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and err[0].startswith("error: ") and '"ray" extra' in err[0]


def test_cli_options_belong_to_their_engine(stores, capsys):
    _, store = stores
    assert main(["extract", "--actors", "2", "--data-dir", str(store.data_dir), "-q"]) != 0
    assert "actors and address need engine ray" in capsys.readouterr().err
    assert main(["extract", "--engine", "ray", "--workers", "2", "--data-dir", str(store.data_dir), "-q"]) != 0
    assert "workers are for the local engine: give actors with engine ray" in capsys.readouterr().err


# -- the report's poses (`unposed report --engine ray`) ----------------------------------------------

def _delete_poses(store: Store, hashes) -> None:
    with contextlib.closing(sqlite3.connect(store.path)) as c, c:
        c.executemany("DELETE FROM poses WHERE content_hash=?", [(h,) for h in hashes])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, set[str], str]:
    """A trained data dir whose report needs the model: 4 reference products of 10 one-person
    views and 5 subject products (3 views each, one of them also a reference image; a texture
    and a file cut short after the import), K=3. After training, the poses of the subject-only
    images and of one reference image are taken out of the cache again. Returns the data dir,
    the subject-only hashes (what the report must extract) and the reference image's hash (what
    it must not)."""
    root = tmp_path_factory.mktemp("report-engines")
    imgs = root / "imgs"
    imgs.mkdir()
    labels = pd.read_csv(ASSETS / "views" / "labels.csv")
    singles = labels[(labels["kind"] == "person") & (labels["n_people"] == 1) & (labels["blazepose_detected"] == 1)]
    files = sorted(singles["file"])
    rows = []

    def add(product: str, name: str, src: Path, ptype: str, rating: float, n_ratings: int) -> None:
        shutil.copy(src, imgs / name)
        rows.append({"product_id": product, "title": product, "category": "Clothing", "subcategory": "Shirts",
                     "product_type": ptype, "avg_rating": rating, "n_ratings": n_ratings, "image_path": name})

    types = ("Polo", "Oxford shirt")
    for i in range(4):
        for f in files[i:40:4]:
            add(f"ref-{i}", f, ASSETS / "views" / f, types[i % 2], 3.5 + 0.3 * i, 20 + i)
    for j in range(4):
        picks = files[41 + j::9][:2] + [files[j * 4]]   # two new views and one reference image
        for f in picks:
            add(f"sub-{j}", f"s{j}_{f}" if f in files[:40] else f, ASSETS / "views" / f, types[j % 2], 4.0, 2)
    add("sub-4", "brick.png", PHOTOS / "skimage_brick.png", "Polo", 4.0, 1)
    add("sub-4", "truncated.jpg", PHOTOS / "matplotlib_grace_hopper.jpg", "Polo", 4.0, 1)
    pd.DataFrame(rows).to_csv(root / "m.csv", index=False)
    products, images, report = import_catalogue(root / "m.csv", imgs)
    assert report.ok, report.summary()
    data = (imgs / "truncated.jpg").read_bytes()   # cut short after the import: an error row
    (imgs / "truncated.jpg").write_bytes(data[: len(data) // 3])
    store = Store(root / "data")
    try:
        store.replace_catalogue(products, images, report.problems, "test")
        train(store, TrainConfig(k=3, seed=0, selection=SelectionConfig(min_images=9, subject_max_images=5)),
              workers=1)
        images = store.images()
        ref = images[images["product_id"].str.startswith("ref-")]
        sub_only = set(images.loc[images["product_id"].str.startswith("sub-"), "content_hash"]) - set(
            ref["content_hash"])
        assert len(sub_only) == 10
        outside = ref["content_hash"].iloc[-1]
        _delete_poses(store, [*sub_only, outside])
    finally:
        store.close()
    return root / "data", sub_only, outside


def _no_model(*args, **kwargs):
    raise AssertionError("the report ran the pose model itself: the engine left images uncached")


def test_report_engines_give_the_serial_report_row_for_row(trained, tmp_path, monkeypatch):
    """`unposed report` with the default (local) engine, with two worker processes and with
    --engine ray: the same CSV, row for row, as the serial report that runs the model itself
    for the uncached images; the same cache rows; only the report's images extracted."""
    src, sub_only, outside = trained
    dirs = {name: copy_data_dir(src, tmp_path / name) for name in ("serial", "local", "pool", "ray")}
    store = Store(dirs["serial"])
    try:
        run = active_run(store)
        ident = run.info.identity
        n_before = len(store.poses(*ident))
        want = report_module.report(store, run)   # the serial path: the model runs inside the report
        assert len(store.poses(*ident)) == n_before + len(sub_only)
        serial_poses = store.poses(*ident)
    finally:
        store.close()
    assert len(want) == 5 and want["n_failed_images"].sum() == 1
    to_csv(want, tmp_path / "serial.csv")
    expected = (tmp_path / "serial.csv").read_text().splitlines()

    monkeypatch.setattr(suggestions.Suggester, "backend", _no_model)   # the report itself only reads the cache
    auth_mode = os.environ.get("RAY_AUTH_MODE")
    for name, flags in (("local", []), ("pool", ["--workers", "2"]), ("ray", ["--engine", "ray", "--actors", "2"])):
        out = tmp_path / f"{name}.csv"
        assert main(["report", "--data-dir", str(dirs[name]), "--out", str(out), "-q", *flags]) == 0, name
        got = out.read_text().splitlines()
        assert len(got) == len(expected) == 6
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert a == b, f"{name}, row {i}"
        store = Store(dirs[name])
        try:
            poses = store.poses(*ident)
        finally:
            store.close()
        assert poses.keys() == serial_poses.keys() and outside not in poses, name   # the report's images only
        for h in sub_only:
            a, b = poses[h], serial_poses[h]
            assert (a.status, a.width, a.height, a.error, a.signals) == (b.status, b.width, b.height, b.error,
                                                                          b.signals), name
            if b.landmarks is None:
                assert a.landmarks is None
            else:
                np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-6)
    assert not ray.is_initialized() and os.environ.get("RAY_AUTH_MODE") == auth_mode


def test_fill_pose_cache_takes_a_subset_and_the_run_identity(stores, monkeypatch):
    """Only the given images, only what is missing; nothing missing: no model is even loaded;
    another backend version than the reader's: refused before any image runs."""
    store, _ = stores
    hashes = store.images()["content_hash"].unique().tolist()
    ident = backend_identity(PoseOptions(), store.data_dir)
    first = fill_pose_cache(store, PoseOptions(), hashes[:2], ident)
    assert (first.n_unique_images, first.n_cached, first.n_processed, first.workers) == (2, 0, 2, 1)
    res = fill_pose_cache(store, PoseOptions(), [*hashes[:3], "not-in-the-catalogue"], ident)
    assert (res.n_unique_images, res.n_cached, res.n_processed) == (3, 2, 1)
    assert set(store.poses(*ident)) == set(hashes[:3])
    with pytest.raises(RuntimeError, match="trained with blazepose-0"):
        fill_pose_cache(store, PoseOptions(), hashes, (ident[0], "blazepose-0"), who="run x")
    assert set(store.poses(*ident)) == set(hashes[:3])   # refused before any image ran

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded with nothing to do")

    monkeypatch.setattr(extract_module, "create_backend", no_model)
    again = fill_pose_cache(store, PoseOptions(), hashes[:3], ident, engine="ray", actors=2)
    assert (again.n_processed, again.n_cached, again.workers) == (0, 3, 0) and not ray.is_initialized()
    for bad in ({"engine": "dask"}, {"engine": "ray", "workers": 2}, {"actors": 2}, {"address": "auto"},
                {"workers": 0}):
        with pytest.raises(ValueError):
            fill_pose_cache(store, PoseOptions(), hashes, ident, **bad)
