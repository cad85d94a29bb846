"""Run a pose backend over every catalogue image (or a given subset) not yet in the cache.

Resumable by construction: results are committed in small batches keyed by content
hash, so an interrupted run continues where it stopped and an unchanged catalogue
costs one SQL query. Large jobs fan out to worker processes (spawned, each loading
its own model, one per core by default); small ones stay in-process to skip the start-up cost.

Workers never outlive their parent, however it ends: each asks the kernel for SIGKILL when
the parent goes (Linux ``PR_SET_PDEATHSIG``) and also runs a watchdog thread that exits the
worker once its parent is gone (the kernel signal is tied to the thread that started the
worker, and other systems have none). An interrupt in the parent (Ctrl-C, or SIGTERM, which
the command line turns into one) saves the chunks already finished and stops the workers at
once instead of waiting for the queued ones; workers ignore SIGINT, so a Ctrl-C to the
terminal's process group reaches only the parent, which then tears the pool down.

:func:`.engines.fill_pose_cache` picks between this module's processes and
:mod:`.ray_engine`'s actors for callers that need some images' poses, e.g. the report.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass

import numpy as np

from ..images import ImageError, decode_image
from ..progress import ProgressFn, ProgressTracker
from ..records import PoseRow, Status
from ..store import Store
from ..views.measure import MeasurePass
from ..views.people import person_decision
from . import PoseBackend, PoseOptions, backend_identity, create_backend
from .base import PoseResult

ERROR = Status.ERROR   # the old name, for callers that import it from here
CHUNK = 16            # images per task sent to a worker
POOL_THRESHOLD = 48   # below this many pending images a pool costs more than it saves
WORKER_MEMORY = 400 << 20   # about what one worker with its own model holds (bytes)
WATCHDOG_INTERVAL = 0.5     # seconds between a worker's checks that its parent is alive


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes a new process can have without swapping: Linux's MemAvailable (free memory plus the
    page cache it can reclaim), else the free pages; None when neither is known. Free pages
    alone would be small on any machine that has read many images (the cache holds them)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def default_workers(n_pending: int) -> int:
    """Worker processes for ``n_pending`` images: 1 (in-process) for small jobs, else one per
    usable core, no more than there are chunks, nor than the available memory holds."""
    if n_pending < POOL_THRESHOLD:
        return 1
    n = min(usable_cores(), -(-n_pending // CHUNK))
    available = available_memory()
    if available is not None:
        n = min(n, max(1, available // WORKER_MEMORY))
    return max(1, n)


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
    n_repeated: int = 0   # rows an engine got back more than once (a retried batch) and saved once

    @property
    def images_per_second(self) -> float:
        return self.n_processed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "images_per_second": round(self.images_per_second, 2)}


def estimate_file(backend: PoseBackend, content_hash: str, path: str) -> PoseRow:
    """One cache row for one image: the backend's pose and signals (people, mask, face) plus the
    image measurements (:func:`views.measure.measure_image`: size, blur, perceptual hashes,
    statistics for the kinds without a person). Bad files become an 'error' row, never an
    exception. The file is read and decoded once: the model and the measurement share the array."""
    decoded = _decode(content_hash, path)
    if isinstance(decoded, PoseRow):
        return decoded
    image, size = decoded
    res = _run_model(backend, content_hash, image)
    if isinstance(res, PoseRow):
        return res
    return _finish_row(content_hash, res, _start_measure(image, size), backend)


def estimate_files(backend: PoseBackend, items: Sequence[tuple[str, str]], overlap: bool = True) -> list[PoseRow]:
    """:func:`estimate_file` of every (content_hash, path) of ``items``, in order, the same rows.

    ``overlap``: the measurement pass runs on one background thread while this thread decodes
    and runs the model image after image: an image's basic measurements (size, sharpness,
    hashes) while the model looks at it, its kind statistics (only when the person check
    rejects the pose, as in :func:`estimate_file`) while the model looks at the next one; the
    last image's are waited for. The model releases the GIL, so the measurements take wall time
    only where the model leaves no core idle (BlazePose keeps a second thread busy part of the
    time) and where the two threads want the GIL at once. For a seller's upload (a few images,
    a waiting person); a catalogue's extraction keeps one process per core busy with
    :func:`estimate_file` instead."""
    if not overlap:
        return [estimate_file(backend, h, p) for h, p in items]
    out: list[PoseRow | Future] = []
    for h, p in items:
        decoded = _decode(h, p)
        if isinstance(decoded, PoseRow):
            out.append(decoded)
            continue
        image, size = decoded
        started = _submit(_start_measure, image, size)   # while the model runs on the same image
        res = _run_model(backend, h, image)
        if isinstance(res, PoseRow):
            out.append(res)
        else:
            out.append(_submit(_finish_row, h, res, started, backend))   # while the model runs on the next one
    return [r.result() if isinstance(r, Future) else r for r in out]


_measure_pool: ThreadPoolExecutor | None = None
_measure_pool_lock = threading.Lock()


def _forget_measure_pool() -> None:
    """In a forked child: the parent's measurement thread is not there, start a new one when needed."""
    global _measure_pool, _measure_pool_lock
    _measure_pool, _measure_pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_measure_pool)


