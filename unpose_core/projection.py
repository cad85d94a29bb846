"""A 2-D UMAP map of a run's reference poses: computed once per run, stored in its folder.

Every reference image with a person is placed by UMAP from the space the run's
K-Means worked in (the standardised, optionally autoencoded, pose embedding), so
the map shows the clusters the ranking uses. The result is two files in the run
folder:

``umap.npy``
    (n, 2) float32, one row per reference image with a person, in the order of the
    run's ``reference.parquet`` (pose classes 0..K-1).
``umap.json``
    run id, n, the sha256 of ``umap.npy`` and of the run's ``reference.parquet`` (the
    rows the map is of: the digest the run's metadata.json lists, checked when the run
    was loaded), the UMAP parameters and how long it took. A few hundred bytes at any
    size.

:func:`ensure_projection` loads the stored map when it matches the run (checksum,
run id, the reference rows) and only computes it otherwise, under a lock, so two
sessions asking at once compute it once. Switching pages never recomputes it.

Maps stored before version 2 listed every row's image id and content hash in
``umap.json`` (76 MB and 2.6 s to parse and compare at 1M points): they are still
checked that way once, and their ``umap.json`` is then rewritten in the current form
(the map itself is kept).

Speed: the k nearest neighbours come from faiss (exact up to 50k points, IVF above),
which skips pynndescent; and numba's on-disk cache is switched on for umap's
compiled functions, whose first compilation otherwise costs ~30 s in every new
process. Above 50k points the layout runs in parallel (not bit-reproducible).

Scale: above ``FIT_MAX`` points UMAP is fitted on a seeded random sample of ``FIT_MAX``
points and every other point is placed where ``UMAP.transform`` starts it (:func:`place`:
the membership-weighted mean of the map positions of its nearest sample points, found by a
faiss IVF index), ``TRANSFORM_CHUNK`` points at a time. umap's own transform then refines
each point for 30 epochs: measured 10 s per 50k points here (3 minutes for 1M), so we stop
at its starting point. Every point is on the map; ``umap.json``
records ``fit_sample`` (points the layout was fitted on), ``n_points`` and ``seconds``, and
the Clusters page says when the map was fitted on a sample. Measured in
``benchmarks/bench_map.py`` (README there).

Drawing and selecting: a browser cannot take a million dots and send a million selected
ones back (Streamlit refuses a selection over 25 MB: 80 MB at 1M). :func:`draw_sample` picks the
dots a large map draws (a seeded share of each class, no class lost) and :func:`in_polygon` /
:func:`in_box` find every point inside a lasso's or box's outline, drawn or not (0.2 s for 1M
points), so a selection still covers the whole map (``benchmarks/bench_clusters_browser.py``).
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .images import content_hash
from .progress import Progress, ProgressFn
from .runs import Run, RunError
from .store import Store

UMAP_FILE = "umap.npy"
META_FILE = "umap.json"
PROJECTION_VERSION = 2       # 1: umap.json listed the image ids and content hashes (read, then upgraded)
EXACT_KNN_MAX = 50_000      # above this faiss IVF (approximate) neighbours, parallel layout
DEFAULT_PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean"}
FIT_MAX = 50_000            # above this: fit UMAP on a sample of FIT_MAX points, transform the rest
TRANSFORM_CHUNK = 100_000   # points transformed at a time (bounds the bipartite graph's memory)
TRANSFORM_NPROBE = 16

_UMAP_LOCK = threading.Lock()      # numba's default threading layer is not re-entrant across threads
_run_locks: dict[str, threading.Lock] = {}
_run_locks_guard = threading.Lock()
_numba_cache_enabled = False

# how many UMAPs this process computed (benchmarks/tests check page switches add none)
COMPUTE_COUNT = 0


@dataclass
class Projection:
    """A run's stored map: one position per reference image with a person."""

    run_id: str
    xy: np.ndarray                 # (n, 2) float32
    rows: np.ndarray               # (n,) int64: each point's row in the run's reference table
    reference: pd.DataFrame = field(repr=False)    # the run's reference table (not copied)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.xy)

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """image_id, product_id, content_hash, pose_class, distance, ... of each point (aligned
        with ``xy``; :func:`person_reference`). Built on first use: a copy of every row."""
        return self.reference.iloc[self.rows].reset_index(drop=True)


def _lock_for(run: Run) -> threading.Lock:
    key = str(Path(run.path).resolve())
    with _run_locks_guard:
        return _run_locks.setdefault(key, threading.Lock())


