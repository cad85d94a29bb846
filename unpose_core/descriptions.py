"""What a pose class is called: a human description when an analyst wrote one (paper
Table 2), else a plain-words one made from its mean landmarks; seller hints; and carrying
human descriptions over to a retrained run.

The automatic descriptions work for any backend whose landmark names include shoulders,
hips, knees and ankles (BlazePose 33 and COCO 17 both do).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .records import Description
from .runs import Run, get_run
from .store import Store

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
    sh_y = (y[ls[0]] + y[rs[0]]) / 2
    hip_y = float(np.mean(y[hips]))
    if np.mean(vis[hips]) > 0.5 or not face:
        turn = abs(sh_dx) / (abs(hip_y - sh_y) or 1e-3)   # ~1 square to the camera, ~0 in profile
    else:
        # hips out of frame, so their estimate is a guess: compare with the head instead
        turn = 0.6 * abs(sh_dx) / (abs(sh_y - y[face[0]]) or 1e-3)
    side = "front" if sh_dx > 0 else "back"
    if turn < 0.35:
        facing = "side view"
    elif turn < 0.6:
        facing = f"three-quarter {side}"
    else:
        facing = side
    if face and np.mean(vis[face]) < 0.5 and side == "front":
        facing += ", head cropped"
    visible = vis > 0.5
    height = float(y[visible].max() - y[visible].min()) if visible.any() else 0.0
    # max over left/right: in profile one leg hides the other
    if ankles and vis[ankles].max() > 0.5:
        framing = "Far view, full body" if height < 0.5 else "Full body"
    elif knees and vis[knees].max() > 0.5:
        framing = "Three-quarter length (to the knees)"
    elif hip_y <= 1.05:
        framing = "Upper body till waist"
    elif hip_y <= 1.6:
        framing = "Upper body, chest up"
    else:
        framing = "Close-up, chin to chest"
    return f"{framing}, {facing}"


def describe_centroid(run: Run, descriptions: Mapping[int, Description | str], c: int,
                      mark_auto: bool = False) -> str:
    """THE rule for what class ``c`` is called: its human description when one is written,
    else the automatic one (in brackets when ``mark_auto``, for tables that show which is which).

    ``descriptions``: ``Store.descriptions(run_id)`` (or class -> text). Suggestions, reports,
    the CLI and every app page name classes through this function."""
    d = descriptions.get(c)
    human = d if isinstance(d, str) else (d.text if d is not None else "")
    if human:
        return human
    auto = run.centroids[c].auto_description
    return f"({auto})" if mark_auto else auto


def effective_descriptions(run: Run, descriptions: Mapping[int, Description | str],
                           mark_auto: bool = False) -> dict[int, str]:
    """Class -> what it is called (:func:`describe_centroid`) for every class of the run."""
    return {c.id: describe_centroid(run, descriptions, c.id, mark_auto) for c in run.centroids}


def seller_hint(description: str, support: float, cohort: str, n_products: int) -> str:
    """One line a seller can act on."""
    who = f"top {cohort.replace('|', ' / ')} listings" if cohort != "*" else "top listings"
    share = f"{support:.0%} of the {n_products} {who}" if n_products else who
    return f"Add a photo like this: {description.rstrip('.')}. {share} show this pose."


def carry_descriptions(store: Store, old_run_id: str, new_run_id: str, max_distance: float = 1.0) -> dict:
    """Move human descriptions to the matching centroid of a new run.

    Centroids are matched one-to-one (Hungarian) on their mean *raw* embeddings,
    standardised, so matching works across autoencoder runs too. A description whose
    best match is farther than ``max_distance`` (RMS per dimension, in standard units)
    is kept as 'needs_review' on its nearest centroid (or unplaced in the history when
    that centroid already has one): it is never dropped.
    """
    from scipy.optimize import linear_sum_assignment

    old_desc = store.descriptions(old_run_id)
    if not old_desc:
        return {"matched": 0, "needs_review": 0}
    old, new = get_run(store, old_run_id), get_run(store, new_run_id)
    result = {"matched": 0, "needs_review": 0}
    if old.info.family != new.info.family:
        for c, d in old_desc.items():
            store.add_unplaced_description(new_run_id, d.text, f"{old_run_id}:{c}")
            result["needs_review"] += 1
        return result
    taken = set(store.descriptions(new_run_id))   # centroids of the new run already described
    if old.no_person_class in old_desc and new.no_person_class not in taken:
        d = old_desc[old.no_person_class]
        store.set_description(new_run_id, new.no_person_class, d.text, "ok", f"{old_run_id}:{old.no_person_class}")
        taken.add(new.no_person_class)
        result["matched"] += 1
    po = np.array([c.profile for c in old.centroids if c.is_pose])
    pn = np.array([c.profile for c in new.centroids if c.is_pose])
    scale = np.concatenate([po, pn]).std(axis=0)
    scale[scale < 1e-6] = 1.0
    dist = np.sqrt((((po[:, None, :] - pn[None, :, :]) / scale) ** 2).mean(axis=2))
    rows, cols = linear_sum_assignment(dist)
    match = {int(r): (int(c), float(dist[r, c])) for r, c in zip(rows, cols)}
    for c, d in sorted(old_desc.items()):
        if c == old.no_person_class:
            continue
        target, dd = match.get(c, (int(np.argmin(dist[c])), float(dist[c].min())))
        status = "ok" if dd <= max_distance else "needs_review"
        if target in taken:
            store.add_unplaced_description(new_run_id, d.text, f"{old_run_id}:{c}")
            result["needs_review"] += 1
            continue
        store.set_description(new_run_id, target, d.text, status, f"{old_run_id}:{c}")
        taken.add(target)
        result["matched" if status == "ok" else "needs_review"] += 1
    return result
