"""Plain-words descriptions of a pose class from its mean landmarks.

Used until an analyst writes a human description (paper Table 2), and for seller
hints. Works for any backend whose landmark names include shoulders, hips, knees and
ankles (BlazePose 33 and COCO 17 both do).
"""
from __future__ import annotations

import numpy as np

NO_PERSON_TEXT = "Non-human image (fabric close-up, size chart, flat lay)"


def _idx(names, *wanted):
    return [names.index(w) for w in wanted if w in names]


def describe_landmarks(mean_lm: np.ndarray, names: tuple[str, ...]) -> str:
    """E.g. 'Full body, front' from (n_landmarks, 4) [x, y, z, confidence] averages."""
    lm = np.asarray(mean_lm, dtype=float)
    x, y, vis = lm[:, 0], lm[:, 1], lm[:, 3]
    ls, rs = _idx(names, "left_shoulder"), _idx(names, "right_shoulder")
    hips = _idx(names, "left_hip", "right_hip")
    knees = _idx(names, "left_knee", "right_knee")
    ankles = _idx(names, "left_ankle", "right_ankle")
    face = _idx(names, "nose", "left_eye", "right_eye")
    if not (ls and rs and hips):
        return "Person"
    sh_dx = x[ls[0]] - x[rs[0]]
    torso = abs(np.mean(y[hips]) - (y[ls[0]] + y[rs[0]]) / 2) or 1e-3
    if abs(sh_dx) < 0.35 * torso:
        facing = "side view"
    elif sh_dx > 0:
        facing = "front"
    else:
        facing = "back"
    if face and np.mean(vis[face]) < 0.5 and facing != "back":
        facing += ", head cropped"
    legs_visible = ankles and np.mean(vis[ankles]) > 0.5
    knees_visible = knees and np.mean(vis[knees]) > 0.5
    visible = vis > 0.5
    height = float(y[visible].max() - y[visible].min()) if visible.any() else 0.0
    if legs_visible and height < 0.5:
        framing = "Far view, full body"
    elif legs_visible:
        framing = "Full body"
    elif knees_visible:
        framing = "Three-quarter length (to the knees)"
    elif np.mean(vis[hips]) > 0.5 and np.mean(y[hips]) < 1.0:
        framing = "Upper body till waist"
    else:
        framing = "Close-up, chin to chest"
    return f"{framing}, {facing}"


def seller_hint(description: str, support: float, cohort: str, n_products: int) -> str:
    """One line a seller can act on."""
    who = f"top {cohort.replace('|', ' / ')} listings" if cohort != "*" else "top listings"
    share = f"{support:.0%} of the {n_products} {who}" if n_products else who
    return f"Add a photo like this: {description.rstrip('.')}. {share} show this pose."
