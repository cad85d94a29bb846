
import numpy as np
import pytest
from conftest import copy_data_dir

from unpose_core.config import SelectionConfig, TrainConfig
from unpose_core.runs import active_run, get_run
from unpose_core.store import Store
from unpose_core.training import train


@pytest.fixture
def store_copy(demo_data_dir, tmp_path):
    d = tmp_path / "data"
    copy_data_dir(demo_data_dir, d)
    s = Store(d)
    yield s
    s.close()


def test_descriptions_follow_their_centroids_to_a_new_run(store_copy):
    old = active_run(store_copy)
    for c in range(old.n_classes):
        store_copy.set_description(old.run_id, c, f"label {c}")
    res = train(store_copy, TrainConfig(k=old.k, seed=1))     # poses cached: no model work
    assert res.extract["n_processed"] == 0
    new = get_run(store_copy, res.run_id)
    assert store_copy.active_run_id() == new.run_id
    carried = store_copy.descriptions(new.run_id)
    unplaced = store_copy.unplaced_descriptions(new.run_id)
    # nothing is dropped: every old description is on a centroid or listed for review
    texts = {d.text for d in carried.values()} | set(unplaced["text"])
    assert texts == {f"label {c}" for c in range(old.n_classes)}
    assert carried[new.no_person_class].text == f"label {old.no_person_class}"
    # matched centroids are close in pose space: most descriptions land as 'ok'
    ok = [d for d in carried.values() if d.status == "ok"]
    assert len(ok) >= old.k // 2


def test_same_clusters_keep_every_description_in_place(store_copy):
    """Retraining with the same data and seed gives the same centroids, so each
    description must come back on the same centroid id, as 'ok'."""
    old = active_run(store_copy)
    for c in range(old.n_classes):
        store_copy.set_description(old.run_id, c, f"label {c}")
    res = train(store_copy, TrainConfig(k=old.k, seed=old.config.seed))
    np.testing.assert_allclose(get_run(store_copy, res.run_id).kmeans.cluster_centers_,
                               old.kmeans.cluster_centers_, atol=1e-5)
    carried = store_copy.descriptions(res.run_id)
    assert {c: d.text for c, d in carried.items()} == {c: f"label {c}" for c in range(old.n_classes)}
    assert all(d.status == "ok" for d in carried.values())


def test_fewer_clusters_leave_descriptions_for_review(store_copy):
    old = active_run(store_copy)
    for c in range(old.n_classes):
        store_copy.set_description(old.run_id, c, f"label {c}")
    res = train(store_copy, TrainConfig(k=4, seed=0))
    carried = store_copy.descriptions(res.run_id)
    unplaced = store_copy.unplaced_descriptions(res.run_id)
    assert len(carried) + len(unplaced) == old.n_classes
    assert len(unplaced) >= old.k - 4
    assert (unplaced["status"] == "needs_review").all()
    # the old run keeps its own descriptions, and the history keeps everything
    assert len(store_copy.descriptions(old.run_id)) == old.n_classes


def test_training_explains_bad_settings(store_copy, tmp_path):
    with pytest.raises(ValueError, match="k must be at least 1"):
        train(store_copy, TrainConfig(k=0))
    with pytest.raises(ValueError, match="no reference products"):
        train(store_copy, TrainConfig(selection=SelectionConfig(min_images=50)))
    with pytest.raises(ValueError, match="need at least K=5000"):
        train(store_copy, TrainConfig(k=5000))
    with pytest.raises(ValueError, match="catalogue is empty"):
        train(Store(tmp_path / "empty"), TrainConfig())
