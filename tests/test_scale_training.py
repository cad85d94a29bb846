"""Training and the reference map at scale: the autoencoder's step / sample bound, and the UMAP
map fitted on a sample with the other points transformed (stored with what was sampled)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from unpose_core import projection
from unpose_core.cluster import PoseKMeans, purity
from unpose_core.embed.autoencoder import CONFIG_FILE, PoseAutoencoder


def _blobs(n: int, k: int = 5, d: int = 40, seed: int = 0, spread: float = 0.6):
    """k separated clusters with very different feature scales (like pose coordinates vs ratios)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2.0, (k, d))
    y = rng.integers(0, k, n)
    X = (centres[y] + rng.normal(0, spread, (n, d))) * np.exp(rng.uniform(-2, 1.5, d))
    return X.astype(np.float32), y


# -- the autoencoder ------------------------------------------------------------------------------

@pytest.mark.slow
def test_autoencoder_stops_after_max_steps(monkeypatch):
    from unpose_core.embed import autoencoder

    calls = []
    orig = autoencoder._AdamW.step

    def counting(self, *a, **kw):
        calls.append(1)
        return orig(self, *a, **kw)

    monkeypatch.setattr(autoencoder._AdamW, "step", counting)
    X, _ = _blobs(600)
    # 10 steps per epoch x 50 epochs unbounded = 500 steps; the bound stops it mid-epoch at 23
    ae = PoseAutoencoder(batch_size=51, max_epochs=50, patience=50, max_steps=23, seed=0).fit(X)
    assert len(calls) == 23 and ae.n_steps_ == 23
    assert ae.n_epochs_ == 3 and len(ae.history_["train"]) == 3
    assert np.isfinite(ae.history_["train"]).all()
    unbounded = PoseAutoencoder(batch_size=51, max_epochs=4, patience=50, max_steps=None, seed=0).fit(X)
    assert unbounded.n_steps_ == 4 * 10


def test_autoencoder_fits_on_a_sample_and_transforms_every_row(monkeypatch):
    X, _ = _blobs(3000)
    seen = []
    orig = PoseAutoencoder._loss

    def spy(self, x, gen):
        seen.append(len(x))
        return orig(self, x, gen)

    monkeypatch.setattr(PoseAutoencoder, "_loss", spy)
    ae = PoseAutoencoder(batch_size=2048, max_epochs=2, fit_sample=400, val_fraction=0.25, seed=0).fit(X)
    assert ae.n_fit_ == 400 and ae.n_seen_ == 3000
    assert ae.n_train_ == 300 and ae.n_val_ == 100
    assert max(seen) == 300    # no training batch (or validation pass) is larger than the sample's part
    # standardisation comes from every row (cheap), the weights from the sample
    np.testing.assert_allclose(ae.mean_, X.astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)
    Z = ae.transform(X)
    assert Z.shape == (3000, 8) and np.isfinite(Z).all()
    # the same seed picks the same sample: bit-identical codes
    again = PoseAutoencoder(batch_size=2048, max_epochs=2, fit_sample=400, val_fraction=0.25, seed=0).fit(X)
    assert np.array_equal(again.transform(X), Z)


@pytest.mark.slow
def test_bounded_autoencoder_keeps_the_clusters():
    """Purity of K-Means on the codes: bounded (a sample, a few steps) within 0.05 of unbounded."""
    X, y = _blobs(2400, k=5)
    common = {"batch_size": 256, "max_epochs": 40, "patience": 40, "seed": 1}
    full = PoseAutoencoder(max_steps=None, fit_sample=None, **common).fit(X)
    bounded = PoseAutoencoder(max_steps=60, fit_sample=800, **common).fit(X)
    assert full.n_steps_ > 5 * bounded.n_steps_
    p_full = purity(PoseKMeans(5, seed=0).fit(full.transform(X)).labels_, y)
    p_bounded = purity(PoseKMeans(5, seed=0).fit(bounded.transform(X)).labels_, y)
    assert p_full > 0.9
    assert p_bounded >= p_full - 0.05


@pytest.mark.parametrize("params, message", [
    ({"max_steps": 0}, "max_steps"),
    ({"max_steps": 2.5}, "max_steps"),
    ({"fit_sample": 3}, "fit_sample"),
])
def test_bad_bounds_are_clear_errors(params, message):
    X, _ = _blobs(40)
    with pytest.raises(ValueError, match=message):
        PoseAutoencoder(**params).fit(X)


def test_model_saved_before_the_bound_still_loads(tmp_path):
    """A model saved by the unbounded autoencoder (no max_steps / fit_sample params, no step
    counts in its training record) loads, transforms the same, and gets today's defaults."""
    X, _ = _blobs(200)
    ae = PoseAutoencoder(max_epochs=3, seed=0).fit(X)
    ae.save(tmp_path)
    meta = json.loads((tmp_path / CONFIG_FILE).read_text())
    for key in ("max_steps", "fit_sample"):
        del meta["params"][key]
    for key in ("n_steps", "n_fit", "n_seen"):
        del meta["training"][key]
    (tmp_path / CONFIG_FILE).write_text(json.dumps(meta, indent=1))
    old = PoseAutoencoder.load(tmp_path)
    assert np.array_equal(old.transform(X), ae.transform(X))
    assert old.max_steps == PoseAutoencoder().max_steps and old.n_steps_ is None
    old.save(tmp_path / "again")     # and it saves again in today's format
    assert PoseAutoencoder.load(tmp_path / "again").get_params() == old.get_params()


