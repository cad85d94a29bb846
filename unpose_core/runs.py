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
from .embed.views import kmeans_weights, split_family
from .images import content_hash
from .rank import COHORT_LEVELS, CentroidRanker
from .ranker_file import check_lightgbm_model
from .records import CentroidInfo, CentroidKind, PoseRow, RunInfo, Status
from .views import NON_HUMAN_KINDS, RULES_VERSION, ImageKind
from .views.describe import ImageView, describe_images
from .views.reader import ViewReader, load_reader

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


def _versions(view_reader: str | None = None) -> dict:
    from importlib import metadata

    out = {"unpose_core": __version__, "view_rules": RULES_VERSION, "view_reader": view_reader,
           "python": platform.python_version()}
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
    reader: ViewReader | None = None   # the learned view reader that reads listings (None: the rules)

    @property
    def k(self) -> int:
        return self.info.k

    @property
    def view_rules_note(self) -> str | None:
        """A note when the run was trained with other view-reading rules than this code's (runs
        saved before the version was recorded count as 1), else None."""
        notes = []
        versions = self.metadata.get("versions") or {}
        trained = int(versions.get("view_rules", 1))
        if trained != RULES_VERSION:
            notes.append(f"run {self.run_id} was trained with view rules v{trained} and this listing is read with "
                         f"v{RULES_VERSION}: retrain so its reference photos and your images are read alike")
        read_by, reads = versions.get("view_reader"), None if self.reader is None else self.reader.id_
        if read_by != reads:
            notes.append(f"run {self.run_id}'s reference photos were read by "
                         f"{'view reader ' + read_by if read_by else 'the view rules'} and this listing by "
                         f"{'view reader ' + reads if reads else 'the view rules'}: retrain so both are read alike")
        return " ".join(notes) or None

    @property
    def no_person_class(self) -> int:
        """The first class without a person (K). Runs with image kinds have one such class per
        kind (:attr:`non_human_classes`); runs made before them, this one catch-all class."""
        return self.info.k

    @property
    def n_classes(self) -> int:
        return self.info.n_classes

    @property
    def non_human_classes(self) -> range:
        """Classes K, K+1, ...: images without a person, one per kind in ``info.kinds``."""
        return range(self.info.k, self.info.n_classes)

    def is_pose(self, c: int) -> bool:
        return 0 <= int(c) < self.info.k

    def kind_of_class(self, c: int) -> ImageKind | None:
        """The image kind of a class without a person; None for a pose class or the catch-all
        class of an older run."""
        i = int(c) - self.info.k
        return ImageKind(self.info.kinds[i]) if 0 <= i < len(self.info.kinds) else None

    def class_tag(self, c: int) -> str:
        """How every surface writes a class id: its number for a pose, ∅ and the kind for a class
        without a person (∅size_chart, ∅fabric, ∅flat_lay, ∅other; plain ∅ in older runs)."""
        if self.is_pose(c):
            return str(int(c))
        kind = self.kind_of_class(c)
        return "∅" if kind is None else f"∅{kind.value}"

    def class_of_kind(self, kind: ImageKind | str) -> int:
        """The class that holds images of ``kind`` without a person (the catch-all class K in
        runs made before image kinds, and for a kind the run does not know)."""
        kind = str(kind)
        return self.info.k + self.info.kinds.index(kind) if kind in self.info.kinds else self.info.k

    def describe(self, poses: list[PoseRow | None]) -> list[ImageView | None]:
        """What each image shows (:func:`views.describe_images` under this run's landmarks, with
        the run's view reader when it has one)."""
        return describe_images(poses, tuple(self.info.landmark_names), self.reader)

    def to_space(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw pose embeddings -> the space the centroids live in (autoencoder if any)."""
        X = np.asarray(embeddings, np.float32)
        if X.ndim != 2 or (len(X) and X.shape[1] != self.info.embedding_dim):
            raise RunError(f"run {self.run_id} expects {self.info.embedding_dim}-dim embeddings, "
                           f"got shape {X.shape}")
        if self.autoencoder is not None and len(X):
            X = self.autoencoder.transform(X)
        return X

    def space_weights(self) -> np.ndarray | None:
        """The K-Means feature weights of this run's space (the view dimensions' weight; none for
        an autoencoder's code or an embedding without views)."""
        return None if self.autoencoder is not None else kmeans_weights(self.info.family, self.info.space_dim)

    def embed(self, poses: list[PoseRow], views: list[ImageView | None] | None = None) -> np.ndarray:
        """Raw embeddings of person rows in this run's family (views computed when not given)."""
        from .embed import embed

        if not poses:
            return np.zeros((0, self.info.embedding_dim), np.float32)
        if views is None and split_family(self.info.family)[1]:
            views = self.describe(poses)
        return embed(np.stack([p.landmarks for p in poses]), self.info.family, views)

    def person_space(self, poses: list[PoseRow | None],
                      views: list[ImageView | None] | None = None) -> tuple[list[int], np.ndarray]:
        """(indices of the rows showing a person, their points in the space the centroids live in):
        computed once per batch of rows, shared by ``classify`` and the distances to every centroid."""
        views = self.describe(poses) if views is None else views
        rows = [i for i, (p, v) in enumerate(zip(poses, views, strict=True))
                if p is not None and v is not None and p.is_person and v.is_person]
        if not rows:
            return rows, np.zeros((0, self.info.space_dim), np.float32)
        return rows, self.to_space(self.embed([poses[i] for i in rows], [views[i] for i in rows]))

    def classify(self, poses: list[PoseRow | None], views: list[ImageView | None] | None = None,
                 space: tuple[list[int], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pose class and squared distance per cached pose result (``Store.poses`` values):
        the nearest centroid for a person, the class of its kind for an image without one
        (a pose the view rules find implausible, e.g. a garment laid flat, counts as without),
        and -1 (NaN distance) for a failed image or one with no result. The one way from pose
        rows to classes: suggestions, the evaluation and the app all call it. ``space``: the
        rows' :meth:`person_space`, when the caller has computed it already."""
        views = self.describe(poses) if views is None else views
        classes = np.full(len(poses), -1, dtype=np.int64)
        dists = np.full(len(poses), np.nan, dtype=np.float32)
        rows, X = self.person_space(poses, views) if space is None else space
        for i, (p, v) in enumerate(zip(poses, views, strict=True)):
            if p is not None and v is not None and not (v.is_person and p.is_person):
                classes[i] = self.class_of_kind(v.kind)
        if rows:
            c, d = self.kmeans.nearest(X)
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


# -- saving -----------------------------------------------------------------------------------

def _proc_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc on Linux), so a reused
    pid is not taken for the process that wrote an owner file; None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]   # field 22, counted after the command name
    except (OSError, IndexError):
        return None


def _write_owner(tmp: Path) -> None:
    (tmp / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                              "started": _proc_start(os.getpid()), "at": time.time()}))


