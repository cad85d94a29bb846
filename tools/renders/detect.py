"""Add a ``blazepose_detected`` column to a render set's labels.csv: whether the project's BlazePose
backend finds a person in each image (1/0). The demo builds its listings from detected person
shots only, so its ground truth is not blurred by images the pose model cannot read (those are
measured by `unposed views evaluate` instead). Needs mediapipe; run after build.py:

    .venv/bin/python tools/renders/detect.py [assets/views/labels.csv]
"""
from __future__ import annotations

import csv
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GLOG_minloglevel", "2")
warnings.filterwarnings("ignore")


def main(labels: Path) -> None:
    from unpose_core.images import load_rgb
    from unpose_core.pose import PoseOptions, create_backend

    with open(labels, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0]) if rows else []
    if "blazepose_detected" not in fields:
        fields.append("blazepose_detected")
    backend = create_backend(PoseOptions())
    try:
        for r in rows:
            res = backend.estimate(load_rgb(labels.parent / r["file"]))
            r["blazepose_detected"] = int(res.has_person)
    finally:
        backend.close()
    with open(labels, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    n = sum(int(r["blazepose_detected"]) for r in rows)
    print(f"{labels}: BlazePose finds a person in {n} of {len(rows)} images")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "views" / "labels.csv")
