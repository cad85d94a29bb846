import numpy as np
import pytest

from unpose_core.cluster import PoseKMeans, _n_distinct_rows, purity, sweep_k


def _blobs(seed=0, n=200, k=4, d=77):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 5, (k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(0, 0.3, (n, d))).astype(np.float32), y


def test_deterministic_for_a_seed():
    X, _ = _blobs()
    a, b = PoseKMeans(4, seed=3).fit(X), PoseKMeans(4, seed=3).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_thread_count_changes_nothing_and_is_restored():
    """faiss runs single-threaded by default (cluster.N_THREADS): the same centroids, labels and
    inertia as with all cores, and the caller's faiss thread setting is left as it was."""
    import faiss

    X, _ = _blobs(n=3000, k=6, d=20)
    before = faiss.omp_get_max_threads()
    one = PoseKMeans(6, seed=1).fit(X)
    assert faiss.omp_get_max_threads() == before
    every = PoseKMeans(6, seed=1, n_threads=None).fit(X)
    two = PoseKMeans(6, seed=1, n_threads=2).fit(X)
    for other in (every, two):
        np.testing.assert_array_equal(one.cluster_centers_, other.cluster_centers_)
        np.testing.assert_array_equal(one.labels_, other.labels_)
        assert one.inertia_ == other.inertia_
    np.testing.assert_array_equal(one.nearest(X)[0], two.nearest(X)[0])
    assert faiss.omp_get_max_threads() == before
    with pytest.raises(ValueError, match="n_threads"):
        PoseKMeans(6, n_threads=0).fit(X)


def test_recovers_separated_clusters_and_predicts_nearest():
    X, y = _blobs()
    km = PoseKMeans(4, seed=0).fit(X)
    assert purity(km.labels_, y) == 1.0
    np.testing.assert_array_equal(km.nearest(X)[0], km.labels_)
    assert km.cluster_centers_.shape == (4, 77)
    # a point at a centroid is assigned to it
    classes, dists = km.nearest(km.cluster_centers_)
    np.testing.assert_array_equal(classes, np.arange(4))
    np.testing.assert_allclose(dists, 0, atol=1e-6)


def test_uses_every_point_not_faiss_default_sample():
    """faiss would train on 256 points per centroid; we raised the cap, so with 1 cluster
    the centroid is exactly the mean of all points."""
    X, _ = _blobs(n=3000, k=3)
    km = PoseKMeans(1, seed=0, standardize=False).fit(X)
    np.testing.assert_allclose(km.cluster_centers_[0], X.mean(axis=0), atol=1e-3)


def test_validation_errors_are_clear():
    X, _ = _blobs(n=10)
    with pytest.raises(ValueError, match="cannot make 20 clusters from 10 distinct"):
        PoseKMeans(20).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        PoseKMeans(2).fit(np.full((5, 3), np.nan))
    km = PoseKMeans(2).fit(X)
    with pytest.raises(ValueError, match="fit on 77"):
        km.nearest(np.zeros((1, 5)))


def test_distinct_row_count_matches_numpy_unique():
    """The K-Means input check counts distinct rows (rounded to 6 decimals) only until it has
    enough; the full count, when there are fewer, is np.unique's (-0.0 equals 0.0)."""
    rng = np.random.default_rng(0)
    cases = [rng.integers(0, 3, (9000, 2)).astype(np.float32),
             np.array([[0, 0], [-0.0, 0], [1e-7, 0], [1, 2], [1, 2.0000001]], np.float32),
             rng.normal(size=(10_000, 3)).round(1).astype(np.float32)]
    for X in cases:
        exact = len(np.unique(X.round(6), axis=0))
        assert _n_distinct_rows(X, 10**9, block=1000) == exact
        assert _n_distinct_rows(X, exact + 1, block=1000) == exact     # too few: the exact count
        assert _n_distinct_rows(X, 2, block=1000) >= 2
    assert _n_distinct_rows(cases[1], 10) == 2
    with pytest.raises(ValueError, match="cannot make 3 clusters from 2 distinct"):
        PoseKMeans(3).fit(cases[1])


def test_state_round_trip():
    X, _ = _blobs()
    km = PoseKMeans(4, seed=0).fit(X)
    km2 = PoseKMeans.from_state(km.state())
    np.testing.assert_array_equal(km2.nearest(X)[0], km.labels_)


def test_sweep_reports_elbow_silhouette_balance_purity():
    X, y = _blobs(n=300)
    seen = []
    rows = sweep_k(X, [2, 4, 6], labels=y, progress=seen.append)   # the one ProgressFn signature
    assert [(p.stage, p.done, p.total, p.message) for p in seen] == [
        ("sweep", 1, 3, "K=2"), ("sweep", 2, 3, "K=4"), ("sweep", 3, 3, "K=6")]
    assert [r["k"] for r in rows] == [2, 4, 6]
    assert rows[0]["inertia"] > rows[1]["inertia"] > rows[2]["inertia"]
    best = max(rows, key=lambda r: r["silhouette"])
    assert best["k"] == 4 and rows[1]["purity"] == 1.0
    assert all(0 < r["balance"] <= 1 for r in rows)