def _owner_alive(partial: Path) -> bool | None:
    """Whether the process writing ``partial`` lives: True / False, or None when its owner
    file is missing, unreadable or from another host."""
    try:
        owner = json.loads((partial / OWNER_FILE).read_text())
        pid = int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if owner.get("host") != socket.gethostname() or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # alive, another user's
        return True
    except OSError:
        return None
    started = owner.get("started")
    return not (started is not None and _proc_start(pid) not in (None, started))   # False: pid reused


def remove_stale_partials(runs_dir: str | Path, max_age: float = STALE_PARTIAL_SECONDS) -> list[Path]:
    """Remove the ``*.partial`` folders killed trainings left in ``runs_dir``: those whose writer
    is dead, and those without a readable owner untouched for ``max_age`` seconds (a save takes
    seconds). A save in progress -- its writer alive -- is left alone. Returns what was removed."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    removed, now = [], time.time()
    for d in sorted(runs_dir.glob("*.partial")):
        if d.is_symlink() or not d.is_dir():
            continue
        alive = _owner_alive(d)
        if alive is None:
            try:
                touched = max([d.stat().st_mtime] + [f.lstat().st_mtime for f in d.iterdir()])
            except OSError:
                continue
            if now - touched < max_age:
                continue
        elif alive:
            continue
        shutil.rmtree(d, ignore_errors=True)
        if not d.exists():
            removed.append(d)
    return removed


def save_run(folder: Path, run_id: str, config: TrainConfig, info: RunInfo | dict, kmeans: PoseKMeans,
             ranker: CentroidRanker, reference: pd.DataFrame, centroids: list[CentroidInfo | dict],
             autoencoder=None, view_reader: str | None = None) -> Path:
    """``view_reader``: the id of the learned view reader that read the reference photos."""
    folder = Path(folder)
    info = info if isinstance(info, RunInfo) else RunInfo.from_dict(info)
    centroids = [c if isinstance(c, CentroidInfo) else CentroidInfo.from_dict(c) for c in centroids]
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=False)
    try:
        _write_owner(tmp)   # so a later training can tell this save from one a kill left behind
        files = []
        for name, arr in kmeans.state().items():
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
            files.append(f"{name}.npy")
        (tmp / "config.json").write_text(json.dumps({"train": config.to_dict(), "info": info.to_dict()},
                                                    indent=1))
        (tmp / "centroids.json").write_text(json.dumps([c.to_dict() for c in centroids], indent=1))
        reference.to_parquet(tmp / "reference.parquet", index=False)
        files += ["config.json", "centroids.json", "reference.parquet", *ranker.save(tmp)]
        if autoencoder is not None:
            files += autoencoder.save(tmp)
        meta = {"format_version": FORMAT_VERSION, "run_id": run_id, "created_at": time.time(),
                "versions": _versions(view_reader), "files": {f: content_hash(tmp / f) for f in files}}
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=1))
        (tmp / OWNER_FILE).unlink()
        tmp.rename(folder)  # a run folder either exists whole or not at all
    except BaseException:   # failed or interrupted (Ctrl-C, SIGTERM): leave no half-written run
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def run_digest(folder: str | Path) -> str:
    """sha256 of a run's metadata.json (which holds every other file's sha256): what the store
    records when it registers the run, and :func:`get_run` checks."""
    return content_hash(Path(folder) / "metadata.json")


# -- loading: checksums, then content -----------------------------------------------------------

def load_run(folder: str | Path, metadata_sha256: str | None = None) -> Run:
    """Load and validate a run folder; anything untrustworthy -> :class:`RunError` (never a crash).

    ``metadata_sha256``: the digest the store recorded for this run (:func:`run_digest`), if
    any; a different metadata.json is refused."""
    folder = Path(folder)
    try:
        return _load_run(folder, metadata_sha256)
    except RunError:
        raise
    except Exception as exc:   # any other failure reading the files is still an untrustworthy run
        raise RunError(f"run {folder.name} cannot be read: {type(exc).__name__}: {exc}") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path, what: str) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise RunError(f"{what} is {size} bytes, more than a run file can be ({MAX_FILE_BYTES})")
    return path.read_bytes()


def _member(folder: Path, root: Path, name: object, run: str) -> Path:
    """The path of a file listed in metadata.json, which must be a plain file name inside the run
    folder: no separators, no '..', not absolute, no symlink leading out of the folder."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name \
            or "\x00" in name or name != name.strip() or Path(name).is_absolute() or Path(name).name != name:
        raise RunError(f"run {run}: metadata.json lists {name!r}, which is not a plain file name inside the "
                       "run folder")
    path = folder / name
    if path.is_symlink():
        target = path.resolve()
        if root not in target.parents:
            raise RunError(f"run {run}: {name} is a symlink pointing outside the run folder ({target})")
    if not path.is_file():
        raise RunError(f"run {run} is missing {name}")
    return path


