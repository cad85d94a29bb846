"""Which engine fills the pose cache: this machine's processes (:mod:`.extract`) or Ray
actors (:mod:`.ray_engine`), behind one entry, :func:`fill_pose_cache`, for callers that need
some images' poses under a known identity (a run's) before they read them, e.g. the report.
It starts no model when nothing is missing."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from ..config import ENGINES  # what fill_pose_cache (and `--engine`) accepts
from ..progress import ProgressFn
from ..store import Store
from . import PoseOptions, backend_identity, create_backend, require_version
from .extract import ExtractResult, default_workers, extract_poses, pending_images


def check_engine(engine: str, workers: int | None = None, actors: int | None = None,
                 address: str | None = None) -> None:
    """ValueError unless ``engine`` is one of :data:`ENGINES` and each setting given belongs to it
    (``workers``: local; ``actors``, ``address``: ray), at least 1 where it is a count. The one
    check: the API and the CLI (``--engine``, ``--workers``, ``--actors``, ``--address``, the
    same names) give its messages as they are."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "ray" and workers is not None:
        raise ValueError("workers are for the local engine: give actors with engine ray")
    if engine == "local" and (actors is not None or address is not None):
        raise ValueError("actors and address need engine ray")
    for name, count in (("workers", workers), ("actors", actors)):
        if count is not None and count < 1:
            raise ValueError(f"{name} must be at least 1")


def fill_pose_cache(store: Store, options: PoseOptions, hashes: Iterable[str] | None, identity: tuple[str, str],
                    engine: str = "local", workers: int | None = None, actors: int | None = None,
                    address: str | None = None, progress: ProgressFn | None = None,
                    stop: threading.Event | None = None, who: str = "the run") -> ExtractResult:
    """Cache the poses of the images of ``hashes`` (all catalogue images for None) under
    ``identity``, the (backend, version) a reader will look them up by (a run's), with the chosen
    ``engine``: ``"local"`` (:func:`extract_poses`, ``workers`` processes, by default one per
    core for big jobs and in-process for small ones) or ``"ray"``
    (:func:`.ray_engine.extract_poses_ray`, ``actors`` on a local Ray or the cluster at
    ``address``). Nothing missing: no model is loaded and no Ray started. An installed backend
    of another version than ``identity``'s raises RuntimeError (``who`` names the reader) before
    any image runs: its rows would be cached under another key than the one read."""
    check_engine(engine, workers, actors, address)
    t0 = time.perf_counter()
    hashes = None if hashes is None else list(dict.fromkeys(hashes))
    items, n_unique = pending_images(store, *identity, hashes)
    if not items:   # the common case (a report over a cached catalogue): no model, no progress to show
        return ExtractResult(identity[0], identity[1], n_unique, n_unique, 0, 0, 0, 0, time.perf_counter() - t0, 0)
    backend = require_version(create_backend(options, store.data_dir), identity[1], who)
    try:
        if backend_identity(backend) != tuple(identity):
            raise RuntimeError(f"{who} reads poses of {'/'.join(identity)}, the options give "
                               f"{'/'.join(backend_identity(backend))}")
        n_local = max(1, min(workers or default_workers(len(items)), len(items)))
        if engine == "local" and n_local == 1:   # in-process: the checked model does the work
            return extract_poses(store, options, workers=1, progress=progress, stop=stop, backend=backend,
                                 hashes=hashes)
    finally:
        backend.close()   # a pool's workers and Ray's actors load their own
    return run_engine(store, options, engine, workers=n_local if engine == "local" else None, actors=actors,
                      address=address, progress=progress, stop=stop, hashes=hashes)


def run_engine(store: Store, options: PoseOptions, engine: str = "local", workers: int | None = None,
               actors: int | None = None, address: str | None = None, progress: ProgressFn | None = None,
               stop: threading.Event | None = None, hashes: Iterable[str] | None = None) -> ExtractResult:
    """Fill the pose cache under ``options``' backend for the catalogue (or the images of
    ``hashes``) with ``engine``: :func:`.extract.extract_poses` with ``workers`` processes, or
    :func:`.ray_engine.extract_poses_ray` with ``actors`` (at ``address``). No version check:
    the rows go under the identity the options give (:func:`fill_pose_cache` checks a reader's)."""
    check_engine(engine, workers, actors, address)
    if engine == "ray":
        from .ray_engine import extract_poses_ray  # RayUnavailable names the extra to install

        return extract_poses_ray(store, options, actors=actors, address=address, progress=progress, stop=stop,
                                 hashes=hashes)
    return extract_poses(store, options, workers=workers, progress=progress, stop=stop, hashes=hashes)
