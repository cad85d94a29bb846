"""One image's view: the one place that turns a pose row (landmarks + measured signals) into
what the image shows. Suggestions, the evaluation, the app, the CLI and the report all call
:func:`describe_image`; none re-derives facing, framing, kind or flags on its own.

Order of decisions:

1. a failed image (status ``error``) has no view;
2. a pose with landmarks is a person unless :func:`views.people.person_decision` finds it
   implausible (a garment laid flat or on a hanger, landmarks off the segmentation mask,
   limbs of impossible proportions): then it is judged as an image without a person;
3. a person gets facing and framing (:mod:`views.facing`) and the several-people check;
4. an image without a person gets its kind (:func:`views.kinds.classify_nonhuman`);
5. every image gets its quality flags (:func:`views.quality.quality_flags`).

With a learned view reader (:mod:`views.reader`, trained per catalogue on its own labels),
:func:`describe_images` reads a person's facing and framing with it where the reader is used
for that part (it beat the rules on held-out labels) and an image it learned from as labelled;
the rules read everything else, and ``evidence["reader"]`` says which reader read what.

Rows cached before signals existed (an old data dir) have none: they are described from the
landmarks alone, with lower confidence, and their kind without a person is ``other``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..records import PoseRow, Status
from .facing import FacingEstimate, FramingEstimate, estimate_facing, estimate_framing
from .kinds import classify_nonhuman
from .labels import facing_matches, parse_words
from .measure import BASIC_KEYS, KEYS
from .people import person_decision, several_people
from .quality import quality_flags
from .vocab import Facing, Framing, ImageKind, facing_from_yaw

KIND_KEYS = set(KEYS) - set(BASIC_KEYS)   # measured only for images taken for no person

SEVERAL_PEOPLE = "several_people"   # the flag code of a picture with more than one person
POSE_MISSED_TEXT = "person, pose not detected"


def _pose_missed(signals: dict) -> bool:
    """A person is likely although no pose was read: the face detector found a face (on the
    whole image when the pose model found nobody, on the head crop of a rejected pose)."""
    face = signals.get("face") if isinstance(signals.get("face"), dict) else {}
    return int(face.get("n_faces") or 0) >= 1

@dataclass(frozen=True)
class ImageView:
    """What one image shows. ``facing`` / ``framing`` only for a person; ``flags`` are codes
    (``several_people``, ``low_resolution``, ``blurred``) with a reason each in ``flag_text``."""

    kind: ImageKind
    kind_confidence: float
    facing: Facing | None = None
    facing_confidence: float = 0.0
    yaw_deg: float | None = None
    framing: Framing | None = None
    framing_confidence: float = 0.0
    n_people: int = 0
    flags: tuple[str, ...] = ()
    flag_text: tuple[str, ...] = ()
    evidence: dict = field(default_factory=dict)
    pose_missed: bool = False   # no pose read, but a person is likely there (a face was detected)

    @property
    def is_person(self) -> bool:
        return self.kind is ImageKind.PERSON

    @property
    def label(self) -> str:
        """Short words for captions: "front, full length" / "size chart or text" / "person, pose
        not detected" (an image without a readable pose where a face was found)."""
        if self.is_person and self.facing is not None and self.framing is not None:
            return f"{self.facing.text}, {self.framing.text}"
        if self.pose_missed:
            return POSE_MISSED_TEXT
        return self.kind.text

    def to_dict(self) -> dict:
        return {"kind": str(self.kind), "kind_confidence": round(self.kind_confidence, 3),
                "facing": None if self.facing is None else str(self.facing),
                "facing_confidence": round(self.facing_confidence, 3),
                "yaw_deg": None if self.yaw_deg is None else round(self.yaw_deg, 1),
                "framing": None if self.framing is None else str(self.framing),
                "framing_confidence": round(self.framing_confidence, 3),
                "n_people": self.n_people, "flags": list(self.flags), "flag_text": list(self.flag_text),
                "label": self.label, "pose_missed": self.pose_missed, "evidence": self.evidence}


def describe_images(rows: Sequence[PoseRow | None], names: Sequence[str], reader=None) -> list[ImageView | None]:
    """:func:`describe_image` of every row, with the learned ``reader`` (a
    :class:`views.reader.ViewReader`, or None for the rules alone) read once for the batch."""
    names = tuple(names)
    readable = [i for i, r in enumerate(rows) if reader is not None and reader.accepts(r, names)]
    readings = dict(zip(readable, reader.read([rows[i] for i in readable]), strict=True)) if readable else {}
    return [describe_image(r, names, readings.get(i), reader) for i, r in enumerate(rows)]


