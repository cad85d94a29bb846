"""A seller's upload: time from four image files to the suggestion, against the bare pose
model on the same four images, side by side in one run.

Each round writes four new files (a different corner mark each round, so nothing is cached:
a seller's photos are new to the store) and times

* bare model: decode + ``backend.estimate`` of the four images (what no pipeline can avoid);
* upload: ``Suggester.for_images`` on the four files (hashing, the measurement pass, store
  writes and reads, views, classes, the missing-pose rule and example images);
* with ``--sequential`` also the upload with the measurement pass on the calling thread after
  each model call (``estimate_files(overlap=False)``), to see what running it alongside the
  model saves under the same load.

Besides the ratio of the medians it prints the median of the per-round ratios (upload over the
same round's bare model), which a load changing during the run moves less.

Goal (issue 14): upload at most 1.1x the bare model. Needs a trained data dir (``make demo``):

    .venv/bin/python benchmarks/bench_upload.py [--data-dir .unposed] [--rounds 10] [--sequential]
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_minloglevel", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from unpose_core.images import load_rgb  # noqa: E402
from unpose_core.pose.extract import estimate_files  # noqa: E402
from unpose_core.runs import get_run  # noqa: E402
from unpose_core.store import Store  # noqa: E402
from unpose_core.suggestions import Suggester, suggester  # noqa: E402

RUN_SEED = int.from_bytes(os.urandom(4), "little")
LISTING = ("v03_y000_full_length.jpg", "v03_y180_upper_body.jpg", "v03_y090_full_length.jpg", "v03_flatlay_flat.jpg")


def fresh_files(folder: Path, round_: int) -> list[str]:
    out = []
    for i, name in enumerate(LISTING):
        src = ROOT / "assets" / "views" / name
        if not src.is_file():
            src = sorted((ROOT / "assets" / "views").glob("*.jpg"))[i]
        im = np.asarray(Image.open(src).convert("RGB")).copy()
        rng = np.random.default_rng([RUN_SEED, round_, i])   # new to the store in every run
        im[:16, :16] = rng.integers(0, 256, (16, 16, 3))   # a new file content each round (survives JPEG)
        p = folder / f"r{round_}_{i}.jpg"
        Image.fromarray(im).save(p, quality=92)
        out.append(str(p))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("UNPOSED_DATA_DIR", str(ROOT / ".unposed")))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--sequential", action="store_true",
                    help="also time the upload with the measurement pass not overlapped with the model")
    args = ap.parse_args()
    store = Store(args.data_dir)
    run = get_run(store)
    sug = Suggester(store, run)
    backend = sug.backend()
    bare, upload, sequential = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        warm = fresh_files(Path(tmp), 10_000)
        sug.for_images(warm, "Clothing", "T-shirts")   # load everything once
        for r in range(args.rounds):
            files = fresh_files(Path(tmp), r)
            t = time.perf_counter()
            for p in files:
                backend.estimate(load_rgb(p))
            bare.append(time.perf_counter() - t)
            files = fresh_files(Path(tmp), 1000 + r)
            t = time.perf_counter()
            s = sug.for_images(files, "Clothing", "T-shirts")
            upload.append(time.perf_counter() - t)
            assert len(s.images) == 4
            if args.sequential:
                files = fresh_files(Path(tmp), 2000 + r)
                suggester.estimate_files = functools.partial(estimate_files, overlap=False)
                try:
                    t = time.perf_counter()
                    s = sug.for_images(files, "Clothing", "T-shirts")
                    sequential.append(time.perf_counter() - t)
                finally:
                    suggester.estimate_files = estimate_files
                assert len(s.images) == 4
    sug.close()
    store.close()
    b, u = 1000 * float(np.median(bare)), 1000 * float(np.median(upload))
    # the paired ratio (each round's upload over the same round's bare model) follows a load that
    # changes during the run less than the ratio of the two medians does
    paired = float(np.median(np.array(upload) / np.array(bare)))
    print(f"4-image upload, median of {args.rounds} rounds (load {os.getloadavg()[0]:.1f})")
    print(f"  {'':32} {'ms':>7}   x bare   paired x")
    print(f"  {'bare model (decode + estimate)':32} {b:7.1f}")
    print(f"  {'upload -> suggestion':32} {u:7.1f}   {u / b:5.2f}x   {paired:5.2f}x   (goal <= 1.10x)")
    if sequential:
        q = 1000 * float(np.median(sequential))
        pq = float(np.median(np.array(sequential) / np.array(bare)))
        print(f"  {'upload, measurement sequential':32} {q:7.1f}   {q / b:5.2f}x   {pq:5.2f}x")


if __name__ == "__main__":
    main()
