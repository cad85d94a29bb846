"""Fit a COCO-17 backend's joint-score calibration to BlazePose's visibility scale
(:mod:`unpose_core.pose.calibration`) on labelled images, and check it on held-out products.

    .venv/bin/python scripts/calibrate_visibility.py --backend movenet-thunder
    .venv/bin/python scripts/calibrate_visibility.py --backend movenet-lightning --labels assets/views/labels.csv

Runs BlazePose full and the backend on every image of the labels CSV, pairs each of the 17
COCO joints both found on the same image (the backend's raw score, BlazePose's visibility of
that joint), fits the isotonic map and prints it as the ``ScoreCalibration`` to paste beside
the backend. Then, twice (products split in two halves, seeded), fits on one half and reads the
other half's single-person views with the raw scores and with the map: pose found, facing and
framing accuracy (the figures the README quotes).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from unpose_core.evaluation.views import read_labels  # noqa: E402
from unpose_core.pose import PoseOptions, create_backend  # noqa: E402
from unpose_core.pose.calibration import fit_calibration  # noqa: E402
from unpose_core.pose.extract import estimate_file  # noqa: E402
from unpose_core.views.describe import describe_image  # noqa: E402


def poses(backend_id: str, paths: list[str]) -> tuple[list, tuple[str, ...]]:
    backend = create_backend(PoseOptions(backend=backend_id))
    try:
        return [estimate_file(backend, p, p) for p in paths], tuple(backend.landmark_names)
    finally:
        backend.close()


def raw(row) -> np.ndarray:
    """The backend's own scores (before any calibration it already applies)."""
    scores = (row.signals or {}).get("joint_scores")
    return np.asarray(scores if scores is not None else np.asarray(row.landmarks)[:, 3], np.float64)


def with_scores(row, values: np.ndarray):
    lm = np.array(row.landmarks, np.float32)
    lm[:, 3] = values
    return replace(row, landmarks=lm)


def read(rows, names, labels, mask) -> dict:
    m = mask & (labels["kind"] == "person").to_numpy() & labels["facing"].notna().to_numpy() \
        & (labels["n_people"] <= 1).to_numpy()
    views = [describe_image(r, names) if k else None for r, k in zip(rows, m)]
    got = [(v, f, fr) for v, f, fr, k in zip(views, labels["facing"], labels["framing"], m) if k]
    return {"n": len(got),
            "found": round(float(np.mean([v is not None and v.facing is not None for v, _, _ in got])), 3),
            "facing": round(float(np.mean([v is not None and str(v.facing) == f for v, f, _ in got])), 3),
            "framing": round(float(np.mean([v is not None and str(v.framing) == fr for v, _, fr in got])), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", required=True, help="a COCO-17 backend, e.g. movenet-thunder")
    ap.add_argument("--labels", default=str(ROOT / "assets/views/labels.csv"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    labels = read_labels(args.labels)
    paths = labels["path"].tolist()
    print(f"{len(paths)} images: BlazePose full and {args.backend} ...", flush=True)
    ref, ref_names = poses("blazepose", paths)
    rows, names = poses(args.backend, paths)
    pick = [ref_names.index(n) for n in names]
    both = np.array([a.is_person and b.is_person for a, b in zip(rows, ref)])

    def fit(mask):
        s = [raw(a) for a, k in zip(rows, mask & both) if k]
        v = [np.asarray(b.landmarks)[pick, 3] for b, k in zip(ref, mask & both) if k]
        return fit_calibration(np.concatenate(s), np.concatenate(v),
                               source=f"{Path(args.labels).name}, {len(s)} images")

    cal = fit(np.ones(len(rows), bool))
    print(f"\n{args.backend}: {cal.source}, version {cal.version}")
    print(f"ScoreCalibration(({', '.join(f'{v:g}' for v in cal.values)}),\n"
          f"                 source={cal.source!r})")
    products = np.asarray(sorted(labels["product"].fillna("").unique()))
    half = set(np.random.default_rng(args.seed).permutation(products)[: len(products) // 2])
    a = labels["product"].fillna("").isin(half).to_numpy()
    uncal = [with_scores(r, raw(r)) if r.is_person else r for r in rows]
    print("\nheld-out products (single-person images): raw scores -> calibrated")
    for train, test, name in ((a, ~a, "half A -> half B"), (~a, a, "half B -> half A")):
        c = fit(train)
        mapped = [with_scores(r, c(raw(r))) if r.is_person else r for r in rows]
        print(f"  {name}: {read(uncal, names, labels, test)} -> {read(mapped, names, labels, test)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
