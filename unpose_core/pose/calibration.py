"""Joint scores on one scale: a backend's own per-joint score mapped to BlazePose's visibility.

The view rules (:mod:`unpose_core.views.people`, :mod:`unpose_core.views.facing`) read the
fourth landmark column as BlazePose's visibility (a joint "is seen" from 0.5; a real person's
mean in-frame visibility is about 0.9) because they were tuned on BlazePose. MoveNet's scores
are lower for the same body (mean 0.51 against BlazePose's 0.89 on the same renders), so
without a common scale the person check turned down about half of MoveNet's poses and its
facing and framing read a body that was there as half-seen.

A :class:`ScoreCalibration` is a monotone, piecewise-linear map from a backend's score to the
visibility BlazePose gives the same joint on the same image: the isotonic regression of
BlazePose's visibility on the backend's score over joints both models found
(:func:`fit_calibration`), kept as its values at fixed knots. It is fitted once per model
offline (``unposed models calibrate BACKEND assets/views/labels.csv --dry-run``) and shipped as
constants beside the backend; the backend stores the mapped value in the landmarks and its raw
scores in ``signals["joint_scores"]`` (the no-person rule still reads the raw scores: its
threshold is the model's own). The map's ``version`` is part of the backend version, so a
changed map re-extracts, never mixes scales in one cache.

A data dir may hold its own map per backend, fitted on its own labelled photos
(``unposed models calibrate``, :func:`unpose_core.evaluation.calibration.fit_visibility`):
``calibrations/<backend>.json`` (plain JSON), which the backend then uses instead of the bundled
one (:func:`load_calibration`); MMPose HRNet and RTMPose, which ship none, use it too.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["KNOTS", "ScoreCalibration", "calibration_path", "fit_calibration", "load_calibration",
           "save_calibration"]
CALIBRATIONS_DIR = "calibrations"   # in a data dir: <backend>.json per backend with a map of its own

KNOTS: tuple[float, ...] = tuple(round(i / 20, 2) for i in range(21))   # scores 0, 0.05, ..., 1


@dataclass(frozen=True)
class ScoreCalibration:
    """``values[i]`` is the visibility at score ``knots[i]``; linear between knots, clipped
    outside. ``source``: what it was fitted on (for the record)."""

    values: tuple[float, ...]
    knots: tuple[float, ...] = KNOTS
    source: str = ""

    def __post_init__(self):
        if len(self.values) != len(self.knots) or len(self.knots) < 2:
            raise ValueError(f"a calibration needs one value per knot ({len(self.knots)}), got {len(self.values)}")
        if any(b <= a for a, b in zip(self.knots, self.knots[1:])):
            raise ValueError("calibration knots must increase")
        if any(b < a for a, b in zip(self.values, self.values[1:])) or not all(0 <= v <= 1 for v in self.values):
            raise ValueError("calibration values must be within [0, 1] and never decrease")

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        s = np.nan_to_num(np.asarray(scores, np.float64))
        return np.interp(s, self.knots, self.values)

    def to_dict(self) -> dict:
        return {"values": list(self.values), "knots": list(self.knots), "source": self.source, "version": self.version}

    @classmethod
    def from_dict(cls, d: dict) -> ScoreCalibration:
        """The map a :meth:`to_dict` wrote (checked as the constructor checks)."""
        try:
            return cls(tuple(float(v) for v in d["values"]), tuple(float(k) for k in d.get("knots", KNOTS)),
                       str(d.get("source", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a score calibration: {exc}") from exc

    @property
    def version(self) -> str:
        """A short digest of the map (part of the backend version)."""
        text = ",".join(f"{k:g}:{v:.3f}" for k, v in zip(self.knots, self.values))
        return "vis-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def fit_calibration(scores: Sequence[float] | np.ndarray, visibility: Sequence[float] | np.ndarray,
                    knots: Sequence[float] = KNOTS, source: str = "") -> ScoreCalibration:
    """The isotonic (non-decreasing) regression of ``visibility`` (BlazePose's, per joint) on
    ``scores`` (the backend's, the same joints of the same images), read at ``knots``."""
    from sklearn.isotonic import IsotonicRegression

    s = np.asarray(scores, np.float64).ravel()
    v = np.asarray(visibility, np.float64).ravel()
    if len(s) != len(v):
        raise ValueError(f"{len(s)} scores but {len(v)} visibilities")
    ok = np.isfinite(s) & np.isfinite(v)
    if ok.sum() < 50:
        raise ValueError(f"a calibration needs at least 50 joints both models found, got {int(ok.sum())}")
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s[ok], np.clip(v[ok], 0, 1))
    values = np.maximum.accumulate(np.clip(iso.predict(np.asarray(knots, np.float64)), 0, 1))
    return ScoreCalibration(tuple(round(float(x), 3) for x in values), tuple(float(k) for k in knots), source)


def calibration_path(data_dir: str | os.PathLike, backend_id: str) -> Path:
    return Path(data_dir) / CALIBRATIONS_DIR / f"{backend_id}.json"


def load_calibration(data_dir: str | os.PathLike | None, backend_id: str) -> ScoreCalibration | None:
    """The data dir's own map for ``backend_id``, or None (no data dir, no file). A file that is not
    a valid map raises ValueError naming it: a backend never silently reads another scale."""
    if data_dir is None:
        return None
    path = calibration_path(data_dir, backend_id)
    if not path.is_file():
        return None
    try:
        return ScoreCalibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}; fit it again with `unposed models calibrate` or remove the file") from exc


def save_calibration(data_dir: str | os.PathLike, backend_id: str, cal: ScoreCalibration, by: str = "") -> Path:
    """Write ``cal`` as the data dir's map for ``backend_id`` (atomically; with who and when)."""
    path = calibration_path(data_dir, backend_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**cal.to_dict(), "backend": backend_id, "by": by, "created_at": time.time()},
                              indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path
