"""Run the pose backend over the catalogue on a Ray cluster (``unposed extract --engine ray``).

The same per-image function as the local engine (:func:`.extract.estimate_file`) runs inside
``ray.data`` ``map_batches`` on a pool of actors (:class:`ray.data.ActorPoolStrategy`), each
actor holding one model. Only the pending images are sent (``Store.missing_poses``, or those
of a given subset), read by path on whichever node runs them, so every node must see the
images at the same path. The results come back to the driver as plain Arrow columns
(landmarks as float32 bytes, signals as a JSON string: nothing pickled a user might load
later) and the driver, which owns the SQLite store, commits each batch as it arrives. An
interrupted run therefore loses at most the batches in flight; a re-run only sees what is
still missing. ``unposed report --engine ray`` runs it (through
:func:`.engines.fill_pose_cache`) on the images of the report's products only.

Without an address (and no Ray already running in this process) a local Ray is started with
one CPU per actor and shut down afterwards. Ray is an optional extra (``pip install
"unpose-core[ray]"``); without it :func:`extract_poses_ray` raises :class:`RayUnavailable`.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import numpy as np

from ..config import PoseOptions
from ..progress import ProgressFn, ProgressTracker
from ..records import PoseRow, Status
from ..store import Store
from . import backend_identity, create_backend
from .extract import CHUNK, ExtractResult, estimate_file, pending_images, usable_cores

EXTRA = "ray"
AUTH_MODE = "RAY_AUTH_MODE"
INSTALL_HINT = f'the Ray engine needs the "{EXTRA}" extra: pip install "unpose-core[{EXTRA}]"'

# the columns a batch of results travels in (all plain Arrow types; null where PoseRow has None)
COLUMNS = ("content_hash", "status", "n_landmarks", "landmarks", "width", "height", "score", "error", "signals")


class RayUnavailable(RuntimeError):
    """Ray is not installed: the message names the extra to install."""


def import_ray():
    """The ``ray`` module, or :class:`RayUnavailable` naming the extra."""
    try:
        import ray
        import ray.data  # ray without the data extra has no ray.data
    except ImportError as exc:
        raise RayUnavailable(f"{INSTALL_HINT} ({exc})") from None
    return ray


# -- PoseRow <-> plain columns ------------------------------------------------------------------

def rows_to_table(rows: list[PoseRow]):
    """A pyarrow Table of ``rows`` in :data:`COLUMNS`: what crosses from the actors to the driver."""
    import pyarrow as pa

    lms = [None if r.landmarks is None else np.ascontiguousarray(r.landmarks, np.float32) for r in rows]
    return pa.table({
        "content_hash": pa.array([r.content_hash for r in rows], pa.string()),
        "status": pa.array([str(Status(r.status)) for r in rows], pa.string()),
        "n_landmarks": pa.array([None if lm is None else int(lm.shape[0]) for lm in lms], pa.int32()),
        "landmarks": pa.array([None if lm is None else lm.tobytes() for lm in lms], pa.binary()),
        "width": pa.array([r.width for r in rows], pa.int64()),
        "height": pa.array([r.height for r in rows], pa.int64()),
        "score": pa.array([None if r.score is None else float(r.score) for r in rows], pa.float64()),
        "error": pa.array([r.error for r in rows], pa.string()),
        "signals": pa.array([json.dumps(r.signals, separators=(",", ":")) for r in rows], pa.string()),
    })


def table_to_rows(table) -> list[PoseRow]:
    """The PoseRows of a table made by :func:`rows_to_table` (or any batch of its columns)."""
    cols = {c: table.column(c).to_pylist() for c in COLUMNS}
    out = []
    for i, h in enumerate(cols["content_hash"]):
        blob, n = cols["landmarks"][i], cols["n_landmarks"][i]
        lm = None if blob is None else np.frombuffer(blob, np.float32).reshape(n, -1)
        out.append(PoseRow(h, Status(cols["status"][i]), lm, cols["width"][i], cols["height"][i],
                           cols["score"][i], cols["error"][i], json.loads(cols["signals"][i] or "{}")))
    return out


class PoseActor:
    """One model per Ray actor: ``map_batches`` calls it on batches of (content_hash, path)."""

    def __init__(self, options: dict[str, Any], data_dir: str | None):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        os.environ.setdefault("GLOG_minloglevel", "2")
        self.backend = create_backend(PoseOptions(**options), data_dir)

    def __call__(self, batch):
        hashes, paths = batch.column("content_hash").to_pylist(), batch.column("path").to_pylist()
        return rows_to_table([estimate_file(self.backend, h, p) for h, p in zip(hashes, paths, strict=True)])

    def __del__(self):
        with contextlib.suppress(Exception):   # the process is going anyway
            self.backend.close()


# -- the engine ---------------------------------------------------------------------------------

def extract_poses_ray(store: Store, options: PoseOptions | None = None, actors: int | None = None,
                      address: str | None = None, progress: ProgressFn | None = None,
                      stop: threading.Event | None = None, batch_size: int = CHUNK,
                      hashes: Iterable[str] | None = None) -> ExtractResult:
    """Fill the pose cache for the current catalogue (or for the images of ``hashes``, content
    hashes, only) on Ray; same rows as :func:`.extract.extract_poses`.

    ``actors``: model actors (default: one per usable core for a local Ray, else the cluster's
    CPUs), never more than there are images. ``address``: a running cluster (``HOST:6379`` or
    ``auto``); without one, a Ray already started in this process is used, else a local Ray is
    started for this call. ``stop`` cancels between batches (finished batches stay saved).
    ``batch_size``: images per actor call and per store commit (smaller when there are fewer
    than ``batch_size`` images per actor, so that every actor gets work)."""
    options = options or PoseOptions()
    if batch_size < 1 or (actors is not None and actors < 1):
        raise ValueError("batch_size and actors must be at least 1")
    ray = import_ray()
    t0 = time.perf_counter()
    bid, version = backend_identity(options, store.data_dir)
    items, n_unique = pending_images(store, bid, version, hashes)
    tracker = ProgressTracker(f"pose ({bid}, ray)", len(items), progress)
    counts = dict.fromkeys(Status, 0)
    cancelled = bool(items) and stop is not None and stop.is_set()
    n_actors = 0
    if items and not cancelled:
        with _ray_session(ray, address, actors or usable_cores()) as cluster_cpus:
            n_actors = max(1, min(actors or cluster_cpus, len(items)))
            size = min(batch_size, -(-len(items) // n_actors))   # small jobs: smaller batches, every actor busy
            ds = ray.data.from_items([{"content_hash": h, "path": p} for h, p in items],
                                     override_num_blocks=-(-len(items) // size))   # one block per batch
            ds = ds.map_batches(PoseActor, batch_size=size, batch_format="pyarrow", num_cpus=1,
                                compute=ray.data.ActorPoolStrategy(size=n_actors),
                                fn_constructor_kwargs={"options": asdict(options),
                                                      "data_dir": str(store.data_dir.resolve())})
            batches = iter(ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1))
            try:
                for table in batches:
                    rows = table_to_rows(table)
                    store.put_poses(bid, version, rows)   # committed now: a re-run will not redo them
                    for r in rows:
                        counts[r.status] += 1
                    tracker.update(tracker.done + len(rows))
                    if stop is not None and stop.is_set() and tracker.done < len(items):
                        cancelled = True
                        break
            finally:
                close = getattr(batches, "close", None)   # stops the streaming executor and its actors
                if close is not None:
                    with contextlib.suppress(Exception):
                        close()
    tracker.finish("cancelled" if cancelled else "done")
    return ExtractResult(bid, version, n_unique, n_unique - len(items), sum(counts.values()),
                         counts[Status.PERSON], counts[Status.NO_PERSON], counts[Status.ERROR],
                         time.perf_counter() - t0, n_actors, cancelled)


@contextlib.contextmanager
def _ray_session(ray, address: str | None, local_cpus: int):
    """Ray for one run; yields the CPUs it has. Connects to ``address``, or reuses a Ray this
    process already started, or starts a local one (``local_cpus`` CPUs, its own temp dir) and
    shuts it down afterwards."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False      # the engine reports progress through ProgressTracker
    ctx.print_on_execution_start = False
    if ray.is_initialized():
        yield int(ray.cluster_resources().get("CPU", 1))
        return
    temp_dir, auth_mode = None, os.environ.get(AUTH_MODE)
    if address:   # the cluster's own authentication settings (RAY_AUTH_MODE, token) apply as they are
        ray.init(address=address, log_to_driver=False)
    else:
        # a Ray private to this run: no token (Ray would otherwise write one to the home folder),
        # and a short temp path of its own (Ray's socket paths must stay under ~107 characters)
        if auth_mode is None:
            os.environ[AUTH_MODE] = "disabled"
        temp_dir = tempfile.mkdtemp(prefix="unposed-ray-")
        try:
            ray.init(num_cpus=local_cpus, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
        except BaseException:
            _restore_local(temp_dir, auth_mode)
            raise
    try:
        yield int(ray.cluster_resources().get("CPU", 1))
    finally:
        ray.shutdown()
        if temp_dir is not None:
            _restore_local(temp_dir, auth_mode)


def _restore_local(temp_dir: str, auth_mode: str | None) -> None:
    shutil.rmtree(temp_dir, ignore_errors=True)
    if auth_mode is None:
        os.environ.pop(AUTH_MODE, None)