def describe_image(row: PoseRow | None, names: Sequence[str], reading=None, reader=None) -> ImageView | None:
    """The view of one cached pose row under a backend with landmark ``names``; None for a
    failed image or one without a result. ``reading``: the learned reader's
    (:class:`views.reader.ReaderReading`) for this row, applied where ``reader`` is used for
    that part or the image is one the reader learned from."""
    if row is None or row.status is Status.ERROR:
        return None
    signals = row.signals or {}
    image_signals = signals.get("image") or {}
    flags = list(quality_flags(image_signals)) if image_signals else []
    codes, texts = [f.code for f in flags], [f.text for f in flags]
    evidence: dict = {}
    if row.is_person:
        lm = np.asarray(row.landmarks, np.float32)
        person = person_decision(lm, names, signals)
        evidence["person"] = {"is_person": person.is_person, "confidence": round(person.confidence, 3),
                              "reasons": list(person.reasons)}
        if person.is_person:
            facing = estimate_facing(lm, names, signals)
            framing = estimate_framing(lm, names, signals)
            if reading is not None and reader is not None:
                facing, framing, evidence["reader"] = _apply_reading(facing, framing, reading, reader)
            people = several_people(signals)
            if people.flagged:
                codes.insert(0, SEVERAL_PEOPLE)
                texts.insert(0, f"{people.n_people} people in the picture: it is placed by the most "
                                "prominent one")
            evidence.update(facing=facing.evidence, framing=framing.evidence)
            return ImageView(ImageKind.PERSON, float(person.confidence), facing.label, float(facing.confidence),
                             None if facing.yaw_deg is None else float(facing.yaw_deg), framing.label,
                             float(framing.confidence), max(1, int(people.n_people)), tuple(codes), tuple(texts),
                             evidence)
    missed = _pose_missed(signals)
    if not image_signals:
        return ImageView(ImageKind.OTHER, 0.0, flags=tuple(codes), flag_text=tuple(texts),
                         evidence={**evidence, "kind": "no measured signals (cached before they existed)"},
                         pose_missed=missed)
    if not set(image_signals) >= KIND_KEYS:   # measured as a person; a later rule change says it is none
        return ImageView(ImageKind.OTHER, 0.0, flags=tuple(codes), flag_text=tuple(texts),
                         evidence={**evidence, "kind": "kind statistics not measured (taken for a person "
                                                       "at extraction); re-extract to classify it"},
                         pose_missed=missed)
    kind = classify_nonhuman(image_signals)
    evidence["kind"] = kind.evidence
    return ImageView(kind.kind, float(kind.confidence), flags=tuple(codes), flag_text=tuple(texts),
                     evidence=evidence, pose_missed=missed)


def _apply_reading(facing: FacingEstimate, framing: FramingEstimate, reading, reader):
    """The rules' estimates with the reader's parts put in where it is used (or the image was
    labelled); the rules' own reading stays in the evidence."""
    labelled = reading.source == "label"
    ev = {"reader_id": reader.id_, "source": reading.source, "rules_facing": str(facing.label),
          "rules_framing": str(framing.label), "facing_proba": reading.facing_proba,
          "framing_proba": reading.framing_proba, "half_proba": reading.half_proba}
    used = []
    if reading.facing is not None and (reader.use_facing_ or labelled):
        f = Facing(reading.facing)
        yaw = facing.yaw_deg if reading.yaw_deg is None else reading.yaw_deg
        facing = FacingEstimate(f, round(float(reading.facing_confidence), 4), _yaw_of(f, yaw),
                                {**facing.evidence, "decided_by": [*facing.evidence.get("decided_by", []),
                                                                   f"view reader ({reading.source})"]})
        used.append("facing")
    if reading.framing is not None and (reader.use_framing_ or labelled):
        framing = FramingEstimate(Framing(reading.framing), round(float(reading.framing_confidence), 4),
                                  {**framing.evidence, "decided_by": f"view reader ({reading.source})"})
        used.append("framing")
    ev["used_for"] = used
    return facing, framing, ev


_CENTRE_YAW = {Facing.FRONT: 0.0, Facing.THREE_QUARTER_RIGHT: 45.0, Facing.PROFILE_RIGHT: 90.0,
               Facing.BACK: 180.0, Facing.THREE_QUARTER_LEFT: -45.0, Facing.PROFILE_LEFT: -90.0}


def _yaw_of(facing: Facing, rules_yaw: float) -> float:
    """The reader's starting yaw (the rules', flipped to the other half where the reader's half
    model says so) when it lies in the reader's facing bin, else that bin's centre."""
    return float(rules_yaw) if facing_from_yaw(rules_yaw) is facing else _CENTRE_YAW[facing]


def caption(view: ImageView | None, cluster_description: str = "") -> tuple[str, str | None]:
    """One caption per image: what the image itself reads as comes first (its facing and
    framing, its kind, or "person, pose not detected"); when the description of its nearest
    pose cluster says otherwise (another facing, framing or kind, read through the view
    vocabulary), the second value says so for the surface to show, instead of a second caption.
    Without a view (a failed image) the cluster's description is the caption."""
    if view is None:
        return cluster_description or "", None
    said = parse_words(cluster_description) if cluster_description else None
    if said is None:
        return view.label, None
    if view.is_person:
        differs = bool(said.no_pose or (said.kind not in (None, str(ImageKind.PERSON)))
                       or (said.facing and not facing_matches(said.facing, str(view.facing)))
                       or (said.framing and said.framing != str(view.framing)))
    else:
        differs = bool(said.facing or said.framing or said.kind == str(ImageKind.PERSON)
                       or (said.kind is not None and said.kind != str(view.kind) and not view.pose_missed))
    return view.label, (f"its pose cluster is described as “{cluster_description}”" if differs else None)
