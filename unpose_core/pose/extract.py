"""Run a pose backend over every catalogue image not yet in the cache.

Resumable by construction: results are committed in small batches keyed by content
hash, so an interrupted run continues where it stopped and an unchanged catalogue
costs one SQL query. Large jobs fan out to worker processes (spawned, each loading
its own model); small ones stay in-process to skip the start-up cost.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass

from ..images import ImageError, load_rgb
from . import PoseBackend, PoseOptions, backend_identity, create_backend
from ..progress import ProgressFn, ProgressTracker
from ..records import PoseRow, Status
from ..store import Store

ERROR = Status.ERROR   # the old name, for callers that import it from here
CHUNK = 16            # images per task sent to a worker
POOL_THRESHOLD = 48   # below this many pending images a pool costs more than it saves


@dataclass
class ExtractResult:
    backend: str
    backend_version: str
    n_unique_images: int
    n_cached: int
    n_processed: int
    n_person: int
    n_no_person: int
    n_errors: int
    seconds: float
    workers: int
    cancelled: bool = False

    @property
    def images_per_second(self) -> float:
        return self.n_processed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "images_per_second": round(self.images_per_second, 2)}


def estimate_file(backend: PoseBackend, content_hash: str, path: str) -> PoseRow:
    """One cache row for one image; bad files become an 'error' row, never an exception."""
    try:
        image = load_rgb(path)
    except ImageError as exc:
        return PoseRow(content_hash, Status.ERROR, error=str(exc))
    try:
        res = backend.estimate(image)
    except Exception as exc:  # a model failure on one image must not stop a catalogue
        return PoseRow(content_hash, Status.ERROR, error=f"{backend.id} failed: {type(exc).__name__}: {exc}")
    return PoseRow(content_hash, Status(res.status), res.landmarks, res.image_size[0], res.image_size[1],
                   res.score)


_worker_backend: PoseBackend | None = None


def _init_worker(options: PoseOptions, data_dir) -> None:
    global _worker_backend
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker_backend = create_backend(options, data_dir)


def _run_chunk(items: list[tuple[str, str]]) -> list[PoseRow]:
    return [estimate_file(_worker_backend, h, p) for h, p in items]


def extract_poses(store: Store, options: PoseOptions | None = None, workers: int | None = None,
                  progress: ProgressFn | None = None, stop: threading.Event | None = None,
                  backend: PoseBackend | None = None) -> ExtractResult:
    """Fill the pose cache for the current catalogue. ``stop`` cancels between batches."""
    options = options or PoseOptions()
    t0 = time.perf_counter()
    own_backend = backend is None
    backend = backend or create_backend(options, store.data_dir)
    bid, version = backend_identity(backend)
    pending = store.missing_poses(bid, version)
    n_unique = store.n_unique_images()
    items = list(zip(pending["content_hash"], pending["path"]))
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(items) >= POOL_THRESHOLD else 1
    workers = max(1, min(workers, len(items) or 1))
    tracker = ProgressTracker(f"pose ({bid})", len(items), progress)
    counts = {s: 0 for s in Status}
    cancelled = False

    def save(rows: list[PoseRow]) -> None:
        store.put_poses(bid, version, rows)
        for r in rows:
            counts[r.status] += 1
        tracker.update(tracker.done + len(rows))

    try:
        if workers == 1:
            batch: list[PoseRow] = []
            for h, p in items:
                if stop is not None and stop.is_set():
                    cancelled = True
                    break
                batch.append(estimate_file(backend, h, p))
                if len(batch) >= CHUNK:
                    save(batch)
                    batch = []
            if batch:
                save(batch)
        else:
            if own_backend:
                backend.close()   # free its memory: the workers load their own
                own_backend = False
            cancelled = _run_pool(items, options, store, workers, save, stop)
    finally:
        if own_backend:
            backend.close()
    tracker.finish("cancelled" if cancelled else "done")
    return ExtractResult(bid, version, n_unique, n_unique - len(items), sum(counts.values()),
                         counts[Status.PERSON], counts[Status.NO_PERSON], counts[Status.ERROR],
                         time.perf_counter() - t0, workers, cancelled)


def _run_pool(items, options, store, workers, save, stop) -> bool:
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(options, str(store.data_dir))) as pool:
        queue = iter(chunks)
        running = set()
        for chunk in queue:  # keep two chunks in flight per worker
            running.add(pool.submit(_run_chunk, chunk))
            if len(running) >= 2 * workers:
                break
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                save(fut.result())
            if stop is not None and stop.is_set():
                for fut in running:
                    fut.cancel()
                for fut in running:
                    if not fut.cancelled():
                        save(fut.result())
                return True
            for chunk in queue:
                running.add(pool.submit(_run_chunk, chunk))
                if len(running) >= 2 * workers:
                    break
    return False
