"""A trained run is a folder of plain files, loaded back with validation.

Files: config.json, centroids*.npy / scaler*.npy, centroids.json (sizes, mean
landmarks, auto descriptions), ranker.txt (LightGBM text) + ranker_tables.json,
reference.parquet (every reference image's pose class), optional autoencoder
(safetensors + JSON) and umap.npy, and metadata.json with versions and a sha256 per
file. Nothing is pickled, so a run can be shared and loaded safely elsewhere.
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._version import __version__
from .cluster import PoseKMeans
from .config import TrainConfig
from .images import content_hash
from .rank import CentroidRanker
from .records import CentroidInfo, PoseRow, RunInfo, Status

FORMAT_VERSION = 1


class RunError(ValueError):
    """A run folder that cannot be trusted: wrong version, shape or checksum."""


def _versions() -> dict:
    out = {"unpose_core": __version__, "python": platform.python_version()}
    for mod in ("numpy", "faiss", "lightgbm", "mediapipe", "pandas", "torch"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # optional or broken extras should not stop a save
            pass
    return out


@dataclass
class Run:
    run_id: str
    path: Path
    config: TrainConfig
    info: RunInfo
    kmeans: PoseKMeans
    ranker: CentroidRanker
    reference: pd.DataFrame
    centroids: list[CentroidInfo]     # one per class: poses 0..K-1, then the no-person class K
    autoencoder: object | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        return self.info.k

    @property
    def no_person_class(self) -> int:
        return self.info.k   # classes 0..K-1 are poses, K is "no person"

    @property
    def n_classes(self) -> int:
        return self.info.k + 1

    def to_space(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw pose embeddings -> the space the centroids live in (autoencoder if any)."""
        X = np.asarray(embeddings, np.float32)
        if X.ndim != 2 or (len(X) and X.shape[1] != self.info.embedding_dim):
            raise RunError(f"run {self.run_id} expects {self.info.embedding_dim}-dim embeddings, "
                           f"got shape {X.shape}")
        if self.autoencoder is not None and len(X):
            X = self.autoencoder.transform(X)
        return X

    def classify(self, poses: list[PoseRow | None]) -> tuple[np.ndarray, np.ndarray]:
        """Pose class and squared distance per cached pose result (``Store.poses`` values):
        the nearest centroid for a person, the reserved class K for no person, and -1 (NaN
        distance) for a failed image or one with no result. The one way from pose rows to
        classes: suggestions, the evaluation and the app all call it."""
        from .embed import embed

        classes = np.full(len(poses), -1, dtype=np.int64)
        dists = np.full(len(poses), np.nan, dtype=np.float32)
        rows = [i for i, p in enumerate(poses) if p is not None and p.is_person]
        classes[[i for i, p in enumerate(poses) if p is not None and p.status is Status.NO_PERSON]] = \
            self.no_person_class
        if rows:
            raw = embed(np.stack([poses[i].landmarks for i in rows]), self.info.family)
            c, d = self.kmeans.nearest(self.to_space(raw))
            classes[rows], dists[rows] = c, d
        return classes, dists

    def covered(self, present) -> set[int]:
        """Classes a listing showing ``present`` needs no more photos of: the present ones,
        plus their mirror images when the run treats mirrored poses as the same."""
        present = {int(c) for c in present}
        if not self.config.mirror_equivalent:
            return present
        return present | {self.centroids[c].mirror for c in present
                          if c < len(self.centroids) and self.centroids[c].mirror is not None}

    def umap_path(self) -> Path:
        return self.path / "umap.npy"


def save_run(folder: Path, run_id: str, config: TrainConfig, info: RunInfo | dict, kmeans: PoseKMeans,
             ranker: CentroidRanker, reference: pd.DataFrame, centroids: list[CentroidInfo | dict],
             autoencoder=None) -> Path:
    folder = Path(folder)
    info = info if isinstance(info, RunInfo) else RunInfo.from_dict(info)
    centroids = [c if isinstance(c, CentroidInfo) else CentroidInfo.from_dict(c) for c in centroids]
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=False)
    files = []
    for name, arr in kmeans.state().items():
        np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
        files.append(f"{name}.npy")
    (tmp / "config.json").write_text(json.dumps({"train": config.to_dict(), "info": info.to_dict()}, indent=1))
    (tmp / "centroids.json").write_text(json.dumps([c.to_dict() for c in centroids], indent=1))
    reference.to_parquet(tmp / "reference.parquet", index=False)
    files += ["config.json", "centroids.json", "reference.parquet", *ranker.save(tmp)]
    if autoencoder is not None:
        files += autoencoder.save(tmp)
    meta = {"format_version": FORMAT_VERSION, "run_id": run_id, "created_at": time.time(),
            "versions": _versions(), "files": {f: content_hash(tmp / f) for f in files}}
    (tmp / "metadata.json").write_text(json.dumps(meta, indent=1))
    tmp.rename(folder)  # a run folder either exists whole or not at all
    return folder


def load_run(folder: str | Path) -> Run:
    folder = Path(folder)
    meta_path = folder / "metadata.json"
    if not meta_path.is_file():
        raise RunError(f"{folder} is not a run folder (no metadata.json)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise RunError(f"{meta_path} is not valid JSON: {exc}") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise RunError(f"run {folder.name} has format version {meta.get('format_version')}, "
                       f"this unposed reads {FORMAT_VERSION}")
    for name, digest in meta.get("files", {}).items():
        p = folder / name
        if not p.is_file():
            raise RunError(f"run {folder.name} is missing {name}")
        if content_hash(p) != digest:
            raise RunError(f"run {folder.name}: checksum mismatch for {name} (file changed or corrupt)")
    cfg = json.loads((folder / "config.json").read_text())
    info = RunInfo.from_dict(cfg["info"])
    state = {n: np.load(folder / f"{n}.npy", allow_pickle=False)
             for n in ("centroids", "centroids_scaled", "mean", "scale")}
    k, space_dim = info.k, info.space_dim
    if state["centroids"].shape != (k, space_dim) or state["centroids_scaled"].shape != (k, space_dim) \
            or state["mean"].shape != (space_dim,) or state["scale"].shape != (space_dim,):
        raise RunError(f"run {folder.name}: centroid arrays do not match K={k}, dim={space_dim}")
    ae = None
    if info.autoencoder:
        from .embed.autoencoder import PoseAutoencoder
        ae = PoseAutoencoder.load(folder)
    ranker = CentroidRanker.load(folder)
    if ranker.n_classes != k + 1:
        raise RunError(f"run {folder.name}: ranker has {ranker.n_classes} classes, expected {k + 1}")
    return Run(meta["run_id"], folder, TrainConfig.from_dict(cfg["train"]), info,
               PoseKMeans.from_state(state), ranker, pd.read_parquet(folder / "reference.parquet"),
               [CentroidInfo.from_dict(c) for c in json.loads((folder / "centroids.json").read_text())], ae, meta)


def active_run(store) -> Run:
    run_id = store.active_run_id()
    if run_id is None:
        raise LookupError("no trained run yet: run `unposed train` first")
    try:
        path = store.run_path(run_id)
    except LookupError:
        raise LookupError(f"active run {run_id} is not registered in the store") from None
    return load_run(path)


def get_run(store, run_id: str | None = None) -> Run:
    if run_id is None:
        return active_run(store)
    return load_run(store.run_path(run_id))
