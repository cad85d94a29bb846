"""The learned view reader: facing and framing learned from labelled photos, over the signals
already measured for each image (no model runs again).

The rules in :mod:`views.facing` were designed on renders; a catalogue's own labels (its
``view`` / ``shot`` column, its analysts) know better what its photos show. A
:class:`ViewReader` is a set of LightGBM classifiers in scikit-learn style:

* ``ViewReader(options).fit(rows, labels, weights)`` learns from cached pose rows
  (:class:`records.PoseRow`: landmarks and visibilities, the face detection on the head crop,
  the segmentation mask, the detected people, the image measurements) plus the rules' own
  reading of each (yaw, confidences, evidence) as features;
* its models, in order: ``half`` (back / front: is the body's front or back towards the
  camera), ``facing`` over :data:`views.labels.COARSE_FACINGS` (front, three-quarter,
  profile, back), ``side`` (left / right of a three-quarter or profile view: labels such as
  "side" do not give it) and ``framing`` over :class:`Framing`;
* every model starts from a prior at the reading it refines: the rules' (the facing model: the
  rules' with the half model's verdict), with ``rules_prior`` (``framing_prior``) scaled by the
  rules' own confidence (``confidence_prior``), so an unsure reading needs less evidence to be
  overruled and a sure one more;
* the half model exists because the pose model's commonest facing error is a whole half: it
  takes a back for a front (or the face detector, finding no face on a turned head, overrides
  the shoulders), which reflects the yaw to 180 - yaw (:func:`flip_half`) and keeps the side.
  Where it says the other half, the rules' yaw is flipped before the facing model reads on;
* the half and facing models keep as many trees (up to ``n_estimators``) as their out-of-fold
  labels read best with (``choose_rounds``; none: the model is dropped and its starting reading
  stands): with few labels they stay near the rules, with more they learn more. The facing
  model (the freest: it may move a reading to any class) is also kept only where, out of fold
  on its training labels, it reads better than the reading it starts from (``held_out_``;
  :data:`BEAT_START`); otherwise the facing is that reading;
* ``predict_proba(rows)`` -> calibrated probabilities per model; calibration is a temperature
  per model fitted on out-of-fold scores (minimum log loss);
* learned state in trailing-underscore attributes;
* ``use_facing_`` / ``use_framing_``: whether the reader replaces the rules for that part,
  decided by :func:`fit_reader`'s cross-validation on the catalogue's own labels (the reader
  is used only where it beats the rules on held-out labels);
* images it learned from are read as labelled (``labels_``: content hash -> label).

Saved as plain files (:meth:`ViewReader.save`): ``reader.json`` (format, options, classes,
temperatures, decisions, figures, learned labels) and one LightGBM text model per model.
Never pickle. The reader's id is the sha256 of those files (12 hex digits). A reader saved in
another format (format 1: no half model, fixed priors) is refused with a message to train it
again.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..records import PoseRow
from .facing import estimate_facing, estimate_framing
from .labels import COARSE_FACINGS, ViewLabel, coarse_facing, facing_matches
from .vocab import Facing, Framing, facing_from_yaw

__all__ = ["FRAMINGS", "HEADS", "ReaderOptions", "ReaderReading", "ReaderResult", "ViewReader", "fit_reader",
           "load_reader", "reader_features"]

HEADS = ("facing", "framing")            # what a reader reads, each used or not
# its models: "half" (is the body's front or back towards the camera), "facing" (front / three-quarter /
# profile / back, starting from the rules' reading with the half's verdict), "side" (left / right of a
# three-quarter or profile view) and "framing"
MODELS = ("half", "facing", "framing", "side")
SIDES = ("left", "right")
HALVES = ("back", "front")
# the models that make the facing keep the number of trees (up to n_estimators) with which their held-out
# folds read best (none: the model is dropped); the facing model, the freest, is also kept only where, out of
# fold, it reads the training labels better than the reading it starts from (the rules' with the half's verdict)
GATED = ("half", "facing")
BEAT_START = ("facing",)
FRAMINGS: tuple[str, ...] = tuple(str(f) for f in Framing)
READER_FILE = "reader.json"
FORMAT_VERSION = 2   # 2: the half model, priors scaled by the rules' confidence
CALIBRATION_FOLDS = 3   # out-of-fold scores for the temperature
_IMAGE_KEYS = ("aspect", "blur", "brightness", "contrast", "edge_density", "edge_sharpness")
_EVIDENCE_KEYS = ("shoulder_dx", "shoulder_dz", "nose_offset", "ears_dx", "face_head_score", "face_nose_offset",
                  "face_eye_spacing", "torso")


@dataclass
class ReaderOptions:
    """How a reader learns. ``label_weight``: a catalogue label counts this many times a
    render-set label; ``folds``: cross-validation folds (calibration and the rules check);
    ``min_gain``: how much the reader's held-out accuracy must exceed the rules' to be used."""

    landmark_names: tuple[str, ...] = ()
    n_estimators: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 5
    label_weight: float = 3.0
    folds: int = 5
    min_gain: float = 0.0
    min_labels: int = 8          # catalogue labels a head needs before cross-validation can decide
    rules_prior: float = 0.95    # the half, facing and side models start at the rules' reading with this probability
    framing_prior: float = 0.7   # ... the framing model
    confidence_prior: bool = True   # ... scaled by the rules' own confidence (an unsure reading: a weaker prior)
    half_model: bool = True      # learn on its own whether the body's front or back is towards the camera
    facing_model: bool = True    # learn the facing class beyond the half (off: the rules' with the half's verdict)
    choose_rounds: bool = True   # the half and facing models keep the number of trees their held-out folds read best
    mirror: bool = True          # also learn from each labelled photo flipped left to right
    seed: int = 0

    def validate(self) -> None:
        if not self.landmark_names:
            raise ValueError("ReaderOptions.landmark_names is empty: give the pose backend's landmark names")
        if self.n_estimators < 1 or self.num_leaves < 2 or self.min_child_samples < 1:
            raise ValueError("n_estimators >= 1, num_leaves >= 2 and min_child_samples >= 1 are required")
        if not (0 <= self.rules_prior < 1 and 0 <= self.framing_prior < 1):
            raise ValueError("rules_prior and framing_prior must lie in [0, 1) (0: no prior)")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must lie in (0, 1], got {self.learning_rate}")
        if self.label_weight <= 0:
            raise ValueError(f"label_weight must be > 0, got {self.label_weight}")
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["landmark_names"] = list(self.landmark_names)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ReaderOptions:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["landmark_names"] = tuple(known.get("landmark_names") or ())
        return cls(**known)


@dataclass(frozen=True)
class ReaderReading:
    """What the reader reads in one image: the facing (with its side) and framing, the
    probabilities behind them, and ``source``: "label" for an image it learned from, else
    "reader"."""

    facing: str | None
    facing_confidence: float
    framing: str | None
    framing_confidence: float
    facing_proba: dict = field(default_factory=dict)
    framing_proba: dict = field(default_factory=dict)
    source: str = "reader"
    half_proba: dict = field(default_factory=dict)   # back / front: which half of the body faces the camera
    yaw_deg: float | None = None   # the rules' yaw, flipped to the other half where the half model says so

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ReaderResult:
    """A trained reader and the figures behind the decision to use it."""

    reader: ViewReader | None
    n_render_labels: int = 0
    n_catalogue_labels: int = 0
    held_out: dict = field(default_factory=dict)   # head -> {"reader": acc, "rules": acc, "n": n}
    used: dict = field(default_factory=dict)       # head -> bool
    reason: str = ""

    def to_dict(self) -> dict:
        return {"reader_id": None if self.reader is None else self.reader.id_,
                "n_render_labels": self.n_render_labels, "n_catalogue_labels": self.n_catalogue_labels,
                "held_out": self.held_out, "used": self.used, "reason": self.reason}


# -- features ----------------------------------------------------------------------------------

def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def feature_names(names: Sequence[str]) -> list[str]:
    out = []
    for n in names:
        out += [f"{n}.x", f"{n}.y", f"{n}.dx", f"{n}.dy", f"{n}.dz", f"{n}.vis"]
    out += ["rules.cos_yaw", "rules.sin_yaw", "rules.facing_conf", "rules.framing_ord", "rules.framing_conf",
            "rules.waist_reach", *(f"ev.{k}" for k in _EVIDENCE_KEYS)]
    out += ["face.head_score", "face.n_faces", "face.box_w", "face.box_h"]
    out += [f"face.kp{i}.{a}" for i in range(6) for a in "xy"]
    out += ["mask.area", "mask.at_landmarks", "mask.x0", "mask.y0", "mask.x1", "mask.y1"]
    out += ["people.n", "people.score", "people.area", "people.n_visible"]
    out += [f"image.{k}" for k in _IMAGE_KEYS]
    return out


# the landmarks a facing is read from (head, shoulders, hips: not the limbs, whose pose varies
# with the outfit's styling more than with the turn); framing reads every landmark
_FACING_LANDMARKS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "mouth_left", "mouth_right",
                     "left_shoulder", "right_shoulder", "left_hip", "right_hip")


def model_columns(model: str, names: Sequence[str]) -> np.ndarray:
    """Indices into :func:`feature_names` a model reads: the half, facing and side models the
    head-and-torso landmarks' offsets, depth and visibility, the rules' evidence and the face;
    the framing model everything."""
    all_names = feature_names(names)
    if model == "framing":
        return np.arange(len(all_names))
    keep = []
    for i, n in enumerate(all_names):
        part, _, what = n.rpartition(".")
        landmark = part in _FACING_LANDMARKS and what in ("dx", "dz", "vis")
        if landmark or n.startswith(("rules.cos", "rules.sin", "rules.facing", "ev.", "face.", "mask.at_")):
            keep.append(i)
    return np.asarray(keep, np.int64)


def reader_features(row: PoseRow, names: Sequence[str]) -> np.ndarray:
    """One image's feature vector (see :func:`feature_names`); NaN where a signal is absent.
    ``row`` must show a person (landmarks)."""
    return _row_features(row, names)[0]


@dataclass(frozen=True)
class _Rules:
    """The rules' reading of one person row, as the reader's priors use it."""

    facing: str        # coarse
    framing: str
    side: str          # left / right: the sign of the yaw
    half: str          # front / back: the sign of the yaw's cosine
    yaw: float
    facing_conf: float
    framing_conf: float


def _rules_of(yaw: float, facing_conf: float, framing: str, framing_conf: float) -> _Rules:
    y = (float(yaw) + 180.0) % 360.0 - 180.0
    return _Rules(coarse_facing(str(facing_from_yaw(y))), framing, "left" if y < 0 else "right",
                  "front" if abs(y) < 90.0 else "back", y, float(facing_conf), float(framing_conf))


def flip_half(yaw: float) -> float:
    """The yaw with the body's other half towards the camera (the left-right order of the
    shoulders reversed, the depth order kept): 180 - yaw. A pose model that mistakes a back for
    a front (or the face detector that overrides it) errs by exactly this flip; the side stays."""
    return (180.0 - float(yaw) + 180.0) % 360.0 - 180.0


def _row_features(row: PoseRow, names: Sequence[str]) -> tuple[np.ndarray, _Rules]:
    """The feature vector and the rules' reading of one person row."""
    lm = np.nan_to_num(np.asarray(row.landmarks, np.float64))
    if lm.shape[0] != len(names):
        raise ValueError(f"landmarks of shape {lm.shape} do not match {len(names)} names")
    if lm.shape[1] < 4:
        lm = np.hstack([lm, np.zeros((len(lm), 4 - lm.shape[1]))])
    idx = {n: i for i, n in enumerate(names)}

    def mid(a, b):
        return (lm[idx[a]] + lm[idx[b]]) / 2 if a in idx and b in idx else None

    sh, hp = mid("left_shoulder", "right_shoulder"), mid("left_hip", "right_hip")
    centre = sh if sh is not None else lm[:, :3].mean(axis=0)
    torso = float(np.hypot(*(sh[:2] - hp[:2]))) if sh is not None and hp is not None else 0.0
    torso = max(torso, 1e-3)
    rel = (lm[:, :3] - centre[:3]) / torso
    per = np.column_stack([lm[:, 0], lm[:, 1], rel[:, 0], rel[:, 1], rel[:, 2], lm[:, 3]]).ravel()
    signals = row.signals or {}
    fa = estimate_facing(lm, names, signals)
    fr = estimate_framing(lm, names, signals)
    yaw = math.radians(fa.yaw_deg)
    ordinal = FRAMINGS.index(str(fr.label)) / (len(FRAMINGS) - 1)
    rules = [math.cos(yaw), math.sin(yaw), fa.confidence, ordinal, fr.confidence,
             _num(fr.evidence.get("waist_reach")), *(_num(fa.evidence.get(k)) for k in _EVIDENCE_KEYS)]
    face = signals.get("face") if isinstance(signals.get("face"), dict) else {}
    box = face.get("head_box") or None
    kps = face.get("keypoints") or None
    face_f = [_num(face.get("head_score")), _num(face.get("n_faces")),
              _num(box[2] - box[0]) / torso if box else math.nan, _num(box[3] - box[1]) / torso if box else math.nan]
    if kps and len(kps) == 6:
        for x, y in kps:
            face_f += [(_num(x) - centre[0]) / torso, (_num(y) - centre[1]) / torso]
    else:
        face_f += [math.nan] * 12
    mask = signals.get("mask") if isinstance(signals.get("mask"), dict) else {}
    mbox = mask.get("box") or [math.nan] * 4
    mask_f = [_num(mask.get("area")), _num(mask.get("at_landmarks")), *(_num(v) for v in mbox)]
    people = signals.get("people") if isinstance(signals.get("people"), list) else []
    first = people[0] if people and isinstance(people[0], dict) else {}
    people_f = [float(len(people)) if "people" in signals else math.nan, _num(first.get("score")),
                _num(first.get("area")), _num(first.get("n_visible"))]
    image = signals.get("image") if isinstance(signals.get("image"), dict) else {}
    image_f = [_num(image.get(k)) for k in _IMAGE_KEYS]
    vec = np.asarray([*per, *rules, *face_f, *mask_f, *people_f, *image_f], np.float64)
    return vec, _rules_of(fa.yaw_deg, fa.confidence, str(fr.label), fr.confidence)


