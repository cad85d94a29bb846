"""The Ray engine (``unposed extract --engine ray``) against the local engine, on real images.

Ray is an optional extra, but it is in the test install: the module is skipped without it,
except under ``CI=true`` where a missing ray fails. Each Ray run here is a local Ray with
2 CPUs (about 4 s to start).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading

import numpy as np
import pandas as pd
import pytest
from conftest import PHOTOS, RENDERS

try:
    import ray
    import ray.data  # the engine needs ray[data], not only ray
except ImportError as exc:
    if os.environ.get("CI") == "true":
        pytest.fail(f'ray[data] is not importable under CI=true, but the test install has the "ray" extra: {exc}',
                    pytrace=False)
    pytest.skip(f'ray[data] is not installed (pip install "unpose-core[ray]"): {exc}', allow_module_level=True)

from unpose_core.catalog.manifest import import_catalogue
from unpose_core.cli import main
from unpose_core.pose.extract import extract_poses
from unpose_core.pose.ray_engine import (
    RayUnavailable,
    extract_poses_ray,
    import_ray,
    rows_to_table,
    table_to_rows,
)
from unpose_core.records import PoseRow, Status
from unpose_core.store import Store

pytestmark = pytest.mark.slow


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
    with sqlite3.connect(store.path) as c:
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
    assert "--engine ray" in capsys.readouterr().err
    assert main(["extract", "--engine", "ray", "--workers", "2", "--data-dir", str(store.data_dir), "-q"]) != 0
    assert "--actors" in capsys.readouterr().err
