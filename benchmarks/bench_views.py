"""What each image shows: the cost of the new signals, and how well the view rules read the
labelled renders (``assets/views``).

1. Extraction time per image, side by side in one run on the same images (interleaved, so a
   busy machine weighs on both alike): a bare BlazePose loop (legacy ``mp.solutions.pose``,
   what extraction cost before) versus ``estimate_file`` with the Tasks PoseLandmarker
   (two people, segmentation), the face detector on the head and ``measure_image`` (what
   extraction costs now), and the pose step alone. Goal: at most 1.3x.
2. ``unposed views evaluate`` on the labelled renders: facing and framing accuracy with
   confusion matrices, kind accuracy, several-people precision / recall, and K-Means purity
   by facing and by framing, the paper's 77 dims versus the embedding with view dimensions,
   K = 6 ... 16.

    .venv/bin/python benchmarks/bench_views.py [--images 96] [--rounds 3] [--skip-eval]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_minloglevel", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from unpose_core.config import PoseOptions  # noqa: E402
from unpose_core.images import load_rgb  # noqa: E402
from unpose_core.pose import create_backend  # noqa: E402
from unpose_core.pose.extract import estimate_file  # noqa: E402


def cost(paths: list[str], rounds: int) -> dict:
    import mediapipe as mp

    legacy = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, smooth_landmarks=False)
    backend = create_backend(PoseOptions())
    images = [load_rgb(p) for p in paths[:4]]
    times = {"bare legacy BlazePose": [], "new pose step (Tasks + face)": [], "new extraction (estimate_file)": []}
    try:
        for im in images:   # warm up
            legacy.process(im)
            backend.estimate(im)
        for _ in range(rounds):
            for p in paths:
                t = time.perf_counter()
                legacy.process(load_rgb(p))
                times["bare legacy BlazePose"].append(time.perf_counter() - t)
                t = time.perf_counter()
                backend.estimate(load_rgb(p))
                times["new pose step (Tasks + face)"].append(time.perf_counter() - t)
                t = time.perf_counter()
                estimate_file(backend, "x", p)
                times["new extraction (estimate_file)"].append(time.perf_counter() - t)
    finally:
        legacy.close()
        backend.close()
    base = float(np.mean(times["bare legacy BlazePose"]))
    return {k: (1000 * float(np.mean(v)), float(np.mean(v)) / base) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-eval", action="store_true")
    args = ap.parse_args()
    labels_csv = ROOT / "assets" / "views" / "labels.csv"
    files = sorted((ROOT / "assets" / "views").glob("*.jpg")) or sorted((ROOT / "assets" / "renders").glob("*.jpg"))
    paths = [str(p) for p in files[:: max(1, len(files) // args.images)][:args.images]]
    print(f"# extraction cost on {len(paths)} images x {args.rounds} rounds (load {os.getloadavg()[0]:.1f})")
    print(f"{'':34} {'ms/image':>9} {'x bare':>7}")
    for name, (ms, ratio) in cost(paths, args.rounds).items():
        print(f"{name:34} {ms:9.1f} {ratio:7.2f}")
    if args.skip_eval or not labels_csv.is_file():
        return
    from unpose_core.cli import main as cli
    print(f"\n# unposed views evaluate {labels_csv.relative_to(ROOT)}")
    pd.set_option("display.width", 200)
    cli(["views", "evaluate", str(labels_csv), "-q"])


if __name__ == "__main__":
    main()