def _submit(fn, *args) -> Future:
    """``fn(*args)`` on the one measurement thread (first-in first-out: a row's finishing step
    finds its first stage done), or here if that thread is gone (interpreter shutdown)."""
    global _measure_pool
    with _measure_pool_lock:
        if _measure_pool is None:
            _measure_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unposed-measure")
        pool = _measure_pool
    try:
        return pool.submit(fn, *args)
    except RuntimeError:   # cannot schedule new futures after shutdown
        fut: Future = Future()
        fut.set_result(fn(*args))
        return fut


def _decode(content_hash: str, path: str) -> tuple[np.ndarray, tuple[int, int]] | PoseRow:
    """The model's copy of the image and the file's (width, height), or an error row."""
    try:
        return decode_image(path)
    except ImageError as exc:
        return PoseRow(content_hash, Status.ERROR, error=str(exc))


def _run_model(backend: PoseBackend, content_hash: str, image: np.ndarray) -> PoseResult | PoseRow:
    try:
        return backend.estimate(image)
    except Exception as exc:  # a model failure on one image must not stop a catalogue
        return PoseRow(content_hash, Status.ERROR, error=f"{backend.id} failed: {type(exc).__name__}: {exc}")


def _start_measure(image: np.ndarray, size: tuple[int, int]) -> MeasurePass | Exception:
    """The measurement's first stage; its failure is returned (and recorded by :func:`_finish_row`)."""
    try:
        # the model's copy is capped at MAX_SIDE_FOR_MODEL: the resolution rule needs the original size
        return MeasurePass(image, original_size=size)
    except Exception as exc:  # measurements help; the pose stands without them
        return exc


def _finish_row(content_hash: str, res: PoseResult, started: MeasurePass | Exception | Future,
                backend: PoseBackend) -> PoseRow:
    """The row of a model result and its measurement (``started``, or a Future of it)."""
    if isinstance(started, Future):
        started = started.result()
    signals = dict(getattr(res, "signals", None) or {})
    try:
        if isinstance(started, Exception):
            raise started
        # the statistics for the kinds without a person are skipped for a pose the person check accepts
        kinds = not (res.has_person and person_decision(res.landmarks, backend.landmark_names, signals).is_person)
        signals["image"] = started.result(kinds)
    except Exception as exc:  # measurements help; the pose stands without them
        signals["image_error"] = f"{type(exc).__name__}: {exc}"
    return PoseRow(content_hash, Status(res.status), res.landmarks, res.image_size[0], res.image_size[1],
                   res.score, signals=signals)


_worker_backend: PoseBackend | None = None


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when ``parent_pid`` ends, even by SIGKILL: the kernel's parent-death
    signal where there is one, and a watchdog thread polling the parent in every case."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):   # no prctl: the watchdog below still holds
            pass
    if os.getppid() != parent_pid:   # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_INTERVAL)
            if os.getppid() != parent_pid:
                os._exit(1)   # no cleanup: the parent that would read our results is gone

    threading.Thread(target=watch, name="unposed-parent-watchdog", daemon=True).start()


