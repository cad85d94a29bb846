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


@pytest.mark.slow
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


def _row_tuple(r):
    lm = None if r.landmarks is None else np.asarray(r.landmarks, np.float32).tobytes()
    return r.content_hash, r.status, lm, r.width, r.height, r.score, r.error, r.signals


@pytest.mark.slow
def test_estimate_files_gives_estimate_file_rows(tmp_path):
    """The upload path (measurement on a background thread alongside the model, kind statistics
    after the person check) gives estimate_file's rows, in order, whatever comes first or last: a
    person, an image without one or an unreadable file. Store.put_poses hands back the rows its
    poses() reads."""
    from unpose_core.pose import PoseOptions, create_backend
    from unpose_core.pose.extract import estimate_file, estimate_files
    from unpose_core.records import Status
    from unpose_core.views.measure import BASIC_KEYS, KEYS

    bad = tmp_path / "not_an_image.jpg"
    bad.write_text("no pixels here")
    files = [PHOTOS / "skimage_astronaut.png", PHOTOS / "skimage_brick.png", bad, PHOTOS / "coco_000000000785.jpg"]
    items = [(f"h{i}", str(p)) for i, p in enumerate(files)]
    backend = create_backend(PoseOptions("blazepose"))
    try:
        want = {h: _row_tuple(estimate_file(backend, h, p)) for h, p in items}
        for order in (items, items[::-1], items[1:2], items[:1] + items[2:3], items[1::-1]):
            got = estimate_files(backend, order)
            assert [_row_tuple(r) for r in got] == [want[h] for h, _ in order]
        rows = estimate_files(backend, items, overlap=False)
        assert [_row_tuple(r) for r in rows] == list(want.values())
        assert estimate_files(backend, []) == []
    finally:
        backend.close()
    assert want["h2"][1] is Status.ERROR and "not a readable image" in want["h2"][6]
    assert tuple(want["h0"][7]["image"]) == BASIC_KEYS   # a person: the basic keys only
    assert tuple(want["h1"][7]["image"]) == KEYS         # brick: every kind statistic

    store = Store(tmp_path / "data")
    try:
        assert store.put_poses("blazepose", "other", rows) == []
        stored = store.put_poses("blazepose", "v", rows, returning=True)
        read = store.poses("blazepose", "v", [r.content_hash for r in rows])
        assert [_row_tuple(r) for r in stored] == [_row_tuple(read[r.content_hash]) for r in rows]
        assert [type(r.score) for r in stored] == [type(read[r.content_hash].score) for r in rows]
        assert stored[2].score == 0.0 and stored[0].landmarks.dtype == np.float32
    finally:
        store.close()
