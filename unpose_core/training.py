"""The stages wired together: what `unposed train` and the app's Train page run.

Paper Algorithm 1: reference images -> landmarks -> embeddings (-> autoencoder)
-> K-Means centroids -> LightGBM cohort ranking, saved as a run. Images without a
person are not forced into a pose cluster: they get the reserved class K.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .catalog.selection import Selection, select_sets
from .cluster import PoseKMeans
from .config import TrainConfig
from .descriptions import NO_PERSON_TEXT, carry_descriptions, describe_landmarks
from .embed import embed
from .pose import backend_info, create_backend
from .pose.extract import ExtractResult, extract_poses
from .progress import Progress, ProgressFn
from .rank import CentroidRanker
from .records import CentroidInfo, CentroidKind, RunInfo, Status
from .runs import save_run
from .store import Store


@dataclass
class ImagePoses:
    """Pose data for a set of catalogue images, aligned row by row with ``images``."""

    images: pd.DataFrame           # catalogue rows (+ status column)
    landmarks: np.ndarray          # (n_person, L, 4) for rows with status == person
    embeddings: np.ndarray         # (n_person, D)
    person_rows: np.ndarray        # indices into images of the person rows


def load_image_poses(store: Store, images: pd.DataFrame, backend: str, version: str,
                     family: str) -> ImagePoses:
    poses = store.poses(backend, version, images["content_hash"])
    images = images.reset_index(drop=True).copy()
    found = [poses.get(h) for h in images["content_hash"]]
    images["status"] = [str(p.status) if p else str(Status.PENDING) for p in found]
    images["error"] = [p.error if p else None for p in found]
    rows = np.flatnonzero([p is not None and p.is_person for p in found])
    lms = np.stack([found[i].landmarks for i in rows]) if len(rows) \
        else np.zeros((0, 1, 4), np.float32)
    emb = embed(lms, family) if len(rows) else np.zeros((0, 0), np.float32)
    return ImagePoses(images, lms, emb, rows)


@dataclass
class TrainResult:
    run_id: str
    path: Path
    selection: dict
    extract: dict | None
    summary: dict


def _report(progress: ProgressFn | None, stage: str, done: int, total: int, msg: str = "") -> None:
    if progress:
        progress(Progress(stage, done, total, msg))


def train(store: Store, config: TrainConfig | None = None, progress: ProgressFn | None = None,
          workers: int | None = None, run_id: str | None = None,
          stop: threading.Event | None = None, activate: bool = True) -> TrainResult:
    config = config or TrainConfig()
    config.validate()
    products, images = store.products(), store.images()
    if products.empty:
        raise ValueError("the catalogue is empty: run `unposed demo` or `unposed import` first")
    sel: Selection = select_sets(products, images, config.selection)
    if not sel.reference_ids:
        raise ValueError(
            f"no reference products: none of {len(products)} products has more than "
            f"{config.selection.min_images} images; lower --min-images")

    options = config.pose_options()
    backend = create_backend(options, store.data_dir)   # loaded once: extraction and the run's record
    try:
        ext: ExtractResult = extract_poses(store, options, workers=workers, progress=progress, stop=stop,
                                           backend=backend)
        info = RunInfo.from_dict(backend_info(backend))
    finally:
        backend.close()
    if ext.cancelled:
        raise InterruptedError("training cancelled during pose extraction")
    ref_images = images[images["product_id"].isin(sel.reference_ids)]
    ip = load_image_poses(store, ref_images, info.backend, info.backend_version, info.family)
    n_person = len(ip.person_rows)
    _report(progress, "train", 1, 5, f"{n_person} reference images with a person")
    if n_person < config.k:
        raise ValueError(f"only {n_person} reference images show a person; need at least K={config.k}")

    space = ip.embeddings
    ae = None
    if config.autoencoder:
        from .embed.autoencoder import PoseAutoencoder
        ae = PoseAutoencoder(seed=config.seed, **config.autoencoder_params).fit(space)
        space = ae.transform(space)
    _report(progress, "train", 2, 5, f"K-Means, K={config.k}")
    km = PoseKMeans(config.k, seed=config.seed, niter=config.niter, nredo=config.nredo).fit(space)

    k = config.k
    ref = ip.images
    classes = np.full(len(ref), -1, dtype=np.int64)
    dists = np.full(len(ref), np.nan, dtype=np.float32)
    classes[ip.person_rows] = km.labels_
    _, d = km.nearest(space)
    dists[ip.person_rows] = d
    classes[ref["status"].to_numpy() == str(Status.NO_PERSON)] = k
    usable = classes >= 0
    _report(progress, "train", 3, 5, "ranking poses per cohort")
    prod_cols = products.drop(columns=["attrs"]).set_index("product_id")
    ref_rows = ref[usable].join(prod_cols, on="product_id")
    ranker = CentroidRanker(k + 1, config.rating_weight, config.count_weight, seed=config.seed).fit(
        classes[usable], ref_rows)

    centroids: list[CentroidInfo] = []
    for c in range(k + 1):
        members = np.flatnonzero(classes == c)
        size, n_products = int(len(members)), int(ref.loc[members, "product_id"].nunique())
        if c == k:
            centroids.append(CentroidInfo(c, CentroidKind.NO_PERSON, size, n_products, NO_PERSON_TEXT))
            continue
        pos = np.flatnonzero(km.labels_ == c)
        mean_lm = ip.landmarks[pos].mean(axis=0)
        centroids.append(CentroidInfo(
            c, CentroidKind.POSE, size, n_products, describe_landmarks(mean_lm, tuple(info.landmark_names)),
            mean_landmarks=np.round(mean_lm, 5).tolist(),
            profile=np.round(ip.embeddings[pos].mean(axis=0), 6).tolist()))
    for c, partner in mirror_partners(ip.landmarks, km.labels_, k, info, ae, km).items():
        centroids[c].mirror = partner

    reference = pd.DataFrame({
        "image_id": ref["image_id"].to_numpy(), "product_id": ref["product_id"].to_numpy(),
        "content_hash": ref["content_hash"].to_numpy(), "status": ref["status"].to_numpy(),
        "pose_class": classes, "distance": dists,
    })
    run_id = run_id or time.strftime("run-%Y%m%d-%H%M%S") + f"-k{k}"
    runs_dir = store.data_dir / "runs"
    runs_dir.mkdir(exist_ok=True)
    folder = runs_dir / run_id
    n = 1
    while folder.exists() or folder.with_name(folder.name + ".partial").exists():
        n += 1
        folder = runs_dir / f"{run_id}-{n}"
    run_id = folder.name
    info.k, info.no_person_class, info.autoencoder = k, k, ae is not None
    info.extra["radii"] = cluster_radii(classes, dists, k)   # soft coverage (SuggestConfig.coverage_percentile)
    info.embedding_dim, info.space_dim = int(ip.embeddings.shape[1]), int(space.shape[1])
    _report(progress, "train", 4, 5, "saving run")
    save_run(folder, run_id, config, info, km, ranker, reference, centroids, ae)
    summary = {"n_reference_products": len(sel.reference_ids), "n_subject_products": len(sel.subject_ids),
               "n_reference_images": int(len(ref)), "n_person": n_person,
               "n_no_person": int((classes == k).sum()), "n_errors": int((ref["status"] == str(Status.ERROR)).sum()),
               "inertia": km.inertia_, "cluster_sizes": [c.size for c in centroids]}
    # relative to the data dir, so a copied or moved data dir keeps finding its runs
    store.add_run(run_id, folder.relative_to(store.data_dir), info.backend, k, config.to_dict(), summary)
    previous = store.active_run_id()
    if activate:
        store.set_active_run(run_id)
    if previous and previous != run_id:
        carry_descriptions(store, previous, run_id)
    _report(progress, "train", 5, 5, f"run {run_id} saved")
    return TrainResult(run_id, folder, sel.counts(), ext.to_dict(), summary)


RADIUS_PERCENTILES = tuple(range(0, 101, 5))


def cluster_radii(classes: np.ndarray, sq_dists: np.ndarray, k: int) -> dict:
    """Each pose cluster's typical radius: percentiles 0, 5, ..., 100 of its members' squared
    distances to the centroid (the standardised space K-Means works in). Stored in the run
    (``config.json`` info ``radii``); suggestions read them for soft coverage and confidence."""
    out = []
    for c in range(k):
        d = sq_dists[(classes == c) & np.isfinite(sq_dists)]
        out.append([round(float(v), 6) for v in np.percentile(d, RADIUS_PERCENTILES)] if len(d) else None)
    return {"percentiles": list(RADIUS_PERCENTILES), "squared": out}


def mirror_partners(landmarks: np.ndarray, labels: np.ndarray, k: int, info: RunInfo, ae, km,
                    min_share: float = 0.6) -> dict[int, int]:
    """Centroid -> the centroid its members land in when their images are mirrored, where
    at least ``min_share`` of them agree and it is another centroid."""
    from .embed import mirror_landmarks

    mirrored = embed(mirror_landmarks(landmarks, info.landmark_names), info.family)
    if ae is not None:
        mirrored = ae.transform(mirrored)
    target, _ = km.nearest(mirrored)
    partners = {}
    for c in range(k):
        hits = np.bincount(target[labels == c], minlength=k)
        if hits.sum() and hits.argmax() != c and hits.max() >= min_share * hits.sum():
            partners[c] = int(hits.argmax())
    return partners