def _json(data: bytes, name: str, run: str, kind: type):
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RunError(f"run {run}: {name} is not valid JSON: {exc}") from None
    if not isinstance(obj, kind):
        raise RunError(f"run {run}: {name} holds a {type(obj).__name__}, expected a {kind.__name__}")
    return obj


def _is_int(v, lo: int | None = None, hi: int | None = None) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite_array(v, what: str, run: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise RunError(f"run {run}: {what} is not a numeric array") from None
    if arr.ndim != ndim:
        raise RunError(f"run {run}: {what} has {arr.ndim} dimensions, expected {ndim}")
    if not np.isfinite(arr).all():
        raise RunError(f"run {run}: {what} holds NaN or infinite values")
    return arr


def _npy(data: bytes, name: str, run: str) -> np.ndarray:
    """A float array from .npy bytes, its header checked against its size before anything is
    allocated; NaN and infinity refused."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format version {version}")
    except Exception as exc:
        raise RunError(f"run {run}: {name} is not a valid .npy array: {exc}") from None
    if dtype.kind != "f" or dtype.itemsize not in (4, 8) or dtype.hasobject:
        raise RunError(f"run {run}: {name} holds {dtype}, expected float32 or float64")
    count = math.prod(shape)
    if len(data) - f.tell() != count * dtype.itemsize:
        raise RunError(f"run {run}: {name} declares shape {shape} but holds {len(data) - f.tell()} bytes of data")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=f.tell()).reshape(shape, order="F" if fortran else "C")
    if not np.isfinite(arr).all():
        raise RunError(f"run {run}: {name} holds NaN or infinite values")
    return arr.astype(np.float32)


def _check_config(cfg: dict, run: str) -> tuple[TrainConfig, RunInfo]:
    if not isinstance(cfg.get("train"), dict) or not isinstance(cfg.get("info"), dict):
        raise RunError(f"run {run}: config.json needs 'train' and 'info' objects")
    try:
        info = RunInfo.from_dict(cfg["info"])
        train = TrainConfig.from_dict(cfg["train"])
    except (TypeError, ValueError, KeyError) as exc:
        raise RunError(f"run {run}: config.json cannot be read: {exc}") from None
    bad = []
    if not isinstance(info.backend, str) or not info.backend or not isinstance(info.backend_version, str):
        bad.append("backend and backend_version must be text")
    if not isinstance(info.family, str):
        bad.append("family must be text")
    known = [str(k) for k in NON_HUMAN_KINDS]
    if not isinstance(info.kinds, list) or not all(k in known for k in info.kinds) \
            or len(set(info.kinds)) != len(info.kinds):
        bad.append(f"kinds must list distinct image kinds of {known}")
    if not _is_int(info.k, 1, 100_000):
        bad.append(f"k={info.k!r} is not a whole number >= 1")
    for dim in ("embedding_dim", "space_dim"):
        if not _is_int(getattr(info, dim), 1, 100_000):
            bad.append(f"{dim}={getattr(info, dim)!r} is not a whole number >= 1")
    if not isinstance(info.autoencoder, bool):
        bad.append("autoencoder must be true or false")
    elif not info.autoencoder and info.space_dim != info.embedding_dim:
        bad.append(f"space_dim={info.space_dim} differs from embedding_dim={info.embedding_dim} without an autoencoder")
    names = info.landmark_names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        bad.append("landmark_names must be a list of names")
    elif not isinstance(info.skeleton, list) or not all(
            isinstance(e, list) and len(e) == 2 and all(_is_int(i, 0, max(len(names) - 1, 0)) for i in e)
            for e in info.skeleton):
        bad.append("skeleton must be pairs of landmark indices")
    if bad:
        raise RunError(f"run {run}: config.json: " + "; ".join(bad))
    return train, info


def _check_config_links(train: TrainConfig, info: RunInfo, run: str) -> None:
    """What config.json says about K elsewhere agrees with it (checked after the arrays, whose
    shapes name a wrong K most plainly)."""
    k = info.k
    if info.no_person_class is not None and info.no_person_class != k:
        raise RunError(f"run {run}: config.json: no_person_class={info.no_person_class!r} is not K={k}")
    if not _is_int(train.k) or train.k != k:
        raise RunError(f"run {run}: config.json: the training config's k={train.k!r} differs from the run's K={k}")
    radii = info.extra.get("radii")
    if radii is not None:
        pcts, sq = (radii.get("percentiles"), radii.get("squared")) if isinstance(radii, dict) else (None, None)
        ok = isinstance(pcts, list) and all(_is_num(p) and 0 <= p <= 100 for p in pcts) and pcts == sorted(pcts) \
            and isinstance(sq, list) and len(sq) == k and all(
                r is None or (isinstance(r, list) and len(r) == len(pcts)
                              and all(_is_num(v) and math.isfinite(v) and v >= 0 for v in r)) for r in sq)
        if not ok:
            raise RunError(f"run {run}: config.json: radii must hold K={k} lists of finite squared distances, "
                           "one per stored percentile")


def _check_centroids(items: list, info: RunInfo, run: str) -> list[CentroidInfo]:
    k, n = info.k, info.n_classes
    if len(items) != n:
        raise RunError(f"run {run}: centroids.json has {len(items)} entries, K={k} needs {n} "
                       f"(K poses and {n - k} class(es) without a person)")
    out = []
    for i, d in enumerate(items):
        try:
            c = CentroidInfo.from_dict(d)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise RunError(f"run {run}: centroids.json entry {i} cannot be read: {exc}") from None
        where = f"run {run}: centroids.json entry {i}"
        kind = CentroidKind.POSE if i < k else CentroidKind.NO_PERSON
        if c.id != i or c.kind is not kind:
            raise RunError(f"{where} is id {c.id!r}, kind {c.kind}; expected id {i}, kind {kind}")
        want_kind = info.kinds[i - k] if i >= k and info.kinds else None
        if c.image_kind != want_kind:
            raise RunError(f"{where} has image kind {c.image_kind!r}; config.json's kinds say {want_kind!r}")
        if not _is_int(c.size, 0) or not _is_int(c.n_products, 0) or not isinstance(c.auto_description, str):
            raise RunError(f"{where}: size and n_products must be whole numbers >= 0, auto_description text")
        if c.mean_landmarks is not None:
            lm = _finite_array(c.mean_landmarks, f"centroids.json entry {i} mean_landmarks", run, 2)
            if info.landmark_names and lm.shape[0] != len(info.landmark_names):
                raise RunError(f"{where}: mean_landmarks has {lm.shape[0]} rows, the run has "
                               f"{len(info.landmark_names)} landmarks")
        if c.profile is not None:
            prof = _finite_array(c.profile, f"centroids.json entry {i} profile", run, 1)
            if len(prof) != info.embedding_dim:
                raise RunError(f"{where}: profile has {len(prof)} values, embeddings have {info.embedding_dim}")
        if c.mirror is not None and (not _is_int(c.mirror, 0, k - 1) or c.mirror == i):
            raise RunError(f"{where}: mirror {c.mirror!r} is not another pose class of 0..{k - 1}")
        out.append(c)
    return out


def _check_reference(ref: pd.DataFrame, centroids: list[CentroidInfo], k: int, run: str) -> None:
    missing = [c for c in REFERENCE_COLUMNS if c not in ref.columns]
    if missing:
        raise RunError(f"run {run}: reference.parquet lacks column(s) {', '.join(missing)}")
    pc = ref["pose_class"]
    if not pd.api.types.is_integer_dtype(pc):
        raise RunError(f"run {run}: reference.parquet pose_class is {pc.dtype}, expected whole numbers")
    n = len(centroids)
    if len(pc) and (pc.min() < -1 or pc.max() >= n):
        raise RunError(f"run {run}: reference.parquet pose_class spans {pc.min()}..{pc.max()}, "
                       f"outside -1..{n - 1} (K={k})")
    try:
        dist = pd.to_numeric(ref["distance"]).to_numpy(np.float64)
    except (TypeError, ValueError):
        raise RunError(f"run {run}: reference.parquet distance is not numeric") from None
    person = ((pc >= 0) & (pc < k)).to_numpy()
    if not (np.isfinite(dist[person]).all() and (dist[person] >= 0).all()):
        raise RunError(f"run {run}: reference.parquet has a pose image without a finite distance >= 0")
    # the distinct values only: iterating a million strings one by one cost a second per load
    statuses = {str(v) for v in ref["status"].dropna().unique()} - {str(s) for s in Status}
    if statuses or ref["status"].isna().any():
        raise RunError(f"run {run}: reference.parquet has unknown status values {sorted(statuses)[:5]}")
    sizes = np.bincount(pc[pc >= 0].to_numpy(np.int64), minlength=n)
    listed = [c.size for c in centroids]
    if sizes.tolist() != listed:
        raise RunError(f"run {run}: class sizes in reference.parquet {sizes.tolist()} differ from centroids.json "
                       f"{listed}")


def _check_ranker_tables(t: dict, n_classes: int, run: str) -> None:
    where = f"run {run}: ranker_tables.json"
    n = t.get("n_classes")
    if n != n_classes:
        raise RunError(f"run {run}: ranker has {n} classes, expected {n_classes}")
    params = t.get("params")
    if not isinstance(params, dict) or not all(_is_num(params.get(p)) and math.isfinite(params[p])
                                               and params[p] >= 0 for p in ("rating_weight", "count_weight")) \
            or not _is_int(params.get("seed")):
        raise RunError(f"{where}: params need finite rating_weight, count_weight >= 0 and a whole-number seed")
    vocab = t.get("vocab")
    if not isinstance(vocab, dict) or not all(
            isinstance(vocab.get(c), list) and all(isinstance(v, str) for v in vocab[c]) for c in COHORT_LEVELS):
        raise RunError(f"{where}: vocab needs a list of names for each of {', '.join(COHORT_LEVELS)}")
    tables = t.get("tables")
    if not isinstance(tables, dict) or "*" not in tables:
        raise RunError(f"{where}: no global ('*') cohort table")
    for key, tab in tables.items():
        ok = isinstance(tab, dict) and isinstance(tab.get("level"), str) and _is_int(tab.get("n_products"), 0) \
            and isinstance(tab.get("score"), list) and len(tab["score"]) == n \
            and all(s is None or _is_num(s) for s in tab["score"]) \
            and isinstance(tab.get("support"), list) and len(tab["support"]) == n \
            and all(_is_num(s) and 0 <= s <= 1 for s in tab["support"]) \
            and (tab.get("products") is None or (isinstance(tab["products"], list)
                                                 and all(isinstance(p, str) for p in tab["products"])))
        if not ok:
            raise RunError(f"{where}: cohort table {str(key)[:80]!r} needs a level, n_products and {n} scores "
                           "and supports (supports within 0..1)")
    pcs = t.get("product_classes")
    if pcs is not None and not (isinstance(pcs, dict) and all(
            isinstance(v, list) and all(_is_int(c, 0, n - 1) for c in v) for v in pcs.values())):
        raise RunError(f"{where}: product_classes must map products to classes of 0..{n - 1}")


def _load_run(folder: Path, metadata_sha256: str | None) -> Run:
    run = folder.name
    meta_path = folder / "metadata.json"
    if not meta_path.is_file():
        raise RunError(f"{folder} is not a run folder (no metadata.json)")
    raw_meta = _read(meta_path, f"run {run}: metadata.json")
    if metadata_sha256 and _sha256(raw_meta) != metadata_sha256:
        raise RunError(f"run {run}: metadata.json differs from the one recorded when the run was registered "
                       "(edited after training?); restore the original folder or train again")
    meta = _json(raw_meta, "metadata.json", run, dict)
    if meta.get("format_version") != FORMAT_VERSION:
        raise RunError(f"run {run} has format version {meta.get('format_version')}, "
                       f"this unposed reads {FORMAT_VERSION}")
    files = meta.get("files")
    if not isinstance(files, dict) or not isinstance(meta.get("run_id"), str):
        raise RunError(f"run {run}: metadata.json needs a run_id and a 'files' object of name -> sha256")
    root = folder.resolve()
    paths = {name: _member(folder, root, name, run) for name in files}
    unlisted = [f for f in REQUIRED_FILES if f not in files]
    if unlisted:
        raise RunError(f"run {run}: metadata.json has no checksum for {', '.join(unlisted)}")
    data: dict[str, bytes] = {}
    for name, digest in files.items():
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise RunError(f"run {run}: metadata.json has no valid sha256 for {name}")
        data[name] = _read(paths[name], f"run {run}: {name}")
        if _sha256(data[name]) != digest.lower():
            raise RunError(f"run {run}: checksum mismatch for {name} (file changed or corrupt)")

    # content: every file read once (the bytes just checksummed), checked before it is used
    train_cfg, info = _check_config(_json(data["config.json"], "config.json", run, dict), run)
    k, space_dim = info.k, info.space_dim
    state = {n: _npy(data[f"{n}.npy"], f"{n}.npy", run) for n in ("centroids", "centroids_scaled", "mean", "scale")}
    if state["centroids"].shape != (k, space_dim) or state["centroids_scaled"].shape != (k, space_dim) \
            or state["mean"].shape != (space_dim,) or state["scale"].shape != (space_dim,):
        raise RunError(f"run {run}: centroid arrays do not match K={k}, dim={space_dim} "
                       f"(centroids {state['centroids'].shape}, scaled {state['centroids_scaled'].shape}, "
                       f"mean {state['mean'].shape}, scale {state['scale'].shape})")
    _check_config_links(train_cfg, info, run)
    if not (state["scale"] > 0).all():
        raise RunError(f"run {run}: scale.npy has values <= 0")
    rebuilt = state["centroids_scaled"] * state["scale"] + state["mean"]
    if not np.allclose(rebuilt, state["centroids"], rtol=1e-3, atol=1e-3 * (1 + float(np.abs(rebuilt).max()))):
        raise RunError(f"run {run}: centroids.npy does not match centroids_scaled.npy x scale + mean")
    centroids = _check_centroids(_json(data["centroids.json"], "centroids.json", run, list), info, run)
    try:
        reference = pd.read_parquet(io.BytesIO(data["reference.parquet"]))
    except Exception as exc:
        raise RunError(f"run {run}: reference.parquet cannot be read: {exc}") from None
    _check_reference(reference, centroids, k, run)
    _check_ranker_tables(_json(data["ranker_tables.json"], "ranker_tables.json", run, dict), info.n_classes, run)
    try:
        n_trees = check_lightgbm_model(data["ranker.txt"].decode("ascii"), n_features=1 + len(COHORT_LEVELS))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RunError(f"run {run}: ranker.txt is not a valid LightGBM model: {exc}") from None

    ae = None
    if info.autoencoder:
        from .embed.autoencoder import CONFIG_FILE, WEIGHTS_FILE, PoseAutoencoder
        unlisted = [f for f in (WEIGHTS_FILE, CONFIG_FILE) if f not in files]
        if unlisted:
            raise RunError(f"run {run}: metadata.json has no checksum for {', '.join(unlisted)}")
        try:
            ae = PoseAutoencoder.load(folder)
            code = ae.transform(np.zeros((1, info.embedding_dim), np.float32))
        except Exception as exc:
            raise RunError(f"run {run}: the autoencoder cannot be loaded: {exc}") from None
        if np.shape(code) != (1, space_dim) or not np.isfinite(code).all():
            raise RunError(f"run {run}: the autoencoder maps to shape {np.shape(code)}, the centroids live in "
                           f"{space_dim} dims")
    # ranker.txt was validated above, so LightGBM only ever parses a structurally sound model
    try:
        ranker = CentroidRanker.load(folder)
        if ranker.booster_.num_trees() != n_trees or ranker.booster_.num_feature() != 1 + len(COHORT_LEVELS):
            raise ValueError(f"LightGBM read {ranker.booster_.num_trees()} trees over "
                             f"{ranker.booster_.num_feature()} features")
    except Exception as exc:
        raise RunError(f"run {run}: ranker.txt cannot be loaded: {exc}") from None
    if ranker.n_classes != info.n_classes:
        raise RunError(f"run {run}: ranker has {ranker.n_classes} classes, expected {info.n_classes}")
    return Run(meta["run_id"], folder, train_cfg, info, PoseKMeans.from_state(state), ranker, reference,
               centroids, ae, meta)


def load_registered(store, run_id: str) -> Run:
    """A run the store knows, checked also against the metadata.json digest recorded when it was
    registered (runs registered before digests were recorded have none to check)."""
    rec = store.run(run_id)
    digest = rec.summary.get("metadata_sha256") if isinstance(rec.summary, dict) else None
    run = load_run(rec.path, metadata_sha256=digest if isinstance(digest, str) else None)
    run.reader = view_reader_of(store)   # listings are read with the data dir's view reader
    return run


def active_run(store) -> Run:
    run_id = store.active_run_id()
    if run_id is None:
        raise LookupError("no trained run yet: run `unposed train` first")
    try:
        store.run(run_id)
    except LookupError:
        raise LookupError(f"active run {run_id} is not registered in the store") from None
    return load_registered(store, run_id)


def get_run(store, run_id: str | None = None) -> Run:
    """A registered run (the active one by default), reading with the data dir's view reader."""
    return active_run(store) if run_id is None else load_registered(store, run_id)


_READERS: dict[str, ViewReader] = {}
_INF = re.compile(r"(?<=[= ])(-?)inf(?=[ \n])")


def check_reader_model(text: str) -> int:
    """:func:`check_lightgbm_model` for a view reader's multiclass model. LightGBM writes an
    infinite split threshold ("inf") where a split sends every value one way; those are checked
    as a large finite number of the same length (so ``tree_sizes`` still add up)."""
    return check_lightgbm_model(_INF.sub(lambda m: m.group(1) + "9e9", text), classifier=True)


def view_reader_of(store) -> ViewReader | None:
    """The data dir's active learned view reader (None: the rules read), loaded once per
    process and checked like a run's LightGBM model before LightGBM reads it. A reader that
    cannot be loaded reads nothing: the rules stay (and :func:`reading.reader_status` shows it)."""
    rec = store.active_view_reader()
    if rec is None:
        return None
    key = f"{rec.path}:{rec.reader_id}"
    if key not in _READERS:
        try:
            _READERS[key] = load_reader(rec.path, check_model=check_reader_model)
        except (OSError, ValueError) as exc:
            import warnings

            warnings.warn(f"view reader {rec.reader_id} cannot be loaded ({exc}): the view rules read",
                          stacklevel=2)
            return None
    return _READERS[key]