def _features(rows: Sequence[PoseRow], names: Sequence[str]) -> tuple[np.ndarray, list[_Rules]]:
    """Feature matrix and the rules' reading of person rows."""
    out = [_row_features(r, names) for r in rows]
    X = np.stack([o[0] for o in out]) if out else np.zeros((0, len(feature_names(names))))
    return X, [o[1] for o in out]


def _prior(rules: Sequence[str], classes: Sequence[str], strength: float,
           confidence: Sequence[float] | None = None) -> np.ndarray:
    """Log-probabilities that start every tree ensemble at the rules' reading: ``strength`` on
    the rules' class, the rest shared (uniform where the rules' class is not learned). With
    ``confidence`` (the rules' own, 0..1, per row) the strength is scaled between uniform
    (confidence 0) and ``strength`` (confidence 1): the rules' reading counts as much as the
    rules trust it, so the trees need less evidence to overrule an unsure reading."""
    n = len(classes)
    out = np.full((len(rules), n), math.log(1.0 / n))
    if n < 2 or not 0 < strength < 1:
        return out
    for i, c in enumerate(rules):
        if c in classes:
            s = strength if confidence is None else \
                1.0 / n + (strength - 1.0 / n) * float(np.clip(confidence[i], 0.0, 1.0))
            out[i, :] = math.log((1 - s) / (n - 1))
            out[i, list(classes).index(c)] = math.log(s)
    return out


