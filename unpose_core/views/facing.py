"""Which way a person faces and how much of them is in frame, from pose landmarks (no models).

Works by landmark *names*, so the same code serves BlazePose's 33 landmarks (with depth
``z`` and the backend's ``signals``) and the 17 COCO joints (2-D, no signals).

Facing (:func:`estimate_facing`)
    The yaw (vocabulary convention: 0 = facing the camera, positive = nose towards the
    image's right, +-180 = back) is the direction of the body's left-minus-right vector
    seen from above: ``yaw = atan2(Z_SCALE * dz, dx)`` with ``dx`` the image-x and ``dz`` the depth
    difference of left minus right shoulder (plus hips), so a frontal body (subject's left
    shoulder on the image's right) gives 0, a right profile (right shoulder nearer the
    camera, ``dz > 0``) +90, a back view (left shoulder on the image's left) 180.

    BlazePose can label a back view as a front one (it predicts a face on every head),
    which swaps left and right in x. The face detector's answer on the head crop
    (``signals["face"]``) arbitrates the front/back half: no face where the landmarks say
    "front" puts the yaw in the back half, a clear face where they say "back" puts it in
    the front half; the depth order (which shoulder is nearer) keeps the side. Without
    depth (COCO-17), the shoulder width against the torso height gives ``|sin yaw|`` and the
    nose's offset from the shoulders' midpoint gives its sign; confidence is lowered.

Framing (:func:`estimate_framing`)
    The lowest body part (feet, knees, hips) that is visible, inside the image and at a
    plausible distance below the part above it. BlazePose extrapolates landmarks outside
    the image with middling visibility, hence the three checks. When the segmentation mask
    (``signals["mask"]``) ends inside the image and the feet are at its bottom, the person
    is full length even if the feet's visibility is low (profiles hide one foot). When no
    hip is visible but the shoulders are, the frame may still end at the waist: BlazePose's
    extrapolated hips give the torso's length, and a frame reaching at least ``WAIST_REACH``
    (80 %) of the way from the shoulders down to the hips shows the upper body, not a
    close-up (a waist-length shot whose hips fall just outside the image, or sit on its edge
    with low visibility).

:func:`view_features` turns both into a fixed-length vector for clustering by view.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..records import left_right_swap
from .vocab import Facing, Framing, facing_from_yaw

__all__ = ["FACING_FEATURE_NAMES", "FacingEstimate", "FramingEstimate", "estimate_facing", "estimate_framing",
           "head_out_of_frame", "headless_from_behind", "turned_to_front", "view_features"]

VISIBLE = 0.5               # a landmark is "visible" from this visibility
IN_FRAME_MARGIN = 0.0       # how far outside [0, 1] a landmark may be and still count as in frame
SHOULDER_TO_TORSO = 0.95    # shoulder width / torso height of a frontal adult (2-D fallback's reference)
HIP_WEIGHT = 0.5            # the hips' left-right vector counts this much next to the shoulders'
Z_SCALE = 0.5               # BlazePose's depth differences are larger than the x ones for the same turn:
                            # on the 31 labelled renders with a pose, 0.4-0.7 all gave 27-29 right, 1.0 gave 26
MIN_BODY_VECTOR = 0.15      # |left - right| (shoulders, in torso heights) under this: the yaw is unreliable
FACE_ABSENT = 0.3           # head-crop face score under this: no face shown (back half)
FACE_PRESENT = 0.7          # head-crop face score from this: a face is shown (front half)
NOSE_SIDE = 0.08            # nose offset (torso heights) from the shoulders' midpoint that counts as a side
NO_SIGNALS_FACTOR = 0.75    # confidence factor when the backend gave no face/mask signals
HEAD_IN_FRAME = ("nose", "left_eye", "right_eye")   # a head is in the picture when its nose and eyes are
HEADLESS_FACTOR = 0.5       # confidence factor when the head is out of frame (front or back unknown)
NO_DEPTH_FACTOR = 0.8       # confidence factor when landmarks have no depth (2-D models)
MIN_SEGMENT = 0.35          # a lower part counts only this many torso heights below the part above
MASK_EDGE = 0.97            # mask box bottom beyond this: the person is cut by the image's bottom
FEET_AT_MASK_BOTTOM = 0.06  # feet within this of the mask bottom (image heights) = the feet are shown
WAIST_REACH = 0.8           # no hip visible: a frame reaching this share of shoulders -> hips is upper body
WAIST_CONFIDENCE = 0.8      # ... read with the shoulders' visibility x this (an extrapolated hip)

_FRAMING_ORDINAL = {Framing.CLOSE_UP: 0.0, Framing.UPPER_BODY: 1 / 3, Framing.THREE_QUARTER: 2 / 3,
                    Framing.FULL_LENGTH: 1.0}
# lowest part first: the framing a part gives, and the landmark names that can show it
_FRAMING_PARTS: tuple[tuple[Framing, tuple[str, ...]], ...] = (
    (Framing.FULL_LENGTH, ("left_ankle", "right_ankle", "left_heel", "right_heel",
                           "left_foot_index", "right_foot_index")),
    (Framing.THREE_QUARTER, ("left_knee", "right_knee")),
    (Framing.UPPER_BODY, ("left_hip", "right_hip")),
)
FACING_FEATURE_NAMES: tuple[str, ...] = (
    "cos_yaw_x_conf",      # cos(yaw) * facing confidence: +1 front, -1 back
    "sin_yaw_x_conf",      # sin(yaw) * facing confidence: +1 right profile, -1 left profile
    "facing_confidence",   # in [0, 1]
    "framing_ordinal",     # close-up 0, upper body 1/3, three-quarter 2/3, full length 1
    "framing_confidence",  # in [0, 1]
    "face_score",          # head-crop face score in [0, 1] (0 without signals)
)


@dataclass(frozen=True)
class FacingEstimate:
    label: Facing
    confidence: float
    yaw_deg: float
    evidence: dict = field(default_factory=dict, compare=False)   # JSON-safe


@dataclass(frozen=True)
class FramingEstimate:
    label: Framing
    confidence: float
    evidence: dict = field(default_factory=dict, compare=False)


class _Pose:
    """Name-indexed access to a (n, 3|4) landmark array: x, y normalised, z, visibility."""

    def __init__(self, landmarks: np.ndarray, names: Sequence[str]):
        lm = np.nan_to_num(np.asarray(landmarks, dtype=np.float64))
        if lm.ndim != 2 or lm.shape[0] != len(names) or lm.shape[1] < 2:
            raise ValueError(f"landmarks of shape {lm.shape} do not match {len(names)} names")
        if lm.shape[1] < 4:   # no z and/or no visibility: z = 0, visibility = 1
            pad = np.zeros((lm.shape[0], 4 - lm.shape[1]))
            if lm.shape[1] <= 3:
                pad[:, -1] = 1.0
            lm = np.hstack([lm, pad])
        self.lm = lm
        self.index = {n: i for i, n in enumerate(names)}
        self.has_depth = bool(np.abs(lm[:, 2]).max() > 1e-6)

    def get(self, name: str) -> np.ndarray | None:
        i = self.index.get(name)
        return None if i is None else self.lm[i]

    def vis(self, name: str) -> float:
        p = self.get(name)
        return 0.0 if p is None else float(p[3])

    def in_frame(self, name: str, min_vis: float = VISIBLE) -> bool:
        p = self.get(name)
        if p is None or p[3] < min_vis:
            return False
        lo, hi = -IN_FRAME_MARGIN, 1.0 + IN_FRAME_MARGIN
        return bool(lo <= p[0] <= hi and lo <= p[1] <= hi)

    def mid(self, a: str, b: str) -> np.ndarray | None:
        pa, pb = self.get(a), self.get(b)
        if pa is None or pb is None:
            return None
        return (pa + pb) / 2.0

    def torso(self) -> float:
        """Shoulder-midpoint to hip-midpoint distance (normalised), or a fallback from the
        shoulder width when the hips are missing."""
        sh, hp = self.mid("left_shoulder", "right_shoulder"), self.mid("left_hip", "right_hip")
        if sh is not None and hp is not None:
            d = float(np.hypot(*(sh[:2] - hp[:2])))
            if d > 1e-3:
                return d
        ls, rs = self.get("left_shoulder"), self.get("right_shoulder")
        if ls is not None and rs is not None:
            return max(float(np.hypot(*(ls[:2] - rs[:2]))) / SHOULDER_TO_TORSO, 1e-3)
        return 1.0


def _face(signals: dict | None) -> dict | None:
    face = (signals or {}).get("face")
    return face if isinstance(face, dict) else None


def _boundary_margin(yaw: float) -> float:
    """Distance in degrees from the yaw to the nearest facing-bin boundary (0 .. 22.5)."""
    a = abs((yaw + 180.0) % 360.0 - 180.0)
    return min(abs(a - b) for b in (22.5, 67.5, 112.5))


def estimate_facing(landmarks: np.ndarray, names: Sequence[str], signals: dict | None = None) -> FacingEstimate:
    """The facing class, yaw and confidence of one person (see the module doc)."""
    pose = _Pose(landmarks, names)
    torso = pose.torso()
    ls, rs = pose.get("left_shoulder"), pose.get("right_shoulder")
    lh, rh = pose.get("left_hip"), pose.get("right_hip")
    ev: dict = {"torso": round(torso, 4), "depth": pose.has_depth}
    if ls is None or rs is None:
        return FacingEstimate(Facing.FRONT, 0.0, 0.0, {**ev, "decided_by": "no shoulders"})
    dx_s, dz_s = (ls[0] - rs[0]) / torso, (ls[2] - rs[2]) / torso
    dx, dz, w = dx_s, dz_s, 1.0
    hips_used = bool(lh is not None and rh is not None and min(lh[3], rh[3]) >= VISIBLE)
    if hips_used:
        dx += HIP_WEIGHT * (lh[0] - rh[0]) / torso
        dz += HIP_WEIGHT * (lh[2] - rh[2]) / torso
        w += HIP_WEIGHT
    dx, dz = dx / w, dz / w
    ev.update({"shoulder_width_ratio": round(abs(dx_s), 4), "shoulder_dx": round(dx_s, 4),
               "shoulder_dz": round(dz_s, 4), "hips_used": hips_used})
    nose, sh_mid = pose.get("nose"), pose.mid("left_shoulder", "right_shoulder")
    nose_off = float((nose[0] - sh_mid[0]) / torso) if nose is not None and nose[3] >= VISIBLE else 0.0
    ev["nose_offset"] = round(nose_off, 4)
    le, re_ = pose.get("left_ear"), pose.get("right_ear")
    if le is not None and re_ is not None:
        ev["ears_dx"] = round(float((le[0] - re_[0]) / torso), 4)

    decided = []
    if pose.has_depth:
        cos_y, sin_y = dx, Z_SCALE * dz
        decided.append("shoulder/hip depth order")
    else:   # 2-D: width gives |cos|, its sign the half; the nose gives the side
        c = float(np.clip(dx / SHOULDER_TO_TORSO, -1.0, 1.0))
        s = math.sqrt(max(0.0, 1.0 - c * c))
        side = np.sign(nose_off) if abs(nose_off) >= NOSE_SIDE else 0.0
        cos_y, sin_y = c, s * side   # from behind, BlazePose-like models still put the nose on the turned side
        decided.append("shoulder width and nose offset (2-D)")
    mag = math.hypot(cos_y, sin_y)

    face = _face(signals)
    head_score = None
    # the face check needs the head in the picture: a shot cropped at the chin or mouth (common for
    # tops) has no face in its head crop whichever way the body faces, and read every front and
    # three-quarter render cropped so as a back, at confidence ~1
    headless = bool(head_out_of_frame(pose.lm, names))
    ev["head_in_frame"] = not headless
    if headless:
        # without a head the pose model cannot tell front from back either: BlazePose read every
        # render cropped at the mouth as a back (left and right swapped, the nose behind the
        # shoulders), fronts and three-quarter views alike. So the half is the usual catalogue
        # shot's, the front, and the reading is unsure (HEADLESS_FACTOR): too unsure to claim a
        # view for coverage; the side (how far the body is turned) still comes from the body
        face = None
        if cos_y < 0:
            cos_y = -cos_y
        decided.append("head out of frame: front or back cannot be told, the front half assumed")
    if face is not None:
        head_score = float(face.get("head_score") or 0.0)
        ev["face_head_score"] = round(head_score, 4)
        kps = face.get("keypoints")
        if kps:
            # nose tip against the ears' midpoint and the eyes' spacing: a frontal face is symmetric
            kp = np.asarray(kps, dtype=np.float64)
            ev["face_nose_offset"] = round(float((kp[2, 0] - (kp[4, 0] + kp[5, 0]) / 2) / torso), 4)
            ev["face_eye_spacing"] = round(float(abs(kp[1, 0] - kp[0, 0]) / torso), 4)
        if head_score < FACE_ABSENT and cos_y > 0:
            cos_y = -cos_y
            decided.append("no face in the head crop: back half")
        elif head_score >= FACE_PRESENT and cos_y < 0:
            cos_y = -cos_y
            decided.append("face in the head crop: front half")
    yaw = math.degrees(math.atan2(sin_y, cos_y))
    if pose.has_depth and abs(yaw) < 67.5 and abs(nose_off) >= NOSE_SIDE and np.sign(nose_off) != np.sign(sin_y):
        ev["nose_disagrees"] = True
    label = facing_from_yaw(yaw)

    # confidence: landmark visibility x how clear the body vector is x distance from a bin boundary
    vis = min(ls[3], rs[3])
    clarity = min(1.0, mag / (2 * MIN_BODY_VECTOR))
    margin = 0.5 + 0.5 * min(1.0, _boundary_margin(yaw) / 22.5)
    conf = vis * clarity * margin
    if not pose.has_depth:
        conf *= NO_DEPTH_FACTOR
    if headless:
        conf *= HEADLESS_FACTOR
    elif face is None:
        conf *= NO_SIGNALS_FACTOR
    elif head_score is not None and ((head_score >= FACE_PRESENT and label == Facing.BACK)
                                     or (head_score < FACE_ABSENT and label == Facing.FRONT)):
        conf *= 0.5
    if ev.get("nose_disagrees"):
        conf *= 0.8
    ev["decided_by"] = decided
    ev["in_frame"] = {n: pose.in_frame(n) for n in ("nose", "left_shoulder", "right_shoulder", "left_hip",
                                                    "right_hip") if n in pose.index}
    return FacingEstimate(label, round(float(np.clip(conf, 0.0, 1.0)), 4), round(yaw, 2), ev)


def head_out_of_frame(landmarks: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Per landmark set (``(n, L, >=2)``, or one ``(L, >=2)``): the head is not in the picture, its nose
    or an eye (:data:`HEAD_IN_FRAME`) outside the image whatever its visibility (the pose model
    extrapolates a cut-off head). True when the names have no head at all."""
    lm = np.asarray(landmarks)
    idx = {n: i for i, n in enumerate(names)}
    head = [idx[n] for n in HEAD_IN_FRAME if n in idx]
    if not head:
        return np.ones(lm.shape[:-2], bool)
    xy = np.nan_to_num(lm[..., head, :2].astype(np.float64))
    return ~((xy >= -IN_FRAME_MARGIN) & (xy <= 1 + IN_FRAME_MARGIN)).all(axis=(-2, -1))


