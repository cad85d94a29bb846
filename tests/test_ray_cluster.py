"""The Ray engine on a cluster of several Ray nodes on this machine (Ray's own
``ray.cluster_utils.Cluster``: each node its own raylet and object store), losing a node in the
middle of a run, as real clusters do.

- A worker node is removed while ``unposed extract --engine ray --address ...`` runs: the run
  finishes on the nodes left, no pose is lost or saved twice, the batches committed before are
  not redone, and the cache holds the local engine's rows. ``unposed report --engine ray
  --address ...`` then runs on what is left of the cluster and gives the local report's CSV.
- The head is removed mid-run: the command stops within the engine's grace period with exit
  status 2 and one ``error:`` line saying the head stopped answering and that a re-run
  continues; the re-run (a local Ray) finishes the rest without redoing anything.

The cluster is kept small for a 2-core machine: a head with no CPU (the driver's node) and two
worker nodes of one CPU each, 100 MB object stores, all on 127.0.0.1. The commands run as
subprocesses (a driver whose head dies must not be this test process).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, copy_data_dir, require_ray, views_catalogue

ray = require_ray()
from ray.cluster_utils import Cluster

from unpose_core.catalog.manifest import import_catalogue
from unpose_core.pose import ray_engine
from unpose_core.pose.extract import CHUNK, extract_poses
from unpose_core.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

N_IMAGES = 48
RUN_TIMEOUT = 300   # seconds a command may take on a loaded 2-core machine before the test calls it a hang
CLI = "import sys; from unpose_core.cli import main; sys.exit(main(sys.argv[1:]))"
NODE = {"object_store_memory": 100 << 20, "node_ip_address": "127.0.0.1"}


@pytest.fixture(scope="module")
def ray_env():
    """A private Ray environment: no token, its own short temp dir (socket paths stay under
    ~107 characters; the cluster's address file goes there, not to /tmp/ray), loopback only."""
    temp = tempfile.mkdtemp(prefix="ur-")
    (Path(temp) / "ray").mkdir()
    env = {"RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": temp, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_DEDUP_LOGS": "0"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield Path(temp) / "ray"
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def cluster(ray_env):
    """Head (no CPU) + two worker nodes of one CPU each."""
    t0 = time.perf_counter()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                       "temp_dir": str(ray_env), **NODE})
    try:
        for _ in range(2):
            c.add_node(num_cpus=1, **NODE)
        c.wait_for_nodes()
        c.start_seconds = time.perf_counter() - t0
        yield c
    finally:
        c.shutdown()


def _imported(root: Path, extra: int = 0) -> Path:
    """A data dir holding the catalogue (with ``extra`` products of 4 views), nothing extracted."""
    products, images, report = import_catalogue(*views_catalogue(root / "catalogue", extra=extra))
    assert report.ok and len(images) == N_IMAGES + 4 * extra
    store = Store(root / "data")
    try:
        store.replace_catalogue(products, images, report.problems, "test")
    finally:
        store.close()
    return root / "data"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    """The 48-image catalogue."""
    return _imported(tmp_path_factory.mktemp("ray-cluster"))


@pytest.fixture(scope="module")
def imported_more(tmp_path_factory) -> Path:
    """The catalogue with 12 more products of 4 views (96 images): enough batches still to do
    when the head goes that the run cannot finish without it."""
    return _imported(tmp_path_factory.mktemp("ray-cluster-more"), extra=12)


@pytest.fixture(scope="module")
def local_poses(imported, tmp_path_factory):
    """The local engine's cache rows for the catalogue (the reference the cluster must match)."""
    data = copy_data_dir(imported, tmp_path_factory.mktemp("ray-local") / "data")
    store = Store(data)
    try:
        res = extract_poses(store, workers=1)
        return store.poses(res.backend, res.backend_version)
    finally:
        store.close()