def person_rows(run: Run) -> np.ndarray:
    """Positions in ``run.reference`` of the reference images with a person (pose classes
    0..K-1), in stored order: the rows of the map."""
    pc = run.reference["pose_class"].to_numpy()
    return np.flatnonzero((pc >= 0) & (pc < run.k))


def person_reference(run: Run) -> pd.DataFrame:
    """The run's reference images that show a person (pose classes 0..K-1), in stored order."""
    return run.reference.iloc[person_rows(run)].reset_index(drop=True)


def reference_digest(run: Run) -> str | None:
    """sha256 of the run's reference.parquet: the one its metadata.json lists (the file was
    checked against it when the run was loaded), else the file's own; None without either."""
    files = run.metadata.get("files") if isinstance(run.metadata, dict) else None
    digest = files.get("reference.parquet") if isinstance(files, dict) else None
    if isinstance(digest, str):
        return digest.lower()
    path = Path(run.path) / "reference.parquet"
    return content_hash(path) if path.is_file() else None


def reference_embeddings(store: Store, run: Run) -> tuple[pd.DataFrame, np.ndarray]:
    """(frame, raw embeddings) of the run's person reference images, from the pose cache.

    ``frame`` adds the catalogue's ``pose_label`` (by content hash) where known.
    """
    frame = person_reference(run)
    info = run.info
    poses = store.poses(info.backend, info.backend_version, frame["content_hash"].unique())
    bad = [h for h in frame["content_hash"].unique() if h not in poses or not poses[h].is_person]
    if bad:
        raise RunError(f"the pose cache lacks {len(bad)} reference images of run {run.run_id} "
                       f"({info.backend} {info.backend_version}); retrain or re-extract")
    emb = run.embed([poses[h] for h in frame["content_hash"]])
    labels = store.pose_labels()
    frame = frame.copy()
    frame["pose_label"] = frame["content_hash"].map(labels) if labels else None
    return frame, emb


def cluster_space(run: Run, raw: np.ndarray) -> np.ndarray:
    """Raw embeddings -> the standardised space the run's K-Means measured distances in."""
    return run.kmeans.scaled(run.to_space(raw))


def _enable_numba_cache() -> None:
    """Cache umap's numba functions on disk (umap ships them uncached: ~30 s per process)."""
    global _numba_cache_enabled
    if _numba_cache_enabled:
        return
    import importlib

    try:
        from numba.core.caching import NullCache
        from numba.core.registry import CPUDispatcher
    except Exception:  # numba internals moved: just run uncached
        _numba_cache_enabled = True
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("umap.umap_", "umap.layouts", "umap.utils", "umap.spectral", "umap.distances",
                     "umap.sparse"):
            try:
                mod = importlib.import_module(name)
            except Exception:
                continue
            for obj in vars(mod).values():
                if isinstance(obj, CPUDispatcher) and isinstance(getattr(obj, "_cache", None), NullCache):
                    # a function numba cannot cache stays compiled per process
                    with contextlib.suppress(Exception):
                        obj.enable_caching()
    _numba_cache_enabled = True


