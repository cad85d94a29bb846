"""Is the pose a real person, and are there several people? (pure: landmarks + signals in)

A pose model finds "people" in garments laid flat or on a hanger: a shirt above trousers
with a round bag or hat above the collar is a person-shaped pictogram, and BlazePose
places a full skeleton on it. :func:`person_decision` checks the skeleton against a human
body, by landmark names (BlazePose-33 or COCO-17), plus the backend's ``signals`` when
there are any (:mod:`unpose_core.pose.blazepose`):

* visibility: a real person's landmarks inside the image are seen with confidence;
* head size against the torso: an adult's ear-to-ear width is about a quarter to a third of
  the shoulder-to-hip height (stylised renders reach ~0.35); a hat or bag taken for a head
  is larger;
* limb proportions: forearm / upper arm and shin / thigh (the longer side of each, so a
  foreshortened limb does not count) within human ranges;
* segmentation mask: the person mask must cover the landmarks;
* face: a face found in the head crop supports a person (it does not prove one: a drawn
  face is a face), a visible frontal head with no face at all counts against.

Each check adds or removes evidence from a base taken from the visibility; the reasons
name the checks that fired. :func:`several_people` reads ``signals["people"]``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PeopleDecision", "PersonDecision", "person_decision", "several_people"]

VISIBLE = 0.5                  # a landmark is visible from this visibility
MIN_MEAN_VISIBILITY = 0.45     # mean visibility (in frame) under this: weak pose
HEAD_WIDTH_MAX = 0.37          # ear-to-ear / torso height above this: head too large (renders <= 0.35)
EYE_SPACING_MAX = 0.28         # outer-eye distance / torso height above this: too large (renders <= 0.24)
HEAD_FRONTAL_MIN = 0.6         # head-size checks only when the shoulders are this wide (x torso): frontal
FOREARM_RATIO = (0.45, 1.7)    # forearm / upper arm (longer sides) of a person
SHIN_RATIO = (0.5, 2.0)        # shin / thigh (longer sides) of a person
MASK_AT_LANDMARKS_MIN = 0.5    # mean mask value at the visible landmarks under this: not a body
FACE_PRESENT = 0.7             # head-crop face score from which a face supports a person
FACE_ABSENT = 0.05             # ... under which a visible, frontal head has no face at all
DECISION = 0.5                 # score threshold: is_person = score >= DECISION
# evidence weights (added to / taken from the score)
W_HEAD_SIZE = 0.45
W_LIMBS = 0.2
W_MASK = 0.4
W_FACE = 0.2
W_NO_FACE = 0.15

# several people
SECOND_MIN_VISIBLE = 12        # the second pose needs this many visible landmarks (of 33)
SECOND_MIN_AREA_RATIO = 0.15   # ... and a box at least this share of the primary's box area
DUPLICATE_IOU = 0.5            # a second box overlapping the primary this much is the same person


@dataclass(frozen=True)
class PersonDecision:
    is_person: bool
    confidence: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PeopleDecision:
    n_people: int
    flagged: bool
    confidence: float


def _dist(lm: np.ndarray, idx: dict, a: str, b: str) -> float | None:
    if a not in idx or b not in idx:
        return None
    pa, pb = lm[idx[a]], lm[idx[b]]
    if min(pa[3], pb[3]) < VISIBLE:
        return None
    return float(np.hypot(*(pa[:2] - pb[:2])))


def _longer(lm: np.ndarray, idx: dict, pairs: Sequence[tuple[str, str]]) -> float | None:
    vals = [d for d in (_dist(lm, idx, a, b) for a, b in pairs) if d is not None]
    return max(vals) if vals else None


def person_decision(landmarks: np.ndarray, names: Sequence[str], signals: dict | None = None) -> PersonDecision:
    """Whether a detected pose is a real person (not a garment taken for one); see the module doc."""
    lm = np.nan_to_num(np.asarray(landmarks, dtype=np.float64))
    if lm.ndim != 2 or lm.shape[0] != len(names):
        raise ValueError(f"landmarks of shape {lm.shape} do not match {len(names)} names")
    if lm.shape[1] < 4:
        lm = np.hstack([lm[:, :2], np.zeros((len(lm), 1)), np.ones((len(lm), 1))])
    idx = {n: i for i, n in enumerate(names)}
    signals = signals or {}
    reasons: list[str] = []
    # visibility of the landmarks inside the image: a portrait's extrapolated legs do not count
    inside = (lm[:, 0] >= 0) & (lm[:, 0] <= 1) & (lm[:, 1] >= 0) & (lm[:, 1] <= 1)
    vis = float(lm[inside, 3].mean()) if inside.any() else 0.0
    score = 0.5 + (vis - MIN_MEAN_VISIBILITY)   # visibility 0.45 -> 0.5, 0.9 -> 0.95
    reasons.append(f"mean visibility in frame {vis:.2f}")

    sh_w = _dist(lm, idx, "left_shoulder", "right_shoulder")
    torso = None   # proportions are checked only against a torso whose four corners are seen
    if all(n in idx and lm[idx[n], 3] >= VISIBLE and inside[idx[n]]
           for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")):
        sh = (lm[idx["left_shoulder"], :2] + lm[idx["right_shoulder"], :2]) / 2
        hp = (lm[idx["left_hip"], :2] + lm[idx["right_hip"], :2]) / 2
        torso = float(np.hypot(*(sh - hp))) or None
    if torso:
        frontal = sh_w is not None and sh_w / torso >= HEAD_FRONTAL_MIN
        ears = _dist(lm, idx, "left_ear", "right_ear")
        eyes = (_dist(lm, idx, "left_eye_outer", "right_eye_outer") if "left_eye_outer" in idx
                else _dist(lm, idx, "left_eye", "right_eye"))
        if frontal and ((ears is not None and ears / torso > HEAD_WIDTH_MAX)
                        or (eyes is not None and eyes / torso > EYE_SPACING_MAX)):
            score -= W_HEAD_SIZE
            reasons.append(f"head too large for the torso (ears {0 if ears is None else ears / torso:.2f}, "
                           f"eyes {0 if eyes is None else eyes / torso:.2f} torso heights)")
        upper = _longer(lm, idx, [("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow")])
        fore = _longer(lm, idx, [("left_elbow", "left_wrist"), ("right_elbow", "right_wrist")])
        thigh = _longer(lm, idx, [("left_hip", "left_knee"), ("right_hip", "right_knee")])
        shin = _longer(lm, idx, [("left_knee", "left_ankle"), ("right_knee", "right_ankle")])
        for what, a, b, (lo, hi) in (("forearm/upper arm", fore, upper, FOREARM_RATIO),
                                     ("shin/thigh", shin, thigh, SHIN_RATIO)):
            if a is not None and b and not lo <= a / b <= hi:
                score -= W_LIMBS
                reasons.append(f"{what} {a / b:.2f} outside {lo}-{hi}")

    mask = signals.get("mask") if isinstance(signals.get("mask"), dict) else None
    if mask is not None:
        at = float(mask.get("at_landmarks") or 0.0)
        if at < MASK_AT_LANDMARKS_MIN:
            score -= W_MASK
            reasons.append(f"segmentation mask misses the landmarks ({at:.2f})")
    face = signals.get("face") if isinstance(signals.get("face"), dict) else None
    if face is not None:
        hs = float(face.get("head_score") or 0.0)
        head_seen = all(n in idx and lm[idx[n], 3] >= VISIBLE and 0 <= lm[idx[n], 0] <= 1 and 0 <= lm[idx[n], 1] <= 1
                        for n in ("nose", "left_eye", "right_eye"))
        if hs >= FACE_PRESENT:
            score += W_FACE
            reasons.append(f"face in the head crop ({hs:.2f})")
        elif hs < FACE_ABSENT and head_seen and torso and sh_w is not None and sh_w / torso >= HEAD_FRONTAL_MIN:
            score -= W_NO_FACE
            reasons.append("wide, visible head region without any face")
    is_person = score >= DECISION
    confidence = float(np.clip(abs(score - DECISION) * 2.0, 0.0, 1.0))
    return PersonDecision(bool(is_person), round(confidence, 4), tuple(reasons))


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def several_people(signals: dict | None) -> PeopleDecision:
    """How many people the pose backend saw, and whether the image should be flagged as
    showing several (a second pose with enough visible landmarks, a box not much smaller
    than the primary's and not a duplicate of it). ``confidence`` is how clearly the second
    person passed the thresholds when flagged, else the primary pose's mean visibility.
    Backends without ``signals["people"]`` give one person, unflagged, with confidence 0."""
    people = (signals or {}).get("people")
    if not isinstance(people, list) or not people:
        return PeopleDecision(1 if people is None else 0, False, 0.0)
    primary = people[0]
    n, best = 1, 0.0
    for other in people[1:]:
        area_ratio = float(other.get("area", 0.0)) / max(float(primary.get("area", 0.0)), 1e-6)
        iou = _iou(primary["box"], other["box"])
        n_vis = int(other.get("n_visible", 0))
        if n_vis >= SECOND_MIN_VISIBLE and area_ratio >= SECOND_MIN_AREA_RATIO and iou < DUPLICATE_IOU:
            n += 1
            # how clearly past each threshold, in [0, 1]
            best = max(best, min(1.0, n_vis / (2 * SECOND_MIN_VISIBLE), area_ratio / (2 * SECOND_MIN_AREA_RATIO),
                                 (1 - iou / DUPLICATE_IOU)) * float(other.get("score", 1.0)))
    flagged = n > 1
    confidence = best if flagged else float(primary.get("score", 0.0))
    return PeopleDecision(n, flagged, round(float(np.clip(confidence, 0.0, 1.0)), 4))