def rules_reading(row: PoseRow, names: Sequence[str]) -> tuple[str, str]:
    """The rules' (facing, framing) of a person row: what the reader is compared against."""
    lm = np.asarray(row.landmarks, np.float32)
    return str(estimate_facing(lm, names, row.signals).label), str(estimate_framing(lm, names, row.signals).label)


def _with_side(coarse: str, side: str) -> str:
    return f"{coarse}_{side}" if coarse in ("three_quarter", "profile") else coarse


# -- mirrored copies -------------------------------------------------------------------------------

def _swap_side(name: str) -> str:
    if "left" in name:
        return name.replace("left", "right")
    return name.replace("right", "left")


def _mirror_box(box):
    if not box or len(box) != 4:
        return box
    x0, y0, x1, y1 = box
    return [round(1.0 - x1, 4), y0, round(1.0 - x0, 4), y1]


def mirror_row(row: PoseRow, names: Sequence[str]) -> PoseRow:
    """The same photo flipped left to right, as the pose model would see it: x -> 1 - x, left
    and right landmarks swapped (depth kept), the face keypoints, head box, mask and people
    boxes mirrored. A mirrored three-quarter left view is a three-quarter right one; training
    on both doubles what a few labels teach (the side model most)."""
    idx = {n: i for i, n in enumerate(names)}
    lm = np.asarray(row.landmarks, np.float32).copy()
    order = [idx.get(_swap_side(n), i) for i, n in enumerate(names)]
    lm = lm[order]
    lm[:, 0] = 1.0 - lm[:, 0]
    sig = dict(row.signals or {})
    face = dict(sig["face"]) if isinstance(sig.get("face"), dict) else None
    if face is not None:
        kps = face.get("keypoints")
        if kps and len(kps) == 6:   # right eye, left eye, nose, mouth, right ear, left ear
            kps = [[round(1.0 - x, 4), y] for x, y in kps]
            face["keypoints"] = [kps[1], kps[0], kps[2], kps[3], kps[5], kps[4]]
        face["head_box"] = _mirror_box(face.get("head_box"))
        sig["face"] = face
    if isinstance(sig.get("mask"), dict):
        sig["mask"] = {**sig["mask"], "box": _mirror_box(sig["mask"].get("box"))}
    if isinstance(sig.get("people"), list):
        sig["people"] = [{**p, "box": _mirror_box(p.get("box"))} if isinstance(p, dict) else p
                         for p in sig["people"]]
    return replace(row, content_hash=row.content_hash + ":mirrored", landmarks=lm, signals=sig)


