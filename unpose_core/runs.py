"""A trained run is a folder of plain files, loaded back with validation.

Files: config.json, centroids*.npy / scaler*.npy, centroids.json (sizes, mean
landmarks, auto descriptions), ranker.txt (LightGBM text) + ranker_tables.json,
reference.parquet (every reference image's pose class), optional autoencoder
(safetensors + JSON) and umap.npy, and metadata.json with versions and a sha256 per
file. Nothing is pickled, so a run can be shared and loaded safely elsewhere.

Loading checks every file twice: against its sha256 in metadata.json (accidental
corruption, a partial copy) and by content (shapes, finite values, class ranges, a
LightGBM model whose structure cannot crash the loader), because the checksums sit in the
same folder and a deliberate edit can rewrite them too. The store also records each run's
metadata.json digest when it registers the run, so :func:`get_run` catches an edited
metadata.json as well. A run is written to ``<run>.partial`` and renamed when complete;
:func:`remove_stale_partials` clears those left by killed trainings.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import platform
import re
import shutil
import socket
import sys
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
    """A run folder that cannot be trusted: wrong version, shape, content or checksum."""


# the files every run has (the autoencoder's come on top when the run uses one)
REQUIRED_FILES = ("config.json", "centroids.json", "reference.parquet", "ranker.txt", "ranker_tables.json",
                  "centroids.npy", "centroids_scaled.npy", "mean.npy", "scale.npy")
MAX_FILE_BYTES = 1 << 30        # no run file is near this; a bigger one is not read into memory
STALE_PARTIAL_SECONDS = 600     # a .partial folder without a live owner this old is a killed save
OWNER_FILE = ".owner.json"      # who is writing a .partial folder (removed before the rename)
REFERENCE_COLUMNS = ("image_id", "product_id", "content_hash", "status", "pose_class", "distance")

# module -> distribution, read from the installed metadata (importing torch only to read its
# version took seconds of every training)
_VERSIONED = {"numpy": "numpy", "faiss": "faiss-cpu", "lightgbm": "lightgbm", "mediapipe": "mediapipe",
              "pandas": "pandas", "torch": "torch"}


def _versions() -> dict:
    from importlib import metadata

    out = {"unpose_core": __version__, "python": platform.python_version()}
    for mod, dist in _VERSIONED.items():
        version = getattr(sys.modules.get(mod), "__version__", None)
        if version is None:
            with contextlib.suppress(Exception):   # optional or broken extras should not stop a save
                version = metadata.version(dist)
        if isinstance(version, str):
            out[mod] = version
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


@@SAVELOAD@@


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
