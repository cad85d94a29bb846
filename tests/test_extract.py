import shutil
import threading

import numpy as np
import pandas as pd
import pytest
from conftest import PHOTOS

from unpose_core.catalog.manifest import import_catalogue
from unpose_core.pose.extract import ERROR, extract_poses
from unpose_core.store import Store


@pytest.fixture
def small_store(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    names = ["skimage_astronaut.png", "skimage_camera.png", "skimage_brick.png", "skimage_text.png",
             "coco_000000000785.jpg"]
    for n in names:
        shutil.copy(PHOTOS / n, root / n)
    shutil.copy(PHOTOS / "skimage_astronaut.png", root / "same_bytes.png")   # duplicate content
    shutil.copy(PHOTOS / "matplotlib_grace_hopper.jpg", root / "truncated.jpg")
    rows = [{"product_id": f"p{i % 2}", "image_path": n} for i, n in
            enumerate(names + ["same_bytes.png", "truncated.jpg"])]
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    products, images, report = import_catalogue(tmp_path / "m.csv", root)
    store = Store(tmp_path / "data")
    store.replace_catalogue(products, images, report.problems, "test")
    # cut short on disk after the import (the import refuses a truncated file): the header
    # is fine, the pixel data ends early, so only extraction finds out
    data = (root / "truncated.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 3])
    yield store
    store.close()


def test_cache_makes_the_second_run_free(small_store):
    first = extract_poses(small_store, workers=1)
    assert first.n_unique_images == 6 and first.n_processed == 6 and first.n_cached == 0
    assert (first.n_person, first.n_no_person, first.n_errors) == (3, 2, 1)
    second = extract_poses(small_store, workers=1)
    assert second.n_processed == 0 and second.n_cached == 6
    poses = small_store.poses(first.backend, first.backend_version)
    errors = [p for p in poses.values() if p.status == ERROR]
    assert len(errors) == 1 and ("truncated" in errors[0].error or "decode" in errors[0].error)


def test_stop_then_resume(small_store):
    stop = threading.Event()
    stop.set()
    res = extract_poses(small_store, workers=1, stop=stop)
    assert res.cancelled and res.n_processed == 0
    res = extract_poses(small_store, workers=1)
    assert not res.cancelled and res.n_processed == 6


def test_worker_pool_matches_in_process(small_store, tmp_path):
    pooled = extract_poses(small_store, workers=2)
    assert pooled.workers == 2 and pooled.n_processed == 6
    a = small_store.poses(pooled.backend, pooled.backend_version)
    other = Store(tmp_path / "data2")
    other.replace_catalogue(small_store.products(), small_store.images(), small_store.import_problems(), "copy")
    extract_poses(other, workers=1)
    b = other.poses(pooled.backend, pooled.backend_version)
    assert a.keys() == b.keys()
    for h in a:
        assert a[h].status == b[h].status
        if a[h].landmarks is not None:
            np.testing.assert_allclose(a[h].landmarks, b[h].landmarks, atol=1e-5)


def test_progress_is_reported(small_store):
    seen = []
    extract_poses(small_store, workers=1, progress=seen.append)
    assert seen[-1].done == seen[-1].total == 6 and seen[-1].fraction == 1.0
    assert seen[-1].rate > 0
