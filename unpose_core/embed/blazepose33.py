"""Pose embeddings (paper §4.3): landmarks -> fixed-length vectors that K-Means can use.

BlazePose: 77 dims = 33 x (x, y) normalised by image size (66) + 11 features that tell
front / back / side and close-up / full body / far apart. Every dimension is listed in
:data:`BLAZEPOSE_FEATURES`. Ratios are guarded so the vector is finite for any input:
denominators are kept away from zero with their sign, and results are clipped.
Images with no person are *not* embedded: they form their own reserved pose class.
"""
from __future__ import annotations

import numpy as np

from ..pose.skeletons import BLAZEPOSE33_NAMES as LANDMARK_NAMES

EPS = 1e-3
RATIO_CLIP = 10.0
COORD_CLIP = (-1.0, 2.0)   # landmarks may be extrapolated beyond the frame; keep them sane

# landmark indices
NOSE, L_EAR, R_EAR = 0, 7, 8
L_SH, R_SH, L_HIP, R_HIP = 11, 12, 23, 24
FACE = tuple(range(0, 11))
LEGS = (25, 26, 27, 28, 29, 30, 31, 32)

BLAZEPOSE_FEATURES: tuple[tuple[str, str], ...] = tuple(
    [(f"x_{n}", f"{n} x / image width") if a == "x" else (f"y_{n}", f"{n} y / image height")
     for n in LANDMARK_NAMES for a in ("x", "y")]
) + (
    ("ratio_x_shoulders", "x_left_shoulder / x_right_shoulder (paper): >1 front, <1 back, ~1 side"),
    ("ratio_x_hips", "x_left_hip / x_right_hip: facing, from the hips"),
    ("ratio_x_ears", "x_left_ear / x_right_ear: which way the head faces"),
    ("shoulder_width_over_torso", "|x_l_shoulder - x_r_shoulder| / torso height: small in side views"),
    ("facing_signed", "(x_l_shoulder - x_r_shoulder) / shoulder-hip extent: +front, -back, 0 side"),
    ("face_visibility", "mean visibility of the 11 face landmarks: low for back views / cropped heads"),
    ("leg_visibility", "mean visibility of knees, ankles, heels, feet: full body vs upper body"),
    ("body_height", "vertical extent of visible landmarks / image height: far views are short"),
    ("z_spread", "std of z over visible landmarks (x scale): grows as the person fills the frame"),
    ("z_nose", "nose depth relative to the hips: close-ups push it far from 0"),
    ("z_shoulder_diff", "z_left_shoulder - z_right_shoulder: which shoulder is nearer (turn direction)"),
)
BLAZEPOSE_DIM = 77
assert len(BLAZEPOSE_FEATURES) == BLAZEPOSE_DIM, len(BLAZEPOSE_FEATURES)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    den = np.where(np.abs(den) < EPS, np.where(den < 0, -EPS, EPS), den)
    return np.clip(num / den, -RATIO_CLIP, RATIO_CLIP)


def embed_blazepose(landmarks: np.ndarray) -> np.ndarray:
    """(n, 33, 4) landmarks [x, y, z, visibility] -> (n, 77) float32 embeddings."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim == 2:
        lm = lm[None]
    if lm.shape[1:] != (33, 4):
        raise ValueError(f"BlazePose landmarks must be (n, 33, 4), got {lm.shape}")
    lm = np.nan_to_num(lm, nan=0.0, posinf=COORD_CLIP[1], neginf=COORD_CLIP[0])
    x = np.clip(lm[..., 0], *COORD_CLIP)
    y = np.clip(lm[..., 1], *COORD_CLIP)
    z = np.clip(lm[..., 2], -5.0, 5.0)
    vis = np.clip(lm[..., 3], 0.0, 1.0)

    coords = np.stack([x, y], axis=-1).reshape(len(lm), -1)
    sh_dx = x[:, L_SH] - x[:, R_SH]
    torso_h = np.abs((y[:, L_HIP] + y[:, R_HIP]) / 2 - (y[:, L_SH] + y[:, R_SH]) / 2)
    extent = np.abs(sh_dx) + torso_h
    visible = vis > 0.5
    any_vis = visible.any(axis=1)
    y_vis_max = np.where(visible, y, -np.inf).max(axis=1)
    y_vis_min = np.where(visible, y, np.inf).min(axis=1)
    body_height = np.where(any_vis, y_vis_max - y_vis_min, 0.0)
    w = np.where(visible, 1.0, 0.0)
    n_vis = np.maximum(w.sum(axis=1), 1.0)
    z_mean = (z * w).sum(axis=1) / n_vis
    z_spread = np.sqrt((((z - z_mean[:, None]) ** 2) * w).sum(axis=1) / n_vis)

    extra = np.stack([
        _safe_div(x[:, L_SH], x[:, R_SH]),
        _safe_div(x[:, L_HIP], x[:, R_HIP]),
        _safe_div(x[:, L_EAR], x[:, R_EAR]),
        _safe_div(np.abs(sh_dx), torso_h),
        _safe_div(sh_dx, extent),
        vis[:, FACE].mean(axis=1),
        vis[:, LEGS].mean(axis=1),
        np.clip(body_height, 0.0, 3.0),
        np.clip(z_spread, 0.0, 5.0),
        z[:, NOSE],
        z[:, L_SH] - z[:, R_SH],
    ], axis=1)
    out = np.concatenate([coords, extra], axis=1).astype(np.float32)
    assert out.shape[1] == BLAZEPOSE_DIM
    return out
