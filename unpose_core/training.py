"""The stages wired together: what `unposed train` and the app's Train page run.

Paper Algorithm 1: reference images -> landmarks -> embeddings (-> autoencoder)
-> K-Means centroids -> LightGBM cohort ranking, saved as a run. Images without a
person are not forced into a pose cluster: they get the reserved class of their kind (K size
chart, K+1 fabric, K+2 flat lay, K+3 other; views.ImageKind).
"""
from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .catalog.selection import Selection, select_sets
from .cluster import PoseKMeans
from .config import TrainConfig
from .descriptions import describe_landmarks, describe_views, kind_description
from .embed import embed
from .embed.views import VIEW_SUFFIX, kmeans_weights
from .identity import Action, Actor, acting
from .lineage import Activation, activate_run
from .pose import backend_info, create_backend
from .pose.extract import ExtractResult, extract_poses
from .progress import Progress, ProgressFn
from .rank import CentroidRanker
from .records import CentroidInfo, CentroidKind, RunInfo, Status
from .runs import RunError, load_run, remove_stale_partials, run_digest, save_run, view_reader_of
from .store import Store
from .views import NON_HUMAN_KINDS, ImageKind
from .views.describe import describe_images


@dataclass
class ImagePoses:
    """Pose data for a set of catalogue images, aligned row by row with ``images``."""

    images: pd.DataFrame           # catalogue rows (+ status, kind columns)
    landmarks: np.ndarray          # (n_person, L, 4) for the rows showing a person
    embeddings: np.ndarray         # (n_person, D)
    person_rows: np.ndarray        # indices into images of the person rows
    views: list = field(default_factory=list)   # views.ImageView (or None) per row of images


def load_image_poses(store: Store, images: pd.DataFrame, backend: str, version: str,
                     family: str, landmark_names, reader=None) -> ImagePoses:
    """Pose rows, views and embeddings of ``images``. A person is a row the view rules take for
    one (:func:`views.describe_image`): a pose found on a garment laid flat is not. ``reader``:
    the learned view reader that reads them (None: the view rules)."""
    poses = store.poses(backend, version, images["content_hash"])
    images = images.reset_index(drop=True).copy()
    found = [poses.get(h) for h in images["content_hash"]]
    views = describe_images(found, tuple(landmark_names), reader)
    images["status"] = [str(p.status) if p else str(Status.PENDING) for p in found]
    images["error"] = [p.error if p else None for p in found]
    images["kind"] = [None if v is None else str(v.kind) for v in views]
    rows = np.flatnonzero([p is not None and p.is_person and v is not None and v.is_person
                           for p, v in zip(found, views, strict=True)])
    lms = np.stack([found[i].landmarks for i in rows]) if len(rows) \
        else np.zeros((0, 1, 4), np.float32)
    emb = embed(lms, family, [views[i] for i in rows]) if len(rows) else np.zeros((0, 0), np.float32)
    return ImagePoses(images, lms, emb, rows, views)


@dataclass
class TrainResult:
    run_id: str
    path: Path
    selection: dict
    extract: dict | None
    summary: dict
    activation: Activation | None = None   # how it became active, what was carried (None: not activated)
    notes: list[str] = field(default_factory=list)   # what a person should know about this training

    def to_dict(self) -> dict:
        """Plain JSON: `unposed train --json` prints it, the app's train job returns it."""
        return {"run_id": self.run_id, "path": str(self.path), "selection": self.selection,
                "extract": self.extract, "summary": self.summary, "notes": self.notes,
                "activation": self.activation.to_dict() if self.activation else None}


class TrainError(ValueError):
    """No loadable run can be made from this catalogue and config: nothing was saved or activated."""


def _report(progress: ProgressFn | None, stage: str, done: int, total: int, msg: str = "") -> None:
    if progress:
        progress(Progress(stage, done, total, msg))


