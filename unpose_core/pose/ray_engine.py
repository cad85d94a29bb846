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

import atexit
import contextlib
import json
import os
import queue
import shutil
import socket
import sys
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


# a cluster run stops, rather than waits, when the head stops answering or no node with a CPU is
# left for this long (Ray's own driver would wait 60 s for the head, then end the process unannounced)
CLUSTER_GRACE = 10.0
WATCH_INTERVAL = 0.5
CONNECT_TIMEOUT = 5.0   # seconds to reach the head's port before ray.init (which would retry forever)


class RayUnavailable(RuntimeError):
    """Ray is not installed: the message names the extra to install."""


class RayClusterLost(RuntimeError):
    """The Ray cluster went away under a run (its head, or every node with a CPU): the message says
    what happened, how much was saved, and that a re-run continues."""


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
    n_actors, seen, n_repeated = 0, set(), 0
    if items and not cancelled:
        with _ray_session(ray, address, actors or usable_cores()) as (cluster_cpus, watch):
            n_actors = max(1, min(actors or cluster_cpus, len(items)))
            size = min(batch_size, -(-len(items) // n_actors))   # small jobs: smaller batches, every actor busy
            ds = ray.data.from_items([{"content_hash": h, "path": p} for h, p in items],
                                     override_num_blocks=-(-len(items) // size))   # one block per batch
            # an actor lost with its node is restarted where a CPU is free and its batch sent again
            # (Ray Data's defaults for actor pools: max_restarts=-1, max_task_retries=-1); the driver
            # commits each image once, whichever try brought it
            ds = ds.map_batches(PoseActor, batch_size=size, batch_format="pyarrow", num_cpus=1,
                                compute=ray.data.ActorPoolStrategy(size=n_actors),
                                fn_constructor_kwargs={"options": asdict(options),
                                                      "data_dir": str(store.data_dir.resolve())})
            feed = _Feed(ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1))
            wait_for_feed = True
            try:
                for table in feed.tables(watch):
                    rows = table_to_rows(table)
                    fresh = [r for r in rows if r.content_hash not in seen]   # a batch sent twice counts once
                    n_repeated += len(rows) - len(fresh)
                    store.put_poses(bid, version, fresh)   # committed now: a re-run will not redo them
                    seen.update(r.content_hash for r in fresh)
                    for r in fresh:
                        counts[r.status] += 1
                    tracker.update(tracker.done + len(fresh))
                    if stop is not None and stop.is_set() and tracker.done < len(items):
                        cancelled = True
                        break
            except _Lost as lost:
                wait_for_feed = False   # the cluster is gone: nothing there to stop or wait for
                raise RayClusterLost(f"{lost}; {tracker.done} of {len(items)} images were saved before, "
                                     "a re-run continues with the rest") from None
            except KeyboardInterrupt:
                wait_for_feed = False   # the process is stopping: Ray's shutdown ends the actors
                raise
            finally:
                feed.halt(wait=wait_for_feed)
    tracker.finish("cancelled" if cancelled else "done")
    return ExtractResult(bid, version, n_unique, n_unique - len(items), sum(counts.values()),
                         counts[Status.PERSON], counts[Status.NO_PERSON], counts[Status.ERROR],
                         time.perf_counter() - t0, n_actors, cancelled, n_repeated)


class _Lost(Exception):
    """Raised by :meth:`_Feed.tables` when the watch says the cluster is gone."""


class _Feed:
    """Ray Data's batch iterator, read on a thread of its own: the driver's main thread then never
    waits inside Ray (with the head gone, Ray's calls block for a minute before Ray ends the
    process), and can give up on a lost cluster at once."""

    def __init__(self, batches: Iterable):
        self._batches, self._queue = batches, queue.Queue()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._read, name="unposed-ray-feed", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        it = iter(self._batches)
        try:
            for table in it:
                if self._halt.is_set():
                    break
                self._queue.put(("table", table))
            self._queue.put(("end", None))
        except BaseException as exc:   # handed to the main thread
            self._queue.put(("error", exc))
        finally:
            close = getattr(it, "close", None)   # stops the streaming executor and its actors
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def tables(self, watch: ClusterWatch | None):
        """The batches as they come; :class:`_Lost` when ``watch`` reports the cluster gone."""
        while True:
            try:
                kind, value = self._queue.get(timeout=WATCH_INTERVAL)
            except queue.Empty:
                if watch is not None and watch.lost is not None:
                    raise _Lost(watch.lost) from None
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def halt(self, wait: bool = True, timeout: float = 120.0) -> None:
        """Stop reading; with ``wait``, until the executor has stopped (what is in flight is dropped)."""
        self._halt.set()
        if wait:
            self._thread.join(timeout)


@contextlib.contextmanager
def _ray_session(ray, address: str | None, local_cpus: int):
    """Ray for one run; yields the CPUs it has. Connects to ``address``, or reuses a Ray this
    process already started, or starts a local one (``local_cpus`` CPUs, its own temp dir) and
    shuts it down afterwards."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False      # the engine reports progress through ProgressTracker
    ctx.print_on_execution_start = False
    if ray.is_initialized():
        yield int(ray.cluster_resources().get("CPU", 1)), None
        return
    temp_dir, auth_mode = None, os.environ.get(AUTH_MODE)
    if address:   # the cluster's own authentication settings (RAY_AUTH_MODE, token) apply as they are
        check_reachable(address)
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
    watch = ClusterWatch(ray, ray.get_runtime_context().gcs_address).start() if address else None
    try:
        yield int(ray.cluster_resources().get("CPU", 1)), watch
    finally:
        if watch is not None:
            watch.stop()
        if watch is not None and (watch.lost is not None or not watch.head_answers()):
            _abandon(ray)
        else:
            ray.shutdown()
        if temp_dir is not None:
            _restore_local(temp_dir, auth_mode)


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT`` (``ray://`` stripped), None for ``auto`` or anything else."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return (host.strip("[]"), int(port)) if host and port.isdigit() else None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """RuntimeError unless the head's port at ``address`` accepts a connection within ``timeout``
    (``ray.init`` itself would retry for ever)."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        socket.create_connection(hp, timeout=timeout).close()
    except OSError as exc:
        raise RuntimeError(f"cannot reach the Ray cluster at {address} ({exc}); start it with "
                           "`ray start --head` or check the address") from None


class ClusterWatch:
    """Watches a cluster during a run: when its head (the GCS at ``gcs_address``) stops accepting
    connections, or no alive node has a CPU, for :data:`CLUSTER_GRACE` seconds, it records why in
    ``lost``, which the engine turns into :class:`RayClusterLost`."""

    def __init__(self, ray, gcs_address: str, grace: float = CLUSTER_GRACE, interval: float = WATCH_INTERVAL):
        self.ray, self.gcs_address, self.grace, self.interval = ray, gcs_address, grace, interval
        self.lost: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="unposed-ray-watch", daemon=True)

    def start(self) -> ClusterWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()

    def head_answers(self) -> bool:
        hp = _host_port(self.gcs_address)
        try:
            if hp is not None:
                socket.create_connection(hp, timeout=max(1.0, self.interval * 2)).close()
        except OSError:
            return False
        return True

    def _problem(self) -> str | None:
        if not self.head_answers():
            return f"the Ray cluster's head at {self.gcs_address} stopped answering"
        try:
            cpus = self.ray.cluster_resources().get("CPU", 0)
        except Exception:   # the head went while asking: the next round says so
            return None
        return None if cpus > 0 else "no node of the Ray cluster with a CPU is left"

    def _watch(self) -> None:
        since = None
        while not self._done.wait(self.interval):
            problem = self._problem()
            if problem is None:
                since = None
                continue
            since = since or time.monotonic()
            if time.monotonic() - since >= self.grace:
                self.lost = f"{problem} for {self.grace:g} s"
                return


_abandoned = threading.Event()


def _abandon(ray) -> None:
    """Leave a Ray whose head is gone without ``ray.shutdown``, which would wait on the head (Ray's
    driver gives up after 60 s and ends the process without a word); also at interpreter exit.
    The process should then end through :func:`end_process` (see :func:`abandoned`)."""
    _abandoned.set()
    atexit.unregister(ray.shutdown)
    with contextlib.suppress(AttributeError):
        atexit.unregister(ray._private.worker.shutdown)


def abandoned() -> bool:
    """Whether this process left a Ray cluster whose head was gone: Ray's driver state then cannot
    be torn down (the interpreter's own exit crashes in it), so a command ends with
    :func:`end_process` once it has said what happened."""
    return _abandoned.is_set()


def end_process(code: int) -> None:
    """Flush the standard streams and end the process now with ``code``, past Ray's teardown."""
    for f in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            f.flush()
    os._exit(code)


def _restore_local(temp_dir: str, auth_mode: str | None) -> None:
    shutil.rmtree(temp_dir, ignore_errors=True)
    if auth_mode is None:
        os.environ.pop(AUTH_MODE, None)
