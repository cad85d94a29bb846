"""The Ray engine against the local one, side by side in one run on the same images.

Prints ms/image and the ratio to the baseline for:
  1. baseline: the per-image function (``estimate_file``) in a loop in this process, one model
     already loaded (what every engine runs per image, without engine, store or start-up);
  2. the local engine (``extract_poses``) with 1 worker (in-process) and 2 worker processes;
  3. the Ray engine (``extract_poses_ray``) with 1 and 2 actors on a local Ray (num_cpus = actors),
     excluding Ray's start-up (a Ray already running: actor start and model loads included) and
     including it (``ray.init`` + the run + ``ray.shutdown``).
Then extrapolates a 1M-image run from the Ray per-actor cost.

    nice -n 10 .venv/bin/python benchmarks/bench_ray.py [--n 96] [--images 'assets/views/*.jpg']
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ROOT = Path(__file__).resolve().parents[1]


def make_store(data_dir: Path, manifest: Path, image_root: Path):
    from unpose_core.catalog.manifest import import_catalogue
    from unpose_core.store import Store

    products, images, report = import_catalogue(manifest, image_root)
    store = Store(data_dir)
    store.replace_catalogue(products, images, report.problems, "bench")
    return store


def baseline(items: list[tuple[str, str]]) -> float:
    """Seconds for ``estimate_file`` over ``items`` with one loaded model (warm-up excluded)."""
    from unpose_core.pose import PoseOptions, create_backend
    from unpose_core.pose.extract import estimate_file

    backend = create_backend(PoseOptions())
    try:
        estimate_file(backend, *items[0])   # warm-up, as the engines' first image is inside their model load
        t = time.perf_counter()
        for h, p in items:
            estimate_file(backend, h, p)
        return time.perf_counter() - t
    finally:
        backend.close()


def main() -> None:
    import pandas as pd
    import ray

    from unpose_core.pose.extract import extract_poses
    from unpose_core.pose.ray_engine import extract_poses_ray

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=96, help="images to time")
    ap.add_argument("--images", default=str(ROOT / "assets/views/*.jpg"), help="glob of the images")
    args = ap.parse_args()
    paths = sorted(glob.glob(args.images))[: args.n]
    if not paths:
        raise SystemExit(f"no images match {args.images}")
    n = len(paths)
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        tmp = Path(tmp)
        root = tmp / "imgs"
        root.mkdir()
        for p in paths:
            shutil.copy(p, root / Path(p).name)
        manifest = tmp / "m.csv"
        pd.DataFrame({"product_id": [f"p{i // 8}" for i in range(n)],
                      "image_path": [Path(p).name for p in paths]}).to_csv(manifest, index=False)

        store = make_store(tmp / "base", manifest, root)
        items = list(store.missing_poses("", "").itertuples(index=False, name=None))
        store.close()
        rows: list[tuple[str, float, int]] = [("baseline: estimate_file loop, in-process", baseline(items), 1)]

        for workers in (1, 2):
            store = make_store(tmp / f"local{workers}", manifest, root)
            t = time.perf_counter()
            res = extract_poses(store, workers=workers)
            rows.append((f"local engine, {workers} worker(s)", time.perf_counter() - t, workers))
            assert res.n_processed == n, res
            store.close()

        ray_run: dict[int, float] = {}
        ray_start: dict[int, float] = {}
        for actors in (1, 2):
            store = make_store(tmp / f"ray{actors}", manifest, root)
            temp_dir = tempfile.mkdtemp(prefix="bench-ray-")
            t = time.perf_counter()
            ray.init(num_cpus=actors, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
            t_init = time.perf_counter() - t
            t = time.perf_counter()
            res = extract_poses_ray(store, actors=actors)
            t_run = time.perf_counter() - t
            t = time.perf_counter()
            ray.shutdown()
            t_down = time.perf_counter() - t
            shutil.rmtree(temp_dir, ignore_errors=True)
            assert res.n_processed == n and res.workers == actors, res
            store.close()
            ray_run[actors], ray_start[actors] = t_run, t_init + t_down
            rows.append((f"ray, {actors} actor(s), excluding start-up", t_run, actors))
            rows.append((f"ray, {actors} actor(s), including start-up ({t_init:.1f} s init, {t_down:.1f} s shutdown)",
                         t_init + t_run + t_down, actors))

    base = rows[0][1]
    load = os.getloadavg()
    print(f"{n} images ({args.images}), BlazePose (mediapipe Tasks, full), {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} / {load[1]:.1f}")
    print("| engine | seconds | ms/image (wall) | ms/image per worker or actor | x baseline time |")
    print("|---|---|---|---|---|")
    for name, secs, k in rows:
        print(f"| {name} | {secs:.1f} | {1000 * secs / n:.0f} | {1000 * secs * k / n:.0f} | {secs / base:.2f} |")
    per_actor = 1000 * ray_run[1] / n
    start = max(ray_start.values())
    print()
    print(f"EXTRAPOLATED (not measured): 1M images at {per_actor:.0f} ms/image per actor (the 1-actor Ray run, "
          f"actor start and model load amortised over {n} images) / actors + {start:.0f} s Ray start and shutdown")
    for actors in (2, 16, 64, 256):
        hours = (per_actor * 1e6 / actors / 1000 + start) / 3600
        print(f"  {actors:>4} actors: {hours:6.1f} h")


if __name__ == "__main__":
    main()