def _init_worker(options: PoseOptions, data_dir, parent_pid: int | None = None) -> None:
    global _worker_backend
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    # a Ctrl-C in a terminal reaches the whole process group: only the parent acts on it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker_backend = create_backend(options, data_dir)


def _run_chunk(items: list[tuple[str, str]]) -> list[PoseRow]:
    return [estimate_file(_worker_backend, h, p) for h, p in items]


def pending_images(store: Store, backend: str, version: str,
                   hashes: Iterable[str] | None = None) -> tuple[list[tuple[str, str]], int]:
    """The (content_hash, path) pairs not yet cached under (``backend``, ``version``), in catalogue
    order, and how many distinct catalogue images were considered: all of them, or those of
    ``hashes`` (content hashes; ones no longer in the catalogue are left out)."""
    pending = store.missing_poses(backend, version)
    items = list(zip(pending["content_hash"], pending["path"]))
    if hashes is None:
        return items, store.n_unique_images()
    wanted = set(store.image_paths(hashes)) if hashes else set()
    return [(h, p) for h, p in items if h in wanted], len(wanted)


def extract_poses(store: Store, options: PoseOptions | None = None, workers: int | None = None,
                  progress: ProgressFn | None = None, stop: threading.Event | None = None,
                  backend: PoseBackend | None = None, hashes: Iterable[str] | None = None) -> ExtractResult:
    """Fill the pose cache for the current catalogue, or for the images of ``hashes`` (content
    hashes) only. ``workers``: processes (default :func:`default_workers`). ``stop`` cancels
    between batches."""
    options = options or PoseOptions()
    t0 = time.perf_counter()
    own_backend = backend is None
    backend = backend or create_backend(options, store.data_dir)
    bid, version = backend_identity(backend)
    items, n_unique = pending_images(store, bid, version, hashes)
    if workers is None:
        workers = default_workers(len(items))
    workers = max(1, min(workers, len(items) or 1))
    tracker = ProgressTracker(f"pose ({bid})", len(items), progress)
    counts = dict.fromkeys(Status, 0)
    cancelled = False

    def save(rows: list[PoseRow]) -> None:
        store.put_poses(bid, version, rows)
        for r in rows:
            counts[r.status] += 1
        tracker.update(tracker.done + len(rows))

    try:
        if workers == 1:
            batch: list[PoseRow] = []
            try:
                for h, p in items:
                    if stop is not None and stop.is_set():
                        cancelled = True
                        break
                    batch.append(estimate_file(backend, h, p))
                    if len(batch) >= CHUNK:
                        save(batch)
                        batch = []
            except KeyboardInterrupt:   # Ctrl-C or SIGTERM: keep the images already done
                with contextlib.suppress(Exception):   # best effort: the interrupt is what to report
                    if batch:
                        save(batch)
                raise
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
                             initargs=(options, str(store.data_dir), os.getpid())) as pool:
        running, unsaved = set(), set()   # in flight; came back but not saved yet
        try:
            queue = iter(chunks)
            for chunk in queue:  # keep two chunks in flight per worker
                running.add(pool.submit(_run_chunk, chunk))
                if len(running) >= 2 * workers:
                    break
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                unsaved = set(done)
                for fut in done:
                    unsaved.discard(fut)   # at most once: an interrupt inside save rolls it back
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
        except BaseException:
            # interrupted (Ctrl-C, SIGTERM) or failed: keep what already came back, then stop
            # the workers now rather than let the pool's exit wait for every queued chunk
            try:
                for fut in [*unsaved, *running]:
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        save(fut.result())
            except Exception:   # best effort: what stopped us is the error to report
                pass
            finally:
                _stop_workers(pool)
            raise
    return False


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the worker processes without waiting for their chunks."""
    procs = list((getattr(pool, "_processes", None) or {}).values())   # no public handle before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(OSError, ValueError, AttributeError):   # already gone or closed
            p.terminate()
    for p in procs:
        try:
            p.join(5)
            if p.exitcode is None:
                p.kill()
                p.join(1)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass
