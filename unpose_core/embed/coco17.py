"""The 61-dim COCO-17 pose embedding (paper §4.3, "MMPose2D: 61").

61 = 17 x (x, y) normalised by image size (34) + 27 features engineered from the COCO
joints that tell front / back / side, close-up / upper body / full body, and which body
parts the model actually saw. Every dimension is listed, in order, in
:data:`COCO17_FEATURES` (the one table; its length is asserted). Used for every
"coco17" backend: mmpose-hrnet, rtmpose-onnx and blazepose-coco17.

Robustness: any (n, 17, 4) input gives a finite vector. NaN/inf are replaced, coordinates
clipped to [-1, 2] (top-down models extrapolate joints beyond the frame), scores to
[0, 1]; every ratio keeps its denominator away from zero (with its sign) and is clipped.
Low-confidence joints keep their predicted position in the 34 coordinates (that is what
the paper does); the geometry features that summarise "what is visible" only use joints
whose score reaches :data:`VISIBLE_SCORE`.

Sign conventions (image coordinates, x to the right, y down): a person facing the
camera has their LEFT shoulder on the image's right, so ``x_left - x_right > 0`` means
front view, ``< 0`` back view and ``~0`` side view.
"""
from __future__ import annotations

import numpy as np

from ..pose.skeletons import COCO17_NAMES, COCO17_SKELETON

NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = 11, 12, 13, 14, 15, 16
HEAD = (NOSE, L_EYE, R_EYE, L_EAR, R_EAR)
FACE = (NOSE, L_EYE, R_EYE)
ARMS = (L_EL, R_EL, L_WR, R_WR)
TORSO = (L_SH, R_SH, L_HIP, R_HIP)
LEGS = (L_KNEE, R_KNEE, L_ANK, R_ANK)
LEFT = (L_EYE, L_EAR, L_SH, L_EL, L_WR, L_HIP, L_KNEE, L_ANK)
RIGHT = (R_EYE, R_EAR, R_SH, R_EL, R_WR, R_HIP, R_KNEE, R_ANK)

EPS = 1e-3
RATIO_CLIP = 10.0          # signed ratios land in [-10, 10]
POS_RATIO_CLIP = (0.0, 10.0)  # the paper's x_left / x_right ratios (x is >= 0 in frame)
COORD_CLIP = (-1.0, 2.0)
VISIBLE_SCORE = 0.3        # a joint counts as "seen" from this score on (mmpose demo's kpt_thr)

COCO17_FEATURES: tuple[tuple[str, str], ...] = tuple(
    (f"{axis}_{name}", f"{name} {axis} / image {'width' if axis == 'x' else 'height'}")
    for name in COCO17_NAMES for axis in ("x", "y")
) + (
    # --- facing: the paper's x ratios, >1 front, <1 back, ~1 side (clipped to [0, 10])
    ("ratio_x_shoulders", "x_left_shoulder / x_right_shoulder (paper §4.3): >1 front, <1 back, ~1 side"),
    ("ratio_x_hips", "x_left_hip / x_right_hip: facing from the hips"),
    ("ratio_x_ears", "x_left_ear / x_right_ear: which way the head faces"),
    ("ratio_x_eyes", "x_left_eye / x_right_eye: face turned to / from the camera"),
    ("ratio_x_knees", "x_left_knee / x_right_knee: facing from the legs"),
    ("ratio_x_ankles", "x_left_ankle / x_right_ankle: stance / facing from the feet"),
    # --- facing, position-free: signed left-right offsets over torso height, [-10, 10]
    ("facing_shoulders", "(x_l_shoulder - x_r_shoulder) / torso height: +front, -back, 0 side"),
    ("facing_hips", "(x_l_hip - x_r_hip) / torso height: +front, -back, 0 side"),
    ("facing_ears", "(x_l_ear - x_r_ear) / shoulder width: head turn relative to the shoulders"),
    ("nose_offset", "(x_nose - x_shoulder_mid) / shoulder width: profile views push the nose sideways"),
    # --- size and framing (image-normalised lengths, [0, 3])
    ("shoulder_width", "|left_shoulder - right_shoulder| (2-D): large in close-ups, small far/side"),
    ("hip_width", "|left_hip - right_hip| (2-D)"),
    ("torso_height", "|shoulder midpoint - hip midpoint| (2-D): the body's scale in the frame"),
    ("visible_width", "x extent of the joints seen (score >= VISIBLE_SCORE); 0 when none"),
    ("visible_height", "y extent of the joints seen: ~1 full body filling the frame, small far away"),
    ("visible_center_x", "x centre of the joints seen (0.5 when none)"),
    ("visible_center_y", "y centre of the joints seen: high for close-ups of the chest (0.5 when none)"),
    ("visible_aspect", "visible_height / visible_width, [0, 10]: tall for full-body standing poses"),
    # --- body proportions over torso height, [0, 10]
    ("shoulder_over_torso", "shoulder_width / torso height: ~0.7 front/back, ~0.2 side"),
    ("leg_over_torso", "|hip midpoint - ankle midpoint| / torso height: bent knees, sitting"),
    ("arm_over_torso", "mean |shoulder - wrist| / torso height: arms raised / out vs down"),
    # --- what the model saw: mean scores per body part, [0, 1] (or [-1, 1])
    ("vis_head", "mean score of nose, eyes, ears: low when the head is cropped off"),
    ("vis_face", "mean score of nose and eyes: low for back views"),
    ("vis_arms", "mean score of elbows and wrists"),
    ("vis_torso", "mean score of shoulders and hips"),
    ("vis_legs", "mean score of knees and ankles: full body vs upper body"),
    ("vis_left_minus_right", "mean left-side score - mean right-side score: side views hide one side"),
)
COCO17_DIM = 61
assert len(COCO17_FEATURES) == COCO17_DIM, len(COCO17_FEATURES)
assert len({name for name, _ in COCO17_FEATURES}) == COCO17_DIM, "feature names must be unique"


