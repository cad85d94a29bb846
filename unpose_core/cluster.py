"""faiss K-Means over pose embeddings (paper §4.4) and nearest-centroid assignment.

faiss samples at most ``max_points_per_centroid`` (default 256) points per centroid
for training. We raise it so *every* reference image is used up to
``MAX_TRAIN_POINTS`` in total (2M): a catalogue of 20k images then trains on all of
them, which keeps rare poses from being sampled away, and stays fast (K-Means on 2M
x 77 floats is a few seconds per iteration on 2 cores). Beyond that faiss samples,
deterministically for the seed.

faiss runs single-threaded here by default (``n_threads=1``): the K-Means of a catalogue is small
next to the OpenMP start-up and barrier cost of every iteration, and on a busy 2-core machine
(other processes, or a niced run) faiss's spinning threads wait on each other. Measured with
benchmarks/bench_training.py data (14 clusters, niter 50, nredo 3; load 3-7 on the 2-core VM):
20k x 8 1.07-1.67 s with 2 threads, 0.21-0.28 s with 1; 200k x 8 9.5-12.2 s vs 4.0-5.1 s; 200k
x 80 38.8-99.7 s vs 11.6-15.0 s. The same centroids, labels and inertia bit for bit in every one
of these runs (tests/test_cluster.py checks it). ``n_threads=None`` keeps faiss's own setting (all
cores), which may pay on an idle many-core machine.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from .progress import ProgressFn, ProgressTracker

MAX_TRAIN_POINTS = 2_000_000
SMALL_SEARCH = 256   # nearest-centroid searches of up to this many rows run in numpy (same squared L2)
N_THREADS = 1        # faiss OpenMP threads for K-Means and nearest-centroid search (see the module doc)


@contextmanager
def faiss_threads(n_threads: int | None):
    """Run faiss with ``n_threads`` OpenMP threads (None: leave faiss's setting); restores the
    caller's setting after."""
    import faiss

    if n_threads is None:
        yield
        return
    prev = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(n_threads))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(prev)


def _n_distinct_rows(X: np.ndarray, enough: int, block: int = 4096) -> int:
    """Distinct rows of ``X`` rounded to 6 decimals, counted block by block until ``enough`` are
    found (the count so far is returned then; all of them when there are fewer). The check in
    :meth:`PoseKMeans.fit` only needs to know there are at least K: a full ``np.unique(axis=0)``
    sorted every row (0.1 s at 20k x 8, 1.6 s at 200k x 80, 2.2 s at 1M x 8), this usually reads
    one block. Rows equal by value are equal here (+0.0 folds -0.0 into 0.0; NaN is refused
    before)."""
    seen: set[bytes] = set()
    for start in range(0, len(X), block):
        rounded = np.ascontiguousarray(X[start:start + block].round(6) + 0.0)
        seen.update(row.tobytes() for row in rounded)
        if len(seen) >= enough:
            break
    return len(seen)