def headless_from_behind(landmarks: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Per landmark set (``(n, L, >=2)``, or one ``(L, >=2)``): the head is out of frame (its nose or
    an eye outside the image, :data:`HEAD_IN_FRAME`) and the pose model placed the body's left side
    on the image's left, i.e. read it from behind. Without a head BlazePose reads every body so,
    fronts included (see :func:`estimate_facing`). Reads only the head, shoulder and hip landmarks
    (a million sets cost no copy of the rest)."""
    lm = np.asarray(landmarks)
    one = lm.ndim == 2
    lm = lm[None] if one else lm
    idx = {n: i for i, n in enumerate(names)}
    if not any(n in idx for n in HEAD_IN_FRAME) or len(lm) == 0 or "left_shoulder" not in idx \
            or "right_shoulder" not in idx:
        out = np.zeros(len(lm), bool)
        return out[0] if one else out
    headless = head_out_of_frame(lm, names)

    def x(name: str) -> np.ndarray:
        return np.nan_to_num(lm[:, idx[name], 0].astype(np.float64))

    # the sign of the body's left-minus-right x, as estimate_facing takes it (hips when both are seen)
    dx = x("left_shoulder") - x("right_shoulder")
    if "left_hip" in idx and "right_hip" in idx:
        seen = np.ones(len(lm), bool) if lm.shape[2] < 4 else \
            np.minimum(lm[:, idx["left_hip"], 3], lm[:, idx["right_hip"], 3]) >= VISIBLE
        dx = dx + np.where(seen, HIP_WEIGHT * (x("left_hip") - x("right_hip")), 0.0)
    out = headless & (dx < 0)
    return out[0] if one else out


def turned_to_front(landmarks: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The landmark sets as the view reading takes them: a headless body the pose model read from
    behind (:func:`headless_from_behind`) is read as the front half (:func:`estimate_facing`), so
    its landmarks are taken so too: left and right swapped where they stand (the same picture
    seen from the other side) and depth reversed. The input itself when no set is turned (no
    copy); otherwise a float32 copy. Pose embeddings go through this (``embed.embed``), so a
    headless front lands on the front poses instead of a profile or three-quarter one (a headless
    back does too: the pose model gives both the same landmarks)."""
    lm = np.asarray(landmarks)
    turn = np.atleast_1d(headless_from_behind(lm, names))
    if not turn.any():
        return lm
    out = lm.astype(np.float32, copy=True)
    sets = out.reshape(-1, *out.shape[-2:])     # (n, L, C), a view of ``out`` (one set: n = 1)
    turned = sets[turn][:, left_right_swap(names)]
    if turned.shape[2] > 2:
        turned[:, :, 2] = -turned[:, :, 2]
    sets[turn] = turned
    return out


def estimate_framing(landmarks: np.ndarray, names: Sequence[str], signals: dict | None = None) -> FramingEstimate:
    """How much of the person is in frame, by the lowest body part shown (see the module doc)."""
    pose = _Pose(landmarks, names)
    torso = pose.torso()
    mask = (signals or {}).get("mask") if isinstance((signals or {}).get("mask"), dict) else None
    mask_bottom = float(mask["box"][3]) if mask and mask.get("box") else None
    ev: dict = {"torso": round(torso, 4), "mask_bottom": mask_bottom}
    shown: dict[str, bool] = {}
    label, conf, above_y = Framing.CLOSE_UP, 0.0, None
    sh = pose.mid("left_shoulder", "right_shoulder")
    if sh is not None and (pose.in_frame("left_shoulder") or pose.in_frame("right_shoulder")):
        above_y = float(sh[1])
    # walk up from the hips: each part must be in frame and plausibly below the part above it
    chain: list[tuple[Framing, float, float]] = []   # (framing, y, best visibility) of parts in frame
    for framing, part_names in reversed(_FRAMING_PARTS):
        ok = [n for n in part_names if pose.in_frame(n)]
        shown[framing.value] = bool(ok)
        if not ok:
            break
        y = max(float(pose.get(n)[1]) for n in ok)
        if above_y is not None and y - above_y < MIN_SEGMENT * torso:
            shown[framing.value] = False
            ev.setdefault("implausible", []).append(framing.value)
            break
        chain.append((framing, y, max(pose.vis(n) for n in ok)))
        above_y = y
    decided = "lowest visible part in frame"
    if chain:
        label, _, vis = chain[-1]
        conf = vis
    elif above_y is not None:
        conf = max(pose.vis("left_shoulder"), pose.vis("right_shoulder"))
        hip = pose.mid("left_hip", "right_hip")   # extrapolated, whatever its visibility
        if hip is not None and float(hip[1]) - above_y >= MIN_SEGMENT * torso:
            reach = (1.0 - above_y) / (float(hip[1]) - above_y)
            ev["waist_reach"] = round(reach, 4)
            if reach >= WAIST_REACH:
                label, conf = Framing.UPPER_BODY, conf * WAIST_CONFIDENCE
                decided = "frame reaches the waist (hips just below it)"
    # the mask ends inside the image with the feet at its bottom: full length despite a hidden foot
    if mask_bottom is not None and mask_bottom < MASK_EDGE and label != Framing.FULL_LENGTH:
        feet = [pose.get(n) for n in _FRAMING_PARTS[0][1] if pose.get(n) is not None]
        feet_y = [float(p[1]) for p in feet if 0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0]
        if feet_y and abs(max(feet_y) - mask_bottom) <= FEET_AT_MASK_BOTTOM and label in (
                Framing.THREE_QUARTER, Framing.UPPER_BODY):
            label, conf, decided = Framing.FULL_LENGTH, 0.7, "segmentation mask ends at the feet"
    if mask is None:
        conf *= NO_SIGNALS_FACTOR
    ev["parts_shown"] = shown
    ev["decided_by"] = decided
    return FramingEstimate(label, round(float(np.clip(conf, 0.0, 1.0)), 4), ev)


def view_features(landmarks: np.ndarray, names: Sequence[str], signals: dict | None = None) -> np.ndarray:
    """A fixed-length (len(FACING_FEATURE_NAMES) = 6) float32 vector of the view, for clustering.

    Dimensions (see :data:`FACING_FEATURE_NAMES`): cos and sin of the estimated yaw, each
    times the facing confidence (so an unsure estimate sits near the origin); the facing
    confidence; the framing ordinal (close-up 0 .. full length 1); the framing confidence;
    the head-crop face score (0 when there are no signals).
    """
    facing = estimate_facing(landmarks, names, signals)
    framing = estimate_framing(landmarks, names, signals)
    face = _face(signals) or {}
    yaw = math.radians(facing.yaw_deg)
    return np.array([math.cos(yaw) * facing.confidence, math.sin(yaw) * facing.confidence, facing.confidence,
                     _FRAMING_ORDINAL[framing.label], framing.confidence, float(face.get("head_score") or 0.0)],
                    dtype=np.float32)
