import json
import shutil

import numpy as np
import pytest

from unpose_core.runs import RunError, load_run


@pytest.fixture
def run_copy(demo_run, tmp_path):
    dst = tmp_path / demo_run.path.name
    shutil.copytree(demo_run.path, dst)
    return dst


def test_run_is_plain_files_with_checksums(demo_run):
    names = {p.name for p in demo_run.path.iterdir()}
    assert {"metadata.json", "config.json", "centroids.npy", "ranker.txt", "ranker_tables.json",
            "reference.parquet", "centroids.json"} <= names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".joblib"))]
    meta = json.loads((demo_run.path / "metadata.json").read_text())
    assert set(meta["files"]) >= {"centroids.npy", "ranker.txt"} and meta["versions"]["mediapipe"] == "0.10.14"


def test_round_trip_gives_identical_assignments(demo_run, run_copy):
    again = load_run(run_copy)
    X = np.random.default_rng(0).normal(0, 1, (50, demo_run.info.embedding_dim)).astype(np.float32)
    np.testing.assert_array_equal(again.kmeans.nearest(again.to_space(X))[0],
                                  demo_run.kmeans.nearest(demo_run.to_space(X))[0])
    assert again.info == demo_run.info and again.centroids == demo_run.centroids
    assert again.ranker.tables_ == demo_run.ranker.tables_
    assert again.k == demo_run.k and again.no_person_class == demo_run.k


def test_tampered_file_is_refused(run_copy):
    arr = np.load(run_copy / "centroids.npy")
    np.save(run_copy / "centroids.npy", arr + 1)
    with pytest.raises(RunError, match="checksum mismatch for centroids.npy"):
        load_run(run_copy)


def test_wrong_version_missing_file_and_not_a_run(run_copy, tmp_path):
    meta = json.loads((run_copy / "metadata.json").read_text())
    (run_copy / "ranker.txt").unlink()
    with pytest.raises(RunError, match="missing ranker.txt"):
        load_run(run_copy)
    meta["format_version"] = 99
    (run_copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(RunError, match="format version 99"):
        load_run(run_copy)
    with pytest.raises(RunError, match="not a run folder"):
        load_run(tmp_path)


def test_shape_mismatch_is_refused(run_copy):
    cfg = json.loads((run_copy / "config.json").read_text())
    cfg["info"]["k"] += 1
    (run_copy / "config.json").write_text(json.dumps(cfg))
    meta = json.loads((run_copy / "metadata.json").read_text())
    from unpose_core.images import content_hash
    meta["files"]["config.json"] = content_hash(run_copy / "config.json")
    (run_copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(RunError, match="do not match K="):
        load_run(run_copy)


def test_embedding_dim_is_checked(demo_run):
    with pytest.raises(RunError, match="expects 80-dim"):   # 77 pose + 3 view dimensions
        demo_run.to_space(np.zeros((2, 61), np.float32))