class PoseKMeans:
    """scikit-learn style: parameters in __init__, learned state in trailing-underscore attributes."""

    def __init__(self, n_clusters: int = 8, seed: int = 0, niter: int = 50, nredo: int = 3,
                 standardize: bool = True, feature_weights: np.ndarray | None = None,
                 n_threads: int | None = N_THREADS):
        self.n_clusters = n_clusters
        self.seed = seed
        self.niter = niter
        self.nredo = nredo
        self.standardize = standardize
        # per-dimension weights applied after standardising (e.g. the view dimensions count more
        # than one pose coordinate each); folded into scale_, so a saved run needs nothing more
        self.feature_weights = feature_weights
        # faiss OpenMP threads (None: faiss's own setting, all cores); results do not depend on it
        self.n_threads = n_threads

    def fit(self, X: np.ndarray) -> PoseKMeans:
        import faiss

        X = self._check(X, fitting=True)
        if self.n_clusters < 1:
            raise ValueError(f"n_clusters must be >= 1, got {self.n_clusters}")
        if self.n_threads is not None and (isinstance(self.n_threads, bool) or not isinstance(self.n_threads, int)
                                           or self.n_threads < 1):
            raise ValueError(f"n_threads must be None or a whole number >= 1, got {self.n_threads!r}")
        n_unique = _n_distinct_rows(X, self.n_clusters)
        if n_unique < self.n_clusters:
            raise ValueError(
                f"cannot make {self.n_clusters} clusters from {n_unique} distinct pose embeddings; "
                f"lower K or add reference images")
        if self.standardize:
            # ratio features span ~[-10, 10] while coordinates span [0, 1]: scale each
            # dimension so no single feature family dominates the distances
            self.mean_ = X.mean(axis=0)
            self.scale_ = X.std(axis=0)
            self.scale_[self.scale_ < 1e-6] = 1.0
        else:
            self.mean_ = np.zeros(X.shape[1], np.float32)
            self.scale_ = np.ones(X.shape[1], np.float32)
        if self.feature_weights is not None:
            w = np.asarray(self.feature_weights, np.float32)
            if w.shape != (X.shape[1],) or not np.isfinite(w).all() or (w <= 0).any():
                raise ValueError(f"feature_weights must be {X.shape[1]} finite values > 0, got shape {w.shape}")
            self.scale_ = (self.scale_ / w).astype(np.float32)
        Z = self.scaled(X)
        km = faiss.Kmeans(
            Z.shape[1], self.n_clusters, niter=self.niter, nredo=self.nredo, seed=self.seed,
            verbose=False, spherical=False,
            max_points_per_centroid=max(256, math.ceil(min(len(Z), MAX_TRAIN_POINTS) / self.n_clusters)),
            min_points_per_centroid=1)
        with faiss_threads(self.n_threads):
            km.train(Z)
        self.cluster_centers_scaled_ = km.centroids.astype(np.float32).copy()
        dist, labels = self._search(Z)
        # on a duplicate-heavy catalogue with K near its number of distinct poses, faiss can leave a
        # cluster with no member (two centroids seeded on copies of one pose); a run must not keep it
        self.n_reseeded_ = 0
        if np.bincount(labels, minlength=self.n_clusters).min() == 0:
            dist, labels = self._reseed_empty(Z, dist, labels)
        self.cluster_centers_ = (self.cluster_centers_scaled_ * self.scale_ + self.mean_).astype(np.float32)
        self.labels_ = labels
        self.inertia_ = float(dist.sum())
        self.n_features_in_ = X.shape[1]
        return self

    def _reseed_empty(self, Z: np.ndarray, dist: np.ndarray, labels: np.ndarray,
                      rounds: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Give every empty cluster a member: its centroid moves onto the point farthest from its
        own centroid (which then sits nearer to it than to any other), then one Lloyd step; repeated
        until no cluster is empty. ``n_reseeded_`` counts the moves. With at least K distinct points
        (checked before) this ends; if it did not, ValueError says so rather than keeping an empty
        cluster (its mean would be NaN)."""
        C = self.cluster_centers_scaled_
        for _ in range(rounds):
            sizes = np.bincount(labels, minlength=self.n_clusters)
            empty = np.flatnonzero(sizes == 0)
            if not len(empty):
                return dist, labels
            order = np.argsort(-dist, kind="stable")
            taken: set[bytes] = set()
            picks = []
            for i in order:   # the farthest points, one per distinct pose, each away from its centroid
                if dist[i] <= 0 or len(picks) == len(empty):
                    break
                key = Z[i].tobytes()
                if key not in taken:
                    taken.add(key)
                    picks.append(i)
            if len(picks) < len(empty):
                break
            C[empty] = Z[picks]
            self.n_reseeded_ += len(empty)
            dist, labels = self._search(Z)
            sizes = np.bincount(labels, minlength=self.n_clusters)
            for c in np.flatnonzero(sizes):   # one Lloyd step: each centroid to its members' mean
                C[c] = Z[labels == c].mean(axis=0)
            self.cluster_centers_scaled_ = C
            dist, labels = self._search(Z)
        sizes = np.bincount(labels, minlength=self.n_clusters)
        if sizes.min() == 0:
            raise ValueError(
                f"K-Means left {int((sizes == 0).sum())} of {self.n_clusters} clusters empty even after "
                f"re-seeding them (the embeddings hold too few distinct poses for K={self.n_clusters}); "
                f"lower K or add reference images")
        return dist, labels

    def nearest(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The one nearest-centroid rule: (centroid index, squared distance in the standardised
        space) per row of ``X``."""
        X = self._check(X)
        if len(X) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        d, i = self._search(self.scaled(X))
        return i, d

    def _search(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(Z) <= SMALL_SEARCH:   # a listing's few images: numpy, without faiss's thread start-up
            C = self.cluster_centers_scaled_
            d = ((Z[:, None, :] - C[None, :, :]) ** 2).sum(axis=2, dtype=np.float32)
            i = d.argmin(axis=1)
            return d[np.arange(len(Z)), i].astype(np.float32), i.astype(np.int64)
        import faiss

        index = faiss.IndexFlatL2(Z.shape[1])
        index.add(self.cluster_centers_scaled_)
        with faiss_threads(getattr(self, "n_threads", N_THREADS)):
            d, i = index.search(np.ascontiguousarray(Z, dtype=np.float32), 1)
        return d[:, 0], i[:, 0].astype(np.int64)

    def scaled(self, X: np.ndarray) -> np.ndarray:
        """Rows of ``X`` in the standardised space K-Means clusters in: ``(X - mean_) / scale_``
        (the feature weights are folded into ``scale_``), float32. The one home of that formula:
        the nearest-centroid rule, :meth:`transform`, the pose groups' member spread and the map
        all read it."""
        return np.ascontiguousarray((np.asarray(X, np.float32) - self.mean_) / self.scale_, dtype=np.float32)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n rows, K) squared distances of every row of ``X`` to every centroid in the
        standardised space (scikit-learn's ``KMeans.transform``, squared as everywhere here):
        what soft coverage and confidence compare with the clusters' typical radii. float64,
        from float64 standardised rows."""
        X = np.asarray(X, np.float64)
        if X.ndim != 2:
            raise ValueError(f"embeddings must be 2-D (n, d), got shape {X.shape}")
        if len(X) and X.shape[1] != self.cluster_centers_scaled_.shape[1]:
            raise ValueError(f"embeddings have {X.shape[1]} dims, the clustering was fit on "
                             f"{self.cluster_centers_scaled_.shape[1]}")
        Z = (X - self.mean_) / self.scale_
        C = np.asarray(self.cluster_centers_scaled_, np.float64)
        return ((Z[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)

    def _check(self, X, fitting: bool = False) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"embeddings must be 2-D (n, d), got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("embeddings contain NaN or infinity")
        if not fitting and hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise ValueError(f"embeddings have {X.shape[1]} dims, the clustering was fit on {self.n_features_in_}")
        return X

    # plain-array state for runs.py (no pickle)
    def state(self) -> dict[str, np.ndarray]:
        return {"centroids": self.cluster_centers_, "centroids_scaled": self.cluster_centers_scaled_,
                "mean": self.mean_.astype(np.float32), "scale": self.scale_.astype(np.float32)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], **params) -> PoseKMeans:
        km = cls(n_clusters=len(state["centroids"]), **params)
        km.cluster_centers_ = state["centroids"].astype(np.float32)
        km.cluster_centers_scaled_ = state["centroids_scaled"].astype(np.float32)
        km.mean_, km.scale_ = state["mean"].astype(np.float32), state["scale"].astype(np.float32)
        km.n_features_in_ = km.cluster_centers_.shape[1]
        return km


def sweep_ks(ks) -> list[int]:
    """The K values of a sweep, distinct and sorted; ValueError unless there is one and each is >= 2."""
    out = sorted({int(k) for k in ks})
    if not out or out[0] < 2:
        raise ValueError("the K range must hold values of at least 2")
    return out


def sweep_k(X: np.ndarray, ks, seed: int = 0, labels=None, sample: int = 5000,
            progress: ProgressFn | None = None, feature_weights: np.ndarray | None = None) -> list[dict]:
    """Fit K-Means for each K: inertia (elbow), silhouette on a sample, size balance, and
    purity against known labels when given. Used by the app's Tune K page; ``progress``
    hears of each K done (stage "sweep", message "K=<k>")."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    X = np.asarray(X, np.float32)
    idx = rng.choice(len(X), size=min(sample, len(X)), replace=False)
    rows = []
    ks = list(ks)
    tracker = ProgressTracker("sweep", len(ks), progress, min_interval=0.0)
    for j, k in enumerate(ks):
        km = PoseKMeans(k, seed=seed, feature_weights=feature_weights).fit(X)
        sizes = np.bincount(km.labels_, minlength=k)
        row = {"k": k, "inertia": km.inertia_,
               "silhouette": float(silhouette_score(km.scaled(X[idx]), km.labels_[idx]))
               if 1 < k < len(idx) else float("nan"),
               # normalised entropy of cluster sizes: 1 = perfectly balanced
               "balance": float(_entropy(sizes) / math.log(k)) if k > 1 else 1.0,
               "smallest_cluster": int(sizes.min())}
        if labels is not None:
            row["purity"] = purity(km.labels_, labels)
        rows.append(row)
        tracker.update(j + 1, f"K={k}")
    return rows


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def purity(assignments, labels) -> float:
    """Share of items whose label is their cluster's majority label."""
    import pandas as pd

    df = pd.DataFrame({"c": np.asarray(assignments), "y": np.asarray(labels)}).dropna()
    if df.empty:
        return float("nan")
    return float(df.groupby("c")["y"].agg(lambda s: s.value_counts().iloc[0]).sum() / len(df))