def _safe_div(num: np.ndarray, den: np.ndarray, lo: float = -RATIO_CLIP, hi: float = RATIO_CLIP) -> np.ndarray:
    den = np.where(np.abs(den) < EPS, np.where(den < 0, -EPS, EPS), den)
    return np.clip(num / den, lo, hi)


def _dist(x: np.ndarray, y: np.ndarray, a, b) -> np.ndarray:
    """2-D distance between joint (or joint-group mean) a and b; a/b are index tuples."""
    ax, ay = x[:, list(a)].mean(axis=1), y[:, list(a)].mean(axis=1)
    bx, by = x[:, list(b)].mean(axis=1), y[:, list(b)].mean(axis=1)
    return np.hypot(ax - bx, ay - by)


def embed_coco17(landmarks: np.ndarray) -> np.ndarray:
    """(n, 17, 4) landmarks [x/width, y/height, z, score] -> (n, 61) float32 embeddings.

    A single (17, 4) pose is accepted and gives a (1, 61) array. z is ignored (2-D models
    set it to 0). The columns follow :data:`COCO17_FEATURES`.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim == 2:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[1:] != (17, 4):
        raise ValueError(f"COCO-17 landmarks must be (n, 17, 4), got {lm.shape}")
    n = len(lm)
    lm = np.nan_to_num(lm, nan=0.0, posinf=COORD_CLIP[1], neginf=COORD_CLIP[0])
    x = np.clip(lm[..., 0], *COORD_CLIP)
    y = np.clip(lm[..., 1], *COORD_CLIP)
    s = np.clip(lm[..., 3], 0.0, 1.0)

    coords = np.stack([x, y], axis=-1).reshape(n, 34)

    shoulder_w = _dist(x, y, (L_SH,), (R_SH,))
    hip_w = _dist(x, y, (L_HIP,), (R_HIP,))
    torso_h = _dist(x, y, (L_SH, R_SH), (L_HIP, R_HIP))
    sh_mid_x = (x[:, L_SH] + x[:, R_SH]) / 2

    seen = s >= VISIBLE_SCORE
    any_seen = seen.any(axis=1)
    # extent of the seen joints; rows with none seen get an empty box at the centre
    x_max = np.where(any_seen, np.where(seen, x, -np.inf).max(axis=1), 0.5)
    x_min = np.where(any_seen, np.where(seen, x, np.inf).min(axis=1), 0.5)
    y_max = np.where(any_seen, np.where(seen, y, -np.inf).max(axis=1), 0.5)
    y_min = np.where(any_seen, np.where(seen, y, np.inf).min(axis=1), 0.5)
    vis_w, vis_h = x_max - x_min, y_max - y_min
    vis_cx, vis_cy = (x_max + x_min) / 2, (y_max + y_min) / 2
    wrist_reach = (_dist(x, y, (L_SH,), (L_WR,)) + _dist(x, y, (R_SH,), (R_WR,))) / 2

    def ratio_x(left: int, right: int) -> np.ndarray:
        return _safe_div(x[:, left], x[:, right], *POS_RATIO_CLIP)

    def mean_score(group) -> np.ndarray:
        return s[:, list(group)].mean(axis=1)

    extra = np.stack([
        ratio_x(L_SH, R_SH),
        ratio_x(L_HIP, R_HIP),
        ratio_x(L_EAR, R_EAR),
        ratio_x(L_EYE, R_EYE),
        ratio_x(L_KNEE, R_KNEE),
        ratio_x(L_ANK, R_ANK),
        _safe_div(x[:, L_SH] - x[:, R_SH], torso_h),
        _safe_div(x[:, L_HIP] - x[:, R_HIP], torso_h),
        _safe_div(x[:, L_EAR] - x[:, R_EAR], shoulder_w),
        _safe_div(x[:, NOSE] - sh_mid_x, shoulder_w),
        np.clip(shoulder_w, 0.0, 3.0),
        np.clip(hip_w, 0.0, 3.0),
        np.clip(torso_h, 0.0, 3.0),
        np.clip(vis_w, 0.0, 3.0),
        np.clip(vis_h, 0.0, 3.0),
        vis_cx,
        vis_cy,
        _safe_div(vis_h, vis_w, 0.0, RATIO_CLIP),
        _safe_div(shoulder_w, torso_h, 0.0, RATIO_CLIP),
        _safe_div(_dist(x, y, (L_HIP, R_HIP), (L_ANK, R_ANK)), torso_h, 0.0, RATIO_CLIP),
        _safe_div(wrist_reach, torso_h, 0.0, RATIO_CLIP),
        mean_score(HEAD),
        mean_score(FACE),
        mean_score(ARMS),
        mean_score(TORSO),
        mean_score(LEGS),
        mean_score(LEFT) - mean_score(RIGHT),
    ], axis=1)
    out = np.concatenate([coords, extra], axis=1).astype(np.float32)
    assert out.shape == (n, COCO17_DIM), out.shape
    return out


__all__ = ["COCO17_DIM", "COCO17_FEATURES", "COCO17_NAMES", "COCO17_SKELETON", "embed_coco17"]