def knn(X: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(indices, euclidean distances) of each point's k nearest neighbours, itself included."""
    import faiss

    X = np.ascontiguousarray(X, dtype=np.float32)
    n, d = X.shape
    if n <= EXACT_KNN_MAX:
        index = faiss.IndexFlatL2(d)
    else:
        nlist = int(min(4096, max(64, 4 * np.sqrt(n))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
        rng = np.random.default_rng(seed)
        train = X[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
        index.train(train)
        index.nprobe = 12
    index.add(X)
    dist, nbr = index.search(X, k)
    # IVF may come back short for points in sparse lists: fill with the point itself
    missing = nbr < 0
    if missing.any():
        nbr[missing] = np.broadcast_to(np.arange(n)[:, None], nbr.shape)[missing]
        dist[missing] = np.inf
    return nbr.astype(np.int64), np.sqrt(np.maximum(dist, 0)).astype(np.float32)


class _FaissSearch:
    """Nearest fitted points of new ones, by faiss: an IVF index (``TRANSFORM_NPROBE`` lists
    probed) over the points the map was fitted on above 4096 of them, exact below."""

    def __init__(self, X: np.ndarray, seed: int = 0):
        import faiss

        X = np.ascontiguousarray(X, dtype=np.float32)
        n, d = X.shape
        if n <= 4096:
            self.index = faiss.IndexFlatL2(d)
        else:
            nlist = int(min(4096, max(64, 4 * np.sqrt(n))))
            self.index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
            rng = np.random.default_rng(seed)
            self.index.train(X[rng.choice(n, size=min(n, 64 * nlist), replace=False)])
            self.index.nprobe = TRANSFORM_NPROBE
        self.index.add(X)
        self.n = n

    def query(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices int32, euclidean distances float32) of each row's ``k`` nearest fitted points."""
        dist, nbr = self.index.search(np.ascontiguousarray(Q, dtype=np.float32), k)
        short = nbr < 0    # an IVF list too short: repeat the nearest neighbour found
        if short.any():
            nbr = np.where(short, nbr[:, :1], nbr)
            dist = np.where(short, dist[:, :1], dist)
        return nbr.astype(np.int32), np.sqrt(np.maximum(dist, 0)).astype(np.float32)


def place(search: _FaissSearch, xy_fit: np.ndarray, Q: np.ndarray, k: int) -> np.ndarray:
    """Map positions of new points ``Q``: the membership-weighted mean of the map positions of
    their ``k`` nearest fitted points -- ``UMAP.transform``'s own starting point (the weights
    exp(-(d - rho) / sigma) of umap's ``smooth_knn_dist`` / ``compute_membership_strengths``,
    averaged as ``init_graph_transform`` does), without its 30 refinement epochs, which cost
    0.19 ms per point here (3 minutes for 1M points)."""
    from umap.umap_ import smooth_knn_dist

    nbr, dist = search.query(Q, k)
    sigmas, rhos = smooth_knn_dist(dist, float(k), local_connectivity=0.0)   # as transform does
    sigmas = np.maximum(sigmas, 1e-12)                # all neighbours at distance 0: equal weights
    w = np.exp(-np.maximum(dist - rhos[:, None], 0.0) / sigmas[:, None]).astype(np.float64)
    w[:, 0] = np.maximum(w[:, 0], 1e-12)              # the nearest always counts
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkc->nc", w, xy_fit[nbr].astype(np.float64)).astype(np.float32)


def fit_sample_rows(n: int, fit_max: int, seed: int = 0) -> np.ndarray:
    """The rows UMAP is fitted on: all of them up to ``fit_max``, else a seeded sorted sample."""
    if n <= fit_max:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=fit_max, replace=False))


def compute_xy(X: np.ndarray, seed: int = 0, progress: ProgressFn | None = None,
               n_neighbors: int = DEFAULT_PARAMS["n_neighbors"],
               min_dist: float = DEFAULT_PARAMS["min_dist"], fit_max: int | None = None,
               chunk: int | None = None) -> tuple[np.ndarray, dict]:
    """UMAP (n, d) -> (n, 2) float32 plus the parameters used.

    Above ``fit_max`` points (default :data:`FIT_MAX`) the layout is fitted on a seeded sample of
    ``fit_max`` points and the others are placed into it (:func:`place`), ``chunk`` (default
    :data:`TRANSFORM_CHUNK`) at a time; the returned dict says so (``fit_sample`` < ``n_points``).
    """
    global COMPUTE_COUNT
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = len(X)
    fit_max = FIT_MAX if fit_max is None else int(fit_max)
    chunk = TRANSFORM_CHUNK if chunk is None else int(chunk)
    if fit_max < 4 or chunk < 1:
        raise ValueError(f"fit_max must be >= 4 and chunk >= 1, got {fit_max} and {chunk}")
    fit_rows = fit_sample_rows(n, fit_max, seed)
    n_fit = len(fit_rows)
    steps = 3 if n_fit == n else 4

    def report(done: int, msg: str) -> None:
        if progress:
            progress(Progress("umap", done, steps, msg))

    params = {"n_neighbors": n_neighbors, "min_dist": min_dist, "seed": seed, "n": n,
              "fit_sample": n_fit, "n_points": n}
    if n < 4:   # UMAP needs a few neighbours; a handful of points just go on a line
        COMPUTE_COUNT += 1
        xy = np.stack([np.arange(n, dtype=np.float32), np.zeros(n, np.float32)], axis=1)
        return xy, {**params, "method": "line"}
    Xf = X[fit_rows] if n_fit < n else X
    k = int(min(n_neighbors, n_fit - 1))
    with _UMAP_LOCK:
        report(0, f"nearest neighbours of {n_fit} poses" + (f" (a sample of {n})" if n_fit < n else ""))
        nbr, dist = knn(Xf, k, seed)
        report(1, f"UMAP layout of {n_fit} poses")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap

            _enable_numba_cache()
            large = n_fit > EXACT_KNN_MAX
            kw = {"n_jobs": -1, "low_memory": True} if large else {"random_state": seed}
            model = umap.UMAP(n_neighbors=k, min_dist=min_dist, n_components=2, metric="euclidean",
                              init="pca" if large else "spectral", precomputed_knn=(nbr, dist, None),
                              verbose=False, transform_seed=seed, **kw)
            xy_fit = model.fit_transform(Xf).astype(np.float32)
            if n_fit < n:
                xy = np.empty((n, 2), np.float32)
                xy[fit_rows] = xy_fit
                rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
                search = _FaissSearch(Xf, seed)
                for start in range(0, len(rest), chunk):
                    part = rest[start:start + chunk]
                    report(2, f"placing poses {start + 1}-{start + len(part)} of the {len(rest)} not in the sample")
                    xy[part] = place(search, xy_fit, X[part], k)
            else:
                xy = xy_fit
        COMPUTE_COUNT += 1
    report(steps - 1, "saving the map")
    return xy, {**params, "n_neighbors": k, "method": "umap" if n_fit == n else "umap-sample+place",
                "knn": "exact" if n_fit <= EXACT_KNN_MAX else "ivf",
                "umap_version": getattr(umap, "__version__", "?")}


def _write_meta(folder: Path, doc: dict) -> None:
    tmp = folder / f"{META_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, folder / META_FILE)


def save_projection(run: Run, frame: pd.DataFrame, xy: np.ndarray, meta: dict) -> None:
    """Store ``xy`` (one row per row of ``frame`` = :func:`person_reference`) as the run's map."""
    folder = Path(run.path)
    xy = np.ascontiguousarray(xy, dtype=np.float32)
    if xy.shape != (len(frame), 2):
        raise ValueError(f"projection has shape {xy.shape}, expected ({len(frame)}, 2)")
    tmp = folder / (UMAP_FILE + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, xy, allow_pickle=False)
    os.replace(tmp, folder / UMAP_FILE)
    meta = {k: v for k, v in meta.items() if k not in ("image_ids", "content_hashes")}
    _write_meta(folder, {"version": PROJECTION_VERSION, "run_id": run.run_id, "n": int(len(xy)),
                         "sha256": content_hash(folder / UMAP_FILE), "reference_sha256": reference_digest(run),
                         "created_at": time.time(), **meta})


def _matches_v1(meta: dict, run: Run, rows: np.ndarray) -> bool:
    """A version-1 ``umap.json``: its lists of image ids and content hashes are the run's."""
    ref = run.reference
    hashes, ids = meta.get("content_hashes"), meta.get("image_ids")
    return (isinstance(hashes, list) and isinstance(ids, list) and len(hashes) == len(ids) == len(rows)
            and hashes == ref["content_hash"].to_numpy()[rows].tolist()
            and ids == [int(i) for i in ref["image_id"].to_numpy()[rows]])


def load_projection(run: Run) -> Projection | None:
    """The stored map when it is intact and matches the run; None when absent or stale.

    A map of version 1 (every row's ids listed in umap.json) is checked row by row and, when it
    matches, its umap.json is rewritten as version 2 (best effort: a read-only folder still reads)."""
    folder = Path(run.path)
    npy, meta_path = folder / UMAP_FILE, folder / META_FILE
    if not (npy.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(meta, dict):
        return None
    rows = person_rows(run)
    version = meta.get("version")
    if meta.get("run_id") != run.run_id or meta.get("n") != len(rows) or content_hash(npy) != meta.get("sha256"):
        return None
    if version == PROJECTION_VERSION:
        digest = reference_digest(run)
        if digest is None or meta.get("reference_sha256") != digest:
            return None
    elif version != 1 or not _matches_v1(meta, run, rows):
        return None
    try:
        xy = np.load(npy, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if xy.shape != (len(rows), 2):
        return None
    slim = {k: v for k, v in meta.items() if k not in ("image_ids", "content_hashes")}
    digest = reference_digest(run) if version == 1 else None
    if digest is not None:   # upgrade: the same map, described in a few hundred bytes
        slim.update(version=PROJECTION_VERSION, reference_sha256=digest)
        with contextlib.suppress(OSError):
            _write_meta(folder, slim)
    slim.setdefault("fit_sample", len(xy))    # maps stored before sampling: fitted on every point
    slim.setdefault("n_points", len(xy))
    return Projection(run.run_id, xy.astype(np.float32, copy=False), rows, run.reference, slim)


def ensure_projection(store: Store, run: Run, progress: ProgressFn | None = None,
                      seed: int = 0, fit_max: int | None = None) -> Projection:
    """Load the run's stored map, computing and storing it first if needed (once).
    ``fit_max``: see :func:`compute_xy` (default :data:`FIT_MAX`)."""
    with _lock_for(run):
        proj = load_projection(run)
        if proj is not None:
            return proj
        t0 = time.perf_counter()
        frame, raw = reference_embeddings(store, run)
        X = cluster_space(run, raw)
        xy, meta = compute_xy(X, seed=seed, progress=progress, fit_max=fit_max)
        meta["seconds"] = round(time.perf_counter() - t0, 2)
        save_projection(run, frame, xy, meta)
        if progress:
            done = 3 if meta.get("fit_sample", len(xy)) >= len(xy) else 4
            progress(Progress("umap", done, done, f"map of {len(xy)} poses saved"))
        proj = load_projection(run)
        if proj is None:  # pragma: no cover - we just wrote it
            raise RunError(f"could not read back the map just written for run {run.run_id}")
        return proj


def stored_version(run: Run) -> tuple:
    """(mtime ns, size) of the run's umap.npy and umap.json, None for a missing one: changes
    whenever the map is stored again (a cache key for what is built from it)."""
    out = []
    for name in (UMAP_FILE, META_FILE):
        try:
            st = (Path(run.path) / name).stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def has_projection(run: Run) -> bool:
    return load_projection(run) is not None


_warming: dict[str, threading.Thread] = {}


def warm_async(store: Store, run: Run) -> threading.Thread | None:
    """Compute the run's map in a background thread if it is missing (app start-up)."""
    key = str(Path(run.path).resolve())
    t = _warming.get(key)
    if t is not None and t.is_alive():
        return t
    if (Path(run.path) / UMAP_FILE).is_file() and has_projection(run):
        return None

    def work():
        with contextlib.suppress(Exception):   # the page that needs it reports the error
            ensure_projection(store, run)

    t = threading.Thread(target=work, name=f"unposed-umap-{run.run_id}", daemon=True)
    _warming[key] = t
    t.start()
    return t


def is_computing(run: Run) -> bool:
    t = _warming.get(str(Path(run.path).resolve()))
    return t is not None and t.is_alive()


# -- what the map draws, and selections over every point ---------------------------------------
DRAW_MIN_PER_CLASS = 300     # a sampled map still draws this many dots of each class (all of a smaller one)


def draw_sample(pose_class: np.ndarray, cap: int, seed: int = 0,
                min_per_class: int = DRAW_MIN_PER_CLASS) -> np.ndarray:
    """Positions (sorted) of the points a map of ``len(pose_class)`` points draws: all of them up to
    ``cap``; above, a seeded random sample of about ``cap`` in which every class keeps its share of the
    points (its size x cap / n, rounded) but at least ``min(size, min_per_class)``, so a small class
    is never lost from the map or its legend. The same points for the same classes and seed."""
    pose_class = np.asarray(pose_class)
    n = len(pose_class)
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    order = np.lexsort((np.random.default_rng(seed).random(n), pose_class))   # by class, shuffled within
    _, starts, sizes = np.unique(pose_class[order], return_index=True, return_counts=True)
    keep = [order[start:start + int(min(size, max(round(size * cap / n), min_per_class)))]
            for start, size in zip(starts, sizes)]
    return np.sort(np.concatenate(keep)).astype(np.int64)


def in_polygon(xy: np.ndarray, polygon: np.ndarray, y_order: np.ndarray | None = None) -> np.ndarray:
    """Which of the points ``xy`` (n, 2) lie inside ``polygon`` ((m, 2) vertices, closed by itself):
    even-odd rule, a point on a lower edge or left of a vertex counted as plotly's lasso does up to
    rounding. Each edge only visits the points whose y lies within its span (found in ``y_order``,
    the points' order by y: pass it when testing many polygons on one map), so a lasso of a few
    hundred vertices round a million points takes a few tens of ms."""
    xy = np.asarray(xy)
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    inside = np.zeros(len(xy), bool)
    if len(poly) < 3 or not len(xy):
        return inside
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    order = np.argsort(y, kind="stable") if y_order is None else y_order
    ys = y[order]
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        if y1 == y2:
            continue
        a, b = np.searchsorted(ys, (min(y1, y2), max(y1, y2)), side="left")
        if a == b:
            continue
        idx = order[a:b]
        xc = x1 + (y[idx] - y1) * ((x2 - x1) / (y2 - y1))
        hit = idx[x[idx] < xc]
        inside[hit] = ~inside[hit]
    return inside


def in_box(xy: np.ndarray, x_range: tuple[float, float], y_range: tuple[float, float]) -> np.ndarray:
    """Which of the points ``xy`` (n, 2) lie in the rectangle (bounds in either order, inclusive)."""
    xy = np.asarray(xy)
    (x0, x1), (y0, y1) = sorted(map(float, x_range)), sorted(map(float, y_range))
    return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