def _mirror_label(label):
    facing = label.get("facing") if isinstance(label, dict) else label.facing
    framing = label.get("framing") if isinstance(label, dict) else label.framing
    if facing:
        facing = str(Facing(facing).mirror) if facing in {str(f) for f in Facing} else facing
    return {"facing": facing, "framing": framing}


# -- calibration --------------------------------------------------------------------------------

def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit_temperature(raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """The temperature minimising the weighted log loss of softmax(raw / T) (a grid, then refined)."""
    def loss(t):
        p = _softmax(raw / t)
        return float(-(w * np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))).sum() / w.sum())
    grid = np.exp(np.linspace(np.log(0.2), np.log(10.0), 41))
    best = min(grid, key=loss)
    fine = np.exp(np.linspace(np.log(best) - 0.1, np.log(best) + 0.1, 21))
    return float(min(fine, key=loss))


# -- the reader -----------------------------------------------------------------------------------

def _head_target(label: ViewLabel | dict, model: str) -> str | None:
    """What a label says for one model: the coarse facing, the framing, the side of a turned
    view, or the half (front for a front or three-quarter view, back for a back view; a
    profile shows neither)."""
    field_ = "framing" if model == "framing" else "facing"
    v = label.get(field_) if isinstance(label, dict) else getattr(label, field_)
    if v is None:
        return None
    if model == "side":
        return next((s for s in SIDES if str(v).endswith("_" + s)), None)
    if model == "half":
        return {"front": "front", "three_quarter": "front", "back": "back"}.get(coarse_facing(v))
    return coarse_facing(v) if model == "facing" else str(v)


