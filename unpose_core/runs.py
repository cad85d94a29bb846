"""A trained run is a folder of plain files, loaded back with validation.

Files: config.json, centroids*.npy / scaler*.npy, centroids.json (sizes, mean
landmarks, auto descriptions), ranker.txt (LightGBM text) + ranker_tables.json,
reference.parquet (every reference image's pose class), optional autoencoder
(safetensors + JSON) and umap.npy, and metadata.json with versions and a sha256 per
file. Nothing is pickled, so a run can be shared and loaded safely elsewhere.
"""
from __future__ import annotations

import hashlib
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
from .rank import CentroidRanker

FORMAT_VERSION = 1


class RunError(ValueError):
    """A run folder that cannot be trusted: wrong version, shape or checksum."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    info: dict
    kmeans: PoseKMeans
    ranker: CentroidRanker
    reference: pd.DataFrame
    centroids: list[dict]
    autoencoder: object | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        return self.info["k"]

    @property
    def no_person_class(self) -> int:
        return self.info["k"]   # classes 0..K-1 are poses, K is "no person"

    @property
    def n_classes(self) -> int:
        return self.info["k"] + 1

    def to_space(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw pose embeddings -> the space the centroids live in (autoencoder if any)."""
        X = np.asarray(embeddings, np.float32)
        if X.ndim != 2 or (len(X) and X.shape[1] != self.info["embedding_dim"]):
            raise RunError(f"run {self.run_id} expects {self.info['embedding_dim']}-dim embeddings, "
                           f"got shape {X.shape}")
        if self.autoencoder is not None and len(X):
            X = self.autoencoder.transform(X)
        return X

    def assign(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest centroid (class, squared distance) per raw embedding."""
        d, c = self.kmeans.transform_nearest(self.to_space(embeddings))
        return c, d

    def classify(self, poses: list[dict | None]) -> tuple[np.ndarray, np.ndarray]:
        """Pose class and squared distance per cached pose result (``Store.poses`` values):
        the nearest centroid for a person, the reserved class K for no person, and -1 (NaN
        distance) for a failed image or one with no result."""
        from .embed import embed

        classes = np.full(len(poses), -1, dtype=np.int64)
        dists = np.full(len(poses), np.nan, dtype=np.float32)
        rows = [i for i, p in enumerate(poses)
                if p is not None and p["status"] == "person" and p["landmarks"] is not None]
        classes[[i for i, p in enumerate(poses) if p is not None and p["status"] == "no_person"]] = \
            self.no_person_class
        if rows:
            c, d = self.assign(embed(np.stack([poses[i]["landmarks"] for i in rows]), self.info["family"]))
            classes[rows], dists[rows] = c, d
        return classes, dists

    def covered(self, present) -> set[int]:
        """Classes a listing showing ``present`` needs no more photos of: the present ones,
        plus their mirror images when the run treats mirrored poses as the same."""
        present = {int(c) for c in present}
        if not self.config.mirror_equivalent:
            return present
        return present | {self.centroids[c]["mirror"] for c in present
                          if c < len(self.centroids) and self.centroids[c].get("mirror") is not None}

    def umap_path(self) -> Path:
        return self.path / "umap.npy"


def save_run(folder: Path, run_id: str, config: TrainConfig, info: dict, kmeans: PoseKMeans,
             ranker: CentroidRanker, reference: pd.DataFrame, centroids: list[dict],
             autoencoder=None) -> Path:
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=False)
    files = []
    for name, arr in kmeans.state().items():
        np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
        files.append(f"{name}.npy")
    (tmp / "config.json").write_text(json.dumps({"train": config.to_dict(), "info": info}, indent=1))
    (tmp / "centroids.json").write_text(json.dumps(centroids, indent=1))
    reference.to_parquet(tmp / "reference.parquet", index=False)
    files += ["config.json", "centroids.json", "reference.parquet", *ranker.save(tmp)]
    if autoencoder is not None:
        files += autoencoder.save(tmp)
    meta = {"format_version": FORMAT_VERSION, "run_id": run_id, "created_at": time.time(),
            "versions": _versions(), "files": {f: _sha256(tmp / f) for f in files}}
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
        if _sha256(p) != digest:
            raise RunError(f"run {folder.name}: checksum mismatch for {name} (file changed or corrupt)")
    cfg = json.loads((folder / "config.json").read_text())
    info = cfg["info"]
    state = {n: np.load(folder / f"{n}.npy", allow_pickle=False)
             for n in ("centroids", "centroids_scaled", "mean", "scale")}
    k, space_dim = info["k"], info["space_dim"]
    if state["centroids"].shape != (k, space_dim) or state["centroids_scaled"].shape != (k, space_dim) \
            or state["mean"].shape != (space_dim,) or state["scale"].shape != (space_dim,):
        raise RunError(f"run {folder.name}: centroid arrays do not match K={k}, dim={space_dim}")
    ae = None
    if info.get("autoencoder"):
        from .embed.autoencoder import PoseAutoencoder
        ae = PoseAutoencoder.load(folder)
    ranker = CentroidRanker.load(folder)
    if ranker.n_classes != k + 1:
        raise RunError(f"run {folder.name}: ranker has {ranker.n_classes} classes, expected {k + 1}")
    return Run(meta["run_id"], folder, TrainConfig.from_dict(cfg["train"]), info,
               PoseKMeans.from_state(state), ranker, pd.read_parquet(folder / "reference.parquet"),
               json.loads((folder / "centroids.json").read_text()), ae, meta)


def active_run(store) -> Run:
    run_id = store.active_run_id()
    if run_id is None:
        raise LookupError("no trained run yet: run `unposed train` first")
    row = store.execute("SELECT path FROM runs WHERE run_id=?", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"active run {run_id} is not registered in the store")
    return load_run(row[0])


def get_run(store, run_id: str | None = None) -> Run:
    if run_id is None:
        return active_run(store)
    row = store.execute("SELECT path FROM runs WHERE run_id=?", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"no run {run_id!r}; `unposed runs` lists them")
    return load_run(row[0])


