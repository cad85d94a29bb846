"""Extraction throughput and cache benefit, measured side by side in one run.

Prints, on the same demo images:
  1. images/s of a bare mediapipe loop (PIL decode + Pose.process, nothing else);
  2. images/s of the full `unposed extract` path (safe load, hashing-keyed cache, SQLite
     writes, progress) with 1 worker, and with 2 worker processes;
  3. the time of a re-run on the unchanged catalogue versus the first run.
Targets (issue 3): full path >= 0.9x the bare loop; re-run <= 2% of the first run.

    .venv/bin/python benchmarks/bench_extract.py [--n 300]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")


def bare_loop(paths: list[str]) -> float:
    import mediapipe as mp
    import numpy as np
    from PIL import Image

    warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype")
    pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    pose.process(np.asarray(Image.open(paths[0]).convert("RGB")))  # warm-up, as the engine's is
    t = time.perf_counter()
    for p in paths:
        pose.process(np.asarray(Image.open(p).convert("RGB")))
    dt = time.perf_counter() - t
    pose.close()
    return dt


def engine(data_dir: Path, manifest: Path, image_root: Path, workers: int):
    from unpose_core.catalog.manifest import import_catalogue
    from unpose_core.pose.extract import extract_poses
    from unpose_core.store import Store

    store = Store(data_dir)
    products, images, report = import_catalogue(manifest, image_root)
    store.replace_catalogue(products, images, report.problems, "bench")
    t = time.perf_counter()
    first = extract_poses(store, workers=workers)
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    again = extract_poses(store, workers=workers)
    t_again = time.perf_counter() - t
    assert again.n_processed == 0
    store.close()
    return first, t_first, t_again


def main() -> None:
    import pandas as pd

    from unpose_core.catalog.demo import build_demo

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300, help="images to time")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build = build_demo(tmp / "demo", seed=0)
        m = pd.read_csv(build.manifest_path).head(args.n)
        manifest = tmp / "bench.csv"
        m.to_csv(manifest, index=False)
        paths = [str(build.image_root / p) for p in m["image_path"]]
        n = len(paths)

        bare = bare_loop(paths)
        print(f"images: {n} demo images (~512 px), mediapipe BlazePose full, complexity 1")
        print(f"bare mediapipe loop      : {n / bare:7.1f} img/s  ({bare:.1f} s)")
        rows = []
        for workers in (1, 2):
            first, t_first, t_again = engine(tmp / f"data{workers}", manifest, build.image_root, workers)
            rows.append((workers, first, t_first, t_again))
            print(f"unposed extract, {workers} worker : {n / t_first:7.1f} img/s  ({t_first:.1f} s)"
                  f"  ratio vs bare {bare / t_first:5.2f}x")
        print()
        for workers, _, t_first, t_again in rows:
            print(f"re-run on unchanged catalogue ({workers} worker): {t_again * 1000:.1f} ms = "
                  f"{100 * t_again / t_first:.2f}% of the first run")
        ratio = bare / rows[0][2]
        print()
        print(f"TARGET full path >= 0.9x bare (same single core): {ratio:.2f}x "
              f"{'OK' if ratio >= 0.9 else 'MISSED'}")
        worst = max(t_again / t_first for _, _, t_first, t_again in rows)
        print(f"TARGET re-run <= 2% of first run: {100 * worst:.2f}% {'OK' if worst <= 0.02 else 'MISSED'}")


if __name__ == "__main__":
    main()