def _unposed(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def _committed(data: Path) -> dict[str, float]:
    with contextlib.closing(sqlite3.connect(data / "unposed.sqlite", timeout=10)) as c, c:
        return dict(c.execute("SELECT content_hash, created_at FROM poses"))


def _remove_when_committed(proc: subprocess.Popen, data: Path, remove, n: int) -> tuple[dict[str, float], float]:
    """Wait until ``n`` poses are committed, call ``remove()``; the rows committed then, and when."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < RUN_TIMEOUT:
        assert proc.poll() is None, f"the run ended before the node was removed: {proc.communicate()}"
        rows = _committed(data)
        if len(rows) >= n:
            remove()
            return rows, time.perf_counter() - t0
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no batch was committed in time")


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the command hung after the node was lost:\n{err[-3000:]}") from None
    return proc.returncode, out, err


def _json(out: str) -> dict:
    """The command's JSON document in its standard output (Ray's own log lines may surround it)."""
    lines = out.splitlines()
    start = lines.index("{")
    return json.loads("\n".join(lines[start:lines.index("}", start) + 1]))


def _assert_matches_local(data: Path, res: dict, local_poses: dict) -> None:
    """The data dir's cache rows of the run ``res`` (its --json) = the local engine's, image for image."""
    store = Store(data)
    try:
        poses = store.poses(res["backend"], res["backend_version"])
    finally:
        store.close()
    assert_same_poses({h: poses[h] for h in local_poses}, local_poses)   # the first 48 images


def assert_same_poses(got: dict, want: dict) -> None:
    """The cache rows of two engines are the same (landmarks to float32 precision)."""
    assert got.keys() == want.keys()
    for h, a in want.items():
        b = got[h]
        assert (a.status, a.width, a.height, a.error, a.signals) == (b.status, b.width, b.height, b.error,
                                                                      b.signals), h
        assert a.score == pytest.approx(b.score, abs=1e-6)
        if a.landmarks is None:
            assert b.landmarks is None
        else:
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-6)


def test_a_worker_node_lost_mid_run_loses_and_repeats_nothing(cluster, imported_more, local_poses, tmp_path):
    n_images = 2 * N_IMAGES   # 6 batches of 16: when the first is saved, both actors hold one and more wait
    data = copy_data_dir(imported_more, tmp_path / "data")
    victim = next(iter(cluster.worker_nodes))
    t0 = time.perf_counter()
    proc = _unposed("extract", "--engine", "ray", "--address", cluster.address, "--data-dir", str(data), "-q",
                    "--json")
    before, at = _remove_when_committed(proc, data, lambda: cluster.remove_node(victim, allow_graceful=False), CHUNK)
    code, out, err = _finish(proc)
    seconds = time.perf_counter() - t0
    assert code == 0, err[-3000:]
    res = _json(out)
    after = _committed(data)
    table = cluster.global_state.actor_table(None)
    actors = [a for a in (table.values() if isinstance(table, dict) else table) if "PoseActor" in a["ActorClassName"]]
    print(f"\nworker node lost: cluster up in {cluster.start_seconds:.1f} s; node removed {at:.1f} s into the run "
          f"with {len(before)} of {n_images} images committed; run finished in {seconds:.1f} s; "
          f"{res['n_processed']} rows saved, {res['n_repeated']} rows came back twice (saved once); "
          f"{len(actors)} pose actors, {sum(a['NumRestarts'] for a in actors)} restart(s)")
    assert res["n_processed"] == n_images and res["n_cached"] == 0   # each image saved once by this run
    assert len(after) == n_images and {h: after[h] for h in before} == before   # nothing redone, nothing lost
    _assert_matches_local(data, res, local_poses)

    # the report on what is left of the cluster (head + one worker) = the local report
    code, _, err = _finish(_unposed("train", "--k", "3", "--data-dir", str(data), "-q"))
    assert code == 0, err[-3000:]
    subjects = Store(data)
    try:
        images = subjects.images()
        sub = images.loc[images["product_id"].str.startswith("sub-"), "content_hash"].tolist()
    finally:
        subjects.close()
    with contextlib.closing(sqlite3.connect(data / "unposed.sqlite")) as c, c:   # the report must extract these again
        c.executemany("DELETE FROM poses WHERE content_hash=?", [(h,) for h in sub])
    local = copy_data_dir(data, tmp_path / "local")
    code, _, err = _finish(_unposed("report", "--engine", "ray", "--address", cluster.address, "--data-dir",
                                    str(data), "--out", str(tmp_path / "ray.csv"), "-q"))
    assert code == 0, err[-3000:]
    code, _, err = _finish(_unposed("report", "--data-dir", str(local), "--out", str(tmp_path / "local.csv"), "-q"))
    assert code == 0, err[-3000:]
    assert (tmp_path / "ray.csv").read_text() == (tmp_path / "local.csv").read_text()
    assert len((tmp_path / "ray.csv").read_text().splitlines()) == 17   # header + 16 subject products
    assert len(_committed(data)) == n_images


def test_the_head_lost_mid_run_stops_with_one_clear_error_and_a_rerun_continues(cluster, imported_more,
                                                                                  local_poses, tmp_path):
    n_images = 2 * N_IMAGES   # 6 batches of 16: when the first is saved, at least 4 wait for the head's store
    data = copy_data_dir(imported_more, tmp_path / "data")
    proc = _unposed("extract", "--engine", "ray", "--address", cluster.address, "--data-dir", str(data), "-q")
    before, _ = _remove_when_committed(proc, data,
                                       lambda: cluster.remove_node(cluster.head_node, allow_graceful=False), 1)
    t0 = time.perf_counter()
    code, _, err = _finish(proc)
    stopped = time.perf_counter() - t0
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    print(f"\nhead lost with {len(before)} of {n_images} images committed: the command stopped {stopped:.1f} s "
          f"later (grace {ray_engine.CLUSTER_GRACE:g} s), exit {code}, {len(_committed(data))} saved: {errors}")
    assert code == 2 and len(errors) == 1, err[-3000:]
    assert "head" in errors[0] and "stopped answering" in errors[0] and "re-run continues" in errors[0]
    assert stopped < ray_engine.CLUSTER_GRACE + 30
    saved = _committed(data)
    # the message counts what was saved when the run stopped (a batch may land between the removal
    # and the stop, so at least what was saved at the removal)
    assert f"{len(saved)} of {n_images} images were saved before" in errors[0]
    assert {h: saved[h] for h in before} == before and len(before) <= len(saved) < n_images

    # the re-run continues on a local Ray (the cluster is gone)
    code, out, err = _finish(_unposed("extract", "--engine", "ray", "--actors", "1", "--data-dir", str(data), "-q",
                                      "--json"))
    assert code == 0, err[-3000:]
    res = _json(out)
    after = _committed(data)
    assert res["n_cached"] == len(saved) and res["n_processed"] == n_images - len(saved)
    assert len(after) == n_images and {h: after[h] for h in saved} == saved
    _assert_matches_local(data, res, local_poses)


def test_an_unreachable_address_is_one_clear_error_not_a_hang(imported, tmp_path, ray_env):
    import socket

    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = copy_data_dir(imported, tmp_path / "data")
    t0 = time.perf_counter()
    code, _, err = _finish(_unposed("extract", "--engine", "ray", "--address", f"127.0.0.1:{port}", "--data-dir",
                                    str(data), "-q"))
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "cannot reach the Ray cluster" in errors[0], err[-2000:]
    assert time.perf_counter() - t0 < 60 and not ray.is_initialized()
