"""Fit a COCO-17 backend's joint-score map to BlazePose's visibility scale on labelled photos
(:mod:`unpose_core.pose.calibration`), and check it on photos held out of the fit.

:func:`fit_visibility` runs BlazePose full and the backend on every image of a labels CSV (the
format of ``unposed views evaluate``: ``file``, and ``kind``, ``facing``, ``framing``,
``n_people``, ``product`` where known), pairs each of the 17 COCO joints both models found on
the same image (the backend's raw score, BlazePose's visibility of that joint) and fits the
isotonic map on all of them. Then, twice, it splits the products (or, without a product
column, the files) into two seeded halves, fits on one half and reads the other half's
single-person views with the raw scores and with the map: pose read, facing and framing
accuracy. ``unposed models calibrate`` saves the map in the data dir (the backend then uses it)
and prints the check; the bundled MoveNet maps were fitted so on ``assets/views/labels.csv``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..pose import PoseOptions, create_backend
from ..pose.calibration import ScoreCalibration, fit_calibration
from ..pose.extract import estimate_file
from ..progress import ProgressFn, ProgressTracker
from ..records import PoseRow
from ..views.describe import describe_image

REFERENCE = "blazepose"   # the scale the view rules were tuned on


@dataclass
class CalibrationReport:
    """The fitted map, how much it was fitted on, and the held-out check (``held_out``: one row
    per direction, the raw and the mapped readings of the half not fitted on)."""

    backend: str
    calibration: ScoreCalibration
    n_images: int                       # images both models found a person in (the fit's)
    n_labels: int                       # rows of the labels CSV
    held_out: list[dict] = field(default_factory=list)
    path: str | None = None             # where it was saved (None: not saved)

    def to_dict(self) -> dict:
        return {"backend": self.backend, "calibration": self.calibration.to_dict(), "n_images": self.n_images,
                "n_labels": self.n_labels, "held_out": self.held_out, "path": self.path}


def raw_scores(row: PoseRow) -> np.ndarray:
    """The backend's own joint scores (before any map it applies: ``signals["joint_scores"]``)."""
    scores = (row.signals or {}).get("joint_scores")
    return np.asarray(scores if scores is not None else np.asarray(row.landmarks)[:, 3], np.float64)


def _with_scores(row: PoseRow, values: np.ndarray) -> PoseRow:
    lm = np.array(row.landmarks, np.float32)
    lm[:, 3] = values
    return replace(row, landmarks=lm)


def _poses(backend_id: str, paths: Sequence[str], data_dir, tracker: ProgressTracker):
    backend = create_backend(PoseOptions(backend=backend_id), data_dir)
    try:
        if backend_id != REFERENCE and not hasattr(backend, "calibration"):
            raise ValueError(f"{backend_id} reads no score of its own to map: only the top-down COCO-17 backends "
                             "(movenet-thunder, movenet-lightning, mmpose-hrnet, rtmpose-onnx) have one")
        rows = []
        for p in paths:
            rows.append(estimate_file(backend, p, p))
            tracker.update()
        return rows, tuple(backend.landmark_names)
    finally:
        backend.close()


def _read(rows: Sequence[PoseRow], names, labels: pd.DataFrame, mask: np.ndarray) -> dict:
    """Pose read, facing and framing accuracy over the single-person images of ``mask`` with a facing."""
    facing = labels["facing"] if "facing" in labels else pd.Series(None, index=labels.index, dtype=object)
    framing = labels["framing"] if "framing" in labels else pd.Series(None, index=labels.index, dtype=object)
    m = mask & (labels["kind"] == "person").to_numpy() & facing.notna().to_numpy() \
        & (labels["n_people"] <= 1).to_numpy()
    got = [(describe_image(r, names), f, fr) for r, f, fr, k in zip(rows, facing, framing, m, strict=True) if k]
    if not got:
        return {"n": 0}
    return {"n": len(got),
            "pose_read": round(float(np.mean([v is not None and v.facing is not None for v, _, _ in got])), 3),
            "facing": round(float(np.mean([v is not None and str(v.facing) == f for v, f, _ in got])), 3),
            "framing": round(float(np.mean([v is not None and str(v.framing) == fr for v, _, fr in got])), 3)}


def fit_visibility(labels: pd.DataFrame, backend_id: str, data_dir=None, seed: int = 0,
                   progress: ProgressFn | None = None) -> CalibrationReport:
    """The map of ``backend_id``'s joint scores to BlazePose's visibility, fitted on the labelled
    images of ``labels`` (:func:`unpose_core.evaluation.views.read_labels`), with the held-out check."""
    if backend_id == REFERENCE:
        raise ValueError("blazepose is the scale the others are mapped to: calibrate a COCO-17 backend")
    paths = labels["path"].tolist()
    tracker = ProgressTracker("calibrate", 2 * len(paths), progress)
    rows, names = _poses(backend_id, paths, data_dir, tracker)
    ref, ref_names = _poses(REFERENCE, paths, data_dir, tracker)
    tracker.finish()
    pick = [ref_names.index(n) for n in names]
    both = np.array([a.is_person and b.is_person for a, b in zip(rows, ref, strict=True)])

    def fit(mask: np.ndarray, source: str) -> ScoreCalibration:
        s = [raw_scores(a) for a, k in zip(rows, mask & both, strict=True) if k]
        v = [np.asarray(b.landmarks)[pick, 3] for b, k in zip(ref, mask & both, strict=True) if k]
        if not s:
            raise ValueError("no image where both BlazePose and the backend found a person: nothing to fit")
        return fit_calibration(np.concatenate(s), np.concatenate(v), source=f"{source}, {len(s)} images")

    source = str(labels.attrs.get("source") or "labels")
    cal = fit(np.ones(len(rows), bool), source)
    group = labels["product"].fillna(labels["file"]) if "product" in labels else labels["file"]
    group = group.astype(str)
    units = np.asarray(sorted(group.unique()))
    half = set(np.random.default_rng(seed).permutation(units)[: len(units) // 2])
    a = group.isin(half).to_numpy()
    raw = [_with_scores(r, raw_scores(r)) if r.is_person else r for r in rows]
    held = []
    for fit_on, read_on, name in ((a, ~a, "half A -> half B"), (~a, a, "half B -> half A")):
        try:
            c = fit(fit_on, source)
        except ValueError as exc:   # a half too small to fit on: said, not hidden
            held.append({"split": name, "error": str(exc)})
            continue
        mapped = [_with_scores(r, c(raw_scores(r))) if r.is_person else r for r in rows]
        held.append({"split": name, "raw": _read(raw, names, labels, read_on),
                     "calibrated": _read(mapped, names, labels, read_on)})
    return CalibrationReport(backend_id, cal, int(both.sum()), len(labels), held)