def train(store: Store, config: TrainConfig | None = None, progress: ProgressFn | None = None,
          workers: int | None = None, run_id: str | None = None,
          stop: threading.Event | None = None, activate: bool = True, reader="active",
          by: Actor | str | None = None) -> TrainResult:
    actor = acting(store.data_dir, by, Action.TRAIN)   # refused before any work
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
        if config.views:
            info.family += VIEW_SUFFIX
        info.kinds = [str(k) for k in NON_HUMAN_KINDS]
    finally:
        backend.close()
    if ext.cancelled:
        raise InterruptedError("training cancelled during pose extraction")
    ref_images = images[images["product_id"].isin(sel.reference_ids)]
    # the learned view reader reads the reference photos ("active": the data dir's, None: the rules)
    reader = view_reader_of(store) if isinstance(reader, str) and reader == "active" else reader
    if reader is not None and tuple(reader.options.landmark_names) != tuple(info.landmark_names):
        reader = None   # learned under another backend's landmarks: the rules read
    ip = load_image_poses(store, ref_images, info.backend, info.backend_version, info.family,
                          info.landmark_names, reader)
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
    weights = None if ae is not None else kmeans_weights(info.family, space.shape[1])
    try:
        km = PoseKMeans(config.k, seed=config.seed, niter=config.niter, nredo=config.nredo,
                        feature_weights=weights).fit(space)
    except ValueError as exc:   # too few distinct poses for K: nothing was saved or activated
        raise TrainError(f"no run made with K={config.k}: {exc}") from None
    notes = []
    if km.n_reseeded_:
        notes.append(f"K-Means left {km.n_reseeded_} cluster(s) without a member (the reference images hold "
                     f"few distinct poses for K={config.k}); each was re-seeded on the pose farthest from its "
                     f"centroid. A lower K may group these poses better.")
        _report(progress, "train", 2, 5, notes[-1])

    k = config.k
    info.k, info.no_person_class = k, k
    ref = ip.images
    classes = np.full(len(ref), -1, dtype=np.int64)
    dists = np.full(len(ref), np.nan, dtype=np.float32)
    classes[ip.person_rows] = km.labels_
    _, d = km.nearest(space)
    dists[ip.person_rows] = d
    for i, v in enumerate(ip.views):   # images without a person: the class of their kind
        if v is not None and not (v.is_person and classes[i] >= 0):
            classes[i] = k + info.kinds.index(str(v.kind)) if str(v.kind) in info.kinds else k
    n_classes = info.n_classes
    usable = classes >= 0
    _report(progress, "train", 3, 5, "ranking poses per cohort")
    prod_cols = products.drop(columns=["attrs"]).set_index("product_id")
    ref_rows = ref[usable].join(prod_cols, on="product_id")
    ranker = CentroidRanker(n_classes, config.rating_weight, config.count_weight, seed=config.seed).fit(
        classes[usable], ref_rows)

    centroids = centroid_infos(classes, ip, km.labels_, info)
    person_views = [ip.views[i] for i in ip.person_rows]
    for c, partner in mirror_partners(ip.landmarks, km.labels_, k, info, ae, km, person_views).items():
        centroids[c].mirror = partner

    reference = pd.DataFrame({
        "image_id": ref["image_id"].to_numpy(), "product_id": ref["product_id"].to_numpy(),
        "content_hash": ref["content_hash"].to_numpy(), "status": ref["status"].to_numpy(),
        "pose_class": classes, "distance": dists,
        # what each image shows (views.describe_image), kept so pages need not recompute it
        "kind": [None if v is None else str(v.kind) for v in ip.views],
        "facing": [None if v is None or v.facing is None else str(v.facing) for v in ip.views],
        "framing": [None if v is None or v.framing is None else str(v.framing) for v in ip.views],
        "view": [None if v is None else v.label for v in ip.views],
        "pose_missed": [bool(v is not None and v.pose_missed) for v in ip.views],
        "flags": [" ".join(v.flags) if v is not None else "" for v in ip.views],
    })
    run_id = run_id or time.strftime("run-%Y%m%d-%H%M%S") + f"-k{k}"
    runs_dir = store.data_dir / "runs"
    runs_dir.mkdir(exist_ok=True)
    remove_stale_partials(runs_dir)   # half-written runs of killed trainings (a live save is kept)
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
    save_run(folder, run_id, config, info, km, ranker, reference, centroids, ae,
             view_reader=None if reader is None else reader.id_)
    # never register or activate a run that cannot be loaded: it is read back, as every later
    # `suggest` and `report` will read it, and removed when that fails (the previous run stays active)
    try:
        saved = load_run(folder)
    except RunError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise TrainError(f"training made run {run_id}, but it cannot be loaded back, so it was removed and not "
                         f"activated (the active run is unchanged): {exc}") from None
    summary = {"n_reference_products": len(sel.reference_ids), "n_subject_products": len(sel.subject_ids),
               "n_reference_images": int(len(ref)), "n_person": n_person,
               "n_no_person": int((classes >= k).sum()),
               "n_by_kind": {kd: int((classes == k + i).sum()) for i, kd in enumerate(info.kinds)},
               "n_errors": int((ref["status"] == Status.ERROR).sum()),
               "inertia": km.inertia_, "cluster_sizes": [c.size for c in centroids],
               "reseeded_clusters": km.n_reseeded_,
               # get_run checks it: an edited metadata.json (with its checksums redone) is refused
               "metadata_sha256": run_digest(folder)}
    # relative to the data dir, so a copied or moved data dir keeps finding its runs
    store.add_run(run_id, folder.relative_to(store.data_dir), info.backend, k, config.to_dict(), summary)
    # the folder is complete and registered: activation and carry-over now, in one transaction
    # (a LineageError leaves the run saved but not active, the previous one active with its labels)
    activation = None
    if activate:   # the run as loaded back above: no third read
        activation = activate_run(store, run_id, run=saved, by=actor, needs=Action.TRAIN)
    else:
        store.record_audit(actor.name, actor.role.value, actor.via, Action.TRAIN.value, f"run {run_id}", {"k": k})
    _report(progress, "train", 5, 5, f"run {run_id} saved" + (" and active" if activation else ""))
    return TrainResult(run_id, folder, sel.counts(), ext.to_dict(), summary, activation, notes)