# -- the map --------------------------------------------------------------------------------------

def _agreement(xy: np.ndarray, y: np.ndarray, fit_rows: np.ndarray, rest: np.ndarray) -> float:
    """Share of transformed points whose nearest fitted point on the map has their label."""
    d = ((xy[rest, None, :] - xy[None, fit_rows, :]) ** 2).sum(axis=2)
    return float((y[fit_rows][d.argmin(axis=1)] == y[rest]).mean())


@pytest.mark.slow
def test_map_is_fitted_on_a_sample_and_every_point_is_placed():
    X, y = _blobs(1200, k=4, d=8, spread=0.3)
    X = (X - X.mean(0)) / X.std(0)
    xy, meta = projection.compute_xy(X, seed=0, fit_max=300, chunk=400)
    assert xy.shape == (1200, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    assert meta["fit_sample"] == 300 and meta["n_points"] == 1200
    assert meta["method"] == "umap-sample+place"
    fit_rows = projection.fit_sample_rows(1200, 300, seed=0)
    rest = np.setdiff1d(np.arange(1200), fit_rows)
    assert len(np.unique(xy[rest].round(4), axis=0)) > 0.9 * len(rest)    # placed, not piled up
    assert _agreement(xy, y, fit_rows, rest) > 0.95                       # next to their own cluster


@pytest.mark.slow
def test_small_maps_are_not_sampled():
    X, _ = _blobs(150, k=3, d=8)
    xy, meta = projection.compute_xy(X, seed=0, fit_max=1000)
    assert meta["fit_sample"] == meta["n_points"] == 150 and meta["method"] == "umap"
    assert np.isfinite(xy).all()


def _tiny_run(folder, n: int = 400, k: int = 4):
    """A data dir with an active run of ``n`` person reference images (synthetic embeddings)."""
    from unpose_core.config import TrainConfig
    from unpose_core.pose.blazepose import LANDMARK_NAMES, SKELETON
    from unpose_core.rank import CentroidRanker
    from unpose_core.runs import get_run, save_run
    from unpose_core.store import Store

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    n_products = n // 4
    products = pd.DataFrame({"product_id": [f"p{i:05d}" for i in range(n_products)], "title": "t",
                             "category": "Clothing", "subcategory": "Dresses", "product_type": "Dress",
                             "avg_rating": 4.0, "n_ratings": rng.integers(1, 100, n_products), "attrs": "{}"})
    pids = np.repeat(products["product_id"].to_numpy(), 4)
    hashes = [f"{i:064x}" for i in range(n)]
    images = pd.DataFrame({"product_id": pids, "position": np.tile(np.arange(1, 5), n_products),
                           "path": "x.jpg", "rel_path": "x.jpg", "content_hash": hashes, "width": 10,
                           "height": 10, "pose_label": None, "attrs": "{}"})
    store = Store(folder)
    store.replace_catalogue(products, images, pd.DataFrame(columns=["row", "product_id", "kind", "detail"]), "t")
    X, _ = _blobs(n, k=k, d=77)
    km = PoseKMeans(k, seed=0, niter=10, nredo=1).fit(X)
    _, dist = km.nearest(X)
    rows = products.set_index("product_id").loc[pids].reset_index()
    ranker = CentroidRanker(k + 1, seed=0, n_estimators=5).fit(km.labels_, rows)
    reference = pd.DataFrame({"image_id": np.sort(store.images()["image_id"].to_numpy()), "product_id": pids,
                              "content_hash": hashes, "status": "person", "pose_class": km.labels_,
                              "distance": dist})
    centroids = [{"id": c, "size": int((km.labels_ == c).sum()), "n_products": 1,
                  "kind": "no_person" if c == k else "pose", "auto_description": f"c{c}"} for c in range(k + 1)]
    info = {"backend": "blazepose", "backend_version": "synthetic", "landmark_names": list(LANDMARK_NAMES),
            "family": "blazepose33", "skeleton": [list(p) for p in SKELETON], "k": k, "embedding_dim": 77,
            "space_dim": 77, "autoencoder": False, "no_person_class": k}
    save_run(folder / "runs" / "r1", "r1", TrainConfig(k=k), info, km, ranker, reference, centroids)
    store.add_run("r1", "runs/r1", "blazepose", k, TrainConfig(k=k).to_dict(), {})
    return store, get_run(store, "r1"), X


def test_stored_map_says_it_was_fitted_on_a_sample(tmp_path, monkeypatch):
    store, run, X = _tiny_run(tmp_path / "data")
    try:
        # the pose cache is not part of this test: hand ensure_projection the run's embeddings
        monkeypatch.setattr(projection, "reference_embeddings",
                            lambda s, r: (projection.person_reference(r), X))
        proj = projection.ensure_projection(store, run, fit_max=100)
        assert proj.xy.shape == (400, 2) and np.isfinite(proj.xy).all()
        assert proj.meta["fit_sample"] == 100 and proj.meta["n_points"] == 400 and proj.meta["seconds"] >= 0
        stored = json.loads((run.path / projection.META_FILE).read_text())
        assert stored["fit_sample"] == 100 and stored["n_points"] == 400
        # a map stored before sampling existed (no such keys) reads as fitted on every point
        for key in ("fit_sample", "n_points"):
            del stored[key]
        (run.path / projection.META_FILE).write_text(json.dumps(stored))
        old = projection.load_projection(run)
        assert old is not None and old.meta["fit_sample"] == old.meta["n_points"] == 400
    finally:
        store.close()