def _start_class(model: str, reading: _Rules) -> str:
    """The class a model's prior puts first: the reading's half, coarse facing, side or framing."""
    return {"half": reading.half, "facing": reading.facing, "side": reading.side, "framing": reading.framing}[model]


def _log_loss(raw: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    p = _softmax(raw)[np.arange(len(y)), y]
    return float(-(w * np.log(np.clip(p, 1e-15, 1))).sum() / max(float(w.sum()), 1e-12))


def _weighted_accuracy(pred: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    return round(float(np.sum(w * (pred == y)) / max(float(np.sum(w)), 1e-12)), 4)


def _reading_of(rules: _Rules, half: str | None) -> _Rules:
    """The rules' reading with the half model's verdict: the yaw flipped to the other half
    where the half model says so."""
    if half is None or half == rules.half:
        return rules
    return _rules_of(flip_half(rules.yaw), rules.facing_conf, rules.framing, rules.framing_conf)


class ViewReader:
    """Facing (coarse, side from the rules) and framing from a person's cached signals; see
    the module doc."""

    def __init__(self, options: ReaderOptions | None = None):
        self.options = options or ReaderOptions()

    # scikit-learn style: everything learned ends with "_"
    def fit(self, rows: Sequence[PoseRow], labels: Sequence[ViewLabel | dict],
            weights: Sequence[float] | None = None) -> ViewReader:
        """Learn from person rows and their labels (a label may give one head only)."""
        import lightgbm as lgb

        o = self.options
        o.validate()
        if len(rows) != len(labels):
            raise ValueError(f"{len(rows)} rows but {len(labels)} labels")
        w = np.ones(len(rows)) if weights is None else np.asarray(weights, np.float64)
        if len(w) != len(rows) or (w < 0).any():
            raise ValueError("weights must be one non-negative number per row")
        bad = [i for i, r in enumerate(rows) if r is None or not r.is_person]
        if bad:
            raise ValueError(f"{len(bad)} rows show no person (e.g. row {bad[0]}): a reader learns from person rows")
        names = tuple(o.landmark_names)
        group = np.arange(len(rows))   # a photo and its mirrored copy share a calibration fold
        if o.mirror and rows:
            group = np.concatenate([group, group])
            rows = [*rows, *(mirror_row(r, names) for r in rows)]
            labels = [*labels, *(_mirror_label(lab) for lab in labels)]
            w = np.concatenate([w, w])
        X, rules = _features(rows, names)
        self.feature_names_ = feature_names(names)
        self.boosters_: dict = {}
        self.classes_: dict[str, list[str]] = {}
        self.temperature_: dict[str, float] = {}
        self.n_labels_: dict[str, int] = {}
        self.held_out_: dict[str, dict] = {}
        fold_of = np.random.default_rng(o.seed).permutation(int(group.max()) + 1 if len(group) else 0)
        folds = (fold_of % CALIBRATION_FOLDS)[group]
        # the half model's held-out verdict on every training row: the facing model learns from the
        # reading it will start from when it reads a photo it has not seen
        reading = list(rules)
        vocab = {"half": HALVES, "facing": COARSE_FACINGS, "framing": FRAMINGS, "side": SIDES}
        for model in MODELS:
            if (model == "half" and not o.half_model) or (model == "facing" and not o.facing_model):
                continue
            y_text = [_head_target(lab, model) for lab in labels]
            keep = np.array([t is not None for t in y_text], bool)
            present = [c for c in vocab[model] if c in set(y_text)]
            self.n_labels_[model] = int(keep.sum())
            if len(present) < 2:
                continue
            y = np.array([present.index(t) for t, k in zip(y_text, keep, strict=True) if k])
            Xh, wh = X[keep][:, model_columns(model, names)], w[keep]
            init = self._init(model, [r for r, k in zip(reading, keep, strict=True) if k], present)
            params = self._params(len(present))
            # out-of-fold scores: the number of trees, the temperature, the gate and the half model's verdicts
            raw = np.zeros((len(y), len(present)))
            fk = folds[keep]
            fold_models, curve = {}, np.zeros(o.n_estimators + 1)
            for f in range(CALIBRATION_FOLDS):
                tr, te = fk != f, fk == f
                if not te.any() or len(set(y[tr])) < 2:
                    continue
                dtr = lgb.Dataset(Xh[tr], y[tr], weight=wh[tr], init_score=init[tr])
                held: dict = {}
                fold_models[f] = lgb.train(
                    {**params, "metric": "multi_logloss"}, dtr, num_boost_round=o.n_estimators,
                    valid_sets=[lgb.Dataset(Xh[te], y[te], weight=wh[te], init_score=init[te], reference=dtr)],
                    valid_names=["held"], callbacks=[lgb.record_evaluation(held)])
                share = float(wh[te].sum())
                curve[0] += share * _log_loss(init[te], y[te], wh[te])
                curve[1:] += share * np.asarray(held["held"]["multi_logloss"][: o.n_estimators])
            rounds = int(np.argmin(curve)) if o.choose_rounds and model in GATED and fold_models else o.n_estimators
            for f in range(CALIBRATION_FOLDS):
                te = fk == f
                raw[te] = init[te]
                if f in fold_models and rounds:
                    raw[te] += fold_models[f].predict(Xh[te], raw_score=True,
                                                      num_iteration=rounds).reshape(int(te.sum()), -1)
            start = np.array([present.index(c) if c in present else -1 for c in
                              (_start_class(model, r) for r, k in zip(reading, keep, strict=True) if k)])
            ho = {"model": _weighted_accuracy(raw.argmax(axis=1), y, wh), "start": _weighted_accuracy(start, y, wh),
                  "n": int(len(y)), "rounds": rounds}
            self.held_out_[model] = ho
            if rounds == 0 or (model in BEAT_START and ho["model"] <= ho["start"]):
                continue   # it does not read held-out photos better than the reading it starts from
            self.temperature_[model] = _fit_temperature(raw, y, wh)
            self.boosters_[model] = lgb.train(params, lgb.Dataset(Xh, y, weight=wh, init_score=init),
                                              num_boost_round=rounds)
            self.classes_[model] = present
            if model == "half":
                held = iter(raw.argmax(axis=1))
                reading = [_reading_of(r, present[next(held)]) if k else r
                           for r, k in zip(reading, keep, strict=True)]
                # rows without a half label (profiles, framing-only labels): the half model's own verdict
                rest = np.flatnonzero(~keep)
                if len(rest):
                    verdict = self._predict_raw("half", X[rest], [rules[i] for i in rest])
                    for i, j in zip(rest, verdict.argmax(axis=1), strict=True):
                        reading[i] = _reading_of(rules[i], present[j])
        self.use_facing_ = "facing" in self.boosters_ or "half" in self.boosters_
        self.use_framing_ = "framing" in self.boosters_
        self.labels_: dict[str, dict] = {}
        self.metrics_: dict = {}
        self.created_at_ = time.time()
        self.id_ = self._digest()
        return self

    def _init(self, model: str, reading: Sequence[_Rules], classes: Sequence[str]) -> np.ndarray:
        """The prior a model starts from: the reading (the rules', with the half model's verdict
        for the facing model) with :attr:`ReaderOptions.rules_prior` (``framing_prior``),
        scaled by the rules' confidence where :attr:`ReaderOptions.confidence_prior` says so."""
        o = self.options
        if model == "framing":
            return _prior([_start_class(model, r) for r in reading], classes, o.framing_prior,
                          [r.framing_conf for r in reading] if o.confidence_prior else None)
        return _prior([_start_class(model, r) for r in reading], classes, o.rules_prior,
                      [r.facing_conf for r in reading] if o.confidence_prior else None)

    def _predict_raw(self, model: str, X: np.ndarray, reading: Sequence[_Rules]) -> np.ndarray:
        names = tuple(self.options.landmark_names)
        b = self.boosters_[model]
        return np.asarray(b.predict(X[:, model_columns(model, names)], raw_score=True)).reshape(len(X), -1) \
            + self._init(model, reading, self.classes_[model])

    def _params(self, n_classes: int) -> dict:
        o = self.options
        return {"objective": "multiclass", "num_class": n_classes, "learning_rate": o.learning_rate,
                "num_leaves": o.num_leaves, "min_data_in_leaf": o.min_child_samples, "min_sum_hessian_in_leaf": 1e-3,
                "feature_fraction": 0.8, "lambda_l2": 1.0, "bagging_fraction": 0.9, "bagging_freq": 1, "seed": o.seed,
                "deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1}

    def _check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            raise RuntimeError("this ViewReader is not fitted: call fit() or load_reader() first")

    def predict_proba(self, rows: Sequence[PoseRow]) -> dict[str, np.ndarray]:
        """model -> (n, n_classes) calibrated probabilities (columns: ``classes_[model]``):
        ``half`` (back / front), ``facing`` (coarse), ``framing`` and ``side``."""
        return self._proba(rows)[0]

    def _proba(self, rows: Sequence[PoseRow]) -> tuple[dict[str, np.ndarray], list[_Rules]]:
        """Calibrated probabilities per model, and the reading the facing model started from
        (the rules', flipped to the other half where the half model says so)."""
        self._check_fitted()
        names = tuple(self.options.landmark_names)
        if not rows:
            return {h: np.zeros((0, len(self.classes_[h]))) for h in self.boosters_}, []
        X, reading = _features(rows, names)
        out = {}
        if "half" in self.boosters_:
            out["half"] = _softmax(self._predict_raw("half", X, reading) / self.temperature_["half"])
            reading = [_reading_of(r, self.classes_["half"][int(j)])
                       for r, j in zip(reading, out["half"].argmax(axis=1), strict=True)]
        for model in self.boosters_:
            if model != "half":
                out[model] = _softmax(self._predict_raw(model, X, reading) / self.temperature_[model])
        return out, reading

    def accepts(self, row: PoseRow | None, names: Sequence[str]) -> bool:
        """Whether this reader can read ``row`` (a person under the landmarks it learned)."""
        return row is not None and row.is_person and tuple(names) == tuple(self.options.landmark_names)

    def read(self, rows: Sequence[PoseRow]) -> list[ReaderReading]:
        """Facing (with the side model's side, else the reading's) and framing of person rows;
        an image the reader learned from reads as its label."""
        proba, reading = self._proba(rows)
        out = []
        for i, row in enumerate(rows):
            fa, fa_c, fa_p = self._head(proba, "facing", i)
            fr, fr_c, fr_p = self._head(proba, "framing", i)
            half, half_c, half_p = self._head(proba, "half", i)
            if fa is None and half is not None:   # no facing model: the rules' reading with the half's verdict
                fa, fa_c = reading[i].facing, half_c * reading[i].facing_conf
            source = "reader"
            known = self.labels_.get(row.content_hash)
            if known:
                source = "label"
                if known.get("facing"):
                    fa, fa_c = coarse_facing(known["facing"]), 1.0
                if known.get("framing"):
                    fr, fr_c = known["framing"], 1.0
                if known.get("facing") in {str(f) for f in Facing}:
                    out.append(ReaderReading(known["facing"], fa_c, fr, fr_c, fa_p, fr_p, source, half_p))
                    continue
            side = self._head(proba, "side", i)[0] or reading[i].side
            facing = None if fa is None else _with_side(fa, side)
            out.append(ReaderReading(facing, fa_c, fr, fr_c, fa_p, fr_p, source, half_p, reading[i].yaw))
        return out

    def _head(self, proba: dict, head: str, i: int) -> tuple[str | None, float, dict]:
        if head not in proba:
            return None, 0.0, {}
        p = proba[head][i]
        j = int(np.argmax(p))
        return self.classes_[head][j], float(p[j]), {c: round(float(v), 4) for c, v in zip(self.classes_[head], p)}

    # -- plain files ---------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"format_version": FORMAT_VERSION, "options": self.options.to_dict(),
                "classes": self.classes_, "temperature": self.temperature_, "n_labels": self.n_labels_,
                "use_facing": bool(self.use_facing_), "use_framing": bool(self.use_framing_),
                "labels": self.labels_, "metrics": self.metrics_, "created_at": self.created_at_,
                "feature_names": self.feature_names_, "held_out": self.held_out_}

    def _texts(self) -> dict[str, str]:
        return {f"{h}.txt": b.model_to_string() for h, b in sorted(self.boosters_.items())}

    def _digest(self) -> str:
        state = {k: v for k, v in self._state().items() if k not in ("created_at",)}
        h = hashlib.sha256(json.dumps(state, sort_keys=True).encode())
        for name, text in self._texts().items():
            h.update(name.encode())
            h.update(text.encode())
        return h.hexdigest()[:12]

    def refresh_id(self) -> str:
        """Recompute the id after changing the decisions, learned labels or figures."""
        self.id_ = self._digest()
        return self.id_

    def save(self, folder: str | Path) -> Path:
        """``reader.json`` + one LightGBM text file per head; returns the folder."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        texts = self._texts()
        for name, text in texts.items():
            (folder / name).write_text(text)
        state = self._state() | {"id": self.id_,
                                 "files": {n: hashlib.sha256(t.encode()).hexdigest() for n, t in texts.items()}}
        (folder / READER_FILE).write_text(json.dumps(state, indent=1))
        return folder


def load_reader(folder: str | Path, check_model: Callable[[str], object] | None = None) -> ViewReader:
    """A saved reader; ``check_model`` checks each LightGBM text before LightGBM reads it (a
    garbled model crashes LightGBM). Files that do not match their recorded sha256 are refused."""
    import lightgbm as lgb

    folder = Path(folder)
    try:
        state = json.loads((folder / READER_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"view reader {folder.name}: cannot read {READER_FILE}: {exc}") from None
    if not isinstance(state, dict) or not isinstance(state.get("format_version"), int):
        raise ValueError(f"view reader {folder.name}: unknown format")
    if state["format_version"] != FORMAT_VERSION:
        raise ValueError(f"view reader {folder.name} was saved in format {state['format_version']}, this version "
                         f"reads format {FORMAT_VERSION}: train it again (`unposed views train`)")
    r = ViewReader(ReaderOptions.from_dict(state.get("options") or {}))
    r.boosters_ = {}
    for name, sha in (state.get("files") or {}).items():
        if "/" in name or "\\" in name or not name.endswith(".txt") or name[:-4] not in MODELS:
            raise ValueError(f"view reader {folder.name}: unexpected file {name!r}")
        text = (folder / name).read_text()
        if hashlib.sha256(text.encode()).hexdigest() != sha:
            raise ValueError(f"view reader {folder.name}: {name} does not match its checksum")
        if check_model is not None:
            check_model(text)
        r.boosters_[name[:-4]] = lgb.Booster(model_str=text)
    r.classes_ = {h: list(v) for h, v in (state.get("classes") or {}).items()}
    if set(r.classes_) != set(r.boosters_):
        raise ValueError(f"view reader {folder.name}: classes and models do not match")
    r.temperature_ = {h: float(v) for h, v in (state.get("temperature") or {}).items()}
    r.n_labels_ = dict(state.get("n_labels") or {})
    r.held_out_ = dict(state.get("held_out") or {})
    r.use_facing_ = bool(state.get("use_facing")) and bool({"facing", "half"} & set(r.boosters_))
    r.use_framing_ = bool(state.get("use_framing")) and "framing" in r.boosters_
    r.labels_ = dict(state.get("labels") or {})
    r.metrics_ = dict(state.get("metrics") or {})
    r.created_at_ = float(state.get("created_at") or 0.0)
    r.feature_names_ = list(state.get("feature_names") or feature_names(r.options.landmark_names))
    r.id_ = str(state.get("id") or r._digest())
    return r


# -- training with the check against the rules ------------------------------------------------------

def _accuracy(truth: Sequence[str], pred: Sequence[str | None], head: str) -> float:
    if not truth:
        return math.nan
    if head == "facing":
        return float(np.mean([bool(facing_matches(t, p)) for t, p in zip(truth, pred, strict=True)]))
    return float(np.mean([t == p for t, p in zip(truth, pred, strict=True)]))


def fit_reader(render_rows: Sequence[PoseRow], render_labels: Sequence[ViewLabel | dict],
               catalogue_rows: Sequence[PoseRow], catalogue_labels: Sequence[ViewLabel],
               options: ReaderOptions | None = None) -> ReaderResult:
    """Train a reader on the render set's labels plus the catalogue's own (weighted
    ``label_weight``), after cross-validating on the catalogue's labels: each head is used only
    where the reader's held-out accuracy beats the rules' by more than ``min_gain``. With no
    catalogue labels (or too few for a head) the rules stay: no reader, or that head unused."""
    options = options or ReaderOptions()
    options.validate()
    names = tuple(options.landmark_names)
    cat = [(r, lab) for r, lab in zip(catalogue_rows, catalogue_labels, strict=True) if r is not None and r.is_person
           and lab.is_person is not False]
    ren = [(r, lab) for r, lab in zip(render_rows, render_labels, strict=True) if r is not None and r.is_person]
    result = ReaderResult(None, len(ren), len(cat))
    if not cat:
        result.reason = "no catalogue labels on images with a pose: the rules read every image"
        return result
    rows_c = [r for r, _ in cat]
    rules = [rules_reading(r, names) for r in rows_c]
    folds = np.random.default_rng(options.seed).permutation(len(cat)) % options.folds
    pred: dict[str, dict[int, str | None]] = {h: {} for h in HEADS}
    if len(cat) >= options.min_labels:
        for f in range(options.folds):
            test = [i for i in range(len(cat)) if folds[i] == f]
            train_i = [i for i in range(len(cat)) if folds[i] != f]
            if not test:
                continue
            r = ViewReader(options).fit([x for x, _ in ren] + [rows_c[i] for i in train_i],
                                        [lab for _, lab in ren] + [cat[i][1] for i in train_i],
                                        [1.0] * len(ren) + [options.label_weight] * len(train_i))
            for i, reading in zip(test, r.read([rows_c[i] for i in test]), strict=True):
                for head in HEADS:
                    if (r.use_facing_ if head == "facing" else r.use_framing_):
                        pred[head][i] = getattr(reading, head)
    for head in HEADS:
        truth_i = [i for i, (_, lab) in enumerate(cat) if getattr(lab, head)]
        if len(truth_i) < options.min_labels:
            result.held_out[head] = {"n": len(truth_i), "reader": None, "rules": None}
            result.used[head] = False
            continue
        truth = [getattr(cat[i][1], head) for i in truth_i]
        acc_reader = _accuracy(truth, [pred[head].get(i) for i in truth_i], head)
        acc_rules = _accuracy(truth, [rules[i][HEADS.index(head)] for i in truth_i], head)
        result.held_out[head] = {"n": len(truth_i), "reader": round(acc_reader, 4), "rules": round(acc_rules, 4)}
        result.used[head] = bool(acc_reader > acc_rules + options.min_gain)
    if not any(result.used.values()):
        result.reason = ("the reader does not beat the rules on the catalogue's held-out labels: the rules read "
                         "every image (learned labels still read as labelled)")
    rows_all = [r for r, _ in ren] + rows_c
    labs_all = [lab for _, lab in ren] + [lab for _, lab in cat]
    w_all = [1.0] * len(ren) + [options.label_weight] * len(cat)
    reader = ViewReader(options).fit(rows_all, labs_all, w_all)
    reader.use_facing_ = bool(result.used.get("facing")) and bool({"facing", "half"} & set(reader.boosters_))
    reader.use_framing_ = bool(result.used.get("framing")) and "framing" in reader.boosters_
    reader.labels_ = {lab.content_hash: {"facing": lab.facing, "framing": lab.framing} for _, lab in cat}
    reader.metrics_ = {"held_out": result.held_out, "n_render_labels": len(ren), "n_catalogue_labels": len(cat),
                       "reason": result.reason}
    reader.refresh_id()
    result.reader = reader
    return result