def centroid_infos(classes: np.ndarray, ip: ImagePoses, labels: np.ndarray, info: RunInfo) -> list[CentroidInfo]:
    """One record per class of a run: size and products, the automatic description (the view its
    images agree on, else words from the mean landmarks), mean landmarks and mean raw embedding
    for a pose; the kind and its description for a class without a person. ``classes`` align with
    ``ip.images``; ``labels`` are K-Means' labels of ``ip``'s person rows."""
    k, ref = info.k, ip.images
    out: list[CentroidInfo] = []
    for c in range(info.n_classes):
        members = np.flatnonzero(classes == c)
        size, n_products = int(len(members)), int(ref.loc[members, "product_id"].nunique())
        if c >= k:
            kind = ImageKind(info.kinds[c - k])
            out.append(CentroidInfo(c, CentroidKind.NO_PERSON, size, n_products, kind_description(kind),
                                    image_kind=str(kind)))
            continue
        pos = np.flatnonzero(labels == c)
        if not len(pos):   # PoseKMeans re-seeds empty clusters: a mean of nothing would be NaN in the run
            raise TrainError(f"pose cluster {c} has no member; lower K (K={k})")
        mean_lm = ip.landmarks[pos].mean(axis=0)
        auto = describe_views([ip.views[ip.person_rows[i]] for i in pos]) \
            or describe_landmarks(mean_lm, tuple(info.landmark_names))
        out.append(CentroidInfo(c, CentroidKind.POSE, size, n_products, auto,
                                mean_landmarks=np.round(mean_lm, 5).tolist(),
                                profile=np.round(ip.embeddings[pos].mean(axis=0), 6).tolist()))
    return out


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
                    views: list | None = None, min_share: float = 0.6) -> dict[int, int]:
    """Centroid -> the centroid its members land in when their images are mirrored, where
    at least ``min_share`` of them agree and it is another centroid."""
    from .embed import mirror_landmarks, mirror_view_embedding, split_family

    base, with_view = split_family(info.family)
    mirrored = embed(mirror_landmarks(landmarks, info.landmark_names), base)
    if with_view:   # the view dimensions of a mirrored image: yaw -> -yaw
        own = embed(landmarks, info.family, views)
        mirrored = np.concatenate([mirrored, mirror_view_embedding(own[:, mirrored.shape[1]:])], axis=1)
    if ae is not None:
        mirrored = ae.transform(mirrored)
    target, _ = km.nearest(mirrored)
    partners = {}
    for c in range(k):
        hits = np.bincount(target[labels == c], minlength=k)
        if hits.sum() and hits.argmax() != c and hits.max() >= min_share * hits.sum():
            partners[c] = int(hits.argmax())
    return partners
