"""Cost and blur separation of the image-only view signals (``unpose_core.views.measure``).

1. ms per ``measure_image`` call on a 512x768 render and on a 3000x2000 photo-sized copy
   (median of ``--repeat`` calls after a warm-up, OpenCV on one thread; wall time, with the load
   average, and the thread's CPU time, which other processes on the machine do not inflate);
2. the quality thresholds: ``edge_sharpness``, ``blur`` and the ``blurred`` / ``low_resolution``
   flags of ``quality_flags`` on every sharp render and photo in ``assets/`` (and
   ``assets/views/`` if present) vs the same image blurred with a Gaussian of sigma 2, 3, 4
   and downscaled to 160 px on the long side; and the drift of the values when the sharp
   image is downscaled by 0.75 and 0.5.

    .venv/bin/python benchmarks/bench_views_cost.py [--repeat 300] [--max-views 100]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from unpose_core.images import load_rgb  # noqa: E402
from unpose_core.views.measure import measure_image  # noqa: E402
from unpose_core.views.quality import MIN_EDGE_SHARPNESS, quality_flags  # noqa: E402

ASSETS = ROOT / "assets"


def sharp_images(max_views: int) -> dict[str, np.ndarray]:
    files = sorted((ASSETS / "renders").glob("*.jpg")) + sorted((ASSETS / "photos").glob("*.*g"))
    views = sorted((ASSETS / "views").glob("*.*g")) if (ASSETS / "views").is_dir() else []
    files += views[:: max(1, len(views) // max_views)][:max_views] if views and max_views else []
    return {f"{p.parent.name}/{p.name}": load_rgb(p) for p in files}


def timing(repeat: int) -> None:
    cv2.setNumThreads(1)
    render = load_rgb(ASSETS / "renders" / "front_full_1.jpg")
    big = cv2.resize(load_rgb(ASSETS / "photos" / "skimage_astronaut.png"), (3000, 2000))
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    for name, img in (("512x768 render", render), ("3000x2000 photo", big)):
        for _ in range(10):
            measure_image(img)
        ts, cpu = [], []
        for _ in range(repeat if img is render else max(20, repeat // 10)):
            t, c = time.perf_counter(), time.thread_time()
            measure_image(img)
            ts.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
        med, p90, cmed = np.median(ts) * 1e3, np.percentile(ts, 90) * 1e3, np.median(cpu) * 1e3
        print(f"measure_image {name:16s} wall median {med:6.2f} ms  p90 {p90:6.2f} ms;"
              f" CPU time median {cmed:6.2f} ms (what the call costs when the machine is shared)")


def variants(img: np.ndarray) -> dict[str, np.ndarray]:
    h, w = img.shape[:2]
    out = {"sharp": img}
    for s in (2, 3, 4):
        out[f"gauss{s}"] = cv2.GaussianBlur(img, (0, 0), s)
    k = 160 / max(h, w)
    out["160px"] = cv2.resize(img, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    for f in (0.75, 0.5):
        out[f"x{f}"] = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return out


def separation(max_views: int) -> None:
    images = sharp_images(max_views)
    rows: dict[str, list[dict]] = {}
    for img in images.values():
        for name, v in variants(img).items():
            rows.setdefault(name, []).append(measure_image(v))
    print(f"\n{len(images)} sharp images; threshold MIN_EDGE_SHARPNESS = {MIN_EDGE_SHARPNESS}")
    print("| variant | edge_sharpness min / median / max | blur min / median | flagged blurred | flagged low_res |")
    print("|---|---|---|---|---|")
    for name, ms in rows.items():
        es = np.array([m["edge_sharpness"] for m in ms])
        bl = np.array([m["blur"] for m in ms])
        codes = [{f.code for f in quality_flags(m)} for m in ms]
        nb = sum("blurred" in c for c in codes)
        nl = sum("low_resolution" in c for c in codes)
        print(f"| {name} | {es.min():.3f} / {np.median(es):.3f} / {es.max():.3f} | {bl.min():.1f} / {np.median(bl):.1f}"
              f" | {nb}/{len(ms)} | {nl}/{len(ms)} |")
    for f in ("x0.75", "x0.5"):
        d_es = [abs(a["edge_sharpness"] - b["edge_sharpness"]) / max(a["edge_sharpness"], 1e-6)
                for a, b in zip(rows["sharp"], rows[f])]
        d_bl = [abs(a["blur"] - b["blur"]) / max(a["blur"], 1e-6) for a, b in zip(rows["sharp"], rows[f])]
        print(f"relative change sharp -> {f}: edge_sharpness median {np.median(d_es):.3f} max {np.max(d_es):.3f};"
              f" blur median {np.median(d_bl):.3f} max {np.max(d_bl):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=300)
    ap.add_argument("--max-views", type=int, default=100, help="at most this many images from assets/views")
    args = ap.parse_args()
    timing(args.repeat)
    separation(args.max_views)


if __name__ == "__main__":
    main()
